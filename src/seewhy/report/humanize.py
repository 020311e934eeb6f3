"""Small display helpers shared by the output formats and the analyzers' quotes."""

from __future__ import annotations

import re

from seewhy.report.grouping import MAX_EVIDENCE
from seewhy.report.model import Evidence, FactValue, Finding, ReleaseSummary

ELLIPSIS = "…"
BOUNDARY_REACH = 15  # how far back a cut looks for a word boundary (at most half the limit)
_TRAILING = " \t\r\n,;:([{-"


def clip(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters; a cut one ends with an ellipsis.

    The cut falls on a word boundary when one is near the limit (within
    :data:`BOUNDARY_REACH` characters, or half the limit if that is less), so
    that no quote ends mid-word; a single long word is cut where it must be.
    Every quote and excerpt a report shows is clipped here.
    """
    if len(text) <= limit:
        return text
    if limit <= 1:
        return ELLIPSIS[:limit]
    cut = text[: limit - 1]
    if not text[limit - 1].isspace():
        reach = min(BOUNDARY_REACH, limit // 2)
        space = max(cut.rfind(" "), cut.rfind("\n"), cut.rfind("\t"))
        if space > 0 and space >= len(cut) - reach:
            cut = cut[:space]
    return (cut.rstrip(_TRAILING) or cut) + ELLIPSIS


def strip_label(text: str, label: str) -> str:
    """``text`` without a leading ``label`` (any case) and the colon or dash after it.

    Findings are shown as ``title: message``; a message that already starts
    with its title ("Governing law: …") would otherwise read it twice.
    """
    label = label.strip()
    if not label:
        return text
    m = re.match(rf"\s*{re.escape(label)}\s*(?:[:\u2014\u2013-]\s*|$)", text, re.IGNORECASE)
    return text[m.end() :] if m else text


def headline(f: Finding) -> str:
    """``title: message`` of a finding, the title said once."""
    message = strip_label(f.message, f.title).strip()
    return f"{f.title}: {message}" if message else f.title


def occurrences_text(f: Finding) -> str:
    """'' for a single finding, else how many occurrences it stands for and where."""
    if f.occurrences <= 1:
        return ""
    paths = list(dict.fromkeys(e.path for e in f.evidence if e.path))
    where_ = ""
    if len(paths) == 1:
        where_ = f" in {paths[0]}"
    elif paths and (len(paths) < MAX_EVIDENCE or "the evidence names the first" not in f.message):
        # Beyond MAX_EVIDENCE files the grouped message itself says how many.
        where_ = f" in {len(paths)} files"
    return f"{f.occurrences:,} occurrences{where_}"


def human_bytes(n: int) -> str:
    """1536 → '1.5 KiB'."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def plural(n: int, noun: str) -> str:
    """'1 file', '2 files', '1,024 files'."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def human_count(n: int) -> str:
    """134515008 → '134.5M'."""
    for div, suffix in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if abs(n) >= div:
            return f"{n / div:.1f}{suffix}"
    return str(n)


def fact_text(value: FactValue, key: str = "") -> str:
    """A fact value as one line of plain text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and key.endswith("bytes"):
        return f"{human_bytes(value)} ({value:,} bytes)"
    if isinstance(value, int) and key.endswith(("count", "estimate")):
        return f"{value:,} ({human_count(value)})"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(fact_text(v) for v in value) or "—"
    if isinstance(value, dict):
        # Inside a structured value, None is "no value" (say, no restrictions), not unknown.
        return (
            ", ".join(f"{k}: {'—' if v is None else fact_text(v, key)}" for k, v in value.items())
            or "—"
        )
    if value is None:
        return "unknown"
    return str(value)


def where(ev: Evidence) -> str:
    """'path:line' / 'path@offset' / 'path#pointer' for one piece of evidence."""
    out = ev.path or "(release)"
    if ev.line is not None:
        out += f":{ev.line}"
        if ev.end_line is not None and ev.end_line != ev.line:
            out += f"-{ev.end_line}"
    if ev.offset is not None:
        out += f" @ byte {ev.offset:,}"
    if ev.pointer:
        out += f" [{ev.pointer}]"
    return out


def evidence_text(ev: Evidence) -> str:
    """Location and note of one piece of evidence, for a table cell."""
    place = where(ev) if ev.path else ""
    if ev.note and place:
        return f"{place} ({ev.note})"
    return place or ev.note or ""


def bytes_read_text(rel: ReleaseSummary) -> str:
    """What the audit read, parsing and hashing apart, saying why it can exceed the size.

    Hashing reads every byte once more, and several analyzers may read the
    same header: either can make the bytes read larger than the release.
    """
    parsed = max(0, rel.bytes_read - rel.bytes_hashed)
    out = f"{human_bytes(parsed)} read to parse"
    if parsed > rel.total_bytes:
        out += " (more than the release: bytes read by several analyzers count each time)"
    if rel.bytes_hashed:
        out += f"; {human_bytes(rel.bytes_hashed)} read to hash"
    return out


def hub_text(rel: ReleaseSummary) -> str:
    """'org/name @ revision (refs: main)' for a release read from the Hugging Face cache."""
    out = rel.repo_id or ""
    if rel.revision:
        out += f" @ {rel.revision}"
    if rel.refs:
        out += f" (refs: {', '.join(rel.refs)})"
    return out
