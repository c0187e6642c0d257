"""What the local fakes of remote APIs share: a threaded HTTP/1.1 server on 127.0.0.1 whose handler
hands each parsed request to its fake's ``_dispatch`` and reports connections to ``_track``.

A fake (see jira_fake.py, pinecone_fake.py, openai_fake.py) subclasses FakeHandler for its name and
limits, FakeServer for its handler class, and ServedFake for its lifecycle (start, stop, port, the
context manager); everything about the API lives in the fake itself.
"""

from __future__ import annotations

import os
import socket
import threading
from http import HTTPStatus
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, TypeVar


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


class Fake(Protocol):
    def _track(self, conn: socket.socket, add: bool) -> None: ...
    def _dispatch(self, handler: Any) -> None: ...


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64
    handler: type[BaseHTTPRequestHandler]

    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), self.handler)


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
        """Called when the connection opens with the HTTP/2 preface (h2c with prior knowledge, as
        gRPC clients do on http://), its first line already read. A fake that speaks HTTP/2 serves
        the whole connection and returns True; by default the line is refused as a bad request."""
        return False

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(self.MAX_LINE + 1)
            if len(self.raw_requestline) > self.MAX_LINE:
                self.requestline = self.request_version = self.command = ""
                self.on_long_line()
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if self.raw_requestline == b"PRI * HTTP/2.0\r\n" and self.on_http2():
                self.close_connection = True
                return
            if not self.parse_request():
                return
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
    rather than in a handler)."""

    thread_name = "fake"
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
                c.shutdown(socket.SHUT_RDWR)
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
        return f"http://127.0.0.1:{self.port}"

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)
