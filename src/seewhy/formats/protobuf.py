"""A minimal, bounded reader of the protobuf wire format.

ONNX models and TensorFlow SavedModels are protobuf messages, and both can
be gigabytes long: ONNX keeps tensor bytes inline in ``raw_data`` fields.
:class:`ProtoReader` walks a message straight from a
:class:`~seewhy.formats.interface.Source` without the protobuf runtime and
without reading what the caller does not ask for:

* :meth:`ProtoReader.fields` yields one :class:`Field` per field of a
  message range: varints and fixed-width values decoded, length-delimited
  values as an offset and a length only, so that a multi-gigabyte
  ``raw_data`` payload costs one varint of reading;
* every length is checked against the end of the enclosing message (and so
  the file) before anything is read or allocated;
* nesting deeper than :attr:`ProtoLimits.max_depth` and more fields than
  :attr:`ProtoLimits.max_fields` stop the walk with a
  :class:`~seewhy.errors.FormatError`, as do malformed varints, tags and
  groups. The codes are the keys of :data:`PROBLEM_CODES`.

Deprecated groups (wire types 3 and 4) are skipped the way protobuf skips
unknown fields; a field whose wire type does not match its schema is the
caller's to judge (protobuf keeps it as an unknown field).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from seewhy.errors import FormatError
from seewhy.formats.interface import Source

__all__ = [
    "DEFAULT_LIMITS",
    "PROBLEM_CODES",
    "WIRE_END_GROUP",
    "WIRE_FIXED32",
    "WIRE_FIXED64",
    "WIRE_LEN",
    "WIRE_START_GROUP",
    "WIRE_VARINT",
    "Field",
    "ProtoLimits",
    "ProtoReader",
    "encode_field",
    "encode_varint",
]

WIRE_VARINT = 0
"""Wire type 0: a base-128 varint (int32, int64, uint*, sint*, bool, enum)."""
WIRE_FIXED64 = 1
"""Wire type 1: eight little-endian bytes (fixed64, sfixed64, double)."""
WIRE_LEN = 2
"""Wire type 2: a varint length, then that many bytes (strings, bytes, messages)."""
WIRE_START_GROUP = 3
"""Wire type 3: start of a (deprecated) group."""
WIRE_END_GROUP = 4
"""Wire type 4: end of a (deprecated) group."""
WIRE_FIXED32 = 5
"""Wire type 5: four little-endian bytes (fixed32, sfixed32, float)."""

PROBLEM_CODES: dict[str, str] = {
    "protobuf.truncated": "A length or fixed-width value runs past the end of its message or "
    "of the file.",
    "protobuf.bad-varint": "A varint is longer than ten bytes or overflows 64 bits.",
    "protobuf.bad-tag": "A field tag has field number 0 or a number above 2^29 - 1.",
    "protobuf.bad-wire-type": "A field tag uses wire type 6 or 7, which do not exist.",
    "protobuf.bad-group": "A group end without its start, or a group that is never closed.",
    "protobuf.too-deep": "Messages nest deeper than the reader's cap.",
    "protobuf.too-many-fields": "The file holds more fields than the reader's cap.",
}
"""Every error code this module raises, with a one-line description."""

_MAX_FIELD_NUMBER = (1 << 29) - 1
_MAX_VARINT_BYTES = 10
_U64 = (1 << 64) - 1
_BLOCK = 64 * 1024


@dataclass(frozen=True)
class ProtoLimits:
    """Caps that keep a walk bounded on hostile input."""

    max_depth: int = 100
    """Deepest message nesting (the top-level message is depth 0)."""
    max_fields: int = 20_000_000
    """Most fields (at any depth) one reader decodes before giving up."""


DEFAULT_LIMITS = ProtoLimits()
"""The limits :class:`ProtoReader` uses unless told otherwise."""


@dataclass(frozen=True)
class Field:
    """One field of a message as it appears on the wire.

    ``offset`` is the byte offset of the field's tag. For varint and fixed
    wire types ``value`` is the decoded unsigned value and ``start`` the
    offset of its bytes; for length-delimited fields ``value`` is the
    payload length and ``start`` the offset of the payload, which has not
    been read.
    """

    number: int
    wire_type: int
    offset: int
    value: int
    start: int

    @property
    def is_len(self) -> bool:
        """Whether the field is length-delimited (string, bytes or message)."""
        return self.wire_type == WIRE_LEN

    @property
    def is_varint(self) -> bool:
        """Whether the field is a varint."""
        return self.wire_type == WIRE_VARINT

    @property
    def end(self) -> int:
        """One past the last byte of a length-delimited payload (``start`` otherwise)."""
        return self.start + self.value if self.wire_type == WIRE_LEN else self.start

    @property
    def as_int64(self) -> int:
        """The value read as a two's-complement int64 (int32/int64 fields)."""
        return self.value - (1 << 64) if self.value >= 1 << 63 else self.value


class ProtoReader:
    """Walks protobuf messages in a :class:`Source` with bounded reads.

    One reader keeps a small read-ahead block, so decoding many small
    fields costs few reads; payloads the caller skips are never read.
    """

    def __init__(self, source: Source, limits: ProtoLimits = DEFAULT_LIMITS) -> None:
        self.source = source
        self.limits = limits
        self.fields_read = 0
        self._buf = b""
        self._buf_start = 0

    @property
    def size(self) -> int:
        """Length of the underlying source."""
        return self.source.size

    # ------------------------------------------------------------ raw bytes

    def _fetch(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset``, through the read-ahead block."""
        buf_end = self._buf_start + len(self._buf)
        if self._buf_start <= offset and offset + length <= buf_end:
            start = offset - self._buf_start
            return self._buf[start : start + length]
        if length > _BLOCK:
            return self.source.read_at(offset, length)
        self._buf = self.source.read_at(offset, _BLOCK)
        self._buf_start = offset
        return self._buf[:length]

    def read_bytes(self, field: Field, limit: int) -> bytes:
        """The first ``min(limit, length)`` payload bytes of a length-delimited field."""
        if field.wire_type != WIRE_LEN:
            raise ValueError("read_bytes needs a length-delimited field")
        length = min(field.value, max(limit, 0))
        data = self._fetch(field.start, length)
        if len(data) != length:
            raise FormatError(
                "protobuf.truncated",
                f"field {field.number}: short read of {length} bytes at offset {field.start}",
                field.start,
            )
        return data

    def read_text(self, field: Field, limit: int) -> tuple[str, bool]:
        """A string field as text (invalid UTF-8 replaced) and whether it was cut at ``limit``."""
        data = self.read_bytes(field, limit)
        return data.decode("utf-8", "replace"), field.value > len(data)

    # ------------------------------------------------------------ decoding

    def _varint(self, pos: int, end: int) -> tuple[int, int]:
        """Decode a varint at ``pos`` that must end by ``end``; return (value, next pos)."""
        chunk = self._fetch(pos, min(_MAX_VARINT_BYTES, end - pos))
        result = 0
        for index, byte in enumerate(chunk):
            result |= (byte & 0x7F) << (7 * index)
            if not byte & 0x80:
                if result > _U64:
                    raise FormatError(
                        "protobuf.bad-varint", f"varint at offset {pos} overflows 64 bits", pos
                    )
                return result, pos + index + 1
        if len(chunk) >= _MAX_VARINT_BYTES:
            raise FormatError(
                "protobuf.bad-varint", f"varint at offset {pos} is longer than ten bytes", pos
            )
        raise FormatError(
            "protobuf.truncated", f"varint at offset {pos} runs past the end of its message", pos
        )

    def _count(self, offset: int) -> None:
        self.fields_read += 1
        if self.fields_read > self.limits.max_fields:
            raise FormatError(
                "protobuf.too-many-fields",
                f"more than {self.limits.max_fields:,} fields; the walk stopped",
                offset,
            )

    def _field_at(self, pos: int, end: int) -> tuple[Field, int]:
        """Decode the field whose tag is at ``pos``; return it and the next position."""
        tag, cursor = self._varint(pos, end)
        number, wire_type = tag >> 3, tag & 7
        if number == 0 or number > _MAX_FIELD_NUMBER:
            raise FormatError(
                "protobuf.bad-tag", f"field number {number} at offset {pos} is invalid", pos
            )
        if wire_type == WIRE_VARINT:
            value, after = self._varint(cursor, end)
            return Field(number, wire_type, pos, value, cursor), after
        if wire_type in (WIRE_FIXED64, WIRE_FIXED32):
            width = 8 if wire_type == WIRE_FIXED64 else 4
            if cursor + width > end:
                raise FormatError(
                    "protobuf.truncated",
                    f"field {number}: {width}-byte value at offset {cursor} runs past its message",
                    pos,
                )
            raw = self._fetch(cursor, width)
            if len(raw) != width:
                raise FormatError("protobuf.truncated", f"short read at offset {cursor}", cursor)
            return Field(number, wire_type, pos, int.from_bytes(raw, "little"), cursor), (
                cursor + width
            )
        if wire_type == WIRE_LEN:
            length, start = self._varint(cursor, end)
            if length > end - start:
                raise FormatError(
                    "protobuf.truncated",
                    f"field {number} at offset {pos} declares {length:,} bytes, but its message "
                    f"has {end - start:,} left",
                    pos,
                )
            return Field(number, wire_type, pos, length, start), start + length
        if wire_type in (WIRE_START_GROUP, WIRE_END_GROUP):
            return Field(number, wire_type, pos, 0, cursor), cursor
        raise FormatError(
            "protobuf.bad-wire-type", f"field {number} at offset {pos}: wire type {wire_type}", pos
        )

    def _skip_group(self, number: int, pos: int, end: int, depth: int) -> int:
        """Skip a group whose start tag ends at ``pos``; return the position after its end."""
        self._check_depth(depth, pos)
        open_groups = [number]
        while pos < end:
            field, pos = self._field_at(pos, end)
            self._count(field.offset)
            if field.wire_type == WIRE_START_GROUP:
                open_groups.append(field.number)
                self._check_depth(depth + len(open_groups) - 1, field.offset)
            elif field.wire_type == WIRE_END_GROUP:
                if field.number != open_groups[-1]:
                    raise FormatError(
                        "protobuf.bad-group",
                        f"group {open_groups[-1]} closed by an end tag for field {field.number}",
                        field.offset,
                    )
                open_groups.pop()
                if not open_groups:
                    return pos
        raise FormatError("protobuf.bad-group", f"group {number} is never closed", pos)

    def _check_depth(self, depth: int, offset: int) -> None:
        if depth > self.limits.max_depth:
            raise FormatError(
                "protobuf.too-deep",
                f"messages nest deeper than {self.limits.max_depth} levels",
                offset,
            )

    def fields(self, start: int, end: int, depth: int = 0) -> Iterator[Field]:
        """Yield the fields of the message in bytes ``start..end``, in wire order.

        ``depth`` is the nesting level of this message (0 for the file's
        top-level message); pass ``depth + 1`` for an embedded message.
        Groups are skipped, not yielded.
        """
        if start < 0 or end > self.source.size or start > end:
            raise FormatError(
                "protobuf.truncated",
                f"message range {start}..{end} is outside the file of {self.source.size} bytes",
                start,
            )
        self._check_depth(depth, start)
        pos = start
        while pos < end:
            field, pos = self._field_at(pos, end)
            self._count(field.offset)
            if field.wire_type == WIRE_START_GROUP:
                pos = self._skip_group(field.number, pos, end, depth + 1)
                continue
            if field.wire_type == WIRE_END_GROUP:
                raise FormatError(
                    "protobuf.bad-group",
                    f"end of group {field.number} at offset {field.offset} without its start",
                    field.offset,
                )
            yield field

    def message(self, field: Field, depth: int) -> Iterator[Field]:
        """Yield the fields of an embedded message held by a length-delimited ``field``.

        ``depth`` is the nesting level of the embedded message.
        """
        return self.fields(field.start, field.end, depth)

    def top_level(self) -> Iterator[Field]:
        """Yield the fields of the message that spans the whole source."""
        return self.fields(0, self.source.size, 0)


# ---------------------------------------------------------------- encoding (tests, fixtures)


def encode_varint(value: int) -> bytes:
    """Encode a non-negative integer (or an int64, as two's complement) as a varint."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_field(number: int, value: int | bytes | str) -> bytes:
    """Encode one field: ints as varints, bytes and str as length-delimited payloads."""
    if isinstance(value, int):
        return encode_varint(number << 3 | WIRE_VARINT) + encode_varint(value)
    payload = value.encode("utf-8") if isinstance(value, str) else value
    return encode_varint(number << 3 | WIRE_LEN) + encode_varint(len(payload)) + payload
