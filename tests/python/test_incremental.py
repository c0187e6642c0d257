"""The embedding bill, end to end against the OpenAI-compatible fake: a kill -9 during ingest never
makes the rerun pay again for what was embedded, and editing one issue of 1,000 re-embeds only its
changed chunks and deletes the chunk ids it no longer has."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from conftest import make_export, run_cli
from jira_fake import JiraFake
from openai_fake import OpenAIFake
from test_jira import EMAIL, TOKEN, jira  # noqa: F401  (the Jira fake fixture)

MODEL = "text-embedding-3-small"
KEY_ENV = {"OPENAI_API_KEY": "sk-test-incremental-0123456789", "JIRA_API_TOKEN": TOKEN}


@pytest.fixture()
def openai() -> Iterator[OpenAIFake]:
    with OpenAIFake(api_key=KEY_ENV["OPENAI_API_KEY"]) as fake:
        yield fake
        assert not fake.take_violations()


def embedder_section(fake: OpenAIFake, *, max_inputs: int = 16) -> str:
    return textwrap.dedent(f"""
        [embedder]
        type = "openai"
        model = "{MODEL}"
        base_url = "{fake.url}"
        api_key = "${{OPENAI_API_KEY}}"
        dimensions = 32
        max_inputs = {max_inputs}
        concurrency = 2
        """)


def index_ids(index: Path) -> set[str]:
    with sqlite3.connect(index) as db:
        return {i for (i,) in db.execute("SELECT id FROM vectors")}


@pytest.mark.parametrize("failpoint", ["ingest.batch_embedded=3:kill", "ingest.batch_upserted=2:kill",
                                       "ingest.batch_committed=2:kill"])
def test_after_kill_9_during_ingest_the_rerun_embeds_nothing_twice(
        tmp_path: Path, openai: OpenAIFake, failpoint: str) -> None:
    export = make_export(tmp_path / "export", channels=3, days=8, messages_per_day=10)
    workdir = tmp_path / "work"
    config = tmp_path / "c.toml"
    config.write_text(textwrap.dedent(f"""\
        [run]
        name = "kill"
        workdir = "{workdir}"
        batch_records = 24

        [source]
        type = "slack_export"
        path = "{export}"

        [chunking]
        target_tokens = 96
        overlap_tokens = 8
        """) + embedder_section(openai))

    r = run_cli("run", str(config), "--progress", "none", env={**KEY_ENV, "BACKFILL_FAILPOINTS": failpoint})
    assert r.code == -9, (r.code, r.err[-2000:])
    with sqlite3.connect(workdir / "state.sqlite") as db:
        cached = db.execute("SELECT count(*) FROM embeddings JOIN embedder_ids e ON e.id = embedder"
                            " WHERE e.identity LIKE 'openai:%'").fetchone()[0]
    assert cached > 0

    r = run_cli("run", str(config), "--progress", "none", "--json", env=KEY_ENV)
    assert r.code == 0, r.err[-2000:]
    report = json.loads(r.out)
    assert report["verify"]["ok"] is True
    with sqlite3.connect(workdir / "index.sqlite") as db:
        texts = {json.loads(m)["text"] for (m,) in db.execute("SELECT metadata FROM vectors")}
    # The rerun embedded exactly the texts the killed run had not cached: nothing it paid for and kept
    # was paid for again. (Answers in flight at the moment of the kill are lost with the process.)
    assert report["ingest"]["chunks_embedded"] == len(texts) - cached
    assert set(openai.text_counts) == texts


def test_editing_one_issue_of_1000_re_embeds_only_its_changed_chunks(
        tmp_path: Path, openai: OpenAIFake, jira: Callable[..., JiraFake]) -> None:  # noqa: F811
    fake = jira({"SUBS": 600, "OPS": 400})
    workdir = tmp_path / "work"
    config = tmp_path / "c.toml"
    config.write_text(textwrap.dedent(f"""\
        [run]
        name = "edit"
        workdir = "{workdir}"
        batch_records = 256

        [source]
        type = "jira"
        url = "{fake.url}"
        email = "{EMAIL}"
        token = "${{JIRA_API_TOKEN}}"
        projects = ["SUBS", "OPS"]
        max_results = 100
        rate = 200

        [chunking]
        target_tokens = 96
        overlap_tokens = 8
        """) + embedder_section(openai, max_inputs=256))
    r = run_cli("run", str(config), "--progress", "none", "--json", env=KEY_ENV)
    assert r.code == 0, r.err[-2000:]
    first = json.loads(r.out)
    assert first["ingest"]["documents_written"] == 1000
    index = workdir / "index.sqlite"

    # The issue with the most chunks loses most of its description; its first paragraph stays.
    by_doc: dict[str, set[str]] = {}
    for i in index_ids(index):
        by_doc.setdefault(i.split("#")[0], set()).add(i)
    doc, old_ids = max(by_doc.items(), key=lambda kv: len(kv[1]))
    key = doc.removeprefix("jira:")
    assert len(old_ids) >= 4, old_ids
    with sqlite3.connect(index) as db:
        old_texts = {json.loads(m)["text"] for (m,) in db.execute(
            "SELECT metadata FROM vectors WHERE id LIKE ?", (doc + "#%",))}
    issue: dict[str, Any] = fake.issue(key)
    description = issue["fields"]["description"]
    description["content"] = description["content"][:1] + [
        {"type": "paragraph", "content": [{"type": "text", "text": "Resolved by the rollback on Tuesday."}]}]
    fake.edit(key, description=description)
    counts_before = dict(openai.text_counts)

    r = run_cli("run", str(config), "--progress", "none", "--json", env=KEY_ENV)
    assert r.code == 0, r.err[-2000:]
    second = json.loads(r.out)
    ingest = second["ingest"]
    assert ingest["documents_written"] == 1
    new_ids = {i for i in index_ids(index) if i.startswith(doc + "#")}
    vanished = old_ids - new_ids
    assert vanished and ingest["stale_chunks_deleted"] == len(vanished)
    assert not (vanished & index_ids(index))
    # Only that issue's new chunk texts were sent, each once; unchanged texts came from the cache.
    sent = {t: n - counts_before.get(t, 0) for t, n in openai.text_counts.items() if n > counts_before.get(t, 0)}
    with sqlite3.connect(index) as db:
        new_texts = {json.loads(m)["text"] for (m,) in db.execute(
            "SELECT metadata FROM vectors WHERE id LIKE ?", (doc + "#%",))}
    assert set(sent) == new_texts - old_texts and all(n == 1 for n in sent.values())
    assert ingest["chunks_embedded"] == len(sent) and ingest["embedding_cache_hits"] == len(new_texts & old_texts)
    assert second["verify"]["ok"] is True
