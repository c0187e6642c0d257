#!/usr/bin/env python3
"""A fast OpenAI-compatible embeddings server on 127.0.0.1 for benchmarks: cheap deterministic vectors,
no added latency, in a process of its own (so its CPU time is measured apart from the client's).

tests/python/openai_fake.py checks every request against the spec with jsonschema and hashes each text
into its own vector: right for tests, too slow to keep up with a client in a CPU benchmark. This server
checks what matters for the comparison and answers from precomputed vectors:

    POST {/v1}/embeddings  `Authorization: Bearer ...` present (401 otherwise); the body a JSON object with
                           only the spec's keys (input, model, encoding_format, dimensions, user), a
                           non-empty model, input a non-empty string or a list of 1-2048 non-empty strings,
                           encoding_format "float" (the default) or "base64", dimensions 1..--dimension;
                           anything else is answered 400 with the spec's ErrorResponse and counted as
                           rejected. The answer is the spec's CreateEmbeddingResponse: data in input order,
                           each embedding a list of floats or base64 of little-endian float32 as asked,
                           usage with ceil(UTF-8 bytes / 4) tokens an input.
    GET  {/v1}/__bench/stats  requests, inputs, body bytes, rejected (and the last error)

Vectors: --vectors K (default 512) dense unit vectors of the asked dimension, drawn once from a seeded
Gaussian (as dense as a real model's); input t gets vector crc32(t) mod K. Their float text and base64
text are made once per dimension, so an answer is a join of ready strings.

    python bench/openai_fast_server.py [--port 0] [--dimension 1536] [--vectors 512]

or from Python: `with OpenAIFastServer() as s: s.url (the base URL, ".../v1"), s.cpu_seconds(), s.stats()`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import random
import socket
import struct
import sys
import threading
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fast_server import ChildServer, ServerStats, ThreadedServer  # noqa: E402
from _fast_server import read_request_head, response_head, serve_until_signalled  # noqa: E402

try:
    import orjson

    loads = orjson.loads
except ImportError:  # pragma: no cover
    loads = json.loads

API_KEY = "sk-bench-0123456789abcdef0123"
MODEL = "text-embedding-3-small"
MAX_INPUTS = 2048
MAX_BODY = 64 * 1024 * 1024
KEYS = {"input", "model", "encoding_format", "dimensions", "user"}


class Stats(ServerStats):
    def __init__(self) -> None:
        super().__init__()
        self.inputs = 0
        self.rejected = 0
        self.last_error = ""


class Vectors:
    """K unit vectors of one dimension, as float JSON text and as base64 text."""

    def __init__(self, dimension: int, k: int, seed: int) -> None:
        rng = random.Random(seed * 1_000_003 + dimension)
        self.floats: list[bytes] = []
        self.base64: list[bytes] = []
        for _ in range(k):
            v = [rng.gauss(0.0, 1.0) for _ in range(dimension)]
            norm = math.sqrt(sum(x * x for x in v)) or 1.0
            packed = struct.pack(f"<{dimension}f", *(x / norm for x in v))
            values = struct.unpack(f"<{dimension}f", packed)  # what float32 holds, as the float answer gives it
            self.floats.append(("[" + ",".join(f"{x:.9g}" for x in values) + "]").encode())
            self.base64.append(b'"' + base64.b64encode(packed) + b'"')


def error(message: str, param: str | None = None, code: str | None = None,
          kind: str = "invalid_request_error") -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "param": param, "code": code}}).encode()


class Server(ThreadedServer):
    def __init__(self, port: int, dimension: int, vectors: int, seed: int) -> None:
        self.stats: Stats = Stats()
        self.max_dimension, self.k, self.seed = dimension, vectors, seed
        self.tables: dict[int, Vectors] = {}
        self.tables_lock = threading.Lock()
        super().__init__(self.stats, port)

    def table(self, dimension: int) -> Vectors:
        with self.tables_lock:
            if dimension not in self.tables:
                self.tables[dimension] = Vectors(dimension, self.k, self.seed)
            return self.tables[dimension]

    def embeddings(self, body: bytes) -> tuple[int, bytes]:
        try:
            req = loads(body)
        except ValueError:
            return 400, error("We could not parse the JSON body of your request.")
        if not isinstance(req, dict):
            return 400, error("The body must be a JSON object.")
        extra = set(req) - KEYS
        if extra:
            return 400, error(f"Unrecognized request argument supplied: {sorted(extra)[0]}")
        model = req.get("model")
        if not isinstance(model, str) or not model:
            return 400, error("you must provide a model parameter", "model")
        inputs = req.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not 1 <= len(inputs) <= MAX_INPUTS or \
                not all(isinstance(t, str) and t for t in inputs):
            return 400, error("'$.input' is invalid. Please check the API reference: "
                              "https://platform.openai.com/docs/api-reference.", "input")
        fmt = req.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            return 400, error(f"'{fmt}' is not one of ['float', 'base64'] - 'encoding_format'", "encoding_format")
        dimension = req.get("dimensions", self.max_dimension)
        if not isinstance(dimension, int) or isinstance(dimension, bool) or not 1 <= dimension <= self.max_dimension:
            return 400, error(f"dimensions must be 1 to {self.max_dimension}", "dimensions")
        table = self.table(dimension)
        texts = table.base64 if fmt == "base64" else table.floats
        k = self.k
        out = [b'{"object":"list","data":[']
        tokens = 0
        for i, t in enumerate(inputs):
            raw = t.encode()
            tokens += (len(raw) + 3) // 4
            out.append(b'%s{"object":"embedding","index":%d,"embedding":%s}'
                       % (b"," if i else b"", i, texts[zlib.crc32(raw) % k]))
        out.append(b'],"model":%s,"usage":{"prompt_tokens":%d,"total_tokens":%d}}'
                   % (json.dumps(model).encode(), tokens, tokens))
        with self.stats.lock:
            self.stats.inputs += len(inputs)
        return 200, b"".join(out)

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        if path.endswith("/__bench/stats"):
            return 200, json.dumps(self.stats.snapshot()).encode()
        if not path.endswith("/embeddings"):
            return 404, error(f"Invalid URL ({method} {path})")
        if method != "POST":
            return 405, error(f"Invalid method for URL ({method} {path})")
        if not headers.get("authorization", "").startswith("Bearer "):
            return 401, error("You didn't provide an API key.", code="invalid_api_key")
        return self.embeddings(body)

    def handle(self, conn: socket.socket) -> None:
        with contextlib.suppress(ConnectionError, OSError), contextlib.closing(conn):
            self.serve(conn)

    def serve(self, conn: socket.socket) -> None:
        """Answers the requests of one keep-alive connection until it closes."""
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        reasons = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}

        def recv_more() -> bool:
            chunk = conn.recv(1 << 20)
            buf.extend(chunk)
            return bool(chunk)

        keep = True
        while keep:
            head = read_request_head(buf, recv_more)
            if head is None:
                return
            if head.headers.get("expect", "").lower() == "100-continue":
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            n = int(head.headers.get("content-length", "0") or 0)
            if n > MAX_BODY or "chunked" in head.headers.get("transfer-encoding", "").lower():
                conn.sendall(response_head("413 Payload Too Large", "application/json", 0, False))
                return
            while len(buf) < n:
                if not recv_more():
                    return
            body = bytes(buf[:n])
            del buf[:n]
            try:
                status, payload = self.answer(head.method, head.target.partition("?")[0], head.headers, body)
            except Exception as e:  # noqa: BLE001 - a bug here: loud, and a 500 to the client
                print(f"openai_fast_server: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                status, payload = 500, error("server error", kind="server_error")
            keep = head.keep_alive
            conn.sendall(response_head(f"{status} {reasons.get(status, 'Error')}", "application/json",
                                       len(payload), keep) + payload)
            with self.stats.lock:
                self.stats.requests += 1
                self.stats.body_bytes += n
                if status >= 400 and "/__bench/" not in head.target:
                    self.stats.rejected += 1
                    self.stats.last_error = payload.decode(errors="replace")[:300]


class OpenAIFastServer(ChildServer):
    """This file run as a child process; a context manager: url (the base URL), pid, cpu_seconds(), stats()."""

    name = "openai_fast_server"

    def __init__(self, dimension: int = 1536, vectors: int = 512, seed: int = 7) -> None:
        super().__init__()
        self.dimension, self.vectors, self.seed = dimension, vectors, seed
        self.api_key, self.model = API_KEY, MODEL

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        return [str(Path(__file__).resolve()), "--dimension", str(self.dimension), "--vectors", str(self.vectors),
                "--seed", str(self.seed)]

    def stats(self) -> dict[str, Any]:
        return self.get_json("/__bench/stats")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--dimension", type=int, default=1536, help="the largest `dimensions` accepted, the default")
    ap.add_argument("--vectors", type=int, default=512, help="distinct vectors per dimension")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    server = Server(args.port, args.dimension, args.vectors, args.seed)
    server.table(args.dimension)  # made before the port is announced: never inside a measured run
    return serve_until_signalled(server)


if __name__ == "__main__":
    sys.exit(main())
