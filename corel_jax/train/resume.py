"""Whether and how a sweep resumes: its checkpointer, and the checks that a run directory's
checkpoints belong to this sweep (configuration, data, chunk layout).

A sweep resumes on any number of devices and processes. The chunks already started (finished,
or with a checkpoint) keep the runs the checkpoints were written with, a chunk whose size is
not a multiple of this device count padded to one (:meth:`Placement.padded`), and the saved
states are placed on the new mesh (:mod:`corel_jax.train.checkpoint`); the chunks not yet
started are planned anew for this device count (:func:`continue_layout`).

The checkpoints themselves (what they hold, how they are written) are
:mod:`corel_jax.train.checkpoint`'s.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax

from corel_jax import rundir
from corel_jax.errors import ConfigError, CorelError
from corel_jax.train import memory
from corel_jax.train.checkpoint import SweepCheckpoint
from corel_jax.train.config import NOT_RESULT_FIELDS, SweepConfig
from corel_jax.train.memory import Layout
from corel_jax.train.placement import Placement, any_process, from_process_0
from corel_jax.train.writer import config_dict


def open_checkpointer(cfg: SweepConfig, run_dir: Path | None, resume: bool,
                      log) -> SweepCheckpoint | None:
    """The sweep's checkpointer, or None (no run directory, or checkpoint_every=0); refuses to
    start afresh over an unfinished sweep's checkpoints.

    Every process of a multi-process sweep opens one on the same ``run_dir`` (each saves its
    shards of the state there); process 0 alone checks and writes the run directory's files.
    """
    if resume and run_dir is None:
        raise ConfigError("resuming a sweep needs its run directory (out_dir)")
    if run_dir is None:
        return None
    ckpt = SweepCheckpoint(Path(run_dir) / rundir.CHECKPOINT_SUBDIR, epochs=cfg.epochs,
                           resuming=resume, log=log)
    # (other processes: process 0 may be replacing an earlier sweep's checkpoints right now)
    if not resume and jax.process_index() == 0 and ckpt.exists():
        raise ConfigError(f"{run_dir} holds checkpoints of an unfinished sweep; continue it "
                          f"with `corel-jax train --resume {run_dir}`, or delete "
                          f"{ckpt.directory}")
    if cfg.checkpoint_every == 0:
        if resume and ckpt.exists():
            return ckpt  # read what is there, write nothing new (see sweep.train_chunk)
        return None
    return ckpt


def agree(layout: Layout, ckpt: SweepCheckpoint | None, resume: bool,
          log) -> tuple[Layout, SweepCheckpoint | None]:
    """Several processes: process 0's chunk layout on every process (memory plans made on
    different hosts may differ), and the checkpoints only if every process sees process 0's
    ``layout.json`` (the run directory on a filesystem they share); else they are off, and a
    resume is refused. One process: ``(layout, ckpt)`` as they are.

    Call it after process 0 has written ``layout.json``.
    """
    if jax.process_count() == 1:
        return layout, ckpt
    values = from_process_0([layout.num_runs, layout.chunk_size, layout.num_chunks,
                             -1 if layout.num_devices is None else layout.num_devices,
                             int(layout.chunks is not None)])
    chunks = None
    if values[4]:  # the chunks listed: their (first, size), flat
        # (every process sends as many values as process 0: its own layout may differ)
        mine = layout.chunks if jax.process_index() == 0 else None
        flat = from_process_0([v for c in mine or ((0, 0),) * values[2] for v in c])
        chunks = tuple(zip(flat[0::2], flat[1::2]))
    layout = Layout(num_runs=values[0], chunk_size=values[1], num_chunks=values[2],
                    num_devices=None if values[3] < 0 else values[3], chunks=chunks)
    seen = True
    if ckpt is not None and jax.process_index() != 0:
        try:
            seen = ckpt.load_layout() == layout
        except CorelError:
            seen = False
    (unseen,) = any_process(ckpt is not None and not seen)
    if not unseen:
        return layout, ckpt
    where = ckpt.directory if ckpt is not None else "the run directory"
    if resume:
        raise ConfigError(f"cannot resume: not every process sees {where} as process 0 wrote "
                          f"it; give every process the same run directory on a filesystem "
                          f"they share")
    log(f"checkpoints are off: not every process sees {where} as process 0 wrote it (give "
        f"every process the same --out on a filesystem they share to checkpoint)")
    return layout, None


def check_library_version(out: Path, log) -> None:
    """Refuses to resume a sweep started by another major version of corel-jax (its
    checkpoints and results may differ); notes a different minor version."""
    from corel_jax import __version__

    try:
        man = rundir.read_manifest(out) or {}
    except CorelError:
        man = {}
    then = man.get("library_version") or rundir.load_config(out).get("corel_jax_version")
    if then is None or then == __version__:
        return
    if _major(then) != _major(__version__):
        raise ConfigError(f"cannot resume {out}: its sweep was started by corel-jax {then} and "
                          f"this is {__version__} (another major version); resume it with "
                          f"corel-jax {then}, or start a new sweep")
    log(f"resuming {out} (started by corel-jax {then}) with corel-jax {__version__}; "
        f"both are recorded in its config.json \"sessions\"")


def _major(version: str) -> str:
    return str(version).split(".")[0]


def saved_layout(ckpt: SweepCheckpoint | None, out: Path | None, cfg: SweepConfig, dataset,
                 placement: Placement, resume: bool, log=None) -> Layout | None:
    """The chunk layout ``ckpt`` was written with, after checking that this sweep may continue
    it (:func:`check_resumable` on process 0, which holds ``out``; :func:`check_layout`); None
    when there is none."""
    layout = ckpt.load_layout() if ckpt is not None else None
    if layout is None:
        return None
    if resume and out is not None:
        check_resumable(out, cfg, dataset)
    check_layout(layout, cfg.num_runs, placement, ckpt.directory, log)
    return layout


def check_resumable(out: Path, cfg: SweepConfig, dataset) -> None:
    """Refuses to resume ``out`` under a configuration or data that differ from the one its
    checkpoints were made with (``config.json``), naming what differs."""
    try:
        saved = rundir.load_config(out)
    except CorelError as e:
        raise ConfigError(f"{out} has checkpoints but no readable config.json ({e}); it "
                          f"cannot be resumed safely: restore {out / rundir.CONFIG}, or start "
                          f"a new sweep with --overwrite") from None
    now = config_dict(cfg, dataset)
    fields = [f.name for f in dataclasses.fields(SweepConfig) if f.name not in NOT_RESULT_FIELDS]
    differ = [k for k in fields + ["data_fingerprint", "optimizer_factory"]
              if k in saved and rundir.canonical(saved[k]) != rundir.canonical(now.get(k))]
    if differ:
        detail = "; ".join(f"{k}: {saved[k]!r} then, {now.get(k)!r} now" for k in differ)
        raise ConfigError(f"cannot resume {out}: its sweep was started with other settings "
                          f"({detail}); resume with the same ones, or start a new sweep in "
                          f"another directory")


def check_layout(layout: Layout, num_runs: int, placement: Placement,
                 directory: Path, log=None) -> None:
    """Refuses checkpoints written for another number of runs (the chunks would not match), or
    with no record of their device count (written before it was recorded)."""
    if layout.num_runs != num_runs:
        raise ConfigError(f"the checkpoints in {directory} are for {layout.num_runs} "
                          f"runs, but the configuration has {num_runs}")
    if layout.num_devices is None:
        raise ConfigError(f"the checkpoints in {directory} do not record the devices they "
                          f"were written on (an older corel-jax); resume with that version")


def continue_layout(layout: Layout, ckpt: SweepCheckpoint, cfg: SweepConfig, program, dataset,
                    placement: Placement, log) -> Layout:
    """The layout a resume on ``placement`` continues: ``layout`` itself on the device count
    it was planned for; on another, its chunks already started (finished, or with a
    checkpoint: they keep their runs, padded for these devices where needed) followed by the
    remaining runs planned anew for these devices (:func:`corel_jax.train.memory.sweep_plan`),
    so a sweep moved to fewer devices does not put more runs on each than its memory plan
    allows. Says what it does."""
    if layout.num_devices is None or layout.num_devices == placement.num_devices:
        return layout  # (no device count recorded: refused by check_layout)
    keep = min(max(ckpt.started_chunks(), default=-1) + 1, layout.num_chunks)
    if keep:
        kept = max(layout.size(c) for c in range(keep))
        size = placement.padded(kept)
        then = kept // layout.num_devices
        now = size // placement.num_devices
        log(f"resuming on {placement.num_devices} device(s) a sweep checkpointed on "
            f"{layout.num_devices}: its {keep} chunk(s) already started keep their "
            f"{kept} runs" + (f", padded to {size}" if size != kept else "")
            + f"; each device trains {now} run(s) of such a chunk ({then} before)"
            + (" and needs more memory than planned: if it runs out, resume on more devices"
               if now > then else "")
            + "; numbers equal the uninterrupted sweep's to float rounding (docs/guide/"
              "scale-out.md)")
    if keep == layout.num_chunks:
        return layout
    first = layout.first(keep)
    mem = memory.sweep_plan(cfg, program, dataset, layout.num_runs - first,
                            placement.num_devices)
    log(f"resuming on {placement.num_devices} device(s) a sweep checkpointed on "
        f"{layout.num_devices}: its {layout.num_chunks - keep} chunk(s) not yet started "
        f"(runs {first}-{layout.num_runs - 1}) are planned anew: "
        + mem.describe(layout.num_runs - first))
    chunks = [(layout.first(c), layout.size(c)) for c in range(keep)]
    chunks += [(first + i * mem.chunk_size, mem.chunk_size) for i in range(mem.num_chunks)]
    return Layout(num_runs=layout.num_runs, chunk_size=max(size for _, size in chunks),
                  num_chunks=len(chunks), num_devices=placement.num_devices,
                  chunks=tuple(chunks))
