"""The HTML report (``--format html``): self-contained, every section, inert data.

The page is parsed with the standard library's HTML parser: every element and
attribute it holds is checked against what seewhy itself writes, so a payload
from the release that survived escaping would show up as an element or an
attribute of its own. The browser tests (test_html_browser.py) open the same
pages in Chromium.
"""

from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hostile_release import HOSTILE_NAMES, write_hostile_release

from seewhy.audit import audit
from seewhy.report.html import build_page, format_html, read_card
from seewhy.report.model import Evidence, Fact, Report, Verdict
from seewhy.report.sanitize import card_to_html

# Elements and attributes seewhy's own template writes; anything else came from data.
OWN_TAGS = {
    "html", "head", "meta", "title", "link", "style", "body", "header", "div", "h1", "h2",
    "h3", "h4", "span", "b", "main", "p", "details", "summary", "pre", "ul", "li", "a",
    "nav", "section", "table", "thead", "tbody", "tr", "th", "td", "q", "strong", "blockquote",
    "mark", "meter", "button", "svg", "line", "text", "g", "circle", "path", "footer", "script",
    "code", "em", "ol", "hr", "br", "del", "s", "h5", "h6",
}  # fmt: skip
EVENT_ATTR = re.compile(r"^on", re.IGNORECASE)


class _Page(HTMLParser):
    """Every element with its attributes, and the text of <style> and <script>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self.raw: dict[str, list[str]] = {"style": [], "script": []}
        self._in: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if "id" in dict(attrs):
            self.ids.add(str(dict(attrs)["id"]))
        if tag in self.raw:
            self._in = tag
            self.raw[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is not None:
            self.raw[self._in][-1] += data
        else:
            self.text.append(data)


def parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def _sha(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, str]:
    root = write_hostile_release(tmp_path_factory.mktemp("hostile") / "hostile")
    report = audit(root)
    card = read_card(report, root)
    assert card is not None
    return report, format_html(report, card=card[1], card_path=card[0])


# ------------------------------------------------------------------ inert data


def test_hostile_release_adds_no_element_or_attribute(hostile: tuple[Report, str]) -> None:
    _, html = hostile
    page = parse(html)
    tags = {tag for tag, _ in page.elements}
    assert tags <= OWN_TAGS, tags - OWN_TAGS
    assert not {"img", "iframe", "object", "embed", "math", "form", "input"} & tags
    assert [t for t, _ in page.elements].count("script") == 1
    assert [t for t, _ in page.elements].count("style") == 1
    assert [t for t, _ in page.elements].count("svg") == 0  # no chart without claims checked
    for tag, attrs in page.elements:
        assert not any(EVENT_ATTR.match(name) for name in attrs), (tag, attrs)
        assert "style" not in attrs and "src" not in attrs, (tag, attrs)
        href = (attrs.get("href") or "").strip().lower()
        if tag == "link":
            assert href == "data:,"  # the empty favicon: nothing fetched
        elif href:
            assert href.startswith(("#", "https://", "http://", "mailto:")), href
    # The payloads are there, as text a reader can see.
    text = "".join(page.text)
    for name in HOSTILE_NAMES:
        assert name in text
    assert "system<img src=x onerror=window.__pwned=10>" in text
    assert "<script>window.__pwned=11</script>" in text
    assert "window.__pwned=4" not in " ".join(str(a) for _, a in page.elements)


def test_card_links_keep_only_http_and_mailto(hostile: tuple[Report, str]) -> None:
    _, html = hostile
    hrefs = [a.get("href") for t, a in parse(html).elements if t == "a" and a.get("href")]
    external = [h for h in hrefs if h and not h.startswith("#")]
    assert external == ["https://example.org/docs"]
    anchors = [
        a for t, a in parse(html).elements if t == "a" and (a.get("href") or "")[:4] == "http"
    ]
    assert all(a.get("rel") == "noopener noreferrer nofollow" for a in anchors)


def test_csp_allows_only_the_page_own_style_and_script(hostile: tuple[Report, str]) -> None:
    _, html = hostile
    page = parse(html)
    metas = [a for t, a in page.elements if t == "meta" and a.get("http-equiv")]
    assert len(metas) == 1 and metas[0]["http-equiv"] == "Content-Security-Policy"
    csp = str(metas[0]["content"])
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == f"'{_sha(page.raw['script'][0])}'"
    assert directives["style-src"] == f"'{_sha(page.raw['style'][0])}'"
    assert directives["img-src"] == "data:"
    assert "unsafe-inline" not in csp and "http" not in csp


def test_html_is_deterministic(hostile: tuple[Report, str]) -> None:
    report, html = hostile
    card = read_card(report, Path(report.metadata.source))
    assert card is not None
    again = format_html(report, card=card[1], card_path=card[0])
    assert parse(again).raw == parse(html).raw
    assert again == html


def test_sanitiser_drops_scripts_handlers_and_unsafe_links() -> None:
    out = card_to_html(
        "# t\n\n<script>x()</script>\n\n[a](javascript:x) [b](data:text/html,x) "
        "[c](vbscript:x) [d](./local.html) [e](https://ok.example/)\n\n"
        '![i](https://evil.example/p.png)\n\n<a href="https://ok.example/" onclick="x()">raw</a>'
    )
    page = parse(out)
    assert {t for t, _ in page.elements} <= {"h1", "p", "a"}
    hrefs = [a.get("href") for t, a in page.elements if t == "a"]
    assert hrefs.count("https://ok.example/") == 1 and set(hrefs) <= {"https://ok.example/", None}
    assert "[image: i]" in out and "evil.example" not in out
    assert "&lt;script&gt;" in out and "&lt;a href" in out  # raw HTML shown as text


def test_sanitiser_strips_front_matter_and_bounds_the_card() -> None:
    out = card_to_html("---\nlicense: mit\n---\nbody " + "x" * 300_000)
    assert "license: mit" not in out and "body" in out
    assert "card cut at 200,000 characters" in out
    assert len(out) < 210_000


# ------------------------------------------------------------------ sections


SECTION_IDS = {"verdicts", "license", "openness", "load-safety", "coverage", "performance", "facts"}


def test_every_section_present_on_a_real_release(example_release: Path) -> None:
    report = audit(example_release)
    html = format_html(report)
    page = parse(html)
    assert page.ids >= SECTION_IDS
    text = " ".join("".join(page.text).split())
    # Verdict cards: openness with its reason, load safety, performance not measured.
    openness = report.verdict("openness")
    safety = report.verdict("load_safety")
    assert openness is not None and safety is not None
    assert openness.reason in text and safety.reason in text
    assert (
        "not measured no measured run: evaluate the model with seewhy eval … and pass the run"
        in text
    )
    # Each card links to its section.
    hrefs = [a.get("href") for t, a in page.elements if t == "a"]
    assert {"#openness", "#load-safety", "#performance"} <= set(hrefs)
    # The OSAI grid: one coloured cell per graded parameter.
    osai = [f for f in report.facts if re.match(r"^openness\.osai\.[a-z_]+$", f.key)]
    graded = [f for f in osai if isinstance(f.value, dict) and "class" in f.value]
    cells = [a for t, a in page.elements if t == "div" and "cell" in str(a.get("class")).split()]
    assert graded and len(cells) == len(graded)
    # Coverage: one row per file, sortable.
    covered = [c.path for c in report.coverage]
    assert all(path in text for path in covered)
    table = next(a for t, a in page.elements if t == "table" and a.get("id") == "coverage")
    assert "sortable" in str(table.get("class"))
    assert "This report is incomplete" not in text


def test_license_restrictions_quote_the_clause_and_name_the_osd_criterion(
    hostile: tuple[Report, str],
) -> None:
    report, html = hostile
    page = build_page(report)
    restricting = [
        f for f in report.findings if any((e.note or "").startswith("OSD") for e in f.evidence)
    ]
    assert restricting and len(page.restrictions) == len(restricting)
    text = " ".join("".join(parse(html).text).split())
    for r in page.restrictions:
        assert f"Conflicts with {r.osd}" in text
        for _, _, clause, _ in r.quotes:
            assert " ".join(clause.split()) in text
    assert html.count("<mark>") >= len(restricting)


def test_a_report_missing_sections_says_what_is_missing(example_release: Path) -> None:
    full = audit(example_release)
    bare = full.model_copy(
        update={
            "verdicts": (),
            "facts": tuple(
                f for f in full.facts if not f.key.startswith(("openness", "license", "declared"))
            ),
            "findings": tuple(f for f in full.findings if f.analyzer != "license"),
            "analyzers": tuple(
                a for a in full.analyzers if a.analyzer not in ("openness", "license")
            ),
            "coverage": (),
        }
    )
    text = " ".join("".join(parse(format_html(bare)).text).split())
    assert "This report is incomplete" in text
    assert "Openness: not assessed: the openness analyzer did not run." in text
    assert "Load safety: not assessed: the security analyzer gave no verdict." in text
    assert "Coverage: the report lists no files; nothing was checked." in text
    assert "License: the license analyzer did not run." in text
    assert "No license document was identified" in text
    assert "No OSAID assessment in this report." in text


def test_a_failed_analyzer_is_named(example_release: Path) -> None:
    full = audit(example_release)
    outcomes = tuple(
        a.model_copy(update={"status": "errored", "message": "boom <b>x</b>"})
        if a.analyzer == "openness"
        else a
        for a in full.analyzers
    )
    bare = full.model_copy(
        update={"verdicts": tuple(v for v in full.verdicts if v.topic != "openness"),
                "analyzers": outcomes}
    )  # fmt: skip
    html = format_html(bare)
    assert "the openness analyzer failed (boom &lt;b&gt;x&lt;/b&gt;)" in html


def _claim(
    benchmark: str, claimed: float, measured: float, low: float, high: float, outcome: str
) -> Fact:
    return Fact(
        key="performance.claim",
        label=f"Claim: {benchmark}",
        value={
            "benchmark": benchmark, "model": None, "claimed": claimed,
            "claimed_as_written": str(claimed * 100), "measured": measured,
            "ci_low": low, "ci_high": high, "z": None, "n": 200,
            "metric": "acc", "status": "x", "outcome": outcome, "reasons": None, "runs": "r1",
        },
        analyzer="performance",
        evidence=(Evidence(path="README.md", line=12, excerpt=f"| {benchmark} | {claimed} |"),),
    )  # fmt: skip


def test_performance_claims_drawn_as_an_inline_svg_chart(example_release: Path) -> None:
    base = audit(example_release)
    claims = (
        _claim("ARC-Easy <script>x</script>", 0.60, 0.52, 0.45, 0.59, "not reproduced"),
        _claim("HellaSwag", 0.40, 0.41, 0.34, 0.48, "reproduced"),
    )
    report = base.model_copy(
        update={
            "facts": (*base.facts, *claims),
            "verdicts": (
                *base.verdicts,
                Verdict(topic="performance", value="not-reproduced", analyzer="performance",
                        reason="of 2 claim(s): 1 reproduced, 1 not reproduced"),
            ),
        }
    )  # fmt: skip
    html = format_html(report)
    page = parse(html)
    tags = [t for t, _ in page.elements]
    assert tags.count("svg") == 1 and tags.count("circle") == 2 and tags.count("path") == 2
    assert "ARC-Easy &lt;script&gt;x&lt;/script&gt;" in html
    circles = [a for t, a in page.elements if t == "circle"]
    assert [c["class"] for c in circles] == ["bad", "good"]
    # Measured 52% sits left of claimed 60%: x grows with the score.
    chart = build_page(report).perf_chart
    assert chart is not None
    row = chart.rows[0]
    assert row.low_x is not None and row.measured_x is not None and row.high_x is not None
    assert row.claimed_x is not None and row.low_x < row.measured_x < row.high_x < row.claimed_x
    text = " ".join("".join(page.text).split())
    assert "not-reproduced" in text and "Not measured" not in text


# ------------------------------------------------------------------ command line


def test_cli_writes_one_html_file(tmp_path: Path, example_release: Path) -> None:
    out = tmp_path / "report.html"
    proc = subprocess.run(
        [sys.executable, "-m", "seewhy", "audit", str(example_release), "-f", "html",
         "-o", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    page = parse(html)
    assert "card" in page.ids  # the card, sanitised, read from the folder
    assert page.ids >= SECTION_IDS


def test_a_rule_help_is_shown_once_and_linked_after(hostile: tuple[Report, str]) -> None:
    report, html = hostile
    repeated = [f for f in report.findings if f.rule_id == "SW-TPL-010"]
    assert len(repeated) == 2 and repeated[0].help
    assert html.count(">" + repeated[0].help.splitlines()[0]) == 1
    later = [v for v in build_page(report).safety_findings[0][1] if v.help_at]
    assert later and f'href="#{later[0].help_at}">Why SW-TPL-010 matters' in html
