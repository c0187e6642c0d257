"""A Slack workspace export (zip or unpacked folder) as a source."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from backfill import _core

DEFAULT_SKIP_SUBTYPES: tuple[str, ...] = (
    "channel_join",
    "channel_leave",
    "channel_topic",
    "channel_purpose",
    "channel_name",
    "pinned_item",
)


@dataclass(frozen=True)
class SlackExport:
    """A Slack workspace export: the zip from Slack's export tool, or the folder it unpacks to.

    One partition per conversation; a document per thread (parent and replies) or lone message.
    """

    type: ClassVar[str] = "slack_export"
    path: Path
    workspace_url: str = ""
    skip_subtypes: tuple[str, ...] = DEFAULT_SKIP_SUBTYPES

    def build(self) -> _core.Source:
        return _core.SlackExportSource(os.fspath(self.path), self.workspace_url, list(self.skip_subtypes))
