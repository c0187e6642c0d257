"""The quickstart notebook runs top to bottom in a real Jupyter kernel."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conftest import ROOT

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs the test extras (nbformat, nbclient)")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs the test extras (nbformat, nbclient)")


def test_quickstart_notebook_executes(tmp_path: Path) -> None:
    (tmp_path / "notebooks").mkdir()
    shutil.copytree(ROOT / "examples" / "slack-export", tmp_path / "examples" / "slack-export")
    nb = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path / "notebooks")}})
    client.execute()
    outputs = "".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "verify: verified" in outputs
    assert "INC-" in outputs  # the query found the incident thread
    assert (tmp_path / "notebooks" / ".backfill" / "notebook-demo" / "receipts").is_dir()
