"""The HTTP benchmark's harness still runs end to end (bench/http_bench.py --quick).

A smoke test so the harness cannot rot: nginx, the libcurl baseline, the engine (from C++ through
bench/engine_loop, and through Python) and the Python clients all run, and the results JSON has
every row and ratio. No timing is checked. The first run builds engine_loop with the core (minutes).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


def _static_server() -> Any:
    spec = importlib.util.spec_from_file_location("bench_static_server", BENCH / "static_server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _python_path_with_clients(tmp: Path) -> str:
    """PYTHONPATH for the bench: requests and httpx, installed into `tmp` when this Python lacks them."""
    have = subprocess.run([sys.executable, "-c", "import requests, httpx"], check=False,
                          capture_output=True).returncode == 0
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if not have:
        target = tmp / "site"
        p = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                            "--target", str(target), "-r", str(BENCH / "requirements.txt")],
                           check=False, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, f"installing bench/requirements.txt failed:\n{p.stdout}\n{p.stderr}"
        paths.insert(0, str(target))
    return os.pathsep.join(paths)


@pytest.mark.slow
def test_http_bench_quick_run_has_every_row(tmp_path: Path) -> None:
    server = _static_server()
    if server.find_nginx() is None:
        ok, why = server.can_install_nginx()
        if not ok:
            pytest.skip(f"the benchmark needs nginx: {why}")

    out = tmp_path / "http.json"
    env = dict(os.environ, PYTHONPATH=_python_path_with_clients(tmp_path))
    # A session of its own, so that a hung run is ended with its nginx.
    p = subprocess.Popen([sys.executable, str(BENCH / "http_bench.py"), "--quick", "--out", str(out)], cwd=ROOT,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = p.communicate(timeout=1200)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        stdout, stderr = p.communicate()
        pytest.fail(f"http_bench.py --quick did not finish in 1200 s:\n{stdout}\n{stderr}")
    assert p.returncode == 0, f"http_bench.py --quick failed ({p.returncode}):\n{stdout}\n{stderr}"

    result = json.loads(out.read_text())
    assert result["schema"] == "backfill.bench.http/1"
    assert result["quick"] is True
    sizes = {name: f["bytes"] for name, f in result["files"].items()}
    assert set(sizes) == {"small", "large"}

    expected = {(f, c, client) for f in ("small", "large") for c in (1, 8)
                for client in ("backfill.cpp", "backfill", "libcurl", "requests", "httpx")}
    expected |= {(f, 1, "backfill.request") for f in ("small", "large")}
    rows = {(r["file"], r["concurrency"], r["client"]): r for r in result["rows"]}
    assert set(rows) == expected
    for key, row in rows.items():
        assert len(row["repetitions"]) == 1, key
        for rep in row["repetitions"]:
            assert rep["bytes"] == rep["requests"] * sizes[row["file"]], key
        assert row["median"]["requests_per_second"] > 0, key
        assert row["median"]["mb_per_second"] > 0, key

    ratios = {(q["file"], q["concurrency"], q["engine"]): q for q in result["ratios"]}
    assert set(ratios) == {(f, c, engine) for f in ("small", "large") for c in (1, 8)
                           for engine in ("backfill.cpp", "backfill")} | {
        (f, 1, "backfill.request") for f in ("small", "large")}
    for key, q in ratios.items():
        for field in ("vs_libcurl", "overhead_percent", "cpu_per_request_vs_libcurl", "vs_requests", "vs_httpx"):
            assert isinstance(q[field], (int, float)), (key, field)

    assert "| file | C | client |" in stdout  # the markdown table
    assert out.with_suffix(".md").read_text().startswith("| file | C | client |")
