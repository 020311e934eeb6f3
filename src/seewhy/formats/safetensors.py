"""Safetensors: the header of a ``.safetensors`` file, checked by the format's own rules.

A safetensors file is an 8-byte little-endian header length ``N``, ``N`` bytes
of UTF-8 JSON, then the data section. The JSON maps each tensor name to
``{"dtype", "shape", "data_offsets": [start, end]}`` (offsets relative to the
data section) plus an optional ``"__metadata__"`` map of strings to strings.
The rules here follow the reference loader (huggingface/safetensors,
``tensor.rs``): ``N`` at most 100,000,000 and inside the file, a header that
starts with ``{``, known dtypes, byte ranges that tile the data section from 0
with no hole or overlap, each as long as its shape and dtype say, and a data
section that ends exactly at the end of the file.

The parser reads the 8 + ``N`` header bytes and nothing of the tensor data.
What it cannot get past (a header it cannot read as a JSON object) raises
:class:`~seewhy.errors.FormatError`; everything else is a :class:`Problem`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from seewhy.errors import FormatError
from seewhy.formats.interface import Problem, Source, read_exact
from seewhy.formats.jsondoc import (
    HEADER_BOUNDS,
    JsonBounds,
    JsonDocument,
    JsonObject,
    ProblemSink,
    brief,
    json_pointer,
    load_json_object,
)

FORMAT_MAX_HEADER = 100_000_000
"""The reference loader's limit on the header length, in bytes."""

MAX_KEYS = 4_000_000
"""Default cap on JSON object members in one header (about a million tensors)."""

MAX_DEPTH = 16
"""Default cap on JSON nesting (a valid header nests 3 deep)."""

MAX_PROBLEMS = 1000
"""Default cap on problems recorded for one file; the rest are counted."""

U64_MAX = 2**64 - 1

DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E5M2FNUZ": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "F64": 64,
    "C64": 64,
    "I64": 64,
    "U64": 64,
}
"""Every dtype the format defines, with the width of one element in bits."""

_FIELDS = ("dtype", "shape", "data_offsets")
_FIELD_SET = frozenset(_FIELDS)
_METADATA_KEY = "__metadata__"

PROBLEM_CODES: dict[str, str] = {
    # Fatal: raised as FormatError.
    "safetensors.file-too-small": "file is shorter than the 8-byte header length",
    "safetensors.short-read": "the file returned fewer bytes than its size promised",
    "safetensors.header-too-large": "header length is above the 100,000,000-byte limit",
    "safetensors.header-length-exceeds-file": "header length runs past the end of the file",
    "safetensors.header-not-utf8": "header bytes are not valid UTF-8",
    "safetensors.header-not-json": "header is not valid JSON",
    "safetensors.header-not-object": "header JSON is not an object",
    "safetensors.header-too-deep": "header JSON is nested too deeply to parse safely",
    "safetensors.header-too-many-keys": "header JSON has more object members than the cap",
    "safetensors.header-too-many-values": "header JSON has more containers, strings or values "
    "than the bounds (refused by the pre-scan before decoding)",
    "safetensors.header-string-too-long": "a header JSON string is longer than the bounds",
    # Non-fatal: Problem records.
    "safetensors.header-start": "header does not start with '{' as the format requires",
    "safetensors.header-padding": "header is padded with whitespace other than spaces (0x20)",
    "safetensors.header-trailing-data": "header has non-whitespace bytes after its JSON object",
    "safetensors.duplicate-key": "a JSON object in the header repeats a key; the last one wins",
    "safetensors.metadata-not-object": "__metadata__ is not an object of strings",
    "safetensors.metadata-value-not-string": "a __metadata__ value is not a string",
    "safetensors.entry-not-object": "a tensor entry is not a JSON object",
    "safetensors.entry-missing-field": "a tensor entry lacks dtype, shape or data_offsets",
    "safetensors.entry-unknown-field": "a tensor entry has fields the format does not define",
    "safetensors.unknown-dtype": "a tensor's dtype is not one the format defines",
    "safetensors.bad-shape": "a tensor's shape is not a list of integers in [0, 2**64)",
    "safetensors.bad-offsets": "data_offsets is not [start, end] of integers in [0, 2**64)",
    "safetensors.offsets-reversed": "a tensor's data_offsets start is after its end",
    "safetensors.shape-overflow": "a tensor's element or bit count overflows 64 bits",
    "safetensors.misaligned-size": "a sub-byte dtype tensor does not end on a byte boundary",
    "safetensors.size-mismatch": "a byte range differs from shape x dtype width",
    "safetensors.hole": "bytes of the data section belong to no tensor",
    "safetensors.overlap": "a tensor's byte range overlaps another's",
    "safetensors.trailing-bytes": "bytes follow the data section (polyglot or appended payload)",
    "safetensors.truncated": "the file ends before the data section the header describes",
    "safetensors.too-many-problems": "more problems than the cap; the rest were only counted",
}
"""Every code this module emits, raised or recorded, with a one-line description."""


@dataclass(frozen=True)
class SafetensorsTensor:
    """One tensor as the header describes it; ``start``/``end`` are data-section offsets."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int
    n_elements: int

    @property
    def nbytes(self) -> int:
        """Length of the tensor's byte range."""
        return self.end - self.start


@dataclass(frozen=True)
class SafetensorsInfo:
    """What the header of a safetensors file says, and what is wrong with it.

    ``tensors`` holds every entry with a usable shape and byte range (an
    unknown dtype string is kept as written), ordered by offset then name.
    ``data_start`` is the file offset of the data section (8 + header length).
    """

    header_length: int
    metadata: dict[str, str]
    tensors: tuple[SafetensorsTensor, ...]
    data_start: int
    problems: tuple[Problem, ...]

    @property
    def parameter_count(self) -> int:
        """Sum of the element counts of all tensors."""
        return sum(t.n_elements for t in self.tensors)

    @property
    def parameters_by_dtype(self) -> dict[str, int]:
        """Element counts summed per dtype."""
        counts: dict[str, int] = {}
        for t in self.tensors:
            counts[t.dtype] = counts.get(t.dtype, 0) + t.n_elements
        return counts


def parse_safetensors(
    source: Source,
    *,
    max_header: int = FORMAT_MAX_HEADER,
    max_keys: int = MAX_KEYS,
    max_depth: int = MAX_DEPTH,
    max_problems: int = MAX_PROBLEMS,
    bounds: JsonBounds = HEADER_BOUNDS,
) -> SafetensorsInfo:
    """Parse and check the header of a safetensors file.

    Reads exactly 8 + ``N`` bytes; the header length is checked against
    ``max_header`` and the file size before anything else is read.
    Raises :class:`FormatError` (codes ``safetensors.*``) when the header
    cannot be read as a JSON object; records every other problem.
    """
    size = source.size
    if size < 8:
        raise FormatError("safetensors.file-too-small", f"file is {size} bytes, shorter than 8", 0)
    prefix = read_exact(source, 0, 8, "header length", "safetensors.short-read")
    (n,) = struct.unpack("<Q", prefix)
    if n > max_header:
        raise FormatError(
            "safetensors.header-too-large",
            f"header length {n} is above the limit of {max_header} bytes",
            0,
        )
    if n > size - 8:
        raise FormatError(
            "safetensors.header-length-exceeds-file",
            f"header length {n} runs past the end of the file ({size - 8} bytes after it)",
            0,
        )
    raw = read_exact(source, 8, n, "header", "safetensors.short-read")
    sink = ProblemSink("safetensors", max_problems)
    doc = load_json_object(raw, 8, "safetensors.header", max_keys, max_depth, bounds)
    _check_header_edges(doc, sink)
    root = doc.value
    data_start = 8 + n

    visited: set[int] = {id(root)}
    for key, nth in _repeats(root.duplicates):
        sink.add(
            "safetensors.duplicate-key",
            f"the header names {brief(key)} more than once; the last one wins",
            offset=doc.keys.offset((key,), nth),
            pointer=json_pointer(key),
        )

    metadata = _read_metadata(root, doc, sink, visited)

    tensors: list[SafetensorsTensor] = []
    claimed: list[tuple[int, int, str]] = []
    for name, entry in root.items():
        if name != _METADATA_KEY:
            _read_entry(name, entry, doc, sink, visited, tensors, claimed)

    for obj in doc.duplicate_objects:
        if id(obj) not in visited:
            sink.add(
                "safetensors.duplicate-key",
                f"an object nested inside a header value repeats {brief(obj.duplicates[0])}",
                offset=8,
            )

    data_end = _check_layout(claimed, data_start, sink)
    expected = data_start + data_end
    if size > expected:
        sink.add(
            "safetensors.trailing-bytes",
            f"{size - expected} bytes follow the end of the data section at offset {expected}",
            offset=expected,
        )
    elif size < expected:
        sink.add(
            "safetensors.truncated",
            f"the data section should end at offset {expected} but the file has {size} bytes",
            offset=size,
        )

    tensors.sort(key=lambda t: (t.start, t.end, t.name))
    return SafetensorsInfo(
        header_length=n,
        metadata=metadata,
        tensors=tuple(tensors),
        data_start=data_start,
        problems=sink.problems(),
    )


# --- the tensor entries ----------------------------------------------------------------


def _read_metadata(
    root: JsonObject, doc: JsonDocument, sink: ProblemSink, visited: set[int]
) -> dict[str, str]:
    """The ``__metadata__`` map, keeping string values only."""
    metadata: dict[str, str] = {}
    value = root.get(_METADATA_KEY)
    if value is None:  # absent, or null (the reference loader reads null as "none")
        return metadata
    if not isinstance(value, JsonObject):
        sink.add(
            "safetensors.metadata-not-object",
            "__metadata__ must be an object of strings",
            offset=doc.keys.offset((_METADATA_KEY,)),
            pointer=json_pointer(_METADATA_KEY),
            excerpt=brief(value),
        )
        return metadata
    visited.add(id(value))
    for key, nth in _repeats(value.duplicates):
        sink.add(
            "safetensors.duplicate-key",
            f"__metadata__ names {brief(key)} more than once; the last one wins",
            offset=doc.keys.offset((_METADATA_KEY, key), nth),
            pointer=json_pointer(_METADATA_KEY, key),
        )
    for key, item in value.items():
        if isinstance(item, str):
            metadata[key] = item
        else:
            sink.add(
                "safetensors.metadata-value-not-string",
                f"__metadata__ value for {brief(key)} is not a string",
                offset=doc.keys.offset((_METADATA_KEY, key)),
                pointer=json_pointer(_METADATA_KEY, key),
                excerpt=brief(item),
            )
    return metadata


def _read_entry(
    name: str,
    entry: object,
    doc: JsonDocument,
    sink: ProblemSink,
    visited: set[int],
    tensors: list[SafetensorsTensor],
    claimed: list[tuple[int, int, str]],
) -> None:
    """Check one tensor entry; append it to ``tensors`` and its range to ``claimed``."""

    def report(code: str, detail: str, field: str | None = None, *, quote: bool = True) -> None:
        _entry_problem(doc, sink, name, entry, code, detail, field, quote=quote)

    if not isinstance(entry, JsonObject):
        report("safetensors.entry-not-object", "is not described by an object")
        return
    visited.add(id(entry))

    for key, nth in _repeats(entry.duplicates):
        sink.add(
            "safetensors.duplicate-key",
            f"tensor {brief(name)} names {brief(key)} more than once; the last one wins",
            offset=doc.keys.offset((name, key), nth),
            pointer=json_pointer(name, key),
        )
    if entry.keys() != _FIELD_SET:
        missing = [f for f in _FIELDS if f not in entry]
        if missing:
            report("safetensors.entry-missing-field", f"lacks {', '.join(missing)}", quote=False)
        extra = [k for k in entry if k not in _FIELDS]
        if extra:
            more = f" and {len(extra) - 5} more" if len(extra) > 5 else ""
            names = ", ".join(brief(k) for k in extra[:5])
            report(
                "safetensors.entry-unknown-field",
                f"has fields the format does not define: {names}{more}",
                extra[0],
            )

    dtype = entry.get("dtype")
    bits = DTYPE_BITS.get(dtype) if isinstance(dtype, str) else None
    if bits is None and "dtype" in entry:
        report("safetensors.unknown-dtype", "has a dtype the format does not define", "dtype")

    shape = _u64_list(entry.get("shape"))
    if shape is None and "shape" in entry:
        report("safetensors.bad-shape", "has a shape that is not integers in [0, 2**64)", "shape")

    offsets = _u64_list(entry.get("data_offsets"))
    span: tuple[int, int] | None = None
    if offsets is not None and len(offsets) == 2:
        if offsets[0] <= offsets[1]:
            span = (offsets[0], offsets[1])
            claimed.append((offsets[0], offsets[1], name))
        else:
            detail = f"starts at {offsets[0]}, after its end {offsets[1]}"
            report("safetensors.offsets-reversed", detail, "data_offsets")
    elif "data_offsets" in entry:
        detail = "has data_offsets that are not [start, end] integers in [0, 2**64)"
        report("safetensors.bad-offsets", detail, "data_offsets")

    # Element and bit counts with the reference loader's checked arithmetic.
    n_elements = None if shape is None else _checked_product(shape)
    if shape is not None and n_elements is None:
        report("safetensors.shape-overflow", "has more elements than fit in 64 bits", "shape")
    if n_elements is not None and bits is not None and span is not None:
        nbits = n_elements * bits
        nbytes = span[1] - span[0]
        if nbits > U64_MAX:
            report("safetensors.shape-overflow", "has more bits than fit in 64 bits", "shape")
        elif nbits % 8:
            detail = f"is {n_elements} x {dtype} = {nbits} bits, not whole bytes"
            report("safetensors.misaligned-size", detail, "shape")
        elif nbits // 8 != nbytes:
            detail = (
                f"is {n_elements} x {dtype} = {nbits // 8} bytes but its data range holds {nbytes}"
            )
            report("safetensors.size-mismatch", detail, "data_offsets")

    if isinstance(dtype, str) and shape is not None and n_elements is not None and span:
        tensors.append(SafetensorsTensor(name, dtype, tuple(shape), span[0], span[1], n_elements))


def _entry_problem(
    doc: JsonDocument,
    sink: ProblemSink,
    name: str,
    entry: object,
    code: str,
    detail: str,
    field: str | None,
    *,
    quote: bool,
) -> None:
    """Record a problem with tensor ``name``; offsets and excerpts are worked out only here."""
    found = None if field is None else doc.keys.offset((name, field))
    value = entry.get(field) if field is not None and isinstance(entry, dict) else entry
    sink.add(
        code,
        f"tensor {brief(name)} {detail}",
        offset=doc.keys.offset((name,)) if found is None else found,
        pointer=json_pointer(name) if field is None else json_pointer(name, field),
        excerpt=brief(value) if quote else None,
    )


def _check_layout(claimed: list[tuple[int, int, str]], data_start: int, sink: ProblemSink) -> int:
    """Report holes and overlaps between byte ranges; return where the data ends."""
    claimed.sort()
    reach = 0  # how far the ranges seen so far cover the data section
    reach_name = ""
    for start, end, name in claimed:
        if start > reach:
            where = "at its start" if reach == 0 else f"after {brief(reach_name)}"
            sink.add(
                "safetensors.hole",
                f"{start - reach} bytes of the data section at [{reach}, {start}) "
                f"belong to no tensor ({where})",
                offset=data_start + reach,
                pointer=json_pointer(name),
            )
        elif start < reach:
            sink.add(
                "safetensors.overlap",
                f"tensor {brief(name)} at [{start}, {end}) overlaps {brief(reach_name)}, "
                f"which reaches {reach}",
                offset=data_start + start,
                pointer=json_pointer(name),
            )
        if end > reach or not reach_name:
            reach, reach_name = max(reach, end), name
    return reach


def _u64_list(value: object) -> list[int] | None:
    """``value`` if it is a list of integers in [0, 2**64), else None."""
    if not isinstance(value, list):
        return None
    out: list[int] = []
    for item in value:
        if type(item) is not int or not 0 <= item <= U64_MAX:
            return None
        out.append(item)
    return out


def _checked_product(dims: list[int]) -> int | None:
    """Product of ``dims`` from 1, or None once a partial product leaves u64 (checked_mul)."""
    total = 1
    for d in dims:
        total *= d
        if total > U64_MAX:
            return None
    return total


def _repeats(keys: list[str]) -> list[tuple[str, int]]:
    """Each repeated key with its occurrence index (1 for the second, 2 for the third...)."""
    seen: dict[str, int] = {}
    out = []
    for key in keys:
        seen[key] = seen.get(key, 0) + 1
        out.append((key, seen[key]))
    return out


def _check_header_edges(doc: JsonDocument, sink: ProblemSink) -> None:
    """Problems with what comes before and after the JSON object in the header."""
    raw = doc.raw
    if doc.start > 0:
        sink.add(
            "safetensors.header-start",
            "the header starts with whitespace, not '{'",
            offset=doc.base,
            excerpt=repr(raw[:16]),
        )
    tail = raw[doc.end :]
    if not tail.strip(b" "):
        return
    stripped = tail.lstrip(b" \t\r\n")
    if stripped:
        at = doc.end + len(tail) - len(stripped)
        sink.add(
            "safetensors.header-trailing-data",
            f"{len(stripped)} bytes after the header's JSON object are not whitespace",
            offset=doc.base + at,
            excerpt=repr(raw[at : at + 32]),
        )
    else:
        at = doc.end + len(tail) - len(tail.lstrip(b" "))
        sink.add(
            "safetensors.header-padding",
            "the header is padded with whitespace other than spaces",
            offset=doc.base + at,
            excerpt=repr(raw[at : at + 16]),
        )
