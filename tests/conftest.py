"""Fixtures and settings shared by the test files.

The suite is bound by XLA compiles, and many tests compile the same program (a small sweep's
epoch, its evaluation): each test process keeps a persistent compilation cache of its own (a
temporary folder, removed at the end), so a program compiled once is loaded, not compiled,
the next time any test builds it. A cache folder set by the user (``JAX_COMPILATION_CACHE_DIR``)
is used as it is. Test subprocesses do not inherit the cache (it is set in JAX's
configuration, not the environment).
"""

import shutil
import tempfile

import pytest

_CACHE_DIR: list[str] = []


def pytest_configure(config):
    import jax

    if jax.config.jax_compilation_cache_dir:  # the user's own cache
        return
    _CACHE_DIR.append(tempfile.mkdtemp(prefix="corel-jax-tests-xla-cache-"))
    jax.config.update("jax_compilation_cache_dir", _CACHE_DIR[0])
    # every program, however quick to compile (the default caches only those over 1 s)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def pytest_unconfigure(config):
    for d in _CACHE_DIR:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits (offline): 1,079 training, 359 validation, 359 test examples of
    8 × 8 images, 10 classes."""
    from corel_jax.data import load_dataset

    return load_dataset("digits")
