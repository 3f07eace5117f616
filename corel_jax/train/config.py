"""Sweep configuration: one frozen dataclass, validated before anything is compiled."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from corel_jax.errors import ConfigError

#: configuration fields that do not change a sweep's numbers (where the data is read from,
#: how the runs are grouped in programs and checkpointed, what is saved); every other field
#: does, so a new field changes results unless it is listed here. Resume may change these;
#: reports pool run directories that differ only in these (and in the per-run grid axes).
NOT_RESULT_FIELDS = ("data_dir", "data_source", "checkpoint_every", "memory_budget_gb",
                     "max_runs_per_program", "run_batch", "pad_run_groups", "eval_batch_size",
                     "save_representations")
#: seeds (of runs and of the split) are 32-bit: numpy's and JAX's PRNGs take [0, 2**32)
SEED_LIMIT = 2**32
#: the grid axes besides seeds: (SweepConfig field, run attribute), outermost first
GRID_FIELDS = (("lr", "lr"), ("weight_decay", "weight_decay"), ("gamma", "gamma"),
               ("center_alpha", "center_alpha"), ("lams", "lam"))
#: the grid axes given as a number or a tuple of numbers (``lams`` is always a tuple)
SCALAR_GRIDS = tuple(f for f, _ in GRID_FIELDS if f != "lams")


class Run(NamedTuple):
    """One run of a sweep: its seed and its values of every grid axis."""

    seed: int
    lam: float
    lr: float
    gamma: float
    center_alpha: float
    weight_decay: float = 0.0


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """A sweep: every combination of ``seeds × lams`` and of the values of ``lr``,
    ``weight_decay``, ``gamma`` and ``center_alpha`` (each a number or a tuple of numbers: a
    grid axis) is one run; all share one compiled program, the hyperparameters being traced
    per-run values.

    Attributes:
      dataset: a registered dataset (:func:`corel_jax.data.register_dataset`): ``digits``
        (offline, bundled with scikit-learn), ``mnist``, ``fashion_mnist``, ``ag_news``, or
        your own; aliases (``fashion``, ``agnews``, ...) are resolved.
      model: a registered encoder (:func:`corel_jax.models.register_encoder`): ``mlp`` (the
        paper's FFNN), ``cnn`` (2-D image CNN), ``text_mlp``, ``text_cnn``, or your own.
      loss: a registered loss (:func:`corel_jax.models.loss_spec.loss_names`): ``cce``,
        ``center`` (CCE + λ·center loss), ``cosine``, ``gaussian``, or one of your own
        (:func:`corel_jax.models.register_loss`).
      seeds: one run per seed and λ; the seed fixes init, shuffling and dropout.
      lams: λ values in [0, 1]; what λ means is the loss's (``LossSpec.lam``: the weight of
        attraction for COREL, of the center loss for ``center``; ``cce`` ignores it).
      epochs: passes over the training set (the paper: 150).
      batch_size: minibatch size (the paper: 128). Every example is trained on once per epoch;
        the last minibatch is partial (its missing examples are masked out of the loss).
      lr: Adam learning rate(s) (the paper uses Adam; our default 1e-3).
      weight_decay: weight decay(s) of every network parameter but γ (default 0: none; the
        paper states none). Coupled, as ``torch.optim.Adam(weight_decay=...)``: ``wd · θ`` is
        added to the gradient before Adam, i.e. an L2 penalty ``wd/2 · ‖θ‖²`` on the loss;
        decoupled with ``decoupled_weight_decay``.
      decoupled_weight_decay: decay the weights directly, ``θ ← θ − lr · wd · θ`` beside the
        Adam step (AdamW, Loshchilov & Hutter; ``optax.adamw``).
      gamma: γ for ``gaussian``, initial or fixed (the paper: a fixed hyperparameter; our
        default 0.5).
      learn_gamma: learn γ with the network (``gaussian``; our extension: False keeps γ fixed,
        as in the paper).
      center_alpha: center-update rate(s) α (``center``; Wen et al.: 0.5).
      patience: early stopping: a run stops once its best validation accuracy has not improved
        for this many epochs (None: train every epoch, the paper's protocol).
      min_epochs: early stopping never ends a run before this epoch.
      width: width of the two fully connected hidden layers (500: our choice; the paper does
        not state it).
      negative_slope: LeakyReLU slope (0.2: our choice; the paper states LeakyReLU, not its
        slope).
      dropout: dropout rate in the encoder (None: the model's default -- 0 for the image
        models as in the paper, 0.5 for the text models).
      augment_shift: translate each training image at random by up to this many pixels
        (:func:`corel_jax.data.augment.random_shift`; image datasets only). 0: no augmentation
        (our default; the paper states none).
      data_dir: directory of the dataset's files (None: TFDS or the bundled dataset).
      data_source: ``auto``, ``files`` or ``tfds``.
      val_size: validation split size (None: the dataset's default, 5,000 for MNIST).
      split_seed: seed of the fixed train/validation split (same for every run).
      eval_batch_size: examples per forward pass when evaluating.
      save_representations: keep each run's test representations h at its best epoch.
      max_runs_per_program: cap on runs compiled together (None: automatic, from memory).
      run_batch: runs vmapped together within an epoch; the program maps over groups of this
        many runs (None: automatic -- 2 on a single CPU device, where small groups measure
        faster, and all runs on accelerators or when the runs are sharded over devices).
      pad_run_groups: fill the last group of ``run_batch`` runs with copies of its last run
        so that every run trains in a group of exactly ``run_batch`` and gives the same numbers
        alone as inside any sweep (bit for bit on the same machine); costs up to
        ``run_batch − 1`` runs' compute (see :func:`corel_jax.train.engine.compile_program`).
      memory_budget_gb: memory the sweep may use (None: 80% of the device's, or half of
        the host's free memory on CPU).
      checkpoint_every: save a resumable checkpoint every N epochs (0: never; None: automatic,
        about every 10 minutes of training).
      dataset_options: extra keyword arguments for the dataset loader, as (key, value) pairs.
    """

    dataset: str = "digits"
    model: str = "mlp"
    loss: str = "gaussian"
    seeds: tuple[int, ...] = (0,)
    lams: tuple[float, ...] = (0.5,)
    epochs: int = 150
    batch_size: int = 128
    lr: float | tuple[float, ...] = 1e-3
    weight_decay: float | tuple[float, ...] = 0.0
    decoupled_weight_decay: bool = False
    gamma: float | tuple[float, ...] = 0.5
    learn_gamma: bool = True
    center_alpha: float | tuple[float, ...] = 0.5
    patience: int | None = None
    min_epochs: int = 0
    width: int = 500
    negative_slope: float = 0.2
    dropout: float | None = None
    augment_shift: int = 0
    data_dir: str | None = None
    data_source: str = "auto"
    val_size: int | None = None
    split_seed: int = 0
    eval_batch_size: int = 1000
    save_representations: bool = True
    max_runs_per_program: int | None = None
    run_batch: int | None = None
    pad_run_groups: bool = False
    memory_budget_gb: float | None = None
    checkpoint_every: int | None = None
    dataset_options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "lams", tuple(float(v) for v in self.lams))
        for name in SCALAR_GRIDS:
            object.__setattr__(self, name, _as_grid(name, getattr(self, name)))
        object.__setattr__(self, "dataset_options", tuple(tuple(p) for p in self.dataset_options))
        from corel_jax.data.registry import resolve_dataset_name

        object.__setattr__(self, "dataset", resolve_dataset_name(self.dataset))
        self.validate()

    # -- derived ---------------------------------------------------------------------------

    @property
    def grid(self) -> dict[str, tuple[float, ...]]:
        """``{run attribute: values}`` of every grid axis (see :data:`GRID_FIELDS`)."""
        return {attr: tuple(getattr(self, field)) for field, attr in GRID_FIELDS}

    @property
    def varied(self) -> tuple[str, ...]:
        """The run attributes (``lam``, ``lr``, ...) that take more than one value."""
        return tuple(k for k, v in self.grid.items() if len(v) > 1)

    @property
    def runs(self) -> list[Run]:
        """Every run of the grid: seeds innermost, then λ, α, γ, the weight decay, and the
        learning rate outermost; run ``i`` is ``runs[i]``."""
        return [Run(seed=s, lam=lam, lr=lr, gamma=g, center_alpha=a, weight_decay=wd)
                for lr, wd, g, a, lam in itertools.product(self.lr, self.weight_decay,
                                                           self.gamma, self.center_alpha,
                                                           self.lams)
                for s in self.seeds]

    @property
    def num_runs(self) -> int:
        return len(self.seeds) * math.prod(len(v) for v in self.grid.values())

    @property
    def setting(self) -> str:
        """The paper's "setting": dataset and model, e.g. ``mnist-mlp``."""
        return f"{self.dataset}-{self.model}"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["seeds"], d["lams"] = list(self.seeds), list(self.lams)
        for name in SCALAR_GRIDS:  # a single value stays a number
            v = getattr(self, name)
            d[name] = v[0] if len(v) == 1 else list(v)
        d["dataset_options"] = {k: v for k, v in self.dataset_options}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SweepConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in fields}
        if isinstance(d.get("dataset_options"), dict):
            d["dataset_options"] = tuple(d["dataset_options"].items())
        return cls(**d)

    # -- validation ------------------------------------------------------------------------

    def validate(self) -> None:
        """Raises :class:`ConfigError` with a one-line message naming the bad value."""
        from corel_jax.models.loss_spec import get_loss, loss_names

        _one_of("loss", self.loss, loss_names())
        spec = get_loss(self.loss)
        from corel_jax.data.registry import get_dataset
        from corel_jax.models.registry import encoder_names, get_encoder

        kind = get_dataset(self.dataset).kind
        encoder = get_encoder(self.model)
        if not encoder.accepts(kind):
            fits = [n for n in encoder_names() if get_encoder(n).accepts(kind)]
            raise ConfigError(f"model {self.model!r} reads {' or '.join(encoder.kinds)} "
                              f"inputs, but dataset {self.dataset} is {kind}; use "
                              f"{' or '.join(fits) or 'an encoder registered for ' + kind}")
        _one_of("data_source", self.data_source, ("auto", "files", "tfds"))
        if not self.seeds:
            raise ConfigError("seeds is empty: give at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds has duplicates: {list(self.seeds)}")
        bad = [s for s in self.seeds if not 0 <= s < SEED_LIMIT]
        if bad:
            raise ConfigError(f"seeds must lie in [0, 2**32) (PRNG seeds are 32-bit); got {bad}")
        if not self.lams:
            raise ConfigError("lams is empty: give at least one λ in [0, 1]")
        bad = [v for v in self.lams if not (0.0 <= v <= 1.0) or math.isnan(v)]
        if bad:
            raise ConfigError(f"λ must lie in [0, 1]; got {bad}")
        for name in ("epochs", "batch_size", "width", "eval_batch_size"):
            _positive_int(name, getattr(self, name))
        for name in ("lr", "gamma"):
            bad = [v for v in getattr(self, name) if not (v > 0 and math.isfinite(v))]
            if bad:
                raise ConfigError(f"{name} must be a positive number; got {bad}")
        bad = [v for v in self.weight_decay if not (v >= 0 and math.isfinite(v))]
        if bad:
            raise ConfigError(f"weight_decay must be a number >= 0; got {bad}")
        bad = [v for v in self.center_alpha if not 0.0 <= v <= 1.0]
        if bad:
            raise ConfigError(f"center_alpha must lie in [0, 1]; got {bad}")
        for name, axis in (("gamma", self.gamma), ("center_alpha", self.center_alpha)):
            if len(axis) > 1 and name not in spec.hparams:
                users = [n for n in loss_names() if name in get_loss(n).hparams]
                raise ConfigError(f"a grid over {name} needs --loss {' or '.join(users)} (the "
                                  f"{self.loss} loss does not use it); give one value")
        for name, _ in GRID_FIELDS:
            axis = getattr(self, name)
            if len(set(axis)) != len(axis):
                raise ConfigError(f"{name} has duplicates: {list(axis)}")
        if self.patience is not None:
            _positive_int("patience", self.patience)
        if not isinstance(self.min_epochs, int) or isinstance(self.min_epochs, bool) \
                or self.min_epochs < 0:
            raise ConfigError(f"min_epochs must be an integer >= 0; got {self.min_epochs!r}")
        if self.dropout is not None and not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must lie in [0, 1); got {self.dropout}")
        if not isinstance(self.augment_shift, int) or isinstance(self.augment_shift, bool) \
                or self.augment_shift < 0:
            raise ConfigError(f"augment_shift must be an integer >= 0 (pixels); got "
                              f"{self.augment_shift!r}")
        if self.augment_shift and kind != "image":
            raise ConfigError(f"augment_shift translates images, but dataset {self.dataset} "
                              f"is {kind}; leave augment_shift at 0")
        if self.negative_slope < 0:
            raise ConfigError(f"negative_slope must be >= 0; got {self.negative_slope}")
        if self.val_size is not None:
            _positive_int("val_size", self.val_size)
        if not isinstance(self.split_seed, int) or isinstance(self.split_seed, bool) \
                or not 0 <= self.split_seed < SEED_LIMIT:
            raise ConfigError(f"split_seed must be an integer in [0, 2**32); got "
                              f"{self.split_seed!r}")
        if self.max_runs_per_program is not None:
            _positive_int("max_runs_per_program", self.max_runs_per_program)
        if self.run_batch is not None:
            _positive_int("run_batch", self.run_batch)
        if self.memory_budget_gb is not None and not (
                self.memory_budget_gb > 0 and math.isfinite(self.memory_budget_gb)):
            raise ConfigError(f"memory_budget_gb must be a finite number of GiB > 0; got "
                              f"{self.memory_budget_gb}")
        if self.checkpoint_every is not None and (
            not isinstance(self.checkpoint_every, int) or self.checkpoint_every < 0
        ):
            raise ConfigError(f"checkpoint_every must be an integer >= 0; got "
                              f"{self.checkpoint_every!r}")


def _as_grid(name: str, value) -> tuple[float, ...]:
    """A number or a sequence of numbers -> a non-empty tuple of floats."""
    values = value if isinstance(value, (tuple, list)) else (value,)
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number or a list of numbers; got {value!r}") \
            from None
    if not out:
        raise ConfigError(f"{name} is empty: give at least one value")
    return out


def _one_of(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


def _positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer; got {value!r}")


def parse_values(text: str, name: str = "λ") -> tuple[float, ...]:
    """Parses a grid axis: ``"0.5"``, ``"1e-3,3e-3"`` or a range ``"start:stop:step"`` (stop
    included); ``name`` names the axis in errors.

    >>> parse_values("1e-3,3e-3", "lr")
    (0.001, 0.003)
    >>> parse_values("0.05:0.2:0.05")
    (0.05, 0.1, 0.15, 0.2)
    """
    text = text.strip()
    try:
        if ":" in text:
            start, stop, step = (float(p) for p in text.split(":"))
            if step <= 0:
                raise ConfigError(f"the {name} range step must be > 0; got {text!r}")
            n = int(math.floor((stop - start) / step + 1e-9)) + 1
            return tuple(round(start + i * step, 10) for i in range(max(n, 0)))
        return tuple(float(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise ConfigError(
            f"cannot parse {name} values {text!r}; use 0.5, 0.1,0.5,0.9 or start:stop:step"
        ) from None


def parse_lams(text: str) -> tuple[float, ...]:
    """Parses λ values (see :func:`parse_values`).

    >>> parse_lams("0.1,0.5")
    (0.1, 0.5)
    """
    return parse_values(text, "λ")


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"10"`` → seeds 0..9; ``"3,7,11"`` → those seeds; ``"5:10"`` → 5..9.

    >>> parse_seeds("3")
    (0, 1, 2)
    >>> parse_seeds("4,9")
    (4, 9)
    """
    text = text.strip()
    try:
        if ":" in text:
            a, b = (int(p) for p in text.split(":"))
            return tuple(range(a, b))
        if "," in text:
            return tuple(int(p) for p in text.split(",") if p.strip())
        return tuple(range(int(text)))
    except ValueError:
        raise ConfigError(
            f"cannot parse seeds {text!r}; use a count (10), a list (0,3,7) or a range (5:10)"
        ) from None
