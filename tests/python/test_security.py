"""Security, tried as a hostile tester would: distinctive tokens are planted as the Jira token, the
OpenAI key and the Pinecone key, and runs go through success, 401s, 5xx storms, redirects to another
host, tracebacks and ``-vvv``. No token may appear on stdout, stderr or in any file of the workdir;
the workdir must be private (folders 0700, files 0600) under umask 022; a redirect must carry no key
or body to the other host; only http(s) URLs load; the user's JQL stays inside its parentheses;
a Slack export is read only inside itself; restricted Jira comments stay out unless asked for."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import stat
import textwrap
import traceback
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backfill import ConfigError, Pipeline, load_config
from conftest import Result, content_bytes, journal_pages, make_export, page_text, run_cli, write_config
from fake_base import fakes_on_demand
from http_server import FakeServer, json_response
from jira_fake import JiraFake
from openai_fake import OpenAIFake
from pinecone_fake import PineconeFake

EMAIL = "sec@example.com"
JIRA_TOKEN = "JIRAplanted7f3c9a1e5b2d"
OPENAI_KEY = "sk-OPENAIplanted8e1d2c3b4a5f"
PINECONE_KEY = "pcsk_PINECONEplanted9a8b7c6d"
# Every spelling a token could leak in: as planted, and Jira's as the Basic credential it travels in.
PLANTED = [JIRA_TOKEN, OPENAI_KEY, PINECONE_KEY, base64.b64encode(f"{EMAIL}:{JIRA_TOKEN}".encode()).decode()]
ENV = {"JIRA_API_TOKEN": JIRA_TOKEN, "OPENAI_API_KEY": OPENAI_KEY, "PINECONE_API_KEY": PINECONE_KEY}
DIM = 64


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    """Everything runs under a umask that lets every local user read what is created."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture()
def services() -> Iterator[Callable[..., Any]]:
    """Starts the fakes on demand: ``services(JiraFake, ...)`` builds and starts one."""
    yield from fakes_on_demand(lambda cls, *a, **kw: cls(*a, **kw), lambda f: [], "a fake failed")


@pytest.fixture()
def elsewhere() -> Iterator[FakeServer]:
    """Another host (another port of 127.0.0.1) that records whatever reaches it."""
    with FakeServer(default=json_response({})) as s:
        yield s


def jira_fake(services: Callable[..., Any], token: str = JIRA_TOKEN, **kw: Any) -> JiraFake:
    fake: JiraFake = services(JiraFake, kw.pop("projects", {"SUBS": 6}), email=EMAIL, token=token, **kw)
    return fake


def write_all(tmp_path: Path, jira: JiraFake, openai: OpenAIFake | None = None, pinecone: PineconeFake | None = None,
              *, source: str = "", projects: str = '["SUBS"]') -> tuple[Path, Path]:
    """A config over the Jira fake, the OpenAI fake (else the hash embedder) and the Pinecone fake
    (else the local index), its secrets from the environment; returns (config, workdir)."""
    workdir = tmp_path / "work"
    embedder = (f"""
        [embedder]
        type = "openai"
        model = "text-embedding-3-small"
        base_url = "{openai.url}"
        api_key = "${{OPENAI_API_KEY}}"
        dimensions = {DIM}
        max_attempts = 2
        base_delay = 0.01
        """ if openai is not None else f"""
        [embedder]
        type = "hash"
        dimension = {DIM}
        """)
    sink = (f"""
        [sink]
        type = "pinecone"
        host = "{pinecone.url}"
        api_key = "${{PINECONE_API_KEY}}"
        transport = "rest"
        max_attempts = 2
        base_delay = 0.01
        """ if pinecone is not None else "")
    config = tmp_path / "sec.toml"
    config.write_text(textwrap.dedent(f"""\
        [run]
        name = "sec"
        workdir = "{workdir}"

        [source]
        type = "jira"
        url = "{jira.url}"
        email = "{EMAIL}"
        token = "${{JIRA_API_TOKEN}}"
        projects = {projects}
        """) + textwrap.dedent(source) + textwrap.dedent(embedder) + textwrap.dedent(sink))
    return config, workdir


def cli(*args: str) -> Result:
    return run_cli(*args, "-vvv", env=ENV, timeout=180)


def run(config: Path) -> Result:
    return cli("run", str(config), "--progress", "none")


def assert_no_secret(*texts: str, workdir: Path | None = None) -> None:
    """No planted token in any of `texts`, nor in any file under `workdir`."""
    for text in texts:
        for token in PLANTED:
            assert token not in text, f"a planted token leaked: {text[max(0, text.find(token) - 200):][:400]}"
    if workdir is None or not workdir.exists():
        return
    for path in workdir.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = content_bytes(path)
            for token in PLANTED:
                assert token.encode() not in data, f"a planted token is in {path}"


def assert_private(workdir: Path) -> None:
    """The workdir and every folder in it 0700, every file 0600."""
    found = [workdir, *workdir.rglob("*")]
    assert len(found) >= 2, found  # the workdir and at least the ledger
    for path in found:
        st = path.lstat()
        mode = stat.S_IMODE(st.st_mode)
        want = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        assert mode == want, f"{path.relative_to(workdir.parent)} is {mode:o}, not {want:o}"


def last_line(err: str) -> str:
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert lines and "Traceback" not in err, err[-3000:]
    return lines[-1]


# --- secrets and file modes through success and failure -------------------------------------------


def test_a_full_run_keeps_secrets_out_and_the_workdir_private(services: Callable[..., Any], tmp_path: Path) -> None:
    jira = jira_fake(services)
    openai = services(OpenAIFake, OPENAI_KEY)
    pinecone = services(PineconeFake, DIM, PINECONE_KEY)
    jira.fail_next(2, 503)  # a 5xx storm that passes: retries are logged at -vvv
    openai.fail_next(1, 429, retry_after=1)
    config, workdir = write_all(tmp_path, jira, openai, pinecone)
    r = run(config)
    assert r.code == 0, r.err[-3000:]
    status = cli("status", str(config))
    verify = cli("verify", str(config), "--junit", str(workdir / "junit.xml"))
    assert status.code == 0 and verify.code == 0, (status.err[-2000:], verify.err[-2000:])
    assert pinecone.count() > 0
    assert_no_secret(r.out, r.err, status.out, status.err, verify.out, verify.err, workdir=workdir)
    assert_private(workdir)


FAILURES = {
    "jira 401": "jira", "openai 401": "openai", "pinecone 401": "pinecone",
    "openai 5xx": "openai", "pinecone 5xx": "pinecone",
}


@pytest.mark.parametrize("case", sorted(FAILURES))
def test_failures_keep_secrets_out(case: str, services: Callable[..., Any], tmp_path: Path) -> None:
    refused = "401" in case
    jira = jira_fake(services, token="not-the-planted-one" if case == "jira 401" else JIRA_TOKEN)
    openai = services(OpenAIFake, "sk-not-the-planted-one" if case == "openai 401" else OPENAI_KEY)
    pinecone = services(PineconeFake, DIM, "pcsk_not-the-planted-one" if case == "pinecone 401" else PINECONE_KEY)
    if case == "openai 5xx":
        openai.fail_next(50, 500)
    if case == "pinecone 5xx":
        pinecone.fail_next(200, 503)
    config, workdir = write_all(tmp_path, jira, openai, pinecone)
    r = run(config)
    assert r.code != 0, r.err[-3000:]
    line = last_line(r.err)
    assert ("401" if refused else "50") in line, line
    assert_no_secret(r.out, r.err, workdir=workdir)
    assert_private(workdir)


def test_a_traceback_and_the_objects_in_it_hold_no_secret(services: Callable[..., Any], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    jira = jira_fake(services, token="not-the-planted-one")
    pinecone = services(PineconeFake, DIM, PINECONE_KEY)
    config, workdir = write_all(tmp_path, jira, services(OpenAIFake, OPENAI_KEY), pinecone)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    loaded = load_config(config)
    pipeline = Pipeline.from_config(config, progress="none")
    try:
        pipeline.run()
        pytest.fail("a refused token ran")
    except Exception as e:  # noqa: BLE001 - the point is what any exception shows
        shown = [traceback.format_exc(), repr(e), str(e), repr(getattr(e, "__dict__", {})), repr(pipeline),
                 repr(loaded), repr(loaded.source), repr(loaded.embedder), repr(loaded.sink)]
    assert "401" in shown[0]
    assert_no_secret(*shown, workdir=workdir)


def test_a_workdir_open_to_others_is_tightened_with_a_warning(small_export: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    config = write_config(tmp_path / "c.toml", small_export, workdir=workdir)
    assert run_cli("run", str(config), "--progress", "none").code == 0
    for path in [workdir, *workdir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    r = run_cli("status", str(config))
    assert r.code == 0, r.err[-3000:]
    assert "was readable by other users" in r.err, r.err[-3000:]
    assert_private(workdir)


# --- redirects -----------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["jira", "openai", "pinecone"])
def test_a_redirect_to_another_host_carries_no_key_or_body(service: str, services: Callable[..., Any],
                                                           elsewhere: FakeServer, tmp_path: Path) -> None:
    jira = jira_fake(services)
    openai = services(OpenAIFake, OPENAI_KEY)
    pinecone = services(PineconeFake, DIM, PINECONE_KEY)
    moved = {"jira": jira, "openai": openai, "pinecone": pinecone}[service]
    moved.redirect_to = elsewhere.url("/collect", token="QUERYSECRET")
    config, workdir = write_all(tmp_path, jira, openai, pinecone)
    r = run(config)
    assert r.code == 3, r.err[-3000:]
    assert moved.redirected >= 1
    assert elsewhere.requests == [], [(q.method, q.path, q.headers) for q in elsewhere.requests]
    line = last_line(r.err)
    assert f"127.0.0.1:{moved.port}" in line and f"127.0.0.1:{elsewhere.port}" in line, line
    assert "fix the configured URL" in line and "QUERYSECRET" not in line and "/collect" not in line, line
    assert_no_secret(r.out, r.err, workdir=workdir)


# --- schemes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "url", "named"), [
    ("source.url", "file:///etc/passwd#", "'file'"),
    ("source.url", "gopher://127.0.0.1:70/x", "'gopher'"),
    ("embedder.base_url", "ftp://127.0.0.1/v1", "'ftp'"),
    ("sink.host", "dict://127.0.0.1:2628/", "'dict'"),
    ("source.url", "http://jira.example.com", "allow_insecure_http"),
    ("sink.host", "http://10.1.2.3:5080", "allow_insecure_http"),
])
def test_only_http_and_https_load_and_http_only_to_this_machine(key: str, url: str, named: str, tmp_path: Path) -> None:
    section, setting = key.split(".")
    tables = {
        "source": {"type": "jira", "url": "https://acme.atlassian.net", "email": EMAIL, "token": "t", "projects": ["S"]},
        "embedder": {"type": "openai", "model": "text-embedding-3-small", "base_url": "https://api.openai.com/v1",
                     "api_key": "k"},
        "sink": {"type": "pinecone", "host": "https://i.svc.pinecone.io", "api_key": "k"},
    }
    tables[section][setting] = url
    workdir = tmp_path / "work"
    body = f'[run]\nworkdir = "{workdir}"\n' + "".join(
        f"[{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in t.items()) for name, t in tables.items())
    config = tmp_path / "c.toml"
    config.write_text(body)
    r = run_cli("run", str(config))
    assert r.code == 2, r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert key in lines[0] and named in lines[0], lines[0]
    rest = url.split(":", 1)[1]
    assert rest not in lines[0] and "root:" not in lines[0], lines[0]
    assert not workdir.exists()
    if named == "allow_insecure_http":  # allowed when the config says so
        config.write_text(body.replace(f"[{section}]\n", f"[{section}]\nallow_insecure_http = true\n"))
        assert getattr(getattr(load_config(config), section), setting) == url


def test_loopback_http_and_https_load(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    for url in ("http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:3", "https://acme.atlassian.net"):
        config.write_text(f'[source]\ntype = "jira"\nurl = "{url}"\nemail = "e"\ntoken = "t"\nprojects = ["S"]\n')
        assert load_config(config).source.url == url  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="allow_insecure_http must be true or false"):
        config.write_text('[source]\ntype = "slack_export"\npath = "x"\nallow_insecure_http = "yes"\n')
        load_config(config)


# --- JQL -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("jql", "fault"), [
    ("labels = x) OR (project = SECRET", "has a ')' without its '('"),
    ("labels = x ORDER BY created DESC", "has ORDER BY"),
    ('summary ~ "open', "quote that is not closed"),
])
def test_the_users_jql_cannot_reach_outside_its_bound(jql: str, fault: str, services: Callable[..., Any],
                                                      tmp_path: Path) -> None:
    jira = jira_fake(services, projects={"SUBS": 4, "SECRET": 4})
    config, workdir = write_all(tmp_path, jira, source=f"jql = {json.dumps(jql)}\n")
    r = run(config)
    assert r.code == 2, r.err[-3000:]
    line = last_line(r.err)
    assert "source.jql" in line and fault in line, line
    assert jira.requests == []


def test_the_users_jql_is_anded_in_parentheses(services: Callable[..., Any], tmp_path: Path) -> None:
    jira = jira_fake(services, projects={"SUBS": 4, "SECRET": 4})
    config, workdir = write_all(tmp_path, jira, source='jql = "labels = backend OR labels = frontend"\n')
    r = run(config)
    assert r.code == 0, r.err[-3000:]
    sent = [q.query["jql"][0] for q in jira.requests if q.path == "/rest/api/3/search/jql"]
    assert sent and all(j.startswith('project = "SUBS" AND ') and
                        j.endswith(" AND (labels = backend OR labels = frontend) ORDER BY key ASC") for j in sent), sent


# --- Slack exports -----------------------------------------------------------------------------------


OUTSIDE_TEXT = "OUTSIDEtheEXPORT"


def outside_day(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    day = folder / "2001-01-01.json"
    day.write_text(json.dumps([{"type": "message", "user": "U1", "ts": "978307200.000100", "text": OUTSIDE_TEXT}]))
    return day


def index_text(workdir: Path) -> str:
    index = workdir / "index.sqlite"
    if not index.exists():
        return ""
    with sqlite3.connect(index) as db:
        return "\n".join(md for (md,) in db.execute("SELECT metadata FROM vectors"))


def first_channel_folder(export: Path) -> Path:
    return next(p for p in sorted(export.iterdir()) if p.is_dir())


@pytest.mark.parametrize("link", ["day file", "channel folder"])
def test_links_in_an_unpacked_export_are_refused(link: str, tmp_path: Path) -> None:
    export = make_export(tmp_path / "export", channels=2, days=2, messages_per_day=3)
    outside = outside_day(tmp_path / "outside")
    channel = first_channel_folder(export)
    if link == "day file":
        (channel / outside.name).symlink_to(outside)
        named = f"{channel.name}/{outside.name}"
    else:
        for day in channel.iterdir():
            day.unlink()
        channel.rmdir()
        channel.symlink_to(outside.parent, target_is_directory=True)
        named = channel.name
    workdir = tmp_path / "work"
    r = run_cli("run", str(write_config(tmp_path / "c.toml", export, workdir=workdir)), "--progress", "none")
    assert r.code != 0, r.err[-3000:]
    line = last_line(r.err)
    assert named in line and "symbolic link" in line, line
    assert OUTSIDE_TEXT not in index_text(workdir)
    for page in journal_pages(workdir):
        assert OUTSIDE_TEXT not in page_text(page)


@pytest.mark.parametrize(("entry", "why"), [
    ("../2001-01-01.json", "has a '..' component"),
    ("/tmp/2001-01-01.json", "is an absolute path"),
    ("general/../../2001-01-01.json", "has a '..' component"),
    ("DUPLICATE", "appears twice"),
])
def test_zip_entries_outside_the_export_or_twice_are_refused(entry: str, why: str, tmp_path: Path) -> None:
    export = make_export(tmp_path / "export", channels=2, days=2, messages_per_day=3)
    zip_path = tmp_path / "export.zip"
    files = sorted(p for p in export.rglob("*") if p.is_file())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name, as it should
        with zipfile.ZipFile(zip_path, "w") as z:
            for p in files:
                z.write(p, p.relative_to(export).as_posix())
            name = files[-1].relative_to(export).as_posix() if entry == "DUPLICATE" else entry
            z.writestr(name, outside_day(tmp_path / "outside").read_text())
    workdir = tmp_path / "work"
    r = run_cli("run", str(write_config(tmp_path / "c.toml", zip_path, workdir=workdir)), "--progress", "none")
    assert r.code == 2, r.err[-3000:]
    line = last_line(r.err)
    assert f'"{name}" {why}' in line, line
    assert OUTSIDE_TEXT not in index_text(workdir)


# --- restricted Jira comments ---------------------------------------------------------------------------


@pytest.mark.parametrize("include", [False, True])
def test_restricted_comments_stay_out_unless_asked_for(include: bool, services: Callable[..., Any],
                                                       tmp_path: Path) -> None:
    jira = jira_fake(services, projects={"SUBS": 3})
    key = jira.issue_keys("SUBS")[0]
    jira.edit(key, comment="ADMINSonly budget figures", comment_visibility={"type": "role", "value": "Administrators"})
    jira.edit(key, comment="everyone may read this")
    config, workdir = write_all(tmp_path, jira, source=f"include_restricted = {str(include).lower()}\n")
    r = run(config)
    assert r.code == 0, r.err[-3000:]
    with sqlite3.connect(workdir / "index.sqlite") as db:
        chunks = [json.loads(md) for (md,) in db.execute("SELECT metadata FROM vectors")]
    mine = [c for c in chunks if c["doc_id"] == f"jira:{key}"]
    text = "\n".join(c["text"] for c in mine)
    assert "everyone may read this" in text
    assert ("ADMINSonly" in text) == include, text
    assert all(c.get("visibility") == (["role:Administrators"] if include else None) for c in mine), mine
    others = [c for c in chunks if c["doc_id"] != f"jira:{key}"]
    assert others and all("visibility" not in c for c in others)
