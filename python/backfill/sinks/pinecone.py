"""A Pinecone index over its data plane as a sink."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from backfill import _core
from backfill._options import core_options
from backfill.errors import ConfigError

_DEFAULTS = _core.PineconeOptions()


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
    delete, stats and query always use REST. A failed request is tried up to ``max_attempts`` times,
    backing off from ``base_delay`` seconds.

    ``rate`` (requests a second) and ``byte_rate`` (upsert bytes a second) are Pinecone's documented limits
    per namespace (100 and 50 MB); Pinecone announces none in its answers, so the sink paces at these
    (0: no limit of its own).
    """

    type: ClassVar[str] = "pinecone"
    host: str
    api_key: str = field(repr=False)
    namespace: str = _DEFAULTS.namespace
    api_version: str = _DEFAULTS.api_version
    max_records: int = _DEFAULTS.max_records
    max_request_bytes: int = _DEFAULTS.max_request_bytes
    max_in_flight: int = _DEFAULTS.max_in_flight
    rate: float = _DEFAULTS.rate
    byte_rate: float = _DEFAULTS.byte_rate
    timeout: float = _DEFAULTS.timeout
    verify_tls: bool = _DEFAULTS.verify_tls
    metadata_max_bytes: int = _DEFAULTS.metadata_max_bytes
    max_attempts: int = _DEFAULTS.max_attempts
    base_delay: float = _DEFAULTS.base_delay
    transport: str = _DEFAULTS.transport

    def __post_init__(self) -> None:
        if self.transport not in ("grpc", "rest"):
            raise ConfigError(f'sink.transport must be "grpc" or "rest", got {self.transport!r}', key="sink.transport")

    def build(self, workdir: Path) -> _core.Sink:
        return _core.PineconeSink(core_options(_core.PineconeOptions, self))
