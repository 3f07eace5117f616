"""griffe extension (mkdocs.yml): corel_jax's reStructuredText markup shown as Markdown.

The docstrings are Google style (``Args:``, ``Returns:``) with reStructuredText inside, and
doctests (run by pytest's ``--doctest-modules``) as bare ``>>>`` lines. Markdown would show
the markup as text, wrap a doctest's output into a paragraph and take ``['**', '*']`` for a
link. As each docstring is loaded (the source is left untouched), this turns

- a doctest (from a ``>>>`` line to the next blank line) into a ``pycon`` code block;
- a literal block (a paragraph ending in ``::``, then an indented block) into a code block;
- a ``.. math::`` directive into a ``latex`` code block;
- a simple table (``====  ====`` rules) into a code block, as aligned as in the source;
- a role (``:func:`~corel_jax.losses.cce```, ``:class:`Dataset```) into a cross-reference
  to that object's entry in the API reference, or into code where it has none.
"""

from __future__ import annotations

import html
import re
import textwrap
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|meth|attr|data|mod|obj|exc):`(~?)([^`]+)`")
_RULE = re.compile(r"^\s*={2,}(?: +={2,})+\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _fence(lines: list[str], lang: str, indent: str) -> list[str]:
    body = textwrap.dedent("\n".join(lines)).split("\n")
    return [f"{indent}```{lang}", *(indent + b if b else b for b in body), f"{indent}```"]


def _block_end(lines: list[str], j: int, indent: int) -> int:
    """The end of the block indented deeper than ``indent`` from line ``j`` (trailing blank
    lines left out)."""
    while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > indent):
        j += 1
    while j > 0 and not lines[j - 1].strip():
        j -= 1
    return j


def convert_blocks(text: str) -> str:
    """``text`` with its doctests, literal blocks, math and simple tables as fenced blocks."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    in_code = False  # inside a fenced block the docstring itself opened
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        indent = line[: _indent(line)]
        if stripped.startswith("```"):
            in_code = not in_code
            out.append(line)
            i += 1
        elif in_code:
            out.append(line)
            i += 1
        elif stripped.startswith(">>>"):
            j = i
            while j < len(lines) and lines[j].strip():
                j += 1
            out += ["", f"{indent}```pycon", *lines[i:j], f"{indent}```"]
            i = j
        elif stripped.startswith(".. math::"):
            j = _block_end(lines, i + 1, len(indent))
            first = stripped[len(".. math::"):].strip()
            rest = textwrap.dedent("\n".join(lines[i + 1 : j])).strip("\n")
            out += ["", *_fence([first, rest] if first and rest else [first or rest], "latex",
                                indent)]
            i = j
        elif _RULE.match(line):
            rules = 0
            j = i
            while j < len(lines) and lines[j].strip() and rules < 3:
                rules += bool(_RULE.match(lines[j]))
                j += 1
            out += ["", *_fence(lines[i:j], "text", indent)]
            i = j
        elif (stripped.endswith("::") and i + 2 < len(lines) and not lines[i + 1].strip()
              and _indent(lines[i + 2]) > len(indent)):
            # "Example::" -> "Example:", "text ::" -> "text", "::" -> nothing
            if stripped != "::":
                out.append(line[:-3].rstrip() if stripped.endswith(" ::") else line[:-1])
            j = _block_end(lines, i + 2, len(indent))
            out += ["", *_fence(lines[i + 2 : j], "text", indent)]
            i = j
        else:
            out.append(line)
            i += 1
    return "\n".join(out)


def convert_roles(text: str, resolve=lambda target: None) -> str:
    """``text`` with each role outside code blocks as an optional cross-reference
    (``resolve(target)``: the identifier to link to, or ``None`` for the target as written)."""

    def ref(m: re.Match) -> str:
        short, target = m[1], m[2].strip().removesuffix("()")
        title = target.rsplit(".", 1)[-1] if short else target
        ident = resolve(target) or target
        return (f'<autoref identifier="{html.escape(ident)}" optional>'
                f"<code>{html.escape(title)}</code></autoref>")

    lines = text.split("\n")
    in_code = False
    for k, line in enumerate(lines):
        if line.strip().startswith("```"):
            in_code = not in_code
        elif not in_code:
            lines[k] = _ROLE.sub(ref, line)
    return "\n".join(lines)


def _resolver(obj: griffe.Object):
    scopes = [o for o in (obj if obj.is_class or obj.is_module else obj.parent, obj.module)
              if o is not None]

    def resolve(target: str) -> str | None:
        if target.startswith("corel_jax"):
            return target
        for scope in scopes:
            try:
                return scope[target].path
            except (KeyError, griffe.AliasResolutionError, ValueError):
                continue
        return None

    return resolve


class Docstrings(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            text = convert_blocks(obj.docstring.value)
            obj.docstring.value = convert_roles(text, _resolver(obj))
