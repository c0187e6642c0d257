"""What a plan adds up to (tokens, cost, time per stage, disk), and how a run compared with it.

The core estimates each partition (items from the source's own count, tokens from a sample of real
items through the normalizer and the chunker); this module prices and times the whole:

- cost: the tokens not already in the embedding cache at the embedder's price a million tokens
  (``PRICES`` by model; ``[embedder] price_per_million_tokens`` overrides it, and the offline hashing
  embedder costs nothing);
- time: the fetch at the source's pace (its rate limit or quota as it stands, else the pace of the
  sample's pages), the embedding at ``[embedder] tokens_per_minute`` / ``requests_per_minute`` when
  known; fetch and embed overlap in a run, so the run takes about the longer of the two;
- disk: the journal's bytes (the sample's bytes per item), the embedding cache and, for the local
  index, its records.

Tokens are counted as an embeddings API bills them, estimated at 4 bytes of UTF-8 a token (BPE on
English; no tokenizer ships offline), so plans and reports say "estimated".
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from backfill.reports import IngestReport, PlanComparison, PlanEstimate, PlanReport

# US dollars a million input tokens (OpenAI's list prices for its embedding models).
PRICES: dict[str, float] = {
    "text-embedding-3-small": 0.02,
    "text-embedding-3-large": 0.13,
    "text-embedding-ada-002": 0.10,
}
TOKEN_METHOD = "estimated: 4 bytes of UTF-8 a token (no tokenizer offline)"
PLAN_FILE = "plan.json"  # the last estimated plan, in the workdir, for the run to compare with


def price_per_million(embedder: Any) -> float | None:
    """The embedder's price a million tokens: its ``price_per_million_tokens`` when set, else the
    list price of its model; 0 for the offline hashing embedder; None when not known."""
    own = getattr(embedder, "price_per_million_tokens", None)
    if own is not None:
        return float(own)
    kind = getattr(embedder, "type", "")
    if kind == "hash":
        return 0.0
    return PRICES.get(getattr(embedder, "model", ""))


def cost(tokens: int, price: float | None) -> float | None:
    return None if price is None else round(tokens * price / 1e6, 6)


def _known(values: list[int]) -> int:
    return sum(v for v in values if v > 0)


def estimate(plan: PlanReport, embedder: Any, identity: str, dimension: int, local_sink: bool) -> PlanEstimate:
    """The totals of an estimated plan for this embedder (its spec, identity and dimension)."""
    parts = plan.partitions
    tokens = _known([p.estimated_tokens for p in parts])
    to_embed = _known([max(0, p.estimated_tokens - p.cached_tokens) for p in parts if p.estimated_tokens >= 0])
    chunks = _known([p.estimated_chunks for p in parts])
    price = price_per_million(embedder)
    fetch_seconds = sum(max(p.estimated_seconds, 0.0) for p in parts)
    max_inputs = getattr(embedder, "max_inputs", 0) or 2048
    max_tokens = getattr(embedder, "max_tokens_per_request", 0) or 300_000
    share = to_embed / tokens if tokens else 0.0
    embed_requests = math.ceil(max(chunks * share / max_inputs, to_embed / max_tokens)) if to_embed else 0
    embed_seconds: float | None = 0.0
    if getattr(embedder, "type", "") == "openai" and to_embed:
        tpm = getattr(embedder, "tokens_per_minute", None)
        rpm = getattr(embedder, "requests_per_minute", None)
        limits = [60.0 * to_embed / tpm] if tpm else []
        limits += [60.0 * embed_requests / rpm] if rpm else []
        embed_seconds = max(limits) if limits else None
    per_vector = 4 * dimension + 96  # float32 values and the row around them
    text_bytes = 4 * tokens  # the chunk texts the records carry as metadata
    disk = _known([p.estimated_bytes for p in parts]) + chunks * per_vector
    if local_sink:
        disk += chunks * (per_vector + 256) + text_bytes
    return PlanEstimate(
        model=identity,
        items=_known([p.estimated_items for p in parts]),
        documents=_known([p.estimated_documents for p in parts]),
        chunks=chunks,
        tokens=tokens,
        tokens_to_embed=to_embed,
        token_method=TOKEN_METHOD,
        price_per_million_tokens=price,
        cost=cost(to_embed, price),
        fetch_requests=_known([p.estimated_requests for p in parts]),
        fetch_seconds=fetch_seconds,
        embed_requests=embed_requests,
        embed_seconds=embed_seconds,
        seconds=max(fetch_seconds, embed_seconds or 0.0),
        disk_bytes=disk,
        unestimated=[p.label or p.name for p in parts if p.estimated_tokens < 0],
    )


def save(workdir: Path, plan: PlanReport) -> None:
    """Keeps the estimated plan in the workdir (0600), for the next run's comparison."""
    workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = workdir / PLAN_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(plan.to_dict(), f)
    os.replace(tmp, path)


def load(workdir: Path) -> PlanReport | None:
    """The last estimated plan of the workdir, or None (none, or one written by another version)."""
    try:
        return PlanReport.from_dict(json.loads((workdir / PLAN_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def forget(workdir: Path) -> None:
    (workdir / PLAN_FILE).unlink(missing_ok=True)


def compare(plan: PlanReport, ingest: IngestReport, run_seconds: float) -> list[PlanComparison]:
    """The plan's documents, tokens and time beside the run's."""
    e = plan.estimate
    if e is None:
        return []
    rows = [
        PlanComparison("documents", e.documents, ingest.documents_seen),
        PlanComparison("tokens", e.tokens_to_embed, ingest.tokens_embedded),
        PlanComparison("seconds", round(e.seconds, 3), round(run_seconds, 3)),
    ]
    return rows
