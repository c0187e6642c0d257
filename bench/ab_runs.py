#!/usr/bin/env python3
"""Alternated A/B rounds of `backfill run` from snapshots of built packages, against one set of servers.

    # a snapshot: the Python package with its built _core beside it, copied before and after a change
    mkdir -p /tmp/A && cp -r python/backfill /tmp/A/ && cp .venv/lib/python3*/site-packages/backfill/_core*.so /tmp/A/backfill/
    .venv/bin/python bench/ab_runs.py --issues 3000 --rounds 3 A=/tmp/A B=/tmp/B          # OpenAI-compatible embedder
    .venv/bin/python bench/ab_runs.py --hash --dimension 256 --issues 10000 A=/tmp/A B=/tmp/B  # the memory ladder's shape
    .venv/bin/python bench/ab_runs.py --set run.memory_budget_mb=0 A=/tmp/A
    .venv/bin/python bench/ab_runs.py --env B:GLIBC_TUNABLES=glibc.malloc.hugetlb=1 A=/tmp/A B=/tmp/A
    .venv/bin/python bench/ab_runs.py --wrap "perf record -e page-faults -c 10 --call-graph dwarf -o /tmp/pf-{name}.data" A=/tmp/A

The servers and config are bench/e2e_bench.py's (Jira, the Pinecone store, the OpenAI-compatible
embeddings server unless --hash); each run gets a fresh workdir and is measured by GNU time: user and
system CPU, peak RSS and minor page faults (the last are free of the machine's noise). Rounds
alternate the order of the snapshots; medians are printed at the end.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import byte_compile_backfill  # noqa
from e2e_bench import API_KEY, backfill_config  # noqa
from jira_fast_server import TOKEN, JiraFastServer  # noqa
from pinecone_fast_server import FastServer  # noqa
from openai_fast_server import OpenAIFastServer  # noqa
from mem_profile import with_settings  # noqa
PY = sys.executable
# Runs the CLI from a snapshot directory (argv[1]) instead of the installed package.
LAUNCH = ("import sys; d = sys.argv.pop(1); "
          "sys.meta_path = [f for f in sys.meta_path if 'editable' not in type(f).__module__.lower()]; "
          "sys.path.insert(0, d); from backfill.cli import main; sys.exit(main())")

ap = argparse.ArgumentParser()
ap.add_argument("--issues", type=int, default=3000)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--dimension", type=int, default=1536)
ap.add_argument("--set", action="append", default=[])
ap.add_argument("--hash", action="store_true")
ap.add_argument("--wrap", default="", help="extra wrapper, e.g. 'perf record ...' with {name}{r}")
ap.add_argument("--env", action="append", default=[],
                help="NAME:KEY=VALUE, an environment variable for one snapshot's runs (e.g. a GLIBC_TUNABLES trial)")
ap.add_argument("snap", nargs="+")
a = ap.parse_args()
snaps = [s.split("=", 1) for s in a.snap]
for _, d in snaps:
    byte_compile_backfill(Path(d) / "backfill")  # as a pip install of the wheel leaves it
scratch = Path(tempfile.mkdtemp(prefix="bufs-ab-"))
res = {n: [] for n, _ in snaps}
try:
    with JiraFastServer(issues=a.issues) as jira, FastServer(store=True, dimension=a.dimension) as pc, \
            OpenAIFastServer(dimension=a.dimension) as emb:
        env = {**os.environ, "BENCH_JIRA_TOKEN": TOKEN, "BENCH_PINECONE_KEY": API_KEY,
               "BENCH_OPENAI_KEY": emb.api_key}
        for r in range(a.rounds):
            order = snaps if r % 2 == 0 else snaps[::-1]
            for name, d in order:
                work = scratch / f"{name}{r}"
                work.mkdir()
                config = work / "bench.toml"
                backfill_config(config, jira, pc.url, f"{name}{r}", work / "workdir", a.dimension, 1000, None if a.hash else emb)
                with_settings(config, a.set)
                wrap = a.wrap.format(name=name, r=r).split() if a.wrap else []
                cmd = ["/usr/bin/time", "-f", "TIME %U %S %M %R %F %e %c %w", *wrap, PY, "-c", LAUNCH, d,
                       "run", str(config), "--json", "--progress", "none", "-q"]
                run_env = dict(env)
                for spec in a.env:
                    who, _, kv = spec.partition(":")
                    if who == name:
                        key, _, value = kv.partition("=")
                        run_env[key] = value
                p = subprocess.run(cmd, env=run_env, cwd=work, capture_output=True, text=True)
                if p.returncode != 0:
                    print(p.stdout[-2000:], p.stderr[-3000:]); sys.exit(1)
                m = re.findall(r"TIME (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+)", p.stderr)[-1]
                out = json.loads(p.stdout)
                docs = out["ingest"]["documents_written"]
                u, s, rss, minf, majf, wall, invcs, vcs = map(float, m)
                row = dict(cpu=u + s, user=u, sys=s, rss_mb=rss / 1024, minflt=int(minf), wall=wall,
                           ms_doc=(u + s) / docs * 1000, docs=docs)
                res[name].append(row)
                print(f"r{r} {name:6} cpu {u+s:6.2f}s (u {u:5.2f} s {s:5.2f}) {row['ms_doc']:.3f} ms/doc "
                      f"minflt {int(minf):8d} rss {rss/1024:6.1f} MB wall {wall:5.2f} vcs {int(vcs)} ivcs {int(invcs)} "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
                shutil.rmtree(work / "workdir", ignore_errors=True)
                pc.reset()
        for n, rows in res.items():
            print(f"median {n:6} ms/doc {statistics.median(x['ms_doc'] for x in rows):.3f} "
                  f"minflt {statistics.median(x['minflt'] for x in rows):.0f} "
                  f"rss {statistics.median(x['rss_mb'] for x in rows):.1f} MB "
                  f"user {statistics.median(x['user'] for x in rows):.2f} sys {statistics.median(x['sys'] for x in rows):.2f}")
finally:
    shutil.rmtree(scratch, ignore_errors=True)
