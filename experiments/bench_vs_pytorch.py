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

The timed epochs alternate (an engine epoch of all runs, then a PyTorch epoch of all runs, and
again), and the best epoch of each side is kept, so that a changing load on a shared machine
hits both sides alike.

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

import machine

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


class EngineSide:
    """The compiled engine for ``runs`` runs; :meth:`epoch` trains them all for one epoch."""

    def __init__(self, cfg: SweepConfig, ds: Dataset, runs: int, run_batch):
        t0 = time.perf_counter()
        program = eng.make_program(cfg, build_encoder(cfg, ds), ds.num_classes, ds.x_train[:1])
        self.compiled = eng.compile_program(program, run_batch=run_batch)
        self.data = jax.device_put(eng.DeviceData(
            jnp.asarray(ds.x_train), jnp.asarray(ds.y_train), jnp.asarray(ds.x_val),
            jnp.asarray(ds.y_val)))
        # every run's hyperparameters (the engine's per-run hp dict), all at λ = LAM
        self.hp = {k: jnp.full((runs,), v, jnp.float32)
                   for k, v in {**program.default_hparams, "lam": LAM}.items()}
        self.state = self.compiled.init(eng.run_seeds(list(range(runs))), self.hp)
        self.epoch()  # compile + warm up
        self.warmup_s = time.perf_counter() - t0

    def epoch(self) -> float:
        t0 = time.perf_counter()
        self.state, m = self.compiled.train_epoch(self.state, self.hp, self.data)
        jax.block_until_ready(m)
        self.val_acc = float(np.nanmean(np.asarray(m["val_acc"])))
        return time.perf_counter() - t0


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


class TorchSide:
    """``runs`` PyTorch models trained one after another; :meth:`epoch` trains each of them
    for one epoch (shuffle, minibatch steps in train mode, validation under ``no_grad``)."""

    def __init__(self, name: str, ds: Dataset, runs: int, batch: int, warmup_steps: int = 10):
        import torch

        self.torch = torch
        torch.set_num_threads(os.cpu_count())
        if name == "text_cnn":
            to_x = lambda a: torch.as_tensor(np.asarray(a, np.int64))
        else:  # NHWC -> NCHW, PyTorch's native layout
            to_x = lambda a: torch.as_tensor(np.ascontiguousarray(np.moveaxis(a, -1, 1)))
        self.x_tr, self.x_va = to_x(ds.x_train), to_x(ds.x_val)
        self.y_tr = torch.as_tensor(np.asarray(ds.y_train, np.int64))
        self.y_va = torch.as_tensor(np.asarray(ds.y_val, np.int64))
        self.batch = batch
        self.runs = []
        for seed in range(runs):
            torch.manual_seed(seed)
            model = torch_model(name, ds)
            self.runs.append((model, torch.optim.Adam(model.parameters(), lr=1e-3),
                              torch.Generator().manual_seed(seed)))
        # Warm-up steps on a throwaway model (allocator, oneDNN primitives).
        torch.manual_seed(1000)
        model = torch_model(name, ds)
        self._train(model, torch.optim.Adam(model.parameters(), lr=1e-3),
                    torch.Generator().manual_seed(1000), warmup_steps)

    def _train(self, model, opt, gen, max_steps=None):
        n, b = len(self.y_tr), self.batch
        model.train()
        perm = self.torch.randperm(n, generator=gen)
        for i in range(n // b if max_steps is None else max_steps):
            idx = perm[i * b:(i + 1) * b]
            loss = model.loss(self.x_tr[idx], self.y_tr[idx], LAM)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def epoch(self) -> float:
        t0 = time.perf_counter()
        accs = []
        for model, opt, gen in self.runs:
            self._train(model, opt, gen)
            model.eval()
            with self.torch.no_grad():
                correct = sum(int((model.sim(self.x_va[i:i + 1000]).argmax(1)
                                   == self.y_va[i:i + 1000]).sum())
                              for i in range(0, len(self.y_va), 1000))
            accs.append(correct / len(self.y_va))
        self.val_acc = float(np.mean(accs))
        return time.perf_counter() - t0


# -------------------------------------------------------------------------------- environment


def environment() -> dict:
    cpu = machine.cpu()
    env = {
        "cpu": cpu["cpu_model"],
        "cores": cpu["cpus"],
        "simd": cpu["simd"],
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
    p.add_argument("--epochs", type=int, default=2,
                   help="timed epochs per side, alternating engine and PyTorch (best kept)")
    p.add_argument("--train-size", type=int, default=None,
                   help="image training examples per epoch (default all 55,000)")
    p.add_argument("--text-train-size", type=int, default=None,
                   help="AG News training documents per epoch (default all 9,000)")
    p.add_argument("--run-batch", default="auto",
                   help="engine runs vmapped together: auto (the library's default), all, or k")
    p.add_argument("--torch-runs", type=int, default=None,
                   help="runs the PyTorch loop trains (default --runs; it trains them one after "
                        "another, so its rate per seed-example does not depend on how many)")
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
        sides = {}
        if not args.skip_engine:
            sides["engine"] = EngineSide(cfg, ds, args.runs, run_batch)
            row["engine_warmup_s"] = sides["engine"].warmup_s
        if not args.skip_torch:
            sides["torch"] = TorchSide(name, ds, args.torch_runs or args.runs, cfg.batch_size)
        # Epochs alternate between the two sides, so a changing load hits both alike.
        times = {k: [] for k in sides}
        runs_of = {"engine": args.runs, "torch": args.torch_runs or args.runs}
        per_run = ex // args.runs
        for _ in range(args.epochs):
            for k, side in sides.items():
                times[k].append(side.epoch())
                print(f"{name}: {k} epoch {times[k][-1]:.2f} s "
                      f"({runs_of[k] * per_run / times[k][-1]:,.0f} seed-ex/s)", flush=True)
        for k, side in sides.items():
            best = min(times[k])
            row.update({f"{k}_s": best, f"{k}_rate": runs_of[k] * per_run / best,
                        f"{k}_times": times[k], f"{k}_runs": runs_of[k],
                        f"{k}_val_acc": side.val_acc})
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
        f"- {args.runs} runs (seeds 0..{args.runs - 1}, λ = {LAM}); {args.epochs} timed "
        "epochs per side, alternating (engine epoch, PyTorch epoch, ...), best kept; the "
        "engine after a warm-up epoch (compilation included there), PyTorch after 10 warm-up "
        "steps; an epoch includes validation on both sides",
        "",
        "| model | data (train / val) | runs engine / PyTorch | engine run_batch | "
        "engine seed-ex/s | PyTorch seed-ex/s | engine / PyTorch |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        e, t = r.get("engine_rate"), r.get("torch_rate")
        ratio = f"**{e / t:.2f}×**" if e and t else "–"
        lines.append(f"| {r['model']} | {r['data']} ({r['train']:,} / {r['val']:,}) | "
                     f"{r.get('engine_runs', '–')} / {r.get('torch_runs', '–')} | "
                     f"{r['run_batch']} | {f'{e:,.0f}' if e else '–'} | "
                     f"{f'{t:,.0f}' if t else '–'} | {ratio} |")
    out = Path(args.out) if args.out else HERE / "results" / "bench_vs_pytorch.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
