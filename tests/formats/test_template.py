"""The chat template parser: parses real templates, never renders, bounded on hostile text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jinja2 import nodes

from seewhy.formats import template as template_module
from seewhy.formats.template import (
    MAX_BLOCK_DEPTH,
    MAX_TEMPLATE_CHARS,
    PROBLEM_CODES,
    TemplateParseError,
    parse_template,
    walk,
)


def test_parses_a_chat_template_with_transformers_tags() -> None:
    source = (
        "{%- for message in messages %}\n"
        "{%- if message['role'] == 'assistant' %}\n"
        "{% generation %}{{ message['content'] }}{% endgeneration %}\n"
        "{%- elif loop.index0 > 8 %}{% break %}\n"
        "{%- else %}{% do ns.items.append(1) %}{{ message['content'] }}\n"
        "{%- endif %}\n"
        "{%- endfor %}\n"
    )
    parsed = parse_template(source)
    assert isinstance(parsed.tree, nodes.Template)
    kinds = {type(n).__name__ for n in walk(parsed.tree)}
    assert {"For", "If", "Scope", "Break", "ExprStmt", "Getitem"} <= kinds
    assert parsed.line_text(3) == "{% generation %}{{ message['content'] }}{% endgeneration %}"
    assert parsed.line_text(0) is None and parsed.line_text(99) is None


def test_walk_is_document_order_and_linenos_are_kept() -> None:
    parsed = parse_template("a\n{{ x.y }}\n{{ z['w'] }}\n")
    seen = [(type(n).__name__, n.lineno) for n in walk(parsed.tree) if n is not parsed.tree]
    getattr_line = next(line for kind, line in seen if kind == "Getattr")
    getitem_line = next(line for kind, line in seen if kind == "Getitem")
    assert (getattr_line, getitem_line) == (2, 3)


def test_never_renders(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    payload = (
        "{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}"
        "{{ self.__init__.__globals__.__builtins__.open('" + str(marker) + "', 'w') }}"
    )
    parse_template(payload)
    assert not marker.exists()


def test_bytes_input_and_bom() -> None:
    assert parse_template("\ufeff{{ x }}".encode()).tree
    with pytest.raises(TemplateParseError) as err:
        parse_template(b"ok\n{{ x }}\n\xff\xfe")
    assert err.value.code == "template.not-utf8" and err.value.line == 3


@pytest.mark.parametrize(
    ("source", "code", "line"),
    [
        ("{% for x in y %}\n{{ x }\n", "template.syntax-error", 2),
        ("{% if %}", "template.syntax-error", 1),
        ("{{ x }}{% endfor %}", "template.syntax-error", 1),
        ("{% include %}", "template.syntax-error", 1),
        ("{% unknowntag %}", "template.syntax-error", 1),
        ("{% if a %}" * (MAX_BLOCK_DEPTH + 1), "template.too-deep", 1),
        ("{{ " + "(" * 400 + "1" + ")" * 400 + " }}", "template.too-deep", None),
        ("{{ " + "[" * 400 + "]" * 400 + " }}", "template.too-deep", None),
    ],
)
def test_errors_are_coded(source: str, code: str, line: int | None) -> None:
    with pytest.raises(TemplateParseError) as err:
        parse_template(source)
    assert err.value.code == code
    if line is not None:
        assert err.value.line == line
    assert err.value.code in PROBLEM_CODES


def test_size_cap() -> None:
    with pytest.raises(TemplateParseError) as err:
        parse_template("x" * (MAX_TEMPLATE_CHARS + 1))
    assert err.value.code == "template.too-large"
    with pytest.raises(TemplateParseError):
        parse_template(b"x" * (4 * MAX_TEMPLATE_CHARS + 1))
    assert parse_template("{{ x }}", max_chars=10).tree


def test_long_flat_expressions_parse_and_walk() -> None:
    parsed = parse_template("{{ " + "a+" * 5000 + "a }}")
    assert sum(1 for _ in walk(parsed.tree)) > 10_000


def test_null_bytes_and_control_characters() -> None:
    parse_template("a\x00b{{ x }}\x01\x7f")


def test_problem_codes_table_matches_the_module() -> None:
    text = Path(template_module.__file__).read_text()
    used = set(re.findall(r'"(template\.[a-z0-9-]+)"', text))
    assert used == set(PROBLEM_CODES)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_random_text_raises_only_template_errors(text: str) -> None:
    try:
        parsed = parse_template(text)
    except TemplateParseError as exc:
        assert exc.code in PROBLEM_CODES
    else:
        for _ in walk(parsed.tree):
            pass


_PIECES = st.sampled_from(
    [
        "{{",
        "}}",
        "{%",
        "%}",
        "{#",
        "#}",
        " if ",
        " for ",
        " in ",
        " endif ",
        " endfor ",
        " set ",
        "x",
        "'s'",
        "(",
        ")",
        "[",
        "]",
        ".",
        "|",
        "attr",
        "~",
        "+",
        ",",
        "=",
        " namespace(",
        "__class__",
        " raw ",
        " endraw ",
        " macro ",
        " endmacro ",
        "-",
        "\n",
        " is ",
        " not ",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=60))
def test_random_template_like_text(pieces: list[str]) -> None:
    try:
        parse_template("".join(pieces))
    except TemplateParseError as exc:
        assert exc.code in PROBLEM_CODES
