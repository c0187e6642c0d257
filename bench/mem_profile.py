#!/usr/bin/env python3
"""One `backfill run` of the memory ladder's shape under a profiler: the ladder's servers and config
(bench/e2e_bench.py), the CLI run under a wrapper such as heaptrack or valgrind's massif.

    .venv/bin/python bench/mem_profile.py --issues 10000 -- heaptrack -o /tmp/bf
    .venv/bin/python bench/mem_profile.py --issues 30000            # no wrapper: peak RSS only
    .venv/bin/python bench/mem_profile.py --issues 10000 -- $PWD/.venv/bin/python $PWD/bench/peak_smaps.py /tmp/peak.txt
    .venv/bin/python bench/mem_profile.py --issues 10000 --set run.memory_budget_mb=64

Prints the run's peak RSS (GNU time) and documents/s; the profile is wherever the wrapper writes it.
`--set section.key=value` adds a TOML line to the config (a value written as TOML: 64, "x", true).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import run_child  # noqa: E402
from e2e_bench import API_KEY, BACKFILL_CLI, backfill_config  # noqa: E402
from jira_fast_server import TOKEN, JiraFastServer  # noqa: E402
from pinecone_fast_server import FastServer  # noqa: E402


def with_settings(config: Path, settings: list[str]) -> None:
    """Puts each `section.key=value` under its [section] of the TOML (appended when absent)."""
    text = config.read_text()
    for s in settings:
        name, value = s.split("=", 1)
        section, key = name.rsplit(".", 1)
        header = f"[{section}]\n"
        line = f"{key} = {value}\n"
        text = text.replace(header, header + line, 1) if header in text else text + f"\n{header}{line}"
    config.write_text(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--issues", type=int, default=10_000)
    ap.add_argument("--dimension", type=int, default=256)
    ap.add_argument("--set", action="append", default=[], help="section.key=value added to the config")
    ap.add_argument("wrapper", nargs="*", help="the profiler's command line, before `backfill run CONFIG`")
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bf-mem-"))
    try:
        with JiraFastServer(issues=args.issues) as jira, \
                FastServer(store=True, dimension=args.dimension) as pc:
            config = scratch / "bench.toml"
            backfill_config(config, jira, pc.url, "mem", scratch / "workdir", args.dimension, 1000)
            with_settings(config, args.set)
            env = {**os.environ, "BENCH_JIRA_TOKEN": TOKEN, "BENCH_PINECONE_KEY": API_KEY}
            cmd = [*args.wrapper, BACKFILL_CLI, "run", str(config), "--json", "--progress", "none", "-q"]
            child = run_child(cmd, env=env, cwd=str(scratch))
            if child.returncode != 0:
                print(child.stdout[-2000:], child.stderr[-4000:], file=sys.stderr)
                return child.returncode
            report = json.loads(child.stdout) if not args.wrapper or child.stdout.startswith("{") else {}
            fetch, ingest = report.get("fetch", {}), report.get("ingest", {})
            if fetch:
                print(f"pages {fetch.get('pages_fetched')}, {fetch.get('bytes_fetched', 0) / 1e6:,.0f} MB "
                      f"fetched, budget peak: fetch {fetch.get('memory_peak_bytes', 0) / 1e6:.0f} MB, "
                      f"ingest {ingest.get('memory_peak_bytes', 0) / 1e6:.0f} MB")
            stages = ingest.get("stage_seconds", {})
            if stages:
                print("ingest stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()))
            wall = child.wall_seconds
            print(f"{args.issues:,} issues: peak RSS {child.max_rss_mb:.1f} MB, "
                  f"{child.cpu_seconds:.1f} CPU s, {args.issues / wall:,.0f} docs/s (wall {wall:.1f} s)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
