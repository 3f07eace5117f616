"""Per-op profile of the engine's training steps on CPU (where the time of one step goes).

A development tool, not a test. It builds the engine's per-run ``train_step`` for a model
(Gaussian-COREL, batch 128, random data of the data set's shape), trains ``--runs`` runs for
``--steps`` minibatches in one compiled ``lax.scan`` (runs vmapped in groups of ``--run-batch``,
as ``engine.compile_program`` does), times it, and, with ``--profile``, records a
``jax.profiler`` trace and sums the time of every XLA op (thunk) by name, printed per run-step.

    python experiments/profile_step.py --model cnn --runs 10 --steps 10 --profile
    python experiments/profile_step.py --model cnn --runs 10 --run-batch 10 --conv-impl im2col
"""

from __future__ import annotations

import argparse
import collections
import functools
import re
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from corel_jax.train import SweepConfig
from corel_jax.train import engine as eng
from corel_jax.train.xla_options import engine_compiler_options

SHAPES = {"mlp": (28, 28, 1), "cnn": (28, 28, 1)}
XLA_OPTIONS = engine_compiler_options()


def make_encoder(model: str, conv_impl: str | None, pool_impl: str | None = None):
    from corel_jax.models import MLP, ImageCNN, TextCNN

    if model == "mlp":
        return MLP()
    if model == "cnn":
        return ImageCNN(conv_impl=conv_impl or "auto", pool_impl=pool_impl or "auto")
    return TextCNN(vocab_size=None, frozen=_table(), conv_impl=conv_impl or "auto")


@functools.cache
def _table():
    from corel_jax.models import FrozenTable

    t = np.random.default_rng(0).standard_normal((21323, 50)).astype(np.float32)
    t[0] = 0
    return FrozenTable(t)


def data(model: str, n: int, rng):
    if model == "text_cnn":
        ids = rng.integers(1, 21323, (n, 64)).astype(np.int32)
        ids[:, 40:] = 0
        return jnp.asarray(ids), jnp.asarray(rng.integers(0, 4, n).astype(np.int32)), 4
    x = rng.random((n,) + SHAPES[model], dtype=np.float32)
    return jnp.asarray(x), jnp.asarray(rng.integers(0, 10, n).astype(np.int32)), 10


def build(model: str, runs: int, steps: int, run_batch: int | None, conv_impl=None,
          shared_data: bool = False, pool_impl=None):
    """A jitted ``state -> state`` training ``steps`` minibatches for ``runs`` runs."""
    rng = np.random.default_rng(0)
    x, y, k = data(model, steps * 128, rng)
    cfg = SweepConfig(dataset="ag_news" if model == "text_cnn" else "mnist", model=model,
                      loss="gaussian")
    program = eng.make_program(cfg, make_encoder(model, conv_impl, pool_impl), k, x[:1])
    lams = {k: jnp.full((runs,), v) for k, v in program.default_hparams.items()}
    lams["lam"] = jnp.full((runs,), 0.5)  # every run's hp (the name is the λ axis's)
    state = jax.jit(jax.vmap(lambda s, hp: program.init(jax.random.key(s), hp)))(
        jnp.arange(runs, dtype=jnp.uint32), lams)
    carry = (state.params, state.opt_state, state.aux)
    valid = jnp.ones(128, bool)
    perms = jnp.stack([jnp.asarray(rng.permutation(steps * 128)) for _ in range(runs)])
    perms = perms.reshape(runs, steps, 128)
    if shared_data:  # every run sees the same minibatches: the inputs are not vmapped
        perms = perms[0]

    def one_run(carry, hp, perm):
        def step(c, idx):
            *c, loss = program.train_step(*c, x[idx], y[idx], valid, hp, jax.random.key(0))
            return tuple(c), loss

        return jax.lax.scan(step, carry, perm)

    axes = (0, 0, None if shared_data else 0)
    if run_batch is None or run_batch >= runs:
        fn = jax.vmap(one_run, in_axes=axes)
    elif shared_data:
        def fn(carry, lams, perm):
            groups = jax.tree.map(lambda a: a.reshape((-1, run_batch) + a.shape[1:]),
                                  (carry, lams))
            out = jax.lax.map(lambda a: jax.vmap(one_run, in_axes=axes)(*a, perm), groups)
            return jax.tree.map(lambda a: a.reshape((-1,) + a.shape[2:]), out)
    else:
        def fn(carry, lams, perms):
            return jax.lax.map(lambda a: one_run(*a), (carry, lams, perms), batch_size=run_batch)
    if len(jax.devices()) > 1 and not shared_data:
        # Several (forced host) devices: each trains its share of the runs, single-threaded
        # XLA programs side by side instead of one program using every core per op.
        from jax.sharding import Mesh, NamedSharding
        from jax.sharding import PartitionSpec as P

        mesh = Mesh(np.array(jax.devices()), ("runs",))
        fn = jax.shard_map(fn, mesh=mesh, in_specs=P("runs"), out_specs=P("runs"))
        carry, lams, perms = jax.device_put((carry, lams, perms), NamedSharding(mesh, P("runs")))
    # The engine's compiler options (train/xla_options.py), unless --no-xla-options.
    f = jax.jit(fn, **({"compiler_options": XLA_OPTIONS} if XLA_OPTIONS else {}))
    return f, (carry, lams, perms)


def time_it(f, args, repeats: int = 3) -> float:
    jax.block_until_ready(f(*args))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def compare(variants: dict, rounds: int) -> dict:
    """Best wall and process-CPU seconds per call of each ``(f, args)``, timed in turn round
    after round (so that a changing load on a shared machine hits all variants alike)."""
    for f, a in variants.values():
        jax.block_until_ready(f(*a))
    best = {k: [float("inf"), float("inf")] for k in variants}
    for _ in range(rounds):
        for k, (f, a) in variants.items():
            w0, c0 = time.perf_counter(), time.process_time()
            jax.block_until_ready(f(*a))
            w, c = time.perf_counter() - w0, time.process_time() - c0
            best[k] = [min(best[k][0], w), min(best[k][1], c)]
    return best


def profile(f, args, top: int = 40) -> list[tuple[str, float, int]]:
    """(op name, total seconds, count) of the XLA ops of one call of ``f``, longest first."""
    jax.block_until_ready(f(*args))
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d):
            jax.block_until_ready(f(*args))
        (path,) = Path(d).rglob("*.xplane.pb")
        pd = jax.profiler.ProfileData.from_file(str(path))
    totals = collections.defaultdict(lambda: [0.0, 0])
    for plane in pd.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            for ev in line.events:
                name = ev.name
                if line.name in ("XLA Ops",) or re.match(r"^[a-z_\-]+(\.\d+)*$", name):
                    totals[name][0] += ev.duration_ns * 1e-9
                    totals[name][1] += 1
    return sorted(((n, t, c) for n, (t, c) in totals.items()), key=lambda r: -r[1])[:top]


def hlo_ops(f, args) -> dict[str, str]:
    """Op name -> ``shape = opcode(operand shapes)`` from the optimised HLO of ``f``."""
    text = f.lower(*args).compile().as_text()
    shapes, ops = {}, {}
    pat = re.compile(r"^\s*(?:ROOT )?%?([\w.\-]+) = (\S+(?: \S+)?)\s+([\w\-]+)\((.*?)\)(.*)$")
    for line in text.splitlines():
        m = pat.match(line)
        if not m:
            continue
        name, shape, opcode, operands, rest = m.groups()
        shape = re.sub(r"\{[^}]*\}", "", shape)
        shapes[name] = shape
        args_ = [shapes.get(o.strip().lstrip("%"), "?") for o in operands.split(",") if o.strip()]
        calls = re.search(r"calls=%?([\w.\-]+)", rest)
        kind = re.search(r"kind=(\w+)", rest)
        desc = f"{shape} = {opcode}({', '.join(args_)})"
        if kind:
            desc += f" {kind.group(1)}"
        if calls:
            desc += f" calls={calls.group(1)}"
        ops[name] = desc
    return ops


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="cnn", choices=("mlp", "cnn", "text_cnn"))
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--run-batch", default="2")
    p.add_argument("--conv-impl", default=None)
    p.add_argument("--shared-data", action="store_true")
    p.add_argument("--pool-impl", default=None)
    p.add_argument("--compare", default=None,
                   help="';'-separated variants 'run_batch,conv_impl,pool_impl' timed in turn")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--top", type=int, default=40)
    p.add_argument("--no-xla-options", action="store_true",
                   help="compile without the engine's XLA options (train/xla_options.py)")
    args = p.parse_args()
    if args.no_xla_options:
        global XLA_OPTIONS
        XLA_OPTIONS = {}
    if args.compare:
        variants = {}
        for v in args.compare.split(";"):
            rb, ci, pi = (v.split(",") + ["", ""])[:3]
            variants[v] = build(args.model, args.runs, args.steps,
                                None if rb == "all" else int(rb), ci or None, args.shared_data,
                                pi or None)
        best = compare(variants, args.rounds)
        n = args.runs * args.steps
        for v, (w, c) in best.items():
            print(f"{args.model} R={args.runs} {v:28s} wall {w / n * 1e3:7.2f} ms/run-step "
                  f"({128 * n / w:7,.0f} seed-ex/s)  cpu {c / n * 1e3:7.2f} ms/run-step")
        return
    rb = None if args.run_batch == "all" else int(args.run_batch)
    f, a = build(args.model, args.runs, args.steps, rb, args.conv_impl, args.shared_data,
                 args.pool_impl)
    t = time_it(f, a)
    per = t / (args.runs * args.steps)
    print(f"{args.model} R={args.runs} run_batch={args.run_batch} conv={args.conv_impl}: "
          f"{per * 1e3:.2f} ms per run-step, {128 / per:,.0f} seed-examples/s")
    if args.profile:
        rows = profile(f, a, args.top)
        ops = hlo_ops(f, a)
        total = sum(r[1] for r in rows)
        print(f"{'op':28s} {'ms/run-step':>11s} {'count':>6s}  hlo")
        for name, sec, cnt in rows:
            print(f"{name[:28]:28s} {sec / (args.runs * args.steps) * 1e3:11.3f} {cnt:6d}  "
                  f"{ops.get(name, '')[:160]}")
        print(f"sum of listed ops: {total / (args.runs * args.steps) * 1e3:.2f} ms/run-step")


if __name__ == "__main__":
    main()
