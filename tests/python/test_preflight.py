"""Preflight: `backfill plan --check` proves every setting with one cheap request each, and `run`
performs the checks first and stops before it spends anything. One test per failure, against the
local fakes: a bad key of each service, the wrong dimension, gRPC to an HTTP/1.1-only endpoint, the
removed Jira search (410), a cursor that repeats; and `status` without any credential."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import backfill
from backfill.cli import main
from backfill.preflight import PreflightReport
from conftest import journal_pages, make_export, run_cli
from github_fake import GitHubFake
from jira_fake import GONE_BODY, SEARCH, JiraFake
from openai_fake import DEFAULT_API_KEY as OPENAI_KEY
from openai_fake import OpenAIFake
from pinecone_fake import DEFAULT_API_KEY as PINECONE_KEY
from pinecone_fake import PineconeFake
from slack_api_fake import SlackApiFake

JIRA_TOKEN = "jira-secret-token"
GITHUB_TOKEN = "ghp_fake0123456789abcdefghijklmnopqrstuv"
SLACK_TOKEN = "xoxb-fake-bot-token"
MODEL = "text-embedding-3-small"
DIM = 8
SECRETS = {
    "JIRA_API_TOKEN": JIRA_TOKEN,
    "GITHUB_TOKEN": GITHUB_TOKEN,
    "SLACK_BOT_TOKEN": SLACK_TOKEN,
    "OPENAI_API_KEY": OPENAI_KEY,
    "PINECONE_API_KEY": PINECONE_KEY,
}


@pytest.fixture()
def openai() -> Iterator[OpenAIFake]:
    with OpenAIFake() as fake:
        yield fake


@pytest.fixture()
def pinecone() -> Iterator[PineconeFake]:
    with PineconeFake(dimension=DIM) as fake:
        yield fake


@pytest.fixture()
def jira() -> Iterator[JiraFake]:
    with JiraFake({"SUBS": 30}, seed=3) as fake:
        yield fake


def source_of(fake: Any) -> str:
    if isinstance(fake, JiraFake):
        return f"""
            type = "jira"
            url = "{fake.url}"
            email = "me@example.com"
            token = "${{JIRA_API_TOKEN}}"
            projects = ["SUBS"]
            max_results = 10
            """
    if isinstance(fake, GitHubFake):
        return f"""
            type = "github"
            base_url = "{fake.url}"
            token = "${{GITHUB_TOKEN}}"
            repos = ["acme/widgets"]
            per_page = 10
            """
    assert isinstance(fake, SlackApiFake)
    return f"""
        type = "slack"
        token = "${{SLACK_BOT_TOKEN}}"
        base_url = "{fake.url}"
        channels = ["*"]
        rate_scale = {fake.time_factor}
        page_size = 5
        """


def write(tmp_path: Path, source: str, openai: OpenAIFake, pinecone: PineconeFake, *, dimensions: int = DIM,
          transport: str = "grpc") -> Path:
    config = tmp_path / "backfill.toml"
    config.write_text(
        textwrap.dedent(f"""\
            [run]
            name = "pre"
            workdir = "{tmp_path / 'work'}"

            [source]
            """)
        + textwrap.dedent(source)
        + textwrap.dedent(f"""
            [embedder]
            type = "openai"
            model = "{MODEL}"
            base_url = "{openai.url}"
            api_key = "${{OPENAI_API_KEY}}"
            dimensions = {dimensions}

            [sink]
            type = "pinecone"
            host = "{pinecone.url}"
            api_key = "${{PINECONE_API_KEY}}"
            namespace = "pre"
            transport = "{transport}"
            """)
    )
    return config


def check(config: Path, monkeypatch: pytest.MonkeyPatch, **wrong: str) -> tuple[int, dict[str, Any], str, float]:
    """`backfill plan --check CONFIG --json` in this process (so that its time is the checks' own):
    (exit code, the JSON report, stderr, seconds)."""
    for name, value in {**SECRETS, **wrong}.items():
        monkeypatch.setenv(name, value)
    out, err = io.StringIO(), io.StringIO()
    t0 = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["plan", "--check", str(config), "--json", "-q"])
    seconds = time.monotonic() - t0
    return code, json.loads(out.getvalue()), err.getvalue(), seconds


def failed(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in report["checks"] if c["status"] == "failed"]


def run(config: Path, **wrong: str) -> Any:
    return run_cli("run", str(config), "--progress", "none", env={**SECRETS, **wrong}, timeout=120)


def assert_no_secret(*texts: str) -> None:
    for t in texts:
        for secret in SECRETS.values():
            assert secret not in t


# --- every check passes -------------------------------------------------------------------------


def test_every_check_passes_and_only_the_embedding_costs_a_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jira: JiraFake, openai: OpenAIFake, pinecone: PineconeFake
) -> None:
    config = write(tmp_path, source_of(jira), openai, pinecone)
    code, report, err, seconds = check(config, monkeypatch)
    assert code == 0, err
    assert report["ok"] is True and report["exit_code"] == 0
    names = [(c["component"], c["name"], c["status"]) for c in report["checks"]]
    assert names == [
        ("workdir", "disk", "ok"),
        ("source", "credentials", "ok"),
        ("source", "pagination", "ok"),
        ("sink", "index", "ok"),
        ("sink", "transport", "ok"),
        ("embedder", "embedding", "ok"),
    ], names
    verdicts = {c["name"]: c["verdict"] for c in report["checks"]}
    assert "signed in as" in verdicts["credentials"]
    assert "cursor advanced" in verdicts["pagination"]
    assert f"dimension {DIM}" in verdicts["index"] and "metric cosine" in verdicts["index"]
    assert f"{DIM} values" in verdicts["embedding"]
    assert openai.calls == 1 and openai.inputs == 1  # the one embedding the checks pay for
    assert [r.transport for r in pinecone.requests].count("grpc") == 1
    assert not (tmp_path / "work" / "journal").exists(), "the checks journal nothing"
    assert_no_secret(json.dumps(report), err)
    assert pinecone.take_violations() == [] and jira.take_violations() == []


def test_the_python_api_returns_a_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jira: JiraFake, openai: OpenAIFake, pinecone: PineconeFake
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    p = backfill.Pipeline.from_config(write(tmp_path, source_of(jira), openai, pinecone), progress="none")
    report = p.check()
    assert isinstance(report, PreflightReport) and report.ok
    assert report.to_dict()["checks"][0]["name"] == "disk"
    html = report._repr_html_()
    assert "pagination" in html and "transport" in html
    assert "all passed" in str(report)


# --- one test per failure ----------------------------------------------------------------------


def assert_fails_fast_naming(code: int, report: dict[str, Any], err: str, seconds: float, *fix: str) -> None:
    assert code == 2, err
    assert report["ok"] is False
    bad = failed(report)
    assert bad, report
    line = f"{bad[0]['verdict']} {bad[0]['fix']}"
    for words in fix:
        assert words in line, line
    last = err.strip().splitlines()[-1]
    assert last.startswith("backfill: preflight failed:"), err
    assert seconds < 5, f"the checks took {seconds:.1f} s"
    # The embedding check is not tried after another check failed: it may cost money.
    emb = [c for c in report["checks"] if c["component"] == "embedder"]
    assert emb and (emb[0]["status"] == "skipped" or emb[0] in bad), emb


def test_a_bad_jira_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jira: JiraFake, openai: OpenAIFake,
                         pinecone: PineconeFake) -> None:
    config = write(tmp_path, source_of(jira), openai, pinecone)
    code, report, err, seconds = check(config, monkeypatch, JIRA_API_TOKEN="jira-wrong-token")
    assert_fails_fast_naming(code, report, err, seconds, "401", "source.email and source.token")
    assert openai.calls == 0
    r = run(config, JIRA_API_TOKEN="jira-wrong-token")
    assert r.code == 3 and "source.token" in r.err.strip().splitlines()[-1], r.err
    assert openai.calls == 0 and pinecone.calls("/vectors/upsert") == []
    assert_no_secret(err, r.err, "jira-wrong-token")


def test_a_bad_github_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, openai: OpenAIFake,
                           pinecone: PineconeFake) -> None:
    with GitHubFake({"acme/widgets": 25}, token=GITHUB_TOKEN) as gh:
        config = write(tmp_path, source_of(gh), openai, pinecone)
        code, report, err, seconds = check(config, monkeypatch, GITHUB_TOKEN="ghp_wrong")
        assert_fails_fast_naming(code, report, err, seconds, "401", "source.token")
        good, good_report, _, _ = check(config, monkeypatch)
        assert good == 0 and "requests of this hour left" in good_report["checks"][1]["verdict"]
        openai.reset_faults()
        before = openai.calls
        r = run(config, GITHUB_TOKEN="ghp_wrong")
        assert r.code == 3 and "source.token" in r.err.strip().splitlines()[-1], r.err
        assert openai.calls == before


def slack_fake() -> SlackApiFake:
    fake = SlackApiFake(token=SLACK_TOKEN)
    fake.time_factor = 600
    return fake


def test_a_bad_slack_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, openai: OpenAIFake,
                          pinecone: PineconeFake) -> None:
    with slack_fake() as slack:
        slack.generate(channels=2, messages=30)
        config = write(tmp_path, source_of(slack), openai, pinecone)
        code, report, err, seconds = check(config, monkeypatch, SLACK_BOT_TOKEN="xoxb-wrong")
        assert_fails_fast_naming(code, report, err, seconds, "invalid_auth", "source.token")
        r = run(config, SLACK_BOT_TOKEN="xoxb-wrong")
        assert r.code == 3 and "source.token" in r.err.strip().splitlines()[-1], r.err
        assert openai.calls == 0


def test_a_slack_token_without_the_scopes_the_source_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           openai: OpenAIFake, pinecone: PineconeFake) -> None:
    with slack_fake() as slack:
        slack.generate(channels=2, messages=30)
        slack.scopes = ["channels:read", "channels:history", "users:read"]  # no groups:* for private channels
        config = write(tmp_path, source_of(slack), openai, pinecone)
        code, report, err, seconds = check(config, monkeypatch)
        assert_fails_fast_naming(code, report, err, seconds, "groups:read, groups:history", "OAuth",
                                 "source.types")
        r = run(config)
        assert r.code == 2 and "groups:history" in r.err, r.err
        assert openai.calls == 0


def test_a_bad_openai_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jira: JiraFake, openai: OpenAIFake,
                         pinecone: PineconeFake) -> None:
    config = write(tmp_path, source_of(jira), openai, pinecone)
    code, report, err, seconds = check(config, monkeypatch, OPENAI_API_KEY="sk-wrong-0000000000000000")
    assert_fails_fast_naming(code, report, err, seconds, "embedder.api_key")
    assert openai.calls == 0


def test_a_bad_pinecone_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jira: JiraFake, openai: OpenAIFake,
                           pinecone: PineconeFake) -> None:
    config = write(tmp_path, source_of(jira), openai, pinecone)
    code, report, err, seconds = check(config, monkeypatch, PINECONE_API_KEY="pk-wrong-key-0123456789")
    assert_fails_fast_naming(code, report, err, seconds, "refused the API key: check sink.api_key")
    assert openai.calls == 0
    r = run(config, PINECONE_API_KEY="pk-wrong-key-0123456789")
    assert r.code == 3 and "sink.api_key" in r.err.strip().splitlines()[-1], r.err
    assert openai.calls == 0
    assert not journal_pages(tmp_path / "work"), "nothing fetched before the checks"


def test_the_wrong_dimension(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jira: JiraFake, openai: OpenAIFake,
                             pinecone: PineconeFake) -> None:
    config = write(tmp_path, source_of(jira), openai, pinecone, dimensions=16)
    code, report, err, seconds = check(config, monkeypatch)
    assert_fails_fast_naming(code, report, err, seconds, f"dimension {DIM}", "embedder makes vectors of dimension 16",
                             "embedder.dimensions")
    assert openai.calls == 0
    r = run(config)
    assert r.code == 2 and "dimension" in r.err.strip().splitlines()[-1], r.err
    assert openai.calls == 0


@pytest.mark.parametrize("silent", [False, True], ids=["refused", "never-answered"])
def test_grpc_to_an_http1_only_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jira: JiraFake,
                                        openai: OpenAIFake, pinecone: PineconeFake, silent: bool) -> None:
    pinecone.rest_only(silent=silent)
    config = write(tmp_path, source_of(jira), openai, pinecone)
    code, report, err, seconds = check(config, monkeypatch)
    assert_fails_fast_naming(code, report, err, seconds, "gRPC", 'transport = "rest"')
    assert [c["name"] for c in failed(report)] == ["transport"]
    assert openai.calls == 0
    r = run(config)
    assert r.code == 2 and 'transport = \\"rest\\"' in r.err or 'transport = "rest"' in r.err, r.err
    assert openai.calls == 0
    # With REST, the same endpoint passes.
    code, report, err, _ = check(write(tmp_path, source_of(jira), openai, pinecone, transport="rest"), monkeypatch)
    assert code == 0, err


def test_the_removed_jira_search_answering_410(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jira: JiraFake,
                                              openai: OpenAIFake, pinecone: PineconeFake) -> None:
    jira.fail_next(1, 410, paths=[SEARCH], body=GONE_BODY)
    config = write(tmp_path, source_of(jira), openai, pinecone)
    code, report, err, seconds = check(config, monkeypatch)
    assert_fails_fast_naming(code, report, err, seconds, "410", "/rest/api/3/search/jql", "source.url")
    assert [c["name"] for c in failed(report)] == ["pagination"]
    jira.fail_next(1, 410, paths=[SEARCH], body=GONE_BODY)
    r = run(config)
    assert r.code == 3 and "410" in r.err.strip().splitlines()[-1], r.err
    assert openai.calls == 0


def test_a_cursor_that_repeats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jira: JiraFake, openai: OpenAIFake,
                              pinecone: PineconeFake) -> None:
    jira.stuck_token("SUBS")
    config = write(tmp_path, source_of(jira), openai, pinecone)
    code, report, err, seconds = check(config, monkeypatch)
    assert_fails_fast_naming(code, report, err, seconds, "repeated")
    assert [c["name"] for c in failed(report)] == ["pagination"]
    assert openai.calls == 0
    # The run leaves the probe to its fetch, whose guard stops at the repeated page.
    r = run(config)
    assert r.code == 3 and "repeated" in r.err.strip().splitlines()[-1], r.err
    jira.take_violations()


def test_run_performs_the_checks_unless_told_not_to(tmp_path: Path, jira: JiraFake, openai: OpenAIFake,
                                                     pinecone: PineconeFake) -> None:
    config = write(tmp_path, source_of(jira), openai, pinecone)
    r = run_cli("run", str(config), "--progress", "none", "--json", env=SECRETS, timeout=120)
    assert r.code == 0, r.err
    assert len(jira.calls("/rest/api/3/myself")) == 1
    assert [x.transport for x in pinecone.calls("/describe_index_stats")].count("grpc") == 1
    # The run's own embeddings only: its checks leave the embedding to the run's first one.
    assert json.loads(r.out)["ingest"]["embed_calls"] == openai.calls
    r = run_cli("run", str(config), "--progress", "none", "--no-check", env=SECRETS, timeout=120)
    assert r.code == 0, r.err
    assert len(jira.calls("/rest/api/3/myself")) == 1


# --- status reads the ledger only ---------------------------------------------------------------


def test_status_needs_no_credential(tmp_path: Path, pinecone: PineconeFake) -> None:
    export = make_export(tmp_path / "export", channels=2, days=2, messages_per_day=4)
    config = tmp_path / "backfill.toml"
    config.write_text(textwrap.dedent(f"""\
        [run]
        name = "st"
        workdir = "{tmp_path / 'work'}"

        [source]
        type = "slack_export"
        path = "{export}"

        [embedder]
        type = "hash"
        dimension = {DIM}

        [sink]
        type = "pinecone"
        host = "{pinecone.url}"
        api_key = "${{PINECONE_API_KEY}}"
        transport = "rest"
        """))
    r = run_cli("run", str(config), "--progress", "none", env={"PINECONE_API_KEY": PINECONE_KEY}, timeout=120)
    assert r.code == 0, r.err
    env = {k: v for k, v in os.environ.items() if k not in SECRETS}
    p = subprocess.run([sys.executable, "-m", "backfill", "status", str(config), "--json"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    status = json.loads(p.stdout)
    assert status["ok"] is True and status["pages"] > 0 and status["documents"] > 0
    # Commands that send requests still say which variable is missing.
    p = subprocess.run([sys.executable, "-m", "backfill", "verify", str(config)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "PINECONE_API_KEY" in p.stderr, p.stderr
