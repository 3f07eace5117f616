"""Live tracking: every run's metrics, epoch by epoch, to TensorBoard or Weights & Biases.

The engine calls a :class:`MetricsWriter` once per epoch of every chunk with the metrics of
that chunk's runs (:class:`EpochMetrics`); a writer keeps one entry per run of the sweep
(one TensorBoard log directory, one W&B run), named by the run's seed and the values of the
axes that vary. Writers are chosen by ``SweepConfig.track`` (``--track tensorboard,wandb``) or
passed to :func:`corel_jax.train.train_sweep` (``writers=``), e.g. one of your own: any object
with the three methods of :class:`MetricsWriter`.

Writers never change what a sweep computes; they read the metrics the engine already gathers
to the host (plus each run's best validation accuracy and whether it still trains).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from corel_jax import axes
from corel_jax.errors import ConfigError

#: the writers ``SweepConfig.track`` may name
TRACKERS = ("tensorboard", "wandb")


@dataclasses.dataclass(frozen=True)
class EpochMetrics:
    """One epoch of one chunk's runs, on the host; ``n`` runs, each array ``[n]``.

    Attributes:
      epoch: the 1-based epoch just trained.
      runs: the runs' indices in the sweep (``SweepConfig.runs``).
      train_loss: the epoch's mean training loss (NaN: the run did not train).
      val_acc: the validation accuracy after the epoch (NaN as above).
      best_val_acc: the best validation accuracy so far (-1 before any healthy epoch).
      training: whether the run still trains (not stopped early, not diverged).
    """

    epoch: int
    runs: Sequence[int]
    train_loss: np.ndarray
    val_acc: np.ndarray
    best_val_acc: np.ndarray
    training: np.ndarray


class MetricsWriter(Protocol):
    """Receives a sweep's metrics as it trains (see the module docstring)."""

    def start(self, cfg: Any, out_dir: Path | None) -> None:
        """Before the first epoch (of a resumed sweep too): the configuration and the run
        directory (None when the sweep writes none)."""

    def write(self, metrics: EpochMetrics) -> None:
        """After each epoch of each chunk."""

    def close(self) -> None:
        """After the last epoch (also when the sweep stops early, e.g. preempted)."""


def run_name(cfg: Any, index: int) -> str:
    """``r003-seed1-lambda0.5-lr0.001``: the run's index, seed and the values of the axes that
    vary in the sweep (λ always)."""
    run = cfg.runs[index]
    varied = [k for k in axes.NAMES if k == "lam" or k in cfg.varied]
    return "-".join([f"r{index:03d}", f"seed{run.seed}",
                     *(f"{axes.BY_NAME[k].text}{getattr(run, k):g}" for k in varied)])


def run_hparams(cfg: Any, index: int) -> dict[str, Any]:
    """The run's hyperparameters: its seed, every axis, and the sweep's loss and model."""
    run = cfg.runs[index]
    return {"seed": run.seed, **{k: float(getattr(run, k)) for k in axes.NAMES},
            "loss": cfg.loss, "model": cfg.model, "dataset": cfg.dataset}


def make_writers(names: Sequence[str], *, directory: Path | None) -> list[MetricsWriter]:
    """The writers ``names`` (:data:`TRACKERS`) ask for; their logs go under ``directory``
    (the run directory's ``tracking/``; required for TensorBoard)."""
    writers: list[MetricsWriter] = []
    for name in names:
        if name == "tensorboard":
            if directory is None:
                raise ConfigError("--track tensorboard writes its logs into the run "
                                  "directory: give --out (out_dir=)")
            writers.append(TensorBoardWriter(directory / "tensorboard"))
        elif name == "wandb":
            writers.append(WandbWriter(directory=directory))
        else:
            raise ConfigError(f"unknown tracker {name!r}; choose from {', '.join(TRACKERS)}")
    return writers


class TensorBoardWriter:
    """One TensorBoard log directory per run (``<log_dir>/<run name>/``, see
    :func:`run_name`): the scalars ``train/loss``, ``val/acc``, ``val/best_acc`` per epoch,
    and, when the sweep ends, the run's hyperparameters with its best validation accuracy in
    the HParams plugin. ``tensorboard --logdir <log_dir>`` shows the sweep, one entry per run.
    Needs ``tensorboardX`` (``pip install corel-jax[track]``)."""

    def __init__(self, log_dir: Path | str):
        try:
            import tensorboardX  # type: ignore[import-untyped]  # (ships no type information)
        except ImportError:
            raise ConfigError("--track tensorboard needs tensorboardX: pip install "
                              "tensorboardX (or corel-jax[track])") from None
        self._module = tensorboardX
        self.log_dir = Path(log_dir)
        self._writers: dict[int, Any] = {}
        self._best: dict[int, float] = {}
        self._cfg: Any = None

    def start(self, cfg: Any, out_dir: Path | None) -> None:
        self._cfg = cfg

    def _writer(self, run: int):
        if run not in self._writers:
            self._writers[run] = self._module.SummaryWriter(
                str(self.log_dir / run_name(self._cfg, run)))
        return self._writers[run]

    def write(self, metrics: EpochMetrics) -> None:
        for i, run in enumerate(metrics.runs):
            if not np.isfinite(metrics.val_acc[i]):
                continue  # not trained this epoch (stopped, diverged)
            w = self._writer(run)
            w.add_scalar("train/loss", float(metrics.train_loss[i]), metrics.epoch)
            w.add_scalar("val/acc", float(metrics.val_acc[i]), metrics.epoch)
            w.add_scalar("val/best_acc", float(metrics.best_val_acc[i]), metrics.epoch)
            self._best[run] = float(metrics.best_val_acc[i])

    def close(self) -> None:
        for run, w in self._writers.items():
            w.add_hparams(run_hparams(self._cfg, run), {"hparam/best_val_acc":
                                                        self._best.get(run, float("nan"))},
                          name="hparams")
            w.close()
        self._writers.clear()


class WandbWriter:
    """One Weights & Biases run per grid run, all in this process, grouped by the sweep (the
    run directory's name): ``train/loss``, ``val/acc``, ``val/best_acc`` per epoch, and the
    run's hyperparameters as its config. Offline with ``WANDB_MODE=offline`` (then
    ``wandb sync``). Needs ``wandb`` (``pip install corel-jax[track]``)."""

    def __init__(self, *, directory: Path | None = None, project: str = "corel-jax"):
        try:
            import wandb
        except ImportError:
            raise ConfigError("--track wandb needs wandb: pip install wandb (or "
                              "corel-jax[track])") from None
        self._wandb = wandb
        self.directory = directory
        self.project = project
        self._runs: dict[int, Any] = {}
        self._cfg: Any = None
        self._group: str | None = None

    def start(self, cfg: Any, out_dir: Path | None) -> None:
        self._cfg = cfg
        self._group = Path(out_dir).resolve().name if out_dir is not None else cfg.setting

    def _run(self, run: int):
        if run not in self._runs:
            directory = None
            if self.directory is not None:
                self.directory.mkdir(parents=True, exist_ok=True)
                directory = str(self.directory)
            self._runs[run] = self._wandb.init(
                project=self.project, group=self._group, name=run_name(self._cfg, run),
                config=run_hparams(self._cfg, run), reinit="create_new", dir=directory)
        return self._runs[run]

    def write(self, metrics: EpochMetrics) -> None:
        for i, run in enumerate(metrics.runs):
            if not np.isfinite(metrics.val_acc[i]):
                continue
            self._run(run).log({"train/loss": float(metrics.train_loss[i]),
                                "val/acc": float(metrics.val_acc[i]),
                                "val/best_acc": float(metrics.best_val_acc[i]),
                                "epoch": metrics.epoch}, step=metrics.epoch)

    def close(self) -> None:
        for r in self._runs.values():
            r.finish()
        self._runs.clear()
