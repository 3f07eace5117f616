"""Benchmark: seed-examples per second of the sweep engine vs. a Python loop over runs.

A benchmark, not a test. For R runs trained together (1, 2, 5, 10, 20 by default) it measures
one epoch of the engine (the compiled, vmapped program: shuffles, ``lax.scan`` over minibatches,
Adam, validation) after a warm-up epoch, and the same jitted single-run training step called
from a Python loop over runs and minibatches (the way a PyTorch user trains seeds one after
another). Data: Fashion-MNIST from ``--data-dir`` if given, else random data of the same size
(55,000 × 28 × 28 train, 5,000 val); speed does not depend on the pixel values.

    python experiments/bench_engine.py                        # FFNN, writes results/bench_engine.md
    python experiments/bench_engine.py --model cnn --runs 1,2,5,10
    python experiments/bench_engine.py --data-dir ../shared/data/fashion_mnist

Expected runtime on 2 CPU cores: about 10 minutes for the FFNN table.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from corel_jax.data.dataset import Dataset
from corel_jax.train import SweepConfig
from corel_jax.train import engine as eng
from corel_jax.train.placement import Placement
from corel_jax.train.sweep import build_encoder, resolve_run_batch

import machine

HERE = Path(__file__).resolve().parent


def fashion_sized(data_dir: str | None, train_size: int = 55000) -> Dataset:
    """Fashion-MNIST (or random data of its shape); ``train_size < 55000`` keeps the first
    ``train_size`` training and ``train_size / 11`` validation examples (the same 11:1 ratio, so
    validation takes the same share of an epoch)."""
    val_size = max(1, round(train_size * 5000 / 55000))
    if data_dir:
        from corel_jax.data import load_dataset

        ds = load_dataset("fashion_mnist", data_dir)
        return dataclasses.replace(ds, x_train=ds.x_train[:train_size],
                                   y_train=ds.y_train[:train_size],
                                   x_val=ds.x_val[:val_size], y_val=ds.y_val[:val_size])
    rng = np.random.default_rng(0)
    x = lambda n: rng.random((n, 28, 28, 1), dtype=np.float32)
    y = lambda n: rng.integers(0, 10, n).astype(np.int32)
    return Dataset("random-fashion-sized", x(train_size), y(train_size), x(val_size), y(val_size),
                   x(100), y(100), 10, tuple(str(i) for i in range(10)), "image")


def time_engine(cfg, ds, runs: int, epochs: int, run_batch: int | None) -> float:
    program = eng.make_program(cfg, build_encoder(cfg, ds), ds.num_classes, ds.x_train[:1])
    compiled = eng.compile_program(program, run_batch=run_batch)
    data = jax.device_put(eng.DeviceData(jnp.asarray(ds.x_train), jnp.asarray(ds.y_train),
                                         jnp.asarray(ds.x_val), jnp.asarray(ds.y_val)))
    lams = {k: jnp.full((runs,), v) for k, v in program.default_hparams.items()}
    state = compiled.init(eng.run_seeds(list(range(runs))), lams)
    state, m = compiled.train_epoch(state, lams, data)  # compile + warm up
    jax.block_until_ready(m)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        state, m = compiled.train_epoch(state, lams, data)
        jax.block_until_ready(m)
        times.append(time.perf_counter() - t0)
    return min(times)


def time_loop(cfg, ds, runs: int, steps: int) -> float:
    """Seconds per epoch of a Python loop over runs calling one jitted step per minibatch
    (measured over ``steps`` minibatches per run, scaled to a full epoch)."""
    program = eng.make_program(cfg, build_encoder(cfg, ds), ds.num_classes, ds.x_train[:1])
    step = jax.jit(program.train_step, donate_argnums=(0, 1, 2))
    x_train, y_train = jnp.asarray(ds.x_train), jnp.asarray(ds.y_train)
    n, b = len(ds.y_train), cfg.batch_size
    steps_per_epoch = n // b
    total = 0.0
    for r in range(runs):
        hp = program.default_hparams
        state = program.init(jax.random.key(r), hp)
        carry = (state.params, state.opt_state, state.aux)
        rng = np.random.default_rng(r)
        key = jax.random.key(r)
        perm = rng.permutation(n)
        idx = jnp.asarray(perm[: b])
        valid = jnp.ones((b,), bool)
        carry = step(*carry, x_train[idx], y_train[idx], valid, hp, key)[:3]  # compile
        jax.block_until_ready(carry)
        t0 = time.perf_counter()
        for i in range(steps):
            idx = jnp.asarray(perm[(i % steps_per_epoch) * b:(i % steps_per_epoch + 1) * b])
            *carry, loss = step(*carry, x_train[idx], y_train[idx], valid, hp, key)
        jax.block_until_ready(loss)
        total += (time.perf_counter() - t0) * steps_per_epoch / steps
    return total


def matmul_peak_gflops() -> float:
    a = jnp.ones((2048, 2048), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    best = 1e9
    for _ in range(5):
        t0 = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return 2 * 2048**3 / best / 1e9


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="mlp", choices=("mlp", "cnn"))
    p.add_argument("--runs", default="1,2,5,10,20")
    p.add_argument("--epochs", type=int, default=2, help="timed epochs (best is kept)")
    p.add_argument("--loop-steps", type=int, default=100,
                   help="minibatches per run timed for the Python-loop baseline")
    p.add_argument("--loss", default="gaussian")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--train-size", type=int, default=55000,
                   help="training examples per epoch (smaller: a shorter run, same rates)")
    p.add_argument("--out", default=None, help="Markdown file (default results/bench_<model>.md)")
    args = p.parse_args()

    load_start = os.getloadavg()
    ds = fashion_sized(args.data_dir, args.train_size)
    cfg = SweepConfig(dataset="fashion_mnist", model=args.model, loss=args.loss, epochs=1)
    ex_per_epoch = (len(ds.y_train) // cfg.batch_size) * cfg.batch_size
    run_batch = resolve_run_batch(cfg, Placement.create())
    rows = []
    for runs in [int(r) for r in args.runs.split(",")]:
        t_eng = time_engine(cfg, ds, runs, args.epochs, run_batch)
        t_vmap = time_engine(cfg, ds, runs, args.epochs, None) if run_batch else t_eng
        t_loop = time_loop(cfg, ds, runs, args.loop_steps)
        rows.append((runs, runs * ex_per_epoch / t_eng, t_eng, runs * ex_per_epoch / t_vmap,
                     runs * ex_per_epoch / t_loop, t_loop))
        print(f"R={runs:3d} engine {rows[-1][1]:9.0f} seed-ex/s ({t_eng:6.2f} s/epoch)  "
              f"all-vmap {rows[-1][3]:9.0f}  loop {rows[-1][4]:9.0f} seed-ex/s "
              f"({t_loop:6.2f} s/epoch)", flush=True)

    peak = matmul_peak_gflops()
    dev = jax.devices()[0]
    lines = [
        f"# Engine benchmark: {args.model.upper()}, {args.loss} loss, batch {cfg.batch_size}",
        "",
        f"- command: `python experiments/bench_engine.py --model {args.model} --runs {args.runs} "
        f"--epochs {args.epochs} --loop-steps {args.loop_steps} --train-size {args.train_size}`",
        f"- device: {dev.platform} ({dev.device_kind}); CPU: {machine.describe()}",
        f"- JAX {jax.__version__}; data: {ds.name} ({len(ds.y_train)} train, "
        f"{len(ds.y_val)} val)",
        f"- fp32 matmul peak (2048² jnp.dot): {peak:.0f} GFLOP/s",
        f"- load average (1 min) at start {load_start[0]:.2f}, at end {os.getloadavg()[0]:.2f} "
        f"(other jobs on the machine inflate every timing)",
        f"- engine: one compiled epoch (shuffle + lax.scan over {ex_per_epoch // cfg.batch_size} "
        f"minibatches + Adam + validation), best of {args.epochs} after a warm-up epoch; "
        f"runs vmapped in groups of {run_batch or 'all'} (`run_batch`, the default here) and, "
        f"for comparison, all runs in one vmap",
        f"- loop: the same jitted single-run step in a Python loop over runs, "
        f"{args.loop_steps} steps per run timed and scaled to an epoch",
        "",
        "| runs | engine seed-examples/s | engine s/epoch | engine, all runs in one vmap | "
        "loop seed-examples/s | loop s/epoch | engine / loop |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for runs, e, te, ev, lp, tl in rows:
        lines.append(f"| {runs} | {e:,.0f} | {te:.2f} | {ev:,.0f} | {lp:,.0f} | {tl:.2f} | "
                     f"{e / lp:.2f}× |")
    suffix = "" if args.model == "mlp" else f"_{args.model}"
    out = Path(args.out) if args.out else HERE / "results" / f"bench_engine{suffix}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
