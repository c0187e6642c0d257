"""`backfill plan` estimates against the runs that follow it, on the Jira, GitHub and Slack Web API fakes:
items from each API's own count (Jira's approximate count, GitHub's list counts, Slack's history pages),
tokens from a sample of real items through the normalizer and the chunker, time at the source's rate,
each within 15 % of what the run then does; the run report sets them side by side, and the ingest
report and the receipt carry the tokens and their cost."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import backfill
from backfill import Pipeline
from backfill.estimates import PRICES, price_per_million
from conftest import run_cli
from fake_base import fakes_on_demand
from github_fake import TOKEN as GITHUB_TOKEN
from github_fake import GitHubFake
from jira_fake import JiraFake
from slack_api_fake import SlackApiFake

EMAIL = "me@example.com"
JIRA_TOKEN = "jira-secret-token"
SLACK_TOKEN = "xoxb-fake-bot-token"
TOLERANCE = 0.15


def within(planned: float, actual: float, what: str) -> None:
    assert actual > 0 and abs(planned - actual) <= TOLERANCE * actual, f"{what}: planned {planned}, actual {actual}"


@pytest.fixture()
def jira() -> Iterator[Callable[..., JiraFake]]:
    def problems(f: JiraFake) -> list[str]:
        return [f"violation: {v}" for v in f.take_violations()] + [f"fake error: {e}" for e in f.errors]

    yield from fakes_on_demand(JiraFake, problems, "the Jira fake saw requests that break the API's rules")


@pytest.fixture()
def github() -> Iterator[Callable[..., GitHubFake]]:
    def problems(f: GitHubFake) -> list[str]:
        return [f"violation: {v}" for v in f.take_violations()] + [f"fake error: {e}" for e in f.errors]

    yield from fakes_on_demand(GitHubFake, problems, "the GitHub fake saw requests that break the API's rules")


def write(path: Path, source: str, embedder: str = 'type = "hash"\ndimension = 64') -> Path:
    path.write_text(textwrap.dedent(f"""\
        [run]
        name = "plan"
        workdir = "{path.parent / 'work'}"
        batch_records = 64
        """) + "\n[source]\n" + textwrap.dedent(source) + "\n[embedder]\n" + textwrap.dedent(embedder)
        + "\n[chunking]\ntarget_tokens = 256\noverlap_tokens = 16\n")
    return path


def plan(config: Path, env: dict[str, str]) -> dict[str, Any]:
    r = run_cli("plan", str(config), "--progress", "none", "--json", env=env)
    assert r.code == 0, r.err[-3000:]
    return json.loads(r.out)  # type: ignore[no-any-return]


def run(config: Path, env: dict[str, str]) -> dict[str, Any]:
    r = run_cli("run", str(config), "--progress", "none", "--json", env=env)
    assert r.code == 0, r.err[-3000:]
    return json.loads(r.out)  # type: ignore[no-any-return]


def check_against_run(plan: dict[str, Any], done: dict[str, Any]) -> None:
    e = plan["estimate"]
    within(e["documents"], done["ingest"]["documents_seen"], "documents")
    within(e["tokens_to_embed"], done["ingest"]["tokens_embedded"], "tokens")
    within(e["chunks"], done["ingest"]["chunks_embedded"], "chunks")
    seconds = {c["what"]: c for c in done["plan_vs_actual"]}["seconds"]
    within(e["seconds"], seconds["actual"], "seconds")
    assert seconds["planned"] == pytest.approx(e["seconds"], abs=1e-3)
    assert {c["what"] for c in done["plan_vs_actual"]} == {"documents", "tokens", "seconds"}


def test_jira_plan_counts_each_project_and_estimates_tokens_and_time_within_15_percent(
        jira: Callable[..., JiraFake], tmp_path: Path) -> None:
    fake = jira({"SUBS": 130, "OPS": 25})
    config = write(tmp_path / "jira.toml", f"""\
        type = "jira"
        url = "{fake.url}"
        email = "{EMAIL}"
        token = "${{JIRA_API_TOKEN}}"
        projects = ["SUBS", "OPS"]
        max_results = 25
        rate = 3.0
        """)
    env = {"JIRA_API_TOKEN": JIRA_TOKEN}
    planned = plan(config, env)
    counts = fake.calls("/rest/api/3/search/approximate-count")
    assert len(counts) == 2 and all(c.method == "POST" and c.status == 200 for c in counts)
    before = len(fake.calls())
    done = run(config, env)
    # Search pages, the comment requests of issues with more than 20 comments, and the field list.
    within(planned["estimate"]["fetch_requests"], len(fake.calls()) - before - 1, "requests")
    parts = {p["name"]: p for p in planned["partitions"]}
    assert (parts["SUBS"]["estimated_items"], parts["OPS"]["estimated_items"]) == (130, 25)
    assert (parts["SUBS"]["estimated_pages"], parts["OPS"]["estimated_pages"]) == (6, 1)
    # SUBS: 3 of its 6 pages sampled, the figures scaled to its 130 issues; OPS read whole.
    assert (parts["SUBS"]["sampled_items"], parts["OPS"]["sampled_items"]) == (75, 25)
    within(sum(p["estimated_items"] for p in parts.values()), done["fetch"]["items_fetched"], "items")
    assert all(p["sampled_items"] > 0 and p["estimated_tokens"] > 0 for p in parts.values())
    check_against_run(planned, done)


def test_github_plan_estimates_tokens_and_time_within_15_percent(github: Callable[..., GitHubFake],
                                                                 tmp_path: Path) -> None:
    fake = github({"acme/widgets": 60, "acme/gears": 25}, max_comments=6)
    config = write(tmp_path / "gh.toml", f"""\
        type = "github"
        base_url = "{fake.url}"
        token = "${{GITHUB_TOKEN}}"
        repos = ["acme/widgets", "acme/gears"]
        per_page = 100
        rate = 8
        """)
    env = {"GITHUB_TOKEN": GITHUB_TOKEN}
    planned = plan(config, env)
    done = run(config, env)
    parts = {p["name"]: p for p in planned["partitions"]}
    for name, repo in fake.repos.items():
        assert parts[name]["estimated_items"] == len(repo.issues)
    within(planned["estimate"]["items"], done["ingest"]["documents_seen"], "items (issues and pull requests)")
    check_against_run(planned, done)


def slack_pipeline(fake: SlackApiFake, workdir: Path, factor: float, tier: str) -> Pipeline:
    return Pipeline(
        backfill.SlackApi(token=SLACK_TOKEN, base_url=fake.url, workspace_url="https://acme.slack.com",
                          tier=tier, rate_scale=factor, page_size=15),
        backfill.HashEmbedder(dimension=32),
        backfill.LocalIndex(),
        name="slack",
        workdir=workdir,
        progress="none",
    )


def test_slack_plan_reads_history_pages_and_estimates_items_tokens_and_time_within_15_percent(
        tmp_path: Path) -> None:
    """At Tier 3 (50 history requests a minute, a Slack minute lasting 15 s here) with pages of 15 messages,
    the plan's sample of history pages gives each conversation's messages and pages, hence the time."""
    factor = 4.0
    with SlackApiFake(SLACK_TOKEN) as fake:
        fake.time_factor = factor
        fake.generate(channels=6, messages=40, thread_share=0.0)
        plan = slack_pipeline(fake, tmp_path / "wd", factor, "marketplace").plan()
        convs = [p for p in plan.partitions if p.name in fake.channels]
        assert len(convs) == 6
        for p in convs:
            assert p.estimated_items == len(fake.channels[p.name].messages)
            assert p.estimated_requests == p.estimated_pages == 3
        assert plan.estimate is not None and plan.estimate.tokens > 0
        time.sleep(1.0)  # the plan's last history request leaves the fake's bucket room for the run's first
        start = time.monotonic()
        run = slack_pipeline(fake, tmp_path / "wd", factor, "marketplace").run()
        wall = time.monotonic() - start
    within(sum(p.estimated_items for p in convs), run.fetch.items_fetched, "items")
    compared = {c.what: c for c in run.plan_vs_actual}
    within(compared["documents"].planned, run.ingest.documents_seen, "documents")
    within(compared["tokens"].planned, run.ingest.tokens_embedded, "tokens")
    within(compared["seconds"].planned, wall, "seconds")
    assert "plan vs run: documents" in str(run) and "plan vs run" in run._repr_html_()


def test_slack_plan_reads_no_history_sample_under_the_non_marketplace_limits(tmp_path: Path) -> None:
    """There a history page costs a (Slack) minute: the plan spends none and says what it does not know."""
    with SlackApiFake(SLACK_TOKEN) as fake:
        fake.time_factor = 600.0
        fake.non_marketplace = True
        fake.generate(channels=3, messages=5, thread_share=0.0)
        plan = slack_pipeline(fake, tmp_path / "wd", 600.0, "non_marketplace").plan()
        assert not fake.method_calls("conversations.history")
    convs = [p for p in plan.partitions if p.name in fake.channels]
    assert all(p.sampled_items == -1 and p.estimated_tokens == -1 for p in convs)
    assert plan.estimate is not None and len(plan.estimate.unestimated) == 3
    assert "not estimated" in str(plan)


def test_the_plan_prices_the_tokens_not_yet_cached_and_the_report_and_receipt_carry_them(
        github: Callable[..., GitHubFake], tmp_path: Path) -> None:
    fake = github({"acme/widgets": 20}, max_comments=3)
    source = f"""\
        type = "github"
        base_url = "{fake.url}"
        token = "${{GITHUB_TOKEN}}"
        repos = ["acme/widgets"]
        per_page = 100
        rate = 500
        """
    config = write(tmp_path / "gh.toml", source)
    env = {"GITHUB_TOKEN": GITHUB_TOKEN}
    planned = plan(config, env)
    done = run(config, env)
    assert planned["estimate"]["cost"] == 0.0 and planned["estimate"]["price_per_million_tokens"] == 0.0  # hash
    assert planned["estimate"]["disk_bytes"] > 0 and planned["estimate"]["token_method"].startswith("estimated")
    assert done["ingest"]["tokens_embedded"] > 0 and done["ingest"]["estimated_cost"] == 0.0
    receipt = json.loads(Path(done["verify"]["receipt"]).read_text())
    assert receipt["ingest"]["tokens_embedded"] == done["ingest"]["tokens_embedded"]
    # Everything is in the embedding cache now: a new plan has nothing left to embed.
    again = plan(config, env)
    assert again["estimate"]["tokens"] > 0 and again["estimate"]["tokens_to_embed"] == 0
    assert again["known_documents"] > 0
    text = run_cli("plan", str(config), "--progress", "none", env=env)
    assert "tokens (estimated" in text.out and "disk about" in text.out, text.out


def test_prices_come_from_the_model_unless_the_config_sets_one(tmp_path: Path) -> None:
    small = backfill.OpenAIEmbedder(model="text-embedding-3-small")
    assert price_per_million(small) == PRICES["text-embedding-3-small"] == 0.02
    assert price_per_million(backfill.OpenAIEmbedder(model="text-embedding-3-small", price_per_million_tokens=0.5)) == 0.5
    assert price_per_million(backfill.OpenAIEmbedder(model="my-local-model")) is None
    config = tmp_path / "c.toml"
    config.write_text('[source]\ntype = "slack_export"\npath = "x"\n[embedder]\ntype = "openai"\nmodel = "m"\n'
                      "price_per_million_tokens = 0.07\ntokens_per_minute = 1000000\n")
    loaded = backfill.load_config(config)
    assert price_per_million(loaded.embedder) == 0.07
