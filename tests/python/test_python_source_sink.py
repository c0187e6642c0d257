"""Sources and sinks written in Python (backfill.PythonSource, backfill.PythonSink) get the journal,
resume, validation, verification and receipts of the native ones: the examples in examples/ run end to
end, are killed with SIGKILL at random points and resumed to the exact index; a sink that drops a
record fails verification naming it; a source that raises resumes from its last journaled page; and
wrong shapes are refused naming the callable at fault."""

from __future__ import annotations

import _thread
import importlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

import backfill
from backfill import Document, Page, PythonSink, PythonSource
from backfill.errors import SinkError, SourceError, VerificationError
from conftest import ROOT, ledger, latest_receipt, page_text, run_cli

EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(EXAMPLES))
import dict_sink  # noqa: E402  (examples/dict_sink.py)
FILES = {"alpha": 130, "beta": 45, "gamma": 7}  # lines per file: 3 + 1 + 1 pages of 50


def make_jsonl(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in FILES.items():
        with open(folder / f"{name}.jsonl", "w") as f:
            for i in range(1, n + 1):
                f.write(json.dumps({"id": i, "title": f"{name} #{i}", "body": f"item {i} of {name}: " + "word " * (i % 7),
                                    "updated": f"2024-03-{1 + i % 28:02d}T10:00:00Z", "tags": [name, f"t{i % 3}"]}) + "\n")
    return folder


def expected_ids() -> list[str]:
    return sorted(f"{name}:{i}#0" for name, n in FILES.items() for i in range(1, n + 1))


def config(tmp: Path) -> Path:
    text = (EXAMPLES / "python-demo.toml").read_text()
    path = tmp / "demo.toml"
    path.write_text(text.replace('name = "python-demo"', f'name = "python-demo"\nworkdir = "{tmp / "wd"}"\nbatch_records = 20'))
    return path


def env_for(tmp: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join([str(EXAMPLES), os.environ.get("PYTHONPATH", "")]),
            "JSONL_DIR": str(tmp / "data"), "DICT_SINK_PATH": str(tmp / "index.json")}


def stored(tmp: Path) -> dict[str, Any]:
    return json.loads((tmp / "index.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The index an uninterrupted run of the example config writes."""
    tmp = tmp_path_factory.mktemp("reference")
    make_jsonl(tmp / "data")
    r = run_cli("run", str(config(tmp)), "--progress", "none", "--json", env=env_for(tmp))
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["verify"]["ok"] and report["fetch"]["pages_fetched"] == 5
    records = stored(tmp)
    assert sorted(records) == expected_ids()
    return records


def test_examples_run_end_to_end_with_journal_and_receipt(reference: dict[str, Any]) -> None:
    record = reference["alpha:12#0"]
    assert record["metadata"]["file"] == "alpha" and record["metadata"]["tags"] == ["alpha", "t0"]
    assert record["metadata"]["doc_id"] == "alpha:12" and record["metadata"]["source"] == "jsonl"
    assert len(record["values"]) == 256


def test_in_process_with_objects_journal_and_receipt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_jsonl(tmp_path / "data")
    monkeypatch.setenv("JSONL_DIR", str(tmp_path / "data"))
    source_module = importlib.reload(importlib.import_module("jsonl_source"))
    index = dict_sink.JsonFileIndex(tmp_path / "index.json")
    p = backfill.Pipeline(
        PythonSource(source_module.partitions, source_module.pages, name="jsonl"),
        sink=PythonSink(index.upsert, index.fetch, index.delete, index.list, index.stats, name="json-file"),
        workdir=tmp_path / "wd", progress="none")
    report = p.run()
    assert report.verify.ok and report.validate.items == sum(FILES.values()) and report.validate.duplicate_ids == 0
    assert sorted(index.records) == expected_ids()
    pages = sorted(Path(p.workdir, "journal", "jsonl", "alpha").iterdir())
    assert len(pages) == 3 and json.loads(page_text(pages[0]))["documents"][0]["id"] == "alpha:1"
    receipt = latest_receipt(tmp_path / "wd")
    assert receipt["ok"] and receipt["source"] == {"kind": "jsonl", "description": "Python source jsonl (jsonl_source.pages)"}
    assert receipt["sink"]["kind"] == "python" and receipt["readback"]["checked"] == len(expected_ids())
    # A second run fetches nothing again and finds nothing changed.
    again = p.run()
    assert again.fetch.pages_fetched == 0 and again.ingest.documents_unchanged == sum(FILES.values())


KILL_POINTS = ["fetch.page_journaled", "fetch.page_committed", "ingest.batch_upserted", "ingest.batch_committed"]


@pytest.mark.parametrize("seed", range(4))
def test_kill_9_at_a_random_point_then_resume_to_the_exact_index(
    seed: int, reference: dict[str, Any], tmp_path: Path
) -> None:
    rng = random.Random(seed)
    point = f"{KILL_POINTS[seed]}={rng.randint(1, 4)}:kill"
    make_jsonl(tmp_path / "data")
    cfg, env = config(tmp_path), env_for(tmp_path)
    killed = run_cli("run", str(cfg), "--progress", "none", env={**env, "BACKFILL_FAILPOINTS": point})
    assert killed.code == -signal.SIGKILL, f"{point} did not fire: {killed.code} {killed.err}"
    with ledger(tmp_path / "wd") as db:
        (journaled,) = db.execute("SELECT count(*) FROM pages").fetchone()

    r = run_cli("run", str(cfg), "--progress", "none", "--json", env=env)
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["verify"]["ok"] is True and report["verify"]["checked"] == len(expected_ids())
    assert report["fetch"]["pages_fetched"] == 5 - journaled  # resumed after the journaled pages
    assert stored(tmp_path) == reference  # the exact ids, vectors and metadata


def test_kill_9_from_outside_at_random_moments(reference: dict[str, Any], tmp_path: Path) -> None:
    make_jsonl(tmp_path / "data")
    cfg, env = config(tmp_path), {**os.environ, **env_for(tmp_path)}
    env["BACKFILL_FAILPOINTS"] = "fetch.page_committed=*:sleep(150);ingest.batch_committed=*:sleep(100)"
    rng = random.Random(11)
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "backfill", "run", str(cfg), "--progress", "none"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Kill at a random moment after the first page is journaled: fetch still has pages to go
        # (each page sleeps 150 ms after its commit), so the kill lands inside the run, not after it.
        deadline = time.monotonic() + 30
        journal = tmp_path / "wd" / "journal"
        while proc.poll() is None and time.monotonic() < deadline and not any(journal.glob("**/*.json.zst")):
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
    assert kills >= 1
    r = run_cli("run", str(cfg), "--progress", "none", "--json", env=env_for(tmp_path))
    assert r.code == 0, r.err
    assert json.loads(r.out)["verify"]["ok"] is True
    assert stored(tmp_path) == reference


class DictIndex(dict_sink.DictIndex):
    """The example's in-memory sink; `drop` names ids it acknowledges and loses."""

    def __init__(self, drop: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.drop = drop

    def upsert(self, records: list[dict[str, Any]]) -> int:
        super().upsert([r for r in records if r["id"] not in self.drop])
        return len(records)

    def sink(self, **kw: Any) -> PythonSink:
        return PythonSink(self.upsert, self.fetch, self.delete, self.list, self.stats, **kw)


def docs_source(pages_by_partition: dict[str, list[list[Document]]], **kw: Any) -> PythonSource:
    def pages(partition: str, cursor: str) -> Iterator[Page]:
        all_pages = pages_by_partition[partition]
        for n in range(int(cursor or 0), len(all_pages)):
            yield Page(all_pages[n], next_cursor=str(n + 1))

    return PythonSource(lambda: list(pages_by_partition), pages, name="docs", **kw)


def small_pages(partition: str = "p", pages: int = 3, per_page: int = 4) -> dict[str, list[list[Document]]]:
    return {partition: [[Document(id=f"{partition}:{n}-{i}", text=f"text {n} {i}", metadata={"n": n})
                         for i in range(per_page)] for n in range(pages)]}


def test_a_sink_that_drops_a_record_fails_verification_naming_it(tmp_path: Path) -> None:
    index = DictIndex(drop=("p:1-2#0",))
    p = backfill.Pipeline(docs_source(small_pages()), sink=index.sink(), workdir=tmp_path / "wd", progress="none")
    with pytest.raises(VerificationError, match="p:1-2#0") as info:
        p.run()
    assert info.value.report.missing == ["p:1-2#0"] and not info.value.report.count_ok
    assert info.value.receipt is not None
    assert json.loads(Path(info.value.receipt).read_text())["readback"]["missing_ids"] == ["p:1-2#0"]


def test_a_sink_that_changes_metadata_fails_verification(tmp_path: Path) -> None:
    index = DictIndex()
    p = backfill.Pipeline(docs_source(small_pages()), sink=index.sink(), workdir=tmp_path / "wd", progress="none")
    p.run()
    index.records["p:2-0#0"]["metadata"]["n"] = 99
    report = p.verify(raise_on_failure=False)
    assert not report.ok and report.mismatched == ["p:2-0#0"]


def test_a_source_that_raises_mid_partition_resumes_from_its_last_journaled_page(tmp_path: Path) -> None:
    cursors: list[str] = []
    fail = [True]

    def pages(partition: str, cursor: str) -> Iterator[Page]:
        cursors.append(cursor)
        for n in range(int(cursor or 0), 5):
            if n == 3 and fail[0]:
                raise ConnectionError("the API went away")
            yield Page([Document(id=f"d{n}-{i}", text=f"page {n} item {i}") for i in range(3)], next_cursor=str(n + 1))

    index = DictIndex()
    p = backfill.Pipeline(PythonSource(lambda: ["only"], pages, name="flaky"), sink=index.sink(),
                          workdir=tmp_path / "wd", progress="none")
    with pytest.raises(SourceError, match=r"source.pages \(test_python_source_sink\..*pages\) raised ConnectionError: "
                       "the API went away") as info:
        p.fetch()
    assert isinstance(info.value.__cause__, ConnectionError)
    assert p.status().pages == 3
    fail[0] = False
    report = p.run()
    assert cursors == ["", "3"] and report.fetch.pages_fetched == 2
    assert sorted(index.records) == sorted(f"d{n}-{i}#0" for n in range(5) for i in range(3)) and report.verify.ok


def test_duplicate_ids_are_reported_by_validate_with_their_pages(tmp_path: Path) -> None:
    pages = small_pages()
    pages["p"][2].append(Document(id="p:0-1", text="again", updated_at="2030-01-01T00:00:00Z"))
    index = DictIndex()
    p = backfill.Pipeline(docs_source(pages), sink=index.sink(), workdir=tmp_path / "wd", progress="none")
    report = p.run()
    assert report.validate.duplicate_ids == 1 and report.validate.duplicates[0].id == "p:0-1"
    assert len(report.validate.duplicates[0].pages) == 2
    assert index.records["p:0-1#0"]["metadata"]["updated_at"] == "2030-01-01T00:00:00Z"  # the latest wins


def test_raw_items_with_normalize_are_journaled_raw_and_normalized_at_ingest(tmp_path: Path) -> None:
    def pages(partition: str, cursor: str) -> Iterator[Page]:
        yield Page([{"key": "A-1", "summary": "one"}, {"key": "A-2", "summary": "two"}, {"skip": True}])

    def normalize(item: dict[str, Any]) -> Document | None:
        return None if item.get("skip") else Document(id=f"raw:{item['key']}", text=item["summary"])

    index = DictIndex()
    p = backfill.Pipeline(PythonSource(lambda: ["a"], pages, name="raw", normalize=normalize,
                                       list_ids=lambda partition: ["raw:A-1"]),
                          sink=index.sink(), workdir=tmp_path / "wd", progress="none", reconcile=True)
    report = p.run()
    (page,) = (tmp_path / "wd" / "journal" / "raw" / "a").iterdir()
    assert json.loads(page_text(page))["items"][0] == {"key": "A-1", "summary": "one"}
    assert report.validate.items == 2 and report.reconcile is not None and report.reconcile.deleted == ["raw:A-2"]
    assert sorted(index.records) == ["raw:A-1#0"] and report.verify.ok


def _yields(value: Any) -> Callable[[str, str], Iterator[Any]]:
    def pages(partition: str, cursor: str) -> Iterator[Any]:
        yield value

    return pages


SOURCE_SHAPES = [
    (dict(partitions=lambda: "abc"), r"source.partitions \(.*\) returned a str, expected a list of partition names"),
    (dict(pages=_yields([Document(id="x")])), r"source.pages \(.*\) yielded a list, expected backfill.Page"),
    (dict(pages=_yields(Page([{"text": "no id"}]))), "gave a document without an id"),
    (dict(pages=_yields(Page([{"id": "x", "author": "me"}]))), "key 'author'.*put other fields in metadata"),
    (dict(pages=_yields(Page([Document(id="x", metadata={"o": {"nested": 1}})]))),  # type: ignore[dict-item]
     "metadata .o. is a dict"),
    (dict(pages=_yields(Page([7]))), "gave a int as a document, expected a backfill.Document"),
    (dict(pages=lambda partition, cursor: None), r"source.pages \(.*\) returned None, expected pages: an iterable"),
]


@pytest.mark.parametrize(("spec", "needle"), SOURCE_SHAPES, ids=["partitions", "page", "id", "key", "meta", "item", "pages"])
def test_bad_source_shapes_name_the_callable_and_what_was_expected(spec: dict[str, Any], needle: str,
                                                                  tmp_path: Path) -> None:
    kw: dict[str, Any] = {"partitions": lambda: ["p"], "pages": _yields(Page([Document(id="x")])), **spec}
    p = backfill.Pipeline(PythonSource(**kw), sink=DictIndex().sink(), workdir=tmp_path / "wd", progress="none")
    with pytest.raises(SourceError, match=needle) as info:
        p.fetch()
    assert "test_python_source_sink." in str(info.value)


SINK_SHAPES = [
    ("upsert", lambda records: "ok", r"sink.upsert \(.*<lambda>\) returned a str, expected the number of records"),
    ("fetch", lambda ids: [1, 2], r"sink.fetch \(.*\) returned 1 for id None, expected a record"),
    ("stats", lambda: None, r"sink.stats \(.*\) returned None, expected \{\"count\": int"),
    ("upsert", lambda records: 1 / 0, r"sink.upsert \(.*\) raised ZeroDivisionError: division by zero"),
]


@pytest.mark.parametrize(("hook", "fn", "needle"), SINK_SHAPES, ids=["upsert", "fetch", "stats", "raises"])
def test_bad_sink_results_name_the_callable_and_what_was_expected(hook: str, fn: Callable[..., Any], needle: str,
                                                                 tmp_path: Path) -> None:
    index = DictIndex()
    hooks: dict[str, Any] = {"upsert": index.upsert, "fetch": index.fetch, "delete": index.delete, "list": index.list,
                             "stats": index.stats, hook: fn}
    p = backfill.Pipeline(docs_source(small_pages()), sink=PythonSink(**hooks), workdir=tmp_path / "wd",
                          progress="none")
    with pytest.raises(SinkError, match=needle) as info:
        p.run()
    if hook == "upsert" and "raised" in needle:
        assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_a_short_upsert_count_fails_the_run(tmp_path: Path) -> None:
    index = DictIndex()
    sink = PythonSink(lambda records: len(records) - 1, index.fetch, index.delete, index.list, index.stats)
    p = backfill.Pipeline(docs_source(small_pages()), sink=sink, workdir=tmp_path / "wd", progress="none")
    with pytest.raises(SinkError, match="acknowledged"):
        p.run()


def test_ctrl_c_inside_python_source_code_raises_keyboardinterrupt_and_resumes(tmp_path: Path) -> None:
    seen: list[str] = []

    def pages(partition: str, cursor: str) -> Iterator[Page]:
        seen.append(cursor)
        for n in range(int(cursor or 0), 40):
            time.sleep(0.05)
            yield Page([Document(id=f"k{n}", text=f"slow page {n}")], next_cursor=str(n + 1))

    index = DictIndex()
    p = backfill.Pipeline(PythonSource(lambda: ["slow"], pages, name="slow"), sink=index.sink(),
                          workdir=tmp_path / "wd", progress="none", fetch_concurrency=1, overlap=False)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            p.fetch()
    finally:
        timer.cancel()
    done = p.status().pages
    assert 0 < done < 40
    report = p.run()
    assert seen[-1] == str(done) and report.verify.ok and len(index.records) == 40


def test_query_goes_to_the_python_query_function_or_says_there_is_none(tmp_path: Path) -> None:
    index = DictIndex()
    hits = [{"id": "p:0-0#0", "score": 0.5, "metadata": {"text": "t"}}]
    p = backfill.Pipeline(docs_source(small_pages()), sink=index.sink(query=lambda vector, k: hits[:k]),
                          workdir=tmp_path / "wd", progress="none")
    p.run()
    assert [m.id for m in p.query("text", k=1)] == ["p:0-0#0"]
    bare = backfill.Pipeline(docs_source(small_pages()), sink=index.sink(), workdir=tmp_path / "wd2", progress="none")
    with pytest.raises(SinkError, match="no query function"):
        bare.query("text")


def test_config_names_callables_by_import_path_and_refuses_a_bad_one(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[source]\ntype = "python"\npartitions = "jsonl_source:nothing"\npages = "jsonl_source:pages"\n')
    with pytest.raises(backfill.ConfigError, match="source.partitions 'jsonl_source:nothing': jsonl_source has no"):
        backfill.Pipeline.from_config(cfg)


def test_reopen_makes_the_source_incremental_from_its_watermark(tmp_path: Path) -> None:
    rows = {"1": "2024-01-01", "2": "2024-01-02"}
    asked: list[str] = []

    def pages(partition: str, cursor: str) -> Iterator[Page]:
        asked.append(cursor)
        fresh = sorted((day, i) for i, day in rows.items() if day > cursor)
        if fresh:
            yield Page([Document(id=f"inc:{i}", text=f"row {i} of {day}", updated_at=day) for day, i in fresh],
                       next_cursor=fresh[-1][0], watermark=fresh[-1][0])

    index = DictIndex()
    p = backfill.Pipeline(PythonSource(lambda: ["all"], pages, name="inc", reopen=lambda partition, mark: mark),
                          sink=index.sink(), workdir=tmp_path / "wd", progress="none")
    p.run()
    rows["3"] = "2024-01-03"
    report = p.run()
    assert asked == ["", "2024-01-02"] and report.fetch.pages_fetched == 1 and report.verify.ok
    assert sorted(index.records) == ["inc:1#0", "inc:2#0", "inc:3#0"]


def test_other_result_forms_and_a_metadata_limit(tmp_path: Path) -> None:
    """fetch may return a list of records and stats the bare count; metadata_max_bytes trims metadata."""
    index = DictIndex()
    sink = PythonSink(index.upsert, lambda ids: [{"id": i, **index.records[i]} for i in ids if i in index.records],
                      index.delete, index.list, lambda: len(index.records), metadata_max_bytes=200)
    pages = {"p": [[Document(id="long", title="t", text="word " * 400, metadata={"note": "x" * 500})]]}
    p = backfill.Pipeline(docs_source(pages), sink=sink, workdir=tmp_path / "wd", progress="none")
    report = p.run()
    assert report.verify.ok and (report.ingest.metadata_truncated or report.ingest.metadata_dropped)
    assert all(len(json.dumps(r["metadata"], separators=(",", ":"), ensure_ascii=False)) <= 200
               for r in index.records.values())
