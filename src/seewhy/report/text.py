"""The readable terminal summary (rich), rendered to a string.

Untrusted strings go into ``rich.text.Text`` objects, never into markup, so
a file name like ``[red]x[/red]`` prints as itself.
"""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from seewhy.report.humanize import evidence_text, fact_text, human_bytes, where
from seewhy.report.model import Fact, Report, Severity
from seewhy.report.sections import Row, split_facts

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
    "closed": "red",
    "safe": "bold green",
    "unsafe": "bold red",
    "inconclusive": "yellow",
    "unknown": "yellow",
}


def format_text(report: Report, *, color: bool = False, width: int = 100) -> str:
    """The report as a terminal summary; ANSI colours only when ``color``."""
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
    sections = split_facts(report)
    if sections.general:
        console.print(_facts(sections.general))
    for title, rows in (
        ("Model Openness Framework components", sections.mof),
        ("European Open Source AI Index", sections.osai),
    ):
        if rows:
            console.print(_grading(title, rows))
    console.print(_findings(report))
    inconclusive = report.inconclusive_files()
    if inconclusive:
        table = Table(title="Not fully checked (not known to be clean)", title_justify="left")
        table.add_column("File", overflow="fold")
        table.add_column("Kind")
        table.add_column("Why", overflow="fold")
        for cov in inconclusive:
            why = "; ".join(s.detail for s in cov.steps if not s.status.conclusive)
            table.add_row(Text(cov.path), Text(cov.kind), Text(why))
        console.print(table)
    errored = [a for a in report.analyzers if a.status == "errored"]
    for outcome in errored:
        console.print(Text(f"analyzer {outcome.analyzer} failed: {outcome.message}", "red"))
    return buf.getvalue()


def _header(report: Report) -> Panel:
    rel = report.release
    counts = report.severity_counts()
    line = Text()
    line.append(f"{rel.file_count:,} files, {human_bytes(rel.total_bytes)}; ")
    line.append(f"read {human_bytes(rel.bytes_read)}; findings: ")
    parts = [(f"{counts[s]} {s.value}", SEVERITY_STYLE[s]) for s in Severity if counts[s]]
    if not parts:
        line.append("none", "green")
    for i, (label, style) in enumerate(parts):
        line.append(", " if i else "")
        line.append(label, style)
    n_inc = len(report.inconclusive_files())
    line.append(f"; not fully checked: {n_inc}", "yellow" if n_inc else "green")
    return Panel(
        Group(Text(f"seewhy {report.metadata.version} — {rel.name}", "bold"), line),
        expand=False,
    )


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


def _facts(facts: tuple[Fact, ...]) -> Table:
    table = Table(title="Facts", title_justify="left", show_lines=False)
    table.add_column("Fact", style="bold")
    table.add_column("Value", overflow="fold")
    table.add_column("Evidence", overflow="fold", style="dim")
    for fact in facts:
        ev = "; ".join(evidence_text(e) for e in fact.evidence[:2])
        table.add_row(Text(fact.label), Text(fact_text(fact.value, fact.key)), Text(ev))
    return table


def _findings(report: Report) -> Table | Text:
    if not report.findings:
        return Text("No findings.", "green")
    table = Table(title="Findings", title_justify="left")
    table.add_column("Severity")
    table.add_column("Rule")
    table.add_column("What", overflow="fold")
    table.add_column("Where", overflow="fold")
    for f in report.findings:
        ev = f.evidence[0] if f.evidence else None
        where_text = Text(where(ev) if ev else "")
        if ev is not None and ev.excerpt:
            where_text.append("\n" + ev.excerpt, "dim")
        table.add_row(
            Text(f.severity.value, SEVERITY_STYLE[f.severity]),
            Text(f.rule_id),
            Text(f"{f.title}: {f.message}"),
            where_text,
        )
    return table
