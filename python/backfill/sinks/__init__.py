"""Sinks: the vector indexes records are written to. One module a sink; each spec mirrors one ``[sink] type``.

Each sink's module is imported when a config or a program first names it (backfill._lazy); the
local index, the default, always is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

from backfill._lazy import Registry, exports
from backfill.sinks.local import LocalIndex

if TYPE_CHECKING:
    from backfill.sinks.pgvector import PgvectorTable
    from backfill.sinks.pinecone import PineconeIndex
    from backfill.sinks.python import PythonSink

SinkSpec = Union[LocalIndex, "PineconeIndex", "PgvectorTable", "PythonSink"]

__getattr__, __dir__ = exports(__name__, {
    "PgvectorTable": ".pgvector",
    "PineconeIndex": ".pinecone",
    "PythonSink": ".python",
})

SINKS = Registry(__name__, {
    "local": "LocalIndex",
    "pinecone": "PineconeIndex",
    "python": "PythonSink",
    "pgvector": "PgvectorTable",
})

__all__ = ["LocalIndex", "PgvectorTable", "PineconeIndex", "PythonSink", "SINKS", "SinkSpec"]
