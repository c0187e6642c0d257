"""Ctrl-C during Pipeline.run() raises KeyboardInterrupt within a second, and a rerun resumes.
Pipeline.cancel() from another thread stops a run the same way."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import backfill
from conftest import ROOT, index_ids, make_export, run_cli, write_config

CHILD = textwrap.dedent("""
    import sys, time
    import backfill
    phases = []
    def progress(p):
        if not phases or phases[-1] != p["phase"]:
            phases.append(p["phase"])
            print("phase", p["phase"], flush=True)
    p = backfill.Pipeline.from_config(sys.argv[1], progress=progress)
    try:
        p.run()
    except KeyboardInterrupt:
        print("KeyboardInterrupt", time.monotonic(), flush=True)
        sys.exit(42)
    print("finished", flush=True)
""")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_export(tmp_path_factory.mktemp("sigint") / "export", channels=3, days=8, messages_per_day=10)


@pytest.mark.parametrize(
    "slow", ["fetch.page_committed=*:sleep(60)", "ingest.batch_committed=*:sleep(300)"], ids=["fetch", "ingest"]
)
def test_sigint_raises_keyboardinterrupt_promptly_and_rerun_resumes(slow: str, export: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", export, workdir=tmp_path / "wd")
    import os

    env = dict(os.environ, BACKFILL_FAILPOINTS=slow)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(config)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    phase = slow.split(".")[0]
    for line in proc.stdout:  # wait until the slowed phase has begun
        if line.strip() == f"phase {phase}":
            break
    else:
        raise AssertionError(f"the child never reached {phase}: {proc.stderr.read() if proc.stderr else ''}")
    time.sleep(0.3)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 42, (proc.returncode, out, err)
    (line,) = [ln for ln in out.splitlines() if ln.startswith("KeyboardInterrupt")]
    raised_at = float(line.split()[1])
    assert raised_at - sent < 1.0, f"KeyboardInterrupt came {raised_at - sent:.2f} s after SIGINT"

    r = run_cli("run", str(config), "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["verify"]["ok"] is True
    if slow.startswith("fetch"):
        assert 0 < report["fetch"]["pages_fetched"] < report["fetch"]["pages_total"]
    else:
        assert report["fetch"]["pages_fetched"] == 0
        assert report["ingest"]["documents_unchanged"] > 0


def test_interrupt_main_in_process(tmp_path: Path, export: Path) -> None:
    """The same through _thread.interrupt_main(), in this interpreter."""
    import _thread

    p = backfill.Pipeline(backfill.SlackExport(export), name="x", workdir=tmp_path / "wd", progress="none")
    p.fetch()
    # make ingest slow enough to interrupt: many tiny chunks
    p2 = backfill.Pipeline(
        backfill.SlackExport(export),
        name="x",
        workdir=tmp_path / "wd",
        chunking=backfill.Chunking(target_tokens=8, overlap_tokens=1),
        batch_records=1,
        progress="none",
    )
    timer = threading.Timer(0.05, _thread.interrupt_main)
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        p2.ingest()  # thousands of tiny fsync'd batches: seconds of work, interrupted after 50 ms
    assert time.monotonic() - started < 1.0
    timer.join()


def test_cancel_from_another_thread(tmp_path: Path, export: Path) -> None:
    p = backfill.Pipeline(
        backfill.SlackExport(export),
        name="x",
        workdir=tmp_path / "wd",
        chunking=backfill.Chunking(target_tokens=8, overlap_tokens=1),
        batch_records=1,
        progress="none",
    )
    p.fetch()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            p.ingest()
        except BaseException as e:  # noqa: BLE001 - the test inspects it
            errors.append(e)

    t = threading.Thread(target=work)
    t.start()
    time.sleep(0.05)
    p.cancel()
    t.join(timeout=10)
    assert not t.is_alive()
    assert errors and isinstance(errors[0], backfill.Cancelled), errors
    # and a rerun finishes the job
    p.ingest()
    assert p.verify().ok
    assert len(index_ids(tmp_path / "wd" / "index.sqlite")) > 0


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_the_cli_like_ctrl_c(sig: signal.Signals, code: int, export: Path,
                                                     tmp_path: Path) -> None:
    import os

    config = write_config(tmp_path / "c.toml", export, workdir=tmp_path / "wd")
    env = dict(os.environ, BACKFILL_FAILPOINTS="ingest.batch_committed=*:sleep(300)")
    proc = subprocess.Popen([sys.executable, "-m", "backfill", "run", str(config), "--progress", "log"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.monotonic() + 60
    while not (tmp_path / "wd" / "index.sqlite").exists():  # the ingest has written its first batch
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 5
    assert proc.returncode == code, err
    last = err.strip().splitlines()[-1]
    assert sig.name in last and "run the same command to resume" in last

    r = run_cli("run", str(config), "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["ingest"]["documents_unchanged"] > 0
