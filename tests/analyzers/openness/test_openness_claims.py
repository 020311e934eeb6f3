"""Open-source claims: the real cards of the corpus, and the traps of Markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openness_builders import corpus

from seewhy.analyzers.openness.claims import MAX_CLAIMS, card_claims, text_claim
from seewhy.analyzers.openness.snapshot import MAX_HEADINGS, read_card


def claims_in(text: str) -> list[int]:
    card = read_card("README.md", text.encode("utf-8"))
    return [c.line or 0 for c in card_claims(card)]


def manifest() -> list[dict[str, object]]:
    path = corpus("cards/manifest.json")
    entries = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(entries, list)
    return entries


def test_every_corpus_card_matches_the_manifest() -> None:
    folder = corpus("cards/manifest.json").parent
    wrong = []
    for entry in manifest():
        data = (folder / str(entry["file"])).read_bytes()
        card = read_card("README.md", data)
        found = card_claims(card)
        if bool(found) != entry["claims_open_source"]:
            wrong.append((entry["file"], entry["claims_open_source"], [c.quote for c in found]))
    assert not wrong


def test_claims_carry_line_phrase_and_quote() -> None:
    folder = corpus("cards/manifest.json").parent
    path = folder / "mattshumer__Reflection-Llama-3.1-70B.md"
    card = read_card("README.md", path.read_bytes())
    first = card_claims(card)[0]
    assert first.line is not None
    assert first.phrase.lower() in card.lines[first.line - 1].lower()
    assert first.phrase.lower() in first.quote.lower()
    assert first.path == "README.md"


@pytest.mark.parametrize(
    "text",
    [
        "This model is open source.",
        "We open-source the weights and code.",
        "An opensource LLM.",
        "Meta open-sources its model.",
        "Our fully open model.",
        "我们开源了模型。",
        "The Open_Source_Model is here.",
    ],
)
def test_claims(text: str) -> None:
    assert claims_in(text) == [1]


@pytest.mark.parametrize(
    "text",
    [
        "This model is not open source.",
        "It is not an open-source model.",
        "This release is not fully open.",
        "A non-open-source release.",
        "The model is no longer open source.",
        "Released with open weights.",
        "Gemma is a family of lightweight, state-of-the-art open models.",
        "Released under an open license for commercial use.",
        "Inline `open source` code is not prose.",
        "See https://example.com/open-source-ai for details.",
        "Mail qianwen_opensource@alibabacloud.com.",
        "![open source](https://img.shields.io/badge/open-source-green)",
        '<img alt="Open Source" src="badge.svg">',
        "Read [the post](https://a16z.com/supporting-the-open-source-ai-community/).",
        "<!-- open source -->",
        "[open-source]: https://example.com/open",
    ],
)
def test_not_claims(text: str) -> None:
    assert claims_in(text) == []


def test_code_blocks_and_comments_are_skipped() -> None:
    text = "\n".join(
        [
            "# Card",
            "```python",
            "# this open source snippet",
            "```",
            "<!--",
            "open source in a comment",
            "-->",
            "~~~",
            "open source",
            "~~~",
            "It is open source.",
        ]
    )
    assert claims_in(text) == [11]


def test_negation_on_the_previous_line() -> None:
    assert claims_in("This model is not\nopen source.") == []
    assert claims_in("It is not ready.\nIt is open source.") == [2]


def test_front_matter_text_counts() -> None:
    text = "---\nextra_gated_prompt: >-\n  Components under Open Source licenses.\n---\n# x\n"
    assert claims_in(text) == [3]
    card = read_card("README.md", text.encode())
    (claim,) = card_claims(card)
    assert claim.pointer == "front matter"


def test_text_claim_for_gguf_names() -> None:
    claim = text_claim("m.gguf", "Open-Source Llama 8B", pointer="general.name", offset=24)
    assert claim is not None
    assert claim.pointer == "general.name"
    assert claim.offset == 24
    assert claim.phrase == "Open-Source"
    assert text_claim("m.gguf", "Llama 3.1 8B Instruct") is None


def test_card_without_newline_or_text(tmp_path: Path) -> None:
    assert claims_in("") == []
    assert claims_in("open source") == [1]


def test_hostile_card_is_bounded() -> None:
    text = (
        "---\nlicense: mit\n---\n"
        + "## open source\n```\n" * 3000
        + "It is open source.\n" * 60_000
    )
    card = read_card("README.md", text.encode())
    assert len(card.sections) <= MAX_HEADINGS
    found = card_claims(card)
    assert 0 < len(found) <= MAX_CLAIMS


# ------------------------------------------------------------------ self-claims vs mentions


def self_claims_in(text: str, names: tuple[str, ...] = ()) -> list[int]:
    card = read_card("README.md", text.encode("utf-8"))
    return [c.line or 0 for c in card_claims(card, names=names) if c.self_claim]


def test_self_claim_line_matches_the_manifest_for_every_corpus_card() -> None:
    """The first self-claim is the manifest's ``self_claim_line``; mention-only cards have none."""
    folder = corpus("cards/manifest.json").parent
    wrong = []
    for entry in manifest():
        card = read_card("README.md", (folder / str(entry["file"])).read_bytes())
        found = card_claims(card)
        own = [c for c in found if c.self_claim]
        first = own[0].line if own else None
        if first != entry["self_claim_line"]:
            wrong.append(
                (entry["file"], entry["self_claim_line"], [(c.line, c.quote) for c in own])
            )
        # Every line the manifest calls a self-claim is found, whatever else is on the card.
        if entry["self_claim_line"] is not None:
            assert any(c.line == entry["self_claim_line"] for c in own), entry["file"]
    assert not wrong


@pytest.mark.parametrize(
    "text",
    [
        "This model is open source.",
        "We open-source the weights and code.",
        "We introduce and opensource Foo-2, our next generation of models.",
        "To support the community, we have open-sourced Foo-R1 and Foo-R1-Zero.",
        "Foo 70B is the world's top open-source LLM, trained with a new technique.",
        "It is the #1 open source model on this benchmark.",
        "For details about the open-source model of Foo-72B, see GitHub.",
        "Our open-source models are available under Apache 2.0.",
        "The weights are open sourced under the MIT license.",
        "Open source, they say.",
        "我们开源了模型。",
    ],
)
def test_self_claims(text: str) -> None:
    assert self_claims_in(text) == [1]


@pytest.mark.parametrize(
    "text",
    [
        "Our chat models outperform open-source chat models on most benchmarks.",
        "They outperform many of the available open source and closed chat models.",
        "Compared with other open-source models, Foo uses a larger vocabulary.",
        "It significantly surpasses existing open-source models on most tasks.",
        "Fine-tuned from Foo-Base using open source instruction datasets with permissive licenses.",
        "While most open-source LVLM models with 224 resolution fail, Foo-VL succeeds.",
        "Our Purple Llama tools are open sourced for the community to use.",
        "We also encourage the open source community to use Foo for research.",
        "It uses part of the open-source generic corpus.",
        "Separate legal notices (e.g., Open Source Software Licenses) apply.",
        "Thanks to the creators of the open source datasets that were used.",
        "Created by Eric and his open source AI research collective.",
        "## Comparing Foo with the Open-Source Models.",
        "Mail us at team_opensource@example.com.",
        "相比目前以中英词表为主的开源模型，Foo使用了更大的词表。",
    ],
)
def test_mentions_are_not_self_claims(text: str) -> None:
    card = read_card("README.md", text.encode("utf-8"))
    assert all(not c.self_claim for c in card_claims(card)), [c.reading for c in card_claims(card)]


def test_a_self_claim_after_a_mention_on_the_same_line_is_kept() -> None:
    text = "It beats other open-source models. We open-source Foo-7B today."
    assert self_claims_in(text) == [1]
