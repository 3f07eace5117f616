"""Resumable sweeps: checkpoints of the whole sweep state under ``RUN_DIR/checkpoints/``.

A sweep trains its runs in chunks (one compiled program each), epoch after epoch. What a
checkpoint holds is everything the remaining epochs depend on, so a resumed sweep computes
exactly what an uninterrupted one would have:

- the chunk's :class:`corel_jax.train.engine.RunState`, stacked over its runs (parameters,
  optimizer state, the loss's auxiliary state (the center loss's centers), the per-run PRNG
  keys (as raw key data), the best-epoch parameters and records, divergence epochs, the
  epoch counter);
- the per-epoch curves of the chunk so far (train loss, validation accuracy);
- which chunk and epoch it is (JSON).

The files (``layout.json``, orbax's ``state/<step>/``, ``chunks/chunk_NNN.npz``) are laid out
as :mod:`corel_jax.rundir` describes.

Orbax writes each checkpoint into a temporary directory and renames it when complete, so a
sweep killed while saving leaves the previous checkpoint intact; the ``.npz`` and JSON files
are written atomically too (temporary file + rename). When the sweep has written its run
directory, ``checkpoints/`` is removed.

**Several processes** (``jax.distributed``): every process saves the shards of the state its
devices hold into the same orbax checkpoint, and process 0 commits it (orbax's multi-process
checkpointing); process 0 alone writes the JSON and ``.npz`` files. The run directory must be
on a filesystem every process sees (one machine, NFS, a bucket mounted alike).

**Other hardware.** A checkpoint restores on any number of devices and processes: when the
chunk's program has as many runs as the saved state, orbax reads each device's rows into this
mesh's sharding directly; otherwise (the chunk is padded to another multiple of the device
count, see :meth:`corel_jax.train.placement.Placement.padded`) the state is read to the host,
cut or padded to the rows needed (padding rows are copies of the chunk's first run, as a
chunk's padding always is) and placed on the mesh.
"""

from __future__ import annotations

import json
import shutil
import time
import zipfile
from pathlib import Path

import jax
import numpy as np

from corel_jax import _faults, rundir
from corel_jax.errors import ConfigError, CorelError, DamagedFileError
from corel_jax.train.memory import Layout
from corel_jax.train.placement import any_process, place_like

AUTO_INTERVAL_S = 600.0  # checkpoint_every=None: about every 10 minutes of training
LAYOUT = "layout.json"
STATE_SUBDIR = "state"
CHUNKS_SUBDIR = "chunks"
KEEP = 2


def _key_to_data(state):
    """A RunState whose PRNG keys are raw ``uint32`` key data (plain arrays orbax can save)."""
    return state.replace(key=jax.random.key_data(state.key))


def _data_to_key(state, impl):
    return state.replace(key=jax.random.wrap_key_data(state.key, impl=impl))


def _primary() -> bool:
    """Whether this process writes the files that are not orbax's (process 0)."""
    return jax.process_index() == 0


def _sync(name: str) -> None:
    """Waits for every process (several processes only)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _with_rows(a: np.ndarray, rows: int) -> np.ndarray:
    """``a`` cut, or padded with copies of its first row, to ``rows`` rows."""
    if len(a) >= rows:
        return a[:rows]
    return np.concatenate([a, np.repeat(a[:1], rows - len(a), axis=0)])


class SweepCheckpoint:
    """Reads and writes the checkpoints of one sweep (see the module docstring).

    When to save is the caller's choice (see :class:`Schedule`).

    Args:
      directory: ``RUN_DIR/checkpoints``.
      epochs: epochs per run (steps are ``chunk * epochs + epoch``).
      resuming: whether the sweep continues from these checkpoints (else it starts afresh).
    """

    def __init__(self, directory: str | Path, *, epochs: int, resuming: bool = False,
                 log=None):
        # absolute: orbax refuses relative paths, and the process may change directory
        self.directory = Path(directory).absolute()
        self.epochs = epochs
        self.resuming = resuming
        self.log = log or (lambda *a, **k: None)
        self._manager = None

    # -- the directory ------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether anything resumable is there."""
        return self.directory.is_dir() and any(self.directory.iterdir())

    def remove(self) -> None:
        """Deletes every checkpoint (after the run directory is complete; process 0)."""
        self.close()
        if _primary():
            shutil.rmtree(self.directory, ignore_errors=True)

    def close(self) -> None:
        if self._manager is not None:
            self._manager.close()
            self._manager = None

    @property
    def manager(self):
        if self._manager is None:
            import orbax.checkpoint as ocp

            options = ocp.CheckpointManagerOptions(
                max_to_keep=KEEP, enable_async_checkpointing=False, create=True,
                cleanup_tmp_directories=True)
            self._manager = ocp.CheckpointManager(self.directory / STATE_SUBDIR,
                                                  options=options)
        return self._manager

    # -- the chunk layout ---------------------------------------------------------------------

    def save_layout(self, layout: Layout) -> None:
        if not _primary():
            return
        rundir.write_json(self.directory / LAYOUT, layout.to_dict())

    def load_layout(self) -> Layout | None:
        """The chunk layout; when ``layout.json`` is damaged, the copy in the run directory's
        manifest (:func:`corel_jax.train.writer.start_run_dir` writes both)."""
        path = self.directory / LAYOUT
        if not path.is_file():
            return None
        try:
            return Layout.from_dict(json.loads(path.read_text()))
        except (KeyError, TypeError, AttributeError):
            problem = "not a chunk layout"
        except (OSError, ValueError) as e:
            problem = str(e)
        try:
            copy = Layout.from_dict((rundir.read_manifest(self.directory.parent) or {})
                                    ["layout"])
        except (CorelError, KeyError, TypeError, ValueError, AttributeError):
            copy = None
        if copy is None:
            raise DamagedFileError(
                f"{path} is damaged ({problem}) and the run directory's manifest holds no copy "
                f"of the chunk layout; restore {path}, or start the sweep afresh with "
                f"--overwrite")
        self.log(f"{path} is damaged ({problem}); using the copy in "
                 f"{self.directory.parent / rundir.MANIFEST}")
        return copy

    # -- finished chunks ----------------------------------------------------------------------

    def chunk_path(self, chunk: int) -> Path:
        return self.directory / CHUNKS_SUBDIR / f"chunk_{chunk:03d}.npz"

    def has_chunk(self, chunk: int) -> bool:
        return self.chunk_path(chunk).is_file()

    def save_chunk(self, chunk: int, arrays: dict[str, np.ndarray]) -> None:
        """Stores a finished chunk's per-run results, flat ``{name: array}`` (see
        :meth:`corel_jax.train.result.ChunkResult.to_arrays`; process 0 writes it)."""
        if not _primary():
            return
        rundir.save_npz(self.chunk_path(chunk), arrays)

    def load_chunk(self, chunk: int) -> dict[str, np.ndarray]:
        """What :meth:`save_chunk` stored for ``chunk``."""
        path = self.chunk_path(chunk)
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise DamagedFileError(f"{path} is damaged ({type(e).__name__}: {e})") from None

    # -- the chunk in progress ----------------------------------------------------------------

    def step(self, chunk: int, epoch: int) -> int:
        return chunk * self.epochs + epoch

    def started_chunks(self) -> set[int]:
        """The chunks with a finished-chunk file or a checkpoint of their state (one listing
        of each)."""
        chunks = {(s - 1) // self.epochs for s in self.manager.all_steps()}
        folder = self.directory / CHUNKS_SUBDIR
        if folder.is_dir():
            chunks |= {int(p.stem.removeprefix("chunk_")) for p in folder.glob("chunk_*.npz")}
        return chunks

    def save_state(self, chunk: int, epoch: int, state, curves: dict[str, np.ndarray]) -> None:
        """Saves a chunk's RunState (jax arrays, any sharding) and its curves after ``epoch``.

        Synchronous: it returns when the checkpoint is committed, so the caller may donate
        the state's buffers to the next epoch. With several processes every process calls it
        (each saves its shards).
        """
        import orbax.checkpoint as ocp

        leaves = jax.tree.leaves(_key_to_data(state))
        tree = {"state": {f"{i:04d}": x for i, x in enumerate(leaves)},
                "curves": {k: np.asarray(v) for k, v in curves.items()}}
        meta = {"chunk": chunk, "epoch": epoch, "time": time.time(), "state_leaves": len(leaves),
                # the program's runs (the chunk padded for the devices), and where it ran
                "rows": int(leaves[0].shape[0]), "devices": jax.device_count(),
                "processes": jax.process_count()}
        _faults.point(self.directory / STATE_SUBDIR / str(self.step(chunk, epoch)))
        self.manager.save(self.step(chunk, epoch), args=ocp.args.Composite(
            tree=ocp.args.StandardSave(tree), meta=ocp.args.JsonSave(meta)), force=True)

    def restore_state(self, chunk: int, template, curves: dict[str, np.ndarray]):
        """The latest checkpoint of ``chunk``, or None if it has none.

        Args:
          chunk: the chunk index.
          template: a freshly initialised RunState of the chunk (shapes, dtypes, shardings,
            PRNG key implementation): the state comes back on its mesh and with its number of
            rows, whatever devices and processes saved it (see the module docstring).
          curves: arrays shaped like the saved curves.

        Returns:
          ``(epoch, state, curves)``.
        """
        steps = [s for s in self.manager.all_steps()
                 if self.step(chunk, 1) <= s <= self.step(chunk, self.epochs)]
        raw = _key_to_data(template)
        leaves, treedef = jax.tree.flatten(raw)
        # the latest checkpoint first; a damaged one falls back to the one before
        for step in sorted(steps, reverse=True):
            try:
                epoch, state_leaves, out_curves = self._restore_step(step, chunk, leaves, curves)
                problem = None
            except ConfigError:
                raise
            except Exception as e:  # orbax and tensorstore raise many kinds on damaged files
                problem = f"{type(e).__name__}: {str(e)[:200]}"
            # every process falls back alike (a collective one skipped would stall the rest)
            (damaged,) = any_process(problem is not None)
            if damaged:
                self.log(f"checkpoint {step} under {self.directory / STATE_SUBDIR} is damaged "
                         f"({problem or 'on another process'}); trying the one before")
                self._drop_damaged(step)
                continue
            state = _data_to_key(jax.tree.unflatten(treedef, state_leaves),
                                 jax.random.key_impl(template.key))
            return epoch, state, out_curves
        if steps:
            self.log(f"no readable checkpoint of chunk {chunk + 1}; it starts from its first "
                     f"epoch (finished chunks are kept)")
        return None

    def _restore_step(self, step: int, chunk: int, leaves: list, curves: dict[str, np.ndarray]):
        """Checkpoint ``step``: ``(epoch, state leaves like leaves, curves)``."""
        import orbax.checkpoint as ocp

        meta = self.manager.restore(step, args=ocp.args.Composite(
            meta=ocp.args.JsonRestore()))["meta"]
        if meta.get("state_leaves", len(leaves)) != len(leaves):
            raise ConfigError(
                f"checkpoint {step} under {self.directory} does not match this sweep's state "
                f"(written by another version of corel-jax?); resume with the version that "
                f"started the sweep")
        if meta.get("chunk") != chunk:
            raise ValueError(f"it is for chunk {meta.get('chunk')}, expected {chunk}")
        rows = int(leaves[0].shape[0])
        saved_rows = meta.get("rows")
        if saved_rows is None:  # written before "rows": with the chunk size, on as many devices
            layout = self.load_layout()
            saved_rows = layout.size(chunk) if layout is not None else rows
        saved_rows = int(saved_rows)
        if saved_rows == rows:
            # straight into this mesh's shardings, whichever mesh wrote them
            state = {f"{i:04d}": ocp.utils.to_shape_dtype_struct(x) for i, x in enumerate(leaves)}
        else:  # through the host, then cut or padded to this program's rows
            state = {f"{i:04d}": np.empty((saved_rows,) + x.shape[1:], x.dtype)
                     for i, x in enumerate(leaves)}
        abstract = {"state": state,
                    "curves": {k: ocp.utils.to_shape_dtype_struct(np.asarray(v))
                               for k, v in curves.items()}}
        restored = self.manager.restore(step, args=ocp.args.Composite(
            tree=ocp.args.StandardRestore(abstract)))["tree"]
        state_leaves = [restored["state"][f"{i:04d}"] for i in range(len(leaves))]
        if saved_rows != rows:
            state_leaves = [place_like(_with_rows(np.asarray(a), rows), x)
                            for a, x in zip(state_leaves, leaves)]
        out_curves = {k: np.asarray(restored["curves"][k]) for k in curves}
        return int(meta["epoch"]), state_leaves, out_curves

    def _drop_damaged(self, step: int) -> None:
        """Deletes a damaged in-progress checkpoint (training from the one before writes that
        step again); the manager is opened afresh so that it forgets the step."""
        self.close()
        if _primary():
            shutil.rmtree(self.directory / STATE_SUBDIR / str(step), ignore_errors=True)
        _sync(f"corel-jax: dropped checkpoint {step}")


class Schedule:
    """When to checkpoint within a chunk.

    Args:
      every: after every ``every``-th epoch; ``None`` (automatic): after the first epoch that
        ends ``interval_s`` seconds or more after the last checkpoint (or the chunk's start),
        so an interruption loses about that much training at most.
      interval_s: the automatic interval (10 minutes).
    """

    def __init__(self, every: int | None, interval_s: float = AUTO_INTERVAL_S):
        if every is not None and every < 1:
            raise ValueError(f"every must be >= 1 or None; got {every}")
        self.every = every
        self.interval_s = interval_s
        self.last = time.monotonic()

    def due(self, epoch: int) -> bool:
        if self.every is not None:
            return epoch % self.every == 0
        return time.monotonic() - self.last >= self.interval_s

    def saved(self) -> None:
        self.last = time.monotonic()
