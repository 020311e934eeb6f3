"""SARIF 2.1.0 output, validated against the official OASIS schema (vendored, offline)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jsonschema
import numpy as np
import pytest
from safetensors.numpy import save_file

from seewhy.audit import audit
from seewhy.report.model import (
    AnalyzerOutcome,
    Confidence,
    CoverageStatus,
    CoverageStep,
    Evidence,
    Fact,
    FileCoverage,
    Finding,
    Metadata,
    ReleaseSummary,
    Report,
    Severity,
    Verdict,
)
from seewhy.report.rules import registry
from seewhy.report.sarif import (
    FINGERPRINT_KEY,
    ROOT_BASE_ID,
    SARIF_SCHEMA_URI,
    cwe_tag,
    finding_fingerprint,
    format_sarif,
    release_uri,
    rule_name,
)

SCHEMA_PATH = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
FIXED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)

# RFC 3986: a URI reference uses only these characters (plus %XX escapes).
_URI_CHARS = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")


# --------------------------------------------------------------------- schema


def _check_uri_reference(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI_CHARS.match(value))


def _check_uri(value: object) -> bool:
    return not isinstance(value, str) or (
        _check_uri_reference(value) and bool(urlsplit(value).scheme)
    )


def _check_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return "T" in value


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    """A draft-04 validator of the official schema that also checks uri and date-time formats."""
    raw = SCHEMA_PATH.read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SCHEMA_SHA256, "the vendored schema changed"
    schema = json.loads(raw)
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    checker = jsonschema.FormatChecker()
    checker.checks("uri")(_check_uri)
    checker.checks("uri-reference")(_check_uri_reference)
    checker.checks("date-time")(_check_date_time)
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=checker)


def _valid(validator: jsonschema.protocols.Validator, text: str) -> dict[str, Any]:
    log = json.loads(text)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])
    return dict(log)


def test_format_checkers_reject_bad_values(validator: jsonschema.protocols.Validator) -> None:
    """The hand-written format checks are not vacuous."""
    log = json.loads(format_sarif(_report()))
    log["runs"][0]["artifacts"][0]["location"]["uri"] = "a b.txt"
    assert any(e.validator == "format" for e in validator.iter_errors(log))
    log = json.loads(format_sarif(_report()))
    log["runs"][0]["invocations"][0]["startTimeUtc"] = "yesterday"
    assert any(e.validator == "format" for e in validator.iter_errors(log))


# --------------------------------------------------------------------- real audits


def _real_release(root: Path) -> Path:
    root.mkdir()
    save_file({"embed.weight": np.zeros((8, 4), np.float32)}, str(root / "model.safetensors"))
    # Header length 64 but only a few bytes follow: the parser refuses it.
    (root / "broken.safetensors").write_bytes((64).to_bytes(8, "little") + b'{"a":')
    (root / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 4}))
    (root / "README.md").write_text("---\nlicense: mit\n---\n# tiny\n")
    sub = root / "sub dir"
    sub.mkdir()
    save_file({"w": np.ones((2, 2), np.float16)}, str(sub / "extra #1.safetensors"))
    return root


def _audit(path: Path) -> Report:
    return audit(path, hash_files=True, now=lambda: FIXED)


def test_real_audit_is_valid_sarif(
    tmp_path: Path, validator: jsonschema.protocols.Validator
) -> None:
    report = _audit(_real_release(tmp_path / "rel"))
    assert report.findings, "the broken file must give a finding"
    log = _valid(validator, format_sarif(report))
    assert log["$schema"] == SARIF_SCHEMA_URI
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "seewhy"
    assert driver["version"] == report.metadata.version
    # rules[]: exactly the rules used, sorted by id, each result pointing at its own.
    used = sorted({f.rule_id for f in report.findings})
    assert [r["id"] for r in driver["rules"]] == used
    for result in run["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
    broken = next(
        r
        for r in run["results"]
        if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "broken.safetensors"
    )
    assert broken["level"] == "error"
    physical = broken["locations"][0]["physicalLocation"]
    assert physical["artifactLocation"]["uriBaseId"] == ROOT_BASE_ID
    assert physical["region"] == {"byteOffset": 0}
    assert FINGERPRINT_KEY in broken["partialFingerprints"]
    assert ROOT_BASE_ID in run["originalUriBaseIds"]


def test_artifacts_list_every_file_with_hash_and_coverage(
    tmp_path: Path, validator: jsonschema.protocols.Validator
) -> None:
    root = _real_release(tmp_path / "rel")
    report = _audit(root)
    run = _valid(validator, format_sarif(report))["runs"][0]
    artifacts = run["artifacts"]
    uris = [a["location"]["uri"] for a in artifacts]
    assert uris == sorted(release_uri(c.path) for c in report.coverage)
    assert "sub%20dir/extra%20%231.safetensors" in uris
    for artifact in artifacts:
        path = unquote(artifact["location"]["uri"])
        data = (root / path).read_bytes()
        assert artifact["length"] == len(data)
        assert artifact["hashes"]["sha-256"] == hashlib.sha256(data).hexdigest()
        assert artifact["properties"]["coverage"] in {s.value for s in CoverageStatus}
    by_uri = {a["location"]["uri"]: a for a in artifacts}
    assert by_uri["broken.safetensors"]["properties"]["coverage"] == "inconclusive"
    assert by_uri["model.safetensors"]["properties"]["coverage"] == "parsed"


def test_inconclusive_files_are_notifications(
    tmp_path: Path, validator: jsonschema.protocols.Validator
) -> None:
    report = _audit(_real_release(tmp_path / "rel"))
    run = _valid(validator, format_sarif(report))["runs"][0]
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is True
    assert invocation["startTimeUtc"] == "2025-01-02T03:04:05Z"
    notes = invocation["toolExecutionNotifications"]
    assert [n["descriptor"]["id"] for n in notes] == ["coverage/inconclusive"]
    where = notes[0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert where["uri"] == "broken.safetensors"
    assert run["artifacts"][where["index"]]["location"]["uri"] == "broken.safetensors"
    assert "not known to be clean" in notes[0]["message"]["text"]
    assert run["properties"]["seewhy"]["inconclusiveFiles"] == [
        {"path": "broken.safetensors", "status": "inconclusive"}
    ]


def test_clean_release_has_no_results(
    tmp_path: Path, validator: jsonschema.protocols.Validator
) -> None:
    root = tmp_path / "clean"
    root.mkdir()
    save_file({"w": np.zeros((4, 4), np.float32)}, str(root / "model.safetensors"))
    (root / "README.md").write_text("---\nlicense: mit\n---\n# A clean release\n")
    run = _valid(validator, format_sarif(_audit(root)))["runs"][0]
    assert run["results"] == []
    assert run["tool"]["driver"]["rules"] == []
    assert run["invocations"][0]["toolExecutionNotifications"] == []


def test_same_release_audited_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    root = _real_release(tmp_path / "rel")
    first, second = format_sarif(_audit(root)), format_sarif(_audit(root))
    assert first == second


def test_audit_without_hashing_has_no_hashes(
    tmp_path: Path, validator: jsonschema.protocols.Validator
) -> None:
    report = audit(_real_release(tmp_path / "rel"), now=lambda: FIXED)
    run = _valid(validator, format_sarif(report))["runs"][0]
    assert all("hashes" not in a for a in run["artifacts"])


def test_single_file_release(tmp_path: Path, validator: jsonschema.protocols.Validator) -> None:
    path = tmp_path / "only.safetensors"
    path.write_bytes(b"\x00" * 3)
    run = _valid(validator, format_sarif(_audit(path)))["runs"][0]
    assert [a["location"]["uri"] for a in run["artifacts"]] == ["only.safetensors"]


# --------------------------------------------------------------------- hand-built reports


def _finding(
    rule_id: str = "SW-GEN-002",
    *evidence: Evidence,
    severity: Severity = Severity.HIGH,
    message: str = "something is wrong",
    cwe: str | None = "CWE-20",
    title: str = "Parser failed on this file",
) -> Finding:
    return Finding(
        rule_id=rule_id,
        title=title,
        severity=severity,
        confidence=Confidence.HIGH,
        analyzer="inventory",
        message=message,
        evidence=evidence,
        cwe=cwe,
        help="Why it matters.\nWhat to do about it.\n\nA second paragraph.",
    )


def _report(
    findings: tuple[Finding, ...] = (),
    coverage: tuple[FileCoverage, ...] | None = None,
    analyzers: tuple[AnalyzerOutcome, ...] = (
        AnalyzerOutcome(analyzer="inventory", status="completed"),
    ),
    generated_at: str = "2025-01-02T03:04:05+00:00",
) -> Report:
    if coverage is None:
        coverage = (
            FileCoverage(path="config.json", size=10, kind="config", sha256="ab" * 32),
            FileCoverage(
                path="w.bin",
                size=99,
                kind="pickle",
                steps=(
                    CoverageStep(
                        analyzer="inventory",
                        status=CoverageStatus.INCONCLUSIVE,
                        detail="pickle present, not analysed",
                    ),
                ),
            ),
        )
    return Report(
        metadata=Metadata(
            version="9.9.9",
            generated_at=generated_at,
            source="/models/x",
            source_kind="folder",
            options={"hash": False},
        ),
        release=ReleaseSummary(name="x", file_count=2, total_bytes=109, bytes_read=50),
        verdicts=(
            Verdict(
                topic="load_safety", value="inconclusive", reason="a pickle", analyzer="inventory"
            ),
        ),
        facts=(
            Fact(key="parameter_count", label="Parameters", value=16, analyzer="inventory"),
            Fact(key="dtypes", label="Dtypes", value={"F32": 16}, analyzer="inventory"),
        ),
        findings=findings,
        coverage=coverage,
        analyzers=analyzers,
    )


def _result(text: str, n: int = 0) -> dict[str, Any]:
    return dict(json.loads(text)["runs"][0]["results"][n])


def test_line_region_with_snippet(validator: jsonschema.protocols.Validator) -> None:
    ev = Evidence(
        path="README.md", line=3, end_line=5, excerpt="license: other", note="front matter"
    )
    text = format_sarif(_report((_finding("SW-GEN-002", ev),)))
    _valid(validator, text)
    location = _result(text)["locations"][0]
    assert location["physicalLocation"]["region"] == {
        "startLine": 3,
        "endLine": 5,
        "snippet": {"text": "license: other"},
    }
    assert location["message"] == {"text": "front matter"}
    assert "artifactLocation" in location["physicalLocation"]
    assert "index" not in location["physicalLocation"]["artifactLocation"]  # not in coverage


def test_byte_offset_region(validator: jsonschema.protocols.Validator) -> None:
    ev = Evidence(path="w.bin", offset=1234, excerpt="GLOBAL os system")
    text = format_sarif(_report((_finding("SW-GEN-002", ev),)))
    run = _valid(validator, text)["runs"][0]
    physical = run["results"][0]["locations"][0]["physicalLocation"]
    assert physical["region"] == {"byteOffset": 1234, "snippet": {"text": "GLOBAL os system"}}
    index = physical["artifactLocation"]["index"]
    assert run["artifacts"][index]["location"]["uri"] == "w.bin"
    assert "GLOBAL os system" in run["results"][0]["message"]["text"]


def test_json_pointer_and_gguf_key_are_logical_locations(
    validator: jsonschema.protocols.Validator,
) -> None:
    pointer = Evidence(path="config.json", pointer="/auto_map/AutoModel", note="remote code")
    key = Evidence(path="m.gguf", pointer="tokenizer.chat_template", offset=40)
    text = format_sarif(
        _report((_finding("SW-GEN-002", pointer), _finding("SW-GEN-002", key, message="other")))
    )
    _valid(validator, text)
    first = _result(text, 0)["locations"][0]
    assert first["logicalLocations"] == [
        {"fullyQualifiedName": "/auto_map/AutoModel", "name": "AutoModel"}
    ]
    assert "region" not in first["physicalLocation"]
    second = _result(text, 1)["locations"][0]
    assert second["logicalLocations"] == [
        {"fullyQualifiedName": "tokenizer.chat_template", "name": "tokenizer.chat_template"}
    ]
    assert second["physicalLocation"]["region"] == {"byteOffset": 40}


def test_pointer_without_path_and_no_evidence(validator: jsonschema.protocols.Validator) -> None:
    only_pointer = _finding("SW-GEN-002", Evidence(pointer="/license"), message="pointer only")
    nothing = _finding("SW-GEN-002", message="nothing")
    empty = _finding("SW-GEN-002", Evidence(note="release-wide"), message="note only")
    text = format_sarif(_report((only_pointer, nothing, empty)))
    results = _valid(validator, text)["runs"][0]["results"]
    by_message = {r["message"]["text"]: r for r in results}
    assert by_message["pointer only"]["locations"] == [
        {"logicalLocations": [{"fullyQualifiedName": "/license", "name": "license"}]}
    ]
    assert "locations" not in by_message["nothing"]
    assert "locations" not in by_message["note only"]


def test_several_evidence_become_related_locations(
    validator: jsonschema.protocols.Validator,
) -> None:
    evidence = (
        Evidence(note="names no place: left out of the locations"),
        Evidence(pointer="/x", note="logical only"),
        Evidence(path="model.sig", note="the signature"),
        Evidence(path="a.py", note="not covered"),
        Evidence(path="b.py", line=1, note="not covered"),
    )
    text = format_sarif(_report((_finding("SW-GEN-002", *evidence),)))
    _valid(validator, text)
    result = _result(text)
    (primary,) = result["locations"]
    assert primary["physicalLocation"]["artifactLocation"]["uri"] == "model.sig"
    related = result["relatedLocations"]
    assert [r["id"] for r in related] == [1, 2, 3]
    assert related[0]["logicalLocations"] == [{"fullyQualifiedName": "/x", "name": "x"}]
    uris = [r["physicalLocation"]["artifactLocation"]["uri"] for r in related[1:]]
    assert uris == ["a.py", "b.py"]
    assert related[2]["physicalLocation"]["region"] == {"startLine": 1}


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("model.safetensors", "model.safetensors"),
        ("sub dir/a#b?.json", "sub%20dir/a%23b%3F.json"),
        ("a:b/c.txt", "a%3Ab/c.txt"),
        ("100%.bin", "100%25.bin"),
        ("modèle/权重.gguf", "mod%C3%A8le/%E6%9D%83%E9%87%8D.gguf"),
        ("back\\slash", "back%5Cslash"),
    ],
)
def test_release_uri_is_a_relative_reference(
    path: str, uri: str, validator: jsonschema.protocols.Validator
) -> None:
    assert release_uri(path) == uri
    assert unquote(uri) == path
    assert urlsplit(uri).scheme == ""
    assert urlsplit(uri).path == uri.split("?")[0].split("#")[0]
    cov = (FileCoverage(path=path, size=1, kind="unknown"),)
    text = format_sarif(_report((_finding("SW-GEN-002", Evidence(path=path)),), coverage=cov))
    run = _valid(validator, text)["runs"][0]
    assert run["artifacts"][0]["location"]["uri"] == uri
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": uri,
        "uriBaseId": ROOT_BASE_ID,
        "index": 0,
    }


def test_rule_with_cwe_gets_the_tag_and_severity(validator: jsonschema.protocols.Validator) -> None:
    text = format_sarif(_report((_finding("SW-GEN-002", Evidence(path="w.bin")),)))
    rule = _valid(validator, text)["runs"][0]["tool"]["driver"]["rules"][0]
    reg = registry().get("SW-GEN-002")
    assert reg.cwe == "CWE-20"
    assert rule["id"] == "SW-GEN-002"
    assert rule["name"] == "ParserFailedOnThisFile"
    assert rule["shortDescription"] == {"text": reg.title}
    assert rule["properties"]["tags"] == ["security", "external/cwe/cwe-20", "inventory"]
    assert rule["properties"]["security-severity"] == "8.0"
    assert rule["properties"]["precision"] == "high"
    assert rule["defaultConfiguration"] == {"level": "error"}
    assert "\n" not in rule["fullDescription"]["text"]
    assert "cwe.mitre.org/data/definitions/20.html" in rule["help"]["markdown"]
    assert rule["help"]["text"].startswith(" ".join(reg.help.split("\n\n")[0].split()))


def test_rule_without_cwe_has_no_cwe_tag(validator: jsonschema.protocols.Validator) -> None:
    no_cwe = next(r for r in registry().rules if r.cwe is None)
    finding = _finding(no_cwe.id, Evidence(path="w.bin"), severity=no_cwe.severity, cwe=None)
    rule = _valid(validator, format_sarif(_report((finding,))))["runs"][0]["tool"]["driver"][
        "rules"
    ][0]
    assert not any(t.startswith("external/cwe") for t in rule["properties"]["tags"])


@pytest.mark.parametrize(
    ("severity", "level", "score"),
    [
        (Severity.CRITICAL, "error", "9.5"),
        (Severity.HIGH, "error", "8.0"),
        (Severity.MEDIUM, "warning", "5.5"),
        (Severity.LOW, "note", "3.0"),
        (Severity.INFO, "note", "0.0"),
    ],
)
def test_levels_and_security_severity(
    severity: Severity, level: str, score: str, validator: jsonschema.protocols.Validator
) -> None:
    finding = _finding(
        "SW-TEST-900", Evidence(path="w.bin"), severity=severity, title="A test rule, (v2)!"
    )
    run = _valid(validator, format_sarif(_report((finding,))))["runs"][0]
    rule = run["tool"]["driver"]["rules"][0]
    assert rule["id"] == "SW-TEST-900"  # unknown to the registry: built from the finding
    assert rule["name"] == "ATestRuleV2"
    assert rule["defaultConfiguration"]["level"] == level
    assert rule["properties"]["security-severity"] == score
    assert run["results"][0]["level"] == level
    assert run["results"][0]["properties"]["severity"] == severity.value


def test_all_rules_lists_the_registry(validator: jsonschema.protocols.Validator) -> None:
    finding = _finding("SW-GEN-002", Evidence(path="w.bin"))
    run = _valid(validator, format_sarif(_report((finding,)), all_rules=True))["runs"][0]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert ids == sorted(r.id for r in registry().rules)
    assert ids[run["results"][0]["ruleIndex"]] == "SW-GEN-002"


def test_every_registry_rule_gives_a_valid_descriptor(
    validator: jsonschema.protocols.Validator,
) -> None:
    findings = tuple(
        _finding(r.id, Evidence(path="w.bin"), severity=r.severity, cwe=r.cwe, title=r.title)
        for r in registry().rules
    )
    run = _valid(validator, format_sarif(_report(findings)))["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert len(rules) == len(registry().rules)
    for descriptor, rule in zip(rules, registry().rules, strict=True):
        assert descriptor["id"] == rule.id
        assert re.fullmatch(r"[A-Za-z0-9]+", descriptor["name"]), descriptor["name"]
        if rule.cwe:
            assert cwe_tag(rule.cwe) in descriptor["properties"]["tags"]


def test_errored_and_skipped_analyzers(validator: jsonschema.protocols.Validator) -> None:
    outcomes = (
        AnalyzerOutcome(analyzer="inventory", status="completed"),
        AnalyzerOutcome(analyzer="security.pickle", status="errored", message="KeyError: 'x'"),
        AnalyzerOutcome(analyzer="performance", status="skipped", message="no runs"),
    )
    run = _valid(validator, format_sarif(_report(analyzers=outcomes)))["runs"][0]
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False
    notes = invocation["toolExecutionNotifications"]
    kinds = [(n["descriptor"]["id"], n["level"]) for n in notes]
    assert kinds == [
        ("analyzer/skipped", "note"),
        ("analyzer/errored", "error"),
        ("coverage/inconclusive", "warning"),
    ]
    assert "KeyError" in notes[1]["message"]["text"]


def test_non_utc_timestamp_is_left_out(validator: jsonschema.protocols.Validator) -> None:
    text = format_sarif(_report(generated_at="2025-01-02T05:04:05+02:00"))
    run = _valid(validator, text)["runs"][0]
    assert "startTimeUtc" not in run["invocations"][0]
    assert run["properties"]["seewhy"]["generatedAt"] == "2025-01-02T05:04:05+02:00"


def test_run_properties_carry_verdicts_and_facts(validator: jsonschema.protocols.Validator) -> None:
    props = _valid(validator, format_sarif(_report()))["runs"][0]["properties"]["seewhy"]
    assert props["verdicts"] == [
        {
            "topic": "load_safety",
            "value": "inconclusive",
            "reason": "a pickle",
            "analyzer": "inventory",
        }
    ]
    assert props["facts"][1]["value"] == {"F32": 16}
    assert props["release"] == {"name": "x", "fileCount": 2, "totalBytes": 109, "bytesRead": 50}
    assert props["findingCounts"] == {s.value: 0 for s in Severity}


# --------------------------------------------------------------------- determinism


def test_same_report_same_bytes() -> None:
    findings = (
        _finding("SW-GEN-002", Evidence(path="b", offset=3)),
        _finding("SW-GEN-001", Evidence(path="a", line=1), severity=Severity.MEDIUM, cwe=None),
    )
    report = _report(findings)
    copy = Report.model_validate_json(report.model_dump_json())
    assert format_sarif(report) == format_sarif(copy)
    assert format_sarif(report).endswith("}\n")


def test_result_order_does_not_depend_on_finding_order() -> None:
    a = _finding("SW-GEN-002", Evidence(path="b", offset=3))
    b = _finding("SW-GEN-001", Evidence(path="a", line=1), severity=Severity.MEDIUM, cwe=None)
    c = _finding("SW-GEN-002", Evidence(path="a", offset=9), message="x")
    assert format_sarif(_report((a, b, c))) == format_sarif(_report((c, b, a)))


def test_fingerprints_are_stable_and_distinct() -> None:
    base = _finding("SW-GEN-002", Evidence(path="w.bin", offset=10))
    same = _finding("SW-GEN-002", Evidence(path="w.bin", offset=10, note="another note"))
    moved = _finding("SW-GEN-002", Evidence(path="w.bin", offset=11))
    other_file = _finding("SW-GEN-002", Evidence(path="x.bin", offset=10))
    other_rule = _finding("SW-GEN-001", Evidence(path="w.bin", offset=10))
    other_text = _finding("SW-GEN-002", Evidence(path="w.bin", offset=10), message="else")
    assert finding_fingerprint(base) == finding_fingerprint(same)
    prints = {finding_fingerprint(f) for f in (base, moved, other_file, other_rule, other_text)}
    assert len(prints) == 5
    fingerprint = _result(format_sarif(_report((base,))))["partialFingerprints"][FINGERPRINT_KEY]
    assert fingerprint == finding_fingerprint(base)


def test_formatter_reads_no_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output depends on the report alone, whatever the time says."""
    import datetime as dt
    import time

    report = _report((_finding("SW-GEN-002", Evidence(path="w.bin")),))
    before = format_sarif(report)

    def boom(*_args: object) -> float:
        raise AssertionError("the formatter read the clock")

    class NoClock(dt.datetime):
        @classmethod
        def now(cls, tz: dt.tzinfo | None = None) -> NoClock:
            raise AssertionError("the formatter read the clock")

    monkeypatch.setattr(time, "time", boom)
    monkeypatch.setattr(dt, "datetime", NoClock)
    assert format_sarif(report) == before


def test_helpers() -> None:
    assert rule_name("safetensors header cannot be read") == "SafetensorsHeaderCannotBeRead"
    assert rule_name("GGUF key/value too long") == "GGUFKeyValueTooLong"
    assert rule_name("!!!") == "Rule"
    assert cwe_tag("CWE-502") == "external/cwe/cwe-502"
    assert cwe_tag("cwe-0020") == "external/cwe/cwe-20"
    assert cwe_tag("not a cwe") is None
    assert cwe_tag(None) is None
