"""Items of the source that cannot be read are quarantined, not a blocked partition; a 200 whose body is
cut short is requested again. Against the Jira fake (tests/python/jira_fake.py), through the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import latest_receipt
from jira_fake import JiraFake
from test_jira import cli, index_docs, jira, jira_config, keys_of  # noqa: F401  (jira: the fake's fixture)


def spoil(key: str, junk: bytes = b"\xff\xfe") -> Callable[[bytes], bytes]:
    """Writes a string that is not valid UTF-8 into issue `key` of a search response."""
    own = f'"key":"{key}","fields":'.encode()  # the issue itself, not a link to it

    def fn(body: bytes) -> bytes:
        assert body.count(own) == 1, key
        return body.replace(own, own[:-10] + b',"junk":"' + junk + b'","fields":')

    return fn


def run(config: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    r = cli("run", str(config), "--progress", "none", "--json", *extra)
    return r.code, json.loads(r.out) if r.out.strip() else {}, r.err


def test_an_issue_that_is_not_utf8_is_quarantined_and_indexed_once_the_source_fixes_it(
    jira: Callable[..., JiraFake], tmp_path: Path
) -> None:
    fake = jira({"SUBS": 100})
    keys = keys_of(fake, "SUBS")
    bad = keys[41]
    fake.mangle_searches(spoil(bad))
    config, workdir = jira_config(tmp_path, fake, projects=("SUBS",), max_results=100)

    code, report, err = run(config)
    assert code == 1, err
    docs = index_docs(workdir / "index.sqlite")
    assert sorted(docs) == sorted(f"jira:{k}" for k in keys if k != bad) and len(docs) == 99
    assert report["ok"] is False and report["quarantined_count"] == 1
    [item] = report["quarantined"]
    assert item["id"] == f"jira:{bad}" and item["partition"] == "SUBS" and item["position"] == 41
    assert "UTF-8" in item["reason"] and item["page"].startswith("journal/jira/SUBS/")
    assert f"jira:{bad}" in err.strip().splitlines()[-1]
    receipt = latest_receipt(workdir)
    assert receipt["ok"] is False and receipt["quarantined"]["items"][0]["id"] == f"jira:{bad}"

    v = cli("validate", str(config), "--progress", "none")
    assert v.code == 0, v.err
    assert f"jira:{bad}" in v.out and "1 items cannot be read" in v.out
    assert cli("validate", str(config), "--progress", "none", "--strict").code == 1
    i = cli("ingest", str(config), "--progress", "none", "--json")
    assert i.code == 1 and json.loads(i.out)["quarantined_count"] == 1

    # The site fixes the issue: the partition is fetched again, the issue indexed, the run verified.
    fake.mangle_searches(None)
    code, report, err = run(config)
    assert code == 0, err
    assert report["verify"]["ok"] is True and report["verify"]["quarantined_count"] == 0
    assert report["ingest"]["documents_written"] == 1 and report["ingest"]["documents_unchanged"] == 99
    assert sorted(index_docs(workdir / "index.sqlite")) == sorted(f"jira:{k}" for k in keys)
    assert latest_receipt(workdir)["quarantined"] == {"count": 0, "items": []}


def test_strict_stops_at_the_first_item_that_cannot_be_read(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    fake = jira({"SUBS": 30})
    fake.mangle_searches(spoil(keys_of(fake, "SUBS")[3], b"\\ud800"))  # a lone surrogate escape
    config, workdir = jira_config(tmp_path, fake, projects=("SUBS",), max_results=100)
    code, _, err = run(config, "--strict")
    assert code == 3, err
    assert "not valid JSON" in err.strip().splitlines()[-1]
    assert not (workdir / "index.sqlite").exists() or not index_docs(workdir / "index.sqlite")


def test_a_search_page_cut_short_is_requested_again(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    fake = jira({"SUBS": 120})
    fake.mangle_searches(lambda body: body[: len(body) // 2], times=1)
    config, workdir = jira_config(tmp_path, fake, projects=("SUBS",), max_results=50)
    code, report, err = run(config)
    assert code == 0, err
    assert report["fetch"]["pages_fetched"] == 3 and report["ingest"]["documents_written"] == 120
    first = fake.search_calls()[:2]
    assert [c.status for c in first] == [200, 200] and first[0].target == first[1].target  # the same page, again
    assert len(fake.search_calls()) == 4


def test_a_rerun_asks_for_the_quarantined_issue_alone_not_the_whole_project(
    jira: Callable[..., JiraFake], tmp_path: Path
) -> None:
    fake = jira({"SUBS": 400})
    keys = keys_of(fake, "SUBS")
    bad = keys[217]
    own = f'"key":"{bad}","fields":'.encode()
    # Every search response that carries the issue carries it with a string that is not UTF-8.
    fake.mangle_searches(lambda body: spoil(bad)(body) if own in body else body)
    config, workdir = jira_config(tmp_path, fake, projects=("SUBS",), max_results=50)

    code, report, err = run(config)
    assert code == 1, err
    assert len(fake.search_calls()) == 8 and report["quarantined_count"] == 1
    assert len(index_docs(workdir / "index.sqlite")) == 399

    # The issue is still bad: its key is searched for, then what changed, not the 8 pages again.
    before = len(fake.search_calls())
    code, report, err = run(config)
    assert code == 1, err
    calls = fake.search_calls()[before:]
    assert len(calls) <= 3, [c.jql for c in calls]
    assert f'key in ("{bad}")' in (calls[0].jql or "")
    assert report["quarantined_count"] == 1 and [q["id"] for q in report["quarantined"]] == [f"jira:{bad}"]
    assert f"jira:{bad}" in err.strip().splitlines()[-1]
    assert len(index_docs(workdir / "index.sqlite")) == 399

    # The site fixes it (an edit: `updated` moves on): read again, indexed, verified, quarantine empty.
    fake.mangle_searches(None)
    fake.edit(bad, summary="readable again")
    before = len(fake.search_calls())
    code, report, err = run(config)
    assert code == 0, err
    assert len(fake.search_calls()) - before <= 3
    assert report["verify"]["quarantined_count"] == 0 and report["verify"]["ok"] is True
    assert report["ingest"]["documents_written"] == 1
    docs = index_docs(workdir / "index.sqlite")
    assert sorted(docs) == sorted(f"jira:{k}" for k in keys) and "readable again" in docs[f"jira:{bad}"][0]["text"]
    v = cli("validate", str(config), "--progress", "none")
    assert v.code == 0 and "cannot be read" not in v.out, v.out

    # Nothing quarantined any more: the next run asks for no key.
    before = len(fake.search_calls())
    code, report, err = run(config)
    assert code == 0, err
    assert not any("key in" in (c.jql or "") for c in fake.search_calls()[before:])
