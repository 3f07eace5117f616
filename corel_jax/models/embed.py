"""Token embeddings: a learned table, or frozen pretrained vectors kept out of ``params``.

A frozen table is wrapped in :class:`FrozenTable`, a small hashable, read-only holder that the
module keeps as a *field* (a constant closed over by ``apply``), never as a variable. So:

- it is not in ``params``: it gets no gradient and the optimizer never sees it;
- when the sweep engine vmaps ``init``/``apply`` over a leading run axis of the params pytree,
  the table is shared by all runs instead of being copied R times;
- under ``jax.jit`` it becomes a compile-time constant. JAX (by default) embeds such constants
  in the compiled program, so compile time grows with the table's size (measured for a
  GloVe-sized table: ``experiments/README.md``); restrict the table to the
  data set's vocabulary (or set ``jax.config.update("jax_use_simplified_jaxpr_constants",
  True)``, which passes it as an argument instead) when that matters.

Hashing is by content (shape, dtype and a SHA-1 of the bytes, computed once on first use), so
two wrappers of equal vectors compare equal, as flax/jit expect of a module's fields.
"""

from __future__ import annotations

import hashlib
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

PAD_ID = 0  # token id 0 is padding in every text encoder: mask = ids != PAD_ID


class FrozenTable:
    """Read-only ``[V, E]`` float32 embedding vectors, hashable by content.

    >>> import numpy as np
    >>> t = FrozenTable(np.ones((5, 3)))
    >>> t.shape, t == FrozenTable(np.ones((5, 3))), t == FrozenTable(np.zeros((5, 3)))
    ((5, 3), True, False)
    """

    __slots__ = ("_array", "_digest")

    def __init__(self, vectors):
        array = np.array(vectors, dtype=np.float32, copy=True)
        if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
            raise ValueError(
                f"embedding vectors must be a non-empty [V, E] array; got {array.shape}"
            )
        if not np.all(np.isfinite(array)):
            raise ValueError("embedding vectors hold NaN or infinite values")
        array.setflags(write=False)
        self._array = array
        self._digest = None

    @property
    def array(self) -> np.ndarray:
        """The vectors, ``float32 [V, E]`` (read-only numpy array)."""
        return self._array

    @property
    def shape(self) -> tuple[int, int]:
        return self._array.shape

    def _key(self):
        if self._digest is None:
            self._digest = hashlib.sha1(self._array.tobytes()).hexdigest()
        return (self._array.shape, self._digest)

    def __hash__(self):
        return hash(self._key())

    def __eq__(self, other):
        if not isinstance(other, FrozenTable):
            return NotImplemented
        return self is other or self._key() == other._key()

    def __repr__(self):
        return f"FrozenTable(shape={self._array.shape})"


class TokenEmbed(nn.Module):
    """Look up ``ids int [B, L]`` -> ``[B, L, E]``, learned or frozen.

    With ``frozen`` set, the vectors come from it (no params are created; ``vocab_size`` and
    ``features`` are ignored); otherwise an ``nn.Embed(vocab_size, features)`` table named
    ``embedding`` is learned, starting from ``init_table`` when given (e.g. GloVe vectors or
    the dataset's seeded random table; its padding row is zeroed) and from Flax's default
    initialiser otherwise. Ids must be in ``[0, V)`` (0 = padding).
    """

    vocab_size: int | None = None
    features: int | None = None
    frozen: FrozenTable | None = None
    init_table: FrozenTable | None = None
    dtype: Any = jnp.float32
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, ids):
        if not jnp.issubdtype(ids.dtype, jnp.integer):
            raise TypeError(f"token ids must be integers; got dtype {ids.dtype}")
        if self.frozen is not None:
            table = jnp.asarray(self.frozen.array, self.dtype)
            return jnp.take(table, ids, axis=0, mode="clip")
        if self.init_table is not None:
            vocab_size, features = self.init_table.shape
            if (self.vocab_size not in (None, vocab_size)
                    or self.features not in (None, features)):
                raise ValueError(
                    f"init_table has shape {self.init_table.shape} but vocab_size="
                    f"{self.vocab_size}, features={self.features}; leave those unset or match")
            init_array = np.asarray(self.init_table.array)

            def embedding_init(key, shape, dtype):
                del key  # the table is the initial value, the same for every run
                return jnp.asarray(init_array, dtype).at[PAD_ID].set(0)
        else:
            vocab_size, features = self.vocab_size, self.features
            embedding_init = nn.linear.default_embed_init
        if not vocab_size or not features:
            raise ValueError("a learned embedding needs vocab_size and features, or init_table "
                             "(or pass frozen=)")
        return nn.Embed(
            vocab_size,
            features,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            embedding_init=embedding_init,
            name="embedding",
        )(ids)
