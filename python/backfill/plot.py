"""Figures of a run, drawn from what it recorded in its workdir: the progress timeline
(``timeline.jsonl``, see backfill.timeline) and the ledger (``state.sqlite``: when each page was
fetched). Needs matplotlib (``pip install 'backfill[notebook]'``).

>>> import backfill.plot
>>> backfill.plot.overview(".backfill/slack")          # doctest: +SKIP

Each function takes the workdir (or a :class:`~backfill.Pipeline`, whose workdir is used) and an
optional matplotlib ``Axes`` to draw on, and returns the ``Figure``.
"""

from __future__ import annotations

import os
import sqlite3
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from backfill.timeline import read_timeline

if TYPE_CHECKING:
    from backfill.pipeline import Pipeline

Where = Union[str, "os.PathLike[str]", "Pipeline"]


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "backfill.plot needs matplotlib, which is optional: pip install 'backfill[notebook]' (or matplotlib)"
        ) from None
    return plt


def _workdir(where: Where) -> Path:
    workdir = getattr(where, "workdir", None)
    return Path(workdir) if workdir is not None else Path(os.fspath(where))  # type: ignore[arg-type]


def _axes(ax: Any) -> tuple[Any, Any]:
    if ax is not None:
        return ax.figure, ax
    fig, ax = _pyplot().subplots(figsize=(8, 3.2))
    return fig, ax


def _calls(workdir: Path) -> list[list[dict[str, Any]]]:
    """The timeline's samples grouped by phase call, oldest first; each call's list ends with its
    end marker when it has one."""
    calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in read_timeline(workdir):
        calls[s["call"]].append(s)
    return sorted(calls.values(), key=lambda c: c[0]["t"])


def phase_seconds(where: Where) -> dict[str, float]:
    """Where the time went: the seconds each phase took, summed over every call in the workdir's
    timeline (a phase runs until the next begins or its call ends)."""
    out: dict[str, float] = defaultdict(float)
    for call in _calls(_workdir(where)):
        samples = [s for s in call if "phase" in s]
        end = call[-1]["t"]
        for i, s in enumerate(samples):
            if i and samples[i - 1]["phase"] == s["phase"]:
                continue
            nxt = next((x["t"] for x in samples[i:] if x["phase"] != s["phase"]), end)
            out[s["phase"]] += max(nxt - s["t"], 0.0)
    return dict(out)


def ingest_seconds(where: Where) -> dict[str, float]:
    """Where the ingest's time went, summed over every call in the workdir's timeline: its stages
    (read and normalize, waiting for the fetch, embed, upsert, held by embed and upsert; embed and
    upsert summed over their workers) and, as ``waiting for <quota>``, the seconds requests waited
    for each API quota."""
    out: dict[str, float] = defaultdict(float)
    for s in read_timeline(_workdir(where)):
        for name, seconds in s.get("stages", {}).items():
            out[name] += seconds
        for name, seconds in s.get("waits", {}).items():
            out[f"waiting for {name}"] += seconds
    return dict(out)


def time_spent(where: Where, ax: Any = None) -> Any:
    """A bar per phase: the seconds it took, over every call recorded in the workdir; then, inside
    ingest, a bar per stage and per quota waited for (see ingest_seconds)."""
    fig, ax = _axes(ax)
    seconds = phase_seconds(where)
    inside = {f"ingest: {k}": v for k, v in ingest_seconds(where).items() if v > 0}
    names = list(seconds)
    colors = ["#4c72b0"] * len(names) + ["#dd8452" if "waiting" in n else "#55a868" for n in inside]
    seconds |= inside
    names += list(inside)
    ax.barh(names, [seconds[n] for n in names], color=colors)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    ax.set_title("where the time went")
    for i, n in enumerate(names):
        ax.text(seconds[n], i, f" {seconds[n]:.1f} s", va="center")
    return fig


def throughput(where: Where, ax: Any = None) -> Any:
    """Units per second of each phase over the run's wall time (pages for fetch and ingest,
    records for verify), from the progress samples."""
    fig, ax = _axes(ax)
    calls = _calls(_workdir(where))
    t0 = calls[0][0]["t"] if calls else 0.0
    series: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for call in calls:
        samples = [s for s in call if "phase" in s]
        for a, b in zip(samples, samples[1:]):
            if a["phase"] != b["phase"] or a["unit"] != b["unit"] or b["t"] <= a["t"]:
                continue
            xs, ys = series[f"{a['phase']} ({a['unit']}/s)"]
            xs.append((a["t"] + b["t"]) / 2 - t0)
            ys.append((b["done"] - a["done"]) / (b["t"] - a["t"]))
    for label, (xs, ys) in series.items():
        ax.plot(xs, ys, marker=".", label=label)
    ax.set_xlabel("seconds since the first phase began")
    ax.set_ylabel("per second")
    ax.set_title("throughput")
    if series:
        ax.legend(fontsize="small")
    return fig


def partitions(where: Where, ax: Any = None, top: int = 12) -> Any:
    """Pages journaled per partition over time (the ``top`` largest partitions), from the ledger."""
    fig, ax = _axes(ax)
    db = _workdir(where) / "state.sqlite"
    rows: list[tuple[str, str]] = []
    if db.exists():
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT partition, fetched_at FROM pages ORDER BY fetched_at, seq").fetchall()
    by_partition: dict[str, list[datetime]] = defaultdict(list)
    for name, at in rows:
        by_partition[name].append(datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc))
    biggest = sorted(by_partition, key=lambda n: -len(by_partition[n]))[:top]
    for name in biggest:
        times = by_partition[name]
        ax.step(times, range(1, len(times) + 1), where="post", label=name)
    ax.set_ylabel("pages journaled")
    ax.set_title("progress per partition")
    if biggest:
        ax.legend(fontsize="small", ncol=2)
    ax.tick_params(axis="x", labelrotation=30)
    return fig


def overview(where: Where) -> Any:
    """The three figures above in one."""
    plt = _pyplot()
    fig, axes = plt.subplots(3, 1, figsize=(8, 9), constrained_layout=True)
    time_spent(where, axes[0])
    throughput(where, axes[1])
    partitions(where, axes[2])
    return fig
