"""The engine's own HTTP/2 connections for gRPC calls (cpp/src/http/h2/), through PineconeSink.

The gRPC upserts of these tests travel on connections the engine opens and keeps itself (nghttp2
framing, the loop thread's poll), not on libcurl's; the fake (tests/python/pinecone_fake.py, h2 on
the server side) counts connections and frames and can drop calls or say GOAWAY. Retries, errors and
limits are the engine's, the same as on libcurl's path: test_pinecone.py runs its gRPC cases on this
path too.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from backfill import _core
from backfill.errors import HttpError
from fake_base import fakes_on_demand, untrusted_ca_file
from pinecone_fake import PineconeFake, pinecone_problems

KEY = "pk-test-secret"
DIM = 16


@pytest.fixture()
def fakes() -> Iterator[Callable[..., PineconeFake]]:
    """Starts fakes on demand; at teardown each must have rejected no request and warned of nothing."""
    yield from fakes_on_demand(lambda dimension=DIM, **kw: PineconeFake(dimension=dimension, **kw), pinecone_problems,
                               "the fake saw requests that break Pinecone's limits or spec")


def records(n: int, dim: int = DIM, prefix: str = "r") -> list[dict[str, Any]]:
    rng = random.Random(n)
    return [{"id": f"{prefix}{i}", "values": [rng.uniform(-1, 1) for _ in range(dim)], "metadata": {"i": i}}
            for i in range(n)]


def grpc_sink(fake: PineconeFake, **kw: Any) -> Any:
    kw.setdefault("namespace", "ns")
    return _core.PineconeSink(host=fake.url, api_key=KEY, transport="grpc", **kw)


def test_calls_share_a_few_kept_connections(fakes: Callable[..., PineconeFake]) -> None:
    fake = fakes()
    s = grpc_sink(fake, max_records=10, max_in_flight=4)
    assert s.upsert(records(600)) == 600
    assert s.upsert(records(400, prefix="q")) == 400
    upserts = fake.calls("/vectors/upsert")
    assert len(upserts) >= 100 and {u.transport for u in upserts} == {"grpc"}
    # 100 calls or more (records go in slices, each packed on its own), at most 4 at once: one
    # connection carries up to 4 calls, and it is kept between upsert() calls. (One connection per
    # call would be 100 or more.)
    assert fake.h2_connections == 1, fake.h2_connections
    assert fake.count("ns") == 1000


def test_data_frames_stay_within_the_servers_frame_size(fakes: Callable[..., PineconeFake]) -> None:
    fake = fakes(dimension=1536)
    s = grpc_sink(fake, max_in_flight=2)
    assert s.upsert(records(400, dim=1536)) == 400  # ~2.5 MB of floats, two requests of ~1.2 MB
    # The fake leaves SETTINGS_MAX_FRAME_SIZE at its default (16,384): frames fill it, no more.
    assert fake.max_data_frame == 16384
    assert fake.h2_connections == 1


def test_a_dropped_connection_is_retried_on_a_new_one(fakes: Callable[..., PineconeFake]) -> None:
    fake = fakes()
    fake.grpc_disconnect(2)
    s = grpc_sink(fake, max_records=50, max_in_flight=1, base_delay=0.01)
    assert s.upsert(records(100)) == 100
    assert fake.count("ns") == 100
    assert fake.h2_connections == 3  # two cut off (not logged as calls), the third answers both calls
    assert len(fake.calls("/vectors/upsert")) == 2


def test_goaway_moves_the_next_calls_to_a_new_connection(fakes: Callable[..., PineconeFake]) -> None:
    fake = fakes()
    fake.grpc_goaway_after(5)
    s = grpc_sink(fake, max_records=10, max_in_flight=4, base_delay=0.01)
    assert s.upsert(records(300)) == 300
    assert fake.count("ns") == 300
    # 30 calls, 5 answered per connection; calls cut off by a GOAWAY were sent again elsewhere.
    assert fake.h2_connections >= 6
    answered = [u for u in fake.calls("/vectors/upsert") if u.grpc_status == 0]
    assert len(answered) == 30


def test_a_call_that_never_answers_times_out_and_names_the_url(fakes: Callable[..., PineconeFake]) -> None:
    fake = fakes()
    fake.upsert_latency = 3.0
    s = grpc_sink(fake, timeout=0.5, max_attempts=2, base_delay=0.01)
    t0 = time.monotonic()
    with pytest.raises(HttpError) as e:
        s.upsert(records(5))
    took = time.monotonic() - t0
    msg = str(e.value)
    assert "timed out" in msg and "/VectorService/Upsert" in msg and "2 attempts" in msg, msg
    assert took < 2.5, took  # two attempts of 0.5 s, not the server's 3 s each
    assert KEY not in msg


def test_refused_connection_is_a_clear_error(fakes: Callable[..., PineconeFake]) -> None:
    fake = fakes()
    url = fake.url
    fake.stop()
    s = _core.PineconeSink(host=url, api_key=KEY, namespace="ns", transport="grpc", max_attempts=2, base_delay=0.01)
    with pytest.raises(HttpError) as e:
        s.upsert(records(3))
    msg = str(e.value)
    assert "Failed to connect" in msg and url.split("//")[1].split(":")[0] in msg, msg


def test_a_proxy_in_the_environment_is_honoured(fakes: Callable[..., PineconeFake],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """With http_proxy set, gRPC calls go through libcurl (which speaks to proxies); a host in
    no_proxy keeps the engine's own connections."""
    fake = fakes()
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    s = grpc_sink(fake, max_attempts=1)
    with pytest.raises(HttpError) as e:
        s.upsert(records(3))
    assert "127.0.0.1" in str(e.value) and fake.h2_connections == 0
    monkeypatch.setenv("no_proxy", "localhost, 127.0.0.1")
    assert grpc_sink(fake).upsert(records(3)) == 3
    assert fake.h2_connections == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_tls_verifies_the_servers_certificate_and_name(fakes: Callable[..., PineconeFake],
                                                       monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    """Over https://, the calls verify the server against the CA bundle libcurl would use
    ($SSL_CERT_FILE here): the IP address or the DNS name in the certificate, as the URL names it."""
    fake = fakes(tls=True)
    url = fake.url.replace("127.0.0.1", host)
    monkeypatch.setenv("SSL_CERT_FILE", fake.ca_file)
    s = _core.PineconeSink(host=url, api_key=KEY, namespace="ns", transport="grpc", max_attempts=1)
    assert s.upsert(records(50)) == 50
    assert fake.h2_connections == 1 and fake.count("ns") == 50
    monkeypatch.setenv("SSL_CERT_FILE", untrusted_ca_file())
    strict = _core.PineconeSink(host=url, api_key=KEY, namespace="ns", transport="grpc", max_attempts=1)
    with pytest.raises(HttpError, match="SSL certificate problem"):
        strict.upsert(records(1))
    assert fake.h2_connections == 1 and fake.count("ns") == 50  # the refused one never spoke HTTP/2
