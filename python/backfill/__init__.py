"""backfill: move Jira, Slack and GitHub data into vector indexes, resumably, and prove it landed.

Start with :class:`Pipeline` (or ``backfill run CONFIG`` on the command line).
"""

from __future__ import annotations

import gc as _gc
from typing import TYPE_CHECKING

from backfill._lazy import exports

# The imports below make tens of thousands of objects and no garbage: collections started by their
# allocations find nothing to free and cost about a tenth of `import backfill`. The collector is
# paused for them and left as it was found.
_collecting = _gc.isenabled()
_gc.disable()
try:
    from backfill import _core
    from backfill.chunking import Chunking
    from backfill.embedders import HashEmbedder
    from backfill.sinks import LocalIndex
    from backfill.config import Config, load_config
    from backfill.errors import (
        BackfillError,
        Cancelled,
        ConfigError,
        EmbedError,
        HttpError,
        JournalError,
        LedgerError,
        PaginationError,
        SinkError,
        SourceError,
        StorageError,
        ValidationError,
        VerificationError,
    )
    from backfill.pipeline import Pipeline
    from backfill.reports import (
        FetchReport,
        GcReport,
        IngestReport,
        Match,
        PlanReport,
        RunReport,
        StatusReport,
        ValidateReport,
        VerifyReport,
        WorkdirUsage,
    )
finally:
    if _collecting:
        _gc.enable()

if TYPE_CHECKING:
    from backfill.embedders import OpenAIEmbedder, PythonEmbedder
    from backfill.sinks import PgvectorTable, PineconeIndex, PythonSink
    from backfill.sources import Document, GitHub, JiraCloud, Page, PythonSource, SlackApi, SlackExport

# The adapters a program does not name are not imported (backfill._lazy).
__getattr__, __dir__ = exports(__name__, {
    "Document": ".sources",
    "GitHub": ".sources",
    "JiraCloud": ".sources",
    "OpenAIEmbedder": ".embedders",
    "Page": ".sources",
    "PgvectorTable": ".sinks",
    "PineconeIndex": ".sinks",
    "PythonEmbedder": ".embedders",
    "PythonSink": ".sinks",
    "PythonSource": ".sources",
    "SlackApi": ".sources",
    "SlackExport": ".sources",
})

__version__: str = _core.__version__

__all__ = [
    "BackfillError",
    "Cancelled",
    "Chunking",
    "Config",
    "ConfigError",
    "Document",
    "EmbedError",
    "FetchReport",
    "GcReport",
    "HashEmbedder",
    "PythonEmbedder",
    "PythonSink",
    "PythonSource",
    "HttpError",
    "IngestReport",
    "GitHub",
    "JiraCloud",
    "JournalError",
    "LedgerError",
    "LocalIndex",
    "Match",
    "OpenAIEmbedder",
    "Page",
    "PaginationError",
    "PgvectorTable",
    "PineconeIndex",
    "Pipeline",
    "PlanReport",
    "RunReport",
    "SinkError",
    "SlackApi",
    "SlackExport",
    "SourceError",
    "StatusReport",
    "StorageError",
    "ValidateReport",
    "ValidationError",
    "VerificationError",
    "VerifyReport",
    "WorkdirUsage",
    "__version__",
    "load_config",
]
