"""GitHub as a source, against a local GitHub REST v3 server (tests/python/github_fake.py).

  1. the fake itself behaves like the API (Link pagination, inclusive since, 401, 404);
  2. whole backfills through the CLI: fetch → embed → local index → verify with every comment kept and the
     repository-wide comment listings used (never one request per issue); a kill -9 mid-partition and the
     rerun; an incremental run that asks only for what changed (an edited comment updates its record);
     a repository that does not exist named in the error while the others are ingested; a bad token;
     the primary limit paced and a secondary-limit burst waited out, with the waits at INFO; owner/*;
     reconcile deleting a deleted issue.

After every test the fake must have seen no request that breaks the API's rules.
"""

from __future__ import annotations

import json
import signal
import textwrap
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import backfill
import pytest
from conftest import content_bytes, run_cli
from fake_base import fakes_on_demand
from github_fake import TOKEN, GitHubFake, iso
from test_jira import doc_text, index_docs, one_line

DIM = 32


@pytest.fixture()
def github() -> Iterator[Callable[..., GitHubFake]]:
    def problems(f: GitHubFake) -> list[str]:
        return [f"violation: {v}" for v in f.take_violations()] + [f"fake error: {e}" for e in f.errors]

    yield from fakes_on_demand(GitHubFake, problems, "the GitHub fake saw requests that break the API's rules")


def config(tmp_path: Path, fake: GitHubFake, repos: tuple[str, ...] = ("acme/widgets",), *, extra: str = "",
           name: str = "gh") -> tuple[Path, Path]:
    workdir = tmp_path / "work"
    path = tmp_path / f"{name}.toml"
    rlist = ", ".join(f'"{r}"' for r in repos)
    path.write_text(textwrap.dedent(f"""\
        [run]
        name = "{name}"
        workdir = "{workdir}"
        batch_records = 64

        [source]
        type = "github"
        base_url = "{fake.url}"
        token = "${{GITHUB_TOKEN}}"
        repos = [{rlist}]
        per_page = 10
        rate = 200
        """) + textwrap.dedent(extra) + textwrap.dedent(f"""
        [embedder]
        type = "hash"
        dimension = {DIM}

        [chunking]
        target_tokens = 256
        overlap_tokens = 16
        """))
    return path, workdir


def cli(*args: str, token: str = TOKEN, env: dict[str, str] | None = None) -> Any:
    return run_cli(*args, env={"GITHUB_TOKEN": token, **(env or {})})


def run_json(path: Path, *extra: str, **kw: Any) -> dict[str, Any]:
    r = cli("run", str(path), "--progress", "none", "--json", *extra, **kw)
    assert r.code == 0, f"exit {r.code}\n{r.err[-3000:]}"
    return json.loads(r.out)


def get(fake: GitHubFake, path: str, token: str = TOKEN) -> tuple[int, dict[str, str], Any]:
    req = urllib.request.Request(fake.url + path, headers={
        "Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, json.loads(e.read())


# --- 1. the fake -----------------------------------------------------------------------------------


def test_the_fake_pages_by_link_filters_by_since_and_refuses_what_github_refuses(
        github: Callable[..., GitHubFake]) -> None:
    fake = github({"acme/widgets": 25})
    status, headers, page = get(fake, "/repos/acme/widgets/issues?state=all&per_page=10")
    assert status == 200 and len(page) == 10 and 'rel="next"' in headers["link"] and 'rel="last"' in headers["link"]
    assert int(headers["x-ratelimit-remaining"]) == 4999 and headers["x-ratelimit-resource"] == "core"
    seen = []
    path = "/repos/acme/widgets/issues?state=all&sort=updated&direction=asc&per_page=10"
    while True:
        status, headers, page = get(fake, path)
        seen += [i["number"] for i in page]
        nxt = [p for p in headers.get("link", "").split(", ") if p.endswith('rel="next"')]
        if not nxt:
            break
        path = nxt[0][1:nxt[0].index(">")].removeprefix(fake.url)
    assert sorted(seen) == list(range(1, 26))
    mid = fake.repos["acme/widgets"].issues[seen[12]]
    from github_fake import iso
    _, _, since = get(fake, f"/repos/acme/widgets/issues?state=all&since={iso(mid.updated)}&per_page=100")
    assert mid.number in {i["number"] for i in since} and len(since) == 13  # since is inclusive
    assert any("pull_request" in i for i in since)
    assert get(fake, "/repos/acme/nope")[0] == 404
    status, _, body = get(fake, "/repos/acme/widgets", token="wrong")
    assert status == 401 and body["message"] == "Bad credentials"


# --- 2. backfills -----------------------------------------------------------------------------------


def test_a_backfill_keeps_every_comment_from_repository_wide_listings(
        github: Callable[..., GitHubFake], tmp_path: Path) -> None:
    fake = github({"acme/widgets": 45, "acme/gears": 12}, max_comments=14)
    path, workdir = config(tmp_path, fake, ("acme/widgets", "acme/gears"))
    report = run_json(path)
    assert report["verify"]["ok"] is True
    docs = index_docs(workdir / "index.sqlite")
    assert sorted(docs) == sorted(fake.documents("acme/widgets") + fake.documents("acme/gears"))
    # Comments come from /issues/comments and /pulls/comments, never one request per issue; reviews are
    # read per pull request; /pulls/{n} never (the issue carries merged_at).
    paths = [r.path for r in fake.requests]
    assert not [p for p in paths if p.endswith("/comments") and "/issues/" in p and not p.endswith("/issues/comments")]
    assert not [p for p in paths if p.rsplit("/", 1)[-1].isdigit() and "/pulls/" in p]
    pulls = sum(1 for r in ("acme/widgets", "acme/gears") for i in fake.repos[r].issues.values() if i.pull)
    assert sum(1 for p in paths if p.endswith("/reviews")) == pulls
    for r in fake.requests:
        if r.path.endswith("/issues") or r.path.endswith("/comments"):
            assert r.query["sort"] == ["updated"] and r.query["per_page"] == ["10"], r.query
    # Every comment, review comment and review with a body is in its document, in order, with its author.
    repo = fake.repos["acme/widgets"]
    for issue in repo.issues.values():
        text = doc_text(docs[f"github:acme/widgets#{issue.number}"])
        for note in issue.notes:
            if note.kind == 2 and note.state == "COMMENTED":
                continue
            assert f"Comment {note.body.split(':')[0].split()[1]} on #{issue.number}" in text, (issue.number, note)
            assert note.author in text
        m = docs[f"github:acme/widgets#{issue.number}"][0]
        assert m["repo"] == "acme/widgets" and m["number"] == issue.number and m["state"] == issue.state
        assert m["kind"] == ("pull" if issue.pull else "issue") and m["author"] == issue.author
        assert sorted(m["labels"]) == sorted(issue.labels)
        if issue.pull:
            assert m["merged"] is issue.merged
    # Markdown kept readable: code blocks as written, template comments dropped, links and images with URLs.
    texts = "\n".join(doc_text(c) for c in docs.values())
    assert "client.fetch(page=2)  # [not a link](http://x)" in texts and "@octocat" in texts
    assert "Please fill in the template" not in texts
    assert "the docs (https://docs.example.com/lock)" in texts
    assert "screenshot (https://user-images.example.com/1.png)" in texts
    review_comment = next(n for i in repo.issues.values() for n in i.notes if n.kind == 1)
    assert f"on {review_comment.path} line {review_comment.line}" in doc_text(
        docs[f"github:acme/widgets#{review_comment.number}"])


def test_the_token_reaches_only_the_configured_host_and_never_the_workdir(
        github: Callable[..., GitHubFake], tmp_path: Path) -> None:
    fake = github({"acme/widgets": 12})
    path, workdir = config(tmp_path, fake)
    r = cli("run", str(path), "--progress", "none", "-vvv")
    assert r.code == 0, r.err[-2000:]
    assert TOKEN not in r.err + r.out
    for p in workdir.rglob("*"):
        if p.is_file():
            assert TOKEN.encode() not in content_bytes(p), p
    spec = backfill.GitHub(token=TOKEN, repos=("acme/widgets",), base_url=fake.url)
    assert TOKEN not in repr(spec) and TOKEN not in spec.build().describe()


def test_the_pull_requests_of_a_page_have_their_reviews_requests_in_flight_together(
        github: Callable[..., GitHubFake], tmp_path: Path) -> None:
    """At 100 ms a request, the reviews of a page's pull requests are asked for a few at once (up to
    max_in_flight, never more), not one round trip after the other; every review still lands."""
    fake = github({"acme/widgets": 30})
    fake.latency = 0.1
    path, workdir = config(tmp_path, fake, extra="max_in_flight = 3\n")
    assert run_json(path)["verify"]["ok"] is True
    starts = sorted(r.t for r in fake.requests if r.path.endswith("/reviews"))
    pulls = [i for i in fake.repos["acme/widgets"].issues.values() if i.pull]
    assert len(starts) == len(pulls) >= 5
    together = max(sum(1 for t in starts if s <= t < s + 0.05) for s in starts)
    assert together >= 2, f"each reviews request waited for the one before: {starts}"
    assert fake.max_active <= 3
    docs = index_docs(workdir / "index.sqlite")
    for i in pulls:
        for n in i.notes:
            if n.kind == 2 and n.body:
                assert n.body.split(":")[0] + ":" in doc_text(docs[f"github:acme/widgets#{i.number}"])


def test_a_kill_mid_partition_resumes_at_the_next_page(github: Callable[..., GitHubFake], tmp_path: Path) -> None:
    fake = github({"acme/widgets": 60, "acme/gears": 30})
    path, workdir = config(tmp_path, fake, ("acme/widgets", "acme/gears"))
    killed = cli("run", str(path), "--progress", "none", env={"BACKFILL_FAILPOINTS": "fetch.page_committed=3:kill"})
    assert killed.code == -signal.SIGKILL, (killed.code, killed.err[-2000:])
    first_requests = len(fake.requests)
    fake.reset_log()
    report = run_json(path)
    assert report["verify"]["ok"] is True
    assert sorted(index_docs(workdir / "index.sqlite")) == sorted(fake.documents("acme/widgets") +
                                                                   fake.documents("acme/gears"))
    # The rerun went on from the page after the last journaled one: the first issues page is not read again.
    widgets_issue_pages = [r for r in fake.requests if r.path == "/repos/acme/widgets/issues"]
    assert widgets_issue_pages and all(r.query.get("page", ["1"]) != ["1"] for r in widgets_issue_pages[:1])
    assert first_requests > 0


def test_an_incremental_run_reads_only_what_changed_and_an_edited_comment_updates_its_record(
        github: Callable[..., GitHubFake], tmp_path: Path) -> None:
    fake = github({"acme/widgets": 80})
    path, workdir = config(tmp_path, fake)
    first = run_json(path)
    assert first["ingest"]["documents_written"] == 80
    before = index_docs(workdir / "index.sqlite")
    repo = fake.repos["acme/widgets"]
    commented = next(i for i in repo.issues.values() if any(n.kind == 0 for n in i.notes) and i.number > 5)
    note = next(n for n in commented.notes if n.kind == 0)
    old_body = note.body.split("\n")[0]
    fake.edit_comment("acme/widgets", note.id, "Edited: the aardvark migration is the cause.")
    fake.edit_issue("acme/widgets", 2, title="Renamed: ledger lock contention")
    fake.add_comment("acme/widgets", 4, "A new comment about the zebra rollout.", author="hubot")
    fake.reset_log()

    second = run_json(path)
    assert second["verify"]["ok"] is True
    assert second["ingest"]["documents_written"] == 3, second["ingest"]
    lists = [r for r in fake.requests if r.path.endswith("/issues") or r.path.endswith("/comments")]
    assert lists and all("since" in r.query for r in lists), [r.query for r in lists]
    issue_pages = [r for r in fake.requests if r.path.endswith("/issues")]
    assert len(issue_pages) == 1, "only the changed issues: one page"
    docs = index_docs(workdir / "index.sqlite")
    assert docs["github:acme/widgets#2"][0]["title"] == "acme/widgets#2: Renamed: ledger lock contention"
    assert "zebra rollout" in doc_text(docs["github:acme/widgets#4"])
    edited = doc_text(docs[f"github:acme/widgets#{commented.number}"])
    assert "aardvark migration" in edited and old_body not in edited
    for k in set(before) - {"github:acme/widgets#2", "github:acme/widgets#4", f"github:acme/widgets#{commented.number}"}:
        assert docs[k] == before[k], k
    third = run_json(path)
    assert third["ingest"]["documents_written"] == 0


def test_a_repository_that_does_not_exist_is_named_while_the_others_go_on(
        github: Callable[..., GitHubFake], tmp_path: Path) -> None:
    fake = github({"acme/widgets": 15, "acme/gears": 9})
    path, workdir = config(tmp_path, fake, ("acme/widgets", "acme/nope", "acme/gears"))
    r = cli("run", str(path), "--progress", "none")
    assert r.code != 0
    line = one_line(r.err)
    assert "acme/nope" in line and "404" in line and "source.repos" in line, line
    assert sorted(index_docs(workdir / "index.sqlite")) == sorted(fake.documents("acme/widgets") +
                                                                   fake.documents("acme/gears"))


def test_a_bad_token_is_one_line(github: Callable[..., GitHubFake], tmp_path: Path) -> None:
    fake = github({"acme/widgets": 5})
    path, _ = config(tmp_path, fake)
    r = cli("run", str(path), "--progress", "none", token="ghp_wrongwrongwrongwrongwrongwrongwrong12")
    assert r.code != 0
    line = one_line(r.err)
    assert "401" in line and "source.token" in line, line
    assert "ghp_wrongwrong" not in r.err


def test_a_repository_the_token_may_not_read_names_the_permissions_it_needs(
        github: Callable[..., GitHubFake], tmp_path: Path) -> None:
    fake = github({"acme/widgets": 5, "acme/vault": 5})
    fake.forbidden.add("acme/vault")
    path, _ = config(tmp_path, fake, ("acme/widgets", "acme/vault"))
    r = cli("run", str(path), "--progress", "none")
    assert r.code != 0
    line = one_line(r.err)
    assert "acme/vault" in line and "403" in line and "Issues (read) and Pull requests (read)" in line, line
    assert "rate limit" not in line, line  # a refusal, not a limit to wait out
    assert TOKEN not in r.err


def test_rate_limits_are_paced_and_waited_out_with_the_waits_at_info(
        github: Callable[..., GitHubFake], tmp_path: Path) -> None:
    """A primary limit of 40 requests a 6-second window and a secondary-limit burst: the run finishes with
    no request sent before GitHub allowed it (the fake's violations), the requests of the second half of
    each window spread out, and the waits in the log at INFO with their reason."""
    fake = github({"acme/widgets": 60, "acme/gears": 40}, limit=40, window=6.0)
    fake.secondary_burst(2, retry_after=1)
    path, workdir = config(tmp_path, fake, ("acme/widgets", "acme/gears"), extra="reserve = 2\n")
    r = cli("run", str(path), "--progress", "none", "--json")
    assert r.code == 0, r.err[-3000:]
    assert json.loads(r.out)["verify"]["ok"] is True
    assert fake.secondary_answered == 2
    assert "secondary rate limit" in r.err and "INFO" in r.err
    assert "primary rate limit" in r.err, r.err[-3000:]
    times = [x.t for x in fake.requests if x.status == 200]
    assert times[-1] - times[0] > 6, "the budget of one window was not enough: the run must have waited"


def test_owner_star_expands_and_leaves_archived_repositories_out(
        github: Callable[..., GitHubFake], tmp_path: Path) -> None:
    fake = github({"acme/widgets": 5, "acme/gears": 4}, orgs={"acme": ["acme/widgets", "acme/gears", "acme/old"]})
    fake.add_repo("acme/old", 3, archived=True)
    path, workdir = config(tmp_path, fake, ("acme/*",))
    run_json(path)
    assert sorted(index_docs(workdir / "index.sqlite")) == sorted(fake.documents("acme/widgets") +
                                                                   fake.documents("acme/gears"))


def test_reconcile_deletes_an_issue_deleted_on_github(github: Callable[..., GitHubFake], tmp_path: Path) -> None:
    fake = github({"acme/widgets": 30})
    path, workdir = config(tmp_path, fake)
    run_json(path)
    fake.delete_issue("acme/widgets", 7)
    r = cli("reconcile", str(path), "--progress", "none")
    assert r.code == 0, r.err[-2000:]
    docs = index_docs(workdir / "index.sqlite")
    assert "github:acme/widgets#7" not in docs and len(docs) == 29


def test_a_rerun_sends_the_etags_and_an_unchanged_repository_costs_no_budget(
        github: Callable[..., GitHubFake], tmp_path: Path) -> None:
    """Each phase's first page goes with the ETag it had last time (kept in the ledger's watermark): an
    unchanged repository answers 304s, which the primary limit does not count, and nothing is written."""
    fake = github({"acme/widgets": 40, "acme/gears": 25})
    path, workdir = config(tmp_path, fake, ("acme/widgets", "acme/gears"))
    run_json(path)
    run_json(path)  # the first incremental run learns the ETags of the lists with `since`
    fake.reset_log()
    used = fake._used
    third = run_json(path)
    assert third["verify"]["ok"] is True and third["ingest"]["documents_written"] == 0
    lists = [r for r in fake.requests if r.path.endswith("/issues") or r.path.endswith("/comments")]
    assert len(lists) == 6 and all(r.status == 304 and "if-none-match" in r.headers for r in lists), \
        [(r.path, r.status) for r in lists]
    assert not [r for r in fake.requests if r.path.endswith("/reviews")]
    assert fake._used - used == sum(1 for r in fake.requests if r.status == 200)  # the repository objects only
    # A change: the issues list answers 200 again, and the change is in the index.
    fake.edit_issue("acme/gears", 3, title="Renamed after the ETags")
    fake.reset_log()
    fourth = run_json(path)
    assert fourth["ingest"]["documents_written"] == 1
    gears = [r for r in fake.requests if r.path == "/repos/acme/gears/issues"]
    assert [r.status for r in gears] == [200]
    widgets = [r for r in fake.requests if r.path.startswith("/repos/acme/widgets/") and r.path != "/repos/acme/widgets"]
    assert widgets and all(r.status == 304 for r in widgets)
    assert index_docs(workdir / "index.sqlite")["github:acme/gears#3"][0]["title"].endswith("Renamed after the ETags")


def test_a_primary_limit_of_100_and_a_secondary_burst_are_paced_with_the_waits_at_info(
        github: Callable[..., GitHubFake], tmp_path: Path) -> None:
    """The issue's case: 100 requests a window (4 s here) and a secondary-limit burst. No 403 is left
    unhandled (the run succeeds, no request went before GitHub allowed it), each window's budget is spread
    over the window instead of spent at once, and the waits are at INFO with their reason."""
    fake = github({"acme/widgets": 150, "acme/gears": 90}, limit=100, window=4.0)
    fake.secondary_burst(3, retry_after=1)
    path, _ = config(tmp_path, fake, ("acme/widgets", "acme/gears"), extra="reserve = 5\n")
    r = cli("run", str(path), "--progress", "none", "--json", "-v")
    assert r.code == 0, r.err[-3000:]
    assert json.loads(r.out)["verify"]["ok"] is True
    assert fake.secondary_answered == 3 and fake.primary_answered == 0
    info = [line for line in r.err.splitlines() if "INFO" in line]
    assert any("secondary rate limit" in line for line in info), r.err[-3000:]
    assert any("primary rate limit" in line and "one request every" in line for line in info), \
        "\n".join(line for line in r.err.splitlines() if "GitHub" in line)[-3000:]
    # Windows of the fake's budget, from the remaining count each request left.
    counted = [x for x in fake.requests if x.remaining >= 0]
    windows: list[list[float]] = [[]]
    for prev, cur in zip([None, *counted], counted):
        if prev is not None and cur.remaining > prev.remaining:
            windows.append([])
        windows[-1].append(cur.t)
    assert len(windows) >= 3, [len(w) for w in windows]
    # The first window began with the fake, before the run; the last is cut short by the run's end. Each
    # window between: its first half of the budget at once, its second half spread until the reset.
    for w in windows[1:-1]:
        half = w[len(w) // 2:]
        assert len(w) <= 100 and half[-1] - half[0] >= 4.0 / 2, [(len(v), round(v[0] - windows[0][0], 2), round(v[-1] - v[0], 2), round(v[len(v) // 2] - v[0], 2)) for v in windows]


def test_plan_counts_each_repository_and_the_requests_and_time_at_the_rate_limit(
        github: Callable[..., GitHubFake], tmp_path: Path) -> None:
    """`backfill plan`: issues and pull requests, comments and review comments per repository from one-item
    list pages, the requests a full fetch needs (pages plus one reviews request per pull request) and the
    time at the rate limit as it stands; run and fetch do not spend these requests."""
    fake = github({"acme/widgets": 45, "acme/gears": 12}, max_comments=14, limit=200, window=3600)
    path, _ = config(tmp_path, fake, ("acme/widgets", "acme/gears"))
    r = cli("plan", str(path), "--progress", "none", "--json")
    assert r.code == 0, r.err[-3000:]
    plan = {p["name"]: p for p in json.loads(r.out)["partitions"]}
    for name, repo in fake.repos.items():
        issues = len(repo.issues)
        pulls = sum(1 for i in repo.issues.values() if i.pull)
        comments = sum(1 for i in repo.issues.values() for n in i.notes if n.kind == 0)
        review_comments = sum(1 for i in repo.issues.values() for n in i.notes if n.kind == 1)
        pages = sum(max(1, -(-n // 10)) for n in (issues, comments, review_comments))
        p = plan[name]
        assert (p["estimated_items"], p["estimated_pages"], p["estimated_requests"]) == (issues, pages, pages + pulls)
        assert p["estimated_seconds"] > 0
        opened = sum(1 for i in repo.issues.values() if i.state == "open")
        assert f"GitHub {name}: {issues - pulls} issues and {pulls} pull requests ({opened} open)" in r.err, r.err
    assert "about" in r.err and "requests in all" in r.err and "at the current rate limit" in r.err
    # The fetch then needs what the plan said (the two repository objects apart).
    fake.reset_log()
    run_json(path)
    reads = [x for x in fake.requests if x.path not in ("/repos/acme/widgets", "/repos/acme/gears")]
    assert len(reads) == sum(p["estimated_requests"] for p in plan.values())
    assert not [x for x in fake.requests if x.query.get("per_page") == ["1"]]


def test_an_incremental_run_logs_the_time_it_reads_from_not_the_etags(
        github: Callable[..., GitHubFake], tmp_path: Path) -> None:
    fake = github({"acme/widgets": 12})
    path, _ = config(tmp_path, fake)
    run_json(path)
    latest = max(i.updated for i in fake.repos["acme/widgets"].issues.values())
    r = cli("run", str(path), "--progress", "none")
    assert r.code == 0, r.err[-2000:]
    [line] = [x for x in r.err.splitlines() if "fetching what changed since" in x]
    assert line.split("fetching what changed since ", 1)[1].startswith(iso(latest)), line
    assert 'W/"' not in line and "\t" not in line, line
