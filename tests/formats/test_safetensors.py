"""Tests for the safetensors header parser.

Valid files come from the real ``safetensors`` library (``safetensors.numpy``
and the low-level ``serialize``) and are checked exactly; malformed ones are
packed by hand. Property tests mutate files and compare with the reference
loader (``safetensors.deserialize``).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save, save_file

from builders import CountingSource
from seewhy.errors import FormatError
from seewhy.formats.interface import BytesSource, Source
from seewhy.formats.jsondoc import JsonBounds
from seewhy.formats.safetensors import (
    DTYPE_BITS,
    PROBLEM_CODES,
    SafetensorsInfo,
    parse_safetensors,
)

# --------------------------------------------------------------------------
# helpers


class FileSource:
    """A Source over a real file on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    def read_at(self, offset: int, length: int) -> bytes:
        with self.path.open("rb") as f:
            f.seek(offset)
            return f.read(length)


class LyingSource(BytesSource):
    """Claims to be larger than the bytes it returns."""

    @property
    def size(self) -> int:
        return 1 << 20


def counted(data: bytes) -> CountingSource:
    return CountingSource(BytesSource(data))


def entry(dtype: Any, shape: Any, start: Any, end: Any) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [start, end]}


def pack(
    header: dict[str, Any] | bytes,
    data_len: int | None = None,
    *,
    pad: bool = True,
    extra: bytes = b"",
) -> bytes:
    """A safetensors file: length, header (padded to 8 with spaces), zeroed data."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    if pad:
        raw += b" " * (-len(raw) % 8)
    if data_len is None:
        ends = [
            v["data_offsets"][1]
            for v in (header.values() if isinstance(header, dict) else ())
            if isinstance(v, dict) and "data_offsets" in v
        ]
        data_len = max(ends, default=0)
    return struct.pack("<Q", len(raw)) + raw + b"\0" * data_len + extra


def codes(info: SafetensorsInfo) -> list[str]:
    return [p.code for p in info.problems]


def only(info: SafetensorsInfo, code: str) -> Any:
    found = [p for p in info.problems if p.code == code]
    assert len(found) == 1, info.problems
    return found[0]


def raises(data: bytes | Source, code: str, **kwargs: Any) -> FormatError:
    source = data if not isinstance(data, bytes) else BytesSource(data)
    with pytest.raises(FormatError) as exc:
        parse_safetensors(source, **kwargs)
    assert exc.value.code == code, exc.value.message
    assert exc.value.code in PROBLEM_CODES
    return exc.value


def header_length(data: bytes) -> int:
    return int(struct.unpack("<Q", data[:8])[0]) if len(data) >= 8 else 0


# --------------------------------------------------------------------------
# valid files from the real library


def test_numpy_file_parses_exactly(tmp_path: Path) -> None:
    arrays: dict[str, np.ndarray[Any, Any]] = {
        "f64": np.arange(6, dtype=np.float64).reshape(2, 3),
        "f32": np.ones((4, 5), np.float32),
        "f16": np.ones((3,), np.float16),
        "i64": np.ones((2, 2, 2), np.int64),
        "u64": np.ones((1,), np.uint64),
        "i32": np.ones((7,), np.int32),
        "u32": np.ones((3, 1), np.uint32),
        "i16": np.ones((5,), np.int16),
        "u16": np.ones((2,), np.uint16),
        "i8": np.ones((9,), np.int8),
        "u8": np.ones((3, 3), np.uint8),
        "bool": np.ones((4,), bool),
        "c64": np.ones((2,), np.complex64),
        "empty": np.zeros((0, 4), np.float32),
        "scalar": np.array(1.5, np.float32),
    }
    path = tmp_path / "model.safetensors"
    save_file(arrays, str(path), metadata={"format": "np", "note": "ünï"})
    source = CountingSource(FileSource(path))
    info = parse_safetensors(source)

    raw = path.read_bytes()
    n = header_length(raw)
    header = json.loads(raw[8 : 8 + n])
    assert info.problems == ()
    assert info.header_length == n
    assert info.data_start == 8 + n
    assert info.metadata == {"format": "np", "note": "ünï"}
    by_name = {t.name: t for t in info.tensors}
    assert set(by_name) == set(arrays)
    for name, array in arrays.items():
        t = by_name[name]
        assert t.shape == array.shape
        assert t.n_elements == array.size
        assert [t.start, t.end] == header[name]["data_offsets"]
        assert t.dtype == header[name]["dtype"]
        assert t.nbytes == array.nbytes
    starts = [(t.start, t.end, t.name) for t in info.tensors]
    assert starts == sorted(starts)
    assert by_name["scalar"].shape == () and by_name["scalar"].n_elements == 1
    assert by_name["empty"].n_elements == 0 and by_name["empty"].nbytes == 0
    assert info.parameter_count == sum(a.size for a in arrays.values())
    assert info.parameters_by_dtype["F32"] == 20 + 0 + 1
    assert info.parameters_by_dtype["BOOL"] == 4
    # The header and nothing else, read once.
    assert source.bytes_read == 8 + n
    assert source.furthest == 8 + n


def test_every_dtype_from_the_reference_serializer() -> None:
    names = {
        "BOOL": "bool",
        "F4": "float4_e2m1fn_x2",
        "U8": "uint8",
        "I8": "int8",
        "F8_E5M2": "float8_e5m2",
        "F8_E4M3": "float8_e4m3fn",
        "F8_E8M0": "float8_e8m0fnu",
        "F8_E4M3FNUZ": "float8_e4m3fnuz",
        "F8_E5M2FNUZ": "float8_e5m2fnuz",
        "I16": "int16",
        "U16": "uint16",
        "F16": "float16",
        "BF16": "bfloat16",
        "I32": "int32",
        "U32": "uint32",
        "F32": "float32",
        "F64": "float64",
        "C64": "complex64",
        "I64": "int64",
        "U64": "uint64",
    }
    buffer = np.zeros(1024, np.uint8)
    specs = {}
    for i, (dtype, torch_name) in enumerate(names.items()):
        # F4 storage shape [3, 2] is logical [3, 4]: 12 elements, 6 bytes.
        shape = [3, 2] if dtype == "F4" else [i + 1, 2]
        elements = 12 if dtype == "F4" else (i + 1) * 2
        nbytes = elements * DTYPE_BITS[dtype] // 8
        specs[f"t.{dtype}"] = safetensors.TensorSpec(
            dtype=torch_name, shape=shape, data_ptr=buffer.ctypes.data, data_len=nbytes
        )
    data = safetensors.serialize(specs, metadata={"k": "v"})
    source = counted(data)
    info = parse_safetensors(source)
    assert info.problems == ()
    assert source.bytes_read == info.data_start
    got = {t.dtype: t for t in info.tensors}
    assert set(got) == set(names)
    for dtype, t in got.items():
        assert t.nbytes * 8 == t.n_elements * DTYPE_BITS[dtype]
    assert got["F4"].shape == (3, 4)
    reference = {name: spec["shape"] for name, spec in safetensors.deserialize(data)}
    assert {t.name: list(t.shape) for t in info.tensors} == reference


def test_empty_file_from_library() -> None:
    info = parse_safetensors(counted(save({})))
    assert info.tensors == () and info.problems == () and info.metadata == {}
    assert info.parameter_count == 0 and info.parameters_by_dtype == {}


@pytest.mark.parametrize("dtype", sorted(DTYPE_BITS))
def test_dtype_widths(dtype: str) -> None:
    nbytes = 8 * DTYPE_BITS[dtype] // 8
    info = parse_safetensors(counted(pack({"t": entry(dtype, [8], 0, nbytes)})))
    assert info.problems == ()
    assert info.tensors[0].nbytes == nbytes


def test_sub_byte_dtypes() -> None:
    ok = pack({"a": entry("F4", [2, 3], 0, 3), "b": entry("F6_E2M3", [4], 3, 6)})
    assert parse_safetensors(counted(ok)).problems == ()
    odd = parse_safetensors(counted(pack({"a": entry("F4", [3], 0, 2)})))
    assert codes(odd) == ["safetensors.misaligned-size"]
    assert odd.tensors[0].n_elements == 3  # described, but flagged
    six = parse_safetensors(counted(pack({"a": entry("F6_E3M2", [2], 0, 2)})))
    assert codes(six) == ["safetensors.misaligned-size"]


# --------------------------------------------------------------------------
# fatal problems


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x00" * 7])
def test_file_shorter_than_8(data: bytes) -> None:
    assert raises(data, "safetensors.file-too-small").offset == 0


@pytest.mark.parametrize("n", [2**63, 2**64 - 1, 200_000_000, 100_000_001])
def test_huge_header_length_reads_nothing_more(n: int) -> None:
    source = counted(struct.pack("<Q", n) + b"{}" + b" " * 6)
    with pytest.raises(FormatError) as exc:
        parse_safetensors(source)
    assert exc.value.code == "safetensors.header-too-large"
    assert source.bytes_read <= 8


def test_header_length_limit_is_a_parameter() -> None:
    data = pack({"a": entry("U8", [1], 0, 1)})
    raises(data, "safetensors.header-too-large", max_header=8)


@pytest.mark.parametrize("extra", [1, 1000, 50_000_000])
def test_header_length_past_end_of_file(extra: int) -> None:
    data = pack({})
    bad = struct.pack("<Q", len(data) - 8 + extra) + data[8:]
    source = counted(bad)
    with pytest.raises(FormatError) as exc:
        parse_safetensors(source)
    assert exc.value.code == "safetensors.header-length-exceeds-file"
    assert source.bytes_read <= 8


def test_not_utf8() -> None:
    err = raises(pack(b'{"ab\xff": 1}'), "safetensors.header-not-utf8")
    assert err.offset == 8 + 4


@pytest.mark.parametrize(
    "header",
    [b'{"a": }', b"{", b"", b"{'a': 1}", b'{"a": NaN}', b'{"a": -Infinity}', b"{} x", b"\x00{}"],
)
def test_not_json(header: bytes) -> None:
    if header == b"{} x":  # an object, then garbage: the object parses, the rest is reported
        info = parse_safetensors(counted(pack(header)))
        assert codes(info) == ["safetensors.header-trailing-data"]
        return
    raises(pack(header), "safetensors.header-not-json")


def test_not_json_offset_points_at_the_error() -> None:
    err = raises(pack(b'{"a": 1,, }'), "safetensors.header-not-json")
    assert err.offset == 8 + 8


def test_huge_integer_is_not_json() -> None:
    raises(pack(b'{"a": ' + b"9" * 5000 + b"}"), "safetensors.header-not-json")


@pytest.mark.parametrize("header", [b"[]", b"null", b'"x"', b"12", b"true", b' [{"a": 1}]'])
def test_not_an_object(header: bytes) -> None:
    raises(pack(header), "safetensors.header-not-object")


def test_lone_surrogate_escape_is_not_json() -> None:
    raises(pack(b'{"a\\ud800": 1}'), "safetensors.header-not-json")
    raises(pack(b'{"a\\udc00\\ud800": 1}'), "safetensors.header-not-json")
    raises(pack(b'{"a": {"b": ["\\ud83d"]}}'), "safetensors.header-not-json")
    # A real pair, and an escaped backslash before 'ud800', are fine.
    ok = {"\U0001f600": entry("U8", [1], 0, 1), "x": entry("U8", [0], 1, 1)}
    info = parse_safetensors(counted(pack(json.dumps(ok).encode(), 1)))
    assert info.problems == () and {t.name for t in info.tensors} == set(ok)
    info = parse_safetensors(counted(pack(b'{"__metadata__": {"p": "\\\\ud800"}}')))
    assert info.metadata == {"p": "\\ud800"}


def test_deep_nesting_100mb_does_not_blow_the_stack() -> None:
    n = 100_000_000
    source = counted(struct.pack("<Q", n) + b"[" * n)
    with pytest.raises(FormatError) as exc:
        parse_safetensors(source)
    assert exc.value.code == "safetensors.header-too-deep"


@pytest.mark.parametrize(
    "header",
    [
        b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"a": ' + b'{"b": ' * 5000 + b"1" + b"}" * 5000 + b"}",
        b'{"a": ' + b"[" * 100_000,  # unbalanced
        b'{"__metadata__": {"x": ' + b"[[[[[[" * 3 + b"]]]]]]" * 3 + b"}}",
    ],
)
def test_deep_nesting(header: bytes) -> None:
    raises(pack(header), "safetensors.header-too-deep")


def test_brackets_inside_strings_do_not_count() -> None:
    meta = {"deep": "[" * 10_000 + "{" * 10_000}
    info = parse_safetensors(counted(pack({"__metadata__": meta})))
    assert info.problems == () and info.metadata == meta


def test_too_many_keys() -> None:
    header = {f"t{i}": entry("U8", [1], i, i + 1) for i in range(10)}
    data = pack(header)
    assert len(parse_safetensors(counted(data)).tensors) == 10
    raises(data, "safetensors.header-too-many-keys", max_keys=20)


def test_short_read_from_a_lying_source() -> None:
    raises(LyingSource(struct.pack("<Q", 100) + b"{}"), "safetensors.short-read")


# --------------------------------------------------------------------------
# non-fatal problems


def good() -> dict[str, Any]:
    return {"a": entry("F32", [2], 0, 8), "b": entry("I8", [4], 8, 12)}


@pytest.mark.parametrize("lead", [b" ", b"\n", b"\t\r\n "])
def test_leading_whitespace(lead: bytes) -> None:
    info = parse_safetensors(counted(pack(lead + json.dumps(good()).encode(), 12)))
    p = only(info, "safetensors.header-start")
    assert p.offset == 8
    assert len(info.tensors) == 2 and codes(info) == ["safetensors.header-start"]


@pytest.mark.parametrize(
    ("padding", "code"),
    [
        (b"\n", "safetensors.header-padding"),
        (b"  \t ", "safetensors.header-padding"),
        (b"\x00\x00", "safetensors.header-trailing-data"),
        (b"   \x00", "safetensors.header-trailing-data"),
        (b" <script>", "safetensors.header-trailing-data"),
    ],
)
def test_padding(padding: bytes, code: str) -> None:
    body = json.dumps(good()).encode()
    info = parse_safetensors(counted(pack(body + padding, 12, pad=False)))
    p = only(info, code)
    first_bad = len(body) + len(padding) - len(padding.lstrip(b" "))
    if code == "safetensors.header-trailing-data":
        first_bad = len(body) + len(padding) - len(padding.lstrip(b" \t\r\n"))
    assert p.offset == 8 + first_bad
    assert p.excerpt
    assert len(info.tensors) == 2


def test_space_padding_is_fine() -> None:
    body = json.dumps(good()).encode()
    assert parse_safetensors(counted(pack(body + b" " * 13, 12, pad=False))).problems == ()


def test_duplicate_tensor_key() -> None:
    first = b'{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}, '
    second = b'"a": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]}}'
    info = parse_safetensors(counted(pack(first + second, 8)))
    dup = only(info, "safetensors.duplicate-key")
    assert dup.pointer == "/a"
    assert dup.offset == 8 + len(first)  # the second "a"
    # The last one wins, as in the reference loader, so [0, 4) is a hole.
    assert [(t.start, t.end) for t in info.tensors] == [(4, 8)]
    hole = only(info, "safetensors.hole")
    assert hole.offset == info.data_start


def test_duplicate_key_inside_metadata() -> None:
    head = b'{"__metadata__": {"k": "one", '
    info = parse_safetensors(counted(pack(head + b'"k": "two"}}')))
    dup = only(info, "safetensors.duplicate-key")
    assert dup.pointer == "/__metadata__/k" and dup.offset == 8 + len(head)
    assert info.metadata == {"k": "two"}


def test_duplicate_field_inside_entry() -> None:
    head = b'{"a": {"dtype": "U8", "shape": [1], '
    info = parse_safetensors(counted(pack(head + b'"dtype": "I8", "data_offsets": [0, 1]}}', 1)))
    dup = only(info, "safetensors.duplicate-key")
    assert dup.pointer == "/a/dtype" and dup.offset == 8 + len(head)
    assert info.tensors[0].dtype == "I8"


def test_duplicate_key_nested_in_a_bad_value() -> None:
    info = parse_safetensors(counted(pack(b'{"__metadata__": {"x": {"y": 1, "y": 2}}}')))
    assert sorted(codes(info)) == [
        "safetensors.duplicate-key",
        "safetensors.metadata-value-not-string",
    ]


@pytest.mark.parametrize("value", [1, None, ["a"], {"b": "c"}, True, 1.5])
def test_metadata_value_not_string(value: Any) -> None:
    info = parse_safetensors(counted(pack({"__metadata__": {"ok": "yes", "bad": value}})))
    p = only(info, "safetensors.metadata-value-not-string")
    assert p.pointer == "/__metadata__/bad"
    assert p.offset is not None and p.excerpt
    assert info.metadata == {"ok": "yes"}


@pytest.mark.parametrize("value", [[], "text", 3, [["a", "b"]]])
def test_metadata_not_object(value: Any) -> None:
    info = parse_safetensors(counted(pack({"__metadata__": value})))
    assert codes(info) == ["safetensors.metadata-not-object"]
    assert info.metadata == {}


def test_metadata_null_is_none() -> None:
    info = parse_safetensors(counted(pack({"__metadata__": None, **good()})))
    assert info.problems == () and info.metadata == {}


def test_hole_between_tensors() -> None:
    info = parse_safetensors(
        counted(pack({"a": entry("U8", [4], 0, 4), "b": entry("U8", [4], 6, 10)}))
    )
    hole = only(info, "safetensors.hole")
    assert hole.offset == info.data_start + 4 and hole.pointer == "/b"
    assert codes(info) == ["safetensors.hole"]


def test_not_starting_from_zero() -> None:
    info = parse_safetensors(counted(pack({"a": entry("U8", [4], 2, 6)})))
    hole = only(info, "safetensors.hole")
    assert hole.offset == info.data_start and "[0, 2)" in hole.message


def test_overlap() -> None:
    header = {"a": entry("U8", [4], 0, 4), "b": entry("U8", [4], 2, 6)}
    info = parse_safetensors(counted(pack(header)))
    p = only(info, "safetensors.overlap")
    assert p.offset == info.data_start + 2 and p.pointer == "/b"
    assert codes(info) == ["safetensors.overlap"]


def test_zero_size_tensor_inside_another_overlaps() -> None:
    header = {"a": entry("U8", [4], 0, 4), "z": entry("U8", [0], 2, 2)}
    assert codes(parse_safetensors(counted(pack(header)))) == ["safetensors.overlap"]


def test_same_range_twice_overlaps() -> None:
    header = {"a": entry("U8", [4], 0, 4), "b": entry("U8", [4], 0, 4)}
    assert codes(parse_safetensors(counted(pack(header)))) == ["safetensors.overlap"]


def test_wrong_size_for_shape() -> None:
    info = parse_safetensors(counted(pack({"a": entry("F32", [2, 2], 0, 12)})))
    p = only(info, "safetensors.size-mismatch")
    assert p.pointer == "/a/data_offsets" and "16" in p.message and "12" in p.message


def test_shape_overflow() -> None:
    info = parse_safetensors(counted(pack({"a": entry("F32", [2**40, 2**40, 2**40], 0, 4)})))
    assert codes(info) == ["safetensors.shape-overflow"]
    assert info.tensors == ()


def test_overflow_before_a_zero_dimension_counts_like_checked_mul() -> None:
    info = parse_safetensors(counted(pack({"a": entry("U8", [2**33, 2**33, 0], 0, 0)})))
    assert codes(info) == ["safetensors.shape-overflow"]


def test_bit_count_overflow() -> None:
    info = parse_safetensors(counted(pack({"a": entry("U64", [2**62], 0, 0)})))
    assert codes(info) == ["safetensors.shape-overflow"]


@pytest.mark.parametrize("shape", [[-1], [1.0], [True], ["2"], 4, None, [2**64], {"0": 1}])
def test_bad_shape(shape: Any) -> None:
    info = parse_safetensors(counted(pack({"a": entry("U8", shape, 0, 1)})))
    assert codes(info) == ["safetensors.bad-shape"]
    assert info.tensors == ()


@pytest.mark.parametrize("offsets", [[0], [0, 1, 2], [0.0, 1], [-1, 0], "0-1", [0, 2**64], None])
def test_bad_offsets(offsets: Any) -> None:
    info = parse_safetensors(
        counted(pack({"a": {"dtype": "U8", "shape": [1], "data_offsets": offsets}}, 1))
    )
    assert "safetensors.bad-offsets" in codes(info)
    assert info.tensors == ()


def test_reversed_offsets() -> None:
    info = parse_safetensors(counted(pack({"a": entry("U8", [0], 4, 0)}, 0)))
    assert codes(info) == ["safetensors.offsets-reversed"]


@pytest.mark.parametrize("dtype", ["F128", "f32", "", 7, None, ["F32"]])
def test_unknown_dtype(dtype: Any) -> None:
    header = {"a": entry(dtype, [2], 0, 8), "b": entry("U8", [1], 8, 9)}
    info = parse_safetensors(counted(pack(header)))
    p = only(info, "safetensors.unknown-dtype")
    assert p.pointer == "/a/dtype" and p.excerpt
    assert codes(info) == ["safetensors.unknown-dtype"]
    names = {t.name for t in info.tensors}
    assert names == ({"a", "b"} if isinstance(dtype, str) else {"b"})


def test_entry_not_object() -> None:
    info = parse_safetensors(counted(pack({"z": [1, 2], **good()}, 12)))
    p = only(info, "safetensors.entry-not-object")
    assert p.pointer == "/z" and p.offset == 8 + 1


def test_entry_missing_and_unknown_fields() -> None:
    header = {"a": {"dtype": "U8", "shape": [1]}, "b": {**entry("U8", [1], 0, 1), "sha": "x"}}
    info = parse_safetensors(counted(pack(header, 1)))
    assert "dtype" not in only(info, "safetensors.entry-missing-field").message
    assert only(info, "safetensors.entry-missing-field").pointer == "/a"
    unknown = only(info, "safetensors.entry-unknown-field")
    assert unknown.pointer == "/b/sha" and unknown.excerpt == '"x"'


def test_trailing_bytes_polyglot() -> None:
    data = pack(good(), extra=b"PK\x03\x04 appended zip")
    source = counted(data)
    info = parse_safetensors(source)
    p = only(info, "safetensors.trailing-bytes")
    assert p.offset == info.data_start + 12
    assert str(len(b"PK\x03\x04 appended zip")) in p.message
    assert source.bytes_read == info.data_start


def test_truncated_data() -> None:
    data = pack(good())[:-5]
    info = parse_safetensors(counted(data))
    p = only(info, "safetensors.truncated")
    assert p.offset == len(data)
    assert len(info.tensors) == 2


def test_problem_cap() -> None:
    header = {f"t{i}": entry("X", [1], i, i + 1) for i in range(50)}
    info = parse_safetensors(counted(pack(header)), max_problems=10)
    assert len(info.problems) == 11
    assert info.problems[-1].code == "safetensors.too-many-problems"
    assert "40" in info.problems[-1].message


def test_pointer_escapes_slash_and_tilde() -> None:
    info = parse_safetensors(counted(pack({"a/b~c": entry("X", [1], 0, 1)})))
    assert only(info, "safetensors.unknown-dtype").pointer == "/a~1b~0c/dtype"


def test_offsets_with_non_ascii_names() -> None:
    head = '{"ünï": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, '.encode()
    raw = pack(head + b'"x": {"dtype": "Q", "shape": [0], "data_offsets": [1, 1]}}', 1)
    p = only(parse_safetensors(counted(raw)), "safetensors.unknown-dtype")
    assert p.offset is not None and p.offset > 8 + len(head)
    assert raw[p.offset : p.offset + 7] == b'"dtype"'


def test_every_problem_code_is_reachable() -> None:
    """Each code in PROBLEM_CODES is produced by at least one input here."""
    seen: set[str] = set()

    def run(source: bytes | Source, **kwargs: Any) -> None:
        src = BytesSource(source) if isinstance(source, bytes) else source
        try:
            info = parse_safetensors(src, **kwargs)
        except FormatError as exc:
            seen.add(exc.code)
        else:
            seen.update(codes(info))

    run(b"")
    run(LyingSource(struct.pack("<Q", 100) + b"{}"))
    run(pack({"a": entry("U8", [1], 1, 2)}))
    run(struct.pack("<Q", 2**63))
    run(struct.pack("<Q", 64) + b"{}")
    run(pack(b'{"\xff": 1}'))
    run(pack(b"{"))
    run(pack(b"[]"))
    run(pack(b"{" + b'"a":' * 0 + b'"a": ' + b"[" * 100 + b"]" * 100 + b"}"))
    run(pack({f"t{i}": entry("U8", [1], i, i + 1) for i in range(3)}), max_keys=2)
    run(pack(b' {"a": 1}'))
    run(pack(b'{"a": 1}\n', pad=False))
    run(pack(b'{"a": 1}\x00', pad=False))
    run(pack(b'{"a": 1, "a": 1}'))
    run(pack({"__metadata__": []}))
    run(pack({"__metadata__": {"a": 1}}))
    run(pack({"a": {"dtype": "U8"}, "b": {**entry("U8", [1], 0, 1), "x": 1}}))
    run(pack({"a": entry("Q", [-1], [0], 0)}))
    run(pack({"a": entry("U8", [1], 2, 1)}))
    run(pack({"a": entry("U8", [2**40] * 3, 0, 1), "b": entry("F4", [1], 1, 2)}))
    run(pack({"a": entry("U8", [2], 1, 2), "b": entry("U8", [2], 0, 2)}))
    run(pack(good(), extra=b"x"))
    run(pack(good())[:-1])
    run(pack({f"t{i}": 1 for i in range(5)}), max_problems=2)
    run(pack({"__metadata__": {"a": "b"}}), bounds=JsonBounds(max_strings=2))
    run(pack({"__metadata__": {"a": "long"}}), bounds=JsonBounds(max_string_bytes=3))
    assert seen == set(PROBLEM_CODES)


# --------------------------------------------------------------------------
# property tests


def _base_files() -> list[bytes]:
    return [
        save({"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(3, np.int8)}),
        save({"s": np.array(2.0, np.float64), "e": np.zeros((0,), np.uint16)}, metadata={"m": "v"}),
        save({}),
    ]


BASE_FILES = _base_files()


def check_contract(data: bytes) -> SafetensorsInfo | FormatError:
    """parse returns or raises FormatError, reading at most 8 + min(N, size) bytes."""
    source = counted(data)
    result: SafetensorsInfo | FormatError
    try:
        info = parse_safetensors(source)
    except FormatError as exc:
        assert exc.code in PROBLEM_CODES
        result = exc
    else:
        assert {p.code for p in info.problems} <= set(PROBLEM_CODES)
        assert all(p.offset is None or p.offset >= 0 for p in info.problems)
        assert info.data_start == 8 + header_length(data)
        result = info
    assert source.bytes_read <= 8 + min(header_length(data), len(data))
    return result


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(BASE_FILES)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[at] = draw(st.sampled_from([0, 0x20, 0x22, 0x5B, 0x7B, 0x7D, 0xFF, 0x5C]))
        elif op == "truncate":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 4))]
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_bytes_never_crash(data: bytes) -> None:
    check_contract(data)


json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 2**66),
    st.floats(allow_nan=False),
    st.text(max_size=4),
)
dims = st.one_of(st.integers(0, 6), st.integers(-2, 2**65), json_scalar)
shapes = st.one_of(st.lists(st.integers(0, 5), max_size=3), st.lists(dims, max_size=4), json_scalar)
dtypes = st.one_of(
    st.sampled_from(sorted(DTYPE_BITS)), st.sampled_from(["F128", "", "f32"]), json_scalar
)
offset_values = st.one_of(st.integers(0, 48), st.integers(-1, 2**65), json_scalar)
offsets = st.one_of(
    st.lists(st.integers(0, 48), min_size=2, max_size=2),
    st.lists(offset_values, max_size=3),
    json_scalar,
)
entries = st.one_of(
    st.fixed_dictionaries({"dtype": dtypes, "shape": shapes, "data_offsets": offsets}),
    st.dictionaries(st.sampled_from(["dtype", "shape", "data_offsets", "extra"]), json_scalar),
    json_scalar,
    st.lists(json_scalar, max_size=3),
)
metadata = st.one_of(
    st.dictionaries(st.text(max_size=4), st.one_of(st.text(max_size=8), json_scalar), max_size=3),
    json_scalar,
)


@st.composite
def structured(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    header: dict[str, Any] = draw(st.dictionaries(st.text(max_size=6), entries, max_size=5))
    if draw(st.booleans()):
        header["__metadata__"] = draw(metadata)
    text = json.dumps(header, ensure_ascii=draw(st.booleans())).encode()
    padding = draw(st.sampled_from([b"", b" " * 7, b"\n", b"\x00", b"  x"]))
    lead = draw(st.sampled_from([b"", b"", b" "]))
    data_len = draw(st.integers(0, 64))
    raw = lead + text + padding
    return struct.pack("<Q", len(raw)) + raw + b"\0" * data_len, header


# Problems the reference loader does not treat as errors.
TOLERATED = {
    "safetensors.header-start",
    "safetensors.header-padding",
    "safetensors.duplicate-key",
    "safetensors.entry-unknown-field",
}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(structured())
def test_structured_headers_match_the_reference_loader(case: tuple[bytes, dict[str, Any]]) -> None:
    data, header = case
    result = check_contract(data)
    try:
        reference = safetensors.deserialize(data)
    except Exception:  # the reference loader raises SafetensorError
        reference = None
    if isinstance(result, FormatError):
        assert reference is None, result.message
        return
    serious = {p.code for p in result.problems} - TOLERATED
    if reference is None:
        assert serious, "the reference loader rejects a file we found no serious problem in"
    else:
        assert not serious, result.problems
        ours = {t.name: (t.dtype, list(t.shape)) for t in result.tensors}
        theirs = {name: (v["dtype"], v["shape"]) for name, v in reference}
        assert ours == theirs
        assert result.metadata == (header.get("__metadata__") or {})


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.integers(0, 2**64 - 1))
def test_arbitrary_bytes_with_any_length(body: bytes, n: int) -> None:
    check_contract(struct.pack("<Q", n) + body)
