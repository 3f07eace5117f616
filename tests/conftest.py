"""Fixtures and settings shared by the test files.

The suite is bound by XLA compiles, and many tests compile the same program (a small sweep's
epoch, its evaluation): the test run keeps one persistent compilation cache (a temporary
folder, removed at the end) that every test process shares (pytest-xdist's workers find it
in the environment the main process sets before it starts them), so a program compiled once
in any worker is loaded, not compiled, the next time any test builds it. (A torn read of an
entry another worker is still writing is a warning and a compile, not an error: JAX's
``jax_raise_persistent_cache_errors`` is off.) A cache folder set by the user
(``JAX_COMPILATION_CACHE_DIR``) is used as it is. Test subprocesses do not use the cache
(it is set in JAX's configuration, not in ``JAX_COMPILATION_CACHE_DIR``).
"""

import os
import shutil
import tempfile

import pytest

#: the shared cache folder, for the workers (they inherit the environment)
_SHARED = "COREL_JAX_TESTS_XLA_CACHE"
#: XLA's flag for LLVM's optimisation level (see pytest_configure)
_OPT_LEVEL = "--xla_backend_optimization_level"
#: the folder this process made (and removes)
_CACHE_DIR: list[str] = []


def pytest_configure(config):
    # Before JAX starts a backend (here, and inherited by the workers and by every test
    # subprocess): the tests compile with LLVM's optimisation level 0. Compiling is most of
    # the suite's time and is about a third cheaper so; the programs are tiny, and what the
    # tests check (equalities between runs, against a reference loop, tolerances) holds at
    # any level. Benchmarks and experiments compile at XLA's default. To test at the default
    # too: COREL_JAX_TESTS_FULL_OPT=1.
    flags = os.environ.get("XLA_FLAGS", "")
    if not os.environ.get("COREL_JAX_TESTS_FULL_OPT") and _OPT_LEVEL not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {_OPT_LEVEL}=0".strip()
    import jax

    if jax.config.jax_compilation_cache_dir:  # the user's own cache
        return
    cache = os.environ.get(_SHARED)
    if not cache or not os.path.isdir(cache):  # the main process: make it
        cache = tempfile.mkdtemp(prefix="corel-jax-tests-xla-cache-")
        os.environ[_SHARED] = cache
        _CACHE_DIR.append(cache)
    jax.config.update("jax_compilation_cache_dir", cache)
    # every program, however quick to compile (the default caches only those over 1 s)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def pytest_unconfigure(config):
    for d in _CACHE_DIR:
        shutil.rmtree(d, ignore_errors=True)
        os.environ.pop(_SHARED, None)


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits (offline): 1,079 training, 359 validation, 359 test examples of
    8 × 8 images, 10 classes."""
    from corel_jax.data import load_dataset

    return load_dataset("digits")


@pytest.fixture
def preempt(monkeypatch):
    """``preempt(cfg, dataset, run_dir, after_epoch=2)``: ``train_sweep`` into ``run_dir`` as
    if SIGTERM arrived during epoch ``after_epoch`` (the preemption check answers yes at that
    epoch's end): the sweep saves a checkpoint and raises ``Preempted``, as a preempted job
    would stop. The tests then resume it."""
    from corel_jax.train import preemption, train_sweep

    def run(cfg, dataset, run_dir, after_epoch: int = 2):
        calls = []

        def sigterm_after_epoch():
            calls.append(1)
            return len(calls) == after_epoch

        with monkeypatch.context() as m:
            m.setattr(preemption, "requested", sigterm_after_epoch)
            with pytest.raises(preemption.Preempted,
                               match=f"after epoch {after_epoch} .*checkpoint saved"):
                train_sweep(cfg, dataset=dataset, out_dir=run_dir, progress=False, log=None)

    return run
