"""Preflight: what a run checks before it spends anything, and the report of those checks.

Each check is one cheap request through the core's HTTP client (the credentials of each service, the
sink's dimension and metric, the gRPC transport, a two-page pagination probe, free disk), with a
one-line verdict and, when it fails, the fix. :meth:`backfill.Pipeline.check` runs them;
``backfill plan --check CONFIG`` prints them and exits non-zero when one fails; ``run`` performs
them first (unless ``check=False`` / ``--no-check``) and stops before any cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backfill import _html
from backfill.errors import ConfigError
from backfill.reports import PhaseReport, Report

_MARK = {"ok": "ok", "warning": "warn", "failed": "FAIL", "skipped": "skip"}


@dataclass
class CheckResult(Report):
    """One check: ``component`` (source, embedder, sink, workdir), ``name``, ``status`` ("ok",
    "warning", "failed" or "skipped"), a one-line ``verdict`` and, unless it passed, the ``fix``."""

    component: str
    name: str
    status: str
    verdict: str
    fix: str = ""
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    def line(self) -> str:
        """``[FAIL] sink transport: <verdict>; fix: <fix>``."""
        fix = f"; fix: {self.fix}" if self.fix and self.status in ("failed", "warning") else ""
        return f"[{_MARK.get(self.status, self.status)}] {self.component} {self.name}: {self.verdict}{fix}"

    def __str__(self) -> str:
        return self.line()


@dataclass
class PreflightReport(PhaseReport):
    """The checks of a run, in the order they ran; ``ok`` when none failed."""

    checks: list[CheckResult] = field(default_factory=list)
    ok: bool = True

    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if c.failed]

    def problems(self) -> list[str]:
        return [c.line() for c in self.checks if c.status in ("failed", "warning")]

    def _frame_rows(self) -> list[dict[str, Any]]:
        return [c.to_dict() for c in self.checks]

    def __str__(self) -> str:
        failed = len(self.failures())
        head = f"preflight: {len(self.checks)} checks, " + (f"{failed} failed" if failed else "all passed")
        return "\n".join([head] + [f"  {c.line()}" for c in self.checks])

    def _repr_html_(self) -> str:
        rows = [{"check": f"{c.component} {c.name}", "status": c.status, "verdict": c.verdict, "fix": c.fix}
                for c in self.checks]
        return _html.card(type(self).__name__, str(self).splitlines()[0], self.problems(),
                          _html.rows_table("checks", rows), ok=self.ok)


class PreflightError(ConfigError):
    """A preflight check failed: the run stopped before spending anything. ``report`` is the
    :class:`PreflightReport`; the message is the first failure's verdict and fix."""

    def __init__(self, report: PreflightReport) -> None:
        first = report.failures()[0] if report.failures() else None
        what = f"{first.component} {first.name}: {first.verdict}" if first else "a check failed"
        fix = f"; fix: {first.fix}" if first and first.fix else ""
        more = len(report.failures()) - 1
        super().__init__(f"preflight failed: {what}{fix}" + (f" (and {more} more)" if more > 0 else ""))
        self.report = report
