# Stubs for the compiled core (cpp/bindings). Keep in step with the .def(...) calls there.
import builtins
from typing import Any, Callable

__version__: str

def drain_logs() -> None: ...
def set_log_level(level: int) -> None: ...

_Progress = Callable[[dict[str, Any]], None] | None

class Source:
    @property
    def kind(self) -> str: ...
    def describe(self) -> str: ...

class SlackExportSource(Source):
    def __init__(self, path: str, workspace_url: str, skip_subtypes: list[str]) -> None: ...

class JiraSource(Source):
    def __init__(
        self,
        *,
        url: str,
        email: str,
        token: str,
        projects: builtins.list[str] = ...,
        jql: str = "",
        since: str = "",
        window_days: int = 0,
        max_results: int = 100,
        overlap_minutes: int = 60,
        rate: float = 10.0,
        max_in_flight: int = 4,
        timeout: float = 60.0,
        verify_tls: bool = True,
    ) -> None: ...

def adf_to_text(adf: str) -> str: ...
def normalize_jira_page(page: str, site: str) -> builtins.list[dict[str, Any]]: ...

class Embedder:
    @property
    def identity(self) -> str: ...
    @property
    def dimension(self) -> int: ...
    @property
    def calls(self) -> int: ...
    @property
    def inputs(self) -> int: ...
    @property
    def max_batch(self) -> int: ...
    @property
    def max_input_tokens(self) -> int: ...
    def embed(self, texts: list[str]) -> list[list[float]]: ...

class HashEmbedder(Embedder):
    def __init__(self, dimension: int) -> None: ...

class PythonEmbedder(Embedder):
    def __init__(
        self, fn: Callable[..., Any], dimension: int, name: str, batch_size: int = 64, concurrency: int = 1
    ) -> None: ...
class OpenAIEmbedder(Embedder):
    def __init__(
        self,
        *,
        model: str,
        api_key: str = "",
        base_url: str = "https://api.openai.com/v1",
        dimensions: int = 0,
        max_inputs: int = 2048,
        max_tokens_per_request: int = 300000,
        max_input_tokens: int = 8192,
        concurrency: int = 4,
        timeout: float = 120.0,
        rate: float = 0.0,
        verify_tls: bool = True,
        max_attempts: int = 8,
        base_delay: float = 0.5,
        max_elapsed: float = 900.0,
    ) -> None: ...
    def describe(self) -> str: ...
    @property
    def tokens(self) -> int: ...
    @property
    def budget_waits(self) -> int: ...
    def http_stats(self) -> dict[str, int]: ...

class Sink:
    @property
    def kind(self) -> str: ...
    @property
    def identity(self) -> str: ...
    def describe(self) -> str: ...
    def upsert(self, records: builtins.list[dict[str, Any]]) -> int: ...
    def fetch(self, ids: builtins.list[str]) -> dict[str, dict[str, Any]]: ...
    def delete(self, ids: builtins.list[str]) -> None: ...
    def list(self, prefix: str = "", after: str = "", limit: int = 100) -> builtins.list[str]: ...
    def stats(self) -> dict[str, int]: ...
    def query(self, vector: builtins.list[float], top_k: int = 10) -> builtins.list[dict[str, Any]]: ...

class LocalIndex(Sink):
    def __init__(self, path: str, namespace: str = "") -> None: ...
    def namespaces(self) -> builtins.list[tuple[str, int]]: ...

class PineconeSink(Sink):
    def __init__(
        self,
        *,
        host: str,
        api_key: str,
        namespace: str = "",
        api_version: str = "2025-10",
        max_records: int = 1000,
        max_request_bytes: int = 2000000,
        max_in_flight: int = 16,
        rate: float = 100.0,
        timeout: float = 60.0,
        verify_tls: bool = True,
        metadata_max_bytes: int = 40960,
        max_attempts: int = 8,
        base_delay: float = 0.5,
        transport: str = "grpc",
    ) -> None: ...

def read_records(records: builtins.list[dict[str, Any]]) -> builtins.list[tuple[str, builtins.list[float], str]]: ...
def sanitize_metadata(
    json: str, max_bytes: int = 40960, truncate_first: builtins.list[str] = ...
) -> tuple[str | None, dict[str, Any]]: ...

class Pipeline:
    def __init__(
        self,
        source: Source,
        embedder: Embedder,
        sink: Sink,
        workdir: str,
        target_tokens: int,
        overlap_tokens: int,
        max_tokens: int,
        batch_records: int,
        count_timeout_seconds: float,
        overlap: bool = True,
        embed_concurrency: int = 0,
        fetch_concurrency: int = 4,
    ) -> None: ...
    def plan(self, progress: _Progress = None, cancel: Any = None) -> dict[str, Any]: ...
    def fetch(self, refetch: list[str] = ..., progress: _Progress = None, cancel: Any = None) -> dict[str, Any]: ...
    def validate(self, progress: _Progress = None, cancel: Any = None) -> dict[str, Any]: ...
    def ingest(self, progress: _Progress = None, cancel: Any = None) -> dict[str, Any]: ...
    def fetch_and_ingest(
        self, refetch: list[str] = ..., progress: _Progress = None, cancel: Any = None
    ) -> dict[str, Any]: ...
    def reconcile(self, max_fraction: float = 0.5, progress: _Progress = None, cancel: Any = None) -> dict[str, Any]: ...
    def verify(self, sample: int = 0, progress: _Progress = None, cancel: Any = None) -> dict[str, Any]: ...
    def status(self) -> dict[str, Any]: ...
    def query(self, text: str, top_k: int = 5) -> list[dict[str, Any]]: ...

class HttpClient:
    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        timeout: float = 120.0,
        low_speed_seconds: float = 30.0,
        verify_tls: bool = True,
        ca_bundle: str = "",
        proxy: str = "",
        user_agent: str = "",
        http2: bool = True,
        max_attempts: int = 8,
        base_delay: float = 0.5,
        max_delay: float = 60.0,
        max_elapsed: float = 900.0,
        rate: float = 0.0,
        burst: float = 1.0,
        max_in_flight: int = 8,
        host_limits: dict[str, dict[str, float]] = ...,
        secrets: builtins.list[str] = ...,
        max_total_in_flight: int = 64,
    ) -> None: ...
    def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | builtins.list[tuple[str, str]] | None = None,
        body: bytes | str | None = None,
    ) -> dict[str, Any]: ...
    def request_many(self, requests: builtins.list[dict[str, Any]], raise_on_error: bool = True) -> builtins.list[Any]: ...
    def stats(self) -> dict[str, int]: ...
    def scrub(self, text: str) -> str: ...

def paginate(
    client: HttpClient,
    url: str,
    *,
    paging: str = "token",
    token_param: str = "cursor",
    next_token: str = "/response_metadata/next_cursor",
    is_last: str = "",
    offset_param: str = "startAt",
    limit_param: str = "maxResults",
    page_size: int = 100,
    total: str = "",
    items: str = "",
    id_field: str = "id",
    headers: dict[str, str] | None = None,
    cursor: str = "",
) -> builtins.list[dict[str, Any]]: ...
def parse_retry_after(value: str) -> float | None: ...
def parse_go_duration(value: str) -> float | None: ...
def link_next(header: str) -> str | None: ...
def scrub_url(url: str) -> str: ...
def scrub_text(text: str, secrets: builtins.list[str]) -> str: ...
