"""One run per workdir: an OS lock (``flock``) on ``<workdir>/lock``, held by every phase that writes.

The kernel releases a ``flock`` when its holder exits, however it exits, so the lock of a process
that died is simply free again: nothing stale needs breaking. The file itself says who holds it
(pid, host, since when), for the message a second run prints. Read-only commands (``status``,
``plan``, ``query``) never take it.

The lock is reentrant within one :class:`WorkdirLock`: ``run()`` holds it across all its phases, and
each phase inside takes it again without blocking itself.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from pathlib import Path
from types import TracebackType

from backfill.errors import LedgerError


class WorkdirLock:
    """The lock of one workdir; ``with lock:`` takes it (at once, or raises) and gives it back."""

    def __init__(self, workdir: Path) -> None:
        self.path = Path(workdir) / "lock"
        self._fd: int | None = None
        self._depth = 0
        self._mutex = threading.Lock()

    def __enter__(self) -> WorkdirLock:
        with self._mutex:
            if self._depth == 0:
                self._acquire()
            self._depth += 1
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        with self._mutex:
            self._depth -= 1
            if self._depth == 0 and self._fd is not None:
                fd, self._fd = self._fd, None
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def _acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            who = f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"
            since = f", since {holder['since']}" if "since" in holder else ""
            error = LedgerError(
                f"workdir {self.path.parent} is in use by another backfill run ({who}{since}); "
                "wait for it to finish, or stop it (Ctrl-C or SIGTERM keep its work)"
            )
            error.holder = holder  # type: ignore[attr-defined]
            raise error from None
        except BaseException:
            os.close(fd)
            raise
        me = {
            "pid": os.getpid(),
            "host": os.uname().nodename,  # socket.gethostname(), without socket's import at every start
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        self._fd = fd


def _read_holder(fd: int) -> dict[str, object]:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
