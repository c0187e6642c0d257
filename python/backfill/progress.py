"""Progress display. The core reports counters at most every 50 ms; these turn them into a tqdm
bar (terminals and notebooks) or periodic log lines (scripts, CI)."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Callable, Union

ProgressCallback = Callable[[dict[str, Any]], None]
ProgressSetting = Union[str, ProgressCallback, None]

log = logging.getLogger("backfill")


def _interactive() -> bool:
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class TqdmProgress:
    """One bar per phase, closed when the phase changes or the call ends."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._phase = ""

    def __call__(self, p: dict[str, Any]) -> None:
        if "ipykernel" in sys.modules:
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm
        if p["phase"] != self._phase or self._bar is None:
            self.close()
            self._phase = p["phase"]
            total = p["total"] if p["total"] >= 0 else None
            self._bar = tqdm(total=total, desc=p["phase"], unit=" " + p["unit"], leave=False, dynamic_ncols=True)
        bar = self._bar
        if p["total"] >= 0 and bar.total != p["total"]:
            bar.total = p["total"]
        bar.n = p["done"]
        if p["partition"]:
            bar.set_postfix_str(p["partition"], refresh=False)
        bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class LogProgress:
    """A log line per phase every ``every`` seconds."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self._last = 0.0
        self._phase = ""

    def __call__(self, p: dict[str, Any]) -> None:
        now = time.monotonic()
        if p["phase"] != self._phase:  # a phase just began; its first line comes after `every`
            self._phase = p["phase"]
            self._last = now
            return
        if now - self._last < self.every:
            return
        self._last = now
        total = f"/{p['total']}" if p["total"] >= 0 else ""
        where = f" ({p['partition']})" if p["partition"] else ""
        log.info("%s: %d%s %s%s", p["phase"], p["done"], total, p["unit"], where)

    def close(self) -> None:
        pass


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
