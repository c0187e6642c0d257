"""The local fakes over TLS (fake_base's opt-in ``tls`` mode), exercised through PineconeFake(tls=True):
the certificate verifies against ``fake.ca_file`` and not against an unrelated CA; REST is HTTP/1.1
over TLS; gRPC is HTTP/2 over TLS chosen by ALPN "h2"; handshakes happen in the connections' own
threads; stop() shuts TLS connections as it does plain ones.

After every test the fake must have rejected nothing and warned of nothing.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest
from fake_base import FakeHandler, FakeServer, ServedFake, fakes_on_demand, untrusted_ca_file
from pinecone_fake import PineconeFake, pinecone_problems, varint

KEY = "pk-test-secret"
API_VERSION = "2025-10"
DIM = 4


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture()
def tls_fake() -> Iterator[Callable[..., PineconeFake]]:
    """Starts TLS Pinecone fakes on demand; at teardown each must have rejected no request and warned
    of nothing."""
    yield from fakes_on_demand(lambda dimension=DIM, **kw: PineconeFake(dimension=dimension, tls=True, **kw),
                               pinecone_problems, "the fake saw requests that break Pinecone's limits or spec")


def client_context(cafile: str, alpn: list[str] | None = None) -> ssl.SSLContext:
    """A verifying client context (certificate and host name) that trusts only ``cafile``."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    return ctx


def call(fake: PineconeFake, method: str, path: str, body: Any, ctx: ssl.SSLContext) -> tuple[int, Any]:
    """One REST request with urllib over https: (status, parsed body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(fake.url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", "Api-Key": KEY,
                                          "X-Pinecone-Api-Version": API_VERSION})
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def tls_connect(fake: ServedFake, ctx: ssl.SSLContext, timeout: float = 10) -> ssl.SSLSocket:
    """A TLS connection to the fake, handshake done, the certificate checked for 127.0.0.1."""
    raw = socket.create_connection(("127.0.0.1", fake.port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    except BaseException:
        raw.close()
        raise


def _length_delimited(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def upsert_request(vectors: list[tuple[str, list[float]]], namespace: str) -> bytes:
    """UpsertRequest {repeated Vector vectors = 1; string namespace = 2}, Vector {string id = 1;
    repeated float values = 2 (packed)}, in a gRPC length-prefixed frame."""
    message = b"".join(
        _length_delimited(1, _length_delimited(1, i.encode()) + _length_delimited(2, struct.pack(f"<{len(v)}f", *v)))
        for i, v in vectors) + _length_delimited(2, namespace.encode())
    return b"\x00" + struct.pack(">I", len(message)) + message


def upserted_count(frame: bytes) -> int:
    """UpsertResponse {uint32 upserted_count = 1} from one gRPC frame (0 when the field is absent)."""
    assert frame[:1] == b"\x00" and struct.unpack(">I", frame[1:5])[0] == len(frame) - 5, frame
    message, count, shift = frame[5:], 0, 0
    if not message:
        return 0
    assert message[0] == 0x08, message
    for byte in message[1:]:
        count |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            break
    return count


class H2Client:
    """Requests with the h2 library over one established connection (TLS with ALPN h2, or plain TCP
    for h2c), one at a time; the client preface goes with the first. Windows stay at h2's defaults
    (64 KiB), so a larger answer arrives only as the client acknowledges what it read."""

    def __init__(self, sock: socket.socket, authority: str, scheme: str = "https") -> None:
        self.sock = sock
        self.authority = authority
        self.scheme = scheme
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()

    def request(self, method: str, path: str, headers: list[tuple[str, str]],
                body: bytes = b"") -> tuple[dict[str, str], bytes, dict[str, str]]:
        """One request: (response headers, response data, trailers)."""
        conn = self.conn
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, [(":method", method), (":scheme", self.scheme), (":authority", self.authority),
                                   (":path", path), *headers], end_stream=not body)
        self.sock.sendall(conn.data_to_send())
        while body:  # as the server's windows allow (it widens them in its settings)
            n = min(len(body), conn.local_flow_control_window(stream), conn.max_outbound_frame_size)
            if n > 0:
                conn.send_data(stream, body[:n], end_stream=n == len(body))
                body = body[n:]
            else:
                chunk = self.sock.recv(1 << 16)
                assert chunk, "the server closed the connection while the request was sent"
                conn.receive_data(chunk)  # settings and window updates: no answer comes before the request ends
            self.sock.sendall(conn.data_to_send())
        response: dict[str, str] = {}
        trailers: dict[str, str] = {}
        data = bytearray()
        ended = False
        while not ended:
            chunk = self.sock.recv(1 << 16)
            assert chunk, "the server closed the connection before the response ended"
            for event in conn.receive_data(chunk):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                    response = dict(event.headers)  # type: ignore[arg-type]  # str pairs (header_encoding)
                elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream:
                    data += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, stream)
                elif isinstance(event, h2.events.TrailersReceived) and event.stream_id == stream:
                    trailers = dict(event.headers)  # type: ignore[arg-type]
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                    ended = True
                elif isinstance(event, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    raise AssertionError(f"the request failed: {event}")
            self.sock.sendall(conn.data_to_send())
        return response, bytes(data), trailers

    def upsert(self, frame: bytes, key: str = KEY) -> tuple[dict[str, str], bytes, dict[str, str]]:
        """One gRPC VectorService/Upsert call."""
        return self.request("POST", "/VectorService/Upsert",
                            [("content-type", "application/grpc"), ("te", "trailers"), ("api-key", key),
                             ("x-pinecone-api-version", API_VERSION)], frame)

    def rest(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One REST request with a JSON body (or none): (status, parsed body)."""
        headers = [("api-key", KEY), ("x-pinecone-api-version", API_VERSION)]
        raw = b""
        if body is not None:
            headers.append(("content-type", "application/json"))
            raw = json.dumps(body).encode()
        response, data, trailers = self.request(method, path, headers, raw)
        assert trailers == {} and response["content-type"] == "application/json", response
        assert int(response["content-length"]) == len(data), response
        return int(response[":status"]), json.loads(data)


# --- the certificate ---------------------------------------------------------------------------


def test_the_tls_fake_serves_https_with_a_certificate_from_the_test_ca(
        tls_fake: Callable[..., PineconeFake]) -> None:
    fake = tls_fake()
    assert fake.url == f"https://127.0.0.1:{fake.port}"
    with tls_connect(fake, client_context(fake.ca_file)) as s:
        assert s.version() in ("TLSv1.2", "TLSv1.3")
        cert = s.getpeercert()
        assert cert is not None
        assert ("IP Address", "127.0.0.1") in cert["subjectAltName"] and ("DNS", "localhost") in cert["subjectAltName"]
    # The DNS name verifies too (the certificate is for both).
    raw = socket.create_connection(("127.0.0.1", fake.port), timeout=10)
    with client_context(fake.ca_file).wrap_socket(raw, server_hostname="localhost") as s:
        assert s.version() is not None
    # TLS 1.2 is the oldest the server accepts (a client could not show it: OpenSSL 3 refuses 1.1 itself).
    assert fake._server is not None and fake._server.tls_context is not None
    assert fake._server.tls_context.minimum_version == ssl.TLSVersion.TLSv1_2
    tls12 = client_context(fake.ca_file)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with tls_connect(fake, tls12) as s:
        assert s.version() == "TLSv1.2"
    # A plaintext fake has no certificate to verify against.
    with pytest.raises(AssertionError, match="plain HTTP"):
        PineconeFake().ca_file


def test_verification_fails_against_an_untrusted_ca(tls_fake: Callable[..., PineconeFake]) -> None:
    fake = tls_fake()
    assert untrusted_ca_file() != fake.ca_file
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer certificate"):
        tls_connect(fake, client_context(untrusted_ca_file())).close()
    with pytest.raises(urllib.error.URLError) as e:
        call(fake, "POST", "/describe_index_stats", {}, client_context(untrusted_ca_file()))
    assert isinstance(e.value.reason, ssl.SSLCertVerificationError), e.value
    # A host name the certificate is not for fails too, with the right CA.
    raw = socket.create_connection(("127.0.0.1", fake.port), timeout=10)
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        client_context(fake.ca_file).wrap_socket(raw, server_hostname="example.com")
    raw.close()
    # None of it reached the API, and the fake still serves a client that trusts it.
    assert fake.requests == []
    assert call(fake, "POST", "/describe_index_stats", {}, client_context(fake.ca_file))[0] == 200


# --- REST over HTTP/1.1 ------------------------------------------------------------------------


def test_rest_upsert_and_fetch_over_https(tls_fake: Callable[..., PineconeFake]) -> None:
    fake = tls_fake()
    ctx = client_context(fake.ca_file)
    vectors = [{"id": f"v{i}", "values": [float(i + 1), 0.5, -0.25, 2.0], "metadata": {"n": i}} for i in range(3)]
    status, body = call(fake, "POST", "/vectors/upsert", {"vectors": vectors, "namespace": "tls"}, ctx)
    assert (status, body) == (200, {"upsertedCount": 3})
    status, body = call(fake, "GET", "/vectors/fetch?ids=v1&ids=v9&namespace=tls", None, ctx)
    assert status == 200 and list(body["vectors"]) == ["v1"]
    assert body["vectors"]["v1"] == {"id": "v1", "values": [2, 0.5, -0.25, 2], "metadata": {"n": 1}}
    # The checks apply as over plain HTTP: a wrong dimension is refused and recorded.
    status, body = call(fake, "POST", "/vectors/upsert", {"vectors": [{"id": "x", "values": [1.0]}]}, ctx)
    assert status == 400 and "Vector dimension 1 does not match the dimension of the index 4" in body["message"]
    assert [v.kind for v in fake.take_violations()] == ["dimension"]
    assert [(r.method, r.path, r.transport) for r in fake.requests] == [
        ("POST", "/vectors/upsert", "rest"), ("GET", "/vectors/fetch", "rest"), ("POST", "/vectors/upsert", "rest")]


def test_alpn_http11_and_no_alpn_are_http11(tls_fake: Callable[..., PineconeFake]) -> None:
    """A client that offers only http/1.1, or no ALPN at all, gets HTTP/1.1 (one kept-alive connection
    here, two requests on it)."""
    fake = tls_fake()
    for alpn in (["http/1.1"], None):
        with tls_connect(fake, client_context(fake.ca_file, alpn)) as s:
            assert s.selected_alpn_protocol() == (None if alpn is None else "http/1.1")
            request = (f"POST /describe_index_stats HTTP/1.1\r\nHost: 127.0.0.1\r\nApi-Key: {KEY}\r\n"
                       f"X-Pinecone-Api-Version: {API_VERSION}\r\nContent-Type: application/json\r\n"
                       "Content-Length: 2\r\n\r\n{}").encode()
            reader = s.makefile("rb")
            for _ in range(2):
                s.sendall(request)
                assert reader.readline() == b"HTTP/1.1 200 OK\r\n"
                length = 0
                while (line := reader.readline()) != b"\r\n":
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                assert json.loads(reader.read(length))["dimension"] == DIM
            reader.close()


def test_the_official_sdk_rest_index_over_tls(tls_fake: Callable[..., PineconeFake]) -> None:
    from pinecone import Pinecone

    fake = tls_fake(dimension=8)
    records = [{"id": f"doc:{i}", "values": [float(i + 1)] * 8, "metadata": {"title": f"t{i}"}} for i in range(6)]
    with Pinecone(api_key=KEY, ssl_ca_certs=fake.ca_file).Index(host=fake.url) as idx:
        assert idx.upsert(vectors=records, namespace="sdk").upserted_count == 6
        got = idx.fetch(ids=["doc:2", "doc:99"], namespace="sdk")
        assert list(got.vectors) == ["doc:2"] and got.vectors["doc:2"].metadata == {"title": "t2"}
        assert idx.describe_index_stats().namespaces["sdk"].vector_count == 6
    assert {r.transport for r in fake.requests} == {"rest"} and len(fake.requests) == 3


def test_the_official_sdk_rest_index_refuses_an_untrusted_certificate(
        tls_fake: Callable[..., PineconeFake]) -> None:
    from pinecone import Pinecone, RetryConfig

    fake = tls_fake(dimension=8)
    no_retries = RetryConfig(max_retries=0)
    with Pinecone(api_key=KEY, ssl_ca_certs=untrusted_ca_file(), retry_config=no_retries).Index(host=fake.url) as idx:
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
            idx.describe_index_stats()
    assert fake.requests == []


# --- gRPC over HTTP/2 --------------------------------------------------------------------------


def test_raw_h2_client_grpc_upsert_over_tls(tls_fake: Callable[..., PineconeFake]) -> None:
    """The h2 library over an ssl socket with ALPN h2: a gRPC Upsert lands in the store REST reads,
    logged as a gRPC call; a refused call is a trailers-only answer on the same connection."""
    fake = tls_fake()
    with tls_connect(fake, client_context(fake.ca_file, ["h2"])) as s:
        assert s.selected_alpn_protocol() == "h2"
        frame = upsert_request([("g1", [1.0, 2.0, 3.0, 4.0]), ("g2", [0.5, 0.0, 0.0, -1.0])], "grpc-tls")
        client = H2Client(s, f"127.0.0.1:{fake.port}")
        headers, data, trailers = client.upsert(frame)
        assert headers[":status"] == "200" and headers["content-type"] == "application/grpc"
        assert trailers.get("grpc-status") == "0", trailers
        assert upserted_count(data) == 2
        headers, data, trailers = client.upsert(frame, key="wrong")
        assert headers.get("grpc-status") == "16" and data == b"" and trailers == {}  # UNAUTHENTICATED
    assert [v.kind for v in fake.take_violations()] == ["auth"]
    assert fake.vectors("grpc-tls") == {"g1": {"id": "g1", "values": [1.0, 2.0, 3.0, 4.0]},
                                        "g2": {"id": "g2", "values": [0.5, 0.0, 0.0, -1.0]}}
    calls = fake.calls("/vectors/upsert")
    assert [(c.transport, c.grpc_status) for c in calls] == [("grpc", 0), ("grpc", 16)]
    assert calls[0].headers[":scheme"] == "https" and calls[0].headers[":path"] == "/VectorService/Upsert"


def test_switches_apply_to_grpc_over_tls(tls_fake: Callable[..., PineconeFake]) -> None:
    """fail_next reaches the TLS gRPC path as it does the h2c one: an injected 429 is RESOURCE_EXHAUSTED."""
    fake = tls_fake()
    fake.fail_next(1, status=429, paths=["/vectors/upsert"])
    with tls_connect(fake, client_context(fake.ca_file, ["h2"])) as s:
        client = H2Client(s, f"127.0.0.1:{fake.port}")
        headers, _, _ = client.upsert(upsert_request([("a", [1.0] * DIM)], ""))
        assert headers.get("grpc-status") == "8"
        _, data, trailers = client.upsert(upsert_request([("a", [1.0] * DIM)], ""))
        assert trailers.get("grpc-status") == "0" and upserted_count(data) == 1
    assert fake.count("") == 1 and fake.pending_faults == 0


def test_the_official_sdk_grpc_index_over_tls(tls_fake: Callable[..., PineconeFake],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's GrpcIndex (a Rust channel, rustls with the platform's roots) takes no CA argument; the
    roots it loads honour SSL_CERT_FILE, which is how it is pointed at the test CA here."""
    from pinecone.grpc import GrpcIndex

    fake = tls_fake(dimension=8)
    monkeypatch.setenv("SSL_CERT_FILE", fake.ca_file)
    records = [(f"s{i}", [float(i + 1)] * 8) for i in range(7)]
    idx = GrpcIndex(host=fake.url, api_key=KEY, secure=True, grpc_scheme="https", connect_timeout=5)
    try:
        assert idx.upsert(vectors=records, namespace="grpc-sdk", batch_size=4).upserted_count == 7
    finally:
        idx.close()
    assert sorted(fake.vectors("grpc-sdk")) == sorted(i for i, _ in records)
    upserts = fake.calls("/vectors/upsert")
    assert {(u.transport, u.headers.get(":scheme"), u.grpc_status) for u in upserts} == {("grpc", "https", 0)}
    fake.take_warnings()  # the SDK's channel may leave out what the fake warns about (e.g. te)


def test_the_official_sdk_grpc_index_refuses_an_untrusted_certificate(
        tls_fake: Callable[..., PineconeFake], monkeypatch: pytest.MonkeyPatch) -> None:
    from pinecone import RetryConfig
    from pinecone.grpc import GrpcIndex

    fake = tls_fake(dimension=8)
    monkeypatch.setenv("SSL_CERT_FILE", untrusted_ca_file())
    idx = GrpcIndex(host=fake.url, api_key=KEY, secure=True, grpc_scheme="https", connect_timeout=5,
                    retry_config=RetryConfig(max_retries=0))
    try:
        with pytest.raises(Exception, match="UnknownIssuer"):
            idx.upsert(vectors=[("a", [1.0] * 8)], namespace="n")
    finally:
        idx.close()
    assert fake.requests == []


def test_alpn_h2_without_the_preface_is_closed_unanswered(tls_fake: Callable[..., PineconeFake]) -> None:
    """A connection that chose h2 is HTTP/2 from its first byte: an HTTP/1.1 request on it gets no
    HTTP/1.1 answer, just the end of the connection."""
    fake = tls_fake()
    with tls_connect(fake, client_context(fake.ca_file, ["h2"])) as s:
        assert s.selected_alpn_protocol() == "h2"
        s.sendall(b"GET /vectors/list HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert s.recv(1024) == b""
    assert fake.requests == []


@pytest.mark.parametrize("tls", [True, False], ids=["tls-h2", "h2c"])
def test_rest_over_http2_on_the_grpc_port(tls: bool) -> None:
    """A request on an HTTP/2 connection that is not a gRPC call is REST, as Pinecone serves it (and as
    libcurl sends it whenever TLS offers h2): same checks and store as over HTTP/1.1; an answer larger
    than the client's 64 KiB window arrives whole as the client opens it."""
    dim = 512
    with PineconeFake(dimension=dim, tls=tls) as fake:
        if tls:
            sock: socket.socket = tls_connect(fake, client_context(fake.ca_file, ["h2"]))
        else:
            sock = socket.create_connection(("127.0.0.1", fake.port), timeout=10)
        with sock:
            client = H2Client(sock, f"127.0.0.1:{fake.port}", "https" if tls else "http")
            vectors = [{"id": f"v{i}", "values": [round(0.001 * (i + j + 1), 6) for j in range(dim)]} for i in range(150)]
            assert client.rest("POST", "/vectors/upsert", {"vectors": vectors, "namespace": "h2"}) == (
                200, {"upsertedCount": 150})
            status, body = client.rest("GET", "/vectors/fetch?" + "&".join(f"ids=v{i}" for i in range(150)) +
                                       "&namespace=h2")
            assert status == 200 and len(body["vectors"]) == 150
            assert body["vectors"]["v7"]["values"] == pytest.approx(vectors[7]["values"], abs=1e-6)
            assert int(fake.requests[-1].response_headers["content-length"]) > 10 * 65535
            status, body = client.rest("POST", "/vectors/upsert", {"vectors": [{"id": "x", "values": [1.0]}]})
            assert status == 400 and "does not match the dimension of the index 512" in body["message"]
            # gRPC still answers on the same connection.
            _, data, trailers = client.upsert(upsert_request([("g", [1.0] * dim)], "h2"))
            assert trailers.get("grpc-status") == "0" and upserted_count(data) == 1
        assert [v.kind for v in fake.take_violations()] == ["dimension"]
        assert fake.take_warnings() == []
        assert [(r.method, r.path, r.transport, r.http_version) for r in fake.requests] == [
            ("POST", "/vectors/upsert", "rest", "2"), ("GET", "/vectors/fetch", "rest", "2"),
            ("POST", "/vectors/upsert", "rest", "2"), ("POST", "/vectors/upsert", "grpc", "2")]
        assert fake.count("h2") == 151


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_the_native_sink_over_tls(tls_fake: Callable[..., PineconeFake], transport: str) -> None:
    """backfill's own client (libcurl, HTTP/2 by ALPN) against the TLS fake: upserts over its
    transport and REST fetches, all on h2. The sink takes no CA file, so it runs with verification off
    here; with verification on it refuses the test CA, which no system store holds."""
    from backfill import _core
    from backfill.errors import HttpError

    fake = tls_fake(dimension=8)
    sink = _core.PineconeSink(host=fake.url, api_key=KEY, namespace="native", verify_tls=False,
                              transport=transport, max_attempts=1)
    records: list[dict[str, Any]] = [{"id": f"n{i}", "values": [float(i + 1)] * 8} for i in range(20)]
    assert sink.upsert(records) == 20
    got = sink.fetch([r["id"] for r in records])
    assert sorted(got) == sorted(r["id"] for r in records)
    assert {(r.path, r.transport, r.http_version) for r in fake.requests} == {
        ("/vectors/upsert", transport, "2"), ("/vectors/fetch", "rest", "2")}
    strict = _core.PineconeSink(host=fake.url, api_key=KEY, namespace="native", transport=transport, max_attempts=1)
    with pytest.raises(HttpError, match="SSL certificate problem: unable to get local issuer certificate"):
        strict.upsert(records[:1])
    assert len(fake.requests) == 2


# --- connections -------------------------------------------------------------------------------


def test_a_stalled_handshake_blocks_no_other_connection(tls_fake: Callable[..., PineconeFake]) -> None:
    """Handshakes happen in the connections' threads: clients that connect and never finish saying
    hello leave the accept loop free, and stop() shuts them, and a kept-alive TLS connection, at once."""
    fake = tls_fake()
    stalled = [socket.create_connection(("127.0.0.1", fake.port), timeout=30) for _ in range(3)]
    stalled[0].sendall(b"\x16\x03\x01")  # the start of a TLS record, then nothing
    kept = http.client.HTTPSConnection("127.0.0.1", fake.port, timeout=30, context=client_context(fake.ca_file))
    try:
        t0 = time.monotonic()
        kept.request("POST", "/describe_index_stats", body=b"{}",
                     headers={"Api-Key": KEY, "X-Pinecone-Api-Version": API_VERSION,
                              "Content-Type": "application/json"})
        with kept.getresponse() as resp:
            assert resp.status == 200 and not resp.will_close
            resp.read()
        assert time.monotonic() - t0 < 5
        # The fake's handlers hold all four connections; stop it under them.
        deadline = time.monotonic() + 5
        while len(fake._conns) != 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(fake._conns) == 4
        t0 = time.monotonic()
        fake.stop()
        assert time.monotonic() - t0 < 5
        # Every client sees its connection end.
        for s in stalled:
            assert s.recv(1024) == b""
        assert kept.sock is not None and kept.sock.recv(1024) == b""
    finally:
        kept.close()
        for s in stalled:
            s.close()


# --- the base, beyond Pinecone ------------------------------------------------------------------


class _EchoHandler(FakeHandler):
    """HTTP/1.1 only (speaks_http2 is False): answers every GET with its path."""


class _EchoServer(FakeServer):
    handler = _EchoHandler


class _EchoFake(ServedFake):
    """The smallest fake on the base, in TLS mode: for what the base does whatever the API."""

    def __init__(self) -> None:
        self.tls = True
        self._lock = threading.RLock()
        self._conns: set[socket.socket] = set()
        self._server: FakeServer | None = None
        self._thread: threading.Thread | None = None

    def _new_server(self) -> FakeServer:
        return _EchoServer(self)

    def _dispatch(self, handler: Any) -> None:
        payload = handler.path.encode()
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)


def test_a_fake_that_does_not_speak_http2_offers_only_http11() -> None:
    """ALPN offers h2 only for a handler that speaks it: a client offering h2 first still gets
    HTTP/1.1 from a fake without HTTP/2."""
    with _EchoFake() as fake:
        assert fake.url.startswith("https://")
        with tls_connect(fake, client_context(fake.ca_file, ["h2", "http/1.1"])) as s:
            assert s.selected_alpn_protocol() == "http/1.1"
        with urllib.request.urlopen(fake.url + "/echo", timeout=10, context=client_context(fake.ca_file)) as r:
            assert r.read() == b"/echo"
