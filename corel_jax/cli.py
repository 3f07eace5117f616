"""The ``corel-jax`` command line: ``train``, ``demo``, ``report`` and ``merge``.

Each subcommand lives beside the code it drives and exposes ``add_arguments(parser)`` and
``run(args) -> int``; this module only wires them together and turns input errors
(:class:`corel_jax.errors.CorelError`) into a one-line message and exit status 2.

The library's messages are :mod:`logging` records of the ``corel_jax`` loggers (the library
configures no handler); while a command runs, :func:`main` prints those of level INFO and up
on stdout, the message alone, as the command always has.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import sys
from collections.abc import Iterator

# name -> (module, help). Only the chosen subcommand's module is imported, so
# `corel-jax report` does not import JAX (tests/test_cli.py checks it).
SUBCOMMANDS = {
    "train": ("corel_jax.train.cli", "train a sweep of runs (seeds x lambda) in one program"),
    "demo": ("corel_jax.train.demo", "all four losses on scikit-learn digits, offline, < 1 min"),
    "report": ("corel_jax.evaluate.cli", "clustering scores, tables and plots from run dirs"),
    "merge": ("corel_jax.train.merge", "join the run directories of a sweep's shards (train "
                                       "--shard I/N) into the sweep's run directory"),
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the subcommand named in ``argv`` (default ``sys.argv[1:]``) gets its
    arguments, so only its module is imported (all of them when ``argv`` names none)."""
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if a in SUBCOMMANDS), None)
    parser = argparse.ArgumentParser(prog="corel-jax", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(_module=module)
        if chosen is None or name == chosen:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs ``corel-jax`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status:
    the subcommand's (0 on success), 2 for an input error (:class:`~corel_jax.errors.CorelError`)
    or an ``OSError``, each reported as one line on stderr, 130 on Ctrl-C. argparse exits with
    2 itself for a bad command line."""
    from corel_jax.errors import CorelError

    argv = sys.argv[1:] if argv is None else list(argv)
    _safe_streams()
    args = build_parser(argv).parse_args(argv)
    try:
        with terminal_logging():
            return int(importlib.import_module(args._module).run(args) or 0)
    except CorelError as e:
        print(f"corel-jax {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk, a read-only folder, a permission: one line, no trace
        where = f"{e.filename}: " if e.filename else ""
        print(f"corel-jax {args.command}: error: {where}{e.strerror or e} (nothing finished "
              f"is lost: a checkpointed sweep continues with --resume once this is fixed)",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"corel-jax {args.command}: interrupted", file=sys.stderr)
        return 130


class _Stdout(logging.StreamHandler):
    """Writes to the ``sys.stdout`` of the moment (a test's capture, a reconfigured stream)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


@contextlib.contextmanager
def terminal_logging(level: int = logging.INFO) -> Iterator[logging.Handler]:
    """``with terminal_logging():`` the records of the ``corel_jax`` loggers of ``level`` and
    up are printed on stdout, the message alone (what the library printed before it logged),
    and not passed on to the root logger's handlers; the ``corel_jax`` logger is restored
    afterwards."""
    logger = logging.getLogger("corel_jax")
    handler = _Stdout(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def _safe_streams() -> None:
    """Output that the terminal's encoding cannot show (λ, ±, γ under
    ``PYTHONIOENCODING=ascii`` or a C locale) is escaped instead of failing a finished sweep
    at its last ``print``."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):  # not a TextIOWrapper (e.g. captured by a test)
            pass


if __name__ == "__main__":
    sys.exit(main())
