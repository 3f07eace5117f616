"""Who may write a run directory, and what a sweep may delete there.

A sweep writes only into a folder that is new, empty, or a corel-jax run directory (see
:mod:`corel_jax.rundir`: its manifest names the files its sweep wrote). Before it touches
anything, :func:`claim` checks the folder and refuses, with nothing changed:

- a folder holding anything that is not corel-jax's (``--out .``, ``--out ~/experiments``);
- a *finished* sweep, unless the caller asks to replace it (``overwrite``, ``--overwrite``);
- an unfinished sweep with checkpoints (finished work), unless resuming or overwriting;
- a folder another process is writing: an exclusive advisory lock (``flock`` on
  ``RUN_DIR/.corel-jax.lock``, holding the writer's pid) is held for the sweep's whole life.
  The kernel drops the lock when its process dies, however it dies, so the lock of a killed
  sweep is taken over by the next writer without any clean-up.

Replacing a sweep deletes exactly the files its manifest names (or, in a run directory from
before manifests, the files such a sweep wrote, by name), its checkpoints, and the folders
those leave empty: a file of the user's own in the folder is never deleted.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from corel_jax import rundir
from corel_jax.errors import ConfigError, OwnershipError

try:  # POSIX; elsewhere sweeps run without the lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


class RunDirLock:
    """The exclusive lock of one run directory (``.corel-jax.lock``), held until
    :meth:`release`; a context manager."""

    def __init__(self, run_dir: Path | str):
        self.path = Path(run_dir) / rundir.LOCK
        self._fd: int | None = None

    def acquire(self) -> RunDirLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _holder(fd)
                os.close(fd)
                raise OwnershipError(
                    f"{self.path.parent} is being written by another corel-jax process "
                    f"({holder}; lock {self.path}); wait for it to end, or write to another "
                    f"folder") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        # The file stays: unlinking it would let a third process lock a new file while a
        # second one still waits on the old one.
        if self._fd is not None:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunDirLock:
        return self.acquire() if self._fd is None else self

    def __exit__(self, *exc) -> None:
        self.release()


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "pid unknown"


def foreign_entries(run_dir: Path) -> list[str]:
    """What ``run_dir`` holds besides the lock and the temporary files of interrupted writes."""
    if not run_dir.is_dir():
        return []
    return sorted(e.name for e in run_dir.iterdir()
                  if e.name != rundir.LOCK and not rundir.is_temporary(e.name))


def check(run_dir: Path | str, *, resume: bool, overwrite: bool) -> str:
    """Whether a sweep may write into ``run_dir`` (read-only: nothing is touched). Returns
    the folder's :func:`corel_jax.rundir.status` (``"new"`` for a missing or empty folder);
    raises :class:`OwnershipError` (or :class:`ConfigError`) naming the problem and the fix."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise OwnershipError(f"{run_dir} is a file, not a folder; give --out a folder")
    entries = foreign_entries(run_dir)
    st = rundir.status(run_dir) if entries else "new"
    if resume:
        if st in ("new", "none"):
            raise ConfigError(f"cannot resume {run_dir}: it is not a run directory started by "
                              f"`corel-jax train` (no {rundir.CONFIG})")
        if st == "complete":
            raise ConfigError(f"{run_dir} is complete; nothing to resume")
        return st
    if st == "none":
        shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
        raise OwnershipError(
            f"{run_dir} is not empty ({shown}) and is not a corel-jax run directory; nothing "
            f"was touched. Give --out a new or empty folder (e.g. {run_dir / 'my-sweep'})")
    if st == "complete" and not overwrite:
        raise OwnershipError(
            f"{run_dir} holds a finished sweep; nothing was touched. Give --out another "
            f"folder, or add --overwrite to replace it (only the files of that sweep are "
            f"deleted)")
    if st == "incomplete" and not overwrite and _has_checkpoints(run_dir):
        raise OwnershipError(
            f"{run_dir} holds an unfinished sweep with checkpoints; continue it with "
            f"`corel-jax train --resume {run_dir}`, or add --overwrite to start afresh")
    return st


def _has_checkpoints(run_dir: Path) -> bool:
    ckpt = run_dir / rundir.CHECKPOINT_SUBDIR
    return ckpt.is_dir() and any(ckpt.iterdir())


def claim(run_dir: Path | str, *, resume: bool, overwrite: bool = False,
          log=None) -> RunDirLock:
    """Checks ``run_dir`` (:func:`check`), creates it, takes its lock, checks again under the
    lock (another writer may have finished meanwhile), removes the temporary files of
    interrupted writes, and, for a new sweep over an earlier one, deletes that sweep's files
    (:func:`clear`). Returns the held lock: release it when the sweep ends."""
    run_dir = Path(run_dir)
    check(run_dir, resume=resume, overwrite=overwrite)
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunDirLock(run_dir).acquire()
    try:
        st = check(run_dir, resume=resume, overwrite=overwrite)
        remove_temporaries(run_dir)
        if not resume and st in ("complete", "incomplete"):
            if log is not None:
                log(f"replacing the {'finished' if st == 'complete' else 'unfinished'} sweep "
                    f"in {run_dir}")
            clear(run_dir)
    except BaseException:
        lock.release()
        raise
    return lock


def remove_temporaries(run_dir: Path) -> None:
    """Deletes the temporary files that writes killed midway left (``.<name>.<rand>.tmp``),
    in the run directory's own folders."""
    for sub in (run_dir, run_dir / rundir.RUNS_SUBDIR, run_dir / rundir.PARAMS_SUBDIR,
                run_dir / rundir.CHECKPOINT_SUBDIR, run_dir / rundir.CHECKPOINT_SUBDIR / "chunks"):
        dirs = [sub]
        if sub.name == rundir.RUNS_SUBDIR and sub.is_dir():
            dirs += [d for d in sub.iterdir() if d.is_dir()]
        for d in dirs:
            if d.is_dir():
                for e in d.iterdir():
                    if e.is_file() and rundir.is_temporary(e.name):
                        e.unlink(missing_ok=True)


def clear(run_dir: Path) -> None:
    """Deletes the files of the sweep in ``run_dir`` (:func:`corel_jax.rundir.owned_files`),
    its checkpoints and manifest, and the folders this leaves empty; nothing else."""
    files = rundir.owned_files(run_dir)
    shutil.rmtree(run_dir / rundir.CHECKPOINT_SUBDIR, ignore_errors=True)
    shutil.rmtree(run_dir / rundir.TRACKING_SUBDIR, ignore_errors=True)
    for name in files:
        (run_dir / name).unlink(missing_ok=True)
    # folders the sweep made, deepest first, if nothing of anyone else's is left in them
    for name in sorted({str(Path(f).parent) for f in files if Path(f).parent != Path(".")},
                       key=lambda n: -len(Path(n).parts)):
        for d in [run_dir / name, *(run_dir / name).parents]:
            if d == run_dir or run_dir not in d.parents:
                break
            try:
                d.rmdir()
            except OSError:  # not empty: something else lives there
                break
    (run_dir / rundir.MANIFEST).unlink(missing_ok=True)


def remove_leftover_checkpoints(run_dir: Path | str) -> bool:
    """Removes the checkpoints of a *complete* run directory (a sweep killed after its last
    result was in place, before it removed them), under the directory's lock; returns whether
    there were any."""
    run_dir = Path(run_dir)
    ckpt = run_dir / rundir.CHECKPOINT_SUBDIR
    if not ckpt.exists():
        return False
    with RunDirLock(run_dir):
        if rundir.status(run_dir) != "complete":  # re-checked under the lock
            return False
        shutil.rmtree(ckpt, ignore_errors=True)
        remove_temporaries(run_dir)
    return True
