"""What every `backfill` command pays before it starts: the imports of `import backfill` and the CLI.
Modules the start does not need stay out of it (each costs milliseconds at every start)."""

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
NOT_AT_START = ("uuid", "platform", "socket", "tempfile", "shutil", "random")


def test_the_cli_starts_without_modules_it_does_not_need() -> None:
    code = "import sys, backfill.cli; print(sorted(m for m in sys.argv[1:] if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code, *NOT_AT_START], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.replace("'", '"')) == []


def test_a_receipt_is_written_private_and_whole(tmp_path: Path) -> None:
    path = write_receipt(tmp_path, {"ok": True, "text": "é"})
    assert json.loads(path.read_text(encoding="utf-8")) == {"ok": True, "text": "é"}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    again = write_receipt(tmp_path, {"ok": False})
    assert again != path and json.loads(again.read_text()) == {"ok": False}
