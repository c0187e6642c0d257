#!/usr/bin/env python3
"""The pgvector sink's bulk load against LangChain's PGVector and psycopg 3 scripts, on one PostgreSQL.

    .venv/bin/python bench/pgvector_bench.py                 # 20,000 records x 768, 3 rounds (~3 min)
    .venv/bin/python bench/pgvector_bench.py --quick         # smoke run: what tests/python/test_bench_pgvector_smoke.py runs

A PostgreSQL 15 with pgvector is started in a temporary folder (tests/python/pg_server.py, fsync on,
the server's defaults otherwise) and stopped at the end. Every contender loads the same records
(id, vector, metadata dict with a chunk's text) into a fresh table of the sink's own layout (no
vector index), each in a child process that makes its records first and then times the load alone:
wall time and the process's user + system CPU (every thread). Contenders:

- ``backfill``: ``_core.PgvectorSink.upsert`` (a transaction per batch of at most 1,000 records, 4
  connections; into a fresh table the batches COPY straight in, the path of a first load; a batch
  meeting an existing id goes through a temporary table + INSERT ... ON CONFLICT), records handed
  over as Python dicts;
- ``langchain``: langchain-postgres's ``PGVector.add_embeddings(texts, embeddings, metadatas, ids)``
  with the precomputed vectors, as its documentation shows, 1,000 records a call (one multi-row
  ``INSERT ... ON CONFLICT`` through SQLAlchemy and psycopg 3 per call); its own tables
  (``langchain_pg_collection``, ``langchain_pg_embedding``: the text in ``document``, the rest of the
  metadata in ``cmetadata`` jsonb with the GIN index PGVector makes, no vector index), dropped and made
  again by ``PGVector(...)`` before each of its loads, outside the clock;
- ``psycopg-copy``: psycopg 3 + pgvector-python, one connection, ``COPY ... FROM STDIN (FORMAT
  BINARY)`` straight into the table with ``write_row`` (numpy float32 vectors, ``Jsonb``), the
  fastest load pgvector-python's README shows (it cannot upsert: a rerun would fail on the key);
- ``psycopg-executemany``: psycopg 3 ``executemany`` of ``INSERT ... ON CONFLICT DO UPDATE``
  (pipelined by psycopg), a commit per 1,000 rows.

Rounds rotate the order; each figure is a median over rounds; the ratio is the median of per-round
ratios. Separately, the vector index: the same load into a table with its HNSW index made first,
against the load into a bare table followed by CREATE INDEX (what the sink does for a new table).
Results: bench/results/pgvector.json; ``section(result)`` renders them for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))

CONTENDERS = ["backfill", "langchain", "psycopg-copy", "psycopg-executemany"]
WORDS = ("incident rollback deploy customer billing latency replica index failover migration queue alert "
         "dashboard runbook timeout retry cache shard tenant quota").split()


def make_records(n: int, dim: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        doc = f"jira:OPS-{i // 4}"
        text = " ".join(rng.choice(WORDS) for _ in range(120))
        out.append({"id": f"{doc}#{i % 4}", "values": [rng.uniform(-1, 1) for _ in range(dim)],
                    "metadata": {"doc_id": doc, "source": "jira", "title": f"OPS-{i // 4} {WORDS[i % len(WORDS)]}",
                                 "url": f"https://example.atlassian.net/browse/OPS-{i // 4}", "chunk": i % 4,
                                 "updated_at": "2026-11-30T10:00:00Z", "text": text}})
    return out


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def child(name: str, dsn: str, table: str, n: int, dim: int, batch: int) -> dict[str, float]:
    records = make_records(n, dim)
    if name == "backfill":
        from backfill import _core
        sink = _core.PgvectorSink(dsn=dsn, table=table, index="none", batch_size=batch, connections=4)
        sink.stats()  # connects and checks the table before the clock starts, as the peers connect first
        c0, t0 = cpu(), time.perf_counter()
        step = batch * 4
        written = sum(sink.upsert(records[i:i + step]) for i in range(0, n, step))
    elif name == "langchain":
        return langchain_load(dsn, records, dim, batch)
    else:
        import numpy as np
        import psycopg
        from pgvector.psycopg import register_vector
        from psycopg.types.json import Jsonb
        conn = psycopg.connect(dsn)
        register_vector(conn)
        c0, t0 = cpu(), time.perf_counter()
        written = 0
        if name == "psycopg-copy":
            with conn.cursor() as cur, cur.copy(f"COPY {table} (namespace, id, embedding, metadata, metadata_hash) "
                                                "FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["text", "text", "vector", "jsonb", "text"])
                for r in records:
                    meta = json.dumps(r["metadata"], sort_keys=True, separators=(",", ":"))
                    copy.write_row(("", r["id"], np.asarray(r["values"], dtype=np.float32), Jsonb(r["metadata"]),
                                    hashlib.md5(meta.encode()).hexdigest()))
                    written += 1
            conn.commit()
        else:
            sql = (f"INSERT INTO {table} (namespace, id, embedding, metadata, metadata_hash) VALUES "
                   "('', %s, %s, %s, %s) ON CONFLICT (namespace, id) DO UPDATE SET embedding = EXCLUDED.embedding, "
                   "metadata = EXCLUDED.metadata, metadata_hash = EXCLUDED.metadata_hash, updated_at = now()")
            with conn.cursor() as cur:
                for i in range(0, n, batch):
                    rows = []
                    for r in records[i:i + batch]:
                        meta = json.dumps(r["metadata"], sort_keys=True, separators=(",", ":"))
                        rows.append((r["id"], np.asarray(r["values"], dtype=np.float32), Jsonb(r["metadata"]),
                                     hashlib.md5(meta.encode()).hexdigest()))
                    cur.executemany(sql, rows)
                    conn.commit()
                    written += len(rows)
        conn.close()
    return {"wall": time.perf_counter() - t0, "cpu": cpu() - c0, "written": written}


def langchain_load(dsn: str, records: list[dict[str, Any]], dim: int, batch: int) -> dict[str, float]:
    """LangChain's PGVector, as its documentation shows it: vectors computed elsewhere go in through
    add_embeddings; the store is made (tables, collection) before the clock starts."""
    from langchain_core.embeddings import Embeddings
    from langchain_postgres import PGVector

    class Precomputed(Embeddings):  # add_embeddings never calls it
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            raise NotImplementedError

        def embed_query(self, text: str) -> list[float]:
            raise NotImplementedError

    store = PGVector(Precomputed(), connection=dsn.replace("postgresql://", "postgresql+psycopg://", 1),
                     embedding_length=dim, collection_name="bench", use_jsonb=True)
    c0, t0 = cpu(), time.perf_counter()
    written = 0
    for i in range(0, len(records), batch):
        part = records[i:i + batch]
        ids = store.add_embeddings(texts=[r["metadata"]["text"] for r in part],
                                   embeddings=[r["values"] for r in part],
                                   metadatas=[{k: v for k, v in r["metadata"].items() if k != "text"} for r in part],
                                   ids=[r["id"] for r in part])
        written += len(ids)
    return {"wall": time.perf_counter() - t0, "cpu": cpu() - c0, "written": written}


def _cpu_of(pid: int, children: bool = False) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def server_cpu(server: Any) -> float:
    """CPU seconds the PostgreSQL server has used: the postmaster, the backends it has reaped (a
    contender's connections, once closed) and its living processes (WAL writer, checkpointer...)."""
    postmaster = int((server.root / "data" / "postmaster.pid").read_text().split()[0])
    total = _cpu_of(postmaster, children=True)
    for task in os.listdir("/proc"):
        try:
            if task.isdigit() and int(Path(f"/proc/{task}/stat").read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                total += _cpu_of(int(task))
        except (OSError, IndexError):
            pass  # a backend that ended meanwhile: counted with the postmaster's children
    return total


def run_child(name: str, dsn: str, table: str, n: int, dim: int, batch: int) -> dict[str, float]:
    p = subprocess.run([sys.executable, __file__, "--child", name, "--dsn-env", "--table", table, "--records", str(n),
                        "--dimension", str(dim), "--batch", str(batch)],
                       env={**os.environ, "BENCH_DSN": dsn}, capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        raise RuntimeError(f"{name} failed: {p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def fresh_table(server: Any, dsn: str, table: str, dim: int, index: str = "none") -> None:
    from backfill import _core
    server.psql(f"DROP TABLE IF EXISTS {table}")
    _core.PgvectorSink(dsn=dsn, table=table, dimension=dim, index="none").stats()
    if index == "hnsw":
        server.psql(f"CREATE INDEX ON {table} USING hnsw (embedding vector_cosine_ops)")
    server.psql(f"VACUUM ANALYZE {table}")
    server.psql("CHECKPOINT")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--dimension", type=int, default=768)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--index-records", type=int, default=10000, help="records of the index comparison (0: skip)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 600 records x 32, one round")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "pgvector.json")
    ap.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    ap.add_argument("--dsn-env", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--table", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, os.environ["BENCH_DSN"], args.table, args.records, args.dimension,
                               args.batch)))
        return 0
    if args.quick:
        args.records, args.dimension, args.rounds, args.index_records = 600, 32, 1, 300
    import pg_server
    started, load_before = time.time(), os.getloadavg()[0]
    server = pg_server.start(fsync=True)
    dsn = server.dsn()
    runs: dict[str, list[dict[str, float]]] = {c: [] for c in CONTENDERS}
    ratios: dict[str, list[float]] = {c: [] for c in CONTENDERS if c != "backfill"}
    index: dict[str, float] = {}
    try:
        for r in range(args.rounds):
            order = CONTENDERS[r % len(CONTENDERS):] + CONTENDERS[:r % len(CONTENDERS)]
            this: dict[str, dict[str, float]] = {}
            for name in order:
                table = "langchain_pg_embedding" if name == "langchain" else "bench_" + name.replace("-", "_")
                if name == "langchain":
                    server.psql("DROP TABLE IF EXISTS langchain_pg_embedding, langchain_pg_collection; CHECKPOINT")
                else:
                    fresh_table(server, dsn, table, args.dimension)
                lsn, cpu0 = server.psql("SELECT pg_current_wal_lsn()"), server_cpu(server)
                got = run_child(name, dsn, table, args.records, args.dimension, args.batch)
                time.sleep(0.2)  # the closed connections' backends exit and are reaped
                got["server_cpu_us_per_record"] = (server_cpu(server) - cpu0) / args.records * 1e6
                got["wal_bytes_per_record"] = int(server.psql(
                    f"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '{lsn}')")) / args.records
                count = int(server.psql(f"SELECT count(*) FROM {table}"))
                if count != args.records or got["written"] != args.records:
                    raise RuntimeError(f"{name}: the table holds {count} of {args.records} records")
                got["records_per_second"] = args.records / got["wall"]
                got["cpu_us_per_record"] = got["cpu"] / args.records * 1e6
                runs[name].append(got)
                this[name] = got
                print(f"round {r + 1} {name}: {got['records_per_second']:,.0f} records/s, "
                      f"{got['cpu_us_per_record']:.1f} µs client CPU/record, {got['server_cpu_us_per_record']:.1f} µs "
                      f"server CPU/record, {got['wal_bytes_per_record']:,.0f} B WAL/record", file=sys.stderr)
            for peer in ratios:
                ratios[peer].append(this["backfill"]["records_per_second"] / this[peer]["records_per_second"])
        if args.index_records:
            n = args.index_records
            fresh_table(server, dsn, "bench_index_first", args.dimension, index="hnsw")
            first = run_child("backfill", dsn, "bench_index_first", n, args.dimension, args.batch)
            fresh_table(server, dsn, "bench_index_after", args.dimension)
            after = run_child("backfill", dsn, "bench_index_after", n, args.dimension, args.batch)
            t0 = time.perf_counter()
            server.psql("CREATE INDEX ON bench_index_after USING hnsw (embedding vector_cosine_ops)")
            build = time.perf_counter() - t0
            index = {"records": n, "index_first_seconds": first["wall"], "load_seconds": after["wall"],
                     "build_after_seconds": build, "index_after_seconds": after["wall"] + build}
            print(f"HNSW first: {first['wall']:.1f} s; load then build: {after['wall']:.1f} + {build:.1f} s",
                  file=sys.stderr)
    finally:
        server.stop()
    import langchain_postgres
    import psycopg
    from backfill import __version__
    result = {
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "duration_seconds": round(time.time() - started, 1),
        # The 1-minute load average of the machine (2 cores, shared) as the run began and ended.
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "command": " ".join(["bench/pgvector_bench.py", *(argv if argv is not None else sys.argv[1:])]),
        "settings": {"records": args.records, "dimension": args.dimension, "rounds": args.rounds, "batch": args.batch},
        "versions": {"backfill": __version__, "psycopg": psycopg.__version__,
                     "langchain-postgres": getattr(langchain_postgres, "__version__", "?"), "postgresql": "15", "pgvector": "0.8.0"},
        "median": {c: {"records_per_second": statistics.median(x["records_per_second"] for x in runs[c]),
                       "cpu_us_per_record": statistics.median(x["cpu_us_per_record"] for x in runs[c]),
                       "server_cpu_us_per_record": statistics.median(x["server_cpu_us_per_record"] for x in runs[c]),
                       "wal_bytes_per_record": statistics.median(x["wal_bytes_per_record"] for x in runs[c]),
                       "wall_seconds": statistics.median(x["wall"] for x in runs[c])} for c in CONTENDERS},
        "ratio": {peer: statistics.median(v) for peer, v in ratios.items()},
        "index": index,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(section(result)))
    return 0


def section(result: dict[str, Any]) -> list[str]:
    """BENCHMARKS.md's pgvector section."""
    s, m = result["settings"], result["median"]
    lines = [f"`{result['command']}` ({result['created_at']}): {s['records']:,} records of dimension "
             f"{s['dimension']} with a chunk's metadata (~1 kB of JSON), loaded into a fresh table of the sink's "
             f"layout (LangChain: its own) without a vector index on a PostgreSQL 15 + pgvector 0.8.0 started "
             f"by the benchmark (fsync on); {s['rounds']} rounds, order rotated; medians. CPU is the loading process's (all its threads).",
             "", "| contender | records/s | client CPU µs/record | server CPU µs/record | WAL B/record | wall s | "
             "backfill ÷ it (records/s) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for c in CONTENDERS:
        ratio = "" if c == "backfill" else f"**{result['ratio'][c]:.2f}×**"
        lines.append(f"| {c} | {m[c]['records_per_second']:,.0f} | {m[c]['cpu_us_per_record']:.1f} | "
                     f"{m[c].get('server_cpu_us_per_record', float('nan')):.1f} | "
                     f"{m[c].get('wal_bytes_per_record', float('nan')):,.0f} | {m[c]['wall_seconds']:.2f} | {ratio} |")
    copy, lc = result["ratio"]["psycopg-copy"], result["ratio"]["langchain"]
    ours = m["backfill"]["cpu_us_per_record"]
    cpu_copy, cpu_lc = m["psycopg-copy"]["cpu_us_per_record"] / ours, m["langchain"]["cpu_us_per_record"] / ours
    load = result.get("load_average")
    server_copy = m["backfill"].get("server_cpu_us_per_record", 0) / max(m["psycopg-copy"].get(
        "server_cpu_us_per_record", 0), 1e-9)
    lines += ["", f"Goals: ≥ 3× LangChain PGVector's records/s: {'met' if lc >= 3 else 'missed'} ({lc:.2f}×); "
              f"≥ 1.5× the psycopg COPY script's: {'met' if copy >= 1.5 else 'missed'} ({copy:.2f}×). "
              f"backfill spends {cpu_copy:.1f}× less client CPU a record than the COPY script ({cpu_lc:.0f}× less "
              f"than LangChain) and {server_copy:.2f}× the server's CPU a record (server CPU: the PostgreSQL "
              "processes' user + system time over the load, from /proc; WAL: the bytes the server logged), with "
              "the same table, the same WAL a record and the same fsync settings. What is left is parallelism: "
              "the script is one connection, the sink writes its batches on 4, each batch one transaction "
              "whose commit does not wait for the disk, then one flush for the call (sinks/pgvector/upsert.cpp). "
              "The server, the client and the other sessions share this machine's 2 cores"
              + (f" (load average {load[0]:.0f} as the run began, {load[1]:.0f} as it ended)" if load else "")
              + ", so the ratio moves with the load: the more the cores are contended, the larger the share "
              "several connections get."]
    ix = result.get("index")
    if ix:
        lines += ["", f"HNSW index (m 16, ef_construction 64, cosine), {ix['records']:,} records loaded by backfill: "
                  f"with the index made before the load {ix['index_first_seconds']:.1f} s; load into a bare table "
                  f"then CREATE INDEX {ix['load_seconds']:.1f} + {ix['build_after_seconds']:.1f} = "
                  f"{ix['index_after_seconds']:.1f} s (the sink builds a new table's index after its first load)."]
    return lines


if __name__ == "__main__":
    sys.exit(main())
