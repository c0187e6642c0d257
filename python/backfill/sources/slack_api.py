"""A Slack workspace read through the Web API (bot or user token) as a source."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from backfill import _core
from backfill._options import core_options

_DEFAULTS = _core.SlackApiOptions()


@dataclass(frozen=True)
class SlackApi:
    """Slack through the Web API: ``conversations.history`` and ``conversations.replies`` per channel,
    one partition per conversation, documents exactly as :class:`SlackExport` writes them.

    ``token`` (best ``token = "${SLACK_BOT_TOKEN}"``) is sent only to ``base_url``'s host and never
    appears in a repr, log, error, journal or receipt. ``channels`` takes ``"#name"``, ids and ``"*"``
    (every conversation of ``types`` the app is a member of). ``tier`` says which limits to pace for:
    ``"marketplace"`` (Tier 3), ``"non_marketplace"`` (Slack's 2025 limits for apps outside the
    Marketplace: 1 request a minute and 15 messages a page for history and replies) or ``"auto"``
    (Tier 3 until an answer shows the lower limits). Later runs read what is newer than the last run,
    and the threads with new replies among the roots of the last ``thread_lookback_days``.
    """

    type: ClassVar[str] = "slack"
    token: str = field(repr=False)
    channels: tuple[str, ...] = tuple(_DEFAULTS.channels)
    types: tuple[str, ...] = tuple(_DEFAULTS.types)
    since: str = _DEFAULTS.since
    include_threads: bool = _DEFAULTS.include_threads
    tier: str = _DEFAULTS.tier
    base_url: str = _DEFAULTS.base_url
    workspace_url: str = _DEFAULTS.workspace_url
    page_size: int = _DEFAULTS.page_size
    thread_lookback_days: int = _DEFAULTS.thread_lookback_days
    include_archived: bool = _DEFAULTS.include_archived
    rate_scale: float = _DEFAULTS.rate_scale
    timeout: float = _DEFAULTS.timeout
    verify_tls: bool = _DEFAULTS.verify_tls
    skip_subtypes: tuple[str, ...] = tuple(_DEFAULTS.skip_subtypes)

    def build(self) -> _core.Source:
        return _core.SlackApiSource(core_options(_core.SlackApiOptions, self))
