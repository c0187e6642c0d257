"""Recorded api.github.com responses (../shared/fixtures/real/github, read its SOURCES.md) served from a loopback
server and backfilled through the CLI: every recorded issue and pull request becomes a document with its
kind, state, labels and author, and every recorded repository-wide comment lands in its issue's document.
Skipped when ../shared is absent; the recordings are read from there, never copied here."""

from __future__ import annotations

import base64
import json
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import run_cli
from test_jira import doc_text, index_docs

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = [ROOT.parent / "shared" / "fixtures" / "real" / "github", ROOT / "shared" / "fixtures" / "real" / "github",
              Path("/work/shared/fixtures/real/github")]
FIXTURES = next((c for c in CANDIDATES if c.is_dir()), None)
pytestmark = pytest.mark.skipif(FIXTURES is None, reason="../shared/fixtures/real/github is absent")
TOKEN = "ghp_conformance0123456789abcdefghijklmnop"


def cassette_body(rel: str) -> Any:
    assert FIXTURES is not None
    data = json.loads((FIXTURES / rel).read_text())
    body = data["http_interactions"][0]["response"]["body"]
    raw = base64.b64decode(body["base64_string"]) if "base64_string" in body else body["string"].encode()
    return json.loads(raw)


def serve(routes: dict[str, Any]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = urlsplit(self.path).path
            body, status = (routes[path], 200) if path in routes else ([], 200) if path.endswith("/reviews") else (
                {"message": "Not Found"}, 404)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-RateLimit-Limit", "5000")
            self.send_header("X-RateLimit-Remaining", "4990")
            self.send_header("X-RateLimit-Reset", "4102444800")
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def backfill(tmp_path: Path, url: str, repo: str) -> Path:
    workdir = tmp_path / "work"
    config = tmp_path / "c.toml"
    config.write_text(textwrap.dedent(f"""\
        [run]
        name = "conf"
        workdir = "{workdir}"

        [source]
        type = "github"
        base_url = "{url}"
        token = "${{GITHUB_TOKEN}}"
        repos = ["{repo}"]

        [embedder]
        type = "hash"
        dimension = 32
        """))
    r = run_cli("run", str(config), "--progress", "none", env={"GITHUB_TOKEN": TOKEN})
    assert r.code == 0, r.err[-3000:]
    return workdir


def test_recorded_issue_list_becomes_documents(tmp_path: Path) -> None:
    issues = cassette_body("octokit-rb/Octokit_Client_Issues/_list_issues/returns_issues_for_a_repository.json")
    # The 2016 recording's pull_request has no merged_at: the source reads /pulls/{n} for those alone.
    pulls_api = {f"/repos/sferik/rails_admin/pulls/{i['number']}": {"number": i["number"], "merged": i["number"] % 2 == 0,
                                                                    "merged_at": None} for i in issues if "pull_request" in i}
    server, url = serve({"/repos/sferik/rails_admin": {"full_name": "sferik/rails_admin"},
                         "/repos/sferik/rails_admin/issues": issues, "/repos/sferik/rails_admin/issues/comments": [],
                         "/repos/sferik/rails_admin/pulls/comments": [], **pulls_api})
    try:
        docs = index_docs(backfill(tmp_path, url, "sferik/rails_admin") / "index.sqlite")
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(docs) == sorted(f"github:sferik/rails_admin#{i['number']}" for i in issues)
    pulls = [i for i in issues if "pull_request" in i]
    assert len(pulls) == 6
    for i in issues:
        m = docs[f"github:sferik/rails_admin#{i['number']}"][0]
        assert m["kind"] == ("pull" if "pull_request" in i else "issue")
        assert m["state"] == i["state"] and m["author"] == i["user"]["login"] and m["url"] == i["html_url"]
        assert sorted(m["labels"]) == sorted(x["name"] for x in i["labels"])
        assert m["title"] == f"sferik/rails_admin#{i['number']}: {i['title']}"
        if "pull_request" in i:
            assert m["merged"] is (i["number"] % 2 == 0)


def test_recorded_repository_wide_comments_land_in_their_issues(tmp_path: Path) -> None:
    comments = cassette_body("octokit-rb/Octokit_Client_Issues/_repository_issues_comments/"
                             "returns_comments_for_all_issues_in_a_repository.json")
    numbers = sorted({int(c["issue_url"].rsplit("/", 1)[1]) for c in comments})
    issues = [{"number": n, "title": f"Issue {n}", "state": "closed", "user": {"login": "x"}, "labels": [],
               "body": "", "html_url": f"https://github.com/octokit/octokit.rb/issues/{n}",
               "created_at": "2012-01-01T00:00:00Z", "updated_at": "2016-01-01T00:00:00Z"} for n in numbers]
    server, url = serve({"/repos/octokit/octokit.rb": {"full_name": "octokit/octokit.rb"},
                         "/repos/octokit/octokit.rb/issues": issues,
                         "/repos/octokit/octokit.rb/issues/comments": comments,
                         "/repos/octokit/octokit.rb/pulls/comments": []})
    try:
        docs = index_docs(backfill(tmp_path, url, "octokit/octokit.rb") / "index.sqlite")
    finally:
        server.shutdown()
        server.server_close()
    for c in comments:
        n = int(c["issue_url"].rsplit("/", 1)[1])
        text = doc_text(docs[f"github:octokit/octokit.rb#{n}"])
        assert f"{c['user']['login']} ({c['created_at']})" in text, (n, c["id"])
    counts = {n: sum(1 for c in comments if c["issue_url"].endswith(f"/{n}")) for n in numbers}
    for n, k in counts.items():
        assert docs[f"github:octokit/octokit.rb#{n}"][0]["comment_count"] == k
