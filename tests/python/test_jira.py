"""Jira Cloud as a source, against a local Jira-compatible site (tests/python/jira_fake.py).

Four layers:
  1. the fake itself is faithful (its self-test: shapes validated against the official spec, paging,
     comments, faults);
  2. ADF to text, node type by node type (tests/python/adf_fixtures/), and normalize_jira_page against
     what the fake knows about each issue;
  3. whole backfills through the CLI: paging, comments beyond the 20 that search embeds, 429 bursts, the
     removed search API, a server that repeats its cursor (also across a resume), comments ignoring
     startAt, 401/403/404, an issue gone before its comments are read, the token never leaking,
     incremental runs (and resuming one later), expired tokens, windows, a user JQL, the Python API;
  4. (slow) 3 projects of 2,000 issues, kill -9 during fetch, rerun: exactly 6,000 documents verified in
     the local index and in a Pinecone fake.

After every test the fake must have seen no request breaking the API's rules (startAt on /search/jql, an
unbounded JQL, no explicit fields, a retry before Retry-After, ...) and sent nothing its spec refuses.
"""

from __future__ import annotations

import base64
import json
import re
import signal
import sqlite3
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import backfill
import pytest
from backfill._core import _testing
from conftest import content_bytes, index_ids, kill_after_pages, ledger, page_text, run_cli
from fake_base import fakes_on_demand
from jira_fake import (
    ACCEPTANCE,
    ADF_NODE_TYPES,
    COMMENTS_PATH_PREFIX,
    DEPLOYMENT,
    EPIC_NAME,
    FIELD_LIST,
    GONE_BODY,
    SEARCH,
    STANDARD_FIELDS,
    STORY_POINTS,
    Clause,
    JiraFake,
    jql_date,
    parse_jira_time,
    parse_jql,
    search_url,
)

EMAIL = "me@example.com"
TOKEN = "jira-secret-token"
BASIC = base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
FIXTURES = Path(__file__).resolve().parent / "adf_fixtures"
DIM = 64
# The fields documents show by default on the fake's site: the issue view's, then its rich-text custom
# field; and what the search asks for: what normalize always reads, then the rest of those.
DEFAULT_SHOWN = ("status", "resolution", "priority", "assignee", "reporter", "labels", "components", "fixVersions",
                 "parent", "subtasks", "issuelinks", "attachment", ACCEPTANCE)
ASKED_FOR = (*STANDARD_FIELDS, *(f for f in DEFAULT_SHOWN if f not in STANDARD_FIELDS))


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture()
def jira() -> Iterator[Callable[..., JiraFake]]:
    """Starts Jira fakes on demand; at teardown none may have seen a request that breaks the API's rules,
    sent a response its spec refuses, or failed itself."""
    def make(projects: Any = None, **kw: Any) -> JiraFake:
        return JiraFake(projects if projects is not None else {"SUBS": 130, "OPS": 25}, **kw)

    def problems(f: JiraFake) -> list[str]:
        return ([f"violation: {v}" for v in f.take_violations()] + [f"schema: {e}" for e in f.take_schema_errors()] +
                [f"fake error: {e}" for e in f.errors])

    yield from fakes_on_demand(make, problems, "the Jira fake saw requests that break the API's rules")


def jira_config(tmp_path: Path, fake: JiraFake, *, projects: tuple[str, ...] = ("SUBS", "OPS"), name: str = "jira",
                source_extra: str = "", sink: str = "", max_results: int = 50, target_tokens: int = 256,
                batch_records: int = 64, rate: float = 50.0, workdir: Path | None = None) -> tuple[Path, Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    workdir = workdir or tmp_path / "work"
    config = tmp_path / f"{name}.toml"
    plist = ", ".join(f'"{p}"' for p in projects)
    config.write_text(textwrap.dedent(f"""\
        [run]
        name = "{name}"
        workdir = "{workdir}"
        batch_records = {batch_records}

        [source]
        type = "jira"
        url = "{fake.url}"
        email = "{EMAIL}"
        token = "${{JIRA_API_TOKEN}}"
        projects = [{plist}]
        max_results = {max_results}
        rate = {rate}
        max_in_flight = 4
        """) + textwrap.dedent(source_extra) + textwrap.dedent(f"""
        [embedder]
        type = "hash"
        dimension = {DIM}

        [chunking]
        target_tokens = {target_tokens}
        overlap_tokens = 16
        """) + textwrap.dedent(sink))
    return config, workdir


def cli(*args: str, token: str = TOKEN, env: dict[str, str] | None = None, timeout: float = 300) -> Any:
    return run_cli(*args, env={"JIRA_API_TOKEN": token, **(env or {})}, timeout=timeout)


def run_json(config: Path, *extra: str, **kw: Any) -> dict[str, Any]:
    r = cli("run", str(config), "--progress", "none", "--json", *extra, **kw)
    assert r.code == 0, f"exit {r.code}\n{r.err[-3000:]}"
    return json.loads(r.out)


def one_line(err: str) -> str:
    """The CLI's error: the last line of stderr, which must be the only line that is not a log line."""
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert lines, "nothing on stderr"
    assert "Traceback" not in err, err
    return lines[-1]


def index_docs(index: Path, namespace: str = "") -> dict[str, list[dict[str, Any]]]:
    """doc_id -> the metadata of its chunks, from the local index."""
    out: dict[str, list[dict[str, Any]]] = {}
    with sqlite3.connect(index) as db:
        for vid, md in db.execute("SELECT id, metadata FROM vectors WHERE namespace=? ORDER BY id", (namespace,)):
            m = json.loads(md)
            assert vid.startswith(m["doc_id"] + "#"), (vid, m["doc_id"])
            out.setdefault(m["doc_id"], []).append(m)
    return out


def doc_text(chunks: list[dict[str, Any]]) -> str:
    return "\n".join(c["text"] for c in sorted(chunks, key=lambda c: c["chunk"]))


def journal(workdir: Path, partition: str | None = None) -> list[tuple[str, int, dict[str, Any]]]:
    """(partition, seq, parsed page) of every journaled Jira page, in order."""
    with ledger(workdir) as db:
        rows = db.execute("SELECT partition, seq, path FROM pages WHERE source='jira' "
                          "ORDER BY partition, seq").fetchall()
    return [(p, s, json.loads(page_text(workdir / path))) for p, s, path in rows
            if partition is None or p == partition]


def keys_of(fake: JiraFake, *projects: str) -> list[str]:
    return [k for p in projects for k in fake.issue_keys(p)]


def effective_lower_bound(req: Any, tz_minutes: int = 0) -> int:
    """The `updated >=` bound of a search request, in epoch ms, as the site read it when it arrived."""
    jql = parse_jql(req.jql)
    bounds = [t for t in jql.conjuncts() if isinstance(t, Clause) and t.field == "updated" and t.op in (">=", ">")]
    assert len(bounds) == 1, req.jql
    return jql_date(bounds[0].value, tz_minutes, int(req.wall * 1000))


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- 1. the fake ---------------------------------------------------------------------------------


def test_the_fake_is_faithful_to_the_spec_and_api_facts() -> None:
    """Its self-test: every response validated against SearchAndReconcileResults / PageOfComments and the
    field schemas of the official spec; paging, filtering, comments, 410, 401, 429, stuck tokens, edits."""
    import jira_fake

    jira_fake.self_test()


# --- 2. ADF to text ------------------------------------------------------------------------------

R = re.compile
# Expected text per fixture: the non-blank lines, stripped, in order (decoration lines such as "---" for a
# rule or code fences are ignored). A pattern is matched against the whole line.
EXPECTED: dict[str, list[str | re.Pattern[str]]] = {
    "paragraph_marks": ["Plain, bold and italic, SELECT 1, gone, under, rot, H2O.",
                        "See the runbook (https://wiki.example.com/runbooks/failover) or ask "
                        "(mailto:oncall@example.com)."],
    "headings": [R(r"#*\s*Incident 42 — Zusammenfassung"), "Intro paragraph.", R(r"#*\s*Timeline \(UTC\)"),
                 "After the heading."],
    "bullet_list": ["- first item", "- second item", "- nested item", "- third item"],
    "ordered_list": ["1. Drain the node", "2. Fail over the primary", "3. Verify replication"],
    "code_block": ["Run this:", "def retry(invoice):", "return queue.put(invoice)", "Then check."],
    "blockquote": ["> The customer wrote: charged twice", "Our answer."],
    "panel": [R(r"(\[warning\]\s*|warning:\s*|⚠️?\s*)?Do not restart the primary during a billing run\.")],
    "table": ["Step | Owner | État", "Failover | @Zoë Ångström | fait", "Reconcile | 山田 太郎 | à faire"],
    "rule": ["Above the line.", "Below the line."],
    "media": ["Screenshot:", "[media: grafana-p99.png]", R(r"\[media: server\.log\]\s*\[media: heap\.hprof\]"),
              "After the media."],
    "inline_nodes": ["Line one", "line two", "Ping @Олег Петров please.", R(r"Shipped (🎉|:tada:)"), "Careful :warning:",
                     "Related: https://acme.atlassian.net/browse/SUBS-7", "Due 2024-06-01",
                     R(r"State: \[?BLOCKED\]?")],
    "block_card": ["Status page:", "https://status.example.com/incidents/314"],
    "expand": ["Root cause", "A lock on the ledger table.", R(r"cell text\s+(\|\s+)?More details\s+hidden in a cell")],
    "tasks_decisions": [R(r"(\[ \]\s*|- \[ \]\s*|TODO:?\s*)Write the postmortem"),
                        R(r"(\[[xX]\]\s*|- \[[xX]\]\s*|DONE:?\s*)Page the on-call"),
                        R(r"(Decision:\s*|- |◆\s*)?We add an idempotency key")],
    "unknown_nodes": ["left column", "right column", "inside an unknown block", "before inside an unknown inline after",
                      "the end"],
    "empty_doc": [],
}
DECORATION = re.compile(r"^([-*_=]{3,}|```\w*)$")


def text_lines(text: str) -> list[str]:
    return [x.strip() for x in text.splitlines() if x.strip() and not DECORATION.match(x.strip())]


def adf(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_adf_to_text_per_node_type(name: str) -> None:
    text = _testing.adf_to_text(adf(name))
    got = text_lines(text)
    want = EXPECTED[name]
    assert len(got) == len(want), f"{name}: lines\n{got}\nexpected\n{want}"
    for g, w in zip(got, want):
        if isinstance(w, re.Pattern):
            assert w.fullmatch(g), f"{name}: {g!r} does not match {w.pattern!r}\nwhole text:\n{text}"
        else:
            assert g == w, f"{name}: {g!r} != {w!r}\nwhole text:\n{text}"
    assert text == text.strip(), "leading or trailing whitespace"
    assert "\n\n\n" not in text
    assert '"type"' not in text and "attrs" not in text and "localId" not in text


def test_adf_fixtures_cover_every_node_type() -> None:
    listed = {"doc", "paragraph", "heading", "bulletList", "orderedList", "listItem", "codeBlock", "blockquote",
              "panel", "table", "tableRow", "tableHeader", "tableCell", "rule", "mediaSingle", "mediaGroup", "media",
              "text", "hardBreak", "mention", "emoji", "inlineCard", "blockCard", "date", "status", "expand",
              "nestedExpand", "taskList", "taskItem", "decisionList", "decisionItem"}
    seen: set[str] = set()

    def walk(n: Any) -> None:
        if isinstance(n, dict):
            if isinstance(n.get("type"), str):
                seen.add(n["type"])
            for v in n.values():
                walk(v)
        elif isinstance(n, list):
            for v in n:
                walk(v)

    for p in FIXTURES.glob("*.json"):
        walk(json.loads(p.read_text(encoding="utf-8")))
    assert listed <= seen, sorted(listed - seen)
    assert seen - set(ADF_NODE_TYPES) >= {"futureBlock", "futureInline"}  # unknown ones too
    assert {p.stem for p in FIXTURES.glob("*.json")} == set(EXPECTED)


def test_adf_layout_details() -> None:
    """Nesting is visible (indented nested items, code indentation kept) and separate blocks are separate
    lines; hardBreak is a newline."""
    bl = _testing.adf_to_text(adf("bullet_list")).splitlines()
    nested = next(x for x in bl if "nested item" in x)
    parent = next(x for x in bl if "second item" in x)
    assert len(nested) - len(nested.lstrip()) > len(parent) - len(parent.lstrip()), bl
    assert "\n    return queue.put(invoice)" in _testing.adf_to_text(adf("code_block"))
    inline = _testing.adf_to_text(adf("inline_nodes"))
    assert "Line one\nline two" in inline
    rule = _testing.adf_to_text(adf("rule"))
    assert rule.index("Above the line.") < rule.index("Below the line.") and "Above the line. Below" not in rule


def test_adf_unknown_nodes_are_descended_into_never_dropped() -> None:
    doc = {"version": 1, "type": "doc", "content": [
        {"type": "brandNewContainer", "attrs": {"x": 1}, "content": [
            {"type": "anotherNewOne", "content": [{"type": "paragraph", "content": [
                {"type": "text", "text": "deep inside"}, {"type": "mysteryInline", "content": [
                    {"type": "text", "text": " and deeper"}]}]}]}]},
        {"type": "bodiedExtension", "attrs": {"extensionKey": "x"}, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "macro body"}]}]}]}
    text = _testing.adf_to_text(json.dumps(doc))
    assert "deep inside and deeper" in text and "macro body" in text


def test_adf_null_empty_and_odd_inputs() -> None:
    assert _testing.adf_to_text("null") == ""
    assert _testing.adf_to_text('{"type":"doc","version":1}') == ""
    assert _testing.adf_to_text('{"type":"doc","version":1,"content":[{"type":"paragraph"}]}') == ""
    # An ordered list starts at attrs.order.
    ol = {"type": "doc", "version": 1, "content": [{"type": "orderedList", "attrs": {"order": 3}, "content": [
        {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "third"}]}]},
        {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "fourth"}]}]}]}]}
    assert text_lines(_testing.adf_to_text(json.dumps(ol))) == ["3. third", "4. fourth"]
    # A mention without its text attribute still reads as a mention, not nothing.
    m = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "ask "}, {"type": "mention", "attrs": {"id": "5b10ac8d82e05b22cc7d4ef5"}}]}]}
    assert re.fullmatch(r"ask @\S.*", _testing.adf_to_text(json.dumps(m))), _testing.adf_to_text(json.dumps(m))
    with pytest.raises(Exception, match="(?i)json"):
        _testing.adf_to_text("{not json")


def test_adf_of_generated_descriptions_keeps_every_text(jira: Callable[..., JiraFake]) -> None:
    """Over the fake's descriptions and comments (every node type, unicode): every text node, mention,
    card url, status and date shows up in the text, and no JSON leaks into it."""
    fake = jira({"DOCS": 150})
    pieces_checked = 0
    for key in fake.issue_keys("DOCS"):
        docs = [fake.issue(key)["fields"]["description"]] + [c["body"] for c in fake.comments(key)]
        for d in docs:
            text = _testing.adf_to_text(json.dumps(d))
            flat = " ".join(text.split())
            want: list[str] = []

            def walk(n: Any) -> None:
                if isinstance(n, dict):
                    t, a = n.get("type"), n.get("attrs", {})
                    if t == "text":
                        want.append(n["text"])
                    elif t == "mention":
                        want.append(a["text"])
                    elif t in ("inlineCard", "blockCard"):
                        want.append(a["url"])
                    elif t == "status":
                        want.append(a["text"])
                    elif t == "date":
                        want.append(datetime.fromtimestamp(int(a["timestamp"]) // 1000, timezone.utc).strftime(
                            "%Y-%m-%d"))
                    elif t in ("expand", "nestedExpand"):
                        want.append(a["title"])
                    for v in n.values():
                        walk(v)
                elif isinstance(n, list):
                    for v in n:
                        walk(v)

            walk(d)
            for w in want:
                w = " ".join(w.split())
                if w:
                    assert w in flat, f"{key}: {w!r} missing from\n{text}"
                    pieces_checked += 1
            assert '"type"' not in text and "localId" not in text
    assert pieces_checked > 3000


# --- normalize_jira_page -------------------------------------------------------------------------


def journal_page(fake: JiraFake, jql: str, max_results: int = 100, token: str | None = None) -> tuple[str, Any]:
    """One page as the source journals it: {"search": raw, "comments": {"KEY": [raw pages]}}; and the
    parsed search body."""
    import urllib.request

    def raw(target: str) -> str:
        req = urllib.request.Request(fake.url + target, headers={"Authorization": fake.auth_header})
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.read().decode()

    search = raw(search_url(jql, max_results=max_results, token=token))
    body = json.loads(search)
    extra = []
    for issue in body["issues"]:
        c = issue["fields"]["comment"]
        if c["total"] > len(c["comments"]):
            pages, start = [], 0
            while start < c["total"]:
                p = raw(f"/rest/api/3/issue/{issue['key']}/comment?startAt={start}&maxResults=100&orderBy=created")
                pages.append(p)
                start += len(json.loads(p)["comments"])
            extra.append(json.dumps(issue["key"]) + ":[" + ",".join(pages) + "]")
    return '{"search":' + search + ',"comments":{' + ",".join(extra) + "}}", body


def test_normalize_jira_page_builds_documents_from_what_the_site_says(jira: Callable[..., JiraFake]) -> None:
    fake = jira({"SUBS": 100}, max_comments=130)
    page, body = journal_page(fake, 'project = "SUBS" AND updated >= "1970-01-01" ORDER BY key ASC')
    docs = _testing.normalize_jira_page(page, fake.url + "/")
    assert [d["id"] for d in docs] == [f"jira:SUBS-{n}" for n in range(1, 101)]
    long_issues = 0
    null_descriptions = 0
    for d in docs:
        key = d["id"][5:]
        full = fake.issue(key)
        f = full["fields"]
        assert d["title"] == f"{key}: {f['summary']}"
        assert d["url"] == f"{fake.url}/browse/{key}"
        assert d["created_at"] == iso(parse_jira_time(f["created"]))
        assert d["updated_at"] == iso(parse_jira_time(f["updated"]))
        md = d["metadata"]
        want = {"project": "SUBS", "status": f["status"]["name"], "type": f["issuetype"]["name"],
                "priority": f["priority"]["name"], "labels": f["labels"],
                "components": [c["name"] for c in f["components"]], "reporter": f["reporter"]["displayName"],
                "comment_count": fake.comment_count(key)}
        if f["assignee"]:
            want["assignee"] = f["assignee"]["displayName"]
        if f.get("parent"):
            want["parent"] = f["parent"]["key"]
        assert {k: md.get(k) for k in want} == want, key
        assert ("assignee" in md) == bool(f["assignee"]) and ("parent" in md) == bool(f.get("parent"))
        # Text: the description, then every comment (all of them, not the 20 embedded) in order of creation.
        text = d["text"]
        desc = _testing.adf_to_text(json.dumps(f["description"]))
        if f["description"] is None:
            null_descriptions += 1
            assert "null" not in text.split("\n", 1)[0].lower()
        else:
            assert text.startswith(desc)
        comments = fake.comments(key)
        if len(comments) > 20:
            long_issues += 1
        pos = len(desc)
        for c in comments:
            header = f"{c['author']['displayName']} ({iso(parse_jira_time(c['created']))}): "
            i = text.find(header + _testing.adf_to_text(json.dumps(c["body"])), pos)
            assert i >= 0, f"{key}: comment {c['id']} missing or out of order"
            pos = i + len(header)
    assert long_issues >= 5 and null_descriptions >= 1
    assert any(fake.comment_count(d["id"][5:]) > 100 for d in docs)  # more than one page of comments


def test_normalize_jira_page_merges_embedded_and_fetched_comments_once() -> None:
    def comment(i: int) -> dict[str, Any]:
        return {"id": str(1000 + i), "author": {"displayName": f"User {i}"},
                "created": f"2024-05-01T10:{i:02d}:00.000+0200",
                "body": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
                    {"type": "text", "text": f"comment number {i}"}]}]}}

    all_c = [comment(i) for i in range(25)]
    issue = {"id": "1", "key": "X-1", "fields": {"summary": "s", "description": None, "project": {"key": "X"},
                                                  "created": "2024-05-01T09:00:00.000+0200",
                                                  "updated": "2024-05-02T09:00:00.000+0200",
                                                  "comment": {"comments": all_c[:20], "total": 25, "maxResults": 20,
                                                              "startAt": 0}}}
    page = {"search": {"issues": [issue], "isLast": True},
            "comments": {"X-1": [{"startAt": 0, "maxResults": 10, "total": 25, "comments": all_c[:10]},
                                 {"startAt": 10, "maxResults": 10, "total": 25, "comments": all_c[10:20]},
                                 {"startAt": 20, "maxResults": 10, "total": 25, "comments": all_c[20:]}]}}
    [d] = _testing.normalize_jira_page(json.dumps(page), "https://acme.atlassian.net")
    assert d["metadata"]["comment_count"] == 25
    assert [int(m) for m in re.findall(r"comment number (\d+)", d["text"])] == list(range(25))
    assert "User 3 (2024-05-01T08:03:00Z): comment number 3" in d["text"]
    assert d["created_at"] == "2024-05-01T07:00:00Z" and d["url"] == "https://acme.atlassian.net/browse/X-1"


# --- 3. whole backfills ----------------------------------------------------------------------------


def assert_clean_search_requests(fake: JiraFake, projects: tuple[str, ...], max_results: int) -> None:
    """No startAt; JQL bounded by project and updated, ordered by key; the standard fields and those the
    documents show by default asked for; Basic auth with the token."""
    calls = fake.search_calls()
    assert calls
    for c in calls:
        assert "startAt" not in c.query, c.target
        assert c.headers.get("authorization") == "Basic " + BASIC
        assert c.param("maxResults") == str(max_results)
        assert tuple(c.param("fields", "").split(",")) == ASKED_FOR, c.param("fields")
        jql = parse_jql(c.jql or "")
        terms = jql.conjuncts()
        proj = [t for t in terms if isinstance(t, Clause) and t.field == "project" and t.op == "="]
        assert len(proj) == 1 and proj[0].value in projects, c.jql
        assert any(isinstance(t, Clause) and t.field == "updated" and t.op == ">=" for t in terms), c.jql
        assert jql.order == [("key", False)], c.jql
        assert re.search(r"ORDER BY key ASC\s*$", c.jql or ""), c.jql


def test_run_fetches_every_issue_once_with_clean_requests(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    fake = jira({"SUBS": 130, "OPS": 25})
    config, workdir = jira_config(tmp_path, fake, max_results=50)
    report = run_json(config)
    keys = keys_of(fake, "SUBS", "OPS")
    assert report["verify"]["ok"] is True
    assert report["ingest"]["documents_written"] == len(keys) == 155
    assert report["fetch"]["items_fetched"] == 155 and report["fetch"]["pages_fetched"] == 4  # 50+50+30, 25
    assert report["validate"]["duplicate_ids"] == 0
    docs = index_docs(workdir / "index.sqlite")
    assert sorted(docs) == sorted(f"jira:{k}" for k in keys)
    assert_clean_search_requests(fake, ("SUBS", "OPS"), 50)
    # SUBS: the first page without a token, then the tokens the site gave, the last page without one.
    subs = [c for c in fake.search_calls() if '"SUBS"' in (c.jql or "")]
    assert [c.param("nextPageToken") is None for c in subs] == [True, False, False]
    assert all(c.status == 200 for c in subs)
    # Every issue with more than 20 comments had all of them read, by offset, ordered by creation.
    long_keys = [k for k in keys if fake.comment_count(k) > 20]
    assert long_keys
    for k in long_keys:
        calls = fake.comment_calls(k)
        assert calls and all(c.status == 200 and c.param("orderBy") == "created" for c in calls), k
        assert [int(c.param("startAt", "0")) for c in calls] == list(range(0, fake.comment_count(k), 100)), k
    assert not [c for c in fake.comment_calls() if c.path.split("/")[5] not in long_keys]
    # Metadata of one document, end to end.
    k = long_keys[0]
    md = docs[f"jira:{k}"][0]
    f = fake.issue(k)["fields"]
    assert md["title"] == f"{k}: {f['summary']}" and md["url"] == f"{fake.url}/browse/{k}"
    assert md["project"] == k.split("-")[0] and md["status"] == f["status"]["name"]
    assert md["comment_count"] == fake.comment_count(k) and md["labels"] == f["labels"]
    assert md["source"] == "jira" and md["updated_at"] == iso(parse_jira_time(f["updated"]))


def test_short_pages_are_not_last_pages(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    fake = jira({"SUBS": 130, "OPS": 25})
    fake.short_pages((37, 5, 1))
    config, workdir = jira_config(tmp_path, fake, max_results=50)
    report = run_json(config)
    assert report["ingest"]["documents_written"] == 155
    assert sorted(index_docs(workdir / "index.sqlite")) == sorted(f"jira:{k}" for k in keys_of(fake, "SUBS", "OPS"))
    subs = [c for c in fake.search_calls() if '"SUBS"' in (c.jql or "")]
    # 37, 5, 1, 37, 5, 1, 37, 5, 1, 1 = 130: ten pages, nine of them shorter than maxResults and not last.
    assert len(subs) == 10
    assert_clean_search_requests(fake, ("SUBS", "OPS"), 50)


def test_more_than_20_comments_are_fetched_in_full(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    fake = jira({"SUBS": 60}, max_comments=230)
    k = max(fake.issue_keys("SUBS"), key=fake.comment_count)
    fake.edit(k, comment="MARKER-last-comment-Ωμέγα")   # now the very last comment, far beyond the first 20
    n = fake.comment_count(k)
    assert n > 200
    config, workdir = jira_config(tmp_path, fake, projects=("SUBS",))
    report = run_json(config)
    assert report["verify"]["ok"] is True
    assert [int(c.param("startAt", "-1")) for c in fake.comment_calls(k)] == list(range(0, n, 100))
    # The journal page holds every comment page, and the document every comment.
    pages = journal(workdir)
    holding = [p for _, _, p in pages if k in p["comments"]]
    assert len(holding) == 1
    ids = [c["id"] for cp in holding[0]["comments"][k] for c in cp["comments"]]
    assert ids == [c["id"] for c in fake.comments(k)]
    chunks = index_docs(workdir / "index.sqlite")[f"jira:{k}"]
    assert chunks[0]["comment_count"] == n
    assert "MARKER-last-comment-Ωμέγα" in doc_text(chunks)


def test_the_comments_of_one_page_are_read_concurrently(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    # Every comment page takes 0.3 s: read one issue after another, no two would ever overlap.
    fake = jira({"SUBS": 60}, max_comments=230)
    fake.comment_latency = 0.3
    long = [k for k in fake.issue_keys("SUBS") if fake.comment_count(k) > 20]
    assert len(long) >= 4
    config, workdir = jira_config(tmp_path, fake, projects=("SUBS",))
    report = run_json(config)
    assert report["verify"]["ok"] is True
    calls = sorted(fake.comment_calls(), key=lambda c: c.t)
    assert {c.path.split("/")[5] for c in calls} == set(long)
    overlapping = [(a, b) for a, b in zip(calls, calls[1:]) if b.t - a.t < 0.15]
    assert len(overlapping) >= 3, [round(c.t - calls[0].t, 2) for c in calls]
    docs = index_docs(workdir / "index.sqlite")
    for k in long:
        assert docs[f"jira:{k}"][0]["comment_count"] == fake.comment_count(k), k


def test_429_bursts_are_retried_after_retry_after(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    fake = jira({"SUBS": 130, "OPS": 25})
    fake.rate_limit(3, retry_after=1, paths=[SEARCH])
    fake.rate_limit(2, retry_after=1, paths=[COMMENTS_PATH_PREFIX])
    config, workdir = jira_config(tmp_path, fake, max_results=50)
    t0 = time.monotonic()
    report = run_json(config)
    assert report["ingest"]["documents_written"] == 155 and report["verify"]["ok"] is True
    limited = [c for c in fake.calls() if c.status == 429]
    assert len(limited) == 5
    assert all(c.response_headers.get("retry-after") == "1" and "x-ratelimit-reset" in c.response_headers
               for c in limited)
    assert time.monotonic() - t0 >= 2.0  # it waited (the fake also flags any retry sooner than Retry-After)
    # Every rate-limited request was sent again and then answered.
    for c in limited:
        assert any(x.target == c.target and x.status == 200 and x.t > c.t for x in fake.calls()), c.target


def test_burst_limit_slows_the_source_down(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    """A token bucket like Jira's burst limit (3 requests a second) against a source allowed 40/s."""
    fake = jira({"SUBS": 200, "OPS": 20}, max_comments=60)
    fake.burst_limit(3, per_seconds=1.0)
    config, workdir = jira_config(tmp_path, fake, max_results=20, rate=40)
    report = run_json(config)
    assert report["ingest"]["documents_written"] == 220 and report["verify"]["ok"] is True
    assert sum(1 for c in fake.calls() if c.status == 429) >= 1


def test_the_removed_search_api_410_is_one_line(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    """A server still routing /search/jql to the removed API answers 410 with Atlassian's body."""
    fake = jira({"SUBS": 10})
    fake.fail_next(1, 410, paths=[SEARCH], body=GONE_BODY)
    config, workdir = jira_config(tmp_path, fake, projects=("SUBS",))
    r = cli("run", str(config), "--progress", "none")
    assert r.code == 3, (r.code, r.err)
    line = one_line(r.err)
    assert "410" in line and "/rest/api/3/search/jql" in line, line
    assert re.search(r"(?i)removed|gone", line), line
    assert len(fake.search_calls()) == 1  # not retried
    assert TOKEN not in r.err and BASIC not in r.err


STUCK = "c3R1Y2s6cmVwZWF0ZWQ="


def journaled_keys(workdir: Path) -> list[str]:
    return [i["key"] for _, _, p in journal(workdir) for i in p["search"]["issues"]]


@pytest.mark.parametrize("after_pages", [0, 1])
def test_a_repeated_cursor_is_a_pagination_error_and_nothing_is_ingested_twice(
        jira: Callable[..., JiraFake], tmp_path: Path, after_pages: int) -> None:
    """The site returns the same page and the same nextPageToken forever (from the first page, or after
    one good page): PaginationError naming the cursor; the repeated page is never journaled, and the index
    and the ledger hold each issue once. The run's ingest follows the fetch page by page, so the stuck
    partition's good pages may be in the index; a later `ingest` takes only completely fetched partitions."""
    fake = jira({"SUBS": 130, "OPS": 25})
    fake.stuck_token("SUBS", after_pages=after_pages, token=STUCK)
    config, workdir = jira_config(tmp_path, fake, projects=("OPS", "SUBS"), max_results=50)
    r = cli("run", str(config), "--progress", "none")
    assert r.code == 3, (r.code, r.err)
    line = one_line(r.err)
    assert "PaginationError" in line and STUCK in line, line
    # It stopped at the first repetition: one request with the stuck cursor after the page that gave it.
    subs = [c for c in fake.search_calls() if '"SUBS"' in (c.jql or "")]
    assert [c.param("nextPageToken") == STUCK for c in subs] == [False] * (after_pages + 1) + [True]
    keys = journaled_keys(workdir)
    assert len(keys) == len(set(keys)), Counter(keys).most_common(3)
    assert Counter(k.split("-")[0] for k in keys) == {"OPS": 25, "SUBS": 50 * (after_pages + 1)}
    with ledger(workdir) as db:
        hashes = [h for (h,) in db.execute("SELECT hash FROM pages WHERE source='jira'")]
    assert len(hashes) == len(set(hashes))

    r = cli("ingest", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err
    ids = index_ids(workdir / "index.sqlite")
    assert len(ids) == len(set(ids))
    docs = index_docs(workdir / "index.sqlite")
    assert set(docs) >= {f"jira:{k}" for k in fake.issue_keys("OPS")}
    assert set(docs) <= {f"jira:{k}" for k in keys}  # only what was journaled, each once
    with ledger(workdir) as db:
        rows = [i for (i,) in db.execute("SELECT id FROM documents")]
    assert sorted(rows) == sorted(docs)
    r = cli("validate", str(config), "--progress", "none", "--json")
    assert json.loads(r.out)["duplicate_ids"] == 0, r.out


def test_a_repeated_cursor_is_still_caught_after_a_resume(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    """Rerunning after the PaginationError resumes at the stored cursor, the stuck one: the site answers
    the page already journaled once more. The guard must recognise it (the last journaled page and its
    cursor are known), not journal it a second time; every rerun would otherwise add another copy."""
    fake = jira({"SUBS": 130, "OPS": 25})
    fake.stuck_token("SUBS", after_pages=1, token=STUCK)
    config, workdir = jira_config(tmp_path, fake, max_results=50)
    r = cli("run", str(config), "--progress", "none")
    assert r.code == 3 and STUCK in one_line(r.err), r.err
    # SUBS stopped at the repetition; OPS, fetched beside it, completed.
    assert Counter(k.split("-")[0] for k in journaled_keys(workdir)) == {"SUBS": 100, "OPS": 25}
    r = cli("run", str(config), "--progress", "none")
    assert r.code == 3, (r.code, r.err)
    assert "PaginationError" in one_line(r.err) and STUCK in one_line(r.err), r.err
    # (OPS, complete, is read again from its watermark by the incremental rerun: only SUBS matters here.)
    keys = [k for k in journaled_keys(workdir) if k.startswith("SUBS-")]
    assert len(keys) == len(set(keys)), f"the rerun journaled the repeated page again: {Counter(keys).most_common(2)}"
    with ledger(workdir) as db:
        hashes = [h for (h,) in db.execute("SELECT hash FROM pages WHERE source='jira' AND partition='SUBS'")]
    assert len(hashes) == len(set(hashes)), "the ledger records the same page twice"


def test_comments_ignoring_startat_are_a_pagination_error(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    """The production bug behind the guard: an offset endpoint ignoring startAt returns its first page
    forever. For an issue with more than 100 comments: PaginationError naming the issue, and the search page
    it belongs to is not journaled (a journal page is whole or absent)."""
    fake = jira({"SUBS": 60}, max_comments=230)
    k = max(fake.issue_keys("SUBS"), key=fake.comment_count)
    assert fake.comment_count(k) > 100
    fake.ignore_comment_offset([k])
    config, workdir = jira_config(tmp_path, fake, projects=("SUBS",))
    r = cli("run", str(config), "--progress", "none")
    assert r.code == 3, (r.code, r.err)
    line = one_line(r.err)
    assert "PaginationError" in line and k in line, line
    assert len(fake.comment_calls(k)) == 2  # stopped at the first repeated page
    assert k not in journaled_keys(workdir)


def test_bad_token_is_one_line_401(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    fake = jira({"SUBS": 5})
    config, workdir = jira_config(tmp_path, fake, projects=("SUBS",))
    wrong = "wrong-but-secret-token-0123"
    r = cli("run", str(config), "--progress", "none", token=wrong)
    assert r.code == 3, (r.code, r.err)
    line = one_line(r.err)
    assert "401" in line and re.search(r"(?i)credential|token|authent", line), line
    assert "source.email" in line and "source.token" in line and "API token" in line, line
    assert wrong not in r.err + r.out and TOKEN not in r.err
    assert [c.status for c in fake.calls()] == [401]  # the first request (the field list), not retried


@pytest.mark.parametrize("status,words", [(403, r"(?i)permission|forbidden"), (404, r"(?i)not found|no project|404")])
def test_no_permission_and_unknown_project_are_one_line(jira: Callable[..., JiraFake], tmp_path: Path, status: int,
                                                        words: str) -> None:
    fake = jira({"SUBS": 5, "OPS": 5})
    fake.deny(status, projects=["OPS"])
    config, workdir = jira_config(tmp_path, fake)
    r = cli("run", str(config), "--progress", "none")
    assert r.code == 3, (r.code, r.err)
    line = one_line(r.err)
    assert str(status) in line and "OPS" in line and re.search(words, line), line
    if status == 403:
        assert "Browse Projects permission" in line and "source.email" in line, line
    assert len([c for c in fake.search_calls() if '"OPS"' in (c.jql or "")]) == 1  # not retried


def test_a_project_that_does_not_exist_is_one_line(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    """Jira answers 400 "The value 'NOPE' does not exist for the field 'project'."."""
    fake = jira({"SUBS": 5})
    config, workdir = jira_config(tmp_path, fake, projects=("SUBS", "NOPE"))
    r = cli("run", str(config), "--progress", "none")
    assert r.code == 3, (r.code, r.err)
    line = one_line(r.err)
    assert "NOPE" in line and re.search(r"(?i)unknown project|does not exist", line), line


def test_an_issue_gone_before_its_comments_are_read(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    """An issue deleted (or moved out of reach) between the search that listed it and the read of its
    comments: 404 "Issue does not exist..." from the comment endpoint. Either the run goes on without
    the extra comments, or it stops with a line that names the issue; it must not blame source.url."""
    fake = jira({"SUBS": 60})
    k = next(k for k in fake.issue_keys("SUBS") if fake.comment_count(k) > 20)
    fake.hide_comments([k])
    config, workdir = jira_config(tmp_path, fake, projects=("SUBS",))
    r = cli("run", str(config), "--progress", "none")
    if r.code != 0:
        line = one_line(r.err)
        assert k in line, f"the error does not name the issue {k}: {line}"
        assert "source.url" not in line, f"a 404 of one issue's comments blamed on the site URL: {line}"


def test_the_token_never_appears_anywhere(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    fake = jira({"SUBS": 40, "OPS": 5})
    config, workdir = jira_config(tmp_path, fake)
    assert TOKEN not in config.read_text()
    outputs = []
    r = cli("run", str(config), "-vvv", "--progress", "log")
    assert r.code == 0, r.err
    assert "/rest/api/3/search/jql" in r.err, "expected the requests in the trace log at -vvv"
    outputs += [r.out, r.err]
    r = cli("verify", str(config), "-vvv", "--json")
    outputs += [r.out, r.err]
    r = cli("status", str(config), "-vvv", "--json")
    outputs += [r.out, r.err]
    # A server that quotes the credentials back in its error bodies: 400 and 401.
    fake.echo_credentials_in_errors()
    fake.edit("SUBS-3", summary="changed")
    fake.fail_next(1, 400, paths=[SEARCH])
    r = cli("run", str(config), "-vvv", "--progress", "log")
    assert r.code == 3, r.err
    outputs += [r.out, r.err]
    assert "decoded:" in r.err, "the echoed credentials should reach the error line (scrubbed)"
    r = cli("run", str(config), "-vvv", "--progress", "log", token="another-secret-token-xyz")
    assert r.code == 3, r.err
    assert "decoded:" in r.err
    outputs += [r.out, r.err]
    for text in outputs:
        assert TOKEN not in text and BASIC not in text and "another-secret-token-xyz" not in text, \
            [x for x in text.splitlines() if TOKEN in x or BASIC in x or "another-secret" in x][:3]
    files = [p for p in workdir.rglob("*") if p.is_file()]
    assert any("journal" in p.parts for p in files) and any("receipts" in p.parts for p in files)
    for p in files:
        data = content_bytes(p)
        for secret in (TOKEN, BASIC, "another-secret-token-xyz"):
            assert secret.encode() not in data, (p, secret)
    spec = backfill.JiraCloud(url=fake.url, email=EMAIL, token=TOKEN, projects=("SUBS",))
    assert TOKEN not in repr(spec) and TOKEN not in str(spec)
    pipe = backfill.Pipeline(spec, backfill.HashEmbedder(DIM), backfill.LocalIndex(), name="x", workdir=tmp_path / "p")
    assert TOKEN not in repr(pipe)
    src = spec.build()
    assert TOKEN not in src.describe() and TOKEN not in repr(src)


def test_incremental_run_reembeds_only_the_edited_issues(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    fake = jira({"SUBS": 130, "OPS": 25})
    config, workdir = jira_config(tmp_path, fake, max_results=50)
    first = run_json(config)
    assert first["ingest"]["documents_written"] == 155
    marks = {p: fake.max_updated(p) for p in ("SUBS", "OPS")}
    chunks_before = index_docs(workdir / "index.sqlite")
    edited = {"SUBS-2": "summary", "SUBS-77": "description", "OPS-3": "comment"}
    fake.edit("SUBS-2", summary="Renamed: ledger lock contention ✏️")
    fake.edit("SUBS-77", description="A wholly new description mentioning the zebra migration.")
    fake.edit("OPS-3", comment="A new comment about the aardvark rollout.")
    fake.reset_log()

    second = run_json(config)
    ing = second["ingest"]
    assert ing["documents_written"] == 3, ing
    n_chunks = sum(len(chunks_before[f"jira:{k}"]) for k in edited)
    assert 0 < ing["chunks_embedded"] <= n_chunks + 3, ing
    assert second["verify"]["ok"] is True
    # The reopened searches asked for what changed since the highest `updated` seen minus 60 minutes,
    # written as an absolute UTC time minus 14 hours, so that no user time zone (JQL reads dates in
    # it) can move the bound past the watermark.
    calls = fake.search_calls()
    assert {'"SUBS"' in (c.jql or "") for c in calls} == {True, False}
    for c in calls:
        project = "SUBS" if '"SUBS"' in (c.jql or "") else "OPS"
        bound = effective_lower_bound(c)
        want = marks[project] - 60 * 60_000
        earliest = want - 14 * 3_600_000 - 12 * 3_600_000 - 62_000  # UTC-14h, read in a UTC+12 zone
        assert earliest <= bound <= want + 5_000, (c.jql, iso(bound), iso(want))
    assert_clean_search_requests(fake, ("SUBS", "OPS"), 50)
    docs = index_docs(workdir / "index.sqlite")
    assert sorted(docs) == sorted(chunks_before)
    assert docs["jira:SUBS-2"][0]["title"] == "SUBS-2: Renamed: ledger lock contention ✏️"
    assert "zebra migration" in doc_text(docs["jira:SUBS-77"])
    assert "aardvark rollout" in doc_text(docs["jira:OPS-3"])
    for k in set(chunks_before) - {f"jira:{x}" for x in edited}:
        assert docs[k] == chunks_before[k], k

    # Nothing changed: a third run writes nothing.
    third = run_json(config)
    assert third["ingest"]["documents_written"] == 0 and third["ingest"]["chunks_embedded"] == 0


def test_incremental_bound_ignores_the_users_time_zone(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    """Jira reads JQL dates, and writes timestamps, in the user's time zone (here UTC-5): an edit made right
    after the first run must still be found by the next one, and times are stored in UTC."""
    fake = jira({"SUBS": 30}, tz_minutes=-300)
    fake.edit("SUBS-1")                       # the highest `updated` is now
    config, workdir = jira_config(tmp_path, fake, projects=("SUBS",))
    run_json(config)
    fake.edit("SUBS-5", summary="edited two seconds later")
    second = run_json(config)
    assert second["ingest"]["documents_written"] >= 1
    docs = index_docs(workdir / "index.sqlite")
    assert docs["jira:SUBS-5"][0]["title"] == "SUBS-5: edited two seconds later"
    # Timestamps arrive as 2026-11-28T11:02:03.456-0500 and are stored in UTC.
    assert fake.issue("SUBS-5")["fields"]["updated"].endswith("-0500")
    assert docs["jira:SUBS-5"][0]["updated_at"] == iso(fake.updated("SUBS-5"))


def test_resuming_an_interrupted_incremental_run_later_loses_nothing(jira: Callable[..., JiraFake],
                                                                      tmp_path: Path) -> None:
    """An incremental run killed after its first page and resumed 3 hours later (the site's clock moved
    on): the issues edited after the previous run must all arrive. The resumed search is the one the
    killed run began, so a lower bound relative to "now" would have moved by 3 hours."""
    fake = jira({"SUBS": 200})
    fake.edit("SUBS-1")                       # the highest `updated` is now
    config, workdir = jira_config(tmp_path, fake, projects=("SUBS",), max_results=50)
    run_json(config)
    edited = [f"SUBS-{n}" for n in range(2, 160)]
    for k in edited:
        fake.edit(k, summary=f"{k} after the first run")
    killed = cli("run", str(config), "--progress", "none", env={"BACKFILL_FAILPOINTS": "fetch.page_committed=1:kill"})
    assert killed.code == -signal.SIGKILL, (killed.code, killed.err)
    fake.advance(3 * 3600)
    r = run_json(config)
    assert r["verify"]["ok"] is True
    docs = index_docs(workdir / "index.sqlite")
    stale = [k for k in edited if docs[f"jira:{k}"][0]["title"] != f"{k}: {k} after the first run"]
    assert not stale, f"{len(stale)} edited issues never fetched, e.g. {stale[:5]}"


def test_resuming_after_the_token_expired(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    """A fetch killed mid-partition and resumed after its nextPageToken expired (Jira's expire after 7
    days): 400 "The provided next page token is invalid or expired.". The run must still complete (the
    partition's search begun again), or stop with one line that says how to go on (--refetch)."""
    fake = jira({"SUBS": 200})
    config, workdir = jira_config(tmp_path, fake, projects=("SUBS",), max_results=50)
    killed = cli("run", str(config), "--progress", "none", env={"BACKFILL_FAILPOINTS": "fetch.page_committed=2:kill"})
    assert killed.code == -signal.SIGKILL, (killed.code, killed.err)
    fake.expire_tokens()
    r = cli("run", str(config), "--progress", "none", "--json")
    if r.code != 0:
        line = one_line(r.err)
        assert "--refetch" in line and "SUBS" in line, f"an expired token leaves the user stuck: {line}"
        r = cli("run", str(config), "--progress", "none", "--json", "--refetch", "SUBS")
        assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["verify"]["ok"] is True
    assert sorted(index_docs(workdir / "index.sqlite")) == sorted(f"jira:{k}" for k in fake.issue_keys("SUBS"))


def test_windows_split_projects_and_fetch_each_issue_once(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    fake = jira({"SUBS": 120, "OPS": 30})
    config, workdir = jira_config(tmp_path, fake, source_extra='since = "2024-01-01"\nwindow_days = 120\n')
    plan = cli("plan", str(config), "--json")
    assert plan.code == 0, plan.err
    names = [p["name"] for p in json.loads(plan.out)["partitions"]]
    assert len(names) > 4 and any("SUBS" in n for n in names) and any("OPS" in n for n in names)
    report = run_json(config)
    assert report["ingest"]["documents_written"] == 150 and report["validate"]["duplicate_ids"] == 0
    assert sorted(index_docs(workdir / "index.sqlite")) == sorted(f"jira:{k}" for k in keys_of(fake, "SUBS", "OPS"))
    closed = 0
    for c in fake.search_calls():
        jql = parse_jql(c.jql or "")
        uppers = [t for t in jql.conjuncts() if isinstance(t, Clause) and t.field == "updated" and t.op == "<"]
        closed += bool(uppers)
    assert closed >= len(names) - 2  # every window but the open last ones has an upper bound
    assert_clean_search_requests(fake, ("SUBS", "OPS"), 50)

    # The incremental rerun reopens every window, those that held no issue too (no watermark): each
    # asks only for its own days, never from `since`, which would fetch earlier windows' issues again.
    fake.reset_log()
    again = run_json(config)
    assert again["ingest"]["documents_written"] == 0, again["ingest"]
    window_ms = 120 * 86_400_000
    for c in fake.search_calls():
        jql = parse_jql(c.jql or "")
        uppers = [t for t in jql.conjuncts() if isinstance(t, Clause) and t.field == "updated" and t.op == "<"]
        if uppers:
            upper = jql_date(uppers[0].value, 0, int(c.wall * 1000))
            assert upper - effective_lower_bound(c) <= window_ms, c.jql


def test_user_jql_is_anded_in(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    fake = jira({"SUBS": 120, "OPS": 30})
    config, workdir = jira_config(tmp_path, fake, source_extra='jql = "labels = billing OR priority = Highest"\n')
    report = run_json(config)
    want = sorted(f"jira:{k}" for k in keys_of(fake, "SUBS", "OPS")
                  if "billing" in fake.issue(k)["fields"]["labels"] or fake.issue(k)["fields"]["priority"]["name"]
                  == "Highest")
    assert 10 < len(want) < 150
    assert sorted(index_docs(workdir / "index.sqlite")) == want
    assert report["ingest"]["documents_written"] == len(want)
    for c in fake.search_calls():
        assert "(labels = billing OR priority = Highest)" in (c.jql or ""), c.jql
    assert_clean_search_requests(fake, ("SUBS", "OPS"), 50)


def test_python_api_runs_a_jira_backfill(jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    fake = jira({"SUBS": 40})
    pipe = backfill.Pipeline(
        backfill.JiraCloud(url=fake.url, email=EMAIL, token=TOKEN, projects=("SUBS",), max_results=25, rate=50),
        backfill.HashEmbedder(dimension=DIM), backfill.LocalIndex(), name="jira-api", workdir=tmp_path / "wd",
        progress="none")
    report = pipe.run()
    assert report.verify.ok and report.ingest.documents_written == 40
    matches = pipe.query(fake.issue("SUBS-7")["fields"]["summary"], k=5)
    assert matches and all(m.id.startswith("jira:") for m in matches)


def test_the_field_catalogue_is_read_once_and_every_page_names_the_fields_it_shows(
        jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    fake = jira({"SUBS": 60, "OPS": 20})
    config, workdir = jira_config(tmp_path, fake, max_results=25)
    report = run_json(config)
    assert report["verify"]["ok"] is True and report["ingest"]["warnings"] == 0
    assert len(fake.calls(FIELD_LIST)) == 1
    assert_clean_search_requests(fake, ("SUBS", "OPS"), 25)
    pages = journal(workdir)
    assert len(pages) == 4
    names = {"status": "Status", "resolution": "Resolution", "fixVersions": "Fix versions", "subtasks": "Sub-tasks",
             "issuelinks": "Linked Issues", "attachment": "Attachment", ACCEPTANCE: "Acceptance Criteria"}
    for _, _, page in pages:
        assert [f["id"] for f in page["fields"]] == list(DEFAULT_SHOWN)
        assert all(names.get(f["id"], f["name"]) == f["name"] and f["schema"]["type"] for f in page["fields"])
    # What a reader sees: from the run's index, and from each journal page alone (what a resume and a
    # journal replay read).
    docs = index_docs(workdir / "index.sqlite")
    replayed = {d["id"]: d for _, _, page in pages for d in _testing.normalize_jira_page(json.dumps(page), fake.url)}
    assert sorted(replayed) == sorted(docs)
    seen: Counter[str] = Counter()
    for k in keys_of(fake, "SUBS", "OPS"):
        f = fake.issue(k)["fields"]
        lines, meta = [f"Status: {f['status']['name']}\n"], {}
        if f["resolution"]:
            seen["resolution"] += 1
            lines.append("\nResolution: Done\n")
            meta["resolution"] = "Done"
        if f["subtasks"]:
            seen["subtasks"] += 1
            subtasks = [f"{s['key']} {s['fields']['summary']}" for s in f["subtasks"]]
            lines.append("Sub-tasks: " + ", ".join(subtasks))
            meta["subtasks"] = subtasks
        if f[ACCEPTANCE]:
            seen["acceptance"] += 1
            lines.append("Acceptance Criteria:\n" + _testing.adf_to_text(json.dumps(f[ACCEPTANCE])))
        for text, md in ((doc_text(docs[f"jira:{k}"]), docs[f"jira:{k}"][0]),
                         (replayed[f"jira:{k}"]["text"], replayed[f"jira:{k}"]["metadata"])):
            assert all(line in text for line in lines), (k, lines, text)
            assert {m: md.get(m) for m in meta} == meta, k
            assert "Epic Name:" not in text and "Story Points:" not in text  # not shown by default
    assert len(seen) == 3, seen


def test_fields_chosen_by_display_name_are_shown_and_kept_as_metadata(
        jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    fake = jira({"SUBS": 80})
    config, workdir = jira_config(tmp_path, fake, projects=("SUBS",),
                                  source_extra='fields = ["epic name", "Story Points", "Status"]\n')
    run_json(config)
    for c in fake.search_calls():
        assert tuple(c.param("fields", "").split(",")) == (*STANDARD_FIELDS, EPIC_NAME, STORY_POINTS)
    [(_, _, page), *_] = journal(workdir)
    assert [(f["id"], f["name"]) for f in page["fields"]] == [(EPIC_NAME, "Epic Name"),
                                                             (STORY_POINTS, "Story Points"), ("status", "Status")]
    docs = index_docs(workdir / "index.sqlite")
    epics = stories = 0
    for k in keys_of(fake, "SUBS"):
        f = fake.issue(k)["fields"]
        text, md = doc_text(docs[f"jira:{k}"]), docs[f"jira:{k}"][0]
        assert "Acceptance Criteria" not in text and "Resolution:" not in text
        if f[EPIC_NAME]:
            epics += 1
            assert f"Epic Name: {f[EPIC_NAME]}\n" in text and md["epic_name"] == f[EPIC_NAME], k
        if f[STORY_POINTS] is not None:
            stories += 1
            assert f"Story Points: {int(f[STORY_POINTS])}\n" in text and md["story_points"] == f[STORY_POINTS], k
        assert f"Status: {f['status']['name']}" in text
    assert epics and stories


def test_a_field_name_the_site_does_not_have_is_one_line_naming_close_matches(
        jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    fake = jira({"SUBS": 5})
    config, workdir = jira_config(tmp_path, fake, projects=("SUBS",), source_extra='fields = ["Epic Nmae"]\n')
    r = cli("run", str(config), "--progress", "none")
    assert r.code == 2, r.err
    assert one_line(r.err) == (
        f"backfill: config error: source.fields: Jira {fake.url} has no field named 'Epic Nmae'; did you mean "
        "'Epic Name'? (names as GET /rest/api/3/field lists them, or field ids such as customfield_10011)")
    assert not fake.search_calls() and len(fake.calls(FIELD_LIST)) == 1


def test_a_field_value_of_an_unknown_shape_is_a_warning_in_the_ingest_report(
        jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    fake = jira({"SUBS": 12})
    fake.set_field("SUBS-4", DEPLOYMENT, {"environments": [{"env": "prod", "state": "successful"}]})
    fake.set_field("SUBS-9", DEPLOYMENT, {"environments": []})
    fake.set_field("SUBS-5", DEPLOYMENT, {"value": "prod"})  # an option: read
    extra = 'fields = ["Status", "Deployment"]\n'
    config, workdir = jira_config(tmp_path / "json", fake, projects=("SUBS",), source_extra=extra)
    report = run_json(config)
    example = ("Jira SUBS-4: field 'Deployment' (customfield_10070) has a value of a shape backfill does not read; "
               "left out")
    assert report["ingest"]["warnings"] == 2 and report["ingest"]["warning_examples"] == [example]
    docs = index_docs(workdir / "index.sqlite")
    assert "Deployment" not in doc_text(docs["jira:SUBS-4"]) and docs["jira:SUBS-4"][0]["status"]
    assert "Deployment: prod" in doc_text(docs["jira:SUBS-5"]) and docs["jira:SUBS-5"][0]["deployment"] == "prod"
    # The report's text says it too.
    config, _ = jira_config(tmp_path / "text", fake, projects=("SUBS",), source_extra=extra)
    r = cli("run", str(config), "--progress", "none")
    assert r.code == 0, r.err
    assert ("values left out of the documents (a shape backfill does not read): 2, e.g.:\n    " + example) in r.out
    assert re.search(r"SUBS-4: field 'Deployment'.*left out", r.err)  # logged once


def test_beside_a_slow_ingest_only_the_partition_it_reads_next_keeps_fetching(tmp_path: Path, jira: Any) -> None:
    """While the ingest has pages enough to read (here: embeddings are slow), the partitions after the
    one it reads next wait before their next request, holding no page, and are fetched when it needs
    them: the wait is reported and logged, and every document lands all the same."""
    from openai_fake import DEFAULT_API_KEY, OpenAIFake

    projects = ("ALPHA", "BRAVO", "CHARLIE")
    # One partition's fetch must be faster than the ingest: a lean fake (no comments beyond the search's,
    # plain JSON) fetches ~50 pages a second; the ingest embeds 16 texts every 0.2 s, ~8 pages a second,
    # and holds a few pages in flight (batches of 16 records), not a whole partition.
    fake = jira({p: 300 for p in projects}, max_comments=0, validate=False, gzip_responses=False)
    with OpenAIFake(latency=0.2) as oa:
        config, workdir = jira_config(tmp_path, fake, projects=projects, max_results=10, target_tokens=1024,
                                      batch_records=16, rate=500)
        text = config.read_text().replace(
            '[embedder]\ntype = "hash"\n',
            f'[embedder]\ntype = "openai"\nmodel = "text-embedding-3-small"\nbase_url = "{oa.url}"\n'
            'api_key = "${OPENAI_API_KEY}"\nmax_inputs = 16\nconcurrency = 1\n').replace(
            f"dimension = {DIM}", f"dimensions = {DIM}")
        config.write_text(text)
        r = cli("run", str(config), "--progress", "none", "--json", env={"OPENAI_API_KEY": DEFAULT_API_KEY})
        assert r.code == 0, r.err[-3000:]
        report = json.loads(r.out)
    assert report["fetch"]["pages_fetched"] == 3 * 30
    assert report["fetch"]["waited_for_ingest"] > 0, (report["fetch"], report["ingest"]["stage_seconds"])
    assert re.search(r"fetch: the ingest was behind; partitions after the one it read waited \d", r.err), r.err[-3000:]
    assert report["verify"]["ok"] is True and report["verify"]["documents"] == 900
    assert sorted(index_docs(workdir / "index.sqlite")) == sorted(f"jira:{k}" for k in keys_of(fake, *projects))


# --- 4. the big one ------------------------------------------------------------------------------


@pytest.mark.slow
def test_three_projects_of_2000_issues_killed_during_fetch_then_verified(tmp_path: Path) -> None:
    """3 projects of 2,000 issues, kill -9 during fetch (a failpoint, then an outside SIGKILL), rerun:
    exactly 6,000 documents verified, in the local index and in the Pinecone fake."""
    from pinecone_fake import PineconeFake

    t_start = time.monotonic()
    projects = ("ALPHA", "BRAVO", "CHARLIE")
    fake = JiraFake({p: 2000 for p in projects}, seed=11, validate=False, max_comments=45,
                    long_comment_share=0.05).start()
    try:
        expected = sorted(f"jira:{k}" for k in keys_of(fake, *projects))
        assert len(expected) == 6000

        # Local index: killed by a failpoint after 25 committed pages (of 60), then rerun.
        config, workdir = jira_config(tmp_path / "local", fake, projects=projects, max_results=100,
                                      target_tokens=1024, batch_records=512, rate=200)
        killed = cli("run", str(config), "--progress", "none",
                     env={"BACKFILL_FAILPOINTS": "fetch.page_committed=25:kill"})
        assert killed.code == -signal.SIGKILL, (killed.code, killed.err[-2000:])
        with ledger(workdir) as db:
            committed = db.execute("SELECT count(*) FROM pages").fetchone()[0]
            done = db.execute("SELECT count(*) FROM partitions WHERE status='done'").fetchone()[0]
        assert committed == 25 and done <= 1  # the three projects are fetched at once
        report = run_json(config)
        # The rest of the pages, and one incremental page for each partition already done.
        assert report["fetch"]["pages_fetched"] == 60 - 25 + done
        assert report["verify"]["ok"] is True and report["verify"]["documents"] == 6000
        ids = index_ids(workdir / "index.sqlite")
        assert len(ids) == len(set(ids)) == report["verify"]["observed_count"]
        assert sorted(index_docs(workdir / "index.sqlite")) == expected
        with ledger(workdir) as db:
            assert db.execute("SELECT count(*), count(DISTINCT id) FROM documents").fetchone() == (6000, 6000)
        t_local = time.monotonic() - t_start

        # Pinecone: killed from outside while fetching, then rerun.
        with PineconeFake(dimension=DIM) as pc:
            sink = f"""
                [sink]
                type = "pinecone"
                host = "{pc.url}"
                api_key = "${{PINECONE_API_KEY}}"
                namespace = "jira"

                [verify]
                count_timeout_seconds = 30
                """
            config, workdir = jira_config(tmp_path / "pc", fake, projects=projects, max_results=100, sink=sink,
                                          target_tokens=1024, batch_records=1000, rate=200, name="jira-pc")
            pages = kill_after_pages(config, workdir, {"JIRA_API_TOKEN": TOKEN, "PINECONE_API_KEY": "pk-test-secret"},
                                     pause_ms=150)
            assert pages < 60
            report = run_json(config, env={"PINECONE_API_KEY": "pk-test-secret"})
            assert report["verify"]["ok"] is True and report["verify"]["documents"] == 6000
            assert report["verify"]["observed_count"] == pc.count("jira") == report["verify"]["checked"]
            vecs = pc.vectors("jira")
            doc_ids = {v["metadata"]["doc_id"] for v in vecs.values()}
            assert sorted(doc_ids) == expected
            assert not pc.take_violations()
        assert not fake.take_violations() and not fake.errors
        elapsed = time.monotonic() - t_start
        print(f"local: {t_local:.1f} s, total {elapsed:.1f} s")
    finally:
        fake.stop()


def test_reconcile_deletes_issues_deleted_in_jira_and_refuses_to_wipe(
        jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    """An issue deleted in Jira never shows up in an incremental fetch; `reconcile` (opt-in, or
    [run] reconcile = true) lists the keys in scope and deletes the documents that are gone, and
    refuses (deleting nothing) when the listing would remove most of the index."""
    fake = jira({"SUBS": 40, "OPS": 12})
    config, workdir = jira_config(tmp_path, fake, max_results=25)
    r = cli("run", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err
    before = index_docs(workdir / "index.sqlite")
    gone = ["SUBS-3", "OPS-7"]
    for key in gone:
        fake.delete_issue(key)

    r = cli("reconcile", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["listed"] == 50 and report["documents"] == 52 and report["documents_deleted"] == 2
    assert sorted(report["deleted"]) == sorted(f"jira:{k}" for k in gone)
    after = index_docs(workdir / "index.sqlite")
    assert sorted(after) == sorted(d for d in before if d not in {f"jira:{k}" for k in gone})
    r = cli("verify", str(config), "--progress", "none")
    assert r.code == 0, r.err
    # The journal still holds them; a later run does not bring them back (a tombstone remembers them).
    again = run_json(config)
    assert again["ingest"]["documents_deleted_upstream"] == 2 and again["ingest"]["documents_written"] == 0
    assert sorted(index_docs(workdir / "index.sqlite")) == sorted(after)

    # Most of the project disappears from view (a permission change, say): refused, nothing deleted.
    for key in fake.issue_keys("SUBS")[5:]:
        fake.delete_issue(key)
    r = cli("reconcile", str(config), "--progress", "none")
    assert r.code == 3 and "reconcile refused" in r.err and "nothing was deleted" in r.err, r.err
    assert index_docs(workdir / "index.sqlite") == after

    # With reconcile on in the config, a run picks it up (allowed to remove everything that is gone).
    text = config.read_text().replace("[run]\n", "[run]\nreconcile = true\nreconcile_max_fraction = 1.0\n", 1)
    config.write_text(text)
    r = cli("run", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["reconcile"]["documents_deleted"] == 34 and out["verify"]["ok"] is True, out["reconcile"]
    assert len(index_docs(workdir / "index.sqlite")) == 16
