"""Progress display. The core reports counters at most every 50 ms, and once more when a phase ends
(the next phase begins); these turn them into a tqdm bar (terminals and notebooks) or periodic log
lines with rate and ETA (scripts, CI, Airflow). While an API's quota holds the phase back, its
counters name that quota (``"quota": "openai tokens"``), and so do the bar and the lines. A phase
may go on in passes, each with its own unit and total (the plan: its partitions listed, then its
sample's pages, then each partition's estimate): a pass is shown as a phase of its own."""

from __future__ import annotations

import importlib.util
import logging
import sys
import time
from typing import Any, Callable, Union

ProgressCallback = Callable[[dict[str, Any]], None]
ProgressSetting = Union[str, ProgressCallback, None]

log = logging.getLogger("backfill")


def _in_notebook() -> bool:
    return "ipykernel" in sys.modules


def _interactive() -> bool:
    if _in_notebook():
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _tqdm_class() -> Any:
    """tqdm's notebook widget when a notebook can show it (ipywidgets installed: the
    ``backfill[notebook]`` extra); otherwise the text bar, which a notebook shows as one line that
    updates in place, with no "IProgress not found" warning."""
    if _in_notebook() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm as auto_tqdm

        return auto_tqdm
    from tqdm.std import tqdm as text_tqdm

    return text_tqdm


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min``."""
    s = int(round(max(seconds, 0.0)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _pass(p: dict[str, Any]) -> tuple[str, str]:
    """What progress counts in: its phase and, within the phase, its pass (its unit)."""
    return p["phase"], p["unit"]


class _Phase:
    """The rate and ETA of one pass of a phase, from its first and latest counters."""

    def __init__(self, p: dict[str, Any], now: float) -> None:
        self.name = p["phase"]
        self.key = _pass(p)
        self.started = now
        self.first_done = p["done"]
        self.p = p

    def update(self, p: dict[str, Any]) -> None:
        self.p = p

    def rate(self, now: float) -> float:
        elapsed = now - self.started
        return (self.p["done"] - self.first_done) / elapsed if elapsed > 0 else 0.0

    def line(self, now: float, finished: bool = False, complete: bool = False) -> str:
        """``finished``: the phase ended (with its last counters); ``complete``: the call succeeded,
        so a phase with a total did all of it (its last tick may predate the end)."""
        p = self.p
        total = p["total"] if p["total"] >= 0 else None
        done = max(p["done"], total) if complete and total is not None else p["done"]
        rate = self.rate(now)
        text = f"{self.name}: {done}"
        if total is not None:
            text += f"/{total} {p['unit']} ({100 * done / total:.0f}%)" if total else f"/0 {p['unit']}"
        else:
            text += f" {p['unit']}"
        if finished:
            text += f" in {duration(now - self.started)}"
        if rate > 0:
            text += f", {rate:.1f} {p['unit']}/s"
            if total is not None and not finished:
                text += f", ETA {duration(max(total - done, 0) / rate)}"
        if p["partition"] and not finished:
            text += f" ({p['partition']})"
        if p.get("quota") and not finished:
            text += f"; the {p['quota']} quota binds"
        return text


class TqdmProgress:
    """One bar per phase (tqdm shows the rate and ETA once the total is known), closed when the phase
    changes or the call ends."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._phase = ("", "")

    def __call__(self, p: dict[str, Any]) -> None:
        if _pass(p) != self._phase or self._bar is None:
            self.close()
            self._phase = _pass(p)
            total = p["total"] if p["total"] >= 0 else None
            self._bar = _tqdm_class()(
                total=total, desc=p["phase"], unit=" " + p["unit"], leave=False, dynamic_ncols=True
            )
        bar = self._bar
        if p["total"] >= 0 and bar.total != max(p["total"], p["done"]):
            bar.total = max(p["total"], p["done"])
        bar.n = p["done"]
        postfix = ", ".join(x for x in (p["partition"], f"{p['quota']} binds" if p.get("quota") else "") if x)
        if postfix or bar.postfix:
            bar.set_postfix_str(postfix, refresh=False)
        bar.refresh()

    def finish(self) -> None:
        """The call succeeded: its last phase is complete."""
        if self._bar is not None and self._bar.total is not None:
            self._bar.n = self._bar.total
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class LogProgress:
    """At most one INFO line per phase every ``every`` seconds, with the rate and the ETA, and a last
    line for a phase that ran that long."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self._last = 0.0
        self._phase: _Phase | None = None
        self._logged = False

    def __call__(self, p: dict[str, Any]) -> None:
        now = time.monotonic()
        if self._phase is None or _pass(p) != self._phase.key:
            self._end(now)  # the core ticks a phase's last counters as the next begins
            self._phase = _Phase(p, now)  # a phase just began; its first line comes after `every`
            self._last = now
            self._logged = False
            return
        self._phase.update(p)
        if now - self._last < self.every:
            return
        self._last = now
        self._logged = True
        log.info("%s", self._phase.line(now))

    def _end(self, now: float, complete: bool = False) -> None:
        if self._phase is not None and self._logged:
            log.info("%s", self._phase.line(now, finished=True, complete=complete))
        self._phase = None

    def finish(self) -> None:
        self._end(time.monotonic(), complete=True)

    def close(self) -> None:
        self._phase = None


def make_progress(setting: ProgressSetting) -> Any:
    """``"auto"`` (tqdm when a person is watching, else log lines), ``"tqdm"``, ``"log"``, ``"none"``
    or a callable taking the progress dict."""
    if setting is None or setting == "none":
        return None
    if callable(setting):
        return setting
    if setting == "auto":
        setting = "tqdm" if _interactive() else "log"
    if setting == "tqdm":
        return TqdmProgress()
    if setting == "log":
        return LogProgress()
    from backfill.errors import ConfigError

    raise ConfigError(f"progress must be 'auto', 'tqdm', 'log', 'none' or a callable, got {setting!r}")
