"""``corel-jax merge``: the run directories of a sweep's shards joined into the run directory
the whole sweep writes.

A sweep split into ``N`` shards (``corel-jax train ... --shard I/N``, see
:attr:`corel_jax.train.config.SweepConfig.shard`) is trained as ``N`` independent jobs (a
job array), each into its own run directory. :func:`merge` checks that the directories are
the shards of one sweep, and writes the run directory that sweep trained in one process
writes: the same ``runs.json`` (records in run order, ``"run"`` the index in the sweep),
``runs.csv``, ``curves.csv``, per-run arrays (``runs/rNNN/``), parameters (``params/``, runs
stacked in run order), ``test_labels.npy`` and ``config.json`` (without the shard; its
``"sessions"`` are the shards', each marked with its shard and run directory, and its
``"timings"`` their sums), then the manifest, last. ``corel-jax report`` reads it as usual.
With ``--pad-run-groups`` (and the same ``--run-batch`` on one device) every file equals the
one-process sweep's byte for byte, but for ``config.json``'s sessions, timings and
environment.

The checks, each an error naming the shards and the difference, before anything is written:

- every directory is a complete run directory of a shard (:func:`corel_jax.rundir.status`);
- the shards are one sweep: their ``config.json`` agree in every key but the shard, the run
  counts, the sessions, timings, environment and library version, and :data:`MAY_DIFFER`
  (where a job read its data, and how it used its machine); so the data fingerprint, every
  field that changes results and ``run_batch``/``pad_run_groups`` must be equal; the
  library's major version too;
- they are all of one split (the same ``N``), no run is held twice ("shards a and b both
  hold run 4"), and none is missing ("shard 2/3 is missing: runs 2, 5, 8");
- each holds exactly its shard's runs (``runs.json``'s ``"sweep_run"``), and the same test
  labels.

The output folder follows the ownership rules of ``corel-jax train``
(:mod:`corel_jax.train.ownership`): a new or empty folder, or a run directory (a finished
one only with ``overwrite``); locked while written. Only numpy, JSON and CSV: no JAX.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from corel_jax import rundir
from corel_jax.errors import ConfigError, DataError, IncompleteError, MissingDataError
from corel_jax.train import ownership

#: ``config.json`` keys the shards of one sweep may differ in besides the shard: where each
#: job read its data from, and how it used its machine's memory and time (none changes a
#: run's numbers); the merged run directory records the first shard's
MAY_DIFFER = ("data_dir", "data_source", "memory_budget_gb", "max_chunk_size",
              "checkpoint_every")
#: ``config.json`` keys that differ between shards by construction (each job's own record)
_OWN = ("shard", "num_runs", "sessions", "timings", "environment", "corel_jax_version")

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Shard:
    """One shard's run directory, read and checked (:func:`read_shard`)."""

    path: Path
    config: dict[str, Any]  # config.json, in the current format
    index: int
    count: int
    records: list[dict[str, Any]]  # runs.json
    version: str | None  # the corel-jax version that wrote it

    @property
    def name(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def sweep_runs(self) -> list[int]:
        """The index in the sweep of each of its runs, in its run order."""
        return [int(r[rundir.SWEEP_RUN]) for r in self.records]


def read_shard(path: Path | str) -> Shard:
    """The shard in ``path``: refuses a folder that is not a complete run directory of a
    shard (``corel-jax train --shard I/N``)."""
    path = Path(path)
    st = rundir.status(path)
    if st == "none":
        raise MissingDataError(f"{path} is not a corel-jax run directory (no {rundir.CONFIG}"
                               f"); merge takes the run directories of `corel-jax train "
                               f"--shard I/N`")
    if st == "incomplete":
        raise IncompleteError(f"shard {path} is incomplete: its training is still running or "
                              f"was interrupted (continue it with `corel-jax train --resume "
                              f"{path}`); merge it once it is complete")
    config = rundir.load_config(path)
    shard = config.get("shard")
    if shard is None:
        raise ConfigError(f"{path} is not a shard: its {rundir.CONFIG} has no \"shard\" (a "
                          f"whole sweep); merge joins the run directories of `corel-jax "
                          f"train --shard I/N`")
    try:
        index, count, total = int(shard["index"]), int(shard["count"]), \
            int(config["sweep_num_runs"])
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{path / rundir.CONFIG} is damaged: \"shard\" must be {{\"index\": I, "
                        f"\"count\": N}} beside \"sweep_num_runs\"; got {shard!r}") from None
    records = rundir.load_runs(path)
    shard_ = Shard(path, config, index, count, records, _version(path, config))
    want = list(range(index, total, count))
    try:
        got = shard_.sweep_runs
    except (KeyError, TypeError, ValueError):
        raise DataError(f"{path / rundir.RUNS_JSON}: a run record has no \"{rundir.SWEEP_RUN}\""
                        f" (the run's index in the sweep); is it damaged?") from None
    if got != want or [int(r["run"]) for r in records] != list(range(len(want))):
        raise DataError(f"{path / rundir.RUNS_JSON} holds runs {_runs_text(got)} of the sweep, "
                        f"but shard {index}/{count} of its {total} runs is runs "
                        f"{_runs_text(want)}; the directory is damaged")
    return shard_


def _version(path: Path, config: dict[str, Any]) -> str | None:
    man = rundir.read_manifest(path) or {}
    return man.get("library_version") or config.get("corel_jax_version")


def _runs_text(runs: Sequence[int], most: int = 8) -> str:
    runs = list(runs)
    text = ", ".join(map(str, runs[:most]))
    return text + (f", ... ({len(runs)} runs)" if len(runs) > most else "")


def _show(key: str, value: Any) -> str:
    text = json.dumps(value, default=str)
    if key == "data_fingerprint" and isinstance(value, str):
        text = value[:12]
    return text if len(text) <= 60 else text[:57] + "..."


def check_shards(shards: Sequence[Shard]) -> list[Shard]:
    """Checks that ``shards`` are every shard of one sweep, once each; returns them in shard
    order. Raises :class:`ConfigError` (or :class:`DataError`) naming the shards and what is
    wrong."""
    if not shards:
        raise ConfigError("give the run directories of the shards to merge")
    seen: dict[Path, Path] = {}
    for s in shards:
        real = s.path.resolve()
        if real in seen:
            raise ConfigError(f"{seen[real]} is given twice ({s.path}); give each shard once")
        seen[real] = s.path
    shards = sorted(shards, key=lambda s: s.index)
    first = shards[0]
    for s in shards[1:]:
        if s.count != first.count:
            raise ConfigError(f"shards {first.path} and {s.path} are not of one split: shard "
                              f"{first.name} and shard {s.name}; merge the shards of one "
                              f"split (the same N in --shard I/N)")
        _check_same_sweep(first, s)
    owner: dict[int, Shard] = {}
    for s in shards:
        for r in s.sweep_runs:
            if r in owner:
                o = owner[r]
                same = f" (both are shard {s.name})" if o.index == s.index else ""
                raise ConfigError(f"shards {o.path} and {s.path} both hold run {r}{same}; give "
                                  f"each shard once")
            owner[r] = s
    total = int(first.config["sweep_num_runs"])
    have = {s.index for s in shards}
    missing = [i for i in range(first.count) if i not in have]
    if missing:
        parts = [f"shard {i}/{first.count} is missing: runs "
                 f"{_runs_text(range(i, total, first.count))}" for i in missing]
        raise ConfigError("; ".join(parts) + f" (of the sweep's {total}); add the run "
                          f"director{'y' if len(missing) == 1 else 'ies'} of `corel-jax train "
                          f"... --shard I/{first.count}`")
    return shards


def _check_same_sweep(a: Shard, b: Shard) -> None:
    """Refuses two shards whose ``config.json`` differ in what makes a sweep (module
    docstring), or whose corel-jax major versions differ, naming the key."""
    skip = set(_OWN) | set(MAY_DIFFER)
    keys = [k for k in dict.fromkeys([*a.config, *b.config]) if k not in skip]
    differ = [k for k in keys
              if rundir.canonical(a.config.get(k)) != rundir.canonical(b.config.get(k))]
    if differ:
        k = differ[0]
        more = f" (and {', '.join(differ[1:])})" if differ[1:] else ""
        raise ConfigError(f"shards {a.path} and {b.path} are not one sweep: {k} is "
                          f"{_show(k, a.config.get(k))} in the first and "
                          f"{_show(k, b.config.get(k))} in the second{more}; merge the shards "
                          f"of one sweep (the same `corel-jax train` command but for --shard)")
    major = lambda v: str(v or "0").split(".")[0]
    if major(a.version) != major(b.version):
        raise ConfigError(f"shards {a.path} and {b.path} were trained by corel-jax "
                          f"{a.version} and {b.version}, other major versions (their results "
                          f"may differ); train every shard with one corel-jax")


def merge(shard_dirs: Sequence[Path | str], out: Path | str, *, overwrite: bool = False,
          log: Callable[[str], Any] | None = logger.info) -> Path:
    """Writes into ``out`` the run directory of the sweep whose shards' run directories are
    ``shard_dirs`` (any order), after checking them (:func:`check_shards`); returns ``out``.
    ``overwrite``: replace a finished run directory in ``out`` (only its own files).
    ``log``: where one-line messages go (default: INFO records of this module's logger,
    ``corel_jax.train.merge``; any callable of one string instead, ``None`` for silence)."""
    log = log or (lambda *a, **k: None)
    shards = check_shards([read_shard(d) for d in shard_dirs])
    out = Path(out)
    for s in shards:
        if out.resolve() == s.path.resolve():
            raise ConfigError(f"--out {out} is one of the shards; merge into another folder")
    lock = ownership.claim(out, resume=False, overwrite=overwrite, log=log)
    try:
        _write(out, shards)
    finally:
        lock.release()
    total = int(shards[0].config["sweep_num_runs"])
    log(f"merged {len(shards)} shards ({total} runs) into {out}")
    return out


def _write(out: Path, shards: list[Shard]) -> None:
    first = shards[0]
    total = int(first.config["sweep_num_runs"])
    # where each run of the sweep is: (shard, its index there)
    place = {r: (s, i) for s in shards for i, r in enumerate(s.sweep_runs)}
    order = [place[r] for r in range(total)]
    representations = bool(first.config.get("save_representations", True))
    params = [n for n in (rundir.BEST_HEADS, rundir.FINAL_PARAMS)
              if (first.path / rundir.PARAMS_SUBDIR / n).is_file()]
    for s in shards[1:]:
        has = [n for n in (rundir.BEST_HEADS, rundir.FINAL_PARAMS)
               if (s.path / rundir.PARAMS_SUBDIR / n).is_file()]
        if has != params:
            raise DataError(f"shards {first.path} and {s.path} hold different parameter files "
                            f"({', '.join(params) or 'none'} and {', '.join(has) or 'none'})")
    labels = rundir.load_test_labels(first.path)
    for s in shards[1:]:
        if not np.array_equal(rundir.load_test_labels(s.path), labels):
            raise DataError(f"shards {first.path} and {s.path} have different test labels "
                            f"({rundir.TEST_LABELS}) though their data fingerprints agree; "
                            f"one of them is damaged")
    files = rundir.result_files(total, representations=representations,
                                final_params=rundir.FINAL_PARAMS in params)
    # config.json first, then the manifest ("incomplete", naming every file to come), as a
    # sweep starts its run directory; the manifest again last, complete
    rundir.write_config(out, _config(shards, total))
    rundir.write_manifest(out, files=files, complete=False)
    names = [a for a in rundir.RUN_ARRAYS if representations or a != "test_h"]
    for r, (s, i) in enumerate(order):
        for name in names:
            rundir.save_npy(rundir.run_array_path(out, r, name),
                            rundir.load_run_array(s.path, i, name))
    records = []
    for s, i in order:
        rec = dict(s.records[i])
        rec["run"] = int(rec.pop(rundir.SWEEP_RUN))
        records.append(rec)
    rundir.write_runs(out, records)
    curves = {s.path: rundir.load_curves(s.path) for s in shards}
    for key in ("train_loss", "val_acc"):
        shapes = {c[key].shape[1] for c in curves.values()}
        if len(shapes) != 1:
            raise DataError(f"the shards' {rundir.CURVES_CSV} have different numbers of epochs "
                            f"({sorted(shapes)})")
    merged = {key: np.stack([curves[s.path][key][i] for s, i in order])
              for key in ("train_loss", "val_acc")}
    rundir.write_curves(out, merged["train_loss"], merged["val_acc"])
    rundir.write_test_labels(out, labels)
    for name in params:
        flat = {s.path: rundir.flatten_tree(rundir.load_params(s.path, name)) for s in shards}
        keys = list(flat[first.path])
        for s in shards[1:]:
            if list(flat[s.path]) != keys:
                raise DataError(f"{s.path / rundir.PARAMS_SUBDIR / name} holds other arrays "
                                f"than {first.path / rundir.PARAMS_SUBDIR / name}")
        stacked = {k: np.stack([flat[s.path][k][i] for s, i in order]) for k in keys}
        rundir.write_params(out, name, rundir.unflatten_tree(stacked))
    rundir.write_manifest(out, files=files, complete=True)


def _config(shards: list[Shard], total: int) -> dict[str, Any]:
    """The merged ``config.json``: the first shard's, as the whole sweep records it (no
    shard, every run), with every shard's sessions and the sums of their timings."""
    config = dict(shards[0].config)
    config["shard"] = None
    config["num_runs"] = total
    config.pop("sweep_num_runs", None)
    timings: dict[str, Any] = {}
    sessions = []
    for s in shards:
        for k, v in (s.config.get("timings") or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                timings[k] = timings.get(k, 0) + v
        for session in s.config.get("sessions") or []:
            sessions.append({**session, "shard": dict(s.config["shard"]),
                             "run_dir": str(s.path)})
    if "timings" in config:
        config["timings"] = timings
    if "sessions" in config:
        config["sessions"] = sessions
    return config


# ------------------------------------------------------------------------------ the CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("shards", nargs="+", metavar="SHARD_DIR",
                   help="the run directories of every shard of one sweep (`corel-jax train "
                        "... --shard I/N`), in any order")
    p.add_argument("--out", required=True, metavar="RUN_DIR",
                   help="the run directory to write: a new or empty folder, or a corel-jax "
                        "run directory (a finished one only with --overwrite)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the finished sweep in --out; only its own files are deleted")


def run(args: argparse.Namespace) -> int:
    merge(args.shards, args.out, overwrite=args.overwrite)  # its messages: corel_jax.cli
    return 0
