"""Batch audits: many releases, a pool of worker processes (or Ray tasks), resumable.

``seewhy audit --from repos.txt --jobs N`` (or several SOURCE arguments with
``--jobs``/``--engine``) lands here. Each release is audited in a worker by
:func:`audit_one`, which never raises: an error is that release's outcome,
and the others go on. A worker process that dies (a crash, the OOM killer, a
signal) breaks a :class:`~concurrent.futures.ProcessPoolExecutor`; the
releases it was running are then audited again one at a time in a fresh
pool, so only a release that kills its worker on its own is reported as
``crashed``. At most ``jobs`` releases are in flight, so a crash never costs
more than ``jobs`` re-runs.

Reports are saved into the store (:meth:`Store.put_report`) by the parent
process as each one arrives, so a batch killed half-way keeps what it did:
on the next run, sources with a stored report (:meth:`Store.latest_report_for`)
are skipped unless ``force`` is set. With ``engine="ray"`` the same
:func:`audit_one` runs as Ray tasks on the cluster at ``RAY_ADDRESS``, or on
a local Ray instance started here with ``jobs`` CPUs; sources must then be
readable from the Ray workers (Hub repository ids, or a shared file system).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from seewhy.errors import ReportError, UsageError

if TYPE_CHECKING:
    from seewhy.evaluation.store import Store
    from seewhy.provenance import SignatureTrust
    from seewhy.report.model import Report

__all__ = [
    "AuditOptions",
    "BatchProgress",
    "BatchResult",
    "Outcome",
    "audit_one",
    "format_summary",
    "read_sources",
    "run_batch",
    "summary_json",
]

MAX_SOURCES_BYTES = 64 * 1024 * 1024
"""Largest --from file read (a million repository ids is about 40 MB)."""

Engine = Literal["local", "ray"]
Status = Literal["audited", "stored", "error", "crashed"]


@dataclass(frozen=True)
class AuditOptions:
    """What every worker passes to :func:`seewhy.audit.audit` (picklable)."""

    hash_files: bool = False
    signature_trust: SignatureTrust | None = None
    limits: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Outcome:
    """One release's result: its report (JSON) or why there is none."""

    source: str
    status: Status
    report_json: str | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class BatchResult:
    """Every source's outcome in input order, with the reports (parsed) and run totals."""

    outcomes: list[Outcome]
    reports: dict[str, Report] = field(default_factory=dict)
    seconds: float = 0.0
    restarts: int = 0


class BatchProgress(Protocol):
    """Receives the batch's progress (the CLI draws it on stderr)."""

    def start(self, total: int, skipped: int) -> None:
        """``total`` sources, of which ``skipped`` already have a stored report."""
        ...

    def done(self, outcome: Outcome) -> None:
        """One more source is finished."""
        ...

    def note(self, text: str) -> None:
        """Something worth a line (a worker died, a retry)."""
        ...

    def finish(self) -> None:
        """The batch is over."""
        ...


# ------------------------------------------------------------------ sources


def read_sources(path: str | Path) -> list[str]:
    """Sources from a file, one per line; blank lines and ``#`` comments skipped; ``-`` is stdin.

    A comment is a line whose first non-blank character is ``#``, or the
    rest of a line after a ``#`` that follows a blank (``org/name  # why``).
    """
    if str(path) == "-":
        text = sys.stdin.read(MAX_SOURCES_BYTES + 1)
        where = "stdin"
    else:
        where = str(path)
        try:
            with Path(path).open("rb") as fh:
                raw = fh.read(MAX_SOURCES_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"cannot read --from {where}: {exc.strerror or exc}") from exc
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"--from {where} is not UTF-8 text (byte {exc.start})") from exc
    if len(text) > MAX_SOURCES_BYTES:
        raise UsageError(f"--from {where} is larger than {MAX_SOURCES_BYTES} bytes")
    sources: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        for mark in (" #", "\t#"):
            if mark in stripped:
                stripped = stripped.split(mark, 1)[0].rstrip()
        sources.append(stripped)
    return sources


def unique(sources: Iterable[str]) -> list[str]:
    """Sources in order, each once."""
    return list(dict.fromkeys(sources))


# ------------------------------------------------------------------- worker


def audit_one(source: str, options: AuditOptions) -> Outcome:
    """Audit one release in a worker; every error becomes the outcome, never an exception."""
    started = time.perf_counter()
    try:
        from seewhy.audit import audit

        report = audit(
            source,
            hash_files=options.hash_files,
            signature_trust=options.signature_trust,
            **dict(options.limits),
        )
        text = report.model_dump_json()
    except Exception as exc:  # one release's failure is its own outcome
        return Outcome(source, "error", error=_error_text(exc), seconds=_since(started))
    return Outcome(source, "audited", report_json=text, seconds=_since(started))


def _since(started: float) -> float:
    return time.perf_counter() - started


def _error_text(exc: BaseException) -> str:
    from seewhy.errors import ReleaseNotFoundError, SeewhyError

    if isinstance(exc, ReleaseNotFoundError):
        return str(exc)
    if isinstance(exc, SeewhyError):
        return str(exc).strip() or type(exc).__name__
    if isinstance(exc, OSError):
        where = getattr(exc, "filename", None)
        return f"{where + ': ' if where else ''}{exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"  # a bug in seewhy: named, for a report upstream


# ------------------------------------------------------------------- runner


def run_batch(
    sources: Sequence[str],
    *,
    jobs: int,
    store: Store,
    options: AuditOptions | None = None,
    engine: Engine = "local",
    force: bool = False,
    progress: BatchProgress | None = None,
) -> BatchResult:
    """Audit ``sources`` with ``jobs`` workers, saving each report into ``store``.

    Sources with a report in the store are skipped (their stored report is
    used) unless ``force``. Returns every source's outcome in input order.
    """
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    started = time.perf_counter()
    options = options or AuditOptions()
    order = unique(sources)
    result = BatchResult(outcomes=[])
    outcomes: dict[str, Outcome] = {}
    todo: list[str] = []
    for source in order:
        stored = None if force else store.latest_report_for(source)
        report = store.get_report(stored.report_id) if stored is not None else None
        if report is None:
            todo.append(source)
            continue
        outcomes[source] = Outcome(source, "stored")
        result.reports[source] = report
    if progress is not None:
        progress.start(len(order), len(order) - len(todo))

    def finished(outcome: Outcome) -> None:
        if outcome.report_json is not None:
            from seewhy.report.model import Report

            report = Report.model_validate_json(outcome.report_json)
            store.put_report(report, source=outcome.source)  # saved at once: resumable
            result.reports[outcome.source] = report
            outcome = Outcome(outcome.source, outcome.status, None, None, outcome.seconds)
        outcomes[outcome.source] = outcome
        if progress is not None:
            progress.done(outcome)

    try:
        if engine == "ray":
            _run_ray(todo, jobs, options, finished, progress)
        else:
            result.restarts = _run_local(todo, jobs, options, finished, progress)
    finally:
        if progress is not None:
            progress.finish()
    for source in order:  # never a silent gap: a source without a result says so
        outcomes.setdefault(source, Outcome(source, "crashed", error="no result came back"))
    result.outcomes = [outcomes[s] for s in order]
    result.seconds = time.perf_counter() - started
    return result


def _context() -> multiprocessing.context.BaseContext:
    """forkserver where the platform has it (workers fork from a clean server), else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["seewhy.batch", "seewhy.audit"])
        return ctx
    return multiprocessing.get_context("spawn")


def _run_local(
    todo: Sequence[str],
    jobs: int,
    options: AuditOptions,
    finished: Callable[[Outcome], None],
    progress: BatchProgress | None,
) -> int:
    """The local pool; returns how many times a broken pool was replaced."""
    queue = list(reversed(todo))
    restarts = 0
    idle_deaths = 0
    while queue:
        before = len(queue)
        suspects = _pool_pass(queue, jobs, options, finished)
        if not suspects:
            if len(queue) == before:  # the pool died before it ran anything
                idle_deaths += 1
                if idle_deaths >= 3:
                    raise ReportError("the worker processes keep dying before any audit starts")
            continue
        restarts += 1
        if progress is not None:
            progress.note(
                f"a worker process died; auditing the {len(suspects)} release(s) it may have "
                "been running again, one at a time"
            )
        for source in suspects:  # alone: a second death is this release's own
            alone = [source]
            again = _pool_pass(alone, 1, options, finished)
            if again or alone:  # died while auditing it, or before it could start
                finished(
                    Outcome(
                        source,
                        "crashed",
                        error="the worker process died while auditing it (twice; the second "
                        "time alone)",
                    )
                )
    return restarts


def _pool_pass(
    queue: list[str], jobs: int, options: AuditOptions, finished: Callable[[Outcome], None]
) -> list[str]:
    """Run ``queue`` (popped from the end) until it is empty or the pool breaks.

    Returns the sources that were in flight when the pool broke (none when it
    did not); they are not in ``queue`` any more.
    """
    with ProcessPoolExecutor(max_workers=min(jobs, len(queue)), mp_context=_context()) as pool:
        running: dict[Future[Outcome], str] = {}
        while queue or running:
            while queue and len(running) < jobs:
                try:
                    future = pool.submit(audit_one, queue[-1], options)
                except BrokenProcessPool:  # it broke since the last wait: queue[-1] never ran
                    for each in running:
                        each.cancel()
                    return list(running.values())
                running[future] = queue.pop()
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            broken: list[str] = []
            for future in done:
                source = running.pop(future)
                try:
                    finished(future.result())
                except BrokenProcessPool:
                    broken.append(source)
            if broken:
                broken += list(running.values())  # the pool is gone: every one in flight
                for future in running:
                    future.cancel()
                return broken
    return []


def _run_ray(
    todo: Sequence[str],
    jobs: int,
    options: AuditOptions,
    finished: Callable[[Outcome], None],
    progress: BatchProgress | None,
) -> None:
    """The same work as Ray tasks; a task whose worker dies is retried once, then crashed."""
    if not todo:
        return
    try:
        import ray
    except ImportError as exc:
        raise UsageError(
            "--engine ray needs Ray: pip install 'seewhy[ray]' (or run without --engine ray)"
        ) from exc
    # Ray prints its own messages (a worker that died, a retry) on stdout, from its
    # threads, until it shuts down; stdout holds the summary, so they go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        started_here = _ray_init(ray, jobs, progress)
        try:
            _ray_tasks(ray, todo, jobs, options, finished)
        finally:
            if started_here:
                ray.shutdown()


def _ray_init(ray: Any, jobs: int, progress: BatchProgress | None) -> bool:
    """Connect to ``RAY_ADDRESS`` or start a local instance; True when started here."""
    if ray.is_initialized():
        return False
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(
            num_cpus=jobs,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    if progress is not None:
        progress.note(f"ray: {'connected to ' + address if address else 'local instance'}")
    return not address


def _ray_tasks(
    ray: Any,
    todo: Sequence[str],
    jobs: int,
    options: AuditOptions,
    finished: Callable[[Outcome], None],
) -> None:
    """Submit every source as a Ray task (a few per CPU in flight) and collect them."""
    task = ray.remote(num_cpus=1, max_retries=1)(audit_one)
    pending: dict[Any, str] = {}
    queue = list(reversed(todo))
    in_flight = max(jobs, int(ray.cluster_resources().get("CPU", jobs))) * 2
    while queue or pending:
        while queue and len(pending) < in_flight:
            source = queue.pop()
            pending[task.remote(source, options)] = source
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            source = pending.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                outcome = Outcome(
                    source, "crashed", error=f"ray task failed: {type(exc).__name__} {first}"
                )
            finished(outcome)


# ------------------------------------------------------------------ summary


@dataclass(frozen=True)
class SummaryRow:
    """One line of the summary table."""

    source: str
    openness: str
    load_safety: str
    worst: str
    status: str


def summary_rows(result: BatchResult) -> list[SummaryRow]:
    """The summary of every source, in input order."""
    rows: list[SummaryRow] = []
    for outcome in result.outcomes:
        report = result.reports.get(outcome.source)
        if report is None:
            label = "crashed" if outcome.status == "crashed" else "error"
            rows.append(SummaryRow(outcome.source, "-", "-", "-", f"{label}: {outcome.error}"))
            continue
        openness = report.verdict("openness")
        safety = report.verdict("load_safety")
        worst = max(report.findings, key=lambda f: f.severity.rank, default=None)
        rows.append(
            SummaryRow(
                outcome.source,
                openness.value if openness is not None else "unknown",
                safety.value if safety is not None else "unknown",
                f"{worst.severity.value} {worst.rule_id}" if worst is not None else "none",
                "stored (skipped)" if outcome.status == "stored" else "audited",
            )
        )
    return rows


def format_summary(result: BatchResult) -> str:
    """The summary as an aligned text table, and a totals line."""
    rows = summary_rows(result)
    header = SummaryRow("SOURCE", "OPENNESS", "LOAD SAFETY", "WORST FINDING", "STATUS")
    cells = [(r.source, r.openness, r.load_safety, r.worst, r.status) for r in [header, *rows]]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    lines = ["  ".join(c[i].ljust(widths[i]) for i in range(4)) + "  " + c[4] for c in cells]
    counts = {s: sum(1 for o in result.outcomes if o.status == s) for s in _STATUSES}
    totals = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines.append(f"{len(result.outcomes)} release(s): {totals or 'none'} in {result.seconds:.1f} s")
    return "\n".join(lines) + "\n"


_STATUSES: tuple[Status, ...] = ("audited", "stored", "error", "crashed")


def summary_json(result: BatchResult) -> dict[str, Any]:
    """The summary as data."""
    return {
        "kind": "seewhy.batch",
        "seconds": round(result.seconds, 3),
        "releases": [
            {
                "source": r.source,
                "openness": r.openness,
                "load_safety": r.load_safety,
                "worst_finding": r.worst,
                "status": o.status,
                "error": o.error,
                "release": rep.release.name if (rep := result.reports.get(o.source)) else None,
            }
            for r, o in zip(summary_rows(result), result.outcomes, strict=True)
        ],
    }


# ----------------------------------------------------------------- progress


class PlainProgress:
    """A counter line per finished release on a stream (stderr when it is not a terminal)."""

    def __init__(self, stream: Any = None) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._total = 0
        self._done = 0

    def start(self, total: int, skipped: int) -> None:
        """See :class:`BatchProgress`."""
        self._total, self._done = total, skipped
        stored = f", {skipped} already in the store (skipped)" if skipped else ""
        self._line(f"seewhy: {total} release(s){stored}")

    def done(self, outcome: Outcome) -> None:
        """See :class:`BatchProgress`."""
        self._done += 1
        why = f": {outcome.error}" if outcome.error else ""
        self._line(f"seewhy: [{self._done}/{self._total}] {outcome.status} {outcome.source}{why}")

    def note(self, text: str) -> None:
        """See :class:`BatchProgress`."""
        self._line(f"seewhy: {text}")

    def finish(self) -> None:
        """See :class:`BatchProgress`."""

    def _line(self, text: str) -> None:
        self._stream.write(text + "\n")
        self._stream.flush()


class RichProgress:
    """A rich progress bar on stderr (a terminal)."""

    def __init__(self, color: bool = True) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._console = Console(stderr=True, highlight=False, no_color=not color)
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self._console,
            transient=True,
        )
        self._task: Any = None
        self._failed = 0

    def start(self, total: int, skipped: int) -> None:
        """See :class:`BatchProgress`."""
        self._bar.start()
        self._task = self._bar.add_task("auditing", total=total, completed=skipped)

    def done(self, outcome: Outcome) -> None:
        """See :class:`BatchProgress`."""
        if outcome.status in ("error", "crashed"):
            self._failed += 1
            self._bar.console.print(f"{outcome.status}: {outcome.source}: {outcome.error}")
        self._bar.update(self._task, advance=1, description=f"auditing ({self._failed} failed)")

    def note(self, text: str) -> None:
        """See :class:`BatchProgress`."""
        self._bar.console.print(text)

    def finish(self) -> None:
        """See :class:`BatchProgress`."""
        self._bar.stop()


# ---------------------------------------------------------------- command


def batch_command(
    sources: Sequence[str],
    *,
    from_file: Path | None,
    jobs: int | None,
    engine: str | None,
    force: bool,
    store_path: Path | None,
    fmt: Any,
    output: Path | None,
    threshold: str,
    color: bool,
    hash_files: bool,
    options: dict[str, Any],
    evidence: Sequence[str] | None,
) -> int:
    """``seewhy audit`` in batch mode; returns the exit code (the worst of the releases).

    ``options`` holds the audit's keyword options already checked by the
    command (``signature_trust`` and per-file limits). Prints the summary
    table (or JSON with ``--format json`` and no ``--output``) on stdout,
    writes each report into ``--output FOLDER`` when given.
    """
    import json

    from seewhy._commands import EXIT_USAGE, OutputFormat, _render, _report_path, _worst, _write
    from seewhy.evaluation.store import Store
    from seewhy.report.model import Severity

    if evidence:
        raise UsageError("--evidence is not supported in batch mode (--from, --jobs, --engine)")
    listed = list(sources)
    if from_file is not None:
        listed += read_sources(from_file)
    if not listed:
        raise UsageError("no source to audit: give SOURCE arguments or a --from file with sources")
    if output is not None and not output.is_dir():
        raise UsageError(f"in batch mode --output must be an existing folder: {output}")
    if engine not in (None, "local", "ray"):
        raise UsageError(f"--engine is local or ray, not {engine!r}")
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    n_jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    limits = tuple(sorted((k, v) for k, v in options.items() if k != "signature_trust"))
    audit_options = AuditOptions(
        hash_files=hash_files, signature_trust=options.get("signature_trust"), limits=limits
    )
    progress: BatchProgress = RichProgress(color) if sys.stderr.isatty() else PlainProgress()
    with Store(store_path) as store:
        result = run_batch(
            listed,
            jobs=n_jobs,
            store=store,
            options=audit_options,
            engine="ray" if engine == "ray" else "local",
            force=force,
            progress=progress,
        )
    limit = Severity(threshold)
    codes = [
        result.reports[o.source].exit_code(limit) if o.source in result.reports else EXIT_USAGE
        for o in result.outcomes
    ]
    if output is not None:
        used: set[str] = set()
        for report in (
            result.reports[o.source] for o in result.outcomes if o.source in result.reports
        ):
            text = _render(report, fmt, color=False, details=False)
            _write(text, _report_path(output, report.release.name, fmt, used))
    if fmt is OutputFormat.JSON and output is None:
        sys.stdout.write(json.dumps(summary_json(result), indent=2) + "\n")
    else:
        sys.stdout.write(format_summary(result))
    sys.stdout.flush()
    return _worst(codes)
