"""SARIF 2.1.0 output, for GitHub code scanning and other SARIF viewers.

One run per report. ``tool.driver.rules[]`` documents every rule the report
uses (or, on request, every rule in the registry) from the rule registry, so
the text a viewer shows is the text ``seewhy rules`` prints. Results point
into the release with release-relative URIs under the ``RELEASEROOT`` base id;
a line region where the evidence has lines, a byte region where it has an
offset, and a logical location for a JSON pointer or a GGUF key. Every file of
the release is listed in ``artifacts[]`` with its size, its sha256 when the
audit hashed it, and its coverage status; files that could not be fully checked
are also reported as tool notifications, so that no viewer mistakes them for
clean ones.

Repeated findings arrive grouped (:mod:`seewhy.report.grouping`): a group is
one result, its first location primary and the others related locations, with
the count in its message and ``properties.occurrences`` — one alert per
problem in code scanning rather than hundreds.

Like every formatter this is a pure function of the report: no filtering, no
clock reads, no I/O; the same report gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from seewhy.report.grouping import message_template
from seewhy.report.model import (
    Confidence,
    CoverageStatus,
    Evidence,
    FileCoverage,
    Finding,
    Report,
    Severity,
)
from seewhy.report.rules import Rule, registry

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
ROOT_BASE_ID = "RELEASEROOT"
FINGERPRINT_KEY = "seewhyFindingHash/v1"

_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}

# The numeric scale GitHub code scanning reads from ``security-severity``:
# over 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low.
_SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}

_PRECISION = {Confidence.HIGH: "high", Confidence.MEDIUM: "medium", Confidence.LOW: "low"}

# Analyzers whose rules are about whether the files are safe to load.
_SECURITY_ANALYZERS = ("inventory", "security")

_CWE = re.compile(r"CWE-(\d+)", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9]+")


def format_sarif(report: Report, *, all_rules: bool = False) -> str:
    """The report as a SARIF 2.1.0 log (indented JSON, keys sorted, one run).

    ``rules[]`` lists the rules the findings use, sorted by id; with
    ``all_rules`` it lists every rule of the registry instead (results still
    refer to them by index).
    """
    rules = _rules_for(report, all_rules)
    index = {rule.id: i for i, rule in enumerate(rules)}
    artifacts = sorted(report.coverage, key=lambda c: c.path)
    artifact_index = {cov.path: i for i, cov in enumerate(artifacts)}
    results = [
        _result(finding, index[finding.rule_id], artifact_index)
        for finding in sorted(report.findings, key=_result_order)
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": report.metadata.tool,
                "version": report.metadata.version,
                "rules": [_rule_descriptor(rule) for rule in rules],
            }
        },
        "originalUriBaseIds": {
            ROOT_BASE_ID: {
                "description": {
                    "text": f"The root of the audited release {report.release.name!r} "
                    f"({report.metadata.source_kind} {report.metadata.source!r})."
                }
            }
        },
        "invocations": [_invocation(report, artifact_index)],
        "artifacts": [_artifact(cov) for cov in artifacts],
        "results": results,
        "properties": _run_properties(report),
    }
    log = {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


# --------------------------------------------------------------------- rules


def _rules_for(report: Report, all_rules: bool) -> list[Rule]:
    """The rules to describe: the registry's, or built from the finding for unknown ids."""
    known = {rule.id: rule for rule in registry().rules}
    chosen: dict[str, Rule] = dict(known) if all_rules else {}
    for finding in report.findings:
        if finding.rule_id not in chosen:
            chosen[finding.rule_id] = known.get(finding.rule_id) or _rule_from(finding)
    return [chosen[rule_id] for rule_id in sorted(chosen)]


def _rule_from(finding: Finding) -> Rule:
    """A rule description for a finding whose id the registry does not know."""
    return Rule(
        id=finding.rule_id,
        title=finding.title,
        severity=finding.severity,
        confidence=finding.confidence,
        analyzer=finding.analyzer,
        help=finding.help or finding.title,
        cwe=finding.cwe,
    )


def rule_name(title: str) -> str:
    """A CamelCase name from a rule title: 'Symlink loop' → 'SymlinkLoop'."""
    return "".join(word[:1].upper() + word[1:] for word in _WORD.findall(title)) or "Rule"


def cwe_tag(cwe: str | None) -> str | None:
    """The GitHub code scanning tag for a CWE id: 'CWE-502' → 'external/cwe/cwe-502'."""
    if not cwe:
        return None
    match = _CWE.fullmatch(cwe.strip())
    return f"external/cwe/cwe-{int(match.group(1))}" if match else None


def _is_security(rule: Rule) -> bool:
    family = rule.analyzer.split(".", 1)[0]
    return family in _SECURITY_ANALYZERS or rule.cwe is not None


def _paragraphs(text: str) -> list[str]:
    """Help text as paragraphs, the hard line breaks of the data file undone."""
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def _rule_descriptor(rule: Rule) -> dict[str, Any]:
    paragraphs = _paragraphs(rule.help) or [rule.title]
    markdown = [f"**{rule.title}** ({rule.severity.value})", *paragraphs]
    tags: list[str] = []
    properties: dict[str, Any] = {"precision": _PRECISION[rule.confidence]}
    if _is_security(rule):
        tags.append("security")
        properties["security-severity"] = _SECURITY_SEVERITY[rule.severity]
    tag = cwe_tag(rule.cwe)
    if tag is not None:
        tags.append(tag)
        number = tag.rsplit("-", 1)[1]
        markdown.append(
            f"Weakness: [CWE-{number}](https://cwe.mitre.org/data/definitions/{number}.html)"
        )
    tags.append(rule.analyzer.split(".", 1)[0])
    properties["tags"] = list(dict.fromkeys(tags))
    return {
        "id": rule.id,
        "name": rule_name(rule.title),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": " ".join(paragraphs)},
        "help": {"text": "\n\n".join(paragraphs), "markdown": "\n\n".join(markdown)},
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": properties,
    }


# --------------------------------------------------------------------- results


def _result_order(f: Finding) -> tuple[int, str, str, int, int, str]:
    ev = next((e for e in f.evidence if e.path is not None), None)
    return (
        -f.severity.rank,
        f.rule_id,
        (ev.path or "") if ev else "",
        (ev.line or 0) if ev else 0,
        (ev.offset or 0) if ev else 0,
        f.message,
    )


def release_uri(path: str) -> str:
    """A release-relative path as a relative URI reference: '/' separated, percent-encoded.

    Only unreserved characters and '/' stay as they are, so a ':' in the first
    segment cannot be read as a URI scheme.
    """
    return quote(path, safe="/")


def _artifact_location(path: str, artifact_index: dict[str, int]) -> dict[str, Any]:
    location: dict[str, Any] = {"uri": release_uri(path), "uriBaseId": ROOT_BASE_ID}
    if path in artifact_index:
        location["index"] = artifact_index[path]
    return location


def _region(ev: Evidence) -> dict[str, Any] | None:
    region: dict[str, Any] = {}
    if ev.line is not None:
        region["startLine"] = ev.line
        if ev.end_line is not None and ev.end_line >= ev.line:
            region["endLine"] = ev.end_line
    if ev.offset is not None:
        region["byteOffset"] = ev.offset
    if not region:
        return None
    if ev.excerpt:
        region["snippet"] = {"text": ev.excerpt}
    return region


def _location(ev: Evidence, artifact_index: dict[str, int]) -> dict[str, Any] | None:
    """A SARIF location for one piece of evidence, or None when it names no place."""
    location: dict[str, Any] = {}
    if ev.path is not None:
        physical: dict[str, Any] = {"artifactLocation": _artifact_location(ev.path, artifact_index)}
        region = _region(ev)
        if region is not None:
            physical["region"] = region
        location["physicalLocation"] = physical
    if ev.pointer:
        logical: dict[str, Any] = {"fullyQualifiedName": ev.pointer}
        name = ev.pointer.rstrip("/").rsplit("/", 1)[-1]
        if name:
            logical["name"] = name
        location["logicalLocations"] = [logical]
    if not location:
        return None
    if ev.note:
        location["message"] = {"text": ev.note}
    return location


def _message(f: Finding) -> str:
    text = f.message.strip() or f.title
    excerpts = list(dict.fromkeys(e.excerpt for e in f.evidence if e.excerpt))
    if excerpts:
        text += "\n\nEvidence: " + " | ".join(excerpts[:3])
        if len(excerpts) > 3:
            text += f" (and {len(excerpts) - 3} more)"
    if f.occurrences > 1:
        text += (
            f"\n\n{f.occurrences} occurrences, grouped into this result; "
            f"its locations list the first {len(f.evidence)}."
        )
    return text


def finding_fingerprint(f: Finding) -> str:
    """A hash that stays the same when the same finding is reported again.

    It covers the rule id, the message and where the first piece of evidence
    points (path, line, offset, pointer); never the run or its time. A grouped
    finding (``occurrences`` > 1) hashes its message's template, so that a
    count changing between runs does not make it a new alert.
    """
    ev = f.evidence[0] if f.evidence else Evidence()
    message = message_template(f.message) if f.occurrences > 1 else f.message
    parts = [
        f.rule_id,
        ev.path or "",
        "" if ev.line is None else str(ev.line),
        "" if ev.offset is None else str(ev.offset),
        ev.pointer or "",
        " ".join(message.split()),
    ]
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


def _result(f: Finding, rule_index: int, artifact_index: dict[str, int]) -> dict[str, Any]:
    locations = [loc for ev in f.evidence if (loc := _location(ev, artifact_index)) is not None]
    primary = next((i for i, loc in enumerate(locations) if "physicalLocation" in loc), 0)
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "level": _LEVEL[f.severity],
        "message": {"text": _message(f)},
        "partialFingerprints": {FINGERPRINT_KEY: finding_fingerprint(f)},
        "properties": _without_none(
            {
                "severity": f.severity.value,
                "confidence": f.confidence.value,
                "analyzer": f.analyzer,
                "cwe": f.cwe,
                "occurrences": f.occurrences if f.occurrences > 1 else None,
            }
        ),
    }
    if locations:
        result["locations"] = [locations[primary]]
        related = [loc for i, loc in enumerate(locations) if i != primary]
        if related:
            result["relatedLocations"] = [
                {"id": n, **loc} for n, loc in enumerate(related, start=1)
            ]
    return result


# --------------------------------------------------------------------- run


def _artifact(cov: FileCoverage) -> dict[str, Any]:
    artifact: dict[str, Any] = {
        "location": {"uri": release_uri(cov.path), "uriBaseId": ROOT_BASE_ID},
        "length": cov.size,
        "roles": ["analysisTarget"],
        "properties": {
            "kind": cov.kind,
            "coverage": cov.status.value,
            "steps": [
                _without_none(
                    {
                        "analyzer": step.analyzer,
                        "status": step.status.value,
                        "detail": step.detail or None,
                    }
                )
                for step in cov.steps
            ],
        },
    }
    if cov.sha256:
        artifact["hashes"] = {"sha-256": cov.sha256}
    return artifact


def _invocation(report: Report, artifact_index: dict[str, int]) -> dict[str, Any]:
    notes: list[dict[str, Any]] = []
    for outcome in sorted(report.analyzers, key=lambda a: a.analyzer):
        if outcome.status == "completed":
            continue
        notes.append(
            {
                "descriptor": {"id": f"analyzer/{outcome.status}"},
                "level": "error" if outcome.status == "errored" else "note",
                "message": {
                    "text": f"analyzer {outcome.analyzer} {outcome.status}"
                    + (f": {outcome.message}" if outcome.message else "")
                },
                "properties": {"analyzer": outcome.analyzer, "status": outcome.status},
            }
        )
    for cov in _not_conclusive(report.coverage):
        details = "; ".join(
            f"{s.analyzer}: {s.detail or s.status.value}"
            for s in cov.steps
            if not s.status.conclusive
        )
        notes.append(
            {
                "descriptor": {"id": f"coverage/{cov.status.value}"},
                "level": "error" if cov.status is CoverageStatus.ERROR else "warning",
                "message": {
                    "text": f"{cov.path} was not fully checked ({cov.status.value}); "
                    f"it is not known to be clean. {details}".strip()
                },
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": _artifact_location(cov.path, artifact_index)
                        }
                    }
                ],
                "properties": {"coverage": cov.status.value, "kind": cov.kind},
            }
        )
    invocation: dict[str, Any] = {
        "executionSuccessful": not any(a.status == "errored" for a in report.analyzers),
        "toolExecutionNotifications": notes,
    }
    started = _utc(report.metadata.generated_at)
    if started is not None:
        invocation["startTimeUtc"] = started
    return invocation


def _not_conclusive(coverage: Iterable[FileCoverage]) -> list[FileCoverage]:
    return sorted((c for c in coverage if not c.status.conclusive), key=lambda c: c.path)


def _utc(stamp: str) -> str | None:
    """The report's own timestamp in SARIF's UTC form, or None when it is not UTC."""
    for suffix in ("+00:00", "Z"):
        if stamp.endswith(suffix):
            return stamp[: -len(suffix)] + "Z"
    return None


def _run_properties(report: Report) -> dict[str, Any]:
    counts = report.severity_counts()
    return {
        "seewhy": {
            "schemaVersion": report.schema_version,
            "source": report.metadata.source,
            "sourceKind": report.metadata.source_kind,
            "generatedAt": report.metadata.generated_at,
            "options": dict(sorted(report.metadata.options.items())),
            "release": {
                "name": report.release.name,
                "fileCount": report.release.file_count,
                "totalBytes": report.release.total_bytes,
                "bytesRead": report.release.bytes_read,
            },
            "findingCounts": {s.value: counts[s] for s in Severity},
            "verdicts": [
                {"topic": v.topic, "value": v.value, "reason": v.reason, "analyzer": v.analyzer}
                for v in report.verdicts
            ],
            "facts": [
                {"key": f.key, "label": f.label, "value": f.value, "analyzer": f.analyzer}
                for f in report.facts
            ],
            "inconclusiveFiles": [
                {"path": c.path, "status": c.status.value} for c in _not_conclusive(report.coverage)
            ],
            "analyzers": [
                _without_none(
                    {"analyzer": a.analyzer, "status": a.status, "message": a.message or None}
                )
                for a in report.analyzers
            ],
        }
    }


def _without_none(mapping: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None}
