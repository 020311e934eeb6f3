"""TensorFlow checks: which ops a SavedModel or frozen graph runs.

Every op of every graph and function is classified by
``seewhy/data/security/tf_ops.toml``: ops that call Python (critical), ops
that read or write files (high), checkpoint ops outside TensorFlow's own
saver functions (medium) and table initializers that read a file named at
run time (low). Asset file names that leave the assets folder are flagged
too. Text-format SavedModels (``saved_model.pbtxt``) are scanned for
``op: "..."`` lines only, so they stay inconclusive.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from functools import cache

from seewhy.analyzers.interface import ResultBuilder
from seewhy.analyzers.security.formats_common import Collector, load_data, show
from seewhy.formats.onnx import location_flaws
from seewhy.formats.savedmodel import TfGraphInfo, TfOpUse, parse_graph_def, parse_saved_model
from seewhy.release.model import Release, ReleaseFile
from seewhy.report.model import CoverageStatus, Evidence

__all__ = ["TfPolicy", "check_graph_def", "check_pbtxt", "check_saved_model", "policy"]

MAX_PBTXT_BYTES = 64 * 1024 * 1024
_PBTXT_OP = re.compile(rb'\bop\s*:\s*((?:"(?:[^"\\\n]|\\.)*"\s*|\'(?:[^\'\\\n]|\\.)*\'\s*)+)')
_PBTXT_STRING = re.compile(rb'"((?:[^"\\\n]|\\.)*)"|\'((?:[^\'\\\n]|\\.)*)\'')


@dataclass(frozen=True)
class TfPolicy:
    """The op lists of ``tf_ops.toml``."""

    python: frozenset[str]
    file_io: frozenset[str]
    checkpoint: frozenset[str]
    table_files: frozenset[str]
    saver_functions: tuple[re.Pattern[str], ...]
    saver_scopes: tuple[re.Pattern[str], ...]
    capture: dict[str, tuple[str, ...]]
    file_prefixes: tuple[str, ...]

    def in_saver(self, use: TfOpUse) -> bool:
        """Whether a checkpoint op sits where TensorFlow's own saver puts it."""
        if use.function:
            return any(p.search(use.function) for p in self.saver_functions)
        return any(p.search(use.scope) for p in self.saver_scopes)


@cache
def policy() -> TfPolicy:
    """The TensorFlow op policy, loaded once from the data file."""
    data = load_data("tf_ops.toml")
    checkpoint = data["checkpoint"]
    attributes = data["attributes"]
    return TfPolicy(
        python=frozenset(data["python"]["ops"]),
        file_io=frozenset(data["file_io"]["ops"]),
        checkpoint=frozenset(checkpoint["ops"]),
        table_files=frozenset(data["table_files"]["ops"]),
        saver_functions=tuple(re.compile(p) for p in checkpoint["saver_functions"]),
        saver_scopes=tuple(re.compile(p) for p in checkpoint["saver_scopes"]),
        capture={op: tuple(keys) for op, keys in attributes["capture"].items()},
        file_prefixes=tuple(attributes["file_prefixes"]),
    )


def _capture() -> dict[str, list[str]]:
    return {op: list(keys) for op, keys in policy().capture.items()}


def check_saved_model(release: Release, file: ReleaseFile, b: ResultBuilder) -> None:
    """Walk a binary SavedModel and check its ops and assets."""
    with release.open(file) as source:
        info = parse_saved_model(source, _capture())
    _check_info(file, b, info)


def check_graph_def(release: Release, file: ReleaseFile, b: ResultBuilder) -> None:
    """Walk a frozen GraphDef and check its ops."""
    with release.open(file) as source:
        info = parse_graph_def(source, _capture())
    _check_info(file, b, info)


def _where(use: TfOpUse) -> str:
    place = f"function {use.function}" if use.function else "graph"
    return f"{place}/{use.first_name}"


def _check_info(file: ReleaseFile, b: ResultBuilder, info: TfGraphInfo) -> None:
    for problem in info.problems:
        b.problem(file.path, problem)
    rules = policy()
    collector = Collector(b)
    saver_ops = 0
    for use in info.ops:
        pointer = show(_where(use), 200)
        evidence = Evidence(
            path=file.path,
            offset=use.first_offset,
            pointer=pointer,
            excerpt=show(
                f"op: {use.op}" + (f" ({'; '.join(use.captured)})" if use.captured else "")
            ),
            note=f"{use.count} node(s) in this place",
        )
        summary = f"{show(use.op, 60)} x{use.count} in {pointer}"
        if use.op in rules.python:
            collector.add("SW-TF-001", summary, evidence)
        elif use.op in rules.file_io:
            collector.add("SW-TF-002", summary, evidence)
        elif use.op in rules.checkpoint:
            if rules.in_saver(use):
                saver_ops += use.count
            else:
                collector.add("SW-TF-003", summary, evidence)
        elif use.op in rules.table_files:
            collector.add("SW-TF-004", summary, evidence)
        elif any(value.split("=", 1)[-1].startswith(rules.file_prefixes) for value in use.captured):
            collector.add("SW-TF-002", f"{summary} writes to a file", evidence)
    for filename, offset in info.assets:
        flaws = location_flaws(filename)
        if flaws:
            collector.add(
                "SW-TF-005",
                f"asset {show(filename)!r} ({', '.join(flaws)})",
                Evidence(
                    path=file.path,
                    offset=offset,
                    pointer="asset_file_def/filename",
                    excerpt=show(filename),
                ),
            )
    collector.emit()
    kind = "SavedModel" if info.kind == "saved_model" else "frozen GraphDef"
    tags = ", ".join(show(t, 30) for t in info.tags[:5]) or "none"
    versions = ", ".join(show(v, 20) for v in info.tensorflow_versions[:3]) or "unknown"
    b.cover(
        file.path,
        CoverageStatus.PARSED,
        f"{kind} (tags {tags}; TF {versions}): {info.nodes} nodes, {info.functions} functions, "
        f"{len(info.op_names)} op types checked ({saver_ops} saver checkpoint ops)",
    )


def _unescape(raw: bytes) -> str:
    try:
        decoded, _ = codecs.escape_decode(raw)
    except ValueError:
        decoded = raw
    return bytes(decoded).decode("utf-8", "replace")


def check_pbtxt(release: Release, file: ReleaseFile, b: ResultBuilder) -> None:
    """Scan a text-format SavedModel for ``op:`` values; always inconclusive."""
    with release.open(file) as source:
        data = source.read_at(0, min(file.size, MAX_PBTXT_BYTES))
    rules = policy()
    collector = Collector(b)
    ops: dict[str, tuple[int, int]] = {}
    for match in _PBTXT_OP.finditer(data):
        op = "".join(
            _unescape(part.group(1) if part.group(1) is not None else part.group(2))
            for part in _PBTXT_STRING.finditer(match.group(1))
        )
        count, first = ops.get(op, (0, match.start()))
        ops[op] = (count + 1, first)
    for op, (count, first) in sorted(ops.items()):
        evidence = Evidence(path=file.path, offset=first, excerpt=show(f'op: "{op}"'))
        summary = f"{show(op, 60)} x{count}"
        if op in rules.python:
            collector.add("SW-TF-001", summary, evidence)
        elif op in rules.file_io:
            collector.add("SW-TF-002", summary, evidence)
    collector.emit()
    cut = "" if file.size <= MAX_PBTXT_BYTES else f" (first {MAX_PBTXT_BYTES // 2**20} MiB)"
    b.cover(
        file.path,
        CoverageStatus.INCONCLUSIVE,
        f"text-format SavedModel{cut}: {len(ops)} op types found by pattern, not parsed",
    )
