"""The report's figures, per setting: what each shows (which runs, which numbers); the
drawing is :mod:`corel_jax.evaluate.plots`'s.

- Figure 1 (``fig1_pca_<setting>.png``): PCA of the test representations, one panel per loss:
  its selected-λ run with the best validation accuracy.
- Figure 2 (``fig2_lambda_<setting>.png``): best validation accuracy against λ, per loss.
- ``val_curves_<setting>.png``: validation accuracy per epoch of the selected-λ runs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from corel_jax import rundir
from corel_jax.evaluate.options import ReportOptions
from corel_jax.evaluate.selection import curve_runs, finite, lambda_curve, selected_runs
from corel_jax.evaluate.sweeps import Sweep, load_labels, optional_run_array
from corel_jax.evaluate.tables import lam_str


def write_figures(sweeps: Sequence[Sweep], lam_of: dict[tuple[str, str], float],
                  options: ReportOptions, path_for: Callable[[str], Path]) -> list[str]:
    """Draws every setting's figures; returns the report's Markdown lines that show them.

    ``lam_of``: the selected λ per ``(setting, loss)``; ``path_for(name)``: where the report
    writes the file ``name`` (it records it among the files written).
    """
    from corel_jax.evaluate import plots

    md: list[str] = []
    for setting in dict.fromkeys(s.setting for s in sweeps):
        group = [s for s in sweeps if s.setting == setting]
        name = _filename(setting)
        panels = _pca_panels(group, lam_of, options)
        if panels:
            f = f"fig1_pca_{name}.png"
            plots.plot_pca_panels(panels, path_for(f),
                                  title=f"{setting}: test representations, PCA",
                                  max_points=options.pca_points, seed=options.seed)
            md += [f"![Figure 1, {setting}]({f})", ""]
        f = f"fig2_lambda_{name}.png"
        plots.plot_lambda_curves(_lambda_curves(group), path_for(f),
                                 title=f"{setting}: best validation accuracy")
        md += [f"![Figure 2, {setting}]({f})", ""]
        vcurves = _val_curves(group, lam_of)
        if vcurves:
            f = f"val_curves_{name}.png"
            plots.plot_val_curves(vcurves, path_for(f),
                                  title=f"{setting}: validation accuracy (mean, min–max)")
            md += [f"![Validation curves, {setting}]({f})", ""]
    return md


def _filename(setting: str) -> str:
    """``setting`` as part of a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", setting) or "setting"


def _pca_panels(group: Sequence[Sweep], lam_of, options: ReportOptions) -> list[tuple]:
    """Figure 1's panels ``(title, h [N, D], labels [N])``: for each loss, the selected-λ run
    with the best validation accuracy (ties: the smaller seed); none for a loss whose run has
    no finite representations."""
    panels = []
    for s in group:
        runs = selected_runs(s, lam_of[(s.setting, s.loss)])
        r = max(runs, key=lambda r: (finite(r["best_val_acc"]) if math.isfinite(
            finite(r["best_val_acc"])) else -1.0, -int(r["seed"])))
        h = optional_run_array(r["_dir"], r["_run"], "test_h")
        if h is None:
            continue
        h = h.reshape(h.shape[0], -1)
        if not np.all(np.isfinite(h)):
            continue
        if options.normalizes(s.similarity):
            from corel_jax.evaluate.clustering import l2_normalize

            h = l2_normalize(h)
        labels = load_labels(r["_dir"])
        panels.append((f"{s.loss} (seed {r['seed']}, λ={lam_str(float(r['lam']))})",
                       h, labels))
    return panels


def _lambda_curves(group: Sequence[Sweep]) -> dict[str, tuple[list, list, list]]:
    """Figure 2's curves: per loss, ``(λ values, mean, std)`` of the best validation accuracy
    over seeds."""
    curves = {}
    for s in group:
        c = lambda_curve(curve_runs(s))
        curves[s.loss] = ([x["lam"] for x in c], [x["mean"] for x in c], [x["std"] for x in c])
    return curves


def _val_curves(group: Sequence[Sweep], lam_of) -> dict[str, np.ndarray]:
    """Per loss, the validation accuracy ``[runs, epochs]`` of its selected-λ runs (shorter
    curves padded with NaN); none for a loss whose run directories have no curves."""
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
            vcurves[f"{s.loss} (λ={lam_str(lam_of[(s.setting, s.loss)])})"] = np.stack(
                [np.pad(a, (0, width - a.shape[0]), constant_values=np.nan) for a in arrs])
    return vcurves
