"""A Slack workspace export (zip or unpacked folder) as a source."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Union

from backfill import _core
from backfill._options import core_options

_DEFAULTS = _core.SlackExportOptions()
DEFAULT_SKIP_SUBTYPES: tuple[str, ...] = tuple(_DEFAULTS.skip_subtypes)


@dataclass(frozen=True)
class SlackExport:
    """A Slack workspace export: the zip from Slack's export tool, or the folder it unpacks to.

    One partition per conversation; a document per thread (parent and replies) or lone message.
    ``path`` is a string or any path-like object; it is kept as a :class:`~pathlib.Path`.
    """

    type: ClassVar[str] = "slack_export"
    path: Union[str, os.PathLike[str]]
    workspace_url: str = _DEFAULTS.workspace_url
    skip_subtypes: tuple[str, ...] = DEFAULT_SKIP_SUBTYPES

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def build(self) -> _core.Source:
        return _core.SlackExportSource(core_options(_core.SlackExportOptions, self))
