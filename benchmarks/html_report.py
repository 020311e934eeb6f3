"""The HTML report with 10,000 findings: render time, size, and load time in Chromium.

Audits the bundled example release, adds generated findings (load-safety
findings with evidence across every severity, plus one coverage entry per
100 findings), renders ``--format html`` and opens the file in Debian's
Chromium (``/usr/bin/chromium``, or ``SEEWHY_CHROMIUM``) through Playwright.
Load time is the Navigation Timing load event (navigation start to the end
of the load event): parsing, style, the inline script. Target: under 2 s.

    .venv/bin/python benchmarks/html_report.py [--findings 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

from make_example_release import write_example_release  # noqa: E402
from seewhy.audit import audit  # noqa: E402
from seewhy.report.html import format_html  # noqa: E402
from seewhy.report.model import (  # noqa: E402
    Confidence,
    CoverageStatus,
    CoverageStep,
    Evidence,
    FileCoverage,
    Finding,
    Report,
    Severity,
)

SEVERITIES = list(Severity)
TARGET_S = 2.0


def big_report(base: Report, n: int) -> Report:
    """``base`` with ``n`` generated findings and ``n // 100`` more files."""
    files = max(1, n // 100)
    findings = tuple(
        Finding(
            rule_id=f"SW-PKL-{i % 40:03d}",
            title="Pickle imports a dangerous callable",
            severity=SEVERITIES[i % len(SEVERITIES)],
            confidence=Confidence.HIGH,
            analyzer="security.pickle",
            message=f"GLOBAL at offset {i * 7} imports os.system_{i} <script>x</script>",
            evidence=(
                Evidence(
                    path=f"shard-{i % files:05d}/pytorch_model.bin",
                    offset=i * 7,
                    excerpt=f"GLOBAL 'os system_{i}'",
                    note="called by REDUCE",
                ),
            ),
            help="Loading this file runs the named callable.",
        )
        for i in range(n)
    )
    coverage = base.coverage + tuple(
        FileCoverage(
            path=f"shard-{k:05d}/pytorch_model.bin",
            size=1000 + k,
            kind="pytorch-zip",
            steps=(CoverageStep(analyzer="security.pickle", status=CoverageStatus.PARSED),),
        )
        for k in range(files)
    )
    return base.model_copy(update={"findings": findings, "coverage": coverage})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    chromium = Path(os.environ.get("SEEWHY_CHROMIUM", "/usr/bin/chromium"))
    if not chromium.is_file():
        print(f"Chromium not found at {chromium}: apt-get install -y chromium", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        base = audit(write_example_release(Path(tmp) / "tiny-llama"))
        report = big_report(base, args.findings)
        t0 = time.perf_counter()
        html = format_html(report)
        render_s = time.perf_counter() - t0
        page_file = Path(tmp) / "big.html"
        page_file.write_text(html, encoding="utf-8")
        size = page_file.stat().st_size
        loads: list[float] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(chromium), args=["--no-sandbox", "--headless"]
            )
            for _ in range(args.runs):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(page_file.as_uri(), wait_until="load")
                load_ms = page.evaluate(
                    "(() => { const n = performance.getEntriesByType('navigation')[0];"
                    " return n.loadEventEnd - n.startTime; })()"
                )
                shown = page.locator("details.finding").count()
                loads.append(float(load_ms) / 1000)
                page.close()
            browser.close()
    print(
        f"findings: {args.findings:,} (shown: {shown:,}); coverage rows: {len(report.coverage):,}"
    )
    print(f"render (format_html): {render_s:.2f} s; page size: {size / 1e6:.1f} MB")
    print(
        f"Chromium load (navigation start to load event end), {args.runs} runs: "
        f"median {statistics.median(loads):.2f} s, max {max(loads):.2f} s "
        f"(target < {TARGET_S:.0f} s)"
    )
    return 0 if statistics.median(loads) < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
