"""A cursor that repeats, on every source: `plan --check` names it within 5 s, and `run` stops with
the partition, the cursor and the fix, having spent no embedding call (the ingest that follows the
fetch holds a partition's newest page until the next one has passed the pagination guard)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from github_fake import GitHubFake
from jira_fake import JiraFake
from openai_fake import OpenAIFake
from pinecone_fake import PineconeFake
from test_preflight import (  # noqa: F401  (openai, pinecone: the fakes' fixtures)
    assert_fails_fast_naming, check, failed, openai, pinecone, run, slack_fake, source_of, write)

FIX = "check that the source's URL is the service itself"


def jira_stuck() -> tuple[Any, str]:
    fake = JiraFake({"SUBS": 30}, seed=3)
    fake.stuck_token("SUBS")
    return fake, "Jira search for SUBS"


def github_stuck() -> tuple[Any, str]:
    fake = GitHubFake({"acme/widgets": 25}, token="ghp_fake0123456789abcdefghijklmnopqrstuv")
    fake.stuck_pages = "page"
    return fake, "of acme/widgets"


def slack_stuck() -> tuple[Any, str]:
    fake = slack_fake()
    fake.generate(channels=2, messages=30)
    fake.stuck_cursor("conversations.history")
    return fake, "Slack conversations.history of #"


@pytest.mark.parametrize("make", [jira_stuck, github_stuck, slack_stuck], ids=["jira", "github", "slack"])
def test_a_cursor_that_repeats_costs_no_embedding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, openai: OpenAIFake, pinecone: PineconeFake, make: Any
) -> None:
    fake, partition = make()
    with fake:
        config = write(tmp_path, source_of(fake), openai, pinecone)
        code, report, err, seconds = check(config, monkeypatch)
        assert_fails_fast_naming(code, report, err, seconds, "repeat", FIX)
        assert [c["name"] for c in failed(report)] == ["pagination"]
        r = run(config)
        last = r.err.strip().splitlines()[-1]
        assert r.code == 3, r.err
        for words in ("repeated", partition, "cursor", FIX):
            assert words in last, last
        assert openai.calls == 0, "a page of a cursor that repeats was embedded"
        assert pinecone.calls("/vectors/upsert") == []
        # Run again: the partition stops at the same place, and still nothing is embedded.
        r = run(config)
        assert r.code == 3 and "repeated" in r.err.strip().splitlines()[-1], r.err
        assert openai.calls == 0
        if isinstance(fake, JiraFake):
            fake.take_violations()


def test_the_cursor_is_refused_by_the_page_that_names_it_again(tmp_path: Path, openai: OpenAIFake,
                                                               pinecone: PineconeFake) -> None:
    """Pages that differ, but page 2 names itself as the next page: the guard refuses the page that
    names the cursor again (not the request that would use it), so page 1 is not embedded either."""
    fake, partition = github_stuck()
    fake.stuck_pages = "link"
    with fake:
        r = run(write(tmp_path, source_of(fake), openai, pinecone))
        last = r.err.strip().splitlines()[-1]
        assert r.code == 3, r.err
        for words in ("page 2", "names cursor", partition, FIX):
            assert words in last, last
        assert "page=2" in last and len(fake.requests) > 0
        assert openai.calls == 0, "page 1 of a cursor that repeats was embedded"
