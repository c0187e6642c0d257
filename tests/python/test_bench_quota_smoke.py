"""The quota-bound benchmark still runs end to end (bench/quota_bench.py --quick).

A smoke test so the harness cannot rot: every scenario runs both contenders against the three fakes (the pinecone one: upserts never refused),
every backfill run is verified, and the results JSON has its fields. No time is checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "quota_bench.py"


def test_quota_bench_quick_run_is_verified_and_complete(tmp_path: Path) -> None:
    out = tmp_path / "quota.json"
    p = subprocess.run([sys.executable, str(BENCH), "--quick", "--out", str(out)], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, f"quota_bench.py --quick failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    result = json.loads(out.read_text())
    assert result["schema"] == "backfill.bench.quota/1" and result["quick"] is True
    assert result["all_verified"] is True
    assert result["work"]["texts"] > 0 and result["work"]["tokens"] > 0 and result["work"]["pages"] > 0
    runs = {(r["scenario"], r["contender"]) for r in result["runs"]}
    assert runs == {(s, c) for s in ("tpm", "rpm", "jira", "pinecone") for c in ("backfill", "plain")}
    for r in result["runs"]:
        assert r["wall_seconds"] > 0 and r["ideal_seconds"] > 0 and r["embed_requests"] > 0
    for s in ("tpm", "rpm", "jira", "pinecone"):
        m = result["median"][s]
        assert m["backfill_over_ideal"] > 0 and m["plain_over_backfill"] > 0
    # The token quota binds in its scenario, and backfill says so in its report.
    tpm = [r for r in result["runs"] if r["scenario"] == "tpm" and r["contender"] == "backfill"]
    assert all(r["waits"].get("openai tokens", 0) > 0 for r in tpm)
    # Pinecone announces no quota: backfill paces at the rate it is configured with, and is never refused.
    pinecone = [r for r in result["runs"] if r["scenario"] == "pinecone" and r["contender"] == "backfill"]
    assert pinecone and all(r["upsert_429"] == 0 and r["upserts"] > 0 for r in pinecone)
