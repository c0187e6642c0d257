#!/usr/bin/env python3
"""The README demo with an installed backfill, from an empty folder: what a wheel must do for a user.

Checks that `backfill` is imported from the installed package (not from a source tree), runs
`backfill run examples/slack-demo.toml` (offline: a synthetic Slack export, the hashing embedder, the
embedded index) and exits non-zero unless every record verified.
Usage: python scripts/wheel_demo.py REPO   (scripts/test_wheel.sh; cibuildwheel's test-command)
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path


def main() -> int:
    repo = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent.parent).resolve()
    with tempfile.TemporaryDirectory(prefix="backfill-demo-") as empty:
        where = subprocess.run([sys.executable, "-c", "import backfill; print(backfill.__file__)"], cwd=empty,
                               capture_output=True, text=True, check=True).stdout.strip()
        if Path(where).resolve().is_relative_to(repo / "python"):
            print(f"wheel-demo: backfill imported from the source tree ({where}), not an installed wheel",
                  file=sys.stderr)
            return 1
        script = Path(sysconfig.get_path("scripts")) / ("backfill.exe" if os.name == "nt" else "backfill")
        run = subprocess.run([str(script), "run", str(repo / "examples" / "slack-demo.toml"), "--progress", "log"],
                             cwd=empty, capture_output=True, text=True)
        if run.returncode != 0:
            print(run.stdout + run.stderr, file=sys.stderr)
            print(f"wheel-demo: `backfill run` exited {run.returncode}", file=sys.stderr)
            return 1
        verified = [line for line in (run.stdout + run.stderr).splitlines() if "verif" in line.lower()]
        print(f"wheel-demo: the README demo verified with the installed wheel: {verified[-1] if verified else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
