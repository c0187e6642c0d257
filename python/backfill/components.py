"""Sources, embedders and sinks: plain, typed descriptions that the pipeline turns into core objects.

Each class mirrors one ``type`` of the TOML config (``[source] type = "slack_export"`` is
:class:`SlackExport`), field for field.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Union

from backfill import _core
from backfill.errors import ConfigError

DEFAULT_SKIP_SUBTYPES: tuple[str, ...] = (
    "channel_join",
    "channel_leave",
    "channel_topic",
    "channel_purpose",
    "channel_name",
    "pinned_item",
)


@dataclass(frozen=True)
class SlackExport:
    """A Slack workspace export: the zip from Slack's export tool, or the folder it unpacks to.

    One partition per conversation; a document per thread (parent and replies) or lone message.
    """

    type: ClassVar[str] = "slack_export"
    path: Path
    workspace_url: str = ""
    skip_subtypes: tuple[str, ...] = DEFAULT_SKIP_SUBTYPES

    def build(self) -> _core.Source:
        return _core.SlackExportSource(os.fspath(self.path), self.workspace_url, list(self.skip_subtypes))


@dataclass(frozen=True)
class JiraCloud:
    """Jira Cloud over REST v3 (``/rest/api/3/search/jql``), one partition per project.

    ``token`` is an API token (best given as ``token = "${JIRA_API_TOKEN}"``) and never appears in a
    repr, log, error, journal or receipt. ``since`` ("2024-01-31") bounds the first run; later runs
    fetch what changed since the highest ``updated`` seen, minus ``overlap_minutes``. ``window_days``
    splits each project into windows on ``updated`` so huge projects resume finely.
    """

    type: ClassVar[str] = "jira"
    url: str
    email: str
    token: str = field(repr=False)
    projects: tuple[str, ...] = ()
    jql: str = ""
    since: str = ""
    window_days: int = 0
    max_results: int = 100
    overlap_minutes: int = 60
    rate: float = 10.0
    max_in_flight: int = 4
    timeout: float = 60.0
    verify_tls: bool = True

    def build(self) -> _core.Source:
        return _core.JiraSource(
            url=self.url,
            email=self.email,
            token=self.token,
            projects=list(self.projects),
            jql=self.jql,
            since=self.since,
            window_days=self.window_days,
            max_results=self.max_results,
            overlap_minutes=self.overlap_minutes,
            rate=self.rate,
            max_in_flight=self.max_in_flight,
            timeout=self.timeout,
            verify_tls=self.verify_tls,
        )


@dataclass(frozen=True)
class HashEmbedder:
    """Offline, deterministic feature hashing of words and word pairs.

    Lexical, not semantic: texts sharing words are close, synonyms are not. For demos, tests and
    pipelines that must run without a model; use a real embedder for semantic search.
    """

    type: ClassVar[str] = "hash"
    dimension: int = 256

    def build(self) -> _core.Embedder:
        return _core.HashEmbedder(self.dimension)


@dataclass(frozen=True)
class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible API: ``POST {base_url}/embeddings`` (OpenAI, Azure-style
    gateways, vLLM, TEI, Ollama; ``http://127.0.0.1:PORT/v1`` works for local servers).

    ``api_key`` is best given from the environment (``api_key = "${OPENAI_API_KEY}"``); it is sent as
    ``Authorization: Bearer`` and never appears in a repr, log, error or receipt. It may be empty for a
    local server that needs none. ``dimensions`` is sent only when set (``text-embedding-3-*`` can
    shorten their vectors); without it the model's known size is used (``text-embedding-3-small`` 1536,
    ``-3-large`` 3072, ``ada-002`` 1536), and other models need it.

    Each batch of chunks is split into requests of at most ``max_inputs`` texts and
    ``max_tokens_per_request`` tokens (estimated conservatively, about one per 3 bytes) that run
    ``concurrency`` at a time; a chunk over ``max_input_tokens`` is refused before anything is sent (the
    pipeline keeps ``chunking.max_tokens`` within it). Vectors are cached in the ledger by content hash
    under ``openai:<model>:<dimension>``, so a rerun, or a run after a spent quota, never pays twice.
    ``rate`` caps requests per second (0: none; the server's rate-limit headers always pace requests).
    """

    type: ClassVar[str] = "openai"
    model: str
    api_key: str = field(default="", repr=False)
    base_url: str = "https://api.openai.com/v1"
    dimensions: int | None = None
    max_inputs: int = 2048
    max_tokens_per_request: int = 300_000
    max_input_tokens: int = 8192
    concurrency: int = 4
    timeout: float = 120.0
    rate: float = 0.0
    verify_tls: bool = True
    max_attempts: int = 8

    def build(self) -> _core.Embedder:
        if self.dimensions is not None and self.dimensions < 1:
            raise ConfigError(f"embedder.dimensions must be positive, got {self.dimensions}", key="embedder.dimensions")
        return _core.OpenAIEmbedder(
            model=self.model,
            api_key=self.api_key,
            base_url=self.base_url,
            dimensions=self.dimensions or 0,
            max_inputs=self.max_inputs,
            max_tokens_per_request=self.max_tokens_per_request,
            max_input_tokens=self.max_input_tokens,
            concurrency=self.concurrency,
            timeout=self.timeout,
            rate=self.rate,
            verify_tls=self.verify_tls,
            max_attempts=self.max_attempts,
        )


@dataclass(frozen=True)
class PythonEmbedder:
    """Any Python function ``f(list[str]) -> vectors`` as the embedder: a list of float lists or a
    2-D array of shape ``(len(texts), dimension)`` (NumPy, or anything with ``__array_interface__``).

    >>> model = SentenceTransformer("all-MiniLM-L6-v2")                       # doctest: +SKIP
    >>> PythonEmbedder(model.encode, dimension=384, name="all-MiniLM-L6-v2")  # doctest: +SKIP

    In a config file ``function`` is an import path, ``"package.module:function"``. ``name`` keys
    the embedding cache together with the dimension: give the model's name, and change it whenever
    the function would return different vectors (it defaults to the import path). The function is
    called once per batch of up to ``batch_size`` texts, from up to ``concurrency`` threads at once,
    holding the GIL only for the call itself: a model that releases the GIL (PyTorch, ONNX Runtime)
    runs while the pipeline goes on normalizing and upserting.
    """

    type: ClassVar[str] = "python"
    function: Union[str, Callable[[list[str]], Any]]
    dimension: int
    name: str = ""
    batch_size: int = 64
    concurrency: int = 1

    def build(self) -> _core.Embedder:
        fn = self.function
        name = self.name
        if isinstance(fn, str):
            fn = _import_function(fn)
            name = name or self.function  # type: ignore[assignment]
        elif not callable(fn):
            raise ConfigError(f"embedder.function must be callable or an import path, got {fn!r}", key="embedder.function")
        if not name:
            raise ConfigError(
                "embedder.name is required for a Python function: it keys the embedding cache (use the model's name)",
                key="embedder.name",
            )
        if self.dimension < 1:
            raise ConfigError(f"embedder.dimension must be positive, got {self.dimension}", key="embedder.dimension")
        if self.batch_size < 1 or self.concurrency < 1:
            raise ConfigError("embedder.batch_size and embedder.concurrency must be at least 1", key="embedder")
        return _core.PythonEmbedder(fn, self.dimension, name, self.batch_size, self.concurrency)


def _import_function(path: str) -> Callable[..., Any]:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ConfigError(
            f"embedder.function {path!r} must be 'package.module:function'", key="embedder.function"
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(f"embedder.function {path!r}: cannot import {module_name}: {e}", key="embedder.function") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"embedder.function {path!r}: {module_name} has no {attr}", key="embedder.function")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"embedder.function {path!r} is not callable", key="embedder.function")
    return obj  # type: ignore[no-any-return]


@dataclass(frozen=True)
class LocalIndex:
    """The embedded default sink: one SQLite file with vectors and metadata, queried in C++.

    ``path`` defaults to ``index.sqlite`` in the run's workdir.
    """

    type: ClassVar[str] = "local"
    path: Path | None = None
    namespace: str = ""

    def build(self, workdir: Path) -> _core.Sink:
        path = self.path if self.path is not None else workdir / "index.sqlite"
        return _core.LocalIndex(os.fspath(path), self.namespace)


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


@dataclass(frozen=True)
class Chunking:
    """How documents are split: about ``target_tokens`` per chunk with ``overlap_tokens`` repeated."""

    target_tokens: int = 512
    overlap_tokens: int = 64
    max_tokens: int = 8000


SourceSpec = Union[SlackExport, JiraCloud]
EmbedderSpec = Union[HashEmbedder, OpenAIEmbedder, PythonEmbedder]
SinkSpec = Union[LocalIndex, PineconeIndex]

SOURCES: dict[str, type] = {SlackExport.type: SlackExport, JiraCloud.type: JiraCloud}
EMBEDDERS: dict[str, type] = {
    HashEmbedder.type: HashEmbedder,
    OpenAIEmbedder.type: OpenAIEmbedder,
    PythonEmbedder.type: PythonEmbedder,
}
SINKS: dict[str, type] = {LocalIndex.type: LocalIndex, PineconeIndex.type: PineconeIndex}

__all__ = [
    "Chunking",
    "HashEmbedder",
    "JiraCloud",
    "LocalIndex",
    "OpenAIEmbedder",
    "PineconeIndex",
    "PythonEmbedder",
    "SlackExport",
]
