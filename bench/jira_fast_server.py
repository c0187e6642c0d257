#!/usr/bin/env python3
"""A fast Jira Cloud-compatible search server on 127.0.0.1 for benchmarks: N synthetic issues served
as they are asked for, never held in memory, with no added latency.

It speaks the part of Jira Cloud's REST v3 that a backfill reads (the shapes of tests/python/jira_fake.py,
which follows the official spec), over HTTP/1.1 with keep-alive, one thread per connection, in a
process of its own (so its CPU time is measured apart from the client's):

    GET /rest/api/3/search/jql     jql (the project is read from `project = "KEY"`; the rest is taken as
                                   given), maxResults (at most 100 returned), nextPageToken (opaque);
                                   issues in key order with the standard fields, the comment field
                                   embedding at most 20 comments with the true total; {"issues",
                                   "nextPageToken"?, "isLast"}, the token absent on the last page
    GET /rest/api/3/issue/{key}/comment   startAt, maxResults (at most 100): {"startAt", "maxResults",
                                   "total", "comments"}
    GET /rest/api/3/field          the field catalogue of the Jira fake (system and custom fields)
    GET /rest/api/3/myself         the account
    GET /__bench/stats             requests, pages, comment pages and body bytes served

How N issues cost no memory: at start the server makes --templates K issues (default 1000) with the
Jira fake of the tests (realistic ADF with every node type, unicode, 0-60 comments, about one issue
in eight with more than 20) and keeps each one as JSON text with holes for its key, id and project.
Issue n of project P is template (n * 7919 + p * 104729) mod K with P-n, its own id and P filled in:
a page is a join of ~100 such texts. The templates are cached in bench/results/cache/ (a few seconds
to make). Every request needs the Basic credentials of the fake (me@example.com:jira-secret-token).

Run alone (prints `listening on http://127.0.0.1:PORT`, serves until SIGTERM):

    python bench/jira_fast_server.py --issues 50000 --projects 4 [--templates 1000] [--seed 7]

or from Python: `with JiraFastServer(issues=50_000, projects=4) as s: s.url, s.projects, s.stats()`.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import socket
import sys
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _fast_server import ChildServer, ServerStats, ThreadedServer  # noqa: E402
from _fast_server import read_request_head, response_head, serve_until_signalled  # noqa: E402

TESTS = HERE.parent / "tests" / "python"

EMAIL = "me@example.com"
TOKEN = "jira-secret-token"
AUTH = "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
PROJECT_KEYS = ["BENCH", "OPS", "SUBS", "DATA", "WEB", "INFRA", "PAY", "CORE", "APP", "SEC", "ML", "MOB"]
EMBEDDED_COMMENTS = 20
MAX_PAGE = 100
TOKEN_PREFIX = "Cg+/"
TEMPLATE_PROJECT = "ZQXT"
HOLE = re.compile(rb"@@(KEY|ID|PRJ)@@")


def project_keys(projects: int) -> list[str]:
    if not 1 <= projects <= len(PROJECT_KEYS):
        raise ValueError(f"projects must be 1 to {len(PROJECT_KEYS)}")
    return PROJECT_KEYS[:projects]


def split_issues(issues: int, projects: int) -> dict[str, int]:
    """N issues over P projects, as evenly as possible (the first ones get the remainder)."""
    keys = project_keys(projects)
    return {k: issues // projects + (1 if i < issues % projects else 0) for i, k in enumerate(keys)}


# --- templates ------------------------------------------------------------------------------------


def make_templates(k: int, seed: int) -> dict[str, Any]:
    """K issues from the Jira fake as JSON texts with holes: {"issues": [text], "comments": {i: [text]}}."""
    sys.path.insert(0, str(TESTS))
    from jira_fake import STANDARD_FIELDS, JiraFake

    out: dict[str, Any] = {"seed": seed, "templates": k, "issues": [], "comments": {}}
    with JiraFake({TEMPLATE_PROJECT: k}, seed=seed, validate=False, gzip_responses=False) as fake:
        jql = f'project = "{TEMPLATE_PROJECT}" AND updated >= "1970-01-01" ORDER BY key ASC'
        token = None
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            q = {"jql": jql, "maxResults": "100", "fields": ",".join(STANDARD_FIELDS)}
            if token:
                q["nextPageToken"] = token
            req = urllib.request.Request(f"{fake.url}/rest/api/3/search/jql?{urllib.parse.urlencode(q)}",
                                         headers={"Authorization": fake.auth_header})
            with opener.open(req, timeout=120) as r:
                page = json.loads(r.read())
            for issue in page["issues"]:
                key = issue["key"]
                issue["key"] = "@@KEY@@"
                issue["id"] = "@@ID@@"
                issue["self"] = issue["self"].rsplit("/", 1)[0] + "/@@ID@@"
                text = json.dumps(issue, separators=(",", ":"), ensure_ascii=False)
                out["issues"].append(text.replace(TEMPLATE_PROJECT, "@@PRJ@@"))
                total = issue["fields"]["comment"]["total"]
                if total > len(issue["fields"]["comment"]["comments"]):
                    comments = [json.dumps(c, separators=(",", ":"), ensure_ascii=False).replace(
                        TEMPLATE_PROJECT, "@@PRJ@@") for c in fake.comments(key)]
                    out["comments"][str(len(out["issues"]) - 1)] = comments
            token = page.get("nextPageToken")
            if page["isLast"]:
                break
    return out


def load_templates(k: int, seed: int, cache_dir: Path | None) -> dict[str, Any]:
    path = cache_dir / f"jira-templates-seed{seed}-k{k}.json" if cache_dir else None
    if path is not None and path.exists():
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            if data.get("templates") == k and data.get("seed") == seed:
                return data
        except (OSError, ValueError):
            pass
    data = make_templates(k, seed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
    return data


class _Template:
    """One issue's JSON with holes: literal pieces and what goes between them."""

    __slots__ = ("pieces", "holes", "comments", "total")

    def __init__(self, text: str, comments: list[str] | None) -> None:
        raw = text.encode("utf-8")
        parts = HOLE.split(raw)  # literal, hole name, literal, hole name, ..., literal
        self.pieces = parts[0::2]
        self.holes = [p.decode() for p in parts[1::2]]
        self.comments = [_Template(c, None) for c in comments] if comments else None
        self.total = len(comments) if comments else 0

    def render(self, out: list[bytes], key: bytes, id_: bytes, project: bytes) -> None:
        values = {"KEY": key, "ID": id_, "PRJ": project}
        pieces = self.pieces
        out.append(pieces[0])
        for i, h in enumerate(self.holes):
            out.append(values[h])
            out.append(pieces[i + 1])


# --- the server -----------------------------------------------------------------------------------


class _Stats(ServerStats):
    def __init__(self) -> None:
        super().__init__()
        self.search_pages = 0
        self.comment_pages = 0
        self.issues = 0
        self.errors = 0


class Server(ThreadedServer):
    def __init__(self, counts: dict[str, int], templates: dict[str, Any], port: int = 0) -> None:
        self.counts = counts
        self.project_index = {p: i for i, p in enumerate(counts)}
        self.templates = [_Template(t, templates["comments"].get(str(i))) for i, t in enumerate(templates["issues"])]
        self.k = len(self.templates)
        sys.path.insert(0, str(TESTS))
        from jira_fake import CATALOGUE

        self.catalogue = json.dumps(CATALOGUE, separators=(",", ":")).encode()
        self.stats: _Stats = _Stats()
        super().__init__(self.stats, port, backlog=256)

    def template_of(self, project: str, n: int) -> _Template:
        return self.templates[(n * 7919 + self.project_index[project] * 104729) % self.k]

    def issue_id(self, project: str, n: int) -> bytes:
        return str(10000 + self.project_index[project] * 10_000_000 + n).encode()

    def search(self, query: dict[str, list[str]]) -> tuple[int, bytes]:
        jql = (query.get("jql") or [""])[-1]
        m = re.search(r'project\s*=\s*"?([A-Za-z][A-Za-z0-9_]*)"?', jql)
        if not m:
            return 400, json.dumps({"errorMessages": ["Unbounded JQL queries are not allowed here. Please add a "
                                                      "search restriction to your query."], "errors": {}}).encode()
        project = m.group(1).upper()
        if project not in self.counts:
            return 400, json.dumps({"errorMessages": [f"The value '{m.group(1)}' does not exist for the field "
                                                      "'project'."], "errors": {}}).encode()
        try:
            max_results = int((query.get("maxResults") or ["50"])[-1])
        except ValueError:
            return 400, b'{"errorMessages":["The value of maxResults must be an integer."],"errors":{}}'
        start = 0
        token = (query.get("nextPageToken") or [""])[-1]
        if token:
            try:
                if not token.startswith(TOKEN_PREFIX):
                    raise ValueError(token)
                state = json.loads(base64.b64decode(token[len(TOKEN_PREFIX):]))
                if state["p"] != project or state["q"] != jql:
                    raise ValueError("another query")
                start = int(state["after"])
            except (ValueError, KeyError, TypeError):
                return 400, b'{"errorMessages":["The provided next page token is invalid or expired."],"errors":{}}'
        count = self.counts[project]
        end = min(count, start + max(0, min(max_results, MAX_PAGE)))
        out: list[bytes] = [b'{"issues":[']
        pkey = project.encode()
        for n in range(start + 1, end + 1):
            if n > start + 1:
                out.append(b",")
            self.template_of(project, n).render(out, b"%s-%d" % (pkey, n), self.issue_id(project, n), pkey)
        if end < count:
            nxt = TOKEN_PREFIX + base64.b64encode(json.dumps({"p": project, "q": jql, "after": end},
                                                             separators=(",", ":")).encode()).decode()
            out.append(b'],"nextPageToken":' + json.dumps(nxt).encode() + b',"isLast":false}')
        else:
            out.append(b'],"isLast":true}')
        body = b"".join(out)
        with self.stats.lock:
            self.stats.search_pages += 1
            self.stats.issues += end - start
        return 200, body

    def comments(self, key: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
        project, _, num = key.rpartition("-")
        if project not in self.counts or not num.isdigit() or not 1 <= int(num) <= self.counts[project]:
            return 404, b'{"errorMessages":["Issue does not exist or you do not have permission to see it."],"errors":{}}'
        n = int(num)
        t = self.template_of(project, n)
        try:
            start = max(0, int((query.get("startAt") or ["0"])[-1]))
            max_results = max(0, min(100, int((query.get("maxResults") or ["100"])[-1])))
        except ValueError:
            return 400, b'{"errorMessages":["startAt and maxResults must be integers."],"errors":{}}'
        order = (query.get("orderBy") or ["created"])[-1]
        if order not in ("created", "+created", "-created"):
            return 400, b'{"errorMessages":["orderBy must be created, +created or -created."],"errors":{}}'
        comments = t.comments or []
        if order == "-created":
            comments = comments[::-1]
        page = comments[start:start + max_results]
        out: list[bytes] = [b'{"startAt":%d,"maxResults":%d,"total":%d,"comments":[' % (start, max_results, t.total)]
        pkey = project.encode()
        for i, c in enumerate(page):
            if i:
                out.append(b",")
            c.render(out, key.encode(), self.issue_id(project, n), pkey)
        out.append(b"]}")
        with self.stats.lock:
            self.stats.comment_pages += 1
        return 200, b"".join(out)

    def answer(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, bytes]:
        path, _, qs = target.partition("?")
        if path == "/__bench/stats":
            return 200, json.dumps(self.stats.snapshot()).encode()
        if headers.get("authorization") != AUTH:
            return 401, b'{"errorMessages":["Client must be authenticated to access this resource."],"errors":{}}'
        if method != "GET":
            return 405, b'{"errorMessages":["Only GET is served here."],"errors":{}}'
        query = urllib.parse.parse_qs(qs, keep_blank_values=True)
        if path == "/rest/api/3/search/jql":
            return self.search(query)
        if path.startswith("/rest/api/3/issue/") and path.endswith("/comment"):
            return self.comments(urllib.parse.unquote(path[len("/rest/api/3/issue/"):-len("/comment")]), query)
        if path == "/rest/api/3/field":
            return 200, self.catalogue
        if path == "/rest/api/3/myself":
            return 200, json.dumps({"accountId": "5a1b2c3d4e5f600011223344", "emailAddress": EMAIL,
                                    "displayName": "Backfill Bot", "active": True}).encode()
        return 404, b'{"errorMessages":["null for uri"],"errors":{}}'

    def handle(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        reasons = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}

        def recv_more() -> bool:
            chunk = conn.recv(65536)
            buf.extend(chunk)
            return bool(chunk)

        try:
            while True:
                head = read_request_head(buf, recv_more)
                if head is None:
                    return
                n = int(head.headers.get("content-length", "0") or 0)
                while len(buf) < n:  # bodies are not used, but read
                    if not recv_more():
                        return
                del buf[:n]
                try:
                    status, body = self.answer(head.method, head.target, head.headers)
                except Exception as e:  # noqa: BLE001 - a bug here: loud, and a 500 to the client
                    print(f"jira_fast_server: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                    status, body = 500, b'{"errorMessages":["server error"],"errors":{}}'
                keep = head.keep_alive
                status_line = f"{status} {reasons.get(status, 'Error')}"
                conn.sendall(response_head(status_line, "application/json;charset=UTF-8", len(body), keep) + body)
                with self.stats.lock:
                    self.stats.requests += 1
                    self.stats.body_bytes += len(body)
                    self.stats.errors += status >= 400
                if not keep:
                    return
        except (ConnectionError, OSError):
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass


class JiraFastServer(ChildServer):
    """This file run as a child process; a context manager: url, pid, projects, auth, cpu_seconds(), stats()."""

    name = "jira_fast_server"

    def __init__(self, issues: int, projects: int = 4, templates: int = 1000, seed: int = 7,
                 cache_dir: Path | None = HERE / "results" / "cache") -> None:
        super().__init__()
        self.issues, self.n_projects, self.templates, self.seed = issues, projects, templates, seed
        self.cache_dir = cache_dir
        self.counts = split_issues(issues, projects)
        self.email, self.token = EMAIL, TOKEN

    @property
    def projects(self) -> list[str]:
        return list(self.counts)

    def command(self) -> list[str]:
        cmd = [str(Path(__file__).resolve()), "--issues", str(self.issues), "--projects", str(self.n_projects),
               "--templates", str(self.templates), "--seed", str(self.seed)]
        return cmd + (["--no-cache"] if self.cache_dir is None else ["--cache-dir", str(self.cache_dir)])

    def stats(self) -> dict[str, Any]:
        return self.get_json("/__bench/stats")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--issues", type=int, default=50_000, help="issues in all, spread over the projects")
    ap.add_argument("--projects", type=int, default=4, help=f"how many projects (1-{len(PROJECT_KEYS)})")
    ap.add_argument("--templates", type=int, default=1000, help="distinct issues made with the Jira fake")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cache-dir", type=Path, default=HERE / "results" / "cache")
    ap.add_argument("--no-cache", action="store_true")
    args = ap.parse_args(argv)
    templates = load_templates(args.templates, args.seed, None if args.no_cache else args.cache_dir)
    return serve_until_signalled(Server(split_issues(args.issues, args.projects), templates, args.port))


if __name__ == "__main__":
    sys.exit(main())
