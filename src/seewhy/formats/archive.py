"""A lenient, bounded reader of ZIP archives (PyTorch checkpoints, ``.npz``).

:func:`read_zip` lists an archive the way PyTorch's reader (miniz, inside
``PyTorchStreamReader``) does: it finds the end record by scanning back from
the end of the file, trusts the central directory, takes each member's data
offset from its local header, ignores general-purpose flag bits and never
checks CRCs. Where miniz would carry on silently, and wherever another
reader (Python's :mod:`zipfile`, ``unzip``) would see a different archive,
the listing records a :class:`~seewhy.formats.interface.Problem`; only what
stops every reader raises :class:`~seewhy.errors.FormatError`.

For tar archives, :class:`SourceFile` gives :mod:`tarfile` a read-only file
object over a Source that refuses any single read above a cap (a hostile
header cannot make it allocate), and :func:`legacy_torch_tar` tells the
pre-1.6 tar layout of ``torch.save`` (members ``sys_info``, ``pickle``,
``storages``, ``tensors``) from any other tar.

Every read is bounded: the end-record scan reads at most the last 65,557
bytes, the central directory is checked against the file size (and a cap)
before it is read, and per member only the local header and a name no longer
than the central name are read, so a listing reads O(file size) bytes however
the counts and offsets lie. :func:`read_member` decompresses incrementally and
stops one byte past its limit. Nothing is ever extracted to disk.
"""

from __future__ import annotations

import io
import re
import stat
import struct
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from seewhy.errors import FormatError
from seewhy.formats.interface import Problem, Source, read_exact

__all__ = [
    "INFO_CODES",
    "LEGACY_TORCH_MEMBERS",
    "METHOD_DEFLATED",
    "METHOD_STORED",
    "PROBLEM_CODES",
    "TAR_ERRORS",
    "ReadLimit",
    "SourceFile",
    "ZipListing",
    "ZipMember",
    "crc_ok",
    "iter_member",
    "legacy_torch_tar",
    "read_member",
    "read_member_head",
    "read_zip",
]

METHOD_STORED = 0
"""Compression method 0: the member's bytes are stored as they are."""

METHOD_DEFLATED = 8
"""Compression method 8: raw deflate, the only compression miniz reads."""

PROBLEM_CODES: dict[str, str] = {
    # Fatal: raised as FormatError.
    "zip.truncated": "The file is too short for a ZIP end record, or a structure the end "
    "record points to lies past the end of the file.",
    "zip.no-eocd": "No end-of-central-directory record in the last 65,557 bytes: not a ZIP "
    "archive, or one cut short.",
    "zip.bad-zip64": "The ZIP64 locator points outside the file, or the ZIP64 end record is "
    "malformed.",
    "zip.too-many-members": "The archive declares or holds more members than the reader's cap.",
    "zip.central-directory-too-large": "The central directory is larger than the reader's cap.",
    "zip.bad-central-directory": "The central directory does not hold the entries the end "
    "record declares (bad signature or an entry running past its end).",
    "zip.member-too-large": "A member's bytes exceed the size the caller allowed.",
    "zip.bad-deflate": "A member's deflate stream is corrupt or ends early.",
    # Non-fatal: recorded as Problem in the listing (some also raised by read_member).
    "zip.ambiguous-eocd": "More than one end record is valid; readers that pick another one "
    "see a different archive.",
    "zip.bad-eocd": "The end record's comment length runs past the end of the file.",
    "zip.zip64-ignored": "A ZIP64 locator is present but the record it points to has no "
    "ZIP64 signature, so PyTorch's reader ignores it.",
    "zip.zip64-mismatch": "The classic end record and the ZIP64 end record disagree; readers "
    "that use one or the other see different archives.",
    "zip.multi-disk": "Disk numbers say the archive spans several disks (unsupported by "
    "PyTorch's reader).",
    "zip.cd-misplaced": "The central directory does not end where the end records begin.",
    "zip.count-mismatch": "The number of central directory entries differs from the count in "
    "the end record; readers that trust the count and readers that walk the directory see "
    "different members.",
    "zip.bad-extra": "A member's extra field is malformed or its ZIP64 field is too short.",
    "zip.bad-name-encoding": "A member name flagged as UTF-8 is not valid UTF-8.",
    "zip.bad-local-header": "A member's local header is missing, out of the file or has a bad "
    "signature; its data offset is unknown.",
    "zip.name-mismatch": "A member's local header names a different file than its central "
    "directory entry (PyTorch uses the central name, Python's zipfile refuses).",
    "zip.local-mismatch": "A member's local header disagrees with its central entry on the "
    "compression method or the encryption flag.",
    "zip.duplicate-name": "Two or more members share a name; readers disagree on which wins.",
    "zip.encrypted": "A member is flagged as encrypted.",
    "zip.flag-bits": "Informational: a member sets a data-descriptor or other unusual "
    "general-purpose flag bit (PyTorch's reader ignores flag bits).",
    "zip.unsupported-compression": "A member uses a compression method other than stored or "
    "deflate, which PyTorch's reader cannot read.",
    "zip.size-mismatch": "A member's sizes are inconsistent (stored with different sizes, or "
    "data with a zero compressed size).",
    "zip.member-out-of-bounds": "A member's data range lies outside the file.",
    "zip.member-overlap": "A member's bytes overlap another member or the central directory "
    "(overlapping-entry zip bombs, smuggled data).",
    "zip.unsafe-name": "A member name is absolute, climbs with '..', uses backslashes or a "
    "drive letter, holds a NUL or is empty (path traversal on extraction).",
    "zip.symlink-member": "A member made on unix is a symbolic link.",
    "zip.hidden-data": "Bytes that no member or ZIP structure covers: prepended data "
    "(polyglot files), gaps between members, or data after the end record.",
    "zip.bomb-suspect": "A member (or the archive) declares a compression ratio or an "
    "uncompressed size beyond the reader's caps.",
    "zip.comment": "Informational: the archive carries an end-record comment.",
}
"""Every problem and error code this module produces, with a one-line description."""

INFO_CODES: frozenset[str] = frozenset({"zip.flag-bits", "zip.comment"})
"""Codes that describe rather than warn."""

_EOCD_SIG = b"PK\x05\x06"
_Z64_LOCATOR_SIG = b"PK\x06\x07"
_Z64_EOCD_SIG = b"PK\x06\x06"
_CENTRAL_SIG = b"PK\x01\x02"
_LOCAL_SIG = b"PK\x03\x04"
_DESCRIPTOR_SIG = b"PK\x07\x08"

_EOCD = struct.Struct("<4sHHHHIIH")
_Z64_LOCATOR = struct.Struct("<4sIQI")
_Z64_EOCD = struct.Struct("<4sQHHIIQQQQ")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_EXTRA_HEADER = struct.Struct("<HH")

_MAX_COMMENT = 0xFFFF
_EOCD_SCAN = _EOCD.size + _MAX_COMMENT  # 65,557 bytes
_U16_MAX = 0xFFFF
_U32_MAX = 0xFFFFFFFF
_ZIP64_EXTRA_ID = 0x0001

_FLAG_ENCRYPTED = 0x0001
_FLAG_DESCRIPTOR = 0x0008
_FLAG_STRONG_ENCRYPTION = 0x0040
_FLAG_UTF8 = 0x0800
_FLAG_MASKED_LOCAL = 0x2000
_ENCRYPTION_FLAGS = _FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION | _FLAG_MASKED_LOCAL
# Bits 1-2 (deflate options), 11 (UTF-8 names) are ordinary; the rest are worth a note.
_ORDINARY_FLAGS = 0x0002 | 0x0004 | _FLAG_UTF8

_CREATE_SYSTEM_UNIX = 3
_RATIO_MIN_SIZE = 1 << 20
_READ_CHUNK = 1 << 16

_DRIVE_RE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ZipMember:
    """One central directory entry, with what its local header adds.

    Sizes and the local header offset are the ZIP64 values where a ZIP64
    extra field supplies them. ``data_offset`` is ``None`` when the local
    header could not be read.
    """

    index: int
    name: str
    raw_name: bytes
    flags: int
    method: int
    crc32: int
    compressed_size: int
    uncompressed_size: int
    local_header_offset: int
    data_offset: int | None
    central_offset: int
    version_made_by: int
    external_attr: int
    zip64: bool

    @property
    def create_system(self) -> int:
        """The host system the member was made on (3 is unix)."""
        return self.version_made_by >> 8

    @property
    def is_dir(self) -> bool:
        """Whether the entry names a folder."""
        return self.name.endswith("/")

    @property
    def encrypted(self) -> bool:
        """Whether any encryption flag bit is set."""
        return bool(self.flags & _ENCRYPTION_FLAGS)

    @property
    def has_data_descriptor(self) -> bool:
        """Whether flag bit 3 says sizes and CRC follow the data."""
        return bool(self.flags & _FLAG_DESCRIPTOR)

    @property
    def is_symlink(self) -> bool:
        """Whether the unix mode in the external attributes is a symbolic link."""
        return self.create_system == _CREATE_SYSTEM_UNIX and stat.S_ISLNK(self.external_attr >> 16)

    @property
    def data_end(self) -> int | None:
        """One past the last byte of the member's (compressed) data, if known."""
        if self.data_offset is None:
            return None
        return self.data_offset + self.compressed_size


@dataclass(frozen=True)
class ZipListing:
    """What :func:`read_zip` found: members, layout and problems.

    ``members`` are in central directory order, including any entries found
    past the count the end record declares (see ``zip.count-mismatch``).
    ``comment`` holds at most the reader's ``max_comment`` bytes of an end
    record comment that is ``comment_length`` bytes long.
    """

    size: int
    members: tuple[ZipMember, ...]
    problems: tuple[Problem, ...]
    eocd_offset: int
    central_directory_offset: int
    central_directory_size: int
    declared_count: int
    zip64: bool
    comment: bytes
    comment_length: int
    starts_with_local_header: bool
    prepended_bytes: int

    def find(self, name: str) -> ZipMember | None:
        """Return the first member called ``name``, or ``None``."""
        for member in self.members:
            if member.name == name:
                return member
        return None

    @property
    def names(self) -> tuple[str, ...]:
        """Member names in central directory order."""
        return tuple(member.name for member in self.members)

    @property
    def problem_codes(self) -> frozenset[str]:
        """The set of problem codes recorded."""
        return frozenset(problem.code for problem in self.problems)


class _Problems:
    """Collects problems, keeping at most ``limit`` of each code."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._items: list[Problem] = []
        self._counts: dict[str, int] = {}

    def add(
        self, code: str, message: str, offset: int | None = None, pointer: str | None = None
    ) -> None:
        count = self._counts.get(code, 0) + 1
        self._counts[code] = count
        if count <= self._limit:
            self._items.append(Problem(code, message, offset, pointer))

    def finish(self) -> tuple[Problem, ...]:
        items = list(self._items)
        for code, count in self._counts.items():
            if count > self._limit:
                items.append(
                    Problem(code, f"... and {count - self._limit} more {code} problems not listed")
                )
        return tuple(items)


@dataclass
class _End:
    """The end records, merged: values the central directory is read with."""

    eocd_offset: int
    comment_length: int
    comment: bytes
    total_entries: int
    cd_size: int
    cd_offset: int
    zip64: bool
    zip64_offset: int | None
    zip64_record_size: int


@dataclass
class _Entry:
    """A central directory entry before its local header is read."""

    central_offset: int
    version_made_by: int
    flags: int
    method: int
    crc32: int
    compressed_size: int
    uncompressed_size: int
    local_header_offset: int
    raw_name: bytes
    external_attr: int
    zip64: bool


def read_zip(
    source: Source,
    *,
    max_members: int = 200_000,
    max_comment: int = 4096,
    max_central_directory: int = 256 << 20,
    max_ratio: float = 100.0,
    max_member_size: int = 1 << 36,
    max_total_size: int = 1 << 40,
    max_problems_per_code: int = 100,
) -> ZipListing:
    """List a ZIP archive leniently, recording every anomaly as a problem.

    ``max_members`` caps the declared and the actual member count,
    ``max_central_directory`` the bytes of central directory read,
    ``max_comment`` the end-record comment bytes kept. ``max_ratio``,
    ``max_member_size`` and ``max_total_size`` are the ``zip.bomb-suspect``
    thresholds on declared sizes (the ratio only counts for members above
    1 MiB). At most ``max_problems_per_code`` problems of one code are kept,
    followed by one that counts the rest.

    Raises :class:`~seewhy.errors.FormatError` (codes ``zip.*``) when no
    reader could list the archive.
    """
    problems = _Problems(max_problems_per_code)
    size = source.size
    end = _read_end(source, size, max_comment, problems)

    if end.total_entries > max_members:
        raise FormatError(
            "zip.too-many-members",
            f"the end record declares {end.total_entries} members; the cap is {max_members}",
            end.eocd_offset,
        )
    if end.cd_offset > size or end.cd_offset + end.cd_size > size:
        raise FormatError(
            "zip.truncated",
            f"the central directory ({end.cd_size} bytes at offset {end.cd_offset}) lies "
            f"outside the file of {size} bytes",
            end.eocd_offset,
        )
    if end.cd_size > max_central_directory:
        raise FormatError(
            "zip.central-directory-too-large",
            f"the central directory is {end.cd_size} bytes; the cap is {max_central_directory}",
            end.cd_offset,
        )
    structures_start = end.zip64_offset if end.zip64_offset is not None else end.eocd_offset
    if end.cd_offset + end.cd_size != structures_start:
        problems.add(
            "zip.cd-misplaced",
            f"the central directory ends at {end.cd_offset + end.cd_size}, but the end "
            f"records begin at {structures_start}",
            end.cd_offset,
        )

    directory = read_exact(source, end.cd_offset, end.cd_size, "central directory", "zip.truncated")
    if end.total_entries and directory[:4] != _CENTRAL_SIG:
        _explain_shift(source, end, structures_start)
    entries, used = _parse_central_directory(directory, end, max_members, problems)
    if len(entries) != end.total_entries:
        extra = len(entries) - end.total_entries
        detail = (
            f"{extra} entries past the declared count are missed by readers that trust it "
            "(PyTorch's)"
            if extra > 0
            else "readers that trust the count (PyTorch's) reject the archive"
        )
        problems.add(
            "zip.count-mismatch",
            f"the end record declares {end.total_entries} members, the central directory "
            f"holds {len(entries)}: {detail}",
            end.eocd_offset,
        )

    members = tuple(
        _read_local(source, size, index, entry, problems) for index, entry in enumerate(entries)
    )
    _check_members(members, size, problems, max_ratio, max_member_size, max_total_size)
    intervals = _structure_intervals(end, used, size)
    prepended = _check_layout(source, size, members, intervals, problems)

    return ZipListing(
        size=size,
        members=members,
        problems=problems.finish(),
        eocd_offset=end.eocd_offset,
        central_directory_offset=end.cd_offset,
        central_directory_size=end.cd_size,
        declared_count=end.total_entries,
        zip64=end.zip64,
        comment=end.comment,
        comment_length=end.comment_length,
        starts_with_local_header=source.read_at(0, 4) == _LOCAL_SIG,
        prepended_bytes=prepended,
    )


def _read_end(source: Source, size: int, max_comment: int, problems: _Problems) -> _End:
    """Find and merge the end record and, where present, the ZIP64 end record."""
    if size < _EOCD.size:
        raise FormatError(
            "zip.truncated", f"{size} bytes is too short for a ZIP end record (22 bytes)", 0
        )
    window_start = max(0, size - _EOCD_SCAN)
    tail = read_exact(source, window_start, size - window_start, "end record scan", "zip.truncated")
    # Like miniz: the last signature with room for a whole record after it.
    found = tail.rfind(_EOCD_SIG, 0, len(tail) - _EOCD.size + len(_EOCD_SIG))
    if found < 0:
        raise FormatError(
            "zip.no-eocd", "no end-of-central-directory record in the last 65,557 bytes", None
        )
    eocd_offset = window_start + found
    (_, this_disk, cd_disk, entries_disk, entries_total, cd_size, cd_offset, comment_length) = (
        _EOCD.unpack_from(tail, found)
    )
    comment_start = found + _EOCD.size
    comment = tail[comment_start : comment_start + min(comment_length, max_comment)]
    if eocd_offset + _EOCD.size + comment_length > size:
        problems.add(
            "zip.bad-eocd",
            f"the end record declares a {comment_length}-byte comment, but only "
            f"{size - eocd_offset - _EOCD.size} bytes follow it",
            eocd_offset,
        )
    if comment_length:
        problems.add("zip.comment", f"the archive has a {comment_length}-byte comment", eocd_offset)
    _check_other_eocd(tail, found, window_start, size, problems)

    end = _End(
        eocd_offset=eocd_offset,
        comment_length=comment_length,
        comment=comment,
        total_entries=entries_total,
        cd_size=cd_size,
        cd_offset=cd_offset,
        zip64=False,
        zip64_offset=None,
        zip64_record_size=0,
    )
    disks = (this_disk, cd_disk)
    entries_on_disk = entries_disk
    if eocd_offset >= _Z64_LOCATOR.size + _Z64_EOCD.size:
        locator = read_exact(
            source, eocd_offset - _Z64_LOCATOR.size, _Z64_LOCATOR.size, "ZIP64 locator"
        )
        signature, _, z64_offset, total_disks = _Z64_LOCATOR.unpack(locator)
        if signature == _Z64_LOCATOR_SIG:
            merged = _merge_zip64(source, size, end, z64_offset, total_disks, problems)
            if merged is not None:
                entries_on_disk, disks = merged
    if entries_on_disk != end.total_entries or disks not in ((0, 0), (1, 1)):
        problems.add(
            "zip.multi-disk",
            f"disk numbers {disks} and {entries_on_disk} of {end.total_entries} entries on "
            "this disk describe a multi-disk archive",
            eocd_offset,
        )
    return end


def _check_other_eocd(
    tail: bytes, found: int, window_start: int, size: int, problems: _Problems
) -> None:
    """Record another end record whose comment reaches exactly the end of the file."""
    position = tail.rfind(_EOCD_SIG, 0, found)
    while position >= 0:
        if position + _EOCD.size <= len(tail):
            comment_length = _EOCD.unpack_from(tail, position)[7]
            if window_start + position + _EOCD.size + comment_length == size:
                problems.add(
                    "zip.ambiguous-eocd",
                    f"the end record at {window_start + position} would also be valid "
                    f"(its comment reaches the end of the file); this reader uses the one "
                    f"at {window_start + found}",
                    window_start + position,
                )
                return
        position = tail.rfind(_EOCD_SIG, 0, position)


def _merge_zip64(
    source: Source,
    size: int,
    end: _End,
    z64_offset: int,
    total_disks: int,
    problems: _Problems,
) -> tuple[int, tuple[int, int]] | None:
    """Apply the ZIP64 end record to ``end``; return entries on this disk and disk numbers.

    Returns ``None`` (and changes nothing) when the locator's target is not a
    ZIP64 end record: miniz then reads the classic record alone.
    """
    if z64_offset > size - _Z64_EOCD.size:
        raise FormatError(
            "zip.bad-zip64",
            f"the ZIP64 locator points to offset {z64_offset}, outside the file",
            end.eocd_offset - _Z64_LOCATOR.size,
        )
    record = read_exact(source, z64_offset, _Z64_EOCD.size, "ZIP64 end record", "zip.bad-zip64")
    (
        signature,
        record_size,
        _,
        _,
        this_disk,
        cd_disk,
        entries_disk,
        entries_total,
        cd_size,
        cd_offset,
    ) = _Z64_EOCD.unpack(record)
    if signature != _Z64_EOCD_SIG:
        problems.add(
            "zip.zip64-ignored",
            f"the ZIP64 locator points to offset {z64_offset}, which holds no ZIP64 end record",
            z64_offset,
        )
        return None
    if record_size < _Z64_EOCD.size - 12:
        raise FormatError(
            "zip.bad-zip64", f"the ZIP64 end record declares {record_size} bytes", z64_offset
        )
    if total_disks != 1:
        problems.add(
            "zip.multi-disk", f"the ZIP64 locator declares {total_disks} disks", z64_offset
        )
    mismatches = [
        label
        for label, classic, sentinel, wide in (
            ("entry count", end.total_entries, _U16_MAX, entries_total),
            ("directory size", end.cd_size, _U32_MAX, cd_size),
            ("directory offset", end.cd_offset, _U32_MAX, cd_offset),
        )
        if classic != sentinel and classic != wide
    ]
    if mismatches:
        problems.add(
            "zip.zip64-mismatch",
            "the end record and the ZIP64 end record disagree on the " + ", ".join(mismatches),
            z64_offset,
        )
    end.zip64 = True
    end.zip64_offset = z64_offset
    end.zip64_record_size = 12 + record_size
    end.total_entries = entries_total
    end.cd_size = cd_size
    end.cd_offset = cd_offset
    return entries_disk, (this_disk, cd_disk)


def _explain_shift(source: Source, end: _End, structures_start: int) -> None:
    """Raise a helpful error when the offsets are shifted by prepended bytes."""
    shifted = structures_start - end.cd_size
    if shifted != end.cd_offset and shifted >= 0 and source.read_at(shifted, 4) == _CENTRAL_SIG:
        raise FormatError(
            "zip.bad-central-directory",
            f"no central directory at offset {end.cd_offset}, but one at {shifted}: "
            f"{shifted - end.cd_offset} bytes were prepended without adjusting the offsets "
            "(Python's zipfile compensates, PyTorch's reader does not)",
            end.cd_offset,
        )


def _parse_central_directory(
    directory: bytes, end: _End, max_members: int, problems: _Problems
) -> tuple[list[_Entry], int]:
    """Walk the central directory; return the entries and the bytes they cover."""
    entries: list[_Entry] = []
    position = 0
    while position + _CENTRAL.size <= len(directory):
        if directory[position : position + 4] != _CENTRAL_SIG:
            break
        fields = _CENTRAL.unpack_from(directory, position)
        name_length, extra_length, comment_length = fields[10], fields[11], fields[12]
        total = _CENTRAL.size + name_length + extra_length + comment_length
        if position + total > len(directory):
            break
        if len(entries) >= max_members:
            raise FormatError(
                "zip.too-many-members",
                f"the central directory holds more than {max_members} members",
                end.cd_offset + position,
            )
        entries.append(_parse_entry(directory, position, fields, end.cd_offset, problems))
        position += total
    if position < len(directory):
        if len(entries) < end.total_entries:
            raise FormatError(
                "zip.bad-central-directory",
                f"central directory entry {len(entries)} at offset {end.cd_offset + position} "
                f"is malformed or runs past the directory; {end.total_entries} were declared",
                end.cd_offset + position,
            )
        problems.add(
            "zip.hidden-data",
            f"{len(directory) - position} bytes at the end of the central directory belong "
            "to no entry",
            end.cd_offset + position,
        )
    return entries, position


def _parse_entry(
    directory: bytes,
    position: int,
    fields: tuple[int, ...],
    cd_offset: int,
    problems: _Problems,
) -> _Entry:
    """Decode one central directory entry, applying its ZIP64 extra field."""
    (
        _,
        version_made_by,
        _,
        flags,
        method,
        _,
        _,
        crc32,
        compressed_size,
        uncompressed_size,
        name_length,
        extra_length,
        _,
        disk_start,
        _,
        external_attr,
        local_header_offset,
    ) = fields
    name_start = position + _CENTRAL.size
    raw_name = directory[name_start : name_start + name_length]
    extra = directory[name_start + name_length : name_start + name_length + extra_length]
    entry = _Entry(
        central_offset=cd_offset + position,
        version_made_by=version_made_by,
        flags=flags,
        method=method,
        crc32=crc32,
        compressed_size=compressed_size,
        uncompressed_size=uncompressed_size,
        local_header_offset=local_header_offset,
        raw_name=raw_name,
        external_attr=external_attr,
        zip64=False,
    )
    _apply_zip64_extra(entry, extra, disk_start, problems)
    return entry


def _iter_extra(extra: bytes) -> Iterator[tuple[int, bytes] | None]:
    """Yield ``(header id, data)`` per extra field, then ``None`` if the rest is malformed."""
    position = 0
    while position < len(extra):
        if position + _EXTRA_HEADER.size > len(extra):
            yield None
            return
        header_id, data_size = _EXTRA_HEADER.unpack_from(extra, position)
        start = position + _EXTRA_HEADER.size
        if start + data_size > len(extra):
            yield None
            return
        yield header_id, extra[start : start + data_size]
        position = start + data_size


def _apply_zip64_extra(entry: _Entry, extra: bytes, disk_start: int, problems: _Problems) -> None:
    """Replace sentinel sizes and offset with the values of a ZIP64 extra field."""
    pointer = _display_name(entry.raw_name, entry.flags)
    for item in _iter_extra(extra):
        if item is None:
            problems.add(
                "zip.bad-extra",
                "the extra field is malformed (a field runs past its end)",
                entry.central_offset,
                pointer,
            )
            return
        header_id, data = item
        if header_id != _ZIP64_EXTRA_ID:
            continue
        entry.zip64 = True
        wanted = [
            name
            for name, value, sentinel in (
                ("uncompressed_size", entry.uncompressed_size, _U32_MAX),
                ("compressed_size", entry.compressed_size, _U32_MAX),
                ("local_header_offset", entry.local_header_offset, _U32_MAX),
                ("disk_start", disk_start, _U16_MAX),
            )
            if value == sentinel
        ]
        position = 0
        for name in wanted:
            width = 4 if name == "disk_start" else 8
            if position + width > len(data):
                problems.add(
                    "zip.bad-extra",
                    f"the ZIP64 extra field is too short to hold {name}",
                    entry.central_offset,
                    pointer,
                )
                return
            value = int.from_bytes(data[position : position + width], "little")
            position += width
            if name != "disk_start":
                setattr(entry, name, value)
        return


def _display_name(raw_name: bytes, flags: int) -> str:
    """Decode a member name: UTF-8 when flag bit 11 says so, else code page 437."""
    if flags & _FLAG_UTF8:
        return raw_name.decode("utf-8", errors="replace")
    return raw_name.decode("cp437")


def _read_local(
    source: Source, size: int, index: int, entry: _Entry, problems: _Problems
) -> ZipMember:
    """Read a member's local header and build the member."""
    name = _display_name(entry.raw_name, entry.flags)
    if entry.flags & _FLAG_UTF8:
        try:
            entry.raw_name.decode("utf-8")
        except UnicodeDecodeError:
            problems.add(
                "zip.bad-name-encoding",
                "the name is flagged as UTF-8 but is not valid UTF-8",
                entry.central_offset,
                name,
            )
    data_offset: int | None = None
    offset = entry.local_header_offset
    want = _LOCAL.size + len(entry.raw_name)
    header = source.read_at(offset, min(want, size - offset)) if offset < size else b""
    if len(header) < _LOCAL.size or header[:4] != _LOCAL_SIG:
        problems.add(
            "zip.bad-local-header",
            f"no local header at offset {offset}",
            offset,
            name,
        )
    else:
        local = _LOCAL.unpack_from(header)
        local_flags, local_method, local_name_length, local_extra_length = (
            local[2],
            local[3],
            local[9],
            local[10],
        )
        data_offset = offset + _LOCAL.size + local_name_length + local_extra_length
        if local_name_length != len(entry.raw_name):
            problems.add(
                "zip.name-mismatch",
                f"the local header's name is {local_name_length} bytes long, the central "
                f"directory's {len(entry.raw_name)}",
                offset,
                name,
            )
        elif header[_LOCAL.size :] != entry.raw_name:
            local_name = _display_name(header[_LOCAL.size :], local_flags)
            problems.add(
                "zip.name-mismatch",
                f"the local header names {local_name!r}, the central directory {name!r}",
                offset,
                name,
            )
        if local_method != entry.method or (local_flags ^ entry.flags) & _FLAG_ENCRYPTED:
            problems.add(
                "zip.local-mismatch",
                f"the local header says method {local_method} and flags {local_flags:#06x}, "
                f"the central directory method {entry.method} and flags {entry.flags:#06x}",
                offset,
                name,
            )
    return ZipMember(
        index=index,
        name=name,
        raw_name=entry.raw_name,
        flags=entry.flags,
        method=entry.method,
        crc32=entry.crc32,
        compressed_size=entry.compressed_size,
        uncompressed_size=entry.uncompressed_size,
        local_header_offset=entry.local_header_offset,
        data_offset=data_offset,
        central_offset=entry.central_offset,
        version_made_by=entry.version_made_by,
        external_attr=entry.external_attr,
        zip64=entry.zip64,
    )


def unsafe_name_reasons(name: str) -> list[str]:
    """Why extracting an archive member of this name could escape the target folder.

    Shared by the zip and tar checks: empty names, NUL bytes, absolute paths,
    backslashes, drive letters and '..' components.
    """
    reasons: list[str] = []
    if not name:
        reasons.append("empty name")
    if "\x00" in name:
        reasons.append("NUL byte")
    if name.startswith(("/", "\\")):
        reasons.append("absolute path")
    if "\\" in name:
        reasons.append("backslash")
    if _DRIVE_RE.match(name):
        reasons.append("drive letter")
    if ".." in re.split(r"[/\\]", name):
        reasons.append("'..' component")
    return reasons


def _unsafe_reasons(member: ZipMember) -> list[str]:
    """Why extracting this member's name could escape the target folder."""
    return unsafe_name_reasons(member.name)


def _check_members(
    members: tuple[ZipMember, ...],
    size: int,
    problems: _Problems,
    max_ratio: float,
    max_member_size: int,
    max_total_size: int,
) -> None:
    """Per-member checks: names, flags, methods, sizes and bounds."""
    seen: dict[bytes, int] = {}
    total_uncompressed = 0
    for member in members:
        name = member.name
        at = member.central_offset
        first = seen.setdefault(member.raw_name, member.index)
        if first != member.index:
            problems.add(
                "zip.duplicate-name",
                f"member {member.index} has the same name as member {first}",
                at,
                name,
            )
        reasons = _unsafe_reasons(member)
        if reasons:
            problems.add("zip.unsafe-name", f"unsafe name: {', '.join(reasons)}", at, name)
        if member.is_symlink:
            problems.add("zip.symlink-member", "the member is a symbolic link", at, name)
        if member.encrypted:
            problems.add(
                "zip.encrypted", f"encryption flag bits set ({member.flags:#06x})", at, name
            )
        unusual = member.flags & ~_ORDINARY_FLAGS & ~_ENCRYPTION_FLAGS
        if unusual:
            what = "data descriptor" if unusual == _FLAG_DESCRIPTOR else "unusual flag bits"
            problems.add("zip.flag-bits", f"{what} ({unusual:#06x})", at, name)
        if member.method not in (METHOD_STORED, METHOD_DEFLATED):
            problems.add(
                "zip.unsupported-compression",
                f"compression method {member.method} ({_method_name(member.method)})",
                at,
                name,
            )
        if member.method == METHOD_STORED and member.compressed_size != member.uncompressed_size:
            problems.add(
                "zip.size-mismatch",
                f"stored member declares {member.compressed_size} bytes stored and "
                f"{member.uncompressed_size} uncompressed",
                at,
                name,
            )
        elif member.uncompressed_size and not member.compressed_size:
            problems.add(
                "zip.size-mismatch",
                f"{member.uncompressed_size} uncompressed bytes from no compressed bytes",
                at,
                name,
            )
        total_uncompressed += member.uncompressed_size
        _check_bomb(member, problems, max_ratio, max_member_size)
        _check_bounds(member, size, problems)
    if total_uncompressed > max_total_size:
        problems.add(
            "zip.bomb-suspect",
            f"the members declare {total_uncompressed} uncompressed bytes in all; the cap is "
            f"{max_total_size}",
        )


def _method_name(method: int) -> str:
    return {
        1: "shrink",
        6: "implode",
        9: "deflate64",
        12: "bzip2",
        14: "lzma",
        93: "zstandard",
        95: "xz",
        98: "ppmd",
        99: "AE-x encryption",
    }.get(method, "unknown")


def _check_bomb(
    member: ZipMember, problems: _Problems, max_ratio: float, max_member_size: int
) -> None:
    if member.method == METHOD_STORED:
        return
    declared = member.uncompressed_size
    at, name = member.central_offset, member.name
    if declared > max_member_size:
        problems.add(
            "zip.bomb-suspect",
            f"declares {declared} uncompressed bytes; the cap is {max_member_size}",
            at,
            name,
        )
    elif declared > _RATIO_MIN_SIZE and declared > max_ratio * max(member.compressed_size, 1):
        ratio = declared / max(member.compressed_size, 1)
        problems.add(
            "zip.bomb-suspect",
            f"compression ratio {ratio:.0f}:1 ({member.compressed_size} to {declared} bytes) "
            f"exceeds {max_ratio:g}:1",
            at,
            name,
        )


def _check_bounds(member: ZipMember, size: int, problems: _Problems) -> None:
    end = member.data_end
    if member.local_header_offset >= size or (end is not None and end > size):
        where = (
            f"data {member.data_offset}..{end}"
            if end is not None
            else f"local header {member.local_header_offset}"
        )
        problems.add(
            "zip.member-out-of-bounds",
            f"{where} lies outside the file of {size} bytes",
            member.local_header_offset,
            member.name,
        )


def _structure_intervals(end: _End, used: int, size: int) -> list[tuple[int, int, str]]:
    """Byte ranges of the central directory and end records, clipped to the file."""
    intervals = [(end.cd_offset, end.cd_offset + used, "the central directory")]
    if used < end.cd_size:
        intervals.append(
            (end.cd_offset + used, end.cd_offset + end.cd_size, "the central directory")
        )
    if end.zip64_offset is not None:
        intervals.append(
            (
                end.zip64_offset,
                min(end.zip64_offset + end.zip64_record_size, size),
                "the ZIP64 end record",
            )
        )
        locator = end.eocd_offset - _Z64_LOCATOR.size
        intervals.append((locator, end.eocd_offset, "the ZIP64 locator"))
    eocd_end = min(end.eocd_offset + _EOCD.size + end.comment_length, size)
    intervals.append((end.eocd_offset, eocd_end, "the end record"))
    return intervals


def _descriptor_length(source: Source, member: ZipMember, size: int) -> int:
    """Length of the data descriptor after a member's data (0 when it has none)."""
    end = member.data_end
    if not member.has_data_descriptor or end is None or end >= size:
        return 0
    body = 20 if member.zip64 else 12
    signed = source.read_at(end, 4) == _DESCRIPTOR_SIG
    return min(body + (4 if signed else 0), size - end)


def _check_layout(
    source: Source,
    size: int,
    members: tuple[ZipMember, ...],
    structures: list[tuple[int, int, str]],
    problems: _Problems,
) -> int:
    """Find overlaps and uncovered bytes; return the bytes before the first member."""
    intervals: list[tuple[int, int, str, ZipMember | None]] = [
        (start, end, label, None) for start, end, label in structures if start < end
    ]
    for member in members:
        start = member.local_header_offset
        if start >= size:
            continue
        data_end = member.data_end
        if data_end is None:
            stop = min(start + _LOCAL.size, size)
        else:
            stop = min(data_end, size) + _descriptor_length(source, member, size)
        intervals.append((start, max(stop, start + 1), f"member {member.name!r}", member))
    intervals.sort(key=lambda item: (item[0], item[1]))

    cursor = 0
    reach_label = ""
    reach_member: ZipMember | None = None
    for start, stop, label, owner in intervals:
        if start > cursor:
            _report_gap(cursor, start, problems)
        elif start < cursor:
            if owner is not None:
                subject, other = owner.name, reach_label
            elif reach_member is not None:
                subject, other = reach_member.name, label
            else:
                subject = None
            if subject is not None:
                problems.add(
                    "zip.member-overlap",
                    f"bytes {start}..{min(stop, cursor)} are shared with {other}",
                    start,
                    subject,
                )
        if stop > cursor:
            cursor, reach_label, reach_member = stop, label, owner
    if cursor < size:
        _report_gap(cursor, size, problems)

    starts = [member.local_header_offset for member in members if member.data_offset is not None]
    return min(starts) if starts else min((start for start, _, _ in structures), default=0)


def _report_gap(start: int, stop: int, problems: _Problems) -> None:
    if start == 0:
        message = (
            f"{stop} bytes before the first ZIP structure (prepended data: the file may be "
            "a polyglot, and readers that check the first bytes see another format)"
        )
    else:
        message = f"{stop - start} bytes at {start}..{stop} belong to no member or ZIP structure"
    problems.add("zip.hidden-data", message, start)


def _check_readable(source: Source, member: ZipMember) -> tuple[int, int]:
    """Return the member's data range, or raise why it cannot be read."""
    if member.encrypted:
        raise FormatError("zip.encrypted", f"{member.name!r} is encrypted", member.central_offset)
    if member.data_offset is None:
        raise FormatError(
            "zip.bad-local-header",
            f"{member.name!r} has no readable local header",
            member.local_header_offset,
        )
    end = member.data_offset + member.compressed_size
    if end > source.size:
        raise FormatError(
            "zip.member-out-of-bounds",
            f"{member.name!r}: data {member.data_offset}..{end} lies outside the file",
            member.data_offset,
        )
    if member.method not in (METHOD_STORED, METHOD_DEFLATED):
        raise FormatError(
            "zip.unsupported-compression",
            f"{member.name!r} uses compression method {member.method}",
            member.central_offset,
        )
    return member.data_offset, end


def _inflate(source: Source, member: ZipMember, start: int, end: int, limit: int) -> bytes:
    """Inflate at most ``limit`` bytes of a deflated member; stop early when reached."""
    decompressor = zlib.decompressobj(-15)
    out = bytearray()
    position = start
    try:
        while position < end and len(out) < limit and not decompressor.eof:
            chunk = read_exact(
                source, position, min(_READ_CHUNK, end - position), "member data", "zip.truncated"
            )
            position += len(chunk)
            out += decompressor.decompress(chunk, limit - len(out))
            while decompressor.unconsumed_tail and len(out) < limit:
                out += decompressor.decompress(decompressor.unconsumed_tail, limit - len(out))
    except zlib.error as error:
        raise FormatError(
            "zip.bad-deflate", f"{member.name!r}: corrupt deflate data ({error})", start
        ) from error
    if len(out) < limit and not decompressor.eof:
        raise FormatError(
            "zip.bad-deflate", f"{member.name!r}: the deflate stream ends early", start
        )
    return bytes(out)


def read_member(source: Source, member: ZipMember, *, max_bytes: int) -> bytes:
    """Return a member's uncompressed bytes (stored or deflate), at most ``max_bytes``.

    Deflate data is inflated incrementally and inflation stops one byte past
    ``max_bytes``; a longer member raises ``zip.member-too-large``. The CRC is
    not checked (see :func:`crc_ok`). Raises
    :class:`~seewhy.errors.FormatError` for encrypted, unsupported, out of
    bounds or corrupt members.
    """
    start, end = _check_readable(source, member)
    if member.method == METHOD_STORED:
        if member.compressed_size > max_bytes:
            raise FormatError(
                "zip.member-too-large",
                f"{member.name!r} is {member.compressed_size} bytes; the limit is {max_bytes}",
                start,
            )
        return read_exact(source, start, member.compressed_size, "member data")
    data = _inflate(source, member, start, end, max_bytes + 1)
    if len(data) > max_bytes:
        raise FormatError(
            "zip.member-too-large",
            f"{member.name!r} inflates past the limit of {max_bytes} bytes",
            start,
        )
    return data


def read_member_head(source: Source, member: ZipMember, max_bytes: int) -> bytes:
    """Return at most the first ``max_bytes`` uncompressed bytes of a member.

    Unlike :func:`read_member`, a longer member is not an error: its bytes
    are cut at ``max_bytes``.
    """
    start, end = _check_readable(source, member)
    if member.method == METHOD_STORED:
        return read_exact(source, start, min(member.compressed_size, max_bytes), "member data")
    return _inflate(source, member, start, end, max_bytes)[:max_bytes]


def crc_ok(data: bytes, member: ZipMember) -> bool:
    """Whether ``data`` matches the CRC-32 the central directory records."""
    return zlib.crc32(data) & _U32_MAX == member.crc32


def iter_member(
    source: Source, member: ZipMember, *, max_bytes: int, chunk: int = _READ_CHUNK
) -> Iterator[bytes]:
    """Yield a member's uncompressed bytes (stored or deflate) in chunks, at most ``max_bytes``.

    Nothing past ``max_bytes + 1`` bytes is ever inflated; a longer member
    raises ``zip.member-too-large`` once it goes past the cap. Raises
    :class:`~seewhy.errors.FormatError` like :func:`read_member`.
    """
    start, end = _check_readable(source, member)
    produced = 0
    if member.method == METHOD_STORED:
        if member.compressed_size > max_bytes:
            raise FormatError(
                "zip.member-too-large",
                f"{member.name!r} is {member.compressed_size} bytes; the limit is {max_bytes}",
                start,
            )
        position = start
        while position < end:
            data = read_exact(source, position, min(chunk, end - position), "member data")
            position += len(data)
            yield data
        return
    decompressor = zlib.decompressobj(-15)
    position = start
    try:
        while not decompressor.eof:
            if decompressor.unconsumed_tail:
                data = decompressor.decompress(decompressor.unconsumed_tail, chunk)
            elif position < end:
                raw = read_exact(
                    source, position, min(chunk, end - position), "member data", "zip.truncated"
                )
                position += len(raw)
                data = decompressor.decompress(raw, chunk)
            else:
                raise FormatError(
                    "zip.bad-deflate", f"{member.name!r}: the deflate stream ends early", start
                )
            produced += len(data)
            if produced > max_bytes:
                raise FormatError(
                    "zip.member-too-large",
                    f"{member.name!r} inflates past the limit of {max_bytes} bytes",
                    start,
                )
            if data:
                yield data
    except zlib.error as error:
        raise FormatError(
            "zip.bad-deflate", f"{member.name!r}: corrupt deflate data ({error})", start
        ) from error


# ---------------------------------------------------------------- tar


class ReadLimit(Exception):
    """A guarded reader was asked for more than its cap in one read."""


TAR_ERRORS: tuple[type[BaseException], ...] = (
    tarfile.TarError,
    ReadLimit,
    EOFError,
    OSError,
    zlib.error,
    ValueError,
)
"""What listing or reading a hostile tar can raise through :class:`SourceFile`."""


class SourceFile(io.RawIOBase):
    """A read-only, seekable file object over a Source that refuses oversized reads."""

    def __init__(self, source: Source, max_read: int) -> None:
        super().__init__()
        self._source = source
        self._max_read = max_read
        self._position = 0
        self.name = "archive"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._source.size}
        self._position = max(0, base[whence] + offset)
        return self._position

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        remaining = max(self._source.size - self._position, 0)
        wanted = remaining if size is None or size < 0 else min(size, remaining)
        if wanted > self._max_read:
            raise ReadLimit(f"a single read of {wanted:,} bytes at offset {self._position}")
        data = self._source.read_at(self._position, wanted) if wanted else b""
        self._position += len(data)
        return data


LEGACY_TORCH_MEMBERS = frozenset({"pickle", "storages", "tensors"})
"""Members the pre-1.6 tar loader of ``torch.load`` reads (``sys_info`` is written, not read)."""

_LEGACY_TORCH_SCAN = 16


def legacy_torch_tar(source: Source) -> bool:
    """Whether a tar holds the members the pre-1.6 ``torch.save`` tar layout writes.

    Lists at most the first 16 headers (small reads only): the layout has four
    regular members, ``sys_info``, ``pickle``, ``tensors`` and ``storages``.
    """
    names: set[str] = set()
    try:
        with tarfile.open(
            fileobj=SourceFile(source, 1 << 20),
            mode="r:",
            encoding="utf-8",
            errors="surrogateescape",
        ) as archive:
            for _ in range(_LEGACY_TORCH_SCAN):
                member = archive.next()
                if member is None:
                    break
                if member.isreg():
                    names.add(member.name)
    except TAR_ERRORS:
        pass
    return names >= LEGACY_TORCH_MEMBERS
