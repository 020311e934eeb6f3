"""The report reads top-down, on real releases.

Verdicts, then findings by severity, then facts, then the framework grids; a
short terminal view by default and everything with ``details``; repeated
findings grouped with a count; no title said twice; no quote cut mid-word
without an ellipsis; untrusted names that cannot break a Markdown table; bytes
read that say why they exceed the release; and one answer per card question.
"""

from __future__ import annotations

import itertools
import json
import pickle
import re
import shutil
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import markdown_it
import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from make_example_release import write_example_release
from seewhy.analyzers.license import identify_texts
from seewhy.audit import audit
from seewhy.report.grouping import MAX_EVIDENCE
from seewhy.report.humanize import ELLIPSIS, clip, headline
from seewhy.report.json_format import format_json
from seewhy.report.markdown import format_markdown
from seewhy.report.model import Report, Severity
from seewhy.report.sarif import format_sarif
from seewhy.report.text import format_text

LICENSES = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "licenses"
SEVERITIES = {s.value: s for s in Severity}


def _manifest() -> list[dict[str, object]]:
    path = LICENSES / "manifest.json"
    if not path.is_file():
        pytest.skip(f"{path} missing (the shared license corpus)")
    entries: list[dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))
    return entries


def _llama3_texts() -> list[str]:
    """The corpus's Llama 3.x license files (license and use policy)."""
    return sorted(
        str(e["file"])
        for e in _manifest()
        if e.get("family") == "llama" and str(e.get("variant", "")).startswith("3")
    )


def _llama_release(root: Path, license_file: str) -> Path:
    """The example release with a real Llama 3.x license (and use policy) in place of Apache."""
    rel = write_example_release(root / "rel")
    shutil.copyfile(LICENSES / license_file, rel / "LICENSE")
    policy = license_file.replace("-license", "-use-policy")
    if policy != license_file and (LICENSES / policy).is_file():
        shutil.copyfile(LICENSES / policy, rel / "USE_POLICY.md")
    return rel


@pytest.fixture(scope="module")
def llama_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    if "llama__3.1-license.txt" not in _llama3_texts():
        pytest.skip("the Llama 3.1 license is not in the corpus")
    return audit(_llama_release(tmp_path_factory.mktemp("llama"), "llama__3.1-license.txt"))


@pytest.fixture(scope="module")
def torch_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real ``torch.save`` of 300 tensors (a zip of 306 entries)."""
    rel = tmp_path_factory.mktemp("torch300")
    torch.save({f"layer{i}.weight": torch.zeros(4) for i in range(300)}, rel / "pytorch_model.bin")
    return rel


def _titled_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


def _position(lines: list[str], title: str) -> int:
    return lines.index(title)


def _text_severities(text: str) -> list[Severity]:
    """Severities of the rows of the text findings table, in order."""
    out = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 4 and cells[0] in SEVERITIES:
            out.append(SEVERITIES[cells[0]])
    return out


def _non_increasing(severities: list[Severity]) -> bool:
    return all(a.rank >= b.rank for a, b in itertools.pairwise(severities))


# ------------------------------------------------------------------ order


def test_text_reads_verdicts_findings_facts_grids(llama_report: Report) -> None:
    text = format_text(llama_report, width=200, details=True)
    lines = _titled_lines(text)
    order = [
        _position(lines, title)
        for title in (
            "Verdicts",
            "Findings",
            "Facts",
            "Model Openness Framework components",
            "European Open Source AI Index",
        )
    ]
    assert order == sorted(order)
    severities = _text_severities(text)
    assert set(severities) >= {Severity.MEDIUM, Severity.INFO}
    assert _non_increasing(severities)


def test_markdown_reads_verdicts_findings_facts_grids(llama_report: Report) -> None:
    doc = format_markdown(llama_report)
    heads = [
        "### Verdicts",
        "### Findings",
        "### Facts",
        "### Model Openness Framework components",
        "### European Open Source AI Index",
    ]
    positions = [doc.index(h + "\n") for h in heads]
    assert positions == sorted(positions)
    severities = [
        SEVERITIES[m.group(1).lower()] for m in re.finditer(r"^- \*\*([A-Z]+)\*\*", doc, re.M)
    ]
    assert len(severities) == len(llama_report.findings)
    assert _non_increasing(severities)


# ------------------------------------------------------------------ short view


def test_default_text_view_is_short_and_details_shows_everything(torch_release: Path) -> None:
    report = audit(torch_release)
    assert any(f.severity is Severity.INFO for f in report.findings)
    short = format_text(report, width=200)
    full = format_text(report, width=200, details=True)
    short_lines, full_lines = _titled_lines(short), _titled_lines(full)
    # Short: verdicts, findings above info, key facts, one line on coverage, a pointer to more.
    assert "Verdicts" in short_lines and "Key facts" in short_lines
    assert Severity.INFO not in _text_severities(short)
    assert sum(1 for line in short_lines if line.startswith("Coverage: ")) == 1
    assert "Model Openness Framework components" not in short_lines
    assert "Coverage: every file" not in short_lines
    assert "--details" in short
    # Details: info findings, every fact, the grids and the coverage table.
    assert Severity.INFO in _text_severities(full)
    for title in (
        "Facts",
        "Model Openness Framework components",
        "European Open Source AI Index",
        "Coverage: every file",
    ):
        assert title in full_lines
    assert len(full) > len(short)
    for fact in report.facts:
        if fact.key == "parameter_count":
            assert fact.label in short


def test_short_view_names_files_not_fully_checked(tmp_path: Path) -> None:
    # A 7z archive cannot be opened by seewhy: named in the one coverage line.
    (tmp_path / "weights.7z").write_bytes(b"7z\xbc\xaf\x27\x1c" + b"\0" * 64)
    report = audit(tmp_path)
    short = format_text(report, width=200)
    line = next(x for x in short.splitlines() if x.startswith("Not fully checked"))
    assert "weights.7z" in line and "not known to be clean" in line


# ------------------------------------------------------------------ grouping


def test_torch_save_of_300_tensors_is_one_grouped_finding(torch_release: Path) -> None:
    with zipfile.ZipFile(torch_release / "pytorch_model.bin") as zf:
        descriptors = sum(1 for info in zf.infolist() if info.flag_bits & 0x08)
    assert descriptors > 300
    report = audit(torch_release)
    counts: dict[str, int] = {}
    for f in report.findings:
        counts[f.rule_id] = counts.get(f.rule_id, 0) + 1
    assert max(counts.values()) == 1, counts
    flags = [f for f in report.findings if "data descriptor" in f.message]
    assert len(flags) == 1
    grouped = flags[0]
    assert grouped.occurrences == descriptors  # listed ones plus the parser's "N more"
    assert 1 < len(grouped.evidence) <= MAX_EVIDENCE
    assert {e.path for e in grouped.evidence} == {"pytorch_model.bin"}
    # Every format says the same.
    doc = json.loads(format_json(report))
    assert [f["occurrences"] for f in doc["findings"] if f["rule_id"] == grouped.rule_id] == [
        descriptors
    ]
    sarif = json.loads(format_sarif(report))
    results = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == grouped.rule_id]
    assert len(results) == 1
    assert results[0]["properties"]["occurrences"] == descriptors
    assert f"{descriptors} occurrences" in results[0]["message"]["text"]
    assert len(results[0]["relatedLocations"]) == len(grouped.evidence) - 1
    assert format_markdown(report).count(f"{descriptors} occurrences") == 1
    assert format_text(report, width=200, details=True).count(f"{descriptors} occurrences") == 1


class _Reduce:
    """Pickles as a call of ``os.system`` (never run: the audit does not unpickle)."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("true",))


@pytest.mark.parametrize("n_files", [3, MAX_EVIDENCE + 5])
def test_grouping_never_hides_a_file_at_high(tmp_path: Path, n_files: int) -> None:
    names = [f"part{i:02d}/model.pkl" for i in range(n_files)]
    for name in names:
        (tmp_path / name).parent.mkdir()
        (tmp_path / name).write_bytes(pickle.dumps(_Reduce(), protocol=2))
    report = audit(tmp_path)
    high = [f for f in report.findings if f.severity.rank >= Severity.HIGH.rank]
    assert high
    for rule in {f.rule_id for f in high}:
        shown = {e.path for f in high if f.rule_id == rule for e in f.evidence}
        assert shown == set(names), rule
    assert report.verdict("load_safety").value == "unsafe"  # type: ignore[union-attr]


# ------------------------------------------------------------------ titles and quotes


@pytest.mark.parametrize("license_file", _llama3_texts() if LICENSES.is_dir() else [])
def test_no_title_said_twice(tmp_path: Path, license_file: str) -> None:
    report = audit(_llama_release(tmp_path, license_file))
    assert report.findings
    outputs = [format_text(report, width=400, details=True), format_markdown(report)]
    for f in report.findings:
        title = re.escape(f.title)
        doubled = re.compile(rf"{title}\W+{title}", re.IGNORECASE)
        assert not doubled.search(headline(f))
        for out in outputs:
            assert not doubled.search(out), (f.rule_id, f.title)


def test_clip_cuts_at_a_word_boundary_with_an_ellipsis() -> None:
    text = "This Agreement will be governed and construed under the laws of the State"
    assert clip(text, len(text)) == text
    for limit in range(20, len(text)):  # words are shorter than the boundary reach
        out = clip(text, limit)
        assert len(out) <= limit
        assert out.endswith(ELLIPSIS)
        body = out[: -len(ELLIPSIS)]
        assert text.startswith(body)
        assert not text[len(body)].isalnum()  # never mid-word when a space is near
    assert clip("x" * 50, 10) == "x" * 9 + ELLIPSIS  # one long word: cut where it must be


def test_license_quotes_never_end_mid_word() -> None:
    checked = 0
    for entry in _manifest():
        raw = (LICENSES / str(entry["file"])).read_text(encoding="utf-8")
        flat = " ".join(raw.split())
        for match in identify_texts(raw, "LICENSE"):
            for tag in match.tags:
                body = " ".join(tag.quote.strip(ELLIPSIS).split())
                at = flat.find(body)
                if at < 0 or tag.quote.endswith(ELLIPSIS):
                    continue
                checked += 1
                after = flat[at + len(body) : at + len(body) + 1]
                assert not after.isalnum(), (entry["file"], tag.tag, tag.quote[-40:])
    assert checked > 50


# ------------------------------------------------------------------ markdown tables


class _Cells(HTMLParser):
    """The rows of the last table of an HTML fragment, as cell texts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_untrusted_names_do_not_break_markdown_tables(tmp_path: Path) -> None:
    rel = tmp_path / "rel"
    rel.mkdir()
    names = ["w|x.safetensors", "a`b`|<b>c<i>*d*.json", "new\nline|name.txt", "back\\|slash.txt"]
    save_file({"w": np.zeros(4, dtype=np.float32)}, str(rel / names[0]))
    (rel / names[1]).write_text('{"a": 1}', encoding="utf-8")
    (rel / names[2]).write_text("hello\n", encoding="utf-8")
    (rel / names[3]).write_text("hello\n", encoding="utf-8")
    report = audit(rel)
    doc = format_markdown(report)
    renderer = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table")
    parser = _Cells()
    parser.feed(renderer.render(doc))
    coverage = parser.tables[-1]
    assert coverage[0] == ["File", "Kind", "Size", "Status"]
    assert all(len(row) == 4 for row in coverage)
    # The cell shows the report's path (names are escaped reversibly; newlines become spaces).
    shown = sorted(" ".join(c.path.split()) for c in report.coverage)
    assert len(shown) == len(names) and all("|" in path for path in shown)
    assert sorted(row[0] for row in coverage[1:]) == shown
    for table in parser.tables:
        assert len({len(row) for row in table}) == 1  # no row split by a stray pipe


# ------------------------------------------------------------------ bytes read


def test_bytes_hashed_apart_from_bytes_parsed(example_release: Path) -> None:
    plain = audit(example_release)
    hashed = audit(example_release, hash_files=True)
    rel = hashed.release
    assert rel.bytes_hashed == rel.total_bytes  # every byte hashed once
    assert plain.release.bytes_hashed == 0
    assert rel.bytes_read - rel.bytes_hashed == plain.release.bytes_read
    header = format_text(hashed, width=200)
    assert "read to hash" in header and "read to parse" in header
    assert "read to hash" in format_markdown(hashed)


def test_bytes_read_beyond_the_release_say_why(torch_release: Path) -> None:
    report = audit(torch_release)
    rel = report.release
    parsed = rel.bytes_read - rel.bytes_hashed
    for out in (format_text(report, width=200), format_markdown(report)):
        said = "more than the release" in out
        assert said == (parsed > rel.total_bytes)


# ------------------------------------------------------------------ one truth per card


def test_card_topics_agree_with_the_mof_grid(example_release: Path) -> None:
    report = audit(example_release)
    results = report.fact("openness.mof.evaluation_results")
    card = report.fact("openness.osai.modelcard")
    assert results is not None and isinstance(results.value, dict)
    assert card is not None and isinstance(card.value, dict)
    # The card's model-index is evaluation results for the MOF grid ...
    assert results.value["status"] != "unknown" and results.value["path"] == "README.md"
    # ... so the index's model-card grade counts the evaluation topic as covered.
    notes = str(card.value["notes"])
    covered = notes.split("topics", 1)[1].split("missing:", 1)[0]  # "(evaluation, ...)"
    assert "evaluation" in covered
    assert " 0 of" not in notes


def test_hub_cache_snapshot_names_repo_and_revision(example_release: Path, tmp_path: Path) -> None:
    repo = tmp_path / "hub" / "models--org--tiny-llama"
    snapshot = repo / "snapshots" / "0123abcd"
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd", encoding="utf-8")
    for i, name in enumerate(("config.json", "README.md")):
        blob = repo / "blobs" / f"{i:040x}"
        shutil.copyfile(example_release / name, blob)
        (snapshot / name).symlink_to(Path("..", "..", "blobs", blob.name))
    report = audit(snapshot)
    assert report.release.repo_id == "org/tiny-llama"
    for out in (format_text(report, width=200), format_markdown(report)):
        assert "Hugging Face cache" in out
        assert "org/tiny-llama @ 0123abcd (refs: main)" in out
