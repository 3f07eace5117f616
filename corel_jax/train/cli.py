"""``corel-jax train``: one sweep (one loss, one model, seeds × λ) into a run directory.

Example::

    corel-jax train --dataset fashion_mnist --model mlp --loss gaussian --seeds 10 \\
        --lams 0.05:1.0:0.05 --epochs 150 --data-dir DIR --out runs/fmnist-mlp-gaussian
"""

from __future__ import annotations

import argparse

from corel_jax.train.config import DATASETS, LOSSES, MODELS, SweepConfig, parse_lams, parse_seeds

DEFAULTS = SweepConfig()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="digits", help=f"one of {', '.join(DATASETS)}")
    p.add_argument("--model", default="mlp", help=f"one of {', '.join(MODELS)}")
    p.add_argument("--loss", default="gaussian", help=f"one of {', '.join(LOSSES)}")
    p.add_argument("--seeds", default="1", type=str,
                   help="a count (10 = seeds 0..9), a list (0,3,7) or a range (5:10)")
    p.add_argument("--lams", default="0.5", type=str,
                   help="λ values: 0.5, a list 0.1,0.5,0.9, or start:stop:step (stop included)")
    p.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    p.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    p.add_argument("--lr", type=float, default=DEFAULTS.lr)
    p.add_argument("--gamma", type=float, default=DEFAULTS.gamma,
                   help="initial γ of Gaussian-COREL")
    p.add_argument("--fixed-gamma", action="store_true", help="do not learn γ")
    p.add_argument("--center-alpha", type=float, default=DEFAULTS.center_alpha)
    p.add_argument("--width", type=int, default=DEFAULTS.width, help="hidden layer width")
    p.add_argument("--dropout", type=float, default=DEFAULTS.dropout)
    p.add_argument("--data-dir", default=None,
                   help="directory of the dataset files (e.g. the four MNIST IDX .gz files)")
    p.add_argument("--source", default="auto", choices=("auto", "files", "tfds"))
    p.add_argument("--val-size", type=int, default=None)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--no-representations", action="store_true",
                   help="do not save test representations (saves disk on big λ sweeps)")
    p.add_argument("--max-runs-per-program", type=int, default=None,
                   help="cap the runs compiled together (default: as many as fit in memory)")
    p.add_argument("--memory-budget-gb", type=float, default=None)
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="checkpoint every N epochs (0: never; default: about every 10 min)")
    g = p.add_argument_group("multi-process (see README: Running on many devices and hosts)")
    g.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="address of process 0's coordinator service")
    g.add_argument("--num-processes", type=int, default=None)
    g.add_argument("--process-id", type=int, default=None)
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from_args(args: argparse.Namespace) -> SweepConfig:
    return SweepConfig(
        dataset=args.dataset, model=args.model, loss=args.loss,
        seeds=parse_seeds(args.seeds), lams=parse_lams(args.lams), epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, gamma=args.gamma,
        learn_gamma=not args.fixed_gamma, center_alpha=args.center_alpha, width=args.width,
        dropout=args.dropout, data_dir=args.data_dir, data_source=args.source,
        val_size=args.val_size, split_seed=args.split_seed,
        save_representations=not args.no_representations,
        max_runs_per_program=args.max_runs_per_program,
        memory_budget_gb=args.memory_budget_gb, checkpoint_every=args.checkpoint_every,
    )


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)  # validated here, before JAX compiles anything
    from corel_jax.train.placement import initialize
    from corel_jax.train.sweep import train_sweep

    initialize(args.coordinator, args.num_processes, args.process_id)
    result = train_sweep(cfg, out_dir=args.out, progress=not args.quiet)
    import jax

    if jax.process_index() != 0:
        return 0
    print(result.table())
    t = result.timings
    print(f"wrote {args.out} ({cfg.num_runs} runs; compile {t['compile_s']:.1f}s, "
          f"train {t['train_s']:.1f}s, total {t['total_s']:.1f}s)")
    return 0
