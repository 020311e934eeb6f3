"""``seewhy compare-releases``: releases side by side in HTML, Markdown and JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from comparison_data import run, write_export
from test_html import parse

from seewhy.audit import audit
from seewhy.report.comparison import build_comparison, format_html
from seewhy.report.json_format import format_json

# The MIT License text with a user threshold added: a modified, restrictive license.
MIT_WITH_THRESHOLD = """MIT License

Copyright (c) 2025 Example

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

The Software shall not be used by any company with more than 100 million monthly
active users without a separate license.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def seewhy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seewhy", *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory, example_release: Path) -> list[Path]:
    """The example release, and a copy whose card names a dataset and whose LICENSE is
    an MIT text with a user threshold added: two releases that differ in license and openness."""
    tmp = tmp_path_factory.mktemp("compare")
    other = tmp / "restricted-llama"
    shutil.copytree(example_release, other)
    (other / "LICENSE").write_text(MIT_WITH_THRESHOLD, encoding="utf-8")
    card = other / "README.md"
    card.write_text(
        card.read_text(encoding="utf-8").replace("license: apache-2.0", "license: mit", 1),
        encoding="utf-8",
    )
    return [example_release, other]


def _json(*args: str) -> dict[str, Any]:
    proc = seewhy("compare-releases", *args, "-f", "json")
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def test_two_releases_side_by_side(releases: list[Path]) -> None:
    doc = _json(*map(str, releases))
    assert [c["name"] for c in doc["columns"]] == ["tiny-llama", "restricted-llama"]
    rows = {r["label"]: r["cells"] for r in doc["summary"]}
    for label in ("Openness", "Load safety", "Performance", "MOF class", "Parameters"):
        assert len(rows[label]) == 2, label
    assert rows["Parameters"][0]["text"] == rows["Parameters"][1]["text"]  # same weights
    assert rows["Openness"][0]["text"] == "open-weights"
    assert rows["Openness"][1]["text"] != "open-weights"  # the license differs
    lic = {r["label"]: r["cells"] for r in doc["license"]}
    assert lic["License"][0]["text"] == "Apache-2.0"
    assert lic["License"][1]["text"] != "Apache-2.0"
    assert lic["Restrictions (OSD criteria)"][0]["text"] == "none found"
    assert lic["Restrictions (OSD criteria)"][1]["tone"] == "warn"
    assert "OSD" in lic["Restrictions (OSD criteria)"][1]["note"]
    # Openness grids: one row per component, one cell per release.
    assert doc["mof"] and all(len(r["cells"]) == 2 for r in doc["mof"])
    assert doc["osai"] and {r["group"] for r in doc["osai"]} >= {"availability", "access"}
    assert doc["notes"] == []
    assert doc["tasks"] == []
    assert any("--evidence" in line for line in doc["scores_hint"])


def test_saved_json_reports_are_read_not_re_audited(releases: list[Path], tmp_path: Path) -> None:
    paths = []
    for n, folder in enumerate(releases):
        path = tmp_path / f"r{n}.json"
        path.write_text(format_json(audit(folder)), encoding="utf-8")
        paths.append(str(path))
    from_reports = _json(*paths)
    from_folders = _json(*map(str, releases))
    assert from_reports["summary"] == from_folders["summary"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a report"}', encoding="utf-8")
    proc = seewhy("compare-releases", str(bad), paths[0])
    assert proc.returncode == 2
    assert "is not a seewhy report" in proc.stderr
    assert proc.stderr.count("\n") <= 2  # one line and the --debug hint, no traceback


def test_one_release_says_there_is_nothing_to_compare(releases: list[Path]) -> None:
    doc = _json(str(releases[0]))
    assert any("Only one release" in n for n in doc["notes"])
    md = seewhy("compare-releases", str(releases[0]), "-f", "md")
    assert md.returncode == 0
    assert "Only one release" in md.stdout


def test_releases_with_no_common_openness_grade_say_so(releases: list[Path]) -> None:
    a, b = audit(releases[0]), audit(releases[1])
    only_mof = a.model_copy(
        update={"facts": tuple(f for f in a.facts if not f.key.startswith("openness."))}
    )
    cmp = build_comparison([only_mof, b])
    assert any("share no graded openness component" in n for n in cmp.notes)
    cmp = build_comparison([a, b])
    assert not any("share no graded" in n for n in cmp.notes)


def test_scores_with_paired_differences_from_evidence(releases: list[Path], tmp_path: Path) -> None:
    runs = [
        run("arc_easy", "alpha", set(range(30))),
        run("arc_easy", "beta", set(range(12))),
        run("hellaswag", "alpha", set(range(20))),  # no other model on this task
    ]
    export = write_export(tmp_path / "runs.json", runs)
    doc = _json(*map(str, releases), "--evidence", str(export))
    (task,) = doc["tasks"]
    assert task["task"] == "arc_easy"
    assert [s["model"] for s in task["scores"]] == ["alpha", "beta"]
    assert [s["mean"] for s in task["scores"]] == [0.75, 0.3]
    (pair,) = task["pairs"]
    assert pair["model_a"] == "alpha" and pair["model_b"] == "beta"
    assert pair["difference"] == pytest.approx(0.45)
    assert pair["ci_low"] < 0.45 < pair["ci_high"]
    assert pair["significant"] is True  # 18 discordant items, all one way
    assert any("hellaswag: only one run" in n for n in doc["notes"])
    html = seewhy("compare-releases", *map(str, releases), "--evidence", str(export))
    assert html.returncode == 0, html.stderr
    assert "Paired differences" in html.stdout
    assert "+45.0 pts" in html.stdout


def test_runs_with_no_common_task_say_so(releases: list[Path], tmp_path: Path) -> None:
    export = write_export(
        tmp_path / "runs.json",
        [run("arc_easy", "alpha", {1, 2}), run("hellaswag", "beta", {3})],
    )
    doc = _json(*map(str, releases), "--evidence", str(export))
    assert doc["tasks"] == []
    assert any("share no task measured on two models" in n for n in doc["notes"])


def test_html_escapes_release_names_and_keeps_the_csp(releases: list[Path], tmp_path: Path) -> None:
    hostile = tmp_path / "<img src=x onerror=alert(1)>"
    shutil.copytree(releases[0], hostile)
    reports = [audit(releases[1]), audit(hostile)]
    html = format_html(build_comparison(reports, hrefs=["a.html", None]), version="test")
    page = parse(html)
    assert "img" not in [tag for tag, _ in page.elements]
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    csp = html.split('http-equiv="Content-Security-Policy" content="', 1)[1].split('"', 1)[0]
    assert "default-src &#39;none&#39;" in csp
    assert page.ids >= {"summary", "license", "openness", "scores"}
