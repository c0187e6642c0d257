#!/usr/bin/env python3
"""Runs a command and keeps /proc/PID/smaps of the moment its RSS was highest (polled every 10 ms),
summed by kind of mapping: what a peak RSS is made of. A wrapper for bench/mem_profile.py:

    .venv/bin/python bench/mem_profile.py --issues 10000 -- .venv/bin/python bench/peak_smaps.py /tmp/peak.txt

Writes to OUT the peak RSS, the resident MB by kind (heap: the main arena; anon: other anonymous
mappings, i.e. thread arenas and blocks mapped on their own; files), the largest anonymous mappings
and the raw smaps. Polling misses a peak shorter than its period: the figure is a floor.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def summary(smaps: str) -> str:
    by_kind: dict[str, int] = defaultdict(int)
    anon: list[tuple[int, str]] = []
    name = ""
    for line in smaps.splitlines():
        head = line.split()
        if not head:
            continue
        if "-" in head[0] and not head[0].endswith(":"):
            name = head[5] if len(head) > 5 else ""
            span = head[0]
        elif head[0] == "Rss:":
            kib = int(head[1])
            kind = "heap" if name == "[heap]" else "anon" if not name else "stack" if name.startswith("[stack") \
                else "file" if name.startswith("/") else name
            by_kind[kind] += kib
            if kind == "anon" and kib:
                anon.append((kib, span))
    total = sum(by_kind.values())
    out = [f"resident {total / 1024:.1f} MB"]
    out += [f"  {k:6} {v / 1024:7.1f} MB" for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1])]
    out.append("largest anonymous mappings (MB resident):")
    out += [f"  {kib / 1024:6.1f}  {span}" for kib, span in sorted(anon, reverse=True)[:40]]
    return "\n".join(out)


def main() -> int:
    out, cmd = Path(sys.argv[1]), sys.argv[2:]
    child = subprocess.Popen(cmd)
    best, best_smaps = 0, ""
    while child.poll() is None:
        now = rss_kib(child.pid)
        if now > best:
            try:
                best_smaps = Path(f"/proc/{child.pid}/smaps").read_text()
                best = now
            except OSError:
                pass
        time.sleep(0.01)
    out.write_text(f"peak VmRSS {best / 1024:.1f} MB\n{summary(best_smaps)}\n\n{best_smaps}")
    return child.returncode


if __name__ == "__main__":
    sys.exit(main())
