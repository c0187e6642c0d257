#!/usr/bin/env python3
"""Latency-bound efficiency: how close an overlapped backfill gets to the ideal bound.

Local fakes with fixed latencies stand in for the remote APIs: the Jira fake answers each search page
after --page-latency seconds (100 ms), the OpenAI-compatible fake each embeddings request after
--embed-latency (300 ms), the Pinecone fake each upsert after --upsert-latency (30 ms). The same
backfill (Jira -> chunk -> OpenAI embedder -> Pinecone) runs twice per repetition, alternating:

  overlapped   Pipeline.fetch_and_ingest() as `run` does it: fetch, normalize, embed and upsert
               concurrently through bounded hand-offs;
  sequential   the same with overlap=False: fetch everything, then embed each batch, then upsert it,
               one stage after another (a careful script's shape; the embedder still sends a batch's
               requests concurrently).

The ideal bound is the slowest stage's work divided by its concurrency, counted from what the fakes
served in that run:  max(pages x page latency / partitions fetched at once (a partition's pages follow
each other's tokens; partitions run 4 at a time),
embed requests x embed latency / embedder concurrency, upserts x upsert latency / upserts in flight).
No backfill of this work can finish sooner. Reported: medians of the wall times, overlapped / ideal
(goal <= 1.2) and sequential / overlapped. Each run is verified against the Pinecone fake (not timed).

    .venv/bin/python bench/latency_bench.py            # writes bench/results/latency.json
    .venv/bin/python bench/latency_bench.py --quick    # a smoke run (tiny, 10x shorter latencies)
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

import backfill  # noqa: E402
from jira_fake import JiraFake  # noqa: E402
from openai_fake import OpenAIFake  # noqa: E402
from pinecone_fake import PineconeFake  # noqa: E402

SCHEMA = "backfill.bench.latency/1"


def one_run(args: argparse.Namespace, jira: JiraFake, oa: OpenAIFake, pc: PineconeFake, *, overlap: bool,
            namespace: str, workdir: Path) -> dict[str, Any]:
    pipeline = backfill.Pipeline(
        backfill.JiraCloud(url=jira.url, email=jira.email, token=jira.token, projects=tuple(args.project_keys),
                           max_results=args.max_results, rate=1000.0),
        backfill.OpenAIEmbedder(model="text-embedding-3-small", api_key=oa.api_key, base_url=oa.url,
                                dimensions=args.dimension, concurrency=args.embed_concurrency,
                                max_inputs=args.embed_inputs),
        backfill.PineconeIndex(host=pc.url, api_key=pc.api_key, namespace=namespace,
                               max_in_flight=args.upsert_concurrency, rate=1000.0, byte_rate=0.0),
        name="latency", workdir=workdir, batch_records=args.batch_records, overlap=overlap, progress="none",
        embed_concurrency=getattr(args, "pipeline_embed_calls", 0),
        count_timeout_seconds=10,
    )
    pages0, embeds0 = len(jira.search_calls()), oa.calls
    upserts0 = sum(1 for r in pc.requests if r.path == "/vectors/upsert")
    t0 = time.perf_counter()
    fetch, ingest = pipeline.fetch_and_ingest()
    wall = time.perf_counter() - t0
    verify = pipeline.verify(raise_on_failure=False)
    pages = len(jira.search_calls()) - pages0
    embeds = oa.calls - embeds0
    upserts = sum(1 for r in pc.requests if r.path == "/vectors/upsert") - upserts0
    stages = {
        "fetch": pages * args.page_latency / min(4, args.projects),  # fetch_concurrency 4, one per partition
        "embed": embeds * args.embed_latency / args.embed_concurrency,
        "upsert": upserts * args.upsert_latency / args.upsert_concurrency,
    }
    return {
        "mode": "overlapped" if overlap else "sequential",
        "wall_seconds": wall,
        "pages": pages, "embed_requests": embeds, "upsert_requests": upserts,
        "documents": ingest.documents_written, "chunks": ingest.chunks_written,
        "stage_seconds": stages, "ideal_seconds": max(stages.values()),
        "slowest_stage": max(stages, key=lambda k: stages[k]),
        "verified": verify.ok,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--issues", type=int, default=2000, help="issues in all (default 2000)")
    ap.add_argument("--projects", type=int, default=2)
    ap.add_argument("--max-results", type=int, default=50, help="issues per search page")
    ap.add_argument("--page-latency", type=float, default=0.1)
    ap.add_argument("--embed-latency", type=float, default=0.3)
    ap.add_argument("--upsert-latency", type=float, default=0.03)
    ap.add_argument("--embed-concurrency", type=int, default=4)
    ap.add_argument("--embed-inputs", type=int, default=256, help="texts per embeddings request at most")
    ap.add_argument("--upsert-concurrency", type=int, default=16)
    ap.add_argument("--batch-records", type=int, default=256, help="chunks per pipeline batch")
    ap.add_argument("--dimension", type=int, default=64)
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="a smoke run: 200 issues, latencies / 10, 1 repetition")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latency.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.issues, args.repetitions = 200, 1
        args.page_latency, args.embed_latency, args.upsert_latency = 0.01, 0.03, 0.003
    logging.getLogger("backfill").setLevel(logging.WARNING)
    args.project_keys = [f"P{i}" for i in range(args.projects)]
    per = args.issues // args.projects

    jira = JiraFake({k: per for k in args.project_keys}, long_comment_share=0.0, validate=False).start()
    oa = OpenAIFake(latency=args.embed_latency).start()
    pc = PineconeFake(dimension=args.dimension).start()
    runs: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="backfill-latency-") as tmp:
            # Warm-up, not measured, latencies off: the Jira fake generates and caches every issue,
            # so no measured run pays for the fake's own first-time work.
            oa.latency = 0.0
            one_run(args, jira, oa, pc, overlap=True, namespace="warm-up", workdir=Path(tmp) / "warm-up")
            oa.latency = args.embed_latency
            jira.search_latency = args.page_latency
            pc.upsert_latency = args.upsert_latency
            for rep in range(args.repetitions):
                order = [True, False] if rep % 2 == 0 else [False, True]
                for overlap in order:
                    name = f"{'ovl' if overlap else 'seq'}-{rep}"
                    r = one_run(args, jira, oa, pc, overlap=overlap, namespace=name, workdir=Path(tmp) / name)
                    r["repetition"] = rep
                    runs.append(r)
                    print(f"  {r['mode']:<11} {r['wall_seconds']:6.2f} s   ideal {r['ideal_seconds']:5.2f} s "
                          f"({r['slowest_stage']})   {r['pages']} pages, {r['embed_requests']} embed requests, "
                          f"{r['upsert_requests']} upserts, verified={r['verified']}", flush=True)
    finally:
        jira.stop()
        oa.stop()
        pc.stop()

    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in runs if r["mode"] == mode)

    ovl, seq = med("overlapped", "wall_seconds"), med("sequential", "wall_seconds")
    ideal = med("overlapped", "ideal_seconds")
    ratios = [r["wall_seconds"] / r["ideal_seconds"] for r in runs if r["mode"] == "overlapped"]
    result = {
        "schema": SCHEMA,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "backfill": backfill.__version__,
        "quick": args.quick,
        "settings": {k: getattr(args, k) for k in ("issues", "projects", "max_results", "page_latency",
                                                    "embed_latency", "upsert_latency", "embed_concurrency",
                                                    "embed_inputs", "upsert_concurrency", "batch_records",
                                                    "dimension", "repetitions")},
        "runs": runs,
        "median": {"overlapped_seconds": ovl, "sequential_seconds": seq, "ideal_seconds": ideal,
                   "overlapped_over_ideal": statistics.median(ratios), "sequential_over_overlapped": seq / ovl},
        "goal": {"overlapped_over_ideal_at_most": 1.2},
        "all_verified": all(r["verified"] for r in runs),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    m = result["median"]
    print(f"\nmedians of {args.repetitions}: overlapped {ovl:.2f} s, sequential {seq:.2f} s, ideal bound {ideal:.2f} s")
    print(f"overlapped / ideal = {m['overlapped_over_ideal']:.2f} (goal <= 1.2); "
          f"sequential / overlapped = {m['sequential_over_overlapped']:.2f}")
    print(f"wrote {args.out}")
    return 0 if result["all_verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
