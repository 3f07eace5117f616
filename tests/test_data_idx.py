"""IDX files, md5 checks and the MNIST / Fashion-MNIST file loaders."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from corel_jax.data import load_dataset
from corel_jax.data.checksums import IDX_FILES, md5_hex
from corel_jax.data.idx import encode_idx, parse_idx, read_idx, write_idx
from corel_jax.errors import DataError, MissingDataError

SHARED = Path(__file__).parents[1].parent / "shared" / "data"
FILENAMES = [f.filename for f in IDX_FILES["mnist"]]


def write_fake_mnist(directory: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> Path:
    """Four tiny IDX .gz files with MNIST's names and layout (random pixels, labels 0-9)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = (
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        (np.arange(n_train) % 10).astype(np.uint8),
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        (np.arange(n_test) % 10).astype(np.uint8),
    )
    for name, array in zip(FILENAMES, arrays):
        write_idx(directory / name, array)
    return directory


# -- the IDX format ---------------------------------------------------------------------------


def test_magic_numbers_and_shape(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    raw = encode_idx(images)
    assert int.from_bytes(raw[:4], "big") == 2051
    assert int.from_bytes(encode_idx(np.zeros(3, np.uint8))[:4], "big") == 2049
    path = write_idx(tmp_path / "x-idx3-ubyte.gz", images)
    out = read_idx(path)
    assert out.shape == (2, 28, 28) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, images)


@settings(max_examples=30, deadline=None)
@given(
    hnp.arrays(
        st.sampled_from([np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]),
        hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
    )
)
def test_roundtrip(array):
    out = parse_idx(encode_idx(array))
    assert out.shape == array.shape and out.dtype == array.dtype.newbyteorder("=")
    np.testing.assert_array_equal(out, array)


def test_bad_magic_names_the_file(tmp_path):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(b"\x12\x34\x08\x03" + bytes(16))
    with pytest.raises(DataError, match=r"bad-idx3-ubyte.*magic number"):
        read_idx(path)


def test_truncated_payload_names_the_file(tmp_path):
    raw = encode_idx(np.zeros((4, 28, 28), np.uint8))
    path = tmp_path / "short-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match=r"short-idx3-ubyte\.gz.*truncated"):
        read_idx(path)


def test_truncated_gzip_names_the_file_and_checksum(tmp_path):
    data = gzip.compress(encode_idx(np.arange(5000, dtype=np.uint8)))
    path = tmp_path / "cut-idx1-ubyte.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut-idx1-ubyte\.gz.*gzip.*expected md5 " + "a" * 32):
        read_idx(path, md5="a" * 32)


def test_missing_file_names_the_file_and_directory(tmp_path):
    with pytest.raises(MissingDataError) as e:
        read_idx(tmp_path / "nothing-idx1-ubyte.gz")
    assert "nothing-idx1-ubyte.gz" in str(e.value) and str(tmp_path) in str(e.value)


# -- md5 ----------------------------------------------------------------------------------------


def test_md5_mismatch_names_the_expected_checksum(tmp_path):
    path = write_idx(tmp_path / "labels-idx1-ubyte.gz", np.arange(10, dtype=np.uint8))
    expected = "0123456789abcdef0123456789abcdef"
    with pytest.raises(DataError) as e:
        read_idx(path, md5=expected)
    assert expected in str(e.value) and "labels-idx1-ubyte.gz" in str(e.value)
    assert md5_hex(path.read_bytes()) in str(e.value)  # and what it got


def test_repackaged_gzip_passes_on_payload_md5(tmp_path):
    """A different gzip header (Debian's repack) keeps the payload: the raw md5 accepts it."""
    raw = encode_idx(np.arange(100, dtype=np.uint8))
    original = gzip.compress(raw, mtime=1504176606)
    repack = tmp_path / "t-idx1-ubyte.gz"
    repack.write_bytes(gzip.compress(raw, mtime=0))
    assert md5_hex(repack.read_bytes()) != md5_hex(original)
    out = read_idx(repack, md5=md5_hex(original), raw_md5=md5_hex(raw))
    np.testing.assert_array_equal(out, np.arange(100))
    with pytest.raises(DataError, match=md5_hex(original)):
        read_idx(repack, md5=md5_hex(original), raw_md5="f" * 32)


def test_uncompressed_file_is_checked_against_payload_md5(tmp_path):
    raw = encode_idx(np.arange(7, dtype=np.uint8))
    path = tmp_path / "plain-idx1-ubyte"
    path.write_bytes(raw)
    assert read_idx(path, md5="0" * 32, raw_md5=md5_hex(raw)).tolist() == list(range(7))
    with pytest.raises(DataError, match="e" * 32):
        read_idx(path, raw_md5="e" * 32)


# -- the MNIST loader on fake files ------------------------------------------------------------


def test_loader_splits_and_scales(tmp_path):
    d = write_fake_mnist(tmp_path / "mnist")
    ds = load_dataset("mnist", d, val_size=10, verify=False)
    assert ds.sizes == {"train": 50, "val": 10, "test": 20}
    assert ds.x_train.shape == (50, 28, 28, 1) and ds.x_train.dtype == np.float32
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert ds.y_train.dtype == np.int32 and ds.num_classes == 10
    # train + val is a partition of the pool
    pool = read_idx(d / FILENAMES[0]).astype(np.float32)[..., None] / 255
    both = np.concatenate([ds.x_train, ds.x_val])
    assert sorted(map(bytes, both)) == sorted(map(bytes, pool))
    again = load_dataset("mnist", d, val_size=10, verify=False)
    np.testing.assert_array_equal(ds.y_val, again.y_val)
    np.testing.assert_array_equal(ds.x_val, again.x_val)
    other = load_dataset("mnist", d, val_size=10, verify=False, split_seed=1)
    assert not np.array_equal(ds.x_val, other.x_val)


def test_loader_finds_dataset_folder_under_a_data_root(tmp_path):
    write_fake_mnist(tmp_path / "fashion_mnist")
    ds = load_dataset("fashion_mnist", tmp_path, val_size=5, verify=False)
    assert ds.name == "fashion_mnist" and ds.class_names[-1] == "Ankle boot"
    assert ds.info["data_dir"] == str(tmp_path / "fashion_mnist")


def test_loader_accepts_uncompressed_files(tmp_path):
    d = write_fake_mnist(tmp_path)
    for name in FILENAMES:
        (d / name.removesuffix(".gz")).write_bytes(gzip.decompress((d / name).read_bytes()))
        (d / name).unlink()
    assert load_dataset("mnist", d, val_size=10, verify=False).sizes["test"] == 20


def test_loader_checks_md5_by_default(tmp_path):
    d = write_fake_mnist(tmp_path)
    with pytest.raises(DataError, match=IDX_FILES["mnist"][0].md5):
        load_dataset("mnist", d, val_size=10)


def test_loader_missing_file_says_where_to_get_it(tmp_path):
    d = write_fake_mnist(tmp_path)
    (d / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MissingDataError) as e:
        load_dataset("mnist", d, val_size=10, verify=False)
    msg = str(e.value)
    assert "t10k-labels-idx1-ubyte.gz" in msg and str(d) in msg
    assert "yann.lecun.com" in msg and "tfds" in msg


def test_loader_rejects_wrong_image_shape(tmp_path):
    d = write_fake_mnist(tmp_path)
    write_idx(d / FILENAMES[2], np.zeros((20, 14, 14), np.uint8))
    with pytest.raises(DataError, match=r"t10k-images.*\[N, 28, 28\]"):
        load_dataset("mnist", d, val_size=10, verify=False)


def test_loader_rejects_count_mismatch(tmp_path):
    d = write_fake_mnist(tmp_path)
    write_idx(d / FILENAMES[1], np.zeros(59, np.uint8))
    with pytest.raises(DataError, match="60 images but .* 59 labels"):
        load_dataset("mnist", d, val_size=10, verify=False)


# -- the real files in ../shared/data (skipped when absent) --------------------------------------


def _shared(name: str) -> Path:
    d = SHARED / name
    if not all((d / f).is_file() for f in FILENAMES):
        pytest.skip(f"{d} does not hold the four {name} IDX files")
    return d


@pytest.fixture(scope="module")
def data_real_mnist():
    return load_dataset("mnist", _shared("mnist"))


def test_real_mnist_splits(data_real_mnist):
    ds = data_real_mnist
    assert ds.sizes == {"train": 55000, "val": 5000, "test": 10000}
    assert ds.x_train.shape == (55000, 28, 28, 1)
    for which in ("train", "val", "test"):
        x, y = ds.split(which)
        assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() == 1.0
        assert set(np.unique(y)) == set(range(10))
    assert ds.y_test[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first test labels


def test_real_mnist_same_seed_same_split(data_real_mnist):
    again = load_dataset("mnist", _shared("mnist"), split_seed=0)
    np.testing.assert_array_equal(again.y_val, data_real_mnist.y_val)
    np.testing.assert_array_equal(again.x_val[:50], data_real_mnist.x_val[:50])
    other = load_dataset("mnist", _shared("mnist"), split_seed=1)
    assert not np.array_equal(other.y_val, data_real_mnist.y_val)


def test_real_fashion_mnist():
    _shared("fashion_mnist")
    ds = load_dataset("fashion_mnist", SHARED)  # a data root: finds SHARED/fashion_mnist
    assert ds.sizes == {"train": 55000, "val": 5000, "test": 10000}
    assert np.bincount(ds.y_test).tolist() == [1000] * 10


def test_real_debian_style_repack_and_corruption(tmp_path):
    """Re-gzipping a real file (new header) passes; a flipped byte fails naming the md5."""
    src = _shared("fashion_mnist")
    for f in FILENAMES:
        shutil.copy(src / f, tmp_path / f)
    name = "t10k-labels-idx1-ubyte.gz"
    raw = gzip.decompress((src / name).read_bytes())
    (tmp_path / name).write_bytes(gzip.compress(raw, mtime=0))
    ds = load_dataset("fashion_mnist", tmp_path)
    assert len(ds.y_test) == 10000
    spec = IDX_FILES["fashion_mnist"][3]
    bad = bytearray(raw)
    bad[100] ^= 1
    (tmp_path / name).write_bytes(gzip.compress(bytes(bad)))
    with pytest.raises(DataError) as e:
        load_dataset("fashion_mnist", tmp_path)
    assert name in str(e.value) and spec.md5 in str(e.value)
