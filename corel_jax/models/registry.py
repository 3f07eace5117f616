"""Encoders by name: :data:`ENCODERS`, one :class:`EncoderSpec` per encoder.

A configuration names its encoder in its ``model`` field (``SweepConfig.model``, the CLI's
``--model``). An encoder spec builds a Flax module ``x -> h: [B, D]`` (called as
``module(x, train=...)``) from the sweep configuration (``width``, ``negative_slope``,
``dropout``, ...) and the dataset (e.g. its embedding table); ``kinds`` names the dataset
kinds (``Dataset.kind``: ``"image"``, ``"tokens"``, or your own) it reads.
``ENCODERS.register(spec)`` adds one.

>>> ENCODERS.names()[:2]
('mlp', 'cnn')
>>> ENCODERS.get("text_cnn").kinds
('tokens',)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn

from corel_jax.models.cnn import ImageCNN
from corel_jax.models.embed import FrozenTable
from corel_jax.models.mlp import MLP
from corel_jax.models.text import TextCNN, TextMLP
from corel_jax.registry import Registry


@dataclasses.dataclass(frozen=True)
class EncoderSpec:
    """An encoder: ``build(cfg, dataset) -> flax module``; ``kinds``: the dataset kinds it
    reads (None: any)."""

    name: str
    build: Callable[[Any, Any], nn.Module]
    kinds: tuple[str, ...] | None = None
    description: str = ""

    def __post_init__(self):
        if self.kinds is not None:
            object.__setattr__(self, "kinds", tuple(self.kinds))

    def accepts(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds

    @classmethod
    def from_module(cls, name: str, module: nn.Module, *,
                    kinds: tuple[str, ...] | None = None, description: str = "") -> EncoderSpec:
        """A spec whose every build returns ``module`` (one Flax module instance, whatever the
        configuration)."""
        return cls(name, lambda cfg, dataset: module, kinds, description)

    @classmethod
    def from_nnx(cls, name: str, build: Callable[..., Any], *,
                 kinds: tuple[str, ...] | None = None, description: str = "") -> EncoderSpec:
        """A spec of a Flax NNX encoder: ``build(cfg, dataset, rngs) -> nnx.Module`` makes it
        from the configuration, the data and the run's ``nnx.Rngs`` (pass ``rngs`` to its
        layers); its ``__call__(x)`` returns ``h: [B, D]``. Trained as a Linen module through
        :class:`corel_jax.models.nnx.NNXEncoder` (``flax.nnx.bridge``): every run its own
        initialisation from its seed, ``train=`` as ``module.train()`` / ``module.eval()``,
        dropout from the engine's ``'dropout'`` stream.

        >>> from flax import nnx
        >>> from corel_jax.train import SweepConfig
        >>> spec = EncoderSpec.from_nnx(
        ...     "nnx_linear", lambda cfg, dataset, rngs: nnx.Linear(64, cfg.width, rngs=rngs))
        >>> type(spec.build(SweepConfig(width=8), None)).__name__
        'NNXEncoder'
        """
        import functools

        from corel_jax.models.nnx import NNXEncoder

        return cls(name, lambda cfg, dataset: NNXEncoder(functools.partial(build, cfg, dataset)),
                   kinds, description)


#: the registered encoders: ``ENCODERS.register(spec)``, ``ENCODERS.get(name)``, ...
ENCODERS: Registry[EncoderSpec] = Registry("encoder", EncoderSpec, label="model")



def _image_kwargs(cfg) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(hidden=(cfg.width, cfg.width),
                                  negative_slope=cfg.negative_slope)
    if cfg.dropout is not None:  # None: the model's own default (0 images, 0.5 text)
        kwargs["dropout"] = cfg.dropout
    return kwargs


def _build_image(cls):
    return lambda cfg, dataset: cls(**_image_kwargs(cfg))


def _build_text(cls):
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
        return cls(**kwargs)

    return build


ENCODERS.register(EncoderSpec("mlp", _build_image(MLP), ("image",), "the paper's FFNN"))
ENCODERS.register(EncoderSpec("cnn", _build_image(ImageCNN), ("image",), "the paper's CNN"))
ENCODERS.register(EncoderSpec("text_mlp", _build_text(TextMLP), ("tokens",),
                              "FFNN over averaged word vectors"))
ENCODERS.register(EncoderSpec("text_cnn", _build_text(TextCNN), ("tokens",),
                              "Kim-style 1-D CNN"))
