#!/usr/bin/env python3
"""End-to-end benchmark: backfill against the Python pattern it replaces, on local servers only, in one run.

Sections (each can be skipped; all of them write into one JSON file, from which
bench/write_benchmarks_md.py makes BENCHMARKS.md):

1. e2e (CPU-bound): --issues N synthetic Jira issues (default 50,000; ~30 kB of JSON each, ADF
   descriptions, 0-60 comments) from bench/jira_fast_server.py (no added latency) -> chunk -> embed
   (--embedder hash, the default: the same deterministic embedder in every process, backfill's C++
   hash embedder, --dimension 1536; --embedder openai: bench/openai_fast_server.py, an
   OpenAI-compatible embeddings server in a process of its own, which backfill reaches with its
   `openai` embedder and the reference with the official `openai` SDK, so each side pays its own
   requests and decoding) -> bench/pinecone_fast_server.py (a separate process that never sets the
   pace; --store, so that backfill's verify can read back). Contenders, each a child process measured by the kernel
   (os.wait4: wall, user+system CPU, peak RSS), alternated, --repetitions rounds in a rotating order:

       backfill-cli   `backfill run CONFIG` (plan, fetch, validate, ingest, verify of a 1,000-record sample)
       backfill-api   the same through Pipeline(...).run() from Python
       reference      bench/reference_pipeline.py: requests + json, a disk cache of JSON files per
                      project, the official pinecone SDK's upsert (see that file)

2. upsert stage: --upsert-records records shaped like the e2e's (Jira chunk text and metadata, hash
   vectors) upserted by backfill's sink and by the official SDK alone (REST and gRPC), each run a
   child process, rounds alternated.
3. memory ladder: peak RSS (and CPU, wall, disk) of backfill-cli and the reference at --ladder sizes
   (default 10000,100000; the 1M figure: --ladder 1000000, see BENCHMARKS.md), at --ladder-dimension.
   The Jira server renders issues from templates as they are asked for: it holds none of them.
4. latency-bound efficiency: bench/latency_bench.py (see latency_section()).
5. normalization: the result of bench/jira_normalize_bench.py (bench/results/jira_normalize.json),
   run here with --normalize (or --quick), else read if present.

    .venv/bin/python bench/e2e_bench.py                  # ~40-60 min; bench/results/e2e.json
    .venv/bin/python bench/e2e_bench.py --quick          # smoke run (tiny N, one round): what the test runs
    .venv/bin/python bench/e2e_bench.py --only ladder --ladder 1000000 --out bench/results/ladder-1m.json

Timings are never asserted; figures from a shared 2-core machine are noisy: compare the ratios of
one run. The CPU of the servers and of the rest of the machine during each run is recorded too.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _common import (  # noqa: E402
    RESULTS,
    backfill_install,
    alternating_rounds,
    byte_compile_backfill,
    host_info,
    machine_busy_seconds,
    median,
    no_proxy_for_loopback,
    now_utc,
    rotated,
    run_child,
    spread_percent,
    versions,
    wait_for_quiet,
)
from jira_fast_server import AUTH, EMAIL, TOKEN, JiraFastServer  # noqa: E402
from openai_fast_server import OpenAIFastServer  # noqa: E402
from pinecone_fast_server import FastServer  # noqa: E402

SCHEMA = "backfill.bench.e2e/1"
API_KEY = "bench-key"
E2E_CONTENDERS = ["backfill-cli", "backfill-api", "reference"]
LADDER_CONTENDERS = ["backfill-cli", "reference"]
UPSERT_CONTENDERS = ["backfill", "sdk-rest", "sdk-grpc"]
GOALS = {"e2e_vs_reference": 20.0, "upsert_vs_sdk": 5.0, "rss_mb_at_1m": 300.0, "rss_flat_ratio": 1.25}
VERIFY_SAMPLE = 1000
PYTHON = sys.executable
# The interpreter whose installed backfill the backfill-cli and backfill-api contenders of the e2e and the
# ladder run (--backfill-python; `make bench`: the wheel, scripts/bench_venv.sh), and its console script.
# The upsert section runs backfill's sink in this interpreter, beside the SDKs it is compared with.
BACKFILL_PYTHON = sys.executable
BACKFILL_CLI = str(Path(sys.executable).parent / "backfill")

no_proxy_for_loopback()


# --- running one contender -------------------------------------------------------------------------


def backfill_config(path: Path, jira: JiraFastServer, pinecone_url: str, namespace: str, workdir: Path,
                    dimension: int, verify_sample: int, embedder: OpenAIFastServer | None = None) -> None:
    """The TOML a user would write for this backfill (no client-side rate limits: local servers); the
    hash embedder unless an OpenAI-compatible server is given."""
    projects = ", ".join(json.dumps(p) for p in jira.projects)
    embedder_toml = f'type = "hash"\ndimension = {dimension}' if embedder is None else (
        f'type = "openai"\nmodel = {json.dumps(embedder.model)}\napi_key = "${{BENCH_OPENAI_KEY}}"\n'
        f'base_url = {json.dumps(embedder.url)}\ndimensions = {dimension}')
    path.write_text(f"""# written by bench/e2e_bench.py
[run]
name = "bench"
workdir = {json.dumps(str(workdir))}

[source]
type = "jira"
url = {json.dumps(jira.url)}
email = {json.dumps(EMAIL)}
token = "${{BENCH_JIRA_TOKEN}}"
projects = [{projects}]
rate = 0.0

[embedder]
{embedder_toml}

[sink]
type = "pinecone"
host = {json.dumps(pinecone_url)}
api_key = "${{BENCH_PINECONE_KEY}}"
namespace = {json.dumps(namespace)}
rate = 0.0
byte_rate = 0.0

[verify]
sample = {verify_sample}
""")


def child_api(spec: dict[str, Any]) -> int:
    """The backfill-api contender, in its own process: Pipeline(...).run() from Python."""
    from backfill import HashEmbedder, JiraCloud, OpenAIEmbedder, Pipeline, PineconeIndex

    embedder = HashEmbedder(spec["dimension"]) if not spec.get("openai") else \
        OpenAIEmbedder(model=spec["openai_model"], api_key=spec["openai_key"], base_url=spec["openai"],
                       dimensions=spec["dimension"])
    p = Pipeline(JiraCloud(url=spec["jira"], email=EMAIL, token=TOKEN, projects=tuple(spec["projects"]), rate=0.0),
                 embedder,
                 PineconeIndex(host=spec["pinecone"], api_key=API_KEY, namespace=spec["namespace"], rate=0.0,
                               byte_rate=0.0),
                 name="bench", workdir=spec["workdir"], verify_sample=spec["verify_sample"], progress="none")
    report = p.run()
    print(json.dumps(report.to_dict()))
    return 0


def run_contender(name: str, jira: JiraFastServer, pinecone: FastServer, scratch: Path, namespace: str,
                  dimension: int, verify_sample: int, timeout: float | None = None,
                  embedder: OpenAIFastServer | None = None) -> dict[str, Any]:
    """One run of one contender in a child process; its workdir or cache is made fresh and removed after.
    With `embedder`, every contender embeds through that OpenAI-compatible server."""
    work = scratch / f"{name}-{namespace}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {**os.environ, "BENCH_JIRA_TOKEN": TOKEN, "BENCH_PINECONE_KEY": API_KEY}
    if embedder is not None:
        env["BENCH_OPENAI_KEY"] = env["OPENAI_API_KEY"] = embedder.api_key
    if name == "backfill-cli":
        config = work / "bench.toml"
        backfill_config(config, jira, pinecone.url, namespace, work / "workdir", dimension, verify_sample, embedder)
        cmd = [BACKFILL_CLI, "run", str(config), "--json", "--progress", "none", "-q"]
    elif name == "backfill-api":
        spec = {"jira": jira.url, "projects": jira.projects, "pinecone": pinecone.url, "namespace": namespace,
                "workdir": str(work / "workdir"), "dimension": dimension, "verify_sample": verify_sample}
        if embedder is not None:
            spec.update(openai=embedder.url, openai_model=embedder.model, openai_key=embedder.api_key)
        cmd = [BACKFILL_PYTHON, str(Path(__file__).resolve()), "--child-api", json.dumps(spec)]
    elif name == "reference":
        cmd = [PYTHON, str(HERE / "reference_pipeline.py"), "--jira", jira.url, "--projects", ",".join(jira.projects),
               "--pinecone", pinecone.url, "--namespace", namespace, "--cache", str(work / "cache"),
               "--dimension", str(dimension)]
        if embedder is not None:
            cmd += ["--openai", embedder.url, "--openai-model", embedder.model]
    else:
        raise ValueError(name)
    before_p = pinecone.stats()
    before_e = embedder.stats() if embedder is not None else {}
    j0, p0 = jira.cpu_seconds(), pinecone.cpu_seconds()
    e0 = embedder.cpu_seconds() if embedder is not None else 0.0
    child = run_child(cmd, env=env, cwd=str(work), timeout=timeout)
    j1, p1 = jira.cpu_seconds(), pinecone.cpu_seconds()
    e1 = embedder.cpu_seconds() if embedder is not None else 0.0
    after_p = pinecone.stats()
    embedded: dict[str, Any] = {}
    if embedder is not None:
        after_e = embedder.stats()
        if after_e["rejected"] != before_e["rejected"]:
            raise RuntimeError(f"{name}: the embeddings server rejected requests: {after_e['last_error']}")
        embedded = {"embedder_server_cpu_seconds": round(e1 - e0, 3),
                    "embed_requests": after_e["requests"] - before_e["requests"],
                    "embedded_inputs": after_e["inputs"] - before_e["inputs"]}
    disk = sum(f.stat().st_size for f in work.rglob("*") if f.is_file())
    shutil.rmtree(work, ignore_errors=True)
    pinecone.reset()  # drops what the store kept for this run (disk)
    if child.returncode != 0:
        raise RuntimeError(f"{name} failed ({child.returncode}): {' '.join(cmd)}\n{child.stdout[-2000:]}\n"
                           f"{child.stderr[-4000:]}")
    out = json.loads(child.stdout.strip().splitlines()[-1] if name == "reference" else child.stdout)
    if name == "reference":
        documents, records = out["documents"], out["records"]
        phases = {"fetch_seconds": out["fetch_seconds"], "process_seconds": out["process_seconds"]}
    else:
        documents, records = out["ingest"]["documents_written"], out["ingest"]["chunks_written"]
        if not out["verify"]["ok"]:
            raise RuntimeError(f"{name}: verify failed: {out['verify']}")
        phases = {"pages": out["fetch"]["pages_fetched"], "bytes_fetched": out["fetch"]["bytes_fetched"],
                  "verified": out["verify"]["checked"], "upsert_requests": out["ingest"]["upsert_requests"]}
    counted = after_p["namespaces"].get(namespace, 0) - before_p["namespaces"].get(namespace, 0)
    if counted != records:
        raise RuntimeError(f"{name}: reported {records} records, the Pinecone server counted {counted}")
    if documents != jira.issues:
        raise RuntimeError(f"{name}: {documents} documents of {jira.issues} issues")
    wall = child.wall_seconds
    return {**child.as_dict(), "contender": name, "documents": documents, "records": records,
            "documents_per_second": round(documents / wall, 2), "records_per_second": round(records / wall, 2),
            "cpu_ms_per_document": round(child.cpu_seconds / documents * 1000, 4),
            "jira_server_cpu_seconds": round(j1 - j0, 3), "pinecone_server_cpu_seconds": round(p1 - p0, 3),
            "disk_bytes": disk, **phases, **embedded}


# --- 1. end to end ---------------------------------------------------------------------------------


def e2e_section(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    contenders = [c for c in args.contenders.split(",") if c]
    with contextlib.ExitStack() as stack:
        jira = stack.enter_context(JiraFastServer(issues=args.issues, projects=args.projects,
                                                  templates=args.templates, seed=args.seed))
        pinecone = stack.enter_context(FastServer(store=True, dimension=args.dimension))
        embedder = stack.enter_context(OpenAIFastServer(dimension=args.dimension)) if args.embedder == "openai" \
            else None
        print(f"e2e: {args.issues:,} issues in {jira.projects} on {jira.url}; Pinecone on {pinecone.url}; embedder "
              + (f"openai on {embedder.url}" if embedder else f"hash ({args.dimension})"), flush=True)

        def run_one(c: str, r: int) -> dict[str, Any]:
            run = run_contender(c, jira, pinecone, scratch, f"{c}-r{r + 1}", args.dimension, args.verify_sample,
                                embedder=embedder)
            print(f"e2e: round {r + 1}/{args.repetitions} {c:13} {run['documents_per_second']:9,.0f} docs/s, "
                  f"{run['cpu_seconds']:7.1f} CPU s, peak RSS {run['max_rss_mb']:6.0f} MB, "
                  f"{run['records']:,} records", flush=True)
            return run

        runs, rounds = alternating_rounds(contenders, args.repetitions, args.quiet_wait, run_one,
                                          "documents_per_second")
        served = jira.stats()
    rows = [summarize_runs(c, runs[c]) for c in contenders]
    ratios = paired_ratios(runs, rounds, "backfill-cli", "reference") if {"backfill-cli", "reference"} <= set(runs) \
        else {}
    if {"backfill-api", "reference"} <= set(runs):
        ratios["backfill_api_vs_reference"] = paired_ratios(runs, rounds, "backfill-api", "reference")
    return {"issues": args.issues, "projects": args.projects, "dimension": args.dimension,
            "embedder": args.embedder, "verify_sample": args.verify_sample, "repetitions": args.repetitions,
            "rows": rows, "rounds": rounds,
            "ratios": ratios, "jira_server_totals": served,
            "bytes_per_issue": round(served["body_bytes"] / max(1, served["issues"]), 1)}


def summarize_runs(name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ["documents_per_second", "records_per_second", "wall_seconds", "cpu_seconds", "max_rss_mb",
            "cpu_ms_per_document", "jira_server_cpu_seconds", "pinecone_server_cpu_seconds", "other_cpu_seconds",
            "disk_bytes", "embedder_server_cpu_seconds"]
    med = {k: round(median(r[k] for r in runs), 3) for k in keys if k in runs[0]}
    return {"contender": name, "median": med, "records": runs[0]["records"], "documents": runs[0]["documents"],
            "spread_percent": round(spread_percent([r["documents_per_second"] for r in runs]), 1), "runs": runs}


def paired_ratios(runs: dict[str, list[dict[str, Any]]], rounds: list[Any], a: str, b: str) -> dict[str, Any]:
    """Medians of the per-round ratios of a to b (a slow moment of the machine hits both of a round)."""
    pairs = list(zip(runs[a], runs[b]))
    return {"documents_per_second": round(median(x["documents_per_second"] / y["documents_per_second"]
                                                 for x, y in pairs), 3),
            "cpu_seconds": round(median(y["cpu_seconds"] / x["cpu_seconds"] for x, y in pairs), 3),
            "per_round_cpu_seconds": [round(y["cpu_seconds"] / x["cpu_seconds"], 3) for x, y in pairs],
            "max_rss_mb": round(median(x["max_rss_mb"] / y["max_rss_mb"] for x, y in pairs), 3),
            "per_round_documents_per_second": [round(x["documents_per_second"] / y["documents_per_second"], 3)
                                               for x, y in pairs]}


# --- 2. the upsert stage ---------------------------------------------------------------------------


def make_upsert_dataset(path: Path, records: int, dimension: int, seed: int, templates: int) -> dict[str, Any]:
    """Records shaped like the e2e's: Jira chunks (text, metadata as backfill writes it), hash vectors.
    Written to path (.f32 values, .jsonl ids and metadata) for the child processes."""
    from backfill import _core
    from backfill._core import _testing
    from reference_pipeline import split_text

    embedder = _core.HashEmbedder(dimension)
    issues = max(100, records // 3)  # ~3.6 chunks an issue: enough issues for the records asked for
    values = array.array("f")
    n = 0
    with JiraFastServer(issues=issues, projects=1, templates=templates, seed=seed) as jira, \
            open(path.with_suffix(".jsonl"), "w", encoding="utf-8") as meta_out:
        token = None
        project = jira.projects[0]
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while n < records:
            q = {"jql": f'project = "{project}" AND updated >= "1970-01-01" ORDER BY key ASC', "maxResults": "100",
                 "fields": "summary,description,status,issuetype,priority,labels,components,assignee,reporter,"
                           "created,updated,comment,project,parent"}
            if token:
                q["nextPageToken"] = token
            req = urllib.request.Request(f"{jira.url}/rest/api/3/search/jql?{urllib.parse.urlencode(q)}",
                                         headers={"Authorization": AUTH})
            with opener.open(req, timeout=120) as r:
                raw = r.read().decode()
            page = json.loads(raw)
            docs = _testing.normalize_jira_page('{"search":' + raw + ',"comments":{}}', jira.url)
            texts, metas = [], []
            for d in docs:
                base = {**d["metadata"], "doc_id": d["id"], "source": "jira", "partition": project,
                        "title": d["title"], "url": d["url"], "created_at": d["created_at"],
                        "updated_at": d["updated_at"]}
                for i, text in enumerate(split_text(d["title"], d["text"])):
                    texts.append(text)
                    metas.append((f"{d['id']}#{i}", {**base, "chunk": i, "text": text}))
            for (rid, md), v in zip(metas, embedder.embed(texts)):
                if n >= records:
                    break
                values.extend(v)
                meta_out.write(json.dumps({"id": rid, "metadata": md}, ensure_ascii=False) + "\n")
                n += 1
            token = page.get("nextPageToken")
            if page["isLast"]:
                break
    with open(path.with_suffix(".f32"), "wb") as f:
        values.tofile(f)
    md_bytes = path.with_suffix(".jsonl").stat().st_size / max(1, n)
    return {"records": n, "dimension": dimension, "metadata_line_bytes": round(md_bytes, 1)}


class _ServerShim:
    """What pinecone_bench.Runner needs of a server that another process started."""

    def __init__(self, url: str, pid: int) -> None:
        self.url, self.pid, self.port = url, pid, int(url.rsplit(":", 1)[1])

    def stats(self) -> dict[str, Any]:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url + "/__bench/stats", timeout=10) as r:
            return dict(json.loads(r.read()))


def load_dataset(spec: dict[str, Any], limit: int | None = None) -> Any:
    """The first `limit` (default: all) records the parent wrote for the upsert stage, as a
    pinecone_bench.Dataset: ids and metadata from the .jsonl file, float32 values from the .f32 file."""
    import pinecone_bench as pb

    base = Path(spec["dataset"])
    dim = spec["dimension"]
    ids, metadata = [], []
    with open(base.with_suffix(".jsonl"), encoding="utf-8") as f:
        for line in itertools.islice(f, limit):
            x = json.loads(line)
            ids.append(x["id"])
            metadata.append(x["metadata"])
    values = array.array("f")
    with open(base.with_suffix(".f32"), "rb") as f:
        values.fromfile(f, len(ids) * dim)
    return pb.Dataset(dim, ids, values, metadata)


def child_upsert(spec: dict[str, Any]) -> int:
    """One upsert-stage contender in its own process: load the records, upsert them all, print the sample."""
    import pinecone_bench as pb

    data = load_dataset(spec)
    ids = data.ids
    server = _ServerShim(spec["url"], spec["server_pid"])
    runner = pb.Runner(server, data, min(spec["chunk"], len(ids)))  # type: ignore[arg-type]
    name, url = spec["contender"], spec["url"]
    if name == "backfill":
        c = pb.make_backfill(url, spec["max_in_flight"])
    elif name == "sdk-rest":
        c = pb.make_sdk_rest_async_req(url, spec["rest_batch"], spec["threads"])
    else:
        c = pb.make_sdk_grpc(url, spec["grpc_batch"], spec["grpc_concurrency"])
    try:
        runner.run(c, 0, min(len(ids), 500), spec["namespace"] + "-warmup")
        sample = runner.run(c, 0, len(ids), spec["namespace"])
    finally:
        c.close()
    print(json.dumps({"label": c.label, **sample.as_dict()}))
    return 0


def upsert_section(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    import pinecone_bench as pb

    dataset = scratch / "upsert-records"
    t = time.perf_counter()
    facts = make_upsert_dataset(dataset, args.upsert_records, args.dimension, args.seed, args.templates)
    print(f"upsert: {facts['records']:,} records of dimension {args.dimension} made in "
          f"{time.perf_counter() - t:.0f} s", flush=True)
    contenders = [c for c in UPSERT_CONTENDERS if c in args.upsert_contenders.split(",")]
    why_no_grpc = pb.grpc_unavailable()
    skipped = {}
    if why_no_grpc and "sdk-grpc" in contenders:
        contenders.remove("sdk-grpc")
        skipped["sdk-grpc"] = why_no_grpc
    with FastServer(store=False, dimension=args.dimension) as server:
        # Batch sizes for the SDK: the most records under 2 MB, from the bytes a small probe put on the wire.
        spec0 = {"dataset": str(dataset), "dimension": args.dimension, "url": server.url, "server_pid": server.pid,
                 "chunk": 10_000, "max_in_flight": 16, "threads": 8, "grpc_concurrency": 16}
        batches = probe_batches(server, spec0, "sdk-grpc" in contenders)
        spec0.update(batches)

        def run_one(c: str, r: int) -> dict[str, Any]:
            spec = {**spec0, "contender": c, "namespace": f"{c}-r{r + 1}"}
            s0 = server.cpu_seconds()
            child = run_child([PYTHON, str(Path(__file__).resolve()), "--child-upsert", json.dumps(spec)],
                              cwd=str(scratch))
            s1 = server.cpu_seconds()
            if child.returncode != 0:
                raise RuntimeError(f"upsert {c} failed:\n{child.stdout[-2000:]}\n{child.stderr[-4000:]}")
            sample = json.loads(child.stdout.strip().splitlines()[-1])
            print(f"upsert: round {r + 1}/{args.repetitions} {c:9} {sample['records_per_second']:9,.0f} records/s "
                  f"({sample['label']}), client CPU {sample['client_cpu_us_per_record']:.0f} µs/record, peak RSS "
                  f"{child.max_rss_mb:.0f} MB", flush=True)
            return {**sample, "process": child.as_dict(), "server_cpu_seconds_process": round(s1 - s0, 3)}

        runs, rounds = alternating_rounds(contenders, args.repetitions, args.quiet_wait, run_one, "records_per_second")
    rows = []
    for c in contenders:
        rs = runs[c]
        rows.append({"contender": c, "label": rs[0]["label"], "records": rs[0]["records"],
                     "median": {k: round(median(r[k] for r in rs), 2) for k in
                                ("records_per_second", "client_cpu_us_per_record", "client_cpu_percent",
                                 "server_cpu_percent", "other_cpu_percent", "wire_bytes_per_record",
                                 "records_per_request", "call_seconds")}
                     | {"process_cpu_seconds": round(median(r["process"]["cpu_seconds"] for r in rs), 2),
                        "process_max_rss_mb": round(median(r["process"]["max_rss_mb"] for r in rs), 1)},
                     "spread_percent": round(spread_percent([r["records_per_second"] for r in rs]), 1), "runs": rs})
    ratios: dict[str, Any] = {}
    for c in contenders:
        if c != "backfill":
            pairs = list(zip(runs["backfill"], runs[c]))
            ratios[f"backfill_vs_{c.replace('-', '_')}"] = {
                "records_per_second": round(median(a["records_per_second"] / b["records_per_second"]
                                                   for a, b in pairs), 3),
                "cpu_per_record": round(median(a["client_cpu_us_per_record"] / b["client_cpu_us_per_record"]
                                               for a, b in pairs), 3)}
    sdk = [r for r in rows if r["contender"] != "backfill"]
    if sdk:
        best = max(sdk, key=lambda r: r["median"]["records_per_second"])
        ratios["sdk_best"] = best["contender"]
        ratios["backfill_vs_sdk_best"] = ratios[f"backfill_vs_{best['contender'].replace('-', '_')}"][
            "records_per_second"]
    for f in (dataset.with_suffix(".f32"), dataset.with_suffix(".jsonl")):
        f.unlink(missing_ok=True)
    return {**facts, "repetitions": args.repetitions, "settings": batches, "skipped": skipped, "rows": rows,
            "rounds": rounds, "ratios": ratios}


def probe_batches(server: FastServer, spec0: dict[str, Any], grpc: bool) -> dict[str, int]:
    import pinecone_bench as pb

    out: dict[str, int] = {}
    for name, key in (("sdk-rest", "rest_batch"), ("sdk-grpc", "grpc_batch")):
        if name == "sdk-grpc" and not grpc:
            continue
        before = server.stats()
        spec = {**spec0, "contender": name, "namespace": "probe", "rest_batch": 20, "grpc_batch": 20, "chunk": 20,
                "probe": True}
        child = run_child([PYTHON, str(Path(__file__).resolve()), "--child-probe", json.dumps(spec)])
        if child.returncode != 0:
            raise RuntimeError(f"probe {name} failed: {child.stderr[-3000:]}")
        after = server.stats()
        per_record = (after["body_bytes"] - before["body_bytes"]) / 20
        out[key] = pb.largest_batch(per_record)
    out.setdefault("rest_batch", 50)
    out.setdefault("grpc_batch", 250)
    return out


def child_probe(spec: dict[str, Any]) -> int:
    """20 records in one request: what the server receives tells the bytes per record."""
    import pinecone_bench as pb

    data = load_dataset(spec, 20)
    records = data.build(0, len(data.ids))
    c = pb.make_sdk_rest(spec["url"], 20, 1) if spec["contender"] == "sdk-rest" else pb.make_sdk_grpc(spec["url"], 20, 1)
    try:
        c.upsert(records, "probe")
    finally:
        c.close()
    return 0


# --- 3. the memory ladder --------------------------------------------------------------------------


def ladder_section(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    sizes = [int(x) for x in args.ladder.split(",") if x]
    contenders = [c for c in args.ladder_contenders.split(",") if c]
    points = []
    for n in sizes:
        with JiraFastServer(issues=n, projects=args.projects, templates=args.templates, seed=args.seed) as jira, \
                FastServer(store=True, dimension=args.ladder_dimension) as pinecone:
            for rep in range(args.ladder_repetitions):
                order = rotated(contenders, rep)
                for c in order:
                    wait_for_quiet(args.quiet_wait)
                    run = run_contender(c, jira, pinecone, scratch, f"{c}-n{n}-r{rep + 1}", args.ladder_dimension,
                                        args.verify_sample)
                    run.update({"size": n, "repetition": rep + 1, "server_max_rss_mb_note": "servers not counted"})
                    points.append(run)
                    print(f"ladder: {n:>9,} issues {c:13} peak RSS {run['max_rss_mb']:7.1f} MB, "
                          f"{run['documents_per_second']:8,.0f} docs/s, {run['cpu_seconds']:8.1f} CPU s, "
                          f"disk {run['disk_bytes'] / 1e9:.2f} GB", flush=True)
                    args.checkpoint("ladder", ladder_summary(args, sizes, contenders, points))
    return ladder_summary(args, sizes, contenders, points)


def ladder_summary(args: argparse.Namespace, sizes: list[int], contenders: list[str],
                   points: list[dict[str, Any]]) -> dict[str, Any]:
    summary = []
    for c in contenders:
        for n in sizes:
            rs = [p for p in points if p["contender"] == c and p["size"] == n]
            if rs:
                summary.append({"contender": c, "size": n, "runs": len(rs),
                                "max_rss_mb": round(median(r["max_rss_mb"] for r in rs), 1),
                                "documents_per_second": round(median(r["documents_per_second"] for r in rs), 1),
                                "cpu_seconds": round(median(r["cpu_seconds"] for r in rs), 1),
                                "wall_seconds": round(median(r["wall_seconds"] for r in rs), 1),
                                "records": rs[0]["records"], "disk_bytes": rs[0]["disk_bytes"]})
    return {"sizes": sizes, "dimension": args.ladder_dimension, "repetitions": args.ladder_repetitions,
            "points": points, "summary": summary}


# --- 4. latency-bound efficiency --------------------------------------------------------------------


def latency_section(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    """bench/latency_bench.py: overlapped stages under fixture latencies against the ideal bound (its
    own fakes and settings; --quick for a smoke run, which never replaces the real result)."""
    out = scratch / "latency-quick.json" if args.quick else RESULTS / "latency.json"
    cmd = [PYTHON, str(HERE / "latency_bench.py"), "--out", str(out)] + (["--quick"] if args.quick else [])
    p = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"latency_bench failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return json.loads(out.read_text()) | {"status": "measured"}


# --- 5. normalization ------------------------------------------------------------------------------


def normalize_section(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.normalize_json)
    if args.quick:  # a smoke run never replaces the real result
        out = args.out.with_name(args.out.stem + "-normalize-quick.json")
    if args.normalize or args.quick:
        cmd = [PYTHON, str(HERE / "jira_normalize_bench.py"), "--out", str(out)] + (["--quick"] if args.quick else [])
        p = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"jira_normalize_bench failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return normalize_summary(out)


def normalize_summary(out: Path) -> dict[str, Any]:
    """The e2e report's view of a bench/jira_normalize_bench.py result file."""
    if not out.exists():
        return {"status": "not run", "note": f"run bench/jira_normalize_bench.py (writes {out})"}
    r = json.loads(out.read_text())
    rows = {row["implementation"]: row for row in r["rows"]}
    return {"status": "measured", "source": str(out), "created_at": r["created_at"], "quick": r["quick"],
            "pages": r["pages"], "bytes": r["bytes"], "documents": r["documents"], "repetitions": r["repetitions"],
            "rows": [{"implementation": k, "mb_per_second": round(v["mb_per_second"], 2),
                      "cpu_mb_per_second": round(v["cpu_mb_per_second"] or 0, 2),
                      "documents_per_second": round(v["documents_per_second"] or 0, 1),
                      "spread_percent": round(v["spread_percent"], 1)} for k, v in rows.items()],
            "speedup_vs_python": {k: round(v["median_of_round_ratios"], 2) for k, v in r["speedup_vs_python"].items()},
            "goal": r["goal"]}


# --- main ------------------------------------------------------------------------------------------


def goals(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    e2e = result.get("e2e")
    if e2e and e2e.get("ratios"):
        x = e2e["ratios"]["documents_per_second"]
        out["e2e_vs_reference"] = {"goal": GOALS["e2e_vs_reference"], "value": x, "met": x >= GOALS["e2e_vs_reference"]}
    up = result.get("upsert")
    if up and "backfill_vs_sdk_best" in up.get("ratios", {}):
        x = up["ratios"]["backfill_vs_sdk_best"]
        out["upsert_vs_sdk"] = {"goal": GOALS["upsert_vs_sdk"], "value": x, "met": x >= GOALS["upsert_vs_sdk"],
                                "sdk": up["ratios"]["sdk_best"]}
    lad = result.get("ladder")
    if lad and lad.get("summary"):
        bf = sorted((s for s in lad["summary"] if s["contender"].startswith("backfill")), key=lambda s: s["size"])
        if bf:
            top = bf[-1]
            flat = top["max_rss_mb"] / bf[0]["max_rss_mb"]
            out["rss"] = {"goal_mb": GOALS["rss_mb_at_1m"], "largest_size": top["size"], "value_mb": top["max_rss_mb"],
                          "met_at_largest": top["max_rss_mb"] <= GOALS["rss_mb_at_1m"],
                          "growth_smallest_to_largest": round(flat, 3), "flat": flat <= GOALS["rss_flat_ratio"]}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, one round")
    ap.add_argument("--only", default="e2e,upsert,ladder,latency,normalize",
                    help="comma-separated sections (e2e, upsert, ladder, latency, normalize)")
    ap.add_argument("--issues", type=int, help="issues for the e2e section (default 50000; --quick 120)")
    ap.add_argument("--projects", type=int, default=4)
    ap.add_argument("--templates", type=int, help="distinct issues the Jira server renders from (default 1000)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dimension", type=int, default=1536, help="embedding dimension for e2e and upsert")
    ap.add_argument("--embedder", choices=("hash", "openai"), default="hash",
                    help="e2e: the C++ hash embedder in every process, or bench/openai_fast_server.py reached "
                         "over HTTP (backfill's openai embedder, the openai SDK in the reference)")
    ap.add_argument("--repetitions", type=int, help="rounds for e2e and upsert (default 3, at least 3 unless --quick)")
    ap.add_argument("--contenders", default=",".join(E2E_CONTENDERS))
    ap.add_argument("--verify-sample", type=int, default=VERIFY_SAMPLE,
                    help="records backfill's verify reads back (0: all)")
    ap.add_argument("--upsert-records", type=int, help="records for the upsert stage (default 50000; --quick 400)")
    ap.add_argument("--upsert-contenders", default=",".join(UPSERT_CONTENDERS))
    ap.add_argument("--ladder", help="issue counts for the memory ladder (default 10000,100000; --quick 100,300)")
    ap.add_argument("--ladder-contenders", default=",".join(LADDER_CONTENDERS))
    ap.add_argument("--ladder-dimension", type=int, default=256,
                    help="embedding dimension of the ladder (default 256: disk; see BENCHMARKS.md)")
    ap.add_argument("--ladder-repetitions", type=int, default=1)
    ap.add_argument("--normalize", action="store_true", help="run bench/jira_normalize_bench.py now (else its "
                    "last result is read)")
    ap.add_argument("--normalize-json", default=str(RESULTS / "jira_normalize.json"))
    ap.add_argument("--quiet-wait", type=float, default=10.0, help="before each run, wait up to this long for the "
                    "rest of the machine to go under a quarter of a core")
    ap.add_argument("--scratch", type=Path, help="where workdirs and caches go (default: a temporary directory)")
    ap.add_argument("--out", type=Path, default=RESULTS / "e2e.json")
    ap.add_argument("--backfill-python", help="the Python whose installed backfill the e2e's and the ladder's "
                    "backfill contenders run (default: this one; `make bench` passes the wheel's, "
                    "scripts/bench_venv.sh); the upsert section runs in this one, beside the SDKs")
    ap.add_argument("--child-api", help=argparse.SUPPRESS)
    ap.add_argument("--child-upsert", help=argparse.SUPPRESS)
    ap.add_argument("--child-probe", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_api:
        return child_api(json.loads(args.child_api))
    if args.child_upsert:
        return child_upsert(json.loads(args.child_upsert))
    if args.child_probe:
        return child_probe(json.loads(args.child_probe))
    q = args.quick
    args.issues = args.issues or (120 if q else 50_000)
    args.templates = args.templates or (40 if q else 1000)
    args.repetitions = args.repetitions or (1 if q else 3)
    if not q and args.repetitions < 3:
        ap.error("--repetitions must be at least 3 (medians of >= 3 runs), or use --quick")
    args.upsert_records = args.upsert_records or (400 if q else 50_000)
    args.ladder = args.ladder or ("100,300" if q else "10000,100000")
    if q:
        args.quiet_wait = min(args.quiet_wait, 0.0)
    sections = [s for s in args.only.split(",") if s]
    global BACKFILL_PYTHON, BACKFILL_CLI
    if args.backfill_python:
        BACKFILL_PYTHON = str(Path(args.backfill_python).absolute())
        BACKFILL_CLI = str(Path(BACKFILL_PYTHON).parent / "backfill")
    install = backfill_install(BACKFILL_PYTHON)
    byte_compile_backfill()  # this interpreter's backfill (the upsert section's), as a pip install leaves it
    unknown = set(sections) - {"e2e", "upsert", "ladder", "latency", "normalize"}
    if unknown:
        ap.error(f"unknown sections: {sorted(unknown)}")

    started = time.perf_counter()
    result: dict[str, Any] = {
        "schema": SCHEMA, "created_at": now_utc(), "quick": q,
        "command": " ".join(["bench/e2e_bench.py", *(argv if argv is not None else sys.argv[1:])]),
        "host": host_info(),
        "versions": versions("pinecone", "requests", "orjson", "urllib3", "grpcio", "openai", "numpy"),
        "backfill_install": install,
        "goals": {}, "sections": sections,
    }
    def checkpoint(section: str, partial: dict[str, Any]) -> None:
        """Writes what is measured so far (a long ladder interrupted keeps its finished points)."""
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({**result, section: {**partial, "partial": True}}, indent=2) + "\n")

    args.checkpoint = checkpoint
    scratch_ctx = tempfile.TemporaryDirectory(prefix="backfill-e2e-", dir=args.scratch)
    with scratch_ctx as tmp:
        scratch = Path(tmp)
        b0 = machine_busy_seconds()
        if "e2e" in sections:
            result["e2e"] = e2e_section(args, scratch)
        if "upsert" in sections:
            result["upsert"] = upsert_section(args, scratch)
        if "ladder" in sections:
            result["ladder"] = ladder_section(args, scratch)
        if "latency" in sections:
            result["latency"] = latency_section(args, scratch)
        if "normalize" in sections:
            result["normalize"] = normalize_section(args)
        result["machine_busy_seconds"] = round(machine_busy_seconds() - b0, 1)
    result["goals"] = goals(result)
    result["duration_seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"e2e_bench: wrote {args.out} in {result['duration_seconds']:.0f} s; goals: "
          + json.dumps(result["goals"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
