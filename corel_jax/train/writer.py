"""Writing a sweep's run directory (the format: :mod:`corel_jax.rundir`)."""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np

from corel_jax import rundir
from corel_jax.errors import CorelError
from corel_jax.train.config import SweepConfig
from corel_jax.train.memory import Layout
from corel_jax.train.result import SweepResult


def environment() -> dict[str, Any]:
    """The versions, platform and devices a sweep ran with (``config.json["environment"]``)."""
    import flax
    import optax

    dev = jax.devices()[0]
    return {
        "jax": jax.__version__, "flax": flax.__version__, "optax": optax.__version__,
        "python": sys.version.split()[0], "platform": platform.platform(),
        "backend": jax.default_backend(), "device": str(dev.device_kind),
        "device_count": jax.device_count(), "process_count": jax.process_count(),
    }


def config_dict(cfg: SweepConfig, dataset) -> dict[str, Any]:
    """``config.json``: the configuration (``SweepConfig.from_dict`` reads it back) + facts."""
    from corel_jax.loss_spec import LOSSES

    spec = LOSSES.get(cfg.loss)
    config = {rundir.CONFIG_FORMAT_KEY: rundir.CONFIG_FORMAT_VERSION, **cfg.to_dict()}
    # what the evaluator needs to know about the loss (it does not import the loss registry)
    config.update(similarity=spec.similarity, lam_meaning=spec.lam)
    config.update(setting=cfg.setting, num_runs=cfg.num_runs, num_classes=dataset.num_classes,
                  class_names=list(dataset.class_names), dataset_sizes=dataset.sizes,
                  data_fingerprint=data_fingerprint(dataset))
    if cfg.shard is not None:  # num_runs is the shard's; a merge checks it holds them all
        config["sweep_num_runs"] = cfg.sweep_num_runs
    from corel_jax.optimizers import OPTIMIZERS, factory_name

    factory = OPTIMIZERS.get(cfg.optimizer).factory
    if factory is not None:  # an optimizer of one's own: which function the name stood for
        config["optimizer_factory"] = factory_name(factory)
    return config


def data_fingerprint(dataset) -> str:
    """SHA-256 over the arrays a sweep reads (every split, and the embedding table): equal
    exactly when the data are, whichever files or source they came from."""
    import hashlib

    h = hashlib.sha256()
    arrays = [dataset.x_train, dataset.y_train, dataset.x_val, dataset.y_val, dataset.x_test,
              dataset.y_test]
    if getattr(dataset, "embeddings", None) is not None:
        arrays.append(dataset.embeddings)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()


def planned_files(cfg: SweepConfig) -> list[str]:
    """Every file (relative path) the sweep of ``cfg`` writes into its run directory."""
    return rundir.result_files(cfg.num_runs, representations=cfg.save_representations)


def session_record(resumed: bool) -> dict[str, Any]:
    """One process's part in a sweep (``config.json["sessions"]``): when it started, whether
    it resumed, the library and environment it ran with; its timings are added at the end."""
    import datetime

    from corel_jax import __version__

    return {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"),
            "resumed": resumed, "corel_jax": __version__, "environment": environment()}


def write_run_arrays(out: Path, run: int, pred: np.ndarray, prototypes: np.ndarray,
                     h: np.ndarray | None) -> None:
    """One run's arrays (``runs/rNNN/``): test predictions, prototypes, representations."""
    arrays = {"test_pred": np.asarray(pred).astype(np.int32),
              "prototypes": np.asarray(prototypes).astype(np.float32)}
    if h is not None:
        arrays["test_h"] = np.asarray(h)
    rundir.write_run_arrays(out, run, **arrays)


def write_chunk_arrays(out: Path, first_run: int, piece) -> None:
    """The per-run arrays of a finished chunk (a :class:`~corel_jax.train.result.ChunkResult`
    whose first run is run ``first_run`` of the sweep), written as soon as the chunk is done,
    so that host memory holds one chunk's representations at a time, never the sweep's."""
    for i in range(len(piece.pred)):
        write_run_arrays(out, first_run + i, piece.pred[i], piece.head["W"][i],
                         piece.h[i] if piece.h is not None else None)


def write_run_dir(out: Path, result: SweepResult, dataset,
                  sessions: list[dict[str, Any]] | None = None) -> None:
    """Completes the run directory (format: :mod:`corel_jax.rundir`) whose per-run arrays
    the chunks wrote (:func:`write_chunk_arrays`): the sweep's files, then its manifest last,
    so the directory counts as complete only once every file is in place."""
    from corel_jax import __version__

    config = config_dict(result.config, dataset)
    sessions = [dict(s) for s in (sessions or [session_record(False)])]
    sessions[-1].update(timings=result.timings)
    # environment/timings: the last process's (as before sessions were recorded)
    config.update(environment=sessions[-1]["environment"], timings=result.timings,
                  corel_jax_version=__version__, sessions=sessions)
    written = []
    rundir.write_config(out, config)
    rundir.write_runs(out, result.records)
    rundir.write_curves(out, result.train_loss, result.val_acc)
    rundir.write_test_labels(out, result.test_labels)
    written += list(rundir.RESULT_FILES)
    names = [a for a in rundir.RUN_ARRAYS if a != "test_h" or result.test_h is not None]
    for i in range(len(result.records)):
        written += [rundir.run_array_path("", i, a).as_posix() for a in names]
    rundir.write_params(out, rundir.BEST_HEADS, result.heads)
    written.append(f"{rundir.PARAMS_SUBDIR}/{rundir.BEST_HEADS}")
    if result.final_params is not None:
        rundir.write_params(out, rundir.FINAL_PARAMS, result.final_params)
        written.append(f"{rundir.PARAMS_SUBDIR}/{rundir.FINAL_PARAMS}")
    rundir.write_manifest(out, files=written, complete=True)


def start_run_dir(out: Path, cfg: SweepConfig, dataset, *, resume: bool,
                  layout: Layout | None = None) -> list[dict[str, Any]]:
    """Writes ``config.json`` and the manifest ("incomplete", naming every file the sweep
    will write) before anything is trained, so that a sweep killed at any point can be
    resumed, and its files are known to be its own. The folder must have been claimed
    (:func:`corel_jax.train.ownership.claim`). Returns the sweep's session records so far
    (an earlier process's, when resuming, and this one's; a session whose chunks were planned
    anew on another device count records them, ``"chunks"``: ``[first run, size]`` each)."""
    from corel_jax import __version__

    sessions = []
    if resume:
        try:
            sessions = list(rundir.load_config(out).get("sessions", []))
        except CorelError:
            sessions = []
    sessions.append(session_record(resume))
    if layout is not None and layout.chunks is not None:
        # a resume on another device count re-planned the chunks not yet started: how
        sessions[-1]["chunks"] = layout.to_dict()["chunks"]
    config = config_dict(cfg, dataset)
    config.update(corel_jax_version=__version__, sessions=sessions)
    # config.json first: a sweep killed right after it can be resumed (a folder with only a
    # config.json counts as an incomplete run directory); then the manifest
    rundir.write_config(out, config)
    extra = {"layout": layout.to_dict()} if layout is not None else {}
    rundir.write_manifest(out, files=planned_files(cfg), complete=False, **extra)
    return sessions
