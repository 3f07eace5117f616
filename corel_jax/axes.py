"""The hyperparameter axes a sweep may grid over: one table, :data:`AXES`.

Every per-run scalar hyperparameter is one :class:`Axis` entry here, and everything else
derives from this table: the :class:`~corel_jax.train.config.SweepConfig` field's default and
validation, the run product (:attr:`SweepConfig.runs`), the run records (``runs.json``), the
``corel-jax train`` flag, the engine's per-run ``hp`` dictionary, resume checks, configuration
selection and the report's labels. Adding an axis is one entry here, its field line in
``SweepConfig`` (``axis_field("name")``), and its use in the training step
(:func:`corel_jax.train.engine.make_program`: ``hp["name"]``).

This module imports nothing beyond the standard library: run-directory readers use it
without JAX.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class Axis:
    """One hyperparameter that may take a different value in every run of a sweep.

    Attributes:
      name: the run attribute, the ``runs.json`` key and the key of the engine's ``hp``.
      field: the :class:`~corel_jax.train.config.SweepConfig` field holding its values.
      default: the value a sweep uses when none is given.
      label: its short name in Markdown tables (``λ``).
      text: its name in plain-text output and messages (``lambda``).
      help: the ``corel-jax train`` flag's help.
      enters: how the value reaches the program (documentation; the engine reads
        ``hp[name]`` there): ``loss`` (an argument of the objective), ``optimizer`` (injected
        into the optimizer state), ``init`` (a parameter's initial value), ``aux`` (the loss's
        auxiliary-state update).
      valid: the test every value must pass, and ``requirement`` the phrase an error gives.
      loss_hparam: used only by the losses that declare it in ``LossSpec.hparams``; a grid
        over it needs such a loss.
      before: the value a run record written before this axis existed had on it (``None``:
        such a record reads as "not recorded").
    """

    name: str
    field: str
    default: float
    label: str
    text: str
    help: str
    enters: str
    valid: Callable[[float], bool]
    requirement: str
    loss_hparam: bool = False
    before: float | None = None

    @property
    def flag(self) -> str:
        """The ``corel-jax train`` flag, e.g. ``--weight-decay``."""
        return "--" + self.field.replace("_", "-")


def _unit(v: float) -> bool:
    return 0.0 <= v <= 1.0


def _positive(v: float) -> bool:
    return v > 0 and math.isfinite(v)


def _non_negative(v: float) -> bool:
    return v >= 0 and math.isfinite(v)


def _momentum(v: float) -> bool:
    return 0.0 <= v < 1.0


#: every axis, in the order records and tables list them (λ first). Runs nest in
#: :data:`PRODUCT_ORDER`: λ innermost (after the seed), the others in this order, outermost
#: first.
AXES: tuple[Axis, ...] = (
    Axis("lam", "lams", 0.5, "λ", "lambda",
         "λ values in [0, 1] (a list 0.1,0.5,0.9 or start:stop:step, stop included); what λ "
         "weighs is the loss's (COREL: attraction; center: the center loss)",
         enters="loss", valid=_unit, requirement="lie in [0, 1]"),
    Axis("lr", "lr", 1e-3, "lr", "lr",
         "learning rate(s) (a list or range is a grid)",
         enters="optimizer", valid=_positive, requirement="be a positive number"),
    Axis("weight_decay", "weight_decay", 0.0, "wd", "wd",
         "weight decay(s) of every parameter but γ (a list or range is a grid); added to the "
         "gradient before Adam, as torch.optim.Adam's (0: none)",
         enters="optimizer", valid=_non_negative, requirement="be a number >= 0", before=0.0),
    Axis("gamma", "gamma", 0.5, "γ", "gamma",
         "γ of Gaussian-COREL, initial (learned) or with --fixed-gamma fixed (a list or range "
         "is a grid)",
         enters="init", valid=_positive, requirement="be a positive number", loss_hparam=True),
    Axis("center_alpha", "center_alpha", 0.5, "α", "alpha",
         "center-loss update rate α (a list or range is a grid)",
         enters="aux", valid=_unit, requirement="lie in [0, 1]", loss_hparam=True),
    Axis("momentum", "momentum", 0.9, "μ", "momentum",
         "momentum of --optimizer sgd (a list or range is a grid)",
         enters="optimizer", valid=_momentum, requirement="lie in [0, 1)", before=0.9),
    Axis("warmup_epochs", "warmup_epochs", 0.0, "warmup", "warmup",
         "epochs of linear learning-rate warmup of --schedule warmup or warmup_cosine (may be "
         "fractional; a list or range is a grid)",
         enters="optimizer", valid=_non_negative, requirement="be a number >= 0", before=0.0),
)

#: the axes by name
BY_NAME: Mapping[str, Axis] = {a.name: a for a in AXES}
#: the axis names, in :data:`AXES` order
NAMES: tuple[str, ...] = tuple(BY_NAME)
#: the ``SweepConfig`` fields of the axes
FIELDS: tuple[str, ...] = tuple(a.field for a in AXES)
#: the order runs nest in, outermost first (λ innermost; the seed is inside λ)
PRODUCT_ORDER: tuple[Axis, ...] = AXES[1:] + AXES[:1]
#: the names of the axes a loss may declare it uses (``LossSpec.hparams``)
LOSS_HPARAMS: tuple[str, ...] = tuple(a.name for a in AXES if a.loss_hparam)


def axis_field(name: str) -> Any:
    """The ``SweepConfig`` field of axis ``name``: its default from :data:`AXES`, and the axis
    in the field's metadata (``metadata["axis"]``)."""
    axis = BY_NAME[name]
    default = axis.default if name != "lam" else (axis.default,)  # λ is always a tuple
    return dataclasses.field(default=default, metadata={"axis": axis})


def record_value(record: Mapping[str, Any], name: str) -> float | None:
    """A run record's value on axis ``name``: a float, the axis's :attr:`Axis.before` value
    where the record predates the axis, or ``None`` ("not recorded")."""
    v = record.get(name, BY_NAME[name].before)
    return None if v is None else float(v)
