"""A folder of JSON Lines files as a backfill source: one partition per file, a page per PAGE_LINES
lines, and the cursor is the line a page ends at. Each line is {"id", "title", "body", "updated", "tags"}.

    PYTHONPATH=examples backfill run examples/python-demo.toml    (JSONL_DIR picks another folder)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import backfill

FOLDER = Path(os.environ.get("JSONL_DIR", Path(__file__).parent / "jsonl-data"))
PAGE_LINES = 50


def partitions() -> list[str]:
    return sorted(path.stem for path in FOLDER.glob("*.jsonl"))


def pages(partition: str, cursor: str) -> Iterator[backfill.Page]:
    line = int(cursor or 0)  # "": from the start; else the line an earlier page ended at
    with open(FOLDER / f"{partition}.jsonl", encoding="utf-8") as f:
        rows = islice(f, line, None)
        while chunk := [json.loads(text) for text in islice(rows, PAGE_LINES)]:
            line += len(chunk)
            yield backfill.Page([document(partition, row) for row in chunk], next_cursor=str(line))


def document(partition: str, row: dict[str, Any]) -> backfill.Document:
    return backfill.Document(
        id=f"{partition}:{row['id']}",
        title=str(row.get("title", "")),
        text=str(row["body"]),
        updated_at=str(row.get("updated", "")),
        metadata={"file": partition, "tags": row.get("tags", [])},
    )
