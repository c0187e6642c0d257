"""The Slack export source against a real workspace export (../shared/fixtures/real/slack, see its
SOURCES.md): no document or message lost, no sentence's worth of visible text lost, no crash, and at
most 2 % of the documents losing a word or two (bench/conformance_slack.py says how cases are judged).
Skips when the corpus is not next to the repository."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT.parent / "shared" / "fixtures" / "real"

pytestmark = pytest.mark.skipif(not (REAL / "slack").is_dir(), reason=f"no real-world corpus at {REAL}")


def test_real_slack_export_loses_nothing_a_reader_sees() -> None:
    spec = importlib.util.spec_from_file_location("conformance_slack", ROOT / "bench" / "conformance_slack.py")
    assert spec and spec.loader
    conformance = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conformance)
    rows = conformance.run(REAL)
    assert rows, "the corpus holds no Slack cases"
    bad = [r for r in rows if r[1] in ("major", "crash")]
    assert bad == [], "\n".join(f"{v} {c}: {why}" for c, v, why in bad)
    minor = [r for r in rows if r[1] == "minor"]
    assert len(minor) <= 0.02 * len(rows), "\n".join(f"{v} {c}: {why}" for c, v, why in minor)
