"""Fault injection for the crash tests: kill the process, or fail with a full disk, at the
N-th file write of a sweep (``tests/test_faults.py``, ``experiments/fault_matrix.py``).

Every place where corel-jax commits a file to a run directory (:mod:`corel_jax.rundir`'s
atomic writes, an orbax checkpoint, the removal of the checkpoints) calls :func:`point` with
the file's path. Nothing happens unless the environment variable ``COREL_JAX_FAULT`` is set:

- ``count``: only count (with ``COREL_JAX_FAULT_LOG=FILE``, one line ``N<TAB>path`` per
  point is appended to FILE: how the tests enumerate the write points);
- ``kill@N``: SIGKILL this process at point N (after the file's bytes are written to a
  temporary file, before it replaces the file: the worst moment for a plain write);
- ``enospc@N``: raise ``OSError(ENOSPC)`` at point N, as a full disk would;
- ``term@N``: send this process SIGTERM at point N (a preemption notice) and go on.

The count starts at 0 in every process (and at :func:`reset`).
"""

from __future__ import annotations

import errno
import os
import signal

ENV = "COREL_JAX_FAULT"
LOG_ENV = "COREL_JAX_FAULT_LOG"
_count = 0


def reset() -> None:
    """Starts the count again (for faults injected twice in one process)."""
    global _count
    _count = 0


def point(path) -> None:
    """A write point: counts it, and injects the fault set in ``COREL_JAX_FAULT`` there."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    global _count
    _count += 1
    log = os.environ.get(LOG_ENV)
    if log:
        with open(log, "a") as f:
            f.write(f"{_count}\t{path}\n")
    kind, _, at = spec.partition("@")
    if not at or int(at) != _count:
        return
    if kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif kind == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    elif kind == "term":
        os.kill(os.getpid(), signal.SIGTERM)
    else:
        raise ValueError(f"{ENV}={spec!r}: expected count, kill@N, enospc@N or term@N")
