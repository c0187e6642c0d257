"""Sources, embedders and sinks: plain, typed descriptions that the pipeline turns into core objects.

Each class mirrors one ``type`` of the TOML config (``[source] type = "slack_export"`` is
:class:`SlackExport`), field for field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Union

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


@dataclass(frozen=True)
class HashEmbedder:
    """Offline, deterministic feature hashing of words and word pairs.

    Lexical, not semantic: texts sharing words are close, synonyms are not. For demos, tests and
    pipelines that must run without a model; use a real embedder for semantic search.
    """

    type: ClassVar[str] = "hash"
    dimension: int = 256

    def build(self) -> _core.Embedder:
        return _core.HashEmbedder(self.dimension)


@dataclass(frozen=True)
class LocalIndex:
    """The embedded default sink: one SQLite file with vectors and metadata, queried in C++.

    ``path`` defaults to ``index.sqlite`` in the run's workdir.
    """

    type: ClassVar[str] = "local"
    path: Path | None = None
    namespace: str = ""

    def build(self, workdir: Path) -> _core.Sink:
        path = self.path if self.path is not None else workdir / "index.sqlite"
        return _core.LocalIndex(os.fspath(path), self.namespace)


@dataclass(frozen=True)
class Chunking:
    """How documents are split: about ``target_tokens`` per chunk with ``overlap_tokens`` repeated."""

    target_tokens: int = 512
    overlap_tokens: int = 64
    max_tokens: int = 8000


SourceSpec = Union[SlackExport]
EmbedderSpec = Union[HashEmbedder]
SinkSpec = Union[LocalIndex]

SOURCES: dict[str, type] = {SlackExport.type: SlackExport}
EMBEDDERS: dict[str, type] = {HashEmbedder.type: HashEmbedder}
SINKS: dict[str, type] = {LocalIndex.type: LocalIndex}

__all__ = [
    "Chunking",
    "HashEmbedder",
    "LocalIndex",
    "SlackExport",
]
