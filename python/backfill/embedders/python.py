"""Any Python function as the embedder."""

from __future__ import annotations

import array
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Any, Callable, ClassVar, Union

from backfill import _core
from backfill._callables import callable_at
from backfill.errors import ConfigError, EmbedError


@dataclass(frozen=True)
class PythonEmbedder:
    """Any Python function ``f(list[str]) -> vectors`` as the embedder: a list of float lists or a
    2-D array of shape ``(len(texts), dimension)`` (NumPy, or anything with ``__array_interface__``).

    >>> model = SentenceTransformer("all-MiniLM-L6-v2")                       # doctest: +SKIP
    >>> PythonEmbedder(model.encode, dimension=384, name="all-MiniLM-L6-v2")  # doctest: +SKIP

    In a config file ``function`` is an import path, ``"package.module:function"``. ``name`` keys
    the embedding cache together with the dimension: give the model's name, and change it whenever
    the function would return different vectors (it defaults to the import path). The function is
    called once per batch of up to ``batch_size`` texts, from up to ``concurrency`` threads at once,
    holding the GIL only for the call itself: a model that releases the GIL (PyTorch, ONNX Runtime)
    runs while the pipeline goes on normalizing and upserting.
    """

    type: ClassVar[str] = "python"
    function: Union[str, Callable[[list[str]], Any]]
    dimension: int
    name: str = ""
    batch_size: int = 64
    concurrency: int = 1
    price_per_million_tokens: float | None = None  # for plans and reports; None: not known

    def build(self) -> _core.Embedder:
        fn = callable_at(self.function, "embedder.function")
        name = self.name or (self.function if isinstance(self.function, str) else "")
        if not name:
            raise ConfigError(
                "embedder.name is required for a Python function: it keys the embedding cache (use the model's name)",
                key="embedder.name",
            )
        if self.dimension < 1:
            raise ConfigError(f"embedder.dimension must be positive, got {self.dimension}", key="embedder.dimension")
        if self.batch_size < 1 or self.concurrency < 1:
            raise ConfigError("embedder.batch_size and embedder.concurrency must be at least 1", key="embedder")
        return _core.PythonEmbedder(_vectors_of(fn, self.dimension, f"the Python embedder {name}"), self.dimension,
                                    name, self.batch_size, self.concurrency)


def _vectors_of(fn: Callable[[list[str]], Any], dimension: int, who: str) -> Callable[[list[str]], Any]:
    """``fn`` returning what the core copies: a C-contiguous float32 array of shape ``(len(texts), dimension)``
    (copied at once, no Python floats), from an array or a sequence of float sequences. Each error names
    ``who``."""

    def vectors(texts: list[str]) -> Any:
        out = fn(texts)
        if hasattr(out, "__array_interface__") or _is_buffer(out):
            import numpy as np  # an array came back, so NumPy (or its interface) is at hand

            try:
                arr = np.ascontiguousarray(out, dtype=np.float32)
            except (TypeError, ValueError):
                raise EmbedError(f"{who} returned an array that is not numeric") from None
            if arr.shape != (len(texts), dimension):
                raise EmbedError(f"{who} returned an array of shape {tuple(arr.shape)}, expected "
                                 f"({len(texts)}, {dimension})")
            return arr
        if isinstance(out, (str, bytes)) or not isinstance(out, Sequence):
            raise EmbedError(f"{who} returned {type(out).__name__}, expected one vector per text")
        if len(out) != len(texts):
            raise EmbedError(f"{who} returned {len(out)} vectors for {len(texts)} texts")
        flat = array.array("f")
        for i, row in enumerate(out):
            try:
                flat.extend(array.array("f", row))
            except TypeError:
                raise EmbedError(f"{who} returned a vector {i} that is not a list of numbers") from None
            if len(flat) != (i + 1) * dimension:
                raise EmbedError(f"{who} returned a vector of dimension {len(flat) - i * dimension}, expected {dimension}")
        return memoryview(flat).cast("B").cast("f", (len(texts), dimension)) if texts else flat

    return vectors


def _is_buffer(obj: Any) -> bool:
    try:
        memoryview(obj)
    except TypeError:
        return False
    return True
