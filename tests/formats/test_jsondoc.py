"""Tests for seewhy.formats.jsondoc: strict, bounded JSON."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seewhy.errors import FormatError
from seewhy.formats.jsondoc import (
    MAX_PROBLEMS,
    PROBLEM_CODES,
    json_pointer_escape,
    line_of_key,
    load_json,
    problem_codes,
)


def load(data: bytes, **kwargs: Any) -> tuple[Any, tuple[Any, ...]]:
    return load_json(data, what="t.json", code_prefix="t", **kwargs)


def codes(problems: tuple[Any, ...]) -> list[str]:
    return [p.code for p in problems]


# --- plain parsing ---------------------------------------------------------


def test_valid_document_has_no_problems() -> None:
    value, problems = load(b'{"a": [1, 2.5, "x", true, null], "b": {"c": -3}}')
    assert value == {"a": [1, 2.5, "x", True, None], "b": {"c": -3}}
    assert problems == ()


def test_bom_is_dropped() -> None:
    value, problems = load(b'\xef\xbb\xbf{"a": 1}')
    assert value == {"a": 1}
    assert problems == ()


def test_scalar_top_level_is_allowed() -> None:
    assert load(b"  42 \n") == (42, ())


# --- encoding and syntax errors -----------------------------------------------


def test_not_utf8_reports_first_bad_byte() -> None:
    with pytest.raises(FormatError) as info:
        load(b'{"a": "\xff"}')
    assert info.value.code == "t.not-utf8"
    assert info.value.offset == 7


def test_not_utf8_offset_counts_the_bom() -> None:
    with pytest.raises(FormatError) as info:
        load(b'\xef\xbb\xbf{"a": "\xc3"}')
    assert info.value.code == "t.not-utf8"
    assert info.value.offset == 10


def test_utf16_is_not_utf8() -> None:
    with pytest.raises(FormatError) as info:
        load('{"a": 1}'.encode("utf-16"))
    assert info.value.code == "t.not-utf8"
    assert info.value.offset == 0


def test_bad_json_has_line_column_and_byte_offset() -> None:
    data = '{\n  "é": tru\n}'.encode()
    with pytest.raises(FormatError) as info:
        load(data)
    assert info.value.code == "t.bad-json"
    assert "line 2 column 8" in info.value.message
    # "é" is two bytes, so the byte offset is one more than the char index.
    assert info.value.offset == data.index(b"tru")


@pytest.mark.parametrize(
    "data",
    [b"", b"   ", b"{", b'{"a": 1,}', b"[1 2]", b"{'a': 1}", b'{"a": 1} x', b'"\x01"'],
)
def test_bad_json(data: bytes) -> None:
    with pytest.raises(FormatError) as info:
        load(data)
    assert info.value.code == "t.bad-json"


def test_huge_integer_is_bad_json_not_value_error() -> None:
    with pytest.raises(FormatError) as info:
        load(b"[" + b"9" * 5000 + b"]")
    assert info.value.code == "t.bad-json"


# --- depth -------------------------------------------------------------------


def test_depth_at_limit_is_accepted() -> None:
    value, _ = load(b"[" * 64 + b"]" * 64)
    for _ in range(63):
        value = value[0]
    assert value == []


def test_depth_past_limit_is_refused_with_offset() -> None:
    with pytest.raises(FormatError) as info:
        load(b"[" * 65 + b"]" * 65)
    assert info.value.code == "t.too-deep"
    assert info.value.offset == 64


def test_custom_max_depth() -> None:
    assert load(b'{"a": {"b": 1}}', max_depth=2)[0] == {"a": {"b": 1}}
    with pytest.raises(FormatError) as info:
        load(b'{"a": {"b": []}}', max_depth=2)
    assert info.value.code == "t.too-deep"
    assert info.value.offset == 12


def test_negative_max_depth_is_a_caller_error() -> None:
    with pytest.raises(ValueError):
        load(b"1", max_depth=-1)


def test_ten_megabytes_of_brackets_is_too_deep_not_recursion_error() -> None:
    start = time.monotonic()
    for data in (b"[" * 10_000_000, b'{"a":' * 2_000_000, b"[{" * 5_000_000):
        with pytest.raises(FormatError) as info:
            load(data)
        assert info.value.code == "t.too-deep"
    assert time.monotonic() - start < 10


def test_deep_nesting_after_much_flat_content_is_found() -> None:
    data = b"[" + b"[]," * 100_000 + b"[" * 70 + b"]" * 71
    with pytest.raises(FormatError) as info:
        load(data)
    assert info.value.code == "t.too-deep"
    assert info.value.offset == 1 + 3 * 100_000 + 63


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"s": "[" * 500 + '\\"{' * 100, "t": ["]]]"]})
    value, problems = load(text.encode())
    assert value == json.loads(text)
    assert problems == ()


def test_huge_max_depth_still_never_raises_recursion_error() -> None:
    with pytest.raises(FormatError) as info:
        load(b"[" * 200_000 + b"]" * 200_000, max_depth=1_000_000)
    assert info.value.code == "t.too-deep"


# --- duplicate keys ------------------------------------------------------------


def test_duplicate_key_keeps_last_and_reports_pointer() -> None:
    value, problems = load(b'{"a": 1, "b": {"c/d": 1, "c/d": 2, "c/d": 3}, "a": 2}')
    assert value == {"a": 2, "b": {"c/d": 3}}
    assert codes(problems) == ["t.duplicate-key", "t.duplicate-key"]
    assert [p.pointer for p in problems] == ["/a", "/b/c~1d"]
    assert "3 times" in problems[1].message


def test_duplicate_key_inside_array() -> None:
    _, problems = load(b'[0, [{"x~": 1, "x~": 1}]]')
    assert [p.pointer for p in problems] == ["/1/0/x~0"]


def test_duplicate_in_overwritten_object_is_reported_without_pointer() -> None:
    value, problems = load(b'{"a": {"x": 1, "x": 2}, "a": 3}')
    assert value == {"a": 3}
    assert sorted((p.pointer or "") for p in problems) == ["", "/a"]


def test_many_duplicates_are_capped() -> None:
    data = b"[" + b'{"a": 1, "a": 2},' * 1000 + b"1]"
    _, problems = load(data)
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1].code == "t.too-many-problems"
    assert "900 more" in problems[-1].message


# --- non-finite numbers --------------------------------------------------------


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1.5E999"])
def test_non_finite_number_becomes_null(literal: bytes) -> None:
    value, problems = load(b'{"x": [1, ' + literal + b"]}")
    assert value == {"x": [1, None]}
    assert codes(problems) == ["t.non-finite-number"]
    assert problems[0].pointer == "/x/1"


def test_non_finite_top_level() -> None:
    value, problems = load(b"NaN")
    assert value is None
    assert problems[0].pointer == ""


def test_problems_come_in_document_order() -> None:
    _, problems = load(b'{"a": NaN, "b": {"c": 1, "c": 2}, "d": [Infinity]}')
    assert [p.pointer for p in problems] == ["/a", "/b/c", "/d/0"]


# --- codes ---------------------------------------------------------------------


def test_problem_codes_cover_what_is_emitted() -> None:
    spelled = problem_codes("config")
    assert set(spelled) == {f"config.{suffix}" for suffix in PROBLEM_CODES}
    assert all(isinstance(v, str) and v for v in spelled.values())


def test_json_pointer_escape() -> None:
    assert json_pointer_escape("a/b~c") == "a~1b~0c"


# --- line_of_key ---------------------------------------------------------------

DOC = """{
  "model_type": "llama",
  "nested": {
    "hidden_size": 1
  },
  "note": "\\"hidden_size\\": 2",
  "hidden_size": 4096,
  "h\\u0069dden": 3,
  "model_type": "mistral"
}
"""


def test_line_of_key_top_level_only() -> None:
    assert line_of_key(DOC, "hidden_size") == 7


def test_line_of_key_last_occurrence_wins() -> None:
    assert line_of_key(DOC, "model_type") == 9


def test_line_of_key_decodes_escapes() -> None:
    assert line_of_key(DOC, "hidden") == 8


def test_line_of_key_missing_or_not_object() -> None:
    assert line_of_key(DOC, "absent") is None
    assert line_of_key('[{"a": 1}]', "a") is None
    assert line_of_key("", "a") is None
    assert line_of_key('{"a', "a") is None


def test_line_of_key_on_deep_text_does_not_recurse() -> None:
    assert line_of_key('{"x": ' + "[" * 100_000 + ', "a": 1}', "a") is None
    assert line_of_key('{"a": 1, "x": ' + "[" * 100_000, "a") == 1


# --- property-based -----------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_format_error(data: bytes) -> None:
    try:
        load(data)
    except FormatError as exc:
        assert exc.code in problem_codes("t")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_valid_json_round_trips(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    loaded, problems = load(text.encode())
    assert loaded == json.loads(text)
    assert problems == ()


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='[]{}":,0123456789aeNnIfinity- \n\\', max_size=200))
def test_json_like_text_only_raises_format_error(text: str) -> None:
    try:
        load(text.encode(), max_depth=4)
    except FormatError as exc:
        assert exc.code in problem_codes("t")
