"""Live tracking: TensorBoard event files (read back with TensorBoard's own reader) and W&B
offline runs, one entry per run of the sweep, holding the curves the run directory records."""

import numpy as np
import pytest

from corel_jax import rundir
from corel_jax.train import SweepConfig, train_sweep
from corel_jax.train.tracking import EpochMetrics, run_name


def _cfg(**kw):
    return SweepConfig(**{**dict(dataset="digits", loss="cosine", seeds=(0, 1), lams=(0.2, 0.8),
                                 epochs=2, width=32, batch_size=256, checkpoint_every=0), **kw})


def test_tensorboard_one_log_directory_per_run_with_its_curves(digits, tmp_path):
    pytest.importorskip("tensorboardX")
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    cfg = _cfg(track=("tensorboard",))
    result = train_sweep(cfg, dataset=digits, out_dir=tmp_path / "run", progress=False,
                         log=None)
    logs = tmp_path / "run" / rundir.TRACKING_SUBDIR / "tensorboard"
    names = sorted(p.name for p in logs.iterdir())
    assert names == sorted(run_name(cfg, i) for i in range(cfg.num_runs))
    assert names[0] == "r000-seed0-lambda0.2"
    for i in range(cfg.num_runs):
        acc = accumulator.EventAccumulator(str(logs / run_name(cfg, i)))
        acc.Reload()
        val = [(e.step, e.value) for e in acc.Scalars("val/acc")]
        loss = [e.value for e in acc.Scalars("train/loss")]
        assert [s for s, _ in val] == [1, 2]
        np.testing.assert_allclose([v for _, v in val], result.val_acc[i], rtol=1e-6)
        np.testing.assert_allclose(loss, result.train_loss[i], rtol=1e-6)
        hparams = logs / run_name(cfg, i) / "hparams"  # the HParams plugin's summary
        assert hparams.is_dir() and any(hparams.iterdir())
    # the run directory stays complete and its own: --overwrite removes the logs with it
    assert rundir.is_complete(tmp_path / "run")
    train_sweep(_cfg(), dataset=digits, out_dir=tmp_path / "run", progress=False, log=None,
                overwrite=True)
    assert not (tmp_path / "run" / rundir.TRACKING_SUBDIR).exists()


def test_wandb_offline_one_run_per_grid_run(digits, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = _cfg(track=("wandb",), seeds=(0,))
    train_sweep(cfg, dataset=digits, out_dir=tmp_path / "run", progress=False, log=None)
    runs = sorted((tmp_path / "run" / rundir.TRACKING_SUBDIR / "wandb").glob("offline-run-*"))
    assert len(runs) == cfg.num_runs == 2
    # each offline run's log (protobuf records; `wandb sync` uploads it) names its grid run
    # and holds its two epochs of metrics
    logs = [next(d.glob("run-*.wandb")).read_bytes() for d in runs]
    for i in range(cfg.num_runs):
        mine = [b for b in logs if run_name(cfg, i).encode() in b]
        assert len(mine) == 1, run_name(cfg, i)
        assert mine[0].count(b"val/acc") >= 2 and b"train/loss" in mine[0]


def test_a_writer_of_your_own_sees_every_run_every_epoch(digits):
    seen: list[EpochMetrics] = []

    class Collect:
        def start(self, cfg, out_dir):
            seen.append(cfg)

        def write(self, metrics):
            seen.append(metrics)

        def close(self):
            seen.append("closed")

    cfg = _cfg(max_chunk_size=2)  # 4 runs in 2 chunks
    result = train_sweep(cfg, dataset=digits, progress=False, log=None, writers=[Collect()])
    assert seen[0] is cfg and seen[-1] == "closed"
    epochs = [m for m in seen[1:-1]]
    assert [(m.epoch, list(m.runs)) for m in epochs] == [(1, [0, 1]), (2, [0, 1]),
                                                        (1, [2, 3]), (2, [2, 3])]
    for m in epochs:
        np.testing.assert_array_equal(m.val_acc, result.val_acc[list(m.runs), m.epoch - 1])
        assert m.training.all() and (m.best_val_acc >= m.val_acc - 1e-7).all()


def test_unknown_tracker_is_refused():
    from corel_jax.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown tracker 'mlflow'"):
        _cfg(track=("mlflow",))
