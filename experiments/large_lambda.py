"""Large λ on MNIST FFNN: which change moves the λ curve at λ ∈ {0.5, 0.8, 0.9, 1.0}?

At the paper profile (150 epochs, γ fixed at 0.5) our Cosine-COREL curve is flat at
98.1-98.3 % best validation accuracy from λ = 0.05 to 0.95 and collapses at λ = 1 (90.8 %, best
epoch 4, then chance), while the paper's supplementary Figure 1 shows 96.71 % at λ = 1. Shorter
runs showed the same for Gaussian-COREL at λ ≥ 0.8. Each variant below changes one thing
against the ``paper`` profile (a short run: ``--epochs``, 1 seed, the four λ in one program)
and records the best validation accuracy, its epoch and the last epoch's accuracy per λ:

- ``*-base``: the ``paper`` profile as it is (lr 1e-3, γ 0.5 fixed, ``h`` after LeakyReLU).
- ``cosine-per-feature``: ``W`` normalised per feature (over the classes) instead of per class,
  as the original code did until its fix of 31 March 2019 (after the paper): the columns of
  ``W`` then compete for each feature, a repulsion that does not vanish at λ = 1.
- ``gaussian-original``: the original code's Gaussian (λ² and (1 − λ)², see
  ``gaussian_original.py``).
- ``*-linear-h``: ``h`` taken before the last activation (the last layer linear).
- ``*-w-init-x10``: prototypes initialised 10× larger (Xavier-normal × 10): Adam moves ``W`` by
  about lr per step, against an init scale of ~0.06.
- ``*-lr-1e-4``: learning rate 1e-4.
- ``*-torch-init``: the encoder initialised as PyTorch's ``nn.Linear`` default (the original
  code's framework): ``U(±1/sqrt(fan_in))`` weights and biases instead of Flax's LeCun-normal
  weights and zero biases.
- ``*-standardised``: inputs standardised per pixel (train mean and std) instead of [0, 1].
- ``gaussian-gamma-0.05``: γ fixed at 0.05 instead of 0.5.

The same machinery asks a second question, at small and middle λ (``--lams 0.25,0.5,0.75``):
why are our Cosine and Gaussian curves *above* the paper's while center and CCE match it?

- ``cce-base``, ``center-base``: the two baselines as they are;
- ``*-lr-1e-2``: learning rate 1e-2, the original code's example's (the paper states none);
- ``cosine-clamped``: the original code's cosine repulsion (the true class's cosine zeroed
  before the max, so the max is clamped at 0);
- ``*-width-100``: hidden layers 100 wide instead of 500 (the paper states no width);
- ``*-global-norm``: inputs ``(x − 0.1307) / 0.3081``, torchvision's usual MNIST ``Normalize``;
- ``*-pytorch-recipe``: that and PyTorch's ``nn.Linear`` default init together (a PyTorch
  user's MNIST FFNN);
- ``*-raw-255``: pixels left at 0-255;
- ``cosine-original``: both of the original code's cosine differences together (``W`` per
  feature and the clamped repulsion), i.e. its Cosine-COREL as the paper ran it;
- ``cce-torch-init``, ``center-torch-init``, ``cce-standardised``, ``center-standardised``: the
  baselines under the changes measured above for the prototype losses only.
- ``*-slope-0.01``, ``*-relu``: LeakyReLU slope 0.01 (PyTorch's default) or 0 (ReLU, the
  original code's example) instead of our 0.2; the paper states LeakyReLU but no slope;
- ``*-w-init-x0.1``: prototypes initialised 10× smaller (the mirror of ``*-w-init-x10``).
- ``*-val-10k``: 10,000 validation examples (50,000 training) instead of 5,000 (55,000).
- ``*-fixed-w``, ``gaussian-original-fixed-w``: prototypes never trained (left at their
  random init; the limit of ``*-w-init-x10``).
- ``cce-lr-1e-4``, ``cce-lr-3e-4``, ``center-lr-1e-4``, ``cce-split-1``, ``cce-split-2``: for
  the image CNN's level (``--setting mnist-cnn``), the baselines at learning rate 1e-4 (CCE at
  3e-4 too), and CCE with another random train/validation split; ``cce-kernel-5``: 5×5
  convolutions instead of 3×3.
- ``cce-shift-{1,2}``, ``center-shift-{1,2}``: training images translated at random by up to
  1 or 2 pixels (``augment_shift``); ``cce-width-1000``: fully connected layers
  1000 wide; ``cce-global-norm-cnn``: torchvision's MNIST ``Normalize`` inside the CNN;
  ``{cce,center}-val-{first,last}-5k``, ``{cosine,gaussian}-val-last-5k``: the first or last
  5,000 training images (file order) as validation instead of a random 5,000. The paper
  states none of these.
- ``*-wd-1e-4``, ``*-wd-3e-4``, ``*-wd-1e-3``: weight decay, coupled as
  ``torch.optim.Adam(weight_decay=...)``; ``cce-adamw-1e-2``, ``cosine-adamw-1e-2``: decoupled
  (AdamW). The paper states none.

Command (from the repository root; ~3 min per variant on 2 idle cores at 20 epochs)::

    PYTHONPATH=. python experiments/large_lambda.py --data-dir ../shared/data [--epochs 20]
        [--only cosine-base,cosine-per-feature]

``--setting`` runs the variants against another setting's ``paper`` profile (e.g. the
original-code Cosine on AG News FFNN: ``--setting ag-news-mlp --only cosine-base,cosine-original
--epochs 150``); the input-scaling variants assume MNIST images.

Each variant's result is written to ``experiments/results/<setting>/large_lambda/<name>.json``
as soon as it ends and skipped when present (delete the file to re-run it), so an interrupted
run loses only the variant in progress; the table is ``large_lambda.md`` beside them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from configs import ALL_LOSSES  # noqa: E402 -- the paper profile's losses

LAMS = (0.5, 0.8, 0.9, 1.0)
RESULTS = Path(__file__).resolve().parent / "results"


@dataclasses.dataclass(frozen=True)
class Variant:
    """One change against the ``paper`` profile."""

    name: str
    loss: str  # the profile's loss whose stage config is the starting point
    change: str  # what differs, in words
    cfg: dict = dataclasses.field(default_factory=dict)  # SweepConfig fields replaced
    spec: Callable | None = None  # () -> LossSpec to train instead of the loss's own
    encoder: Callable | None = None  # (cfg, dataset) -> Flax encoder
    data: Callable | None = None  # Dataset -> Dataset


# --------------------------------------------------------------------------- the changes


def _clamped_repulsion(sim, labels):
    """The original code's cosine repulsion: the true class's entry zeroed (not excluded)
    before the max, so the max is clamped at 0."""
    import jax.numpy as jnp

    is_true = jnp.arange(sim.shape[-1]) == labels[:, None]
    return jnp.square(jnp.max(jnp.where(is_true, 0.0, sim), axis=-1))


def per_feature_cosine_spec(clamped: bool = False):
    """Cosine-COREL with ``W`` normalised per feature (over the K classes), as the original
    code's ``get_cosine_predictions`` did before 2019-03-31 (``normalize(W, dim=1)`` on its
    ``[D, K]`` weights); prediction uses the same similarity."""
    import jax.numpy as jnp

    from corel_jax import losses
    from corel_jax.loss_spec import LossSpec

    def sim(h, head):
        hn = h / jnp.maximum(jnp.linalg.norm(h, axis=-1, keepdims=True), 1e-12)
        w = head.W / jnp.maximum(jnp.linalg.norm(head.W, axis=0, keepdims=True), 1e-12)
        return hn @ w.T  # [B, K]; not a cosine: the rows of w are not unit vectors

    repulsion = _clamped_repulsion if clamped else losses.max_other_squared_repulsion

    def objective(h, head, labels, *, lam, aux):
        del aux
        return losses.attractive_repulsive(sim(h, head), labels, lam=lam, repulsion=repulsion)

    class PerFeatureCosine(LossSpec):
        def predict_similarity(self, h, head):
            return sim(h, head)

    if clamped:  # the whole original Cosine-COREL as the paper ran it (before 2019-03-31)
        return PerFeatureCosine("cosine_original", objective, similarity="cosine",
                                description="Cosine-COREL as the original code before the fix")
    return PerFeatureCosine("cosine_per_feature", objective, similarity="cosine",
                            description="Cosine-COREL, W normalised per feature")


def clamped_cosine_spec():
    """Cosine-COREL with the original code's repulsion: the true class's cosine *zeroed*
    (not excluded) before the max, so the max is clamped at 0 and negative cosines to the
    other prototypes are not pushed towards 0 (``CosineARLoss`` of the original code)."""
    from corel_jax import losses
    from corel_jax.loss_spec import LOSSES

    cosine = LOSSES.get("cosine")

    def objective(h, head, labels, *, lam, aux):
        del aux
        return losses.attractive_repulsive(cosine.predict_similarity(h, head), labels,
                                           lam=lam, repulsion=_clamped_repulsion)

    return dataclasses.replace(cosine, name="cosine_clamped", objective=objective,
                               description="Cosine-COREL, original code's clamped repulsion")


def scaled_w_init_spec(loss: str, scale: float):
    """The registered ``loss`` with its prototypes initialised ``scale`` × larger."""
    import jax

    from corel_jax.loss_spec import LOSSES

    base = LOSSES.get(loss)
    xavier = jax.nn.initializers.xavier_normal()
    return dataclasses.replace(base, name=f"{loss}_w_init_x{scale:g}",
                               w_init=lambda key, shape: scale * xavier(key, shape))


def fixed_w_spec(loss: str):
    """The registered ``loss`` with its prototypes never trained
    (:func:`corel_jax.loss_spec.fixed_prototypes`), called ``<loss>_fixed_w``."""
    from corel_jax.loss_spec import fixed_prototypes

    return fixed_prototypes(loss)


def original_gaussian_spec():
    """The original code's Gaussian-COREL, the loss ``gaussian_original``
    (:mod:`gaussian_original`)."""
    import gaussian_original

    return gaussian_original.SPEC


def linear_h_encoder(cfg, dataset):
    """The paper's FFNN with the last hidden layer linear: ``h`` before its activation."""
    import flax.linen as nn
    import jax.numpy as jnp

    width, slope = cfg.width, 0.2

    class LinearLastMLP(nn.Module):
        @nn.compact
        def __call__(self, x, *, train: bool = False):
            del train
            h = jnp.asarray(x, jnp.float32).reshape(x.shape[0], -1)
            h = nn.leaky_relu(nn.Dense(width, name="fc0")(h), slope)
            return nn.Dense(width, name="fc1")(h)

    return LinearLastMLP()


def torch_init_encoder(cfg, dataset):
    """The paper's FFNN with PyTorch's default ``nn.Linear`` init (the original code's
    framework): weights and biases ``U(±1/sqrt(fan_in))``, where Flax's default is LeCun-normal
    weights (std ``1/sqrt(fan_in)``, √3 × larger) and zero biases."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    width, slope = cfg.width, 0.2
    kernel = jax.nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")

    def bias(fan_in):
        bound = 1 / np.sqrt(fan_in)
        return lambda key, shape, dtype=jnp.float32: jax.random.uniform(
            key, shape, dtype, -bound, bound)

    class TorchInitMLP(nn.Module):
        @nn.compact
        def __call__(self, x, *, train: bool = False):
            del train
            h = jnp.asarray(x, jnp.float32).reshape(x.shape[0], -1)
            for i in range(2):
                fan_in = h.shape[-1]
                h = nn.Dense(width, kernel_init=kernel, bias_init=bias(fan_in), name=f"fc{i}")(h)
                h = nn.leaky_relu(h, slope)
            return h

    return TorchInitMLP()


def kernel5_encoder(cfg, dataset):
    """The image CNN with 5×5 convolutions instead of our 3×3 (the paper states 15/30/60
    filters and 2×2 max-pooling, not the kernel size)."""
    from corel_jax.models import ImageCNN

    del dataset
    return ImageCNN(kernel_size=(5, 5), hidden=(cfg.width, cfg.width),
                    negative_slope=cfg.negative_slope)


def global_norm_cnn_encoder(cfg, dataset):
    """The image CNN reading ``(x − 0.1307) / 0.3081`` (torchvision's MNIST ``Normalize``),
    computed inside the encoder: the Dataset keeps its [0, 1] images, which the CNN needs."""
    import flax.linen as nn

    from corel_jax.models import ImageCNN

    del dataset
    width, slope = cfg.width, cfg.negative_slope

    class Normalised(nn.Module):
        @nn.compact
        def __call__(self, x, *, train: bool = False):
            cnn = ImageCNN(hidden=(width, width), negative_slope=slope)
            return cnn((x - 0.1307) / 0.3081, train=train)

    return Normalised()


def contiguous_validation(first: bool):
    """The 60,000 training images in their file order with the first (or last) ``val_size``
    as validation, as TensorFlow's old ``mnist.input_data`` took the first 5,000; ours are a
    random draw (``split_seed``). Rebuilt from the loaded split: its index arrays are sorted,
    so ``random_split`` gives each example's place in the file."""
    from corel_jax.data.splits import random_split

    def resplit(ds):
        n_val = len(ds.y_val)
        n = len(ds.y_train) + n_val
        train_idx, val_idx = random_split(n, n_val, ds.info["split_seed"])
        pool_x = np.empty((n,) + ds.x_train.shape[1:], ds.x_train.dtype)
        pool_y = np.empty((n,), ds.y_train.dtype)
        pool_x[train_idx], pool_x[val_idx] = ds.x_train, ds.x_val
        pool_y[train_idx], pool_y[val_idx] = ds.y_train, ds.y_val
        val = slice(0, n_val) if first else slice(n - n_val, n)
        train = slice(n_val, n) if first else slice(0, n - n_val)
        # info keeps the config's split_seed, which train_sweep checks against the config:
        # the split that was really used is the variant's name, in its results file
        return dataclasses.replace(ds, x_train=pool_x[train], y_train=pool_y[train],
                                   x_val=pool_x[val], y_val=pool_y[val])

    return resplit


def _map_inputs(ds, f):
    """``ds`` with ``f`` applied to its train/val/test inputs, as plain features (not an image
    in [0, 1] any more: the Dataset's image check would refuse it)."""
    g = lambda x: f(x).astype(np.float32)
    return dataclasses.replace(ds, kind="features", x_train=g(ds.x_train), x_val=g(ds.x_val),
                               x_test=g(ds.x_test))


def standardised(ds):
    mean = ds.x_train.mean(axis=0, keepdims=True)
    std = ds.x_train.std(axis=0, keepdims=True) + 1e-3  # constant border pixels stay 0
    return _map_inputs(ds, lambda x: (x - mean) / std)


def global_normalised(ds):
    """The usual PyTorch MNIST recipe's ``Normalize((0.1307,), (0.3081,))``: one mean and one
    std for all pixels (MNIST's), after scaling to [0, 1]."""
    return _map_inputs(ds, lambda x: (x - 0.1307) / 0.3081)


def raw_pixels(ds):
    """Pixels as stored (0-255), not scaled to [0, 1]."""
    return _map_inputs(ds, lambda x: 255.0 * x)


def variants() -> list[Variant]:
    out = []
    for loss in ("cosine", "gaussian"):
        out += [
            Variant(f"{loss}-base", loss, "none (the paper profile)"),
            Variant(f"{loss}-linear-h", loss, "h before the last activation",
                    encoder=linear_h_encoder),
            Variant(f"{loss}-w-init-x10", loss, "prototypes initialised 10× larger",
                    spec=lambda loss=loss: scaled_w_init_spec(loss, 10.0)),
            Variant(f"{loss}-lr-1e-4", loss, "learning rate 1e-4", cfg={"lr": 1e-4}),
            Variant(f"{loss}-torch-init", loss, "encoder init as PyTorch's nn.Linear default",
                    encoder=torch_init_encoder),
            Variant(f"{loss}-standardised", loss, "inputs standardised per pixel",
                    data=standardised),
        ]
    out.insert(1, Variant("cosine-per-feature", "cosine",
                          "W normalised per feature (original code before 2019-03-31)",
                          spec=per_feature_cosine_spec))
    out += [
        Variant("gaussian-original", "gaussian", "original code's Gaussian (λ², (1 − λ)²)",
                spec=original_gaussian_spec),
        Variant("gaussian-gamma-0.05", "gaussian", "γ fixed at 0.05", cfg={"gamma": 0.05}),
    ]
    # The gap at small and middle λ (ours above the paper for the prototype losses only): the
    # learning rate the original code's example uses (1e-2; the paper does not state one),
    # against the baselines CCE and center, and the original code's cosine repulsion.
    out += [Variant(f"{loss}-base", loss, "none (the paper profile)") for loss in ("cce",
                                                                                   "center")]
    out += [Variant(f"{loss}-lr-1e-2", loss, "learning rate 1e-2", cfg={"lr": 1e-2})
            for loss in ALL_LOSSES]
    out += [Variant(f"{loss}-width-100", loss, "hidden layers 100 wide (not 500)",
                    cfg={"width": 100}) for loss in ("cce", "center", "cosine")]
    out.append(Variant("cosine-clamped", "cosine",
                       "original code's cosine repulsion (true class zeroed, max clamped at 0)",
                       spec=clamped_cosine_spec))
    out.append(Variant("cosine-original", "cosine",
                       "original code before 2019-03-31: W normalised per feature and the "
                       "clamped repulsion", spec=lambda: per_feature_cosine_spec(clamped=True)))
    # Input scaling and the framework's init, for all four losses: a PyTorch user's MNIST
    # (torchvision's Normalize with MNIST's mean and std, nn.Linear's default init) and pixels
    # left at 0-255. The paper states neither.
    for loss in ALL_LOSSES:
        out += [
            Variant(f"{loss}-global-norm", loss, "inputs (x − 0.1307) / 0.3081 (torchvision's "
                    "MNIST Normalize)", data=global_normalised),
            Variant(f"{loss}-pytorch-recipe", loss, "torchvision's MNIST Normalize and "
                    "nn.Linear's default init", data=global_normalised,
                    encoder=torch_init_encoder),
            Variant(f"{loss}-raw-255", loss, "pixels 0-255 (not scaled to [0, 1])",
                    data=raw_pixels),
        ]
    out += [Variant(f"{loss}-torch-init", loss, "encoder init as PyTorch's nn.Linear default",
                    encoder=torch_init_encoder) for loss in ("cce", "center")]
    out += [Variant(f"{loss}-standardised", loss, "inputs standardised per pixel",
                    data=standardised) for loss in ("cce", "center")]
    # The LeakyReLU slope (the paper states LeakyReLU, not its slope; ours is 0.2): PyTorch's
    # nn.LeakyReLU default 0.01 and plain ReLU (the original code's example) leave `h` almost
    # or wholly in the positive orthant, where no two representations' cosine is below 0, so
    # they may cost the prototype losses what they do not cost CCE and center.
    for loss in ALL_LOSSES:
        out += [
            Variant(f"{loss}-slope-0.01", loss, "LeakyReLU slope 0.01 (PyTorch's default)",
                    cfg={"negative_slope": 0.01}),
            Variant(f"{loss}-relu", loss, "ReLU (slope 0, the original code's example)",
                    cfg={"negative_slope": 0.0}),
        ]
    # A 10,000-example validation set (50,000 training) instead of our 5,000 (55,000): the
    # paper states no validation size.
    out += [Variant(f"{loss}-val-10k", loss, "validation set of 10,000 (training 50,000)",
                    cfg={"val_size": 10000}) for loss in ALL_LOSSES]
    # The mirror of `*-w-init-x10`: prototypes 10× smaller move 10× faster relative to their
    # scale under Adam (for Cosine exactly a 10× larger step for `W` alone).
    out += [Variant(f"{loss}-w-init-x0.1", loss, "prototypes initialised 10× smaller",
                    spec=lambda loss=loss: scaled_w_init_spec(loss, 0.1))
            for loss in ("cosine", "gaussian")]
    # Prototypes never trained (the limit of `*-w-init-x10`): do random, fixed class
    # directions give the paper's shape (lower at small λ, no collapse at λ = 1)?
    out += [Variant(f"{loss}-fixed-w", loss, "prototypes fixed at their random init",
                    spec=lambda loss=loss: fixed_w_spec(loss))
            for loss in ("cosine", "gaussian")]
    out.append(Variant("gaussian-original-fixed-w", "gaussian",
                       "original code's Gaussian, prototypes fixed at their random init",
                       spec=lambda: fixed_w_spec(original_gaussian_spec().name)))
    # Weight decay (the paper states none, the original code's example uses none; the engine
    # has it since it was the last candidate left unmeasured): coupled as torch.optim.Adam's
    # `weight_decay` (an L2 penalty), and decoupled as AdamW's.
    for loss in ALL_LOSSES:
        out += [Variant(f"{loss}-wd-{name}", loss, f"weight decay {name} (torch.optim.Adam's)",
                        cfg={"weight_decay": float(name)}) for name in ("1e-4", "3e-4", "1e-3")]
    out += [Variant(f"{loss}-adamw-1e-2", loss, "decoupled weight decay 1e-2 (AdamW)",
                    cfg={"weight_decay": 1e-2, "decoupled_weight_decay": True})
            for loss in ("cce", "cosine")]
    # The level of the image CNN (all four losses below the paper's on MNIST, the baselines
    # too): a smaller step for the baselines, and another random validation split (the paper
    # states neither the learning rate nor how its validation set was drawn).
    out += [Variant(f"{loss}-lr-1e-4", loss, "learning rate 1e-4", cfg={"lr": 1e-4})
            for loss in ("cce", "center")]
    out.append(Variant("cce-lr-3e-4", "cce", "learning rate 3e-4", cfg={"lr": 3e-4}))
    out += [Variant(f"cce-split-{k}", "cce", f"another validation split (split seed {k})",
                    cfg={"split_seed": k}) for k in (1, 2)]
    out.append(Variant("cce-kernel-5", "cce", "5×5 convolutions (not 3×3)",
                       encoder=kernel5_encoder))
    # More of the image CNN's level, each unstated in the paper: random translations of the
    # training images, wider fully connected layers, torchvision's input normalisation, and
    # a contiguous validation split (the first or the last 5,000 training images).
    out += [Variant(f"{loss}-shift-{s}", loss, f"training images shifted by up to {s} px",
                    cfg={"augment_shift": s})
            for loss in ("cce", "center") for s in (1, 2)]
    out.append(Variant("cce-width-1000", "cce", "fully connected layers 1000 wide (not 500)",
                       cfg={"width": 1000}))
    out.append(Variant("cce-global-norm-cnn", "cce", "inputs (x − 0.1307) / 0.3081 "
                       "(torchvision's MNIST Normalize)", encoder=global_norm_cnn_encoder))
    out += [Variant(f"{loss}-val-{where}-5k", loss, f"validation = the {where} 5,000 "
                    "training images in file order", data=contiguous_validation(where == "first"))
            for loss in ALL_LOSSES
            for where in (("first", "last") if loss in ("cce", "center") else ("last",))]
    return out


# --------------------------------------------------------------------------- running


def run_variant(v: Variant, data_dir: str, epochs: int, dataset_cache: dict,
                seeds: tuple[int, ...] = (0,), lams: tuple[float, ...] = LAMS,
                setting: str = "mnist-mlp") -> dict:
    from corel_jax.train import train_sweep
    from corel_jax.train.sweep import load_data

    from configs import get_config
    from reproduce import sweep_config

    paper = get_config(setting, "paper")
    cfg = sweep_config(paper, v.loss, "sweep", data_dir, lams=lams)
    cfg = dataclasses.replace(cfg, epochs=epochs, patience=None, min_epochs=0, seeds=seeds,
                              checkpoint_every=0, **v.cfg)
    spec = v.spec() if v.spec else None
    if spec is not None:
        from corel_jax.loss_spec import LOSSES

        LOSSES.register(spec, replace=True)
        cfg = dataclasses.replace(cfg, loss=spec.name)
    # one load per split: variants that change val_size or split_seed need their own
    key = (cfg.dataset, cfg.data_source, cfg.val_size, cfg.split_seed,
           json.dumps(dict(cfg.dataset_options), sort_keys=True))
    if key not in dataset_cache:
        dataset_cache[key] = load_data(cfg)
    ds = dataset_cache[key]
    if v.data:
        ds = v.data(ds)
    t0 = time.perf_counter()
    res = train_sweep(cfg, dataset=ds, encoder=v.encoder(cfg, ds) if v.encoder else None,
                      progress=False, log=None)
    rows = []
    for i, r in enumerate(res.records):
        va = res.val_acc[i]
        rows.append({"lam": r["lam"], "seed": r["seed"], "best_val_acc": r["best_val_acc"],
                     "best_epoch": r["best_epoch"], "last_val_acc": float(va[-1]),
                     "test_acc": r["test_acc"], "diverged": r["diverged"],
                     "val_acc": [round(float(a), 4) for a in va]})
    return {"variant": v.name, "loss": v.loss, "change": v.change, "epochs": epochs,
            "seeds": list(cfg.seeds), "lr": cfg.lr, "gamma": cfg.gamma,
            "seconds": round(time.perf_counter() - t0, 1), "runs": rows}


def table(results: list[dict], lams=LAMS) -> str:
    """One row per variant: per λ, best validation accuracy @ its epoch → the last epoch's
    (one seed), or the mean ± std of the best and the seeds' best epochs (several)."""
    head = ["variant", "change"] + [f"λ={lam:g}" for lam in lams]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for res in results:
        cells = []
        for lam in lams:
            rs = [r for r in res["runs"] if r["lam"] == lam]
            if not rs:
                cells.append("—")
            elif len(rs) == 1:
                r = rs[0]
                cells.append(f"{100 * r['best_val_acc']:.2f} @{r['best_epoch']} → "
                             f"{100 * r['last_val_acc']:.1f}")
            else:
                v = 100 * np.array([r["best_val_acc"] for r in rs])
                cells.append(f"{v.mean():.2f} ± {v.std(ddof=1):.2f} "
                             f"(@{','.join(str(r['best_epoch']) for r in rs)})")
        lines.append(f"| {res['variant']} | {res['change']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seed_rows(res: dict) -> list[str]:
    """One Markdown row per λ of a several-seed result: ``| variant | λ |`` then, per seed in
    order, ``best validation accuracy (its epoch), test accuracy at that epoch`` (%), then the
    mean ± sample std over the seeds of each (the rows ``discussion.md`` files quote; the
    committed-results test recomputes them from the JSON)."""
    rows = []
    for lam in sorted({r["lam"] for r in res["runs"]}):
        rs = sorted((r for r in res["runs"] if r["lam"] == lam), key=lambda r: r["seed"])
        best = 100 * np.array([r["best_val_acc"] for r in rs])
        test = 100 * np.array([r["test_acc"] for r in rs])
        cells = [f"{b:.2f} ({r['best_epoch']}), {t:.2f}" for r, b, t in zip(rs, best, test)]
        rows.append(f"| {res['variant']} | {lam:g} | " + " | ".join(cells) +
                    f" | {best.mean():.2f} ± {best.std(ddof=1):.2f} | "
                    f"{test.mean():.2f} ± {test.std(ddof=1):.2f} |")
    return rows


def seed_table(results: list[dict]) -> str:
    """:func:`seed_rows` of ``results`` (all with the same seeds) under a header."""
    seeds = sorted({r["seed"] for r in results[0]["runs"]})
    head = ["variant", "λ"] + [f"seed {s}: best val (epoch), test" for s in seeds] + \
        ["best val, mean ± std", "test, mean ± std"]
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                     + [row for res in results for row in seed_rows(res)])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--only", default=None, help="comma-separated variant names")
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    p.add_argument("--lams", default=",".join(f"{x:g}" for x in LAMS))
    p.add_argument("--setting", default="mnist-mlp",
                   help="the setting whose paper profile the variants change (default mnist-mlp;"
                        " the input-scaling variants assume MNIST images)")
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default experiments/results/<setting>/large_lambda)")
    args = p.parse_args(argv)
    todo = variants()
    if args.only:
        names = set(args.only.split(","))
        unknown = names - {v.name for v in todo}
        if unknown:
            p.error(f"unknown variants {sorted(unknown)}; choose from "
                    f"{', '.join(v.name for v in todo)}")
        todo = [v for v in todo if v.name in names]
    seeds = tuple(int(x) for x in args.seeds.split(","))
    lams = tuple(float(x) for x in args.lams.split(","))
    # the first (one-seed) table keeps the plain names; other seeds/λ sets get a suffix
    suffix = "" if (seeds, lams) == ((0,), LAMS) else \
        f"-seeds{'_'.join(map(str, seeds))}-lams{'_'.join(f'{x:g}' for x in lams)}"
    default_out = RESULTS / args.setting / "large_lambda"
    out_arg = "" if args.out is None or args.out.resolve() == default_out.resolve() \
        else f" --out {args.out}"
    args.out = args.out or default_out
    args.out.mkdir(parents=True, exist_ok=True)
    cache: dict = {}
    for v in todo:
        f = args.out / f"{v.name}{suffix}.json"
        if f.is_file() and json.loads(f.read_text()).get("epochs") == args.epochs:
            print(f"[{v.name}] done; skipped")
            continue
        res = run_variant(v, args.data_dir, args.epochs, cache, seeds=seeds, lams=lams,
                          setting=args.setting)
        f.write_text(json.dumps(res, indent=1) + "\n")
        print(f"[{v.name}] {res['seconds']:.0f} s: " + ", ".join(
            f"λ {r['lam']:g}: {100 * r['best_val_acc']:.2f}@{r['best_epoch']}"
            for r in res["runs"]), flush=True)
    done = [json.loads((args.out / f"{v.name}{suffix}.json").read_text()) for v in variants()
            if (args.out / f"{v.name}{suffix}.json").is_file()]
    extra = "" if not suffix else f" --seeds {args.seeds} --lams {args.lams}"
    # The table shows every variant done in this folder; name them, so that the command
    # re-creates this table rather than also running the variants left out on purpose.
    only_arg = "" if args.only is None else f" --only {','.join(d['variant'] for d in done)}"
    title = "MNIST FFNN" if args.setting == "mnist-mlp" else args.setting
    setting_arg = "" if args.setting == "mnist-mlp" else f" --setting {args.setting}"
    md = (f"# One change at a time on {title}\n\n"
          f"Best validation accuracy (%), seeds {', '.join(map(str, seeds))}, "
          f"{args.epochs} epochs, `paper` profile otherwise. Command: "
          f"`PYTHONPATH=. python experiments/large_lambda.py --data-dir ../shared/data "
          f"--epochs {args.epochs}{setting_arg}{only_arg}{extra}{out_arg}`. A cell: best "
          f"validation accuracy @ its epoch → the last epoch's (one seed), or mean ± std over "
          f"the seeds (their best epochs)."
          f"\n\n" + table(done, lams) + "\n")
    if len(seeds) > 1:
        md += ("\nPer seed (accuracies in %; the test accuracy at the best validation epoch):"
               "\n\n" + seed_table(done) + "\n")
    (args.out / f"large_lambda{suffix}.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
