"""What each phase returns: dataclasses with ``to_dict()``, ``to_pandas()``, a readable ``str()``
and a compact HTML view for notebooks (problems first, then the counts; see backfill._html).

The core returns its report structs (``backfill._core.FetchReport`` and so on, read-only); the
facade reads them with :func:`core_value` and :meth:`Report.from_dict`, which is strict: a field
the core has and the dataclass lacks, or the other way round, raises instead of reading as 0."""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from backfill import _html

if TYPE_CHECKING:
    import pandas

T = TypeVar("T", bound="Report")

# Marks a field the facade fills in after the core's report (a receipt's path): from_dict lets it be absent.
_FACADE = {"facade": True}


def core_value(value: Any) -> Any:
    """Plain data from a value the core returned: a bound struct becomes a dict of its fields (the
    properties of its class), recursively through lists and dicts."""
    if isinstance(value, list):
        return [core_value(v) for v in value]
    if isinstance(value, dict):
        return {k: core_value(v) for k, v in value.items()}
    if type(value).__module__ != "backfill._core":
        return value
    return {k: core_value(getattr(value, k)) for k, v in vars(type(value)).items() if isinstance(v, property)}


def _some(ids: list[str], count: int) -> str:
    """The first five of `count` ids, with ", ..." when there are more."""
    return ", ".join(ids[:5]) + (", ..." if count > 5 else "")


def _build(hint: Any, value: Any) -> Any:
    """A value of type ``hint`` from plain data: a Report from its dict, through lists and ``X | None``."""
    if isinstance(hint, type) and issubclass(hint, Report):
        return hint.from_dict(value)
    args = typing.get_args(hint)
    if typing.get_origin(hint) is list and args:
        return [_build(args[0], v) for v in value]
    if value is not None and len(args) == 2 and type(None) in args:
        return _build(next(a for a in args if a is not type(None)), value)
    return value


_Shape = tuple[dict[str, "dataclasses.Field[Any]"], dict[str, Any]]
_shapes: dict[type, _Shape] = {}


def _shape(cls: type) -> _Shape:
    """A report class's fields and their types, resolved once a process (a run builds ~20 reports)."""
    shape = _shapes.get(cls)
    if shape is None:
        shape = _shapes[cls] = ({f.name: f for f in dataclasses.fields(cls)}, typing.get_type_hints(cls))
    return shape


@dataclass
class Report:
    """The base of every report: ``to_dict()``/``from_dict()``, ``to_pandas()``, ``str()`` and the notebook view."""

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        """The report from its dict (``to_dict()``'s shape), nested reports included. Raises
        ValueError naming the field when one is unknown or missing."""
        fields, hints = _shape(cls)
        unknown = sorted(set(data) - set(fields))
        missing = sorted(n for n, f in fields.items() if n not in data and not f.metadata.get("facade"))
        if unknown or missing:
            raise ValueError(
                f"{cls.__name__}.from_dict: unknown fields {unknown}, missing fields {missing}"
                " (the core's report and backfill.reports disagree)"
            )
        return cls(**{k: _build(hints[k], v) for k, v in data.items()})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_pandas(self) -> pandas.DataFrame:
        """The report as a DataFrame: its rows (partitions, phases) when it has some, else one row
        of its counts. Needs pandas (``pip install 'backfill[notebook]'``)."""
        return _html.pandas().DataFrame(self._frame_rows())

    def _frame_rows(self) -> list[dict[str, Any]]:
        return [dict(self._rows())]

    def _rows(self) -> list[tuple[str, Any]]:
        """The scalar fields worth a row: None (a step that did not happen) is left out."""
        return [(k, v) for k, v in self.to_dict().items() if not isinstance(v, (list, dict)) and v is not None]

    def problems(self) -> list[str]:
        """What needs a person's attention, one line each; empty when nothing does."""
        return []

    def __str__(self) -> str:
        return f"{type(self).__name__}: " + ", ".join(f"{k}={v}" for k, v in self._rows())

    def _repr_html_(self) -> str:
        tables = [_html.table(type(self).__name__, self._rows())]
        for name, value in self.to_dict().items():
            if isinstance(value, dict) and value:
                tables.append(_html.table(name, sorted(value.items())))
            elif isinstance(value, list) and value:
                tables.append(_html.rows_table(name, value))
        return _html.card(type(self).__name__, self._headline(), self.problems(), "".join(tables))

    def _headline(self) -> str:
        return str(self).splitlines()[0]


@dataclass
class PhaseReport(Report):
    """A phase's report; ``seconds`` is how long the phase took (None when it was not timed)."""

    seconds: float | None = field(default=None, kw_only=True, metadata=_FACADE)


@dataclass
class Partition(Report):
    """One partition of the source as the plan sees it (a Jira project, a Slack channel, a GitHub
    repository): the estimates are -1 where the source gives none."""

    name: str
    label: str = ""
    estimated_items: int = -1
    estimated_pages: int = -1
    estimated_requests: int = -1  # sources behind a rate limit: the requests it needs at least
    estimated_seconds: float = -1.0  # ... and the seconds they take at the limit or the source's pace
    # From the plan's sample through the normalizer and chunker (-1: not estimated; see backfill.estimates).
    estimated_documents: int = -1
    estimated_chunks: int = -1
    estimated_tokens: int = -1
    estimated_bytes: int = -1  # journal bytes
    sampled_items: int = 0  # 0: the other partitions' average per item stands for this one
    cached_tokens: int = 0  # of estimated_tokens, those the embedding cache holds already
    done_items: int = 0  # items already journaled


@dataclass
class PlanEstimate(Report):
    """A plan's totals: what a full run reads, embeds, costs, takes and stores (backfill.estimates).
    None where not known (a price or an embedding quota nobody gave)."""

    model: str = ""
    items: int = 0
    documents: int = 0
    chunks: int = 0
    tokens: int = 0
    tokens_to_embed: int = 0  # not in the embedding cache yet
    token_method: str = ""
    price_per_million_tokens: float | None = None
    cost: float | None = None
    fetch_requests: int = 0
    fetch_seconds: float = 0.0
    embed_requests: int = 0
    embed_seconds: float | None = None
    seconds: float = 0.0  # fetch and embed overlap: the longer of the two
    disk_bytes: int = 0
    unestimated: list[str] = field(default_factory=list)  # partitions whose size nothing told (left out above)

    def __str__(self) -> str:
        price = "" if self.cost is None else f", about ${self.cost:.2f} at ${self.price_per_million_tokens:g} a million"
        embed = "unknown without embedder.tokens_per_minute" if self.embed_seconds is None else _duration(self.embed_seconds)
        return (
            f"estimate: {self.items} items, {self.documents} documents, {self.chunks} chunks; {self.tokens} tokens "
            f"({self.token_method}), {self.tokens_to_embed} to embed with {self.model}{price}; fetch {self.fetch_requests} "
            f"requests, {_duration(self.fetch_seconds)}; embed {self.embed_requests} requests, {embed}; "
            f"run about {_duration(self.seconds)}; disk about {self.disk_bytes / 1e6:.1f} MB"
        ) + (f"; not estimated (more than the sample): {_some(self.unestimated, len(self.unestimated))}"
             if self.unestimated else "")


@dataclass
class PlanComparison(Report):
    """One figure of a plan beside what the run did."""

    what: str
    planned: float
    actual: float

    @property
    def error(self) -> float:
        """(planned - actual) / actual; 0 when both are 0."""
        return (self.planned - self.actual) / self.actual if self.actual else (0.0 if not self.planned else math.inf)


@dataclass
class PlanReport(PhaseReport):
    """What ``plan`` found: the partitions and their estimates, what the workdir already holds, and the
    time and cost estimate of the rest."""

    partitions: list[Partition] = field(default_factory=list)
    known_done: int = 0
    sampled_pages: int = 0  # the pages the token sample read (into memory)
    known_documents: int = 0  # documents the ledger holds for the sink (ingested, or restored from it)
    cached_embeddings: int = 0  # vectors in the embedding cache for the embedder
    estimate: PlanEstimate | None = field(default=None, metadata=_FACADE)

    def _frame_rows(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.partitions]

    def __str__(self) -> str:
        text = self._pages_and_pace()
        return text if self.estimate is None else f"{text}\n{self.estimate}"

    def _pages_and_pace(self) -> str:
        pages = sum(max(p.estimated_pages, 0) for p in self.partitions)
        line = f"plan: {len(self.partitions)} partitions, about {pages} pages; {self.known_done} already fetched"
        paced = [p for p in self.partitions if p.estimated_requests >= 0]
        if not paced:
            return line
        requests = sum(p.estimated_requests for p in paced)
        seconds = sum(max(p.estimated_seconds, 0.0) for p in paced)
        rows = [f"  {p.label or p.name}: " + (f"{p.estimated_items} items, " if p.estimated_items >= 0 else "")
                + f"at least {_requests(p.estimated_requests)}, {_duration(p.estimated_seconds)}" for p in paced]
        return "\n".join([f"{line}; at least {_requests(requests)}, {_duration(seconds)} at the paced rate", *rows])


def _requests(n: int) -> str:
    return f"{n} request" if n == 1 else f"{n} requests"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class FetchReport(PhaseReport):
    """What ``fetch`` journaled: partitions, pages and items read in this run, and the bytes fetched."""

    partitions: int = 0
    partitions_skipped: int = 0
    pages_fetched: int = 0
    pages_total: int = 0
    items_fetched: int = 0
    bytes_fetched: int = 0
    memory_peak_bytes: int = 0  # the most bytes of fetched pages held at once (run.memory_budget_mb)
    # Beside an ingest that was behind: seconds partitions waited until it needed their pages (summed).
    waited_for_ingest: float = 0.0

    def __str__(self) -> str:
        text = (
            f"fetch: {self.pages_fetched} pages read ({self.items_fetched} items, {self.bytes_fetched} bytes); "
            f"{self.pages_total} pages journaled; {self.partitions_skipped} of {self.partitions} partitions "
            "were already complete"
        )
        if self.waited_for_ingest > 0:
            text += f"; partitions waited {_duration(self.waited_for_ingest)} for the ingest to need their pages"
        return text


@dataclass
class Duplicate(Report):
    """An id that more than one journal page holds, and those pages."""

    partition: str
    id: str
    pages: list[str] = field(default_factory=list)


@dataclass
class BadPage(Report):
    """A journal page that cannot be read or no longer matches its hash, and why."""

    partition: str
    path: str
    problem: str


@dataclass
class QuarantinedItem(Report):
    """An item of the source the normalizer could not read (invalid UTF-8, a lone surrogate, nesting
    too deep, a field it needs missing): left out, and its partition fetched again next run."""

    partition: str
    page: str
    position: int
    id: str
    reason: str

    def __str__(self) -> str:
        who = f"{self.id} " if self.id else ""
        return f"{who}({self.partition}, {self.page}, item {self.position}): {self.reason}"


def _quarantine_lines(items: list[QuarantinedItem], count: int) -> str:
    lines = "".join(f"\n    {q}" for q in items[:5])
    return lines + (f"\n    ... and {count - 5} more" if count > 5 else "")


def _quarantine_problem(items: list[QuarantinedItem], count: int) -> str:
    some = _some([q.id or f"{q.page} item {q.position}" for q in items], count)
    return f"{count} items of the source could not be read and were left out (quarantined: {some})"


@dataclass
class ValidateReport(PhaseReport):
    """What ``validate`` checked over the journal: its pages and items, the ids found twice, the pages
    that cannot be read, and the items set aside in quarantine."""

    partitions: int = 0
    pages: int = 0
    items: int = 0
    duplicate_ids: int = 0
    duplicates: list[Duplicate] = field(default_factory=list)
    bad_pages: list[BadPage] = field(default_factory=list)
    unfetched_partitions: int = 0
    quarantined_count: int = 0
    quarantined: list[QuarantinedItem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every page is readable; duplicates are resolved by ingest and only reported."""
        return not self.bad_pages

    def problems(self) -> list[str]:
        out = [f"bad page {b.path} ({b.partition}): {b.problem}" for b in self.bad_pages]
        if self.duplicate_ids:
            ids = [d.id for d in self.duplicates]
            out.append(f"{self.duplicate_ids} ids appear more than once (the latest wins): {_some(ids, self.duplicate_ids)}")
        if self.unfetched_partitions:
            out.append(f"{self.unfetched_partitions} partitions are not completely fetched")
        if self.quarantined_count:
            out.append(_quarantine_problem(self.quarantined, self.quarantined_count))
        return out

    def __str__(self) -> str:
        lines = [
            f"validate: {self.pages} pages, {self.items} items in {self.partitions} partitions; "
            f"{self.duplicate_ids} duplicate ids; {len(self.bad_pages)} bad pages"
        ]
        for d in self.duplicates:
            lines.append(f"  duplicate {d.id} on " + ", ".join(d.pages))
        if self.duplicate_ids > len(self.duplicates):
            lines.append(f"  ... and {self.duplicate_ids - len(self.duplicates)} more duplicate ids")
        for b in self.bad_pages:
            lines.append(f"  bad page {b.path}: {b.problem}")
        if self.quarantined_count:
            lines.append(f"  {self.quarantined_count} items cannot be read (quarantined by ingest):"
                         + _quarantine_lines(self.quarantined, self.quarantined_count))
        return "\n".join(lines)


@dataclass
class UnsentRecord(Report):
    """A record the sink cannot take (for example, larger than its request limit even alone), and why."""

    id: str
    reason: str


def _unsent_lines(unsent: list[UnsentRecord], count: int) -> str:
    lines = "".join(f"\n    {u.id}: {u.reason}" for u in unsent[:5])
    return lines + (f"\n    ... and {count - 5} more" if count > 5 else "")


@dataclass
class IngestReport(PhaseReport):
    """What ``ingest`` did: documents seen, unchanged, written or deleted upstream; chunks embedded
    (and taken from the cache) and records written, skipped or never sent."""

    documents_seen: int = 0
    documents_unchanged: int = 0
    documents_superseded: int = 0
    documents_deleted_upstream: int = 0
    documents_written: int = 0
    chunks_written: int = 0
    chunks_embedded: int = 0
    tokens_embedded: int = 0  # estimated as billed (backfill.estimates)
    embedding_cache_hits: int = 0
    embed_calls: int = 0
    stale_chunks_deleted: int = 0
    upsert_requests: int = 0
    metadata_truncated: dict[str, int] = field(default_factory=dict)
    metadata_dropped: dict[str, int] = field(default_factory=dict)
    metadata_flattened: dict[str, int] = field(default_factory=dict)
    metadata_converted: dict[str, int] = field(default_factory=dict)
    records_skipped: int = 0
    skipped_ids: list[str] = field(default_factory=list)
    unsent: list[UnsentRecord] = field(default_factory=list)
    warnings: int = 0
    warning_examples: list[str] = field(default_factory=list)
    waits: dict[str, float] = field(default_factory=dict)  # seconds waited for each API quota
    # where the time went: read and normalize, waiting for the fetch, embed and upsert (summed over
    # their workers), held by embed and upsert (the batches in flight were full)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    quarantined_count: int = 0
    quarantined: list[QuarantinedItem] = field(default_factory=list)
    estimated_cost: float | None = field(default=None, metadata=_FACADE)  # tokens_embedded at the embedder's price
    memory_peak_bytes: int = 0  # the most bytes the stages held at once (run.memory_budget_mb)

    @property
    def ok(self) -> bool:
        """False while records are left unsent or items of the source quarantined."""
        return not self.unsent and not self.quarantined_count

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IngestReport:
        """Also reads the core's shape, where the metadata changes are one nested ``metadata`` dict."""
        nested = data.get("metadata")
        if isinstance(nested, dict):
            data = {k: v for k, v in data.items() if k != "metadata"} | {f"metadata_{k}": v for k, v in nested.items()}
        return super().from_dict(data)

    def problems(self) -> list[str]:
        out = []
        if self.records_skipped:
            out.append(f"{self.records_skipped} records could not be sent at all: "
                       + _some(self.skipped_ids, self.records_skipped))
        out += [f"not sent, kept pending: {u.id}: {u.reason}" for u in self.unsent]
        if self.quarantined_count:
            out.append(_quarantine_problem(self.quarantined, self.quarantined_count))
        changes = [f"{k} truncated in {v}" for k, v in sorted(self.metadata_truncated.items())]
        changes += [f"{k} dropped in {v}" for k, v in sorted(self.metadata_dropped.items())]
        if changes:
            out.append("metadata fitted to the sink's limit: " + ", ".join(changes))
        return out

    def __str__(self) -> str:
        line = (
            f"ingest: {self.documents_written} documents written, {self.documents_unchanged} unchanged, "
            f"{self.documents_superseded} superseded; {self.chunks_written} chunks upserted "
            f"({self.chunks_embedded} embedded, {self.embedding_cache_hits} from cache), "
            f"{self.stale_chunks_deleted} stale chunks deleted"
        )
        if self.tokens_embedded:
            cost = "" if self.estimated_cost is None else f", about ${self.estimated_cost:.4f}"
            line += f"; about {self.tokens_embedded} tokens embedded (estimated){cost}"
        if self.metadata_truncated or self.metadata_dropped:
            changes = [f"{k} truncated in {v}" for k, v in sorted(self.metadata_truncated.items())]
            changes += [f"{k} dropped in {v}" for k, v in sorted(self.metadata_dropped.items())]
            line += "\n  metadata fitted to the sink's limit: " + ", ".join(changes)
        if self.records_skipped:
            line += f"\n  {self.records_skipped} records could not be sent at all: " + ", ".join(self.skipped_ids[:5])
        if self.unsent:
            line += "\n  records not sent, kept pending (their documents are written again next run):"
            line += _unsent_lines(self.unsent, len(self.unsent))
        if self.waits:
            line += "\n  waited for quotas: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(self.waits.items()))
        if self.quarantined_count:
            line += (f"\n  {self.quarantined_count} items of the source could not be read and were left out "
                     "(quarantined; fix them at the source and run again):"
                     + _quarantine_lines(self.quarantined, self.quarantined_count))
        if self.warnings:
            line += (f"\n  values left out of the documents (a shape backfill does not read): {self.warnings}, "
                     "e.g.:" + "".join(f"\n    {w}" for w in self.warning_examples[:3]))
        return line


@dataclass
class VerifyReport(PhaseReport):
    """What ``verify`` read back from the sink: the count against the ledger, the records checked and
    what was missing or different. ``ok`` is True only when everything checked matched."""

    ok: bool = False
    sink: str = ""
    expected_count: int = 0
    observed_count: int = 0
    baseline: int = 0
    count_ok: bool = False
    count_wait_seconds: float = 0.0
    checked: int = 0
    sampled: bool = False
    missing_count: int = 0
    mismatched_count: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    documents: int = 0
    sink_info: dict[str, str] = field(default_factory=dict)
    criterion: str = ""
    unsent_count: int = 0
    unsent: list[UnsentRecord] = field(default_factory=list)
    marked_pending: int = 0
    quarantined_count: int = 0
    quarantined: list[QuarantinedItem] = field(default_factory=list)
    receipt: str | None = field(default=None, metadata=_FACADE)
    junit: str | None = field(default=None, metadata=_FACADE)
    #: The ingest that ``verify(repair=True)`` ran for what this verification found missing or altered
    #: (this report is then the verification after it).
    repair: IngestReport | None = field(default=None, metadata=_FACADE)

    def problem(self) -> str:
        """One line naming what is wrong, or "" when verified."""
        parts = []
        if not self.count_ok and self.criterion != "ids":
            parts.append(f"expected {self.expected_count} records, the sink holds {self.observed_count}")
        if self.missing_count:
            parts.append(f"{self.missing_count} missing ({_some(self.missing, self.missing_count)})")
        if self.mismatched_count:
            some = _some(self.mismatched, self.mismatched_count)
            parts.append(f"{self.mismatched_count} with different metadata ({some})")
        if self.unsent_count:
            some = _some([u.id for u in self.unsent], self.unsent_count)
            parts.append(f"{self.unsent_count} never sent ({some}; see the ingest report for why)")
        if self.quarantined_count:
            parts.append(_quarantine_problem(self.quarantined, self.quarantined_count))
        return "; ".join(parts)

    def fix(self, config: str = "CONFIG") -> str:
        """What to run to heal what this verification found, or "" when nothing can be healed by a rerun."""
        if self.marked_pending or self.unsent_count:
            return f"run `backfill run {config}` again, or `backfill verify --repair {config}`"
        if self.quarantined_count:
            return (f"fix them at the source, then run `backfill run {config}` again (their partitions are "
                    "fetched again); `backfill validate` lists them")
        return ""

    def problems(self) -> list[str]:
        return [self.problem()] if not self.ok else []

    def __str__(self) -> str:
        mode = "a sample of" if self.sampled else "all"
        head = "verified" if self.ok else "NOT VERIFIED"
        line = (
            f"verify: {head}: {self.observed_count} records in {self.sink} (expected {self.expected_count}); "
            f"{mode} {self.checked} read back, {self.missing_count} missing, {self.mismatched_count} mismatched"
        )
        if self.repair is not None:
            line += f"\n  repaired: {self.repair.chunks_written} records written again ({self.repair.chunks_embedded} embedded)"
        if not self.ok:
            line += f"\n  {self.problem()}"
            if self.unsent:
                line += _unsent_lines(self.unsent, self.unsent_count)
            if self.quarantined:
                line += _quarantine_lines(self.quarantined, self.quarantined_count)
        if self.receipt:
            line += f"\n  receipt: {self.receipt}"
        return line


@dataclass
class PartitionStatus(Report):
    """One partition as the ledger holds it: its status, pages and items journaled, last update."""

    name: str
    status: str
    pages: int = 0
    items: int = 0
    updated_at: str = ""


def _bytes(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover


@dataclass
class WorkdirUsage(Report):
    """What the workdir takes on disk, in bytes, by part."""

    journal: int = 0
    ledger: int = 0
    cache: int = 0
    other: int = 0
    total: int = 0

    def __str__(self) -> str:
        return (f"{_bytes(self.total)} (journal {_bytes(self.journal)}, ledger {_bytes(self.ledger)}, "
                f"embedding cache {_bytes(self.cache)}, other {_bytes(self.other)})")


@dataclass
class GcReport(Report):
    """What ``backfill gc`` removed."""

    before: WorkdirUsage = field(default_factory=WorkdirUsage)
    after: WorkdirUsage = field(default_factory=WorkdirUsage)
    freed: int = 0
    embeddings_removed: int = 0
    embeddings_compacted: int = 0
    cache_kept: str = ""
    orphan_files_removed: int = 0

    def __str__(self) -> str:
        lines = [f"gc: freed {_bytes(self.freed)}: {self.embeddings_removed} cached embeddings and "
                 f"{self.orphan_files_removed} orphan files removed, {self.embeddings_compacted} "
                 "cached embeddings kept in half precision",
                 f"  before: {self.before}", f"  after:  {self.after}"]
        if self.cache_kept:
            lines.append(f"  embedding cache kept: {self.cache_kept}")
        return "\n".join(lines)


@dataclass
class StatusReport(Report):
    """What the workdir holds: partitions, pages, documents, live chunks, cached vectors, disk use."""

    partitions: list[PartitionStatus] = field(default_factory=list)
    pages: int = 0
    documents: int = 0
    live_chunks: int = 0
    cached_embeddings: int = 0
    disk: WorkdirUsage = field(default_factory=WorkdirUsage)
    last_receipt: str | None = field(default=None, metadata=_FACADE)

    def _frame_rows(self) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.partitions]

    def problems(self) -> list[str]:
        waiting = [p.name for p in self.partitions if p.status != "done"]
        return [f"{len(waiting)} partitions not completely fetched: {_some(waiting, len(waiting))}"] if waiting else []

    def __str__(self) -> str:
        done = sum(1 for p in self.partitions if p.status == "done")
        lines = [
            f"status: {done}/{len(self.partitions)} partitions fetched, {self.pages} pages journaled; "
            f"{self.documents} documents and {self.live_chunks} chunks ingested; "
            f"{self.cached_embeddings} embeddings cached",
            f"  workdir: {self.disk}",
        ]
        for p in self.partitions:
            lines.append(f"  {p.name:<24} {p.status:<9} {p.pages:>7} pages {p.items:>9} items")
        if self.last_receipt:
            lines.append(f"  last receipt: {self.last_receipt}")
        return "\n".join(lines)


@dataclass
class Match(Report):
    """One record ``query`` found: its id, its similarity score and its metadata."""

    id: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        title = self.metadata.get("title", "")
        url = self.metadata.get("url", "")
        return f"{self.score:.3f}  {title}  {url}".rstrip()


@dataclass
class ReconcileReport(PhaseReport):
    """What ``reconcile`` found: the ids the source lists, and the documents (and their chunks) deleted
    from the sink because the source no longer has them."""

    listed: int = 0
    documents: int = 0
    documents_deleted: int = 0
    chunks_deleted: int = 0
    deleted: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"reconcile: the source lists {self.listed} ids; {self.documents_deleted} of {self.documents} documents "
            f"were gone from it and were deleted ({self.chunks_deleted} chunks)"
        )


@dataclass
class RunReport(Report):
    """Every phase of ``run`` in order, each its own report; ``reconcile`` only when it ran."""

    plan: PlanReport
    fetch: FetchReport
    validate: ValidateReport
    ingest: IngestReport
    verify: VerifyReport
    reconcile: ReconcileReport | None = None
    # The last estimated plan of the workdir (``backfill plan``) beside this run: documents, tokens, seconds.
    plan_vs_actual: list[PlanComparison] = field(default_factory=list, metadata=_FACADE)

    def phases(self) -> list[tuple[str, PhaseReport]]:
        """The phases that ran, in order (reconcile only when it did)."""
        named: list[tuple[str, PhaseReport | None]] = [
            ("plan", self.plan), ("fetch", self.fetch), ("ingest", self.ingest), ("validate", self.validate),
            ("reconcile", self.reconcile), ("verify", self.verify),
        ]
        return [(name, r) for name, r in named if r is not None]

    def __str__(self) -> str:
        return "\n".join([*(str(r) for _, r in self.phases()), *self._against_plan()])

    def _against_plan(self) -> list[str]:
        if not self.plan_vs_actual:
            return []
        return ["plan vs run: " + ", ".join(f"{c.what} {c.planned:g} planned, {c.actual:g} done ({c.error:+.0%})"
                                             for c in self.plan_vs_actual)]

    @property
    def ok(self) -> bool:
        return self.verify.ok

    @property
    def seconds(self) -> float:
        """The time the phases took, together."""
        return sum(r.seconds or 0.0 for _, r in self.phases())

    def problems(self) -> list[str]:
        return [f"{name}: {p}" for name, r in self.phases() for p in r.problems()]

    def _frame_rows(self) -> list[dict[str, Any]]:
        return [{"phase": name, **dict(r._rows())} for name, r in self.phases()]

    def _repr_html_(self) -> str:
        rows = [(name, _html.seconds(r.seconds), r._headline().split(": ", 1)[-1]) for name, r in self.phases()]
        body = _html.phase_table(rows) + "".join(
            _html.details(name, r._repr_html_()) for name, r in self.phases()
        )
        if self.plan_vs_actual:
            body += _html.table("plan vs run", [(f"{c.what} (planned, done)", f"{c.planned:g}, {c.actual:g} ({c.error:+.0%})")
                                                for c in self.plan_vs_actual])
        head = ("verified" if self.ok else "NOT VERIFIED") + f" in {_html.seconds(self.seconds)}"
        return _html.card("RunReport", head, self.problems(), body, ok=self.ok)
