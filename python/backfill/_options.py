"""The core's option structs (``_core.JiraOptions`` and the rest) are the one source of every
setting's default. A spec dataclass takes its defaults from a default instance of its struct
(``_DEFAULTS = _core.JiraOptions()``; ``max_results: int = _DEFAULTS.max_results``) and hands every
field back to the core by name through :func:`core_options`, so a field the core adds and a spec
lacks fails at once (and in ``tests/python/test_options.py``)."""

from __future__ import annotations

from typing import Any, TypeVar

O = TypeVar("O")


def option_names(core_cls: type) -> list[str]:
    """The fields of a core options struct, in declaration order."""
    return [name for name, attr in vars(core_cls).items() if isinstance(attr, property)]


def core_options(core_cls: type[O], spec: Any) -> O:
    """A ``core_cls`` with every field set from the spec's attribute of the same name; a spec value
    of None keeps the core's default."""
    options = core_cls()
    for name in option_names(core_cls):
        value = getattr(spec, name)
        if value is not None:
            setattr(options, name, value)
    return options
