"""Reproduction configs: one module per setting of the paper (dataset × model), two profiles each.

Every setting module (``mnist_mlp``, ``mnist_cnn``, ``fashion_mnist_mlp``,
``fashion_mnist_cnn``, ``ag_news_mlp``, ``ag_news_cnn``) defines
``PROFILES = {"paper": ..., "cpu": ...}`` of :class:`ReproConfig` and ``PAPER_BEST_VAL``: the
paper's best validation accuracy (%) at its tuned λ, from its supplement. Its docstring gives
the exact command and the expected runtime.

>>> cfg = get_config("mnist-mlp", "paper")
>>> cfg.sweep["epochs"], cfg.final_epochs, len(cfg.sweep["lams"]), len(cfg.final_seeds)
(150, 150, 20, 10)
>>> sorted(SETTINGS)
['ag-news-cnn', 'ag-news-mlp', 'fashion-mnist-cnn', 'fashion-mnist-mlp', 'mnist-cnn', 'mnist-mlp']
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from corel_jax.train.config import SweepConfig

#: the paper's λ grid: 0.05, 0.10, ..., 1.00
PAPER_LAMS = tuple(round(0.05 * i, 2) for i in range(1, 21))
#: the paper's four losses, in its order (the one list of them in experiments/)
ALL_LOSSES = ("cce", "center", "cosine", "gaussian")
#: the losses whose λ is tuned (CCE has no λ and is trained once)
TUNED_LOSSES = ALL_LOSSES[1:]

SETTINGS = {
    "mnist-mlp": "mnist_mlp",
    "mnist-cnn": "mnist_cnn",
    "fashion-mnist-mlp": "fashion_mnist_mlp",
    "fashion-mnist-cnn": "fashion_mnist_cnn",
    "ag-news-mlp": "ag_news_mlp",
    "ag-news-cnn": "ag_news_cnn",
}


#: the ``SweepConfig`` fields each stage sets itself (:func:`reproduce.sweep_config`), not a
#: profile
STAGE_FIELDS = ("loss", "data_dir", "save_representations")


def sweep_defaults() -> dict[str, Any]:
    """The ``SweepConfig`` fields a profile may set, at their defaults (read from the class:
    no JAX)."""
    return {f.name: f.default for f in dataclasses.fields(SweepConfig)
            if f.name not in STAGE_FIELDS}


@dataclasses.dataclass(frozen=True)
class ReproConfig:
    """One reproduction of one setting: the λ sweeps' ``SweepConfig`` fields, and what the
    pipeline adds to them.

    Attributes:
      setting: the setting's name, e.g. ``mnist-mlp``.
      profile: ``paper``, ``cpu`` or ``curve`` (or a test profile).
      sweep: the :class:`corel_jax.train.SweepConfig` fields of every λ sweep (dataset, model,
        λ grid, seeds per λ, epochs, optimiser, γ, early stopping, ...): those the profile
        gives, the ``SweepConfig`` defaults for the rest (:func:`sweep_defaults`; given
        without :data:`STAGE_FIELDS`). A stage's ``SweepConfig`` is these with its loss (and
        for a final stage its seeds, epochs and λ) set (:meth:`stage_config`, validated
        there).
      final_seeds: seeds trained at each loss's selected λ.
      final_epochs: epochs of the final runs.
      cce_lam: the λ recorded for CCE (ignored by the loss).
      original_gaussian: also sweep the original code's Gaussian loss (double weighting).
      learned_gamma_final: also train the final seeds of Gaussian-COREL with learned γ at its
        selected λ (stage ``final-gaussian_learned``), reported in rows of its own.
      full_stages: stages trained for all their epochs whatever the sweep's ``patience``
        says (the measurement that chose the patience).
      sweep_part_size: λ values per stage of a λ sweep (None: the whole grid in one stage);
        smaller stages lose less to an interrupted session.
      reduced: what this profile reduces relative to the paper ("" for the paper profile).
      expected_runtime: a measured or estimated wall time, for the docstring and report.
    """

    setting: str
    profile: str
    sweep: dict[str, Any]
    final_seeds: tuple[int, ...] = tuple(range(10))
    final_epochs: int = 150
    cce_lam: float = 0.0
    original_gaussian: bool = True
    learned_gamma_final: bool = False
    full_stages: tuple[str, ...] = ()
    sweep_part_size: int | None = None
    reduced: str = ""
    expected_runtime: str = ""

    def __post_init__(self):
        defaults = sweep_defaults()
        unknown = sorted(set(self.sweep) - set(defaults))
        if unknown:
            raise ValueError(f"{self.setting} ({self.profile}): sweep sets {', '.join(unknown)}, "
                             f"which {'are' if len(unknown) > 1 else 'is'} not a SweepConfig "
                             f"field a profile sets (each stage sets {', '.join(STAGE_FIELDS)})")
        object.__setattr__(self, "sweep", {**defaults, **self.sweep})

    def replace(self, *, sweep: dict[str, Any] | None = None, **kw) -> ReproConfig:
        """A copy with the fields ``kw`` changed, and the sweep's fields ``sweep``."""
        return dataclasses.replace(self, sweep={**self.sweep, **(sweep or {})}, **kw)

    def stage_config(self, **changes):
        """The :class:`corel_jax.train.SweepConfig` of the sweep's fields with ``changes``
        (a stage's loss, ...), validated."""
        return SweepConfig(**{**self.sweep, **changes})


#: Early stopping of the paper profile's stages (all but a setting's ``full_stages``), chosen by
#: ``experiments/patience.py`` on the fully trained MNIST FFNN sweeps of CCE, Cosine and
#: Gaussian (results/patience.md): patience 30 trains 45 % of their run-epochs and costs at
#: most 0.12 points of best validation accuracy, within the validation estimate's own standard
#: error (0.19 points at 98.1 % on 5,000 examples); patience 20 costs up to 0.26.
PAPER_PATIENCE = 30


def paper_profile(setting: str, dataset: str, model: str, expected_runtime: str,
                  **kw) -> ReproConfig:
    """The paper's protocol: 20 λ values × 1 seed, then 10 seeds at the selected λ; up to 150
    epochs; batch 128; γ fixed at 0.5; learned γ (our extension) in final rows of its own; the
    original code's Gaussian variant through the same protocol. Adam's learning rate 1e-3,
    width 500 and γ 0.5 are our choices (the paper does not state them)."""
    sweep = dict(dataset=dataset, model=model, lams=PAPER_LAMS, seeds=(0,), epochs=150,
                 batch_size=128, lr=1e-3, width=500, gamma=0.5, learn_gamma=False,
                 patience=PAPER_PATIENCE)
    return ReproConfig(setting=setting, profile="paper", sweep=sweep,
                       final_seeds=tuple(range(10)), final_epochs=150, learned_gamma_final=True,
                       sweep_part_size=4, expected_runtime=expected_runtime, **kw)


def image_mlp_cpu_profile(paper: ReproConfig) -> ReproConfig:
    """The FFNN ``cpu`` profile of MNIST and Fashion-MNIST (see their modules)."""
    return paper.replace(
        profile="cpu", sweep=dict(learn_gamma=True, patience=None, epochs=3),
        learned_gamma_final=False, sweep_part_size=None,
        final_seeds=tuple(range(5)), final_epochs=10,
        reduced="training length and seeds: λ sweep 3 epochs per run (paper: 150); final runs "
                "5 seeds × 10 epochs (paper: 10 seeds × 150 epochs). λ grid (20 values), model and "
                "the selection rule as in the paper (Adam 1e-3 and batch 128: our choices, the "
                "paper does not state them)",
        expected_runtime="~30 min on 2 shared CPU cores (443 run-epochs)")


def image_cnn_cpu_profile(paper: ReproConfig) -> ReproConfig:
    """The CNN ``cpu`` profile of MNIST and Fashion-MNIST (see their modules)."""
    return paper.replace(
        profile="cpu",
        sweep=dict(learn_gamma=True, patience=None, lams=(0.25, 0.5, 0.75, 1.0), epochs=1),
        learned_gamma_final=False, sweep_part_size=None, final_seeds=(0, 1, 2),
        final_epochs=3, original_gaussian=False,
        reduced="λ grid, training length and seeds: λ sweep over 4 values (0.25, 0.5, 0.75, "
                "1.0; paper: 20) with 1 epoch per run (paper: 150), no original-code Gaussian "
                "sweep; final runs 3 seeds × 3 epochs (paper: 10 seeds × 150 epochs). Model and "
                "the selection rule as in the paper (Adam 1e-3 and batch 128: our choices, the "
                "paper does not state them)",
        expected_runtime="~20 min on 2 shared CPU cores (49 run-epochs)")


#: Epochs per run of the image CNN's ``curve`` profile: what 2 CPU cores afford for the full
#: 20-λ curve and 10 final seeds in a few hours (1,010 run-epochs; planned at ~10.5 s, the
#: engine's idle rate for 10 CNN runs in results/bench_vs_pytorch.md; measured 11.7-12.1 s per
#: run-epoch with 4 runs per program in mnist-cnn's sweep-center, so ~3.4 h planned; the
#: stages' wall times add up to 5.0 h for mnist-cnn and 4.0 h for fashion-mnist-cnn).
CNN_CURVE_EPOCHS = 10


def image_cnn_curve_profile(paper: ReproConfig) -> ReproConfig:
    """The CNN ``curve`` profile of MNIST and Fashion-MNIST: the paper's protocol (20 λ × 1
    seed, λ chosen on validation, 10 final seeds, γ fixed at 0.5) at the length 2 CPU cores
    afford, :data:`CNN_CURVE_EPOCHS` epochs per run instead of up to 150."""
    e = CNN_CURVE_EPOCHS
    return paper.replace(
        profile="curve", sweep=dict(epochs=e, patience=None), final_epochs=e,
        original_gaussian=False, learned_gamma_final=False,
        reduced=f"training length: {e} epochs per run (paper: 150), no early stopping; no "
                "original-code Gaussian sweep and no learned-γ rows (the FFNN settings measure "
                "those). λ grid (20 values, 1 seed), 10 final seeds, γ fixed at 0.5, model and "
                "the selection rule as in the paper (Adam 1e-3 and batch 128: our choices, the "
                "paper does not state them)",
        expected_runtime=f"~4-5 h on 2 CPU cores ({(3 * 20 + 1) * e + 4 * 10 * e:,} "
                         "run-epochs; measured 5.0 h for mnist-cnn, 4.0 h for "
                         "fashion-mnist-cnn)")


def get_config(setting: str, profile: str) -> ReproConfig:
    """The :class:`ReproConfig` of ``setting`` (e.g. ``mnist-mlp``) and ``profile``."""
    module = setting_module(setting)
    try:
        return module.PROFILES[profile]
    except KeyError:
        raise KeyError(f"setting {setting!r} has no profile {profile!r}; "
                       f"choose one of {', '.join(module.PROFILES)}") from None


def paper_best_val(setting: str) -> dict[str, float]:
    """The paper's best validation accuracy (%) at its tuned λ, per loss (supplement); empty
    for a setting the paper does not have (e.g. ``digits-mlp`` in tests)."""
    if setting not in SETTINGS:
        return {}
    return dict(setting_module(setting).PAPER_BEST_VAL)


def setting_module(setting: str):
    try:
        name = SETTINGS[setting]
    except KeyError:
        raise KeyError(f"unknown setting {setting!r}; choose one of "
                       f"{', '.join(SETTINGS)}") from None
    return importlib.import_module(f"{__name__}.{name}")
