"""A grid in one program vs one program per grid value: 10 seeds × 2 learning rates.

    python experiments/bench_grid.py --data-dir ../shared/data/fashion_mnist

Trains the paper's FFNN (Gaussian-COREL, λ 0.5, batch 128) on Fashion-MNIST for ``--epochs``
epochs, (a) as one sweep whose 20 runs are 10 seeds × lr {1e-3, 3e-3} (one compiled program),
(b) as two sweeps of 10 seeds, one per learning rate, one after another. Reports the first
epoch's call (compile + one epoch) and the time per epoch after it, and checks that both give
the same per-run numbers. Writes ``experiments/results/bench_grid.md``. About 5 minutes on 2
CPU cores.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import jax
import numpy as np

from corel_jax.data import load_dataset
from corel_jax.train import SweepConfig, train_sweep

import machine

HERE = Path(__file__).resolve().parent
LRS = (1e-3, 3e-3)


def sweep(ds, lrs, epochs, seeds):
    cfg = SweepConfig(dataset="fashion_mnist", model="mlp", loss="gaussian", seeds=seeds,
                      lams=(0.5,), lr=lrs, epochs=epochs, checkpoint_every=0)
    t0 = time.perf_counter()
    res = train_sweep(cfg, dataset=ds, progress=False, log=None)
    return res, time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--out", default=str(HERE / "results" / "bench_grid.md"))
    args = p.parse_args()
    ds = load_dataset("fashion_mnist", args.data_dir)
    seeds = tuple(range(args.seeds))
    load0 = os.getloadavg()[0]
    one, t_one = sweep(ds, LRS, args.epochs, seeds)
    parts = [sweep(ds, (lr,), args.epochs, seeds) for lr in LRS]
    t_two = sum(t for _, t in parts)
    # the same runs, in the same order (lr outermost, seeds inner)
    two_val = np.concatenate([r.val_acc for r, _ in parts])
    same = float(np.max(np.abs(one.val_acc - two_val)))
    ep = args.epochs - 1
    per_epoch_one = one.timings["train_s"] / ep
    per_epoch_two = sum(r.timings["train_s"] for r, _ in parts) / ep
    n_runs = len(seeds) * len(LRS)
    lines = [
        "# A learning-rate grid in one program vs one program per learning rate", "",
        f"- command: `python experiments/bench_grid.py --epochs {args.epochs} --seeds "
        f"{args.seeds}` (FFNN 500-500, Gaussian-COREL λ 0.5, batch 128, Fashion-MNIST "
        f"{len(ds.y_train)} train)",
        f"- CPU: {machine.describe()}; JAX {jax.__version__} "
        f"({jax.default_backend()})",
        f"- load average (1 min) at start {load0:.2f}, at end {os.getloadavg()[0]:.2f}",
        "", "| | programs | runs each | first call s (compile + epoch 1) | s per later epoch "
        "| total s |", "|---|---:|---:|---:|---:|---:|",
        f"| one program, {n_runs} runs (10 seeds × 2 lr) | 1 | {n_runs} | "
        f"{one.timings['compile_s']:.1f} | {per_epoch_one:.1f} | {t_one:.1f} |",
        f"| two programs, one per lr, one after another | 2 | {len(seeds)} | "
        f"{sum(r.timings['compile_s'] for r, _ in parts):.1f} | {per_epoch_two:.1f} | "
        f"{t_two:.1f} |", "",
        f"One program / two programs, total wall time: {t_two / t_one:.2f}× faster; per later "
        f"epoch: {per_epoch_two / per_epoch_one:.2f}×. Largest difference of any run's "
        f"per-epoch validation accuracy between the two ways: {same:.2g}.",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
