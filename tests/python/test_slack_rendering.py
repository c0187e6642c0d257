"""A bot message is indexed with what a reader sees in Slack: the attachment card (pretext, author,
title, text, fields, footer) and the Block Kit of a message (header, sections, fields, buttons,
context) in place of its fallback text, with the bot named, and no invisible attribute.

The export is tests/python/slack_fixtures/bot_export (written for this test)."""

from __future__ import annotations

from pathlib import Path

import backfill
from backfill import Pipeline

EXPORT = Path(__file__).resolve().parent / "slack_fixtures" / "bot_export"


def indexed_texts(tmp_path: Path) -> dict[str, str]:
    p = Pipeline(
        backfill.SlackExport(EXPORT, workspace_url="https://acme.slack.com"),
        backfill.HashEmbedder(dimension=64),
        backfill.LocalIndex(),
        name="bots",
        workdir=tmp_path / "wd",
        progress="none",
    )
    p.fetch_and_ingest()
    assert p.verify().ok
    return {m.metadata["doc_id"]: m.metadata["text"] for m in p.query("deploy poll", k=10)}


def test_bot_attachments_and_blocks_are_indexed_as_slack_shows_them(tmp_path: Path) -> None:
    texts = indexed_texts(tmp_path)
    assert set(texts) == {"slack:C01DEPLOY:1709280000.000100", "slack:C01DEPLOY:1709283600.000200"}

    card = texts["slack:C01DEPLOY:1709280000.000100"]
    assert "Build Bot (bot) (2024-03-01T08:00:00Z): " in card
    assert ("[payments:main] 2 new commits (https://git.example.com/payments/compare/a1...b2) by Ada Quill:\n"
            "[attachment: Ada Quill: Release 4.2.0: Canary healthy, rolled out to all regions "
            "https://ci.example.com/runs/42\nEnvironment: production\nDuration: 7 minutes\n"
            "Pipeline nightly-release]") in card

    poll = texts["slack:C01DEPLOY:1709283600.000200"]
    assert ("Pollster (bot) (2024-03-01T09:00:00Z): Retro topic poll\n"
            "Which flaky test should we fix first, @Ada?\ncheckout timeout\nfour votes\n"
            "[Vote checkout] [Vote login]\nPoll closes Friday") in poll
    assert "New poll" not in poll  # the fallback text Slack does not show

    for text in texts.values():
        for hidden in ("36a64f", "cb-hidden-attribute", "vote-hidden-id", "opt-1", "B01CI", "B01POLL", "hdr"):
            assert hidden not in text
