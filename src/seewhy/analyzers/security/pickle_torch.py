"""PyTorch structure checks: storages against the persistent ids that name them.

A ``torch.save`` zip keeps each tensor storage in ``<prefix>/data/<key>``
and names it in ``data.pkl`` with a persistent id ``('storage',
<StorageClass>, key, location, numel)``; TorchScript does the same for
``constants.pkl`` and ``constants/<key>``. A legacy (non-zip) file follows
its five pickles with one record per storage key: an 8-byte little-endian
element count and the raw bytes. These checks compare the two sides using
sizes only: tensor bytes are never read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from seewhy.analyzers.security.pickle_policy import PicklePolicy
from seewhy.analyzers.security.pickle_report import Location, ScanReporter
from seewhy.formats.archive import ZipMember
from seewhy.formats.interface import Source
from seewhy.formats.pickle_vm import PersistentRef, PickleScan
from seewhy.report.model import Evidence

__all__ = [
    "LEGACY_PICKLES",
    "StorageIssue",
    "check_legacy_storages",
    "check_zip_storages",
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
