"""Any Python function as the embedder."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Union

from backfill import _core
from backfill.errors import ConfigError


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

    def build(self) -> _core.Embedder:
        fn = self.function
        name = self.name
        if isinstance(fn, str):
            fn = _import_function(fn)
            name = name or self.function  # type: ignore[assignment]
        elif not callable(fn):
            raise ConfigError(f"embedder.function must be callable or an import path, got {fn!r}", key="embedder.function")
        if not name:
            raise ConfigError(
                "embedder.name is required for a Python function: it keys the embedding cache (use the model's name)",
                key="embedder.name",
            )
        if self.dimension < 1:
            raise ConfigError(f"embedder.dimension must be positive, got {self.dimension}", key="embedder.dimension")
        if self.batch_size < 1 or self.concurrency < 1:
            raise ConfigError("embedder.batch_size and embedder.concurrency must be at least 1", key="embedder")
        return _core.PythonEmbedder(fn, self.dimension, name, self.batch_size, self.concurrency)


def _import_function(path: str) -> Callable[..., Any]:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ConfigError(
            f"embedder.function {path!r} must be 'package.module:function'", key="embedder.function"
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(f"embedder.function {path!r}: cannot import {module_name}: {e}", key="embedder.function") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"embedder.function {path!r}: {module_name} has no {attr}", key="embedder.function")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"embedder.function {path!r} is not callable", key="embedder.function")
    return obj  # type: ignore[no-any-return]
