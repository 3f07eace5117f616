"""Run directories grouped into sweeps: :func:`load_sweeps` and the arrays of their runs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from corel_jax import rundir
from corel_jax.errors import ConfigError, DataError, MissingDataError
from corel_jax.evaluate.stats import loss_sort_key


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


def find_run_dirs(paths: Iterable[Path | str]) -> list[Path]:
    """Run directories named by ``paths``: each path is a run directory, or a folder searched
    (recursively) for run directories. Raises :class:`MissingDataError` when one holds none.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if rundir.is_run_dir(p):
            found = [p]
        elif p.is_dir():
            found = sorted(q.parent for q in p.rglob(rundir.CONFIG) if rundir.is_run_dir(q.parent))
        else:
            raise MissingDataError(
                f"{p} does not exist; pass a run directory (or a folder of them)"
            )
        if not found:
            raise MissingDataError(
                f"{p} is not a run directory and holds none (a run directory has "
                f"{rundir.CONFIG} and {rundir.RUNS_JSON}, written by `corel-jax train`)"
            )
        out.extend(q for q in found if q not in out)
    return out


def _setting_of(config: dict[str, Any], path: Path) -> str:
    if config.get("setting"):
        return str(config["setting"])
    if config.get("dataset") and config.get("model"):
        return f"{config['dataset']}-{config['model']}"
    raise DataError(f"{path / rundir.CONFIG} names no 'setting' (nor 'dataset' and 'model')")


#: what makes a run itself: its seed and its value on every hyperparameter axis (a run
#: directory older than an axis has no value for it: None)
_IDENTITY_AXES = rundir.HPARAM_FIELDS


def _identity(run: dict[str, Any]) -> tuple:
    return (int(run["seed"]),) + tuple(rundir.hparam_value(run, k) for k in _IDENTITY_AXES)


def _describe_identity(k: tuple) -> str:
    """`` at lr 0.001, gamma 0.5`` for the axes beyond λ that the run has ('' if none)."""
    parts = [f"{rundir.HPARAM_NAMES[a]} {v:g}"
             for a, v in zip(_IDENTITY_AXES[1:], k[2:]) if v is not None]
    return " at " + ", ".join(parts) if parts else ""


def load_sweeps(paths: Iterable[Path | str]) -> list[Sweep]:
    """Loads and groups run directories into sweeps, ordered by setting then loss."""
    sweeps: dict[tuple[str, str], Sweep] = {}
    for d in find_run_dirs(paths):
        try:
            config = rundir.load_config(d)
            records = rundir.load_runs(d)
        except rundir.RunDirError as e:
            raise MissingDataError(str(e)) from e
        except ValueError as e:  # json.JSONDecodeError
            raise DataError(f"{d}: unreadable config.json or runs.json ({e})") from e
        if "loss" not in config:
            raise DataError(f"{d / rundir.CONFIG} names no 'loss'")
        key = (_setting_of(config, d), str(config["loss"]))
        sweep = sweeps.setdefault(key, Sweep(key[0], key[1], [],
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
                    f"setting {key[0]!r}, loss {key[1]!r}{_describe_identity(k)}: seed {k[0]}, "
                    f"lambda {k[1]} appears in both {seen[k]} and {d}; report each run once"
                )
            seen[k] = d
            sweep.runs.append({**r, "_dir": d, "_run": int(r["run"])})
    return [sweeps[k] for k in sorted(sweeps, key=lambda k: (k[0], loss_sort_key(k[1])))]


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
