"""The paper's feed-forward encoder (FFNN): flatten, two LeakyReLU hidden layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp


class MLP(nn.Module):
    """Fully connected encoder; ``h`` is the last hidden layer, after its activation.

    Input ``[B, ...]`` (flattened to ``[B, F]``), output ``h [B, hidden[-1]]``. The paper's
    FFNN: two hidden layers of 500 units with LeakyReLU (negative slope 0.2). ``dropout`` (rate,
    default 0) is applied to the input and between hidden layers, not to ``h``; it uses the
    ``'dropout'`` rng stream and is active only with ``train=True`` (the AG News FFNN over
    averaged word vectors uses it).

    >>> import jax, jax.numpy as jnp
    >>> model = MLP()
    >>> params = model.init(jax.random.key(0), jnp.zeros((4, 28, 28, 1)))
    >>> model.apply(params, jnp.zeros((4, 28, 28, 1))).shape
    (4, 500)
    """

    hidden: Sequence[int] = (500, 500)
    negative_slope: float = 0.2
    dropout: float = 0.0
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        h = jnp.asarray(x, self.dtype).reshape(x.shape[0], -1)
        return dense_layers(self, h, train=train)


def dense_layers(module: nn.Module, h, *, train: bool):
    """The fully connected layers every encoder ends with, inside ``module``'s compact call.

    For each width in ``module.hidden``: dropout (rate ``module.dropout``, when > 0 and
    ``train``), ``Dense`` named ``fc{i}`` in ``module``, LeakyReLU (``module.negative_slope``).
    The layers are created in the caller's scope, so their parameters are ``module``'s own
    ``fc0``, ``fc1``, ... (the same tree as writing the loop inline).
    """
    for i, width in enumerate(module.hidden):
        if module.dropout > 0:
            h = nn.Dropout(module.dropout, deterministic=not train)(h)
        h = nn.Dense(width, dtype=module.dtype, param_dtype=module.param_dtype, name=f"fc{i}")(h)
        h = nn.leaky_relu(h, negative_slope=module.negative_slope)
    return h
