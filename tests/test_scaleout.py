"""Scale-out on CPU: a sweep sharded over 4 forced host devices, and over 2 processes on
localhost (gloo collectives), gives the same per-run results as one device in one process.

Each configuration runs in a subprocess (the device count is fixed when JAX starts). Loopback
only; every subprocess has a time limit.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from corel_jax import rundir

ARGS = ["--dataset", "digits", "--model", "mlp", "--loss", "cosine", "--seeds", "3",
        "--lams", "0.5", "--epochs", "2", "--width", "32", "--batch-size", "64", "--quiet"]
TIMEOUT = 240


def _train(out, *extra, devices=1, env_extra=None):
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                        f" --xla_force_host_platform_device_count={devices}").strip()
    env["JAX_PLATFORMS"] = "cpu"
    env.update(env_extra or {})
    return subprocess.Popen([sys.executable, "-m", "corel_jax.cli", "train", *ARGS, "--out",
                             str(out), *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc):
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"subprocess timed out after {TIMEOUT}s:\n{err[-2000:]}")
    assert proc.returncode == 0, err[-3000:]
    return out, err


def _results(d):
    runs = rundir.load_runs(d)
    h = np.stack([rundir.load_run_array(d, r["run"], "test_h") for r in runs])
    return runs, rundir.load_curves(d), h


def _assert_same(a, b):
    runs_a, curves_a, h_a = _results(a)
    runs_b, curves_b, h_b = _results(b)
    assert len(runs_a) == len(runs_b) == 3  # 3 runs; the padding run was dropped
    for ra, rb in zip(runs_a, runs_b):
        assert (ra["seed"], ra["lam"], ra["best_epoch"]) == (rb["seed"], rb["lam"],
                                                             rb["best_epoch"])
        assert ra["best_val_acc"] == pytest.approx(rb["best_val_acc"], abs=1e-6)
        assert ra["test_acc"] == pytest.approx(rb["test_acc"], abs=1e-6)
    np.testing.assert_allclose(curves_a["train_loss"], curves_b["train_loss"], rtol=1e-5)
    np.testing.assert_allclose(h_a, h_b, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("one_device")
    _finish(_train(out))
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
    procs = [
        _train(tmp_path / f"p{i}", "--coordinator", coord, "--num-processes", "2",
               "--process-id", str(i))
        for i in range(2)
    ]
    for p in procs:
        _finish(p)
    # Process 0 gathers and writes; process 1 writes nothing.
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
