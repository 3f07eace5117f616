"""Optimizers of one's own (``corel_jax.optimizers``): a registered factory of the run's
hyperparameters equals the built-in Adam bit for bit when it is Adam, trains when it is
clip + AdamW, is recorded in ``config.json``, resumes exactly (and refuses another factory
under the same name), and a bad factory is a one-line ``ConfigError``."""

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from corel_jax import rundir
from corel_jax.errors import ConfigError
from corel_jax.optimizers import OPTIMIZERS, OptimizerSpec
from corel_jax.train import SweepConfig, train_sweep
from corel_jax.train.engine import decay_mask


def adam(hp):
    """The built-in Adam as a factory. The built-in holds Adam's constants as float32 arrays
    (``optax.inject_hyperparams``); Python floats (``optax.adam(hp["lr"])``) round ``1 - b2``
    and the like otherwise, a difference of float rounding."""
    f32 = jnp.float32
    return optax.adam(hp["lr"], b1=f32(0.9), b2=f32(0.999), eps=f32(1e-8), eps_root=f32(0.0))


def plain_adam(hp):
    return optax.adam(hp["lr"])


def clip_adamw(hp):
    return optax.chain(optax.clip_by_global_norm(1.0),
                       optax.adamw(hp["lr"], weight_decay=hp["weight_decay"], mask=decay_mask))


@pytest.fixture(scope="module", autouse=True)
def registered():
    with OPTIMIZERS.temporary(OptimizerSpec("adam_factory", adam)), \
            OPTIMIZERS.temporary(OptimizerSpec("plain_adam", plain_adam)), \
            OPTIMIZERS.temporary(OptimizerSpec("clip_adamw", clip_adamw, "clip, then AdamW")):
        yield


def _cfg(**kw):
    base = dict(dataset="digits", loss="cosine", epochs=3, seeds=(0, 1), lr=(1e-3, 3e-3),
                batch_size=128, width=32, checkpoint_every=0, run_batch=2)
    return SweepConfig(**{**base, **kw})


def _same(a, b):
    np.testing.assert_array_equal(a.train_loss, b.train_loss)
    np.testing.assert_array_equal(a.val_acc, b.val_acc)
    np.testing.assert_array_equal(a.test_pred, b.test_pred)
    jax.tree.map(np.testing.assert_array_equal, a.final_params, b.final_params)


def test_adam_factory_equals_the_built_in_adam(digits):
    """Adam as a factory of ``hp["lr"]`` is the built-in Adam: the same numbers bit for bit,
    for a grid of learning rates in one program and under a warmup + cosine schedule (the
    factory's ``hp["lr"]`` is the update's scheduled rate); ``optax.adam(hp["lr"])`` as it
    stands gives them to float rounding."""
    cfg = _cfg(schedule="warmup_cosine", warmup_epochs=1.0)
    built_in = train_sweep(cfg, dataset=digits, progress=False, log=None)
    factory = train_sweep(dataclasses.replace(cfg, optimizer="adam_factory"), dataset=digits,
                          progress=False, log=None)
    if os.environ.get("COREL_JAX_TESTS_FULL_OPT"):  # XLA's default code generation
        _same(built_in, factory)
    else:
        # Two programs, written differently: bit for bit with XLA's default code generation
        # (CI runs this test so too), to the last bits of float32 with the quicker one the
        # tests compile with (tests/conftest.py), whose fusions round differently.
        np.testing.assert_allclose(built_in.train_loss, factory.train_loss, rtol=1e-6)
        np.testing.assert_array_equal(built_in.test_pred, factory.test_pred)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
                     built_in.final_params, factory.final_params)
    assert [r["lr"] for r in factory.records] == [1e-3, 1e-3, 3e-3, 3e-3]
    plain = train_sweep(dataclasses.replace(cfg, optimizer="plain_adam"), dataset=digits,
                        progress=False, log=None)
    np.testing.assert_allclose(plain.train_loss, built_in.train_loss, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def clipped(digits, tmp_path_factory):
    """An uninterrupted clip + AdamW sweep (weight decay 1e-4, cosine schedule)."""
    out = tmp_path_factory.mktemp("clip_adamw") / "run"
    cfg = _cfg(optimizer="clip_adamw", lr=(1e-2, 3e-3), weight_decay=1e-4, schedule="cosine",
               epochs=4, batch_size=64, checkpoint_every=1)
    return cfg, train_sweep(cfg, dataset=digits, out_dir=out, progress=False, log=None)


def test_clip_adamw_factory_trains_and_is_recorded(clipped):
    cfg, result = clipped
    # 4 epochs on digits (chance: 10 %); the built-in Adam reaches 81-91 % here
    assert min(r["test_acc"] for r in result.records) > 0.75, result.records
    config = json.loads((result.out_dir / rundir.CONFIG).read_text())
    assert config["optimizer"] == "clip_adamw"
    assert config["optimizer_factory"] == f"{__name__}.clip_adamw"
    assert SweepConfig.from_dict(config) == cfg


def test_factory_sweep_resumes_exactly(clipped, digits, tmp_path, preempt):
    """Preempted after epoch 2 (SIGTERM, simulated), then resumed: the uninterrupted sweep's
    numbers. A resume with another function registered under the name is refused first."""
    cfg, full = clipped
    preempt(cfg, digits, tmp_path / "run")
    with OPTIMIZERS.temporary(OptimizerSpec("clip_adamw", adam), replace=True), \
            pytest.raises(ConfigError, match="optimizer_factory: .*clip_adamw.* then, "
                                             ".*adam' now"):
        train_sweep(cfg, dataset=digits, out_dir=tmp_path / "run", resume=True,
                    progress=False, log=None)
    messages = []
    resumed = train_sweep(cfg, dataset=digits, out_dir=tmp_path / "run", resume=True,
                          progress=False, log=messages.append)
    assert any("after epoch 2" in m for m in messages), messages
    _same(full, resumed)


def test_bad_factories_are_config_errors(digits):
    with pytest.raises(ConfigError, match="must be the name of a registered optimizer, not a "
                                          "function: register"):
        SweepConfig(optimizer=adam)
    with pytest.raises(ConfigError, match="unknown optimizer 'nope'; the registered "
                                          "optimizers are adam, adamw, sgd"):
        SweepConfig(optimizer="nope")
    cases = {"not_a_transform": (lambda hp: "adam", "returned str, not an optax"),
             "python_float": (lambda hp: optax.adam(float(hp["lr"])), "its factory failed"),
             "missing_key": (lambda hp: optax.adam(hp["learning_rate"]),
                             r"failed \(KeyError: 'learning_rate'\); a factory takes hp")}
    for name, (factory, message) in cases.items():
        with OPTIMIZERS.temporary(OptimizerSpec(name, factory)), \
                pytest.raises(ConfigError, match=message):
            train_sweep(_cfg(optimizer=name), dataset=digits, progress=False, log=None)
    with pytest.raises(TypeError, match="factory must be a function"):
        OptimizerSpec("x", "adam")


def test_factory_options_and_cli():
    """A factory may read the momentum axis (a grid over it is the factory's); the CLI names
    a registered factory like a built-in optimizer."""
    from corel_jax.cli import build_parser
    from corel_jax.train.cli import config_from_args

    assert SweepConfig(optimizer="clip_adamw", momentum=(0.5, 0.9)).momentum == (0.5, 0.9)
    argv = ["train", "--optimizer", "clip_adamw", "--weight-decay", "1e-4,1e-3", "--out", "x"]
    cfg = config_from_args(build_parser(argv).parse_args(argv))
    assert (cfg.optimizer, cfg.weight_decay) == ("clip_adamw", (1e-4, 1e-3))
    assert "clip_adamw" in build_parser(argv)._subparsers._group_actions[0].choices[
        "train"].format_help()
