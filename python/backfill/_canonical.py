"""Canonical JSON, the same bytes the core writes for metadata (keys sorted, compact, UTF-8)."""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
