"""TOML configuration: loading, ``${ENV}`` interpolation and validation.

Every problem is reported as one :class:`~backfill.errors.ConfigError` line naming the file and the
key at fault, before anything is fetched or written. Relative paths in a config file are relative to
that file's folder.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from backfill import _core
from backfill.chunking import Chunking
from backfill.embedders import EMBEDDERS, EmbedderSpec, HashEmbedder
from backfill.sinks import SINKS, LocalIndex, SinkSpec
from backfill.sources import SOURCES, SourceSpec
from backfill.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_URL_KEYS = ("url", "base_url", "host")  # the settings of each table that name a server
# A scheme as RFC 3986 spells it, before "://" or before a ':' that does not start a port.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):(?://|(?![0-9]))")
_PIPELINE = _core.PipelineOptions()


@dataclass(frozen=True)
class RunSettings:
    """The ``[run]`` table: name, workdir, batching, concurrency, memory budget, reconcile, strictness
    and whether the embedding cache is kept after a verified run."""

    name: str = "backfill"
    workdir: Path | None = None
    batch_records: int = _PIPELINE.batch_records
    overlap: bool = _PIPELINE.overlap
    embed_concurrency: int = _PIPELINE.embed_concurrency
    fetch_concurrency: int = _PIPELINE.fetch_concurrency
    memory_budget_mb: int = _PIPELINE.memory_budget_mb
    reconcile: bool = False
    reconcile_max_fraction: float = 0.5
    strict: bool = _PIPELINE.strict
    plan_sample_pages: int = _PIPELINE.plan_sample_pages
    keep_embeddings: bool = False


@dataclass(frozen=True)
class VerifySettings:
    """The ``[verify]`` table: how many records to read back (0: every one) and how long to wait for the
    sink's count to catch up."""

    sample: int = 0
    count_timeout_seconds: float = _PIPELINE.count_timeout_seconds


@dataclass(frozen=True)
class Config:
    """A validated configuration; ``Pipeline.from_config`` builds a pipeline from it."""

    path: Path | None
    run: RunSettings
    source: SourceSpec
    embedder: EmbedderSpec = field(default_factory=HashEmbedder)
    sink: SinkSpec = field(default_factory=LocalIndex)
    chunking: Chunking = field(default_factory=Chunking)
    verify: VerifySettings = field(default_factory=VerifySettings)


class ReadOnlyEnv(typing.Mapping[str, str]):
    """The environment for commands that only read the workdir (``status``): a variable that is not
    set (or empty) reads as a placeholder, so credentials such a command never sends need not be set."""

    PLACEHOLDER = "unset"

    def __getitem__(self, name: str) -> str:
        return os.environ[name] or self.PLACEHOLDER

    def __iter__(self) -> typing.Iterator[str]:
        return iter(os.environ)

    def __len__(self) -> int:
        return len(os.environ)


def interpolate(value: str, where: str, env: typing.Mapping[str, str] | None = None) -> str:
    """Replaces ``${NAME}`` (or ``${NAME:-default}``) with the environment's value; ``$$`` is a dollar."""
    environ = os.environ if env is None else env

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, default = m.group(1), m.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        if isinstance(environ, ReadOnlyEnv):
            return environ.PLACEHOLDER
        raise ConfigError(f"{where}: environment variable {name} is not set", key=where)

    return _VAR.sub(sub, value)


# The range of every numeric setting, by its name in any table: (lowest, highest, what 0 means or None
# when 0 is out of range). A setting not listed here is a count or a duration: 0 to _INT_MAX (or
# _FLOAT_MAX), never negative, NaN or infinite.
_INT_MAX = 2**31 - 1
_FLOAT_MAX = 1e9
_AT_LEAST_ONE = (
    "batch_records", "fetch_concurrency", "batch_size", "concurrency", "dimension", "dimensions", "max_attempts",
    "max_in_flight", "max_input_tokens", "max_inputs", "max_records", "max_results", "max_tokens",
    "max_tokens_per_request", "target_tokens",
)
_RANGES: dict[str, tuple[float, float]] = {
    **{name: (1, _INT_MAX) for name in _AT_LEAST_ONE},
    "timeout": (0.001, 86400),
    "max_elapsed": (0.001, 7 * 86400),
    "count_timeout_seconds": (0, 86400),
    "base_delay": (0, 3600),
    "reconcile_max_fraction": (0, 1),
}
# Requests a second: 0 is "no limit of its own"; anything else is at least one request every 100 s
# (a smaller rate would wait for hours before its first request, in silence).
_MIN_RATE = 0.01


def _check_range(value: float, where: str) -> None:
    """Raises a one-line ConfigError when a number is outside its setting's range (see _RANGES)."""
    name = where.rsplit(".", 1)[-1]
    if not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {value!r}", key=where)
    if name == "rate":
        if value != 0 and not _MIN_RATE <= value <= _FLOAT_MAX:
            raise ConfigError(
                f"{where} must be 0 (no limit) or between {_MIN_RATE} and {_FLOAT_MAX:g} requests a second, got {value!r}",
                key=where,
            )
        return
    low, high = _RANGES.get(name, (0, _INT_MAX if isinstance(value, int) else _FLOAT_MAX))
    if not low <= value <= high:
        raise ConfigError(f"{where} must be between {low:g} and {high:g}, got {value!r}", key=where)


def _coerce(value: Any, hint: Any, where: str, base: Path | None) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _coerce(value, non_none[0], where, base)
        if any(a is Path or typing.get_origin(a) is os.PathLike for a in non_none):  # str | PathLike: a path
            return _coerce(value, Path, where, base)
        if str in non_none:  # e.g. a function given as an import path
            return _coerce(value, str, where, base)
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{where} must be a non-empty path string, got {value!r}", key=where)
        p = Path(value).expanduser()
        return p if p.is_absolute() or base is None else base / p
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}", key=where)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}", key=where)
        _check_range(value, where)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}", key=where)
        _check_range(float(value), where)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}", key=where)
        return value
    if origin is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} must be a list of strings, got {value!r}", key=where)
        return tuple(value)
    raise ConfigError(f"{where}: unsupported setting type {hint!r}", key=where)  # pragma: no cover


def build_spec(cls: type, table: dict[str, Any], section: str, base: Path | None, skip: tuple[str, ...] = ()) -> Any:
    """Builds dataclass ``cls`` from a TOML table, rejecting unknown keys and wrong types."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(table) - set(fields) - set(skip))
    if unknown:
        known = ", ".join(sorted(fields)) or "none"
        raise ConfigError(f"{section}.{unknown[0]} is not a known setting (known: {known})", key=f"{section}.{unknown[0]}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name in table:
            kwargs[name] = _coerce(table[name], hints[name], f"{section}.{name}", base)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{section}.{name} is required", key=f"{section}.{name}")
    return cls(**kwargs)


def _interpolate_tree(value: Any, where: str, env: typing.Mapping[str, str] | None) -> Any:
    if isinstance(value, str):
        return interpolate(value, where, env)
    if isinstance(value, list):
        return [_interpolate_tree(v, f"{where}[{i}]", env) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _interpolate_tree(v, f"{where}.{k}" if where else k, env) for k, v in value.items()}
    return value


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(value: str, where: str, allow_insecure_http: bool) -> None:
    """Only ``http`` and ``https`` reach a server, and ``http`` only this machine unless
    ``allow_insecure_http``: credentials and the customer's data never cross a network in clear text.
    A value without a scheme (a Pinecone host) means https. The error echoes the scheme alone: the
    rest of a URL may hold anything."""
    m = _SCHEME.match(value)
    if m is None:
        if "://" in value:
            raise ConfigError(f"{where} does not start with a valid scheme (only http and https)", key=where)
        return
    scheme = m.group(1).lower()
    if scheme not in ("http", "https"):
        raise ConfigError(f"{where}: the scheme {scheme!r} is not allowed (only http and https)", key=where)
    try:
        host = urlsplit(value).hostname or ""
    except ValueError:
        raise ConfigError(f"{where} is not a valid {scheme} URL", key=where) from None
    if scheme == "http" and not allow_insecure_http and not _is_loopback(host):
        section = where.split(".")[0]
        raise ConfigError(
            f"{where} is plain http to a host other than this machine, so the credentials and data sent would "
            f"cross the network unencrypted: use https, or set {section}.allow_insecure_http = true",
            key=where,
        )


def _checked_urls(table: dict[str, Any], section: str) -> dict[str, Any]:
    """The table without ``allow_insecure_http``, once its server settings passed :func:`check_url`."""
    allow = _coerce(table.get("allow_insecure_http", False), bool, f"{section}.allow_insecure_http", None)
    for key in _URL_KEYS:
        value = table.get(key)
        if isinstance(value, str) and value:
            check_url(value, f"{section}.{key}", allow)
    return {k: v for k, v in table.items() if k != "allow_insecure_http"}


def _typed(table: Any, section: str, registry: typing.Mapping[str, type], default: str | None,
           base: Path | None) -> Any:
    if table is None:
        if default is None:
            raise ConfigError(f"[{section}] is required", key=section)
        table = {}
    if not isinstance(table, dict):
        raise ConfigError(f"{section} must be a table", key=section)
    kind = table.get("type", default)
    if kind is None:
        raise ConfigError(f"{section}.type is required (one of: {', '.join(sorted(registry))})", key=f"{section}.type")
    if kind not in registry:
        raise ConfigError(
            f"{section}.type {kind!r} is not one of: {', '.join(sorted(registry))}", key=f"{section}.type"
        )
    return build_spec(registry[kind], _checked_urls(table, section), section, base, skip=("type",))


def parse_config(data: dict[str, Any], path: Path | None = None, env: typing.Mapping[str, str] | None = None) -> Config:
    base = path.parent if path is not None else None
    data = _interpolate_tree(data, "", env)
    unknown = sorted(set(data) - {"run", "source", "embedder", "sink", "chunking", "verify"})
    if unknown:
        raise ConfigError(
            f"[{unknown[0]}] is not a known section (known: run, source, embedder, sink, chunking, verify)",
            key=unknown[0],
        )
    run_table = data.get("run", {})
    run = build_spec(RunSettings, run_table, "run", base)
    if "name" not in run_table and path is not None:
        run = dataclasses.replace(run, name=path.stem)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", run.name):
        raise ConfigError(f"run.name {run.name!r} must be letters, digits, '.', '_' or '-'", key="run.name")
    return Config(
        path=path,
        run=run,
        source=_typed(data.get("source"), "source", SOURCES, None, base),
        embedder=_typed(data.get("embedder"), "embedder", EMBEDDERS, "hash", base),
        sink=_typed(data.get("sink"), "sink", SINKS, "local", base),
        chunking=build_spec(Chunking, data.get("chunking", {}), "chunking", base),
        verify=build_spec(VerifySettings, data.get("verify", {}), "verify", base),
    )


def load_config(path: str | os.PathLike[str], env: typing.Mapping[str, str] | None = None) -> Config:
    """Reads and validates a TOML config file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config file: {e.strerror}", file=str(p)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text", file=str(p)) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML: {e}", file=str(p)) from None
    try:
        return parse_config(data, p.resolve(), env)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}", key=e.key, file=str(p)) from None
