"""Training-minibatch augmentation: random_shift's translations, and the engine's augment=
hook (applied to training minibatches only; no hook leaves a sweep's numbers unchanged)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

# the user's small encoder and in-memory dataset of the bring-your-own test
from test_bring_your_own import Tiny, blobs

from corel_jax.data import DATASETS, DatasetSpec
from corel_jax.data.augment import random_shift, shift_augment
from corel_jax.errors import ConfigError
from corel_jax.models import ENCODERS, EncoderSpec
from corel_jax.train import SweepConfig, train_sweep


def _interior_images(b, h, w, border, seed=0):
    x = np.zeros((b, h, w), np.float32)
    x[:, border:h - border, border:w - border] = np.random.default_rng(seed).uniform(
        0.1, 1.0, (b, h - 2 * border, w - 2 * border))
    return x


def test_random_shift_is_a_lossless_translation_within_max_shift():
    x = _interior_images(300, 7, 6, border=2)
    y = np.asarray(random_shift(jax.random.key(1), jnp.asarray(x), max_shift=2))
    assert y.shape == x.shape and y.dtype == x.dtype
    seen = set()
    for xb, yb in zip(x, y):
        # the content sits 2 pixels from the border, so a shift of up to 2 loses nothing
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(np.roll(xb, (dy, dx), axis=(0, 1)), yb)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) == 25  # every offset in [-2, 2]² is drawn (300 draws of 25)


def test_random_shift_fills_with_zeros_and_keeps_channels():
    x = jnp.ones((4, 5, 5, 3))
    y = random_shift(jax.random.key(0), x, max_shift=1)
    assert y.shape == (4, 5, 5, 3)
    # an all-ones image shifted by (dy, dx) keeps (5 - |dy|)(5 - |dx|) ones per channel
    per_image = np.asarray(y.sum(axis=(1, 2, 3))) / 3
    assert set(per_image.tolist()) <= {25.0, 20.0, 16.0}
    assert np.array_equal(random_shift(jax.random.key(0), x, max_shift=0), x)


def test_random_shift_under_jit_is_deterministic_per_key():
    x = jnp.asarray(_interior_images(8, 9, 9, border=1))
    f = jax.jit(shift_augment(1))
    assert np.array_equal(f(jax.random.key(3), x), f(jax.random.key(3), x))
    assert not np.array_equal(f(jax.random.key(3), x), f(jax.random.key(4), x))


@pytest.mark.parametrize("bad", [-1, 1.5])
def test_bad_max_shift_is_refused(bad):
    with pytest.raises(ValueError, match="max_shift"):
        random_shift(jax.random.key(0), jnp.zeros((1, 4, 4)), max_shift=bad)
    with pytest.raises(ValueError, match="max_shift"):
        shift_augment(bad)


def test_random_shift_refuses_non_images():
    with pytest.raises(ValueError, match=r"\[B, H, W\]"):
        random_shift(jax.random.key(0), jnp.zeros((4, 16)), max_shift=1)


@pytest.fixture(scope="module", autouse=True)
def _registered():
    """The blobs dataset and the tiny encoder, registered for this module's tests only."""
    with DATASETS.temporary(DatasetSpec.from_dataset(blobs("aug_blobs"))), \
            ENCODERS.temporary(EncoderSpec.from_module("aug_tiny", Tiny())):
        yield


def _sweep(augment):
    data = blobs("aug_blobs")
    cfg = SweepConfig(dataset="aug_blobs", model="aug_tiny", loss="cce", seeds=(0, 1), lams=(0.5,),
                      epochs=4, batch_size=32, lr=0.02, checkpoint_every=0)
    return train_sweep(cfg, dataset=data, augment=augment, progress=False, log=None)


def test_engine_applies_augment_to_training_minibatches_only():
    base = _sweep(None)
    seen = []

    def identity(key, x):
        seen.append((x.shape, key.dtype))
        return x

    same = _sweep(identity)
    # traced once per program, on [batch, features] minibatches with a PRNG key
    assert seen and all(shape == (32, 5) for shape, _ in seen)
    np.testing.assert_array_equal(same.val_acc, base.val_acc)
    assert [r["test_acc"] for r in same.records] == [r["test_acc"] for r in base.records]
    # inputs erased in training only: the model learns nothing, yet it is still evaluated on
    # the real validation inputs (an augmented evaluation would score the same constant)
    blind = _sweep(lambda key, x: jnp.zeros_like(x))
    assert np.mean([r["test_acc"] for r in base.records]) > 0.8
    assert np.mean([r["test_acc"] for r in blind.records]) < 0.6


# --------------------------------------------------------------------------- augment_shift


def _digits_cfg(**kw):
    return SweepConfig(dataset="digits", model="mlp", loss="cce", seeds=(0,), lams=(0.5,),
                       epochs=2, batch_size=64, width=32, checkpoint_every=0, **kw)


def test_augment_shift_is_the_built_in_shift_recorded_in_the_config():
    plain = train_sweep(_digits_cfg(), progress=False, log=None)
    built_in = train_sweep(_digits_cfg(augment_shift=1), progress=False, log=None)
    passed = train_sweep(_digits_cfg(), augment=shift_augment(1), progress=False, log=None)
    np.testing.assert_array_equal(built_in.val_acc, passed.val_acc)
    assert not np.array_equal(built_in.val_acc, plain.val_acc)
    assert _digits_cfg(augment_shift=1).to_dict()["augment_shift"] == 1
    assert SweepConfig.from_dict(_digits_cfg(augment_shift=2).to_dict()).augment_shift == 2
    with pytest.raises(ConfigError, match="augment= both given"):
        train_sweep(_digits_cfg(augment_shift=1), augment=shift_augment(1), progress=False,
                    log=None)


@pytest.mark.parametrize("bad", [-1, 1.0, True])
def test_augment_shift_must_be_a_non_negative_int(bad):
    with pytest.raises(ConfigError, match="augment_shift must be an integer"):
        _digits_cfg(augment_shift=bad)


def test_augment_shift_refuses_non_image_datasets():
    with pytest.raises(ConfigError, match="translates images, but dataset aug_blobs"):
        SweepConfig(dataset="aug_blobs", model="aug_tiny", loss="cce", augment_shift=1)


def test_cli_augment_shift():
    import argparse

    from corel_jax.train.cli import add_arguments, config_from_args

    p = argparse.ArgumentParser()
    add_arguments(p)
    assert config_from_args(p.parse_args(["--augment-shift", "2"])).augment_shift == 2
    assert config_from_args(p.parse_args([])).augment_shift == 0
