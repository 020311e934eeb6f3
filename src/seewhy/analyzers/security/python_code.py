"""Python code in a release: what it would do if imported, read from its syntax tree.

Remote code (``auto_map``, ``custom_generate/``) is imported by transformers
with the user's rights when ``trust_remote_code=True``. This analyzer parses
every Python file of the release with :func:`ast.parse` (never imports,
compiles or runs it) and reports:

* imports of modules with process, network, native-code, code-loading or
  deserialisation powers;
* calls of ``exec``/``eval``/``compile``, ``os.system``, ``subprocess``,
  sockets and HTTP clients, ``ctypes``, pickle loaders, computed imports and
  computed ``getattr`` on such modules, file deletion and writes; aliases
  (``import subprocess as sp``, ``s = os.system``) are resolved;
* payloads: long base64/hex constants and decoders applied to constants;
* what runs at import time (module level, class bodies, decorators, default
  arguments, and local functions that module-level code calls), which with
  ``trust_remote_code`` means as soon as the model is loaded;
* URLs in string constants, with their host.

The lists of modules and callables are data
(``seewhy/data/security/python_danger.toml``). Files over the size cap, or
that do not parse, are inconclusive, never clean.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from seewhy.analyzers.interface import AnalyzerResult, AuditContext, ResultBuilder
from seewhy.budget import BudgetExceeded
from seewhy.errors import ReleaseReadError
from seewhy.release.model import FileKind, Release, ReleaseFile
from seewhy.report.model import CoverageStatus, Evidence

__all__ = [
    "MAX_AST_NODES",
    "MAX_SOURCE_BYTES",
    "PythonCodeAnalyzer",
    "SourceAnalysis",
    "SourceFinding",
    "analyze_source",
]

MAX_SOURCE_BYTES = 2 * 1024 * 1024
"""Largest Python file parsed; larger ones are inconclusive."""

MAX_AST_NODES = 500_000
"""Largest syntax tree analysed; larger ones are inconclusive (time budget)."""

MAX_EVIDENCE = 20
"""Most evidence items one finding carries; further places are counted."""

MAX_FINDINGS_PER_FILE = 200
"""Most findings one file yields; the rest are counted in the last one."""

EXCERPT_MAX = 200

# ----------------------------------------------------------------- results


@dataclass(frozen=True)
class SourceFinding:
    """One finding of :func:`analyze_source`, before it is stamped with a rule's text."""

    rule_id: str
    message: str
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class SourceAnalysis:
    """What :func:`analyze_source` concluded about one file.

    ``parsed`` is False when the source could not be parsed (then
    ``findings`` holds the SW-PY-001 finding and ``detail`` says why).
    """

    parsed: bool
    detail: str
    findings: tuple[SourceFinding, ...] = ()


# ----------------------------------------------------------------- entry points


def analyze_source(data: bytes, path: str = "<source>") -> SourceAnalysis:
    """Analyse the bytes of one Python file (never imported or run).

    See :func:`seewhy.analyzers.security.python_code_ast.analyze_source`: the
    syntax-tree machinery is imported by the first Python file analysed.
    """
    from seewhy.analyzers.security.python_code_ast import analyze_source as analyze

    return analyze(data, path)


def _is_python(file: ReleaseFile) -> bool:
    return file.kind is FileKind.PYTHON or PurePosixPath(file.path).suffix.lower() == ".py"


class PythonCodeAnalyzer:
    """Parses every Python file of the release and reports what its code would do."""

    name = "security.python"

    def analyze(self, release: Release, ctx: AuditContext) -> AnalyzerResult:
        """See :class:`~seewhy.analyzers.interface.Analyzer`."""
        b = ResultBuilder(self.name, ctx.rules)
        for file in release.files:
            if not _is_python(file) or file.kind is FileKind.UNREADABLE:
                continue
            if file.size > MAX_SOURCE_BYTES:
                b.finding(
                    "SW-PY-002",
                    f"{file.path} is {file.size:,} bytes, above the {MAX_SOURCE_BYTES:,}-byte "
                    "cap for Python analysis",
                    [Evidence(path=file.path, note="not parsed")],
                )
                b.cover(
                    file.path,
                    CoverageStatus.INCONCLUSIVE,
                    f"larger than the {MAX_SOURCE_BYTES:,}-byte cap; code not analysed",
                )
                continue
            try:
                data = release.read_head(file, MAX_SOURCE_BYTES)
            except ReleaseReadError as exc:
                b.cover(file.path, CoverageStatus.ERROR, f"read failed: {exc.reason}")
                continue
            try:
                with ctx.budget.bound(file.path):
                    result = analyze_source(data, file.path)
            except BudgetExceeded as exc:
                b.over_budget(file.path, exc)
                continue
            for finding in _ordered(result.findings):
                b.finding(finding.rule_id, finding.message, finding.evidence)
            status = CoverageStatus.PARSED if result.parsed else CoverageStatus.INCONCLUSIVE
            b.cover(file.path, status, result.detail)
        return b.result


def _ordered(findings: Iterable[SourceFinding]) -> list[SourceFinding]:
    return sorted(findings, key=lambda f: (f.evidence[0].line or 0) if f.evidence else 0)
