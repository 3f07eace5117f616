"""A sweep that survives: SIGKILL mid-way, resume, and get exactly the uninterrupted results.

The sweep (digits, a grid of 2 λ x 2 learning rates with early stopping, split into 2 programs
of 2 runs, a checkpoint after every epoch) is killed in a subprocess once its second program
has written a checkpoint, then resumed with ``corel-jax train --resume``. Every result file
must equal, byte for byte, those of an uninterrupted sweep with the same configuration (the
per-run PRNG keys are part of the checkpoint and the epoch is deterministic, so no tolerance is
needed).
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corel_jax import rundir
from corel_jax.cli import main

EPOCHS = 6
ARGS = ["train", "--dataset", "digits", "--model", "mlp", "--loss", "gaussian", "--seeds", "1",
        "--lams", "0.5,0.9", "--lr", "1e-3,3e-3", "--patience", "2", "--epochs", str(EPOCHS),
        "--width", "32", "--batch-size", "64",
        "--checkpoint-every", "1", "--max-chunk-size", "2", "--quiet"]
TIMEOUT = 180


def result_files(d: Path) -> dict[str, bytes]:
    """Every file of a run directory but config.json (which holds timings) and the lock (the
    writer's pid), by relative path."""
    out = {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*"))
           if p.is_file() and p.name not in (rundir.CONFIG, rundir.LOCK)}
    if rundir.MANIFEST in out:  # config.json's size varies with its timings
        man = json.loads(out[rundir.MANIFEST])
        man.get("sizes", {}).pop(rundir.CONFIG, None)
        out[rundir.MANIFEST] = json.dumps(man, sort_keys=True).encode()
    return out


def config_without_timings(d: Path) -> dict:
    c = json.loads((d / rundir.CONFIG).read_text())
    for k in ("timings", "environment", "sessions"):
        c.pop(k, None)
    return c


def assert_same_results(a: Path, b: Path) -> None:
    fa, fb = result_files(a), result_files(b)
    assert sorted(fa) == sorted(fb)
    assert "runs/r003/test_h.npy" in fa and "params/final_params.npz" in fa
    for name in fa:
        assert fa[name] == fb[name], f"{name} differs"
    assert config_without_timings(a) == config_without_timings(b)


def cli(*argv):
    return subprocess.Popen([sys.executable, "-m", "corel_jax.cli", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted sweep (in this process)."""
    out = tmp_path_factory.mktemp("uninterrupted")
    assert main([*ARGS, "--out", str(out)]) == 0
    assert not (out / rundir.CHECKPOINT_SUBDIR).exists()  # removed once complete
    return out


def _second_program_checkpointed(run_dir: Path) -> bool:
    """A committed orbax checkpoint of the second program (steps > EPOCHS) exists."""
    state = run_dir / rundir.CHECKPOINT_SUBDIR / "state"
    try:
        return any(p.name.isdigit() and int(p.name) > EPOCHS for p in state.iterdir())
    except FileNotFoundError:
        return False


def test_sigkill_mid_sweep_then_resume_equals_uninterrupted(reference, tmp_path):
    run_dir = tmp_path / "killed"
    proc = cli(*ARGS, "--out", str(run_dir))
    deadline = time.monotonic() + TIMEOUT
    while not _second_program_checkpointed(run_dir):
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended before it could be killed:\n{proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("no checkpoint appeared in time")
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGKILL
    # Killed mid-way: the first program's results and a checkpoint, no result files yet.
    assert (run_dir / rundir.CONFIG).is_file() and not (run_dir / rundir.RUNS_JSON).exists()
    assert (run_dir / "checkpoints" / "chunks" / "chunk_000.npz").is_file()

    resumed = cli("train", "--resume", str(run_dir), "--quiet")
    out, err = resumed.communicate(timeout=TIMEOUT)
    assert resumed.returncode == 0, err[-3000:]
    assert "chunk 1/2: finished before" in out
    assert "resumed digits-mlp gaussian [2/2] from its checkpoint after epoch" in out
    assert_same_results(reference, run_dir)
    assert not (run_dir / rundir.CHECKPOINT_SUBDIR).exists()


def test_same_config_twice_gives_identical_files(reference, tmp_path):
    assert main([*ARGS, "--out", str(tmp_path)]) == 0
    assert_same_results(reference, tmp_path)


def test_killed_before_first_checkpoint_resumes_from_the_start(reference, tmp_path,
                                                               monkeypatch):
    from corel_jax.train import sweep as sweep_lib

    def killed(*a, **k):
        raise SystemExit(-9)

    with monkeypatch.context() as m:
        m.setattr(sweep_lib, "compile_program", killed)
        with pytest.raises(SystemExit):
            main([*ARGS, "--out", str(tmp_path)])
    assert (tmp_path / rundir.CONFIG).is_file()  # written at the start
    assert main(["train", "--resume", str(tmp_path), "--quiet"]) == 0
    assert_same_results(reference, tmp_path)


def test_resume_of_a_complete_run_dir_does_nothing(reference, capsys):
    before = result_files(reference)
    assert main(["train", "--resume", str(reference)]) == 0
    assert "nothing to resume" in capsys.readouterr().out
    assert result_files(reference) == before


def _one_line_error(argv, capsys, *needles):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err


def test_resume_flag_errors(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    _one_line_error(["train", "--resume", str(run_dir)], capsys, "config.json is missing")
    rundir.write_json(run_dir / rundir.CONFIG, {"dataset": "digits", "epochs": 3})
    _one_line_error(["train", "--resume", str(run_dir), "--out", str(tmp_path / "other")],
                    capsys, "conflicts with --resume")
    _one_line_error(["train", "--resume", str(run_dir), "--epochs", "5", "--lams", "0.1"],
                    capsys, "drop --lams, --epochs")
    _one_line_error(["train", "--quiet"], capsys, "--out RUN_DIR", "--resume RUN_DIR")


def test_new_sweep_refuses_to_overwrite_unfinished_checkpoints(tmp_path, capsys):
    (tmp_path / rundir.CHECKPOINT_SUBDIR / "chunks").mkdir(parents=True)
    (tmp_path / rundir.CHECKPOINT_SUBDIR / "chunks" / "chunk_000.npz").write_bytes(b"x")
    rundir.write_manifest(tmp_path, files=[rundir.CONFIG], complete=False)
    _one_line_error([*ARGS, "--out", str(tmp_path)], capsys, "--resume", "unfinished sweep")


def test_finished_chunk_files_of_older_sweeps_still_load(tmp_path):
    # Keys as sweeps wrote them before ChunkResult (and before early stopping: no
    # stopped_epoch); a sweep in progress then must still resume.
    import numpy as np

    from corel_jax.train.checkpoint import SweepCheckpoint
    from corel_jax.train.result import ChunkResult

    ckpt = SweepCheckpoint(tmp_path, epochs=3)
    ckpt.save_chunk(0, {
        "train_loss": np.ones((2, 3), np.float32), "val_acc": np.ones((2, 3), np.float32),
        "pred": np.zeros((2, 5), np.int32), "head/W": np.ones((2, 4, 6), np.float32),
        "best_val_acc": np.ones(2, np.float32), "best_epoch": np.ones(2, np.int32),
        "diverged_epoch": np.zeros(2, np.int32),
        "final_params/params/encoder/fc0/bias": np.ones((2, 6), np.float32)})
    piece = ChunkResult.from_arrays(ckpt.load_chunk(0))
    assert piece.h is None and piece.stopped_epoch.tolist() == [0, 0]
    assert piece.head["W"].shape == (2, 4, 6)
    assert piece.final_params["params"]["encoder"]["fc0"]["bias"].shape == (2, 6)
