"""The Slack Web API source against a local Slack fake (slack_api_fake.py): fetch, embed, index and
verify; documents identical to the export source's for the same messages; kill -9 mid-conversation and
resume; incremental runs; errors of one conversation that leave the others going; pacing for the 2025
non-Marketplace limits, exact and without a 429."""

from __future__ import annotations

import collections
import json
import logging
import signal
import sqlite3
import textwrap
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

import backfill
from backfill import Pipeline
from conftest import index_ids, run_cli
from slack_api_fake import SlackApiFake as _Fake

FAST = 200.0  # a Slack minute lasts 0.3 s in these tests, unless one says otherwise


def SlackApiFake(token: str, **kw: Any) -> _Fake:
    fake = _Fake(token, **kw)
    fake.time_factor = FAST
    return fake

TOKEN = "xoxb-fake-bot-token"


def pipeline(fake: _Fake, workdir: Path, **source: Any) -> Pipeline:
    source.setdefault("rate_scale", fake.time_factor)
    return Pipeline(
        backfill.SlackApi(token=TOKEN, base_url=fake.url, workspace_url="https://acme.slack.com", **source),
        backfill.HashEmbedder(dimension=32),
        backfill.LocalIndex(),
        name="slack",
        workdir=workdir,
        progress="none",
    )


def limited(fake: _Fake, factor: float) -> _Fake:
    """The fake under the 2025 non-Marketplace limits, a Slack minute lasting 60 / `factor` seconds."""
    fake.time_factor = factor
    fake.non_marketplace = True
    return fake


def documents(workdir: Path) -> dict[str, str]:
    """Document id -> its text, from the local index (chunks joined in order)."""
    parts: dict[str, list[tuple[int, str]]] = defaultdict(list)
    with sqlite3.connect(workdir / "index.sqlite") as db:
        for rid, meta in db.execute("SELECT id, metadata FROM vectors"):
            doc, n = rid.rsplit("#", 1)
            parts[doc].append((int(n), json.loads(meta)["text"]))
    return {d: "\n".join(t for _, t in sorted(p)) for d, p in parts.items()}


def expected_ids(fake: _Fake, channels: list[str] | None = None) -> set[str]:
    out = set()
    for c in fake.channels.values():
        if channels is None or c.id in channels:
            out |= {f"slack:{c.id}:{m['ts']}" for m in c.messages.values() if m.get("thread_ts") in (None, m["ts"])}
    return out


def test_fetch_embed_verify_with_threads(tmp_path: Path) -> None:
    with SlackApiFake(TOKEN) as fake:
        fake.generate(channels=3, messages=120, thread_share=0.2)
        p = pipeline(fake, tmp_path / "wd", channels=["*"])
        p.fetch_and_ingest()
        assert p.verify().ok
        docs = documents(tmp_path / "wd")
        assert set(docs) == expected_ids(fake)
        roots = [m for c in fake.channels.values() for m in c.messages.values()
                 if any(r.get("thread_ts") == m["ts"] and r["ts"] != m["ts"] for r in c.messages.values())]
        assert len(fake.method_calls("conversations.replies")) == len(roots)
        # Every reply is in its thread's document, after the parent.
        for c in fake.channels.values():
            for m in c.messages.values():
                if m.get("thread_ts") not in (None, m["ts"]):
                    assert m["text"] in docs[f"slack:{c.id}:{m['thread_ts']}"]
        assert fake.violations == [] and fake.errors == []
        assert TOKEN not in (tmp_path / "wd").joinpath("state.sqlite").read_bytes().decode("latin-1")


def write_export(fake: _Fake, out: Path) -> Path:
    """The fake's workspace as Slack's export tool writes it: lists and one file per channel and day."""
    out.mkdir(parents=True)
    (out / "users.json").write_text(json.dumps(fake.users))
    (out / "channels.json").write_text(json.dumps([{"id": c.id, "name": c.name, "created": 0, "members": []}
                                                   for c in fake.channels.values()]))
    for c in fake.channels.values():
        days: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for m in c.messages.values():
            m = fake._with_thread(c, m) if m.get("thread_ts") in (None, m["ts"]) else m
            days[time.strftime("%Y-%m-%d", time.gmtime(float(m["ts"])))].append(m)
        (out / c.name).mkdir()
        for day, ms in days.items():
            (out / c.name / f"{day}.json").write_text(json.dumps(sorted(ms, key=lambda m: float(m["ts"]))))
    return out


def export_documents(export: Path, workdir: Path) -> dict[str, str]:
    p = Pipeline(backfill.SlackExport(export, workspace_url="https://acme.slack.com"),
                 backfill.HashEmbedder(dimension=32), backfill.LocalIndex(), name="export", workdir=workdir,
                 progress="none")
    p.fetch_and_ingest()
    assert p.verify().ok
    return documents(workdir)


def test_export_and_api_give_the_same_documents(tmp_path: Path) -> None:
    with SlackApiFake(TOKEN) as fake:
        fake.generate(channels=2, messages=80, thread_share=0.25)
        c = next(iter(fake.channels))
        root = fake.post(c, "*Deploy* <@U02FAKE> see <https://ci.example.com/run/1|run 1> &amp; <#%s>" % c)
        fake.post(c, "~old~ `code` <!here>", user="U03FAKE", thread_ts=root)
        fake.post(c, "", user="", ts="1700900000.000100", subtype="bot_message", username="Build Bot", bot_id="B01",
                  attachments=[{"pretext": "pre", "title": "Release", "text": "all green",
                                "fields": [{"title": "Env", "value": "prod", "short": True}]}])
        p = pipeline(fake, tmp_path / "api")
        p.fetch_and_ingest()
        api = documents(tmp_path / "api")
        export = export_documents(write_export(fake, tmp_path / "export"), tmp_path / "exp")
    assert api == export
    assert "@Kenji Mori" in api[f"slack:{c}:{root}"] and "run 1 (https://ci.example.com/run/1)" in api[f"slack:{c}:{root}"]


def write_config(path: Path, fake: _Fake, workdir: Path, extra: str = "") -> Path:
    path.write_text(textwrap.dedent(f"""\
        [run]
        name = "slack"
        workdir = "{workdir}"
        batch_records = 16

        [source]
        type = "slack"
        token = "${{SLACK_BOT_TOKEN}}"
        base_url = "{fake.url}"
        channels = ["*"]
        rate_scale = {fake.time_factor}
        {extra}

        [embedder]
        type = "hash"
        dimension = 32

        [sink]
        type = "local"
        """))
    return path


@pytest.mark.parametrize("point", ["fetch.page_journaled=5:kill", "fetch.page_committed=9:kill"])
def test_kill_mid_conversation_then_resume(point: str, tmp_path: Path) -> None:
    with SlackApiFake(TOKEN) as fake:
        fake.generate(channels=2, messages=150, thread_share=0.2)
        config = write_config(tmp_path / "c.toml", fake, tmp_path / "wd", "page_size = 20")
        env = {"SLACK_BOT_TOKEN": TOKEN}
        killed = run_cli("run", str(config), "--progress", "none", env={**env, "BACKFILL_FAILPOINTS": point})
        assert killed.code == -signal.SIGKILL, killed.err
        r = run_cli("run", str(config), "--progress", "none", env=env)
        assert r.code == 0, r.err
        ids = index_ids(tmp_path / "wd" / "index.sqlite")
        docs = {i.rsplit("#", 1)[0] for i in ids}
        assert docs == expected_ids(fake)
        # The rerun went on from the kill: the workspace lists (auth.test, conversations.list,
        # users.list) are read again, and at most the one page of each conversation whose journaling
        # the kill cut short (a conversation's pages are read one after another); no other answer was
        # asked for twice.
        ok = collections.Counter(
            (x.method, tuple(sorted(x.params.items()))) for x in fake.calls if x.status == 200)
        lists = {"auth.test", "conversations.list", "users.list"}
        assert all(n <= 2 for n in ok.values()), ok
        pages_again = collections.Counter(dict(key[1])["channel"] for key, n in ok.items()
                                          if n == 2 and key[0] not in lists)
        assert all(n == 1 for n in pages_again.values()), pages_again
        assert TOKEN not in r.err and TOKEN not in killed.err


def test_incremental_reads_only_what_is_new(tmp_path: Path) -> None:
    with SlackApiFake(TOKEN) as fake:
        fake.epoch = time.time() - 30 * 86400
        fake.generate(channels=2, messages=100, thread_share=0.2)
        c1, c2 = list(fake.channels)
        p = pipeline(fake, tmp_path / "wd", thread_lookback_days=60)
        p.fetch_and_ingest()
        first = documents(tmp_path / "wd")
        # New activity, in a second after the first run's (a pass reads up to the second it starts in):
        # a message, a reply to an old thread, an edit.
        time.sleep(2.1)
        now = int(time.time()) - 1
        roots = [m for m in fake.channels[c1].messages.values() if "reply_count" in fake._with_thread(fake.channels[c1], m)]
        old_root = roots[0]["ts"]
        fake.post(c1, "a reply after the first run", thread_ts=old_root, ts=f"{now}.000001")
        new_ts = fake.post(c2, "a message after the first run", ts=f"{now}.000002")
        edited = next(m["ts"] for m in fake.channels[c2].messages.values() if "thread_ts" not in m)
        fake.edit(c2, edited, "edited text")
        calls = len(fake.calls)
        p2 = pipeline(fake, tmp_path / "wd", thread_lookback_days=60)
        _, ingest = p2.fetch_and_ingest()
        second = documents(tmp_path / "wd")
        changed = {d for d in second if second[d] != first.get(d)}
        assert changed == {f"slack:{c1}:{old_root}", f"slack:{c2}:{new_ts}", f"slack:{c2}:{edited}"}
        replies = [x for x in fake.calls[calls:] if x.method == "conversations.replies"]
        assert [x.params["ts"] for x in replies] == [old_root]
        assert "a reply after the first run" in second[f"slack:{c1}:{old_root}"]


def test_one_bad_channel_does_not_block_the_others(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with SlackApiFake(TOKEN) as fake:
        fake.generate(channels=3, messages=20)
        a, b, c = list(fake.channels)
        fake.deny(a, "not_in_channel")
        fake.deny(b, "missing_scope")
        with caplog.at_level(logging.INFO, logger="backfill"):
            p = pipeline(fake, tmp_path / "wd", channels=[a, "#" + fake.channels[b].name, c, "#nope"])
            p.fetch_and_ingest()
        assert {d.split(":")[1] for d in documents(tmp_path / "wd")} == {c}
        text = caplog.text
        assert "not_in_channel" in text and "invite" in text and a in text
        assert "groups:history" in text
        assert "#nope" in text


def test_revoked_token_stops_at_once_without_showing_it(tmp_path: Path) -> None:
    with SlackApiFake(TOKEN) as fake:
        fake.generate(channels=2, messages=10)
        fake.revoke()
        with pytest.raises(backfill.errors.SourceError) as e:
            pipeline(fake, tmp_path / "wd").fetch()
        assert "token_revoked" in str(e.value) and "reinstall" in str(e.value) and TOKEN not in str(e.value)
        assert len(fake.calls) == 1


def test_ratelimited_in_body_and_429_are_waited_out(tmp_path: Path) -> None:
    with SlackApiFake(TOKEN, burst=1) as fake:
        fake.generate(channels=1, messages=30)
        fake.ratelimit_in_body(2)
        p = pipeline(fake, tmp_path / "wd", rate_scale=100)
        p.fetch_and_ingest()
        assert set(documents(tmp_path / "wd")) == expected_ids(fake)
        assert fake.violations == []


def test_non_marketplace_pacing_is_exact(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """1 request a Slack minute (a minute lasts 1 s here) and 15 messages a page: no 429, and the
    wall time within 1.1x of the ideal bound (requests / allowed rate)."""
    factor = 60.0
    with SlackApiFake(TOKEN) as fake:
        limited(fake, factor)
        fake.generate(channels=2, messages=60, thread_share=0.1, max_replies=3)
        p = pipeline(fake, tmp_path / "wd", tier="non_marketplace", rate_scale=factor)
        t0 = time.monotonic()
        with caplog.at_level(logging.INFO, logger="backfill"):
            p.fetch()
        wall = time.monotonic() - t0
        assert [x for x in fake.calls if x.status == 429] == []
        history = len(fake.method_calls("conversations.history"))
        replies = len(fake.method_calls("conversations.replies"))
        ideal = (max(history, replies) - 1) * 60 / factor
        assert wall <= 1.1 * ideal + 0.5, (wall, ideal)
        assert all(int(x.params["limit"]) <= 15 for x in fake.method_calls("conversations.history"))
        assert "non-Marketplace limits" in caplog.text


def test_auto_tier_learns_the_non_marketplace_limits(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    factor = 30.0
    with SlackApiFake(TOKEN) as fake:
        limited(fake, factor)
        fake.generate(channels=1, messages=60, thread_share=0.0)
        p = pipeline(fake, tmp_path / "wd", tier="auto", rate_scale=factor)
        with caplog.at_level(logging.INFO, logger="backfill"):
            p.fetch_and_ingest()
        assert set(documents(tmp_path / "wd")) == expected_ids(fake)
        assert "2025 limits" in caplog.text
        # What it takes to learn: the Tier 3 pace meets a 429 or a page cut to 15, at most twice.
        assert len([x for x in fake.calls if x.status == 429]) <= 2
        assert fake.violations == []


def test_reconcile_removes_deleted_messages_and_threads(tmp_path: Path) -> None:
    with SlackApiFake(TOKEN) as fake:
        fake.generate(channels=2, messages=60, thread_share=0.2)
        c1, c2 = list(fake.channels)
        p = pipeline(fake, tmp_path / "wd", page_size=15)
        p.fetch_and_ingest()
        before = set(documents(tmp_path / "wd"))
        assert before == expected_ids(fake)
        lone = next(m["ts"] for m in fake.channels[c1].messages.values() if "thread_ts" not in m
                    and "reply_count" not in fake._with_thread(fake.channels[c1], m))
        root = next(m["ts"] for m in fake.channels[c2].messages.values()
                    if "reply_count" in fake._with_thread(fake.channels[c2], m))
        # A whole thread deleted (its replies, then its root); a lone message; and a root whose replies
        # stay, which Slack keeps as a tombstone: its thread's document stays.
        for r in [m["ts"] for m in fake.channels[c2].messages.values() if m.get("thread_ts") == root and m["ts"] != root]:
            fake.delete(c2, r)
        fake.delete(c2, root)
        fake.delete(c1, lone)
        kept = next(m["ts"] for m in fake.channels[c1].messages.values()
                    if "reply_count" in fake._with_thread(fake.channels[c1], m))
        fake.delete(c1, kept)
        calls = len(fake.calls)
        report = p.reconcile()
        assert sorted(report.deleted) == sorted([f"slack:{c1}:{lone}", f"slack:{c2}:{root}"])
        assert set(documents(tmp_path / "wd")) == before - set(report.deleted)
        assert f"slack:{c1}:{kept}" in documents(tmp_path / "wd")
        # Reconcile reads history alone, in pages, never the replies.
        assert {x.method for x in fake.calls[calls:]} <= {"conversations.list", "users.list", "conversations.history"}
        assert p.verify().ok


def test_reconcile_deletes_nothing_when_a_conversation_cannot_be_listed(tmp_path: Path) -> None:
    with SlackApiFake(TOKEN) as fake:
        fake.generate(channels=2, messages=20)
        c1, _ = list(fake.channels)
        p = pipeline(fake, tmp_path / "wd")
        p.fetch_and_ingest()
        before = set(documents(tmp_path / "wd"))
        fake.deny(c1, "not_in_channel")
        with pytest.raises(backfill.errors.SourceError, match="not_in_channel.*nothing was deleted|nothing was deleted"):
            p.reconcile(max_fraction=1.0)
        assert set(documents(tmp_path / "wd")) == before


def test_later_runs_say_what_the_thread_lookback_misses(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with SlackApiFake(TOKEN) as fake:
        fake.generate(channels=1, messages=10)
        p = pipeline(fake, tmp_path / "wd", thread_lookback_days=3)
        p.fetch()
        with caplog.at_level(logging.INFO, logger="backfill"):
            pipeline(fake, tmp_path / "wd", thread_lookback_days=3).fetch()
        said = [r.getMessage() for r in caplog.records if "thread_lookback_days" in r.getMessage()]
        assert len(said) == 1 and "last 3 days" in said[0] and "--refetch" in said[0]


def test_a_reused_pipeline_reads_the_lists_again_each_run(tmp_path: Path) -> None:
    with SlackApiFake(TOKEN) as fake:
        fake.generate(channels=1, messages=10)
        p = pipeline(fake, tmp_path / "wd")
        p.fetch_and_ingest()
        fake.add_user("U09FAKE", "zoe", "Zoe Lane")
        new = fake.add_channel("launches")
        ts = fake.post(new, "ready for <@U09FAKE>", user="U09FAKE")
        p.fetch_and_ingest()
        docs = documents(tmp_path / "wd")
        assert set(docs) == expected_ids(fake)
        assert "Zoe Lane" in docs[f"slack:{new}:{ts}"]
        assert len(fake.method_calls("conversations.list")) == 2 and len(fake.method_calls("users.list")) == 2


def test_plan_estimates_the_paced_time_within_ten_percent(tmp_path: Path) -> None:
    """Under the non-Marketplace limits (a Slack minute lasts 0.5 s here), the plan's estimate per
    conversation adds up to within 10 % of the wall time the fetch takes."""
    factor = 120.0
    with SlackApiFake(TOKEN) as fake:
        limited(fake, factor)
        fake.generate(channels=16, messages=12, thread_share=0.0)
        p = pipeline(fake, tmp_path / "wd", tier="non_marketplace", rate_scale=factor)
        plan = p.plan()
        convs = [x for x in plan.partitions if x.name in fake.channels]
        assert len(convs) == 16 and all(x.estimated_requests == 1 for x in convs)
        estimate = sum(x.estimated_seconds for x in plan.partitions)
        assert f"at least {len(convs)} requests" in str(plan)
        t0 = time.monotonic()
        p.fetch()
        wall = time.monotonic() - t0
        assert len(fake.method_calls("conversations.history")) == 16
        assert abs(wall - estimate) <= 0.1 * wall, (wall, estimate)


def test_plan_command_prints_the_estimate(tmp_path: Path) -> None:
    with SlackApiFake(TOKEN) as fake:
        fake.generate(channels=3, messages=5)
        config = write_config(tmp_path / "c.toml", fake, tmp_path / "wd", 'tier = "non_marketplace"')
        r = run_cli("plan", str(config), env={"SLACK_BOT_TOKEN": TOKEN})
        assert r.code == 0, r.err
        assert "at least 3 requests" in r.out and "at the paced rate" in r.out
        assert "#chan-00: at least 1 request, 0.0 s" in r.out


def test_a_resume_after_slack_expired_the_saved_cursors_reads_that_part_again(tmp_path: Path) -> None:
    with SlackApiFake(TOKEN) as fake:
        fake.generate(channels=2, messages=150, thread_share=0.2)
        config = write_config(tmp_path / "c.toml", fake, tmp_path / "wd", "page_size = 20")
        env = {"SLACK_BOT_TOKEN": TOKEN}
        killed = run_cli("run", str(config), "--progress", "none",
                         env={**env, "BACKFILL_FAILPOINTS": "fetch.page_committed=12:kill"})
        assert killed.code == -signal.SIGKILL, killed.err
        fake.expire_cursors()
        r = run_cli("run", str(config), "--progress", "none", env=env)
        assert r.code == 0, r.err
        assert "expired" in r.err
        assert {i.rsplit("#", 1)[0] for i in index_ids(tmp_path / "wd" / "index.sqlite")} == expected_ids(fake)
        assert any(x.error == "invalid_cursor" for x in fake.calls)


def test_reconcile_lists_again_when_slack_expires_the_cursor_midway(tmp_path: Path) -> None:
    with SlackApiFake(TOKEN) as fake:
        fake.generate(channels=1, messages=90, thread_share=0.0)
        (c,) = list(fake.channels)
        p = pipeline(fake, tmp_path / "wd", page_size=15)
        p.fetch_and_ingest()
        before = set(documents(tmp_path / "wd"))
        calls = len(fake.calls)
        fake.expire_cursors(after=4)  # the lists, then two history pages: the third page's cursor expires
        report = p.reconcile()
        history = [x for x in fake.calls[calls:] if x.method == "conversations.history"]
        assert [x.error for x in history].count("invalid_cursor") == 1
        assert report.documents_deleted == 0 and report.listed == len(before)
        assert set(documents(tmp_path / "wd")) == before


def test_a_dm_is_labelled_with_the_name_of_the_person_in_both_sources(tmp_path: Path) -> None:
    with SlackApiFake(TOKEN) as fake:
        general = fake.add_channel("general")
        dm = fake.add_im("U02FAKE")
        fake.post(general, "hello all")
        fake.post(dm, "hello you", user="U01FAKE")
        p = pipeline(fake, tmp_path / "wd", types=["public_channel", "im"])
        labels = {x.name: x.label for x in p.plan().partitions}
    assert labels[dm] == "Kenji Mori" and labels[general] == "#general"

    export = tmp_path / "export"
    (export / "D0001").mkdir(parents=True)
    (export / "users.json").write_text(json.dumps(fake.users))
    (export / "channels.json").write_text("[]")
    (export / "dms.json").write_text(json.dumps([{"id": "D0001", "created": 0, "members": ["U01FAKE", "U03FAKE"]}]))
    (export / "D0001" / "2023-11-14.json").write_text(json.dumps([{"type": "message", "user": "U01FAKE",
                                                                  "text": "hi", "ts": "1700000000.000100"}]))
    q = Pipeline(backfill.SlackExport(export), backfill.HashEmbedder(dimension=32), backfill.LocalIndex(),
                 name="export", workdir=tmp_path / "exp", progress="none")
    assert {x.name: x.label for x in q.plan().partitions}["D0001"] == "Ada Quill, Lin Park"
