"""The GitHub source at the issue's scale, against the local GitHub fake (tests/python/github_fake.py):
3 repositories × 1,500 issues and pull requests with 0 to 250 comments, review comments and reviews each
(most have a few, some 250: comments past any one page), killed with SIGKILL during the fetch and run again,
verified in the local index and in the Pinecone fake; then 5 % of the issues changed, and a run that reads
only the pages with them and embeds only the chunks whose text changed.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import index_ids, kill_after_pages, ledger
from github_fake import TOKEN, GitHubFake
from pinecone_fake import PineconeFake
from test_github import DIM, cli, config, run_json
from test_jira import doc_text, index_docs

REPOS = ("acme/alpha", "acme/bravo", "acme/charlie")


def comment_counts(rng: random.Random) -> int:
    """Most issues have a few comments, a few have 250 (GitHub's long threads)."""
    return 250 if rng.random() < 0.004 else min(250, int(rng.expovariate(1 / 5)))


def with_chunking(path: Path) -> None:
    """Full pages, a faster client and bigger chunks (fewer records to send) than the other tests', in the
    config written by `config`."""
    path.write_text(path.read_text().replace("target_tokens = 256", "target_tokens = 1024")
                    .replace("batch_records = 64", "batch_records = 1000").replace("per_page = 10\n", "per_page = 100\n")
                    .replace("rate = 200\n", "rate = 500\n"))


@pytest.mark.slow
def test_three_repositories_of_1500_killed_during_fetch_verified_then_5_percent_changed(tmp_path: Path) -> None:
    t0 = time.monotonic()
    fake = GitHubFake({r: 1500 for r in REPOS}, seed=18, comment_counts=comment_counts,
                      limit=1_000_000).start()
    try:
        expected = sorted(d for r in REPOS for d in fake.documents(r))
        assert len(expected) == 4500
        assert max(len(i.notes) for r in REPOS for i in fake.repos[r].issues.values()) == 250

        # Local index: killed by a failpoint after 20 committed pages, then run again.
        (tmp_path / "local").mkdir()
        (tmp_path / "pc").mkdir()
        path, workdir = config(tmp_path / "local", fake, REPOS)
        with_chunking(path)
        killed = cli("run", str(path), "--progress", "none", env={"BACKFILL_FAILPOINTS": "fetch.page_committed=20:kill"})
        assert killed.code == -signal.SIGKILL, (killed.code, killed.err[-2000:])
        with ledger(workdir) as db:
            assert db.execute("SELECT count(*) FROM pages").fetchone()[0] == 20
        report = run_json(path)
        assert report["verify"]["ok"] is True and report["verify"]["documents"] == 4500
        ids = index_ids(workdir / "index.sqlite")
        assert len(ids) == len(set(ids)) == report["verify"]["observed_count"]
        before = index_docs(workdir / "index.sqlite")
        assert sorted(before) == expected
        long_thread = next(i for r in REPOS for i in fake.repos[r].issues.values() if len(i.notes) == 250)
        repo = next(r for r in REPOS if fake.repos[r].issues.get(long_thread.number) is long_thread)
        text = doc_text(before[f"github:{repo}#{long_thread.number}"])
        assert all(f"Comment {k} on #{long_thread.number}:" in text
                   for k, n in enumerate(long_thread.notes, 1) if n.kind != 2), "a comment of a long thread is missing"
        t_local = time.monotonic() - t0

        # 5 % of the issues change (a new paragraph in the body): the next run reads one issues page per
        # repository, one page of each comment listing, and the reviews of the changed pull requests only.
        rng = random.Random(3)
        changed: dict[str, list[int]] = {r: rng.sample(sorted(fake.repos[r].issues), 75) for r in REPOS}
        for r, numbers in changed.items():
            for n in numbers:
                fake.edit_issue(r, n, body=fake.repos[r].issues[n].body + f"\n\nUpdate: the fix for #{n} shipped.")
        fake.reset_log()
        second = run_json(path)
        ingest = second["ingest"]
        assert second["verify"]["ok"] is True and ingest["documents_written"] == 225, ingest
        pages = [x for x in fake.requests if x.path.endswith("/issues") or x.path.endswith("/comments")]
        assert all(x.query.get("page", ["1"]) == ["1"] and "since" in x.query for x in pages), \
            [(x.path, x.query) for x in pages if x.query.get("page", ["1"]) != ["1"]]
        assert len([x for x in pages if x.path.endswith("/issues")]) == 3
        reviewed = {(x.path.split("/")[2] + "/" + x.path.split("/")[3], int(x.path.split("/")[5]))
                    for x in fake.requests if x.path.endswith("/reviews")}
        changed_pulls = {(r, n) for r, ns in changed.items() for n in ns if fake.repos[r].issues[n].pull}
        assert changed_pulls <= reviewed and len(reviewed - changed_pulls) <= 6, sorted(reviewed - changed_pulls)
        # Only the chunks whose text changed are embedded; the other chunks of those documents come from
        # the embedding cache.
        after = index_docs(workdir / "index.sqlite")
        old_texts = {c["text"] for cs in before.values() for c in cs}
        new_chunks = [c for r, ns in changed.items() for n in ns for c in after[f"github:{r}#{n}"]]
        fresh = {c["text"] for c in new_chunks if c["text"] not in old_texts}
        assert ingest["chunks_written"] == len(new_chunks), ingest
        assert ingest["chunks_embedded"] == len(fresh) < len(new_chunks), (ingest, len(fresh))
        assert ingest["embedding_cache_hits"] == len(new_chunks) - len(fresh)
        for k in set(before) - {f"github:{r}#{n}" for r, ns in changed.items() for n in ns}:
            assert after[k] == before[k], k
        t_second = time.monotonic() - t0 - t_local

        # Pinecone: killed from outside while fetching, then run again.
        with PineconeFake(dimension=DIM) as pc:
            sink = """
                [sink]
                type = "pinecone"
                host = "{url}"
                api_key = "${{PINECONE_API_KEY}}"
                namespace = "github"

                [verify]
                count_timeout_seconds = 30
                """.format(url=pc.url)
            path, workdir = config(tmp_path / "pc", fake, REPOS, extra=sink.replace("\n                ", "\n"),
                                   name="gh-pc")
            with_chunking(path)
            kill_after_pages(path, workdir, {"GITHUB_TOKEN": TOKEN, "PINECONE_API_KEY": "pk-test-secret"})
            report = run_json(path, env={"PINECONE_API_KEY": "pk-test-secret"})
            assert report["verify"]["ok"] is True and report["verify"]["documents"] == 4500
            assert report["verify"]["observed_count"] == pc.count("github") == report["verify"]["checked"]
            vectors: dict[str, Any] = pc.vectors("github")
            assert sorted({v["metadata"]["doc_id"] for v in vectors.values()}) == expected
            assert not pc.take_violations()
        assert not fake.take_violations() and not fake.errors
        print(f"local {t_local:.1f} s, second run {t_second:.1f} s, total {time.monotonic() - t0:.1f} s")
    finally:
        fake.stop()
