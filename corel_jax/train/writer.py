"""Writing a sweep's run directory (the format: :mod:`corel_jax.rundir`)."""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np

from corel_jax import rundir
from corel_jax.train.config import SweepConfig
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
    from corel_jax.models.loss_spec import get_loss

    spec = get_loss(cfg.loss)
    config = cfg.to_dict()
    # what the evaluator needs to know about the loss (it does not import the loss registry)
    config.update(similarity=spec.similarity, lam_meaning=spec.lam)
    config.update(setting=cfg.setting, num_runs=cfg.num_runs, num_classes=dataset.num_classes,
                  class_names=list(dataset.class_names), dataset_sizes=dataset.sizes,
                  data_fingerprint=data_fingerprint(dataset))
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


def write_run_dir(out: Path, result: SweepResult, dataset) -> None:
    """Writes the run directory (format: :mod:`corel_jax.rundir`)."""
    config = config_dict(result.config, dataset)
    config.update(environment=environment(), timings=result.timings)
    rundir.write_config(out, config)
    rundir.write_runs(out, result.records)
    rundir.write_curves(out, result.train_loss, result.val_acc)
    rundir.write_test_labels(out, result.test_labels)
    for i in range(len(result.records)):
        arrays = {"test_pred": result.test_pred[i].astype(np.int32),
                  "prototypes": result.heads["W"][i].astype(np.float32)}
        if result.test_h is not None:
            arrays["test_h"] = result.test_h[i]
        rundir.write_run_arrays(out, i, **arrays)
    rundir.write_params(out, rundir.BEST_HEADS, result.heads)
    if result.final_params is not None:
        rundir.write_params(out, rundir.FINAL_PARAMS, result.final_params)


def start_run_dir(out: Path, cfg: SweepConfig, dataset, *, resume: bool) -> None:
    """Creates ``out`` and writes its ``config.json`` before anything is trained, so that a
    sweep killed at any point can be resumed from it; a new (not resumed) sweep first removes
    an earlier sweep's results there, which would be stale."""
    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        rundir.clear_results(out)
    rundir.write_config(out, config_dict(cfg, dataset))
