"""Markdown output, fit to paste into a pull request or a model card.

Everything that comes from the release is untrusted: it is escaped so that
it renders as the literal text, never as Markdown or HTML.
"""

from __future__ import annotations

from seewhy.report.humanize import (
    bytes_read_text,
    evidence_text,
    fact_text,
    headline,
    hub_text,
    human_bytes,
    occurrences_text,
    where,
)
from seewhy.report.model import Finding, Report, Severity
from seewhy.report.sections import findings_by_severity, split_facts

# Backslash escapes work in table cells (GFM drops the backslash of ``\\|`` before
# splitting cells) and in the text inside raw ``<code>`` tags, which is Markdown too.
_MD_SPECIAL = str.maketrans(
    {c: "\\" + c for c in "\\`*_[]|~#!$"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
)
# Control characters (what str.split() leaves of them) show as visible \xNN escapes.
_MD_SPECIAL.update({c: f"\\\\x{c:02x}" for c in [*range(0x20), 0x7F] if not chr(c).isspace()})


def md(text: str) -> str:
    """Escape untrusted text for inline Markdown: one line, safe in a table cell."""
    return " ".join(text.split()).translate(_MD_SPECIAL)


def code(text: str) -> str:
    """Untrusted text as inline code that cannot break out (of the span or a table cell)."""
    return "<code>" + md(text) + "</code>"


def format_markdown(report: Report) -> str:
    """The report as GitHub-flavoured Markdown.

    Top-down: a summary, verdicts, findings by severity, files not fully
    checked, facts, the framework grids (MOF, OSAI), then every file's
    coverage in a folded section.
    """
    out: list[str] = []
    rel = report.release
    out.append(f"## seewhy audit: {md(rel.name)}\n")
    counts = report.severity_counts()
    sev = ", ".join(f"{counts[s]} {s.value}" for s in Severity if counts[s]) or "none"
    inconclusive = report.inconclusive_files()
    out.append("| | |\n|---|---|")
    out.append(f"| Files | {rel.file_count:,} ({human_bytes(rel.total_bytes)}) |")
    if rel.repo_id:
        out.append(f"| Hugging Face cache | {md(hub_text(rel))} |")
    out.append(f"| Bytes read by the audit | {md(bytes_read_text(rel))} |")
    out.append(f"| Findings | {sev} |")
    out.append(f"| Files not fully checked | {len(inconclusive)} |")
    out.append(f"| seewhy | {md(report.metadata.version)}, {md(report.metadata.generated_at)} |\n")
    if report.verdicts:
        out.append("### Verdicts\n")
        out.append("| Question | Answer | Why |\n|---|---|---|")
        for v in report.verdicts:
            out.append(f"| {md(v.topic.replace('_', ' '))} | **{md(v.value)}** | {md(v.reason)} |")
        out.append("")
    out.append("### Findings\n")
    findings = findings_by_severity(report)
    if not findings:
        out.append("No findings.\n")
    for finding in findings:
        out.extend(_finding(finding))
    if findings:
        out.append("")
    if inconclusive:
        out.append("### Not fully checked\n")
        out.append("A file listed here is **not** known to be clean.\n")
        for cov in inconclusive:
            details = "; ".join(md(s.detail) for s in cov.steps if not s.status.conclusive)
            out.append(f"- {code(cov.path)} ({md(cov.kind)}): {cov.status.value} — {details}")
        out.append("")
    sections = split_facts(report)
    if sections.general:
        out.append("### Facts\n")
        out.append("| Fact | Value | Evidence |\n|---|---|---|")
        for fact in sections.general:
            ev = "; ".join(md(evidence_text(e)) for e in fact.evidence[:3]) or "—"
            out.append(f"| {md(fact.label)} | {md(fact_text(fact.value, fact.key))} | {ev} |")
        out.append("")
    for title, rows in (
        ("Model Openness Framework components", sections.mof),
        ("European Open Source AI Index", sections.osai),
    ):
        if rows:
            out.append(f"### {title}\n")
            out.append("| Item | Status | Detail | Where |\n|---|---|---|---|")
            out.extend(
                f"| {md(r.name)} | {md(r.status)} | {md(r.detail)} | {md(r.where) or '—'} |"
                for r in rows
            )
            out.append("")
    out.append("<details><summary>Coverage: every file</summary>\n")
    out.append("| File | Kind | Size | Status |\n|---|---|---|---|")
    for cov in report.coverage:
        out.append(
            f"| {code(cov.path)} | {md(cov.kind)} | {human_bytes(cov.size)} | {cov.status.value} |"
        )
    out.append("\n</details>\n")
    return "\n".join(out)


def _finding(f: Finding) -> list[str]:
    line = f"- **{f.severity.value.upper()}** `{f.rule_id}` {md(headline(f))}"
    if f.occurrences > 1:
        line += f" _({md(occurrences_text(f))})_"
    lines = [line]
    for ev in f.evidence:
        parts = [code(where(ev))] if ev.path or ev.pointer else []
        if ev.excerpt:
            parts.append(code(ev.excerpt))
        if ev.note:
            parts.append(("— " if parts else "") + md(ev.note))
        if parts:
            lines.append("  - " + " ".join(parts))
    unlisted = f.occurrences - len(f.evidence)
    if unlisted > 0:
        lines.append(f"  - … and {unlisted:,} more not listed")
    return lines
