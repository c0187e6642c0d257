"""The pgvector sink's preflight checks, against the real PostgreSQL server the tests start: what a
user needs before spending a token (the extension, the table or the right to create it, the right to
write, what the namespace holds). One test per failure: `plan --check` exits non-zero within 5 s,
naming the fix; nothing is created."""

from __future__ import annotations

import contextlib
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

import pg_server
from backfill import _core
from backfill.cli import main
from conftest import journal_pages, make_export, run_cli, write_config
from test_pgvector import pg, sink_section, table  # noqa: F401  (the PostgreSQL server, a fresh table name)

DIM = 8


def config(tmp_path: Path, table: str, *, create: bool = True) -> Path:  # noqa: F811
    export = tmp_path / "export"
    if not export.exists():
        make_export(export, channels=1, days=1, messages_per_day=3)
    sink = sink_section(table, namespace="pf", extra=f"create = {'true' if create else 'false'}\n")
    return write_config(tmp_path / "backfill.toml", export, name="pf", workdir=tmp_path / "work", dimension=DIM,
                        extra=sink)


def check(path: Path, monkeypatch: pytest.MonkeyPatch, dsn: str) -> tuple[int, dict[str, Any], str, float]:
    """`backfill plan --check CONFIG --json` in this process: (exit code, report, stderr, seconds)."""
    monkeypatch.setenv("DATABASE_URL", dsn)
    out, err = io.StringIO(), io.StringIO()
    t0 = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["plan", "--check", str(path), "--json", "-q"])
    return code, json.loads(out.getvalue()), err.getvalue(), time.monotonic() - t0


def sink_checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"] if c["component"] == "sink"}


def assert_fails_naming(result: tuple[int, dict[str, Any], str, float], name: str, *words: str) -> None:
    code, report, err, seconds = result
    assert code == 2, err
    failed = [c for c in report["checks"] if c["status"] == "failed"]
    assert [c["name"] for c in failed] == [name], report["checks"]
    line = f"{failed[0]['verdict']} {failed[0]['fix']}"
    for w in words:
        assert w in line, line
    assert err.strip().splitlines()[-1].startswith("backfill: preflight failed: sink"), err
    assert seconds < 5, f"the checks took {seconds:.1f} s"
    assert pg_server.PASSWORD not in json.dumps(report) + err


def role(pg: pg_server.Server, name: str, *grants: str) -> str:  # noqa: F811
    """A login role without privileges beyond `grants`; its DSN."""
    granted = "".join(f"{g} TO {name};" for g in grants)
    pg.psql(f"CREATE ROLE {name} LOGIN PASSWORD '{name}-pass'; GRANT CONNECT ON DATABASE backfill_test TO {name};"
            + granted)
    return pg.dsn(user=name, password=f"{name}-pass")


def exists(pg: pg_server.Server, table: str, database: str = pg_server.DATABASE) -> bool:  # noqa: F811
    return pg.psql(f"SELECT to_regclass('public.{table}') IS NOT NULL", database=database) == "t"


def test_every_check_passes_on_a_new_table_and_nothing_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg: pg_server.Server, table: str  # noqa: F811
) -> None:
    code, report, err, seconds = check(config(tmp_path, table), monkeypatch, pg.dsn())
    assert code == 0, err
    checks = sink_checks(report)
    assert [n for n in checks] == ["connection", "extension", "table", "privileges"], checks
    assert all(c["status"] == "ok" for c in checks.values()), checks
    assert "signed in as backfill" in checks["connection"]["verdict"]
    assert "the run creates it for vectors of dimension 8" in checks["table"]["verdict"]
    assert not exists(pg, table), "the checks create nothing"
    assert seconds < 5


def test_an_existing_table_says_what_the_namespace_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg: pg_server.Server, table: str  # noqa: F811
) -> None:
    sink = _core.PgvectorSink(dsn=pg.dsn(), table=table, namespace="pf")
    sink.upsert([{"id": f"r{i}", "values": [1.0, float(i), 0.5, 0.25] * 2, "metadata": {}} for i in range(3)])
    assert sink.stats()["count"] == 3  # builds the hnsw index
    code, report, err, _ = check(config(tmp_path, table), monkeypatch, pg.dsn())
    assert code == 0, err
    checks = sink_checks(report)
    verdict = checks["table"]["verdict"]
    assert "holds vectors of dimension 8, hnsw index for metric cosine" in verdict, verdict
    assert "read, insert, update and delete" in checks["privileges"]["verdict"]
    assert checks["namespace"]["verdict"] == 'namespace "pf" holds 3 records'


def test_the_extension_missing_with_create_false(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg: pg_server.Server, table: str  # noqa: F811
) -> None:
    pg.psql("CREATE DATABASE pf_noext", database="postgres")
    result = check(config(tmp_path, table, create=False), monkeypatch, pg.dsn(database="pf_noext"))
    assert_fails_naming(result, "extension", "not installed in database pf_noext", "CREATE EXTENSION vector",
                        "sink.create = true")
    assert sink_checks(result[1])["table"]["status"] == "skipped"


def test_the_extension_missing_and_the_user_may_not_create_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg: pg_server.Server, table: str  # noqa: F811
) -> None:
    pg.psql("CREATE DATABASE pf_noext2", database="postgres")
    pg.psql("CREATE ROLE pf_plain LOGIN PASSWORD 'pf_plain-pass'; GRANT CREATE ON SCHEMA public TO pf_plain",
            database="pf_noext2")
    result = check(config(tmp_path, table), monkeypatch,
                   pg.dsn(user="pf_plain", password="pf_plain-pass", database="pf_noext2"))
    assert_fails_naming(result, "extension", "user pf_plain may not create it", "CREATE EXTENSION vector",
                        "superuser")
    assert pg.psql("SELECT count(*) FROM pg_extension WHERE extname = 'vector'", database="pf_noext2") == "0"


def test_the_table_missing_with_create_false(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg: pg_server.Server, table: str  # noqa: F811
) -> None:
    result = check(config(tmp_path, table, create=False), monkeypatch, pg.dsn())
    assert_fails_naming(result, "table", f"the table public.{table} does not exist", "sink.create = true")


def test_the_table_missing_and_the_user_may_not_create_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg: pg_server.Server, table: str  # noqa: F811
) -> None:
    pg.psql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    dsn = role(pg, f"pf_{table}")
    result = check(config(tmp_path, table), monkeypatch, dsn)
    assert_fails_naming(result, "table", "may not create it (no CREATE on schema public)",
                        f"GRANT CREATE ON SCHEMA public TO pf_{table}")
    # `run` stops at its checks too, before anything is fetched or embedded.
    r = run_cli("run", str(config(tmp_path, table)), "--progress", "none", env={"DATABASE_URL": dsn},
                timeout=120)
    assert r.code == 2 and "GRANT CREATE ON SCHEMA public" in r.err.strip().splitlines()[-1], r.err
    assert not journal_pages(tmp_path / "work"), "nothing fetched before the checks"


def test_a_table_that_is_not_a_backfill_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg: pg_server.Server, table: str  # noqa: F811
) -> None:
    pg.psql(f"CREATE TABLE {table} (id text PRIMARY KEY, body text)")
    result = check(config(tmp_path, table), monkeypatch, pg.dsn())
    assert_fails_naming(result, "table", "has no column namespace", "set sink.table to another name")


def test_a_table_of_another_dimension(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg: pg_server.Server, table: str  # noqa: F811
) -> None:
    _core.PgvectorSink(dsn=pg.dsn(), table=table, dimension=12).stats()
    result = check(config(tmp_path, table), monkeypatch, pg.dsn())
    assert_fails_naming(result, "table", "holds vectors of dimension 12, but the embedder makes vectors of "
                        "dimension 8", "embedder.dimensions = 12")


def test_an_index_for_another_metric_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg: pg_server.Server, table: str  # noqa: F811
) -> None:
    _core.PgvectorSink(dsn=pg.dsn(), table=table, dimension=DIM).stats()
    pg.psql(f"CREATE INDEX ON {table} USING hnsw (embedding vector_l2_ops)")
    code, report, err, _ = check(config(tmp_path, table, create=False), monkeypatch, pg.dsn())
    assert code == 0, err
    t = sink_checks(report)["table"]
    assert t["status"] == "warning", t
    assert "no hnsw index for metric cosine" in t["verdict"] and "hnsw with vector_l2_ops" in t["verdict"], t
    assert "sink.metric" in t["fix"]


def test_a_user_who_may_only_read_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg: pg_server.Server, table: str  # noqa: F811
) -> None:
    _core.PgvectorSink(dsn=pg.dsn(), table=table, dimension=DIM).stats()
    name = f"pf_{table}"
    dsn = role(pg, name, f"GRANT SELECT ON {table}")
    result = check(config(tmp_path, table), monkeypatch, dsn)
    assert_fails_naming(result, "privileges", f"user {name} lacks INSERT, UPDATE, DELETE on public.{table}",
                        f"GRANT SELECT, INSERT, UPDATE, DELETE ON public.{table} TO {name}")


def test_a_wrong_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg: pg_server.Server,  # noqa: F811
                          table: str) -> None:  # noqa: F811
    result = check(config(tmp_path, table), monkeypatch, pg.dsn(password="wrong-Pa55word"))
    assert_fails_naming(result, "connection", "password authentication failed", "sink.dsn")
    assert "wrong-Pa55word" not in json.dumps(result[1]) + result[2]
    assert sink_checks(result[1])["table"]["status"] == "skipped"
