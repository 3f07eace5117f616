"""Reports from run directories: the paper's Table 2 (accuracy), Tables 3-4 (clustering),
Figures 1-2 and validation curves, as Markdown, CSV and PNG.

Runs are grouped into *sweeps* by ``(setting, loss)`` from each run directory's
``config.json``; several directories with the same setting and loss (e.g. separate lambda
ranges) are merged. Per sweep one lambda is selected: the one whose mean ``best_val_acc``
over seeds is highest (ties: the smaller lambda). Table 2 and the clustering tables use the
runs of that lambda only, one per seed; Figure 2 uses every lambda.

Choices (see :class:`ReportOptions`): the clustering options of
:func:`corel_jax.evaluate.clustering.cluster_scores`; ``normalize="auto"`` L2-normalises the
representations of losses whose output layer is cosine (``"cosine"``) and no others. The
prototype accuracy is the output layer's test accuracy from the run's ``test_pred.npy``
(argmax similarity as the engine computed it), or, when that file is absent, argmax
similarity to ``prototypes.npy`` with the loss's similarity.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from corel_jax import rundir
from corel_jax.errors import ConfigError, DataError, MissingDataError
from corel_jax.evaluate.clustering import (
    COVARIANCE_TYPES,
    DEFAULT_N_INIT,
    METHODS,
    agreement,
    cluster_scores,
    prototype_accuracy,
)
from corel_jax.evaluate.stats import compare_losses, loss_sort_key, mean_std

METHOD_TITLES = {"kmeans": "K-Means", "gmm": "GMM"}
SCORE_KEYS = ("acc", "ari", "v_measure", "silhouette", "agreement")
SCORE_TITLES = {"acc": "Acc", "ari": "ARI", "v_measure": "V-M", "silhouette": "Sil.",
                "agreement": "Agree"}
NORMALIZE_CHOICES = ("auto", "always", "never")


@dataclass(frozen=True)
class ReportOptions:
    """What a report computes. ``methods``: clustering methods (``"kmeans"``, ``"gmm"``);
    ``normalize``: ``"auto"`` (cosine losses only), ``"always"`` or ``"never"``; the
    silhouette and clustering options as in :func:`~corel_jax.evaluate.cluster_scores`;
    ``seed``: clustering / sampling seed (the same for every run, so differences between
    runs come from training); ``pca_points``: points per Figure 1 panel; ``plots`` /
    ``clustering``: skip the PNGs / the clustering tables when ``False``.
    """

    methods: tuple[str, ...] = METHODS
    normalize: str = "auto"
    silhouette_metric: str = "euclidean"
    silhouette_sample: int | None = 5000
    n_init: int | None = None
    covariance_type: str = "diag"
    max_iter: int | None = None
    seed: int = 0
    pca_points: int = 2000
    plots: bool = True
    clustering: bool = True

    def __post_init__(self):
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise ConfigError(
                f"methods must be a non-empty subset of {METHODS}; got {self.methods}"
            )
        if self.normalize not in NORMALIZE_CHOICES:
            raise ConfigError(
                f"normalize must be one of {NORMALIZE_CHOICES}; got {self.normalize!r}"
            )
        if self.covariance_type not in COVARIANCE_TYPES:
            raise ConfigError(
                f"covariance_type must be one of {COVARIANCE_TYPES}; got {self.covariance_type!r}"
            )
        if self.n_init is not None and self.n_init < 1:
            raise ConfigError(f"n_init must be >= 1 (or None for the default); got "
                              f"{self.n_init}")
        if self.silhouette_sample is not None and self.silhouette_sample < 2:
            raise ConfigError(f"silhouette_sample must be >= 2; got {self.silhouette_sample}")
        if self.pca_points < 2:
            raise ConfigError(f"pca_points must be >= 2; got {self.pca_points}")

    def normalizes(self, similarity: str) -> bool:
        """Whether representations of a loss that predicts with ``similarity`` (the run
        directory's, see :func:`corel_jax.rundir.similarity_of`) are L2-normalised before
        clustering / PCA."""
        if self.normalize == "auto":
            return similarity == "cosine"
        return self.normalize == "always"


@dataclass
class Sweep:
    """The runs of one ``(setting, loss)``, possibly from several run directories.

    ``runs``: run records (see :mod:`corel_jax.rundir`) with two extra keys, ``"_dir"``
    (the run directory) and ``"_run"`` (the run's index there). ``similarity``: what the loss
    predicts with; ``uses_lam``: whether it reads λ (from ``config.json``).
    """

    setting: str
    loss: str
    dirs: list[Path]
    runs: list[dict[str, Any]] = field(default_factory=list)
    similarity: str = "dot"
    uses_lam: bool = True

    @property
    def lams(self) -> list[float]:
        return sorted({float(r["lam"]) for r in self.runs})


# --------------------------------------------------------------------------- loading


def find_run_dirs(paths: Iterable[Path | str]) -> list[Path]:
    """Run directories named by ``paths``: each path is a run directory, or a folder searched
    (recursively) for run directories. Raises :class:`MissingDataError` when one holds none.
    """
    out: list[Path] = []
    for p in map(Path, paths):
        if rundir.is_run_dir(p):
            found = [p]
        elif p.is_dir():
            found = sorted(q.parent for q in p.rglob(rundir.CONFIG) if rundir.is_run_dir(q.parent))
        else:
            raise MissingDataError(
                f"{p} does not exist; pass a run directory (or a folder of them)"
            )
        if not found:
            raise MissingDataError(
                f"{p} is not a run directory and holds none (a run directory has "
                f"{rundir.CONFIG} and {rundir.RUNS_JSON}, written by `corel-jax train`)"
            )
        out.extend(q for q in found if q not in out)
    return out


def _setting_of(config: dict[str, Any], path: Path) -> str:
    if config.get("setting"):
        return str(config["setting"])
    if config.get("dataset") and config.get("model"):
        return f"{config['dataset']}-{config['model']}"
    raise DataError(f"{path / rundir.CONFIG} names no 'setting' (nor 'dataset' and 'model')")


def load_sweeps(paths: Iterable[Path | str]) -> list[Sweep]:
    """Loads and groups run directories into sweeps, ordered by setting then loss."""
    sweeps: dict[tuple[str, str], Sweep] = {}
    for d in find_run_dirs(paths):
        try:
            config = rundir.load_config(d)
            records = rundir.load_runs(d)
        except rundir.RunDirError as e:
            raise MissingDataError(str(e)) from e
        except ValueError as e:  # json.JSONDecodeError
            raise DataError(f"{d}: unreadable config.json or runs.json ({e})") from e
        if "loss" not in config:
            raise DataError(f"{d / rundir.CONFIG} names no 'loss'")
        key = (_setting_of(config, d), str(config["loss"]))
        sweep = sweeps.setdefault(key, Sweep(key[0], key[1], [],
                                             similarity=rundir.similarity_of(config),
                                             uses_lam=rundir.uses_lam(config)))
        sweep.dirs.append(d)
        seen = {(int(r["seed"]), float(r["lam"])): r["_dir"] for r in sweep.runs}
        for r in records:
            missing = [k for k in ("run", "seed", "lam", "best_val_acc", "test_acc") if k not in r]
            if missing:
                raise DataError(f"{d / rundir.RUNS_JSON}: a run record is missing {missing}")
            k = (int(r["seed"]), float(r["lam"]))
            if k in seen:
                raise ConfigError(
                    f"setting {key[0]!r}, loss {key[1]!r}: seed {k[0]}, lambda {k[1]} appears "
                    f"in both {seen[k]} and {d}; report each run once"
                )
            seen[k] = d
            sweep.runs.append({**r, "_dir": d, "_run": int(r["run"])})
    return [sweeps[k] for k in sorted(sweeps, key=lambda k: (k[0], loss_sort_key(k[1])))]


def _finite(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v if math.isfinite(v) else float("nan")


def lambda_curve(runs: Sequence[dict[str, Any]], key: str = "best_val_acc") -> list[dict]:
    """Per lambda: ``{"lam", "mean", "std", "n"}`` of ``key`` over the runs (seeds).

    >>> lambda_curve([{"lam": 0.5, "best_val_acc": 0.9}, {"lam": 0.5, "best_val_acc": 0.7},
    ...               {"lam": 0.1, "best_val_acc": 0.85}])
    [{'lam': 0.1, 'mean': 0.85, 'std': nan, 'n': 1},
     {'lam': 0.5, 'mean': 0.8, 'std': 0.141421356237, 'n': 2}]
    """
    out = []
    for lam in sorted({float(r["lam"]) for r in runs}):
        vals = [_finite(r[key]) for r in runs if float(r["lam"]) == lam]
        m, s = mean_std(vals)
        out.append({"lam": lam, "mean": m, "std": s, "n": sum(map(math.isfinite, vals))})
    return out


def select_lambda(runs: Sequence[dict[str, Any]]) -> float:
    """The lambda with the highest mean ``best_val_acc`` over seeds (ties: the smaller).

    >>> select_lambda([{"lam": 0.5, "best_val_acc": 0.9}, {"lam": 0.5, "best_val_acc": 0.7},
    ...                {"lam": 0.1, "best_val_acc": 0.85}])
    0.1
    """
    if not runs:
        raise DataError("no runs to select a lambda from")
    curve = lambda_curve(runs)
    best = max(curve, key=lambda c: (c["mean"] if math.isfinite(c["mean"]) else -math.inf,
                                     -c["lam"]))
    return best["lam"]


def selected_runs(sweep: Sweep, lam: float) -> list[dict[str, Any]]:
    """The sweep's runs at ``lam``, ordered by seed."""
    return sorted((r for r in sweep.runs if float(r["lam"]) == lam), key=lambda r: int(r["seed"]))


# --------------------------------------------------------------------------- computing


def accuracy_records(sweeps: Sequence[Sweep]) -> tuple[list[dict], dict[tuple[str, str], float]]:
    """Per-run records for Table 2 (selected lambda only) and the selected lambda per sweep."""
    lam_of: dict[tuple[str, str], float] = {}
    records = []
    for s in sweeps:
        lam = select_lambda(s.runs)
        lam_of[(s.setting, s.loss)] = lam
        for r in selected_runs(s, lam):
            records.append({
                "setting": s.setting, "loss": s.loss, "seed": int(r["seed"]), "lam": lam,
                "test_acc": _finite(r["test_acc"]), "best_val_acc": _finite(r["best_val_acc"]),
                "best_epoch": r.get("best_epoch"), "diverged": bool(r.get("diverged", False)),
                "run_dir": str(r["_dir"]), "run": r["_run"],
            })
    return records, lam_of


def _load_array(d: Path, run: int, name: str) -> np.ndarray | None:
    try:
        return rundir.load_run_array(d, run, name)
    except rundir.RunDirError:
        return None


def load_labels(run_dir: Path) -> np.ndarray:
    """The run directory's test labels ``[N]`` (int64), or :class:`MissingDataError`."""
    try:
        return rundir.load_test_labels(run_dir).reshape(-1).astype(np.int64)
    except rundir.RunDirError as e:
        raise MissingDataError(str(e)) from e


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
    h = _load_array(run_dir, run, "test_h")
    if h is None:
        row["note"] = "no test_h.npy"
        return {**row, "seconds": time.perf_counter() - t0}
    h = h.reshape(h.shape[0], -1)
    if h.shape[0] != labels.shape[0]:
        raise DataError(
            f"{run_dir}: run {run}'s test_h has {h.shape[0]} rows but test_labels.npy has "
            f"{labels.shape[0]}"
        )
    pred = _load_array(run_dir, run, "test_pred")
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
        w = _load_array(run_dir, run, "prototypes")
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
    cols = ["proto_acc"] + [f"{m}_{k}" for m in methods for k in SCORE_KEYS]
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


# --------------------------------------------------------------------------- formatting


def fmt(mean: float, std: float, scale: float = 1.0, digits: int = 3) -> str:
    """``"mean ± std"`` (scaled), a bare mean when std is NaN, ``"n/a"`` when mean is NaN.

    >>> fmt(0.98123, 0.0005, 100, 2), fmt(0.5, float("nan")), fmt(float("nan"), 0.1)
    ('98.12 ± 0.05', '0.500', 'n/a')
    """
    if not math.isfinite(mean):
        return "n/a"
    if not math.isfinite(std):
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} ± {std * scale:.{digits}f}"


def _md_escape(s: str) -> str:
    return s.replace("*", r"\*").replace("|", r"\|")


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _lam_str(lam: float, uses_lam: bool = True) -> str:
    """λ as the tables show it: "—" for a loss that does not read λ (e.g. CCE)."""
    return f"{lam:g}" if uses_lam else "—"


def _filename(setting: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", setting) or "setting"


def table2(
    comparisons: dict, lam_of: dict[tuple[str, str], float], sweeps: Sequence[Sweep]
) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """Table 2 as ``(header, markdown rows, plain-text rows)``: rows = losses, columns =
    settings, cells = test accuracy (%) mean ± std over seeds; the best loss per setting in
    bold with ``*`` / ``**`` when it beats the runner-up at p < 0.05 / 0.01 (paired t-test);
    ``(λ=...)`` when the sweep tried several lambdas.
    """
    settings = list(comparisons)
    losses = sorted({loss for c in comparisons.values() for loss in c.losses}, key=loss_sort_key)
    multi = {(s.setting, s.loss): len(s.lams) > 1 for s in sweeps}
    md_rows, csv_rows = [], []
    for loss in losses:
        md, plain = [loss], [loss]
        for setting in settings:
            c = comparisons[setting]
            if loss not in c.losses:
                md.append("—")
                plain.append("")
                continue
            x = c.losses[loss]
            cell = fmt(x.mean, x.std, 100, 2)
            lam = f" (λ={_lam_str(lam_of[(setting, loss)])})" if multi[(setting, loss)] else ""
            if loss == c.best:
                md.append(f"**{cell}**{_md_escape(c.marker)}{lam}")
                plain.append(f"{cell}{c.marker}{lam}")
            else:
                md.append(cell + lam)
                plain.append(cell + lam)
        md_rows.append(md)
        csv_rows.append(plain)
    return ["Loss"] + settings, md_rows, csv_rows


def clustering_table(
    summaries: Sequence[dict], methods: Sequence[str], setting: str
) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """Tables 3-4 for one setting: rows = losses; columns = prototype accuracy, then per
    method Acc, ARI, V-M, Sil. and agreement with the output layer; best mean per column in
    bold (markdown rows).
    """
    rows = sorted((s for s in summaries if s["setting"] == setting),
                  key=lambda s: loss_sort_key(s["loss"]))
    cols = ["proto_acc"] + [f"{m}_{k}" for m in methods for k in SCORE_KEYS]
    header = ["Loss", "λ", "n", "Proto Acc"] + [
        f"{METHOD_TITLES[m]} {SCORE_TITLES[k]}" for m in methods for k in SCORE_KEYS
    ]
    best = {}
    for c in cols:
        means = [s[f"{c}_mean"] for s in rows if math.isfinite(s[f"{c}_mean"])]
        best[c] = max(means) if means else None
    md_rows, plain_rows = [], []
    for s in rows:
        md = [s["loss"], _lam_str(s["lam"], s.get("uses_lam", True)), str(s["n"])]
        plain = list(md)
        for c in cols:
            cell = fmt(s[f"{c}_mean"], s[f"{c}_std"])
            plain.append(cell)
            is_best = best[c] is not None and len(rows) > 1 and s[f"{c}_mean"] == best[c]
            md.append(f"**{cell}**" if is_best else cell)
        md_rows.append(md)
        plain_rows.append(plain)
    return header, md_rows, plain_rows


# --------------------------------------------------------------------------- writing


def write_report(
    paths: Iterable[Path | str],
    out_dir: Path | str,
    options: ReportOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Writes ``report.md``, the CSVs and the PNGs for the run directories ``paths`` into
    ``out_dir``; returns ``{name: path}`` of every file written.

    CSVs: ``table2_accuracy.csv`` (Table 2 layout), ``accuracy_summary.csv`` (numbers and
    t-tests), ``accuracy_runs.csv`` (the runs behind Table 2), ``lambda_curve.csv``
    (Figure 2's numbers), ``table3_clustering.csv`` (Tables 3-4 layout, all settings),
    ``clustering_summary.csv`` and ``clustering_runs.csv``. PNGs: ``fig1_pca_<setting>.png``,
    ``fig2_lambda_<setting>.png``, ``val_curves_<setting>.png``.
    """
    options = options or ReportOptions()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    sweeps = load_sweeps(paths)
    written: dict[str, Path] = {}

    def csv(name: str, rows: Sequence[dict], fields: Sequence[str]) -> None:
        rundir.write_csv(out / name, rows, fields)
        written[name] = out / name

    # ---- Table 2 and the lambda curves
    acc_runs, lam_of = accuracy_records(sweeps)
    uses_lam = {(s.setting, s.loss): s.uses_lam for s in sweeps}
    comparisons = compare_losses(acc_runs, "test_acc")
    csv("accuracy_runs.csv", acc_runs, ["setting", "loss", "seed", "lam", "test_acc",
                                        "best_val_acc", "best_epoch", "diverged", "run_dir",
                                        "run"])
    summary_rows = []
    for setting, c in comparisons.items():
        for loss, x in c.losses.items():
            summary_rows.append({
                "setting": setting, "loss": loss, "lam": lam_of[(setting, loss)], "n": x.n,
                "mean": x.mean, "std": x.std, "best": loss == c.best,
                "runner_up": c.runner_up if loss == c.best else "",
                "t": c.t if loss == c.best else "", "p": c.p if loss == c.best else "",
                "n_pairs": c.n_pairs if loss == c.best else "",
                "marker": c.marker if loss == c.best else "",
            })
    csv("accuracy_summary.csv", summary_rows, ["setting", "loss", "lam", "n", "mean", "std",
                                               "best", "runner_up", "t", "p", "n_pairs",
                                               "marker"])
    header, md_rows, plain_rows = table2(comparisons, lam_of, sweeps)
    csv("table2_accuracy.csv", [dict(zip(header, r)) for r in plain_rows], header)
    curve_rows = []
    for s in sweeps:
        for c in lambda_curve(s.runs):
            curve_rows.append({"setting": s.setting, "loss": s.loss, "lam": c["lam"],
                               "mean_best_val_acc": c["mean"], "std_best_val_acc": c["std"],
                               "n": c["n"], "selected": c["lam"] == lam_of[(s.setting, s.loss)]})
    csv("lambda_curve.csv", curve_rows, ["setting", "loss", "lam", "mean_best_val_acc",
                                         "std_best_val_acc", "n", "selected"])

    md = ["# corel-jax report", ""]
    md += ["Run directories:", ""] + [f"- `{d}` ({s.setting}, {s.loss})"
                                      for s in sweeps for d in s.dirs] + [""]
    md += ["## Test accuracy (Table 2)", "",
           "Test accuracy (%) at each run's best validation epoch, mean ± std (sample std) over "
           "seeds, for the λ with the highest mean best validation accuracy. Bold: best loss; "
           r"\* / \*\*: a paired two-tailed t-test (runs paired by seed) against the next "
           "best gives p < 0.05 / p < 0.01.", "", _md_table(header, md_rows), ""]
    for setting, c in comparisons.items():
        if c.runner_up is None:
            md.append(f"- {setting}: only one loss, no t-test.")
        elif math.isfinite(c.p):
            md.append(f"- {setting}: {c.best} vs {c.runner_up}: t = {c.t:.3f}, "
                      f"p = {c.p:.3g} ({c.n_pairs} paired seeds)")
        else:
            md.append(f"- {setting}: {c.best} vs {c.runner_up}: t-test undefined "
                      f"({c.n_pairs} paired seeds; needs ≥ 2 with non-constant differences)")
    n_div = sum(r["diverged"] for r in acc_runs)
    if n_div:
        md.append(f"- {n_div} of the runs above diverged; their numbers are from before "
                  "divergence.")
    md += ["", "Selected λ per setting and loss (mean best validation accuracy over seeds):", ""]
    md.append(_md_table(
        ["Setting", "Loss", "λ", "mean best val acc", "seeds", "λ tried"],
        [[s.setting, s.loss, _lam_str(lam_of[(s.setting, s.loss)], s.uses_lam),
          fmt(*mean_std(r["best_val_acc"] for r in acc_runs
                        if (r["setting"], r["loss"]) == (s.setting, s.loss)), 100, 2),
          str(len(selected_runs(s, lam_of[(s.setting, s.loss)]))),
          ", ".join(_lam_str(x, s.uses_lam) for x in s.lams)] for s in sweeps]))
    md.append("")

    # ---- Tables 3-4
    if options.clustering:
        t0 = time.perf_counter()
        crow = clustering_records(sweeps, lam_of, options, progress)
        t_cluster = time.perf_counter() - t0
        score_cols = ["proto_acc"] + [f"{m}_{k}" for m in options.methods for k in SCORE_KEYS]
        csv("clustering_runs.csv", crow, ["setting", "loss", "seed", "lam", *score_cols,
                                          "seconds", "note", "run_dir", "run"])
        csum = summarize_clustering(crow, options.methods)
        for c in csum:
            c["uses_lam"] = uses_lam.get((c["setting"], c["loss"]), True)
        csv("clustering_summary.csv", csum,
            ["setting", "loss", "lam", "n"]
            + [f"{c}_{s}" for c in score_cols for s in ("mean", "std")])
        table_rows = []
        md += ["## Clustering of test representations (Tables 3–4)", "",
               "Per run (selected λ), the test representations are clustered with "
               + " and ".join(METHOD_TITLES[m] for m in options.methods)
               + " into K = number of classes clusters; mean ± std over seeds. Acc: accuracy "
               "after matching clusters to classes (Hungarian algorithm); ARI: adjusted Rand "
               "index; V-M: V-measure; Sil.: silhouette of the cluster assignment; Proto Acc: "
               "accuracy of the output layer (argmax similarity to the learned prototypes); "
               "Agree: fraction of points whose matched cluster equals the output layer's "
               "prediction. Bold: best per column.", "",
               "Options: " + _options_text(options) + f". Clustering took {t_cluster:.1f} s "
               f"for {len(crow)} runs.", ""]
        for setting in comparisons:
            h2, mdr, plain = clustering_table(csum, options.methods, setting)
            md += [f"### {setting}", "", _md_table(h2, mdr), ""]
            table_rows += [{"Setting": setting, **dict(zip(h2, r))} for r in plain]
        h3 = ["Setting", "Loss", "λ", "n", "Proto Acc"] + [
            f"{METHOD_TITLES[m]} {SCORE_TITLES[k]}" for m in options.methods for k in SCORE_KEYS]
        csv("table3_clustering.csv", table_rows, h3)
        notes = [r for r in crow if r["note"]]
        if notes:
            md += ["Runs without clustering scores:", ""] + [
                f"- {r['setting']} {r['loss']} seed {r['seed']}: {r['note']}" for r in notes] + [""]

    # ---- figures
    if options.plots:
        md += ["## Figures", ""]
        md += _write_figures(sweeps, lam_of, options, out, written)

    md += ["", f"_Generated by `corel-jax report` in {time.perf_counter() - t_start:.1f} s._", ""]
    rundir.write_text(out / "report.md", "\n".join(md))
    written["report.md"] = out / "report.md"
    return written


def _options_text(o: ReportOptions) -> str:
    d = asdict(o)
    keys = ("normalize", "silhouette_metric", "silhouette_sample", "n_init", "covariance_type",
            "max_iter", "seed")
    if d["n_init"] is None:
        d["n_init"] = "default (" + ", ".join(f"{m} {n}" for m, n in DEFAULT_N_INIT.items()) + ")"
    return ", ".join(f"{k}={d[k]}" for k in keys)


def _write_figures(sweeps, lam_of, options: ReportOptions, out: Path, written) -> list[str]:
    from corel_jax.evaluate import plots

    md: list[str] = []
    for setting in dict.fromkeys(s.setting for s in sweeps):
        group = [s for s in sweeps if s.setting == setting]
        name = _filename(setting)
        # Figure 1: for each loss, the selected-lambda run with the best validation accuracy.
        panels = []
        for s in group:
            runs = selected_runs(s, lam_of[(s.setting, s.loss)])
            r = max(runs, key=lambda r: (_finite(r["best_val_acc"]) if math.isfinite(
                _finite(r["best_val_acc"])) else -1.0, -int(r["seed"])))
            h = _load_array(r["_dir"], r["_run"], "test_h")
            if h is None:
                continue
            h = h.reshape(h.shape[0], -1)
            if not np.all(np.isfinite(h)):
                continue
            if options.normalizes(s.similarity):
                from corel_jax.evaluate.clustering import l2_normalize

                h = l2_normalize(h)
            labels = load_labels(r["_dir"])
            panels.append((f"{s.loss} (seed {r['seed']}, λ={_lam_str(float(r['lam']))})",
                           h, labels))
        if panels:
            f = f"fig1_pca_{name}.png"
            plots.plot_pca_panels(panels, out / f, title=f"{setting}: test representations, PCA",
                                  max_points=options.pca_points, seed=options.seed)
            written[f] = out / f
            md += [f"![Figure 1, {setting}]({f})", ""]
        # Figure 2: best validation accuracy vs lambda.
        curves = {}
        for s in group:
            c = lambda_curve(s.runs)
            curves[s.loss] = ([x["lam"] for x in c], [x["mean"] for x in c],
                              [x["std"] for x in c])
        f = f"fig2_lambda_{name}.png"
        plots.plot_lambda_curves(curves, out / f, title=f"{setting}: best validation accuracy")
        written[f] = out / f
        md += [f"![Figure 2, {setting}]({f})", ""]
        # Validation curves of the selected-lambda runs.
        vcurves = {}
        for s in group:
            arrs = []
            for r in selected_runs(s, lam_of[(s.setting, s.loss)]):
                try:
                    va = rundir.load_curves(r["_dir"])["val_acc"]
                except rundir.RunDirError:
                    continue
                if r["_run"] < va.shape[0]:
                    arrs.append(va[r["_run"]])
            if arrs:
                width = max(a.shape[0] for a in arrs)
                vcurves[f"{s.loss} (λ={_lam_str(lam_of[(s.setting, s.loss)])})"] = np.stack(
                    [np.pad(a, (0, width - a.shape[0]), constant_values=np.nan) for a in arrs])
        if vcurves:
            f = f"val_curves_{name}.png"
            plots.plot_val_curves(vcurves, out / f,
                                  title=f"{setting}: validation accuracy (mean, min–max)")
            written[f] = out / f
            md += [f"![Validation curves, {setting}]({f})", ""]
    return md
