"""kill -9 at several points of fetch and ingest, then a rerun: nothing lost, nothing duplicated,
no page read twice, no chunk embedded twice.

Kills are delivered by the core's failpoints (BACKFILL_FAILPOINTS), which send SIGKILL to the process
at an exact place, and once from outside at an arbitrary moment."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import index_ids, ledger, make_export, run_cli, write_config


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_export(tmp_path_factory.mktemp("crash") / "export", channels=3, days=8, messages_per_day=10)


@pytest.fixture(scope="module")
def reference(export: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """An uninterrupted run: the ids that must be in the index, and the totals."""
    tmp = tmp_path_factory.mktemp("reference")
    config = write_config(tmp / "c.toml", export, workdir=tmp / "wd")
    r = run_cli("run", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    return {
        "ids": index_ids(tmp / "wd" / "index.sqlite"),
        "pages": report["fetch"]["pages_total"],
        "embedded": report["ingest"]["chunks_embedded"],
    }


def journaled_pages(workdir: Path) -> int:
    with ledger(workdir) as db:
        return int(db.execute("SELECT count(*) FROM pages").fetchone()[0])


def cached_embeddings(workdir: Path) -> int:
    try:
        with ledger(workdir) as db:
            return int(db.execute("SELECT count(*) FROM embeddings").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


FETCH_POINTS = ["fetch.page_journaled=1:kill", "fetch.page_journaled=7:kill", "fetch.page_committed=12:kill"]
INGEST_POINTS = ["ingest.batch_embedded=1:kill", "ingest.batch_upserted=3:kill", "ingest.batch_committed=5:kill"]


@pytest.mark.parametrize("point", FETCH_POINTS)
def test_kill_during_fetch_then_rerun(point: str, export: Path, reference: dict[str, object], tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", export, workdir=tmp_path / "wd")
    killed = run_cli("run", str(config), "--progress", "none", env={"BACKFILL_FAILPOINTS": point})
    assert killed.code == -signal.SIGKILL, f"the failpoint did not fire: {killed.code} {killed.err}"
    committed = journaled_pages(tmp_path / "wd")
    assert 0 < committed < reference["pages"] or point.startswith("fetch.page_journaled=1")  # type: ignore[operator]

    r = run_cli("run", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    # Only the pages not yet recorded are read again (at most the one in flight at the kill).
    assert report["fetch"]["pages_fetched"] == reference["pages"] - committed  # type: ignore[operator]
    assert report["fetch"]["pages_total"] == reference["pages"]
    assert report["verify"]["ok"] is True
    assert index_ids(tmp_path / "wd" / "index.sqlite") == reference["ids"]


@pytest.mark.parametrize("point", INGEST_POINTS)
def test_kill_during_ingest_then_rerun(point: str, export: Path, reference: dict[str, object], tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", export, workdir=tmp_path / "wd")
    killed = run_cli("run", str(config), "--progress", "none", env={"BACKFILL_FAILPOINTS": point})
    assert killed.code == -signal.SIGKILL, f"the failpoint did not fire: {killed.code} {killed.err}"
    embedded_before = cached_embeddings(tmp_path / "wd")
    assert embedded_before > 0

    r = run_cli("run", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["fetch"]["pages_fetched"] == 0  # the journal was complete before ingest began
    # Every chunk text is embedded exactly once across both processes.
    assert report["ingest"]["chunks_embedded"] == reference["embedded"] - embedded_before  # type: ignore[operator]
    assert report["verify"]["ok"] is True
    assert index_ids(tmp_path / "wd" / "index.sqlite") == reference["ids"]


def test_kill_from_outside_at_an_arbitrary_moment(export: Path, reference: dict[str, object], tmp_path: Path) -> None:
    """`kill -9` from another process while pages are being fetched and documents ingested slowly."""
    config = write_config(tmp_path / "c.toml", export, workdir=tmp_path / "wd")
    env = dict(os.environ)
    env["BACKFILL_FAILPOINTS"] = "fetch.page_committed=*:sleep(15);ingest.batch_committed=*:sleep(40)"
    kills = 0
    ended: list[str] = []  # how the runs that ended before their kill ended
    for i, delay in enumerate((0.6, 1.3, 2.2)):
        err = tmp_path / f"run{i}.err"
        with open(err, "wb") as stderr:
            proc = subprocess.Popen([sys.executable, "-m", "backfill", "run", str(config), "--progress", "none"],
                                    env=env, stdout=subprocess.DEVNULL, stderr=stderr)
            time.sleep(delay)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            else:
                ended.append(f"run {i} exited {proc.returncode} before {delay} s: {err.read_text()[-2000:]}")
            proc.wait(timeout=60)
    assert kills >= 1, ended
    r = run_cli("run", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["verify"]["ok"] is True
    assert index_ids(tmp_path / "wd" / "index.sqlite") == reference["ids"]
    with ledger(tmp_path / "wd") as db:
        (n,) = db.execute("SELECT count(*) FROM embeddings").fetchone()
    assert n == reference["embedded"]
