"""Embedders: how chunk texts become vectors. One module an embedder; each spec mirrors one ``[embedder] type``."""

from __future__ import annotations

from typing import Union

from backfill.embedders.hash import HashEmbedder
from backfill.embedders.openai import OpenAIEmbedder
from backfill.embedders.python import PythonEmbedder

EmbedderSpec = Union[HashEmbedder, OpenAIEmbedder, PythonEmbedder]
EMBEDDERS: dict[str, type] = {
    HashEmbedder.type: HashEmbedder,
    OpenAIEmbedder.type: OpenAIEmbedder,
    PythonEmbedder.type: PythonEmbedder,
}

__all__ = ["EMBEDDERS", "EmbedderSpec", "HashEmbedder", "OpenAIEmbedder", "PythonEmbedder"]
