"""The command line: ``corel-jax report`` runs where JAX cannot be imported, and
``python -m corel_jax`` is the same command as ``corel-jax``."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from corel_jax import rundir

ROOT = Path(__file__).resolve().parents[1]


def _fake_run_dir(d: Path) -> None:
    """A small run directory written with the numpy-only writers (no JAX)."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20).astype(np.int32)
    means = 4.0 * np.eye(3, 6)
    rundir.write_config(d, {"dataset": "toy", "model": "mlp", "loss": "cce", "setting": "toy-mlp",
                            "seeds": [0, 1], "lams": [0.5], "epochs": 2,
                            "similarity": "dot", "lam_meaning": None})
    records = []
    for run in range(2):
        h = (means[y] + rng.normal(size=(60, 6))).astype(np.float32)
        rundir.write_run_arrays(d, run, test_h=h, test_pred=y, prototypes=means.astype(np.float32))
        records.append({"run": run, "seed": run, "lam": 0.5, "best_epoch": 2,
                        "best_val_acc": 0.9, "test_acc": 1.0, "final_val_acc": 0.9,
                        "diverged": False, "diverged_epoch": None})
    rundir.write_runs(d, records)
    rundir.write_curves(d, np.ones((2, 2)), np.full((2, 2), 0.9))
    rundir.write_test_labels(d, y)


def test_report_imports_no_jax(tmp_path):
    fake = tmp_path / "fake"
    for name in ("jax", "flax", "optax"):
        (fake / name).mkdir(parents=True)
        (fake / name / "__init__.py").write_text(
            f"raise ImportError('{name} must not be imported by corel-jax report')\n")
    _fake_run_dir(tmp_path / "run")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake), str(ROOT)])}
    out = subprocess.run(
        [sys.executable, "-m", "corel_jax", "report", str(tmp_path / "run"), "--out",
         str(tmp_path / "report"), "--methods", "kmeans", "--no-plots", "-q"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "report" / "report.md").is_file()


def test_python_dash_m_is_the_command(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "corel_jax", "--help"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "report" in out.stdout and "train" in out.stdout
    out = subprocess.run([sys.executable, "-m", "corel_jax", "train", "--dataset", "nope",
                          "--out", str(tmp_path / "x")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "unknown dataset 'nope'" in out.stderr
