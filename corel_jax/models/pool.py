"""Max-pooling: spatial (images) and masked max-over-time (text).

:func:`max_pool` is ``flax.linen.max_pool`` with ``VALID`` padding (floor: 28 -> 14 -> 7 -> 3,
like PyTorch's ``MaxPool2d``) and, for non-overlapping windows, a faster formulation: crop to a
multiple of the window, reshape each window onto its own axes and reduce with ``max``. Its
backward pass is an elementwise mask that XLA fuses, where ``lax.reduce_window``'s backward is a
``select_and_scatter`` that XLA:CPU runs slowly (``experiments/results/bench_conv.md``).

On ties inside one window the two send the gradient to different places (``reduce_window``: all
of it to the first maximum; ``reshape``: split evenly between the maxima); both are valid
subgradients, and with no ties they are identical.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from corel_jax.errors import ConfigError

POOL_IMPLS = ("auto", "reshape", "reduce_window")


def max_pool(
    x,
    window: Sequence[int] = (2, 2),
    strides: Sequence[int] | None = None,
    impl: str = "auto",
):
    """Max over ``window`` of channels-last ``x [B, *spatial, C]``, ``VALID`` padding.

    ``strides`` defaults to ``window`` (non-overlapping). ``impl="reshape"`` needs
    ``strides == window``; ``"auto"`` uses it then and ``lax.reduce_window`` otherwise.

    >>> import jax.numpy as jnp
    >>> max_pool(jnp.arange(49.0).reshape(1, 7, 7, 1)).shape  # odd sizes floor: 7 -> 3
    (1, 3, 3, 1)
    >>> max_pool(jnp.arange(49.0).reshape(1, 7, 7, 1))[0, :, :, 0]
    Array([[ 8., 10., 12.],
           [22., 24., 26.],
           [36., 38., 40.]], dtype=float32)
    """
    window = tuple(window)
    strides = window if strides is None else tuple(strides)
    n = len(window)
    if impl not in POOL_IMPLS:
        raise ConfigError(f"unknown pool impl {impl!r}; valid: {', '.join(POOL_IMPLS)}")
    if x.ndim != n + 2:
        raise ValueError(f"max_pool over a {n}-D window needs [B, *{n} spatial, C]; got {x.shape}")
    if impl == "auto":
        impl = "reshape" if strides == window else "reduce_window"
    if impl == "reduce_window":
        return nn.max_pool(x, window, strides=strides, padding="VALID")
    if strides != window:
        raise ConfigError("max_pool impl='reshape' needs strides == window (non-overlapping)")
    spatial = x.shape[1:-1]
    out = tuple(s // k for s, k in zip(spatial, window))
    if any(o == 0 for o in out):
        raise ValueError(f"pool window {window} is larger than the input {spatial}")
    # Floor like VALID: drop the trailing rows/columns that do not fill a window.
    crop = (slice(None),) + tuple(slice(0, o * k) for o, k in zip(out, window)) + (slice(None),)
    if tuple(o * k for o, k in zip(out, window)) != spatial:
        x = x[crop]
    split = (x.shape[0],) + tuple(d for o, k in zip(out, window) for d in (o, k)) + (x.shape[-1],)
    return jnp.max(x.reshape(split), axis=tuple(2 + 2 * a for a in range(n)))


def masked_max_over_time(x, mask):
    """Max over the time axis of ``x [B, L, F]`` at the positions where ``mask [B, L]`` is true.

    Padding positions never win the max. A row with no valid position gives 0 (and no gradient).

    >>> import jax.numpy as jnp
    >>> x = jnp.array([[[1.0], [-2.0], [9.0]]])
    >>> masked_max_over_time(x, jnp.array([[True, True, False]]))
    Array([[1.]], dtype=float32)
    """
    if x.ndim != 3 or mask.shape != x.shape[:2]:
        raise ValueError(f"need x [B, L, F] and mask [B, L]; got {x.shape} and {mask.shape}")
    lowest = jnp.finfo(x.dtype).min  # finite, so the all-padding case stays NaN-free
    m = jnp.max(jnp.where(mask[..., None], x, lowest), axis=1)
    return jnp.where(jnp.any(mask, axis=1)[:, None], m, jnp.zeros((), x.dtype))
