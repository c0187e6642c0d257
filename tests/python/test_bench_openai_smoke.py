"""The embedding benchmark's harness still runs end to end (bench/openai_bench.py --quick).

A smoke test so the harness cannot rot: the fake with latency, backfill's embedder at each concurrency,
the official SDK batched and per text all run, every vector is checked, and the results JSON has every
row. No timing is checked: the machine is shared and noisy.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_openai_bench_quick_run_has_every_row(tmp_path: Path) -> None:
    out = tmp_path / "openai.json"
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "openai_bench.py"), "--quick", "--out", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    result = json.loads(out.read_text())
    assert result["schema"] == "backfill.bench.openai/1"
    clients = [r["client"] for r in result["rows"]]
    expected = ["backfill c=1", "backfill c=4", "backfill c=8"]
    if importlib.util.find_spec("openai") is not None:
        expected += ["sdk batched", "sdk per text"]
    assert clients == expected
    assert all(r["seconds"] > 0 and r["requests"] > 0 for r in result["rows"])
