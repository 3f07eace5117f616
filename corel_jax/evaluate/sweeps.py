"""Run directories grouped into sweeps: :func:`load_sweeps` and the arrays of their runs."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from corel_jax import axes, rundir
from corel_jax.errors import ConfigError, DataError, IncompleteError, MissingDataError
from corel_jax.evaluate.stats import loss_sort_key
from corel_jax.train.config import NOT_RESULT_FIELDS, PER_RUN_FIELDS, SweepConfig


@dataclass
class Sweep:
    """The runs of one ``(setting, loss)``, possibly from several run directories.

    ``runs``: run records (see :mod:`corel_jax.rundir`) with two extra keys, ``"_dir"``
    (the run directory) and ``"_run"`` (the run's index there). ``similarity``: what the loss
    predicts with; ``uses_lam``: whether it reads λ (from ``config.json``).
    """

    setting: str
    loss: str
    dirs: list[Path]
    runs: list[dict[str, Any]] = field(default_factory=list)
    similarity: str = "dot"
    uses_lam: bool = True

    @property
    def lams(self) -> list[float]:
        return sorted({float(r["lam"]) for r in self.runs})


def find_run_dirs(paths: Iterable[Path | str], *, skip_incomplete: bool = False,
                  warn: Callable[[str], None] | None = None) -> list[Path]:
    """Complete run directories named by ``paths``: each path is a run directory, or a folder
    searched (recursively) for run directories. Raises :class:`MissingDataError` when one
    holds none, and :class:`IncompleteError` naming every incomplete run directory found
    (still running, or interrupted), unless ``skip_incomplete``: then each is left out with a
    warning (``warn``).
    """
    out: list[Path] = []
    incomplete: list[Path] = []
    for p in map(Path, paths):
        if rundir.is_run_dir(p):
            found = [p]
        elif p.is_dir():
            marks = set(p.rglob(rundir.CONFIG)) | set(p.rglob(rundir.MANIFEST))
            found = sorted({q.parent for q in marks if rundir.is_run_dir(q.parent)})
        else:
            raise MissingDataError(
                f"{p} does not exist; pass a run directory (or a folder of them)"
            )
        if not found:
            raise MissingDataError(
                f"{p} is not a run directory and holds none (a run directory has "
                f"{rundir.CONFIG} and {rundir.RUNS_JSON}, written by `corel-jax train`)"
            )
        for q in found:
            if q in out or q in incomplete:
                continue
            (out if rundir.is_complete(q) else incomplete).append(q)
    if incomplete and not skip_incomplete:
        raise IncompleteError(
            f"incomplete run director{'y' if len(incomplete) == 1 else 'ies'} (still running, "
            f"or interrupted: `corel-jax train --resume DIR`): "
            f"{', '.join(map(str, incomplete))}; report them once complete, or leave them out "
            f"with --skip-incomplete")
    for q in incomplete:
        if warn is not None:
            warn(f"warning: leaving out {q}: incomplete (still running, or interrupted)")
    if not out:
        raise MissingDataError("no complete run directory to report in "
                               f"{', '.join(map(str, paths))}")
    return out


#: the configuration fields that are not compared: those that vary run by run within a sweep
#: (its grid; they tell runs apart, see :func:`_identity`), the loss (it groups sweeps), and
#: the shard (which of the grid's runs a run directory holds: the shards of one sweep pool as
#: run directories of other seeds do)
_PER_RUN = (*PER_RUN_FIELDS, "loss", "shard")
#: what must be equal for the runs of two run directories to be pooled in one sweep: the
#: data (its fingerprint), every configuration field that changes results
#: (:data:`corel_jax.train.config.NOT_RESULT_FIELDS` lists those that do not) and the
#: library's major version
COMPARABLE_FIELDS = ("data_fingerprint",) + tuple(
    f.name for f in dataclasses.fields(SweepConfig)
    if f.name not in NOT_RESULT_FIELDS and f.name not in _PER_RUN) + ("library_major",)


def comparability(config: dict[str, Any]) -> dict[str, Any]:
    """The :data:`COMPARABLE_FIELDS` of a run directory's ``config.json`` (any format:
    :func:`corel_jax.rundir.upgrade_config`). A config without ``corel_jax_version`` has
    ``library_major`` ``"0"``; a missing data fingerprint reads as None ("not recorded")."""
    c = rundir.upgrade_config(config)
    c["library_major"] = str(c.get("corel_jax_version") or "0").split(".")[0]
    return {k: rundir.canonical(c.get(k)) for k in COMPARABLE_FIELDS}


def _show(field_name: str, v: Any) -> str:
    if v is None:
        return "not recorded" if field_name == "data_fingerprint" else "None"
    if field_name == "data_fingerprint":
        return str(v)[:12]
    return json.dumps(v) if isinstance(v, (dict, list)) else str(v)


def _setting_of(config: dict[str, Any], path: Path) -> str:
    if config.get("setting"):
        return str(config["setting"])
    if config.get("dataset") and config.get("model"):
        return f"{config['dataset']}-{config['model']}"
    raise DataError(f"{path / rundir.CONFIG} names no 'setting' (nor 'dataset' and 'model')")


def _identity(run: dict[str, Any]) -> tuple:
    """What makes a run itself: its seed and its value on every axis
    (:func:`corel_jax.axes.record_value`: a record without an axis's key reads as the axis's
    ``before`` value, or None: not recorded)."""
    return (int(run["seed"]),) + tuple(axes.record_value(run, k) for k in axes.NAMES)


def _describe_identity(k: tuple) -> str:
    """`` at lr 0.001, gamma 0.5`` for the axes beyond λ that the run has ('' if none)."""
    parts = [f"{axes.BY_NAME[a].text} {v:g}"
             for a, v in zip(axes.NAMES[1:], k[2:]) if v is not None]
    return " at " + ", ".join(parts) if parts else ""


def load_sweeps(paths: Iterable[Path | str], *, group_by: Sequence[str] = (),
                skip_incomplete: bool = False,
                warn: Callable[[str], None] | None = None) -> list[Sweep]:
    """Loads and groups run directories into sweeps, ordered by setting then loss.

    Run directories of one ``(setting, loss)`` are pooled into one sweep only when they are
    comparable (every :data:`COMPARABLE_FIELDS` equal); otherwise :class:`ConfigError` names
    the field, the two values and the two directories. ``group_by`` (fields of
    :data:`COMPARABLE_FIELDS`) splits sweeps by those fields instead, side by side: each
    sweep's ``loss`` label then carries them, e.g. ``"cce [epochs=20]"``. Incomplete run
    directories are refused, or left out under ``skip_incomplete`` (:func:`find_run_dirs`).
    """
    unknown = [f for f in group_by if f not in COMPARABLE_FIELDS]
    if unknown:
        raise ConfigError(f"cannot group by {', '.join(unknown)}; choose from "
                          f"{', '.join(COMPARABLE_FIELDS)}")
    sweeps: dict[tuple, Sweep] = {}
    first: dict[tuple, tuple[Path, dict[str, Any]]] = {}
    for d in find_run_dirs(paths, skip_incomplete=skip_incomplete, warn=warn):
        try:
            config = rundir.load_config(d)
            records = rundir.load_runs(d)
        except rundir.RunDirError as e:
            raise MissingDataError(str(e)) from e
        if not isinstance(config, dict) or "loss" not in config:
            raise DataError(f"{d / rundir.CONFIG} names no 'loss'")
        comp = comparability(config)
        setting, loss = _setting_of(config, d), str(config["loss"])
        label = loss
        if group_by:
            label += " [" + ", ".join(f"{f}={_show(f, comp[f])}" for f in group_by) + "]"
        key = (setting, label)
        if key in first:
            d0, comp0 = first[key]
            differ = [f for f in COMPARABLE_FIELDS if comp[f] != comp0[f]]
            if differ:
                f = differ[0]
                more = f" (and {', '.join(differ[1:])})" if differ[1:] else ""
                raise ConfigError(
                    f"setting {setting!r}, loss {loss!r}: {d0} and {d} are not comparable: "
                    f"{f} is {_show(f, comp0[f])} in the first and {_show(f, comp[f])} in the "
                    f"second{more}. Report them separately, or side by side with "
                    f"--group-by {','.join(differ)}")
        else:
            first[key] = (d, comp)
        sweep = sweeps.setdefault(key, Sweep(setting, label, [],
                                             similarity=rundir.similarity_of(config),
                                             uses_lam=rundir.uses_lam(config)))
        sweep.dirs.append(d)
        seen = {_identity(r): r["_dir"] for r in sweep.runs}
        for r in records:
            missing = [k for k in ("run", "seed", "lam", "best_val_acc", "test_acc") if k not in r]
            if missing:
                raise DataError(f"{d / rundir.RUNS_JSON}: a run record is missing {missing}")
            k = _identity(r)
            if k in seen:
                raise ConfigError(
                    f"setting {setting!r}, loss {label!r}{_describe_identity(k)}: seed {k[0]}, "
                    f"lambda {k[1]} appears in both {seen[k]} and {d}; report each run once"
                )
            seen[k] = d
            sweep.runs.append({**r, "_dir": d, "_run": int(r["run"])})
    order = lambda k: (k[0], loss_sort_key(k[1].split(" [")[0]), k[1])  # noqa: E731
    return [sweeps[k] for k in sorted(sweeps, key=order)]


def optional_run_array(d: Path, run: int, name: str) -> np.ndarray | None:
    """One per-run array (see :func:`corel_jax.rundir.load_run_array`), or None when the run
    directory does not have it."""
    try:
        return rundir.load_run_array(d, run, name)
    except rundir.RunDirError:
        return None


def load_labels(run_dir: Path) -> np.ndarray:
    """The run directory's test labels ``[N]`` (int64), or :class:`MissingDataError`."""
    try:
        return rundir.load_test_labels(run_dir).reshape(-1).astype(np.int64)
    except rundir.RunDirError as e:
        raise MissingDataError(str(e)) from e
