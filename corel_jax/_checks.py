"""Cheap trace-time checks shared by :mod:`corel_jax.similarity` and :mod:`corel_jax.losses`.

They look only at shapes, dtypes and Python numbers, so they cost nothing under ``jit`` and
never force a traced value to the host.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp


def check_matrix(x, name: str) -> None:
    """``x`` must be a floating ``[N, D]`` array."""
    if jnp.ndim(x) != 2:
        raise ValueError(f"{name} must be a 2-D array [N, D]; got shape {jnp.shape(x)}")
    if not jnp.issubdtype(jnp.result_type(x), jnp.floating):
        raise TypeError(f"{name} must be a floating-point array; got dtype {jnp.result_type(x)}")


def check_pair(h, W, h_name: str = "h", w_name: str = "W") -> None:
    """``h: [N, D]`` and ``W: [K, D]`` must agree on ``D``."""
    check_matrix(h, h_name)
    check_matrix(W, w_name)
    if jnp.shape(h)[1] != jnp.shape(W)[1]:
        raise ValueError(
            f"{h_name} and {w_name} must have the same feature size D: {h_name} is "
            f"{jnp.shape(h)} and {w_name} is {jnp.shape(W)} (W holds one row per class, [K, D])"
        )


def check_labels_shape(labels, n: int, name: str = "labels") -> None:
    """``labels`` must be an integer ``[N]`` array (class indices, not one-hot)."""
    if jnp.ndim(labels) != 1:
        raise ValueError(
            f"{name} must be a 1-D array of integer class indices [N]; got shape "
            f"{jnp.shape(labels)} (for one-hot labels pass labels.argmax(-1))"
        )
    if not jnp.issubdtype(jnp.result_type(labels), jnp.integer):
        raise TypeError(
            f"{name} must hold integer class indices; got dtype {jnp.result_type(labels)}"
        )
    if jnp.shape(labels)[0] != n:
        raise ValueError(f"{name} has {jnp.shape(labels)[0]} entries but there are {n} examples")


def check_where(where, n: int) -> None:
    if where is None:
        return
    if jnp.shape(where) != (n,):
        raise ValueError(f"where must be a boolean mask of shape ({n},); got {jnp.shape(where)}")


def is_concrete_number(x) -> bool:
    """True for a Python/numpy scalar (checked eagerly); False for arrays and tracers."""
    return isinstance(x, numbers.Real) and not isinstance(x, jax.core.Tracer)


def check_lam(lam) -> None:
    """λ given as a Python number must lie in [0, 1]; traced λ is not checked."""
    if is_concrete_number(lam) and not 0.0 <= float(lam) <= 1.0:
        raise ValueError(
            f"lam must lie in [0, 1] (the weight of the attractive term; 1 - lam weights "
            f"the repulsive term); got {lam}"
        )


def check_gamma(gamma) -> None:
    """γ given as a Python number must be > 0; traced γ is not checked."""
    if is_concrete_number(gamma) and not float(gamma) > 0.0:
        raise ValueError(f"gamma must be > 0 (the Gaussian inverse bandwidth); got {gamma}")


def compute_dtype(*xs):
    """At least float32: bf16/fp16 inputs are promoted so reductions stay accurate."""
    return jnp.promote_types(jnp.result_type(*xs), jnp.float32)
