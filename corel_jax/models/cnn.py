"""The paper's image CNN: three conv + LeakyReLU + 2x2 max-pool blocks, then two FC layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from corel_jax.models.conv import conv, resolve_conv_impl
from corel_jax.models.mlp import dense_layers
from corel_jax.models.pool import max_pool


class ConvPoolBlock(nn.Module):
    """One block of the image CNN: 3x3 ``SAME`` convolution, LeakyReLU, 2x2 max-pooling.

    Computed as convolution -> max-pool -> + bias -> LeakyReLU, the same function: adding a
    per-channel bias and a LeakyReLU with ``negative_slope >= 0`` are monotone, so they commute
    with ``max``, and float rounding is monotone too, so this reordering leaves the forward
    values bit-identical to bias -> LeakyReLU -> pool. Gradients agree except where two window
    values become equal only after the bias is added (float rounding). Pooling first runs the
    bias and the activation, forward and backward, on a quarter of the elements.

    ``channel_multiple``: on CPU the output channels are padded with zero filters to a multiple
    of 16 (15 -> 16, 30 -> 32, 60 -> 64) so that the channel axis, the minor one, fills AVX-512
    vectors in every copy and elementwise loop. (What each of the two saves per training step:
    ``experiments/results/bench_vs_pytorch.md``, "What changed for the image CNN".) The padded
    channels are exactly
    zero; the next block reads them through zero kernel rows (``in_padding``); the params keep
    their true shapes (``kernel [3, 3, Cin, features]``, ``bias [features]``, the names and
    initialisers of :class:`flax.linen.Conv`), so the padding exists only inside the computation
    and its gradient (a slice) is exact.

    Input ``[B, H, W, Cin + in_padding]``, output ``[B, H // 2, W // 2, features + padding]``
    with ``padding = self.out_padding()`` trailing zero channels.
    """

    features: int
    kernel_size: Sequence[int] = (3, 3)
    negative_slope: float = 0.2
    in_padding: int = 0
    channel_multiple: int | None = None  # None: 16 for the im2col convolution (CPU), else 1
    conv_impl: str = "auto"
    pool_impl: str = "auto"
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    def out_padding(self) -> int:
        m = self.channel_multiple
        if m is None:
            m = 16 if resolve_conv_impl(self.conv_impl) == "im2col" else 1
        return -self.features % m

    @nn.compact
    def __call__(self, x):
        cin = x.shape[-1] - self.in_padding
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            tuple(self.kernel_size) + (cin, self.features), self.param_dtype)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,),
                          self.param_dtype)
        x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
        pad = self.out_padding()
        if pad or self.in_padding:
            window = ((0, 0),) * len(self.kernel_size)
            kernel = jnp.pad(kernel, window + ((0, self.in_padding), (0, pad)))
            bias = jnp.pad(bias, (0, pad))
        y = conv(x, kernel, "SAME", self.conv_impl)
        if self.negative_slope < 0:  # not monotone: pooling must come last
            return max_pool(nn.leaky_relu(y + bias, self.negative_slope), (2, 2),
                            impl=self.pool_impl)
        y = max_pool(y, (2, 2), impl=self.pool_impl)
        return nn.leaky_relu(y + bias, negative_slope=self.negative_slope)


class ImageCNN(nn.Module):
    """Convolutional encoder for small images; ``h`` is the last fully connected layer.

    Input ``[B, H, W, C]`` (or ``[B, H, W]``, read as one channel), output
    ``h [B, hidden[-1]]``. Paper settings (defaults): convolutions with 15, 30 and 60 filters of
    3x3, ``SAME`` padding, each followed by LeakyReLU(0.2) and 2x2 max-pooling with stride 2
    (floor: 28 -> 14 -> 7 -> 3), then two fully connected layers of 500 units with LeakyReLU.
    ``dropout`` (default 0) is applied before each fully connected layer when ``train=True``.

    ``conv_impl`` / ``pool_impl`` / ``channel_multiple`` choose how convolutions and pooling
    are computed (same math; see :class:`ConvPoolBlock`, :mod:`corel_jax.models.conv` and
    :mod:`corel_jax.models.pool`). The defaults (``"auto"``, ``None``) are the im2col
    convolution with channels padded to a multiple of 16 on CPU, XLA's convolution without
    padding elsewhere, and reshape pooling.

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
    channel_multiple: int | None = None
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        if x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4:
            raise ValueError(f"ImageCNN needs images [B, H, W, C] or [B, H, W]; got {x.shape}")
        h = jnp.asarray(x, self.dtype)
        padding = 0
        for i, f in enumerate(self.features):
            block = ConvPoolBlock(
                f, tuple(self.kernel_size), self.negative_slope, in_padding=padding,
                channel_multiple=self.channel_multiple, conv_impl=self.conv_impl,
                pool_impl=self.pool_impl, dtype=self.dtype, param_dtype=self.param_dtype,
                name=f"conv{i}")
            h = block(h)
            padding = block.out_padding()
        if padding:
            h = h[..., : h.shape[-1] - padding]
        h = h.reshape(h.shape[0], -1)
        return dense_layers(self, h, train=train)
