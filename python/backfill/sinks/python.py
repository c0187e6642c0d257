"""Any Python code as a sink: a dict, a file, or the client library of an index you already use."""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional, Union

from backfill import _canonical, _core
from backfill._callables import UserCallable, callable_name, shape_of
from backfill.errors import ConfigError, SinkError

Record = dict[str, Any]  # {"id": str, "values": list[float], "metadata": dict}


@dataclass(frozen=True)
class PythonSink:
    """A sink written in Python, with the verification and receipts of the native ones. The
    callables mirror :class:`backfill._core.Sink`:

    - ``upsert(records) -> int | None``: writes ``[{"id", "values", "metadata"}]``; returns how many
      were written (None: all). A short count fails the run.
    - ``fetch(ids) -> {id: record}`` (or a list of records): the records that exist among ``ids``.
    - ``delete(ids)``; ``list(prefix, after, limit) -> ids`` starting with ``prefix``, after
      ``after``, at most ``limit`` of them; ``stats() -> {"count": n, "dimension": d}`` (or the count).
    - ``query(vector, top_k) -> [{"id", "score", "metadata"}]`` (optional: ``Pipeline.query``).

    Verify reads every record back with ``fetch`` and compares its metadata and the count from
    ``stats`` with what was written, so a sink that acknowledges a write and drops it fails the run
    naming the record. ``name`` identifies the index (the ledger is keyed by it: give two indexes two
    names). ``batch_size`` bounds the records of one ``upsert``; ``metadata_max_bytes`` (0: no limit)
    makes the pipeline trim each record's metadata to fit. In a config file each callable is an import
    path, ``"package.module:function"``.
    """

    type: ClassVar[str] = "python"
    upsert: Union[str, Callable[[builtins.list[Record]], Optional[int]]]
    fetch: Union[str, Callable[[builtins.list[str]], Any]]
    delete: Union[str, Callable[[builtins.list[str]], Any]]
    list: Union[str, Callable[[str, str, int], Iterable[str]]]
    stats: Union[str, Callable[[], Any]]
    query: Union[str, Callable[[builtins.list[float], int], Any], None] = None
    name: str = "python"
    batch_size: int = 1000
    metadata_max_bytes: int = 0

    def build(self, workdir: Path) -> _core.Sink:
        if not re.fullmatch(r"[^\s]{1,200}", self.name):
            raise ConfigError(f"sink.name {self.name!r} must be 1 to 200 characters without spaces", key="sink.name")
        if self.batch_size < 1 or self.metadata_max_bytes < 0:
            raise ConfigError("sink.batch_size must be at least 1 and sink.metadata_max_bytes at least 0", key="sink")
        hooks = _SinkHooks(self)
        return _core.PythonSink(
            {"upsert": hooks.upsert, "fetch": hooks.fetch, "remove": hooks.delete, "list": hooks.list,
             "stats": hooks.stats, "query": hooks.query},
            self.name,
            f"Python sink {self.name} ({callable_name(hooks.upsert_fn.fn)})",
            batch_size=self.batch_size,
            metadata_limit=self.metadata_max_bytes,
        )


class _SinkHooks:
    """What the C++ adapter calls, holding the GIL: the user's callables, with records as dicts going
    in and what comes back checked and turned into (id, values, metadata JSON) tuples."""

    def __init__(self, spec: PythonSink) -> None:
        self.upsert_fn = UserCallable(spec.upsert, "sink.upsert", SinkError)
        self.fetch_fn = UserCallable(spec.fetch, "sink.fetch", SinkError)
        self.delete_fn = UserCallable(spec.delete, "sink.delete", SinkError)
        self.list_fn = UserCallable(spec.list, "sink.list", SinkError)
        self.stats_fn = UserCallable(spec.stats, "sink.stats", SinkError)
        self.query_fn = None if spec.query is None else UserCallable(spec.query, "sink.query", SinkError)
        self.name = spec.name

    def upsert(self, rows: builtins.list[tuple[str, builtins.list[float], str]]) -> int:
        records = [{"id": i, "values": v, "metadata": json.loads(m)} for i, v, m in rows]
        written = self.upsert_fn(records)
        if written is None:
            return len(records)
        if not isinstance(written, int) or isinstance(written, bool):
            raise SinkError(f"{self.upsert_fn.name} returned {shape_of(written)}, expected the number of "
                            "records written (an int) or None")
        return written

    def fetch(self, ids: builtins.list[str]) -> builtins.list[tuple[str, builtins.list[float], str]]:
        fn = self.fetch_fn
        got = fn(ids)
        if isinstance(got, Mapping):
            pairs: Iterable[tuple[Any, Any]] = got.items()
        elif isinstance(got, Iterable) and not isinstance(got, (str, bytes)):
            pairs = [(r.get("id") if isinstance(r, Mapping) else None, r) for r in got]
        else:
            raise SinkError(f"{fn.name} returned {shape_of(got)}, expected a dict of id -> record")
        out = []
        for record_id, record in pairs:
            if not isinstance(record_id, str) or not isinstance(record, Mapping) or "values" not in record:
                raise SinkError(f"{fn.name} returned {record!r} for id {record_id!r}, expected a record "
                                '{"values": [...], "metadata": {...}}')
            try:
                out.append((record_id, [float(x) for x in record["values"]], _canonical.dumps(record.get("metadata") or {})))
            except (TypeError, ValueError) as e:
                raise SinkError(f"{fn.name} returned record {record_id} with unusable values or "
                                f"metadata: {e}") from e
        return out

    def delete(self, ids: builtins.list[str]) -> None:
        self.delete_fn(ids)

    def list(self, prefix: str, after: str, limit: int) -> builtins.list[str]:
        got = self.list_fn(prefix, after, limit)
        if isinstance(got, (str, bytes)) or not isinstance(got, Iterable):
            raise SinkError(f"{self.list_fn.name} returned {shape_of(got)}, expected a list of ids")
        ids = builtins.list(got)
        if not all(isinstance(i, str) for i in ids):
            raise SinkError(f"{self.list_fn.name} returned an id that is not a str")
        return ids  # the core sorts them and keeps the first `limit`

    def stats(self) -> tuple[int, int]:
        got = self.stats_fn()
        count, dimension = (got.get("count"), got.get("dimension", 0)) if isinstance(got, Mapping) else (got, 0)
        if not isinstance(count, int) or not isinstance(dimension, int) or isinstance(count, bool):
            raise SinkError(f"{self.stats_fn.name} returned {got!r}, expected "
                            '{"count": int, "dimension": int} or the count')
        return count, dimension

    def query(self, vector: builtins.list[float], top_k: int) -> builtins.list[tuple[str, float, str]]:
        if self.query_fn is None:
            raise SinkError(f"the Python sink {self.name} has no query function; "
                            "give PythonSink(query=...) to search it")
        got = self.query_fn(vector, top_k)
        try:
            return [(m["id"], float(m["score"]), _canonical.dumps(m.get("metadata") or {})) for m in got]
        except (TypeError, KeyError, ValueError) as e:
            raise SinkError(f"{self.query_fn.name} returned {shape_of(got)}, expected "
                            '[{"id", "score", "metadata"}]') from e
