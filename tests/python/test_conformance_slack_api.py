"""The Slack Web API source on the recorded workspace export of ../shared/fixtures/real/slack (see its
SOURCES.md): the export's users, channels and messages are served by the Slack fake as the Web API
serves them, and the API source's documents (text and metadata) must equal the export source's for the
same messages, every expected document among them. Skips when the corpus is not next to the
repository; its files are read in place, never copied into it."""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

import backfill
from backfill import Pipeline
from slack_api_fake import SlackApiFake

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT.parent / "shared" / "fixtures" / "real"
TOKEN = "xoxb-conformance-token"
SCALE = 500.0  # Slack's minutes last 0.12 s: the corpus is small, its pacing is not what is checked

pytestmark = pytest.mark.skipif(not (REAL / "slack").is_dir(), reason=f"no real-world corpus at {REAL}")

# Metadata that names the source that made a document (the export source is "slack_export"), and the
# provenance hashes that cover it.
SOURCE_FIELDS = {"source", "backfill_source", "backfill_doc_hash"}


def indexed(workdir: Path) -> dict[str, dict[str, Any]]:
    """Document id -> {"text", "metadata"} from the local index (chunks joined in order)."""
    parts: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    with sqlite3.connect(workdir / "index.sqlite") as db:
        for rid, meta in db.execute("SELECT id, metadata FROM vectors"):
            doc, n = rid.rsplit("#", 1)
            parts[doc].append((int(n), json.loads(meta)))
    out = {}
    for doc, chunks in parts.items():
        chunks.sort(key=lambda c: c[0])
        meta = {k: v for k, v in chunks[0][1].items() if k not in ("text", "chunk") and k not in SOURCE_FIELDS}
        out[doc] = {"text": "\n".join(str(m["text"]) for _, m in chunks), "metadata": meta}
    return out


def run(source: Any, workdir: Path) -> dict[str, dict[str, Any]]:
    p = Pipeline(source, backfill.HashEmbedder(dimension=32), backfill.LocalIndex(), name="conformance",
                 workdir=workdir, progress="none",
                 chunking=backfill.Chunking(target_tokens=8000, overlap_tokens=0, max_tokens=8000))
    p.fetch_and_ingest()
    assert p.verify().ok
    return indexed(workdir)


def serve_export(fake: SlackApiFake, folder: Path) -> None:
    """The export's users, channels and day files, as the Web API would serve that workspace."""
    fake.users[:] = json.loads((folder / "users.json").read_text())
    for c in json.loads((folder / "channels.json").read_text()):
        fake.add_channel(c["name"], cid=c["id"], archived=bool(c.get("is_archived")))
        for day in sorted((folder / c["name"]).glob("*.json")):
            for m in json.loads(day.read_text()):
                fake.put(c["id"], m)


@pytest.mark.parametrize("spec_path", sorted((REAL / "slack").glob("*.expect.json")), ids=lambda p: p.name)
def test_api_source_gives_the_export_sources_documents(spec_path: Path, tmp_path: Path) -> None:
    spec = json.loads(spec_path.read_text())
    folder = spec_path.parent / spec["folder"]
    workspace = spec.get("workspace_url", "")
    export = run(backfill.SlackExport(folder, workspace_url=workspace), tmp_path / "export")
    with SlackApiFake(TOKEN) as fake:
        fake.time_factor = SCALE
        serve_export(fake, folder)
        api = run(backfill.SlackApi(token=TOKEN, base_url=fake.url, workspace_url=workspace, channels=["*"],
                                    page_size=15, rate_scale=SCALE), tmp_path / "api")
        assert fake.violations == [] and fake.errors == []
        assert len(fake.method_calls("conversations.history")) > len(fake.channels)  # pages of 15, as limited
    assert {c["doc"] for c in spec["expect"]} <= set(api)
    assert sorted(api) == sorted(export)
    different = [d for d in export if api[d] != export[d]]
    assert different == [], "\n".join(f"{d}:\n api    {api[d]}\n export {export[d]}" for d in different[:3])
