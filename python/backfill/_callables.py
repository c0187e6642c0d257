"""The user's callables: found by import path (``"package.module:function"``, as config files name them),
named in messages, and called so that what they raise names them."""

from __future__ import annotations

import importlib
import os
import sys
import sysconfig
import types
from typing import Any, Callable

from backfill.errors import BackfillError, ConfigError


def callable_at(value: str | Callable[..., Any], key: str) -> Callable[..., Any]:
    """``value`` itself when callable; else the callable at import path ``value``. Errors name ``key``."""
    if not isinstance(value, str):
        if not callable(value):
            raise ConfigError(f"{key} must be callable or an import path, got {value!r}", key=key)
        return value
    module_name, _, attr = value.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"{key} {value!r} must be 'package.module:function'", key=key)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(
            f"{key} {value!r}: cannot import {module_name}: {e} (looked in {searched_folders()})", key=key
        ) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{key} {value!r}: {module_name} has no {attr}", key=key)
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"{key} {value!r} is not callable", key=key)
    return obj  # type: ignore[no-any-return]


def searched_folders() -> str:
    """The folders an import looks in, for a message: ``sys.path`` without the standard library and the
    installed packages, which are named once at the end."""
    stdlib = tuple(os.path.realpath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib"))
    own: list[str] = []
    for p in sys.path:
        real = os.path.realpath(p or os.getcwd())
        installed = os.path.basename(real) in ("site-packages", "dist-packages") or real.startswith(stdlib)
        if installed or not os.path.isdir(real):
            continue
        if real not in own:
            own.append(real)
    return ", ".join(own + ["the installed packages"])


def callable_name(fn: Callable[..., Any]) -> str:
    """How messages name a user's callable: ``module.qualname`` (for a bound method, of its object's class)."""
    owner = getattr(fn, "__self__", None)
    module: str | None
    if owner is not None and not isinstance(owner, types.ModuleType) and hasattr(fn, "__name__"):
        cls = type(owner)
        module, name = cls.__module__, f"{cls.__qualname__}.{fn.__name__}"
    else:
        module = getattr(fn, "__module__", None)
        name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}.{name}" if module and module != "builtins" else name


class UserCallable:
    """One of the user's callables, in the role ``key`` (``"sink.upsert"``). ``name`` is how messages
    name it: the role and where it is defined, ``sink.upsert (my_index.upsert)``."""

    def __init__(self, value: str | Callable[..., Any], key: str, error: type[BackfillError]) -> None:
        self.fn = callable_at(value, key)
        self.name = f"{key} ({callable_name(self.fn)})"
        self.error = error

    def __call__(self, *args: Any) -> Any:
        """Calls it; what it raises becomes ``error`` naming it, with the original as cause. A
        backfill error passes through as it is, and a KeyboardInterrupt is never caught."""
        try:
            return self.fn(*args)
        except BackfillError:
            raise
        except Exception as e:
            raise self.failed(e) from e

    def failed(self, e: Exception) -> BackfillError:
        return self.error(f"{self.name} raised {type(e).__name__}: {e}")


def shape_of(value: Any) -> str:
    """What a callable returned, for a message: "None", "a list"."""
    return "None" if value is None else f"a {type(value).__name__}"
