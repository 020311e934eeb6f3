"""``seewhy serve`` in Debian's Chromium (Playwright, ``/usr/bin/chromium`` by its path).

A real server process over a store filled by real ``seewhy audit --store`` runs: open
the list, sort it, filter it, open a report, expand a finding, tick two releases and
compare them, drill into an evaluation run's items. Each page is saved as a
screenshot into the test's folder (and into $SEEWHY_SCREENSHOTS when it is set), and
no page may break its Content-Security-Policy, log an error or run a payload.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from webapp.site_helpers import Server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page

CHROMIUM = Path(os.environ.get("SEEWHY_CHROMIUM", "/usr/bin/chromium"))

WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the browser tests need Debian's "
            "package (`apt-get install -y chromium`) or SEEWHY_CHROMIUM set to a Chromium binary"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--headless"])
        yield b
        b.close()


class Tab:
    """A browser page that records errors, dialogs and CSP violations, and takes shots."""

    def __init__(self, browser: Browser, server: Server, shots: list[Path]) -> None:
        self.page: Page = browser.new_page(viewport={"width": 1440, "height": 900})
        self.server = server
        self.shots = shots
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.add_init_script(WATCH)
        self.page.on("pageerror", self._error)
        self.page.on("console", self._console)
        self.page.on("dialog", self._dialog)

    def _error(self, error: Exception) -> None:
        self.errors.append(str(error))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self, path: str) -> None:
        response = self.page.goto(self.server.url + path)
        assert response is not None and response.status == 200, path
        self.check()

    def follow(self, click: Callable[[], object]) -> None:
        """Do ``click``, wait for the page it opens, and check that page."""
        with self.page.expect_navigation(wait_until="load", timeout=60_000):
            click()
        self.check()

    def check(self) -> None:
        self.page.wait_for_load_state("load")
        assert self.page.evaluate("window.__csp") == [], self.page.url
        assert self.page.evaluate("typeof window.__pwned") == "undefined"
        assert self.errors == [] and self.dialogs == [], (self.errors, self.dialogs)

    def shot(self, name: str, *, full_page: bool = False) -> None:
        for folder in self.shots:
            self.page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)


@pytest.fixture
def tab(browser: Browser, server: Server, tmp_path: Path) -> Iterator[Tab]:
    shots = [tmp_path]
    stable = os.environ.get("SEEWHY_SCREENSHOTS")
    if stable:
        Path(stable).mkdir(parents=True, exist_ok=True)
        shots.append(Path(stable))
    t = Tab(browser, server, shots)
    yield t
    t.page.close()


def names(tab: Tab) -> list[str]:
    cells = tab.page.locator("table.releases td.release .name")
    return [n.strip() for n in cells.all_inner_texts()]


def test_list_sort_filter_report_finding_and_compare(tab: Tab, tmp_path: Path) -> None:
    page = tab.page
    tab.open("/")
    assert len(names(tab)) == 4
    tab.shot("site-list")

    # Sort by parameters (a server-side sort: the header is a link), then flip the order.
    tab.follow(lambda: page.click("th >> a[data-sort-key=parameters]"))
    assert page.locator("th[aria-sort]").get_attribute("aria-sort") == "descending"
    first = names(tab)
    assert first[0] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    tab.follow(lambda: page.click("th >> a[data-sort-key=parameters]"))
    assert page.locator("th[aria-sort]").get_attribute("aria-sort") == "ascending"
    assert names(tab)[0] == "hostile" and names(tab)[-1] == first[0]
    tab.follow(lambda: page.click("th >> a[data-sort-key=release]"))
    assert names(tab) == sorted(first)

    # Filter: the license menu applies at once; the search box with the button.
    tab.follow(lambda: page.select_option("select[name=license]", "restricted"))
    assert "license=restricted" in page.url
    assert names(tab) == ["hostile"]
    tab.shot("site-list-filtered")
    tab.follow(lambda: page.click("text=Clear"))
    page.fill("input[name=q]", "apache")
    tab.follow(lambda: page.click("button:has-text('Filter')"))
    assert set(names(tab)) == {"tiny-llama", "SmolLM2-135M-Instruct.Q4_1.gguf"}
    tab.follow(lambda: page.click("text=Clear"))

    # Open a report and expand a finding.
    tab.follow(lambda: page.click("table.releases a.name:has-text('hostile')"))
    assert page.locator("h1").inner_text().startswith("hostile")
    finding = page.locator("details.finding").first
    assert finding.get_attribute("open") is None
    finding.locator("summary").click()
    assert finding.get_attribute("open") is not None
    assert finding.locator(".ev").first.is_visible()
    tab.shot("site-report")
    finding.scroll_into_view_if_needed()
    tab.shot("site-report-finding")

    # Back to the list, tick two releases, compare them.
    tab.follow(lambda: page.click("a:has-text('all releases')"))
    button = page.locator("#compare-button")
    assert button.is_disabled()
    page.check("tr:has(a.name:text-is('tiny-llama')) input[type=checkbox]")
    assert "tick another" in page.locator("#selected-count").inner_text()
    page.check("tr:has(a.name:text-is('hostile')) input[type=checkbox]")
    assert page.locator("#selected-count").inner_text() == "2 releases selected"
    tab.shot("site-list-selected")
    tab.follow(button.click)
    assert "/compare?id=" in page.url
    assert page.locator("h1").inner_text() == "2 releases compared"
    heads = page.locator("#summary-table thead th a").all_inner_texts()
    assert sorted(heads) == ["hostile", "tiny-llama"]
    assert "no evaluation task in common" in page.locator("#notes").inner_text()
    tab.shot("site-compare")


def test_an_evaluation_run_down_to_an_item(tab: Tab) -> None:
    page = tab.page
    tab.open("/runs")
    tab.shot("site-runs")
    tab.follow(lambda: page.click("a:has-text('gsm8k_mini')"))
    items = page.locator("details.item")
    assert items.count() >= 1
    items.first.locator("summary").click()
    assert items.first.locator("pre.prompt").is_visible()
    tab.shot("site-run")
    tab.follow(items.first.locator("a:has-text('Permalink')").click)
    assert page.locator("pre.prompt").is_visible()
    tab.shot("site-item")


def test_screenshots_are_written(tab: Tab, tmp_path: Path) -> None:
    tab.open("/")
    tab.shot("site-list-again")
    assert (tmp_path / "site-list-again.png").stat().st_size > 10_000
    shutil.rmtree(tmp_path, ignore_errors=True)
