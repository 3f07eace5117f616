"""The run-directory format: what a sweep writes and what reports read.

This module holds only numpy, JSON and CSV code (no JAX), so the evaluator and any user
script can read results without a JAX install (the one exception: reading the
``final_params.msgpack`` of older run directories imports Flax, which wrote it). Every file
is written atomically (temporary file in the same directory + ``os.replace``), so an
interrupted sweep never leaves a half-written result behind.

Layout of one run directory (one sweep = one loss x one model x one dataset, many runs)::

    RUN_DIR/
      corel-jax-run.json the manifest: marks the folder as corel-jax's, names every file the
                         sweep writes there (the only files a later sweep may delete) and says
                         whether the sweep is complete ("complete": true is written last,
                         atomically, once every other file is in place); see
                         :func:`write_manifest`, :func:`status`
      .corel-jax.lock    the writer's lock (an advisory ``flock`` held for the sweep's life,
                         with the holder's pid); see :mod:`corel_jax.train.ownership`
      config.json        the sweep configuration, plus "setting" (e.g. "mnist-mlp"),
                         "num_runs", "num_classes", "similarity" (what the loss predicts
                         with: "dot", "cosine" or "gaussian"), "lam_meaning" (what λ is for
                         the loss; null: unused), "class_names", "dataset_sizes",
                         "data_fingerprint" (SHA-256 of every split's arrays),
                         "optimizer_factory" (an optimizer of one's own: its factory's
                         qualified name, see :mod:`corel_jax.optimizers`), and, once
                         the sweep is complete, "environment" (versions, devices) and
                         "timings" (seconds); see :func:`write_config`, :func:`similarity_of`.
      runs.json          one record per run, in run order (the list below);
      runs.csv           the same records as CSV.
      curves.csv         long format: run, epoch, train_loss, val_acc (one row per run x epoch).
      runs/r000/         per-run arrays at the run's best validation epoch:
          test_h.npy       float32 [N_test, D]  test-set representations h
          test_pred.npy    int32   [N_test]     predicted class (argmax similarity)
          prototypes.npy   float32 [K, D]       the head's class rows W
      test_labels.npy    int32 [N_test]  (shared by all runs)
      params/            parameters, stacked over runs; .npz whose keys are the pytree paths
                         joined with "/" (:func:`write_params`, :func:`load_params`):
          best_heads.npz   the output layer at each run's best epoch: "W" float32 [R, K, D],
                           and "b" [R, K], "gamma" [R] when the loss's head has them
          final_params.npz the whole network after the last epoch (e.g.
                           "params/encoder/fc0/kernel" [R, ...]); see :func:`load_final_params`
                           (older sweeps wrote final_params.msgpack, flax serialization)
      checkpoints/       only while a sweep runs (removed once the directory is complete);
                         what a checkpoint holds: :mod:`corel_jax.train.checkpoint`
          layout.json      how the runs are split into chunks, fixed for the whole sweep
          state/<step>/    orbax checkpoints of the chunk in progress (the last 2);
                           step = chunk * epochs + epoch, so steps only grow
          chunks/chunk_000.npz  per-run results of each finished chunk (nested fields
                           flattened as in params/, under "head/" and "final_params/"; see
                           :class:`corel_jax.train.result.ChunkResult`)

A directory is *complete* when its manifest says so; run directories written before the
manifest existed count as complete when they hold ``config.json`` and ``runs.json`` and no
``checkpoints/``. The loaders below (``load_runs``, ``load_curves``, ``load_run_array``,
``load_test_labels``, ``load_params``) refuse an incomplete directory
(:class:`~corel_jax.errors.IncompleteError`), and every one of them names the file when it
is missing (:class:`RunDirError`) or damaged (:class:`~corel_jax.errors.DamagedFileError`).

Only the in-progress ``state/`` checkpoints need orbax: they hold a chunk's whole training
state as device arrays (sharded over the devices in multi-device sweeps), which orbax saves
and restores into the same shardings, committing each checkpoint with a rename. Everything
else is JSON, CSV or numpy's ``.npy`` / ``.npz``, readable without JAX or Flax.

A run record (one element of ``runs.json``) has these keys::

    run             int    index of the run in the sweep (0-based)
    seed            int
    lam             float  the run's lambda
    best_epoch      int    1-based epoch with the best validation accuracy (0: none)
    best_val_acc    float  validation accuracy at best_epoch, in [0, 1]
    test_acc        float  test accuracy at best_epoch, in [0, 1]
    final_val_acc   float  validation accuracy after the last epoch
    diverged        bool   the run's loss or parameters became NaN/inf
    diverged_epoch  int | None  1-based epoch at which it diverged

and, in sweeps written since hyperparameter grids and early stopping exist (readers treat a
missing key as "not recorded")::

    lr, gamma, center_alpha  float  the run's learning rate, γ (initial, or fixed) and α
    weight_decay    float  the run's weight decay (sweeps written since it exists)
    stopped_epoch   int | None  1-based epoch at which early stopping ended the run
    epochs_trained  int    epochs the run trained (to its stop, divergence, or the last)

and, in the run directory of one shard of a sweep (``corel-jax train --shard I/N``; its
``config.json`` has ``"shard": {"index": I, "count": N}`` and ``"sweep_num_runs"``, the runs
of the whole sweep, beside ``"num_runs"``, the shard's)::

    sweep_run       int    the run's index in the whole sweep ("run" is its index in the
                           shard, as everywhere in the directory: runs/rNNN, curves.csv)

``corel-jax merge`` (:mod:`corel_jax.train.merge`) places each run by it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from corel_jax import _faults, axes
from corel_jax.errors import DamagedFileError, IncompleteError, MissingDataError

CONFIG = "config.json"
RUNS_JSON = "runs.json"
RUNS_CSV = "runs.csv"
CURVES_CSV = "curves.csv"
TEST_LABELS = "test_labels.npy"
RUNS_SUBDIR = "runs"
PARAMS_SUBDIR = "params"
BEST_HEADS = "best_heads.npz"
FINAL_PARAMS = "final_params.npz"
#: how sweeps wrote the final parameters before (flax msgpack); :func:`load_final_params` reads it
LEGACY_FINAL_PARAMS = "final_params.msgpack"
CHECKPOINT_SUBDIR = "checkpoints"
#: live-tracking logs (TensorBoard, W&B offline), see :mod:`corel_jax.train.tracking`
TRACKING_SUBDIR = "tracking"
MANIFEST = "corel-jax-run.json"
LOCK = ".corel-jax.lock"
#: the manifest's "format" and "format_version" (2: the first with a manifest)
FORMAT_NAME = "corel-jax run directory"
FORMAT_VERSION = 2
#: config.json's format: its "format_version" key (absent: format 1), and the current one;
#: :func:`upgrade_config` reads every older one as the current
CONFIG_FORMAT_KEY = "format_version"
CONFIG_FORMAT_VERSION = 2

RUN_FIELDS = (
    "run",
    "seed",
    "lam",
    "best_epoch",
    "best_val_acc",
    "test_acc",
    "final_val_acc",
    "diverged",
    "diverged_epoch",
)
#: recorded by newer sweeps (see the module docstring), in this order, and written to runs.csv
#: when present: the grid axes beyond λ that records have always held, the early-stopping
#: fields, then the axes added later (:attr:`corel_jax.axes.Axis.before` set), so that an
#: added axis never moves an existing column
OPTIONAL_RUN_FIELDS = (*(a.name for a in axes.AXES[1:] if a.before is None),
                       "stopped_epoch", "epochs_trained",
                       *(a.name for a in axes.AXES[1:] if a.before is not None))
CURVE_FIELDS = ("run", "epoch", "train_loss", "val_acc")
#: the run record key of a shard's runs: the run's index in the whole sweep (module docstring)
SWEEP_RUN = "sweep_run"
RUN_ARRAYS = ("test_h", "test_pred", "prototypes")


class RunDirError(MissingDataError):
    """A run directory is missing a file (a :class:`~corel_jax.errors.CorelError`: the CLI
    reports it as one line)."""


# --------------------------------------------------------------------------- atomic writes


#: the suffix of the temporary files of atomic writes (``.<name>.<random>.tmp``); a process
#: killed mid-write leaves one, which the next writer of the directory removes
TMP_SUFFIX = ".tmp"


def is_temporary(name: str) -> bool:
    """Whether a file name is one of :func:`_atomic_write_bytes`'s temporary files."""
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        _faults.point(path)  # the crash tests kill or fail here (a no-op otherwise)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path | str, obj: Any) -> None:
    """Writes ``obj`` as indented JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default)
    _atomic_write_bytes(Path(path), (text + "\n").encode())


def write_csv(path: Path | str, rows: Iterable[Mapping[str, Any]], fields: Sequence[str]) -> None:
    """Writes dict rows as CSV with header ``fields``, atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in fields})
    _atomic_write_bytes(Path(path), buf.getvalue().encode())


def write_bytes(path: Path | str, data: bytes) -> None:
    """Writes raw bytes (e.g. a PNG), atomically."""
    _atomic_write_bytes(Path(path), bytes(data))


def write_text(path: Path | str, text: str) -> None:
    """Writes UTF-8 text (e.g. a Markdown report), atomically."""
    _atomic_write_bytes(Path(path), text.encode("utf-8"))


def save_npy(path: Path | str, array: np.ndarray) -> None:
    """Saves one array in ``.npy`` format, atomically."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    _atomic_write_bytes(Path(path), buf.getvalue())


def save_npz(path: Path | str, arrays: Mapping[str, np.ndarray]) -> None:
    """Saves named arrays in ``.npz`` format (uncompressed), atomically."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    _atomic_write_bytes(Path(path), buf.getvalue())


def flatten_tree(tree: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    """A nested dict of arrays (e.g. Flax parameters) as flat ``{"a/b/c": array}``, in the
    dict's order; ``prefix`` (e.g. ``"final_params"``) is put in front of every key.

    >>> flatten_tree({"params": {"fc0": {"bias": np.zeros(2), "kernel": np.ones((1, 2))}}})
    {'params/fc0/bias': array([0., 0.]), 'params/fc0/kernel': array([[1., 1.]])}
    """
    out: dict[str, np.ndarray] = {}
    for k, v in tree.items():
        key = f"{prefix}/{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out.update(flatten_tree(v, key))
        elif isinstance(v, (list, tuple)):  # np.asarray would stack or refuse them silently
            raise TypeError(f"{key}: flatten_tree takes nested dicts of arrays, not "
                            f"{type(v).__name__}s")
        else:
            out[key] = np.asarray(v)
    return out


def unflatten_tree(flat: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The inverse of :func:`flatten_tree` (without its prefix)."""
    tree: dict[str, Any] = {}
    for key, value in flat.items():
        *path, leaf = key.split("/")
        node = tree
        for p in path:
            node = node.setdefault(p, {})
        node[leaf] = value
    return tree


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        return repr(v)
    return v


# --------------------------------------------------------------------------- writers


def run_array_path(run_dir: Path | str, run: int, name: str) -> Path:
    """Path of one per-run array (``name`` in :data:`RUN_ARRAYS`)."""
    if name not in RUN_ARRAYS:
        raise ValueError(f"unknown run array {name!r}; expected one of {RUN_ARRAYS}")
    return Path(run_dir) / RUNS_SUBDIR / f"r{int(run):03d}" / f"{name}.npy"


def write_config(run_dir: Path | str, config: Mapping[str, Any]) -> None:
    write_json(Path(run_dir) / CONFIG, dict(config))


def write_runs(run_dir: Path | str, records: Sequence[Mapping[str, Any]]) -> None:
    """Writes ``runs.json`` and ``runs.csv`` from run records (see module docstring)."""
    records = [_normalise_record(r) for r in records]
    write_json(Path(run_dir) / RUNS_JSON, records)
    optional = [k for k in (*OPTIONAL_RUN_FIELDS, SWEEP_RUN) if records and k in records[0]]
    write_csv(Path(run_dir) / RUNS_CSV, records, RUN_FIELDS + tuple(optional))


#: the files of a run directory outside ``runs/`` and ``params/``
RESULT_FILES = (CONFIG, RUNS_JSON, RUNS_CSV, CURVES_CSV, TEST_LABELS)
RESULT_SUBDIRS = (RUNS_SUBDIR, PARAMS_SUBDIR)
#: the parameter files a sweep may write under ``params/`` (and the older flax one)
PARAM_FILES = (BEST_HEADS, FINAL_PARAMS, LEGACY_FINAL_PARAMS)


def result_files(num_runs: int, *, representations: bool = True,
                 final_params: bool = True) -> list[str]:
    """The files (relative paths) a sweep of ``num_runs`` runs writes into its run directory,
    besides the manifest, the lock and ``checkpoints/``."""
    arrays = [a for a in RUN_ARRAYS if representations or a != "test_h"]
    files = list(RESULT_FILES)
    files += [run_array_path("", r, a).as_posix() for r in range(num_runs) for a in arrays]
    files.append(f"{PARAMS_SUBDIR}/{BEST_HEADS}")
    if final_params:
        files.append(f"{PARAMS_SUBDIR}/{FINAL_PARAMS}")
    return files


# --------------------------------------------------------------------------- the manifest


def write_manifest(run_dir: Path | str, *, files: Sequence[str], complete: bool,
                   **extra: Any) -> None:
    """Writes the manifest (atomically): the files the sweep owns in ``run_dir`` (relative
    paths) and whether it is complete. Written when a sweep starts (``complete`` false), and
    again last, once every file is in place (``complete`` true), then with every file's size
    in bytes (``"sizes"``): the loaders check it, so a truncated file is named, never read."""
    from corel_jax import __version__

    files = sorted(dict.fromkeys(files))
    man = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION,
           "library_version": __version__, "complete": bool(complete), "files": files}
    if complete:
        man["sizes"] = {f: os.stat(Path(run_dir) / f).st_size for f in files}
    write_json(Path(run_dir) / MANIFEST, {**man, **extra})


def read_manifest(run_dir: Path | str) -> dict[str, Any] | None:
    """The manifest of ``run_dir``, or None when it has none (not a run directory, or one
    written before manifests existed); :class:`DamagedFileError` when it is unreadable."""
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        return None
    man = _read(path, "the run directory's manifest", lambda p: json.loads(p.read_text()))
    if not isinstance(man, dict) or man.get("format") != FORMAT_NAME \
            or not isinstance(man.get("files"), list):
        raise DamagedFileError(f"{path} is not a corel-jax manifest (damaged?); it should be "
                               f"JSON with \"format\": \"{FORMAT_NAME}\"")
    return man


def status(run_dir: Path | str) -> str:
    """What ``run_dir`` is: ``"complete"`` or ``"incomplete"`` (a corel-jax run directory,
    with a manifest or from before manifests), or ``"none"`` (no run directory)."""
    p = Path(run_dir)
    try:
        man = read_manifest(p)
    except DamagedFileError:
        return "incomplete"  # ours, but nothing vouches that it is complete
    if man is not None:
        return "complete" if man.get("complete") is True else "incomplete"
    if not (p / CONFIG).is_file():
        return "none"
    # written before manifests: complete once runs.json is there and the checkpoints are gone
    ckpt = p / CHECKPOINT_SUBDIR
    if (p / RUNS_JSON).is_file() and not (ckpt.is_dir() and any(ckpt.iterdir())):
        return "complete"
    return "incomplete" if _looks_like_config(p / CONFIG) else "none"


def _looks_like_config(path: Path) -> bool:
    """Whether ``path`` is a corel-jax ``config.json`` (not some other program's)."""
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(d, dict) and {"loss", "seeds", "lams"} <= set(d)


def is_complete(run_dir: Path | str) -> bool:
    return status(run_dir) == "complete"


def require_complete(run_dir: Path | str) -> None:
    """Raises :class:`~corel_jax.errors.IncompleteError` unless ``run_dir`` is complete."""
    st = status(run_dir)
    if st == "incomplete":
        raise IncompleteError(
            f"{run_dir} is incomplete: its sweep is still running or was interrupted "
            f"(continue it with `corel-jax train --resume {run_dir}`)")


def owned_files(run_dir: Path | str) -> list[str]:
    """The files of ``run_dir`` (relative paths) that its sweep wrote and a later sweep may
    delete: those its manifest names, or, in a run directory written before manifests, those
    with the names such a sweep wrote. Never anything else."""
    p = Path(run_dir)
    try:
        man = read_manifest(p)
    except DamagedFileError:  # fall back to the names a sweep writes
        man = None
    if man is not None:
        return [f for f in man["files"] if _safe_relative(f)]
    if status(p) == "none":
        return []
    names = list(RESULT_FILES)
    names += [f"{PARAMS_SUBDIR}/{n}" for n in PARAM_FILES]
    runs = p / RUNS_SUBDIR
    if runs.is_dir():
        for d in sorted(runs.iterdir()):
            if d.is_dir() and len(d.name) >= 4 and d.name[0] == "r" and d.name[1:].isdigit():
                names += [f"{RUNS_SUBDIR}/{d.name}/{a}.npy" for a in RUN_ARRAYS]
    return [n for n in names if (p / n).is_file()]


def _safe_relative(name: str) -> bool:
    """A manifest entry that stays inside the run directory (no absolute path, no ``..``)."""
    q = Path(name)
    return not q.is_absolute() and ".." not in q.parts and bool(q.parts)


def write_curves(run_dir: Path | str, train_loss: np.ndarray, val_acc: np.ndarray) -> None:
    """Writes ``curves.csv`` from ``[R, E]`` arrays of per-epoch train loss and val accuracy."""
    train_loss = np.asarray(train_loss, dtype=np.float64)
    val_acc = np.asarray(val_acc, dtype=np.float64)
    if train_loss.shape != val_acc.shape or train_loss.ndim != 2:
        raise ValueError(
            f"train_loss and val_acc must both be [runs, epochs]; got {train_loss.shape} and "
            f"{val_acc.shape}"
        )
    rows = (
        {"run": r, "epoch": e + 1, "train_loss": float(train_loss[r, e]),
         "val_acc": float(val_acc[r, e])}
        for r in range(train_loss.shape[0])
        for e in range(train_loss.shape[1])
    )
    write_csv(Path(run_dir) / CURVES_CSV, rows, CURVE_FIELDS)


def write_run_arrays(run_dir: Path | str, run: int, **arrays: np.ndarray) -> None:
    """Writes per-run arrays, e.g. ``write_run_arrays(d, 0, test_h=h, test_pred=p)``."""
    for name, value in arrays.items():
        save_npy(run_array_path(run_dir, run, name), value)


def write_test_labels(run_dir: Path | str, labels: np.ndarray) -> None:
    save_npy(Path(run_dir) / TEST_LABELS, np.asarray(labels, dtype=np.int32))


def write_params(run_dir: Path | str, name: str, tree: Mapping[str, Any]) -> None:
    """Writes a nested dict of arrays to ``params/<name>`` (``.npz``, keys flattened with
    ``/``; e.g. :data:`FINAL_PARAMS`)."""
    save_npz(Path(run_dir) / PARAMS_SUBDIR / name, flatten_tree(tree))


def _normalise_record(r: Mapping[str, Any]) -> dict[str, Any]:
    missing = [k for k in RUN_FIELDS if k not in r]
    if missing:
        raise ValueError(f"run record is missing {missing}; a record needs {list(RUN_FIELDS)}")
    out = {k: r[k] for k in RUN_FIELDS}
    out.update({k: v for k, v in r.items() if k not in out})
    out["run"] = int(out["run"])
    out["seed"] = int(out["seed"])
    out["lam"] = float(out["lam"])
    out["best_epoch"] = int(out["best_epoch"])
    for k in ("best_val_acc", "test_acc", "final_val_acc"):
        out[k] = float(out[k])
    out["diverged"] = bool(out["diverged"])
    de = out["diverged_epoch"]
    out["diverged_epoch"] = None if de is None or (isinstance(de, float) and np.isnan(de)) \
        else int(de)
    return out


# --------------------------------------------------------------------------- readers


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise RunDirError(
            f"{path} is missing: {what}. Is {path.parent} a corel-jax run directory "
            f"(written by `corel-jax train`)?"
        )
    return path


def _read(path: Path, what: str, read, run_dir: Path | None = None):
    """``read(path)``, with a missing or damaged file (any read or parse error, or a size
    other than the one the run directory's manifest recorded) reported as one clear error
    naming the file."""
    _require(path, what)
    if run_dir is not None:
        _check_size(Path(run_dir), path)
    try:
        return read(path)
    except (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile,
            csv.Error, UnicodeDecodeError) as e:
        raise DamagedFileError(
            f"{path} is damaged ({what}): {type(e).__name__}: {e}. It was written by "
            f"corel-jax; restore it from a copy, or train the sweep again") from None


def _check_size(run_dir: Path, path: Path) -> None:
    try:
        sizes = (read_manifest(run_dir) or {}).get("sizes") or {}
    except DamagedFileError:
        return
    want = sizes.get(path.relative_to(run_dir).as_posix()) if run_dir in path.parents else None
    if want is not None and path.stat().st_size != want:
        raise DamagedFileError(
            f"{path} is damaged ({path.stat().st_size} bytes; the sweep wrote {want}, as "
            f"{run_dir / MANIFEST} records): restore it from a copy, or train the sweep again")


def _load_npy(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


def load_config(run_dir: Path | str) -> dict[str, Any]:
    """``config.json`` in the current format (:func:`upgrade_config`; also of an incomplete
    run directory: a resume reads it)."""
    return upgrade_config(_read(Path(run_dir) / CONFIG, "the sweep configuration",
                                lambda p: _json_object(p)), Path(run_dir) / CONFIG)


def _json_object(path: Path):
    d = json.loads(path.read_text())
    if not isinstance(d, (dict, list)):
        raise ValueError(f"expected a JSON object, got {type(d).__name__}")
    return d


#: the losses a config.json written before "similarity" and "lam_meaning" existed may name,
#: and what they record: (similarity, lam_meaning)
_FORMAT_1_LOSSES = {"cce": ("dot", None), "center": ("dot", "the weight of the center loss"),
                    "cosine": ("cosine", "the weight of attraction"),
                    "gaussian": ("gaussian", "the weight of attraction")}


def upgrade_config(config: Mapping[str, Any], path: Path | str = CONFIG) -> dict[str, Any]:
    """A ``config.json`` of any format in the current one (:data:`CONFIG_FORMAT_VERSION`);
    ``config`` is not modified, and a current one comes back equal.

    In every format, a configuration field added after the file was written is missing: the
    sweep ran when the field did not exist, i.e. with the behaviour its default gives (no
    weight decay, no augmentation, ...), so it reads as its default
    (:func:`corel_jax.train.config.default_dict`).

    Format 1 (no ``"format_version"``: every run directory written before it existed) also
    differs in three ways, each mapped here and nowhere else:

    - ``"similarity"`` and ``"lam_meaning"`` may be missing: the paper's losses record theirs
      (:data:`_FORMAT_1_LOSSES`); any other loss reads as ``"dot"`` and as using λ;
    - the cap on the chunk size was called ``max_runs_per_program``;
    - a loss changed by a replaced objective was recorded as ``"loss"`` plus ``"variant"``
      (and a ``"variant_note"``): the loss trained was the variant, so ``"loss"`` becomes the
      variant's name (such sweeps never pool with the unchanged loss's).

    Raises :class:`~corel_jax.errors.DamagedFileError` for a format newer than this library
    reads (``path`` names the file in the message).
    """
    d = dict(config)
    version = d.get(CONFIG_FORMAT_KEY, 1)
    if not isinstance(version, int) or version > CONFIG_FORMAT_VERSION:
        raise DamagedFileError(f"{path} has format_version {version!r}; this corel-jax reads "
                               f"up to {CONFIG_FORMAT_VERSION}: upgrade corel-jax")
    if version < 2:
        similarity, lam_meaning = _FORMAT_1_LOSSES.get(str(d.get("loss")),
                                                       ("dot", "not recorded"))
        d.setdefault("similarity", similarity)
        d.setdefault("lam_meaning", lam_meaning)
        variant = d.pop("variant", None)
        d.pop("variant_note", None)
        if variant is not None and variant != d.get("loss"):
            d["loss"] = variant
        if "max_runs_per_program" in d:  # the chunk size's cap, under its former name
            d["max_chunk_size"] = d.pop("max_runs_per_program")
        if not d.get("setting") and d.get("dataset") and d.get("model"):
            d["setting"] = f"{d['dataset']}-{d['model']}"
    from corel_jax.train.config import default_dict

    for name, default in default_dict().items():  # fields added since it was written
        d.setdefault(name, default)
    d[CONFIG_FORMAT_KEY] = CONFIG_FORMAT_VERSION
    return d


def canonical(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples as lists, numpy scalars as numbers): two
    configuration values are the same setting exactly when their canonical forms are equal."""
    return json.loads(json.dumps(value, default=str))


def similarity_of(config: Mapping[str, Any]) -> str:
    """The similarity the sweep's loss predicts with (``"dot"``, ``"cosine"`` or
    ``"gaussian"``), from a ``config.json`` (:func:`upgrade_config` fills it in for older
    ones)."""
    return str(upgrade_config(config)["similarity"])


def uses_lam(config: Mapping[str, Any]) -> bool:
    """Whether the sweep's loss reads λ (reports show "—" for λ when it does not)."""
    return upgrade_config(config)["lam_meaning"] is not None


def load_runs(run_dir: Path | str) -> list[dict[str, Any]]:
    """Run records from ``runs.json``, in run order."""
    require_complete(run_dir)
    runs = _read(Path(run_dir) / RUNS_JSON, "the per-run best-epoch metrics", _json_object,
                 Path(run_dir))
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        raise DamagedFileError(f"{Path(run_dir) / RUNS_JSON} is damaged: expected a list of "
                               f"run records")
    return runs


def load_curves(run_dir: Path | str) -> dict[str, np.ndarray]:
    """Per-epoch curves as ``{"train_loss": [R, E], "val_acc": [R, E]}`` arrays."""
    require_complete(run_dir)
    path = Path(run_dir) / CURVES_CSV
    return _read(path, "the per-epoch curves", _parse_curves, Path(run_dir))


def _parse_curves(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {"train_loss": np.zeros((0, 0)), "val_acc": np.zeros((0, 0))}
    runs = max(int(r["run"]) for r in rows) + 1
    epochs = max(int(r["epoch"]) for r in rows)
    out = {k: np.full((runs, epochs), np.nan) for k in ("train_loss", "val_acc")}
    for r in rows:
        i, e = int(r["run"]), int(r["epoch"]) - 1
        for k in out:
            out[k][i, e] = float(r[k]) if r[k] != "" else np.nan
    return out


def load_run_array(run_dir: Path | str, run: int, name: str) -> np.ndarray:
    """One per-run array, e.g. ``load_run_array(d, 3, "test_h")`` -> ``[N_test, D]``."""
    require_complete(run_dir)
    return _read(run_array_path(run_dir, run, name), f"run {run}'s {name}", _load_npy,
                 Path(run_dir))


def load_test_labels(run_dir: Path | str) -> np.ndarray:
    require_complete(run_dir)
    return _read(Path(run_dir) / TEST_LABELS, "the test-set labels", _load_npy, Path(run_dir))


def load_params(run_dir: Path | str, name: str) -> dict[str, Any]:
    """A nested dict of arrays written by :func:`write_params`, e.g.
    ``load_params(d, BEST_HEADS)["W"]`` -> ``[R, K, D]``."""
    require_complete(run_dir)
    return _read(Path(run_dir) / PARAMS_SUBDIR / name, f"the parameters {name}", load_npz,
                 Path(run_dir))


def load_npz(path: Path | str) -> dict[str, Any]:
    """Every array of an ``.npz`` file (written by :func:`save_npz`), read in full, as a
    nested dict (keys split at ``/``)."""
    with np.load(path, allow_pickle=False) as z:
        return unflatten_tree({k: z[k] for k in z.files})


def load_final_params(run_dir: Path | str) -> dict[str, Any]:
    """The parameters after the last epoch, stacked over runs (leaves ``[R, ...]``), as a
    nested dict: from ``params/final_params.npz``, or from the ``final_params.msgpack`` of run
    directories written before (that one needs Flax, which wrote it)."""
    params_dir = Path(run_dir) / PARAMS_SUBDIR
    if not (params_dir / FINAL_PARAMS).is_file() and (params_dir / LEGACY_FINAL_PARAMS).is_file():
        from flax import serialization

        require_complete(run_dir)
        return _read(params_dir / LEGACY_FINAL_PARAMS, "the final parameters (flax msgpack)",
                     lambda p: serialization.msgpack_restore(p.read_bytes()))
    return load_params(run_dir, FINAL_PARAMS)


def is_run_dir(path: Path | str) -> bool:
    """Whether ``path`` is a corel-jax run directory, complete or not (see :func:`status`)."""
    return status(path) != "none"
