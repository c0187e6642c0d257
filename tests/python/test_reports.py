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
    run = reports.RunReport(plan=reports.PlanReport([reports.Partition("C1")]), fetch=reports.FetchReport(),
                            validate=reports.ValidateReport(bad_pages=[reports.BadPage("C1", "p", "damaged")]),
                            ingest=reports.IngestReport(metadata_truncated={"text": 2}),
                            verify=reports.VerifyReport(ok=True, receipt="r.json"))
    assert reports.RunReport.from_dict(run.to_dict()) == run
    without_receipt = {k: v for k, v in reports.VerifyReport().to_dict().items() if k not in ("receipt", "junit")}
    assert reports.VerifyReport.from_dict(without_receipt).receipt is None, "facade fields may be absent"
