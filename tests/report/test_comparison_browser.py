"""The comparison page (``seewhy compare-releases --format html``) opened in Chromium.

Reuses the harness of ``test_html_browser``: Debian's Chromium by its path,
every request but the page aborted and recorded, CSP violations and added
elements watched. Screenshots go to the test's tmp folder or ``SEEWHY_SCREENSHOTS``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from comparison_data import run, write_export
from test_comparison import MIT_WITH_THRESHOLD
from test_html_browser import browser, shots, visit

from seewhy.audit import audit
from seewhy.report.comparison import build_comparison, format_html

if TYPE_CHECKING:
    from playwright.sync_api import Browser

__all__ = ["browser", "shots"]  # fixtures from test_html_browser


@pytest.fixture(scope="module")
def comparison_html(
    tmp_path_factory: pytest.TempPathFactory, example_release: Path, smollm2_gguf: Path
) -> Path:
    """Three releases and two models' runs: `seewhy compare-releases … -f html`, a real process."""
    tmp = tmp_path_factory.mktemp("compare-html")
    restricted = tmp / "restricted-llama"
    shutil.copytree(example_release, restricted)
    (restricted / "LICENSE").write_text(MIT_WITH_THRESHOLD, encoding="utf-8")
    export = write_export(
        tmp / "runs.json",
        [
            run("arc_easy", "tiny-llama", set(range(0, 40, 3))),
            run("arc_easy", "SmolLM2-135M-Instruct", set(range(26))),
            run("hellaswag", "tiny-llama", set(range(0, 40, 4))),
            run("hellaswag", "SmolLM2-135M-Instruct", set(range(14))),
        ],
    )
    out = tmp / "index.html"
    proc = subprocess.run(
        [sys.executable, "-m", "seewhy", "compare-releases", str(example_release),
         str(restricted), str(smollm2_gguf), "--evidence", str(export), "-o", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return out


def test_comparison_page_in_chromium(browser: Browser, comparison_html: Path, shots: Path) -> None:
    v = visit(browser, comparison_html)
    page = v.page
    assert page.title().startswith("seewhy: tiny-llama vs restricted-llama vs ")
    heads = page.locator("#summary-table thead th").all_inner_texts()
    assert heads[1:] == ["tiny-llama", "restricted-llama", "SmolLM2-135M-Instruct.Q4_1.gguf"]
    # A grid row per MOF component, a coloured cell per release.
    first = page.locator("#mof-table tbody tr").first
    assert first.locator("td").count() == 3
    assert page.locator("#osai-table td.good").count() > 0
    # Scores: one chart and one paired table per task, sortable under the CSP.
    assert page.locator("#scores svg.scores").count() == 2
    pairs = page.locator("#scores table.sortable").nth(1)
    header = pairs.locator("thead th").nth(2)
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    page.screenshot(path=str(shots / "comparison.png"), full_page=True)
    seen = v.seen()
    assert seen["csp"] == [], seen["csp"]
    assert v.errors == [] and v.dialogs == []
    assert v.requests == [v.url]  # self-contained: nothing fetched
    page.context.close()
    dark = visit(browser, comparison_html, scheme="dark")
    dark.page.screenshot(path=str(shots / "comparison-dark.png"), full_page=True)
    dark.page.context.close()


def test_hostile_release_name_stays_text(
    browser: Browser, tmp_path: Path, example_release: Path
) -> None:
    name = "<img src=x onerror=alert(1)><script>alert(2)</script>"
    hostile = tmp_path / name.replace("/", "_")
    shutil.copytree(example_release, hostile)
    out = tmp_path / "cmp.html"
    out.write_text(
        format_html(build_comparison([audit(example_release), audit(hostile)]), version="t"),
        encoding="utf-8",
    )
    v = visit(browser, out)
    assert v.dialogs == []
    assert v.page.locator("img").count() == 0
    assert name.replace("/", "_") in v.page.locator("#summary-table thead").inner_text()
    assert v.seen()["csp"] == []
    assert v.requests == [v.url]
