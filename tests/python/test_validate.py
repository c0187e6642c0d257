"""validate: duplicate ids with the pages they came from; damaged pages named with a way to recover;
nothing in the workdir touched."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from conftest import journal_pages, ledger, make_export, run_cli, write_config


def snapshot(workdir: Path) -> dict[str, str]:
    return {
        str(p.relative_to(workdir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(workdir.rglob("*"))
        if p.is_file()
    }


@pytest.fixture()
def export_with_duplicate(tmp_path: Path) -> tuple[Path, str]:
    """An export where one message appears in two day files of its channel (as re-exports do)."""
    export = make_export(tmp_path / "export", channels=2, days=4, messages_per_day=5)
    channels = json.loads((export / "channels.json").read_text())
    folder = export / channels[0]["name"]
    days = sorted(folder.glob("*.json"))
    first = json.loads(days[0].read_text())
    second = json.loads(days[1].read_text())
    # a message that starts its own document (a lone message or a thread's parent)
    msg = next(m for m in first if m.get("thread_ts", m["ts"]) == m["ts"] and m.get("subtype") is None)
    second.append(msg)
    days[1].write_text(json.dumps(second))
    return export, f"slack:{channels[0]['id']}:{msg['ts']}"


def test_duplicates_are_reported_with_their_pages(export_with_duplicate: tuple[Path, str], tmp_path: Path) -> None:
    export, dup_id = export_with_duplicate
    config = write_config(tmp_path / "c.toml", export, workdir=tmp_path / "wd")
    assert run_cli("fetch", str(config)).code == 0
    r = run_cli("validate", str(config), "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["duplicate_ids"] == 1
    (dup,) = report["duplicates"]
    assert dup["id"] == dup_id
    assert len(dup["pages"]) == 2 and all(p.startswith("journal/slack_export/") for p in dup["pages"])
    assert run_cli("validate", str(config), "--strict").code == 1
    # Ingest resolves it: one document for the id, holding the message once, and verification passes.
    r = run_cli("run", str(config), "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["verify"]["ok"] is True
    # The run's validate counts the pages its ingest read instead of reading them again: the same report.
    in_run = json.loads(r.out)["validate"]
    alone = json.loads(run_cli("validate", str(config), "--json").out)
    for key in ("pages", "items", "partitions", "duplicate_ids", "duplicates", "bad_pages", "quarantined_count"):
        assert in_run[key] == alone[key] == report[key], key
    with sqlite3.connect(tmp_path / "wd" / "index.sqlite") as db:
        rows = db.execute("SELECT metadata FROM vectors WHERE id LIKE ?", (dup_id + "#%",)).fetchall()
    assert rows
    texts = [json.loads(m)["text"] for (m,) in rows]
    stamp = json.loads(rows[0][0])["created_at"]
    assert sum(t.count(stamp) for t in texts[:1]) == 1


def test_truncated_page_is_named_with_recovery_and_nothing_is_touched(project: tuple[Path, Path]) -> None:
    config, workdir = project
    assert run_cli("fetch", str(config)).code == 0
    pages = journal_pages(workdir)
    victim = pages[len(pages) // 2]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    before = snapshot(workdir)

    r = run_cli("validate", str(config))
    assert r.code == 1
    rel = str(victim.relative_to(workdir))
    last = r.err.strip().splitlines()[-1]
    assert rel in last and "--refetch" in last, last
    assert snapshot(workdir) == before

    # run stops at the damaged page (each page's hash is checked before it is normalized), naming it
    # and the recovery; what it ingested came from intact pages only
    r = run_cli("run", str(config))
    last = r.err.strip().splitlines()[-1]
    assert r.code == 3 and "JournalError" in last and rel in last and "--refetch" in last, last
    with ledger(workdir) as db:
        partitions = {p for (p,) in db.execute("SELECT DISTINCT partition FROM documents")}
    assert victim.parent.name not in partitions

    # the recovery the message names works
    partition = victim.parent.name
    r = run_cli("run", str(config), "--refetch", partition, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["verify"]["ok"] is True


def test_deleted_page_is_reported(project: tuple[Path, Path]) -> None:
    config, workdir = project
    assert run_cli("fetch", str(config)).code == 0
    victim = journal_pages(workdir)[-1]
    victim.unlink()
    r = run_cli("validate", str(config))
    assert r.code == 1 and str(victim.relative_to(workdir)) in r.err


def test_journal_partition_names_cannot_escape(tmp_path: Path) -> None:
    """A conversation id that is a path trick still lands inside the journal."""
    export = make_export(tmp_path / "export", channels=1, days=2, messages_per_day=3)
    channels = json.loads((export / "channels.json").read_text())
    channels[0]["id"] = "../../C0ESC"
    (export / "channels.json").write_text(json.dumps(channels))
    config = write_config(tmp_path / "c.toml", export, workdir=tmp_path / "wd")
    r = run_cli("run", str(config), "--json")
    assert r.code == 0, r.err
    journal = (tmp_path / "wd" / "journal").resolve()
    pages = journal_pages(tmp_path / "wd")
    assert any("C0ESC" in str(p) for p in pages)
    for p in pages:
        assert journal in p.resolve().parents
    assert not any(p.name == "C0ESC" for p in tmp_path.rglob("C0ESC"))
    assert json.loads(r.out)["verify"]["ok"] is True
