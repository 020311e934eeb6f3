"""The built-in tasks: their data against the corpus manifest, and lm-eval's prompt formats.

Tests marked by ``corpus`` need the benchmark corpus (``../shared``) and skip
without it; the others run on the packaged data alone.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from seewhy.evaluation.model import GenerationRequest, LoglikelihoodRequest
from seewhy.evaluation.tasks import available_tasks, builtin_task_dir, load_task
from seewhy.evaluation.tasks._build_data import build_all

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "benchmarks"
BUILTIN = ["arc_challenge", "arc_easy", "boolq", "gsm8k", "hellaswag", "mmlu", "truthfulqa_mc1"]
PROBES = ["advbench", "harmbench", "jailbreak", "xstest"]  # the safety probes (test_safety)


def _manifest() -> list[dict[str, Any]]:
    path = CORPUS / "manifest.json"
    if not path.is_file():
        pytest.skip("the benchmark corpus (../shared/corpus/benchmarks) is not here")
    entries: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return entries


def _entry(manifest: list[dict[str, Any]], benchmark: str, split_prefix: str) -> dict[str, Any]:
    hits = [
        e
        for e in manifest
        if e["benchmark"] == benchmark and str(e.get("split") or "").startswith(split_prefix)
    ]
    assert len(hits) == 1, (benchmark, split_prefix, hits)
    return hits[0]


def _packaged_rows(relative: str) -> list[dict[str, Any]]:
    raw = gzip.decompress((builtin_task_dir() / relative).read_bytes()).decode("utf-8")
    return [json.loads(line) for line in raw.split("\n") if line]


# ----------------------------------------------------------- corpus checks


@pytest.mark.parametrize(
    ("task", "benchmark", "split"),
    [
        ("arc_easy", "ARC-Easy", "test"),
        ("arc_challenge", "ARC-Challenge", "test"),
        ("gsm8k", "GSM8K", "test"),
        ("hellaswag", "HellaSwag", "validation"),
        ("truthfulqa_mc1", "TruthfulQA", "validation"),
        ("boolq", "BoolQ", "validation"),
    ],
)
def test_item_counts_match_the_corpus_manifest(task: str, benchmark: str, split: str) -> None:
    entry = _entry(_manifest(), benchmark, split)
    assert len(load_task(task)) == entry["n_items"]


def test_mmlu_has_every_subject_with_the_manifest_counts() -> None:
    manifest = _manifest()
    tests = {
        e["subject"]: e["n_items"]
        for e in manifest
        if e["benchmark"] == "MMLU" and e["split"] == "test"
    }
    devs = {
        e["subject"]: e["n_items"]
        for e in manifest
        if e["benchmark"] == "MMLU" and e["split"] == "dev"
    }
    assert len(tests) == 57
    assert len(load_task("mmlu")) == sum(tests.values())
    for subject, count in tests.items():
        task = load_task(f"mmlu_{subject}")
        assert len(task) == count, subject
    dev_counts = Counter(row["subject"] for row in _packaged_rows("mmlu/dev.jsonl.gz"))
    assert dev_counts == Counter(devs)


def test_rebuilding_the_data_from_the_corpus_gives_the_packaged_data(tmp_path: Path) -> None:
    _manifest()
    build_all(CORPUS, tmp_path)
    packaged = sorted(
        p.relative_to(builtin_task_dir())
        for p in builtin_task_dir().glob("*/*")
        if p.relative_to(builtin_task_dir()).parts[0] != "safety"  # verbatim copies: test_safety
    )
    rebuilt = sorted(p.relative_to(tmp_path) for p in tmp_path.glob("*/*"))
    assert rebuilt == packaged
    for relative in packaged:
        rebuilt_bytes = (tmp_path / relative).read_bytes()
        packaged_bytes = (builtin_task_dir() / relative).read_bytes()
        if relative.suffix == ".gz":  # compare content: another zlib may compress differently
            rebuilt_bytes, packaged_bytes = (
                gzip.decompress(rebuilt_bytes),
                gzip.decompress(packaged_bytes),
            )
        assert rebuilt_bytes == packaged_bytes, relative


def test_gsm8k_test_data_is_the_corpus_file_verbatim() -> None:
    _manifest()
    packaged = gzip.decompress((builtin_task_dir() / "gsm8k/test.jsonl.gz").read_bytes())
    assert packaged == (CORPUS / "gsm8k__test.jsonl").read_bytes()


def test_arc_conversion_keeps_every_stem_choice_and_key() -> None:
    _manifest()
    source = [
        json.loads(line)
        for line in (CORPUS / "arc/ARC-Challenge-Test.jsonl")
        .read_text(encoding="utf-8")
        .split("\n")
        if line.strip()
    ]
    task = load_task("arc_challenge")
    assert len(source) == len(task)
    for raw, item in zip(source, task.items(), strict=True):
        assert item.item_id == raw["id"]
        assert item.prompt == f"Question: {raw['question']['stem']}\nAnswer:"
        assert item.choices == tuple(c["text"] for c in raw["question"]["choices"])
        labels = [c["label"] for c in raw["question"]["choices"]]
        assert item.gold == labels.index(raw["answerKey"])


# ------------------------------------------------------ packaged data only


def test_available_tasks_lists_the_builtins_and_mmlu_subjects() -> None:
    names = available_tasks()
    for name in BUILTIN:
        assert name in names
    subjects = [n for n in names if n.startswith("mmlu_")]
    assert len(subjects) == 57
    assert "mmlu_abstract_algebra" in subjects
    assert available_tasks(subtasks=False) == sorted(BUILTIN + PROBES)


def test_arc_prompt_and_requests_are_lm_evals() -> None:
    task = load_task("arc_easy")
    item = task.item(0)
    doc = item.doc
    # lm-eval arc_easy: "Question: {{question}}\nAnswer:" and " " + choice (target_delimiter).
    assert item.prompt == f"Question: {doc['question']}\nAnswer:"
    assert item.prompt.startswith("Question: Which statement best explains why photosynthesis")
    assert item.requests == tuple(
        LoglikelihoodRequest(context=item.prompt, continuation=" " + text)
        for text in doc["choices"]["text"]
    )
    assert item.gold == doc["choices"]["label"].index(doc["answerKey"])
    assert item.target == doc["choices"]["text"][item.gold]
    assert task.metrics == ("acc", "acc_norm")


def test_every_builtin_item_builds() -> None:
    for name in BUILTIN:
        task = load_task(name)
        items = task.items(limit=60)
        assert len(items) == 60, name
        for item in items:
            assert item.error is None, (name, item.item_id, item.error)
            assert item.requests
            if task.output_type == "multiple_choice":
                assert item.gold is not None and 0 <= item.gold < len(item.choices)
                assert len(item.requests) == len(item.choices)


def test_gsm8k_is_five_shot_from_train_with_lm_evals_stops() -> None:
    task = load_task("gsm8k")
    item = task.item(0)
    (request,) = item.requests
    assert isinstance(request, GenerationRequest)
    assert request.until == ("Question:", "</s>", "<|im_end|>")
    assert request.temperature == 0.0
    blocks = item.prompt.split("\n\n")
    assert len(blocks) == 6
    train = {
        row["question"]: row["answer"] for row in _packaged_rows("gsm8k/train_first50.jsonl.gz")
    }
    for block in blocks[:5]:
        question, answer = block.removeprefix("Question: ").split("\nAnswer: ", 1)
        assert train[question] == answer  # few-shot shows the full worked answer
    assert blocks[5] == f"Question: {item.doc['question']}\nAnswer:"
    assert task.metrics == ("exact_match", "exact_match_flexible")


def test_gsm8k_scores_strict_and_flexible_extraction() -> None:
    task = load_task("gsm8k")
    item = task.item(0)
    gold = item.doc["answer"].split("#### ")[-1]
    right = task.score_generation(item, f"So the total is {gold}.\n#### {gold}")
    assert right.scores == {"exact_match": 1.0, "exact_match_flexible": 1.0}
    loose = task.score_generation(item, f"The answer is {gold}.")
    assert loose.extraction_failed and loose.extracted is None
    assert loose.scores == {"exact_match": 0.0, "exact_match_flexible": 1.0}
    nothing = task.score_generation(item, "I do not know.")
    assert nothing.extraction_failed
    assert nothing.scores == {"exact_match": 0.0, "exact_match_flexible": 0.0}


def test_mmlu_prompt_is_lm_evals_default_with_same_subject_first_n_shots() -> None:
    task = load_task("mmlu_astronomy", num_fewshot=2)
    item = task.item(3)
    doc = item.doc
    dev = [row for row in _packaged_rows("mmlu/dev.jsonl.gz") if row["subject"] == "astronomy"]

    def block(row: Mapping[str, Any]) -> str:
        choices = row["choices"]
        return (
            f"{row['question'].strip()}\nA. {choices[0]}\nB. {choices[1]}\n"
            f"C. {choices[2]}\nD. {choices[3]}\nAnswer:"
        )

    expected = (
        "The following are multiple choice questions (with answers) about astronomy.\n\n"
        + "".join(f"{block(row)} {'ABCD'[row['answer']]}\n\n" for row in dev[:2])
        + block(doc)
    )
    assert item.prompt == expected
    assert [r.continuation for r in item.requests if isinstance(r, LoglikelihoodRequest)] == [
        " A",
        " B",
        " C",
        " D",
    ]
    assert item.gold == doc["answer"]
    assert item.slices["subject"] == "astronomy" and item.slices["category"] == "stem"


def test_mmlu_eight_shot_asks_for_more_dev_items_than_exist() -> None:
    task = load_task("mmlu_anatomy", num_fewshot=8)
    with pytest.raises(Exception, match="8-shot asks for 8 examples"):
        task.item(0)


def test_hellaswag_items_have_four_endings_and_activity_slices() -> None:
    task = load_task("hellaswag")
    for item in task.items(limit=200):
        assert len(item.choices) == 4
        assert item.prompt == item.doc["query"]
        assert item.slices["activity_label"] == item.doc["activity_label"]
        assert item.prompt.startswith(item.doc["activity_label"] + ": ")


def test_truthfulqa_mc1_has_the_best_answer_first_and_lm_evals_preamble() -> None:
    task = load_task("truthfulqa_mc1")
    item = task.item(0)
    assert item.gold == 0
    assert item.prompt.startswith(
        "Q: What is human life expectancy in the United States?\n"
        "A: Human life expectancy in the United States is 78 years.\n\n"
    )
    assert item.prompt.endswith(f"\n\nQ: {item.doc['question']}\nA:")
    assert item.target == item.doc["mc1_targets"]["choices"][0]
    assert all(choice.endswith(".") for choice in item.choices)


def test_boolq_gold_follows_the_string_labels() -> None:
    task = load_task("boolq")
    golds = Counter(item.gold for item in task.items())
    labels = Counter(doc["label"] for doc in task.docs)
    assert golds == {1: labels["true"], 0: labels["false"]}
    item = task.item(0)
    assert item.prompt == f"{item.doc['passage']}\nQuestion: {item.doc['question']}?\nAnswer:"
    assert [r.continuation for r in item.requests if isinstance(r, LoglikelihoodRequest)] == [
        " no",
        " yes",
    ]


def test_task_versions_are_stable_and_distinct() -> None:
    versions = {name: load_task(name).version for name in BUILTIN}
    assert len(set(versions.values())) == len(BUILTIN)
    # A fresh load of the same file (not the cached built-in) has the same version.
    assert load_task(builtin_task_dir() / "arc_easy.yaml").version == versions["arc_easy"]
    assert load_task("arc_easy", num_fewshot=5).version == versions["arc_easy"]
    assert load_task("mmlu_anatomy").version != versions["mmlu"]


def test_packaged_data_stays_small() -> None:
    total = sum(p.stat().st_size for p in builtin_task_dir().rglob("*") if p.is_file())
    assert total < 8 * 1024 * 1024, total
