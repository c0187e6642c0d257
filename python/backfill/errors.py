"""Exceptions raised by backfill.

Every error derives from :class:`BackfillError` and also from the builtin it resembles, so
``except ValueError`` or ``except OSError`` keep working. Ctrl-C is never turned into one of these:
it arrives as :class:`KeyboardInterrupt`, after the work done so far has been made durable.
Messages never contain credentials.

The tree is the C++ core's (``cpp/include/backfill/core/errors.hpp``), class for class::

    BackfillError
    ├── ConfigError          terminal
    ├── StorageError         terminal
    │   ├── JournalError     terminal
    │   └── LedgerError      terminal
    ├── SourceError          terminal
    │   └── PaginationError  terminal
    ├── HttpError            transient when ``retryable``: the retry budget ran out (429, 5xx, no answer)
    ├── SinkError            terminal
    ├── EmbedError           terminal
    ├── ValidationError      terminal
    ├── VerificationError    transient: a rerun upserts what is missing again
    └── Cancelled            terminal: someone asked to stop

Retrying: every error has ``transient``. True means running again later, unchanged, may succeed,
so an orchestrator (Airflow, Dagster, a CI job) may retry it with a delay; False (terminal) means
a person must change something first (a refused credential, a setting, a damaged journal page).
An error raised because of another keeps it as ``__cause__`` (a SourceError over the HttpError of
a 401, with its ``status`` and ``request_id``) and is exactly as transient as that cause.
"""

from __future__ import annotations

from typing import Any, ClassVar


class BackfillError(Exception):
    """Base class of every backfill error."""

    #: Whether this kind of error is transient when no backfill error caused it.
    transient_kind: ClassVar[bool] = False

    @property
    def transient(self) -> bool:
        """True when running again later, unchanged, may succeed (see the module's docstring)."""
        cause = self.__cause__
        if isinstance(cause, BackfillError):
            return cause.transient
        return self.transient_kind


class ConfigError(BackfillError, ValueError):
    """A setting is missing, mistyped or contradicts another; raised before any work starts."""

    def __init__(self, message: str, *, key: str | None = None, file: str | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.file = file


class StorageError(BackfillError, OSError):
    """A file in the workdir, the export or the local index could not be read or written."""


class JournalError(StorageError):
    """A journal page is missing, truncated or changed since it was written.

    ``path`` names the page; the message says how to recover (refetch the partition).
    """

    path: str = ""


class LedgerError(StorageError):
    """The ledger (state.sqlite) is locked by another run, damaged or from a newer version."""


class SourceError(BackfillError, RuntimeError):
    """The source returned something that cannot be used."""


class PaginationError(SourceError):
    """A paginator repeated itself (same cursor, same page, or ids seen before)."""


class HttpError(BackfillError, OSError):
    """An HTTP request failed and retrying did not (or could not) fix it.

    The message is one line: method, URL (credentials removed), status, the server's request id,
    the number of attempts and an excerpt of the body. ``status`` is 0 when no response arrived;
    ``retryable`` is True when the retry budget ran out rather than the server refusing.
    ``grpc_status`` is the status code of a failed gRPC call (e.g. 16, UNAUTHENTICATED; the message
    names it), None for other requests.
    """

    status: int = 0
    method: str = ""
    url: str = ""
    request_id: str = ""
    body: str = ""
    attempts: int = 0
    retryable: bool = False
    grpc_status: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    @property
    def transient(self) -> bool:
        """True when the retry budget ran out on something retrying can fix (``retryable``)."""
        return self.retryable

    @classmethod
    def _from_core(cls, message: str, status: int, method: str, url: str, request_id: str, body: str,
                   attempts: int, retryable: bool, grpc_status: int) -> HttpError:
        """The twin of the core's ``http_error``, from its fields in order (``grpc_status`` -1: none)."""
        e = cls(message)
        e.status, e.method, e.url, e.request_id, e.body = status, method, url, request_id, body
        e.attempts, e.retryable = attempts, retryable
        e.grpc_status = grpc_status if grpc_status >= 0 else None
        return e


class SinkError(BackfillError, RuntimeError):
    """The sink refused or lost a write."""


class EmbedError(BackfillError, RuntimeError):
    """The embedder failed or returned vectors of the wrong shape."""


class Cancelled(BackfillError):
    """The run was cancelled through ``Pipeline.cancel()``; everything done so far is kept."""


class ValidationError(BackfillError):
    """The journal holds pages that cannot be used (damaged or unparseable)."""

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report


class VerificationError(BackfillError):
    """Verification found the sink disagreeing with the ledger: missing or changed records.

    ``report`` is the :class:`backfill.reports.VerifyReport`; ``receipt`` the path of the receipt.
    Transient: the next run upserts what is missing or changed again, then verifies again.
    """

    transient_kind = True

    def __init__(self, message: str, report: Any = None, receipt: str | None = None) -> None:
        super().__init__(message)
        self.report = report
        self.receipt = receipt


__all__ = [
    "BackfillError",
    "Cancelled",
    "ConfigError",
    "EmbedError",
    "HttpError",
    "JournalError",
    "LedgerError",
    "PaginationError",
    "SinkError",
    "SourceError",
    "StorageError",
    "ValidationError",
    "VerificationError",
]
