"""The sweep engine: many runs (seeds × λ) trained by one compiled program.

A run is a pure function of its PRNG key and its hyperparameters (as in purejaxrl):
:func:`make_program` builds per-run functions — ``init(key, hp)``, ``train_epoch(state, hp,
data)``, ``evaluate(params, x, y)``, ``represent(params, x)`` — and the driver applies
``jax.jit(jax.vmap(...))`` over a leading run axis. ``hp`` holds the run's scalar
hyperparameters (the axes of :data:`corel_jax.axes.AXES`: λ, learning rate, weight decay, γ,
center-loss α) as traced values, so one compiled epoch serves every run, every epoch and every
value of the grid.

Inside an epoch each run draws its own shuffle from its own key, and the minibatch steps are
one ``lax.scan`` over the device-resident training set. Every example is trained on once per
epoch: the last, partial minibatch is filled up with examples of the epoch's permutation that
are masked out of the loss and the center update, so every step has one compiled shape. After
the steps the run is evaluated on the validation set; the parameters of the best validation
epoch are kept on the device, so the test metrics and representations "at the best epoch" are
computed once, at the end, from them (evaluation is deterministic, so this equals evaluating
the test set every epoch).

A run whose loss or parameters become NaN/inf is frozen at its last finite state and marked
diverged with the epoch; the other runs in the program are unaffected. With early stopping
(``cfg.patience``) a run whose best validation accuracy has not improved for ``patience``
epochs is frozen the same way and marked stopped; its state is then exactly that of the same
run trained alone for that many epochs. Groups of runs that have all stopped are skipped
(``lax.cond``), and the driver ends a program once every run in it has stopped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import optax
from optax.tree_utils import tree_where

from corel_jax import axes, losses
from corel_jax.errors import ConfigError
from corel_jax.loss_spec import LOSSES, LossSpec
from corel_jax.models.head import CorelNet
from corel_jax.optimizers import OPTIMIZERS
from corel_jax.train.config import SweepConfig
from corel_jax.train.stopping import improves, should_stop
from corel_jax.train.xla_options import engine_compiler_options


@flax.struct.dataclass
class RunState:
    """Everything one run carries between epochs (a leading run axis when vmapped)."""

    params: Any
    opt_state: Any
    aux: Any  # the loss's per-run state (center loss: the centers [K, D]; else None)
    key: jax.Array  # the run's PRNG key, split every epoch
    best_params: Any  # params at the best validation epoch so far
    best_val_acc: jax.Array  # float32, -1 before the first epoch
    best_epoch: jax.Array  # int32, 1-based; 0 before the first epoch
    diverged_epoch: jax.Array  # int32, 1-based epoch the run went NaN/inf; 0 = healthy
    stopped_epoch: jax.Array  # int32, 1-based epoch early stopping ended the run; 0 = going
    epoch: jax.Array  # int32, epochs completed

    @property
    def active(self) -> jax.Array:
        """Whether the run still trains (neither diverged nor stopped)."""
        return (self.diverged_epoch == 0) & (self.stopped_epoch == 0)


@flax.struct.dataclass
class DeviceData:
    """The splits the compiled epoch reads; placed on the device once per sweep."""

    x_train: jax.Array
    y_train: jax.Array
    x_val: jax.Array
    y_val: jax.Array


def hparams(runs) -> dict[str, jax.Array]:
    """The ``hp`` the compiled functions take: ``{axis name: float32 [R]}`` over every axis of
    :data:`corel_jax.axes.AXES`, for runs given as :class:`~corel_jax.train.config.Run` s
    (e.g. :attr:`SweepConfig.runs`) or as run records (a record older than an axis reads as
    the axis's :attr:`~corel_jax.axes.Axis.before` value)."""
    if runs and isinstance(runs[0], dict):
        get = axes.record_value
    else:
        get = getattr
    return {k: jnp.asarray([float(get(r, k)) for r in runs], jnp.float32) for k in axes.NAMES}


def decay_mask(params) -> Any:
    """Weight-decay mask of the built-in optimizers: every parameter but γ (``log_gamma``), a
    loss hyperparameter that stays fixed unless learned, never a weight to shrink. An
    optimizer factory of one's own may pass it as ``mask=`` (``optax.adamw``,
    ``optax.add_decayed_weights``)."""
    return jax.tree_util.tree_map_with_path(
        lambda path, _: not any(getattr(k, "key", None) == "log_gamma" for k in path), params)


#: the optimizer's injected hyperparameters (``opt_state.hyperparams``) -> their axis in ``hp``
INJECTED = {"learning_rate": "lr", "weight_decay": "weight_decay", "momentum": "momentum"}


def make_optimizer(cfg: SweepConfig) -> optax.GradientTransformation:
    """``cfg.optimizer`` with its hyperparameters injected into the optimizer state
    (``opt_state.hyperparams``, see :data:`INJECTED`), so that they are per-run traced values.

    Adam (``optax.adam``; ``adamw``: with decoupled decay) or SGD with momentum
    (``optax.sgd``). The state holds a weight decay
    only when a run has one (every run's 0: none; so does a checkpoint written before weight
    decay existed). The decay is coupled (``wd · θ`` added to the gradient first, as
    ``torch.optim.Adam(weight_decay=...)``: an L2 penalty ``wd/2 · ‖θ‖²``) or, with
    ``cfg.decoupled_weight_decay``, decoupled (``optax.adamw``: ``θ ← θ − lr · (adam + wd · θ)``).
    The learning-rate schedule is applied per step by the engine (:func:`learning_rate`).
    """
    decay = any(cfg.weight_decay)
    # adamw: adam with decoupled weight decay (the same optimizer, under its usual name)
    decoupled = cfg.decoupled_weight_decay or cfg.optimizer == "adamw"
    if not decay and cfg.optimizer in ("adam", "adamw"):
        # plain Adam, the state as it has always been (checkpoints resume across versions)
        return optax.inject_hyperparams(optax.adam)(learning_rate=cfg.lr[0])

    def coupled(weight_decay, tx):
        return optax.chain(optax.add_decayed_weights(weight_decay, mask=decay_mask), tx)

    # inject_hyperparams reads the factory's signature: one factory per combination
    def adam_with_decay(learning_rate, weight_decay):
        if decoupled:
            return optax.adamw(learning_rate, weight_decay=weight_decay, mask=decay_mask)
        return coupled(weight_decay, optax.adam(learning_rate))

    def sgd(learning_rate, momentum):
        return optax.sgd(learning_rate, momentum=momentum)

    def sgd_with_decay(learning_rate, momentum, weight_decay):
        return coupled(weight_decay, sgd(learning_rate, momentum))

    if cfg.optimizer in ("adam", "adamw"):
        return optax.inject_hyperparams(adam_with_decay)(
            learning_rate=cfg.lr[0], weight_decay=cfg.weight_decay[0])
    if decay:
        return optax.inject_hyperparams(sgd_with_decay)(
            learning_rate=cfg.lr[0], momentum=cfg.momentum[0],
            weight_decay=cfg.weight_decay[0])
    return optax.inject_hyperparams(sgd)(learning_rate=cfg.lr[0], momentum=cfg.momentum[0])


def optimizer_factory(cfg: SweepConfig, example_hp: dict
                      ) -> Callable[[dict], optax.GradientTransformation]:
    """``hp -> optax.GradientTransformation`` of ``cfg.optimizer``: the built-in optimizer
    (:func:`make_optimizer`, the same whatever ``hp``: its hyperparameters are in its state),
    or the registered factory (:mod:`corel_jax.optimizers`), built anew from the run's traced
    ``hp`` wherever the engine needs it. A factory that fails on traced hyperparameters
    (``example_hp``'s shapes), or returns something else than a ``GradientTransformation``,
    is a :class:`~corel_jax.errors.ConfigError` here, before anything is compiled."""
    spec = OPTIMIZERS.get(cfg.optimizer)
    factory = spec.factory
    if factory is None:
        tx = make_optimizer(cfg)
        return lambda hp: tx
    usage = (f"a factory takes hp, the run's hyperparameters as traced float32 scalars "
             f"({', '.join(axes.NAMES)}), and returns an optax.GradientTransformation, e.g. "
             f"lambda hp: optax.adam(hp['lr'])")

    def build(hp: dict) -> optax.GradientTransformation:
        try:
            tx = factory(dict(hp))
        except Exception as e:
            raise ConfigError(f"optimizer {spec.name!r}: its factory failed "
                              f"({type(e).__name__}: {e}); {usage}") from e
        if not isinstance(tx, optax.GradientTransformation):
            raise ConfigError(f"optimizer {spec.name!r}: its factory returned "
                              f"{type(tx).__name__}, not an optax.GradientTransformation; "
                              f"{usage}")
        return tx

    jax.eval_shape(lambda hp: (build(hp), 0)[1], example_hp)  # traced, as in the program
    return build


def learning_rate(hp: dict, count: jax.Array, *, schedule: str, steps_per_epoch: int,
                  total_steps: int) -> jax.Array:
    """The learning rate of update ``count`` (0-based) under ``schedule`` (see
    :class:`~corel_jax.train.config.SweepConfig`): ``hp["lr"]`` times the schedule's factor.

    Written here rather than with ``optax.warmup_cosine_decay_schedule`` because the warmup
    length is a per-run traced value (a grid axis), which optax's schedules take only as a
    Python number.
    """
    step = jnp.asarray(count, jnp.float32)
    factor = jnp.float32(1.0)
    start = jnp.float32(0.0)
    if "warmup" in schedule:
        start = hp["warmup_epochs"] * steps_per_epoch
        factor = jnp.where(start > 0, jnp.minimum(1.0, (step + 1) / jnp.maximum(start, 1.0)),
                           1.0)
    if "cosine" in schedule:
        progress = jnp.clip((step - start) / jnp.maximum(total_steps - start, 1.0), 0.0, 1.0)
        factor = factor * 0.5 * (1.0 + jnp.cos(jnp.pi * progress))
    return hp["lr"] * factor


class Program(NamedTuple):
    """Per-run pure functions; vmap them over runs (see :func:`compile_program`)."""

    net: CorelNet
    init: Callable[[jax.Array, dict], RunState]
    # (params, opt_state, aux, x, y, valid, hp, dropout_key)
    #   -> (params, opt_state, aux, loss)
    train_step: Callable
    train_epoch: Callable[[RunState, dict, DeviceData], tuple[RunState, dict]]
    evaluate: Callable[[Any, jax.Array, jax.Array], jax.Array]
    represent: Callable[[Any, jax.Array], tuple[jax.Array, jax.Array, dict]]
    default_hparams: dict  # the hp of the configuration's first run


def update_best(best_val_acc, best_epoch, val_acc, epoch, healthy):
    """Best-epoch bookkeeping: strictly better validation accuracy moves the best epoch.

    Ties keep the earlier epoch. Unhealthy (diverged) epochs never count.
    Returns ``(improved, new_best_val_acc, new_best_epoch)``.
    """
    improved = improves(val_acc, best_val_acc, healthy)
    return (
        improved,
        jnp.where(improved, val_acc, best_val_acc),
        jnp.where(improved, epoch, best_epoch),
    )


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


def _batched(fn, x, batch: int):
    """Applies ``fn`` to ``x`` in chunks of ``batch`` rows (``lax.map``) to bound memory.

    Returns the concatenated outputs for the first ``len(x)`` rows.
    """
    n = x.shape[0]
    chunks = -(-n // batch)
    pad = chunks * batch - n
    xp = jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1))
    out = jax.lax.map(fn, xp.reshape((chunks, batch) + x.shape[1:]))
    return jax.tree.map(lambda o: o.reshape((chunks * batch,) + o.shape[2:])[:n], out)


def make_program(cfg: SweepConfig, encoder, num_classes: int, example_x,
                 loss: LossSpec | None = None, augment: Callable | None = None) -> Program:
    """Builds the per-run functions of a sweep.

    Args:
      cfg: the sweep configuration (its grids give the per-run ``hp``; everything else is
        fixed for the program).
      encoder: a Flax module ``x -> h: [B, D]`` called as ``encoder(x, train=...)``.
      num_classes: K.
      example_x: one batch of inputs (any batch size) for shape inference at init.
      loss: the loss spec (default: the one registered as ``cfg.loss``).
      augment: optional ``(key, x [B, ...]) -> x [B, ...]`` applied to every training
        minibatch (e.g. :func:`corel_jax.data.augment.shift_augment`), with a key of the run's
        own; evaluation never sees it.
    """
    spec = LOSSES.get(cfg.loss if loss is None else loss)
    net = CorelNet(encoder=encoder, num_classes=num_classes, loss=spec,
                   gamma_init=cfg.gamma[0], learn_gamma=cfg.learn_gamma)
    batch = cfg.batch_size
    patience, min_epochs = cfg.patience, cfg.min_epochs
    predict_sim = spec.predict_similarity
    example_x = jnp.asarray(example_x[:1])
    default_hparams = {k: v[0] for k, v in hparams(cfg.runs[:1]).items()}
    tx_of = optimizer_factory(cfg, default_hparams)
    # a factory's schedule: the update count comes with every step (the built-in optimizers
    # count in their state)
    factory_schedule = OPTIMIZERS.get(cfg.optimizer).factory is not None \
        and cfg.schedule != "constant"

    def init(key, hp, x_example=example_x):
        init_key, run_key = jax.random.split(key)
        params = net.init({"params": init_key, "dropout": init_key}, x_example)
        if spec.gamma:  # the run's own initial (or fixed) γ
            inner = dict(params["params"])
            inner["log_gamma"] = jnp.log(jnp.asarray(hp["gamma"], jnp.float32))
            params = {**params, "params": inner}
        _, head = net.apply(params, x_example)
        aux = spec.init_aux(head, hp) if spec.init_aux is not None else None
        opt_state = tx_of(hp).init(params)
        # a copy: the state may be donated, and must not take the caller's hp buffer with it
        for name, axis in INJECTED.items():
            if isinstance(getattr(opt_state, "hyperparams", None), dict) \
                    and name in opt_state.hyperparams:
                opt_state.hyperparams[name] = jnp.array(hp[axis], jnp.float32, copy=True)
        return RunState(
            params=params, opt_state=opt_state, aux=aux, key=run_key,
            best_params=params, best_val_acc=jnp.float32(-1.0), best_epoch=jnp.int32(0),
            diverged_epoch=jnp.int32(0), stopped_epoch=jnp.int32(0), epoch=jnp.int32(0),
        )

    def loss_fn(params, aux, x, y, valid, lam, dropout_key):
        h, head = net.apply(params, x, train=True, rngs={"dropout": dropout_key})
        per_example = spec.objective(h, head, y, lam=lam, aux=aux)
        # The filler examples of the last, partial minibatch do not count.
        total = jnp.sum(jnp.where(valid, per_example, 0.0))
        return total / jnp.maximum(jnp.sum(valid), 1), (h, head)

    def train_step(params, opt_state, aux, x, y, valid, hp, dropout_key):
        (loss, (h, head)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, aux, x, y, valid, hp["lam"], dropout_key)

        updates, opt_state = tx_of(hp).update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        if spec.update_aux is not None:
            aux = spec.update_aux(aux, jax.lax.stop_gradient(h), y,
                                  head=jax.lax.stop_gradient(head), hp=hp, where=valid)
        return params, opt_state, aux, loss

    def step(carry, inputs, data, hp):
        idx, valid, dropout_key, *count = inputs
        x = data.x_train[idx]
        if augment is not None:
            # split only here, so runs without augmentation keep their dropout keys
            augment_key, dropout_key = jax.random.split(dropout_key)
            x = augment(augment_key, x)
        params, opt_state, aux = carry
        if factory_schedule:  # the factory's hp["lr"]: this update's learning rate
            steps = -(-data.y_train.shape[0] // batch)
            hp = {**hp, "lr": learning_rate(hp, count[0], schedule=cfg.schedule,
                                            steps_per_epoch=steps,
                                            total_steps=cfg.epochs * steps)}
        elif cfg.schedule != "constant":  # this update's learning rate, from the update count
            steps = -(-data.y_train.shape[0] // batch)
            lr = learning_rate(hp, opt_state.count, schedule=cfg.schedule,
                               steps_per_epoch=steps, total_steps=cfg.epochs * steps)
            opt_state = opt_state._replace(
                hyperparams={**opt_state.hyperparams, "learning_rate": lr})
        *carry, loss = train_step(params, opt_state, aux, x, data.y_train[idx], valid, hp,
                                  dropout_key)
        return tuple(carry), loss

    def evaluate(params, x, y):
        def chunk(xb):
            h, head = net.apply(params, xb)
            return losses.predict(predict_sim(h, head))

        pred = _batched(chunk, x, cfg.eval_batch_size)
        return jnp.mean((pred == y).astype(jnp.float32))

    def represent(params, x):
        def chunk(xb):
            h, head = net.apply(params, xb)
            return h.astype(jnp.float32), losses.predict(predict_sim(h, head))

        h, pred = _batched(chunk, x, cfg.eval_batch_size)
        _, head = net.apply(params, x[:1])
        named = {"W": head.W, "b": head.b, "gamma": head.gamma, **head.extra}
        return h, pred, {k: v for k, v in named.items() if v is not None}

    def train_epoch(state: RunState, hp, data: DeviceData):
        key, perm_key, drop_key = jax.random.split(state.key, 3)
        n = data.y_train.shape[0]
        steps = -(-n // batch)
        perm = jax.random.permutation(perm_key, n)
        # Fill the last minibatch up with the permutation's first examples, masked out.
        fill = steps * batch - n
        idx = jnp.concatenate([perm, perm[:fill]]).reshape(steps, batch)
        valid = (jnp.arange(steps * batch) < n).reshape(steps, batch)
        drop_keys = jax.random.split(drop_key, steps)
        inputs = (idx, valid, drop_keys)
        if factory_schedule:  # the updates' counts: epochs done x steps + the step
            inputs += (state.epoch * steps + jnp.arange(steps, dtype=jnp.int32),)
        (params, opt_state, aux), step_losses = jax.lax.scan(
            functools.partial(step, data=data, hp=hp),
            (state.params, state.opt_state, state.aux), inputs)
        # Each step's loss is a mean over its real examples: weight it by their number, so
        # the epoch's loss is the mean over the n examples (a partial last batch counts less).
        train_loss = jnp.sum(step_losses * jnp.sum(valid, axis=1)) / n
        epoch = state.epoch + 1

        finite = jnp.isfinite(train_loss) & _all_finite(params)
        healthy = finite & state.active
        # A diverged run keeps its last finite state: frozen, so it cannot poison anything.
        params = tree_where(healthy, params, state.params)
        opt_state = tree_where(healthy, opt_state, state.opt_state)
        aux = tree_where(healthy, aux, state.aux)
        diverged_epoch = jnp.where(state.active & ~finite, epoch, state.diverged_epoch)

        val_acc = evaluate(params, data.x_val, data.y_val)
        improved, best_val_acc, best_epoch = update_best(
            state.best_val_acc, state.best_epoch, val_acc, epoch, healthy)
        stop = healthy & should_stop(best_epoch, epoch, patience=patience,
                                     min_epochs=min_epochs)
        new_state = RunState(
            params=params, opt_state=opt_state, aux=aux, key=key,
            best_params=tree_where(improved, params, state.best_params),
            best_val_acc=best_val_acc, best_epoch=best_epoch,
            diverged_epoch=diverged_epoch,
            stopped_epoch=jnp.where(stop, epoch, state.stopped_epoch), epoch=epoch,
        )
        # A run that had stopped or diverged before this epoch does not change at all.
        new_state = tree_where(state.active, new_state, state)
        metrics = {
            "train_loss": jnp.where(healthy, train_loss, jnp.nan),
            "val_acc": jnp.where(healthy, val_acc, jnp.nan),
        }
        return new_state, metrics

    return Program(net=net, init=init, train_step=train_step, train_epoch=train_epoch,
                   evaluate=evaluate, represent=represent, default_hparams=default_hparams)


def _idle(states):
    """An epoch of runs that have all stopped or diverged: nothing changes."""
    nan = jnp.full(states.epoch.shape, jnp.nan, jnp.float32)
    return states, {"train_loss": nan, "val_acc": nan}


class CompiledProgram(NamedTuple):
    """The vmapped, jitted functions over a leading run axis (``hp``: ``{name: [R]}``)."""

    init: Callable  # (seeds uint32 [R], hp) -> RunState[R]
    train_epoch: Callable  # (RunState[R], hp, DeviceData) -> (RunState[R], metrics [R])
    evaluate: Callable  # (params[R], x, y) -> acc [R]
    represent: Callable  # (params[R], x) -> (h [R, N, D], pred [R, N], head dict [R, ...])


def compile_program(program: Program, run_batch: int | None = None, *,
                    pad_groups: bool = False) -> CompiledProgram:
    """``jit`` over the run axis; the data (last argument) is shared by all runs.

    Args:
      program: the per-run functions.
      run_batch: how many runs an epoch vmaps together. ``None``: all of them (one
        ``jit(vmap(epoch))``; best on GPU/TPU, and required when the run axis is sharded over
        devices). ``k``: groups of ``k`` vmapped runs one after another (``lax.map``) inside
        the same compiled program. On a CPU the unbatched matmuls of a small group run faster
        than one batched matmul over all runs (measured in
        ``experiments/results/bench_engine.md``), and a group whose runs have all stopped is
        skipped. Results are the same either way to float rounding; not bit for bit: a batched
        matmul over a group of 1 compiles differently from one over a group of 2, and training
        amplifies the rounding (three identical MNIST FFNN runs, two in a group and one in the
        tail group, reached 97.70, 97.70 and 97.64 % after 20 epochs). The same config (runs,
        ``run_batch``) gives the same numbers.
      pad_groups: with ``run_batch = k``, fill the last group up to ``k`` runs with copies of
        its last run (their results are dropped), and compute the test representations in the
        same groups, so that every run goes through a group of exactly ``k``: a run then gives
        the same numbers whichever and however many runs share its program (alone, or as the
        odd one of a sweep), at the cost of up to ``k − 1`` copies' compute (2× for a single
        run with ``k = 2``).
    """
    vmapped = jax.vmap(program.train_epoch, in_axes=(0, 0, None))
    represent = jax.vmap(program.represent, in_axes=(0, None))

    def group_epoch(states, hp, data):
        # lax.cond: a group whose runs have all stopped or diverged costs nothing.
        return jax.lax.cond(jnp.any(states.active), lambda s: vmapped(s, hp, data), _idle,
                            states)

    if run_batch is None:
        train_epoch = group_epoch
    else:
        def train_epoch(states, hp, data):
            return _in_groups(lambda a: group_epoch(a[0], a[1], data), (states, hp),
                              run_batch, pad_groups)
        if pad_groups:
            def represent(params, x, _vmapped=represent):
                return _in_groups(lambda p: _vmapped(p, x), params, run_batch, True)
    return CompiledProgram(
        # Seeds (not keys) go in, so the inputs are plain arrays that can be sharded across
        # processes; each run's key is made from its seed alone.
        init=jax.jit(jax.vmap(lambda seed, hp: program.init(jax.random.key(seed), hp))),
        # donate the old state: its buffers are reused for the new one.
        # (compiler options: how XLA computes, not what; see train/xla_options.py)
        train_epoch=jax.jit(train_epoch, donate_argnums=(0,), **_epoch_jit_options()),
        evaluate=jax.jit(jax.vmap(program.evaluate, in_axes=(0, None, None))),
        represent=jax.jit(represent),
    )


def _in_groups(fn: Callable, tree, k: int, pad: bool):
    """``fn`` (vmapped over a leading run axis) applied to ``tree``'s runs in groups of ``k``,
    one group after another (``lax.map``). Without ``pad`` a last group of fewer runs is
    computed on its own (and ``k`` is at most the number of runs); with ``pad`` it is filled
    with copies of its last run, so every group has exactly ``k`` runs."""
    r = jax.tree.leaves(tree)[0].shape[0]
    k = k if pad else min(k, r)
    g, rest = divmod(r, k)
    if pad and rest:
        take = jnp.concatenate([jnp.arange(r), jnp.full((k - rest,), r - 1)])
        tree = jax.tree.map(lambda x: x[take], tree)
        g, rest = g + 1, 0
    split = lambda t, a, b: jax.tree.map(lambda x: x[a:b], t)
    head = jax.tree.map(lambda x: x.reshape((g, k) + x.shape[1:]), split(tree, 0, g * k))
    out = jax.lax.map(fn, head)
    out = jax.tree.map(lambda x: x.reshape((g * k,) + x.shape[2:]), out)
    if rest:
        tail = fn(split(tree, g * k, r))
        out = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), out, tail)
    return jax.tree.map(lambda x: x[:r], out)


def _epoch_jit_options() -> dict:
    options = engine_compiler_options()
    return {"compiler_options": options} if options else {}


def run_seeds(seeds) -> jax.Array:
    """The ``uint32 [R]`` seeds :attr:`CompiledProgram.init` takes. Each run's key comes from
    its seed alone, so a run's numbers do not depend on which other runs share its program."""
    return jnp.asarray(seeds, dtype=jnp.uint32)
