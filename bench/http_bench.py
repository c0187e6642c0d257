#!/usr/bin/env python3
"""HTTP benchmark: backfill's engine against a bare libcurl loop, requests and httpx, in one run.

Against nginx on 127.0.0.1 (bench/static_server.py), for concurrency 1 and 8, a ~1 KB file
(requests/s) and a ~1 MB file (MB/s, MB = 10^6 bytes of body):

    backfill.cpp      bench/engine_loop.cpp: the engine from C++, as the core uses it (submit N,
                      wait for each in order, recycle it), max_in_flight=C: the goal's row
    backfill          _testing.HttpClient.request_many(list of N requests), max_in_flight=C
    backfill.request  _testing.HttpClient.request() called N times in a row (concurrency 1 only)
    libcurl           bench/curl_loop.cpp: a bare multi-interface loop with C reused easy handles,
                      sending the engine's request (its User-Agent and Accept-Encoding lines)
    libcurl.bare      the same loop without those two lines (not run unless named in --clients)
    requests          a Session; for C=8, 8 workers on a ThreadPoolExecutor(8) sharing it
    httpx             a Client; for C=8, an AsyncClient driven by 8 concurrent tasks

Every client is created once, warmed up (its connections opened) and calibrated so that one
measurement takes about --seconds; then --repetitions rounds run every (file, concurrency) cell,
the clients back to back in an order that rotates each round, so that the ratios compare
measurements taken moments apart. Reported: medians over the rounds, and ratios as the median of
the per-round ratios. Timings are never asserted: this machine is shared and noisy, so the CPU
used by the client, by nginx's worker and by everything else on the machine is recorded too.

    .venv/bin/python bench/http_bench.py            # writes bench/results/http.json (and http.md)
    .venv/bin/python bench/http_bench.py --quick    # a smoke run: small N, one round
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _common import cpu_model, machine_busy_seconds, median, no_proxy_for_loopback, rotated, wait_for_quiet
from static_server import NginxUnavailable, StaticServer, cpu_seconds

SCHEMA = "backfill.bench.http/1"
ENGINE_CPP = "backfill.cpp"
ENGINE = "backfill"
ENGINE_SEQ = "backfill.request"
ENGINES = [ENGINE_CPP, ENGINE, ENGINE_SEQ]
BARE = "libcurl.bare"
CLIENTS = [ENGINE_CPP, ENGINE, ENGINE_SEQ, "libcurl", "requests", "httpx"]  # what runs by default
KNOWN_CLIENTS = CLIENTS + [BARE]
FILES = ["small", "large"]
CONCURRENCY = [1, 8]
GOAL_OVERHEAD_PERCENT = 20.0
SERVER_SATURATED_PERCENT = 90.0
LARGE_BATCH = 128  # request_many holds every body of its list: 1 MB bodies go in lists of this many

# The clients must talk to 127.0.0.1 directly, whatever proxy the environment names.
no_proxy_for_loopback()


def cells_for(concurrency: int) -> list[str]:
    return [c for c in KNOWN_CLIENTS if not (c == ENGINE_SEQ and concurrency != 1)]


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Sample:
    requests: int
    seconds: float
    bytes: int
    client_cpu: float  # CPU seconds of the client process (all its threads) while it ran
    server_cpu: float  # CPU seconds of nginx's worker in the same interval
    other_cpu: float   # CPU seconds of everything else on the machine (noise), same interval

    def as_dict(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 6),
            "bytes": self.bytes,
            "requests_per_second": round(self.requests / self.seconds, 3),
            "mb_per_second": round(self.bytes / 1e6 / self.seconds, 3),
            "client_cpu_us_per_request": round(self.client_cpu / self.requests * 1e6, 3),
            "client_cpu_percent": round(self.client_cpu / self.seconds * 100, 1),
            "server_cpu_percent": round(self.server_cpu / self.seconds * 100, 1),
            "other_cpu_percent": round(max(0.0, self.other_cpu) / self.seconds * 100, 1),
        }


class Runner:
    """One client at one concurrency against one URL; run(n) does n GETs and measures them."""

    name = ""

    def __init__(self, url: str, size: int, concurrency: int, server: StaticServer) -> None:
        self.url, self.size, self.concurrency, self.server = url, size, concurrency, server

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def check(self, status: int, body_len: int) -> None:
        if status != 200 or body_len != self.size:
            raise RuntimeError(f"{self.name}: GET {self.url} -> {status}, {body_len} bytes (expected 200, "
                               f"{self.size} bytes)")

    def transfer(self, n: int) -> int:
        """Does n GETs and returns the body bytes received."""
        raise NotImplementedError

    def get_loop(self, get: Callable[[str], Any], n: int) -> int:
        """n GETs one after the other with a client's blocking `get`, each checked; the body bytes."""
        received = 0
        url = self.url
        for _ in range(n):
            r = get(url)
            self.check(r.status_code, len(r.content))
            received += len(r.content)
        return received

    def run(self, n: int) -> Sample:
        worker = self.server.worker_pid
        s0, m0, c0, t0 = cpu_seconds(worker), machine_busy_seconds(), time.process_time(), time.perf_counter()
        received = self.transfer(n)
        t1, c1, m1, s1 = time.perf_counter(), time.process_time(), machine_busy_seconds(), cpu_seconds(worker)
        return Sample(n, t1 - t0, received, c1 - c0, s1 - s0, (m1 - m0) - (c1 - c0) - (s1 - s0))


def shares(n: int, k: int) -> list[int]:
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


class EngineMany(Runner):
    name = ENGINE

    def open(self) -> None:
        from backfill._core import _testing

        self.client = _testing.HttpClient(max_in_flight=self.concurrency, max_total_in_flight=64, rate=0.0,
                                       max_attempts=1)
        self.batch = LARGE_BATCH if self.size >= 1_000_000 else None
        self.requests: list[dict[str, str]] = []

    def run(self, n: int) -> Sample:
        if len(self.requests) < n:  # the caller's list exists before the call: not timed
            self.requests = [{"method": "GET", "url": self.url} for _ in range(n)]
        return super().run(n)

    def transfer(self, n: int) -> int:
        received = 0
        step = self.batch or n
        for start in range(0, n, step):
            responses = self.client.request_many(self.requests[start:min(n, start + step)])
            for r in responses:
                self.check(r["status"], len(r["body"]))
                received += len(r["body"])
            del responses
        return received

    def close(self) -> None:
        del self.client


class EngineSequential(Runner):
    name = ENGINE_SEQ

    def open(self) -> None:
        from backfill._core import _testing

        self.client = _testing.HttpClient(max_in_flight=self.concurrency, max_total_in_flight=64, rate=0.0,
                                       max_attempts=1)

    def transfer(self, n: int) -> int:
        received = 0
        request, url = self.client.request, self.url
        for _ in range(n):
            r = request("GET", url)
            self.check(r["status"], len(r["body"]))
            received += len(r["body"])
        return received

    def close(self) -> None:
        del self.client


class Subprocess(Runner):
    """A benchmark binary as a subprocess (curl_loop, engine_loop); it times itself, after opening
    its connections, and prints one JSON object."""

    binary: Path | None = None
    version = ""

    def args(self) -> list[str]:
        return []

    def run(self, n: int) -> Sample:
        assert self.binary is not None, f"{self.name}: its binary was not built"
        worker = self.server.worker_pid
        s0, m0, t0 = cpu_seconds(worker), machine_busy_seconds(), time.perf_counter()
        r0 = os.times()
        p = subprocess.run([str(self.binary), "--url", self.url, "--requests", str(n), "--concurrency",
                            str(self.concurrency), "--expect-bytes", str(self.size), "--watch-pid", str(worker),
                            *self.args()],
                           check=False, capture_output=True, text=True)
        r1 = os.times()
        t1, m1, s1 = time.perf_counter(), machine_busy_seconds(), cpu_seconds(worker)
        if p.returncode != 0:
            raise RuntimeError(f"{self.binary.name} failed ({p.returncode}): {p.stderr.strip()}")
        out = json.loads(p.stdout)
        Subprocess.version = out["curl_version"]
        # Noise over the whole subprocess: the machine's busy time less this process tree and nginx.
        tree = (r1.children_user + r1.children_system) - (r0.children_user + r0.children_system)
        other = ((m1 - m0) - tree - (s1 - s0)) * out["seconds"] / (t1 - t0)
        server = out["server_cpu_seconds"]
        return Sample(n, out["seconds"], out["bytes"], out["client_cpu_seconds"],
                      server if server is not None else 0.0, other)


class Libcurl(Subprocess):
    """bench/curl_loop, sending what the engine sends: its User-Agent line and libcurl's
    Accept-Encoding line (decoding on), both from a header list set once."""

    name = "libcurl"
    user_agent = ""  # the engine's, backfill/<version>

    def args(self) -> list[str]:
        return ["--user-agent", self.user_agent, "--compressed", "1"]


class LibcurlBare(Subprocess):
    """bench/curl_loop as bare as it gets: no User-Agent, no Accept-Encoding."""

    name = BARE


class EngineCpp(Subprocess):
    """bench/engine_loop: the engine driven from C++ (submit N, wait in order, recycle)."""

    name = ENGINE_CPP


class Requests(Runner):
    name = "requests"

    def open(self) -> None:
        import requests
        from requests.adapters import HTTPAdapter

        self.session = requests.Session()
        self.session.trust_env = False
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(10, self.concurrency))
        self.session.mount("http://", adapter)
        self.pool = ThreadPoolExecutor(self.concurrency) if self.concurrency > 1 else None

    def _loop(self, n: int) -> int:
        return self.get_loop(self.session.get, n)

    def transfer(self, n: int) -> int:
        if self.pool is None:
            return self._loop(n)
        futures = [self.pool.submit(self._loop, k) for k in shares(n, self.concurrency)]
        return sum(f.result() for f in futures)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
        self.session.close()


class Httpx(Runner):
    name = "httpx"

    def open(self) -> None:
        import httpx

        if self.concurrency == 1:
            self.client = httpx.Client(trust_env=False)
            return
        self.loop = asyncio.new_event_loop()

        async def make() -> Any:
            return httpx.AsyncClient(trust_env=False,
                                     limits=httpx.Limits(max_connections=self.concurrency,
                                                         max_keepalive_connections=self.concurrency))

        self.aclient = self.loop.run_until_complete(make())

    def transfer(self, n: int) -> int:
        if self.concurrency == 1:
            return self.get_loop(self.client.get, n)

        async def worker(k: int) -> int:
            received = 0
            get, url = self.aclient.get, self.url
            for _ in range(k):
                r = await get(url)
                self.check(r.status_code, len(r.content))
                received += len(r.content)
            return received

        async def all_workers() -> int:
            return sum(await asyncio.gather(*(worker(k) for k in shares(n, self.concurrency))))

        return self.loop.run_until_complete(all_workers())

    def close(self) -> None:
        if self.concurrency == 1:
            self.client.close()
        else:
            self.loop.run_until_complete(self.aclient.aclose())
            self.loop.close()


RUNNERS: dict[str, type[Runner]] = {ENGINE_CPP: EngineCpp, ENGINE: EngineMany, ENGINE_SEQ: EngineSequential,
                                    "libcurl": Libcurl, BARE: LibcurlBare, "requests": Requests, "httpx": Httpx}


# --- setup -------------------------------------------------------------------------------------


def _cmake_build(source: Path, build_dir: Path, options: list[str], target: str) -> Path:
    bindir = Path(sys.executable).parent
    cmake = str(bindir / "cmake") if (bindir / "cmake").exists() else shutil.which("cmake")
    if cmake is None:
        raise SystemExit(f"http_bench: cmake is needed to build {target} (run `make setup`)")
    ninja = str(bindir / "ninja") if (bindir / "ninja").exists() else shutil.which("ninja")
    configure = [cmake, "-S", str(source), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=Release", *options]
    if ninja and not (build_dir / "CMakeCache.txt").exists():
        configure += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"]
    for cmd in (configure, [cmake, "--build", str(build_dir), "--target", target]):
        p = subprocess.run(cmd, check=False, capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"http_bench: {' '.join(cmd)} failed:\n{p.stdout}\n{p.stderr}")
    return build_dir / target


def build_curl_loop(build_dir: Path) -> Path:
    """Builds bench/curl_loop.cpp (a standalone CMake project) and returns the executable."""
    return _cmake_build(HERE, build_dir, [], "curl_loop")


def build_engine_loop(build_dir: Path) -> Path:
    """Builds bench/engine_loop.cpp with the core (the main project, Release, without Python and
    tests; the first build compiles the core, a few minutes) and returns the executable."""
    return _cmake_build(ROOT, build_dir, ["-DBACKFILL_BUILD_BENCH=ON", "-DBACKFILL_BUILD_PYTHON=OFF",
                                          "-DBACKFILL_BUILD_TESTS=OFF"], "engine_loop")


def check_clients(names: list[str]) -> dict[str, str]:
    """Versions of the clients to compare; exits with a clear message when one is missing."""
    versions: dict[str, str] = {}
    missing = []
    for name in names:
        if name in (ENGINE, ENGINE_SEQ, "libcurl"):
            try:
                import backfill
                from backfill import _core
                from backfill._core import _testing
            except ImportError as e:
                raise SystemExit(f"http_bench: backfill is not importable ({e}); run `make setup`") from e
            if not hasattr(_testing, "HttpClient"):
                raise SystemExit("http_bench: backfill._core._testing has no HttpClient: rebuild with `bash scripts/setup.sh`")
            versions["backfill"] = getattr(backfill, "__version__", getattr(_core, "__version__", "?"))
            Libcurl.user_agent = f"backfill/{getattr(_core, '__version__', versions['backfill'])}"
        elif name in ("requests", "httpx"):
            try:
                module = __import__(name)
                versions[name] = module.__version__
            except ImportError:
                missing.append(name)
    if missing:
        raise SystemExit(f"http_bench: missing Python packages {', '.join(missing)}: "
                         f"{sys.executable} -m pip install -r bench/requirements.txt")
    return versions


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Cell:
    file: str
    concurrency: int
    client: str
    runner: Runner
    n: int = 0


def calibrate(cell: Cell, quick: bool, target: float) -> None:
    """Warm-up (connections opened, caches filled) and the N that makes one measurement ~target s."""
    large = cell.file == "large"
    if quick:
        cell.runner.run(max(cell.concurrency, 4 if large else 20))
        cell.n = max(2 * cell.concurrency, 8 if large else 40)
        return
    n = max(2 * cell.concurrency, 16 if large else 200)
    for _ in range(3):  # grow until a warm-up run lasts long enough to estimate the rate
        sample = cell.runner.run(n)
        if sample.seconds >= target / 4:
            break
        n = int(n * min(20.0, max(2.0, target / 4 / max(sample.seconds, 1e-4))))
    rate = sample.requests / sample.seconds
    lo, hi = (16, 5_000) if large else (200, 200_000)
    cell.n = max(lo, min(hi, int(rate * target)))
    cell.n += -cell.n % cell.concurrency  # an even share per worker


def pin_cpus(pin: bool) -> dict[str, Any]:
    """Pins this process (and so every client thread and subprocess started later) to all CPUs but
    the last, which nginx's worker gets: the two sides never compete for a core, and a request's
    round trip always crosses cores instead of sometimes (the scheduler's choice, which changes the
    latency at concurrency 1 several times over on a VM)."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return {"server_cpu": None, "client_cpus": cpus}
    os.sched_setaffinity(0, cpus[:-1])
    return {"server_cpu": cpus[-1], "client_cpus": cpus[:-1]}


def summarize(cell: Cell, samples: list[Sample], retried: int, noisy_cores: float) -> dict[str, Any]:
    reps = [s.as_dict() for s in samples]
    keys = ["requests_per_second", "mb_per_second", "client_cpu_us_per_request", "client_cpu_percent",
            "server_cpu_percent", "other_cpu_percent"]
    med = {k: round(median([r[k] for r in reps]), 3) for k in keys}
    rates = [r["requests_per_second"] for r in reps]
    return {
        "file": cell.file, "concurrency": cell.concurrency, "client": cell.client, "requests": cell.n,
        "median": med,
        "spread_percent": round((max(rates) - min(rates)) / med["requests_per_second"] * 100, 1),
        "server_saturated": med["server_cpu_percent"] >= SERVER_SATURATED_PERCENT,
        "samples_retried": retried,  # redone because the rest of the machine was busy
        "noisy_repetitions": sum(r["other_cpu_percent"] > noisy_cores * 100 for r in reps),
        "repetitions": reps,
    }


def paired_ratio(a: list[dict[str, Any]], b: list[dict[str, Any]], key: str) -> float:
    return median([x[key] / y[key] for x, y in zip(a, b) if y[key] > 0])


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {(r["file"], r["concurrency"], r["client"]): r for r in rows}
    out = []
    for f in FILES:
        for c in CONCURRENCY:
            for engine in ENGINES:
                e = by.get((f, c, engine))
                if e is None:
                    continue
                entry: dict[str, Any] = {"file": f, "concurrency": c, "engine": engine}
                base = by.get((f, c, "libcurl"))
                if base is not None:
                    # Per round: engine rate / libcurl rate; overhead = extra time per request.
                    speed = paired_ratio(e["repetitions"], base["repetitions"], "requests_per_second")
                    cpu = paired_ratio(e["repetitions"], base["repetitions"], "client_cpu_us_per_request")
                    entry["vs_libcurl"] = round(speed, 3)
                    entry["overhead_percent"] = round((1 / speed - 1) * 100, 1)
                    entry["cpu_per_request_vs_libcurl"] = round(cpu, 3)
                    entry["goal_met"] = entry["overhead_percent"] <= GOAL_OVERHEAD_PERCENT
                bare = by.get((f, c, BARE))
                if bare is not None:
                    entry["vs_libcurl_bare"] = round(
                        paired_ratio(e["repetitions"], bare["repetitions"], "requests_per_second"), 3)
                for other in ("requests", "httpx"):
                    o = by.get((f, c, other))
                    if o is not None:
                        entry[f"vs_{other}"] = round(
                            paired_ratio(e["repetitions"], o["repetitions"], "requests_per_second"), 2)
                out.append(entry)
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [("| file | C | client | N | req/s | MB/s | client CPU µs/req | client CPU % | nginx CPU % "
              "| other CPU % | spread % | redone |"),
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        m = r["median"]
        flag = " (saturated)" if r["server_saturated"] else ""
        lines.append(f"| {r['file']} | {r['concurrency']} | {r['client']} | {r['requests']} "
                     f"| {m['requests_per_second']:,.0f} | {m['mb_per_second']:,.1f} "
                     f"| {m['client_cpu_us_per_request']:,.1f} | {m['client_cpu_percent']:.0f} "
                     f"| {m['server_cpu_percent']:.0f}{flag} | {m['other_cpu_percent']:.0f} | {r['spread_percent']:.0f} "
                     f"| {r['samples_retried']} |")
    lines += ["", ("| file | C | engine | ÷ libcurl | overhead % (goal ≤ 20) | CPU/req ÷ libcurl "
                   "| × requests | × httpx |"), "|---|---:|---|---:|---:|---:|---:|---:|"]
    for q in result["ratios"]:
        goal = "" if "goal_met" not in q else (" ok" if q["goal_met"] else " **over**")
        lines.append(f"| {q['file']} | {q['concurrency']} | {q['engine']} | {q.get('vs_libcurl', float('nan')):.2f} "
                     f"| {q.get('overhead_percent', float('nan')):+.0f}{goal} "
                     f"| {q.get('cpu_per_request_vs_libcurl', float('nan')):.2f} "
                     f"| {q.get('vs_requests', float('nan')):.1f} | {q.get('vs_httpx', float('nan')):.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: small N, one round, no calibration")
    ap.add_argument("--repetitions", type=int, default=5, help="measured rounds (default 5; --quick: 1)")
    ap.add_argument("--seconds", type=float, default=1.0, help="target length of one measurement (default 1)")
    ap.add_argument("--clients", default=",".join(CLIENTS),
                    help=f"comma-separated subset of {','.join(KNOWN_CLIENTS)} (default: all but {BARE})")
    ap.add_argument("--files", default=",".join(FILES), help="comma-separated subset of small,large")
    ap.add_argument("--concurrency", default=",".join(map(str, CONCURRENCY)), help="comma-separated subset of 1,8")
    ap.add_argument("--quiet-wait", type=float, default=30.0,
                    help="before each group of cells, wait up to this many seconds for the rest of the machine "
                         "to go under a quarter of a core (default 30; 0 = never wait, never redo a sample)")
    ap.add_argument("--no-pin", action="store_true",
                    help="do not pin nginx's worker to the last CPU and the clients to the others")
    ap.add_argument("--noisy-cores", type=float, default=0.3,
                    help="a sample during which the rest of the machine used more cores than this is redone, "
                         "up to 3 times (default 0.3)")
    ap.add_argument("--engine-loop", type=Path,
                    help="a prebuilt bench/engine_loop for the backfill.cpp row (another commit's, to compare); "
                         "default: build it from this tree")
    ap.add_argument("--out", type=Path, help="results JSON (default bench/results/http.json; "
                                              "--quick: bench/results/http-quick.json)")
    args = ap.parse_args(argv)
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    files = [f.strip() for f in args.files.split(",") if f.strip()]
    try:
        concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    except ValueError:
        ap.error("--concurrency takes numbers: 1,8")
    unknown = (set(clients) - set(KNOWN_CLIENTS)) | (set(files) - set(FILES)) | {str(c) for c in concurrencies
                                                                           if c not in CONCURRENCY}
    if unknown or not clients or not files or not concurrencies:
        ap.error(f"unknown or no clients, files or concurrency: {', '.join(sorted(unknown))}")
    reps = 1 if args.quick else args.repetitions
    if reps < 1:
        ap.error("--repetitions must be at least 1")
    out = args.out or HERE / "results" / ("http-quick.json" if args.quick else "http.json")

    versions = check_clients(clients)
    curl_loop = build_curl_loop(ROOT / "build" / "bench") if {"libcurl", BARE} & set(clients) else None
    Libcurl.binary = LibcurlBare.binary = curl_loop
    if ENGINE_CPP in clients:
        EngineCpp.binary = args.engine_loop or build_engine_loop(ROOT / "build" / "bench-engine")
    started = time.perf_counter()
    pinning = pin_cpus(not args.no_pin)
    try:
        server = StaticServer(cpu=pinning["server_cpu"]).start()
    except NginxUnavailable as e:
        print(f"http_bench: no nginx: {e}", file=sys.stderr)
        return 2
    cells: list[Cell] = []
    rounds: list[dict[str, Any]] = []
    try:
        for f in files:
            for c in concurrencies:
                for name in cells_for(c):
                    if name in clients:
                        runner = RUNNERS[name](server.url(f), server.size(f), c, server)
                        runner.open()
                        cells.append(Cell(f, c, name, runner))
        print(f"http_bench: nginx {server.version} on 127.0.0.1:{server.port}; warming up {len(cells)} cells",
              file=sys.stderr, flush=True)
        for cell in cells:
            if not args.quick and args.quiet_wait > 0:
                wait_for_quiet(args.quiet_wait)
            calibrate(cell, args.quick, args.seconds)
        samples: dict[int, list[Sample]] = {id(cell): [] for cell in cells}
        groups: dict[tuple[str, int], list[Cell]] = {}
        for cell in cells:
            groups.setdefault((cell.file, cell.concurrency), []).append(cell)
        quiet_wait = 0.0 if args.quick else args.quiet_wait
        noisy = args.noisy_cores * 100
        retried = {id(cell): 0 for cell in cells}

        def measure(cell: Cell) -> None:
            """One sample of a cell; redone (after a wait for quiet, up to 3 times) when the rest of
            the machine took more than --noisy-cores meanwhile."""
            for attempt in range(4 if quiet_wait > 0 else 1):
                if attempt:
                    retried[id(cell)] += 1
                    wait_for_quiet(quiet_wait)
                sample = cell.runner.run(cell.n)
                if sample.as_dict()["other_cpu_percent"] <= noisy:
                    break
            samples[id(cell)].append(sample)

        for rep in range(reps):
            print(f"http_bench: round {rep + 1}/{reps}", file=sys.stderr, flush=True)
            for key, group in groups.items():
                if quiet_wait > 0:
                    waited, busy = wait_for_quiet(quiet_wait)
                    rounds.append({"round": rep + 1, "file": key[0], "concurrency": key[1],
                                   "waited_seconds": round(waited, 1), "machine_cores_busy_before": round(busy, 2)})
                    if waited >= 1:
                        print(f"http_bench:   waited {waited:.0f} s for the machine to calm down "
                              f"({busy:.2f} cores busy at the end)", file=sys.stderr, flush=True)
                for cell in rotated(group, rep):
                    measure(cell)
    finally:
        for cell in cells:
            try:
                cell.runner.close()
            except Exception as e:  # noqa: BLE001 - closing must not hide the run's own error
                print(f"http_bench: closing {cell.client}: {e}", file=sys.stderr)
        server.stop()

    rows = [summarize(cell, samples[id(cell)], retried[id(cell)], args.noisy_cores) for cell in cells]
    if Subprocess.version:
        versions["libcurl"] = Subprocess.version
    versions["nginx"] = server.version
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, "bench/http_bench.py", *(argv or sys.argv[1:])]),
        "quick": args.quick,
        "repetitions": reps,
        "target_seconds": args.seconds,
        "duration_seconds": round(time.perf_counter() - started, 1),
        "pinning": pinning,
        "rounds": rounds,
        "host": {"cpus": os.cpu_count(), "cpu": cpu_model(), "kernel": platform.release(),
                 "python": platform.python_version()},
        "versions": versions,
        "files": {f: {"path": server.url(f).rpartition("/")[2], "bytes": server.size(f)} for f in FILES},
        "rows": rows,
        "ratios": ratios(rows),
    }
    table = markdown(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(table + "\n")
    print(table)
    saturated = [f"{r['file']}/C={r['concurrency']}/{r['client']}" for r in rows if r["server_saturated"]]
    if saturated:
        print(f"\nwarning: nginx's worker was ≥{SERVER_SATURATED_PERCENT:.0f}% busy in {', '.join(saturated)}: "
              "there the server, not the client, may set the pace", file=sys.stderr)
    print(f"\nhttp_bench: wrote {out} ({result['duration_seconds']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
