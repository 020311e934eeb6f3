"""The pickle half of "is it safe to load?": every pickle in every file, analysed.

:class:`PickleAnalyzer` scans each file whose kind carries pickles with the
symbolic machine of :mod:`seewhy.formats.pickle_vm` (nothing is ever
unpickled) and judges what loading would import and call against the
per-framework allow-lists of :mod:`seewhy.analyzers.security.pickle_policy`:

* raw pickles (``PICKLE``), joblib files included (array bytes after each
  ``NumpyArrayWrapper`` are stepped over as joblib does); compressed joblib
  files are decompressed by the archive checks of the formats analyzer
  (:mod:`seewhy.analyzers.nested`), whose nested audit brings them here;
* PyTorch zips and TorchScript archives: every pickle member (``data.pkl``,
  ``constants.pkl``, extras, members hidden under other names), storages
  checked against the persistent ids that name them, ``code/`` reported as
  executable;
* legacy ``torch.save`` files: the five pickles, then the storage records;
  the pre-1.6 tar layout: every pickle of its four members, every record;
* ``.npy`` files with an object dtype and ``.npz`` members with one.

Each such file gets a coverage step: ``parsed`` when every pickle the loader
reads was walked to its end with no cap reached, ``inconclusive`` (with
the reason) otherwise. The analyzer emits findings and coverage, no verdict.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from seewhy.analyzers.interface import AnalyzerResult, AuditContext, ResultBuilder
from seewhy.analyzers.security.pickle_embedded import EMBEDDED_KINDS, embedded_handler
from seewhy.analyzers.security.pickle_policy import PicklePolicy, load_policy
from seewhy.analyzers.security.pickle_report import Location, ScanReporter
from seewhy.budget import BudgetExceeded
from seewhy.errors import FormatError, ReleaseReadError
from seewhy.formats.interface import BytesSource, Problem, Source
from seewhy.formats.pickle_limits import ScanLimits
from seewhy.release.model import FileKind, Release, ReleaseFile
from seewhy.report.model import CoverageStatus, Evidence

if TYPE_CHECKING:  # the parsers are imported by the handler of a kind that needs them
    from seewhy.analyzers.security.pickle_torch import StorageIssue
    from seewhy.formats.archive import ZipMember
    from seewhy.formats.pickle_vm import PickleScan

__all__ = ["PICKLE_KINDS", "PickleAnalyzer"]

P = CoverageStatus

PICKLE_KINDS = frozenset(
    {
        FileKind.PICKLE,
        FileKind.PYTORCH_ZIP,
        FileKind.TORCHSCRIPT,
        FileKind.PYTORCH_LEGACY,
        FileKind.NUMPY,
        FileKind.NUMPY_ZIP,
    }
)
"""Kinds whose files may carry pickles (compressed ones arrive through the nested audit)."""

_TORCH_PROFILES = ("base", "torch", "numpy")
_NUMPY_PROFILES = ("base", "numpy")
_PICKLE_PROFILES = ("base", "numpy", "torch")
_JOBLIB_NAMES = (".joblib", ".jbl")
_PICKLE_SUFFIXES = (".pkl", ".pickle", ".debug_pkl")
_SNIFF_BYTES = 64 * 1024

_ENCRYPTION_FLAGS = 0x0001 | 0x0040 | 0x2000


@dataclass
class _Outcome:
    """What happened to one file: reasons it is inconclusive, and a summary."""

    reasons: list[str] = field(default_factory=list)
    pickles: int = 0
    ops: int = 0
    globals: int = 0
    notes: list[str] = field(default_factory=list)

    def take(self, scan: PickleScan, label: str) -> None:
        for inner in scan.walk():
            self.pickles += len(inner.pickles)
            self.ops += inner.ops
            self.globals += len(inner.globals)
        if not scan.complete:
            self.reasons.append(f"{label}: {_why_incomplete(scan)}")


class PickleAnalyzer:
    """Scans every pickle of the release symbolically; findings and coverage, no verdict."""

    name = "security.pickle"

    def __init__(
        self,
        limits: ScanLimits | None = None,
        *,
        max_member_bytes: int = 512 << 20,
        max_decompressed_bytes: int = 512 << 20,
    ) -> None:
        self.limits = limits or ScanLimits()
        self.max_member_bytes = max_member_bytes
        self.max_decompressed_bytes = max_decompressed_bytes

    def analyze(self, release: Release, ctx: AuditContext) -> AnalyzerResult:
        """See :class:`~seewhy.analyzers.interface.Analyzer`."""
        b = ResultBuilder(self.name, ctx.rules)
        policy = load_policy()
        reporter = ScanReporter(b, policy)
        for file in release.files:
            handler = self._handler(file)
            if handler is None and file.kind in EMBEDDED_KINDS:
                handler = embedded_handler(ctx.cache, self.limits)  # pickles in strings
            if handler is None:
                continue
            outcome = _Outcome()
            try:
                with ctx.budget.bound(file.path):
                    summary = handler(release, file, reporter, policy, outcome)
            except BudgetExceeded as exc:
                b.over_budget(file.path, exc)
                continue
            except FormatError as exc:
                b.problem(file.path, Problem(exc.code, exc.message, exc.offset))
                b.cover(file.path, P.INCONCLUSIVE, f"pickles not analysed: {exc.message}")
                continue
            except ReleaseReadError as exc:
                b.cover(file.path, P.ERROR, f"read failed: {exc.reason}")
                continue
            except (ValueError, OverflowError, MemoryError, RecursionError, struct.error) as exc:
                b.problem(
                    file.path,
                    Problem("parser.crash", f"the pickle analyzer failed: {exc!r}"),
                )
                b.cover(file.path, P.INCONCLUSIVE, f"pickle analysis failed: {type(exc).__name__}")
                continue
            if summary is None:
                continue
            if outcome.reasons:
                b.cover(file.path, P.INCONCLUSIVE, "; ".join(outcome.reasons)[:500])
            else:
                b.cover(file.path, P.PARSED, summary)
        reporter.flush()
        if reporter.imports:
            names = sorted(reporter.imports)
            b.fact(
                "pickle_imports",
                "Globals the pickles import (all allow-listed)",
                [*names[:100], *(["…"] if len(names) > 100 else [])],
                [Evidence(note=f"{len(names)} distinct allow-listed globals")],
            )
        return b.result

    def _handler(self, file: ReleaseFile) -> _Handler | None:
        if file.kind in (FileKind.PYTORCH_ZIP, FileKind.TORCHSCRIPT):
            return self._torch_zip
        if file.kind is FileKind.PYTORCH_LEGACY:
            return self._legacy
        if file.kind is FileKind.PICKLE:
            return self._pickle
        if file.kind is FileKind.NUMPY:
            return self._npy
        if file.kind is FileKind.NUMPY_ZIP:
            return self._npz
        if file.kind is FileKind.UNKNOWN:
            return self._unknown
        return None

    def _unknown(
        self,
        release: Release,
        file: ReleaseFile,
        reporter: ScanReporter,
        policy: PicklePolicy,
        outcome: _Outcome,
    ) -> str | None:
        """A file the sniffer could not name: a pickle stream it missed?"""
        head = release.read_head(file, _SNIFF_BYTES)
        if not _looks_like_pickle(head, self.limits):
            return None
        with release.open(file) as source:
            summary = self._raw_stream(source, file, reporter, outcome, Location(file.path))
        return f"{summary} (the sniffer did not recognise it; scanned as a pickle)"

    # ------------------------------------------------------------ raw pickles

    def _pickle(
        self,
        release: Release,
        file: ReleaseFile,
        reporter: ScanReporter,
        policy: PicklePolicy,
        outcome: _Outcome,
    ) -> str | None:
        with release.open(file) as source:
            return self._raw_stream(source, file, reporter, outcome, Location(file.path))

    def _raw_stream(
        self,
        source: Source,
        file: ReleaseFile,
        reporter: ScanReporter,
        outcome: _Outcome,
        where: Location,
    ) -> str:
        from seewhy.formats.pickle_vm import scan_pickle

        scan = scan_pickle(source, 0, limits=self.limits, expected=1, joblib=True)
        profiles: tuple[str, ...] = _PICKLE_PROFILES
        joblib = scan.joblib_arrays > 0 or file.path.lower().endswith(_JOBLIB_NAMES)
        joblib = joblib or any((g.module or "").startswith("joblib.") for g in scan.globals)
        if joblib:
            profiles = (*profiles, "joblib")
        reporter.report(scan, where, profiles)
        outcome.take(scan, "pickle")
        if scan.persistent_ids:
            first = scan.persistent_ids[0]
            reporter.add(
                "SW-PKL-012",
                "persistent",
                f"{len(scan.persistent_ids)} persistent id(s), the first {first.summary} at "
                f"offset {first.offset}: plain pickle.load refuses them",
                [
                    Evidence(
                        path=where.path,
                        offset=first.offset,
                        pointer=where.member,
                        excerpt=f"{first.opcode} {first.summary}",
                        note=where.offsets,
                    )
                ],
                where,
            )
        kind = "joblib stream" if joblib else "pickle stream"
        arrays = f", {scan.joblib_arrays} arrays stepped over" if scan.joblib_arrays else ""
        return (
            f"{kind}: {len(scan.pickles)} pickle(s), protocol {scan.protocol}, "
            f"{scan.ops:,} opcodes, {len(scan.globals)} globals{arrays}"
        )

    # ------------------------------------------------------------ numpy

    def _npy(
        self,
        release: Release,
        file: ReleaseFile,
        reporter: ScanReporter,
        policy: PicklePolicy,
        outcome: _Outcome,
    ) -> str | None:
        from seewhy.formats.numpy import parse_npy_header
        from seewhy.formats.pickle_vm import scan_pickle

        with release.open(file) as source:
            info = parse_npy_header(source)
            if not info.has_object_dtype:
                return None
            scan = scan_pickle(
                source, info.data_offset, limits=self.limits, max_pickles=None, expected=1
            )
        reporter.report(scan, Location(file.path), _NUMPY_PROFILES)
        outcome.take(scan, "object array pickle")
        return f"object array {info.descr} {info.shape}: pickle of {scan.ops:,} opcodes analysed"

    def _npz(
        self,
        release: Release,
        file: ReleaseFile,
        reporter: ScanReporter,
        policy: PicklePolicy,
        outcome: _Outcome,
    ) -> str | None:
        from seewhy.formats.archive import read_zip
        from seewhy.formats.numpy import describe_npz
        from seewhy.formats.pickle_vm import scan_pickle

        with release.open(file) as source:
            listing = read_zip(source)
            info = describe_npz(listing, source)
            if not info.has_object_dtype:
                return None
            members = {m.name: m for m in listing.members}
            count = 0
            for array in info.arrays:
                if array.info is None or not array.info.has_object_dtype:
                    continue
                member = members[array.name]
                count += 1
                stream, _, end, offsets = self._member_stream(source, member)
                # A stored member's header offsets are in the file, an inflated one's in it.
                scan = scan_pickle(
                    stream, array.info.data_offset, end, limits=self.limits, expected=1
                )
                reporter.report(scan, Location(file.path, member.name, offsets), _NUMPY_PROFILES)
                outcome.take(scan, member.name)
        return f"{count} object array member(s) analysed"

    def _member_stream(self, source: Source, member: ZipMember) -> tuple[Source, int, int, str]:
        """The member's bytes as a source: in place when stored, else inflated (capped).

        Like PyTorch's reader, flag bits (encryption included) are ignored: a member
        flagged as encrypted is read as it is, since that is what torch.load does.
        """
        from seewhy.formats.archive import METHOD_STORED, read_member

        if member.encrypted:
            member = replace(member, flags=member.flags & ~_ENCRYPTION_FLAGS)
        if (
            member.method == METHOD_STORED
            and member.data_offset is not None
            and member.data_offset + member.compressed_size <= source.size
        ):
            return (
                source,
                member.data_offset,
                member.data_offset + member.compressed_size,
                "byte offset in the file",
            )
        body = read_member(source, member, max_bytes=self.max_member_bytes)
        return BytesSource(body), 0, len(body), "byte offset in the inflated member"

    # ------------------------------------------------------------ torch

    def _legacy(
        self,
        release: Release,
        file: ReleaseFile,
        reporter: ScanReporter,
        policy: PicklePolicy,
        outcome: _Outcome,
    ) -> str | None:
        from seewhy.analyzers.security.pickle_torch import LEGACY_PICKLES, check_legacy_storages
        from seewhy.formats.pickle_vm import scan_pickle

        where = Location(file.path, expected=LEGACY_PICKLES)
        with release.open(file) as source:
            if source.read_at(257, 5) == b"ustar":
                return self._legacy_tar(source, file, reporter, policy, outcome)
            scan = scan_pickle(
                source,
                0,
                limits=self.limits,
                max_pickles=LEGACY_PICKLES,
                expected=LEGACY_PICKLES,
            )
            reporter.report(scan, where, _TORCH_PROFILES)
            outcome.take(scan, "legacy torch pickles")
            issues = check_legacy_storages(reporter, policy, scan, source, where)
        _storage_notes(issues, outcome)
        return (
            f"legacy torch.save: {len(scan.pickles)} pickles, {scan.ops:,} opcodes, "
            f"{len(scan.persistent_ids)} storages checked"
        )

    def _legacy_tar(
        self,
        source: Source,
        file: ReleaseFile,
        reporter: ScanReporter,
        policy: PicklePolicy,
        outcome: _Outcome,
    ) -> str:
        """The pre-1.6 tar layout: every pickle of every record member, storages walked."""
        from seewhy.analyzers.security.pickle_torch import scan_legacy_tar

        walked = scan_legacy_tar(reporter, policy, source, file.path, self.limits, _TORCH_PROFILES)
        for scan, label in walked.scans:
            outcome.take(scan, label)
        outcome.reasons.extend(walked.reasons)
        _storage_notes(walked.issues, outcome)
        return (
            f"legacy torch.save tar: {len(walked.scans)} pickles, {outcome.ops:,} opcodes, "
            f"{walked.storages} storages and {walked.tensors} tensor records checked"
        )

    def _torch_zip(
        self,
        release: Release,
        file: ReleaseFile,
        reporter: ScanReporter,
        policy: PicklePolicy,
        outcome: _Outcome,
    ) -> str | None:
        from seewhy.analyzers.security.pickle_torch import (
            check_zip_storages,
            storage_members,
        )
        from seewhy.formats.archive import read_zip
        from seewhy.formats.pickle_vm import scan_pickle
        from seewhy.formats.torch import describe_torch_zip

        with release.open(file) as source:
            listing = read_zip(source)
            info = describe_torch_zip(listing, source)
            lead = f"{info.prefix}/" if info.prefix is not None else ""
            mismatched = {
                p.pointer for p in listing.problems if p.code == "zip.name-mismatch" and p.pointer
            }
            torchscript = info.is_torchscript or file.kind is FileKind.TORCHSCRIPT
            profiles = (*_TORCH_PROFILES, "torchscript") if torchscript else _TORCH_PROFILES
            scanned = 0
            issues: list[StorageIssue] = []
            seen: set[int] = set()
            for member in listing.members:
                reason = self._pickle_member(source, member, lead, policy, mismatched)
                if reason is None or member.index in seen:
                    continue
                seen.add(member.index)
                scanned += 1
                relative = member.name[len(lead) :] if member.name.startswith(lead) else None
                canonical = (
                    relative in policy.torch_pickles
                    or (
                        torchscript
                        and relative is not None
                        and relative.startswith("code/")
                        and relative.endswith(".debug_pkl")
                    )
                ) and member.name not in mismatched
                try:
                    stream, base, end, offsets = self._member_stream(source, member)
                except FormatError as exc:
                    outcome.reasons.append(f"{member.name}: {exc.message}")
                    reporter.builder.problem(
                        file.path, Problem(exc.code, exc.message, exc.offset, member.name)
                    )
                    continue
                scan = scan_pickle(stream, base, end, limits=self.limits, expected=1)
                where = Location(file.path, member.name, offsets)
                reporter.report(scan, where, profiles)
                outcome.take(scan, member.name)
                if not canonical:
                    reporter.add(
                        "SW-PKL-031",
                        member.name,
                        f"{member.name} is a pickle PyTorch does not write ({reason}); it was "
                        "scanned",
                        [
                            Evidence(
                                path=file.path,
                                offset=member.local_header_offset,
                                pointer=member.name,
                                excerpt=member.name,
                                note=reason,
                            )
                        ],
                        where,
                    )
                if relative in policy.torch_storage_folders:
                    folder = policy.torch_storage_folders[relative]
                    storages = storage_members(listing.members, lead, folder)
                    if relative == "data.pkl" or storages:
                        issues += check_zip_storages(
                            reporter, policy, scan, where, folder, storages
                        )
            if torchscript:
                self._torchscript_code(listing.members, lead, file, reporter)
        _storage_notes(issues, outcome)
        kind = "TorchScript archive" if torchscript else "PyTorch zip"
        return (
            f"{kind}: {scanned} pickle member(s), {outcome.ops:,} opcodes, "
            f"{len(info.storages)} storages size-checked"
        )

    def _pickle_member(
        self,
        source: Source,
        member: ZipMember,
        lead: str,
        policy: PicklePolicy,
        mismatched: set[str],
    ) -> str | None:
        """Why a member is scanned as a pickle (``None``: it is not one)."""
        from seewhy.formats.torch import is_pickle_start

        if member.is_dir:
            return None
        name = member.name
        relative = name[len(lead) :] if name.startswith(lead) else None
        hidden = (
            "; its local header names another file (readers that use local names see "
            "something else)"
            if name in mismatched
            else ""
        )
        if name.endswith(_PICKLE_SUFFIXES):
            if relative is None:
                return "outside the archive prefix" + hidden
            if relative in policy.torch_pickles:
                return "PyTorch record" + hidden
            return "a pickle member PyTorch does not write" + hidden
        if relative is not None:
            folder, _, key = relative.partition("/")
            if folder in ("data", "constants") and key and "/" not in key:
                return None  # a storage: raw tensor bytes
            if relative in policy.torch_known_records or relative.startswith("code/"):
                return None
        try:
            head = _member_head(source, member)
        except FormatError:
            return None
        if head and is_pickle_start(head) is not None:
            return "a pickle under a name that hides it" + hidden
        return None

    def _torchscript_code(
        self,
        members: tuple[ZipMember, ...],
        lead: str,
        file: ReleaseFile,
        reporter: ScanReporter,
    ) -> None:
        code = [
            m
            for m in members
            if m.name.startswith(f"{lead}code/")
            and not m.is_dir
            and not m.name.endswith(".debug_pkl")
        ]
        where = Location(file.path)
        names = ", ".join(PurePosixPath(m.name).name for m in code[:10])
        reporter.add(
            "SW-PKL-030",
            "code",
            f"TorchScript archive with {len(code)} code file(s) that torch.jit.load compiles and "
            f"runs: {names}" + (" …" if len(code) > 10 else ""),
            [
                Evidence(
                    path=file.path,
                    offset=m.local_header_offset,
                    pointer=m.name,
                    note="TorchScript source",
                )
                for m in code[:5]
            ]
            or [Evidence(path=file.path, note="constants.pkl or code/ folder present")],
            where,
        )


_Handler = Callable[[Release, ReleaseFile, ScanReporter, PicklePolicy, _Outcome], "str | None"]


def _storage_notes(issues: list[StorageIssue], outcome: _Outcome) -> None:
    for issue in issues[:3]:
        outcome.notes.append(issue.message)


def _why_incomplete(scan: PickleScan) -> str:
    for inner in scan.walk():
        if inner.errors:
            problem = inner.errors[0]
            return f"{problem.message} at offset {problem.offset}"
        capped = [
            p for p in inner.problems if p.code in ("pickle.cap-exceeded", "pickle.expansion")
        ]
        if capped:
            return capped[0].message
        nested = [p for p in inner.problems if p.code == "pickle.nested-limit"]
        if nested:
            return nested[0].message
    if scan.truncated:
        return "a scan limit was reached"
    return "not every pickle was walked to its end"


def _looks_like_pickle(head: bytes, limits: ScanLimits) -> bool:
    """Whether bytes the sniffer left unnamed begin a pickle: PROTO, or a walk to STOP."""
    from seewhy.formats.pickle_vm import scan_pickle

    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 5:
        return True
    probe = scan_pickle(
        BytesSource(head), limits=ScanLimits(max_ops=10_000, max_records=1_000), max_pickles=1
    )
    first = probe.pickles[0] if probe.pickles else None
    return first is not None and first.complete and bool(probe.globals or first.ops >= 8)


def _member_head(source: Source, member: ZipMember) -> bytes:
    from seewhy.formats.archive import read_member_head

    return read_member_head(source, member, _SNIFF_BYTES)
