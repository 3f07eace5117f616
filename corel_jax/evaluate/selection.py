"""Choosing a configuration per sweep: the best mean best-validation accuracy over seeds.

A run of a sweep is one seed at one configuration: a value of every hyperparameter axis of
the sweep (λ, and the learning rate, weight decay, γ and the center loss's α when they are
grids; see :class:`corel_jax.train.SweepConfig`). Runs are plain dicts as in ``runs.json``. A
record without an axis's key reads as that axis's :attr:`corel_jax.axes.Axis.before` value
(e.g. ``weight_decay``: 0) or, for an axis without one, as None ("not recorded"; ``lr``,
``gamma``, ``center_alpha``), so records without those keys form a sweep over λ alone
(:func:`corel_jax.axes.record_value`).
:func:`select_config` chooses over every axis that varies (λ always); :func:`lambda_curve`
and :func:`select_lambda` are the λ-only view.
Table 2 reports the runs of the selected configuration (:func:`accuracy_records`).

>>> runs = [{"lam": 0.5, "lr": 1e-3, "seed": 0, "best_val_acc": 0.90},
...         {"lam": 0.5, "lr": 1e-4, "seed": 0, "best_val_acc": 0.95},
...         {"lam": 0.9, "lr": 1e-3, "seed": 0, "best_val_acc": 0.92},
...         {"lam": 0.9, "lr": 1e-4, "seed": 0, "best_val_acc": 0.80}]
>>> varied(runs)
('lr', 'lam')
>>> select_config(runs)
{'lr': 0.0001, 'lam': 0.5}
>>> [r["seed"] for r in runs_at(runs, {"lr": 1e-4, "lam": 0.5})]
[0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from corel_jax import axes
from corel_jax.errors import DataError
from corel_jax.evaluate.stats import mean_std
from corel_jax.evaluate.sweeps import Sweep


def finite(x: Any) -> float:
    """``x`` as a float; NaN when it is missing, not a number, or infinite."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v if math.isfinite(v) else float("nan")


def lambda_curve(runs: Sequence[dict[str, Any]], key: str = "best_val_acc") -> list[dict]:
    """Per lambda: ``{"lam", "mean", "std", "n"}`` of ``key`` over the runs (seeds).

    >>> lambda_curve([{"lam": 0.5, "best_val_acc": 0.9}, {"lam": 0.5, "best_val_acc": 0.7},
    ...               {"lam": 0.1, "best_val_acc": 0.85}])
    [{'lam': 0.1, 'mean': 0.85, 'std': nan, 'n': 1},
     {'lam': 0.5, 'mean': 0.8, 'std': 0.141421356237, 'n': 2}]
    """
    out = []
    for lam in sorted({float(r["lam"]) for r in runs}):
        vals = [finite(r[key]) for r in runs if float(r["lam"]) == lam]
        m, s = mean_std(vals)
        out.append({"lam": lam, "mean": m, "std": s, "n": sum(map(math.isfinite, vals))})
    return out


def select_lambda(runs: Sequence[dict[str, Any]]) -> float:
    """The lambda with the highest mean ``best_val_acc`` over seeds (ties: the smaller).

    >>> select_lambda([{"lam": 0.5, "best_val_acc": 0.9}, {"lam": 0.5, "best_val_acc": 0.7},
    ...                {"lam": 0.1, "best_val_acc": 0.85}])
    0.1
    """
    if not runs:
        raise DataError("no runs to select a lambda from")
    curve = lambda_curve(runs)
    best = max(curve, key=lambda c: (c["mean"] if math.isfinite(c["mean"]) else -math.inf,
                                     -c["lam"]))
    return best["lam"]


def selected_hparams(sweep: Sweep) -> dict[str, float | None]:
    """The values of the sweep's varied axes other than λ (lr, γ, α grids) in its selected
    configuration (:func:`select_config`); empty for a sweep over λ alone."""
    return {k: v for k, v in select_config(sweep.runs).items() if k != "lam"}


def curve_runs(sweep: Sweep) -> list[dict[str, Any]]:
    """The runs the sweep's λ curve is drawn from: every λ at the selected values of the other
    axes (all runs for a sweep over λ alone), so a curve never mixes learning rates."""
    hp = selected_hparams(sweep)
    return list(sweep.runs) if not hp else runs_at(sweep.runs, hp)


def selected_runs(sweep: Sweep, lam: float) -> list[dict[str, Any]]:
    """The sweep's runs at ``lam`` (and at the selected values of its other axes), by seed."""
    return sorted((r for r in curve_runs(sweep) if float(r["lam"]) == lam),
                  key=lambda r: int(r["seed"]))


def accuracy_records(sweeps: Sequence[Sweep]) -> tuple[list[dict], dict[tuple[str, str], float]]:
    """Per-run records for Table 2 (the selected configuration's runs) and the selected λ per
    sweep. A record carries the run's value on every axis beyond λ
    (:func:`corel_jax.axes.record_value`: None where the run record has none)."""
    lam_of: dict[tuple[str, str], float] = {}
    records = []
    for s in sweeps:
        lam = select_config(s.runs)["lam"]
        lam_of[(s.setting, s.loss)] = lam
        for r in selected_runs(s, lam):
            records.append({
                "setting": s.setting, "loss": s.loss, "seed": int(r["seed"]), "lam": lam,
                **{k: _value(r, k) for k in axes.NAMES[1:]},
                "test_acc": finite(r["test_acc"]), "best_val_acc": finite(r["best_val_acc"]),
                "best_epoch": r.get("best_epoch"), "diverged": bool(r.get("diverged", False)),
                "run_dir": str(r["_dir"]), "run": r["_run"],
            })
    return records, lam_of


#: the columns of lambda_curve.csv (Figure 2's numbers)
LAMBDA_CURVE_FIELDS = ("setting", "loss", "lam", "mean_best_val_acc", "std_best_val_acc", "n",
                       "selected")


def lambda_curve_rows(sweeps: Sequence[Sweep],
                      lam_of: dict[tuple[str, str], float]) -> list[dict[str, Any]]:
    """Every sweep's :func:`lambda_curve` (of :func:`curve_runs`), one row per (setting, loss,
    λ), with whether that λ is the selected one (``lam_of``, from :func:`accuracy_records`)."""
    rows = []
    for s in sweeps:
        for c in lambda_curve(curve_runs(s)):
            rows.append({"setting": s.setting, "loss": s.loss, "lam": c["lam"],
                         "mean_best_val_acc": c["mean"], "std_best_val_acc": c["std"],
                         "n": c["n"], "selected": c["lam"] == lam_of[(s.setting, s.loss)]})
    return rows


# ------------------------------------------------------------------- beyond λ: every grid axis


#: the hyperparameter axes a run may have, in the order tables show them (λ last)
AXES = axes.NAMES[1:] + ("lam",)


def varied(runs: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The axes whose value differs between runs, plus λ always (in :data:`AXES` order)."""
    out = []
    for k in AXES:
        values = {_value(r, k) for r in runs}
        if k == "lam" or len(values) > 1:
            out.append(k)
    return tuple(out)


_value = axes.record_value


def config_of(run: Mapping[str, Any], keys: Sequence[str]) -> dict[str, float | None]:
    """The run's value of each axis in ``keys``."""
    return {k: _value(run, k) for k in keys}


def config_curve(runs: Sequence[Mapping[str, Any]], keys: Sequence[str] | None = None,
                 metric: str = "best_val_acc") -> list[dict[str, Any]]:
    """Per configuration (the values of ``keys``; default :func:`varied`), in first-seen
    order: its values, the mean and sample std of ``metric`` over its runs (non-finite values
    left out; NaN when none is finite) and the number of runs."""
    keys = tuple(varied(runs) if keys is None else keys)
    groups: dict[tuple, list[float]] = {}
    for r in runs:
        groups.setdefault(tuple(_value(r, k) for k in keys), []).append(float(r[metric]))
    out = []
    for values, vals in groups.items():
        v = np.asarray([x for x in vals if math.isfinite(x)], np.float64)
        out.append({**dict(zip(keys, values)),
                    "mean": float(v.mean()) if v.size else float("nan"),
                    "std": float(v.std(ddof=1)) if v.size > 1 else float("nan"),
                    "n": len(vals)})
    return out


def select_config(runs: Sequence[Mapping[str, Any]],
                  keys: Sequence[str] | None = None) -> dict[str, float | None]:
    """The configuration with the highest mean best validation accuracy over its seeds.

    Ties go to the smaller values, compared axis by axis in ``keys`` order (for λ alone: the
    smaller λ, as :func:`corel_jax.evaluate.select_lambda`)."""
    if not runs:
        raise DataError("no runs to select a configuration from")
    keys = tuple(varied(runs) if keys is None else keys)
    curve = config_curve(runs, keys)

    def rank(c):
        mean = c["mean"] if math.isfinite(c["mean"]) else -math.inf
        return (mean, *(-(c[k] if c[k] is not None else 0.0) for k in keys))

    best = max(curve, key=rank)
    return {k: best[k] for k in keys}


def runs_at(runs: Sequence[Mapping[str, Any]], config: Mapping[str, Any]) -> list[dict]:
    """The runs with exactly ``config``'s values, ordered by seed."""
    want = {k: None if v is None else float(v) for k, v in config.items()}
    return sorted((dict(r) for r in runs
                   if all(_value(r, k) == v for k, v in want.items())),
                  key=lambda r: int(r["seed"]))


def describe(config: Mapping[str, Any]) -> str:
    """``λ 0.5, lr 0.0001`` for a table cell (λ first; axes without a value left out)."""
    order = ["lam"] + [k for k in config if k != "lam"]
    return ", ".join(f"{axes.BY_NAME[k].label if k in axes.BY_NAME else k} {config[k]:g}"
                     for k in order
                     if k in config and config[k] is not None)
