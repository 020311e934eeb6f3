"""Detections tightened or added while comparing seewhy with the expert entries.

Each case is a real card of ``shared/corpus/openness`` (listed in its manifest; the
expert's grade read from expected.json) or a card generated here, audited as a release
with real license identification:

* a link is Data preprocessing code only when its own line says so, not when the line
  before mentions preprocessing (OpenLLaMA: "we follow the same preprocessing steps as
  LLaMA" above the EasyLM training-framework link);
* a card section that is only a URL is no data card (Zephyr's ``**Dataset:** <url>``),
  while OLMo's short ``### Data`` section pointing to Dolma's documentation is;
* the OSAI model card is partial when the card shows how the model was built (its
  training or its architecture), closed when it only shows scores and usage;
* lineage read from the model-card template's ``**Finetuned from model:**`` label, used by
  the OSAI base-model weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openness_builders import CORPUS, fact_value, write_release

from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.license import LicenseAnalyzer
from seewhy.analyzers.openness import OpennessAnalyzer, tables
from seewhy.audit import audit
from seewhy.report.model import Report

OPENNESS = CORPUS / "openness"


def manifest_card(name: str) -> Path:
    """A card of the corpus, which its manifest must list."""
    path = OPENNESS / "cards" / "manifest.json"
    if not path.is_file():
        pytest.skip("shared openness corpus not available")
    files = {m["file"] for m in json.loads(path.read_text(encoding="utf-8"))}
    assert name in files
    return OPENNESS / "cards" / name


def expert(card: str) -> dict[str, Any]:
    pairs = json.loads((OPENNESS / "expected.json").read_text(encoding="utf-8"))["pairs"]
    pair: dict[str, Any] = next(p for p in pairs if p["card_file"] == card)
    return pair


def audited(root: Path) -> Report:
    return audit(
        root,
        analyzers=[InventoryAnalyzer(), LicenseAnalyzer(), OpennessAnalyzer()],
        raise_errors=True,
    )


def corpus_release(tmp: Path, card: str) -> Report:
    root = write_release(tmp / card.removesuffix(".md"))
    (root / "README.md").write_bytes(manifest_card(card).read_bytes())
    return audited(root)


def card_release(tmp: Path, card: str) -> Report:
    return audited(write_release(tmp / "release", card=card))


def component(report: Report, name: str) -> dict[str, Any]:
    value = fact_value(report, f"openness.mof.{tables.mot().component(name).slug}")
    assert isinstance(value, dict)
    return value


def osai(report: Report, ref: str) -> dict[str, Any]:
    value = fact_value(report, f"openness.osai.{ref}")
    assert isinstance(value, dict)
    return value


FRONT = "---\nlicense: apache-2.0\n---\n"

# ------------------------------------------------------------------ preprocessing links


def test_preprocessing_mentioned_above_a_framework_link_is_not_preprocessing_code(
    tmp_path: Path,
) -> None:
    report = corpus_release(tmp_path, "openlm-research__open_llama_3b.md")
    assert component(report, "Data preprocessing code")["mot"] == "missing"
    assert (
        expert("openlm-research__open_llama_3b.md")["mot"]["components"]
        .get("Data preprocessing code", {})
        .get("status")
        != "open"
    )
    # the same link is still the training code (its own line says "training pipeline")
    assert component(report, "Training code")["mot"] == "included"


def test_preprocessing_link_on_its_own_line_is_found(tmp_path: Path) -> None:
    above = (
        FRONT + "# M\n\nWe use the same data preprocessing as the original work.\n"
        "We train with [Trainer](https://github.com/acme/trainer), our framework.\n"
    )
    own = FRONT + "# M\n\nThe [data preprocessing code](https://github.com/acme/prep) is public.\n"
    assert component(card_release(tmp_path / "a", above), "Data preprocessing code")["mot"] == (
        "missing"
    )
    found = component(card_release(tmp_path / "b", own), "Data preprocessing code")
    assert found["mot"] == "included" and found["path"] == "https://github.com/acme/prep"


def test_reproduction_link_of_pythia_is_still_preprocessing_code(tmp_path: Path) -> None:
    card = "EleutherAI__pythia-1b.md"
    report = corpus_release(tmp_path, card)
    assert expert(card)["mot"]["components"]["Data preprocessing code"]["status"] == "open"
    assert component(report, "Data preprocessing code")["mot"] == "included"


# ------------------------------------------------------------------ URL-only sections


def test_a_section_that_is_only_a_url_is_no_data_card(tmp_path: Path) -> None:
    card = "HuggingFaceH4__zephyr-orpo-141b-A35b-v0.1.md"
    report = corpus_release(tmp_path, card)
    assert "Data card" not in expert(card)["mot"]["components"]
    assert component(report, "Data card")["mot"] == "missing"
    generated = FRONT + "# M\n\n- **Dataset:** https://huggingface.co/datasets/acme/some-data-set\n"
    assert component(card_release(tmp_path / "g", generated), "Data card")["mot"] == "missing"


def test_a_short_data_section_pointing_to_documentation_is_a_data_card(tmp_path: Path) -> None:
    card = "allenai__OLMo-7B.md"
    report = corpus_release(tmp_path, card)
    assert expert(card)["mot"]["components"]["Data card"]["status"] == "open"
    assert component(report, "Data card")["mot"] == "included"


# ------------------------------------------------------------------ OSAI model card


@pytest.mark.parametrize(
    "card",
    [
        "01-ai__Yi-1.5-34B-Chat-16K.md",  # scores only: closed
        "defog__sqlcoder-7b-2.md",  # architecture and uses: partial
        "codellama__CodeLlama-70b-Instruct-hf.md",
        "Intel__neural-chat-7b-v3-3.md",
    ],
)
def test_osai_model_card_grade_follows_the_index(tmp_path: Path, card: str) -> None:
    report = corpus_release(tmp_path, card)
    assert (
        osai(report, "modelcard")["class"] == expert(card)["osai"]["params"]["modelcard"]["class"]
    )


def test_osai_model_card_partial_needs_how_the_model_was_built(tmp_path: Path) -> None:
    table = "| Model | MMLU | GSM8K |\n|---|---|---|\n| M | 50 | 40 |\n"
    scores = FRONT + "# M\n\n## Evaluation\n\nScores on public benchmarks:\n\n" + table
    built = scores + (
        "\n## Training\n\nThe model was trained on 2T tokens of web text for 3 epochs with "
        "AdamW on 256 GPUs; the recipe follows the original paper.\n"
    )
    assert osai(card_release(tmp_path / "a", scores), "modelcard")["class"] == "closed"
    assert osai(card_release(tmp_path / "b", built), "modelcard")["class"] == "partial"


# ------------------------------------------------------------------ lineage from the template


def test_finetuned_from_model_label_names_the_base(tmp_path: Path) -> None:
    card = "defog__sqlcoder-7b-2.md"
    report = corpus_release(tmp_path, card)
    base = osai(report, "weights_basemodel")
    assert base["class"] == expert(card)["osai"]["params"]["weights_basemodel"]["class"]
    assert "CodeLlama-7B" in base["notes"] and "prose" in base["notes"]
    lic = fact_value(report, "openness.license")
    assert isinstance(lic, dict) and lic["inherited"], lic


# ------------------------------------------------------------------ weights: availability


@pytest.mark.parametrize(
    "card",
    ["bigcode__santacoder.md", "facebook__JASCO.md", "microsoft__wavecoder-ultra-6.7b.md"],
)
def test_osai_weights_grade_availability_not_terms(tmp_path: Path, card: str) -> None:
    """The index grades whether the weights are shared (gating makes them partial); their
    license is its own parameter. RAIL-, CC-BY-NC- and DeepSeek-licensed weights that are
    simply downloadable are open here and closed under licenses, as the experts grade."""
    manifest_card(card)
    report = corpus_release(tmp_path, card)
    params = expert(card)["osai"]["params"]
    weights = osai(report, "weights_endmodel")
    assert weights["class"] == params["weights_endmodel"]["class"] == "open"
    assert "graded under licenses" in weights["notes"]
    assert osai(report, "licenses")["class"] != "open"
