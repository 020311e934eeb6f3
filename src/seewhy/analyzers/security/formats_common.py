"""Helpers shared by the framework-formats checks (ONNX, Keras, TensorFlow, archives).

* :func:`load_data` reads one TOML file of ``seewhy/data/security/``;
* :class:`Collector` gathers the evidence of one file per rule and emits one
  finding per rule, so that a model with fifty Lambda layers gets one
  critical finding with its evidence, not fifty;
* :func:`show` turns attacker-controlled text into something safe to put in
  a report (no lone surrogates, no control characters, bounded length);
* :func:`check_hard_links` reports weight files with more than one hard link
  (run on every release, so it lives here, away from the format parsers).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from seewhy.analyzers.interface import ResultBuilder
from seewhy.release.model import Release
from seewhy.report.model import Evidence

MAX_EVIDENCE = 20
MAX_SUMMARIES = 5
SHOW_MAX = 160


@cache
def load_data(name: str) -> dict[str, Any]:
    """The parsed TOML file ``seewhy/data/security/<name>`` (read once)."""
    text = (resources.files("seewhy.data") / "security" / name).read_text("utf-8")
    return tomllib.loads(text)


def show(text: str, limit: int = SHOW_MAX) -> str:
    """``text`` made safe for a report: printable, valid UTF-8, at most ``limit`` characters."""
    clean = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    clean = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in clean[: limit + 1])
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


@dataclass
class _Entry:
    summaries: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    count: int = 0


class Collector:
    """Gathers findings of one file by rule; :meth:`emit` writes one finding per rule."""

    def __init__(self, builder: ResultBuilder) -> None:
        self._builder = builder
        self._entries: dict[str, _Entry] = {}

    def add(self, rule: str, summary: str, evidence: Evidence) -> None:
        """Record one occurrence of ``rule``: a short summary and its evidence."""
        entry = self._entries.setdefault(rule, _Entry())
        entry.count += 1
        if len(entry.summaries) < MAX_SUMMARIES:
            entry.summaries.append(summary)
        if len(entry.evidence) < MAX_EVIDENCE:
            entry.evidence.append(evidence)

    def rules(self) -> frozenset[str]:
        """The rules recorded so far."""
        return frozenset(self._entries)

    def emit(self) -> None:
        """Write one finding per recorded rule, in the order rules were first seen."""
        for rule, entry in self._entries.items():
            message = "; ".join(entry.summaries)
            if entry.count > 1:
                message = f"{entry.count} occurrences: {message}"
            if entry.count > len(entry.summaries):
                message += f"; and {entry.count - len(entry.summaries)} more"
            if entry.count > len(entry.evidence):
                message += f" (evidence lists the first {len(entry.evidence)})"
            self._builder.finding(rule, message, entry.evidence)
        self._entries.clear()


def check_hard_links(release: Release, b: ResultBuilder) -> None:
    """Report weight files that have more than one hard link."""
    collector = Collector(b)
    for file in release.files:
        if not file.kind.is_weights:
            continue
        try:
            links = file.abs_path.stat().st_nlink
        except OSError:
            continue
        if links > 1:
            collector.add(
                "SW-ARC-009",
                f"{show(file.path)} has {links} hard links",
                Evidence(path=file.path, note=f"st_nlink = {links}"),
            )
    collector.emit()
