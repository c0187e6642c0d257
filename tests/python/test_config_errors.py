"""Bad configuration: one line naming the key or file, a non-zero exit, and no workdir created."""

from __future__ import annotations

from pathlib import Path

import pytest

from backfill import ConfigError, load_config
from backfill.config import interpolate
from conftest import run_cli


def case(tmp_path: Path, body: str) -> tuple[Path, Path]:
    workdir = tmp_path / "wd"
    config = tmp_path / "c.toml"
    config.write_text(f'[run]\nworkdir = "{workdir}"\n' + body)
    return config, workdir


BAD = {
    "unknown source type": ('[source]\ntype = "jiraa"\n', "source.type 'jiraa' is not one of"),
    "missing env var": ('[source]\ntype = "slack_export"\npath = "${BACKFILL_TEST_UNSET_VAR}"\n',
                        "source.path: environment variable BACKFILL_TEST_UNSET_VAR is not set"),
    "unreadable export": ('[source]\ntype = "slack_export"\npath = "/nonexistent/export.zip"\n', "/nonexistent/export.zip"),
    "unknown key": ('[source]\ntype = "slack_export"\npath = "x"\ncolour = 1\n', "source.colour is not a known setting"),
    "wrong type": ('[source]\ntype = "slack_export"\npath = "x"\n[embedder]\ntype = "hash"\ndimension = "big"\n',
                   "embedder.dimension must be an integer"),
    "unknown section": ('[source]\ntype = "slack_export"\npath = "x"\n[sinks]\n', "[sinks] is not a known section"),
    "bad TOML": ('[source\ntype = "slack_export"\n', "invalid TOML"),
    "no source": ("", "[source] is required"),
    "bad dimension": ('[source]\ntype = "slack_export"\npath = "."\n[embedder]\ntype = "hash"\ndimension = 3\n',
                      "embedder.dimension"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_config_is_one_line_and_touches_nothing(name: str, tmp_path: Path) -> None:
    body, expected = BAD[name]
    config, workdir = case(tmp_path, body)
    r = run_cli("run", str(config))
    assert r.code == 2, (r.code, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert expected in lines[0]
    assert not workdir.exists()


def test_missing_config_file(tmp_path: Path) -> None:
    r = run_cli("run", str(tmp_path / "nope.toml"))
    assert r.code == 2 and "nope.toml" in r.err and len(r.err.strip().splitlines()) == 1


def test_interpolation() -> None:
    env = {"A": "x", "EMPTY": ""}
    assert interpolate("${A}-${A}", "k", env) == "x-x"
    assert interpolate("${B:-fallback}", "k", env) == "fallback"
    assert interpolate("${EMPTY:-fallback}", "k", env) == ""
    assert interpolate("cost $$5", "k", env) == "cost $5"
    with pytest.raises(ConfigError, match="k: environment variable B is not set"):
        interpolate("${B}", "k", env)


def test_relative_paths_are_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    config = tmp_path / "sub" / "c.toml"
    config.write_text('[source]\ntype = "slack_export"\npath = "export"\n')
    loaded = load_config(config)
    assert loaded.source.path == (tmp_path / "sub" / "export").resolve()
    assert loaded.run.name == "c"


OUT_OF_RANGE = {
    "negative overlap": ("[chunking]\noverlap_tokens = -5\n", "chunking.overlap_tokens must be between 0 and"),
    "a rate that never sends": (
        '[sink]\ntype = "pinecone"\nhost = "http://127.0.0.1:9"\napi_key = "k"\nrate = 1e-9\n',
        "sink.rate must be 0 (no limit) or between 0.01"),
    "no request in flight": (
        '[sink]\ntype = "pinecone"\nhost = "http://127.0.0.1:9"\napi_key = "k"\nmax_in_flight = 0\n',
        "sink.max_in_flight must be between 1 and"),
    "nan rate": ('[sink]\ntype = "pinecone"\nhost = "http://127.0.0.1:9"\napi_key = "k"\nrate = nan\n',
                 "sink.rate must be a finite number"),
    "negative timeout": ('[sink]\ntype = "pinecone"\nhost = "http://127.0.0.1:9"\napi_key = "k"\ntimeout = -1\n',
                         "sink.timeout must be between 0.001 and"),
    "endless count wait": ("[verify]\ncount_timeout_seconds = inf\n", "verify.count_timeout_seconds must be a finite"),
    "zero batch": ("[run]\nbatch_records = 0\n", "run.batch_records must be between 1 and"),
    "fraction over one": ("[run]\nreconcile_max_fraction = 1.5\n", "run.reconcile_max_fraction must be between 0 and 1"),
}


@pytest.mark.parametrize("name", sorted(OUT_OF_RANGE))
def test_numbers_out_of_range_are_refused_at_load_in_one_line(name: str, tmp_path: Path) -> None:
    body, expected = OUT_OF_RANGE[name]
    workdir = tmp_path / "wd"
    config = tmp_path / "c.toml"
    run_keys = body.split("\n", 1)[1] if body.startswith("[run]") else ""
    rest = "" if body.startswith("[run]") else body
    config.write_text(f'[run]\nworkdir = "{workdir}"\n{run_keys}[source]\ntype = "slack_export"\npath = "."\n{rest}')
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_config(config)
    r = run_cli("plan", str(config))
    assert r.code == 2 and len(r.err.strip().splitlines()) == 1 and expected in r.err, r.err
    assert not workdir.exists()
