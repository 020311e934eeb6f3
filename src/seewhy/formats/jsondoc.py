"""Strict, bounded JSON for attacker-controlled files.

:func:`load_json` turns the bytes of a small JSON file (``config.json``,
``generation_config.json``, ...) into Python values. It is stricter than
:func:`json.loads` where strictness is evidence and bounded where a hostile
file could otherwise exhaust the stack:

* before anything is decoded, a streaming pre-scan (linear time, constant
  memory, at C speed) measures the nesting depth and counts containers,
  keys, strings and values and the longest string; a document past
  ``max_depth`` or its :class:`JsonBounds` is refused with a ``too-deep``,
  ``too-many-values`` or ``string-too-long``
  :class:`~seewhy.errors.FormatError`, so neither megabytes of ``[`` nor
  millions of ``{}`` ever reach the decoder;
* the bytes must be UTF-8 (a leading BOM is dropped);
* duplicate object keys are kept the way Python keeps them (the last value
  wins) and each one is reported as a problem with its JSON pointer;
* ``NaN``, ``Infinity``, ``-Infinity`` and numbers too large for a float are
  not JSON: each is reported and replaced by ``None``.

Every code this module emits is ``<code_prefix>.<suffix>``; the suffixes are
the keys of :data:`PROBLEM_CODES`, and :func:`problem_codes` spells them out
for one prefix.

:func:`load_json_object` is the stricter loader of the safetensors header and
of shard indexes: the document must be one JSON object, ``NaN``/``Infinity``
and lone ``\\uD800``-style escapes are fatal, object members are capped, and
object keys can be located by byte offset (:class:`KeyOffsets`). Both loaders
share the pre-scan, the problem cap (:class:`ProblemSink`), JSON pointers
(:func:`json_pointer_escape`, :func:`json_pointer`), duplicate-key detection
and character-to-byte offsets.
"""

from __future__ import annotations

import bisect
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from seewhy.budget import checkpoint
from seewhy.errors import FormatError
from seewhy.formats.interface import Problem

__all__ = [
    "DEFAULT_BOUNDS",
    "DEFAULT_MAX_DEPTH",
    "HEADER_BOUNDS",
    "MAX_PROBLEMS",
    "PROBLEM_CODES",
    "JsonBounds",
    "JsonDocument",
    "JsonObject",
    "KeyOffsets",
    "ProblemSink",
    "brief",
    "json_pointer",
    "json_pointer_escape",
    "line_of_key",
    "load_json",
    "load_json_object",
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
    "too-many-values": "more arrays/objects, strings or values than the bounds (error; "
    "refused by the pre-scan before decoding)",
    "string-too-long": "a string longer than the bounds (error; refused before decoding)",
    "too-many-problems": "more problems than the cap; the rest were counted, not recorded",
}
"""Suffix of every code this module emits -> one-line description.

The emitted code is ``f"{code_prefix}.{suffix}"``; see :func:`problem_codes`.
"""

_UTF8_BOM = b"\xef\xbb\xbf"
_JSON_WS = b" \t\r\n"

# A whole JSON string in UTF-8 bytes (an escaped character may be any byte).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Every byte but a bracket: deleted to leave the bracket skeleton of a document.
_NOT_BRACKET_BYTES = bytes(b for b in range(256) if b not in b"[]{}")
# A structural character or the start of a string, outside strings.
_STRUCTURAL = re.compile(r'[\[\]{}"]')
# The rest of a JSON string after its opening quote (unrolled-loop form, no
# backtracking blow-up).
_STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_COLON_AFTER = re.compile(r"[ \t\r\n]*:")


def problem_codes(code_prefix: str) -> dict[str, str]:
    """Return :data:`PROBLEM_CODES` with every suffix spelled as ``<prefix>.<suffix>``."""
    return {f"{code_prefix}.{suffix}": text for suffix, text in PROBLEM_CODES.items()}


def json_pointer_escape(token: str) -> str:
    """Escape one reference token of a JSON pointer (RFC 6901: ``~`` and ``/``)."""
    return token.replace("~", "~0").replace("/", "~1")


def json_pointer(*parts: str) -> str:
    """RFC 6901 JSON pointer for a key path."""
    return "".join("/" + json_pointer_escape(p) for p in parts)


def _extra_keys(pairs: list[tuple[str, Any]]) -> list[str]:
    """Every key of ``pairs`` that repeats an earlier one, in document order."""
    seen: set[str] = set()
    extra: list[str] = []
    for key, _ in pairs:
        if key in seen:
            extra.append(key)
        seen.add(key)
    return extra


class ProblemSink:
    """Collects problems up to a cap, then counts the rest.

    The count becomes one ``<prefix>.too-many-problems`` problem; with
    ``what`` its message names the document (``"<what>: N more problems were
    found but not recorded"``), as :func:`load_json` reports it.
    """

    def __init__(self, prefix: str, cap: int, *, what: str | None = None) -> None:
        self._prefix, self._cap, self._what = prefix, cap, what
        self._items: list[Problem] = []
        self._dropped = 0

    @property
    def full(self) -> bool:
        """Whether the cap is reached (further problems are only counted)."""
        return len(self._items) >= self._cap

    def add(
        self,
        code: str,
        message: str,
        *,
        offset: int | None = None,
        pointer: str | None = None,
        excerpt: str | None = None,
    ) -> None:
        """Record a problem, or count it once the cap is reached."""
        if self.full:
            self._dropped += 1
            return
        self._items.append(Problem(code, message, offset, pointer, excerpt))

    def drop(self, count: int) -> None:
        """Count ``count`` problems that were found but are not recorded."""
        self._dropped += count

    def problems(self) -> tuple[Problem, ...]:
        """The problems recorded, plus one that counts those dropped."""
        if not self._dropped:
            return tuple(self._items)
        if self._what is None:
            message = f"{self._dropped} more problems were found and not recorded"
        else:
            message = f"{self._what}: {self._dropped} more problems were found but not recorded"
        return (*self._items, Problem(f"{self._prefix}.too-many-problems", message))


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


def _byte_index(text: str, raw: bytes, pos: int) -> int:
    """Byte index in ``raw`` of character ``pos`` of ``text`` (its UTF-8 decoding)."""
    if len(text) == len(raw):
        return pos
    return len(raw) - len(text[pos:].encode("utf-8", "surrogatepass"))


# --- the streaming pre-scan ------------------------------------------------------------


@dataclass(frozen=True)
class JsonBounds:
    """What a JSON document may hold before it is decoded (refused above these).

    Counted by a streaming pre-scan in linear time and constant memory, so a
    hostile document is refused before :func:`json.loads` builds it. The
    defaults are far above what configs, tokenizers, shard indexes and
    safetensors headers need (a header of a million tensors fits), and keep
    what the decoder may build within a few hundred MiB.
    """

    max_containers: int = 2_000_000
    """Arrays and objects."""
    max_strings: int = 4_000_000
    """Strings, object keys included."""
    max_values: int = 8_000_000
    """Array elements and object members (counted by their separators)."""
    max_string_bytes: int = 16 * 1024 * 1024
    """Bytes of the longest string (escapes counted as written)."""


DEFAULT_BOUNDS = JsonBounds()
"""Bounds of :func:`load_json` (configs, tokenizers, Keras configs)."""

HEADER_BOUNDS = JsonBounds(max_containers=1_000_000, max_strings=2_000_000, max_values=4_000_000)
"""Bounds of the safetensors header and of shard indexes."""


@dataclass(frozen=True)
class JsonShape:
    """What the pre-scan counted in a document it accepted."""

    depth: int
    containers: int
    keys: int
    strings: int
    values: int
    longest_string: int


class _Refused(Exception):
    """The pre-scan refuses the document: ``suffix`` names the problem code."""

    def __init__(self, suffix: str, message: str, index: int) -> None:
        super().__init__(message)
        self.suffix, self.message, self.index = suffix, message, index


# Non-quote runs and whole strings, possessively (no backtracking state): where
# it stops, before `endpos`, a string begins that does not end before it.
_SEGMENT = re.compile(rb'(?:[^"]++|"[^"\\]*+(?:\\.[^"\\]*+)*+")*+', re.DOTALL)
# A structural byte or the start of a string, and the rest of a string.
_STRUCTURAL_BYTES = re.compile(rb'[\[\]{}"]')
_STRING_REST_BYTES = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_WINDOW = 1 << 18
_OPENERS = frozenset(b"[{")


def _window_depth(brackets: bytes, depth: int, limit: int) -> tuple[int, int]:
    """Walk one window's brackets from ``depth``: (depth after, deepest reached).

    Stops as soon as the deepest passes ``limit``.
    """
    deepest = depth
    for c in brackets:
        if c in _OPENERS:
            depth += 1
            if depth > deepest:
                deepest = depth
                if depth > limit:
                    break
        elif depth:
            depth -= 1
    return depth, deepest


def _locate_too_deep(raw: bytes, pos: int, end: int, depth: int, limit: int) -> int:
    """Index in ``raw[pos:end]`` of the first bracket that nests past ``limit``."""
    search, string_rest = _STRUCTURAL_BYTES.search, _STRING_REST_BYTES.match
    while (m := search(raw, pos, end)) is not None:
        c = raw[m.start()]
        if c == 0x22:  # '"'
            rest = string_rest(raw, m.end(), end)
            if rest is None:
                break
            pos = rest.end()
            continue
        if c in _OPENERS:
            depth += 1
            if depth > limit:
                return m.start()
        elif depth:
            depth -= 1
        pos = m.end()
    return pos


def _prescan(
    raw: bytes, start: int, max_depth: int, max_keys: int | None, bounds: JsonBounds
) -> JsonShape:
    """Count the structure of the JSON text ``raw[start:]`` without decoding it.

    Linear, at C speed, and in constant memory: the text is read in windows
    whose strings are collapsed by a regex, whose whitespace is dropped, and
    whose brackets, keys and separators are then counted; a string that
    crosses a window's end is matched whole and measured. Nesting is carried
    across windows and walked byte by byte only in windows that could pass
    ``max_depth`` (few, since containers are capped). Raises :class:`_Refused`
    at the first bound passed; invalid JSON is left to the decoder.
    """
    n = len(raw)
    pos = start
    depth = deepest = containers = keys = strings = values = longest = 0
    after_string = False  # the last token was a string: a key if ':' comes next
    max_string = bounds.max_string_bytes
    window = max(1, min(_WINDOW, max_string))
    while pos < n:
        checkpoint()
        end = min(pos + window, n)
        stop = _SEGMENT.match(raw, pos, end)
        q = stop.end() if stop is not None else pos
        if q > pos:
            collapsed, found = _STRING.subn(b'"', raw[pos:q])
            sig = collapsed.translate(None, _JSON_WS)
            del collapsed
            strings += found
            keys += sig.count(b'":') + (1 if after_string and sig[:1] == b":" else 0)
            if sig:
                after_string = sig[-1:] == b'"'
            values += sig.count(b",")
            opens = sig.count(b"[") + sig.count(b"{")
            containers += opens
            if depth + opens > max_depth:
                entry = depth
                depth, reached = _window_depth(
                    sig.translate(None, _NOT_BRACKET_BYTES), depth, max_depth
                )
                if reached > max_depth:
                    raise _Refused(
                        "too-deep",
                        f"arrays/objects nest deeper than {max_depth} levels",
                        _locate_too_deep(raw, pos, q, entry, max_depth),
                    )
                deepest = max(deepest, reached)
            else:
                deepest = max(deepest, depth + opens)
                depth = max(depth + opens - sig.count(b"]") - sig.count(b"}"), 0)
            _check_counts(bounds, max_keys, pos, containers, keys, strings, values)
        if q < end:  # raw[q] opens a string that runs past this window
            whole = _STRING.match(raw, q)
            if whole is None:
                break  # unterminated: the decoder reports it
            size = whole.end() - q - 2
            if size > max_string:
                raise _Refused(
                    "string-too-long",
                    f"a string of {size:,} bytes is longer than the {max_string:,}-byte "
                    "limit (refused before decoding)",
                    q,
                )
            longest = max(longest, size)
            strings += 1
            after_string = True
            _check_counts(bounds, max_keys, q, containers, keys, strings, values)
            q = whole.end()
        pos = q
    return JsonShape(deepest, containers, keys, strings, values, longest)


def _check_counts(
    bounds: JsonBounds,
    max_keys: int | None,
    at: int,
    containers: int,
    keys: int,
    strings: int,
    values: int,
) -> None:
    if max_keys is not None and keys > max_keys:
        raise _Refused("too-many-keys", f"more than {max_keys:,} object members", at)
    for count, cap, what in (
        (containers, bounds.max_containers, "arrays and objects"),
        (strings, bounds.max_strings, "strings"),
        (values, bounds.max_values, "array elements and object members"),
    ):
        if count > cap:
            raise _Refused(
                "too-many-values",
                f"more than {cap:,} {what} (refused before decoding)",
                at,
            )


def _describe(value: _NonFinite) -> str:
    if value.literal in ("NaN", "Infinity", "-Infinity"):
        return f"{value.literal} is not a JSON number"
    shown = value.literal if len(value.literal) <= 40 else value.literal[:37] + "..."
    return f"number {shown} overflows a 64-bit float"


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
    sink = ProblemSink(code_prefix, MAX_PROBLEMS, what=what)
    dup_pairs = {id(d): pairs for d, pairs in collector.duplicates}
    pending_non_finite = collector.non_finite
    nonfinite_code = f"{code_prefix}.non-finite-number"
    duplicate_code = f"{code_prefix}.duplicate-key"

    if isinstance(root, _NonFinite):
        sink.add(nonfinite_code, f"{what}: {_describe(root)}; read as null", pointer="")
        return None, sink.problems()

    def visit(node: dict[str, Any] | list[Any], pointer: str) -> None:
        pairs = dup_pairs.pop(id(node), None)
        if pairs is None:
            return
        for key, count in _repeated(pairs).items():
            sink.add(
                duplicate_code,
                f"{what}: key {key!r} appears {count} times in one object; the last value is kept",
                pointer=_child(pointer, key),
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
                pointer=_child(pointer, token),
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
            sink.drop(len(_extra_keys(pairs)))
            continue
        for key, count in _repeated(pairs).items():
            sink.add(
                duplicate_code,
                f"{what}: key {key!r} appears {count} times in an object that was "
                "itself replaced by a later duplicate key",
            )
    return root, sink.problems()


def load_json(
    data: bytes,
    *,
    what: str,
    code_prefix: str,
    max_depth: int = DEFAULT_MAX_DEPTH,
    bounds: JsonBounds = DEFAULT_BOUNDS,
) -> tuple[Any, tuple[Problem, ...]]:
    """Decode and parse one JSON document strictly and within bounds.

    A streaming pre-scan (linear time, constant memory) checks nesting and
    ``bounds`` before anything is decoded, so a hostile document is refused
    without being built.

    Args:
        data: the whole file, already capped in size by the caller.
        what: a short name for messages (``"config.json"``).
        code_prefix: first part of every problem code (``"config"``).
        max_depth: deepest nesting of arrays and objects accepted.
        bounds: most containers, strings, values and longest string accepted.

    Returns:
        The parsed value (dicts, lists, str, int, float, bool, None) and the
        problems found on the way: duplicate keys (the last value is kept)
        and non-finite numbers (replaced by ``None``).

    Raises:
        FormatError: ``<prefix>.not-utf8``, ``<prefix>.bad-json``,
            ``<prefix>.too-deep``, ``<prefix>.too-many-values`` or
            ``<prefix>.string-too-long``, with a byte offset where one is known.
    """
    if max_depth < 0:
        raise ValueError("max_depth must be non-negative")
    base = 0
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
        base = len(_UTF8_BOM)
    try:
        _prescan(data, 0, max_depth, None, bounds)
    except _Refused as refused:
        raise FormatError(
            f"{code_prefix}.{refused.suffix}", f"{what}: {refused.message}", base + refused.index
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"{code_prefix}.not-utf8",
            f"{what}: not UTF-8 (bad byte at offset {base + exc.start})",
            base + exc.start,
        ) from None

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
            base + _byte_index(text, data, exc.pos),
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


# --- one JSON object with byte offsets (safetensors headers, shard indexes) -------------


class JsonObject(dict[str, object]):
    """A decoded JSON object that remembers the keys it saw more than once."""

    __slots__ = ("duplicates",)

    def __init__(self, pairs: list[tuple[str, object]]) -> None:
        super().__init__(pairs)
        self.duplicates: list[str] = []


class _TooManyKeys(Exception):
    pass


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


# A maximal run of backslashes then 'u' and a UTF-16 surrogate (D800-DFFF).
_SURROGATE_ESCAPE = re.compile(rb"(?<!\\)(\\+)u([dD][89a-fA-F][0-9a-fA-F]{2})")


def _lone_surrogate(raw: bytes) -> int | None:
    """Byte index of the first ``\\uD8xx``-style escape that is not half of a pair."""
    if b"\\u" not in raw:
        return None
    pending: int | None = None  # an unpaired high surrogate escape...
    pending_end = -1  # ...and where it ends
    for m in _SURROGATE_ESCAPE.finditer(raw):
        if len(m.group(1)) % 2 == 0:
            continue  # escaped backslashes, then a literal 'u'
        at = m.end(1) - 1
        low = int(m.group(2), 16) >= 0xDC00
        if pending is not None:
            if low and at == pending_end:
                pending = None
                continue
            return pending
        if not low:
            pending, pending_end = at, m.end()
        else:
            return at
    return pending


@dataclass(frozen=True)
class JsonDocument:
    """A JSON object decoded from ``raw`` (which sits at file offset ``base``).

    ``start``/``end`` are byte indexes of the object in ``raw``;
    ``duplicate_objects`` every object (at any depth) that repeated a key.
    """

    raw: bytes
    base: int
    value: JsonObject
    start: int
    end: int
    duplicate_objects: tuple[JsonObject, ...]
    keys: KeyOffsets


def load_json_object(
    raw: bytes,
    base: int,
    code: str,
    max_keys: int,
    max_depth: int,
    bounds: JsonBounds = HEADER_BOUNDS,
) -> JsonDocument:
    """Decode the JSON object at the start of ``raw`` (after optional whitespace).

    What follows the object is left to the caller. Raises FormatError with
    codes ``{code}-not-utf8``, ``-not-json``, ``-not-object``, ``-too-deep``,
    ``-too-many-keys``, ``-too-many-values`` and ``-string-too-long``;
    offsets are file offsets (``base`` + index). Nesting, keys and ``bounds``
    are checked by a streaming pre-scan before anything is decoded.
    """
    try:
        _prescan(raw, 0, max_depth, max_keys, bounds)
    except _Refused as refused:
        at = base + refused.index
        raise FormatError(f"{code}-{refused.suffix}", refused.message, at) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"{code}-not-utf8",
            f"invalid UTF-8 at byte {base + exc.start}",
            base + exc.start,
        ) from None
    bad = _lone_surrogate(raw)
    if bad is not None:
        raise FormatError(
            f"{code}-not-json",
            "a \\u escape is half of a UTF-16 surrogate pair",
            base + bad,
        )
    start = len(raw) - len(raw.lstrip(_JSON_WS))
    count = 0
    duplicates: list[JsonObject] = []

    def hook(pairs: list[tuple[str, object]]) -> JsonObject:
        nonlocal count
        count += len(pairs)
        if count > max_keys:
            raise _TooManyKeys
        obj = JsonObject(pairs)
        if len(obj) != len(pairs):
            obj.duplicates.extend(_extra_keys(pairs))
            duplicates.append(obj)
        return obj

    decoder = json.JSONDecoder(object_pairs_hook=hook, parse_constant=_reject_constant)
    try:
        value, end_char = decoder.raw_decode(text, start)
    except _TooManyKeys:
        raise FormatError(
            f"{code}-too-many-keys", f"more than {max_keys} object members", base
        ) from None
    except RecursionError:
        raise FormatError(f"{code}-too-deep", "JSON nested too deeply to parse", base) from None
    except json.JSONDecodeError as exc:
        at = _byte_index(text, raw, exc.pos)
        raise FormatError(
            f"{code}-not-json",
            f"invalid JSON at byte {base + at}: {exc.msg}",
            base + at,
        ) from None
    except ValueError as exc:  # NaN/Infinity, or an integer too long to convert
        raise FormatError(f"{code}-not-json", f"invalid JSON: {exc}", base) from None
    if not isinstance(value, JsonObject):
        raise FormatError(
            f"{code}-not-object",
            f"JSON is {type(value).__name__ if value is not None else 'null'}, not an object",
            base + start,
        )
    end = _byte_index(text, raw, end_char)
    return JsonDocument(
        raw, base, value, start, end, tuple(duplicates), KeyOffsets(raw, base, start, end)
    )


# Skips (atomically) text and strings that are not keys, then matches one key
# (group 1: its body) or one brace (group 2).
_KEY_TOKEN = re.compile(
    rb'(?>[^"{}]++|"[^"\\]*+(?:\\.[^"\\]*+)*+"(?![ \t\r\n]*:))*+'
    rb'(?:"([^"\\]*+(?:\\.[^"\\]*+)*+)"[ \t\r\n]*:|([{}]))'
)


class KeyOffsets:
    """File offsets of object keys at depth 1 and 2 of a JSON object, found on demand.

    A path is ``(key,)`` for a key of the top object or ``(key, child)`` for a
    key of an object inside that key's (last) value. The top keys are found
    with one scan the first time anything is asked (only problems need
    offsets); a key's children with a scan of its value alone.
    """

    def __init__(self, raw: bytes, base: int, start: int, end: int) -> None:
        self._raw, self._base, self._start, self._end = raw, base, start, end
        self._top: dict[str, list[int]] | None = None
        self._order: list[int] = []  # every top key's index, in order
        self._children: dict[str, dict[str, list[int]]] = {}

    def offset(self, path: tuple[str] | tuple[str, str], nth: int = -1) -> int | None:
        """File offset of the ``nth`` occurrence of the key at ``path`` (default the last)."""
        if self._top is None:
            self._top = self._scan(self._start, self._end, depth=0, want=1)
            self._order = sorted(i for found in self._top.values() for i in found)
        top, child = path[0], path[-1]
        found = self._top.get(top) if len(path) == 1 else self._child_keys(top).get(child)
        if not found or not -len(found) <= nth < len(found):
            return None
        return self._base + found[nth]

    def _child_keys(self, key: str) -> dict[str, list[int]]:
        assert self._top is not None
        if key not in self._children:
            found = self._top.get(key)
            children: dict[str, list[int]] = {}
            if found:
                at = found[-1]
                after = bisect.bisect_right(self._order, at)
                stop = self._order[after] if after < len(self._order) else self._end
                children = self._scan(at, stop, depth=1, want=2)
            self._children[key] = children
        return self._children[key]

    def _scan(self, start: int, stop: int, *, depth: int, want: int) -> dict[str, list[int]]:
        """Keys at depth ``want`` between ``start`` (at ``depth``) and ``stop``."""
        keys: dict[str, list[int]] = {}
        for m in _KEY_TOKEN.finditer(self._raw, start, stop):
            brace = m.group(2)
            if brace is not None:
                depth += 1 if brace == b"{" else -1
            elif depth == want:
                body = m.group(1)
                key = json.loads(b'"' + body + b'"') if b"\\" in body else body.decode()
                keys.setdefault(key, []).append(m.start(1) - 1)
        return keys


_BRIEF = 60
_SCALARS = (str, int, float, type(None))


def brief(value: object) -> str:
    """A short, safe rendering of a JSON value for messages and excerpts (never recursive)."""
    text: str
    if isinstance(value, str):
        text = json.dumps(value[:_BRIEF])
    elif isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, int):
        text = str(value) if value.bit_length() < 256 else f"<{value.bit_length()}-bit integer>"
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, list):
        if len(value) <= 8 and all(isinstance(v, _SCALARS) for v in value):
            text = "[" + ", ".join(brief(v) for v in value) + "]"
        else:
            text = f"<list of {len(value)} items>"
    elif isinstance(value, dict):
        text = f"<object with {len(value)} keys>"
    else:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _BRIEF + 2 else text[:_BRIEF] + "…"
