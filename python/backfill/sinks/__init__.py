"""Sinks: the vector indexes records are written to. One module a sink; each spec mirrors one ``[sink] type``."""

from __future__ import annotations

from typing import Union

from backfill.sinks.local import LocalIndex
from backfill.sinks.pgvector import PgvectorTable
from backfill.sinks.pinecone import PineconeIndex
from backfill.sinks.python import PythonSink

SinkSpec = Union[LocalIndex, PineconeIndex, PgvectorTable, PythonSink]
SINKS: dict[str, type] = {LocalIndex.type: LocalIndex, PineconeIndex.type: PineconeIndex, PythonSink.type: PythonSink,
                       PgvectorTable.type: PgvectorTable}

__all__ = ["LocalIndex", "PgvectorTable", "PineconeIndex", "PythonSink", "SINKS", "SinkSpec"]
