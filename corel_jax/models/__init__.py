"""Flax (linen) encoders: ``x -> h [B, D]``, the representation the COREL head scores.

Every encoder's ``__call__(x, *, train=False)`` returns the last hidden layer; dropout uses the
``'dropout'`` rng stream and is active only with ``train=True``. Compute is float32 unless a
``dtype`` (e.g. ``jnp.bfloat16``) is given; params are stored in ``param_dtype`` (float32).
Params are plain pytrees, so many runs are one ``jax.vmap(model.init)(keys, x)``.

- :class:`MLP` -- the paper's FFNN (``"mlp"``).
- :class:`ImageCNN` -- the paper's 3-block CNN (``"cnn"``).
- :class:`TextMLP`, :class:`TextCNN` -- text encoders over token ids (``"text_mlp"``,
  ``"text_cnn"``); :class:`FrozenTable` holds frozen pretrained vectors.
- :class:`Conv`, :func:`max_pool` -- the building blocks with CPU-fast implementations.
- :class:`~corel_jax.models.head.CorelNet` -- an encoder plus the COREL head.
- :class:`~corel_jax.models.nnx.NNXEncoder` -- a Flax NNX module as an encoder
  (``flax.nnx.bridge``); register one with :meth:`EncoderSpec.from_nnx`.

Encoders by name (a configuration's ``model``): :data:`ENCODERS`, a
:class:`~corel_jax.registry.Registry` of :class:`EncoderSpec`; add your own with
``ENCODERS.register(spec)``, without editing the library. The loss registry sits beside the
losses (:mod:`corel_jax.loss_spec`).
"""

from corel_jax.models.cnn import ImageCNN
from corel_jax.models.conv import Conv, conv
from corel_jax.models.embed import FrozenTable, TokenEmbed
from corel_jax.models.mlp import MLP
from corel_jax.models.pool import masked_max_over_time, max_pool
from corel_jax.models.registry import ENCODERS, EncoderSpec
from corel_jax.models.text import TextCNN, TextMLP

__all__ = [
    "ENCODERS",
    "MLP",
    "Conv",
    "EncoderSpec",
    "FrozenTable",
    "ImageCNN",
    "TextCNN",
    "TextMLP",
    "TokenEmbed",
    "conv",
    "masked_max_over_time",
    "max_pool",
]
