"""A dict as a backfill sink (DictIndex), and the same saved to a JSON file after every change
(JsonFileIndex: a temporary file, then a rename, so a crash never leaves half a file). The five
methods could as well call a client you already have: an HTTP API, a database, a vector store's SDK.

    PYTHONPATH=examples backfill run examples/python-demo.toml    (DICT_SINK_PATH picks the file)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class DictIndex:
    def __init__(self, records: dict[str, Any] | None = None) -> None:
        self.records: dict[str, Any] = records if records is not None else {}

    def upsert(self, records: list[dict[str, Any]]) -> int:
        self.records.update({r["id"]: {"values": r["values"], "metadata": r["metadata"]} for r in records})
        self.changed()
        return len(records)

    def fetch(self, ids: list[str]) -> dict[str, Any]:
        return {i: self.records[i] for i in ids if i in self.records}

    def delete(self, ids: list[str]) -> None:
        for i in ids:
            self.records.pop(i, None)
        self.changed()

    def list(self, prefix: str, after: str, limit: int) -> list[str]:
        return sorted(i for i in self.records if i.startswith(prefix) and i > after)[:limit]

    def stats(self) -> dict[str, int]:
        return {"count": len(self.records)}

    def changed(self) -> None:
        """Called after every write: nothing to do for a dict in memory."""


class JsonFileIndex(DictIndex):
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        super().__init__(json.loads(self.path.read_text()) if self.path.exists() else {})

    def changed(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.records))
        os.replace(tmp, self.path)


index = JsonFileIndex(os.environ.get("DICT_SINK_PATH", ".backfill/python-demo/index.json"))
