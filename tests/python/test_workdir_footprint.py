"""The workdir's footprint: compressed journal pages (and journals written uncompressed still read),
the ledger's sinks and embedders by integer id (and ledgers of schemas 1 and 3 migrated), `backfill status` sizes by part,
`backfill gc`, and the bytes a verified run leaves per document."""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
from array import array
from pathlib import Path

import pytest

from conftest import journal_pages, ledger, make_export, page_text, run_cli, write_config

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_export(tmp_path_factory.mktemp("export") / "export", channels=3, days=10, messages_per_day=10)


def configured(tmp_path: Path, export: Path, dimension: int = 64) -> tuple[Path, Path]:
    """(config, workdir), the local index outside the workdir (it is the destination, not state)."""
    workdir = tmp_path / "work"
    sink = f'\n[sink]\ntype = "local"\npath = "{tmp_path / "index.sqlite"}"\n'
    return write_config(tmp_path / "c.toml", export, workdir=workdir, dimension=dimension, extra=sink), workdir


def run_json(*args: str) -> dict[str, object]:
    r = run_cli(*args, "--progress", "none", "--json")
    assert r.code == 0, r.err[-3000:]
    return json.loads(r.out)  # type: ignore[no-any-return]


def files_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_journal_pages_are_zstd_frames_and_the_ledger_hashes_what_was_fetched(tmp_path: Path, export: Path) -> None:
    config, workdir = configured(tmp_path, export)
    assert run_json("run", str(config))["verify"]["ok"] is True  # type: ignore[index]
    pages = journal_pages(workdir)
    assert pages and all(p.name.endswith(".json.zst") for p in pages)
    with ledger(workdir) as db:
        recorded = {path: n for path, n in db.execute("SELECT path, bytes FROM pages")}
    assert set(recorded) == {p.relative_to(workdir).as_posix() for p in pages}
    stored = fetched = 0
    for p in pages:
        data = p.read_bytes()
        assert data[:4] == ZSTD_MAGIC
        body = page_text(p)
        json.loads(body)
        assert recorded[p.relative_to(workdir).as_posix()] == len(body.encode())
        stored += len(data)
        fetched += len(body.encode())
    assert stored * 3 < fetched, (stored, fetched)


def test_a_journal_written_uncompressed_still_reads(tmp_path: Path, export: Path) -> None:
    config, workdir = configured(tmp_path, export)
    first = run_json("run", str(config))
    # The journal as an earlier version wrote it: plain JSON files named <seq>.json.
    pages = journal_pages(workdir)
    assert pages and all(p.name.endswith(".json.zst") for p in pages)
    for p in pages:
        p.with_name(p.name.removesuffix(".zst")).write_text(page_text(p))
        p.unlink()
    with sqlite3.connect(workdir / "state.sqlite") as db:
        db.execute("UPDATE pages SET path = substr(path, 1, length(path) - 4)")
        db.executescript("DELETE FROM documents; DELETE FROM chunks;")  # ingest reads every page again
    assert run_json("validate", str(config))["bad_pages"] == []
    again = run_json("run", str(config))
    assert again["fetch"]["pages_fetched"] == 0  # type: ignore[index]
    assert again["ingest"]["documents_written"] == first["ingest"]["documents_written"]  # type: ignore[index]
    assert again["ingest"]["chunks_embedded"] == 0  # type: ignore[index]
    assert again["verify"]["ok"] is True  # type: ignore[index]


def test_status_shows_the_workdir_size_by_part(tmp_path: Path, export: Path) -> None:
    config, workdir = configured(tmp_path, export)
    run_json("run", str(config))
    disk = run_json("status", str(config))["disk"]
    assert isinstance(disk, dict)
    assert disk["journal"] == files_bytes(workdir / "journal")
    assert disk["journal"] > 0 and disk["ledger"] > 0 and disk["cache"] > 0 and disk["other"] > 0  # receipts
    assert disk["journal"] + disk["ledger"] + disk["cache"] + disk["other"] == disk["total"]
    # The ledger's part is state.sqlite with the -wal and -shm files it has while open.
    at_rest = sum(p.stat().st_size for p in workdir.glob("state.sqlite*"))
    assert disk["ledger"] + disk["cache"] >= at_rest
    assert disk["journal"] + disk["other"] == files_bytes(workdir) - at_rest
    r = run_cli("status", str(config))
    assert r.code == 0 and "workdir:" in r.out and "embedding cache" in r.out, r.out


def test_gc_after_a_verified_run_frees_the_cache_and_a_rerun_still_verifies(tmp_path: Path, export: Path) -> None:
    config, workdir = configured(tmp_path, export, dimension=256)
    run_json("run", str(config))
    state_before = (workdir / "state.sqlite").stat().st_size
    gc = run_json("gc", str(config))
    assert gc["embeddings_removed"] > 0 and gc["cache_kept"] == ""  # type: ignore[operator]
    assert gc["after"]["cache"] == 0 and gc["before"]["cache"] > 0  # type: ignore[index]
    assert gc["freed"] == gc["before"]["total"] - gc["after"]["total"] > 0  # type: ignore[index]
    assert (workdir / "state.sqlite").stat().st_size < state_before
    r = run_cli("gc", str(config))
    assert r.code == 0 and r.out.startswith("gc: freed"), r.out
    again = run_json("run", str(config))
    assert again["ingest"]["chunks_embedded"] == 0 and again["verify"]["ok"] is True  # type: ignore[index]


def test_gc_keeps_the_cache_until_the_sink_is_verified(tmp_path: Path, export: Path) -> None:
    config, workdir = configured(tmp_path, export)
    run_json("fetch", str(config))
    run_json("ingest", str(config))
    gc = run_json("gc", str(config))
    assert gc["embeddings_removed"] == 0 and "verify" in gc["cache_kept"]  # type: ignore[operator]
    assert gc["after"]["cache"] > 0  # type: ignore[index]
    assert run_json("verify", str(config))["ok"] is True
    assert run_json("gc", str(config))["embeddings_removed"] > 0  # type: ignore[operator]
    kept = run_json("gc", str(config), "--keep-embeddings")
    assert kept["embeddings_removed"] == 0


def test_keep_embeddings_keeps_the_verified_cache_in_half_precision(tmp_path: Path, export: Path) -> None:
    config, workdir = configured(tmp_path, export, dimension=256)
    config.write_text(config.read_text().replace("[run]\n", "[run]\nkeep_embeddings = true\n", 1))
    first = run_json("run", str(config))
    gc = run_json("gc", str(config))
    assert gc["embeddings_removed"] == 0 and "keep_embeddings" in gc["cache_kept"]  # type: ignore[operator]
    assert gc["embeddings_compacted"] == first["ingest"]["chunks_embedded"] > 0  # type: ignore[index]
    assert 0 < gc["after"]["cache"] < gc["before"]["cache"]  # type: ignore[index]
    with sqlite3.connect(workdir / "state.sqlite") as db:
        # Each vector in half precision (two bytes a component and a tag) in the vector files.
        assert db.execute("SELECT DISTINCT size FROM embeddings").fetchall() == [(2 * 256 + 1,)]
        db.executescript("DELETE FROM documents; DELETE FROM chunks;")  # every document is written again
    # The float32 files were removed: what is left is the half-precision vectors.
    in_files = sum(p.stat().st_size for p in (workdir / "vectors").glob("*.vec"))
    assert in_files == gc["embeddings_compacted"] * (2 * 256 + 1)  # type: ignore[operator]
    again = run_json("run", str(config))
    assert again["ingest"]["chunks_embedded"] == 0 and again["ingest"]["chunks_written"] > 0  # type: ignore[index]
    assert again["verify"]["ok"] is True  # type: ignore[index]


def test_gc_removes_journal_files_no_ledger_row_names(tmp_path: Path, export: Path) -> None:
    config, workdir = configured(tmp_path, export)
    run_json("run", str(config))
    recorded = journal_pages(workdir)
    folder = recorded[0].parent
    stray = [folder / "99999999.json.zst", folder / ".00000000.json.zst.0123456789abcdef.tmp"]
    for p in stray:
        p.write_bytes(b"left by a killed fetch")
    gc = run_json("gc", str(config))
    assert gc["orphan_files_removed"] == 2
    assert not any(p.exists() for p in stray)
    assert journal_pages(workdir) == recorded
    assert run_json("validate", str(config))["bad_pages"] == []


def test_a_verified_run_leaves_at_most_10_kb_a_document_at_dimension_1536(tmp_path: Path, export: Path) -> None:
    config, workdir = configured(tmp_path, export, dimension=1536)
    report = run_json("run", str(config))
    documents = report["ingest"]["documents_written"]  # type: ignore[index]
    assert documents >= 50
    run_json("gc", str(config))
    used = files_bytes(workdir)
    assert used / documents <= 10_000, (used, documents, run_json("status", str(config))["disk"])


def _vectors(index: Path) -> dict[str, list[float]]:
    with sqlite3.connect(index) as db:
        return {i: list(array("f", v)) for i, v in db.execute("SELECT id, vector FROM vectors")}


def test_pages_are_recorded_relative_to_a_workdir_spelled_with_dots_and_a_trailing_slash(
        tmp_path: Path, export: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    workdir = tmp_path / "work"
    spelled = f"{tmp_path}/elsewhere/../work/./"
    sink = f'\n[sink]\ntype = "local"\npath = "{tmp_path / "index.sqlite"}"\n'
    config = write_config(tmp_path / "c.toml", export, workdir=workdir, extra=sink)
    config.write_text(config.read_text().replace(f'workdir = "{workdir}"', f'workdir = "{spelled}"', 1))
    assert spelled in config.read_text()
    assert run_json("run", str(config))["verify"]["ok"] is True  # type: ignore[index]
    with ledger(workdir) as db:
        paths = [p for (p,) in db.execute("SELECT path FROM pages")]
    assert paths and all(p.startswith("journal/") and (workdir / p).is_file() for p in paths), paths[:3]
    assert run_json("gc", str(config))["orphan_files_removed"] == 0  # every page file is a recorded one


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def test_a_verified_run_keeps_heal_copies_only_and_heals_a_lost_record_without_embedding(
        tmp_path: Path, export: Path) -> None:
    config, workdir = configured(tmp_path, export, dimension=1536)
    report = run_json("run", str(config))
    documents, embedded = report["ingest"]["documents_written"], report["ingest"]["chunks_embedded"]  # type: ignore[index]
    assert documents >= 50 and embedded > 0
    used = files_bytes(workdir)  # no gc: what the run itself leaves
    disk = run_json("status", str(config))["disk"]
    assert used / documents <= 10_000, (used, documents, disk)
    with ledger(workdir) as db:
        assert db.execute("SELECT count(*) FROM embeddings").fetchone() == (0,)
        assert db.execute("SELECT count(*), min(size), max(size) FROM heal_copies").fetchone() \
            == (embedded, 4 + 1536, 4 + 1536)
    assert 0 < disk["cache"] <= embedded * 2 * (4 + 1536)  # type: ignore[index]

    # A record the index loses after that verification is written again from its heal copy; one it
    # still holds, altered, takes its vector back from the index, whole.
    index = tmp_path / "index.sqlite"
    held = _vectors(index)
    lost, altered = sorted(held)[3:6], sorted(held)[8]
    with sqlite3.connect(index) as db:
        db.executemany("DELETE FROM vectors WHERE id=?", [(i,) for i in lost])
        (meta,) = db.execute("SELECT metadata FROM vectors WHERE id=?", (altered,)).fetchone()
        db.execute("UPDATE vectors SET metadata=? WHERE id=?", (meta.replace('"title":"', '"title":"x'), altered))
    again = run_json("run", str(config))
    repair = again["verify"]["repair"]  # type: ignore[index]
    assert again["verify"]["ok"] is True and repair["chunks_embedded"] == 0  # type: ignore[index]
    assert repair["documents_written"] == len({i.rsplit("#", 1)[0] for i in [*lost, altered]})
    healed = _vectors(index)
    assert set(healed) == set(held)
    for i in lost:
        assert _cosine(healed[i], held[i]) > 0.9999, i
    assert healed[altered] == held[altered]


def test_keep_embeddings_keeps_the_whole_cache_after_a_verified_run(tmp_path: Path, export: Path) -> None:
    config, workdir = configured(tmp_path, export, dimension=256)
    config.write_text(config.read_text().replace("[run]\n", "[run]\nkeep_embeddings = true\n", 1))
    report = run_json("run", str(config))
    with ledger(workdir) as db:
        assert db.execute("SELECT count(*), min(size), max(size) FROM embeddings").fetchone() \
            == (report["ingest"]["chunks_embedded"], 4 * 256, 4 * 256)  # type: ignore[index]
        assert db.execute("SELECT count(*) FROM heal_copies").fetchone() == (0,)


def test_a_run_that_is_not_verified_keeps_the_whole_cache(tmp_path: Path, export: Path) -> None:
    config, workdir = configured(tmp_path, export)
    run_json("fetch", str(config))
    ingested = run_json("ingest", str(config))
    with sqlite3.connect(tmp_path / "index.sqlite") as db:
        db.execute("DELETE FROM vectors WHERE id IN (SELECT id FROM vectors ORDER BY id LIMIT 2)")
    r = run_cli("run", str(config), "--progress", "none", "--json")
    assert r.code == 0, r.err[-3000:]  # verify found two missing, the repair wrote them, then verified
    assert json.loads(r.out)["verify"]["repair"]["chunks_embedded"] == 0
    with ledger(workdir) as db:  # and only then did the cache give way
        assert db.execute("SELECT count(*) FROM embeddings").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM heal_copies").fetchone() == (ingested["chunks_embedded"],)


def test_a_schema_1_ledger_is_migrated_to_integer_sink_ids(tmp_path: Path, export: Path) -> None:
    config, workdir = configured(tmp_path, export)
    first = run_json("run", str(config))
    # The ledger as schema 1 wrote it: every per-sink row keyed by the sink's identity.
    with sqlite3.connect(workdir / "state.sqlite") as db:
        for table in ("documents", "chunks", "sinks", "tombstones", "unsent"):
            db.execute(f"ALTER TABLE {table} RENAME TO old_{table}")
            sql = db.execute("SELECT sql FROM sqlite_master WHERE name=?", (f"old_{table}",)).fetchone()[0]
            db.execute(sql.replace(f"old_{table}", table, 1).replace("sink INTEGER", "sink TEXT"))
            cols = [c[1] for c in db.execute(f"PRAGMA table_info(old_{table})") if c[1] != "sink"]
            db.execute(f"INSERT INTO {table}(sink, {', '.join(cols)}) SELECT s.identity, {', '.join('t.' + c for c in cols)}"
                       f" FROM old_{table} t JOIN sink_ids s ON s.id = t.sink")
            db.execute(f"DROP TABLE old_{table}")
        db.execute("DROP TABLE sink_ids")
        db.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
        (identity,) = db.execute("SELECT DISTINCT sink FROM chunks").fetchone()
    assert identity.startswith("local:")
    again = run_json("run", str(config))
    assert again["ingest"]["documents_written"] == 0 and again["ingest"]["chunks_embedded"] == 0  # type: ignore[index]
    assert again["verify"]["ok"] is True  # type: ignore[index]
    assert again["verify"]["checked"] == first["verify"]["checked"]  # type: ignore[index]
    with ledger(workdir) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("4",)
        assert db.execute("SELECT identity FROM sink_ids").fetchall() == [(identity,)]
        assert db.execute("SELECT DISTINCT typeof(sink) FROM chunks").fetchall() == [("integer",)]


def test_a_schema_3_cache_is_migrated_to_embedder_ids_and_still_heals_without_embedding(
        tmp_path: Path, export: Path) -> None:
    config, workdir = configured(tmp_path, export)
    run_json("fetch", str(config))
    ingested = run_json("ingest", str(config))  # not verified: the whole cache stays
    # The cache as schema 3 kept it: rows keyed by the embedder's identity, with a rowid.
    with sqlite3.connect(workdir / "state.sqlite") as db:
        db.executescript("""
            ALTER TABLE embeddings RENAME TO e4;
            CREATE TABLE embeddings(embedder TEXT NOT NULL, text_hash TEXT NOT NULL, vector BLOB NOT NULL,
              file INTEGER NOT NULL DEFAULT 0, offset INTEGER NOT NULL DEFAULT 0,
              size INTEGER NOT NULL DEFAULT 0, checksum INTEGER NOT NULL DEFAULT 0,
              PRIMARY KEY(embedder, text_hash));
            INSERT INTO embeddings SELECT i.identity, t.text_hash, x'', t.file, t.offset, t.size, t.checksum
              FROM e4 t JOIN embedder_ids i ON i.id = t.embedder;
            DROP TABLE e4; DROP TABLE heal_copies; DROP TABLE embedder_ids;
            UPDATE meta SET value='3' WHERE key='schema_version';""")
        (identity,) = db.execute("SELECT DISTINCT embedder FROM embeddings").fetchone()
    with sqlite3.connect(tmp_path / "index.sqlite") as db:
        db.execute("DELETE FROM vectors WHERE id IN (SELECT id FROM vectors ORDER BY id LIMIT 2)")
    again = run_json("run", str(config))
    assert again["verify"]["ok"] is True  # type: ignore[index]
    assert again["verify"]["repair"]["chunks_embedded"] == 0  # type: ignore[index]
    with ledger(workdir) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("4",)
        assert db.execute("SELECT identity FROM embedder_ids").fetchall() == [(identity,)]
        # verified: the cache gave way to heal copies, keyed by the embedder's id
        assert db.execute("SELECT count(*), min(typeof(embedder)), max(typeof(embedder)) FROM heal_copies"
                          ).fetchone() == (ingested["chunks_embedded"], "integer", "integer")


def test_the_zstd_command_reads_a_page(tmp_path: Path, export: Path) -> None:
    """A page stays inspectable with standard tools: `zstdcat page | jq`."""
    config, workdir = configured(tmp_path, export)
    run_json("fetch", str(config))
    page = journal_pages(workdir)[0]
    out = subprocess.run(["zstd", "-dcq", str(page)], capture_output=True, check=True).stdout
    json.loads(out)
