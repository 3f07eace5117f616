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


def test_large_lambda_clamped_cosine_is_the_original_codes_repulsion():
    """The study's ``cosine-clamped`` variant computes the original code's CosineARLoss: the
    true class's cosine zeroed before the max, so a row whose other cosines are all negative
    has no repulsion (ours, excluding the true class, would square the largest negative one)."""
    import jax.numpy as jnp
    import numpy as np

    sys.path.insert(0, str(ROOT / "experiments"))
    from corel_jax.loss_spec import Head

    import large_lambda

    spec = large_lambda.clamped_cosine_spec()
    W = jnp.array([[1.0, 0.0], [-1.0, 0.2], [0.0, 1.0]])
    h = jnp.array([[2.0, 0.0], [0.5, 0.5]])
    y = jnp.array([0, 2])
    cos = np.asarray(h / np.linalg.norm(h, axis=1, keepdims=True)) @ np.asarray(
        W / np.linalg.norm(W, axis=1, keepdims=True)).T
    lam = 0.3
    masked = np.where(np.arange(3) == np.asarray(y)[:, None], 0.0, cos)
    expected = -lam * cos[np.arange(2), y] + (1 - lam) * masked.max(axis=1) ** 2
    got = spec.objective(h, Head(W=W), y, lam=lam, aux=None)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert masked[0].max() == 0.0  # row 0: every other cosine negative -> no repulsion


def test_large_lambda_original_cosine_is_the_pre_fix_code():
    """``cosine-original`` computes the original code's Cosine-COREL before its fix of
    2019-03-31: ``normalize(W, dim=1)`` on the code's ``[D, K]`` weights (each feature's row
    over the classes, i.e. our ``[K, D]`` W normalised over axis 0) and the clamped repulsion;
    the loss sums over the batch and divides by N as ``arloss`` does."""
    import jax.numpy as jnp
    import numpy as np

    sys.path.insert(0, str(ROOT / "experiments"))
    from corel_jax.loss_spec import Head

    import large_lambda

    spec = large_lambda.per_feature_cosine_spec(clamped=True)
    W = np.array([[1.0, 0.0, 2.0], [-1.0, 0.2, 0.5]])  # ours: [K=2, D=3]
    h = np.array([[2.0, 0.0, 1.0], [0.5, 0.5, -1.0], [0.0, 1.0, 1.0]])
    y = np.array([0, 1, 1])
    # the original code, transcribed with its [D, K] layout
    w_dk = W.T
    x = h / np.linalg.norm(h, axis=1, keepdims=True)
    w = w_dk / np.linalg.norm(w_dk, axis=1, keepdims=True)
    m = x @ w
    mask = np.zeros_like(m)
    mask[np.arange(3), y] = -1.0
    lam = 0.25
    att = (mask * m).sum()
    rep = (((mask + 1) * m).max(axis=1) ** 2).sum()
    expected_mean = (lam * att + (1 - lam) * rep) / 3
    got = spec.objective(jnp.asarray(h), Head(W=jnp.asarray(W)), jnp.asarray(y), lam=lam,
                         aux=None)
    np.testing.assert_allclose(np.mean(got), expected_mean, rtol=1e-6)
    np.testing.assert_allclose(spec.predict_similarity(jnp.asarray(h), Head(W=jnp.asarray(W))),
                               m, rtol=1e-6)


def test_large_lambda_variants_are_well_formed():
    """Every gap-study variant has a unique name (its results file), starts from a loss the
    ``paper`` profile has, and changes only real SweepConfig fields (a typo would otherwise
    surface as a TypeError only when that variant runs, minutes into a study)."""
    import dataclasses

    sys.path.insert(0, str(ROOT / "experiments"))
    from corel_jax.train import SweepConfig

    import large_lambda

    variants = large_lambda.variants()
    names = [v.name for v in variants]
    assert len(names) == len(set(names))
    fields = {f.name for f in dataclasses.fields(SweepConfig)}
    for v in variants:
        assert v.loss in large_lambda.ALL_LOSSES, v.name
        assert set(v.cfg) <= fields, (v.name, set(v.cfg) - fields)
        assert v.name.startswith(v.loss + "-"), v.name


def test_large_lambda_seed_rows_by_hand():
    """The per-seed rows a discussion quotes: each seed's best validation accuracy (epoch)
    and test accuracy, in seed order, then the means with the sample std (ddof=1)."""
    sys.path.insert(0, str(ROOT / "experiments"))
    import large_lambda

    res = {"variant": "cce-base", "runs": [
        {"lam": 1.0, "seed": 2, "best_val_acc": 0.9900, "best_epoch": 9, "test_acc": 0.9910},
        {"lam": 1.0, "seed": 0, "best_val_acc": 0.9910, "best_epoch": 7, "test_acc": 0.9920},
        {"lam": 1.0, "seed": 1, "best_val_acc": 0.9920, "best_epoch": 10, "test_acc": 0.9900}]}
    # best 99.10, 99.20, 99.00: mean 99.10, std 0.10; test 99.20, 99.00, 99.10: the same
    assert large_lambda.seed_rows(res) == [
        "| cce-base | 1 | 99.10 (7), 99.20 | 99.20 (10), 99.00 | 99.00 (9), 99.10 "
        "| 99.10 ± 0.10 | 99.10 ± 0.10 |"]


def test_report_best_and_last_at_large_lambda_by_hand():
    """The report's large-λ table: per λ ≥ 0.9 the mean best validation accuracy, the best
    epochs and the mean last-epoch accuracy; smaller λ left out, a missing last epoch None."""
    sys.path.insert(0, str(ROOT / "experiments"))
    import report_repro

    runs = [{"lam": 0.85, "best_val_acc": 0.95, "best_epoch": 3, "final_val_acc": 0.94},
            {"lam": 0.9, "best_val_acc": 0.90, "best_epoch": 2, "final_val_acc": 0.10},
            {"lam": 0.9, "best_val_acc": 0.92, "best_epoch": 1, "final_val_acc": 0.20},
            {"lam": 1.0, "best_val_acc": 0.80, "best_epoch": 1}]
    got = report_repro.best_and_last(runs)
    assert list(got) == [0.9, 1.0]
    best, epochs, last = got[0.9]
    assert (round(best, 6), epochs, round(last, 6)) == (91.0, [1, 2], 15.0)
    assert got[1.0][1:] == ([1], None)


def test_large_lambda_contiguous_validation_takes_the_pool_in_file_order():
    """``*-val-first-5k`` / ``*-val-last-5k`` rebuild the training pool in its file order from
    a random split (the split's index arrays are sorted) and validate on its first or last
    ``val_size`` examples: the level-gap finding rests on this being exactly those images."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "experiments"))
    from corel_jax.data import Dataset
    from corel_jax.data.splits import random_split

    import large_lambda

    n, n_val, seed = 40, 6, 3
    pool_x = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    pool_y = (np.arange(n) % 4).astype(np.int32)
    tr, va = random_split(n, n_val, seed)
    ds = Dataset("pool", pool_x[tr], pool_y[tr], pool_x[va], pool_y[va], pool_x[:2],
                 pool_y[:2], 4, ("a", "b", "c", "d"), "features", info={"split_seed": seed})
    first = large_lambda.contiguous_validation(True)(ds)
    last = large_lambda.contiguous_validation(False)(ds)
    np.testing.assert_array_equal(first.x_val[:, 0], np.arange(n_val))
    np.testing.assert_array_equal(first.x_train[:, 0], np.arange(n_val, n))
    np.testing.assert_array_equal(last.x_val[:, 0], np.arange(n - n_val, n))
    np.testing.assert_array_equal(last.y_train, pool_y[:n - n_val])
    # the test set and the record of the split stay as they were
    assert first.info == ds.info
    np.testing.assert_array_equal(first.x_test, ds.x_test)


def test_authors_code_large_lambda_skips_without_torch_or_the_authors_repo(tmp_path, capsys):
    """The authors'-code measurement needs torch and a checkout of kiankd/corel2019: without
    either it says so ("skipped: ...") and exits 0. torch is blocked here (``sys.modules``
    entry None makes its import fail), so the test does not depend on what is installed."""
    block = tmp_path / "block_torch"
    block.mkdir()
    (block / "sitecustomize.py").write_text("import sys\nsys.modules['torch'] = None\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(block), str(ROOT)])}
    script = ROOT / "experiments" / "authors_code_large_lambda.py"
    proc = subprocess.run([sys.executable, str(script), "--authors-repo", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("skipped: torch is not installed")
    # with torch as installed here: a path without the authors' code is skipped as well
    sys.path.insert(0, str(ROOT / "experiments"))
    import authors_code_large_lambda

    assert authors_code_large_lambda.main(["--authors-repo", str(tmp_path / "nowhere")]) == 0
    out = capsys.readouterr().out
    try:
        import torch  # noqa: F401
    except ImportError:
        assert out.startswith("skipped: torch is not installed")
    else:
        assert out.startswith("skipped: the authors' repository (kiankd/corel2019) is not at")


def test_fixed_prototype_curves_preempted_ends_in_one_line_75_and_the_rerun_resumes(
        tmp_path, monkeypatch, capsys, digits, registries_restored):
    """SIGTERM (simulated: the preemption check answers yes after epoch 2) stops the script
    as it stops ``corel-jax train``: a checkpoint, one line on stderr naming the command that
    resumes, no traceback, exit status 75. Rerunning that command resumes after epoch 2 and
    stores the stage. The data are digits in place of MNIST, to keep it small."""
    sys.path.insert(0, str(ROOT / "experiments"))
    import fixed_prototype_curves

    from corel_jax.train import preemption, sweep

    monkeypatch.setattr(sweep, "load_data", lambda cfg: digits)
    monkeypatch.chdir(tmp_path)  # relative paths, as a user types them
    argv = ["--only", "mnist-mlp:curve-cosine_fixed_w", "--lams", "0.5", "--epochs", "3",
            "--store-root", "results", "--runs", "runs"]
    calls = []
    monkeypatch.setattr(preemption, "requested", lambda: calls.append(1) or len(calls) == 2)
    assert fixed_prototype_curves.main(argv) == preemption.EXIT_PREEMPTED == 75
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(err) == 1, err
    assert "preempted: stopped by SIGTERM after epoch 2" in err[0]
    assert "checkpoint saved" in err[0]
    assert ("continue with `python " + os.path.relpath(fixed_prototype_curves.__file__)
            + " " + " ".join(argv) + "`") in err[0]
    store = Path("results/mnist-mlp/paper/stages/curve-cosine_fixed_w")
    assert not (store / "stage.json").exists()
    monkeypatch.setattr(preemption, "requested", lambda: False)
    assert fixed_prototype_curves.main(argv) == 0
    out = capsys.readouterr().out
    assert "(resuming)" in out and "from its checkpoint after epoch 2" in out
    assert (store / "stage.json").is_file()


def test_reproduce_preempted_ends_in_one_line_75(monkeypatch, capsys, tmp_path):
    """reproduce.py's main turns a preemption into the same one line and status 75, naming
    its own command line to rerun (the stages are the fixed-prototype test's machinery)."""
    sys.path.insert(0, str(ROOT / "experiments"))
    from corel_jax.train import preemption

    import reproduce

    def preempted(*a, **k):
        raise preemption.Preempted("stopped by SIGTERM after epoch 4 of chunk 1/1; "
                                   "checkpoint saved", saved=True)

    monkeypatch.setattr(reproduce, "reproduce", preempted)
    argv = ["--setting", "mnist-mlp", "--profile", "paper", "--runs", str(tmp_path)]
    assert reproduce.main(argv) == 75
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert len(err) == 1 and err[0].startswith("reproduce: preempted: stopped by SIGTERM")
    assert err[0].endswith(f"continue with `python {os.path.relpath(reproduce.__file__)} "
                           f"{' '.join(argv)}` (exit status 75)")


def test_a_committed_stage_is_followed_by_its_report_commit(tmp_path, monkeypatch):
    """``fixed_prototype_curves.refresh_report`` (what ``--commit`` runs after each stage) in
    another checkout holding a copy of a setting's committed results: unchanged stages give
    the committed report byte for byte (nothing to commit); a stage gone from the store
    gives a report commit of the report's files only, not the discussion being edited."""
    import shutil

    sys.path.insert(0, str(ROOT / "experiments"))
    import fixed_prototype_curves as fpc

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True,
                              text=True, check=True).stdout

    repo = tmp_path / "checkout"
    folder = repo / "experiments" / "results" / "ag-news-cnn" / "paper"
    shutil.copytree(ROOT / "experiments" / "results" / "ag-news-cnn" / "paper", folder)
    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "results")
    for k in ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"):  # for refresh_report's commits
        monkeypatch.setenv(k, "t")
    for k in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"):
        monkeypatch.setenv(k, "t@t")
    job = next(j for j in fpc.plan() if j.key == "ag-news-cnn:curve-cosine_fixed_w")
    logged = []
    fpc.refresh_report(job, repo / "experiments" / "results", "nothing", logged.append)
    assert git("status", "--porcelain") == ""
    # the same report.md and figures; results.json differs at most in its timing
    diff = git("diff", "-U0", "HEAD", git("rev-list", "--max-parents=0", "HEAD").strip())
    changed = [x for x in diff.splitlines() if x[:1] in "+-" and x[:3] not in "+++---"]
    assert all('"report_s"' in x for x in changed), diff
    assert set(git("diff", "--name-only", "HEAD~1" if changed else "HEAD").split()) <= {
        str((folder / "results.json").relative_to(repo))}
    import reproduce

    reproduce.commit_store([folder / "report.md"], "nothing", logged.append)
    assert logged[-1].endswith("report.md: unchanged, nothing to commit")
    part = folder / "stages" / "curve-cosine_fixed_w" / "part-1of5"
    shutil.rmtree(part)
    git("rm", "-rq", "--cached", str(part))
    git("commit", "-q", "-m", "part 1 gone")
    (folder / "discussion.md").write_text("half-written\n")
    fpc.refresh_report(job, repo / "experiments" / "results", "part 1 gone", logged.append)
    assert git("log", "-1", "--format=%s").startswith("ag-news-cnn/paper report regenerated")
    changed = set(git("show", "--name-only", "--format=", "HEAD").split())
    assert "experiments/results/ag-news-cnn/paper/report.md" in changed
    assert all(not c.endswith("discussion.md") for c in changed)
    assert git("status", "--porcelain").split() == ["M", str(
        (folder / "discussion.md").relative_to(repo))]
