"""Driving a sweep: data on the device, chunks of runs, and the run directory.

:func:`train_sweep` puts the pieces together; each has a module of its own:

- :mod:`~corel_jax.train.inputs` -- the dataset and the encoder of a configuration;
- :mod:`~corel_jax.train.memory` -- how many runs fit in one program (the chunks);
- :mod:`~corel_jax.train.resume` -- the checkpointer, and whether a sweep may be resumed;
- :mod:`~corel_jax.train.chunk` -- training one chunk of runs, epoch after epoch;
- :mod:`~corel_jax.train.result` -- :class:`SweepResult`, assembled from the chunks;
- :mod:`~corel_jax.train.writer` -- writing the run directory.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from corel_jax import _faults, rundir
from corel_jax.data.augment import shift_augment
from corel_jax.errors import ConfigError, DamagedFileError
from corel_jax.train import memory, ownership, preemption
from corel_jax.train.chunk import ChunkResult, ChunkSetup, train_chunk
from corel_jax.train.config import SweepConfig
from corel_jax.train.engine import DeviceData, compile_program, make_program
from corel_jax.train.inputs import build_encoder, check_compatible, load_data, resolve_run_batch
from corel_jax.train.placement import Placement
from corel_jax.train.result import StoredRunArrays, SweepResult, assemble
from corel_jax.train.resume import (
    NOT_RESULT_FIELDS,
    check_library_version,
    check_resumable,
    open_checkpointer,
    saved_layout,
)
from corel_jax.train.writer import (
    data_fingerprint,
    environment,
    start_run_dir,
    write_chunk_arrays,
    write_run_dir,
)

# What this module offered before it was split; scripts and tests import these from here.
__all__ = [
    "NOT_RESULT_FIELDS",
    "SweepResult",
    "build_encoder",
    "check_compatible",
    "check_resumable",
    "data_fingerprint",
    "environment",
    "load_data",
    "resolve_run_batch",
    "train_sweep",
    "write_run_dir",
]


def train_sweep(cfg: SweepConfig, *, dataset=None, encoder=None,
                out_dir: str | Path | None = None, progress: bool = True, log=print,
                objective_fn=None, augment=None, resume: bool = False,
                overwrite: bool = False) -> SweepResult:
    """Trains every run of ``cfg`` and returns (and optionally writes) the results.

    Args:
      cfg: the sweep.
      dataset: a :class:`corel_jax.data.Dataset` (e.g. your own numpy arrays); loaded from
        ``cfg`` when None.
      encoder: a Flax module ``x -> h: [B, D]`` called as ``encoder(x, train=...)``; built
        from ``cfg.model``'s registered spec when None.
      out_dir: the run directory to write (see :mod:`corel_jax.rundir`), or None.
      progress: show a progress bar per epoch (mean and best validation accuracy over runs).
      log: where one-line messages go (``print`` by default; ``None`` for silence).
      objective_fn: optional custom training loss (see :func:`engine.make_program`).
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

    The run directory is locked for the sweep's whole life (a second writer is refused), and
    counts as complete only once its manifest, written last, says so (:mod:`corel_jax.rundir`).
    Checkpoints (``cfg.checkpoint_every``; written under ``out_dir/checkpoints/`` in
    single-process sweeps) are removed once the run directory is complete.
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
                           objective_fn=objective_fn, augment=augment)

    runs = cfg.runs
    placement = Placement.create()
    # Every process trains its share of the runs; process 0 writes the run directory.
    out = Path(out_dir) if out_dir is not None and jax.process_index() == 0 else None
    # Checked and locked before anything is written; nothing is touched if refused.
    lock = ownership.claim(out, resume=resume, overwrite=overwrite, log=log) \
        if out is not None else None
    try:
        with preemption.handle_sigterm():  # SIGTERM: checkpoint at the epoch's end, then stop
            return _train(cfg, runs, placement, out, dataset, program, log, progress, resume,
                          t_start)
    finally:
        if lock is not None:
            lock.release()


def _train(cfg, runs, placement, out, dataset, program, log, progress, resume, t_start):
    ckpt = open_checkpointer(cfg, out, resume, log)
    if resume and out is not None:
        check_library_version(out, log)
    layout = saved_layout(ckpt, out, cfg, dataset, placement, resume)
    if layout is None:
        mem = memory.sweep_plan(cfg, program, dataset, len(runs), placement.num_devices)
        log(mem.describe(len(runs)))
        layout = {"num_runs": len(runs), "chunk_size": mem.runs_per_program,
                  "num_chunks": mem.num_chunks, "num_devices": placement.num_devices}
    sessions = None
    if out is not None:
        sessions = start_run_dir(out, cfg, dataset, resume=resume, layout=layout)
        if ckpt is not None:
            ckpt.save_layout(layout)
    compiled = compile_program(program, run_batch=resolve_run_batch(cfg, placement),
                                pad_groups=cfg.pad_run_groups)
    # The data is replicated on every device; per-run arrays are sharded over the run axis.
    setup = ChunkSetup(
        cfg=cfg, compiled=compiled, placement=placement,
        data=placement.replicate(DeviceData(
            x_train=dataset.x_train, y_train=np.asarray(dataset.y_train, np.int32),
            x_val=dataset.x_val, y_val=np.asarray(dataset.y_val, np.int32))),
        x_test=placement.replicate(dataset.x_test),
        chunk_size=layout["chunk_size"], num_chunks=layout["num_chunks"],
        progress=progress and jax.process_index() == 0, log=log, ckpt=ckpt, out=out)

    timings: dict[str, Any] = {"compile_s": 0.0, "train_s": 0.0, "eval_s": 0.0}
    pieces = [_chunk(setup, c, runs, timings) for c in range(setup.num_chunks)]
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
        write_run_dir(out, result, dataset, sessions, run_arrays_written=True)
        result.out_dir = out
    if ckpt is not None:
        _faults.point(ckpt.directory)
        ckpt.remove()  # the run directory is complete: nothing left to resume
    return result


def _chunk(setup: ChunkSetup, c: int, runs, timings: dict[str, Any]) -> ChunkResult:
    """Chunk ``c``'s results: read back when a checkpoint holds the finished chunk, else
    trained (and then stored, when the sweep checkpoints). With a run directory, its per-run
    arrays are written there at once and its representations dropped from memory."""
    piece = _chunk_result(setup, c, runs, timings)
    if setup.out is not None:
        write_chunk_arrays(setup.out, c * setup.chunk_size, piece)
        piece = piece._replace(h=None)
    return piece


def _chunk_result(setup: ChunkSetup, c: int, runs, timings: dict[str, Any]) -> ChunkResult:
    ckpt = setup.ckpt
    train_setup = setup
    if ckpt is not None and ckpt.has_chunk(c):
        try:
            piece = ChunkResult.from_arrays(ckpt.load_chunk(c))
        except (DamagedFileError, KeyError, TypeError, ValueError) as e:
            # never ask the user to delete finished work: train this chunk again instead,
            # without checkpoints of its own (they would push a later chunk's out of the
            # checkpoints kept)
            setup.log(f"chunk {c + 1}/{setup.num_chunks}: {e}; training the chunk again")
            train_setup = dataclasses.replace(setup, ckpt=None)
        else:
            setup.log(f"chunk {c + 1}/{setup.num_chunks}: finished before, read from "
                      f"{ckpt.chunk_path(c)}")
            return piece
    piece = train_chunk(train_setup, c,
                        runs[c * setup.chunk_size:(c + 1) * setup.chunk_size], timings)
    if ckpt is not None and setup.cfg.checkpoint_every != 0:
        ckpt.save_chunk(c, piece.to_arrays())
    if preemption.requested() and c + 1 < setup.num_chunks:
        saved = ckpt is not None and setup.cfg.checkpoint_every != 0
        raise preemption.Preempted(
            f"stopped by SIGTERM after chunk {c + 1}/{setup.num_chunks}"
            + ("; the chunk is stored" if saved else "; no checkpoint (checkpoints are off)"),
            saved)
    return piece
