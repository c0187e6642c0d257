"""Quarantine in every source that reads JSON: one item that cannot be read (invalid UTF-8 here) among many
is named and left out, the rest is indexed, the run exits 1; once the source has fixed the item, a rerun
indexes it and exits 0. Through the CLI, against the GitHub fake, the Slack Web API fake and a Slack export
folder (Jira's own case is in test_quarantine.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import index_ids, latest_receipt, run_cli
from conftest import write_config as export_config
from github_fake import GitHubFake
from test_github import cli as github_cli
from test_github import config as github_config
from test_github import github  # noqa: F401  (the fake's fixture)
from test_jira import doc_text, index_docs
from test_slack_api import TOKEN, SlackApiFake, expected_ids, write_config, write_export

JUNK = b"\xff\xfe"  # not UTF-8


def after(marks: list[bytes], insert: bytes = JUNK) -> Callable[[str, bytes], bytes]:
    """A body rewriter that writes `insert` right after each of `marks` (each a unique spot of one item)."""

    def fn(_: str, body: bytes) -> bytes:
        for m in marks:
            body = body.replace(m, m + insert)
        return body

    return fn


def run(run_cli_fn: Callable[..., Any], config: Path) -> tuple[int, dict[str, Any], str]:
    r = run_cli_fn("run", str(config), "--progress", "none", "--json")
    return r.code, json.loads(r.out) if r.out.strip() else {}, r.err


def test_github_issue_comment_and_review_that_cannot_be_read(
    github: Callable[..., GitHubFake], tmp_path: Path  # noqa: F811
) -> None:
    fake = github({"acme/widgets": 40})
    issues = list(fake.repos["acme/widgets"].issues.values())
    plain = next(i for i in issues if not i.pull)
    commented = next(i for i in issues if i is not plain and not i.pull and any(n.kind == 0 for n in i.notes))
    comment = next(n for n in commented.notes if n.kind == 0)
    reviewed = next(i for i in issues if i.pull and any(n.kind == 2 for n in i.notes))
    review = next(n for n in reviewed.notes if n.kind == 2)
    fake.mangle = after([f'"number":{plain.number},"title":"'.encode(),
                         f'"id":{comment.id},"node_id":"'.encode(), f'"id":{review.id},"node_id":"'.encode()])
    config, workdir = github_config(tmp_path, fake)
    prefix = "github:acme/widgets"

    code, report, err = run(github_cli, config)
    assert code == 1, err
    bad = {f"{prefix}#{plain.number}": "UTF-8", f"{prefix}/issue_comments/{comment.id}": "UTF-8",
           f"{prefix}#{reviewed.number}": "reviews"}
    assert report["quarantined_count"] == 3
    assert {q["id"]: q["partition"] for q in report["quarantined"]} == dict.fromkeys(bad, "acme/widgets")
    for q in report["quarantined"]:
        assert bad[q["id"]] in q["reason"], q
    docs = index_docs(workdir / "index.sqlite")
    expected = set(fake.documents("acme/widgets"))
    assert set(docs) == expected - {f"{prefix}#{plain.number}", f"{prefix}#{reviewed.number}"}
    assert latest_receipt(workdir)["quarantined"]["count"] == 3

    # GitHub fixes them: the repository is read again, everything indexed, the comment in its issue.
    fake.mangle = None
    code, report, err = run(github_cli, config)
    assert code == 0, err
    assert report["verify"]["ok"] is True and report["verify"]["quarantined_count"] == 0
    docs = index_docs(workdir / "index.sqlite")
    assert set(docs) == expected
    assert comment.body.splitlines()[-1].strip("`") in doc_text(docs[f"{prefix}#{commented.number}"])
    assert latest_receipt(workdir)["quarantined"] == {"count": 0, "items": []}


def test_slack_api_message_that_cannot_be_read(tmp_path: Path) -> None:
    with SlackApiFake(TOKEN) as fake:
        fake.generate(channels=2, messages=60, thread_share=0.2)
        channel = next(iter(fake.channels.values()))
        threaded = {m.get("thread_ts") for m in channel.messages.values()}
        lone = next(m for m in channel.messages.values() if m.get("thread_ts") is None and m["ts"] not in threaded)
        fake.mangle = after([f'"ts": "{lone["ts"]}"'.encode()], b', "junk": "' + JUNK + b'"')
        config = write_config(tmp_path / "c.toml", fake, tmp_path / "wd", "page_size = 20")
        slack = lambda *a: run_cli(*a, env={"SLACK_BOT_TOKEN": TOKEN})  # noqa: E731

        code, report, err = run(slack, config)
        assert code == 1, err
        bad = f"slack:{channel.id}:{lone['ts']}"
        [q] = report["quarantined"]
        assert q["id"] == bad and q["partition"] == channel.id and "UTF-8" in q["reason"]
        docs = {i.rsplit("#", 1)[0] for i in index_ids(tmp_path / "wd" / "index.sqlite")}
        assert docs == expected_ids(fake) - {bad}

        fake.mangle = None
        code, report, err = run(slack, config)
        assert code == 0, err
        assert report["verify"]["quarantined_count"] == 0
        assert {i.rsplit("#", 1)[0] for i in index_ids(tmp_path / "wd" / "index.sqlite")} == expected_ids(fake)


def test_slack_export_message_that_cannot_be_read(tmp_path: Path) -> None:
    with SlackApiFake(TOKEN) as fake:
        fake.generate(channels=2, messages=60, thread_share=0.2)
        export = write_export(fake, tmp_path / "export")
    channel = next(iter(fake.channels.values()))
    threaded = {m.get("thread_ts") for m in channel.messages.values()}
    lone = next(m for m in channel.messages.values() if m.get("thread_ts") is None and m["ts"] not in threaded)
    mark = f'"ts": "{lone["ts"]}"'.encode()
    [day] = [f for f in (export / channel.name).iterdir() if mark in f.read_bytes()]
    good = day.read_bytes()
    day.write_bytes(good.replace(mark, mark + b', "junk": "' + JUNK + b'"'))
    config = export_config(tmp_path / "export.toml", export, name="export", workdir=tmp_path / "wd", dimension=32)

    code, report, err = run(run_cli, config)
    assert code == 1, err
    bad = f"slack:{channel.id}:{lone['ts']}"
    [q] = report["quarantined"]
    assert q["id"] == bad and q["partition"] == channel.id and "UTF-8" in q["reason"]
    assert q["page"].startswith("journal/")
    docs = {i.rsplit("#", 1)[0] for i in index_ids(tmp_path / "wd" / "index.sqlite")}
    assert docs == expected_ids(fake) - {bad}

    day.write_bytes(good)
    code, report, err = run(run_cli, config)
    assert code == 0, err
    assert {i.rsplit("#", 1)[0] for i in index_ids(tmp_path / "wd" / "index.sqlite")} == expected_ids(fake)
