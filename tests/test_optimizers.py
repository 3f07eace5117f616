"""Optimisers and learning-rate schedules: the values of the schedule, SGD with momentum as a
grid axis, a warmup grid in one program, and a cosine schedule through a resume."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from corel_jax.errors import ConfigError
from corel_jax.train import SweepConfig, train_sweep
from corel_jax.train.engine import learning_rate


def _lr(schedule, count, warmup=0.0, steps=10, epochs=4, lr=0.1):
    hp = {"lr": jnp.float32(lr), "warmup_epochs": jnp.float32(warmup)}
    return float(learning_rate(hp, jnp.int32(count), schedule=schedule, steps_per_epoch=steps,
                               total_steps=epochs * steps))


def test_schedule_values_by_hand():
    # 4 epochs x 10 steps = 40 updates; warmup 1 epoch = 10 updates
    assert _lr("constant", 25) == pytest.approx(0.1)
    assert _lr("warmup", 0, warmup=1.0) == pytest.approx(0.01)   # 0.1 * 1/10
    assert _lr("warmup", 4, warmup=1.0) == pytest.approx(0.05)   # 0.1 * 5/10
    assert _lr("warmup", 30, warmup=1.0) == pytest.approx(0.1)
    assert _lr("warmup", 0, warmup=0.0) == pytest.approx(0.1)    # no warmup: lr from the start
    assert _lr("cosine", 0) == pytest.approx(0.1)
    assert _lr("cosine", 20) == pytest.approx(0.05)               # half way: cos(π/2)
    assert _lr("cosine", 40) == pytest.approx(0.0, abs=1e-8)
    # warmup then cosine over the remaining 30 updates: at update 25, 15/30 of the decay
    assert _lr("warmup_cosine", 25, warmup=1.0) == pytest.approx(0.05)
    assert _lr("warmup_cosine", 9, warmup=1.0) == pytest.approx(0.1)
    # 5/10 of the warmup, no decay yet: 0.1 · 5/10 · ½(1 + cos 0)
    assert _lr("warmup_cosine", 4, warmup=1.0) == pytest.approx(0.1 * 0.5 * 0.5 * (1 + math.cos(0)))


def test_options_are_checked():
    with pytest.raises(ConfigError, match="momentum .* is SGD's"):
        SweepConfig(momentum=0.5)
    with pytest.raises(ConfigError, match="warmup_epochs .* needs --schedule warmup"):
        SweepConfig(warmup_epochs=1.0, schedule="cosine")
    with pytest.raises(ConfigError, match="unknown schedule 'linear'"):
        SweepConfig(schedule="linear")
    with pytest.raises(ConfigError, match="decoupled_weight_decay is AdamW's"):
        SweepConfig(optimizer="sgd", decoupled_weight_decay=True, weight_decay=1e-4)
    with pytest.raises(ConfigError, match=r"momentum must lie in \[0, 1\)"):
        SweepConfig(optimizer="sgd", momentum=1.0)


def _cfg(**kw):
    base = dict(dataset="digits", loss="cosine", epochs=3, seeds=(0,), batch_size=256,
                width=32, checkpoint_every=0)
    return SweepConfig(**{**base, **kw})


def test_optimizer_axes_in_one_program_equal_runs_alone(digits):
    """A grid over momentum (SGD) and over warmup length runs in one program; each run equals
    the same run trained alone, and warmup 0 equals the constant schedule."""
    grid = train_sweep(_cfg(optimizer="sgd", lr=0.05, momentum=(0.0, 0.9), run_batch=1),
                       dataset=digits, progress=False, log=None)
    alone = train_sweep(_cfg(optimizer="sgd", lr=0.05, momentum=0.0, run_batch=1),
                        dataset=digits, progress=False, log=None)
    np.testing.assert_allclose(grid.val_acc[:1], alone.val_acc, rtol=1e-6)
    assert [r["momentum"] for r in grid.records] == [0.0, 0.9]
    assert not np.allclose(grid.train_loss[0], grid.train_loss[1])  # momentum matters

    warm = train_sweep(_cfg(schedule="warmup", warmup_epochs=(0.0, 2.0), run_batch=1),
                       dataset=digits, progress=False, log=None)
    const = train_sweep(_cfg(run_batch=1), dataset=digits, progress=False, log=None)
    np.testing.assert_allclose(warm.train_loss[0], const.train_loss[0], rtol=1e-6)
    assert warm.train_loss[1, 0] != pytest.approx(float(const.train_loss[0, 0]), rel=1e-3)
    assert [r["warmup_epochs"] for r in warm.records] == [0.0, 2.0]


def test_cosine_schedule_resumes_exactly(digits, tmp_path, preempt):
    """The schedule reads the optimizer's update count, which the checkpoint holds: a sweep
    preempted after epoch 2 (SIGTERM, simulated) and resumed equals the uninterrupted one."""
    cfg = _cfg(schedule="cosine", epochs=4, checkpoint_every=1, run_batch=1)
    full = train_sweep(cfg, dataset=digits, progress=False, log=None)
    preempt(cfg, digits, tmp_path / "run")
    messages = []
    resumed = train_sweep(cfg, dataset=digits, out_dir=tmp_path / "run", resume=True,
                          progress=False, log=messages.append)
    assert any("after epoch 2" in m for m in messages), messages
    np.testing.assert_allclose(resumed.train_loss, full.train_loss, rtol=1e-6)
    np.testing.assert_array_equal(resumed.val_acc, full.val_acc)
