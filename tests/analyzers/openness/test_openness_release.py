"""The openness analyzer end to end, on real release folders."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest
from openness_builders import (
    APACHE_CARD,
    FULL_CARD,
    FULL_FILES,
    LLAMA31_NAME,
    LLAMA_CARD,
    apache,
    fact_value,
    line_of,
    llama31,
    match,
    rule_ids,
    run,
    write_release,
)

from seewhy.analyzers.interface import Analyzer
from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.license import LicenseAnalyzer
from seewhy.analyzers.license.model import ReleaseLicenses
from seewhy.analyzers.openness import OpennessAnalyzer, tables
from seewhy.analyzers.openness.osai_index import Grade, OsaiItem, score
from seewhy.audit import audit
from seewhy.report.model import Report


def grades(report: Report) -> dict[str, object]:
    value = fact_value(report, "openness.mof.components")
    assert isinstance(value, dict)
    return value


# ------------------------------------------------------------------ verdicts


def test_apache_release_is_open_weights_without_open_washing(tmp_path: Path) -> None:
    root = write_release(
        tmp_path / "tiny-apache-1M", card=APACHE_CARD, license_file="apache__2.0.txt"
    )
    report = run(root, apache(root))
    verdict = report.verdict("openness")
    assert verdict is not None
    assert verdict.value == "open-weights"
    assert verdict.reason.startswith("weights under Apache-2.0 (OSI-approved), but no ")
    assert "training-data information" in verdict.reason
    assert not [r for r in rule_ids(report) if r.startswith("SW-OPEN")]
    assert fact_value(report, "openness.osaid") == {
        "data_information": "unknown",
        "code": "unknown",
        "parameters": "met",
        "conforms": "unknown",
    }
    assert grades(report)["Model parameters (Final)"] == "partial"  # Apache is not a data license
    assert grades(report)["Model card"] == "open"
    assert report.fact("openness.claims") is None


def test_llama_release_called_open_source_is_restricted_and_open_washing(tmp_path: Path) -> None:
    root = write_release(tmp_path / "llama", card=LLAMA_CARD, license_file="llama__3.1-license.txt")
    report = run(root, llama31(root))
    verdict = report.verdict("openness")
    assert verdict is not None
    assert verdict.value == "restricted-weights"
    assert verdict.reason == (
        f"weights under {LLAMA31_NAME}: 700M-user threshold and acceptable-use policy (OSD 5, 6)"
    )
    findings = [f for f in report.findings if f.rule_id == "SW-OPEN-001"]
    assert len(findings) == 1
    finding = findings[0]
    claim_line = line_of(root / "README.md", "open-source LLM")
    clause_line = line_of(root / "LICENSE", "700 million monthly active users")
    assert f"README.md:{claim_line}" in finding.message
    where = {(e.path, e.line) for e in finding.evidence}
    assert ("README.md", claim_line) in where
    assert ("LICENSE", clause_line) in where
    claim = next(e for e in finding.evidence if e.path == "README.md")
    assert claim.excerpt is not None and "open-source LLM" in claim.excerpt
    clause = next(e for e in finding.evidence if e.line == clause_line)
    assert clause.excerpt is not None and "700 million" in clause.excerpt
    assert finding.help
    assert fact_value(report, "openness.mof.class") == "Unclassified"
    assert fact_value(report, "openness.osaid.parameters") == {
        "status": "not met",
        "reason": f"weights present, but under {LLAMA31_NAME}: 700M-user threshold and "
        "acceptable-use policy (OSD 5, 6)",
    }
    assert fact_value(report, "openness.osai.licenses") == {
        "class": "closed",
        "score": 0.0,
        "link": "LICENSE",
        "notes": f"{LLAMA31_NAME}: 700M-user threshold and acceptable-use policy (OSD 5, 6)",
        "not_found": None,
        "group": "access",
        "name": "Licenses",
    }
    base = fact_value(report, "openness.osai.weights_basemodel")
    assert isinstance(base, dict) and base["class"] == "partial"
    assert "not found in this snapshot" in str(base["not_found"])


def test_full_release_is_class_one_and_open_source_ai(tmp_path: Path) -> None:
    root = write_release(
        tmp_path / "full-open-7B",
        card=FULL_CARD,
        license_file="apache__2.0.txt",
        weights=("model.safetensors", "checkpoint-100/model.safetensors"),
        files=FULL_FILES,
    )
    report = run(root, apache(root))
    assert fact_value(report, "openness.mof.class") == "Class I - Open Science Model"
    assert set(grades(report).values()) <= {"open", "partial"}
    verdict = report.verdict("openness")
    assert verdict is not None and verdict.value == "open-source-ai"
    osaid = fact_value(report, "openness.osaid")
    assert isinstance(osaid, dict) and osaid["conforms"] == "yes"
    training = fact_value(report, "openness.mof.training_code")
    assert isinstance(training, dict)
    assert training["path"] == "train.py" and training["mot"] == "included"
    report_ = fact_value(report, "openness.mof.technical_report")
    assert isinstance(report_, dict) and report_["path"] == "https://arxiv.org/abs/2402.00002"
    paper = fact_value(report, "openness.mof.research_paper")
    assert isinstance(paper, dict) and paper["path"] == "https://arxiv.org/abs/2401.00001"
    intermediate = fact_value(report, "openness.mof.model_parameters_intermediate")
    assert isinstance(intermediate, dict)
    assert intermediate["path"] == "checkpoint-100/model.safetensors"
    final = fact_value(report, "openness.mof.model_parameters_final")
    assert isinstance(final, dict) and final["path"] == "model.safetensors"


def test_mof_class_three_from_a_release(tmp_path: Path) -> None:
    card = FULL_CARD.replace("Paper: https://arxiv.org/abs/2401.00001\n", "")
    root = write_release(
        tmp_path / "granite-like",
        card=card,
        license_file="apache__2.0.txt",
        files={"modeling_tiny.py": FULL_FILES["modeling_tiny.py"]},
    )
    report = run(root, apache(root))
    assert fact_value(report, "openness.mof.class") == "Class III - Open Model"
    progress = fact_value(report, "openness.mof.progress")
    assert isinstance(progress, dict) and progress["Class III - Open Model"] == 100.0


def test_osai_scores_follow_the_index(tmp_path: Path) -> None:
    root = write_release(
        tmp_path / "tiny-apache-1M", card=APACHE_CARD, license_file="apache__2.0.txt"
    )
    report = run(root, apache(root))
    items = {
        key.removeprefix("openness.osai."): f.value
        for f in report.facts
        if (key := f.key).startswith("openness.osai.")
        and key not in ("openness.osai.score", "openness.osai.system")
    }
    assert list(items) == [p.ref for p in tables.osai().params]
    values = {"open": 1.0, "partial": 0.5, "closed": 0.0}
    scored = [
        values[str(v["class"])]
        for v in items.values()
        if isinstance(v, dict) and v["class"] != "unknown"
    ]
    result = fact_value(report, "openness.osai.score")
    assert isinstance(result, dict)
    assert result["total"] == pytest.approx(sum(scored) / len(scored), abs=1e-3)
    assert result["scored"] == 12 and result["unknown"] == 0
    assert items["weights_endmodel"] == {
        "class": "open",
        "score": 1.0,
        "link": "model.safetensors",
        "notes": "weights in the release under Apache-2.0",
        "not_found": None,
        "group": "availability",
        "name": "End User Model Weights",
    }
    # not shown: closed in the index's sense, with seewhy's note beside the grade
    missing = items["trainingcode"]
    assert isinstance(missing, dict) and missing["class"] == "closed" and missing["score"] == 0.0
    assert str(missing["not_found"]).startswith("not found in this snapshot")


def test_osai_score_reproduces_the_index_for_llama_31() -> None:
    """The index's own Llama 3.1 grades score 0.292 (shared/notes/openness-frameworks.md)."""
    grades_: dict[str, Grade] = {
        "datasources_basemodel": "closed",
        "datasources_endmodel": "closed",
        "weights_basemodel": "partial",
        "weights_endmodel": "closed",
        "trainingcode": "partial",
        "code": "partial",
        "hardware_architecture": "partial",
        "preprint": "open",
        "paper": "closed",
        "modelcard": "partial",
        "datasheet": "closed",
        "licenses": "closed",
    }
    items = [OsaiItem(p, grades_[p.ref], "") for p in tables.osai().params]
    result = score(items)
    assert result.total == pytest.approx(0.292, abs=1e-3)
    assert result.scored == 12 and result.unknown == 0
    unknown = [OsaiItem(p, "unknown", "") for p in tables.osai().params]
    assert score(unknown).total is None


def test_gated_weights_are_partial(tmp_path: Path) -> None:
    card = APACHE_CARD.replace(
        "license: apache-2.0\n", "license: apache-2.0\nextra_gated_prompt: Agree first.\n"
    )
    root = write_release(tmp_path / "gated", card=card, license_file="apache__2.0.txt")
    report = run(root, apache(root))
    weights = fact_value(report, "openness.osai.weights_endmodel")
    assert isinstance(weights, dict) and weights["class"] == "partial"
    assert "gated" in str(weights["notes"])
    fact = report.fact("openness.osai.weights_endmodel")
    assert fact is not None
    assert any(e.pointer == "extra_gated_prompt" and e.line == 3 for e in fact.evidence)


# ------------------------------------------------------------------ open-washing variants


def test_claim_with_open_license_but_no_osaid_is_sw_open_002(tmp_path: Path) -> None:
    card = APACHE_CARD + "\nThis is a fully open model.\n"
    root = write_release(tmp_path / "claims", card=card, license_file="apache__2.0.txt")
    report = run(root, apache(root))
    assert "SW-OPEN-002" in rule_ids(report)
    finding = next(f for f in report.findings if f.rule_id == "SW-OPEN-002")
    assert "Data Information: unknown" in finding.message
    claims = fact_value(report, "openness.claims")
    assert isinstance(claims, list) and claims[0].startswith("README.md:")


def test_claim_without_license_is_sw_open_003(tmp_path: Path) -> None:
    root = write_release(tmp_path / "nolicense", card="# Model\n\nAn open source model.\n")
    report = run(root, ReleaseLicenses(()))
    assert rule_ids(report).count("SW-OPEN-003") == 1
    verdict = report.verdict("openness")
    assert verdict is not None and verdict.value == "unlicensed-weights"
    assert "no rights granted" in verdict.reason


def test_gguf_name_claim_under_llama_license(tmp_path: Path) -> None:
    root = write_release(
        tmp_path / "gguf", weights=(), config=False, license_file="llama__3.1-license.txt"
    )
    path = root / "model.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("Open Source Llama 8B")
    w.add_tensor("t", np.zeros(8, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    report = run(root, llama31(root))
    finding = next(f for f in report.findings if f.rule_id == "SW-OPEN-001")
    claim = finding.evidence[0]
    assert claim.path == "model.gguf" and claim.pointer == "general.name"
    assert claim.offset is not None and claim.excerpt == "Open Source Llama 8B"
    arch = fact_value(report, "openness.mof.model_architecture")
    assert isinstance(arch, dict) and arch["linked"] is True


# ------------------------------------------------------------------ bad input


def test_card_without_front_matter(tmp_path: Path) -> None:
    root = write_release(
        tmp_path / "plain", card="# Model\n\nJust weights.\n", license_file="apache__2.0.txt"
    )
    report = run(root, apache(root))
    fact = report.fact("openness.mof.model_card")
    assert fact is not None and fact.evidence[0].note == "model card (no front matter)"
    verdict = report.verdict("openness")
    assert verdict is not None and verdict.value == "open-weights"


def test_broken_front_matter(tmp_path: Path) -> None:
    card = "---\nlicense: [apache\ndatasets: {\n---\n# Model\n\nOpen source, they say.\n"
    root = write_release(tmp_path / "broken", card=card, license_file="apache__2.0.txt")
    report = run(
        root,
        ReleaseLicenses((match("Apache-2.0", line=line_of(root / "LICENSE", "Apache License")),)),
    )
    assert {a.status for a in report.analyzers} == {"completed"}
    assert "SW-OPEN-002" in rule_ids(report)
    assert grades(report)["Datasets"] == "unknown"


def test_no_weights_is_unknown(tmp_path: Path) -> None:
    root = write_release(
        tmp_path / "docs-only", card=APACHE_CARD, license_file="apache__2.0.txt", weights=()
    )
    report = run(root, apache(root))
    verdict = report.verdict("openness")
    assert verdict is not None and verdict.value == "unknown"
    assert verdict.reason.startswith("no weight files in the release")
    assert "closed would need evidence" in verdict.reason
    assert fact_value(report, "openness.osaid.parameters") == {
        "status": "unknown",
        "reason": "no weight files in the release: "
        "the parameters and their terms cannot be checked",
    }
    weights = fact_value(report, "openness.mof.model_parameters_final")
    assert (
        isinstance(weights, dict) and weights["status"] == "unknown" and weights["mot"] == "missing"
    )


def test_no_card(tmp_path: Path) -> None:
    root = write_release(tmp_path / "bare", license_file="apache__2.0.txt")
    report = run(root, apache(root))
    assert grades(report)["Model card"] == "unknown"
    modelcard = fact_value(report, "openness.osai.modelcard")
    assert isinstance(modelcard, dict) and modelcard["class"] == "closed"
    assert "not found in this snapshot" in str(modelcard["not_found"])
    verdict = report.verdict("openness")
    assert verdict is not None and verdict.value == "open-weights"


def test_unidentified_license_is_unknown(tmp_path: Path) -> None:
    root = write_release(tmp_path / "odd", card=APACHE_CARD, files={"LICENSE": "Do what I say.\n"})
    report = run(root, ReleaseLicenses((match(None, line=1),)))
    verdict = report.verdict("openness")
    assert verdict is not None and verdict.value == "unknown"
    assert "LICENSE:1 was not identified" in verdict.reason


def test_every_fact_and_verdict_has_evidence(tmp_path: Path) -> None:
    root = write_release(tmp_path / "llama", card=LLAMA_CARD, license_file="llama__3.1-license.txt")
    report = run(root, llama31(root))
    for f in report.facts:
        if f.analyzer == "openness":
            assert f.evidence, f.key
    verdict = report.verdict("openness")
    assert verdict is not None and verdict.evidence


# ------------------------------------------------------------------ real license identification


def _with_license_analyzer() -> list[Analyzer]:
    """Inventory, the license analyzer, and openness with real license identification."""
    return [InventoryAnalyzer(), LicenseAnalyzer(), OpennessAnalyzer()]


def test_real_identification_llama(tmp_path: Path) -> None:
    root = write_release(tmp_path / "llama", card=LLAMA_CARD, license_file="llama__3.1-license.txt")
    report = audit(root, analyzers=_with_license_analyzer(), raise_errors=True)
    verdict = report.verdict("openness")
    assert verdict is not None and verdict.value == "restricted-weights"
    assert "700M-user threshold" in verdict.reason
    assert "SW-OPEN-001" in rule_ids(report)


def test_real_identification_apache(tmp_path: Path) -> None:
    root = write_release(
        tmp_path / "tiny-apache-1M", card=APACHE_CARD, license_file="apache__2.0.txt"
    )
    report = audit(root, analyzers=_with_license_analyzer(), raise_errors=True)
    verdict = report.verdict("openness")
    assert verdict is not None and verdict.value in ("open-weights", "open-source-ai")
    assert not [r for r in rule_ids(report) if r.startswith("SW-OPEN")]


MENTION_ONLY_CARD = """---
license: llama3.1
base_model: meta-llama/Llama-3.1-8B
---

# Llama-3.1-8B-Example

Llama-3.1-8B-Example outperforms many of the available open source and closed chat models.
It was tuned on open-source datasets; write to team_opensource@example.com.
"""


def test_mentions_alone_never_raise_open_washing(tmp_path: Path) -> None:
    root = write_release(
        tmp_path / "mentions", card=MENTION_ONLY_CARD, license_file="llama__3.1-license.txt"
    )
    report = run(root, llama31(root))
    assert not [r for r in rule_ids(report) if r.startswith("SW-OPEN-00")]
    mentions = fact_value(report, "openness.mentions")
    assert isinstance(mentions, list) and len(mentions) == 2
    assert report.fact("openness.claims") is None


def test_open_washing_quotes_the_self_claim_first(tmp_path: Path) -> None:
    card = MENTION_ONLY_CARD + "\nWe open-source Llama-3.1-8B-Example for everyone.\n"
    root = write_release(tmp_path / "self", card=card, license_file="llama__3.1-license.txt")
    report = run(root, llama31(root))
    finding = next(f for f in report.findings if f.rule_id == "SW-OPEN-001")
    claim_line = line_of(root / "README.md", "We open-source")
    assert finding.message.startswith(f"README.md:{claim_line} calls the release open source")
    first = finding.evidence[0]
    assert (first.path, first.line) == ("README.md", claim_line)
    mention_line = line_of(root / "README.md", "outperforms many")
    assert ("README.md", mention_line) not in {(e.path, e.line) for e in finding.evidence}
