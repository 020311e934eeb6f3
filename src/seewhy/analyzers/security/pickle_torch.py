"""PyTorch structure checks: storages against the persistent ids that name them.

A ``torch.save`` zip keeps each tensor storage in ``<prefix>/data/<key>``
and names it in ``data.pkl`` with a persistent id ``('storage',
<StorageClass>, key, location, numel)``; TorchScript does the same for
``constants.pkl`` and ``constants/<key>``. A legacy (non-zip) file follows
its five pickles with one record per storage key: an 8-byte little-endian
element count and the raw bytes. These checks compare the two sides using
sizes only: tensor bytes are never read.

The pre-1.6 tar layout (``torch.load`` still tries it first) keeps four
members: ``sys_info`` (one pickle), ``pickle`` (the object, whose persistent
ids name tensors), ``tensors`` (a pickled count, then per tensor a pickled
``(key, storage_id, tensor_type)`` and its binary shape record) and
``storages`` (a pickled count, then per storage a pickled ``(key, location,
storage_type)``, an 8-byte element count and the raw bytes, then a pickled
list of storage views). :func:`scan_legacy_tar` walks them all: every pickle
is scanned, every record is bounded by its member.
"""

from __future__ import annotations

import struct
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field

from seewhy.analyzers.security.pickle_policy import PicklePolicy
from seewhy.analyzers.security.pickle_report import Location, ScanReporter
from seewhy.formats.archive import TAR_ERRORS, SourceFile, ZipMember
from seewhy.formats.interface import Source
from seewhy.formats.pickle_vm import PersistentRef, PickleScan, ScanLimits, scan_pickle
from seewhy.report.model import Evidence

__all__ = [
    "LEGACY_PICKLES",
    "LegacyTarScan",
    "StorageIssue",
    "check_legacy_storages",
    "check_zip_storages",
    "scan_legacy_tar",
    "storage_members",
]

LEGACY_PICKLES = 5
"""Legacy ``torch.save``: magic number, protocol version, sys info, the object, storage keys."""

_MAX_LEGACY_KEYS = 1_000_000


@dataclass(frozen=True)
class StorageIssue:
    """A storage check that failed (for the coverage line)."""

    rule: str
    message: str


def check_zip_storages(
    reporter: ScanReporter,
    policy: PicklePolicy,
    scan: PickleScan,
    pickle_where: Location,
    folder: str,
    storages: dict[str, ZipMember],
) -> list[StorageIssue]:
    """Compare ``folder/<key>`` members with the persistent ids of one archive pickle.

    ``storages`` maps key → member for the folder the pickle's ids point into.
    Returns the issues found (each also reported as a finding).
    """
    issues: list[StorageIssue] = []
    referenced: dict[str, PersistentRef] = {}
    read_ids = [p for p in scan.persistent_ids if p.pickle_index == 0]
    for pid in read_ids:
        evidence = [
            Evidence(
                path=pickle_where.path,
                offset=pid.offset,
                pointer=pickle_where.member,
                excerpt=f"{pid.opcode} {pid.summary}",
                note=pickle_where.offsets,
            )
        ]
        storage = pid.storage
        if storage is None:
            message = (
                f"persistent id {pid.summary} at offset {pid.offset} is not a torch storage id"
            )
            reporter.add("SW-PKL-035", pid.summary, message, evidence, pickle_where)
            issues.append(StorageIssue("SW-PKL-035", message))
            continue
        size = policy.element_size(storage.storage_type)
        qual = f"{storage.storage_module}.{storage.storage_type}"
        if size is None or not policy.is_storage(qual):
            message = f"persistent id at offset {pid.offset} names an unknown storage type {qual}"
            reporter.add("SW-PKL-035", qual, message, evidence, pickle_where)
            issues.append(StorageIssue("SW-PKL-035", message))
            continue
        previous = referenced.get(storage.key)
        if previous is not None and previous.storage is not None:
            if (previous.storage.numel, previous.storage.storage_type) != (
                storage.numel,
                storage.storage_type,
            ):
                message = (
                    f"storage {storage.key!r} is declared twice with different sizes or types "
                    f"(offsets {previous.offset} and {pid.offset})"
                )
                reporter.add("SW-PKL-033", f"dup:{storage.key}", message, evidence, pickle_where)
                issues.append(StorageIssue("SW-PKL-033", message))
            continue
        referenced[storage.key] = pid
        member = storages.get(storage.key)
        if member is None:
            message = (
                f"persistent id at offset {pid.offset} names storage {storage.key!r}, but the "
                f"archive has no {folder}/{storage.key}"
            )
            reporter.add("SW-PKL-032", storage.key, message, evidence, pickle_where)
            issues.append(StorageIssue("SW-PKL-032", message))
            continue
        expected = storage.numel * size
        if member.uncompressed_size != expected:
            message = (
                f"{member.name} holds {member.uncompressed_size:,} bytes; its persistent id "
                f"declares {storage.numel:,} x {size} bytes ({qual}) = {expected:,}"
            )
            evidence.append(
                Evidence(
                    path=pickle_where.path,
                    offset=member.data_offset,
                    pointer=member.name,
                    excerpt=f"{member.uncompressed_size} bytes",
                    note="storage member",
                )
            )
            reporter.add("SW-PKL-033", storage.key, message, evidence, pickle_where)
            issues.append(StorageIssue("SW-PKL-033", message))
    if scan.complete:
        for key, member in storages.items():
            if key not in referenced:
                message = (
                    f"{member.name} ({member.uncompressed_size:,} bytes) is referenced by no "
                    f"persistent id of {pickle_where.member}"
                )
                where = Location(pickle_where.path, member.name, "byte offset in the file")
                reporter.add(
                    "SW-PKL-034",
                    key,
                    message,
                    [
                        Evidence(
                            path=pickle_where.path,
                            offset=member.data_offset,
                            pointer=member.name,
                            note="unreferenced storage member",
                        )
                    ],
                    where,
                )
                issues.append(StorageIssue("SW-PKL-034", message))
    return issues


def check_legacy_storages(
    reporter: ScanReporter,
    policy: PicklePolicy,
    scan: PickleScan,
    source: Source,
    where: Location,
) -> list[StorageIssue]:
    """Walk a legacy file's storage records after its five pickles (8 bytes read per record)."""
    issues: list[StorageIssue] = []
    pickles = scan.pickles
    if len(pickles) < LEGACY_PICKLES or not all(p.complete for p in pickles[:LEGACY_PICKLES]):
        return issues
    keys = pickles[LEGACY_PICKLES - 1].value
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        message = "the fifth pickle is not the list of storage keys legacy torch.save writes"
        _add(reporter, "SW-PKL-032", "keys", message, where, pickles[-1].start)
        issues.append(StorageIssue("SW-PKL-032", message))
        return issues
    declared: dict[str, tuple[int, int, str]] = {}
    for pid in scan.persistent_ids:
        if pid.pickle_index != LEGACY_PICKLES - 2:
            continue
        storage = pid.storage
        if storage is None:
            if pid.typename == "module":
                continue  # ('module', class, file, source): legacy module source check
            message = f"persistent id {pid.summary} at offset {pid.offset} is not a storage id"
            _add(reporter, "SW-PKL-035", pid.summary, message, where, pid.offset)
            issues.append(StorageIssue("SW-PKL-035", message))
            continue
        size = policy.element_size(storage.storage_type)
        qual = f"{storage.storage_module}.{storage.storage_type}"
        if size is None or not policy.is_storage(qual):
            message = f"persistent id at offset {pid.offset} names an unknown storage type {qual}"
            _add(reporter, "SW-PKL-035", qual, message, where, pid.offset)
            issues.append(StorageIssue("SW-PKL-035", message))
            continue
        declared.setdefault(storage.key, (storage.numel, size, qual))
    position = pickles[LEGACY_PICKLES - 1].end
    end = source.size
    for key in keys[:_MAX_LEGACY_KEYS]:
        spec = declared.get(key)
        if spec is None:
            message = f"storage key {key!r} is listed but no persistent id declares it"
            _add(reporter, "SW-PKL-032", key, message, where, position)
            issues.append(StorageIssue("SW-PKL-032", message))
            return issues
        numel, size, qual = spec
        head = source.read_at(position, 8)
        if len(head) < 8:
            message = f"the record of storage {key!r} at offset {position} runs past the end"
            _add(reporter, "SW-PKL-032", key, message, where, position)
            issues.append(StorageIssue("SW-PKL-032", message))
            return issues
        count = int.from_bytes(head, "little", signed=True)
        if count != numel:
            message = (
                f"the record of storage {key!r} at offset {position} holds {count} elements; "
                f"its persistent id declares {numel} ({qual})"
            )
            _add(reporter, "SW-PKL-033", key, message, where, position)
            issues.append(StorageIssue("SW-PKL-033", message))
            if count < 0:
                return issues
        position += 8 + count * size
        if position > end:
            message = f"the bytes of storage {key!r} run past the end of the file"
            _add(reporter, "SW-PKL-032", key, message, where, end)
            issues.append(StorageIssue("SW-PKL-032", message))
            return issues
    missing = sorted(set(declared) - set(keys))
    if missing:
        message = f"{len(missing)} declared storage(s) are not in the key list: {missing[:5]}"
        _add(reporter, "SW-PKL-032", "missing", message, where, pickles[-1].start)
        issues.append(StorageIssue("SW-PKL-032", message))
    if position < end:
        message = (
            f"{end - position:,} bytes after the last storage record (offset {position}) "
            "belong to no storage"
        )
        _add(reporter, "SW-PKL-034", "tail", message, where, position)
        issues.append(StorageIssue("SW-PKL-034", message))
    return issues


def storage_members(members: Sequence[ZipMember], lead: str, folder: str) -> dict[str, ZipMember]:
    """``key → member`` for ``<lead><folder>/<key>`` members (first of duplicates wins)."""
    out: dict[str, ZipMember] = {}
    start = f"{lead}{folder}/"
    for member in members:
        if member.is_dir or not member.name.startswith(start):
            continue
        key = member.name[len(start) :]
        if key and "/" not in key:
            out.setdefault(key, member)
    return out


def _add(
    reporter: ScanReporter, rule: str, key: str, message: str, where: Location, offset: int
) -> None:
    reporter.add(
        rule,
        key,
        message,
        [Evidence(path=where.path, offset=offset, note="legacy storage records")],
        where,
    )


# ---------------------------------------------------------------- the pre-1.6 tar layout

_MAX_TAR_RECORDS = 1_000_000
_MAX_NDIM = 64
_TAR_HEADER_READ = 4 << 20


@dataclass
class LegacyTarScan:
    """What :func:`scan_legacy_tar` walked: each scan with its label, and what stayed unread."""

    scans: list[tuple[PickleScan, str]] = field(default_factory=list)
    issues: list[StorageIssue] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    storages: int = 0
    tensors: int = 0


@dataclass(frozen=True)
class _Region:
    name: str
    start: int
    end: int


def _tar_regions(source: Source) -> tuple[list[_Region], str | None]:
    """The regular members' data ranges in the file, and why listing stopped early."""
    regions: list[_Region] = []
    try:
        with tarfile.open(
            fileobj=SourceFile(source, _TAR_HEADER_READ),
            mode="r:",
            encoding="utf-8",
            errors="surrogateescape",
        ) as archive:
            for member in archive:
                if len(regions) > _MAX_TAR_RECORDS:
                    return regions, "too many members"
                if member.isreg() and not member.issparse():
                    regions.append(
                        _Region(member.name, member.offset_data, member.offset_data + member.size)
                    )
    except TAR_ERRORS as exc:
        return regions, f"{type(exc).__name__}: {exc}"
    return regions, None


def scan_legacy_tar(
    reporter: ScanReporter,
    policy: PicklePolicy,
    source: Source,
    path: str,
    limits: ScanLimits,
    profiles: Sequence[str],
) -> LegacyTarScan:
    """Scan every pickle of a pre-1.6 ``torch.save`` tar and walk its storage records.

    Every occurrence of ``sys_info``, ``pickle``, ``tensors`` and ``storages``
    is scanned (``torch.load`` reads the last one of each name); the record
    walks check the declared counts and that every storage's bytes and every
    tensor's shape record lie within the member.
    """
    out = LegacyTarScan()
    regions, stopped = _tar_regions(source)
    if stopped is not None:
        out.reasons.append(f"tar listing stopped: {stopped}")
    names = {r.name for r in regions}
    for needed in ("pickle", "storages", "tensors"):
        if needed not in names:
            out.reasons.append(f"no {needed!r} member")
    for region in regions:
        where = Location(path, region.name, "byte offset in the file")
        if region.name in ("sys_info", "pickle"):
            scan = scan_pickle(source, region.start, region.end, limits=limits, expected=1)
            reporter.report(scan, where, profiles)
            out.scans.append((scan, region.name))
        elif region.name == "storages":
            _walk_records(reporter, policy, source, region, where, limits, profiles, out, True)
        elif region.name == "tensors":
            _walk_records(reporter, policy, source, region, where, limits, profiles, out, False)
    return out


def _walk_records(
    reporter: ScanReporter,
    policy: PicklePolicy,
    source: Source,
    region: _Region,
    where: Location,
    limits: ScanLimits,
    profiles: Sequence[str],
    out: LegacyTarScan,
    storages: bool,
) -> None:
    """Walk ``storages`` (count, records with raw bytes, views) or ``tensors`` (count, records
    with shape records): every pickle scanned, every length bounded by the member."""
    what = "storage" if storages else "tensor"

    def scan_one(position: int, label: str) -> PickleScan | None:
        scan = scan_pickle(source, position, region.end, limits=limits, max_pickles=1, expected=1)
        reporter.report(scan, where, profiles)
        out.scans.append((scan, f"{region.name}: {label}"))
        if not scan.pickles or not scan.pickles[0].complete:
            out.reasons.append(f"{region.name}: the {label} pickle at offset {position} is broken")
            return None
        return scan

    def problem(rule: str, key: str, message: str, offset: int) -> None:
        _add(reporter, rule, key, message, where, offset)
        out.issues.append(StorageIssue(rule, message))

    head = scan_one(region.start, "count")
    if head is None:
        return
    count = head.pickles[0].value
    if type(count) is not int or not 0 <= count <= _MAX_TAR_RECORDS:
        problem(
            "SW-PKL-032",
            f"{region.name}:count",
            f"{region.name} does not start with a pickled {what} count ({head.pickles[0].result})",
            region.start,
        )
        return
    position = head.pickles[0].end
    for index in range(count):
        record = scan_one(position, f"{what} record {index}")
        if record is None:
            return
        position = record.pickles[0].end
        if storages:
            types = [g.name for g in record.globals if g.name and policy.element_size(g.name)]
            if not types:
                problem(
                    "SW-PKL-035",
                    f"storages:{index}",
                    f"storage record {index} at offset {record.pickles[0].start} names no "
                    f"known storage type ({record.pickles[0].result[:80]})",
                    record.pickles[0].start,
                )
                return
            size = policy.element_size(types[0]) or 1
            raw = source.read_at(position, 8)
            numel = int.from_bytes(raw, "little", signed=True) if len(raw) == 8 else -1
            if numel < 0 or position + 8 + numel * size > region.end:
                problem(
                    "SW-PKL-032",
                    f"storages:{index}",
                    f"the bytes of storage record {index} at offset {position} run past the end "
                    "of the storages member",
                    position,
                )
                return
            position += 8 + numel * size
            out.storages += 1
        else:
            raw = source.read_at(position, 4)
            ndim = struct.unpack("<i", raw)[0] if len(raw) == 4 else -1
            if not 0 <= ndim <= _MAX_NDIM or position + 16 + 16 * ndim > region.end:
                problem(
                    "SW-PKL-032",
                    f"tensors:{index}",
                    f"the shape record of tensor {index} at offset {position} is malformed or "
                    "runs past the end of the tensors member",
                    position,
                )
                return
            position += 16 + 16 * ndim
            out.tensors += 1
    if storages:
        views = scan_one(position, "storage views")
        if views is None:
            return
        position = views.pickles[0].end
    if position < region.end:
        problem(
            "SW-PKL-034",
            f"{region.name}:tail",
            f"{region.end - position:,} bytes after the last {what} record of {region.name} "
            f"(offset {position}) belong to no record",
            position,
        )
