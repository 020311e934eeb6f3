"""The HTML pages of ``seewhy serve``: Jinja templates over the store's records.

The report and comparison pages are the very pages ``seewhy audit --format
html`` and ``seewhy compare-releases`` write (same templates, escaping and
Content-Security-Policy), with a link back to the list; the list, runs and
item pages are this package's templates, on the report's stylesheet.
Autoescape is on in every template: nothing from a release is marked safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from jinja2 import Environment
from markupsafe import Markup

from seewhy._version import __version__
from seewhy.report.html import TONE, _asset, jinja_environment, page_csp
from seewhy.report.humanize import clip, human_bytes, human_count, plural

if TYPE_CHECKING:
    from seewhy.evaluation.analysis import FailureAnalysis
    from seewhy.evaluation.compare import TaskComparison
    from seewhy.evaluation.model import ItemRecord, RunRecord
    from seewhy.evaluation.store import ReportSummary, Store
    from seewhy.report.comparison import Comparison
    from seewhy.report.model import Report
    from seewhy.site.app import RunSummary

LICENSE_TONE = {"open": "good", "restricted": "warn", "closed": "bad"}
SEVERITIES = ("critical", "high", "medium", "low", "info")

COLUMNS = (
    # (sort key, heading, numeric)
    ("release", "Release", False),
    ("openness", "Openness", False),
    ("mof_class", "MOF class", False),
    ("license", "License", False),
    ("load_safety", "Load safety", False),
    ("safety_behaviour", "Safety behaviour", False),
    ("parameters", "Parameters", True),
    ("performance", "Scores", False),
    ("findings", "Findings", True),
    ("created_at", "Audited", False),
)
FILTERS = (
    # (query parameter, store facet, label)
    ("openness", "openness", "Openness"),
    ("license", "license_state", "License"),
    ("safety", "load_safety", "Load safety"),
    ("behaviour", "safety_behaviour", "Safety behaviour"),
    ("mof", "mof_class", "MOF class"),
)


@cache
def _environment() -> Environment:
    return jinja_environment(
        "seewhy.site",
        filters={
            "bytes": human_bytes,
            "count": human_count,
            "pct": _pct,
            "clip": clip,
            "tail": _tail,
        },
        globals_={
            "plural": plural,
            "tone": _tone,
            "LICENSE_TONE": LICENSE_TONE,
            "SEVERITIES": SEVERITIES,
            "version": __version__,
        },
    )


def _pct(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—"
    return f"{value:.1%}"


def _tail(text: str, limit: int = 56) -> str:
    """The end of a long path (where its name is), with an ellipsis in front."""
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


def _tone(value: str | None) -> str:
    return TONE.get(value or "", "unknown")


@cache
def _site_assets() -> tuple[str, str]:
    env = _environment()
    assert env.loader is not None
    css = _asset("report.css") + "\n" + env.loader.get_source(env, "site.css")[0]
    js = env.loader.get_source(env, "site.js")[0]
    return css, js


# The filter and compare forms are GETs to this site.
SITE_CSP = page_csp(*_site_assets(), form_action="'self'")
"""The Content-Security-Policy of the site's own pages (in the page)."""
SITE_CSP_HEADER = SITE_CSP + "; frame-ancestors 'none'"
"""The same policy as a header, where ``frame-ancestors`` counts."""


def _render(name: str, **context: Any) -> str:
    css, js = _site_assets()
    template = _environment().get_template(name)
    return template.render(css=Markup(css), js=Markup(js), csp=SITE_CSP, **context)


# --------------------------------------------------------------------- list


def _link(query: dict[str, str], **changes: str | int) -> str:
    merged: dict[str, str | int] = {**query, **changes}
    return "/?" + urlencode({k: v for k, v in merged.items() if v not in ("", None)})


def list_page(
    rows: Sequence[ReportSummary],
    *,
    total: int,
    all_total: int,
    facets: dict[str, list[tuple[str, int]]],
    sort: str,
    order: str,
    query: dict[str, str],
    page: int,
    page_size: int,
    store: Store,
) -> str:
    """Every stored release (a page of them), sortable by column, filterable."""
    base = {**query, "sort": sort, "order": order}
    headings = []
    for key, title, numeric in COLUMNS:
        active = key == sort
        flip = "asc" if active and order == "desc" else "desc"
        if not active and not numeric and key not in ("created_at", "findings"):
            flip = "asc"  # text columns start A→Z
        headings.append(
            {
                "key": key,
                "title": title,
                "numeric": numeric,
                "href": _link(base, sort=key, order=flip, page=1),
                "aria": ("ascending" if order == "asc" else "descending") if active else "",
            }
        )
    filters = [
        {
            "name": name,
            "label": label,
            "value": query.get(name, ""),
            "options": facets.get(facet, []),
        }
        for name, facet, label in FILTERS
    ]
    first = (page - 1) * page_size
    pages_total = max(1, -(-total // page_size))
    filtered = any(query.values())
    return _render(
        "list.html.j2",
        rows=rows,
        total=total,
        all_total=all_total,
        headings=headings,
        filters=filters,
        query=query,
        sort=sort,
        order=order,
        filtered=filtered,
        shown=(first + 1, min(total, first + page_size)),
        prev_href=_link(base, page=page - 1) if page > 1 else "",
        next_href=_link(base, page=page + 1) if page < pages_total else "",
        page=page,
        pages_total=pages_total,
        store_path=str(store.path),
        store_version=store.version,
        title="Audited releases",
        active="releases",
    )


# ------------------------------------------------------------------ report


_REPORT_BRAND = '<div class="brand">seewhy audit report</div>'
_COMPARE_BRAND = '<div class="brand">seewhy · releases side by side</div>'


def _with_home_link(html: str, brand: str, label: str) -> str:
    """Our own page's brand line, made a link back to the list (before any release data)."""
    link = f'<div class="brand"><a href="/">seewhy · all releases</a> · {label}</div>'
    return html.replace(brand, link, 1)


def report_page(report: Report) -> str:
    """The release's report: the ``seewhy audit --format html`` page."""
    from seewhy.report.html import format_html

    return _with_home_link(format_html(report), _REPORT_BRAND, "audit report")


# ----------------------------------------------------------------- compare


def _linked_runs(report: Report, runs: Sequence[RunRecord]) -> list[str]:
    """Stored runs of this release: those its claims were checked against
    (``seewhy audit --evidence``), and those that measured one of its files (sha256)."""
    out: list[str] = []
    for fact in report.facts:
        if fact.key == "performance.claim" and isinstance(fact.value, dict):
            named = fact.value.get("runs")
            if named:
                out += [r.strip() for r in str(named).split(",") if r.strip()]
    digests = {c.sha256 for c in report.coverage if c.sha256}
    out += [run.run_id for run in runs if run.model.digest in digests]
    return out


def _task_comparisons(store: Store, run_ids: Sequence[str]) -> tuple[list[TaskComparison], str]:
    from seewhy.evaluation.compare import IncomparableRunsError, compare_runs, group_by_task

    loaded = []
    for run_id in dict.fromkeys(run_ids):
        run = store.get_run(run_id)
        if run is not None:
            loaded.append((run, store.items(run_id)))
    out: list[TaskComparison] = []
    for pairs in group_by_task(loaded).values():
        if len({run.model.digest for run, _ in pairs}) < 2:
            continue
        try:
            out.append(compare_runs(pairs))
        except IncomparableRunsError:
            continue
    if out:
        return out, ""
    if not loaded:
        return out, (
            "None of these releases has a measured run in this store, so they have no "
            "evaluation task in common and no scores to compare. A run belongs to a release "
            "when `seewhy audit --evidence RUN` checked its card against it, or when the "
            "run's weights digest is a file of the release (audit with --hash)."
        )
    return out, (
        "These releases have no evaluation task in common (no task was measured on two of "
        "them), so there are no paired scores to show."
    )


def comparison(store: Store, ids: Sequence[str]) -> Comparison:
    """The side-by-side view of the stored reports ``ids`` (unknown ids are noted)."""
    from seewhy.report.comparison import build_comparison

    reports: list[Report] = []
    found: list[str] = []
    missing: list[str] = []
    for report_id in ids:
        report = store.get_report(report_id)
        if report is None:
            missing.append(report_id)
        else:
            reports.append(report)
            found.append(report_id)
    tasks: list[TaskComparison] = []
    notes: list[str] = []
    if len(reports) > 1:
        runs = store.runs()
        linked = [r for rep in reports for r in _linked_runs(rep, runs)]
        tasks, note = _task_comparisons(store, linked)
        if note:
            notes.append(note)
    cmp = build_comparison(
        reports,
        tasks=tasks,
        task_notes=notes,
        hrefs=[f"/reports/{i}" for i in found],
        run_href=lambda run_id: f"/runs/{quote(run_id, safe='')}",
    )
    if missing:
        cmp.notes.insert(0, f"Not in this store: {', '.join(missing)}.")
    if not reports:
        cmp.notes[:] = [
            *(n for n in cmp.notes if n.startswith("Not in")),
            "No release selected: tick two or more releases in the list and press "
            "“Compare selected”.",
        ]
    return cmp


def compare_page(store: Store, ids: Sequence[str], *, dropped: int = 0) -> str:
    """The ``seewhy compare-releases`` page of the stored reports ``ids``."""
    from seewhy.report.comparison import format_html

    cmp = comparison(store, ids)
    if dropped > 0:
        cmp.notes.append(f"Only the first {len(ids)} releases are shown ({dropped} more chosen).")
    return _with_home_link(format_html(cmp, version=__version__), _COMPARE_BRAND, "side by side")


# -------------------------------------------------------------------- runs


def runs_page(runs: Sequence[RunSummary]) -> str:
    """Every stored evaluation run."""
    return _render("runs.html.j2", runs=runs, title="Evaluation runs", active="runs")


def run_page(
    run: RunRecord,
    analysis: FailureAnalysis,
    items: Sequence[ItemRecord],
    *,
    total: int,
    show: str,
    page: int,
    page_size: int,
) -> str:
    """One run: its metrics, where it fails, and its items (failing ones first)."""
    pages_total = max(1, -(-total // page_size))
    base = f"/runs/{run.run_id}"
    return _render(
        "run.html.j2",
        run=run,
        analysis=analysis,
        items=items,
        total=total,
        show=show,
        first=(page - 1) * page_size,
        prev_href=f"{base}?{urlencode({'show': show, 'page': page - 1})}" if page > 1 else "",
        next_href=f"{base}?{urlencode({'show': show, 'page': page + 1})}"
        if page < pages_total
        else "",
        title=f"{run.task} · {run.model.id}",
        active="runs",
    )


def item_page(run: RunRecord, item: ItemRecord) -> str:
    """One item of a run: prompt, target, choices or response, scores."""
    return _render("item.html.j2", run=run, item=item, title=f"Item {item.item_id}", active="runs")


def error_page(title: str, message: str) -> str:
    """A page that says what went wrong."""
    return _render("error.html.j2", heading=title, message=message, title=title, active="")
