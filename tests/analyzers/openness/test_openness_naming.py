"""The naming duty of Llama-style licenses, checked against a derivative's real names."""

from __future__ import annotations

from pathlib import Path

import pytest
from openness_builders import fact_value, line_of, rule_ids, write_release

from seewhy.analyzers.interface import Analyzer
from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.license import LicenseAnalyzer
from seewhy.analyzers.openness import OpennessAnalyzer
from seewhy.analyzers.openness.naming import begins_with, required_name
from seewhy.audit import audit
from seewhy.report.model import Report


def card(title: str, *, base: str | None = "meta-llama/Llama-3.1-8B", name: str = "") -> str:
    front = "license: other\n"
    if base:
        front += f"base_model: {base}\n"
    if name:
        front += f"model-index:\n- name: {name}\n  results: []\n"
    return f"---\n{front}---\n\n# {title}\n\nA fine-tuned model.\n"


def audited(root: Path) -> Report:
    analyzers: list[Analyzer] = [InventoryAnalyzer(), LicenseAnalyzer(), OpennessAnalyzer()]
    return audit(root, analyzers=analyzers, raise_errors=True)


def test_derivative_whose_title_breaks_the_duty(tmp_path: Path) -> None:
    root = write_release(
        tmp_path / "r", card=card("Reflection 8B"), license_file="llama__3.1-license.txt"
    )
    report = audited(root)
    finding = next(f for f in report.findings if f.rule_id == "SW-OPEN-004")
    assert '"Llama"' in finding.message and "'Reflection 8B'" in finding.message
    where = {(e.path, e.line) for e in finding.evidence}
    assert ("README.md", line_of(root / "README.md", "# Reflection")) in where
    clause_line = line_of(root / "LICENSE", "at the beginning of any such AI model name")
    assert ("LICENSE", clause_line) in where
    clause = next(e for e in finding.evidence if e.path == "LICENSE")
    assert clause.excerpt is not None and "at the beginning of" in clause.excerpt


def test_every_name_is_checked_and_a_compliant_one_passes(tmp_path: Path) -> None:
    text = card("Llama-3.1-8B-Networks", name="networks-expert-8b")
    root = write_release(tmp_path / "r", card=text, license_file="llama__3.1-license.txt")
    report = audited(root)
    finding = next(f for f in report.findings if f.rule_id == "SW-OPEN-004")
    assert "networks-expert-8b" in finding.message
    assert "Llama-3.1-8B-Networks" not in finding.message
    naming = fact_value(report, "openness.naming")
    assert isinstance(naming, dict) and set(naming) == {"model_name", "card title"}


def test_compliant_derivative_and_original_raise_nothing(tmp_path: Path) -> None:
    ok = write_release(
        tmp_path / "ok",
        card=card("Model Card for Llama-3.1-8B-Networks"),
        license_file="llama__3.1-license.txt",
    )
    assert "SW-OPEN-004" not in rule_ids(audited(ok))
    original = write_release(
        tmp_path / "orig",
        card=card("Meta-Llama-3.1-8B", base=None),
        license_file="llama__3.1-license.txt",
    )
    report = audited(original)
    assert "SW-OPEN-004" not in rule_ids(report)
    assert report.fact("openness.naming") is None


def test_llama_3_requires_llama_3(tmp_path: Path) -> None:
    root = write_release(
        tmp_path / "r",
        card=card("Llama-2-Chat-Tuned", base="meta-llama/Meta-Llama-3-8B"),
        license_file="llama__3-license.txt",
    )
    finding = next(f for f in audited(root).findings if f.rule_id == "SW-OPEN-004")
    assert '"Llama 3"' in finding.message


@pytest.mark.parametrize(
    ("quote", "required"),
    [
        ("you shall also include “Llama” at the beginning of any such AI model name", "Llama"),
        ('include "Llama 3" at the beginning of any such AI model name', "Llama 3"),
        ("the model name must begin with 'Foo'", "Foo"),
        ("display Built with Llama", None),
    ],
)
def test_required_name(quote: str, required: str | None) -> None:
    assert required_name(quote) == required


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("Llama-3-8B-ft", True),
        ("meta/llama_3_ft", True),
        ("Llama3-ft", True),
        ("Llamafied-3-ft", False),
        ("Reflection-Llama-3-70B", False),
    ],
)
def test_begins_with_llama_3(name: str, ok: bool) -> None:
    assert begins_with(name, "Llama 3") is ok
