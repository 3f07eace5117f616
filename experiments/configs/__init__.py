"""Reproduction configs: one module per setting of the paper (dataset × model), two profiles each.

Every setting module (``mnist_mlp``, ``mnist_cnn``, ``fashion_mnist_mlp``,
``fashion_mnist_cnn``, ``ag_news_mlp``, ``ag_news_cnn``) defines
``PROFILES = {"paper": ..., "cpu": ...}`` of :class:`ReproConfig` and ``PAPER_BEST_VAL``: the
paper's best validation accuracy (%) at its tuned λ, from its supplement. Its docstring gives
the exact command and the expected runtime.

>>> cfg = get_config("mnist-mlp", "paper")
>>> cfg.sweep_epochs, cfg.final_epochs, len(cfg.lams), len(cfg.final_seeds)
(150, 150, 20, 10)
>>> sorted(SETTINGS)
['ag-news-cnn', 'ag-news-mlp', 'fashion-mnist-cnn', 'fashion-mnist-mlp', 'mnist-cnn', 'mnist-mlp']
"""

from __future__ import annotations

import dataclasses
import importlib

#: the paper's λ grid: 0.05, 0.10, ..., 1.00
PAPER_LAMS = tuple(round(0.05 * i, 2) for i in range(1, 21))
#: the losses whose λ is tuned (CCE has no λ and is trained once)
TUNED_LOSSES = ("center", "cosine", "gaussian")
ALL_LOSSES = ("cce", "center", "cosine", "gaussian")

SETTINGS = {
    "mnist-mlp": "mnist_mlp",
    "mnist-cnn": "mnist_cnn",
    "fashion-mnist-mlp": "fashion_mnist_mlp",
    "fashion-mnist-cnn": "fashion_mnist_cnn",
    "ag-news-mlp": "ag_news_mlp",
    "ag-news-cnn": "ag_news_cnn",
}


@dataclasses.dataclass(frozen=True)
class ReproConfig:
    """One reproduction of one setting.

    Attributes:
      setting: the setting's name, e.g. ``mnist-mlp``.
      dataset, model: as in :class:`corel_jax.train.SweepConfig`.
      profile: ``paper`` or ``cpu`` (or a test profile).
      lams: the λ grid of the sweep (center, cosine, gaussian and the original-Gaussian
        variant).
      sweep_seeds: seeds per λ in the sweep (and for CCE's single sweep).
      sweep_epochs: epochs of every sweep run.
      final_seeds: seeds trained at each loss's selected λ.
      final_epochs: epochs of the final runs.
      cce_lam: the λ recorded for CCE (ignored by the loss).
      original_gaussian: also sweep the original code's Gaussian loss (double weighting).
      batch_size, lr, width, gamma: as in :class:`corel_jax.train.SweepConfig` (the paper's).
      run_batch: runs vmapped together on the CPU (None: the engine's default).
      reduced: what this profile reduces relative to the paper ("" for the paper profile).
      expected_runtime: a measured or estimated wall time, for the docstring and report.
    """

    setting: str
    dataset: str
    model: str
    profile: str
    lams: tuple[float, ...] = PAPER_LAMS
    sweep_seeds: tuple[int, ...] = (0,)
    sweep_epochs: int = 150
    final_seeds: tuple[int, ...] = tuple(range(10))
    final_epochs: int = 150
    cce_lam: float = 0.0
    original_gaussian: bool = True
    batch_size: int = 128
    lr: float = 1e-3
    width: int = 500
    gamma: float = 0.5
    run_batch: int | None = None
    reduced: str = ""
    expected_runtime: str = ""

    def replace(self, **kw) -> ReproConfig:
        return dataclasses.replace(self, **kw)


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
