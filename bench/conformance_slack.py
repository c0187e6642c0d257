"""Conformance of the Slack export source on a real export: what a reader sees in Slack against what
backfill indexes.

The corpus is ``<real>/slack/*.expect.json`` next to the export it describes (``../shared/fixtures/real``
from the repository; see its SOURCES.md). Each expectation names one document (a thread or a lone
message) with the visible words a reader sees, and checks (``equals`` on a field, ``regex``,
``contains``, ``absent`` on the text), each with a severity; the inventory gives the messages of each
document.

The export runs as a zip (as Slack's export tool writes it) through the public API: a ``Pipeline``
with ``SlackExport``, the hash embedder and a ``PythonSink`` that keeps what it is given, then each
document's text is put back together from its chunks (one chunk a document: chunks of 8,000 tokens
without overlap).

Verdict of a case, the worst that applies:

- **crash**: the run raised; every case is a crash, with the error.
- **major**: the document is missing; it holds fewer messages than expected; three or more of its
  visible words are lost (a sentence's worth); or a check of severity major fails (e.g. a file URL's
  token reaches the text).
- **minor**: one or two visible words lost; more messages than expected; or a check of severity minor
  fails (permalink, UTC time, author label, a snippet's preview line).
- **pass**: none of the above.

Words are compared as multisets of lower-cased runs of letters and digits (``_`` separates words, as
the expectations tokenize them): a word counts as lost when the text holds it fewer times than the
reader sees it.

Run alone: ``python bench/conformance_slack.py [--real PATH]`` prints a row per case and the totals.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_REAL = ROOT.parent / "shared" / "fixtures" / "real"

VERDICTS = ("pass", "minor", "major", "crash")
_RANK = {v: i for i, v in enumerate(VERDICTS)}
_WORD = re.compile(r"[^\W_]+")
MAJOR_WORDS = 3  # lost visible words from which a loss is major


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _zip_folder(folder: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(folder).as_posix())
    return out


def index_export(export: Path, workspace_url: str, workdir: Path) -> dict[str, dict[str, Any]]:
    """Fetches and ingests `export` through the public API; document id -> {"text", "metadata"}."""
    import backfill

    store: dict[str, dict[str, Any]] = {}

    def upsert(records: list[dict[str, Any]]) -> int:
        for r in records:
            store[r["id"]] = r
        return len(records)

    def fetch(ids: list[str]) -> dict[str, Any]:
        return {i: store[i] for i in ids if i in store}

    def delete(ids: list[str]) -> None:
        for i in ids:
            store.pop(i, None)

    def list_ids(prefix: str, after: str, limit: int) -> list[str]:
        return sorted(i for i in store if i.startswith(prefix) and i > after)[:limit]

    sink = backfill.PythonSink(upsert=upsert, fetch=fetch, delete=delete, list=list_ids,
                               stats=lambda: len(store), name="conformance")
    pipeline = backfill.Pipeline(
        backfill.SlackExport(export, workspace_url=workspace_url),
        backfill.HashEmbedder(dimension=64),
        sink,
        chunking=backfill.Chunking(target_tokens=8000, overlap_tokens=0, max_tokens=8000),
        name="conformance-slack",
        workdir=workdir,
        progress="none",
    )
    pipeline.fetch_and_ingest()

    chunks: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for record in store.values():
        meta = record["metadata"]
        chunks.setdefault(meta["doc_id"], []).append((int(meta.get("chunk", 0)), meta))
    docs: dict[str, dict[str, Any]] = {}
    for doc_id, parts in chunks.items():
        parts.sort(key=lambda p: p[0])
        docs[doc_id] = {"text": "\n".join(str(m.get("text", "")) for _, m in parts), "metadata": parts[0][1]}
    return docs


def _messages(meta: dict[str, Any]) -> int:
    return int(meta.get("reply_count", 0)) + (0 if meta.get("parent_missing") else 1)


def _check(check: dict[str, Any], text: str, meta: dict[str, Any]) -> str | None:
    """Why `check` fails, or None when it holds."""
    if "field" in check:
        got = meta.get(check["field"])
        return None if got == check["equals"] else f"{check['field']} is {got!r}, not {check['equals']!r}"
    if "regex" in check:
        return None if re.search(check["regex"], text) else f"no match for /{check['regex']}/"
    if "contains" in check:
        return None if check["contains"] in text else f"lacks {check['contains']!r}"
    if "absent" in check:
        return None if check["absent"] not in text else f"holds {check['absent']!r}"
    return f"unknown check {sorted(check)}"


def judge(expect: dict[str, Any], messages: int | None, doc: dict[str, Any] | None) -> tuple[str, str]:
    """(verdict, reason) of one expected document against the indexed one (None: missing)."""
    if doc is None:
        return "major", "document missing"
    text, meta = doc["text"], doc["metadata"]
    found: list[tuple[str, str]] = []
    if messages is not None:
        got = _messages(meta)
        if got < messages:
            found.append(("major", f"{got} of {messages} messages"))
        elif got > messages:
            found.append(("minor", f"{got} messages, {messages} expected"))
    lost = Counter(expect.get("words", [])) - Counter(words(text))
    n_lost = sum(lost.values())
    if n_lost:
        sample = " ".join(sorted(lost)[:8])
        found.append(("major" if n_lost >= MAJOR_WORDS else "minor", f"{n_lost} visible words lost ({sample})"))
    for check in expect.get("checks", []):
        why = _check(check, text, meta)
        if why:
            found.append((check.get("sev", "major"), f"{why} ({check.get('why', '')})"))
    if not found:
        return "pass", ""
    worst = max(found, key=lambda f: _RANK[f[0]])[0]
    return worst, "; ".join(r for v, r in sorted(found, key=lambda f: -_RANK[f[0]]))


def run(real_root: Path) -> list[tuple[str, str, str]]:
    """One row (case id, verdict, reason) per expected document of every export under real_root/slack."""
    rows: list[tuple[str, str, str]] = []
    for spec_path in sorted((Path(real_root) / "slack").glob("*.expect.json")):
        spec = json.loads(spec_path.read_text())
        folder = spec_path.parent / spec["folder"]
        counts: dict[str, int] = spec.get("inventory", {}).get("messages_per_doc", {})
        cases = spec["expect"]
        with tempfile.TemporaryDirectory(prefix="conformance-slack-") as tmp:
            try:
                export = _zip_folder(folder, Path(tmp) / "export.zip") if spec.get("zip", True) else folder
                docs = index_export(export, spec.get("workspace_url", ""), Path(tmp) / "wd")
            except Exception as e:  # noqa: BLE001 - a crash is a verdict, with its reason
                rows += [(f"slack/{spec['folder']}/{c['doc']}", "crash", f"{type(e).__name__}: {e}") for c in cases]
                continue
        for case in cases:
            verdict, reason = judge(case, counts.get(case["doc"]), docs.get(case["doc"]))
            rows.append((f"slack/{spec['folder']}/{case['doc']}", verdict, reason))
    return rows


def totals(rows: list[tuple[str, str, str]]) -> dict[str, int]:
    t = {v: 0 for v in VERDICTS}
    for _, verdict, _ in rows:
        t[verdict] += 1
    return t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--real", type=Path, default=DEFAULT_REAL, help=f"the real-world corpus (default {DEFAULT_REAL})")
    ap.add_argument("--failures", action="store_true", help="print only the cases that did not pass")
    args = ap.parse_args(argv)
    if not (args.real / "slack").is_dir():
        print(f"no Slack corpus at {args.real / 'slack'}: pass --real PATH", file=sys.stderr)
        return 2
    rows = run(args.real)
    for case, verdict, reason in rows:
        if verdict != "pass" or not args.failures:
            print(f"{verdict:6} {case}  {reason}".rstrip())
    t = totals(rows)
    n = len(rows) or 1
    print(f"slack: {len(rows)} cases: " + ", ".join(f"{t[v]} {v}" for v in VERDICTS) +
          f" ({100 * t['minor'] / n:.1f} % minor)")
    return 0 if t["major"] == 0 and t["crash"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
