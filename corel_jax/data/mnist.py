"""MNIST and Fashion-MNIST: from the four standard IDX ``.gz`` files, or through TFDS.

Splits as in the paper: the 60,000 training images are split at random (fixed ``split_seed``)
into 55,000 train and 5,000 validation; the 10,000 test images are the test set. Pixels are
float32 in [0, 1], shape ``[N, 28, 28, 1]``.

The split picks positions in the training pool as its source orders it
(:func:`~corel_jax.data.splits.random_split` of ``split_seed`` and ``val_size``): the IDX
files' order, or TFDS's own order of its ``train`` split, a different order of the same
60,000 images. So one source, seed and ``val_size`` always give the same split, but the files
and TFDS give *different* validation sets for the same seed (of the same sizes), and results
from one source are not paired example-for-example with the other's.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from corel_jax.data.checksums import IDX_FILES, FileSpec
from corel_jax.data.dataset import Dataset
from corel_jax.data.idx import read_idx
from corel_jax.data.paths import resolve_dir
from corel_jax.data.splits import random_split
from corel_jax.data.tfds_source import load_tfds_split
from corel_jax.errors import DataError, MissingDataError

DEFAULT_VAL_SIZE = 5000


@dataclasses.dataclass(frozen=True)
class IdxDatasetSpec:
    """Where an IDX image dataset comes from and what it holds."""

    name: str
    url: str
    class_names: tuple[str, ...]
    files: tuple[FileSpec, FileSpec, FileSpec, FileSpec]  # train x, train y, test x, test y
    tfds_name: str
    extra_hint: str = ""


SPECS = {
    "mnist": IdxDatasetSpec(
        "mnist",
        "http://yann.lecun.com/exdb/mnist/ (mirror: https://ossci-datasets.s3.amazonaws.com/mnist/)",
        tuple(str(d) for d in range(10)),
        IDX_FILES["mnist"],
        "mnist",
    ),
    "fashion_mnist": IdxDatasetSpec(
        "fashion_mnist",
        "https://github.com/zalandoresearch/fashion-mnist (data/fashion/)",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        IDX_FILES["fashion_mnist"],
        "fashion_mnist",
        extra_hint="; on Debian, `apt-get install dataset-fashion-mnist` puts them in "
        "/usr/share/datasets/fashion-mnist/",
    ),
}


def find_idx_file(directory: Path, spec: FileSpec) -> Path:
    """The ``.gz`` file, or its uncompressed twin (``spec.filename`` less ``.gz``) if only that."""
    gz = directory / spec.filename
    raw = directory / spec.filename.removesuffix(".gz")
    return raw if not gz.exists() and raw.exists() else gz


def load_idx_dataset(
    name: str,
    data_dir: str | os.PathLike,
    *,
    val_size: int | None = None,
    split_seed: int = 0,
    verify: bool = True,
) -> Dataset:
    """Load ``mnist`` or ``fashion_mnist`` from a directory of IDX files.

    Args:
      name: ``"mnist"`` or ``"fashion_mnist"``.
      data_dir: the directory holding the four files (or a root with a ``name/`` folder).
      val_size: validation images taken from the 60k training set (default 5,000).
      split_seed: seed of the train/validation split.
      verify: check md5 sums (published ``.gz`` md5, or the payload md5 for repackaged files).

    Raises:
      MissingDataError: a file is missing (the message lists each missing file and where to
        get it).
      DataError: a file is corrupt (bad gzip, bad magic, wrong length, md5 mismatch).
    """
    spec = SPECS[name]
    directory = resolve_dir(data_dir, name, spec.files[0].filename)
    where = f"download the four files from {spec.url}{spec.extra_hint}, or use source='tfds'"
    paths = [find_idx_file(directory, f) for f in spec.files]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise MissingDataError(
            f"{name}: {', '.join(missing)} not found in {directory}; {where} "
            f"(--source tfds)"
        )
    hint = f" ({name}: {where})"
    arrays = [
        read_idx(p, md5=f.md5 if verify else None, raw_md5=f.raw_md5 if verify else None,
                 hint=hint)
        for p, f in zip(paths, spec.files)
    ]
    x_pool, y_pool, x_test, y_test = arrays
    for (x, y), (px, py) in (((x_pool, y_pool), paths[:2]), ((x_test, y_test), paths[2:])):
        _check_images(x, y, px, py)
    return _make_dataset(
        spec, x_pool, y_pool, x_test, y_test, val_size, split_seed,
        info={"source": "files", "data_dir": str(directory)},
    )


def load_idx_dataset_tfds(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    val_size: int | None = None,
    split_seed: int = 0,
    download: bool = True,
) -> Dataset:
    """Load ``mnist`` or ``fashion_mnist`` through TFDS.

    The same split sizes as :func:`load_idx_dataset`, but not the same validation examples:
    the split indexes TFDS's example order (see the module docstring). ``data_dir`` is TFDS's
    data directory (None: its default).
    """
    spec = SPECS[name]
    train = load_tfds_split(spec.tfds_name, "train", ("image", "label"), data_dir=data_dir,
                            download=download)
    test = load_tfds_split(spec.tfds_name, "test", ("image", "label"), data_dir=data_dir,
                           download=download)
    return _make_dataset(
        spec, train["image"], train["label"], test["image"], test["label"], val_size, split_seed,
        info={"source": "tfds", "data_dir": None if data_dir is None else str(data_dir)},
    )


def _check_images(x: np.ndarray, y: np.ndarray, px: Path, py: Path) -> None:
    if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
        raise DataError(f"{px}: expected uint8 images [N, 28, 28]; got {x.dtype} {list(x.shape)}")
    if y.ndim != 1 or y.dtype != np.uint8:
        raise DataError(f"{py}: expected uint8 labels [N]; got {y.dtype} {list(y.shape)}")
    if len(x) != len(y):
        raise DataError(f"{px} has {len(x)} images but {py} has {len(y)} labels")
    if y.size and y.max() > 9:
        raise DataError(f"{py}: labels must be 0-9; found {y.max()}")


def _make_dataset(
    spec: IdxDatasetSpec,
    x_pool: np.ndarray,
    y_pool: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    val_size: int | None,
    split_seed: int,
    info: dict,
) -> Dataset:
    val_size = DEFAULT_VAL_SIZE if val_size is None else val_size
    train_idx, val_idx = random_split(len(y_pool), val_size, split_seed)
    return Dataset(
        name=spec.name,
        x_train=_pixels(x_pool[train_idx]),
        y_train=y_pool[train_idx].astype(np.int32),
        x_val=_pixels(x_pool[val_idx]),
        y_val=y_pool[val_idx].astype(np.int32),
        x_test=_pixels(x_test),
        y_test=np.asarray(y_test).astype(np.int32),
        num_classes=len(spec.class_names),
        class_names=spec.class_names,
        kind="image",
        info={**info, "split_seed": split_seed, "val_size": val_size},
    )


def _pixels(x: np.ndarray) -> np.ndarray:
    """uint8 ``[N, 28, 28]`` or ``[N, 28, 28, 1]`` -> float32 ``[N, 28, 28, 1]`` in [0, 1]."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    return x.astype(np.float32) / np.float32(255.0)
