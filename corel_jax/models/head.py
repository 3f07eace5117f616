"""The COREL output head: class prototypes ``W: [K, D]`` on top of an encoder, and the loss.

:class:`CorelNet` wraps any encoder (``x -> h: [B, D]``) and owns the head's parameters:

- ``W: [K, D]``: one prototype per class (Xavier-normal init), for every loss;
- ``b: [K]``: the output bias, for ``cce`` and ``center`` (CCE needs it; COREL losses have none);
- ``log_gamma``: for ``gaussian``, γ = exp(log_gamma), init γ = 0.5. Learning log γ keeps γ > 0
  whatever step Adam takes (a raw γ could cross zero and turn attraction into repulsion). With
  ``learn_gamma=False`` it stays a parameter but receives no gradient (γ fixed, as in the
  paper).

The center-loss centers are *state*, not parameters: the engine keeps them beside the params
and updates them with :func:`corel_jax.losses.update_centers` after each step.

:func:`similarity_matrix` and :func:`objective` are pure functions of ``(h, head)``, so the
engine, the evaluator and user code all compute predictions and losses the same way.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp

from corel_jax import losses, similarity
from corel_jax.errors import ConfigError

LOSS_NAMES = ("cce", "center", "cosine", "gaussian")

# Which similarity each loss predicts with (argmax over classes).
SIMILARITY_OF = {"cce": "dot", "center": "dot", "cosine": "cosine", "gaussian": "gaussian"}


def check_loss_name(loss: str) -> str:
    if loss not in LOSS_NAMES:
        raise ConfigError(f"unknown loss {loss!r}; choose one of {', '.join(LOSS_NAMES)}")
    return loss


@flax.struct.dataclass
class Head:
    """The head's values for one forward pass: ``W: [K, D]``, ``b: [K] | None``, ``gamma``."""

    W: jax.Array
    b: jax.Array | None = None
    gamma: jax.Array | None = None


class CorelNet(nn.Module):
    """Encoder + COREL head. ``__call__(x, train=) -> (h: [B, D], Head)``.

    Attributes:
      encoder: a Flax module mapping a batch ``x`` to representations ``h: [B, D]``; called as
        ``encoder(x, train=train)``.
      num_classes: K.
      loss: one of :data:`LOSS_NAMES`; decides which head parameters exist.
      gamma_init: initial γ for ``gaussian``.
      learn_gamma: learn γ (``gaussian`` only); otherwise it stays at its initial value.
    """

    encoder: nn.Module
    num_classes: int
    loss: str
    gamma_init: float = 0.5
    learn_gamma: bool = True

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        h = self.encoder(x, train=train)
        d = h.shape[-1]
        W = self.param("W", nn.initializers.xavier_normal(), (self.num_classes, d), jnp.float32)
        b = gamma = None
        if self.loss in ("cce", "center"):
            b = self.param("b", nn.initializers.zeros_init(), (self.num_classes,), jnp.float32)
        if self.loss == "gaussian":
            init = lambda _key: jnp.log(jnp.float32(self.gamma_init))
            log_gamma = self.param("log_gamma", init)
            # A fixed γ is still a (per-run) parameter, so a grid over γ needs no recompile;
            # its gradient is zero, so Adam never moves it.
            gamma = jnp.exp(log_gamma if self.learn_gamma else jax.lax.stop_gradient(log_gamma))
        return h, Head(W=W, b=b, gamma=gamma)


def similarity_matrix(loss: str, h, head: Head):
    """The ``[B, K]`` similarities the loss predicts with (argmax = predicted class)."""
    kind = SIMILARITY_OF[check_loss_name(loss)]
    if kind == "dot":
        sim = similarity.dot(h, head.W)
        return sim if head.b is None else sim + head.b
    if kind == "cosine":
        return similarity.cosine(h, head.W)
    return similarity.gaussian(h, head.W, head.gamma)


def objective(loss: str, h, head: Head, labels, *, lam, centers=None, where=None):
    """Per-example training loss ``[B]`` for the named loss.

    ``cce``: CCE (λ unused). ``center``: CCE + λ · center loss (Wen et al.; needs ``centers``).
    ``cosine``: Cosine-COREL(λ). ``gaussian``: Gaussian-COREL(λ, γ).
    """
    check_loss_name(loss)
    if loss == "cce":
        return losses.cce(h, head.W, labels, head.b, where=where)
    if loss == "center":
        if centers is None:
            raise ValueError("the center loss needs the class centers [K, D]")
        ce = losses.cce(h, head.W, labels, head.b, where=where)
        return ce + lam * losses.center_loss(h, centers, labels, where=where)
    if loss == "cosine":
        return losses.cosine_corel(h, head.W, labels, lam=lam, where=where)
    return losses.gaussian_corel(h, head.W, labels, lam=lam, gamma=head.gamma, where=where)


def head_arrays(head: Head) -> dict[str, Any]:
    """The head as a dict of arrays (for saving), without the absent entries."""
    return {k: v for k, v in (("W", head.W), ("b", head.b), ("gamma", head.gamma)) if v is not None}
