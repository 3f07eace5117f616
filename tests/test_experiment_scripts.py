"""The experiment scripts that only benchmarks run still run against the current engine API
(a tiny invocation each): profile_step.py and bench_vs_pytorch.py's engine side both broke
silently when the engine started taking a per-run hp dict."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def run(*args, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_profile_step_runs():
    out = run("experiments/profile_step.py", "--model", "mlp", "--runs", "2", "--steps", "2")
    assert "seed-examples/s" in out


@pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason="needs ../shared/data/mnist")
def test_bench_vs_pytorch_engine_side_runs():
    out = run("experiments/bench_vs_pytorch.py", "--models", "mlp", "--skip-torch", "--runs",
              "2", "--epochs", "1", "--train-size", "1100", "--data-dir", str(SHARED),
              "--out", "-")
    assert "mlp: engine epoch" in out
