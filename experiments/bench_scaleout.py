"""Benchmark: runs per second of a sharded sweep against the number of devices.

A benchmark, not a test. For each device count it starts a fresh process (the device count is
fixed when JAX starts) that trains the same sweep sharded over that many devices, and reports
seed-examples/s and runs/s (runs × epochs per second of training, compile excluded). On a CPU
host the devices are forced with ``--xla_force_host_platform_device_count``: they share the
same cores, so this shows the mechanics (padding, sharding, gathering), not a speed-up. On a
multi-GPU host pass ``--real`` to use the visible accelerators (1, 2, 4, ... of them).

    python experiments/bench_scaleout.py                  # forced CPU devices 1, 2, 4
    python experiments/bench_scaleout.py --real --devices 1,2,4,8 --runs 200 --epochs 3

Expected runtime on 2 CPU cores: about 3 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, sys, time
import jax
from corel_jax.data import load_dataset
from corel_jax.train import SweepConfig, train_sweep
n_runs, epochs, devices, real = (int(a) for a in sys.argv[1:5])
if real:
    from corel_jax.train import placement
    placement.Placement.create = classmethod(lambda cls, d=None: cls(
        jax.sharding.Mesh(jax.devices()[:devices], ("runs",))))
ds = load_dataset("digits")
seeds = tuple(range(n_runs))
cfg = SweepConfig(dataset="digits", model="mlp", loss="gaussian", seeds=seeds, lams=(0.5,),
                  epochs=epochs, batch_size=64, width=256, save_representations=False)
res = train_sweep(cfg, dataset=ds, progress=False, log=None)
t = res.timings
per_epoch = (t["train_s"] - t["first_epoch_s"]) / max(epochs - 1, 1)  # first epoch out
ex = (len(ds.y_train) // cfg.batch_size) * cfg.batch_size
print(json.dumps({"devices": jax.device_count(), "runs": n_runs, "train_s_per_epoch": per_epoch,
                  "seed_examples_per_s": n_runs * ex / per_epoch,
                  "run_epochs_per_s": n_runs / per_epoch, "compile_s": t["compile_s"],
                  "device": jax.devices()[0].device_kind}))
"""


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", default="1,2,4")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--real", action="store_true", help="use real accelerators, not forced CPU")
    p.add_argument("--out", default=str(HERE / "results" / "bench_scaleout.md"))
    args = p.parse_args()
    rows = []
    for d in (int(x) for x in args.devices.split(",")):
        env = dict(os.environ)
        if not args.real:
            env["JAX_PLATFORMS"] = "cpu"
            env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={d}"
        out = subprocess.run([sys.executable, "-c", CHILD, str(args.runs), str(args.epochs),
                              str(d), str(int(args.real))], env=env, capture_output=True,
                             text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    kind = "real accelerators" if args.real else "forced CPU host devices (shared cores)"
    lines = [
        "# Scale-out benchmark: one sweep sharded over the run axis",
        "",
        f"- command: `python experiments/bench_scaleout.py --devices {args.devices} "
        f"--runs {args.runs} --epochs {args.epochs}{' --real' if args.real else ''}`",
        f"- devices: {kind}; device kind: {rows[0]['device']}; {os.cpu_count()} CPU cores",
        f"- sweep: digits, FFNN 256-256, Gaussian-COREL, {args.runs} runs, batch 64; "
        "training time per epoch after the compiled first epoch",
        "",
        "| devices | runs | s/epoch | seed-examples/s | run-epochs/s | compile s |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['devices']} | {r['runs']} | {r['train_s_per_epoch']:.3f} | "
                     f"{r['seed_examples_per_s']:,.0f} | {r['run_epochs_per_s']:.1f} | "
                     f"{r['compile_s']:.1f} |")
    if not args.real:
        lines += ["", "Forced host devices split the same CPU cores: each runs its share of the "
                  "runs with fewer threads, plus per-device dispatch, so on one CPU host "
                  "sharding is *slower* than one device. The table shows the mechanics "
                  "(padding, sharding, gathering) work; a speed-up needs real devices."]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
