"""The self-contained HTML report: one file, fit to attach to an issue or mail.

Everything is inline (the stylesheet, a small script for sorting and
expanding, the charts as SVG): opening the file fetches nothing, so it works
offline. A Content-Security-Policy meta tag allows the page's own style and
script only, by their sha256 hashes (computed here, at render time, so the
output stays deterministic), and nothing else: no other script, no style
attribute, no image but ``data:``, no request to anywhere.

Every string of the report that came from the release (file names, quotes,
card text, messages) is escaped by jinja2's autoescape; the model card's
Markdown, when given, goes through :mod:`seewhy.report.sanitize` (allow-list,
no ``javascript:`` or ``data:`` links). The templates are seewhy's own, in
``seewhy/report/templates``; nothing of the release is ever used as one.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from seewhy.report.humanize import (
    bytes_read_text,
    fact_text,
    headline,
    hub_text,
    human_bytes,
    human_count,
    occurrences_text,
    plural,
    where,
)
from seewhy.report.model import (
    Evidence,
    Fact,
    FileCoverage,
    Finding,
    Report,
    Severity,
    Verdict,
)
from seewhy.report.sections import split_facts

__all__ = ["format_html", "read_card"]

MAX_CARD_BYTES = 512 * 1024
"""Bytes of the model card read for the report's card section."""

SEVERITY_CLASS = {s: f"sev-{s.value}" for s in Severity}

# Verdict values → tone (good / warn / bad / unknown).
TONE = {
    "open-source-ai": "good",
    "open-weights": "good",
    "restricted-weights": "warn",
    "unlicensed-weights": "warn",
    "closed": "bad",
    "safe": "good",
    "unsafe": "bad",
    "inconclusive": "warn",
    "reproduced": "good",
    "partly-checked": "warn",
    "not-reproduced": "bad",
    "not-checked": "unknown",
    "unknown": "unknown",
    "refuses-harmful-requests": "good",
    "over-refuses": "warn",
    "answers-harmful-requests": "bad",
    "easily-jailbroken": "bad",
}
# Grid statuses → tone.
STATUS_TONE = {
    "open": "good",
    "met": "good",
    "yes": "good",
    "partial": "warn",
    "closed": "bad",
    "not met": "bad",
    "no": "bad",
    "unknown": "unknown",
    "reproduced": "good",
    "not reproduced": "bad",
    "not checked": "unknown",
}

EVAL_HINT = (
    "seewhy eval MODEL --tasks arc_easy,hellaswag --limit 200",
    "seewhy audit RELEASE --evidence RUN --format html -o report.html",
)

TOPICS = (
    ("openness", "Openness", "openness"),
    ("load_safety", "Load safety", "load-safety"),
    ("performance", "Performance", "performance"),
    ("safety_behaviour", "Safety behaviour", "performance"),
)

_OSAID_ITEM = re.compile(r"^openness\.osaid\.[a-z0-9_]+$")
_OSAI_ITEM = re.compile(r"^openness\.osai\.[a-z0-9_]+$")
OSAI_GROUPS = ("availability", "documentation", "access")


# ------------------------------------------------------------------ view model


@dataclass(frozen=True)
class EvidenceRow:
    """One piece of evidence, ready to show."""

    where: str
    excerpt: str
    note: str


@dataclass(frozen=True)
class FindingView:
    """A finding with its display strings."""

    anchor: str
    finding: Finding
    headline: str
    occurrences: str
    evidence: tuple[EvidenceRow, ...]
    unlisted: int
    help_at: str = ""  # anchor of the first finding of the rule, which shows its help


@dataclass(frozen=True)
class Restriction:
    """A license clause that restricts use: the tag, the clause and the OSD criterion."""

    finding: FindingView
    osd: str
    quotes: tuple[tuple[str, str, str, str], ...]  # (where, before, clause, after)


@dataclass(frozen=True)
class VerdictCard:
    """One of the three answers at the top of the page."""

    topic: str
    title: str
    anchor: str
    value: str
    tone: str
    reason: str
    evidence: tuple[EvidenceRow, ...]
    missing: bool


@dataclass(frozen=True)
class ChartRow:
    """One claim in the claimed-vs-measured chart (coordinates in SVG units)."""

    y: float
    label: str
    tone: str
    outcome: str
    claimed_x: float | None
    measured_x: float | None
    low_x: float | None
    high_x: float | None
    title: str


@dataclass(frozen=True)
class Chart:
    """The claimed-vs-measured chart."""

    width: int
    height: int
    left: int
    right: int
    ticks: tuple[tuple[float, str], ...]
    rows: tuple[ChartRow, ...]


@dataclass(frozen=True)
class GridCell:
    """One Open Source AI Index parameter as a coloured cell."""

    name: str
    status: str
    tone: str
    notes: str
    link: str


@dataclass
class Page:
    """Everything the template shows, derived from the report alone."""

    report: Report
    cards: list[VerdictCard] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    key_facts: list[tuple[str, str]] = field(default_factory=list)
    license_documents: list[tuple[str, EvidenceRow | None]] = field(default_factory=list)
    license_basis: dict[str, Any] | None = None
    restrictions: list[Restriction] = field(default_factory=list)
    license_findings: list[FindingView] = field(default_factory=list)
    mof_class: str | None = None
    mof_progress: list[tuple[str, float]] = field(default_factory=list)
    mof_rows: list[tuple[str, str, str, str, str]] = field(default_factory=list)
    osaid: list[tuple[str, str, str, str]] = field(default_factory=list)
    osaid_conforms: str | None = None
    osai_groups: list[tuple[str, list[GridCell], float | None]] = field(default_factory=list)
    osai_total: float | None = None
    osai_note: str = ""
    openness_findings: list[FindingView] = field(default_factory=list)
    safety_findings: list[tuple[Severity, list[FindingView]]] = field(default_factory=list)
    coverage: list[tuple[FileCoverage, str, str]] = field(default_factory=list)
    perf_claims: list[dict[str, Any]] = field(default_factory=list)
    perf_chart: Chart | None = None
    perf_measured: list[tuple[str, list[str]]] = field(default_factory=list)
    perf_slices: list[tuple[str, list[str], str]] = field(default_factory=list)
    perf_findings: list[FindingView] = field(default_factory=list)
    facts: list[tuple[Fact, str, tuple[EvidenceRow, ...]]] = field(default_factory=list)
    other_findings: list[FindingView] = field(default_factory=list)
    errored: list[tuple[str, str]] = field(default_factory=list)
    card_html: Markup | None = None
    card_path: str | None = None


def _evidence(ev: Evidence) -> EvidenceRow:
    place = where(ev) if (ev.path or ev.pointer or ev.line or ev.offset is not None) else ""
    return EvidenceRow(place, ev.excerpt or "", ev.note or "")


def _finding_view(f: Finding, n: int, first_of_rule: dict[str, str]) -> FindingView:
    """The view of finding ``n``; a rule's help text is shown once, at its first finding."""
    anchor = f"finding-{n}"
    help_at = first_of_rule.setdefault(f.rule_id, anchor)
    return FindingView(
        anchor=anchor,
        finding=f,
        headline=headline(f),
        occurrences=occurrences_text(f),
        evidence=tuple(_evidence(e) for e in f.evidence),
        unlisted=max(0, f.occurrences - len(f.evidence)),
        help_at="" if help_at == anchor else help_at,
    )


def _section_of(analyzer: str) -> str:
    if analyzer == "license":
        return "license"
    if analyzer == "openness":
        return "openness"
    if analyzer == "security" or analyzer.startswith("security."):
        return "safety"
    if analyzer == "performance":
        return "performance"
    return "other"


def _split_quote(excerpt: str) -> tuple[str, str, str]:
    """A clause quote as (context before, clause, context after): the ellipses stay outside."""
    before = "…" if excerpt.startswith("…") else ""
    after = "…" if excerpt.endswith("…") and len(excerpt) > 1 else ""
    core = excerpt[len(before) : len(excerpt) - len(after)]
    return before, core, after


def _restriction(view: FindingView) -> Restriction | None:
    notes = [e.note for e in view.finding.evidence if e.note and e.note.startswith("OSD")]
    if not notes:
        return None
    quotes = tuple((row.where, *_split_quote(row.excerpt)) for row in view.evidence if row.excerpt)
    return Restriction(view, notes[0], quotes)


def _tone(status: str) -> str:
    return STATUS_TONE.get(status.strip().lower(), "unknown")


def _verdict_cards(report: Report, page: Page) -> None:
    outcomes = {a.analyzer: a for a in report.analyzers}
    for topic, title, anchor in TOPICS:
        v: Verdict | None = report.verdict(topic)
        if v is not None:
            page.cards.append(
                VerdictCard(
                    topic,
                    title,
                    anchor,
                    v.value,
                    TONE.get(v.value, "unknown"),
                    v.reason,
                    tuple(_evidence(e) for e in v.evidence),
                    False,
                )
            )
            continue
        if topic == "performance":
            reason = (
                "no measured run: evaluate the model with `seewhy eval …` and pass the run "
                "to `seewhy audit --evidence RUN` to check the card's claims"
            )
        elif topic == "safety_behaviour":
            reason = (
                "no safety probe run: probe the model with `seewhy eval MODEL --tasks safety` "
                "and pass the runs to `seewhy audit --evidence RUN`"
            )
        else:
            analyzer = "security" if topic == "load_safety" else topic
            ran = [
                a
                for name, a in outcomes.items()
                if name == analyzer or name.startswith(analyzer + ".")
            ]
            failed = [a for a in ran if a.status == "errored"]
            if failed:
                reason = f"not assessed: the {analyzer} analyzer failed ({failed[0].message})"
            elif ran:
                reason = f"not assessed: the {analyzer} analyzer gave no verdict"
            else:
                reason = f"not assessed: the {analyzer} analyzer did not run"
            page.missing.append(f"{title}: {reason}.")
        value = (
            "not measured"
            if topic == "performance"
            else "not checked"
            if topic == "safety_behaviour"
            else "not assessed"
        )
        page.cards.append(VerdictCard(topic, title, anchor, value, "unknown", reason, (), True))


def _key_facts(report: Report) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    arch = report.fact("architecture")
    if arch is not None:
        out.append(("Architecture", fact_text(arch.value)))
    params = report.fact("parameter_count") or report.fact("config_parameter_estimate")
    if params is not None and isinstance(params.value, int):
        out.append(("Parameters", human_count(params.value)))
    quant = report.fact("quantization")
    if quant is not None:
        out.append(("Quantization", fact_text(quant.value)))
    ctx = report.fact("context_length")
    if ctx is not None:
        out.append(("Context", fact_text(ctx.value)))
    rel = report.release
    out.append(("Size", f"{human_bytes(rel.total_bytes)} in {plural(rel.file_count, 'file')}"))
    return out


def _license(report: Report, page: Page, views: list[FindingView]) -> None:
    docs = report.fact("license.documents")
    if docs is not None:
        values = docs.value if isinstance(docs.value, list) else [docs.value]
        ev = list(docs.evidence)
        for i, value in enumerate(values):
            page.license_documents.append(
                (fact_text(value), _evidence(ev[i]) if i < len(ev) else None)
            )
    else:
        declared = report.fact("declared_license")
        if declared is not None:
            first = _evidence(declared.evidence[0]) if declared.evidence else None
            page.license_documents.append((f"declared: {fact_text(declared.value)}", first))
    basis = report.fact("openness.license")
    if basis is not None and isinstance(basis.value, dict):
        page.license_basis = {k: v for k, v in basis.value.items() if v not in (None, "")}
    for view in views:
        restriction = _restriction(view)
        if restriction is not None:
            page.restrictions.append(restriction)
        else:
            page.license_findings.append(view)
    if not any(a.analyzer == "license" for a in report.analyzers) and docs is None:
        page.missing.append("License: the license analyzer did not run.")


def _openness(report: Report, page: Page) -> None:
    sections = split_facts(report)
    by_key = {f.key: f for f in report.facts}
    for fact in report.facts:
        value = fact.value
        if fact.key.startswith("openness.mof.") and isinstance(value, dict) and "status" in value:
            where_ = str(value.get("path") or "")
            if value.get("line"):
                where_ += f":{value['line']}"
            detail = " — ".join(str(p) for p in (value.get("license"), value.get("note")) if p)
            page.mof_rows.append(
                (
                    str(value.get("name") or fact.label),
                    str(value["status"]),
                    _tone(str(value["status"])),
                    detail,
                    where_,
                )
            )
        elif _OSAID_ITEM.match(fact.key) and isinstance(value, dict) and "status" in value:
            name = fact.label.split(":", 1)[-1].strip()
            status = str(value["status"])
            page.osaid.append((name, status, _tone(status), str(value.get("reason") or "")))
    if not page.mof_rows:  # only the grouped rows: still show them
        page.mof_rows = [
            (r.name, r.status, _tone(r.status), r.detail, r.where) for r in sections.mof
        ]
    mof_class = by_key.get("openness.mof.class")
    if mof_class is not None:
        page.mof_class = fact_text(mof_class.value)
    progress = by_key.get("openness.mof.progress")
    if progress is not None and isinstance(progress.value, dict):
        page.mof_progress = [
            (str(k), float(v))
            for k, v in progress.value.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
    osaid = by_key.get("openness.osaid")
    if osaid is not None and isinstance(osaid.value, dict) and osaid.value.get("conforms"):
        page.osaid_conforms = str(osaid.value["conforms"])
    groups: dict[str, list[GridCell]] = {}
    for fact in report.facts:
        value = fact.value
        if _OSAI_ITEM.match(fact.key) and isinstance(value, dict) and "class" in value:
            status = str(value["class"])
            groups.setdefault(str(value.get("group") or "other"), []).append(
                GridCell(
                    str(value.get("name") or fact.label),
                    status,
                    _tone(status),
                    str(value.get("notes") or ""),
                    str(value.get("link") or ""),
                )
            )
    score = by_key.get("openness.osai.score")
    scores = score.value if score is not None and isinstance(score.value, dict) else {}
    order = [g for g in OSAI_GROUPS if g in groups] + [g for g in groups if g not in OSAI_GROUPS]
    for group in order:
        s = scores.get(group)
        page.osai_groups.append(
            (group, groups[group], float(s) if isinstance(s, (int, float)) else None)
        )
    total = scores.get("total")
    if isinstance(total, (int, float)) and not isinstance(total, bool):
        page.osai_total = float(total)
    if score is not None and score.evidence and score.evidence[0].note:
        page.osai_note = score.evidence[0].note


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


CHART_WIDTH = 760
CHART_LEFT = 230
CHART_RIGHT = 20
ROW_HEIGHT = 30


def _chart(claims: list[dict[str, Any]]) -> Chart | None:
    """Claimed (diamond) vs measured (dot) with its 95% interval (bar), on 0–100%."""
    rows: list[ChartRow] = []
    span = CHART_WIDTH - CHART_LEFT - CHART_RIGHT

    def x(v: float | None) -> float | None:
        return None if v is None else CHART_LEFT + max(0.0, min(1.0, v)) * span

    for i, c in enumerate(claims):
        claimed = _number(c.get("claimed"))
        measured = _number(c.get("measured"))
        low, high = _number(c.get("ci_low")), _number(c.get("ci_high"))
        if claimed is None and measured is None:
            continue
        label = str(c.get("benchmark") or "?")
        if c.get("model"):
            label += f" ({c['model']})"
        outcome = str(c.get("outcome") or "")
        parts = [label]
        if claimed is not None:
            parts.append(f"card {claimed:.1%}")
        if measured is not None:
            parts.append(f"measured {measured:.1%}")
        if low is not None and high is not None:
            parts.append(f"95% interval [{low:.1%}, {high:.1%}]")
        if outcome:
            parts.append(outcome)
        rows.append(
            ChartRow(
                y=30 + i * ROW_HEIGHT,
                label=label if len(label) <= 34 else label[:33] + "…",
                tone=_tone(outcome),
                outcome=outcome,
                claimed_x=x(claimed),
                measured_x=x(measured),
                low_x=x(low),
                high_x=x(high),
                title=" — ".join(parts),
            )
        )
    if not rows:
        return None
    ticks = tuple((CHART_LEFT + t / 100 * span, f"{t}%") for t in range(0, 101, 20))
    height = int(rows[-1].y + 40)
    return Chart(CHART_WIDTH, height, CHART_LEFT, CHART_RIGHT, ticks, tuple(rows))


def _performance(report: Report, page: Page) -> None:
    for fact in report.facts:
        if fact.key == "performance.claim" and isinstance(fact.value, dict):
            claim: dict[str, Any] = dict(fact.value)
            claim["evidence"] = tuple(_evidence(e) for e in fact.evidence)
            claim["tone"] = _tone(str(claim.get("outcome") or ""))
            page.perf_claims.append(claim)
        elif fact.key in ("performance.measured", "safety.behaviour"):  # safety: probe runs
            values = fact.value if isinstance(fact.value, list) else [fact.value]
            page.perf_measured.append((fact.label, [fact_text(v) for v in values]))
        elif fact.key == "performance.failure_slices":
            values = fact.value if isinstance(fact.value, list) else [fact.value]
            note = "; ".join(e.note for e in fact.evidence if e.note)
            page.perf_slices.append((fact.label, [fact_text(v) for v in values], note))
    page.perf_chart = _chart(page.perf_claims)


_SHOWN_ELSEWHERE = ("license.", "openness.", "performance.", "safety.")


def _facts(report: Report, page: Page) -> None:
    for fact in split_facts(report).general:
        if fact.key.startswith(_SHOWN_ELSEWHERE) or fact.key == "declared_license":
            continue
        page.facts.append(
            (fact, fact_text(fact.value, fact.key), tuple(_evidence(e) for e in fact.evidence))
        )


def _coverage(report: Report) -> list[tuple[FileCoverage, str, str]]:
    out = []
    for cov in report.coverage:
        steps = [s for s in cov.steps if not s.deferred] or list(cov.steps)
        detail = "; ".join(f"{s.analyzer}: {s.detail}" if s.detail else s.analyzer for s in steps)
        out.append((cov, human_bytes(cov.size), detail))
    return out


def build_page(report: Report, *, card: str | None = None, card_path: str | None = None) -> Page:
    """The view of ``report`` the template renders (public for tests and the site)."""
    page = Page(report)
    _verdict_cards(report, page)
    page.key_facts = _key_facts(report)
    ordered = sorted(report.findings, key=lambda f: -f.severity.rank)
    views: dict[str, list[FindingView]] = {}
    first_of_rule: dict[str, str] = {}
    for n, f in enumerate(ordered):
        views.setdefault(_section_of(f.analyzer), []).append(_finding_view(f, n, first_of_rule))
    _license(report, page, views.get("license", []))
    _openness(report, page)
    page.openness_findings = views.get("openness", [])
    safety = views.get("safety", [])
    page.safety_findings = [
        (s, [v for v in safety if v.finding.severity is s])
        for s in Severity
        if any(v.finding.severity is s for v in safety)
    ]
    page.coverage = _coverage(report)
    if not report.coverage:
        page.missing.append("Coverage: the report lists no files; nothing was checked.")
    _performance(report, page)
    page.perf_findings = views.get("performance", [])
    _facts(report, page)
    page.other_findings = views.get("other", [])
    page.errored = [(a.analyzer, a.message) for a in report.analyzers if a.status == "errored"]
    if not page.mof_rows and not page.osai_groups and report.verdict("openness") is None:
        pass  # said once, by the verdict card
    elif not page.mof_rows and not page.osai_groups:
        page.missing.append("Openness: no MOF or Open Source AI Index grades in this report.")
    if card is not None:
        from seewhy.report.sanitize import card_to_html

        page.card_html = Markup(card_to_html(card))
        page.card_path = card_path
    return page


# ------------------------------------------------------------------ rendering


def jinja_environment(
    package: str, filters: dict[str, Any], globals_: dict[str, Any]
) -> Environment:
    """A Jinja environment over ``package``'s ``templates`` folder, escaping every template.

    Shared by the report page and the site: autoescape on whatever the template's name,
    undefined names raise, block tags leave no blank lines; ``filters`` and ``globals_``
    are added as given.
    """
    env = Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(filters)
    env.globals.update(globals_)
    return env


@cache
def _environment() -> Environment:
    return jinja_environment(
        "seewhy.report",
        filters={"bytes": human_bytes, "pct": _pct, "num": _num, "code_spans": _code_spans},
        globals_={
            "bytes_read_text": bytes_read_text,
            "hub_text": hub_text,
            "plural": plural,
            "SEVERITY_CLASS": SEVERITY_CLASS,
            "EVAL_HINT": EVAL_HINT,
        },
    )


def _pct(value: object, digits: int = 1) -> str:
    v = _number(value)
    return "—" if v is None else f"{v:.{digits}%}"


def _num(value: object, digits: int = 2) -> str:
    v = _number(value)
    return "—" if v is None else f"{v:.{digits}f}"


def _code_spans(text: str) -> Markup:
    """Our own prose with `backticks` as <code>; the text is escaped first."""
    from markupsafe import escape

    parts = str(text).split("`")
    out = Markup("")
    for i, part in enumerate(parts):
        out += Markup("<code>{}</code>").format(part) if i % 2 else escape(part)
    return out


@cache
def _asset(name: str) -> str:
    env = _environment()
    assert env.loader is not None
    source, _, _ = env.loader.get_source(env, name)
    return source


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def page_csp(css: str, js: str, *, form_action: str = "'none'") -> str:
    """The Content-Security-Policy of a page: only its own inline style and script, by hash.

    ``form_action`` is where the page's forms may submit (none on a saved report).
    """
    return "; ".join(
        (
            "default-src 'none'",
            f"style-src {_csp_hash(css)}",
            f"script-src {_csp_hash(js)}",
            "img-src data:",
            "base-uri 'none'",
            f"form-action {form_action}",
        )
    )


def format_html(report: Report, *, card: str | None = None, card_path: str | None = None) -> str:
    """The report as one self-contained HTML page.

    ``card`` is the release's model card (Markdown) to show, sanitised, in a
    folded section; ``card_path`` names its file.
    """
    page = build_page(report, card=card, card_path=card_path)
    css = _asset("report.css")
    js = _asset("report.js")
    csp = page_csp(css, js)
    template = _environment().get_template("report.html.j2")
    return template.render(
        page=page,
        report=report,
        rel=report.release,
        css=Markup(css),
        js=Markup(js),
        csp=csp,
        Severity=Severity,
    )


def read_card(report: Report, root: Path) -> tuple[str, str] | None:
    """The top-level model card of the audited folder ``root``: (path, text), bounded.

    Picks the report's coverage entry of kind ``model-card`` nearest the root
    (``README.md`` first). The text is read as bytes, at most
    :data:`MAX_CARD_BYTES`, and decoded leniently; nothing else of the release
    is read. None when the release has no card or it cannot be read.
    """
    cards = [c for c in report.coverage if c.kind == "model-card"]
    if not cards or not root.is_dir():
        return None
    best = min(
        cards,
        key=lambda c: (c.path.count("/"), PurePosixPath(c.path).name != "README.md", c.path),
    )
    path = root.joinpath(*PurePosixPath(best.path).parts)
    try:
        resolved = path.resolve()
        if not resolved.is_relative_to(root.resolve()) or not resolved.is_file():
            return None
        with resolved.open("rb") as fh:
            data = fh.read(MAX_CARD_BYTES)
    except OSError:
        return None
    return best.path, data.decode("utf-8", errors="replace")


def findings_total(groups: Iterable[tuple[Severity, list[FindingView]]]) -> int:
    """How many findings the load-safety groups hold."""
    return sum(len(views) for _, views in groups)
