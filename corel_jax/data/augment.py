"""Training-time augmentations: pure functions ``(key, x [B, ...]) -> x [B, ...]``.

The engine applies one to each training minibatch when it is passed as ``augment=`` to
:func:`corel_jax.train.train_sweep` (validation, test and the representations are never
augmented). Each run draws its own augmentation key, so runs vmapped together see different
translations. Any function of that signature works; write your own the same way.

>>> import jax, jax.numpy as jnp
>>> x = jnp.zeros((2, 5, 5)).at[:, 2, 2].set(1.0)
>>> y = random_shift(jax.random.key(0), x, max_shift=1)
>>> y.shape, float(y.sum())  # the one bright pixel moved by at most one row and column
((2, 5, 5), 2.0)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

__all__ = ["random_shift", "shift_augment"]


def _check_max_shift(caller: str, max_shift) -> None:
    if not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"{caller}: max_shift must be an int >= 0, got {max_shift!r}")


def random_shift(key: jax.Array, x: jax.Array, *, max_shift: int) -> jax.Array:
    """Translates each image by ``(dy, dx)`` drawn uniformly from ``[-max_shift, max_shift]²``.

    Pixels shifted in from outside are zero (MNIST's background in [0, 1]); pixels shifted out
    are lost. A translation of up to 2 pixels is the usual augmentation for MNIST CNNs (the
    paper states none).

    Args:
      key: a PRNG key.
      x: images ``[B, H, W]`` or ``[B, H, W, C]``.
      max_shift: the largest translation in pixels, a Python int ``>= 0`` (0: ``x`` as is).

    Returns:
      ``[B, H, W(, C)]``, the dtype of ``x``.
    """
    _check_max_shift("random_shift", max_shift)
    if x.ndim not in (3, 4):
        raise ValueError(f"random_shift needs images [B, H, W] or [B, H, W, C]; got shape "
                         f"{x.shape}")
    if max_shift == 0:
        return x
    s = max_shift
    padded = jnp.pad(x, ((0, 0), (s, s), (s, s)) + ((0, 0),) * (x.ndim - 3))
    # offset o in [0, 2s] into the padded image is a translation by s - o
    offsets = jax.random.randint(key, (x.shape[0], 2), 0, 2 * s + 1)
    tail = (0,) * (x.ndim - 3)

    def crop(image, offset):
        return jax.lax.dynamic_slice(image, (offset[0], offset[1]) + tail, x.shape[1:])

    return jax.vmap(crop)(padded, offsets)


def shift_augment(max_shift: int):
    """``random_shift`` with ``max_shift`` bound: the ``augment=`` argument of
    :func:`corel_jax.train.train_sweep`."""
    _check_max_shift("shift_augment", max_shift)
    return functools.partial(random_shift, max_shift=max_shift)
