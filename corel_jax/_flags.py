"""Command-line flags generated from a frozen dataclass's fields: one declaration per option.

A field declared with :func:`option` carries its flag, help, parser and choices in its
metadata; :func:`add_flags` adds one flag per such field to an ``argparse`` parser, and
:func:`given` reads back the flags the user gave, parsed as the fields hold them. Flags
default to "not given" (``argparse.SUPPRESS``), so the dataclass's own defaults apply, and a
caller can tell a flag given from a default (e.g. to refuse it, or to let it override a file).
``SweepConfig`` (``corel-jax train``) and ``ReportOptions`` (``corel-jax report``) use it.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from corel_jax.errors import ConfigError


def option(default: Any, help: str, *, flag: str | None = "", type: Callable | None = None,
           changes_results: bool = True, choices: Sequence[str] | Callable | None = None,
           invert: bool = False, group: str | None = None, shown_default: str | None = None,
           nargs: str | None = None) -> Any:
    """A dataclass field with its command-line flag in the metadata.

    Args:
      default: the field's default.
      help: the flag's help text.
      flag: the flag (``""``: ``--`` and the field name with dashes; ``None``: no flag).
      type: parses the flag's text (default: the type of ``default``, or ``str``); may raise
        ``ValueError`` or ``argparse.ArgumentTypeError``.
      changes_results: whether the field can change a sweep's numbers (``False``: where the
        data is read from, how runs are grouped and checkpointed, what is saved).
      choices: the allowed values, or a function returning them (a registry's names).
      invert: a boolean whose flag sets it to ``False`` (``--no-plots`` for ``plots``).
      group: the help section of the flag.
      shown_default: the default as the help shows it (default: ``default`` itself).
      nargs: ``"+"`` for a tuple given as several words (``--methods kmeans gmm``).
    """
    meta = {"help": help, "flag": flag, "type": type, "changes_results": changes_results,
            "choices": choices, "invert": invert, "group": group,
            "shown_default": shown_default, "nargs": nargs}
    return dataclasses.field(default=default, metadata=meta)


def flag_of(f: dataclasses.Field) -> str | None:
    """The field's flag, or None when it has none."""
    meta = f.metadata
    if "axis" in meta:
        return meta["axis"].flag
    if "flag" not in meta or meta["flag"] is None:
        return None
    return meta["flag"] or "--" + f.name.replace("_", "-")


def _show(v: Any) -> str:
    if isinstance(v, tuple):
        return ",".join(map(str, v))
    return f"{v:g}" if isinstance(v, float) else str(v)


def add_flags(p: argparse.ArgumentParser, cls: type, *,
              special: Callable[[dataclasses.Field], dict | None] | None = None) -> None:
    """One flag per field of ``cls`` declared with a flag; ``special(field)`` may return the
    ``add_argument`` keywords of a field itself (None: the generic ones)."""
    groups: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        flag = flag_of(f)
        if flag is None:
            continue
        meta = f.metadata
        group = meta.get("group")
        target = p if group is None else groups.setdefault(group, p.add_argument_group(group))
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS}
        own = special(f) if special is not None else None
        if own is not None:
            kwargs.update(own)
        elif isinstance(f.default, bool):
            kwargs.update(action="store_const", const=not f.default if meta["invert"]
                          else True, help=meta["help"])
        else:
            declared = meta.get("choices")
            choices = declared() if callable(declared) else declared
            shown = meta.get("shown_default") or (None if f.default is None
                                                  else _show(f.default))
            default = f" (default {shown})" if shown else ""
            kwargs.update(help=meta["help"] + (f": one of {', '.join(choices)}" if choices
                                               else "") + default)
            # a fixed list is argparse's to check; a registry's names (a function) are the
            # dataclass's, which also resolves aliases and names the registered ones
            if choices and not callable(declared) and not meta.get("type"):
                kwargs["choices"] = choices
            if meta.get("nargs"):
                kwargs["nargs"] = meta["nargs"]
        target.add_argument(flag, **kwargs)


def parse_flag(f: dataclasses.Field, value: Any) -> Any:
    """A given flag's value as the field holds it (generic fields)."""
    meta = f.metadata
    if isinstance(value, list):  # nargs="+": a tuple, duplicates dropped
        return tuple(dict.fromkeys(value))
    if not isinstance(value, str):  # a boolean flag's constant
        return value
    default: Any = f.default
    parse = meta.get("type") or (type(default) if default is not None else str)
    try:
        return parse(value)
    except (ValueError, argparse.ArgumentTypeError) as e:
        # a parser of the option's own says what is wrong; int/float say it in Python's words
        detail = f"cannot read {value!r} as {parse.__name__}" if parse in (int, float) \
            else str(e)
        raise ConfigError(f"{flag_of(f)}: {detail}") from None


def given(args: argparse.Namespace, cls: type, *,
          parse: Callable[[dataclasses.Field, Any], Any] = parse_flag) -> dict[str, Any]:
    """``{field: value}`` of the flags of ``cls`` given on the command line, parsed."""
    return {f.name: parse(f, getattr(args, f.name)) for f in dataclasses.fields(cls)
            if hasattr(args, f.name)}
