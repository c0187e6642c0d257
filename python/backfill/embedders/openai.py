"""Embeddings from an OpenAI-compatible HTTP API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from backfill import _core
from backfill.errors import ConfigError


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
    """

    type: ClassVar[str] = "openai"
    model: str
    api_key: str = field(default="", repr=False)
    base_url: str = "https://api.openai.com/v1"
    dimensions: int | None = None
    max_inputs: int = 2048
    max_tokens_per_request: int = 300_000
    max_input_tokens: int = 8192
    concurrency: int = 4
    timeout: float = 120.0
    rate: float = 0.0
    verify_tls: bool = True
    max_attempts: int = 8

    def build(self) -> _core.Embedder:
        if self.dimensions is not None and self.dimensions < 1:
            raise ConfigError(f"embedder.dimensions must be positive, got {self.dimensions}", key="embedder.dimensions")
        return _core.OpenAIEmbedder(
            model=self.model,
            api_key=self.api_key,
            base_url=self.base_url,
            dimensions=self.dimensions or 0,
            max_inputs=self.max_inputs,
            max_tokens_per_request=self.max_tokens_per_request,
            max_input_tokens=self.max_input_tokens,
            concurrency=self.concurrency,
            timeout=self.timeout,
            rate=self.rate,
            verify_tls=self.verify_tls,
            max_attempts=self.max_attempts,
        )
