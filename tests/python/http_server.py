"""A scriptable HTTP/1.1 fault-injection server for tests (stdlib only).

    with FakeServer() as srv:
        srv.script("/x", [too_many_requests(retry_after=1), respond(200, b"ok")])
        ...                                   # point the client at srv.url("/x")
        srv.requests_for("/x")                # what arrived, with receive and reply times
        srv.max_in_flight                     # most requests in flight at once

It binds 127.0.0.1 on an ephemeral port and serves each connection from its own thread, on raw
sockets, so an action can misbehave at the byte level: reset a connection mid-body (RST via
SO_LINGER 0), stall a body, cut a chunked body before its last chunk. Keep-alive is the default.

Which action answers a request, first match wins:
  1. the global queue (``script_any``): consumed by whichever request arrives first, any path;
  2. the path's queue (``script``): consumed in order;
  3. the path's handler (``route``): a callable ``Request -> Action`` (pagination fakes are handlers);
  4. the path's default (``script(..., default=)``), then the server's default (404 JSON).

Every request is recorded (``Request``: monotonic and wall receive time, method, path, query,
lowercased headers, body, connection number, when the reply finished). The server also counts
requests in flight (from the moment a request has been read until its reply is finished or the
connection is dropped) and open connections, and keeps the maxima.
"""

from __future__ import annotations

import email.utils
import gzip as _gzip
import json as _json
import math
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

__all__ = [
    "Action",
    "Conn",
    "FakeServer",
    "LinkPages",
    "OffsetPages",
    "Request",
    "SameTokenForever",
    "TokenPages",
    "close_without_response",
    "echo",
    "github_forbidden",
    "github_rate_limited",
    "github_secondary_limit",
    "gzip_response",
    "json_response",
    "openai_insufficient_quota",
    "openai_rate_limited",
    "reset_mid_body",
    "respond",
    "retry_after_date",
    "slack_ratelimited",
    "stall_body",
    "storm",
    "too_many_requests",
    "truncated_chunked",
]

REASONS = {
    100: "Continue", 200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 304: "Not Modified",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout",
    409: "Conflict", 410: "Gone", 413: "Payload Too Large", 422: "Unprocessable Entity", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}

Body = bytes | str | dict[str, Any] | list[Any] | None


def _body_bytes(body: Body) -> tuple[bytes, str | None]:
    """The bytes of a body and its default content type."""
    if body is None:
        return b"", None
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    return _json.dumps(body).encode(), "application/json"


def http_date(epoch: float) -> str:
    return email.utils.formatdate(epoch, usegmt=True)


# --- requests and connections ------------------------------------------------------------------


@dataclass
class Request:
    method: str
    target: str                    # as sent: path and query
    path: str
    query: dict[str, list[str]]    # parse_qs of the query string
    query_string: str
    headers: dict[str, str]        # lowercased name -> last value
    header_list: list[tuple[str, str]]
    body: bytes
    version: str
    t: float                       # time.monotonic() when the request had been read
    wall: float                    # time.time() at the same moment
    conn_id: int
    index: int                     # position among all requests of the server
    replied: float | None = None   # time.monotonic() when the reply was finished (or the action ended)
    action: str = ""               # the name of the action that answered
    status: int | None = None      # the status it answered with (None: no response head was sent)
    response_headers: dict[str, str] = field(default_factory=dict)  # lowercased, as sent

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "query": self.query, "headers": self.headers,
                "body": self.body.decode("utf-8", "replace"), "target": self.target}


class _Closed(Exception):
    """The peer closed the connection, or the server is stopping."""


class Conn:
    """One accepted connection, as actions see it."""

    def __init__(self, server: FakeServer, sock: socket.socket, conn_id: int) -> None:
        self.server = server
        self.sock = sock
        self.id = conn_id
        self._buf = b""

    # Reading ----------------------------------------------------------------------------------
    def _fill(self) -> None:
        while True:
            if self.server._stopping.is_set():
                raise _Closed
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as e:
                raise _Closed from e
            if not data:
                raise _Closed
            self._buf += data
            return

    def _read_until(self, marker: bytes, limit: int = 1 << 20) -> bytes:
        while marker not in self._buf:
            if len(self._buf) > limit:
                raise _Closed
            self._fill()
        head, _, self._buf = self._buf.partition(marker)
        return head

    def _read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    # Writing ----------------------------------------------------------------------------------
    def send(self, data: bytes) -> bool:
        """Sends all of `data`; False when the peer has gone."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def send_head(self, status: int, headers: Sequence[tuple[str, str]], req: Request | None = None) -> bool:
        if req is not None:
            req.status = status
            req.response_headers = {k.lower(): v for k, v in headers}
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
        lines += [f"{k}: {v}" for k, v in headers]
        return self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def sleep(self, seconds: float) -> bool:
        """Sleeps, waking early when the server stops; False when it stopped."""
        return not self.server._stopping.wait(seconds)

    def reset(self) -> None:
        """Closes with an RST (SO_LINGER 0) instead of a FIN."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.server._close_conn(self)

    # Parsing ----------------------------------------------------------------------------------
    def read_request(self) -> Request | None:
        try:
            head = self._read_until(b"\r\n\r\n")
        except _Closed:
            return None
        text = head.decode("latin-1")
        request_line, *header_lines = text.split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3:
            raise _Closed
        method, target, version = parts
        header_list = []
        for line in header_lines:
            name, _, value = line.partition(":")
            header_list.append((name.strip(), value.strip()))
        headers = {k.lower(): v for k, v in header_list}
        if headers.get("expect", "").lower() == "100-continue":
            self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int(self._read_until(b"\r\n").split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self._read_until(b"\r\n"):  # trailers, then the empty line
                        pass
                    break
                chunks.append(self._read_exact(size))
                self._read_exact(2)
            body = b"".join(chunks)
        else:
            body = self._read_exact(int(headers.get("content-length", "0") or 0))
        split = urlsplit(target)
        return self.server._record(Request(
            method=method, target=target, path=split.path, query=parse_qs(split.query, keep_blank_values=True),
            query_string=split.query, headers=headers, header_list=header_list, body=body, version=version,
            t=time.monotonic(), wall=time.time(), conn_id=self.id, index=-1))


# --- actions ---------------------------------------------------------------------------------------


class Action:
    """Answers one request. `run` returns True to keep the connection open for the next request."""

    name = "action"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def __call__(self, conn: Conn, req: Request) -> bool:
        if self.delay and not conn.sleep(self.delay):
            return False
        return self.run(conn, req)

    def run(self, conn: Conn, req: Request) -> bool:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{self.name}>"


class Respond(Action):
    name = "respond"

    def __init__(self, status: int = 200, body: Body = b"", headers: dict[str, str] | Sequence[tuple[str, str]] | None
                 = None, *, delay: float = 0.0, content_type: str | None = None,
                 dynamic_headers: Callable[[Request], dict[str, str]] | None = None, close: bool = False) -> None:
        super().__init__(delay)
        self.status = status
        self.body, default_type = _body_bytes(body)
        self.content_type = content_type or default_type
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        self.headers = list(items)
        self.dynamic_headers = dynamic_headers
        self.close = close

    def encoded_body(self, req: Request) -> tuple[bytes, list[tuple[str, str]]]:
        return self.body, []

    def run(self, conn: Conn, req: Request) -> bool:
        body, extra = self.encoded_body(req)
        headers = list(self.headers) + extra
        if self.dynamic_headers:
            headers += list(self.dynamic_headers(req).items())
        names = {k.lower() for k, _ in headers}
        if self.content_type and "content-type" not in names and body:
            headers.append(("Content-Type", self.content_type))
        if "content-length" not in names:
            headers.append(("Content-Length", str(len(body))))
        keep = not self.close and req.headers.get("connection", "").lower() != "close" and req.version == "HTTP/1.1"
        if not keep:
            headers.append(("Connection", "close"))
        if not conn.send_head(self.status, headers, req):
            return False
        if req.method != "HEAD" and body and not conn.send(body):
            return False
        return keep

    def __repr__(self) -> str:
        return f"<respond {self.status} {self.body[:40]!r}>"


def respond(status: int = 200, body: Body = b"", headers: dict[str, str] | None = None, *, delay: float = 0.0,
            content_type: str | None = None, close: bool = False) -> Respond:
    """A plain response; a dict or list body is sent as JSON."""
    return Respond(status, body, headers, delay=delay, content_type=content_type, close=close)


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None, *, delay: float = 0.0) -> Respond:
    return Respond(status, _json.dumps(obj).encode(), headers, delay=delay, content_type="application/json")


class GzipRespond(Respond):
    name = "gzip"

    def encoded_body(self, req: Request) -> tuple[bytes, list[tuple[str, str]]]:
        return _gzip.compress(self.body), [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]


def gzip_response(body: Body, status: int = 200, headers: dict[str, str] | None = None) -> Respond:
    """`body` gzip-compressed with Content-Encoding: gzip (sent whatever the client accepts)."""
    return GzipRespond(status, body, headers)


def too_many_requests(retry_after: float | str | None = 1, *, status: int = 429, body: Body = None,
                      headers: dict[str, str] | None = None, delay: float = 0.0) -> Respond:
    """429 (or `status`) with Retry-After in seconds (an int is sent as an int) or a literal string."""
    h = dict(headers or {})
    if retry_after is not None:
        h["Retry-After"] = str(int(retry_after)) if float(retry_after) == int(float(retry_after)) and not isinstance(
            retry_after, str) else str(retry_after)
    return Respond(status, body if body is not None else {"error": "too many requests"}, h, delay=delay)


def retry_after_date(seconds: float, *, status: int = 429, body: Body = None) -> Respond:
    """429 with Retry-After as an HTTP date at least `seconds` after the moment it is sent.

    The date has whole-second precision, so it is rounded up: the client must wait until that date."""
    def dyn(req: Request) -> dict[str, str]:
        return {"Retry-After": http_date(math.ceil(time.time() + seconds))}
    r = Respond(status, body if body is not None else {"error": "too many requests"}, dynamic_headers=dyn)
    r.name = "retry_after_date"
    return r


def storm(n: int, status: int = 503, then: Action | None = None, *, headers: dict[str, str] | None = None) -> list[Action]:
    """`n` responses of `status`, then `then` (200 "ok" by default)."""
    return [respond(status, {"error": REASONS.get(status, "error")}, headers) for _ in range(n)] + [
        then if then is not None else respond(200, b"ok")]


def github_rate_limited(reset_in: float = 1, *, status: int = 403, limit: int = 5000) -> Respond:
    """GitHub's primary rate limit: 403 (or 429) with x-ratelimit-remaining: 0 and x-ratelimit-reset (epoch),
    `reset_in` seconds or more from the moment it is sent (rounded up to a whole second)."""
    def dyn(req: Request) -> dict[str, str]:
        reset = math.ceil(time.time() + reset_in)
        return {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": "0", "x-ratelimit-used": str(limit),
                "x-ratelimit-reset": str(reset), "x-ratelimit-resource": "core"}
    r = Respond(status, {"message": "API rate limit exceeded for user ID 1.",
                         "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"},
                {"X-GitHub-Request-Id": "GH-RL-1"}, dynamic_headers=dyn)
    r.name = "github_rate_limited"
    return r


def github_secondary_limit(retry_after: float = 1, *, status: int = 403) -> Respond:
    """GitHub's secondary rate limit: 403 with retry-after and remaining budget left."""
    return Respond(status, {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before "
                                       "you try again.",
                            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"},
                   {"retry-after": str(int(retry_after)), "x-ratelimit-remaining": "4990",
                    "x-ratelimit-limit": "5000", "x-ratelimit-reset": str(int(time.time()) + 3600)})


def github_forbidden() -> Respond:
    """A 403 that is not a rate limit (missing permission); remaining budget is plentiful."""
    return Respond(403, {"message": "Resource not accessible by integration",
                         "documentation_url": "https://docs.github.com/rest/issues/issues"},
                   {"x-ratelimit-remaining": "4999", "x-ratelimit-limit": "5000",
                    "x-ratelimit-reset": str(int(time.time()) + 3600), "X-GitHub-Request-Id": "GH-403-1"})


def slack_ratelimited(retry_after: float | None = 1, *, status: int = 429) -> Respond:
    """Slack's rate limit: 429 with Retry-After and {"ok":false,"error":"ratelimited"} (status 200 also seen)."""
    h = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
    return Respond(status, {"ok": False, "error": "ratelimited"}, h)


def openai_insufficient_quota() -> Respond:
    """OpenAI's billing 429: not retryable, no Retry-After."""
    return Respond(429, {"error": {"message": "You exceeded your current quota, please check your plan and billing "
                                              "details.", "type": "insufficient_quota", "param": None,
                                   "code": "insufficient_quota"}}, {"x-request-id": "req_quota"})


def openai_rate_limited(reset_requests: str = "1s", reset_tokens: str = "1s", *, retry_after: float | None = None
                        ) -> Respond:
    """OpenAI's retryable 429 (rate_limit_exceeded) with Go-duration x-ratelimit-reset-* headers."""
    h = {"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0",
         "x-ratelimit-reset-requests": reset_requests, "x-ratelimit-limit-tokens": "150000",
         "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": reset_tokens, "x-request-id": "req_rl"}
    if retry_after is not None:
        h["Retry-After"] = str(int(retry_after))
    return Respond(429, {"error": {"message": "Rate limit reached for requests", "type": "requests",
                                   "param": None, "code": "rate_limit_exceeded"}}, h)


class ResetMidBody(Action):
    name = "reset_mid_body"

    def __init__(self, total: int, sent: int, delay: float = 0.0) -> None:
        super().__init__(delay)
        self.total, self.sent = total, sent

    def run(self, conn: Conn, req: Request) -> bool:
        conn.send_head(200, [("Content-Type", "application/octet-stream"), ("Content-Length", str(self.total))], req)
        conn.send(b"x" * self.sent)
        conn.sleep(0.05)  # let the partial body reach the client before the RST
        conn.reset()
        return False


def reset_mid_body(total: int = 65536, sent: int = 1024) -> Action:
    """Headers and `sent` bytes of a `total`-byte body, then an RST."""
    return ResetMidBody(total, sent)


class StallBody(Action):
    name = "stall_body"

    def __init__(self, total: int, sent: int, stall: float) -> None:
        super().__init__()
        self.total, self.sent, self.stall = total, sent, stall

    def run(self, conn: Conn, req: Request) -> bool:
        conn.send_head(200, [("Content-Type", "application/octet-stream"), ("Content-Length", str(self.total))], req)
        conn.send(b"x" * self.sent)
        if conn.sleep(self.stall):
            conn.send(b"x" * (self.total - self.sent))  # usually nobody is listening any more
        return False


def stall_body(total: int = 1024, sent: int = 16, stall: float = 5.0) -> Action:
    """Headers and `sent` bytes, then nothing for `stall` seconds (then the rest, then close)."""
    return StallBody(total, sent, stall)


class TruncatedChunked(Action):
    name = "truncated_chunked"

    def __init__(self, chunks: Sequence[bytes]) -> None:
        super().__init__()
        self.chunks = list(chunks)

    def run(self, conn: Conn, req: Request) -> bool:
        conn.send_head(200, [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")], req)
        for c in self.chunks:
            conn.send(b"%x\r\n%s\r\n" % (len(c), c))
        conn.sleep(0.05)
        return False  # closed without the final 0-size chunk


def truncated_chunked(chunks: Sequence[bytes] = (b'{"ok":true,"messages":[', b'{"id":"1"},')) -> Action:
    """A chunked body cut before the final 0 chunk, then the connection closes (FIN)."""
    return TruncatedChunked(chunks)


class CloseWithoutResponse(Action):
    name = "close_without_response"

    def run(self, conn: Conn, req: Request) -> bool:
        return False


def close_without_response() -> Action:
    """Reads the request, then closes the connection without a byte of response."""
    return CloseWithoutResponse()


class Echo(Respond):
    name = "echo"

    def __init__(self, status: int, headers: dict[str, str] | None, keys: Sequence[str] | None) -> None:
        super().__init__(status, b"", headers, content_type="application/json")
        self.keys = [k.lower() for k in keys] if keys is not None else None

    def encoded_body(self, req: Request) -> tuple[bytes, list[tuple[str, str]]]:
        if self.keys is None:
            return _json.dumps({"error": "echo", "request": req.as_dict()}).encode(), []
        shown: dict[str, str] = {"error": "echo"}
        if "query" in self.keys:
            shown["query"] = req.query_string
        shown.update({k: req.headers[k] for k in self.keys if k in req.headers})
        return _json.dumps(shown).encode(), []


def echo(status: int = 200, headers: dict[str, str] | None = None, *, keys: Sequence[str] | None = None) -> Respond:
    """Answers with a JSON description of the request: a server that echoes credentials back in its
    error bodies. With `keys`, a compact body: only those request headers, and the raw query string
    when "query" is one of the keys."""
    return Echo(status, headers, keys)


# --- pagination handlers ----------------------------------------------------------------------------


Handler = Callable[[Request], Action]


class TokenPages:
    """Token paging: page 0 for no token, page i for the token that page i-1 returned.

    style "slack": {"ok": true, <items_key>: [...], "response_metadata": {"next_cursor": <token or "">}};
    an unknown cursor gets {"ok": false, "error": "invalid_cursor"} (HTTP 200, as Slack does).
    style "jira" (/rest/api/3/search/jql): {"issues": [...], "isLast": bool, "nextPageToken": <token>}
    with nextPageToken absent on the last page; an unknown token gets a 400."""

    def __init__(self, pages: Sequence[Sequence[Any]], *, token_param: str | None = None,
                 items_key: str | None = None, tokens: Sequence[str] | None = None, style: str = "slack") -> None:
        assert style in ("slack", "jira")
        self.style = style
        self.pages = [list(p) for p in pages]
        self.token_param = token_param or ("cursor" if style == "slack" else "nextPageToken")
        self.items_key = items_key or ("messages" if style == "slack" else "issues")
        self.tokens = list(tokens) if tokens else [f"dXNlcjpV{i:04d}" for i in range(1, len(self.pages))]
        assert len(self.tokens) == len(self.pages) - 1

    def body(self, index: int) -> dict[str, Any]:
        nxt = self.tokens[index] if index < len(self.tokens) else ""
        if self.style == "jira":
            out: dict[str, Any] = {"issues": self.pages[index], "isLast": not nxt}
            if nxt:
                out["nextPageToken"] = nxt
            return out
        return {"ok": True, self.items_key: self.pages[index], "response_metadata": {"next_cursor": nxt}}

    def __call__(self, req: Request) -> Action:
        cursor = req.param(self.token_param, "")
        if not cursor:
            return json_response(self.body(0))
        if cursor in self.tokens:
            return json_response(self.body(self.tokens.index(cursor) + 1))
        if self.style == "jira":
            return json_response({"errorMessages": ["Invalid nextPageToken."], "errors": {}}, status=400)
        return json_response({"ok": False, "error": "invalid_cursor"})


class SameTokenForever:
    """A broken paginator: always the same next token. With `fresh_items`, every page has new items
    (so only the cursor repeats); otherwise the same page (same body, same ids) comes back forever."""

    def __init__(self, items: Sequence[Any], token: str = "c2FtZS10b2tlbg", *, token_param: str = "cursor",
                 items_key: str = "messages", fresh_items: bool = False) -> None:
        self.items = list(items)
        self.token = token
        self.token_param = token_param
        self.items_key = items_key
        self.fresh_items = fresh_items
        self.served = 0

    def __call__(self, req: Request) -> Action:
        n = self.served
        self.served += 1
        items = self.items
        if self.fresh_items:
            items = [{"id": f"p{n}-{i}", "text": f"item {i} of page {n}"} for i in range(len(self.items))]
        return json_response({"ok": True, self.items_key: items, "response_metadata": {"next_cursor": self.token}})


class LinkPages:
    """GitHub-style paging: ?page=N (1-based, default 1) returns a JSON array, with a Link header that
    has rel="next" (absent on the last page), rel="prev", rel="first" and rel="last"."""

    def __init__(self, pages: Sequence[Sequence[Any]], base_url: str | Callable[[], str]) -> None:
        self.pages = [list(p) for p in pages]
        self._base = base_url

    @property
    def base_url(self) -> str:
        return self._base() if callable(self._base) else self._base

    def page_url(self, req: Request, page: int) -> str:
        query = {k: v[-1] for k, v in req.query.items()}
        query["page"] = str(page)
        return f"{self.base_url}{req.path}?{urlencode(query)}"

    def __call__(self, req: Request) -> Action:
        page = int(req.param("page", "1") or "1")
        items = self.pages[page - 1] if 1 <= page <= len(self.pages) else []
        links = []
        if page < len(self.pages):
            links.append(f'<{self.page_url(req, page + 1)}>; rel="next"')
        if page > 1:
            links.append(f'<{self.page_url(req, page - 1)}>; rel="prev"')
        links.append(f'<{self.page_url(req, len(self.pages))}>; rel="last"')
        links.append(f'<{self.page_url(req, 1)}>; rel="first"')
        return json_response(items, headers={"Link": ", ".join(links), "x-ratelimit-remaining": "4999"})


class OffsetPages:
    """Jira-style offset paging (startAt/maxResults/total). With `ignore_offset`, the server ignores
    startAt and returns the first page forever (the production bug the pagination guard exists for)."""

    def __init__(self, items: Sequence[Any], *, items_key: str = "comments", offset_param: str = "startAt",
                 limit_param: str = "maxResults", ignore_offset: bool = False) -> None:
        self.items = list(items)
        self.items_key = items_key
        self.offset_param = offset_param
        self.limit_param = limit_param
        self.ignore_offset = ignore_offset

    def __call__(self, req: Request) -> Action:
        start = 0 if self.ignore_offset else int(req.param(self.offset_param, "0") or "0")
        limit = int(req.param(self.limit_param, "50") or "50")
        return json_response({"startAt": start, "maxResults": limit, "total": len(self.items),
                              self.items_key: self.items[start:start + limit]})


# --- the server ---------------------------------------------------------------------------------------


@dataclass
class _Route:
    queue: deque[Action] = field(default_factory=deque)
    handler: Handler | None = None
    default: Action | None = None


class FakeServer:
    """The fault-injection server. Use as a context manager (or start()/stop())."""

    def __init__(self, default: Action | None = None) -> None:
        self._lock = threading.Lock()
        self._routes: dict[str, _Route] = {}
        self._global: deque[Action] = deque()
        self._default = default or json_response({"message": "Not Found"}, status=404)
        self._requests: list[Request] = []
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: dict[int, Conn] = {}
        self._next_conn = 0
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.open_connections = 0
        self.max_connections = 0
        self.connections_accepted = 0
        self.errors: list[str] = []
        self.port = 0

    # Lifecycle --------------------------------------------------------------------------------
    def start(self) -> FakeServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.settimeout(0.1)
        self._listener = sock
        self.port = sock.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, name=f"fake-http-{self.port}", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._accept_thread is not None:
            self._accept_thread.join(5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            conns = list(self._conns.values())
        for c in conns:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in list(self._threads):
            t.join(5)
        with self._lock:
            conns = list(self._conns.values())
        for c in conns:
            self._close_conn(c)

    def __enter__(self) -> FakeServer:  # noqa: PYI034
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Addresses --------------------------------------------------------------------------------
    @property
    def host(self) -> str:
        """"127.0.0.1:PORT", the key of a per-host limit."""
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/", **query: str) -> str:
        return self.base_url + path + (("?" + urlencode(query)) if query else "")

    # Scripting --------------------------------------------------------------------------------
    def _route(self, path: str) -> _Route:
        return self._routes.setdefault(path, _Route())

    def script(self, path: str, actions: Action | Iterable[Action | Iterable[Action]] = (), *,
               default: Action | None = None) -> FakeServer:
        """Appends `actions` (nested lists are flattened) to the queue of `path`; sets its default."""
        flat: list[Action] = []
        items = [actions] if isinstance(actions, Action) else list(actions)
        for a in items:
            if isinstance(a, Action):
                flat.append(a)
            else:
                flat.extend(a)
        with self._lock:
            r = self._route(path)
            r.queue.extend(flat)
            if default is not None:
                r.default = default
        return self

    def script_any(self, actions: Iterable[Action]) -> FakeServer:
        """Actions taken by whichever requests come first, whatever their path."""
        with self._lock:
            self._global.extend(actions)
        return self

    def route(self, path: str, handler: Handler) -> FakeServer:
        with self._lock:
            self._route(path).handler = handler
        return self

    def set_default(self, action: Action) -> FakeServer:
        self._default = action
        return self

    def _pick(self, req: Request) -> Action:
        with self._lock:
            if self._global:
                return self._global.popleft()
            r = self._routes.get(req.path)
            if r is not None and r.queue:
                return r.queue.popleft()
            handler = r.handler if r is not None else None
            fallback = (r.default if r is not None else None) or self._default
        if handler is not None:
            return handler(req)
        return fallback

    def pending(self, path: str | None = None) -> int:
        """Scripted actions not yet consumed (of `path`, or of the global queue)."""
        with self._lock:
            if path is None:
                return len(self._global)
            r = self._routes.get(path)
            return len(r.queue) if r else 0

    # Records ----------------------------------------------------------------------------------
    def _record(self, req: Request) -> Request:
        with self._lock:
            req.index = len(self._requests)
            self._requests.append(req)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return req

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def reset_stats(self) -> None:
        with self._lock:
            self._requests.clear()
            self.max_in_flight = self.in_flight
            self.max_connections = self.open_connections
            self.connections_accepted = 0

    # Serving ----------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            sock.settimeout(0.1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._next_conn += 1
                conn = Conn(self, sock, self._next_conn)
                self._conns[conn.id] = conn
                self.open_connections += 1
                self.connections_accepted += 1
                self.max_connections = max(self.max_connections, self.open_connections)
                t = threading.Thread(target=self._serve, args=(conn,), name=f"fake-http-conn-{conn.id}", daemon=True)
                self._threads = [x for x in self._threads if x.is_alive()] + [t]
            t.start()

    def _close_conn(self, conn: Conn) -> None:
        with self._lock:
            if self._conns.pop(conn.id, None) is None:
                return
            self.open_connections -= 1
        try:
            conn.sock.close()
        except OSError:
            pass

    def _serve(self, conn: Conn) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    req = conn.read_request()
                except _Closed:
                    break
                if req is None:
                    break
                keep = False
                try:
                    action = self._pick(req)
                    req.action = getattr(action, "name", type(action).__name__)
                    conn.sock.settimeout(5)  # blocking sends while answering
                    keep = bool(action(conn, req))
                except Exception as e:  # noqa: BLE001 - a bug in a handler: answer 500 and remember it
                    self.errors.append(f"{type(e).__name__}: {e}")
                    conn.send_head(500, [("Content-Length", "0"), ("Connection", "close")])
                finally:
                    req.replied = time.monotonic()
                    with self._lock:
                        self.in_flight -= 1
                if not keep:
                    break
                try:
                    conn.sock.settimeout(0.1)
                except OSError:
                    break
        finally:
            self._close_conn(conn)


# --- a self-test of the server with the standard library ----------------------------------------


def _self_test() -> None:  # pragma: no cover - run by hand: python tests/python/http_server.py
    import http.client
    import urllib.error
    import urllib.request

    with FakeServer() as srv:
        srv.script("/a", [too_many_requests(2), respond(200, b"hello", {"X-Request-Id": "r1"})])
        try:
            urllib.request.urlopen(srv.url("/a"))
            raise AssertionError("expected 429")
        except urllib.error.HTTPError as e:
            assert e.code == 429 and e.headers["Retry-After"] == "2"
            e.close()
        with urllib.request.urlopen(srv.url("/a")) as r:
            assert r.status == 200 and r.read() == b"hello"
        # keep-alive
        c = http.client.HTTPConnection("127.0.0.1", srv.port)
        for _ in range(3):
            c.request("GET", "/missing")
            resp = c.getresponse()
            assert resp.status == 404, resp.status
            resp.read()
        c.close()
        # gzip
        srv.script("/g", [gzip_response(b"x" * 1000)])
        c = http.client.HTTPConnection("127.0.0.1", srv.port)
        c.request("GET", "/g")
        resp = c.getresponse()
        assert resp.getheader("Content-Encoding") == "gzip" and _gzip.decompress(resp.read()) == b"x" * 1000
        c.close()
        # reset mid body
        srv.script("/r", [reset_mid_body(10000, 100)])
        c = http.client.HTTPConnection("127.0.0.1", srv.port)
        c.request("GET", "/r")
        resp = c.getresponse()
        try:
            resp.read()
            raise AssertionError("expected a reset")
        except (ConnectionResetError, http.client.IncompleteRead):
            pass
        c.close()
        # truncated chunked
        srv.script("/t", [truncated_chunked()])
        c = http.client.HTTPConnection("127.0.0.1", srv.port)
        c.request("GET", "/t")
        resp = c.getresponse()
        try:
            resp.read()
            raise AssertionError("expected IncompleteRead")
        except http.client.IncompleteRead:
            pass
        c.close()
        # stall
        srv.script("/s", [stall_body(100, 10, 2.0)])
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=0.5)
        c.request("GET", "/s")
        resp = c.getresponse()
        try:
            resp.read()
            raise AssertionError("expected a timeout")
        except TimeoutError:
            pass
        c.close()
        # token pages
        srv.route("/p", TokenPages([[{"id": "1"}], [{"id": "2"}]]))
        with urllib.request.urlopen(srv.url("/p")) as r:
            tok = _json.loads(r.read())["response_metadata"]["next_cursor"]
        with urllib.request.urlopen(srv.url("/p", cursor=tok)) as r:
            assert _json.loads(r.read())["response_metadata"]["next_cursor"] == ""
        srv.route("/l", LinkPages([[1], [2]], lambda: srv.base_url))
        with urllib.request.urlopen(srv.url("/l")) as r:
            assert 'rel="next"' in r.headers["Link"]
        print(f"ok: {len(srv.requests)} requests, max in flight {srv.max_in_flight}, errors {srv.errors}")


if __name__ == "__main__":  # pragma: no cover
    _self_test()
