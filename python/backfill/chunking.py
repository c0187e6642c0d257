"""How documents are split into chunks."""

from __future__ import annotations

from dataclasses import dataclass

from backfill import _core

_DEFAULTS = _core.ChunkingOptions()


@dataclass(frozen=True)
class Chunking:
    """How documents are split: about ``target_tokens`` per chunk with ``overlap_tokens`` repeated."""

    target_tokens: int = _DEFAULTS.target_tokens
    overlap_tokens: int = _DEFAULTS.overlap_tokens
    max_tokens: int = _DEFAULTS.max_tokens
