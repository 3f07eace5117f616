"""What a sweep is built from: its dataset, its encoder, and the checks that need both."""

from __future__ import annotations

import jax

from corel_jax.errors import ConfigError
from corel_jax.train.config import SweepConfig
from corel_jax.train.placement import Placement


def load_data(cfg: SweepConfig):
    """The :class:`corel_jax.data.Dataset` ``cfg`` names (its source, split and options)."""
    from corel_jax.data import load_dataset

    kwargs = dict(cfg.dataset_options)
    if cfg.val_size is not None:
        kwargs["val_size"] = cfg.val_size
    return load_dataset(cfg.dataset, cfg.data_dir, source=cfg.data_source,
                        split_seed=cfg.split_seed, **kwargs)


def build_encoder(cfg: SweepConfig, dataset):
    """The encoder module for ``cfg.model``: its registered spec builds it from the config
    (sizes) and the data (e.g. the embedding table)."""
    from corel_jax.models import ENCODERS

    return ENCODERS.get(cfg.model).build(cfg, dataset)


def check_compatible(cfg: SweepConfig, dataset) -> None:
    """Input checks that need the data (before anything is compiled): the split the config
    names, and the batch size. (Labels outside ``[0, K)`` cannot reach here:
    :class:`~corel_jax.data.Dataset` refuses them.)"""
    # A dataset passed in was split by its loader: a config that names another split would
    # be recorded beside results it did not produce.
    n_val = len(dataset.y_val)
    if cfg.val_size is not None and n_val != cfg.val_size:
        raise ConfigError(f"the config asks for val_size={cfg.val_size} but the dataset passed "
                          f"in has {n_val} validation examples; load it with that val_size "
                          f"(corel_jax.train.sweep.load_data(cfg)) or set val_size={n_val}")
    seed = dataset.info.get("split_seed")
    if seed is not None and seed != cfg.split_seed:
        raise ConfigError(f"the config asks for split_seed={cfg.split_seed} but the dataset "
                          f"passed in was split with split_seed={seed}; load it with the "
                          f"config's (corel_jax.train.sweep.load_data(cfg)) or set "
                          f"split_seed={seed}")
    n_train = len(dataset.y_train)
    if cfg.batch_size > n_train:
        raise ConfigError(f"batch_size {cfg.batch_size} is larger than the training set "
                          f"({n_train} examples); lower --batch-size")


def resolve_run_batch(cfg: SweepConfig, placement: Placement) -> int | None:
    """Runs vmapped together per epoch (see :func:`engine.compile_program`); None = all."""
    if placement.num_devices > 1:
        return None  # the run axis is sharded: every device vmaps its own share
    if cfg.run_batch is not None:
        return cfg.run_batch
    # On one CPU device, small vmapped groups under lax.map run faster than one wide vmap
    # (their matmuls stay unbatched).
    return 2 if jax.default_backend() == "cpu" else None
