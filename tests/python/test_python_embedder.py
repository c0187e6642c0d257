"""A Python function as the embedder: lists or arrays back, called from the pipeline's worker threads
with the GIL taken only for the call, its mistakes reported by name with nothing lost."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import struct
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import backfill
from backfill.errors import ConfigError, EmbedError
from conftest import index_ids, journal_pages, make_export, run_cli, write_config

DIM = 8


def vector_of(text: str) -> list[float]:
    """A deterministic vector per text, so a test can check that each record got its own text's."""
    digest = hashlib.sha256(text.encode()).digest()
    return [b / 255.0 + 0.01 for b in digest[:DIM]]


def stored_vectors(index: Path) -> dict[str, tuple[list[float], str]]:
    out = {}
    with sqlite3.connect(index) as db:
        for rid, blob, meta in db.execute("SELECT id, vector, metadata FROM vectors"):
            values = list(struct.unpack(f"<{len(blob) // 4}f", blob))
            out[rid] = (values, json.loads(meta)["text"])
    return out


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_export(tmp_path_factory.mktemp("pyemb") / "export", channels=2, days=4, messages_per_day=6)


def pipeline(export: Path, workdir: Path, embedder: backfill.PythonEmbedder) -> backfill.Pipeline:
    return backfill.Pipeline(backfill.SlackExport(export), embedder, name="py", workdir=workdir,
                             batch_records=8, progress="none")


@pytest.mark.parametrize("kind", ["lists", "numpy"])
def test_each_record_gets_the_vector_the_function_made_for_its_text(export: Path, tmp_path: Path, kind: str) -> None:
    calls: list[int] = []

    def embed(texts: list[str]) -> object:
        calls.append(len(texts))
        rows = [vector_of(t) for t in texts]
        return np.asarray(rows, dtype=np.float64) if kind == "numpy" else rows

    p = pipeline(export, tmp_path / "wd", backfill.PythonEmbedder(embed, dimension=DIM, name="sha", batch_size=5))
    report = p.run()
    assert report.verify.ok
    assert max(calls) <= 5 and sum(calls) == report.ingest.chunks_embedded
    stored = stored_vectors(tmp_path / "wd" / "index.sqlite")
    assert len(stored) == report.ingest.chunks_written > 0
    for rid, (values, text) in stored.items():
        assert values == pytest.approx(vector_of(text), abs=1e-6), rid
    assert p._embedder.identity == f"python:sha:dim={DIM}"


def test_calls_overlap_when_the_function_releases_the_gil(export: Path, tmp_path: Path) -> None:
    lock = threading.Lock()
    state = {"now": 0, "max": 0}

    def embed(texts: list[str]) -> list[list[float]]:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)  # a model computing without the GIL
        with lock:
            state["now"] -= 1
        return [vector_of(t) for t in texts]

    p = pipeline(export, tmp_path / "wd",
                 backfill.PythonEmbedder(embed, dimension=DIM, name="sha", batch_size=2, concurrency=3))
    assert p.run().verify.ok
    assert 2 <= state["max"] <= 3


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        (lambda texts: [vector_of(t) for t in texts][:-1], r"returned \d+ vectors for \d+ texts"),
        (lambda texts: [vector_of(t)[:-1] for t in texts], "dimension 7, expected 8"),
        (lambda texts: np.zeros((len(texts), DIM + 1)), r"shape \(\d+, 9\), expected"),
        (lambda texts: [["x"] * DIM for _ in texts], "not a list of numbers"),
        (lambda texts: 1 / 0, "raised ZeroDivisionError"),
    ],
    ids=["count", "dimension", "shape", "type", "raises"],
)
def test_a_bad_function_is_an_embed_error_naming_it_and_nothing_is_lost(
        export: Path, tmp_path: Path, bad: object, needle: str) -> None:
    wd = tmp_path / "wd"
    p = pipeline(export, wd, backfill.PythonEmbedder(bad, dimension=DIM, name="broken"))  # type: ignore[arg-type]
    with pytest.raises(EmbedError, match=needle) as info:
        p.run()
    assert "broken" in str(info.value)
    journaled = journal_pages(wd)
    assert journaled  # the fetch is kept
    fixed = pipeline(export, wd, backfill.PythonEmbedder(lambda ts: [vector_of(t) for t in ts], dimension=DIM,
                                                         name="broken"))
    report = fixed.run()
    assert report.verify.ok and report.fetch.pages_fetched == 0


def test_config_takes_an_import_path(export: Path, tmp_path: Path) -> None:
    (tmp_path / "my_models.py").write_text(textwrap.dedent("""
        import hashlib
        def encode(texts):
            return [[b / 255.0 + 0.01 for b in hashlib.sha256(t.encode()).digest()[:8]] for t in texts]
    """))
    config = write_config(tmp_path / "c.toml", export, workdir=tmp_path / "wd")
    text = config.read_text().replace('type = "hash"\ndimension = 64',
                                      'type = "python"\nfunction = "my_models:encode"\ndimension = 8')
    config.write_text(text)
    r = run_cli("run", str(config), "--json", "--progress", "none", env={"PYTHONPATH": str(tmp_path)})
    assert r.code == 0, r.err
    assert json.loads(r.out)["verify"]["ok"] is True
    stored = stored_vectors(tmp_path / "wd" / "index.sqlite")
    assert stored and all(v == pytest.approx(vector_of(t), abs=1e-6) for v, t in stored.values())
    assert len(index_ids(tmp_path / "wd" / "index.sqlite")) == len(stored)

    config.write_text(text.replace("my_models:encode", "my_models:nope"))
    r = run_cli("run", str(config), env={"PYTHONPATH": str(tmp_path)})
    assert r.code != 0 and "embedder.function" in r.err and "nope" in r.err


def test_a_function_object_needs_a_name_for_the_cache() -> None:
    with pytest.raises(ConfigError, match="embedder.name is required"):
        backfill.PythonEmbedder(lambda ts: [], dimension=DIM).build()


def console_script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed ``backfill`` command, whose own sys.path[0] is the venv's bin folder (not the
    working directory, as with ``python -m backfill``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BACKFILL_FAILPOINTS")}
    script = Path(sys.executable).parent / "backfill"
    return subprocess.run([str(script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def python_embedder_config(folder: Path, export: Path, module: str) -> Path:
    config = write_config(folder / "c.toml", export, workdir=folder / "wd")
    config.write_text(config.read_text().replace(
        'type = "hash"\ndimension = 64', f'type = "python"\nfunction = "{module}:encode"\ndimension = 8'))
    return config


MODELS = textwrap.dedent("""
    import hashlib
    def encode(texts):
        return [[b / 255.0 + 0.01 for b in hashlib.sha256(t.encode()).digest()[:8]] for t in texts]
""")


def test_the_console_script_imports_a_module_beside_the_config_from_any_folder(export: Path, tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "project" / "beside_config.py").write_text(MODELS)
    config = python_embedder_config(tmp_path / "project", export, "beside_config")
    r = console_script("run", str(config), "--json", "--progress", "none", cwd=tmp_path / "elsewhere")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["verify"]["ok"] is True


def test_the_console_script_imports_from_the_working_directory_and_says_where_it_looked(
        export: Path, tmp_path: Path) -> None:
    (tmp_path / "project").mkdir()
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / "in_cwd.py").write_text(MODELS)
    config = python_embedder_config(tmp_path / "project", export, "in_cwd")
    r = console_script("run", str(config), "--progress", "none", cwd=tmp_path / "cwd")
    assert r.returncode == 0, r.stderr

    config.write_text(config.read_text().replace("in_cwd:encode", "not_there:encode"))
    r = console_script("run", str(config), "--progress", "none", cwd=tmp_path / "cwd")
    assert r.returncode == 2
    assert "cannot import not_there" in r.stderr
    looked = r.stderr.split("looked in ", 1)[1]
    assert str((tmp_path / "project").resolve()) in looked and str((tmp_path / "cwd").resolve()) in looked
