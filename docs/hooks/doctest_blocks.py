"""griffe extension (mkdocs.yml): a docstring's doctest shown as a ``pycon`` code block.

corel_jax's docstrings carry doctests (run by pytest's ``--doctest-modules``) as bare
``>>>`` lines, outside any ``Examples:`` section. Markdown would read them as text: the
output lines would be wrapped into a paragraph and ``['**', '*']`` taken for a link. This
fences each run of doctest lines (from a ``>>>`` line to the next blank line) as it is
loaded, leaving the source untouched.
"""

from __future__ import annotations

from typing import Any

import griffe


def fence_doctests(text: str) -> str:
    """``text`` with each doctest block inside a ```` ```pycon ```` fence."""
    out: list[str] = []
    fence: str | None = None  # the open fence's indentation, or None
    in_code = False  # inside a fenced block the docstring itself opened
    for line in text.split("\n"):
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if fence is None and stripped.startswith("```"):
            in_code = not in_code
        elif fence is None and not in_code and stripped.startswith(">>>"):
            fence = indent
            out.append(f"{indent}```pycon")
        elif fence is not None and not stripped:
            out.append(f"{fence}```")
            fence = None
        out.append(line)
    if fence is not None:
        out.append(f"{fence}```")
    return "\n".join(out)


class DoctestBlocks(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
