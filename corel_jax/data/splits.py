"""Fixed-seed index splits: random (MNIST's 55k/5k, AG News) and stratified (digits).

Both return sorted index arrays, so a split keeps the source's order and depends only on the
seed and the sizes.

>>> train, val = random_split(10, 3, seed=0)
>>> len(train), len(val), sorted(set(train) | set(val)) == list(range(10))
(7, 3, True)
"""

from __future__ import annotations

import numpy as np

from corel_jax.errors import ConfigError


def random_split(n: int, val_size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` into ``n - val_size`` train and ``val_size`` validation indices.

    Returns:
      ``(train_idx [n - val_size], val_idx [val_size])``, int64, each sorted.
    """
    if not 0 <= val_size < n:
        raise ConfigError(
            f"val_size must be in [0, {n}) for a training pool of {n} examples; got {val_size}"
        )
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[val_size:]), np.sort(perm[:val_size])


def stratified_split(
    labels: np.ndarray, sizes: tuple[int, ...], seed: int = 0
) -> tuple[np.ndarray, ...]:
    """Split indices of ``labels`` into parts of the given sizes, each with the class proportions.

    Samples are ordered by class (shuffled within each class) and dealt to the parts by an even
    interleave, so part sizes are exact and each class is spread over the parts in proportion
    (to within one sample per part).

    Args:
      labels: int ``[N]``.
      sizes: part sizes summing to ``N``.
      seed: the shuffle seed.

    Returns:
      One sorted int64 index array per part.

    >>> y = np.repeat([0, 1], [6, 4])
    >>> [np.bincount(y[p], minlength=2).tolist() for p in stratified_split(y, (5, 5))]
    [[3, 2], [3, 2]]
    """
    labels = np.asarray(labels)
    n = len(labels)
    if sum(sizes) != n or min(sizes) < 0:
        raise ConfigError(f"split sizes {sizes} must be >= 0 and sum to {n}")
    rng = np.random.default_rng(seed)
    by_class = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    order = np.concatenate(by_class)
    # Part p's j-th slot sits at (j + 0.5) / size_p in [0, 1); sorting all slots interleaves parts.
    slots = np.concatenate([(np.arange(s) + 0.5) / s for s in sizes if s > 0])
    owner = np.repeat(np.arange(len(sizes)), sizes)[np.argsort(slots, kind="stable")]
    return tuple(np.sort(order[owner == p]).astype(np.int64) for p in range(len(sizes)))
