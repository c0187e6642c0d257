#!/usr/bin/env python3
"""Jira normalization benchmark: ``_testing.normalize_jira_page`` against an equivalent pure-Python
implementation, in MB/s of journal pages, in one run.

The pages are what backfill journals for Jira (``{"search": <raw /search/jql body>, "comments": {"KEY":
[<raw comment pages>]}, "fields": [<the field catalogue's entries of the fields shown>]}``), produced by the
Jira fake of the tests (tests/python/jira_fake.py) exactly as the source asks for them with its default
``fields``: the issue view's fields and the rich-text custom fields of the site's catalogue
(/rest/api/3/field), maxResults=100, every comment of the issues with more than the 20 that search embeds
read from /rest/api/3/issue/{key}/comment. Default: 50 pages of 100 issues.

Both implementations do the same work on the same strings: parse the JSON, render every ADF document
(description and comments) to text, merge and sort the comments, and build the document dicts (id,
title, text, url, created_at, updated_at, metadata). The Python one is written the way a careful Python
programmer would (stdlib ``json.loads``, which is C; a recursive walk appending to a list; regular
expressions for the whitespace tidy-up) and is checked to produce *exactly* the core's documents on every
page before anything is timed; the benchmark refuses to time implementations that disagree. With orjson
installed, the Python walk over ``orjson.loads`` is timed too (the fastest parser a Python program could
use), and ``json.loads`` alone shows how much of the Python time is parsing.

Procedure: one warm-up pass of each, then --repetitions rounds (default 7; at least 5 unless --quick), each
timing every implementation over all pages, in an order that rotates each round. Reported: the median
wall time per implementation, MB/s (10^6 bytes of UTF-8 page text per second), documents/s, CPU time, and
the speed-up of the core as the median of the per-round ratios (goal: >= 10x). Timings are not asserted:
the machine is shared.

    .venv/bin/python bench/jira_normalize_bench.py            # writes bench/results/jira_normalize.json
    .venv/bin/python bench/jira_normalize_bench.py --quick    # smoke run: 4 pages of 25 issues, 1 round
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import platform
import re
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))
sys.path.insert(0, str(HERE))

from _common import host_info, no_proxy_for_loopback  # noqa: E402

SCHEMA = "backfill.bench.jira_normalize/1"
GOAL = 10.0

no_proxy_for_loopback()


# --- the pure-Python implementation ------------------------------------------------------------------
# It mirrors cpp/src/sources/jira/adf.cpp and normalize_jira_page in cpp/src/sources/jira/normalize.cpp rule for rule, so that the two
# produce the same documents (checked before timing).


def _s(obj: Any, key: str) -> str:
    """obj[key] when obj is an object and the value a string, else ""."""
    if type(obj) is dict:
        v = obj.get(key)
        if type(v) is str:
            return v
    return ""


def _attr(node: dict[str, Any], key: str) -> str:
    a = node.get("attrs")
    if type(a) is dict:
        v = a.get(key)
        if type(v) is str:
            return v
    return ""


def _prefix_lines(text: str, first: str, rest: str) -> str:
    if not text:
        return ""
    lines = text.split("\n")
    # A trailing "\n" ends the last line; it does not start a new one.
    if lines[-1] == "":
        body = [first + lines[0]] + [rest + x for x in lines[1:-1]]
        return "\n".join(body) + "\n"
    return "\n".join([first + lines[0]] + [rest + x for x in lines[1:]])


def _date_of(node: dict[str, Any]) -> str:
    a = node.get("attrs")
    ts = a.get("timestamp") if type(a) is dict else None
    if type(ts) is str:
        if not ts:
            return ""
        m = re.match(r"\s*([+-]?\d+)", ts)  # atoll: the leading integer, 0 if none
        v = int(m.group(1)) if m else 0
    elif type(ts) is int or type(ts) is float:
        v = int(ts)
    else:
        return ""
    secs = int(v / 1000) if v < 0 else v // 1000  # C division truncates toward zero
    return datetime.datetime.fromtimestamp(secs, datetime.timezone.utc).strftime("%Y-%m-%d")


_WORD_END = re.compile(r"[ \t\n.,;:!?)]")


def _word_start(c: str) -> bool:
    return c.isascii() and c.isalnum() or not c.isascii()


class _Out:
    """The core's adf::writer: words kept whole, chips apart, line ends as spaces in a table cell."""

    __slots__ = ("parts", "link", "after_chip", "flat")

    def __init__(self, flat: bool = False) -> None:
        self.parts: list[str] = []
        self.link = ""
        self.after_chip = False
        self.flat = flat

    def last(self) -> str:
        return self.parts[-1][-1] if self.parts else ""

    def _put(self, s: str) -> None:
        if s:
            self.parts.append(s.replace("\n", " ") if self.flat else s)

    def _flush_link(self) -> None:
        if self.link:
            self.parts.append(" (" + self.link + ")")
            self.link = ""

    def text(self, s: str) -> None:
        if not s:
            return
        if self.after_chip:
            self.after_chip = False
            if _word_start(s[0]):
                self.parts.append(" ")
        if self.link:
            m = _WORD_END.search(s)
            if not m:
                self._put(s)
                return
            self._put(s[:m.start()])
            self._flush_link()
            s = s[m.start():]
        self._put(s)

    def linked_text(self, s: str, href: str) -> None:
        if not href or href == s:
            self.text(s)
            return
        if self.link == href:
            self.link = ""
        else:
            self._flush_link()
        self.text(s)
        self.link = href

    def chip(self, s: str) -> None:
        if not s:
            return
        self._flush_link()
        c = self.last()
        if c and c not in " \n([":
            self.parts.append(" ")
        self.parts.append(s)
        self.after_chip = True

    def line_end(self) -> None:
        self._flush_link()
        self.after_chip = False
        self.parts.append(" " if self.flat else "\n")

    def ensure_line_end(self) -> None:
        self._flush_link()
        self.after_chip = False
        c = self.last()
        if not c or c == "\n" or (self.flat and c == " "):
            return
        self.parts.append(" " if self.flat else "\n")

    def code(self, s: str) -> None:
        self._flush_link()
        self.after_chip = False
        if s:
            self.parts.append(s)

    def lines(self, s: str) -> None:
        self._flush_link()
        self.after_chip = False
        self._put(s)

    def take(self) -> str:
        self._flush_link()
        self.after_chip = False
        return "".join(self.parts)


_BLOCK_TYPES = frozenset((
    "paragraph", "heading", "bulletList", "orderedList", "listItem", "codeBlock", "blockquote", "panel", "table",
    "tableRow", "tableCell", "tableHeader", "rule", "mediaSingle", "mediaGroup", "taskList", "taskItem",
    "decisionList", "decisionItem", "expand", "nestedExpand", "layoutSection", "layoutColumn", "blockCard",
    "embedCard", "extension", "bodiedExtension", "extensionFrame", "multiBodiedExtension", "doc"))


def _content(node: Any) -> list[Any] | None:
    c = node.get("content") if type(node) is dict else None
    return c if type(c) is list else None


def _children(node: Any, out: _Out, block: bool) -> None:
    for child in _content(node) or ():
        _render(child, out, block)


def _rendered_blocks(node: Any, flat: bool) -> str:
    o = _Out(flat)
    _children(node, o, True)
    return o.take().rstrip("\n ")


def _list(node: dict[str, Any], out: _Out, ordered: bool) -> None:
    n = 1
    if ordered:
        a = node.get("attrs")
        if type(a) is dict:
            order = a.get("order")
            if type(order) is int and -(2**63) <= order < 2**63:
                n = order
    items = _content(node)
    if items is None:
        return
    out.ensure_line_end()
    for item in items:
        marker = f"{n}. " if ordered else "- "
        n += 1
        out.lines(_prefix_lines(_rendered_blocks(item, out.flat), marker, " " * len(marker)))
        out.line_end()


def _item_list(node: Any, out: _Out) -> None:
    items = _content(node)
    if items is None:
        return
    out.ensure_line_end()
    for item in items:
        t = _s(item, "type")
        if t == "taskList" or t == "decisionList":
            sub = _Out(out.flat)
            _item_list(item, sub)
            out.lines(_prefix_lines(sub.take().rstrip("\n"), "  ", "  "))
            out.line_end()
        else:
            _render(item, out, True)


def _row(node: Any, out: _Out, number: int) -> None:
    cells = _content(node)
    if cells is None:
        return
    parts = [str(number)] if number > 0 else []
    parts += [_rendered_blocks(c, True) for c in cells]
    out.code(" | ".join(parts))
    out.line_end()


def _table(node: dict[str, Any], out: _Out) -> None:
    a = node.get("attrs")
    numbered = type(a) is dict and a.get("isNumberColumnEnabled") is True
    rows = _content(node)
    if rows is None:
        return
    out.ensure_line_end()
    n = 0
    for r in rows:
        if _s(r, "type") != "tableRow":
            _render(r, out, True)
            continue
        header = all(_s(c, "type") == "tableHeader" for c in (_content(r) or ())) and _content(r) is not None
        if numbered and not header:
            n += 1
            _row(r, out, n)
        else:
            _row(r, out, 0)


def _data(node: dict[str, Any]) -> Any:
    a = node.get("attrs")
    return a.get("data") if type(a) is dict else None


def _inline_card(node: dict[str, Any]) -> str:
    url = _attr(node, "url")
    if url:
        return url
    data = _data(node)
    if type(data) is not dict:
        return ""
    name, url = _s(data, "name"), _s(data, "url")
    if not name:
        return url
    return name if not url or url == name else f"{name} ({url})"


def _block_card(node: dict[str, Any], out: _Out) -> None:
    out.ensure_line_end()
    url = _attr(node, "url")
    data = _data(node)
    if url or type(data) is not dict:
        out.text(url)
        out.ensure_line_end()
        return
    app = _s(data.get("generator"), "name")
    if app and _s(data, "name"):
        out.text(app)
        out.text(": ")
    for key in ("name", "summary", "url"):
        out.text(_s(data, key))
        out.ensure_line_end()


def _mention(node: dict[str, Any]) -> str:
    i, text = _attr(node, "id"), _attr(node, "text")
    if i == "here" or i == "all":
        at = "@" + i
        return at + f" ({text})" if text and text != at else at
    return text or "@someone"


def _render_inline(node: dict[str, Any], t: str, out: _Out) -> bool:
    if t == "text":
        href = ""
        marks = node.get("marks")
        if type(marks) is list:
            for mark in marks:
                if type(mark) is dict and _s(mark, "type") == "link":
                    href = _attr(mark, "href")
        out.linked_text(_s(node, "text"), href)
    elif t == "hardBreak":
        out.line_end()
    elif t == "mention":
        out.chip(_mention(node))
    elif t == "emoji":
        out.chip(_attr(node, "text") or _attr(node, "shortName"))
    elif t == "inlineCard":
        out.chip(_inline_card(node))
    elif t == "date":
        out.chip(_date_of(node))
    elif t == "status":
        st = _attr(node, "text")
        if st:
            out.chip("[" + st + "]")
    elif t == "mediaInline":
        out.chip(_attr(node, "alt") or _attr(node, "name"))
    elif t != "placeholder":
        return False
    return True


def _render(node: Any, out: _Out, block: bool) -> None:  # noqa: C901 - one branch per node type, as in the core
    if type(node) is not dict:
        return
    t = node.get("type")
    if type(t) is not str:
        t = ""
    if _render_inline(node, t, out):
        return
    if t == "paragraph" or t == "heading":
        _children(node, out, False)
        out.line_end()
    elif t == "bulletList" or t == "orderedList":
        _list(node, out, t == "orderedList")
    elif t == "taskList" or t == "decisionList":
        _item_list(node, out)
    elif t == "taskItem" or t == "decisionItem":
        out.ensure_line_end()
        out.text("Decision: " if t == "decisionItem" else "[x] " if _attr(node, "state") == "DONE" else "[ ] ")
        _children(node, out, False)
        out.ensure_line_end()
    elif t == "codeBlock":
        out.ensure_line_end()
        for child in _content(node) or ():
            out.code(_s(child, "text"))
        out.ensure_line_end()
    elif t == "blockquote":
        inner = _rendered_blocks(node, out.flat)
        out.ensure_line_end()
        out.lines(_prefix_lines(inner, "> ", "> "))
        out.line_end()
    elif t == "panel":
        kind = _attr(node, "panelType")
        inner = _rendered_blocks(node, out.flat)
        out.ensure_line_end()
        if kind:
            out.text("[" + kind + "] ")
        out.lines(inner)
        out.ensure_line_end()
    elif t == "expand" or t == "nestedExpand":
        out.ensure_line_end()
        out.text(_attr(node, "title"))
        out.ensure_line_end()
        _children(node, out, True)
        out.ensure_line_end()
    elif t == "table":
        _table(node, out)
    elif t == "tableRow":
        _row(node, out, 0)
    elif t == "rule":
        out.ensure_line_end()
        out.text("---")
        out.line_end()
    elif t == "blockCard" or t == "embedCard":
        _block_card(node, out)
    elif t == "media":
        name = _attr(node, "alt")
        if not name and _attr(node, "type") == "external":
            name = _attr(node, "url")
        out.chip(f"[media: {name}]" if name else "[media]")
    elif t == "mediaSingle" or t == "mediaGroup":
        _children(node, out, False)
        out.line_end()
    elif t in _BLOCK_TYPES:
        _children(node, out, True)
    elif block:
        _children(node, out, any(_s(c, "type") in _BLOCK_TYPES for c in _content(node) or ()))
        out.ensure_line_end()
    else:
        out.chip(_attr(node, "text"))
        _children(node, out, False)


_SPACE_RUN = re.compile(r"[ \n]+")


def _tidy_run(m: re.Match[str]) -> str:
    # The core's loop over a run of spaces and newlines: spaces before a newline are dropped, and at
    # most two newlines follow each other (a space, even one later dropped, restarts the count).
    out: list[str] = []
    newlines = 0
    for c in m.group(0):
        if c == "\n":
            while out and out[-1] == " ":
                out.pop()
            newlines += 1
            if newlines > 2:
                continue
        else:
            newlines = 0
        out.append(c)
    return "".join(out)


def py_tidy(s: str) -> str:
    s = _SPACE_RUN.sub(_tidy_run, s) if ("\n" in s) else s
    s = s.lstrip("\n")
    return s.rstrip("\n ")


def py_adf_to_text(doc: Any) -> str:
    """ADF (parsed JSON) as the core renders it."""
    out = _Out()
    _render(doc, out, True)
    return py_tidy(out.take())


_JIRA_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)")


def py_jira_time_to_utc(t: str) -> str:
    """Jira's 2024-01-15T10:30:00.000+0100 as 2024-01-15T09:30:00Z, "" if it cannot be read."""
    if len(t) < 19:
        return ""
    m = _JIRA_TIME.match(t)
    if not m:
        return ""
    try:
        dt = datetime.datetime(*map(int, m.groups()), tzinfo=datetime.timezone.utc)
    except ValueError:
        return ""
    i = 19
    if i < len(t) and t[i] == ".":
        i += 1
        while i < len(t) and t[i].isdigit():
            i += 1
    if i < len(t) and t[i] in "+-":
        digits = "".join(c for c in t[i + 1:] if c.isdigit())
        if len(digits) == 4:
            off = int(digits[:2]) * 3600 + int(digits[2:]) * 60
            dt -= datetime.timedelta(seconds=off if t[i] == "+" else -off)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ptr(obj: Any, *keys: str) -> str:
    for k in keys:
        if type(obj) is not dict:
            return ""
        obj = obj.get(k)
    return obj if type(obj) is str else ""


_DEFAULT_FIELDS = (("status", "Status"), ("resolution", "Resolution"), ("priority", "Priority"),
                   ("assignee", "Assignee"), ("reporter", "Reporter"), ("labels", "Labels"),
                   ("components", "Components"), ("fixVersions", "Fix versions"), ("parent", "Parent"),
                   ("subtasks", "Sub-tasks"), ("issuelinks", "Linked issues"), ("attachment", "Attachments"))
# System fields: (shape, metadata key; "" when normalize sets it already), as in cpp/src/sources/jira/fields.cpp.
_SYSTEM = {"status": ("generic", ""), "resolution": ("generic", "resolution"), "priority": ("generic", ""),
           "assignee": ("generic", ""), "reporter": ("generic", ""), "labels": ("generic", ""),
           "components": ("generic", ""), "fixVersions": ("generic", "fix_versions"), "parent": ("issue", ""),
           "subtasks": ("issues", "subtasks"), "issuelinks": ("links", "links"),
           "attachment": ("attachments", "attachments")}


def _shown_fields(root: dict[str, Any]) -> list[tuple[str, str]]:
    listed = root.get("fields")
    if type(listed) is not list:
        return list(_DEFAULT_FIELDS)
    return [(_s(f, "id"), _s(f, "name")) for f in listed if _s(f, "id") and _s(f, "name")]


def _meta_key(name: str) -> str:
    key = ""
    for c in name:
        if c.isascii() and c.isalnum():
            key += c.lower()
        elif key and key[-1] != "_":
            key += "_"
    return key.rstrip("_")


def _number(v: float) -> str:
    if v == v and abs(v) != float("inf") and v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def _issue_text(issue: Any) -> str:
    key = _s(issue, "key")
    if not key:
        return ""
    summary = _ptr(issue, "fields", "summary")
    return key + " " + summary if summary else key


def _read_value(v: Any, out: list[str], rich: list[str], numeric: list[bool]) -> bool:
    if v is None:
        return True
    if type(v) is str:
        if v:
            out.append(v)
        return True
    if type(v) is bool:
        out.append("Yes" if v else "No")
        return True
    if type(v) is int:
        out.append(str(v) if -(2**63) <= v < 2**63 else _number(float(v)))
        numeric[0] = True
        return True
    if type(v) is float:
        out.append(_number(v))
        numeric[0] = True
        return True
    if type(v) is list:
        return all(_read_value(x, out, rich, numeric) for x in v)
    if type(v) is not dict:
        return False
    if _s(v, "type") == "doc":
        rich.append(py_adf_to_text(v))
        return True
    for key in ("value", "displayName", "name", "key"):
        text = _s(v, key)
        if text:
            child = _ptr(v, "child", "value")
            out.append(text + " - " + child if child else text)
            return True
    return False


def _render_fields(fields: dict[str, Any], shown: list[tuple[str, str]], meta: dict[str, Any]) -> str:
    lines: list[str] = []
    for fid, name in shown:
        if fid in fields:
            v = fields[fid]
        elif fid == "subtasks" and "sub-tasks" in fields:
            v = fields["sub-tasks"]
        else:
            continue
        kind, key = _SYSTEM.get(fid, ("generic", None))
        items: list[str] = []
        rich: list[str] = []
        numeric = [False]
        if kind == "issue":
            t = _issue_text(v)
            if t:
                items.append(t)
        elif kind == "issues":
            for item in v if type(v) is list else ():
                linked = item.get("outwardIssue") if type(item) is dict else None
                t = _issue_text(item if linked is None else linked)
                if t:
                    items.append(t)
        elif kind == "links":
            for link in v if type(v) is list else ():
                if type(link) is not dict:
                    continue
                if "outwardIssue" in link:
                    other, how = link["outwardIssue"], _ptr(link, "type", "outward")
                elif "inwardIssue" in link:
                    other, how = link["inwardIssue"], _ptr(link, "type", "inward")
                else:
                    continue
                t = _issue_text(other)
                if t:
                    items.append(how + " " + t if how else t)
        elif kind == "attachments":
            for a in v if type(v) is list else ():
                n = _s(a, "filename")
                if n:
                    items.append(n)
        elif not _read_value(v, items, rich, numeric):
            continue
        if items:
            lines.append(name + ": " + ", ".join(items))
        if rich:
            lines.append(name + ":\n" + "\n".join(rich))
        if key is None:
            key = _meta_key(name)
        if not key or not items or key in meta:
            continue
        if type(v) is list or kind in ("issues", "links", "attachments"):
            meta[key] = items
        elif numeric[0] and len(items) == 1:
            meta[key] = float(items[0])
        else:
            meta[key] = items[0]
    return "\n".join(lines)


def _body_text(body: Any) -> str:
    return body if type(body) is str else py_adf_to_text(body)


def py_normalize_page(page: str, site: str, loads: Callable[[str], Any] = json.loads) -> list[dict[str, Any]]:
    """One journal page into document dicts, as _testing.normalize_jira_page returns them."""
    root = loads(page)
    search = root.get("search") if type(root) is dict else None
    issues = search.get("issues") if type(search) is dict else None
    if type(issues) is not list:
        raise ValueError("a journaled Jira page has no search.issues")
    extra = root.get("comments")
    if type(extra) is not dict:
        extra = {}
    base = site.rstrip("/")
    shown = _shown_fields(root)
    docs = []
    for issue in issues:
        key = _s(issue, "key")
        if not key or "fields" not in issue:
            continue
        fields = issue["fields"]
        if type(fields) is not dict:
            fields = {}
        project = _ptr(fields, "project", "key")
        description = _body_text(fields["description"]) if "description" in fields else ""
        comments = []

        def take(arr: list[Any]) -> None:
            for c in arr:
                if type(c) is not dict:
                    c = {}
                comments.append((py_jira_time_to_utc(_s(c, "created")), _s(c, "id"), _ptr(c, "author", "displayName"),
                                 _body_text(c["body"]) if "body" in c else ""))

        comment_field = fields.get("comment")
        if type(comment_field) is dict and type(comment_field.get("comments")) is list:
            take(comment_field["comments"])
        elif type(comment_field) is list:
            take(comment_field)  # a bare array (REST v2 and older shapes)
        pages_of_comments = extra.get(key)
        if type(pages_of_comments) is list:
            for p in pages_of_comments:
                if type(p) is dict and type(p.get("comments")) is list:
                    take(p["comments"])
        comments.sort(key=lambda c: (c[0], c[1]))
        unique = []
        for c in comments:
            if unique and c[1] and c[1] == unique[-1][1]:
                continue
            unique.append(c)
        field_meta: dict[str, Any] = {}
        shown_text = _render_fields(fields, shown, field_meta)
        parts = [description] if description else []
        if shown_text:
            parts.append(shown_text)
        for created, _id, author, text in unique:
            parts.append(f"{author or 'Someone'} ({created}): {text}")
        meta: dict[str, Any] = {"project": project}
        for name, ptr in (("status", ("status", "name")), ("type", ("issuetype", "name")),
                          ("priority", ("priority", "name")), ("assignee", ("assignee", "displayName")),
                          ("reporter", ("reporter", "displayName")), ("parent", ("parent", "key"))):
            v = _ptr(fields, *ptr)
            if v:
                meta[name] = v
        labels = fields.get("labels")
        meta["labels"] = [x for x in labels if type(x) is str] if type(labels) is list else []
        comps = fields.get("components")
        meta["components"] = [n for n in (_s(c, "name") for c in comps) if n] if type(comps) is list else []
        meta["comment_count"] = len(unique)
        for k, v in field_meta.items():
            meta.setdefault(k, v)
        docs.append({"id": "jira:" + key, "title": key + ": " + _ptr(fields, "summary"), "text": "\n\n".join(parts),
                     "url": base + "/browse/" + key, "created_at": py_jira_time_to_utc(_ptr(fields, "created")),
                     "updated_at": py_jira_time_to_utc(_ptr(fields, "updated")),
                     "metadata": dict(sorted(meta.items()))})
    return docs


# --- the pages -----------------------------------------------------------------------------------------

# What normalize always reads (the search asks for them whatever is shown).
STANDARD_FIELDS = ("summary", "description", "status", "issuetype", "priority", "labels", "components", "assignee",
                   "reporter", "created", "updated", "comment", "project", "parent")
RICH_TEXT = "com.atlassian.jira.plugin.system.customfieldtypes:textarea"


def _get(url: str, auth: str) -> bytes:
    req = urllib.request.Request(url, headers={"Authorization": auth, "Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.read()


def shown_by_default(catalogue: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The catalogue entries the source shows by default (as cpp/src/sources/jira/catalogue.cpp chooses
    them): the issue view's system fields, then the rich-text custom fields."""
    by_id = {f["id"]: f for f in catalogue}
    chosen = [by_id[fid] for fid, _ in _DEFAULT_FIELDS if fid in by_id]
    chosen += [f for f in catalogue if f.get("schema", {}).get("custom") == RICH_TEXT]
    return [{"id": f["id"], "name": f["name"], "schema": f["schema"]} for f in chosen]


def make_pages(pages: int, per_page: int, seed: int) -> tuple[list[str], str, dict[str, Any]]:
    """Journal pages as the Jira source writes them, from the fake: (pages, site, facts)."""
    from jira_fake import JiraFake

    t0 = time.monotonic()
    with JiraFake({"BENCH": pages * per_page}, seed=seed, validate=False, gzip_responses=False) as fake:
        shown = shown_by_default(json.loads(_get(f"{fake.url}/rest/api/3/field", fake.auth_header)))
        asked = list(STANDARD_FIELDS) + [f["id"] for f in shown if f["id"] not in STANDARD_FIELDS]
        shown_json = json.dumps(shown, separators=(",", ":"), ensure_ascii=False)
        jql = 'project = "BENCH" AND updated >= "1970-01-01" ORDER BY key ASC'
        base = (f"{fake.url}/rest/api/3/search/jql?jql={quote(jql, safe='')}&maxResults={per_page}"
                f"&fields={','.join(asked)}")
        out: list[str] = []
        token = None
        comment_requests = 0
        while True:
            raw = _get(base + (f"&nextPageToken={quote(token, safe='')}" if token else ""), fake.auth_header)
            body = json.loads(raw)
            extra = []
            for issue in body["issues"]:
                c = issue["fields"]["comment"]
                if c["total"] > len(c["comments"]):
                    cpages, start = [], 0
                    while start < c["total"]:
                        craw = _get(f"{fake.url}/rest/api/3/issue/{issue['key']}/comment?orderBy=created"
                                    f"&startAt={start}&maxResults=100", fake.auth_header)
                        comment_requests += 1
                        cpages.append(craw.decode())
                        got = json.loads(craw)
                        if not got["comments"]:
                            break
                        start += len(got["comments"])
                    extra.append(json.dumps(issue["key"]) + ":[" + ",".join(cpages) + "]")
            out.append('{"search":' + raw.decode() + ',"comments":{' + ",".join(extra) + '},"fields":' + shown_json
                       + "}")
            token = body.get("nextPageToken")
            if body["isLast"]:
                break
        site = fake.url
        facts = {"issues": sum(1 for _ in fake.issue_keys()), "comment_requests": comment_requests,
                 "issues_over_20_comments": sum(1 for k in fake.issue_keys() if fake.comment_count(k) > 20),
                 "comments": sum(fake.comment_count(k) for k in fake.issue_keys()),
                 "seconds_to_generate": round(time.monotonic() - t0, 2)}
    return out, site, facts


# --- checking and timing -----------------------------------------------------------------------------


def first_difference(a: Any, b: Any, path: str = "") -> str:
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        return f"{path}: {type(a).__name__} {a!r:.200} != {type(b).__name__} {b!r:.200}"
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return f"{path}/{k}: only in {'core' if k in a else 'python'}"
            d = first_difference(a[k], b[k], f"{path}/{k}")
            if d:
                return d
        return ""
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}/{i}")
            if d:
                return d
        return f"{path}: {len(a)} items != {len(b)} items" if len(a) != len(b) else ""
    if a != b:
        if isinstance(a, str):
            i = next((n for n, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            return f"{path}: differs at {i}: core {a[max(0, i - 60):i + 60]!r} python {b[max(0, i - 60):i + 60]!r}"
        return f"{path}: core {a!r} python {b!r}"
    return ""


def check_equal(pages: list[str], site: str, impls: dict[str, Callable[[str, str], list[dict[str, Any]]]]
                ) -> tuple[int, list[str]]:
    """Documents of every page from every implementation, compared with the core's: (documents, problems)."""
    problems = []
    docs = 0
    core = impls["core"]
    for n, page in enumerate(pages):
        want = core(page, site)
        docs += len(want)
        for name, fn in impls.items():
            if name == "core" or name.endswith("(parse only)"):
                continue
            got = fn(page, site)
            d = first_difference(want, got)
            if d:
                problems.append(f"page {n}, {name}: {d}")
    return docs, problems


def time_once(fn: Callable[[str, str], Any], pages: list[str], site: str) -> tuple[float, float]:
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    for p in pages:
        fn(p, site)
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pages", type=int, default=50)
    ap.add_argument("--issues-per-page", type=int, default=100)
    ap.add_argument("--repetitions", type=int, default=7)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 pages of 25 issues, one round")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "jira_normalize.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.pages, args.issues_per_page, args.repetitions = 4, 25, 1
    elif args.repetitions < 5:
        ap.error("--repetitions must be at least 5 (or use --quick)")

    from backfill import __version__
    from backfill._core import _testing

    print(f"generating {args.pages} pages of {args.issues_per_page} issues with the Jira fake ...", flush=True)
    pages, site, facts = make_pages(args.pages, args.issues_per_page, args.seed)
    total_bytes = sum(len(p.encode("utf-8")) for p in pages)

    impls: dict[str, Callable[[str, str], Any]] = {
        "core": _testing.normalize_jira_page,
        "python (json)": py_normalize_page,
    }
    try:
        import orjson

        impls["python (orjson)"] = lambda p, s: py_normalize_page(p, s, orjson.loads)
    except ImportError:
        pass
    impls["python json.loads (parse only)"] = lambda p, s: json.loads(p)

    docs, problems = check_equal(pages, site, impls)
    print(f"{len(pages)} pages, {total_bytes / 1e6:.2f} MB, {docs} documents; the implementations agree: "
          f"{'yes' if not problems else 'NO'}", flush=True)
    if problems:
        for p in problems[:10]:
            print("  " + p, file=sys.stderr)
        print("refusing to time implementations that produce different documents", file=sys.stderr)
        return 1

    names = list(impls)
    for name in names:  # warm-up
        time_once(impls[name], pages, site)
    rounds: list[dict[str, dict[str, float]]] = []
    for r in range(args.repetitions):
        order = names[r % len(names):] + names[:r % len(names)]
        rnd: dict[str, dict[str, float]] = {}
        for name in order:
            wall, cpu = time_once(impls[name], pages, site)
            rnd[name] = {"seconds": wall, "cpu_seconds": cpu}
        rounds.append(rnd)
        print(f"round {r + 1}/{args.repetitions}: " + ", ".join(
            f"{n} {total_bytes / 1e6 / rnd[n]['seconds']:.1f} MB/s" for n in names), flush=True)

    rows = []
    for name in names:
        secs = [rnd[name]["seconds"] for rnd in rounds]
        cpus = [rnd[name]["cpu_seconds"] for rnd in rounds]
        med = statistics.median(secs)
        rows.append({"implementation": name, "seconds": secs, "cpu_seconds": cpus, "median_seconds": med,
                     "mb_per_second": total_bytes / 1e6 / med,
                     "documents_per_second": (docs / med) if not name.endswith("(parse only)") else None,
                     "cpu_mb_per_second": total_bytes / 1e6 / statistics.median(cpus) if statistics.median(cpus) > 0
                     else None,
                     "spread_percent": (max(secs) - min(secs)) / med * 100 if med > 0 else 0.0})
    ratios = {}
    for name in names:
        if name == "core":
            continue
        per_round = [rnd[name]["seconds"] / rnd["core"]["seconds"] for rnd in rounds]
        ratios[name] = {"median_of_round_ratios": statistics.median(per_round), "per_round": per_round}
    speedup = ratios["python (json)"]["median_of_round_ratios"]
    result = {
        "schema": SCHEMA,
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "quick": args.quick,
        "command": "bench/jira_normalize_bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "pages": len(pages), "issues_per_page": args.issues_per_page, "bytes": total_bytes, "documents": docs,
        "repetitions": args.repetitions, "seed": args.seed, "data": facts, "equal": True,
        "rows": rows, "speedup_vs_python": ratios,
        "goal": {"speedup": GOAL, "met": speedup >= GOAL},
        "versions": {"backfill": __version__, "python": platform.python_version(),
                     "orjson": getattr(sys.modules.get("orjson"), "__version__", None)},
        "host": host_info(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print()
    print("| implementation | median s | MB/s | docs/s | CPU MB/s | spread % | core is × faster |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        name = row["implementation"]
        x = "" if name == "core" else f"{ratios[name]['median_of_round_ratios']:.1f}"
        dps = f"{row['documents_per_second']:.0f}" if row["documents_per_second"] else ""
        cpu = f"{row['cpu_mb_per_second']:.1f}" if row["cpu_mb_per_second"] else ""
        print(f"| {name} | {row['median_seconds']:.3f} | {row['mb_per_second']:.1f} | {dps} | {cpu} | "
              f"{row['spread_percent']:.0f} | {x} |")
    print()
    print(f"{len(pages)} pages, {total_bytes / 1e6:.2f} MB, {docs} documents, {facts['comments']} comments; "
          f"median of {args.repetitions} round(s). Speed-up over pure Python (json): {speedup:.1f}x "
          f"(goal {GOAL:.0f}x: {'met' if speedup >= GOAL else 'NOT met'}). Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
