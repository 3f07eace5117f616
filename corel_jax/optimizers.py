"""Optimizers by name: :data:`OPTIMIZERS`, one :class:`OptimizerSpec` per optimizer.

A configuration names its optimizer in ``SweepConfig.optimizer`` (the CLI's ``--optimizer``).
The built-in ``adam`` and ``sgd`` are the engine's own
(:func:`corel_jax.train.engine.make_optimizer`: ``weight_decay``, ``decoupled_weight_decay``
and ``momentum`` apply as documented there). Any other optimizer is a *factory*: a function
of the run's hyperparameters returning an ``optax.GradientTransformation``, registered under
a name::

    import optax
    from corel_jax.optimizers import OPTIMIZERS, OptimizerSpec

    OPTIMIZERS.register(OptimizerSpec("clip_adamw", lambda hp: optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adamw(hp["lr"], weight_decay=hp["weight_decay"]))))
    SweepConfig(optimizer="clip_adamw", lr=(1e-3, 3e-4), weight_decay=1e-4, ...)

``hp`` maps every axis name (:data:`corel_jax.axes.NAMES`: ``lam``, ``lr``,
``weight_decay``, ``gamma``, ``center_alpha``, ``momentum``, ``warmup_epochs``) to the run's
value, a traced ``float32`` scalar, so the grid's runs still share one compiled program: use
the values as arrays (``hp["lr"] * 2``), never as Python numbers (``float(hp["lr"])``
fails). Under a ``schedule`` other than ``constant``, ``hp["lr"]`` is the scheduled learning
rate of the update (:func:`corel_jax.train.engine.learning_rate`); optax schedules of one's
own work too (the factory is called again at every update, with the same structure). The
factory decides everything else, weight decay included (``optax.adamw``'s ``mask`` leaves
parameters alone; :func:`corel_jax.train.engine.decay_mask` is the built-in optimizers':
every parameter but γ).

``config.json`` records the name (``"optimizer"``) and the factory's qualified name
(``"optimizer_factory"``, e.g. ``"mylib.optim.clip_adamw"``); a resume needs the same name
registered with a factory of the same qualified name, and is refused otherwise. This module
imports neither JAX nor optax.

>>> OPTIMIZERS.names()
('adam', 'adamw', 'sgd')
>>> OPTIMIZERS.get("sgd").factory is None  # built in
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from corel_jax.registry import Registry

__all__ = ["OPTIMIZERS", "OptimizerSpec", "factory_name"]


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer: ``factory(hp) -> optax.GradientTransformation`` of the run's
    hyperparameters (``{axis name: traced float32 scalar}``); ``None`` for the engine's
    built-in ``adam``, ``adamw`` and ``sgd``."""

    name: str
    factory: Callable[[Mapping[str, Any]], Any] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.factory is not None and not callable(self.factory):
            raise TypeError(f"optimizer {self.name!r}: factory must be a function hp -> "
                            f"optax.GradientTransformation; got {type(self.factory).__name__}")


def factory_name(factory: Callable[..., Any]) -> str:
    """What ``config.json`` records of a factory: its module and qualified name
    (``"mylib.optim.clip_adamw"``; a lambda's ends in ``<lambda>``)."""
    module = getattr(factory, "__module__", None) or type(factory).__module__
    qualname = getattr(factory, "__qualname__", None) or type(factory).__qualname__
    return f"{module}.{qualname}"


#: the registered optimizers: ``OPTIMIZERS.register(spec)``, ``OPTIMIZERS.get(name)``, ...
OPTIMIZERS: Registry[OptimizerSpec] = Registry("optimizer", OptimizerSpec)

OPTIMIZERS.register(OptimizerSpec("adam", None, "Adam (optax.adam); coupled or decoupled "
                                                "(AdamW) weight decay"))
OPTIMIZERS.register(OptimizerSpec("adamw", None, "Adam with decoupled weight decay "
                                                 "(optax.adamw): adam with "
                                                 "decoupled_weight_decay"))
OPTIMIZERS.register(OptimizerSpec("sgd", None, "SGD with momentum (optax.sgd)"))
