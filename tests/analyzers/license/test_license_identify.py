"""identify_text on variants of real texts, hostile input, and the knowledge base's integrity."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seewhy.analyzers.license import TAGS, identify_bytes, identify_text, identify_texts
from seewhy.analyzers.license.kb import load_kb
from seewhy.analyzers.license.normalize import make_doc
from seewhy.report.rules import registry


def _corpus() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        for candidate in (parent / "shared" / "corpus", parent.parent / "shared" / "corpus"):
            if (candidate / "licenses").is_dir():
                return candidate / "licenses"
    return None


LICENSES = _corpus()
needs_corpus = pytest.mark.skipif(LICENSES is None, reason="../shared/corpus is not present")

# The license ids the Hugging Face Hub accepts (hub-docs repositories-licenses.md).
_HUB_IDS_TEXT = """
apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m
bigscience-bloom-rail-1.0 bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause
bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0
cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0
cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0
cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0
etalab-2.0 eupl-1.1 eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc
h-research intel-research lppl-1.3c ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl
openmdw-1.0 openmdw-1.1 openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl
lgpl-lr deepfloyd-if-license fair-noncommercial-research-license llama2 llama3 llama3.1
llama3.2 llama3.3 llama4 grok2-community gemma
"""
HUB_IDS = _HUB_IDS_TEXT.split()

# license_name values seen on model cards with `license: other`.
_CARD_LICENSE_NAMES_TEXT = """
qwen qwen-research tongyi-qianwen tongyi-qianwen-research deepseek deepseek-license mrl
nvidia-open-model-license stabilityai-ai-community falcon-llm-license
health-ai-developer-foundations gemma-terms-of-use
"""
CARD_LICENSE_NAMES = _CARD_LICENSE_NAMES_TEXT.split()


def _text(name: str) -> str:
    assert LICENSES is not None
    return (LICENSES / name).read_text("utf-8")


# ------------------------------------------------------------ knowledge base


def test_every_hub_id_and_card_license_name_resolves() -> None:
    kb = load_kb()
    missing = [v for v in HUB_IDS + CARD_LICENSE_NAMES if kb.lookup(v) is None]
    assert not missing


def test_hub_ai_ids_resolve_to_their_family() -> None:
    kb = load_kb()
    for hub_id, family, version in [
        ("llama3", "llama", "3"), ("llama3.1", "llama", "3.1"), ("llama3.2", "llama", "3.2"),
        ("llama3.3", "llama", "3.3"), ("llama4", "llama", "4"), ("llama2", "llama", "2"),
        ("gemma", "gemma", None), ("qwen-research", "qwen", "2024-09-19"),
    ]:  # fmt: skip
        entry = kb.lookup(hub_id)
        assert entry is not None and (entry.family, entry.version) == (family, version), hub_id
    assert kb.lookup("apache-2.0").osi_approved is True  # type: ignore[union-attr]
    assert kb.lookup("cc-by-nc-4.0").osi_approved is False  # type: ignore[union-attr]


def test_knowledge_base_is_consistent() -> None:
    kb = load_kb()
    ids = [e.id for e in kb.entries]
    assert len(ids) == len(set(ids))
    for entry in kb.entries:
        assert entry.kind in ("license", "use-policy", "prohibited-use-policy")
        assert entry.curated and entry.name and entry.family
        if entry.policy:
            policy = kb.get(entry.policy)
            assert policy is not None and policy.kind != "license", entry.id
        if not entry.id.startswith("LicenseRef-"):
            assert entry.id.lower() in kb.spdx, entry.id  # SPDX ids are real SPDX ids
        if entry.id.startswith("LicenseRef-") and not entry.id.startswith("LicenseRef-hf-"):
            assert entry.osi_approved is not True, entry.id  # no AI license is OSI-approved
    for rule in kb.base_rules:
        assert kb.get(rule.license) is not None, rule.license
    assert {c.tag for c in kb.clauses} == set(TAGS)
    reg = registry()
    for spec in kb.clauses:
        assert spec.rule_id is not None and reg.get(spec.rule_id).analyzer == "license"
        assert spec.osd_conflict is None or spec.osd_conflict.startswith("OSD ")
    assert kb.get("MIT") is not None and kb.get("0BSD") is not None  # curated, then SPDX
    assert kb.by_url("https://ai.google.dev/gemma/terms").family == "gemma"  # type: ignore[union-attr]


def test_lineage_rules() -> None:
    kb = load_kb()
    for model, family in [
        ("meta-llama/Meta-Llama-3.1-70B-Instruct", "llama"), ("google/gemma-3-27b-pt", "gemma"),
        ("Qwen/Qwen2.5-14B", "apache"), ("Qwen/Qwen2.5-3B-Instruct", "qwen"),
        ("mistralai/Mistral-7B-v0.1", "apache"), ("deepseek-ai/DeepSeek-R1", "mit"),
        ("bigscience/bloom", "bloom"), ("some/unknown-model", None),
    ]:  # fmt: skip
        found = kb.base_license(model)
        assert (found[0].family if found else None) == family, model
    llama31 = kb.base_license("meta-llama/Llama-3.1-8B")
    llama3 = kb.base_license("meta-llama/Meta-Llama-3-8B")
    assert llama31 and llama3 and llama31[0].version == "3.1" and llama3[0].version == "3"


# -------------------------------------------------------------- variants


@needs_corpus
def test_rewrapped_markdown_copy_is_still_identified() -> None:
    body = _text("llama__3.2-license.txt")
    wrapped = "\n".join(textwrap.fill(p, 61) for p in body.split("\n\n"))
    marked = "# " + wrapped.replace("Built with Llama", "**Built with Llama**")
    for variant in (wrapped, marked, wrapped.replace("\n", "\r\n")):
        match = identify_text(variant, "LICENSE.md")
        assert (match.family, match.version, match.kind) == ("llama", "3.2", "license")


@needs_corpus
def test_html_terms_page_is_read_as_text() -> None:
    paragraphs = _text("gemma__tou-2025-03-24.txt").split("\n\n")
    page = (
        "<!DOCTYPE html><html><head><title>Gemma Terms of Use</title>"
        "<script>var s = 'LLAMA 3.1 COMMUNITY LICENSE AGREEMENT';</script></head><body>"
        "<nav>Home Models Llama 3.1 Community License</nav><main><h1>Gemma Terms of Use</h1>"
        + "".join(f"<p>{p.replace('&', '&amp;')}</p>\n" for p in paragraphs[1:])
        + "</main></body></html>"
    )
    match = identify_text(page, "gemma_terms.html")
    assert (match.family, match.version) == ("gemma", "2025-03-24")
    assert {"use_policy_by_reference", "passdown_restrictions", "remote_restriction"} <= {
        t.tag for t in match.tags
    }


@needs_corpus
def test_license_and_policy_in_one_file_are_two_documents() -> None:
    matches = identify_texts(_text("llama__3-license.txt"), "LICENSE")
    assert [(m.kind, m.version) for m in matches] == [("license", "3"), ("use-policy", "3")]
    assert matches[1].location.line is not None and matches[1].location.line > 30
    assert "prohibited_uses" in {t.tag for t in matches[1].tags}
    assert "prohibited_uses" not in {t.tag for t in matches[0].tags}


@needs_corpus
def test_dateless_or_newer_gemma_terms_keep_the_family() -> None:
    text = _text("gemma__tou-2024-04-01.txt")
    undated = identify_text(text.replace("Last modified: April 1, 2024", ""), "x")
    assert (undated.license_id, undated.version) == ("LicenseRef-gemma-tou", None)
    newer = identify_text(text.replace("April 1, 2024", "June 3, 2026"), "x")
    assert (newer.family, newer.version) == ("gemma", "2026-06-03")


@needs_corpus
def test_unknown_text_reports_its_nearest_known_texts() -> None:
    text = re.sub(r"\bLlama\b", "Zeta", _text("llama__3.1-license.txt"))
    text = text.replace("LLAMA", "ZETA").replace("Meta", "Acme")
    match = identify_text(text, "LICENSE")
    assert match.license_id is None and match.confidence == 0.0
    assert len(match.nearest) == 3
    kb = load_kb()
    nearest_family = kb.get(match.nearest[0][0])
    assert nearest_family is not None and nearest_family.family == "llama"
    assert 0.3 < match.nearest[0][1] <= 1.0
    assert "user_threshold" in {t.tag for t in match.tags}  # clauses are tagged anyway


@needs_corpus
def test_mit_with_extra_terms_is_not_mit() -> None:
    extra = (
        "\n\nAdditional terms: you may not use the Software for military purposes, and products "
        "with more than 50 million monthly active users must display Acme on their interface.\n"
    )
    match = identify_text("Modified MIT License\n\n" + _text("mit__mit.txt") + extra, "LICENSE")
    # The MIT text plus terms: a modified MIT, never the MIT License itself.
    assert match.license_id == "LicenseRef-MIT-modified" and match.osi_approved is False
    assert match.modification is not None and match.modification.base_id == "MIT"
    assert match.nearest and match.nearest[0][0] == "MIT"
    assert {"military_ban", "user_threshold"} <= {t.tag for t in match.tags}


def test_short_texts_that_only_name_a_license() -> None:
    assert identify_text("Apache 2.0", "LICENSE").license_id == "Apache-2.0"
    url = identify_text("See https://www.llama.com/llama3_1/license/ for the terms.", "LICENSE")
    assert url.version == "3.1" and "not here" in (url.note or "")
    assert identify_text("Hello, this is not a license.", "LICENSE").license_id is None


def test_empty_and_binary_input() -> None:
    assert identify_text("", "LICENSE").license_id is None
    binary = identify_bytes(b"\x00\xff\x00\x10" * 100, "LICENSE")
    assert binary[0].license_id is None and "binary" in (binary[0].note or "")
    assert identify_bytes(b"   \n", "LICENSE")[0].note == "empty file"
    utf16 = identify_bytes("MIT License\n".encode("utf-16"), "LICENSE")
    assert utf16[0].license_id == "MIT"


def test_tags_quote_the_sentence_with_lines() -> None:
    text = (
        "ACME MODEL LICENSE\n\n1. Grant. You may use the model.\n\n"
        "2. Restrictions. You may use the Model solely for non-commercial research\n"
        "purposes. You will not use the Model or any output or results of the Model to\n"
        "improve any other large language model.\n"
    )
    match = identify_text(text, "LICENSE")
    tags = {t.tag: t for t in match.tags}
    assert {"non_commercial", "research_only", "no_output_training"} <= set(tags)
    nc = tags["no_output_training"]
    assert nc.location.line == 6 and nc.location.end_line == 7
    assert nc.quote.startswith("You will not use the Model")
    assert nc.osd_conflict is not None and nc.osd_conflict.startswith("OSD 6")


# ------------------------------------------------------------------ fuzz


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=3000))
def test_random_text_never_crashes(text: str) -> None:
    match = identify_text(text, "LICENSE")
    assert match.kind in ("license", "use-policy", "prohibited-use-policy")
    assert 0.0 <= match.confidence <= 1.0


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from(["LICENSE", "terms.html", "USE_POLICY.md"]))
def test_random_bytes_never_crash(data: bytes, name: str) -> None:
    assert identify_bytes(data, name)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "<p>",
                "</p>",
                "<script>",
                "<h1>",
                "**",
                "[",
                "](",
                ")",
                "# ",
                "\n",
                "- ",
                "1. ",
                "Llama 3.1",
                "License",
                ":",
                "&amp;",
                "<!--",
                "-->",
                "`",
                "\\",
            ]
        ),
        max_size=200,
    )
)
def test_markup_soup_never_crashes(parts: list[str]) -> None:
    text = "".join(parts)
    doc = make_doc(text, "x.md")
    assert len(doc.sent_of) == len(doc.toks)
    identify_text(text, "terms.html")
