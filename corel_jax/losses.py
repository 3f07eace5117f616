r"""Attractive-repulsive (AR) losses for clustering-oriented representation learning.

Every loss returns one value per example, like ``optax.losses``; the caller reduces (usually
with ``.mean()``). Shapes follow the paper, with any leading (batch) shape: ``h: [..., D]``
representations, ``W: [K, D]`` one prototype per class, integer ``labels: [...]`` in ``[0, K)``
(the shape ``h.shape[:-1]``), and a loss of the labels' shape. So ``h: [N, D]`` gives ``[N]``,
token- or patch-level ``h: [B, T, D]`` with ``labels: [B, T]`` gives ``[B, T]``, and one
``h: [D]`` with a scalar label gives a scalar. A leading shape means exactly its flattening::

    loss(h, W, labels) == loss(h.reshape(-1, D), W, labels.reshape(-1)).reshape(labels.shape)

The generic AR loss (Eq. 1) for an example with representation ``h`` and class ``y`` is

.. math::

    L(h, y) = \lambda \, L_{att} + (1 - \lambda) \, L_{rep}
            = -\lambda \, \mathrm{sim}(h, w_y) + (1 - \lambda) \, L_{rep}(h, W)

``λ`` (``lam``) trades the pull of ``h`` towards its own class prototype (attraction) against
the push away from the other prototypes (repulsion). Its instances:

========================  ======================  =====================================
loss                      similarity              repulsion
========================  ======================  =====================================
:func:`cce` (Eq. 2)       ``h·w + b``              ``logsumexp_j sim_j``, at λ = ½, × 2
:func:`cosine_corel` (5)  ``cos(h, w)``            ``(max_{j≠y} cos(h, w_j))²``
:func:`gaussian_corel`    ``−γ‖h − w‖²``           ``logsumexp_j sim_j``
(Eq. 6)
========================  ======================  =====================================

plus the center-loss baseline (:func:`center_loss`, :func:`update_centers`; Wen et al. 2016).

Hyperparameters (``lam``, ``gamma``, ``alpha``) are keyword-only and may be traced, so they can
be ``vmap``-ped over a run axis or learned; given as Python numbers they are range-checked at
trace time.

Compute dtype: inputs are promoted to at least float32, so bf16 representations give float32
losses with a stable log-sum-exp.

Errors are raised at trace time, from shapes, dtypes and Python numbers only: ``ValueError``
for a wrong shape (``h`` a scalar, ``W`` not 2-D, feature sizes ``D`` that differ, ``labels``
or ``where`` whose shape is not ``h.shape[:-1]``, ``b`` not ``[K]``, a non-scalar ``lam`` or
``gamma``, ``K < 2`` for Cosine-COREL), an unknown repulsion, or a hyperparameter given as a
Python number outside its range (λ and α in [0, 1], γ > 0); ``TypeError`` for non-floating
``h``/``W`` or non-integer ``labels``. Traced hyperparameters are not range-checked.

Out-of-range label *values* cannot raise under ``jit``: such an example's loss is NaN (never a
silently wrong number). Call :func:`check_labels` eagerly on your data to get an error instead.

Reference: Kenyon-Dean et al., *Clustering-Oriented Representation Learning with
Attractive-Repulsive Loss*, arXiv:1812.07627 (2018).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from corel_jax import _checks, similarity

#: a repulsion term: ``(sim [N, K], labels [N]) -> [N]``
Repulsion = Callable[[jax.Array, jax.Array], jax.Array]

__all__ = [
    "REPULSIONS", "Repulsion", "attractive_repulsive", "cce", "center_loss", "check_labels",
    "cosine_corel", "gaussian_corel", "logsumexp_repulsion", "max_other_squared_repulsion",
    "predict", "update_centers",
]


# --------------------------------------------------------------------------- repulsions


def logsumexp_repulsion(sim: jax.Array, labels: jax.Array) -> jax.Array:
    """``L_rep = log Σ_j exp(sim_j)`` over all classes (CCE and Gaussian-COREL).

    Args:
      sim: ``[..., K]`` similarities.
      labels: ``[...]`` class indices (unused: the sum runs over every class).

    Returns:
      ``[...]`` repulsion terms, computed with a stable log-sum-exp.
    """
    del labels
    return jax.nn.logsumexp(sim, axis=-1)


def max_other_squared_repulsion(sim: jax.Array, labels: jax.Array) -> jax.Array:
    """``L_rep = (max_{j≠y} sim_j)²`` (Cosine-COREL, Eq. 5).

    The true class is excluded from the max. (The original PyTorch code zeroes the true
    class's entry instead, which clamps the max at 0 whenever every other cosine is negative;
    this implementation does not.)

    Args:
      sim: ``[..., K]`` similarities, ``K ≥ 2``.
      labels: ``[...]`` class indices.

    Returns:
      ``[...]`` repulsion terms.
    """
    k = sim.shape[-1]
    if k < 2:
        raise ValueError(f"max-over-other-classes repulsion needs K >= 2 classes; got K = {k}")
    is_true = jnp.arange(k) == jnp.asarray(labels)[..., None]
    others = jnp.where(is_true, -jnp.inf, sim)
    return jnp.square(jnp.max(others, axis=-1))


REPULSIONS: dict[str, Repulsion] = {
    "logsumexp": logsumexp_repulsion,
    "max_other_squared": max_other_squared_repulsion,
}


# --------------------------------------------------------------------------- leading shapes


def _flat(x: ArrayLike, lead: _checks.Shape) -> jax.Array:
    """``x: [*lead, *rest]`` as ``[N, *rest]``, N the number of examples in ``lead``."""
    x = jnp.asarray(x)
    return jnp.reshape(x, (math.prod(lead), *x.shape[len(lead):]))


def _flat_where(where: ArrayLike | None, lead: _checks.Shape) -> jax.Array | None:
    return None if where is None else _flat(where, lead)


# --------------------------------------------------------------------------- generic AR loss


def _valid_labels(labels: jax.Array, num_classes: int) -> jax.Array:
    return (labels >= 0) & (labels < num_classes)


def _finish(loss: jax.Array, labels: jax.Array, num_classes: int,
            where: jax.Array | None) -> jax.Array:
    # NaN (not a clamped gather) for an out-of-range label, so bad data is never silent;
    # then zero the examples masked out by `where` (padding may carry any label).
    loss = jnp.where(_valid_labels(labels, num_classes), loss, jnp.nan)
    if where is not None:
        loss = jnp.where(where, loss, 0.0)
    return loss


def attractive_repulsive(
    sim: ArrayLike,
    labels: ArrayLike,
    *,
    lam: ArrayLike,
    repulsion: str | Repulsion = "logsumexp",
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""The generic attractive-repulsive loss (Eq. 1) on a similarity matrix.

    .. math:: L_i = -\lambda \, s_{i, y_i} + (1 - \lambda) \, L_{rep}(s_i, y_i)

    Args:
      sim: ``[..., K]`` similarities ``s_ij = sim(h_i, w_j)`` (see :mod:`corel_jax.similarity`).
      labels: ``[...]`` (``sim.shape[:-1]``) integer class indices in ``[0, K)``.
      lam: λ in [0, 1], the weight of the attractive term; ``1 − λ`` weights the repulsive
        term. A Python number, or a traced scalar (e.g. one λ per vmapped run).
      repulsion: ``"logsumexp"``, ``"max_other_squared"``, or a callable
        ``(sim [N, K], labels [N]) -> [N]`` (it sees the leading dimensions flattened).
      where: optional ``[...]`` boolean mask; masked-out examples get loss 0.

    Returns:
      ``[...]`` per-example losses (NaN for an out-of-range label).

    >>> import jax.numpy as jnp
    >>> sim = jnp.array([[2.0, 0.0]])
    >>> attractive_repulsive(sim, jnp.array([0]), lam=1.0)  # pure attraction: -s_y
    Array([-2.], dtype=float32)
    """
    lead = _checks.check_points(sim, "sim", axis="K")
    _checks.check_labels_shape(labels, lead, of="sim")
    _checks.check_where(where, lead, of="sim")
    _checks.check_lam(lam)
    _checks.check_scalar(lam, "lam")
    rep_fn = _resolve_repulsion(repulsion)
    s = _flat(jnp.asarray(sim, _checks.compute_dtype(sim)), lead)  # [N, K]
    y = _flat(labels, lead)  # [N]
    num_classes = s.shape[-1]
    safe_labels = jnp.clip(y, 0, num_classes - 1)
    attraction = jnp.take_along_axis(s, safe_labels[:, None], axis=-1)[:, 0]
    lam_ = jnp.asarray(lam, s.dtype)
    loss = -lam_ * attraction + (1.0 - lam_) * rep_fn(s, safe_labels)
    return _finish(loss, y, num_classes, _flat_where(where, lead)).reshape(lead)


def _resolve_repulsion(repulsion: str | Repulsion) -> Repulsion:
    if callable(repulsion):
        return repulsion
    try:
        return REPULSIONS[repulsion]
    except KeyError:
        raise ValueError(
            f"unknown repulsion {repulsion!r}; use one of {sorted(REPULSIONS)} or a callable"
        ) from None


# --------------------------------------------------------------------------- instances


def cce(
    h: ArrayLike,
    W: ArrayLike,
    labels: ArrayLike,
    b: ArrayLike | None = None,
    *,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Categorical cross-entropy on dot-product similarities (Eq. 2).

    .. math:: L_i = -(h_i·w_{y_i} + b_{y_i}) + \log \sum_j \exp(h_i·w_j + b_j)

    This is twice the AR loss at λ = ½ with dot-product similarity, and equals
    ``optax.softmax_cross_entropy_with_integer_labels(h @ W.T + b, labels)``.

    Args:
      h: ``[..., D]`` representations.
      W: ``[K, D]`` class prototypes (output-layer weights, one row per class).
      labels: ``[...]`` (``h.shape[:-1]``) integer class indices.
      b: optional ``[K]`` output bias.
      where: optional ``[...]`` boolean mask; masked-out examples get loss 0.

    Returns:
      ``[...]`` losses.

    >>> import jax.numpy as jnp
    >>> h, W = jnp.array([[1.0, 0.0]]), jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> cce(h, W, jnp.array([0])).round(4)  # log(1 + e^-1)
    Array([0.3133], dtype=float32)
    """
    lead = _checks.check_pair(h, W)
    _checks.check_labels_shape(labels, lead)
    _checks.check_where(where, lead)
    sim = similarity.dot(_flat(h, lead), W)  # [N, K]
    if b is not None:
        k = jnp.shape(W)[0]
        if jnp.shape(b) != (k,):
            raise ValueError(f"b must have shape (K,) = ({k},); got {jnp.shape(b)}")
        sim = sim + jnp.asarray(b, sim.dtype)
    loss = 2.0 * attractive_repulsive(sim, _flat(labels, lead), lam=0.5, repulsion="logsumexp",
                                      where=_flat_where(where, lead))
    return loss.reshape(lead)


def cosine_corel(
    h: ArrayLike,
    W: ArrayLike,
    labels: ArrayLike,
    *,
    lam: ArrayLike = 0.5,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Cosine-COREL (Eq. 5).

    .. math:: L_i = -\lambda \cos(h_i, w_{y_i}) + (1 - \lambda) (\max_{j \ne y_i} \cos(h_i, w_j))^2

    Attraction pulls ``h`` towards the direction of its class prototype; repulsion pushes the
    *nearest other* prototype towards orthogonality. The loss is invariant to the scale of
    ``h`` and of each ``w_j``.

    Args:
      h: ``[..., D]`` representations.
      W: ``[K, D]`` class prototypes, ``K ≥ 2``.
      labels: ``[...]`` (``h.shape[:-1]``) integer class indices.
      lam: λ in [0, 1], the weight of attraction (may be traced).
      where: optional ``[...]`` boolean mask; masked-out examples get loss 0.

    Returns:
      ``[...]`` losses, each in ``[−λ, 1]``.

    >>> import jax.numpy as jnp
    >>> h, W = jnp.array([[1.0, 1.0]]), jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> cosine_corel(h, W, jnp.array([0]), lam=0.5).round(4)  # -0.5 cos45 + 0.5 cos45^2
    Array([-0.1036], dtype=float32)
    """
    lead = _checks.check_pair(h, W)
    _checks.check_labels_shape(labels, lead)
    _checks.check_where(where, lead)
    sim = similarity.cosine(_flat(h, lead), W)  # [N, K]
    loss = attractive_repulsive(
        sim, _flat(labels, lead), lam=lam, repulsion=max_other_squared_repulsion,
        where=_flat_where(where, lead),
    )
    return loss.reshape(lead)


def gaussian_corel(
    h: ArrayLike,
    W: ArrayLike,
    labels: ArrayLike,
    *,
    lam: ArrayLike = 0.5,
    gamma: ArrayLike = 0.5,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Gaussian-COREL (Eq. 6).

    .. math:: L_i = \lambda \gamma \|h_i - w_{y_i}\|^2
                    + (1 - \lambda) \log \sum_j \exp(-\gamma \|h_i - w_j\|^2)

    Attraction pulls ``h`` towards its class prototype in Euclidean distance; repulsion is a
    soft minimum of the distances to all prototypes. At λ = 1 the loss is γ times the K-Means
    objective with prototypes as centroids (Eq. 7). λ enters once (the original PyTorch code
    weighted both terms twice whenever λ ≠ ½; this implementation does not).

    Args:
      h: ``[..., D]`` representations.
      W: ``[K, D]`` class prototypes.
      labels: ``[...]`` (``h.shape[:-1]``) integer class indices.
      lam: λ in [0, 1], the weight of attraction (may be traced).
      gamma: γ > 0, the Gaussian inverse bandwidth; may be a traced, learnable scalar.
      where: optional ``[...]`` boolean mask; masked-out examples get loss 0.

    Returns:
      ``[...]`` losses.

    Computed as the equal quantity

    .. math:: L_i = (2\lambda - 1) \gamma d_{i y_i}
                    + (1 - \lambda) \log \sum_j \exp(-\gamma (d_{ij} - d_{i y_i})),
              \quad d_{ij} = \|h_i - w_j\|^2,

    with ``d_iy`` summed directly from ``h_i − w_y`` and the differences
    ``d_ij − d_iy = ‖w_j‖² − ‖w_y‖² − 2 h_i·(w_j − w_y)`` formed without ``‖h_i‖²``. So far
    from the prototypes (large ``‖h‖``) no large ``‖h‖²`` is added and then cancelled: the
    loss keeps float32's relative precision, and at λ = ½ ``‖h‖²`` does not enter at all.

    For λ < ½ the loss is unbounded below: the second term depends only on the differences
    ``d_ij − d_iy``, so moving ``h_i`` away from every prototype (``d_iy → ∞`` with the
    differences held) sends ``(2λ − 1) γ d_iy`` to −∞, and a network trained on it can follow
    that direction (what it does on MNIST: "Gaussian-COREL at λ < 0.5" in
    ``experiments/results/mnist-mlp/paper/discussion.md``). For λ ≥ ½ the loss is bounded
    below by 0 (λ = ½: CCE on ``−γ d``). The original code's ``log(Σ exp(·) + 1e-10)``, which
    bounds the repulsion from below, is not this function: ``experiments/gaussian_original.py``
    registers it as the loss ``gaussian_original``.

    >>> import jax.numpy as jnp
    >>> h, W = jnp.array([[0.0, 0.0]]), jnp.array([[0.0, 0.0], [1.0, 1.0]])
    >>> gaussian_corel(h, W, jnp.array([0]), lam=0.5, gamma=0.5).round(4)  # 0.5 log(1 + e^-1)
    Array([0.1566], dtype=float32)
    """
    lead = _checks.check_pair(h, W)
    _checks.check_labels_shape(labels, lead)
    _checks.check_where(where, lead)
    _checks.check_lam(lam)
    _checks.check_gamma(gamma)
    _checks.check_scalar(lam, "lam")
    _checks.check_scalar(gamma, "gamma")
    dtype = _checks.compute_dtype(h, W)
    x, w = _flat(jnp.asarray(h, dtype), lead), jnp.asarray(W, dtype)  # [N, D], [K, D]
    lam_, gamma_ = jnp.asarray(lam, dtype), jnp.asarray(gamma, dtype)
    y = _flat(labels, lead)  # [N]
    num_classes = w.shape[0]
    safe_labels = jnp.clip(y, 0, num_classes - 1)
    d_y = jnp.sum(jnp.square(x - w[safe_labels]), axis=-1)  # ‖h − w_y‖²: [N]
    c = jnp.sum(w * w, axis=-1) - 2.0 * (x @ w.T)  # c_j = ‖h − w_j‖² − ‖h‖²: [N, K]
    c_y = jnp.take_along_axis(c, safe_labels[:, None], axis=-1)
    repulsion = jax.nn.logsumexp(-gamma_ * (c - c_y), axis=-1)  # log Σ_j exp(−γ(d_j − d_y))
    loss = (2.0 * lam_ - 1.0) * gamma_ * d_y + (1.0 - lam_) * repulsion
    return _finish(loss, y, num_classes, _flat_where(where, lead)).reshape(lead)


def center_loss(
    h: ArrayLike,
    centers: ArrayLike,
    labels: ArrayLike,
    *,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Center loss (Wen et al., 2016): ``½‖h_i − c_{y_i}‖²``.

    Used beside CCE as ``cce + λ · center_loss`` (the paper's center-loss baseline). The centers
    are state, not parameters: update them with :func:`update_centers`. Each example's loss
    depends on that example alone (no batch statistics).

    Args:
      h: ``[..., D]`` representations.
      centers: ``[K, D]`` class centers.
      labels: ``[...]`` (``h.shape[:-1]``) integer class indices.
      where: optional ``[...]`` boolean mask; masked-out examples get loss 0.

    Returns:
      ``[...]`` losses.

    >>> import jax.numpy as jnp
    >>> center_loss(jnp.array([[1.0, 2.0]]), jnp.zeros((3, 2)), jnp.array([1]))
    Array([2.5], dtype=float32)
    """
    lead = _checks.check_pair(h, centers, "h", "centers")
    _checks.check_labels_shape(labels, lead)
    _checks.check_where(where, lead)
    dtype = _checks.compute_dtype(h, centers)
    x, c = _flat(jnp.asarray(h, dtype), lead), jnp.asarray(centers, dtype)
    y = _flat(labels, lead)
    num_classes = c.shape[0]
    c_y = c[jnp.clip(y, 0, num_classes - 1)]
    loss = 0.5 * jnp.sum(jnp.square(x - c_y), axis=-1)
    return _finish(loss, y, num_classes, _flat_where(where, lead)).reshape(lead)


def update_centers(
    centers: ArrayLike,
    h: ArrayLike,
    labels: ArrayLike,
    *,
    alpha: ArrayLike = 0.5,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""One center-loss update step (Wen et al., 2016, Eq. 4); a pure function.

    .. math:: c_j \leftarrow c_j - \alpha \frac{\sum_{i: y_i = j} (c_j - h_i)}{1 + n_j}

    where ``n_j`` is the number of examples of class ``j`` in the batch; classes absent from
    the batch keep their center. Examples with an out-of-range label, or masked out by
    ``where``, are ignored.

    This reduces over the batch: *every* leading dimension of ``h`` counts as batch, so
    ``h: [B, T, D]`` is one batch of ``B·T`` examples (the sums and ``n_j`` run over all of
    them), the same as ``h.reshape(-1, D)``. For one update per group (e.g. per run), ``vmap``
    over that axis instead.

    Args:
      centers: ``[K, D]`` current centers.
      h: ``[..., D]`` representations of the batch.
      labels: ``[...]`` (``h.shape[:-1]``) integer class indices.
      alpha: center learning rate α in [0, 1] (may be traced).
      where: optional ``[...]`` boolean mask of examples to use.

    Returns:
      ``[K, D]`` the new centers, in the dtype of ``centers``.

    >>> import jax.numpy as jnp
    >>> update_centers(jnp.zeros((2, 1)), jnp.array([[2.0], [4.0]]), jnp.array([0, 0]))
    Array([[1.],
           [0.]], dtype=float32)
    """
    lead = _checks.check_pair(h, centers, "h", "centers")
    _checks.check_labels_shape(labels, lead)
    _checks.check_where(where, lead)
    if _checks.is_concrete_number(alpha) and not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha (the center learning rate) must lie in [0, 1]; got {alpha}")
    dtype = _checks.compute_dtype(h, centers)
    hc, c = _flat(jnp.asarray(h, dtype), lead), jnp.asarray(centers, dtype)
    # one_hot gives an all-zero row for an out-of-range label, so such examples drop out.
    onehot = jax.nn.one_hot(_flat(labels, lead), c.shape[0], dtype=dtype)  # [N, K]
    if where is not None:
        onehot = onehot * _flat(jnp.asarray(where, dtype), lead)[:, None]
    counts = jnp.sum(onehot, axis=0)  # n_j: [K]
    diff = counts[:, None] * c - onehot.T @ hc  # Σ_{i: y_i = j} (c_j − h_i): [K, D]
    new = c - jnp.asarray(alpha, dtype) * diff / (1.0 + counts)[:, None]
    return new.astype(jnp.result_type(centers))


# --------------------------------------------------------------------------- prediction, checks


def predict(sim: ArrayLike) -> jax.Array:
    """Predicted class = argmax over classes of ``[..., K]`` similarities → ``[...]``.

    >>> import jax.numpy as jnp
    >>> predict(jnp.array([[0.1, 0.9], [0.7, 0.2]]))
    Array([1, 0], dtype=int32)
    """
    _checks.check_points(sim, "sim", axis="K")
    return jnp.argmax(sim, axis=-1)


def check_labels(labels: ArrayLike, num_classes: int) -> None:
    """Eagerly checks that ``labels`` (any shape) are integer class indices in
    ``[0, num_classes)``.

    Under ``jit`` an out-of-range label cannot raise (its loss becomes NaN); call this on your
    data once, before training.

    Raises:
      TypeError: labels are not integers.
      ValueError: some labels lie outside ``[0, num_classes)``, or ``num_classes < 1``.

    >>> check_labels([0, 1, 2], 3)
    >>> check_labels([0, 3], 3)
    Traceback (most recent call last):
    ...
    ValueError: 1 of 2 labels lie outside [0, 3) (min 0, max 3, e.g. 3 at index 1); ...
    """
    arr = np.asarray(labels)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"labels must be integers; got dtype {arr.dtype}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1; got {num_classes}")
    bad = (arr < 0) | (arr >= num_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        at = {0: "", 1: f" at index {i}"}.get(
            arr.ndim, f" at index {tuple(int(j) for j in np.unravel_index(i, arr.shape))}")
        raise ValueError(
            f"{int(bad.sum())} of {arr.size} labels lie outside [0, {num_classes}) "
            f"(min {arr.min()}, max {arr.max()}, e.g. {arr.flat[i]}{at}); "
            f"relabel them to 0..{num_classes - 1} or raise num_classes"
        )
