"""What every `backfill` command pays before it starts: the imports of `import backfill` and the CLI.
Modules the start does not need stay out of it (each costs milliseconds at every start), adapters
the config does not name among them."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from backfill.receipts import write_receipt

# Standard modules the start once imported for one call each (uuid4, gethostname, mkstemp); each
# pulls in others (platform, array, shutil, random, bz2, lzma).
NOT_AT_START = ("uuid", "platform", "socket", "tempfile", "shutil", "random", "html")
# Adapters: a command imports the ones its config names (the local index and the hash embedder are
# the defaults, always imported).
ADAPTERS = ("backfill.sources.github", "backfill.sources.jira", "backfill.sources.python",
            "backfill.sources.slack_api", "backfill.sources.slack_export", "backfill.sinks.pgvector",
            "backfill.sinks.pinecone", "backfill.sinks.python", "backfill.embedders.openai",
            "backfill.embedders.python")


def test_the_cli_starts_without_modules_it_does_not_need() -> None:
    code = "import sys, backfill.cli; print(sorted(m for m in sys.argv[1:] if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code, *NOT_AT_START], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.replace("'", '"')) == []


def imported_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {ADAPTERS!r} if m in sys.modules))"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()


def test_a_command_imports_only_the_adapters_its_config_names(tmp_path: Path) -> None:
    assert imported_after("import backfill.cli") == []
    config = tmp_path / "c.toml"
    config.write_text("""
        [source]
        type = "jira"
        url = "https://example.atlassian.net"
        email = "a@example.com"
        token = "t"
        projects = ["P"]
        [embedder]
        type = "openai"
        model = "text-embedding-3-small"
        api_key = "k"
        [sink]
        type = "pinecone"
        host = "https://i-abc.svc.pinecone.io"
        api_key = "k"
        """.replace("\n        ", "\n"))
    assert imported_after(f"from backfill import load_config; load_config({str(config)!r})") == [
        "backfill.sources.jira", "backfill.sinks.pinecone", "backfill.embedders.openai"]


def test_every_adapter_is_still_a_name_of_the_package_and_its_registry() -> None:
    import backfill
    from backfill.embedders import EMBEDDERS
    from backfill.sinks import SINKS
    from backfill.sources import SOURCES

    for registry in (SOURCES, SINKS, EMBEDDERS):
        for kind in registry:
            cls = registry[kind]  # the registry checks the class's own `type`
            assert getattr(backfill, cls.__name__) is cls
            assert cls.__name__ in dir(backfill) and cls.__name__ in backfill.__all__
    assert sorted(SOURCES) == ["github", "jira", "python", "slack", "slack_export"]
    assert sorted(SINKS) == ["local", "pgvector", "pinecone", "python"]
    assert sorted(EMBEDDERS) == ["hash", "openai", "python"]
    assert backfill.Document.__module__ == "backfill.sources.python"


def test_a_receipt_is_written_private_and_whole(tmp_path: Path) -> None:
    path = write_receipt(tmp_path, {"ok": True, "text": "é"})
    assert json.loads(path.read_text(encoding="utf-8")) == {"ok": True, "text": "é"}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    again = write_receipt(tmp_path, {"ok": False})
    assert again != path and json.loads(again.read_text()) == {"ok": False}
