"""Per-epoch cost of live tracking (issue 36): the FFNN sweep with and without ``--track``.

The same sweep (MNIST FFNN when ``--data-dir`` holds MNIST, else scikit-learn digits; 20 runs
= 10 seeds x 2 λ) is trained with no writer, with TensorBoard and with W&B offline, in
alternation, ``--repeats`` times each, in one process (compiled once per configuration; the
timed part is ``timings["train_s"]``, epochs only). The result is the ratio of the mean epoch
time with a writer to the mean without, with the machine recorded.

Command (from the repository root; about 10 minutes on 2 CPU cores with MNIST)::

    python experiments/bench_tracking.py --data-dir ../shared/data --epochs 3 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import machine  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    from corel_jax.train import SweepConfig, train_sweep
    from corel_jax.train.sweep import load_data

    mnist = args.data_dir is not None
    base = SweepConfig(dataset="mnist" if mnist else "digits", loss="gaussian",
                       seeds=tuple(range(10)), lams=(0.5, 0.9), epochs=args.epochs,
                       data_dir=args.data_dir if mnist else None, checkpoint_every=0,
                       save_representations=False)
    data = load_data(base)
    import dataclasses

    times: dict[str, list[float]] = {"none": [], "tensorboard": [], "wandb": []}
    for _ in range(args.repeats):
        for track in times:
            cfg = dataclasses.replace(base, track=() if track == "none" else (track,))
            with tempfile.TemporaryDirectory() as d:
                r = train_sweep(cfg, dataset=data, out_dir=Path(d) / "run", progress=False,
                                log=None)
            # the first epoch of each chunk includes nothing compiled (compiled ahead of
            # time), so every trained epoch counts
            times[track].append(r.timings["train_s"] / r.timings["epochs"])
    m = machine.describe()
    print(f"dataset {base.dataset}, {base.num_runs} runs, {args.epochs} epochs, "
          f"{args.repeats} repeats; machine: {m}")
    ref = statistics.mean(times["none"])
    for track, ts in times.items():
        mean = statistics.mean(ts)
        print(f"{track:12s} epoch {mean:.3f} s (runs: {', '.join(f'{t:.3f}' for t in ts)})"
              f"  ratio {mean / ref:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
