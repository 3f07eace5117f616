"""The paper's image CNN: three conv + LeakyReLU + 2x2 max-pool blocks, then two FC layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from corel_jax.models.conv import Conv
from corel_jax.models.mlp import dense_layers
from corel_jax.models.pool import max_pool


class ImageCNN(nn.Module):
    """Convolutional encoder for small images; ``h`` is the last fully connected layer.

    Input ``[B, H, W, C]`` (or ``[B, H, W]``, read as one channel), output
    ``h [B, hidden[-1]]``. Paper settings (defaults): convolutions with 15, 30 and 60 filters of
    3x3, ``SAME`` padding, each followed by LeakyReLU(0.2) and 2x2 max-pooling with stride 2
    (floor: 28 -> 14 -> 7 -> 3), then two fully connected layers of 500 units with LeakyReLU.
    ``dropout`` (default 0) is applied before each fully connected layer when ``train=True``.

    ``conv_impl`` / ``pool_impl`` choose how convolutions and pooling are computed (same math;
    see :mod:`corel_jax.models.conv` and :mod:`corel_jax.models.pool`); the defaults pick the
    fastest measured form for the backend.

    >>> import jax, jax.numpy as jnp
    >>> model = ImageCNN()
    >>> params = model.init(jax.random.key(0), jnp.zeros((2, 28, 28, 1)))
    >>> model.apply(params, jnp.zeros((2, 28, 28, 1))).shape
    (2, 500)
    >>> [params["params"][f"conv{i}"]["kernel"].shape for i in range(3)]
    [(3, 3, 1, 15), (3, 3, 15, 30), (3, 3, 30, 60)]
    """

    features: Sequence[int] = (15, 30, 60)
    kernel_size: Sequence[int] = (3, 3)
    hidden: Sequence[int] = (500, 500)
    negative_slope: float = 0.2
    dropout: float = 0.0
    conv_impl: str = "auto"
    pool_impl: str = "auto"
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4:
            raise ValueError(f"ImageCNN needs images [B, H, W, C] or [B, H, W]; got {x.shape}")
        h = jnp.asarray(x, self.dtype)
        for i, f in enumerate(self.features):
            h = Conv(
                f,
                tuple(self.kernel_size),
                padding="SAME",
                impl=self.conv_impl,
                dtype=self.dtype,
                param_dtype=self.param_dtype,
                name=f"conv{i}",
            )(h)
            # LeakyReLU is monotone, so it commutes with max: pooling first would be cheaper,
            # but XLA fuses the activation into the pooling loop anyway.
            h = nn.leaky_relu(h, negative_slope=self.negative_slope)
            h = max_pool(h, (2, 2), impl=self.pool_impl)
        h = h.reshape(h.shape[0], -1)
        return dense_layers(self, h, train=train)
