"""Modified licenses, version evidence, pasted and referenced licenses, UTF-16 texts,
lineage by name, and ``seewhy license --explain``: real texts of the shared corpus,
changed in the test where the case needs it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from seewhy.analyzers.interface import AuditContext
from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.license import LicenseAnalyzer, ReleaseLicenses, identify_text
from seewhy.analyzers.license.explain import explain_text
from seewhy.analyzers.license.identify import identify_bytes, release_licenses
from seewhy.analyzers.license.kb import load_kb
from seewhy.audit import audit
from seewhy.release.local import open_release
from seewhy.release.model import FileKind
from seewhy.report.model import Report


def _corpus() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        for candidate in (parent / "shared" / "corpus", parent.parent / "shared" / "corpus"):
            if (candidate / "licenses").is_dir():
                return candidate / "licenses"
    return None


LICENSES = _corpus()
pytestmark = pytest.mark.skipif(LICENSES is None, reason="../shared/corpus is not present")


def _text(name: str) -> str:
    assert LICENSES is not None
    return (LICENSES / name).read_text("utf-8")


def _manifest() -> list[dict[str, Any]]:
    if LICENSES is None:
        return []
    data: list[dict[str, Any]] = json.loads((LICENSES / "manifest.json").read_text("utf-8"))
    return data


def _write(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, "utf-8")
    return root


def _licenses(root: Path) -> ReleaseLicenses:
    return release_licenses(open_release(root), AuditContext())


def _audit(root: Path) -> Report:
    return audit(root, analyzers=[InventoryAnalyzer(), LicenseAnalyzer()], raise_errors=True)


def _rules(report: Report) -> set[str]:
    return {f.rule_id for f in report.findings}


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


# The Commons Clause (commonsclause.com), as projects paste it above or below a license.
COMMONS_CLAUSE = """\
"Commons Clause" License Condition v1.0

The Software is provided to you by the Licensor under the License, as defined below, subject
to the following condition.

Without limiting other conditions in the License, the grant of rights under the License will
not include, and the License does not grant to you, the right to Sell the Software.

For purposes of the foregoing, "Sell" means practicing any or all of the rights granted to you
under the License to provide to third parties, for a fee or other consideration (including
without limitation fees for hosting or consulting/ support services related to the Software), a
product or service whose value derives, entirely or substantially, from the functionality of
the Software. Any license notice or attribution required by the License must also include this
Commons Clause License Condition notice.

Software: Acme-7B
License: Apache 2.0
Licensor: Acme Labs
"""


# ------------------------------------------------------------ modified licenses


def test_mit_plus_one_restricting_sentence_is_modified_mit() -> None:
    text = _text("mit__mit.txt") + "\nFor non-commercial use only.\n"
    match = identify_text(text, "LICENSE")
    assert match.license_id == "LicenseRef-MIT-modified"
    assert match.osi_approved is False and match.family == "mit"
    mod = match.modification
    assert mod is not None and mod.base_id == "MIT" and mod.restricts
    [change] = mod.changes
    assert change.op == "added" and change.words == "For non-commercial use only"
    assert change.location.line == _line_of(text, "For non-commercial")
    assert [t.tag for t in change.tags] == ["non_commercial"]
    assert "non-commercial rider" in mod.addons
    assert "non_commercial" in {t.tag for t in match.tags}


def test_mit_grant_edited_to_non_commercial_quotes_both_sides() -> None:
    mit = _text("mit__mit.txt")
    assert "without restriction" in mit
    text = mit.replace("without restriction", "for non-commercial purposes only")
    match = identify_text(text, "LICENSE")
    mod = match.modification
    assert match.osi_approved is False and mod is not None and mod.restricts
    added = [c for c in mod.changes if c.op == "added"]
    removed = [c for c in mod.changes if c.op == "removed"]
    assert [c.words for c in added] == ["for non-commercial purposes only"]
    assert [c.words for c in removed] == ["without restriction"]
    assert "non_commercial" in {t.tag for t in added[0].tags}
    assert removed[0].text.startswith("Permission is hereby granted")


def test_mit_titled_non_commercial_is_modified_and_tagged() -> None:
    match = identify_text("MIT License (Non-Commercial)\n\n" + _text("mit__mit.txt"), "LICENSE")
    assert match.license_id == "LicenseRef-MIT-modified" and match.osi_approved is False
    mod = match.modification
    assert mod is not None and mod.changes[0].location.line == 1
    assert "non_commercial" in {t.tag for t in match.tags}


def test_commercial_purposes_sentence_is_tagged() -> None:
    text = _text("mit__mit.txt") + "\nThe Software may not be used for commercial purposes.\n"
    match = identify_text(text, "LICENSE")
    assert "non_commercial" in {t.tag for t in match.tags}
    assert match.modification is not None and match.modification.restricts


@pytest.mark.parametrize("above", [True, False])
def test_apache_with_the_commons_clause_above_or_below(above: bool) -> None:
    apache = _text("apache__2.0.txt")
    text = COMMONS_CLAUSE + "\n\n" + apache if above else apache + "\n\n" + COMMONS_CLAUSE
    match = identify_text(text, "LICENSE")
    assert match.license_id == "LicenseRef-Apache-2.0-modified"
    assert match.osi_approved is False and match.family == "apache"
    mod = match.modification
    assert mod is not None and mod.restricts
    assert "Commons Clause License Condition v1.0" in mod.addons
    assert "sale_restriction" in {t.tag for t in match.tags}
    sell = next(c for c in mod.changes if "right to Sell" in c.text)
    assert sell.location.line == _line_of(text, "Without limiting other conditions")
    assert all(c.op == "added" for c in mod.changes)


def test_cosmetic_changes_leave_the_license_as_it_is() -> None:
    mit = _text("mit__mit.txt")
    rewrapped = "\n".join(textwrap.fill(p, 50) for p in mit.split("\n\n"))
    for text in (
        "MIT License\n\nCopyright (c) 2021-2024 Someone Else and contributors\n\n" + mit,
        "# The MIT License (MIT)\n\n" + rewrapped.replace("\n", "\r\n"),
    ):
        match = identify_text(text, "LICENSE")
        assert (match.license_id, match.osi_approved, match.modification) == ("MIT", True, None)
    bsd = _text("bsd__3-clause.txt").replace("the copyright holder", "Acme Labs Inc.")
    assert identify_text(bsd, "LICENSE").license_id == "BSD-3-Clause"
    apache = _text("apache__2.0.txt")
    no_appendix = apache[: apache.index("APPENDIX: How to apply")]
    assert identify_text(no_appendix, "LICENSE").license_id == "Apache-2.0"


@pytest.mark.parametrize("entry", _manifest(), ids=lambda e: str(e["file"]))
def test_real_texts_are_neither_modified_nor_in_version_conflict(entry: dict[str, Any]) -> None:
    assert LICENSES is not None
    for match in identify_bytes((LICENSES / entry["file"]).read_bytes(), entry["file"]):
        assert match.modification is None, (entry["file"], match.note)
        assert match.version_conflict is None, (entry["file"], match.version_conflict)


# ------------------------------------------------------------ version evidence


def test_llama_31_relabelled_as_33_is_reported() -> None:
    text = _text("llama__3.1-license.txt").replace("3.1", "3.3")
    assert "July 23, 2024" in text and "llama3_1" in text
    match = identify_text(text, "LICENSE")
    assert match.family == "llama" and match.version == "3.1"
    assert match.confidence <= 0.7
    conflict = match.version_conflict
    assert conflict is not None and "3.3" in conflict and "3.1" in conflict
    bases = {e.basis: e.versions for e in match.version_evidence}
    assert (
        bases["label"] == ("3.3",) and bases["sections"] == ("3.1",) and bases["date"] == ("3.1",)
    )


def test_gemma_terms_version_from_sections_and_date() -> None:
    text = _text("gemma__tou-2025-03-24.txt")
    undated = identify_text(text.replace("Last modified: March 24, 2025", ""), "x")
    assert (undated.version, undated.version_conflict) == ("2025-03-24", None)
    assert [e.basis for e in undated.version_evidence] == ["sections"]
    mixed = identify_text(text.replace("March 24, 2025", "April 1, 2024"), "x")
    assert mixed.version == "2025-03-24"
    assert mixed.version_conflict is not None and "2024-04-01" in mixed.version_conflict
    assert mixed.location.path == "x"


def test_version_conflict_is_a_finding(tmp_path: Path) -> None:
    text = _text("llama__3.1-license.txt").replace("3.1", "3.3")
    report = _audit(_write(tmp_path / "r", {"LICENSE": text}))
    finding = next(f for f in report.findings if f.rule_id == "SW-LIC-007")
    assert any(e.line == 1 for e in finding.evidence)


def test_modified_license_file_is_a_finding_with_its_changes(tmp_path: Path) -> None:
    text = _text("mit__mit.txt") + "\nFor non-commercial use only.\n"
    root = _write(tmp_path / "r", {"LICENSE": text, "README.md": "---\nlicense: mit\n---\n"})
    report = _audit(root)
    rules = _rules(report)
    assert {"SW-LIC-006", "SW-LIC-020", "SW-LIC-030"} <= rules  # modified, NC, card ≠ file
    finding = next(f for f in report.findings if f.rule_id == "SW-LIC-006")
    assert any(
        e.line == _line_of(text, "For non") and e.path == "LICENSE" for e in finding.evidence
    )


# ------------------------------------------------------------ cards


def test_card_pasting_the_llama_32_license_under_apache_front_matter(tmp_path: Path) -> None:
    body = _text("llama__3.2-license.txt")
    card = "---\nlicense: apache-2.0\n---\n# Acme-1B\n\nA fine-tune.\n\n## License\n\n" + body
    root = _write(tmp_path / "r", {"README.md": card})
    found = _licenses(root)
    [pasted] = found.pasted
    assert pasted.source == "card-body-text" and pasted.family == "llama"
    assert pasted.version == "3.2"
    title_line = _line_of(card, "LLAMA 3.2 COMMUNITY LICENSE")
    assert pasted.location.line == title_line
    tags = {t.tag: t for t in pasted.tags}
    assert {"user_threshold", "use_policy_by_reference"} <= set(tags)
    mau = _line_of(card, "greater than 700 million monthly active users")
    assert tags["user_threshold"].location.path == "README.md"
    assert tags["user_threshold"].location.line is not None
    assert abs(tags["user_threshold"].location.line - mau) <= 2
    assert "SW-LIC-036" in _rules(_audit(root))


def test_card_naming_a_license_in_prose_pastes_nothing(tmp_path: Path) -> None:
    card = (
        "---\nlicense: llama3.2\n---\n# Model\n\nThis model is released under the Llama 3.2 "
        "Community License; users with greater than 700 million monthly active users must "
        "ask Meta.\n"
    )
    found = _licenses(_write(tmp_path / "r", {"README.md": card}))
    assert found.pasted == ()


def test_license_referenced_but_not_included(tmp_path: Path) -> None:
    card = (
        "---\nlibrary_name: transformers\n---\n# Acme\n\n## License Agreement\n\n"
        "Use of the weights is subject to the [license agreement](./LICENSE).\n"
    )
    root = _write(tmp_path / "r", {"README.md": card, "config.json": "{}"})
    found = _licenses(root)
    assert found.status == "referenced"
    assert [r.target for r in found.references] == ["./LICENSE"]
    assert found.references[0].location.line == _line_of(card, "Use of the weights")
    rules = _rules(_audit(root))
    assert "SW-LIC-009" in rules and "SW-LIC-002" not in rules
    # The same card with the file present states a license.
    _write(root, {"LICENSE": _text("apache__2.0.txt")})
    assert _licenses(root).status == "stated"


def test_no_license_at_all_is_none(tmp_path: Path) -> None:
    root = _write(tmp_path / "r", {"README.md": "# Acme\n\nWeights.\n", "config.json": "{}"})
    found = _licenses(root)
    assert found.status == "none" and found.references == ()
    assert "SW-LIC-002" in _rules(_audit(root))
    link = _write(
        tmp_path / "l", {"README.md": "---\nlicense: other\nlicense_link: LICENSE\n---\n"}
    )
    assert _licenses(link).status == "referenced"


# ------------------------------------------------------------ UTF-16


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_license_without_bom_is_read(tmp_path: Path, encoding: str) -> None:
    data = _text("llama__3.2-license.txt").encode(encoding)
    assert not data.startswith((b"\xff\xfe", b"\xfe\xff"))
    root = _write(tmp_path / "r", {"LICENSE.txt": data})
    release = open_release(root)
    assert release.files[0].kind is FileKind.LICENSE
    [match, *_] = release_licenses(release, AuditContext()).matches
    assert (match.family, match.version) == ("llama", "3.2")
    assert "UTF-16" in (match.note or "")
    assert identify_bytes(b"\x00\x01\x02\x03" * 200, "LICENSE")[0].license_id is None


# ------------------------------------------------------------ lineage names


def test_open_llama_is_not_llama(tmp_path: Path) -> None:
    kb = load_kb()
    found = kb.base_license("openlm-research/open_llama_3b_v2")
    assert found is not None and found[0].id == "Apache-2.0"
    assert kb.base_license("someone/llama_3b") is None  # 3b is a size, not Llama 3
    tiny = kb.base_license("TinyLlama/TinyLlama-1.1B-Chat-v1.0")
    assert tiny is not None and tiny[0].id == "Apache-2.0"
    llama3 = kb.base_license("meta-llama/Meta-Llama-3-8B")
    assert llama3 is not None and llama3[0].version == "3"
    card = "---\nlicense: apache-2.0\nbase_model: openlm-research/open_llama_3b_v2\n---\n# ft\n"
    rules = _rules(_audit(_write(tmp_path / "r", {"README.md": card})))
    assert not rules & {"SW-LIC-033", "SW-LIC-034"}


# ------------------------------------------------------------ explain


def test_explain_names_the_nearest_texts_and_the_changes() -> None:
    mit = _text("mit__mit.txt")
    text = mit.replace("without restriction", "for non-commercial purposes only")
    e = explain_text(text, "LICENSE")
    assert e.nearest[0].license_id == "MIT" and e.nearest[0].similarity > 0.9
    assert e.compared_with == "MIT"
    assert {c.op for c in e.changes} == {"added", "removed"}
    assert any("modified" in r for r in e.reasons)
    plain = explain_text(mit, "LICENSE")
    assert plain.changes == () and plain.matches[0].license_id == "MIT"
    assert any("change nothing" in r for r in plain.reasons)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seewhy", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_explain_in_three_formats(tmp_path: Path) -> None:
    path = tmp_path / "LICENSE"
    path.write_text(_text("llama__3.1-license.txt").replace("3.1", "3.3"), "utf-8")
    out = _run("license", str(path), "--explain")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Nearest known texts" in out.stdout and "version evidence disagrees" in out.stdout
    doc = json.loads(_run("license", str(path), "--explain", "--format", "json").stdout)
    assert doc["decision"][0]["version_conflict"] and doc["nearest"]
    md = _run("license", str(path), "--explain", "--format", "md").stdout
    assert md.startswith("## seewhy license --explain") and "### Why" in md
    folder = _run("license", str(tmp_path), "--explain")
    assert folder.returncode == 2 and "one license text file" in folder.stderr + folder.stdout
