"""Canonical JSON, the same bytes the core writes for metadata (keys sorted, compact, UTF-8)."""

from __future__ import annotations

import array
import json
from typing import Any


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def record_parts(record: Any) -> tuple[bytes, memoryview, bytes]:
    """A record dict of ``Sink.upsert`` as the core stores it: the id in UTF-8, the values as a buffer of
    float32, the metadata as canonical JSON in UTF-8 (``"{}"`` when it has none).

    The core reads plain records (exact dicts, lists of floats, JSON types) itself, on several threads;
    it hands every other record here: a dict subclass, values as a float buffer (NumPy, array.array) or
    any iterable of numbers, metadata only ``dumps`` can write. Raises naming the record at fault."""
    if not isinstance(record, dict):
        raise TypeError("each record must be a dict with 'id' and 'values'")
    rid = record.get("id")
    if not isinstance(rid, str):
        raise TypeError("each record needs an 'id' that is a str")
    try:
        id_utf8 = rid.encode()
    except UnicodeEncodeError:
        raise ValueError(f"record id {rid!r} is not valid Unicode text (it holds a lone surrogate)") from None
    if "values" not in record:
        raise TypeError(f"record {rid} has no 'values'")
    values = _float_buffer(record["values"], rid)
    if "metadata" not in record:
        return id_utf8, values, b"{}"
    try:
        metadata = dumps(record["metadata"]).encode()
    except UnicodeEncodeError:
        raise ValueError(f"record {rid}: metadata holds text that is not valid Unicode (a lone surrogate)") from None
    return id_utf8, values, metadata


def _float_buffer(values: Any, rid: str) -> memoryview:
    """``values`` as a C-contiguous buffer of float32: its own when it is one, else a float32 copy."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"record {rid}: values must be a list of numbers or a float buffer")
    try:
        view = memoryview(values)
        if view.c_contiguous and view.format.lstrip("<=@") == "f":
            return view
        if view.c_contiguous and view.format.lstrip("<=@") == "d":
            if hasattr(values, "__array_interface__"):  # NumPy converts without Python floats
                import numpy as np

                return np.ascontiguousarray(values, dtype=np.float32).data
            return memoryview(array.array("f", view.cast("B").cast("d")))
    except TypeError:
        pass
    try:
        items = list(values)
    except (TypeError, NotImplementedError):
        raise TypeError(f"record {rid}: values must be a list of numbers or a float buffer") from None
    try:
        return memoryview(array.array("f", items))  # ints, bools and anything with __float__ too
    except TypeError:
        raise TypeError(f"record {rid}: values must be numbers") from None
