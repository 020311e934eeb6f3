"""The audit runner: source → Release → analyzers → Report."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from seewhy._version import __version__
from seewhy.analyzers.interface import Analyzer, AnalyzerResult, AuditContext, AuditOptions
from seewhy.budget import DEFAULT_FILE_MEMORY, DEFAULT_FILE_TIMEOUT, DEFAULT_RELEASE_TIMEOUT
from seewhy.errors import ReleaseReadError
from seewhy.release.local import display, open_release
from seewhy.release.model import FileKind, Release, ReleaseFile, ReleaseIssue
from seewhy.report.grouping import group_findings
from seewhy.report.model import (
    AnalyzerOutcome,
    CoverageStatus,
    CoverageStep,
    Evidence,
    FileCoverage,
    Finding,
    Metadata,
    ReleaseSummary,
    Report,
    Severity,
    Verdict,
)

if TYPE_CHECKING:
    from seewhy.provenance import SignatureTrust


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


def default_analyzers(signature_trust: SignatureTrust | None = None) -> list[Analyzer]:
    """The analyzers an audit runs, in order.

    ``signature_trust`` is who the user trusts a model signature to come from
    (a public key, a certificate chain or a Sigstore identity); never taken
    from the release itself.
    """
    from seewhy.analyzers.inventory import InventoryAnalyzer
    from seewhy.analyzers.license import LicenseAnalyzer
    from seewhy.analyzers.openness import OpennessAnalyzer
    from seewhy.analyzers.security.formats import FrameworkFormatsAnalyzer
    from seewhy.analyzers.security.pickle_scan import PickleAnalyzer
    from seewhy.analyzers.security.python_code import PythonCodeAnalyzer
    from seewhy.analyzers.security.remote_code import RemoteCodeAnalyzer
    from seewhy.analyzers.security.signature import SignatureAnalyzer
    from seewhy.analyzers.security.templates import TemplateAnalyzer

    return [
        InventoryAnalyzer(),
        LicenseAnalyzer(),
        OpennessAnalyzer(),
        PickleAnalyzer(),
        FrameworkFormatsAnalyzer(),
        RemoteCodeAnalyzer(),
        PythonCodeAnalyzer(),
        TemplateAnalyzer(),
        SignatureAnalyzer(signature_trust),
    ]


def audit(
    source: str | os.PathLike[str],
    *,
    hash_files: bool = False,
    progress: Progress | None = None,
    analyzers: Sequence[Analyzer] | None = None,
    signature_trust: SignatureTrust | None = None,
    raise_errors: bool = False,
    file_timeout: float | None = DEFAULT_FILE_TIMEOUT,
    file_memory: int | None = DEFAULT_FILE_MEMORY,
    release_timeout: float | None = DEFAULT_RELEASE_TIMEOUT,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Report:
    """Audit a model release (a folder or a single file) and return its Report.

    Nothing from the release is executed, imported or rendered. With
    ``hash_files`` every file is streamed through sha256 (files in parallel);
    otherwise only headers are read. An analyzer that fails is recorded as
    errored and the audit goes on, unless ``raise_errors`` is set.

    Each analyzer may spend ``file_timeout`` seconds and ``file_memory``
    bytes on one file, and all of them ``release_timeout`` seconds on the
    release (``None``: no limit); a file whose analysis runs out is
    inconclusive, with the reason (see :mod:`seewhy.budget`).
    """
    release = open_source(source)
    selected = list(analyzers) if analyzers is not None else default_analyzers(signature_trust)
    from seewhy.release.hub import HubAnalyzer, HubRelease

    if isinstance(release, HubRelease):
        selected.append(HubAnalyzer())  # last: it states every byte the others transferred
    return audit_release(
        release,
        source=str(source),
        hash_files=hash_files,
        progress=progress,
        analyzers=selected,
        raise_errors=raise_errors,
        file_timeout=file_timeout,
        file_memory=file_memory,
        release_timeout=release_timeout,
        now=now,
    )


def open_source(source: str | os.PathLike[str]) -> Release:
    """The release at ``source``: a path on disk, else a Hub id ``org/name[@revision]``.

    A path that exists always wins; a source that does not exist and reads as
    a Hub repository id (or ``hf://org/name``) is read from the Hub through
    :mod:`seewhy.release.hub`, transferring only small files and headers.
    """
    if isinstance(source, str) and not os.path.lexists(source):
        from seewhy.release.hub import open_hub_release, parse_hub_source

        if parse_hub_source(source) is not None:
            return open_hub_release(source)
    from seewhy.release.hub import with_cached_parents

    return with_cached_parents(open_release(source))  # a cache snapshot: parents from the cache


def audit_release(
    release: Release,
    *,
    source: str,
    hash_files: bool = False,
    progress: Progress | None = None,
    analyzers: Sequence[Analyzer] | None = None,
    raise_errors: bool = False,
    file_timeout: float | None = DEFAULT_FILE_TIMEOUT,
    file_memory: int | None = DEFAULT_FILE_MEMORY,
    release_timeout: float | None = DEFAULT_RELEASE_TIMEOUT,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Report:
    """Audit an already opened Release (see :func:`audit`)."""
    started = now()
    options = AuditOptions(
        hash_files=hash_files,
        file_timeout=file_timeout,
        file_memory=file_memory,
        release_timeout=release_timeout,
    )
    ctx = AuditContext(options=options)
    hash_errors: dict[str, str] = {}
    if hash_files:
        hash_errors = hash_release(release, progress)
    outcomes: list[AnalyzerOutcome] = []
    results: list[AnalyzerResult] = []
    selected = list(analyzers) if analyzers is not None else default_analyzers()
    for analyzer in selected:
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
    findings = list(group_findings(findings))  # one finding per repeated problem, with a count
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
    if {a.name for a in selected} >= LOAD_SAFETY_ANALYZERS:
        verdicts.append(load_safety_verdict(findings, coverage, outcomes, release.gaps))
    return Report(
        metadata=Metadata(
            version=__version__,
            generated_at=started.isoformat(timespec="seconds"),
            source=display(source),
            source_kind=release.report_kind,
            options={
                "hash": hash_files,
                "file_timeout_s": file_timeout,
                "file_memory_bytes": file_memory,
                "release_timeout_s": release_timeout,
            },
        ),
        release=ReleaseSummary(
            name=release.name,
            file_count=len(release.files),
            total_bytes=release.total_bytes,
            bytes_read=release.meter.bytes_read,
            bytes_hashed=release.meter.bytes_hashed,
            repo_id=release.hub.repo_id if release.hub else None,
            revision=release.hub.revision if release.hub else None,
            refs=release.hub.refs if release.hub else (),
        ),
        verdicts=tuple(verdicts),
        facts=tuple(facts),
        findings=tuple(findings),
        coverage=coverage,
        analyzers=tuple(outcomes),
    )


SECURITY_PREFIX = "security"
# A load-safety verdict is given only when every file-content scanner ran.
LOAD_SAFETY_ANALYZERS = frozenset(
    {
        "inventory",
        "security.pickle",
        "security.formats",
        "security.remote_code",
        "security.python",
        "security.templates",
    }
)
NOT_LOAD_SAFETY = frozenset({"license", "openness"})


def load_safety_verdict(
    findings: Sequence[Finding],
    coverage: Sequence[FileCoverage],
    outcomes: Sequence[AnalyzerOutcome],
    gaps: Sequence[ReleaseIssue] = (),
) -> Verdict:
    """Safe to load, unsafe, or inconclusive — failing closed.

    Unsafe when any finding at high or above bears on loading (every analyzer
    but license and openness); inconclusive when a file was not fully checked,
    an analyzer failed, part of the release could not be seen (``gaps``: a
    folder that could not be listed, files past a cap) or there is nothing to
    check (no files, or only empty ones); safe only when every file was fully
    checked.
    """
    blocking = [
        f
        for f in findings
        if f.severity.rank >= Severity.HIGH.rank and f.analyzer not in NOT_LOAD_SAFETY
    ]
    if blocking:
        worst = blocking[0]
        more = f" and {len(blocking) - 1} more" if len(blocking) > 1 else ""
        return Verdict(
            topic="load_safety",
            value="unsafe",
            reason=f"{worst.rule_id} {worst.title}: {worst.message}{more}",
            analyzer=SECURITY_PREFIX,
            evidence=tuple(e for f in blocking[:5] for e in f.evidence[:1]),
        )
    unchecked = [c for c in coverage if not c.status.conclusive]
    failed = [o for o in outcomes if o.status == "errored"]
    parts = []
    if gaps:
        first = gaps[0]
        more = f" and {len(gaps) - 1} more part(s)" if len(gaps) > 1 else ""
        where = "" if first.path == "." else f"{first.path}: "
        parts.append(f"part of the release could not be seen: {where}{first.problem.message}{more}")
    if not coverage and not gaps:
        parts.append("the release holds no files: there is nothing to check")
    elif coverage and all(c.size == 0 for c in coverage):
        parts.append(f"the release holds only empty files ({len(coverage)}): nothing to check")
    if unchecked:
        parts.append(f"{len(unchecked)} file(s) not fully checked, e.g. {unchecked[0].path}")
    if failed:
        parts.append(f"analyzer {failed[0].analyzer} failed")
    if parts:
        evidence = [Evidence(path=g.path, note=g.problem.message) for g in gaps[:5]]
        evidence += [Evidence(path=c.path, note=c.status.value) for c in unchecked[:5]]
        return Verdict(
            topic="load_safety",
            value="inconclusive",
            reason="; ".join(parts),
            analyzer=SECURITY_PREFIX,
            evidence=tuple(evidence[:5]),
        )
    return Verdict(
        topic="load_safety",
        value="safe",
        reason=(
            f"all {len(coverage)} files fully checked; nothing at high or above"
            if len(coverage) != 1
            else "the one file was fully checked; nothing at high or above"
        ),
        analyzer=SECURITY_PREFIX,
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
