"""A local Slack Web API server for tests: the shapes of ``shared/specs/slack/slack_web_openapi_v2.json``
(auth.test, conversations.list, users.list, conversations.history, conversations.replies), the behaviour and limits
of shared/API_FACTS.md section 3, and switchable failure modes. A test fixture, never part of the package.

    with SlackApiFake(token="xoxb-test") as slack:          # 127.0.0.1, ephemeral port
        c = slack.add_channel("incidents")                  # -> "C..." id; private=, member=, archived=
        ts = slack.post(c, "text", user="U1")               # a message; thread_ts= makes it a reply
        slack.generate(channels=20, messages=2000, thread_share=0.1)   # synthetic, deterministic
        slack.edit(c, ts, "new text")                       # `edited` set, text changed
        slack.delete(c, ts)                                 # gone; a root with replies: a tombstone
        slack.time_factor = 60                              # one Slack minute lasts a second
        slack.non_marketplace = True                        # history/replies: 1 a minute, 15 a page
        slack.deny(c, "not_in_channel")                     # or "missing_scope" (needed: groups:history)
        slack.revoke()                                      # every call: token_revoked
        slack.scopes = ["channels:read", "users:read"]      # what auth.test's X-OAuth-Scopes header lists
        slack.expire_cursors()                              # cursors handed out so far: invalid_cursor
        slack.expire_cursors(after=3)                       # ... those handed out before 3 more answers
        slack.ratelimit_in_body(2)                          # the next 2 calls: HTTP 200 ok:false ratelimited
        slack.stuck_cursor()                                # history ignores its cursor: page 1, forever
        slack.kill_at("conversations.replies", 50, pid)     # SIGKILL pid as the 50th such call arrives

Each method has a token bucket that refills continuously at its tier's rate (Tier 2: 20 a minute for
the lists, Tier 3: 50 for history and replies; with ``non_marketplace`` 1 a minute and pages of at most
15 messages), of ``burst`` requests. An empty bucket answers HTTP 429 with ``Retry-After`` (seconds,
fractional when time is scaled) and ``{"ok": false, "error": "ratelimited"}``. A request that arrives
before the Retry-After it was given has passed is a *violation* (:attr:`violations`).

Messages are kept per channel; history lists the channel's top-level messages and thread broadcasts
newest first within ``oldest < ts < latest`` (``inclusive`` includes the bounds), a root carrying
``reply_count``, ``reply_users``, ``latest_reply`` and ``thread_ts``; replies list the root first (on
every page), then its replies oldest first. Cursors are opaque base64 offsets bound to the call.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fake_base import FakeHandler, FakeServer, ServedFake

TIER = {"conversations.list": 20, "users.list": 20, "conversations.history": 50, "conversations.replies": 50}
PAGED = ("conversations.history", "conversations.replies")
NON_MARKETPLACE_PAGE = 15
JITTER = 0.02  # seconds of arrival jitter a bucket forgives, as a real server's clock granularity does
WORDS = ("deploy rollback latency incident pager database cache shard queue retry timeout canary "
         "alert dashboard runbook postmortem owner fix patch release customer region").split()


@dataclass
class Call:
    method: str
    params: dict[str, str]
    status: int
    at: float
    error: str = ""


@dataclass
class Channel:
    id: str
    name: str
    private: bool = False
    member: bool = True
    archived: bool = False
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # ts -> message
    im_user: str = ""  # a DM: the user it is with
    # The replies of each root, oldest first, as of (mutations, messages): rebuilt when either moved.
    _threads: tuple[tuple[int, int], dict[str, list[dict[str, Any]]]] = field(default_factory=lambda: ((-1, -1), {}), repr=False)

    def replies(self, root: str, version: int) -> list[dict[str, Any]]:
        key = (version, len(self.messages))
        if self._threads[0] != key:
            index: dict[str, list[dict[str, Any]]] = {}
            for m in self.messages.values():
                if m.get("thread_ts") not in (None, m["ts"]):
                    index.setdefault(m["thread_ts"], []).append(m)
            for rs in index.values():
                rs.sort(key=lambda r: float(r["ts"]))
            self._threads = (key, index)
        return self._threads[1].get(root, [])


class _Handler(FakeHandler):
    server_version = "slack-fake"


class _Server(FakeServer):
    handler = _Handler


def _ts(seconds: float, seq: int = 0) -> str:
    return f"{int(seconds)}.{seq % 1_000_000:06d}"


class SlackApiFake(ServedFake):
    thread_name = "slack-fake"

    def __init__(self, token: str = "xoxb-fake-bot-token", *, seed: int = 7, burst: int = 1,
                 epoch: float = 1_700_000_000) -> None:
        self.token = token
        self.rng = random.Random(seed)
        self.burst = burst
        self.time_factor = 1.0
        self.non_marketplace = False
        self.epoch = epoch
        self._lock = threading.RLock()
        self.channels: dict[str, Channel] = {}
        self.users: list[dict[str, Any]] = []
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.errors: list[str] = []
        self._buckets: dict[str, tuple[float, float]] = {}  # method -> (tokens, monotonic)
        self._retry_not_before: float = 0.0
        self._denied: dict[str, str] = {}
        self._revoked = False
        # The token's scopes, in auth.test's X-OAuth-Scopes header (Slack sends them with every answer).
        self.scopes = ["channels:history", "channels:read", "groups:history", "groups:read", "users:read"]
        self._cursor_epoch = 0
        self._body_limits = 0
        self._seq = 0
        self._version = 0  # bumped by every change of messages
        self._expire_after = 0  # answers to go until the cursors handed out expire (0: none pending)
        self._stuck: set[str] = set()  # methods whose pages ignore the cursor (stuck_cursor)
        self._kill: tuple[str, int, int] | None = None  # (method, nth call, pid)
        self._kill_seen = 0
        self.mangle: Callable[[str, bytes], bytes] | None = None  # (method, body) -> the body sent instead
        self._conns: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        for i, (name, real) in enumerate([("ada", "Ada Quill"), ("kenji", "Kenji Mori"), ("lin", "Lin Park")]):
            self.add_user(f"U0{i + 1}FAKE", name, real)

    def _new_server(self) -> _Server:
        return _Server(self)

    # -- data -------------------------------------------------------------------------------------

    def add_user(self, uid: str, name: str, real_name: str, **extra: Any) -> None:
        with self._lock:
            self.users.append({"id": uid, "name": name, "real_name": real_name, "deleted": False,
                               "is_bot": False, "profile": {"display_name": real_name, "real_name": real_name},
                               **extra})

    def add_channel(self, name: str, *, cid: str | None = None, private: bool = False, member: bool = True,
                    archived: bool = False) -> str:
        with self._lock:
            cid = cid or f"C{len(self.channels) + 1:08d}"
            self.channels[cid] = Channel(cid, name, private, member, archived)
            return cid

    def add_im(self, user: str) -> str:
        """A DM with `user` (listed under the type "im")."""
        with self._lock:
            cid = f"D{len(self.channels) + 1:08d}"
            self.channels[cid] = Channel(cid, "", im_user=user)
            return cid

    def post(self, channel: str, text: str, *, user: str = "U01FAKE", ts: str | None = None,
             thread_ts: str | None = None, **extra: Any) -> str:
        with self._lock:
            self._version += 1
            self._seq += 1
            ts = ts or _ts(self.epoch + self._seq * 60, self._seq)
            m: dict[str, Any] = {"type": "message", "user": user, "text": text, "ts": ts, **extra}
            if thread_ts:
                m["thread_ts"] = thread_ts
                m["parent_user_id"] = self.channels[channel].messages[thread_ts]["user"]
            self.channels[channel].messages[ts] = m
            return ts

    def put(self, channel: str, message: dict[str, Any]) -> None:
        """Stores a message object as it is (from an export's day file)."""
        with self._lock:
            self._version += 1
            self.channels[channel].messages[message["ts"]] = dict(message)

    def edit(self, channel: str, ts: str, text: str) -> None:
        with self._lock:
            self._version += 1
            m = self.channels[channel].messages[ts]
            m["text"] = text
            m["edited"] = {"user": m.get("user", ""), "ts": _ts(time.time(), 1)}

    def delete(self, channel: str, ts: str) -> None:
        """Deletes a message as Slack does: gone from history and its thread, except a thread's root
        that still has replies, which stays as a tombstone ("This message was deleted.")."""
        with self._lock:
            self._version += 1
            c = self.channels[channel]
            if any(r.get("thread_ts") == ts and r["ts"] != ts for r in c.messages.values()):
                c.messages[ts] = {"type": "message", "subtype": "tombstone", "hidden": True, "user": "USLACKBOT",
                                  "text": "This message was deleted.", "ts": ts, "thread_ts": ts}
            else:
                del c.messages[ts]

    def generate(self, channels: int, messages: int, thread_share: float = 0.1, max_replies: int = 5) -> None:
        """`channels` channels of `messages` messages each (roots and replies), `thread_share` of the
        top-level ones thread roots whose replies come up to 3 days later."""
        users = [u["id"] for u in self.users]
        for c in range(channels):
            cid = self.add_channel(f"chan-{c:02d}")
            made = 0
            t = self.epoch
            while made < messages:
                t += self.rng.randint(30, 3600)
                self._seq += 1
                ts = _ts(t, self._seq)
                text = " ".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(4, 14)))
                self.put(cid, {"type": "message", "user": self.rng.choice(users), "text": text, "ts": ts})
                made += 1
                if self.rng.random() < thread_share and made < messages:
                    n = min(self.rng.randint(1, max_replies), messages - made)
                    for r in range(n):
                        self._seq += 1
                        rts = _ts(t + self.rng.randint(60, 3 * 86400), self._seq)
                        self.put(cid, {"type": "message", "user": self.rng.choice(users), "ts": rts,
                                       "text": f"reply {r}: " + " ".join(self.rng.choice(WORDS) for _ in range(6)),
                                       "thread_ts": ts})
                        made += 1

    def message_count(self) -> int:
        return sum(len(c.messages) for c in self.channels.values())

    # -- modes ------------------------------------------------------------------------------------

    def deny(self, channel: str, error: str) -> None:
        self._denied[channel] = error

    def revoke(self) -> None:
        self._revoked = True

    def expire_cursors(self, after: int = 0) -> None:
        with self._lock:
            if after > 0:
                self._expire_after = after
            else:
                self._cursor_epoch += 1

    def stuck_cursor(self, method: str = "conversations.history") -> None:
        """A broken paginator: `method` ignores the cursor it is given, so every page is the first one,
        whose next_cursor points at the second, forever."""
        with self._lock:
            self._stuck.add(method)

    def ratelimit_in_body(self, n: int) -> None:
        self._body_limits = n

    def kill_at(self, method: str, nth: int, pid: int) -> None:
        """SIGKILLs process `pid` when the `nth` call of `method` (from now) arrives, before answering it:
        that request is in flight when the client dies. The call is kept with status 0."""
        with self._lock:
            self._kill = (method, nth, pid)
            self._kill_seen = 0

    def method_calls(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    # -- serving ----------------------------------------------------------------------------------

    def _dispatch(self, h: _Handler) -> None:
        split = urlsplit(h.path)
        method = split.path.rsplit("/", 1)[-1]
        params = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        n = int(h.headers.get("Content-Length") or 0)
        if n:
            h.rfile.read(n)
        with self._lock:
            kill = self._kill if self._kill and self._kill[0] == method else None
            if kill:
                self._kill_seen += 1
                if self._kill_seen < kill[1]:
                    kill = None
                else:
                    self._kill = None
                    self.calls.append(Call(method, params, 0, time.monotonic(), "killed"))
        if kill:
            os.kill(kill[2], signal.SIGKILL)
            h.close_connection = True
            return
        status, body, headers = 200, {"ok": False, "error": "unknown_method"}, {}
        try:
            status, body, headers = self._answer(method, params, h.headers.get("Authorization", ""))
        except Exception as e:  # noqa: BLE001 - a bug of the fake: loud in errors
            import traceback
            self.errors.append(f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
            status, body = 500, {"ok": False, "error": "fatal_error"}
        with self._lock:
            self.calls.append(Call(method, params, status, time.monotonic(), "" if body.get("ok") else body.get("error", "")))
            if self._expire_after > 0:
                self._expire_after -= 1
                if self._expire_after == 0:
                    self._cursor_epoch += 1
        payload = json.dumps(body).encode()
        if self.mangle is not None:
            payload = self.mangle(method, payload)
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(payload)))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(payload)

    def _take(self, method: str) -> float:
        """A token of `method`'s bucket: 0 when taken, else the seconds until one is there."""
        per_minute = 1 if (self.non_marketplace and method in PAGED) else TIER.get(method, 50)
        rate = per_minute * self.time_factor / 60.0
        now = time.monotonic()
        tokens, at = self._buckets.get(method, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * rate)
        if tokens >= 1 - rate * JITTER:
            self._buckets[method] = (tokens - 1, now)
            return 0.0
        self._buckets[method] = (tokens, now)
        return (1 - tokens) / rate

    def _cursor(self, call: str, offset: int) -> str:
        return base64.b64encode(f"{self._cursor_epoch}:{call}:{offset}".encode()).decode()

    def _offset(self, call: str, cursor: str) -> int | None:
        if not cursor:
            return 0
        try:
            epoch, bound, offset = base64.b64decode(cursor).decode().rsplit(":", 2)
        except Exception:  # noqa: BLE001 - anything unreadable is an invalid cursor
            return None
        return int(offset) if epoch == str(self._cursor_epoch) and bound == call else None

    def _page(self, method: str, call: str, items: list[Any], params: dict[str, str], key: str,
              default_limit: int = 100, head: list[Any] | None = None) -> dict[str, Any]:
        offset = 0 if method in self._stuck else self._offset(call, params.get("cursor", ""))
        if offset is None:
            return {"ok": False, "error": "invalid_cursor"}
        limit = int(params.get("limit") or default_limit)
        if self.non_marketplace and method in PAGED:
            limit = min(limit, NON_MARKETPLACE_PAGE)
        chunk = items[offset:offset + limit]
        more = offset + limit < len(items)
        body: dict[str, Any] = {"ok": True, key: (head or []) + chunk,
                                "response_metadata": {"next_cursor": self._cursor(call, offset + limit) if more else ""}}
        if method in PAGED:
            body["has_more"] = more
        return body

    def _answer(self, method: str, params: dict[str, str], auth: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            now = time.monotonic()
            if now < self._retry_not_before - 0.02:
                self.violations.append(f"{method} sent {self._retry_not_before - now:.3f} s before Retry-After")
            if auth != f"Bearer {self.token}":
                return 200, {"ok": False, "error": "invalid_auth" if auth else "not_authed"}, {}
            if self._revoked:
                return 200, {"ok": False, "error": "token_revoked"}, {}
            if method == "auth.test":  # Tier 4 ("100+ a minute"): no bucket of the tiers modelled here
                return 200, {"ok": True, "url": "https://fake.slack.com/", "team": "Fake Workspace", "user": "backfill",
                             "team_id": "T0FAKE", "user_id": "U0FAKE"}, {"X-OAuth-Scopes": ",".join(self.scopes)}
            wait = self._take(method)
            if wait > 0 or self._body_limits > 0:
                in_body = wait == 0
                if in_body:
                    self._body_limits -= 1
                    wait = 0.05
                self._retry_not_before = now + wait
                return (200 if in_body else 429), {"ok": False, "error": "ratelimited"}, {"Retry-After": f"{wait:.3f}"}
            if method == "users.list":
                return 200, self._page(method, "users", list(self.users), params, "members", 0 or len(self.users)), {}
            if method == "conversations.list":
                types = set((params.get("types") or "public_channel").split(","))
                listed = [self._channel_json(c) for c in self.channels.values()
                          if ("im" if c.im_user else "private_channel" if c.private else "public_channel") in types
                          and not (c.archived and params.get("exclude_archived") == "true")]
                return 200, self._page(method, "channels", listed, params, "channels"), {}
            channel = self.channels.get(params.get("channel", ""))
            if channel is None:
                return 200, {"ok": False, "error": "channel_not_found"}, {}
            denied = self._denied.get(channel.id)
            if denied == "missing_scope":
                return 200, {"ok": False, "error": "missing_scope", "needed": "groups:history",
                             "provided": "channels:history,channels:read,users:read"}, {}
            if denied:
                return 200, {"ok": False, "error": denied}, {}
            if method == "conversations.history":
                return 200, self._history(channel, params), {}
            if method == "conversations.replies":
                return 200, self._replies(channel, params), {}
            return 200, {"ok": False, "error": "unknown_method"}, {}

    def _channel_json(self, c: Channel) -> dict[str, Any]:
        if c.im_user:
            return {"id": c.id, "is_im": True, "user": c.im_user, "is_user_deleted": False, "created": int(self.epoch)}
        return {"id": c.id, "name": c.name, "is_channel": not c.private, "is_group": c.private,
                "is_private": c.private, "is_archived": c.archived, "is_member": c.member,
                "is_im": False, "is_mpim": False, "created": int(self.epoch)}

    def _with_thread(self, channel: Channel, m: dict[str, Any]) -> dict[str, Any]:
        replies = channel.replies(m["ts"], self._version)
        if not replies:
            return m
        return {**m, "thread_ts": m["ts"], "reply_count": len(replies),
                "reply_users": sorted({r.get("user", "") for r in replies}), "latest_reply": replies[-1]["ts"]}

    def _history(self, channel: Channel, params: dict[str, str]) -> dict[str, Any]:
        oldest = float(params.get("oldest") or 0)
        latest = float(params.get("latest") or 1e11)
        inclusive = params.get("inclusive") in ("true", "1")
        def inside(ts: float) -> bool:
            return (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)
        top = [m for m in channel.messages.values()
               if (m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast")
               and inside(float(m["ts"]))]
        top.sort(key=lambda m: float(m["ts"]), reverse=True)
        call = f"h/{channel.id}/{params.get('oldest', '')}/{params.get('latest', '')}"
        return self._page("conversations.history", call, [self._with_thread(channel, m) for m in top], params, "messages")

    def _replies(self, channel: Channel, params: dict[str, str]) -> dict[str, Any]:
        root = channel.messages.get(params.get("ts", ""))
        if root is None:
            return {"ok": False, "error": "thread_not_found"}
        replies = channel.replies(root["ts"], self._version)
        return self._page("conversations.replies", f"r/{channel.id}/{root['ts']}", replies, params, "messages",
                          head=[self._with_thread(channel, root)])
