"""Choosing a configuration from a sweep: the best mean best-validation accuracy over seeds.

A run of a sweep is one seed at one configuration: a value of every hyperparameter axis of
the sweep (λ, and the learning rate, γ and the center loss's α when they are grids; see
:class:`corel_jax.train.SweepConfig`). Runs are plain dicts as in ``runs.json``; a run
directory written before the grids existed has no ``lr``/``gamma``/``center_alpha`` keys and
is a sweep over λ alone.

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

from corel_jax.errors import DataError

#: the hyperparameter axes a run may have, in the order tables show them (λ last)
AXES = ("lr", "gamma", "center_alpha", "lam")


def varied(runs: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The axes whose value differs between runs, plus λ always (in :data:`AXES` order)."""
    out = []
    for k in AXES:
        values = {_value(r, k) for r in runs}
        if k == "lam" or len(values) > 1:
            out.append(k)
    return tuple(out)


def _value(run: Mapping[str, Any], key: str):
    v = run.get(key)
    return None if v is None else float(v)


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
    names = {"lam": "λ", "lr": "lr", "gamma": "γ", "center_alpha": "α"}
    order = ["lam"] + [k for k in config if k != "lam"]
    return ", ".join(f"{names.get(k, k)} {config[k]:g}" for k in order
                     if k in config and config[k] is not None)
