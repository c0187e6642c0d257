"""The HTTP engine (backfill._core._testing.HttpClient, paginate) against a local fault-injection server.

Timing assertions only have lower bounds (a retry waits at least what the server asked for, a rate
limit spreads requests over at least (N - burst) / rate), measured from the server's receive times,
with generous tolerance. Upper bounds are on counts (attempts, requests in flight), plus one loose
bound (20 s) on refusing to wait a 60 s Retry-After that the elapsed budget forbids.

The server is tests/python/http_server.py; the first tests check that its faults are real faults."""

from __future__ import annotations

import email.utils
import gzip
import http.client
import json
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from backfill import _core
from backfill._core import _testing
from backfill.errors import BackfillError, HttpError, PaginationError
from http_server import (
    FakeServer,
    LinkPages,
    OffsetPages,
    Request,
    Respond,
    SameTokenForever,
    TokenPages,
    close_without_response,
    echo,
    github_forbidden,
    github_rate_limited,
    github_secondary_limit,
    gzip_response,
    json_response,
    openai_insufficient_quota,
    openai_rate_limited,
    reset_mid_body,
    respond,
    retry_after_date,
    slack_ratelimited,
    stall_body,
    storm,
    too_many_requests,
    truncated_chunked,
)

# Small delays everywhere: backoff is 10-50 ms, server-requested waits are 1-2 s.
FAST: dict[str, Any] = {"connect_timeout": 5.0, "timeout": 30.0, "low_speed_seconds": 10.0, "max_attempts": 5,
                        "base_delay": 0.01, "max_delay": 0.05, "max_elapsed": 30.0}
TOL = 0.1  # seconds of slack on every lower bound

MakeClient = Callable[..., Any]


@pytest.fixture()
def srv() -> Iterator[FakeServer]:
    with FakeServer() as s:
        yield s
    assert not s.errors, f"the fake server's handlers failed: {s.errors}"


@pytest.fixture()
def make_client() -> MakeClient:
    def make(**kw: Any) -> Any:
        return _testing.HttpClient(**{**FAST, **kw})
    return make


@pytest.fixture()
def core_trace() -> Iterator[None]:
    """The core logs at trace level (5) during the test; INFO again afterwards."""
    _core.set_log_level(5)
    try:
        yield
    finally:
        _core.set_log_level(logging.INFO)


def wait_between(first: Request, second: Request) -> float:
    """Seconds from the end of the server's reply to `first` to the arrival of `second`."""
    assert first.replied is not None
    return second.t - first.replied


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ================================================================================================
# The fake server itself (stdlib clients): the faults must be what they claim, or the engine tests
# below prove nothing.
# ================================================================================================


def test_server_scripts_records_and_keeps_alive(srv: FakeServer) -> None:
    srv.script("/a", [too_many_requests(2), respond(200, b"hello", {"X-Request-Id": "r1"})])
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(srv.url("/a", q="1"))
    assert e.value.code == 429 and e.value.headers["Retry-After"] == "2"
    e.value.close()
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    try:
        c.request("POST", "/a", body=b'{"x":1}', headers={"X-Test": "yes"})
        r = c.getresponse()
        assert (r.status, r.read(), r.getheader("X-Request-Id")) == (200, b"hello", "r1")
        for _ in range(3):  # the default of an unscripted path, on the same connection
            c.request("GET", "/nowhere")
            r = c.getresponse()
            assert r.status == 404
            r.read()
    finally:
        c.close()
    # The client has the last reply once its bytes are sent; the server thread notes the time just after.
    deadline = time.monotonic() + 5
    while srv.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    reqs = srv.requests
    assert [(r.method, r.path) for r in reqs] == [("GET", "/a"), ("POST", "/a")] + [("GET", "/nowhere")] * 3
    assert reqs[0].query == {"q": ["1"]} and reqs[1].body == b'{"x":1}' and reqs[1].headers["x-test"] == "yes"
    assert len({r.conn_id for r in reqs[1:]}) == 1, "keep-alive: one connection for the http.client requests"
    assert all(r.replied is not None and r.replied >= r.t for r in reqs)
    assert reqs[0].status == 429 and reqs[0].response_headers["retry-after"] == "2"


def test_server_faults_are_real_faults(srv: FakeServer) -> None:
    srv.script("/gz", [gzip_response(b"z" * 5000)])
    srv.script("/reset", [reset_mid_body(100_000, 100)])
    srv.script("/chunked", [truncated_chunked()])
    srv.script("/stall", [stall_body(100, 10, stall=3.0)])
    srv.script("/close", [close_without_response()])

    def get(path: str, timeout: float = 5) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
        c.request("GET", path)
        return c, c.getresponse()

    c, r = get("/gz")
    assert r.getheader("Content-Encoding") == "gzip" and gzip.decompress(r.read()) == b"z" * 5000
    c.close()
    c, r = get("/reset")
    with pytest.raises((ConnectionResetError, http.client.IncompleteRead)):
        r.read()
    c.close()
    c, r = get("/chunked")
    assert r.getheader("Transfer-Encoding") == "chunked"
    with pytest.raises(http.client.IncompleteRead):
        r.read()
    c.close()
    c, r = get("/stall", timeout=0.5)
    with pytest.raises(TimeoutError):
        r.read()
    c.close()
    c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    c.request("GET", "/close")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        c.getresponse()
    c.close()


def test_server_counts_requests_in_flight(srv: FakeServer) -> None:
    srv.script("/slow", [], default=respond(200, b"ok", delay=0.3))

    def fetch() -> None:
        with urllib.request.urlopen(srv.url("/slow"), timeout=10) as r:
            r.read()

    threads = [threading.Thread(target=fetch) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The server counts a request out after its last byte is sent, which a client may read first.
    deadline = time.monotonic() + 5
    while srv.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.max_in_flight == 5 and srv.in_flight == 0 and len(srv.requests) == 5


def test_server_pagination_fakes(srv: FakeServer) -> None:
    srv.route("/slack", TokenPages([[{"id": "a"}], [{"id": "b"}]]))
    srv.route("/jira", TokenPages([[{"key": "A-1"}], [{"key": "A-2"}]], style="jira"))
    srv.route("/gh", LinkPages([[{"id": 1}], [{"id": 2}]], lambda: srv.base_url))

    def get(url: str) -> tuple[Any, Any]:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read()), r.headers

    body, _ = get(srv.url("/slack"))
    tok = body["response_metadata"]["next_cursor"]
    assert tok and get(srv.url("/slack", cursor=tok))[0]["response_metadata"]["next_cursor"] == ""
    body, _ = get(srv.url("/jira"))
    assert body["isLast"] is False
    last, _ = get(srv.url("/jira", nextPageToken=body["nextPageToken"]))
    assert last["isLast"] is True and "nextPageToken" not in last
    items, headers = get(srv.url("/gh", per_page="1"))
    assert items == [{"id": 1}]
    assert f'<{srv.base_url}/gh?per_page=1&page=2>; rel="next"' in headers["Link"]
    items, headers = get(srv.url("/gh", per_page="1", page="2"))
    assert items == [{"id": 2}] and 'rel="next"' not in headers["Link"]


# ================================================================================================
# Pieces
# ================================================================================================


def test_parse_retry_after() -> None:
    assert _testing.parse_retry_after("120") == 120.0
    assert _testing.parse_retry_after("0") == 0.0
    in_30 = _testing.parse_retry_after(email.utils.formatdate(time.time() + 30, usegmt=True))
    assert in_30 is not None and 28 <= in_30 <= 31
    assert _testing.parse_retry_after("soon") is None


def test_parse_go_duration() -> None:
    assert _testing.parse_go_duration("6m0s") == 360.0
    assert _testing.parse_go_duration("1s") == 1.0
    assert _testing.parse_go_duration("120ms") == pytest.approx(0.12)
    assert _testing.parse_go_duration("1h2m3.5s") == pytest.approx(3723.5)
    assert _testing.parse_go_duration("later") is None


def test_link_next() -> None:
    header = ('<https://api.github.com/repositories/1300192/issues?page=2>; rel="prev", '
              '<https://api.github.com/repositories/1300192/issues?page=4>; rel="next", '
              '<https://api.github.com/repositories/1300192/issues?page=515>; rel="last"')
    assert _testing.link_next(header) == "https://api.github.com/repositories/1300192/issues?page=4"
    assert _testing.link_next('<https://x/i?page=1>; rel="first"') is None
    assert _testing.link_next("") is None


def test_scrub_url_and_text() -> None:
    url = _testing.scrub_url("https://user:hunter22@example.com/p?token=abcd1234&page=2&api_key=k-998877")
    assert "hunter22" not in url and "abcd1234" not in url and "k-998877" not in url
    assert "page=2" in url and "***" in url and "example.com/p" in url
    text = _testing.scrub_text("auth Bearer abcdef0123456789 with my-own-secret and xoxb-1111-2222-abcdefABCDEF "
                            "ghp_0123456789abcdefghijABCDEFGHIJ012345 sk-proj-abcdefghijklmnop0123",
                            ["my-own-secret"])
    for secret in ("abcdef0123456789", "my-own-secret", "xoxb-1111-2222-abcdefABCDEF",
                   "ghp_0123456789abcdefghijABCDEFGHIJ012345", "sk-proj-abcdefghijklmnop0123"):
        assert secret not in text
    assert "***" in text and text.startswith("auth ")


# ================================================================================================
# Requests and responses
# ================================================================================================


def test_get_returns_status_headers_body_and_request_id(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/ok", [respond(200, b"hello", {"X-Request-Id": "req-123", "X-Custom": "first",
                                              "Content-Type": "text/plain"})])
    r = make_client().request("GET", srv.url("/ok", page="2"))
    assert r["status"] == 200 and r["body"] == b"hello" and isinstance(r["body"], bytes)
    assert r["headers"]["x-custom"] == "first" and r["headers"]["content-type"] == "text/plain"
    assert r["request_id"] == "req-123" and r["attempts"] == 1 and r["seconds"] >= 0
    assert r["url"] == srv.url("/ok", page="2")
    (req,) = srv.requests
    assert req.method == "GET" and req.query == {"page": ["2"]}


def test_post_sends_method_headers_and_body(srv: FakeServer, make_client: MakeClient) -> None:
    payload = json.dumps({"input": ["x" * 3000, "y"], "model": "m"}).encode()
    srv.script("/embed", [json_response({"ok": True}, status=201)])
    r = make_client().request("POST", srv.url("/embed"), headers={"Content-Type": "application/json",
                                                                  "X-Trace": "t-1"}, body=payload)
    assert r["status"] == 201 and json.loads(r["body"]) == {"ok": True}
    (req,) = srv.requests
    assert req.method == "POST" and req.body == payload
    assert req.headers["content-type"] == "application/json" and req.headers["x-trace"] == "t-1"
    assert req.headers.get("user-agent") == f"backfill/{_core.__version__}", "the default User-Agent is backfill/<version>"


def test_custom_user_agent(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/ua", [respond(200)])
    make_client(user_agent="acme-backfill/2.0 (+ops@acme.test)").request("GET", srv.url("/ua"))
    assert srv.requests[0].headers["user-agent"] == "acme-backfill/2.0 (+ops@acme.test)"


@pytest.mark.parametrize("name", ["X-GitHub-Request-Id", "X-Pinecone-Request-Id", "X-ARequestId", "x-request-id"])
def test_request_id_from_each_api(name: str, srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/rid", [respond(200, b"{}", {name: "abc-123"})])
    assert make_client().request("GET", srv.url("/rid"))["request_id"] == "abc-123"


def test_headers_are_the_final_attempts_with_the_last_value(srv: FakeServer, make_client: MakeClient) -> None:
    first = Respond(503, b"busy", [("X-Only-First", "1")])
    final = Respond(200, b"ok", [("X-Dup", "a"), ("X-Dup", "b"), ("X-Final", "yes")])
    srv.script("/h", [first, final])
    r = make_client().request("GET", srv.url("/h"))
    assert r["attempts"] == 2 and r["headers"]["x-dup"] == "b" and r["headers"]["x-final"] == "yes"
    assert "x-only-first" not in r["headers"]


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_large_body_is_sent_whole_and_resent_on_retry(method: str, srv: FakeServer, make_client: MakeClient) -> None:
    body = json.dumps({"vectors": [{"id": f"doc#{i}", "values": [0.125] * 80} for i in range(4000)]}).encode()
    assert len(body) > 2_000_000
    srv.script("/vectors/upsert", [respond(503, {"error": "busy"}), json_response({"upsertedCount": 4000})])
    r = make_client().request(method, srv.url("/vectors/upsert"), headers={"Content-Type": "application/json"},
                              body=body)
    assert (r["status"], r["attempts"]) == (200, 2)
    reqs = srv.requests_for("/vectors/upsert")
    assert [(q.method, q.body == body) for q in reqs] == [(method, True), (method, True)]


def test_sequential_requests_reuse_one_connection(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/k", [], default=respond(200, b"k"))
    client = make_client()
    for _ in range(5):
        assert client.request("GET", srv.url("/k"))["status"] == 200
    assert len(srv.requests) == 5
    assert srv.connections_accepted == 1, "keep-alive: sequential requests should reuse the connection"


def test_gzip_body_is_decoded(srv: FakeServer, make_client: MakeClient) -> None:
    original = json.dumps({"ok": True, "messages": [{"id": str(i), "text": "lorem ipsum " * 20}
                                                    for i in range(50)]}).encode()
    srv.script("/gz", [gzip_response(original, headers={"Content-Type": "application/json"})])
    r = make_client().request("GET", srv.url("/gz"))
    assert r["status"] == 200 and r["body"] == original
    assert "gzip" in srv.requests[0].headers.get("accept-encoding", "")


# ================================================================================================
# Retries: what the server asks for
# ================================================================================================


def test_429_retry_after_seconds_is_waited(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/p", [too_many_requests(1), respond(200, b"done")])
    r = make_client().request("GET", srv.url("/p"))
    assert (r["status"], r["body"], r["attempts"]) == (200, b"done", 2)
    first, second = srv.requests_for("/p")
    assert wait_between(first, second) >= 1.0 - TOL, "the retry came before Retry-After: 1 had passed"
    assert r["seconds"] >= 1.0 - TOL


def test_429_retry_after_http_date_is_waited(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/p", [retry_after_date(2), respond(200, b"done")])
    r = make_client().request("GET", srv.url("/p"))
    assert (r["status"], r["attempts"]) == (200, 2)
    first, second = srv.requests_for("/p")
    until = email.utils.parsedate_to_datetime(first.response_headers["retry-after"]).timestamp()
    assert until >= first.wall + 2
    # HTTP dates have whole-second precision: allow half a second, the wait is still >= 1.5 s.
    assert second.wall >= until - 0.5, f"retried {until - second.wall:.2f} s before the Retry-After date"


def test_503_storm_then_success(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/s", storm(3, 503, respond(200, b"finally")))
    client = make_client()
    r = client.request("GET", srv.url("/s"))
    assert (r["status"], r["body"], r["attempts"]) == (200, b"finally", 4)
    assert len(srv.requests_for("/s")) == 4
    st = client.stats()
    assert (st["requests"], st["attempts"], st["retries"], st["failures"]) == (1, 4, 3, 0)
    assert st["bytes_received"] >= len(b"finally")


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status: int, srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/t", [respond(status, {"error": "transient"}), respond(200, b"ok")])
    r = make_client().request("GET", srv.url("/t"))
    assert (r["status"], r["attempts"]) == (200, 2)
    assert [q.status for q in srv.requests_for("/t")] == [status, 200]


@pytest.mark.parametrize("status", [403, 429])
def test_github_primary_rate_limit_waits_until_reset(status: int, srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/repos/o/r/issues", [github_rate_limited(reset_in=1, status=status), json_response([])])
    r = make_client().request("GET", srv.url("/repos/o/r/issues"), headers={"Accept": "application/vnd.github+json"})
    assert (r["status"], r["attempts"]) == (200, 2)
    first, second = srv.requests_for("/repos/o/r/issues")
    reset = int(first.response_headers["x-ratelimit-reset"])
    assert reset >= first.wall + 1
    # x-ratelimit-reset is whole epoch seconds: allow half a second before it.
    assert second.wall >= reset - 0.5, f"retried {reset - second.wall:.2f} s before x-ratelimit-reset"


def test_github_secondary_rate_limit_honours_retry_after(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/repos/o/r/issues", [github_secondary_limit(retry_after=1), json_response([])])
    r = make_client().request("GET", srv.url("/repos/o/r/issues"))
    assert (r["status"], r["attempts"]) == (200, 2)
    first, second = srv.requests_for("/repos/o/r/issues")
    assert wait_between(first, second) >= 1.0 - TOL


def test_plain_403_is_not_retried(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/repos/o/r/issues", [github_forbidden(), json_response([])])
    client = make_client()
    with pytest.raises(HttpError) as e:
        client.request("GET", srv.url("/repos/o/r/issues"))
    assert e.value.status == 403 and e.value.attempts == 1 and e.value.retryable is False
    assert e.value.request_id == "GH-403-1"
    assert len(srv.requests) == 1
    assert client.stats()["failures"] == 1


@pytest.mark.parametrize("status", [400, 401, 404, 410])
def test_client_errors_fail_at_once_with_a_one_line_message(status: int, srv: FakeServer,
                                                            make_client: MakeClient) -> None:
    # Pretty-printed error bodies have newlines: the message must still be one line.
    body = json.dumps({"errorMessages": ["nope"], "errors": {}}, indent=2)
    srv.script("/rest/api/3/thing", [respond(status, body, {"X-ARequestId": f"rid-{status}"},
                                             content_type="application/json"), respond(200, b"too late")])
    url = srv.url("/rest/api/3/thing", token="tok-abcdef123456", page="3")
    with pytest.raises(HttpError) as e:
        make_client().request("GET", url)
    err = e.value
    msg = str(err)
    assert isinstance(err, BackfillError) and isinstance(err, OSError)
    assert (err.status, err.attempts, err.retryable, err.method) == (status, 1, False, "GET")
    assert len(srv.requests) == 1
    assert "\n" not in msg and "\r" not in msg
    assert err.url == _testing.scrub_url(url) and "tok-abcdef123456" not in err.url and "page=3" in err.url
    assert msg.startswith("GET ") and err.url in msg and f" {status}" in msg.split(err.url, 1)[1]
    assert "tok-abcdef123456" not in msg
    assert err.request_id == f"rid-{status}"
    assert "nope" in err.body


def test_openai_insufficient_quota_is_not_retried(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/v1/embeddings", [openai_insufficient_quota(), json_response({"data": []})])
    client = make_client(classify="openai")  # OpenAI's reading of its answers, as its embedder installs it
    with pytest.raises(HttpError) as e:
        client.request("POST", srv.url("/v1/embeddings"), body=b'{"input":["a"],"model":"m"}')
    assert e.value.status == 429 and e.value.attempts == 1 and e.value.retryable is False
    assert len(srv.requests) == 1
    assert "insufficient_quota" in e.value.body or "quota" in str(e.value)


def test_openai_rate_limit_honours_reset_duration(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/v1/embeddings", [openai_rate_limited("1s", "1s"), json_response({"data": []})])
    r = make_client().request("POST", srv.url("/v1/embeddings"), body=b'{"input":["a"],"model":"m"}')
    assert (r["status"], r["attempts"]) == (200, 2)
    first, second = srv.requests_for("/v1/embeddings")
    assert wait_between(first, second) >= 1.0 - TOL, "x-ratelimit-reset-requests: 1s was not waited"


@pytest.mark.parametrize("status", [429, 200])
def test_slack_ratelimited_is_retried(status: int, srv: FakeServer, make_client: MakeClient) -> None:
    ok = json_response({"ok": True, "messages": [], "response_metadata": {"next_cursor": ""}})
    srv.script("/api/conversations.history", [slack_ratelimited(retry_after=1, status=status), ok])
    client = make_client(classify="slack")  # Slack's reading of its answers, as its source installs it
    r = client.request("GET", srv.url("/api/conversations.history", channel="C1"))
    assert (r["status"], r["attempts"]) == (200, 2)
    assert json.loads(r["body"])["ok"] is True
    first, second = srv.requests_for("/api/conversations.history")
    assert wait_between(first, second) >= 1.0 - TOL


# ================================================================================================
# Retries: broken transfers
# ================================================================================================


def test_connection_reset_mid_body_is_retried(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/r", [reset_mid_body(100_000, 1000), respond(200, b"whole")])
    r = make_client().request("GET", srv.url("/r"))
    assert (r["status"], r["body"], r["attempts"]) == (200, b"whole", 2)


def test_connection_closed_without_response_is_retried(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/c", [close_without_response(), respond(200, b"back")])
    r = make_client().request("GET", srv.url("/c"))
    assert (r["status"], r["body"], r["attempts"]) == (200, b"back", 2)


def test_truncated_chunked_body_is_retried(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/c", [truncated_chunked(), json_response({"ok": True, "messages": []})])
    r = make_client().request("GET", srv.url("/c"))
    assert (r["status"], r["attempts"]) == (200, 2) and json.loads(r["body"])["ok"] is True


def test_stalled_body_times_out_and_is_retried(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/s", [stall_body(4096, 16, stall=6.0), respond(200, b"fresh")])
    r = make_client(low_speed_seconds=1.0).request("GET", srv.url("/s"))
    assert (r["status"], r["body"], r["attempts"]) == (200, b"fresh", 2)
    first, second = srv.requests_for("/s")
    assert second.t - first.t >= 1.0 - TOL, "the stall was abandoned before low_speed_seconds"


def test_stalled_body_fails_with_status_0_after_max_attempts(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/s", [], default=stall_body(4096, 16, stall=6.0))
    with pytest.raises(HttpError) as e:
        make_client(low_speed_seconds=1.0, max_attempts=2).request("GET", srv.url("/s"))
    assert e.value.status == 0 and e.value.attempts == 2 and e.value.retryable is True
    assert len(srv.requests_for("/s")) == 2
    assert "\n" not in str(e.value) and srv.url("/s") in str(e.value)


def test_a_response_slow_to_begin_is_not_a_stall(srv: FakeServer, make_client: MakeClient) -> None:
    # low_speed_seconds bounds silence inside a response; waiting for it to begin is bounded by timeout.
    srv.script("/late", [respond(200, b"worth the wait", delay=2.5)])
    r = make_client(low_speed_seconds=1.0, timeout=30.0).request("GET", srv.url("/late"))
    assert (r["status"], r["body"], r["attempts"]) == (200, b"worth the wait", 1)


def test_a_slow_answer_is_one_info_line_and_a_quick_one_is_none(srv: FakeServer, make_client: MakeClient,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """An orchestrator's log shows why a run is quiet: an answer slower than slow_seconds is an INFO
    line naming the service's request (no query: it may hold a credential) and how long it took."""
    caplog.set_level(logging.INFO, logger="backfill")
    srv.script("/quick", [], default=respond(200, b"ok"))
    srv.script("/late", [], default=respond(200, b"late", delay=0.6))
    client = make_client(slow_seconds=0.4)
    client.request("GET", srv.url("/quick"))
    assert not [r for r in caplog.records if "slow" in r.getMessage()]
    client.request("GET", srv.url("/late", token="tok-abcdef123456"))
    slow = [r for r in caplog.records if "(slow)" in r.getMessage()]
    assert len(slow) == 1 and slow[0].levelno == logging.INFO, [r.getMessage() for r in caplog.records]
    assert re.search(r": GET /late took 0\.[6-9] s to answer \(slow\)$", slow[0].getMessage()), slow[0].getMessage()
    assert "tok-abcdef" not in slow[0].getMessage()


def test_a_server_error_and_a_refused_connection_are_warning_lines_before_their_retries(
        srv: FakeServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    """What an orchestrator's log shows while a run retries: the reason and the wait, never silence."""
    caplog.set_level(logging.INFO, logger="backfill")
    srv.script("/busy", [respond(503, b"busy"), respond(200, b"ok")])
    make_client(base_delay=0.05).request("GET", srv.url("/busy"))
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(HttpError):
        make_client(base_delay=0.05, max_attempts=2).request("GET", f"http://127.0.0.1:{closed}/gone")
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(re.search(r"503 Service Unavailable on GET /busy; waiting \d+\.\d s before retry 1 of 4", m)
               for m in warned), warned
    assert any(f"127.0.0.1:{closed}: connection failed" in m and "GET /gone" in m and "before retry 1 of 1" in m
               for m in warned), warned


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO])
def test_debug_gives_one_scrubbed_line_per_request_and_info_none(srv: FakeServer, make_client: MakeClient,
                                                                 caplog: pytest.LogCaptureFixture, level: int) -> None:
    """``-v``: every request is a line with its method, URL (credentials removed), status, time and
    attempt; at the default level, none."""
    caplog.set_level(level, logger="backfill")
    _core.set_log_level(level)
    try:
        srv.script("/d", [respond(503, b"busy"), respond(200, b"ok")])
        make_client(secrets=[QUERY_SECRET], base_delay=0.01).request("GET", srv.url("/d", token=QUERY_SECRET))
    finally:
        _core.set_log_level(logging.INFO)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("http: ")]
    if level == logging.INFO:
        assert lines == []
        return
    done = [line for line in lines if " -> 200 in " in line]
    assert len(done) == 1 and re.search(r"^http: GET http://127\.0\.0\.1:\d+/d\?token=\*\*\* -> 200 in \d+ ms "
                                        r"\(attempt 2\)$", done[0]), lines
    assert any(" -> 503" in line for line in lines), lines
    assert not any(QUERY_SECRET in line for line in lines)


def test_total_timeout_is_retried_then_fails_with_status_0(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/slow", [], default=respond(200, b"late", delay=4.0))
    with pytest.raises(HttpError) as e:
        make_client(timeout=1.0, max_attempts=2).request("GET", srv.url("/slow"))
    assert e.value.status == 0 and e.value.attempts == 2 and e.value.retryable is True
    assert len(srv.requests_for("/slow")) == 2


def test_error_body_excerpt_is_short_valid_and_one_line(srv: FakeServer, make_client: MakeClient) -> None:
    # Invalid bytes (each replaced by U+FFFD, 3 bytes), newlines and 4 KB of 2-byte characters.
    body = b"\xff\xfe\xfd\n" * 50 + ("\u00e9" * 2000).encode() + b"\x80"
    srv.script("/bad", [respond(400, body, content_type="text/plain")])
    with pytest.raises(HttpError) as e:
        make_client().request("GET", srv.url("/bad"))
    excerpt = e.value.body
    assert isinstance(excerpt, str) and excerpt
    assert len(excerpt.encode("utf-8")) <= 500, f"the body excerpt is {len(excerpt.encode())} bytes; the limit is 500"
    assert "\n" not in str(e.value)


def test_connection_refused_fails_with_status_0_after_max_attempts(make_client: MakeClient) -> None:
    url = f"http://127.0.0.1:{free_port()}/nobody"
    with pytest.raises(HttpError) as e:
        make_client(max_attempts=3).request("GET", url)
    assert e.value.status == 0 and e.value.attempts == 3 and e.value.retryable is True
    assert isinstance(e.value, OSError)


# ================================================================================================
# Retry budget
# ================================================================================================


def test_max_attempts_is_respected(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/down", [], default=respond(503, {"error": "down"}, {"x-request-id": "rid-down"}))
    client = make_client(max_attempts=3)
    with pytest.raises(HttpError) as e:
        client.request("GET", srv.url("/down"))
    assert (e.value.status, e.value.attempts, e.value.retryable) == (503, 3, True)
    assert e.value.request_id == "rid-down"
    assert len(srv.requests_for("/down")) == 3
    st = client.stats()
    assert (st["requests"], st["attempts"], st["retries"], st["failures"]) == (1, 3, 2, 1)


def test_max_elapsed_is_respected(srv: FakeServer, make_client: MakeClient) -> None:
    # Every attempt is told to wait 1 s; no retry may start 1.5 s after submission: 2 attempts
    # (at 0 s and 1 s), 3 at most for an engine that checks the budget before the wait.
    srv.script("/down", [], default=too_many_requests(1, status=503))
    with pytest.raises(HttpError) as e:
        make_client(max_attempts=50, max_elapsed=1.5).request("GET", srv.url("/down"))
    assert e.value.status == 503 and e.value.retryable is True
    n = len(srv.requests_for("/down"))
    assert e.value.attempts == n and 2 <= n <= 3


def test_retry_after_beyond_max_elapsed_gives_up(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/later", [too_many_requests(60), respond(200, b"ok")])
    started = time.monotonic()
    with pytest.raises(HttpError) as e:
        make_client(max_elapsed=2.0).request("GET", srv.url("/later"))
    assert e.value.status == 429 and e.value.attempts == 1 and e.value.retryable is True
    # A 60 s wait that the budget forbids must not be waited (a loose bound: 60 s vs 20 s).
    assert time.monotonic() - started < 20
    assert len(srv.requests_for("/later")) == 1


# ================================================================================================
# Concurrency and rate limits
# ================================================================================================


def many(srv: FakeServer, path: str, n: int) -> list[dict[str, Any]]:
    return [{"method": "GET", "url": srv.url(path, i=str(i)), "headers": {}, "body": b""} for i in range(n)]


def test_request_many_runs_concurrently_and_keeps_order(srv: FakeServer, make_client: MakeClient) -> None:
    srv.route("/slow", lambda req: respond(200, (req.param("i") or "").encode(), delay=0.3))
    rs = make_client().request_many(many(srv, "/slow", 8))
    assert [r["body"] for r in rs] == [str(i).encode() for i in range(8)]
    assert srv.max_in_flight >= 4, "request_many did not overlap the requests"


def test_request_many_without_raising_returns_errors_in_place(srv: FakeServer, make_client: MakeClient) -> None:
    srv.route("/m", lambda req: respond(404 if req.param("i") == "1" else 200, b"x"))
    client = make_client()
    rs = client.request_many(many(srv, "/m", 3), raise_on_error=False)
    assert isinstance(rs[0], dict) and rs[0]["status"] == 200
    assert isinstance(rs[1], HttpError) and rs[1].status == 404 and "i=1" in rs[1].url
    assert isinstance(rs[2], dict) and rs[2]["status"] == 200
    with pytest.raises(HttpError) as e:
        client.request_many(many(srv, "/m", 3))
    assert e.value.status == 404


@pytest.mark.parametrize("key", ["host:port", "host"])
def test_per_host_in_flight_cap(key: str, srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/slow", [], default=respond(200, b"ok", delay=0.2))
    host = srv.host if key == "host:port" else "127.0.0.1"
    client = make_client(max_in_flight=8, host_limits={host: {"rate": 0.0, "burst": 1.0, "max_in_flight": 3}})
    rs = client.request_many(many(srv, "/slow", 12))
    assert all(r["status"] == 200 for r in rs) and len(srv.requests) == 12
    assert 2 <= srv.max_in_flight <= 3, f"server saw {srv.max_in_flight} requests at once; the cap is 3"
    assert client.stats()["max_in_flight"] <= 3


def test_default_in_flight_cap_and_total_cap(srv: FakeServer, make_client: MakeClient) -> None:
    srv.script("/slow", [], default=respond(200, b"ok", delay=0.2))
    rs = make_client(max_in_flight=2).request_many(many(srv, "/slow", 8))
    assert len(rs) == 8 and 1 <= srv.max_in_flight <= 2
    srv.reset_stats()
    rs = make_client(max_in_flight=8, max_total_in_flight=2).request_many(many(srv, "/slow", 8))
    assert len(rs) == 8 and 1 <= srv.max_in_flight <= 2


@pytest.mark.parametrize("where", ["host_limits", "default"])
def test_rate_limit_is_respected(where: str, srv: FakeServer, make_client: MakeClient) -> None:
    n, rate, burst = 12, 10.0, 2.0
    if where == "host_limits":
        client = make_client(host_limits={srv.host: {"rate": rate, "burst": burst, "max_in_flight": 8}})
    else:
        client = make_client(rate=rate, burst=burst)
    srv.script("/r", [], default=respond(200, b"ok"))
    client.request_many(many(srv, "/r", n))
    times = sorted(r.t for r in srv.requests)
    assert len(times) == n
    span = times[-1] - times[0]
    assert span >= (n - burst) / rate * 0.85, f"{n} requests at {rate}/s (burst {burst}) took only {span:.2f} s"


def test_429_pauses_the_host_for_queued_requests(srv: FakeServer, make_client: MakeClient) -> None:
    # One request at a time: whichever comes first gets 429 Retry-After: 1, and nothing else may
    # reach the host before that second has passed.
    srv.script_any([too_many_requests(1)])
    srv.script("/q", [], default=respond(200, b"ok"))
    client = make_client(host_limits={srv.host: {"rate": 0.0, "burst": 1.0, "max_in_flight": 1}})
    rs = client.request_many(many(srv, "/q", 4))
    assert [r["status"] for r in rs] == [200] * 4 and sum(r["attempts"] for r in rs) == 5
    reqs = srv.requests
    limited = reqs[0]
    assert limited.status == 429
    for later in reqs[1:]:
        assert wait_between(limited, later) >= 1.0 - TOL, (
            f"request {later.target} reached the host {wait_between(limited, later):.2f} s after its 429")


def test_429_pauses_the_host_for_requests_in_flight(srv: FakeServer, make_client: MakeClient) -> None:
    # Four requests in flight together. The first to arrive gets 429 Retry-After: 1 at once; the
    # others are held 0.3 s and get 503. Their retries must wait for the host's pause too.
    srv.script_any([too_many_requests(1)])
    for i in range(4):
        srv.script(f"/h{i}", [respond(503, {"error": "busy"}, delay=0.3)], default=respond(200, b"ok"))
    reqs_in = [{"method": "GET", "url": srv.url(f"/h{i}"), "headers": {}, "body": b""} for i in range(4)]
    rs = make_client().request_many(reqs_in)
    assert [r["status"] for r in rs] == [200] * 4
    reqs = srv.requests
    (limited,) = [r for r in reqs if r.status == 429]
    assert limited.replied is not None
    pause_end = limited.replied + 1.0
    early = [(r.target, round(r.t - limited.replied, 2)) for r in reqs
             if limited.replied + 0.2 < r.t < pause_end - TOL]
    assert not early, f"requests reached the host during its 429 pause (target, seconds after the 429): {early}"
    retries_of_503 = [r for r in reqs if r.index > 0 and any(
        p.path == r.path and p.status == 503 and p.index < r.index for p in reqs)]
    assert len(retries_of_503) >= 3


def test_429_pause_does_not_stop_other_hosts(srv: FakeServer, make_client: MakeClient) -> None:
    with FakeServer() as other:
        srv.script("/a", [too_many_requests(3), respond(200, b"a")])
        other.script("/b", [], default=respond(200, b"b"))
        client = make_client(max_in_flight=1)
        reqs_in = [{"method": "GET", "url": srv.url("/a"), "headers": {}, "body": b""}] + [
            {"method": "GET", "url": other.url("/b", i=str(i)), "headers": {}, "body": b""} for i in range(4)]
        rs = client.request_many(reqs_in)
        assert [r["status"] for r in rs] == [200] * 5
        limited = srv.requests_for("/a")[0]
        assert limited.replied is not None
        assert wait_between(limited, srv.requests_for("/a")[1]) >= 3 - TOL
        # The other host owes nothing to the first one's pause (a loose bound: 1.5 s of a 3 s pause).
        late = [round(r.t - limited.replied, 2) for r in other.requests if r.t > limited.replied + 1.5]
        assert not late, f"requests to another host waited for this host's 429 pause: {late}"
        assert not other.errors


# ================================================================================================
# Pagination
# ================================================================================================


SLACK_PAGES = [[{"id": "m1"}, {"id": "m2"}], [], [{"id": "m3"}, {"id": "m4"}], [{"id": "m5"}]]


def test_token_paging_collects_every_page(srv: FakeServer, make_client: MakeClient) -> None:
    # Slack cursors are base64: '=', '+' and '/' must survive the round trip through the query string.
    pages = TokenPages(SLACK_PAGES, tokens=["dXNlcjpVMDYxTkZUVDI=", "a+b/c==", "bmV4dA%3D"])
    srv.route("/api/conversations.history", pages)
    got = _testing.paginate(make_client(), srv.url("/api/conversations.history", channel="C1", limit="2"),
                         paging="token", token_param="cursor", next_token="/response_metadata/next_cursor",
                         items="/messages", id_field="id", headers={"Authorization": "Bearer xoxb-test"})
    assert len(got) == 4, "an empty page with a next_cursor is not the end"
    assert [p["items"] for p in got] == [2, 0, 2, 1]
    assert [p["ids"] for p in got] == [["m1", "m2"], [], ["m3", "m4"], ["m5"]]
    assert [p["cursor"] for p in got] == [""] + pages.tokens
    assert [p["next_cursor"] for p in got] == pages.tokens + [""]
    assert json.loads(got[2]["body"])["messages"] == SLACK_PAGES[2]
    reqs = srv.requests
    assert [r.param("cursor") for r in reqs] == [None] + pages.tokens
    assert all(r.param("channel") == "C1" and r.headers["authorization"] == "Bearer xoxb-test" for r in reqs)


def test_token_paging_jira_style_with_is_last(srv: FakeServer, make_client: MakeClient) -> None:
    pages = TokenPages([[{"key": "SUBS-1"}, {"key": "SUBS-2"}], [{"key": "SUBS-3"}]], style="jira")
    srv.route("/rest/api/3/search/jql", pages)
    got = _testing.paginate(make_client(), srv.url("/rest/api/3/search/jql", jql="project = SUBS order by key"),
                         paging="token", token_param="nextPageToken", next_token="/nextPageToken",
                         is_last="/isLast", items="/issues", id_field="key")
    assert [p["ids"] for p in got] == [["SUBS-1", "SUBS-2"], ["SUBS-3"]]
    assert got[-1]["next_cursor"] == "" and len(srv.requests) == 2


def test_resuming_from_a_cursor_starts_there(srv: FakeServer, make_client: MakeClient) -> None:
    pages = TokenPages(SLACK_PAGES)
    srv.route("/api/conversations.history", pages)
    got = _testing.paginate(make_client(), srv.url("/api/conversations.history", channel="C1"), paging="token",
                         items="/messages", cursor=pages.tokens[1])
    assert [p["ids"] for p in got] == [["m3", "m4"], ["m5"]]
    assert got[0]["cursor"] == pages.tokens[1] and got[-1]["next_cursor"] == ""
    assert [r.param("cursor") for r in srv.requests] == pages.tokens[1:]


def test_link_paging_follows_rel_next(srv: FakeServer, make_client: MakeClient) -> None:
    gh = LinkPages([[{"id": 1}, {"id": 2}], [{"id": 3}, {"id": 4}], [{"id": 5}]], lambda: srv.base_url)
    srv.route("/repos/o/r/issues", gh)
    got = _testing.paginate(make_client(), srv.url("/repos/o/r/issues", state="all", per_page="2"), paging="link",
                         items="", id_field="id")
    assert [p["ids"] for p in got] == [["1", "2"], ["3", "4"], ["5"]]
    assert [p["items"] for p in got] == [2, 2, 1]
    assert got[0]["cursor"] == "" and got[-1]["next_cursor"] == ""
    assert got[0]["next_cursor"] == got[1]["cursor"] and "page=2" in got[1]["cursor"]
    reqs = srv.requests
    assert [r.param("page") for r in reqs] == [None, "2", "3"]
    assert all(r.param("state") == "all" and r.param("per_page") == "2" for r in reqs)


def test_offset_paging(srv: FakeServer, make_client: MakeClient) -> None:
    srv.route("/rest/api/3/issue/SUBS-1/comment", OffsetPages([{"id": str(i)} for i in range(5)]))
    got = _testing.paginate(make_client(), srv.url("/rest/api/3/issue/SUBS-1/comment"), paging="offset",
                         offset_param="startAt", limit_param="maxResults", page_size=2, total="/total",
                         items="/comments", id_field="id")
    assert [p["ids"] for p in got] == [["0", "1"], ["2", "3"], ["4"]]
    assert got[-1]["next_cursor"] == ""
    assert [r.param("startAt", "0") for r in srv.requests] == ["0", "2", "4"]
    assert all(r.param("maxResults") == "2" for r in srv.requests)


def test_offset_ignored_by_the_server_raises(srv: FakeServer, make_client: MakeClient) -> None:
    srv.route("/rest/api/3/issue/SUBS-1/comment", OffsetPages([{"id": str(i)} for i in range(5)],
                                                               ignore_offset=True))
    with pytest.raises(PaginationError):
        _testing.paginate(make_client(), srv.url("/rest/api/3/issue/SUBS-1/comment"), paging="offset",
                       page_size=2, total="/total", items="/comments")
    assert len(srv.requests) == 2


def test_same_page_and_token_forever_raises_naming_the_cursor(srv: FakeServer, make_client: MakeClient) -> None:
    forever = SameTokenForever([{"id": "m1"}, {"id": "m2"}], token="c2FtZS10b2tlbg")
    srv.route("/api/conversations.history", forever)
    with pytest.raises(PaginationError) as e:
        _testing.paginate(make_client(), srv.url("/api/conversations.history"), paging="token", items="/messages")
    assert "c2FtZS10b2tlbg" in str(e.value)
    assert len(srv.requests) <= 3


def test_ids_seen_on_an_earlier_page_raise(srv: FakeServer, make_client: MakeClient) -> None:
    pages = TokenPages([[{"id": "m1"}, {"id": "m2"}], [{"id": "m3"}, {"id": "m2"}], [{"id": "m4"}]])
    srv.route("/api/conversations.history", pages)
    with pytest.raises(PaginationError) as e:
        _testing.paginate(make_client(), srv.url("/api/conversations.history"), paging="token", items="/messages")
    assert "m2" in str(e.value)
    assert len(srv.requests) == 2


def test_pagination_errors_hold_no_credentials(srv: FakeServer, make_client: MakeClient) -> None:
    # A Link server stuck on one next URL that carries the credential in its query.
    secret = "s3cr3t-token-5f6a7b8c9d"

    def stuck(req: Request) -> Any:
        page = int(req.param("page") or "1")
        nxt = f"{srv.base_url}/repos/o/r/issues?access_token={secret}&page=2"
        return json_response([{"id": page}], headers={"Link": f'<{nxt}>; rel="next"'})

    srv.route("/repos/o/r/issues", stuck)
    with pytest.raises(PaginationError) as e:
        _testing.paginate(make_client(secrets=[secret]), srv.url("/repos/o/r/issues", access_token=secret),
                       paging="link", items="", id_field="id")
    assert secret in srv.requests[-1].query_string  # the credential really travelled in the cursor
    assert secret not in str(e.value), f"a credential leaked into a PaginationError: {e.value}"
    assert "***" in str(e.value)


def test_repeated_token_with_fresh_items_raises_naming_the_cursor(srv: FakeServer, make_client: MakeClient) -> None:
    forever = SameTokenForever([{"id": "x"}] * 3, token="cmVwZWF0ZWQ", fresh_items=True)
    srv.route("/api/conversations.history", forever)
    with pytest.raises(PaginationError) as e:
        _testing.paginate(make_client(), srv.url("/api/conversations.history"), paging="token", items="/messages")
    assert "cmVwZWF0ZWQ" in str(e.value)
    assert len(srv.requests) <= 3


# ================================================================================================
# Secrets
# ================================================================================================


SECRET = "s3cr3t-token-5f6a7b8c9d"
QUERY_SECRET = "qs-4c1b2a99e7d6"      # given to the client as a secret too
UNLISTED_KEY = "k-unlisted-77aa55"    # not a listed secret: only scrub_url's credential parameters hide it
SLACK_TOKEN = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOpQrStUvWx"  # a well-known shape, not listed


def test_percent_encoded_secret_in_url_is_scrubbed(srv: FakeServer, make_client: MakeClient) -> None:
    # API tokens can hold '=', '+' and '/', which a URL carries percent-encoded; the query parameter
    # name (Azure API Management's subscription-key) is not one scrub_url knows.
    secret = "ATATT3xFfGF0abc=DEF123+x/y"
    encoded = urllib.parse.quote(secret, safe="")
    srv.script("/e", [respond(404, b"nope")])
    with pytest.raises(HttpError) as e:
        make_client(secrets=[secret]).request("GET", srv.url("/e") + "?subscription-key=" + encoded)
    assert srv.requests[0].param("subscription-key") == secret
    for text in (str(e.value), e.value.url):
        assert secret not in text and encoded not in text, f"the secret leaked (percent-encoded): {text}"


def test_secrets_never_reach_logs_or_errors(srv: FakeServer, make_client: MakeClient, core_trace: None,
                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(5, logger="backfill")  # here, not in a fixture: pytest has one capture handler per phase
    client = make_client(secrets=[SECRET, QUERY_SECRET], max_attempts=2)
    auth = {"Authorization": f"Bearer {SECRET}"}
    # 1. a bearer secret, a retried 500, then success
    srv.script("/ok", [respond(500, {"error": "boom"}), respond(200, b"ok")])
    r = client.request("GET", srv.url("/ok", token=QUERY_SECRET), headers=auth)
    assert r["status"] == 200 and r["attempts"] == 2
    assert QUERY_SECRET not in r["url"] and "***" in r["url"]
    # 2. secrets in the query (a listed one and an unlisted api_key); the server echoes them back
    srv.script("/q", [echo(404, keys=["authorization"])])
    with pytest.raises(HttpError) as e1:
        client.request("GET", srv.url("/q", token=QUERY_SECRET, api_key=UNLISTED_KEY, page="2"), headers=auth)
    # 3. the server echoes the Authorization header (and an unlisted Slack token) in a 401 body
    srv.script("/auth", [echo(401, keys=["authorization", "x-slack-token"])])
    with pytest.raises(HttpError) as e2:
        client.request("POST", srv.url("/auth"), headers={**auth, "X-Slack-Token": SLACK_TOKEN}, body=b"{}")
    # 4. a retried-until-exhausted 503 that echoes the credentials, the query's included
    srv.script("/down", [], default=echo(503, keys=["authorization", "query"]))
    with pytest.raises(HttpError) as e3:
        client.request("GET", srv.url("/down", api_key=QUERY_SECRET), headers=auth)
    # 5. the same through request_many without raising
    srv.script("/many", [], default=echo(400, keys=["authorization", "query"]))
    (e4,) = client.request_many([{"method": "GET", "url": srv.url("/many", token=SECRET), "headers": auth,
                                  "body": b""}], raise_on_error=False)
    assert isinstance(e4, HttpError)

    # The server did receive the secrets, so the echoes really carried them.
    assert SECRET in srv.requests_for("/auth")[0].headers["authorization"]
    assert UNLISTED_KEY in srv.requests_for("/q")[0].query_string

    forbidden = [SECRET, QUERY_SECRET, UNLISTED_KEY, SLACK_TOKEN]
    errors = [e1.value, e2.value, e3.value, e4]
    for err in errors:
        texts = [str(err), repr(err), err.url, err.body, err.method, err.request_id, *map(str, err.args)]
        for text in texts:
            for s in forbidden:
                assert s not in text, f"{s!r} leaked into {text!r}"
        assert "***" in str(err)
        assert "***" in err.body, f"the echoed credentials were not masked in the body excerpt: {err.body!r}"
    assert "***" in e1.value.url and "page=2" in e1.value.url and "***" in e3.value.url
    assert "***" in e4.url

    records = [r for r in caplog.records if r.name.startswith("backfill")]
    assert records, "no core log records at level 5: the test cannot see what the engine logs"
    assert any(r.levelno <= 10 for r in records), "no debug/trace records at log level 5"
    for rec in records:
        text = rec.getMessage() + (rec.exc_text or "")
        for s in forbidden:
            assert s not in text, f"{s!r} leaked into a log record: {text!r}"
    assert any("***" in rec.getMessage() for rec in records), "the logged URLs/credentials were not masked"
