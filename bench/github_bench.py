#!/usr/bin/env python3
"""The GitHub source against a careful `requests` script (bench/github_reference.py) on the same local
GitHub fake (tests/python/github_fake.py): requests used and client CPU per document.

    .venv/bin/python bench/github_bench.py [--rounds 3] [--out bench/results/github.json]
    .venv/bin/python bench/github_bench.py --quick      # one small repository, one round (the smoke test)

Data: 3 repositories × 1,500 issues and pull requests (a third pull requests) with 0 to 250 comments,
review comments and reviews each (most a few, some 250), as tests/python/test_github_scenario.py has them.
Contenders, each a child process in a fresh workdir, alternated in a rotating order each round:

  backfill-run    `backfill run` (fetch with repository-wide comment listings, journal with fsync, normalize,
                  chunk, embed with the C++ hash embedder, write the local index, verify it)
  backfill-fetch  `backfill fetch` (the fetch and the journal alone)
  reference       bench/github_reference.py: per-issue comments (skipped when the issue says 0), per pull
                  request its review comments and reviews; documents as JSON lines

Requests are counted by the fake; CPU is the child's user + system time (os.wait4). Ratios are medians of
the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import textwrap
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "python"))

from _common import (  # noqa: E402
    RESULTS,
    Scratch,
    backfill_install,
    host_info,
    median,
    no_proxy_for_loopback,
    now_utc,
    rotated,
    run_child,
    versions,
)
from github_fake import TOKEN, GitHubFake  # noqa: E402

CONTENDERS = ("backfill-run", "backfill-fetch", "reference")


def comment_counts(rng: random.Random) -> int:
    return 250 if rng.random() < 0.004 else min(250, int(rng.expovariate(1 / 5)))


def config(workdir: Path, url: str, repos: list[str]) -> Path:
    path = workdir / "github.toml"
    path.write_text(textwrap.dedent(f"""\
        [run]
        name = "github-bench"
        workdir = "{workdir / 'work'}"
        batch_records = 1000

        [source]
        type = "github"
        base_url = "{url}"
        token = "${{GITHUB_TOKEN}}"
        repos = {json.dumps(repos)}
        rate = 1000
        max_in_flight = 4

        [embedder]
        type = "hash"
        dimension = 64

        [chunking]
        target_tokens = 1024
        overlap_tokens = 16
        """))
    return path


def run_one(name: str, fake: GitHubFake, repos: list[str], expected: int, scratch: Scratch,
            backfill_python: str = sys.executable) -> dict[str, Any]:
    env = {"GITHUB_TOKEN": TOKEN, "PATH": "/usr/bin:/bin", "no_proxy": "127.0.0.1,localhost"}
    workdir = scratch.new(name)
    if name == "reference":
        cmd = [sys.executable, str(HERE / "github_reference.py"), fake.url, TOKEN, str(workdir / "out.jsonl"), *repos]
    else:
        verb = "run" if name == "backfill-run" else "fetch"
        cmd = [backfill_python, "-m", "backfill", verb, str(config(workdir, fake.url, repos)), "--progress", "none",
               "--json"]
    fake.reset_log()
    child = run_child(cmd, env=env, cwd=ROOT)
    if child.returncode != 0:
        raise SystemExit(f"{name} failed ({child.returncode}):\n{child.stderr[-3000:]}")
    requests = len(fake.requests)
    if name == "reference":
        documents = json.loads(child.stdout)["documents"]
    elif name == "backfill-run":
        documents = json.loads(child.stdout)["verify"]["documents"]
    else:
        documents = expected  # the fetch journals pages; their documents are counted by the run
    if documents != expected:
        raise SystemExit(f"{name}: {documents} documents, expected {expected}")
    cpu = child.user_seconds + child.system_seconds
    return {"contender": name, "requests": requests, "documents": documents, "wall_s": round(child.wall_seconds, 3),
            "cpu_s": round(cpu, 3), "cpu_ms_per_document": round(1000 * cpu / documents, 4),
            "peak_rss_mb": round(child.max_rss_mb, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one repository of 60 issues, one round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS / "github.json")
    ap.add_argument("--backfill-python", default=sys.executable,
                    help="the Python whose installed backfill the backfill contenders run (default: this one; "
                         "`make bench` passes the wheel's, scripts/bench_venv.sh)")
    args = ap.parse_args(argv)
    install = backfill_install(args.backfill_python)
    no_proxy_for_loopback()
    per_repo, repos = (60, ["acme/alpha"]) if args.quick else (1500, ["acme/alpha", "acme/bravo", "acme/charlie"])
    rounds = 1 if args.quick else args.rounds
    fake = GitHubFake({r: per_repo for r in repos}, seed=18, comment_counts=comment_counts, limit=1_000_000_000,
                      validate=False).start()
    scratch = Scratch("github-bench-")
    try:
        expected = sum(len(fake.repos[r].issues) for r in repos)
        notes = sum(len(i.notes) for r in repos for i in fake.repos[r].issues.values())
        runs: list[dict[str, Any]] = []
        for r in range(rounds):
            for name in rotated(CONTENDERS, r):
                row = run_one(name, fake, repos, expected, scratch, args.backfill_python)
                row["round"] = r
                runs.append(row)
                print(f"round {r}: {name}: {row['requests']} requests, {row['cpu_s']:.2f} s CPU, "
                      f"{row['wall_s']:.2f} s wall", file=sys.stderr)
        assert not fake.take_violations() and not fake.errors, fake.errors[:3]
    finally:
        fake.stop()
        scratch.close()

    def med(name: str, key: str) -> float:
        return median(x[key] for x in runs if x["contender"] == name)

    def ratio(a: str, b: str, key: str) -> float:
        return median(next(x[key] for x in runs if x["contender"] == a and x["round"] == r) /
                      next(x[key] for x in runs if x["contender"] == b and x["round"] == r) for r in range(rounds))

    rows = [{"contender": c, **{k: med(c, k) for k in ("requests", "wall_s", "cpu_s", "cpu_ms_per_document",
                                                         "peak_rss_mb")}} for c in CONTENDERS]
    requests_ratio = ratio("backfill-run", "reference", "requests")
    cpu_ratio = ratio("reference", "backfill-run", "cpu_ms_per_document")
    result = {
        "schema": "backfill.bench.github/1", "quick": args.quick, "date": now_utc(),
        "command": "bench/github_bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "host": host_info(), "versions": versions("backfill", "requests"), "backfill_install": install,
        "data": {"repositories": len(repos), "documents": expected, "comments_reviews": notes,
                 "max_per_issue": max(len(i.notes) for r in repos for i in fake.repos[r].issues.values())},
        "rounds": rounds, "runs": runs, "rows": rows,
        "ratios": {"requests_backfill_over_reference": round(requests_ratio, 4),
                   "cpu_per_document_reference_over_backfill": round(cpu_ratio, 2),
                   "cpu_per_document_reference_over_backfill_fetch":
                       round(ratio("reference", "backfill-fetch", "cpu_ms_per_document"), 2)},
        "goals": {"requests ≤ 0.5× the reference": requests_ratio <= 0.5,
                  "client CPU per document ≥ 10× less": cpu_ratio >= 10},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(render(result))
    return 0


def render(result: dict[str, Any]) -> str:
    d = result["data"]
    lines = [f"{d['repositories']} repositories, {d['documents']:,} issues and pull requests, "
             f"{d['comments_reviews']:,} comments, review comments and reviews (at most {d['max_per_issue']} on one); "
             f"medians of {result['rounds']} rounds.", "",
             "| contender | requests | wall s | CPU s | CPU ms/document | peak RSS MB |", "|---|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['contender']} | {r['requests']:,.0f} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
                     f"{r['cpu_ms_per_document']:.3f} | {r['peak_rss_mb']:.0f} |")
    x = result["ratios"]
    lines += ["", "| ratio (median of the per-round ratios) | value | goal |", "|---|---:|---|",
              f"| requests, backfill-run ÷ reference | {x['requests_backfill_over_reference']:.3f}× | ≤ 0.5× |",
              f"| CPU per document, reference ÷ backfill-run | {x['cpu_per_document_reference_over_backfill']:.1f}× | ≥ 10× |",
              f"| CPU per document, reference ÷ backfill-fetch | "
              f"{x['cpu_per_document_reference_over_backfill_fetch']:.1f}× | |"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
