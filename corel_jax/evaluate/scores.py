"""Scoring one run's test representations: prototype accuracy and clustering scores
(:func:`evaluate_run`), for the selected λ of every sweep (:func:`clustering_records`), and
their mean ± std over seeds (:func:`summarize_clustering`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from corel_jax.errors import DataError
from corel_jax.evaluate.clustering import agreement, cluster_scores, prototype_accuracy
from corel_jax.evaluate.options import ReportOptions
from corel_jax.evaluate.selection import selected_runs
from corel_jax.evaluate.stats import mean_std
from corel_jax.evaluate.sweeps import Sweep, load_labels, optional_run_array

#: the scores of one clustering method (columns ``<method>_<key>``)
SCORE_KEYS = ("acc", "ari", "v_measure", "silhouette", "agreement")


def score_columns(methods: Sequence[str]) -> list[str]:
    """A run's score columns: ``proto_acc``, then ``<method>_<key>`` per method and
    :data:`SCORE_KEYS`."""
    return ["proto_acc"] + [f"{m}_{k}" for m in methods for k in SCORE_KEYS]


def evaluate_run(
    run_dir: Path, run: int, similarity: str, labels: np.ndarray, options: ReportOptions
) -> dict[str, Any]:
    """Prototype accuracy and clustering scores of one run: a flat dict
    ``{"proto_acc", "kmeans_acc", "kmeans_ari", ..., "gmm_agreement", "seconds", "note"}``.
    Scores are NaN (with a ``note``) when the run's representations are missing or not
    finite (a diverged run).
    """
    t0 = time.perf_counter()
    row: dict[str, Any] = {"proto_acc": float("nan"), "note": ""}
    for m in options.methods:
        for k in SCORE_KEYS:
            row[f"{m}_{k}"] = float("nan")
    h = optional_run_array(run_dir, run, "test_h")
    if h is None:
        row["note"] = "no test_h.npy"
        return {**row, "seconds": time.perf_counter() - t0}
    h = h.reshape(h.shape[0], -1)
    if h.shape[0] != labels.shape[0]:
        raise DataError(
            f"{run_dir}: run {run}'s test_h has {h.shape[0]} rows but test_labels.npy has "
            f"{labels.shape[0]}"
        )
    pred = optional_run_array(run_dir, run, "test_pred")
    finite = bool(np.all(np.isfinite(h)))
    if pred is not None:
        pred = pred.reshape(-1)
        if pred.shape[0] != labels.shape[0]:
            raise DataError(
                f"{run_dir}: run {run}'s test_pred has {pred.shape[0]} entries but "
                f"test_labels.npy has {labels.shape[0]}"
            )
        row["proto_acc"] = float(np.mean(pred == labels))
    elif finite:
        w = optional_run_array(run_dir, run, "prototypes")
        if w is not None and np.all(np.isfinite(w)):
            row["proto_acc"] = prototype_accuracy(h, w, labels, similarity)
    if not finite:
        row["note"] = "non-finite test_h (diverged)"
        return {**row, "seconds": time.perf_counter() - t0}
    for m in options.methods:
        scores, assignment = cluster_scores(
            h, labels, m, seed=options.seed, normalize=options.normalizes(similarity),
            silhouette_metric=options.silhouette_metric,
            silhouette_sample=options.silhouette_sample, n_init=options.n_init,
            covariance_type=options.covariance_type, max_iter=options.max_iter,
            return_assignment=True,
        )
        for k, v in scores._asdict().items():
            row[f"{m}_{k}"] = v
        if pred is not None:
            row[f"{m}_agreement"] = agreement(labels, assignment, pred)
    return {**row, "seconds": time.perf_counter() - t0}


def clustering_records(
    sweeps: Sequence[Sweep],
    lam_of: dict[tuple[str, str], float],
    options: ReportOptions,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Per-run clustering rows (selected lambda only) for every sweep."""
    rows = []
    labels_cache: dict[Path, np.ndarray] = {}
    todo = [(s, r) for s in sweeps for r in selected_runs(s, lam_of[(s.setting, s.loss)])]
    for i, (s, r) in enumerate(todo):
        d = r["_dir"]
        if d not in labels_cache:
            labels_cache[d] = load_labels(d)
        row = {"setting": s.setting, "loss": s.loss, "seed": int(r["seed"]),
               "lam": float(r["lam"]), "run_dir": str(d), "run": r["_run"]}
        row.update(evaluate_run(d, r["_run"], s.similarity, labels_cache[d], options))
        rows.append(row)
        if progress is not None:
            progress(f"[{i + 1}/{len(todo)}] {s.setting} {s.loss} seed {row['seed']}: "
                     f"{row['seconds']:.1f}s {row['note']}".rstrip())
    return rows


def summarize_clustering(rows: Sequence[dict[str, Any]], methods: Sequence[str]) -> list[dict]:
    """Mean and std over seeds per (setting, loss) of every clustering column."""
    cols = score_columns(methods)
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["setting"], r["loss"]), []).append(r)
    out = []
    for (setting, loss), rs in groups.items():
        s = {"setting": setting, "loss": loss, "lam": rs[0]["lam"], "n": len(rs)}
        for c in cols:
            s[f"{c}_mean"], s[f"{c}_std"] = mean_std(r[c] for r in rs)
        out.append(s)
    return out
