"""Component evidence from real cards and from hostile ones.

The described releases are built from the real cards of ``shared/corpus/openness``
(OLMo-7B, Pythia, Polyglot-Ko, Granite) with the real Apache-2.0 text as LICENSE,
a real safetensors file and config.json, and audited with real license
identification; the class each must reach is the Model Openness Tool's, read from
expected.json. The bad-input cards are generated here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openness_builders import CORPUS, apache, fact_value, rule_ids, run, write_release

from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.license import LicenseAnalyzer
from seewhy.analyzers.license.model import ReleaseLicenses
from seewhy.analyzers.openness import OpennessAnalyzer, tables
from seewhy.analyzers.openness.snapshot import read_card
from seewhy.audit import audit
from seewhy.report.model import Report

OPENNESS = CORPUS / "openness"


def expected(card: str) -> dict[str, Any]:
    path = OPENNESS / "expected.json"
    if not path.is_file():
        pytest.skip("shared openness corpus not available")
    pairs = json.loads(path.read_text(encoding="utf-8"))["pairs"]
    return next(p for p in pairs if p["card_file"] == card)


def release_from_card(tmp: Path, card: str) -> Path:
    """The real card as a Hub release: README.md, weights, config.json, the Apache LICENSE."""
    root = write_release(tmp / card.removesuffix(".md"), license_file="apache__2.0.txt")
    (root / "README.md").write_bytes((OPENNESS / "cards" / card).read_bytes())
    return root


def audited(root: Path) -> Report:
    return audit(
        root,
        analyzers=[InventoryAnalyzer(), LicenseAnalyzer(), OpennessAnalyzer()],
        raise_errors=True,
    )


def component(report: Report, name: str) -> dict[str, Any]:
    value = fact_value(report, f"openness.mof.{tables.mot().component(name).slug}")
    assert isinstance(value, dict)
    return value


# ------------------------------------------------------------------ the described releases


@pytest.mark.parametrize(
    "card",
    [
        "allenai__OLMo-7B.md",  # Class I: Dolma, training code, paper, step* revisions
        "EleutherAI__pythia-160m.md",  # the Pythia cards: Class I in MOT's own entries
        "EleutherAI__polyglot-ko-12.8b.md",  # Class II: MOT's only Class II release
        "ibm-granite__granite-8b-code-instruct-4k.md",  # Class III
    ],
)
def test_real_card_releases_get_the_experts_class(tmp_path: Path, card: str) -> None:
    pair = expected(card)
    report = audited(release_from_card(tmp_path, card))
    assert fact_value(report, "openness.mof.class") == pair["mot"]["label"]
    # every component the class needs is shown with evidence: a file or a card line
    mot = tables.mot()
    needed = [c for c in mot.components if c.required and c.mof_class >= pair["mot"]["class"]]
    for c in needed:
        value = component(report, c.name)
        if c.name == "Technical report" and component(report, "Research paper")["mot"] == (
            "included"
        ):
            continue  # MOT: a research paper stands in for the technical report
        assert value["mot"] == "included", (c.name, value)
        assert value["path"], (c.name, value)


def test_olmo_evidence_is_quoted_from_the_card(tmp_path: Path) -> None:
    report = audited(release_from_card(tmp_path, "allenai__OLMo-7B.md"))
    card = (OPENNESS / "cards" / "allenai__OLMo-7B.md").read_bytes().decode().split("\n")

    def quoted(name: str) -> str:
        fact = report.fact(f"openness.mof.{tables.mot().component(name).slug}")
        assert fact is not None and fact.evidence
        e = fact.evidence[0]
        assert e.line is not None and e.excerpt
        assert e.excerpt.split("] ")[-1][:30].strip() in card[e.line - 1], (name, e)
        return card[e.line - 1]

    assert "step1000" in quoted("Model parameters (Intermediate)")
    assert "github.com/allenai/OLMo" in quoted("Training code")
    assert "arc_challenge" in quoted("Evaluation results")  # the CRLF card's results table
    assert "arc_challenge" in quoted("Evaluation data")  # public benchmarks named there
    assert "Data" in quoted("Data card")  # "### Data" pointing to the Dolma documentation


def test_osai_and_osaid_read_one_evidence_set(tmp_path: Path) -> None:
    report = audited(release_from_card(tmp_path, "EleutherAI__pythia-160m.md"))
    osaid = fact_value(report, "openness.osaid.data_information")
    data = fact_value(report, "openness.osai.datasources_endmodel")
    sheet = fact_value(report, "openness.osai.datasheet")
    assert isinstance(osaid, dict) and isinstance(data, dict) and isinstance(sheet, dict)
    assert osaid["status"] == "met"
    # the same words on both sides: the training data is described and its datasets listed
    assert "training data described" in osaid["reason"]
    assert "training data described" in data["notes"]
    assert "not described" not in data["notes"] + sheet["notes"]


# ------------------------------------------------------------------ bad input


def _osai(report: Report) -> dict[str, dict[str, Any]]:
    out = {}
    for p in tables.osai().params:
        value = fact_value(report, f"openness.osai.{p.ref}")
        assert isinstance(value, dict)
        out[p.ref] = value
    return out


def test_a_card_without_headings(tmp_path: Path) -> None:
    card = "A small model. It was trained on some data and evaluated somewhere.\n" * 5
    root = write_release(tmp_path / "plain", card=card, license_file="apache__2.0.txt")
    report = run(root, apache(root))
    grid = _osai(report)
    # what the card does not show is closed, and seewhy says so beside the grade
    for ref in ("datasources_endmodel", "trainingcode", "preprint", "paper", "datasheet"):
        assert grid[ref]["class"] == "closed", ref
        assert str(grid[ref]["not_found"]).startswith("not found in this snapshot"), ref
    assert fact_value(report, "openness.mof.class") == "Unclassified"
    assert not [r for r in rule_ids(report) if r.startswith("SW-OPEN")]


HTML_CARD = """---
license: apache-2.0
---
<h1 align="center">tiny-html</h1>
<h2>Training Data</h2>
<p>The model was pretrained on a deduplicated mixture of public web text, code and papers,
filtered for quality and language as described in the data card linked below.</p>
<h2 id="eval">Evaluation</h2>
<table>
<tr><th>Benchmark</th><th>Score</th></tr>
<tr><td>MMLU</td><td>40.1</td></tr>
<tr><td>HellaSwag</td><td>61.0</td></tr>
</table>
<p>Links without anchor text: [](https://github.com/example/tiny-html) and
<a href="https://github.com/example/tiny-html"></a> and https://example.org/x</p>
"""


def test_headings_and_tables_only_in_html(tmp_path: Path) -> None:
    root = write_release(tmp_path / "html", card=HTML_CARD, license_file="apache__2.0.txt")
    report = run(root, apache(root))
    results = component(report, "Evaluation results")
    assert results["mot"] == "included" and results["line"] is not None
    assert component(report, "Evaluation data")["mot"] == "included"
    data_card = component(report, "Data card")
    assert data_card["mot"] == "included" and data_card["line"] == 5
    text = (root / "README.md").read_bytes()
    card = read_card("README.md", text)
    assert [s.kind for s in card.sections] == ["html", "html", "html"]
    assert {link.anchor for link in card.links if "github.com" in link.url} == {""}


CHINESE_CARD = """---
license: apache-2.0
---
# 示例模型

## 训练数据

本模型在公开的中文与英文网页文本、百科、书籍和代码数据上进行预训练，数据经过去重、过滤和质量评估，
共计约两万亿个词元，具体的数据构成与清洗流程见下文和我们的技术报告。数据来源包括公开网页与开源代码仓库。
其中网页数据约占百分之六十，代码约占百分之二十，书籍与百科约占百分之二十，所有数据均经过敏感信息过滤。

## 评测

| 数据集 | 得分 |
|---|---|
| C-Eval | 60.1 |
| CMMLU | 58.2 |
| GSM8K | 40.0 |
"""


def test_chinese_headings(tmp_path: Path) -> None:
    root = write_release(tmp_path / "zh", card=CHINESE_CARD, license_file="apache__2.0.txt")
    report = run(root, apache(root))
    assert component(report, "Data card")["line"] == 6
    assert component(report, "Evaluation results")["mot"] == "included"
    assert component(report, "Evaluation data")["mot"] == "included"


BIBTEX_CARD = """---
license: apache-2.0
---
# tiny-cited

**Technical report:** [Tiny technical report](https://example.org/tiny-report.pdf)

Our paper was published at ACL 2024.

## Citation

```bibtex
@inproceedings{tiny2024,
  title = {tiny-cited: A Small Model},
  booktitle = {Proceedings of the 62nd Annual Meeting of the ACL},
  year = {2024}
}
@misc{other2023,
  title = {Some Base Model},
  eprint = {2308.12950},
}
```
"""


def test_bibtex_and_venue_citations(tmp_path: Path) -> None:
    root = write_release(tmp_path / "bib", card=BIBTEX_CARD, license_file="apache__2.0.txt")
    card = read_card("README.md", (root / "README.md").read_bytes())
    reviewed = [p for p in card.papers if p.peer_reviewed]
    assert {p.line for p in reviewed} >= {8, 13}  # the sentence and the @inproceedings entry
    assert all(p.url is None for p in reviewed)
    reports = [p for p in card.papers if p.technical_report]
    assert [p.url for p in reports] == ["https://example.org/tiny-report.pdf"]
    # the base model's paper in the same BibTeX block is not the release's own
    assert not [p for p in card.papers if p.url and "2308.12950" in p.url]
    report = run(root, apache(root))
    assert _osai(report)["paper"]["class"] == "partial"  # cited; coverage needs a reviewer
    assert component(report, "Technical report")["mot"] == "included"


def test_crlf_cards_read_like_lf_cards() -> None:
    text = "# t\n\n## Evaluations\n\n| Task | Score |\n|---|---|\n| MMLU | 1 |\n| PIQA | 2 |\n"
    lf = read_card("README.md", text.encode())
    crlf = read_card("README.md", text.replace("\n", "\r\n").encode())
    crcrlf = read_card("README.md", text.replace("\n", "\r\r\n").encode())
    assert lf.sections == crlf.sections == crcrlf.sections
    assert lf.sections[1].has_table and lf.sections[1].title == "Evaluations"


def test_a_base_model_list_of_twenty_merges(tmp_path: Path) -> None:
    bases = "\n".join(f"- example/merge-part-{i}" for i in range(20))
    card = f"---\nlicense: apache-2.0\nbase_model:\n{bases}\n---\n# merged\n\nA merge.\n"
    root = write_release(tmp_path / "merge", card=card, license_file="apache__2.0.txt")
    report = run(root, apache(root))
    base = _osai(report)["weights_basemodel"]
    assert base["class"] == "partial" and "(and 19 more)" in base["notes"]
    assert _osai(report)["datasources_basemodel"]["class"] == "closed"


def test_a_license_list_mixing_ids_and_free_text(tmp_path: Path) -> None:
    card = (
        "---\nlicense:\n- apache-2.0\n- see the LICENSE file, research use only\n---\n"
        "# mixed\n\nA model.\n"
    )
    root = write_release(tmp_path / "mixed", card=card)
    report = audit(
        root,
        analyzers=[InventoryAnalyzer(), LicenseAnalyzer(), OpennessAnalyzer()],
        raise_errors=True,
    )
    grid = _osai(report)
    # free text is not a license id: the grades never rest on a guess
    assert grid["licenses"]["class"] in ("closed", "partial")
    assert fact_value(report, "openness.mof.class") == "Unclassified"


def test_no_license_statements_is_closed_with_a_note(tmp_path: Path) -> None:
    root = write_release(tmp_path / "bare", card="# bare\n\nweights.\n")
    report = run(root, ReleaseLicenses(()))
    lic = _osai(report)["licenses"]
    assert lic["class"] == "closed" and "not found in this snapshot" in str(lic["not_found"])
