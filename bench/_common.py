"""What the benchmark scripts share: the machine they ran on, the versions they measured, CPU
accounting from the kernel (of this process, of another process, of the whole machine) and a child
process runner that reports the child's own CPU time and peak RSS (``os.wait4``'s rusage).

Nothing here times anything by itself; every figure comes from the OS's accounting:

    machine_busy_seconds()       CPU seconds the whole machine spent busy, all cores (/proc/stat)
    cpu_seconds(pid)             CPU seconds of one process, all its threads (its CPU clock)
    run_child(cmd)               wall time, user/system CPU and peak RSS of one child process
    wait_for_quiet(max_wait)     waits for the rest of a shared machine to calm down
    byte_compile_backfill(dir)   the .pyc files a pip install of the wheel would have written
    Scratch()                    fresh directories for the runs, all removed when the benchmark ends
    host_info(), versions(...)   what goes at the top of every result file
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
_T = TypeVar("_T")


def no_proxy_for_loopback() -> None:
    """Clients must reach 127.0.0.1 directly, whatever proxy the environment names."""
    for var in ("no_proxy", "NO_PROXY"):
        os.environ[var] = ",".join(x for x in ("127.0.0.1,localhost", os.environ.get(var, "")) if x)


# --- CPU accounting -------------------------------------------------------------------------------


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time of a process (all its threads), in seconds: its kernel CPU clock, else /proc/PID/stat."""
    try:
        return time.clock_gettime(((~pid) << 3) | 2)  # MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)
    except OSError:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int | None = None) -> float:
    """Current resident set of a process (default: this one), MB (10^6 bytes)."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    return 0.0


def wait_for_quiet(max_wait: float, threshold: float = 0.25) -> tuple[float, float]:
    """Waits (up to max_wait s) until the rest of the machine uses under `threshold` cores, measured
    over 0.5 s while the benchmark is idle. Returns (seconds waited, cores busy at the last look)."""
    start = time.perf_counter()
    while True:
        b0, t0 = machine_busy_seconds(), time.perf_counter()
        time.sleep(0.5)
        busy = (machine_busy_seconds() - b0) / (time.perf_counter() - t0)
        waited = time.perf_counter() - start
        if busy < threshold or waited >= max_wait:
            return waited, busy


def rotated(contenders: Sequence[_T], r: int) -> list[_T]:
    """The order of round `r` (from 0): the contenders turned left by r, so that none always runs first."""
    k = r % len(contenders)
    return [*contenders[k:], *contenders[:k]]


def round_entry(r: int, order: list[str], waited: float, busy: float) -> dict[str, Any]:
    """What a result file keeps of round `r` (from 0): its order and the wait for a quiet machine before it."""
    return {"round": r + 1, "order": order, "waited_seconds": round(waited, 1),
            "machine_cores_busy_before": round(busy, 2)}


def alternating_rounds(contenders: Sequence[str], repetitions: int, quiet_wait: float,
                       run_one: Callable[[str, int], dict[str, Any]], rate: str
                       ) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Runs every contender once a round for `repetitions` rounds, each round in rotated() order after
    a wait for a quiet machine. run_one(contender, round from 0) returns the run's dict. Returns each
    contender's runs and the rounds' entries (round_entry() with each contender's run[rate])."""
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in contenders}
    rounds = []
    for r in range(repetitions):
        waited, busy = wait_for_quiet(quiet_wait)
        order = rotated(contenders, r)
        entry = round_entry(r, order, waited, busy)
        for c in order:
            run = run_one(c, r)
            runs[c].append(run)
            entry[c] = run[rate]
        rounds.append(entry)
    return runs, rounds


def median(values: Iterable[float]) -> float:
    v = list(values)
    return statistics.median(v) if v else float("nan")


def spread_percent(values: Sequence[float]) -> float:
    """(max - min) / median, in percent."""
    m = median(values)
    return (max(values) - min(values)) / m * 100 if values and m else 0.0


@dataclass
class ChildRun:
    """One child process, measured by the kernel: wall time from start to exit, its own CPU time
    (user + system, all its threads, and any process it waited for) and its peak resident set."""

    cmd: list[str]
    returncode: int
    wall_seconds: float
    user_seconds: float
    system_seconds: float
    max_rss_mb: float       # ru_maxrss (KiB on Linux) in MB of 10^6 bytes
    stdout: str
    stderr: str
    other_cpu_seconds: float  # the rest of the machine (all cores) meanwhile, less this child
    rss_source: str = "GNU time"

    @property
    def cpu_seconds(self) -> float:
        return self.user_seconds + self.system_seconds

    def as_dict(self) -> dict[str, Any]:
        return {"wall_seconds": round(self.wall_seconds, 3), "cpu_seconds": round(self.cpu_seconds, 3),
                "user_seconds": round(self.user_seconds, 3), "system_seconds": round(self.system_seconds, 3),
                "max_rss_mb": round(self.max_rss_mb, 1), "returncode": self.returncode,
                "other_cpu_seconds": round(self.other_cpu_seconds, 3), "rss_source": self.rss_source}


TIME = "/usr/bin/time"  # GNU time (Debian package `time`)


def run_child(cmd: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | os.PathLike[str] | None = None,
              timeout: float | None = None) -> ChildRun:
    """Runs cmd to its end and returns what the kernel accounted to it (os.wait4's rusage of that one
    child). stdout and stderr go through temporary files, so a chatty child never blocks on a pipe.

    The peak RSS comes from GNU time, which runs cmd as its own child: Linux carries a process's RSS
    high-water mark across exec (into ru_maxrss), and a child that a big Python process forks or
    vforks starts with that process's peak. GNU time is a ~2 MB process, so its child's ru_maxrss
    is the command's own. Without /usr/bin/time the figure is a floor of this process's RSS (flagged)."""
    timed = os.access(TIME, os.X_OK)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(prefix="bench-time-", suffix=".txt") as tfile:
        argv = [TIME, "-f", "%M", "-o", tfile.name, *cmd] if timed else list(cmd)
        m0, t0 = machine_busy_seconds(), time.perf_counter()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=dict(env) if env else None,
                             cwd=cwd)
        deadline = None if timeout is None else t0 + timeout
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                p.kill()
                pid, status, usage = os.wait4(p.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        m1 = machine_busy_seconds()
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
        max_rss_kib = usage.ru_maxrss
        if timed:
            lines = Path(tfile.name).read_text().split()
            if lines and lines[-1].isdigit():
                max_rss_kib = int(lines[-1])  # the command's own ru_maxrss, from GNU time's wait4
    cpu = usage.ru_utime + usage.ru_stime  # of GNU time and the command it waited for
    return ChildRun(list(cmd), p.returncode, wall, usage.ru_utime, usage.ru_stime, max_rss_kib * 1024 / 1e6,
                    stdout, stderr, max(0.0, (m1 - m0) - cpu), rss_source="GNU time" if timed else "wait4 (floor)")


# --- the machine and the versions -----------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) * 1024 / 1e9, 1)
    except OSError:
        pass
    return 0.0


def host_info() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "cpu": cpu_model(), "memory_gb": memory_gb(), "kernel": platform.release(),
            "machine": platform.machine(), "system": platform.platform(), "python": platform.python_version(),
            "hostname": platform.node()}


def git_commit(short: bool = True) -> str:
    try:
        args = ["git", "-C", str(ROOT), "rev-parse", *(["--short"] if short else []), "HEAD"]
        return subprocess.run(args, check=False, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def versions(*dists: str) -> dict[str, str]:
    """Installed versions of the named distributions (missing ones are left out), and backfill's commit."""
    out: dict[str, str] = {}
    for dist in ("backfill", *dists):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    commit = git_commit()
    if commit:
        out["backfill_commit"] = commit
    return out


def backfill_install(python: str) -> dict[str, str]:
    """What `python` runs as backfill: its version, where the package is, and whether it is the wheel installed
    by pip (scripts/bench_venv.sh: what users run) or an editable install of the source tree (a developer's
    build). Asked of that interpreter itself, so a contender's record says which backfill it measured."""
    code = ("import importlib.metadata as m, json, backfill\n"
            "d = m.distribution('backfill')\n"
            "editable = any(f.name.endswith('.pth') or 'editable' in f.name for f in (d.files or []))\n"
            "print(json.dumps({'version': d.version, 'package': backfill.__path__[0],"
            " 'kind': 'editable' if editable else 'wheel'}))")
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True).stdout
    return {"python": python, **json.loads(out)}


def curl_version() -> str:
    curl = shutil.which("curl")
    if not curl:
        return ""
    first = subprocess.run([curl, "--version"], check=False, capture_output=True, text=True).stdout.split("\n")[0]
    return first.split(" ")[1] if first.startswith("curl ") else first


def now_utc() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class Scratch:
    """Fresh directories for the runs of one benchmark, all removed together when it ends, not one
    after each run. A run's files deleted seconds before the next run's are created make the next
    run pay for them on ext4 without a journal (this benchmark machine's root filesystem, and some
    container images): the inode allocator then skips inodes freed in the last 30 seconds
    (`recently_deleted` in fs/ext4/ialloc.c), reading each candidate's inode table block. A
    contender that creates many files (backfill journals a file a page) then spends a fifth of its
    CPU in `openat` (perf, bench/github_bench.py), a cost that a run on a journaled filesystem, or
    in a fresh container, does not pay."""

    def __init__(self, prefix: str, base: str | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
        self._n = 0

    def new(self, name: str = "run") -> Path:
        self._n += 1
        d = self.root / f"{self._n:04d}-{name}"
        d.mkdir()
        return d

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Scratch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def byte_compile_backfill(package_dir: Path | None = None) -> list[Path]:
    """Writes the bytecode of the backfill package (the installed one, or the one in `package_dir`),
    as pip does when it installs the wheel: a user's `backfill` starts from .pyc files, and so do the
    reference's pip-installed libraries. Without them (a source tree, an editable install, and
    PYTHONDONTWRITEBYTECODE set as on some CI machines) every run compiles every module again, about
    40 ms of CPU a run that no installed copy pays."""
    import compileall
    import importlib.util

    if package_dir is not None:
        compileall.compile_dir(str(package_dir), quiet=1)
        return [package_dir]
    spec = importlib.util.find_spec("backfill")
    assert spec is not None and spec.submodule_search_locations, "backfill is not installed"
    dirs = [Path(d) for d in spec.submodule_search_locations]  # an editable install: the sources too
    for d in dirs:
        compileall.compile_dir(str(d), quiet=1)
    return dirs
