"""Cheap trace-time checks shared by :mod:`corel_jax.similarity` and :mod:`corel_jax.losses`.

They look only at shapes, dtypes and Python numbers, so they cost nothing under ``jit`` and
never force a traced value to the host.

Representations are ``[..., D]``: any leading (batch) shape, the feature axis last. Prototypes
are ``[K, D]``. Labels and masks have the representations' leading shape.
"""

from __future__ import annotations

import numbers
from typing import TypeGuard

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

#: a leading (batch) shape
Shape = tuple[int, ...]


def check_floating(x: ArrayLike, name: str) -> None:
    """``x`` must have a floating-point dtype."""
    if not jnp.issubdtype(jnp.result_type(x), jnp.floating):
        raise TypeError(f"{name} must be a floating-point array; got dtype {jnp.result_type(x)}")


def check_matrix(x: ArrayLike, name: str, shape: str = "[K, D]") -> None:
    """``x`` must be a floating 2-D array (``shape`` names its axes in the message)."""
    if jnp.ndim(x) != 2:
        raise ValueError(f"{name} must be a 2-D array {shape}; got shape {jnp.shape(x)}")
    check_floating(x, name)


def check_points(x: ArrayLike, name: str, axis: str = "D") -> Shape:
    """``x`` must be a floating ``[..., axis]`` array (at least 1-D); returns its leading
    shape ``x.shape[:-1]``."""
    if jnp.ndim(x) < 1:
        raise ValueError(f"{name} must be an array [..., {axis}] (any leading shape, the "
                         f"{axis} axis last); got a scalar")
    check_floating(x, name)
    return tuple(jnp.shape(x)[:-1])


def check_pair(h: ArrayLike, W: ArrayLike, h_name: str = "h", w_name: str = "W") -> Shape:
    """``h: [..., D]`` and ``W: [K, D]`` must agree on ``D``; returns ``h``'s leading shape."""
    lead = check_points(h, h_name)
    check_matrix(W, w_name)
    if jnp.shape(h)[-1] != jnp.shape(W)[1]:
        raise ValueError(
            f"{h_name} and {w_name} must have the same feature size D: {h_name} is "
            f"{jnp.shape(h)} and {w_name} is {jnp.shape(W)} (W holds one row per class, [K, D])"
        )
    return lead


def check_labels_shape(labels: ArrayLike, lead: Shape, of: str = "h",
                       name: str = "labels") -> None:
    """``labels`` must be integer class indices (not one-hot) of shape ``lead``, the leading
    shape of ``of``."""
    shape = tuple(jnp.shape(labels))
    if shape != tuple(lead):
        hint = ""
        if len(shape) == len(lead) + 1 and shape[:-1] == tuple(lead):
            hint = " (for one-hot labels pass labels.argmax(-1))"
        raise ValueError(
            f"{name} must have shape {of}.shape[:-1] = {tuple(lead)}, one integer class index "
            f"per example; got shape {shape}{hint}"
        )
    if not jnp.issubdtype(jnp.result_type(labels), jnp.integer):
        raise TypeError(
            f"{name} must hold integer class indices; got dtype {jnp.result_type(labels)}"
        )


def check_where(where: ArrayLike | None, lead: Shape, of: str = "h") -> None:
    """``where`` (if given) must have shape ``lead``, the leading shape of ``of``."""
    if where is None:
        return
    if tuple(jnp.shape(where)) != tuple(lead):
        raise ValueError(f"where must be a boolean mask of shape {of}.shape[:-1] = "
                         f"{tuple(lead)}; got shape {jnp.shape(where)}")


def check_scalar(x: ArrayLike, name: str) -> None:
    """A hyperparameter must be a scalar (one value per run: vmap over runs for several)."""
    if jnp.ndim(x) != 0:
        raise ValueError(f"{name} must be a scalar (vmap over runs for one value per run); "
                         f"got shape {jnp.shape(x)}")


def is_concrete_number(x: object) -> TypeGuard[numbers.Real]:
    """True for a Python/numpy scalar (checked eagerly); False for arrays and tracers."""
    return isinstance(x, numbers.Real) and not isinstance(x, jax.core.Tracer)


def check_lam(lam: ArrayLike) -> None:
    """λ given as a Python number must lie in [0, 1]; traced λ is not checked."""
    if is_concrete_number(lam) and not 0.0 <= float(lam) <= 1.0:
        raise ValueError(
            f"lam must lie in [0, 1] (the weight of the attractive term; 1 - lam weights "
            f"the repulsive term); got {lam}"
        )


def check_gamma(gamma: ArrayLike) -> None:
    """γ given as a Python number must be > 0; traced γ is not checked."""
    if is_concrete_number(gamma) and not float(gamma) > 0.0:
        raise ValueError(f"gamma must be > 0 (the Gaussian inverse bandwidth); got {gamma}")


def compute_dtype(*xs: ArrayLike) -> np.dtype:
    """At least float32: bf16/fp16 inputs are promoted so reductions stay accurate."""
    return jnp.promote_types(jnp.result_type(*xs), jnp.float32)
