"""Hyperparameter grids, early stopping and the partial last minibatch, on scikit-learn's digits.

The engine's promises: a run's numbers depend only on its own seed and hyperparameters (not on
which runs share its program), changing grid values does not recompile, and a run ended by
early stopping is exactly the same run trained alone for that many epochs.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from corel_jax.errors import ConfigError
from corel_jax.train import SweepConfig, train_sweep
from corel_jax.train import engine as engine_lib
from corel_jax.train import sweep as sweep_lib
from corel_jax.train.config import parse_values


def small(**kw):
    base = dict(dataset="digits", model="mlp", loss="gaussian", seeds=(0,), lams=(0.5,),
                epochs=3, batch_size=64, width=32, lr=3e-3)
    base.update(kw)
    return SweepConfig(**base)


def run(cfg, digits, **kw):
    return train_sweep(cfg, dataset=digits, progress=False, log=None, **kw)


# --------------------------------------------------------------------------- grids


def test_grid_expansion_order_and_names():
    cfg = small(seeds=(0, 1), lams=(0.3, 0.7), lr=(1e-3, 3e-3), gamma=(0.5, 1.0))
    assert cfg.num_runs == 16 and len(cfg.runs) == 16
    assert cfg.varied == ("lr", "gamma", "lam")
    # seeds innermost, learning rate outermost
    assert cfg.runs[0]._asdict() == {"seed": 0, "lam": 0.3, "lr": 1e-3, "weight_decay": 0.0,
                                     "gamma": 0.5, "center_alpha": 0.5, "momentum": 0.9,
                                     "warmup_epochs": 0.0}
    assert cfg.runs[1].seed == 1
    assert cfg.runs[2].lam == 0.7 and cfg.runs[4].gamma == 1.0 and cfg.runs[8].lr == 3e-3
    assert len(set(cfg.runs)) == 16
    d = cfg.to_dict()
    assert d["lr"] == [1e-3, 3e-3] and d["center_alpha"] == 0.5  # one value stays a number
    assert SweepConfig.from_dict(d) == cfg
    assert parse_values("1e-3,3e-3", "lr") == (1e-3, 3e-3)


def test_grid_errors_name_the_problem():
    with pytest.raises(ConfigError, match="a grid over gamma needs --loss gaussian"):
        small(loss="cosine", gamma=(0.5, 1.0))
    with pytest.raises(ConfigError, match="a grid over center_alpha needs --loss center"):
        small(center_alpha=(0.1, 0.5))
    with pytest.raises(ConfigError, match="lr must be a positive number"):
        small(lr=(1e-3, -1.0))
    with pytest.raises(ConfigError, match="lr has duplicates"):
        small(lr=(1e-3, 1e-3))
    with pytest.raises(ConfigError, match="weight_decay must be a number >= 0"):
        small(weight_decay=(0.0, -1e-4))
    with pytest.raises(ConfigError, match="weight_decay has duplicates"):
        small(weight_decay=(1e-4, 1e-4))
    with pytest.raises(ConfigError, match="center_alpha must lie in"):
        small(loss="center", center_alpha=(0.5, 2.0))
    with pytest.raises(ConfigError, match="patience must be a positive integer"):
        small(patience=0)
    with pytest.raises(ConfigError, match="min_epochs must be an integer"):
        small(min_epochs=-1)


@pytest.mark.parametrize("loss,axes", [
    ("gaussian", dict(lr=(1e-3, 3e-3), gamma=(0.5, 2.0))),
    ("center", dict(lr=(3e-3,), center_alpha=(0.1, 0.5))),
    ("cosine", dict(weight_decay=(1e-3, 1e-2))),
])
def test_a_run_in_a_grid_equals_the_run_alone(digits, loss, axes):
    together = run(small(loss=loss, seeds=(0, 1), lams=(0.7,), epochs=2, **axes), digits)
    for r in together.records[::3]:
        alone = run(small(loss=loss, seeds=(r["seed"],), lams=(r["lam"],), epochs=2,
                          lr=r["lr"], gamma=r["gamma"], center_alpha=r["center_alpha"],
                          weight_decay=r["weight_decay"]),
                    digits)
        np.testing.assert_allclose(together.val_acc[r["run"]], alone.val_acc[0], atol=1e-6)
        np.testing.assert_allclose(together.train_loss[r["run"]], alone.train_loss[0],
                                   rtol=2e-5)
        assert alone.records[0]["test_acc"] == pytest.approx(r["test_acc"], abs=1e-6)


def test_grid_values_change_the_numbers(digits):
    res = run(small(seeds=(0,), lr=(1e-3, 1e-2), gamma=(0.5, 2.0), learn_gamma=False,
                    epochs=1), digits)
    losses = res.train_loss[:, 0]
    assert len(set(np.round(losses, 6))) == 4  # every (lr, γ) trains differently
    np.testing.assert_allclose(res.heads["gamma"], [0.5, 2.0, 0.5, 2.0], rtol=1e-6)


def test_fixed_gamma_stays_fixed_learned_gamma_moves(digits):
    fixed = run(small(gamma=(0.25,), learn_gamma=False, epochs=2), digits)
    learned = run(small(gamma=(0.25,), learn_gamma=True, epochs=2), digits)
    assert float(fixed.heads["gamma"][0]) == pytest.approx(0.25, rel=1e-6)
    assert abs(float(learned.heads["gamma"][0]) - 0.25) > 1e-3


def test_weight_decay_grid_expands_and_round_trips():
    cfg = small(seeds=(0, 1), lams=(0.3, 0.7), lr=(1e-3, 3e-3), weight_decay=(0.0, 1e-4))
    assert cfg.num_runs == 16 and cfg.varied == ("lr", "weight_decay", "lam")
    # between the learning rate (outermost) and γ
    assert [r.weight_decay for r in cfg.runs[:8]] == [0.0] * 4 + [1e-4] * 4
    assert cfg.runs[8].lr == 3e-3 and cfg.runs[8].weight_decay == 0.0
    d = cfg.to_dict()
    assert d["weight_decay"] == [0.0, 1e-4] and small().to_dict()["weight_decay"] == 0.0
    assert SweepConfig.from_dict(d) == cfg
    # a configuration written before weight decay existed reads as none
    old = {k: v for k, v in small().to_dict().items()
           if k not in ("weight_decay", "decoupled_weight_decay")}
    assert SweepConfig.from_dict(old) == small()


def _one_update(weight_decay, decoupled):
    """One optimizer step of the engine's Adam from zero gradients, on a kernel and γ."""
    cfg = small(weight_decay=(weight_decay,), decoupled_weight_decay=decoupled, lr=0.1)
    tx = engine_lib.make_optimizer(cfg)
    params = {"params": {"fc0": {"kernel": jnp.full((2, 2), 2.0)},
                         "log_gamma": jnp.float32(np.log(0.5))}}
    state = tx.init(params)
    updates, _ = tx.update(jax.tree.map(jnp.zeros_like, params), state, params)
    return state, updates["params"]


def test_weight_decay_coupled_decoupled_and_never_on_gamma():
    # no decay: plain Adam, whose state (and so old checkpoints) has no weight decay
    state, up = _one_update(0.0, False)
    assert "learning_rate" in state.hyperparams and "weight_decay" not in state.hyperparams
    np.testing.assert_allclose(up["fc0"]["kernel"], 0.0)
    # coupled (torch.optim.Adam): gradient wd·θ = 0.02 > 0 -> Adam's first step is -lr·sign
    state, up = _one_update(1e-2, False)
    assert float(state.hyperparams["weight_decay"]) == pytest.approx(1e-2)
    np.testing.assert_allclose(up["fc0"]["kernel"], -0.1, rtol=1e-4)
    # decoupled (AdamW): θ ← θ − lr·wd·θ = −0.1 · 0.01 · 2
    _, up = _one_update(1e-2, True)
    np.testing.assert_allclose(up["fc0"]["kernel"], -0.1 * 1e-2 * 2.0, rtol=1e-6)
    # γ is a loss hyperparameter, not a weight: never decayed
    for decoupled in (False, True):
        _, up = _one_update(1e-2, decoupled)
        assert float(up["log_gamma"]) == 0.0


def test_adamw_is_adam_with_decoupled_weight_decay():
    """``optimizer="adamw"`` is the built-in Adam with decoupled decay, under its usual name:
    the same update (and never on γ)."""
    params = {"params": {"fc0": {"kernel": jnp.full((2, 2), 2.0)},
                         "log_gamma": jnp.float32(np.log(0.5))}}
    grads = jax.tree.map(lambda p: jnp.full_like(p, 0.3), params)
    ups = []
    for kw in (dict(optimizer="adamw"), dict(optimizer="adam", decoupled_weight_decay=True),
               dict(optimizer="adamw", decoupled_weight_decay=True)):
        tx = engine_lib.make_optimizer(small(weight_decay=(1e-2,), lr=0.1, **kw))
        ups.append(tx.update(grads, tx.init(params), params)[0]["params"])
    for up in ups[1:]:
        jax.tree.map(np.testing.assert_array_equal, ups[0], up)
    _, coupled = _one_update(1e-2, False)
    assert not np.allclose(ups[0]["fc0"]["kernel"], coupled["fc0"]["kernel"])
    with pytest.raises(ConfigError, match="use --optimizer adamw"):
        small(optimizer="sgd", decoupled_weight_decay=True, weight_decay=(1e-2,))


def test_weight_decay_zero_in_a_grid_is_plain_adam():
    # A grid holding 0 builds Adam with a decay term; its wd = 0 runs must step as plain Adam.
    # (Compared step by step: whole runs agree only to float rounding, as the two programs
    # are compiled differently, and training amplifies rounding.)
    plain = engine_lib.make_optimizer(small())
    grid = engine_lib.make_optimizer(small(weight_decay=(0.0, 1e-2)))
    key = jax.random.PRNGKey(0)
    params = {"params": {"k": jax.random.normal(key, (3, 4))}}
    s_plain, s_grid = plain.init(params), grid.init(params)
    s_grid.hyperparams["weight_decay"] = jnp.float32(0.0)
    p_plain = p_grid = params
    for i in range(5):
        g = {"params": {"k": jax.random.normal(jax.random.fold_in(key, i), (3, 4))}}
        u, s_plain = plain.update(g, s_plain, p_plain)
        p_plain = jax.tree.map(jnp.add, p_plain, u)
        u, s_grid = grid.update(g, s_grid, p_grid)
        p_grid = jax.tree.map(jnp.add, p_grid, u)
    np.testing.assert_allclose(p_grid["params"]["k"], p_plain["params"]["k"], atol=1e-6)


def test_weight_decay_shrinks_the_weights_and_leaves_fixed_gamma(digits):
    res = run(small(weight_decay=(0.0, 0.05), learn_gamma=False, epochs=2), digits)
    norms = [float(sum(jnp.sum(jnp.square(x[i])) for path, x in
                       jax.tree_util.tree_leaves_with_path(res.final_params)
                       if "kernel" in jax.tree_util.keystr(path))) for i in range(2)]
    assert norms[1] < 0.9 * norms[0]
    np.testing.assert_allclose(res.heads["gamma"], [0.5, 0.5], rtol=1e-6)
    assert [r["weight_decay"] for r in res.records] == [0.0, 0.05]


def test_changing_grid_values_does_not_recompile(digits):
    cfg = small(seeds=(0, 1), lams=(0.5, 0.9), lr=(1e-3,))
    program = engine_lib.make_program(cfg, sweep_lib.build_encoder(cfg, digits),
                                      digits.num_classes, digits.x_train[:1])
    compiled = engine_lib.compile_program(program, run_batch=2)
    data = engine_lib.DeviceData(jnp.asarray(digits.x_train[:256]),
                                 jnp.asarray(digits.y_train[:256]),
                                 jnp.asarray(digits.x_val), jnp.asarray(digits.y_val))
    seeds = engine_lib.run_seeds([0, 1, 0, 1])
    for lr, gamma in ((1e-3, 0.5), (3e-2, 4.0)):
        hp = engine_lib.hparams([dict(lam=0.5, lr=lr, gamma=gamma, center_alpha=0.5)] * 4)
        state = compiled.init(seeds, hp)
        state, _ = compiled.train_epoch(state, hp, data)
    assert compiled.init._cache_size() == 1
    assert compiled.train_epoch._cache_size() == 1


def test_table_groups_by_every_varied_hyperparameter(digits):
    res = run(small(seeds=(0, 1), lr=(1e-3, 3e-3), epochs=1), digits)
    lines = res.table().splitlines()
    assert lines[0].split()[:2] == ["lr", "lambda"]
    assert len(lines) == 3 and all(" 2 " in line for line in lines[1:])
    # mean ± the sample std over the 2 seeds (ddof=1, as the evaluator's reports)
    for line, lr in zip(lines[1:], (1e-3, 3e-3)):
        test = np.array([100 * r["test_acc"] for r in res.records if r["lr"] == lr])
        assert line.endswith(f"{test.mean():7.2f} ± {test.std(ddof=1):5.2f}"), line


# --------------------------------------------------------------------------- early stopping


def test_should_stop_rule():
    stop = lambda best, epoch, **kw: bool(engine_lib.should_stop(
        jnp.int32(best), jnp.int32(epoch), **kw))
    assert not stop(1, 5, patience=None)
    assert stop(2, 5, patience=3) and not stop(3, 5, patience=3)
    assert not stop(2, 5, patience=3, min_epochs=6) and stop(2, 6, patience=3, min_epochs=6)


def test_early_stopped_run_equals_the_run_trained_alone_that_long(digits):
    # λ = 1 (pure attraction) at a high learning rate plateaus early on digits
    cfg = small(seeds=(0, 1), lams=(0.5, 1.0), lr=(3e-2,), epochs=12, patience=2)
    res = run(cfg, digits)
    stopped = [r for r in res.records if r["stopped_epoch"]]
    assert stopped, "no run stopped early: the test needs one"
    for r in res.records:
        e = r["stopped_epoch"] or cfg.epochs
        assert r["epochs_trained"] == e
        assert np.isfinite(res.val_acc[r["run"], :e]).all()
        assert np.isnan(res.val_acc[r["run"], e:]).all()  # nothing after the stop
        if r["stopped_epoch"]:
            assert r["stopped_epoch"] - r["best_epoch"] == 2
    r = stopped[0]
    alone = run(small(seeds=(r["seed"],), lams=(r["lam"],), lr=(3e-2,),
                      epochs=r["stopped_epoch"]), digits)
    np.testing.assert_allclose(res.val_acc[r["run"], :r["stopped_epoch"]], alone.val_acc[0],
                               atol=1e-6)
    assert alone.records[0]["best_epoch"] == r["best_epoch"]
    assert alone.records[0]["test_acc"] == pytest.approx(r["test_acc"], abs=1e-6)
    # equal up to float rounding (vmapped with another run vs alone)
    np.testing.assert_allclose(res.heads["W"][r["run"]], alone.heads["W"][0], atol=1e-4)


#: one run that plateaus early: λ = 1 (pure attraction) at a high learning rate, patience 1
PLATEAU = dict(seeds=(0,), lams=(1.0,), lr=(3e-2,), epochs=8, patience=1)


@pytest.fixture(scope="module")
def plateau(digits):
    res = run(small(**PLATEAU), digits)
    assert res.records[0]["stopped_epoch"] < 8, "the run must stop early: the tests need it"
    return res


def test_program_ends_when_every_run_has_stopped(plateau):
    r = plateau.records[0]
    assert r["epochs_trained"] == r["stopped_epoch"] == r["best_epoch"] + 1
    assert plateau.timings["epochs"] == r["stopped_epoch"]  # no epoch was run after the stop
    assert np.isnan(plateau.val_acc[0, r["stopped_epoch"]:]).all()


def test_min_epochs_delays_the_stop(digits, plateau):
    stop = plateau.records[0]["stopped_epoch"]  # < 8 without min_epochs (the fixture's premise)
    res = run(small(**PLATEAU, min_epochs=8), digits)
    r = res.records[0]
    assert r["epochs_trained"] == 8 and np.isfinite(res.val_acc[0]).all()
    # at epoch 8 the rule applies again: it stops there unless epoch 8 is its best
    assert r["stopped_epoch"] == (8 if r["best_epoch"] < 8 else None)
    # the same run as without min_epochs until that one stopped
    np.testing.assert_allclose(res.val_acc[0, :stop], plateau.val_acc[0, :stop], atol=1e-6)


# --------------------------------------------------------------------------- the last minibatch


def test_every_example_is_trained_on_each_epoch(digits):
    """The partial last minibatch is trained on (masked), not dropped: an epoch has
    ceil(n / batch) steps and its filler examples do not change the update."""
    n = 100  # 100 = 64 + 36: one full batch and a partial one
    ds = digits.subset(n_train=n)
    assert len(ds.y_train) == n
    cfg = small(loss="cce", batch_size=64, epochs=1)
    program = engine_lib.make_program(cfg, sweep_lib.build_encoder(cfg, ds), ds.num_classes,
                                      ds.x_train[:1])
    hp = program.default_hparams
    # jitted: op-by-op, a train step compiles each of its primitives on its own
    state = jax.jit(program.init)(jax.random.key(0), hp)
    step = jax.jit(program.train_step)
    x, y = jnp.asarray(ds.x_train), jnp.asarray(ds.y_train)
    # A partial batch of 36 real examples + 28 filler ones equals the 36 alone.
    valid = jnp.arange(64) < 36
    key = jax.random.key(1)
    xs = jnp.concatenate([x[64:], x[:28]])
    ys = jnp.concatenate([y[64:], y[:28]])
    masked = step(state.params, state.opt_state, state.aux, xs, ys, valid,
                                hp, key)
    plain = step(state.params, state.opt_state, state.aux, x[64:], y[64:],
                               jnp.ones(36, bool), hp, key)
    assert float(masked[3]) == pytest.approx(float(plain[3]), rel=1e-5)
    for a, b in zip(jax.tree.leaves(masked[0]), jax.tree.leaves(plain[0])):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # An epoch takes ceil(100 / 64) = 2 optimizer steps (Adam's step counts).
    data = engine_lib.DeviceData(x, y, jnp.asarray(ds.x_val), jnp.asarray(ds.y_val))
    after, _ = jax.jit(program.train_epoch)(state, hp, data)
    counts = {jax.tree_util.keystr(k): int(v) for k, v in
              jax.tree_util.tree_leaves_with_path(after.opt_state)
              if jax.tree_util.keystr(k).endswith(".count")}
    assert counts and set(counts.values()) == {2}, counts


def test_simulated_patience_equals_the_engine_on_full_curves(digits):
    """Replaying early stopping on fully trained curves (what the patience measurement of
    the reproduction does) gives exactly what the engine does with that patience."""
    from corel_jax.evaluate.stopping import patience_table, simulate

    kw = dict(seeds=(0, 1), lams=(0.5, 1.0), lr=(3e-2,), epochs=10)
    full = run(small(**kw), digits)
    stopped = run(small(patience=2, **kw), digits)
    for r in stopped.records:
        sim = simulate(full.val_acc[r["run"]], patience=2)
        assert sim.epochs_trained == r["epochs_trained"]
        assert sim.best_epoch == r["best_epoch"]
        assert sim.best_val_acc == pytest.approx(r["best_val_acc"], abs=1e-6)
    (row,) = patience_table(full.val_acc, [2])
    assert row["epochs_trained"] == sum(r["epochs_trained"] for r in stopped.records)
    assert row["runs"] == 4 and 0 <= row["saved"] < 1


def test_donating_a_state_leaves_the_callers_hparams_alone(digits):
    cfg = small()
    program = engine_lib.make_program(cfg, sweep_lib.build_encoder(cfg, digits),
                                      digits.num_classes, digits.x_train[:1])
    hp = {k: jnp.asarray(v) for k, v in program.default_hparams.items()}
    state = program.init(jax.random.key(0), hp)
    step = jax.jit(program.train_step, donate_argnums=(0, 1, 2))
    x, y = jnp.asarray(digits.x_train[:64]), jnp.asarray(digits.y_train[:64])
    for _ in range(2):  # the second call would fail if hp["lr"] had been donated
        params, opt_state, aux, _ = step(state.params, state.opt_state, state.aux, x, y,
                                         jnp.ones(64, bool), hp, jax.random.key(1))
        state = state.replace(params=params, opt_state=opt_state, aux=aux)
    assert float(hp["lr"]) == pytest.approx(3e-3)


def test_report_selects_the_best_configuration_of_a_grid(digits, tmp_path):
    """The report's Table 2 takes the runs of the best (lr, λ) by mean best validation
    accuracy over seeds, never a mix of learning rates; every configuration is listed."""
    import csv

    from corel_jax.evaluate import ReportOptions, write_report
    from corel_jax.evaluate.selection import select_config

    cfg = small(seeds=(0, 1), lams=(0.5, 0.9), lr=(3e-3, 1e-5), epochs=2)
    res = train_sweep(cfg, dataset=digits, out_dir=tmp_path / "run", progress=False, log=None)
    best = select_config(res.records)
    assert best["lr"] == pytest.approx(3e-3)  # 1e-5 barely trains in 2 epochs
    write_report([tmp_path / "run"], tmp_path / "report",
                 ReportOptions(clustering=False, plots=False))
    with open(tmp_path / "report" / "accuracy_runs.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {float(r["lr"]) for r in rows} == {best["lr"]}
    assert {float(r["lam"]) for r in rows} == {best["lam"]}
    md = (tmp_path / "report" / "report.md").read_text()
    assert "other hyperparameters" in md and "Every configuration" in md
    assert md.count("| 1e-05 |") == 2  # both λ at the slow learning rate are listed


def test_cli_weight_decay_options():
    import argparse

    from corel_jax.train.cli import add_arguments, config_from_args

    p = argparse.ArgumentParser()
    add_arguments(p)
    cfg = config_from_args(p.parse_args(["--weight-decay", "0,1e-4", "--decoupled-weight-decay"]))
    assert cfg.weight_decay == (0.0, 1e-4) and cfg.decoupled_weight_decay
    cfg = config_from_args(p.parse_args([]))
    assert cfg.weight_decay == (0.0,) and not cfg.decoupled_weight_decay
