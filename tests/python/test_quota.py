"""Pacing at the quota an API announces (cpp/include/backfill/http/quota.hpp), against fakes whose token
buckets refill as the real APIs' do: no request over the budget, the binding quota named at INFO (with
the phase's progress) and in the progress while throttled and never otherwise, and the waits in the
ingest report."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import backfill
from backfill import _core
from backfill.progress import LogProgress, ProgressSetting, TqdmProgress
from jira_fake import JiraFake
from openai_fake import OpenAIFake
from pinecone_fake import PineconeFake

MODEL = "text-embedding-3-small"


@pytest.fixture
def fake() -> Iterator[OpenAIFake]:
    with OpenAIFake() as f:
        yield f


def texts(n: int) -> list[str]:
    return [f"{i:04d} " + "quota pacing " * 30 for i in range(n)]  # ~100 tokens each by the fake's count


def embed(fake: OpenAIFake, items: list[str]) -> _core.OpenAIEmbedder:
    _core.set_log_level(logging.INFO)  # (a Pipeline sets it from the "backfill" logger; here the embedder is alone)
    emb = _core.OpenAIEmbedder(model=MODEL, api_key=fake.api_key, base_url=fake.url, dimensions=8)
    assert len(emb.embed(items)) == len(items)
    _core.drain_logs()
    return emb


def quota_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "backfill" and r.levelno == logging.INFO and "binds" in r.getMessage()]


def test_a_throttled_run_names_the_binding_quota_and_stays_within_it(
        fake: OpenAIFake, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="backfill")
    items = texts(66)
    need = sum(max(1, (len(t.encode()) + 3) // 4) for t in items)
    fake.token_bucket(tokens_per_minute=need - 400)  # ~4 s of refill past the first full bucket
    emb = embed(fake, items)
    statuses = [r.status for r in fake.requests]
    assert statuses.count(429) == 0, "a request was sent that the announced budget could not hold"
    assert emb.budget_waits >= 1
    lines = quota_lines(caplog)
    assert lines and lines[0].startswith("openai: the quota of") and "tokens a minute binds" in lines[0]
    assert emb.quota_waits.get("openai tokens", 0) > 0


def test_an_unthrottled_run_prints_no_quota_lines(fake: OpenAIFake, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="backfill")
    emb = embed(fake, texts(66))
    assert quota_lines(caplog) == []
    assert emb.budget_waits == 0 and emb.quota_waits == {}


def test_a_429_with_try_again_in_is_waited_for_and_paces_the_rest(fake: OpenAIFake) -> None:
    fake.fail_next(1, message="Rate limit reached for text-embedding-3-small on tokens per min (TPM): "
                              "Limit 1000, Used 1000, Requested 50. Please try again in 300ms.")
    embed(fake, texts(5))
    assert [r.status for r in fake.requests] == [429, 200]


def jira_pipeline(jira: JiraFake, oa: OpenAIFake, pc: PineconeFake, name: str, tmp_path: Path,
                  progress: ProgressSetting = "none") -> backfill.Pipeline:
    return backfill.Pipeline(
        backfill.JiraCloud(url=jira.url, email=jira.email, token=jira.token, projects=("QUO",)),
        backfill.OpenAIEmbedder(model=MODEL, api_key=oa.api_key, base_url=oa.url, dimensions=8),
        backfill.PineconeIndex(host=pc.url, api_key=pc.api_key, namespace=name),
        name=name, workdir=tmp_path / name, progress=progress, count_timeout_seconds=10)


def test_a_throttled_pipeline_says_at_info_which_quota_binds_and_how_far_the_phase_is(
        fake: OpenAIFake, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="backfill")
    with JiraFake({"QUO": 40}, long_comment_share=0.0) as jira, PineconeFake(dimension=8) as pc:
        calm: list[dict[str, Any]] = []
        with OpenAIFake() as probe:  # unthrottled: no quota line, no quota in the progress
            jira_pipeline(jira, probe, pc, "probe", tmp_path, calm.append).fetch_and_ingest()
            need = sum(sum(r.tokens) for r in probe.requests if r.status == 200)
        assert quota_lines(caplog) == []
        assert calm and all(p["quota"] == "" for p in calm), {p["quota"] for p in calm}
        fake.token_bucket(tokens_per_minute=max(600, need * 60 // 62))  # ~2 s of refill to wait for
        seen: list[dict[str, Any]] = []
        jira_pipeline(jira, fake, pc, "quota", tmp_path, seen.append).fetch_and_ingest()
    lines = quota_lines(caplog)
    assert lines and lines[0].startswith("openai: the quota of") and "tokens a minute binds" in lines[0]
    assert re.search(r"waiting \d+\.\d s; .*\b(fetch|ingest) \d+ % done", lines[0]), lines[0]
    assert any(p["quota"] == "openai tokens" for p in seen)


def test_progress_lines_and_bars_name_the_quota_that_binds(caplog: pytest.LogCaptureFixture,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("backfill.progress.time.monotonic", lambda: clock[0])
    shown = LogProgress(every=10)
    tick = {"phase": "ingest", "partition": "", "done": 0, "total": 40, "unit": "pages", "quota": ""}
    with caplog.at_level(logging.INFO, logger="backfill"):
        shown(tick)
        clock[0] += 10
        shown({**tick, "done": 10, "quota": "openai tokens"})
        clock[0] += 10
        shown({**tick, "done": 20})
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["ingest: 10/40 pages (25%), 1.0 pages/s, ETA 30 s; the openai tokens quota binds",
                     "ingest: 20/40 pages (50%), 1.0 pages/s, ETA 20 s"]
    bar = TqdmProgress()
    bar({**tick, "done": 10, "quota": "openai tokens"})
    assert bar._bar.postfix == "openai tokens binds"
    bar({**tick, "done": 11})
    assert not bar._bar.postfix
    bar.close()


def test_a_throttled_pipeline_records_its_waits_per_quota_in_the_report_and_the_receipt(
        fake: OpenAIFake, tmp_path: Path) -> None:
    with JiraFake({"QUO": 40}, long_comment_share=0.0) as jira, PineconeFake(dimension=8) as pc:
        with OpenAIFake() as probe:  # what the run will embed, counted on an unthrottled twin
            jira_pipeline(jira, probe, pc, "probe", tmp_path).fetch_and_ingest()
            need = sum(sum(r.tokens) for r in probe.requests if r.status == 200)
        # A bucket that holds all but ~2 s of refill: the run must wait for the tokens quota, briefly.
        fake.token_bucket(tokens_per_minute=max(600, need * 60 // 62))
        report = jira_pipeline(jira, fake, pc, "quota", tmp_path).run()
        assert report.ok
        assert [r.status for r in fake.requests].count(429) == 0
        waits = report.ingest.waits
        assert set(waits) == {"openai tokens"} and waits["openai tokens"] > 0.5
        assert "waited for quotas: openai tokens" in str(report.ingest)
        receipt = json.loads(Path(report.verify.receipt or "").read_text())
        assert receipt["ingest"]["waits"] == pytest.approx(waits)
        page = report._repr_html_()  # a notebook's summary: the waits per quota, inside the ingest
        assert "<caption>waits</caption><tr><th>openai tokens</th>" in page, page


def test_under_a_binding_request_quota_every_embedding_request_is_full(fake: OpenAIFake, tmp_path: Path) -> None:
    # Small batches (10 records) and small requests (3 texts): each batch alone would end in a
    # part-filled request; merged across batches, only the run's last request may be.
    def pipeline(oa: OpenAIFake, pc: PineconeFake, name: str) -> backfill.Pipeline:
        return backfill.Pipeline(
            backfill.JiraCloud(url=jira.url, email=jira.email, token=jira.token, projects=("QUO",)),
            backfill.OpenAIEmbedder(model=MODEL, api_key=oa.api_key, base_url=oa.url, dimensions=8, max_inputs=3),
            backfill.PineconeIndex(host=pc.url, api_key=pc.api_key, namespace=name),
            name=name, workdir=tmp_path / name, progress="none", count_timeout_seconds=10, batch_records=10)

    with JiraFake({"QUO": 30}, long_comment_share=0.0) as jira, PineconeFake(dimension=8) as pc:
        with OpenAIFake() as probe:  # the texts the run embeds, on an unthrottled twin
            pipeline(probe, pc, "probe").fetch_and_ingest()
            texts = {t for r in probe.requests if r.status == 200 for t in r.inputs}
        fewest = -(-len(texts) // 3)  # every request holds 3 texts (~100 tokens each: far below the token caps)
        # A request bucket a little smaller than the run needs (with the preflight's request): it binds.
        fake.token_bucket(requests_per_minute=fewest - 1)
        assert pipeline(fake, pc, "quota").run().ok
    assert [r.status for r in fake.requests].count(429) == 0
    ingest = [r for r in fake.requests if r.status == 200 and set(r.inputs) <= texts]
    assert sum(len(r.inputs) for r in ingest) == len(texts)
    assert len(ingest) == fewest, " ".join(str(len(r.inputs)) for r in ingest)


def _within_bucket(times: list[float], sizes: list[float], per_second: float) -> bool:
    """Whether sends at `times` costing `sizes` fit a bucket of one second's worth of `per_second` (full at first)."""
    level, at = per_second, times[0] if times else 0.0
    for t, cost in zip(times, sizes):
        level = min(per_second, level + (t - at) * per_second) - cost
        at = t
        if level < -1e-6:
            return False
    return True


@pytest.mark.parametrize("transport", ["grpc", "rest"])
@pytest.mark.parametrize("limits", [{"upserts_per_second": 4.0}, {"bytes_per_second": 30_000.0}],
                         ids=["requests", "bytes"])
def test_the_pinecone_sink_keeps_to_its_configured_rates_without_a_429(
        tmp_path: Path, transport: str, limits: dict[str, float]) -> None:
    # Pinecone announces no rate limit: the sink paces at the documented limits it is configured with
    # (here lowered to what a short test can see), which the fake enforces with its own buckets.
    rate, byte_rate = limits.get("upserts_per_second", 100.0), limits.get("bytes_per_second", 50e6)
    with JiraFake({"QUO": 25}, long_comment_share=0.0) as jira, OpenAIFake() as oa, \
            PineconeFake(dimension=8) as pc:
        pc.rate_limit(**limits)
        report = backfill.Pipeline(
            backfill.JiraCloud(url=jira.url, email=jira.email, token=jira.token, projects=("QUO",)),
            backfill.OpenAIEmbedder(model=MODEL, api_key=oa.api_key, base_url=oa.url, dimensions=8),
            backfill.PineconeIndex(host=pc.url, api_key=pc.api_key, namespace="rates", transport=transport,
                                   max_records=3, max_request_bytes=10_000, rate=rate, byte_rate=byte_rate),
            name="rates", workdir=tmp_path / "rates", progress="none", count_timeout_seconds=10).run()
        assert report.ok
        upserts = [r for r in pc.requests if r.path == "/vectors/upsert"]
    assert pc.throttled == 0 and [r.status for r in upserts].count(429) == 0
    times = [r.t for r in upserts]
    assert _within_bucket(times, [1.0] * len(upserts), rate)
    assert _within_bucket(times, [float(r.body_bytes) for r in upserts], byte_rate)
    spent = sum(float(r.body_bytes) for r in upserts) if "bytes_per_second" in limits else float(len(upserts))
    assert spent > 2 * (byte_rate if "bytes_per_second" in limits else rate), "the test's limit does not bind"
