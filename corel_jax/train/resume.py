"""Whether and how a sweep resumes: its checkpointer, and the checks that a run directory's
checkpoints belong to this sweep (configuration, data, chunk layout, devices).

The checkpoints themselves (what they hold, how they are written) are
:mod:`corel_jax.train.checkpoint`'s.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax

from corel_jax import rundir
from corel_jax.errors import ConfigError, CorelError
from corel_jax.train.checkpoint import SweepCheckpoint
from corel_jax.train.config import NOT_RESULT_FIELDS, SweepConfig
from corel_jax.train.memory import Layout
from corel_jax.train.placement import Placement
from corel_jax.train.writer import config_dict


def open_checkpointer(cfg: SweepConfig, out: Path | None, resume: bool,
                      log) -> SweepCheckpoint | None:
    """The sweep's checkpointer, or None (no run directory, checkpoint_every=0, or several
    processes); refuses to start afresh over an unfinished sweep's checkpoints."""
    if resume and out is None and jax.process_index() == 0:
        raise ConfigError("resuming a sweep needs its run directory (out_dir)")
    if jax.process_count() > 1:
        if resume:
            raise ConfigError("--resume is supported for single-process sweeps only")
        if cfg.checkpoint_every != 0:
            log("checkpoints are off in multi-process sweeps")
        return None
    if out is None:
        return None
    ckpt = SweepCheckpoint(out / rundir.CHECKPOINT_SUBDIR, epochs=cfg.epochs, resuming=resume,
                           log=log)
    if not resume and ckpt.exists():
        raise ConfigError(f"{out} holds checkpoints of an unfinished sweep; continue it with "
                          f"`corel-jax train --resume {out}`, or delete {ckpt.directory}")
    if cfg.checkpoint_every == 0:
        if resume and ckpt.exists():
            return ckpt  # read what is there, write nothing new (see sweep.train_chunk)
        return None
    return ckpt


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
                 placement: Placement, resume: bool) -> Layout | None:
    """The chunk layout ``ckpt`` was written with, after checking that this sweep may continue
    it (:func:`check_resumable`, :func:`check_layout`); None when there is none."""
    layout = ckpt.load_layout() if ckpt is not None else None
    if layout is None:
        return None
    if resume:
        check_resumable(out, cfg, dataset)
    check_layout(layout, cfg.num_runs, placement, ckpt.directory)
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
    differ = [k for k in fields + ["data_fingerprint"]
              if k in saved and rundir.canonical(saved[k]) != rundir.canonical(now.get(k))]
    if differ:
        detail = "; ".join(f"{k}: {saved[k]!r} then, {now.get(k)!r} now" for k in differ)
        raise ConfigError(f"cannot resume {out}: its sweep was started with other settings "
                          f"({detail}); resume with the same ones, or start a new sweep in "
                          f"another directory")


def check_layout(layout: Layout, num_runs: int, placement: Placement,
                 directory: Path) -> None:
    """Refuses checkpoints written for another number of runs or devices (the chunks, and the
    sharding of the saved states, would not match)."""
    if layout.num_runs != num_runs:
        raise ConfigError(f"the checkpoints in {directory} are for {layout.num_runs} "
                          f"runs, but the configuration has {num_runs}")
    if layout.num_devices != placement.num_devices:
        raise ConfigError(f"the checkpoints in {directory} were written on "
                          f"{layout.num_devices} devices; resume on the same number "
                          f"(this process sees {placement.num_devices})")
