"""A PostgreSQL table with the pgvector extension as a sink."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from backfill import _core
from backfill._options import core_options

_DEFAULTS = _core.PgvectorOptions()


@dataclass(frozen=True)
class PgvectorTable:
    """A PostgreSQL table with pgvector, written through libpq by the core.

    ``dsn`` is a libpq connection string or URI (``postgresql://user:pass@host:5432/db?sslmode=require``;
    TLS and other libpq options pass through), best given from the environment
    (``dsn = "${DATABASE_URL}"``). Its password never appears in a repr, log, error or receipt: those
    name host, port, database and user.

    One table (``schema``.``table``) holds several backfills, one ``namespace`` each. With
    ``create = true`` the extension, the table and its vector index are created when missing (the
    index after the first load, which is faster than maintaining it row by row), and an existing table
    is checked to match (columns, ``dimension``). ``index`` is ``"hnsw"`` (``hnsw_m``,
    ``hnsw_ef_construction``; ``ef_search`` for queries), ``"ivfflat"`` (``ivfflat_lists``) or
    ``"none"`` (pgvector's hnsw and ivfflat index at most 2000 dimensions: wider vectors need
    ``"none"``, refused before anything is written otherwise); ``metric`` is ``"cosine"``, ``"l2"`` or ``"inner_product"``. ``dimension`` 0 takes the
    table's, or the embedder's for a new table.

    Writes go ``batch_size`` records a transaction, ``connections`` transactions at once (binary COPY
    straight into the table while the ids are new, as in a first load; else into a temporary table,
    then one ``INSERT ... ON CONFLICT``). Metadata is stored as ``jsonb`` and
    trimmed by the pipeline to ``metadata_max_bytes`` (0: no limit).
    """

    type: ClassVar[str] = "pgvector"
    dsn: str = field(repr=False)
    schema: str = _DEFAULTS.schema
    table: str = _DEFAULTS.table
    namespace: str = _DEFAULTS.namespace
    create: bool = _DEFAULTS.create
    index: str = _DEFAULTS.index
    metric: str = _DEFAULTS.metric
    dimension: int = _DEFAULTS.dimension
    hnsw_m: int = _DEFAULTS.hnsw_m
    hnsw_ef_construction: int = _DEFAULTS.hnsw_ef_construction
    ivfflat_lists: int = _DEFAULTS.ivfflat_lists
    ef_search: int = _DEFAULTS.ef_search
    batch_size: int = _DEFAULTS.batch_size
    connections: int = _DEFAULTS.connections
    metadata_max_bytes: int = _DEFAULTS.metadata_max_bytes
    connect_timeout: int = _DEFAULTS.connect_timeout

    def build(self, workdir: Path) -> _core.Sink:
        return _core.PgvectorSink(core_options(_core.PgvectorOptions, self))
