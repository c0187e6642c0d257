"""Jira Cloud over REST v3 as a source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from backfill import _core
from backfill._options import core_options

_DEFAULTS = _core.JiraOptions()


@dataclass(frozen=True)
class JiraCloud:
    """Jira Cloud over REST v3 (``/rest/api/3/search/jql``), one partition per project.

    ``token`` is an API token (best given as ``token = "${JIRA_API_TOKEN}"``) and never appears in a
    repr, log, error, journal or receipt. ``since`` ("2024-01-31") bounds the first run; later runs
    fetch what changed since the highest ``updated`` seen, minus ``overlap_minutes``. ``window_days``
    splits each project into windows on ``updated`` so huge projects resume finely. ``fields`` are
    the issue fields the documents show, by display name ("Epic Name", "Story Points", any case) or
    id, as the site's field list names them; a name it does not know is a ``ConfigError`` naming
    its close matches. Empty (the default): the issue view's fields and every rich-text custom field.
    Summary, description and comments are always read.
    Comments restricted to a role or group (Jira's ``visibility``) are left out unless
    ``include_restricted`` is true; then the ``visibility`` metadata lists each as "type:value".
    """

    type: ClassVar[str] = "jira"
    url: str
    email: str
    token: str = field(repr=False)
    projects: tuple[str, ...] = tuple(_DEFAULTS.projects)
    jql: str = _DEFAULTS.jql
    since: str = _DEFAULTS.since
    window_days: int = _DEFAULTS.window_days
    max_results: int = _DEFAULTS.max_results
    overlap_minutes: int = _DEFAULTS.overlap_minutes
    rate: float = _DEFAULTS.rate
    max_in_flight: int = _DEFAULTS.max_in_flight
    timeout: float = _DEFAULTS.timeout
    verify_tls: bool = _DEFAULTS.verify_tls
    include_restricted: bool = _DEFAULTS.include_restricted
    fields: tuple[str, ...] = tuple(_DEFAULTS.fields)

    def build(self) -> _core.Source:
        return _core.JiraSource(core_options(_core.JiraOptions, self))
