#!/usr/bin/env python3
"""Writes BENCHMARKS.md from the JSON the benchmarks wrote, so that it can be made again from them.

    .venv/bin/python bench/write_benchmarks_md.py                      # bench/results/e2e.json -> BENCHMARKS.md
    .venv/bin/python bench/write_benchmarks_md.py --e2e A.json --ladder B.json --ladder C.json --out X.md
    .venv/bin/python bench/write_benchmarks_md.py --only pgvector     # section 6 alone, in the existing file
    .venv/bin/python bench/write_benchmarks_md.py --only github       # section 7 alone, in the existing file
    .venv/bin/python bench/write_benchmarks_md.py --only quota        # section 4b alone, in the existing file
    .venv/bin/python bench/write_benchmarks_md.py --only e2e-openai   # section 1b and the findings
    .venv/bin/python bench/write_benchmarks_md.py --only findings     # the findings (bench/findings.md) alone

--ladder adds the memory-ladder points of other runs of bench/e2e_bench.py (the 1M point is a run
of its own); for the same contender and size, the --e2e file's own point wins, then the last --ladder.
Everything printed comes from the JSON; the prose around the tables is fixed text, and the
"Findings" section is read from bench/findings.md (written by whoever ran the profile), so that the
generated file keeps it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _common import RESULTS  # noqa: E402


def fmt(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def merge_ladders(base: dict[str, Any] | None, extra: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ladder of the main result with the points of other files: per contender and size, the main
    result wins (it is the newest run), then the later of the other files."""
    sources = extra + ([base] if base else [])
    if not sources:
        return None
    points: dict[tuple[str, int], list[dict[str, Any]]] = {}
    meta: dict[str, Any] = {}
    for s in sources:
        by: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for p in s["points"]:
            by.setdefault((p["contender"], p["size"]), []).append({**p, "dimension": s["dimension"],
                                                                   "file_created_at": s.get("created_at", "")})
        points.update(by)
        cmd = s.get("command", "")
        if cmd and s.get("partial"):
            cmd += "` (stopped early: its finished points only) `"
        meta = {"dimension": s["dimension"], "commands": meta.get("commands", []) + [cmd]}
    summary = []
    for (c, n), runs in sorted(points.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        rss = sorted(r["max_rss_mb"] for r in runs)
        summary.append({"contender": c, "size": n, "runs": len(runs), "max_rss_mb": rss[len(rss) // 2],
                        "documents_per_second": sorted(r["documents_per_second"] for r in runs)[len(runs) // 2],
                        "cpu_seconds": sorted(r["cpu_seconds"] for r in runs)[len(runs) // 2],
                        "wall_seconds": sorted(r["wall_seconds"] for r in runs)[len(runs) // 2],
                        "other_cpu_seconds": sorted(r["other_cpu_seconds"] for r in runs)[len(runs) // 2],
                        "records": runs[0]["records"], "disk_bytes": runs[0]["disk_bytes"],
                        "dimension": runs[0]["dimension"]})
    return {**meta, "summary": summary}


def section_e2e(e: dict[str, Any]) -> list[str]:
    rows = e["rows"]
    out = [f"{e['issues']:,} issues in {e['projects']} projects (~{e['bytes_per_issue'] / 1000:.0f} kB of JSON an "
           f"issue as served, comment pages included), embedding dimension {e['dimension']}, backfill's verify "
           f"reading back {e['verify_sample']:,} records (0 = all) after its count check; {e['repetitions']} rounds, "
           "contenders alternated in a rotating order; medians.", "",
           "| contender | documents/s | records | wall s | CPU s | CPU ms/document | peak RSS MB | Jira server CPU s "
           "| Pinecone server CPU s | rest of machine CPU s | spread % |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        m = r["median"]
        out.append(f"| {r['contender']} | {fmt(m['documents_per_second'])} | {fmt(r['records'])} "
                   f"| {fmt(m['wall_seconds'], 1)} | {fmt(m['cpu_seconds'], 1)} | {m['cpu_ms_per_document']:.2f} "
                   f"| {fmt(m['max_rss_mb'])} | {fmt(m['jira_server_cpu_seconds'], 1)} "
                   f"| {fmt(m['pinecone_server_cpu_seconds'], 1)} | {fmt(m['other_cpu_seconds'], 1)} "
                   f"| {r['spread_percent']:.0f} |")
    q = e.get("ratios", {})
    if q:
        out += ["", "| ratio (median of the per-round ratios) | value |", "|---|---:|",
                f"| backfill-cli ÷ reference, documents/s | **{q['documents_per_second']:.2f}×** |",
                f"| reference ÷ backfill-cli, CPU seconds | {q['cpu_seconds']:.2f}× |",
                f"| backfill-cli ÷ reference, peak RSS | {q['max_rss_mb']:.2f}× |"]
        api = q.get("backfill_api_vs_reference")
        if api:
            out.append(f"| backfill-api ÷ reference, documents/s | {api['documents_per_second']:.2f}× |")
        out.append(f"| per round (backfill-cli ÷ reference, documents/s) | "
                   f"{', '.join(f'{x:.2f}' for x in q['per_round_documents_per_second'])} |")
    return out


def section_upsert(u: dict[str, Any]) -> list[str]:
    out = [f"{u['records']:,} records of dimension {u['dimension']} shaped like the e2e's (Jira chunk text and "
           f"metadata, hash vectors; ~{u['metadata_line_bytes']:.0f} B of id and metadata each), upserted in calls of "
           f"10,000 records by each contender in its own process; {u['repetitions']} rounds, alternated; medians. "
           "SDK batch sizes: the most records under Pinecone's 2 MB per request, probed on the wire. "
           "*client CPU* is the process's CPU inside the upsert calls; *process* columns are the whole child, "
           "whose peak RSS is mostly the harness's copy of every record (float32 arrays, then Python dicts of "
           "10,000 records), the same for every contender.", "",
           "| contender | API and settings | records/s | client CPU µs/record | client CPU % | wire B/record "
           "| records/request | process CPU s | process peak RSS MB | server CPU % | spread % |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in u["rows"]:
        m = r["median"]
        out.append(f"| {r['contender']} | `{r['label']}` | {fmt(m['records_per_second'])} "
                   f"| {fmt(m['client_cpu_us_per_record'])} | {fmt(m['client_cpu_percent'])} "
                   f"| {fmt(m['wire_bytes_per_record'])} | {fmt(m['records_per_request'])} "
                   f"| {fmt(m['process_cpu_seconds'], 1)} | {fmt(m['process_max_rss_mb'])} "
                   f"| {fmt(m['server_cpu_percent'])} | {r['spread_percent']:.0f} |")
    q = u.get("ratios", {})
    if q:
        out += ["", "| ratio (median of the per-round ratios) | records/s | client CPU per record |", "|---|---:|---:|"]
        for k, v in q.items():
            if k.startswith("backfill_vs_") and isinstance(v, dict):
                out.append(f"| backfill ÷ {k[12:].replace('_', '-')} | **{v['records_per_second']:.2f}×** "
                           f"| {v['cpu_per_record']:.2f}× |")
    for k, why in u.get("skipped", {}).items():
        out.append(f"\n{k} skipped: {why}")
    return out


def section_ladder(lad: dict[str, Any]) -> list[str]:
    out = ["| contender | issues | records | peak RSS MB | documents/s | CPU s | wall s | rest of machine CPU s "
           "| disk at the end GB | dimension | runs |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in lad["summary"]:
        out.append(f"| {s['contender']} | {fmt(s['size'])} | {fmt(s['records'])} | **{s['max_rss_mb']:.0f}** "
                   f"| {fmt(s['documents_per_second'])} | {fmt(s['cpu_seconds'], 1)} | {fmt(s['wall_seconds'], 1)} "
                   f"| {fmt(s['other_cpu_seconds'], 1)} | {s['disk_bytes'] / 1e9:.2f} | {s['dimension']} | {s['runs']} |")
    return out


def section_normalize(n: dict[str, Any]) -> list[str]:
    if n.get("status") != "measured":
        return [f"Not measured in this run: {n.get('note', '')}"]
    out = [f"`bench/jira_normalize_bench.py` ({n['created_at']}{', --quick' if n['quick'] else ''}): {n['pages']} "
           f"journal pages, {n['bytes'] / 1e6:.1f} MB, {n['documents']:,} documents, {n['repetitions']} rounds; "
           "medians.", "", "| implementation | MB/s | CPU MB/s | documents/s | spread % | core is × faster |",
           "|---|---:|---:|---:|---:|---:|"]
    for r in n["rows"]:
        x = n["speedup_vs_python"].get(r["implementation"])
        out.append(f"| {r['implementation']} | {r['mb_per_second']:.1f} | {r['cpu_mb_per_second']:.1f} "
                   f"| {fmt(r['documents_per_second']) if r['documents_per_second'] else ''} "
                   f"| {r['spread_percent']:.0f} | {f'{x:.1f}' if x else ''} |")
    g = n.get("goal", {})
    if g:
        out.append(f"\nGoal ≥ {g['speedup']:.0f}× pure Python (json): {'met' if g['met'] else 'NOT met'}.")
    return out


def section_quota(q: dict[str, Any]) -> list[str]:
    """bench/quota_bench.py's result: each binding quota, backfill against its ideal bound and the plain script."""
    st, w = q["settings"], q["work"]
    rpm = f"embedding requests, {st['rpm']:g} a minute"
    if st.get("rpm_max_inputs"):
        rpm += f" ({st['rpm_max_inputs']} texts a request at most)"
    quotas = {"tpm": f"embedding tokens, {st['tpm']:,.0f} a minute", "rpm": rpm,
              "jira": f"Jira requests, {st['jira_rps']} a second"}
    if "pinecone_rps" in st:
        quotas["pinecone"] = (f"Pinecone upsert requests, {st['pinecone_rps']:g} a second "
                              f"({st['pinecone_max_records']} records an upsert at most)")
    out = [f"`{q['command']}` ({q['date']}): a Jira → chunk → OpenAI-compatible embedder → Pinecone backfill of "
           f"{st['issues']:,} issues ({w['pages']} search pages, {w['texts']:,} texts, {w['tokens']:,} tokens as the "
           f"fake counts them) against the test fakes ({st['page_latency'] * 1000:.0f} ms a page, "
           f"{st['embed_latency'] * 1000:.0f} ms an embedding request, {st['upsert_latency'] * 1000:.0f} ms an upsert), "
           "one quota binding at a time, OpenAI's model for the embedder's (per minute, full at first, refilling "
           "continuously, 429 with \"try again in\"). *plain* pages through Jira, embeds the same texts in batches of "
           "100, one request at a time, upserts batches of 100, and retries every 429 after the wait it suggests. "
           "The ideal bound is the binding quota's work beyond its first full bucket over its refill rate (for "
           "requests: the fewest requests the caps allow; for Jira: the search pages and backfill's one request "
           "for the field catalogue; for Pinecone, which announces no quota: the upserts, backfill's sink "
           "configured with the documented rate), plus one request of each stage. "
           f"{st['repetitions']} repetitions, alternated; medians; every backfill run verified.", "",
           "| binding quota | backfill s | plain s | ideal bound s | backfill ÷ ideal | plain ÷ backfill |",
           "|---|---:|---:|---:|---:|---:|"]
    for name, m in q["median"].items():
        out.append(f"| {quotas.get(name, name)} | {m['backfill_seconds']:.2f} | {m['plain_seconds']:.2f} | "
                   f"{m['ideal_seconds']:.2f} | **{m['backfill_over_ideal']:.2f}** | {m['plain_over_backfill']:.2f} |")
    return out


def verdict(x: dict[str, Any]) -> str:
    if x["met"]:
        return "met"
    return f"**missed** by {x['goal'] / x['value']:.1f}×" if x["value"] > 0 else "**missed**"


def goals_table(result: dict[str, Any], ladder: dict[str, Any] | None) -> list[str]:
    g = result.get("goals", {})
    out = ["| goal | measured | verdict |", "|---|---:|---|"]
    if "e2e_vs_reference" in g:
        x = g["e2e_vs_reference"]
        out.append(f"| end to end ≥ {x['goal']:.0f}× the reference's documents/s | {x['value']:.2f}× "
                   f"| {verdict(x)} |")
        cpu = result.get("e2e", {}).get("ratios", {}).get("cpu_seconds")
        if cpu:
            out.append(f"| (the same in CPU time: reference CPU s ÷ backfill CPU s, less sensitive to the shared "
                       f"machine) | {cpu:.2f}× | |")
    if "upsert_vs_sdk" in g:
        x = g["upsert_vs_sdk"]
        out.append(f"| upsert stage ≥ {x['goal']:.0f}× the official SDK ({x['sdk']}, its fastest here) "
                   f"| {x['value']:.2f}× | {verdict(x)} |")
    if ladder:
        bf = sorted((s for s in ladder["summary"] if s["contender"].startswith("backfill")), key=lambda s: s["size"])
        if bf:
            top, low = bf[-1], bf[0]
            ok = top["max_rss_mb"] <= 300
            out.append(f"| peak RSS ≤ 300 MB at 1M documents | {top['max_rss_mb']:.0f} MB at {top['size']:,} "
                       f"| {'met' if ok and top['size'] >= 1_000_000 else ('met at ' + fmt(top['size']) if ok else '**missed**')} |")
            growth = top["max_rss_mb"] / low["max_rss_mb"]
            out.append(f"| peak RSS flat from {low['size']:,} to {top['size']:,} | ×{growth:.2f} "
                       f"({low['max_rss_mb']:.0f} → {top['max_rss_mb']:.0f} MB) "
                       f"| {'flat (within 25 %)' if growth <= 1.25 else '**grows**'} |")
    lat = result.get("latency", {})
    if lat.get("status") == "measured":
        x = lat["median"]["overlapped_over_ideal"]
        out.append(f"| latency-bound: wall ≤ 1.2× the ideal bound | {x:.2f}× | {'met' if x <= 1.2 else '**missed**'} |")
    return out


PGVECTOR_HEADING = "## 6. PostgreSQL + pgvector: the sink against LangChain PGVector and psycopg 3"


OPENAI_HEADING = "## 1b. End to end with an OpenAI-compatible embedder: client CPU"


def installed_as(r: dict[str, Any]) -> str:
    """Which backfill a result measured: the wheel installed by pip, or an editable install of the tree."""
    kind = r.get("backfill_install", {}).get("kind", "editable")
    if kind == "wheel":
        return "backfill as users get it, this commit's wheel installed by pip by scripts/bench_venv.sh"
    return "backfill from an editable install of the tree"


def section_e2e_openai(r: dict[str, Any]) -> list[str]:
    """Section 1b from a run of `bench/e2e_bench.py --only e2e --embedder openai`."""
    e = r["e2e"]
    out = [f"Produced on {r['created_at']} (commit {r['versions'].get('backfill_commit', '?')}; {installed_as(r)}): "
           f"`{r['command']}`.", "",
           "As section 1, but every contender embeds through bench/openai_fast_server.py, an OpenAI-compatible "
           "embeddings server in a process of its own (precomputed dense unit vectors, float or base64 as asked; its "
           "CPU is reported apart): backfill with its `openai` embedder, the reference with the official `openai` "
           "SDK's `client.embeddings.create` on batches of 256 texts (its default base64, decoded by the SDK). Goal "
           "(issue 22): the reference's client CPU per document at least 10× backfill's.", ""]
    out += section_e2e(e)
    out += ["", "| contender | embeddings server CPU s | requests to it |", "|---|---:|---:|"]
    for row in e["rows"]:
        runs = row["runs"]
        out.append(f"| {row['contender']} | {fmt(row['median'].get('embedder_server_cpu_seconds', 0), 2)} "
                   f"| {fmt(sorted(x.get('embed_requests', 0) for x in runs)[len(runs) // 2])} |")
    q = e.get("ratios", {})
    if q:
        x = q["cpu_seconds"]
        out += ["", f"Client CPU per document, reference ÷ backfill-cli: **{x:.2f}×** (per round: "
                f"{', '.join(f'{v:.2f}' for v in q.get('per_round_cpu_seconds', []))}); goal 10×: "
                f"{'met' if x >= 10 else 'missed'}."]
    return out


def replace_e2e_openai_section(text: str, result: dict[str, Any], findings: str) -> str:
    """`text` (a BENCHMARKS.md) with section 1b rendered from its own result (placed before section 2) and the
    findings read again from bench/findings.md; the other sections stay as they are."""
    lines = text.split("\n")
    if OPENAI_HEADING in lines:
        start = lines.index(OPENAI_HEADING)
        end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))
    else:
        start = end = next(i for i, line in enumerate(lines) if line.startswith("## 2. "))
    lines = lines[:start] + [OPENAI_HEADING, ""] + section_e2e_openai(result) + [""] + lines[end:]
    return replace_findings("\n".join(lines), findings)


def replace_findings(text: str, findings: str) -> str:
    """`text` (a BENCHMARKS.md) with its findings (from their first line to "## Running it") read again from
    bench/findings.md; the sections measured by the benchmarks stay as they are."""
    lines = text.split("\n")
    if findings.strip():
        first = findings.strip().split("\n", 1)[0]
        if first in lines:
            start = lines.index(first)
            end = lines.index("## Running it") if "## Running it" in lines else len(lines)
            lines = lines[:start] + findings.strip().split("\n") + [""] + lines[end:]
    return "\n".join(lines)


def replace_pgvector_section(text: str, result: dict[str, Any]) -> str:
    """`text` (a BENCHMARKS.md) with section 6 rendered again from bench/pgvector_bench.py's result alone,
    for a run that measured only that section; the other sections stay as they are."""
    from pgvector_bench import section as pgvector_section

    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("## 6. "))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[:start] + [PGVECTOR_HEADING, ""] + pgvector_section(result) + [""] + lines[end:])


def section_github(gh: dict[str, Any], findings: str) -> list[str]:
    """Section 7 from bench/github_bench.py's result, its verdict, and the profile's findings (bench/findings_github.md)."""
    from github_bench import render as render_github

    x = gh["ratios"]
    cpu_met = x["cpu_per_document_reference_over_backfill"] >= 10
    lines = ["## 7. GitHub: requests and client CPU against a `requests` script", "",
             f"`{gh['command']}` ({gh['date']}; {installed_as(gh)}): backfill against bench/github_reference.py (per-issue comments, "
             "skipped when an issue says 0; per pull request its review comments and reviews) on the GitHub "
             "fake (tests/python/github_fake.py) in the harness's process. backfill-run also journals with "
             "fsync, chunks, embeds (hash), writes the local index and verifies it; the reference writes JSON "
             "lines. CPU is each child's user + system time.", "", render_github(gh), "",
             f"Requests: {'met' if gh['goals']['requests ≤ 0.5× the reference'] else '**missed**'} "
             f"({x['requests_backfill_over_reference']:.2f}×: repository-wide comment listings instead of one request "
             "per issue with comments and two per pull request). Client CPU per document: "
             f"{'met' if cpu_met else '**missed**'} ({x['cpu_per_document_reference_over_backfill']:.1f}× less for the "
             f"whole run, {x['cpu_per_document_reference_over_backfill_fetch']:.1f}× for the fetch alone)."]
    if findings.strip():
        lines += ["", findings.strip()]
    return lines


def render(result: dict[str, Any], ladder: dict[str, Any] | None, findings: str, github_findings: str = "") -> str:
    h, v = result["host"], result["versions"]
    lines = ["# Benchmarks", "",
             "<!-- Generated by bench/write_benchmarks_md.py from bench/results/*.json; edit bench/findings.md or "
             "the script, not this file. -->", "",
             f"Produced by `bench/e2e_bench.py` on {result['created_at']} ({result['duration_seconds'] / 60:.0f} min): "
             f"`{result['command']}`.", "",
             f"Machine: {h['cpus']} × {h['cpu']}, {h['memory_gb']} GB, Linux {h['kernel']}, Python {h['python']}; "
             "**shared with other engineers** (the *rest of machine* columns show how busy it was). Versions: "
             + ", ".join(f"{k} {val}" for k, val in v.items()) + ".", "",
             "Every contender run is a child process; wall time, user + system CPU and peak RSS are the kernel's "
             "accounting of that process (`os.wait4`; peak RSS through GNU time, see bench/_common.py). The servers "
             "are processes of their own; their CPU is reported apart. Ratios are medians of the per-round ratios.",
             "", "## Goals", ""]
    lines += goals_table(result, ladder)
    if "e2e" in result:
        lines += ["", "## 1. End to end, CPU-bound", "",
                  "Jira (bench/jira_fast_server.py, no added latency) → chunk → embed → Pinecone "
                  "(bench/pinecone_fast_server.py --store). `backfill-cli` is `backfill run CONFIG`, `backfill-api` "
                  "is `Pipeline(...).run()`, `reference` is bench/reference_pipeline.py (requests + json, a disk "
                  "cache of JSON files per project, `pinecone` SDK upserts). Both embed with the same C++ hash "
                  "embedder. backfill also journals every page with fsync, keeps its ledger, validates the journal "
                  "and verifies the index; the reference does none of that.", ""]
        lines += section_e2e(result["e2e"])
    if "upsert" in result:
        lines += ["", "## 2. Upsert stage: backfill's sink against the official SDK", ""]
        if "measured_by" in result["upsert"]:
            u = result["upsert"]
            lines += [f"Measured on {u['measured_at']} (commit {u.get('commit', '?')}), apart from section 1: "
                      f"`{u['measured_by']}`.", ""]
        lines += section_upsert(result["upsert"])
    if ladder:
        commands = [c for c in ladder.get("commands", []) if c]
        if result.get("ladder"):
            commands.insert(0, result["command"])
        lines += ["", "## 3. Memory scaling", "",
                  f"Peak RSS of one run at each size, embedding dimension {ladder['dimension']}: the *disk* column "
                  "is what a run left behind (backfill: journal and ledger; the reference: its page cache), and at "
                  "dimension 1536 each of the ~3.6 chunks an issue caches a 5 kB larger vector, ~18 GB more at 1M "
                  "issues, which this shared machine could not spare. The Jira server renders issues as they are "
                  "asked for and holds none; backfill's verify read back a 1,000-record sample. Commands: "
                  + "; ".join(f"`{c}`" for c in commands) + " (each a separate result file, merged here with "
                  "`bench/write_benchmarks_md.py --ladder FILE`).", ""]
        lines += section_ladder(ladder)
    lat = result.get("latency")
    lines += ["", "## 4. Latency-bound efficiency", ""]
    if lat and lat.get("status") == "measured":
        st = lat["settings"]
        m = lat["median"]
        lines += [f"`bench/latency_bench.py` ({lat['date']}): a Jira → chunk → OpenAI embedder → Pinecone backfill of "
                  f"{st['issues']:,} issues ({st['projects']} projects, {st['max_results']} a page) against the test "
                  f"fakes with fixed latencies: {st['page_latency'] * 1000:.0f} ms a search page, "
                  f"{st['embed_latency'] * 1000:.0f} ms an embeddings request (concurrency {st['embed_concurrency']}), "
                  f"{st['upsert_latency'] * 1000:.0f} ms an upsert. The ideal bound is the slowest stage's work over "
                  "its concurrency, counted from what the fakes served in the run; the sequential run is the same "
                  f"backfill with `overlap=False`. {st['repetitions']} repetitions, alternated; medians; every run "
                  "verified.", "",
                  "| run | wall s | ideal bound s | ÷ ideal |", "|---|---:|---:|---:|",
                  f"| overlapped (`run`) | {m['overlapped_seconds']:.2f} | {m['ideal_seconds']:.2f} | "
                  f"**{m['overlapped_over_ideal']:.2f}** |",
                  f"| sequential (`overlap=False`) | {m['sequential_seconds']:.2f} | {m['ideal_seconds']:.2f} | "
                  f"{m['sequential_seconds'] / m['ideal_seconds']:.2f} |", "",
                  f"Goal ≤ 1.2× the ideal bound: {'met' if m['overlapped_over_ideal'] <= 1.2 else 'missed'}. "
                  f"Overlapped is {m['sequential_over_overlapped']:.2f}× faster than sequential."]
    else:
        lines.append("Not measured in this run: `.venv/bin/python bench/latency_bench.py` writes "
                     "bench/results/latency.json, which this script reads.")
    if result.get("quota"):
        lines += ["", "## 4b. Quota-bound efficiency", ""]
        lines += section_quota(result["quota"])
    if "normalize" in result:
        lines += ["", "## 5. Normalization of Jira pages", ""]
        lines += section_normalize(result["normalize"])
    if "pgvector" in result:
        from pgvector_bench import section as pgvector_section
        lines += ["", PGVECTOR_HEADING, ""]
        lines += pgvector_section(result["pgvector"])
    gh = result.get("github")
    if gh:
        lines += [""] + section_github(gh, github_findings)
    if findings.strip():
        lines += ["", findings.strip()]
    lines += ["", "## Running it", "",
              "```sh",
              "make bench                                             # every benchmark, then this file",
              ".venv/bin/python bench/e2e_bench.py                    # sections 1-5 (~1 h); bench/results/e2e.json",
              ".venv/bin/python bench/e2e_bench.py --quick            # smoke run (what tests/python/test_bench_e2e_smoke.py runs)",
              ".venv/bin/python bench/e2e_bench.py --only e2e --issues 20000 --contenders backfill-cli,reference",
              ".venv/bin/python bench/e2e_bench.py --only e2e --embedder openai --issues 3000 --contenders "
              "backfill-cli,reference --out bench/results/e2e-openai.json  # section 1b (then --only e2e-openai)",
              ".venv/bin/python bench/write_benchmarks_md.py --ladder bench/results/ladder-1m.json",
              ".venv/bin/python bench/pgvector_bench.py                # section 6 (~5 min); bench/results/pgvector.json",
              ".venv/bin/python bench/quota_bench.py                  # section 4b (a few minutes); bench/results/quota.json",
              ".venv/bin/python bench/github_bench.py                 # section 7 (~3 min); bench/results/github.json",
              "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--e2e", type=Path, default=RESULTS / "e2e.json")
    ap.add_argument("--ladder", type=Path, action="append", default=[],
                    help="another result file whose ladder points to add (repeatable)")
    ap.add_argument("--normalize", type=Path, default=RESULTS / "jira_normalize.json",
                    help="bench/jira_normalize_bench.py's result, used when it is newer than the e2e's copy")
    ap.add_argument("--latency", type=Path, default=RESULTS / "latency.json",
                    help="bench/latency_bench.py's result, used when it is newer than the e2e's copy")
    ap.add_argument("--quota", type=Path, default=RESULTS / "quota.json", help="bench/quota_bench.py's result")
    ap.add_argument("--upsert", type=Path, default=RESULTS / "upsert.json",
                    help="a result of `bench/e2e_bench.py --only upsert`, used when the e2e has none or it is newer")
    ap.add_argument("--pgvector", type=Path, default=RESULTS / "pgvector.json",
                    help="bench/pgvector_bench.py's result (section 6), when it exists")
    ap.add_argument("--github", type=Path, default=RESULTS / "github.json", help="bench/github_bench.py's result")
    ap.add_argument("--e2e-openai", type=Path, default=RESULTS / "e2e-openai.json",
                    help="a run of e2e_bench.py --only e2e --embedder openai (section 1b)")
    ap.add_argument("--findings", type=Path, default=HERE / "findings.md")
    ap.add_argument("--github-findings", type=Path, default=HERE / "findings_github.md")
    ap.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    ap.add_argument("--only", choices=["pgvector", "github", "quota", "e2e-openai", "findings"],
                    help="render this section alone into the existing --out (the other results need not be at hand)")
    args = ap.parse_args(argv)
    github_findings = args.github_findings.read_text() if args.github_findings.exists() else ""
    if args.only == "pgvector":
        args.out.write_text(replace_pgvector_section(args.out.read_text(), json.loads(args.pgvector.read_text())))
        print(f"wrote section 6 of {args.out}")
        return 0
    if args.only == "e2e-openai":
        findings_text = args.findings.read_text() if args.findings.exists() else ""
        args.out.write_text(replace_e2e_openai_section(args.out.read_text(), json.loads(args.e2e_openai.read_text()),
                                                       findings_text))
        print(f"wrote section 1b and the findings of {args.out}")
        return 0
    if args.only == "findings":
        findings_text = args.findings.read_text() if args.findings.exists() else ""
        args.out.write_text(replace_findings(args.out.read_text(), findings_text))
        print(f"wrote the findings of {args.out}")
        return 0
    if args.only == "quota":
        text = args.out.read_text()
        start = text.index("## 4b. Quota-bound efficiency")
        end = text.index("\n## ", start)
        section = "\n".join(["## 4b. Quota-bound efficiency", ""] + section_quota(json.loads(args.quota.read_text())))
        args.out.write_text(text[:start] + section + "\n" + text[end:])
        print(f"wrote section 4b of {args.out}")
        return 0
    if args.only == "github":
        text = args.out.read_text()
        start = text.index("## 7. GitHub")
        end = text.index("\n## ", start)
        section = "\n".join(section_github(json.loads(args.github.read_text()), github_findings)) + "\n"
        args.out.write_text(text[:start] + section + text[end:])
        print(f"wrote section 7 of {args.out}")
        return 0
    result = json.loads(args.e2e.read_text())
    extra = []
    for p in args.ladder:
        r = json.loads(p.read_text())
        extra.append(r["ladder"] | {"created_at": r["created_at"], "command": r["command"]})
    ladder = merge_ladders(result.get("ladder"), extra)
    if ladder:
        bf = sorted((s for s in ladder["summary"] if s["contender"].startswith("backfill")), key=lambda s: s["size"])
        if bf:  # the goals as merged over every file
            top, low = bf[-1], bf[0]
            result.setdefault("goals", {})["rss"] = {"value_mb": top["max_rss_mb"], "largest_size": top["size"],
                                                     "growth": round(top["max_rss_mb"] / low["max_rss_mb"], 3)}
    if args.normalize.exists():
        from e2e_bench import normalize_summary

        fresh = normalize_summary(args.normalize)
        have = result.get("normalize", {})
        if not fresh["quick"] and (have.get("status") != "measured" or have.get("quick")
                                   or fresh["created_at"] > have.get("created_at", "")):
            result["normalize"] = fresh
    if args.github.exists() and not json.loads(args.github.read_text()).get("quick"):
        result["github"] = json.loads(args.github.read_text())
    if args.latency.exists():
        fresh_lat = json.loads(args.latency.read_text())
        have_lat = result.get("latency", {})
        if not fresh_lat.get("quick") and (have_lat.get("status") != "measured"
                                           or fresh_lat["date"] > have_lat.get("date", "")):
            result["latency"] = fresh_lat | {"status": "measured"}
    if args.quota.exists() and not (quota := json.loads(args.quota.read_text())).get("quick"):
        result["quota"] = quota
    if args.upsert.exists() and args.upsert.resolve() != args.e2e.resolve():
        from e2e_bench import goals

        up = json.loads(args.upsert.read_text())
        if "upsert" in up and not up.get("quick") and ("upsert" not in result
                                                      or up["created_at"] > result["created_at"]):
            result["upsert"] = up["upsert"] | {"measured_by": up["command"], "measured_at": up["created_at"],
                                               "commit": up["versions"].get("backfill_commit", "?")}
            result.setdefault("goals", {})["upsert_vs_sdk"] = goals({"upsert": up["upsert"]})["upsert_vs_sdk"]
    if args.pgvector.exists():
        result["pgvector"] = json.loads(args.pgvector.read_text())
    findings = args.findings.read_text() if args.findings.exists() else ""
    args.out.write_text(render(result, ladder, findings, github_findings))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
