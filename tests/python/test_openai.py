"""The OpenAI-compatible embedder, against a local OpenAI-compatible server (tests/python/openai_fake.py).

Three layers:
  1. the fake itself is faithful: it enforces the documented limits and the official SDK works against it;
  2. backfill's OpenAIEmbedder (the C++ core) splits, decodes, orders, retries, paces and runs concurrently;
  3. whole backfills: a spent quota and a refused key stop a run with one line, nothing secret leaks, and a
     rerun after the fix completes without embedding any text twice; the CLI runs end to end and verifies.

After every test the fake must have rejected nothing it was not told to: no request broke a limit.
"""

from __future__ import annotations

import gc
import json
import logging
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import backfill
import pytest
from backfill import _core
from backfill._core import _testing
from backfill.errors import ConfigError, EmbedError
from conftest import latest_receipt, run_cli
from fake_base import fakes_on_demand
from openai_fake import DEFAULT_API_KEY, MAX_INPUTS, OpenAIFake, decode_embedding, load_schemas, validator

KEY = DEFAULT_API_KEY
MODEL = "text-embedding-3-small"
DIM = 64


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture()
def fakes() -> Iterator[Callable[..., OpenAIFake]]:
    """Starts fakes on demand; at teardown each must have rejected no request on its own account."""
    yield from fakes_on_demand(OpenAIFake, lambda f: [f"violation: {v}" for v in f.take_violations()],
                               "the fake saw requests that break OpenAI's limits or spec")


def embedder(fake: OpenAIFake, **kw: Any) -> _core.OpenAIEmbedder:
    kw.setdefault("dimensions", DIM)
    kw.setdefault("base_delay", 0.05)
    return _core.OpenAIEmbedder(model=MODEL, api_key=KEY, base_url=fake.url, **kw)


def call(fake: OpenAIFake, body: Any, *, key: str | None = KEY) -> tuple[int, Any, dict[str, str]]:
    """One raw request with urllib: (status, parsed body, lowercased headers)."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(fake.url + "/embeddings", data=json.dumps(body).encode(), method="POST",
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read()), {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read()), {k.lower(): v for k, v in e.headers.items()}


def texts_of(n: int, prefix: str = "text") -> list[str]:
    return [f"{prefix} {i}: the ingest phase skips unchanged documents ({i * 7919 % 1000})" for i in range(n)]


def estimate_tokens(text: str) -> int:
    """backfill's conservative estimate (chunker.hpp): one token per 3 bytes, rounded up."""
    return (len(text.encode("utf-8")) + 2) // 3


def assert_matches(fake: OpenAIFake, texts: list[str], vectors: list[list[float]], dim: int | None = DIM) -> None:
    assert len(vectors) == len(texts)
    for t, v in zip(texts, vectors):
        assert v == fake.vector(t, dim), f"the vector of {t!r} is not its own"


# --- 1. the fake is faithful ---------------------------------------------------------------------


def test_fake_rejects_what_openai_rejects(fakes: Callable[..., OpenAIFake]) -> None:
    fake = fakes()

    def rejected(resp: tuple[int, Any, dict[str, str]], status: int, kind: str, text: str) -> None:
        code, body, _ = resp
        assert code == status, body
        assert not list(validator("ErrorResponse").iter_errors(body)), body
        assert text in body["error"]["message"], body
        assert [v.kind for v in fake.take_violations()] == [kind]

    ok = {"model": MODEL, "input": ["hello"]}
    rejected(call(fake, ok, key=None), 401, "auth", "didn't provide an API key")
    resp = call(fake, ok, key="sk-wrong-0123456789abcdef")
    rejected(resp, 401, "auth", "Incorrect API key provided")
    assert resp[1]["error"]["code"] == "invalid_api_key" and "0123456789" not in resp[1]["error"]["message"]
    rejected(call(fake, {"model": MODEL, "input": ["x"] * (MAX_INPUTS + 1)}), 400, "too_many_inputs", "'$.input'")
    rejected(call(fake, {"model": MODEL, "input": []}), 400, "schema", "'$.input' is invalid")
    rejected(call(fake, {"model": MODEL, "input": ["a"], "extra": 1}), 400, "schema", "'extra' was unexpected")
    rejected(call(fake, {"input": ["a"]}), 400, "schema", "'model' is a required property")
    rejected(call(fake, {"model": MODEL, "input": ["a"], "encoding_format": "int8"}), 400, "schema", "'$.encoding_format'")
    rejected(call(fake, {"model": MODEL, "input": ["a"], "dimensions": 0}), 400, "schema", "'$.dimensions'")
    rejected(call(fake, {"model": MODEL, "input": ["a", ""]}), 400, "empty_input", "'$.input[1]'")
    rejected(call(fake, {"model": MODEL, "input": ["y" * 33000]}), 400, "input_tokens", "maximum context length is 8192")
    rejected(call(fake, {"model": MODEL, "input": ["y" * 32000] * 38}), 400, "request_tokens", "max 300000 tokens")
    rejected(call(fake, {"model": "text-embedding-ada-002", "input": ["a"], "dimensions": 8}), 400, "dimensions",
             "does not support specifying dimensions")
    rejected(call(fake, {"model": "no-such-model", "input": ["a"]}), 404, "model", "does not exist")
    assert all(not r.ok for r in fake.requests) and fake.text_counts == {}

    # Limits exactly: 2048 inputs, 8192 tokens an input (32,768 bytes by the fake's count).
    assert call(fake, {"model": MODEL, "input": ["x"] * MAX_INPUTS, "dimensions": 4})[0] == 200
    assert call(fake, {"model": MODEL, "input": ["y" * 32768], "dimensions": 4})[0] == 200


def test_fake_answers_follow_the_spec(fakes: Callable[..., OpenAIFake]) -> None:
    fake = fakes()
    texts = texts_of(40)
    status, body, headers = call(fake, {"model": MODEL, "input": texts, "encoding_format": "float"})
    assert status == 200
    assert not list(validator("CreateEmbeddingResponse").iter_errors(body))
    assert [d["index"] for d in body["data"]] != list(range(40)), "data should come shuffled"
    assert sorted(d["index"] for d in body["data"]) == list(range(40))
    for d in body["data"]:
        assert len(d["embedding"]) == 1536
        assert d["embedding"] == fake.vector(texts[d["index"]])
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0
    for h in ("x-request-id", "openai-version", "x-ratelimit-limit-requests", "x-ratelimit-limit-tokens",
              "x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-requests",
              "x-ratelimit-reset-tokens"):
        assert h in headers, h
    assert _testing.parse_go_duration(headers["x-ratelimit-reset-tokens"]) is not None

    status, body, _ = call(fake, {"model": MODEL, "input": texts[:3], "encoding_format": "base64", "dimensions": 8})
    assert status == 200
    for d in body["data"]:
        assert isinstance(d["embedding"], str)
        assert decode_embedding(d["embedding"]) == fake.vector(texts[d["index"]], 8)
    assert fake.text_counts[texts[0]] == 2 and fake.text_counts[texts[5]] == 1

    # Failure modes: 429 with and without Retry-After, insufficient_quota, and a fixed rate-limit window.
    fake.fail_next(1, retry_after=2)
    fake.fail_next(1)
    s1, b1, h1 = call(fake, {"model": MODEL, "input": ["a"]})
    s2, b2, h2 = call(fake, {"model": MODEL, "input": ["a"]})
    assert (s1, s2) == (429, 429) and b1["error"]["code"] == b2["error"]["code"] == "rate_limit_exceeded"
    assert h1["retry-after"] == "2" and "retry-after" not in h2 and "x-ratelimit-reset-requests" in h2
    fake.quota(1)
    assert call(fake, {"model": MODEL, "input": ["a"]})[0] == 200
    s, b, h = call(fake, {"model": MODEL, "input": ["a"]})
    assert s == 429 and b["error"]["code"] == "insufficient_quota" and "retry-after" not in h
    fake.quota(None)
    fake.rate_limit(requests=2, tokens=1000, window=30)
    assert [call(fake, {"model": MODEL, "input": ["a"]})[0] for _ in range(3)] == [200, 200, 429]
    fake.reset_faults()
    assert fake.take_violations() == []  # injected failures are not violations


def test_official_sdk_works_against_the_fake(fakes: Callable[..., OpenAIFake]) -> None:
    openai = pytest.importorskip("openai")
    fake = fakes()
    texts = texts_of(25)
    client = openai.OpenAI(api_key=KEY, base_url=fake.url, max_retries=0)
    try:
        got = client.embeddings.create(model=MODEL, input=texts)  # the SDK asks for base64 and decodes it
        assert [d.index for d in got.data] != list(range(25))
        for d in got.data:
            assert d.embedding == fake.vector(texts[d.index])
        got = client.embeddings.create(model=MODEL, input=texts[:2], dimensions=16, encoding_format="float")
        assert all(d.embedding == fake.vector(texts[d.index], 16) for d in got.data)
        assert got.usage.prompt_tokens > 0
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(api_key="sk-nope-0000000000", base_url=fake.url, max_retries=0).embeddings.create(
                model=MODEL, input=["a"])
        assert [v.kind for v in fake.take_violations()] == ["auth"]
    finally:
        client.close()
    assert load_schemas()  # the fake read the same spec the SDK is generated from


# --- 2. the embedder ---------------------------------------------------------------------------------


def test_vectors_land_in_order_and_match_their_texts(fakes: Callable[..., OpenAIFake]) -> None:
    fake = fakes()
    emb = embedder(fake, max_inputs=16)
    assert emb.identity == f"openai:{MODEL}:{DIM}" and emb.dimension == DIM
    texts = texts_of(200) + ["Grüße aus 東京 😀 and some \"quotes\"\\ and \n newlines \t tabs", "/+/=="]
    vectors = emb.embed(texts)
    assert_matches(fake, texts, vectors)
    shuffled = [r for r in fake.embedded()]
    assert len(shuffled) >= 13
    assert emb.calls == fake.calls == len(shuffled) and emb.inputs == fake.inputs == len(texts)
    assert all(r.body["encoding_format"] == "base64" for r in shuffled)
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in shuffled)
    assert emb.tokens == sum(sum(r.tokens) for r in shuffled)
    assert fake.twice() == {}


def test_float_answers_are_accepted(fakes: Callable[..., OpenAIFake]) -> None:
    fake = fakes(ignore_base64=True)  # a server that ignores encoding_format
    texts = texts_of(30)
    assert_matches(fake, texts, embedder(fake).embed(texts))


def test_dimensions_are_passed_through_only_when_set(fakes: Callable[..., OpenAIFake]) -> None:
    fake = fakes()
    texts = texts_of(5)
    emb = embedder(fake, dimensions=256)
    assert emb.identity == f"openai:{MODEL}:256"
    assert_matches(fake, texts, emb.embed(texts), 256)
    assert fake.requests[-1].body["dimensions"] == 256
    emb = embedder(fake, dimensions=0)  # the model's own size, and no "dimensions" in the request
    assert emb.identity == f"openai:{MODEL}:1536"
    assert_matches(fake, texts, emb.embed(texts), None)
    assert "dimensions" not in fake.requests[-1].body
    # The Python facade: None means "the model's default".
    spec = backfill.OpenAIEmbedder(model="text-embedding-3-large", api_key=KEY, base_url=fake.url)
    assert spec.build().identity == "openai:text-embedding-3-large:3072"
    with pytest.raises(ConfigError, match="dimensions is required"):
        backfill.OpenAIEmbedder(model="my-local-model", base_url=fake.url).build()


def test_splitting_respects_both_limits(fakes: Callable[..., OpenAIFake]) -> None:
    fake = fakes()
    emb = embedder(fake, max_inputs=10, max_tokens_per_request=3000, max_input_tokens=2000, concurrency=3)
    sizes = [10, 500, 5900, 2000, 40, 3000, 6000, 120, 800, 4500] * 12  # bytes
    texts = [f"{i:04d} " + "w" * (n - 5) for i, n in enumerate(sizes)]
    assert_matches(fake, texts, emb.embed(texts))
    sent = fake.embedded()
    assert all(len(r.inputs) <= 10 for r in sent)
    assert all(sum(estimate_tokens(t) for t in r.inputs) <= 3000 for r in sent)
    assert max(sum(estimate_tokens(t) for t in r.inputs) for r in sent) > 2000  # requests are packed, not tiny
    assert sorted(t for r in sent for t in r.inputs) == sorted(texts) and fake.twice() == {}


def test_default_limits_pack_up_to_2048_inputs_and_300k_tokens(fakes: Callable[..., OpenAIFake]) -> None:
    fake = fakes()
    emb = embedder(fake, dimensions=4)
    assert emb.max_batch == 2048 * 4
    many = [f"#{i}" for i in range(9000)]
    emb.embed(many)
    counts = sorted(len(r.inputs) for r in fake.embedded())
    assert max(counts) == 2048 and sum(counts) == 9000 and len(counts) == 5
    big = [f"{i:03d} " + "z" * 23996 for i in range(100)]  # 8,000 estimated tokens each
    before = len(fake.embedded())
    emb.embed(big)
    sent = fake.embedded()[before:]
    assert all(sum(estimate_tokens(t) for t in r.inputs) <= 300_000 for r in sent)
    assert sum(len(r.inputs) for r in sent) == 100


def test_too_long_input_is_refused_locally_naming_it(fakes: Callable[..., OpenAIFake]) -> None:
    fake = fakes()
    emb = embedder(fake)
    texts = ["fine", "Runbook for the payment outage: " + "step " * 6000, "also fine"]
    with pytest.raises(EmbedError) as e:
        emb.embed(texts)
    msg = str(e.value)
    assert "input 1" in msg and "Runbook for the payment outage" in msg and "8192" in msg and "\n" not in msg
    with pytest.raises(EmbedError, match="empty"):
        emb.embed(["a", ""])
    assert fake.requests == []


def test_requests_run_concurrently(fakes: Callable[..., OpenAIFake]) -> None:
    fake = fakes(latency=0.3)
    texts = texts_of(64)
    t0 = time.monotonic()
    assert_matches(fake, texts, embedder(fake, max_inputs=8, concurrency=4).embed(texts))
    took = time.monotonic() - t0
    assert len(fake.embedded()) == 8
    assert fake.max_in_flight >= 2, "the fake never saw two requests at once"
    assert fake.max_in_flight <= 4
    assert took < 8 * 0.3, f"8 requests of 0.3 s took {took:.2f} s: not concurrent"


def test_embed_is_thread_safe(fakes: Callable[..., OpenAIFake]) -> None:
    fake = fakes()
    emb = embedder(fake, max_inputs=7, concurrency=3)
    results: dict[int, list[list[float]]] = {}
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            results[k] = emb.embed(texts_of(50, prefix=f"thread {k}"))
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    for k in range(6):
        assert_matches(fake, texts_of(50, prefix=f"thread {k}"), results[k])
    assert emb.inputs == fake.inputs == 300 and emb.calls == fake.calls


def test_429_with_and_without_retry_after_are_retried(fakes: Callable[..., OpenAIFake]) -> None:
    fake = fakes()
    emb = embedder(fake, max_inputs=10, concurrency=1)
    texts = texts_of(30)
    fake.fail_next(1, retry_after=1)
    fake.fail_next(2)  # no Retry-After: the x-ratelimit-reset-* durations (20 ms) say when
    t0 = time.monotonic()
    assert_matches(fake, texts, emb.embed(texts))
    assert time.monotonic() - t0 >= 0.9, "Retry-After: 1 was not honoured"
    statuses = [r.status for r in fake.requests]
    assert statuses.count(429) == 3 and statuses.count(200) == 3
    assert emb.http_stats()["retries"] == 3
    assert fake.twice() == {}


def test_rate_limit_headers_pace_requests(fakes: Callable[..., OpenAIFake]) -> None:
    fake = fakes()
    fake.rate_limit(requests=3, tokens=1_000_000, window=1.0)
    emb = embedder(fake, max_inputs=5, concurrency=1)
    texts = texts_of(40)
    assert_matches(fake, texts, emb.embed(texts))
    assert [r.status for r in fake.requests].count(429) == 0, "the announced budget was not respected"
    assert emb.budget_waits >= 2


def test_refused_key_and_spent_quota_fail_with_one_clear_line(fakes: Callable[..., OpenAIFake]) -> None:
    fake = fakes()
    fake.api_key = "sk-some-other-key-000000"
    emb = embedder(fake)
    with pytest.raises(EmbedError) as e:
        emb.embed(texts_of(3))
    msg = str(e.value)
    assert "the API key was refused (401 Unauthorized: invalid_api_key" in msg and "embedder.api_key" in msg
    assert KEY not in msg and "\n" not in msg
    assert [v.kind for v in fake.take_violations()] == ["auth"]
    fake.api_key = KEY
    fake.quota(0)
    with pytest.raises(EmbedError) as e:
        emb.embed(texts_of(3))
    msg = str(e.value)
    assert "out of quota (429 insufficient_quota" in msg and KEY not in msg and "\n" not in msg
    assert len(fake.requests) == 2, "neither failure may be retried"


def test_a_key_without_permission_names_the_permission_it_needs(fakes: Callable[..., OpenAIFake]) -> None:
    """A restricted key without the embeddings permission: OpenAI answers 403 (the key is known)."""
    fake = fakes()
    fake.fail_next(1, 403, code="", type="invalid_request_error",
                   message="You have insufficient permissions for this operation. Missing scopes: model.request.")
    with pytest.raises(EmbedError) as e:
        embedder(fake).embed(texts_of(3))
    msg = str(e.value)
    assert "the API key was refused (403 Forbidden" in msg and "embedder.api_key" in msg, msg
    assert "Model capabilities" in msg and "model.request" in msg and "embedder.model" in msg, msg
    assert KEY not in msg and "\n" not in msg
    assert len(fake.requests) == 1, "a refusal is not retried"


def test_configuration_errors_are_config_errors(fakes: Callable[..., OpenAIFake]) -> None:
    fake = fakes()
    for kw, text in [({"max_inputs": 0}, "max_inputs"), ({"max_inputs": 4096}, "max_inputs"),
                     ({"concurrency": 0}, "concurrency"), ({"max_tokens_per_request": 10}, "max_tokens_per_request"),
                     ({"dimensions": -1}, "dimensions")]:
        with pytest.raises(ConfigError, match=text):
            embedder(fake, **kw)
    with pytest.raises(ConfigError, match="api_key is required for api.openai.com"):
        _core.OpenAIEmbedder(model=MODEL, api_key="")
    with pytest.raises(ConfigError, match="must be positive"):
        backfill.OpenAIEmbedder(model=MODEL, api_key=KEY, dimensions=0).build()
    spec = backfill.OpenAIEmbedder(model=MODEL, api_key=KEY)
    assert KEY not in repr(spec) and "api_key" not in repr(spec)


# --- 3. whole backfills ------------------------------------------------------------------------------


def openai_config(tmp_path: Path, export: Path, fake: OpenAIFake, *, name: str = "oa", extra: str = "",
                  max_inputs: int = 8, concurrency: int = 2) -> tuple[Path, Path]:
    workdir = tmp_path / "work"
    config = tmp_path / "backfill.toml"
    config.write_text(textwrap.dedent(f"""\
        [run]
        name = "{name}"
        workdir = "{workdir}"
        batch_records = 64

        [source]
        type = "slack_export"
        path = "{export}"

        [embedder]
        type = "openai"
        model = "{MODEL}"
        base_url = "{fake.url}"
        api_key = "${{OPENAI_API_KEY}}"
        dimensions = {DIM}
        max_inputs = {max_inputs}
        concurrency = {concurrency}

        [chunking]
        target_tokens = 128
        overlap_tokens = 16
        """) + extra)
    return config, workdir


def everything_secret_free(workdir: Path, *texts: str) -> None:
    for t in texts:
        assert KEY not in t
    for p in workdir.rglob("*"):
        if p.is_file() and p.suffix in (".json", ".xml", ".txt", ".log"):
            assert KEY not in p.read_text(errors="replace"), p


@pytest.mark.parametrize("failure", ["insufficient_quota", "invalid_api_key"])
def test_failure_stops_the_run_and_a_rerun_pays_nothing_twice(
    fakes: Callable[..., OpenAIFake], small_export: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch, failure: str,
) -> None:
    fake = fakes()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    config, workdir = openai_config(tmp_path, small_export, fake)
    if failure == "insufficient_quota":
        fake.quota(5)  # the account runs dry in the middle of the run
    else:
        fake.api_key = "sk-rotated-key-99999999"  # the key was rotated under us
    caplog.set_level(logging.DEBUG, logger="backfill")
    p = backfill.Pipeline.from_config(config, progress="none")
    with pytest.raises(EmbedError) as e:
        p.run()
    msg = str(e.value)
    assert "\n" not in msg and KEY not in msg
    if failure == "insufficient_quota":
        assert "out of quota" in msg
        assert fake.calls == 5, "the requests that succeeded before the quota ran out"
    else:
        assert "API key was refused" in msg
        assert fake.calls == 0
        assert [v.kind for v in fake.take_violations()] == ["auth"] * len(fake.requests)
    embedded_before = set(fake.text_counts)
    del p
    gc.collect()

    # The fix: the bill is paid, or the key is put back. The rerun completes and verifies, and no text is
    # embedded twice: what the first run paid for came from the ledger's cache.
    fake.quota(None)
    fake.api_key = KEY
    p = backfill.Pipeline.from_config(config, progress="none")
    report = p.run()
    assert report.verify.ok
    assert fake.twice() == {}, f"embedded twice: {list(fake.twice())[:3]}"
    if failure == "insufficient_quota":
        # Texts of the batch that failed were embedded and cached before the quota ran out.
        assert len(embedded_before) > 0 and report.ingest.embedding_cache_hits > 0
    assert fake.inputs == len(fake.text_counts) == report.ingest.chunks_embedded + len(embedded_before)
    receipt = latest_receipt(workdir)
    assert receipt["embedder"] == {"identity": f"openai:{MODEL}:{DIM}"}
    everything_secret_free(workdir, msg, caplog.text, json.dumps(receipt))


def test_cancel_stops_a_slow_embedding_promptly(fakes: Callable[..., OpenAIFake], small_export: Path,
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fakes(latency=5.0)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    config, _ = openai_config(tmp_path, small_export, fake)
    p = backfill.Pipeline.from_config(config, progress="none")
    p.fetch()
    outcome: list[BaseException | None] = []

    def ingest() -> None:
        try:
            p.ingest()
            outcome.append(None)
        except BaseException as e:  # noqa: BLE001
            outcome.append(e)

    t = threading.Thread(target=ingest)
    t.start()
    deadline = time.monotonic() + 10
    while fake.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fake.in_flight > 0, "no request reached the fake"
    t0 = time.monotonic()
    p.cancel()
    t.join(10)
    assert not t.is_alive() and isinstance(outcome[0], backfill.Cancelled), outcome
    assert time.monotonic() - t0 < 2.0, "the wait for a slow request did not notice the cancel"


def test_cli_run_with_the_openai_embedder_verifies(fakes: Callable[..., OpenAIFake], small_export: Path,
                                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = fakes(latency=0.05)  # so that requests sent together are seen together
    config, workdir = openai_config(tmp_path, small_export, fake, max_inputs=16, concurrency=4)
    env = {"OPENAI_API_KEY": KEY}
    r = run_cli("run", str(config), "--progress", "none", "-vv", "--json", env=env)
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["verify"]["ok"] is True
    assert report["ingest"]["chunks_embedded"] == fake.inputs == len(fake.text_counts) > 0
    assert report["ingest"]["embed_calls"] == fake.calls
    assert fake.max_in_flight >= 2
    receipt = latest_receipt(workdir)
    assert receipt["ok"] is True and receipt["embedder"] == {"identity": f"openai:{MODEL}:{DIM}"}
    everything_secret_free(workdir, r.out, r.err)

    # A query goes through the same embedder; the nearest record to a chunk's own text is that chunk.
    some = next(iter(fake.text_counts))
    r = run_cli("query", str(config), some, "-k", "1", "--json", env=env)
    assert r.code == 0, r.err
    assert json.loads(r.out)[0]["metadata"]["text"] == some

    # A rerun embeds nothing; a refused key is one line on stderr and exit code 3.
    r = run_cli("run", str(config), "--progress", "none", "--json", env=env)
    assert r.code == 0 and json.loads(r.out)["ingest"]["embed_calls"] == 0
    fake.api_key = "sk-revoked-key-0000000"
    r = run_cli("query", str(config), "payments", env=env)
    assert r.code == 3
    lines = [ln for ln in r.err.splitlines() if ln.startswith("backfill:")]
    assert len(lines) == 1 and "EmbedError" in lines[0] and "API key was refused" in lines[0], r.err
    assert "transient" not in lines[0], "a refused key is terminal: rerunning does not help"
    assert fake.take_violations()  # the refused request
    everything_secret_free(workdir, r.out, r.err)

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    r = run_cli("run", str(config), "--progress", "none")
    assert r.code == 2 and "embedder.api_key: environment variable OPENAI_API_KEY is not set" in r.err


def test_an_exhausted_retry_budget_is_reported_transient(fakes: Callable[..., OpenAIFake], small_export: Path,
                                                         tmp_path: Path) -> None:
    fake = fakes()
    fake.fail_next(1000, 503, code="server_error", type="server_error")
    config, workdir = openai_config(tmp_path, small_export, fake, concurrency=1)
    config.write_text(config.read_text().replace("concurrency = 1\n", "concurrency = 1\nmax_attempts = 1\n"))
    r = run_cli("run", str(config), "--progress", "none", env={"OPENAI_API_KEY": KEY})
    assert r.code == 3
    lines = [ln for ln in r.err.splitlines() if ln.startswith("backfill:")]
    assert len(lines) == 1 and "503" in lines[0], r.err
    assert lines[0].endswith("(transient: running again later may succeed)"), lines[0]


def test_chunks_are_kept_within_the_embedders_input_limit(fakes: Callable[..., OpenAIFake], small_export: Path,
                                                         tmp_path: Path) -> None:
    fake = fakes()
    emb = backfill.OpenAIEmbedder(model=MODEL, api_key=KEY, base_url=fake.url, dimensions=DIM, max_input_tokens=100)
    with pytest.raises(ConfigError, match=r"chunking.target_tokens \(128\) is over the embedder's limit of 100"):
        backfill.Pipeline(backfill.SlackExport(small_export), emb, name="lim", workdir=tmp_path / "a",
                          chunking=backfill.Chunking(target_tokens=128, overlap_tokens=16), progress="none")
    p = backfill.Pipeline(backfill.SlackExport(small_export), emb, name="lim", workdir=tmp_path / "b",
                          chunking=backfill.Chunking(target_tokens=64, overlap_tokens=8), progress="none")
    assert p.run().verify.ok
    assert fake.inputs > 0
    assert max(estimate_tokens(t) for t in fake.text_counts) <= 100
