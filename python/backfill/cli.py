"""The command line: ``backfill run|plan|fetch|validate|ingest|reconcile|verify|status|gc|query CONFIG``.

Exit codes: 0 done (for run and verify: verified); 1 verification or validation found a problem, or
ingest left records unsent or items of the source quarantined;
2 bad configuration or usage, a preflight check failed (run, plan --check), or the workdir is in use by
another run; 3 any other error; 130 interrupted
(SIGINT), 143 stopped by SIGTERM, 129 by SIGHUP. Failures print one line naming
what is at fault.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, Sequence

from backfill.errors import BackfillError, ConfigError, LedgerError, ValidationError, VerificationError
from backfill.preflight import PreflightError

log = logging.getLogger("backfill")


_STRICT = "stop at the first item of the source that cannot be read, instead of quarantining it"
_RESTORE = "rebuild the workdir's ledger from the sink first, even when the workdir has state"


def _parser() -> argparse.ArgumentParser:
    from backfill import __version__

    p = argparse.ArgumentParser(
        prog="backfill",
        description="Backfill a source into a vector index, resumably, and prove the data landed.",
    )
    p.add_argument("--version", action="version", version=f"backfill {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, description=help)
        c.add_argument("config", metavar="CONFIG", help="the TOML config file")
        c.add_argument("-v", "--verbose", action="count", default=0,
                       help="-v: debug (every HTTP request, scrubbed); -vv: also the core's trace lines")
        c.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
        c.add_argument(
            "--progress", choices=["auto", "tqdm", "log", "none"], default="auto", help="how to show progress"
        )
        c.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
        return c

    c = command("run", "plan, fetch, validate, ingest and verify")
    c.add_argument("--refetch", action="append", default=[], metavar="PARTITION", help="fetch a partition again")
    c.add_argument("--sample", type=int, default=None, metavar="N", help="verify a random sample of N records")
    c.add_argument("--junit", default=None, metavar="PATH", help="also write the verification as JUnit XML")
    c.add_argument("--strict", action="store_true", default=None, help=_STRICT)
    c.add_argument("--restore", action="store_true", help=_RESTORE)
    c.add_argument("--no-check", dest="check", action="store_false",
                   help="skip the preflight checks (credentials, index, transport, pagination, disk)")
    c = command("plan", "list partitions and estimate the work")
    c.add_argument("--check", action="store_true",
                   help="only run the preflight checks, one cheap request each; exit 2 when one fails")
    c = command("fetch", "journal every page not yet journaled")
    c.add_argument("--refetch", action="append", default=[], metavar="PARTITION", help="fetch a partition again")
    c = command("validate", "check the journal: counts, duplicate ids, damaged pages")
    c.add_argument("--strict", action="store_true", help="treat duplicate ids and unreadable items as a failure")
    c = command("ingest", "normalize, chunk, embed and upsert what changed")
    c.add_argument("--strict", action="store_true", default=None, help=_STRICT)
    c.add_argument("--restore", action="store_true", help=_RESTORE)
    c = command("reconcile", "delete from the sink the documents the source no longer holds")
    c.add_argument("--max-fraction", type=float, default=None, metavar="F",
                   help="refuse when more than this fraction of the documents would go (default 0.5)")
    c = command("verify", "read the sink back and write a receipt")
    c.add_argument("--sample", type=int, default=None, metavar="N", help="read back a random sample of N records")
    c.add_argument("--junit", default=None, metavar="PATH", help="also write the verification as JUnit XML")
    c.add_argument("--repair", action="store_true",
                   help="write again what is missing or altered (from the embedding cache), then verify again")
    command("status", "where the backfill stands")
    c = command("gc", "remove what a verified run no longer needs, and say what it freed")
    c.add_argument("--keep-embeddings", action="store_true", default=None,
                   help="keep the embedding cache, in half precision (to reuse the vectors for another index);"
                        " default: [run] keep_embeddings")
    c = command("query", "print the records nearest to a question")
    c.add_argument("text", metavar="TEXT", help="the question")
    c.add_argument("-k", type=int, default=5, help="how many matches (default 5)")
    return p


def _setup_logging(verbose: int, quiet: bool) -> None:
    """INFO by default: phases, progress lines, waits and retries (at most one line per service every
    10 s); ``--quiet``: warnings and errors; ``-v``: DEBUG; ``-vv``: the core's trace level too."""
    level = logging.WARNING if quiet else logging.INFO if verbose == 0 else logging.DEBUG if verbose == 1 else 5
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False


def _uses_python(config: Any) -> bool:
    return any(getattr(spec, "type", "") == "python" for spec in (config.source, config.embedder, config.sink))


def _import_from(config_folder: Path) -> None:
    """Lets ``type = "python"`` components import modules beside the config file or in the working
    directory, as ``python -m backfill`` does for the latter (the console script's own folder is
    ``sys.path[0]`` otherwise)."""
    for folder in (os.getcwd(), os.fspath(config_folder)):
        if folder not in sys.path:
            sys.path.insert(0, folder)


def _print_json(data: dict[str, Any], code: int) -> None:
    """A report (or an error) as JSON, with ``ok`` and ``exit_code`` first so a script can branch on them."""
    print(json.dumps({"ok": code == 0, "exit_code": code, **data}, indent=2, ensure_ascii=False))


def _emit(args: argparse.Namespace, report: Any, code: int = 0) -> None:
    if args.json:
        _print_json(report.to_dict(), code)
    else:
        print(report)


def _fail(args: argparse.Namespace, code: int, line: str, error: BaseException) -> int:
    """Prints the one line of a failure on stderr (and, with --json, the failure as JSON); returns ``code``."""
    if args.json:
        transient = bool(getattr(error, "transient", False))
        _print_json({"error": {"type": type(error).__name__, "message": str(error), "transient": transient}}, code)
    print(line, file=sys.stderr)
    return code


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (what Airflow, Kubernetes, systemd and a closed terminal send), handled as
    Ctrl-C is: the work in flight stops at its next checkpoint and what is done is kept."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_termination(signum: int, frame: Any) -> None:
    raise Terminated(signum)


def _handle_termination() -> None:
    """SIGTERM and SIGHUP stop the run as SIGINT does (only the main thread can install handlers)."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            signal.signal(sig, _on_termination)
        except ValueError:  # not the main thread
            return


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose, args.quiet)
    _handle_termination()
    try:
        from backfill.config import ReadOnlyEnv, load_config
        from backfill.pipeline import Pipeline

        # status reads only the workdir: credentials it never sends need not be set.
        config = load_config(args.config, ReadOnlyEnv() if args.command == "status" else None)
        if config.path is not None and _uses_python(config):
            _import_from(config.path.parent)
        writes = args.command in ("run", "ingest")
        pipeline = Pipeline.from_config(config, progress=args.progress, strict=args.strict if writes else None,
                                        restore=writes and args.restore)
        cmd = args.command
        if cmd == "run":
            report: Any = pipeline.run(refetch=args.refetch, sample=args.sample, junit=args.junit, check=args.check)
        elif cmd == "plan" and args.check:
            report = pipeline.check()
            if not report.ok:
                raise PreflightError(report)
        elif cmd == "plan":
            report = pipeline.plan()
        elif cmd == "fetch":
            report = pipeline.fetch(args.refetch)
        elif cmd == "validate":
            report = pipeline.validate(strict=args.strict)
        elif cmd == "ingest":
            report = pipeline.ingest()
        elif cmd == "reconcile":
            report = pipeline.reconcile(args.max_fraction)
        elif cmd == "verify":
            report = pipeline.verify(args.sample, junit=args.junit, repair=args.repair)
        elif cmd == "status":
            report = pipeline.status()
        elif cmd == "gc":
            report = pipeline.gc(keep_embeddings=args.keep_embeddings)
        elif cmd == "query":
            matches = pipeline.query(args.text, args.k)
            if args.json:
                print(json.dumps([m.to_dict() for m in matches], indent=2, ensure_ascii=False))
            else:
                _print_matches(matches)
            return 0
        else:  # pragma: no cover - argparse rejects unknown commands
            raise AssertionError(cmd)
        # An ingest that left records unsent or items quarantined is not done (run and verify say so
        # through verification).
        code = 1 if cmd == "ingest" and not report.ok else 0
        _emit(args, report, code)
        if code:
            print(f"backfill: ingest incomplete: {'; '.join(report.problems())}", file=sys.stderr)
        return code
    except PreflightError as e:
        if args.json:
            _print_json(e.report.to_dict(), 2)
        else:
            print(e.report)
        print(f"backfill: {e}", file=sys.stderr)
        return 2
    except ConfigError as e:
        return _fail(args, 2, f"backfill: config error: {e}", e)
    except (VerificationError, ValidationError) as e:
        if args.json and e.report is not None:
            _print_json(e.report.to_dict(), 1)
        elif e.report is not None:
            print(e.report)
        print(f"backfill: {e}", file=sys.stderr)
        return 1
    except LedgerError as e:
        if getattr(e, "holder", None) is None:
            return _fail(args, 3, f"backfill: {type(e).__name__}: {e}", e)
        return _fail(args, 2, f"backfill: {e}", e)
    except BackfillError as e:
        retry = " (transient: running again later may succeed)" if e.transient else ""
        return _fail(args, 3, f"backfill: {type(e).__name__}: {e}{retry}", e)
    except KeyboardInterrupt as e:
        code, what = (128 + e.signum, f"stopped by {signal.Signals(e.signum).name}") if isinstance(e, Terminated) \
            else (130, "interrupted")
        line = f"backfill: {what}; everything done so far is kept, run the same command to resume"
        return _fail(args, code, line, e)


def _print_matches(matches: list[Any]) -> None:
    if not matches:
        print("no matches (is the index empty? run `backfill run CONFIG` first)")
        return
    for i, m in enumerate(matches, 1):
        md = m.metadata
        print(f"{i}. [{m.score:.3f}] {md.get('title', m.id)}")
        if md.get("url"):
            print(f"   {md['url']}")
        text = " ".join(str(md.get("text", "")).split())
        title = str(md.get("title", ""))
        if title and text.startswith(title):
            text = text[len(title):].lstrip()
        if text:
            print(f"   {text[:240]}{'...' if len(text) > 240 else ''}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
