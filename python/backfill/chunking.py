"""How documents are split into chunks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunking:
    """How documents are split: about ``target_tokens`` per chunk with ``overlap_tokens`` repeated."""

    target_tokens: int = 512
    overlap_tokens: int = 64
    max_tokens: int = 8000
