"""Embeddings from an OpenAI-compatible HTTP API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from backfill import _core
from backfill._options import core_options
from backfill.errors import ConfigError

_DEFAULTS = _core.OpenAIOptions()


@dataclass(frozen=True)
class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible API: ``POST {base_url}/embeddings`` (OpenAI, Azure-style
    gateways, vLLM, TEI, Ollama; ``http://127.0.0.1:PORT/v1`` works for local servers).

    ``api_key`` is best given from the environment (``api_key = "${OPENAI_API_KEY}"``); it is sent as
    ``Authorization: Bearer`` and never appears in a repr, log, error or receipt. It may be empty for a
    local server that needs none. ``dimensions`` is sent only when set (``text-embedding-3-*`` can
    shorten their vectors); without it the model's known size is used (``text-embedding-3-small`` 1536,
    ``-3-large`` 3072, ``ada-002`` 1536), and other models need it.

    Each batch of chunks is split into requests of at most ``max_inputs`` texts and
    ``max_tokens_per_request`` tokens (estimated conservatively, about one per 3 bytes) that run
    ``concurrency`` at a time; a chunk over ``max_input_tokens`` is refused before anything is sent (the
    pipeline keeps ``chunking.max_tokens`` within it). Vectors are cached in the ledger by content hash
    under ``openai:<model>:<dimension>``, so a rerun, or a run after a spent quota, never pays twice.
    ``rate`` caps requests per second (0: none; the server's rate-limit headers always pace requests).
    A failed request is tried up to ``max_attempts`` times, backing off from ``base_delay`` seconds,
    for at most ``max_elapsed`` seconds. ``price_per_million_tokens``, ``tokens_per_minute`` and
    ``requests_per_minute`` only inform ``backfill plan``'s cost and time (see backfill.estimates).
    """

    type: ClassVar[str] = "openai"
    model: str
    api_key: str = field(default=_DEFAULTS.api_key, repr=False)
    base_url: str = _DEFAULTS.base_url
    dimensions: int | None = None  # None: the core's default (0, the model's own size)
    max_inputs: int = _DEFAULTS.max_inputs
    max_tokens_per_request: int = _DEFAULTS.max_tokens_per_request
    max_input_tokens: int = _DEFAULTS.max_input_tokens
    concurrency: int = _DEFAULTS.concurrency
    timeout: float = _DEFAULTS.timeout
    rate: float = _DEFAULTS.rate
    verify_tls: bool = _DEFAULTS.verify_tls
    max_attempts: int = _DEFAULTS.max_attempts
    base_delay: float = _DEFAULTS.base_delay
    max_elapsed: float = _DEFAULTS.max_elapsed
    # For `backfill plan` only: the price a million tokens (None: the model's list price,
    # backfill.estimates.PRICES) and the account's embedding quota, to time the embedding by.
    price_per_million_tokens: float | None = None
    tokens_per_minute: float | None = None
    requests_per_minute: float | None = None

    def build(self) -> _core.Embedder:
        if self.dimensions is not None and self.dimensions < 1:
            raise ConfigError(f"embedder.dimensions must be positive, got {self.dimensions}", key="embedder.dimensions")
        return _core.OpenAIEmbedder(core_options(_core.OpenAIOptions, self))
