"""The COREL output head: class prototypes ``W: [K, D]`` on top of an encoder, and the loss.

:class:`CorelNet` wraps any encoder (``x -> h: [B, D]``) and owns the head's parameters, as the
loss's :class:`~corel_jax.loss_spec.LossSpec` asks for them:

- ``W: [K, D]``: one prototype per class (Xavier-normal init), for every loss;
- ``b: [K]``: the output bias (``spec.bias``: CCE and center);
- ``log_gamma`` (``spec.gamma``: Gaussian-COREL): γ = exp(log_gamma), init γ = 0.5. Learning
  log γ keeps γ > 0 whatever step Adam takes (a raw γ could cross zero and turn attraction
  into repulsion). With ``learn_gamma=False`` it stays a parameter but receives no gradient
  (γ fixed, as in the paper);
- the spec's own parameters (``spec.params``), in ``head.extra``.

Per-run auxiliary state (the center loss's centers) is not a parameter: the engine keeps it
beside the params and updates it with ``spec.update_aux`` after each step. The loss and the
prediction are the spec's, as functions of ``(h, head)``: ``spec.objective(h, head, labels,
lam=, aux=)`` and ``spec.predict_similarity(h, head)``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from corel_jax.loss_spec import LOSSES, Head, LossSpec

__all__ = ["CorelNet"]


class CorelNet(nn.Module):
    """Encoder + COREL head. ``__call__(x, train=) -> (h: [B, D], Head)``.

    Attributes:
      encoder: a Flax module mapping a batch ``x`` to representations ``h: [B, D]``; called as
        ``encoder(x, train=train)``.
      num_classes: K.
      loss: a registered loss name (:data:`~corel_jax.loss_spec.LOSSES`) or a
        :class:`~corel_jax.loss_spec.LossSpec`; decides which head parameters exist.
      gamma_init: initial γ (losses with ``spec.gamma``).
      learn_gamma: learn γ; otherwise it stays at its initial value.
    """

    encoder: nn.Module
    num_classes: int
    loss: str | LossSpec
    gamma_init: float = 0.5
    learn_gamma: bool = True

    @nn.compact
    def __call__(self, x, *, train: bool = False):
        spec = LOSSES.get(self.loss)
        h = self.encoder(x, train=train)
        d = h.shape[-1]
        k = self.num_classes
        W = self.param("W", lambda key, shape: spec.w_init(key, shape).astype(jnp.float32),
                       (k, d))
        b = gamma = None
        if spec.bias:
            b = self.param("b", nn.initializers.zeros_init(), (k,), jnp.float32)
        if spec.gamma:
            init = lambda _key: jnp.log(jnp.float32(self.gamma_init))
            log_gamma = self.param("log_gamma", init)
            # A fixed γ is still a (per-run) parameter, so a grid over γ needs no recompile;
            # its gradient is zero, so Adam never moves it.
            gamma = jnp.exp(log_gamma if self.learn_gamma else jax.lax.stop_gradient(log_gamma))
        extra = {name: self.param(name, lambda key, fn=fn: fn(key, k, d))
                 for name, fn in spec.params.items()}
        return h, Head(W=W, b=b, gamma=gamma, extra=extra)

