"""A local GitHub REST v3 server for tests: repositories of generated issues and pull requests with their
comments, review comments and reviews, served as api.github.com serves them (shapes of the recorded responses
in ../shared/fixtures/real/github, facts of ../shared/API_FACTS.md §4).

  - lists: /repos/{o}/{r}/issues (state, sort, direction, since, per_page ≤ 100, page; pull requests included,
    marked by ``pull_request``), /repos/{o}/{r}/pulls (state, sort, direction), one issue's comments and one
    pull request's review comments (/issues/{n}/comments, /pulls/{n}/comments), /repos/{o}/{r}/issues/comments and /pulls/comments (sort, direction, since),
    /pulls/{n}/reviews, /orgs/{org}/repos and /users/{user}/repos; paged by the ``Link`` header (next, last,
    prev, first), ``since`` inclusive;
  - /repos/{o}/{r}, /pulls/{n}, /rate_limit (free against the budget);
  - 401 ``Bad credentials`` for a wrong token, 404 for a repository that does not exist;
  - the primary limit: ``limit`` requests a window of ``window`` seconds, a real budget that refills at the
    window's reset, sent on every response (x-ratelimit-limit/remaining/used/reset/resource); a request
    over it gets 403 with remaining 0;
  - secondary limits: ``secondary_burst(n, retry_after)`` answers the next n requests 403 with Retry-After
    and GitHub's message;
  - broken paginators: ``stuck_pages = "page"``: every list ignores ``page`` (page 1 again, its Link next
    page 2); ``stuck_pages = "link"``: pages are right, but every Link next names page 2;
  - ETags on every 200, and 304 (not counted against the budget) for a matching If-None-Match.

Every request is checked against the API's rules (the headers GitHub asks for, per_page ≤ 100, known query
parameters of the path in ../shared/specs/github/api.github.com.subset.json when present, no request before
a Retry-After or a reset has passed); breaking one is a violation the tests assert away.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from fake_base import FakeHandler, FakeServer, ServedFake, find_spec

TOKEN = "ghp_fakeToken0123456789abcdefghijklmnopqr"
SECONDARY = ("You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you "
             "reach out to GitHub Support for help, please include the request ID ABCD:1234.")
PRIMARY = "API rate limit exceeded for user ID 1234567."
DOCS = "https://docs.github.com/rest"
ROUTES = [
    (re.compile(r"^/repos/([^/]+)/([^/]+)$"), "repo", "/repos/{owner}/{repo}"),
    (re.compile(r"^/repos/([^/]+)/([^/]+)/issues$"), "issues", "/repos/{owner}/{repo}/issues"),
    (re.compile(r"^/repos/([^/]+)/([^/]+)/issues/comments$"), "issue_comments", "/repos/{owner}/{repo}/issues/comments"),
    (re.compile(r"^/repos/([^/]+)/([^/]+)/pulls/comments$"), "review_comments", "/repos/{owner}/{repo}/pulls/comments"),
    (re.compile(r"^/repos/([^/]+)/([^/]+)/issues/(\d+)/comments$"), "comments_of",
     "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    (re.compile(r"^/repos/([^/]+)/([^/]+)/pulls/(\d+)/comments$"), "review_comments_of",
     "/repos/{owner}/{repo}/pulls/{pull_number}/comments"),
    (re.compile(r"^/repos/([^/]+)/([^/]+)/pulls$"), "pulls", "/repos/{owner}/{repo}/pulls"),
    (re.compile(r"^/repos/([^/]+)/([^/]+)/pulls/(\d+)$"), "pull", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    (re.compile(r"^/repos/([^/]+)/([^/]+)/pulls/(\d+)/reviews$"), "reviews",
     "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    (re.compile(r"^/orgs/([^/]+)/repos$"), "org_repos", "/orgs/{org}/repos"),
    (re.compile(r"^/users/([^/]+)/repos$"), "user_repos", None),
    (re.compile(r"^/rate_limit$"), "rate_limit", "/rate_limit"),
]


def iso(t: float) -> str:
    return datetime.fromtimestamp(int(t), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(s: str) -> float:
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


@dataclass
class Note:
    """An issue comment (kind 0), a review comment (1) or a review (2)."""
    id: int
    number: int
    kind: int
    author: str
    body: str
    created: float
    updated: float
    path: str = ""
    line: int = 0
    state: str = "COMMENTED"


@dataclass
class Issue:
    number: int
    id: int
    title: str
    body: str
    author: str
    state: str
    labels: list[str]
    assignees: list[str]
    created: float
    updated: float
    pull: bool = False
    merged: bool = False
    milestone: str | None = None
    notes: list[Note] = field(default_factory=list)


@dataclass
class Repo:
    owner: str
    name: str
    id: int
    archived: bool = False
    issues: dict[int, Issue] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Logged:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    t: float
    status: int = 0
    remaining: int = -1  # of the primary limit, after this request


class _Handler(FakeHandler):
    server_version = "github-fake"

    def on_long_line(self) -> None:
        self.server.fake.violations.append("a request line over 64 KiB")


class _Server(FakeServer):
    handler = _Handler


BODIES = [
    "Steps to reproduce:\n\n```python\nclient.fetch(page=2)  # [not a link](http://x)\n```\n\ncc @octocat",
    "<!-- Please fill in the template below -->\nThe ledger lock is held too long. See [the docs](https://docs.example.com/lock).",
    "![screenshot](https://user-images.example.com/1.png)\n\nIt fails with `KeyError: 'id'`.",
    "Works for me on `main`. Closing?",
]


class GitHubFake(ServedFake):
    """In-memory repositories behind a local HTTP/1.1 server speaking GitHub's REST v3."""

    thread_name = "github-fake"

    def __init__(self, repos: dict[str, int] | None = None, *, token: str = TOKEN, seed: int = 7,
                 max_comments: int = 8, limit: int = 5000, window: float = 3600.0, validate: bool = True,
                 orgs: dict[str, list[str]] | None = None,
                 comment_counts: Callable[[random.Random], int] | None = None) -> None:
        """``comment_counts(rng)``: how many comments, review comments and reviews an issue gets (by default
        0 to ``max_comments``, evenly)."""
        self.token = token
        self.rng = random.Random(seed)
        self.max_comments = max_comments
        self.comment_counts = comment_counts or (lambda rng: rng.randint(0, max_comments))
        self._lists: dict[tuple[Any, ...], list[Any]] = {}  # sorted, filtered lists until the next change
        self.limit = limit
        self.window = window
        self._lock = threading.RLock()
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.repos: dict[str, Repo] = {}
        self.orgs: dict[str, list[str]] = dict(orgs or {})
        self.requests: list[Logged] = []
        self.violations: list[str] = []
        self.errors: list[str] = []
        self._next_id = 1_000_000
        self._window_start = time.time()
        self._used = 0
        self._blocked_until = 0.0             # after a 403 for the primary limit or a Retry-After
        self._secondary: tuple[int, float] = (0, 0.0)
        self.secondary_answered = 0
        self.primary_answered = 0
        self.not_modified = 0
        self.mangle: Callable[[str, bytes], bytes] | None = None  # (path, body) -> the body sent instead
        self.stuck_pages = ""  # "page" or "link": a broken paginator (see the module's docstring)
        self.forbidden: set[str] = set()  # repositories the token may not read: 403, as a fine-grained token gets
        self.latency = 0.0  # seconds each answer takes, as a distant server's would
        self.active = 0  # requests being answered now, and the most at once
        self.max_active = 0
        self._spec_params = self._load_spec() if validate else None
        self._clock = parse_iso("2024-01-01T00:00:00Z")
        for full, count in (repos or {"acme/widgets": 40}).items():
            self.add_repo(full, count)

    # -- data ---------------------------------------------------------------------------------------

    def _load_spec(self) -> dict[str, set[str]] | None:
        try:
            spec = json.loads(find_spec("github", "api.github.com.subset.json", "GitHub REST description").read_text())
        except FileNotFoundError:
            return None
        out: dict[str, set[str]] = {}
        for path, item in spec["paths"].items():
            op = item.get("get") or {}
            names = set()
            for p in op.get("parameters", []):
                if "$ref" in p:
                    p = spec["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
                if p.get("in") == "query":
                    names.add(p["name"])
            out[path] = names
        return out

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _tick(self) -> float:
        self._clock += self.rng.randint(60, 7200)
        return self._clock

    def add_repo(self, full: str, count: int, *, archived: bool = False) -> Repo:
        owner, name = full.split("/")
        repo = Repo(owner, name, self._new_id(), archived)
        users = ["octocat", "hubot", "monalisa", "mona-lisa", "defunkt"]
        for n in range(1, count + 1):
            created = self._tick()
            pull = n % 3 == 0
            issue = Issue(n, self._new_id(), f"{'Fix' if pull else 'Bug'} {n} in {name}", self.rng.choice(BODIES),
                          self.rng.choice(users), "closed" if n % 4 == 0 else "open",
                          self.rng.sample(["bug", "p1", "docs", "infra"], self.rng.randint(0, 2)),
                          self.rng.sample(users, self.rng.randint(0, 1)), created, created, pull=pull,
                          merged=pull and n % 4 == 0, milestone="v1.0" if n % 5 == 0 else None)
            t = created
            for _ in range(self.comment_counts(self.rng)):
                t += self.rng.randint(60, 36000)
                kind = self.rng.choice((0, 0, 1, 2)) if pull else 0
                state = self.rng.choice(("APPROVED", "CHANGES_REQUESTED", "COMMENTED")) if kind == 2 else "COMMENTED"
                issue.notes.append(Note(self._new_id(), n, kind, self.rng.choice(users),
                                        f"Comment {len(issue.notes) + 1} on #{n}: {self.rng.choice(BODIES)}", t, t,
                                        path=f"src/mod{n % 7}.c" if kind == 1 else "", line=n % 90 + 1, state=state))
            issue.updated = max([t, created])
            repo.issues[n] = issue
        self._clock = max(self._clock, max((i.updated for i in repo.issues.values()), default=self._clock))
        with self._lock:
            self.repos[full] = repo
        return repo

    def now(self) -> float:
        """Edits happen at the real clock (after every generated time), so they are newer than any watermark."""
        return max(time.time(), self._clock + 1)

    def edit_issue(self, full: str, number: int, **changes: Any) -> None:
        with self._lock:
            self._lists.clear()
            issue = self.repos[full].issues[number]
            for k, v in changes.items():
                setattr(issue, k, v)
            issue.updated = self.now()

    def add_comment(self, full: str, number: int, body: str, author: str = "octocat") -> Note:
        with self._lock:
            self._lists.clear()
            issue = self.repos[full].issues[number]
            t = self.now()
            note = Note(self._new_id(), number, 0, author, body, t, t)
            issue.notes.append(note)
            issue.updated = t
            return note

    def edit_comment(self, full: str, comment_id: int, body: str) -> None:
        """Edits a comment's body; as on GitHub, the issue's own updated_at does not move."""
        with self._lock:
            self._lists.clear()
            for issue in self.repos[full].issues.values():
                for note in issue.notes:
                    if note.id == comment_id:
                        note.body, note.updated = body, self.now()
                        return
        raise KeyError(comment_id)

    def delete_issue(self, full: str, number: int) -> None:
        with self._lock:
            self._lists.clear()
            del self.repos[full].issues[number]

    def secondary_burst(self, n: int, retry_after: float = 1.0) -> None:
        """The next `n` requests get a secondary rate limit: 403 with Retry-After and GitHub's message."""
        with self._lock:
            self._secondary = (n, retry_after)

    def documents(self, full: str) -> list[str]:
        return [f"github:{full}#{n}" for n in sorted(self.repos[full].issues)]

    def take_violations(self) -> list[str]:
        with self._lock:
            out, self.violations = self.violations, []
            return out

    def reset_log(self) -> None:
        with self._lock:
            self.requests = []

    # -- JSON shapes --------------------------------------------------------------------------------

    def _user(self, login: str) -> dict[str, Any]:
        return {"login": login, "id": int(hashlib.md5(login.encode()).hexdigest()[:6], 16), "type": "User",
                "url": f"{self.url}/users/{login}", "html_url": f"https://github.com/{login}"}

    def _issue_json(self, repo: Repo, i: Issue) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        out: dict[str, Any] = {
            "id": i.id, "node_id": f"I_{i.id}", "number": i.number, "title": i.title, "body": i.body,
            "user": self._user(i.author), "labels": [{"id": hash(x) & 0xFFFF, "name": x, "color": "ededed"} for x in i.labels],
            "state": i.state, "state_reason": "completed" if i.state == "closed" else None, "locked": False,
            "assignee": self._user(i.assignees[0]) if i.assignees else None,
            "assignees": [self._user(a) for a in i.assignees],
            "milestone": {"title": i.milestone, "number": 1, "state": "open"} if i.milestone else None,
            "comments": sum(1 for n in i.notes if n.kind == 0), "created_at": iso(i.created),
            "updated_at": iso(i.updated), "closed_at": iso(i.updated) if i.state == "closed" else None,
            "author_association": "MEMBER", "url": f"{api}/issues/{i.number}",
            "repository_url": api, "html_url": f"https://github.com/{repo.full_name}/issues/{i.number}",
            "comments_url": f"{api}/issues/{i.number}/comments",
        }
        if i.pull:
            out["draft"] = False
            out["html_url"] = f"https://github.com/{repo.full_name}/pull/{i.number}"
            out["pull_request"] = {"url": f"{api}/pulls/{i.number}", "html_url": out["html_url"],
                                   "diff_url": out["html_url"] + ".diff", "patch_url": out["html_url"] + ".patch",
                                   "merged_at": iso(i.updated) if i.merged else None}
        return out

    def _note_json(self, repo: Repo, n: Note) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}"
        base = {"id": n.id, "node_id": f"C_{n.id}", "user": self._user(n.author), "body": n.body,
                "author_association": "MEMBER"}
        if n.kind == 2:
            return {**base, "state": n.state, "submitted_at": iso(n.created), "commit_id": "a" * 40,
                    "html_url": f"https://github.com/{repo.full_name}/pull/{n.number}#pullrequestreview-{n.id}",
                    "pull_request_url": f"{api}/pulls/{n.number}"}
        base.update({"created_at": iso(n.created), "updated_at": iso(n.updated)})
        if n.kind == 1:
            return {**base, "path": n.path, "line": n.line, "original_line": n.line, "side": "RIGHT",
                    "diff_hunk": "@@ -1,3 +1,4 @@", "commit_id": "b" * 40, "pull_request_review_id": None,
                    "pull_request_url": f"{api}/pulls/{n.number}", "url": f"{api}/pulls/comments/{n.id}",
                    "html_url": f"https://github.com/{repo.full_name}/pull/{n.number}#discussion_r{n.id}"}
        return {**base, "issue_url": f"{api}/issues/{n.number}", "url": f"{api}/issues/comments/{n.id}",
                "html_url": f"https://github.com/{repo.full_name}/issues/{n.number}#issuecomment-{n.id}"}

    def _repo_json(self, repo: Repo) -> dict[str, Any]:
        open_count = sum(1 for i in repo.issues.values() if i.state == "open")
        return {"id": repo.id, "name": repo.name, "full_name": repo.full_name, "owner": self._user(repo.owner),
                "private": False, "archived": repo.archived, "has_issues": True, "open_issues_count": open_count,
                "html_url": f"https://github.com/{repo.full_name}", "url": f"{self.url}/repos/{repo.full_name}"}

    # -- serving ------------------------------------------------------------------------------------

    def _new_server(self) -> FakeServer:
        return _Server(self)

    def _budget(self, now: float) -> tuple[int, int, float]:
        """(remaining, used, reset) after refilling the window when its reset has passed."""
        if now >= self._window_start + self.window:
            self._window_start, self._used = now, 0
        return self.limit - self._used, self._used, self._window_start + self.window

    def _dispatch(self, h: _Handler) -> None:
        split = urlsplit(h.path)
        query = parse_qs(split.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in h.headers.items()}
        log = Logged(h.command, split.path, query, headers, time.time())
        with self._lock:
            self.requests.append(log)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.latency:
                time.sleep(self.latency)
            self._answer(h, split.path, query, headers, log)
        finally:
            with self._lock:
                self.active -= 1

    def _answer(self, h: _Handler, path: str, query: dict[str, list[str]], headers: dict[str, str],
                log: Logged) -> None:
        extra: dict[str, str] = {}
        try:
            status, body = self._serve(path, query, headers, log, extra)
        except Exception as e:  # noqa: BLE001 - the fake's own bug: loud, and a 500 to the client
            import traceback
            self.errors.append(f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
            status, body = 500, {"message": "fake error"}
        payload = b"" if status == 304 else json.dumps(body, separators=(",", ":")).encode()
        if status == 200 and self.mangle is not None:
            payload = self.mangle(path, payload)
        if status == 200:
            etag = 'W/"' + hashlib.sha1(payload).hexdigest() + '"'
            if headers.get("if-none-match") == etag:
                status, payload = 304, b""
                with self._lock:
                    self.not_modified += 1
                    self._used -= 1  # a 304 does not count against the primary limit
            extra["ETag"] = etag
        log.status = status
        h.send_response(status)
        out = {"Content-Type": "application/json; charset=utf-8", "X-GitHub-Request-Id": f"FAKE:{len(self.requests)}",
               "X-GitHub-Api-Version-Selected": "2022-11-28", "Content-Length": str(len(payload)), **extra}
        for k, v in out.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(payload)

    def _serve(self, path: str, query: dict[str, list[str]], headers: dict[str, str], log: Logged,
               extra: dict[str, str]) -> tuple[int, Any]:
        auth = headers.get("authorization", "")
        if auth not in (f"Bearer {self.token}", f"token {self.token}"):
            return 401, {"message": "Bad credentials", "documentation_url": DOCS}
        if headers.get("accept") != "application/vnd.github+json":
            self.violations.append(f"{path}: Accept is {headers.get('accept')!r}, not application/vnd.github+json")
        if not headers.get("x-github-api-version"):
            self.violations.append(f"{path}: no X-GitHub-Api-Version")
        route = next(((kind, m.groups(), tpl) for rx, kind, tpl in ROUTES if (m := rx.match(path))), None)
        if route is None:
            return 404, {"message": "Not Found", "documentation_url": DOCS}
        kind, groups, template = route
        if self._spec_params is not None and template in self._spec_params:
            unknown = set(query) - self._spec_params[template]
            if unknown:
                self.violations.append(f"{path}: query parameters the API does not have: {sorted(unknown)}")
        per_page = int(query.get("per_page", ["30"])[0])
        if per_page > 100:
            self.violations.append(f"{path}: per_page={per_page} (max 100)")
        now = time.time()
        with self._lock:
            if now < self._blocked_until - 0.05:
                self.violations.append(f"{path}: sent {self._blocked_until - now:.2f} s before the rate limit allowed")
            if kind == "rate_limit":
                remaining, used, reset = self._budget(now)
                core = {"limit": self.limit, "remaining": remaining, "used": used, "reset": int(reset)}
                return 200, {"resources": {"core": core}, "rate": core}
            n_secondary, retry_after = self._secondary
            if n_secondary > 0:
                self._secondary = (n_secondary - 1, retry_after)
                self._blocked_until = now + retry_after
                self.secondary_answered += 1
                extra["Retry-After"] = str(int(retry_after) if retry_after == int(retry_after) else retry_after)
                return 403, {"message": SECONDARY, "documentation_url": DOCS}
            remaining, used, reset = self._budget(now)
            extra.update({"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Resource": "core",
                          "X-RateLimit-Reset": str(int(reset) + 1)})
            if remaining <= 0:
                self.primary_answered += 1
                self._blocked_until = reset
                extra.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Used": str(used)})
                return 403, {"message": PRIMARY, "documentation_url": DOCS}
            self._used += 1
            log.remaining = remaining - 1
            extra.update({"X-RateLimit-Remaining": str(remaining - 1), "X-RateLimit-Used": str(used + 1)})
            if any(path == f"/repos/{r}" or path.startswith(f"/repos/{r}/") for r in self.forbidden):
                return 403, {"message": "Resource not accessible by personal access token", "documentation_url": DOCS}
            return self._route(kind, groups, query, path, extra)

    def _route(self, kind: str, groups: tuple[str, ...], query: dict[str, list[str]], path: str,
               extra: dict[str, str]) -> tuple[int, Any]:
        q = {k: v[-1] for k, v in query.items()}
        if kind in ("org_repos", "user_repos"):
            names = self.orgs.get(groups[0])
            if names is None:
                return 404, {"message": "Not Found", "documentation_url": DOCS}
            if kind == "org_repos" and groups[0].startswith("user-"):
                return 404, {"message": "Not Found", "documentation_url": DOCS}
            return self._page([self.repos[n] for n in names if n in self.repos], q, path, extra, self._repo_json)
        repo = self.repos.get(f"{groups[0]}/{groups[1]}")
        if repo is None:
            return 404, {"message": "Not Found", "documentation_url": DOCS}
        if kind == "repo":
            return 200, self._repo_json(repo)
        since = parse_iso(q["since"]) if "since" in q else None
        desc = q.get("direction", "desc") == "desc"
        if kind in ("issues", "pulls"):
            state = q.get("state", "open")
            items = [i for i in repo.issues.values()
                     if (state == "all" or i.state == state) and (kind == "issues" or i.pull)]
            if since is not None:
                items = [i for i in items if i.updated >= since]
            key = {"updated": lambda i: (i.updated, i.number), "created": lambda i: (i.created, i.number)}
            items.sort(key=key.get(q.get("sort", "created"), key["created"]), reverse=desc)
            if kind == "pulls":
                return self._page(items, q, path, extra, lambda i: {
                    **self._issue_json(repo, i), "merged_at": iso(i.updated) if i.merged else None})
            return self._page(items, q, path, extra, lambda i: self._issue_json(repo, i))
        if kind in ("issue_comments", "review_comments"):
            field_ = q.get("sort", "created")
            key = (repo.full_name, kind, since, field_, desc)
            with self._lock:
                notes = self._lists.get(key)
            if notes is None:
                want = 0 if kind == "issue_comments" else 1
                notes = [n for i in repo.issues.values() for n in i.notes if n.kind == want]
                if since is not None:
                    notes = [n for n in notes if n.updated >= since]
                notes.sort(key=lambda n: ((n.updated if field_ == "updated" else n.created), n.id), reverse=desc)
                with self._lock:
                    self._lists[key] = notes
            return self._page(notes, q, path, extra, lambda n: self._note_json(repo, n))
        issue = repo.issues.get(int(groups[2]))
        if kind == "comments_of" and issue is not None:  # one issue's comments, oldest first
            notes = [n for n in issue.notes if n.kind == 0 and (since is None or n.updated >= since)]
            return self._page(notes, q, path, extra, lambda n: self._note_json(repo, n))
        if issue is None or not issue.pull:
            return 404, {"message": "Not Found", "documentation_url": DOCS}
        if kind == "pull":
            return 200, {**self._issue_json(repo, issue), "merged": issue.merged,
                         "merged_at": iso(issue.updated) if issue.merged else None}
        if kind == "review_comments_of":
            return self._page([n for n in issue.notes if n.kind == 1], q, path, extra,
                              lambda n: self._note_json(repo, n))
        reviews = [n for n in issue.notes if n.kind == 2]
        return self._page(reviews, q, path, extra, lambda n: self._note_json(repo, n))

    def _page(self, items: list[Any], q: dict[str, str], path: str, extra: dict[str, str],
              shape: Callable[[Any], Any]) -> tuple[int, Any]:
        per_page = min(int(q.get("per_page", "30")), 100)
        page = 1 if self.stuck_pages == "page" else int(q.get("page", "1"))
        last = max(1, -(-len(items) // per_page))
        links = []

        def url(p: int) -> str:
            return f"{self.url}{path}?{urlencode({**q, 'page': str(p)})}"
        if page < last:
            following = 2 if self.stuck_pages == "link" else page + 1
            links += [f'<{url(following)}>; rel="next"', f'<{url(last)}>; rel="last"']
        if page > 1:
            links += [f'<{url(page - 1)}>; rel="prev"', f'<{url(1)}>; rel="first"']
        if links:
            extra["Link"] = ", ".join(links)
        return 200, [shape(x) for x in items[(page - 1) * per_page: page * per_page]]
