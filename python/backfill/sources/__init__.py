"""Sources: where documents come from. One module a source; each spec mirrors one ``[source] type``."""

from __future__ import annotations

from typing import Union

from backfill.sources.jira import JiraCloud
from backfill.sources.slack_export import SlackExport

SourceSpec = Union[SlackExport, JiraCloud]
SOURCES: dict[str, type] = {SlackExport.type: SlackExport, JiraCloud.type: JiraCloud}

__all__ = ["JiraCloud", "SOURCES", "SlackExport", "SourceSpec"]
