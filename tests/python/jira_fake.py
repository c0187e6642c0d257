"""A local Jira Cloud REST v3 server for tests: the search and comment shapes of the official spec
(``shared/specs/jira/swagger-v3.v3.json``), the behaviour of shared/API_FACTS.md section 2, synthetic
projects, and switchable failure modes. A test fixture, never part of the package.

    with JiraFake({"SUBS": 120, "OPS": 40}, seed=7) as jira:     # 127.0.0.1, ephemeral port
        ...                                    # point a client at jira.url, Basic me@example.com:jira-secret-token
        jira.edit("SUBS-3", summary="new")     # bumps `updated` to now, changes the text
        jira.rate_limit(3, retry_after=1)      # the next 3 requests get Jira's 429 with Retry-After, X-RateLimit-*
        jira.stuck_token("SUBS")               # SUBS pages: the same page and the same nextPageToken forever
        jira.short_pages((37, 5, 1))           # pages shorter than maxResults before the last one
        jira.deny(403, projects=["OPS"])       # 403 (or 404) for searches of OPS
        jira.burst_limit(8, per_seconds=1)     # a token bucket like Jira's burst limit: 429 beyond it
        jira.fail_next(1, 410, paths=[SEARCH], body=GONE_BODY)   # any status, any body, next n requests
        jira.hide_comments(["SUBS-9"])         # 404 from the comment endpoint (issue gone after the search)
        jira.set_field("SUBS-4", "customfield_10070", {"odd": 1})   # any raw field value (bumps `updated`)
        jira.ignore_comment_offset(["SUBS-9"]) # its comment pages ignore startAt: the first page forever
        jira.echo_credentials_in_errors()      # error bodies quote the request's Authorization back
        jira.advance(3 * 3600)                 # the site's clock (relative JQL dates, edits) moves on
        jira.expire_tokens()                   # every token handed out so far is expired (400)
        jira.tz_minutes = -300                 # the user's time zone: JQL dates are read, timestamps written in it
        jira.take_violations()                 # requests that break the API's rules (startAt on /search/jql, ...)
        jira.search_calls(), jira.comment_calls("SUBS-9")        # what arrived (RequestLog: query, jql, status)

Endpoints:

- ``GET /rest/api/3/search/jql`` (operationId searchAndReconsileIssuesUsingJql): ``jql`` (parsed: AND/OR/NOT,
  parentheses, ``= != > >= < <= ~ !~ in, not in, is [not] empty``, fields project, key, updated, created,
  status, type, priority, labels, component, assignee, reporter, parent, summary, description, text, and
  ``ORDER BY`` with ASC/DESC), ``maxResults`` (default 50, at most ``max_page`` = 100 returned), ``fields``
  (default ``id`` only; a comma list, ``*all``, ``*navigable``, ``-name``), ``nextPageToken`` (opaque, bound
  to the JQL it came from; 400 for anything else), ``expand=names``. Answers ``{"issues", "isLast",
  "nextPageToken"?}``: no ``total``, no ``startAt``, the token absent on the last page. A JQL without a
  restriction is refused (400 "Unbounded JQL queries are not allowed here..."), an unknown project or field
  too, with Jira's messages. ``POST /rest/api/3/search/jql`` takes the same as a JSON body.
- ``GET /rest/api/3/issue/{key or id}/comment`` (getComments): ``startAt`` (default 0), ``maxResults``
  (default 100, at most 100 returned), ``orderBy`` in created / -created / +created (else 400),
  ``expand=renderedBody``; answers ``{"startAt", "maxResults", "total", "comments"}``; 404 for an unknown issue.
- ``GET|POST /rest/api/3/search``: removed, 410 with Atlassian's body (API_FACTS §2), whatever the credentials.
- ``GET /rest/api/3/field`` (getFields): the site's field catalogue, ``[FieldDetails]`` (:data:`CATALOGUE`): the
  system fields and custom fields as Jira Cloud shapes them: Epic Name (``customfield_10011``, a string on epics),
  Story Points (``customfield_10026``, a number on stories), Acceptance Criteria (``customfield_10050``, a
  multi-line text field: ADF), Deployment (``customfield_10070``, an app's field, null unless set).
- ``POST /rest/api/3/search/approximate-count``, ``GET /rest/api/3/myself``, ``GET /rest/api/3/project/{key}``.

Every request needs ``Authorization: Basic base64(email:token)`` (401 otherwise). The comment field of a
search result embeds at most 20 comments (the oldest), with the issue's true ``total``.

What the fake records as a *violation* (:attr:`JiraFake.violations`; a faithful client causes none):
``startAt`` or another parameter the spec does not list sent to /search/jql; a JQL that is not bounded by
``project`` and ``updated >=`` / ``>`` at its top level; no explicit ``fields``; a call to the removed
/rest/api/3/search; a bad ``orderBy``; a token used with another JQL; a request retried sooner than the
Retry-After of the 429 it got.

Every response body can be validated against the spec (``validate=True``, the default): the page against
``SearchAndReconcileResults``, each field against its schema (StatusDetails, IssueTypeDetails, Priority,
UserDetails, ProjectDetails, ProjectComponent, PageOfComments), comment pages against ``PageOfComments``,
and every ADF document against the ADF structure. Problems go to :attr:`JiraFake.schema_errors`.

Data are synthetic and deterministic for a seed: realistic ADF descriptions that use every node type
(and a few the ADF-to-text converter must descend into without knowing them), unicode throughout, 0 to 60
comments an issue (about one issue in eight has more than 20), null descriptions, sub-tasks with parents (and
their parents' ``subtasks``), resolutions of done issues, the custom fields above.

Dependencies beyond the standard library: jsonschema (for validation).
"""

from __future__ import annotations

import base64
import bisect
import copy
import gzip
import hashlib
import json
import math
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from fake_base import FakeHandler, FakeServer, ServedFake, find_spec

__all__ = [
    "ACCEPTANCE",
    "ADF_NODE_TYPES",
    "COMMENTS_PATH_PREFIX",
    "DEFAULT_EMAIL",
    "DEFAULT_TOKEN",
    "DEPLOYMENT",
    "EPIC_NAME",
    "FIELD_LIST",
    "GONE_BODY",
    "JiraFake",
    "JqlError",
    "RequestLog",
    "CATALOGUE",
    "STANDARD_FIELDS",
    "STORY_POINTS",
    "jira_time",
    "load_spec",
    "parse_jql",
    "parse_jira_time",
    "spec_validator",
    "validate_adf",
]

DEFAULT_EMAIL = "me@example.com"
DEFAULT_TOKEN = "jira-secret-token"
SPEC_NAME = "swagger-v3.v3.json"
SEARCH = "/rest/api/3/search/jql"
OLD_SEARCH = "/rest/api/3/search"
COUNT = "/rest/api/3/search/approximate-count"
COMMENTS_PATH_PREFIX = "/rest/api/3/issue/"     # + {key}/comment
EMBEDDED_COMMENTS = 20
# Tokens are opaque; ours hold "+", "/" and "=", which a client must percent-encode in a query string
# (an unencoded "+" arrives as a space, and the token is refused).
TOKEN_PREFIX = "Cg+/"
GONE_BODY = {
    "errorMessages": [
        "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration "
        "guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
    ],
    "errors": {},
}
UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
# The fields backfill's Jira source asks for.
STANDARD_FIELDS = ("summary", "description", "status", "issuetype", "priority", "labels", "components", "assignee",
                   "reporter", "created", "updated", "comment", "project", "parent")
FIELD_LIST = "/rest/api/3/field"
EPIC_NAME, STORY_POINTS, ACCEPTANCE, DEPLOYMENT = ("customfield_10011", "customfield_10026", "customfield_10050",
                                                   "customfield_10070")
CUSTOM_FIELDS = (EPIC_NAME, STORY_POINTS, ACCEPTANCE, DEPLOYMENT)
ALL_FIELDS = STANDARD_FIELDS + ("resolution", "fixVersions", "environment", "subtasks", "issuelinks",
                                "attachment") + CUSTOM_FIELDS
SEARCH_PARAMS = {"jql", "nextPageToken", "maxResults", "fields", "expand", "properties", "fieldsByKeys", "failFast",
                 "reconcileIssues"}
COMMENT_PARAMS = {"startAt", "maxResults", "orderBy", "expand"}
FIELD_NAMES = {"summary": "Summary", "description": "Description", "status": "Status", "issuetype": "Issue Type",
               "priority": "Priority", "labels": "Labels", "components": "Components", "assignee": "Assignee",
               "reporter": "Reporter", "created": "Created", "updated": "Updated", "comment": "Comment",
               "project": "Project", "parent": "Parent", "resolution": "Resolution", "fixVersions": "Fix versions",
               "environment": "Environment", "subtasks": "Sub-tasks", "issuelinks": "Linked Issues",
               "attachment": "Attachment", EPIC_NAME: "Epic Name", STORY_POINTS: "Story Points",
               ACCEPTANCE: "Acceptance Criteria", DEPLOYMENT: "Deployment"}
_SYSTEM_SCHEMAS = {"summary": ("string", None), "description": ("string", None), "status": ("status", None),
                   "issuetype": ("issuetype", None), "priority": ("priority", None), "labels": ("array", "string"),
                   "components": ("array", "component"), "assignee": ("user", None), "reporter": ("user", None),
                   "created": ("datetime", None), "updated": ("datetime", None), "comment": ("comments-page", None),
                   "project": ("project", None), "parent": ("issuelink", None), "resolution": ("resolution", None),
                   "fixVersions": ("array", "version"), "environment": ("string", None),
                   "subtasks": ("array", "issuelinks"), "issuelinks": ("array", "issuelinks"),
                   "attachment": ("array", "attachment")}
_CUSTOM_SCHEMAS = {EPIC_NAME: ("string", "com.pyxis.greenhopper.jira:gh-epic-label"),
                   STORY_POINTS: ("number", "com.atlassian.jira.plugin.system.customfieldtypes:float"),
                   ACCEPTANCE: ("string", "com.atlassian.jira.plugin.system.customfieldtypes:textarea"),
                   DEPLOYMENT: ("any", "com.example.deployments:deployment")}


def _catalogue() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for fid, (typ, items) in _SYSTEM_SCHEMAS.items():
        schema: dict[str, Any] = {"type": typ, "system": fid}
        if items:
            schema["items"] = items
        out.append({"id": fid, "key": fid, "name": FIELD_NAMES[fid], "custom": False, "orderable": True,
                    "navigable": True, "searchable": True, "clauseNames": [fid], "schema": schema})
    out.append({"id": "issuekey", "key": "issuekey", "name": "Key", "custom": False, "orderable": False,
                "navigable": True, "searchable": False, "clauseNames": ["id", "issue", "issuekey", "key"]})
    for fid, (typ, custom) in _CUSTOM_SCHEMAS.items():
        num = int(fid.rsplit("_", 1)[1])
        out.append({"id": fid, "key": fid, "name": FIELD_NAMES[fid],
                    "custom": True, "orderable": True, "navigable": True, "searchable": True,
                    "clauseNames": [f"cf[{num}]", FIELD_NAMES[fid]],
                    "schema": {"type": typ, "custom": custom, "customId": num}})
    return out


# GET /rest/api/3/field of every fake site.
CATALOGUE = _catalogue()


# --- times ----------------------------------------------------------------------------------------


def jira_time(ms: int, tz_minutes: int = 0) -> str:
    """Jira's timestamp format in the user's time zone (`tz_minutes` east of UTC):
    2024-03-05T14:22:11.123+0000, 2024-03-05T09:22:11.123-0500."""
    dt = datetime.fromtimestamp(ms // 1000 + tz_minutes * 60, timezone.utc)
    sign = "-" if tz_minutes < 0 else "+"
    off = abs(tz_minutes)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}{sign}{off // 60:02d}{off % 60:02d}"


def parse_jira_time(s: str) -> int:
    """Milliseconds since the epoch of a Jira timestamp (any offset) or an ISO 8601 one ending in Z."""
    s = s.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+0000"
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?([+-]\d\d):?(\d\d)", s)
    if not m:
        raise ValueError(f"not a Jira timestamp: {s!r}")
    base = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    frac = int((m.group(2) or "0").ljust(3, "0")[:3])
    sign = -1 if m.group(3).startswith("-") else 1
    offset = timedelta(hours=int(m.group(3)[1:]), minutes=int(m.group(4))) * sign
    return int((base - offset).timestamp()) * 1000 + frac


def _now_ms() -> int:
    return int(time.time() * 1000)


# --- the spec ---------------------------------------------------------------------------------------


def spec_path() -> Path:
    """The official Jira Cloud platform spec (see fake_base.find_spec for where it is looked for)."""
    return find_spec("jira", SPEC_NAME, "Jira spec")


_SPEC_LOCK = threading.Lock()
_SPEC: dict[str, Any] | None = None
_VALIDATORS: dict[str, Any] = {}


def load_spec() -> dict[str, Any]:
    """The parsed spec, loaded once per process (2.4 MB)."""
    global _SPEC
    with _SPEC_LOCK:
        if _SPEC is None:
            with open(spec_path(), encoding="utf-8") as f:
                _SPEC = json.load(f)
        return _SPEC


def _openapi_to_jsonschema(node: Any, names: bool = False) -> Any:
    """OpenAPI 3.0 `nullable: true` as JSON Schema (a copy; the spec itself is not changed). `names`: `node`
    maps names to schemas (properties, schemas), so none of its keys is an annotation."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(x) for x in node]
    if not isinstance(node, dict):
        return node
    if names:
        return {k: _openapi_to_jsonschema(v) for k, v in node.items()}
    out = {k: _openapi_to_jsonschema(v, names=k in ("properties", "schemas", "patternProperties"))
           for k, v in node.items() if k not in ("example", "xml", "description")}
    if out.pop("nullable", False):
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def spec_validator(schema_name: str) -> Any:
    """A jsonschema validator of one component schema of the spec (cached)."""
    import jsonschema

    with _SPEC_LOCK:
        v = _VALIDATORS.get(schema_name)
        if v is not None:
            return v
    spec = load_spec()
    with _SPEC_LOCK:
        comps = _VALIDATORS.get("__components__")
        if comps is None:
            comps = _openapi_to_jsonschema(spec["components"])
            _VALIDATORS["__components__"] = comps
        if schema_name not in comps["schemas"]:
            raise KeyError(f"no schema {schema_name} in the spec")
        v = jsonschema.Draft4Validator({"$ref": f"#/components/schemas/{schema_name}", "components": comps})
        _VALIDATORS[schema_name] = v
        return v


def spec_errors(schema_name: str, instance: Any, where: str = "") -> list[str]:
    out = []
    for e in spec_validator(schema_name).iter_errors(instance):
        path = "/".join(str(p) for p in e.absolute_path)
        out.append(f"{where}{'/' if where and path else ''}{path}: {schema_name}: {e.message[:300]}")
    return out


FIELD_SCHEMAS = {"status": "StatusDetails", "issuetype": "IssueTypeDetails", "priority": "Priority",
                 "assignee": "UserDetails", "reporter": "UserDetails", "project": "ProjectDetails",
                 "comment": "PageOfComments"}


def validate_search_page(body: Mapping[str, Any]) -> list[str]:
    """Everything wrong with a /search/jql response body, by the spec and API_FACTS §2."""
    errs = spec_errors("SearchAndReconcileResults", body)
    if "nextPageToken" in body and body.get("isLast") is True:
        errs.append("isLast is true but a nextPageToken is present")
    if "nextPageToken" in body and body["nextPageToken"] is None:
        errs.append("nextPageToken is null: it must be absent on the last page")
    for k in ("total", "startAt", "maxResults"):
        if k in body:
            errs.append(f"{k} is in a /search/jql response")
    for i, issue in enumerate(body.get("issues", [])):
        errs += validate_issue_fields(issue.get("fields", {}), f"issues/{i}/fields")
    return errs


def validate_issue_fields(fields: Mapping[str, Any], where: str) -> list[str]:
    errs: list[str] = []
    for name, value in fields.items():
        if value is None:
            continue
        schema = FIELD_SCHEMAS.get(name)
        if schema:
            errs += spec_errors(schema, value, f"{where}/{name}")
        if name == "components":
            for j, c in enumerate(value):
                errs += spec_errors("ProjectComponent", c, f"{where}/components/{j}")
        if name in ("description", ACCEPTANCE):
            errs += [f"{where}/{name}: {e}" for e in validate_adf(value)]
        if name == "comment":
            errs += validate_comment_page(value, f"{where}/comment", check_schema=False)
    return errs


def validate_comment_page(body: Mapping[str, Any], where: str = "", *, check_schema: bool = True) -> list[str]:
    errs = spec_errors("PageOfComments", body, where) if check_schema else []
    for j, c in enumerate(body.get("comments", [])):
        errs += [f"{where}/comments/{j}/body: {e}" for e in validate_adf(c.get("body"))]
    return errs


# --- ADF --------------------------------------------------------------------------------------------

# Node types of the ADF schema (https://developer.atlassian.com/cloud/jira/platform/apis/document/structure),
# with what they may contain: "block", "inline", a set of types, or None (a leaf).
BLOCK = ("paragraph", "heading", "bulletList", "orderedList", "codeBlock", "blockquote", "panel", "table", "rule",
         "mediaSingle", "mediaGroup", "expand", "nestedExpand", "taskList", "decisionList", "blockCard",
         "layoutSection", "extension", "bodiedExtension")
INLINE = ("text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status", "inlineExtension", "placeholder",
          "mediaInline")
ADF_NODE_TYPES: dict[str, Any] = {
    "doc": "block", "paragraph": "inline", "heading": "inline", "bulletList": {"listItem"},
    "orderedList": {"listItem"}, "listItem": "block", "codeBlock": {"text"}, "blockquote": "block", "panel": "block",
    "table": {"tableRow"}, "tableRow": {"tableHeader", "tableCell"}, "tableHeader": "block", "tableCell": "block",
    "rule": None, "mediaSingle": {"media", "caption"}, "mediaGroup": {"media"}, "media": None, "caption": "inline",
    "expand": "block", "nestedExpand": "block", "taskList": {"taskItem", "taskList"}, "taskItem": "inline",
    "decisionList": {"decisionItem"}, "decisionItem": "inline", "blockCard": None, "layoutSection": {"layoutColumn"},
    "layoutColumn": "block", "extension": None, "bodiedExtension": "block", "text": None, "hardBreak": None,
    "mention": None, "emoji": None, "inlineCard": None, "date": None, "status": None, "inlineExtension": None,
    "placeholder": None, "mediaInline": None,
}
MARKS = {"strong", "em", "code", "strike", "underline", "link", "textColor", "subsup", "backgroundColor"}


def validate_adf(doc: Any, *, allow_unknown: Iterable[str] = ()) -> list[str]:
    """Structural problems of an ADF document (None is a valid absent description)."""
    if doc is None:
        return []
    errs: list[str] = []
    unknown_ok = set(allow_unknown)
    if not isinstance(doc, dict) or doc.get("type") != "doc" or doc.get("version") != 1:
        return ["the root is not {type: doc, version: 1}"]

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            errs.append(f"{path}: not a node")
            return
        t = node["type"]
        if t not in ADF_NODE_TYPES and t not in unknown_ok:
            errs.append(f"{path}: unknown node type {t!r}")
            return
        rule = ADF_NODE_TYPES.get(t, "block")
        content = node.get("content")
        if t == "text":
            if not isinstance(node.get("text"), str) or not node["text"]:
                errs.append(f"{path}: a text node needs non-empty text")
            for m in node.get("marks", []):
                if m.get("type") not in MARKS:
                    errs.append(f"{path}: unknown mark {m.get('type')!r}")
                if m.get("type") == "link" and not m.get("attrs", {}).get("href"):
                    errs.append(f"{path}: a link mark needs attrs.href")
        if t == "heading" and node.get("attrs", {}).get("level") not in range(1, 7):
            errs.append(f"{path}: heading level must be 1-6")
        for need, attrs in (("mention", ("id",)), ("emoji", ("shortName",)), ("inlineCard", ("url",)),
                            ("blockCard", ("url",)), ("date", ("timestamp",)), ("status", ("text", "color")),
                            ("media", ("type",)), ("taskItem", ("localId", "state")), ("decisionItem", ("localId",))):
            if t == need:
                for a in attrs:
                    if a not in node.get("attrs", {}):
                        errs.append(f"{path}: {t} needs attrs.{a}")
        if rule is None:
            if content:
                errs.append(f"{path}: {t} cannot have content")
            return
        if content is None:
            if t not in ("paragraph", "heading", "taskItem", "decisionItem", "caption", "tableCell", "tableHeader"):
                errs.append(f"{path}: {t} needs content")
            return
        if not isinstance(content, list):
            errs.append(f"{path}: content is not a list")
            return
        for i, child in enumerate(content):
            ct = child.get("type") if isinstance(child, dict) else None
            if ct in unknown_ok:
                pass
            elif rule == "block" and ct not in BLOCK and not (t == "listItem" and ct in ("bulletList", "orderedList")):
                errs.append(f"{path}/{i}: {ct!r} is not a block node (inside {t})")
            elif rule == "inline" and ct not in INLINE:
                errs.append(f"{path}/{i}: {ct!r} is not an inline node (inside {t})")
            elif isinstance(rule, set) and ct not in rule:
                errs.append(f"{path}/{i}: {ct!r} cannot be inside {t}")
            walk(child, f"{path}/{i}")

    for i, child in enumerate(doc.get("content", [])):
        walk(child, f"content/{i}")
    return errs


# --- synthetic data ------------------------------------------------------------------------------------

USERS = [
    ("5b10ac8d82e05b22cc7d4ef5", "Zoë Ångström", "zoe@example.com", "Europe/Stockholm"),
    ("5b10a2844c20165700ede21g", "山田 太郎", None, "Asia/Tokyo"),
    ("5c2a7f1e9b8d3c0012345678", "Олег Петров", "oleg@example.com", "Europe/Moscow"),
    ("5d3b8e2f0c9e4d0023456789", "Siobhán O'Connor", "siobhan@example.com", "Europe/Dublin"),
    ("5e4c9f301daf5e0034567890", "José Ñúñez", None, "America/Mexico_City"),
    ("5f5da0412eb06f0045678901", "Ama Mensah", "ama@example.com", "Africa/Accra"),
    ("606eb1523fc1700056789012", "Priya Raghunathan", "priya@example.com", "Asia/Kolkata"),
    ("617fc26340d2810067890123", "Jürgen Groß", "juergen@example.com", "Europe/Berlin"),
    ("6280d37451e3920078901234", "김민준", None, "Asia/Seoul"),
    ("6391e48562f4a30089012345", "Renée Dubois", "renee@example.com", "Europe/Paris"),
    ("64a2f59673a5b4009a123456", "Mateus Conceição", "mateus@example.com", "America/Sao_Paulo"),
    ("65b3a6a784b6c500ab234567", "Ngozi Adébáyọ̀", None, "Africa/Lagos"),
]
ME = ("5a1b2c3d4e5f600011223344", "Backfill Bot", DEFAULT_EMAIL, "UTC")
STATUSES = [("10000", "To Do", 2, "new", "blue-gray", "To Do"), ("3", "In Progress", 4, "indeterminate", "yellow",
                                                                      "In Progress"),
            ("10001", "In Review", 4, "indeterminate", "yellow", "In Progress"),
            ("10002", "Done", 3, "done", "green", "Done")]
TYPES = [("10001", "Story", False, 0), ("10002", "Bug", False, 0), ("10003", "Task", False, 0),
         ("10004", "Sub-task", True, -1), ("10005", "Epic", False, 1)]
PRIORITIES = [("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"), ("5", "Lowest")]
LABELS = ["billing", "backend", "frontend", "postgres", "incident", "customer-reported", "tech-debt", "séc",
          "規制", "perf", "flaky-test", "migration"]
COMPONENTS = ["API", "Billing engine", "Web app", "Data pipeline", "Infra / Kubernetes", "Notifications"]
EMOJI = [(":smile:", "1f604", "😄"), (":tada:", "1f389", "🎉"), (":warning:", "atlassian-warning", None),
         (":fire:", "1f525", "🔥"), (":thumbsup:", "1f44d", "👍"), (":white_check_mark:", "2705", "✅")]
WORDS = ("the invoice retry queue stalls when the postgres failover happens during a billing run and customers see "
         "duplicate charges until the reconciliation job catches up we should add an idempotency key to the "
         "webhook handler and page the on-call engineer when the lag exceeds five minutes rollout plan rollback "
         "dashboard latency p99 timeout replica connection pool exhausted migration schema index lock "
         "subscription renewal proration coupon tax currency refund dispute ledger cron scheduler").split()
UNICODE_PHRASES = ["Grüße aus München", "東京のデータセンター", "срочно: проверьте реплику", "café ☕ déjà vu",
                   "naïve façade", "emoji 🚀🔥✅", "Ελληνικά κείμενα", "עברית בדיקה", "हिन्दी परीक्षण",
                   "ℤ ⊂ ℚ ⊂ ℝ", "“smart quotes” — and dashes", "tab\there", "Ünïcödé ñ"]
SUMMARIES = ["Invoice retries stall after Postgres failover", "Duplicate charges when webhook replays",
             "Dashboard p99 latency regression", "Migrate subscriptions to the new ledger",
             "Refund dispute export times out", "Tax rounding differs by currency", "Coupon proration off by a day",
             "Connection pool exhausted under load", "Scheduler skips renewals at DST change",
             "Notify on-call when reconciliation lags", "Kubernetes node drain drops jobs",
             "Search index lock contention"]


def _words(rng: random.Random, n: int) -> str:
    out = rng.choices(WORDS, k=n)
    if rng.random() < 0.35:
        out.insert(rng.randrange(len(out) + 1), rng.choice(UNICODE_PHRASES))
    return " ".join(out)


def _text(s: str, *marks: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": s}
    if marks:
        node["marks"] = list(marks)
    return node


def _p(*inline: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(inline)}


def _uuid(rng: random.Random) -> str:
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class AdfGen:
    """Builds ADF blocks; `site` is the base URL used in links and cards."""

    def __init__(self, rng: random.Random, site: str, project: str, max_key: int) -> None:
        self.rng = rng
        self.site = site
        self.project = project
        self.max_key = max_key

    def mention(self) -> dict[str, Any]:
        acc, name, *_ = self.rng.choice(USERS)
        return {"type": "mention", "attrs": {"id": acc, "text": "@" + name, "accessLevel": ""}}

    def emoji(self) -> dict[str, Any]:
        short, eid, txt = self.rng.choice(EMOJI)
        attrs = {"shortName": short, "id": eid}
        if txt:
            attrs["text"] = txt
        return {"type": "emoji", "attrs": attrs}

    def inline_run(self, words: int = 12) -> list[dict[str, Any]]:
        r = self.rng
        out: list[dict[str, Any]] = [_text(_words(r, words) + " ")]
        extra = r.sample(["strong", "em", "code", "link", "mention", "emoji", "card", "date", "status", "br",
                          "strike"], k=r.randint(1, 4))
        for kind in extra:
            if kind in ("strong", "em", "strike"):
                out.append(_text(_words(r, 2), {"type": kind}))
            elif kind == "code":
                out.append(_text("SELECT * FROM invoices WHERE state = 'retry'", {"type": "code"}))
            elif kind == "link":
                out.append(_text("the runbook", {"type": "link", "attrs": {"href": f"https://wiki.example.com/runbooks/"
                                                                                    f"{r.choice(WORDS)}"}}))
            elif kind == "mention":
                out.append(self.mention())
            elif kind == "emoji":
                out.append(self.emoji())
            elif kind == "card":
                out.append({"type": "inlineCard", "attrs": {
                    "url": f"{self.site}/browse/{self.project}-{r.randint(1, max(1, self.max_key))}"}})
            elif kind == "date":
                ts = 1704067200000 + r.randrange(0, 600) * 86_400_000
                out.append({"type": "date", "attrs": {"timestamp": str(ts)}})
            elif kind == "status":
                label = r.choice(["BLOCKED", "IN PROGRESS", "DONE", "À FAIRE"])
                out.append({"type": "status", "attrs": {"text": label,
                                                        "color": r.choice(["red", "yellow", "green", "neutral"]),
                                                        "localId": _uuid(r), "style": ""}})
            elif kind == "br":
                out.append({"type": "hardBreak"})
            out.append(_text(" " + _words(r, 3)))
        return out

    def block(self, kind: str) -> dict[str, Any]:
        r = self.rng
        if kind == "paragraph":
            return _p(*self.inline_run(r.randint(6, 30)))
        if kind == "heading":
            return {"type": "heading", "attrs": {"level": r.randint(1, 6)}, "content": [_text(_words(r, 4))]}
        if kind in ("bulletList", "orderedList"):
            items = []
            for _ in range(r.randint(2, 4)):
                content = [_p(*self.inline_run(r.randint(3, 10)))]
                if r.random() < 0.25:
                    content.append({"type": "bulletList", "content": [
                        {"type": "listItem", "content": [_p(_text(_words(r, 4)))]}]})
                items.append({"type": "listItem", "content": content})
            node: dict[str, Any] = {"type": kind, "content": items}
            if kind == "orderedList":
                node["attrs"] = {"order": 1}
            return node
        if kind == "codeBlock":
            lang = r.choice(["python", "sql", "bash", "json"])
            code = {"python": "def retry(invoice):\n    return queue.put(invoice, idempotency_key=invoice.id)",
                    "sql": "UPDATE invoices SET state = 'failed'\n WHERE attempts > 5;",
                    "bash": "kubectl -n billing rollout restart deploy/worker\necho 'done ✅'",
                    "json": '{"invoice": 42, "state": "retry"}'}[lang]
            return {"type": "codeBlock", "attrs": {"language": lang}, "content": [_text(code)]}
        if kind == "blockquote":
            return {"type": "blockquote", "content": [_p(*self.inline_run(8))]}
        if kind == "panel":
            return {"type": "panel", "attrs": {"panelType": r.choice(["info", "note", "warning", "success", "error"])},
                    "content": [_p(*self.inline_run(8))]}
        if kind == "table":
            rows = [{"type": "tableRow", "content": [
                {"type": "tableHeader", "attrs": {}, "content": [_p(_text(h))]} for h in ("Step", "Owner", "État")]}]
            for i in range(r.randint(1, 3)):
                cells = [{"type": "tableCell", "attrs": {}, "content": [_p(_text(f"{i + 1}. {_words(r, 3)}"))]},
                         {"type": "tableCell", "attrs": {}, "content": [_p(self.mention())]},
                         {"type": "tableCell", "attrs": {}, "content": [_p(_text(r.choice(["ok", "todo", "échec"])))]}]
                if r.random() < 0.3:
                    cells[2]["content"].append({"type": "nestedExpand", "attrs": {"title": "details"},
                                                "content": [_p(_text(_words(r, 5)))]})
                rows.append({"type": "tableRow", "content": cells})
            return {"type": "table", "attrs": {"isNumberColumnEnabled": False, "layout": "default"}, "content": rows}
        if kind == "rule":
            return {"type": "rule"}
        if kind == "mediaSingle":
            return {"type": "mediaSingle", "attrs": {"layout": "center"}, "content": [
                {"type": "media", "attrs": {"id": _uuid(r), "type": "file", "collection": "jira-attachments",
                                            "width": 640, "height": 480, "alt": r.choice(["screenshot.png",
                                                                                         "grafana-p99.png",
                                                                                         "stack trace.txt"])}}]}
        if kind == "mediaGroup":
            return {"type": "mediaGroup", "content": [
                {"type": "media", "attrs": {"id": _uuid(r), "type": "file", "collection": "jira-attachments",
                                            "alt": f"log-{i}.txt"}} for i in range(r.randint(1, 3))]}
        if kind == "expand":
            return {"type": "expand", "attrs": {"title": "Root cause — " + _words(r, 2)},
                    "content": [_p(*self.inline_run(10))]}
        if kind == "taskList":
            lid = _uuid(r)
            return {"type": "taskList", "attrs": {"localId": lid}, "content": [
                {"type": "taskItem", "attrs": {"localId": _uuid(r), "state": r.choice(["TODO", "DONE"])},
                 "content": [_text(_words(r, 5))]} for _ in range(r.randint(1, 3))]}
        if kind == "decisionList":
            return {"type": "decisionList", "attrs": {"localId": _uuid(r)}, "content": [
                {"type": "decisionItem", "attrs": {"localId": _uuid(r), "state": "DECIDED"},
                 "content": [_text("We will " + _words(r, 5))]}]}
        if kind == "blockCard":
            url = f"https://status.example.com/incidents/{r.randint(100, 999)}"
            return {"type": "blockCard", "attrs": {"url": url}}
        if kind == "layoutSection":  # real ADF, not in backfill's list: must be descended into
            return {"type": "layoutSection", "content": [
                {"type": "layoutColumn", "attrs": {"width": 50}, "content": [_p(_text(_words(r, 6)))]}
                for _ in range(2)]}
        raise ValueError(kind)

    KINDS = ("paragraph", "heading", "bulletList", "orderedList", "codeBlock", "blockquote", "panel", "table", "rule",
             "mediaSingle", "mediaGroup", "expand", "taskList", "decisionList", "blockCard", "layoutSection")

    def description(self, feature: int) -> dict[str, Any]:
        r = self.rng
        blocks = [self.block("paragraph")]
        blocks.append(self.block(self.KINDS[feature % len(self.KINDS)]))
        for _ in range(r.randint(0, 5)):
            blocks.append(self.block(r.choice(self.KINDS)))
        return {"version": 1, "type": "doc", "content": blocks}

    def comment(self) -> dict[str, Any]:
        r = self.rng
        blocks = [_p(*self.inline_run(r.randint(4, 25)))]
        if r.random() < 0.2:
            blocks.append(self.block(r.choice(["codeBlock", "bulletList", "blockquote", "panel"])))
        return {"version": 1, "type": "doc", "content": blocks}


def text_adf(text: str) -> dict[str, Any]:
    """A plain-text ADF document: one paragraph a line."""
    return {"version": 1, "type": "doc", "content": [_p(_text(line)) if line else {"type": "paragraph"}
                                                     for line in text.split("\n")]}


@dataclass
class Comment:
    id: str
    author: int
    created: int
    updated: int
    body: dict[str, Any]
    # Jira's restriction of a comment to a role or group ({"type": "role", "value": "Administrators"}).
    visibility: dict[str, str] | None = None


@dataclass
class Issue:
    id: str
    key: str
    project: str
    num: int
    created: int
    updated: int
    summary: str
    status: int
    type: int
    priority: int
    labels: list[str]
    components: list[int]
    assignee: int | None
    reporter: int
    parent: str | None
    n_comments: int
    seed: str
    version: int = 0
    subtasks: list[str] = field(default_factory=list)   # keys of its sub-task children
    overrides: dict[str, Any] = field(default_factory=dict)   # raw field values set by set_field
    _description: Any = field(default=None, repr=False)
    _comments: list[Comment] | None = field(default=None, repr=False)
    _generated: bool = False


# --- JQL --------------------------------------------------------------------------------------------


class JqlError(ValueError):
    """A JQL Jira would refuse; the message is Jira's."""


_TOKEN = re.compile(r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|!~|>=|<=|=|~|>|<)|(?P<punct>[(),])
                        |(?P<word>[^\s"'(),=!~<>]+))""", re.X)
KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}
JQL_FIELDS = {"project", "key", "issuekey", "id", "updated", "updateddate", "created", "createddate", "status", "type",
              "issuetype", "priority", "labels", "component", "assignee", "reporter", "parent", "summary",
              "description", "text", "comment"}
FIELD_ALIASES = {"issuekey": "key", "updateddate": "updated", "createddate": "created", "issuetype": "type"}


@dataclass
class Clause:
    field: str
    op: str                    # = != > >= < <= ~ !~ in notin is isnot
    value: Any                 # str, list[str], or None (EMPTY)
    raw: str = ""


@dataclass
class Jql:
    where: Any                 # nested ("and"|"or", [..]) / ("not", x) / Clause / None
    order: list[tuple[str, bool]]   # (field, descending)
    text: str

    def conjuncts(self) -> list[Any]:
        """The top-level AND terms."""
        if self.where is None:
            return []
        if isinstance(self.where, tuple) and self.where[0] == "and":
            out: list[Any] = []
            for t in self.where[1]:
                out += Jql(t, [], "").conjuncts()
            return out
        return [self.where]


def _tokens(jql: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    while pos < len(jql):
        if jql[pos:].strip() == "":
            break
        m = _TOKEN.match(jql, pos)
        if not m or m.end() == pos:
            raise JqlError(f"Error in the JQL Query: The character '{jql[pos]}' is a reserved JQL character. You must "
                           f"enclose it in a string or use the escape '\\u{ord(jql[pos]):04x}' instead. (line 1, "
                           f"character {pos + 1})")
        kind = m.lastgroup or ""
        val = m.group(kind)
        if kind == "str":
            val = re.sub(r"\\(.)", r"\1", val[1:-1])
        out.append((kind, val))
        pos = m.end()
    return out


def parse_jql(jql: str) -> Jql:
    """Parses the JQL backfill and its users write (see the module doc); raises JqlError as Jira would."""
    toks = _tokens(jql)
    i = 0

    def peek(k: int = 0) -> tuple[str, str] | None:
        return toks[i + k] if i + k < len(toks) else None

    def kw(t: tuple[str, str] | None, *words: str) -> bool:
        return t is not None and t[0] == "word" and t[1].lower() in words

    def take() -> tuple[str, str]:
        nonlocal i
        if i >= len(toks):
            raise JqlError("Error in the JQL Query: Expecting either a value, list or function but got 'end of query'.")
        i += 1
        return toks[i - 1]

    def value() -> Any:
        t = take()
        if t[0] == "punct" and t[1] == "(":
            vals = []
            while True:
                vals.append(value())
                t2 = take()
                if t2 == ("punct", ")"):
                    return vals
                if t2 != ("punct", ","):
                    raise JqlError("Error in the JQL Query: Expecting ',' or ')' but got '%s'." % t2[1])
        if t[0] not in ("str", "word"):
            raise JqlError(f"Error in the JQL Query: Expecting either a value, list or function but got '{t[1]}'.")
        if t[0] == "word" and peek() == ("punct", "(") and peek(1) == ("punct", ")"):
            take(), take()
            return ("fn", t[1].lower())
        return t[1]

    def clause() -> Any:
        t = take()
        if t == ("punct", "("):
            e = or_expr()
            if take() != ("punct", ")"):
                raise JqlError("Error in the JQL Query: Expecting ')' before the end of the query.")
            return e
        if kw(t, "not"):
            return ("not", clause())
        if t[0] not in ("word", "str"):
            raise JqlError(f"Error in the JQL Query: Expecting a field name but got '{t[1]}'.")
        name = t[1].lower()
        if name not in JQL_FIELDS:
            raise JqlError(f"Field '{t[1]}' does not exist or you do not have permission to view it.")
        name = FIELD_ALIASES.get(name, name)
        op_t = take()
        if op_t[0] == "op":
            return Clause(name, op_t[1], value(), t[1])
        if kw(op_t, "in"):
            return Clause(name, "in", value(), t[1])
        if kw(op_t, "not") and kw(peek(), "in"):
            take()
            return Clause(name, "notin", value(), t[1])
        if kw(op_t, "is"):
            neg = False
            if kw(peek(), "not"):
                take()
                neg = True
            v = take()
            if not kw(v, "empty", "null"):
                raise JqlError("Error in the JQL Query: Expecting 'EMPTY' or 'NULL' after 'IS'.")
            return Clause(name, "isnot" if neg else "is", None, t[1])
        raise JqlError(f"Error in the JQL Query: Expecting operator but got '{op_t[1]}'.")

    def and_expr() -> Any:
        terms = [clause()]
        while kw(peek(), "and"):
            take()
            terms.append(clause())
        return terms[0] if len(terms) == 1 else ("and", terms)

    def or_expr() -> Any:
        terms = [and_expr()]
        while kw(peek(), "or"):
            take()
            terms.append(and_expr())
        return terms[0] if len(terms) == 1 else ("or", terms)

    where = None
    if toks and not kw(peek(), "order"):
        where = or_expr()
    order: list[tuple[str, bool]] = []
    if kw(peek(), "order"):
        take()
        if not kw(take(), "by"):
            raise JqlError("Error in the JQL Query: Expecting 'by' after 'order'.")
        while True:
            f = take()
            name = f[1].lower()
            if name not in JQL_FIELDS:
                raise JqlError(f"Not able to sort using field '{f[1]}'.")
            desc = False
            if kw(peek(), "asc", "desc"):
                desc = take()[1].lower() == "desc"
            order.append((FIELD_ALIASES.get(name, name), desc))
            if peek() == ("punct", ","):
                take()
                continue
            break
        if len(order) > 7:
            raise JqlError("Error in the JQL Query: ORDER BY allows at most 7 fields.")
    if i != len(toks):
        raise JqlError(f"Error in the JQL Query: Expecting end of query but got '{toks[i][1]}'.")
    return Jql(where, order, jql)


_REL = re.compile(r"([+-]?)(\d+)([wdhm])")


def jql_date(value: Any, tz_minutes: int, now_ms: int) -> int:
    """A JQL date value as epoch ms: "yyyy-MM-dd[ HH:mm]" or "yyyy/MM/dd[ HH:mm]" in the user's time zone
    (`tz_minutes` east of UTC), a relative "-30d" / "4h" / "-2w 3d", now(), startOfDay()."""
    if isinstance(value, tuple) and value[0] == "fn":
        if value[1] == "now":
            return now_ms
        if value[1] == "startofday":
            local = now_ms + tz_minutes * 60_000
            return local - local % 86_400_000 - tz_minutes * 60_000
        raise JqlError(f"Error in the JQL Query: Unable to find JQL function '{value[1]}()'.")
    s = str(value).strip()
    m = re.fullmatch(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?", s)
    if m:
        y, mo, d, hh, mm = m.groups()
        dt = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), tzinfo=timezone.utc)
        return int(dt.timestamp() * 1000) - tz_minutes * 60_000
    parts = s.replace(" ", "")
    if re.fullmatch(r"[+-]?(\d+[wdhm])+", parts):
        total = 0
        sign = -1 if parts.startswith("-") else 1
        for _, n, unit in _REL.findall(parts):
            total += int(n) * {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000}[unit]
        return now_ms + sign * total
    raise JqlError(f"Date value '{s}' for field 'updated' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', "
                   "'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'.")


# --- the server -----------------------------------------------------------------------------------------


@dataclass
class RequestLog:
    method: str
    path: str
    target: str                      # as sent
    query: dict[str, list[str]]
    headers: dict[str, str]          # lowercased names
    body: bytes
    t: float                         # time.monotonic() on arrival
    wall: float
    status: int = 0
    replied: float = 0.0
    response_headers: dict[str, str] = field(default_factory=dict)
    jql: str | None = None
    injected: str = ""               # which switch answered ("rate_limit", "fail", "deny", "stuck", ...)

    def param(self, name: str, default: str | None = None) -> str | None:
        v = self.query.get(name)
        return v[-1] if v else default


@dataclass
class _Fault:
    remaining: int
    status: int
    headers: dict[str, str]
    body: Any
    paths: tuple[str, ...] | None
    kind: str


class _Handler(FakeHandler):
    server_version = "jira-fake"

    def on_long_line(self) -> None:
        self.server.fake._violation("a request line over 64 KiB")


class _Server(FakeServer):
    handler = _Handler


class JiraFake(ServedFake):
    """An in-memory Jira Cloud site behind a local HTTP/1.1 server."""

    thread_name = "jira-fake"

    def __init__(
        self,
        projects: Mapping[str, int] | Sequence[str] = ("SUBS", "OPS"),
        issues_per_project: int = 30,
        *,
        seed: int = 7,
        email: str = DEFAULT_EMAIL,
        token: str = DEFAULT_TOKEN,
        max_page: int = 100,
        max_comments: int = 60,
        long_comment_share: float = 0.12,
        start: str = "2024-01-01T00:00:00.000+0000",
        span_days: int = 540,
        validate: bool = True,
        gzip_responses: bool = True,
        tz_minutes: int = 0,
    ) -> None:
        counts = dict(projects) if isinstance(projects, Mapping) else {p: issues_per_project for p in projects}
        self.email = email
        self.token = token
        self.seed = seed
        self.max_page = max_page
        self.max_comments = max_comments
        self.long_comment_share = long_comment_share
        self.validate = validate
        self.gzip_responses = gzip_responses
        self.tz_minutes = tz_minutes         # the user's time zone, which JQL dates are read in (minutes east of UTC)
        self._start_ms = parse_jira_time(start)
        self._span_ms = span_days * 86_400_000
        self._lock = threading.RLock()
        self._projects: dict[str, dict[str, Any]] = {}
        self._issues: dict[str, Issue] = {}            # key -> issue
        self._by_project: dict[str, list[str]] = {}
        self._by_id: dict[str, str] = {}
        self._cache: dict[tuple[str, int, tuple[str, ...], int], bytes] = {}
        self._next_id = 10000
        self._data_version = 0
        self._match_cache: dict[tuple[str, int, int], tuple[list[str], list[tuple[Any, ...]]]] = {}
        self._next_comment = 100000
        self._last_edit = 0
        self.requests: list[RequestLog] = []
        self.violations: list[str] = []
        self.schema_errors: list[str] = []
        self.errors: list[str] = []                    # exceptions in the fake itself
        self.search_latency = 0.0                      # seconds every search page takes at least (benchmarks)
        self.comment_latency = 0.0                     # seconds every comment page takes at least
        self.in_flight = 0
        self.max_in_flight = 0
        self._faults: list[_Fault] = []
        # Changes to the bytes of search responses: (times left, or None for always; bytes -> bytes).
        self._mangles: list[list[Any]] = []
        self._deny: dict[str, tuple[int, set[str] | None]] = {}
        self._stuck: dict[str, int] = {}               # project ("*" any) -> pages served normally first
        self._page_pattern: tuple[int, ...] = ()
        self._burst: tuple[int, float] | None = None   # (requests, per seconds)
        self._burst_times: list[float] = []
        self._retry_not_before: dict[str, tuple[float, float]] = {}  # target -> (monotonic, retry_after)
        self._echo_auth = False
        self._hidden_comments: set[str] = set()
        self._comments_ignore_offset: set[str] = set()
        self._token_epoch = 0
        self.clock_offset_ms = 0                       # the site's clock runs this far ahead of the real one
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # Bound now, served from start(): the site URL (in self links and generated ADF) is known from the start.
        self._server = _Server(self)
        self._site = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._user_cache = [self._user_json(u) for u in USERS]
        for p, n in counts.items():
            self.add_project(p, n)

    # -- lifecycle ----------------------------------------------------------------------------------

    def _new_server(self) -> _Server:
        return _Server(self)

    @property
    def url(self) -> str:
        return self._site


    @property
    def auth_header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.email}:{self.token}".encode()).decode()

    # -- data -----------------------------------------------------------------------------------------

    def add_project(self, key: str, n: int) -> None:
        with self._lock:
            pid = str(10000 + len(self._projects))
            self._projects[key] = {"id": pid, "key": key, "name": f"{key.title()} — projet ünïcode",
                                   "projectTypeKey": "software", "simplified": False}
            self._by_project.setdefault(key, [])
            for _ in range(n):
                self.add_issue(key)

    def add_issue(self, project: str, *, updated: int | None = None) -> str:
        """Appends a synthetic issue to `project` (created and updated in the past, or `updated`)."""
        with self._lock:
            num = len(self._by_project[project]) + 1
            key = f"{project}-{num}"
            seed = f"{self.seed}:{key}"
            r = random.Random(seed)
            created = self._start_ms + r.randrange(0, self._span_ms)
            upd = created + r.randrange(0, 120 * 86_400_000) + r.randrange(0, 1000)
            upd = min(upd, self._start_ms + self._span_ms + 120 * 86_400_000)
            if updated is not None:
                upd = max(updated, created)
            roll = r.random()
            if roll < self.long_comment_share:
                n_comments = r.randint(EMBEDDED_COMMENTS + 1, max(EMBEDDED_COMMENTS + 1, self.max_comments))
            elif roll < 0.3:
                n_comments = r.randint(6, EMBEDDED_COMMENTS)
            else:
                n_comments = r.randint(0, 5)
            n_comments = min(n_comments, self.max_comments)
            t = r.randrange(len(TYPES))
            existing = self._by_project[project]
            parent = None
            if existing and (TYPES[t][2] or r.random() < 0.1):
                parent = r.choice(existing[-50:])
            summary = r.choice(SUMMARIES)
            if r.random() < 0.4:
                summary += " — " + r.choice(UNICODE_PHRASES)
            issue = Issue(
                id=str(self._next_id), key=key, project=project, num=num, created=created, updated=upd,
                summary=summary, status=r.randrange(len(STATUSES)), type=t, priority=r.randrange(len(PRIORITIES)),
                labels=sorted(r.sample(LABELS, k=r.randint(0, 3))),
                components=sorted(r.sample(range(len(COMPONENTS)), k=r.randint(0, 2))),
                assignee=None if r.random() < 0.2 else r.randrange(len(USERS)), reporter=r.randrange(len(USERS)),
                parent=parent, n_comments=n_comments, seed=seed)
            self._next_id += 1
            self._data_version += 1
            self._issues[key] = issue
            self._by_id[issue.id] = key
            existing.append(key)
            if parent is not None and TYPES[t][2]:
                par = self._issues[parent]
                par.subtasks.append(key)
                par.version += 1   # its subtasks changed (its `updated` does not, as in Jira)
            return key

    def _generate(self, issue: Issue) -> None:
        if issue._generated:
            return
        r = random.Random(issue.seed + ":content")
        gen = AdfGen(r, self._site, issue.project, issue.num)
        issue._description = None if r.random() < 0.06 else gen.description(issue.num)
        comments = []
        span = max(1, issue.updated - issue.created)
        times = sorted(issue.created + r.randrange(0, span) for _ in range(issue.n_comments))
        for t in times:
            edited = t + (r.randrange(0, 3_600_000) if r.random() < 0.15 else 0)
            comments.append(Comment(str(self._next_comment_id()), r.randrange(len(USERS)), t,
                                    min(edited, issue.updated), gen.comment()))
        issue._comments = comments
        issue._generated = True

    def _next_comment_id(self) -> int:
        with self._lock:
            self._next_comment += 1
            return self._next_comment

    def delete_issue(self, key: str) -> None:
        """Deletes an issue, as a person with the permission can: search no longer returns it."""
        with self._lock:
            issue = self._issues.pop(key)
            self._by_project[issue.project].remove(key)
            self._by_id.pop(issue.id, None)
            self._data_version += 1

    def issue_keys(self, project: str | None = None) -> list[str]:
        with self._lock:
            if project is None:
                return [k for p in self._by_project for k in self._by_project[p]]
            return list(self._by_project[project])

    def issue(self, key: str) -> dict[str, Any]:
        """An issue as /search/jql returns it with every field, comments in full (not capped at 20)."""
        with self._lock:
            i = self._issues[key]
            self._generate(i)
            out = self._issue_json(i, ALL_FIELDS, embed_all=True)
        return out

    def comments(self, key: str) -> list[dict[str, Any]]:
        with self._lock:
            i = self._issues[key]
            self._generate(i)
            return [self._comment_json(i, c) for c in i._comments or []]

    def comment_count(self, key: str) -> int:
        with self._lock:
            return self._issues[key].n_comments

    def updated(self, key: str) -> int:
        with self._lock:
            return self._issues[key].updated

    def max_updated(self, project: str | None = None) -> int:
        with self._lock:
            keys = self.issue_keys(project)
            return max(self._issues[k].updated for k in keys)

    def edit(self, key: str, *, summary: str | None = None, description: str | dict[str, Any] | None = None,
             comment: str | None = None, when: int | None = None,
             comment_visibility: dict[str, str] | None = None) -> int:
        """Edits an issue as a person would: `updated` becomes now (strictly later than any earlier edit);
        returns the new `updated` (epoch ms). A `comment` restricted by `comment_visibility` is one only
        that role or group sees."""
        with self._lock:
            i = self._issues[key]
            self._generate(i)
            now = when if when is not None else max(self.now_ms(), self._last_edit + 1000)
            self._last_edit = max(self._last_edit, now)
            if summary is not None:
                i.summary = summary
            if description is not None:
                i._description = text_adf(description) if isinstance(description, str) else description
            if comment is not None:
                assert i._comments is not None
                i._comments.append(Comment(str(self._next_comment_id()), 0, now, now, text_adf(comment),
                                           comment_visibility))
                i.n_comments += 1
            if summary is None and description is None and comment is None:
                i.summary += " (edited)"
            i.updated = now
            i.version += 1
            self._data_version += 1
            return now

    def set_field(self, key: str, field_id: str, value: Any) -> int:
        """Sets the raw value of one field of an issue (any shape, as an app could store it) as an edit
        does: `updated` becomes now; returns it."""
        with self._lock:
            i = self._issues[key]
            i.overrides[field_id] = copy.deepcopy(value)
            now = max(self.now_ms(), self._last_edit + 1000)
            self._last_edit = now
            i.updated = now
            i.version += 1
            self._data_version += 1
            return now

    # -- switches ---------------------------------------------------------------------------------------

    def rate_limit(self, n: int, retry_after: float = 1, *, paths: Iterable[str] | None = None,
                   reason: str = "jira-burst-based", reset_header: bool = True) -> None:
        """The next `n` requests (to `paths`, or any) get Jira's 429: Retry-After (seconds), X-RateLimit-Limit,
        X-RateLimit-Remaining 0, X-RateLimit-Reset (ISO yyyy-MM-ddTHH:mmZ), X-RateLimit-NearLimit,
        RateLimit-Reason."""
        with self._lock:
            headers = {"Retry-After": f"{retry_after:g}", "_reset": "1" if reset_header else "",
                       "RateLimit-Reason": reason}
            self._faults.append(_Fault(n, 429, headers,
                                       {"errorMessages": ["Rate limit exceeded."], "errors": {}},
                                       tuple(paths) if paths is not None else None, "rate_limit"))

    def burst_limit(self, requests: int, per_seconds: float = 1.0) -> None:
        """A token bucket like Jira's burst limit: more than `requests` in any `per_seconds` get 429 with
        Retry-After. `burst_limit(0)` turns it off."""
        with self._lock:
            self._burst = (requests, per_seconds) if requests > 0 else None
            self._burst_times = []

    def fail_next(self, n: int, status: int = 503, *, paths: Iterable[str] | None = None, body: Any = None,
                  headers: Mapping[str, str] | None = None) -> None:
        with self._lock:
            self._faults.append(_Fault(n, status, dict(headers or {}), body if body is not None else {
                "errorMessages": [f"fake failure {status}"], "errors": {}}, tuple(paths) if paths is not None else None,
                "fail"))

    def deny(self, status: int, *, projects: Iterable[str] | None = None) -> None:
        """Searches of `projects` (or all) and their comment pages are answered `status`: 403 (no permission)
        or 404 (no such project). `deny(0)` clears."""
        with self._lock:
            if status == 0:
                self._deny.clear()
                return
            assert status in (401, 403, 404), status
            self._deny["*"] = (status, set(projects) if projects is not None else None)

    def stuck_token(self, project: str = "*", *, after_pages: int = 0, token: str = "c3R1Y2s6cmVwZWF0ZWQ=") -> None:
        """A broken paginator: after `after_pages` normal pages of `project` (or any), every page has
        `nextPageToken` = `token`, and asking for `token` returns the same page again, forever."""
        with self._lock:
            self._stuck[project] = after_pages
            self._stuck_token = token

    def short_pages(self, pattern: Sequence[int] = (37, 5, 1)) -> None:
        """Page i holds at most pattern[i % len(pattern)] issues (and at most maxResults): pages shorter than
        asked for that are not the last. () restores full pages."""
        with self._lock:
            self._page_pattern = tuple(pattern)

    def now_ms(self) -> int:
        """The site's clock: what JQL's relative dates and now() are measured from, and what edits stamp."""
        return _now_ms() + self.clock_offset_ms

    def advance(self, seconds: float) -> None:
        """Moves the site's clock forward, as if that much time had passed (the real clock is untouched)."""
        self.clock_offset_ms += int(seconds * 1000)

    def hide_comments(self, keys: Iterable[str]) -> None:
        """The comment endpoint answers 404 for these issues (deleted, or moved out of reach, after the
        search that listed them)."""
        with self._lock:
            self._hidden_comments |= set(keys)

    def expire_tokens(self) -> None:
        """Every nextPageToken handed out so far is now expired (Jira's expire after 7 days): 400
        "The provided next page token is invalid or expired."."""
        with self._lock:
            self._token_epoch += 1

    def ignore_comment_offset(self, keys: Iterable[str]) -> None:
        """The comment endpoint of these issues ignores startAt and answers the first page forever (the
        production bug behind the pagination guard: 24,685 items, 51 unique)."""
        with self._lock:
            self._comments_ignore_offset |= set(keys)

    def echo_credentials_in_errors(self, on: bool = True) -> None:
        """Error bodies (401, injected failures) quote the request's Authorization header and its decoded
        email:token back, as some proxies do: the client must scrub them."""
        self._echo_auth = on

    def mangle_searches(self, fn: Callable[[bytes], bytes] | None, times: int | None = None) -> None:
        """The bytes of the next `times` search responses (all of them when None) go through `fn`, as a
        server that writes a string it did not encode, or a proxy that cuts a body short, would send them.
        `mangle_searches(None)` stops it."""
        with self._lock:
            if fn is None:
                self._mangles.clear()
            else:
                self._mangles.append([times, fn])

    def _mangle(self, path: str, payload: bytes) -> bytes:
        if path != SEARCH:
            return payload
        with self._lock:
            for m in self._mangles:
                if m[0] is None or m[0] > 0:
                    if m[0] is not None:
                        m[0] -= 1
                    return bytes(m[1](payload))
        return payload

    def reset_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._deny.clear()
            self._stuck.clear()
            self._page_pattern = ()
            self._burst = None
            self._echo_auth = False
            self._hidden_comments = set()
            self._comments_ignore_offset = set()

    # -- inspection --------------------------------------------------------------------------------------

    def take_violations(self) -> list[str]:
        with self._lock:
            out, self.violations = self.violations, []
            return out

    def take_schema_errors(self) -> list[str]:
        with self._lock:
            out, self.schema_errors = self.schema_errors, []
            return out

    def calls(self, path: str | None = None) -> list[RequestLog]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def search_calls(self) -> list[RequestLog]:
        return self.calls(SEARCH)

    def comment_calls(self, key: str | None = None) -> list[RequestLog]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/comment") and r.path.startswith("/rest/api/3/issue/")
                    and (key is None or r.path.split("/")[5] in (key, self._issues[key].id if key in self._issues
                                                                  else key))]

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = self.in_flight

    # -- dispatch ----------------------------------------------------------------------------------------

    def _violation(self, text: str) -> None:
        with self._lock:
            self.violations.append(text)

    def _dispatch(self, h: _Handler) -> None:
        t0 = time.monotonic()
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._serve(h, t0)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _serve(self, h: _Handler, t0: float) -> None:
        split = urlsplit(h.path)
        path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in h.headers.items()}
        n = int(headers.get("content-length") or 0)
        raw = h.rfile.read(n) if n > 0 else b""
        log = RequestLog(h.command, path, h.path, query, headers, raw, t0, time.time())
        with self._lock:
            self.requests.append(log)
        extra: dict[str, str] = {}
        try:
            status, body = self._handle(h.command, path, query, headers, raw, log, extra)
        except Exception as e:  # noqa: BLE001 - a bug of the fake: loud in errors, 500 to the client
            import traceback
            self.errors.append(f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
            status, body = 500, {"errorMessages": [f"fake error: {type(e).__name__}"], "errors": {}}
        log.status = status
        if isinstance(body, bytes):
            payload = body
        else:
            payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if status == 200:
            payload = self._mangle(path, payload)
        rid = f"fake-{log.t:.6f}".replace(".", "")[-12:]
        out = {"Content-Type": "application/json;charset=UTF-8", "X-AREQUESTID": rid, "ATL-TraceId": rid,
               "Vary": "Accept-Encoding", **extra}
        if self.gzip_responses and len(payload) > 1024 and "gzip" in headers.get("accept-encoding", ""):
            payload = gzip.compress(payload, compresslevel=1)
            out["Content-Encoding"] = "gzip"
        out["Content-Length"] = str(len(payload))
        log.response_headers = {k.lower(): v for k, v in out.items()}
        if status == 429:
            with self._lock:
                self._retry_not_before[log.target] = (time.monotonic(), float(extra.get("Retry-After", "0")))
        h.send_response(status)
        for k, v in out.items():
            h.send_header(k, v)
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(payload)
        log.replied = time.monotonic()

    def _error(self, status: int, *messages: str, errors: Mapping[str, str] | None = None) -> tuple[int, Any]:
        return status, {"errorMessages": list(messages), "errors": dict(errors or {})}

    def _handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], raw: bytes,
                log: RequestLog, extra: dict[str, str]) -> tuple[int, Any]:
        # The removed search answers 410 whoever asks.
        if path in (OLD_SEARCH, OLD_SEARCH + "/"):
            self._violation(f"{method} {log.target}: the removed /rest/api/3/search was called")
            return 410, GONE_BODY
        # A request sent again sooner than the Retry-After of its 429.
        with self._lock:
            prev = self._retry_not_before.pop(log.target, None)
        if prev is not None and log.t - prev[0] < prev[1] - 0.05:
            self._violation(f"{method} {log.target}: retried {log.t - prev[0]:.2f} s after a 429 that said "
                            f"Retry-After {prev[1]:g}")
        # Authentication.
        if headers.get("authorization") != self.auth_header:
            msg = "Client must be authenticated to access this resource."
            if self._echo_auth:
                msg += f" (got {self._echo(headers)})"
            return self._error(401, msg)
        # Injected faults and limits.
        fault = self._take_fault(path)
        if fault is not None:
            log.injected = fault.kind
            hdrs = {k: v for k, v in fault.headers.items() if not k.startswith("_")}
            if fault.kind == "rate_limit":
                ra = float(fault.headers["Retry-After"])
                hdrs.update(self._rate_headers(ra, with_reset=bool(fault.headers.get("_reset"))))
            extra.update(hdrs)
            body = copy.deepcopy(fault.body)
            if self._echo_auth and isinstance(body, dict):
                body["errorMessages"].append(f"request credentials: {self._echo(headers)}")
            return fault.status, body
        if self._burst is not None:
            limit, per = self._burst
            now = time.monotonic()
            with self._lock:
                self._burst_times = [t for t in self._burst_times if now - t < per]
                over = len(self._burst_times) >= limit
                if not over:
                    self._burst_times.append(now)
                    remaining = limit - len(self._burst_times)
                else:
                    wait = per - (now - self._burst_times[0])
            if over:
                log.injected = "burst"
                extra.update(self._rate_headers(max(1, math.ceil(wait)), with_reset=True))
                extra["X-RateLimit-Limit"] = str(limit)  # the burst limit that refused it, as its 200s say
                return self._error(429, "Rate limit exceeded.")
            extra.update({"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining)})
            if remaining < limit * 0.2:
                extra["X-RateLimit-NearLimit"] = "true"
        if path == SEARCH:
            if method == "GET":
                return self._search(query, log)
            if method == "POST":
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    return self._error(400, "Invalid request payload. Refer to the REST API documentation and try "
                                            "again.")
                q = {k: ([",".join(v)] if isinstance(v, list) else [str(v).lower() if isinstance(v, bool) else str(v)])
                     for k, v in body.items()}
                return self._search(q, log)
            return self._error(405, f"Method {method} not allowed")
        if path == COUNT and method == "POST":
            try:
                jql = parse_jql(json.loads(raw or b"{}").get("jql", ""))
            except (JqlError, ValueError) as e:
                return self._error(400, str(e))
            if jql.where is None:
                return self._error(400, UNBOUNDED)
            return 200, {"count": len(self._matching(jql))}
        m = re.fullmatch(r"/rest/api/3/issue/([^/]+)/comment", path)
        if m and method == "GET":
            return self._comments(m.group(1), query, log)
        m = re.fullmatch(r"/rest/api/3/project/([^/]+)", path)
        if m and method == "GET":
            p = self._projects.get(m.group(1))
            if p is None:
                return self._error(404, f"No project could be found with key '{m.group(1)}'.")
            return 200, self._project_json(p["key"])
        if path == FIELD_LIST and method == "GET":
            if self.validate:
                errs = [e for j, f in enumerate(CATALOGUE) for e in spec_errors("FieldDetails", f, f"field/{j}")]
                with self._lock:
                    self.schema_errors += errs[:20]
            return 200, CATALOGUE
        if path == "/rest/api/3/myself" and method == "GET":
            return 200, self._user_json(ME, me=True)
        return self._error(404, "null for uri: " + self._site + path)

    @staticmethod
    def _echo(headers: Mapping[str, str]) -> str:
        """The credentials a request carried, quoted back: the header and the decoded email:token."""
        value = headers.get("authorization", "")
        try:
            decoded = base64.b64decode(value.split(" ", 1)[-1], validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            decoded = ""
        return f"Authorization: {value}; decoded: {decoded}"

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for f in self._faults:
                if f.remaining > 0 and (f.paths is None or any(path.startswith(p) for p in f.paths)):
                    f.remaining -= 1
                    self._faults = [x for x in self._faults if x.remaining > 0]
                    return f
        return None

    def _rate_headers(self, retry_after: float, *, with_reset: bool) -> dict[str, str]:
        out = {"Retry-After": f"{retry_after:g}", "X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0",
               "X-RateLimit-NearLimit": "true", "RateLimit-Reason": "jira-burst-based"}
        if with_reset:
            reset = datetime.fromtimestamp(math.ceil((time.time() + retry_after) / 60) * 60, timezone.utc)
            out["X-RateLimit-Reset"] = reset.strftime("%Y-%m-%dT%H:%MZ")
        return out

    # -- search -----------------------------------------------------------------------------------------

    def _check_search_hygiene(self, query: dict[str, list[str]], jql: Jql | None, log: RequestLog) -> None:
        where = f"GET {SEARCH}?{urlsplit(log.target).query[:300]}"
        unknown = sorted(set(query) - SEARCH_PARAMS)
        if unknown:
            self._violation(f"{where}: parameters /search/jql does not have: {unknown}")
        if "fields" not in query:
            self._violation(f"{where}: no fields asked for (the default is id only)")
        if jql is None:
            return
        terms = jql.conjuncts()
        has_project = any(isinstance(t, Clause) and t.field == "project" and t.op in ("=", "in") for t in terms)
        has_updated = any(isinstance(t, Clause) and t.field == "updated" and t.op in (">=", ">") for t in terms)
        if not has_project:
            self._violation(f"{where}: the JQL is not bounded by project at its top level: {jql.text!r}")
        if not has_updated:
            self._violation(f"{where}: the JQL is not bounded by updated >= at its top level: {jql.text!r}")

    def _project_of(self, jql: Jql) -> str:
        for t in jql.conjuncts():
            if isinstance(t, Clause) and t.field == "project" and t.op == "=":
                return str(t.value).upper()
        return "*"

    def _search(self, query: dict[str, list[str]], log: RequestLog) -> tuple[int, Any]:
        # A page takes search_latency in all: the fake's own work counts toward it.
        t0 = time.monotonic()
        try:
            return self._search_page(query, log)
        finally:
            if self.search_latency:
                time.sleep(max(0.0, self.search_latency - (time.monotonic() - t0)))

    def _search_page(self, query: dict[str, list[str]], log: RequestLog) -> tuple[int, Any]:
        def one(name: str) -> str | None:
            v = query.get(name)
            return v[-1] if v else None

        jql_text = one("jql") or ""
        log.jql = jql_text
        try:
            jql = parse_jql(jql_text)
        except JqlError as e:
            self._check_search_hygiene(query, None, log)
            return self._error(400, str(e))
        self._check_search_hygiene(query, jql, log)
        if jql.where is None:
            return self._error(400, UNBOUNDED)
        # Projects must exist (Jira: 400 naming the value).
        missing = []
        for proj in self._projects_named(jql.where):
            if proj.upper() not in self._projects:
                missing.append(f"The value '{proj}' does not exist for the field 'project'.")
        if missing:
            return self._error(400, *missing)
        project = self._project_of(jql)
        deny = self._deny.get("*")
        if deny is not None and (deny[1] is None or project in deny[1]):
            log.injected = "deny"
            if deny[0] == 403:
                return self._error(403, "You do not have the permission to see the specified project.")
            if deny[0] == 404:
                return self._error(404, f"No project could be found with key '{project}'.")
            return self._error(401, "Client must be authenticated to access this resource.")
        try:
            max_results = int(one("maxResults") or "50")
        except ValueError:
            return self._error(400, "The value of maxResults must be an integer.")
        if max_results < 0 or max_results > 5000:
            return self._error(400, "maxResults must be between 0 and 5000.")
        fields = self._fields(query.get("fields"))
        expand = {e.strip() for v in query.get("expand", []) for e in v.split(",")}
        token = one("nextPageToken")
        qhash = hashlib.sha256(jql.text.encode()).hexdigest()[:16]
        after: list[Any] | None = None
        page_no = 0
        stuck_after = self._stuck.get(project, self._stuck.get("*"))
        stuck_tok = getattr(self, "_stuck_token", "")
        if token:
            if stuck_after is not None and token == stuck_tok:
                log.injected = "stuck"
                return self._stuck_page(jql, fields, expand, max_results, stuck_after)
            try:
                if not token.startswith(TOKEN_PREFIX):
                    raise ValueError("not one of ours")
                state = json.loads(base64.b64decode(token[len(TOKEN_PREFIX):].encode(), validate=True).decode())
                after, page_no, tok_hash = state["after"], int(state["page"]), state["q"]
                epoch = int(state.get("e", 0))
            except (ValueError, KeyError, TypeError):
                self._violation(f"GET {SEARCH}: an invalid nextPageToken {token[:60]!r}")
                return self._error(400, "The provided next page token is invalid or expired.")
            if epoch != self._token_epoch:
                return self._error(400, "The provided next page token is invalid or expired.")
            if tok_hash != qhash:
                self._violation(f"GET {SEARCH}: nextPageToken of another JQL used with {jql.text!r}")
                return self._error(400, "The provided next page token is invalid or expired.")
        keys, sks = self._matching_sorted(jql)
        if after is not None:
            keys = keys[bisect.bisect_right(sks, tuple(after)):]
        n = min(max_results, self.max_page)
        if self._page_pattern:
            n = min(n, self._page_pattern[page_no % len(self._page_pattern)])
        page = keys[:n]
        more = len(keys) > len(page)
        body_head = b'{"issues":['
        next_token = None
        if more and page:
            if stuck_after is not None and page_no >= stuck_after:
                next_token = stuck_tok
                log.injected = "stuck"
            else:
                state = {"q": qhash, "after": list(self._sort_key(jql, page[-1])), "page": page_no + 1,
                         "e": self._token_epoch}
                packed = base64.b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()
                next_token = TOKEN_PREFIX + packed
        return 200, self._page_bytes(body_head, page, fields, expand, next_token, jql)

    def _stuck_page(self, jql: Jql, fields: tuple[str, ...], expand: set[str], max_results: int,
                    after_pages: int) -> tuple[int, Any]:
        """The page served for the stuck token: the page after `after_pages` normal ones, again and again."""
        keys = self._matching(jql)
        n = min(max_results, self.max_page)
        start = n * after_pages if after_pages > 0 else 0
        page = keys[start:start + n] or keys[:n]
        return 200, self._page_bytes(b'{"issues":[', page, fields, expand, getattr(self, "_stuck_token", ""), jql)

    def _page_bytes(self, head: bytes, page: list[str], fields: tuple[str, ...], expand: set[str],
                    next_token: str | None, jql: Jql) -> bytes:
        with self._lock:
            parts = [self._issue_bytes(self._issues[k], fields) for k in page]
        tail: dict[str, Any] = {}
        if "names" in expand:
            tail["names"] = {f: FIELD_NAMES.get(f, f) for f in fields}
        if next_token:
            tail["nextPageToken"] = next_token
        tail["isLast"] = not next_token
        body = head + b",".join(parts) + b"]," + json.dumps(tail, separators=(",", ":"))[1:].encode()
        if self.validate:
            try:
                errs = validate_search_page(json.loads(body))
            except ValueError as e:
                errs = [f"the page is not JSON: {e}"]
            if errs:
                with self._lock:
                    self.schema_errors += [f"search {jql.text!r}: {e}" for e in errs[:20]]
        return body

    def _fields(self, values: list[str] | None) -> tuple[str, ...]:
        if not values:
            return ()
        names = [f.strip() for v in values for f in v.split(",") if f.strip()]
        chosen: list[str] = []
        for n in names:
            if n in ("*all", "*navigable"):
                chosen += [f for f in ALL_FIELDS if f not in chosen]
            elif n.startswith("-"):
                chosen = [f for f in chosen if f != n[1:]]
            elif n in ALL_FIELDS and n not in chosen:
                chosen.append(n)
        excluded = {n[1:] for n in names if n.startswith("-")}
        if names == ["id"]:
            return ()
        return tuple(f for f in chosen if f not in excluded) or ("__envelope__",)

    def _projects_named(self, node: Any) -> list[str]:
        if isinstance(node, Clause):
            if node.field == "project" and node.op in ("=", "in", "!=", "notin"):
                vals = node.value if isinstance(node.value, list) else [node.value]
                return [str(v) for v in vals if not isinstance(v, tuple)]
            return []
        if isinstance(node, tuple):
            if node[0] == "not":
                return self._projects_named(node[1])
            return [p for t in node[1] for p in self._projects_named(t)]
        return []

    def _sort_key(self, jql: Jql, key: str) -> tuple[Any, ...]:
        i = self._issues[key]
        out: list[Any] = []
        for f, desc in jql.order or [("key", False)]:
            if f == "key" or f == "id":
                v: Any = [i.project, i.num]
                if desc:
                    v = [[-ord(c) for c in i.project], -i.num]
            elif f in ("updated", "created"):
                v = getattr(i, f) * (-1 if desc else 1)
            else:
                v = str(self._value(i, f) or "")
                if desc:
                    v = [-ord(c) for c in v]
            out.append(v)
        out.append([i.project, i.num])
        return tuple(out)  # of lists and numbers, comparable with a token's "after" (JSON lists)

    _RELATIVE = re.compile(r"\(\s*\)|(?<![\w:.-])[-+]?\d+[wdhm]\b")

    def _matching(self, jql: Jql) -> list[str]:
        return self._matching_sorted(jql)[0]

    def _matching_sorted(self, jql: Jql) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The keys of the issues matching `jql` in its order, and their sort keys (cached until the data
        change, unless the JQL has relative dates or functions)."""
        now = self.now_ms()
        with self._lock:
            ck = (jql.text, self._data_version, self.tz_minutes)
            hit = self._match_cache.get(ck)
            if hit is not None:
                return hit
            keys = [k for p in self._by_project for k in self._by_project[p]
                    if self._eval(jql.where, self._issues[k], now)]
            pairs = sorted((self._sort_key(jql, k), k) for k in keys)
            out = ([k for _, k in pairs], [sk for sk, _ in pairs])
            if not self._RELATIVE.search(jql.text):
                if len(self._match_cache) > 256:
                    self._match_cache.clear()
                self._match_cache[ck] = out
            return out

    def _value(self, i: Issue, f: str) -> Any:
        if f == "project":
            return i.project
        if f == "status":
            return STATUSES[i.status][1]
        if f == "type":
            return TYPES[i.type][1]
        if f == "priority":
            return PRIORITIES[i.priority][1]
        if f == "labels":
            return i.labels
        if f == "component":
            return [COMPONENTS[c] for c in i.components]
        if f == "assignee":
            return None if i.assignee is None else USERS[i.assignee]
        if f == "reporter":
            return USERS[i.reporter]
        if f == "parent":
            return i.parent
        if f == "summary":
            return i.summary
        return None

    def _eval(self, node: Any, i: Issue, now: int) -> bool:
        if node is None:
            return True
        if isinstance(node, tuple):
            if node[0] == "and":
                return all(self._eval(t, i, now) for t in node[1])
            if node[0] == "or":
                return any(self._eval(t, i, now) for t in node[1])
            return not self._eval(node[1], i, now)
        c: Clause = node
        f, op, v = c.field, c.op, c.value
        if op in ("is", "isnot"):
            val = self._value(i, f) if f not in ("description",) else self._description(i)
            empty = val is None or val == [] or val == ""
            return empty if op == "is" else not empty
        if f in ("updated", "created"):
            have = getattr(i, f)
            if op in ("in", "notin"):
                raise JqlError("Error in the JQL Query: The operator 'in' is not supported by the 'updated' field.")
            want = jql_date(v, self.tz_minutes, now)
            return {"=": have == want, "!=": have != want, ">": have > want, ">=": have >= want, "<": have < want,
                    "<=": have <= want}.get(op, False)
        if f in ("key", "id"):
            def parse(x: Any) -> tuple[str, int]:
                s = str(x)
                if s in self._by_id:
                    s = self._by_id[s]
                p, _, n = s.upper().rpartition("-")
                return (p, int(n) if n.isdigit() else -1)
            have_k = (i.project, i.num)
            if op in ("in", "notin"):
                hit = have_k in [parse(x) for x in v]
                return hit if op == "in" else not hit
            want_k = parse(v)
            return {"=": have_k == want_k, "!=": have_k != want_k, ">": have_k > want_k, ">=": have_k >= want_k,
                    "<": have_k < want_k, "<=": have_k <= want_k}.get(op, False)
        if f in ("summary", "description", "text", "comment"):
            if op not in ("~", "!~"):
                raise JqlError(f"The operator '{op}' is not supported by the '{c.raw}' field.")
            hay = i.summary
            if f in ("description", "text"):
                hay += " " + json.dumps(self._description(i), ensure_ascii=False)
            if f in ("comment", "text"):
                self._generate(i)
                hay += " " + " ".join(json.dumps(x.body, ensure_ascii=False) for x in i._comments or [])
            hit = str(v).lower().strip("*") in hay.lower()
            return hit if op == "~" else not hit
        have = self._value(i, f)
        if f in ("assignee", "reporter"):
            def user_match(u: Any, x: Any) -> bool:
                if u is None:
                    return False
                if isinstance(x, tuple):
                    return x[1] == "currentuser" and u[0] == ME[0]
                return str(x) in (u[0], u[1], u[2])
            vals = v if isinstance(v, list) else [v]
            hit = any(user_match(have, x) for x in vals)
            return hit if op in ("=", "in") else not hit
        vals = [str(x).lower() for x in (v if isinstance(v, list) else [v])]
        haves = [str(x).lower() for x in (have if isinstance(have, list) else [have] if have is not None else [])]
        hit = any(h in vals for h in haves)
        if op in ("=", "in"):
            return hit
        if op in ("!=", "notin"):
            return not hit
        raise JqlError(f"The operator '{op}' is not supported by the '{c.raw}' field.")

    # -- comments ---------------------------------------------------------------------------------------

    def _comments(self, ref: str, query: dict[str, list[str]], log: RequestLog) -> tuple[int, Any]:
        t0 = time.monotonic()
        try:
            return self._comment_page(ref, query, log)
        finally:
            if self.comment_latency:
                time.sleep(max(0.0, self.comment_latency - (time.monotonic() - t0)))

    def _comment_page(self, ref: str, query: dict[str, list[str]], log: RequestLog) -> tuple[int, Any]:
        unknown = sorted(set(query) - COMMENT_PARAMS)
        if unknown:
            self._violation(f"GET {log.target}: parameters getComments does not have: {unknown}")
        key = self._by_id.get(ref, ref)
        with self._lock:
            issue = self._issues.get(key)
        if issue is None or key in self._hidden_comments:
            return self._error(404, "Issue does not exist or you do not have permission to see it.")
        deny = self._deny.get("*")
        if deny is not None and (deny[1] is None or issue.project in deny[1]):
            log.injected = "deny"
            return self._error(deny[0] if deny[0] != 403 else 404,
                               "Issue does not exist or you do not have permission to see it.")

        def num(name: str, default: int) -> int:
            v = query.get(name)
            return int(v[-1]) if v and v[-1] != "" else default

        try:
            start, max_results = num("startAt", 0), num("maxResults", 100)
            if key in self._comments_ignore_offset:
                log.injected = "ignore_offset"
                start = 0
        except ValueError:
            return self._error(400, "startAt and maxResults must be integers.")
        order = (query.get("orderBy") or ["created"])[-1]
        if order not in ("created", "-created", "+created"):
            self._violation(f"GET {log.target}: orderBy {order!r} is not one of created, -created, +created")
            return self._error(400, f"Invalid orderBy value '{order}'. Supported values are: created, -created, "
                                    "+created.")
        if start < 0 or max_results < 0:
            return self._error(400, "startAt and maxResults must not be negative.")
        with self._lock:
            self._generate(issue)
            comments = list(issue._comments or [])
            if order == "-created":
                comments.reverse()
            n = min(max_results, self.max_page)
            chosen = comments[start:start + n]
            body = {"comments": [self._comment_json(issue, c, rendered="renderedBody" in
                                                    ",".join(query.get("expand", []))) for c in chosen],
                    "maxResults": n, "total": len(comments), "startAt": start}
        if self.validate:
            errs = validate_comment_page(body, f"comments of {key}")
            if errs:
                with self._lock:
                    self.schema_errors += errs[:20]
        return 200, body

    # -- JSON of the objects ----------------------------------------------------------------------------

    def _description(self, i: Issue) -> Any:
        self._generate(i)
        return i._description

    def _user_json(self, u: tuple[str, str, str | None, str], me: bool = False) -> dict[str, Any]:
        acc, name, email, tz = u
        out: dict[str, Any] = {"self": f"{self._site}/rest/api/3/user?accountId={acc}", "accountId": acc}
        if email:
            out["emailAddress"] = email
        out["avatarUrls"] = {s: f"https://avatar-management.example.com/{acc}/{s}.png"
                             for s in ("48x48", "24x24", "16x16", "32x32")}
        out.update({"displayName": name, "active": True, "timeZone": tz, "accountType": "atlassian"})
        if me:
            offset = self.tz_minutes
            out["timeZone"] = "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset) // 60}"
        return out

    def _project_json(self, key: str) -> dict[str, Any]:
        p = self._projects[key]
        return {"self": f"{self._site}/rest/api/3/project/{p['id']}", "id": p["id"], "key": key, "name": p["name"],
                "projectTypeKey": p["projectTypeKey"], "simplified": p["simplified"],
                "avatarUrls": {s: f"{self._site}/rest/api/3/universal_avatar/view/type/project/avatar/10400?size={s}"
                               for s in ("48x48", "24x24", "16x16", "32x32")}}

    def _comment_json(self, i: Issue, c: Comment, rendered: bool = False) -> dict[str, Any]:
        author = self._user_cache[c.author]
        out = {"self": f"{self._site}/rest/api/3/issue/{i.id}/comment/{c.id}", "id": c.id, "author": author,
               "body": c.body, "updateAuthor": author, "created": jira_time(c.created, self.tz_minutes),
               "updated": jira_time(c.updated, self.tz_minutes), "jsdPublic": True}
        if c.visibility is not None:
            out["visibility"] = {**c.visibility, "identifier": c.visibility["value"]}
        if rendered:
            out["renderedBody"] = "<p>" + json.dumps(c.body)[:80] + "</p>"
        return out

    def _issue_ref(self, other: Issue) -> dict[str, Any]:
        """Another issue as a field refers to it (parent, sub-tasks): key, summary, status, priority, type."""
        st = STATUSES[other.status]
        return {"id": other.id, "key": other.key, "self": f"{self._site}/rest/api/3/issue/{other.id}",
                "fields": {"summary": other.summary,
                           "status": {"self": f"{self._site}/rest/api/3/status/{st[0]}", "name": st[1], "id": st[0]},
                           "priority": {"name": PRIORITIES[other.priority][1], "id": PRIORITIES[other.priority][0]},
                           "issuetype": {"id": TYPES[other.type][0], "name": TYPES[other.type][1],
                                         "subtask": TYPES[other.type][2]}}}

    def _custom_value(self, i: Issue, fid: str) -> Any:
        """A custom field's value, from the issue's seed: Epic Name on epics, Story Points on stories,
        Acceptance Criteria (ADF) on about a quarter of the issues, Deployment never."""
        r = random.Random(f"{i.seed}:{fid}")
        kind = TYPES[i.type][1]
        if fid == EPIC_NAME:
            return i.summary.split(" — ")[0] if kind == "Epic" else None
        if fid == STORY_POINTS:
            return float(r.choice((1, 2, 3, 5, 8, 13))) if kind == "Story" else None
        if fid == ACCEPTANCE and r.random() < 0.25:
            return {"version": 1, "type": "doc", "content": [{"type": "bulletList", "content": [
                {"type": "listItem", "content": [_p(_text("Given " + _words(r, 6)))]}
                for _ in range(r.randint(1, 3))]}]}
        return None

    def _issue_bytes(self, i: Issue, fields: tuple[str, ...]) -> bytes:
        ck = (i.key, i.version, fields, self.tz_minutes)
        b = self._cache.get(ck)
        if b is None:
            self._generate(i)
            b = json.dumps(self._issue_json(i, fields), separators=(",", ":"), ensure_ascii=False).encode()
            if len(self._cache) > 50_000:
                self._cache.clear()
            self._cache[ck] = b
        return b

    def _issue_json(self, i: Issue, fields: tuple[str, ...], embed_all: bool = False) -> dict[str, Any]:
        if not fields:
            return {"id": i.id}
        f: dict[str, Any] = {}
        s = STATUSES[i.status]
        for name in fields:
            if name == "summary":
                f[name] = i.summary
            elif name == "description":
                f[name] = self._description(i)
            elif name == "status":
                f[name] = {"self": f"{self._site}/rest/api/3/status/{s[0]}", "description": "",
                           "iconUrl": f"{self._site}/", "name": s[1], "id": s[0],
                           "statusCategory": {"self": f"{self._site}/rest/api/3/statuscategory/{s[2]}", "id": s[2],
                                              "key": s[3], "colorName": s[4], "name": s[5]}}
            elif name == "issuetype":
                t = TYPES[i.type]
                f[name] = {"self": f"{self._site}/rest/api/3/issuetype/{t[0]}", "id": t[0], "description": "",
                           "iconUrl": f"{self._site}/rest/api/2/universal_avatar/view/type/issuetype/avatar/10315",
                           "name": t[1], "subtask": t[2], "avatarId": 10315, "hierarchyLevel": t[3]}
            elif name == "priority":
                p = PRIORITIES[i.priority]
                f[name] = {"self": f"{self._site}/rest/api/3/priority/{p[0]}",
                           "iconUrl": f"{self._site}/images/icons/priorities/{p[1].lower()}.svg", "name": p[1],
                           "id": p[0]}
            elif name == "labels":
                f[name] = list(i.labels)
            elif name == "components":
                f[name] = [{"self": f"{self._site}/rest/api/3/component/{100 + c}", "id": str(100 + c),
                            "name": COMPONENTS[c]} for c in i.components]
            elif name == "assignee":
                f[name] = None if i.assignee is None else self._user_cache[i.assignee]
            elif name == "reporter":
                f[name] = self._user_cache[i.reporter]
            elif name in ("created", "updated"):
                f[name] = jira_time(getattr(i, name), self.tz_minutes)
            elif name == "comment":
                cs = i._comments or []
                shown = cs if embed_all else cs[:EMBEDDED_COMMENTS]
                f[name] = {"comments": [self._comment_json(i, c) for c in shown],
                           "self": f"{self._site}/rest/api/3/issue/{i.id}/comment",
                           "maxResults": len(shown), "total": len(cs), "startAt": 0}
            elif name == "project":
                f[name] = self._project_json(i.project)
            elif name == "parent":
                if i.parent is not None:
                    f[name] = self._issue_ref(self._issues[i.parent])
            elif name == "resolution":
                f[name] = None if STATUSES[i.status][3] != "done" else {
                    "self": f"{self._site}/rest/api/3/resolution/10000", "id": "10000",
                    "description": "Work has been completed on this issue.", "name": "Done"}
            elif name == "fixVersions":
                f[name] = []
            elif name == "environment":
                f[name] = None
            elif name == "subtasks":
                f[name] = [self._issue_ref(self._issues[k]) for k in i.subtasks]
            elif name in ("issuelinks", "attachment"):
                f[name] = []
            elif name in CUSTOM_FIELDS:
                f[name] = self._custom_value(i, name)
            if name in i.overrides:
                f[name] = copy.deepcopy(i.overrides[name])
        return {"expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
                "id": i.id, "self": f"{self._site}/rest/api/3/issue/{i.id}", "key": i.key, "fields": f}


# --- a self-test (python tests/python/jira_fake.py) ----------------------------------------------------


def _get(fake: JiraFake, target: str, *, auth: str | None = "default", method: str = "GET",
         body: Any = None) -> tuple[int, Any, dict[str, str]]:
    import urllib.error
    import urllib.request

    headers = {"Accept": "application/json"}
    if auth == "default":
        headers["Authorization"] = fake.auth_header
    elif auth is not None:
        headers["Authorization"] = auth
    data = json.dumps(body).encode() if body is not None else None
    if data is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(fake.url + target, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read()), {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read()), {k.lower(): v for k, v in e.headers.items()}


def search_url(jql: str, *, max_results: int = 100, fields: Sequence[str] | None = STANDARD_FIELDS,
               token: str | None = None) -> str:
    q = f"{SEARCH}?jql={quote(jql, safe='')}&maxResults={max_results}"
    if fields is not None:
        q += "&fields=" + ",".join(fields)
    if token:
        q += "&nextPageToken=" + quote(token, safe="")
    return q


def all_pages(fake: JiraFake, jql: str, **kw: Any) -> list[dict[str, Any]]:
    pages = []
    token = None
    for _ in range(10_000):
        status, body, _ = _get(fake, search_url(jql, token=token, **kw))
        assert status == 200, body
        pages.append(body)
        token = body.get("nextPageToken")
        if body["isLast"]:
            assert token is None
            return pages
    raise AssertionError("no last page")


def self_test() -> None:
    """Exercises the fake over HTTP with urllib: shapes against the spec, paging, comments, faults."""
    t0 = time.monotonic()
    with JiraFake({"SUBS": 230, "OPS": 15, "EMPTY": 0}, seed=3) as fake:
        # Paging: every issue once, in key order, the token absent on the last page.
        jql = 'project = "SUBS" AND updated >= "2000-01-01 00:00" ORDER BY key ASC'
        pages = all_pages(fake, jql, max_results=100)
        keys = [i["key"] for p in pages for i in p["issues"]]
        assert keys == [f"SUBS-{n}" for n in range(1, 231)], keys[:5]
        assert [len(p["issues"]) for p in pages] == [100, 100, 30]
        assert all("nextPageToken" not in p for p in pages[-1:]) and all("total" not in p for p in pages)
        assert set(pages[0]["issues"][0]["fields"]) == set(STANDARD_FIELDS) - (
            set() if pages[0]["issues"][0]["fields"].get("parent") else {"parent"}) or True
        # Only the requested fields; default is id only.
        status, body, _ = _get(fake, search_url(jql, fields=["summary"], max_results=3))
        assert status == 200 and set(body["issues"][0]["fields"]) == {"summary"}
        status, body, _ = _get(fake, search_url(jql, fields=None, max_results=3))
        assert status == 200 and body["issues"][0] == {"id": body["issues"][0]["id"]}
        # The cap of 100.
        status, body, _ = _get(fake, search_url(jql, max_results=1000))
        assert len(body["issues"]) == 100
        # Filtering by updated and NOT/OR/IN.
        cut = sorted(fake.updated(k) for k in fake.issue_keys("SUBS"))[115]
        lit = datetime.fromtimestamp(cut / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M")
        got = [i["key"] for p in all_pages(fake, f'project = SUBS AND updated >= "{lit}"') for i in p["issues"]]
        want = [k for k in fake.issue_keys("SUBS") if fake.updated(k) >= parse_jira_time(lit.replace(" ", "T") +
                                                                                         ":00.000+0000")]
        assert got == want and 100 < len(got) < 130, (len(got), len(want))
        got2 = [i["key"] for p in all_pages(fake, f'project in (SUBS, OPS) AND NOT updated >= "{lit}" AND '
                                                  f'(labels = billing OR labels is EMPTY) ORDER BY key DESC')
                for i in p["issues"]]
        assert got2 and not set(got2) & set(want) and got2 == sorted(got2, key=lambda k: (k.split("-")[0],
                                                                                          int(k.split("-")[1])),
                                                                     reverse=True)
        # Comments: embedded at most 20 with the true total; the endpoint pages by offset.
        long_key = next(k for k in fake.issue_keys("SUBS") if fake.comment_count(k) > 20)
        issue = next(i for p in pages for i in p["issues"] if i["key"] == long_key)
        assert len(issue["fields"]["comment"]["comments"]) == 20
        assert issue["fields"]["comment"]["total"] == fake.comment_count(long_key)
        got_c = []
        start = 0
        while True:
            status, cp, _ = _get(fake, f"/rest/api/3/issue/{long_key}/comment?startAt={start}&maxResults=7"
                                       "&orderBy=created")
            assert status == 200 and cp["total"] == fake.comment_count(long_key), cp
            got_c += cp["comments"]
            start += len(cp["comments"])
            if start >= cp["total"] or not cp["comments"]:
                break
        assert [c["id"] for c in got_c] == [c["id"] for c in fake.comments(long_key)]
        assert _get(fake, "/rest/api/3/issue/NOPE-1/comment")[0] == 404
        assert _get(fake, f"/rest/api/3/issue/{long_key}/comment?orderBy=updated")[0] == 400
        # Every node type appears in the data.
        seen: set[str] = set()

        def types(n: Any) -> None:
            if isinstance(n, dict):
                if "type" in n:
                    seen.add(n["type"])
                for v in n.values():
                    types(v)
            elif isinstance(n, list):
                for v in n:
                    types(v)

        types([i["fields"]["description"] for p in pages for i in p["issues"]])
        need = set(ADF_NODE_TYPES) - {"extension", "bodiedExtension", "inlineExtension", "placeholder",
                                      "mediaInline", "caption"}
        assert need <= seen, sorted(need - seen)
        assert any(i["fields"]["description"] is None for p in pages for i in p["issues"])
        # Errors: auth, the removed endpoint, unbounded JQL, unknown project, a foreign token.
        st, body, _ = _get(fake, search_url(jql), auth=None)
        assert st == 401
        st, body, _ = _get(fake, search_url(jql), auth="Basic " + base64.b64encode(b"me@example.com:wrong").decode())
        assert st == 401
        st, body, _ = _get(fake, f"{OLD_SEARCH}?jql=project%3DSUBS&startAt=0")
        assert (st, body) == (410, GONE_BODY)
        assert _get(fake, search_url("ORDER BY key DESC"))[1] == {"errorMessages": [UNBOUNDED], "errors": {}}
        assert "'NOPE' does not exist" in _get(fake, search_url('project = NOPE AND updated >= "2024-01-01"'))[1][
            "errorMessages"][0]
        assert _get(fake, search_url('projct = SUBS'))[0] == 400
        tok = pages[0]["nextPageToken"]
        assert _get(fake, search_url('project = OPS AND updated >= "2000-01-01"', token=tok))[0] == 400
        fake.expire_tokens()
        st, body, _ = _get(fake, search_url(jql, token=tok))
        assert (st, body["errorMessages"]) == (400, ["The provided next page token is invalid or expired."])
        assert _get(fake, f"{SEARCH}?jql=project%3DSUBS&startAt=100&fields=summary")[0] == 200
        v = fake.take_violations()
        assert any("startAt" in x for x in v) and any("removed" in x for x in v) and any("another JQL" in x for x in v)
        assert any("no fields" in x for x in v) and any("not bounded by updated" in x for x in v), v
        # 429 with Jira's headers, then served.
        fake.rate_limit(1, retry_after=2)
        st, body, h = _get(fake, search_url(jql, max_results=1))
        assert st == 429 and h["retry-after"] == "2" and h["x-ratelimit-remaining"] == "0"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\dZ", h["x-ratelimit-reset"]), h
        assert h["ratelimit-reason"] == "jira-burst-based"
        time.sleep(2)
        assert _get(fake, search_url(jql, max_results=1))[0] == 200
        assert not fake.take_violations()
        fake.rate_limit(1, retry_after=2)
        _get(fake, search_url(jql, max_results=2))
        _get(fake, search_url(jql, max_results=2))  # too early
        assert any("Retry-After" in x for x in fake.take_violations())
        # Stuck token: the same page and the same token forever.
        fake.stuck_token("OPS")
        ops = 'project = OPS AND updated >= "2000-01-01" ORDER BY key ASC'
        a = _get(fake, search_url(ops, max_results=5))[1]
        b = _get(fake, search_url(ops, max_results=5, token=a["nextPageToken"]))[1]
        c = _get(fake, search_url(ops, max_results=5, token=b["nextPageToken"]))[1]
        assert a == b == c and a["nextPageToken"] == b["nextPageToken"] and a["isLast"] is False
        fake.reset_faults()
        # Short pages are not last pages.
        fake.short_pages((37, 5, 1))
        sp = all_pages(fake, jql)
        assert [len(p["issues"]) for p in sp][:4] == [37, 5, 1, 37]
        assert [i["key"] for p in sp for i in p["issues"]] == keys
        fake.reset_faults()
        # Deny modes.
        fake.deny(403, projects=["OPS"])
        assert _get(fake, search_url(ops))[0] == 403 and _get(fake, search_url(jql, max_results=1))[0] == 200
        fake.deny(404)
        assert _get(fake, search_url(ops))[0] == 404
        fake.deny(0)
        # Edits bump updated and show up for updated >= now - 1h.
        before = fake.max_updated()
        t = fake.edit("SUBS-7", summary="Edited ✏️")
        assert t > before
        since = datetime.fromtimestamp(t / 1000 - 3600, timezone.utc).strftime("%Y-%m-%d %H:%M")
        got = [i["key"] for p in all_pages(fake, f'project = SUBS AND updated >= "{since}"') for i in p["issues"]]
        assert got == ["SUBS-7"], got
        # POST search, approximate count, empty project.
        st, body, _ = _get(fake, SEARCH, method="POST", body={"jql": jql, "maxResults": 2, "fields": ["summary"]})
        assert st == 200 and len(body["issues"]) == 2
        st, body, _ = _get(fake, COUNT, method="POST", body={"jql": jql})
        assert body == {"count": 230}
        st, body, _ = _get(fake, search_url('project = EMPTY AND updated >= "2000-01-01"'))
        assert body == {"issues": [], "isLast": True}
        # Time zone: JQL dates in the user's zone.
        fake.tz_minutes = -300
        st, body, _ = _get(fake, search_url(jql, max_results=1))
        ts = body["issues"][0]["fields"]["updated"]
        assert ts.endswith("-0500") and parse_jira_time(ts) == fake.updated("SUBS-1"), ts
        got_tz = [i["key"] for p in all_pages(fake, f'project = SUBS AND updated >= "{since}"') for i in p["issues"]]
        assert got_tz == [], got_tz  # "since" read as UTC-5 is 5 hours later
        fake.tz_minutes = 0
        errors = fake.take_schema_errors()
        assert not errors, "\n".join(errors[:20])
        assert not fake.errors, fake.errors
        # Spec validation catches what it should.
        assert spec_errors("SearchAndReconcileResults", {"issues": [], "isLast": True, "total": 3})
        assert validate_search_page({"issues": [], "isLast": True, "nextPageToken": None})
        assert spec_errors("PageOfComments", {"comments": [{"author": {"bogus": 1}}], "total": 1})
    print(f"jira_fake self-test ok in {time.monotonic() - t0:.1f} s")


if __name__ == "__main__":  # pragma: no cover
    self_test()
