"""What a sweep returns: :class:`SweepResult`, assembled from its chunks' results."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from corel_jax import rundir
from corel_jax.train.chunk import ChunkResult
from corel_jax.train.config import SweepConfig


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
        """Mean ± std of best-epoch validation and test accuracy per configuration (every
        combination of the varied hyperparameters; λ when nothing else varies) over the
        healthy runs, as plain text; diverged runs are counted (and listed below the table)."""
        keys = [k for k in rundir.HPARAM_FIELDS[1:] if k in self.config.varied]
        keys.append("lam")
        head = "  ".join(f"{rundir.HPARAM_NAMES[k]:>8}" for k in keys)
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
            "weight_decay": run.weight_decay,
        })
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
