"""One error tree in both languages: every core error class (cpp/include/backfill/core/errors.hpp)
reaches Python as its twin in backfill.errors, with the same parents, the same transient-or-terminal
kind, and its cause (an HttpError with status and request id) as __cause__."""

from __future__ import annotations

from pathlib import Path

import pytest

import backfill
from backfill import errors
from backfill._core import _testing
from jira_fake import SEARCH, JiraFake

# Each core class, its Python twin, and whether it is transient (without a cause).
TREE = {
    "error": ("BackfillError", False),
    "config_error": ("ConfigError", False),
    "storage_error": ("StorageError", False),
    "journal_error": ("JournalError", False),
    "ledger_error": ("LedgerError", False),
    "source_error": ("SourceError", False),
    "pagination_error": ("PaginationError", False),
    "http_error": ("HttpError", True),  # the sample is a 503 after its retry budget: retryable
    "sink_error": ("SinkError", False),
    "embed_error": ("EmbedError", False),
    "validation_error": ("ValidationError", False),
    "verification_error": ("VerificationError", True),
    "cancelled": ("Cancelled", False),
}


def python_classes() -> set[str]:
    return {
        name
        for name, obj in vars(errors).items()
        if isinstance(obj, type) and issubclass(obj, errors.BackfillError)
    }


def raised(kind: str, **kw: object) -> errors.BackfillError:
    with pytest.raises(errors.BackfillError) as info:
        _testing.raise_error(kind, "a sample message", **kw)  # type: ignore[arg-type]
    return info.value


def test_every_class_has_a_twin() -> None:
    assert set(_testing.error_kinds()) == set(TREE), "a core error class was added or removed: update TREE"
    assert python_classes() == {python for python, _ in TREE.values()}
    assert set(errors.__all__) == python_classes()


@pytest.mark.parametrize("kind", sorted(TREE))
def test_twin_has_the_same_name_parents_and_kind(kind: str) -> None:
    python, transient = TREE[kind]
    e = raised(kind)
    assert type(e) is getattr(errors, python)
    lineage, core_transient = _testing.error_facts(kind)
    assert lineage == [c.__name__ for c in type(e).__mro__ if issubclass(c, errors.BackfillError)]
    assert e.transient is transient and core_transient is transient
    assert e.__cause__ is None


@pytest.mark.parametrize("kind", sorted(set(TREE) - {"http_error", "journal_error", "cancelled"}))
@pytest.mark.parametrize(("status", "retryable"), [(401, False), (503, True)])
def test_a_cause_is_kept_and_decides_the_kind(kind: str, status: int, retryable: bool) -> None:
    e = raised(kind, cause_status=status, cause_retryable=retryable)
    cause = e.__cause__
    assert isinstance(cause, errors.HttpError)
    assert (cause.status, cause.request_id, cause.retryable) == (status, "req-7", retryable)
    assert e.transient is retryable and cause.transient is retryable
    assert _testing.error_facts(kind, status, retryable)[1] is retryable


@pytest.mark.parametrize(
    ("cls", "transient"),
    [
        (errors.BackfillError, False),
        (errors.ConfigError, False),
        (errors.StorageError, False),
        (errors.JournalError, False),
        (errors.LedgerError, False),
        (errors.SourceError, False),
        (errors.PaginationError, False),
        (errors.SinkError, False),
        (errors.EmbedError, False),
        (errors.ValidationError, False),
        (errors.VerificationError, True),
        (errors.Cancelled, False),
    ],
)
def test_python_raised_errors_are_marked(cls: type[errors.BackfillError], transient: bool) -> None:
    assert cls("x").transient is transient
    http = errors.HttpError("GET http://h/ -> 503")
    http.retryable = True
    try:
        raise cls("wrapped") from http
    except errors.BackfillError as e:
        assert e.transient is True, "an error caused by a transient HttpError is transient"


def test_http_error_is_transient_only_when_retryable() -> None:
    e = raised("http_error")
    assert isinstance(e, errors.HttpError) and isinstance(e, OSError)
    assert (e.status, e.request_id, e.retryable, e.transient) == (503, "req-1", True, True)
    refused = errors.HttpError("GET http://h/ -> 401")
    assert refused.transient is False


def test_builtins_and_attributes_survive() -> None:
    journal = raised("journal_error")
    assert isinstance(journal, errors.JournalError) and isinstance(journal, OSError)
    assert journal.path == "p/1.json"
    assert isinstance(raised("config_error"), ValueError)
    assert isinstance(raised("pagination_error"), RuntimeError)
    assert backfill.SourceError is errors.SourceError


def test_a_jira_401_keeps_its_http_error_as_the_cause(tmp_path: Path) -> None:
    """Through the real source against the Jira fake: the SourceError names the fix, and its cause is
    the HttpError of the 401 with the request id Jira gave (X-AREQUESTID)."""
    with JiraFake({"SUBS": 3}) as fake:
        fake.fail_next(1, 401, paths=[SEARCH])
        source = backfill.JiraCloud(url=fake.url, email="me@example.com", token=fake.token, projects=("SUBS",))
        pipeline = backfill.Pipeline(source, workdir=tmp_path / "wd", progress="none")
        with pytest.raises(errors.SourceError, match="source.email and source.token") as info:
            pipeline.fetch()
    cause = info.value.__cause__
    assert isinstance(cause, errors.HttpError), cause
    assert cause.status == 401 and cause.request_id and SEARCH in cause.url
    assert info.value.transient is False and cause.transient is False
    assert "jira-secret" not in str(info.value) + str(cause)
