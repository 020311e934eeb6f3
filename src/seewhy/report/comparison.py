"""Audited releases side by side (``seewhy compare-releases``): HTML, Markdown or JSON.

The table a person wants when choosing between open models: for each
release its verdicts, its license and the restrictions tagged in it, its
openness grids (MOF class and components, OSAID requirements, the Open
Source AI Index parameters) as rows across the releases, its facts
(architecture, parameters, quantization, size) and its findings; and, when
measured runs are given, every task's scores with the paired differences of
:mod:`seewhy.evaluation.compare`.

Everything is derived from the reports (and the comparisons) alone, through
the same view as the single-release page (:func:`seewhy.report.html.build_page`);
the HTML goes through the same templates, escaping and Content-Security-Policy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from seewhy.report.html import (
    EVAL_HINT,
    STATUS_TONE,
    TONE,
    Page,
    _asset,
    _environment,
    build_page,
    page_csp,
)
from seewhy.report.humanize import human_bytes
from seewhy.report.model import Report, Severity

if TYPE_CHECKING:
    from seewhy.evaluation.compare import TaskComparison

__all__ = ["Comparison", "build_comparison", "format_html", "format_json", "format_markdown"]

TOPICS = (
    ("openness", "Openness"),
    ("load_safety", "Load safety"),
    ("performance", "Performance"),
    ("safety_behaviour", "Safety behaviour"),
)


@dataclass(frozen=True)
class Cell:
    """One release's value in one row: text, tone (good/warn/bad/unknown) and a note."""

    text: str
    tone: str = "unknown"
    note: str = ""


@dataclass(frozen=True)
class Row:
    """One row of the side-by-side table: a label and one cell per release."""

    label: str
    cells: tuple[Cell, ...]
    group: str = ""


@dataclass(frozen=True)
class Column:
    """One release: its name, where it came from and a link to its own report."""

    name: str
    source: str
    href: str | None
    revision: str | None


@dataclass(frozen=True)
class Score:
    """One model's score on one task, with its 95% interval."""

    model: str
    run_id: str
    n: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    href: str | None = None  # the run's own page, where the caller has one


@dataclass(frozen=True)
class Pair:
    """A paired difference: A minus B on the items both scored."""

    model_a: str
    model_b: str
    n: int
    difference: float
    ci_low: float
    ci_high: float
    mcnemar_p: float
    holm_p: float
    significant: bool


@dataclass(frozen=True)
class TaskScores:
    """Every run of one task, and each pair of them."""

    task: str
    metric: str
    scores: tuple[Score, ...]
    pairs: tuple[Pair, ...]
    notes: tuple[str, ...] = ()


@dataclass
class Comparison:
    """Everything the comparison shows, derived from the reports and the runs alone."""

    columns: list[Column]
    summary: list[Row] = field(default_factory=list)
    license: list[Row] = field(default_factory=list)
    mof: list[Row] = field(default_factory=list)
    osaid: list[Row] = field(default_factory=list)
    osai: list[Row] = field(default_factory=list)
    claims: list[Row] = field(default_factory=list)
    tasks: list[TaskScores] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    scores_hint: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON value (the ``--format json`` output)."""
        return asdict(self)


def _tone(status: str) -> str:
    return STATUS_TONE.get(status.strip().lower(), "unknown")


def _grid_rows(pages: Sequence[Page], cells_of: Any, group_of: Any = None) -> tuple[list[Row], int]:
    """Rows by label, in first-seen order; also how many labels every release has."""
    labels: dict[str, str] = {}
    per: list[dict[str, Cell]] = []
    for page in pages:
        cells: dict[str, Cell] = {}
        for label, cell, group in cells_of(page):
            labels.setdefault(label, group)
            cells.setdefault(label, cell)
        per.append(cells)
    rows = [
        Row(label, tuple(p.get(label, Cell("—")) for p in per), group)
        for label, group in labels.items()
    ]
    shared = sum(1 for label in labels if all(label in p for p in per))
    return rows, shared


def _mof_cells(page: Page) -> list[tuple[str, Cell, str]]:
    return [
        (name, Cell(status, tone, detail), "") for name, status, tone, detail, _ in page.mof_rows
    ]


def _osaid_cells(page: Page) -> list[tuple[str, Cell, str]]:
    return [(name, Cell(status, tone, reason), "") for name, status, tone, reason in page.osaid]


def _osai_cells(page: Page) -> list[tuple[str, Cell, str]]:
    return [
        (c.name, Cell(c.status, c.tone, c.notes), group)
        for group, cells, _ in page.osai_groups
        for c in cells
    ]


def _claim_cells(page: Page) -> list[tuple[str, Cell, str]]:
    out = []
    for claim in page.perf_claims:
        label = str(claim.get("benchmark") or "?")
        parts = []
        for key, name in (("claimed", "card"), ("measured", "measured")):
            v = claim.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                parts.append(f"{name} {v:.1%}")
        out.append(
            (
                label,
                Cell(" · ".join(parts) or "—", claim["tone"], str(claim.get("outcome") or "")),
                "",
            )
        )
    return out


def _license_rows(reports: Sequence[Report], pages: Sequence[Page]) -> list[Row]:
    names, states, tags = [], [], []
    for report, page in zip(reports, pages, strict=True):
        basis = page.license_basis or {}
        name = str(basis.get("license") or basis.get("declared") or "")
        if not name:
            declared = report.fact("declared_license")
            name = (
                ", ".join(map(str, declared.value))
                if declared and isinstance(declared.value, list)
                else "not found"
            )
        state = str(basis.get("state") or "unknown")
        osi = basis.get("osi_approved")
        names.append(
            Cell(
                name, {"open": "good", "restricted": "warn", "closed": "bad"}.get(state, "unknown")
            )
        )
        states.append(
            Cell(
                state
                + ("" if osi is None else (" · OSI-approved" if osi else " · not OSI-approved")),
                {"open": "good", "restricted": "warn", "closed": "bad"}.get(state, "unknown"),
            )
        )
        found = [r.finding.finding.title for r in page.restrictions]
        osd = sorted({r.osd.split(":", 1)[0] for r in page.restrictions})
        tags.append(
            Cell(
                "; ".join(dict.fromkeys(found)) or "none found",
                "warn" if found else "good",
                ", ".join(osd),
            )
        )
    return [
        Row("License", tuple(names)),
        Row("State", tuple(states)),
        Row("Restrictions (OSD criteria)", tuple(tags)),
    ]


_NOT_GIVEN = {"performance": "not measured", "safety_behaviour": "not checked"}


def _summary_rows(reports: Sequence[Report], pages: Sequence[Page]) -> list[Row]:
    rows: list[Row] = []
    for topic, title in TOPICS:
        cells = []
        for report in reports:
            v = report.verdict(topic)
            if v is None:
                cells.append(Cell(_NOT_GIVEN.get(topic, "not assessed")))
            else:
                cells.append(Cell(v.value, TONE.get(v.value, "unknown"), v.reason))
        rows.append(Row(title, tuple(cells)))
    rows.append(
        Row(
            "MOF class",
            tuple(
                Cell(
                    p.mof_class or "—",
                    "unknown"
                    if not p.mof_class
                    else ("warn" if p.mof_class == "Unclassified" else "good"),
                )
                for p in pages
            ),
        )
    )
    rows.append(
        Row(
            "Open Source AI Index",
            tuple(
                Cell(f"{p.osai_total:.0%}", _score_tone(p.osai_total))
                if p.osai_total is not None
                else Cell("—")
                for p in pages
            ),
        )
    )
    rows.append(
        Row(
            "OSAID 1.0 conforms",
            tuple(Cell(p.osaid_conforms or "—", _tone(p.osaid_conforms or "")) for p in pages),
        )
    )
    facts: dict[str, list[Cell]] = {}
    for i, page in enumerate(pages):
        for label, value in page.key_facts:
            facts.setdefault(label, [Cell("—", "")] * len(pages))[i] = Cell(value, "")
    rows.extend(Row(label, tuple(cells)) for label, cells in facts.items())
    counts = []
    for report in reports:
        c = report.severity_counts()
        text = ", ".join(f"{c[s]} {s.value}" for s in Severity if c[s]) or "none"
        worst = next((s for s in Severity if c[s]), None)
        tone = (
            "good"
            if worst is None or worst in (Severity.INFO, Severity.LOW)
            else ("warn" if worst is Severity.MEDIUM else "bad")
        )
        counts.append(Cell(text, tone))
    rows.append(Row("Findings", tuple(counts)))
    return rows


def _score_tone(value: float | None) -> str:
    if value is None:
        return "unknown"
    return "good" if value >= 0.67 else "warn" if value >= 0.34 else "bad"


def _task_scores(
    comparison: TaskComparison, run_href: Callable[[str], str] | None = None
) -> TaskScores:
    return TaskScores(
        task=comparison.task,
        metric=comparison.metric,
        scores=tuple(
            Score(
                a.model,
                a.run_id,
                a.n_scored,
                a.mean,
                a.ci_low,
                a.ci_high,
                run_href(a.run_id) if run_href is not None else None,
            )
            for a in comparison.runs
        ),
        pairs=tuple(
            Pair(
                p.model_a,
                p.model_b,
                p.n_paired,
                p.difference,
                p.ci_low,
                p.ci_high,
                p.mcnemar_p,
                p.holm_p,
                p.significant,
            )
            for p in comparison.pairs
        ),
        notes=comparison.notes,
    )


def build_comparison(
    reports: Sequence[Report],
    *,
    tasks: Sequence[TaskComparison] = (),
    task_notes: Sequence[str] = (),
    hrefs: Sequence[str | None] | None = None,
    run_href: Callable[[str], str] | None = None,
) -> Comparison:
    """The side-by-side view of ``reports`` (and of the task comparisons of their runs).

    ``hrefs`` link each column to the release's own report (relative links
    that the caller made), ``run_href`` each score to its run's page;
    ``task_notes`` say why a task has no comparison.
    """
    links = list(hrefs) if hrefs is not None else [None] * len(reports)
    pages = [build_page(r) for r in reports]
    cmp = Comparison(
        columns=[
            Column(r.release.repo_id or r.release.name, r.metadata.source, link, r.release.revision)
            for r, link in zip(reports, links, strict=True)
        ]
    )
    if not reports:
        cmp.notes.append("No release to compare: pass two or more audited releases.")
        return cmp
    if len(reports) == 1:
        cmp.notes.append(
            "Only one release: there is nothing to compare it with. "
            "Pass two or more releases to see them side by side."
        )
    cmp.summary = _summary_rows(reports, pages)
    cmp.license = _license_rows(reports, pages)
    shared_grades = 0
    for name, cells_of in (("mof", _mof_cells), ("osaid", _osaid_cells), ("osai", _osai_cells)):
        rows, shared = _grid_rows(pages, cells_of)
        setattr(cmp, name, rows)
        shared_grades += shared
    if len(reports) > 1 and shared_grades == 0:
        cmp.notes.append(
            "These releases share no graded openness component: the openness rows "
            "below cannot be compared line by line."
        )
    cmp.claims, _ = _grid_rows(pages, _claim_cells)
    cmp.tasks = [_task_scores(t, run_href) for t in tasks]
    cmp.notes.extend(task_notes)
    if not cmp.tasks:
        cmp.scores_hint = (
            *EVAL_HINT[:1],
            "seewhy compare-releases A B --evidence RUN_A --evidence RUN_B --format html "
            "-o compare.html",
        )
    return cmp


# ------------------------------------------------------------------ output


def format_json(comparison: Comparison) -> str:
    """The comparison as JSON (one trailing newline)."""
    return json.dumps(comparison.to_dict(), indent=2, ensure_ascii=False) + "\n"


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1%}"


def format_markdown(comparison: Comparison) -> str:
    """The comparison as Markdown tables."""
    names = [c.name for c in comparison.columns]
    out = ["# seewhy: releases side by side", ""]
    out += [f"> {_md(n)}" for n in comparison.notes]
    if comparison.notes:
        out.append("")

    def table(title: str, rows: Sequence[Row]) -> None:
        if not rows:
            return
        out.extend([f"## {title}", "", "| | " + " | ".join(map(_md, names)) + " |"])
        out.append("|---" * (len(names) + 1) + "|")
        for row in rows:
            out.append(f"| {_md(row.label)} | " + " | ".join(_md(c.text) for c in row.cells) + " |")
        out.append("")

    table("Verdicts and facts", comparison.summary)
    table("License", comparison.license)
    table("MOF components", comparison.mof)
    table("OSAID 1.0", comparison.osaid)
    table("Open Source AI Index", comparison.osai)
    table("Card claims", comparison.claims)
    out += ["## Scores", ""]
    for t in comparison.tasks:
        out += [f"### {_md(t.task)} ({_md(t.metric)})", "", "| Model | n | Score | 95% interval |"]
        out.append("|---|---|---|---|")
        for s in t.scores:
            out.append(
                f"| {_md(s.model)} | {s.n} | {_pct(s.mean)} | "
                f"[{_pct(s.ci_low)}, {_pct(s.ci_high)}] |"
            )
        out += [
            "",
            "| A − B | n | Difference | 95% interval | McNemar p (Holm) |",
            "|---|---|---|---|---|",
        ]
        for p in t.pairs:
            out.append(
                f"| {_md(p.model_a)} − {_md(p.model_b)} | {p.n} | {p.difference:+.1%} | "
                f"[{p.ci_low:+.1%}, {p.ci_high:+.1%}] | {p.mcnemar_p:.3g} ({p.holm_p:.3g}) |"
            )
        out += [f"- {_md(n)}" for n in t.notes]
        out.append("")
    if not comparison.tasks:
        out += ["No measured runs were given. To compare scores:", ""]
        out += [f"    {line}" for line in comparison.scores_hint]
        out.append("")
    return "\n".join(out)


def format_html(comparison: Comparison, *, version: str = "") -> str:
    """The comparison as one self-contained HTML page (same CSP as the report)."""
    css = _asset("report.css") + "\n" + _asset("compare.css")
    js = _asset("report.js")
    csp = page_csp(css, js)
    template = _environment().get_template("compare.html.j2")
    return template.render(
        cmp=comparison,
        css=Markup(css),
        js=Markup(js),
        csp=csp,
        version=version,
        human_bytes=human_bytes,
    )
