#!/usr/bin/env python3
"""Workdir footprint: the bytes a verified `backfill run` leaves in its workdir per document, by part
(journal, ledger, embedding cache, other), before and after `backfill gc`.

The same backfill as bench/e2e_bench.py's (synthetic Jira issues from bench/jira_fast_server.py, ~30 kB of
JSON each -> the hash embedder at --dimension -> bench/pinecone_fast_server.py), default settings, every
record verified. The parts are `backfill status --json`'s (file sizes, the ledger's with the -wal and -shm
files it has while open); the total per document is the files left in the workdir once backfill has exited.

    .venv/bin/python bench/workdir_bench.py --issues 3000 --dimension 1536   # bench/results/workdir.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import RESULTS, git_commit, no_proxy_for_loopback, now_utc  # noqa: E402
from e2e_bench import API_KEY, BACKFILL_CLI, backfill_config  # noqa: E402
from jira_fast_server import TOKEN, JiraFastServer  # noqa: E402
from pinecone_fast_server import FastServer  # noqa: E402

no_proxy_for_loopback()


def cli(*args: str) -> dict[str, Any]:
    env = {**os.environ, "BENCH_JIRA_TOKEN": TOKEN, "BENCH_PINECONE_KEY": API_KEY}
    r = subprocess.run([BACKFILL_CLI, *args, "--json", "--progress", "none", "-q"], env=env, capture_output=True,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError(f"backfill {' '.join(args)} failed ({r.returncode}): {r.stderr[-3000:]}")
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def files_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def per_document(disk: dict[str, int], documents: int) -> dict[str, float]:
    return {part: round(n / documents, 1) for part, n in disk.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--issues", type=int, default=3000)
    ap.add_argument("--projects", type=int, default=2)
    ap.add_argument("--dimension", type=int, default=1536)
    ap.add_argument("--out", type=Path, default=RESULTS / "workdir.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="backfill-workdir-bench-") as tmp, \
            JiraFastServer(issues=args.issues, projects=args.projects) as jira, \
            FastServer(store=True, dimension=args.dimension) as pinecone:
        work = Path(tmp)
        config = work / "bench.toml"
        workdir = work / "workdir"
        backfill_config(config, jira, pinecone.url, "workdir", workdir, args.dimension, 0)
        run = cli("run", str(config))
        if not run["verify"]["ok"]:
            raise RuntimeError(f"verify failed: {run['verify']}")
        documents, records = run["ingest"]["documents_written"], run["ingest"]["chunks_written"]
        at_rest_after_run = files_bytes(workdir)
        after_run = cli("status", str(config))["disk"]
        gc = cli("gc", str(config))
        at_rest_after_gc = files_bytes(workdir)
        after_gc = cli("status", str(config))["disk"]
        again = cli("run", str(config))  # a rerun after gc: nothing to do, still verified
        if not again["verify"]["ok"] or again["ingest"]["chunks_embedded"]:
            raise RuntimeError(f"the rerun after gc: {again['ingest']} {again['verify']['ok']}")
    result = {
        "schema": "backfill.bench.workdir/1", "date": now_utc(), "commit": git_commit(),
        "command": " ".join([".venv/bin/python", "bench/workdir_bench.py", "--issues", str(args.issues),
                             "--projects", str(args.projects), "--dimension", str(args.dimension)]),
        "issues": args.issues, "documents": documents, "records": records, "dimension": args.dimension,
        "bytes_fetched": run["fetch"]["bytes_fetched"],
        "bytes_after_run": at_rest_after_run, "bytes_after_gc": at_rest_after_gc,
        "bytes_per_document_after_run": round(at_rest_after_run / documents, 1),
        "bytes_per_document_after_gc": round(at_rest_after_gc / documents, 1),
        "after_run": after_run, "after_gc": after_gc, "gc_freed": gc["freed"],
        "embeddings_removed": gc["embeddings_removed"],
        "per_document_after_run": per_document(after_run, documents),
        "per_document_after_gc": per_document(after_gc, documents),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{documents} documents, {records} records at dimension {args.dimension}; fetched "
          f"{run['fetch']['bytes_fetched'] / documents / 1000:.1f} kB a document")
    for when, disk, at_rest in (("after run", after_run, at_rest_after_run), ("after gc", after_gc, at_rest_after_gc)):
        d = per_document(disk, documents)
        print(f"  {when:<9} {at_rest / documents / 1000:6.2f} kB a document; by part (status): journal "
              f"{d['journal'] / 1000:.2f}, ledger {d['ledger'] / 1000:.2f}, cache {d['cache'] / 1000:.2f}, "
              f"other {d['other'] / 1000:.2f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
