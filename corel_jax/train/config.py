"""Sweep configuration: one frozen dataclass, validated before anything is compiled.

Every field carries its own metadata (:func:`corel_jax._flags.option`, and
:func:`corel_jax.axes.axis_field` for the grid axes): its ``corel-jax train`` flag and help,
and whether it changes a sweep's numbers. The command line (:mod:`corel_jax.train.cli`),
resume checks and report pooling all derive from it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from corel_jax import axes
from corel_jax._flags import option
from corel_jax.axes import axis_field
from corel_jax.errors import ConfigError

#: seeds (of runs and of the split) are 32-bit: numpy's and JAX's PRNGs take [0, 2**32)
SEED_LIMIT = 2**32

#: One run of a sweep: its seed and its value on every grid axis (:data:`corel_jax.axes.AXES`).
Run = NamedTuple("Run", [("seed", int), *((a.name, float) for a in axes.AXES)])


def _dataset_names():
    from corel_jax.data.registry import DATASETS

    return DATASETS.names()


def _encoder_names():
    from corel_jax.models.registry import ENCODERS

    return ENCODERS.names()


def _loss_names():
    from corel_jax.loss_spec import LOSSES

    return LOSSES.names()


def _optimizer_names():
    from corel_jax.optimizers import OPTIMIZERS

    return OPTIMIZERS.names()


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """A sweep: every combination of ``seeds`` and of the values of every grid axis
    (:data:`corel_jax.axes.AXES`: ``lams``, ``lr``, ``weight_decay``, ``gamma``,
    ``center_alpha``; each a number or a tuple of numbers) is one run; all share one compiled
    program, the hyperparameters being traced per-run values.

    Attributes:
      dataset: a registered dataset (:data:`corel_jax.data.DATASETS`): ``digits`` (offline,
        bundled with scikit-learn), ``mnist``, ``fashion_mnist``, ``ag_news``, or your own;
        aliases (``fashion``, ``agnews``, ...) are resolved.
      model: a registered encoder (:data:`corel_jax.models.ENCODERS`): ``mlp`` (the paper's
        FFNN), ``cnn`` (2-D image CNN), ``text_mlp``, ``text_cnn``, or your own.
      loss: a registered loss (:data:`corel_jax.loss_spec.LOSSES`): ``cce``, ``center``
        (CCE + λ·center loss), ``cosine``, ``gaussian``, or your own.
      seeds: one run per seed and grid point; the seed fixes init, shuffling and dropout.
      sampled: axes whose values are drawn at random instead of listed, as
        ``(axis name, "uniform" | "loguniform", low, high)``; ``samples`` joint draws (one
        value of every sampled axis each) replace those axes' values, crossed with the other
        axes and the seeds. The drawn values are the axis fields' values (``config.json``
        records them beside the distribution).
      samples: how many configurations to draw (with ``sampled``).
      sample_seed: the seed of the draw (numpy's ``default_rng``).
      lams: λ values in [0, 1]; what λ weighs is the loss's (``LossSpec.lam``: attraction for
        COREL, the center loss for ``center``; ``cce`` ignores it).
      epochs: passes over the training set.
      batch_size: minibatch size. Every example is trained on once per epoch; the last
        minibatch is partial (its missing examples are masked out of the loss).
      lr: learning rate(s) of the optimizer (the peak of a schedule).
      weight_decay: weight decay(s) of every network parameter but γ (0: none). Coupled, as
        ``torch.optim.Adam(weight_decay=...)``: ``wd · θ`` is added to the gradient before
        Adam (an L2 penalty ``wd/2 · ‖θ‖²``); decoupled with ``decoupled_weight_decay``.
      decoupled_weight_decay: decay the weights directly, ``θ ← θ − lr · wd · θ`` beside the
        Adam step (AdamW, Loshchilov & Hutter; ``optax.adamw``); ``adam`` only (``adamw`` is
        ``adam`` with it).
      optimizer: a registered optimizer (:data:`corel_jax.optimizers.OPTIMIZERS`): ``adam``
        (``optax.adam``), ``adamw`` (``optax.adamw``: Adam with decoupled weight decay, the
        same as ``adam`` with ``decoupled_weight_decay``), ``sgd`` (``optax.sgd`` with
        ``momentum``), or a factory of your own
        (``hp -> optax.GradientTransformation`` of the run's hyperparameters, see
        :mod:`corel_jax.optimizers`).
      momentum: SGD momentum(s) (``sgd``, or a factory that reads ``hp["momentum"]``).
      schedule: the learning rate over training: ``constant``; ``warmup`` (linear from
        ``lr / warmup steps`` to ``lr`` over ``warmup_epochs``, then constant); ``cosine``
        (cosine decay from ``lr`` to 0 at the last step, Loshchilov & Hutter 2017);
        ``warmup_cosine`` (warmup, then cosine decay over the remaining steps).
      warmup_epochs: length(s) of the warmup, in epochs (may be fractional).
      gamma: γ of ``gaussian``, initial (learned) or fixed.
      learn_gamma: learn γ with the network (``gaussian``); False keeps it fixed.
      center_alpha: center-update rate(s) α (``center``; Wen et al. 2016).
      patience: early stopping: a run stops once its best validation accuracy has not improved
        for this many epochs (None: train every epoch).
      min_epochs: early stopping never ends a run before this epoch.
      width: width of the fully connected hidden layers.
      negative_slope: LeakyReLU slope.
      dropout: dropout rate in the encoder (None: the encoder's default).
      augment_shift: translate each training image at random by up to this many pixels
        (:func:`corel_jax.data.augment.random_shift`; image datasets only; 0: none).
      data_dir: directory of the dataset's files (None: TFDS or the bundled dataset).
      data_source: ``auto``, ``files`` or ``tfds``.
      val_size: validation split size (None: the dataset's default).
      split_seed: seed of the fixed train/validation split (same for every run).
      eval_batch_size: examples per forward pass when evaluating.
      save_representations: keep each run's test representations h at its best epoch.
      max_chunk_size: the most runs trained together in one chunk (None: as many as fit in
        memory); a larger sweep is trained chunk after chunk by the same compiled program.
      run_batch: runs vmapped together within an epoch; the program maps over groups of this
        many runs (None: automatic -- 2 on a single CPU device, all runs on accelerators or
        when the runs are sharded over devices).
      pad_run_groups: fill the last group of ``run_batch`` runs with copies of its last run,
        so that every run trains in a group of exactly ``run_batch`` and gives the same numbers
        alone as inside any sweep (bit for bit on the same machine); costs up to
        ``run_batch − 1`` runs' compute (see :func:`corel_jax.train.engine.compile_program`).
      memory_budget_gb: memory the sweep may use (None: 80% of the device's, or half of the
        host's free memory on CPU).
      checkpoint_every: save a resumable checkpoint every N epochs (0: never; None: about
        every 10 minutes of training).
      track: live trackers (:mod:`corel_jax.train.tracking`): ``"tensorboard"``, ``"wandb"``.
      dataset_options: extra keyword arguments for the dataset loader, as (key, value) pairs
        (the command line's text flags).
      shard: ``(I, N)``: train only runs ``I, I+N, I+2N, ...`` of the grid
        (:attr:`sweep_runs`), as shard ``I`` of ``N`` independent jobs (a job array: no
        coordinator, no communication); ``corel-jax merge`` (:mod:`corel_jax.train.merge`)
        joins the shards' run directories into the one the whole sweep writes. None: every
        run. A shard's runs give the numbers of the same runs in the whole sweep bit for bit
        with ``pad_run_groups`` and the same ``run_batch`` on one device; otherwise equal to
        float rounding, as ``run_batch`` is. It counts as changing results in that it picks
        which runs a run directory holds, as the seeds do: a resume may not change it; reports
        pool the shards of one sweep as they pool run directories of other seeds. Also given
        as ``"I/N"`` or ``{"index": I, "count": N}`` (how ``config.json`` records it).
    """

    dataset: str = option("digits", "a registered dataset", choices=_dataset_names)
    model: str = option("mlp", "a registered encoder", choices=_encoder_names)
    loss: str = option("gaussian", "a registered loss", choices=_loss_names)
    seeds: tuple[int, ...] = option(
        (0,), "a count (10 = seeds 0..9), a list (0,3,7) or a range (5:10)",
        type=lambda text: parse_seeds(text), shown_default="one run, seed 0")
    sampled: tuple[tuple[str, str, float, float], ...] = option(
        (), "axes drawn at random", flag=None)
    samples: int = option(0, "configurations to draw for the axes given as uniform:LOW:HIGH "
                             "or loguniform:LOW:HIGH (e.g. --lr loguniform:1e-4:1e-2)")
    sample_seed: int = option(0, "seed of the draw of the sampled axes")
    lams: tuple[float, ...] = axis_field("lam")
    epochs: int = option(150, "passes over the training set")
    batch_size: int = option(128, "minibatch size")
    lr: float | tuple[float, ...] = axis_field("lr")
    weight_decay: float | tuple[float, ...] = axis_field("weight_decay")
    decoupled_weight_decay: bool = option(
        False, "decay the weights beside the Adam step instead (AdamW)")
    optimizer: str = option("adam", "a registered optimizer", choices=_optimizer_names)
    momentum: float | tuple[float, ...] = axis_field("momentum")
    schedule: str = option("constant", "the learning rate over training",
                           choices=("constant", "warmup", "cosine", "warmup_cosine"))
    warmup_epochs: float | tuple[float, ...] = axis_field("warmup_epochs")
    gamma: float | tuple[float, ...] = axis_field("gamma")
    learn_gamma: bool = option(True, "do not learn γ", flag="--fixed-gamma", invert=True)
    center_alpha: float | tuple[float, ...] = axis_field("center_alpha")
    patience: int | None = option(
        None, "early stopping: end a run after this many epochs without a better validation "
              "accuracy (default: off, every epoch is trained)", type=int)
    min_epochs: int = option(0, "early stopping never ends a run before this epoch")
    width: int = option(500, "hidden layer width")
    negative_slope: float = option(0.2, "LeakyReLU slope")
    dropout: float | None = option(
        None, "encoder dropout (default: the encoder's; 0 for image models, 0.5 for text)",
        type=float)
    augment_shift: int = option(
        0, "translate training images at random by up to this many pixels (0: none)")
    data_dir: str | None = option(
        None, "directory of the dataset files (e.g. the four MNIST IDX .gz files)",
        changes_results=False)
    data_source: str = option("auto", "where the data is read from", flag="--source",
                              choices=("auto", "files", "tfds"), changes_results=False)
    val_size: int | None = option(None, "validation split size (default: the dataset's)",
                                  type=int)
    split_seed: int = option(0, "seed of the fixed train/validation split")
    eval_batch_size: int = option(1000, "examples per forward pass when evaluating",
                                  changes_results=False)
    save_representations: bool = option(
        True, "do not save test representations (saves disk on big sweeps)",
        flag="--no-representations", invert=True, changes_results=False)
    max_chunk_size: int | None = option(
        None, "the most runs trained together (default: as many as fit in memory)", type=int,
        changes_results=False)
    run_batch: int | None = option(
        None, "runs vmapped together within an epoch (default: automatic)", type=int,
        changes_results=False)
    pad_run_groups: bool = option(
        False, "train every run in a group of the same size (copies fill the last), so a run "
               "gives the same numbers alone as inside any sweep", changes_results=False)
    memory_budget_gb: float | None = option(None, "memory the sweep may use, GiB", type=float,
                                            changes_results=False)
    track: tuple[str, ...] = option(
        (), "live tracking, one entry per run: tensorboard and/or wandb (comma-separated; "
            "logs under RUN_DIR/tracking/)", type=lambda text: _parse_track(text),
        changes_results=False, shown_default="none")
    checkpoint_every: int | None = option(
        None, "checkpoint every N epochs (0: never; default: about every 10 min)", type=int,
        changes_results=False)
    dataset_options: tuple[tuple[str, Any], ...] = option(
        (), "dataset loader options (the text flags)", flag=None)
    shard: tuple[int, int] | None = option(
        None, "I/N: train only runs I, I+N, I+2N, ... of the grid, shard I of N independent "
              "jobs (a job array); `corel-jax merge` joins the shards",
        type=lambda text: parse_shard(text), shown_default="every run")

    def __post_init__(self):
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        for axis in axes.AXES:
            object.__setattr__(self, axis.field, _as_grid(axis.field, getattr(self, axis.field)))
        object.__setattr__(self, "dataset_options", tuple(tuple(p) for p in self.dataset_options))
        object.__setattr__(self, "track", (self.track,) if isinstance(self.track, str)
                           else tuple(self.track))
        object.__setattr__(self, "shard", _as_shard(self.shard))
        self._draw_samples()
        from corel_jax.data.registry import DATASETS

        object.__setattr__(self, "dataset", DATASETS.resolve(self.dataset))
        self.validate()

    def _draw_samples(self) -> None:
        """Normalises ``sampled`` (a dict ``{axis: [dist, low, high]}`` too, as config.json
        holds it) and sets each sampled axis's field to its ``samples`` drawn values."""
        sampled = self.sampled
        if isinstance(sampled, dict):
            sampled = tuple((k, *v) for k, v in sampled.items())
        try:
            sampled = tuple((str(a), str(d), float(lo), float(hi)) for a, d, lo, hi in sampled)
        except (TypeError, ValueError):
            raise ConfigError(f"sampled must be (axis, 'uniform'|'loguniform', low, high) "
                              f"entries; got {self.sampled!r}") from None
        # a fixed order (the axes table's), whichever order they were given in
        sampled = tuple(sorted(sampled, key=lambda e: axes.NAMES.index(e[0])
                               if e[0] in axes.BY_NAME else -1))
        object.__setattr__(self, "sampled", sampled)
        if not sampled:
            if self.samples:
                raise ConfigError(f"samples={self.samples} needs an axis to draw: give one as "
                                  f"uniform:LOW:HIGH or loguniform:LOW:HIGH")
            return
        if not isinstance(self.samples, int) or self.samples < 1:
            raise ConfigError(f"sampled axes need samples >= 1 (how many configurations to "
                              f"draw); got {self.samples!r}")
        import numpy as np

        rng = np.random.default_rng(self.sample_seed)
        for name, dist, low, high in sampled:
            axis = axes.BY_NAME.get(name)
            if axis is None:
                raise ConfigError(f"cannot sample {name!r}: not an axis; the axes are "
                                  f"{', '.join(axes.NAMES)}")
            if dist not in ("uniform", "loguniform"):
                raise ConfigError(f"{name}: unknown distribution {dist!r}; use uniform or "
                                  f"loguniform")
            if not low < high or (dist == "loguniform" and low <= 0):
                raise ConfigError(f"{name} {dist}:{low:g}:{high:g} needs low < high"
                                  + (" and low > 0" if dist == "loguniform" else ""))
            u = rng.uniform(np.log(low), np.log(high), self.samples) if dist == "loguniform" \
                else rng.uniform(low, high, self.samples)
            drawn = tuple(float(v) for v in (np.exp(u) if dist == "loguniform" else u))
            given = getattr(self, axis.field)
            if given not in (drawn, (axis.default,)):
                raise ConfigError(f"{axis.field} is both listed ({list(given)}) and drawn "
                                  f"({dist}:{low:g}:{high:g}); give one of them")
            object.__setattr__(self, axis.field, drawn)

    # -- derived ---------------------------------------------------------------------------

    @property
    def grid(self) -> dict[str, tuple[float, ...]]:
        """``{axis name: values}`` of every grid axis, in the order runs nest
        (:data:`corel_jax.axes.PRODUCT_ORDER`: outermost first, λ last)."""
        return {a.name: tuple(getattr(self, a.field)) for a in axes.PRODUCT_ORDER}

    @property
    def varied(self) -> tuple[str, ...]:
        """The axis names (``lam``, ``lr``, ...) that take more than one value."""
        return tuple(k for k, v in self.grid.items() if len(v) > 1)

    @property
    def sweep_runs(self) -> list[Run]:
        """Every run of the grid (of all shards), run ``i`` being ``sweep_runs[i]``: seeds
        innermost, then λ, then the other axes in :data:`corel_jax.axes.PRODUCT_ORDER` (the
        last of them innermost, the learning rate outermost)."""
        grid = self.grid
        drawn = [a for a in grid if a in self.sampled_axes]
        if not drawn:
            return [Run(seed=s, **dict(zip(grid, point)))
                    for point in itertools.product(*grid.values())
                    for s in self.seeds]
        # the draws are joint (one value of every sampled axis each) and outermost
        listed = [a for a in grid if a not in drawn]
        return [Run(seed=s, **dict(zip(drawn, sample)), **dict(zip(listed, point)))
                for sample in zip(*(grid[a] for a in drawn))
                for point in itertools.product(*(grid[a] for a in listed))
                for s in self.seeds]

    @property
    def sampled_axes(self) -> tuple[str, ...]:
        """The names of the axes whose values are drawn (``sampled``)."""
        return tuple(e[0] for e in self.sampled)

    @property
    def sweep_num_runs(self) -> int:
        """The number of runs of the grid (of all shards)."""
        listed = [len(v) for k, v in self.grid.items() if k not in self.sampled_axes]
        return len(self.seeds) * math.prod(listed) * (self.samples if self.sampled else 1)

    @property
    def run_indices(self) -> range:
        """The index in the grid (:attr:`sweep_runs`) of each run this configuration trains:
        every index, or the shard's ``I, I+N, I+2N, ...``."""
        if self.shard is None:
            return range(self.sweep_num_runs)
        index, count = self.shard
        return range(index, self.sweep_num_runs, count)

    @property
    def runs(self) -> list[Run]:
        """The runs this configuration trains, run ``i`` being ``runs[i]``: the grid's
        (:attr:`sweep_runs`), or with ``shard`` the shard's (:attr:`run_indices`)."""
        runs = self.sweep_runs
        return runs if self.shard is None else [runs[i] for i in self.run_indices]

    @property
    def num_runs(self) -> int:
        """The number of runs this configuration trains (the grid's, or the shard's)."""
        return len(self.run_indices)

    @property
    def setting(self) -> str:
        """The paper's "setting": dataset and model, e.g. ``mnist-mlp``."""
        return f"{self.dataset}-{self.model}"

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-ready values (what ``config.json`` holds): λ always a
        list, another axis with one value a number."""
        d = dataclasses.asdict(self)
        d["seeds"] = list(self.seeds)
        for axis in axes.AXES:
            v = getattr(self, axis.field)
            d[axis.field] = list(v) if axis.name == "lam" or len(v) > 1 else v[0]
        d["dataset_options"] = {k: v for k, v in self.dataset_options}
        d["shard"] = None if self.shard is None else \
            {"index": self.shard[0], "count": self.shard[1]}
        d["sampled"] = {a: [dist, low, high] for a, dist, low, high in self.sampled}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, strict: bool = False) -> SweepConfig:
        """The configuration of ``d`` (a :meth:`to_dict`, or a ``config.json``, whose other
        keys are ignored). ``strict``: refuse keys that are not fields (a configuration file
        written by hand), naming them."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in d if k not in fields)
        if strict and unknown:
            raise ConfigError(f"unknown configuration key(s) {', '.join(unknown)}; the keys "
                              f"are the SweepConfig fields: {', '.join(sorted(fields))}")
        d = {k: v for k, v in d.items() if k in fields}
        if isinstance(d.get("dataset_options"), dict):
            d["dataset_options"] = tuple(d["dataset_options"].items())
        try:
            return cls(**d)
        except TypeError as e:  # e.g. a list where a number belongs
            raise ConfigError(f"invalid configuration: {e}") from None

    # -- validation ------------------------------------------------------------------------

    def validate(self) -> None:
        """Raises :class:`ConfigError` with a one-line message naming the bad value."""
        from corel_jax.data.registry import DATASETS
        from corel_jax.loss_spec import LOSSES
        from corel_jax.models.registry import ENCODERS

        spec = LOSSES.get(self.loss)
        kind = DATASETS.get(self.dataset).kind
        encoder = ENCODERS.get(self.model)
        if not encoder.accepts(kind):
            fits = [n for n in ENCODERS.names() if ENCODERS.get(n).accepts(kind)]
            raise ConfigError(f"model {self.model!r} reads {' or '.join(encoder.kinds)} "
                              f"inputs, but dataset {self.dataset} is {kind}; use "
                              f"{' or '.join(fits) or 'an encoder registered for ' + kind}")
        _one_of("data_source", self.data_source, ("auto", "files", "tfds"))
        optimizer = _optimizer(self.optimizer)
        for name in self.track:
            _one_of("tracker", name, ("tensorboard", "wandb"))
        _one_of("schedule", self.schedule, ("constant", "warmup", "cosine", "warmup_cosine"))
        if self.momentum != (axes.BY_NAME["momentum"].default,) and self.optimizer != "sgd" \
                and optimizer.factory is None:
            raise ConfigError(f"momentum {list(self.momentum)} is SGD's; use --optimizer sgd, "
                              f"or leave momentum at its default")
        if self.decoupled_weight_decay and self.optimizer not in ("adam", "adamw"):
            raise ConfigError("decoupled_weight_decay is AdamW's; use --optimizer adamw")
        if any(self.warmup_epochs) and "warmup" not in self.schedule:
            raise ConfigError(f"warmup_epochs {list(self.warmup_epochs)} needs --schedule "
                              f"warmup or warmup_cosine (the {self.schedule} schedule has none)")
        if not self.seeds:
            raise ConfigError("seeds is empty: give at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds has duplicates: {list(self.seeds)}")
        bad = [s for s in self.seeds if not 0 <= s < SEED_LIMIT]
        if bad:
            raise ConfigError(f"seeds must lie in [0, 2**32) (PRNG seeds are 32-bit); got {bad}")
        for axis in axes.AXES:
            values = getattr(self, axis.field)
            name = "λ" if axis.name == "lam" else axis.field
            bad = [v for v in values if math.isnan(v) or not axis.valid(v)]
            if bad:
                raise ConfigError(f"{name} must {axis.requirement}; got {bad}")
            if len(set(values)) != len(values):
                raise ConfigError(f"{axis.field} has duplicates: {list(values)}")
            if axis.loss_hparam and len(values) > 1 and axis.name not in spec.hparams:
                users = [n for n in LOSSES.names() if axis.name in LOSSES.get(n).hparams]
                raise ConfigError(f"a grid over {axis.field} needs --loss "
                                  f"{' or '.join(users)} (the {self.loss} loss does not use "
                                  f"it); give one value")
        for name in ("epochs", "batch_size", "width", "eval_batch_size"):
            _positive_int(name, getattr(self, name))
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
        if self.max_chunk_size is not None:
            _positive_int("max_chunk_size", self.max_chunk_size)
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
        if self.shard is not None:
            index, count = self.shard
            if count < 1 or not 0 <= index < count:
                which = f" (here 0/{count} to {count - 1}/{count})" if count >= 1 else ""
                raise ConfigError(f"shard {index}/{count}: a shard I/N needs N >= 1 and "
                                  f"0 <= I < N, counted from 0{which}")
            if index >= self.sweep_num_runs:
                raise ConfigError(f"shard {index}/{count} has no runs: the grid has "
                                  f"{self.sweep_num_runs}; split it into at most "
                                  f"{self.sweep_num_runs} shards")


def default_dict() -> dict[str, Any]:
    """``SweepConfig().to_dict()`` without building (or validating) one: every field's default
    as ``config.json`` holds it. A field missing from an older ``config.json`` reads as this
    (:func:`corel_jax.rundir.upgrade_config`)."""
    d: dict[str, Any] = {}
    for f in dataclasses.fields(SweepConfig):
        v = f.default
        if f.name in ("dataset_options", "sampled"):
            v = {}
        elif isinstance(v, tuple):
            v = list(v)
        d[f.name] = v
    return d


#: the fields that do not change a sweep's numbers (``option(changes_results=False)``)
NOT_RESULT_FIELDS = tuple(f.name for f in dataclasses.fields(SweepConfig)
                          if not f.metadata.get("changes_results", True))
#: the fields that vary run by run within one sweep: the seeds, the grid axes and their draw
PER_RUN_FIELDS = ("seeds", *axes.FIELDS, "sampled", "samples", "sample_seed")


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


def _as_shard(value) -> tuple[int, int] | None:
    """A shard as ``(index, count)``, from ``(I, N)``, ``"I/N"`` or ``{"index": I, "count":
    N}`` (how ``config.json`` records it); None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_shard(value)
    if isinstance(value, dict) and set(value) == {"index", "count"}:
        value = (value["index"], value["count"])
    if not isinstance(value, (tuple, list)) or len(value) != 2 \
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ConfigError(f"shard must be \"I/N\", (I, N) or {{\"index\": I, \"count\": N}} "
                          f"(integers); got {value!r}")
    return int(value[0]), int(value[1])


def _optimizer(name: Any):
    """The :class:`~corel_jax.optimizers.OptimizerSpec` registered as ``name``."""
    from corel_jax.optimizers import OPTIMIZERS

    if not isinstance(name, str):
        what = "a function" if callable(name) else type(name).__name__
        raise ConfigError(f"optimizer must be the name of a registered optimizer, not {what}: "
                          f"register a factory hp -> optax.GradientTransformation first "
                          f"(OPTIMIZERS.register(OptimizerSpec('my_optimizer', factory)), "
                          f"corel_jax.optimizers) and give optimizer='my_optimizer'")
    return OPTIMIZERS.get(name)


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


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` (shard ``I`` of ``N``, counted from 0) → ``(I, N)``.

    >>> parse_shard("2/3")
    (2, 3)
    """
    index, sep, count = text.strip().partition("/")
    try:
        if not sep:
            raise ValueError(text)
        return int(index), int(count)
    except ValueError:
        raise ConfigError(f"cannot parse shard {text!r}; use I/N, e.g. 0/3 (shard 0 of 3, "
                          f"counted from 0)") from None


def _parse_track(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


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
