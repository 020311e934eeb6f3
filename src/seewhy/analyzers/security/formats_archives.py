"""Archive and snapshot checks: tar, zip and compressed streams, looked inside.

* Tar archives are listed with the standard library's :mod:`tarfile` over a
  guarded, read-only file object: a single read larger than a header cap
  stops the listing, and the member count is capped. Each member is checked
  for unsafe names (tar-slip), links that leave the archive, device files
  and special mode bits, duplicate names and sparse members that expand far
  beyond the archive; bytes after the end of the archive are reported, since
  GNU tar reads on where :mod:`tarfile` stops.
* Zip archives (the inventory already reports names, links, bombs and
  duplicates) are checked for what it does not: device files and special
  mode bits in the unix attributes.
* Compressed streams: :func:`seewhy.formats.compression.detect` decides the
  method once for every analyzer (gzip, zlib, bzip2, xz, lzma, joblib's
  ``ZF`` container; zstd and lz4 when their modules are installed). A
  compressed tar is listed like a tar, through a decompressing reader.
* The regular members of every tar, zip and compressed stream, and the
  members of an ``.npz`` that are not NumPy arrays, are then analysed by
  the whole audit through :mod:`seewhy.analyzers.nested`, within a depth,
  size and ratio budget; the archive's coverage is the worst of its
  members'. Streams that expand beyond the ratio cap are bombs.
* The pre-1.6 tar layout of ``torch.save`` is listed and checked like any
  tar; its four records are the pickle analyzer's, other members are
  analysed as above.
* 7z archives are not read (unsupported).
* Weight files with more than one hard link are listed.
"""

from __future__ import annotations

import posixpath
import re
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import PurePosixPath
from typing import IO

from seewhy.analyzers.interface import AuditContext, ResultBuilder
from seewhy.analyzers.nested import Extraction, MemberLimit, budget_for
from seewhy.analyzers.security.formats_common import Collector, check_hard_links, show
from seewhy.formats.archive import (
    LEGACY_TORCH_MEMBERS,
    METHOD_DEFLATED,
    METHOD_STORED,
    TAR_ERRORS,
    SourceFile,
    ZipMember,
    iter_member,
    read_zip,
    unsafe_name_reasons,
)
from seewhy.formats.compression import (
    DECODE_ERRORS,
    Compression,
    CompressionLimit,
    DecompressedReader,
    detect,
)
from seewhy.formats.interface import BytesSource, Source
from seewhy.formats.numpy import describe_npz
from seewhy.release.model import FileKind, Release, ReleaseFile
from seewhy.release.sniff import sniff
from seewhy.report.model import CoverageStatus, Evidence

__all__ = [
    "ARCHIVE_CHECKS",
    "check_compressed",
    "check_hard_links",
    "check_legacy_torch_tar",
    "check_npz",
    "check_sevenzip",
    "check_tar",
    "check_zip",
    "with_context",
]

MAX_MEMBERS = 100_000
MAX_HEADER_READ = 4 * 1024 * 1024
TRAILING_SCAN = 16 * 1024 * 1024
SPARSE_BOMB_SIZE = 1 << 30
SPARSE_BOMB_RATIO = 100
HEAD_OUTPUT = 64 * 1024
READ_CHUNK = 1 << 20

_DRIVE = re.compile(r"^[A-Za-z]:")
_SPECIAL_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX
_LEGACY_RECORDS = LEGACY_TORCH_MEMBERS | {"sys_info"}
# Suffixes a compressed stream's name carries, and what the decompressed file is called.
_STREAM_SUFFIXES = {
    ".tgz": ".tar",
    ".tbz2": ".tar",
    ".tbz": ".tar",
    ".txz": ".tar",
    ".gz": "",
    ".bz2": "",
    ".xz": "",
    ".lzma": "",
    ".zst": "",
    ".lz4": "",
    ".z": "",
    ".zlib": "",
}

_Check = Callable[..., None]


def with_context(check: _Check, ctx: AuditContext) -> _Check:
    """``check`` with the audit context bound when it is an archive check (it needs the
    per-audit budget of :mod:`seewhy.analyzers.nested`); other checks as they are."""
    return partial(check, ctx=ctx) if check in ARCHIVE_CHECKS else check


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


_OnMember = Callable[[tarfile.TarFile, tarfile.TarInfo], None]


def _list_tar(
    archive: tarfile.TarFile,
    file: ReleaseFile,
    collector: Collector,
    archive_size: int,
    stored_in: str = "",
    on_member: _OnMember | None = None,
) -> tuple[_TarState, str | None]:
    """List members; return the state and why the listing stopped early (None when it did not).

    ``on_member`` sees every member right after its checks (in a stream, its
    data can only be read then). A decompression cap (:class:`CompressionLimit`)
    or a bomb met while extracting (:class:`MemberLimit`) propagates.
    """
    state = _TarState()
    while True:
        try:
            member = archive.next()
        except CompressionLimit:
            raise
        except TAR_ERRORS as exc:
            return state, f"{type(exc).__name__}: {exc}"
        if member is None:
            return state, None
        state.members += 1
        if state.members > MAX_MEMBERS:
            return state, f"more than {MAX_MEMBERS:,} members"
        _check_member(member, file, collector, state, archive_size, stored_in)
        if on_member is not None:
            on_member(archive, member)


def _trailing(source: Source, end: int) -> tuple[int, int] | None:
    """The first non-zero byte after ``end`` within the scan window, and how many were scanned."""
    position = end
    stop = min(source.size, end + TRAILING_SCAN)
    while position < stop:
        chunk = source.read_at(position, min(READ_CHUNK, stop - position))
        if not chunk:
            break
        stripped = chunk.lstrip(b"\x00")
        if stripped:
            return position + len(chunk) - len(stripped), stop - end
        position += len(chunk)
    return None


def _open_tar(fileobj: SourceFile | DecompressedReader, stream: bool) -> tarfile.TarFile:
    """Open a tar for reading only: random access (``r:``) or a forward-only stream (``r|``)."""
    if stream:
        return tarfile.open(fileobj=fileobj, mode="r|", encoding="utf-8", errors="surrogateescape")
    return tarfile.open(fileobj=fileobj, mode="r:", encoding="utf-8", errors="surrogateescape")


def _listing(
    fileobj: SourceFile | DecompressedReader,
    stream: bool,
    file: ReleaseFile,
    collector: Collector,
    archive_size: int,
    stored_in: str = "",
    on_member: _OnMember | None = None,
) -> tuple[_TarState, str | None, int] | str:
    """List a tar through ``fileobj``: (state, why it stopped early, end offset), or why it
    would not open."""
    try:
        with _open_tar(fileobj, stream) as archive:
            state, stopped = _list_tar(archive, file, collector, archive_size, stored_in, on_member)
            return state, stopped, archive.offset
    except (CompressionLimit, MemberLimit):
        raise
    except TAR_ERRORS as exc:
        return f"{type(exc).__name__}: {exc}"


def _tar_chunks(archive: tarfile.TarFile, member: tarfile.TarInfo) -> Iterator[bytes]:
    """A regular member's bytes in chunks (its data is read as the archive is)."""
    reader = archive.extractfile(member)
    if reader is None:
        return
    with reader:
        yield from _stream_chunks(reader)


def _extractor(extraction: Extraction, skip: frozenset[str] = frozenset()) -> _OnMember:
    """Stream each regular member into ``extraction`` (members named in ``skip`` excepted)."""

    def on_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        if not member.isreg() or member.name in skip:
            return
        if member.issparse() and member.size > extraction.budget.limits.max_member_bytes:
            extraction.skip(member.name, f"sparse member of {member.size:,} bytes")
            return
        extraction.add(member.name, _tar_chunks(archive, member), member.size)

    return on_member


def check_tar(
    release: Release,
    file: ReleaseFile,
    b: ResultBuilder,
    ctx: AuditContext | None = None,
    *,
    what: str = "tar",
    skip: frozenset[str] = frozenset(),
) -> None:
    """List an uncompressed tar, check every member and analyse the regular ones.

    Members named in ``skip`` are checked but left to another analyzer (the
    records of a legacy ``torch.save`` tar).
    """
    collector = Collector(b)
    budget, depth = budget_for(release, ctx or AuditContext())
    with Extraction(file.path, budget, depth) as extraction, release.open(file) as source:
        on_member = None if extraction.too_deep else _extractor(extraction, skip)
        try:
            listed = _listing(
                SourceFile(source, MAX_HEADER_READ),
                False,
                file,
                collector,
                file.size,
                "",
                on_member,
            )
        except MemberLimit as exc:  # no decompression here: a sparse or corrupt member
            listed = f"MemberLimit: {exc.message}"
        if isinstance(listed, str):
            collector.add(
                "SW-ARC-008",
                f"tarfile cannot open it: {show(listed)}",
                Evidence(path=file.path, offset=0),
            )
            collector.emit()
            b.cover(file.path, CoverageStatus.INCONCLUSIVE, f"{what} archive could not be listed")
            return
        state, stopped, end = listed
        trailing = _trailing(source, end) if stopped is None else None
        if stopped is not None:
            collector.add(
                "SW-ARC-008",
                f"the listing stopped after {state.members} members: {show(stopped)}",
                Evidence(path=file.path, offset=end),
            )
            extraction.reasons.append(f"the listing stopped after {state.members} members")
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
                Evidence(
                    path=file.path, offset=at, note=f"{scanned:,} bytes after the end scanned"
                ),
            )
            extraction.reasons.append(f"{file.size - at:,} bytes after the end of the archive")
        _finish(extraction, b, collector, file, f"{what} of {state.members} members")


def _finish(
    extraction: Extraction,
    b: ResultBuilder,
    collector: Collector,
    file: ReleaseFile,
    what: str,
) -> None:
    """Audit what was extracted (or say why not) and cover the archive with the outcome."""
    if extraction.too_deep:
        limit = extraction.budget.limits.max_depth
        collector.add(
            "SW-ARC-010",
            f"archive nested more than {limit} levels deep: its members are not analysed",
            Evidence(path=file.path, note=f"nesting level {extraction.depth + 1}"),
        )
        collector.emit()
        b.cover(
            file.path,
            CoverageStatus.INCONCLUSIVE,
            f"{what}; members not analysed: nested more than {limit} archive levels deep",
        )
        return
    for reason in extraction.reasons:
        if "cap" in reason or "spent" in reason or "more than" in reason:
            collector.add("SW-ARC-010", reason, Evidence(path=file.path))
    collector.emit()
    outcome = extraction.audit(b, what)
    b.cover(file.path, outcome.status, outcome.detail[:1000])


def check_legacy_torch_tar(
    release: Release, file: ReleaseFile, b: ResultBuilder, ctx: AuditContext | None = None
) -> None:
    """The pre-1.6 ``torch.save`` tar: checked like a tar; its records are the pickle
    analyzer's, any other member is analysed. Legacy files that are not tars are skipped."""
    with release.open(file) as source:
        head = source.read_at(0, 512)
    if len(head) < 262 or head[257:262] != b"ustar":
        return
    check_tar(release, file, b, ctx, what="legacy torch.save tar", skip=_LEGACY_RECORDS)


# ---------------------------------------------------------------- zip, 7z, npz


def _zip_chunks(source: Source, member: ZipMember, extraction: Extraction) -> Iterator[bytes]:
    """A zip member's bytes; a deflate stream expanding beyond the ratio cap is a bomb."""
    limits = extraction.budget.limits
    produced = 0
    for chunk in iter_member(source, member, max_bytes=limits.max_member_bytes):
        produced += len(chunk)
        if produced > limits.ratio_floor and produced > limits.max_ratio * max(
            member.compressed_size, 1
        ):
            raise MemberLimit(
                f"{member.compressed_size:,} compressed bytes expand to more than "
                f"{produced:,} (over {limits.max_ratio:g}:1)",
                bomb=True,
            )
        yield chunk


def _extract_zip_member(
    source: Source,
    member: ZipMember,
    extraction: Extraction,
    file: ReleaseFile,
    collector: Collector,
) -> None:
    if member.is_dir or member.is_symlink:
        return  # names and links are the inventory's findings; nothing to analyse
    if member.encrypted:
        extraction.skip(member.name, "encrypted")
        return
    if member.method not in (METHOD_STORED, METHOD_DEFLATED):
        extraction.skip(member.name, f"compression method {member.method} is not read")
        return
    try:
        extraction.add(
            member.name, _zip_chunks(source, member, extraction), member.uncompressed_size
        )
    except MemberLimit as exc:
        collector.add(
            "SW-ARC-005",
            f"zip member {show(member.name)!r}: {exc.message}",
            Evidence(path=file.path, offset=member.local_header_offset, pointer=show(member.name)),
        )


def _special_modes(member: ZipMember, file: ReleaseFile, collector: Collector) -> None:
    if member.create_system != 3:
        return
    mode = member.external_attr >> 16
    shown = show(member.name)
    evidence = Evidence(path=file.path, offset=member.central_offset, pointer=shown)
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        collector.add("SW-ARC-004", f"{shown!r} is a device, FIFO or socket ({mode:o})", evidence)
    elif mode & _SPECIAL_BITS:
        collector.add("SW-ARC-004", f"{shown!r} has mode {mode:o} (setuid/setgid/sticky)", evidence)


def check_zip(
    release: Release, file: ReleaseFile, b: ResultBuilder, ctx: AuditContext | None = None
) -> None:
    """Check the unix modes of a plain zip's members and analyse every member.

    The inventory reports names, links, bombs and duplicates from the listing.
    """
    collector = Collector(b)
    budget, depth = budget_for(release, ctx or AuditContext())
    with Extraction(file.path, budget, depth) as extraction, release.open(file) as source:
        listing = read_zip(source)
        for member in listing.members:
            _special_modes(member, file, collector)
            if not extraction.too_deep:
                _extract_zip_member(source, member, extraction, file, collector)
        _finish(extraction, b, collector, file, f"zip of {len(listing.members)} members")


def check_npz(
    release: Release, file: ReleaseFile, b: ResultBuilder, ctx: AuditContext | None = None
) -> None:
    """Analyse the members of an ``.npz`` that are not NumPy arrays, by their real kind.

    Arrays (a member with a valid ``.npy`` header) are the inventory's and,
    with an object dtype, the pickle analyzer's; any other member, whatever
    its name, is sniffed and analysed like an archive member. An ``.npz`` of
    arrays only gets no step here.
    """
    collector = Collector(b)
    budget, depth = budget_for(release, ctx or AuditContext())
    with release.open(file) as source:
        listing = read_zip(source)
        info = describe_npz(listing, source)
        arrays = {a.name for a in info.arrays if a.info is not None}
        others = [m for m in listing.members if not m.is_dir and m.name not in arrays]
        if not others:
            return
        with Extraction(file.path, budget, depth) as extraction:
            for member in others:
                if not extraction.too_deep:
                    _extract_zip_member(source, member, extraction, file, collector)
            _finish(
                extraction,
                b,
                collector,
                file,
                f"npz with {len(others)} member(s) that are not NumPy arrays",
            )


def check_sevenzip(release: Release, file: ReleaseFile, b: ResultBuilder) -> None:
    """7z archives are not read."""
    b.cover(file.path, CoverageStatus.UNSUPPORTED, "7z archive: members not listed (unsupported)")


# ---------------------------------------------------------------- compressed streams


@dataclass(frozen=True)
class _Head:
    data: bytes
    error: str | None


def _decompress_head(source: Source, compression: Compression) -> _Head:
    """The first HEAD_OUTPUT decompressed bytes (what the stream holds)."""
    reader = DecompressedReader(source, compression, max_output=HEAD_OUTPUT)
    data = bytearray()
    try:
        while len(data) < HEAD_OUTPUT:
            chunk = reader.read(HEAD_OUTPUT - len(data))
            if not chunk:
                break
            data += chunk
    except DECODE_ERRORS as exc:
        return _Head(bytes(data), f"{type(exc).__name__}: {exc}")
    return _Head(bytes(data), None)


def _inner_name(path: str) -> str:
    """What the decompressed file is called: the name less its compression suffix."""
    name = PurePosixPath(path).name
    lower = name.lower()
    for suffix, replacement in _STREAM_SUFFIXES.items():
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)] + replacement
    return name


def _stream_chunks(reader: DecompressedReader | IO[bytes]) -> Iterator[bytes]:
    """``reader``'s bytes in chunks; a decompression cap hit becomes a member limit."""
    while True:
        try:
            chunk = reader.read(READ_CHUNK)
        except CompressionLimit as exc:
            raise MemberLimit(exc.message, bomb=exc.kind == "ratio") from exc
        if not chunk:
            return
        yield chunk


def check_compressed(
    release: Release, file: ReleaseFile, b: ResultBuilder, ctx: AuditContext | None = None
) -> None:
    """Decompress a stream (within the budget) and analyse what it holds; list a tar."""
    collector = Collector(b)
    with release.open(file) as source:
        compression = detect(source.read_at(0, HEAD_OUTPUT))
        if compression is None:
            b.cover(
                file.path,
                CoverageStatus.INCONCLUSIVE,
                "named as a compressed stream, but no known compression: not decompressed",
            )
            return
        label = f"{compression.label} stream"
        if not compression.available:
            b.cover(
                file.path,
                CoverageStatus.INCONCLUSIVE,
                f"{label}: not decompressed (install {compression.missing_module} to read it)",
            )
            return
        head = _decompress_head(source, compression)
        if head.error is not None and not head.data:
            collector.add(
                "SW-ARC-008",
                f"the {compression.label} stream fails to decompress: {show(head.error, 120)}",
                Evidence(path=file.path, offset=compression.offset),
            )
            collector.emit()
            b.cover(
                file.path,
                CoverageStatus.INCONCLUSIVE,
                f"{label} that fails to decompress ({show(head.error, 80)})",
            )
            return
        name = _inner_name(file.path)
        inner = sniff(name, head.data, BytesSource(head.data)).kind
        budget, depth = budget_for(release, ctx or AuditContext())
        limits = budget.limits
        reader = DecompressedReader(
            source,
            compression,
            max_output=limits.max_total_bytes,
            max_ratio=limits.max_ratio,
            ratio_floor=limits.ratio_floor,
        )
        with Extraction(file.path, budget, depth) as extraction:
            what = f"{label} holding {inner.value}"
            try:
                if extraction.too_deep:
                    pass
                elif inner is FileKind.TAR:
                    what = _compressed_tar(reader, file, collector, extraction, label, source.size)
                else:
                    extraction.add(name, _stream_chunks(reader))
            except (MemberLimit, CompressionLimit) as exc:
                message = exc.message
                if (isinstance(exc, MemberLimit) and exc.bomb) or (
                    isinstance(exc, CompressionLimit) and exc.kind == "ratio"
                ):
                    collector.add(
                        "SW-ARC-005",
                        f"{compression.label} stream: {message}",
                        Evidence(path=file.path, offset=compression.offset),
                    )
                else:
                    collector.add("SW-ARC-010", f"{label}: {message}", Evidence(path=file.path))
                if not any(message in r for r in extraction.reasons):
                    extraction.reasons.append(f"decompression stopped: {message}")
            if head.error is not None:
                extraction.reasons.append(
                    f"the stream fails to decompress ({show(head.error, 80)})"
                )
            _finish(extraction, b, collector, file, what)


def _compressed_tar(
    reader: DecompressedReader,
    file: ReleaseFile,
    collector: Collector,
    extraction: Extraction,
    label: str,
    size: int,
) -> str:
    """List (and extract) a compressed tar; what to call it in the coverage detail."""
    listed = _listing(reader, True, file, collector, size, "(compressed) ", _extractor(extraction))
    if isinstance(listed, str):
        collector.add(
            "SW-ARC-008",
            f"the compressed tar cannot be listed: {show(listed)}",
            Evidence(path=file.path, offset=0),
        )
        extraction.reasons.append("the tar could not be listed")
        return f"{label} holding a tar"
    state, stopped, _ = listed
    if stopped is not None:
        collector.add(
            "SW-ARC-008",
            f"the compressed tar listing stopped after {state.members} members: {show(stopped)}",
            Evidence(path=file.path),
        )
        extraction.reasons.append(f"the tar listing stopped after {state.members} members")
    return f"{label} holding a tar of {state.members} members"


ARCHIVE_CHECKS: frozenset[_Check] = frozenset(
    {check_tar, check_zip, check_npz, check_compressed, check_legacy_torch_tar}
)
"""The checks that look inside members and take the audit context (see :func:`with_context`)."""
