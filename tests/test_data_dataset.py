"""The Dataset container, digits, splits and load_dataset's argument handling."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from corel_jax.data import Dataset, load_dataset
from corel_jax.data import registry as registry_mod
from corel_jax.data.splits import random_split, stratified_split
from corel_jax.errors import ConfigError, DataError, MissingDataError


def toy(**changes) -> Dataset:
    x = np.zeros((6, 3), np.int32)
    x[:, 0] = 2
    y = np.array([0, 1, 2, 0, 1, 2], np.int32)
    e = np.zeros((5, 4), np.float32)
    e[1:] = 0.1
    fields = dict(
        name="toy", x_train=x, y_train=y, x_val=x[:3], y_val=y[:3], x_test=x[:3], y_test=y[:3],
        num_classes=3, class_names=("a", "b", "c"), kind="tokens", embeddings=e,
        vocab=("<pad>", "<unk>", "MONEY", "YEAR", "NUMBER"),
    )
    return Dataset(**{**fields, **changes})


def test_valid_dataset_and_summary():
    d = toy()
    assert d.sizes == {"train": 6, "val": 3, "test": 3} and d.input_shape == (3,)
    text = d.summary()
    assert "train 6 / val 3 / test 3" in text and "embeddings: frozen [5, 4]" in text
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.name = "other"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "audio"}, "kind must be one of"),
        ({"y_train": np.array([0, 1, 2, 0, 1, 3], np.int32)}, r"outside \[0, 3\)"),
        ({"y_train": np.array([0, 1, 2, 0, 1, 2], np.int64)}, "int32"),
        ({"y_val": np.array([0, 1], np.int32)}, "3 examples but y_val has 2"),
        ({"x_val": np.zeros((3, 4), np.int32)}, "example shape"),
        ({"x_test": np.zeros((3, 3), np.float32)}, "must be int32"),
        ({"class_names": ("a", "b")}, "2 class_names for 3 classes"),
        ({"embeddings": np.ones((5, 4), np.float32)}, "row 0"),
        ({"embeddings": np.zeros((2, 4), np.float32), "vocab": None}, "token id 2 >= vocabulary"),
        ({"vocab": ("<pad>", "<unk>")}, "2 vocab words but 5 embedding rows"),
    ],
)
def test_validation_errors(changes, message):
    with pytest.raises(DataError, match=message):
        toy(**changes)


def test_image_validation():
    x = np.zeros((2, 8, 8, 1), np.float32)
    y = np.zeros(2, np.int32)
    with pytest.raises(DataError, match=r"pixels must be in \[0, 1\]"):
        Dataset("img", x + 2, y, x, y, x, y, 1, ("only",), "image")
    with pytest.raises(DataError, match=r"float32 \[N, H, W, C\]"):
        Dataset("img", x[..., 0], y, x, y, x, y, 1, ("only",), "image")


def test_subset():
    d = load_dataset("digits")
    s = d.subset(200, 50)
    assert s.sizes == {"train": 200, "val": 50, "test": d.sizes["test"]}
    np.testing.assert_array_equal(s.x_train, d.x_train[:200])
    r = d.subset(200, seed=0)
    assert r.sizes["train"] == 200 and not np.array_equal(r.y_train, s.y_train)
    np.testing.assert_array_equal(r.y_train, d.subset(200, seed=0).y_train)
    assert r.info["subset"] == {"sizes": [200, None, None], "seed": 0}
    with pytest.raises(ValueError, match="n_train"):
        d.subset(10**6)


def test_digits_split_is_stratified_and_fixed():
    d = load_dataset("digits")
    assert d.x_train.shape[1:] == (8, 8, 1) and d.x_train.dtype == np.float32
    assert d.x_train.min() == 0.0 and d.x_train.max() == 1.0
    for which in ("train", "val", "test"):
        counts = np.bincount(d.split(which)[1], minlength=10)
        share = counts / counts.sum()
        assert np.abs(share - 0.1).max() < 0.02, (which, counts)
    assert sum(d.sizes.values()) == 1797
    np.testing.assert_array_equal(load_dataset("digits").y_val, d.y_val)
    assert not np.array_equal(load_dataset("digits", split_seed=1).y_val, d.y_val)
    assert load_dataset("digits", val_size=100, test_size=200).sizes == {
        "train": 1497, "val": 100, "test": 200
    }


def test_digits_docstring_states_the_default_sizes():
    import corel_jax.data.digits as digits_mod

    stated = re.search(r"\(([\d,]+) / ([\d,]+) / ([\d,]+) by default\)",
                       " ".join(digits_mod.__doc__.split()))
    assert stated, "digits' module docstring should state its default split sizes"
    sizes = load_dataset("digits").sizes
    assert [int(g.replace(",", "")) for g in stated.groups()] == [
        sizes["train"], sizes["val"], sizes["test"]
    ]


def test_splits():
    train, val = random_split(100, 10, seed=3)
    assert len(val) == 10 and not set(train) & set(val) and len(train) + len(val) == 100
    y = np.repeat(np.arange(3), [50, 30, 20])
    parts = stratified_split(y, (60, 20, 20), seed=0)
    assert [len(p) for p in parts] == [60, 20, 20]
    assert np.bincount(y[parts[1]]).tolist() == [10, 6, 4]
    assert sorted(np.concatenate(parts).tolist()) == list(range(100))
    with pytest.raises(ConfigError, match="val_size"):
        random_split(5, 5)


def test_load_dataset_argument_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown dataset 'cifar'.*mnist"):
        load_dataset("cifar")
    with pytest.raises(ConfigError, match="unknown option.*max_len.*mnist"):
        load_dataset("mnist", tmp_path, max_len=3)
    with pytest.raises(ConfigError, match="unknown source"):
        load_dataset("mnist", tmp_path, source="web")
    with pytest.raises(ConfigError, match="needs data_dir"):
        load_dataset("mnist", source="files")
    with pytest.raises(ConfigError, match="digits"):
        load_dataset("digits", source="tfds")
    with pytest.raises(MissingDataError, match="fashion_mnist: train-images"):
        load_dataset("Fashion-MNIST", tmp_path)  # names are normalised


def test_auto_source_without_data_dir_or_tfds(monkeypatch):
    monkeypatch.setattr(registry_mod, "tfds_installed", lambda: False)
    with pytest.raises(MissingDataError, match=r"data_dir.*tensorflow-datasets"):
        load_dataset("mnist")
    monkeypatch.setattr(registry_mod, "tfds_installed", lambda: True)
    assert registry_mod._resolve_source("mnist", None, "auto") == "tfds"
    assert registry_mod._resolve_source("ag_news", "x", "auto") == "files"


def test_digits_read_without_sklearn_are_sklearns_arrays():
    """The digits are read from scikit-learn's bundled file without importing scikit-learn;
    they must be exactly what ``sklearn.datasets.load_digits`` returns."""
    from sklearn.datasets import load_digits

    from corel_jax.data.digits import _digits_arrays

    images, target = _digits_arrays()
    bunch = load_digits()
    np.testing.assert_array_equal(images, bunch.images)
    np.testing.assert_array_equal(target, bunch.target)
    assert images.dtype == bunch.images.dtype and target.dtype == bunch.target.dtype


def test_loading_digits_does_not_import_sklearn():
    import subprocess
    import sys

    code = ("import sys; from corel_jax.data import load_dataset; load_dataset('digits'); "
            "print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
