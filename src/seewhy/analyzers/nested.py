"""Look inside containers: audit the members of an archive like a release of their own.

An archive check (tar, zip, compressed stream, the non-array members of an
``.npz``) hands its members to an :class:`Extraction`: each member is
streamed into a fresh temporary folder under a sanitised name (nothing is
ever written outside it, links and devices are never created), within the
limits of :class:`NestedLimits`. :meth:`Extraction.audit` then opens that
folder as a nested :class:`~seewhy.release.model.Release` and runs the whole
audit on it (every analyzer but license and openness), so every member is
sniffed by content and read by the analyzer of its real kind, archives in
archives included.

What the nested audit finds comes back into the outer report: findings
with their paths prefixed ``outer!member`` (``release.tar.gz!model/
weights.npz!arr_0.npy`` three levels down), and one coverage step for the
archive that is the worst of its members' (fail closed). A member that
could not be extracted, a nesting deeper than ``max_depth`` or a budget
spent makes the archive inconclusive, with the reason; a stream that
expands beyond ``max_ratio`` is a decompression bomb finding as well.

The limits form one budget per audit, shared by every nesting level: the
top-level audit keeps it in :attr:`AuditContext.cache`, and nested audits
find it (with their depth) through the root of the temporary folder they
audit.
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from seewhy.analyzers.interface import AuditContext, ResultBuilder
from seewhy.release.model import Release
from seewhy.report.model import CoverageStatus, Evidence, Finding

__all__ = [
    "Budget",
    "Extraction",
    "NestedLimits",
    "NestedOutcome",
    "budget_for",
]

SEPARATOR = "!"
"""Joins an archive's path and a member's path in evidence (``a.tar!b.npz!c.npy``)."""

_CACHE_KEY = ("nested", "budget")
_COPY_CHUNK = 1 << 20
_MAX_NAME = 200  # bytes per path component kept in the temporary folder
_MAX_PARTS = 32
_REASONS_SHOWN = 3


@dataclass(frozen=True)
class NestedLimits:
    """Bounds of looking inside archives, for one audit and all its nesting levels."""

    max_depth: int = 4
    """Archives inside archives analysed this many levels deep (the release is level 0)."""
    max_total_bytes: int = 4 << 30
    """Bytes extracted from all archives of one audit together."""
    max_member_bytes: int = 2 << 30
    """Bytes of any one member."""
    max_members: int = 10_000
    """Members extracted from all archives of one audit together."""
    max_ratio: float = 200.0
    """A compressed stream expanding beyond this ratio is a bomb (once past ``ratio_floor``)."""
    ratio_floor: int = 16 << 20


class Budget:
    """What is left of the limits in one audit (thread-safe)."""

    def __init__(self, limits: NestedLimits | None = None) -> None:
        self.limits = limits or NestedLimits()
        self.bytes_left = self.limits.max_total_bytes
        self.members_left = self.limits.max_members
        self._lock = threading.Lock()

    def take_bytes(self, n: int) -> bool:
        """Spend ``n`` bytes; False (nothing spent) when fewer are left."""
        with self._lock:
            if n > self.bytes_left:
                return False
            self.bytes_left -= n
            return True

    def take_member(self) -> bool:
        """Spend one member; False when none is left."""
        with self._lock:
            if self.members_left <= 0:
                return False
            self.members_left -= 1
            return True


# Temporary folders being audited → (the audit's budget, their nesting level).
_LEVELS: dict[str, tuple[Budget, int]] = {}
_LEVELS_LOCK = threading.Lock()


def budget_for(release: Release, ctx: AuditContext) -> tuple[Budget, int]:
    """The budget of the audit ``release`` belongs to, and the release's nesting level."""
    with _LEVELS_LOCK:
        hit = _LEVELS.get(str(release.root))
    if hit is not None:
        return hit
    budget = ctx.cache.get(_CACHE_KEY)
    if not isinstance(budget, Budget):
        budget = Budget()
        ctx.cache[_CACHE_KEY] = budget
    return budget, 0


@dataclass
class NestedOutcome:
    """What analysing the members gave: the archive's coverage status and its detail."""

    status: CoverageStatus
    detail: str
    members: int = 0


class MemberLimit(Exception):
    """A member went past a cap while it was extracted."""

    def __init__(self, message: str, *, bomb: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.bomb = bomb


@dataclass
class Extraction:
    """A temporary folder the members of one archive are streamed into, then audited.

    Use as a context manager; the folder and everything in it is removed on exit.
    ``outer`` is the archive's path in the report (itself prefixed when the
    archive is a member of another).
    """

    outer: str
    budget: Budget
    depth: int
    reasons: list[str] = field(default_factory=list)
    _names: dict[str, str] = field(default_factory=dict)
    _folder: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Extraction:
        self._folder = tempfile.TemporaryDirectory(prefix="seewhy-members-")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    @property
    def root(self) -> Path:
        """The temporary folder."""
        assert self._folder is not None, "use Extraction as a context manager"
        return Path(self._folder.name)

    @property
    def too_deep(self) -> bool:
        """Whether members of this archive lie deeper than the nesting limit."""
        return self.depth + 1 > self.budget.limits.max_depth

    @property
    def count(self) -> int:
        """Members extracted so far."""
        return len(self._names)

    def skip(self, name: str, reason: str) -> None:
        """Record a member that is not analysed, and why (the archive becomes inconclusive)."""
        self.reasons.append(f"{_show(name)}: {reason}")

    def add(self, name: str, chunks: Iterable[bytes], size: int | None = None) -> bool:
        """Stream one member into the folder; False (and a reason) when it was not kept.

        ``size`` is the size the archive declares, checked before anything is
        written. ``chunks`` may raise :class:`MemberLimit` (a cap inside a
        decompressor) or any exception of a corrupt member: the member is
        then dropped and the reason recorded; a ratio cap is re-raised so the
        caller can report the bomb.
        """
        limits = self.budget.limits
        if size is not None and size > limits.max_member_bytes:
            self.skip(name, f"{size:,} bytes, above the {limits.max_member_bytes:,}-byte cap")
            return False
        if not self.budget.take_member():
            self.skip(name, f"more than {limits.max_members:,} archive members in this audit")
            return False
        relative = self._place(name)
        target = self.root / relative
        written = 0
        try:
            with target.open("xb") as out:
                for chunk in chunks:
                    written += len(chunk)
                    if written > limits.max_member_bytes:
                        raise MemberLimit(
                            f"more than the {limits.max_member_bytes:,}-byte member cap"
                        )
                    if not self.budget.take_bytes(len(chunk)):
                        raise MemberLimit(
                            f"the {limits.max_total_bytes:,} bytes this audit extracts from "
                            "archives are spent"
                        )
                    out.write(chunk)
        except MemberLimit as exc:
            target.unlink(missing_ok=True)
            self.skip(name, exc.message)
            if exc.bomb:
                raise
            return False
        except Exception as exc:  # a corrupt member: it is dropped, the archive inconclusive
            target.unlink(missing_ok=True)
            self.skip(name, f"could not be extracted ({type(exc).__name__}: {_show(str(exc))})")
            return False
        self._names[relative] = name
        return True

    def _place(self, name: str) -> str:
        """A fresh, safe relative path in the folder for a member called ``name``."""
        parts = [_clean(p) for p in re.split(r"[/\\]", name) if p not in ("", ".", "..")]
        parts = [p for p in parts if p][-_MAX_PARTS:] or ["member"]
        candidate = "/".join(parts)
        index = 1
        while True:
            target = self.root / candidate
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    return candidate
            except OSError:  # a file where a folder must go, or the reverse
                candidate = f"{len(self._names) + index}~{parts[-1]}"
                index += 1
                continue
            index += 1
            stem = "/".join(parts[:-1])
            leaf = f"{index}~{parts[-1]}"
            candidate = f"{stem}/{leaf}" if stem else leaf

    def audit(self, b: ResultBuilder, what: str) -> NestedOutcome:
        """Audit the extracted members; merge findings into ``b``; the archive's coverage.

        ``what`` names the archive for the coverage detail (``tar``, ``zip``,
        ``gzip stream``).
        """
        from seewhy.audit import NOT_LOAD_SAFETY, audit_release, default_analyzers
        from seewhy.release.local import open_release

        reasons = list(self.reasons)
        if not self._names:
            status = CoverageStatus.INCONCLUSIVE if reasons else CoverageStatus.PARSED
            return NestedOutcome(status, _detail(what, 0, {}, reasons))
        release = open_release(self.root)
        key = str(release.root)
        with _LEVELS_LOCK:
            _LEVELS[key] = (self.budget, self.depth + 1)
        try:
            analyzers = [a for a in default_analyzers() if a.name not in NOT_LOAD_SAFETY]
            report = audit_release(release, source=self.outer, analyzers=analyzers)
        finally:
            with _LEVELS_LOCK:
                _LEVELS.pop(key, None)
        for finding in report.findings:
            merged = self._merge(finding)
            if merged is not None:
                b.result.findings.append(merged)
        counts: dict[CoverageStatus, int] = {}
        order = list(CoverageStatus)
        worst = CoverageStatus.PARSED
        for coverage in report.coverage:
            status = coverage.status
            counts[status] = counts.get(status, 0) + 1
            if not status.conclusive:
                why = next((s.detail for s in coverage.steps if s.status is status), "")
                reasons.append(f"{self._display(coverage.path)}: {status.value} ({why})")
            if order.index(status) > order.index(worst):
                worst = status
        for outcome in report.analyzers:
            if outcome.status == "errored":
                reasons.append(f"analyzer {outcome.analyzer} failed on the members")
                worst = max(worst, CoverageStatus.INCONCLUSIVE, key=order.index)
        if self.reasons:
            worst = max(worst, CoverageStatus.INCONCLUSIVE, key=order.index)
        if worst is CoverageStatus.LISTED:
            worst = CoverageStatus.PARSED
        return NestedOutcome(worst, _detail(what, len(self._names), counts, reasons), self.count)

    def _display(self, path: str) -> str:
        """``outer!member`` for a path of the nested release (itself maybe ``a!b``)."""
        inner = path
        tail = ""
        if path not in self._names:
            cut = path.find(SEPARATOR)
            while cut >= 0 and path[:cut] not in self._names:
                cut = path.find(SEPARATOR, cut + 1)
            if cut >= 0:
                inner, tail = path[:cut], path[cut:]
        name = self._names.get(inner, inner)
        return f"{self.outer}{SEPARATOR}{_show(name)}{tail}"

    def _merge(self, finding: Finding) -> Finding | None:
        """The finding with its paths prefixed; None for release-level statements."""
        if not any(e.path for e in finding.evidence):
            if finding.analyzer == "inventory":
                return None  # about the temporary folder as a release (no card, no license)
            evidence: tuple[Evidence, ...] = (
                *finding.evidence,
                Evidence(path=self.outer, note="inside this archive"),
            )
        else:
            evidence = tuple(
                e.model_copy(update={"path": self._display(e.path)}) if e.path else e
                for e in finding.evidence
            )
        return finding.model_copy(update={"evidence": evidence})


def _clean(part: str) -> str:
    """One path component, safe to create: printable, no drive letter, bounded."""
    text = part.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    text = "".join(ch if ch.isprintable() and ch not in ':*?"<>|' else "_" for ch in text)
    encoded = text.encode("utf-8")[:_MAX_NAME]
    return encoded.decode("utf-8", "ignore").strip(" ") or "_"


def _show(text: str, limit: int = 160) -> str:
    clean = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    clean = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in clean[: limit + 1])
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _detail(what: str, members: int, counts: dict[CoverageStatus, int], reasons: list[str]) -> str:
    shown = ", ".join(f"{n} {status.value}" for status, n in counts.items())
    detail = f"{what}: {members} member(s) analysed" + (f" ({shown})" if shown else "")
    if reasons:
        more = (
            f"; and {len(reasons) - _REASONS_SHOWN} more" if len(reasons) > _REASONS_SHOWN else ""
        )
        detail += "; not fully checked: " + "; ".join(reasons[:_REASONS_SHOWN]) + more
    return detail
