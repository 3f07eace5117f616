"""Where a sweep's arrays live: the run axis sharded over devices (and hosts), data replicated.

JAX's own runtime is the distributed engine: a 1-D :class:`jax.sharding.Mesh` over every
visible device with one axis, ``runs``. Per-run arrays (parameters, optimizer state, keys, λ)
are sharded along their leading run axis with ``NamedSharding(mesh, P("runs"))``; the dataset
is replicated (``P()``). ``jit`` then runs each device's share of the runs, with no
communication inside an epoch (runs are independent). A run count that does not divide the
device count is padded (the memory plan makes the chunk size a multiple of the device count;
a short last chunk repeats its first run), and the padding is dropped from the results.

Multi-process (several hosts, or several processes on one host): call :func:`initialize` first
(it wraps ``jax.distributed.initialize``); every process runs the same program and builds the
same global arrays with ``jax.make_array_from_callback`` (each process supplies only the shards
its devices hold); :meth:`Placement.gather` brings per-run results back to every process, and
process 0 writes the run directory. Decisions that every process must take alike (stop on a
preemption notice, save a checkpoint now, the chunk layout) go through :func:`any_process` and
:func:`from_process_0`, which cost nothing in a single process.

A checkpoint restored on another number of devices or processes is placed on this mesh (see
:mod:`corel_jax.train.checkpoint`); its chunk is padded to :meth:`Placement.padded` runs.
"""

from __future__ import annotations

import dataclasses
import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from corel_jax.errors import ConfigError

RUNS_AXIS = "runs"


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> bool:
    """Starts JAX's distributed runtime when asked to; returns whether it did.

    Arguments left as None fall back to what ``jax.distributed.initialize`` reads itself
    (``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``, or a TPU/Slurm/MPI
    environment). On CPU the collectives use gloo (TCP), so a multi-process run works on one
    machine or across CPU hosts.
    """
    wanted = coordinator or num_processes or process_id is not None or any(
        os.environ.get(v) for v in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES"))
    if not wanted:
        return False
    if (num_processes is None) != (coordinator is None) and not os.environ.get(
            "JAX_COORDINATOR_ADDRESS"):
        raise ConfigError("multi-process runs need --coordinator HOST:PORT, --num-processes N "
                          "and --process-id I together (or the JAX_* environment variables)")
    if num_processes is not None and process_id is not None and not (
            0 <= process_id < num_processes):
        raise ConfigError(f"--process-id must lie in [0, {num_processes}); got {process_id}")
    # Collectives between CPU devices of different processes go over gloo (TCP); this setting
    # affects only the CPU backend, so it is harmless on GPU/TPU hosts.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id)
    return True


@dataclasses.dataclass(frozen=True)
class Placement:
    """The mesh of a sweep and the helpers to put arrays on it and get them back."""

    mesh: Mesh

    @classmethod
    def create(cls, devices=None) -> Placement:
        devices = jax.devices() if devices is None else devices
        return cls(Mesh(np.asarray(devices), (RUNS_AXIS,)))

    @property
    def num_devices(self) -> int:
        return self.mesh.devices.size

    def padded(self, runs: int) -> int:
        """The smallest multiple of the device count that holds ``runs`` runs: the size of a
        chunk's program (a chunk planned for another device count may need padding)."""
        return -(-runs // self.num_devices) * self.num_devices

    @property
    def runs(self) -> NamedSharding:
        return NamedSharding(self.mesh, P(RUNS_AXIS))

    @property
    def replicated(self) -> NamedSharding:
        return NamedSharding(self.mesh, P())

    def shard_runs(self, tree):
        """Host arrays with a leading run axis -> global arrays sharded along it."""
        return jax.tree.map(lambda a: _global(np.asarray(a), self.runs), tree)

    def on_runs(self, tree):
        """Device arrays with a leading run axis -> the same arrays sharded along it.

        An ahead-of-time compiled program takes exactly the shardings it was lowered with,
        and ``jit`` leaves its outputs' shardings to XLA (a constant leaf of the initial state
        may come out replicated, the same leaf after an epoch sharded): pinning every leaf to
        the run axis gives the epoch one input sharding throughout.
        """
        return jax.jit(lambda t: t, out_shardings=self.runs)(tree)

    def replicate(self, tree):
        """Host arrays -> global arrays with a full copy on every device."""
        return jax.tree.map(lambda a: _global(np.asarray(a), self.replicated), tree)

    def gather(self, tree):
        """Global arrays -> numpy arrays holding every run, on every process."""
        def get(x):
            if isinstance(x, jax.Array) and not x.is_fully_addressable:
                from jax.experimental import multihost_utils

                return np.asarray(multihost_utils.process_allgather(x, tiled=True))
            return np.asarray(jax.device_get(x))

        return jax.tree.map(get, tree)


def any_process(*flags: bool) -> tuple[bool, ...]:
    """Each flag ORed over every process (one allgather; in a single process, the flags as
    they are). For decisions all processes must take together, such as stopping at this
    epoch or saving a checkpoint now: a collective that one process skips stalls the rest."""
    if jax.process_count() == 1:
        return tuple(bool(f) for f in flags)
    from jax.experimental import multihost_utils

    seen = multihost_utils.process_allgather(np.asarray(flags, np.int32))
    return tuple(bool(v) for v in np.asarray(seen).reshape(-1, len(flags)).any(axis=0))


def from_process_0(values):
    """Process 0's ``values`` (integers, e.g. a chunk layout), on every process; in a single
    process, ``values`` as they are."""
    if jax.process_count() == 1:
        return [int(v) for v in values]
    from jax.experimental import multihost_utils

    return [int(v) for v in np.asarray(
        multihost_utils.broadcast_one_to_all(np.asarray(values, np.int32)))]


def place_like(a: np.ndarray, template: jax.Array) -> jax.Array:
    """A host array placed with ``template``'s sharding (each process supplies its shards)."""
    return _global(np.asarray(a), template.sharding)


def _global(a: np.ndarray, sharding) -> jax.Array:
    if jax.process_count() == 1:
        return jax.device_put(a, sharding)
    return jax.make_array_from_callback(a.shape, sharding, lambda idx: a[idx])
