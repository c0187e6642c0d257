"""A local Pinecone data-plane server for tests: the shapes of the official 2025-10 spec, the limits of
shared/API_FACTS.md section 1, and switchable failure modes. A test fixture, never part of the package.

    with PineconeFake(dimension=8) as pc:         # 127.0.0.1, ephemeral port, api key "pk-test-secret"
        ...                                        # point a client at pc.url
        pc.lag_count(seconds=2)                    # describe_index_stats shows the count of 2 s ago
        pc.lossy(fraction=0.1)                     # acknowledge upserts, silently drop 10 % of the ids
        pc.fail_next(3, status=429, retry_after=1) # the next 3 requests get 429 with an rpcStatus body
        pc.short_ack(missing=2)                    # the next upsert acknowledges 2 vectors fewer than sent
        pc.take_violations()                       # every request it rejected as breaking a limit or the spec
        pc.rest_only()                             # HTTP/1.1 only (a proxy, an old load balancer): no gRPC
        pc.rest_only(silent=True)                  # ... and an HTTP/2 preface is never answered at all
    with PineconeFake(tls=True) as pc:             # HTTPS (REST, and gRPC by ALPN h2) on the same port:
        ...                                        # pc.url is https://127.0.0.1:PORT, verify against pc.ca_file

Endpoints (spec ``db_data_2025-10.oas.yaml``): ``POST /vectors/upsert``, ``GET /vectors/fetch``,
``POST /vectors/delete``, ``GET /vectors/list``, ``POST /describe_index_stats``, ``POST /query``. They
answer over HTTP/1.1, and over HTTP/2 too (as Pinecone does): on an HTTP/2 connection every request
that is not a gRPC call (content type ``application/grpc``, or a ``/VectorService/`` path) is REST,
logged with ``RequestLog.http_version == "2"``; that is what libcurl sends when TLS offers h2.

gRPC, on the same port (HTTP/2 with prior knowledge, told apart by its connection preface; with
``tls=True``, HTTP/2 over TLS chosen by ALPN "h2"; framing by the ``h2`` library):
``VectorService/Upsert`` and ``VectorService/DescribeIndexStats`` (an empty request: the counts and the
dimension, logged as ``POST /describe_index_stats`` with ``transport == "grpc"``) of
``db_data_2025-10.proto``. The proto binds that call
to ``POST /vectors/upsert``, and the fake treats it as the same operation: the request is decoded into
the REST body's shape and goes through the same checks and switches, into the same store; it is
logged as ``POST /vectors/upsert`` with ``RequestLog.transport == "grpc"`` and its ``grpc_status``
(``fail_next(paths=["/vectors/upsert"])`` applies to both transports). Answers: ``UpsertResponse`` and
grpc-status 0 in the trailers; a refusal is a trailers-only response whose grpc-status is the
rpcStatus code (401: UNAUTHENTICATED, 400: INVALID_ARGUMENT), an injected 429 is RESOURCE_EXHAUSTED
and an injected 5xx UNAVAILABLE, with a percent-encoded grpc-message. The 2 MB limit applies to the
protobuf message.

What it enforces, each rejection answered with an rpcStatus body ``{"code", "message", "details"}``
and recorded in :attr:`PineconeFake.violations`:

- ``Api-Key`` header missing or wrong: 401 (code 16);
- a request body over 2 MB (``max_request_bytes``, 2,000,000 by default): 400, "Request size ... exceeds
  the maximum supported size of 2MB";
- each JSON body validated against the spec's request schema (UpsertRequest, DeleteRequest, QueryRequest,
  DescribeIndexStatsRequest) with jsonschema; the array bounds the spec writes as ``minLength`` /
  ``maxLength`` (1..1000 vectors, <= 20000 values, <= 1000 ids, ...) are enforced on arrays too;
- upsert: values of the index's dimension (else 400 ``{"code":3,"message":"Vector dimension X does not
  match the dimension of the index Y","details":[]}``), at least one non-zero value, metadata values
  string / number / boolean / list of strings only (null and nested objects: 400), metadata at most 40,960
  bytes per vector as compact UTF-8 JSON (else 400 "metadata size is N bytes, which exceeds the limit of
  40960 bytes per vector");
- fetch: 1..1000 ids, no spaces; delete: ids, deleteAll and filter exclusive; query: ``vector`` xor ``id``,
  of the index's dimension; describe_index_stats: no filter (serverless).

Not rejected but noted in :attr:`PineconeFake.warnings`: a missing ``X-Pinecone-Api-Version`` header
(Pinecone then uses its oldest supported version), a body without ``Content-Type: application/json``,
top-level body fields the spec does not know (Pinecone ignores them, so a misspelt option silently does
nothing), the same id twice in one upsert, an empty describe_index_stats body.

The omitted namespace, ``""`` and ``"__default__"`` are one namespace; describe_index_stats reports it under
``default_namespace_key`` (``"__default__"`` unless told otherwise). Writes answer with an increasing
``x-pinecone-request-lsn`` header. Vector values are stored as float32 (as Pinecone stores them) and metadata
numbers as float64; an integral number comes back without a fraction, as protobuf JSON writes it.

Dependencies beyond the standard library: PyYAML (to read the spec), jsonschema, and h2 (gRPC).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import socket
import struct
import sys
import threading
import time
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import jsonschema
import yaml
from jsonschema import validators

from fake_base import FakeHandler, FakeServer, ServedFake, find_spec

__all__ = ["DEFAULT_API_KEY", "METADATA_LIMIT", "PineconeFake", "RequestLog", "Violation", "load_spec", "varint",
           "metadata_bytes", "spec_path"]

DEFAULT_API_KEY = "pk-test-secret"
METADATA_LIMIT = 40960
MAX_REQUEST_BYTES = 2_000_000
MAX_IDS = 1000
DEFAULT_NS = "__default__"
SPEC_NAME = "db_data_2025-10.oas.yaml"
REQUEST_SCHEMAS = {
    "/vectors/upsert": "UpsertRequest",
    "/vectors/delete": "DeleteRequest",
    "/query": "QueryRequest",
    "/describe_index_stats": "DescribeIndexStatsRequest",
}
GET_PATHS = ("/vectors/fetch", "/vectors/list")
# gRPC codes of rpcStatus.code by HTTP status.
GRPC_CODE = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 411: 3, 413: 3, 414: 3, 415: 3, 429: 8,
             500: 13, 502: 14, 503: 14, 504: 4}
FAULT_MESSAGES = {
    429: "Request failed. You've reached the max write units per second for namespace {ns} in this index. "
         "Wait a bit and try again, or reduce the rate of your requests.",
    500: "Internal error. Please retry with exponential backoff.",
    502: "Bad gateway.",
    503: "Service unavailable. Please retry with exponential backoff.",
    504: "Deadline exceeded.",
}


# --- the spec ----------------------------------------------------------------------------------


def spec_path() -> Path:
    """The official Pinecone data-plane spec (see fake_base.find_spec for where it is looked for)."""
    return find_spec("pinecone", SPEC_NAME, "Pinecone data-plane spec")


_SPEC_LOCK = threading.Lock()
_SPEC: dict[str, Any] | None = None


def load_spec() -> dict[str, Any]:
    """The parsed spec (cached for the process)."""
    global _SPEC
    with _SPEC_LOCK:
        if _SPEC is None:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            with open(spec_path(), encoding="utf-8") as f:
                _SPEC = yaml.load(f, Loader=loader)
        return _SPEC


def _length_bound(kind: str) -> Any:
    """minLength/maxLength that also bound arrays: the spec writes its array limits that way, and a
    JSON-Schema validator would otherwise ignore them (API_FACTS "Spec quirks")."""

    def check(validator: Any, bound: Any, instance: Any, schema: Any) -> Any:
        if isinstance(instance, (str, list)):
            n = len(instance)
            what = "characters" if isinstance(instance, str) else "items"
            if kind == "min" and n < bound:
                yield jsonschema.ValidationError(f"has {n} {what}, fewer than the minimum of {bound}")
            if kind == "max" and n > bound:
                yield jsonschema.ValidationError(f"has {n} {what}, more than the maximum of {bound}")

    return check


SpecValidator = validators.extend(
    validators.Draft4Validator, {"minLength": _length_bound("min"), "maxLength": _length_bound("max")}
)

_VALIDATORS: dict[str, Any] = {}


def request_validator(schema_name: str) -> Any:
    with _SPEC_LOCK:
        v = _VALIDATORS.get(schema_name)
    if v is None:
        spec = load_spec()
        v = SpecValidator({"$ref": f"#/components/schemas/{schema_name}", "components": spec["components"]})
        with _SPEC_LOCK:
            _VALIDATORS[schema_name] = v
    return v


def _schema_properties(schema_name: str) -> set[str]:
    return set(load_spec()["components"]["schemas"][schema_name].get("properties", {}))


def _bounds(schema_name: str, prop: str) -> tuple[int, int]:
    p = load_spec()["components"]["schemas"][schema_name]["properties"][prop]
    return int(p.get("minLength", 0)), int(p.get("maxLength", 1 << 62))


def _check_numeric(where: str, values: list[Any], bounds: tuple[int, int], integer: bool) -> None:
    lo, hi = bounds
    if len(values) < lo:
        raise Rejection(400, f"{where}: has {len(values)} items, fewer than the minimum of {lo}", "schema")
    if len(values) > hi:
        raise Rejection(400, f"{where}: has {len(values)} items, more than the maximum of {hi}", "schema")
    ok = (int,) if integer else (int, float)
    for i, x in enumerate(values):
        if type(x) not in ok:
            raise Rejection(400, f"{where}/{i}: {x!r} is not of type {'integer' if integer else 'number'}", "schema")


def _shrink_numeric_arrays(schema: str, body: Any) -> Any:
    """Checks the long number arrays (vector values, sparse values) against the spec's bounds and item
    types here, at C speed, and hands jsonschema a copy where each holds one item: validating 1,500
    vectors of 512 floats item by item would take jsonschema ten seconds. Everything else is validated
    by jsonschema as sent."""
    if not isinstance(body, dict):
        return body

    def sparse(where: str, sv: Any) -> Any:
        if not isinstance(sv, dict):
            return sv
        sv = dict(sv)
        for key, integer in (("indices", True), ("values", False)):
            if isinstance(sv.get(key), list) and sv[key]:
                _check_numeric(f"invalid {schema}: {where}/{key}", sv[key], _bounds("SparseValues", key), integer)
                sv[key] = sv[key][:1]
        return sv

    out = dict(body)
    if schema == "UpsertRequest" and isinstance(body.get("vectors"), list):
        vecs = []
        for n, v in enumerate(body["vectors"]):
            if isinstance(v, dict):
                v = dict(v)
                if isinstance(v.get("values"), list) and v["values"]:
                    _check_numeric(f"invalid {schema}: vectors/{n}/values", v["values"], _bounds("Vector", "values"),
                                   False)
                    v["values"] = v["values"][:1]
                if "sparseValues" in v:
                    v["sparseValues"] = sparse(f"vectors/{n}/sparseValues", v["sparseValues"])
            vecs.append(v)
        out["vectors"] = vecs
    if schema == "QueryRequest":
        if isinstance(body.get("vector"), list) and body["vector"]:
            _check_numeric(f"invalid {schema}: vector", body["vector"], _bounds("QueryRequest", "vector"), False)
            out["vector"] = body["vector"][:1]
        if "sparseVector" in body:
            out["sparseVector"] = sparse("sparseVector", body["sparseVector"])
    return out


# --- helpers -----------------------------------------------------------------------------------


def metadata_bytes(metadata: Mapping[str, Any]) -> int:
    """Size of metadata as Pinecone measures it here: compact JSON, UTF-8."""
    return len(json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _out_number(x: float) -> float | int:
    """A stored float64 as protobuf JSON writes it: integral values without a fraction."""
    if math.isfinite(x) and x.is_integer() and abs(x) < 1e21:
        return int(x)
    return x


def _out_metadata(md: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in md.items():
        out[k] = _out_number(v) if isinstance(v, float) else v
    return out


def _canonical_ns(ns: str | None) -> str:
    return "" if ns is None or ns == "" or ns == DEFAULT_NS else ns


def _c_sort_key(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")


class Rejection(Exception):
    def __init__(self, status: int, message: str, kind: str, code: int | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.code = GRPC_CODE.get(status, 2) if code is None else code
        self.headers = dict(headers or {})


@dataclass
class Violation:
    """A request the fake rejected for breaking a limit, the spec or auth."""

    kind: str            # auth, request_size, json, schema, dimension, metadata_size, metadata_null, ...
    method: str
    path: str
    status: int
    message: str

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status} [{self.kind}] {self.message}"


@dataclass
class RequestLog:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]          # lowercased names
    body_bytes: int
    body: Any                        # parsed JSON, or None
    t: float                         # time.monotonic() on arrival
    url_bytes: int = 0
    status: int = 0
    injected: bool = False           # answered by fail_next
    response_headers: dict[str, str] = field(default_factory=dict)
    transport: str = "rest"          # "grpc" for VectorService/Upsert (logged as POST /vectors/upsert)
    grpc_status: int | None = None   # of a gRPC call
    http_version: str = "1.1"        # "2" for a request over HTTP/2 (gRPC, or REST on an h2 connection)


@dataclass
class _Fault:
    remaining: int
    status: int
    retry_after: str | None
    paths: frozenset[str] | None
    message: str | None


# --- the server --------------------------------------------------------------------------------


class _Handler(FakeHandler):
    server_version = "pinecone-fake"
    MAX_LINE = 1 << 22   # request line; Pinecone publishes no URL limit, so only absurd ones are refused
    speaks_http2 = True  # gRPC: h2c, and "h2" offered by ALPN with tls=True

    def on_long_line(self) -> None:
        self.server.fake._violation("url_length", "?", "?", 414, "request line too long")

    def on_http2(self) -> bool:
        mode = self.server.fake.http2_mode
        if mode == "refuse":
            return False  # answered as a bad HTTP/1.1 request, as an HTTP/1.1-only server does
        rest = self.rfile.read(len(H2_PREFACE_REST))
        if rest != H2_PREFACE_REST:
            return False
        if mode == "silent":
            # The preface read and never answered (the server waits for an HTTP/1.1 request that
            # never comes), until the client gives up and closes.
            try:
                while self.rfile.read(1):
                    pass
            except OSError:
                pass
            return True
        _H2Connection(self.server.fake, self).serve()
        return True

    def read_body(self) -> bytes:
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            chunks = []
            while True:
                line = self.rfile.readline(1 << 16)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1 << 16) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1 << 16)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""


class _Server(FakeServer):
    handler = _Handler


def pinecone_problems(fake: PineconeFake) -> list[str]:
    """What a test's fake saw that breaks Pinecone's limits or spec, and what it warned of."""
    return [f"violation: {v}" for v in fake.take_violations()] + [f"warning: {w}" for w in fake.take_warnings()]


class PineconeFake(ServedFake):
    """An in-memory Pinecone index (one fixed dimension) behind a local HTTP/1.1 server (and gRPC over
    HTTP/2). With ``tls=True`` both are served over TLS on the same port, with a certificate that
    verifies against :attr:`ca_file` (see fake_base); everything else is the same."""

    thread_name = "pinecone-fake"

    def __init__(
        self,
        dimension: int = 8,
        api_key: str = DEFAULT_API_KEY,
        *,
        metric: str = "cosine",
        default_namespace_key: str = DEFAULT_NS,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        metadata_limit: int = METADATA_LIMIT,
        tls: bool = False,
    ) -> None:
        if metric not in ("cosine", "dotproduct", "euclidean"):
            raise ValueError(f"metric {metric!r}")
        self.dimension = dimension
        self.api_key = api_key
        self.metric = metric
        self.http2_mode = "serve"  # "refuse" or "silent": rest_only()
        self.default_namespace_key = default_namespace_key
        self.max_request_bytes = max_request_bytes
        self.metadata_limit = metadata_limit
        self.tls = tls
        self._lock = threading.RLock()
        self._ns: dict[str, dict[str, dict[str, Any]]] = {}
        self.violations: list[Violation] = []
        self.warnings: list[str] = []
        self.requests: list[RequestLog] = []
        self.dropped: list[str] = []        # ids a lossy upsert acknowledged but did not store
        self.unacked: list[str] = []        # ids a short-acked upsert did not store (nor count)
        self.lsn = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.stats_calls = 0
        self.upsert_latency = 0.0           # seconds added to every upsert (benchmarks)
        self.h2_connections = 0             # HTTP/2 connections opened (gRPC)
        self.max_data_frame = 0             # the largest HTTP/2 DATA frame received
        self._grpc_disconnects = 0          # gRPC calls still to be cut off (connection closed)
        self._grpc_goaway_after = 0         # calls a connection answers before its GOAWAY (0: never)
        # switches
        self._lag_seconds = 0.0
        self._lag_calls = 0
        self._calls_left = 0
        self._visible: dict[str, int] = {}
        self._history: list[tuple[float, dict[str, int]]] = [(time.monotonic(), {})]
        self._lossy_fraction = 0.0
        self._lossy_ids: set[str] = set()
        self._lossy_seed = 0
        self._short_ack: list[int] = []
        self._write_limits: dict[str, float] = {}          # rate_limit()
        self._write_buckets: dict[str, dict[str, list[float]]] = {}
        self.throttled = 0                                  # upserts refused by rate_limit()
        self._faults: list[_Fault] = []
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def _new_server(self) -> _Server:
        load_spec()  # fail here, not in a handler, when the spec cannot be found
        return _Server(self)

    # -- switches ---------------------------------------------------------------------------------

    def lag_count(self, seconds: float = 0.0, calls: int = 0) -> None:
        """describe_index_stats shows counts as they were ``seconds`` ago, or (``calls``) the counts of
        before the last write until ``calls`` stats calls have been made since it. 0 and 0: no lag."""
        with self._lock:
            self._lag_seconds = float(seconds)
            self._lag_calls = int(calls)
            self._calls_left = 0
            self._visible = self._counts()
            self._history = [(time.monotonic(), self._counts())]

    def lossy(self, fraction: float = 0.0, ids: Iterable[str] = (), seed: int = 0) -> None:
        """Upserts are acknowledged in full, but the given ids, and a deterministic ``fraction`` of all
        ids (by a hash of seed and id), are silently not stored. They are listed in :attr:`dropped`."""
        with self._lock:
            self._lossy_fraction = float(fraction)
            self._lossy_ids = set(ids)
            self._lossy_seed = seed

    def grpc_disconnect(self, n: int) -> None:
        """The next ``n`` gRPC calls are not answered: their connection closes once the request has
        arrived (a server that crashed or a load balancer that dropped the connection)."""
        with self._lock:
            self._grpc_disconnects = n

    def grpc_goaway_after(self, n: int) -> None:
        """Every HTTP/2 connection answers ``n`` gRPC calls, then sends GOAWAY (NO_ERROR, naming the
        last call it answered) and closes, as servers with a maximum connection age do; calls still
        open on it are cut off. 0: never."""
        with self._lock:
            self._grpc_goaway_after = n

    def rest_only(self, *, silent: bool = False) -> None:
        """Speaks HTTP/1.1 only, as a proxy or load balancer in front of an index may: an HTTP/2
        connection preface (what a gRPC client opens with) is refused as a bad request, or with
        ``silent`` read and never answered."""
        self.http2_mode = "silent" if silent else "refuse"

    def fail_next(self, n: int, status: int = 429, *, retry_after: float | str | None = None,
                  paths: Iterable[str] | None = None, message: str | None = None) -> None:
        """The next ``n`` requests (to ``paths``, or any) are answered ``status`` with an rpcStatus body,
        and ``Retry-After`` when given; they change nothing. Queued faults are consumed in order."""
        ra = None if retry_after is None else (retry_after if isinstance(retry_after, str) else f"{retry_after:g}")
        with self._lock:
            self._faults.append(_Fault(n, status, ra, frozenset(paths) if paths is not None else None, message))

    def rate_limit(self, *, upserts_per_second: float | None = None, bytes_per_second: float | None = None) -> None:
        """Pinecone's write limits per namespace (shared/API_FACTS.md: 100 upserts a second, 50 MB a second on
        serverless) as token buckets of one second's worth, full at first and refilled continuously. An
        upsert that does not fit (REST or gRPC) is refused with 429 TOO_MANY_REQUESTS (gRPC
        RESOURCE_EXHAUSTED) naming the limit, and without Retry-After, as Pinecone does; it spends nothing.
        ``None`` for both turns them off."""
        with self._lock:
            self._write_limits = {k: float(v) for k, v in (("requests", upserts_per_second),
                                                            ("bytes", bytes_per_second)) if v}
            self._write_buckets = {}
            self.throttled = 0

    def _throttle(self, namespace: str | None, size: int) -> None:
        """Takes one upsert of ``size`` bytes from the namespace's buckets, or raises the 429."""
        with self._lock:
            if not self._write_limits:
                return
            ns = _canonical_ns(namespace)
            now = time.monotonic()
            buckets = self._write_buckets.setdefault(ns, {k: [v, now] for k, v in self._write_limits.items()})
            cost = {"requests": 1.0, "bytes": float(size)}
            for name, limit in self._write_limits.items():
                level, at = buckets[name]
                buckets[name] = [min(limit, level + (now - at) * limit), now]
            for name, limit in self._write_limits.items():
                if buckets[name][0] < min(cost[name], limit):
                    self.throttled += 1
                    what = "upsert requests" if name == "requests" else "upsert bytes"
                    raise Rejection(429, f"Request failed. You've reached the max {what} per second ({limit:g}) for "
                                         f"namespace {ns} in this index. Wait a bit and try again, or reduce the "
                                         "rate of your requests.", "rate_limit")
            for name in self._write_limits:
                buckets[name][0] -= cost[name]

    def short_ack(self, missing: int = 1, times: int = 1) -> None:
        """The next ``times`` upserts store all but their last ``missing`` vectors and answer an
        ``upsertedCount`` that is ``missing`` short. The ids left out are listed in :attr:`unacked`."""
        with self._lock:
            self._short_ack.extend([missing] * times)

    def reset_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._short_ack.clear()
            self._lossy_fraction = 0.0
            self._lossy_ids = set()
            self._lag_seconds = 0.0
            self._lag_calls = 0

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return sum(f.remaining for f in self._faults) + len(self._short_ack)

    # -- inspection -------------------------------------------------------------------------------

    def take_violations(self) -> list[Violation]:
        """Returns and clears the violations recorded so far."""
        with self._lock:
            out, self.violations = self.violations, []
            return out

    def take_warnings(self) -> list[str]:
        with self._lock:
            out, self.warnings = self.warnings, []
            return out

    def vectors(self, namespace: str | None = "") -> dict[str, dict[str, Any]]:
        """One namespace's records as fetch returns them: id -> {"id", "values", "metadata"?}."""
        with self._lock:
            return {k: self._out_record(v) for k, v in self._ns.get(_canonical_ns(namespace), {}).items()}

    def count(self, namespace: str | None = "") -> int:
        with self._lock:
            return len(self._ns.get(_canonical_ns(namespace), {}))

    def namespaces(self) -> dict[str, int]:
        """Live counts by canonical namespace ("" is the default one)."""
        with self._lock:
            return self._counts()

    def calls(self, path: str, method: str | None = None) -> list[RequestLog]:
        with self._lock:
            return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    def seed(self, records: Iterable[Mapping[str, Any]], namespace: str = "") -> None:
        """Stores records directly, bypassing HTTP and every check."""
        with self._lock:
            ns = self._ns.setdefault(_canonical_ns(namespace), {})
            for r in records:
                ns[r["id"]] = {"id": r["id"], "values": array("f", r["values"]).tolist(),
                               **({"metadata": dict(r["metadata"])} if r.get("metadata") else {})}
            self._after_write()

    def remove(self, ids: Iterable[str], namespace: str = "") -> None:
        """Deletes records directly (a record lost behind the client's back)."""
        with self._lock:
            ns = self._ns.get(_canonical_ns(namespace), {})
            for i in ids:
                ns.pop(i, None)
            self._after_write()

    # -- internals: counts and lag ----------------------------------------------------------------

    def _counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self._ns.items() if v}

    def _after_write(self) -> None:
        now = self._counts()
        self._history.append((time.monotonic(), now))
        if self._lag_calls > 0:
            self._calls_left = self._lag_calls

    def _visible_counts(self) -> dict[str, int]:
        self.stats_calls += 1
        if self._lag_seconds > 0:
            cutoff = time.monotonic() - self._lag_seconds
            seen = self._history[0][1]
            for t, counts in self._history:
                if t <= cutoff:
                    seen = counts
                else:
                    break
            return dict(seen)
        if self._lag_calls > 0:
            if self._calls_left > 0:
                self._calls_left -= 1
                return dict(self._visible)
            self._visible = self._counts()
        return self._counts()

    def _violation(self, kind: str, method: str, path: str, status: int, message: str) -> None:
        with self._lock:
            self.violations.append(Violation(kind, method, path, status, message))

    def _warn(self, text: str) -> None:
        with self._lock:
            self.warnings.append(text)

    # -- dispatch ---------------------------------------------------------------------------------

    def _dispatch(self, h: _Handler) -> None:
        t0 = time.monotonic()
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._serve(h, t0)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _serve(self, h: _Handler, t0: float) -> None:
        headers = {k.lower(): v for k, v in h.headers.items()}
        try:
            raw = h.read_body()
        except (ValueError, OSError):
            h.close_connection = True
            return
        status, out, payload = self._serve_rest(h.command, h.path, headers, raw, t0)
        h.send_response(status)
        for k, v in out.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(payload)

    def _serve_h2_rest(self, method: str, target: str, headers: dict[str, str], raw: bytes,
                       t0: float) -> tuple[int, dict[str, str], bytes]:
        """A REST request that came over HTTP/2 (as clients that choose h2 by ALPN send them), counted
        in flight as _dispatch counts an HTTP/1.1 one."""
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return self._serve_rest(method, target, headers, raw, t0, http_version="2")
        finally:
            with self._lock:
                self.in_flight -= 1

    def _serve_rest(self, method: str, target: str, headers: dict[str, str], raw: bytes, t0: float,
                    http_version: str = "1.1") -> tuple[int, dict[str, str], bytes]:
        """One REST request, whichever HTTP carried it (``headers`` lowercased, ``raw`` the whole
        body): logged, checked and answered as (status, response headers, response body)."""
        split = urlsplit(target)
        path = split.path.rstrip("/") or "/"
        query = parse_qs(split.query, keep_blank_values=True)
        log = RequestLog(method, path, query, headers, len(raw), None, t0, url_bytes=len(target),
                         http_version=http_version)
        with self._lock:
            self.requests.append(log)
        extra: dict[str, str] = {}
        try:
            status, body = self._handle(method, path, query, headers, raw, log, extra)
        except Rejection as r:
            if not log.injected and r.kind != "rate_limit":
                self._violation(r.kind, method, path, r.status, r.message)
            status, body = r.status, {"code": r.code, "message": r.message, "details": []}
            extra.update(r.headers)
        except Exception as e:  # noqa: BLE001 - a bug of the fake: make it loud in the violations
            self._violation("fake_error", method, path, 500, f"{type(e).__name__}: {e}")
            status, body = 500, {"code": 13, "message": f"fake error: {type(e).__name__}", "details": []}
        log.status = status
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        with self._lock:
            rid = f"fake-{len(self.requests)}"
        out = {"Content-Type": "application/json", "Content-Length": str(len(payload)),
               "x-pinecone-request-id": rid,
               "x-pinecone-request-latency-ms": str(int((time.monotonic() - t0) * 1000)), **extra}
        log.response_headers = {k.lower(): v for k, v in out.items()}
        return status, out, payload

    def _check_key(self, method: str, path: str, headers: dict[str, str]) -> None:
        # Authentication first: Pinecone checks the key before anything else.
        key = headers.get("api-key")
        if key is None:
            raise Rejection(401, "API key is missing or invalid for the environment. Check that the correct "
                                 "environment is specified.", "auth")
        if key != self.api_key:
            raise Rejection(401, "Invalid API Key", "auth")
        if "x-pinecone-api-version" not in headers:
            self._warn(f"{method} {path}: no X-Pinecone-Api-Version header (Pinecone uses its oldest "
                       "supported version)")

    def _inject(self, path: str, log: RequestLog) -> None:
        """Raises the next queued fault that applies to ``path``."""
        with self._lock:
            for f in self._faults:
                if f.remaining > 0 and (f.paths is None or path in f.paths):
                    f.remaining -= 1
                    log.injected = True
                    hdrs = {"Retry-After": f.retry_after} if f.retry_after is not None else {}
                    msg = f.message or FAULT_MESSAGES.get(f.status, "error").format(ns="(fake)")
                    self._faults = [x for x in self._faults if x.remaining > 0]
                    raise Rejection(f.status, msg, "injected", headers=hdrs)

    def _handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
                raw: bytes, log: RequestLog, extra: dict[str, str]) -> tuple[int, Any]:
        self._check_key(method, path, headers)
        self._inject(path, log)
        if path in REQUEST_SCHEMAS:
            if method != "POST":
                raise Rejection(405, f"{method} is not allowed on {path}", "method")
            body = self._json_body(path, raw, headers)
            log.body = body
            if path == "/vectors/upsert":
                self._throttle(body.get("namespace"), len(raw))
                return self._upsert(body, extra)
            if path == "/vectors/delete":
                return self._delete(body, extra)
            if path == "/query":
                return self._query(body, extra)
            return self._stats(body)
        if path in GET_PATHS:
            if method != "GET":
                raise Rejection(405, f"{method} is not allowed on {path}", "method")
            if raw:
                self._warn(f"{method} {path}: a body on a GET request")
            if path == "/vectors/fetch":
                return self._fetch(query)
            return self._list(query)
        raise Rejection(404, f"no such endpoint: {method} {path}", "path")

    def _json_body(self, path: str, raw: bytes, headers: dict[str, str]) -> Any:
        if len(raw) > self.max_request_bytes:
            raise Rejection(400, f"Request size {len(raw)} bytes ({len(raw) / 1_000_000:.2f}MB) exceeds the maximum "
                                 f"supported size of {self.max_request_bytes / 1_000_000:g}MB", "request_size")
        ctype = headers.get("content-type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            self._warn(f"POST {path}: Content-Type is {ctype!r}, not application/json")
        if not raw.strip():
            if path != "/describe_index_stats":
                raise Rejection(400, "request body is required", "json")
            self._warn(f"POST {path}: empty body (the spec requires one; {{}} is enough)")
            raw = b"{}"
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as e:
            raise Rejection(400, f"failed to parse the request body as JSON: {e}", "json") from None
        self._validate(path, body)
        return body

    def _validate(self, path: str, body: Any) -> None:
        schema = REQUEST_SCHEMAS[path]
        errors = sorted(request_validator(schema).iter_errors(_shrink_numeric_arrays(schema, body)),
                        key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.absolute_path) or "(root)"
            raise Rejection(400, f"invalid {schema}: {where}: {first.message}", "schema")
        if isinstance(body, dict):
            unknown = sorted(set(body) - _schema_properties(schema))
            if unknown:
                self._warn(f"POST {path}: fields the spec does not know (Pinecone ignores them): {unknown}")

    # -- gRPC -------------------------------------------------------------------------------------

    def _serve_grpc(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, bytes, str, dict[str, str]]:
        """One unary gRPC call: (grpc-status, response message, grpc-message, response metadata)."""
        t0 = time.monotonic()
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        log = RequestLog("POST", "/vectors/upsert", {}, headers, len(raw), None, t0, transport="grpc",
                         http_version="2")
        with self._lock:
            self.requests.append(log)
        extra: dict[str, str] = {}
        try:
            if path == "/VectorService/DescribeIndexStats":
                log.path = "/describe_index_stats"
                self._check_key("POST", path, headers)
                self._inject("/describe_index_stats", log)
                _, stats = self._stats({})
                status, payload, message, code = 200, _stats_response(stats), "", 0
            else:
                if path != "/VectorService/Upsert":
                    raise Rejection(404, f"unknown or unsupported method {path}", "path", code=12)
                self._check_key("POST", path, headers)
                self._inject("/vectors/upsert", log)
                if not headers.get("content-type", "").startswith("application/grpc"):
                    raise Rejection(415, f"content-type {headers.get('content-type')!r} is not application/grpc",
                                    "grpc_framing", code=3)
                if headers.get("te") != "trailers":
                    self._warn(f"gRPC {path}: no 'te: trailers' header")
                body = self._grpc_body(raw)
                log.body = body
                self._validate("/vectors/upsert", body)
                self._throttle(body.get("namespace"), len(raw))
                status, out = self._upsert(body, extra)
                code, payload, message = 0, _upsert_response(out["upsertedCount"]), ""
        except Rejection as r:
            if not log.injected and r.kind != "rate_limit":
                self._violation(r.kind, "POST", path, r.status, r.message)
            status, payload, message = r.status, b"", r.message
            # What a gRPC front end answers: rate limits are RESOURCE_EXHAUSTED, a server error UNAVAILABLE.
            code = 8 if r.status == 429 else 14 if r.status >= 500 else r.code
        except Exception as e:  # noqa: BLE001 - a bug of the fake: make it loud in the violations
            self._violation("fake_error", "POST", path, 500, f"{type(e).__name__}: {e}")
            status, payload, message, code = 500, b"", f"fake error: {type(e).__name__}", 13
        finally:
            with self._lock:
                self.in_flight -= 1
        log.status = status
        log.grpc_status = code
        log.response_headers = dict(extra)
        return code, payload, message, extra

    def _grpc_body(self, raw: bytes) -> dict[str, Any]:
        """The UpsertRequest in a gRPC frame, as the REST body it stands for."""
        if len(raw) < 5:
            raise Rejection(400, "a request without a gRPC message", "grpc_framing")
        if raw[0] != 0:
            raise Rejection(400, "compressed messages are not supported", "grpc_framing", code=12)
        length = int.from_bytes(raw[1:5], "big")
        if length != len(raw) - 5:
            raise Rejection(400, f"the gRPC frame says {length} bytes, the stream holds {len(raw) - 5}", "grpc_framing")
        if length > self.max_request_bytes:
            raise Rejection(400, f"Request size {length} bytes ({length / 1_000_000:.2f}MB) exceeds the maximum "
                                 f"supported size of {self.max_request_bytes / 1_000_000:g}MB", "request_size")
        try:
            return _decode_upsert_request(memoryview(raw)[5:])
        except (ValueError, IndexError, UnicodeDecodeError) as e:
            raise Rejection(400, f"not an UpsertRequest: {e}", "protobuf") from None

    # -- operations -------------------------------------------------------------------------------

    def _check_values(self, values: Any, what: str) -> list[float]:
        if not isinstance(values, list):
            raise Rejection(400, f"{what}: values are required for a dense index", "values")
        if len(values) != self.dimension:
            raise Rejection(400, f"Vector dimension {len(values)} does not match the dimension of the index "
                                 f"{self.dimension}", "dimension")
        if not any(v != 0 for v in values):
            raise Rejection(400, f"{what}: Dense vectors must contain at least one non-zero value.", "values")
        return array("f", values).tolist()

    def _check_metadata(self, vid: str, md: Any) -> dict[str, Any]:
        if not isinstance(md, dict):
            raise Rejection(400, f"metadata of {vid!r} must be an object", "metadata_type")
        out: dict[str, Any] = {}
        for k, v in md.items():
            if v is None:
                raise Rejection(400, f"Metadata value must be a string, number, boolean or list of strings, got "
                                     f"'null' for field '{k}' of vector '{vid}'", "metadata_null")
            if isinstance(v, dict):
                raise Rejection(400, f"Metadata value must be a string, number, boolean or list of strings, got "
                                     f"an object for field '{k}' of vector '{vid}'", "metadata_nested")
            if isinstance(v, list):
                if not all(isinstance(x, str) for x in v):
                    raise Rejection(400, f"Metadata list values must be strings, field '{k}' of vector '{vid}'",
                                    "metadata_type")
                out[k] = list(v)
            elif isinstance(v, (bool, str)):
                out[k] = v
            elif isinstance(v, (int, float)):
                out[k] = float(v)
            else:  # pragma: no cover - json cannot produce anything else
                raise Rejection(400, f"unsupported metadata value for field '{k}'", "metadata_type")
        size = metadata_bytes(md)
        if size > self.metadata_limit:
            raise Rejection(400, f"metadata size is {size} bytes, which exceeds the limit of {self.metadata_limit} "
                                 "bytes per vector", "metadata_size")
        return out

    def _upsert(self, body: dict[str, Any], extra: dict[str, str]) -> tuple[int, Any]:
        if self.upsert_latency:
            time.sleep(self.upsert_latency)
        ns_name = _canonical_ns(body.get("namespace"))
        staged: list[dict[str, Any]] = []
        seen: set[str] = set()
        for v in body["vectors"]:
            vid = v["id"]
            rec: dict[str, Any] = {"id": vid, "values": self._check_values(v.get("values"), f"vector {vid!r}")}
            sv = v.get("sparseValues")
            if sv is not None:
                if len(sv["indices"]) != len(sv["values"]):
                    raise Rejection(400, f"sparse values of {vid!r}: indices and values differ in length", "sparse")
                rec["sparseValues"] = {"indices": list(sv["indices"]), "values": array("f", sv["values"]).tolist()}
            if "metadata" in v and v["metadata"] is not None:
                md = self._check_metadata(vid, v["metadata"])
                if md:
                    rec["metadata"] = md
            if vid in seen:
                self._warn(f"upsert: id {vid!r} twice in one request")
            seen.add(vid)
            staged.append(rec)
        with self._lock:
            missing = self._short_ack.pop(0) if self._short_ack else 0
            missing = min(missing, len(staged))
            keep = staged[: len(staged) - missing]
            self.unacked.extend(r["id"] for r in staged[len(staged) - missing:])
            ns = self._ns.setdefault(ns_name, {})
            for rec in keep:
                if rec["id"] in self._lossy_ids or (self._lossy_fraction > 0 and self._lossy_pick(rec["id"])):
                    self.dropped.append(rec["id"])
                    continue
                ns[rec["id"]] = rec
            self._after_write()
            self.lsn += 1
            extra["x-pinecone-request-lsn"] = str(self.lsn)
        return 200, {"upsertedCount": len(keep)}

    def _lossy_pick(self, vid: str) -> bool:
        h = hashlib.sha256(f"{self._lossy_seed}:{vid}".encode()).digest()
        return int.from_bytes(h[:8], "big") / 2**64 < self._lossy_fraction

    def _delete(self, body: dict[str, Any], extra: dict[str, str]) -> tuple[int, Any]:
        ids = body.get("ids")
        delete_all = bool(body.get("deleteAll", False))
        flt = body.get("filter")
        if flt is not None and (ids is not None or delete_all):
            raise Rejection(400, "filter cannot be combined with ids or deleteAll", "delete_args")
        if ids is not None and delete_all:
            raise Rejection(400, "ids and deleteAll cannot both be given", "delete_args")
        if ids is None and not delete_all and flt is None:
            raise Rejection(400, "one of ids, deleteAll or filter is required", "delete_args")
        ns_name = _canonical_ns(body.get("namespace"))
        with self._lock:
            ns = self._ns.get(ns_name, {})
            if delete_all:
                ns.clear()
            elif ids is not None:
                for i in ids:
                    ns.pop(i, None)
            elif flt is not None:
                for i in [k for k, r in ns.items() if _matches(r.get("metadata", {}), flt)]:
                    del ns[i]
            self._after_write()
            self.lsn += 1
            extra["x-pinecone-request-lsn"] = str(self.lsn)
        return 200, {}

    def _out_ns(self, ns_name: str) -> str:
        return self.default_namespace_key if ns_name == "" else ns_name

    def _out_record(self, rec: dict[str, Any], values: bool = True, metadata: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"id": rec["id"]}
        if values:
            out["values"] = list(rec["values"])
            if "sparseValues" in rec:
                out["sparseValues"] = {k: list(v) for k, v in rec["sparseValues"].items()}
        if metadata and "metadata" in rec:
            out["metadata"] = _out_metadata(rec["metadata"])
        return out

    def _query(self, body: dict[str, Any], extra: dict[str, str]) -> tuple[int, Any]:
        if "queries" in body:
            raise Rejection(400, "queries is deprecated and not supported: use vector or id", "query_args")
        has_vec, has_id = "vector" in body, "id" in body
        if has_vec == has_id and "sparseVector" not in body:
            raise Rejection(400, "exactly one of vector or id is required", "query_args")
        ns_name = _canonical_ns(body.get("namespace"))
        with self._lock:
            ns = dict(self._ns.get(ns_name, {}))
            extra["x-pinecone-max-indexed-lsn"] = str(self.lsn)
        if has_id:
            base = ns.get(body["id"])
            if base is None:
                return 200, {"matches": [], "namespace": self._out_ns(ns_name), "usage": {"readUnits": 1}}
            q = base["values"]
        else:
            q = body["vector"]
            if len(q) != self.dimension:
                raise Rejection(400, f"Vector dimension {len(q)} does not match the dimension of the index "
                                     f"{self.dimension}", "dimension")
        flt = body.get("filter")
        scored = []
        for rec in ns.values():
            if flt and not _matches(rec.get("metadata", {}), flt):
                continue
            scored.append((self._score(q, rec["values"]), rec))
        scored.sort(key=lambda t: (-t[0], _c_sort_key(t[1]["id"])))
        matches = []
        for score, rec in scored[: body["topK"]]:
            m = self._out_record(rec, values=bool(body.get("includeValues", False)),
                                 metadata=bool(body.get("includeMetadata", False)))
            m["score"] = score
            matches.append(m)
        return 200, {"matches": matches, "namespace": self._out_ns(ns_name), "usage": {"readUnits": 1 + len(ns) // 1000}}

    def _score(self, a: list[float], b: list[float]) -> float:
        dot = sum(x * y for x, y in zip(a, b))
        if self.metric == "dotproduct":
            return dot
        if self.metric == "euclidean":
            return sum((x - y) ** 2 for x, y in zip(a, b))
        na = math.sqrt(sum(x * x for x in a))
        nb = math.sqrt(sum(y * y for y in b))
        return dot / (na * nb) if na and nb else 0.0

    def _stats(self, body: dict[str, Any]) -> tuple[int, Any]:
        if body.get("filter"):
            raise Rejection(400, "Serverless indexes do not support describe_index_stats with metadata filtering",
                            "stats_filter")
        with self._lock:
            counts = self._visible_counts()
        return 200, {
            "namespaces": {self._out_ns(k): {"vectorCount": n} for k, n in sorted(counts.items()) if n},
            "dimension": self.dimension,
            "indexFullness": 0.0,
            "totalVectorCount": sum(counts.values()),
            "metric": self.metric,
            "vectorType": "dense",
        }

    def _fetch(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        unknown = sorted(set(query) - {"ids", "namespace"})
        if unknown:
            self._warn(f"GET /vectors/fetch: parameters the spec does not know: {unknown}")
        ids = query.get("ids", [])
        if not ids:
            raise Rejection(400, "ids is required: at least one id to fetch", "fetch_ids")
        if len(ids) > MAX_IDS:
            raise Rejection(400, f"fetch accepts at most {MAX_IDS} ids per request, got {len(ids)}", "fetch_ids")
        for i in ids:
            if not i or len(i) > 512:
                raise Rejection(400, f"id {i[:40]!r} must be 1 to 512 characters", "fetch_ids")
            if " " in i:
                raise Rejection(400, f"ids must not contain spaces: {i[:80]!r}", "fetch_ids")
        ns_name = _canonical_ns(query.get("namespace", [None])[-1])
        with self._lock:
            ns = self._ns.get(ns_name, {})
            found = {i: self._out_record(ns[i]) for i in ids if i in ns}
        return 200, {"vectors": found, "namespace": self._out_ns(ns_name),
                     "usage": {"readUnits": max(1, math.ceil(len(found) / 10))}}

    def _list(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        unknown = sorted(set(query) - {"prefix", "limit", "paginationToken", "namespace"})
        if unknown:
            self._warn(f"GET /vectors/list: parameters the spec does not know: {unknown}")
        prefix = query.get("prefix", [""])[-1]
        limit_s = query.get("limit", ["100"])[-1]
        try:
            limit = int(limit_s)
        except ValueError:
            raise Rejection(400, f"limit must be an integer, got {limit_s!r}", "list_args") from None
        if limit < 1:
            raise Rejection(400, f"limit must be positive, got {limit}", "list_args")
        after = ""
        token = query.get("paginationToken", [""])[-1]
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
                after, token_prefix = state["after"], state["prefix"]
            except (ValueError, KeyError, TypeError):
                raise Rejection(400, "invalid paginationToken", "list_args") from None
            if token_prefix != prefix:
                raise Rejection(400, "paginationToken belongs to another prefix", "list_args")
        ns_name = _canonical_ns(query.get("namespace", [None])[-1])
        with self._lock:
            ids = sorted((i for i in self._ns.get(ns_name, {}) if i.startswith(prefix)), key=_c_sort_key)
        if after:
            ak = _c_sort_key(after)
            ids = [i for i in ids if _c_sort_key(i) > ak]
        page = ids[:limit]
        out: dict[str, Any] = {"vectors": [{"id": i} for i in page], "namespace": self._out_ns(ns_name),
                               "usage": {"readUnits": 1}}
        if len(ids) > limit:
            tok = base64.urlsafe_b64encode(json.dumps({"after": page[-1], "prefix": prefix}).encode()).decode()
            out["pagination"] = {"next": tok}
        return 200, out


# --- gRPC: protobuf reading and HTTP/2 serving ----------------------------------------------------

H2_PREFACE_REST = b"\r\nSM\r\n\r\n"  # what follows the "PRI * HTTP/2.0" line of the preface


class _Fields:
    """The fields of one protobuf message, read in order: (number, wire type, value), where the
    value is an int (varint), bytes (fixed 4 or 8, little-endian) or a memoryview (length-delimited)."""

    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.at = 0

    def _varint(self) -> int:
        value, shift = 0, 0
        while True:
            if shift > 63:
                raise ValueError("varint longer than 10 bytes")
            byte = self.data[self.at]
            self.at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    def _varints(self) -> Any:
        """The values of a packed repeated varint field."""
        while self.at < len(self.data):
            yield self._varint()

    def __iter__(self) -> Any:
        end = len(self.data)
        while self.at < end:
            key = self._varint()
            number, wire = key >> 3, key & 7
            if wire == 0:
                yield number, wire, self._varint()
            elif wire in (1, 5):
                width = 8 if wire == 1 else 4
                if self.at + width > end:
                    raise ValueError("a fixed-width field runs past the message")
                yield number, wire, bytes(self.data[self.at:self.at + width])
                self.at += width
            elif wire == 2:
                size = self._varint()
                if self.at + size > end:
                    raise ValueError("a length-delimited field runs past the message")
                yield number, wire, self.data[self.at:self.at + size]
                self.at += size
            else:
                raise ValueError(f"wire type {wire} is not used by this API")


def _pb_value(data: memoryview) -> Any:
    """google.protobuf.Value as the JSON value it stands for."""
    out: Any = None
    for number, wire, v in _Fields(data):
        if number == 1 and wire == 0:
            out = None
        elif number == 2 and wire == 1:
            out = _out_number(struct.unpack("<d", v)[0])  # 3.0 reads as 3, as JSON would have sent it
        elif number == 3 and wire == 2:
            out = bytes(v).decode("utf-8")
        elif number == 4 and wire == 0:
            out = bool(v)
        elif number == 5 and wire == 2:
            out = _pb_struct(v)
        elif number == 6 and wire == 2:
            out = [_pb_value(item) for n, w, item in _Fields(v) if n == 1 and w == 2]
        else:
            raise ValueError(f"Value field {number} with wire type {wire}")
    return out


def _pb_struct(data: memoryview) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, wire, entry in _Fields(data):
        if number != 1 or wire != 2:
            raise ValueError(f"Struct field {number} with wire type {wire}")
        key, value = "", None
        for n, w, v in _Fields(entry):
            if n == 1 and w == 2:
                key = bytes(v).decode("utf-8")
            elif n == 2 and w == 2:
                value = _pb_value(v)
        out[key] = value
    return out


def _pb_floats(data: memoryview) -> list[float]:
    if len(data) % 4:
        raise ValueError("packed floats of a length that is not a multiple of 4")
    values = array("f")
    values.frombytes(bytes(data))
    if sys.byteorder == "big":
        values.byteswap()
    return values.tolist()


def _pb_vector(data: memoryview) -> dict[str, Any]:
    """Vector {id = 1; values = 2 (packed, or repeated fixed32); metadata = 3; sparse_values = 4}."""
    out: dict[str, Any] = {}
    values: list[float] = []
    for number, wire, v in _Fields(data):
        if number == 1 and wire == 2:
            out["id"] = bytes(v).decode("utf-8")
        elif number == 2 and wire == 2:
            values += _pb_floats(v)
        elif number == 2 and wire == 5:
            values.append(struct.unpack("<f", v)[0])
        elif number == 3 and wire == 2:
            out["metadata"] = _pb_struct(v)
        elif number == 4 and wire == 2:
            indices: list[int] = []
            sparse: list[float] = []
            for n, w, x in _Fields(v):
                if n == 1 and w == 2:
                    indices += list(_Fields(x)._varints())
                elif n == 1 and w == 0:
                    indices.append(x)
                elif n == 2 and w == 2:
                    sparse += _pb_floats(x)
            out["sparseValues"] = {"indices": indices, "values": sparse}
        else:
            raise ValueError(f"Vector field {number} with wire type {wire}")
    out.setdefault("id", "")
    if values:
        out["values"] = values
    return out


def _decode_upsert_request(data: memoryview) -> dict[str, Any]:
    """UpsertRequest {vectors = 1; namespace = 2} as the REST body {"vectors": [...], "namespace"?}."""
    body: dict[str, Any] = {"vectors": []}
    for number, wire, v in _Fields(data):
        if number == 1 and wire == 2:
            body["vectors"].append(_pb_vector(v))
        elif number == 2 and wire == 2:
            body["namespace"] = bytes(v).decode("utf-8")
        else:
            raise ValueError(f"UpsertRequest field {number} with wire type {wire}")
    return body


def _grpc_message(text: str) -> str:
    """grpc-message as the gRPC over HTTP/2 spec writes it: printable ASCII but '%' as it is, the rest
    percent-encoded UTF-8."""
    return "".join(chr(b) if 0x20 <= b <= 0x7E and b != 0x25 else f"%{b:02X}" for b in text.encode("utf-8"))


def _upsert_response(count: int) -> bytes:
    """UpsertResponse {upserted_count = 1} (a zero count is left out, as proto3 does)."""
    message = b"\x08" + varint(count) if count else b""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def varint(n: int) -> bytes:
    """A protobuf base-128 varint."""
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _stats_response(stats: Mapping[str, Any]) -> bytes:
    """A DescribeIndexStatsResponse in a gRPC frame: dimension (2) and total_vector_count (4); the
    namespaces map and the fullness are left out, as proto3 allows."""
    message = b"\x10" + varint(int(stats["dimension"])) + b"\x20" + varint(int(stats["totalVectorCount"]))
    return b"\x00" + len(message).to_bytes(4, "big") + message


def _is_grpc(headers: Mapping[str, str]) -> bool:
    """Whether a request on an HTTP/2 connection is a gRPC call rather than REST: its content type
    says so, or its path names a method of the gRPC service."""
    return headers.get("content-type", "").startswith("application/grpc") or \
        headers.get(":path", "").startswith("/VectorService/")


class _H2Connection:
    """One HTTP/2 connection (h2c, or TLS with ALPN h2), framed by the h2 library: gRPC calls, and REST
    requests for clients that send those over HTTP/2 too (libcurl does whenever h2 is offered). Each
    request is answered when it ends, in that order. Inbound windows are wide open (2 MB requests must
    not wait for updates); outbound data is sent as the client's windows allow, the rest when it
    opens them."""

    WINDOW = (1 << 31) - 1

    def __init__(self, fake: PineconeFake, handler: _Handler) -> None:
        self.fake = fake
        self.sock = handler.connection
        self.rfile = handler.rfile
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.requests: dict[int, tuple[dict[str, str], bytearray, float]] = {}
        # stream -> (data not yet sent, trailers that end the stream after it, or None to end with the data)
        self.pending: dict[int, tuple[bytearray, list[tuple[str, str]] | None]] = {}
        self.answered = 0
        with fake._lock:
            fake.h2_connections += 1

    def serve(self) -> None:
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: self.WINDOW,
                                   h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000})
        self.conn.increment_flow_control_window(self.WINDOW - 65535)
        data = b"PRI * HTTP/2.0" + b"\r\n" + H2_PREFACE_REST
        while data:
            try:
                events = self.conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                self.sock.sendall(self.conn.data_to_send())
                return
            for event in events:
                if not self._on(event):
                    self.sock.sendall(self.conn.data_to_send())
                    return
            self._flush()
            out = self.conn.data_to_send()
            if out:
                self.sock.sendall(out)
            try:
                data = self.rfile.read1(1 << 20)
            except (OSError, ValueError):
                return

    def _on(self, event: Any) -> bool:
        if isinstance(event, h2.events.RequestReceived):
            headers = {k.lower(): v for k, v in event.headers}
            self.requests[event.stream_id] = (headers, bytearray(), time.monotonic())
        elif isinstance(event, h2.events.DataReceived):
            with self.fake._lock:
                self.fake.max_data_frame = max(self.fake.max_data_frame, event.flow_controlled_length)
            if event.stream_id in self.requests:
                self.requests[event.stream_id][1].extend(event.data)
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            headers, body, t0 = self.requests.pop(event.stream_id, ({}, bytearray(), time.monotonic()))
            grpc = _is_grpc(headers)
            with self.fake._lock:
                cut = grpc and self.fake._grpc_disconnects > 0
                self.fake._grpc_disconnects -= cut
                goaway_after = self.fake._grpc_goaway_after if grpc else 0
            if cut:
                return False
            self._answer(event.stream_id, headers, bytes(body), t0)
            self.answered += grpc
            if goaway_after and self.answered >= goaway_after:
                self._flush()
                self.conn.close_connection(error_code=0, last_stream_id=event.stream_id)
                return False
        elif isinstance(event, h2.events.StreamReset):
            self.requests.pop(event.stream_id, None)
            self.pending.pop(event.stream_id, None)
        elif isinstance(event, h2.events.ConnectionTerminated):
            return False
        return True

    def _answer(self, stream: int, headers: dict[str, str], body: bytes, t0: float) -> None:
        if not _is_grpc(headers):
            http_status, out, json_payload = self.fake._serve_h2_rest(headers.get(":method", ""),
                                                                      headers.get(":path", ""), headers, body, t0)
            self.conn.send_headers(stream, [(":status", str(http_status)), *((k.lower(), v) for k, v in out.items())],
                                   end_stream=not json_payload)
            if json_payload:
                self.pending[stream] = (bytearray(json_payload), None)
            return
        code, payload, message, extra = self.fake._serve_grpc(headers.get(":path", ""), headers, body)
        head = [(":status", "200"), ("content-type", "application/grpc"), *extra.items()]
        status = [("grpc-status", str(code))]
        if message:
            status.append(("grpc-message", _grpc_message(message)))
        if code != 0:  # trailers-only
            self.conn.send_headers(stream, head + status, end_stream=True)
            return
        self.conn.send_headers(stream, head)
        self.pending[stream] = (bytearray(payload), status)

    def _flush(self) -> None:
        """Sends what the windows allow of each stream's pending data, and ends the streams whose data
        is all sent (with their trailers, if any)."""
        for stream in list(self.pending):
            data, trailers = self.pending[stream]
            try:
                while data:
                    n = min(len(data), self.conn.local_flow_control_window(stream), self.conn.max_outbound_frame_size)
                    if n <= 0:
                        break
                    self.conn.send_data(stream, bytes(data[:n]))
                    del data[:n]
                if data:
                    continue
                if trailers is None:
                    self.conn.end_stream(stream)
                else:
                    self.conn.send_headers(stream, trailers, end_stream=True)
            except h2.exceptions.StreamClosedError:
                pass  # the client reset it: nothing more to send
            del self.pending[stream]


# --- metadata filters (enough for tests: $eq $ne $gt $gte $lt $lte $in $nin $exists $and $or) ----


def _matches(md: Mapping[str, Any], flt: Mapping[str, Any]) -> bool:
    for key, cond in flt.items():
        if key == "$and":
            if not all(_matches(md, c) for c in cond):
                return False
            continue
        if key == "$or":
            if not any(_matches(md, c) for c in cond):
                return False
            continue
        if not isinstance(cond, dict):
            cond = {"$eq": cond}
        have = md.get(key)
        for op, want in cond.items():
            if not _op(op, have, want, key in md):
                return False
    return True


def _op(op: str, have: Any, want: Any, present: bool) -> bool:
    def eq(a: Any, b: Any) -> bool:
        if isinstance(a, list):
            return b in a
        if isinstance(a, (int, float)) and not isinstance(a, bool) and isinstance(b, (int, float)):
            return float(a) == float(b)
        return bool(a == b)

    if op == "$exists":
        return present == bool(want)
    if not present:
        return op in ("$ne", "$nin")
    if op == "$eq":
        return eq(have, want)
    if op == "$ne":
        return not eq(have, want)
    if op == "$in":
        return any(eq(have, w) for w in want)
    if op == "$nin":
        return not any(eq(have, w) for w in want)
    try:
        if op == "$gt":
            return bool(have > want)
        if op == "$gte":
            return bool(have >= want)
        if op == "$lt":
            return bool(have < want)
        if op == "$lte":
            return bool(have <= want)
    except TypeError:
        return False
    raise Rejection(400, f"unsupported filter operator {op}", "filter")
