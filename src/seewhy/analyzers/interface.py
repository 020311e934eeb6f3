"""The analyzer protocol and the helpers every analyzer shares.

An analyzer is a pure function of the release: it never prints, exits or
reads the environment. It returns an :class:`AnalyzerResult`; the runner in
:mod:`seewhy.audit` isolates failures, stamps outcomes and merges coverage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from seewhy.budget import (
    DEFAULT_FILE_MEMORY,
    DEFAULT_FILE_TIMEOUT,
    DEFAULT_RELEASE_TIMEOUT,
    Budget,
    BudgetExceeded,
)
from seewhy.formats.interface import Problem
from seewhy.formats.modelcard import ModelCard, parse_card
from seewhy.release.model import Release, ReleaseFile
from seewhy.report.humanize import clip
from seewhy.report.model import (
    CoverageStatus,
    CoverageStep,
    Evidence,
    Fact,
    FactValue,
    Finding,
    Verdict,
)
from seewhy.report.rules import Rule, RuleRegistry, registry


@dataclass(frozen=True)
class AuditOptions:
    """What the user asked for that analyzers may need to know.

    The budgets (``None``: unbounded) are what one analyzer may spend on one
    file (seconds, bytes of address space) and what all analyzers may spend
    on the files of the release (seconds); see :mod:`seewhy.budget`.
    """

    hash_files: bool = False
    file_timeout: float | None = DEFAULT_FILE_TIMEOUT
    file_memory: int | None = DEFAULT_FILE_MEMORY
    release_timeout: float | None = DEFAULT_RELEASE_TIMEOUT


@dataclass
class AuditContext:
    """Shared, read-mostly state of one audit: options, rules and a parse cache.

    Analyzers that parse the same file (the inventory and, later, the
    security scanner) share one parse through :attr:`cache`.
    """

    options: AuditOptions = field(default_factory=AuditOptions)
    rules: RuleRegistry = field(default_factory=registry)
    cache: dict[tuple[str, str], object] = field(default_factory=dict)
    budget: Budget = field(init=False, repr=False)
    """The time and memory budgets of :attr:`options`, shared by every analyzer."""

    def __post_init__(self) -> None:
        o = self.options
        self.budget = Budget(o.file_timeout, o.file_memory, o.release_timeout)


@dataclass
class AnalyzerResult:
    """What one analyzer found: findings, facts, verdicts and per-file coverage steps."""

    verdicts: list[Verdict] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    coverage: list[tuple[str, CoverageStep]] = field(default_factory=list)


class Analyzer(Protocol):
    """One role of the audit: inventory, license, openness, security, ..."""

    name: str

    def analyze(self, release: Release, ctx: AuditContext) -> AnalyzerResult:
        """Examine the release and return what was found."""
        ...


class ResultBuilder:
    """Helps an analyzer build findings and facts with its name stamped on."""

    def __init__(self, analyzer: str, rules: RuleRegistry) -> None:
        self.analyzer = analyzer
        self.rules = rules
        self.result = AnalyzerResult()
        self._skipped = 0  # files not analysed because the release budget was spent

    def finding(
        self,
        rule: Rule | str,
        message: str,
        evidence: tuple[Evidence, ...] | list[Evidence] = (),
    ) -> None:
        """Add a finding of ``rule`` (an id or a Rule) with its evidence."""
        r = self.rules.get(rule) if isinstance(rule, str) else rule
        self.result.findings.append(
            Finding(
                rule_id=r.id,
                title=r.title,
                severity=r.severity,
                confidence=r.confidence,
                analyzer=self.analyzer,
                message=message,
                evidence=tuple(evidence),
                cwe=r.cwe,
                help=r.help,
            )
        )

    def problem(self, path: str, problem: Problem, note: str | None = None) -> None:
        """Turn a parser problem into a finding through the rule registry."""
        rule = self.rules.for_problem(problem.code)
        evidence = Evidence(
            path=path,
            offset=problem.offset,
            pointer=problem.pointer,
            excerpt=_clip(problem.excerpt),
            note=note or f"problem code {problem.code}",
        )
        self.finding(rule, problem.message, (evidence,))

    def fact(
        self,
        key: str,
        label: str,
        value: FactValue,
        evidence: tuple[Evidence, ...] | list[Evidence] = (),
    ) -> None:
        """Add a fact with its evidence."""
        self.result.facts.append(
            Fact(
                key=key, label=label, value=value, analyzer=self.analyzer, evidence=tuple(evidence)
            )
        )

    def verdict(
        self,
        topic: str,
        value: str,
        reason: str,
        evidence: tuple[Evidence, ...] | list[Evidence] = (),
    ) -> None:
        """Give the report's answer on ``topic`` with its one-line reason."""
        self.result.verdicts.append(
            Verdict.model_validate(
                {
                    "topic": topic,
                    "value": value,
                    "reason": reason,
                    "analyzer": self.analyzer,
                    "evidence": tuple(evidence),
                }
            )
        )

    def over_budget(self, path: str, exc: BudgetExceeded) -> None:
        """Record that the analysis of ``path`` ran out of budget: inconclusive, with the reason.

        One finding per file; when the release budget is spent, one finding
        for the first file not analysed and a coverage step for each.
        """
        self.cover(path, CoverageStatus.INCONCLUSIVE, exc.reason)
        if exc.kind == "release" and not exc.started:
            self._skipped += 1
            if self._skipped > 1:
                return
            message = (
                f"{exc.reason}; {path} and the files after it were not analysed by "
                f"{self.analyzer} (each is inconclusive)"
            )
        else:
            message = f"{path}: {exc.reason}; the file is not fully checked"
        self.finding(BUDGET_RULE, message, (Evidence(path=path, note=exc.reason),))

    def cover(
        self, path: str, status: CoverageStatus, detail: str = "", *, deferred: bool = False
    ) -> None:
        """Record what this analyzer did to a file.

        ``deferred`` marks content this analyzer leaves to another one (a
        pickle, code, a framework format): the step keeps the file unchecked
        until some other analyzer covers it.
        """
        step = CoverageStep(analyzer=self.analyzer, status=status, detail=detail, deferred=deferred)
        self.result.coverage.append((path, step))


BUDGET_RULE = "SW-GEN-010"
"""The rule of a file whose analysis ran out of its time or memory budget."""

EXCERPT_MAX = 240


def _clip(text: str | None) -> str | None:
    return None if text is None else clip(text, EXCERPT_MAX)


MAX_CARD_BYTES = 4 * 1024 * 1024
"""Bytes of a model card read and parsed (hostile cards can be huge)."""


@dataclass(frozen=True)
class ParsedCard:
    """A model card's first ``MAX_CARD_BYTES`` and what they parse to."""

    card: ModelCard
    data: bytes


def parsed_card(
    release: Release, file: ReleaseFile, cache: dict[tuple[str, str], object]
) -> ParsedCard:
    """Read and parse a model card once per audit; every analyzer shares the result.

    Raises :class:`~seewhy.errors.ReleaseReadError` when the file cannot be read.
    """
    key = ("card", file.path)
    hit = cache.get(key)
    if isinstance(hit, ParsedCard):
        return hit
    data = release.read_head(file, MAX_CARD_BYTES)
    parsed = ParsedCard(parse_card(data, path=file.path), data)
    cache[key] = parsed
    return parsed
