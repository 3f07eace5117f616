"""Loss specs: everything the engine, the head and the evaluator need to know about a loss,
and :data:`LOSSES`, the registry configurations name losses from.

A :class:`LossSpec` is the one place that defines a training loss:

- ``name``: what configs, the CLI and run directories call it;
- the head parameters it needs: the prototypes ``W: [K, D]`` always (initialised by
  ``w_init(key, (K, D))``, Xavier-normal by default), an output bias ``b``
  (``bias=True``), a bandwidth γ (``gamma=True``; learned as ``log_gamma``, or fixed), and
  any further parameters of its own (``params``: ``{name: init(key, K, D) -> array}``,
  available as ``head.extra[name]``);
- ``objective(h, head, labels, *, lam, aux) -> [B]``: the per-example training loss;
- ``similarity``: the ``[B, K]`` similarity it predicts with (argmax = the class), one of
  :data:`SIMILARITIES`; the run directory records it, so the (JAX-free) evaluator scores
  prototypes the same way;
- optional per-run auxiliary state (the center loss's class centers are one case):
  ``init_aux(head, hp)`` gives a run's initial state, ``update_aux(aux, h, labels, *, head,
  hp, where)`` the state after a training step (``h`` carries no gradient; ``hp`` is the
  run's hyperparameters, e.g. ``hp["center_alpha"]``; ``where`` masks out filler examples);
- ``lam``: what λ means for this loss (None: the loss ignores λ; reports then show "—");
- ``hparams``: which per-run hyperparameters besides λ and the learning rate it reads
  (``"gamma"``, ``"center_alpha"``); a grid over any other is refused.

A spec is the only way to change a loss: derive one (``dataclasses.replace``,
:func:`fixed_prototypes`, a subclass overriding :meth:`LossSpec.predict_similarity`),
register it with ``LOSSES.register(spec)`` and train it by its name. The paper's four
losses (Eq. 2, 5, 6 of Kenyon-Dean et al. 2019; :mod:`corel_jax.losses`) are registered here.

>>> LOSSES.names()[:4]  # the paper's, first (a user's follow, in registration order)
('cce', 'center', 'cosine', 'gaussian')
>>> LOSSES.get("center").lam
'the weight of the center loss beside CCE'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from corel_jax import axes, losses, similarity
from corel_jax.errors import ConfigError
from corel_jax.registry import Registry

#: the similarities a loss may predict with (the evaluator knows these three)
SIMILARITIES = ("dot", "cosine", "gaussian")
#: the per-run hyperparameters a loss may declare it reads (``LossSpec.hparams``) besides λ
LOSS_HPARAMS = axes.LOSS_HPARAMS


@flax.struct.dataclass
class Head:
    """The head's values for one forward pass.

    ``W: [K, D]``; ``b: [K]`` or None; ``gamma``: scalar or None; ``extra``: the loss's own
    parameters (:attr:`LossSpec.params`), by name.
    """

    W: jax.Array
    b: jax.Array | None = None
    gamma: jax.Array | None = None
    extra: dict[str, jax.Array] = flax.struct.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class LossSpec:
    """One training loss (see the module docstring).

    Raises :class:`~corel_jax.errors.ConfigError` on construction for an empty name, a
    similarity not in :data:`SIMILARITIES`, the gaussian similarity without ``gamma=True``,
    only one of ``init_aux``/``update_aux``, an ``hparams`` entry not in :data:`LOSS_HPARAMS`,
    or a ``params`` name the head already uses (``W``, ``b``, ``log_gamma``).
    """

    name: str
    objective: Callable[..., jax.Array]
    similarity: str = "dot"
    bias: bool = False
    gamma: bool = False
    params: Mapping[str, Callable[[jax.Array, int, int], jax.Array]] = \
        dataclasses.field(default_factory=dict)
    w_init: Callable[[jax.Array, tuple[int, int]], jax.Array] = \
        jax.nn.initializers.xavier_normal()
    init_aux: Callable[[Head, dict[str, Any]], Any] | None = None
    update_aux: Callable[..., Any] | None = None
    lam: str | None = "the weight of attraction"
    hparams: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"a loss needs a non-empty name; got {self.name!r}")
        if self.similarity not in SIMILARITIES:
            raise ConfigError(f"loss {self.name!r}: similarity must be one of "
                              f"{', '.join(SIMILARITIES)}; got {self.similarity!r}")
        if self.similarity == "gaussian" and not self.gamma:
            raise ConfigError(f"loss {self.name!r}: the gaussian similarity needs gamma=True")
        if (self.init_aux is None) != (self.update_aux is None):
            raise ConfigError(f"loss {self.name!r}: give both init_aux and update_aux, or "
                              f"neither")
        object.__setattr__(self, "hparams", tuple(self.hparams))
        bad = [h for h in self.hparams if h not in LOSS_HPARAMS]
        if bad:
            raise ConfigError(f"loss {self.name!r}: unknown hparams {bad}; choose from "
                              f"{', '.join(LOSS_HPARAMS)}")
        reserved = {"W", "b", "log_gamma"} & set(self.params)
        if reserved:
            raise ConfigError(f"loss {self.name!r}: head parameter names {sorted(reserved)} "
                              f"are taken")

    def predict_similarity(self, h: jax.Array, head: Head) -> jax.Array:
        """The ``[B, K]`` similarities the loss predicts with (argmax = predicted class):
        ``"dot"`` (plus the bias, if the head has one), ``"cosine"`` or ``"gaussian"`` (with
        the head's γ), as :attr:`similarity` names.

        The engine predicts (validation accuracy, test predictions) through this method, so a
        subclass may override it for a variant of a similarity (e.g. a differently normalised
        cosine); the JAX-free evaluator scores prototypes with the named :attr:`similarity`.
        """
        if self.similarity == "dot":
            sim = similarity.dot(h, head.W)
            return sim if head.b is None else sim + head.b
        if self.similarity == "cosine":
            return similarity.cosine(h, head.W)
        return similarity.gaussian(h, head.W, _gamma(head))


# --------------------------------------------------------------------------- the registry

#: the registered losses: ``LOSSES.register(spec)``, ``LOSSES.get(name)``, ``LOSSES.names()``
LOSSES: Registry[LossSpec] = Registry("loss", LossSpec, plural="losses")


def fixed_prototypes(spec: str | LossSpec, *, name: str | None = None) -> LossSpec:
    """``spec`` with its prototypes ``W: [K, D]`` left at their init (not trained).

    The objective sees ``stop_gradient(W)``, so ``W``'s gradient is exactly zero and Adam
    never moves it (its moments stay zero); the encoder and the other head parameters
    (``b``, a learned γ, ``params``) train as before, and prediction is unchanged. Coupled
    weight decay (``SweepConfig.weight_decay``) still shrinks ``W``: it acts outside the
    objective. ``spec`` is a registered name or a spec; ``name`` defaults to
    ``<spec.name>_fixed_w``. Register the result to train it by name::

        LOSSES.register(fixed_prototypes("cosine"))   # trains as "cosine_fixed_w"

    >>> fixed_prototypes("cosine").name
    'cosine_fixed_w'
    """
    base = LOSSES.get(spec)

    def objective(h: jax.Array, head: Head, labels: jax.Array, *, lam: jax.Array,
                  aux: Any) -> jax.Array:
        fixed = dataclasses.replace(head, W=jax.lax.stop_gradient(head.W))
        return base.objective(h, fixed, labels, lam=lam, aux=aux)

    return dataclasses.replace(
        base, name=name or f"{base.name}_fixed_w", objective=objective,
        description=f"{base.description or base.name}, prototypes fixed at their init")


# --------------------------------------------------------------------------- the paper's losses


def _gamma(head: Head) -> jax.Array:
    """The head's γ, which a loss with ``gamma=True`` (every gaussian one) has."""
    if head.gamma is None:
        raise ValueError("this loss needs the head's gamma: give its LossSpec gamma=True")
    return head.gamma


def _cce_objective(h: jax.Array, head: Head, labels: jax.Array, *, lam: jax.Array,
                   aux: Any) -> jax.Array:
    del lam, aux
    return losses.cce(h, head.W, labels, head.b)


def _center_objective(h: jax.Array, head: Head, labels: jax.Array, *, lam: jax.Array,
                      aux: jax.Array) -> jax.Array:
    ce = losses.cce(h, head.W, labels, head.b)
    return ce + lam * losses.center_loss(h, aux, labels)


def _center_init(head: Head, hp: Mapping[str, Any]) -> jax.Array:
    del hp
    return jnp.zeros(head.W.shape, jnp.float32)


def _center_update(centers: jax.Array, h: jax.Array, labels: jax.Array, *, head: Head,
                   hp: Mapping[str, Any], where: jax.Array | None) -> jax.Array:
    del head
    return losses.update_centers(centers, h, labels, alpha=hp["center_alpha"], where=where)


def _cosine_objective(h: jax.Array, head: Head, labels: jax.Array, *, lam: jax.Array,
                      aux: Any) -> jax.Array:
    del aux
    return losses.cosine_corel(h, head.W, labels, lam=lam)


def _gaussian_objective(h: jax.Array, head: Head, labels: jax.Array, *, lam: jax.Array,
                        aux: Any) -> jax.Array:
    del aux
    return losses.gaussian_corel(h, head.W, labels, lam=lam, gamma=_gamma(head))


CCE = LOSSES.register(LossSpec(
    "cce", _cce_objective, similarity="dot", bias=True, lam=None,
    description="categorical cross-entropy (Eq. 2)"))
CENTER = LOSSES.register(LossSpec(
    "center", _center_objective, similarity="dot", bias=True, init_aux=_center_init,
    update_aux=_center_update, lam="the weight of the center loss beside CCE",
    hparams=("center_alpha",), description="CCE + λ · center loss (Wen et al. 2016)"))
COSINE = LOSSES.register(LossSpec(
    "cosine", _cosine_objective, similarity="cosine",
    description="Cosine-COREL (Eq. 5)"))
GAUSSIAN = LOSSES.register(LossSpec(
    "gaussian", _gaussian_objective, similarity="gaussian", gamma=True, hparams=("gamma",),
    description="Gaussian-COREL (Eq. 6)"))
