"""Reading a TFDS split into numpy arrays, with or without TensorFlow.

``tensorflow-datasets`` (the optional ``tfds`` extra) is imported lazily. Two read paths:

- TensorFlow installed: ``tfds.load(..., batch_size=-1)`` + ``tfds.as_numpy`` (TFDS's default
  TFRecord files; downloading and preparing a dataset needs TensorFlow).
- No TensorFlow: ``tfds.data_source`` (random access to ArrayRecord files). Reading needs no
  TensorFlow (images decode with PIL), but the dataset must have been prepared in ArrayRecord
  format (``file_format="array_record"``), e.g. on a machine with TensorFlow.

Both work under ``tfds.testing.mock_data``.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence

import numpy as np

from corel_jax.errors import ConfigError, MissingDataError

INSTALL_HINT = "pip install 'corel-jax[tfds]' (tensorflow-datasets)"


def tfds_installed() -> bool:
    """Whether ``tensorflow_datasets`` can be imported (without importing it)."""
    return importlib.util.find_spec("tensorflow_datasets") is not None


def tensorflow_installed() -> bool:
    """Whether ``tensorflow`` can be imported (without importing it)."""
    return importlib.util.find_spec("tensorflow") is not None


def import_tfds():
    """``tensorflow_datasets``, or a ConfigError saying how to install it."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise ConfigError(f"source='tfds' needs tensorflow-datasets ({e}); {INSTALL_HINT}") from e
    return tfds


def load_tfds_split(
    name: str,
    split: str,
    keys: Sequence[str],
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> dict[str, np.ndarray]:
    """Read all examples of one TFDS split.

    Args:
      name: TFDS dataset name (``"mnist"``, ``"fashion_mnist"``, ``"ag_news_subset"``).
      split: TFDS split (``"train"``, ``"test"``).
      keys: the features to keep.
      data_dir: TFDS data directory (None: TFDS's default, ``~/tensorflow_datasets``).
      download: let TFDS download and prepare the dataset when it is not there.

    Returns:
      ``{key: array [N, ...]}``; text features are object arrays of ``str``.

    Raises:
      ConfigError: tensorflow-datasets is not installed.
      MissingDataError: TFDS could not provide the split (not prepared, no network, ...).
    """
    tfds = import_tfds()
    data_dir = None if data_dir is None else os.fspath(data_dir)
    try:
        if tensorflow_installed():
            batch = tfds.as_numpy(
                tfds.load(name, split=split, data_dir=data_dir, download=download, batch_size=-1)
            )
            columns = {k: np.asarray(batch[k]) for k in keys}
        else:
            source = tfds.data_source(name, split=split, data_dir=data_dir, download=download)
            records = [source[i] for i in range(len(source))]
            columns = {k: _stack([r[k] for r in records]) for k in keys}
    except (ConfigError, MissingDataError):
        raise
    except Exception as e:
        how = (
            "" if tensorflow_installed() else
            " Without TensorFlow, TFDS reads only datasets prepared in ArrayRecord format "
            "(tfds.data_source); install tensorflow to download and prepare it, or prepare it "
            "elsewhere with file_format='array_record'."
        )
        detail = " ".join(str(e).split())
        detail = detail if len(detail) <= 400 else detail[:400] + " ..."
        raise MissingDataError(
            f"TFDS could not load {name!r} split {split!r} ({type(e).__name__}: {detail}).{how} "
            "Or use local files (data_dir, --data-dir)."
        ) from e
    return {k: _decode_text(v) for k, v in columns.items()}


def _stack(values: list) -> np.ndarray:
    if values and isinstance(values[0], (str, bytes)):
        return np.array(values, dtype=object)
    return np.stack([np.asarray(v) for v in values]) if values else np.zeros((0,))


def _decode_text(column: np.ndarray) -> np.ndarray:
    if column.dtype.kind in "OSU" and column.size and isinstance(column.flat[0], bytes):
        return np.array([b.decode("utf-8") for b in column], dtype=object)
    return column
