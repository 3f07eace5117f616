r"""Attractive-repulsive (AR) losses for clustering-oriented representation learning.

Every loss returns one value per example, shape ``[N]``, like ``optax.losses``; the caller
reduces (usually with ``.mean()``). Shapes follow the paper: ``h: [N, D]`` representations,
``W: [K, D]`` one prototype per class, integer ``labels: [N]`` in ``[0, K)``.

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
for a wrong shape (``h`` or ``W`` not 2-D, feature sizes ``D`` that differ, ``labels``,
``where`` or ``b`` of the wrong length, a non-scalar ``lam`` or ``gamma``, ``K < 2`` for
Cosine-COREL), an unknown repulsion, or a hyperparameter given as a Python number outside its
range (λ and α in [0, 1], γ > 0); ``TypeError`` for non-floating ``h``/``W`` or non-integer
``labels``. Traced hyperparameters are not range-checked.

Out-of-range label *values* cannot raise under ``jit``: such an example's loss is NaN (never a
silently wrong number). Call :func:`check_labels` eagerly on your data to get an error instead.

Reference: Kenyon-Dean et al., *Clustering-Oriented Representation Learning with
Attractive-Repulsive Loss*, arXiv:1812.07627 (2018).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from corel_jax import _checks, similarity

Repulsion = Callable[[jax.Array, jax.Array], jax.Array]


# --------------------------------------------------------------------------- repulsions


def logsumexp_repulsion(sim, labels):
    """``L_rep = log Σ_j exp(sim_j)`` over all classes (CCE and Gaussian-COREL).

    Args:
      sim: ``[N, K]`` similarities.
      labels: ``[N]`` class indices (unused: the sum runs over every class).

    Returns:
      ``[N]`` repulsion terms, computed with a stable log-sum-exp.
    """
    del labels
    return jax.nn.logsumexp(sim, axis=-1)


def max_other_squared_repulsion(sim, labels):
    """``L_rep = (max_{j≠y} sim_j)²`` (Cosine-COREL, Eq. 5).

    The true class is excluded from the max. (The original PyTorch code zeroes the true
    class's entry instead, which clamps the max at 0 whenever every other cosine is negative;
    this implementation does not.)

    Args:
      sim: ``[N, K]`` similarities, ``K ≥ 2``.
      labels: ``[N]`` class indices.

    Returns:
      ``[N]`` repulsion terms.
    """
    k = sim.shape[-1]
    if k < 2:
        raise ValueError(f"max-over-other-classes repulsion needs K >= 2 classes; got K = {k}")
    is_true = jnp.arange(k) == labels[:, None]
    others = jnp.where(is_true, -jnp.inf, sim)
    return jnp.square(jnp.max(others, axis=-1))


REPULSIONS: dict[str, Repulsion] = {
    "logsumexp": logsumexp_repulsion,
    "max_other_squared": max_other_squared_repulsion,
}


# --------------------------------------------------------------------------- generic AR loss


def _valid_labels(labels, num_classes: int):
    return (labels >= 0) & (labels < num_classes)


def _finish(loss, labels, num_classes, where):
    # NaN (not a clamped gather) for an out-of-range label, so bad data is never silent;
    # then zero the examples masked out by `where` (padding may carry any label).
    loss = jnp.where(_valid_labels(labels, num_classes), loss, jnp.nan)
    if where is not None:
        loss = jnp.where(where, loss, 0.0)
    return loss


def attractive_repulsive(sim, labels, *, lam, repulsion="logsumexp", where=None):
    r"""The generic attractive-repulsive loss (Eq. 1) on a similarity matrix.

    .. math:: L_i = -\lambda \, s_{i, y_i} + (1 - \lambda) \, L_{rep}(s_i, y_i)

    Args:
      sim: ``[N, K]`` similarities ``s_ij = sim(h_i, w_j)`` (see :mod:`corel_jax.similarity`).
      labels: ``[N]`` integer class indices in ``[0, K)``.
      lam: λ in [0, 1], the weight of the attractive term; ``1 − λ`` weights the repulsive
        term. A Python number, or a traced scalar (e.g. one λ per vmapped run).
      repulsion: ``"logsumexp"``, ``"max_other_squared"``, or a callable
        ``(sim [N, K], labels [N]) -> [N]``.
      where: optional ``[N]`` boolean mask; masked-out examples get loss 0.

    Returns:
      ``[N]`` per-example losses (NaN for an out-of-range label).

    >>> import jax.numpy as jnp
    >>> sim = jnp.array([[2.0, 0.0]])
    >>> attractive_repulsive(sim, jnp.array([0]), lam=1.0)  # pure attraction: -s_y
    Array([-2.], dtype=float32)
    """
    _checks.check_matrix(sim, "sim")
    _checks.check_labels_shape(labels, sim.shape[0])
    _checks.check_where(where, sim.shape[0])
    _checks.check_lam(lam)
    if jnp.ndim(lam) != 0:
        raise ValueError(f"lam must be a scalar (vmap over runs for one λ per run); got shape "
                         f"{jnp.shape(lam)}")
    rep_fn = _resolve_repulsion(repulsion)
    sim = jnp.asarray(sim, _checks.compute_dtype(sim))
    num_classes = sim.shape[-1]
    safe_labels = jnp.clip(labels, 0, num_classes - 1)
    attraction = jnp.take_along_axis(sim, safe_labels[:, None], axis=-1)[:, 0]
    lam = jnp.asarray(lam, sim.dtype)
    loss = -lam * attraction + (1.0 - lam) * rep_fn(sim, safe_labels)
    return _finish(loss, labels, num_classes, where)


def _resolve_repulsion(repulsion) -> Repulsion:
    if callable(repulsion):
        return repulsion
    try:
        return REPULSIONS[repulsion]
    except KeyError:
        raise ValueError(
            f"unknown repulsion {repulsion!r}; use one of {sorted(REPULSIONS)} or a callable"
        ) from None


# --------------------------------------------------------------------------- instances


def cce(h, W, labels, b=None, *, where=None):
    r"""Categorical cross-entropy on dot-product similarities (Eq. 2).

    .. math:: L_i = -(h_i·w_{y_i} + b_{y_i}) + \log \sum_j \exp(h_i·w_j + b_j)

    This is twice the AR loss at λ = ½ with dot-product similarity, and equals
    ``optax.softmax_cross_entropy_with_integer_labels(h @ W.T + b, labels)``.

    Args:
      h: ``[N, D]`` representations.
      W: ``[K, D]`` class prototypes (output-layer weights, one row per class).
      labels: ``[N]`` integer class indices.
      b: optional ``[K]`` output bias.
      where: optional ``[N]`` boolean mask; masked-out examples get loss 0.

    Returns:
      ``[N]`` losses.

    >>> import jax.numpy as jnp
    >>> h, W = jnp.array([[1.0, 0.0]]), jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> cce(h, W, jnp.array([0])).round(4)  # log(1 + e^-1)
    Array([0.3133], dtype=float32)
    """
    sim = similarity.dot(h, W)
    if b is not None:
        if jnp.shape(b) != (W.shape[0],):
            raise ValueError(f"b must have shape (K,) = ({W.shape[0]},); got {jnp.shape(b)}")
        sim = sim + jnp.asarray(b, sim.dtype)
    return 2.0 * attractive_repulsive(sim, labels, lam=0.5, repulsion="logsumexp", where=where)


def cosine_corel(h, W, labels, *, lam=0.5, where=None):
    r"""Cosine-COREL (Eq. 5).

    .. math:: L_i = -\lambda \cos(h_i, w_{y_i}) + (1 - \lambda) (\max_{j \ne y_i} \cos(h_i, w_j))^2

    Attraction pulls ``h`` towards the direction of its class prototype; repulsion pushes the
    *nearest other* prototype towards orthogonality. The loss is invariant to the scale of
    ``h`` and of each ``w_j``.

    Args:
      h: ``[N, D]`` representations.
      W: ``[K, D]`` class prototypes, ``K ≥ 2``.
      labels: ``[N]`` integer class indices.
      lam: λ in [0, 1], the weight of attraction (may be traced).
      where: optional ``[N]`` boolean mask; masked-out examples get loss 0.

    Returns:
      ``[N]`` losses, each in ``[−λ, 1]``.

    >>> import jax.numpy as jnp
    >>> h, W = jnp.array([[1.0, 1.0]]), jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> cosine_corel(h, W, jnp.array([0]), lam=0.5).round(4)  # -0.5 cos45 + 0.5 cos45^2
    Array([-0.1036], dtype=float32)
    """
    sim = similarity.cosine(h, W)
    return attractive_repulsive(
        sim, labels, lam=lam, repulsion=max_other_squared_repulsion, where=where
    )


def gaussian_corel(h, W, labels, *, lam=0.5, gamma=0.5, where=None):
    r"""Gaussian-COREL (Eq. 6).

    .. math:: L_i = \lambda \gamma \|h_i - w_{y_i}\|^2
                    + (1 - \lambda) \log \sum_j \exp(-\gamma \|h_i - w_j\|^2)

    Attraction pulls ``h`` towards its class prototype in Euclidean distance; repulsion is a
    soft minimum of the distances to all prototypes. At λ = 1 the loss is γ times the K-Means
    objective with prototypes as centroids (Eq. 7). λ enters once (the original PyTorch code
    weighted both terms twice whenever λ ≠ ½; this implementation does not).

    Args:
      h: ``[N, D]`` representations.
      W: ``[K, D]`` class prototypes.
      labels: ``[N]`` integer class indices.
      lam: λ in [0, 1], the weight of attraction (may be traced).
      gamma: γ > 0, the Gaussian inverse bandwidth; may be a traced, learnable scalar.
      where: optional ``[N]`` boolean mask; masked-out examples get loss 0.

    Returns:
      ``[N]`` losses.

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
    _checks.check_pair(h, W)
    _checks.check_labels_shape(labels, h.shape[0])
    _checks.check_where(where, h.shape[0])
    _checks.check_lam(lam)
    _checks.check_gamma(gamma)
    for name, x in (("lam", lam), ("gamma", gamma)):
        if jnp.ndim(x) != 0:
            raise ValueError(f"{name} must be a scalar (vmap over runs for one value per run); "
                             f"got shape {jnp.shape(x)}")
    dtype = _checks.compute_dtype(h, W)
    h, W = jnp.asarray(h, dtype), jnp.asarray(W, dtype)
    lam, gamma = jnp.asarray(lam, dtype), jnp.asarray(gamma, dtype)
    num_classes = W.shape[0]
    safe_labels = jnp.clip(labels, 0, num_classes - 1)
    d_y = jnp.sum(jnp.square(h - W[safe_labels]), axis=-1)  # ‖h − w_y‖²: [N]
    c = jnp.sum(W * W, axis=-1) - 2.0 * (h @ W.T)  # c_j = ‖h − w_j‖² − ‖h‖²: [N, K]
    c_y = jnp.take_along_axis(c, safe_labels[:, None], axis=-1)
    repulsion = jax.nn.logsumexp(-gamma * (c - c_y), axis=-1)  # log Σ_j exp(−γ(d_j − d_y))
    loss = (2.0 * lam - 1.0) * gamma * d_y + (1.0 - lam) * repulsion
    return _finish(loss, labels, num_classes, where)


def center_loss(h, centers, labels, *, where=None):
    r"""Center loss (Wen et al., 2016): ``½‖h_i − c_{y_i}‖²``.

    Used beside CCE as ``cce + λ · center_loss`` (the paper's center-loss baseline). The centers
    are state, not parameters: update them with :func:`update_centers`.

    Args:
      h: ``[N, D]`` representations.
      centers: ``[K, D]`` class centers.
      labels: ``[N]`` integer class indices.
      where: optional ``[N]`` boolean mask; masked-out examples get loss 0.

    Returns:
      ``[N]`` losses.

    >>> import jax.numpy as jnp
    >>> center_loss(jnp.array([[1.0, 2.0]]), jnp.zeros((3, 2)), jnp.array([1]))
    Array([2.5], dtype=float32)
    """
    _checks.check_pair(h, centers, "h", "centers")
    _checks.check_labels_shape(labels, h.shape[0])
    _checks.check_where(where, h.shape[0])
    dtype = _checks.compute_dtype(h, centers)
    h, centers = jnp.asarray(h, dtype), jnp.asarray(centers, dtype)
    num_classes = centers.shape[0]
    c_y = centers[jnp.clip(labels, 0, num_classes - 1)]
    loss = 0.5 * jnp.sum(jnp.square(h - c_y), axis=-1)
    return _finish(loss, labels, num_classes, where)


def update_centers(centers, h, labels, *, alpha=0.5, where=None):
    r"""One center-loss update step (Wen et al., 2016, Eq. 4); a pure function.

    .. math:: c_j \leftarrow c_j - \alpha \frac{\sum_{i: y_i = j} (c_j - h_i)}{1 + n_j}

    where ``n_j`` is the number of examples of class ``j`` in the batch; classes absent from
    the batch keep their center. Examples with an out-of-range label, or masked out by
    ``where``, are ignored.

    Args:
      centers: ``[K, D]`` current centers.
      h: ``[N, D]`` representations of the batch.
      labels: ``[N]`` integer class indices.
      alpha: center learning rate α in [0, 1] (may be traced).
      where: optional ``[N]`` boolean mask of examples to use.

    Returns:
      ``[K, D]`` the new centers, in the dtype of ``centers``.

    >>> import jax.numpy as jnp
    >>> update_centers(jnp.zeros((2, 1)), jnp.array([[2.0], [4.0]]), jnp.array([0, 0]))
    Array([[1.],
           [0.]], dtype=float32)
    """
    _checks.check_pair(h, centers, "h", "centers")
    _checks.check_labels_shape(labels, h.shape[0])
    _checks.check_where(where, h.shape[0])
    if _checks.is_concrete_number(alpha) and not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha (the center learning rate) must lie in [0, 1]; got {alpha}")
    dtype = _checks.compute_dtype(h, centers)
    hc, c = jnp.asarray(h, dtype), jnp.asarray(centers, dtype)
    # one_hot gives an all-zero row for an out-of-range label, so such examples drop out.
    onehot = jax.nn.one_hot(labels, c.shape[0], dtype=dtype)  # [N, K]
    if where is not None:
        onehot = onehot * jnp.asarray(where, dtype)[:, None]
    counts = jnp.sum(onehot, axis=0)  # n_j: [K]
    diff = counts[:, None] * c - onehot.T @ hc  # Σ_{i: y_i = j} (c_j − h_i): [K, D]
    new = c - jnp.asarray(alpha, dtype) * diff / (1.0 + counts)[:, None]
    return new.astype(jnp.result_type(centers))


# --------------------------------------------------------------------------- prediction, checks


def predict(sim):
    """Predicted class = argmax over classes of a ``[N, K]`` similarity matrix → ``[N]``.

    >>> import jax.numpy as jnp
    >>> predict(jnp.array([[0.1, 0.9], [0.7, 0.2]]))
    Array([1, 0], dtype=int32)
    """
    _checks.check_matrix(sim, "sim")
    return jnp.argmax(sim, axis=-1)


def check_labels(labels, num_classes: int) -> None:
    """Eagerly checks that ``labels`` are integer class indices in ``[0, num_classes)``.

    Under ``jit`` an out-of-range label cannot raise (its loss becomes NaN); call this on your
    data once, before training.

    Raises:
      TypeError: labels are not integers.
      ValueError: labels are not 1-D, or some lie outside ``[0, num_classes)``.

    >>> check_labels([0, 1, 2], 3)
    >>> check_labels([0, 3], 3)
    Traceback (most recent call last):
    ...
    ValueError: 1 of 2 labels lie outside [0, 3) (min 0, max 3, e.g. 3 at index 1); ...
    """
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"labels must be a 1-D array of class indices; got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"labels must be integers; got dtype {arr.dtype}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1; got {num_classes}")
    bad = (arr < 0) | (arr >= num_classes)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{int(bad.sum())} of {arr.size} labels lie outside [0, {num_classes}) "
            f"(min {arr.min()}, max {arr.max()}, e.g. {arr[i]} at index {i}); "
            f"relabel them to 0..{num_classes - 1} or raise num_classes"
        )

