"""Verification receipts: the JSON proof that a run's records are in the sink.

Schema (``backfill.receipt/1``), documented in docs/receipts.md. A receipt names the sink by its
description (location and namespace), never by a credential.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from backfill import _core
from backfill.reports import IngestReport, VerifyReport

SCHEMA = "backfill.receipt/1"


def build_receipt(
    *,
    run: str,
    workdir: Path,
    source: str,
    source_kind: str,
    embedder: str,
    sink_kind: str,
    report: VerifyReport,
    ingest: IngestReport | None,
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "run": run,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "backfill_version": _core.__version__,
        "ok": report.ok,
        "workdir": str(workdir),
        "source": {"kind": source_kind, "description": source},
        "embedder": {"identity": embedder},
        "sink": {"kind": sink_kind, "description": report.sink, **report.sink_info},
        "documents": report.documents,
        "criterion": report.criterion,
        "count": {
            "baseline": report.baseline,
            "expected": report.expected_count,
            "observed": report.observed_count,
            "ok": report.count_ok,
            "waited_seconds": round(report.count_wait_seconds, 3),
        },
        "readback": {
            "mode": "sample" if report.sampled else "all",
            "checked": report.checked,
            "missing": report.missing_count,
            "mismatched": report.mismatched_count,
            "missing_ids": report.missing,
            "mismatched_ids": report.mismatched,
        },
        "unsent": {"count": report.unsent_count, "records": [u.to_dict() for u in report.unsent]},
        "quarantined": {"count": report.quarantined_count, "items": [q.to_dict() for q in report.quarantined]},
        "repaired": report.repair.chunks_written if report.repair is not None else None,
        "ingest": ingest.to_dict() if ingest is not None else None,
    }


def _private_folder(folder: Path) -> None:
    """Creates ``folder`` (and its parents) readable by its owner only (0700), as the core creates the
    workdir; an existing one keeps its mode."""
    if not folder.is_dir():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)  # mkdir's mode passes through the umask, which may narrow it further


def write_receipt(workdir: Path, receipt: dict[str, Any]) -> Path:
    """Writes the receipt atomically to ``<workdir>/receipts/<UTC time>-verify.json``."""
    folder = workdir / "receipts"
    _private_folder(folder)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = folder / f"{stamp}-verify.json"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{stamp}-{n}-verify.json"
    # tempfile.mkstemp's way (a fresh name, created exclusively, mode 0600) without its imports at every start.
    tmp = folder / f".receipt.{os.getpid()}.{os.urandom(6).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(receipt, f, indent=2, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def write_junit(path: Path, run: str, report: VerifyReport) -> Path:
    """A JUnit XML file for CI dashboards: one test case per check (count, read-back)."""
    from xml.sax.saxutils import escape, quoteattr

    cases = []
    count_fail = "" if report.count_ok else (
        f"<failure message={quoteattr('count mismatch')}>expected {report.expected_count}, "
        f"observed {report.observed_count}</failure>"
    )
    cases.append(f"<testcase classname={quoteattr('backfill.' + run)} name=\"count\">{count_fail}</testcase>")
    problems = report.missing_count + report.mismatched_count
    readback_fail = "" if problems == 0 else (
        f"<failure message={quoteattr(f'{problems} records missing or changed')}>"
        + escape("missing: " + ", ".join(report.missing) + "\nmismatched: " + ", ".join(report.mismatched))
        + "</failure>"
    )
    cases.append(f"<testcase classname={quoteattr('backfill.' + run)} name=\"readback\">{readback_fail}</testcase>")
    failures = (0 if report.count_ok else 1) + (1 if problems else 0)
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<testsuite name={quoteattr('backfill verify ' + run)} tests=\"2\" failures=\"{failures}\">"
        + "".join(cases)
        + "</testsuite>\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
        f.write(xml)
    return path


def latest_receipt(workdir: Path) -> Path | None:
    folder = workdir / "receipts"
    if not folder.is_dir():
        return None
    found = sorted(folder.glob("*-verify.json"), key=lambda p: p.stat().st_mtime_ns)
    return found[-1] if found else None


def receipts_table(workdir: str | os.PathLike[str]) -> Any:
    """Every receipt in ``workdir`` as a pandas DataFrame, oldest first: one row per verification
    (time, ok, the counts, what was read back). Needs pandas (``pip install 'backfill[notebook]'``)."""
    from backfill._html import pandas

    folder = Path(workdir) / "receipts"
    found = sorted(folder.glob("*-verify.json"), key=lambda p: p.stat().st_mtime_ns) if folder.is_dir() else []
    rows = []
    for path in found:
        r = json.loads(path.read_text(encoding="utf-8"))
        rows.append({
            "receipt": path.name, "created_at": r.get("created_at"), "ok": r.get("ok"), "sink": r.get("sink", {}).get("description"),
            "documents": r.get("documents"),
            **{f"count_{k}": v for k, v in r.get("count", {}).items()},
            **{f"readback_{k}": v for k, v in r.get("readback", {}).items() if not k.endswith("_ids")},
        })
    return pandas().DataFrame(rows)
