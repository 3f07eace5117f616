"""Encoders by name: one :class:`EncoderSpec` per encoder, for configs, the CLI and the engine.

An encoder spec builds a Flax module ``x -> h: [B, D]`` (called as ``module(x, train=...)``)
from the sweep configuration (``width``, ``negative_slope``, ``dropout``, ...) and the
dataset (e.g. its embedding table); ``kinds`` names the dataset kinds (``Dataset.kind``:
``"image"``, ``"tokens"``, or your own) it reads. :func:`register_encoder` adds one.

>>> encoder_names()[:2]
('mlp', 'cnn')
>>> get_encoder("text_cnn").kinds
('tokens',)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn

from corel_jax.errors import ConfigError
from corel_jax.models.cnn import ImageCNN
from corel_jax.models.embed import FrozenTable
from corel_jax.models.mlp import MLP
from corel_jax.models.text import TextCNN, TextMLP

ENCODERS = {"mlp": MLP, "cnn": ImageCNN, "text_mlp": TextMLP, "text_cnn": TextCNN}


def make_encoder(name: str, **kwargs):
    """Build the built-in encoder ``name`` with its constructor ``kwargs``.

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


@dataclasses.dataclass(frozen=True)
class EncoderSpec:
    """An encoder: ``build(cfg, dataset) -> flax module``; ``kinds``: the dataset kinds it
    reads (None: any)."""

    name: str
    build: Callable[[Any, Any], nn.Module]
    kinds: tuple[str, ...] | None = None
    description: str = ""

    def accepts(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds


_ENCODER_SPECS: dict[str, EncoderSpec] = {}


def register_encoder(spec: EncoderSpec | str, build: Callable | nn.Module | None = None, *,
                     kinds: tuple[str, ...] | None = None,
                     replace: bool = False) -> EncoderSpec:
    """Registers an encoder: ``register_encoder(EncoderSpec(...))``, or
    ``register_encoder(name, build, kinds=...)`` where ``build`` is ``(cfg, dataset) ->
    module`` or a Flax module instance (used as it is by every sweep)."""
    if not isinstance(spec, EncoderSpec):
        if build is None:
            raise TypeError("register_encoder(name, build): give the builder or the module")
        if isinstance(build, nn.Module):
            module = build
            build = lambda cfg, dataset: module  # noqa: E731
        spec = EncoderSpec(spec, build, None if kinds is None else tuple(kinds))
    if spec.name in _ENCODER_SPECS and not replace and _ENCODER_SPECS[spec.name] is not spec:
        raise ConfigError(f"an encoder named {spec.name!r} is registered already (pass "
                          f"replace=True to replace it)")
    _ENCODER_SPECS[spec.name] = spec
    return spec


def get_encoder(name: str) -> EncoderSpec:
    try:
        return _ENCODER_SPECS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown model {name!r}; choose one of "
                          f"{', '.join(encoder_names())}") from None


def encoder_names() -> tuple[str, ...]:
    return tuple(_ENCODER_SPECS)


def _image_kwargs(cfg) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(hidden=(cfg.width, cfg.width),
                                  negative_slope=cfg.negative_slope)
    if cfg.dropout is not None:  # None: the model's own default (0 images, 0.5 text)
        kwargs["dropout"] = cfg.dropout
    return kwargs


def _build_image(name):
    return lambda cfg, dataset: make_encoder(name, **_image_kwargs(cfg))


def _build_text(name):
    def build(cfg, dataset):
        kwargs = _image_kwargs(cfg)
        table = dataset.embeddings
        if table is not None and dataset.info.get("frozen", True):
            kwargs["frozen"] = FrozenTable(table)  # shared by all runs, never trained
        elif table is not None:  # learned, starting from the dataset's table (GloVe or seeded)
            kwargs["init_table"] = FrozenTable(table)
            kwargs["vocab_size"], kwargs["embed_dim"] = table.shape
        else:  # a learned embedding of the vocabulary, Flax's default init
            kwargs["vocab_size"] = len(dataset.vocab) if dataset.vocab else int(
                dataset.x_train.max()) + 1
        return make_encoder(name, **kwargs)

    return build


register_encoder(EncoderSpec("mlp", _build_image("mlp"), ("image",), "the paper's FFNN"))
register_encoder(EncoderSpec("cnn", _build_image("cnn"), ("image",), "the paper's CNN"))
register_encoder(EncoderSpec("text_mlp", _build_text("text_mlp"), ("tokens",),
                             "FFNN over averaged word vectors"))
register_encoder(EncoderSpec("text_cnn", _build_text("text_cnn"), ("tokens",),
                             "Kim-style 1-D CNN"))
