"""The Pinecone upsert benchmark's harness still runs end to end (bench/pinecone_bench.py --quick).

A smoke test so the harness cannot rot: the fast server (validating every body in --quick), the
tuning, backfill's sink over gRPC and over REST, the SDK over REST and over gRPC, and the server proof all run, and the
results JSON has every row, with every record acknowledged by both sides and counted by the server.
No timing is checked: the machine is shared and noisy.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


@pytest.mark.slow
def test_pinecone_bench_quick_run_has_every_row(tmp_path: Path) -> None:
    if importlib.util.find_spec("pinecone") is None:
        pytest.skip("the benchmark compares with the official pinecone SDK, which is not installed "
                    "(.venv/bin/pip install pinecone)")

    out = tmp_path / "pinecone.json"
    # A session of its own, so that a hung run is ended with its server.
    p = subprocess.Popen([sys.executable, str(BENCH / "pinecone_bench.py"), "--quick", "--quiet-wait", "0",
                          "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        stdout, stderr = p.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        stdout, stderr = p.communicate()
        pytest.fail(f"pinecone_bench.py --quick did not finish in 600 s:\n{stdout}\n{stderr}")
    assert p.returncode == 0, f"pinecone_bench.py --quick failed ({p.returncode}):\n{stdout}\n{stderr}"

    result = json.loads(out.read_text())
    assert result["schema"] == "backfill.bench.pinecone/1"
    assert result["quick"] is True
    settings = result["settings"]
    n = settings["records"]
    assert n > 0 and settings["repetitions"] >= 1
    assert settings["server_mode"] == "validating every body"  # --quick: every body parsed and checked

    expected = {"backfill", "backfill-rest", "sdk-rest", "sdk-grpc"} - set(result["skipped"])
    assert "backfill" in expected and "sdk-rest" in expected
    for name, why in result["skipped"].items():
        assert name == "sdk-grpc" and why, result["skipped"]
    rows = {r["contender"]: r for r in result["rows"]}
    assert set(rows) == expected
    for name, row in rows.items():
        assert row["every_record_acknowledged"], name
        assert len(row["repetitions"]) == settings["repetitions"], name
        for rep in row["repetitions"]:
            assert rep["records"] == n, (name, rep)
            assert rep["acknowledged"] == n, (name, rep)      # the client's acknowledged count
            assert rep["server_counted"] == n, (name, rep)    # what the server received
            assert rep["rejected"] == 0, (name, rep)
            assert rep["requests"] >= 1 and rep["wire_bytes"] > 0, (name, rep)
        assert row["median"]["records_per_second"] > 0, name

    tuned = {t["contender"] for t in result["tuning"]}
    assert tuned == expected

    ratios = result["ratios"]
    sdks = expected - {"backfill", "backfill-rest"}
    assert ratios["sdk_best"] in sdks
    for key in ["vs_sdk_best", "vs_sdk_best_with_build", "rest_vs_sdk_best"] + [f"vs_{c.replace('-', '_')}" for c in sdks]:
        assert isinstance(ratios[key], (int, float)) and ratios[key] > 0, key
    assert rows["backfill"]["settings"]["transport"] == "grpc"
    assert rows["backfill-rest"]["settings"]["transport"] == "rest"
    assert isinstance(ratios["goal_met"], bool)

    proof = {b["client"].split(" ")[0]: b for b in result["server_proof"]}
    assert "backfill" in proof  # the engine with pre-serialized bodies
    for client, b in proof.items():
        if "skipped" not in b:
            assert b["requests"] > 0 and b["records_per_second"] > 0, client

    assert "| contender | API and settings |" in stdout  # the markdown table
    assert out.with_suffix(".md").read_text().startswith("Pinecone upsert benchmark")
