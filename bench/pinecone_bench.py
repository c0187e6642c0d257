#!/usr/bin/env python3
"""Pinecone upsert benchmark: backfill's sink against the official `pinecone` SDK, in one run.

Same records for every contender (default 50,000, dimension 1536, float32 values of a unit vector
drawn from a fixed seed, ~500 bytes of metadata each), same local server (bench/pinecone_fast_server.py,
a separate process that answers upserts without parsing them: its CPU is reported to show it is
not the bottleneck), no client-side rate limit on either side (backfill's rate=0.0, byte_rate=0.0; the SDK has
none but an adaptive gate that only closes on 429s):

    backfill   _core.PineconeSink(max_in_flight=M, rate=0.0, byte_rate=0.0, max_records=1000).upsert(list of dicts): upserts over
               gRPC (VectorService/Upsert, protobuf over HTTP/2 without TLS), the sink's default transport
    backfill-rest  the same with transport="rest": JSON over HTTP/1.1 (kept to show what gRPC changed)
    sdk-rest   the SDK's best REST way found by --tune: Index.upsert(batch_size=B, max_concurrency=C),
               or Index(pool_threads=C).upsert(async_req=True) per batch, or AsyncIndex (asyncio)
    sdk-grpc   GrpcIndex.upsert(batch_size=B, max_concurrency=C) over plaintext HTTP/2 (the SDK's
               Rust gRPC channel; the same server answers gRPC on the same port)

Procedure: generate the records; probe the bytes per record each transport puts on the wire and
derive the largest batch under Pinecone's 2 MB request limit; tune (each setting of the grid once
on --tune-records records; the fastest per contender wins); warm up; then --repetitions rounds,
each upserting all the records with every contender, in an order that rotates each round. The
records are handed over as lists of Python dicts of --chunk records, built from compact arrays just
before each call; building them is timed apart ("build") and is the same for every contender.
Reported: medians over the rounds, and ratios as the median of the per-round ratios. Every
contender must have every record acknowledged, and the server's count must agree, or the run fails.
A server proof runs last: curl --parallel blasting pre-built bodies of the same size at the server
(HTTP/1.1 JSON and HTTP/2 gRPC), and backfill's HTTP engine sending pre-serialized bodies.

    .venv/bin/python bench/pinecone_bench.py            # ~3-6 min; bench/results/pinecone.json and .md
    .venv/bin/python bench/pinecone_bench.py --quick    # smoke run (~20 s): small, one round

Timings are never asserted; the machine is shared, so the CPU of the client, the server and the
rest of the machine during every measurement is recorded too.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import datetime
import gc
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _common import cpu_model, curl_version, machine_busy_seconds, median, no_proxy_for_loopback, wait_for_quiet
from _common import rotated, round_entry
from _common import versions as _versions
from pinecone_fast_server import MAX_RECORDS, MAX_REQUEST_BYTES, FastServer, cpu_seconds

SCHEMA = "backfill.bench.pinecone/1"
GOAL = 5.0
API_KEY = "bench-key"
SERVER_BUSY_PERCENT = 90.0
BATCH_MARGIN = 0.97  # of the 2 MB limit, for the SDK's batch sizes (records differ a little in size)

# The clients must reach 127.0.0.1 directly, whatever proxy the environment names.
no_proxy_for_loopback()

WORDS = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do", "eiusmod",
         "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "enim", "ad", "minim", "veniam",
         "quis", "nostrud", "exercitation", "ullamco", "laboris", "nisi", "aliquip", "ex", "ea", "commodo", "consequat"]


# --- the records ---------------------------------------------------------------------------------


@dataclass
class Dataset:
    dimension: int
    ids: list[str]
    values: array.array  # type: ignore[type-arg]  # float32, record i at [i*dimension, (i+1)*dimension)
    metadata: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.ids)

    def build(self, lo: int, hi: int) -> list[dict[str, Any]]:
        """Records lo..hi as the dicts both APIs take: {"id", "values": [float], "metadata": {...}}."""
        d, v, ids, md = self.dimension, self.values, self.ids, self.metadata
        return [{"id": ids[i], "values": v[i * d:(i + 1) * d].tolist(), "metadata": md[i]} for i in range(lo, hi)]


def make_dataset(n: int, dimension: int, seed: int) -> Dataset:
    """n records: unit vectors of float32 (uniform directions are not needed, only realistic
    magnitudes, ~1/sqrt(dimension) per component, as embeddings have), ~500 bytes of metadata."""
    rng = random.Random(seed)
    rand = rng.random
    values = array.array("f")
    ids: list[str] = []
    metadata: list[dict[str, Any]] = []
    for i in range(n):
        v = [rand() - 0.5 for _ in range(dimension)]
        k = 1.0 / math.hypot(*v)
        values.extend([x * k for x in v])
        doc = i // 8
        ids.append(f"doc-{doc:07d}#{i % 8}")
        text = " ".join(rng.choice(WORDS) for _ in range(50 + rng.randrange(10)))
        metadata.append({"source": "bench", "document_id": f"doc-{doc:07d}", "chunk": i % 8,
                         "title": f"Benchmark document {doc}", "url": f"https://example.com/docs/{doc}",
                         "created_at": "2025-01-01T00:00:00Z", "tags": ["bench", WORDS[doc % len(WORDS)]],
                         "text": text})
    return Dataset(dimension, ids, values, metadata)


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Sample:
    records: int
    acknowledged: int
    server_counted: int       # what the server counted in the contender's namespace meanwhile
    requests: int             # upsert requests the server answered
    wire_bytes: int           # request bodies the server received
    call_seconds: float       # wall time inside the upsert calls
    build_seconds: float      # wall time building the dicts (the same work for every contender)
    client_cpu: float         # CPU seconds of this process (all threads) inside the upsert calls
    server_cpu: float         # CPU seconds of the server process inside the upsert calls
    other_cpu: float          # CPU seconds of everything else on the machine inside the upsert calls
    rejected: int = 0

    def as_dict(self) -> dict[str, Any]:
        t = self.call_seconds
        return {
            "records": self.records, "acknowledged": self.acknowledged, "server_counted": self.server_counted,
            "requests": self.requests, "wire_bytes": self.wire_bytes, "rejected": self.rejected,
            "call_seconds": round(t, 4), "build_seconds": round(self.build_seconds, 4),
            "records_per_second": round(self.records / t, 1),
            "records_per_second_with_build": round(self.records / (t + self.build_seconds), 1),
            "mb_per_second": round(self.wire_bytes / t / 1e6, 2),
            "wire_bytes_per_record": round(self.wire_bytes / max(1, self.records), 1),
            "records_per_request": round(self.records / max(1, self.requests), 1),
            "build_us_per_record": round(self.build_seconds / self.records * 1e6, 2),
            "client_cpu_us_per_record": round(self.client_cpu / self.records * 1e6, 2),
            "client_cpu_percent": round(self.client_cpu / t * 100, 1),
            "server_cpu_percent": round(self.server_cpu / t * 100, 1),
            "server_cpu_us_per_request": round(self.server_cpu / max(1, self.requests) * 1e6, 1),
            "other_cpu_percent": round(self.other_cpu / t * 100, 1),
        }


# --- the contenders ------------------------------------------------------------------------------


@dataclass
class Contender:
    """One client with one setting: `upsert(records, namespace)` returns the acknowledged count."""

    name: str        # backfill | sdk-rest | sdk-grpc
    api: str         # how it is called
    settings: dict[str, Any]
    upsert: Callable[[list[dict[str, Any]], str], int]
    close: Callable[[], None] = field(default=lambda: None)

    @property
    def label(self) -> str:
        return f"{self.api} " + " ".join(f"{k}={v}" for k, v in self.settings.items())


def _sdk_result(r: Any, sent: int, what: str) -> int:
    failed = getattr(r, "failed_item_count", 0) or 0
    if failed:
        errors = getattr(r, "errors", None) or []
        raise RuntimeError(f"{what}: {failed} of {sent} records failed: {errors[:1]}")
    return int(r.upserted_count)


def make_backfill(url: str, max_in_flight: int, transport: str = "grpc") -> Contender:
    from backfill import _core

    sinks: dict[str, Any] = {}

    def upsert(records: list[dict[str, Any]], namespace: str) -> int:
        sink = sinks.get(namespace)
        if sink is None:  # the namespace is fixed per sink: one sink per namespace, kept (warm)
            sink = sinks[namespace] = _core.PineconeSink(host=url, api_key=API_KEY, namespace=namespace,
                                                         max_in_flight=max_in_flight, rate=0.0, byte_rate=0.0, max_records=1000,
                                                         transport=transport)
        return int(sink.upsert(records))

    name = "backfill" if transport == "grpc" else f"backfill-{transport}"
    return Contender(name, "PineconeSink.upsert",
                     {"transport": transport, "max_in_flight": max_in_flight, "rate": 0.0}, upsert, sinks.clear)


def _sdk_batching(name: str, label: str, index: Any, batch_size: int, concurrency: int) -> Contender:
    """An SDK index whose upsert() splits the records into batches and sends them concurrently itself."""

    def upsert(records: list[dict[str, Any]], namespace: str) -> int:
        r = index.upsert(vectors=records, namespace=namespace, batch_size=batch_size,
                         max_concurrency=concurrency, show_progress=False)
        return _sdk_result(r, len(records), label)

    return Contender(name, label, {"batch_size": batch_size, "max_concurrency": concurrency}, upsert, index.close)


def make_sdk_rest(url: str, batch_size: int, concurrency: int) -> Contender:
    from pinecone import Pinecone

    return _sdk_batching("sdk-rest", "Index.upsert", Pinecone(api_key=API_KEY).Index(host=url), batch_size,
                         concurrency)


def make_sdk_rest_async_req(url: str, batch_size: int, threads: int) -> Contender:
    from pinecone import Pinecone

    index = Pinecone(api_key=API_KEY).Index(host=url, pool_threads=threads)

    def upsert(records: list[dict[str, Any]], namespace: str) -> int:
        futures = [index.upsert(vectors=records[i:i + batch_size], namespace=namespace, async_req=True)
                   for i in range(0, len(records), batch_size)]
        return sum(int(f.get().upserted_count) for f in futures)

    return Contender("sdk-rest", "Index.upsert(async_req=True)", {"batch_size": batch_size, "pool_threads": threads},
                     upsert, index.close)


def make_sdk_rest_asyncio(url: str, batch_size: int, concurrency: int) -> Contender:
    from pinecone.async_client.async_index import AsyncIndex

    loop = asyncio.new_event_loop()
    index = AsyncIndex(host=url, api_key=API_KEY)

    def upsert(records: list[dict[str, Any]], namespace: str) -> int:
        r = loop.run_until_complete(index.upsert(vectors=records, namespace=namespace, batch_size=batch_size,
                                                 max_concurrency=concurrency, show_progress=False))
        return _sdk_result(r, len(records), "AsyncIndex.upsert")

    def close() -> None:
        loop.run_until_complete(index.close())
        loop.close()

    return Contender("sdk-rest", "AsyncIndex.upsert (asyncio)", {"batch_size": batch_size,
                                                                 "max_concurrency": concurrency}, upsert, close)


def grpc_unavailable() -> str:
    """Why the SDK's gRPC transport cannot run here ('' when it can)."""
    try:
        from pinecone._grpc import GrpcChannel  # type: ignore[import-not-found]  # noqa: F401
        from pinecone.grpc import GrpcIndex  # noqa: F401
    except ImportError as e:
        return f"the pinecone SDK has no gRPC transport here ({e}); pip install 'pinecone[grpc]'"
    return ""


def make_sdk_grpc(url: str, batch_size: int, concurrency: int) -> Contender:
    from pinecone.grpc import GrpcIndex

    index = GrpcIndex(host=url, api_key=API_KEY, secure=False, grpc_scheme="http")
    return _sdk_batching("sdk-grpc", "GrpcIndex.upsert", index, batch_size, concurrency)


# --- running ---------------------------------------------------------------------------------------


class Runner:
    def __init__(self, server: FastServer, data: Dataset, chunk: int) -> None:
        self.server = server
        self.data = data
        self.chunk = chunk

    def run(self, c: Contender, lo: int, hi: int, namespace: str) -> Sample:
        """Upsert records lo..hi with c, in calls of self.chunk records; checks every one landed."""
        server = self.server
        before = server.stats()
        build = call = client = srv = busy = 0.0
        acked = 0
        gc.collect()
        for start in range(lo, hi, self.chunk):
            t0 = time.perf_counter()
            records = self.data.build(start, min(hi, start + self.chunk))
            t1 = time.perf_counter()
            c0, s0, m0 = time.process_time(), cpu_seconds(server.pid), machine_busy_seconds()
            t2 = time.perf_counter()
            acked += c.upsert(records, namespace)
            t3 = time.perf_counter()
            c1, s1, m1 = time.process_time(), cpu_seconds(server.pid), machine_busy_seconds()
            del records
            t4 = time.perf_counter()
            build += (t1 - t0) + (t4 - t3)
            call += t3 - t2
            client += c1 - c0
            srv += s1 - s0
            busy += m1 - m0
        after = server.stats()
        n = hi - lo
        counted = after["namespaces"].get(namespace, 0) - before["namespaces"].get(namespace, 0)
        sample = Sample(records=n, acknowledged=acked, server_counted=counted,
                        requests=after["upserts"] - before["upserts"], wire_bytes=after["body_bytes"] - before["body_bytes"],
                        call_seconds=call, build_seconds=build, client_cpu=client, server_cpu=srv,
                        other_cpu=max(0.0, busy - client - srv), rejected=after["rejected"] - before["rejected"])
        if acked != n or counted != n or sample.rejected:
            raise RuntimeError(f"{c.name} ({c.label}): {n} records sent, {acked} acknowledged, the server counted "
                               f"{counted}, {sample.rejected} requests rejected ({after['last_error']})")
        return sample


def probe_wire_bytes(runner: Runner, make: Callable[[], Contender], n: int) -> float:
    """Bytes per record this contender puts in one request body (one call of n records, one request)."""
    c = make()
    try:
        before = runner.server.stats()
        records = runner.data.build(0, n)
        acked = c.upsert(records, "probe")
        after = runner.server.stats()
    finally:
        c.close()
    if acked != n or after["upserts"] - before["upserts"] != 1:
        raise RuntimeError(f"probe of {n} records: {acked} acknowledged in {after['upserts'] - before['upserts']} requests")
    return float(after["body_bytes"] - before["body_bytes"]) / n


def largest_batch(bytes_per_record: float) -> int:
    return max(1, min(MAX_RECORDS, int(MAX_REQUEST_BYTES * BATCH_MARGIN // bytes_per_record)))


def grids(quick: bool, rest_max: int, grpc_max: int, grpc_ok: bool) -> list[tuple[str, Callable[[str], Contender]]]:
    """(name, make(url)) for every setting tuned."""
    out: list[tuple[str, Callable[[str], Contender]]] = []
    for m in ([4] if quick else [2, 4, 8, 16]):
        out.append(("backfill", lambda url, m=m: make_backfill(url, m)))
    for m in ([8] if quick else [4, 8, 16]):
        out.append(("backfill-rest", lambda url, m=m: make_backfill(url, m, "rest")))
    for b in ([rest_max] if quick else [rest_max, max(1, rest_max // 2)]):
        for c in ([8] if quick else [4, 8, 16]):
            out.append(("sdk-rest", lambda url, b=b, c=c: make_sdk_rest(url, b, c)))
    for t in ([8] if quick else [4, 8, 16]):
        out.append(("sdk-rest", lambda url, t=t: make_sdk_rest_async_req(url, rest_max, t)))
    for c in ([8] if quick else [8, 16]):
        out.append(("sdk-rest", lambda url, c=c: make_sdk_rest_asyncio(url, rest_max, c)))
    if grpc_ok:
        for b in ([grpc_max] if quick else [grpc_max, max(1, grpc_max // 2), max(1, grpc_max // 4)]):
            for c in ([8] if quick else [8, 16, 32]):
                out.append(("sdk-grpc", lambda url, b=b, c=c: make_sdk_grpc(url, b, c)))
    return out


# --- the server proof ------------------------------------------------------------------------------


def _pb_varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _pb_len(field_no: int, payload: bytes) -> bytes:
    return _pb_varint(field_no << 3 | 2) + _pb_varint(len(payload)) + payload


def _pb_value(v: Any) -> bytes:
    """google.protobuf.Value for a str, number, bool or list of str."""
    if isinstance(v, bool):
        return _pb_varint(4 << 3) + _pb_varint(int(v))
    if isinstance(v, (int, float)):
        return _pb_varint(2 << 3 | 1) + array.array("d", [float(v)]).tobytes()
    if isinstance(v, str):
        return _pb_len(3, v.encode())
    return _pb_len(6, b"".join(_pb_len(1, _pb_value(x)) for x in v))  # ListValue


def grpc_upsert_body(records: list[dict[str, Any]], namespace: str) -> bytes:
    """A gRPC-framed UpsertRequest, as the SDK's channel sends it (packed float32 values, Struct metadata)."""
    msg = bytearray()
    for r in records:
        struct = b"".join(_pb_len(1, _pb_len(1, k.encode()) + _pb_len(2, _pb_value(v))) for k, v in r["metadata"].items())
        vec = _pb_len(1, r["id"].encode()) + _pb_len(2, array.array("f", r["values"]).tobytes()) + _pb_len(3, struct)
        msg += _pb_len(1, vec)
    msg += _pb_len(2, namespace.encode())
    return b"\x00" + len(msg).to_bytes(4, "big") + bytes(msg)


def _shortest_float32(x: float) -> str:
    f = array.array("f", [x])
    for p in range(6, 10):
        s = f"{x:.{p}g}"
        if array.array("f", [float(s)]) == f:
            return s
    return repr(x)


def backfill_style_record(r: dict[str, Any]) -> str:
    """One record of a JSON upsert body as backfill writes it (shortest float32 values, canonical metadata)."""
    values = ",".join(_shortest_float32(x) for x in r["values"])
    md = json.dumps(r["metadata"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f'{{"id":{json.dumps(r["id"])},"values":[{values}],"metadata":{md}}}'


def backfill_style_body(records: list[dict[str, Any]], namespace: str, limit: int) -> tuple[bytes, int]:
    """As many records as fit in `limit` bytes, packed as backfill packs them: (body, records in it)."""
    head, tail = f'{{"namespace":{json.dumps(namespace)},"vectors":['.encode(), b"]}"
    parts: list[bytes] = []
    size = len(head) + len(tail)
    for r in records:
        one = backfill_style_record(r).encode()
        if size + len(one) + (1 if parts else 0) > limit:
            break
        parts.append(one)
        size += len(one) + (1 if len(parts) > 1 else 0)
    return head + b",".join(parts) + tail, len(parts)


def _blast_result(server: FastServer, before: dict[str, Any], after: dict[str, Any], wall: float, srv: float,
                  busy: float, client: str, protocol: str, requests: int, records: int, body_bytes: int) -> dict[str, Any]:
    answered = after["upserts"] - before["upserts"]
    if answered != requests or after["rejected"] != before["rejected"]:
        raise RuntimeError(f"{client}: the server answered {answered} of {requests} requests "
                           f"({after['rejected'] - before['rejected']} rejected: {after['last_error']})")
    return {"client": client, "protocol": protocol, "requests": requests, "records_per_request": records,
            "body_bytes": body_bytes, "seconds": round(wall, 3),
            "records_per_second": round(requests * records / wall, 1),
            "mb_per_second": round((after["body_bytes"] - before["body_bytes"]) / wall / 1e6, 1),
            "server_cpu_percent": round(srv / wall * 100, 1),
            "server_cpu_us_per_request": round(srv / requests * 1e6, 1),
            "server_cpu_us_per_record": round(srv / (requests * records) * 1e6, 2),
            "machine_cpu_percent": round(busy / wall * 100, 1)}


def curl_blast(server: FastServer, body: Path, records: int, requests: int, parallel: int) -> dict[str, Any]:
    """curl --parallel (HTTP/1.1, keep-alive) sending `requests` copies of a pre-built JSON body."""
    curl = shutil.which("curl")
    client = f"curl --parallel --parallel-max {parallel}"
    if curl is None:
        return {"client": client, "skipped": "curl is not installed"}
    cmd = [curl, "-s", "-S", "-o", "/dev/null", "--parallel", "--parallel-max", str(parallel), "--http1.1",
           "--data-binary", f"@{body}", "-H", f"Api-Key: {API_KEY}", "-H", "Content-Type: application/json",
           "-w", "%{http_code}\\n", f"{server.url}/vectors/upsert?n=[1-{requests}]"]
    before = server.stats()
    s0, m0, t0 = server.cpu_seconds(), machine_busy_seconds(), time.perf_counter()
    p = subprocess.run(cmd, check=False, capture_output=True, timeout=600)
    t1, m1, s1 = time.perf_counter(), machine_busy_seconds(), server.cpu_seconds()
    after = server.stats()
    answered_200 = p.stdout.count(b"200\n")
    if p.returncode != 0 or answered_200 != requests:
        raise RuntimeError(f"{client}: exit {p.returncode}, {answered_200} of {requests} answered 200: "
                           f"{p.stderr.decode(errors='replace')[-500:]}")
    return _blast_result(server, before, after, t1 - t0, s1 - s0, m1 - m0, client, "JSON over HTTP/1.1",
                         requests, records, body.stat().st_size)


def _h2_frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def h2_blast(server: FastServer, body: bytes, records: int, requests: int, parallel: int) -> dict[str, Any]:
    """A bare HTTP/2 client (this function: pre-built frames, one connection, `parallel` streams open)
    sending `requests` gRPC Upsert calls of a pre-built message. curl 7.88 cannot: it fails to reuse an
    HTTP/2 connection for a second upload ("Error in the HTTP2 framing layer"), against nginx too."""
    import socket

    def literal(name: bytes, value: bytes) -> bytes:  # HPACK literal without indexing, lengths < 127
        return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value

    block = (b"\x83\x86" + literal(b":path", b"/VectorService/Upsert") + literal(b":authority", b"127.0.0.1")
             + literal(b"content-type", b"application/grpc") + literal(b"te", b"trailers")
             + literal(b"api-key", API_KEY.encode()))  # 0x83 :method POST, 0x86 :scheme http
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()

    def frames() -> Any:
        while True:
            while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
                n = int.from_bytes(buf[:3], "big")
                kind, flags, stream = buf[3], buf[4], int.from_bytes(buf[5:9], "big")
                payload = bytes(buf[9:9 + n])
                del buf[:9 + n]
                yield kind, flags, stream, payload
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the HTTP/2 connection")
            buf.extend(chunk)

    incoming = frames()
    try:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _h2_frame(4, 0, 0))
        window = False
        for kind, flags, _stream, _payload in incoming:  # the server's SETTINGS, then its WINDOW_UPDATE
            if kind == 4 and not flags & 1:
                sock.sendall(_h2_frame(4, 1, 0))
            if kind == 8:
                window = True
                break
        if not window:
            raise ConnectionError("no WINDOW_UPDATE from the server")
        before = server.stats()
        s0, m0, t0 = server.cpu_seconds(), machine_busy_seconds(), time.perf_counter()
        sent = done = 0
        ok = 0
        while done < requests:
            while sent < requests and sent - done < parallel:
                stream = 2 * sent + 1
                sock.sendall(_h2_frame(1, 0x4, stream, block) + _h2_frame(0, 0x1, stream, body))
                sent += 1
            kind, flags, _stream, payload = next(incoming)
            if kind == 1 and flags & 0x1:  # trailers
                done += 1
                ok += b"grpc-status\x010" in payload
            elif kind == 6 and not flags & 1:
                sock.sendall(_h2_frame(6, 1, 0, payload))
        t1, m1, s1 = time.perf_counter(), machine_busy_seconds(), server.cpu_seconds()
        after = server.stats()
    finally:
        sock.close()
    if ok != requests:
        raise RuntimeError(f"HTTP/2 blast: {ok} of {requests} calls ended with grpc-status 0")
    return _blast_result(server, before, after, t1 - t0, s1 - s0, m1 - m0,
                         f"bare HTTP/2 client (this script), {parallel} streams", "gRPC over HTTP/2 (h2c)",
                         requests, records, len(body))


def engine_blast(server: FastServer, body: bytes, records_per_body: int, requests: int,
                 max_in_flight: int) -> dict[str, Any]:
    """backfill's HTTP engine sending pre-serialized backfill-style bodies: the sink minus building them."""
    from backfill._core import _testing

    client = _testing.HttpClient(max_in_flight=max_in_flight, max_attempts=1, http2=False)
    headers = {"Api-Key": API_KEY, "Content-Type": "application/json", "X-Pinecone-Api-Version": "2025-10"}
    req = {"method": "POST", "url": f"{server.url}/vectors/upsert", "headers": headers, "body": body}
    client.request_many([req])  # connect
    before = server.stats()
    c0, s0, t0 = time.process_time(), server.cpu_seconds(), time.perf_counter()
    done = 0
    while done < requests:  # request_many holds every body of its list: lists of 32
        k = min(32, requests - done)
        out = client.request_many([req] * k)
        if any(r["status"] != 200 for r in out):
            raise RuntimeError(f"engine blast: {[r['status'] for r in out]}")
        done += k
    t1, s1, c1 = time.perf_counter(), server.cpu_seconds(), time.process_time()
    after = server.stats()
    wall = t1 - t0
    return {"client": f"backfill _testing.HttpClient.request_many, max_in_flight={max_in_flight}",
            "protocol": "JSON over HTTP/1.1 (backfill-style bodies, pre-serialized)", "requests": requests,
            "records_per_request": records_per_body, "body_bytes": len(body), "seconds": round(wall, 3),
            "records_per_second": round(requests * records_per_body / wall, 1),
            "mb_per_second": round((after["body_bytes"] - before["body_bytes"]) / wall / 1e6, 1),
            "client_cpu_percent": round((c1 - c0) / wall * 100, 1),
            "server_cpu_percent": round((s1 - s0) / wall * 100, 1),
            "server_cpu_us_per_request": round((s1 - s0) / requests * 1e6, 1)}


# --- reporting -------------------------------------------------------------------------------------


def summarize(c: Contender, samples: list[Sample]) -> dict[str, Any]:
    reps = [s.as_dict() for s in samples]
    keys = ["records_per_second", "records_per_second_with_build", "mb_per_second", "wire_bytes_per_record",
            "records_per_request", "build_us_per_record", "client_cpu_us_per_record", "client_cpu_percent",
            "server_cpu_percent", "server_cpu_us_per_request", "other_cpu_percent", "call_seconds"]
    med = {k: round(median([r[k] for r in reps]), 2) for k in keys}
    rates = [r["records_per_second"] for r in reps]
    return {"contender": c.name, "api": c.api, "settings": c.settings, "label": c.label, "median": med,
            "spread_percent": round((max(rates) - min(rates)) / med["records_per_second"] * 100, 1),
            "every_record_acknowledged": all(r["acknowledged"] == r["records"] == r["server_counted"] for r in reps),
            "server_busy": med["server_cpu_percent"] >= SERVER_BUSY_PERCENT, "repetitions": reps}


def paired_ratio(a: list[dict[str, Any]], b: list[dict[str, Any]], key: str) -> float:
    return median([x[key] / y[key] for x, y in zip(a, b) if y[key] > 0])


def compute_ratios(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by = {r["contender"]: r for r in rows}
    bf = by["backfill"]
    sdk = [r for r in rows if not r["contender"].startswith("backfill")]
    if not sdk:  # backfill's transports alone (--contenders backfill,backfill-rest): nothing to compare with
        return {"goal": GOAL}
    best = max(sdk, key=lambda r: r["median"]["records_per_second"])
    out: dict[str, Any] = {"goal": GOAL, "sdk_best": best["contender"], "sdk_best_label": best["label"]}
    for r in sdk:
        key = r["contender"].replace("-", "_")
        out[f"vs_{key}"] = round(paired_ratio(bf["repetitions"], r["repetitions"], "records_per_second"), 3)
        out[f"vs_{key}_with_build"] = round(
            paired_ratio(bf["repetitions"], r["repetitions"], "records_per_second_with_build"), 3)
        out[f"cpu_per_record_vs_{key}"] = round(
            paired_ratio(bf["repetitions"], r["repetitions"], "client_cpu_us_per_record"), 3)
    if "backfill-rest" in by:
        out["rest_vs_sdk_best"] = round(
            paired_ratio(by["backfill-rest"]["repetitions"], best["repetitions"], "records_per_second"), 3)
    out["vs_sdk_best"] = out[f"vs_{best['contender'].replace('-', '_')}"]
    out["vs_sdk_best_with_build"] = out[f"vs_{best['contender'].replace('-', '_')}_with_build"]
    out["goal_met"] = out["vs_sdk_best"] >= GOAL
    return out


def markdown(result: dict[str, Any]) -> str:
    s = result["settings"]
    v = result["versions"]
    h = result["host"]
    lines = [
        (f"Pinecone upsert benchmark, {result['created_at']}: {s['records']:,} records × {s['repetitions']} rounds, "
         f"dimension {s['dimension']}, ~{s['metadata_bytes_mean']:.0f} B metadata; calls of {s['chunk']:,} records; "
         f"no client rate limit on either side; server: bench/pinecone_fast_server.py ({s['server_mode']})."),
        (f"Machine: {h['cpus']} × {h['cpu']}, Linux {h['kernel']}, Python {h['python']}. "
         f"Versions: backfill {v.get('backfill', '?')} ({v.get('backfill_commit', '?')}), pinecone "
         f"{v.get('pinecone', '?')}, httpx {v.get('httpx', '?')}, orjson {v.get('orjson', '?')}, "
         f"curl {v.get('curl', '?')}."),
        f"Command: `{result['command']}`",
        "",
        ("| contender | API and settings | records/s | with build | wire MB/s | wire B/record | records/request "
         "| client CPU µs/record | client CPU % | server CPU % | other CPU % | spread % |"),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        m = r["median"]
        lines.append(f"| {r['contender']} | {r['label']} | {m['records_per_second']:,.0f} "
                     f"| {m['records_per_second_with_build']:,.0f} | {m['mb_per_second']:,.1f} "
                     f"| {m['wire_bytes_per_record']:,.0f} | {m['records_per_request']:,.0f} "
                     f"| {m['client_cpu_us_per_record']:,.1f} | {m['client_cpu_percent']:.0f} "
                     f"| {m['server_cpu_percent']:.0f} | {m['other_cpu_percent']:.0f} | {r['spread_percent']:.0f} |")
    q = result["ratios"]
    lines += ["", "| ratio (median of per-round ratios) | value |", "|---|---:|"]
    for key in sorted(k for k in q if k.startswith("vs_")):
        lines.append(f"| backfill ÷ {key[3:].replace('_with_build', ' (with build)').replace('_', '-')} "
                     f"records/s | {q[key]:.2f}× |")
    for key in sorted(k for k in q if k.startswith("cpu_per_record_vs_")):
        lines.append(f"| backfill ÷ {key[18:].replace('_', '-')} client CPU per record | {q[key]:.2f}× |")
    if "rest_vs_sdk_best" in q:
        lines.append(f"| backfill-rest ÷ {q['sdk_best']} records/s | {q['rest_vs_sdk_best']:.2f}× |")
    if "sdk_best" in q:
        lines.append(f"| goal: backfill ≥ {q['goal']:.0f}× the SDK's best ({q['sdk_best']}) "
                     f"| {'met' if q['goal_met'] else 'NOT met'} ({q['vs_sdk_best']:.2f}×) |")
    build = result["dict_build_us_per_record"]
    lines += ["", f"Building the dicts (the same for every contender): {build:.1f} µs/record, median.", "",
              "Server proof (is the server fast enough?):", "",
              ("| client | protocol | requests | records/request | records/s | MB/s | server CPU % "
               "| server CPU µs/request |"), "|---|---|---:|---:|---:|---:|---:|---:|"]
    for b in result["server_proof"]:
        if "skipped" in b:
            lines.append(f"| {b.get('client', '?')} | skipped: {b['skipped']} | | | | | | |")
            continue
        lines.append(f"| {b['client']} | {b['protocol']} | {b['requests']} | {b['records_per_request']} "
                     f"| {b['records_per_second']:,.0f} | {b['mb_per_second']:,.0f} | {b['server_cpu_percent']:.0f} "
                     f"| {b['server_cpu_us_per_request']:,.0f} |")
    return "\n".join(lines)


def versions() -> dict[str, str]:
    out = _versions("pinecone", "httpx", "orjson", "msgspec")
    if curl_version():
        out["curl"] = curl_version()
    return out


# --- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: few records, one round, small grid, validating server")
    ap.add_argument("--records", type=int, help="records per round (default 50000; --quick 600)")
    ap.add_argument("--dimension", type=int, default=1536)
    ap.add_argument("--seed", type=int, default=20251)
    ap.add_argument("--repetitions", type=int, help="rounds (default 5; --quick 1)")
    ap.add_argument("--chunk", type=int, default=10_000, help="records per upsert call (default 10000)")
    ap.add_argument("--tune-records", type=int, help="records per tuning run (default 10000; --quick 300)")
    ap.add_argument("--no-tune", action="store_true", help="skip tuning; use the defaults of each client")
    ap.add_argument("--contenders", default="backfill,backfill-rest,sdk-rest,sdk-grpc")
    ap.add_argument("--validate", action="store_true", help="the server parses and checks every body (slower; "
                    "default with --quick)")
    ap.add_argument("--quiet-wait", type=float, default=10.0, help="before each round, wait up to this many seconds "
                    "for the rest of the machine to go under a quarter of a core")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "pinecone.json")
    args = ap.parse_args(argv)
    n = args.records or (600 if args.quick else 50_000)
    reps = args.repetitions or (1 if args.quick else 5)
    tune_n = min(n, args.tune_records or (300 if args.quick else 10_000))
    chunk = min(args.chunk, n)
    validate = args.validate or args.quick
    wanted = [c.strip() for c in args.contenders.split(",") if c.strip()]
    if "backfill" not in wanted or len(wanted) < 2:
        ap.error("--contenders needs backfill and at least one of backfill-rest, sdk-rest, sdk-grpc")
    started = time.perf_counter()

    try:
        import pinecone  # noqa: F401
    except ImportError:
        print("pinecone_bench: the pinecone SDK is not installed: .venv/bin/pip install pinecone", file=sys.stderr)
        return 2
    why_no_grpc = grpc_unavailable()
    if why_no_grpc and "sdk-grpc" in wanted:
        print(f"pinecone_bench: {why_no_grpc}: sdk-grpc skipped", file=sys.stderr)
        wanted.remove("sdk-grpc")

    t = time.perf_counter()
    data = make_dataset(n, args.dimension, args.seed)
    md_sizes = [len(json.dumps(m, separators=(",", ":"))) for m in data.metadata]
    print(f"pinecone_bench: {n:,} records of dimension {args.dimension} made in {time.perf_counter() - t:.1f} s "
          f"(metadata {statistics.mean(md_sizes):.0f} B mean)", flush=True)

    rounds: list[dict[str, Any]] = []
    tuning: list[dict[str, Any]] = []
    with FastServer(validate=validate, dimension=args.dimension) as server:
        runner = Runner(server, data, chunk)
        print(f"pinecone_bench: server on {server.url} (pid {server.pid}, "
              f"{'validating every body' if validate else 'counting records without parsing'})", flush=True)

        # Batch sizes: the most records per request under Pinecone's 2 MB limit, per transport.
        probe_n = min(n, 20)
        rest_bpr = probe_wire_bytes(runner, lambda: make_sdk_rest(server.url, probe_n, 1), probe_n)
        rest_max = largest_batch(rest_bpr)
        grpc_bpr = probe_wire_bytes(runner, lambda: make_sdk_grpc(server.url, probe_n, 1), probe_n) \
            if "sdk-grpc" in wanted else 0.0
        grpc_max = largest_batch(grpc_bpr) if grpc_bpr else 0
        print(f"pinecone_bench: the SDK sends {rest_bpr:,.0f} B/record over REST (batches of <= {rest_max}) and "
              f"{grpc_bpr:,.0f} B/record over gRPC (batches of <= {grpc_max})", flush=True)

        # Tuning: every setting once on tune_n records; the fastest per contender is measured.
        settings = [(name, make) for name, make in grids(args.quick, rest_max, grpc_max, "sdk-grpc" in wanted)
                    if name in wanted]
        chosen: dict[str, Callable[[str], Contender]] = {}
        if args.no_tune:
            defaults = {"backfill": lambda url: make_backfill(url, 4),
                        "backfill-rest": lambda url: make_backfill(url, 16, "rest"),
                        "sdk-rest": lambda url: make_sdk_rest(url, rest_max, 8),
                        "sdk-grpc": lambda url: make_sdk_grpc(url, grpc_max, 8)}
            chosen = {k: v for k, v in defaults.items() if k in wanted}
        else:
            best: dict[str, float] = {}
            for name, make in settings:
                c = make(server.url)
                try:
                    runner.run(c, 0, min(tune_n, 200), "tune-warmup")
                    sample = runner.run(c, 0, tune_n, f"tune-{name}")
                finally:
                    c.close()
                rate = sample.records / sample.call_seconds
                tuning.append({"contender": name, "api": c.api, "settings": c.settings, "label": c.label,
                               "records": tune_n, "records_per_second": round(rate, 1),
                               "other_cpu_percent": sample.as_dict()["other_cpu_percent"]})
                print(f"pinecone_bench: tune {name:9} {c.label:60} {rate:9,.0f} records/s", flush=True)
                if rate > best.get(name, 0):
                    best[name], chosen[name] = rate, make

        contenders = [chosen[name](server.url) for name in wanted]
        samples: dict[str, list[Sample]] = {c.name: [] for c in contenders}
        try:
            for c in contenders:  # warm-up: connections open, code paths hot
                runner.run(c, 0, min(n, 2000), f"warmup-{c.name}")
            for rnd in range(reps):
                waited, busy = wait_for_quiet(args.quiet_wait)
                order = rotated(contenders, rnd)
                entry = round_entry(rnd, [c.name for c in order], waited, busy)
                for c in order:
                    s = runner.run(c, 0, n, c.name)
                    samples[c.name].append(s)
                    entry[c.name] = round(s.records / s.call_seconds, 1)
                rounds.append(entry)
                print(f"pinecone_bench: round {rnd + 1}/{reps}: " + ", ".join(
                    f"{c.name} {samples[c.name][-1].records / samples[c.name][-1].call_seconds:,.0f}"
                    for c in contenders) + " records/s", flush=True)
        finally:
            for c in contenders:
                c.close()

        # Server proof: what the server sustains when the client does nothing but send.
        proof: list[dict[str, Any]] = []
        blast_n = 16 if args.quick else 200
        with tempfile.TemporaryDirectory(prefix="pinecone-bench-") as tmp:
            json_records = data.build(0, min(n, rest_max))
            sdk_like = (json.dumps({"vectors": json_records, "namespace": "blast-json"}, separators=(",", ":"))).encode()
            json_body = Path(tmp) / "upsert.json"
            json_body.write_bytes(sdk_like)
            proof.append(curl_blast(server, json_body, len(json_records), blast_n, 8))
            if grpc_max:
                grpc_records = data.build(0, min(n, grpc_max))
                proof.append(h2_blast(server, grpc_upsert_body(grpc_records, "blast-grpc"), len(grpc_records),
                                      blast_n, 8))
            # as many records as backfill packs into one request
            bf_body, bf_count = backfill_style_body(data.build(0, min(n, 400)), "blast-engine", MAX_REQUEST_BYTES)
            rest_bf = [c for c in contenders if c.name == "backfill-rest"]
            bf_mif = rest_bf[0].settings.get("max_in_flight", 16) if rest_bf else 16
            proof.append(engine_blast(server, bf_body, bf_count, blast_n, int(bf_mif)))
        for b in proof:
            if "skipped" not in b:
                print(f"pinecone_bench: proof {b['client']}: {b['records_per_second']:,.0f} records/s, "
                      f"server CPU {b['server_cpu_percent']:.0f} %", flush=True)
        final_stats = server.stats()

    rows = [summarize(c, samples[c.name]) for c in contenders]
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "bench/pinecone_bench.py", *(argv or sys.argv[1:])]),
        "quick": args.quick,
        "duration_seconds": round(time.perf_counter() - started, 1),
        "settings": {"records": n, "dimension": args.dimension, "seed": args.seed, "repetitions": reps, "chunk": chunk,
                     "tune_records": tune_n, "tuned": not args.no_tune,
                     "metadata_bytes_mean": round(statistics.mean(md_sizes), 1),
                     "server_mode": "validating every body" if validate else "counting records without parsing",
                     "rate_limit": "none (backfill rate=0.0, byte_rate=0.0; the SDK has no client-side rate limit)",
                     "max_request_bytes": MAX_REQUEST_BYTES, "max_records_per_request": MAX_RECORDS,
                     "sdk_rest_bytes_per_record": round(rest_bpr, 1), "sdk_rest_max_batch": rest_max,
                     "sdk_grpc_bytes_per_record": round(grpc_bpr, 1), "sdk_grpc_max_batch": grpc_max},
        "skipped": {"sdk-grpc": why_no_grpc} if why_no_grpc else {},
        "host": {"cpus": os.cpu_count(), "cpu": cpu_model(), "kernel": platform.release(),
                 "python": platform.python_version(), "hostname": platform.node()},
        "versions": versions(),
        "tuning": tuning,
        "rounds": rounds,
        "rows": rows,
        "ratios": compute_ratios(rows),
        "dict_build_us_per_record": round(median([r["median"]["build_us_per_record"] for r in rows]), 2),
        "server_proof": proof,
        "server_totals": {k: final_stats[k] for k in ("requests", "upserts", "records", "body_bytes", "rejected")},
    }
    table = markdown(result)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(table + "\n")
    print()
    print(table)
    busy = [r["contender"] for r in rows if r["server_busy"]]
    if busy:
        print(f"\nwarning: the server was >= {SERVER_BUSY_PERCENT:.0f}% of a core busy during {', '.join(busy)}: "
              "there it may set the pace", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
