"""The Python analyzer refuses a file that would build a huge syntax tree, before building it.

A file of about 1 MiB can make :func:`ast.parse` build close to a million
nodes (hundreds of MiB); the pre-pass counts the tokens that make nodes and
refuses it first. Peak allocations are measured with tracemalloc.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from seewhy.analyzers.security.python_code import MAX_AST_NODES, SourceAnalysis, analyze_source
from seewhy.audit import audit
from seewhy.report.model import CoverageStatus

MiB = 1 << 20


def _analyse(data: bytes) -> tuple[SourceAnalysis, int]:
    tracemalloc.start()
    try:
        result = analyze_source(data, "modeling_x.py")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, peak


HOSTILE = {
    # 300,000 statements of three nodes each (Expr, Call, Name).
    "calls": b"f()\n" * 300_000,
    # 600,000 names in one expression statement list.
    "names": b"a;" * 600_000,
    # One f-string of 400,000 replacement fields.
    "f-string": b"x = f'" + b"{a}" * 400_000 + b"'\n",
    # A tuple display of 700,000 constants.
    "tuple": b"x = (" + b"0," * 700_000 + b")\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_file_that_would_build_a_huge_tree_is_refused_before_parsing(name: str) -> None:
    result = analyze_source(HOSTILE[name], "modeling_x.py")
    assert not result.parsed
    assert "refused before parsing" in result.detail
    assert [f.rule_id for f in result.findings] == ["SW-PY-001"]


def test_the_refusal_needs_no_more_memory_than_the_source() -> None:
    # ast.parse would build 900,000 nodes (~500 MiB); the pre-pass holds the
    # source and its text. (tracemalloc slows the tokenizer: one case only.)
    result, peak = _analyse(HOSTILE["calls"])
    assert not result.parsed
    assert peak < 8 * len(HOSTILE["calls"]) + 16 * MiB, f"peak {peak / MiB:.0f} MiB"


def _ordinary_code(functions: int) -> bytes:
    return "".join(
        f'''
def layer_{i}(x, weight, bias=None, *, scale: float = 1.0):
    """Apply layer {i}: a docstring of prose, which makes no nodes worth counting."""
    # a comment with words in it, also not counted
    y = x @ weight.T * scale
    if bias is not None:
        y = y + bias[{i % 7}]
    return {{"out": y, "name": "layer_{i}", "shape": tuple(y.shape)}}
'''
        for i in range(functions)
    ).encode()


def test_a_large_ordinary_file_is_still_parsed() -> None:
    data = _ordinary_code(4000)  # ~1.2 MiB, well over the byte estimate's threshold
    assert len(data) > MiB
    result = analyze_source(data, "modeling_big.py")
    assert result.parsed, result.detail


def test_audit_reports_the_refusal_as_inconclusive_not_unsafe(tmp_path: Path) -> None:
    (tmp_path / "modeling_x.py").write_bytes(HOSTILE["calls"])
    report = audit(tmp_path)
    cov = next(c for c in report.coverage if c.path == "modeling_x.py")
    steps = {s.analyzer: s for s in cov.steps}
    assert steps["security.python"].status is CoverageStatus.INCONCLUSIVE
    assert f"{MAX_AST_NODES:,}-node cap" in steps["security.python"].detail
    verdict = report.verdict("load_safety")
    assert verdict is not None and verdict.value == "inconclusive"
