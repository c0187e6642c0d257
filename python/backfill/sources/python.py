"""Any Python code as a source: it lists partitions and yields pages of documents, each with a cursor."""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Optional, Union

from backfill import _core
from backfill._callables import UserCallable, callable_name, shape_of
from backfill.errors import ConfigError, SourceError

MetaValue = Union[str, int, float, bool, Sequence[str], None]
_FIELDS = ("id", "title", "text", "url", "created_at", "updated_at", "metadata")


@dataclass(frozen=True)
class Document:
    """One item of a source, ready to index.

    ``id`` is stable and unique within the source (prefixing it with the source's name,
    ``"tickets:4711"``, keeps it unique in an index shared with other sources). ``created_at`` and
    ``updated_at`` are ISO 8601 in UTC; when an id comes twice, the copy with the latest
    ``updated_at`` wins. ``metadata`` is flat: strings, numbers, booleans and lists of strings (None
    values are dropped). A dict with these keys works wherever a Document does.
    """

    id: str
    title: str = ""
    text: str = ""
    url: str = ""
    created_at: str = ""
    updated_at: str = ""
    metadata: Mapping[str, MetaValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    """One page of a partition: its ``items`` (Documents or dicts of their fields; with a
    ``normalize`` function, any JSON values it turns into documents) and ``next_cursor``, where
    ``pages`` resumes after this page. ``watermark`` is for incremental sources: the highest change
    marker on the page (e.g. the latest ``updated_at``)."""

    items: Sequence[Any]
    next_cursor: str = ""
    watermark: str = ""


@dataclass(frozen=True)
class PythonSource:
    """A source written in Python, with the journal, resume, validation and receipts of the native ones.

    ``partitions()`` lists the partitions (names: letters, digits, ``.``, ``_``, ``-``).
    ``pages(partition, cursor)`` yields the :class:`Page` objects of a partition from ``cursor`` on
    (``""``: from the start). Each page is journaled, and its ``next_cursor`` recorded, before the
    next one is asked for, so a rerun after a crash calls ``pages`` again with the cursor after the
    last journaled page; a partition is finished when its generator ends.

    >>> def partitions(): return ["a"]                                            # doctest: +SKIP
    >>> def pages(partition, cursor):                                             # doctest: +SKIP
    ...     yield Page([Document(id="a:1", text="hello")], next_cursor="1")
    >>> Pipeline(PythonSource(partitions, pages, name="demo"))                    # doctest: +SKIP

    With ``normalize(item) -> Document | dict | None``, pages hold raw JSON items as the API gave
    them; they are journaled as they are and normalized at ingest (None skips an item), so a changed
    ``normalize`` applies to the journal without fetching again. ``list_ids(partition)`` (every id
    the partition holds now) enables reconcile; ``reopen(partition, watermark) -> cursor`` makes the
    source incremental: a finished partition is fetched again from that cursor on later runs. In a
    config file each callable is an import path, ``"package.module:function"``. ``name`` is the
    source's kind in the journal, the ledger and each document's ``source``.
    """

    type: ClassVar[str] = "python"
    partitions: Union[str, Callable[[], Iterable[str]]]
    pages: Union[str, Callable[[str, str], Iterable[Page]]]
    name: str = "python"
    normalize: Union[str, Callable[[Any], Any], None] = None
    list_ids: Union[str, Callable[[str], Iterable[str]], None] = None
    reopen: Union[str, Callable[[str, str], str], None] = None

    def build(self) -> _core.Source:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", self.name):
            raise ConfigError(f"source.name {self.name!r} must be letters, digits, '.', '_' or '-'", key="source.name")
        hooks = _SourceHooks(self)
        optional = {"documents": hooks.normalize_fn, "list_ids": hooks.list_ids_fn, "reopen": hooks.reopen_fn}
        return _core.PythonSource(
            {name: getattr(hooks, name) for name in ("partitions", "pages", *optional) if optional.get(name, True)},
            self.name,
            f"Python source {self.name} ({callable_name(hooks.pages_fn.fn)})",
        )


def _optional(value: Union[str, Callable[..., Any], None], key: str) -> Optional[UserCallable]:
    return None if value is None else UserCallable(value, key, SourceError)


class _SourceHooks:
    """What the C++ adapter calls, from core threads holding the GIL: the user's callables, with what
    they return checked and turned into plain values. Every error names the callable at fault."""

    def __init__(self, spec: PythonSource) -> None:
        self.partitions_fn = UserCallable(spec.partitions, "source.partitions", SourceError)
        self.pages_fn = UserCallable(spec.pages, "source.pages", SourceError)
        self.normalize_fn = _optional(spec.normalize, "source.normalize")
        self.list_ids_fn = _optional(spec.list_ids, "source.list_ids")
        self.reopen_fn = _optional(spec.reopen, "source.reopen")

    def partitions(self) -> list[str]:
        names = _strings(self.partitions_fn(), self.partitions_fn, "partition names")
        if len(set(names)) != len(names):
            raise SourceError(f"{self.partitions_fn.name} returned a partition name twice: {names}")
        return names

    def pages(self, partition: str, cursor: str) -> Callable[[], Optional[tuple[str, int, str, str]]]:
        """The partition's next page at each call, None after the last."""
        return functools.partial(next, self._pages(partition, cursor), None)

    def _pages(self, partition: str, cursor: str) -> Iterator[tuple[str, int, str, str]]:
        fn = self.pages_fn
        got = fn(partition, cursor)
        if not isinstance(got, Iterable):
            raise SourceError(f"{fn.name} returned {shape_of(got)}, expected pages: an iterable of backfill.Page")
        pages = iter(got)
        ended = False
        while True:
            try:
                page = next(pages)
            except StopIteration:
                return
            except Exception as e:
                raise fn.failed(e) from e
            if not isinstance(page, Page):
                raise SourceError(f"{fn.name} yielded {shape_of(page)}, expected backfill.Page(items=[...], "
                                  f"next_cursor=...)")
            if not isinstance(page.items, (list, tuple)):
                raise SourceError(f"{fn.name} yielded a Page whose items are {shape_of(page.items)}, expected a list")
            if not isinstance(page.next_cursor, str) or not isinstance(page.watermark, str):
                raise SourceError(f"{fn.name} yielded a Page whose next_cursor or watermark is not a str")
            if ended:
                raise SourceError(f"{fn.name} yielded a page after one with next_cursor='' (the end); "
                                  "give every page but the last the cursor that resumes after it")
            ended = page.next_cursor == ""
            if self.normalize_fn is None:
                items: list[Any] = [_document(item, fn) for item in page.items]
                body = {"documents": items}
            else:
                body = {"items": list(page.items)}
            try:
                text = json.dumps(body, ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as e:
                raise SourceError(f"{fn.name} yielded an item that is not JSON: {e}") from e
            yield text, len(page.items), page.next_cursor, page.watermark

    def documents(self, partition: str, body: str) -> str:
        """A journaled page of raw items, normalized: the page of documents the core reads."""
        fn = self.normalize_fn
        assert fn is not None
        docs = []
        for item in json.loads(body)["items"]:
            doc = fn(item)
            if doc is not None:
                docs.append(_document(doc, fn))
        return json.dumps({"documents": docs}, ensure_ascii=False, allow_nan=False)

    def list_ids(self, partition: str) -> list[str]:
        assert self.list_ids_fn is not None
        return _strings(self.list_ids_fn(partition), self.list_ids_fn, "ids")

    def reopen(self, partition: str, watermark: str) -> str:
        assert self.reopen_fn is not None
        cursor = self.reopen_fn(partition, watermark)
        if not isinstance(cursor, str):
            raise SourceError(f"{self.reopen_fn.name} returned {shape_of(cursor)}, expected a cursor (str)")
        return cursor


def _strings(values: Any, fn: UserCallable, what: str) -> list[str]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise SourceError(f"{fn.name} returned {shape_of(values)}, expected a list of {what} (str)")
    out = list(values)
    for v in out:
        if not isinstance(v, str) or not v:
            raise SourceError(f"{fn.name} returned {v!r} among its {what}, expected non-empty strings")
    return out


def _document(item: Any, fn: UserCallable) -> dict[str, Any]:
    """A Document (or a dict of its fields) as the plain dict a page of documents holds, checked."""
    who = fn.name
    if isinstance(item, Document):
        doc = {f: getattr(item, f) for f in _FIELDS}
    elif isinstance(item, Mapping):
        unknown = sorted(set(item) - set(_FIELDS))
        if unknown:
            raise SourceError(f"{who} gave a document with key {unknown[0]!r}; a document has {', '.join(_FIELDS)} "
                              "(put other fields in metadata)")
        doc = dict(item)
    else:
        raise SourceError(f"{who} gave {shape_of(item)} as a document, expected a backfill.Document or a dict of its fields")
    doc_id = doc.get("id")
    if not isinstance(doc_id, str) or not doc_id:
        raise SourceError(f"{who} gave a document without an id (a non-empty str): {doc_id!r}")
    for key in _FIELDS[1:-1]:
        if doc.get(key) is not None and not isinstance(doc[key], str):
            raise SourceError(f"{who} gave document {doc_id}: {key} must be a str, got {shape_of(doc[key])}")
    meta = doc.get("metadata") or {}
    if not isinstance(meta, Mapping):
        raise SourceError(f"{who} gave document {doc_id}: metadata must be a dict, got {shape_of(meta)}")
    flat: dict[str, Any] = {}
    for key, value in meta.items():
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            value = list(value)
        elif not (value is None or isinstance(value, (str, bool, int)) or (isinstance(value, float) and math.isfinite(value))):
            raise SourceError(f"{who} gave document {doc_id}: metadata {key!r} is {shape_of(value)}; metadata values are "
                              "str, int, float (finite), bool, a list of str, or None")
        flat[str(key)] = value
    doc["metadata"] = flat
    return doc
