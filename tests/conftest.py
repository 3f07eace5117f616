"""Fixtures and settings shared by the test files.

The suite is bound by XLA compiles, and many tests compile the same program (a small sweep's
epoch, its evaluation): the test run keeps one persistent compilation cache (a temporary
folder, removed at the end) that every test process shares (pytest-xdist's workers find it
in the environment the main process sets before it starts them), so a program compiled once
in any worker is loaded, not compiled, the next time any test builds it. The test
subprocesses (``corel-jax`` commands: the crash matrix, scale-out, resume) share a cache of
their own, through JAX's environment variables, each program however quick to compile: a
small sweep starts in about 3 s, not 5. JAX locks that cache (``filelock``; JAX takes the
lock once the cache has a size limit), so no subprocess reads an entry another is still
writing: a torn read would be a compile and a warning on stderr, which the one-line-error
tests would see. (Between the workers a torn read is a warning and a compile, not an error:
JAX's ``jax_raise_persistent_cache_errors`` is off.) A cache folder set by the user
(``JAX_COMPILATION_CACHE_DIR``) is used as it is, by every process. With JAX before 0.5 the
subprocesses get no cache: with 0.4.34-0.4.38 a resumed run on a cache-loaded program can
give NaN (the lowest-versions subset in ``.ci/run``).
"""

import importlib.util
import os
import shutil
import tempfile

import pytest

#: the shared cache folder, for the workers (they inherit the environment)
_SHARED = "COREL_JAX_TESTS_XLA_CACHE"
#: XLA's flags for quicker compiles (see pytest_configure), each with the oldest jaxlib known
#: to have it (XLA aborts on a flag it does not know; jaxlib 0.4.34 has no fusion emitters):
#: LLVM's optimisation level 0, and fusions emitted by the older LLVM IR emitter rather than
#: the MLIR fusion emitters
_QUICK_COMPILE = {"--xla_backend_optimization_level=0": (0, 4),
                  "--xla_cpu_use_fusion_emitters=false": (0, 10)}
#: the folder this process made (and removes)
_CACHE_DIR: list[str] = []
#: a size limit turns on JAX's cache lock (far above the suite's ~100 MB: nothing is evicted)
_MAX_SIZE = 4 << 30
#: JAX locks its cache with filelock, where installed (requirements.txt installs it)
_LOCKED = importlib.util.find_spec("filelock") is not None


def _version(package: str) -> tuple[int, ...]:
    """An installed package's version (major, minor), read without importing it."""
    from importlib.metadata import version

    return tuple(int(v) for v in version(package).split(".")[:2])


def pytest_configure(config):
    # Before JAX starts a backend (here, and inherited by the workers and by every test
    # subprocess): the tests compile with LLVM's optimisation level 0 (compiles about a third
    # cheaper) and without XLA's MLIR fusion emitters (test_engine: 28 -> 20 s). Compiling is
    # most of the suite's time; the programs are tiny, and what the tests check (equalities
    # between runs, against a reference loop, tolerances) holds with either code generator.
    # Benchmarks and experiments compile with XLA's defaults. To test with the defaults too:
    # COREL_JAX_TESTS_FULL_OPT=1. A flag the user set is left as it is.
    flags = os.environ.get("XLA_FLAGS", "")
    if not os.environ.get("COREL_JAX_TESTS_FULL_OPT"):
        quick = [f for f, since in _QUICK_COMPILE.items()
                 if f.split("=")[0] not in flags and _version("jaxlib") >= since]
        os.environ["XLA_FLAGS"] = " ".join([flags, *quick]).strip()
    import jax

    cache = os.environ.get(_SHARED)
    if not cache:  # the main process
        if jax.config.jax_compilation_cache_dir:  # the user's own cache
            return
        cache = tempfile.mkdtemp(prefix="corel-jax-tests-xla-cache-")
        os.environ[_SHARED] = cache
        _CACHE_DIR.append(cache)
        if _LOCKED and _version("jax") >= (0, 5):
            # the subprocesses' cache: a folder of its own, locked (JAX locks a cache that
            # has a size limit; the limit also makes JAX list the folder at every write,
            # cheap for the subprocesses' few hundred entries, not for the workers' many
            # thousand, which is why they have a folder of their own, unlocked)
            os.environ.update({
                "JAX_COMPILATION_CACHE_DIR": os.path.join(cache, "subprocesses"),
                "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
                "JAX_COMPILATION_CACHE_MAX_SIZE": str(_MAX_SIZE)})
    # this process (the main one, or a worker, which inherits the environment above)
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_compilation_cache_max_size", -1)
    # every program, however quick to compile (the default caches only those over 1 s)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def pytest_unconfigure(config):
    for d in _CACHE_DIR:
        shutil.rmtree(d, ignore_errors=True)
        for k in (_SHARED, "JAX_COMPILATION_CACHE_DIR", "JAX_COMPILATION_CACHE_MAX_SIZE",
                  "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"):
            os.environ.pop(k, None)


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


@pytest.fixture
def registries_restored():
    """Puts the loss, encoder and dataset registries back as they were after the test: the
    experiment scripts register their variants globally (``fixed_prototype_curves``'
    ``*_fixed_w``), which would refuse the same name registered by a later test in the
    same worker."""
    from corel_jax.data.registry import DATASETS
    from corel_jax.loss_spec import LOSSES
    from corel_jax.models.registry import ENCODERS

    with LOSSES.restored(), ENCODERS.restored(), DATASETS.restored():
        yield
