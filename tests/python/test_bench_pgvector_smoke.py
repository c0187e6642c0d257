"""The pgvector benchmark's harness still runs end to end (bench/pgvector_bench.py --quick): the
server starts, every contender loads every record into its table, the index comparison runs and the
results JSON and its BENCHMARKS.md section have every row. No timing is checked: the machine is
shared and noisy."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pg_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_pgvector_bench_quick_run_has_every_row(tmp_path: Path) -> None:
    bindir = pg_server.bin_dir()
    if bindir is None or not pg_server.has_pgvector(bindir):
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL with pgvector is not installed; CI must run this (scripts/setup.sh installs it)")
        pytest.skip("PostgreSQL with pgvector is not installed (scripts/setup.sh installs them)")
    missing = [m for m in ("psycopg", "pgvector", "numpy", "langchain_postgres") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"the benchmark's peers need {', '.join(missing)} (.venv/bin/pip install -r bench/requirements.txt)")
    out = tmp_path / "pgvector.json"
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "pgvector_bench.py"), "--quick", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result["median"]) == {"backfill", "langchain", "psycopg-copy", "psycopg-executemany"}
    for runs in result["runs"].values():
        assert [r["written"] for r in runs] == [result["settings"]["records"]]
    assert set(result["ratio"]) == {"langchain", "psycopg-copy", "psycopg-executemany"}
    assert result["index"]["records"] == 300
    assert "| psycopg-copy |" in p.stdout and "| langchain |" in p.stdout and "HNSW index" in p.stdout
