"""The effective license through lineage, and "no license is not unknown".

Releases are laid out from real cards and license texts of the shared corpus
(``cards/``, ``licenses/``), audited with real license identification.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from openness_builders import corpus, fact_value, rule_ids, write_release

from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.license import LicenseAnalyzer
from seewhy.analyzers.license.kb import load_kb
from seewhy.analyzers.license.model import ReleaseLicenses
from seewhy.analyzers.openness import OpennessAnalyzer
from seewhy.analyzers.openness.lineage import (
    MAX_PARENTS,
    EffectiveLicense,
    Lineage,
    Parent,
    effective_license,
    read_lineage,
)
from seewhy.analyzers.openness.snapshot import read_card
from seewhy.audit import audit
from seewhy.report.model import Report


def _audit(root: Path) -> Report:
    report = audit(
        root,
        analyzers=[InventoryAnalyzer(), LicenseAnalyzer(), OpennessAnalyzer()],
        raise_errors=True,
    )
    assert {a.status for a in report.analyzers} == {"completed"}
    return report


def _manifest() -> dict[str, dict[str, object]]:
    entries = json.loads(corpus("cards/manifest.json").read_text(encoding="utf-8"))
    return {str(e["file"]): e for e in entries}


def _card(name: str) -> str:
    return corpus(f"cards/{name}").read_bytes().decode("utf-8")


def _with_base(card: str, base: str) -> str:
    """A real card whose front matter names ``base`` as its only base model."""
    head, sep, body = card.partition("\n---")
    head = re.sub(r"(?ms)^base_model:.*?(?=^[^\s-])", "", head + "\n")
    return head.rstrip("\n") + f"\nbase_model: {base}" + sep + body


def _verdict(report: Report) -> tuple[str, str]:
    v = report.verdict("openness")
    assert v is not None
    return v.value, v.reason


def _osaid(report: Report, key: str) -> dict[str, object]:
    value = fact_value(report, f"openness.osaid.{key}")
    assert isinstance(value, dict)
    return value


# A real apache-2.0 fine-tune card (deepcogito, on Qwen2.5-14B), rebased on restricted bases.
APACHE_FINETUNE = "deepcogito__cogito-v1-preview-qwen-14B.md"


@pytest.mark.parametrize(
    "base",
    [
        "meta-llama/Llama-3.2-1B",
        "google/gemma-2-9b",
        "Qwen/Qwen2.5-72B-Instruct",
        "stabilityai/stable-diffusion-xl-base-1.0",
    ],
)
def test_apache_finetune_on_a_restricted_base_is_restricted(tmp_path: Path, base: str) -> None:
    assert _manifest()[APACHE_FINETUNE]["declared_license"] == "apache-2.0"
    card = _with_base(_card(APACHE_FINETUNE), base)
    root = write_release(tmp_path / "ft", card=card, license_file="apache__2.0.txt")
    report = _audit(root)
    known = load_kb().base_license(base)
    assert known is not None
    entry, _ = known
    value, reason = _verdict(report)
    assert value == "restricted-weights"
    assert reason.startswith(f"declared Apache-2.0, effectively bound by the {entry.name}")
    assert f"through base_model {base}" in reason
    # the drift finding stays; OSAID parameters are not met; MOF records the base's license
    assert "SW-LIC-033" in rule_ids(report)
    params = _osaid(report, "parameters")
    assert params["status"] == "not met" and entry.name in str(params["reason"])
    release = fact_value(report, "openness.mof.release")
    assert isinstance(release, dict) and release["license_distribution"] == entry.id
    lic = fact_value(report, "openness.license")
    assert isinstance(lic, dict)
    assert lic["declared"] == "Apache-2.0" and lic["declared_state"] == "open"
    assert lic["state"] == "not-open" and lic["inherited"] == entry.id


def test_llama_32_finetune_labelled_apache_names_the_llama_license(tmp_path: Path) -> None:
    """The issue's done-means line, word for word."""
    card = _with_base(_card(APACHE_FINETUNE), "meta-llama/Llama-3.2-1B")
    root = write_release(tmp_path / "ft", card=card, license_file="apache__2.0.txt")
    value, reason = _verdict(_audit(root))
    assert value == "restricted-weights"
    assert "effectively bound by the Llama 3.2 Community License" in reason
    assert "through base_model meta-llama/Llama-3.2-1B" in reason


def test_permissive_base_keeps_the_declared_license(tmp_path: Path) -> None:
    manifest = _manifest()[APACHE_FINETUNE]
    root = write_release(tmp_path / "ft", card=_card(APACHE_FINETUNE))
    report = _audit(root)
    value, _ = _verdict(report)
    assert value == "open-weights"
    lineage = fact_value(report, "openness.lineage")
    assert isinstance(lineage, dict) and isinstance(manifest["base_model"], list)
    assert list(lineage) == manifest["base_model"]
    assert str(lineage["Qwen/Qwen2.5-14B"]).startswith("Apache-2.0 (open)")
    assert not [r for r in rule_ids(report) if r in ("SW-LIC-033", "SW-LIC-034", "SW-OPEN-005")]


def test_open_llama_is_not_llama(tmp_path: Path) -> None:
    """openlm-research/open_llama_3b_v2 is OpenLLaMA (Apache-2.0): no drift, open weights."""
    card = _with_base(_card(APACHE_FINETUNE), "openlm-research/open_llama_3b_v2")
    root = write_release(tmp_path / "ft", card=card, license_file="apache__2.0.txt")
    report = _audit(root)
    assert not [r for r in rule_ids(report) if r.startswith("SW-LIC-03")]
    value, reason = _verdict(report)
    assert value == "open-weights" and reason.startswith("weights under Apache-2.0")
    lic = fact_value(report, "openness.license")
    assert isinstance(lic, dict) and lic["inherited"] is None and lic["state"] == "open"


def test_twenty_merges_are_all_considered(tmp_path: Path) -> None:
    bases = [
        *(f"meta-llama/Llama-3.1-{n}B" for n in (8, 70, 405)),
        *(f"google/gemma-2-{n}b" for n in (2, 9, 27)),
        *(f"Qwen/Qwen2.5-{n}B" for n in ("0.5", "1.5", "7", "14", "32")),
        *(f"mistralai/Mistral-7B-v0.{n}" for n in (1, 2, 3)),
        *(f"someone/merge-part-{n}" for n in range(6)),
    ]
    assert len(bases) == 20
    card = _card(APACHE_FINETUNE)
    head, sep, body = card.partition("\n---")
    head = re.sub(r"(?ms)^base_model:.*?(?=^[^\s-])", "", head + "\n").rstrip("\n")
    listed = "".join(f"\n- {b}" for b in bases)
    card = f"{head}\nbase_model_relation: merge\nbase_model:{listed}{sep}{body}"
    root = write_release(tmp_path / "merge", card=card, license_file="apache__2.0.txt")
    report = _audit(root)
    lineage = fact_value(report, "openness.lineage")
    assert isinstance(lineage, dict) and list(lineage) == bases
    assert all("; merge; base_model" in str(v) for v in lineage.values())
    value, reason = _verdict(report)
    assert value == "restricted-weights"
    assert "Llama 3.1 Community License" in reason and "Gemma Terms of Use" in reason
    assert "not known offline" in reason  # the six unknown parts are said, not guessed


def test_a_hundred_parents_are_bounded(tmp_path: Path) -> None:
    listed = "".join(f"\n- org/part-{n}" for n in range(100))
    text = f"---\nlicense: apache-2.0\nbase_model:{listed}\n---\n# m\n"
    card = read_card("README.md", text.encode())
    lineage = read_lineage(card)
    assert len(lineage.parents) == MAX_PARENTS and lineage.omitted == 100 - MAX_PARENTS
    assert lineage.notes and str(MAX_PARENTS) in lineage.notes[0]


# ------------------------------------------------------------------ lineage forms


def test_relation_and_tag_forms() -> None:
    text = (
        "---\nlicense: apache-2.0\nbase_model: meta-llama/Llama-3.2-1B\n"
        "base_model_relation: quantized\ntags:\n- base_model:adapter:google/gemma-2-2b\n"
        "- base_model:Qwen/Qwen2.5-7B\n---\n# m\n"
    )
    lineage = read_lineage(read_card("README.md", text.encode()))
    got = [(p.name, p.relation, p.source, p.pointer) for p in lineage.parents]
    assert got == [
        ("meta-llama/Llama-3.2-1B", "quantized", "base_model", "base_model"),
        ("google/gemma-2-2b", "adapter", "base_model tag", "tags/0"),
        ("Qwen/Qwen2.5-7B", None, "base_model tag", "tags/1"),
    ]
    assert not lineage.from_text and all(p.confidence == 1.0 for p in lineage.parents)


@pytest.mark.parametrize(
    ("file", "name", "relation", "words"),
    [
        ("lizpreciatior__lzlv_70b_fp16_hf.md", "LLaMA2 70B", "merge", "merge of several"),
        ("TehVenom__Pygmalion-7b-Merged-Safetensors.md", "LLaMA-7B", "derived", "based on"),
        (
            "Irfanuruchi__Llama-3.1-8B-Computer-Networks-LLM.md",
            "LLaMA-3.1-8B",
            "finetune",
            "fine-tuned version of",
        ),
    ],
)
def test_lineage_from_the_card_text(file: str, name: str, relation: str, words: str) -> None:
    assert _manifest()[file]["base_model"] is None  # no base_model: the prose is all there is
    path = corpus(f"cards/{file}")
    card = read_card("README.md", path.read_bytes())
    title = next(s.title for s in card.sections if s.level == 1)
    lineage = read_lineage(card, names=(title,))
    assert lineage.from_text and lineage.notes
    first = lineage.parents[0]
    assert (first.name, first.relation, first.source) == (name, relation, "card text")
    assert first.confidence < 1.0 and first.quote and words in first.quote
    assert first.line is not None and name in card.lines[first.line - 1]


def test_prose_about_other_models_or_architecture_is_not_lineage() -> None:
    path = corpus("cards/deepseek-ai__DeepSeek-R1.md")
    card = read_card("README.md", path.read_bytes())
    # "DeepSeek-R1-Distill-Llama-8B is derived from Llama3.1-8B-Base": another model's lineage
    assert "Llama3.1-8B-Base" in path.read_text(encoding="utf-8")
    names = [p.name for p in read_lineage(card, names=("DeepSeek-R1",)).parents]
    assert not [n for n in names if "llama" in n.lower()]
    text = "# m\n\nOur model is based on the Llama 2 architecture, trained from scratch.\n"
    assert read_lineage(read_card("README.md", text.encode())).parents == ()


def test_text_lineage_lowers_the_verdict_and_says_so(tmp_path: Path) -> None:
    file = "lizpreciatior__lzlv_70b_fp16_hf.md"
    assert _manifest()[file]["declared_license"] == "cc-by-nc-2.0"
    root = write_release(tmp_path / "lzlv", card=_card(file))
    report = _audit(root)
    value, reason = _verdict(report)
    assert value == "restricted-weights"
    assert "also bound by the Llama 2 Community License" in reason
    assert "lower confidence" in reason
    finding = next(f for f in report.findings if f.rule_id == "SW-OPEN-005")
    assert any(e.excerpt and "LLaMA2 70B" in e.excerpt for e in finding.evidence)


# ------------------------------------------------------------------ no license, referenced


def test_no_license_anywhere_is_unlicensed_not_unknown(tmp_path: Path) -> None:
    file = "AventIQ-AI__pythia-410m-chatbot.md"
    assert _manifest()[file]["declared_license"] is None
    root = write_release(tmp_path / "bare", card=_card(file))
    report = _audit(root)
    value, reason = _verdict(report)
    assert value == "unlicensed-weights"
    assert reason.startswith("unlicensed weights: available, no rights granted")
    assert "a license published elsewhere" in reason
    params = _osaid(report, "parameters")
    assert params["status"] == "not met" and "published elsewhere" in str(params["reason"])
    assert "SW-LIC-002" in rule_ids(report)


def test_unlicensed_derivative_names_the_base_terms(tmp_path: Path) -> None:
    file = "YouriLalain__1PARAMMYL-8B-ModelStock.md"
    entry = _manifest()[file]
    assert entry["declared_license"] is None and entry["base_model"]
    root = write_release(tmp_path / "merge", card=_card(file))
    value, reason = _verdict(_audit(root))
    assert value == "unlicensed-weights"
    assert reason.count("no rights granted") == 1
    assert "the base model's terms also bind: the Llama 3.1 Community License" in reason
    assert "through base_model arcee-ai/Llama-3.1-SuperNova-Lite" in reason


def test_license_section_linking_a_missing_file_is_referenced(tmp_path: Path) -> None:
    card = (
        "# acme-7b\n\nA language model.\n\n## License Agreement\n\n"
        "Use of this model is governed by the [license agreement](LICENSE).\n"
    )
    root = write_release(tmp_path / "ref", card=card)
    report = _audit(root)
    value, reason = _verdict(report)
    assert value == "unknown"
    assert "referenced, not included" in reason and "LICENSE (README.md:7)" in reason
    assert "no license found" not in reason and "no rights granted" not in reason
    assert _osaid(report, "parameters")["status"] == "unknown"
    lic = fact_value(report, "openness.license")
    assert isinstance(lic, dict) and lic["referenced"] == "LICENSE" and lic["unlicensed"] is False


def test_real_card_pointing_at_a_missing_license_is_referenced(tmp_path: Path) -> None:
    file = "Qwen__Qwen-VL-Chat-Int4.md"
    assert _manifest()[file]["declared_license"] is None
    root = write_release(tmp_path / "qwen", card=_card(file))
    value, reason = _verdict(_audit(root))
    assert value == "unknown" and "referenced, not included" in reason


# ------------------------------------------------------------------ pasted licenses


def test_apache_card_pasting_the_llama_32_license_is_not_open(tmp_path: Path) -> None:
    text = corpus("licenses/llama__3.2-license.txt").read_text(encoding="utf-8")
    card = _card(APACHE_FINETUNE) + "\n\n## License\n\n" + text
    root = write_release(tmp_path / "pasted", card=card, license_file="apache__2.0.txt")
    report = _audit(root)
    value, reason = _verdict(report)
    assert value == "restricted-weights"
    assert "Llama 3.2 Community License" in reason and "pasted into the card body" in reason
    lic = fact_value(report, "openness.license")
    assert isinstance(lic, dict) and lic["state"] == "restricted"


# ------------------------------------------------------------------ the function itself


def test_effective_license_without_lineage_is_the_declared_one() -> None:
    eff = effective_license(ReleaseLicenses(()), Lineage())
    assert isinstance(eff, EffectiveLicense)
    assert eff.state == "none" and eff.unlicensed and not eff.inherited
    assert eff.reason.startswith("no license anywhere in the snapshot")


def test_unknown_base_is_said_not_guessed() -> None:
    parent = Parent("someone/private-base", None, "base_model", 1.0, "README.md", 3, "base_model")
    eff = effective_license(ReleaseLicenses(()), Lineage((parent,)))
    assert not eff.inherited and eff.bases[0].license_id is None
    assert "someone/private-base is not known offline" in eff.reason


# ------------------------------------------------------------------ GGUF lineage


def _gguf_file(path: Path, metadata: dict[str, object]) -> Path:
    """A real GGUF written by the gguf library: one small tensor and ``metadata``."""
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), "llama")
    for key, value in metadata.items():
        if isinstance(value, int):
            w.add_uint32(key, value)
        else:
            w.add_string(key, str(value))
    w.add_tensor("t", np.zeros(8, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


LLAMA_BASE = {
    "general.license": "apache-2.0",
    "general.base_model.count": 1,
    "general.base_model.0.name": "Llama 3.2 1B",
    "general.base_model.0.organization": "Meta Llama",
    "general.base_model.0.repo_url": "https://huggingface.co/meta-llama/Llama-3.2-1B",
}


def test_a_gguf_relabelled_apache_on_a_llama_base_is_bound_by_the_llama_license(
    tmp_path: Path,
) -> None:
    """A lone quantized file: its own metadata names the base model, and nothing else does."""
    path = _gguf_file(tmp_path / "model-Q4_K_M.gguf", LLAMA_BASE)
    report = _audit(path)
    value, reason = _verdict(report)
    assert value == "restricted-weights"
    assert "declared Apache-2.0, effectively bound by the Llama 3.2 Community License" in reason
    assert "through GGUF general.base_model meta-llama/Llama-3.2-1B" in reason
    drift = next(f for f in report.findings if f.rule_id == "SW-LIC-033")
    base = next(e for e in drift.evidence if e.excerpt == "meta-llama/Llama-3.2-1B")
    assert base.path == "model-Q4_K_M.gguf"
    assert base.pointer == "general.base_model.0.repo_url" and base.offset
    raw = path.read_bytes()
    assert raw[base.offset :].find(b"general.base_model.0.repo_url") in range(0, 16)
    params = _osaid(report, "parameters")
    assert params["status"] == "not met"


def test_gguf_base_model_keys_without_a_hub_url_and_hostile_counts(tmp_path: Path) -> None:
    # no base model keys: the declared Apache-2.0 binds
    plain = _gguf_file(tmp_path / "plain.gguf", {"general.license": "apache-2.0"})
    value, _ = _verdict(_audit(plain))
    assert value == "open-weights"
    # organization/name when the URL is not a Hub repository; a count far past the entries
    named = _gguf_file(
        tmp_path / "named.gguf",
        {
            "general.license": "apache-2.0",
            "general.base_model.count": 4_000_000_000,
            "general.base_model.0.name": "gemma-2-9b",
            "general.base_model.0.organization": "google",
            "general.base_model.0.repo_url": "https://example.com/not/a/hub",
            "general.base_model.1.repo_url": "javascript:alert(1)",
        },
    )
    from seewhy.formats.gguf import parse_gguf
    from seewhy.formats.interface import BytesSource

    info = parse_gguf(BytesSource(named.read_bytes()))
    assert info.base_models == (("google/gemma-2-9b", "general.base_model.0.name"),)
    report = _audit(named)
    value, reason = _verdict(report)
    assert value == "restricted-weights" and "GGUF general.base_model google/gemma-2-9b" in reason
    assert "SW-LIC-033" in rule_ids(report)
