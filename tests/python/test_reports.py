"""The reports the core returns (read-only structs) and the dataclasses of backfill.reports have
the same fields, and Report.from_dict is strict: a renamed field fails instead of reading as 0."""

from __future__ import annotations

import dataclasses

import pytest

from backfill import _core, reports
from backfill._options import option_names

PAIRS = [
    (_core.PartitionPlan, reports.Partition),
    (_core.PlanReport, reports.PlanReport),
    (_core.FetchReport, reports.FetchReport),
    (_core.Duplicate, reports.Duplicate),
    (_core.BadPage, reports.BadPage),
    (_core.ValidateReport, reports.ValidateReport),
    (_core.IngestReport, reports.IngestReport),
    (_core.ReconcileReport, reports.ReconcileReport),
    (_core.VerifyReport, reports.VerifyReport),
    (_core.PartitionStatus, reports.PartitionStatus),
    (_core.StatusReport, reports.StatusReport),
    (_core.WorkdirUsage, reports.WorkdirUsage),
    (_core.GcReport, reports.GcReport),
]


@pytest.mark.parametrize(("core", "report"), PAIRS, ids=[r.__name__ for _, r in PAIRS])
def test_the_core_report_and_the_dataclass_have_the_same_fields(core: type, report: type) -> None:
    from_core = {f.name for f in dataclasses.fields(report) if not f.metadata.get("facade")}
    names = set(option_names(core))
    if "metadata" in names:  # IngestReport: the metadata changes by kind, flattened by the facade
        names = (names - {"metadata"}) | {f"metadata_{n}" for n in option_names(_core.MetadataChanges)}
    assert names == from_core


def test_a_renamed_field_fails() -> None:
    data = reports.FetchReport(pages_fetched=3).to_dict()
    assert reports.FetchReport.from_dict(data) == reports.FetchReport(pages_fetched=3)
    data["pages_read"] = data.pop("pages_fetched")
    with pytest.raises(ValueError, match=r"unknown fields \['pages_read'\], missing fields \['pages_fetched'\]"):
        reports.FetchReport.from_dict(data)


def test_nested_reports_round_trip() -> None:
    status = reports.StatusReport(partitions=[reports.PartitionStatus("C1", "done", 2, 5)], pages=2,
                                  last_receipt="r.json")
    assert reports.StatusReport.from_dict(status.to_dict()) == status
    gc = reports.GcReport(before=reports.WorkdirUsage(journal=5, total=9), freed=4, cache_kept="why")
    assert reports.GcReport.from_dict(gc.to_dict()) == gc and "freed 4 B" in str(gc) and "why" in str(gc)
    run = reports.RunReport(plan=reports.PlanReport([reports.Partition("C1")]), fetch=reports.FetchReport(),
                            validate=reports.ValidateReport(bad_pages=[reports.BadPage("C1", "p", "damaged")]),
                            ingest=reports.IngestReport(metadata_truncated={"text": 2}),
                            verify=reports.VerifyReport(ok=True, receipt="r.json"))
    assert reports.RunReport.from_dict(run.to_dict()) == run
    without_receipt = {k: v for k, v in reports.VerifyReport().to_dict().items() if k not in ("receipt", "junit")}
    assert reports.VerifyReport.from_dict(without_receipt).receipt is None, "facade fields may be absent"


# --- what a notebook shows ----------------------------------------------------------------------

import logging  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
import contextlib  # noqa: E402
from collections.abc import Callable  # noqa: E402

import backfill  # noqa: E402
from backfill.progress import LogProgress  # noqa: E402
from conftest import make_export  # noqa: E402
from github_fake import TOKEN as GITHUB_TOKEN  # noqa: E402
from github_fake import GitHubFake  # noqa: E402
from jira_fake import JiraFake  # noqa: E402
from slack_api_fake import SlackApiFake  # noqa: E402


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[backfill.Pipeline, reports.RunReport]:
    folder = tmp_path_factory.mktemp("reports")
    export = make_export(folder / "export", channels=2, days=3, messages_per_day=5)
    p = backfill.Pipeline(backfill.SlackExport(export), name="r", workdir=folder / "wd", progress="none")
    return p, p.run()


def test_a_run_report_shows_the_phases_that_ran_with_their_times(small_run: Any) -> None:
    _, run = small_run
    page = run._repr_html_()
    for phase in ("plan", "fetch", "ingest", "validate", "verify"):
        assert f"<th>{phase}</th>" in page
        assert getattr(run, phase).seconds is not None
    assert "reconcile" not in page and "None" not in page
    assert "verified" in page and "<li>" not in page  # no problems to list


def test_problems_come_first() -> None:
    verify = reports.VerifyReport(ok=False, expected_count=10, observed_count=8, missing_count=2,
                                  missing=["a#0", "b#0"], seconds=1.5)
    run = reports.RunReport(plan=reports.PlanReport(), fetch=reports.FetchReport(), validate=reports.ValidateReport(),
                            ingest=reports.IngestReport(records_skipped=1, skipped_ids=["c#0"]), verify=verify)
    page = run._repr_html_()
    assert "NOT VERIFIED" in page
    assert page.index("2 missing (a#0, b#0)") < page.index("<th>plan</th>")
    assert page.index("1 records could not be sent at all: c#0") < page.index("<th>plan</th>")
    for report in (verify, run.ingest):
        assert report.problems() and report.problems()[0] in report._repr_html_()


def test_reports_become_data_frames(small_run: Any) -> None:
    pd = pytest.importorskip("pandas")
    p, run = small_run
    frame = run.to_pandas()
    assert list(frame["phase"]) == ["plan", "fetch", "ingest", "validate", "verify"]
    assert frame.set_index("phase").loc["ingest", "documents_written"] == run.ingest.documents_written
    plan = run.plan.to_pandas()
    assert list(plan["name"]) == [x.name for x in run.plan.partitions]
    status = p.status().to_pandas()
    assert isinstance(status, pd.DataFrame) and set(status["status"]) == {"done"}
    assert run.verify.to_pandas().loc[0, "ok"]


def test_to_pandas_without_pandas_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install 'backfill\[notebook\]'"):
        reports.FetchReport().to_pandas()


@pytest.mark.parametrize("overlap", [True, False])
def test_every_phase_of_a_run_knows_its_total(tmp_path: Path, overlap: bool) -> None:
    export = make_export(tmp_path / "export", channels=2, days=3, messages_per_day=5)
    seen: list[dict[str, Any]] = []
    p = backfill.Pipeline(backfill.SlackExport(export), workdir=tmp_path / "wd", progress=seen.append,
                          overlap=overlap)
    run = p.run()
    totals: dict[str, set[int]] = {}
    for s in seen:
        totals.setdefault(s["phase"], set()).add(s["total"])
        assert s["total"] < 0 or s["done"] <= s["total"], s
    assert set(totals) == {"plan", "fetch", "ingest", "validate", "verify"}
    for phase in ("fetch", "ingest", "validate", "verify"):
        assert min(totals[phase]) >= 0, (phase, totals[phase])
    assert totals["ingest"] == {run.fetch.pages_total}


def _service_source(kind: str, stack: contextlib.ExitStack) -> tuple[Any, Callable[[], int]]:
    """A source of `kind` against its local fake (3 partitions), and the requests the fake has seen."""
    if kind == "jira":
        jira = stack.enter_context(JiraFake({"SUBS": 40, "OPS": 12, "WEB": 5}))
        return (backfill.JiraCloud(url=jira.url, email=jira.email, token=jira.token, projects=("SUBS", "OPS", "WEB"),
                                   max_results=10, rate=200), lambda: len(jira.requests))
    if kind == "github":
        gh = stack.enter_context(GitHubFake({"acme/widgets": 25, "acme/gadgets": 8, "acme/tools": 3}))
        return (backfill.GitHub(token=GITHUB_TOKEN, repos=("acme/widgets", "acme/gadgets", "acme/tools"),
                                base_url=gh.url, per_page=10, rate=200), lambda: len(gh.requests))
    slack = stack.enter_context(SlackApiFake())
    slack.time_factor = 200.0
    slack.generate(channels=3, messages=60, thread_share=0.2)
    return (backfill.SlackApi(token=slack.token, base_url=slack.url, workspace_url="https://acme.slack.com",
                              channels=["*"], rate_scale=slack.time_factor), lambda: len(slack.calls))


@pytest.mark.parametrize("overlap", [True, False])
@pytest.mark.parametrize("kind", ["jira", "github", "slack_api"])
def test_a_run_against_a_service_knows_the_fetch_total(tmp_path: Path, kind: str, overlap: bool) -> None:
    """The services' sources know their pages only from `plan`'s estimate, which a run does not ask for:
    the fetch still has a total (so an ETA) that it reaches, and knowing it costs at most a request per
    partition."""
    with contextlib.ExitStack() as stack:
        source, requests = _service_source(kind, stack)
        backfill.Pipeline(source, workdir=tmp_path / "quiet", progress="none").fetch()
        quiet = requests()
        seen: list[dict[str, Any]] = []
        partitions = backfill.Pipeline(source, workdir=tmp_path / "wd", progress=seen.append,
                                       overlap=overlap).run().fetch.partitions
        fetch = [s for s in seen if s["phase"] == "fetch"]
        assert fetch and min(s["total"] for s in fetch) > 0, fetch[:3]
        assert all(s["done"] <= s["total"] for s in fetch), fetch
        assert fetch[-1]["done"] == fetch[-1]["total"], fetch[-1]
        before = requests()
        backfill.Pipeline(source, workdir=tmp_path / "counted", progress=lambda s: None).fetch()
        assert requests() - before <= quiet + partitions, (quiet, requests() - before)


def test_every_pass_of_the_plan_knows_its_total(tmp_path: Path) -> None:
    """Once the partitions are listed, the plan's sample (in pages) and its estimate (in partitions)
    each have a total, so each has an ETA, and each ends complete."""
    export = make_export(tmp_path / "export", channels=3, days=4, messages_per_day=5)
    seen: list[dict[str, Any]] = []
    p = backfill.Pipeline(backfill.SlackExport(export), workdir=tmp_path / "wd", progress=seen.append)
    plan = p.plan()
    passes: list[dict[str, Any]] = []  # the last counters of each pass, in order
    for s in seen:
        assert s["phase"] == "plan", s
        assert s["total"] < 0 or 0 <= s["done"] <= s["total"], s
        if passes and passes[-1]["unit"] == s["unit"]:
            passes[-1] = s
        else:
            passes.append(s)
    assert [s["unit"] for s in passes] == ["partitions", "sample pages", "partitions"]
    listed = len(plan.partitions)
    assert (passes[0]["done"], passes[0]["total"]) == (listed, listed)
    assert passes[1]["done"] == passes[1]["total"] == plan.sampled_pages > 0
    assert (passes[2]["done"], passes[2]["total"]) == (listed, listed)
    first_sample = next(s for s in seen if s["unit"] == "sample pages")
    assert first_sample["done"] == 0 and first_sample["total"] >= plan.sampled_pages  # known before it reads


def test_each_pass_of_a_phase_gets_its_own_rate_and_eta(caplog: pytest.LogCaptureFixture,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("backfill.progress.time.monotonic", lambda: clock[0])
    shown = LogProgress(every=10)

    def tick(unit: str, done: int, total: int, after: float, partition: str = "") -> None:
        clock[0] += after
        shown({"phase": "plan", "partition": partition, "done": done, "total": total, "unit": unit, "quota": ""})

    with caplog.at_level(logging.INFO, logger="backfill"):
        tick("partitions", 0, -1, 0)
        tick("partitions", 3, 3, 30)  # the listing's last counters, as the sample begins
        tick("sample pages", 0, 9, 0)
        tick("sample pages", 5, 9, 10, "#general")
        tick("sample pages", 9, 9, 4)
        tick("partitions", 0, 3, 0)
        tick("partitions", 1, 3, 10, "#random")
        shown.finish()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["plan: 3/3 partitions (100%), 0.1 partitions/s, ETA 0 s",
                     "plan: 3/3 partitions (100%) in 30 s, 0.1 partitions/s",
                     "plan: 5/9 sample pages (56%), 0.5 sample pages/s, ETA 8 s (#general)",
                     "plan: 9/9 sample pages (100%) in 14 s, 0.6 sample pages/s",
                     "plan: 1/3 partitions (33%), 0.1 partitions/s, ETA 20 s (#random)",
                     "plan: 3/3 partitions (100%) in 10 s, 0.1 partitions/s"]


def test_log_progress_gives_rate_and_eta_at_most_every_interval(caplog: pytest.LogCaptureFixture,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("backfill.progress.time.monotonic", lambda: clock[0])
    shown = LogProgress(every=10)

    def tick(phase: str, done: int, total: int, after: float) -> None:
        clock[0] += after
        shown({"phase": phase, "partition": "SUBS", "done": done, "total": total, "unit": "pages"})

    with caplog.at_level(logging.INFO, logger="backfill"):
        tick("ingest", 0, 400, 0)
        for i in range(1, 30):
            tick("ingest", i * 10, 400, 1)  # 10 pages a second, ticks every second
        tick("verify", 0, 50, 1)
        shown.finish()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[:2] == ["ingest: 100/400 pages (25%), 10.0 pages/s, ETA 30 s (SUBS)",
                         "ingest: 200/400 pages (50%), 10.0 pages/s, ETA 20 s (SUBS)"]
    assert lines[-1].startswith("ingest: 290/400 pages (72%) in 30 s")
    assert not any(line.startswith("verify") for line in lines)  # too short for a line


@pytest.mark.parametrize("terminal", [False, True])
def test_auto_progress_is_log_lines_unless_a_person_watches(monkeypatch: pytest.MonkeyPatch, terminal: bool) -> None:
    """An orchestrator's log (stderr not a terminal, no notebook) gets the INFO lines; a terminal the bar."""
    import io

    from backfill.progress import TqdmProgress, make_progress

    class Stderr(io.StringIO):
        def isatty(self) -> bool:
            return terminal

    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    monkeypatch.setattr(sys, "stderr", Stderr())
    assert isinstance(make_progress("auto"), TqdmProgress if terminal else LogProgress)


@pytest.mark.parametrize("widgets", [False, True])
def test_progress_in_a_notebook_without_widgets_is_a_text_bar_without_a_warning(
        monkeypatch: pytest.MonkeyPatch, widgets: bool) -> None:
    import types

    from backfill.progress import make_progress

    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))  # as in a Jupyter kernel
    if not widgets:
        monkeypatch.setitem(sys.modules, "ipywidgets", None)  # as if it were not installed
    elif "ipywidgets" not in sys.modules:
        pytest.importorskip("ipywidgets")
    bar = make_progress("auto")
    bar({"phase": "fetch", "partition": "", "done": 1, "total": 4, "unit": "pages"})  # warnings are errors here
    kind = type(bar._bar).__module__
    bar.close()
    assert (kind != "tqdm.std") if widgets else (kind == "tqdm.std")  # with widgets: tqdm.auto's choice
