"""Verification fails loudly, naming what is missing or different, when the sink disagrees with the ledger."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from backfill import _core
from conftest import index_ids, latest_receipt, run_cli


def test_lost_records_are_named(project: tuple[Path, Path]) -> None:
    config, workdir = project
    assert run_cli("run", str(config)).code == 0
    ids = index_ids(workdir / "index.sqlite")
    lost = ids[3:6]
    _core.LocalIndex(str(workdir / "index.sqlite"), "").delete(lost)

    r = run_cli("verify", str(config), "--json")
    assert r.code == 1
    report = json.loads(r.out)
    assert report["ok"] is False and report["count_ok"] is False and report["exit_code"] == 1
    assert sorted(report["missing"]) == sorted(lost)
    assert report["observed_count"] == report["expected_count"] - 3
    assert lost[0] in r.err.strip().splitlines()[-1]
    receipt = latest_receipt(workdir)
    assert receipt["ok"] is False and sorted(receipt["readback"]["missing_ids"]) == sorted(lost)


def test_changed_metadata_is_a_mismatch(project: tuple[Path, Path]) -> None:
    config, workdir = project
    assert run_cli("run", str(config)).code == 0
    victim = index_ids(workdir / "index.sqlite")[0]
    with sqlite3.connect(workdir / "index.sqlite") as db:
        (meta,) = db.execute("SELECT metadata FROM vectors WHERE id=?", (victim,)).fetchone()
        m = json.loads(meta)
        m["title"] = m["title"] + " (edited elsewhere)"
        db.execute("UPDATE vectors SET metadata=? WHERE id=?", (json.dumps(m), victim))
    r = run_cli("verify", str(config), "--json")
    assert r.code == 1
    report = json.loads(r.out)
    assert report["count_ok"] is True and report["mismatched"] == [victim]


def test_foreign_records_break_the_count(project: tuple[Path, Path]) -> None:
    config, workdir = project
    assert run_cli("run", str(config)).code == 0
    sink = _core.LocalIndex(str(workdir / "index.sqlite"), "")
    sink.upsert([{"id": "other:1", "values": [0.5] * 64, "metadata": {"a": 1}}])
    r = run_cli("verify", str(config), "--json")
    assert r.code == 1
    report = json.loads(r.out)
    assert report["missing_count"] == 0 and report["observed_count"] == report["expected_count"] + 1


def test_a_sink_that_already_holds_records_is_counted_from_its_baseline(project: tuple[Path, Path]) -> None:
    config, workdir = project
    sink = _core.LocalIndex(str(workdir / "index.sqlite"), "")
    sink.upsert([{"id": f"other:{i}", "values": [0.5] * 64, "metadata": {}} for i in range(7)])
    r = run_cli("run", str(config), "--json")
    assert r.code == 0, r.err
    v = json.loads(r.out)["verify"]
    assert v["baseline"] == 7 and v["observed_count"] == v["expected_count"]
    # Other writers' records were there first: the ids this backfill owns decide, and the receipt says so.
    assert v["criterion"] == "ids" and latest_receipt(workdir)["criterion"] == "ids"
