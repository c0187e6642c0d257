"""Jira Cloud over REST v3 as a source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from backfill import _core


@dataclass(frozen=True)
class JiraCloud:
    """Jira Cloud over REST v3 (``/rest/api/3/search/jql``), one partition per project.

    ``token`` is an API token (best given as ``token = "${JIRA_API_TOKEN}"``) and never appears in a
    repr, log, error, journal or receipt. ``since`` ("2024-01-31") bounds the first run; later runs
    fetch what changed since the highest ``updated`` seen, minus ``overlap_minutes``. ``window_days``
    splits each project into windows on ``updated`` so huge projects resume finely.
    """

    type: ClassVar[str] = "jira"
    url: str
    email: str
    token: str = field(repr=False)
    projects: tuple[str, ...] = ()
    jql: str = ""
    since: str = ""
    window_days: int = 0
    max_results: int = 100
    overlap_minutes: int = 60
    rate: float = 10.0
    max_in_flight: int = 4
    timeout: float = 60.0
    verify_tls: bool = True

    def build(self) -> _core.Source:
        return _core.JiraSource(
            url=self.url,
            email=self.email,
            token=self.token,
            projects=list(self.projects),
            jql=self.jql,
            since=self.since,
            window_days=self.window_days,
            max_results=self.max_results,
            overlap_minutes=self.overlap_minutes,
            rate=self.rate,
            max_in_flight=self.max_in_flight,
            timeout=self.timeout,
            verify_tls=self.verify_tls,
        )
