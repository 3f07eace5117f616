"""Executes the README's ```python code blocks, so the documented examples never rot.

The same rules as the documentation's (tests/test_docs.py): a block preceded by the line
``<!-- docs-test: skip -->`` is not run.
"""

from pathlib import Path

import pytest
from test_docs import python_blocks

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = python_blocks(README.read_text())


def test_readme_has_python_examples():
    assert BLOCKS, "README.md has no ```python blocks"


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"README.md[python block {index}]", "exec"), {})
