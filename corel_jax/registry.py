"""One registry type for everything a configuration names: losses, encoders, datasets and
optimizers.

A :class:`Registry` maps names to *specs*: frozen dataclasses with a ``name`` (and, where a
registry resolves them, ``aliases``). The instances are
:data:`corel_jax.loss_spec.LOSSES` (:class:`~corel_jax.loss_spec.LossSpec`),
:data:`corel_jax.models.ENCODERS` (:class:`~corel_jax.models.EncoderSpec`; a configuration
calls an encoder its ``model``), :data:`corel_jax.data.DATASETS`
(:class:`~corel_jax.data.DatasetSpec`) and :data:`corel_jax.optimizers.OPTIMIZERS`
(:class:`~corel_jax.optimizers.OptimizerSpec`). The built-in specs are registered exactly as
a user's.

>>> import dataclasses
>>> @dataclasses.dataclass(frozen=True)
... class Spec:
...     name: str
...     aliases: tuple = ()
>>> things = Registry("thing", Spec)
>>> things.register(Spec("a", aliases=("alpha",)))
Spec(name='a', aliases=('alpha',))
>>> things.get("alpha").name, "a" in things, things.names()
('a', True, ('a',))
>>> with things.temporary(Spec("b")):
...     things.names()
('a', 'b')
>>> things.names()
('a',)
>>> things.get("c")
Traceback (most recent call last):
...
corel_jax.errors.ConfigError: unknown thing 'c'; the registered things are a
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar

from corel_jax.errors import ConfigError


class _Named(Protocol):
    """What a spec is at least: something with a ``name``."""

    @property
    def name(self) -> str: ...


S = TypeVar("S", bound=_Named)

__all__ = ["Registry"]


def _exact(name: str) -> str:
    return name


class Registry(Generic[S]):
    """Specs of one type by name.

    Args:
      kind: what one spec is, in messages (``"loss"``).
      spec_type: the class every registered spec is an instance of (subclasses too).
      plural: ``kind``'s plural in messages (default ``kind + "s"``).
      label: what a configuration calls the name, in the unknown-name message (default
        ``kind``; the encoders' is ``"model"``, the config field and CLI flag).
      key: the normalisation a lookup applies to names and aliases (default: none, names are
        exact); the datasets' ignores case and treats ``-`` as ``_``.

    Lookups (:meth:`get`, :meth:`resolve`) raise :class:`~corel_jax.errors.ConfigError`
    naming the unknown name and listing the registered ones.
    """

    def __init__(self, kind: str, spec_type: type[S], *, plural: str | None = None,
                 label: str | None = None, key: Callable[[str], str] = _exact):
        self.kind = kind
        self.spec_type = spec_type
        self.plural = plural or f"{kind}s"
        self.label = label or kind
        self._key = key
        self._specs: dict[str, S] = {}
        self._keys: dict[str, str] = {}  # key(name or alias) -> name

    # -- registration --------------------------------------------------------------------

    def register(self, spec: S, *, replace: bool = False) -> S:
        """Adds ``spec`` under ``spec.name`` (and its ``aliases``, if it has any); returns it.

        Raises:
          TypeError: ``spec`` is not a ``spec_type``.
          ConfigError: the name is taken by another spec (unless ``replace=True``: it then
            replaces that spec), or a name or alias already means a different spec.
        """
        if not isinstance(spec, self.spec_type):
            raise TypeError(f"{self.plural} are registered as {self.spec_type.__name__} "
                            f"objects; got {type(spec).__name__}")
        name = spec.name
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"a {self.kind} needs a non-empty name; got {name!r}")
        old = self._specs.get(name)
        if old is not None and old is not spec and not replace:
            raise ConfigError(f"a {self.kind} named {name!r} is registered already (pass "
                              f"replace=True to replace it)")
        keys = [self._key(n) for n in (name, *getattr(spec, "aliases", ()))]
        clash = sorted({self._keys[k] for k in keys if k in self._keys} - {name})
        if clash:
            raise ConfigError(f"{self.kind} {name!r}: its name or an alias already means the "
                              f"{self.kind} {', '.join(map(repr, clash))}")
        for k in [k for k, v in self._keys.items() if v == name]:  # the old spec's aliases
            del self._keys[k]
        self._specs[name] = spec
        self._keys.update(dict.fromkeys(keys, name))
        return spec

    @contextlib.contextmanager
    def temporary(self, spec: S, *, replace: bool = False) -> Iterator[S]:
        """``with registry.temporary(spec):`` registers ``spec`` for the block (as
        :meth:`register`), then restores the registry as it was before, whatever the block
        registered meanwhile."""
        with self.restored():
            yield self.register(spec, replace=replace)

    @contextlib.contextmanager
    def restored(self) -> Iterator[None]:
        """``with registry.restored():`` runs the block, then puts the registry back as it was
        on entry, whatever the block registered (e.g. a script's ``main`` that registers its
        variants, called from a test)."""
        specs, keys = dict(self._specs), dict(self._keys)
        try:
            yield
        finally:
            self._specs.clear()
            self._specs.update(specs)
            self._keys.clear()
            self._keys.update(keys)

    # -- lookup --------------------------------------------------------------------------

    def resolve(self, name: object) -> str:
        """The registered name that ``name`` means (an alias or, with a ``key``, another
        spelling resolved); anything else, a non-string included, is unknown."""
        if isinstance(name, str):
            if name in self._specs:
                return name
            found = self._keys.get(self._key(name))
            if found is not None:
                return found
        raise ConfigError(f"unknown {self.label} {name!r}; the registered {self.plural} are "
                          f"{', '.join(self._specs) or 'none'}")

    def get(self, name: str | S) -> S:
        """The spec registered as ``name`` (see :meth:`resolve`); a spec is returned as it
        is, registered or not."""
        if isinstance(name, self.spec_type):
            return name
        return self._specs[self.resolve(name)]

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order (the built-in specs first)."""
        return tuple(self._specs)

    def __contains__(self, name: object) -> bool:
        try:
            self.resolve(name)
        except ConfigError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._specs)

    def __repr__(self) -> str:
        return f"Registry({self.kind}: {', '.join(self._specs)})"
