"""The performance analyzer: a card's claims beside measured runs, in a real audit.

The card and the runs are built here; the expected verdicts follow from the
numbers by hand (Wilson 95% intervals: 10/20 → [0.299, 0.701], 5/20 →
[0.112, 0.469]).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seewhy.analyzers.performance import (
    EvidenceError,
    RunEvidence,
    export_runs,
    load_evidence,
    read_export,
    with_evidence,
)
from seewhy.audit import LOAD_SAFETY_ANALYZERS, audit, default_analyzers
from seewhy.evaluation.claims import claims_from_card
from seewhy.evaluation.model import (
    ItemRecord,
    ModelFingerprint,
    RunRecord,
    RunSettings,
    stable_hash,
)
from seewhy.evaluation.stats import summarize_items
from seewhy.evaluation.store import Store
from seewhy.formats.modelcard import parse_card
from seewhy.report.json_format import format_json
from seewhy.report.markdown import format_markdown
from seewhy.report.model import Report
from seewhy.report.text import format_text

CARD = """\
---
license: apache-2.0
model-index:
- name: tiny-model
  results:
  - task: {type: text-generation}
    dataset: {name: ARC-Easy, type: arc_easy, args: {num_few_shot: 0}}
    metrics: [{type: acc, value: 50.0}]
  - task: {type: text-generation}
    dataset: {name: HellaSwag, type: hellaswag, args: {num_few_shot: 0}}
    metrics: [{type: acc, value: 90.0}]
  - task: {type: text-generation}
    dataset: {name: MMLU, type: mmlu, args: {num_few_shot: 5}}
    metrics: [{type: acc, value: 40.0}]
  - task: {type: text-generation}
    dataset: {name: GSM8K, type: gsm8k, args: {num_few_shot: 5}}
    metrics: [{type: exact_match, value: 30.0}]
---
# tiny-model

A model card with four claimed results.
"""


def measured(task: str, right: int, n: int = 20, shots: int = 0, errors: int = 0) -> RunEvidence:
    run_id = f"run-{task}"
    items = [
        ItemRecord(
            run_id=run_id,
            task=task,
            item_id=str(i),
            item_hash=stable_hash([task, i]),
            prompt_hash=stable_hash([task, "prompt", i]),
            prompt=f"{task} question {i}?",
            target="a",
            choices=("a", "b"),
            gold=0,
            choice_logprobs=(-1.0, -2.0) if i < right else (-2.0, -1.0),
            scores={"acc": 1.0 if i < right else 0.0},
            slices={"subject": "even" if i % 2 == 0 else "odd"},
            error="HTTP 500" if i >= n - errors else None,
        )
        for i in range(n)
    ]
    run = RunRecord(
        run_id=run_id,
        task=task,
        task_version="v1",
        output_type="multiple_choice",
        model=ModelFingerprint(id="tiny-model", backend="transformers", digest="d" * 64),
        settings=RunSettings(num_fewshot=shots, limit=n),
        n_items=n,
        n_errors=errors,
        metrics=summarize_items(items),
    )
    return RunEvidence(run, tuple(items), f"run {run_id}")


@pytest.fixture
def release(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny-model"
    folder.mkdir()
    (folder / "README.md").write_text(CARD, encoding="utf-8")
    (folder / "config.json").write_text("{}", encoding="utf-8")
    return folder


def evidence() -> list[RunEvidence]:
    return [
        measured("arc_easy", 10),  # 50% [29.9, 70.1]: holds the claimed 50%
        measured("hellaswag", 5),  # 25% [11.2, 46.9]: below the claimed 90%
        measured("mmlu", 8),  # 0-shot against a 5-shot claim: not comparable
    ]  # no GSM8K run: not checked


def perf_audit(folder: Path, runs: list[RunEvidence]) -> Report:
    return audit(folder, analyzers=with_evidence(default_analyzers(), runs))


def test_a_verdict_for_every_claim(release: Path) -> None:
    report = perf_audit(release, evidence())
    claims = [f for f in report.facts if f.key == "performance.claim"]
    assert len(claims) == 4
    by_benchmark = {}
    for fact in claims:
        assert isinstance(fact.value, dict)
        by_benchmark[str(fact.value["benchmark"]).split()[0]] = fact
    outcome = {k: v.value["outcome"] for k, v in by_benchmark.items() if isinstance(v.value, dict)}
    assert outcome == {
        "ARC-Easy": "reproduced",
        "HellaSwag": "not reproduced",
        "MMLU": "not checked",
        "GSM8K": "not checked",
    }
    hella = by_benchmark["HellaSwag"].value
    assert isinstance(hella, dict)
    assert (hella["claimed"], hella["measured"], hella["n"]) == (0.9, 0.25, 20)
    assert hella["ci_high"] == pytest.approx(0.469, abs=1e-3)
    # Every claim quotes the card: path, line and the text.
    for fact in claims:
        [ev] = fact.evidence
        assert ev.path == "README.md" and ev.line is not None and ev.excerpt
        line = CARD.splitlines()[ev.line - 1]
        assert "metrics" in line or "dataset" in line or "value" in line
    mmlu = by_benchmark["MMLU"].value
    assert isinstance(mmlu, dict)
    assert "5-shot" in str(mmlu["reasons"]) and "0-shot" in str(mmlu["reasons"])

    [verdict] = [v for v in report.verdicts if v.topic == "performance"]
    assert verdict.value == "not-reproduced"
    assert verdict.reason.startswith(
        "of 4 claim(s): 1 reproduced, 1 not reproduced, 2 not checked (3 measured run(s))"
    )
    rules = sorted(f.rule_id for f in report.findings if f.analyzer == "performance")
    assert rules == ["SW-PERF-001", "SW-PERF-002", "SW-PERF-003"]
    # The audit's other answers are unchanged by the evidence.
    assert {v.topic for v in report.verdicts} >= {"load_safety", "performance"}
    assert {a.analyzer for a in report.analyzers} >= LOAD_SAFETY_ANALYZERS | {"performance"}


def test_measured_runs_and_failing_slices_are_facts(release: Path) -> None:
    report = perf_audit(release, [measured("arc_easy", 10, errors=2)])
    [fact] = [f for f in report.facts if f.key == "performance.measured"]
    assert isinstance(fact.value, list)
    assert str(fact.value[0]).startswith("arc_easy 0-shot: acc 55.6% [")  # 10 of 18 scored
    assert "weights not compared" in (fact.evidence[0].note or "")
    [slices] = [f for f in report.facts if f.key == "performance.failure_slices"]
    assert isinstance(slices.value, list)
    # odd items 1..9 right (5 of 9 scored), even 0..8 right (5 of 9): both slices listed
    assert any(str(v).startswith("subject=") for v in slices.value)
    errored = [f for f in report.findings if f.rule_id == "SW-PERF-004"]
    assert len(errored) == 1 and "2 of 20 item(s) errored" in errored[0].message


def test_every_output_format_renders_the_performance_verdict(release: Path) -> None:
    report = perf_audit(release, evidence())
    assert "not-reproduced" in format_text(report, color=False, width=110, details=True)
    assert "not-reproduced" in format_markdown(report)
    doc = json.loads(format_json(report))
    assert any(v["topic"] == "performance" for v in doc["verdicts"])


def test_without_evidence_the_audit_has_no_performance_analyzer(release: Path) -> None:
    report = audit(release)
    assert "performance" not in {a.analyzer for a in report.analyzers}
    assert not [v for v in report.verdicts if v.topic == "performance"]
    names = [a.name for a in with_evidence(default_analyzers(), [])]
    assert names == [a.name for a in default_analyzers()]


def test_no_card_or_no_claims_is_not_checked(tmp_path: Path) -> None:
    folder = tmp_path / "bare"
    folder.mkdir()
    (folder / "config.json").write_text("{}", encoding="utf-8")
    [verdict] = [v for v in perf_audit(folder, evidence()).verdicts if v.topic == "performance"]
    assert verdict.value == "not-checked"
    assert "the release has no model card" in verdict.reason
    (folder / "README.md").write_text("# bare\n\nNo numbers here.\n", encoding="utf-8")
    [verdict] = [v for v in perf_audit(folder, evidence()).verdicts if v.topic == "performance"]
    assert (verdict.value, "claims no benchmark result" in verdict.reason) == ("not-checked", True)


CARDS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "cards"


@pytest.mark.parametrize(
    "name",
    [
        "bigscience__bloom.md",  # model-index results (and a table)
        "google__gemma-2b-it.md",  # benchmark tables, two model columns
    ],
)
def test_real_cards_get_a_verdict_for_every_claim(tmp_path: Path, name: str) -> None:
    manifest = json.loads((CARDS / "manifest.json").read_text(encoding="utf-8"))
    if not any(entry["file"] == name for entry in manifest):
        pytest.skip(f"{name} is not in the corpus manifest")
    text = (CARDS / name).read_bytes()
    folder = tmp_path / "release"
    folder.mkdir()
    (folder / "README.md").write_bytes(text)
    claims = claims_from_card(parse_card(text, path="README.md"))
    assert claims, f"{name} gives claims"
    report = perf_audit(folder, [measured("arc_easy", 11), measured("hellaswag", 7)])
    facts = [f for f in report.facts if f.key == "performance.claim"]
    assert len(facts) == len(claims)
    for fact in facts:
        assert isinstance(fact.value, dict)
        assert fact.value["outcome"] in {"reproduced", "not reproduced", "not checked"}
        assert fact.evidence[0].path == "README.md" and fact.evidence[0].line is not None
    [verdict] = [v for v in report.verdicts if v.topic == "performance"]
    assert verdict.reason.startswith(f"of {len(claims)} claim(s):")


def test_evidence_from_an_export_and_from_the_store(tmp_path: Path) -> None:
    runs = evidence()
    export = tmp_path / "runs.json"
    doc = {"kind": "seewhy.eval", "runs": export_runs((e.run, e.items) for e in runs)}
    export.write_text(json.dumps(doc), encoding="utf-8")
    loaded = read_export(export)
    assert [e.run for e in loaded] == [e.run for e in runs]
    assert [e.items for e in loaded] == [e.items for e in runs]

    with Store(tmp_path / "store.sqlite") as store:
        e = runs[0]
        store.put_run(e.run)
        store.put_items([(item, f"key-{n}", n) for n, item in enumerate(e.items)])
        [by_id] = load_evidence([e.run.run_id], store)
        [by_prefix] = load_evidence(["run-arc"], store)
        assert by_id.run == by_prefix.run == e.run
        assert by_id.items == e.items
        with pytest.raises(EvidenceError, match="no file and no stored run 'nope'"):
            load_evidence(["nope"], store)
        both = load_evidence([str(export), e.run.run_id], store)
        assert len(both) == 4


def test_a_broken_export_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(EvidenceError, match="is not JSON"):
        read_export(bad)
    bad.write_text(json.dumps({"runs": [{"run": {"run_id": 1}, "items": []}]}), encoding="utf-8")
    with pytest.raises(EvidenceError, match=r"runs\[0\]: "):
        read_export(bad)
    bad.write_text(json.dumps([1, 2]), encoding="utf-8")
    with pytest.raises(EvidenceError, match="not a seewhy export"):
        read_export(bad)
