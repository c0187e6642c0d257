"""The pgvector sink against a real PostgreSQL server with pgvector, started by these tests on
127.0.0.1 (tests/python/pg_server.py) and stopped at the end: Jira → pgvector with a kill -9 inside
a batch's transaction and a rerun verified exactly, updates and deletions reaching the table,
concurrent writers, queries, and the refusals (wrong dimension, wrong password, a trigger that drops
rows, a missing extension, a missing privilege, a dropped connection).

Outside CI the tests skip when PostgreSQL or pgvector is not installed (scripts/setup.sh installs
both); in CI (CI=true) they fail instead."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import pg_server
from backfill import _core
from backfill.errors import ConfigError, SinkError
from conftest import content_bytes, make_export, run_cli
from jira_fake import JiraFake
from test_jira import TOKEN, jira, jira_config  # noqa: F401  (the Jira fake fixture)


@pytest.fixture(scope="module")
def pg() -> Iterator[pg_server.Server]:
    bindir = pg_server.bin_dir()
    reason = ("PostgreSQL (initdb, postgres) is not installed" if bindir is None else
              "the pgvector extension is not installed" if not pg_server.has_pgvector(bindir) else None)
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the pgvector tests (scripts/setup.sh installs them)")
        pytest.skip(f"{reason} (scripts/setup.sh installs PostgreSQL and pgvector)")
    server = pg_server.start()
    yield server
    server.stop()


_tables = iter(range(10**6))


@pytest.fixture()
def table() -> str:
    return f"t{next(_tables)}_{os.getpid()}"


def sink_section(table: str, *, namespace: str = "", extra: str = "") -> str:
    return textwrap.dedent(f"""
        [sink]
        type = "pgvector"
        dsn = "${{DATABASE_URL}}"
        table = "{table}"
        namespace = "{namespace}"
        batch_size = 16
        connections = 3
        """) + extra


def env(pg: pg_server.Server, **kw: str) -> dict[str, str]:
    return {"JIRA_API_TOKEN": TOKEN, "DATABASE_URL": pg.dsn(**kw)}


def run_json(config: Path, pg: pg_server.Server, *extra: str, **kw: str) -> dict[str, Any]:
    r = run_cli("run", str(config), "--progress", "none", "--json", *extra, env=env(pg, **kw))
    assert r.code == 0, f"exit {r.code}\n{r.err[-3000:]}"
    return json.loads(r.out)


def rows(pg: pg_server.Server, table: str, namespace: str = "") -> dict[str, str]:
    """id -> metadata_hash of the table's rows in `namespace`."""
    out = pg.psql(f"SELECT id || ' ' || metadata_hash FROM {table} WHERE namespace = '{namespace}' ORDER BY id")
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


def ledger_chunks(workdir: Path) -> set[str]:
    import sqlite3
    with sqlite3.connect(f"file:{workdir / 'state.sqlite'}?mode=ro", uri=True) as db:
        tables = {t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "chunks" in tables, tables
        cols = [c[1] for c in db.execute("PRAGMA table_info(chunks)")]
        key = "chunk_id" if "chunk_id" in cols else "id"
        return {i for (i,) in db.execute(f"SELECT {key} FROM chunks")}


def assert_no_password(pg_text: str) -> None:
    assert pg_server.PASSWORD not in pg_text


def test_jira_to_pgvector_kill_9_inside_a_batch_then_rerun_verifies_exactly(
        tmp_path: Path, pg: pg_server.Server, table: str, jira: Callable[..., JiraFake]) -> None:  # noqa: F811
    fake = jira({"SUBS": 90, "OPS": 30})
    config, workdir = jira_config(tmp_path, fake, sink=sink_section(table, namespace="kill"), batch_records=16)
    # The second batch dies between its COPY and its INSERT: inside its transaction, which rolls back.
    r = run_cli("run", str(config), "--progress", "none", env={**env(pg), "BACKFILL_FAILPOINTS":
                                                                 "pgvector.batch_copied=3:kill"})
    assert r.code == -9, (r.code, r.err[-2000:])
    before = rows(pg, table, "kill")
    assert before, "the batches before the kill are committed"

    report = run_json(config, pg)
    assert report["verify"]["ok"] is True, report["verify"]
    after = rows(pg, table, "kill")
    assert set(after) == ledger_chunks(workdir)
    assert len(after) == report["verify"]["sink_count"] if "sink_count" in report["verify"] else True
    assert {i.split("#")[0] for i in after} == {f"jira:SUBS-{n}" for n in range(1, 91)} | {
        f"jira:OPS-{n}" for n in range(1, 31)}
    # What restoring from the table needs is in it: text, ids, hashes, metadata.
    sample = pg.psql(f"SELECT text, metadata->>'doc_id', metadata_hash FROM {table} LIMIT 1").split("|")
    assert sample[0] and sample[1].startswith("jira:") and len(sample[2]) == 32
    receipts = sorted((workdir / "receipts").glob("*-verify.json"))
    receipt = json.loads(receipts[-1].read_text())
    assert receipt["sink"]["table"] == f"public.{table}" and receipt["sink"]["namespace"] == "kill"
    assert receipt["sink"]["database"] == f"127.0.0.1:{pg.port}/{pg_server.DATABASE}"
    # The vector index was built after the first load.
    indexes = pg.psql(f"SELECT indexdef FROM pg_indexes WHERE tablename = '{table}'")
    assert "USING hnsw (embedding vector_cosine_ops)" in indexes, indexes
    for f in workdir.rglob("*"):
        if f.is_file():
            assert pg_server.PASSWORD.encode() not in content_bytes(f), f
    assert_no_password(r.err + json.dumps(report))


def test_updates_and_deletions_reach_the_table(
        tmp_path: Path, pg: pg_server.Server, table: str, jira: Callable[..., JiraFake]) -> None:  # noqa: F811
    fake = jira({"SUBS": 40})
    config, workdir = jira_config(tmp_path, fake, projects=("SUBS",), sink=sink_section(table), target_tokens=64)
    run_json(config, pg)
    first = rows(pg, table)
    by_doc: dict[str, set[str]] = {}
    for i in first:
        by_doc.setdefault(i.split("#")[0], set()).add(i)
    doc, ids = max(by_doc.items(), key=lambda kv: len(kv[1]))
    assert len(ids) >= 2
    key = doc.removeprefix("jira:")
    fake.edit(key, summary="Renamed", description="Now a single short line.")
    report = run_json(config, pg)
    assert report["verify"]["ok"] is True
    second = rows(pg, table)
    now = {i for i in second if i.split("#")[0] == doc}
    assert now < ids, (len(now), len(ids))  # the chunks it no longer has are deleted
    assert set(second) == ledger_chunks(workdir)
    assert second[f"{doc}#0"] != first[f"{doc}#0"]  # and the one it keeps is updated
    assert "Renamed" in pg.psql(f"SELECT text FROM {table} WHERE id = '{doc}#0'")

    gone = "SUBS-3"
    fake.delete_issue(gone)
    r = run_cli("reconcile", str(config), "--progress", "none", env=env(pg))
    assert r.code == 0, r.err[-2000:]
    assert not [i for i in rows(pg, table) if i.startswith(f"jira:{gone}#")]


def test_query_returns_the_nearest_records(tmp_path: Path, pg: pg_server.Server, table: str) -> None:
    export = make_export(tmp_path / "export", channels=2, days=3, messages_per_day=6)
    config = tmp_path / "q.toml"
    config.write_text(textwrap.dedent(f"""\
        [run]
        name = "q"
        workdir = "{tmp_path / 'work'}"
        [source]
        type = "slack_export"
        path = "{export}"
        [embedder]
        type = "hash"
        dimension = 32
        """) + sink_section(table, extra='metric = "cosine"\nef_search = 40\n'))
    run_json(config, pg)
    text = pg.psql(f"SELECT metadata->>'text' FROM {table} ORDER BY id LIMIT 1")
    r = run_cli("query", str(config), text, "--json", "-k", "3", env=env(pg))
    assert r.code == 0, r.err[-2000:]
    matches = json.loads(r.out)
    matches = matches["matches"] if isinstance(matches, dict) else matches
    assert len(matches) == 3
    assert matches[0]["metadata"]["text"] == text and matches[0]["score"] == pytest.approx(1.0, abs=1e-5)


def test_concurrent_writers_share_one_new_table(tmp_path: Path, pg: pg_server.Server, table: str,
                                                jira: Callable[..., JiraFake]) -> None:  # noqa: F811
    fake = jira({"SUBS": 60, "OPS": 60})
    configs = [jira_config(tmp_path / p, fake, projects=(p,), name=p, sink=sink_section(table, namespace=p))
               for p in ("SUBS", "OPS")]
    procs = [subprocess.Popen([sys.executable, "-m", "backfill", "run", str(c), "--progress", "none", "--json"],
                              env={**os.environ, **env(pg)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for c, _ in configs]
    for p, (c, workdir) in zip(procs, configs):
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        assert json.loads(out)["verify"]["ok"] is True
        ns = c.stem
        assert set(rows(pg, table, ns)) == ledger_chunks(workdir)
        assert all(i.startswith(f"jira:{ns}-") for i in rows(pg, table, ns))


def test_a_dimension_the_table_does_not_hold_is_refused(tmp_path: Path, pg: pg_server.Server, table: str,
                                                       jira: Callable[..., JiraFake]) -> None:  # noqa: F811
    fake = jira({"SUBS": 5})
    config, _ = jira_config(tmp_path, fake, projects=("SUBS",), sink=sink_section(table))
    run_json(config, pg)
    config.write_text(config.read_text().replace("dimension = 64", "dimension = 32"))
    r = run_cli("run", str(config), "--progress", "none", env=env(pg))
    assert r.code != 0
    assert "dimension 64" in r.err and "32" in r.err, r.err[-2000:]
    # Also set in the config: refused before anything is written.
    with pytest.raises(ConfigError, match="holds vectors of dimension 64, but sink.dimension is 32"):
        _core.PgvectorSink(dsn=pg.dsn(), table=table, dimension=32).stats()


def test_a_wrong_password_names_host_and_database_never_the_password(
        tmp_path: Path, pg: pg_server.Server, table: str, jira: Callable[..., JiraFake]) -> None:  # noqa: F811
    fake = jira({"SUBS": 3})
    config, workdir = jira_config(tmp_path, fake, projects=("SUBS",), sink=sink_section(table))
    wrong = "wr0ng-Passw0rd-" + "x" * 8
    r = run_cli("run", str(config), "--progress", "none", "-v", env=env(pg, password=wrong))
    assert r.code != 0
    assert f"127.0.0.1:{pg.port}/{pg_server.DATABASE}" in r.err and "password authentication failed" in r.err, r.err
    assert "check sink.dsn" in r.err.strip().splitlines()[-1], r.err  # the last line names the setting to fix
    assert wrong not in r.out + r.err and pg_server.PASSWORD not in r.out + r.err
    for f in workdir.rglob("*"):
        if f.is_file():
            assert wrong.encode() not in content_bytes(f), f
    with pytest.raises(SinkError) as e:
        _core.PgvectorSink(dsn=f"host=127.0.0.1 port={pg.port} dbname=nope user=backfill password={wrong}").stats()
    assert "127.0.0.1" in str(e.value) and wrong not in str(e.value) and wrong not in repr(e.value)


def test_a_trigger_that_drops_rows_fails_the_run(tmp_path: Path, pg: pg_server.Server, table: str,
                                                 jira: Callable[..., JiraFake]) -> None:  # noqa: F811
    sink = _core.PgvectorSink(dsn=pg.dsn(), table=table, dimension=64)
    assert sink.stats() == {"count": 0, "dimension": 64}  # created, empty
    pg.psql(f"""CREATE FUNCTION drop_some_{table}() RETURNS trigger LANGUAGE plpgsql AS
                $$ BEGIN IF NEW.id LIKE '%-7#%' THEN RETURN NULL; END IF; RETURN NEW; END $$;
                CREATE TRIGGER drop_some BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION drop_some_{table}();""")
    fake = jira({"SUBS": 20})
    config, _ = jira_config(tmp_path, fake, projects=("SUBS",), sink=sink_section(table))
    r = run_cli("run", str(config), "--progress", "none", env=env(pg))
    assert r.code != 0
    m = re.search(r"acknowledged (\d+) of (\d+) records", r.err)
    assert m and int(m[1]) < int(m[2]), r.err[-2000:]


def test_a_missing_extension_and_a_missing_privilege_name_the_fix(pg: pg_server.Server, table: str) -> None:
    pg.psql("CREATE DATABASE plain")
    with pytest.raises(ConfigError, match="CREATE EXTENSION vector"):
        _core.PgvectorSink(dsn=pg.dsn(database="plain"), create=False).stats()
    pg.psql("CREATE ROLE reader LOGIN PASSWORD 'reader-pass'; GRANT CONNECT ON DATABASE backfill_test TO reader;"
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    _core.PgvectorSink(dsn=pg.dsn(), table=table, dimension=4).stats()  # the extension exists now
    sink = _core.PgvectorSink(dsn=pg.dsn(user="reader", password="reader-pass"), table=table + "_r")
    with pytest.raises(SinkError, match=r"permission denied.*42501.*grant the user reader") as e:
        sink.upsert([{"id": "a", "values": [1.0, 2.0, 3.0, 4.0], "metadata": {}}])
    assert "reader-pass" not in str(e.value)


def test_a_dropped_connection_is_reconnected_and_the_batch_written_again(pg: pg_server.Server, table: str) -> None:
    sink = _core.PgvectorSink(dsn=pg.dsn(), table=table, connections=2, batch_size=50)
    records = [{"id": f"r{i:04}", "values": [float(i), 1.0], "metadata": {"i": i}} for i in range(200)]
    assert sink.upsert(records[:100]) == 100
    pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'backfill' "
            "AND pid <> pg_backend_pid()")
    assert sink.upsert(records[100:]) == 100
    assert sink.stats()["count"] == 200
    assert sink.list("r01", "r010", 3) == ["r0100", "r0101", "r0102"]
    assert sink.list("r00", "r0098", 5) == ["r0099"]
    assert sorted(sink.fetch(["r0007", "nope"])) == ["r0007"]


def test_batches_committed_without_waiting_are_durable_once_upsert_returns(pg: pg_server.Server) -> None:
    # The batches of one call commit without waiting for the disk and the call then waits once for all
    # of them: a crash right after upsert() returns loses nothing. Its own server, with fsync and the
    # server's synchronous_commit (the tests' shared server turns both off).
    server = pg_server.start(fsync=True)
    try:
        sink = _core.PgvectorSink(dsn=server.dsn(), table="durable", connections=3, batch_size=40)
        for round_ in range(3):
            records = [{"id": f"{round_}-{i:04}", "values": [1.0, float(i)], "metadata": {"text": "x" * 300}}
                       for i in range(400)]
            assert sink.upsert(records) == 400
            server.crash_and_restart()
            count = int(server.psql(f"SELECT count(*) FROM durable WHERE id LIKE '{round_}-%'"))
            assert count == 400, f"round {round_}: {count} of 400 rows survived the crash"
    finally:
        server.stop()


def test_writes_from_several_python_threads(pg: pg_server.Server, table: str) -> None:
    sink = _core.PgvectorSink(dsn=pg.dsn(), table=table, connections=4, batch_size=25)
    errors: list[BaseException] = []

    def write(t: int) -> None:
        try:
            recs = [{"id": f"{t}-{i}", "values": [1.0, float(i)], "metadata": {"t": t}} for i in range(300)]
            assert sink.upsert(recs) == 300
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert sink.stats()["count"] == 1200


def test_metadata_holding_nul_is_written_with_u_fffd_in_its_place(pg: pg_server.Server, table: str) -> None:
    # jsonb refuses \u0000: the batch still goes through, each NUL replaced by U+FFFD.
    sink = _core.PgvectorSink(dsn=pg.dsn(), table=table, batch_size=4)
    records = [{"id": f"n{i}", "values": [1.0, float(i)], "metadata": {"text": f"a\x00b{i}", "k\x00": "\\u0000"}}
               for i in range(10)]
    assert sink.upsert(records) == 10
    got = sink.fetch(["n3"])
    assert got["n3"]["metadata"] == {"text": "a\ufffdb3", "k\ufffd": "\\u0000"}, got
    assert pg.psql(f"SELECT text FROM {table} WHERE id = 'n3'") == "a\ufffdb3"


def test_an_index_over_2000_dimensions_is_refused_before_anything_is_written(
        tmp_path: Path, pg: pg_server.Server, table: str, jira: Callable[..., JiraFake]) -> None:  # noqa: F811
    fix = r'sink.index = "hnsw" cannot index vectors of dimension 3072.*set sink.index = "none"'
    with pytest.raises(ConfigError, match=fix):  # set in the config: refused at construction
        _core.PgvectorSink(dsn=pg.dsn(), table=table, dimension=3072)
    # Taken from the first write: refused before the table is created.
    sink = _core.PgvectorSink(dsn=pg.dsn(), table=table, index="ivfflat")
    with pytest.raises(ConfigError, match=r'sink.index = "ivfflat" cannot index vectors of dimension 2001'):
        sink.upsert([{"id": "a", "values": [0.5] * 2001, "metadata": {}}])
    assert pg.psql(f"SELECT to_regclass('{table}') IS NULL") == "t"
    # index = "none" takes them, and queries scan the table.
    plain = _core.PgvectorSink(dsn=pg.dsn(), table=table, index="none", dimension=3072)
    assert plain.upsert([{"id": f"v{i}", "values": [float(i + 1)] * 3072, "metadata": {}} for i in range(3)]) == 3
    assert plain.stats() == {"count": 3, "dimension": 3072}
    # An existing table that wide, opened with an index: refused at first use, before writing.
    with pytest.raises(ConfigError, match=fix):
        _core.PgvectorSink(dsn=pg.dsn(), table=table).stats()
    # A run: fails at its start, naming the fix, and writes nothing.
    fake = jira({"SUBS": 3})
    config, _ = jira_config(tmp_path, fake, projects=("SUBS",), sink=sink_section(table + "_run"))
    config.write_text(config.read_text().replace("dimension = 64", "dimension = 2048"))
    r = run_cli("run", str(config), "--progress", "none", env=env(pg))
    assert r.code != 0
    assert 'sink.index = "hnsw" cannot index vectors of dimension 2048' in r.err, r.err[-2000:]
    assert pg.psql(f"SELECT to_regclass('{table}_run') IS NULL") == "t"


def test_a_document_holding_nul_verifies_and_a_rerun_writes_nothing(
        tmp_path: Path, pg: pg_server.Server, table: str) -> None:
    # The record builder replaces an escaped NUL before it hashes the metadata, so what the table
    # keeps (jsonb has no NUL) is what the ledger expects: the run verifies and a rerun heals nothing.
    import backfill
    from backfill import Document, Page, PythonSource

    def pages(partition: str, cursor: str) -> Iterator[Page]:
        if not cursor:
            yield Page([Document(id="nul:1", text="before\x00after", metadata={"note": "a\x00b"}),
                        Document(id="nul:2", text="plain", metadata={})], next_cursor="done")

    def pipeline() -> backfill.Pipeline:
        return backfill.Pipeline(PythonSource(lambda: ["p"], pages, name="nul"),
                                 sink=backfill.PgvectorTable(dsn=pg.dsn(), table=table),
                                 embedder=backfill.HashEmbedder(dimension=8), workdir=tmp_path / "wd", progress="none")

    report = pipeline().run()
    assert report.verify.ok and report.ingest.chunks_written == 2
    assert pg.psql(f"SELECT metadata->>'note' FROM {table} WHERE id LIKE 'nul:1%'") == "a\ufffdb"
    again = pipeline().run()
    assert again.verify.ok and again.ingest.documents_written == 0


def test_a_first_load_copied_straight_in_then_updated_by_reruns_ends_exact(pg: pg_server.Server, table: str) -> None:
    # A first load's batches are copied straight into the table; a batch meeting an id the table holds
    # (another writer's row, a rerun's, an update's) is merged instead, and so is every later batch.
    def records(ids: range, version: int) -> list[dict[str, Any]]:
        return [{"id": f"r{i:04}", "values": [float(version), float(i)], "metadata": {"v": version, "i": i}}
                for i in ids]

    sink = _core.PgvectorSink(dsn=pg.dsn(), table=table, connections=3, batch_size=10)
    assert sink.upsert(records(range(0, 40), 1)) == 40  # creates the table: every id new
    pg.psql(f"INSERT INTO {table} (namespace, id, embedding, metadata, metadata_hash) "
            "VALUES ('', 'r0065', '[9,9]', '{\"other\": true}', 'x')")
    # New ids but one another writer holds: that batch falls back to the merge, and updates it.
    assert sink.upsert(records(range(40, 100), 1)) == 60
    # Updates mixed with new ids, from the same sink and from a new one (a rerun).
    assert sink.upsert(records(range(90, 120), 2)) == 30
    assert _core.PgvectorSink(dsn=pg.dsn(), table=table, connections=3, batch_size=10).upsert(
        records(range(0, 15), 3) + records(range(115, 130), 3)) == 30
    want = {**{r["id"]: r for r in records(range(0, 90), 1)}, **{r["id"]: r for r in records(range(90, 120), 2)},
            **{r["id"]: r for r in records(range(0, 15), 3)}, **{r["id"]: r for r in records(range(115, 130), 3)}}
    assert sink.stats()["count"] == len(want) == 130
    got = sink.fetch(sorted(want))
    assert {i: (g["values"], g["metadata"]) for i, g in got.items()} == {
        i: (r["values"], r["metadata"]) for i, r in want.items()}

