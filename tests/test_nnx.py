"""Flax NNX encoders (``EncoderSpec.from_nnx``, ``corel_jax.models.nnx.NNXEncoder``): every
run its own initialisation from its seed, an NNX MLP trains on digits as the Linen MLP does,
dropout follows ``train=``, a sweep resumes exactly, and running statistics are refused."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from corel_jax import rundir
from corel_jax.errors import ConfigError
from corel_jax.models import ENCODERS, EncoderSpec
from corel_jax.models.nnx import NNXEncoder
from corel_jax.train import SweepConfig, train_sweep
from corel_jax.train.engine import compile_program, hparams, make_program


class NNXMLP(nnx.Module):
    """The Linen ``MLP`` in NNX: flatten, two LeakyReLU layers (the same default inits:
    LeCun-normal kernels, zero biases)."""

    def __init__(self, features: int, width: int, slope: float, dropout: float, *, rngs):
        self.fc0 = nnx.Linear(features, width, rngs=rngs)
        self.fc1 = nnx.Linear(width, width, rngs=rngs)
        self.dropout = nnx.Dropout(dropout, rngs=rngs)
        self.slope = slope

    def __call__(self, x):
        h = x.reshape(x.shape[0], -1)
        h = nnx.leaky_relu(self.fc0(self.dropout(h)), self.slope)
        return nnx.leaky_relu(self.fc1(self.dropout(h)), self.slope)


def build(cfg, dataset, rngs):
    features = int(np.prod(dataset.x_train.shape[1:]))
    return NNXMLP(features, cfg.width, cfg.negative_slope, cfg.dropout or 0.0, rngs=rngs)


@pytest.fixture(scope="module", autouse=True)
def registered():
    with ENCODERS.temporary(EncoderSpec.from_nnx("nnx_mlp", build, kinds=("image",))):
        yield


CFG = dict(dataset="digits", model="nnx_mlp", loss="cce", seeds=(0, 1), epochs=4, width=64,
           batch_size=64, checkpoint_every=1, run_batch=2)


@pytest.fixture(scope="module")
def nnx_sweep(digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("nnx") / "run"
    return train_sweep(SweepConfig(**CFG), dataset=digits, out_dir=out, progress=False,
                       log=None)


def test_every_seed_its_own_init(digits):
    cfg = SweepConfig(**{**CFG, "seeds": (0, 1, 2)})
    encoder = ENCODERS.get("nnx_mlp").build(cfg, digits)
    program = make_program(cfg, encoder, digits.num_classes, digits.x_train[:1])
    compiled = compile_program(program)
    seeds = jnp.asarray([0, 1, 0], jnp.uint32)
    state = compiled.init(seeds, hparams(cfg.runs))
    kernel = np.asarray(state.params["params"]["encoder"]["nnx"]["fc0"]["kernel"])
    assert kernel.shape == (3, 64, 64)
    assert not np.array_equal(kernel[0], kernel[1])  # another seed, another init
    np.testing.assert_array_equal(kernel[0], kernel[2])  # the seed alone decides
    assert 0.05 < kernel.std() < 0.3  # LeCun normal over 64 inputs: 1/8


def test_nnx_mlp_trains_like_the_linen_mlp(nnx_sweep, digits):
    linen = train_sweep(SweepConfig(**{**CFG, "model": "mlp", "checkpoint_every": 0}),
                        dataset=digits, progress=False, log=None)
    nnx_acc = np.array([r["test_acc"] for r in nnx_sweep.records])
    linen_acc = np.array([r["test_acc"] for r in linen.records])
    assert nnx_acc.min() > 0.85, nnx_acc  # 4 epochs (chance: 10 %)
    assert abs(nnx_acc.mean() - linen_acc.mean()) < 0.05, (nnx_acc, linen_acc)
    params = rundir.load_final_params(nnx_sweep.out_dir)
    flat = rundir.flatten_tree(params)
    assert flat["params/encoder/nnx/fc1/kernel"].shape == (2, 64, 64)


def test_nnx_sweep_resumes_exactly(nnx_sweep, digits, tmp_path, preempt):
    """Preempted after epoch 2 (SIGTERM, simulated), then resumed: the uninterrupted sweep's
    numbers, bit for bit."""
    cfg = SweepConfig(**CFG)
    preempt(cfg, digits, tmp_path / "run")
    messages = []
    resumed = train_sweep(cfg, dataset=digits, out_dir=tmp_path / "run", resume=True,
                          progress=False, log=messages.append)
    assert any("after epoch 2" in m for m in messages), messages
    np.testing.assert_array_equal(resumed.train_loss, nnx_sweep.train_loss)
    np.testing.assert_array_equal(resumed.val_acc, nnx_sweep.val_acc)
    np.testing.assert_array_equal(resumed.test_pred, nnx_sweep.test_pred)
    jax.tree.map(np.testing.assert_array_equal, resumed.final_params, nnx_sweep.final_params)


def test_dropout_follows_train_and_the_dropout_stream():
    enc = NNXEncoder(lambda rngs: NNXMLP(16, 32, 0.2, 0.5, rngs=rngs))
    x = jnp.ones((4, 16))
    params = enc.init({"params": jax.random.key(0), "dropout": jax.random.key(0)}, x)
    assert set(params) == {"params"}
    evaluated = enc.apply(params, x)
    np.testing.assert_array_equal(evaluated, enc.apply(params, x))  # deterministic
    a, b = (enc.apply(params, x, train=True, rngs={"dropout": jax.random.key(k)})
            for k in (1, 2))
    assert not np.array_equal(a, evaluated) and not np.array_equal(a, b)
    np.testing.assert_array_equal(
        a, enc.apply(params, x, train=True, rngs={"dropout": jax.random.key(1)}))


def test_running_statistics_are_refused():
    enc = NNXEncoder(lambda rngs: nnx.BatchNorm(8, rngs=rngs))
    with pytest.raises(ConfigError, match=r"besides nnx.Param \(batch_stats\)"):
        enc.init({"params": jax.random.key(0)}, jnp.ones((2, 8)))
