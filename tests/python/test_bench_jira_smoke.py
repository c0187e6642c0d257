"""The Jira normalization benchmark still runs end to end (bench/jira_normalize_bench.py --quick).

A smoke test so the harness cannot rot: the Jira fake generates the pages, the core and the pure-Python
implementation agree on every document, and the results JSON has every row. No timing is checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "jira_normalize_bench.py"


def test_jira_normalize_bench_quick_run_has_every_row(tmp_path: Path) -> None:
    out = tmp_path / "jira_normalize.json"
    p = subprocess.run([sys.executable, str(BENCH), "--quick", "--out", str(out)], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, f"jira_normalize_bench.py --quick failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    result = json.loads(out.read_text())
    assert result["schema"] == "backfill.bench.jira_normalize/1"
    assert result["quick"] is True and result["equal"] is True
    assert result["pages"] == 4 and result["documents"] == 100 and result["bytes"] > 0
    assert result["data"]["issues_over_20_comments"] >= 1 and result["data"]["comment_requests"] >= 1
    rows = {r["implementation"]: r for r in result["rows"]}
    assert {"core", "python (json)", "python json.loads (parse only)"} <= set(rows)
    for name, row in rows.items():
        assert len(row["seconds"]) == 1, name
        assert row["mb_per_second"] > 0, name
    assert set(result["speedup_vs_python"]) == set(rows) - {"core"}
    assert isinstance(result["goal"]["met"], bool)
    assert "| implementation |" in p.stdout and "agree: yes" in p.stdout
