"""The Slack Web API source at scale against the Slack fake: 20 channels of 2,000 messages with 10 % thread
roots whose replies come up to 3 days later, fetched by `backfill run` processes that are killed (SIGKILL,
by the fake, as a request arrives) once during history and once during replies. The run after them ends
with every message exactly once in the index, verified, and no request that a finished page answered is
asked again: only those in flight at the kill. Then an incremental run after new replies and an edit
touches only those threads."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import latest_receipt
from slack_api_fake import Call, SlackApiFake
from test_slack_api import documents, expected_ids

TOKEN = "xoxb-scenario-token"
FACTOR = 5000.0  # Slack's Tier 3 at 4,000 requests a second: pacing is not what this checks
WORKERS = 4
PAGED = ("conversations.history", "conversations.replies")

pytestmark = pytest.mark.slow


def config(path: Path, fake: SlackApiFake, workdir: Path) -> Path:
    path.write_text(f"""\
[run]
name = "slack-scenario"
workdir = "{workdir}"
fetch_concurrency = {WORKERS}

[source]
type = "slack"
token = "${{SLACK_BOT_TOKEN}}"
base_url = "{fake.url}"
channels = ["*"]
page_size = 200
rate_scale = {FACTOR}
thread_lookback_days = 120

[embedder]
type = "hash"
dimension = 16

[sink]
type = "local"
""")
    return path


def run(cfg: Path, fake: SlackApiFake, kill: tuple[str, int] | None = None) -> tuple[int, str, list[Call]]:
    """`backfill run` in a process of its own; with `kill`, the fake SIGKILLs it as the nth call of that
    method arrives. Returns its exit code, its stderr and the calls it made."""
    env = {k: v for k, v in os.environ.items() if k != "BACKFILL_FAILPOINTS"}
    env["SLACK_BOT_TOKEN"] = TOKEN
    first = len(fake.calls)
    p = subprocess.Popen([sys.executable, "-m", "backfill", "run", str(cfg), "--progress", "none"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if kill:
        fake.kill_at(kill[0], kill[1], p.pid)
    _, err = p.communicate(timeout=120)
    return p.returncode, err, fake.calls[first:]


def asked(calls: list[Call]) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    return [(c.method, tuple(sorted(c.params.items()))) for c in calls if c.method in PAGED]


def repeated_after(killed: list[Call], rerun: list[Call]) -> int:
    """Requests of the rerun that the killed run had already been answered."""
    answered = set(asked([c for c in killed if c.status == 200]))
    return sum(1 for a in asked(rerun) if a in answered)


def messages_per_document(workdir: Path) -> dict[str, int]:
    with sqlite3.connect(workdir / "index.sqlite") as db:
        rows = db.execute("SELECT id, metadata FROM vectors WHERE id LIKE '%#0'").fetchall()
    out = {}
    for rid, meta in rows:
        m: dict[str, Any] = json.loads(meta)
        out[rid.rsplit("#", 1)[0]] = int(m.get("reply_count", 0)) + (0 if m.get("parent_missing") else 1)
    return out


def test_twenty_channels_killed_in_history_and_in_replies_end_exact(tmp_path: Path) -> None:
    with SlackApiFake(TOKEN) as fake:
        fake.time_factor = FACTOR
        fake.epoch = time.time() - 100 * 86400  # every message (and reply) in the past, within the lookback
        fake.generate(channels=20, messages=2000, thread_share=0.1)
        cfg = config(tmp_path / "c.toml", fake, tmp_path / "wd")

        code, err, killed_in_history = run(cfg, fake, ("conversations.history", 60))
        assert code == -signal.SIGKILL, err
        code, err, killed_in_replies = run(cfg, fake, ("conversations.replies", 1200))
        assert code == -signal.SIGKILL, err
        assert [c.method for c in killed_in_replies if c.status == 0] == ["conversations.replies"]
        code, err, finished = run(cfg, fake)
        assert code == 0, err
        assert latest_receipt(tmp_path / "wd")["ok"] is True

        # Every message once: each thread's document holds its root and all its replies.
        per_doc = messages_per_document(tmp_path / "wd")
        assert set(per_doc) == expected_ids(fake)
        assert sum(per_doc.values()) == fake.message_count() == 40_000
        # Only what was in flight at a kill is asked again: the killing request, and at most one
        # answered page per other worker that the kill cut off before it was journaled.
        assert repeated_after(killed_in_history, killed_in_replies) <= WORKERS - 1
        assert repeated_after(killed_in_replies, finished) <= WORKERS - 1
        every = asked([c for c in fake.calls if c.status == 200])
        assert len(every) - len(set(every)) <= 2 * (WORKERS - 1)
        assert fake.violations == [] and fake.errors == []
        assert [c for c in fake.calls if c.status == 429] == []
        before = documents(tmp_path / "wd")

        # An incremental run after a reply to an old thread and an edit: only those two documents change,
        # and only the thread whose latest reply moved is read again.
        c1, c2 = list(fake.channels)[:2]
        root = next(m["ts"] for m in fake.channels[c1].messages.values()
                    if "reply_count" in fake._with_thread(fake.channels[c1], m))
        time.sleep(1.1)  # a new second: the first passes read up to the second they started in
        now = int(time.time())
        fake.post(c1, "a reply after the backfill", thread_ts=root, ts=f"{now}.000001")
        edited = next(m["ts"] for m in fake.channels[c2].messages.values() if "thread_ts" not in m)
        fake.edit(c2, edited, "an edit after the backfill")
        time.sleep(1.1)
        code, err, incremental = run(cfg, fake)
        assert code == 0, err
        after = documents(tmp_path / "wd")
        assert {d for d in after if after[d] != before.get(d)} == {f"slack:{c1}:{root}", f"slack:{c2}:{edited}"}
        assert [c.params["ts"] for c in incremental if c.method == "conversations.replies"] == [root]
