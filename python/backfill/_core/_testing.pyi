# Stubs for backfill._core._testing (cpp/testing/bind_testing.cpp, bind_http.cpp): core pieces for
# tests and benchmarks, not part of the API.
import builtins
from typing import Any

def error_kinds() -> builtins.list[str]: ...
def raise_error(kind: str, message: str = "sample", cause_status: int = 0, cause_retryable: bool = False) -> None: ...
def error_facts(kind: str, cause_status: int = 0, cause_retryable: bool = False) -> tuple[builtins.list[str], bool]: ...
def read_records(records: builtins.list[dict[str, Any]]) -> builtins.list[tuple[str, builtins.list[float], str]]: ...
def adf_to_text(adf: str) -> str: ...
def normalize_jira_page(page: str, site: str, include_restricted: bool = False) -> builtins.list[dict[str, Any]]: ...
def sanitize_metadata(
    json: str, max_bytes: int = 40960, truncate_first: builtins.list[str] = ...
) -> tuple[str | None, dict[str, Any]]: ...

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
        classify: str = "",
        slow_seconds: float = 10.0,
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
