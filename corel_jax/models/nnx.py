"""Flax NNX encoders: :class:`NNXEncoder`, an NNX module as the Linen encoder the engine
trains (through :class:`flax.nnx.bridge.ToLinen`).

The engine is Linen-shaped: a sweep's runs are ``jax.vmap`` over pure ``init`` and ``apply``
functions, every run's parameters one slice of a stacked pytree. An NNX module is stateful,
so :class:`NNXEncoder` builds it inside the Linen call, from ``build(rngs)``:

- **parameters**: built at ``init`` from the ``rngs`` handed to ``build`` (``rngs.params()``
  draws from the run's own init key, so every seed gets its own initialisation), then kept
  as Linen ``params`` under the encoder's ``nnx`` scope, one leaf per ``nnx.Param`` at its
  attribute path (``params/encoder/nnx/linear1/kernel``): vmapped, checkpointed, written to
  ``final_params.npz`` like any Linen encoder's;
- **train / eval**: ``encoder(x, train=True)`` calls ``module.train()`` before
  ``module(x)``, ``train=False`` calls ``module.eval()`` (flax's switch of
  ``nnx.Dropout``'s ``deterministic``);
- **dropout**: ``nnx.Dropout(rate, rngs=rngs)`` draws from the engine's ``'dropout'``
  stream, a fresh key every step of every run.

Only ``nnx.Param`` state is allowed: the engine keeps no mutable collections, so a module
with running statistics (``nnx.BatchNorm``'s ``BatchStat``) is refused at ``init``
(``nnx.LayerNorm`` has none). Register one by name with
:meth:`corel_jax.models.EncoderSpec.from_nnx`, or pass ``NNXEncoder(build)`` as
``train_sweep(encoder=...)``.

>>> import jax, jax.numpy as jnp
>>> from flax import nnx
>>> enc = NNXEncoder(lambda rngs: nnx.Linear(64, 8, rngs=rngs))
>>> x = jnp.zeros((2, 64))
>>> params = enc.init({"params": jax.random.key(0)}, x)
>>> jax.tree.map(jnp.shape, params)
{'params': {'nnx': {'bias': (8,), 'kernel': (64, 8)}}}
>>> enc.apply(params, x).shape
(2, 8)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
from flax import nnx
from flax.nnx import bridge

from corel_jax.errors import ConfigError

__all__ = ["NNXEncoder"]


def _forward(module: nnx.Module, x: Any, train: bool) -> Any:
    """``module(x)`` in training (``train``) or evaluation mode."""
    if train:
        module.train()
    else:
        module.eval()
    return module(x)


def _value(variable: Any) -> Any:
    """A plain array for a Linen variable (no metadata box: the engine's optimizer, vmap and
    checkpoints see the arrays)."""
    return variable.get_value()


class NNXEncoder(nn.Module):
    """A Flax NNX module as a Linen encoder ``x -> h: [B, D]`` called as
    ``encoder(x, train=...)`` (see the module's description).

    Attributes:
      build: ``build(rngs) -> nnx.Module``, e.g. ``lambda rngs: MyNNX(64, 32, rngs=rngs)``
        (called with ``rngs`` as a keyword); the module's ``__call__(x)`` returns ``h``.
    """

    build: Callable[..., nnx.Module]

    @nn.compact
    def __call__(self, x: Any, *, train: bool = False) -> Any:
        h = bridge.ToLinen(self.build, metadata_fn=_value, name="nnx")(
            x, train, nnx_method=_forward)
        if self.is_initializing():
            other = sorted(set(self.variables) - {"params"})
            if other:
                raise ConfigError(f"the NNX encoder holds state besides nnx.Param "
                                  f"({', '.join(other)}); the engine trains parameters "
                                  f"only: use layers without running statistics "
                                  f"(nnx.LayerNorm, not nnx.BatchNorm)")
        return h
