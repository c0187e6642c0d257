"""The HTML of reports in notebooks: a card with a headline, the problems first (red), then compact
tables. Plain HTML and one style block scoped to the card, so it renders alike in Jupyter and VS Code."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

MAX_ROWS = 20  # rows of a list shown; the rest are counted
_STYLE = (
    "<style>.backfill-report th,.backfill-report td{padding:1px 8px;text-align:left;vertical-align:top}"
    ".backfill-report td.num{text-align:right}.backfill-report caption{text-align:left;font-weight:bold}</style>"
)


def _escape(text: str) -> str:
    from html import escape  # imported when a report is first shown, not with backfill

    return escape(text)


def pandas() -> Any:
    """The pandas module, or an ImportError that names the extra that brings it."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError(
            "to_pandas() needs pandas, which is optional: pip install 'backfill[notebook]' (or pandas)"
        ) from None
    return pd


def seconds(value: float | None) -> str:
    if value is None:
        return ""
    from backfill.progress import duration

    return f"{value:.2f} s" if value < 10 else duration(value)


def value(v: Any) -> str:
    """One cell: numbers with thousands separators, lists and dicts shortened."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {value(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        shown = ", ".join(value(x) for x in v[:5])
        return shown + (f", ... ({len(v)})" if len(v) > 5 else "")
    return str(v)


def table(caption: str, rows: Iterable[tuple[str, Any]]) -> str:
    cells = "".join(
        f"<tr><th>{_escape(k)}</th><td>{_escape(seconds(v) if k.endswith('seconds') else value(v))}</td></tr>"
        for k, v in rows
    )
    return (
        f"<table><caption>"
        f"{_escape(caption)}</caption>{cells}</table>"
    )


def rows_table(caption: str, rows: Sequence[Any]) -> str:
    """A list of records (dicts) as one table with a column per key; at most MAX_ROWS rows."""
    dicts = [r if isinstance(r, dict) else {"value": r} for r in rows]
    keys: list[str] = []
    for d in dicts[:MAX_ROWS]:
        keys += [k for k in d if k not in keys]
    head = "".join(f"<th>{_escape(k)}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{_escape(value(d.get(k, '')))}</td>" for k in keys) + "</tr>"
        for d in dicts[:MAX_ROWS]
    )
    more = f"<tr><td colspan='{len(keys)}'>... and {len(dicts) - MAX_ROWS} more</td></tr>"
    return (
        f"<table><caption>"
        f"{_escape(caption)} ({len(dicts)})</caption><tr>{head}</tr>{body}"
        f"{more if len(dicts) > MAX_ROWS else ''}</table>"
    )


def phase_table(rows: Sequence[tuple[str, str, str]]) -> str:
    """phase | time | what it did."""
    cells = "".join(
        f"<tr><th>{_escape(p)}</th><td class='num'>{_escape(t)}</td>"
        f"<td>{_escape(what)}</td></tr>"
        for p, t, what in rows
    )
    head = f"<tr><th>phase</th><th>time</th><th>result</th></tr>"
    return f"<table>{head}{cells}</table>"


def details(summary: str, inner: str) -> str:
    return f"<details><summary>{_escape(summary)}</summary>{inner}</details>"


def card(title: str, headline: str, problems: Sequence[str], body: str, ok: bool | None = None) -> str:
    ok = not problems if ok is None else ok
    colour = "#2e7d32" if ok else "#c62828"
    shown = "".join(f"<li>{_escape(p)}</li>" for p in problems)
    problem_list = f"<ul style='color:#c62828;margin:2px 0'>{shown}</ul>" if problems else ""
    return (
        f"{_STYLE}<div class='backfill-report' style='border-left:4px solid {colour};padding-left:8px'>"
        f"<div><b>{_escape(title)}</b>: {_escape(headline)}</div>{problem_list}{body}</div>"
    )
