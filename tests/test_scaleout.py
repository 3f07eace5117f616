"""Scale-out on CPU: a sweep sharded over 4 forced host devices, and over 2 processes on
localhost (gloo collectives), gives the same per-run results as one device in one process; a
sweep checkpointed on 4 devices and killed resumes on 2, 3 or 1 device with the same numbers;
a 2-process sweep killed, or preempted (SIGTERM), mid-way resumes with the same 2 processes to
the uninterrupted 2-process sweep's files, byte for byte.

Each configuration runs in a subprocess (the device count is fixed when JAX starts). Loopback
only; every subprocess has a time limit.
"""

import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from corel_jax import rundir

ARGS = ["--dataset", "digits", "--model", "mlp", "--loss", "cosine", "--seeds", "3",
        "--lams", "0.5", "--epochs", "2", "--width", "32", "--batch-size", "64", "--quiet"]
TIMEOUT = 240


def _cli(argv, *, devices=1, env_extra=None):
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                        f" --xla_force_host_platform_device_count={devices}").strip()
    env["JAX_PLATFORMS"] = "cpu"
    env.update(env_extra or {})
    return subprocess.Popen([sys.executable, "-m", "corel_jax.cli", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _train(out, *extra, devices=1, env_extra=None, args=ARGS):
    return _cli(["train", *args, "--out", str(out), *extra], devices=devices,
                env_extra=env_extra)


def _finish(proc, returncode=0):
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"subprocess timed out after {TIMEOUT}s:\n{err[-2000:]}")
    assert proc.returncode == returncode, err[-3000:]
    return out, err


def _results(d):
    runs = rundir.load_runs(d)
    h = np.stack([rundir.load_run_array(d, r["run"], "test_h") for r in runs])
    return runs, rundir.load_curves(d), h


def _assert_same(a, b, num_runs=3):
    """Equal to float rounding (the runs vmapped together on a device differ: see the
    documentation's docs/guide/scale-out.md)."""
    runs_a, curves_a, h_a = _results(a)
    runs_b, curves_b, h_b = _results(b)
    assert len(runs_a) == len(runs_b) == num_runs  # the padding runs were dropped
    for ra, rb in zip(runs_a, runs_b):
        assert (ra["seed"], ra["lam"], ra["best_epoch"]) == (rb["seed"], rb["lam"],
                                                             rb["best_epoch"])
        assert ra["best_val_acc"] == pytest.approx(rb["best_val_acc"], abs=1e-6)
        assert ra["test_acc"] == pytest.approx(rb["test_acc"], abs=1e-6)
    np.testing.assert_allclose(curves_a["train_loss"], curves_b["train_loss"], rtol=1e-5)
    np.testing.assert_allclose(h_a, h_b, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The sweep on one device, in this process (a test process has one CPU device)."""
    from corel_jax.cli import main

    out = tmp_path_factory.mktemp("one_device")
    assert main(["train", *ARGS, "--out", str(out)]) == 0
    return out


def test_sharded_over_four_devices_equals_one_device(reference, tmp_path):
    _finish(_train(tmp_path, devices=4))
    env = json.loads((tmp_path / "config.json").read_text())["environment"]
    assert env["device_count"] == 4
    _assert_same(reference, tmp_path)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one_process(reference, tmp_path):
    coord = f"127.0.0.1:{_free_port()}"
    # each process its own --out (as on hosts that share no filesystem)
    procs = [
        _train(tmp_path / f"p{i}", "--coordinator", coord, "--num-processes", "2",
               "--process-id", str(i), "--checkpoint-every", "1")
        for i in range(2)
    ]
    outs = [_finish(p)[0] for p in procs]
    # Process 0 gathers and writes; process 1 writes nothing. It cannot see the checkpoints
    # process 0 writes, so they are off (and the sweep trains as before).
    assert all("checkpoints are off: not every process sees" in o for o in outs)
    assert rundir.is_run_dir(tmp_path / "p0")
    assert not (tmp_path / "p1").exists()
    env = json.loads((tmp_path / "p0" / "config.json").read_text())["environment"]
    assert env["process_count"] == 2 and env["device_count"] == 2
    _assert_same(reference, tmp_path / "p0")


def test_incomplete_multiprocess_flags_are_an_error(tmp_path):
    proc = _train(tmp_path, "--num-processes", "2")
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 2
    assert "--coordinator" in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------- resume on another number of devices

# 6 runs in 2 chunks of 4 on 4 devices (the second: 2 runs and 2 copies of its first),
# a checkpoint after every epoch
RESHARD_ARGS = ["--dataset", "digits", "--model", "mlp", "--loss", "cosine", "--seeds", "3",
                "--lams", "0.5,0.9", "--epochs", "3", "--width", "32", "--batch-size", "64",
                "--checkpoint-every", "1", "--max-chunk-size", "4", "--quiet"]


@pytest.fixture(scope="module")
def killed_on_four(tmp_path_factory):
    """An uninterrupted sweep on 4 devices (counting its write points), the same sweep killed
    (SIGKILL) on 4 devices just before the second checkpoint of its second chunk (the first
    chunk finished, the second checkpointed after epoch 1), and the sweep uninterrupted on
    one device."""
    root = tmp_path_factory.mktemp("reshard")
    points = root / "points.tsv"
    _finish(_train(root / "four", devices=4, args=RESHARD_ARGS,
                   env_extra={"COREL_JAX_FAULT": "count",
                              "COREL_JAX_FAULT_LOG": str(points)}))
    paths = [line.split("\t", 1)[1] for line in points.read_text().splitlines()]
    # the write just before the second chunk's file (point numbers start at 1)
    kill_at = next(i for i, p in enumerate(paths) if p.endswith("chunks/chunk_001.npz"))
    assert paths[kill_at - 1].endswith("checkpoints/state/5"), paths
    _finish(_train(root / "killed", devices=4, args=RESHARD_ARGS,
                   env_extra={"COREL_JAX_FAULT": f"kill@{kill_at}"}), returncode=-9)
    one = root / "one"
    _finish(_train(one, args=RESHARD_ARGS))
    return root, paths


@pytest.mark.parametrize("devices", [2, 3, 1])
def test_checkpoint_of_four_devices_resumes_on_fewer(killed_on_four, tmp_path, devices):
    """Resumed on 2 devices, on 1, and on 3 (the chunk of 4 padded to 6 runs, its state read
    through the host): the finished chunk is read back bit for bit; the second continues from
    its checkpoint and every number equals the uninterrupted sweep's (on 1 device and on 4)
    to float rounding, not bit for bit (the runs each device vmaps together differ)."""
    root, _ = killed_on_four
    run_dir = tmp_path / "resumed"
    shutil.copytree(root / "killed", run_dir)
    out, _ = _finish(_cli(["train", "--resume", str(run_dir), "--quiet"], devices=devices))
    assert f"resuming on {devices} device(s) a sweep checkpointed on 4" in out
    assert ("padded to 6" in out) == (devices == 3)
    assert "not yet started" not in out  # both chunks were started
    assert "chunk 1/2: finished before" in out
    assert "resumed digits-mlp cosine [2/2] from its checkpoint after epoch 1" in out
    assert not (run_dir / rundir.CHECKPOINT_SUBDIR).exists()
    for reference in (root / "one", root / "four"):
        _assert_same(reference, run_dir, num_runs=6)
        with np.load(reference / "params" / "final_params.npz") as a, \
                np.load(run_dir / "params" / "final_params.npz") as b:
            assert sorted(a.files) == sorted(b.files)
            for k in a.files:
                np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6)
    # the chunk finished on 4 devices before the kill: its files as the 4-device sweep's
    for i in range(4):
        for name in ("test_h", "test_pred", "prototypes"):
            assert np.array_equal(rundir.load_run_array(root / "four", i, name),
                                  rundir.load_run_array(run_dir, i, name))



def test_chunks_not_yet_started_are_planned_anew_for_the_new_device_count(killed_on_four,
                                                                         tmp_path):
    """Killed in its first chunk on 4 devices (chunk 1: runs 0-3, checkpointed after epoch 1,
    killed as it writes the checkpoint after epoch 2; chunk 2: runs 4-5 padded to 4, not
    started) and resumed on 3: the started chunk keeps its
    4 runs (padded to 6), the runs not yet started are planned for 3 devices (one chunk of
    3: the 2 runs and 1 copy, not 4 padded to 6), recorded in the session's record; every
    number equals
    the uninterrupted sweep's to float rounding."""
    root, paths = killed_on_four
    # the write just before the first chunk's file (point numbers start at 1)
    kill_at = next(i for i, p in enumerate(paths) if p.endswith("chunks/chunk_000.npz"))
    assert paths[kill_at - 1].endswith("checkpoints/state/2"), paths
    run_dir = tmp_path / "killed"
    _finish(_train(run_dir, devices=4, args=RESHARD_ARGS,
                   env_extra={"COREL_JAX_FAULT": f"kill@{kill_at}"}), returncode=-9)
    out, _ = _finish(_cli(["train", "--resume", str(run_dir), "--quiet"], devices=3))
    assert "its 1 chunk(s) already started keep their 4 runs, padded to 6" in out
    assert "its 1 chunk(s) not yet started (runs 4-5) are planned anew" in out
    assert "resumed digits-mlp cosine [1/2] from its checkpoint after epoch 1" in out
    sessions = rundir.load_config(run_dir)["sessions"]
    assert "chunks" not in sessions[0] and sessions[1]["chunks"] == [[0, 4], [4, 3]]
    for reference in (root / "one", root / "four"):
        _assert_same(reference, run_dir, num_runs=6)


def test_continue_layout_keeps_started_chunks_and_plans_the_rest(monkeypatch):
    """The layout a resume on another device count continues, with a stand-in checkpoint and
    memory plan: finished and checkpointed chunks keep their runs; the rest is planned anew;
    on the layout's own device count nothing changes."""
    from types import SimpleNamespace

    from corel_jax.train import memory, resume
    from corel_jax.train.memory import Layout

    layout = Layout(num_runs=10, chunk_size=4, num_chunks=3, num_devices=4)
    ckpt = SimpleNamespace(started_chunks=lambda: {0, 1})
    plans = []

    def plan(cfg, program, dataset, num_runs, num_devices):
        plans.append((num_runs, num_devices))
        return memory.plan(num_runs=num_runs, params_bytes=1, step_activation_bytes=1,
                           eval_activation_bytes=1, data_bytes=0, budget_bytes=10**9,
                           max_runs=1, num_devices=num_devices)

    monkeypatch.setattr(memory, "sweep_plan", plan)
    messages: list[str] = []
    one = SimpleNamespace(num_devices=1, padded=lambda n: n)
    got = resume.continue_layout(layout, ckpt, None, None, None, one, messages.append)
    assert plans == [(2, 1)]  # runs 8-9, on 1 device
    assert got.chunks == ((0, 4), (4, 4), (8, 1), (9, 1)) and got.num_chunks == 4
    assert (got.first(3), got.size(3), got.num_devices, got.chunk_size) == (9, 1, 1, 4)
    assert Layout.from_dict(got.to_dict()) == got
    assert "its 2 chunk(s) already started keep their 4 runs" in messages[0]
    assert "4 run(s) of such a chunk (1 before) and needs more memory" in messages[0]
    assert "its 1 chunk(s) not yet started (runs 8-9) are planned anew" in messages[1]
    four = SimpleNamespace(num_devices=4, padded=lambda n: n)
    assert resume.continue_layout(layout, ckpt, None, None, None, four, print) is layout
    assert "chunks" not in layout.to_dict()  # layout.json as it always was


# ------------------------------------------- several processes: checkpoints, kill, SIGTERM

# 4 runs in 2 chunks of 2 (one run per process), a checkpoint after every epoch
MP_ARGS = ["--dataset", "digits", "--model", "mlp", "--loss", "cosine", "--seeds", "2",
           "--lams", "0.5,0.9", "--epochs", "3", "--width", "32", "--batch-size", "64",
           "--checkpoint-every", "1", "--max-chunk-size", "2", "--quiet"]


def _two_processes(argv, *, faults=(None, None), env_extra=None):
    """Both processes of a 2-process sweep (gloo on localhost) running ``corel-jax train
    ARGV``; ``faults``: each process's ``COREL_JAX_FAULT``."""
    coord = f"127.0.0.1:{_free_port()}"
    return [_cli(["train", *argv, "--coordinator", coord, "--num-processes", "2",
                  "--process-id", str(i)],
                 env_extra={**(env_extra or {}),
                            **({"COREL_JAX_FAULT": faults[i]} if faults[i] else {})})
            for i in range(2)]


@pytest.fixture(scope="module")
def two_process_sweep(tmp_path_factory):
    """The uninterrupted 2-process sweep (both processes given the same --out), and process
    0's write points."""
    root = tmp_path_factory.mktemp("two_processes")
    points = root / "points.tsv"
    procs = _two_processes([*MP_ARGS, "--out", str(root / "sweep")], faults=("count", None),
                           env_extra={"COREL_JAX_FAULT_LOG": str(points)})
    for p in procs:
        _finish(p)
    assert not (root / "sweep" / rundir.CHECKPOINT_SUBDIR).exists()
    paths = [line.split("\t", 1)[1] for line in points.read_text().splitlines()]
    return root / "sweep", paths


def _resume_two_processes(run_dir):
    outs = [_finish(p)[0] for p in _two_processes(["--resume", str(run_dir), "--quiet"])]
    return outs


def test_two_processes_killed_mid_sweep_resume_to_identical_files(two_process_sweep, tmp_path):
    """Process 0 is SIGKILLed as it starts the second checkpoint of chunk 2 (chunk 1 finished,
    chunk 2 checkpointed after epoch 1, by both processes: each its shards); process 1, left
    alone, is ended too. Both resume with the same process flags: the files equal the
    uninterrupted 2-process sweep's, byte for byte; so do those of a copy resumed by one
    process on 2 devices."""
    from test_resume import assert_same_results

    reference, paths = two_process_sweep
    kill_at = next(i for i, p in enumerate(paths) if p.endswith("chunks/chunk_001.npz"))
    assert paths[kill_at - 1].endswith("checkpoints/state/5"), paths
    run_dir = tmp_path / "sweep"
    procs = _two_processes([*MP_ARGS, "--out", str(run_dir)], faults=(f"kill@{kill_at}", None))
    procs[0].communicate(timeout=TIMEOUT)
    assert procs[0].returncode == -9
    try:  # process 1 ends itself once the coordinator is gone; else it is killed
        procs[1].communicate(timeout=60)
    except subprocess.TimeoutExpired:
        procs[1].kill()
        procs[1].communicate()
    assert procs[1].returncode != 0
    ckpt = run_dir / rundir.CHECKPOINT_SUBDIR
    assert (ckpt / "chunks" / "chunk_000.npz").is_file()
    assert (ckpt / "state" / "4").is_dir() and not (run_dir / rundir.RUNS_JSON).exists()
    one_process = tmp_path / "one_process"
    shutil.copytree(run_dir, one_process)
    outs = _resume_two_processes(run_dir)
    for out in outs:
        assert "chunk 1/2: finished before" in out
        assert "resumed digits-mlp cosine [2/2] from its checkpoint after epoch 1" in out
    assert_same_results(reference, run_dir)
    assert not ckpt.exists()
    # one process with 2 devices reads both processes' shards; each device trains the run it
    # trained before, so the files are the same, byte for byte
    out, _ = _finish(_cli(["train", "--resume", str(one_process), "--quiet"], devices=2))
    assert "resumed digits-mlp cosine [2/2] from its checkpoint after epoch 1" in out
    assert_same_results(reference, one_process)


def test_two_processes_sigterm_to_one_stops_both_with_75_and_resumes_identically(
        two_process_sweep, tmp_path):
    """SIGTERM reaches process 1 alone (as its first checkpoint is written, after epoch 1):
    both processes agree to stop after epoch 2, save the checkpoint, print one line each and
    exit with 75; the resume gives the uninterrupted sweep's files."""
    from test_resume import assert_same_results

    reference, _ = two_process_sweep
    run_dir = tmp_path / "sweep"
    procs = _two_processes([*MP_ARGS, "--out", str(run_dir)], faults=(None, "term@1"))
    for p in procs:
        _, err = _finish(p, returncode=75)
        lines = [x for x in err.splitlines() if x.strip() and not x.startswith("[Gloo]")]
        assert len(lines) == 1 and "Traceback" not in err, err
        assert "preempted: stopped by SIGTERM after epoch 2 of chunk 1/2; checkpoint saved" \
            in lines[0] and f"--resume {run_dir}" in lines[0]
    state = run_dir / rundir.CHECKPOINT_SUBDIR / "state"
    assert sorted(int(p.name) for p in state.iterdir() if p.name.isdigit()) == [1, 2]
    outs = _resume_two_processes(run_dir)
    assert all("resumed digits-mlp cosine [1/2] from its checkpoint after epoch 2" in o
               for o in outs)
    assert_same_results(reference, run_dir)
