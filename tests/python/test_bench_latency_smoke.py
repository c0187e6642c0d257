"""The latency-bound benchmark still runs end to end (bench/latency_bench.py --quick).

A smoke test so the harness cannot rot: both modes run against the three fakes, every run is verified,
and the results JSON has its fields. No time is checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "latency_bench.py"


def test_latency_bench_quick_run_is_verified_and_complete(tmp_path: Path) -> None:
    out = tmp_path / "latency.json"
    p = subprocess.run([sys.executable, str(BENCH), "--quick", "--out", str(out)], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, f"latency_bench.py --quick failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    result = json.loads(out.read_text())
    assert result["schema"] == "backfill.bench.latency/1" and result["quick"] is True
    assert result["all_verified"] is True
    modes = [r["mode"] for r in result["runs"]]
    assert sorted(modes) == ["overlapped", "sequential"]
    for r in result["runs"]:
        assert r["pages"] == 4 and r["documents"] == 200 and r["embed_requests"] > 0 and r["upsert_requests"] > 0
        assert r["ideal_seconds"] == max(r["stage_seconds"].values()) > 0
    m = result["median"]
    assert m["overlapped_over_ideal"] > 0 and m["sequential_over_overlapped"] > 0
