"""scikit-learn's bundled 8x8 digits (1,797 images, 10 classes): the offline demo dataset.

Images are ``[N, 8, 8, 1]`` float32 scaled from 0..16 to [0, 1]. The split is a fixed-seed
stratified 60/20/20 train/validation/test split (1,079 / 359 / 359 by default).
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from corel_jax.data.dataset import Dataset
from corel_jax.data.splits import stratified_split
from corel_jax.errors import ConfigError

TEST_FRACTION = 0.2
VAL_FRACTION = 0.2


def load_digits_dataset(
    *, val_size: int | None = None, test_size: int | None = None, split_seed: int = 0
) -> Dataset:
    """The digits dataset with a stratified split.

    Args:
      val_size: validation images (default 20%, 359).
      test_size: test images (default 20%, 359).
      split_seed: seed of the split.

    >>> d = load_digits_dataset()
    >>> d.sizes, d.x_train.shape[1:], float(d.x_train.max())
    ({'train': 1079, 'val': 359, 'test': 359}, (8, 8, 1), 1.0)
    """
    images, target = _digits_arrays()
    x = (images.astype(np.float32) / np.float32(16.0))[..., None]
    y = target.astype(np.int32)
    n = len(y)
    test_size = round(TEST_FRACTION * n) if test_size is None else test_size
    val_size = round(VAL_FRACTION * n) if val_size is None else val_size
    if min(val_size, test_size) < 0 or val_size + test_size >= n:
        raise ConfigError(
            f"digits has {n} images: val_size ({val_size}) + test_size ({test_size}) must leave "
            "some for training"
        )
    train, val, test = stratified_split(y, (n - val_size - test_size, val_size, test_size),
                                        split_seed)
    return Dataset(
        name="digits",
        x_train=x[train], y_train=y[train],
        x_val=x[val], y_val=y[val],
        x_test=x[test], y_test=y[test],
        num_classes=10,
        class_names=tuple(str(d) for d in range(10)),
        kind="image",
        info={"source": "sklearn", "split_seed": split_seed},
    )


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """``(images [1797, 8, 8] float64, target [1797] int)``, as ``sklearn.datasets.load_digits``
    gives them. Read from scikit-learn's bundled ``digits.csv.gz`` the way that function reads
    it, but without importing scikit-learn: the import costs about 1.5 s, a third of a small
    ``corel-jax train`` process, and training needs nothing else from it. If the file is not
    where scikit-learn keeps it, scikit-learn's own loader is used."""
    spec = importlib.util.find_spec("sklearn")
    roots = spec.submodule_search_locations if spec is not None else None
    csv = Path(next(iter(roots)), "datasets", "data", "digits.csv.gz") if roots else None
    if csv is None or not csv.is_file():
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images, bunch.target
    with gzip.open(csv, mode="rt", encoding="utf-8") as f:
        data = np.loadtxt(f, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int, copy=False)
