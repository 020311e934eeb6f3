"""Openness: is the release really open? MOF class, OSAID 1.0, OSAI index, open-washing."""

from seewhy.analyzers.openness.analyzer import LicenseProvider, OpennessAnalyzer

__all__ = ["LicenseProvider", "OpennessAnalyzer"]
