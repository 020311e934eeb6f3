"""Tests for the ``.npy`` header parser and the ``.npz`` description.

Valid files come from NumPy itself (``np.save``, ``np.savez``,
``np.savez_compressed``, ``np.lib.format.write_array`` for versions 2.0 and
3.0), including object arrays saved with ``allow_pickle=True`` (saving is
safe; nothing here loads them). Malformed headers are packed by hand.
"""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seewhy.errors import FormatError
from seewhy.formats.archive import read_zip
from seewhy.formats.interface import BytesSource
from seewhy.formats.numpy import (
    NPY_MAGIC,
    PROBLEM_CODES,
    NpyInfo,
    NpzInfo,
    describe_npz,
    parse_npy_header,
)

# --------------------------------------------------------------------------
# helpers


def npy_bytes(array: np.ndarray, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, **kwargs)  # type: ignore[arg-type]
    return buffer.getvalue()


def parse(data: bytes) -> NpyInfo:
    return parse_npy_header(BytesSource(data))


def codes_of(problems: tuple[object, ...]) -> set[str]:
    return {getattr(problem, "code", "") for problem in problems}


def raw_npy(header: str | bytes, data: bytes = b"", version: tuple[int, int] = (1, 0)) -> bytes:
    raw = header.encode("latin-1") if isinstance(header, str) else header
    width = "<H" if version == (1, 0) else "<I"
    return NPY_MAGIC + bytes(version) + struct.pack(width, len(raw)) + raw + data


def npz_bytes(compressed: bool, **arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    if compressed:
        np.savez_compressed(buffer, allow_pickle=True, **arrays)
    else:
        np.savez(buffer, allow_pickle=True, **arrays)
    return buffer.getvalue()


def describe(data: bytes) -> NpzInfo:
    return describe_npz(read_zip(BytesSource(data)), BytesSource(data))


# --------------------------------------------------------------------------
# parse_npy_header on real files


def test_problem_codes_are_described() -> None:
    assert all(code.startswith(("npy.", "npz.")) for code in PROBLEM_CODES)
    assert all(text.strip() for text in PROBLEM_CODES.values())


ARRAYS = [
    np.arange(12, dtype="<f4").reshape(3, 4),
    np.arange(6, dtype=">i2"),
    np.zeros((2, 0, 3), dtype=np.float64),
    np.array(7, dtype=np.int64),
    np.asfortranarray(np.ones((3, 2), dtype=np.complex128)),
    np.array([True, False]),
    np.array(["ab", "cde"]),
    np.array([b"x", b"yz"]),
    np.zeros(3, dtype="datetime64[ns]"),
    np.zeros(2, dtype="timedelta64[s]"),
    np.zeros(4, dtype=np.float16),
    np.zeros(2, dtype=np.longdouble),
    np.zeros(3, dtype="V5"),
    np.zeros((2, 2), dtype=[("a", "<i4"), ("b", "<f8", (3,)), ("c", "S2")]),
    np.zeros(2, dtype=[("outer", [("x", "<f4"), ("y", "<u1")]), ("z", "<i8")]),
    np.zeros(
        2, dtype=np.dtype({"names": ["a", "b"], "formats": ["<i4", "<i2"], "offsets": [0, 8]})
    ),
]


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: str(a.dtype))
def test_real_npy_files(array: np.ndarray) -> None:
    data = npy_bytes(array)
    info = parse(data)
    assert info.problems == ()
    assert info.version == (1, 0)
    assert info.shape == array.shape
    assert info.fortran_order == (array.flags.f_contiguous and not array.flags.c_contiguous)
    assert info.itemsize == array.dtype.itemsize
    assert info.element_count == array.size
    assert info.expected_data_bytes == array.nbytes == info.data_bytes
    assert info.data_offset == len(data) - array.nbytes
    assert info.data_offset % 64 == 0
    assert not info.has_object_dtype
    assert info.structured == (array.dtype.names is not None)
    assert info.descr == (array.dtype.str if array.dtype.names is None else repr(array.dtype.descr))


@pytest.mark.parametrize("version", [(2, 0), (3, 0)])
def test_format_versions_2_and_3(version: tuple[int, int]) -> None:
    array = np.zeros(3, dtype=[("naïve", "<f4"), ("b", "<i2")])
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=version)
    info = parse(buffer.getvalue())
    assert info.version == version
    assert info.problems == ()
    assert info.itemsize == 6
    assert info.expected_data_bytes == 18


def test_object_arrays() -> None:
    data = npy_bytes(np.array([1, "two", {"three": 3}], dtype=object), allow_pickle=True)
    info = parse(data)
    assert info.has_object_dtype
    assert info.descr == "|O"
    assert info.expected_data_bytes is None
    assert info.pickles_analysed is False
    assert codes_of(info.problems) == {"npy.object-dtype"}
    assert info.problems[0].offset == info.data_offset
    # The data after the header is a pickle.
    assert data[info.data_offset] == 0x80


def test_object_field_in_structured_dtype() -> None:
    array = np.zeros(2, dtype=[("a", "<i4"), ("nested", [("b", "O")])])
    info = parse(npy_bytes(array, allow_pickle=True))
    assert info.has_object_dtype
    assert codes_of(info.problems) == {"npy.object-dtype"}


def test_size_mismatch() -> None:
    data = npy_bytes(np.arange(10, dtype="<i4"))
    short = parse(data[:-4])
    assert codes_of(short.problems) == {"npy.size-mismatch"}
    assert "short of" in short.problems[0].message
    long = parse(data + b"hidden")
    assert codes_of(long.problems) == {"npy.size-mismatch"}
    assert long.data_bytes == 46


def test_huge_shape_is_reported_not_printed_in_full() -> None:
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (" + "4294967296, " * 40 + ")}"
    info = parse(raw_npy(header + "\n"))
    assert info.element_count == 2 ** (32 * 40)
    assert "about 2**" in info.problems[0].message


def test_stream_inside_a_larger_source() -> None:
    data = npy_bytes(np.arange(5, dtype="<u2"))
    blob = b"prefix" + data + b"suffix"
    info = parse_npy_header(BytesSource(blob), 6, len(data))
    assert info.problems == ()
    assert info.data_offset == 6 + len(data) - 10


def test_unsized_dtype() -> None:
    header = "{'descr': '<X9', 'fortran_order': False, 'shape': (2,), }\n"
    info = parse(raw_npy(header, bytes(18)))
    assert codes_of(info.problems) == {"npy.unsized-dtype"}
    assert info.itemsize is None


def test_extra_keys_and_large_headers() -> None:
    header = "{'descr': '<i1', 'fortran_order': False, 'shape': (1,), 'evil': 1}\n"
    info = parse(raw_npy(header, b"\x01"))
    assert codes_of(info.problems) == {"npy.extra-keys"}
    padded = "{'descr': '<i1', 'fortran_order': False, 'shape': (1,)}" + " " * 20_000 + "\n"
    assert codes_of(parse(raw_npy(padded, b"\x01", (2, 0))).problems) == {"npy.large-header"}


# --------------------------------------------------------------------------
# fatal errors


def expect_error(data: bytes, code: str) -> None:
    with pytest.raises(FormatError) as caught:
        parse(data)
    assert caught.value.code == code, caught.value.message
    assert code in PROBLEM_CODES


def test_bad_magic_version_and_truncation() -> None:
    data = npy_bytes(np.arange(3))
    expect_error(b"PK\x03\x04" + data[4:], "npy.bad-magic")
    expect_error(data[:6] + b"\x04\x00" + data[8:], "npy.bad-version")
    expect_error(data[:5], "npy.truncated")
    expect_error(data[:9], "npy.truncated")
    expect_error(data[:40], "npy.truncated")


def test_header_too_large() -> None:
    expect_error(NPY_MAGIC + b"\x02\x00" + struct.pack("<I", 2**31), "npy.header-too-large")
    expect_error(
        NPY_MAGIC + b"\x02\x00" + struct.pack("<I", 70_000) + b" " * 70_000, "npy.header-too-large"
    )


@pytest.mark.parametrize(
    "header",
    [
        "{'descr': __import__('os').system('echo hi'), 'fortran_order': False, 'shape': ()}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1+1,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}",
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,)}",
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': 4, 'fortran_order': False, 'shape': ()}",
        "{'descr': [('a',)], 'fortran_order': False, 'shape': ()}",
        "{'descr': [('a', '<f4', (-1,))], 'fortran_order': False, 'shape': ()}",
        "['descr', 'fortran_order', 'shape']",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (" + "(" * 40 + ")" * 40 + ",)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': ()} + {}",
        "{'descr': '<f4',\x00 'fortran_order': False, 'shape': ()}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)",
        "{'descr': '<f4', 'fortran_order': None, 'shape': (1,)}",
        "{**x, 'descr': '<f4'}",
        "lambda: 0",
    ],
)
def test_bad_headers(header: str) -> None:
    expect_error(raw_npy(header + "\n", bytes(16)), "npy.bad-header")


def test_bad_utf8_in_version_3() -> None:
    expect_error(raw_npy(b"{'descr': '\xff'}\n", version=(3, 0)), "npy.bad-header")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_headers_fail_cleanly(header: bytes) -> None:
    try:
        parse(raw_npy(header, bytes(64)))
    except FormatError as error:
        assert error.code in PROBLEM_CODES


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**5), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_npy_fails_cleanly(edits: list[tuple[int, int]]) -> None:
    data = bytearray(npy_bytes(np.zeros((2, 3), dtype=[("a", "<f4"), ("b", "<i2", (2,))])))
    for position, value in edits:
        data[position % len(data)] = value
    try:
        info = parse(bytes(data))
    except FormatError as error:
        assert error.code in PROBLEM_CODES
    else:
        assert codes_of(info.problems) <= set(PROBLEM_CODES)


# --------------------------------------------------------------------------
# describe_npz


@pytest.mark.parametrize("compressed", [False, True])
def test_real_npz(compressed: bool) -> None:
    arrays = {"weights": np.arange(20, dtype="<f4").reshape(4, 5), "ids": np.arange(3)}
    data = npz_bytes(compressed, **arrays)
    info = describe(data)
    assert info.problems == ()
    assert info.compressed == compressed
    assert not info.has_object_dtype
    assert [array.key for array in info.arrays] == ["weights", "ids"]
    for array in info.arrays:
        assert array.info is not None
        expected = arrays[array.key]
        assert array.info.shape == expected.shape
        assert array.info.expected_data_bytes == expected.nbytes == array.info.data_bytes
        assert array.compressed == compressed


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_with_object_array(compressed: bool) -> None:
    data = npz_bytes(compressed, ok=np.ones(3), objects=np.array([{"a": 1}, None], dtype=object))
    info = describe(data)
    assert info.has_object_dtype
    assert info.pickles_analysed is False
    problems = [(p.code, p.pointer) for p in info.problems]
    assert problems == [("npy.object-dtype", "objects.npy")]


def test_npz_large_header_in_compressed_member() -> None:
    # A structured dtype with many fields needs a header longer than the first read.
    dtype = np.dtype([(f"field_{i:03d}", "<f4") for i in range(300)])
    data = npz_bytes(True, wide=np.zeros(2, dtype=dtype))
    info = describe(data)
    array = info.arrays[0].info
    assert array is not None
    assert array.header_length > 4096
    assert array.itemsize == 1200
    assert info.problems == ()


def test_npz_non_npy_and_broken_members() -> None:
    buffer = io.BytesIO(npz_bytes(False, a=np.arange(3)))
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("readme.txt", b"hello")
        archive.writestr("broken.npy", b"not an npy file at all")
        archive.writestr("cut.npy", npy_bytes(np.arange(100))[:50])
        archive.writestr("b.npy", b"\x00" * 10, compress_type=zipfile.ZIP_BZIP2)
    info = describe(buffer.getvalue())
    problems = {(p.code, p.pointer) for p in info.problems}
    assert problems == {
        ("npz.non-npy-member", "readme.txt"),
        ("npy.bad-magic", "broken.npy"),
        ("npy.truncated", "cut.npy"),
        ("npz.unreadable-member", "b.npy"),
    }
    assert [a.key for a in info.arrays] == ["a", "broken", "cut", "b"]
    assert [a.info is not None for a in info.arrays] == [True, False, False, False]
