"""The end-to-end benchmark's harness still runs (bench/e2e_bench.py --quick) and writes well-formed results.

A smoke test so the harness cannot rot: the Jira and Pinecone fast servers, backfill through its CLI and
its Python API, the reference script, the upsert stage (backfill's sink and the SDK), the memory ladder,
the latency benchmark and the normalization result all run, every contender run has the kernel's figures,
and BENCHMARKS.md can be generated from the JSON. No timing is checked: the machine is shared and noisy.
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


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    # A session of its own, so that a hung run is ended with its servers.
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        stdout, stderr = p.communicate()
        pytest.fail(f"{' '.join(cmd)} did not finish in {timeout:.0f} s:\n{stdout}\n{stderr}")
    return subprocess.CompletedProcess(cmd, p.returncode, stdout, stderr)


def _process_figures(run: dict) -> None:
    assert run["returncode"] == 0
    assert run["wall_seconds"] > 0 and run["cpu_seconds"] > 0
    assert run["max_rss_mb"] > 0
    assert run["user_seconds"] >= 0 and run["system_seconds"] >= 0


@pytest.mark.slow
def test_e2e_bench_quick_run_is_well_formed(tmp_path: Path) -> None:
    for mod in ("pinecone", "requests"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"the benchmark needs {mod} (bench/requirements.txt; `make bench` installs it)")

    out = tmp_path / "e2e.json"
    p = _run([sys.executable, str(BENCH / "e2e_bench.py"), "--quick", "--scratch", str(tmp_path), "--out", str(out)],
             600)
    assert p.returncode == 0, f"e2e_bench.py --quick failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"

    r = json.loads(out.read_text())
    assert r["schema"] == "backfill.bench.e2e/1" and r["quick"] is True
    assert r["host"]["cpus"] >= 1 and r["versions"]["backfill"]

    e2e = r["e2e"]
    rows = {row["contender"]: row for row in e2e["rows"]}
    assert set(rows) == {"backfill-cli", "backfill-api", "reference"}
    for name, row in rows.items():
        assert row["documents"] == e2e["issues"], name
        assert row["records"] >= row["documents"], name  # at least one chunk a document
        assert len(row["runs"]) == e2e["repetitions"], name
        for run in row["runs"]:
            _process_figures(run)
            assert run["documents_per_second"] > 0
    # backfill's two faces do the same work.
    assert rows["backfill-cli"]["records"] == rows["backfill-api"]["records"]
    assert e2e["ratios"]["documents_per_second"] > 0 and e2e["ratios"]["cpu_seconds"] > 0
    assert len(e2e["rounds"]) == e2e["repetitions"]

    up = r["upsert"]
    names = {row["contender"] for row in up["rows"]}
    assert {"backfill", "sdk-rest"} <= names and names | set(up["skipped"]) == {"backfill", "sdk-rest", "sdk-grpc"}
    for row in up["rows"]:
        assert row["records"] == up["records"] > 0
        for run in row["runs"]:
            assert run["acknowledged"] == run["records"] == run["server_counted"]
            _process_figures(run["process"])
    assert up["ratios"]["backfill_vs_sdk_best"] > 0

    lad = r["ladder"]
    assert [s["size"] for s in lad["summary"] if s["contender"] == "backfill-cli"] == lad["sizes"]
    assert [s["size"] for s in lad["summary"] if s["contender"] == "reference"] == lad["sizes"]
    for point in lad["points"]:
        _process_figures(point)

    assert r["latency"]["status"] == "measured" and r["latency"]["all_verified"] is True
    assert r["latency"]["median"]["overlapped_over_ideal"] > 0
    assert r["normalize"]["status"] == "measured"
    assert {row["implementation"] for row in r["normalize"]["rows"]} >= {"core", "python (json)"}
    assert set(r["goals"]) == {"e2e_vs_reference", "upsert_vs_sdk", "rss"}

    md = tmp_path / "BENCHMARKS.md"
    g = _run([sys.executable, str(BENCH / "write_benchmarks_md.py"), "--e2e", str(out), "--out", str(md)], 60)
    assert g.returncode == 0, g.stderr
    text = md.read_text()
    for heading in ("## Goals", "## 1. End to end", "## 2. Upsert stage", "## 3. Memory scaling",
                    "## 4. Latency-bound efficiency", "## 5. Normalization"):
        assert heading in text, heading


@pytest.mark.slow
def test_e2e_bench_openai_embedder_mode_runs_every_contender_through_the_server(tmp_path: Path) -> None:
    for mod in ("pinecone", "requests", "openai"):
        if importlib.util.find_spec(mod) is None:
            pytest.skip(f"the benchmark needs {mod} (bench/requirements.txt; `make bench` installs it)")

    out = tmp_path / "e2e.json"
    p = _run([sys.executable, str(BENCH / "e2e_bench.py"), "--quick", "--only", "e2e", "--embedder", "openai",
              "--scratch", str(tmp_path), "--out", str(out)], 600)
    assert p.returncode == 0, f"e2e_bench.py --embedder openai failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    e2e = json.loads(out.read_text())["e2e"]
    assert e2e["embedder"] == "openai"
    for row in e2e["rows"]:
        for run in row["runs"]:
            _process_figures(run)
            # Every record's text went through the embeddings server, and its CPU is counted apart.
            assert run["embedded_inputs"] >= run["records"] > 0, row["contender"]
            assert run["embed_requests"] > 0 and run["embedder_server_cpu_seconds"] >= 0
        assert "embedder_server_cpu_seconds" in row["median"]


def test_openai_fast_server_answers_float_and_base64_as_openai_does() -> None:
    openai = pytest.importorskip("openai")
    sys.path.insert(0, str(BENCH))
    from openai_fast_server import OpenAIFastServer

    with OpenAIFastServer(dimension=64, vectors=16) as server:
        client = openai.OpenAI(api_key=server.api_key, base_url=server.url, max_retries=0)
        texts = ["one", "two", "three"]
        as_base64 = client.embeddings.create(model=server.model, input=texts, dimensions=64)  # the SDK's default
        as_float = client.embeddings.create(model=server.model, input=texts, dimensions=64, encoding_format="float")
        assert [d.index for d in as_float.data] == [0, 1, 2]
        for b, f in zip(as_base64.data, as_float.data):
            assert len(b.embedding) == len(f.embedding) == 64
            assert b.embedding == pytest.approx(f.embedding, abs=1e-7)
            assert sum(x * x for x in f.embedding) == pytest.approx(1.0, abs=1e-5)
        assert as_float.usage.prompt_tokens == 4  # ceil(UTF-8 bytes / 4) an input
        with pytest.raises(openai.BadRequestError):
            client.embeddings.create(model=server.model, input=texts, encoding_format="bogus")  # type: ignore[arg-type]
        with pytest.raises(openai.BadRequestError):
            client.embeddings.create(model=server.model, input=[""])
        with pytest.raises(openai.BadRequestError):
            client.embeddings.create(model=server.model, input=texts, dimensions=65)
        assert server.stats()["rejected"] == 3
        client.close()
