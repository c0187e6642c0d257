"""The fidelity scorecard (bench/conformance.py) over the real-world corpus in ../shared/fixtures/real:
no case loses visible text (major) or crashes, and at most 2 % of the cases lose some (minor)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT.parent / "shared" / "fixtures" / "real"
sys.path.insert(0, str(ROOT / "bench"))

pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason=f"the real-world corpus is not at {REAL}")


def test_the_corpus_reads_as_a_reader_sees_it() -> None:
    import conformance

    corpora = conformance.scorecard(REAL)
    assert {"adf", "jira"} <= set(corpora)
    rows = [row for rows in corpora.values() for row in rows]
    bad = [row for row in rows if row[1] in ("major", "crash")]
    assert not bad, "\n".join(f"{c}: {v}: {r}" for c, v, r in bad)
    minor = [row for row in rows if row[1] == "minor"]
    assert len(minor) <= 0.02 * len(rows), "\n".join(f"{c}: {r}" for c, _, r in minor)
