"""The offline hashing embedder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from backfill import _core


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
