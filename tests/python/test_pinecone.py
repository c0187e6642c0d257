"""Pinecone as a sink, against a local Pinecone-compatible data plane (tests/python/pinecone_fake.py).

Three layers:
  1. the fake itself is faithful: it enforces the documented limits and the official SDK works against it;
  2. backfill's PineconeSink (the C++ core) packs, retries, sanitizes and checks acknowledgements;
  3. whole backfills through the CLI: verified, lossy, lagging, huge metadata, retries, a wrong dimension,
     and an API key that never leaks.

After every test the fake must have rejected nothing: no request ever broke a Pinecone limit.
"""

from __future__ import annotations

import json
import math
import random
import textwrap
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import backfill
import pytest
from backfill import _core
from backfill._canonical import dumps
from backfill._core import _testing
from backfill.errors import SinkError
from conftest import content_bytes, make_export, run_cli
from fake_base import fakes_on_demand
from pinecone_fake import METADATA_LIMIT, PineconeFake, metadata_bytes, pinecone_problems

KEY = "pk-test-secret"
API_VERSION = "2025-10"
DIM = 64  # the pipeline tests' embedding dimension
BIG_TEXT = ("Grüße aus 東京 😀 " * 2000)[:28500]  # 45.6 KB of UTF-8, multi-byte throughout


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture()
def fakes() -> Iterator[Callable[..., PineconeFake]]:
    """Starts fakes on demand; at teardown each must have rejected no request and warned of nothing."""
    yield from fakes_on_demand(lambda dimension=DIM, **kw: PineconeFake(dimension=dimension, **kw), pinecone_problems,
                               "the fake saw requests that break Pinecone's limits or spec")


def sink(fake: PineconeFake, namespace: str | None = "ns", **kw: Any) -> Any:
    if namespace is None:
        return _core.PineconeSink(host=fake.url, api_key=KEY, **kw)
    return _core.PineconeSink(host=fake.url, api_key=KEY, namespace=namespace, **kw)


def vec(seed: int, dim: int) -> list[float]:
    r = random.Random(seed)
    return [round(r.uniform(-1, 1), 6) for _ in range(dim)]


def call(fake: PineconeFake, method: str, path: str, body: Any = None, *, key: str | None = KEY,
         raw: bytes | None = None, version: str | None = API_VERSION) -> tuple[int, Any, dict[str, str]]:
    """One raw request with urllib: (status, parsed body, lowercased headers)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Api-Key"] = key
    if version is not None:
        headers["X-Pinecone-Api-Version"] = version
    req = urllib.request.Request(fake.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read()), {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read()), {k.lower(): v for k, v in e.headers.items()}


def assert_rejected(fake: PineconeFake, resp: tuple[int, Any, dict[str, str]], status: int, kind: str,
                    message: str) -> None:
    code, body, _ = resp
    assert code == status, body
    assert set(body) == {"code", "message", "details"} and body["details"] == []
    assert message in body["message"], body
    got = fake.take_violations()
    assert [v.kind for v in got] == [kind], got


def assert_sink_requests_well_formed(fake: PineconeFake, skip_sdk: bool = False) -> None:
    """Every request the sink sent carried the key, the API version and (with a body) a JSON content type,
    or for a gRPC call application/grpc and "te: trailers". ``skip_sdk`` leaves out the requests of the
    official SDK (User-Agent python-client-...)."""
    mine = [r for r in fake.requests
            if not (skip_sdk and r.headers.get("user-agent", "").startswith("python-client-"))]
    assert mine, "the sink sent nothing"
    for r in mine:
        assert r.headers.get("api-key") == KEY, (r.method, r.path)
        assert r.headers.get("x-pinecone-api-version") == API_VERSION, (r.method, r.path, r.headers)
        if r.transport == "grpc":
            # Upserts, and the run's preflight check of the transport (backfill.preflight).
            assert r.headers.get(":path") in ("/VectorService/Upsert", "/VectorService/DescribeIndexStats"), r.headers
            assert r.headers.get("content-type") == "application/grpc" and r.headers.get("te") == "trailers", r.headers
        elif r.method == "POST":
            assert r.headers.get("content-type", "").startswith("application/json"), (r.path, r.headers)


def pinecone_config(tmp_path: Path, export: Path, fake: PineconeFake, *, dimension: int = DIM,
                    namespace: str = "slack", target_tokens: int = 128, max_tokens: int = 8000,
                    count_timeout: float = 30, name: str = "pc", transport: str = "grpc") -> tuple[Path, Path]:
    workdir = tmp_path / "work"
    config = tmp_path / "backfill.toml"
    config.write_text(textwrap.dedent(f"""\
        [run]
        name = "{name}"
        workdir = "{workdir}"
        batch_records = 32

        [source]
        type = "slack_export"
        path = "{export}"

        [embedder]
        type = "hash"
        dimension = {dimension}

        [sink]
        type = "pinecone"
        host = "{fake.url}"
        api_key = "${{PINECONE_API_KEY}}"
        namespace = "{namespace}"
        transport = "{transport}"

        [chunking]
        target_tokens = {target_tokens}
        overlap_tokens = 16
        max_tokens = {max_tokens}

        [verify]
        count_timeout_seconds = {count_timeout}
        """))
    return config, workdir


def cli(*args: str, key: str = KEY) -> Any:
    return run_cli(*args, env={"PINECONE_API_KEY": key}, timeout=120)


def junit_failures(path: Path) -> tuple[int, str]:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    assert suites, f"no testsuite in {path}"
    text = ET.tostring(root, encoding="unicode")
    return sum(int(s.get("failures", "0")) + int(s.get("errors", "0")) for s in suites), text


# --- 1. the fake is faithful -------------------------------------------------------------------


def test_fake_rejects_what_pinecone_rejects(fakes: Callable[..., PineconeFake]) -> None:
    fake = fakes(dimension=4)
    ok = {"id": "a", "values": [0.1, 0.2, 0.3, 0.4]}
    assert call(fake, "POST", "/vectors/upsert", {"vectors": [ok]})[:2] == (200, {"upsertedCount": 1})

    assert_rejected(fake, call(fake, "POST", "/vectors/upsert", {"vectors": [ok]}, key=None), 401, "auth", "")
    assert_rejected(fake, call(fake, "POST", "/vectors/upsert", {"vectors": [ok]}, key="pk-wrong"), 401, "auth",
                    "Invalid API Key")
    code, body, _ = call(fake, "POST", "/vectors/upsert", {"vectors": [{"id": "a", "values": [1.0] * 3}]})
    assert (code, body) == (400, {"code": 3, "message": "Vector dimension 3 does not match the dimension of the "
                                                        "index 4", "details": []})
    assert [v.kind for v in fake.take_violations()] == ["dimension"]
    assert_rejected(fake, call(fake, "POST", "/vectors/upsert", raw=b'{"vectors": [' + b" " * 2_000_000 + b"]}"),
                    400, "request_size", "exceeds the maximum supported size of 2MB")
    many = [{"id": f"v{i}", "values": [1.0] * 4} for i in range(1001)]
    assert_rejected(fake, call(fake, "POST", "/vectors/upsert", {"vectors": many}), 400, "schema",
                    "more than the maximum of 1000")
    assert_rejected(fake, call(fake, "POST", "/vectors/upsert", {"vectors": []}), 400, "schema", "fewer than")
    assert_rejected(fake, call(fake, "POST", "/vectors/upsert", {"namespace": "x"}), 400, "schema",
                    "'vectors' is a required property")
    assert_rejected(fake, call(fake, "POST", "/vectors/upsert", {"vectors": [{"id": "", "values": [1.0] * 4}]}),
                    400, "schema", "fewer than the minimum of 1")
    assert_rejected(fake, call(fake, "POST", "/vectors/upsert", {"vectors": [{"id": "x" * 513, "values": [1.0] * 4}]}),
                    400, "schema", "more than the maximum of 512")
    assert_rejected(fake, call(fake, "POST", "/vectors/upsert", {"vectors": [{"id": "z", "values": [0.0] * 4}]}),
                    400, "values", "non-zero")
    for bad, kind in (({"n": None}, "metadata_null"), ({"o": {"a": 1}}, "metadata_nested"),
                      ({"l": [1, 2]}, "metadata_type")):
        assert_rejected(fake, call(fake, "POST", "/vectors/upsert", {"vectors": [{**ok, "metadata": bad}]}), 400, kind,
                        "")
    big = {"text": "x" * 40950}  # {"text":"..."} is 40,961 bytes of compact JSON
    assert metadata_bytes(big) == 40961
    assert_rejected(fake, call(fake, "POST", "/vectors/upsert", {"vectors": [{**ok, "metadata": big}]}), 400,
                    "metadata_size", "metadata size is 40961 bytes, which exceeds the limit of 40960 bytes per vector")
    fits = {"text": "x" * 40949}
    assert call(fake, "POST", "/vectors/upsert", {"vectors": [{**ok, "metadata": fits}]})[0] == 200
    ids = "&".join(f"ids=v{i}" for i in range(1001))
    assert_rejected(fake, call(fake, "GET", f"/vectors/fetch?{ids}"), 400, "fetch_ids", "at most 1000")
    assert_rejected(fake, call(fake, "GET", "/vectors/fetch?namespace=x"), 400, "fetch_ids", "required")
    assert_rejected(fake, call(fake, "POST", "/vectors/delete", {"ids": [f"v{i}" for i in range(1001)]}), 400, "schema",
                    "more than the maximum of 1000")
    assert_rejected(fake, call(fake, "POST", "/vectors/delete", {"ids": ["a"], "filter": {"x": 1}}), 400,
                    "delete_args", "")
    assert_rejected(fake, call(fake, "POST", "/query", {"vector": [1.0] * 4}), 400, "schema", "topK")
    assert_rejected(fake, call(fake, "POST", "/query", {"vector": [1.0] * 4, "topK": 10001}), 400, "schema", "")
    assert_rejected(fake, call(fake, "POST", "/query", {"vector": [1.0] * 5, "topK": 1}), 400, "dimension",
                    "Vector dimension 5 does not match the dimension of the index 4")
    assert_rejected(fake, call(fake, "POST", "/describe_index_stats", {"filter": {"a": 1}}), 400, "stats_filter", "")
    assert_rejected(fake, call(fake, "POST", "/vectors/upsert", raw=b"{not json"), 400, "json", "")
    assert fake.count() == 1 and fake.vectors()["a"]["metadata"] == fits  # nothing rejected was stored

    # Allowed, but noted: no version header, unknown fields.
    assert call(fake, "POST", "/describe_index_stats", {}, version=None)[0] == 200
    assert call(fake, "POST", "/query", {"vector": [1.0] * 4, "topK": 1, "includeMetaData": True})[0] == 200
    warnings = fake.take_warnings()
    assert any("X-Pinecone-Api-Version" in w for w in warnings) and any("includeMetaData" in w for w in warnings)


def test_fake_failure_modes(fakes: Callable[..., PineconeFake]) -> None:
    fake = fakes(dimension=2)

    def upsert(ids: list[str], ns: str | None = None) -> tuple[int, Any, dict[str, str]]:
        body: dict[str, Any] = {"vectors": [{"id": i, "values": [1.0, 0.5]} for i in ids]}
        if ns is not None:
            body["namespace"] = ns
        return call(fake, "POST", "/vectors/upsert", body)

    def stats_count() -> int:
        return int(call(fake, "POST", "/describe_index_stats", {})[1]["totalVectorCount"])

    # Writes carry an increasing LSN; omitted, "" and "__default__" are one namespace.
    lsns = [int(upsert(["a"], ns)[2]["x-pinecone-request-lsn"]) for ns in (None, "", "__default__")]
    assert lsns == sorted(lsns) and len(set(lsns)) == 3
    assert fake.namespaces() == {"": 1}
    for q in ("", "&namespace=", "&namespace=__default__"):
        assert list(call(fake, "GET", f"/vectors/fetch?ids=a{q}")[1]["vectors"]) == ["a"]
    stats = call(fake, "POST", "/describe_index_stats", {})[1]
    assert stats["namespaces"] == {"__default__": {"vectorCount": 1}} and stats["dimension"] == 2

    # Count lag by calls: the count of before the last write for the next 2 stats calls.
    fake.lag_count(calls=2)
    upsert(["b", "c"])
    assert [stats_count() for _ in range(3)] == [1, 1, 3]
    # Count lag by time.
    fake.lag_count(seconds=0.5)
    upsert(["d"])
    assert stats_count() == 3
    time.sleep(0.6)
    assert stats_count() == 4
    fake.lag_count()

    # Lossy: acknowledged, not stored.
    fake.lossy(ids=["e"])
    assert upsert(["e", "f"])[1] == {"upsertedCount": 2}
    assert fake.dropped == ["e"] and "e" not in fake.vectors() and "f" in fake.vectors()
    fake.lossy(fraction=0.5, seed=1)
    upsert([f"l{i}" for i in range(200)])
    assert 60 < len(fake.dropped) - 1 < 140
    fake.lossy()

    # Short ack: the last `missing` vectors neither stored nor counted.
    fake.short_ack(missing=2)
    assert upsert(["s1", "s2", "s3"])[1] == {"upsertedCount": 1}
    assert fake.unacked == ["s2", "s3"] and "s1" in fake.vectors() and "s2" not in fake.vectors()
    assert upsert(["s2"])[1] == {"upsertedCount": 1}

    # Injected 429 (with Retry-After) and 5xx answer the next requests with an rpcStatus body and change nothing.
    fake.fail_next(2, 429, retry_after=1, paths=["/vectors/upsert"])
    fake.fail_next(1, 503)
    before = fake.count()
    code, body, headers = upsert(["x"])
    assert code == 429 and body["code"] == 8 and headers["retry-after"] == "1"
    assert upsert(["x"])[0] == 429
    code, body, _ = call(fake, "GET", "/vectors/fetch?ids=a")
    assert code == 503 and body["code"] == 14 and set(body) == {"code", "message", "details"}
    assert fake.pending_faults == 0 and fake.count() == before
    assert upsert(["x"])[0] == 200

    # list: C-collation order, pagination.next only while more remain.
    ids, token, pages = [], "", 0
    while True:
        q = "/vectors/list?limit=7&namespace=__default__" + (f"&paginationToken={token}" if token else "")
        body = call(fake, "GET", q)[1]
        ids += [v["id"] for v in body["vectors"]]
        pages += 1
        token = body.get("pagination", {}).get("next", "")
        if not token:
            break
    assert ids == sorted(fake.vectors(), key=lambda s: s.encode()) and pages == math.ceil(len(ids) / 7)


def test_official_sdk_works_against_the_fake(fakes: Callable[..., PineconeFake]) -> None:
    from pinecone import Pinecone
    from pinecone.errors.exceptions import ApiError

    fake = fakes(dimension=8)
    records = [{"id": f"doc:{i}#0", "values": vec(i, 8), "metadata": {"title": f"t{i}", "n": i, "tags": ["a", "b"],
                                                                     "even": i % 2 == 0}} for i in range(12)]
    with Pinecone(api_key=KEY).Index(host=fake.url) as idx:
        assert idx.upsert(vectors=records, namespace="sdk").upserted_count == 12
        got = idx.fetch(ids=["doc:3#0", "doc:99#0"], namespace="sdk")
        assert list(got.vectors) == ["doc:3#0"]
        assert got.vectors["doc:3#0"].metadata == records[3]["metadata"]
        assert got.vectors["doc:3#0"].values == pytest.approx(records[3]["values"], abs=1e-6)
        res = idx.query(vector=records[5]["values"], top_k=3, include_metadata=True, namespace="sdk")
        assert res.matches[0].id == "doc:5#0" and res.matches[0].score == pytest.approx(1.0)
        assert res.matches[0].metadata == records[5]["metadata"] and len(res.matches) == 3
        stats = idx.describe_index_stats()
        assert stats.dimension == 8 and stats.total_vector_count == 12
        assert stats.namespaces["sdk"].vector_count == 12
        listed = [v.id for page in idx.list(prefix="doc:1", namespace="sdk") for v in page.vectors]
        assert listed == ["doc:1#0", "doc:10#0", "doc:11#0"]
        page = idx.list_paginated(namespace="sdk", limit=5)
        assert len(page.vectors) == 5 and page.pagination is not None and page.pagination.next
        idx.delete(ids=["doc:0#0", "doc:1#0"], namespace="sdk")
        assert idx.describe_index_stats().namespaces["sdk"].vector_count == 10
        # The default namespace, whichever way the SDK spells it.
        idx.upsert(vectors=[("d", vec(1, 8))])
        assert list(idx.fetch(ids=["d"], namespace="__default__").vectors) == ["d"]
        assert list(idx.fetch(ids=["d"]).vectors) == ["d"]
        # A limit the SDK does not check itself comes back as Pinecone's error.
        with pytest.raises(ApiError) as e:
            idx.upsert(vectors=[("bad", [1.0] * 7)])
        assert "Vector dimension 7 does not match the dimension of the index 8" in str(e.value)
    assert [v.kind for v in fake.take_violations()] == ["dimension"]


def test_official_sdk_grpc_index_works_against_the_fake(fakes: Callable[..., PineconeFake]) -> None:
    """The SDK's own gRPC channel (GrpcIndex, h2c) against the fake's gRPC side: the fake decodes what a
    real client sends, stores it where REST reads, and refuses what Pinecone refuses."""
    from pinecone.grpc import GrpcIndex

    fake = fakes(dimension=8)
    records = [{"id": f"g:{i}#0", "values": vec(i, 8), "metadata": {"title": f"t{i}", "n": i, "f": 0.5 + i,
                                                                   "tags": ["a", "b"], "even": i % 2 == 0}}
               for i in range(12)]
    idx = GrpcIndex(host=fake.url, api_key=KEY, secure=False, grpc_scheme="http")
    try:
        assert idx.upsert(vectors=records, namespace="grpc-sdk", batch_size=5).upserted_count == 12
        idx.upsert(vectors=[("d", vec(1, 8))])  # the default namespace
        bad = idx.upsert(vectors=[("bad", [1.0] * 7)], namespace="grpc-sdk")
    except Exception as e:  # noqa: BLE001 - the SDK raises or reports, depending on its version
        bad = e
    finally:
        close = getattr(idx, "close", None)
        if close:
            close()
    assert "Vector dimension 7 does not match the dimension of the index 8" in str(bad) or \
        getattr(bad, "failed_item_count", 0) == 1, bad
    stored = fake.vectors("grpc-sdk")
    assert sorted(stored) == sorted(r["id"] for r in records)
    assert stored["g:3#0"]["metadata"] == records[3]["metadata"]
    assert stored["g:3#0"]["values"] == pytest.approx(records[3]["values"], abs=1e-6)
    assert list(fake.vectors("__default__")) == ["d"]
    upserts = fake.calls("/vectors/upsert")
    # The SDK sends a call's batches concurrently: they may arrive in any order.
    assert {u.transport for u in upserts} == {"grpc"} and sorted(len(u.body["vectors"]) for u in upserts[:3]) == [2, 5, 5]
    assert upserts[0].headers.get("api-key") == KEY and upserts[0].headers.get(":path") == "/VectorService/Upsert"
    assert upserts[-1].grpc_status == 3  # INVALID_ARGUMENT
    assert [v.kind for v in fake.take_violations()] == ["dimension"]
    fake.take_warnings()  # the SDK's channel may leave out what the fake warns about (e.g. te)


def test_grpc_refusals_fail_at_once_with_the_status(fakes: Callable[..., PineconeFake]) -> None:
    fake = fakes(dimension=8)
    wrong = "pk-wrong-but-secret-0123456789"
    bad = _core.PineconeSink(host=fake.url, api_key=wrong, namespace="ns", base_delay=0.05)
    with pytest.raises(backfill.errors.HttpError) as e:
        bad.upsert([{"id": "a", "values": vec(1, 8)}])
    msg = str(e.value)
    assert "\n" not in msg and "gRPC UNAUTHENTICATED (16)" in msg and "Invalid API Key" in msg, msg
    assert msg.endswith("Pinecone refused the API key: check sink.api_key, which must be a key of the project "
                        "that holds this index (app.pinecone.io, API Keys)"), msg
    assert e.value.grpc_status == 16 and e.value.attempts == 1 and not e.value.retryable
    assert wrong not in msg and wrong not in repr(e.value)
    assert [v.kind for v in fake.take_violations()] == ["auth"]

    # A refusal that names the key (percent-encoded on the wire) comes back decoded and scrubbed.
    fake.fail_next(1, 400, paths=["/vectors/upsert"], message=f"bad request from key {KEY}: 100% wrong")
    with pytest.raises(backfill.errors.HttpError) as e:
        sink(fake).upsert([{"id": "a", "values": vec(1, 8)}])
    msg = str(e.value)
    assert "gRPC INVALID_ARGUMENT (3)" in msg and "100% wrong" in msg and KEY not in msg, msg
    assert e.value.grpc_status == 3 and e.value.attempts == 1

    # RESOURCE_EXHAUSTED and UNAVAILABLE are retried until the budget runs out, then named.
    fake.fail_next(3, 429, paths=["/vectors/upsert"])
    with pytest.raises(backfill.errors.HttpError) as e:
        sink(fake, max_attempts=3, base_delay=0.01).upsert([{"id": "a", "values": vec(1, 8)}])
    assert "RESOURCE_EXHAUSTED (8)" in str(e.value) and e.value.attempts == 3 and e.value.retryable
    assert fake.count("ns") == 0

    with pytest.raises(backfill.errors.ConfigError):
        sink(fake, transport="http3")


def test_grpc_metadata_types_land_as_rest_writes_them(fakes: Callable[..., PineconeFake]) -> None:
    fake = fakes(dimension=4)
    md = {"s": "Grüße 😀 \"q\" \\ \n\t", "i": 7, "neg": -3, "f": 0.1, "big": 1e300, "t": True, "no": False,
          "tags": ["x", "ü"], "empty": [], "n": None}
    grpc_sink = sink(fake, "g")
    rest_sink = sink(fake, "r", transport="rest")
    assert grpc_sink.upsert([{"id": "a", "values": [0.5, -0.25, 1e-40, 3.4e38], "metadata": md}]) == 1
    assert rest_sink.upsert([{"id": "a", "values": [0.5, -0.25, 1e-40, 3.4e38], "metadata": md}]) == 1
    g, r = fake.vectors("g")["a"], fake.vectors("r")["a"]
    assert g == r and "n" not in g["metadata"] and g["metadata"]["s"] == md["s"]
    # numpy float32 arrays and array('f') go in as they are.
    import array

    import numpy as np
    assert grpc_sink.upsert([{"id": "np", "values": np.array([1, 2, 3, 4], dtype=np.float32)},
                             {"id": "arr", "values": array.array("f", [4, 3, 2, 1])},
                             {"id": "f64", "values": np.array([1, 0, 0, 0], dtype=np.float64)}]) == 3
    got = fake.vectors("g")
    assert got["np"]["values"] == [1, 2, 3, 4] and got["arr"]["values"] == [4, 3, 2, 1]
    assert got["f64"]["values"] == [1, 0, 0, 0]
    with pytest.raises(TypeError):
        grpc_sink.upsert([{"id": "bad", "values": ["x", 1, 2, 3]}])
    with pytest.raises(SinkError, match="record listmeta: metadata is not a JSON object"):
        grpc_sink.upsert([{"id": "listmeta", "values": [1, 2, 3, 4], "metadata": [1, 2]}])
    assert "listmeta" not in fake.vectors("g")


def test_many_records_go_in_slices_and_all_land(fakes: Callable[..., PineconeFake]) -> None:
    fake = fakes(dimension=16)
    records = [{"id": f"m{i}", "values": vec(i, 16), "metadata": {"i": i}} for i in range(5000)]
    # Every other record has no metadata, and ids of many lengths: slices are reused for the next
    # ones, and nothing of a record may carry over to the one that takes its place.
    for r in records[1::2]:
        del r["metadata"]
        r["id"] = f"m{int(r['id'][1:])}-{'x' * (int(r['id'][1:]) % 40)}"
    s = sink(fake, "many", max_in_flight=4)
    assert s.upsert(records) == 5000
    assert fake.count("many") == 5000
    stored = fake.vectors("many")
    for r in records:
        got = stored[r["id"]]
        assert got.get("metadata", {}) == r.get("metadata", {}), r["id"]
        assert got["values"] == pytest.approx(r["values"], rel=1e-6), r["id"]
    fake.short_ack(missing=1)  # an error in a later slice still comes out of the call
    with pytest.raises(SinkError):
        s.upsert(records)
    bad = [*records[:4500], {"id": "m-bad", "values": "not numbers"}]  # in the third slice
    with pytest.raises(TypeError):
        s.upsert(bad)
    assert "m-bad" not in fake.vectors("many")


# --- 2. the sink ------------------------------------------------------------------------------------


def test_sdk_and_sink_store_and_read_the_same_data(fakes: Callable[..., PineconeFake]) -> None:
    from pinecone import Pinecone

    fake = fakes(dimension=8)
    records = [{"id": f"doc:{i}#0", "values": vec(i, 8),
                "metadata": {"title": f"title {i}", "n": i, "f": 0.25 * i, "tags": ["x", f"t{i}"], "ok": i % 3 == 0,
                             "text": f"Grüße {i} — 日本語 😀"}}
               for i in range(25)]
    ids = [r["id"] for r in records]
    via_sink = sink(fake, "via-sink")
    with Pinecone(api_key=KEY).Index(host=fake.url) as idx:
        idx.upsert(vectors=records, namespace="via-sdk")
        assert via_sink.upsert(records) == 25
        # The index holds the same thing, whoever wrote it.
        assert fake.vectors("via-sink") == fake.vectors("via-sdk")

        # The sink reads what the SDK wrote, and the SDK what the sink wrote.
        sdk_ns = sink(fake, "via-sdk")
        from_sink = sdk_ns.fetch(ids + ["doc:missing#0"])
        assert sorted(from_sink) == sorted(ids)
        from_sdk = idx.fetch(ids=ids, namespace="via-sink").vectors
        for r in records:
            mine, theirs = from_sink[r["id"]], from_sdk[r["id"]]
            assert mine["id"] == r["id"] and mine["metadata"] == r["metadata"] == theirs.metadata
            assert mine["values"] == pytest.approx(r["values"], abs=1e-6)
            assert list(theirs.values) == pytest.approx(mine["values"], abs=1e-7)

        q = vec(7, 8)
        mine_q = via_sink.query(q, 5)
        sdk_q = idx.query(vector=q, top_k=5, include_metadata=True, namespace="via-sink").matches
        assert [m["id"] for m in mine_q] == [m.id for m in sdk_q]
        assert [m["score"] for m in mine_q] == pytest.approx([m.score for m in sdk_q], abs=1e-6)
        assert [m["metadata"] for m in mine_q] == [m.metadata for m in sdk_q]
        assert mine_q[0]["id"] == "doc:7#0"

        sdk_list = [v.id for page in idx.list(namespace="via-sink") for v in page.vectors]
        assert sdk_list == sorted(ids, key=str.encode)
        assert via_sink.list(limit=1000) == sdk_list
        first = via_sink.list(limit=10)
        assert first == sdk_list[:10] and via_sink.list(after=first[-1], limit=10) == sdk_list[10:20]
        assert via_sink.list(prefix="doc:2") == [i for i in sdk_list if i.startswith("doc:2")]
        assert via_sink.stats() == {"count": 25, "dimension": 8}
        assert idx.describe_index_stats().namespaces["via-sink"].vector_count == 25

        via_sink.delete(ids[:5])
        assert list(idx.fetch(ids=ids[:6], namespace="via-sink").vectors) == [ids[5]]
        idx.delete(ids=ids[5:10], namespace="via-sink")
        assert sorted(via_sink.fetch(ids)) == sorted(ids[10:])
    assert_sink_requests_well_formed(fake, skip_sdk=True)


def test_sanitize_metadata_fits_and_reports() -> None:
    big = BIG_TEXT
    assert 45_000 < len(big.encode()) < 46_000
    src = {"text": big, "title": "T", "n": None, "nested": {"a": 1}, "tags": ["a", "b"], "count": 3}
    out, report = _testing.sanitize_metadata(json.dumps(src), METADATA_LIMIT, ["text"])
    assert out is not None
    parsed = json.loads(out)  # valid UTF-8 and JSON: no code point was cut
    assert len(out.encode()) <= METADATA_LIMIT and report["bytes"] == len(out.encode())
    assert metadata_bytes(parsed) <= METADATA_LIMIT
    assert report["truncated"] == {"text": 1}
    assert report["dropped"].get("n") == 1
    assert big.startswith(parsed["text"]) and len(parsed["text"].encode()) > 30_000
    assert parsed["title"] == "T" and parsed["tags"] == ["a", "b"] and parsed["count"] == 3
    assert "n" not in parsed and "nested" not in parsed
    assert not any(v is None or isinstance(v, dict) for v in parsed.values())
    assert list(parsed) == sorted(parsed)  # canonical: keys sorted

    small = {"b": "x", "a": 1.5, "c": [], "d": True}
    out, report = _testing.sanitize_metadata(json.dumps(small), METADATA_LIMIT, ["text"])
    assert json.loads(out) == small and report["truncated"] == {} and report["dropped"] == {}


def test_sink_fits_45kb_of_metadata_under_the_limit(fakes: Callable[..., PineconeFake]) -> None:
    fake = fakes(dimension=8)
    big = BIG_TEXT
    md = {"text": big, "title": "Big one", "url": "https://acme.slack.com/x", "n": None, "nested": {"a": 1},
          "tags": ["a", "b"]}
    s = sink(fake)
    assert s.upsert([{"id": "big#0", "values": vec(1, 8), "metadata": md},
                     {"id": "small#0", "values": vec(2, 8), "metadata": {"title": "small"}}]) == 2
    stored = fake.vectors("ns")["big#0"]["metadata"]
    assert metadata_bytes(stored) <= METADATA_LIMIT
    assert stored["title"] == "Big one" and stored["url"] == md["url"] and stored["tags"] == ["a", "b"]
    assert big.startswith(stored["text"]) and len(stored["text"].encode()) > 30_000
    assert "n" not in stored and not any(isinstance(v, dict) for v in stored.values())
    assert s.fetch(["big#0"])["big#0"]["metadata"] == stored
    assert fake.vectors("ns")["small#0"]["metadata"] == {"title": "small"}


@pytest.mark.parametrize("transport", ["grpc", "rest"])
@pytest.mark.parametrize("count", [3, 1500])
def test_upsert_from_python_takes_the_pipelines_metadata_step(fakes: Callable[..., PineconeFake], transport: str,
                                                               count: int) -> None:
    """Records from Python are fitted as the pipeline fits the ones it builds (the same core step, before
    packing): to the sink's limit, canonical, and a record whose identity fields cannot fit is not sent and
    not counted, while the rest go (in one slice, and across the slices of a large call)."""
    fake = fakes(dimension=8)
    limit = 120
    records = [{"id": f"fit:{i}#0", "values": vec(i, 8),
                "metadata": {"title": f"T{i}", "n": None, "o": {"k": i}, "text": "x" * 300}} for i in range(count)]
    identity = ("title", "url", "partition", "created_at", "updated_at", "source", "doc_id", "chunk")
    records[1] = {"id": "unfit#0", "values": vec(1, 8), "metadata": {k: 1.2345678901234567e17 for k in identity}}
    s = sink(fake, transport=transport, metadata_max_bytes=limit)
    assert s.upsert(records) == count - 1
    stored = fake.vectors("ns")
    assert len(stored) == count - 1 and "unfit#0" not in stored
    for r in records[:1] + records[2:]:
        want, _ = _testing.sanitize_metadata(dumps(r["metadata"]), limit, ["text"])
        assert stored[r["id"]]["metadata"] == json.loads(want)
        assert metadata_bytes(stored[r["id"]]["metadata"]) <= limit


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_sink_splits_3mb_into_requests_under_2mb(fakes: Callable[..., PineconeFake], transport: str) -> None:
    fake = fakes(dimension=512)
    r = random.Random(5)
    records = [{"id": f"bulk:{i:05d}#0", "values": [r.uniform(-1, 1) for _ in range(512)],
                "metadata": {"text": "".join(r.choice("abcdefgh ") for _ in range(1000)), "i": i}}
               for i in range(1500)]
    s = sink(fake, "bulk", max_in_flight=4, transport=transport)
    t0 = time.monotonic()
    assert s.upsert(records) == 1500
    upserts = fake.calls("/vectors/upsert")
    assert all(u.status == 200 and u.transport == transport for u in upserts)
    assert max(u.body_bytes for u in upserts) <= 2_000_000
    assert max(len(u.body["vectors"]) for u in upserts) <= 1000
    sent = sum(u.body_bytes for u in upserts)
    assert sent > 3_000_000 and len(upserts) >= math.ceil(sent / 2_000_000)
    assert sum(len(u.body["vectors"]) for u in upserts) == 1500  # each record sent once
    assert fake.count("bulk") == 1500 and fake.max_in_flight <= 4
    assert time.monotonic() - t0 < 30
    # Reading and deleting 1,500 ids takes more than one request each (<= 1000 ids a request).
    ids = [x["id"] for x in records]
    got = s.fetch(ids)
    assert len(got) == 1500 and got[ids[1234]]["metadata"] == {"text": records[1234]["metadata"]["text"], "i": 1234}
    assert max(len(c.query["ids"]) for c in fake.calls("/vectors/fetch")) <= 1000
    s.delete(ids)
    assert max(len(c.body["ids"]) for c in fake.calls("/vectors/delete")) <= 1000
    assert fake.count("bulk") == 0
    assert_sink_requests_well_formed(fake)


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_short_ack_raises_sink_error_naming_ids(fakes: Callable[..., PineconeFake], transport: str) -> None:
    fake = fakes(dimension=8)
    records = [{"id": f"ack:{i}#0", "values": vec(i, 8), "metadata": {"i": i}} for i in range(5)]
    fake.short_ack(missing=2)
    with pytest.raises(SinkError) as e:
        sink(fake, transport=transport).upsert(records)
    msg = str(e.value)
    assert "acknowledged with " + ("upserted_count 3" if transport == "grpc" else "upsertedCount 3") in msg, msg
    assert isinstance(e.value, RuntimeError) and isinstance(e.value, backfill.errors.BackfillError)
    assert any(r["id"] in msg for r in records), msg
    assert KEY not in msg and KEY not in repr(e.value)
    assert fake.unacked == ["ack:3#0", "ack:4#0"]


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_nulls_anywhere_in_metadata_are_dropped_before_sending(fakes: Callable[..., PineconeFake],
                                                               transport: str) -> None:
    """The sink looks for nulls 16 bytes at a time: a null value at every offset of a block must be
    found (Pinecone refuses one, and so does the fake), and the word null in a text kept as it is."""
    fake = fakes(dimension=8)
    records = [{"id": f"n{k}", "values": vec(k, 8), "metadata": {"a": "n" * k, "b": None, "c": "nul" * k}}
               for k in range(40)]
    records += [{"id": "text-null", "values": vec(99, 8), "metadata": {"text": "nnnnnnnull? not a null value"}}]
    s = sink(fake, transport=transport)
    assert s.upsert(records) == len(records)
    got = s.fetch([r["id"] for r in records])
    for r in records[:40]:
        assert got[r["id"]]["metadata"] == {"a": r["metadata"]["a"], "c": r["metadata"]["c"]}
    assert got["text-null"]["metadata"] == records[-1]["metadata"]


@pytest.mark.parametrize("transport", ["grpc", "rest"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0.0])
def test_values_pinecone_refuses_fail_the_call_naming_the_record(fakes: Callable[..., PineconeFake], transport: str,
                                                                 bad: float) -> None:
    """A non-finite value, or a vector of zeros only, is refused before the request holding it is
    sent: the call fails naming the record, and the requests packed before it are all the fake sees."""
    fake = fakes(dimension=8)
    records = [{"id": f"v{i}", "values": vec(i, 8)} for i in range(30)]
    records[25]["values"] = [bad] * 8 if bad == 0.0 else vec(25, 8)[:7] + [bad]
    what = "has no non-zero value" if bad == 0.0 else "has a value that is not a finite number"
    s = sink(fake, transport=transport, max_records=10, max_in_flight=1)
    with pytest.raises(SinkError, match=f"record v25 {what}"):
        s.upsert(records)
    assert fake.count("ns") <= 20  # the requests of v0-v9 and v10-v19 at most
    assert s.fetch([r["id"] for r in records[20:]]) == {}  # never the one holding v25, nor what follows


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_sink_retries_429_and_5xx(fakes: Callable[..., PineconeFake], transport: str) -> None:
    fake = fakes(dimension=8)
    fake.fail_next(2, 429, retry_after=1, paths=["/vectors/upsert"])
    fake.fail_next(1, 503, paths=["/vectors/upsert"])
    fake.fail_next(1, 500, paths=["/vectors/fetch"])
    s = sink(fake, transport=transport, base_delay=0.05)
    records = [{"id": f"r{i}", "values": vec(i, 8), "metadata": {"i": i}} for i in range(10)]
    t0 = time.monotonic()
    assert s.upsert(records) == 10
    if transport == "rest":
        assert time.monotonic() - t0 >= 1.0  # Retry-After: 1 was honoured (gRPC has no such header)
    assert len(s.fetch([r["id"] for r in records])) == 10
    assert fake.pending_faults == 0 and fake.count("ns") == 10
    upserts = fake.calls("/vectors/upsert")
    assert [c.status for c in upserts] == [429, 429, 503, 200]
    if transport == "grpc":  # RESOURCE_EXHAUSTED, RESOURCE_EXHAUSTED, UNAVAILABLE, OK
        assert [c.grpc_status for c in upserts] == [8, 8, 14, 0] and {c.transport for c in upserts} == {"grpc"}


@pytest.mark.parametrize("stats_key", ["", "__default__"])
def test_default_namespace_spellings_are_one_namespace(fakes: Callable[..., PineconeFake], stats_key: str) -> None:
    from pinecone import Pinecone

    fake = fakes(dimension=8, default_namespace_key=stats_key)
    empty, default, omitted = sink(fake, ""), sink(fake, "__default__"), sink(fake, None)
    assert empty.upsert([{"id": "e", "values": vec(1, 8), "metadata": {"by": "empty"}}]) == 1
    assert default.upsert([{"id": "d", "values": vec(2, 8), "metadata": {"by": "default"}}]) == 1
    assert omitted.upsert([{"id": "o", "values": vec(3, 8), "metadata": {"by": "omitted"}}]) == 1
    assert fake.namespaces() == {"": 3}
    for s in (empty, default, omitted):
        assert sorted(s.fetch(["e", "d", "o"])) == ["d", "e", "o"]
        assert s.list() == ["d", "e", "o"]
        assert s.stats()["count"] == 3
        assert {m["id"] for m in s.query(vec(1, 8), 3)} == {"d", "e", "o"}
    with Pinecone(api_key=KEY).Index(host=fake.url) as idx:
        for ns in ("", "__default__"):
            assert sorted(idx.fetch(ids=["e", "d", "o"], namespace=ns).vectors) == ["d", "e", "o"]
    default.delete(["e"])
    assert omitted.stats()["count"] == 2 and empty.list() == ["d", "o"]


# --- 3. whole backfills -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pc_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_export(tmp_path_factory.mktemp("pc-export") / "export", channels=3, days=4, messages_per_day=6)


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_run_into_pinecone_verifies(fakes: Callable[..., PineconeFake], pc_export: Path, tmp_path: Path,
                                    transport: str) -> None:
    fake = fakes()
    config, _ = pinecone_config(tmp_path, pc_export, fake, transport=transport)
    junit = tmp_path / "verify.xml"
    r = cli("run", str(config), "--progress", "none", "--json", "--junit", str(junit))
    assert r.code == 0, r.err
    report = json.loads(r.out)
    v = report["verify"]
    assert v["ok"] is True and v["count_ok"] is True
    assert v["expected_count"] == v["observed_count"] == fake.count("slack") == v["checked"] > 20
    assert v["missing"] == [] and v["mismatched"] == []
    assert report["ingest"]["chunks_written"] == fake.count("slack")
    assert report["ingest"]["records_skipped"] == 0 and report["ingest"]["skipped_ids"] == []
    assert all(i.startswith("slack:") and "#" in i for i in fake.vectors("slack"))
    assert all(metadata_bytes(x.get("metadata", {})) <= METADATA_LIMIT for x in fake.vectors("slack").values())
    assert junit_failures(junit)[0] == 0
    assert_sink_requests_well_formed(fake)
    assert {r.body.get("namespace") for r in fake.calls("/vectors/upsert")} == {"slack"}
    assert {r.transport for r in fake.calls("/vectors/upsert")} == {transport}
    receipts = sorted((tmp_path / "work").rglob("receipts/*.json"))
    assert receipts and json.loads(receipts[-1].read_text())["sink"]["transport"] == transport

    # A rerun sends no upsert; a sampled verify reads back N records.
    n_upserts = len(fake.calls("/vectors/upsert"))
    r = cli("run", str(config), "--progress", "none")
    assert r.code == 0, r.err
    assert len(fake.calls("/vectors/upsert")) == n_upserts
    r = cli("verify", str(config), "--sample", "5", "--json")
    assert r.code == 0, r.err
    v = json.loads(r.out)
    assert v["ok"] is True and v["sampled"] is True and v["checked"] == 5


def test_default_namespace_in_config_any_spelling(fakes: Callable[..., PineconeFake], pc_export: Path,
                                                  tmp_path: Path) -> None:
    fake = fakes(default_namespace_key="")
    config, _ = pinecone_config(tmp_path, pc_export, fake, namespace="")
    r = cli("run", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err
    count = json.loads(r.out)["verify"]["observed_count"]
    assert fake.namespaces() == {"": count} and count > 0
    # The same run, its config now spelling the default namespace "__default__": the same records.
    config.write_text(config.read_text().replace('namespace = ""', 'namespace = "__default__"'))
    r = cli("verify", str(config), "--json")
    assert r.code == 0, r.err
    v = json.loads(r.out)
    assert v["ok"] is True and v["checked"] == v["observed_count"] == count


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_lossy_index_fails_verify_naming_the_missing_ids(fakes: Callable[..., PineconeFake], pc_export: Path,
                                                         tmp_path: Path, transport: str) -> None:
    fake = fakes()
    fake.lossy(fraction=0.15, seed=3)
    config, _ = pinecone_config(tmp_path, pc_export, fake, count_timeout=3, transport=transport)
    r = cli("run", str(config), "--progress", "none", "--json")
    dropped = sorted(set(fake.dropped))
    assert dropped, "the lossy fake dropped nothing"
    assert r.code == 1, r.err
    v = json.loads(r.out)
    assert v["ok"] is False and v["count_ok"] is False
    assert v["missing_count"] == len(dropped) and set(v["missing"]) <= set(dropped) and v["missing"]
    assert v["observed_count"] == v["expected_count"] - len(dropped)
    last = r.err.strip().splitlines()[-1]
    assert any(i in last for i in dropped), last

    junit = tmp_path / "verify.xml"
    r = cli("verify", str(config), "--junit", str(junit))
    assert r.code == 1
    failures, text = junit_failures(junit)
    assert failures >= 1 and any(i in text for i in dropped)


@pytest.mark.parametrize("lag", [{"seconds": 2.0}, {"calls": 4}], ids=["seconds", "calls"])
def test_lagging_count_is_waited_for(fakes: Callable[..., PineconeFake], pc_export: Path, tmp_path: Path,
                                     lag: dict[str, Any]) -> None:
    fake = fakes()
    fake.lag_count(**lag)
    config, _ = pinecone_config(tmp_path, pc_export, fake, count_timeout=30)
    stats_before = fake.stats_calls
    r = cli("run", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err
    v = json.loads(r.out)["verify"]
    assert v["ok"] is True and v["count_ok"] is True and v["observed_count"] == fake.count("slack")
    assert v["count_wait_seconds"] > 0
    assert fake.stats_calls - stats_before >= 3  # it polled


def test_huge_document_metadata_is_truncated_and_reported(fakes: Callable[..., PineconeFake], tmp_path: Path) -> None:
    export = make_export(tmp_path / "export", channels=2, days=2, messages_per_day=4, seed=11)
    channels = {c["name"]: c["id"] for c in json.loads((export / "channels.json").read_text())}
    victim = None
    days = [(name, day) for name in sorted(channels) for day in sorted((export / name).glob("*.json"))]
    for name, day in days:
        msgs = json.loads(day.read_text())
        for m in msgs:
            if m.get("type") == "message" and "subtype" not in m and m.get("text") and "thread_ts" not in m:
                words = "Grüße aus 東京 😀 incident review of the postgres failover, step {} done. "
                m["text"] = "".join(words.format(i) for i in range(900))  # about 75 KB
                victim = f"slack:{channels[name]}:{m['ts']}"
                break
        if victim:
            day.write_text(json.dumps(msgs, ensure_ascii=False))
            break
    assert victim, "no plain message to grow"
    fake = fakes()
    config, _ = pinecone_config(tmp_path, export, fake, target_tokens=20000, max_tokens=20000)
    r = cli("run", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["ingest"]["metadata_truncated"].get("text", 0) >= 1, report["ingest"]
    assert report["verify"]["ok"] is True and report["verify"]["mismatched"] == []
    stored = fake.vectors("slack")
    big = [x for i, x in stored.items() if i.startswith(victim + "#")]
    assert big, f"{victim} not in the index"
    md = big[0]["metadata"]
    assert metadata_bytes(md) <= METADATA_LIMIT
    assert len(md["text"].encode()) > 30_000 and "postgres failover" in md["text"]
    assert md["doc_id"] == victim and md["title"] and md["url"]


def test_429_bursts_and_5xx_are_retried_and_the_run_verifies(fakes: Callable[..., PineconeFake], pc_export: Path,
                                                              tmp_path: Path) -> None:
    fake = fakes()
    fake.fail_next(3, 429, retry_after=1, paths=["/vectors/upsert"])
    fake.fail_next(2, 503)
    fake.fail_next(1, 500, paths=["/vectors/fetch"])
    fake.fail_next(1, 502, paths=["/describe_index_stats"])
    config, _ = pinecone_config(tmp_path, pc_export, fake)
    r = cli("run", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err
    v = json.loads(r.out)["verify"]
    assert v["ok"] is True and v["observed_count"] == fake.count("slack") > 0
    assert fake.pending_faults == 0
    assert sum(1 for x in fake.requests if x.injected) == 7


def test_dimension_mismatch_is_one_line_before_any_upsert(fakes: Callable[..., PineconeFake], pc_export: Path,
                                                          tmp_path: Path) -> None:
    fake = fakes(dimension=DIM)
    config, _ = pinecone_config(tmp_path, pc_export, fake, dimension=32)
    r = cli("run", str(config), "--progress", "none")
    assert r.code not in (0, 1), (r.code, r.err)
    assert fake.calls("/vectors/upsert") == []
    last = r.err.strip().splitlines()[-1]
    assert "dimension" in last and "32" in last and str(DIM) in last, r.err
    assert "Traceback" not in r.err


def test_the_api_key_never_leaks(fakes: Callable[..., PineconeFake], pc_export: Path, tmp_path: Path) -> None:
    fake = fakes()
    config, workdir = pinecone_config(tmp_path, pc_export, fake)
    assert KEY not in config.read_text()
    r = cli("run", str(config), "-vvv", "--progress", "log")
    assert r.code == 0, r.err
    assert "/VectorService/Upsert" in r.err, "expected the gRPC upserts in the trace log at -vvv"
    outputs = [r.out, r.err]
    r = cli("verify", str(config), "-vvv", "--json")
    assert r.code == 0, r.err
    outputs += [r.out, r.err]

    # A key the index refuses: 401, one line, and the wrong key appears nowhere either.
    wrong = "pk-wrong-but-still-secret-0123456789"
    r2 = cli("run", str(config), "-vvv", key=wrong)
    assert r2.code not in (0, 1), r2.err
    last = r2.err.strip().splitlines()[-1]
    assert "401" in last or "nauthori" in last or "API key" in last or "UNAUTHENTICATED" in last, last
    auth = fake.take_violations()
    assert auth and {v.kind for v in auth} == {"auth"} and len(auth) <= 3  # not retried
    outputs += [r2.out, r2.err]

    for text in outputs:
        assert KEY not in text and wrong not in text
    files = [p for p in workdir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" and "receipts" in p.parts for p in files)
    assert any("journal" in p.parts for p in files)
    for p in files:
        data = content_bytes(p)
        assert KEY.encode() not in data and wrong.encode() not in data, p
    pi = backfill.PineconeIndex(host=fake.url, api_key=KEY, namespace="x")
    assert KEY not in repr(pi) and KEY not in str(pi)


@pytest.mark.parametrize("transport", ["grpc", "rest"])
def test_a_refused_key_names_the_setting_to_fix(fakes: Callable[..., PineconeFake], pc_export: Path, tmp_path: Path,
                                                transport: str) -> None:
    fake = fakes()
    config, _ = pinecone_config(tmp_path, pc_export, fake, transport=transport)
    r = cli("run", str(config), "--progress", "none", "--json", key="pk-wrong-key-0123456789")
    assert r.code == 3, r.err
    last = r.err.strip().splitlines()[-1]
    assert "HttpError" in last and "refused the API key: check sink.api_key" in last, last
    assert "401 Unauthorized" in last, last  # the first call (describe_index_stats) is REST either way
    assert "transient" not in last
    out = json.loads(r.out)
    assert out["ok"] is False and out["exit_code"] == 3 and out["error"]["transient"] is False
    assert out["error"]["type"] == "HttpError" and "sink.api_key" in out["error"]["message"]
    assert {v.kind for v in fake.take_violations()} == {"auth"}


def test_a_forbidden_request_names_the_permission(fakes: Callable[..., PineconeFake], pc_export: Path,
                                                  tmp_path: Path) -> None:
    fake = fakes()
    config, _ = pinecone_config(tmp_path, pc_export, fake, transport="rest")
    fake.fail_next(1000, 403, message="Forbidden: the API key lacks permission")
    r = cli("run", str(config), "--progress", "none")
    assert r.code == 3, r.err
    last = r.err.strip().splitlines()[-1]
    assert "403 Forbidden" in last and "sink.api_key lacks permission" in last and "ReadWrite" in last, last
    fake.reset_faults()


def wait_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if " INFO " in line and "before retry" in line]


def test_a_throttled_run_says_what_it_waits_for_and_an_unthrottled_one_says_nothing(
        fakes: Callable[..., PineconeFake], pc_export: Path, tmp_path: Path) -> None:
    """At the default log level (INFO), as in an Airflow log: a wait is a line naming the service,
    the reason and the server's advice; at most one such line per service every 10 s."""
    fake = fakes()
    config, _ = pinecone_config(tmp_path, pc_export, fake, transport="rest")
    r = cli("run", str(config), "--progress", "none")
    assert r.code == 0, r.err
    assert wait_lines(r.err) == [] and "retry" not in r.err

    fake.fail_next(3, 429, retry_after=0.4, paths=["/vectors/fetch"])
    r = cli("verify", str(config), "--progress", "none")
    assert r.code == 0, r.err
    lines = wait_lines(r.err)
    assert len(lines) == 1, r.err  # three waits within 10 s: one line
    line = lines[0]
    assert "Pinecone (127.0.0.1:" in line and "rate limited (429 Too Many Requests)" in line, line
    assert "GET /vectors/fetch" in line and "waiting 0.4 s as the server asks (Retry-After" in line, line
    assert KEY not in r.err

    r = cli("verify", str(config), "--progress", "none", "--quiet")
    assert r.code == 0 and r.err == "", r.err
