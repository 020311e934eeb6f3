"""Small display helpers shared by the text and Markdown formats."""

from __future__ import annotations

from seewhy.report.model import Evidence, FactValue


def human_bytes(n: int) -> str:
    """1536 → '1.5 KiB'."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


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
