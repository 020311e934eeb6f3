"""MOT and OSAI-index YAML exports of a finished report."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from openness_builders import (
    APACHE_CARD,
    FULL_CARD,
    FULL_FILES,
    LLAMA31_NAME,
    LLAMA_CARD,
    apache,
    fact_value,
    llama31,
    run,
    write_release,
)

from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.license.model import ReleaseLicenses
from seewhy.analyzers.openness import OpennessAnalyzer, tables
from seewhy.analyzers.openness.mot import evaluate
from seewhy.audit import audit
from seewhy.errors import ReportError
from seewhy.report.model import Report
from seewhy.report.mof import format_mof
from seewhy.report.osai import format_osai

SCHEMA = json.loads((Path(__file__).parent / "mof-schema.json").read_text(encoding="utf-8"))


def validate_mof(text: str) -> dict[str, Any]:
    entry = yaml.safe_load(text)
    jsonschema.validate(
        entry, SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    assert isinstance(entry, dict)
    return entry


def reclassify(entry: dict[str, Any]) -> str:
    """The class MOT computes from the entry itself."""
    release = entry["release"]
    present = {c["name"]: c.get("license") for c in release["components"]}
    licenses = {k: v["name"] for k, v in release["license"].items() if v.get("name")}
    return evaluate(present, licenses).label


@pytest.fixture
def full_report(tmp_path: Path) -> Report:
    root = write_release(
        tmp_path / "full-open-7B",
        card=FULL_CARD,
        license_file="apache__2.0.txt",
        weights=("model.safetensors", "checkpoint-100/model.safetensors"),
        files=FULL_FILES,
    )
    return run(root, apache(root))


def test_mof_entry_of_a_full_release(full_report: Report) -> None:
    text = format_mof(full_report)
    assert text.startswith("# Model Openness Tool entry drafted by seewhy")
    entry = validate_mof(text)
    release = entry["release"]
    assert entry["framework"] == {
        "name": "Model Openness Framework",
        "version": tables.mot().framework_version,
        "date": tables.mot().framework_date,
    }
    assert release["name"] == "full-open-7B"
    assert release["version"] == "7B"
    assert release["type"] == "language"
    assert release["architecture"] == "transformer decoder"
    assert release["date"] == full_report.metadata.generated_at[:10]
    assert release["license"]["distribution"] == {"name": "Apache-2.0", "path": "LICENSE"}
    assert len(release["components"]) == 17
    by_name = {c["name"]: c for c in release["components"]}
    assert by_name["Training code"]["component_path"] == "train.py"
    assert by_name["Datasets"]["component_path"] == (
        "https://huggingface.co/datasets/example/pretraining-mix"
    )
    assert by_name["Model card"]["description"] == tables.mot().component("Model card").description
    assert reclassify(entry) == fact_value(full_report, "openness.mof.class")


def test_mof_entry_of_a_llama_release(tmp_path: Path) -> None:
    root = write_release(tmp_path / "llama", card=LLAMA_CARD, license_file="llama__3.1-license.txt")
    report = run(root, llama31(root))
    entry = validate_mof(format_mof(report))
    release = entry["release"]
    assert (
        release["license"]["distribution"]["name"] == "LicenseRef-scancode-llama-3.1-license-2024"
    )
    assert release["origin"] == "meta-llama/Llama-3.1-8B"
    assert reclassify(entry) == "Unclassified"
    assert "Class as MOT computes it from this entry: Unclassified" in format_mof(report)


def test_mof_entry_without_license_or_card(tmp_path: Path) -> None:
    root = write_release(tmp_path / "bare")
    report = run(root, ReleaseLicenses(()))
    entry = validate_mof(format_mof(report))
    assert entry["release"]["license"]["distribution"] == {"name": "", "path": ""}
    assert reclassify(entry) == "Unclassified"


def test_osai_entry(tmp_path: Path) -> None:
    root = write_release(tmp_path / "llama", card=LLAMA_CARD, license_file="llama__3.1-license.txt")
    report = run(root, llama31(root))
    text = format_osai(report)
    assert text.startswith("# Open Source AI Index entry drafted by seewhy")
    entry = yaml.safe_load(text)
    refs = [p.ref for p in tables.osai().params]
    assert list(entry) == ["system", "org", *refs]
    assert entry["system"]["endmodellicense"] == LLAMA31_NAME
    assert entry["system"]["basemodelname"] == "meta-llama/Llama-3.1-8B"
    assert entry["licenses"]["class"] == "closed"
    for ref in refs:
        block = entry[ref]
        assert set(block) == {"class", "link", "notes"}
        assert block["class"] in ("open", "partial", "closed", "")
        if block["class"] == "":
            assert block["notes"].startswith("unknown: ")
    score = fact_value(report, "openness.osai.score")
    assert isinstance(score, dict)
    assert f"over {score['scored']} parameters; {score['unknown']} unknown" in text


def test_exports_are_deterministic(tmp_path: Path) -> None:
    root = write_release(
        tmp_path / "tiny-apache-1M", card=APACHE_CARD, license_file="apache__2.0.txt"
    )
    when = datetime(2026, 1, 2, tzinfo=UTC)
    licenses = apache(root)

    def once() -> Report:
        return audit(
            root,
            analyzers=[InventoryAnalyzer(), OpennessAnalyzer(lambda r, c: licenses)],
            now=lambda: when,
        )

    a, b = once(), once()
    assert format_mof(a) == format_mof(b)
    assert format_osai(a) == format_osai(b)
    assert "date: '2026-01-02'" in format_mof(a)


def test_exports_need_openness_facts(tmp_path: Path) -> None:
    root = write_release(tmp_path / "x", card=APACHE_CARD)
    report = audit(root, analyzers=[InventoryAnalyzer()])
    with pytest.raises(ReportError, match="openness"):
        format_mof(report)
    with pytest.raises(ReportError, match="openness"):
        format_osai(report)
