#!/usr/bin/env python3
"""Quota-bound efficiency: how close backfill gets to the bound an API's quota sets, against a plain script.

Jira (tests/python/jira_fake.py) -> OpenAI-compatible embeddings (tests/python/openai_fake.py) -> Pinecone
(tests/python/pinecone_fake.py), each with a small fixed latency, and one quota that binds per scenario:

  tpm    the embeddings fake's token bucket (OpenAI's model: per minute, full at first, refilled at
         limit/60 a second; a request that does not fit gets 429 "Please try again in 1.234s");
  rpm    the embeddings fake's request bucket, the same model, on a deployment that takes at most
         --rpm-max-inputs texts a request (both contenders send requests of at most that many);
  jira   the Jira fake's burst limit (at most N requests in any second; 429 with Retry-After);
  pinecone  the Pinecone fake's upsert requests a second per namespace (Pinecone's documented limit, a
         bucket of a second's worth refilled continuously; 429 without Retry-After), on upserts of at most
         --pinecone-max-records records (both contenders send upserts of that many; backfill's sink is
         configured with the rate, as Pinecone announces none).

Contenders, alternated in each repetition:

  backfill  Pipeline.fetch_and_ingest() with its defaults (the quota model paces every request);
  plain     what people write: page through Jira, then embed the very texts backfill embedded in batches
            of 100, one request at a time, then upsert batches of 100; every 429 is retried after the
            wait it suggests ("try again in Xs", else Retry-After, else 1 s).

The ideal bound of a scenario is the binding quota's work beyond its first full bucket divided by its
refill rate, plus the unavoidable first request of each stage (a Jira page, an embedding, an upsert: the
chain the first record must cross):
  tpm:  max(0, tokens - limit) / (limit / 60)
  rpm:  max(0, fewest requests - limit) / (limit / 60), the fewest requests being what the caps allow
        (--rpm-max-inputs texts, 300k tokens a request)
  pinecone: max(0, upserts - N) / N, the upserts being the records over --pinecone-max-records
  jira: max(0, requests - N) / N, the requests being the search pages (partitions in parallel cannot beat
        the limit) and backfill's one request for the field catalogue (GET /rest/api/3/field: which
        fields to ask for and how to show them), which the plain script, with its fixed field list, skips
Reported: medians of the wall times, backfill / ideal (goal <= 1.1) and plain / backfill (goal >= 1).
Every backfill run is verified against the Pinecone fake (not timed).

    .venv/bin/python bench/quota_bench.py            # writes bench/results/quota.json (a few minutes)
    .venv/bin/python bench/quota_bench.py --quick    # a smoke run: tiny, 1 repetition
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))

import backfill  # noqa: E402
from jira_fake import JiraFake  # noqa: E402
from openai_fake import OpenAIFake  # noqa: E402
from pinecone_fake import PineconeFake  # noqa: E402

SCHEMA = "backfill.bench.quota/1"
MODEL = "text-embedding-3-small"
JQL_FIELDS = "summary,description,status,issuetype,priority,labels,components,assignee,reporter,created,updated,comment"
TRY_AGAIN = re.compile(r"try again in ([0-9.]+)(ms|s)")
BATCH = 100
MAX_INPUTS, MAX_REQUEST_TOKENS = 2048, 300_000


# --- the plain script --------------------------------------------------------------------------------


def _suggested_wait(r: requests.Response) -> float:
    m = TRY_AGAIN.search(r.text)
    if m:
        return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)
    return float(r.headers.get("Retry-After", "1"))


def _send(session: requests.Session, method: str, url: str, **kw: Any) -> requests.Response:
    while True:
        r = session.request(method, url, timeout=60, **kw)
        if r.status_code != 429:
            r.raise_for_status()
            return r
        time.sleep(_suggested_wait(r))


def plain_run(jira: JiraFake, oa: OpenAIFake, pc: PineconeFake, projects: list[str], texts: list[str],
              dimension: int, namespace: str, batch: int = BATCH, upsert_batch: int = BATCH) -> dict[str, Any]:
    """The plain script: sequential, batches of 100, a retry on 429 after the suggested wait."""
    t0 = time.perf_counter()
    s = requests.Session()
    s.auth = (jira.email, jira.token)
    issues = 0
    for p in projects:
        token = None
        while True:
            params = {"jql": f'project = {p} AND updated >= "1970-01-01" ORDER BY updated ASC',
                      "fields": JQL_FIELDS, "maxResults": "100", **({"nextPageToken": token} if token else {})}
            page = _send(s, "GET", f"{jira.url}/rest/api/3/search/jql", params=params).json()
            issues += len(page["issues"])
            token = page.get("nextPageToken")
            if page.get("isLast", token is None) or not token:
                break
    e = requests.Session()
    e.headers["Authorization"] = f"Bearer {oa.api_key}"
    vectors: list[list[float]] = []
    for i in range(0, len(texts), batch):
        body = {"model": MODEL, "input": texts[i:i + batch], "dimensions": dimension}
        data = _send(e, "POST", f"{oa.url}/embeddings", json=body).json()["data"]
        vectors.extend(d["embedding"] for d in sorted(data, key=lambda d: d["index"]))
    u = requests.Session()
    u.headers.update({"Api-Key": pc.api_key, "X-Pinecone-Api-Version": "2025-04"})
    for i in range(0, len(vectors), upsert_batch):
        batch = [{"id": f"{namespace}-{j}", "values": v}
                 for j, v in enumerate(vectors[i:i + upsert_batch], start=i)]
        _send(u, "POST", f"{pc.url}/vectors/upsert", json={"vectors": batch, "namespace": namespace})
    return {"wall_seconds": time.perf_counter() - t0, "issues": issues, "texts": len(texts)}


# --- backfill ------------------------------------------------------------------------------------------


def backfill_run(args: argparse.Namespace, jira: JiraFake, oa: OpenAIFake, pc: PineconeFake, namespace: str,
                 workdir: Path, max_inputs: int = MAX_INPUTS, sink: dict[str, Any] | None = None) -> dict[str, Any]:
    pipeline = backfill.Pipeline(
        backfill.JiraCloud(url=jira.url, email=jira.email, token=jira.token, projects=tuple(args.project_keys)),
        backfill.OpenAIEmbedder(model=MODEL, api_key=oa.api_key, base_url=oa.url, dimensions=args.dimension,
                                max_inputs=max_inputs),
        backfill.PineconeIndex(host=pc.url, api_key=pc.api_key, namespace=namespace, **(sink or {})),
        name="quota", workdir=workdir, progress="none", count_timeout_seconds=10,
    )
    t0 = time.perf_counter()
    _, ingest = pipeline.fetch_and_ingest()
    wall = time.perf_counter() - t0
    verify = pipeline.verify(raise_on_failure=False)
    return {"wall_seconds": wall, "documents": ingest.documents_written, "chunks": ingest.chunks_written,
            "waits": dict(ingest.waits), "verified": verify.ok}


# --- scenarios -----------------------------------------------------------------------------------------


def set_quota(scenario: str, args: argparse.Namespace, jira: JiraFake, oa: OpenAIFake, pc: PineconeFake) -> None:
    """Fresh buckets (full, as a quota is after a quiet minute) before every run."""
    oa.token_bucket()
    jira.burst_limit(0)
    pc.rate_limit()
    if scenario == "pinecone":
        pc.rate_limit(upserts_per_second=args.pinecone_rps)
    if scenario == "tpm":
        oa.token_bucket(tokens_per_minute=args.tpm)
    elif scenario == "rpm":
        oa.token_bucket(requests_per_minute=args.rpm)
    elif scenario == "jira":
        jira.burst_limit(args.jira_rps, per_seconds=1.0)


def ideal(scenario: str, args: argparse.Namespace, work: dict[str, int]) -> float:
    first = args.page_latency + args.embed_latency + args.upsert_latency
    if scenario == "tpm":
        return max(0, work["tokens"] - args.tpm) / (args.tpm / 60) + first
    if scenario == "rpm":
        fewest = max(-(-work["texts"] // args.rpm_max_inputs), -(-work["tokens"] // MAX_REQUEST_TOKENS))
        return max(0, fewest - args.rpm) / (args.rpm / 60) + first
    if scenario == "pinecone":
        upserts = -(-work["records"] // args.pinecone_max_records)
        return max(0, upserts - args.pinecone_rps) / args.pinecone_rps + first
    return max(0, work["jira_requests"] - args.jira_rps) / args.jira_rps + first


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--issues", type=int, default=600, help="issues in all (default 600)")
    ap.add_argument("--projects", type=int, default=2)
    ap.add_argument("--tpm", type=float, default=0.0, help="embedding tokens a minute (default: 80%% of the work)")
    ap.add_argument("--rpm", type=float, default=12.0, help="embedding requests a minute (default 12)")
    ap.add_argument("--rpm-max-inputs", type=int, default=100,
                    help="texts a request at most in the rpm scenario (default 100: 16 requests for 600 issues)")
    ap.add_argument("--jira-rps", type=int, default=1, help="Jira requests a second (default 1)")
    ap.add_argument("--pinecone-rps", type=float, default=2.0, help="Pinecone upserts a second (default 2)")
    ap.add_argument("--pinecone-max-records", type=int, default=50,
                    help="records an upsert at most in the pinecone scenario (default 50: 32 upserts for 600 issues)")
    ap.add_argument("--page-latency", type=float, default=0.02)
    ap.add_argument("--embed-latency", type=float, default=0.05)
    ap.add_argument("--upsert-latency", type=float, default=0.01)
    ap.add_argument("--dimension", type=int, default=64)
    ap.add_argument("--scenarios", default="tpm,rpm,jira,pinecone")
    ap.add_argument("--repetitions", type=int, default=3)
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 60 issues, 1 repetition, a token quota of 95%% of the work")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "quota.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.issues, args.repetitions = 60, 1
    logging.getLogger("backfill").setLevel(logging.WARNING)
    args.project_keys = [f"P{i}" for i in range(args.projects)]
    per = args.issues // args.projects
    scenarios = [s for s in args.scenarios.split(",") if s]

    jira = JiraFake({k: per for k in args.project_keys}, long_comment_share=0.0, validate=False).start()
    oa = OpenAIFake().start()
    pc = PineconeFake(dimension=args.dimension).start()
    runs: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="backfill-quota-") as tmp:
            # Warm-up, unthrottled and not measured: the Jira fake generates its issues, and the texts
            # backfill embeds (the plain script embeds the same ones) and the work are counted.
            pages0, n0, j0 = len(jira.search_calls()), len(oa.requests), len(jira.requests)
            warm = backfill_run(args, jira, oa, pc, "warm-up", Path(tmp) / "warm-up")
            served = [r for r in oa.requests[n0:] if r.status == 200]
            texts = [t for r in served for t in r.inputs]
            work = {"texts": len(texts), "tokens": sum(t for r in served for t in r.tokens),
                    "pages": len(jira.search_calls()) - pages0, "jira_requests": len(jira.requests) - j0,
                    "records": warm["chunks"]}
            if not args.tpm:
                args.tpm = float(int(work["tokens"] * (0.95 if args.quick else 0.8)))
            jira.search_latency = args.page_latency
            oa.latency = args.embed_latency
            pc.upsert_latency = args.upsert_latency
            for scenario in scenarios:
                bound = ideal(scenario, args, work)
                for rep in range(args.repetitions):
                    for who in (["backfill", "plain"] if rep % 2 == 0 else ["plain", "backfill"]):
                        ns = f"{scenario}-{who}-{rep}"
                        set_quota(scenario, args, jira, oa, pc)
                        n0, j0, p0 = len(oa.requests), len(jira.requests), len(pc.requests)
                        cap = args.rpm_max_inputs if scenario == "rpm" else None
                        pcap = args.pinecone_max_records if scenario == "pinecone" else None
                        if who == "backfill":
                            sink = {"max_records": pcap, "rate": args.pinecone_rps} if pcap else None
                            r = backfill_run(args, jira, oa, pc, ns, Path(tmp) / ns, cap or MAX_INPUTS, sink)
                        else:
                            r = plain_run(jira, oa, pc, args.project_keys, texts, args.dimension, ns, cap or BATCH,
                                          pcap or BATCH)
                        refused = sum(1 for x in oa.requests[n0:] if x.status == 429)
                        upserts = [x for x in pc.requests[p0:] if x.path == "/vectors/upsert"]
                        r["upserts"] = sum(1 for x in upserts if x.status == 200)
                        r["upsert_429"] = sum(1 for x in upserts if x.status == 429)
                        r.update({"scenario": scenario, "contender": who, "repetition": rep,
                                  "ideal_seconds": bound, "embed_requests": len(oa.requests) - n0 - refused,
                                  "embed_429": refused, "jira_requests": len(jira.requests) - j0})
                        runs.append(r)
                        print(f"  {scenario:<5} {who:<9} {r['wall_seconds']:6.2f} s   ideal {bound:5.2f} s   "
                              f"{r['embed_requests']} embed requests, {refused} refused, {r['jira_requests']} Jira requests, "
                              f"{r['upserts']} upserts, {r['upsert_429']} refused"
                              + (f", waits {r['waits']}, verified={r['verified']}" if who == "backfill" else ""),
                              flush=True)
    finally:
        jira.stop()
        oa.stop()
        pc.stop()

    medians: dict[str, Any] = {}
    for s in scenarios:
        b = statistics.median(r["wall_seconds"] for r in runs if r["scenario"] == s and r["contender"] == "backfill")
        p = statistics.median(r["wall_seconds"] for r in runs if r["scenario"] == s and r["contender"] == "plain")
        bound = ideal(s, args, work)
        medians[s] = {"backfill_seconds": b, "plain_seconds": p, "ideal_seconds": bound,
                      "backfill_over_ideal": b / bound, "plain_over_backfill": p / b}
    result = {
        "schema": SCHEMA,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["bench/quota_bench.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "backfill": backfill.__version__,
        "quick": args.quick,
        "settings": {k: getattr(args, k) for k in ("issues", "projects", "tpm", "rpm", "rpm_max_inputs", "jira_rps",
                                                    "pinecone_rps", "pinecone_max_records",
                                                    "page_latency", "embed_latency", "upsert_latency", "dimension",
                                                    "repetitions")},
        "work": work,
        "runs": runs,
        "median": medians,
        "goal": {"backfill_over_ideal_at_most": 1.1, "plain_over_backfill_at_least": 1.0},
        "all_verified": all(r["verified"] for r in runs if r["contender"] == "backfill"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwork: {work}; medians of {args.repetitions}:")
    for s, m in medians.items():
        print(f"  {s:<5} backfill {m['backfill_seconds']:6.2f} s  plain {m['plain_seconds']:6.2f} s  "
              f"ideal {m['ideal_seconds']:5.2f} s  backfill/ideal {m['backfill_over_ideal']:.2f}  "
              f"plain/backfill {m['plain_over_backfill']:.2f}")
    print(f"wrote {args.out}")
    return 0 if result["all_verified"] else 1


if __name__ == "__main__":
    sys.exit(main())
