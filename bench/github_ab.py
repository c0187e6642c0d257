#!/usr/bin/env python3
"""A/B of two builds of backfill on the GitHub benchmark's data: `backfill VERB` of 1-3 repositories of
bench/github_bench.py's GitHub fake, the two builds alternated (A B, B A, ...), each run in a fresh
workdir; prints each run's CPU (user + system), the medians and the median of the per-round ratios B/A.

    .venv/bin/python bench/github_ab.py ROOT_A ROOT_B [--rounds 9] [--verb run] [--repos 1]
    .venv/bin/python bench/github_ab.py ROOT_A ROOT_B --rounds 1 --wrap "strace -c -f -o /tmp/{build}.txt"

A ROOT is a directory holding a `backfill` package with its `_core` module, outside the editable install;
for the tree's current state and a commit's:

    mkdir -p /tmp/ab/new /tmp/ab/base
    cp -r python/backfill /tmp/ab/new/ && cp build/cp311-*/_core*.so /tmp/ab/new/backfill/
    git archive BASE python/backfill | tar -x -C /tmp/ab/base --strip-components=1   # then its _core*.so

--wrap runs each child under a command ({build} is the root's directory name), for `strace -c -f` counts
or `perf record`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "python"))

from _common import Scratch, no_proxy_for_loopback, run_child  # noqa: E402
from github_bench import comment_counts, config  # noqa: E402
from github_fake import TOKEN, GitHubFake  # noqa: E402

# Runs the `backfill` of $AB_ROOT as `python -m backfill` would, the editable install's finder set aside.
LAUNCH = """import os, runpy, sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()]
sys.path.insert(0, os.environ["AB_ROOT"])
sys.argv = ["backfill", *sys.argv[1:]]
runpy.run_module("backfill", run_name="__main__", alter_sys=True)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("roots", nargs=2, type=Path)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--verb", default="run", choices=("run", "fetch"))
    ap.add_argument("--repos", type=int, default=1, choices=(1, 2, 3))
    ap.add_argument("--wrap", default="")
    args = ap.parse_args()
    no_proxy_for_loopback()
    repos = ["acme/alpha", "acme/bravo", "acme/charlie"][:args.repos]
    fake = GitHubFake({r: 1500 for r in repos}, seed=18, comment_counts=comment_counts, limit=1_000_000_000,
                      validate=False).start()
    runs: dict[Path, list[tuple[float, float]]] = {r: [] for r in args.roots}
    scratch = Scratch("github-ab-")
    try:
        for i in range(args.rounds):
            for root in (args.roots if i % 2 == 0 else args.roots[::-1]):
                tmp = scratch.new(root.resolve().name)
                cmd = [sys.executable, "-c", LAUNCH, args.verb, str(config(tmp, fake.url, repos)),
                       "--progress", "none", "--json"]
                if args.wrap:
                    cmd = args.wrap.format(build=root.resolve().name).split() + cmd
                env = {"GITHUB_TOKEN": TOKEN, "PATH": "/usr/bin:/bin", "no_proxy": "127.0.0.1,localhost",
                       "AB_ROOT": str(root.resolve())}
                child = run_child(cmd, env=env, cwd=ROOT)
                if child.returncode != 0:
                    raise SystemExit(f"{root} failed ({child.returncode}):\n{child.stderr[-3000:]}")
                cpu = child.user_seconds + child.system_seconds
                runs[root].append((cpu, child.max_rss_mb))
                print(f"round {i} {root}: CPU {cpu:.3f} s (user {child.user_seconds:.3f}, system "
                      f"{child.system_seconds:.3f}), wall {child.wall_seconds:.2f} s", file=sys.stderr)
    finally:
        fake.stop()
        scratch.close()
    for root, xs in runs.items():
        print(f"{root}: median CPU {statistics.median(x[0] for x in xs):.3f} s, "
              f"peak RSS {statistics.median(x[1] for x in xs):.1f} MB, {len(xs)} runs")
    a, b = (runs[r] for r in args.roots)
    print(f"median of the per-round ratios B/A: {statistics.median(y[0] / x[0] for x, y in zip(a, b)):.3f}; "
          f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
