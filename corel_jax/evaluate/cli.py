"""``corel-jax report RUN_DIR... --out DIR``: tables, clustering scores and plots.

Writes ``report.md``, the CSVs and the PNGs described in
:func:`corel_jax.evaluate.report.write_report`. Imports nothing heavy (no JAX ever; numpy,
scikit-learn and matplotlib only inside :func:`run`).
"""

from __future__ import annotations

import argparse
import sys


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _sample(text: str) -> int | None:
    if text.lower() in ("all", "none", "0"):
        return None
    v = _positive_int(text)
    if v < 2:
        raise argparse.ArgumentTypeError("the silhouette sample needs at least 2 points")
    return v


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                        help="run directories (or folders holding them); runs with the same "
                             "setting and loss are merged")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    parser.add_argument("--methods", nargs="+", choices=("kmeans", "gmm"),
                        default=["kmeans", "gmm"], help="clustering methods (default: both)")
    parser.add_argument("--normalize", choices=("auto", "always", "never"), default="auto",
                        help="L2-normalise representations before clustering and PCA: 'auto' "
                             "for the cosine loss only (default)")
    parser.add_argument("--silhouette-metric", default="euclidean",
                        help="silhouette distance, e.g. euclidean (default) or cosine")
    parser.add_argument("--silhouette-sample", type=_sample, default=5000, metavar="N",
                        help="silhouette on a fixed-seed sample of N points when there are "
                             "more (default 5000; 'all' for every point)")
    parser.add_argument("--n-init", type=_positive_int, default=None,
                        help="K-Means / EM initialisations, the best kept (default 10 for "
                             "K-Means, 5 for the GMM)")
    parser.add_argument("--gmm-covariance", choices=("full", "tied", "diag", "spherical"),
                        default="diag", help="GMM covariance type (default diag)")
    parser.add_argument("--max-iter", type=_positive_int, default=None,
                        help="K-Means / EM iterations (default: scikit-learn's, 300 / 100)")
    parser.add_argument("--seed", type=int, default=0,
                        help="clustering and sampling seed (default 0)")
    parser.add_argument("--pca-points", type=_positive_int, default=2000,
                        help="points per PCA panel (default 2000)")
    parser.add_argument("--no-clustering", action="store_true",
                        help="skip the clustering tables (accuracy and plots only)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG figures")
    parser.add_argument("--group-by", default="", metavar="FIELD[,FIELD]",
                        help="report run directories that differ in these fields side by side "
                             "(e.g. epochs,split_seed) instead of refusing to pool them")
    parser.add_argument("--skip-incomplete", action="store_true",
                        help="leave out incomplete run directories (still running or "
                             "interrupted) with a warning, instead of refusing them")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress messages")


def run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")

    from corel_jax.evaluate.options import ReportOptions
    from corel_jax.evaluate.report import write_report

    options = ReportOptions(
        methods=tuple(dict.fromkeys(args.methods)),
        normalize=args.normalize,
        silhouette_metric=args.silhouette_metric,
        silhouette_sample=args.silhouette_sample,
        n_init=args.n_init,
        covariance_type=args.gmm_covariance,
        max_iter=args.max_iter,
        seed=args.seed,
        pca_points=args.pca_points,
        plots=not args.no_plots,
        clustering=not args.no_clustering,
    )
    progress = None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    group_by = tuple(f.strip() for f in args.group_by.split(",") if f.strip())
    written = write_report(args.run_dirs, args.out, options, progress, group_by=group_by,
                           skip_incomplete=args.skip_incomplete,
                           warn=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(f"wrote {len(written)} files to {args.out}: {', '.join(sorted(written))}")
    return 0
