"""Chat templates: parsed into a Jinja syntax tree, never compiled or rendered.

A chat template is Jinja source that a serving stack renders with the
conversation as context. Rendering an attacker's template in an unsandboxed
environment runs their code (CVE-2024-34359), so this module only ever
*parses*: :func:`parse_template` runs Jinja's lexer and parser over the text
and returns the tree, nothing more. The environment it uses is Jinja's
immutable sandbox with the extensions Hugging Face ``transformers`` enables
for chat templates (``loopcontrols`` and the ``{% generation %}`` tag) plus
``do``, so that real templates parse; it is never asked to compile, load or
render anything.

Bounds: the text is capped in size before the lexer sees it; block-tag
nesting is pre-scanned in linear time; the recursive-descent parser
runs under Python's recursion limit and a :class:`RecursionError` becomes a
``template.too-deep`` error; any other exception Jinja raises on hostile text
becomes ``template.crash`` (a parser crash is a finding, not a traceback).
:func:`walk` visits the tree without recursion.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from seewhy.errors import FormatError

if TYPE_CHECKING:  # Jinja is imported on the first template parsed, not with this module
    from jinja2 import nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = [
    "MAX_BLOCK_DEPTH",
    "MAX_TEMPLATE_CHARS",
    "PROBLEM_CODES",
    "ParsedTemplate",
    "TemplateParseError",
    "parse_template",
    "walk",
]

MAX_TEMPLATE_CHARS = 256 * 1024
"""Longest template text parsed; real chat templates are a few kilobytes."""

MAX_BLOCK_DEPTH = 64
"""Deepest nesting of block tags (``if``, ``for``, ``macro``, ...) accepted."""

PROBLEM_CODES: dict[str, str] = {
    "template.too-large": "the template text is longer than the parser's cap (not parsed)",
    "template.not-utf8": "the template bytes are not valid UTF-8",
    "template.syntax-error": "Jinja's parser rejects the template (message has the line)",
    "template.too-deep": "brackets or block tags nest deeper than the parser allows",
    "template.crash": "Jinja's lexer or parser failed in an unexpected way on this text",
}
"""Every code :class:`TemplateParseError` carries -> one-line description."""

# Block tags that open a nesting level and the tags that close one.
_BLOCK_OPEN = frozenset({"if", "for", "macro", "call", "filter", "with", "block", "generation"})
_BLOCK_TAG = re.compile(r"\{%[-+]?\s*(end)?([a-z]+)")


class TemplateParseError(FormatError):
    """A template that could not be parsed; ``line`` is 1-based within the template."""

    def __init__(self, code: str, message: str, line: int | None = None) -> None:
        super().__init__(code, message)
        self.line = line


@cache
def _environment() -> ImmutableSandboxedEnvironment:
    """The one environment used for parsing (never for rendering).

    Jinja is imported here, by the first template parsed.
    """
    from jinja2 import nodes
    from jinja2.ext import Extension, do, loopcontrols
    from jinja2.parser import Parser
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class _GenerationTag(Extension):
        """Parses ``{% generation %}...{% endgeneration %}`` (a transformers tag) as a scope."""

        tags = {"generation"}  # noqa: RUF012 - Jinja reads this class attribute

        def parse(self, parser: Parser) -> nodes.Node:
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    return ImmutableSandboxedEnvironment(
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        extensions=[loopcontrols, do, _GenerationTag],
    )


@dataclass(frozen=True)
class ParsedTemplate:
    """A parsed template: its syntax tree and its source lines (for excerpts)."""

    tree: nodes.Template
    lines: tuple[str, ...]

    def line_text(self, lineno: int | None) -> str | None:
        """The text of a 1-based template line, or None when out of range."""
        if lineno is None or not 1 <= lineno <= len(self.lines):
            return None
        return self.lines[lineno - 1]


def _line_at(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _check_nesting(text: str) -> None:
    """Refuse text whose block tags nest past the cap (linear, no recursion).

    Deep expressions (brackets) are left to the parser: it runs under the
    recursion limit and a RecursionError is reported as ``template.too-deep``.
    """
    depth = 0
    for match in _BLOCK_TAG.finditer(text):
        closing, name = match.group(1), match.group(2)
        if name not in _BLOCK_OPEN:
            continue
        if closing:
            depth = max(depth - 1, 0)
            continue
        depth += 1
        if depth > MAX_BLOCK_DEPTH:
            raise TemplateParseError(
                "template.too-deep",
                f"block tags nest deeper than {MAX_BLOCK_DEPTH} levels",
                _line_at(text, match.start()),
            )


def parse_template(source: str | bytes, *, max_chars: int = MAX_TEMPLATE_CHARS) -> ParsedTemplate:
    """Parse Jinja template text into its syntax tree, without compiling or rendering it.

    Args:
        source: the template text, or its bytes (UTF-8, a leading BOM is dropped).
        max_chars: longest text accepted.

    Returns:
        The tree and the source lines.

    Raises:
        TemplateParseError: with a code from :data:`PROBLEM_CODES` and, where
            known, the 1-based template line.
    """
    if isinstance(source, bytes):
        raw = source
        if len(raw) > 4 * max_chars:
            raise TemplateParseError(
                "template.too-large", f"{len(raw):,} bytes, above the template cap"
            )
        try:
            source = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TemplateParseError(
                "template.not-utf8",
                f"not UTF-8 (bad byte at offset {exc.start})",
                raw.count(b"\n", 0, exc.start) + 1,
            ) from None
    if len(source) > max_chars:
        raise TemplateParseError(
            "template.too-large",
            f"{len(source):,} characters, above the {max_chars:,}-character cap",
        )
    _check_nesting(source)
    from jinja2.exceptions import TemplateSyntaxError
    from jinja2.parser import Parser

    try:
        tree = Parser(_environment(), source).parse()
    except TemplateSyntaxError as exc:
        raise TemplateParseError(
            "template.syntax-error", exc.message or str(exc), exc.lineno
        ) from None
    except RecursionError:
        raise TemplateParseError(
            "template.too-deep", "the template nests too deeply for the parser"
        ) from None
    except Exception as exc:  # hostile text must never escape as a traceback
        raise TemplateParseError(
            "template.crash", f"the Jinja parser failed: {type(exc).__name__}: {exc}"
        ) from None
    return ParsedTemplate(tree=tree, lines=tuple(source.split("\n")))


def walk(tree: nodes.Node) -> Iterator[nodes.Node]:
    """Every node of ``tree`` in document order, without recursion."""
    stack: list[nodes.Node] = [tree]
    while stack:
        node = stack.pop()
        yield node
        children = list(node.iter_child_nodes())
        children.reverse()
        stack.extend(children)
