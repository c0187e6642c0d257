#!/usr/bin/env python3
"""Embedding throughput: backfill's OpenAIEmbedder against what a Python script would write with the
official ``openai`` SDK, against the OpenAI fake of the tests (tests/python/openai_fake.py) with a
simulated latency per request.

A real embeddings request takes a fixed time plus time per input; the fake sleeps ``--latency`` seconds
plus ``--latency-per-input`` per text (default 0.2 s + 0.4 ms: a full request of 2048 inputs takes about
1 s), on top of its own work (validating the request against the spec, hashing every text to its vector).
The server runs in this process on a thread per request; the work is mostly sleeping, so it shares the
machine fairly with the clients.

Rows (every client embeds the same --texts texts, ~400 bytes each, at --dimensions, and every vector is
checked against the fake's before anything is reported):

  backfill c=N       ``OpenAIEmbedder(concurrency=N).embed`` called with 1000 texts at a time, as the
                     pipeline does with its default batch_records
  sdk batched        ``client.embeddings.create`` with 2048 texts at a time, one after another (the
                     SDK's default base64 encoding, decoded by the SDK)
  sdk per text       one request per text, the lesson "one embedding call per document takes days":
                     timed on the first --per-text texts and extrapolated (marked so)

    .venv/bin/python bench/openai_bench.py            # writes bench/results/openai.json
    .venv/bin/python bench/openai_bench.py --quick    # smoke run: small N, short latency

Timings are not asserted anywhere: the machine is shared.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests" / "python"))

SCHEMA = "backfill.bench.openai/1"
MODEL = "text-embedding-3-small"
KEY = "sk-bench-0123456789abcdef0123"

for _var in ("no_proxy", "NO_PROXY"):
    os.environ[_var] = ",".join(x for x in ("127.0.0.1,localhost", os.environ.get(_var, "")) if x)


def make_texts(n: int) -> list[str]:
    words = ("deploy freeze incident rollback paginator cursor ledger receipt upsert namespace quota retry "
             "backoff chunk embedding verify journal partition workspace channel thread").split()
    out = []
    for i in range(n):
        body = " ".join(words[(i * 7 + k * 13) % len(words)] for k in range(60))
        out.append(f"doc {i}: {body}")
    return out


def check(fake: Any, texts: list[str], vectors: list[list[float]], dims: int, name: str) -> None:
    if len(vectors) != len(texts):
        raise SystemExit(f"{name}: {len(vectors)} vectors for {len(texts)} texts")
    step = max(1, len(texts) // 200)
    for i in range(0, len(texts), step):
        if [round(x, 6) for x in vectors[i]] != [round(x, 6) for x in fake.vector(texts[i], dims, MODEL)]:
            raise SystemExit(f"{name}: the vector of text {i} is not its own")


def timed(fn: Callable[[], list[list[float]]]) -> tuple[float, list[list[float]]]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=int, default=20000)
    ap.add_argument("--dimensions", type=int, default=256)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--latency-per-input", type=float, default=0.0004)
    ap.add_argument("--concurrency", default="1,4,8")
    ap.add_argument("--per-text", type=int, default=30, help="texts timed one request each (extrapolated)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results" / "openai.json"))
    args = ap.parse_args()
    if args.quick:
        args.texts, args.latency, args.latency_per_input, args.per_text = 1500, 0.02, 0.00002, 5

    from backfill import _core
    from openai_fake import OpenAIFake

    texts = make_texts(args.texts)
    rows: list[dict[str, Any]] = []
    with OpenAIFake(api_key=KEY, latency=args.latency, latency_per_input=args.latency_per_input) as fake:
        for c in [int(x) for x in args.concurrency.split(",")]:
            emb = _core.OpenAIEmbedder(model=MODEL, api_key=KEY, base_url=fake.url, dimensions=args.dimensions,
                                       concurrency=c)
            before = fake.calls

            def run_backfill() -> list[list[float]]:
                out: list[list[float]] = []
                for i in range(0, len(texts), 1000):
                    out += emb.embed(texts[i:i + 1000])
                return out

            seconds, vectors = timed(run_backfill)
            check(fake, texts, vectors, args.dimensions, f"backfill c={c}")
            rows.append({"client": f"backfill c={c}", "seconds": seconds, "texts_per_s": len(texts) / seconds,
                         "requests": fake.calls - before, "max_in_flight": emb.http_stats()["max_in_flight"],
                         "extrapolated": False})

        try:
            import openai
        except ImportError:
            openai = None  # type: ignore[assignment]
        if openai is not None:
            client = openai.OpenAI(api_key=KEY, base_url=fake.url, max_retries=0)
            before = fake.calls

            def run_sdk() -> list[list[float]]:
                out: list[list[float]] = []
                for i in range(0, len(texts), 2048):
                    got = client.embeddings.create(model=MODEL, input=texts[i:i + 2048], dimensions=args.dimensions)
                    out += [d.embedding for d in sorted(got.data, key=lambda d: d.index)]
                return out

            seconds, vectors = timed(run_sdk)
            check(fake, texts, vectors, args.dimensions, "sdk batched")
            rows.append({"client": "sdk batched", "seconds": seconds, "texts_per_s": len(texts) / seconds,
                         "requests": fake.calls - before, "max_in_flight": 1, "extrapolated": False})
            few = texts[: args.per_text]

            def run_one_by_one() -> list[list[float]]:
                return [client.embeddings.create(model=MODEL, input=[t], dimensions=args.dimensions).data[0].embedding
                        for t in few]

            seconds, vectors = timed(run_one_by_one)
            check(fake, few, vectors, args.dimensions, "sdk per text")
            total = seconds / len(few) * len(texts)
            rows.append({"client": "sdk per text", "seconds": total, "texts_per_s": len(texts) / total,
                         "requests": len(texts), "max_in_flight": 1, "extrapolated": True})
            client.close()
        processing = sorted(int(r.response_headers.get("openai-processing-ms", "0")) for r in fake.embedded())
        server_ms = processing[len(processing) // 2] if processing else 0
        if fake.take_violations():
            raise SystemExit("the fake rejected requests: the benchmark is void")

    result = {
        "schema": SCHEMA,
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {"texts": args.texts, "dimensions": args.dimensions, "latency": args.latency,
                     "latency_per_input": args.latency_per_input, "bytes_per_text": len(texts[0].encode())},
        "server_processing_ms_median": server_ms,
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{args.texts} texts of ~{len(texts[0])} bytes, {args.dimensions} dimensions, latency "
          f"{args.latency:g} s + {args.latency_per_input * 1000:g} ms per input")
    print(f"{'client':<16} {'seconds':>9} {'texts/s':>10} {'requests':>9} {'in flight':>9}")
    for r in rows:
        mark = " (extrapolated)" if r["extrapolated"] else ""
        print(f"{r['client']:<16} {r['seconds']:>9.2f} {r['texts_per_s']:>10.0f} {r['requests']:>9} "
              f"{r['max_in_flight']:>9}{mark}")
    print(f"the fake's own work (validation, hashing) per request, median: {server_ms} ms, besides the latency")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
