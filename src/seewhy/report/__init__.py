"""The report: its schema, the rule registry and one module per output format."""

from seewhy.report.model import (
    AnalyzerOutcome,
    Confidence,
    CoverageStatus,
    Evidence,
    Fact,
    FileCoverage,
    Finding,
    Metadata,
    Report,
    Severity,
    Verdict,
)

__all__ = [
    "AnalyzerOutcome",
    "Confidence",
    "CoverageStatus",
    "Evidence",
    "Fact",
    "FileCoverage",
    "Finding",
    "Metadata",
    "Report",
    "Severity",
    "Verdict",
]
