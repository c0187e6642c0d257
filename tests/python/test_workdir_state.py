"""State that survives: one run per workdir, nothing unsent called verified, reruns that heal what
verify found, and a ledger rebuilt from the destination when the workdir is gone."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from conftest import run_cli


def _start_slow_run(config: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, BACKFILL_FAILPOINTS="ingest.batch_upserted=*:sleep(3000)")
    return subprocess.Popen([sys.executable, "-m", "backfill", "run", str(config), "--progress", "none"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_lock(workdir: Path, first: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lock = workdir / "lock"
        if lock.exists() and lock.read_text().strip():
            return
        assert first.poll() is None, first.communicate()
        time.sleep(0.05)
    raise AssertionError("the first run never took the workdir's lock")


def test_a_second_run_on_the_same_workdir_exits_2_naming_the_first(project: tuple[Path, Path]) -> None:
    config, workdir = project
    first = _start_slow_run(config)
    try:
        _wait_for_lock(workdir, first)
        started = time.monotonic()
        second = run_cli("run", str(config), "--progress", "none")
        took = time.monotonic() - started
        assert second.code == 2, second.err
        assert f"pid {first.pid}" in second.err and socket.gethostname() in second.err
        assert took < 5  # the interpreter's start and imports; the lock itself does not wait
        for read_only in ("status", "plan"):
            assert run_cli(read_only, str(config)).code == 0
        assert run_cli("ingest", str(config)).code == 2
        assert run_cli("verify", str(config)).code == 2
    finally:
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert run_cli("verify", str(config)).code == 0


def test_the_lock_of_a_killed_run_is_taken_over(project: tuple[Path, Path]) -> None:
    config, workdir = project
    first = _start_slow_run(config)
    _wait_for_lock(workdir, first)
    first.kill()
    first.communicate()
    assert json.loads((workdir / "lock").read_text())["pid"] == first.pid  # its note stays behind
    r = run_cli("run", str(config), "--progress", "none")
    assert r.code == 0, r.err


# --- nothing unsent is called verified; a rerun heals what verify found ---------------------------

from collections.abc import Callable  # noqa: E402
import sqlite3  # noqa: E402

from typing import NamedTuple  # noqa: E402

import pytest  # noqa: E402

from conftest import index_ids, latest_receipt, make_export, write_config  # noqa: E402
from pinecone_fake import PineconeFake  # noqa: E402
from test_pinecone import cli, fakes, pinecone_config  # noqa: E402,F401


def _upserted_ids(fake: PineconeFake, since: int) -> list[str]:
    calls = fake.calls("/vectors/upsert")[since:]
    return sorted(v["id"] for c in calls for v in (c.body or {}).get("vectors", []))


def test_records_too_large_to_send_fail_the_run_and_are_sent_once_the_setting_allows(
        fakes: Callable[..., PineconeFake], tmp_path: Path) -> None:
    export = make_export(tmp_path / "export", channels=2, days=2, messages_per_day=5, seed=5)
    fake = fakes()
    config, workdir = pinecone_config(tmp_path, export, fake, transport="rest", target_tokens=300)
    plain = config.read_text()
    config.write_text(plain.replace('transport = "rest"', 'transport = "rest"\nmax_request_bytes = 1500'))
    r = cli("run", str(config), "--progress", "none", "--json")
    assert r.code == 1, r.err
    v = json.loads(r.out)
    assert v["ok"] is False and v["unsent_count"] > 0 and v["missing_count"] == 0
    unsent = {u["id"] for u in v["unsent"]}
    assert all("request limit" in u["reason"] for u in v["unsent"])
    assert not unsent & set(fake.vectors("slack"))
    receipt = latest_receipt(workdir)
    assert receipt["ok"] is False and receipt["unsent"]["count"] == v["unsent_count"]
    assert {u["id"] for u in receipt["unsent"]["records"]} == unsent
    assert "backfill run" in r.err.strip().splitlines()[-1]

    config.write_text(plain)  # the setting removed
    r = cli("run", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["verify"]["ok"] is True and report["verify"]["unsent_count"] == 0
    assert unsent <= set(fake.vectors("slack"))
    assert report["ingest"]["chunks_embedded"] == 0  # the vectors came from the embedding cache


def test_records_the_index_lost_after_acknowledging_are_written_again_by_the_next_run(
        fakes: Callable[..., PineconeFake], tmp_path: Path) -> None:
    export = make_export(tmp_path / "export", channels=2, days=2, messages_per_day=5, seed=6)
    fake = fakes()
    config, _ = pinecone_config(tmp_path, export, fake, transport="rest", count_timeout=2)
    assert cli("run", str(config), "--progress", "none").code == 0
    lost = sorted(fake.vectors("slack"))[2:5]
    fake.remove(lost, namespace="slack")
    before = len(fake.calls("/vectors/upsert"))
    r = cli("run", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err
    v = json.loads(r.out)["verify"]
    assert v["ok"] is True and v["repair"]["chunks_embedded"] == 0
    assert set(lost) <= set(_upserted_ids(fake, before))
    docs = {i.rsplit("#", 1)[0] for i in lost}
    assert {i.rsplit("#", 1)[0] for i in _upserted_ids(fake, before)} == docs  # those documents only
    assert set(lost) <= set(fake.vectors("slack"))


def test_rows_deleted_or_altered_in_the_local_index_are_repaired(project: tuple[Path, Path]) -> None:
    config, workdir = project
    assert run_cli("run", str(config)).code == 0
    index = workdir / "index.sqlite"
    ids = index_ids(index)
    lost, altered = ids[3:5], ids[7]
    db = sqlite3.connect(index)  # by hand, as a person would (and one SQLite library in this process)
    with db:
        db.executemany("DELETE FROM vectors WHERE id=?", [(i,) for i in lost])
        (meta,) = db.execute("SELECT metadata FROM vectors WHERE id=?", (altered,)).fetchone()
        db.execute("UPDATE vectors SET metadata=? WHERE id=?", (meta.replace('"title":"', '"title":"x'), altered))
    db.close()

    r = run_cli("verify", str(config))
    assert r.code == 1
    assert "backfill verify --repair" in r.err.strip().splitlines()[-1]
    r = run_cli("verify", str(config), "--repair", "--json")
    assert r.code == 0, r.err
    v = json.loads(r.out)
    assert v["ok"] is True and v["repair"]["chunks_embedded"] == 0 and v["repair"]["documents_written"] >= 1
    assert index_ids(index) == ids

    db = sqlite3.connect(index)  # and once more, healed by a plain run
    with db:
        db.executemany("DELETE FROM vectors WHERE id=?", [(i,) for i in lost])
    db.close()
    r = run_cli("run", str(config), "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["ingest"]["chunks_embedded"] == 0
    assert index_ids(index) == ids


# --- the destination is the durable state ---------------------------------------------------------

import shutil  # noqa: E402


def test_a_deleted_workdir_is_restored_from_pinecone_and_nothing_is_embedded_again(
        fakes: Callable[..., PineconeFake], tmp_path: Path) -> None:
    export = make_export(tmp_path / "export", channels=2, days=3, messages_per_day=5, seed=8)
    fake = fakes()
    fake.seed([{"id": "other:1", "values": [0.25] * 64, "metadata": {"writer": "someone else"}}], namespace="slack")
    config, workdir = pinecone_config(tmp_path, export, fake, transport="rest", count_timeout=2)
    r = cli("run", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err
    first = json.loads(r.out)
    held = fake.vectors("slack")
    shutil.rmtree(workdir)
    upserts = len(fake.calls("/vectors/upsert"))

    r = cli("run", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err
    again = json.loads(r.out)
    assert again["ingest"]["chunks_embedded"] == 0 and again["ingest"]["chunks_written"] == 0
    assert again["ingest"]["documents_unchanged"] == first["ingest"]["documents_written"]
    v = again["verify"]
    assert v["ok"] is True and v["baseline"] == 1 and v["checked"] == len(held) - 1
    assert len(fake.calls("/vectors/upsert")) == upserts and fake.vectors("slack") == held


class LocalRun(NamedTuple):
    """A finished, verified run whose local index lives outside its workdir."""
    config: Path
    workdir: Path
    index: Path
    ids: list[str]


@pytest.fixture
def local_run(tmp_path: Path) -> LocalRun:
    export = make_export(tmp_path / "export", channels=2, days=3, messages_per_day=5, seed=9)
    index = tmp_path / "index.sqlite"
    workdir = tmp_path / "work"
    config = write_config(tmp_path / "c.toml", export, workdir=workdir,
                          extra=f'\n[sink]\ntype = "local"\npath = "{index}"\n')
    r = run_cli("run", str(config), "--json")
    assert r.code == 0, r.err
    return LocalRun(config, workdir, index, index_ids(index))


def test_a_deleted_workdir_is_restored_from_a_local_index_kept_elsewhere(local_run: LocalRun) -> None:
    config, workdir, index, ids = local_run
    shutil.rmtree(workdir)
    r = run_cli("run", str(config), "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["ingest"]["chunks_embedded"] == 0 and report["verify"]["criterion"] == "count and ids"
    assert report["verify"]["checked"] == len(ids) and index_ids(index) == ids


def test_a_request_limit_no_record_fits_is_refused_at_start(fakes: Callable[..., PineconeFake], tmp_path: Path) -> None:
    export = make_export(tmp_path / "export", channels=1, days=1, messages_per_day=3, seed=5)
    fake = fakes()
    config, workdir = pinecone_config(tmp_path, export, fake, transport="rest")
    config.write_text(config.read_text().replace('transport = "rest"', 'transport = "rest"\nmax_request_bytes = 1024'))
    r = cli("run", str(config), "--progress", "none")
    assert r.code == 2, r.err
    last = r.err.strip().splitlines()[-1]
    assert "sink.max_request_bytes = 1024 is too small for any record" in last
    assert fake.calls("/vectors/upsert") == [] and fake.count("slack") == 0
    assert not (workdir / "journal").exists()  # refused before anything was fetched


def test_records_dropped_by_a_lossy_index_are_written_again_once_it_keeps_them(
        fakes: Callable[..., PineconeFake], tmp_path: Path) -> None:
    export = make_export(tmp_path / "export", channels=2, days=2, messages_per_day=5, seed=7)
    fake = fakes()
    fake.lossy(fraction=0.2, seed=4)
    config, _ = pinecone_config(tmp_path, export, fake, transport="rest", count_timeout=2)
    r = cli("run", str(config), "--progress", "none", "--json")
    dropped = sorted(set(fake.dropped))
    assert dropped and r.code == 1
    assert "backfill verify --repair" in r.err.strip().splitlines()[-1]
    fake.reset_faults()
    before = len(fake.calls("/vectors/upsert"))
    r = cli("run", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    written = _upserted_ids(fake, before)
    assert set(dropped) <= set(written)
    assert {i.rsplit("#", 1)[0] for i in written} == {i.rsplit("#", 1)[0] for i in dropped}
    assert report["ingest"]["chunks_embedded"] == 0 and report["verify"]["ok"] is True


def test_ingest_alone_exits_1_while_records_are_unsent(fakes: Callable[..., PineconeFake], tmp_path: Path) -> None:
    export = make_export(tmp_path / "export", channels=2, days=2, messages_per_day=5, seed=5)
    fake = fakes()
    config, workdir = pinecone_config(tmp_path, export, fake, transport="rest", target_tokens=300)
    config.write_text(config.read_text().replace('transport = "rest"', 'transport = "rest"\nmax_request_bytes = 1500'))
    assert cli("fetch", str(config), "--progress", "none").code == 0
    r = cli("ingest", str(config), "--progress", "none", "--json")
    assert r.code == 1, r.err
    report = json.loads(r.out)
    assert report["ok"] is False and report["unsent"] and "request limit" in report["unsent"][0]["reason"]
    assert "ingest incomplete" in r.err.strip().splitlines()[-1]


def test_restore_rebuilds_the_ledger_from_the_sink_although_the_workdir_has_state(local_run: LocalRun) -> None:
    config, workdir, index, ids = local_run
    # The ledger loses what it wrote (a copied or half-restored workdir); its journal and cursors stay.
    with sqlite3.connect(workdir / "state.sqlite") as db:
        db.executescript("DELETE FROM documents; DELETE FROM chunks; DELETE FROM embeddings;")
    r = run_cli("run", str(config), "--json", "--restore")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["ingest"]["chunks_embedded"] == 0 and report["ingest"]["chunks_written"] == 0
    assert report["verify"]["ok"] is True and report["verify"]["checked"] == len(ids) and index_ids(index) == ids


def test_a_sink_that_cannot_list_says_so_and_the_run_writes_everything_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    import backfill
    from backfill import PythonSink
    from backfill.errors import SinkError
    from test_python_source_sink import DictIndex, docs_source, small_pages

    index = DictIndex()

    def cannot_list(prefix: str, after: str, limit: int) -> list[str]:
        raise SinkError("this index cannot list its ids")

    def pipeline() -> backfill.Pipeline:
        sink = PythonSink(index.upsert, index.fetch, index.delete, cannot_list, index.stats)
        return backfill.Pipeline(docs_source(small_pages()), sink=sink, workdir=tmp_path / "wd", progress="none")

    assert pipeline().run().verify.ok
    held = dict(index.records)
    shutil.rmtree(tmp_path / "wd")
    with caplog.at_level(logging.WARNING, logger="backfill"):
        again = pipeline().run()
    assert "cannot list its records" in caplog.text and "every document is written again" in caplog.text
    assert again.verify.ok and again.verify.criterion == "ids"
    assert again.ingest.documents_written == 3 * 4 and index.records.keys() == held.keys()


def test_records_written_before_provenance_count_as_baseline_and_are_written_again(local_run: LocalRun) -> None:
    config, workdir, index, ids = local_run
    # As an older backfill wrote them: no provenance keys, so restore cannot claim them.
    with sqlite3.connect(index) as db:
        for vid, meta in db.execute("SELECT id, metadata FROM vectors").fetchall():
            m = {k: v for k, v in json.loads(meta).items() if not k.startswith("backfill_")}
            db.execute("UPDATE vectors SET metadata=? WHERE id=?", (json.dumps(m), vid))
    shutil.rmtree(workdir)
    r = run_cli("run", str(config), "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    v = report["verify"]
    assert v["ok"] is True and v["criterion"] == "ids" and v["baseline"] == len(ids) and v["checked"] == len(ids)
    assert report["ingest"]["chunks_written"] == len(ids) and index_ids(index) == ids
    with sqlite3.connect(index) as db:
        assert all("backfill_doc_hash" in json.loads(m) for (m,) in db.execute("SELECT metadata FROM vectors"))
    r = run_cli("run", str(config), "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["ingest"]["chunks_written"] == 0
