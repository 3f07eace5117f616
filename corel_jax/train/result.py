"""What training returns: each chunk's :class:`ChunkResult`, and the sweep's
:class:`SweepResult` assembled from them (:func:`assemble`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from corel_jax import axes, rundir
from corel_jax.train.config import SweepConfig

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


@dataclasses.dataclass
class SweepResult:
    """What a sweep returns (and writes to ``out_dir`` when one is given).

    Attributes:
      config: the sweep configuration.
      records: one dict per run (see :mod:`corel_jax.rundir` for the keys).
      train_loss, val_acc: ``[R, E]`` per-epoch curves (NaN after a run diverged).
      test_h: ``[R, N_test, D]`` test representations at each run's best epoch, or None. A
        sweep that writes a run directory keeps them there, not in host memory: then this is
        a :class:`StoredRunArrays` (indexing reads one run's file; ``np.asarray`` all).
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
    test_h: np.ndarray | StoredRunArrays | None = None
    out_dir: Path | None = None
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    final_params: Any = None

    def table(self) -> str:
        """Mean ± sample std (``ddof=1``, as the evaluator's reports) of best-epoch validation
        and test accuracy per configuration (every combination of the varied
        hyperparameters; λ when nothing else varies) over the healthy runs, as plain text;
        a configuration with one healthy run shows its value alone. Diverged runs are
        counted (and listed below the table)."""
        keys = [k for k in axes.NAMES[1:] if k in self.config.varied]
        keys.append("lam")
        head = "  ".join(f"{axes.BY_NAME[k].text:>8}" for k in keys)
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
            lines.append(f"{label}  {len(rs):4d}  {nd:8d}  {_mean_std(v)}  {_mean_std(t)}")
        for r in self.records:
            if r["diverged"]:
                lines.append(f"diverged: run {r['run']} (seed {r['seed']}, λ {r['lam']:g}) at "
                             f"epoch {r['diverged_epoch']}")
        return "\n".join(lines)


class StoredRunArrays:
    """Per-run arrays ``[R, ...]`` kept on disk, one ``.npy`` per run (e.g. each run's
    ``test_h.npy`` in a run directory), read when indexed: ``a[i]`` reads run ``i``'s file,
    ``a[i:j]`` and ``np.asarray(a)`` stack the runs asked for. How a sweep returns its test
    representations without holding them all in host memory."""

    def __init__(self, paths: Sequence[Path]):
        self.paths = [Path(p) for p in paths]
        first = np.load(self.paths[0], mmap_mode="r") if self.paths else np.zeros((0,))
        self.shape = (len(self.paths), *first.shape)
        self.dtype = first.dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return np.stack([np.load(p) for p in self.paths[index]]) if self.paths[index] \
                else np.zeros((0, *self.shape[1:]), self.dtype)
        if isinstance(index, tuple):
            return np.asarray(self)[index]
        return np.load(self.paths[int(index)])

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __repr__(self) -> str:
        return f"StoredRunArrays(shape={self.shape}, dtype={self.dtype}, on disk)"


def assemble(cfg: SweepConfig, pieces: Sequence[ChunkResult], runs: Sequence,
             y_test: np.ndarray, timings: dict[str, float],
             stored_h: StoredRunArrays | None = None) -> SweepResult:
    """The sweep's result from its chunks' (in run order): arrays concatenated over the run
    axis, one record per run (``runs``: the sweep's :class:`~corel_jax.train.config.Run` s),
    test accuracy from the predictions and ``y_test: int32 [N_test]``. ``stored_h``: the
    test representations, where the chunks wrote them to disk instead of keeping them."""
    cat = lambda k: np.concatenate([getattr(p, k) for p in pieces], axis=0)
    pred = cat("pred")
    test_acc = (pred == y_test[None]).mean(axis=1)
    val_acc = cat("val_acc")
    records = []
    diverged_epoch, best_epoch = cat("diverged_epoch"), cat("best_epoch")
    best_val, stopped = cat("best_val_acc"), cat("stopped_epoch")
    sweep_index = cfg.run_indices
    for i, run in enumerate(runs):
        d_epoch, s_epoch = int(diverged_epoch[i]), int(stopped[i])
        record = {
            "run": i, "seed": run.seed, "lam": run.lam,
            "best_epoch": int(best_epoch[i]),
            "best_val_acc": float(max(best_val[i], 0.0)),
            "test_acc": float(test_acc[i]),
            "final_val_acc": _last_finite(val_acc[i]),
            "diverged": d_epoch > 0, "diverged_epoch": d_epoch or None,
        }
        stopping = {"stopped_epoch": s_epoch or None,
                    "epochs_trained": s_epoch or d_epoch or cfg.epochs}
        # in the order of rundir.OPTIONAL_RUN_FIELDS: the other axes and the stopping fields
        records.append({**record, **{k: stopping[k] if k in stopping else getattr(run, k)
                                     for k in rundir.OPTIONAL_RUN_FIELDS}})
        if cfg.shard is not None:  # a shard's run: its index in the whole sweep, to merge by
            records[-1][rundir.SWEEP_RUN] = sweep_index[i]
    heads = {k: np.concatenate([p.head[k] for p in pieces]) for k in pieces[0].head}
    return SweepResult(
        config=cfg, records=records, train_loss=cat("train_loss"), val_acc=val_acc,
        test_pred=pred, test_labels=y_test, heads=heads,
        test_h=(stored_h if stored_h is not None else cat("h"))
        if cfg.save_representations else None, timings=timings,
        final_params=jax.tree.map(lambda *xs: np.concatenate(xs),
                                  *[p.final_params for p in pieces]))


def _last_finite(row: np.ndarray) -> float:
    finite = row[np.isfinite(row)]
    return float(finite[-1]) if finite.size else float("nan")


def _mean_std(v: np.ndarray) -> str:
    """``"mean ± std"`` in 15 characters: the sample std (``ddof=1``), the rule of
    :func:`corel_jax.evaluate.stats.mean_std` (not imported: the evaluator's package costs
    every ``corel-jax train`` 0.15 s to import); one value alone has none."""
    if v.size < 2:
        return f"{v.mean():7.2f}        "
    return f"{v.mean():7.2f} ± {v.std(ddof=1):5.2f}"
