"""Stride-1 N-D convolution with a choice of implementation.

:class:`Conv` has the math and parameter layout of :class:`flax.linen.Conv` (``kernel``
``[*window, Cin, Cout]``, ``bias [Cout]``, channels-last inputs ``[B, *spatial, Cin]``, ``SAME``
or ``VALID`` padding, stride 1) so that params move between the two unchanged. What differs is
*how* the convolution is computed:

- ``"xla"``: :func:`jax.lax.conv_general_dilated`, XLA's own convolution. Best on GPU/TPU.
- ``"im2col"``: the window's shifted slices of the (padded) input are concatenated along the
  channel axis, ``[B, *out, prod(window) * Cin]``, and contracted with the kernel reshaped to
  ``[prod(window) * Cin, Cout]`` in one ``dot_general``. On CPU it is the faster of the two,
  under ``jax.vmap`` over runs in particular: a vmapped convolution with per-run kernels
  becomes a grouped convolution, which XLA:CPU runs slowly, whereas a vmapped matmul is just a
  batched matmul (timings: ``experiments/results/bench_conv.md``). Its backward pass is written by
  hand so that the weight gradient, too, is a matmul XLA:CPU runs fast (see
  :func:`_im2col_bwd`); it supports reverse mode (``grad``, ``vjp``) but not forward mode
  (``jvp``; use ``"xla"`` for that).
- ``"auto"``: ``"im2col"`` on CPU, ``"xla"`` elsewhere (decided at trace time from the
  backend JAX compiles for).

Both implementations are exact reformulations of the same sum; they agree with
:class:`flax.linen.Conv` to float rounding, in values and in gradients.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from corel_jax.errors import ConfigError

Padding = str | Sequence[tuple[int, int]]

CONV_IMPLS = ("auto", "xla", "im2col")


def resolve_conv_impl(impl: str) -> str:
    """``impl`` with ``"auto"`` resolved for the default backend: ``"im2col"`` on CPU,
    ``"xla"`` elsewhere. Raises :class:`~corel_jax.errors.ConfigError` for an unknown
    ``impl``."""
    if impl not in CONV_IMPLS:
        raise ConfigError(f"unknown conv impl {impl!r}; valid: {', '.join(CONV_IMPLS)}")
    if impl == "auto":
        # the matmul form is the faster one on CPU (experiments/results/bench_conv.md); on GPU
        # the vendor convolution (cuDNN) is the safe default
        return "im2col" if jax.default_backend() == "cpu" else "xla"
    return impl


def conv_padding(padding: Padding, window: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Explicit ``(low, high)`` zero padding per spatial axis, as ``lax`` computes it.

    ``SAME`` (stride 1) pads ``k - 1`` in total with the odd one at the end, e.g. ``(1, 2)``
    for ``k = 4`` -- the same split as ``lax.padtype_to_pads`` and so as ``flax.linen.Conv``.

    >>> conv_padding("SAME", (3, 4))
    ((1, 1), (1, 2))
    >>> conv_padding("VALID", (5,))
    ((0, 0),)
    """
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "SAME":
            return tuple(((k - 1) // 2, k - 1 - (k - 1) // 2) for k in window)
        if mode == "VALID":
            return tuple((0, 0) for _ in window)
        raise ConfigError(
            f"unknown padding {padding!r}; valid: 'SAME', 'VALID' or (low, high) pairs"
        )
    pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    if len(pads) != len(window):
        raise ConfigError(f"padding {padding!r} needs one (low, high) pair per window axis")
    return pads


def conv_xla(x, kernel, padding: Padding = "SAME", precision=None):
    """``x [B, *spatial, Cin]`` (*) ``kernel [*window, Cin, Cout]`` -> ``[B, *out, Cout]``."""
    n = kernel.ndim - 2
    spatial = "HWD"[:n] if n <= 3 else None
    if spatial is None:
        raise ValueError(f"only 1-, 2- and 3-D convolutions are supported; kernel {kernel.shape}")
    dn = ("N" + spatial + "C", spatial + "IO", "N" + spatial + "C")
    return lax.conv_general_dilated(
        x,
        kernel,
        window_strides=(1,) * n,
        padding=conv_padding(padding, kernel.shape[:n]),
        dimension_numbers=dn,
        precision=precision,
    )


def im2col(x, window: Sequence[int], padding: Padding = "SAME"):
    """Patches ``[B, *out, prod(window) * Cin]`` of ``x [B, *spatial, Cin]`` (stride 1).

    The patch axis is ordered (window offset, in row-major order; then input channel), which is
    the row order of ``kernel.reshape(-1, Cout)`` for a ``[*window, Cin, Cout]`` kernel.
    """
    n = len(window)
    pads = conv_padding(padding, window)
    if any(lo or hi for lo, hi in pads):
        x = jnp.pad(x, ((0, 0), *pads, (0, 0)))
    out = [x.shape[1 + a] - window[a] + 1 for a in range(n)]
    if any(o < 1 for o in out):
        raise ValueError(f"window {tuple(window)} is larger than the padded input {x.shape[1:-1]}")
    if math.prod(window) == 1:
        return x
    slices = []
    for offset in itertools.product(*(range(k) for k in window)):
        index = (slice(None),) + tuple(slice(o, o + m) for o, m in zip(offset, out))
        slices.append(x[index])
    return jnp.concatenate(slices, axis=-1)


# Rows of the weight gradient's contraction are split into this many chunks (see _im2col_bwd).
_DW_CHUNKS = 8


def conv_im2col(x, kernel, padding: Padding = "SAME", precision=None):
    """Same as :func:`conv_xla`, computed as im2col patches times the reshaped kernel.

    Differentiable in reverse mode (``grad``/``vjp``, any ``vmap``); the backward pass is
    written by hand (:func:`_im2col_bwd`). Forward mode (``jvp``) needs ``impl="xla"``.
    """
    window = tuple(kernel.shape[:-2])
    w = kernel.reshape(-1, kernel.shape[-1])
    y = _im2col_matmul(x, w, window, conv_padding(padding, window), precision)
    return y


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _im2col_matmul(x, w, window, pads, precision):
    return _im2col_fwd(x, w, window, pads, precision)[0]


def _im2col_fwd(x, w, window, pads, precision):
    patches = im2col(x, window, pads)
    y = lax.dot_general(patches, w, (((patches.ndim - 1,), (0,)), ((), ())), precision=precision)
    return y, (x, patches, w)


def _im2col_bwd(window, pads, precision, res, g):
    """Gradients of ``y = patches @ w``: ``dw = patches^T g`` and ``dx = col2im(g w^T)``.

    Left to autodiff, XLA:CPU computes ``dw`` as a dot that contracts the *leading* axis of
    both operands (``[M, K]^T [M, N]``, ``M = B * H * W`` in the tens of thousands), which its
    fast matmul path (XNNPACK/YNNPACK) does not take: Eigen runs it at a fraction of the speed
    of the forward matmul. Here ``g`` is transposed explicitly (it is small) and ``M`` split into
    ``_DW_CHUNKS`` chunks, so ``dw^T = sum_c g_c^T patches_c`` is a plain batched matmul,
    which takes the fast path (``experiments/results/bench_conv.md`` compares it with
    autodiff's form).
    """
    x, patches, w = res
    k, cout = w.shape
    m = math.prod(g.shape[:-1])
    chunks = math.gcd(m, _DW_CHUNKS)
    g_t = jnp.swapaxes(g.reshape(chunks, m // chunks, cout), 1, 2)  # [chunks, Cout, m]
    dw_t = lax.dot_general(g_t, patches.reshape(chunks, m // chunks, k),
                           (((2,), (1,)), ((0,), (0,))), precision=precision)
    dw = jnp.sum(dw_t, axis=0).T
    dpatches = lax.dot_general(g, w, (((g.ndim - 1,), (1,)), ((), ())), precision=precision)
    _, col2im = jax.vjp(lambda x: im2col(x, window, pads), x)
    (dx,) = col2im(dpatches.astype(patches.dtype))
    return dx, dw.astype(w.dtype)


_im2col_matmul.defvjp(_im2col_fwd, _im2col_bwd)


def conv(x, kernel, padding: Padding = "SAME", impl: str = "auto", precision=None):
    """Stride-1 convolution of channels-last ``x`` with a ``[*window, Cin, Cout]`` kernel."""
    impl = resolve_conv_impl(impl)
    if impl == "xla":
        return conv_xla(x, kernel, padding, precision)
    return conv_im2col(x, kernel, padding, precision)


class Conv(nn.Module):
    """Stride-1 convolution layer, a drop-in for :class:`flax.linen.Conv` with an ``impl``.

    Input ``[*batch, *spatial, Cin]`` (channels last; any number of leading batch axes, at least
    one), output ``[*batch, *out, features]``; params ``kernel [*kernel_size, Cin, features]``
    and ``bias [features]`` with flax's default initialisers, so ``Conv(...).init(key, x)``
    gives the same params as ``flax.linen.Conv(...).init(key, x)``.

    Attributes:
      features: number of output channels ``Cout``.
      kernel_size: window, e.g. ``(3, 3)`` for 2-D or ``(5,)`` (or ``5``) for 1-D.
      padding: ``"SAME"``, ``"VALID"`` or one ``(low, high)`` pair per spatial axis.
      impl: ``"auto"`` | ``"xla"`` | ``"im2col"`` (see the module docstring).
      dtype: compute dtype (inputs and params are cast to it); ``param_dtype`` is the storage.

    >>> import jax, jax.numpy as jnp
    >>> layer = Conv(features=8, kernel_size=(3, 3))
    >>> params = layer.init(jax.random.key(0), jnp.zeros((2, 28, 28, 1)))
    >>> jax.tree.map(jnp.shape, params)["params"]
    {'bias': (8,), 'kernel': (3, 3, 1, 8)}
    >>> layer.apply(params, jnp.zeros((2, 28, 28, 1))).shape
    (2, 28, 28, 8)
    """

    features: int
    kernel_size: int | Sequence[int]
    padding: Padding = "SAME"
    use_bias: bool = True
    impl: str = "auto"
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32
    precision: Any = None
    kernel_init: Any = nn.initializers.lecun_normal()
    bias_init: Any = nn.initializers.zeros_init()

    @nn.compact
    def __call__(self, x):
        window = (
            (self.kernel_size,) if isinstance(self.kernel_size, int) else tuple(self.kernel_size)
        )
        n = len(window)
        if x.ndim < n + 2:
            raise ValueError(
                f"Conv with a {n}-D window needs input [batch, *{n} spatial, channels]; "
                f"got shape {x.shape}"
            )
        batch = x.shape[: x.ndim - n - 1]
        x = x.reshape((-1,) + x.shape[len(batch) :])
        kernel = self.param(
            "kernel", self.kernel_init, window + (x.shape[-1], self.features), self.param_dtype
        )
        bias = (
            self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias
            else None
        )
        x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
        y = conv(x, kernel, self.padding, self.impl, self.precision)
        if bias is not None:
            y = y + bias
        return y.reshape(batch + y.shape[1:])
