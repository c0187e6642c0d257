"""GitHub (github.com or GitHub Enterprise Server) over REST v3 as a source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from backfill import _core
from backfill._options import core_options

_DEFAULTS = _core.GitHubOptions()


@dataclass(frozen=True)
class GitHub:
    """Issues and pull requests of GitHub repositories, with every comment, review comment and review,
    one document each (``github:owner/repo#123``), one partition per repository.

    ``token`` (best given as ``token = "${GITHUB_TOKEN}"``) is sent only to ``base_url``'s host and never
    appears in a repr, log, error, journal or receipt. ``repos`` are ``"owner/name"`` or ``"owner/*"``
    (every repository of an organization or user; archived ones only with ``include_archived``).
    ``since`` ("2024-01-31") bounds the first run; later runs fetch what changed since the highest
    ``updated_at`` seen, minus ``overlap_minutes``. ``include`` picks issues, pulls, issue_comments,
    review_comments and reviews; ``state`` is all, open or closed. ``base_url`` is
    ``https://HOST/api/v3`` for GitHub Enterprise Server. The primary rate limit is paced so a long
    backfill spreads its budget over the hour, keeping ``reserve`` requests for others; secondary limits
    are waited out as GitHub asks.
    """

    type: ClassVar[str] = "github"
    token: str = field(repr=False)
    repos: tuple[str, ...] = tuple(_DEFAULTS.repos)
    since: str = _DEFAULTS.since
    include: tuple[str, ...] = tuple(_DEFAULTS.include)
    state: str = _DEFAULTS.state
    base_url: str = _DEFAULTS.base_url
    api_version: str = _DEFAULTS.api_version
    include_archived: bool = _DEFAULTS.include_archived
    per_page: int = _DEFAULTS.per_page
    overlap_minutes: int = _DEFAULTS.overlap_minutes
    rate: float = _DEFAULTS.rate
    max_in_flight: int = _DEFAULTS.max_in_flight
    reserve: int = _DEFAULTS.reserve
    timeout: float = _DEFAULTS.timeout
    verify_tls: bool = _DEFAULTS.verify_tls

    def build(self) -> _core.Source:
        return _core.GitHubSource(core_options(_core.GitHubOptions, self))
