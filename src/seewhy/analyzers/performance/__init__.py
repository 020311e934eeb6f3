"""The performance analyzer: claimed results checked against measured runs.

Added to an audit only when the user gives evidence (``seewhy audit
--evidence RUN…``); the default analyzers, and the load-safety verdict, do
not change.
"""

from __future__ import annotations

from collections.abc import Sequence

from seewhy.analyzers.interface import Analyzer
from seewhy.analyzers.performance.analyzer import PerformanceAnalyzer
from seewhy.analyzers.performance.evidence import (
    EvidenceError,
    RunEvidence,
    export_runs,
    load_evidence,
    read_export,
)

__all__ = [
    "EvidenceError",
    "PerformanceAnalyzer",
    "RunEvidence",
    "export_runs",
    "load_evidence",
    "read_export",
    "with_evidence",
]


def with_evidence(
    analyzers: Sequence[Analyzer], evidence: Sequence[RunEvidence], model_name: str | None = None
) -> list[Analyzer]:
    """``analyzers`` plus the performance analyzer when there is evidence."""
    out = list(analyzers)
    if evidence:
        out.append(PerformanceAnalyzer(evidence, model_name))
    return out
