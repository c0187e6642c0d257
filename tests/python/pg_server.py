"""A throwaway PostgreSQL server with pgvector for the pgvector sink's tests and benchmark.

``start()`` runs initdb into a temporary folder and starts ``postgres`` on 127.0.0.1 at a free port
(password authentication, scram-sha-256); ``stop()`` stops it and removes the folder. initdb and
postgres refuse to run as root: under root they run as the ``postgres`` user (``runuser``), or as
``nobody`` when there is none. The binaries come from ``$BACKFILL_PG_BIN`` or Debian's
``/usr/lib/postgresql/<version>/bin``; scripts/setup.sh installs them and pgvector.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

USER = "backfill"
PASSWORD = "s3cret-Pa55word-never-shown"
DATABASE = "backfill_test"


def bin_dir() -> Path | None:
    """The folder of initdb/postgres/psql, or None when PostgreSQL is not installed."""
    given = os.environ.get("BACKFILL_PG_BIN")
    candidates = [given] if given else sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "postgres").exists():
            return Path(c)
    return None


def has_pgvector(bindir: Path) -> bool:
    sharedir = subprocess.run([str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True).stdout.strip()
    return bool(sharedir) and Path(sharedir, "extension", "vector.control").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    bindir: Path
    root: Path
    port: int
    run_as: str | None  # the unprivileged user under root, else None
    options: str = ""  # the postgres command line's settings, for crash_and_restart()

    def dsn(self, *, user: str = USER, password: str = PASSWORD, database: str = DATABASE) -> str:
        return f"postgresql://{quote(user)}:{quote(password, safe='')}@127.0.0.1:{self.port}/{database}"

    def _cmd(self, *args: str) -> list[str]:
        return (["runuser", "-u", self.run_as, "--"] if self.run_as else []) + list(args)

    def psql(self, sql: str, *, database: str = DATABASE, check: bool = True) -> str:
        """Runs `sql` as the superuser; returns psql's unaligned output."""
        env = dict(os.environ, PGPASSWORD=PASSWORD)
        p = subprocess.run([str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
                            "127.0.0.1", "-p", str(self.port), "-U", USER, "-d", database, "-c", sql],
                           env=env, capture_output=True, text=True)
        if check and p.returncode != 0:
            raise RuntimeError(f"psql failed: {p.stderr}")
        return p.stdout.strip()

    def crash_and_restart(self) -> None:
        """Stops the server as a crash would (immediate: no checkpoint, what was not flushed is lost) and
        starts it again on the same data, which replays the WAL."""
        data = str(self.root / "data")
        subprocess.run(self._cmd(str(self.bindir / "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"),
                       check=True, capture_output=True)
        subprocess.run(self._cmd(str(self.bindir / "pg_ctl"), "-D", data, "-l", str(self.root / "server.log"), "-o",
                                 self.options, "-w", "-t", "60", "start"), check=True, capture_output=True)

    def stop(self) -> None:
        subprocess.run(self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w",
                                 "stop"), capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def start(*, fsync: bool = False) -> Server:
    bindir = bin_dir()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL's initdb and postgres are not installed (scripts/setup.sh installs them)")
    run_as = None
    if os.geteuid() == 0:
        try:
            run_as = pwd.getpwnam("postgres").pw_name
        except KeyError:
            run_as = "nobody"
    root = Path(tempfile.mkdtemp(prefix="backfill-pg-"))
    (root / "pwfile").write_text(PASSWORD + "\n")
    if run_as:
        pw = pwd.getpwnam(run_as)
        os.chown(root, pw.pw_uid, pw.pw_gid)
        os.chown(root / "pwfile", pw.pw_uid, pw.pw_gid)
    server = Server(bindir, root, _free_port(), run_as)
    cmd = server._cmd
    log = root / "server.log"
    subprocess.run(cmd(str(bindir / "initdb"), "-D", str(root / "data"), "-U", USER, "--pwfile", str(root / "pwfile"),
                       "-A", "scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"),
                   check=True, capture_output=True)
    options = (f"-c listen_addresses=127.0.0.1 -c port={server.port} -c unix_socket_directories={root} "
               f"-c max_connections=100 -c fsync={'on' if fsync else 'off'}")
    if not fsync:
        options += " -c synchronous_commit=off -c full_page_writes=off"
    server.options = options
    p = subprocess.run(cmd(str(bindir / "pg_ctl"), "-D", str(root / "data"), "-l", str(log), "-o", options, "-w",
                           "-t", "60", "start"), capture_output=True, text=True)
    if p.returncode != 0:
        text = log.read_text() if log.exists() else p.stderr
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"postgres did not start: {text}")
    server.psql(f"CREATE DATABASE {DATABASE}", database="postgres")
    return server
