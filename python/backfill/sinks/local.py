"""The embedded local index (one SQLite file) as a sink."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Union

from backfill import _core


@dataclass(frozen=True)
class LocalIndex:
    """The embedded default sink: one SQLite file with vectors and metadata, queried in C++.

    ``path`` (a string or any path-like object, kept as a :class:`~pathlib.Path`) defaults to
    ``index.sqlite`` in the run's workdir.
    """

    type: ClassVar[str] = "local"
    path: Union[str, os.PathLike[str], None] = None
    namespace: str = ""

    def __post_init__(self) -> None:
        if self.path is not None:
            object.__setattr__(self, "path", Path(self.path))

    def build(self, workdir: Path) -> _core.Sink:
        path = Path(self.path) if self.path is not None else workdir / "index.sqlite"
        return _core.LocalIndex(os.fspath(path), self.namespace)
