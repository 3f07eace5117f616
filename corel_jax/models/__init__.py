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

Registries (add your own without editing the library): :func:`register_loss` with a
:class:`LossSpec` (:mod:`corel_jax.models.loss_spec`), :func:`register_encoder` with an
:class:`EncoderSpec` (:mod:`corel_jax.models.registry`).
"""

from corel_jax.models.cnn import ImageCNN
from corel_jax.models.conv import Conv, conv
from corel_jax.models.embed import FrozenTable, TokenEmbed
from corel_jax.models.loss_spec import (
    Head,
    LossSpec,
    fixed_prototypes,
    get_loss,
    loss_names,
    register_loss,
)
from corel_jax.models.mlp import MLP
from corel_jax.models.pool import masked_max_over_time, max_pool
from corel_jax.models.registry import (
    ENCODERS,
    EncoderSpec,
    encoder_names,
    get_encoder,
    make_encoder,
    register_encoder,
)
from corel_jax.models.text import TextCNN, TextMLP

__all__ = [
    "ENCODERS",
    "MLP",
    "Conv",
    "EncoderSpec",
    "FrozenTable",
    "Head",
    "LossSpec",
    "ImageCNN",
    "TextCNN",
    "TextMLP",
    "TokenEmbed",
    "conv",
    "encoder_names",
    "fixed_prototypes",
    "get_encoder",
    "get_loss",
    "loss_names",
    "make_encoder",
    "masked_max_over_time",
    "max_pool",
    "register_encoder",
    "register_loss",
]
