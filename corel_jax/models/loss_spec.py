"""Moved to :mod:`corel_jax.loss_spec`; these names stay until ``corel_jax/train`` (engine,
config, cli) imports from there."""

from corel_jax.loss_spec import LOSSES, LossSpec  # noqa: F401

get_loss = LOSSES.get
loss_names = LOSSES.names
