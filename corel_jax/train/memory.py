"""Memory estimate of a sweep, made before compiling, and the split of its runs into chunks
(:class:`Layout`)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

# Per-run copies of the parameter tree held during an epoch: params, Adam's two moments,
# best params, gradients, and the updated params before the old buffers are released.
STATE_COPIES = 6
# Activations are kept for the backward pass, plus their gradients and temporaries.
ACTIVATION_FACTOR = 3


@dataclasses.dataclass(frozen=True)
class Layout:
    """How a sweep's runs are split into chunks. A chunk keeps its runs for the sweep's whole
    life: a resume continues the chunks its checkpoints were written with.

    Chunk ``c`` trains the runs ``first(c)`` to ``first(c) + size(c) - 1`` (the last chunk
    may have fewer real runs; a chunk is padded to its ``size``, so chunks of one size share
    one compiled program), sharded over the devices. As planned, every chunk has
    ``chunk_size`` runs (``chunks`` is None), a multiple of ``num_devices``. A resume on
    another device count plans the chunks not yet started anew for the devices it has
    (:func:`corel_jax.train.resume.continue_layout`): then ``chunks`` lists every chunk's
    ``(first, size)``, ``chunk_size`` is the largest size and ``num_devices`` the device count
    of the latest plan.
    """

    num_runs: int
    chunk_size: int
    num_chunks: int
    num_devices: int | None  # None: not recorded (refused by a resume)
    chunks: tuple[tuple[int, int], ...] | None = None  # (first run, size) of each chunk

    def first(self, c: int) -> int:
        """The index of chunk ``c``'s first run."""
        return self.chunks[c][0] if self.chunks is not None else c * self.chunk_size

    def size(self, c: int) -> int:
        """Chunk ``c``'s planned size (its runs, and the padding of a last chunk)."""
        return self.chunks[c][1] if self.chunks is not None else self.chunk_size

    def to_dict(self) -> dict[str, Any]:
        """As ``layout.json`` and the manifest's copy hold it (``chunks`` only when listed)."""
        d = dataclasses.asdict(self)
        if self.chunks is None:
            del d["chunks"]
        else:
            d["chunks"] = [list(c) for c in self.chunks]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Layout:
        """Raises ``KeyError``/``TypeError``/``ValueError`` for a dict that is not a layout."""
        chunks = d.get("chunks")
        layout = cls(num_runs=int(d["num_runs"]), chunk_size=int(d["chunk_size"]),
                     num_chunks=int(d["num_chunks"]),
                     num_devices=None if d.get("num_devices") is None
                     else int(d["num_devices"]),
                     chunks=None if chunks is None
                     else tuple((int(a), int(b)) for a, b in chunks))
        if layout.chunks is not None and len(layout.chunks) != layout.num_chunks:
            raise ValueError(f"{layout.num_chunks} chunks, but {len(layout.chunks)} listed")
        return layout


class MemoryPlan(NamedTuple):
    shared_bytes: int  # the dataset on the device, shared by all runs
    per_run_bytes: int  # one run's state + activations of one training step / eval chunk
    budget_bytes: int
    chunk_size: int  # runs trained together by the program (<= num_runs)
    num_chunks: int
    # host memory the results need: every run's final parameters, predictions and curves, and
    # one chunk's test representations (the chunks write theirs to disk as they finish)
    host_bytes: int = 0
    host_available_bytes: int = 0  # 0: not measured

    def describe(self, num_runs: int) -> str:
        gb = 1024**3
        need = self.shared_bytes + num_runs * self.per_run_bytes
        text = (f"memory estimate: {need / gb:.2f} GiB for {num_runs} runs "
                f"({self.shared_bytes / gb:.2f} GiB data + {self.per_run_bytes / 2**20:.1f} MiB "
                f"per run); budget {self.budget_bytes / gb:.2f} GiB")
        if self.num_chunks > 1:
            text += (f" -> split into {self.num_chunks} chunks of {self.chunk_size} runs, "
                     f"trained one after another")
        if self.host_bytes:
            text += f"; host memory for the results {self.host_bytes / gb:.2f} GiB"
            if self.host_available_bytes:
                text += f" of {self.host_available_bytes / gb:.2f} GiB available"
                if self.host_bytes > self.host_available_bytes:
                    text += (" (too much: use --no-representations, fewer runs per sweep, "
                             "or a machine with more memory)")
        return text


def tree_bytes(tree) -> int:
    return int(sum(np.prod(x.shape) * jnp.dtype(x.dtype).itemsize
                   for x in jax.tree.leaves(tree)))


def activation_bytes(net, params_shape, x_shape_dtype) -> int:
    """Bytes of every intermediate of one forward pass at the given batch (from shapes only)."""
    def fwd(p, x):
        _, state = net.apply(p, x, capture_intermediates=True, mutable=["intermediates"])
        return state

    shapes = jax.eval_shape(fwd, params_shape, x_shape_dtype)
    return tree_bytes(shapes) + int(np.prod(x_shape_dtype.shape)) * 4


def host_available_bytes() -> int:
    """The host's available memory (bytes)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil comes with orbax
        import os

        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def host_result_bytes(*, num_runs: int, chunk_size: int, params_bytes: int,
                      n_test: int, rep_dim: int, epochs: int, representations: bool) -> int:
    """Host memory a sweep's results need while it runs: every run's final parameters, test
    predictions and curves (kept until the run directory is written), and the test
    representations of one chunk (written to the run directory when the chunk finishes)."""
    kept = num_runs * (params_bytes + 4 * n_test + 2 * 4 * epochs)
    return int(kept + (chunk_size * 4 * n_test * rep_dim if representations else 0))


def device_budget_bytes(budget_gb: float | None = None) -> int:
    """The memory a sweep may use: ``budget_gb``, else 80% of an accelerator's memory, else half
    of the host's available memory (CPU)."""
    if budget_gb is not None:
        return int(budget_gb * 1024**3)
    dev = jax.devices()[0]
    try:
        stats = dev.memory_stats() or {}
    except Exception:  # some backends do not implement memory_stats
        stats = {}
    if dev.platform != "cpu" and stats.get("bytes_limit"):
        return int(0.8 * stats["bytes_limit"])
    return int(0.5 * host_available_bytes())


def plan(*, num_runs: int, params_bytes: int, step_activation_bytes: int,
         eval_activation_bytes: int, data_bytes: int, budget_bytes: int,
         max_runs: int | None = None, num_devices: int = 1) -> MemoryPlan:
    """Chooses the chunk size, how many runs train together, so that the estimate fits the
    budget.

    ``budget_bytes`` is per device; the data is replicated on each device and the runs are
    spread over ``num_devices``. The chunk size is a multiple of ``num_devices``.
    """
    per_run = (STATE_COPIES * params_bytes
               + ACTIVATION_FACTOR * max(step_activation_bytes, eval_activation_bytes))
    fit = max(1, (budget_bytes - data_bytes) // max(per_run, 1)) * num_devices
    runs = min(num_runs, fit, max_runs or num_runs)
    chunks = math.ceil(num_runs / runs)
    runs = math.ceil(num_runs / chunks)  # balance the chunks
    runs = -(-runs // num_devices) * num_devices  # pad to fill every device
    chunks = math.ceil(num_runs / runs)  # padding may leave fewer chunks with runs in them
    return MemoryPlan(shared_bytes=data_bytes, per_run_bytes=per_run, budget_bytes=budget_bytes,
                      chunk_size=runs, num_chunks=chunks)


def sweep_plan(cfg, program, dataset, num_runs: int, num_devices: int) -> MemoryPlan:
    """:func:`plan` for a sweep: the sizes come from ``program``'s abstract state (no
    parameters are allocated) and ``dataset``'s arrays; the budget and the cap from ``cfg``
    (a :class:`~corel_jax.train.config.SweepConfig`)."""
    state_shape = jax.eval_shape(program.init, jax.random.key(0), program.default_hparams)
    x_one = jax.ShapeDtypeStruct((1,) + dataset.x_test.shape[1:], dataset.x_test.dtype)
    rep_dim = int(np.prod(jax.eval_shape(program.represent, state_shape.params,
                                         x_one)[0].shape[1:]))
    x = dataset.x_train
    step_x = jax.ShapeDtypeStruct((cfg.batch_size,) + x.shape[1:], x.dtype)
    eval_x = jax.ShapeDtypeStruct((cfg.eval_batch_size,) + x.shape[1:], x.dtype)
    data_bytes = sum(a.nbytes for a in (dataset.x_train, dataset.y_train, dataset.x_val,
                                        dataset.y_val, dataset.x_test))
    params_bytes = tree_bytes(state_shape.params)
    p = plan(
        num_runs=num_runs, params_bytes=params_bytes,
        step_activation_bytes=activation_bytes(program.net, state_shape.params, step_x),
        eval_activation_bytes=activation_bytes(program.net, state_shape.params, eval_x),
        data_bytes=data_bytes, budget_bytes=device_budget_bytes(cfg.memory_budget_gb),
        max_runs=cfg.max_chunk_size, num_devices=num_devices)
    host = host_result_bytes(num_runs=num_runs, chunk_size=p.chunk_size,
                             params_bytes=params_bytes, n_test=len(dataset.x_test),
                             rep_dim=rep_dim, epochs=cfg.epochs,
                             representations=cfg.save_representations)
    return p._replace(host_bytes=host, host_available_bytes=host_available_bytes())
