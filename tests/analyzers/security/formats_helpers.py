"""Helpers shared by the framework-formats analyzer tests (ONNX, Keras, TF, archives)."""

from __future__ import annotations

from pathlib import Path

from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.security.formats import FrameworkFormatsAnalyzer
from seewhy.audit import audit
from seewhy.report.model import CoverageStatus, Finding, Report, Severity

ANALYZER = "security.formats"


def run(path: Path) -> Report:
    """The inventory and formats analyzers on ``path``; an analyzer crash fails the test."""
    return audit(
        path, analyzers=[InventoryAnalyzer(), FrameworkFormatsAnalyzer()], raise_errors=True
    )


def found(report: Report, rule: str) -> list[Finding]:
    """Findings of one rule."""
    return [f for f in report.findings if f.rule_id == rule]


def rule_ids(report: Report) -> set[str]:
    """Rule ids the formats analyzer reported."""
    return {f.rule_id for f in report.findings if f.analyzer == ANALYZER}


def above_info(report: Report) -> list[Finding]:
    """Findings above info, from any analyzer."""
    return [f for f in report.findings if f.severity.rank > Severity.INFO.rank]


def find_step(report: Report, path: str) -> tuple[CoverageStatus, str] | None:
    """The formats analyzer's coverage step for ``path``, if it gave one."""
    coverage = next(c for c in report.coverage if c.path == path)
    mine = [s for s in coverage.steps if s.analyzer == ANALYZER]
    return (mine[0].status, mine[0].detail) if mine else None


def step(report: Report, path: str) -> tuple[CoverageStatus, str]:
    """The formats analyzer's coverage step for ``path``, which must exist."""
    result = find_step(report, path)
    assert result is not None, f"no {ANALYZER} step for {path}"
    return result
