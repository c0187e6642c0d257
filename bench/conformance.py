#!/usr/bin/env python3
"""Fidelity scorecard: what a reader sees in Jira (and Slack) against the text backfill indexes.

Runs the real-world corpus in ``../shared/fixtures/real`` (see its SOURCES.md) through the normalizers:

- ``adf/``: every ADF document through ``_testing.adf_to_text``. Each case carries the ``words`` a reader
  sees and ``checks`` (contains / absent / regex / lines / isolated / any_of), each ``major`` or ``minor``.
- ``jira/``: every recorded page through ``_testing.normalize_jira_page``, as the Jira source journals it
  (``{"search": <page>, "comments": {KEY: [<comment pages>]}}``), and each expected document against its
  ``words`` and checks (the ones above, plus ``field``/``equals`` on the document and ``count``).
- ``slack/``: the rows of ``bench/conformance_slack.py`` (``run(real_root)``), when that module exists.

How a case is graded (the worst finding wins): a crash (the normalizer raised) is ``crash``; a failed
check has the check's severity; the reader's ``words`` are a multiset of lower-cased alphanumeric runs,
and the words missing from the text are a loss: ``major`` when more than a tenth of them (or more than
three) are missing, ``minor`` otherwise. A case with no finding passes.

    .venv/bin/python bench/conformance.py                    # scorecard of ../shared/fixtures/real
    .venv/bin/python bench/conformance.py --real PATH --json results.json

Prints one line per case that does not pass (corpus, case, verdict, reason), then the totals per corpus
and over all; exits 1 when a case is a major loss or a crash.
"""

from __future__ import annotations

import argparse
import collections
import importlib
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_REAL = ROOT.parent / "shared" / "fixtures" / "real"

VERDICTS = ("pass", "minor", "major", "crash")
RANK = {v: i for i, v in enumerate(VERDICTS)}
Row = tuple[str, str, str]  # (case id, verdict, reason)

# Readings the recorded Jira pages do not carry themselves, written down here: the field catalogue
# entries (GET /rest/api/3/field) of the sites the pages were recorded from, as the source journals
# them next to each search page. airbyteio.atlassian.net is a company-managed Jira Software site, where
# customfield_10011 is the Epic Name field (type com.pyxis.greenhopper.jira:gh-epic-label).
JIRA_CATALOGUES: dict[str, list[dict[str, Any]]] = {
    "airbyte-real-issue": [{"id": "customfield_10011", "name": "Epic Name",
                            "schema": {"type": "string", "custom": "com.pyxis.greenhopper.jira:gh-epic-label"}}],
}

# Checks of the corpus that no normalizer can meet as written, corrected here with the reason. The
# Jira spec's 2022 search example lists one attachment, picture.jpg; "debuglog.txt" is in none of the
# recorded pages these checks come with.
JIRA_CORRECTIONS: dict[tuple[str, str], str] = {
    ("atlassian-spec2022-search", "debuglog.txt"): "picture.jpg",
    ("atlassian-spec2025-issue", "debuglog.txt"): "picture.jpg",
}


def corrected(name: str, check: dict[str, Any]) -> dict[str, Any]:
    fix = JIRA_CORRECTIONS.get((name, check.get("contains", "")))
    return check if fix is None else {**check, "contains": fix, "why": check.get("why", "") + " [corrected: the page's file]"}


def words(text: str) -> list[str]:
    """The words of a text as the corpus counts them: lower-cased runs of letters and digits."""
    return re.findall(r"[^\W_]+", text.lower())


def word_loss(expected: list[str], text: str) -> tuple[str, str] | None:
    """(severity, reason) when words a reader sees are missing from `text`, else None."""
    if not expected:
        return None
    missing = collections.Counter(expected) - collections.Counter(words(text))
    lost = sum(missing.values())
    if not lost:
        return None
    sev = "major" if lost > 3 or lost * 10 > len(expected) else "minor"
    sample = ", ".join(sorted(missing)[:6])
    return sev, f"{lost} of {len(expected)} visible words missing ({sample})"


def _isolated(needle: str, text: str) -> bool:
    """`needle` occurs with no letter or digit glued to either side."""
    start = text.find(needle)
    while start >= 0:
        end = start + len(needle)
        before = text[start - 1] if start > 0 else " "
        after = text[end] if end < len(text) else " "
        if not before.isalnum() and not after.isalnum():
            return True
        start = text.find(needle, start + 1)
    return False


def _lines_kept(lines: list[str], text: str) -> bool:
    """Each of `lines` is a line of its own in `text` (surrounding space and table bars aside), in order."""
    got = [ln.strip(" |\t") for ln in text.split("\n")]
    pos = 0
    for want in lines:
        want = want.strip()
        while pos < len(got) and got[pos] != want and not got[pos].endswith(want):
            pos += 1
        if pos == len(got):
            return False
        pos += 1
    return True


def _field(doc: dict[str, Any], path: str) -> Any:
    obj: Any = doc
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def check_fails(check: dict[str, Any], text: str, doc: dict[str, Any] | None = None) -> bool:
    """Whether `text` (and the document, for field checks) fails one corpus check."""
    if "contains" in check:
        return check["contains"] not in text
    if "absent" in check:
        return check["absent"] in text
    if "any_of" in check:
        return not any(s in text for s in check["any_of"])
    if "regex" in check:  # a sign in the text, or in the metadata a query layer filters on
        metadata = json.dumps(doc.get("metadata", {}), ensure_ascii=False) if doc is not None else ""
        return re.search(check["regex"], text) is None and re.search(check["regex"], metadata) is None
    if "count" in check:
        return len(re.findall(check["count"], text)) != check["n"]
    if "lines" in check:
        return not _lines_kept(check["lines"], text)
    if "isolated" in check:
        return not _isolated(check["isolated"], text)
    if "field" in check:
        return doc is None or _field(doc, check["field"]) != check["equals"]
    raise ValueError(f"unknown check {sorted(check)}")


def _describe(check: dict[str, Any]) -> str:
    what = next((k for k in ("contains", "absent", "any_of", "regex", "count", "lines", "isolated", "field")
                 if k in check), "?")
    value = check[what]
    shown = json.dumps(value if what != "field" else f"{value} == {check['equals']!r}", ensure_ascii=False)
    shown = shown if len(shown) <= 70 else shown[:67] + "...\""
    why = check.get("why") or ""
    return f"{what} {shown}" + (f" ({why})" if why else "")


def grade(expected_words: list[str], checks: Iterable[dict[str, Any]], text: str,
          doc: dict[str, Any] | None = None) -> tuple[str, str]:
    """(verdict, reason) of one rendered case."""
    findings: list[tuple[str, str]] = []
    loss = word_loss(expected_words, text)
    if loss:
        findings.append(loss)
    for check in checks:
        if check_fails(check, text, doc):
            findings.append((check.get("sev", "major"), _describe(check)))
    if not findings:
        return "pass", ""
    findings.sort(key=lambda f: -RANK[f[0]])
    return findings[0][0], "; ".join(reason for _, reason in findings)


def run_adf(real: Path, adf_to_text: Callable[[str], str]) -> list[Row]:
    rows: list[Row] = []
    for path in sorted((real / "adf").glob("*.json")):
        case = json.loads(path.read_text())
        try:
            text = adf_to_text(json.dumps(case["adf"]))
        except Exception as exc:  # noqa: BLE001 - a crash is a verdict, not the end of the scorecard
            rows.append((case["id"], "crash", f"{type(exc).__name__}: {exc}"))
            continue
        rows.append((case["id"], *grade(case.get("words", []), case.get("checks", []), text)))
    return rows


def journal_page(case: dict[str, Any], name: str) -> str:
    """The recorded page as the Jira source journals it (with the site's field catalogue, if known)."""
    page: dict[str, Any] = {"search": case["page"], "comments": case.get("comment_pages") or {}}
    for prefix, catalogue in JIRA_CATALOGUES.items():
        if name.startswith(prefix):
            page["fields"] = catalogue
    return json.dumps(page)


def run_jira(real: Path, normalize: Callable[[str, str], list[dict[str, Any]]]) -> list[Row]:
    rows: list[Row] = []
    for path in sorted((real / "jira").glob("*.json")):
        case = json.loads(path.read_text())
        name = path.stem
        try:
            docs = {d["id"]: d for d in normalize(journal_page(case, name), case["site"])}
        except Exception as exc:  # noqa: BLE001
            rows.extend((f"{name}:{e['doc']}", "crash", f"{type(exc).__name__}: {exc}") for e in case["expect"])
            continue
        for expect in case["expect"]:
            doc = docs.get(expect["doc"])
            if doc is None:
                rows.append((f"{name}:{expect['doc']}", "major", "no document"))
                continue
            text = doc["title"] + "\n" + doc["text"]
            checks = [corrected(name, c) for c in expect.get("checks", [])]
            rows.append((f"{name}:{expect['doc']}", *grade(expect.get("words", []), checks, text, doc)))
    return rows


def run_slack(real: Path) -> list[Row] | None:
    """The Slack rows from bench/conformance_slack.py, or None when that module is not there."""
    if not (HERE / "conformance_slack.py").exists():
        return None
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    module = importlib.import_module("conformance_slack")
    return [(str(c), str(v), str(r)) for c, v, r in module.run(real)]


def scorecard(real: Path) -> dict[str, list[Row]]:
    """The rows of every corpus present under `real`, by corpus name."""
    from backfill._core import _testing

    corpora: dict[str, list[Row]] = {}
    if (real / "adf").is_dir():
        corpora["adf"] = run_adf(real, _testing.adf_to_text)
    if (real / "jira").is_dir():
        # As a reader allowed to see restricted comments reads the issue: the source configured with
        # include_restricted = true, which keeps them and marks them in the metadata.
        corpora["jira"] = run_jira(real, lambda page, site: _testing.normalize_jira_page(page, site, True))
    if (real / "slack").is_dir():
        slack = run_slack(real)
        if slack is not None:
            corpora["slack"] = slack
    return corpora


def totals(rows: list[Row]) -> dict[str, int]:
    counts = {v: 0 for v in VERDICTS}
    for _, verdict, _ in rows:
        counts[verdict] = counts.get(verdict, 0) + 1
    counts["cases"] = len(rows)
    return counts


def _line(name: str, t: dict[str, int]) -> str:
    pct = 100 * t["minor"] / t["cases"] if t["cases"] else 0.0
    return (f"{name}: {t['cases']} cases, {t['pass']} pass, {t['minor']} minor ({pct:.1f} %), "
            f"{t['major']} major, {t['crash']} crash")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--real", type=Path, default=DEFAULT_REAL, help="the corpus folder (default: %(default)s)")
    ap.add_argument("--json", type=Path, help="write the rows and totals to this file")
    args = ap.parse_args(argv)
    if not args.real.is_dir():
        print(f"conformance: no corpus at {args.real} (pass --real PATH)", file=sys.stderr)
        return 2

    corpora = scorecard(args.real)
    every: list[Row] = []
    for name, rows in corpora.items():
        print(f"== {name}")
        for case, verdict, reason in rows:
            if verdict != "pass":
                print(f"  {case}  {verdict}  {reason}")
        every += rows
    print()
    for name, rows in corpora.items():
        print(_line(name, totals(rows)))
    overall = totals(every)
    print(_line("total", overall))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "real": str(args.real),
            "totals": {name: totals(rows) for name, rows in corpora.items()} | {"total": overall},
            "cases": {name: [{"case": c, "verdict": v, "reason": r} for c, v, r in rows]
                      for name, rows in corpora.items()},
        }, indent=2, ensure_ascii=False) + "\n")
    return 1 if overall["major"] or overall["crash"] else 0


if __name__ == "__main__":
    sys.exit(main())
