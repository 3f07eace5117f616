"""Selecting the best configuration of a sweep over λ and other hyperparameter grids."""

import math

import pytest

from corel_jax.errors import DataError
from corel_jax.evaluate import select_lambda
from corel_jax.evaluate.selection import (
    config_curve,
    describe,
    runs_at,
    select_config,
    varied,
)


def grid_runs():
    """2 lr × 2 λ × 2 seeds; the best mean is lr 1e-4, λ 0.9 (0.93), though the single best run
    is at lr 1e-3, λ 0.5 (0.99)."""
    acc = {(1e-3, 0.5): (0.99, 0.80), (1e-3, 0.9): (0.90, 0.90),
           (1e-4, 0.5): (0.85, 0.85), (1e-4, 0.9): (0.94, 0.92)}
    return [{"lr": lr, "lam": lam, "seed": s, "best_val_acc": a[s], "gamma": 0.5}
            for (lr, lam), a in acc.items() for s in (1, 0)]


def test_selects_by_mean_over_seeds_across_every_varied_axis():
    runs = grid_runs()
    assert varied(runs) == ("lr", "lam")  # γ is the same everywhere
    assert select_config(runs) == {"lr": 1e-4, "lam": 0.9}
    picked = runs_at(runs, {"lr": 1e-4, "lam": 0.9})
    assert [r["seed"] for r in picked] == [0, 1]
    assert all(r["lr"] == 1e-4 and r["lam"] == 0.9 for r in picked)


def test_curve_groups_and_averages():
    curve = config_curve(grid_runs())
    assert len(curve) == 4 and all(c["n"] == 2 for c in curve)
    best = next(c for c in curve if c["lr"] == 1e-4 and c["lam"] == 0.9)
    assert best["mean"] == pytest.approx(0.93)
    assert best["std"] == pytest.approx(math.sqrt(2) * 0.01)


def test_lambda_only_sweeps_agree_with_select_lambda_including_ties():
    runs = [{"lam": lam, "seed": 0, "best_val_acc": a}
            for lam, a in ((0.9, 0.8), (0.3, 0.8), (0.5, 0.7))]
    assert varied(runs) == ("lam",)
    assert select_config(runs) == {"lam": select_lambda(runs)} == {"lam": 0.3}


def test_non_finite_runs_do_not_win_and_empty_input_is_an_error():
    runs = [{"lam": 0.5, "seed": 0, "best_val_acc": float("nan")},
            {"lam": 0.9, "seed": 0, "best_val_acc": 0.1}]
    assert select_config(runs) == {"lam": 0.9}
    with pytest.raises(DataError, match="no runs"):
        select_config([])


def test_describe():
    assert describe({"lr": 1e-4, "lam": 0.9}) == "λ 0.9, lr 0.0001"
    assert describe({"lam": 0.5, "gamma": None}) == "λ 0.5"


def test_runs_recorded_before_weight_decay_existed_had_none():
    # a stage resumed across the change: older parts lack the key, newer ones record 0
    old = [{"lam": lam, "seed": 0, "best_val_acc": a} for lam, a in ((0.3, 0.8), (0.5, 0.9))]
    new = [{"lam": 0.7, "seed": 0, "best_val_acc": 0.85, "weight_decay": 0.0}]
    assert varied(old + new) == ("lam",)
    assert select_config(old + new) == {"lam": 0.5}
    grid = new + [{"lam": 0.7, "seed": 0, "best_val_acc": 0.95, "weight_decay": 1e-4}]
    assert varied(old + grid) == ("weight_decay", "lam")
    assert select_config(old + grid) == {"weight_decay": 1e-4, "lam": 0.7}
    assert describe({"lam": 0.7, "weight_decay": 1e-4}) == "λ 0.7, wd 0.0001"
