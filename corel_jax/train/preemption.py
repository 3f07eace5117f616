"""Preemption: SIGTERM (what SLURM, Kubernetes and cloud preemption send) ends a sweep at the
next epoch boundary, after saving a checkpoint, so that a job script can requeue it.

While :func:`handle_sigterm` is active, SIGTERM only sets a flag. The training loop checks
it after every epoch (:func:`requested`): it saves the chunk's state (or, at a chunk's last
epoch, lets the finished chunk be stored) and raises :class:`Preempted`; ``corel-jax train``
(and the experiment scripts that train) prints one line and exits with
:data:`EXIT_PREEMPTED` (:func:`exit_status`). ``--resume`` then continues exactly
where the sweep stopped.

In a multi-process sweep the flag is ORed over the processes at every epoch boundary
(:func:`corel_jax.train.placement.any_process`), so SIGTERM to any one of them stops them all
after the same epoch: each saves its shards of the checkpoint, prints its line and exits 75.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

#: the exit status of a preempted sweep (EX_TEMPFAIL: "try again later"); a job script
#: requeues on it, e.g. ``[ $? -eq 75 ] && scontrol requeue $SLURM_JOB_ID``
EXIT_PREEMPTED = 75

_requested = threading.Event()


class Preempted(Exception):
    """The sweep stopped on SIGTERM; ``saved`` says whether its progress is checkpointed."""

    def __init__(self, message: str, saved: bool):
        super().__init__(message)
        self.saved = saved


def exit_status(e: Preempted, *, prog: str, resume: str) -> int:
    """Prints the one line a preempted job's log ends with (on stderr, no traceback) and
    returns :data:`EXIT_PREEMPTED`, for a command's ``main`` to return.

    ``resume`` is the command that continues the work, named when the progress was saved."""
    then = f"continue with `{resume}`" if e.saved else "start it again"
    print(f"{prog}: preempted: {e}; {then} (exit status {EXIT_PREEMPTED})", file=sys.stderr)
    return EXIT_PREEMPTED


def requested() -> bool:
    """Whether SIGTERM arrived since :func:`handle_sigterm` began."""
    return _requested.is_set()


@contextlib.contextmanager
def handle_sigterm():
    """Turns SIGTERM into :func:`requested` for the duration (main thread only; elsewhere
    signals cannot be handled and SIGTERM keeps its default action)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _requested.clear()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: _requested.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        _requested.clear()
