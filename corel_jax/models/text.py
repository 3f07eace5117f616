"""Text encoders over token ids: Kim-style CNN and an FFNN over averaged vectors.

Both take ``ids int32 [B, L]`` with 0 = padding (``mask = ids != 0``) and embed inside the model,
with a learned table (``vocab_size``, ``embed_dim``) or frozen pretrained vectors
(``frozen=FrozenTable(vectors)``; see :mod:`corel_jax.models.embed`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from corel_jax.models.conv import Conv
from corel_jax.models.embed import PAD_ID, FrozenTable, TokenEmbed
from corel_jax.models.mlp import MLP, dense_layers
from corel_jax.models.pool import masked_max_over_time


def _check_ids(ids):
    if ids.ndim != 2:
        raise ValueError(f"text encoders take token ids [B, L]; got shape {ids.shape}")


class TextMLP(nn.Module):
    """FFNN over the masked mean of the word vectors; ``h [B, hidden[-1]]``.

    The mean is over the non-padding tokens (an all-padding row gives the zero vector). Then
    :class:`~corel_jax.models.mlp.MLP`: dropout on the averaged vector and between the hidden
    layers (rate ``dropout``, default 0.5, only with ``train=True``), LeakyReLU(0.2).

    >>> import jax, jax.numpy as jnp
    >>> model = TextMLP(vocab_size=100, embed_dim=16, hidden=(32, 32))
    >>> ids = jnp.array([[5, 7, 0, 0], [1, 2, 3, 4]], jnp.int32)
    >>> params = model.init(jax.random.key(0), ids)
    >>> model.apply(params, ids).shape
    (2, 32)
    """

    vocab_size: int | None = None
    embed_dim: int = 300
    frozen: FrozenTable | None = None
    init_table: FrozenTable | None = None
    hidden: Sequence[int] = (500, 500)
    negative_slope: float = 0.2
    dropout: float = 0.5
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, ids, *, train: bool = False):
        _check_ids(ids)
        mask = (ids != PAD_ID).astype(self.dtype)[..., None]  # [B, L, 1]
        e = TokenEmbed(
            self.vocab_size, self.embed_dim, self.frozen, self.init_table, self.dtype,
            self.param_dtype, name="embed"
        )(ids)
        mean = jnp.sum(e * mask, axis=1) / jnp.maximum(jnp.sum(mask, axis=1), 1)
        return MLP(
            self.hidden,
            self.negative_slope,
            self.dropout,
            self.dtype,
            self.param_dtype,
            name="mlp",
        )(mean, train=train)


class TextCNN(nn.Module):
    """Kim (2014)-style sentence CNN; ``h [B, hidden[-1]]``.

    Embed (padding positions zeroed) -> for each window ``k`` in ``windows`` (default 3, 4, 5)
    a 1-D convolution with ``num_filters`` (default 100) filters -> max over time (masked, so
    padding never wins; an all-padding row gives 0) -> ReLU -> concatenate
    ``[B, len(windows) * num_filters]`` -> two fully connected LeakyReLU(0.2) layers, each with
    dropout on its input (rate ``dropout``, default 0.5 as in Kim 2014, only with
    ``train=True``).

    Convolutions use ``SAME`` padding and an output position counts iff its centre token is not
    padding. With padding embeddings zeroed this makes ``h`` independent of how much padding
    follows a sentence, and sentences shorter than a window still have features. (ReLU commutes
    with max, so it is applied after pooling, on ``[B, F]`` instead of ``[B, L, F]``.)

    >>> import jax, jax.numpy as jnp
    >>> model = TextCNN(vocab_size=100, embed_dim=16, num_filters=8, hidden=(32, 32))
    >>> ids = jnp.array([[5, 7, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6]], jnp.int32)
    >>> params = model.init(jax.random.key(0), ids)
    >>> model.apply(params, ids).shape
    (2, 32)
    """

    vocab_size: int | None = None
    embed_dim: int = 300
    frozen: FrozenTable | None = None
    init_table: FrozenTable | None = None
    windows: Sequence[int] = (3, 4, 5)
    num_filters: int = 100
    hidden: Sequence[int] = (500, 500)
    negative_slope: float = 0.2
    dropout: float = 0.5
    conv_impl: str = "auto"
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, ids, *, train: bool = False):
        _check_ids(ids)
        mask = ids != PAD_ID  # [B, L]
        e = TokenEmbed(
            self.vocab_size, self.embed_dim, self.frozen, self.init_table, self.dtype,
            self.param_dtype, name="embed"
        )(ids)
        e = e * mask[..., None].astype(e.dtype)
        pooled = []
        for k in self.windows:
            c = Conv(
                self.num_filters,
                (k,),
                padding="SAME",
                impl=self.conv_impl,
                dtype=self.dtype,
                param_dtype=self.param_dtype,
                name=f"conv{k}",
            )(e)
            pooled.append(masked_max_over_time(c, mask))
        h = nn.relu(jnp.concatenate(pooled, axis=-1))
        return dense_layers(self, h, train=train)
