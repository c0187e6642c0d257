#!/usr/bin/env python3
"""A fast static HTTP server on 127.0.0.1 for the benchmarks: nginx from Debian's packages.

nginx runs in the foreground of a temporary directory of its own (config, logs, pid, temp paths and
the files it serves), with one worker process, so that on a 2-core machine one core is left to the
client being measured (StaticServer(cpu=N) pins the worker to CPU N); keep-alive is on and unbounded in requests, the access log is off and the
files are served with sendfile from the page cache. It serves

    /small.json   a ~1 KB JSON document
    /large.json   a ~1 MB JSON document

Use it as a context manager (``with StaticServer() as s: s.url("small")``), or run this file to
serve until Ctrl-C. nginx is installed with apt-get when missing (needs root or sudo); when that is
impossible, NginxUnavailable says why.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_seconds  # noqa: E402  (re-exported: http_bench imports it from here)

SMALL_BYTES = 1024
LARGE_BYTES = 1024 * 1024


class NginxUnavailable(RuntimeError):
    """nginx is not installed and cannot be installed here."""


def find_nginx() -> str | None:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def can_install_nginx() -> tuple[bool, str]:
    """Whether ensure_nginx() can install nginx here, and if not, why not."""
    if shutil.which("apt-get") is None:
        return False, "nginx is not installed and there is no apt-get to install it"
    if os.geteuid() != 0 and shutil.which("sudo") is None:
        return False, "nginx is not installed and installing it needs root or sudo"
    return True, ""


def ensure_nginx() -> str:
    """The path of nginx, installing Debian's package quietly when it is missing."""
    found = find_nginx()
    if found:
        return found
    ok, why = can_install_nginx()
    if not ok:
        raise NginxUnavailable(why)
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    # RUNLEVEL=1: the package's maintainer scripts must not start a system nginx on port 80.
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", RUNLEVEL="1")
    print("static_server: installing nginx (apt-get)", file=sys.stderr)
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx"]):
        p = subprocess.run(sudo + cmd, check=False, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            tail = "\n".join((p.stdout + p.stderr).splitlines()[-20:])
            raise NginxUnavailable(f"{' '.join(cmd)} failed:\n{tail}")
    found = find_nginx()
    if not found:
        raise NginxUnavailable("apt-get installed nginx, but no nginx binary was found")
    return found


def _json_document(target: int) -> bytes:
    """A JSON array of records, padded to exactly `target` bytes."""
    parts: list[str] = []
    size = 2  # the brackets
    pad_record = len('{"pad":""}') + 1
    while True:
        i = len(parts)
        record = json.dumps({"id": f"doc-{i:07d}", "title": f"Document {i}", "score": (i * 7919) % 1000 / 10,
                             "tags": ["alpha", "beta", "gamma"][: 1 + i % 3],
                             "text": "lorem ipsum dolor sit amet " * 2}, separators=(",", ":"))
        if size + len(record) + 1 + pad_record > target:
            break
        size += len(record) + (1 if parts else 0)
        parts.append(record)
    parts.append('{"pad":"' + "x" * (target - size - pad_record + (0 if parts else 1)) + '"}')
    data = ("[" + ",".join(parts) + "]").encode()
    assert len(data) == target, (len(data), target)
    json.loads(data)
    return data


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(x) for x in text.split()]
    except OSError:
        out = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
                    out.append(int(entry.name))
        return out


CONFIG = """\
worker_processes 1;
{affinity}daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;

events {{
  worker_connections 1024;
  multi_accept on;
}}

http {{
  access_log off;
  client_body_temp_path {dir}/tmp/client_body;
  proxy_temp_path {dir}/tmp/proxy;
  fastcgi_temp_path {dir}/tmp/fastcgi;
  uwsgi_temp_path {dir}/tmp/uwsgi;
  scgi_temp_path {dir}/tmp/scgi;
  types {{ application/json json; }}
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 600s;
  keepalive_requests 100000000;
  open_file_cache max=16 inactive=600s;
  open_file_cache_valid 600s;
  gzip off;
  server_tokens off;

  server {{
    listen 127.0.0.1:{port} backlog=1024;
    server_name localhost;
    root {dir}/www;
    location / {{ }}
  }}
}}
"""


class StaticServer:
    """nginx serving /small.json and /large.json on 127.0.0.1; start() ... stop()."""

    FILES: ClassVar[dict[str, tuple[str, int]]] = {"small": ("small.json", SMALL_BYTES), "large": ("large.json", LARGE_BYTES)}

    def __init__(self, cpu: int | None = None) -> None:
        """`cpu`: pin nginx's worker to this CPU (None: let the scheduler place it)."""
        self.cpu = cpu
        self.dir: Path | None = None
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.worker_pid = 0
        self.version = ""

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{self.FILES[name][0]}"

    def size(self, name: str) -> int:
        return self.FILES[name][1]

    def start(self) -> StaticServer:
        nginx = ensure_nginx()
        v = subprocess.run([nginx, "-v"], check=False, capture_output=True, text=True)
        self.version = (v.stderr or v.stdout).strip().rpartition("/")[2]
        self.dir = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
        # Workers run as an unprivileged user when the master is root: let them read the files.
        self.dir.chmod(0o755)
        (self.dir / "www").mkdir(mode=0o755)
        (self.dir / "tmp").mkdir(mode=0o755)
        for name, size in self.FILES.values():
            path = self.dir / "www" / name
            path.write_bytes(_json_document(size))
            path.chmod(0o644)
        last_error = ""
        for _ in range(5):  # the free port may be taken between the probe and nginx's bind
            self.port = _free_port()
            conf = self.dir / "nginx.conf"
            affinity = "" if self.cpu is None else f"worker_cpu_affinity 1{'0' * self.cpu};\n"
            conf.write_text(CONFIG.format(dir=self.dir, port=self.port, affinity=affinity))
            self.proc = subprocess.Popen([nginx, "-p", str(self.dir), "-e", str(self.dir / "error.log"),
                                          "-c", str(conf)], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._wait_ready():
                return self
            last_error = self._stop_process()
        self.stop()
        raise RuntimeError(f"nginx did not start: {last_error}")

    def _wait_ready(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                        self.url("small"), timeout=1) as r:
                    if r.status == 200 and len(r.read()) == SMALL_BYTES:
                        workers = _children(self.proc.pid)
                        if len(workers) == 1:
                            self.worker_pid = workers[0]
                            return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def _stop_process(self) -> str:
        err = ""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGQUIT)  # graceful shutdown
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            err = self.proc.stderr.read().decode(errors="replace").strip() if self.proc.stderr else ""
            if self.proc.stderr:
                self.proc.stderr.close()
            if self.dir is not None and (self.dir / "error.log").exists():
                err = (err + "\n" + (self.dir / "error.log").read_text(errors="replace")).strip()
            self.proc = None
        return err

    def stop(self) -> None:
        self._stop_process()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> StaticServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _raise_interrupt)  # stop nginx and remove its directory on SIGTERM too
    with StaticServer() as server:
        print(f"nginx {server.version} (worker pid {server.worker_pid}) serving", flush=True)
        for key in StaticServer.FILES:
            print(f"  {server.url(key)}  ({server.size(key)} bytes)", flush=True)
        print("Ctrl-C stops it", flush=True)
        try:
            while server.proc is not None and server.proc.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
