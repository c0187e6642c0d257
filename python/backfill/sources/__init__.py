"""Sources: where documents come from. One module a source; each spec mirrors one ``[source] type``."""

from __future__ import annotations

from typing import Union

from backfill.sources.github import GitHub
from backfill.sources.jira import JiraCloud
from backfill.sources.python import Document, Page, PythonSource
from backfill.sources.slack_api import SlackApi
from backfill.sources.slack_export import SlackExport

SourceSpec = Union[SlackExport, SlackApi, JiraCloud, GitHub, PythonSource]
SOURCES: dict[str, type] = {
    SlackExport.type: SlackExport,
    SlackApi.type: SlackApi,
    JiraCloud.type: JiraCloud,
    GitHub.type: GitHub,
    PythonSource.type: PythonSource,
}

__all__ = ["Document", "GitHub", "JiraCloud", "Page", "PythonSource", "SOURCES", "SlackApi", "SlackExport",
           "SourceSpec"]
