"""The engine's XLA compile options: measured ones on CPU, nothing elsewhere, the user's
XLA_FLAGS win, and an option this jaxlib does not know is dropped with a warning."""

import inspect

import jax
import pytest

from corel_jax.train import xla_options

HAS_OPTIONS = "compiler_options" in inspect.signature(jax.jit).parameters


def test_only_cpu_has_options():
    assert xla_options.engine_compiler_options("tpu") == {}
    assert xla_options.engine_compiler_options("gpu") == {}


@pytest.mark.skipif(not HAS_OPTIONS or jax.default_backend() != "cpu",
                    reason="needs CPU and jax.jit(compiler_options=...)")
def test_cpu_options_accepted_and_user_flags_win(monkeypatch):
    opts = xla_options.engine_compiler_options()
    assert opts == xla_options._MEASURED["cpu"]
    # the epoch jit carries them (engine.compile_program)
    from corel_jax.train import engine

    assert engine._epoch_jit_options() == {"compiler_options": opts}
    name = next(iter(opts))
    monkeypatch.setenv("XLA_FLAGS", f"--{name}=LIBRARY_FUSION_TYPE_DOT")
    assert xla_options.engine_compiler_options() == {}


@pytest.mark.skipif(not HAS_OPTIONS, reason="needs jax.jit(compiler_options=...)")
def test_unknown_option_is_dropped_with_a_warning(monkeypatch):
    backend = jax.default_backend()
    monkeypatch.setitem(xla_options._MEASURED, backend, {"xla_no_such_option_corel": "1"})
    xla_options._accepted.cache_clear()
    with pytest.warns(UserWarning, match="does not accept the XLA option"):
        assert xla_options.engine_compiler_options() == {}
    xla_options._accepted.cache_clear()
