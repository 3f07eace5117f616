"""Independent shards (``corel-jax train --shard I/N``) and ``corel-jax merge``: three shards
merged equal the one-process sweep of the same grid byte for byte (``--pad-run-groups``),
``report`` reads the merge, and a missing, duplicated, incomplete or foreign shard is refused
by name."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from corel_jax import rundir
from corel_jax.cli import main
from corel_jax.errors import ConfigError
from corel_jax.train.config import SweepConfig, parse_shard

ROOT = Path(__file__).resolve().parents[1]

#: 3 seeds x 3 λ = 9 runs: the sweep trains them in 5 groups of 2 (the last padded), each shard
#: its 3 runs in 2 (the last padded); run_batch 2 is the grouping on every machine (the
#: automatic one is 2 on a CPU only). Shards of one size: one compile serves the three
GRID = ["--dataset", "digits", "--loss", "center", "--seeds", "3", "--lams", "0.2,0.5,0.8",
        "--epochs", "2", "--width", "32", "--batch-size", "256", "--run-batch", "2",
        "--pad-run-groups", "--quiet"]
#: config.json keys that record each process's own (start time, machine, seconds)
VOLATILE = ("sessions", "timings", "environment")


def _train(out: Path, *extra: str) -> Path:
    assert main(["train", *GRID, *extra, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The one-process sweep and its three shards, each trained by ``corel-jax train``."""
    root = tmp_path_factory.mktemp("shards")
    full = _train(root / "full")
    shards = [_train(root / f"s{i}", "--shard", f"{i}/3") for i in range(3)]
    return root, full, shards


def _files(d: Path) -> set[str]:
    return {p.relative_to(d).as_posix() for p in d.rglob("*")
            if p.is_file() and p.name != rundir.LOCK}


def _merge(*args) -> int:
    return main(["merge", *map(str, args)])


def test_merged_shards_equal_the_one_process_sweep(trained, tmp_path, capsys):
    root, full, shards = trained
    # each shard is a run directory of its own runs, placed in the sweep by "sweep_run"
    s0 = rundir.load_config(shards[0])
    assert s0["shard"] == {"index": 0, "count": 3}
    assert (s0["num_runs"], s0["sweep_num_runs"]) == (3, 9)
    runs = rundir.load_runs(shards[2])
    assert [(r["run"], r["sweep_run"]) for r in runs] == [(0, 2), (1, 5), (2, 8)]
    whole = rundir.load_runs(full)
    assert [(r["seed"], r["lam"]) for r in runs] == \
        [(whole[i]["seed"], whole[i]["lam"]) for i in (2, 5, 8)]
    assert "sweep_run" in (shards[2] / rundir.RUNS_CSV).read_text().splitlines()[0]

    merged = tmp_path / "merged"
    assert _merge(shards[2], shards[0], shards[1], "--out", merged) == 0  # any order
    assert "merged 3 shards (9 runs)" in capsys.readouterr().out
    assert rundir.is_complete(merged)
    assert _files(merged) == _files(full)
    for name in sorted(_files(full)):
        a, b = (full / name).read_bytes(), (merged / name).read_bytes()
        if name == rundir.CONFIG:
            ca, cb = json.loads(a), json.loads(b)
            assert {k: v for k, v in ca.items() if k not in VOLATILE} == \
                {k: v for k, v in cb.items() if k not in VOLATILE}
            assert list(ca) == list(cb)  # the same keys, in the same order
            assert [s["shard"]["index"] for s in cb["sessions"]] == [0, 1, 2]
        elif name == rundir.MANIFEST:
            ma, mb = json.loads(a), json.loads(b)
            ma["sizes"].pop(rundir.CONFIG), mb["sizes"].pop(rundir.CONFIG)
            assert ma == mb
        else:  # runs.json, runs.csv, curves.csv, test_labels.npy, runs/r*/*.npy, params/*.npz
            assert a == b, f"{name} differs"

    # report reads the merge as usual, and pools the shards themselves to the same tables
    for name, dirs in (("merged", [merged]), ("pooled", shards)):
        assert main(["report", *map(str, dirs), "--out", str(tmp_path / name), "--methods",
                     "kmeans", "--no-plots", "-q"]) == 0
    for table in ("table2_accuracy.csv", "table3_clustering.csv", "lambda_curve.csv"):
        assert (tmp_path / "merged" / table).read_text() == \
            (tmp_path / "pooled" / table).read_text(), table


def test_a_missing_shard_is_named_with_its_runs(trained, tmp_path, capsys):
    _, _, shards = trained
    assert _merge(shards[0], shards[1], "--out", tmp_path / "m") == 2
    err = capsys.readouterr().err
    assert "shard 2/3 is missing: runs 2, 5, 8 (of the sweep's 9)" in err, err
    assert not (tmp_path / "m").exists()  # nothing written
    assert _merge(shards[1], "--out", tmp_path / "m") == 2
    assert "shard 0/3 is missing: runs 0, 3, 6; shard 2/3 is missing: runs 2, 5, 8" in \
        capsys.readouterr().err


def test_a_duplicated_shard_is_named(trained, tmp_path, capsys):
    _, _, shards = trained
    copy = tmp_path / "s1-again"
    shutil.copytree(shards[1], copy)
    assert _merge(*shards, copy, "--out", tmp_path / "m") == 2
    err = capsys.readouterr().err
    assert f"shards {shards[1]} and {copy} both hold run 1 (both are shard 1/3)" in err, err
    assert _merge(shards[0], shards[0], "--out", tmp_path / "m") == 2
    assert "is given twice" in capsys.readouterr().err


def test_shards_of_different_sweeps_are_refused_naming_the_field(trained, tmp_path, capsys):
    root, full, shards = trained
    other = _train(tmp_path / "lr", "--shard", "2/3", "--lr", "0.01")
    assert _merge(shards[0], shards[1], other, "--out", tmp_path / "m") == 2
    err = capsys.readouterr().err
    assert "are not one sweep: lr is 0.001 in the first and 0.01 in the second" in err, err
    # other data: the fingerprint is named (config.json is edited: the loaders do not check it)
    data = tmp_path / "data"
    shutil.copytree(shards[2], data)
    config = json.loads((data / rundir.CONFIG).read_text())
    config["data_fingerprint"] = "0123456789abcdef" * 4
    rundir.write_config(data, config)
    assert _merge(shards[0], shards[1], data, "--out", tmp_path / "m") == 2
    assert "not one sweep: data_fingerprint is" in capsys.readouterr().err
    # where a job read its data may differ; the merge records the first shard's
    moved = tmp_path / "moved"
    shutil.copytree(shards[2], moved)
    config = json.loads((moved / rundir.CONFIG).read_text())
    config["data_dir"] = "/elsewhere"
    rundir.write_config(moved, config)
    assert _merge(shards[0], shards[1], moved, "--out", tmp_path / "ok") == 0
    # an incomplete shard, and a whole sweep, are no shards to merge
    broken = tmp_path / "broken"
    shutil.copytree(shards[2], broken)
    man = json.loads((broken / rundir.MANIFEST).read_text())
    rundir.write_manifest(broken, files=man["files"], complete=False)
    assert _merge(shards[0], shards[1], broken, "--out", tmp_path / "m") == 2
    assert f"shard {broken} is incomplete" in capsys.readouterr().err
    assert _merge(full, "--out", tmp_path / "m") == 2
    assert f"{full} is not a shard" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_merge_follows_the_ownership_rules(trained, tmp_path, capsys):
    _, _, shards = trained
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert _merge(*shards, "--out", foreign) == 2
    assert "is not a corel-jax run directory" in capsys.readouterr().err
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    out = tmp_path / "merged"
    assert _merge(*shards, "--out", out) == 0
    assert _merge(*shards, "--out", out) == 2  # a finished one: only with --overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert _merge(*shards, "--out", out, "--overwrite") == 0
    assert _merge(*shards, "--out", shards[0], "--overwrite") == 2
    assert "is one of the shards" in capsys.readouterr().err
    assert rundir.is_complete(shards[0])


def test_merge_imports_no_jax(trained, tmp_path):
    _, _, shards = trained
    fake = tmp_path / "fake"
    for name in ("jax", "flax", "optax"):
        (fake / name).mkdir(parents=True)
        (fake / name / "__init__.py").write_text(
            f"raise ImportError('{name} must not be imported by corel-jax merge')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake), str(ROOT)])}
    out = subprocess.run([sys.executable, "-m", "corel_jax", "merge", *map(str, shards),
                          "--out", str(tmp_path / "m")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert rundir.is_complete(tmp_path / "m")


def test_the_shard_field():
    cfg = SweepConfig(seeds=(0, 1, 2), lams=(0.1, 0.5, 0.9), shard="1/4")
    assert cfg.shard == (1, 4) and parse_shard(" 1/4 ") == (1, 4)
    assert list(cfg.run_indices) == [1, 5] and cfg.num_runs == 2 and cfg.sweep_num_runs == 9
    assert cfg.runs == [cfg.sweep_runs[1], cfg.sweep_runs[5]]
    assert cfg.to_dict()["shard"] == {"index": 1, "count": 4}
    assert SweepConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    whole = SweepConfig(seeds=(0, 1, 2), lams=(0.1, 0.5, 0.9))
    assert whole.shard is None and whole.runs == whole.sweep_runs and whole.num_runs == 9
    assert whole.to_dict()["shard"] is None
    for bad, match in (("3/3", "0 <= I < N"), ("1/0", "N >= 1"), ("x", "use I/N"),
                       ("9/10", "has no runs: the grid has 9"), ((1, 2, 3), "integers")):
        with pytest.raises(ConfigError, match=match):
            SweepConfig(seeds=(0, 1, 2), lams=(0.1, 0.5, 0.9), shard=bad)


def test_a_shard_resumes_as_itself(tmp_path):
    """The shard picks the runs, as the seeds do: a resume may not change it (and reads it
    from config.json)."""
    from corel_jax.cli import build_parser
    from corel_jax.train.cli import resume_config

    cfg = SweepConfig(loss="cce", seeds=(0, 1, 2), epochs=3, shard=(1, 2))
    rundir.write_config(tmp_path, {rundir.CONFIG_FORMAT_KEY: 2, **cfg.to_dict()})
    parse = lambda *argv: build_parser(["train"]).parse_args(["train", *argv])
    assert resume_config(parse("--resume", str(tmp_path))) == cfg
    with pytest.raises(ConfigError, match="drop --shard"):
        resume_config(parse("--resume", str(tmp_path), "--shard", "0/2"))
