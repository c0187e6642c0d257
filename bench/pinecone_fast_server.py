#!/usr/bin/env python3
"""A fast Pinecone-compatible upsert endpoint on 127.0.0.1, for benchmarks only.

It speaks just enough of Pinecone's REST data plane for an upsert benchmark, over HTTP/1.1 with
keep-alive (one thread per connection, in a process of its own so that its CPU time is measured
apart from the client's and the client's GIL is not shared):

    POST /vectors/upsert          {"upsertedCount": n}, n = the records in the body
    POST /describe_index_stats    {"namespaces": {ns: {"vectorCount": total}}, "dimension": d, ...}
    GET  /describe_index_stats    the same
    GET  /__bench/stats           what it received: requests, records and body bytes per namespace,
                                  and whether any body was rejected (validate mode)
    GET  /vectors/fetch           with --store only: {"vectors": {id: {"id", "values": [], "metadata"}}}
                                  for the ids asked for (repeated `ids=`), so that a client can read back
                                  what it wrote (backfill's verify). Values are not kept: [] comes back.

Two ways to count the records of an upsert body:

    fast      (default) the occurrences of `"id":` in the body: the record objects of an upsert
              have one each, and the benchmark's metadata has no key named "id". The namespace is
              the value of the first or last `"namespace":"` key. No JSON parse: a 2 MB body costs
              a memchr-speed scan, so the server is never what a client waits for.
    validate  a full JSON parse (orjson when installed, else json) that checks every record has a
              string id, a list of --dimension numbers (when given) and object metadata; anything
              else is answered 400 and counted as rejected. For smoke runs, where it proves that
              both clients send well-formed upserts of every record.

Records are counted, not stored: the count in describe_index_stats is the number of records
acknowledged (a re-upsert of the same id counts again). The server is not Pinecone: no auth check
beyond the Api-Key header being present, no query, and fetch only with --store.

--store: each accepted JSON body is appended to a spill file on disk with its "values" arrays
emptied (a regular-expression pass, no parse), and every record id it holds is mapped to that
body; a gRPC upsert is decoded into the same JSON (ids and metadata) first. A fetch reads the bodies of the ids asked for back and parses them. The cost
is paid by the server's own process, on the side of the machine the client does not use.

Run alone (prints `listening on http://127.0.0.1:PORT`, serves until SIGTERM or Ctrl-C):

    python bench/pinecone_fast_server.py [--port 0] [--validate] [--dimension 1536] [--store]

or from Python: `with FastServer(validate=False, store=False) as s: s.url, s.cpu_seconds(), s.stats()`.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import struct
import sys
import tempfile
import threading
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_seconds  # noqa: E402, F401  (re-exported: pinecone_bench imports it from here)
from _fast_server import ChildServer, ServerStats, ThreadedServer  # noqa: E402
from _fast_server import read_request_head, response_head, serve_until_signalled  # noqa: E402

try:  # a faster parser for validate mode; json works too
    import orjson as _orjson

    def _loads(body: bytes | bytearray | memoryview) -> Any:
        return _orjson.loads(body)
except ImportError:  # pragma: no cover - orjson comes with the pinecone SDK
    def _loads(body: bytes | bytearray | memoryview) -> Any:
        return json.loads(bytes(body))

ID_KEY = b'"id":'
NS_KEY = b'"namespace":"'
MAX_BODY = 64 * 1000 * 1000
# Pinecone's limits for one upsert (docs: operation limits): at most 1000 records and 2 MB.
MAX_REQUEST_BYTES = 2_000_000
MAX_RECORDS = 1000
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
VALUES = re.compile(rb'"values":\[[^\]]*\]')
RECORD_ID = re.compile(rb'"id":"((?:[^"\\]|\\.)*)"')


class _Stats(ServerStats):
    def __init__(self) -> None:
        super().__init__()
        self.upserts = 0
        self.records = 0
        self.rejected = 0
        self.last_error = ""
        self.namespaces: dict[str, int] = {}


def _namespace(body: bytearray, length: int) -> str:
    """The value of the first or the last "namespace" key (clients put it first or last)."""
    i = body.find(NS_KEY, 0, min(256, length))
    if i < 0:
        i = body.rfind(NS_KEY, max(0, length - 512), length)
    if i < 0:
        return ""
    start = i + len(NS_KEY)
    end = body.find(b'"', start, length)
    return body[start:end].decode("utf-8", "replace") if end > 0 else ""


def _validate(body: memoryview, dimension: int) -> tuple[int, str, str]:
    """(records, namespace, error) from a full parse of an upsert body."""
    try:
        doc = _loads(body)
    except ValueError as e:
        return 0, "", f"not JSON: {e}"
    if not isinstance(doc, dict) or not isinstance(doc.get("vectors"), list):
        return 0, "", "no vectors array"
    ns = doc.get("namespace", "")
    if not isinstance(ns, str):
        return 0, "", "namespace is not a string"
    for k, v in enumerate(doc["vectors"]):
        if not isinstance(v, dict) or not isinstance(v.get("id"), str) or not v["id"]:
            return 0, ns, f"vectors[{k}] has no string id"
        values = v.get("values")
        if not isinstance(values, list) or not values or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in values):
            return 0, ns, f"vectors[{k}] ({v['id']}) has no list of numbers as values"
        if dimension and len(values) != dimension:
            return 0, ns, f"vectors[{k}] ({v['id']}) has {len(values)} values, expected {dimension}"
        if "metadata" in v and not isinstance(v["metadata"], dict):
            return 0, ns, f"vectors[{k}] ({v['id']}) has metadata that is not an object"
    return len(doc["vectors"]), ns, ""


class _Store:
    """Upsert bodies without their values, on disk, and where each (namespace, id) was last written."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.file = tempfile.TemporaryFile(prefix="pinecone-fast-store-")
        self.spans: list[tuple[int, int]] = []       # body number -> (offset, length) in the file
        self.where: dict[str, dict[str, int]] = {}   # namespace -> id -> body number
        self.size = 0

    def add(self, ns: str, body: bytes) -> None:
        stripped = VALUES.sub(b'"values":[]', body)
        ids = [m.group(1) for m in RECORD_ID.finditer(stripped)]
        with self.lock:
            self.file.seek(self.size)
            self.file.write(stripped)
            number = len(self.spans)
            self.spans.append((self.size, len(stripped)))
            self.size += len(stripped)
            table = self.where.setdefault(ns, {})
            for raw in ids:
                table[raw.decode() if b"\\" not in raw else json.loads(b'"' + raw + b'"')] = number

    def fetch(self, ns: str, ids: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        with self.lock:
            table = self.where.get(ns, {})
            wanted: dict[int, list[str]] = {}
            for i in ids:
                if i in table:
                    wanted.setdefault(table[i], []).append(i)
            bodies: list[tuple[bytes, set[str]]] = []
            for number, names in wanted.items():
                off, length = self.spans[number]
                self.file.seek(off)
                bodies.append((self.file.read(length), set(names)))
        for raw, wanted_ids in bodies:
            for v in _loads(raw).get("vectors", []):
                if v.get("id") in wanted_ids:
                    out[v["id"]] = {"id": v["id"], "values": [], "metadata": v.get("metadata", {})}
        return out

    def clear(self) -> None:
        with self.lock:
            self.file.truncate(0)
            self.spans.clear()
            self.where.clear()
            self.size = 0


class _Handler:
    """One keep-alive connection: read a request, answer it, repeat."""

    def __init__(self, conn: socket.socket, server: Server) -> None:
        self.conn = conn
        self.server = server
        self.buf = bytearray()
        self.body = bytearray(2 * 1024 * 1024 + 65536)  # grown when a body is larger

    def _recv_more(self) -> bool:
        chunk = self.conn.recv(262144)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def _read_exact(self, n: int) -> bytearray:
        """n body bytes into self.body[:n] (what is buffered first, then straight from the socket)."""
        if len(self.body) < n:
            self.body = bytearray(n)
        view = memoryview(self.body)
        have = min(len(self.buf), n)
        view[:have] = self.buf[:have]
        del self.buf[:have]
        recv_into = self.conn.recv_into
        while have < n:
            got = recv_into(view[have:n])
            if got == 0:
                raise ConnectionError("closed in the middle of a body")
            have += got
        return self.body

    def _read_chunked(self) -> bytearray:
        out = bytearray()
        while True:
            while b"\r\n" not in self.buf:
                if not self._recv_more():
                    raise ConnectionError("closed in a chunk header")
            line, _, rest = bytes(self.buf).partition(b"\r\n")
            self.buf = bytearray(rest)
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while b"\r\n" not in self.buf:  # the trailer section: assume none, just the CRLF
                    if not self._recv_more():
                        raise ConnectionError("closed after the last chunk")
                i = self.buf.index(b"\r\n")
                del self.buf[:i + 2]
                return out
            while len(self.buf) < size + 2:
                if not self._recv_more():
                    raise ConnectionError("closed in a chunk")
            out += self.buf[:size]
            del self.buf[:size + 2]

    def _send(self, status: str, payload: bytes, keep_alive: bool) -> None:
        self.conn.sendall(response_head(status, "application/json", len(payload), keep_alive) + payload)

    def run(self) -> None:
        conn = self.conn
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while len(self.buf) < len(H2_PREFACE) and self.buf == H2_PREFACE[:len(self.buf)]:
                if not self._recv_more():
                    return
            if self.buf.startswith(H2_PREFACE):
                del self.buf[:len(H2_PREFACE)]
                _GrpcConnection(conn, self.server, self.buf).run()
                return
            while True:
                head = read_request_head(self.buf, self._recv_more)
                if head is None:
                    return
                headers = head.headers
                keep_alive = head.keep_alive
                if headers.get("expect", "").lower() == "100-continue":
                    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                if "chunked" in headers.get("transfer-encoding", "").lower():
                    body = self._read_chunked()
                    n = len(body)
                else:
                    n = int(headers.get("content-length", "0") or 0)
                    if n > MAX_BODY:
                        self._send("413 Payload Too Large", b'{"message":"too large"}', False)
                        return
                    body = self._read_exact(n)
                path, _, query = head.target.partition("?")
                status, payload = self.server.answer(head.method, path, headers, body, n, query)
                self._send(status, payload, keep_alive)
                if not keep_alive:
                    return
        except (ConnectionError, OSError, ValueError):
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass


class Server(ThreadedServer):
    """The listening socket and one thread per accepted connection (in this process)."""

    def __init__(self, port: int = 0, validate: bool = False, dimension: int = 0, store: bool = False) -> None:
        self.validate = validate
        self.store = _Store() if store else None
        self.dimension = dimension
        self.stats: _Stats = _Stats()
        super().__init__(self.stats, port, backlog=1024)

    def handle(self, conn: socket.socket) -> None:
        _Handler(conn, self).run()

    def account(self, ns: str, n: int, length: int, error: str) -> None:
        st = self.stats
        with st.lock:
            st.requests += 1
            if error:
                st.rejected += 1
                st.last_error = error
                return
            st.upserts += 1
            st.records += n
            st.body_bytes += length
            st.namespaces[ns] = st.namespaces.get(ns, 0) + n

    def check_limits(self, n: int, length: int) -> str:
        if length > MAX_REQUEST_BYTES:
            return (f"Request size {length} bytes exceeds the maximum supported size of 2MB "
                    f"({MAX_REQUEST_BYTES} bytes)")
        if n > MAX_RECORDS:
            return f"an upsert holds {n} vectors, over the limit of {MAX_RECORDS}"
        if n < 1:
            return "an upsert holds no vectors"
        return ""

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytearray,
               length: int, query: str = "") -> tuple[str, bytes]:
        """The status line and JSON payload for a request whose body is body[:length]."""
        st = self.stats
        if path == "/vectors/upsert" and method == "POST":
            if "api-key" not in headers:
                self.account("", 0, length, "no Api-Key header")
                return "401 Unauthorized", b'{"code":16,"message":"no Api-Key header","details":[]}'
            if self.validate:
                n, ns, error = _validate(memoryview(body)[:length], self.dimension)
            else:
                n = body.count(ID_KEY, 0, length)
                ns, error = _namespace(body, length), ""
            error = error or self.check_limits(n, length)
            self.account(ns, n, length, error)
            if error:
                return "400 Bad Request", json.dumps({"code": 3, "message": error, "details": []}).encode()
            if self.store is not None:
                self.store.add(ns, bytes(memoryview(body)[:length]))
            return "200 OK", b'{"upsertedCount":%d}' % n
        if path == "/describe_index_stats":
            with st.lock:
                st.requests += 1
                spaces = {ns: {"vectorCount": n} for ns, n in st.namespaces.items()}
                total = sum(st.namespaces.values())
            return "200 OK", json.dumps({"namespaces": spaces, "dimension": self.dimension,
                                         "indexFullness": 0.0, "totalVectorCount": total,
                                         "metric": "cosine", "vectorType": "dense"}).encode()
        if path == "/__bench/stats":
            return "200 OK", json.dumps(self.stats.snapshot()).encode()
        if path == "/__bench/reset" and method == "POST":
            with st.lock:
                st.namespaces.clear()
            if self.store is not None:
                self.store.clear()
            return "200 OK", b"{}"
        if path == "/vectors/fetch" and method == "GET" and self.store is not None:
            q = urllib.parse.parse_qs(query, keep_blank_values=True)
            ns = (q.get("namespace") or [""])[-1]
            vectors = self.store.fetch(ns, q.get("ids", []))
            with st.lock:
                st.requests += 1
            return "200 OK", json.dumps({"vectors": vectors, "namespace": ns,
                                         "usage": {"readUnits": 1}}).encode()
        return "404 Not Found", b'{"code":5,"message":"not found","details":[]}'

    def answer_grpc(self, message: memoryview, raw: tuple[bytearray, int, int] | None = None) -> tuple[int, bytes, str]:
        """(grpc-status, UpsertResponse bytes, grpc-message) for one gRPC Upsert request message;
        `raw` is the same message as (buffer, start, end), for counting without a memoryview."""
        counted = _count_vectors(*raw) if raw is not None and not self.validate else None
        if counted is not None:
            n, ns, error = counted[0], counted[1], ""
        else:
            n, ns, error = _grpc_upsert(message, self.dimension if self.validate else 0, self.validate)
        error = error or self.check_limits(n, len(message))
        self.account(ns, n, len(message), error)
        if error:
            return 3, b"", error  # INVALID_ARGUMENT
        if self.store is not None:  # kept as the JSON body it stands for, so that fetch reads it back
            self.store.add(ns, json.dumps({"vectors": _grpc_records(message)}, separators=(",", ":"),
                                          ensure_ascii=False).encode())
        return 0, b"\x08" + _varint_bytes(n), ""


# --- gRPC (HTTP/2 without TLS, prior knowledge) ----------------------------------------------------
#
# Just enough HTTP/2 for unary gRPC calls of VectorService.Upsert from the SDK's gRPC channel, on the
# same port as HTTP/1.1 (told apart by the HTTP/2 connection preface). Request headers are not
# decoded (HPACK): every stream is taken as an Upsert, whose message is
#     UpsertRequest { repeated Vector vectors = 1; string namespace = 2; }
#     Vector        { string id = 1; repeated float values = 2 (packed); Struct metadata = 3; ... }
# and answered UpsertResponse { uint32 upserted_count = 1; } with grpc-status 0. The records are
# counted by walking the top-level fields only (one varint per record), or checked one by one in
# validate mode. Flow control: windows of 2^31-1 for the connection and every stream, topped up.


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _varint_bytes(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _skip(buf: memoryview, i: int, wire: int) -> int:
    if wire == 0:
        return _varint(buf, i)[1]
    if wire == 1:
        return i + 8
    if wire == 5:
        return i + 4
    if wire == 2:
        n, i = _varint(buf, i)
        return i + n
    raise ValueError(f"wire type {wire}")


def _grpc_vector_error(buf: memoryview, dimension: int) -> str:
    i, end = 0, len(buf)
    vid, nvalues, metadata = b"", -1, False
    while i < end:
        tag, i = _varint(buf, i)
        field, wire = tag >> 3, tag & 7
        if wire == 2:
            n, i = _varint(buf, i)
            if field == 1:
                vid = bytes(buf[i:i + n])
            elif field == 2:
                nvalues = n // 4
            elif field == 3:
                metadata = True
            i += n
        else:
            i = _skip(buf, i, wire)
    if i != end:
        return "a vector's fields overrun it"
    if not vid:
        return "a vector without an id"
    if nvalues < 1 or (dimension and nvalues != dimension):
        return f"vector {vid.decode(errors='replace')} has {nvalues} values, expected {dimension or 'some'}"
    if not metadata:
        return f"vector {vid.decode(errors='replace')} has no metadata"
    return ""


def _count_vectors(buf: bytearray, i: int, end: int) -> tuple[int, str] | None:
    """(records, namespace) of the UpsertRequest in buf[i:end], by its top-level fields, or None
    when it holds anything but one-byte tags of fields 1 and 2 (_grpc_upsert then walks it the
    general way). Indexing a bytearray, with the usual two-byte lengths read inline, is several
    times as fast as the general walk over a memoryview."""
    n, ns = 0, ""
    while i < end:
        tag = buf[i]
        if tag != 0x0A and tag != 0x12:
            return None
        b = buf[i + 1]
        size = b & 0x7F
        i += 2
        if b & 0x80:
            b = buf[i]
            size |= (b & 0x7F) << 7
            i += 1
            if b & 0x80:
                more, i = _varint(memoryview(buf), i)
                size |= more << 14
        if tag == 0x0A:
            n += 1
        else:
            ns = buf[i:i + size].decode("utf-8", "replace")
        i += size
    return (n, ns) if i == end else None


def _grpc_upsert(buf: memoryview, dimension: int, validate: bool) -> tuple[int, str, str]:
    """(records, namespace, error) of an UpsertRequest message."""
    try:
        i, end, n, ns = 0, len(buf), 0, ""
        while i < end:
            tag, i = _varint(buf, i)
            field, wire = tag >> 3, tag & 7
            if wire != 2:
                i = _skip(buf, i, wire)
                continue
            size, i = _varint(buf, i)
            if field == 1:
                n += 1
                if validate:
                    error = _grpc_vector_error(buf[i:i + size], dimension)
                    if error:
                        return 0, ns, error
            elif field == 2:
                ns = bytes(buf[i:i + size]).decode("utf-8", "replace")
            i += size
        if i != end:
            return 0, ns, "the UpsertRequest's fields overrun the message"
        return n, ns, ""
    except (IndexError, ValueError) as e:
        return 0, "", f"not an UpsertRequest: {e}"


def _grpc_message_fields(buf: memoryview) -> list[tuple[int, int, Any]]:
    """(field, wire type, value) of a message: an int for varints, a memoryview for
    length-delimited fields, the raw bytes for fixed-width ones."""
    out: list[tuple[int, int, Any]] = []
    i = 0
    while i < len(buf):
        tag, i = _varint(buf, i)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            v, i = _varint(buf, i)
            out.append((field, wire, v))
        elif wire == 2:
            size, i = _varint(buf, i)
            out.append((field, wire, buf[i:i + size]))
            i += size
        else:
            end = _skip(buf, i, wire)
            out.append((field, wire, bytes(buf[i:end])))
            i = end
    return out


def _grpc_json_value(buf: memoryview) -> Any:
    """google.protobuf.Value as JSON: null 1, number 2, string 3, bool 4, struct 5, list 6."""
    for field, _, v in _grpc_message_fields(buf):
        if field == 2:
            x = struct.unpack("<d", v)[0]
            return int(x) if x.is_integer() and abs(x) < 1e15 else x
        if field == 3:
            return bytes(v).decode("utf-8")
        if field == 4:
            return bool(v)
        if field == 5:
            return _grpc_json_struct(v)
        if field == 6:
            return [_grpc_json_value(item) for f, _, item in _grpc_message_fields(v) if f == 1]
    return None


def _grpc_json_struct(buf: memoryview) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for _, _, entry in _grpc_message_fields(buf):
        kv = {f: v for f, _, v in _grpc_message_fields(entry)}
        out[bytes(kv.get(1, b"")).decode("utf-8")] = _grpc_json_value(kv[2]) if 2 in kv else None
    return out


def _grpc_records(message: memoryview) -> list[dict[str, Any]]:
    """The records of an UpsertRequest as --store keeps them: id and metadata, no values."""
    out = []
    for field, wire, vector in _grpc_message_fields(message):
        if field != 1 or wire != 2:
            continue
        rec: dict[str, Any] = {"id": "", "values": []}
        for f, w, v in _grpc_message_fields(vector):
            if f == 1 and w == 2:
                rec["id"] = bytes(v).decode("utf-8")
            elif f == 3 and w == 2:
                rec["metadata"] = _grpc_json_struct(v)
        out.append(rec)
    return out


def _hpack_int(value: int, prefix: int, first: int) -> bytes:
    limit = (1 << prefix) - 1
    if value < limit:
        return bytes([first | value])
    out = bytearray([first | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _hpack_literal(name: bytes, value: bytes) -> bytes:
    """A literal header field without indexing, new name, no Huffman: valid whatever the table holds."""
    return b"\x00" + _hpack_int(len(name), 7, 0) + name + _hpack_int(len(value), 7, 0) + value


def _frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY = 0x1, 0x1, 0x4, 0x8, 0x20
MAX_WINDOW = (1 << 31) - 1
# A frame header: 24-bit length, type, flags, stream; read as a 16-bit high part of the length,
# then (low byte of the length << 8 | type), flags and the stream id.
_FRAME_HEAD = struct.Struct(">HHBI")
RESPONSE_HEADERS = b"\x88" + _hpack_literal(b"content-type", b"application/grpc")  # 0x88: ":status: 200"


class _Message:
    """The DATA of one request stream, in a buffer sized by the gRPC length prefix of its first
    frame and taken from the connection's spares, so a 2 MB message is neither grown nor zeroed
    as it arrives. DATA that is not yet buffered is received straight into it (recv_into)."""

    __slots__ = ("buf", "size", "spares")

    def __init__(self, spares: list[bytearray]) -> None:
        self.buf = bytearray()
        self.size = 0
        self.spares = spares

    def _room(self, first: memoryview, n: int) -> None:
        if self.size + n <= len(self.buf):
            return
        want = max(self.size + n, 2 * len(self.buf))
        if self.size == 0 and len(first) >= 5 and first[0] == 0:
            want = max(want, 5 + int.from_bytes(first[1:5], "big"))
        want = -(-want // (1 << 20)) << 20  # whole megabytes, so that spares fit the next messages
        grown = next((b for b in self.spares if len(b) >= want), None)
        if grown is None:
            grown = bytearray(want)
        else:
            self.spares.remove(grown)
        grown[:self.size] = memoryview(self.buf)[:self.size]
        self.buf = grown

    def add(self, data: memoryview, total: int, conn: socket.socket) -> bool:
        """Appends `data`, the start of a frame's `total` bytes of DATA, and receives the rest of
        the frame into the buffer. False when the peer closes first."""
        self._room(data, total)
        n = len(data)
        self.buf[self.size:self.size + n] = data
        self.size += n
        with memoryview(self.buf) as view:
            while n < total:
                got = conn.recv_into(view[self.size:self.size + total - n])
                if not got:
                    return False
                self.size += got
                n += got
        return True

    def bytes(self) -> memoryview:
        return memoryview(self.buf)[:self.size]

    def release(self) -> None:
        if len(self.spares) < 4 and self.buf:
            self.spares.append(self.buf)


class _GrpcConnection:
    """One HTTP/2 connection of gRPC calls. Frames are read into one buffer that is allocated once
    (recv_into, no bytes object per read) and grows only for a frame larger than it, so a client
    that sends megabyte DATA frames costs no more per byte than one that sends 16 kB frames."""

    def __init__(self, conn: socket.socket, server: Server, already: bytearray) -> None:
        self.conn = conn
        self.server = server
        self.buf = bytearray(max(4 << 20, len(already)))
        self.buf[:len(already)] = already
        self.view = memoryview(self.buf)
        self.pos = 0               # the next unread byte
        self.end = len(already)    # past the last received byte
        self.streams: dict[int, _Message] = {}
        self.spares: list[bytearray] = []  # message buffers to use again
        self.unacked = 0  # DATA bytes received since the last connection WINDOW_UPDATE

    def _need(self, n: int) -> bool:
        """Whether n bytes from self.pos are buffered, reading until they are (False at EOF)."""
        while self.end - self.pos < n:
            if self.pos + n > len(self.buf):  # no room after pos: move what is left to the front
                left = self.end - self.pos
                self.view.release()
                if n > len(self.buf):
                    self.buf.extend(bytes(n - len(self.buf)))
                self.buf[:left] = self.buf[self.pos:self.end]
                self.view = memoryview(self.buf)
                self.pos, self.end = 0, left
            # At most 64 kB at a time: the rest of a large DATA frame is received straight into
            # its message (_Message.add), not here and copied again.
            got = self.conn.recv_into(self.view[self.end:self.end + max(n - (self.end - self.pos), 1 << 16)])
            if not got:
                return False
            self.end += got
        return True

    def run(self) -> None:
        send = self.conn.sendall
        settings = b"".join(k.to_bytes(2, "big") + v.to_bytes(4, "big")
                            for k, v in ((3, 1000), (4, MAX_WINDOW), (5, (1 << 24) - 1)))
        send(_frame(SETTINGS, 0, 0, settings) + _frame(WINDOW_UPDATE, 0, 0, (MAX_WINDOW - 65535).to_bytes(4, "big")))
        while self._need(9):
            length, kind, flags, stream = _FRAME_HEAD.unpack_from(self.buf, self.pos)
            length = (length << 8) | (kind >> 8)
            kind &= 0xFF
            stream &= 0x7FFFFFFF
            message = self.streams.get(stream) if kind == DATA and not flags & PADDED else None
            if message is not None:  # what is buffered, then the rest received straight into the message
                start = self.pos + 9
                have = min(self.end - start, length)
                self.pos = start + have
                if not message.add(self.view[start:self.pos], length, self.conn):
                    return
                self.unacked += length
                if flags & END_STREAM:
                    self._respond(stream, self.streams.pop(stream))
                if self.unacked > 1 << 28:
                    send(_frame(WINDOW_UPDATE, 0, 0, self.unacked.to_bytes(4, "big")))
                    self.unacked = 0
                continue
            if not self._need(9 + length):
                return
            start, end = self.pos + 9, self.pos + 9 + length
            self.pos = end
            if kind == DATA:
                self.unacked += length
                if flags & PADDED:
                    end -= self.buf[start]
                    start += 1
                message = self.streams.get(stream)
                if message is not None:
                    message.add(self.view[start:end], end - start, self.conn)
                    if flags & END_STREAM:
                        self._respond(stream, self.streams.pop(stream))
                if self.unacked > 1 << 28:
                    send(_frame(WINDOW_UPDATE, 0, 0, self.unacked.to_bytes(4, "big")))
                    self.unacked = 0
            elif kind == HEADERS:
                if stream in self.streams:  # trailers of a request: ends it
                    if flags & END_STREAM:
                        self._respond(stream, self.streams.pop(stream))
                elif flags & END_STREAM:
                    self._respond(stream, _Message(self.spares))
                else:
                    self.streams[stream] = _Message(self.spares)
            elif kind == SETTINGS and not flags & ACK:
                send(_frame(SETTINGS, ACK, 0))
            elif kind == PING and not flags & ACK:
                send(_frame(PING, ACK, 0, bytes(self.view[start:end])))
            elif kind == RST_STREAM:
                self.streams.pop(stream, None)
            elif kind == GOAWAY:
                return
            # PRIORITY, WINDOW_UPDATE, CONTINUATION (header blocks are not decoded): nothing to do

    def _respond(self, stream: int, request: _Message) -> None:
        body = request.bytes()
        status, payload, message = 13, b"", "a request without a gRPC message"
        if len(body) >= 5 and body[0] == 0 and int.from_bytes(body[1:5], "big") == len(body) - 5:
            status, payload, message = self.server.answer_grpc(memoryview(body)[5:], (request.buf, 5, request.size))
        elif len(body) >= 5 and body[0] != 0:
            status, message = 12, "compressed messages are not supported"  # UNIMPLEMENTED
        trailers = _hpack_literal(b"grpc-status", str(status).encode())
        if message:
            trailers += _hpack_literal(b"grpc-message", urllib.parse.quote(message).encode())
        out = _frame(HEADERS, END_HEADERS, stream, RESPONSE_HEADERS)
        if payload:
            out += _frame(DATA, 0, stream, b"\x00" + len(payload).to_bytes(4, "big") + payload)
        out += _frame(HEADERS, END_HEADERS | END_STREAM, stream, trailers)
        self.conn.sendall(out)
        body.release()
        request.release()


# --- running it as a separate process ------------------------------------------------------------


class FastServer(ChildServer):
    """This file run as a child process; a context manager. url, pid, cpu_seconds(), stats()."""

    name = "pinecone_fast_server"

    def __init__(self, validate: bool = False, dimension: int = 0, store: bool = False) -> None:
        super().__init__()
        self.validate = validate
        self.dimension = dimension
        self.store = store

    def command(self) -> list[str]:
        cmd = [str(Path(__file__).resolve()), "--port", "0", "--dimension", str(self.dimension)]
        return cmd + (["--validate"] if self.validate else []) + (["--store"] if self.store else [])

    def stats(self) -> dict[str, Any]:
        return self.get_json("/__bench/stats")

    def reset(self) -> None:
        self.get_json("/__bench/reset", "POST")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    ap.add_argument("--validate", action="store_true", help="parse every body fully and reject bad ones")
    ap.add_argument("--dimension", type=int, default=0, help="expected vector dimension (validate mode; 0: any)")
    ap.add_argument("--store", action="store_true", help="keep what JSON upserts wrote (without values) and "
                    "answer /vectors/fetch")
    args = ap.parse_args(argv)
    return serve_until_signalled(Server(args.port, args.validate, args.dimension, args.store))


if __name__ == "__main__":
    sys.exit(main())
