"""The HTML report opened in a real browser: Debian's Chromium driven by Playwright.

Chromium is launched by its path (``/usr/bin/chromium``, from ``apt-get install
chromium``; ``SEEWHY_CHROMIUM`` moves it): Playwright's own browser download is
not used. The tests fail, not skip, when it is missing: ``make test`` (through
``.ci/run``) installs it.

Every page is opened from a file with every request watched and anything but
the page itself aborted, dialogs and console messages recorded, and an init
script that records CSP violations and any script, image, frame or object
element added to the page. Screenshots go to the test's tmp folder, or to
``SEEWHY_SCREENSHOTS`` when set.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hostile_release import CARD, MARK, write_hostile_release
from markdown_it import MarkdownIt

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog, Page

CHROMIUM = Path(os.environ.get("SEEWHY_CHROMIUM", "/usr/bin/chromium"))

WATCH = """
window.__seen = {csp: [], added: []};
document.addEventListener('securitypolicyviolation', function (e) {
  window.__seen.csp.push(e.violatedDirective + ' ' + e.blockedURI);
});
new MutationObserver(function (records) {
  records.forEach(function (r) {
    r.addedNodes.forEach(function (n) {
      if (n.nodeType === 1 && /^(SCRIPT|IMG|IFRAME|OBJECT|EMBED|FRAME)$/.test(n.tagName)
          && document.readyState === 'complete') {
        window.__seen.added.push(n.tagName);
      }
    });
  });
}).observe(document, {childList: true, subtree: true});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the browser tests need Debian's "
            "package (`apt-get install -y chromium`; .ci/run installs it) or SEEWHY_CHROMIUM "
            "set to a Chromium binary"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        pytest.fail("playwright is not installed: pip install -e '.[test]'")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--headless"])
        yield b
        b.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SEEWHY_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Visit:
    """An opened page and everything it did."""

    page: Page
    url: str
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def seen(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = self.page.evaluate("window.__seen")
        return out


def visit(browser: Browser, path: Path, *, scheme: str = "light") -> Visit:
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        color_scheme=scheme,  # type: ignore[arg-type]
        java_script_enabled=True,
    )
    page = context.new_page()
    v = Visit(page, path.resolve().as_uri())

    def route(r: object) -> None:
        from playwright.sync_api import Route

        assert isinstance(r, Route)
        if r.request.url == v.url:
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    page.on("request", lambda r: v.requests.append(r.url))

    def dialog(d: Dialog) -> None:
        v.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    page.on("console", lambda m: v.console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: v.errors.append(str(e)))
    page.add_init_script(WATCH)
    page.goto(v.url, wait_until="load")
    return v


def render(source: Path, out: Path) -> Path:
    """``seewhy audit SOURCE --format html -o OUT``, a real process."""
    proc = subprocess.run(
        [sys.executable, "-m", "seewhy", "audit", str(source), "-f", "html", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr  # 1: findings at high, as expected
    assert out.is_file(), proc.stderr
    return out


@pytest.fixture(scope="module")
def hostile_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("hostile-html")
    return render(write_hostile_release(tmp / "hostile"), tmp / "hostile.html")


def _assert_inert(v: Visit, title: str) -> None:
    page = v.page
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.title() == title
    assert v.dialogs == []
    assert not [m for m in v.console if MARK in m], v.console
    assert v.errors == []
    seen = v.seen()
    assert seen["csp"] == [], seen["csp"]  # nothing from the data even tried to run or load
    assert seen["added"] == []
    assert v.requests == [v.url]  # the page itself, nothing else


# ------------------------------------------------------------------ inert


def test_hostile_card_runs_no_script_in_chromium(
    browser: Browser, hostile_html: Path, shots: Path
) -> None:
    v = visit(browser, hostile_html)
    page = v.page
    _assert_inert(v, "seewhy audit: hostile")
    # Open everything and move over every cell: handlers, had any survived, would fire now.
    page.click("#card summary")
    page.click("button[data-expand='#load-safety'][data-open='1']")
    for cell in page.query_selector_all(".card-md td, .card-md a, details.finding")[:40]:
        cell.hover()
    page.wait_for_timeout(200)
    _assert_inert(v, "seewhy audit: hostile")
    # The payloads are on the page, as text.
    body = page.inner_text("body")
    assert "<script>window.__pwned=1" in body
    assert "system<img src=x onerror=window.__pwned=10>" in body
    page.screenshot(path=str(shots / "hostile-report.png"), full_page=True)


def test_the_harness_sees_a_payload_that_runs(browser: Browser, tmp_path: Path) -> None:
    """Control: the same card rendered without escaping, sanitiser or CSP does run."""
    unsafe = MarkdownIt("commonmark", {"html": True}).render(CARD.split("---", 2)[2])
    page_file = tmp_path / "unsafe.html"
    page_file.write_text(f"<!DOCTYPE html><title>t</title><body>{unsafe}</body>", "utf-8")
    v = visit(browser, page_file)
    v.page.wait_for_timeout(200)
    assert v.page.evaluate("typeof window.__pwned") != "undefined"
    assert v.dialogs  # alert() ran
    assert any("evil.example" in url for url in v.requests)  # and the watch sees requests


# ------------------------------------------------------------------ works


def test_sorting_expanding_and_links_work_under_the_csp(
    browser: Browser, hostile_html: Path, shots: Path
) -> None:
    v = visit(browser, hostile_html)
    page = v.page
    size_header = page.locator("#coverage thead th", has_text="Size")

    def sizes() -> list[int]:
        cells = page.locator("#coverage tbody td.num").evaluate_all(
            "cells => cells.map(c => c.getAttribute('data-sort'))"
        )
        return [int(c) for c in cells]

    size_header.click()
    assert size_header.get_attribute("aria-sort") == "ascending"
    assert sizes() == sorted(sizes())
    size_header.click()
    assert size_header.get_attribute("aria-sort") == "descending"
    assert sizes() == sorted(sizes(), reverse=True)
    first = page.locator("#load-safety details.finding").first
    assert first.get_attribute("open") is None
    first.locator("summary").click()
    assert first.get_attribute("open") is not None
    anchor = page.locator("#license details.finding").first.get_attribute("id")
    page.goto(f"{v.url}#{anchor}")
    assert page.locator(f"#{anchor}").get_attribute("open") is not None
    page.locator("#verdicts").screenshot(path=str(shots / "hostile-verdicts.png"))
    _assert_inert(v, "seewhy audit: hostile")


def test_real_release_report_in_light_dark_and_print(
    browser: Browser, smollm2_gguf: Path, tmp_path: Path, shots: Path
) -> None:
    html = render(smollm2_gguf, tmp_path / "smollm2.html")
    backgrounds = []
    for scheme in ("light", "dark"):
        v = visit(browser, html, scheme=scheme)
        page = v.page
        _assert_inert(v, "seewhy audit: SmolLM2-135M-Instruct.Q4_1.gguf")
        assert page.locator(".card").count() == 4  # with safety behaviour
        assert page.locator("#verdict-safety-behaviour .value").inner_text() == "not checked"
        assert page.locator(".card .value").all_inner_texts()[1] in (
            "safe",
            "unsafe",
            "inconclusive",
        )
        for section in ("#license", "#openness", "#load-safety", "#performance", "#facts"):
            assert page.locator(section).is_visible()
        backgrounds.append(page.evaluate("getComputedStyle(document.body).backgroundColor"))
        page.screenshot(path=str(shots / f"smollm2-{scheme}.png"), full_page=True)
    assert backgrounds[0] != backgrounds[1]  # prefers-color-scheme is honoured
    v = visit(browser, html)
    v.page.emulate_media(media="print")
    assert not v.page.locator("nav.toc").is_visible()
    v.page.pdf(path=str(shots / "smollm2.pdf"))
