#!/usr/bin/env python3
"""Generate a synthetic Slack workspace export: deterministic (seeded), invented people only.

The layout follows Slack's export format: users.json, channels.json, groups.json (private channels),
mpims.json, dms.json, integration_logs.json, and one folder per conversation holding one
YYYY-MM-DD.json file per day with activity, each a JSON array of messages in the Web API's shape.

The content is on-topic engineering chatter (incident reviews, database failovers and migrations,
deploys, on-call handoffs, release notes) so semantic search over it has something to find, plus
the things a normalizer has to get right: threads whose replies spill into the next day, bot
messages, edited messages, files and attachments, mentions, channel references and links,
channel_join noise, a deleted user, and non-ASCII text (German, Japanese, emoji).

Usage:
    python examples/make_slack_export.py OUT_DIR [--zip OUT.zip] [--channels N] [--days N]
                                         [--messages-per-day N] [--seed S] [--start YYYY-MM-DD]
                                         [--overwrite]

Days are written one at a time, so memory stays flat however large the export
(e.g. --days 400 --messages-per-day 200 writes tens of MB in seconds). Standard library only.
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import json
import random
import re
import shutil
import sys
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Message = dict[str, Any]

TEAM = "T0DEMO0001"
ZIP_DATE = (2024, 1, 1, 0, 0, 0)
DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
ROOT_FILES = ("users.json", "channels.json", "groups.json", "mpims.json", "dms.json", "integration_logs.json")


# ---- people --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    id: str
    name: str
    real_name: str
    display_name: str
    title: str
    tz: str
    deleted: bool = False
    is_bot: bool = False

    @property
    def shown(self) -> str:
        return self.display_name or self.real_name or self.name


USERS: tuple[User, ...] = (
    User("U0ADAQUILL1", "ada", "Ada Quill", "Ada Quill", "Staff SRE", "Europe/London"),
    User("U0BKRUEGER1", "bastian", "Bastian Krüger", "", "Database Engineer", "Europe/Berlin"),
    User("U0KARAKAWA1", "kenji", "Kenji Arakawa", "荒川 健二", "Backend Engineer", "Asia/Tokyo"),
    User("U0MVOSS0001", "mirela", "Mirela Voss", "mirela", "Engineering Manager", "Europe/Bucharest"),
    User("U0PTALWAR01", "priya", "Priya Talwar", "Priya", "Release Manager", "Asia/Kolkata"),
    User("U0TFERREIR1", "tomas", "Tomás Ferreira", "Tomás", "Platform Engineer", "Europe/Lisbon"),
    User("U0SHALVORS1", "sven", "Sven Halvorsen", "", "Support Lead", "Europe/Oslo"),
    User("U0LOKAFOR01", "lena", "Lena Okafor", "Lena", "Data Engineer", "America/New_York", deleted=True),
    User("U0DEPLOYBT1", "deploybot", "Deploy Bot", "deploybot", "", "America/Los_Angeles", is_bot=True),
)
HUMANS = tuple(u for u in USERS if not u.is_bot)
DEPLOYBOT = next(u for u in USERS if u.is_bot)
DEPLOYBOT_ID = "B0DEPLOY001"
PAGERBOT_ID = "B0PAGER0001"  # a legacy integration: posts as subtype bot_message, no user


# ---- content -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    kind: str                      # channel kind it belongs to: incidents, engineering, general, random, private
    root: str
    replies: tuple[str, ...]
    files: tuple[tuple[str, str, str], ...] = ()  # (name, title, mimetype) attached to the root
    spans: bool = False            # the last replies come the next morning
    key: str = ""


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "incidents",
        "{here} :rotating_light: {inc}: primary Postgres `{db}` stopped accepting writes at {hhmm} UTC, "
        "`{svc}` is returning 500s. {m1} is incident commander, I'm on comms.",
        (
            ("Patroni did not promote the standby: the leader key in etcd was never released, so the cluster "
             "sat without a leader."),
            ("Confirmed: etcd lost quorum during the node-pool upgrade, two of the three members were "
             "rescheduled at the same time."),
            ("Manually promoted `{db}-replica-1` with `patronictl failover --candidate {db}-replica-1`. "
             "Writes are back and the error rate is dropping."),
            "Replication lag on the new standby is {lag}s and shrinking. Keeping {inc} open until it is under 1s.",
            ("Resolved. Root cause: etcd quorum loss blocked the automatic database failover. Fix: etcd moved to "
             "a dedicated node pool with a PodDisruptionBudget, and an alert fires when the Patroni leader key "
             "is older than 30s."),
            ("Postmortem is up: <https://wiki.example.com/postmortems/{inc}|{inc} postmortem: database failover "
             "did not trigger>. Action items are tracked in {c_engineering}."),
        ),
        files=(("patroni-timeline.png", "Patroni timeline during {inc}", "image/png"),),
        spans=True,
        key="failover",
    ),
    Scenario(
        "incidents",
        "Failover drill for `{db}` tonight at 21:00 UTC, expect about 30s of read-only mode. {m1} {m2} "
        "please be around.",
        (
            "Drill done: the switchover took 14s, no errors on the API side.",
            ("One finding: the connection pool in `{svc}` kept stale connections to the old primary for two "
             "minutes after the failover."),
            ("Fixed in <https://git.example.com/acme/{svc}/pull/{pr}|PR #{pr}>: PgBouncer now runs a server "
             "check query and reconnects after a failover. Verified in staging."),
        ),
        spans=True,
    ),
    Scenario(
        "incidents",
        "{inc}: p99 latency of `{svc}` is {ms}ms in {region} (normal is about 120ms). Looking into it.",
        (
            "CPU steal is at 40% on two nodes, looks like a noisy neighbour.",
            "Cordoned and drained both nodes, latency is back to normal.",
            "Added an alert on CPU steal above 20% so we catch this earlier next time.",
        ),
    ),
    Scenario(
        "incidents",
        "{inc}: the log volume of `{svc}` is at 97% in {region}, ingestion is backing up.",
        (
            "Retention was 30 days instead of 7 after the last Helm upgrade: the values file lost the override.",
            "Set retention back to 7 days and grew the volume to 2 TB, the backlog is draining.",
            "Guard added: CI now fails when `retention_days` is missing from the values file.",
        ),
        files=(("disk-usage.png", "Disk usage {region}", "image/png"),),
    ),
    Scenario(
        "incidents",
        "{inc}: the TLS certificate for api.example.com expires in 3 days and the cert-manager renewal fails.",
        (
            "The ACME HTTP-01 challenge is blocked by the new WAF rule.",
            "Allow-listed `/.well-known/acme-challenge/` in the WAF, the renewal went through.",
            "Certificate valid for another 90 days. New alert at 14 days before expiry.",
        ),
        spans=True,
    ),
    Scenario(
        "incidents",
        "Kafka consumer lag for `{svc}` is at 2.3M messages. {m1} can you take a look?",
        (
            "A poison message crashes the consumer in a loop.",
            "Moved it to the dead-letter topic, lag is going down by about 50k per minute.",
            "The consumer now dead-letters any message that fails 5 times instead of retrying forever.",
        ),
    ),
    Scenario(
        "engineering",
        "Migration plan for `{table}` ({rows}M rows): 1) add `{col}` as nullable, 2) backfill in batches of "
        "10k with a 50ms pause, 3) add NOT NULL via a `NOT VALID` check constraint and `VALIDATE CONSTRAINT`. "
        "Reviews welcome: <https://git.example.com/acme/{svc}/pull/{pr}|PR #{pr}>",
        (
            "Please run the backfill outside the nightly vacuum window, last time it doubled the lock waits.",
            "Batch size 10k looks right, we measured about 3k rows/s on the replica.",
            ("The database migration finished on production in 47 minutes without lock timeouts. "
             "`{table}.{col}` is NOT NULL now."),
            "Nice. Can we reuse the script for `invoices` next sprint?",
        ),
        files=(("migration-plan.md", "Migration plan {table}.{col}", "text/markdown"),),
        key="migration",
    ),
    Scenario(
        "engineering",
        "We are upgrading `{db}` from Postgres 14 to 16 with logical replication. Cutover planned for {date}.",
        (
            "Sequences are not replicated logically, remember to sync them before the cutover.",
            "Dry run on staging: 4 minutes of read-only mode during the cutover.",
            "Cutover done, `{db}` runs on Postgres 16. Query plans look the same or better.",
        ),
        spans=True,
    ),
    Scenario(
        "engineering",
        "RFC: a retry budget for outbound HTTP calls in `{svc}`: <https://docs.example.com/rfc/{n}|RFC-{n}>. "
        "tl;dr exponential backoff with jitter, at most 3 retries, honour Retry-After.",
        (
            "+1, and please cap the total time too, not only the count.",
            "What about idempotency keys for POST requests?",
            "Added both to the RFC. Implementation in PR #{pr}.",
        ),
    ),
    Scenario(
        "engineering",
        "`test_checkout_concurrency` is flaky again on main (3 of the last 10 runs).",
        (
            "It depends on the wall clock. I'll switch it to the fake clock.",
            "Fixed in PR #{pr}, 200 green runs in a row.",
        ),
    ),
    Scenario(
        "engineering",
        "Heads up: deploy freeze for `{svc}` from Friday 18:00 UTC until Monday. {m1} owns the rollback plan.",
        (
            ("Rollback plan: `helm rollback {svc}` to the previous revision, the database migrations of this "
             "release are backwards compatible."),
            "Thanks, linked it from the release checklist.",
        ),
    ),
    Scenario(
        "general",
        "Release {ver} is out 🎉 Highlights: faster search indexing, the new export API, and fixes for time "
        "zones in reports. Full notes: <https://example.com/releases/{ver}|release notes {ver}>",
        (
            "Great work everyone!",
            "The export API docs are live as well: <https://docs.example.com/export>",
            "Customers already asked about the export API in {c_support_or_general}, sharing the notes there.",
        ),
        key="release",
    ),
    Scenario(
        "general",
        "Reminder: all-hands tomorrow at 16:00 UTC, the agenda is in the doc. Questions welcome in this thread.",
        (
            "Will it be recorded?",
            "Yes, the recording goes to the usual folder.",
        ),
    ),
    Scenario(
        "general",
        "Welcome {m1} to the team! 👋 {m1} joins us to work on reliability.",
        ("Welcome aboard! 🎉", "Willkommen! 🙌", "ようこそ！"),
    ),
    Scenario(
        "random",
        "Grüße aus Berlin! Die Sonne scheint endlich wieder ☀️",
        ("Schön! Hier in Lissabon auch 😎", "Neid! Hier regnet es seit Tagen 🌧️"),
    ),
    Scenario(
        "random",
        "東京オフィスの桜が満開です 🌸 写真を撮りました",
        ("きれい！🌸", "Wow, beautiful 😍", "Next year I want to see them in person!"),
        files=(("sakura.jpg", "桜 🌸", "image/jpeg"),),
    ),
    Scenario(
        "random",
        "Anyone up for lunch at the ramen place? 🍜",
        ("Count me in", "12:30 at the lobby?", "👍"),
    ),
    Scenario(
        "random",
        "Weekend plans? I'm hiking in the Alps 🏔️ Über den Gipfel und zurück.",
        ("Have fun! Send pictures 📸", "Bring a jacket, it snowed up there last week ❄️"),
    ),
    Scenario(
        "private",
        "Draft of the Q{q} reliability review: the error budget of `{svc}` burned 38%, mostly during {inc}.",
        (
            "The database failover action items are the big ones. Are they staffed?",
            "Yes, {m1} owns the etcd move and the failover alerting.",
        ),
    ),
    Scenario(
        "private",
        "Pager load last week: 14 pages, 9 actionable. Proposal: drop the disk-at-80% alert in favour of "
        "predictive fill alerts.",
        ("Agreed, the 80% alert fired 4 times without action.", "Let's pilot it on {region} first."),
    ),
)

FILLER: dict[str, tuple[str, ...]] = {
    "general": (
        "The office is closed on Monday for the public holiday.",
        "The new expense tool is live: <https://intranet.example.com/expenses|expenses>",
        "Coffee machine on floor 3 is fixed ☕️",
        "Reminder: please fill in the engineering survey by Friday.",
        "Slides from today's tech talk on database failover: <https://wiki.example.com/talks/failover|slides>",
    ),
    "engineering": (
        "Merged the dependency updates, CI is green.",
        "Reminder: code freeze for {ver} starts tomorrow.",
        "Staging is back after the database restore.",
        "Heads up: `{svc}` now needs the `TENANT_ID` environment variable, see {c_incidents} for why.",
        "PR #{pr} is ready for review, it adds connection retries to `{svc}`.",
    ),
    "incidents": (
        "All clear on the dashboards after the weekend.",
        "Status page updated: <https://status.example.com>",
        "Reminder: the on-call handoff is on Monday at 09:00 UTC.",
    ),
    "random": (
        "☕️ Kaffee ist fertig!",
        "今日は金曜日！🎉",
        "Did anyone see the eclipse yesterday?",
        "Recommendations for a good mechanical keyboard? ⌨️",
        "Frohes Schaffen und einen schönen Feierabend! 🍻",
    ),
    "private": (
        "Headcount plan for next quarter is in the shared folder.",
        "Reminder: reliability review on Thursday.",
    ),
    "team": (
        "Stand-up notes are in the doc.",
        "Sprint review moved to 15:00 UTC.",
        "PR #{pr} needs one more approval.",
        "Deployed `{svc}` to staging, please test.",
    ),
}

PUBLIC_CHANNELS: tuple[tuple[str, str, str], ...] = (
    ("general", "general", "Company-wide announcements and work-based matters"),
    ("engineering", "engineering", "Engineering discussions, RFCs, migrations"),
    ("incidents", "incidents", "Active incidents and postmortems"),
    ("random", "random", "Non-work banter and water cooler conversation"),
    ("deploys", "engineering", "Deploy notifications and release coordination"),
    ("data-platform", "engineering", "Pipelines, warehouses and database operations"),
    ("release-notes", "general", "What shipped"),
    ("support", "team", "Customer escalations"),
    ("security", "team", "Security reviews and advisories"),
    ("design", "team", "Design reviews"),
)
PRIVATE_CHANNEL = ("sre-leads", "private", "SRE leads: reviews, staffing, pager load")

SERVICES = ("checkout-api", "search-indexer", "billing-worker", "auth-gateway", "notifications", "reporting")
DATABASES = ("orders-db", "billing-db", "users-db", "analytics-db")
TABLES = ("orders", "invoices", "payments", "shipments", "user_sessions")
COLUMNS = ("currency_code", "tenant_id", "archived_at", "region")
REGIONS = ("eu-west-1", "us-east-1", "ap-northeast-1")
GENERIC_REPLIES = ("+1", "Thanks {m0}!", "👍 makes sense", "Looking", "On it", "Danke!", "ありがとう 🙏")


# ---- ids, time ------------------------------------------------------------------------------------


def slack_id(rng: random.Random, prefix: str, n: int = 10) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return prefix + "".join(rng.choice(alphabet) for _ in range(n))


class Clock:
    """Unique Slack timestamps: microsecond parts from a counter, scrambled (bijective modulo 10^6)."""

    def __init__(self) -> None:
        self.counter = 0

    def ts(self, seconds: int) -> str:
        self.counter += 1
        return f"{seconds}.{(self.counter * 104729) % 1_000_000:06d}"


def ts_key(ts: str) -> tuple[int, int]:
    sec, _, micro = ts.partition(".")
    return int(sec), int(micro or 0)


# ---- the workspace ----------------------------------------------------------------------------------


@dataclass
class Channel:
    id: str
    name: str
    kind: str
    purpose: str
    members: list[User]
    private: bool = False
    folder: str = ""

    def __post_init__(self) -> None:
        self.folder = self.folder or self.name


@dataclass
class Workspace:
    start: int  # epoch seconds of day 0, 00:00 UTC
    days: int
    channels: list[Channel]
    mpim: Channel
    dm: Channel
    by_kind: dict[str, Channel] = field(default_factory=dict)

    refs: dict[str, str] = field(default_factory=dict)

    def ref(self, name: str) -> str:
        """A channel reference; the first channel stands in for one this workspace does not have."""
        if not self.refs:
            self.refs = {c.name: f"<#{c.id}|{c.name}>" for c in self.channels}
        return self.refs.get(name) or self.refs[self.channels[0].name]


def build_workspace(rng: random.Random, n_channels: int, start: int, days: int) -> Workspace:
    channels: list[Channel] = []
    for i in range(n_channels):
        if i < len(PUBLIC_CHANNELS):
            name, kind, purpose = PUBLIC_CHANNELS[i]
        else:
            name, kind, purpose = f"team-{i:03d}", "team", "A team channel"
        humans = list(HUMANS)
        if name == "general":
            members = humans
        else:
            members = rng.sample(humans, k=rng.randint(4, len(humans)))
        if kind in ("engineering", "incidents", "team"):
            members = members + [DEPLOYBOT]
        channels.append(Channel(slack_id(rng, "C"), name, kind, purpose, members))
    name, kind, purpose = PRIVATE_CHANNEL
    channels.append(Channel(slack_id(rng, "G"), name, kind, purpose, list(HUMANS[:4]), private=True))
    mpim_members = [HUMANS[0], HUMANS[2], HUMANS[3]]
    mpim_name = "mpdm-" + "--".join(u.name for u in mpim_members) + "-1"
    mpim = Channel(slack_id(rng, "G"), mpim_name, "dm", "", mpim_members, private=True)
    dm_id = slack_id(rng, "D")
    dm = Channel(dm_id, dm_id, "dm", "", [HUMANS[0], HUMANS[1]], private=True, folder=dm_id)
    ws = Workspace(start, days, channels, mpim, dm)
    for ch in channels:
        ws.by_kind.setdefault(ch.kind, ch)
    return ws


def users_json(rng: random.Random, start: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for u in USERS:
        first = u.real_name.split(" ")[0]
        profile: dict[str, Any] = {
            "title": u.title,
            "phone": "",
            "skype": "",
            "real_name": u.real_name,
            "real_name_normalized": u.real_name,
            "display_name": u.display_name,
            "display_name_normalized": u.display_name,
            "status_text": "",
            "status_emoji": "",
            "avatar_hash": f"g{rng.getrandbits(44):011x}",
            "first_name": first,
            "last_name": u.real_name[len(first):].strip(),
            "image_72": f"https://avatars.example.com/{u.id}_72.png",
            "team": TEAM,
        }
        if not u.is_bot:
            profile["email"] = f"{u.name}@example.com"
        else:
            profile["bot_id"] = DEPLOYBOT_ID
            profile["api_app_id"] = "A0DEPLOYAP1"
        out.append({
            "id": u.id,
            "team_id": TEAM,
            "name": u.name,
            "deleted": u.deleted,
            "color": f"{rng.getrandbits(24):06x}",
            "real_name": u.real_name,
            "tz": u.tz,
            "tz_label": u.tz,
            "tz_offset": 0,
            "profile": profile,
            "is_admin": u.name == "mirela",
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": u.is_bot,
            "is_app_user": False,
            "updated": start,
        })
    return out


def conversation_json(ch: Channel, created: int) -> dict[str, Any]:
    creator = ch.members[0].id
    topic_purpose = {"value": ch.purpose, "creator": creator, "last_set": created}
    obj: dict[str, Any] = {
        "id": ch.id,
        "name": ch.name,
        "created": created,
        "creator": creator,
        "is_archived": False,
        "is_general": ch.name == "general",
        "members": [u.id for u in ch.members],
        "topic": dict(topic_purpose, value=""),
        "purpose": topic_purpose,
    }
    if ch.kind == "dm" and ch.name.startswith("mpdm-"):
        obj["is_mpim"] = True
        del obj["is_general"]
    return obj


def write_json(path: Path, value: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=4)
        f.write("\n")


# ---- messages ---------------------------------------------------------------------------------------


class Values(dict[str, str]):
    """Template values (for str.format_map), each drawn lazily and then kept for the whole thread."""

    def __init__(self, gen: Generator, people: list[User], when: int) -> None:
        super().__init__()
        self.gen = gen
        self.people = people
        self.when = when

    def __missing__(self, key: str) -> str:
        value = self.gen.value(key, self.people, self.when)
        self[key] = value
        return value


class Generator:
    def __init__(self, rng: random.Random, ws: Workspace) -> None:
        self.rng = rng
        self.ws = ws
        self.clock = Clock()
        self.incident = 1000
        self.day = 0
        # Messages waiting for a later day: day index -> channel id -> messages.
        self.pending: dict[int, dict[str, list[Message]]] = {}
        self.file_seq = 0

    # -- people --
    def active(self, members: list[User]) -> list[User]:
        """Humans who can post today (the deleted user only in the first third of the period)."""
        cutoff = self.ws.days // 3
        return [u for u in members if not u.is_bot and (not u.deleted or self.day < cutoff)]

    def mention(self, u: User) -> str:
        return f"<@{u.id}>"

    # -- values for the templates --
    def values(self, people: list[User], when: int) -> Values:
        return Values(self, people, when)

    def value(self, key: str, people: list[User], when: int) -> str:
        """One template value, drawn when a template first asks for it."""
        rng = self.rng
        if key == "inc":
            self.incident += 1
            return f"INC-{self.incident}"
        if key in ("m0", "m1", "m2"):
            i = int(key[1])
            return self.mention(people[i] if i < len(people) else rng.choice(HUMANS))
        if key == "hhmm":
            return dt.datetime.fromtimestamp(when, dt.timezone.utc).strftime("%H:%M")
        if key == "q":
            return str((dt.datetime.fromtimestamp(when, dt.timezone.utc).month - 1) // 3 + 1)
        if key == "date":
            later = when + 86400 * rng.randint(2, 9)
            return dt.datetime.fromtimestamp(later, dt.timezone.utc).strftime("%Y-%m-%d")
        if key == "ver":
            return f"v2.{3 + self.day // 7}.{rng.randint(0, 9)}"
        if key == "c_support_or_general":
            has_support = any(c.name == "support" for c in self.ws.channels)
            return self.ws.ref("support" if has_support else "general")
        if key.startswith("c_"):
            return self.ws.ref(key[2:])
        choices = {"svc": SERVICES, "db": DATABASES, "table": TABLES, "col": COLUMNS, "region": REGIONS}
        if key in choices:
            return rng.choice(choices[key])
        ranges = {"rows": (5, 400), "ms": (800, 4000), "lag": (2, 40), "n": (100, 999), "pr": (1200, 4800)}
        if key in ranges:
            return str(rng.randint(*ranges[key]))
        if key == "here":
            return "<!here>"
        raise KeyError(key)

    # -- message shapes --
    def human(self, u: User, seconds: int, text: str) -> Message:
        m: Message = {
            "client_msg_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "type": "message",
            "text": text,
            "user": u.id,
            "ts": self.clock.ts(seconds),
            "team": TEAM,
            "user_team": TEAM,
            "source_team": TEAM,
            "user_profile": {
                "first_name": u.real_name.split(" ")[0],
                "real_name": u.real_name,
                "display_name": u.display_name,
                "team": TEAM,
                "name": u.name,
                "is_restricted": False,
                "is_ultra_restricted": False,
            },
        }
        if self.rng.random() < 0.08:
            m["edited"] = {"user": u.id, "ts": f"{seconds + self.rng.randint(30, 900)}.000000"}
        return m

    def file(self, u: User, seconds: int, name: str, title: str, mimetype: str) -> dict[str, Any]:
        self.file_seq += 1
        fid = f"F0{self.file_seq:09d}"
        return {
            "id": fid,
            "created": seconds,
            "timestamp": seconds,
            "name": name,
            "title": title,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1],
            "pretty_type": name.rsplit(".", 1)[-1].upper(),
            "user": u.id,
            "mode": "hosted",
            "editable": False,
            "is_external": False,
            "external_type": "",
            "size": self.rng.randint(10_000, 900_000),
            "url_private": f"https://files.example.com/files-pri/{TEAM}-{fid}/{name}",
            "permalink": f"https://acme.example.com/files/{u.id}/{fid}/{name}",
        }

    def deploy_message(self, seconds: int, vals: dict[str, str]) -> Message:
        build = self.rng.randint(10_000, 99_999)
        text = f"Deployed `{vals['svc']}` {vals['ver']} to production"
        return {
            "type": "message",
            "subtype": "bot_message",
            "text": text,
            "ts": self.clock.ts(seconds),
            "username": "deploybot",
            "bot_id": DEPLOYBOT_ID,
            "user": DEPLOYBOT.id,
            "bot_profile": {"id": DEPLOYBOT_ID, "name": "deploybot", "app_id": "A0DEPLOYAP1", "team_id": TEAM,
                            "deleted": False},
            "attachments": [{
                "id": 1,
                "color": "2eb886",
                "fallback": f"{text} (build #{build})",
                "title": f"Build #{build}",
                "title_link": f"https://ci.example.com/builds/{build}",
                "text": f"{self.rng.randint(1, 30)} commits, all checks passed",
            }],
        }

    def pager_message(self, seconds: int, vals: dict[str, str], on_call: User) -> Message:
        n = self.rng.randint(10_000, 99_999)
        title = f"[Triggered] {vals['svc']} error rate above 5% for 5 minutes"
        return {
            "type": "message",
            "subtype": "bot_message",
            "text": "",
            "ts": self.clock.ts(seconds),
            "username": "pagerbot",
            "bot_id": PAGERBOT_ID,
            "attachments": [{
                "id": 1,
                "color": "a30200",
                "fallback": title,
                "title": title,
                "title_link": f"https://pager.example.com/incidents/{n}",
                "text": f"Assigned to {self.mention(on_call)} &amp; escalating in 15 minutes",
            }],
        }

    def join(self, u: User, seconds: int) -> Message:
        return {"type": "message", "subtype": "channel_join", "ts": self.clock.ts(seconds), "user": u.id,
                "text": f"<@{u.id}> has joined the channel"}

    # -- threads --
    def thread(self, ch: Channel, sc: Scenario, seconds: int) -> list[Message]:
        rng = self.rng
        people = self.active(ch.members)
        if not people:
            return []
        rng.shuffle(people)
        author, others = people[0], people[1:] or people
        vals = self.values(others, seconds)
        root = self.human(author, seconds, sc.root.format_map(vals))
        for name, title, mime in sc.files:
            root.setdefault("files", []).append(self.file(author, seconds, name, title.format_map(vals), mime))
            root["upload"] = False
            root["display_as_bot"] = False
        texts = list(sc.replies[: rng.randint(1, len(sc.replies))]) if sc.replies else []
        if rng.random() < 0.3:
            texts.insert(rng.randint(0, len(texts)), rng.choice(GENERIC_REPLIES))
        replies: list[Message] = []
        t = seconds
        end = self.ws.start + self.ws.days * 86400
        for i, text in enumerate(texts):
            last_part = i >= max(1, len(texts) - 2)
            if sc.spans and last_part and t - self.day_start() < 86400 and rng.random() < 0.7:
                t = self.day_start() + 86400 + rng.randint(7 * 3600, 10 * 3600)  # next morning
                text = "Follow-up from yesterday: " + text
            else:
                t += rng.randint(60, 50 * 60)
            if t >= end:
                break
            who = others[i % len(others)] if i % 3 != 2 else author
            reply = self.human(who, t, text.format_map(vals))
            reply["thread_ts"] = root["ts"]
            reply["parent_user_id"] = author.id
            if i == len(texts) - 1 and sc.kind == "incidents" and rng.random() < 0.4:
                reply["subtype"] = "thread_broadcast"
            replies.append(reply)
        if replies:
            root["thread_ts"] = root["ts"]
            root["reply_count"] = len(replies)
            root["reply_users_count"] = len({r["user"] for r in replies})
            root["latest_reply"] = replies[-1]["ts"]
            root["reply_users"] = list(dict.fromkeys(r["user"] for r in replies))
            root["is_locked"] = False
            root["subscribed"] = False
        return [root, *replies]

    def day_start(self) -> int:
        return self.ws.start + self.day * 86400

    def post(self, today: dict[str, list[Message]], ch: Channel, messages: list[Message]) -> None:
        """Files each message under the day of its ts (replies may belong to a later day)."""
        for m in messages:
            index = (ts_key(m["ts"])[0] - self.ws.start) // 86400
            if index == self.day:
                today.setdefault(ch.id, []).append(m)
            else:
                self.pending.setdefault(index, {}).setdefault(ch.id, []).append(m)

    def scenario_for(self, ch: Channel) -> Scenario | None:
        kind = {"team": "engineering"}.get(ch.kind, ch.kind)
        pool = [s for s in SCENARIOS if s.kind == kind]
        return self.rng.choice(pool) if pool else None

    def filler(self, ch: Channel, seconds: int) -> list[Message]:
        people = self.active(ch.members)
        if not people:
            return []
        u = self.rng.choice(people)
        text = self.rng.choice(FILLER.get(ch.kind, FILLER["team"]))
        if "{" in text:
            text = text.format_map(self.values(people, seconds))
        return [self.human(u, seconds, text)]

    def generate_day(self, messages_per_day: int, scripted: dict[int, str]) -> dict[str, list[Message]]:
        rng = self.rng
        ws = self.ws
        today: dict[str, list[Message]] = self.pending.pop(self.day, {})
        start = self.day_start()
        weekday = dt.datetime.fromtimestamp(start, dt.timezone.utc).weekday()

        def at(lo_hour: float = 7, hi_hour: float = 19) -> int:
            return start + rng.randint(int(lo_hour * 3600), int(hi_hour * 3600))

        if self.day == 0:  # everyone joins their channels on the first day
            for ch in ws.channels:
                for u in ch.members:
                    self.post(today, ch, [self.join(u, start + rng.randint(6 * 3600, 7 * 3600))])
        elif rng.random() < 0.1:
            ch = rng.choice(ws.channels)
            self.post(today, ch, [self.join(rng.choice(self.active(ch.members) or list(HUMANS)), at())])

        key = scripted.get(self.day)
        if key:
            sc = next(s for s in SCENARIOS if s.key == key)
            ch = ws.by_kind.get(sc.kind) or ws.channels[0]
            self.post(today, ch, self.thread(ch, sc, at(17, 19.5) if sc.spans else at()))

        if weekday == 0:  # Monday: on-call handoff in the incidents channel (or general)
            ch = ws.by_kind.get("incidents") or ws.channels[0]
            people = self.active(ch.members)
            if len(people) >= 2:
                a, b = rng.sample(people, 2)
                vals = self.values([a, b], start)
                week = dt.datetime.fromtimestamp(start, dt.timezone.utc).isocalendar()[1]
                text = (f"On-call handoff for week {week}: {self.mention(a)} → {self.mention(b)}. Open items: "
                        f"{vals['inc']} follow-ups (etcd alert tuning), `{vals['db']}` replica disk at 71%, "
                        "certificate renewal for staging. Runbooks: <https://wiki.example.com/oncall|on-call wiki>")
                root = self.human(a, start + 9 * 3600, text)
                reply = self.human(b, start + 9 * 3600 + rng.randint(120, 900),
                                   "Thanks! Taking over. I read the updated database failover runbook.")
                reply["thread_ts"] = root["ts"]
                reply["parent_user_id"] = a.id
                root.update(thread_ts=root["ts"], reply_count=1, reply_users_count=1, latest_reply=reply["ts"],
                            reply_users=[b.id], is_locked=False, subscribed=False)
                self.post(today, ch, [root, reply])

        volume = messages_per_day if weekday < 5 else max(1, messages_per_day // 4)
        n = rng.randint(volume // 2, volume + volume // 2) if volume > 1 else volume
        weights = [{"general": 2.0, "engineering": 3.0, "incidents": 1.5, "random": 1.5, "private": 0.5}
                   .get(c.kind, 1.0) for c in ws.channels]
        for _ in range(n):
            ch = rng.choices(ws.channels, weights)[0]
            roll = rng.random()
            if ch.kind in ("engineering", "incidents", "team") and roll < 0.1:
                vals = self.values(self.active(ch.members) or list(HUMANS), start)
                if ch.kind == "incidents" and roll < 0.04:
                    self.post(today, ch, [self.pager_message(at(0, 23.9), vals, rng.choice(HUMANS))])
                else:
                    self.post(today, ch, [self.deploy_message(at(), vals)])
            elif roll < 0.45:
                picked = self.scenario_for(ch)
                if picked:
                    self.post(today, ch, self.thread(ch, picked, at(8, 21)))
            else:
                self.post(today, ch, self.filler(ch, at(0, 23.9)))

        # A little private chatter.
        for conv, lines in ((ws.dm, ("Can you review my PR when you have a minute?", "Sure, after lunch 🍜")),
                            (ws.mpim, ("Shall we sync on the failover runbook tomorrow?", "Ja, 10 Uhr passt.",
                                       "了解です 👍"))):
            if rng.random() < 0.25:
                t = at()
                msgs = []
                for i, line in enumerate(lines):
                    msgs.append(self.human(conv.members[i % len(conv.members)], t + 60 * i, line))
                self.post(today, conv, msgs)
        return today


# ---- output ----------------------------------------------------------------------------------------


def write_day_file(path: Path, messages: list[Message]) -> None:
    messages.sort(key=lambda m: ts_key(m["ts"]))
    with open(path, "w", encoding="utf-8") as f:
        f.write("[\n")
        f.write(",\n".join("    " + json.dumps(m, ensure_ascii=False) for m in messages))
        f.write("\n]\n")


def clear_previous(out: Path) -> None:
    """Removes what an earlier run wrote (root files and folders of day files) and nothing else."""
    for name in ROOT_FILES:
        (out / name).unlink(missing_ok=True)
    for child in out.iterdir():
        if child.is_dir() and all(p.is_file() and DAY_FILE.match(p.name) for p in child.iterdir()):
            shutil.rmtree(child)


def write_zip(out: Path, zip_path: Path) -> None:
    target = zip_path.resolve()
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.resolve() != target)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in files:
            info = zipfile.ZipInfo(p.relative_to(out).as_posix(), date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with open(p, "rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def generate(out: Path, *, channels: int, days: int, messages_per_day: int, seed: int, start: dt.date) -> int:
    rng = random.Random(seed)
    start_epoch = calendar.timegm(start.timetuple())
    ws = build_workspace(rng, channels, start_epoch, days)
    out.mkdir(parents=True, exist_ok=True)

    created = start_epoch - 86400 * 400
    write_json(out / "users.json", users_json(rng, created))
    write_json(out / "channels.json", [conversation_json(c, created) for c in ws.channels if not c.private])
    write_json(out / "groups.json", [conversation_json(c, created) for c in ws.channels if c.private])
    write_json(out / "mpims.json", [conversation_json(ws.mpim, created)])
    write_json(out / "dms.json", [{"id": ws.dm.id, "created": created, "members": [u.id for u in ws.dm.members]}])
    write_json(out / "integration_logs.json", [
        {"app_id": "A0DEPLOYAP1", "app_type": "deploybot", "user_id": HUMANS[0].id, "user_name": HUMANS[0].name,
         "date": str(created), "change_type": "added", "scope": "chat:write", "reason": ""},
        {"service_id": PAGERBOT_ID, "service_type": "Incoming WebHooks", "user_id": HUMANS[3].id,
         "user_name": HUMANS[3].name, "date": str(created), "change_type": "added",
         "channel": (ws.by_kind.get("incidents") or ws.channels[0]).name},
    ])

    # Key stories at fixed points so even a tiny export has them.
    scripted = {min(2, days - 1): "failover", min(5, days - 1): "migration", min(9, days - 1): "release"}
    if days <= 2:
        scripted = {0: "failover"}
    gen = Generator(rng, ws)
    folders = {c.id: c.folder for c in [*ws.channels, ws.mpim, ws.dm]}
    written = 0
    for d in range(days):
        gen.day = d
        today = gen.generate_day(messages_per_day, scripted)
        date = (start + dt.timedelta(days=d)).isoformat()
        for cid, messages in today.items():
            if not messages:
                continue
            folder = out / folders[cid]
            folder.mkdir(exist_ok=True)
            write_day_file(folder / f"{date}.json", messages)
            written += len(messages)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Generate a synthetic Slack workspace export (invented data).")
    p.add_argument("out_dir", type=Path, help="folder to write the unpacked export to")
    p.add_argument("--zip", type=Path, default=None, help="also write the export as this .zip file")
    p.add_argument("--channels", type=int, default=4, help="public channels (a private one is added); default 4")
    p.add_argument("--days", type=int, default=30, help="days of history; default 30")
    p.add_argument("--messages-per-day", type=int, default=12,
                   help="top-level messages per weekday across all channels, before replies; default 12")
    p.add_argument("--seed", type=int, default=7, help="random seed; the same seed gives the same export")
    p.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2024, 3, 1), help="first day (UTC)")
    p.add_argument("--overwrite", action="store_true", help="replace an export written earlier into OUT_DIR")
    args = p.parse_args(argv)

    if args.channels < 1 or args.days < 1 or args.messages_per_day < 0:
        p.error("--channels and --days must be at least 1, --messages-per-day at least 0")
    out: Path = args.out_dir
    if out.exists() and any(out.iterdir()):
        if not args.overwrite:
            p.error(f"{out} is not empty (use --overwrite to replace an export written there earlier)")
        clear_previous(out)
    count = generate(out, channels=args.channels, days=args.days, messages_per_day=args.messages_per_day,
                     seed=args.seed, start=args.start)
    if args.zip:
        write_zip(out, args.zip)
    print(f"wrote {count} messages to {out}" + (f" and {args.zip}" if args.zip else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
