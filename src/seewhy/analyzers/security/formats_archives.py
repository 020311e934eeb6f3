"""Archive and snapshot checks: tar members, zip modes, compressed streams, hard links.

* Tar archives are listed with the standard library's :mod:`tarfile` over a
  guarded, read-only file object: nothing is extracted, member data is
  skipped by seeking, a single read larger than a header cap stops the
  listing, and the member count is capped. Each member is checked for
  unsafe names (tar-slip), links that leave the archive, device files and
  special mode bits, duplicate names and sparse members that expand far
  beyond the archive; bytes after the end of the archive are reported, since
  GNU tar reads on where :mod:`tarfile` stops.
* Zip archives (the inventory already reports names, links, bombs and
  duplicates) are checked for what it does not: device files and special
  mode bits in the unix attributes.
* Compressed streams (gzip, bzip2, xz) are decompressed up to a bounded head
  to tell what they hold and how fast they expand; a compressed tar is
  listed like a tar, through a decompressing reader with an output cap.
* 7z and zstd are not read (unsupported / inconclusive).
* Weight files with more than one hard link are listed.
"""

from __future__ import annotations

import bz2
import io
import lzma
import posixpath
import re
import stat
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Protocol

from seewhy.analyzers.interface import ResultBuilder
from seewhy.analyzers.security.formats_common import Collector, show
from seewhy.formats.archive import read_zip, unsafe_name_reasons
from seewhy.formats.compression import compression_of
from seewhy.formats.interface import BytesSource, Source
from seewhy.release.model import FileKind, Release, ReleaseFile
from seewhy.release.sniff import sniff
from seewhy.report.model import CoverageStatus, Evidence

__all__ = [
    "check_compressed",
    "check_hard_links",
    "check_sevenzip",
    "check_tar",
    "check_zip",
]

MAX_MEMBERS = 100_000
MAX_HEADER_READ = 4 * 1024 * 1024
TRAILING_SCAN = 16 * 1024 * 1024
SPARSE_BOMB_SIZE = 1 << 30
SPARSE_BOMB_RATIO = 100
HEAD_OUTPUT = 64 * 1024
RATIO_OUTPUT = 16 * 1024 * 1024
RATIO_INPUT_CAP = 64 * 1024 * 1024
BOMB_RATIO = 200
COMPRESSED_TAR_INPUT_CAP = 512 * 1024 * 1024
COMPRESSED_TAR_OUTPUT_CAP = 4 * 1024 * 1024 * 1024
READ_CHUNK = 64 * 1024

_DRIVE = re.compile(r"^[A-Za-z]:")
_SPECIAL_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX


class _Limit(Exception):
    """A guarded reader was asked for more than its cap."""


_TAR_ERRORS = (tarfile.TarError, _Limit, EOFError, OSError, zlib.error, lzma.LZMAError)


# ---------------------------------------------------------------- readers


class _SourceFile(io.RawIOBase):
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
            raise _Limit(f"a single read of {wanted:,} bytes at offset {self._position}")
        data = self._source.read_at(self._position, wanted) if wanted else b""
        self._position += len(data)
        return data


class _Decompressor(Protocol):
    @property
    def needs_input(self) -> bool: ...

    @property
    def eof(self) -> bool: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


@dataclass(frozen=True)
class _Codec:
    name: str
    make: Callable[[], _Decompressor]


def _gzip() -> _Decompressor:
    return _Zlib()


class _Zlib:
    """zlib's decompressor with the bz2/lzma calling convention (internal tail kept)."""

    def __init__(self) -> None:
        self._inner = zlib.decompressobj(wbits=47)  # gzip or zlib header
        self._tail = b""
        self.eof = False

    @property
    def needs_input(self) -> bool:
        """Whether all input given so far has been consumed."""
        return not self._tail

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        out = self._inner.decompress(self._tail + data, max(max_length, 0))
        self._tail = self._inner.unconsumed_tail
        self.eof = self._inner.eof
        return out


_CODECS: dict[str, _Codec] = {
    "gzip": _Codec("gzip", _gzip),
    "bz2": _Codec("bzip2", bz2.BZ2Decompressor),
    "xz": _Codec("xz", lzma.LZMADecompressor),
}


def _codec_of(head: bytes) -> _Codec | None:
    method = compression_of(head)
    return _CODECS.get(method) if method is not None else None


class _DecompressingFile(io.RawIOBase):
    """A forward-only file object that decompresses a Source, with an output cap."""

    def __init__(self, source: Source, codec: _Codec, max_output: int, max_input: int) -> None:
        super().__init__()
        self._source = source
        self._decompressor = codec.make()
        self._max_output = max_output
        self._max_input = min(max_input, source.size)
        self._input = 0
        self.output = 0
        self._pending = b""
        self.name = "archive"

    def readable(self) -> bool:
        return True

    def _eof(self) -> bool:
        return self._decompressor.eof

    def read(self, size: int | None = -1) -> bytes:
        want = READ_CHUNK if size is None or size < 0 else size
        while len(self._pending) < want and not self._eof():
            chunk = b""
            if self._decompressor.needs_input:
                if self._input >= self._max_input:
                    break
                chunk = self._source.read_at(
                    self._input, min(READ_CHUNK, self._max_input - self._input)
                )
                self._input += len(chunk)
            produced = self._decompressor.decompress(chunk, want - len(self._pending))
            if not produced and not chunk:
                break
            self._pending += produced
        data, self._pending = self._pending[:want], self._pending[want:]
        self.output += len(data)
        if self.output > self._max_output:
            raise _Limit(f"more than {self._max_output:,} decompressed bytes")
        return data

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# ---------------------------------------------------------------- tar


def _link_escapes(member: tarfile.TarInfo) -> bool:
    target = member.linkname
    if not target or target.startswith(("/", "\\")) or _DRIVE.match(target):
        return bool(target)
    base = posixpath.dirname(member.name) if member.issym() else ""
    resolved = posixpath.normpath(posixpath.join(base, target.replace("\\", "/")))
    return resolved == ".." or resolved.startswith("../")


@dataclass
class _TarState:
    members: int = 0
    seen: dict[str, int] = field(default_factory=dict)


def _check_member(
    member: tarfile.TarInfo,
    file: ReleaseFile,
    collector: Collector,
    state: _TarState,
    archive_size: int,
    stored_in: str,
) -> None:
    name = member.name
    shown = show(name)
    offset = member.offset

    def evidence(excerpt: str | None = None) -> Evidence:
        return Evidence(
            path=file.path, offset=offset, pointer=stored_in + shown, excerpt=excerpt or shown
        )

    reasons = unsafe_name_reasons(name)
    if reasons:
        collector.add("SW-ARC-001", f"{shown!r}: {', '.join(reasons)}", evidence())
    if member.issym() or member.islnk():
        kind = "symbolic link" if member.issym() else "hard link"
        target = show(member.linkname)
        if _link_escapes(member):
            collector.add(
                "SW-ARC-002", f"{shown!r} is a {kind} to {target!r}", evidence(f"-> {target}")
            )
        else:
            collector.add(
                "SW-ARC-003", f"{shown!r} is a {kind} to {target!r}", evidence(f"-> {target}")
            )
    if member.ischr() or member.isblk() or member.isfifo():
        kind = (
            "character device" if member.ischr() else "block device" if member.isblk() else "FIFO"
        )
        collector.add("SW-ARC-004", f"{shown!r} is a {kind}", evidence())
    elif member.mode & _SPECIAL_BITS:
        collector.add(
            "SW-ARC-004", f"{shown!r} has mode {member.mode:o} (setuid/setgid/sticky)", evidence()
        )
    if (
        member.issparse()
        and member.size > SPARSE_BOMB_SIZE
        and member.size > (SPARSE_BOMB_RATIO * max(archive_size, 1))
    ):
        collector.add(
            "SW-ARC-005",
            f"sparse member {shown!r} expands to {member.size:,} bytes",
            evidence(),
        )
    first = state.seen.setdefault(name, offset)
    if first != offset:
        collector.add(
            "SW-ARC-006",
            f"{shown!r} appears again (first at offset {first})",
            evidence(),
        )


def _list_tar(
    archive: tarfile.TarFile,
    file: ReleaseFile,
    collector: Collector,
    archive_size: int,
    stored_in: str = "",
) -> tuple[_TarState, str | None]:
    """List members; return the state and why the listing stopped early (None when it did not)."""
    state = _TarState()
    while True:
        try:
            member = archive.next()
        except _TAR_ERRORS as exc:
            return state, f"{type(exc).__name__}: {exc}"
        if member is None:
            return state, None
        state.members += 1
        if state.members > MAX_MEMBERS:
            return state, f"more than {MAX_MEMBERS:,} members"
        _check_member(member, file, collector, state, archive_size, stored_in)


def _trailing(source: Source, end: int) -> tuple[int, int] | None:
    """The first non-zero byte after ``end`` within the scan window, and how many were scanned."""
    position = end
    stop = min(source.size, end + TRAILING_SCAN)
    while position < stop:
        chunk = source.read_at(position, min(READ_CHUNK * 16, stop - position))
        if not chunk:
            break
        stripped = chunk.lstrip(b"\x00")
        if stripped:
            return position + len(chunk) - len(stripped), stop - end
        position += len(chunk)
    return None


def _open_tar(fileobj: _SourceFile | _DecompressingFile, stream: bool) -> tarfile.TarFile:
    """Open a tar for listing only: random access (``r:``) or a forward-only stream (``r|``)."""
    if stream:
        return tarfile.open(fileobj=fileobj, mode="r|", encoding="utf-8", errors="surrogateescape")
    return tarfile.open(fileobj=fileobj, mode="r:", encoding="utf-8", errors="surrogateescape")


def _listing(
    fileobj: _SourceFile | _DecompressingFile,
    stream: bool,
    file: ReleaseFile,
    collector: Collector,
    archive_size: int,
    stored_in: str = "",
) -> tuple[_TarState, str | None, int] | str:
    """List a tar through ``fileobj``: (state, why it stopped early, end offset), or why it
    would not open."""
    try:
        with _open_tar(fileobj, stream) as archive:
            state, stopped = _list_tar(archive, file, collector, archive_size, stored_in)
            return state, stopped, archive.offset
    except _TAR_ERRORS as exc:
        return f"{type(exc).__name__}: {exc}"


def check_tar(release: Release, file: ReleaseFile, b: ResultBuilder) -> None:
    """List an uncompressed tar archive and check every member (see the module docstring)."""
    collector = Collector(b)
    with release.open(file) as source:
        listed = _listing(_SourceFile(source, MAX_HEADER_READ), False, file, collector, file.size)
        if isinstance(listed, str):
            collector.add(
                "SW-ARC-008",
                f"tarfile cannot open it: {show(listed)}",
                Evidence(path=file.path, offset=0),
            )
            collector.emit()
            b.cover(file.path, CoverageStatus.INCONCLUSIVE, "tar archive could not be listed")
            return
        state, stopped, end = listed
        trailing = _trailing(source, end) if stopped is None else None
    if stopped is not None:
        collector.add(
            "SW-ARC-008",
            f"the listing stopped after {state.members} members: {show(stopped)}",
            Evidence(path=file.path, offset=end),
        )
    if trailing is not None:
        at, scanned = trailing
        message = (
            f"the listing ends at offset {end} on a header that tarfile rejects (corrupt or "
            f"truncated), and {file.size - end:,} bytes follow"
            if at == end
            else f"the archive ends at offset {end}, but non-zero bytes follow at offset {at}"
        )
        collector.add(
            "SW-ARC-007",
            message,
            Evidence(path=file.path, offset=at, note=f"{scanned:,} bytes after the end scanned"),
        )
    collector.emit()
    detail = f"tar of {state.members} members listed; member contents not analysed"
    if stopped is not None:
        detail = f"tar listing stopped after {state.members} members; not fully checked"
    b.cover(file.path, CoverageStatus.INCONCLUSIVE, detail)


# ---------------------------------------------------------------- zip, 7z


def check_zip(release: Release, file: ReleaseFile, b: ResultBuilder) -> None:
    """Check the unix modes of a plain zip's members (the inventory reports the rest)."""
    collector = Collector(b)
    with release.open(file) as source:
        listing = read_zip(source)
    for member in listing.members:
        if member.create_system != 3:
            continue
        mode = member.external_attr >> 16
        shown = show(member.name)
        evidence = Evidence(path=file.path, offset=member.central_offset, pointer=shown)
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            collector.add(
                "SW-ARC-004", f"{shown!r} is a device, FIFO or socket ({mode:o})", evidence
            )
        elif mode & _SPECIAL_BITS:
            collector.add(
                "SW-ARC-004", f"{shown!r} has mode {mode:o} (setuid/setgid/sticky)", evidence
            )
    collector.emit()
    b.cover(
        file.path,
        CoverageStatus.INCONCLUSIVE,
        f"zip of {len(listing.members)} members: names, links and modes checked; "
        "member contents not analysed",
    )


def check_sevenzip(release: Release, file: ReleaseFile, b: ResultBuilder) -> None:
    """7z archives are not read."""
    b.cover(file.path, CoverageStatus.UNSUPPORTED, "7z archive: members not listed (unsupported)")


# ---------------------------------------------------------------- compressed streams


@dataclass(frozen=True)
class _Head:
    data: bytes
    output: int
    consumed: int
    complete: bool
    error: str | None


def _decompress_head(source: Source, codec: _Codec) -> _Head:
    """Decompress up to RATIO_OUTPUT bytes, keeping the first HEAD_OUTPUT."""
    decompressor = codec.make()
    head = bytearray()
    output = 0
    position = 0
    limit = min(source.size, RATIO_INPUT_CAP)
    try:
        while output < RATIO_OUTPUT:
            chunk = b""
            if decompressor.needs_input:
                if position >= limit:
                    break
                chunk = source.read_at(position, min(4096, limit - position))
                position += len(chunk)
            produced = decompressor.decompress(chunk, RATIO_OUTPUT - output)
            if len(head) < HEAD_OUTPUT:
                head += produced[: HEAD_OUTPUT - len(head)]
            output += len(produced)
            if decompressor.eof or (not produced and not chunk):
                break
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
        return _Head(bytes(head), output, position, False, f"{type(exc).__name__}: {exc}")
    return _Head(bytes(head), output, position, decompressor.eof, None)


def check_compressed(release: Release, file: ReleaseFile, b: ResultBuilder) -> None:
    """Sniff what a compressed stream holds; list it when it is a tar."""
    collector = Collector(b)
    with release.open(file) as source:
        codec = _codec_of(source.read_at(0, 8))
        if codec is None:
            b.cover(
                file.path,
                CoverageStatus.INCONCLUSIVE,
                "compressed stream (zstd or unknown): not decompressed",
            )
            return
        head = _decompress_head(source, codec)
        if head.output >= RATIO_OUTPUT and head.output > BOMB_RATIO * max(head.consumed, 1):
            collector.add(
                "SW-ARC-005",
                f"{codec.name} stream: {head.consumed:,} bytes expand to at least "
                f"{head.output:,} ({head.output // max(head.consumed, 1)}:1)",
                Evidence(path=file.path, offset=0),
            )
        inner_name = PurePosixPath(file.path).stem
        inner = sniff(inner_name, head.data, BytesSource(head.data)).kind if head.data else None
        detail = f"{codec.name} stream"
        if head.error is not None:
            detail += f" that fails to decompress ({show(head.error, 80)})"
        if inner is not None:
            detail += f"; decompressed head: {inner.value}"
        listed = ""
        if inner is FileKind.TAR and source.size <= COMPRESSED_TAR_INPUT_CAP:
            listed = _list_compressed_tar(source, codec, file, collector)
    collector.emit()
    b.cover(
        file.path,
        CoverageStatus.INCONCLUSIVE,
        f"{detail}{listed}; contents not analysed",
    )


def _list_compressed_tar(
    source: Source, codec: _Codec, file: ReleaseFile, collector: Collector
) -> str:
    reader = _DecompressingFile(source, codec, COMPRESSED_TAR_OUTPUT_CAP, source.size)
    listed = _listing(reader, True, file, collector, source.size, stored_in="(compressed) ")
    if isinstance(listed, str):
        collector.add(
            "SW-ARC-008",
            f"the compressed tar cannot be listed: {show(listed)}",
            Evidence(path=file.path, offset=0),
        )
        return "; tar could not be listed"
    state, stopped, _ = listed
    if stopped is not None:
        collector.add(
            "SW-ARC-008",
            f"the compressed tar listing stopped after {state.members} members: {show(stopped)}",
            Evidence(path=file.path),
        )
        return f"; tar listing stopped after {state.members} members"
    return f"; tar of {state.members} members listed"


# ---------------------------------------------------------------- snapshot


def check_hard_links(release: Release, b: ResultBuilder) -> None:
    """Report weight files that have more than one hard link."""
    collector = Collector(b)
    for file in release.files:
        if not file.kind.is_weights:
            continue
        try:
            links = file.abs_path.stat().st_nlink
        except OSError:
            continue
        if links > 1:
            collector.add(
                "SW-ARC-009",
                f"{show(file.path)} has {links} hard links",
                Evidence(path=file.path, note=f"st_nlink = {links}"),
            )
    collector.emit()
