"""The early-stopping rule, in one place: the engine applies it to traced arrays inside the
compiled epoch, the evaluator (:mod:`corel_jax.evaluate.stopping`) replays it on stored
curves. Plain operators only, so it works on Python numbers, numpy and JAX arrays alike (and
this module imports neither)."""

from __future__ import annotations

from typing import Any


def improves(val_acc: Any, best_val_acc: Any, healthy: Any = True) -> Any:
    """Whether an epoch becomes the best: a healthy epoch with *strictly* better validation
    accuracy (a tie keeps the earlier epoch)."""
    return healthy & (val_acc > best_val_acc)


def should_stop(best_epoch: Any, epoch: Any, *, patience: int | None,
                min_epochs: int = 0) -> Any:
    """Whether a run stops after (1-based) ``epoch``: no improvement for ``patience`` epochs
    since ``best_epoch``, and at least ``min_epochs`` trained (``patience=None``: never)."""
    if patience is None:
        return epoch < 0  # False, shaped like epoch
    return (epoch >= min_epochs) & (epoch - best_epoch >= patience)
