"""The MOF class as the Model Openness Tool computes it, on hand-built component sets.

Expected classes follow the derived results of shared/notes/openness-frameworks.md
(section 1): Llama-3.1 (custom license) is Unclassified at 0 % on every class,
OLMo/Pythia-like releases are Class I, Granite-like ones Class III, and a
research paper stands in for a missing technical report.
"""

from __future__ import annotations

import pytest

from seewhy.analyzers.openness import tables
from seewhy.analyzers.openness.mot import evaluate, resolve_license

CLASS_I = "Class I - Open Science Model"
CLASS_II = "Class II - Open Tooling Model"
CLASS_III = "Class III - Open Model"
UNCLASSIFIED = "Unclassified"

# The required components of each class, spelled out (not read from the tables).
III = [
    "Model architecture",
    "Model parameters (Final)",
    "Evaluation results",
    "Model card",
    "Data card",
    "Technical report",
]
II = ["Training code", "Inference code", "Evaluation code", "Evaluation data"]
I_ = ["Datasets", "Data preprocessing code", "Model parameters (Intermediate)", "Research paper"]
OPTIONAL = ["Sample model outputs", "Supporting libraries and tools", "Model metadata"]
APACHE = {"distribution": "Apache-2.0"}


def inherit(names: list[str]) -> dict[str, str | None]:
    return dict.fromkeys(names)


def test_the_tables_hold_the_seventeen_components_and_labels() -> None:
    t = tables.mot()
    assert sorted(c.name for c in t.components) == sorted(III + II + I_ + OPTIONAL)
    assert {c.name for c in t.required(3)} == set(III)
    assert {c.name for c in t.required(2)} == set(II)
    assert {c.name for c in t.required(1)} == set(I_)
    assert {c.name for cls in (1, 2, 3) for c in t.optional(cls)} == set(OPTIONAL)
    assert {t.label(c) for c in (0, 1, 2, 3)} == {UNCLASSIFIED, CLASS_I, CLASS_II, CLASS_III}


def test_all_seventeen_under_apache_is_class_one() -> None:
    result = evaluate(inherit(III + II + I_ + OPTIONAL), APACHE)
    assert result.label == CLASS_I
    assert result.mof_class == 1
    assert result.progress == {3: 100.0, 2: 100.0, 1: 100.0}


def test_weights_code_and_card_only_is_unclassified() -> None:
    """An all-open Apache release with only weights, architecture code and a card."""
    result = evaluate(
        inherit(["Model parameters (Final)", "Model architecture", "Model card"]), APACHE
    )
    assert result.label == UNCLASSIFIED
    assert result.progress[3] == pytest.approx(50.0)
    assert result.progress[2] == 0.0
    assert result.progress[1] == 0.0
    assert result.components["Data card"].status == "missing"


def test_class_three_granite_like() -> None:
    assert evaluate(inherit(III), APACHE).label == CLASS_III


def test_research_paper_replaces_the_technical_report() -> None:
    components = [c for c in III if c != "Technical report"] + ["Research paper"]
    result = evaluate(inherit(components), APACHE)
    assert result.label == CLASS_III
    assert result.progress[3] == 100.0


def test_class_two() -> None:
    assert evaluate(inherit(III + II), APACHE).label == CLASS_II


def test_class_one_olmo_like_with_a_cc_by_paper_and_no_report() -> None:
    components = inherit([c for c in III + II + I_ if c != "Technical report"])
    components["Research paper"] = "CC-BY-4.0"
    result = evaluate(components, APACHE)
    assert result.label == CLASS_I
    assert result.progress[1] == 100.0


def test_llama_31_custom_license_is_unclassified_at_zero() -> None:
    result = evaluate(
        inherit(III + II + I_ + OPTIONAL),
        {"distribution": "Llama 3.1 Community License Agreement"},
    )
    assert result.label == UNCLASSIFIED
    assert result.progress == {3: 0.0, 2: 0.0, 1: 0.0}
    assert {c.status for c in result.components.values()} == {"invalid"}


def test_a_licenseref_is_not_open() -> None:
    result = evaluate(inherit(III), {"distribution": "LicenseRef-scancode-llama-3.1-license-2024"})
    assert result.label == UNCLASSIFIED


def test_arxiv_license_paper_does_not_stand_in() -> None:
    components = inherit([c for c in III if c != "Technical report"])
    components["Research paper"] = "arXiv.org perpetual, non-exclusive license 1.0"
    result = evaluate(components, APACHE)
    assert result.components["Research paper"].status == "invalid"
    assert result.label == UNCLASSIFIED


def test_no_license_means_unlicensed_and_unclassified() -> None:
    result = evaluate(inherit(III + II + I_), {})
    assert {c.status for c in result.components.values() if c.status != "missing"} == {"unlicensed"}
    assert result.label == UNCLASSIFIED


def test_explicitly_unlicensed_component_breaks_the_class() -> None:
    components = inherit(III)
    components["Data card"] = ""
    result = evaluate(components, APACHE)
    assert result.components["Data card"].status == "unlicensed"
    assert result.label == UNCLASSIFIED


def test_non_commercial_license_is_invalid() -> None:
    result = evaluate(inherit(III), {"distribution": "CC-BY-NC-4.0"})
    assert result.components["Model card"].status == "invalid"
    assert result.label == UNCLASSIFIED


def test_open_data_license_and_openmdw_count() -> None:
    assert evaluate(inherit(III), {"distribution": "CDLA-Permissive-2.0"}).label == CLASS_III
    assert evaluate(inherit(III), {"distribution": "OpenMDW-1.0"}).label == CLASS_III


def test_type_appropriateness_is_a_warning_only() -> None:
    result = evaluate(inherit(III), APACHE)
    weights = result.components["Model parameters (Final)"]
    assert weights.status == "included"
    assert not weights.type_appropriate  # Apache-2.0 is a code/document license
    assert result.components["Model architecture"].type_appropriate
    data = evaluate(inherit(III), {"distribution": "CDLA-Permissive-2.0"})
    assert data.components["Model parameters (Final)"].type_appropriate


def test_license_resolution_order() -> None:
    licenses = {"distribution": "MIT", "data": "CC-BY-4.0"}
    assert resolve_license("data", None, licenses) == "CC-BY-4.0"
    assert resolve_license("code", None, licenses) == "MIT"
    assert resolve_license("code", "Apache-2.0", licenses) == "Apache-2.0"
    assert resolve_license("code", "", licenses) is None
    assert resolve_license("document", None, {}) is None


def test_type_license_beats_distribution_in_the_class() -> None:
    result = evaluate(inherit(III), {"distribution": "LicenseRef-custom", "data": "CC-BY-4.0"})
    assert result.components["Model parameters (Final)"].status == "included"
    assert result.components["Model card"].status == "invalid"
    assert result.label == UNCLASSIFIED
