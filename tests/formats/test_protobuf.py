"""Tests for the bounded protobuf wire-format reader.

Messages are encoded by hand (and, where the protobuf runtime is installed,
cross-checked against it); malformed ones are cut or patched from valid
ones. A property test feeds random and mutated bytes and checks that the
reader only ever yields fields or raises FormatError, reading a bounded
number of bytes.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import CountingSource
from seewhy.errors import FormatError
from seewhy.formats.interface import BytesSource
from seewhy.formats.protobuf import (
    PROBLEM_CODES,
    WIRE_FIXED32,
    WIRE_FIXED64,
    WIRE_LEN,
    WIRE_VARINT,
    Field,
    ProtoLimits,
    ProtoReader,
    encode_field,
    encode_varint,
)


def tag(number: int, wire_type: int) -> bytes:
    return encode_varint(number << 3 | wire_type)


def fields_of(data: bytes, **kwargs: int) -> list[Field]:
    reader = ProtoReader(BytesSource(data), ProtoLimits(**kwargs))
    return list(reader.top_level())


def walk_all(reader: ProtoReader, start: int, end: int, depth: int = 0) -> int:
    """Visit every field, descending into every length-delimited payload that parses."""
    count = 0
    for f in reader.fields(start, end, depth):
        count += 1
        if f.is_len and f.value:
            try:
                count += walk_all(reader, f.start, f.end, depth + 1)
            except FormatError as exc:
                if exc.code in ("protobuf.too-deep", "protobuf.too-many-fields"):
                    raise
    return count


# -------------------------------------------------------------------- decoding


def test_every_wire_type_decodes() -> None:
    data = (
        encode_field(1, 150)
        + tag(2, WIRE_FIXED64)
        + struct.pack("<q", -2)
        + tag(3, WIRE_FIXED32)
        + struct.pack("<f", 1.5)
        + encode_field(4, "hé")
        + encode_field(5, -1)
    )
    got = fields_of(data)
    assert [(f.number, f.wire_type) for f in got] == [
        (1, WIRE_VARINT),
        (2, WIRE_FIXED64),
        (3, WIRE_FIXED32),
        (4, WIRE_LEN),
        (5, WIRE_VARINT),
    ]
    assert got[0].value == 150 and got[0].offset == 0
    assert struct.unpack("<q", got[1].value.to_bytes(8, "little"))[0] == -2
    assert struct.unpack("<f", got[2].value.to_bytes(4, "little"))[0] == 1.5
    assert got[3].value == len("hé".encode()) and got[3].end == got[3].start + got[3].value
    assert got[4].as_int64 == -1 and got[4].value == (1 << 64) - 1
    reader = ProtoReader(BytesSource(data))
    assert reader.read_text(got[3], 100) == ("hé", False)
    assert reader.read_text(got[3], 1) == ("h", True)


def test_nested_messages_and_groups() -> None:
    inner = encode_field(1, "name") + encode_field(2, 7)
    group = tag(9, 3) + encode_field(1, 5) + tag(10, 3) + tag(10, 4) + tag(9, 4)
    data = encode_field(1, inner) + group + encode_field(2, 3)
    reader = ProtoReader(BytesSource(data))
    top = list(reader.top_level())
    assert [f.number for f in top] == [1, 2]  # the group is skipped, not yielded
    sub = list(reader.message(top[0], 1))
    assert [(f.number, f.value) for f in sub] == [(1, 4), (2, 7)]
    assert reader.read_bytes(sub[0], 10) == b"name"


def test_matches_the_protobuf_runtime() -> None:
    descriptor = pytest.importorskip("google.protobuf.descriptor_pb2")
    proto = descriptor.FileDescriptorProto(name="x.proto", package="p")
    message = proto.message_type.add(name="M")
    message.field.add(name="a", number=1, type=5, label=1)
    data = proto.SerializeToString()
    reader = ProtoReader(BytesSource(data))
    top = list(reader.top_level())
    assert [f.number for f in top] == [1, 2, 4]
    assert reader.read_text(top[0], 100)[0] == "x.proto"
    fields = list(reader.message(top[2], 1))
    assert reader.read_text(fields[0], 100)[0] == "M"


def test_payloads_are_skipped_without_reading() -> None:
    payload = b"\x00" * (8 << 20)
    data = encode_field(1, "w") + encode_field(9, payload) + encode_field(2, 1)
    counting = CountingSource(BytesSource(data))
    reader = ProtoReader(counting)
    assert [f.number for f in reader.top_level()] == [1, 9, 2]
    assert counting.bytes_read < 200_000


# -------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (tag(1, WIRE_LEN) + encode_varint(10) + b"abc", "protobuf.truncated"),
        (tag(1, WIRE_LEN) + encode_varint(1 << 40), "protobuf.truncated"),
        (tag(1, WIRE_FIXED64) + b"\x00" * 3, "protobuf.truncated"),
        (tag(1, WIRE_FIXED32) + b"\x00", "protobuf.truncated"),
        (tag(1, WIRE_VARINT) + b"\xff", "protobuf.truncated"),
        (tag(1, WIRE_VARINT) + b"\xff" * 10 + b"\x01", "protobuf.bad-varint"),
        (tag(1, WIRE_VARINT) + b"\xff" * 9 + b"\x7f", "protobuf.bad-varint"),
        (b"\x00\x01", "protobuf.bad-tag"),
        (encode_varint(1 << 32 | WIRE_VARINT) + b"\x01", "protobuf.bad-tag"),
        (b"\x0e\x01", "protobuf.bad-wire-type"),
        (b"\x0f\x01", "protobuf.bad-wire-type"),
        (tag(3, 4), "protobuf.bad-group"),
        (tag(3, 3) + encode_field(1, 1), "protobuf.bad-group"),
        (tag(3, 3) + tag(4, 4), "protobuf.bad-group"),
    ],
)
def test_malformed_input_raises(data: bytes, code: str) -> None:
    assert code in PROBLEM_CODES
    with pytest.raises(FormatError) as info:
        fields_of(data)
    assert info.value.code == code


def test_depth_cap() -> None:
    data = encode_field(1, 1)
    for _ in range(40):
        data = encode_field(1, data)
    reader = ProtoReader(BytesSource(data), ProtoLimits(max_depth=10))
    with pytest.raises(FormatError) as info:
        walk_all(reader, 0, len(data))
    assert info.value.code == "protobuf.too-deep"
    nested_groups = tag(1, 3) * 30 + tag(1, 4) * 30
    with pytest.raises(FormatError) as info:
        fields_of(nested_groups, max_depth=10)
    assert info.value.code == "protobuf.too-deep"


def test_field_count_cap() -> None:
    data = encode_field(1, 1) * 1000
    with pytest.raises(FormatError) as info:
        fields_of(data, max_fields=100)
    assert info.value.code == "protobuf.too-many-fields"
    assert len(fields_of(data, max_fields=1000)) == 1000


def test_message_range_outside_file() -> None:
    reader = ProtoReader(BytesSource(b"\x08\x01"))
    with pytest.raises(FormatError):
        list(reader.fields(0, 10))


def test_encode_varint_roundtrip() -> None:
    for value in (0, 1, 127, 128, 300, 1 << 35, (1 << 64) - 1):
        data = tag(1, WIRE_VARINT) + encode_varint(value)
        assert fields_of(data)[0].value == value
    assert encode_varint(-1) == b"\xff" * 9 + b"\x01"


# -------------------------------------------------------------------- properties


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes_only_raise_format_error(data: bytes) -> None:
    counting = CountingSource(BytesSource(data))
    reader = ProtoReader(counting, ProtoLimits(max_depth=20, max_fields=10_000))
    try:
        walk_all(reader, 0, len(data))
    except FormatError as exc:
        assert exc.code in PROBLEM_CODES
    # Read-ahead blocks cost at most one block per field visited.
    assert counting.reads <= 20_000


_VALID = encode_field(1, 7) + encode_field(
    7,
    encode_field(1, encode_field(4, "MatMul") + encode_field(7, ""))
    + encode_field(5, b"\x00" * 64),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), max_size=6))
def test_mutated_message_only_raises_format_error(edits: list[tuple[int, int]]) -> None:
    data = bytearray(_VALID)
    for position, value in edits:
        data[position] = value
    reader = ProtoReader(BytesSource(bytes(data)), ProtoLimits(max_depth=20, max_fields=10_000))
    try:
        walk_all(reader, 0, len(data))
    except FormatError as exc:
        assert exc.code in PROBLEM_CODES
