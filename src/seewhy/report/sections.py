"""Group a report's facts into the tables a person reads.

The openness analyzer records one fact per MOF component and per Open Source
AI Index parameter (with structured values, so that exports can be built
from the report alone). The text and Markdown views show those as two
tables instead of forty rows; facts that only feed the exports are left to
the JSON and the exports. Nothing here drops data from the report itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from seewhy.errors import ReportError
from seewhy.report.model import Fact, Finding, Report, Severity

_MOF_ITEM = re.compile(r"^openness\.mof\.[a-z0-9_]+$")
_OSAI_ITEM = re.compile(r"^openness\.osai\.[a-z0-9_]+$")
# Facts whose values exist for the MOF/OSAI exports; their content is in the tables.
EXPORT_ONLY = frozenset(
    {
        "openness.mof.components",
        "openness.mof.framework",
        "openness.mof.release",
        "openness.osai.system",
    }
)


# The facts the short terminal view shows, in this order (the rest: ``--details``).
KEY_FACTS = (
    "hf_cache",
    "architecture",
    "parameter_count",
    "quantization",
    "context_length",
    "license.documents",
    "declared_license",
    "openness.mof.class",
    "openness.osai.score",
    "provenance.signature",
)


@dataclass(frozen=True)
class Row:
    """One row of a grading table."""

    name: str
    status: str
    detail: str
    where: str


@dataclass(frozen=True)
class FactSections:
    """General facts plus the MOF and OSAI grading tables."""

    general: tuple[Fact, ...]
    mof: tuple[Row, ...]
    osai: tuple[Row, ...]


def _text(value: object) -> str:
    return "" if value is None else str(value)


def split_facts(report: Report) -> FactSections:
    """Sort the report's facts into general facts and grading tables."""
    general: list[Fact] = []
    mof: list[Row] = []
    osai: list[Row] = []
    for fact in report.facts:
        value = fact.value
        if fact.key in EXPORT_ONLY:
            continue
        if isinstance(value, dict) and _MOF_ITEM.match(fact.key) and "status" in value:
            detail = " — ".join(
                p for p in (_text(value.get("license")), _text(value.get("note"))) if p
            )
            where = _text(value.get("path"))
            if value.get("line"):
                where += f":{value['line']}"
            mof.append(
                Row(_text(value.get("name")) or fact.label, _text(value["status"]), detail, where)
            )
        elif isinstance(value, dict) and _OSAI_ITEM.match(fact.key) and "class" in value:
            osai.append(
                Row(
                    _text(value.get("name")) or fact.label,
                    _text(value["class"]),
                    _text(value.get("notes")),
                    _text(value.get("link")),
                )
            )
        else:
            general.append(fact)
    return FactSections(tuple(general), tuple(mof), tuple(osai))


def openness_mapping(report: Report, key: str) -> Mapping[str, Any]:
    """A structured openness fact the exports need; ReportError names what is missing."""
    fact = report.fact(key)
    if fact is None or not isinstance(fact.value, dict):
        raise ReportError(
            f"the report has no {key} fact: audit the release with the openness analyzer"
        )
    return fact.value


def findings_by_severity(report: Report) -> tuple[Finding, ...]:
    """The report's findings, most severe first (stable within a severity)."""
    return tuple(sorted(report.findings, key=lambda f: -f.severity.rank))


def key_facts(general: tuple[Fact, ...]) -> tuple[Fact, ...]:
    """The facts of :data:`KEY_FACTS` present in ``general``, in that order.

    ``declared_license`` only stands in when no license document was identified.
    """
    by_key = {f.key: f for f in general}
    keys = [k for k in KEY_FACTS if k in by_key]
    if "license.documents" in keys and "declared_license" in keys:
        keys.remove("declared_license")
    return tuple(by_key[k] for k in keys)


def below(findings: tuple[Finding, ...], threshold: Severity) -> int:
    """How many of ``findings`` are below ``threshold``."""
    return sum(1 for f in findings if f.severity.rank < threshold.rank)
