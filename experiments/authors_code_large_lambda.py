"""The large-λ collapse with the authors' own PyTorch code (kiankd/corel2019), on our FFNN.

Repeats the measurement of issue #35: the authors' ``CORELWrapper``, ``GaussianARLoss`` and
``CosineARLoss``, imported unmodified from a checkout of their repository at run time (no code
of theirs is copied here), around our FFNN (784-500-500, LeakyReLU 0.2, PyTorch's default
init), trained with Adam (lr 1e-3), batch 128, γ fixed at 0.5 (the wrapper's γ is excluded
from the optimiser), on MNIST with the *last* 5,000 training images as validation set, seed 0,
20 epochs; it prints the best validation accuracy and its epoch per run. ``--fixed-w`` runs
are the same with the prototypes ``W`` left at the wrapper's Xavier initialisation (excluded
from the optimiser, nothing else changed).

    git clone https://github.com/kiankd/corel2019 ../corel2019   # measured at 9791d8a
    pip install torch
    python experiments/authors_code_large_lambda.py --authors-repo ../corel2019 \\
        --data-dir ../shared/data            # the issue's 11 runs; ~15 min on 2 CPU cores

The default grid is the issue's: trained prototypes, Gaussian λ 0.5/0.8/0.9/1 and Cosine
λ 0.5/0.9/1; fixed prototypes, Gaussian λ 0.8/1 and Cosine λ 0.5/1. ``--runs`` picks others
(``gaussian:0.8,cosine-fixed-w:1``). Without torch, or without the authors' repository at
``--authors-repo``, the script prints ``skipped: ...`` and exits 0. One seed per run:
whatever it shows is indicative (one seed), see ``experiments/README.md``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

#: the issue's runs: (loss, λ, prototypes fixed)
ISSUE_RUNS = (("gaussian", 0.5, False), ("gaussian", 0.8, False), ("gaussian", 0.9, False),
              ("gaussian", 1.0, False), ("cosine", 0.5, False), ("cosine", 0.9, False),
              ("cosine", 1.0, False), ("gaussian", 0.8, True), ("gaussian", 1.0, True),
              ("cosine", 0.5, True), ("cosine", 1.0, True))
VAL_SIZE = 5000


def parse_runs(text: str) -> list[tuple[str, float, bool]]:
    """``gaussian:0.8,cosine-fixed-w:1`` -> [("gaussian", 0.8, False), ("cosine", 1.0, True)]."""
    runs = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, _, lam = item.partition(":")
        fixed = name.endswith("-fixed-w")
        loss = name.removesuffix("-fixed-w")
        if loss not in ("gaussian", "cosine") or not lam:
            raise ValueError(f"bad run {item!r}: want gaussian:λ, cosine:λ, "
                             "gaussian-fixed-w:λ or cosine-fixed-w:λ")
        runs.append((loss, float(lam), fixed))
    return runs


def _idx(path: Path) -> np.ndarray:
    """One IDX file (gzipped): images [N, 28, 28] or labels [N], uint8."""
    raw = gzip.decompress(path.read_bytes())
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_mnist(data_dir: Path):
    """Train (the first 55,000), validation (the last 5,000 training images) and test; pixels
    in [0, 1], flattened to 784."""
    d = data_dir / "mnist" if (data_dir / "mnist").is_dir() else data_dir
    names = {"x": "train-images-idx3-ubyte.gz", "y": "train-labels-idx1-ubyte.gz",
             "xt": "t10k-images-idx3-ubyte.gz", "yt": "t10k-labels-idx1-ubyte.gz"}
    missing = [n for n in names.values() if not (d / n).is_file()]
    if missing:
        raise FileNotFoundError(f"no MNIST IDX files in {d}: missing {', '.join(missing)}")
    a = {k: _idx(d / n) for k, n in names.items()}
    x = a["x"].reshape(len(a["x"]), -1).astype(np.float32) / 255.0
    xt = a["xt"].reshape(len(a["xt"]), -1).astype(np.float32) / 255.0
    n = len(x) - VAL_SIZE
    return ((x[:n], a["y"][:n].astype(np.int64)), (x[n:], a["y"][n:].astype(np.int64)),
            (xt, a["yt"].astype(np.int64)))


def authors_commit(repo: Path) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def train_one(torch, CORELWrapper, data, loss: str, lam: float, fixed_w: bool, *, seed: int,
              epochs: int, batch: int, lr: float, device) -> dict:
    """One run: the authors' wrapper and loss around our FFNN; best validation accuracy."""
    from torch import nn

    (x, y), (xv, yv), (xt, yt) = [(torch.as_tensor(a).to(device), torch.as_tensor(b).to(device))
                                  for a, b in data]
    torch.manual_seed(seed)
    encoder = nn.Sequential(nn.Linear(784, 500), nn.LeakyReLU(0.2),
                            nn.Linear(500, 500), nn.LeakyReLU(0.2))
    model = CORELWrapper(encoder, 500, 10, lam=lam, device=device, corel_option=loss).to(device)
    if model.gamma is not None:  # γ fixed at 0.5 (the wrapper would learn it)
        model.gamma.requires_grad_(False)
    if fixed_w:  # prototypes left at the wrapper's Xavier init
        model.W.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    objective = model.get_loss_function()
    gen = torch.Generator().manual_seed(seed)

    def accuracy(xs, ys):
        model.eval()
        with torch.no_grad():
            hits = sum(int((model(xs[i:i + 1000]).argmax(1) == ys[i:i + 1000]).sum())
                       for i in range(0, len(xs), 1000))
        return hits / len(xs)

    curve, best, best_epoch, test_at_best = [], -1.0, 0, float("nan")
    for epoch in range(1, epochs + 1):
        model.train()
        for idx in torch.randperm(len(x), generator=gen).split(batch):
            idx = idx.to(device)
            opt.zero_grad()
            objective(model(x[idx]), y[idx]).backward()
            opt.step()
        acc = accuracy(xv, yv)
        curve.append(acc)
        if acc > best:
            best, best_epoch, test_at_best = acc, epoch, accuracy(xt, yt)
    return {"loss": loss, "lam": lam, "fixed_w": fixed_w, "seed": seed,
            "best_val_acc": best, "best_epoch": best_epoch, "test_acc": test_at_best,
            "val_acc": curve}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--authors-repo", type=Path, default=None,
                   help="a checkout of github.com/kiankd/corel2019 (holds corel/)")
    p.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2]
                   / "shared" / "data", help="folder with mnist/ (the four IDX .gz files)")
    p.add_argument("--runs", type=parse_runs, default=None,
                   help="e.g. gaussian:0.8,cosine-fixed-w:1 (default: the issue's 11 runs)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--device", default=None, help="torch device (default: cuda when available)")
    p.add_argument("--out", type=Path, default=None, help="also write the runs as JSON here")
    args = p.parse_args(argv)

    try:
        import torch
    except ImportError:
        print("skipped: torch is not installed (pip install torch); this measurement runs the "
              "authors' PyTorch code")
        return 0
    repo = args.authors_repo
    if repo is None or not (repo / "corel" / "corel_wrapper.py").is_file():
        print("skipped: the authors' repository (kiankd/corel2019) is not at "
              f"--authors-repo {repo if repo is not None else '(not given)'}: "
              "git clone https://github.com/kiankd/corel2019 and pass its path")
        return 0
    sys.path.insert(0, str(repo.resolve()))
    from corel.corel_wrapper import CORELWrapper  # the authors' module, unmodified

    data = load_mnist(args.data_dir)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    commit = authors_commit(repo)
    print(f"authors' code: {repo} ({commit or 'commit unknown'}); device {device}; "
          f"seed {args.seed}, {args.epochs} epochs, Adam {args.lr:g}, batch {args.batch_size}, "
          "γ fixed 0.5, validation = the last 5,000 training images")
    results = []
    for loss, lam, fixed in args.runs or ISSUE_RUNS:
        t0 = time.perf_counter()
        r = train_one(torch, CORELWrapper, data, loss, lam, fixed, seed=args.seed,
                      epochs=args.epochs, batch=args.batch_size, lr=args.lr, device=device)
        r["seconds"] = round(time.perf_counter() - t0, 1)
        results.append(r)
        print(f"{loss:8s} λ {lam:<4g} W {'fixed  ' if fixed else 'trained'}: best validation "
              f"{100 * r['best_val_acc']:.2f} % (epoch {r['best_epoch']}), last "
              f"{100 * r['val_acc'][-1]:.2f} %, test at best {100 * r['test_acc']:.2f} % "
              f"[{r['seconds']:.0f} s]", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"authors_repo_commit": commit, "epochs": args.epochs,
                                        "seed": args.seed, "lr": args.lr,
                                        "batch_size": args.batch_size, "runs": results},
                                       indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
