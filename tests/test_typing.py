"""The typed public API: every public function of corel_jax.losses and corel_jax.similarity is
annotated, and the PEP 561 marker ships. (The type check itself, mypy, runs in .ci/run.)"""

import inspect
from pathlib import Path

import pytest

from corel_jax import losses, similarity

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("module", [losses, similarity], ids=lambda m: m.__name__)
def test_public_functions_are_annotated(module):
    functions = [getattr(module, n) for n in module.__all__
                 if inspect.isfunction(getattr(module, n))]
    assert functions
    for fn in functions:
        sig = inspect.signature(fn)
        missing = [p for p in sig.parameters.values() if p.annotation is inspect.Parameter.empty]
        assert not missing, f"{fn.__name__}: unannotated {missing}"
        assert sig.return_annotation is not inspect.Signature.empty, fn.__name__


@pytest.mark.parametrize("module", [losses, similarity], ids=lambda m: m.__name__)
def test_all_lists_what_exists(module):
    assert sorted(module.__all__) == sorted(set(module.__all__))
    for name in module.__all__:
        assert hasattr(module, name), name


def test_py_typed_marker_ships():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    assert (ROOT / "corel_jax" / "py.typed").is_file()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["corel_jax"]
