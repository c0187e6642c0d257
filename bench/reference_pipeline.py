#!/usr/bin/env python3
"""The reference: a Jira-to-Pinecone backfill as people write it in Python, written as well as such a
script can be. bench/e2e_bench.py runs it beside backfill on the same servers and the same data.

The common pattern, done carefully:

1. fetch: a ``requests.Session`` (keep-alive) pages through ``/rest/api/3/search/jql`` with
   ``nextPageToken`` for each project; for every issue whose comments are more than the 20 the search
   embeds, it reads all of them from ``/rest/api/3/issue/{key}/comment``. Each page goes to a disk
   cache of JSON files per project (``CACHE/<project>/page-00001.json``, written as the raw response
   text, not re-serialized); a project already cached (its ``done`` file) is not fetched again.
2. process, one cached page at a time (nothing grows with the number of issues): ``json.loads``; ADF to
   text by a recursive walk (``py_normalize_page`` of bench/jira_normalize_bench.py, checked there to
   give exactly backfill's documents); a paragraph/sentence/word splitter with backfill's budgets (about
   512 tokens of 3 bytes a chunk, 64 overlapping, the title in front of every chunk); embedding in
   batches with the same deterministic embedder backfill uses (``backfill._core.HashEmbedder``: the
   same C++ code, so embedding costs both the same; a pure-Python twin would charge this script for
   Python hashing instead of measuring the pipeline), or with ``--openai URL`` through an
   OpenAI-compatible server the way scripts call one: the official ``openai`` SDK's
   ``client.embeddings.create(model, input=<a batch of texts>, dimensions)`` (its default base64
   encoding, decoded by the SDK; batches of --embed-batch, well under the API's 2,048 inputs and
   300,000 tokens a request); metadata as backfill writes it.
3. upsert with the official ``pinecone`` SDK: ``Index(host, pool_threads=T).upsert(async_req=True)``,
   the fastest of the SDK's REST ways in bench/pinecone_bench.py, with batches packed under Pinecone's
   2 MB request limit by each record's JSON size (orjson, which the SDK brings), at most T requests in
   flight, and every ``upserted_count`` checked.

Prints one JSON line: documents, chunks, records, pages, bytes, and seconds per stage.

    python bench/reference_pipeline.py --jira URL --projects BENCH,OPS --pinecone URL --namespace ns \\
        --cache DIR [--dimension 1536] [--threads 8] [--openai URL [--openai-model M]]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, Iterator

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

FIELDS = ("summary,description,status,issuetype,priority,labels,components,assignee,reporter,created,updated,"
          "comment,project,parent")
MAX_REQUEST_BYTES = 2_000_000
MAX_RECORDS = 1000
TARGET_BYTES = 512 * 3        # backfill's default chunking: 512 tokens of 3 bytes
OVERLAP_BYTES = 64 * 3


# --- 1. fetch -------------------------------------------------------------------------------------


def fetch_project(session: Any, base: str, project: str, cache: Path) -> tuple[int, int]:
    """All pages of a project into cache/<project>/; returns (pages, bytes). Skipped when done."""
    folder = cache / project
    if (folder / "done").exists():
        return 0, 0
    folder.mkdir(parents=True, exist_ok=True)
    jql = f'project = "{project}" AND updated >= "1970-01-01" ORDER BY key ASC'
    params: dict[str, str] = {"jql": jql, "maxResults": "100", "fields": FIELDS}
    pages = size = 0
    while True:
        r = session.get(f"{base}/rest/api/3/search/jql", params=params, timeout=120)
        r.raise_for_status()
        text = r.text
        page = json.loads(text)
        extra = []
        for issue in page["issues"]:
            c = issue["fields"].get("comment") or {}
            if c.get("total", 0) > len(c.get("comments", [])):
                bodies, start = [], 0
                while True:
                    cr = session.get(f"{base}/rest/api/3/issue/{issue['key']}/comment",
                                     params={"startAt": start, "maxResults": 100, "orderBy": "created"}, timeout=120)
                    cr.raise_for_status()
                    bodies.append(cr.text)
                    got = json.loads(cr.text)
                    start += len(got["comments"])
                    if not got["comments"] or start >= got["total"]:
                        break
                extra.append(json.dumps(issue["key"]) + ":[" + ",".join(bodies) + "]")
        pages += 1
        body = '{"search":' + text + ',"comments":{' + ",".join(extra) + "}}"
        size += len(body)
        (folder / f"page-{pages:05d}.json").write_text(body, encoding="utf-8")
        if page.get("isLast", True) or not page.get("nextPageToken"):
            break
        params["nextPageToken"] = page["nextPageToken"]
    (folder / "done").write_text("")
    return pages, size


# --- 2. process -----------------------------------------------------------------------------------


def split_text(title: str, text: str) -> list[str]:
    """Chunks of about TARGET_BYTES (UTF-8 bytes, the title in front of each), cut at a paragraph
    break, else a sentence end, else whitespace, in the second half of the window; each chunk after
    the first repeats about OVERLAP_BYTES of the one before, from a word start."""
    prefix = title[:TARGET_BYTES // 2].rstrip() + "\n\n" if title else ""
    budget = TARGET_BYTES - len(prefix.encode())
    data = text.strip().encode()
    if not data:
        return [title or ""]
    out: list[str] = []
    start = 0
    n = len(data)
    while True:
        if n - start <= budget:
            out.append(prefix + data[start:].decode("utf-8", "ignore"))
            return out
        window = data[start:start + budget]
        half = budget // 2
        cut = -1
        for sep in (b"\n\n", b". ", b"\n", b" "):
            i = window.rfind(sep, half)
            if i >= 0:
                cut = i + (1 if sep == b". " else 0)
                break
        if cut < 0:
            cut = budget  # a hard cut, on a code point boundary
            while cut > 1 and (data[start + cut] & 0xC0) == 0x80:
                cut -= 1
        out.append(prefix + window[:cut].rstrip().decode("utf-8", "ignore"))
        nxt = start + cut
        while nxt < n and data[nxt] in b" \n\t\r":
            nxt += 1
        if nxt >= n:
            return out
        back = max(start + 1, nxt - OVERLAP_BYTES)
        sp = data.find(b" ", back, nxt)
        start = sp + 1 if 0 <= sp < nxt - 1 else nxt


def documents(cache: Path, projects: list[str], site: str) -> Iterator[tuple[str, dict[str, Any]]]:
    from jira_normalize_bench import py_normalize_page

    for project in projects:
        for path in sorted((cache / project).glob("page-*.json")):
            for doc in py_normalize_page(path.read_text(encoding="utf-8"), site):
                yield project, doc


def records(cache: Path, projects: list[str], site: str, embedder: Any, batch: int,
            counts: dict[str, int]) -> Iterator[dict[str, Any]]:
    """Records with vectors, embedded `batch` chunks at a time."""
    pending: list[tuple[str, str, dict[str, Any]]] = []

    def flush() -> Iterator[dict[str, Any]]:
        vectors = embedder.embed([t for _, t, _ in pending])
        for (rid, _, md), v in zip(pending, vectors):
            yield {"id": rid, "values": v, "metadata": md}
        pending.clear()

    for project, doc in documents(cache, projects, site):
        counts["documents"] += 1
        base = {**doc["metadata"], "doc_id": doc["id"], "source": "jira", "partition": project, "title": doc["title"],
                "url": doc["url"], "created_at": doc["created_at"], "updated_at": doc["updated_at"]}
        for i, text in enumerate(split_text(doc["title"], doc["text"])):
            counts["chunks"] += 1
            pending.append((f"{doc['id']}#{i}", text, {**base, "chunk": i, "text": text}))
            if len(pending) >= batch:
                yield from flush()
    if pending:
        yield from flush()


class OpenAIEmbeddings:
    """Embeddings from an OpenAI-compatible server through the official SDK, as a script writes it."""

    def __init__(self, base_url: str, model: str, dimension: int, api_key: str | None) -> None:
        import openai

        self.client = openai.OpenAI(api_key=api_key, base_url=base_url)
        self.model, self.dimension = model, dimension

    def embed(self, texts: list[str]) -> list[list[float]]:
        got = self.client.embeddings.create(model=self.model, input=texts, dimensions=self.dimension)
        return [d.embedding for d in got.data]


# --- 3. upsert ------------------------------------------------------------------------------------


def upsert_all(index: Any, recs: Iterator[dict[str, Any]], namespace: str, threads: int) -> int:
    """Batches of at most 1000 records and under 2 MB (each record's size measured as JSON), at most
    `threads` requests in flight; every upserted_count checked. Returns the count."""
    try:  # the SDK depends on orjson: measuring a record with it costs far less than sending it
        import orjson

        def size(r: dict[str, Any]) -> int:
            return len(orjson.dumps(r))
    except ImportError:  # pragma: no cover
        def size(r: dict[str, Any]) -> int:
            return len(json.dumps(r, separators=(",", ":")))

    limit = int(MAX_REQUEST_BYTES * 0.95)  # room for the envelope and the SDK's own float formatting
    in_flight: deque[tuple[Any, int]] = deque()
    done = 0
    batch: list[dict[str, Any]] = []
    batch_bytes = 0

    def settle(keep: int) -> None:
        nonlocal done
        while len(in_flight) > keep:
            future, n = in_flight.popleft()
            got = int(future.get().upserted_count)
            if got != n:
                raise RuntimeError(f"an upsert of {n} records was acknowledged with {got}")
            done += got

    def send() -> None:
        nonlocal batch, batch_bytes
        in_flight.append((index.upsert(vectors=batch, namespace=namespace, async_req=True), len(batch)))
        batch, batch_bytes = [], 0
        settle(threads)

    for r in recs:
        n = size(r) + 1
        if batch and (len(batch) >= MAX_RECORDS or batch_bytes + n > limit):
            send()
        batch.append(r)
        batch_bytes += n
    if batch:
        send()
    settle(0)
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jira", required=True, help="Jira site URL")
    ap.add_argument("--email", default="me@example.com")
    ap.add_argument("--token", default=os.environ.get("JIRA_API_TOKEN", "jira-secret-token"))
    ap.add_argument("--projects", required=True, help="comma-separated project keys")
    ap.add_argument("--pinecone", required=True, help="index host URL")
    ap.add_argument("--api-key", default="bench-key")
    ap.add_argument("--namespace", default="")
    ap.add_argument("--cache", type=Path, required=True, help="the disk cache of JSON files")
    ap.add_argument("--dimension", type=int, default=1536)
    ap.add_argument("--threads", type=int, default=8, help="upsert requests in flight (the SDK's pool_threads)")
    ap.add_argument("--embed-batch", type=int, default=256)
    ap.add_argument("--openai", help="embed through this OpenAI-compatible base URL (else the C++ hash embedder)")
    ap.add_argument("--openai-model", default="text-embedding-3-small")
    ap.add_argument("--openai-key", default=os.environ.get("OPENAI_API_KEY"))
    args = ap.parse_args(argv)

    import requests
    from pinecone import Pinecone

    projects = [p for p in args.projects.split(",") if p]
    t0 = time.perf_counter()
    session = requests.Session()
    session.auth = (args.email, args.token)
    session.headers["Accept"] = "application/json"
    pages = size = 0
    for p in projects:
        n, b = fetch_project(session, args.jira.rstrip("/"), p, args.cache)
        pages += n
        size += b
    session.close()
    t1 = time.perf_counter()

    counts = {"documents": 0, "chunks": 0}
    index = Pinecone(api_key=args.api_key).Index(host=args.pinecone, pool_threads=args.threads)
    if args.openai:
        embedder: Any = OpenAIEmbeddings(args.openai, args.openai_model, args.dimension, args.openai_key)
    else:
        from backfill import _core

        embedder = _core.HashEmbedder(args.dimension)
    upserted = upsert_all(index, records(args.cache, projects, args.jira.rstrip("/"), embedder, args.embed_batch,
                                         counts), args.namespace, args.threads)
    index.close()
    t2 = time.perf_counter()
    if upserted != counts["chunks"]:
        print(f"reference: {counts['chunks']} chunks but {upserted} upserted", file=sys.stderr)
        return 1
    print(json.dumps({"documents": counts["documents"], "chunks": counts["chunks"], "records": upserted,
                      "pages": pages, "page_bytes": size, "fetch_seconds": round(t1 - t0, 3),
                      "process_seconds": round(t2 - t1, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
