"""The notebooks run top to bottom in a real Jupyter kernel, offline, with their outputs checked."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs the test extras (nbformat, nbclient)")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs the test extras (nbformat, nbclient)")

LIVE = ("JIRA_URL", "JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_PROJECTS", "PINECONE_HOST", "PINECONE_API_KEY")


def execute(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Runs notebooks/<name>.ipynb from a copy of the layout it expects (../examples, ../tests) and
    returns its outputs, in order."""
    (tmp_path / "notebooks").mkdir()
    shutil.copytree(ROOT / "examples" / "slack-export", tmp_path / "examples" / "slack-export")
    (tmp_path / "tests").symlink_to(ROOT / "tests")
    for var in LIVE:  # the offline path, whatever the machine has set
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path / "notebooks")}})
    client.execute()
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def text_of(outputs: list[dict[str, Any]]) -> str:
    return "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)


def html_of(outputs: list[dict[str, Any]]) -> list[str]:
    return [str(o["data"]["text/html"]) for o in outputs if "text/html" in o.get("data", {})]


def run_report_html(outputs: list[dict[str, Any]]) -> str:
    pages = [h for h in html_of(outputs) if "<b>RunReport</b>" in h]
    assert pages, "no run report was rendered"
    page = pages[0]
    for phase in ("plan", "fetch", "ingest", "validate", "verify"):
        assert f"<th>{phase}</th>" in page, phase
    assert "verified" in page and "None" not in page
    return page


def test_quickstart_notebook_executes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = execute("quickstart", tmp_path, monkeypatch)
    text = text_of(outputs)
    assert "verify: verified" in text
    run_report_html(outputs)  # the cell that ends with the report shows its summary, each phase a row
    assert "INC-" in text  # the query found the incident thread
    assert (tmp_path / "notebooks" / ".backfill" / "notebook-demo" / "receipts").is_dir()
    assert not any(o.get("name") == "stderr" and "Warning" in o.get("text", "") for o in outputs)


def test_jira_to_pinecone_runs_against_the_local_fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = execute("jira-to-pinecone", tmp_path, monkeypatch)
    text = text_of(outputs)
    assert "against the local fakes" in text
    run_report_html(outputs)
    assert any("PlanReport" in h and "SUBS" in h and "OPS" in h for h in html_of(outputs))
    assert "/browse/SUBS-" in text or "/browse/OPS-" in text  # the query found issues


def test_inspect_a_run_shows_plan_against_actual_receipts_and_figures(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = execute("inspect-a-run", tmp_path, monkeypatch)
    run_report_html(outputs)
    tables = html_of(outputs)
    assert any("estimated_pages" in h and "pages" in h and "#general" in h for h in tables)  # plan vs actual
    assert any("count_expected" in h and "readback_missing" in h for h in tables)  # the receipts
    assert "'fetch':" in text_of(outputs) and "'ingest':" in text_of(outputs)  # phase_seconds
    assert "'embed':" in text_of(outputs) and "'upsert':" in text_of(outputs)  # ingest_seconds
    assert any("image/png" in o.get("data", {}) for o in outputs), "no figure was produced"


def test_bring_your_own_source_embedder_and_sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outputs = execute("bring-your-own", tmp_path, monkeypatch)
    run_report_html(outputs)
    assert "43 records in the dict; verify: verified" in text_of(outputs)
    assert os.path.isdir(tmp_path / "notebooks" / ".backfill" / "bring-your-own" / "journal")
