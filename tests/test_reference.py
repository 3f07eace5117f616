"""The engine against an independent reference: a plain optax loop written here.

For each of the paper's four losses, a small sweep on scikit-learn's digits (a training set of
300 = 4 × 64 + 44, so every epoch ends with a partial minibatch; dropout on, so the per-step
dropout keys matter) is trained by :func:`corel_jax.train.train_sweep`, and each of its runs
again by :func:`reference_run`: the engine's ``init`` gives the initial parameters and the run's
key, and everything after that is written here from the math — the epoch's key split, the
shuffle, the masked partial minibatch, the loss from :mod:`corel_jax.losses` on the head's
parameters read from the params tree, Adam from optax, the center update, the validation
accuracy, the best epoch, the test predictions at the best epoch. The engine must give the same
per-epoch loss and validation curves, best epoch, test predictions and test accuracy, to float
rounding (the engine vmaps runs; the reference does not).

Then the stored results alone: a run directory's ``test_pred`` is the argmax of its loss's
similarity between its stored ``test_h`` and prototypes (and bias or γ).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from corel_jax import losses, rundir, similarity
from corel_jax.loss_spec import LOSSES
from corel_jax.models import MLP
from corel_jax.train import SweepConfig, train_sweep
from corel_jax.train import engine as engine_lib

#: the losses corel_jax registers itself (the paper's four)
BUILTIN = ("cce", "center", "cosine", "gaussian")
N_TRAIN, BATCH, EPOCHS, WIDTH, DROPOUT = 300, 64, 3, 32, 0.1


def config(loss: str) -> SweepConfig:
    return SweepConfig(dataset="digits", model="mlp", loss=loss, seeds=(0, 1), lams=(0.6, 0.9),
                       epochs=EPOCHS, batch_size=BATCH, width=WIDTH, lr=3e-3, dropout=DROPOUT,
                       center_alpha=0.3)


@pytest.fixture(scope="module")
def data(digits):
    return digits.subset(n_train=N_TRAIN)


@pytest.fixture(scope="module", params=BUILTIN)
def sweep(request, data, tmp_path_factory):
    """One engine sweep per loss (4 runs: seeds 0, 1 × λ 0.6, 0.9), written to a run dir."""
    loss = request.param
    out = tmp_path_factory.mktemp(f"reference-{loss}")
    res = train_sweep(config(loss), dataset=data, out_dir=out, progress=False, log=None)
    return loss, res, out


# --------------------------------------------------------------------------- the reference


class _Encoder(nn.Module):
    """Calls the encoder as the child named ``encoder``: the name the engine's network gives
    it, and so the same dropout rng stream (Flax folds a module's path into its rngs)."""

    encoder: nn.Module

    def __call__(self, x, train):
        return self.encoder(x, train=train)


def _head(params, learn_gamma):
    p = params["params"]
    gamma = None
    if "log_gamma" in p:
        log_gamma = p["log_gamma"] if learn_gamma else jax.lax.stop_gradient(p["log_gamma"])
        gamma = jnp.exp(log_gamma)
    return p["W"], p.get("b"), gamma


def _objective(loss, h, W, b, gamma, y, lam, centers):
    """The per-example training loss (Eq. 2, 5, 6; center: CCE + λ · center loss)."""
    if loss == "cce":
        return losses.cce(h, W, y, b)
    if loss == "center":
        return losses.cce(h, W, y, b) + lam * losses.center_loss(h, centers, y)
    if loss == "cosine":
        return losses.cosine_corel(h, W, y, lam=lam)
    return losses.gaussian_corel(h, W, y, lam=lam, gamma=gamma)


def _similarity(kind, h, W, b, gamma):
    """The ``[N, K]`` similarity a loss predicts with, by its name (``LossSpec.similarity``)."""
    if kind == "dot":
        return similarity.dot(h, W) + (0.0 if b is None else b)
    if kind == "cosine":
        return similarity.cosine(h, W)
    return similarity.gaussian(h, W, gamma)


def make_reference(cfg: SweepConfig, data):
    """``run -> (train_loss [E], val_acc [E], best_epoch, test_pred, best W)``: the run trained
    by a plain optax loop."""
    loss, kind = cfg.loss, LOSSES.get(cfg.loss).similarity
    net = _Encoder(MLP(hidden=(cfg.width, cfg.width), negative_slope=cfg.negative_slope,
                       dropout=cfg.dropout))
    # The engine's per-run init (parameters and the run's key); nothing else of the engine.
    program = engine_lib.make_program(cfg, net.encoder, data.num_classes, data.x_train[:1])
    tx = optax.adam(cfg.lr[0])

    def forward(params, x, train, key=None):
        h = net.apply({"params": {"encoder": params["params"]["encoder"]}}, x, train,
                      rngs=None if key is None else {"dropout": key})
        return (h, *_head(params, cfg.learn_gamma))

    @jax.jit
    def step(params, opt_state, centers, x, y, real, lam, alpha, key):
        def mean_loss(params):
            h, W, b, gamma = forward(params, x, True, key)
            per_example = _objective(loss, h, W, b, gamma, y, lam, centers)
            # the filler examples of the last minibatch do not count
            return jnp.sum(jnp.where(real, per_example, 0.0)) / jnp.sum(real), h

        (value, h), grads = jax.value_and_grad(mean_loss, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        if loss == "center":  # Wen et al.'s update, from the step's representations
            centers = losses.update_centers(centers, jax.lax.stop_gradient(h), y, alpha=alpha,
                                            where=real)
        return params, opt_state, centers, value

    @jax.jit
    def predict(params, x):
        return jnp.argmax(_similarity(kind, *forward(params, x, False)), axis=-1)

    x_tr, y_tr = jnp.asarray(data.x_train), jnp.asarray(data.y_train, jnp.int32)
    n = len(data.y_train)
    steps = -(-n // cfg.batch_size)

    def run(r) -> dict:
        hp = {k: v[0] for k, v in engine_lib.hparams([r]).items()}
        state = program.init(jax.random.key(r.seed), hp)
        params, key = state.params, state.key
        opt_state = tx.init(params)
        W0 = params["params"]["W"]
        centers = jnp.zeros(W0.shape, jnp.float32)  # the center loss's initial centers
        curve_loss, curve_val = [], []
        best_acc, best_epoch, best_params = -1.0, 0, params
        for epoch in range(1, cfg.epochs + 1):
            key, perm_key, drop_key = jax.random.split(key, 3)
            perm = np.asarray(jax.random.permutation(perm_key, n))
            drop_keys = jax.random.split(drop_key, steps)
            total = 0.0
            for s in range(steps):
                idx = perm[s * cfg.batch_size:(s + 1) * cfg.batch_size]
                real_n = len(idx)
                # a partial minibatch is filled up with the permutation's first examples
                idx = np.concatenate([idx, perm[:cfg.batch_size - real_n]])
                real = jnp.arange(cfg.batch_size) < real_n
                params, opt_state, centers, value = step(
                    params, opt_state, centers, x_tr[idx], y_tr[idx], real, r.lam,
                    r.center_alpha, drop_keys[s])
                total += float(value) * real_n  # the epoch's loss: the mean over its examples
            curve_loss.append(total / n)
            acc = float(np.mean(np.asarray(predict(params, data.x_val)) == data.y_val))
            curve_val.append(acc)
            if acc > best_acc:  # strictly better; ties keep the earlier epoch
                best_acc, best_epoch, best_params = acc, epoch, params
        return {"train_loss": np.array(curve_loss), "val_acc": np.array(curve_val),
                "best_epoch": best_epoch, "best_val_acc": best_acc,
                "test_pred": np.asarray(predict(best_params, data.x_test)),
                "W": np.asarray(best_params["params"]["W"])}

    return run


def test_the_engine_equals_a_plain_optax_loop(sweep, data):
    loss, res, _ = sweep
    reference = make_reference(res.config, data)
    assert N_TRAIN % BATCH != 0  # the premise: a partial last minibatch every epoch
    for r, rec in zip(res.config.runs, res.records):
        ref = reference(r)
        i = rec["run"]
        np.testing.assert_allclose(res.train_loss[i], ref["train_loss"], rtol=2e-5,
                                   err_msg=f"{loss} run {i}: train_loss")
        np.testing.assert_allclose(res.val_acc[i], ref["val_acc"], atol=1e-6,
                                   err_msg=f"{loss} run {i}: val_acc")
        assert rec["best_epoch"] == ref["best_epoch"], (loss, i)
        assert rec["best_val_acc"] == pytest.approx(ref["best_val_acc"], abs=1e-6)
        np.testing.assert_array_equal(res.test_pred[i], ref["test_pred"])
        expected_acc = np.count_nonzero(ref["test_pred"] == data.y_test) / len(data.y_test)
        assert rec["test_acc"] == pytest.approx(expected_acc, abs=1e-9), (loss, i)
        np.testing.assert_allclose(res.heads["W"][i], ref["W"], rtol=1e-4, atol=1e-5)
    # the runs differ: seeds and λ reach the program (cce alone ignores λ)
    assert len({round(float(x), 5) for x in res.train_loss[:, -1]}) == (2 if loss == "cce" else 4)


def test_test_pred_is_the_argmax_of_the_stored_similarity(sweep):
    """From the run directory alone: ``test_pred = argmax_k sim(test_h, w_k)`` with the
    similarity the loss predicts with (dot + bias, cosine, or Gaussian with the run's γ)."""
    loss, _, out = sweep
    kind = LOSSES.get(loss).similarity
    assert kind == {"cce": "dot", "center": "dot", "cosine": "cosine",
                    "gaussian": "gaussian"}[loss]
    heads = rundir.load_params(out, rundir.BEST_HEADS)
    y = rundir.load_test_labels(out)
    for rec in rundir.load_runs(out):
        i = rec["run"]
        h = rundir.load_run_array(out, i, "test_h")
        W = rundir.load_run_array(out, i, "prototypes")
        b = heads["b"][i] if "b" in heads else None
        gamma = heads["gamma"][i] if "gamma" in heads else None
        assert (b is not None) == (loss in ("cce", "center"))
        assert (gamma is not None) == (loss == "gaussian")
        pred = rundir.load_run_array(out, i, "test_pred")
        expected = np.asarray(jnp.argmax(_similarity(kind, h, W, b, gamma), axis=-1))
        np.testing.assert_array_equal(pred, expected)
        assert rec["test_acc"] == pytest.approx(np.count_nonzero(pred == y) / len(y), abs=1e-9)


def test_every_builtin_loss_is_covered():
    assert set(BUILTIN) <= set(LOSSES.names())
    assert {LOSSES.get(name).similarity for name in BUILTIN} == {"dot", "cosine", "gaussian"}
