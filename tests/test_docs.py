"""The documentation (mkdocs.yml, docs/): its examples run, and every public name has its entry
in the API reference. (The build itself, `mkdocs build --strict`, is a step of .ci/run.)

A ```python block runs as test_readme.py runs the README's: in a fresh namespace, in an empty
working directory. A block preceded by the line ``<!-- docs-test: skip -->`` is not run (for
one that needs a download or a long run).
"""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SKIP = "<!-- docs-test: skip -->"
# a fenced python block, possibly indented (inside a list item), and the line before it
_BLOCK = re.compile(r"(?ms)^(?P<before>[^\n]*)\n[ \t]*```python\n(?P<code>.*?)^[ \t]*```")


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a Markdown text that are to be run, dedented."""
    return [textwrap.dedent(m["code"]) for m in _BLOCK.finditer("\n" + text)
            if m["before"].strip() != SKIP]


# the pages of the site: docs/ and the reproduction's pages it shows from experiments/
PAGES = sorted(DOCS.rglob("*.md")) + [ROOT / "experiments" / "README.md"]
BLOCKS = [(page, i, code) for page in PAGES
          for i, code in enumerate(python_blocks(page.read_text()))]


def test_python_blocks_are_found_and_skipped():
    text = f"a\n```python\nx = 1\n```\n{SKIP}\n```python\nraise\n```\n- item:\n\n  ```python\n" \
           "  y = 2\n  ```\n"
    assert python_blocks(text) == ["x = 1\n", "y = 2\n"]


def test_docs_have_python_examples():
    assert {page.relative_to(ROOT).as_posix() for page, _, _ in BLOCKS} >= {
        "docs/index.md", "docs/guide/losses.md", "docs/guide/sweeps.md",
        "docs/guide/reports.md", "docs/guide/extending.md"}


@pytest.mark.parametrize("page,index,code", BLOCKS,
                         ids=[f"{p.relative_to(ROOT).as_posix()}[{i}]" for p, i, _ in BLOCKS])
def test_docs_block_runs(page, index, code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = f"{page.relative_to(ROOT).as_posix()}[python block {index}]"
    exec(compile(code, name, "exec"), {})


# --------------------------------------------------------------------------- API reference

API = DOCS / "api"
PUBLIC_MODULES = importlib.import_module("corel_jax").__all__


def _directives() -> list[tuple[str, str]]:
    """``(identifier, options)`` of every ``::: identifier`` in the reference pages."""
    found = []
    for page in sorted(API.glob("*.md")):
        for m in re.finditer(r"(?m)^::: (\S+)\n((?:    .*\n)*)", page.read_text()):
            found.append((m[1], m[2]))
    return found


def _resolve(path: str):
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(path)


@pytest.mark.parametrize("module_name", [f"corel_jax.{m}" for m in PUBLIC_MODULES])
def test_every_public_name_is_in_the_api_reference(module_name):
    """A module with ``__all__`` has a ``::: module.name`` entry for each of its names (or an
    entry of the same object under its defining module). A module without one
    (``corel_jax.loss_spec``, ``corel_jax.rundir``) is rendered whole, every name without a
    leading underscore: by a ``::: module`` entry that does not restrict its members."""
    module = importlib.import_module(module_name)
    directives = _directives()
    if not hasattr(module, "__all__"):
        whole = [opts for ident, opts in directives if ident == module_name]
        assert whole and not any("members:" in opts for opts in whole), (
            f"docs/api/: add `::: {module_name}` (rendering all its members)")
        return
    documented = {ident for ident, _ in directives}
    objects = [_resolve(ident) for ident in documented]
    missing = [name for name in module.__all__
               if f"{module_name}.{name}" not in documented
               and not any(getattr(module, name) is obj for obj in objects)]
    assert not missing, f"not in docs/api/*.md: {', '.join(missing)} (from {module_name})"


def test_public_modules_have_a_reference_entry():
    documented = {ident for ident, _ in _directives()}
    assert {f"corel_jax.{m}" for m in PUBLIC_MODULES} <= documented


def test_reference_entries_resolve():
    for ident, _ in _directives():
        _resolve(ident)  # raises for a name that was renamed or removed


# --------------------------------------------------------------------------- the mkdocs hooks

sys.path.insert(0, str(DOCS / "hooks"))
import docstrings  # noqa: E402
import experiment_pages  # noqa: E402


def test_docstring_blocks_become_fenced_code():
    text = "\n".join([
        "Doubles::", "", "    2 * 2", "", "Done.", ">>> 2 * 2", "4", "",
        ".. math:: a", "      + b", "", "==  ==", "a   b", "==  ==", "1   2", "==  ==", "after",
        "```", ">>> not a doctest", "```"])
    assert docstrings.convert_blocks(text).split("\n") == [
        "Doubles:", "", "```text", "2 * 2", "```", "", "Done.", "", "```pycon", ">>> 2 * 2", "4",
        "```", "", "", "```latex", "a", "+ b", "```", "", "", "```text", "==  ==", "a   b",
        "==  ==", "1   2", "==  ==", "```", "after", "```", ">>> not a doctest", "```"]


def test_docstring_roles_become_optional_cross_references():
    text = ":func:`~corel_jax.losses.cce` and :class:`Dataset`\n```\n:func:`x`\n```"
    out = docstrings.convert_roles(text, {"Dataset": "corel_jax.data.Dataset"}.get)
    assert out == ('<autoref identifier="corel_jax.losses.cce" optional><code>cce</code>'
                   '</autoref> and <autoref identifier="corel_jax.data.Dataset" optional>'
                   "<code>Dataset</code></autoref>\n```\n:func:`x`\n```")


def test_experiment_pages_are_added_without_the_stage_stores():
    pages = experiment_pages.pages()
    assert "experiments/README.md" in pages
    assert "experiments/results/mnist-mlp/paper/report.md" in pages
    assert not any("/stages/" in p or p.endswith("evaluator_report.md") for p in pages)
