"""The sweep engine: train a grid of runs (seeds × λ) as one compiled, vmapped program.

>>> from corel_jax.train import SweepConfig
>>> SweepConfig(dataset="digits", loss="cosine", seeds=(0, 1), lams=(0.2, 0.8)).num_runs
4
"""

from corel_jax.train.config import SweepConfig, parse_lams, parse_seeds
from corel_jax.train.sweep import SweepResult, train_sweep

__all__ = ["SweepConfig", "SweepResult", "parse_lams", "parse_seeds", "train_sweep"]
