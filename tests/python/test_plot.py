"""backfill.plot draws from what a run recorded in its workdir: the timeline and the ledger."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import backfill
from conftest import ledger, make_export

matplotlib = pytest.importorskip("matplotlib", reason="backfill.plot needs the notebook extra (matplotlib)")
matplotlib.use("Agg")

import backfill.plot  # noqa: E402
from backfill.timeline import read_timeline  # noqa: E402


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("plot")
    export = make_export(folder / "export", channels=3, days=4, messages_per_day=6)
    p = backfill.Pipeline(backfill.SlackExport(export), name="plot", workdir=folder / "wd", progress="none")
    p.run()
    p.run()  # a second run: its calls are recorded after the first's
    return folder / "wd"


def test_every_phase_call_is_recorded_in_the_workdir(workdir: Path) -> None:
    samples = read_timeline(workdir)
    ends = [s for s in samples if s.get("end")]
    assert len(ends) == 6 and all(s["ok"] for s in ends)  # plan, fetch + ingest, verify; twice
    phases = {s["phase"] for s in samples if "phase" in s}
    assert {"plan", "fetch", "ingest", "verify"} <= phases
    assert "validate" not in phases  # a phase that writes nothing leaves no trace
    assert all(set(s) == {"call", "t", "phase", "partition", "done", "total", "unit", "quota"} for s in samples if "phase" in s)


def test_the_figures_have_data(workdir: Path) -> None:
    seconds = backfill.plot.phase_seconds(workdir)
    assert {"plan", "fetch", "ingest", "verify"} <= set(seconds) and all(v >= 0 for v in seconds.values())
    inside = {k: v for k, v in backfill.plot.ingest_seconds(workdir).items() if v > 0}
    fig = backfill.plot.overview(workdir)
    spent, speed, parts = fig.axes
    assert len(spent.patches) == len(seconds) + len(inside)
    assert [t.get_text() for t in spent.get_yticklabels()][len(seconds):] == [f"ingest: {k}" for k in inside]
    with ledger(workdir) as db:
        partitions = db.execute("SELECT COUNT(DISTINCT partition) FROM pages").fetchone()[0]
    assert len(parts.get_lines()) == partitions > 3  # a line per partition (conversations, the workspace)
    assert parts.get_lines()[0].get_ydata()[-1] >= 1
    # A small run may finish a phase between two progress ticks, so a rate can be 0; never negative.
    assert speed.get_lines() and min(min(line.get_ydata()) for line in speed.get_lines()) >= 0


def test_each_ingest_records_where_its_time_went(workdir: Path) -> None:
    stages = [s["stages"] for s in read_timeline(workdir) if s.get("end") and "stages" in s]
    assert len(stages) == 2  # the ingest of each run; plan and verify have none
    for split in stages:
        assert set(split) == {"read and normalize", "waiting for the fetch", "embed", "upsert",
                              "held by embed and upsert"}
        assert all(v >= 0 for v in split.values())
    assert stages[0]["embed"] > 0 and stages[0]["upsert"] > 0  # the second run finds nothing changed
    total = backfill.plot.ingest_seconds(workdir)
    assert total["embed"] == pytest.approx(sum(s["embed"] for s in stages))


def test_quota_waits_are_drawn_beside_the_stages(tmp_path: Path) -> None:
    rows = [
        {"call": "a", "t": 10.0, "phase": "ingest", "partition": "", "done": 0, "total": 2, "unit": "pages"},
        {"call": "a", "t": 20.0, "end": True, "ok": True,
         "stages": {"read and normalize": 1.5, "embed": 8.0, "upsert": 0.5}, "waits": {"openai tokens": 6.25}},
    ]
    (tmp_path / "timeline.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert backfill.plot.ingest_seconds(tmp_path) == {"read and normalize": 1.5, "embed": 8.0, "upsert": 0.5,
                                                      "waiting for openai tokens": 6.25}
    (ax,) = backfill.plot.time_spent(tmp_path).axes
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "ingest", "ingest: read and normalize", "ingest: embed", "ingest: upsert", "ingest: waiting for openai tokens"]
    assert [p.get_width() for p in ax.patches] == [10.0, 1.5, 8.0, 0.5, 6.25]


def test_throughput_is_the_rate_between_samples(tmp_path: Path) -> None:
    rows = [
        {"call": "a", "t": 10.0, "phase": "fetch", "partition": "C1", "done": 0, "total": 10, "unit": "pages"},
        {"call": "a", "t": 12.0, "phase": "fetch", "partition": "C1", "done": 4, "total": 10, "unit": "pages"},
        {"call": "a", "t": 14.0, "phase": "fetch", "partition": "C1", "done": 10, "total": 10, "unit": "pages"},
        {"call": "a", "t": 14.5, "end": True, "ok": True},
    ]
    (tmp_path / "timeline.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (line,) = backfill.plot.throughput(tmp_path).axes[0].get_lines()
    assert list(line.get_xdata()) == [1.0, 3.0] and list(line.get_ydata()) == [2.0, 3.0]
    assert backfill.plot.phase_seconds(tmp_path) == {"fetch": 4.5}


def test_without_matplotlib_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install 'backfill\[notebook\]'"):
        backfill.plot.overview(workdir)
