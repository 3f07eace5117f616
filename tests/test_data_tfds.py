"""TFDS paths under ``tfds.testing.mock_data`` (no network, no TensorFlow needed).

Without TensorFlow the loader reads through ``tfds.data_source``; with it, through
``tfds.load(batch_size=-1)``. ``mock_data`` patches both.
"""

from __future__ import annotations

import numpy as np
import pytest

from corel_jax.data import load_dataset
from corel_jax.errors import MissingDataError

tfds = pytest.importorskip(
    "tensorflow_datasets",
    reason="tensorflow-datasets not installed (optional extra: pip install 'corel-jax[tfds]')",
)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_image_datasets_through_tfds(name):
    with tfds.testing.mock_data(num_examples=30):
        ds = load_dataset(name, source="tfds", val_size=6, split_seed=1)
        again = load_dataset(name, source="tfds", val_size=6, split_seed=1)
    assert ds.sizes == {"train": 24, "val": 6, "test": 30}
    assert ds.x_train.shape == (24, 28, 28, 1) and ds.x_train.dtype == np.float32
    assert 0.0 <= ds.x_test.min() and ds.x_test.max() <= 1.0
    assert ds.y_train.dtype == np.int32 and ds.y_train.max() < 10
    assert ds.info["source"] == "tfds"
    np.testing.assert_array_equal(ds.x_val, again.x_val)


def test_auto_source_uses_tfds_without_data_dir():
    with tfds.testing.mock_data(num_examples=12):
        ds = load_dataset("mnist", val_size=2)
    assert ds.info["source"] == "tfds" and ds.sizes["train"] == 10


def test_ag_news_subset_through_tfds():
    with tfds.testing.mock_data(num_examples=40):
        ds = load_dataset("ag_news", source="tfds", val_size=8, embeddings=None, learned=True,
                          embedding_dim=5, max_len=12)
    assert ds.kind == "tokens" and ds.num_classes == 4
    assert ds.sizes == {"train": 32, "val": 8, "test": 40}
    assert ds.x_train.shape == (32, 12) and ds.embeddings.shape == (len(ds.vocab), 5)
    assert ds.info["pool"] == "ag_news_subset:train"
    assert (ds.x_train != 0).any(axis=1).all()


def test_unprepared_dataset_is_a_missing_data_error(tmp_path):
    with pytest.raises(MissingDataError, match=r"TFDS could not load 'mnist'.*data_dir"):
        load_dataset("mnist", tmp_path / "tfds", source="tfds", download=False)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_tfds_split_indexes_tfds_example_order(name):
    # What the mnist module promises: the split is random_split(split_seed, val_size) of the
    # pool in the source's own order (for TFDS, its train split's order, not the files').
    from corel_jax.data.splits import random_split
    from corel_jax.data.tfds_source import load_tfds_split

    with tfds.testing.mock_data(num_examples=30):
        ds = load_dataset(name, source="tfds", val_size=6, split_seed=3)
        pool = load_tfds_split(name, "train", ("image", "label"))
        other = load_dataset(name, source="tfds", val_size=6, split_seed=4)
    train_idx, val_idx = random_split(30, 6, seed=3)
    images = pool["image"].reshape(30, 28, 28, 1).astype(np.float32) / 255.0
    np.testing.assert_array_equal(ds.x_val, images[val_idx])
    np.testing.assert_array_equal(ds.y_val, pool["label"][val_idx])
    np.testing.assert_array_equal(ds.x_train, images[train_idx])
    assert not np.array_equal(ds.x_val, other.x_val)
