"""Embedders: how chunk texts become vectors. One module an embedder; each spec mirrors one ``[embedder] type``.

Each embedder's module is imported when a config or a program first names it (backfill._lazy); the
hash embedder, the default, always is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

from backfill._lazy import Registry, exports
from backfill.embedders.hash import HashEmbedder

if TYPE_CHECKING:
    from backfill.embedders.openai import OpenAIEmbedder
    from backfill.embedders.python import PythonEmbedder

EmbedderSpec = Union[HashEmbedder, "OpenAIEmbedder", "PythonEmbedder"]

__getattr__, __dir__ = exports(__name__, {
    "OpenAIEmbedder": ".openai",
    "PythonEmbedder": ".python",
})

EMBEDDERS = Registry(__name__, {
    "hash": "HashEmbedder",
    "openai": "OpenAIEmbedder",
    "python": "PythonEmbedder",
})

__all__ = ["EMBEDDERS", "EmbedderSpec", "HashEmbedder", "OpenAIEmbedder", "PythonEmbedder"]
