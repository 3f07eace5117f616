"""What early stopping would have done, read off fully trained validation curves.

The engine's early stopping (``SweepConfig.patience``) freezes a run once its best validation
accuracy has not improved for ``patience`` epochs; everything it computes until then is what
the full run computes. So a run trained for all its epochs shows, in its validation curve,
exactly where it would have stopped and which best epoch it would have kept: :func:`simulate`
replays the rule on a curve, and :func:`patience_table` measures what a patience costs
against the full runs (same best epoch, accuracy lost, epochs saved). numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from corel_jax.train.stopping import improves, should_stop


class Stopped(NamedTuple):
    best_epoch: int  # 1-based; 0: no finite epoch
    best_val_acc: float  # NaN when no finite epoch
    epochs_trained: int  # the stop epoch, or the number of finite epochs


def simulate(val_acc: Sequence[float], patience: int | None, min_epochs: int = 0) -> Stopped:
    """Replays the engine's rule on one run's per-epoch validation accuracy ``[E]``.

    Strictly better accuracy moves the best epoch (ties keep the earlier one); after epoch
    ``e`` the run stops when ``e - best_epoch >= patience`` and ``e >= min_epochs``. NaN
    epochs (not trained, or diverged) end the curve.

    >>> simulate([0.5, 0.7, 0.6, 0.7, 0.9], patience=2)
    Stopped(best_epoch=2, best_val_acc=0.7, epochs_trained=4)
    >>> simulate([0.5, 0.7, 0.6, 0.7, 0.9], patience=None)
    Stopped(best_epoch=5, best_val_acc=0.9, epochs_trained=5)
    """
    best, best_epoch, trained = -1.0, 0, 0
    for e, v in enumerate(np.asarray(val_acc, np.float64), start=1):
        if not np.isfinite(v):
            break
        trained = e
        if improves(v, best):
            best, best_epoch = float(v), e
        if should_stop(best_epoch, e, patience=patience, min_epochs=min_epochs):
            break
    return Stopped(best_epoch, best if best_epoch else float("nan"), trained)


def patience_table(curves: np.ndarray, patiences: Sequence[int], min_epochs: int = 0,
                   tol: float = 0.0) -> list[dict[str, Any]]:
    """For every patience: how early stopping compares with the full runs of ``curves``
    (validation accuracy ``[R, E]``, NaN after a divergence).

    Returns one row per patience: ``runs``, ``same_best_epoch`` (runs whose best epoch, and so
    best validation accuracy and test results, equal the full run's), ``same_best_val``
    (best validation accuracy within ``tol``), ``max_loss_points`` (largest drop of best
    validation accuracy, in points), ``mean_loss_points``, ``epochs_full``, ``epochs_trained``
    and ``saved`` (fraction of run-epochs not trained).
    """
    curves = np.asarray(curves, np.float64)
    full = [simulate(c, None) for c in curves]
    rows = []
    for p in patiences:
        stopped = [simulate(c, p, min_epochs) for c in curves]
        ok = [f.best_epoch > 0 for f in full]
        loss = [100 * (f.best_val_acc - s.best_val_acc)
                for f, s, k in zip(full, stopped, ok) if k]
        ef = sum(f.epochs_trained for f in full)
        es = sum(s.epochs_trained for s in stopped)
        rows.append({
            "patience": p, "runs": len(curves),
            "same_best_epoch": sum(f.best_epoch == s.best_epoch for f, s in zip(full, stopped)),
            "same_best_val": sum(abs(x) <= 100 * tol for x in loss),
            "max_loss_points": max(loss, default=0.0),
            "mean_loss_points": float(np.mean(loss)) if loss else 0.0,
            "epochs_full": ef, "epochs_trained": es,
            "saved": 1 - es / ef if ef else 0.0,
        })
    return rows
