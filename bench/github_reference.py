#!/usr/bin/env python3
"""The reference for bench/github_bench.py: a careful Python script that backfills GitHub issues and pull
requests with `requests`, the way such scripts (and PyGithub's issue.get_comments()) read a repository:

  - one `requests.Session` (keep-alive), `per_page=100`, pages followed through `resp.links["next"]`;
  - the issues list (`state=all`), pull requests included;
  - per issue, its comments (`/issues/{n}/comments`), skipped when the issue's `comments` count is 0;
  - per pull request, its review comments (`/pulls/{n}/comments`) and reviews (`/pulls/{n}/reviews`);
  - honours Retry-After and x-ratelimit-remaining: 0 by sleeping;
  - writes one JSON line per issue: title, state, labels, body and every comment with author and time.

    github_reference.py BASE_URL TOKEN OUT.jsonl owner/repo [owner/repo ...]

Prints {"requests": N, "documents": N} on stdout.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import requests


class Client:
    def __init__(self, base: str, token: str) -> None:
        self.base = base.rstrip("/")
        self.s = requests.Session()
        self.s.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                               "X-GitHub-Api-Version": "2022-11-28"})
        self.requests = 0

    def get(self, url: str, params: dict[str, Any] | None = None) -> requests.Response:
        while True:
            self.requests += 1
            r = self.s.get(url, params=params, timeout=60)
            if r.status_code in (403, 429) and ("retry-after" in r.headers or r.headers.get("x-ratelimit-remaining") == "0"):
                wait = float(r.headers.get("retry-after") or max(1.0, float(r.headers["x-ratelimit-reset"]) - time.time()))
                time.sleep(wait)
                continue
            r.raise_for_status()
            return r

    def pages(self, path: str, **params: Any) -> list[Any]:
        out: list[Any] = []
        url: str | None = self.base + path
        query: dict[str, Any] | None = {**params, "per_page": 100}
        while url:
            r = self.get(url, query)
            out += r.json()
            url, query = r.links.get("next", {}).get("url"), None
        return out


def document(issue: dict[str, Any], notes: list[dict[str, Any]]) -> dict[str, Any]:
    lines = [issue["title"], f"{'Pull request' if 'pull_request' in issue else 'Issue'} · {issue['state']}",
             f"Author: {issue['user']['login']}"]
    if issue["labels"]:
        lines.append("Labels: " + ", ".join(label["name"] for label in issue["labels"]))
    lines += ["", issue.get("body") or ""]
    for n in sorted(notes, key=lambda n: n.get("created_at") or n.get("submitted_at") or ""):
        when = n.get("created_at") or n.get("submitted_at")
        where = f" on {n['path']} line {n.get('line')}" if "path" in n else ""
        lines += ["", f"{n['user']['login']} ({when}){where}: {n.get('body') or ''}"]
    return {"id": issue["number"], "title": issue["title"], "state": issue["state"], "url": issue["html_url"],
            "text": "\n".join(lines)}


def main(argv: list[str]) -> int:
    base, token, out_path, *repos = argv
    c = Client(base, token)
    count = 0
    with open(out_path, "w") as out:
        for repo in repos:
            for issue in c.pages(f"/repos/{repo}/issues", state="all"):
                n = issue["number"]
                notes = c.pages(f"/repos/{repo}/issues/{n}/comments") if issue["comments"] else []
                if "pull_request" in issue:
                    notes += c.pages(f"/repos/{repo}/pulls/{n}/comments")
                    notes += [r for r in c.pages(f"/repos/{repo}/pulls/{n}/reviews") if r.get("body")]
                out.write(json.dumps(document(issue, notes)) + "\n")
                count += 1
    print(json.dumps({"requests": c.requests, "documents": count}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
