"""Analyzers: pure functions of a Release that return findings, facts and coverage."""

from seewhy.analyzers.interface import Analyzer, AnalyzerResult, AuditContext

__all__ = ["Analyzer", "AnalyzerResult", "AuditContext"]
