"""Strict, bounded JSON for attacker-controlled files.

:func:`load_json` turns the bytes of a small JSON file (``config.json``,
``generation_config.json``, ...) into Python values. It is stricter than
:func:`json.loads` where strictness is evidence and bounded where a hostile
file could otherwise exhaust the stack:

* the bytes must be UTF-8 (a leading BOM is dropped);
* nesting deeper than ``max_depth`` stops the parse with a ``too-deep``
  :class:`~seewhy.errors.FormatError`; depth is measured by a linear,
  non-recursive pre-scan, so even megabytes of ``[`` never reach the
  recursive decoder;
* duplicate object keys are kept the way Python keeps them (the last value
  wins) and each one is reported as a problem with its JSON pointer;
* ``NaN``, ``Infinity``, ``-Infinity`` and numbers too large for a float are
  not JSON: each is reported and replaced by ``None``.

Every code this module emits is ``<code_prefix>.<suffix>``; the suffixes are
the keys of :data:`PROBLEM_CODES`, and :func:`problem_codes` spells them out
for one prefix.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from seewhy.errors import FormatError
from seewhy.formats.interface import Problem

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "MAX_PROBLEMS",
    "PROBLEM_CODES",
    "json_pointer_escape",
    "line_of_key",
    "load_json",
    "problem_codes",
]

DEFAULT_MAX_DEPTH = 64
"""Deepest nesting of arrays and objects :func:`load_json` accepts by default."""

MAX_PROBLEMS = 100
"""Most problems one :func:`load_json` call records; the rest are counted."""

PROBLEM_CODES: dict[str, str] = {
    "not-utf8": "the file is not valid UTF-8 (error; offset is the first bad byte)",
    "bad-json": "the text is not valid JSON (error; message has line and column)",
    "too-deep": "arrays/objects nest deeper than the allowed depth (error)",
    "duplicate-key": "an object repeats a key; the last value is kept (problem)",
    "non-finite-number": "NaN, Infinity or a float overflow; replaced by null (problem)",
    "too-many-problems": "more problems than the cap; the rest were counted, not recorded",
}
"""Suffix of every code this module emits -> one-line description.

The emitted code is ``f"{code_prefix}.{suffix}"``; see :func:`problem_codes`.
"""

_UTF8_BOM = b"\xef\xbb\xbf"

# A whole JSON string, and anything that is not a bracket.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET_BYTES = bytes(b for b in range(256) if b not in b"[]{}")
# A structural character or the start of a string, outside strings.
_STRUCTURAL = re.compile(r'[\[\]{}"]')
# The rest of a JSON string after its opening quote (unrolled-loop form, no
# backtracking blow-up).
_STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_COLON_AFTER = re.compile(r"[ \t\r\n]*:")
_FAST_PASSES = 128


def problem_codes(code_prefix: str) -> dict[str, str]:
    """Return :data:`PROBLEM_CODES` with every suffix spelled as ``<prefix>.<suffix>``."""
    return {f"{code_prefix}.{suffix}": text for suffix, text in PROBLEM_CODES.items()}


def json_pointer_escape(token: str) -> str:
    """Escape one reference token of a JSON pointer (RFC 6901: ``~`` and ``/``)."""
    return token.replace("~", "~0").replace("/", "~1")


class _NonFinite:
    """Placeholder the decoder hooks put where a non-finite number was."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal


class _Collector:
    """State shared by the decoder hooks of one :func:`load_json` call."""

    def __init__(self) -> None:
        # (the dict, the pairs it was built from) for objects with repeated
        # keys; holding the dict keeps its id unique until the walk is done.
        self.duplicates: list[tuple[dict[str, Any], list[tuple[str, Any]]]] = []
        self.non_finite = 0  # placeholders created

    def object_pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(pairs)
        if len(result) != len(pairs):
            self.duplicates.append((result, pairs))
        return result

    def constant(self, literal: str) -> _NonFinite:
        self.non_finite += 1
        return _NonFinite(literal)

    def float_value(self, literal: str) -> float | _NonFinite:
        value = float(literal)
        if math.isfinite(value):
            return value
        self.non_finite += 1
        return _NonFinite(literal)


def _byte_offset(text: str, char_index: int, base: int) -> int:
    return base + len(text[:char_index].encode("utf-8", "surrogatepass"))


def _depth_within(text: str, max_depth: int) -> bool:
    """Quick check, at C speed, that brackets nest at most ``max_depth`` deep.

    Strings and everything but brackets are dropped; each pass then removes
    the innermost ``[]`` pairs, which lowers the deepest nesting by exactly
    one. False means too deep, unbalanced or undecided (past
    ``_FAST_PASSES`` passes, to stay linear): :func:`_check_depth` decides.
    """
    stripped = _STRING.sub("", text).encode("utf-8", "surrogatepass")
    brackets = stripped.translate(None, _NOT_BRACKET_BYTES)
    brackets = brackets.replace(b"{", b"[").replace(b"}", b"]")
    for _ in range(min(max_depth, _FAST_PASSES)):
        if not brackets:
            return True
        reduced = brackets.replace(b"[]", b"")
        if len(reduced) == len(brackets):
            return False
        brackets = reduced
    return not brackets


def _check_depth(text: str, max_depth: int) -> int | None:
    """Return the index of the first bracket nested past ``max_depth``, if any.

    Strings are skipped so brackets inside them do not count; an unterminated
    string ends the scan (the decoder reports it). Runs in linear time and
    without recursion, but at Python speed: it is used only when
    :func:`_depth_within` fails.
    """
    depth = 0
    pos = 0
    search = _STRUCTURAL.search
    string_rest = _STRING_REST.match
    while True:
        match = search(text, pos)
        if match is None:
            return None
        char = match.group()
        if char == '"':
            end = string_rest(text, match.end())
            if end is None:
                return None
            pos = end.end()
            continue
        if char in "[{":
            depth += 1
            if depth > max_depth:
                return match.start()
        else:
            depth = max(depth - 1, 0)
        pos = match.end()


def _describe(value: _NonFinite) -> str:
    if value.literal in ("NaN", "Infinity", "-Infinity"):
        return f"{value.literal} is not a JSON number"
    shown = value.literal if len(value.literal) <= 40 else value.literal[:37] + "..."
    return f"number {shown} overflows a 64-bit float"


class _Sink:
    """Collects problems up to :data:`MAX_PROBLEMS`, counting the rest."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.dropped = 0

    @property
    def full(self) -> bool:
        return len(self.problems) >= MAX_PROBLEMS

    def add(self, code: str, message: str, pointer: str | None) -> None:
        if self.full:
            self.dropped += 1
        else:
            self.problems.append(Problem(code, message, pointer=pointer))

    def result(self, what: str, code_prefix: str) -> tuple[Problem, ...]:
        if self.dropped:
            self.problems.append(
                Problem(
                    f"{code_prefix}.too-many-problems",
                    f"{what}: {self.dropped} more problems were found but not recorded",
                )
            )
        return tuple(self.problems)


def _repeated(pairs: list[tuple[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key, _ in pairs:
        counts[key] = counts.get(key, 0) + 1
    return {key: n for key, n in counts.items() if n > 1}


def _entries(node: dict[str, Any] | list[Any]) -> Iterator[tuple[str | int, Any]]:
    return iter(node.items()) if isinstance(node, dict) else enumerate(node)


def _child(pointer: str, token: str | int) -> str:
    if isinstance(token, int):
        return f"{pointer}/{token}"
    return f"{pointer}/{json_pointer_escape(token)}"


def _walk(
    root: Any, collector: _Collector, what: str, code_prefix: str
) -> tuple[Any, tuple[Problem, ...]]:
    """Replace non-finite placeholders and locate duplicate keys, without recursion.

    Depth-first in document order; stops as soon as every placeholder is
    replaced and either every duplicate is located or no more problems can
    be recorded.
    """
    sink = _Sink()
    dup_pairs = {id(d): pairs for d, pairs in collector.duplicates}
    pending_non_finite = collector.non_finite
    nonfinite_code = f"{code_prefix}.non-finite-number"
    duplicate_code = f"{code_prefix}.duplicate-key"

    if isinstance(root, _NonFinite):
        sink.add(nonfinite_code, f"{what}: {_describe(root)}; read as null", "")
        return None, sink.result(what, code_prefix)

    def visit(node: dict[str, Any] | list[Any], pointer: str) -> None:
        pairs = dup_pairs.pop(id(node), None)
        if pairs is None:
            return
        for key, count in _repeated(pairs).items():
            sink.add(
                duplicate_code,
                f"{what}: key {key!r} appears {count} times in one object; the last value is kept",
                _child(pointer, key),
            )

    if not isinstance(root, (dict, list)):
        return root, ()
    visit(root, "")
    stack: list[tuple[str, Any, Iterator[tuple[str | int, Any]]]] = [("", root, _entries(root))]
    while stack and (pending_non_finite or (dup_pairs and not sink.full)):
        pointer, container, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        token, value = entry
        if isinstance(value, _NonFinite):
            container[token] = None
            pending_non_finite -= 1
            sink.add(
                nonfinite_code,
                f"{what}: {_describe(value)}; read as null",
                _child(pointer, token),
            )
        elif isinstance(value, (dict, list)) and value:
            child = _child(pointer, token)
            if isinstance(value, dict):
                visit(value, child)
            stack.append((child, value, _entries(value)))

    # Duplicates not reached: either the walk stopped with the sink full, or
    # their object was itself overwritten by a later duplicate key and is no
    # longer in the tree (reported without a pointer).
    for pairs in dup_pairs.values():
        if sink.full:
            sink.dropped += len(pairs) - len({key for key, _ in pairs})
            continue
        for key, count in _repeated(pairs).items():
            sink.add(
                duplicate_code,
                f"{what}: key {key!r} appears {count} times in an object that was "
                "itself replaced by a later duplicate key",
                None,
            )
    return root, sink.result(what, code_prefix)


def load_json(
    data: bytes,
    *,
    what: str,
    code_prefix: str,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> tuple[Any, tuple[Problem, ...]]:
    """Decode and parse one JSON document strictly and within bounds.

    Args:
        data: the whole file, already capped in size by the caller.
        what: a short name for messages (``"config.json"``).
        code_prefix: first part of every problem code (``"config"``).
        max_depth: deepest nesting of arrays and objects accepted.

    Returns:
        The parsed value (dicts, lists, str, int, float, bool, None) and the
        problems found on the way: duplicate keys (the last value is kept)
        and non-finite numbers (replaced by ``None``).

    Raises:
        FormatError: ``<prefix>.not-utf8``, ``<prefix>.bad-json`` or
            ``<prefix>.too-deep``, with a byte offset where one is known.
    """
    if max_depth < 0:
        raise ValueError("max_depth must be non-negative")
    base = 0
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
        base = len(_UTF8_BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"{code_prefix}.not-utf8",
            f"{what}: not UTF-8 (bad byte at offset {base + exc.start})",
            base + exc.start,
        ) from None

    too_deep_at = None if _depth_within(text, max_depth) else _check_depth(text, max_depth)
    if too_deep_at is not None:
        raise FormatError(
            f"{code_prefix}.too-deep",
            f"{what}: arrays/objects nest deeper than {max_depth} levels",
            _byte_offset(text, too_deep_at, base),
        )

    collector = _Collector()
    try:
        value = json.loads(
            text,
            object_pairs_hook=collector.object_pairs,
            parse_constant=collector.constant,
            parse_float=collector.float_value,
        )
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"{code_prefix}.bad-json",
            f"{what}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            _byte_offset(text, exc.pos, base),
        ) from None
    except RecursionError:
        raise FormatError(
            f"{code_prefix}.too-deep", f"{what}: arrays/objects nest too deeply"
        ) from None
    except ValueError as exc:  # e.g. an integer longer than Python's digit limit
        raise FormatError(f"{code_prefix}.bad-json", f"{what}: invalid JSON: {exc}") from None

    if not collector.duplicates and not collector.non_finite:
        return value, ()
    return _walk(value, collector, what, code_prefix)


def line_of_key(text: str, key: str) -> int | None:
    """Return the 1-based line of ``"key":`` in the top-level object of ``text``.

    Only keys of the outermost object count; keys of nested objects and
    strings that merely contain the key are ignored. When the key is
    repeated, the line of the last occurrence is returned, since that is the
    value a JSON reader keeps. Works on malformed text on a best-effort
    basis, without recursion; returns ``None`` when the key is not found or
    the top level is not an object.
    """
    depth = 0
    pos = 0
    top_is_object: bool | None = None
    found: int | None = None
    while True:
        match = _STRUCTURAL.search(text, pos)
        if match is None:
            break
        char = match.group()
        if char == '"':
            end = _STRING_REST.match(text, match.end())
            if end is None:
                break
            if depth == 1 and top_is_object and _COLON_AFTER.match(text, end.end()):
                try:
                    decoded = json.loads(text[match.start() : end.end()])
                except ValueError:
                    decoded = None
                if decoded == key:
                    found = match.start()
            pos = end.end()
            continue
        if char in "[{":
            if top_is_object is None:
                top_is_object = char == "{"
            depth += 1
        else:
            depth -= 1
            if depth <= 0:
                break
        pos = match.end()
    if found is None:
        return None
    return text.count("\n", 0, found) + 1
