"""What the local fakes of remote APIs share: a threaded HTTP/1.1 server on 127.0.0.1 whose handler
hands each parsed request to its fake's ``_dispatch`` and reports connections to ``_track``.

A fake (see jira_fake.py, pinecone_fake.py, openai_fake.py) subclasses FakeHandler for its name and
limits, FakeServer for its handler class, and ServedFake for its lifecycle (start, stop, port, the
context manager); everything about the API lives in the fake itself.

TLS is opt in: a fake whose ``tls`` attribute is true when its server is built serves HTTPS on the
same port instead of plain HTTP. Its certificate (for ``127.0.0.1`` and ``localhost``) is signed by a
test CA that the ``openssl`` command line tool generates once per process into a temporary
directory; clients verify against ``fake.ca_file`` (or :func:`trusted_ca_file`), and
:func:`untrusted_ca_file` is an unrelated CA that the certificate does not verify against. ALPN
offers ``h2`` when the handler speaks HTTP/2 (``FakeHandler.speaks_http2``): a connection that
chose it goes to ``on_http2`` like an h2c one; every other connection is HTTP/1.1.

Redirect mode: while a fake's ``redirect_to`` is set, every HTTP/1.1 request gets ``307 Temporary
Redirect`` to that URL (its body read and dropped) instead of an answer, and ``redirected`` counts
them: a host that moved, or one that wants the client's credentials sent elsewhere.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

H2_PREFACE_LINE = b"PRI * HTTP/2.0\r\n"  # the first line of the HTTP/2 connection preface


def find_spec(api: str, name: str, what: str) -> Path:
    """Where the official spec `name` of `api` is: $BACKFILL_<API>_SPEC, a copy vendored under
    tests/specs/<api>/, or shared/specs/<api>/ inside or beside the checkout (as laid out for CI).
    `what` names it in the error when it is in none of them."""
    root = Path(__file__).resolve().parents[2]
    candidates = []
    if os.environ.get(f"BACKFILL_{api.upper()}_SPEC"):
        candidates.append(Path(os.environ[f"BACKFILL_{api.upper()}_SPEC"]))
    candidates += [root / "tests" / "specs" / api / name, root / "shared" / "specs" / api / name,
                   root.parent / "shared" / "specs" / api / name, Path("/work/shared/specs") / api / name]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(f"the {what} {name} is in none of: " + ", ".join(str(c) for c in candidates))


# --- the test PKI -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PKI:
    """The files of the per-process test PKI, all PEM, in one temporary directory: ``ca_file`` is the
    CA that signs ``cert_file`` (the servers' certificate, for IP 127.0.0.1 and DNS localhost, with
    its key in ``key_file``); ``untrusted_ca_file`` is a second, unrelated CA that signs nothing."""

    directory: Path
    ca_file: Path
    cert_file: Path
    key_file: Path
    untrusted_ca_file: Path


_PKI_LOCK = threading.Lock()
_PKI: PKI | None = None
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
CERT_DAYS = 7  # long enough for any test run; the files are removed when the process exits


def _openssl(*args: str | Path) -> None:
    """Runs the openssl tool; its output is shown only when it fails (it holds no secrets: the keys
    are written to files, never printed)."""
    p = subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed ({p.returncode}): {p.stderr.strip()}")


def _make_ca(directory: Path, name: str, common_name: str) -> tuple[Path, Path]:
    """A self-signed CA (P-256 key) as (cert file, key file). Its extensions are what strict verifiers
    (Python 3.13's VERIFY_X509_STRICT, OpenSSL) demand of a trust anchor."""
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", cert, "-days", str(CERT_DAYS), "-subj", f"/CN={common_name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash")
    return cert, key


def _make_pki() -> PKI:
    directory = Path(tempfile.mkdtemp(prefix="backfill-test-pki-"))
    atexit.register(shutil.rmtree, directory, True)
    ca_cert, ca_key = _make_ca(directory, "ca", "backfill test CA")
    untrusted, _ = _make_ca(directory, "untrusted-ca", "backfill untrusted test CA")
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    ext = directory / "server.ext"
    ext.write_text("basicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n"
                   "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "subjectKeyIdentifier=hash\n"
                   "authorityKeyIdentifier=keyid,issuer\n")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    _openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
             "-set_serial", "0x" + secrets.token_hex(16), "-days", str(CERT_DAYS), "-sha256",
             "-extfile", ext, "-out", cert)
    return PKI(directory, ca_cert, cert, key, untrusted)


def pki() -> PKI:
    """The per-process test PKI, generated on first use (about a tenth of a second) and removed when
    the process exits normally (atexit: not after a signal that kills it)."""
    global _PKI
    with _PKI_LOCK:
        if _PKI is None:
            _PKI = _make_pki()
        return _PKI


def trusted_ca_file() -> str:
    """The CA file the TLS fakes' certificate verifies against (the same as ``fake.ca_file``)."""
    return str(pki().ca_file)


def untrusted_ca_file() -> str:
    """A CA file the TLS fakes' certificate does not verify against: for tests that expect a client
    to refuse the server."""
    return str(pki().untrusted_ca_file)


def server_tls_context(alpn: list[str]) -> ssl.SSLContext:
    """The servers' side of TLS: TLS 1.2 or later, the test PKI's server certificate, ``alpn``
    offered in order of preference. No client certificate is asked for. Renegotiation and compression
    are off, as HTTP/2 over TLS requires."""
    files = pki()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION
    ctx.load_cert_chain(files.cert_file, files.key_file)
    ctx.set_alpn_protocols(alpn)
    return ctx


# --- the server -------------------------------------------------------------------------------


class Fake(Protocol):
    tls: bool
    redirect_to: str | None
    redirected: int

    def _track(self, conn: socket.socket, add: bool) -> None: ...
    def _dispatch(self, handler: Any) -> None: ...


class FakeServer(ThreadingHTTPServer):
    """The listening side: accepts on 127.0.0.1 (an ephemeral port) and serves each connection from its
    own daemon thread. With ``fake.tls`` true at construction, every accepted socket is wrapped for
    TLS here, without any I/O; its handshake is left to the handler's thread, so a client that stalls
    its handshake holds up no other connection."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64
    handler: type[FakeHandler]

    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        self.tls_context: ssl.SSLContext | None = None
        if fake.tls:
            self.tls_context = server_tls_context(["h2", "http/1.1"] if self.handler.speaks_http2 else ["http/1.1"])
        super().__init__(("127.0.0.1", 0), self.handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        if self.tls_context is None:
            return conn, addr
        try:
            return self.tls_context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False), addr
        except OSError:
            conn.close()
            raise


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake"
    sys_version = ""
    timeout = 60
    # Headers and body go out in separate writes: with Nagle's algorithm on, the body waits for the
    # client's delayed ACK (~40 ms) on a kept-alive connection. Real API servers set TCP_NODELAY.
    disable_nagle_algorithm = True
    server: FakeServer
    MAX_LINE = 1 << 16  # longest request line; a longer one is refused with 414 and recorded
    # Whether on_http2 serves HTTP/2: then a TLS server offers "h2" by ALPN (a server must not offer a
    # protocol it cannot speak: clients take h2 whenever it is offered).
    speaks_http2 = False
    # The protocol ALPN chose on a TLS connection ("h2" or "http/1.1"); None on plain TCP or without ALPN.
    alpn_protocol: str | None = None

    def setup(self) -> None:
        super().setup()
        self.server.fake._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def version_string(self) -> str:
        return self.server_version

    def on_long_line(self) -> None:
        """Called before a request line over MAX_LINE is refused; fakes record it as a violation."""

    def on_http2(self) -> bool:
        """Called when the connection opens with the HTTP/2 preface, its first line already read:
        over plain TCP that is h2c with prior knowledge (as gRPC clients do on http://), over TLS a
        connection that chose "h2" by ALPN (whose client sends the same preface first). A fake that
        speaks HTTP/2 (and sets ``speaks_http2``) reads the rest of the preface, serves the whole
        connection and returns True; by default an h2c preface is refused as a bad request."""
        return False

    def handle(self) -> None:
        """Completes the TLS handshake first, in this connection's thread (bounded by ``timeout``); a
        failed handshake (a client that does not trust the certificate, a plaintext client) just
        ends the connection. Then serves HTTP/1.1 requests, or HTTP/2 if ALPN chose "h2"."""
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                self.close_connection = True
                return
            self.alpn_protocol = self.connection.selected_alpn_protocol()
        super().handle()

    def _redirect(self, location: str) -> None:
        """Redirect mode (see the module's docstring): 307 to `location`, the request's body dropped."""
        n = int(self.headers.get("Content-Length") or 0)
        if n > 0:
            self.rfile.read(n)
        self.server.fake.redirected += 1
        self.send_response(307)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(self.MAX_LINE + 1)
            if self.alpn_protocol == "h2":
                # HTTP/2 from the first byte: the preface, or nothing this server can answer in HTTP/1.1.
                if self.raw_requestline == H2_PREFACE_LINE:
                    self.on_http2()
                self.close_connection = True
                return
            if len(self.raw_requestline) > self.MAX_LINE:
                self.requestline = self.request_version = self.command = ""
                self.on_long_line()
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if self.raw_requestline == H2_PREFACE_LINE and self.on_http2():
                self.close_connection = True
                return
            if not self.parse_request():
                return
            if self.server.fake.redirect_to is not None:
                self._redirect(self.server.fake.redirect_to)
            else:
                self.server.fake._dispatch(self)
            self.wfile.flush()
        except (TimeoutError, ConnectionError, OSError):
            self.close_connection = True


_Served = TypeVar("_Served", bound="ServedFake")


class ServedFake:
    """A fake's FakeServer served from a daemon thread: started once, stopped with every open
    connection shut (so a client blocked on a kept-alive socket sees it close), usable as a context
    manager. A subclass sets ``_lock``, ``_conns``, ``_server`` (None, or bound early when its URL must
    be known before start) and ``_thread`` (None) in ``__init__``, and builds its server in
    ``_new_server`` (loading whatever it validates against first, so that a missing spec fails there
    rather than in a handler). A subclass that offers TLS sets ``tls`` before its server is built."""

    thread_name = "fake"
    tls = False  # serve HTTPS (see the module's docstring); read when the server is built
    redirect_to: str | None = None  # redirect mode (see the module's docstring)
    redirected = 0  # requests answered with a redirect
    _lock: threading.RLock
    _conns: set[socket.socket]
    _server: FakeServer | None
    _thread: threading.Thread | None

    def _new_server(self) -> FakeServer:
        raise NotImplementedError

    def start(self: _Served) -> _Served:
        assert self._thread is None, f"a {type(self).__name__} starts once"
        if self._server is None:
            self._server = self._new_server()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        if self._thread is not None:
            self._server.shutdown()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                # The TCP socket's own shutdown, also for a TLS one: SSLSocket.shutdown would drop the TLS
                # state under the handler thread that is using it. This wakes that thread with an EOF.
                socket.socket.shutdown(c, socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = None

    def __enter__(self: _Served) -> _Served:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL: ``https://127.0.0.1:PORT`` with TLS, ``http://127.0.0.1:PORT`` without."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> str:
        """The PEM file of the CA that signs this fake's certificate, for clients to verify against."""
        assert self.tls, f"this {type(self).__name__} serves plain HTTP: it has no certificate"
        return trusted_ca_file()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)


_F = TypeVar("_F", bound=ServedFake)


def fakes_on_demand(make: Callable[..., _F], problems: Callable[[_F], list[str]],
                    what: str) -> Iterator[Callable[..., _F]]:
    """The body of a test fixture that starts fakes on demand (``make(...)`` builds one) and, at
    teardown, stops each and fails the test with ``what`` and whatever ``problems`` finds in them
    (violations of the API's rules, warnings, errors of the fake itself)."""
    started: list[_F] = []

    def start(*args: Any, **kw: Any) -> _F:
        f = make(*args, **kw).start()
        started.append(f)
        return f

    yield start
    found: list[str] = []
    for f in started:
        f.stop()
        found += problems(f)
    assert not found, f"{what}:\n" + "\n".join(found[:30])
