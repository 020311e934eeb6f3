"""Tests for the lenient, bounded ZIP reader.

Valid archives come from Python's :mod:`zipfile` (stored, deflated, ZIP64,
comments, data descriptors, prepended data); malformed ones are patched from
those or packed by hand with :func:`build`. A property test mutates valid
archives and checks that reading them only ever returns or raises
:class:`FormatError`, reading a bounded number of bytes.
"""

from __future__ import annotations

import io
import stat
import struct
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import CountingSource
from seewhy.errors import FormatError
from seewhy.formats.archive import (
    INFO_CODES,
    PROBLEM_CODES,
    ZipListing,
    crc_ok,
    read_member,
    read_member_head,
    read_zip,
)
from seewhy.formats.interface import BytesSource

# --------------------------------------------------------------------------
# helpers


def listing_of(data: bytes, **kwargs: Any) -> ZipListing:
    return read_zip(BytesSource(data), **kwargs)


def codes(listing: ZipListing) -> set[str]:
    return {problem.code for problem in listing.problems}


def warnings_only(listing: ZipListing) -> set[str]:
    return codes(listing) - INFO_CODES


def python_zip(
    files: dict[str, bytes],
    *,
    compression: int = zipfile.ZIP_STORED,
    comment: bytes = b"",
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
        archive.comment = comment
    return buffer.getvalue()


FILES = {
    "a.txt": b"hello world\n" * 50,
    "dir/b.bin": bytes(range(256)) * 40,
    "dir/empty": b"",
}


def central_offset_of(data: bytes, name: bytes) -> int:
    """Offset of the central directory entry for ``name`` (searching the signature)."""
    position = data.find(b"PK\x01\x02")
    while position >= 0:
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        if data[position + 46 : position + 46 + name_length] == name:
            return position
        position = data.find(b"PK\x01\x02", position + 4)
    raise AssertionError(f"no central entry for {name!r}")


def patch(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new) :]


def patch_u16(data: bytes, offset: int, value: int) -> bytes:
    return patch(data, offset, struct.pack("<H", value))


def patch_u32(data: bytes, offset: int, value: int) -> bytes:
    return patch(data, offset, struct.pack("<I", value))


@dataclass
class Raw:
    """One member for :func:`build`, written exactly as given."""

    name: bytes
    data: bytes = b""
    method: int = 0
    flags: int = 0
    usize: int | None = None
    local_name: bytes | None = None
    made_by: int = 20
    external_attr: int = 0
    zip64: bool = False
    gap_before: bytes = b""
    local_offset: int | None = None


def build(
    members: list[Raw],
    *,
    prefix: bytes = b"",
    comment: bytes = b"",
    trailing: bytes = b"",
    zip64_end: bool = False,
    count: int | None = None,
    count64: int | None = None,
    cd_offset: int | None = None,
) -> bytes:
    """Pack a ZIP archive by hand: local headers, central directory, end records."""
    out = bytearray(prefix)
    offsets: list[int] = []
    for member in members:
        out += member.gap_before
        offsets.append(len(out))
        local_name = member.name if member.local_name is None else member.local_name
        usize = len(member.data) if member.usize is None else member.usize
        out += struct.pack(
            "<4sHHHHHIIIHH",
            b"PK\x03\x04",
            20,
            member.flags,
            member.method,
            0,
            0,
            zlib.crc32(member.data),
            len(member.data),
            usize & 0xFFFFFFFF,
            len(local_name),
            0,
        )
        out += local_name + member.data
    directory_offset = len(out)
    for member, offset in zip(members, offsets, strict=True):
        usize = len(member.data) if member.usize is None else member.usize
        csize = len(member.data)
        header_offset = offset if member.local_offset is None else member.local_offset
        extra = b""
        if member.zip64:
            extra = struct.pack("<HHQQQ", 1, 24, usize, csize, header_offset)
            usize = csize = header_offset = 0xFFFFFFFF
        out += struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02",
            member.made_by,
            20,
            member.flags,
            member.method,
            0,
            0,
            zlib.crc32(member.data),
            csize,
            usize,
            len(member.name),
            len(extra),
            0,
            0,
            0,
            member.external_attr,
            header_offset,
        )
        out += member.name + extra
    directory_size = len(out) - directory_offset
    if cd_offset is not None:
        directory_offset = cd_offset
    total = len(members) if count is None else count
    if zip64_end:
        record_offset = len(out)
        wide = total if count64 is None else count64
        out += struct.pack(
            "<4sQHHIIQQQQ",
            b"PK\x06\x06",
            44,
            45,
            45,
            0,
            0,
            wide,
            wide,
            directory_size,
            directory_offset,
        )
        out += struct.pack("<4sIQI", b"PK\x06\x07", 0, record_offset, 1)
        total16, size32, offset32 = 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF
    else:
        total16, size32, offset32 = total, directory_size, directory_offset
    out += struct.pack(
        "<4sHHHHIIH",
        b"PK\x05\x06",
        0,
        0,
        total16,
        total16,
        size32,
        offset32,
        len(comment),
    )
    return bytes(out) + comment + trailing


# --------------------------------------------------------------------------
# the code table


def test_problem_codes_are_described() -> None:
    assert all(code.startswith("zip.") for code in PROBLEM_CODES)
    assert all(description.strip() for description in PROBLEM_CODES.values())
    assert set(PROBLEM_CODES) >= INFO_CODES


# --------------------------------------------------------------------------
# valid archives from zipfile


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_python_zip_lists_exactly(compression: int) -> None:
    data = python_zip(FILES, compression=compression)
    listing = listing_of(data)
    reference = zipfile.ZipFile(io.BytesIO(data)).infolist()

    assert listing.problems == ()
    assert listing.names == tuple(info.filename for info in reference)
    assert listing.declared_count == len(FILES)
    assert listing.starts_with_local_header
    assert listing.prepended_bytes == 0
    assert not listing.zip64
    for member, info in zip(listing.members, reference, strict=True):
        assert member.method == info.compress_type
        assert member.crc32 == info.CRC
        assert member.compressed_size == info.compress_size
        assert member.uncompressed_size == info.file_size
        assert member.local_header_offset == info.header_offset
        assert member.data_offset is not None
        raw = data[member.data_offset : member.data_offset + member.compressed_size]
        expected = FILES[member.name]
        if compression == zipfile.ZIP_STORED:
            assert raw == expected
        else:
            assert zlib.decompress(raw, -15) == expected
        content = read_member(BytesSource(data), member, max_bytes=1 << 20)
        assert content == expected
        assert crc_ok(content, member)
        assert not crc_ok(content + b"x", member)
        assert read_member_head(BytesSource(data), member, 7) == expected[:7]


def test_read_member_stops_past_the_limit() -> None:
    data = python_zip({"zeros": bytes(5 << 20)}, compression=zipfile.ZIP_DEFLATED)
    member = listing_of(data).members[0]
    with pytest.raises(FormatError) as caught:
        read_member(BytesSource(data), member, max_bytes=1000)
    assert caught.value.code == "zip.member-too-large"
    assert read_member(BytesSource(data), member, max_bytes=5 << 20) == bytes(5 << 20)

    stored = python_zip({"big": bytes(5000)})
    big = listing_of(stored).members[0]
    with pytest.raises(FormatError) as caught:
        read_member(BytesSource(stored), big, max_bytes=4999)
    assert caught.value.code == "zip.member-too-large"


def test_high_ratio_member_is_a_bomb_suspect() -> None:
    data = python_zip({"zeros": bytes(10 << 20)}, compression=zipfile.ZIP_DEFLATED)
    listing = listing_of(data)
    assert codes(listing) == {"zip.bomb-suspect"}
    assert listing.problems[0].pointer == "zeros"
    # A small but compressible file is not worth a warning.
    small = listing_of(python_zip({"z": bytes(50_000)}, compression=zipfile.ZIP_DEFLATED))
    assert small.problems == ()


def test_comment_is_info() -> None:
    data = python_zip(FILES, comment=b"made by hand")
    listing = listing_of(data)
    assert codes(listing) == {"zip.comment"}
    assert listing.comment == b"made by hand"
    assert listing.comment_length == len(b"made by hand")
    short = listing_of(data, max_comment=4)
    assert short.comment == b"made"


def test_empty_archive() -> None:
    data = python_zip({})
    listing = listing_of(data)
    assert listing.members == ()
    assert listing.problems == ()
    assert len(data) == 22


def test_force_zip64_local_headers() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in FILES.items():
            with archive.open(name, "w", force_zip64=True) as handle:
                handle.write(content)
    data = buffer.getvalue()
    listing = listing_of(data)
    assert listing.problems == ()
    for member in listing.members:
        assert member.data_offset is not None
        # zipfile writes a 20-byte ZIP64 extra field into each local header.
        assert member.data_offset == member.local_header_offset + 30 + len(member.raw_name) + 20
        assert read_member(BytesSource(data), member, max_bytes=1 << 20) == FILES[member.name]


def test_zip64_central_directory_and_end_records(monkeypatch: pytest.MonkeyPatch) -> None:
    # Lower zipfile's limits so that it writes the ZIP64 forms real large archives use.
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 100)
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 2)
    data = python_zip(FILES)
    monkeypatch.undo()
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data

    listing = listing_of(data)
    assert listing.problems == ()
    assert listing.zip64
    assert listing.declared_count == 3
    reference = zipfile.ZipFile(io.BytesIO(data)).infolist()
    for member, info in zip(listing.members, reference, strict=True):
        assert member.uncompressed_size == info.file_size
        assert member.local_header_offset == info.header_offset
        assert read_member(BytesSource(data), member, max_bytes=1 << 20) == FILES[member.name]
    # a.txt is over the limit in size, the others in header offset.
    assert all(m.zip64 for m in listing.members)


def test_hand_built_zip64_entries() -> None:
    data = build(
        [Raw(b"one", b"1" * 10, zip64=True), Raw(b"two", b"22", zip64=True)], zip64_end=True
    )
    listing = listing_of(data)
    assert listing.problems == ()
    assert listing.zip64
    assert [m.compressed_size for m in listing.members] == [10, 2]
    assert listing.members[1].local_header_offset == 30 + 3 + 10
    assert [info.filename for info in zipfile.ZipFile(io.BytesIO(data)).infolist()] == [
        "one",
        "two",
    ]


def test_data_descriptors_are_info_and_covered() -> None:
    class Unseekable(io.RawIOBase):
        def __init__(self) -> None:
            self.buffer = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, chunk: bytes) -> int:  # type: ignore[override]
            self.buffer += chunk
            return len(chunk)

    sink = Unseekable()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in FILES.items():
            archive.writestr(name, content)
    data = bytes(sink.buffer)
    listing = listing_of(data)
    assert all(member.has_data_descriptor for member in listing.members)
    assert codes(listing) == {"zip.flag-bits"}
    for member in listing.members:
        assert read_member(BytesSource(data), member, max_bytes=1 << 20) == FILES[member.name]


def test_utf8_and_cp437_names() -> None:
    data = python_zip({"modèle/poids.bin": b"x"})
    member = listing_of(data).members[0]
    assert member.name == "modèle/poids.bin"
    assert member.flags & 0x800
    legacy = build([Raw("é".encode("cp437"), b"x")])
    assert listing_of(legacy).members[0].name == "é"
    assert listing_of(legacy).members[0].raw_name == b"\x82"


# --------------------------------------------------------------------------
# fatal errors


def expect_error(data: bytes, code: str, **kwargs: int) -> FormatError:
    with pytest.raises(FormatError) as caught:
        read_zip(BytesSource(data), **kwargs)
    assert caught.value.code == code, caught.value.message
    assert code in PROBLEM_CODES
    return caught.value


def test_truncated_files() -> None:
    data = python_zip(FILES)
    expect_error(data[:10], "zip.truncated")
    expect_error(b"", "zip.truncated")
    expect_error(data[: len(data) // 2], "zip.no-eocd")
    expect_error(data[:-1], "zip.no-eocd")
    # Cutting the front off leaves the end record pointing past the end.
    expect_error(data[200:], "zip.truncated")


def test_no_end_record() -> None:
    expect_error(b"PK\x03\x04" + bytes(100_000), "zip.no-eocd")
    expect_error(b"just some text that is long enough to scan\n" * 3, "zip.no-eocd")


def test_end_record_pointing_outside_the_file() -> None:
    data = python_zip(FILES)
    eocd = data.rfind(b"PK\x05\x06")
    error = expect_error(patch_u32(data, eocd + 16, 0xFFFFFF00), "zip.truncated")
    assert "outside the file" in error.message
    expect_error(patch_u32(data, eocd + 12, 0x7FFFFFFF), "zip.truncated")


def test_too_many_members() -> None:
    expect_error(build([Raw(b"a")], zip64_end=True, count64=2**32 - 1), "zip.too-many-members")
    data = python_zip(FILES)
    eocd = data.rfind(b"PK\x05\x06")
    huge_count = patch_u16(patch_u16(data, eocd + 8, 0xFFFF), eocd + 10, 0xFFFF)
    expect_error(huge_count, "zip.too-many-members", max_members=1000)
    # The entries actually present are capped too, whatever the count says.
    many = build([Raw(f"m{i}".encode()) for i in range(20)], count=1)
    expect_error(many, "zip.too-many-members", max_members=10)


def test_bad_zip64_locator() -> None:
    data = build([Raw(b"a", b"x")], zip64_end=True)
    locator = data.rfind(b"PK\x06\x07")
    expect_error(patch(data, locator + 8, struct.pack("<Q", 2**40)), "zip.bad-zip64")
    record = data.rfind(b"PK\x06\x06")
    expect_error(patch(data, record + 4, struct.pack("<Q", 10)), "zip.bad-zip64")


def test_zip64_record_without_signature_is_ignored() -> None:
    # A locator whose target is not a ZIP64 record: miniz falls back to the classic record.
    data = build([Raw(b"a", b"x")])
    eocd = data.rfind(b"PK\x05\x06")
    fake = struct.pack("<4sIQI", b"PK\x06\x07", 0, 0, 1)
    listing = listing_of(data[:eocd] + bytes(56) + fake + data[eocd:])
    assert "zip.zip64-ignored" in codes(listing)
    assert listing.names == ("a",)


def test_garbage_central_directory() -> None:
    data = python_zip(FILES)
    central = central_offset_of(data, b"dir/b.bin")
    expect_error(patch(data, central, b"XXXX"), "zip.bad-central-directory")


def test_prepended_bytes_without_offset_fix() -> None:
    data = b"#!/bin/sh\nexit 0\n" + python_zip(FILES)
    error = expect_error(data, "zip.bad-central-directory")
    assert "prepended" in error.message


# --------------------------------------------------------------------------
# problems


def test_name_mismatch_between_local_and_central() -> None:
    data = python_zip(FILES)
    listing = listing_of(data)
    member = listing.find("a.txt")
    assert member is not None
    patched = patch(data, member.local_header_offset + 30, b"b")  # "a.txt" -> "b.txt"
    result = listing_of(patched)
    assert codes(result) == {"zip.name-mismatch"}
    problem = result.problems[0]
    assert problem.pointer == "a.txt"
    assert "'b.txt'" in problem.message
    # Lenient like miniz: the data is still where the local header says.
    assert read_member(BytesSource(patched), result.members[0], max_bytes=1 << 20) == FILES["a.txt"]
    # Python's zipfile refuses the same archive.
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(patched)).read("a.txt")

    longer = build([Raw(b"short", b"x", local_name=b"much-longer-name")])
    assert "zip.name-mismatch" in codes(listing_of(longer))


def test_bad_local_header() -> None:
    data = python_zip(FILES)
    member = listing_of(data).members[1]
    patched = patch(data, member.local_header_offset, b"JUNK")
    listing = listing_of(patched)
    assert "zip.bad-local-header" in codes(listing)
    broken = listing.members[1]
    assert broken.data_offset is None
    with pytest.raises(FormatError) as caught:
        read_member(BytesSource(patched), broken, max_bytes=1 << 20)
    assert caught.value.code == "zip.bad-local-header"


def test_duplicate_names() -> None:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("archive/data.pkl", b"first")
            archive.writestr("archive/data.pkl", b"second")
    listing = listing_of(buffer.getvalue())
    assert codes(listing) == {"zip.duplicate-name"}
    assert listing.problems[0].pointer == "archive/data.pkl"
    assert listing.find("archive/data.pkl") == listing.members[0]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil", "'..' component"),
        ("a/../../evil", "'..' component"),
        ("/abs", "absolute path"),
        ("C:\\x", "drive letter"),
        ("C:x", "drive letter"),
        ("dir\\file", "backslash"),
    ],
)
def test_unsafe_names(name: str, reason: str) -> None:
    listing = listing_of(python_zip({name: b"x"}))
    assert codes(listing) == {"zip.unsafe-name"}
    assert reason in listing.problems[0].message
    assert listing.problems[0].pointer == name


def test_nul_and_empty_names() -> None:
    listing = listing_of(build([Raw(b"evil\x00.txt", b"x"), Raw(b"", b"y")]))
    messages = [p.message for p in listing.problems if p.code == "zip.unsafe-name"]
    assert any("NUL" in message for message in messages)
    assert any("empty name" in message for message in messages)


def test_safe_names_are_not_flagged() -> None:
    names = {"archive/data/0": b"", "a..b/c": b"", "dir/": b"", ".hidden": b""}
    assert listing_of(python_zip(names)).problems == ()


def test_symlink_member() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("archive/link")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
        regular = zipfile.ZipInfo("archive/file")
        regular.create_system = 3
        regular.external_attr = (stat.S_IFREG | 0o644) << 16
        archive.writestr(regular, "x")
    listing = listing_of(buffer.getvalue())
    assert codes(listing) == {"zip.symlink-member"}
    assert listing.members[0].is_symlink
    assert not listing.members[1].is_symlink
    # The same mode bits from a non-unix host mean nothing.
    other = build([Raw(b"x", b"y", made_by=20, external_attr=(stat.S_IFLNK | 0o777) << 16)])
    assert listing_of(other).problems == ()


def test_prepended_data_polyglot() -> None:
    stub = b"MZ" + bytes(126)
    buffer = io.BytesIO(stub)
    buffer.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buffer, "a") as archive:
        for name, content in FILES.items():
            archive.writestr(name, content)
    data = buffer.getvalue()
    assert zipfile.ZipFile(io.BytesIO(data)).read("a.txt") == FILES["a.txt"]
    listing = listing_of(data)
    assert codes(listing) == {"zip.hidden-data"}
    assert listing.problems[0].offset == 0
    assert "prepended" in listing.problems[0].message
    assert listing.prepended_bytes == len(stub)
    assert not listing.starts_with_local_header


def test_gap_between_members_and_trailing_data() -> None:
    data = build([Raw(b"a", b"1"), Raw(b"b", b"2", gap_before=b"SECRET")], trailing=b"tail")
    listing = listing_of(data)
    assert codes(listing) == {"zip.hidden-data"}
    offsets = sorted(p.offset for p in listing.problems if p.offset is not None)
    assert offsets == [32, len(data) - 4]


def test_zip_bomb_declared_size() -> None:
    payload = zlib.compressobj(9, zlib.DEFLATED, -15)
    small = payload.compress(bytes(1000)) + payload.flush()
    data = build([Raw(b"bomb", small, method=8, usize=2**40 - 1, zip64=True)], zip64_end=True)
    listing = listing_of(data)
    assert "zip.bomb-suspect" in codes(listing)
    bomb = listing.members[0]
    assert bomb.uncompressed_size == 2**40 - 1
    # Reading it is bounded by the caller's limit, not by the declared size.
    assert read_member(BytesSource(data), bomb, max_bytes=4096) == bytes(1000)


def test_total_declared_size_is_capped() -> None:
    payload = zlib.compress(b"x", 9)[2:-4]
    members = [Raw(f"p{i}".encode(), payload, method=8, usize=2**30) for i in range(3)]
    listing = listing_of(build(members), max_total_size=2**31, max_ratio=1e12)
    archive_level = [p for p in listing.problems if p.code == "zip.bomb-suspect" and not p.pointer]
    assert len(archive_level) == 1


def test_encrypted_flag() -> None:
    data = build([Raw(b"secret", b"ciphertext", flags=0x1)])
    listing = listing_of(data)
    assert codes(listing) == {"zip.encrypted"}
    with pytest.raises(FormatError) as caught:
        read_member(BytesSource(data), listing.members[0], max_bytes=100)
    assert caught.value.code == "zip.encrypted"


def test_unusual_flag_bits_are_info() -> None:
    listing = listing_of(build([Raw(b"x", b"y", flags=0x0010)]))
    assert codes(listing) == {"zip.flag-bits"}
    assert "zip.flag-bits" in INFO_CODES


def test_unsupported_compression() -> None:
    data = python_zip({"b.txt": b"bzip2 data " * 20}, compression=zipfile.ZIP_BZIP2)
    listing = listing_of(data)
    assert codes(listing) == {"zip.unsupported-compression"}
    with pytest.raises(FormatError) as caught:
        read_member(BytesSource(data), listing.members[0], max_bytes=1 << 20)
    assert caught.value.code == "zip.unsupported-compression"


def test_member_out_of_bounds() -> None:
    data = python_zip(FILES)
    central = central_offset_of(data, b"dir/b.bin")
    patched = patch_u32(patch_u32(data, central + 20, 10**8), central + 24, 10**8)
    listing = listing_of(patched)
    assert "zip.member-out-of-bounds" in codes(listing)
    with pytest.raises(FormatError) as caught:
        read_member(BytesSource(patched), listing.members[1], max_bytes=10**9)
    assert caught.value.code == "zip.member-out-of-bounds"
    far = patch_u32(data, central + 42, 10**8)
    assert {"zip.member-out-of-bounds", "zip.bad-local-header"} <= codes(listing_of(far))


def test_overlapping_members() -> None:
    # Two central entries share one local header (the overlapping-file zip bomb).
    data = build([Raw(b"a", b"payload"), Raw(b"a2", b"other", local_offset=0)])
    listing = listing_of(data)
    assert "zip.member-overlap" in codes(listing)
    assert "zip.hidden-data" in codes(listing)  # the orphaned second local header
    assert listing.members[1].data_offset == listing.members[0].data_offset


def test_member_overlapping_central_directory() -> None:
    data = python_zip({"a": b"x" * 10})
    central = central_offset_of(data, b"a")
    grown = patch_u32(patch_u32(data, central + 20, 30), central + 24, 30)
    assert "zip.member-overlap" in codes(listing_of(grown))


def test_count_mismatch() -> None:
    data = python_zip(FILES)
    eocd = data.rfind(b"PK\x05\x06")
    fewer = patch_u16(patch_u16(data, eocd + 8, 2), eocd + 10, 2)
    listing = listing_of(fewer)
    assert codes(listing) == {"zip.count-mismatch"}
    assert len(listing.members) == 3
    assert "missed" in listing.problems[0].message


def test_size_mismatch_for_stored_member() -> None:
    listing = listing_of(build([Raw(b"a", b"1234", usize=99)]))
    assert codes(listing) == {"zip.size-mismatch"}


def test_ambiguous_end_records() -> None:
    inner = python_zip({"inner": b"1"})
    # The outer comment is a second end record: both records' comments reach the end
    # of the file, so readers can pick either (miniz and zipfile take the last one).
    outer = python_zip({"outer": b"2"}, comment=inner[-22:])
    listing = listing_of(outer)
    assert "zip.ambiguous-eocd" in codes(listing)
    assert listing.eocd_offset == len(outer) - 22
    assert listing.names == ("outer",)


def test_trailing_garbage_after_comment_is_flagged() -> None:
    data = python_zip(FILES, comment=b"note") + b"APPENDED"
    listing = listing_of(data)
    assert "zip.hidden-data" in codes(listing)


def test_truncated_comment() -> None:
    data = python_zip(FILES, comment=b"a comment")
    assert "zip.bad-eocd" in codes(listing_of(data[:-3]))


def test_problems_are_capped_per_code() -> None:
    members = [Raw(f"../m{i}".encode(), b"") for i in range(30)]
    listing = listing_of(build(members), max_problems_per_code=5)
    unsafe = [p for p in listing.problems if p.code == "zip.unsafe-name"]
    assert len(unsafe) == 6
    assert "25 more" in unsafe[-1].message


def test_bad_deflate_stream() -> None:
    data = build([Raw(b"bad", b"\xff" * 20, method=8, usize=100)])
    member = listing_of(data).members[0]
    with pytest.raises(FormatError) as caught:
        read_member(BytesSource(data), member, max_bytes=1000)
    assert caught.value.code == "zip.bad-deflate"
    cut = zlib.compressobj(9, zlib.DEFLATED, -15)
    half = (cut.compress(bytes(range(256)) * 50) + cut.flush())[:40]
    truncated = build([Raw(b"cut", half, method=8, usize=12800)])
    with pytest.raises(FormatError) as caught:
        read_member(BytesSource(truncated), listing_of(truncated).members[0], max_bytes=10**6)
    assert caught.value.code == "zip.bad-deflate"


# --------------------------------------------------------------------------
# bounded reads


def test_listing_reads_are_bounded() -> None:
    data = python_zip({f"f{i}": bytes(100) for i in range(200)})
    source = CountingSource(BytesSource(data))
    listing = read_zip(source)
    assert len(listing.members) == 200
    assert source.bytes_read <= 3 * len(data) + 70_000


def zip_variants() -> list[bytes]:
    plain = python_zip(FILES, comment=b"hello")
    deflated = python_zip(FILES, compression=zipfile.ZIP_DEFLATED)
    wide = build([Raw(b"one", b"1" * 10, zip64=True), Raw(b"two", b"22")], zip64_end=True)
    return [plain, deflated, wide]


VARIANTS = zip_variants()


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    variant=st.sampled_from(range(len(VARIANTS))),
    edits=st.lists(
        st.tuples(st.integers(min_value=0, max_value=10**6), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    ),
    cut=st.one_of(st.none(), st.integers(min_value=0, max_value=10**6)),
)
def test_mutated_archives_fail_cleanly(
    variant: int, edits: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(VARIANTS[variant])
    for position, value in edits:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    source = CountingSource(BytesSource(bytes(data)))
    try:
        listing = read_zip(source)
    except FormatError as error:
        assert error.code in PROBLEM_CODES
        assert source.bytes_read <= 3 * len(data) + 70_000
        return
    assert source.bytes_read <= 3 * len(data) + 70_000
    assert codes(listing) <= set(PROBLEM_CODES)
    for member in listing.members:
        before = source.bytes_read
        try:
            head = read_member_head(source, member, 256)
        except FormatError as error:
            assert error.code in PROBLEM_CODES
        else:
            assert len(head) <= 256
        assert source.bytes_read - before <= len(data)


def test_classic_and_zip64_end_records_disagree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 2)
    data = python_zip(FILES)
    monkeypatch.undo()
    eocd = data.rfind(b"PK\x05\x06")
    patched = patch_u16(patch_u16(data, eocd + 8, 2), eocd + 10, 2)
    listing = listing_of(patched)
    assert codes(listing) == {"zip.zip64-mismatch"}
    assert len(listing.members) == 3  # the ZIP64 count wins, as in miniz


def test_multi_disk_numbers() -> None:
    data = python_zip(FILES)
    eocd = data.rfind(b"PK\x05\x06")
    listing = listing_of(patch_u16(data, eocd + 4, 1))
    assert codes(listing) == {"zip.multi-disk"}


def test_malformed_extra_field() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("x")
        info.extra = b"FB\x04\x00abcd"
        archive.writestr(info, b"data")
    data = buffer.getvalue()
    central = central_offset_of(data, b"x")
    patched = patch_u16(data, central + 46 + 1 + 2, 0xFF)
    listing = listing_of(patched)
    assert codes(listing) == {"zip.bad-extra"}
    assert listing.problems[0].pointer == "x"


def test_bad_utf8_name() -> None:
    listing = listing_of(build([Raw(b"caf\xff", b"x", flags=0x800)]))
    assert codes(listing) == {"zip.bad-name-encoding"}
    assert listing.members[0].name == "caf\ufffd"
    assert listing.members[0].raw_name == b"caf\xff"


def test_local_header_disagrees_on_method() -> None:
    data = python_zip({"a": b"stored bytes"})
    patched = patch_u16(data, 8, 8)  # local method: deflate; central: stored
    listing = listing_of(patched)
    assert codes(listing) == {"zip.local-mismatch"}
    # miniz trusts the central directory.
    assert read_member(BytesSource(patched), listing.members[0], max_bytes=100) == b"stored bytes"
