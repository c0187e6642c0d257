"""Names a package offers whose modules are imported when first used (PEP 562).

A run imports the source, embedder and sink its config names, not every adapter backfill has: each
adapter module costs a millisecond or more of a command's start (dataclasses generate their methods
with exec), and a command line tool's start is paid on every call.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Iterator, Mapping


def exports(package: str, where: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package`` for the names in ``where`` (name ->
    the module that defines it, relative to the package: ``".jira"``). A name is imported on its
    first lookup and then set on the package, so later lookups are plain attribute reads."""

    def __getattr__(name: str) -> Any:
        try:
            module = where[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__


class Registry(Mapping[str, type]):
    """A config's ``type = "..."`` -> the spec class, by the class's name in its package: the class's
    module is imported when the type is first looked up, not when the registry is made."""

    def __init__(self, package: str, classes: Mapping[str, str]) -> None:
        self._package = package
        self._classes = dict(classes)

    def __getitem__(self, kind: str) -> type:
        cls = getattr(sys.modules[self._package], self._classes[kind])
        if getattr(cls, "type", None) != kind:  # the registry and the class's own `type` must agree
            raise LookupError(f"{cls.__name__}.type is {getattr(cls, 'type', None)!r}, registered as {kind!r}")
        return cls  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def __repr__(self) -> str:
        return f"Registry({self._package!r}, {self._classes!r})"
