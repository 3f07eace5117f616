"""Vocabulary (word <-> id) built from the training split, and id encoding with padding.

Ids: 0 = padding (``<pad>``), 1 = unknown word (``<unk>``), then the number tags ``MONEY``,
``YEAR``, ``NUMBER`` (always present, so they always get their own vectors), then the words by
descending training count (ties alphabetical).

>>> v = build_vocab([["apple", "pie"], ["apple", "NUMBER"]])
>>> v.words
('<pad>', '<unk>', 'MONEY', 'YEAR', 'NUMBER', 'apple', 'pie')
>>> encode([["apple", "tart", "NUMBER"]], v, max_len=5).tolist()
[[5, 1, 4, 0, 0]]
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from corel_jax.data.text import NUMBER_TAGS, PAD, UNK

PAD_ID, UNK_ID = 0, 1
SPECIALS = (PAD, UNK, *NUMBER_TAGS)


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """An ordered tuple of words; a word's id is its position."""

    words: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.words[: len(SPECIALS)] != SPECIALS:
            raise ValueError(f"a vocabulary starts with {SPECIALS}; got {self.words[:5]}")
        if len(set(self.words)) != len(self.words):
            raise ValueError("vocabulary words must be unique")
        object.__setattr__(self, "_index", {w: i for i, w in enumerate(self.words)})

    def __len__(self) -> int:
        return len(self.words)

    def id(self, word: str) -> int:
        """The word's id, or ``UNK_ID``."""
        return self._index.get(word, UNK_ID)  # type: ignore[attr-defined]

    def __contains__(self, word: str) -> bool:
        return word in self._index  # type: ignore[attr-defined]


def count_words(docs: Iterable[Sequence[str]]) -> Counter:
    """Word counts over tokenised documents."""
    counts: Counter = Counter()
    for doc in docs:
        counts.update(doc)
    return counts


def build_vocab(
    docs: Iterable[Sequence[str]],
    *,
    min_count: int = 1,
    max_size: int | None = None,
    keep: Callable[[str], bool] | None = None,
) -> Vocabulary:
    """The vocabulary of tokenised training documents.

    Args:
      docs: tokenised documents (the training split only).
      min_count: minimum count for a word to get an id.
      max_size: at most this many words besides the specials (most frequent first).
      keep: only words for which this is true get an id (e.g. words that have a pretrained
        vector); the others map to ``<unk>``.
    """
    counts = count_words(docs)
    words = [
        w for w, c in counts.items()
        if c >= min_count and w not in SPECIALS and (keep is None or keep(w))
    ]
    words.sort(key=lambda w: (-counts[w], w))
    if max_size is not None:
        words = words[:max_size]
    return Vocabulary(SPECIALS + tuple(words))


def encode(docs: Sequence[Sequence[str]], vocab: Vocabulary, max_len: int) -> np.ndarray:
    """Tokenised documents -> int32 ids ``[N, max_len]``, truncated, padded with 0 at the end.

    A document with no tokens is encoded as one ``<unk>`` so that no row is all padding (mean
    pooling over an empty row would divide by zero).
    """
    ids = np.zeros((len(docs), max_len), np.int32)
    for row, doc in enumerate(docs):
        seq = [vocab.id(w) for w in doc[:max_len]] or [UNK_ID]
        ids[row, : len(seq)] = seq
    return ids
