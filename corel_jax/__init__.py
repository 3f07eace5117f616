"""corel-jax: clustering-oriented representation learning with attractive-repulsive losses.

Submodules are imported lazily, so ``import corel_jax.evaluate`` (numpy/scikit-learn only) does
not pull in JAX:

- :mod:`corel_jax.similarity` -- pairwise similarity matrices (dot, cosine, Gaussian).
- :mod:`corel_jax.losses` -- the attractive-repulsive (AR) loss and its instances.
- :mod:`corel_jax.loss_spec` -- training losses by name (``LOSSES``, ``LossSpec``).
- :mod:`corel_jax.models` -- Flax encoders and the COREL output head.
- :mod:`corel_jax.data` -- dataset loaders (IDX files, TFDS, scikit-learn digits, AG News).
- :mod:`corel_jax.train` -- the sweep engine: many runs (seeds x lambda) in one program.
- :mod:`corel_jax.evaluate` -- clustering scores, t-tests, reports and plots (no JAX).
- :mod:`corel_jax.rundir` -- the on-disk run-directory format (no JAX).
- :mod:`corel_jax.registry` -- the ``Registry`` type of losses, encoders and datasets.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("similarity", "losses", "loss_spec", "models", "data", "train", "evaluate",
               "rundir", "registry")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = list(_SUBMODULES)
