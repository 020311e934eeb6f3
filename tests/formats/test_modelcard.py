"""Tests for seewhy.formats.modelcard: model-card front matter, model-index, body.

The corpus tests read the real cards in ``shared/corpus/cards`` (a sibling of
the repository) and take every expectation from its ``manifest.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from huggingface_hub import ModelCard as HubModelCard
from huggingface_hub import ModelCardData
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seewhy.formats import modelcard
from seewhy.formats.modelcard import (
    MAX_ALIASES,
    MAX_FRONT_MATTER_BYTES,
    MAX_PROBLEMS,
    PROBLEM_CODES,
    EvalResult,
    ModelCard,
    parse_card,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
CARDS = REPO_ROOT / ".." / "shared" / "corpus" / "cards"
MANIFEST = CARDS / "manifest.json"


def _manifest() -> list[Any]:
    if not MANIFEST.is_file():
        reason = f"card corpus not found at {CARDS.resolve()} (shared/ is a sibling of the repo)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-corpus")]
    entries = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return [pytest.param(entry, id=entry["file"]) for entry in entries]


def _as_tuple(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@pytest.fixture(scope="module", autouse=True, params=["libyaml", "pyyaml"])
def yaml_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run every test with libyaml's event parser and with PyYAML's pure-Python one."""
    if request.param == "libyaml" and not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML is built without libyaml")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(modelcard, "_LIBYAML", request.param == "libyaml")
        yield request.param


def codes(card: ModelCard) -> list[str]:
    return [p.code for p in card.problems]


def card(text: str) -> ModelCard:
    return parse_card(text.encode("utf-8"))


# --- the real corpus -------------------------------------------------------------


@pytest.mark.parametrize("entry", _manifest())
def test_corpus_card_matches_manifest(entry: dict[str, Any]) -> None:
    path = CARDS / entry["file"]
    parsed = parse_card(path.read_bytes(), path=entry["file"])
    assert parsed.path == entry["file"]
    assert parsed.license == entry["declared_license"]
    assert parsed.license_name == entry["license_name"]
    assert parsed.base_model == _as_tuple(entry["base_model"])
    assert parsed.has_front_matter == entry["has_front_matter"]


@pytest.mark.parametrize("entry", _manifest())
def test_corpus_card_parses_cleanly_and_cites_lines(entry: dict[str, Any]) -> None:
    raw = (CARDS / entry["file"]).read_bytes()
    parsed = parse_card(raw, path=entry["file"])
    assert parsed.problems == ()
    lines = raw.decode("utf-8").lstrip("\ufeff").split("\n")
    # The body is everything from body_start_line on.
    assert "\n".join(lines[parsed.body_start_line - 1 :]) == parsed.body
    if not parsed.has_front_matter:
        assert parsed.front_matter is None
        assert parsed.front_matter_lines is None
        return
    assert parsed.front_matter is not None
    assert parsed.front_matter_lines is not None
    first, last = parsed.front_matter_lines
    assert lines[first - 1].strip() == "---" == lines[last - 1].rstrip("\r")
    assert parsed.body_start_line == last + 1
    for key in parsed.front_matter:
        line = parsed.line_of(str(key))
        assert line is not None
        assert first < line < last
        assert lines[line - 1].startswith(f"{key}:")


@pytest.mark.parametrize("entry", _manifest())
def test_corpus_eval_results_match_huggingface_hub(entry: dict[str, Any]) -> None:
    text = (CARDS / entry["file"]).read_text(encoding="utf-8")
    parsed = parse_card(text.encode("utf-8"))
    hub = HubModelCard(text, ignore_metadata_errors=True).data
    assert isinstance(hub, ModelCardData)
    expected = [
        (r.task_type, r.dataset_type, r.dataset_name, r.metric_type, r.metric_value, r.metric_name)
        for r in (hub.eval_results or [])
    ]
    got = [
        (r.task_type, r.dataset_type, r.dataset_name, r.metric_type, r.metric_value, r.metric_name)
        for r in parsed.eval_results
    ]
    assert got == expected
    if expected:
        assert parsed.model_name == hub.model_name
    lines = text.split("\n")
    for result in parsed.eval_results:
        assert result.line is not None
        assert parsed.front_matter_lines is not None
        assert parsed.front_matter_lines[0] < result.line < parsed.front_matter_lines[1]
        # the line of the metric's first key, on its "- " list item
        assert lines[result.line - 1].lstrip().startswith("- ")


# --- front matter --------------------------------------------------------------

BASIC = """---
license: apache-2.0
license_name: my-license
license_link: https://example.com/LICENSE
base_model: org/base
base_model_relation: finetune
datasets:
- a/b
- c/d
language: en
pipeline_tag: text-generation
library_name: transformers
tags: [x, y]
model_name: tiny
extra_gated_prompt: |
  Line one.

  Line three with "quotes" and: colons.
extra_gated_eu_disallowed: true
---
# Tiny

Body text.
"""


def test_basic_fields() -> None:
    c = card(BASIC)
    assert c.problems == ()
    assert c.has_front_matter
    assert c.license == "apache-2.0"
    assert c.licenses == ("apache-2.0",)
    assert c.license_name == "my-license"
    assert c.license_link == "https://example.com/LICENSE"
    assert c.base_model == ("org/base",)
    assert c.base_model_relation == "finetune"
    assert c.datasets == ("a/b", "c/d")
    assert c.language == ("en",)
    assert c.pipeline_tag == "text-generation"
    assert c.library_name == "transformers"
    assert c.tags == ("x", "y")
    assert c.model_name == "tiny"
    assert c.extra_gated_prompt == 'Line one.\n\nLine three with "quotes" and: colons.\n'
    assert c.extra_gated_eu_disallowed is True
    assert c.front_matter_lines == (1, 20)
    assert c.body_start_line == 21
    assert c.body == "# Tiny\n\nBody text.\n"
    assert c.line_of("license") == 2
    assert c.line_of("extra_gated_eu_disallowed") == 19
    assert c.line_of("absent") is None
    assert c.eval_results == ()


def test_no_front_matter() -> None:
    text = "# Title\n\n---\nlicense: mit\n---\n"
    c = card(text)
    assert not c.has_front_matter
    assert c.front_matter is None
    assert c.license is None
    assert c.body == text
    assert c.body_start_line == 1
    assert c.problems == ()


def test_empty_card() -> None:
    c = parse_card(b"")
    assert c == ModelCard(path="README.md")
    assert c.body == ""


def test_license_list_keeps_all_values() -> None:
    c = card("---\nlicense: [apache-2.0]\n---\n")
    assert (c.license, c.licenses) == ("apache-2.0", ("apache-2.0",))
    c = card("---\nlicense:\n- mit\n- apache-2.0\n---\n")
    assert (c.license, c.licenses) == ("mit", ("mit", "apache-2.0"))
    assert c.problems == ()


def test_base_model_list() -> None:
    c = card("---\nbase_model:\n- a/one\n- b/two\n---\n")
    assert c.base_model == ("a/one", "b/two")


@pytest.mark.parametrize("value", ["3", "{name: mit}", "true", "1.0", "2024-01-01"])
def test_license_of_the_wrong_type_is_a_problem(value: str) -> None:
    c = card(f"---\nlicense: {value}\nlicense_name: x\n---\nbody\n")
    assert codes(c) == ["card.bad-field"]
    assert c.problems[0].pointer == "/license"
    assert c.problems[0].message.startswith("line 2:")
    assert c.problems[0].offset == 4
    assert c.license is None
    assert c.licenses == ()
    assert c.license_name == "x"
    assert c.body == "body\n"


def test_non_string_items_are_dropped_with_a_problem() -> None:
    c = card("---\ntags: [a, 1, [b], c]\nlicense: [mit, {x: 1}]\n---\n")
    assert c.tags == ("a", "c")
    assert c.licenses == ("mit",)
    assert [p.pointer for p in c.problems] == ["/license/1", "/tags/1", "/tags/2"] or [
        p.pointer for p in c.problems
    ] == ["/tags/1", "/tags/2", "/license/1"]


@pytest.mark.parametrize(
    ("line", "pointer"),
    [
        ("license_name: [a]", "/license_name"),
        ("pipeline_tag: 3", "/pipeline_tag"),
        ("extra_gated_prompt: {a: b}", "/extra_gated_prompt"),
        ("extra_gated_eu_disallowed: 'yes'", "/extra_gated_eu_disallowed"),
        ("extra_gated_eu_disallowed: 1", "/extra_gated_eu_disallowed"),
        ("base_model: {a: b}", "/base_model"),
        ("datasets: 3", "/datasets"),
    ],
)
def test_other_wrong_types(line: str, pointer: str) -> None:
    c = card(f"---\n{line}\n---\n")
    assert codes(c) == ["card.bad-field"]
    assert c.problems[0].pointer == pointer


def test_yaml_12_booleans() -> None:
    c = card("---\nlanguage: [no, yes, on, off]\nextra_gated_eu_disallowed: false\n---\n")
    assert c.language == ("no", "yes", "on", "off")
    assert c.extra_gated_eu_disallowed is False
    assert c.problems == ()


def test_crlf_leading_blank_lines_and_bom() -> None:
    c = parse_card(b"\xef\xbb\xbf\r\n\r\n---\r\nlicense: mit\r\n---\r\nbody\r\n")
    assert c.license == "mit"
    assert c.front_matter_lines == (3, 5)
    assert c.body == "body\r\n"
    assert c.body_start_line == 6
    assert c.line_of("license") == 4


def test_empty_front_matter() -> None:
    c = card("---\n---\nbody")
    assert c.has_front_matter
    assert c.front_matter == {}
    assert c.body == "body"
    assert c.problems == ()


def test_front_matter_that_is_not_a_mapping() -> None:
    c = card("---\n- a\n- b\n---\nbody")
    assert codes(c) == ["card.front-matter-not-mapping"]
    assert c.has_front_matter
    assert c.front_matter is None
    assert c.body == "body"


def test_duplicate_key_keeps_last() -> None:
    c = card("---\nlicense: mit\ntags: [a]\nlicense: apache-2.0\n---\n")
    assert c.license == "apache-2.0"
    assert codes(c) == ["card.duplicate-key"]
    assert c.problems[0].message.startswith("line 4:")
    assert c.line_of("license") == 4


def test_merge_keys_are_not_duplicates() -> None:
    c = card("---\nbase: &b {license: mit}\n<<: *b\nlicense: apache-2.0\n---\n")
    assert c.license == "apache-2.0"
    assert c.problems == ()


# --- hostile cards -------------------------------------------------------------


def test_broken_yaml_is_a_problem_with_a_line_and_the_body_is_read() -> None:
    c = card("---\nlicense: mit\ntags: [a, b\nother: 1\n---\n# Body\n")
    assert codes(c) == ["card.bad-yaml"]
    assert c.problems[0].message.startswith("line ")
    assert c.problems[0].offset is not None
    assert c.has_front_matter
    assert c.front_matter is None
    assert c.license is None
    assert c.body == "# Body\n"


def test_bad_yaml_line_is_a_file_line() -> None:
    c = card("\n---\na: 1\nb: 2\nc: : :\n---\n")
    assert codes(c) == ["card.bad-yaml"]
    assert c.problems[0].message.startswith("line 5:")


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    text = "---\n" + "\n".join(lines) + "\nlicense: mit\n---\nbody\n"
    start = time.monotonic()
    c = card(text)
    assert time.monotonic() - start < 2
    assert codes(c) == ["card.yaml-alias-bomb"]
    assert c.license is None
    assert c.body == "body\n"


def test_too_many_aliases() -> None:
    aliases = ", ".join(["*x"] * (MAX_ALIASES + 1))
    c = card(f"---\nx: &x 1\ny: [{aliases}]\n---\n")
    assert codes(c) == ["card.yaml-alias-bomb"]


def test_a_few_aliases_are_fine() -> None:
    c = card("---\nlic: &l mit\nlicense: *l\ntags: [*l, *l]\n---\n")
    assert c.license == "mit"
    assert c.tags == ("mit", "mit")
    assert c.problems == ()


def test_recursive_alias_is_refused() -> None:
    c = card("---\na: &x [1, *x]\n---\n")
    assert codes(c) == ["card.yaml-alias-bomb"]
    c = card("---\na: &y {b: *y}\n---\n")
    assert codes(c) == ["card.yaml-alias-bomb"]


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.mkdir",
        "!!python/object/new:os.mkdir",
        "!<tag:yaml.org,2002:python/object/apply:os.mkdir>",
    ],
)
def test_python_tag_is_a_problem_and_never_executed(tmp_path: Path, tag: str) -> None:
    target = tmp_path / "pwned"
    text = f"---\nlicense: {tag} ['{target}']\n---\nbody\n"
    c = card(text)
    assert codes(c) == ["card.yaml-python-tag"]
    assert c.problems[0].message.startswith("line 2:")
    assert not target.exists()
    assert c.license is None
    assert c.body == "body\n"


def test_python_name_tag() -> None:
    c = card("---\nx: !!python/name:os.system\n---\n")
    assert codes(c) == ["card.yaml-python-tag"]


def test_unknown_tag_is_bad_yaml() -> None:
    c = card("---\nx: !custom value\n---\n")
    assert codes(c) == ["card.bad-yaml"]


@pytest.mark.parametrize(
    "value",
    ["2024-13-45", "9" * 5000, "!!bool maybe", "!!int ''", "!!timestamp 2001-99-99"],
)
def test_values_that_cannot_be_built_are_bad_yaml_with_a_line(value: str) -> None:
    c = card(f"---\nlicense: mit\nx: {value}\n---\n")
    assert codes(c) == ["card.bad-yaml"]
    assert c.problems[0].message.startswith("line 3:")


@pytest.mark.parametrize("prefix", ["a", "é"])
def test_control_character_is_bad_yaml(prefix: str) -> None:
    text = f"---\n{prefix}: b\x00\n---\n"
    c = card(text)
    assert codes(c) == ["card.bad-yaml"]
    assert c.problems[0].message.startswith("line 2:")
    assert c.problems[0].offset == text.encode().index(b"\x00")


def test_deep_nesting_is_refused() -> None:
    c = card("---\nx: " + "[" * 10_000 + "\n---\nbody")
    assert codes(c) == ["card.yaml-too-deep"]
    assert c.body == "body"
    c = card("---\nx: " + "[" * 70 + "]" * 70 + "\n---\nbody")
    assert codes(c) == ["card.yaml-too-deep"]
    block = "".join("  " * i + "-\n" for i in range(200))
    c = card("---\n" + block + "---\n")
    assert codes(c) == ["card.yaml-too-deep"]


def test_non_utf8_is_replaced_and_reported() -> None:
    data = b"---\nlicense: mit\n---\nbad \xff\xfe bytes\n"
    c = parse_card(data)
    assert codes(c) == ["card.not-utf8"]
    assert c.problems[0].offset == data.index(b"\xff") == 25
    assert c.license == "mit"
    assert c.body == "bad \ufffd\ufffd bytes\n"


def test_non_utf8_inside_front_matter() -> None:
    c = parse_card(b"---\nlicense: mi\xe9t\n---\n")
    assert codes(c) == ["card.not-utf8"]
    assert c.license == "mi\ufffdt"


def test_unclosed_front_matter_is_read_as_body() -> None:
    text = "\n---\nlicense: mit\n# Title\n"
    c = card(text)
    assert codes(c) == ["card.unclosed-front-matter"]
    assert c.problems[0].message.startswith("line 2:")
    assert not c.has_front_matter
    assert c.license is None
    assert c.body == text


def test_closing_line_must_be_exactly_three_dashes() -> None:
    c = card("---\nlicense: mit\n--- \n----\n")
    assert codes(c) == ["card.unclosed-front-matter"]


def test_front_matter_too_large() -> None:
    big = "x: '" + "a" * MAX_FRONT_MATTER_BYTES + "'\n"
    c = card("---\nlicense: mit\n" + big + "---\nbody\n")
    assert codes(c) == ["card.front-matter-too-large"]
    assert c.has_front_matter
    assert c.license is None
    assert c.body == "body\n"


def test_node_count_is_capped() -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(modelcard, "MAX_YAML_NODES", 50)
        c = card("---\nlicense: mit\ntags: [" + ", ".join(["t"] * 60) + "]\n---\nbody")
        assert codes(c) == ["card.front-matter-too-large"]
        assert "YAML nodes" in c.problems[0].message
        assert c.license is None
        assert c.body == "body"
        c = card("---\nlicense: mit\ntags: [" + ", ".join(["t"] * 40) + "]\n---\nbody")
        assert c.problems == ()


def test_problems_are_capped() -> None:
    items = ", ".join(["1"] * (MAX_PROBLEMS + 50))
    c = card(f"---\ntags: [{items}]\n---\n")
    assert len(c.problems) == MAX_PROBLEMS + 1
    assert c.problems[-1].code == "card.too-many-problems"
    assert "50 more" in c.problems[-1].message


# --- model-index ---------------------------------------------------------------

MODEL_INDEX = """---
license: mit
model-index:
- name: my-model
  results:
  - task:
      type: text-generation
      name: Text Generation
    dataset:
      name: MMLU
      type: cais/mmlu
      config: all
      split: test
    metrics:
    - type: acc
      value: 61.5
      name: accuracy
      verified: false
    - type: f1
      value: "0.7"
    source:
      name: Open LLM Leaderboard
      url: https://example.com/leaderboard
---
"""


def test_model_index() -> None:
    c = card(MODEL_INDEX)
    assert c.problems == ()
    assert c.model_name == "my-model"
    assert c.eval_results == (
        EvalResult(
            task_type="text-generation",
            dataset_name="MMLU",
            dataset_type="cais/mmlu",
            metric_type="acc",
            metric_value=61.5,
            metric_name="accuracy",
            source_url="https://example.com/leaderboard",
            task_name="Text Generation",
            dataset_config="all",
            dataset_split="test",
            verified=False,
            model_name="my-model",
            line=15,
        ),
        EvalResult(
            task_type="text-generation",
            dataset_name="MMLU",
            dataset_type="cais/mmlu",
            metric_type="f1",
            metric_value="0.7",
            source_url="https://example.com/leaderboard",
            task_name="Text Generation",
            dataset_config="all",
            dataset_split="test",
            model_name="my-model",
            line=19,
        ),
    )


def test_explicit_model_name_wins() -> None:
    c = card(MODEL_INDEX.replace("license: mit", "model_name: explicit"))
    assert c.model_name == "explicit"


@pytest.mark.parametrize(
    "index",
    [
        "oops",
        "3",
        "[1, 2]",
        "[{name: x}]",
        "[{name: x, results: 5}]",
        "[{name: x, results: [7]}]",
        "[{name: x, results: [{task: 1, dataset: [], metrics: {}}]}]",
        "[{name: [x], results: [{task: {type: t}, dataset: {type: d, name: n}, metrics: [5]}]}]",
        "[{results: [{task: {type: t}, dataset: {type: d, name: n}, metrics: [{type: a}]}]}]",
        "[{results: [{task: {type: t}, dataset: {type: d, name: n}, "
        "metrics: [{type: a, value: [1]}, {type: b, value: {x: 1}}, {type: c, value: true}]}]}]",
    ],
)
def test_hostile_model_index_is_a_problem(index: str) -> None:
    c = card(f"---\nlicense: mit\nmodel-index: {index}\n---\nbody")
    assert c.problems
    assert set(codes(c)) == {"card.bad-model-index"}
    assert c.eval_results == ()
    assert c.license == "mit"
    assert c.body == "body"


def test_partly_bad_model_index_keeps_the_good_metrics() -> None:
    index = (
        "[{name: m, results: [{task: {type: t}, dataset: {type: d, name: n}, "
        "metrics: [{type: a, value: 1}, {value: [2]}, {type: c, value: 3}]}]}]"
    )
    c = card(f"---\nmodel-index: {index}\n---\n")
    assert [r.metric_type for r in c.eval_results] == ["a", "c"]
    assert codes(c) == ["card.bad-model-index"]


def test_model_index_missing_required_parts_still_records_metric() -> None:
    c = card("---\nmodel-index: [{name: m, results: [{metrics: [{type: a, value: 1}]}]}]\n---\n")
    assert [(r.metric_type, r.task_type, r.dataset_name) for r in c.eval_results] == [
        ("a", None, None)
    ]
    assert codes(c) == ["card.bad-model-index", "card.bad-model-index"]


# --- codes and properties ----------------------------------------------------


def test_problem_codes_are_described() -> None:
    assert all(code.startswith("card.") and text for code, text in PROBLEM_CODES.items())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(data: bytes) -> None:
    c = parse_card(data)
    assert all(p.code in PROBLEM_CODES for p in c.problems)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_front_matter_bytes_never_raise(data: bytes) -> None:
    c = parse_card(b"---\n" + data + b"\n---\nbody\n")
    assert all(p.code in PROBLEM_CODES for p in c.problems)


_yaml_alphabet = st.sampled_from(
    [*"abc:-[]{},&*!|>'\"#?% \n\t\\0123456789.", "!!", "<<", "*a", "&a", "!!python/"]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_yaml_alphabet, max_size=80).map("".join))
def test_random_yaml_like_front_matter_never_raises(text: str) -> None:
    c = card("---\n" + text + "\n---\nbody")
    assert all(p.code in PROBLEM_CODES for p in c.problems)
    if "---" not in text.split("\n"):
        assert c.body == "body"


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=10)
    | st.dates()
)
_structures = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "license",
                    "base_model",
                    "tags",
                    "model-index",
                    "name",
                    "results",
                    "task",
                    "dataset",
                    "metrics",
                    "type",
                    "value",
                    "source",
                    "url",
                    "extra_gated_eu_disallowed",
                    "x",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_structures)
def test_random_structures_never_raise(value: Any) -> None:
    text = yaml.safe_dump(value, allow_unicode=True)
    c = card("---\n" + text + "---\nbody")
    assert all(p.code in PROBLEM_CODES for p in c.problems)
    if isinstance(value, dict) and not c.problems:
        # the reference safe loader, not ``value``: the dumper does not round-trip
        # every string (e.g. "\x85")
        assert c.front_matter == yaml.safe_load(text)
