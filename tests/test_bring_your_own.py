"""A user's own loss, encoder and dataset through the sweep engine and the report, defined
here, outside the package, with no library edit: a CosFace-style loss (normalised softmax with
an additive cosine margin, which the paper does not have), a small Flax encoder, and an
in-memory numpy dataset."""

import contextlib
import dataclasses
import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from corel_jax import rundir
from corel_jax.cli import main
from corel_jax.data import DATASETS, Dataset, DatasetSpec
from corel_jax.errors import ConfigError
from corel_jax.loss_spec import LOSSES, Head, LossSpec, fixed_prototypes
from corel_jax.models import ENCODERS, EncoderSpec
from corel_jax.similarity import cosine
from corel_jax.train import SweepConfig, train_sweep


def cosface(h, head, labels, *, lam, aux):
    """CosFace: softmax over ``s · (cos(h, w_j) − m·[j = y])``; λ is the margin ``m`` and the
    scale ``s`` is a head parameter of the loss's own, learned as log s."""
    del aux
    cos = cosine(h, head.W)
    scale = jnp.exp(head.extra["log_scale"])
    logits = scale * (cos - lam * jax.nn.one_hot(labels, cos.shape[-1]))
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels)


class Tiny(nn.Module):
    width: int = 16

    @nn.compact
    def __call__(self, x, *, train=False):
        return nn.tanh(nn.Dense(self.width)(x.reshape(x.shape[0], -1)))


def blobs(name, seed=0):
    rng = np.random.default_rng(seed)
    centers = 3.0 * rng.normal(size=(3, 5))

    def split(n):
        y = rng.integers(0, 3, n).astype(np.int32)
        return (centers[y] + rng.normal(size=(n, 5))).astype(np.float32), y

    (xtr, ytr), (xva, yva), (xte, yte) = split(240), split(80), split(80)
    return Dataset(name, xtr, ytr, xva, yva, xte, yte, 3, ("a", "b", "c"), "features")


@pytest.fixture(scope="module")
def registered():
    """The user's loss, encoder and dataset, registered for this module's tests only."""
    with contextlib.ExitStack() as stack:
        spec = stack.enter_context(LOSSES.temporary(LossSpec(
            "test_cosface", cosface, similarity="cosine",
            params={"log_scale": lambda key, k, d: jnp.log(jnp.float32(8.0))},
            lam="the additive cosine margin m")))
        stack.enter_context(DATASETS.temporary(DatasetSpec.from_dataset(blobs("test_blobs"))))
        stack.enter_context(ENCODERS.temporary(EncoderSpec.from_module("test_tiny", Tiny())))
        yield spec


def test_user_loss_encoder_and_dataset_through_sweep_and_report(registered, tmp_path, capsys):
    cfg = SweepConfig(dataset="test_blobs", model="test_tiny", loss="test_cosface",
                      seeds=(0, 1), lams=(0.1, 0.35), epochs=5, batch_size=32, lr=0.02,
                      checkpoint_every=0)
    result = train_sweep(cfg, out_dir=tmp_path / "run", progress=False, log=None)
    assert len(result.records) == 4
    assert all(not r["diverged"] for r in result.records)
    assert np.mean([r["test_acc"] for r in result.records]) > 0.8
    assert "log_scale" in result.heads and result.heads["W"].shape == (4, 3, 16)
    # the per-run λ is the margin: two λ values give two different models for one seed
    assert not np.allclose(result.heads["W"][0], result.heads["W"][1])
    config = json.loads((tmp_path / "run" / rundir.CONFIG).read_text())
    assert config["similarity"] == "cosine"
    assert config["lam_meaning"] == "the additive cosine margin m"

    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "report"),
                 "--methods", "kmeans", "--no-plots"]) == 0
    md = (tmp_path / "report" / "report.md").read_text()
    assert "test_cosface" in md and "test_blobs-test_tiny" in md


def test_train_sweep_takes_a_dataset_and_an_encoder_object(registered):
    ds = blobs("test_blobs", seed=0)  # same data as registered, given directly
    cfg = SweepConfig(dataset="test_blobs", model="test_tiny", loss="cosine", seeds=(0,),
                      lams=(0.5,), epochs=2, batch_size=32)
    result = train_sweep(cfg, dataset=ds, encoder=Tiny(width=8), progress=False, log=None)
    assert result.heads["W"].shape == (1, 3, 8)


def test_train_sweep_refuses_a_dataset_split_otherwise_than_the_config_says(registered):
    # The config is recorded beside the results: it must describe the data they came from.
    ds = blobs("test_blobs", seed=0)  # 80 validation examples
    cfg = SweepConfig(dataset="test_blobs", model="test_tiny", loss="cosine", seeds=(0,),
                      lams=(0.5,), epochs=1, batch_size=32)
    with pytest.raises(ConfigError, match="val_size=100 but the dataset passed in has 80"):
        train_sweep(dataclasses.replace(cfg, val_size=100), dataset=ds, progress=False, log=None)
    split = dataclasses.replace(ds, info={"split_seed": 1})
    with pytest.raises(ConfigError, match="split_seed=0 but the dataset passed in was split "
                                          "with split_seed=1"):
        train_sweep(cfg, dataset=split, progress=False, log=None)
    train_sweep(dataclasses.replace(cfg, split_seed=1, val_size=80), dataset=split,
                progress=False, log=None)


def test_registries_refuse_a_second_loss_of_the_same_name(registered):
    with pytest.raises(ConfigError, match="registered already"):
        LOSSES.register(LossSpec("test_cosface", cosface, similarity="cosine"))
    with pytest.raises(ConfigError, match="similarity must be one of"):
        LossSpec("x", cosface, similarity="manhattan")
    with pytest.raises(ConfigError, match="a grid over gamma needs --loss gaussian"):
        SweepConfig(dataset="test_blobs", model="test_tiny", loss="test_cosface",
                    gamma=(0.5, 1.0))


def test_prototype_init_and_prediction_rule_of_a_users_loss(registered):
    """``w_init`` sets the prototypes' init; an overridden ``predict_similarity`` is what the
    engine predicts with (here: the negated cosine, i.e. the *least* similar prototype)."""
    ds = blobs("test_blobs", seed=0)
    cfg = dict(dataset="test_blobs", model="test_tiny", seeds=(0,), lams=(0.5,), epochs=3,
               batch_size=32)
    from corel_jax.train import engine

    ones = dataclasses.replace(LOSSES.get("cosine"), name="test_cosine_ones",
                               w_init=lambda key, shape: jnp.ones(shape))
    with LOSSES.temporary(ones):
        program = engine.make_program(SweepConfig(loss=ones.name, **cfg), Tiny(), 3,
                                      ds.x_train[:1])
    hp = {k: jnp.asarray(v) for k, v in program.default_hparams.items()}
    state = program.init(jax.random.key(0), hp)
    np.testing.assert_array_equal(state.params["params"]["W"], np.ones((3, 16)))

    class Negated(LossSpec):
        def predict_similarity(self, h, head):
            return -cosine(h, head.W)

    neg = Negated("test_cosine_negated", LOSSES.get("cosine").objective, similarity="cosine")
    plain = train_sweep(SweepConfig(loss="cosine", **cfg), dataset=ds, progress=False, log=None)
    with LOSSES.temporary(neg):
        flipped = train_sweep(SweepConfig(loss=neg.name, **cfg), dataset=ds, progress=False,
                              log=None)
    # same objective, same seed: the same training; only the prediction rule differs
    np.testing.assert_allclose(flipped.train_loss, plain.train_loss, rtol=1e-6)
    # (each at its own best epoch, which the prediction rule chooses)
    for res, pick in ((plain, np.argmax), (flipped, np.argmin)):
        cos = np.asarray(cosine(res.test_h[0], res.heads["W"][0]))
        np.testing.assert_array_equal(res.test_pred[0], pick(cos, axis=-1))
    assert flipped.val_acc[0, -1] < plain.val_acc[0, -1]


def test_fixed_prototypes_train_the_encoder_and_leave_w_at_its_init(registered):
    """``fixed_prototypes``: the same loss value and encoder gradient, no gradient into ``W``;
    through the engine ``W`` ends where it started (1 epoch or 3) while the loss falls."""
    h = jnp.array([[2.0, 0.0, 1.0], [0.5, 0.5, -1.0], [0.0, 1.0, 1.0]])
    W = jnp.array([[1.0, 0.0, 2.0], [-1.0, 0.2, 0.5]])
    y = jnp.array([0, 1, 1])
    for name in ("cosine", "gaussian", "center"):
        base, fixed = LOSSES.get(name), fixed_prototypes(name)
        assert fixed.name == f"{name}_fixed_w" and fixed.similarity == base.similarity
        gamma = jnp.float32(0.5) if base.gamma else None
        aux = base.init_aux(Head(W=W), {"center_alpha": 0.5}) if base.init_aux else None

        def total(spec, h, W, gamma=gamma, aux=aux):
            return spec.objective(h, Head(W=W, gamma=gamma), y, lam=0.7, aux=aux).sum()

        np.testing.assert_allclose(total(fixed, h, W), total(base, h, W), rtol=1e-6)
        g_h, g_w = jax.grad(total, argnums=(1, 2))(fixed, h, W)
        b_h, b_w = jax.grad(total, argnums=(1, 2))(base, h, W)
        assert np.all(np.asarray(g_w) == 0.0) and np.any(np.asarray(b_w) != 0.0), name
        np.testing.assert_allclose(g_h, b_h, rtol=1e-6)

    ds = blobs("test_blobs", seed=0)
    for name in ("cosine", "gaussian"):
        runs = {}
        with LOSSES.temporary(fixed_prototypes(name)) as spec:
            for loss, epochs in ((spec.name, 1), (spec.name, 3), (name, 3)):
                cfg = SweepConfig(dataset="test_blobs", model="test_tiny", loss=loss,
                                  seeds=(0,), lams=(0.6,), epochs=epochs, batch_size=32,
                                  lr=0.02, checkpoint_every=0)
                runs[loss, epochs] = train_sweep(cfg, dataset=ds, progress=False, log=None)
        fixed1, fixed3 = runs[spec.name, 1], runs[spec.name, 3]
        np.testing.assert_array_equal(fixed1.heads["W"], fixed3.heads["W"])
        # the same seed starts both losses from the same W: trained, it moves away from it
        assert not np.allclose(runs[name, 3].heads["W"], fixed3.heads["W"])
        assert fixed3.train_loss[0, -1] < fixed3.train_loss[0, 0], name
