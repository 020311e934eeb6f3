"""The readable terminal summary (rich), rendered to a string.

It reads top-down: verdicts, then findings by severity, then facts, then the
framework grids (MOF, Open Source AI Index). The default view is short:
verdicts, findings above info, the key facts and one line on coverage;
``details=True`` shows everything (every finding, every fact, the coverage of
every file and the grids).

Untrusted strings go into ``rich.text.Text`` objects, never into markup, so
a file name like ``[red]x[/red]`` prints as itself.
"""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from seewhy.report.humanize import (
    bytes_read_text,
    evidence_text,
    fact_text,
    headline,
    hub_text,
    human_bytes,
    occurrences_text,
    plural,
    where,
)
from seewhy.report.model import Fact, FileCoverage, Finding, Report, Severity
from seewhy.report.sections import (
    FactSections,
    Row,
    below,
    findings_by_severity,
    key_facts,
    split_facts,
)

SEVERITY_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


VERDICT_STYLE = {
    "open-source-ai": "bold green",
    "open-weights": "green",
    "restricted-weights": "yellow",
    "unlicensed-weights": "yellow",
    "closed": "red",
    "safe": "bold green",
    "unsafe": "bold red",
    "inconclusive": "yellow",
    "unknown": "yellow",
}


def format_text(
    report: Report, *, color: bool = False, width: int = 100, details: bool = False
) -> str:
    """The report as a terminal summary; ANSI colours only when ``color``.

    Short by default; ``details`` adds info findings, every fact, the MOF and
    OSAI grids and the coverage of every file.
    """
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        emoji=False,
    )
    console.print(_header(report))
    if report.verdicts:
        table = Table(title="Verdicts", title_justify="left")
        table.add_column("Question", style="bold")
        table.add_column("Answer")
        table.add_column("Why", overflow="fold")
        for v in report.verdicts:
            table.add_row(
                Text(v.topic.replace("_", " ")),
                Text(v.value, VERDICT_STYLE.get(v.value, "bold")),
                Text(v.reason),
            )
        console.print(table)
    findings = findings_by_severity(report)
    shown = findings if details else tuple(f for f in findings if f.severity is not Severity.INFO)
    console.print(_findings(shown, details=details, total=len(findings)))
    inconclusive = report.inconclusive_files()
    if details and inconclusive:
        console.print(_not_checked(inconclusive))
    elif not details:
        console.print(_coverage_line(report))
    sections = split_facts(report)
    facts = sections.general if details else key_facts(sections.general)
    if facts:
        console.print(_facts(facts, title="Facts" if details else "Key facts"))
    if details:
        for title, rows in (
            ("Model Openness Framework components", sections.mof),
            ("European Open Source AI Index", sections.osai),
        ):
            if rows:
                console.print(_grading(title, rows))
        if report.coverage:
            console.print(_coverage(report.coverage))
    errored = [a for a in report.analyzers if a.status == "errored"]
    for outcome in errored:
        console.print(Text(f"analyzer {outcome.analyzer} failed: {outcome.message}", "red"))
    if not details:
        more = _left_out(report, findings, len(sections.general) - len(facts), sections)
        if more:
            console.print(Text(f"--details shows {more}.", "dim"))
    return buf.getvalue()


def _left_out(
    report: Report, findings: tuple[Finding, ...], facts: int, sections: FactSections
) -> str:
    """What the short view leaves out, in words."""
    parts: list[str] = []
    n_info = below(findings, Severity.LOW)
    if n_info:
        parts.append(plural(n_info, "info finding"))
    if facts > 0:
        parts.append(plural(facts, "more fact"))
    grids = [name for name, rows in (("MOF", sections.mof), ("OSAI", sections.osai)) if rows]
    if grids:
        parts.append(f"the {' and '.join(grids)} grid{'s' if len(grids) > 1 else ''}")
    if report.coverage:
        parts.append("the coverage of every file")
    if len(parts) > 1:
        return ", ".join(parts[:-1]) + " and " + parts[-1]
    return parts[0] if parts else ""


def _header(report: Report) -> Panel:
    rel = report.release
    counts = report.severity_counts()
    line = Text()
    line.append(f"{plural(rel.file_count, 'file')}, {human_bytes(rel.total_bytes)}; findings: ")
    parts = [(f"{counts[s]} {s.value}", SEVERITY_STYLE[s]) for s in Severity if counts[s]]
    if not parts:
        line.append("none", "green")
    for i, (label, style) in enumerate(parts):
        line.append(", " if i else "")
        line.append(label, style)
    n_inc = len(report.inconclusive_files())
    line.append(f"; not fully checked: {n_inc}", "yellow" if n_inc else "green")
    lines = [Text(f"seewhy {report.metadata.version} — {rel.name}", "bold"), line]
    if rel.repo_id:
        lines.append(Text(f"Hugging Face cache: {hub_text(rel)}"))
    lines.append(Text(f"bytes: {bytes_read_text(rel)}", "dim"))
    return Panel(Group(*lines), expand=False)


SHOWN_NOT_CHECKED = 3


def _coverage_line(report: Report) -> Text:
    """One line on coverage for the short view."""
    total = len(report.coverage)
    inconclusive = report.inconclusive_files()
    if not total:
        return Text("Coverage: the release has no files; nothing was checked.", "yellow")
    if not inconclusive:
        parsed = sum(1 for c in report.coverage if c.status.value == "parsed")
        listed = total - parsed
        files = "the file" if total == 1 else f"all {total:,} files"
        if listed:
            files += f" ({parsed:,} parsed, {listed:,} with nothing to parse)"
        return Text(f"Coverage: {files} fully checked.", "green")
    names = ", ".join(f"{c.path} ({c.status.value})" for c in inconclusive[:SHOWN_NOT_CHECKED])
    if len(inconclusive) > SHOWN_NOT_CHECKED:
        names += f" and {len(inconclusive) - SHOWN_NOT_CHECKED:,} more"
    line = Text("Not fully checked", "bold yellow")
    line.append(
        f": {len(inconclusive):,} of {plural(total, 'file')}, not known to be clean: ", "yellow"
    )
    line.append(names)
    return line


def _not_checked(inconclusive: tuple[FileCoverage, ...]) -> Table:
    table = Table(title="Not fully checked (not known to be clean)", title_justify="left")
    table.add_column("File", overflow="fold")
    table.add_column("Kind")
    table.add_column("Why", overflow="fold")
    for cov in inconclusive:
        why = "; ".join(s.detail for s in cov.steps if not s.status.conclusive)
        table.add_row(Text(cov.path), Text(cov.kind), Text(why))
    return table


def _coverage(coverage: tuple[FileCoverage, ...]) -> Table:
    table = Table(title="Coverage: every file", title_justify="left")
    table.add_column("File", overflow="fold")
    table.add_column("Kind")
    table.add_column("Size", justify="right")
    table.add_column("Status")
    for cov in coverage:
        status = cov.status.value
        table.add_row(
            Text(cov.path),
            Text(cov.kind),
            Text(human_bytes(cov.size)),
            Text(status, "green" if cov.status.conclusive else "yellow"),
        )
    return table


STATUS_STYLE = {
    "open": "green",
    "met": "green",
    "partial": "yellow",
    "closed": "red",
    "not met": "red",
    "unknown": "dim",
}


def _grading(title: str, rows: tuple[Row, ...]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("Item", style="bold")
    table.add_column("Status")
    table.add_column("Detail", overflow="fold")
    table.add_column("Where", overflow="fold", style="dim")
    for r in rows:
        table.add_row(
            Text(r.name),
            Text(r.status, STATUS_STYLE.get(r.status, "")),
            Text(r.detail),
            Text(r.where),
        )
    return table


def _facts(facts: tuple[Fact, ...], *, title: str) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    table.add_column("Fact", style="bold")
    table.add_column("Value", overflow="fold")
    table.add_column("Evidence", overflow="fold", style="dim")
    for fact in facts:
        ev = "; ".join(evidence_text(e) for e in fact.evidence[:2])
        table.add_row(Text(fact.label), Text(fact_text(fact.value, fact.key)), Text(ev))
    return table


PLACES_SHOWN = 5


def _findings(shown: tuple[Finding, ...], *, details: bool, total: int) -> Table | Text:
    if not shown:
        if total:
            return Text("No findings above info.", "green")
        return Text("No findings.", "green")
    title = "Findings" if details or len(shown) == total else "Findings above info"
    table = Table(title=title, title_justify="left")
    table.add_column("Severity")
    table.add_column("Rule")
    table.add_column("What", overflow="fold")
    table.add_column("Where", overflow="fold")
    for f in shown:
        what = Text(headline(f))
        if f.occurrences > 1:
            what.append("\n" + occurrences_text(f), "italic")
        table.add_row(
            Text(f.severity.value, SEVERITY_STYLE[f.severity]),
            Text(f.rule_id),
            what,
            _places(f, PLACES_SHOWN if details else 1),
        )
    return table


def _places(f: Finding, limit: int) -> Text:
    """Where a finding points: the first ``limit`` pieces of evidence, then a count."""
    out = Text()
    for i, ev in enumerate(f.evidence[:limit]):
        out.append(("\n" if i else "") + where(ev))
        if ev.excerpt:
            out.append("\n" + ev.excerpt, "dim")
    hidden = max(len(f.evidence), f.occurrences) - min(limit, len(f.evidence))
    if hidden > 0:
        out.append(f"\n(and {plural(hidden, 'more place')})", "dim")
    return out
