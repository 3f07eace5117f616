"""Reports from run directories: the paper's Table 2 (accuracy), Tables 3-4 (clustering),
Figures 1-2 and validation curves, as Markdown, CSV and PNG.

Runs are grouped into *sweeps* by ``(setting, loss)`` from each run directory's
``config.json``; several directories with the same setting and loss (e.g. separate lambda
ranges) are merged. Per sweep one configuration (λ, and the value of every other axis that
varies) is selected: the one whose mean ``best_val_acc`` over seeds is highest (ties: the
smaller values; :func:`~corel_jax.evaluate.selection.select_config`). Table 2 and the
clustering tables use the runs of that configuration only, one per seed; Figure 2 uses every
lambda at the selected values of the other axes.

Choices (see :class:`ReportOptions`): the clustering options of
:func:`corel_jax.evaluate.clustering.cluster_scores`; ``normalize="auto"`` L2-normalises the
representations of losses whose output layer is cosine (``"cosine"``) and no others. The
prototype accuracy is the output layer's test accuracy from the run's ``test_pred.npy``
(argmax similarity as the engine computed it), or, when that file is absent, argmax
similarity to ``prototypes.npy`` with the loss's similarity.

:func:`write_report` writes one section after the other; the parts have modules of their own:

- :mod:`~corel_jax.evaluate.sweeps` -- run directories grouped into sweeps;
- :mod:`~corel_jax.evaluate.selection` -- the λ curves and the selected λ;
- :mod:`~corel_jax.evaluate.scores` -- one run's prototype accuracy and clustering scores;
- :mod:`~corel_jax.evaluate.tables` -- Tables 2-4 as cells, and their formatting;
- :mod:`~corel_jax.evaluate.figures` -- the figures' contents;
- :mod:`~corel_jax.evaluate.options` -- :class:`ReportOptions`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corel_jax import axes, rundir
from corel_jax.evaluate.figures import write_figures
from corel_jax.evaluate.options import ReportOptions, options_text
from corel_jax.evaluate.scores import (
    clustering_records,
    score_columns,
    summarize_clustering,
)
from corel_jax.evaluate.selection import (
    LAMBDA_CURVE_FIELDS,
    accuracy_records,
    config_curve,
    describe,
    lambda_curve_rows,
    selected_hparams,
    selected_runs,
    varied,
)
from corel_jax.evaluate.stats import SettingComparison, compare_losses, mean_std
from corel_jax.evaluate.sweeps import Sweep, load_sweeps
from corel_jax.evaluate.tables import (
    METHOD_TITLES,
    clustering_table,
    fmt,
    lam_str,
    md_table,
    score_titles,
    table2,
)

logger = logging.getLogger(__name__)

ACCURACY_RUN_FIELDS = ("setting", "loss", "seed", *axes.NAMES,
                       "test_acc", "best_val_acc",
                       "best_epoch", "diverged", "run_dir", "run")
ACCURACY_SUMMARY_FIELDS = ("setting", "loss", "lam", "n", "mean", "std", "best", "runner_up",
                           "t", "p", "n_pairs", "marker")


@dataclass
class ReportFiles:
    """The report's folder and the files written into it so far (``{name: path}``)."""

    out: Path
    written: dict[str, Path] = field(default_factory=dict)

    def path_for(self, name: str) -> Path:
        """Where file ``name`` goes; records it as written."""
        self.written[name] = self.out / name
        return self.out / name

    def csv(self, name: str, rows: Sequence[dict], fields: Sequence[str]) -> None:
        rundir.write_csv(self.out / name, rows, fields)
        self.path_for(name)


def write_report(
    paths: Iterable[Path | str],
    out_dir: Path | str,
    options: ReportOptions | None = None,
    progress: Callable[[str], None] | None = logger.info,
    *,
    group_by: Sequence[str] = (),
    skip_incomplete: bool = False,
    warn: Callable[[str], None] | None = logger.warning,
) -> dict[str, Path]:
    """Writes ``report.md``, the CSVs and the PNGs for the run directories ``paths`` into
    ``out_dir``; returns ``{name: path}`` of every file written.

    CSVs: ``table2_accuracy.csv`` (Table 2 layout), ``accuracy_summary.csv`` (numbers and
    t-tests), ``accuracy_runs.csv`` (the runs behind Table 2), ``lambda_curve.csv``
    (Figure 2's numbers), ``table3_clustering.csv`` (Tables 3-4 layout, all settings),
    ``clustering_summary.csv`` and ``clustering_runs.csv``. PNGs: ``fig1_pca_<setting>.png``,
    ``fig2_lambda_<setting>.png``, ``val_curves_<setting>.png``.

    Run directories that are not comparable are refused, incomplete ones too (see
    :func:`~corel_jax.evaluate.sweeps.load_sweeps` for ``group_by`` and ``skip_incomplete``),
    before anything is written.

    ``progress`` (one line per clustered run) and ``warn`` (a run directory left out) are
    where messages go: by default INFO and WARNING records of the
    ``corel_jax.evaluate.report`` logger (:mod:`logging`: shown once you configure logging;
    the library adds no handler); any callable of one string; None: none (a ``warn`` of None
    falls back to ``progress``).
    """
    options = options or ReportOptions()
    paths = list(paths)
    t_start = time.perf_counter()
    warn = warn or progress
    sweeps = load_sweeps(paths, group_by=group_by, skip_incomplete=skip_incomplete, warn=warn)
    files = ReportFiles(Path(out_dir))
    files.out.mkdir(parents=True, exist_ok=True)
    acc_runs, lam_of = accuracy_records(sweeps)
    comparisons = compare_losses(acc_runs, "test_acc")

    md = ["# corel-jax report", ""]
    md += ["Run directories:", ""] + [f"- `{d}` ({s.setting}, {s.loss})"
                                      for s in sweeps for d in s.dirs] + [""]
    md += _accuracy_section(sweeps, acc_runs, lam_of, comparisons, files)
    if options.clustering:
        md += _clustering_section(sweeps, lam_of, list(comparisons), options, progress, files)
    if options.plots:
        md += ["## Figures", ""]
        md += write_figures(sweeps, lam_of, options, files.path_for)
    md += ["", f"_Generated by `corel-jax report` in {time.perf_counter() - t_start:.1f} s._", ""]
    rundir.write_text(files.path_for("report.md"), "\n".join(md))
    return files.written


def _accuracy_section(sweeps: Sequence[Sweep], acc_runs: list[dict],
                      lam_of: dict[tuple[str, str], float],
                      comparisons: dict[str, SettingComparison], files: ReportFiles) -> list[str]:
    """Table 2 and the λ selection: writes ``accuracy_runs.csv``, ``accuracy_summary.csv``,
    ``table2_accuracy.csv`` and ``lambda_curve.csv``; returns the section's Markdown lines."""
    files.csv("accuracy_runs.csv", acc_runs, ACCURACY_RUN_FIELDS)
    files.csv("accuracy_summary.csv", _accuracy_summary_rows(comparisons, lam_of),
              ACCURACY_SUMMARY_FIELDS)
    header, md_rows, plain_rows = table2(comparisons, lam_of, sweeps)
    files.csv("table2_accuracy.csv", [dict(zip(header, r)) for r in plain_rows], header)
    files.csv("lambda_curve.csv", lambda_curve_rows(sweeps, lam_of), LAMBDA_CURVE_FIELDS)

    md = ["## Test accuracy (Table 2)", "",
          "Test accuracy (%) at each run's best validation epoch, mean ± std (sample std) over "
          "seeds, for the λ with the highest mean best validation accuracy. Bold: best loss; "
          r"\* / \*\*: a paired two-tailed t-test (runs paired by seed) against the next "
          "best gives p < 0.05 / p < 0.01.", "", md_table(header, md_rows), ""]
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
    grids = {(s.setting, s.loss): selected_hparams(s) for s in sweeps}
    hp_col = any(grids.values())  # some sweep varies lr, γ or α besides λ
    md += ["", "Selected " + ("configuration" if hp_col else "λ") + " per setting and loss "
           "(highest mean best validation accuracy over seeds):", ""]
    md.append(md_table(
        ["Setting", "Loss", "λ"] + (["other hyperparameters"] if hp_col else [])
        + ["mean best val acc", "seeds", "λ tried"],
        [[s.setting, s.loss, lam_str(lam_of[(s.setting, s.loss)], s.uses_lam)]
         + ([describe(grids[(s.setting, s.loss)]) or "—"] if hp_col else [])
         + [fmt(*mean_std(r["best_val_acc"] for r in acc_runs
                          if (r["setting"], r["loss"]) == (s.setting, s.loss)), 100, 2),
            str(len(selected_runs(s, lam_of[(s.setting, s.loss)]))),
            ", ".join(lam_str(x, s.uses_lam) for x in s.lams)] for s in sweeps]))
    md.append("")
    for s in sweeps:
        if not grids[(s.setting, s.loss)]:
            continue
        keys = varied(s.runs)
        md += [f"Every configuration of {s.setting}, {s.loss} (mean ± std best validation "
               "accuracy over seeds, %):", ""]
        md.append(md_table(
            [axes.BY_NAME[k].label for k in keys]
            + ["mean best val acc", "seeds"],
            [[f"{c[k]:g}" for k in keys] + [fmt(c["mean"], c["std"], 100, 2), str(c["n"])]
             for c in config_curve(s.runs, keys)]))
        md.append("")
    return md


def _accuracy_summary_rows(comparisons: dict[str, SettingComparison],
                           lam_of: dict[tuple[str, str], float]) -> list[dict[str, Any]]:
    """``accuracy_summary.csv``: per setting and loss the test accuracy's mean and std; the
    best loss's row also has its t-test against the runner-up."""
    rows = []
    for setting, c in comparisons.items():
        for loss, x in c.losses.items():
            best = loss == c.best
            rows.append({
                "setting": setting, "loss": loss, "lam": lam_of[(setting, loss)], "n": x.n,
                "mean": x.mean, "std": x.std, "best": best,
                "runner_up": c.runner_up if best else "", "t": c.t if best else "",
                "p": c.p if best else "", "n_pairs": c.n_pairs if best else "",
                "marker": c.marker if best else "",
            })
    return rows


def _clustering_section(sweeps: Sequence[Sweep], lam_of: dict[tuple[str, str], float],
                        settings: Sequence[str], options: ReportOptions,
                        progress: Callable[[str], None] | None,
                        files: ReportFiles) -> list[str]:
    """Tables 3-4 (one per setting): scores the selected-λ runs; writes
    ``clustering_runs.csv``, ``clustering_summary.csv`` and ``table3_clustering.csv``; returns
    the section's Markdown lines."""
    t0 = time.perf_counter()
    crow = clustering_records(sweeps, lam_of, options, progress)
    t_cluster = time.perf_counter() - t0
    score_cols = score_columns(options.methods)
    files.csv("clustering_runs.csv", crow, ["setting", "loss", "seed", "lam", *score_cols,
                                            "seconds", "note", "run_dir", "run"])
    csum = summarize_clustering(crow, options.methods)
    uses_lam = {(s.setting, s.loss): s.uses_lam for s in sweeps}
    for c in csum:
        c["uses_lam"] = uses_lam.get((c["setting"], c["loss"]), True)
    files.csv("clustering_summary.csv", csum,
              ["setting", "loss", "lam", "n"]
              + [f"{c}_{s}" for c in score_cols for s in ("mean", "std")])
    md = ["## Clustering of test representations (Tables 3–4)", "",
          "Per run (selected λ), the test representations are clustered with "
          + " and ".join(METHOD_TITLES[m] for m in options.methods)
          + " into K = number of classes clusters; mean ± std over seeds. Acc: accuracy "
          "after matching clusters to classes (Hungarian algorithm); ARI: adjusted Rand "
          "index; V-M: V-measure; Sil.: silhouette of the cluster assignment; Proto Acc: "
          "accuracy of the output layer (argmax similarity to the learned prototypes); "
          "Agree: fraction of points whose matched cluster equals the output layer's "
          "prediction. Bold: best per column.", "",
          "Options: " + options_text(options) + f". Clustering took {t_cluster:.1f} s "
          f"for {len(crow)} runs.", ""]
    table_rows = []
    for setting in settings:
        header, md_rows, plain_rows = clustering_table(csum, options.methods, setting)
        md += [f"### {setting}", "", md_table(header, md_rows), ""]
        table_rows += [{"Setting": setting, **dict(zip(header, r))} for r in plain_rows]
    files.csv("table3_clustering.csv", table_rows,
              ["Setting", "Loss", "λ", "n"] + score_titles(options.methods))
    notes = [r for r in crow if r["note"]]
    if notes:
        md += ["Runs without clustering scores:", ""] + [
            f"- {r['setting']} {r['loss']} seed {r['seed']}: {r['note']}" for r in notes] + [""]
    return md
