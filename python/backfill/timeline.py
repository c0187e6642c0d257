"""What a run did over time, recorded in the workdir for backfill.plot and for people reading it later.

Every phase call appends its progress samples to ``<workdir>/timeline.jsonl``, one JSON object a
line: ``{"call", "t", "phase", "partition", "done", "total", "unit", "quota"}`` (``t`` in seconds since the
epoch; at most one sample per phase every ``every`` seconds, plus each phase's first and last),
then an ``{"call", "t", "end": true, "ok"}`` line when the call returns, with the ingest's
``stages`` (seconds per stage, see IngestReport.stage_seconds) and ``waits`` (seconds per quota)
when the call ingested. A sample holds counters only: no secret, no document text."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

FILE = "timeline.jsonl"


class Timeline:
    """A progress callback that records samples and hands each on to ``display`` (or nothing)."""

    def __init__(self, workdir: Path, display: Callable[[dict[str, Any]], None] | None, every: float = 0.5) -> None:
        self.workdir = workdir
        self.display = display
        self.every = every
        self.call = os.urandom(6).hex()  # 12 random hex digits (uuid would add its imports to every start)
        self.samples: list[dict[str, Any]] = []
        self._last: dict[str, Any] | None = None  # the latest sample, kept or not
        self._phase_start: dict[str, float] = {}
        self.started = time.time()  # the first phase of the call starts with it

    def __call__(self, p: dict[str, Any]) -> None:
        now = time.time()
        sample = {"call": self.call, "t": round(now, 3), **p}
        new_phase = self._last is None or self._last["phase"] != p["phase"]
        if new_phase:
            if self._last is not None and self.samples[-1] is not self._last:
                self.samples.append(self._last)  # the previous phase's last counters
            self._phase_start.setdefault(p["phase"], self.started if self._last is None else now)
            self.samples.append(sample)
        elif now - self.samples[-1]["t"] >= self.every:
            self.samples.append(sample)
        self._last = sample
        if self.display is not None:
            self.display(p)

    def phase_seconds(self, end: float) -> dict[str, float]:
        """How long each phase of this call took: from its first sample to the next phase's first
        (the last phase: to ``end``)."""
        starts = sorted(self._phase_start.items(), key=lambda kv: kv[1])
        out: dict[str, float] = {}
        for i, (phase, start) in enumerate(starts):
            stop = starts[i + 1][1] if i + 1 < len(starts) else end
            out[phase] = out.get(phase, 0.0) + max(stop - start, 0.0)
        return out

    def save(self, end: float, ok: bool, result: Any = None) -> None:
        """Appends this call's samples to the workdir's timeline; a workdir that cannot be written
        loses only the timeline. ``result`` is the call's plain-data result: an ingest's time split
        is kept from it."""
        if self._last is not None and self.samples and self.samples[-1] is not self._last:
            self.samples.append(self._last)
        lines = [json.dumps(s, ensure_ascii=False) for s in self.samples]
        lines.append(json.dumps({"call": self.call, "t": round(end, 3), "end": True, "ok": ok, **_time_split(result)}))
        try:
            # Private like every file of the workdir (0600 whatever the umask).
            fd = os.open(self.workdir / FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
        except OSError:
            pass


def _time_split(result: Any) -> dict[str, Any]:
    """The stage seconds and quota waits of an ingest in a call's result (the ingest report itself,
    or a dict holding it as ``ingest``), rounded; {} when it has none."""
    ingest = result.get("ingest", result) if isinstance(result, dict) else None
    if not isinstance(ingest, dict) or "stage_seconds" not in ingest:
        return {}
    return {
        "stages": {k: round(v, 3) for k, v in ingest["stage_seconds"].items()},
        "waits": {k: round(v, 3) for k, v in ingest.get("waits", {}).items()},
    }


def read_timeline(workdir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The samples recorded in a workdir, oldest first; [] when there are none."""
    path = Path(workdir) / FILE
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash
    return out
