"""Choosing λ per sweep: the λ curve (mean best validation accuracy over seeds per λ), the
selected λ (highest mean, ties: the smaller) and the runs Table 2 reports."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

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


def selected_runs(sweep: Sweep, lam: float) -> list[dict[str, Any]]:
    """The sweep's runs at ``lam``, ordered by seed."""
    return sorted((r for r in sweep.runs if float(r["lam"]) == lam), key=lambda r: int(r["seed"]))


def accuracy_records(sweeps: Sequence[Sweep]) -> tuple[list[dict], dict[tuple[str, str], float]]:
    """Per-run records for Table 2 (selected lambda only) and the selected lambda per sweep."""
    lam_of: dict[tuple[str, str], float] = {}
    records = []
    for s in sweeps:
        lam = select_lambda(s.runs)
        lam_of[(s.setting, s.loss)] = lam
        for r in selected_runs(s, lam):
            records.append({
                "setting": s.setting, "loss": s.loss, "seed": int(r["seed"]), "lam": lam,
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
    """Every sweep's :func:`lambda_curve`, one row per (setting, loss, λ), with whether that λ
    is the selected one (``lam_of``, from :func:`accuracy_records`)."""
    rows = []
    for s in sweeps:
        for c in lambda_curve(s.runs):
            rows.append({"setting": s.setting, "loss": s.loss, "lam": c["lam"],
                         "mean_best_val_acc": c["mean"], "std_best_val_acc": c["std"],
                         "n": c["n"], "selected": c["lam"] == lam_of[(s.setting, s.loss)]})
    return rows
