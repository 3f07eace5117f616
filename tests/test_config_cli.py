"""The configuration and its command line: flags generated from the SweepConfig fields,
``--config FILE`` with overrides, resume's allowed flags, and the axes table they derive from.
Nothing here trains (no compile)."""

import dataclasses
import json

import pytest

from corel_jax import axes, rundir
from corel_jax.cli import build_parser
from corel_jax.errors import ConfigError
from corel_jax.train import SweepConfig
from corel_jax.train.cli import config_from_args, resume_config
from corel_jax.train.config import NOT_RESULT_FIELDS, Run


def parse(*argv):
    args = build_parser(["train"]).parse_args(["train", *argv])
    return args


def test_no_flags_give_the_dataclass_defaults():
    assert config_from_args(parse("--out", "x")) == SweepConfig()


def test_every_field_but_dataset_options_has_a_flag_that_sets_it():
    """Each flag reaches its field (a value other than the default, read back)."""
    values = {"dataset": "mnist", "model": "cnn", "loss": "cce", "seeds": "3", "lams": "0.1,0.2",
              "epochs": "7", "batch_size": "64", "lr": "0.01", "weight_decay": "1e-4",
              "gamma": "2", "center_alpha": "0.25", "patience": "4", "min_epochs": "2",
              "width": "32", "negative_slope": "0.1", "dropout": "0.3", "augment_shift": "2",
              "data_dir": "data", "data_source": "files", "val_size": "100", "split_seed": "5",
              "eval_batch_size": "10", "max_chunk_size": "4", "run_batch": "3",
              "memory_budget_gb": "2.5", "checkpoint_every": "0", "optimizer": "sgd",
              "momentum": "0.5", "schedule": "warmup", "warmup_epochs": "1.5",
              "shard": "1/3", "track": "tensorboard,wandb"}
    switches = {
                "learn_gamma": "--fixed-gamma", "save_representations": "--no-representations",
                "pad_run_groups": "--pad-run-groups"}
    argv = []
    for f in dataclasses.fields(SweepConfig):
        if f.name in values:
            flag = "--source" if f.name == "data_source" else \
                "--" + f.name.replace("_", "-")
            argv += [flag, values[f.name]]
        elif f.name in switches:
            argv.append(switches[f.name])
        else:
            assert f.name in ("dataset_options", "decoupled_weight_decay", "sampled", "samples",
                              "sample_seed"), \
                f"{f.name} has no flag in this test"
    cfg = config_from_args(parse(*argv))
    default = SweepConfig()
    for f in dataclasses.fields(SweepConfig):
        if f.name not in ("dataset_options", "decoupled_weight_decay",  # (adam only)
                          "sampled", "samples", "sample_seed"):  # (test_sampled_axes_...)
            assert getattr(cfg, f.name) != getattr(default, f.name), f.name
    assert config_from_args(parse("--decoupled-weight-decay")).decoupled_weight_decay
    assert cfg.seeds == (0, 1, 2) and cfg.lams == (0.1, 0.2) and cfg.gamma == (2.0,)
    assert cfg.learn_gamma is False and cfg.data_dir.endswith("data")  # made absolute


def test_config_file_json_and_toml_with_flags_overriding(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"loss": "cosine", "lams": [0.2, 0.4],
                                                 "epochs": 3, "lr": 0.01}))
    (tmp_path / "c.toml").write_text('loss = "cosine"\nlams = [0.2, 0.4]\nepochs = 3\n'
                                     'lr = 0.01\n')
    for name in ("c.json", "c.toml"):
        cfg = config_from_args(parse("--config", str(tmp_path / name), "--epochs", "5"))
        assert (cfg.loss, cfg.lams, cfg.epochs, cfg.lr) == ("cosine", (0.2, 0.4), 5, (0.01,))


def test_config_file_errors_name_the_problem(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"loss": "cosine", "lamdas": [0.5]}))
    with pytest.raises(ConfigError, match="unknown configuration key.*lamdas"):
        config_from_args(parse("--config", str(bad)))
    broken = tmp_path / "broken.toml"
    broken.write_text("loss = \n")
    with pytest.raises(ConfigError, match="broken.toml is not valid toml"):
        config_from_args(parse("--config", str(broken)))
    with pytest.raises(ConfigError, match="cannot read --config"):
        config_from_args(parse("--config", str(tmp_path / "missing.json")))
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must hold a table"):
        config_from_args(parse("--config", str(tmp_path / "list.json")))


def test_a_run_directorys_config_json_is_a_config_file(tmp_path):
    """Its facts (setting, fingerprint, sessions, ...) are ignored; an older format is read
    as the current one (a loss variant becomes the loss it names)."""
    cfg = SweepConfig(loss="cosine", lams=(0.3,), epochs=4, lr=(1e-2, 1e-3))
    d = {rundir.CONFIG_FORMAT_KEY: rundir.CONFIG_FORMAT_VERSION, **cfg.to_dict(),
         "setting": "digits-mlp", "data_fingerprint": "ab", "sessions": []}
    (tmp_path / "config.json").write_text(json.dumps(d))
    assert config_from_args(parse("--config", str(tmp_path / "config.json"))) == cfg


def test_resume_refuses_flags_that_change_results_and_takes_the_others(tmp_path):
    cfg = SweepConfig(loss="cce", epochs=3)
    rundir.write_config(tmp_path, {rundir.CONFIG_FORMAT_KEY: 2, **cfg.to_dict()})
    with pytest.raises(ConfigError, match="drop --epochs, --lr"):
        resume_config(parse("--resume", str(tmp_path), "--epochs", "4", "--lr", "0.1"))
    with pytest.raises(ConfigError, match="drop --config"):
        resume_config(parse("--resume", str(tmp_path), "--config", "x.json"))
    got = resume_config(parse("--resume", str(tmp_path), "--checkpoint-every", "2",
                              "--no-representations", "--data-dir", "d", "--run-batch", "1"))
    assert got == dataclasses.replace(cfg, checkpoint_every=2, save_representations=False,
                                      data_dir=got.data_dir, run_batch=1)
    assert got.data_dir.endswith("d") and got.data_dir.startswith("/")


def test_flags_resume_accepts_are_exactly_the_fields_that_do_not_change_results():
    """One declaration (the field's metadata) decides both."""
    assert set(NOT_RESULT_FIELDS) == {
        f.name for f in dataclasses.fields(SweepConfig)
        if not f.metadata.get("changes_results", True)}
    assert "epochs" not in NOT_RESULT_FIELDS and "data_dir" in NOT_RESULT_FIELDS


def test_axes_table_drives_runs_records_and_flags():
    assert axes.FIELDS == ("lams", "lr", "weight_decay", "gamma", "center_alpha", "momentum",
                           "warmup_epochs")
    assert Run._fields == ("seed", *axes.NAMES)
    fields = {f.name: f for f in dataclasses.fields(SweepConfig)}
    for a in axes.AXES:
        assert fields[a.field].metadata["axis"] is a
        flag = build_parser(["train"])._subparsers._group_actions[0].choices["train"] \
            ._option_string_actions[a.flag]
        assert flag.dest == a.field
    # λ innermost after the seed, the learning rate outermost
    cfg = SweepConfig(seeds=(0, 1), lams=(0.1, 0.2), lr=(1e-3, 1e-2), loss="gaussian",
                      gamma=(0.5, 1.0))
    runs = cfg.runs
    assert [(r.seed, r.lam) for r in runs[:4]] == [(0, 0.1), (1, 0.1), (0, 0.2), (1, 0.2)]
    assert runs[4].gamma == 1.0 and runs[8].lr == 1e-2 and len(runs) == cfg.num_runs == 16
    # a record older than an axis reads as the axis's value then (or None: not recorded)
    assert axes.record_value({"lam": 0.5}, "weight_decay") == 0.0
    assert axes.record_value({"lam": 0.5}, "lr") is None


def test_axis_validation_names_the_axis_and_the_rule():
    with pytest.raises(ConfigError, match=r"λ must lie in \[0, 1\]; got \[1.5\]"):
        SweepConfig(lams=(1.5,))
    with pytest.raises(ConfigError, match="weight_decay must be a number >= 0"):
        SweepConfig(weight_decay=-1.0)
    with pytest.raises(ConfigError, match="a grid over center_alpha needs --loss center"):
        SweepConfig(loss="cosine", center_alpha=(0.1, 0.2))
    with pytest.raises(ConfigError, match="lr has duplicates"):
        SweepConfig(lr=(1e-3, 1e-3))


def test_sampled_axes_draw_joint_configurations_from_a_recorded_seed():
    cfg = config_from_args(parse("--lr", "loguniform:1e-4:1e-2", "--weight-decay",
                                 "uniform:0:1e-3", "--samples", "4", "--sample-seed", "3",
                                 "--seeds", "2", "--lams", "0.2,0.8"))
    assert cfg.sampled == (("lr", "loguniform", 1e-4, 1e-2),
                           ("weight_decay", "uniform", 0.0, 1e-3))
    assert len(cfg.lr) == len(cfg.weight_decay) == 4
    assert all(1e-4 <= v <= 1e-2 for v in cfg.lr) and all(0 <= v <= 1e-3 for v in cfg.weight_decay)
    # 4 joint draws (not 4 x 4) x 2 λ x 2 seeds, the draws outermost
    assert cfg.num_runs == len(cfg.runs) == 16
    assert {(r.lr, r.weight_decay) for r in cfg.runs} == set(zip(cfg.lr, cfg.weight_decay))
    assert [(r.seed, r.lam) for r in cfg.runs[:4]] == [(0, 0.2), (1, 0.2), (0, 0.8), (1, 0.8)]
    # the same seed draws the same values; config.json round-trips them
    again = SweepConfig(sampled={"weight_decay": ["uniform", 0, 1e-3],
                                 "lr": ["loguniform", 1e-4, 1e-2]}, samples=4, sample_seed=3,
                        seeds=(0, 1), lams=(0.2, 0.8))
    assert again == cfg
    assert SweepConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    other = dataclasses.replace(cfg, sample_seed=4, lr=axes.BY_NAME["lr"].default,
                                weight_decay=0.0)
    assert other.lr != cfg.lr


def test_sampled_axes_errors_name_the_problem():
    with pytest.raises(ConfigError, match="needs low < high and low > 0"):
        SweepConfig(sampled=(("lr", "loguniform", 0.0, 1e-2),), samples=2)
    with pytest.raises(ConfigError, match="need samples >= 1"):
        SweepConfig(sampled=(("lr", "loguniform", 1e-4, 1e-2),))
    with pytest.raises(ConfigError, match="samples=3 needs an axis to draw"):
        SweepConfig(samples=3)
    with pytest.raises(ConfigError, match="unknown distribution 'normal'"):
        SweepConfig(sampled=(("lr", "normal", 1e-4, 1e-2),), samples=2)
    with pytest.raises(ConfigError, match="lr is both listed"):
        SweepConfig(sampled=(("lr", "loguniform", 1e-4, 1e-2),), samples=2, lr=(1e-3, 1e-2))
    with pytest.raises(ConfigError, match="give loguniform:LOW:HIGH"):
        config_from_args(parse("--lr", "loguniform:1e-4", "--samples", "2"))


def test_a_format_1_config_json_is_a_config_file(tmp_path):
    """A run directory written before format_version existed (its facts, no format key)."""
    old = {"dataset": "digits", "model": "mlp", "loss": "cosine", "seeds": [0], "lams": [0.3],
           "epochs": 4, "max_runs_per_program": 2, "setting": "digits-mlp",
           "data_fingerprint": "ab", "num_runs": 1}
    (tmp_path / "config.json").write_text(json.dumps(old))
    cfg = config_from_args(parse("--config", str(tmp_path / "config.json")))
    assert (cfg.loss, cfg.lams, cfg.epochs, cfg.max_chunk_size) == ("cosine", (0.3,), 4, 2)
