"""Plain-text description of identified license documents (for ``seewhy license FILE``)."""

from __future__ import annotations

from collections.abc import Sequence

from seewhy.analyzers.license.model import LicenseMatch, Location
from seewhy.report.humanize import clip

__all__ = ["describe"]

QUOTE_SHOWN = 160


def _where(location: Location) -> str:
    where = location.path
    if location.line is not None:
        where += f":{location.line}"
        if location.end_line and location.end_line != location.line:
            where += f"-{location.end_line}"
    elif location.pointer:
        where += f" [{location.pointer}]"
    return where


def _flag(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"


def describe(matches: Sequence[LicenseMatch]) -> str:
    """One block per document: what it is, how sure, and each restrictive clause quoted."""
    blocks: list[str] = []
    for m in matches:
        if m.license_id is None:
            head = f"{_where(m.location)}  not identified ({m.kind})"
            nearest = ", ".join(f"{lid} {sim:.0%}" for lid, sim in m.nearest)
            lines = [head, f"  nearest known texts: {nearest or 'none'}"]
        else:
            lines = [
                f"{_where(m.location)}  {m.name}  [{m.license_id}]",
                f"  family {m.family} · version {m.version or 'unknown'} · {m.kind} · "
                f"OSI-approved: {_flag(m.osi_approved)} · FSF free: {_flag(m.fsf_libre)} · "
                f"confidence {m.confidence:.2f}",
            ]
        if m.note:
            lines.append(f"  note: {m.note}")
        for t in m.tags:
            quote = clip(t.quote, QUOTE_SHOWN)
            conflict = f" — {t.osd_conflict}" if t.osd_conflict else ""
            lines.append(f"  {t.tag}{conflict}\n    {_where(t.location)}: “{quote}”")
        if not m.tags:
            lines.append("  no restrictive clauses found")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
