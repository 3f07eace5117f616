"""Encoders by name, for configs and the CLI."""

from __future__ import annotations

from corel_jax.errors import ConfigError
from corel_jax.models.cnn import ImageCNN
from corel_jax.models.mlp import MLP
from corel_jax.models.text import TextCNN, TextMLP

ENCODERS = {"mlp": MLP, "cnn": ImageCNN, "text_mlp": TextMLP, "text_cnn": TextCNN}


def make_encoder(name: str, **kwargs):
    """Build the encoder registered as ``name`` with its constructor ``kwargs``.

    >>> make_encoder("mlp", hidden=(64, 64))
    MLP(
        # attributes
        hidden = (64, 64)
        negative_slope = 0.2
        dropout = 0.0
        dtype = float32
        param_dtype = float32
    )
    """
    try:
        cls = ENCODERS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown encoder {name!r}; valid: {', '.join(sorted(ENCODERS))}"
        ) from None
    try:
        return cls(**kwargs)
    except TypeError as e:  # unknown keyword: a config error, not a crash
        raise ConfigError(f"bad options for encoder {name!r}: {e}") from None
