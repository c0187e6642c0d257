"""Shared fixtures: synthetic Slack exports, config files, and running the CLI as a real process."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "examples" / "make_slack_export.py"


def make_export(out: Path, *, channels: int = 3, days: int = 6, messages_per_day: int = 8, seed: int = 7,
                zip_path: Path | None = None) -> Path:
    args = [sys.executable, str(GENERATOR), str(out), "--channels", str(channels), "--days", str(days),
            "--messages-per-day", str(messages_per_day), "--seed", str(seed)]
    if zip_path is not None:
        args += ["--zip", str(zip_path)]
    subprocess.run(args, check=True, capture_output=True)
    return zip_path if zip_path is not None else out


def write_config(path: Path, export: Path, *, name: str = "t", workdir: Path | None = None, dimension: int = 64,
                 extra: str = "", target_tokens: int = 128, batch_records: int = 16) -> Path:
    wd = f'workdir = "{workdir}"' if workdir is not None else ""
    path.write_text(textwrap.dedent(f"""\
        [run]
        name = "{name}"
        {wd}
        batch_records = {batch_records}

        [source]
        type = "slack_export"
        path = "{export}"

        [embedder]
        type = "hash"
        dimension = {dimension}

        [chunking]
        target_tokens = {target_tokens}
        overlap_tokens = 16
        """) + extra)
    return path


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 300) -> Result:
    full_env = dict(os.environ)
    full_env.pop("BACKFILL_FAILPOINTS", None)
    if env:
        full_env.update(env)
    p = subprocess.run([sys.executable, "-m", "backfill", *args], cwd=cwd, env=full_env, capture_output=True,
                       text=True, timeout=timeout)
    return Result(p.returncode, p.stdout, p.stderr)


def kill_after_pages(config: Path, workdir: Path, env: dict[str, str], *, pages: int = 10,
                     pause_ms: int = 100, timeout: float = 60) -> int:
    """Runs `backfill run CONFIG` with a pause after every journaled page, kills it (SIGKILL, from
    outside) once its ledger lists at least `pages` pages, and returns how many it listed then."""
    full = dict(os.environ, **env, BACKFILL_FAILPOINTS=f"fetch.page_committed=*:sleep({pause_ms})")
    proc = subprocess.Popen([sys.executable, "-m", "backfill", "run", str(config), "--progress", "none"],
                            env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        try:
            with ledger(workdir) as db:
                done = db.execute("SELECT count(*) FROM pages").fetchone()[0]
        except sqlite3.Error:
            continue
        if done >= pages:
            break
    assert proc.poll() is None, "the run ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert done >= pages, f"{done} pages journaled in {timeout} s"
    return done


def index_ids(index: Path, namespace: str = "") -> list[str]:
    with sqlite3.connect(index) as db:
        return [r[0] for r in db.execute("SELECT id FROM vectors WHERE namespace=? ORDER BY id", (namespace,))]


def ledger(workdir: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{workdir / 'state.sqlite'}?mode=ro", uri=True)


def journal_pages(workdir: Path) -> list[Path]:
    """The journal's page files: ``<seq>.json.zst`` (a zstd frame), or ``<seq>.json`` in a journal
    written before pages were compressed; never the temp files of interrupted writes."""
    root = workdir / "journal"
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and p.name.endswith((".json", ".json.zst")) and not p.name.startswith("."))


def content_bytes(path: Path) -> bytes:
    """A workdir file's content as it holds it: a journal page decompressed (the zstd command), so
    scans for secrets read what was stored, not its compressed form."""
    data = path.read_bytes()
    if path.name.endswith(".zst"):
        data = subprocess.run(["zstd", "-dcq"], input=data, capture_output=True, check=True).stdout
    return data


def page_text(page: Path) -> str:
    """A journal page's body as the source sent it."""
    return content_bytes(page).decode()


def latest_receipt(workdir: Path) -> dict[str, Any]:
    receipts = sorted((workdir / "receipts").glob("*-verify.json"), key=lambda p: p.stat().st_mtime_ns)
    assert receipts, f"no receipt in {workdir}"
    return json.loads(receipts[-1].read_text())


@pytest.fixture(scope="session")
def small_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_export(tmp_path_factory.mktemp("export") / "export")


@pytest.fixture()
def project(tmp_path: Path, small_export: Path) -> tuple[Path, Path]:
    """(config path, workdir) for a fresh run over the small export."""
    workdir = tmp_path / "work"
    return write_config(tmp_path / "backfill.toml", small_export, workdir=workdir), workdir
