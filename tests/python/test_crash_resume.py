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

from conftest import index_ids, journal_pages, ledger, make_export, run_cli, write_config


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
        # The verified run keeps each text's vector once: as its heal copy (the sink holds the whole one).
        (n,) = db.execute("SELECT (SELECT count(*) FROM embeddings) + (SELECT count(*) FROM heal_copies)").fetchone()
    assert n == reference["embedded"]


# --- the seeded crash suite: kills across fetch, ingest, upsert and verify ------------------------
#
# Episodes: a fresh index and workdir, then runs that each die at a failpoint drawn from a seeded
# random stream (a run that ends before its point ends the episode), then a run that must finish.
# After each episode the index must hold exactly the reference's ids, metadata and vectors. Pages
# fetched again are the journal files a killed run wrote but never recorded (one page in flight:
# fetch_concurrency = 1); texts embedded again are counted by the OpenAI fake over the episode. With
# `delete_workdir`, the workdir is deleted after every kill, so each rerun restores from the index.

import hashlib  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
from collections.abc import Callable  # noqa: E402

from openai_fake import OpenAIFake  # noqa: E402
from test_openai import KEY as OPENAI_KEY, fakes as openai_fakes, openai_config  # noqa: E402,F401

SUITE_POINTS = ["fetch.page_journaled", "fetch.page_committed", "ingest.batch_embedded", "ingest.batch_upserted",
                "ingest.batch_committed", "verify.batch_checked"]
KILLS = 20


def index_rows(index: Path) -> dict[str, tuple[str, str]]:
    """id -> (canonical metadata, hash of the vector's bytes)."""
    with sqlite3.connect(index) as db:
        rows = db.execute("SELECT id, metadata, vector FROM vectors WHERE namespace='' ORDER BY id").fetchall()
    return {i: (json.dumps(json.loads(m), sort_keys=True), hashlib.sha256(v).hexdigest()) for i, m, v in rows}


def orphan_pages(workdir: Path) -> int:
    """Journal files a killed run wrote and never recorded: the next run fetches them again."""
    on_disk = {p.relative_to(workdir).as_posix() for p in journal_pages(workdir)}
    try:
        with ledger(workdir) as db:
            recorded = {r[0] for r in db.execute("SELECT path FROM pages")}
    except sqlite3.OperationalError:
        recorded = set()
    return len(on_disk - recorded)


def suite_config(tmp: Path, export: Path, fake: OpenAIFake) -> tuple[Path, Path, Path]:
    tmp.mkdir(parents=True, exist_ok=True)
    index = tmp / "index.sqlite"  # beside the workdir, so that deleting the workdir keeps it
    config, workdir = openai_config(tmp, export, fake, extra=f'\n[sink]\ntype = "local"\npath = "{index}"\n')
    config.write_text(config.read_text().replace("batch_records = 64", "batch_records = 16\nfetch_concurrency = 1"))
    return config, workdir, index


def crash_suite(export: Path, fake: OpenAIFake, tmp: Path, seed: int, delete_workdir: bool) -> dict[str, int]:
    env = {"OPENAI_API_KEY": OPENAI_KEY}
    ref_config, _, ref_index = suite_config(tmp / "reference", export, fake)
    before = fake.inputs
    assert run_cli("run", str(ref_config), "--progress", "none", env=env).code == 0
    reference, embedded_once = index_rows(ref_index), fake.inputs - before
    rng = random.Random(seed)
    figures = {"kills": 0, "episodes": 0, "exact": 0, "refetched_pages": 0, "reembedded_texts": 0, "restores": 0}
    per_phase: dict[str, int] = {}
    while figures["kills"] < KILLS:
        figures["episodes"] += 1
        config, workdir, index = suite_config(tmp / f"episode{figures['episodes']}", export, fake)
        before = fake.inputs
        kills_here = 0
        while figures["kills"] < KILLS:
            point = f"{rng.choice(SUITE_POINTS)}={rng.randint(1, 4)}:kill"
            r = run_cli("run", str(config), "--progress", "none", env={**env, "BACKFILL_FAILPOINTS": point})
            if r.code != -signal.SIGKILL:
                assert r.code == 0, (point, r.err)
                break
            figures["kills"] += 1
            kills_here += 1
            per_phase[point.split(".")[0]] = per_phase.get(point.split(".")[0], 0) + 1
            if delete_workdir:
                shutil.rmtree(workdir, ignore_errors=True)
                figures["restores"] += 1
            else:
                orphans = orphan_pages(workdir)
                assert orphans <= 1, (point, orphans)
                figures["refetched_pages"] += orphans
        r = run_cli("run", str(config), "--progress", "none", "--json", env=env)
        assert r.code == 0, r.err
        assert json.loads(r.out)["verify"]["ok"] is True
        assert index_rows(index) == reference  # the exact ids, metadata and vectors
        figures["exact"] += 1
        again = fake.inputs - before - embedded_once
        assert again <= kills_here * 16, (again, kills_here)  # at most a batch in flight per kill
        figures["reembedded_texts"] += again
    assert per_phase.keys() >= {"fetch", "ingest"}, per_phase
    return figures


@pytest.mark.parametrize("delete_workdir", [False, True], ids=["kept", "deleted"])
def test_seeded_crash_suite(delete_workdir: bool, openai_fakes: Callable[..., OpenAIFake],
                            tmp_path_factory: pytest.TempPathFactory) -> None:
    tmp = tmp_path_factory.mktemp("suite")
    export = make_export(tmp / "export", channels=2, days=4, messages_per_day=6, seed=21)
    figures = crash_suite(export, openai_fakes(), tmp, seed=15, delete_workdir=delete_workdir)
    print(f"crash suite ({'workdir deleted' if delete_workdir else 'workdir kept'}): {figures}")
    assert figures["kills"] >= KILLS and figures["exact"] == figures["episodes"]


def cached_vector_rows(workdir: Path) -> list[tuple[str, int, int, int]]:
    """(text hash, file, offset, size) of each vector the cache holds in its files."""
    with ledger(workdir) as db:
        return db.execute("SELECT text_hash, file, offset, size FROM embeddings WHERE file > 0"
                          " ORDER BY file, offset").fetchall()


@pytest.mark.parametrize("misplace", [False, True], ids=["as-written", "rows-swapped"])
def test_vectors_cached_before_a_kill_are_reused_and_are_each_texts_own(
        misplace: bool, openai_fakes: Callable[..., OpenAIFake], tmp_path: Path) -> None:
    """Killed after embedding, before upserting: the rerun takes the cached vectors from their files
    instead of embedding the texts again, and the index holds exactly what an uninterrupted run
    writes. Rows pointing at each other's bytes (a misattributed vector) are not taken: those texts
    are embedded again, and the index is still exact."""
    fake = openai_fakes()
    export = make_export(tmp_path / "export", channels=2, days=4, messages_per_day=6, seed=21)
    env = {"OPENAI_API_KEY": OPENAI_KEY}
    ref_config, _, ref_index = suite_config(tmp_path / "reference", export, fake)
    before = fake.inputs
    assert run_cli("run", str(ref_config), "--progress", "none", env=env).code == 0
    reference, embedded_once = index_rows(ref_index), fake.inputs - before

    config, workdir, index = suite_config(tmp_path / "killed", export, fake)
    before = fake.inputs
    # Swapped rows must be texts the rerun looks up: killed once the first batch is embedded, before
    # any batch is written, no text belongs to a document already committed.
    point = "ingest.batch_embedded=1:kill" if misplace else "ingest.batch_embedded=3:kill"
    killed = run_cli("run", str(config), "--progress", "none", env={**env, "BACKFILL_FAILPOINTS": point})
    assert killed.code == -signal.SIGKILL, f"the failpoint did not fire: {killed.code} {killed.err}"
    rows = cached_vector_rows(workdir)
    # Answers a kill cut off before their vectors were stored are not cached (embedded again).
    assert 0 < len(rows) <= fake.inputs - before
    assert all((workdir / "vectors" / f"{f}.vec").is_file() for _, f, _, _ in rows)
    if misplace:
        (h1, f1, o1, _), (h2, f2, o2, _) = rows[0], rows[-1]
        with sqlite3.connect(workdir / "state.sqlite") as db:  # conftest's ledger() opens it read-only
            assert db.execute("SELECT count(*) FROM documents").fetchone() == (0,)
            db.execute("UPDATE embeddings SET file=?, offset=? WHERE text_hash=?", (f2, o2, h1))
            db.execute("UPDATE embeddings SET file=?, offset=? WHERE text_hash=?", (f1, o1, h2))

    before = fake.inputs
    r = run_cli("run", str(config), "--progress", "none", "--json", env=env)
    assert r.code == 0, r.err
    assert json.loads(r.out)["verify"]["ok"] is True
    assert index_rows(index) == reference  # the exact ids, metadata and vectors
    # Each cached vector reused; only the two swapped ones embedded again.
    assert fake.inputs - before == embedded_once - len(rows) + (2 if misplace else 0)
    # The verified run keeps heal copies in the ledger, and no vector files.
    assert not list((workdir / "vectors").glob("*.vec"))
