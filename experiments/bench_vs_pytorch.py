"""Benchmark: the sweep engine vs. a plain PyTorch loop over the same runs, side by side.

A benchmark, not a test; PyTorch is an optional extra (``pip install -e .[bench]``), never a
dependency of the library or its tests. For each model (the paper's FFNN and image CNN on MNIST,
the Kim-style text CNN on AG News) it trains R runs (seeds ``0 .. R-1``, Gaussian-COREL λ = 0.5,
Adam 1e-3, batch 128) for ``--epochs`` epochs two ways, in one process, one after the other:

- **engine**: ``corel_jax.train.engine`` as ``corel-jax train`` uses it: one compiled epoch
  (per-run shuffle, ``lax.scan`` over the minibatches, Adam, validation, best-epoch bookkeeping)
  for all R runs, runs vmapped in groups of ``run_batch``; timed after a warm-up epoch (which
  includes compilation);
- **pytorch**: the same model, loss and optimiser in PyTorch, trained run after run in an
  idiomatic loop (``torch.set_num_threads`` = the core count, data as in-memory tensors,
  ``torch.randperm`` shuffles and index gathers, no DataLoader; train mode, then validation in
  eval mode under ``no_grad`` every epoch); timed after a few warm-up steps.

Rates are seed-examples per second (R × training examples per epoch / seconds per epoch).
Data: MNIST and AG News from ``--data-dir`` if present, else random data of the same shapes
(speed does not depend on the values). ``--train-size`` trims the image training set (keeping
the 11:1 train/validation ratio) to shorten a run; rates per example do not depend on it.

    pip install torch==2.13.0
    python experiments/bench_vs_pytorch.py                              # all three models, R = 10
    python experiments/bench_vs_pytorch.py --models cnn --runs 10 --train-size 11000
    python experiments/bench_vs_pytorch.py --models cnn --skip-torch --run-batch 5

(Run it with the working tree first on ``sys.path``, e.g. ``PYTHONPATH=.``, when another copy
of ``corel_jax`` is installed.)

Writes ``experiments/results/bench_vs_pytorch.md`` (``--out`` to change). Expected runtime on
2 CPU cores at the defaults: about 10 minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import subprocess
import sys
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

HERE = Path(__file__).resolve().parent
LAM = 0.5

# model name -> (dataset, corel-jax model)
MODELS = {"mlp": ("mnist", "mlp"), "cnn": ("mnist", "cnn"), "text_cnn": ("ag_news", "text_cnn")}


# --------------------------------------------------------------------------------------- data


def load_data(dataset: str, data_dir: str | None, train_size: int | None) -> Dataset:
    """The real data set if ``data_dir`` has it, else random data of its shape."""
    ds = None
    if data_dir and Path(data_dir, dataset).is_dir():
        from corel_jax.data import load_dataset

        ds = load_dataset(dataset, data_dir)
    if ds is None:
        rng = np.random.default_rng(0)
        if dataset == "ag_news":
            n_tr, n_va, vocab, length = 9000, 1000, 21323, 64
            ids = lambda n: np.where(np.arange(length) < rng.integers(5, length, (n, 1)),
                                     rng.integers(1, vocab, (n, length)), 0).astype(np.int32)
            y = lambda n: rng.integers(0, 4, n).astype(np.int32)
            table = rng.standard_normal((vocab, 50)).astype(np.float32)
            table[0] = 0.0
            ds = Dataset("random-ag-news-sized", ids(n_tr), y(n_tr), ids(n_va), y(n_va),
                         ids(100), y(100), 4, ("a", "b", "c", "d"), "tokens",
                         embeddings=table, info={"frozen": True})
        else:
            x = lambda n: rng.random((n, 28, 28, 1), dtype=np.float32)
            y = lambda n: rng.integers(0, 10, n).astype(np.int32)
            ds = Dataset("random-mnist-sized", x(55000), y(55000), x(5000), y(5000), x(100),
                         y(100), 10, tuple(str(i) for i in range(10)), "image")
    if train_size and train_size < len(ds.y_train):
        val_size = max(1, round(train_size * len(ds.y_val) / len(ds.y_train)))
        ds = dataclasses.replace(ds, x_train=ds.x_train[:train_size],
                                 y_train=ds.y_train[:train_size],
                                 x_val=ds.x_val[:val_size], y_val=ds.y_val[:val_size])
    return ds


# ------------------------------------------------------------------------------------- engine


def time_engine(cfg: SweepConfig, ds: Dataset, runs: int, epochs: int, run_batch) -> dict:
    """Seconds per epoch of the compiled engine for ``runs`` runs (best of ``epochs``)."""
    t0 = time.perf_counter()
    program = eng.make_program(cfg, build_encoder(cfg, ds), ds.num_classes, ds.x_train[:1])
    compiled = eng.compile_program(program, run_batch=run_batch)
    data = jax.device_put(eng.DeviceData(jnp.asarray(ds.x_train), jnp.asarray(ds.y_train),
                                         jnp.asarray(ds.x_val), jnp.asarray(ds.y_val)))
    lams = jnp.full((runs,), LAM)
    state = compiled.init(eng.run_seeds(list(range(runs))), lams)
    state, m = compiled.train_epoch(state, lams, data)  # compile + warm up
    jax.block_until_ready(m)
    warm = time.perf_counter() - t0
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        state, m = compiled.train_epoch(state, lams, data)
        jax.block_until_ready(m)
        times.append(time.perf_counter() - t0)
    return {"s_per_epoch": min(times), "times": times, "warmup_s": warm,
            "val_acc": float(np.nanmean(np.asarray(m["val_acc"])))}


# ------------------------------------------------------------------------------------ pytorch


def torch_model(name: str, ds: Dataset):
    """The corel-jax encoder of ``name`` written in PyTorch (same shapes, init schemes aside)."""
    import torch
    from torch import nn

    class Dense(nn.Module):
        def __init__(self, d_in, hidden=(500, 500), dropout=0.0):
            super().__init__()
            layers = []
            for w in hidden:
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
                layers += [nn.Linear(d_in, w), nn.LeakyReLU(0.2)]
                d_in = w
            self.net = nn.Sequential(*layers)

        def forward(self, h):
            return self.net(h)

    class FFNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = Dense(784)

        def forward(self, x):
            return self.dense(x.flatten(1))

    class ImageCNN(nn.Module):
        def __init__(self, features=(15, 30, 60)):
            super().__init__()
            blocks, c = [], 1
            for f in features:
                blocks += [nn.Conv2d(c, f, 3, padding=1), nn.LeakyReLU(0.2), nn.MaxPool2d(2)]
                c = f
            self.conv = nn.Sequential(*blocks)
            self.dense = Dense(c * 3 * 3)

        def forward(self, x):  # x [B, 1, 28, 28]
            return self.dense(self.conv(x).flatten(1))

    class TextCNN(nn.Module):
        def __init__(self, table, windows=(3, 4, 5), filters=100):
            super().__init__()
            self.embed = nn.Embedding.from_pretrained(torch.as_tensor(table), freeze=True,
                                                      padding_idx=0)
            e = table.shape[1]
            self.convs = nn.ModuleList(nn.Conv1d(e, filters, k, padding="same")
                                       for k in windows)
            self.dense = Dense(filters * len(windows), dropout=0.5)

        def forward(self, ids):  # ids [B, L]
            mask = ids != 0
            e = (self.embed(ids) * mask[..., None]).transpose(1, 2)  # [B, E, L]
            pooled = []
            for conv in self.convs:
                c = conv(e).masked_fill(~mask[:, None, :], torch.finfo(e.dtype).min)
                pooled.append(c.amax(dim=2))
            h = torch.relu(torch.cat(pooled, dim=1))
            h = torch.where(mask.any(1, keepdim=True), h, torch.zeros_like(h))
            return self.dense(h)

    class Corel(nn.Module):
        """Encoder + Gaussian-COREL head (prototypes W [K, D], learned log γ)."""

        def __init__(self, encoder, k, d=500):
            super().__init__()
            self.encoder = encoder
            self.W = nn.Parameter(torch.randn(k, d) * math.sqrt(2.0 / (k + d)))
            self.log_gamma = nn.Parameter(torch.tensor(math.log(0.5)))

        def sim(self, x):
            h = self.encoder(x)
            d2 = ((h * h).sum(1, keepdim=True) - 2.0 * h @ self.W.T
                  + (self.W * self.W).sum(1)).clamp_min(0.0)
            return -self.log_gamma.exp() * d2

        def loss(self, x, y, lam):
            s = self.sim(x)
            att = s.gather(1, y[:, None])[:, 0]
            return (-lam * att + (1.0 - lam) * torch.logsumexp(s, 1)).mean()

    encoder = {"mlp": FFNN, "cnn": ImageCNN,
               "text_cnn": lambda: TextCNN(np.asarray(ds.embeddings, np.float32))}[name]()
    return Corel(encoder, ds.num_classes)


def time_torch(name: str, ds: Dataset, runs: int, epochs: int, batch: int,
               warmup_steps: int = 10) -> dict:
    """Seconds per epoch (all runs) of a PyTorch loop over runs, epochs and minibatches."""
    import torch

    torch.set_num_threads(os.cpu_count())
    if name == "text_cnn":
        to_x = lambda a: torch.as_tensor(np.asarray(a, np.int64))
    else:  # NHWC -> NCHW, PyTorch's native layout
        to_x = lambda a: torch.as_tensor(np.ascontiguousarray(np.moveaxis(a, -1, 1)))
    x_tr, x_va = to_x(ds.x_train), to_x(ds.x_val)
    y_tr = torch.as_tensor(np.asarray(ds.y_train, np.int64))
    y_va = torch.as_tensor(np.asarray(ds.y_val, np.int64))
    n = len(y_tr)
    steps = n // batch

    def train(seed, n_epochs, max_steps=None):
        torch.manual_seed(seed)
        model = torch_model(name, ds)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        gen = torch.Generator().manual_seed(seed)
        acc = float("nan")
        for _ in range(n_epochs):
            model.train()
            perm = torch.randperm(n, generator=gen)
            for i in range(steps if max_steps is None else max_steps):
                idx = perm[i * batch:(i + 1) * batch]
                loss = model.loss(x_tr[idx], y_tr[idx], LAM)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            if max_steps is not None:
                return acc
            model.eval()
            with torch.no_grad():
                correct = sum(int((model.sim(x_va[i:i + 1000]).argmax(1)
                                   == y_va[i:i + 1000]).sum()) for i in range(0, len(y_va), 1000))
            acc = correct / len(y_va)
        return acc

    train(1000, 1, max_steps=warmup_steps)
    accs = []
    t0 = time.perf_counter()
    for r in range(runs):
        accs.append(train(r, epochs))
    total = time.perf_counter() - t0
    return {"s_per_epoch": total / epochs, "val_acc": float(np.mean(accs))}


# -------------------------------------------------------------------------------- environment


def environment() -> dict:
    def sh(cmd):
        return subprocess.run(["sh", "-c", cmd], capture_output=True, text=True).stdout.strip()

    flags = sh("grep -m1 '^flags' /proc/cpuinfo").split()
    simd = [f for f in flags if f.startswith(("avx", "amx", "fma"))]
    env = {
        "cpu": sh("lscpu | grep 'Model name' | cut -d: -f2") or platform.processor(),
        "cores": os.cpu_count(),
        "simd": " ".join(simd),
        "jax": jax.__version__,
        "jaxlib": getattr(__import__("jaxlib"), "__version__", "?"),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "python": platform.python_version(),
    }
    try:
        import torch

        env["torch"] = torch.__version__
        env["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        env["torch_mkldnn"] = torch.backends.mkldnn.is_available()
    except ImportError:
        env["torch"] = None
    return env


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="mlp,cnn,text_cnn")
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--epochs", type=int, default=1,
                   help="timed epochs (engine: after a warm-up epoch; best kept)")
    p.add_argument("--train-size", type=int, default=None,
                   help="image training examples per epoch (default all 55,000)")
    p.add_argument("--text-train-size", type=int, default=None,
                   help="AG News training documents per epoch (default all 9,000)")
    p.add_argument("--run-batch", default="auto",
                   help="engine runs vmapped together: auto (the library's default), all, or k")
    p.add_argument("--skip-torch", action="store_true")
    p.add_argument("--skip-engine", action="store_true")
    p.add_argument("--data-dir", default=str(HERE.parent.parent / "shared" / "data"))
    p.add_argument("--out", default=None,
                   help="Markdown file (default results/bench_vs_pytorch.md); '-' for none")
    p.add_argument("--json", default=None, help="also write the rows as JSON here")
    args = p.parse_args()

    load_start = os.getloadavg()
    env = environment()
    print(json.dumps(env), flush=True)
    rows = []
    for name in args.models.split(","):
        dataset, model = MODELS[name]
        ds = load_data(dataset, args.data_dir,
                       args.text_train_size if dataset == "ag_news" else args.train_size)
        cfg = SweepConfig(dataset=dataset, model=model, loss="gaussian", epochs=args.epochs)
        if args.run_batch == "auto":
            run_batch = resolve_run_batch(cfg, Placement.create())
        else:
            run_batch = None if args.run_batch == "all" else int(args.run_batch)
        ex = (len(ds.y_train) // cfg.batch_size) * cfg.batch_size * args.runs
        row = {"model": name, "data": ds.name, "train": len(ds.y_train), "val": len(ds.y_val),
               "runs": args.runs, "run_batch": run_batch or "all"}
        if not args.skip_engine:
            e = time_engine(cfg, ds, args.runs, args.epochs, run_batch)
            row.update(engine_s=e["s_per_epoch"], engine_rate=ex / e["s_per_epoch"],
                       engine_warmup_s=e["warmup_s"], engine_val_acc=e["val_acc"])
            print(f"{name}: engine {row['engine_rate']:,.0f} seed-ex/s "
                  f"({e['s_per_epoch']:.2f} s/epoch, warm-up {e['warmup_s']:.1f} s)", flush=True)
        if not args.skip_torch:
            t = time_torch(name, ds, args.runs, args.epochs, cfg.batch_size)
            row.update(torch_s=t["s_per_epoch"], torch_rate=ex / t["s_per_epoch"],
                       torch_val_acc=t["val_acc"])
            print(f"{name}: pytorch {row['torch_rate']:,.0f} seed-ex/s "
                  f"({t['s_per_epoch']:.2f} s/epoch)", flush=True)
        rows.append(row)
    load_end = os.getloadavg()

    if args.json:
        Path(args.json).write_text(json.dumps({"env": env, "rows": rows}, indent=1))
    if args.out == "-":
        return
    cmd = "python experiments/bench_vs_pytorch.py " + " ".join(sys.argv[1:])
    lines = [
        "# The engine vs. a PyTorch loop over the same runs (Gaussian-COREL, batch 128)",
        "",
        f"- command: `{cmd.strip()}`",
        f"- CPU: {env['cpu']}, {env['cores']} cores; SIMD flags: {env['simd']}",
        f"- JAX {env['jax']} (jaxlib {env['jaxlib']}), XLA_FLAGS=`{env['xla_flags']}`; "
        f"PyTorch {env['torch']} (CPU capability {env.get('torch_cpu_capability')}, "
        f"{env['cores']} threads); Python {env['python']}",
        f"- load average (1 min) at start {load_start[0]:.2f}, at end {load_end[0]:.2f}",
        f"- {args.runs} runs (seeds 0..{args.runs - 1}, λ = {LAM}), {args.epochs} timed "
        "epoch(s) each side; engine after a warm-up epoch (compilation included there), "
        "PyTorch after 10 warm-up steps; an epoch includes validation on both sides",
        "",
        "| model | data (train / val) | engine run_batch | engine seed-ex/s | PyTorch seed-ex/s "
        "| engine / PyTorch |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        e, t = r.get("engine_rate"), r.get("torch_rate")
        ratio = f"**{e / t:.2f}×**" if e and t else "–"
        lines.append(f"| {r['model']} | {r['data']} ({r['train']:,} / {r['val']:,}) | "
                     f"{r['run_batch']} | {f'{e:,.0f}' if e else '–'} | "
                     f"{f'{t:,.0f}' if t else '–'} | {ratio} |")
    out = Path(args.out) if args.out else HERE / "results" / "bench_vs_pytorch.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
