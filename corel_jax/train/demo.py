"""``corel-jax demo``: all four losses on scikit-learn's bundled digits; offline, under a minute.

Trains 3 seeds of each loss with the paper's FFNN (two LeakyReLU layers; 500 wide, our
choice) for 20 epochs, prints a table of test accuracy (mean ± std over seeds) and writes one
run directory per loss plus ``demo.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# λ per loss for the demo (center: the weight of the center loss beside CCE; cce ignores it).
DEMO_LAMS = {"cce": 0.5, "center": 0.1, "cosine": 0.5, "gaussian": 0.5}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs/demo", help="directory for the run directories")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from corel_jax import rundir
    from corel_jax.data import load_dataset
    from corel_jax.evaluate.stats import mean_std
    from corel_jax.evaluate.tables import fmt
    from corel_jax.train import SweepConfig, train_sweep

    out = Path(args.out)
    dataset = load_dataset("digits")
    rows = []
    for loss, lam in DEMO_LAMS.items():
        cfg = SweepConfig(dataset="digits", model="mlp", loss=loss, seeds=tuple(range(args.seeds)),
                          lams=(lam,), epochs=args.epochs, batch_size=64)
        # a demo run again replaces its own earlier sweeps (only their files; a folder that
        # is not a corel-jax run directory is still refused)
        res = train_sweep(cfg, dataset=dataset, out_dir=out / loss, progress=not args.quiet,
                          log=None, overwrite=True)
        # mean ± sample std over the seeds (one seed: the value alone), as the reports
        val, acc = (fmt(*mean_std(100 * np.array([r[k] for r in res.records])), digits=2)
                    for k in ("best_val_acc", "test_acc"))
        rows.append((loss, lam, val, acc, res.timings["total_s"]))
    lines = [
        f"digits ({dataset.sizes['train']} train / {dataset.sizes['val']} val / "
        f"{dataset.sizes['test']} test), FFNN 500-500, {args.seeds} seeds, {args.epochs} epochs",
        "",
        "| loss | λ | best val acc (%) | test acc (%) | time (s) |",
        "|---|---|---|---|---|",
    ]
    for loss, lam, val, acc, sec in rows:
        lines.append(f"| {loss} | {lam:g} | {val} | {acc} | {sec:.1f} |")
    table = "\n".join(lines)
    print(table)
    rundir.write_text(out / "demo.md", table + "\n")
    dirs = " ".join(str(out / loss) for loss in DEMO_LAMS)
    print(f"\nwrote {out}/demo.md and one run directory per loss; "
          f"`corel-jax report {dirs} --out {out}/report` makes the clustering report")
    return 0

