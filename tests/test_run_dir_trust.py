"""Run directories a researcher can trust: nothing of the user's deleted, finished sweeps not
replaced without --overwrite, one writer at a time, incomplete directories never read as
complete, sweeps that are not comparable never pooled, damaged files named, bad input
answered with one line and exit status 2 (the crash matrix is tests/test_faults.py).

The sweeps are tiny (digits, a 16-wide FFNN, 1-2 epochs) and run from a working directory
of their own with relative paths, as users run them.
"""

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from corel_jax import rundir
from corel_jax.cli import main
from corel_jax.errors import CorelError, DamagedFileError, IncompleteError

TINY = ["--dataset", "digits", "--model", "mlp", "--width", "16", "--loss", "cce",
        "--lams", "0.5", "--quiet"]


def tree(d: Path) -> dict[str, str]:
    """Every file under ``d`` with its SHA-256 (what "every file intact" compares)."""
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(d).rglob("*")) if p.is_file()}


def run_cli(argv, capsys, cwd: Path | None = None) -> tuple[int, str, str]:
    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        code = main(list(argv))
    finally:
        os.chdir(old)
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str, *needles: str) -> None:
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    """Two finished CCE sweeps on digits, written with relative --out from their folder:
    A (seeds 0-1, 1 epoch, split seed 0) and B (seeds 2-3, 2 epochs, split seed 3)."""
    root = tmp_path_factory.mktemp("sweeps")
    old = os.getcwd()
    os.chdir(root)
    try:
        assert main(["train", *TINY, "--seeds", "0:2", "--epochs", "1", "--out", "A"]) == 0
        assert main(["train", *TINY, "--seeds", "2:4", "--epochs", "2", "--split-seed", "3",
                     "--out", "B"]) == 0
    finally:
        os.chdir(old)
    return root


def copy_of(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# --------------------------------------------------------------------------- ownership


def test_out_into_a_folder_of_the_users_own_is_refused_with_every_file_intact(tmp_path, capsys):
    (tmp_path / "runs" / "old").mkdir(parents=True)
    (tmp_path / "runs" / "old" / "keep").write_text("keep")
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "my.txt").write_text("mine")
    (tmp_path / "config.json").write_text('{"mine": true}')
    before = tree(tmp_path)
    code, _, err = run_cli(["train", *TINY, "--seeds", "2", "--epochs", "2", "--out", "."],
                           capsys, cwd=tmp_path)
    assert code == 2
    one_line_error(err, "not a corel-jax run directory", "nothing was touched")
    assert tree(tmp_path) == before


def test_a_finished_sweep_is_replaced_only_with_overwrite_and_only_its_own_files(
        sweeps, tmp_path, capsys):
    d = copy_of(sweeps / "A", tmp_path / "A")
    (d / "notes.txt").write_text("the user's")
    (d / "runs" / "mine.txt").write_text("the user's too")
    before = tree(d)
    argv = ["train", *TINY, "--seeds", "1", "--epochs", "1", "--out", "A"]
    code, _, err = run_cli(argv, capsys, cwd=tmp_path)
    assert code == 2
    one_line_error(err, "holds a finished sweep", "--overwrite")
    assert tree(d) == before
    code, _, err = run_cli([*argv, "--overwrite"], capsys, cwd=tmp_path)
    assert code == 0, err
    assert (d / "notes.txt").read_text() == "the user's"
    assert (d / "runs" / "mine.txt").read_text() == "the user's too"
    assert rundir.is_complete(d)
    assert len(rundir.load_runs(d)) == 1  # the new sweep: 1 seed
    assert not (d / "runs" / "r001").exists()  # the old sweep's second run is gone
    man = rundir.read_manifest(d)
    assert "notes.txt" not in man["files"] and "runs/r000/test_h.npy" in man["files"]


def test_overwrite_of_a_pre_manifest_run_directory_deletes_only_the_files_it_wrote(tmp_path):
    from corel_jax.train import ownership

    d = tmp_path / "old"
    rundir.write_config(d, {"loss": "cce", "seeds": [0], "lams": [0.5]})
    rundir.write_runs(d, [{"run": 0, "seed": 0, "lam": 0.5, "best_epoch": 1, "best_val_acc": 1,
                           "test_acc": 1, "final_val_acc": 1, "diverged": False,
                           "diverged_epoch": None}])
    rundir.write_run_arrays(d, 0, test_pred=np.zeros(3, np.int32))
    (d / "runs" / "r000" / "mine.npy").write_bytes(b"user")
    (d / "README").write_text("user")
    assert rundir.status(d) == "complete"
    with pytest.raises(CorelError, match="--overwrite"):
        ownership.check(d, resume=False, overwrite=False)
    ownership.claim(d, resume=False, overwrite=True).release()
    assert sorted(tree(d)) == [rundir.LOCK, "README", "runs/r000/mine.npy"]


def test_a_manifest_naming_paths_outside_the_run_directory_deletes_nothing_there(tmp_path):
    from corel_jax.train import ownership

    outside = tmp_path / "precious.txt"
    outside.write_text("keep")
    d = tmp_path / "sweep"
    rundir.write_config(d, {"loss": "cce", "seeds": [0], "lams": [0.5]})
    rundir.write_manifest(d, files=["../precious.txt", str(outside), "config.json"],
                          complete=True)
    ownership.claim(d, resume=False, overwrite=True).release()
    assert outside.read_text() == "keep" and not (d / "config.json").exists()


# --------------------------------------------------------------------------- one writer


def test_a_second_writer_is_refused_naming_the_holder_and_a_dead_holders_lock_is_taken(
        sweeps, tmp_path, capsys):
    from corel_jax.train.ownership import RunDirLock

    d = copy_of(sweeps / "A", tmp_path / "A")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from corel_jax.train.ownership import "
         "RunDirLock; RunDirLock(sys.argv[1]).acquire(); print('held', flush=True); "
         "time.sleep(120)", str(d)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = tree(d)
        code, _, err = run_cli(["train", *TINY, "--seeds", "1", "--epochs", "1", "--out", "A",
                                "--overwrite"], capsys, cwd=tmp_path)
        assert code == 2
        one_line_error(err, "being written by another corel-jax process",
                       f"pid {holder.pid}")
        assert tree(d) == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    # the kernel released the dead process's lock: the next writer takes it over
    RunDirLock(d).acquire().release()


# --------------------------------------------------------------------------- completion


def test_incomplete_run_directories_are_refused_by_report_and_loaders(sweeps, tmp_path, capsys):
    d = copy_of(sweeps / "A", tmp_path / "runs" / "A")
    man = rundir.read_manifest(d)
    rundir.write_manifest(d, files=man["files"], complete=False)
    with pytest.raises(IncompleteError, match="--resume"):
        rundir.load_runs(d)
    with pytest.raises(IncompleteError):
        rundir.load_run_array(d, 0, "test_h")
    code, _, err = run_cli(["report", "runs", "--out", "rep", "-q"], capsys, cwd=tmp_path)
    assert code == 2
    one_line_error(err, "incomplete", "runs/A", "--skip-incomplete")
    assert not (tmp_path / "rep").exists()
    copy_of(sweeps / "B", tmp_path / "runs" / "B")
    code, out, err = run_cli(["report", "runs", "--out", "rep", "-q", "--skip-incomplete",
                              "--no-clustering", "--no-plots"], capsys, cwd=tmp_path)
    assert code == 0, err
    assert "leaving out runs/A" in err
    assert "runs/B" in (tmp_path / "rep" / "report.md").read_text()


def test_a_sweep_killed_while_writing_results_is_not_complete(tmp_path):
    # written before the manifest existed: runs.json but checkpoints still there
    d = tmp_path / "legacy"
    rundir.write_config(d, {"loss": "cce", "seeds": [0], "lams": [0.5]})
    rundir.write_json(d / rundir.RUNS_JSON, [])
    (d / rundir.CHECKPOINT_SUBDIR / "chunks").mkdir(parents=True)
    (d / rundir.CHECKPOINT_SUBDIR / "chunks" / "chunk_000.npz").write_bytes(b"x")
    assert rundir.status(d) == "incomplete"
    shutil.rmtree(d / rundir.CHECKPOINT_SUBDIR)
    assert rundir.status(d) == "complete"


# --------------------------------------------------------------------------- comparability


def test_report_refuses_to_pool_sweeps_that_are_not_comparable(sweeps, tmp_path, capsys):
    code, _, err = run_cli(["report", str(sweeps / "A"), str(sweeps / "B"), "--out", "rep",
                            "-q"], capsys, cwd=tmp_path)
    assert code == 2
    one_line_error(err, "not comparable", str(sweeps / "A"), str(sweeps / "B"),
                   "data_fingerprint", "epochs", "split_seed", "--group-by")
    assert not (tmp_path / "rep").exists()
    code, _, err = run_cli(["report", str(sweeps / "A"), str(sweeps / "B"), "--out", "rep",
                            "-q", "--no-clustering", "--no-plots",
                            "--group-by", "epochs,split_seed"], capsys, cwd=tmp_path)
    assert code == 0, err
    with open(tmp_path / "rep" / "accuracy_runs.csv", newline="") as f:
        losses = sorted({row["loss"] for row in csv.DictReader(f)})
    assert losses == ["cce [epochs=1, split_seed=0]", "cce [epochs=2, split_seed=3]"]


def test_comparable_run_directories_are_pooled(sweeps, tmp_path):
    from corel_jax.evaluate import load_sweeps

    a = copy_of(sweeps / "A", tmp_path / "A")
    b = copy_of(sweeps / "A", tmp_path / "A2")
    runs = json.loads((b / rundir.RUNS_JSON).read_text())
    for r in runs:
        r["seed"] += 10
    rundir.write_json(b / rundir.RUNS_JSON, runs)
    rundir.write_manifest(b, files=rundir.read_manifest(b)["files"], complete=True)
    (s,) = load_sweeps([a, b])
    assert len(s.runs) == 4 and s.loss == "cce"


def test_every_config_field_is_compared_unless_declared_not_to_change_results():
    """A field added to SweepConfig is compared by reports (and checked on resume) unless its
    metadata says it does not change results: forgetting it can only refuse, never mix."""
    import dataclasses

    from corel_jax.evaluate.sweeps import _PER_RUN, COMPARABLE_FIELDS, comparability
    from corel_jax.train import SweepConfig
    from corel_jax.train.config import NOT_RESULT_FIELDS

    for f in dataclasses.fields(SweepConfig):
        assert (f.name in COMPARABLE_FIELDS) + (f.name in NOT_RESULT_FIELDS) \
            + (f.name in _PER_RUN) == 1, f.name
    assert {"data_fingerprint", "library_major", "epochs", "split_seed"} <= set(
        COMPARABLE_FIELDS)
    assert {"data_dir", "checkpoint_every", "save_representations"} <= set(NOT_RESULT_FIELDS)
    # a config.json written before a field existed compares as that field's default
    old = comparability({"dataset": "digits", "model": "mlp", "loss": "cce", "epochs": 3})
    assert old["patience"] is None and old["split_seed"] == 0 and old["epochs"] == 3
    assert old["library_major"] == "0" and old["data_fingerprint"] is None


def test_unknown_group_by_field_is_a_clear_error(sweeps, tmp_path, capsys):
    code, _, err = run_cli(["report", str(sweeps / "A"), "--out", "rep", "-q",
                            "--group-by", "epoch"], capsys, cwd=tmp_path)
    assert code == 2
    one_line_error(err, "cannot group by epoch", "epochs")


# --------------------------------------------------------------------------- damaged files


@pytest.mark.parametrize("name", ["config.json", "runs.json", "test_labels.npy",
                                  "runs/r000/test_h.npy", "corel-jax-run.json"])
def test_a_damaged_file_is_named_never_a_traceback(sweeps, tmp_path, capsys, name):
    d = copy_of(sweeps / "A", tmp_path / "A")
    data = (d / name).read_bytes()
    (d / name).write_bytes(data[: len(data) // 2])  # truncated
    code, _, err = run_cli(["report", "A", "--out", "rep", "-q", "--no-plots"], capsys,
                           cwd=tmp_path)
    assert code == 2
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert "Traceback" not in err and len(lines) == 1, err
    if name == rundir.MANIFEST:  # a damaged manifest vouches for nothing: incomplete
        assert "incomplete" in lines[0]
    else:
        assert str(Path("A") / name) in lines[0]


@pytest.mark.parametrize("name,load", [
    ("curves.csv", rundir.load_curves),
    ("params/best_heads.npz", lambda d: rundir.load_params(d, rundir.BEST_HEADS)),
    ("params/final_params.npz", rundir.load_final_params),
    ("runs/r001/prototypes.npy", lambda d: rundir.load_run_array(d, 1, "prototypes")),
])
def test_a_truncated_file_is_named_even_where_it_would_parse(sweeps, tmp_path, name, load):
    d = copy_of(sweeps / "A", tmp_path / "A")
    text = (d / name).read_bytes()
    # cut at a line end where there is one: the CSV still parses, the size gives it away
    cut = text.rfind(b"\n", 0, len(text) // 2) + 1 or len(text) // 2
    (d / name).write_bytes(text[:cut])
    with pytest.raises(DamagedFileError, match=name.split("/")[-1]):
        load(d)


def test_loaders_raise_damaged_file_error_naming_the_file(sweeps, tmp_path):
    d = copy_of(sweeps / "A", tmp_path / "A")
    (d / "params" / "final_params.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DamagedFileError, match="final_params.npz"):
        rundir.load_final_params(d)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("flags,needle", [
    (["--seeds", "4294967296,1"], "seeds must lie in [0, 2**32)"),
    (["--seeds=-1,2"], "seeds must lie in [0, 2**32)"),
    (["--split-seed", "-1"], "split_seed must be an integer in [0, 2**32)"),
    (["--memory-budget-gb", "inf"], "memory_budget_gb must be a finite number"),
    (["--memory-budget-gb", "nan"], "memory_budget_gb must be a finite number"),
])
def test_bad_training_input_is_one_line_and_touches_nothing(tmp_path, capsys, flags, needle):
    (tmp_path / "keep.txt").write_text("x")
    code, _, err = run_cli(["train", *TINY, "--epochs", "1", *flags, "--out", "sweep"],
                           capsys, cwd=tmp_path)
    assert code == 2
    one_line_error(err, needle)
    assert sorted(tree(tmp_path)) == ["keep.txt"]


def test_a_mistyped_silhouette_metric_is_one_line(sweeps, tmp_path, capsys):
    code, _, err = run_cli(["report", str(sweeps / "A"), "--out", "rep", "-q",
                            "--silhouette-metric", "eucliden"], capsys, cwd=tmp_path)
    assert code == 2
    one_line_error(err, "unknown silhouette metric 'eucliden'", "euclidean")


def test_an_unwritable_out_is_one_line_naming_the_path(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    code, _, err = run_cli(["train", *TINY, "--epochs", "1", "--out", "file/sweep"], capsys,
                           cwd=tmp_path)
    assert code == 2
    one_line_error(err, "file")


def test_report_from_another_working_directory_with_relative_paths(sweeps, tmp_path, capsys):
    rel = os.path.relpath(sweeps / "A", tmp_path)
    code, _, err = run_cli(["report", rel, "--out", "rep", "-q", "--no-clustering",
                            "--no-plots"], capsys, cwd=tmp_path)
    assert code == 0, err
    assert (tmp_path / "rep" / "report.md").is_file()


def test_an_ascii_terminal_does_not_fail_a_finished_sweep(tmp_path):
    """``PYTHONIOENCODING=ascii``: the table's λ and ± are escaped, the exit status is 0."""
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "JAX_PLATFORMS": "cpu"}
    # 2 seeds: the table has a ± (one run alone shows its value without one)
    r = subprocess.run([sys.executable, "-m", "corel_jax.cli", "train", *TINY, "--seeds", "2",
                        "--epochs", "1", "--out", "sweep"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "\\xb1" in r.stdout
    assert rundir.is_complete(tmp_path / "sweep")


def test_a_relative_data_dir_is_recorded_absolute(tmp_path, monkeypatch):
    """So a resume from another working directory reads the same files."""
    import argparse

    from corel_jax.train import cli as train_cli

    p = argparse.ArgumentParser()
    train_cli.add_arguments(p)
    monkeypatch.chdir(tmp_path)
    cfg = train_cli.config_from_args(p.parse_args(["--data-dir", "../data", "--epochs", "1"]))
    assert cfg.data_dir == str(tmp_path.parent / "data")
