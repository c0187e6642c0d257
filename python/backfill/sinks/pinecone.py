"""A Pinecone index over its data plane as a sink."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from backfill import _core
from backfill.errors import ConfigError


@dataclass(frozen=True)
class PineconeIndex:
    """A Pinecone index over its data plane.

    ``host`` is the index host (``https://my-index-abc123.svc.pinecone.io``, or
    ``http://127.0.0.1:PORT`` for Pinecone Local); ``api_key`` is best given from the environment
    (``api_key = "${PINECONE_API_KEY}"``) and is never shown in a repr, log, error or receipt.
    ``namespace`` "" and "__default__" both mean the default namespace.

    ``transport`` is how upserts travel: ``"grpc"`` (the default; VectorService/Upsert, protobuf over
    HTTP/2, what Pinecone recommends for bulk upserts, several times cheaper for the client than
    JSON) or ``"rest"`` (POST /vectors/upsert, for a proxy that does not pass HTTP/2). Fetch, list,
    delete, stats and query always use REST.
    """

    type: ClassVar[str] = "pinecone"
    host: str
    api_key: str = field(repr=False)
    namespace: str = ""
    api_version: str = "2025-10"
    max_records: int = 1000
    max_request_bytes: int = 2_000_000
    max_in_flight: int = 16
    rate: float = 100.0
    timeout: float = 60.0
    verify_tls: bool = True
    metadata_max_bytes: int = 40960
    transport: str = "grpc"

    def __post_init__(self) -> None:
        if self.transport not in ("grpc", "rest"):
            raise ConfigError(f'sink.transport must be "grpc" or "rest", got {self.transport!r}', key="sink.transport")

    def build(self, workdir: Path) -> _core.Sink:
        return _core.PineconeSink(
            host=self.host,
            api_key=self.api_key,
            namespace=self.namespace,
            api_version=self.api_version,
            max_records=self.max_records,
            max_request_bytes=self.max_request_bytes,
            max_in_flight=self.max_in_flight,
            rate=self.rate,
            timeout=self.timeout,
            verify_tls=self.verify_tls,
            metadata_max_bytes=self.metadata_max_bytes,
            transport=self.transport,
        )
