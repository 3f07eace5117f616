"""Training a sweep, in the order it happens: inputs, plan, compile, train the chunks, write.

:func:`train_sweep` takes these steps, each a function below:

1. **Inputs** -- the dataset and the encoder of the configuration (:func:`load_data`,
   :func:`build_encoder`), checked against it (:func:`check_compatible`).
2. **Plan** -- the :class:`~corel_jax.train.memory.Layout`: the runs split into chunks of
   equal size that fit in memory (:func:`corel_jax.train.memory.sweep_plan`), or, when
   resuming, the layout the checkpoints were written with (:mod:`corel_jax.train.resume`).
3. **Compile** -- one vmapped, jitted program (:mod:`corel_jax.train.engine`) that every
   chunk shares.
4. **Train the chunks** -- :func:`train_chunk`, one after another, epoch after epoch; each
   returns a :class:`~corel_jax.train.result.ChunkResult` whose per-run arrays are written
   to the run directory at once. A chunk finished before an interruption is read back from
   its checkpoint (:mod:`corel_jax.train.checkpoint`).
5. **Write** -- the :class:`~corel_jax.train.result.SweepResult` is assembled from the chunks
   and the run directory completed (:mod:`corel_jax.train.writer`; the format:
   :mod:`corel_jax.rundir`).

What passes between the steps: the :class:`Layout` (plan), the
:class:`~corel_jax.train.engine.CompiledProgram` (compile), the :class:`ChunkSetup` every
chunk shares, and the :class:`~corel_jax.train.result.ChunkResult` each returns.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from corel_jax import _faults, rundir
from corel_jax.data.augment import shift_augment
from corel_jax.errors import ConfigError, DamagedFileError
from corel_jax.train import memory, ownership, preemption
from corel_jax.train.config import SweepConfig
from corel_jax.train.engine import (
    CompiledProgram,
    DeviceData,
    compile_program,
    hparams,
    make_program,
)
from corel_jax.train.memory import Layout
from corel_jax.train.placement import Placement, any_process
from corel_jax.train.result import BEST_FIELDS, ChunkResult, StoredRunArrays, SweepResult, assemble
from corel_jax.train.resume import (
    agree,
    check_library_version,
    continue_layout,
    open_checkpointer,
    saved_layout,
)
from corel_jax.train.writer import start_run_dir, write_chunk_arrays, write_run_dir

#: the sweep's one-line messages (the plan, resuming, a damaged checkpoint, ...): INFO records;
#: the library configures no handler (``corel-jax`` prints them on stdout, see corel_jax.cli)
logger = logging.getLogger(__name__)


def train_sweep(cfg: SweepConfig, *, dataset=None, encoder=None,
                out_dir: str | Path | None = None, progress: bool = True,
                log: Callable[[str], Any] | None = logger.info,
                augment=None, resume: bool = False, overwrite: bool = False,
                writers: Sequence[Any] = ()) -> SweepResult:
    """Trains every run of ``cfg`` and returns (and optionally writes) the results.

    Args:
      cfg: the sweep.
      dataset: a :class:`corel_jax.data.Dataset` (e.g. your own numpy arrays); loaded from
        ``cfg`` when None.
      encoder: a Flax module ``x -> h: [B, D]`` called as ``encoder(x, train=...)``; built
        from ``cfg.model``'s registered spec when None.
      out_dir: the run directory to write (see :mod:`corel_jax.rundir`), or None.
      progress: show a progress bar per epoch (mean and best validation accuracy over runs).
      log: where one-line messages go: by default INFO records of the
        ``corel_jax.train.sweep`` logger (:mod:`logging`; shown once you configure logging,
        e.g. ``logging.basicConfig(level=logging.INFO)``); any callable of one string
        instead (``print``); ``None`` for silence.
      augment: optional training-minibatch augmentation ``(key, x) -> x`` (see
        :mod:`corel_jax.data.augment`) of your own; not part of ``cfg``, so a resumed sweep
        must be given the same one. ``cfg.augment_shift`` is the built-in one, recorded in
        the config (give one or the other).
      resume: continue the sweep checkpointed in ``out_dir`` (see
        :mod:`corel_jax.train.checkpoint`): finished chunks are read back, the chunk in
        progress restarts from its last checkpoint. The results equal an uninterrupted
        sweep's. Without a checkpoint the sweep starts from the beginning.
      overwrite: replace a finished (or checkpointed, unfinished) sweep in ``out_dir``;
        without it such a folder is refused. Either way a folder holding anything that is
        not a corel-jax run directory is refused, and only the earlier sweep's own files are
        deleted (:mod:`corel_jax.train.ownership`).
      writers: live metrics writers of your own (:class:`corel_jax.train.tracking.
        MetricsWriter`), besides those ``cfg.track`` names; called by process 0.

    The run directory is locked for the sweep's whole life (a second writer is refused), and
    counts as complete only once its manifest, written last, says so (:mod:`corel_jax.rundir`).
    Checkpoints (``cfg.checkpoint_every``; written under ``out_dir/checkpoints/``, by every
    process of a multi-process sweep, which must then all see ``out_dir``) are removed once
    the run directory is complete. A sweep resumes on any number of devices and processes.
    """
    log = log or (lambda *a, **k: None)
    t_start = time.perf_counter()
    if dataset is None:
        dataset = load_data(cfg)
    check_compatible(cfg, dataset)
    if cfg.augment_shift:
        if augment is not None:
            raise ConfigError(f"augment_shift={cfg.augment_shift} and augment= both given; "
                              f"use one (augment_shift=0 to train with your own augment)")
        augment = shift_augment(cfg.augment_shift)
    if encoder is None:
        encoder = build_encoder(cfg, dataset)
    program = make_program(cfg, encoder, dataset.num_classes, dataset.x_train[:1],
                           augment=augment)

    placement = Placement.create()
    # Every process trains its share of the runs; process 0 writes the run directory.
    out = Path(out_dir) if out_dir is not None and jax.process_index() == 0 else None
    # Checked and locked before anything is written; nothing is touched if refused.
    lock = ownership.claim(out, resume=resume, overwrite=overwrite, log=log) \
        if out is not None else None
    if jax.process_index() == 0:
        from corel_jax.train.tracking import make_writers

        directory = out / rundir.TRACKING_SUBDIR if out is not None else None
        writers = [*make_writers(cfg.track, directory=directory), *writers]
        for w in writers:
            w.start(cfg, out)
    else:
        writers = []
    try:
        with preemption.handle_sigterm():  # SIGTERM: checkpoint at the epoch's end, then stop
            return _train(cfg, placement, out, out_dir, dataset, program, log, progress,
                          resume, t_start, writers=writers)
    finally:
        for w in writers:
            w.close()
        if lock is not None:
            lock.release()


def _train(cfg, placement, out, out_dir, dataset, program, log, progress, resume, t_start,
           writers=()):
    runs = cfg.runs
    # every process checkpoints its shards into out_dir; process 0 writes the rest (out)
    ckpt = open_checkpointer(cfg, None if out_dir is None else Path(out_dir), resume, log)
    if resume and out is not None:
        check_library_version(out, log)
    # 2. plan
    layout = saved_layout(ckpt, out, cfg, dataset, placement, resume, log)
    if layout is not None:  # on another device count: the chunks not yet started planned anew
        layout = continue_layout(layout, ckpt, cfg, program, dataset, placement, log)
    else:
        mem = memory.sweep_plan(cfg, program, dataset, len(runs), placement.num_devices)
        log(mem.describe(len(runs)))
        layout = Layout(num_runs=len(runs), chunk_size=mem.chunk_size,
                        num_chunks=mem.num_chunks, num_devices=placement.num_devices)
    sessions = None
    if out is not None:
        sessions = start_run_dir(out, cfg, dataset, resume=resume, layout=layout)
        if ckpt is not None:
            ckpt.save_layout(layout)
    layout, ckpt = agree(layout, ckpt, resume, log)  # several processes: process 0's
    # 3. compile
    compiled = compile_program(program, run_batch=resolve_run_batch(cfg, placement),
                               pad_groups=cfg.pad_run_groups)
    # 4. train the chunks. The data is replicated on every device; per-run arrays are
    # sharded over the run axis.
    setup = ChunkSetup(
        cfg=cfg, compiled=compiled, placement=placement,
        data=placement.replicate(DeviceData(
            x_train=dataset.x_train, y_train=np.asarray(dataset.y_train, np.int32),
            x_val=dataset.x_val, y_val=np.asarray(dataset.y_val, np.int32))),
        x_test=placement.replicate(dataset.x_test), layout=layout,
        progress=progress and jax.process_index() == 0, log=log, ckpt=ckpt, out=out,
        writers=tuple(writers))
    timings: dict[str, Any] = {"compile_s": 0.0, "train_s": 0.0, "eval_s": 0.0}
    pieces = [_chunk(setup, c, runs, timings) for c in range(layout.num_chunks)]
    # 5. write
    stored_h = None
    if out is not None:
        # the chunks wrote their per-run arrays (the representations are not in memory)
        stored_h = StoredRunArrays([rundir.run_array_path(out, i, "test_h")
                                    for i in range(len(runs))]) \
            if cfg.save_representations else None
        if not cfg.save_representations:  # an earlier process of a resumed sweep saved some
            for i in range(len(runs)):
                rundir.run_array_path(out, i, "test_h").unlink(missing_ok=True)
    result = assemble(cfg, pieces, runs, np.asarray(dataset.y_test, np.int32), timings,
                      stored_h=stored_h)
    timings["total_s"] = time.perf_counter() - t_start
    if out is not None:
        write_run_dir(out, result, dataset, sessions)
        result.out_dir = out
    if ckpt is not None:
        _faults.point(ckpt.directory)
        ckpt.remove()  # the run directory is complete: nothing left to resume
    return result


# ------------------------------------------------------------------- 1. inputs


def load_data(cfg: SweepConfig):
    """The :class:`corel_jax.data.Dataset` ``cfg`` names (its source, split and options)."""
    from corel_jax.data import load_dataset

    kwargs = dict(cfg.dataset_options)
    if cfg.val_size is not None:
        kwargs["val_size"] = cfg.val_size
    return load_dataset(cfg.dataset, cfg.data_dir, source=cfg.data_source,
                        split_seed=cfg.split_seed, **kwargs)


def build_encoder(cfg: SweepConfig, dataset):
    """The encoder module for ``cfg.model``: its registered spec builds it from the config
    (sizes) and the data (e.g. the embedding table)."""
    from corel_jax.models import ENCODERS

    return ENCODERS.get(cfg.model).build(cfg, dataset)


def check_compatible(cfg: SweepConfig, dataset) -> None:
    """Input checks that need the data (before anything is compiled): the split the config
    names, and the batch size. (Labels outside ``[0, K)`` cannot reach here:
    :class:`~corel_jax.data.Dataset` refuses them.)"""
    # A dataset passed in was split by its loader: a config that names another split would
    # be recorded beside results it did not produce.
    n_val = len(dataset.y_val)
    if cfg.val_size is not None and n_val != cfg.val_size:
        raise ConfigError(f"the config asks for val_size={cfg.val_size} but the dataset passed "
                          f"in has {n_val} validation examples; load it with that val_size "
                          f"(corel_jax.train.sweep.load_data(cfg)) or set val_size={n_val}")
    seed = dataset.info.get("split_seed")
    if seed is not None and seed != cfg.split_seed:
        raise ConfigError(f"the config asks for split_seed={cfg.split_seed} but the dataset "
                          f"passed in was split with split_seed={seed}; load it with the "
                          f"config's (corel_jax.train.sweep.load_data(cfg)) or set "
                          f"split_seed={seed}")
    n_train = len(dataset.y_train)
    if cfg.batch_size > n_train:
        raise ConfigError(f"batch_size {cfg.batch_size} is larger than the training set "
                          f"({n_train} examples); lower --batch-size")


def resolve_run_batch(cfg: SweepConfig, placement: Placement) -> int | None:
    """Runs vmapped together per epoch (see :func:`engine.compile_program`); None = all."""
    if placement.num_devices > 1:
        return None  # the run axis is sharded: every device vmaps its own share
    if cfg.run_batch is not None:
        return cfg.run_batch
    # On one CPU device, small vmapped groups under lax.map run faster than one wide vmap
    # (their matmuls stay unbatched).
    return 2 if jax.default_backend() == "cpu" else None


# ------------------------------------------------------------- 4. train the chunks


@dataclasses.dataclass(frozen=True)
class ChunkSetup:
    """What every chunk of a sweep shares (fixed for the whole sweep).

    Attributes:
      cfg: the sweep.
      compiled: the vmapped, jitted program.
      placement: where the arrays live (the run axis sharded over the devices).
      data: the training and validation splits, replicated on every device.
      x_test: the test inputs ``[N_test, ...]``, replicated on every device.
      layout: the split of the runs into chunks (chunks with fewer real runs are padded to
        its chunk size).
      progress: show a progress bar per chunk.
      log: where one-line messages go.
      ckpt: the sweep's :class:`~corel_jax.train.checkpoint.SweepCheckpoint`, or None.
      out: the run directory (process 0 of a sweep that writes one), or None.
      writers: the live metrics writers (:mod:`corel_jax.train.tracking`), process 0's.
    """

    cfg: SweepConfig
    compiled: CompiledProgram
    placement: Placement
    data: DeviceData
    x_test: jax.Array
    layout: Layout
    progress: bool
    log: Callable[..., Any]
    ckpt: Any = None
    out: Any = None
    writers: tuple = ()

    def description(self, index: int) -> str:
        """The progress bar's label of chunk ``index``."""
        desc = f"{self.cfg.setting} {self.cfg.loss}"
        if self.layout.num_chunks > 1:
            desc += f" [{index + 1}/{self.layout.num_chunks}]"
        return desc


def _chunk(setup: ChunkSetup, c: int, runs, timings: dict[str, Any]) -> ChunkResult:
    """Chunk ``c``'s results: read back when a checkpoint holds the finished chunk, else
    trained (and then stored, when the sweep checkpoints). With a run directory, its per-run
    arrays are written there at once and its representations dropped from memory."""
    piece = _chunk_result(setup, c, runs, timings)
    if setup.out is not None:
        write_chunk_arrays(setup.out, setup.layout.first(c), piece)
        piece = piece._replace(h=None)
    return piece


def _chunk_result(setup: ChunkSetup, c: int, runs, timings: dict[str, Any]) -> ChunkResult:
    ckpt = setup.ckpt
    train_setup = setup
    if ckpt is not None and ckpt.has_chunk(c):
        try:
            piece, problem = ChunkResult.from_arrays(ckpt.load_chunk(c)), None
        except (DamagedFileError, KeyError, TypeError, ValueError) as e:
            problem = e
        if any_process(problem is not None)[0]:  # every process trains it, or none
            # never ask the user to delete finished work: train this chunk again instead,
            # without checkpoints of its own (they would push a later chunk's out of the
            # checkpoints kept)
            setup.log(f"chunk {c + 1}/{setup.layout.num_chunks}: "
                      f"{problem or 'damaged on another process'}; training the chunk again")
            train_setup = dataclasses.replace(setup, ckpt=None)
        else:
            setup.log(f"chunk {c + 1}/{setup.layout.num_chunks}: finished before, read from "
                      f"{ckpt.chunk_path(c)}")
            return piece
    first = setup.layout.first(c)
    piece = train_chunk(train_setup, c, runs[first:first + setup.layout.size(c)], timings)
    if ckpt is not None and setup.cfg.checkpoint_every != 0:
        ckpt.save_chunk(c, piece.to_arrays())
    if c + 1 < setup.layout.num_chunks and any_process(preemption.requested())[0]:
        saved = ckpt is not None and setup.cfg.checkpoint_every != 0
        raise preemption.Preempted(
            f"stopped by SIGTERM after chunk {c + 1}/{setup.layout.num_chunks}"
            + ("; the chunk is stored" if saved else "; no checkpoint (checkpoints are off)"),
            saved)
    return piece


def train_chunk(setup: ChunkSetup, index: int, runs: Sequence,
                timings: dict[str, float]) -> ChunkResult:
    """Trains chunk ``index`` (``runs``: its :class:`~corel_jax.train.config.Run` s), padded
    to its planned size (``setup.layout.size(index)``) so chunks of one size share one
    program.

    With a checkpointer the chunk starts from its last checkpoint (if any) and saves new ones
    on its schedule (``cfg.checkpoint_every``). Adds the seconds spent to ``timings``
    (``compile_s``, ``train_s``, ``first_epoch_s``, ``eval_s``; ``epochs``: epochs trained).
    """
    from corel_jax.train.checkpoint import Schedule

    cfg, placement, ckpt = setup.cfg, setup.placement, setup.ckpt
    desc = setup.description(index)
    n = len(runs)
    # (a chunk planned for another device count is padded to a multiple of this one)
    padded = list(runs) + [runs[0]] * (placement.padded(setup.layout.size(index)) - n)
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
        if setup.writers:
            _track(setup, index, epoch + 1, state, m, n)
        healthy = va[np.isfinite(va)]
        bar.set_postfix_str(
            f"val acc mean {np.mean(healthy):.4f} best {np.max(healthy):.4f}, "
            f"{healthy.size}/{n} training" if healthy.size else "no run training")
        bar.update(1)
        more = epoch + 1 < cfg.epochs
        # every process stops (and saves) at the same epoch: SIGTERM may reach only some
        stop, due = any_process(more and preemption.requested(),
                                more and schedule is not None and schedule.due(epoch + 1))
        if stop:
            bar.close()
            saved = schedule is not None
            if saved:
                ckpt.save_state(index, epoch + 1, state, curves)
            raise preemption.Preempted(
                f"stopped by SIGTERM after epoch {epoch + 1} of chunk {index + 1}/"
                f"{setup.layout.num_chunks}" + ("; checkpoint saved" if saved else
                                         "; no checkpoint (checkpoints are off)"), saved)
        if due:
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


def _track(setup: ChunkSetup, index: int, epoch: int, state, m, n: int) -> None:
    """Hands the epoch's metrics of the chunk's ``n`` real runs to the writers."""
    from corel_jax.train.tracking import EpochMetrics

    s = setup.placement.gather({"best": state.best_val_acc, "d": state.diverged_epoch,
                                "s": state.stopped_epoch})
    first = setup.layout.first(index)
    metrics = EpochMetrics(epoch=epoch, runs=range(first, first + n),
                           train_loss=m["train_loss"][:n], val_acc=m["val_acc"][:n],
                           best_val_acc=np.asarray(s["best"])[:n],
                           training=(np.asarray(s["d"])[:n] == 0) & (np.asarray(s["s"])[:n] == 0))
    for w in setup.writers:
        w.write(metrics)


def _any_active(placement: Placement, state, n: int) -> bool:
    """Whether any of the chunk's ``n`` real runs still trains."""
    ended = placement.gather({"d": state.diverged_epoch, "s": state.stopped_epoch})
    return bool(np.any((ended["d"][:n] == 0) & (ended["s"][:n] == 0)))


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="epoch", disable=not enabled, leave=True,
                dynamic_ncols=True, file=sys.stderr)
