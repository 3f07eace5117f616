"""Training one chunk of a sweep's runs: one compiled program, epoch after epoch.

A sweep whose runs do not fit in memory together is split into chunks (see
:func:`corel_jax.train.memory.plan`); every chunk is padded to the same number of runs, so all
chunks share one compiled epoch. :func:`train_chunk` trains one and returns a
:class:`ChunkResult`; :func:`corel_jax.train.result.assemble` concatenates them.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import numpy as np

from corel_jax import rundir
from corel_jax.train import preemption
from corel_jax.train.config import SweepConfig
from corel_jax.train.engine import CompiledProgram, DeviceData, hparams
from corel_jax.train.placement import Placement

#: the per-run best-epoch records of the engine's RunState, int32/float32 ``[n]`` each
BEST_FIELDS = ("best_val_acc", "best_epoch", "diverged_epoch", "stopped_epoch")
#: the ChunkResult fields that are nested dicts of arrays (flattened with "/" in a chunk file)
NESTED_FIELDS = ("head", "final_params")


class ChunkResult(NamedTuple):
    """One chunk's runs after training; ``n`` is the chunk's real runs (padding dropped), ``E``
    the configured epochs, ``N_test`` the test examples, ``D`` the representation size.

    Attributes:
      train_loss: float32 ``[n, E]`` mean training loss per epoch (NaN: not trained, i.e.
        after a run stopped or diverged).
      val_acc: float32 ``[n, E]`` validation accuracy per epoch (NaN as above).
      pred: int32 ``[n, N_test]`` test predictions at each run's best epoch.
      h: float32 ``[n, N_test, D]`` test representations at the best epoch, or None
        (``save_representations`` off).
      head: the output layer at the best epoch, ``{"W": [n, K, D], "b": [n, K],
        "gamma": [n], ...}`` (the keys the loss's head has).
      best_val_acc: float32 ``[n]`` best validation accuracy (-1: no healthy epoch).
      best_epoch: int32 ``[n]`` its 1-based epoch (0: none).
      diverged_epoch: int32 ``[n]`` 1-based epoch the run went NaN/inf (0: healthy).
      stopped_epoch: int32 ``[n]`` 1-based epoch early stopping ended the run (0: not).
      final_params: the parameters after the last trained epoch, a pytree of ``[n, ...]``.
    """

    train_loss: np.ndarray
    val_acc: np.ndarray
    pred: np.ndarray
    h: np.ndarray | None
    head: dict[str, np.ndarray]
    best_val_acc: np.ndarray
    best_epoch: np.ndarray
    diverged_epoch: np.ndarray
    stopped_epoch: np.ndarray
    final_params: Any

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat ``{name: array}`` (nested fields as ``"head/W"``, ``"final_params/..."``, see
        :func:`corel_jax.rundir.flatten_tree`; no ``h`` when it is None), as a finished chunk
        is stored (:meth:`corel_jax.train.checkpoint.SweepCheckpoint.save_chunk`)."""
        arrays: dict[str, np.ndarray] = {}
        for k, v in self._asdict().items():
            if v is None:
                continue
            if k in NESTED_FIELDS:
                arrays.update(rundir.flatten_tree(v, prefix=k))
            else:
                arrays[k] = np.asarray(v)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ChunkResult:
        """The inverse of :meth:`to_arrays`; also reads chunks stored before early stopping
        existed (no ``stopped_epoch``: no run stopped)."""
        flat: dict[str, Any] = {"h": None}
        nested: dict[str, dict] = {k: {} for k in NESTED_FIELDS}
        for k, v in arrays.items():
            top, _, rest = k.partition("/")
            if top in nested and rest:
                nested[top][rest] = v
            else:
                flat[k] = v
        flat.setdefault("stopped_epoch", np.zeros(len(flat["pred"]), np.int32))
        return cls(**flat, **{k: rundir.unflatten_tree(v) for k, v in nested.items()})


@dataclasses.dataclass(frozen=True)
class ChunkSetup:
    """What every chunk of a sweep shares (fixed for the whole sweep).

    Attributes:
      cfg: the sweep.
      compiled: the vmapped, jitted program.
      placement: where the arrays live (the run axis sharded over the devices).
      data: the training and validation splits, replicated on every device.
      x_test: the test inputs ``[N_test, ...]``, replicated on every device.
      chunk_size: runs per chunk (chunks with fewer real runs are padded to it).
      num_chunks: chunks in the sweep.
      progress: show a progress bar per chunk.
      log: where one-line messages go.
      ckpt: the sweep's :class:`~corel_jax.train.checkpoint.SweepCheckpoint`, or None.
      out: the run directory (process 0 of a sweep that writes one), or None.
    """

    cfg: SweepConfig
    compiled: CompiledProgram
    placement: Placement
    data: DeviceData
    x_test: jax.Array
    chunk_size: int
    num_chunks: int
    progress: bool
    log: Callable[..., Any]
    ckpt: Any = None
    out: Any = None

    def description(self, index: int) -> str:
        """The progress bar's label of chunk ``index``."""
        desc = f"{self.cfg.setting} {self.cfg.loss}"
        if self.num_chunks > 1:
            desc += f" [{index + 1}/{self.num_chunks}]"
        return desc


def train_chunk(setup: ChunkSetup, index: int, runs: Sequence,
                timings: dict[str, float]) -> ChunkResult:
    """Trains chunk ``index`` (``runs``: its :class:`~corel_jax.train.config.Run` s), padded
    to ``setup.chunk_size`` runs so every chunk shares one program.

    With a checkpointer the chunk starts from its last checkpoint (if any) and saves new ones
    on its schedule (``cfg.checkpoint_every``). Adds the seconds spent to ``timings``
    (``compile_s``, ``train_s``, ``first_epoch_s``, ``eval_s``; ``epochs``: epochs trained).
    """
    from corel_jax.train.checkpoint import Schedule

    cfg, placement, ckpt = setup.cfg, setup.placement, setup.ckpt
    desc = setup.description(index)
    n = len(runs)
    padded = list(runs) + [runs[0]] * (setup.chunk_size - n)
    seeds = placement.shard_runs(np.asarray([r.seed for r in padded], np.uint32))
    hp = placement.shard_runs(hparams(padded))
    state = setup.compiled.init(seeds, hp)
    # Per-epoch curves, filled as the epochs go (NaN: not trained, stopped or diverged).
    curves = {"train_loss": np.full((n, cfg.epochs), np.nan, np.float32),
              "val_acc": np.full((n, cfg.epochs), np.nan, np.float32)}
    start = 0
    if ckpt is not None and ckpt.resuming:
        restored = ckpt.restore_state(index, state, curves)
        if restored is not None:
            start, state, curves = restored
            setup.log(f"resumed {desc} from its checkpoint after epoch {start}")
    if placement.num_devices > 1:
        state = placement.on_runs(state)
    # checkpoint_every=0 with a checkpointer: resuming reads what is there, writes nothing new
    schedule = Schedule(cfg.checkpoint_every) if ckpt is not None and \
        cfg.checkpoint_every != 0 else None
    bar = _progress(cfg.epochs, desc, setup.progress)
    bar.update(start)
    for epoch in range(start, cfg.epochs):
        if epoch > start and not _any_active(placement, state, n):
            # Every run has stopped (or diverged): the program ends here.
            bar.set_postfix_str(f"all runs stopped after epoch {epoch}")
            bar.update(cfg.epochs - epoch)
            break
        if epoch == start:  # compile ahead of time, so compile_s is compilation alone
            t0 = time.perf_counter()
            train_epoch = setup.compiled.train_epoch.lower(state, hp, setup.data).compile()
            timings["compile_s"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        state, metrics = train_epoch(state, hp, setup.data)
        m = placement.gather(metrics)
        dt = time.perf_counter() - t0
        timings["train_s"] += dt
        if epoch == start:
            timings["first_epoch_s"] = timings.get("first_epoch_s", 0.0) + dt
        timings["epochs"] = timings.get("epochs", 0) + 1
        curves["train_loss"][:, epoch] = m["train_loss"][:n]
        curves["val_acc"][:, epoch] = va = m["val_acc"][:n]
        healthy = va[np.isfinite(va)]
        bar.set_postfix_str(
            f"val acc mean {np.mean(healthy):.4f} best {np.max(healthy):.4f}, "
            f"{healthy.size}/{n} training" if healthy.size else "no run training")
        bar.update(1)
        if epoch + 1 < cfg.epochs and preemption.requested():
            bar.close()
            saved = schedule is not None
            if saved:
                ckpt.save_state(index, epoch + 1, state, curves)
            raise preemption.Preempted(
                f"stopped by SIGTERM after epoch {epoch + 1} of chunk {index + 1}/"
                f"{setup.num_chunks}" + ("; checkpoint saved" if saved else
                                         "; no checkpoint (checkpoints are off)"), saved)
        if schedule is not None and epoch + 1 < cfg.epochs and schedule.due(epoch + 1):
            # (the chunk's last epoch is covered by its finished-chunk file)
            ckpt.save_state(index, epoch + 1, state, curves)
            schedule.saved()
    bar.close()
    t0 = time.perf_counter()
    outputs = _best_epoch_outputs(setup, state, n)
    timings["eval_s"] += time.perf_counter() - t0
    return ChunkResult(
        train_loss=curves["train_loss"], val_acc=curves["val_acc"], **outputs,
        final_params=jax.tree.map(lambda x: x[:n], placement.gather(state.params)))


def _best_epoch_outputs(setup: ChunkSetup, state, n: int) -> dict[str, Any]:
    """The test predictions and representations at the best epoch (``pred``, ``h``,
    ``head``) and the best-epoch records (:data:`BEST_FIELDS`) of the chunk's ``n`` real runs,
    on the host (see :class:`ChunkResult`)."""
    placement = setup.placement
    h, pred, head = setup.compiled.represent(state.best_params, setup.x_test)
    pred = placement.gather(pred)[:n]
    head = {k: v[:n] for k, v in placement.gather(head).items()}
    h = placement.gather(h)[:n] if setup.cfg.save_representations else None
    best = placement.gather({k: getattr(state, k) for k in BEST_FIELDS})
    return {"pred": pred, "h": h, "head": head,
            **{k: np.asarray(v)[:n] for k, v in best.items()}}


def _any_active(placement: Placement, state, n: int) -> bool:
    """Whether any of the chunk's ``n`` real runs still trains."""
    ended = placement.gather({"d": state.diverged_epoch, "s": state.stopped_epoch})
    return bool(np.any((ended["d"][:n] == 0) & (ended["s"][:n] == 0)))


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="epoch", disable=not enabled, leave=True,
                dynamic_ncols=True, file=sys.stderr)
