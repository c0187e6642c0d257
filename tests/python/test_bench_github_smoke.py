"""The GitHub benchmark still runs end to end (bench/github_bench.py --quick).

A smoke test so the harness cannot rot: the fake serves one small repository, backfill and the reference
script read every document, and the results JSON has every row and ratio. No timing is checked; the request
counts are, since they do not depend on the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "github_bench.py"


def test_github_bench_quick_run_has_every_row(tmp_path: Path) -> None:
    out = tmp_path / "github.json"
    p = subprocess.run([sys.executable, str(BENCH), "--quick", "--out", str(out)], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, f"github_bench.py --quick failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    result = json.loads(out.read_text())
    assert result["schema"] == "backfill.bench.github/1" and result["quick"] is True
    assert result["data"]["documents"] == 60 and result["data"]["max_per_issue"] == 250
    rows = {r["contender"]: r for r in result["rows"]}
    assert set(rows) == {"backfill-run", "backfill-fetch", "reference"}
    for name, row in rows.items():
        assert row["requests"] > 0 and row["cpu_s"] > 0, name
    # Repository-wide comment listings: fewer requests than one per issue and two per pull request.
    assert rows["backfill-run"]["requests"] < rows["reference"]["requests"]
    assert result["ratios"]["requests_backfill_over_reference"] <= 0.5
    assert isinstance(result["goals"]["client CPU per document ≥ 10× less"], bool)
    assert "| contender |" in p.stdout
