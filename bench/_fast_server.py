"""What the benchmarks' fast fake servers share (jira_fast_server.py, pinecone_fast_server.py).

In the server's own process:

    ServerStats            the counters /__bench/stats answers, updated under one lock
    ThreadedServer         a listening socket on 127.0.0.1 and one daemon thread per connection
    read_request_head()    the next HTTP/1.1 request head from a connection's buffer
    response_head()        the status line and headers of an answer
    serve_until_signalled() prints `listening on http://127.0.0.1:PORT`, serves until SIGTERM/Ctrl-C

In the benchmark's process:

    ChildServer            the server file run as a child process; a context manager with url, pid,
                           cpu_seconds() and get_json() for its /__bench endpoints
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from _common import cpu_seconds

MAX_HEADER = 64 * 1024


class ServerStats:
    """Counters a server's threads update under `lock`; subclasses add their own. snapshot() is every
    counter at one moment, as /__bench/stats answers it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.body_bytes = 0
        self.connections = 0

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {k: dict(v) if isinstance(v, dict) else v for k, v in vars(self).items() if k != "lock"}


class ThreadedServer:
    """Accepts connections on 127.0.0.1:`port` (0: a free one) and runs handle(conn) for each on a
    daemon thread of its own, counting them in `stats.connections`."""

    def __init__(self, stats: ServerStats, port: int = 0, backlog: int = 256) -> None:
        self.stats = stats
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(backlog)
        self.port = int(self.sock.getsockname()[1])

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def serve_forever(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.stats.lock:
                self.stats.connections += 1
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()


@dataclass
class RequestHead:
    method: str
    target: str
    version: str
    headers: dict[str, str]  # names lower-cased

    @property
    def keep_alive(self) -> bool:
        return self.headers.get("connection", "").lower() != "close" and self.version == "HTTP/1.1"


def read_request_head(buf: bytearray, recv_more: Callable[[], bool]) -> RequestHead | None:
    """Takes the next request head off the front of `buf`, calling recv_more() (which appends to
    `buf`, False once the peer has closed) until it is whole. None when the peer closed first or the
    head grew over MAX_HEADER."""
    end = buf.find(b"\r\n\r\n")
    while end < 0:
        if len(buf) > MAX_HEADER or not recv_more():
            return None
        end = buf.find(b"\r\n\r\n")
    head = bytes(buf[:end]).decode("latin-1")
    del buf[:end + 4]
    lines = head.split("\r\n")
    method, target, version = (lines[0].split(" ") + ["", "", ""])[:3]
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return RequestHead(method, target, version, headers)


def response_head(status: str, content_type: str, length: int, keep_alive: bool) -> bytes:
    """`status` is the code and reason, e.g. "200 OK"."""
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n"
            f"{'' if keep_alive else 'Connection: close' + chr(13) + chr(10)}\r\n").encode()


def serve_until_signalled(server: ThreadedServer) -> int:
    """Announces the port on stdout (what ChildServer waits for) and serves until SIGTERM or Ctrl-C."""
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print(f"listening on http://127.0.0.1:{server.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


_Self = TypeVar("_Self", bound="ChildServer")


class ChildServer:
    """A server file run as a child process (so its CPU time is measured apart from the client's).
    Subclasses name themselves and give the command line; start() waits for the child to print its
    port."""

    name = "server"

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    def command(self) -> list[str]:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self: _Self) -> _Self:
        self.proc = subprocess.Popen([sys.executable, *self.command()], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"{self.name} did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        return self

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def get_json(self, path: str, method: str = "GET") -> dict[str, Any]:
        """The JSON object the server answers at `path` (a POST sends `{}`), past any proxy."""
        req = urllib.request.Request(self.url + path, method=method, data=b"{}" if method == "POST" else None)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=10) as r:
            return dict(json.loads(r.read()))

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            if self.proc.stdout:
                self.proc.stdout.close()
            self.proc = None

    def __enter__(self: _Self) -> _Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
