"""Driving a sweep: data on the device, chunks of runs, epochs, and the run directory."""

from __future__ import annotations

import dataclasses
import io
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from corel_jax import rundir
from corel_jax.errors import ConfigError
from corel_jax.train import memory
from corel_jax.train.config import SweepConfig
from corel_jax.train.engine import (
    CompiledProgram,
    DeviceData,
    compile_program,
    hparams,
    make_program,
)
from corel_jax.train.placement import Placement


@dataclasses.dataclass
class SweepResult:
    """What a sweep returns (and writes to ``out_dir`` when one is given).

    Attributes:
      config: the sweep configuration.
      records: one dict per run (see :mod:`corel_jax.rundir` for the keys).
      train_loss, val_acc: ``[R, E]`` per-epoch curves (NaN after a run diverged).
      test_h: ``[R, N_test, D]`` test representations at each run's best epoch, or None.
      test_pred: ``[R, N_test]`` predictions at the best epoch.
      heads: per-run head arrays at the best epoch (``W: [R, K, D]``, ``b``, ``gamma``).
      test_labels: ``[N_test]``.
      out_dir: the run directory, or None.
      timings: seconds spent compiling (``compile_s``: compilation alone), training
        (``train_s``: every epoch; ``first_epoch_s``: the first epoch of each chunk, also in
        ``train_s``) and evaluating.
      final_params: the parameters after the last epoch, stacked over runs (``[R, ...]``).
    """

    config: SweepConfig
    records: list[dict[str, Any]]
    train_loss: np.ndarray
    val_acc: np.ndarray
    test_pred: np.ndarray
    test_labels: np.ndarray
    heads: dict[str, np.ndarray]
    test_h: np.ndarray | None = None
    out_dir: Path | None = None
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    final_params: Any = None

    def table(self) -> str:
        """Mean ± std of best-epoch validation and test accuracy per configuration (every
        combination of the varied hyperparameters; λ when nothing else varies) over the
        healthy runs, as plain text; diverged runs are counted (and listed below the table)."""
        keys = [k for k in ("lr", "gamma", "center_alpha") if k in self.config.varied]
        keys.append("lam")
        names = {"lam": "lambda", "lr": "lr", "gamma": "gamma", "center_alpha": "alpha"}
        head = "  ".join(f"{names[k]:>8}" for k in keys)
        lines = [f"{head}  {'runs':>4}  {'diverged':>8}  {'val acc':>15}  {'test acc':>15}"]
        configs = list(dict.fromkeys(tuple(r[k] for k in keys) for r in self.records))
        for values in configs:
            group = [r for r in self.records if tuple(r[k] for k in keys) == values]
            rs = [r for r in group if not r["diverged"]]
            nd = len(group) - len(rs)
            label = "  ".join(f"{v:8.3g}" if k != "lam" else f"{v:8.3f}"
                              for k, v in zip(keys, values))
            if not rs:
                lines.append(f"{label}  {0:4d}  {nd:8d}  {'(all diverged)':>15}")
                continue
            v = np.array([r["best_val_acc"] for r in rs]) * 100
            t = np.array([r["test_acc"] for r in rs]) * 100
            lines.append(f"{label}  {len(rs):4d}  {nd:8d}  {v.mean():7.2f} ± {v.std():5.2f}"
                         f"  {t.mean():7.2f} ± {t.std():5.2f}")
        for r in self.records:
            if r["diverged"]:
                lines.append(f"diverged: run {r['run']} (seed {r['seed']}, λ {r['lam']:g}) at "
                             f"epoch {r['diverged_epoch']}")
        return "\n".join(lines)


def load_data(cfg: SweepConfig):
    from corel_jax.data import load_dataset

    kwargs = dict(cfg.dataset_options)
    if cfg.val_size is not None:
        kwargs["val_size"] = cfg.val_size
    return load_dataset(cfg.dataset, cfg.data_dir, source=cfg.data_source,
                        split_seed=cfg.split_seed, **kwargs)


def build_encoder(cfg: SweepConfig, dataset):
    """The encoder module for ``cfg.model``: its registered spec builds it from the config
    (sizes) and the data (e.g. the embedding table)."""
    from corel_jax.models.registry import get_encoder

    return get_encoder(cfg.model).build(cfg, dataset)


def check_compatible(cfg: SweepConfig, dataset) -> None:
    """Input checks that need the data (before anything is compiled): the batch size. (Labels
    outside ``[0, K)`` cannot reach here: :class:`~corel_jax.data.Dataset` refuses them.)"""
    n_train = len(dataset.y_train)
    if cfg.batch_size > n_train:
        raise ConfigError(f"batch_size {cfg.batch_size} is larger than the training set "
                          f"({n_train} examples); lower --batch-size")


def environment() -> dict[str, Any]:
    import flax
    import optax

    dev = jax.devices()[0]
    return {
        "jax": jax.__version__, "flax": flax.__version__, "optax": optax.__version__,
        "python": sys.version.split()[0], "platform": platform.platform(),
        "backend": jax.default_backend(), "device": str(dev.device_kind),
        "device_count": jax.device_count(), "process_count": jax.process_count(),
    }


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="epoch", disable=not enabled, leave=True,
                dynamic_ncols=True, file=sys.stderr)


def train_sweep(cfg: SweepConfig, *, dataset=None, encoder=None,
                out_dir: str | Path | None = None, progress: bool = True, log=print,
                objective_fn=None, resume: bool = False) -> SweepResult:
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
      resume: continue the sweep checkpointed in ``out_dir`` (see
        :mod:`corel_jax.train.checkpoint`): finished chunks are read back, the chunk in
        progress restarts from its last checkpoint. The results equal an uninterrupted
        sweep's. Without a checkpoint the sweep starts from the beginning.

    Checkpoints (``cfg.checkpoint_every``; written under ``out_dir/checkpoints/`` in
    single-process sweeps) are removed once the run directory is complete.
    """
    log = log or (lambda *a, **k: None)
    t_start = time.perf_counter()
    if dataset is None:
        dataset = load_data(cfg)
    check_compatible(cfg, dataset)
    if encoder is None:
        encoder = build_encoder(cfg, dataset)
    program = make_program(cfg, encoder, dataset.num_classes, dataset.x_train[:1],
                           objective_fn=objective_fn)

    runs = cfg.runs
    placement = Placement.create()
    # Every process trains its share of the runs; process 0 writes the run directory.
    out = Path(out_dir) if out_dir is not None and jax.process_index() == 0 else None
    ckpt = _checkpointer(cfg, out, resume, log)
    layout = ckpt.load_layout() if ckpt is not None else None
    if resume and layout is not None:
        check_resumable(out, cfg, dataset)
    if layout is None:
        mem = _memory_plan(cfg, program, dataset, len(runs), placement.num_devices)
        log(mem.describe(len(runs)))
        layout = {"num_runs": len(runs), "chunk_size": mem.runs_per_program,
                  "num_chunks": mem.num_chunks, "num_devices": placement.num_devices}
    else:
        _check_layout(layout, len(runs), placement, ckpt.directory)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if not resume:  # results of an earlier sweep in this directory are now stale
            rundir.clear_results(out)
        # Written first, so that a sweep killed at any point can be resumed from it.
        rundir.write_config(out, _config_dict(cfg, dataset))
        if ckpt is not None:
            ckpt.save_layout(layout)
    compiled = compile_program(program, run_batch=resolve_run_batch(cfg, placement))
    # The data is replicated on every device; per-run arrays are sharded over the run axis.
    data = placement.replicate(DeviceData(
        x_train=dataset.x_train, y_train=np.asarray(dataset.y_train, np.int32),
        x_val=dataset.x_val, y_val=np.asarray(dataset.y_val, np.int32)))
    x_test = placement.replicate(dataset.x_test)

    progress = progress and jax.process_index() == 0

    chunk_size, num_chunks = layout["chunk_size"], layout["num_chunks"]
    pieces = []
    timings = {"compile_s": 0.0, "train_s": 0.0, "eval_s": 0.0}
    for c in range(num_chunks):
        chunk = runs[c * chunk_size:(c + 1) * chunk_size]
        if ckpt is not None and ckpt.has_chunk(c):
            log(f"chunk {c + 1}/{num_chunks}: finished before, read from {ckpt.chunk_path(c)}")
            pieces.append(ckpt.load_chunk(c))
            continue
        desc = f"{cfg.setting} {cfg.loss}"
        if num_chunks > 1:
            desc += f" [{c + 1}/{num_chunks}]"
        piece = _train_chunk(cfg, compiled, placement, data, x_test, chunk, chunk_size,
                             desc, progress, timings, ckpt=ckpt, chunk_index=c, log=log)
        if ckpt is not None and cfg.checkpoint_every != 0:
            ckpt.save_chunk(c, piece)
        pieces.append(piece)

    result = _assemble(cfg, pieces, runs, np.asarray(dataset.y_test, np.int32), timings)
    timings["total_s"] = time.perf_counter() - t_start
    if out is not None:
        write_run_dir(out, result, dataset)
        result.out_dir = out
    if ckpt is not None:
        ckpt.remove()  # the run directory is complete: nothing left to resume
    return result


def _checkpointer(cfg: SweepConfig, out: Path | None, resume: bool, log):
    """The sweep's checkpointer, or None (no run directory, checkpoint_every=0, or several
    processes); refuses to start afresh over an unfinished sweep's checkpoints."""
    from corel_jax.train import checkpoint

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
    ckpt = checkpoint.SweepCheckpoint(out / rundir.CHECKPOINT_SUBDIR, epochs=cfg.epochs,
                                      resuming=resume)
    if not resume and ckpt.exists():
        raise ConfigError(f"{out} holds checkpoints of an unfinished sweep; continue it with "
                          f"`corel-jax train --resume {out}`, or delete {ckpt.directory}")
    if cfg.checkpoint_every == 0:
        if resume and ckpt.exists():
            return ckpt  # read what is there, write nothing new (see _train_chunk)
        return None
    return ckpt


#: config fields that do not change a sweep's numbers (may differ when resuming)
NOT_RESULT_FIELDS = ("data_dir", "data_source", "checkpoint_every", "memory_budget_gb",
                     "max_runs_per_program", "run_batch", "eval_batch_size",
                     "save_representations")


def check_resumable(out: Path, cfg: SweepConfig, dataset) -> None:
    """Refuses to resume ``out`` under a configuration or data that differ from the one its
    checkpoints were made with (``config.json``), naming what differs."""
    try:
        saved = rundir.load_config(out)
    except (rundir.RunDirError, ValueError):
        raise ConfigError(f"{out} has checkpoints but no readable config.json; it cannot be "
                          f"resumed safely (delete {out / rundir.CHECKPOINT_SUBDIR})") from None
    now = _config_dict(cfg, dataset)
    fields = [f.name for f in dataclasses.fields(SweepConfig) if f.name not in NOT_RESULT_FIELDS]
    differ = [k for k in fields + ["data_fingerprint"]
              if k in saved and _canonical(saved[k]) != _canonical(now.get(k))]
    if differ:
        detail = "; ".join(f"{k}: {saved[k]!r} then, {now.get(k)!r} now" for k in differ)
        raise ConfigError(f"cannot resume {out}: its sweep was started with other settings "
                          f"({detail}); resume with the same ones, or start a new sweep in "
                          f"another directory")


def _canonical(v):
    return json.loads(json.dumps(v, default=str))


def _check_layout(layout, num_runs: int, placement: Placement, directory: Path) -> None:
    if layout.get("num_runs") != num_runs:
        raise ConfigError(f"the checkpoints in {directory} are for {layout.get('num_runs')} "
                          f"runs, but the configuration has {num_runs}")
    if layout.get("num_devices") != placement.num_devices:
        raise ConfigError(f"the checkpoints in {directory} were written on "
                          f"{layout.get('num_devices')} devices; resume on the same number "
                          f"(this process sees {placement.num_devices})")


def resolve_run_batch(cfg: SweepConfig, placement: Placement) -> int | None:
    """Runs vmapped together per epoch (see :func:`engine.compile_program`); None = all."""
    if placement.num_devices > 1:
        return None  # the run axis is sharded: every device vmaps its own share
    if cfg.run_batch is not None:
        return cfg.run_batch
    return 2 if jax.default_backend() == "cpu" else None


def _memory_plan(cfg, program, dataset, num_runs, num_devices) -> memory.MemoryPlan:
    key = jax.random.key(0)
    state_shape = jax.eval_shape(program.init, key, program.default_hparams)
    params_bytes = memory.tree_bytes(state_shape.params)
    x = dataset.x_train
    step_x = jax.ShapeDtypeStruct((cfg.batch_size,) + x.shape[1:], x.dtype)
    eval_x = jax.ShapeDtypeStruct((cfg.eval_batch_size,) + x.shape[1:], x.dtype)
    data_bytes = sum(a.nbytes for a in (dataset.x_train, dataset.y_train, dataset.x_val,
                                        dataset.y_val, dataset.x_test))
    return memory.plan(
        num_runs=num_runs, params_bytes=params_bytes,
        step_activation_bytes=memory.activation_bytes(program.net, state_shape.params, step_x),
        eval_activation_bytes=memory.activation_bytes(program.net, state_shape.params, eval_x),
        data_bytes=data_bytes, budget_bytes=memory.device_budget_bytes(cfg.memory_budget_gb),
        max_runs=cfg.max_runs_per_program, num_devices=num_devices)


def _train_chunk(cfg, compiled: CompiledProgram, placement: Placement, data, x_test, chunk,
                 size, desc, progress, timings, *, ckpt=None, chunk_index=0, log=None):
    """Trains one chunk of runs; pads it to ``size`` runs so every chunk shares one program.

    With a checkpointer the chunk starts from its last checkpoint (if any) and saves new ones
    on its schedule (``cfg.checkpoint_every``).
    """
    from corel_jax.train.checkpoint import Schedule

    n = len(chunk)
    padded = list(chunk) + [chunk[0]] * (size - n)
    seeds = placement.shard_runs(np.asarray([r.seed for r in padded], np.uint32))
    hp = placement.shard_runs(hparams(padded))
    state = compiled.init(seeds, hp)
    # Per-epoch curves, filled as the epochs go (NaN: not trained, stopped or diverged).
    curves = {"train_loss": np.full((n, cfg.epochs), np.nan, np.float32),
              "val_acc": np.full((n, cfg.epochs), np.nan, np.float32)}
    start = 0
    if ckpt is not None and ckpt.resuming:
        restored = ckpt.restore_state(chunk_index, state, curves)
        if restored is not None:
            start, state, curves = restored
            if log is not None:
                log(f"resumed {desc} from its checkpoint after epoch {start}")
    if placement.num_devices > 1:
        state = placement.on_runs(state)
    schedule = Schedule(cfg.checkpoint_every) if ckpt is not None and \
        cfg.checkpoint_every != 0 else None
    bar = _progress(cfg.epochs, desc, progress)
    bar.update(start)
    for epoch in range(start, cfg.epochs):
        if epoch > start and not _any_active(placement, state, n):
            # Every run has stopped (or diverged): the program ends here.
            bar.set_postfix_str(f"all runs stopped after epoch {epoch}")
            bar.update(cfg.epochs - epoch)
            break
        if epoch == start:  # compile ahead of time, so compile_s is compilation alone
            t0 = time.perf_counter()
            train_epoch = compiled.train_epoch.lower(state, hp, data).compile()
            timings["compile_s"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        state, metrics = train_epoch(state, hp, data)
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
        if schedule is not None and epoch + 1 < cfg.epochs and schedule.due(epoch + 1):
            # (the chunk's last epoch is covered by its finished-chunk file)
            ckpt.save_state(chunk_index, epoch + 1, state, curves)
            schedule.saved()
    bar.close()
    t0 = time.perf_counter()
    h, pred, head = compiled.represent(state.best_params, x_test)
    pred = placement.gather(pred)[:n]
    head = {k: v[:n] for k, v in placement.gather(head).items()}
    h = placement.gather(h)[:n] if cfg.save_representations else None
    best = placement.gather({"best_val_acc": state.best_val_acc,
                             "best_epoch": state.best_epoch,
                             "diverged_epoch": state.diverged_epoch,
                             "stopped_epoch": state.stopped_epoch})
    timings["eval_s"] += time.perf_counter() - t0
    return {
        "train_loss": curves["train_loss"], "val_acc": curves["val_acc"],
        "pred": pred, "h": h, "head": head,
        **{k: np.asarray(v)[:n] for k, v in best.items()},
        "final_params": jax.tree.map(lambda x: x[:n], placement.gather(state.params)),
    }


def _any_active(placement: Placement, state, n: int) -> bool:
    """Whether any of the chunk's ``n`` real runs still trains."""
    ended = placement.gather({"d": state.diverged_epoch, "s": state.stopped_epoch})
    return bool(np.any((ended["d"][:n] == 0) & (ended["s"][:n] == 0)))


def _last_finite(row: np.ndarray) -> float:
    finite = row[np.isfinite(row)]
    return float(finite[-1]) if finite.size else float("nan")


def _assemble(cfg, pieces, runs, y_test, timings) -> SweepResult:
    cat = lambda k: np.concatenate([p[k] for p in pieces], axis=0)
    pred = cat("pred")
    test_acc = (pred == y_test[None]).mean(axis=1)
    val_acc = cat("val_acc")
    records = []
    diverged_epoch, best_epoch = cat("diverged_epoch"), cat("best_epoch")
    best_val = cat("best_val_acc")
    # chunks finished before early stopping existed have no stopped_epoch: none stopped
    stopped = np.concatenate([p.get("stopped_epoch", np.zeros(len(p["pred"]), np.int32))
                              for p in pieces])
    for i, run in enumerate(runs):
        d_epoch, s_epoch = int(diverged_epoch[i]), int(stopped[i])
        records.append({
            "run": i, "seed": run.seed, "lam": run.lam,
            "best_epoch": int(best_epoch[i]),
            "best_val_acc": float(max(best_val[i], 0.0)),
            "test_acc": float(test_acc[i]),
            "final_val_acc": _last_finite(val_acc[i]),
            "diverged": d_epoch > 0, "diverged_epoch": d_epoch or None,
            "lr": run.lr, "gamma": run.gamma, "center_alpha": run.center_alpha,
            "stopped_epoch": s_epoch or None,
            "epochs_trained": s_epoch or d_epoch or cfg.epochs,
        })
    heads = {k: np.concatenate([p["head"][k] for p in pieces]) for k in pieces[0]["head"]}
    result = SweepResult(
        config=cfg, records=records, train_loss=cat("train_loss"), val_acc=val_acc,
        test_pred=pred, test_labels=y_test, heads=heads,
        test_h=cat("h") if cfg.save_representations else None, timings=timings,
        final_params=jax.tree.map(lambda *xs: np.concatenate(xs),
                                  *[p["final_params"] for p in pieces]))
    return result


def _config_dict(cfg: SweepConfig, dataset) -> dict[str, Any]:
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
    import flax.serialization

    config = _config_dict(result.config, dataset)
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
    params_dir = out / rundir.PARAMS_SUBDIR
    buf = io.BytesIO()
    np.savez(buf, **result.heads)
    rundir.write_bytes(params_dir / "best_heads.npz", buf.getvalue())
    if result.final_params is not None:
        rundir.write_bytes(params_dir / "final_params.msgpack",
                           flax.serialization.to_bytes(result.final_params))
