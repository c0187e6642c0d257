"""The README opens with the two commands that matter; both must stay true. Its Python snippets
type-check under mypy --strict, as a user's code calling them would."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block, "the README must open with a sh code block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_demo_and_test_and_ci_runs_the_test_command() -> None:
    assert readme_commands() == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


def test_demo_command_ends_with_a_verified_receipt() -> None:
    workdir = ROOT / ".backfill" / "slack-demo"
    before = set((workdir / "receipts").glob("*.json")) if (workdir / "receipts").is_dir() else set()
    out = subprocess.run(["make", "-s", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "verify: verified" in out.stdout
    assert re.search(r"^1\. \[\d\.\d{3}\] ", out.stdout, re.M), "the demo query printed no match"
    new = set((workdir / "receipts").glob("*.json")) - before
    assert len(new) == 1
    receipt = json.loads(Path(new.pop()).read_text())
    assert receipt["ok"] is True and receipt["readback"]["missing"] == 0


def python_snippets(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)


def test_readme_python_snippets_type_check_under_mypy_strict(tmp_path: Path) -> None:
    snippets = python_snippets((ROOT / "README.md").read_text())
    assert snippets, "the README has Python snippets"
    files = []
    for i, code in enumerate(snippets):
        files.append(tmp_path / f"readme_snippet_{i}.py")
        files[-1].write_text(code)
    env = {**os.environ, "MYPYPATH": str(ROOT / "python")}
    # The project's mypy settings (which third-party modules ship no stubs) apply to the package's modules.
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--config-file",
                        str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path / ".mypy_cache"),
                        *map(str, files)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
