"""``corel-jax report RUN_DIR... --out DIR``: tables, clustering scores and plots.

Writes ``report.md``, the CSVs and the PNGs described in
:func:`corel_jax.evaluate.report.write_report`. Imports nothing heavy (no JAX ever; numpy,
scikit-learn and matplotlib only inside :func:`run`).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                        help="run directories (or folders holding them); runs with the same "
                             "setting and loss are merged")
    parser.add_argument("--out", required=True, metavar="DIR", help="output directory")
    from corel_jax._flags import add_flags
    from corel_jax.evaluate.options import ReportOptions

    add_flags(parser, ReportOptions)
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

    from corel_jax._flags import given
    from corel_jax.evaluate.options import ReportOptions
    from corel_jax.evaluate.report import write_report

    options = ReportOptions(**given(args, ReportOptions))
    progress = None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    group_by = tuple(f.strip() for f in args.group_by.split(",") if f.strip())
    written = write_report(args.run_dirs, args.out, options, progress, group_by=group_by,
                           skip_incomplete=args.skip_incomplete,
                           warn=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(f"wrote {len(written)} files to {args.out}: {', '.join(sorted(written))}")
    return 0
