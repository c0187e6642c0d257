"""Sources: where documents come from. One module a source; each spec mirrors one ``[source] type``.

Each source's module is imported when a config or a program first names it (backfill._lazy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

from backfill._lazy import Registry, exports

if TYPE_CHECKING:
    from backfill.sources.github import GitHub
    from backfill.sources.jira import JiraCloud
    from backfill.sources.python import Document, Page, PythonSource
    from backfill.sources.slack_api import SlackApi
    from backfill.sources.slack_export import SlackExport

SourceSpec = Union["SlackExport", "SlackApi", "JiraCloud", "GitHub", "PythonSource"]

__getattr__, __dir__ = exports(__name__, {
    "Document": ".python",
    "GitHub": ".github",
    "JiraCloud": ".jira",
    "Page": ".python",
    "PythonSource": ".python",
    "SlackApi": ".slack_api",
    "SlackExport": ".slack_export",
})

SOURCES = Registry(__name__, {
    "slack_export": "SlackExport",
    "slack": "SlackApi",
    "jira": "JiraCloud",
    "github": "GitHub",
    "python": "PythonSource",
})

__all__ = ["Document", "GitHub", "JiraCloud", "Page", "PythonSource", "SOURCES", "SlackApi", "SlackExport",
           "SourceSpec"]
