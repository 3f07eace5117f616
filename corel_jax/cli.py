"""The ``corel-jax`` command line: ``train``, ``demo`` and ``report``.

Each subcommand lives beside the code it drives and exposes ``add_arguments(parser)`` and
``run(args) -> int``; this module only wires them together and turns input errors
(:class:`corel_jax.errors.CorelError`) into a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, help). Modules are imported only when their subcommand runs, so
# `corel-jax report` does not import JAX.
SUBCOMMANDS = {
    "train": ("corel_jax.train.cli", "train a sweep of runs (seeds x lambda) in one program"),
    "demo": ("corel_jax.train.demo", "all four losses on scikit-learn digits, offline, < 1 min"),
    "report": ("corel_jax.evaluate.cli", "clustering scores, tables and plots from run dirs"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="corel-jax", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(_module=module)
        importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    from corel_jax.errors import CorelError

    args = build_parser().parse_args(argv)
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except CorelError as e:
        print(f"corel-jax {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"corel-jax {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
