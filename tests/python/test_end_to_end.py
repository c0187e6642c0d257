"""A whole backfill through the CLI and through the Python API: verified, idempotent, queryable."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import backfill
from backfill import Pipeline
from conftest import index_ids, latest_receipt, ledger, run_cli


def test_cli_run_verifies_and_writes_a_receipt(project: tuple[Path, Path]) -> None:
    config, workdir = project
    r = run_cli("run", str(config), "--progress", "none")
    assert r.code == 0, r.err
    assert "verify: verified" in r.out
    receipt = latest_receipt(workdir)
    assert receipt["schema"] == "backfill.receipt/1"
    assert receipt["ok"] is True
    assert receipt["count"]["ok"] is True
    assert receipt["count"]["expected"] == receipt["count"]["observed"] > 0
    assert receipt["readback"] == {
        "mode": "all",
        "checked": receipt["count"]["expected"],
        "missing": 0,
        "mismatched": 0,
        "missing_ids": [],
        "mismatched_ids": [],
    }
    ids = index_ids(workdir / "index.sqlite")
    assert len(ids) == receipt["count"]["observed"]
    assert all(i.startswith("slack:") and "#" in i for i in ids)
    with ledger(workdir) as db:
        (docs,) = db.execute("SELECT count(*) FROM documents").fetchone()
    assert receipt["documents"] == docs > 0


def test_rerun_on_unchanged_input_does_nothing_and_verifies(project: tuple[Path, Path]) -> None:
    config, workdir = project
    assert run_cli("run", str(config), "--progress", "none").code == 0
    r = run_cli("run", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["fetch"]["pages_fetched"] == 0
    assert report["ingest"]["documents_written"] == 0
    assert report["ingest"]["chunks_written"] == 0
    assert report["ingest"]["chunks_embedded"] == 0
    assert report["ingest"]["embed_calls"] == 0
    assert report["ingest"]["upsert_requests"] == 0
    assert report["ingest"]["documents_unchanged"] == report["ingest"]["documents_seen"] > 0
    assert report["verify"]["ok"] is True
    assert report["ok"] is True and report["exit_code"] == 0


def test_python_api_phases_and_query(small_export: Path, tmp_path: Path) -> None:
    p = Pipeline(
        backfill.SlackExport(small_export),
        backfill.HashEmbedder(dimension=128),
        backfill.LocalIndex(namespace="demo"),
        name="api",
        workdir=tmp_path / "wd",
        progress="none",
    )
    plan = p.plan()
    assert plan.partitions[0].name == "_workspace"
    assert len(plan.partitions) >= 2
    fetch = p.fetch()
    assert fetch.pages_fetched == fetch.pages_total > 0
    validate = p.validate()
    assert validate.ok and validate.bad_pages == []
    ingest = p.ingest()
    assert ingest.documents_written > 0 and ingest.chunks_written >= ingest.documents_written
    verify = p.verify()
    assert verify.ok and verify.receipt and Path(verify.receipt).is_file()
    status = p.status()
    assert all(s.status == "done" for s in status.partitions)
    assert status.live_chunks == verify.observed_count
    matches = p.query("database failover", k=3)
    assert 1 <= len(matches) <= 3
    assert matches[0].score >= matches[-1].score
    assert matches[0].metadata["source"] == "slack_export"
    assert "<table>" in verify._repr_html_()


def test_sampled_verify_reads_back_only_the_sample(project: tuple[Path, Path]) -> None:
    config, workdir = project
    assert run_cli("run", str(config), "--progress", "none").code == 0
    r = run_cli("verify", str(config), "--sample", "5", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["sampled"] is True and report["checked"] == 5


def test_core_logs_reach_python_logging(small_export: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    p = Pipeline(backfill.SlackExport(small_export), name="logs", workdir=tmp_path / "wd", progress="none")
    with caplog.at_level(logging.INFO, logger="backfill"):
        p.fetch()
    assert any(r.name == "backfill" and "fetch:" in r.getMessage() for r in caplog.records)


def test_progress_callback_is_called(small_export: Path, tmp_path: Path) -> None:
    seen: list[dict[str, object]] = []
    p = Pipeline(backfill.SlackExport(small_export), name="prog", workdir=tmp_path / "wd", progress=seen.append)
    p.fetch()
    assert seen and {s["phase"] for s in seen} >= {"fetch"}
    assert all(set(s) == {"phase", "partition", "done", "total", "unit", "quota"} for s in seen)


def test_console_script_and_module_agree(project: tuple[Path, Path]) -> None:
    import shutil
    import subprocess
    import sys

    config, _ = project
    exe = Path(sys.executable).parent / "backfill"
    assert exe.exists() or shutil.which("backfill"), "the backfill console script is not installed"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"backfill {backfill.__version__}"
    assert run_cli("plan", str(config)).code == 0
