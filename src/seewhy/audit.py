"""The audit runner: source → Release → analyzers → Report."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Protocol

from seewhy._version import __version__
from seewhy.analyzers.interface import Analyzer, AnalyzerResult, AuditContext, AuditOptions
from seewhy.errors import ReleaseReadError
from seewhy.release.local import open_release
from seewhy.release.model import FileKind, Release, ReleaseFile
from seewhy.report.model import (
    AnalyzerOutcome,
    CoverageStatus,
    CoverageStep,
    FileCoverage,
    Finding,
    Metadata,
    ReleaseSummary,
    Report,
)


class Progress(Protocol):
    """Receives progress of long work (hashing); the CLI draws it on stderr."""

    def start(self, description: str, total: int) -> None:
        """A task of ``total`` units begins."""
        ...

    def advance(self, amount: int) -> None:
        """``amount`` more units are done (may be called from worker threads)."""
        ...

    def finish(self) -> None:
        """The task is over."""
        ...


def default_analyzers() -> list[Analyzer]:
    """The analyzers an audit runs, in order."""
    from seewhy.analyzers.inventory import InventoryAnalyzer

    return [InventoryAnalyzer()]


def audit(
    source: str | os.PathLike[str],
    *,
    hash_files: bool = False,
    progress: Progress | None = None,
    analyzers: Sequence[Analyzer] | None = None,
    raise_errors: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Report:
    """Audit a model release (a folder or a single file) and return its Report.

    Nothing from the release is executed, imported or rendered. With
    ``hash_files`` every file is streamed through sha256 (files in parallel);
    otherwise only headers are read. An analyzer that fails is recorded as
    errored and the audit goes on, unless ``raise_errors`` is set.
    """
    release = open_release(source)
    return audit_release(
        release,
        source=str(source),
        hash_files=hash_files,
        progress=progress,
        analyzers=analyzers,
        raise_errors=raise_errors,
        now=now,
    )


def audit_release(
    release: Release,
    *,
    source: str,
    hash_files: bool = False,
    progress: Progress | None = None,
    analyzers: Sequence[Analyzer] | None = None,
    raise_errors: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Report:
    """Audit an already opened Release (see :func:`audit`)."""
    started = now()
    ctx = AuditContext(options=AuditOptions(hash_files=hash_files))
    hash_errors: dict[str, str] = {}
    if hash_files:
        hash_errors = hash_release(release, progress)
    outcomes: list[AnalyzerOutcome] = []
    results: list[AnalyzerResult] = []
    for analyzer in analyzers if analyzers is not None else default_analyzers():
        try:
            results.append(analyzer.analyze(release, ctx))
        except Exception as exc:
            if raise_errors:
                raise
            outcomes.append(
                AnalyzerOutcome(
                    analyzer=analyzer.name,
                    status="errored",
                    message=f"{type(exc).__name__}: {exc}",
                )
            )
        else:
            outcomes.append(AnalyzerOutcome(analyzer=analyzer.name, status="completed"))
    findings = sorted(
        (f for r in results for f in r.findings),
        key=_finding_order,
    )
    facts = [f for r in results for f in r.facts]
    verdicts = [v for r in results for v in r.verdicts]
    steps: dict[str, list[CoverageStep]] = {f.path: [] for f in release.files}
    for result in results:
        for path, step in result.coverage:
            steps.setdefault(path, []).append(step)
    for path, reason in hash_errors.items():
        steps.setdefault(path, []).append(
            CoverageStep(analyzer="hash", status=CoverageStatus.ERROR, detail=reason)
        )
    coverage = tuple(
        FileCoverage(
            path=f.path,
            size=f.size,
            kind=f.kind.value,
            sha256=release.known_sha256(f),
            steps=tuple(steps[f.path]),
        )
        for f in release.files
    )
    return Report(
        metadata=Metadata(
            version=__version__,
            generated_at=started.isoformat(timespec="seconds"),
            source=source,
            source_kind="file" if release.source_kind == "file" else "folder",
            options={"hash": hash_files},
        ),
        release=ReleaseSummary(
            name=release.name,
            file_count=len(release.files),
            total_bytes=release.total_bytes,
            bytes_read=release.meter.bytes_read,
        ),
        verdicts=tuple(verdicts),
        facts=tuple(facts),
        findings=tuple(findings),
        coverage=coverage,
        analyzers=tuple(outcomes),
    )


def _finding_order(f: Finding) -> tuple[int, str, str, int, str]:
    ev = f.evidence[0] if f.evidence else None
    return (
        -f.severity.rank,
        f.rule_id,
        (ev.path or "") if ev else "",
        (ev.offset or 0) if ev else 0,
        f.message,
    )


def hash_release(release: Release, progress: Progress | None = None) -> dict[str, str]:
    """Stream sha256 of every readable file, files in parallel.

    Returns the files that could not be hashed, with the reason. sha256 in
    hashlib releases the GIL on large buffers, so threads scale with cores.
    """
    files = [f for f in release.files if f.kind is not FileKind.UNREADABLE]
    if progress is not None:
        progress.start("sha256", sum(f.size for f in files))
    errors: dict[str, str] = {}
    advance = progress.advance if progress is not None else None

    def one(file_: ReleaseFile) -> None:
        try:
            release.sha256(file_, advance)
        except ReleaseReadError as exc:
            errors[file_.path] = exc.reason

    workers = max(1, min(len(files), os.cpu_count() or 1, 8))
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, files))
    finally:
        if progress is not None:
            progress.finish()
    return errors
