"""XLA compiler options the engine compiles its training epoch with, chosen by measurement.

XLA:CPU hands some fusions to a library (YNNPACK): matrix multiplications and, by default in
jaxlib 0.10, reductions. For the paper's image CNN the library's reductions (the max-pooling
windows and their gradient's tie counts, the chunked weight-gradient sums) run several times
slower than XLA's own reduction loops: keeping only the matmuls in the library makes a
training step of 10 CNN runs 1.15-1.2x faster and the text CNN's 1.08x, and leaves the FFNN's
unchanged (``experiments/results/bench_vs_pytorch.md``, issue 17). The options change *how* XLA
computes, not what: values agree to float rounding.

The options are compile options, per program (``jax.jit(..., compiler_options=...)``), so a
program of the user's own is not affected. An option the user sets in ``XLA_FLAGS`` wins, and
a jaxlib that does not know an option (older or newer than the one measured) compiles without
it: the probe compiles a one-op program once per process.
"""

from __future__ import annotations

import functools
import inspect
import os
import warnings

import jax

# backend -> {option: value}. Only CPU has options today.
_MEASURED = {
    "cpu": {"xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_DOT"},
}


def engine_compiler_options(backend: str | None = None) -> dict[str, str]:
    """The options for ``backend`` (default: JAX's default backend) that this jaxlib accepts
    and that ``XLA_FLAGS`` does not set already; ``{}`` when none apply.

    >>> engine_compiler_options("tpu")
    {}
    """
    default = jax.default_backend()
    backend = backend or default
    wanted = _MEASURED.get(backend, {})
    flags = os.environ.get("XLA_FLAGS", "")
    wanted = tuple((k, v) for k, v in wanted.items() if f"--{k}" not in flags)
    if not wanted or "compiler_options" not in inspect.signature(jax.jit).parameters:
        return {}
    # Only the default backend can be probed (and is the one the engine compiles for).
    return dict(_accepted(wanted)) if backend == default else dict(wanted)


@functools.cache
def _accepted(options: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    ok = []
    for name, value in options:
        try:
            jax.jit(lambda x: x + 1, compiler_options={name: value}).lower(1.0).compile()
        except Exception as e:  # noqa: BLE001 -- the error type differs between jaxlib versions
            warnings.warn(f"this jaxlib does not accept the XLA option {name}={value} "
                          f"({type(e).__name__}); compiling without it", stacklevel=3)
            continue
        ok.append((name, value))
    return tuple(ok)
