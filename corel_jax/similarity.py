"""Pairwise similarity matrices between representations and class prototypes.

Orientation follows the paper: ``h: [..., D]`` holds one representation per row, with any
leading (batch) shape, and ``W: [K, D]`` one prototype (output-layer row) per class; every
function returns ``[..., K]``, one similarity per representation and class (``h: [N, D]``
gives ``[N, K]``, ``h: [B, T, D]`` gives ``[B, T, K]``, one ``h: [D]`` gives ``[K]``).

Compute dtype: inputs are promoted to at least float32 (bf16/fp16 in, float32 out), so the
reductions over ``D`` stay accurate; float64 inputs stay float64.

Errors (at trace time, from shapes and dtypes): ``ValueError`` when ``h`` is a scalar, ``W``
is not 2-D, or their feature sizes ``D`` differ, or when ``gamma`` is not a scalar or, given
as a Python number, not > 0; ``TypeError`` when ``h`` or ``W`` is not floating-point.

Reference: Kenyon-Dean, Cianflone, Page-Caccia, Rabusseau, Cheung, Precup.
*Clustering-Oriented Representation Learning with Attractive-Repulsive Loss*,
AAAI 2019 Workshop on Network Interpretability, arXiv:1812.07627, Section 2.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from corel_jax import _checks

__all__ = ["COSINE_EPS", "cosine", "dot", "gaussian", "sqdist"]

# Norms below this are treated as this, so the cosine of a zero vector is 0 and its gradient
# is finite (sqrt has an infinite derivative at 0).
COSINE_EPS = 1e-12


def _prepare(h: ArrayLike, W: ArrayLike) -> tuple[jax.Array, jax.Array]:
    _checks.check_pair(h, W)
    dtype = _checks.compute_dtype(h, W)
    return jnp.asarray(h, dtype), jnp.asarray(W, dtype)


def dot(h: ArrayLike, W: ArrayLike) -> jax.Array:
    """Dot-product similarity ``s_ij = h_i · w_j``.

    Args:
      h: ``[..., D]`` representations.
      W: ``[K, D]`` class prototypes.

    Returns:
      ``[..., K]`` similarities.

    >>> import jax.numpy as jnp
    >>> dot(jnp.array([[1., 2.]]), jnp.array([[1., 0.], [0., 1.]]))
    Array([[1., 2.]], dtype=float32)
    """
    h, W = _prepare(h, W)
    return h @ W.T


def _safe_normalize(x: jax.Array) -> jax.Array:
    sq = jnp.sum(x * x, axis=-1, keepdims=True)
    return x * jnp.reciprocal(jnp.sqrt(jnp.maximum(sq, COSINE_EPS**2)))


def cosine(h: ArrayLike, W: ArrayLike) -> jax.Array:
    """Cosine similarity ``s_ij = h_i · w_j / (‖h_i‖ ‖w_j‖)``, in [-1, 1].

    A zero vector (``h_i = 0`` or ``w_j = 0``) has cosine 0 with everything, and finite
    gradients: norms are floored at :data:`COSINE_EPS`.

    Args:
      h: ``[..., D]`` representations.
      W: ``[K, D]`` class prototypes.

    Returns:
      ``[..., K]`` cosines.

    >>> import jax.numpy as jnp
    >>> cosine(jnp.array([[3., 4.], [0., 0.]]), jnp.array([[1., 0.]]))
    Array([[0.6],
           [0. ]], dtype=float32)
    """
    h, W = _prepare(h, W)
    return _safe_normalize(h) @ _safe_normalize(W).T


def sqdist(h: ArrayLike, W: ArrayLike) -> jax.Array:
    """Squared Euclidean distance ``d_ij = ‖h_i − w_j‖²``.

    Computed as ``‖h‖² − 2 h·w + ‖w‖²`` (one matmul, as K-Means implementations do) and
    clamped at 0 against rounding.

    Args:
      h: ``[..., D]`` representations.
      W: ``[K, D]`` class prototypes.

    Returns:
      ``[..., K]`` non-negative squared distances.

    >>> import jax.numpy as jnp
    >>> sqdist(jnp.array([[1., 1.]]), jnp.array([[1., 1.], [4., 5.]]))
    Array([[ 0., 25.]], dtype=float32)
    """
    h, W = _prepare(h, W)
    hh = jnp.sum(h * h, axis=-1, keepdims=True)
    ww = jnp.sum(W * W, axis=-1)
    return jnp.maximum(hh - 2.0 * (h @ W.T) + ww, 0.0)


def gaussian(h: ArrayLike, W: ArrayLike, gamma: ArrayLike = 0.5) -> jax.Array:
    """Gaussian log-similarity ``s_ij = −γ ‖h_i − w_j‖²``.

    This is the log of the Gaussian kernel ``exp(−γ‖h−w‖²)``: the quantity the
    Gaussian-COREL loss (Eq. 6) puts through its log-sum-exp.

    Args:
      h: ``[..., D]`` representations.
      W: ``[K, D]`` class prototypes.
      gamma: inverse bandwidth γ > 0; a Python number or a traced (learnable) scalar.

    Returns:
      ``[..., K]`` log-similarities (≤ 0).

    >>> import jax.numpy as jnp
    >>> gaussian(jnp.array([[1., 0.]]), jnp.array([[0., 0.], [1., 2.]]), gamma=0.5)
    Array([[-0.5, -2. ]], dtype=float32)
    """
    _checks.check_gamma(gamma)
    _checks.check_scalar(gamma, "gamma")
    d = sqdist(h, W)
    return -jnp.asarray(gamma, d.dtype) * d

