"""The Python face of a backfill: ``Pipeline`` runs the phases plan, fetch, validate, ingest and
verify, each on its own or all together with ``run()``. Every phase is idempotent: a rerun after a
crash, a Ctrl-C or a failure resumes where the last one stopped."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from backfill import _core, estimates
from backfill._options import core_options
from backfill.chunking import Chunking
from backfill.embedders import EmbedderSpec, HashEmbedder
from backfill.sinks import LocalIndex, SinkSpec
from backfill.sources import SourceSpec
from backfill.config import Config, load_config
from backfill.errors import ConfigError, ValidationError, VerificationError
from backfill.preflight import PreflightError, PreflightReport
from backfill.progress import ProgressSetting, make_progress
from backfill.timeline import Timeline
from backfill.workdir_lock import WorkdirLock
from backfill.receipts import build_receipt, latest_receipt, write_junit, write_receipt
from backfill.reports import (
    FetchReport,
    GcReport,
    IngestReport,
    Match,
    PhaseReport,
    PlanReport,
    ReconcileReport,
    RunReport,
    StatusReport,
    ValidateReport,
    VerifyReport,
    core_value,
)

log = logging.getLogger("backfill")
R = TypeVar("R", bound=PhaseReport)
_DEFAULTS = _core.PipelineOptions()


class Pipeline:
    """A resumable, verified backfill from one source into one sink.

    >>> p = Pipeline(SlackExport("export.zip"), name="slack")   # doctest: +SKIP
    >>> p.run()                                                  # doctest: +SKIP

    ``workdir`` defaults to ``.backfill/<name>`` in the current directory; it holds the journal of raw
    pages, the ledger (``state.sqlite``) and the receipts. ``overlap`` runs fetch, normalize, embed and
    upsert concurrently (off: one after another); ``embed_concurrency`` is how many embedder calls
    may be in flight (0: the embedder's own choice); ``fetch_concurrency`` how many partitions are
    fetched at once (the source's rate limit holds across them); ``memory_budget_mb`` bounds the bytes
    the stages hold at once (fetched pages until journaled, batches of records until written; 0: only
    the counts bound them). An item of the source that cannot be
    read (invalid UTF-8, a lone surrogate, nesting too deep, a field missing) is quarantined: left
    out and listed, the rest goes on, and the backfill is not verified until the source fixes it
    (its partition is fetched again on the next run); ``strict`` stops at the first one instead.
    ``restore`` rebuilds the ledger from the sink before ingesting even when the workdir has state
    (a workdir without any is rebuilt anyway). ``plan_sample_pages``: the pages :meth:`plan` reads to
    estimate tokens (0: none).
    ``progress`` is ``"auto"`` (a tqdm bar when
    a person is watching, log lines otherwise), ``"tqdm"``, ``"log"``, ``"none"`` or a callable.
    """

    def __init__(
        self,
        source: SourceSpec,
        embedder: EmbedderSpec | None = None,
        sink: SinkSpec | None = None,
        *,
        name: str = "backfill",
        workdir: str | os.PathLike[str] | None = None,
        chunking: Chunking | None = None,
        batch_records: int = _DEFAULTS.batch_records,
        verify_sample: int = 0,
        count_timeout_seconds: float = _DEFAULTS.count_timeout_seconds,
        overlap: bool = _DEFAULTS.overlap,
        embed_concurrency: int = _DEFAULTS.embed_concurrency,
        fetch_concurrency: int = _DEFAULTS.fetch_concurrency,
        memory_budget_mb: int = _DEFAULTS.memory_budget_mb,
        reconcile: bool = False,
        reconcile_max_fraction: float = 0.5,
        strict: bool = _DEFAULTS.strict,
        restore: bool = _DEFAULTS.restore,
        plan_sample_pages: int = _DEFAULTS.plan_sample_pages,
        keep_embeddings: bool = False,
        progress: ProgressSetting = "auto",
    ) -> None:
        self.source = source
        self.embedder = embedder if embedder is not None else HashEmbedder()
        self.sink = sink if sink is not None else LocalIndex()
        self.name = name
        self.workdir = Path(workdir) if workdir is not None else Path(".backfill") / name
        self.chunking = chunking if chunking is not None else Chunking()
        if batch_records < 1:
            raise ConfigError(f"run.batch_records must be at least 1, got {batch_records}", key="run.batch_records")
        if fetch_concurrency < 1:
            raise ConfigError(
                f"run.fetch_concurrency must be at least 1, got {fetch_concurrency}", key="run.fetch_concurrency"
            )
        if not 0 <= memory_budget_mb <= 1 << 20:
            raise ConfigError(
                f"run.memory_budget_mb must be 0 (no budget: counts alone) or a number of MB up to 1048576, "
                f"got {memory_budget_mb}",
                key="run.memory_budget_mb",
            )
        if embed_concurrency < 0:
            raise ConfigError(
                f"run.embed_concurrency must be 0 (the embedder's own) or positive, got {embed_concurrency}",
                key="run.embed_concurrency",
            )
        self.verify_sample = verify_sample
        if not 0.0 <= reconcile_max_fraction <= 1.0:
            raise ConfigError(
                f"run.reconcile_max_fraction must be between 0 and 1, got {reconcile_max_fraction}",
                key="run.reconcile_max_fraction",
            )
        self.reconcile_on_run = reconcile
        self.reconcile_max_fraction = reconcile_max_fraction
        self.keep_embeddings = keep_embeddings
        self._progress_setting = progress
        self._cancel = threading.Event()
        self._lock = WorkdirLock(self.workdir)
        self._config_name = "CONFIG"  # how messages name the config file (from_config sets it)
        self._last_ingest: IngestReport | None = None
        self._seconds: dict[str, float] = {}
        self._source = source.build()
        self._embedder = self.embedder.build()
        self._sink = self.sink.build(self.workdir)
        options = _core.PipelineOptions(
            workdir=self.workdir,
            chunking=core_options(_core.ChunkingOptions, self.chunking),
            batch_records=batch_records,
            count_timeout_seconds=count_timeout_seconds,
            overlap=overlap,
            embed_concurrency=embed_concurrency,
            fetch_concurrency=fetch_concurrency,
            memory_budget_mb=memory_budget_mb,
            strict=strict,
            restore=restore,
            plan_sample_pages=plan_sample_pages,
        )
        self._core = _core.Pipeline(self._source, self._embedder, self._sink, options)

    @classmethod
    def from_config(
        cls,
        path: str | os.PathLike[str] | Config,
        *,
        progress: ProgressSetting = "auto",
        strict: bool | None = None,
        restore: bool = False,
    ) -> Pipeline:
        """Builds a pipeline from a TOML file (or an already loaded :class:`~backfill.config.Config`);
        ``strict`` overrides ``[run] strict``."""
        config = path if isinstance(path, Config) else load_config(path)
        workdir = config.run.workdir if config.run.workdir is not None else Path(".backfill") / config.run.name
        pipeline = cls(
            config.source,
            config.embedder,
            config.sink,
            name=config.run.name,
            workdir=workdir,
            chunking=config.chunking,
            batch_records=config.run.batch_records,
            verify_sample=config.verify.sample,
            count_timeout_seconds=config.verify.count_timeout_seconds,
            overlap=config.run.overlap,
            embed_concurrency=config.run.embed_concurrency,
            fetch_concurrency=config.run.fetch_concurrency,
            memory_budget_mb=config.run.memory_budget_mb,
            reconcile=config.run.reconcile,
            reconcile_max_fraction=config.run.reconcile_max_fraction,
            strict=config.run.strict if strict is None else strict,
            restore=restore,
            plan_sample_pages=config.run.plan_sample_pages,
            keep_embeddings=config.run.keep_embeddings,
            progress=progress,
        )
        if config.path is not None:
            pipeline._config_name = os.fspath(config.path)
        return pipeline

    def __repr__(self) -> str:
        return (
            f"Pipeline(name={self.name!r}, source={self.source!r}, embedder={self.embedder!r}, "
            f"sink={self.sink!r}, workdir={os.fspath(self.workdir)!r})"
        )

    # -- the phases ------------------------------------------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any, record: bool = True) -> Any:
        """Runs a phase of the core; returns its report as plain data (see reports.core_value). The
        progress goes to the display and (unless ``record`` is off: a phase that writes nothing) to
        the workdir's timeline; ``self._seconds`` is then how long each phase of the call took."""
        _core.set_log_level(log.getEffectiveLevel())
        self._cancel.clear()
        progress = make_progress(self._progress_setting)
        timeline = Timeline(self.workdir, progress)
        ok = False
        result = None
        try:
            result = core_value(fn(*args, progress=timeline, cancel=self._cancel))
            ok = True
            finish = getattr(progress, "finish", None)
            if finish is not None:
                finish()
            return result
        finally:
            end = time.time()
            self._seconds = timeline.phase_seconds(end)
            if record:
                timeline.save(end, ok, result)
            close = getattr(progress, "close", None)
            if close is not None:
                close()

    def _timed(self, report: R, phase: str) -> R:
        report.seconds = self._seconds.get(phase)
        return report

    def cancel(self) -> None:
        """Asks a running phase (in another thread) to stop at its next checkpoint; it raises
        :class:`~backfill.errors.Cancelled` and everything done so far is kept."""
        self._cancel.set()

    def check(self, *, before_run: bool = False) -> PreflightReport:
        """The preflight checks (backfill.preflight): one cheap request per check, each with a
        verdict and, when it fails, the fix. Writes nothing and journals nothing; the embedder's
        check (an embedding of one input) runs only when every other check passed.

        ``before_run``: the checks :meth:`run` performs: without the embedder's (the run's first
        embedding checks it, and a refused key costs nothing), and a check that meets an error
        raises it, as the run would have."""
        data = self._call(_core.preflight, self._source, self._embedder, self._sink, self.workdir, before_run,
                          record=False)
        return PreflightReport.from_dict(data)

    def plan(self, *, estimate: bool = True) -> PlanReport:
        """Lists the partitions and estimates their size. With ``estimate``, sources that can tell say what
        a full fetch of each partition needs (Jira: the approximate count; GitHub: items, requests, time at
        the rate limit), which may cost them a few requests, and a sample of each partition's first pages
        (read into memory, up to ``plan_sample_pages`` in all) goes through the normalizer and the
        chunker for the documents, tokens, cost, time and disk (``report.estimate``; see
        backfill.estimates). The estimate is kept in the workdir: the next ``run`` reports how it
        compared. ``run`` plans without."""
        call = self._core.plan_with_estimates if estimate else self._core.plan
        report = self._timed(PlanReport.from_dict(self._call(call)), "plan")
        if estimate:
            report.estimate = estimates.estimate(
                report, self.embedder, self._embedder.identity, self._embedder.dimension,
                isinstance(self.sink, LocalIndex),
            )
            estimates.save(self.workdir, report)
        return report

    def fetch(self, refetch: Sequence[str] = ()) -> FetchReport:
        """Journals every page not yet journaled. ``refetch`` names partitions to fetch again from the
        start (to repair damaged pages)."""
        with self._lock:
            return self._timed(FetchReport.from_dict(self._call(self._core.fetch, list(refetch))), "fetch")

    def validate(self, *, strict: bool = False) -> ValidateReport:
        """Scans the journal: counts, duplicate ids with their pages, damaged pages, items that cannot
        be read (quarantined). Writes nothing.

        Raises :class:`~backfill.errors.ValidationError` on a damaged page (and, with ``strict``, on
        duplicate ids and on quarantined items)."""
        report = self._timed(ValidateReport.from_dict(self._call(self._core.validate, record=False)), "validate")
        if not report.ok:
            first = report.bad_pages[0]
            raise ValidationError(
                f"{len(report.bad_pages)} journal page(s) cannot be used; {first.path} is {first.problem}", report
            )
        if strict and report.duplicate_ids:
            raise ValidationError(f"{report.duplicate_ids} ids appear more than once in the journal", report)
        if strict and report.quarantined_count:
            raise ValidationError(f"{report.quarantined_count} items of the journal cannot be read", report)
        return report

    def ingest(self) -> IngestReport:
        """Normalizes, deduplicates, chunks, embeds (cache first) and upserts what changed."""
        with self._lock:
            report = self._priced(IngestReport.from_dict(self._call(self._core.ingest)))
        self._last_ingest = report
        return report

    def _priced(self, report: IngestReport) -> IngestReport:
        """The ingest report, timed, with the cost of its tokens at the embedder's price."""
        report.estimated_cost = estimates.cost(report.tokens_embedded, estimates.price_per_million(self.embedder))
        return self._timed(report, "ingest")

    def fetch_and_ingest(self, refetch: Sequence[str] = ()) -> tuple[FetchReport, IngestReport]:
        """fetch, then ingest, overlapped (unless ``overlap=False``): documents are normalized, embedded
        and upserted while later pages are still being fetched. What :meth:`run` does before it
        validates and verifies; for orchestrators that verify in a later step."""
        return self._fetch_and_ingest(refetch, validate_next=False)

    def _fetch_and_ingest(self, refetch: Sequence[str], *, validate_next: bool) -> tuple[FetchReport, IngestReport]:
        # validate_next: the ingest keeps the item ids of the pages it reads, and the validate that
        # follows (run's) reads only the pages it did not.
        with self._lock:
            both = self._call(self._core.fetch_and_ingest, list(refetch), validate_next)
        fetch = self._timed(FetchReport.from_dict(both["fetch"]), "fetch")
        ingest = self._priced(IngestReport.from_dict(both["ingest"]))
        self._last_ingest = ingest
        return fetch, ingest

    def reconcile(self, max_fraction: float | None = None) -> ReconcileReport:
        """Deletes from the sink the documents the source no longer holds (sources that can list their
        ids: Jira). Refuses, deleting nothing, when more than ``max_fraction`` (default
        ``reconcile_max_fraction``, 0.5) of the documents would go: an empty listing after a
        permission change must not wipe an index."""
        fraction = self.reconcile_max_fraction if max_fraction is None else max_fraction
        if not 0.0 <= fraction <= 1.0:
            raise ConfigError(f"reconcile max fraction must be between 0 and 1, got {fraction}")
        with self._lock:
            return self._timed(ReconcileReport.from_dict(self._call(self._core.reconcile, fraction)), "reconcile")

    def verify(
        self,
        sample: int | None = None,
        *,
        junit: str | os.PathLike[str] | None = None,
        raise_on_failure: bool = True,
        repair: bool = False,
    ) -> VerifyReport:
        """Reads the sink back: the count, then every id (or a random ``sample`` of them) with its
        metadata hash. Writes a receipt; raises :class:`~backfill.errors.VerificationError` when
        anything is missing or different, or was never sent (unless ``raise_on_failure=False``).
        ``junit`` also writes a JUnit XML file for CI.

        What is missing or altered is marked pending in the ledger, so the next ingest writes it
        again (vectors from the embedding cache: nothing is embedded again when the text is the
        same). ``repair`` does that at once: an ingest of the pending documents, then a second
        verification, whose report (with the repair's ingest as ``repair``) is the one returned."""
        n = self.verify_sample if sample is None else sample
        if n < 0:
            raise ConfigError(f"verify sample must be 0 (everything) or positive, got {n}", key="verify.sample")
        with self._lock:
            report = self._timed(VerifyReport.from_dict(self._call(self._core.verify, n)), "verify")
            if repair and not report.ok and report.marked_pending:
                log.info("verify: %d records missing or altered; writing their documents again", report.marked_pending)
                fixed = self._priced(IngestReport.from_dict(self._call(self._core.ingest)))
                report = self._timed(VerifyReport.from_dict(self._call(self._core.verify, n)), "verify")
                report.repair = fixed
            return self._conclude(report, junit, raise_on_failure)

    def _conclude(
        self, report: VerifyReport, junit: str | os.PathLike[str] | None, raise_on_failure: bool
    ) -> VerifyReport:
        """Writes the receipt (and the JUnit file) of a verification; raises when it failed."""
        receipt = build_receipt(
            run=self.name,
            workdir=self.workdir,
            source=self._source.describe(),
            source_kind=self._source.kind,
            embedder=self._embedder.identity,
            sink_kind=self._sink.kind,
            report=report,
            ingest=self._last_ingest,
        )
        report.receipt = os.fspath(write_receipt(self.workdir, receipt))
        if junit is not None:
            report.junit = os.fspath(write_junit(Path(junit), self.name, report))
        if not report.ok and raise_on_failure:
            fix = report.fix(self._config_name)
            raise VerificationError(
                f"verification failed: {report.problem()}" + (f": {fix}" if fix else ""), report, report.receipt
            )
        return report

    def run(
        self,
        *,
        refetch: Sequence[str] = (),
        sample: int | None = None,
        junit: str | os.PathLike[str] | None = None,
        check: bool = True,
    ) -> RunReport:
        """plan, fetch, ingest, validate, (reconcile, when enabled), verify (with ``repair``: what the
        sink lost or altered is written again, then verified). Safe to call again after any interruption.

        Fetch, normalize, embed and upsert overlap (unless ``overlap=False``): documents are
        ingested while later pages are still being fetched. Each page is journaled and checked
        against its hash before it is normalized, so validation afterwards only reports (duplicate
        ids and their pages); a damaged page stops the run where it is met.

        With ``check`` (the default), the preflight checks (:meth:`check`) come first: when one
        fails, :class:`~backfill.preflight.PreflightError` is raised before anything is fetched,
        embedded or written.

        Once a full verification passed (every record this backfill owns read back, not a sample),
        the sink holds the vectors: the embedding cache keeps only a heal copy of each (one byte a
        component), which writes a record the sink loses later without embedding its text again
        (``keep_embeddings`` keeps the cache whole; ``gc`` removes the copies too). A run stopped
        before that keeps the whole cache for the rerun."""
        start = time.monotonic()
        with self._lock:
            planned = estimates.load(self.workdir)
            if check:
                self._preflight()
            plan = self.plan(estimate=False)
            fetch, ingest = self._fetch_and_ingest(refetch, validate_next=True)
            validate = self.validate()
            reconcile = self.reconcile() if self.reconcile_on_run else None
            verify = self.verify(sample, junit=junit, repair=True)
            self._core.evict_verified_embeddings(self.keep_embeddings)
        report = RunReport(plan=plan, fetch=fetch, validate=validate, ingest=ingest, verify=verify, reconcile=reconcile)
        if planned is not None:
            report.plan_vs_actual = estimates.compare(planned, ingest, time.monotonic() - start)
            estimates.forget(self.workdir)  # a plan is compared with the one run that follows it
        return report

    def _preflight(self) -> None:
        report = self.check(before_run=True)
        for c in report.checks:
            log.log(logging.WARNING if c.status in ("failed", "warning") else logging.INFO, "preflight %s", c.line())
        if not report.ok:
            raise PreflightError(report)

    def status(self) -> StatusReport:
        """Where the backfill stands, from the ledger."""
        report = StatusReport.from_dict(core_value(self._core.status()))
        last = latest_receipt(self.workdir)
        report.last_receipt = os.fspath(last) if last else None
        return report

    def gc(self, *, keep_embeddings: bool | None = None) -> GcReport:
        """Removes what a verified run no longer needs: the embedding cache and its heal copies, once a
        full verification passed and nothing was ingested since (the sink holds the vectors;
        ``--restore`` reads them back; a record the sink loses after that is embedded again), or with ``keep_embeddings`` (default ``[run] keep_embeddings``) keeps it in half
        precision; journal files no ledger row names (a killed fetch's page in flight); then gives the
        ledger's free pages back to the file system. Says what it freed."""
        keep = self.keep_embeddings if keep_embeddings is None else keep_embeddings
        with self._lock:
            return GcReport.from_dict(core_value(self._core.gc(keep)))

    def query(self, text: str, k: int = 5) -> list[Match]:
        """The ``k`` records nearest to ``text`` by the pipeline's embedder."""
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        return [Match.from_dict(m) for m in self._core.query(text, k)]
