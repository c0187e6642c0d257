"""Sinks: the vector indexes records are written to. One module a sink; each spec mirrors one ``[sink] type``."""

from __future__ import annotations

from typing import Union

from backfill.sinks.local import LocalIndex
from backfill.sinks.pinecone import PineconeIndex
from backfill.sinks.python import PythonSink

SinkSpec = Union[LocalIndex, PineconeIndex, PythonSink]
SINKS: dict[str, type] = {LocalIndex.type: LocalIndex, PineconeIndex.type: PineconeIndex, PythonSink.type: PythonSink}

__all__ = ["LocalIndex", "PineconeIndex", "PythonSink", "SINKS", "SinkSpec"]
