"""The report schema (pydantic v2). Everything here is immutable.

A :class:`Report` is the one product of an audit. Formatters read it and
return text; they never filter it or read the clock. Every verdict-like
statement in it (a :class:`Finding`, a :class:`Fact`) carries
:class:`Evidence` a person can check: a release-relative path and a line,
byte offset or JSON pointer, with a short excerpt.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1"

JSONScalar = str | int | float | bool | None
FactValue = JSONScalar | list[JSONScalar] | dict[str, JSONScalar]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Severity(StrEnum):
    """How much a finding matters, most severe first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """4 for critical down to 0 for info."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    Severity.CRITICAL: 4,
    Severity.HIGH: 3,
    Severity.MEDIUM: 2,
    Severity.LOW: 1,
    Severity.INFO: 0,
}


class Confidence(StrEnum):
    """How sure the analyzer is that the finding is real."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Evidence(_Frozen):
    """Where a statement comes from, precise enough to check by hand."""

    path: str | None = Field(None, description="release-relative path, '/' separated")
    line: int | None = Field(None, ge=1, description="1-based first line")
    end_line: int | None = Field(None, ge=1, description="1-based last line")
    offset: int | None = Field(None, ge=0, description="byte offset into the file")
    pointer: str | None = Field(None, description="JSON pointer or key path inside the file")
    excerpt: str | None = Field(None, description="the quoted bytes, clause or line")
    note: str | None = None


class Finding(_Frozen):
    """One problem, with the rule that names it and the evidence for it."""

    rule_id: str
    title: str
    severity: Severity
    confidence: Confidence
    analyzer: str
    message: str
    evidence: tuple[Evidence, ...] = ()
    cwe: str | None = None
    help: str = ""
    occurrences: int = Field(
        1,
        ge=1,
        description="how many occurrences of the same problem this finding stands for; "
        "message and evidence show the first few (see seewhy.report.grouping)",
    )


class Fact(_Frozen):
    """An observation about the release, with its evidence."""

    key: str = Field(description="stable machine name, e.g. 'parameter_count'")
    label: str = Field(description="human label, e.g. 'Parameters (from weight headers)'")
    value: FactValue
    analyzer: str
    evidence: tuple[Evidence, ...] = ()


class Verdict(_Frozen):
    """One of the report's answers (openness, load safety, performance, safety behaviour),
    with its reason.

    ``value`` is one of the topic's fixed answers, for example
    ``open-source-ai | open-weights | restricted-weights | unlicensed-weights | closed |
    unknown`` for openness and ``safe | unsafe | inconclusive`` for load safety; ``reason``
    is the one line a person would quote.
    """

    topic: Literal["openness", "load_safety", "performance", "safety_behaviour"]
    value: str
    reason: str
    analyzer: str
    evidence: tuple[Evidence, ...] = ()


class CoverageStatus(StrEnum):
    """What was done to a file, from best to worst for a fail-closed reading."""

    PARSED = "parsed"  # fully parsed; every structural rule checked
    LISTED = "listed"  # inventoried only: nothing in this file needs parsing
    INCONCLUSIVE = "inconclusive"  # could not be fully checked; never "clean"
    UNSUPPORTED = "unsupported"  # a kind seewhy does not analyse yet
    ERROR = "error"  # could not be read at all

    @property
    def conclusive(self) -> bool:
        """True when the file was fully checked or needs no checking."""
        return self in (CoverageStatus.PARSED, CoverageStatus.LISTED)


class CoverageStep(_Frozen):
    """One analyzer's work on one file."""

    analyzer: str
    status: CoverageStatus
    detail: str = ""
    deferred: bool = Field(
        False,
        description="the analyzer left this file's content to another analyzer; "
        "counts only when no other analyzer covered the file",
    )


class FileCoverage(_Frozen):
    """Every file of the release and what was done to it."""

    path: str
    size: int
    kind: str
    sha256: str | None = None
    steps: tuple[CoverageStep, ...] = ()

    @property
    def status(self) -> CoverageStatus:
        """The worst status any analyzer gave the file (fail closed).

        Deferred steps ("content left to another analyzer") count only when no
        other analyzer covered the file.
        """
        order = list(CoverageStatus)
        steps = [s for s in self.steps if not s.deferred] or list(self.steps)
        if not steps:
            return CoverageStatus.LISTED
        return max((s.status for s in steps), key=order.index)


class AnalyzerOutcome(_Frozen):
    """Whether an analyzer ran to the end, was skipped, or failed."""

    analyzer: str
    status: Literal["completed", "skipped", "errored"]
    message: str = ""


class Metadata(_Frozen):
    """Provenance of the report; the only part that changes between runs."""

    tool: str = "seewhy"
    version: str
    generated_at: str = Field(description="UTC time, ISO 8601")
    source: str = Field(description="what was audited, as the user named it")
    source_kind: Literal["folder", "file", "hub"]
    options: dict[str, JSONScalar] = Field(default_factory=dict)


class ReleaseSummary(_Frozen):
    """Size and shape of the release as a whole."""

    name: str
    file_count: int
    total_bytes: int
    bytes_read: int = Field(
        description="bytes of the release the audit read, hashing included; "
        "a byte read twice counts twice"
    )
    bytes_hashed: int = Field(0, description="of bytes_read, the bytes read to hash files")
    repo_id: str | None = Field(
        None, description="Hugging Face repository id (org/name) of a release read from its cache"
    )
    revision: str | None = Field(
        None, description="the cache snapshot's revision (commit hash) that was audited"
    )
    refs: tuple[str, ...] = Field(
        (), description="cache refs (main, pr/1, ...) that point at the audited revision"
    )


class Report(_Frozen):
    """The result of one audit."""

    schema_version: str = SCHEMA_VERSION
    metadata: Metadata
    release: ReleaseSummary
    verdicts: tuple[Verdict, ...] = ()
    facts: tuple[Fact, ...] = ()
    findings: tuple[Finding, ...] = ()
    coverage: tuple[FileCoverage, ...] = ()
    analyzers: tuple[AnalyzerOutcome, ...] = ()

    def verdict(self, topic: str) -> Verdict | None:
        """The verdict on a topic, if an analyzer gave one."""
        return next((v for v in self.verdicts if v.topic == topic), None)

    def fact(self, key: str) -> Fact | None:
        """The fact with this key, if any."""
        return next((f for f in self.facts if f.key == key), None)

    def severity_counts(self) -> dict[Severity, int]:
        """Number of findings per severity, every severity present."""
        counts = dict.fromkeys(Severity, 0)
        for finding in self.findings:
            counts[finding.severity] += 1
        return counts

    def at_or_above(self, threshold: Severity) -> tuple[Finding, ...]:
        """Findings whose severity is at least ``threshold``."""
        return tuple(f for f in self.findings if f.severity.rank >= threshold.rank)

    def inconclusive_files(self) -> tuple[FileCoverage, ...]:
        """Files that could not be fully checked."""
        return tuple(c for c in self.coverage if not c.status.conclusive)

    def exit_code(self, threshold: Severity) -> int:
        """0 clean at ``threshold``, 1 findings at or above it, 3 inconclusive."""
        if self.at_or_above(threshold):
            return 1
        if self.inconclusive_files() or any(a.status == "errored" for a in self.analyzers):
            return 3
        safety = self.verdict("load_safety")
        if safety is not None and safety.value == "inconclusive":
            return 3  # e.g. a folder that could not be listed, or no files at all
        return 0
