"""Evaluation of learned representations: clustering scores, t-tests, reports and plots.

numpy / scikit-learn / scipy / matplotlib only -- importing this package never imports JAX,
so results can be read and reported on a machine without it.

- :mod:`~corel_jax.evaluate.clustering` -- :func:`cluster_scores` (K-Means / GMM -> Acc, ARI,
  V-measure, silhouette), :func:`prototype_accuracy`, :func:`cluster_accuracy`.
- :mod:`~corel_jax.evaluate.stats` -- :func:`compare_losses` (mean ± std over seeds, paired
  t-test of the best loss against the next best), :func:`paired_ttest`.
- :mod:`~corel_jax.evaluate.report` -- :func:`write_report`: Markdown / CSV tables in the
  layout of the paper's Tables 2-4 and the figures, from run directories; its parts:
  :mod:`~corel_jax.evaluate.sweeps` (:func:`load_sweeps`), :mod:`~corel_jax.evaluate.selection`
  (:func:`select_lambda`, :func:`lambda_curve`), :mod:`~corel_jax.evaluate.scores` (one run's
  clustering scores), :mod:`~corel_jax.evaluate.tables`, :mod:`~corel_jax.evaluate.figures`,
  :mod:`~corel_jax.evaluate.options` (:class:`ReportOptions`).
- :mod:`~corel_jax.evaluate.plots` -- the figures (PCA panels, lambda curves, val curves).
- :mod:`~corel_jax.evaluate.cli` -- ``corel-jax report RUN_DIR... --out DIR``.
"""

from corel_jax.evaluate.clustering import (
    ClusterScores,
    agreement,
    aligned_assignment,
    cluster,
    cluster_accuracy,
    cluster_scores,
    l2_normalize,
    prototype_accuracy,
    score_assignment,
    similarity_scores,
)
from corel_jax.evaluate.options import ReportOptions
from corel_jax.evaluate.plots import plot_lambda_curves, plot_pca_panels, plot_val_curves
from corel_jax.evaluate.report import write_report
from corel_jax.evaluate.selection import lambda_curve, select_lambda
from corel_jax.evaluate.stats import (
    LossSummary,
    SettingComparison,
    compare_losses,
    mean_std,
    paired_ttest,
    significance_marker,
)
from corel_jax.evaluate.sweeps import load_sweeps

__all__ = [
    "ClusterScores",
    "LossSummary",
    "ReportOptions",
    "SettingComparison",
    "agreement",
    "aligned_assignment",
    "cluster",
    "cluster_accuracy",
    "cluster_scores",
    "compare_losses",
    "l2_normalize",
    "lambda_curve",
    "load_sweeps",
    "mean_std",
    "paired_ttest",
    "plot_lambda_curves",
    "plot_pca_panels",
    "plot_val_curves",
    "prototype_accuracy",
    "score_assignment",
    "select_lambda",
    "significance_marker",
    "similarity_scores",
    "write_report",
]
