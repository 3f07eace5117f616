"""Gaussian-COREL as the original PyTorch code computes it; for the λ-curve comparison only.

This is NOT part of the library's API. Importing this module registers it as the loss
``gaussian_original`` (:data:`SPEC`: Gaussian-COREL's spec with this objective), which
``experiments/reproduce.py`` and ``experiments/large_lambda.py`` train by that name beside the
clean :func:`corel_jax.losses.gaussian_corel`, to answer one question the paper leaves open: do
its sharply peaked Gaussian λ curves (best at λ = 0.5) come from the loss or from the code?

The original (``kiankd/corel2019``, ``corel/loss_functions.py``, ``GaussianARLoss.forward``,
commit 34e3b97; ``s = −γ‖h − w_j‖²`` are its "predictions") has two branches:

- ``λ == 0.5``: ``log_softmax`` of ``s``, i.e. CCE on the Gaussian logits,
  ``γ d_y + logsumexp_j(−γ d_j)`` (there averaged over the whole ``[N, K]`` matrix, a constant
  factor 1/K that Adam's scale invariance removes) -- the clean loss up to a factor 2.
- every other λ: the attraction tensor is built with λ already in it and ``arloss`` multiplies
  by λ again; the repulsion is built with ``1 − λ`` and multiplied by ``1 − λ`` again, and its
  log-sum-exp is the naive one, ``log(sum(exp(s)) + 1e-10)``::

      L = λ² γ d_y + (1 − λ)² log(Σ_j exp(−γ d_j) + 1e-10)

Here, as the issue describes: at λ = 0.5 exactly the clean loss; at every other λ the formula
above, naive ``log(sum(exp(·)))`` with the original's ``+ 1e-10`` (which floors the repulsion
at ``(1 − λ)² log 1e-10 ≈ −23 (1 − λ)²`` and switches its gradient off once every prototype is
farther than ``γ d ≈ 23``; the clean loss has no such floor). γ is learned as in the library's
head (as ``log γ``; the original learns γ directly, init 0.5 in both).

>>> import jax.numpy as jnp
>>> from corel_jax.losses import gaussian_corel
>>> from corel_jax.loss_spec import Head
>>> h, W = jnp.array([[0.0, 0.0], [3.0, 0.0]]), jnp.array([[0.0, 0.0], [1.0, 1.0]])
>>> y, head = jnp.array([0, 1]), Head(W=W, gamma=jnp.float32(0.5))
>>> bool(jnp.allclose(original_gaussian_objective(h, head, y, lam=0.5),
...                   gaussian_corel(h, W, y, lam=0.5, gamma=0.5)))
True
>>> original_gaussian_objective(h, head, y, lam=0.8).round(4)  # 0.64·γd_y + 0.04·log Σ e^{-γd}
Array([0.0125, 1.5051], dtype=float32)
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from corel_jax.loss_spec import LOSSES
from corel_jax.losses import gaussian_corel
from corel_jax.similarity import sqdist

#: the original's constant inside the log of the naive log-sum-exp
LOG_EPS = 1e-10


def original_gaussian_objective(h, head, labels, *, lam, aux=None):
    """Per-example training loss ``[B]`` of the original code's Gaussian-COREL (see module doc).

    A :attr:`~corel_jax.loss_spec.LossSpec.objective`: ``h: [B, D]``, ``head.W: [K, D]``,
    ``head.gamma`` a scalar, ``labels: [B]``; ``lam`` may be a traced per-run scalar.
    """
    del aux
    lam = jnp.asarray(lam, jnp.float32)
    gamma = head.gamma
    d = sqdist(h, head.W)  # [B, K]
    s = -gamma * d
    d_y = jnp.take_along_axis(d, labels[:, None].astype(jnp.int32), axis=1)[:, 0]
    is_half = lam == 0.5
    # The naive branch is evaluated on dummy zeros when λ = 0.5, so that its (possibly
    # non-finite) gradient cannot leak through jnp.where into the runs that do not use it.
    s_naive = jnp.where(is_half, jnp.zeros_like(s), s)
    naive = lam * lam * gamma * d_y + (1.0 - lam) ** 2 * jnp.log(
        jnp.sum(jnp.exp(s_naive), axis=1) + LOG_EPS)
    clean = gaussian_corel(h, head.W, labels, lam=lam, gamma=gamma)
    return jnp.where(is_half, clean, naive)


#: Gaussian-COREL's spec (head, similarity, λ, γ) with the original code's objective
SPEC = dataclasses.replace(
    LOSSES.get("gaussian"), name="gaussian_original", objective=original_gaussian_objective,
    description="Gaussian-COREL as the original PyTorch code computes it "
                "(experiments/gaussian_original.py); not the library's loss")
# replace=True: a second import of this file (e.g. by its path) registers the same loss again
LOSSES.register(SPEC, replace=True)
