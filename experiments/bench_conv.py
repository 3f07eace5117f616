"""Benchmark: how the image CNN's convolutions and pooling should be computed, per backend.

A benchmark, not a test. It times one training step (forward + backward + Adam, batch 128, the
paper's image CNN on 28×28×1 inputs, Gaussian-COREL) of ``R`` runs with per-run parameters,
``jax.vmap``-ed over the run axis as the engine does, for every combination of

- ``conv_impl``: ``xla`` (``lax.conv_general_dilated``; under ``vmap`` with per-run kernels a
  grouped convolution), ``im2col`` (shifted slices + one batched matmul, with its hand-written
  backward pass) and ``im2col-autodiff`` (the same forward, backward left to JAX autodiff: what
  ``im2col`` was before its backward was written by hand), and
- ``pool_impl``: ``reshape`` (reshape-and-max) and ``reduce_window`` (with ``im2col`` only),

and, for each conv layer alone, forward + backward (input and kernel gradients) of the layer
with per-run inputs and kernels under ``vmap``, as in the engine. Steps run in a ``lax.scan`` of
``--steps`` minibatches so that dispatch overhead does not count. The result decides
``conv_impl="auto"`` / ``pool_impl="auto"`` (see :mod:`corel_jax.models.conv`). All variants of
one table are timed in turn, round after round (best round kept), so that changes in the load of
a shared machine hit them alike.

    python experiments/bench_conv.py                  # writes results/bench_conv.md
    python experiments/bench_conv.py --runs 1,10 --steps 5

Expected runtime on 2 CPU cores: about 10 minutes (``xla`` at 10 runs is most of it).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from corel_jax.loss_spec import LOSSES
from corel_jax.models import ImageCNN
from corel_jax.models.conv import Conv, im2col
from corel_jax.models.head import CorelNet

import machine

HERE = Path(__file__).resolve().parent
BATCH = 128
# The module itself (``corel_jax.models.conv`` the attribute is the function ``conv``).
conv_module = importlib.import_module("corel_jax.models.conv")


def _im2col_autodiff(x, kernel, padding="SAME", precision=None):
    """``im2col`` with JAX's own backward pass (the baseline for the hand-written one)."""
    patches = im2col(x, kernel.shape[:-2], padding)
    w = kernel.reshape(-1, kernel.shape[-1])
    return jax.lax.dot_general(patches, w, (((patches.ndim - 1,), (0,)), ((), ())),
                               precision=precision)


@contextlib.contextmanager
def _impl(name: str):
    """Yields the ``conv_impl`` to pass; ``im2col-autodiff`` patches ``conv_im2col`` meanwhile."""
    if name != "im2col-autodiff":
        yield name
        return
    original = conv_module.conv_im2col
    conv_module.conv_im2col = _im2col_autodiff
    try:
        yield "im2col"
    finally:
        conv_module.conv_im2col = original


def _interleaved_best(fns: dict, repeats: int) -> dict:
    """Best seconds per call of each ``(fn, args)``, timed in turn for ``repeats`` rounds."""
    for fn, args in fns.values():
        jax.block_until_ready(fn(*args))  # compile + warm up
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, (fn, args) in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*args))
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def train_steps_fn(conv_impl: str, pool_impl: str, runs: int, steps: int):
    """``(fn, args)``: ``steps`` vmapped training steps of ``runs`` runs, each run its own data."""
    net = CorelNet(encoder=ImageCNN(conv_impl=conv_impl, pool_impl=pool_impl), num_classes=10,
                   loss="gaussian")
    tx = optax.adam(1e-3)
    rng = np.random.default_rng(0)
    xs = jnp.asarray(rng.random((runs, steps, BATCH, 28, 28, 1), dtype=np.float32))
    ys = jnp.asarray(rng.integers(0, 10, (runs, steps, BATCH)), jnp.int32)
    keys = jax.random.split(jax.random.key(0), runs)
    params = jax.vmap(lambda k: net.init(k, xs[0, 0, :1])["params"])(keys)
    opt = jax.vmap(tx.init)(params)

    def one_run(p, o, xs, ys):
        def step(carry, batch):
            p, o = carry
            x, y = batch

            def loss_fn(p):
                h, head = net.apply({"params": p}, x, train=True)
                return LOSSES.get("gaussian").objective(h, head, y, lam=0.5, aux=None).mean()

            g = jax.grad(loss_fn)(p)
            upd, o = tx.update(g, o, p)
            return (optax.apply_updates(p, upd), o), None

        return jax.lax.scan(step, (p, o), (xs, ys))[0]

    fn = jax.jit(jax.vmap(one_run))
    # Trace now (inside the caller's _impl context), compile on first call.
    return fn.lower(params, opt, xs, ys).compile(), (params, opt, xs, ys)


def layer_fn(impl: str, shape, cout: int, runs: int):
    """``(fn, args)``: forward + backward of one 3×3 conv layer, per-run inputs and kernels."""
    conv = Conv(cout, (3, 3), padding="SAME", impl=impl)
    x = jnp.asarray(np.random.default_rng(0).random((runs, BATCH, *shape), dtype=np.float32))
    params = jax.vmap(lambda k: conv.init(k, x[0, :1]))(jax.random.split(jax.random.key(0), runs))

    def loss(p, x):
        return jnp.sum(jnp.tanh(conv.apply(p, x)))

    fn = jax.jit(jax.vmap(jax.grad(loss, argnums=(0, 1))))
    return fn.lower(params, x).compile(), (params, x)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", default="1,10")
    p.add_argument("--steps", type=int, default=5, help="minibatches per timed call")
    p.add_argument("--repeats", type=int, default=3, help="timed rounds (best kept)")
    p.add_argument("--out", default=None, help="Markdown file (default results/bench_conv.md)")
    args = p.parse_args()
    load_start = os.getloadavg()
    backend = jax.default_backend()
    run_counts = [int(r) for r in args.runs.split(",")]

    configs = [("xla", "reshape"), ("im2col-autodiff", "reshape"), ("im2col", "reshape"),
               ("im2col", "reduce_window")]
    step_rows = []
    for runs in run_counts:
        fns = {}
        for conv_impl, pool_impl in configs:
            with _impl(conv_impl) as impl:
                fns[conv_impl, pool_impl] = train_steps_fn(impl, pool_impl, runs, args.steps)
        best = _interleaved_best(fns, args.repeats)
        for (conv_impl, pool_impl), t in best.items():
            rate = runs * BATCH * args.steps / t
            step_rows.append((runs, conv_impl, pool_impl, rate, 1e3 * t / args.steps))
            print(f"R={runs:3d} conv={conv_impl:15s} pool={pool_impl:13s} {rate:9,.0f} seed-ex/s "
                  f"({1e3 * t / args.steps:.1f} ms/step)", flush=True)

    layers = [((28, 28, 1), 15), ((14, 14, 15), 30), ((7, 7, 30), 60)]
    impls = ("xla", "im2col-autodiff", "im2col")
    layer_rows = []
    for runs in run_counts:
        for i, (shape, cout) in enumerate(layers):
            fns = {}
            for name in impls:
                with _impl(name) as impl:
                    fns[name] = layer_fn(impl, shape, cout, runs)
            ms = {k: 1e3 * t for k, t in _interleaved_best(fns, args.repeats).items()}
            layer_rows.append((runs, i, shape, cout, [ms[k] for k in impls]))
            print(f"R={runs:3d} conv{i} {shape}->{cout}: "
                  + ", ".join(f"{k} {ms[k]:.2f} ms" for k in impls), flush=True)

    dev = jax.devices()[0]
    lines = [
        "# Convolution benchmark: the paper's image CNN, per implementation",
        "",
        f"- command: `python experiments/bench_conv.py --runs {args.runs} --steps {args.steps} "
        f"--repeats {args.repeats}`",
        f"- device: {dev.platform} ({dev.device_kind}); CPU: {machine.describe()}",
        f"- JAX {jax.__version__}; batch {BATCH}, 28×28×1 inputs, convs 15/30/60 3×3 SAME, "
        "LeakyReLU, 2×2 max-pool, dense 500-500, Gaussian-COREL, Adam",
        f"- load average (1 min) at start {load_start[0]:.2f}, at end {os.getloadavg()[0]:.2f} "
        "(other jobs on the machine inflate every timing)",
        f"- training steps: {args.steps} minibatches in one `lax.scan`, runs `vmap`-ed with "
        f"per-run parameters and data, best of {args.repeats} rounds after a warm-up call; the "
        "variants of one table are timed in turn each round",
        "",
        "## Whole training step",
        "",
        "| runs | conv | pool | seed-examples/s | ms per step (all runs) |",
        "|---:|---|---|---:|---:|",
    ]
    for runs, c, pl, rate, ms in step_rows:
        lines.append(f"| {runs} | {c} | {pl} | {rate:,.0f} | {ms:.1f} |")
    lines += [
        "",
        "## One conv layer, forward + backward (batch 128, vmapped over runs)",
        "",
        "Input and kernel gradients, per-run inputs and kernels; ms for all runs together.",
        "",
        "| runs | layer | input | filters | xla ms | im2col-autodiff ms | im2col ms | "
        "autodiff / im2col |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for runs, i, shape, cout, (mx, ma, mi) in layer_rows:
        lines.append(f"| {runs} | conv{i} | {'×'.join(map(str, shape))} | {cout} | {mx:.2f} | "
                     f"{ma:.2f} | {mi:.2f} | {ma / mi:.2f}× |")
    best = max(step_rows, key=lambda r: (r[0], r[3]))
    lines += ["", f"Fastest at {best[0]} runs on `{backend}`: conv `{best[1]}`, "
              f"pool `{best[2]}` ({best[3]:,.0f} seed-examples/s)."]
    out = Path(args.out) if args.out else HERE / "results" / "bench_conv.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
