"""The sweep engine: train a grid of runs (seeds × λ) as one compiled, vmapped program.

>>> from corel_jax.train import SweepConfig
>>> SweepConfig(dataset="digits", loss="cosine", seeds=(0, 1), lams=(0.2, 0.8)).num_runs
4
"""

from corel_jax.train.config import SweepConfig, parse_seeds, parse_values

__all__ = ["SweepConfig", "SweepResult", "parse_seeds", "parse_values", "train_sweep"]


def __getattr__(name: str):
    # The engine imports JAX; the configuration does not. Loading the engine on first use
    # lets the evaluator read configurations (corel_jax.train.config) without JAX.
    if name in ("SweepResult", "train_sweep"):
        from corel_jax.train import sweep

        return getattr(sweep, name)
    raise AttributeError(f"module 'corel_jax.train' has no attribute {name!r}")
