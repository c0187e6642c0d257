"""A local OpenAI-compatible embeddings server for tests: the shapes of the official spec (operation
``createEmbedding``), the limits of shared/API_FACTS.md section 5, and switchable failure modes. A test
fixture, never part of the package.

    with OpenAIFake() as oa:                       # 127.0.0.1, ephemeral port, api key "sk-fake-..."
        ...                                        # point a client at oa.url (the base URL, ".../v1")
        oa.fail_next(2, retry_after=1)             # the next 2 requests: 429 rate_limit_exceeded, Retry-After: 1
        oa.fail_next(1)                            # ... or without Retry-After (reset durations only)
        oa.quota(requests=3)                       # 3 more requests succeed, then 429 insufficient_quota
        oa.api_key = "sk-other"                    # the client's key is now wrong: 401 invalid_api_key
        oa.latency = 0.05                          # every request takes 50 ms more (latency_per_input: per text)
        oa.rate_limit(requests=10, tokens=20_000, window=1.0)   # enforce a budget (429 when spent)
        oa.token_bucket(tokens_per_minute=300_000)  # OpenAI's real model: per-minute buckets refilling continuously
        oa.vector("text", 64)                      # the vector the fake gives a text
        oa.text_counts                             # how many times each distinct text was embedded

Endpoint: ``POST /v1/embeddings``. ``url`` is the base URL a client is configured with.

What it enforces, each rejection answered with the spec's ``ErrorResponse`` body
``{"error": {"message", "type", "param", "code"}}`` and recorded in :attr:`OpenAIFake.violations`:

- ``Authorization: Bearer <key>`` missing or wrong: 401 (code ``invalid_api_key``; the message echoes a
  masked key, as OpenAI's does);
- the JSON body validated against the spec's ``CreateEmbeddingRequest`` with jsonschema (additional
  properties refused, at most 2048 inputs, ``encoding_format`` float or base64, ``dimensions`` >= 1);
- no empty string as an input;
- at most 8192 tokens per input and 300,000 tokens per request, counted as ceil(UTF-8 bytes / 4).
  tiktoken's encodings are not available offline, so this is an approximation: BPE tokenizers average
  about 4 bytes a token on English. Clients must count more conservatively than this (backfill counts 3
  bytes a token), so anything this fake refuses for size is a client bug;
- a known model (text-embedding-3-small 1536, text-embedding-3-large 3072, text-embedding-ada-002 1536,
  plus any given to the constructor), and ``dimensions`` only for text-embedding-3 models and at most
  their native size.

Answers: ``data`` in a shuffled order (each item keeps its ``index``), embeddings as base64 little-endian
float32 or as float arrays per ``encoding_format`` (or always floats, with ``ignore_base64``), ``usage``
with the counted tokens, and the headers ``x-request-id``, ``openai-version``, ``openai-processing-ms``
and ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` (resets as Go-style durations).

Vectors are deterministic: a seeded hash of the text gives a unit vector of the model's size; asked for
fewer ``dimensions``, the first ones are kept and renormalized (as text-embedding-3 models do), so a test
can recompute any text's vector with :meth:`OpenAIFake.vector`.

Dependencies beyond the standard library: PyYAML (to read the spec) and jsonschema.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
import socket
import sys
import threading
import time
from array import array
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from fake_base import FakeHandler, FakeServer, ServedFake, find_spec

__all__ = ["DEFAULT_API_KEY", "MODELS", "OpenAIFake", "RequestLog", "Violation", "count_tokens", "spec_path"]

DEFAULT_API_KEY = "sk-fake-0123456789abcdefABCDEF"
MODELS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
MAX_INPUTS = 2048
MAX_INPUT_TOKENS = 8192
MAX_REQUEST_TOKENS = 300_000
SPEC_NAME = "openapi.yaml"
SCHEMAS = ("CreateEmbeddingRequest", "CreateEmbeddingResponse", "Embedding", "ErrorResponse", "Error")


def count_tokens(text: str) -> int:
    """The fake's token count: ceil(UTF-8 bytes / 4), at least 1 (see the module docstring)."""
    return max(1, (len(text.encode("utf-8")) + 3) // 4)


# --- the spec ----------------------------------------------------------------------------------


def spec_path() -> Path:
    """The official OpenAI spec (see fake_base.find_spec for where it is looked for)."""
    return find_spec("openai", SPEC_NAME, "OpenAI spec")


_SPEC_LOCK = threading.Lock()
_SCHEMAS: dict[str, Any] | None = None


def load_schemas() -> dict[str, Any]:
    """The component schemas the fake needs, cut out of the 3 MB spec by their YAML blocks (parsing the
    whole file takes seconds) and parsed; cached for the process."""
    global _SCHEMAS
    with _SPEC_LOCK:
        if _SCHEMAS is None:
            text = spec_path().read_text(encoding="utf-8")
            out: dict[str, Any] = {}
            for name in SCHEMAS:
                m = re.search(rf"^    {name}:\n((?:      .*\n|\s*\n)+)", text, re.MULTILINE)
                if m is None:
                    raise KeyError(f"{spec_path()}: no components/schemas/{name}")
                out[name] = yaml.safe_load(_dedent(m.group(1)))
            _SCHEMAS = out
        return _SCHEMAS


def _dedent(block: str) -> str:
    return "\n".join(line[6:] if line.startswith("      ") else line.strip() for line in block.splitlines()) + "\n"


_VALIDATORS: dict[str, Any] = {}


def validator(name: str) -> Any:
    with _SPEC_LOCK:
        v = _VALIDATORS.get(name)
    if v is None:
        schemas = load_schemas()
        v = Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": {"schemas": schemas}})
        with _SPEC_LOCK:
            _VALIDATORS[name] = v
    return v


# --- records -------------------------------------------------------------------------------------


class Rejection(Exception):
    def __init__(self, status: int, message: str, kind: str, *, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None, headers: Mapping[str, str] | None = None,
                 injected: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.type = type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})
        self.injected = injected


@dataclass
class Violation:
    """A request the fake rejected for breaking a limit, the spec or auth."""

    kind: str  # auth, json, schema, empty_input, input_tokens, request_tokens, model, dimensions, path, ...
    status: int
    message: str

    def __str__(self) -> str:
        return f"{self.status} [{self.kind}] {self.message}"


@dataclass
class RequestLog:
    method: str
    path: str
    headers: dict[str, str]
    t: float                              # time.monotonic() on arrival
    done: float = 0.0                     # time.monotonic() when answered
    body: Any = None                      # the parsed JSON body, when it parsed
    inputs: list[str] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)  # the fake's count per input
    status: int = 0
    code: str | None = None               # the error code of a failed answer
    injected: bool = False                # answered by a switch (fail_next, quota, rate_limit)
    response_headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class _Fault:
    remaining: int
    status: int
    retry_after: int | None
    code: str
    type: str
    message: str | None


def _duration(seconds: float) -> str:
    """Go-style duration, as OpenAI's x-ratelimit-reset-* headers: "1s", "6m0s", "120ms", "1.5s". Rounded up
    to the millisecond, so a client that waits as told never arrives before the reset."""
    ms = max(1, math.ceil(seconds * 1000))
    if ms < 1000:
        return f"{ms}ms"
    minutes, s = divmod(ms / 1000, 60)
    text = f"{s:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


def _try_again(seconds: float) -> str:
    """As OpenAI's 429 message says it: "20ms" under a second, else "1.234s" (rounded up)."""
    ms = max(1, math.ceil(seconds * 1000))
    return f"{ms}ms" if ms < 1000 else f"{ms / 1000:.3f}s"


def _mask_key(key: str) -> str:
    if len(key) <= 8:
        return "*" * len(key)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


# --- the server ----------------------------------------------------------------------------------


class _Handler(FakeHandler):
    server_version = "openai-fake"

    def on_long_line(self) -> None:
        self.server.fake._violation("url_length", 414, "request line too long")

    def read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""


class _Server(FakeServer):
    handler = _Handler


class OpenAIFake(ServedFake):
    """OpenAI's embeddings endpoint, deterministic, behind a local HTTP/1.1 server."""

    thread_name = "openai-fake"

    def __init__(self, api_key: str = DEFAULT_API_KEY, *, models: Mapping[str, int] | None = None, seed: int = 0,
                 latency: float = 0.0, latency_per_input: float = 0.0, shuffle: bool = True,
                 ignore_base64: bool = False) -> None:
        self.api_key = api_key
        self.models = {**MODELS, **(models or {})}
        self.seed = seed
        self.latency = latency
        self.latency_per_input = latency_per_input
        self.shuffle = shuffle
        self.ignore_base64 = ignore_base64
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self.violations: list[Violation] = []
        self.requests: list[RequestLog] = []
        self.text_counts: Counter[str] = Counter()  # successful embeddings per distinct text
        self.in_flight = 0
        self.max_in_flight = 0
        self._faults: list[_Fault] = []
        self._quota: int | None = None  # successful requests left before insufficient_quota; None: no limit
        # the rate-limit window (always reported in headers; enforced only when `enforce`)
        self._window = 60.0
        self._limit_requests = 10_000
        self._limit_tokens = 10_000_000
        self._enforce = False
        self._buckets: dict[str, list[float]] = {}  # name: [limit a minute, level, when]; see token_bucket
        self._window_start = time.monotonic()
        self._used_requests = 0
        self._used_tokens = 0
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def _new_server(self) -> _Server:
        load_schemas()  # fail here, not in a handler, when the spec cannot be found
        return _Server(self)

    @property
    def url(self) -> str:
        """The base URL to configure a client with (``.../v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- switches ---------------------------------------------------------------------------------

    def fail_next(self, n: int, status: int = 429, *, retry_after: int | None = None,
                  code: str = "rate_limit_exceeded", type: str = "requests", message: str | None = None) -> None:
        """The next ``n`` requests are answered ``status`` (429 rate_limit_exceeded by default) with an
        ErrorResponse, and ``Retry-After`` (whole seconds, >= 1, as the spec says) when given; a 429 also
        carries short x-ratelimit-reset-* durations. They embed nothing. Faults are consumed in order."""
        if retry_after is not None and retry_after < 1:
            raise ValueError("Retry-After is an integer >= 1 (spec components.responses.TooManyRequests)")
        with self._lock:
            self._faults.append(_Fault(n, status, retry_after, code, type, message))

    def quota(self, requests: int | None) -> None:
        """``requests`` more requests succeed; every one after them is refused with 429 insufficient_quota
        (no Retry-After: it needs a person). ``None`` lifts the limit (the bill was paid)."""
        with self._lock:
            self._quota = requests

    def rate_limit(self, requests: int = 10_000, tokens: int = 10_000_000, window: float = 60.0,
                   enforce: bool = True) -> None:
        """A fixed window of ``window`` seconds allowing ``requests`` requests and ``tokens`` tokens. Headers
        always report it; with ``enforce`` a request over it is refused with 429 rate_limit_exceeded."""
        with self._lock:
            self._limit_requests, self._limit_tokens, self._window = requests, tokens, window
            self._enforce = enforce
            self._window_start = time.monotonic()
            self._used_requests = self._used_tokens = 0

    def token_bucket(self, *, requests_per_minute: float | None = None,
                     tokens_per_minute: float | None = None) -> None:
        """Per-minute buckets as OpenAI's (shared/API_FACTS.md section 5): full at first, refilled
        continuously at limit/60 a second; ``x-ratelimit-remaining-*`` is what is left now and
        ``x-ratelimit-reset-*`` the time until full again. A request that does not fit is refused with 429
        rate_limit_exceeded and "Please try again in 1.234s". ``None`` for both turns them off. A request bucket
        alone comes with a token bucket of the same kind at the fixed window's limit (rate_limit()), as OpenAI
        announces both (the fixed window's token reset would read as a slow refill); a token bucket alone keeps
        the fixed window's request headers."""
        with self._lock:
            now = time.monotonic()
            tokens = tokens_per_minute or (self._limit_tokens if requests_per_minute else None)
            self._buckets = {name: [float(limit), float(limit), now]
                             for name, limit in (("requests", requests_per_minute), ("tokens", tokens)) if limit}

    def _bucket_level(self, name: str, now: float) -> float:
        limit, level, at = self._buckets[name]
        level = min(limit, level + (now - at) * limit / 60)
        self._buckets[name][1:] = [level, now]
        return level

    def _bucket_headers(self, now: float) -> dict[str, str]:
        out = self._limit_headers(self._window)
        for name, (limit, _, _) in self._buckets.items():
            level = self._bucket_level(name, now)
            out[f"x-ratelimit-limit-{name}"] = str(int(limit))
            out[f"x-ratelimit-remaining-{name}"] = str(int(level))
            out[f"x-ratelimit-reset-{name}"] = _duration((limit - level) / (limit / 60))
        return out

    def reset_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._quota = None
            self._enforce = False

    # -- inspection -------------------------------------------------------------------------------

    def vector(self, text: str, dimensions: int | None = None, model: str = "text-embedding-3-small") -> list[float]:
        """The unit vector this fake gives ``text`` (float32 values, as sent)."""
        return self._vector(text, dimensions, model).tolist()

    def _vector(self, text: str, dimensions: int | None, model: str) -> array[float]:
        # The first `dimensions` values of the native vector: SHAKE's output is a stream, so a shorter
        # digest is a prefix of the longer one.
        n = min(dimensions, self.models[model]) if dimensions is not None else self.models[model]
        raw = hashlib.shake_256(f"{self.seed}\x00{model}\x00".encode() + text.encode("utf-8")).digest(4 * n)
        ints = array("i")
        ints.frombytes(raw)
        if sys.byteorder != "little":
            ints.byteswap()
        scale = 1.0 / (math.hypot(*ints) or 1.0)  # C loops throughout: the fake must not be the bottleneck
        return array("f", map(scale.__mul__, ints))

    def take_violations(self) -> list[Violation]:
        with self._lock:
            out, self.violations = self.violations, []
            return out

    @property
    def calls(self) -> int:
        """Requests answered with embeddings."""
        with self._lock:
            return sum(1 for r in self.requests if r.ok)

    @property
    def inputs(self) -> int:
        """Inputs embedded, over every successful request."""
        with self._lock:
            return sum(len(r.inputs) for r in self.requests if r.ok)

    def embedded(self) -> list[RequestLog]:
        with self._lock:
            return [r for r in self.requests if r.ok]

    def twice(self) -> dict[str, int]:
        """Texts embedded more than once."""
        with self._lock:
            return {t: n for t, n in self.text_counts.items() if n > 1}

    # -- internals ----------------------------------------------------------------------------------

    def _violation(self, kind: str, status: int, message: str) -> None:
        with self._lock:
            self.violations.append(Violation(kind, status, message))

    def _dispatch(self, h: _Handler) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._serve(h)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _serve(self, h: _Handler) -> None:
        t0 = time.monotonic()
        path = urlsplit(h.path).path.rstrip("/") or "/"
        headers = {k.lower(): v for k, v in h.headers.items()}
        try:
            raw = h.read_body()
        except (ValueError, OSError):
            h.close_connection = True
            return
        log = RequestLog(h.command, path, headers, t0)
        with self._lock:
            self.requests.append(log)
            rid = f"req_{len(self.requests):08x}{self._rng.getrandbits(32):08x}"
        extra: dict[str, str] = {}
        try:
            status, body = self._handle(h.command, path, headers, raw, log, extra)
        except Rejection as r:
            if not r.injected:
                self._violation(r.kind, r.status, r.message)
            log.injected = r.injected
            log.code = r.code
            status = r.status
            body = {"error": {"message": r.message, "type": r.type, "param": r.param, "code": r.code}}
            extra.update(r.headers)
        except Exception as e:  # noqa: BLE001 - a bug of the fake: make it loud in the violations
            self._violation("fake_error", 500, f"{type(e).__name__}: {e}")
            status = 500
            body = {"error": {"message": f"fake error: {type(e).__name__}", "type": "server_error", "param": None,
                              "code": None}}
        delay = self.latency + self.latency_per_input * (len(log.inputs) if status == 200 else 0)
        if delay > 0:
            time.sleep(delay)
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        out = {"Content-Type": "application/json", "Content-Length": str(len(payload)), "x-request-id": rid,
               "openai-version": "2020-10-01",
               "openai-processing-ms": str(int((time.monotonic() - t0) * 1000)), **extra}
        log.status = status
        log.response_headers = {k.lower(): v for k, v in out.items()}
        log.done = time.monotonic()
        h.send_response(status)
        for k, v in out.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(payload)

    def _handle(self, method: str, path: str, headers: dict[str, str], raw: bytes, log: RequestLog,
                extra: dict[str, str]) -> tuple[int, Any]:
        if path != "/v1/embeddings":
            raise Rejection(404, f"Invalid URL ({method} {path})", "path")
        if method != "POST":
            raise Rejection(405, f"Invalid method for URL ({method} {path})", "method")
        # Authentication first, as OpenAI does.
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise Rejection(401, "You didn't provide an API key. You need to provide your API key in an Authorization "
                                 "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", "auth")
        key = auth[7:].strip()
        if key != self.api_key:
            raise Rejection(401, f"Incorrect API key provided: {_mask_key(key)}. You can find your API key at "
                                 "https://platform.openai.com/account/api-keys.", "auth", code="invalid_api_key")
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise Rejection(400, "Content-Type must be application/json", "content_type")
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise Rejection(400, f"We could not parse the JSON body of your request. ({e})", "json") from None
        log.body = body
        if isinstance(body, dict) and isinstance(body.get("input"), list) and len(body["input"]) > MAX_INPUTS:
            raise Rejection(400, f"'$.input' is invalid. Please check the API reference: "
                                 f"https://platform.openai.com/docs/api-reference. ({len(body['input'])} inputs, "
                                 f"at most {MAX_INPUTS} are allowed)", "too_many_inputs", param="input")
        errors = sorted(validator("CreateEmbeddingRequest").iter_errors(body), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            detail = best_match(first.context) if first.context else first
            where = "$." + ".".join(str(p) for p in first.absolute_path) if first.absolute_path else "$"
            raise Rejection(400, f"'{where}' is invalid. Please check the API reference: "
                                 f"https://platform.openai.com/docs/api-reference. ({detail.message[:200]})", "schema")
        inputs = body["input"]
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
            inputs = [inputs]
        texts: list[str] = [x if isinstance(x, str) else json.dumps(x) for x in inputs]
        model = body["model"]
        if model not in self.models:
            raise Rejection(404, f"The model `{model}` does not exist or you do not have access to it.", "model",
                            code="model_not_found")
        dims = body.get("dimensions")
        if dims is not None:
            if not model.startswith("text-embedding-3"):
                raise Rejection(400, "This model does not support specifying dimensions.", "dimensions",
                                param="dimensions")
            if dims > self.models[model]:
                raise Rejection(400, f"Invalid value for 'dimensions' = {dims}. Must be less than or equal to "
                                     f"{self.models[model]}.", "dimensions", param="dimensions")
        tokens = []
        for i, t in enumerate(texts):
            if isinstance(inputs[i], str) and t == "":
                raise Rejection(400, f"'$.input[{i}]' is invalid: an input must not be an empty string.",
                                "empty_input", param="input")
            n = count_tokens(t) if isinstance(inputs[i], str) else len(inputs[i])
            if n > MAX_INPUT_TOKENS:
                raise Rejection(400, f"This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however you "
                                     f"requested {n} tokens ({n} in your prompt; 0 for the completion). Please reduce "
                                     f"your prompt; or completion length. (input {i})", "input_tokens")
            tokens.append(n)
        total = sum(tokens)
        if total > MAX_REQUEST_TOKENS:
            raise Rejection(400, f"Requested {total} tokens, max {MAX_REQUEST_TOKENS} tokens per request",
                            "request_tokens", code="max_tokens_per_request")
        log.inputs, log.tokens = texts, tokens

        with self._lock:
            now = time.monotonic()
            if now - self._window_start >= self._window:
                self._window_start, self._used_requests, self._used_tokens = now, 0, 0
            reset_in = max(0.001, self._window - (now - self._window_start))
            for f in self._faults:
                if f.remaining > 0:
                    f.remaining -= 1
                    self._faults = [x for x in self._faults if x.remaining > 0]
                    hdrs = self._limit_headers(reset_in)
                    if f.status == 429:
                        hdrs["x-ratelimit-reset-requests"] = hdrs["x-ratelimit-reset-tokens"] = "20ms"
                    if f.retry_after is not None:
                        hdrs["Retry-After"] = str(f.retry_after)
                    msg = f.message or (f"Rate limit reached for {model} in organization org-fake on requests per min "
                                        "(RPM): Limit 3000, Used 3000, Requested 1. Please try again in 20ms."
                                        if f.status == 429 else "The server had an error while processing your request.")
                    raise Rejection(f.status, msg, "injected", type=f.type, code=f.code, headers=hdrs, injected=True)
            if self._quota is not None:
                if self._quota <= 0:
                    raise Rejection(429, "You exceeded your current quota, please check your plan and billing "
                                         "details. For more information on this error, read the docs: "
                                         "https://platform.openai.com/docs/guides/error-codes/api-errors.",
                                    "quota", type="insufficient_quota", code="insufficient_quota", injected=True)
                self._quota -= 1
            if self._enforce and (self._used_requests + 1 > self._limit_requests
                                  or self._used_tokens + total > self._limit_tokens):
                which = "requests" if self._used_requests + 1 > self._limit_requests else "tokens"
                hdrs = self._limit_headers(reset_in)
                raise Rejection(429, f"Rate limit reached for {model} in organization org-fake on {which} per min: "
                                     f"Limit {self._limit_requests if which == 'requests' else self._limit_tokens}, "
                                     f"Requested {1 if which == 'requests' else total}.",
                                "rate_limited", type=which, code="rate_limit_exceeded", headers=hdrs, injected=True)
            if self._buckets:
                cost = {"requests": 1, "tokens": total}
                short = {n: cost[n] - self._bucket_level(n, now) for n in self._buckets}
                over = [n for n, v in short.items() if v > 0]
                if over:
                    which = max(over, key=lambda n: short[n] / (self._buckets[n][0] / 60))
                    limit = self._buckets[which][0]
                    wait = short[which] / (limit / 60)
                    unit = "RPM" if which == "requests" else "TPM"
                    raise Rejection(429, f"Rate limit reached for {model} in organization org-fake on {which} per "
                                         f"min ({unit}): Limit {int(limit)}, Used {int(limit - (cost[which] - short[which]))}, "
                                         f"Requested {cost[which]}. Please try again in {_try_again(wait)}. Visit "
                                         "https://platform.openai.com/account/rate-limits to learn more.",
                                    "rate_limited", type=which, code="rate_limit_exceeded",
                                    headers=self._bucket_headers(now), injected=True)
                for n in self._buckets:
                    self._buckets[n][1] -= cost[n]
            self._used_requests += 1
            self._used_tokens += total
            extra.update(self._bucket_headers(now) if self._buckets else self._limit_headers(reset_in))
            for t in texts:
                self.text_counts[t] += 1
            order = list(range(len(texts)))
            if self.shuffle:
                self._rng.shuffle(order)
        as_base64 = body.get("encoding_format", "float") == "base64" and not self.ignore_base64
        data = []
        for i in order:
            v = self._vector(texts[i], dims, model)
            emb: Any = base64.b64encode(_le_float32(v)).decode("ascii") if as_base64 else v.tolist()
            data.append({"object": "embedding", "index": i, "embedding": emb})
        return 200, {"object": "list", "data": data, "model": model,
                     "usage": {"prompt_tokens": total, "total_tokens": total}}

    def _limit_headers(self, reset_in: float) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": str(self._limit_requests),
            "x-ratelimit-limit-tokens": str(self._limit_tokens),
            "x-ratelimit-remaining-requests": str(max(0, self._limit_requests - self._used_requests)),
            "x-ratelimit-remaining-tokens": str(max(0, self._limit_tokens - self._used_tokens)),
            "x-ratelimit-reset-requests": _duration(reset_in),
            "x-ratelimit-reset-tokens": _duration(reset_in),
        }


def _le_float32(v: array[float]) -> bytes:
    if sys.byteorder != "little":
        v = array("f", v)
        v.byteswap()
    return v.tobytes()


def decode_embedding(e: Any) -> list[float]:
    """A response's embedding (base64 or floats) as floats, for tests reading raw answers."""
    if isinstance(e, str):
        a = array("f")
        a.frombytes(base64.b64decode(e))
        if sys.byteorder != "little":
            a.byteswap()
        return a.tolist()
    return list(e)

