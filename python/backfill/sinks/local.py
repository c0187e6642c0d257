"""The embedded local index (one SQLite file) as a sink."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from backfill import _core


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
