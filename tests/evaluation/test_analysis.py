"""Failure analysis on item records built here; every expected number is checkable by hand.

Wilson 95% intervals used below (z = 1.959964): 0/4 → [0, 0.48989],
5/6 → [0.43650, 0.96995], 5/10 → [0.23659, 0.76341].
"""

from __future__ import annotations

import pytest

from seewhy.evaluation.analysis import (
    analyze_run,
    confident_wrong,
    disagreements,
    length_buckets,
    worst_slices,
)
from seewhy.evaluation.model import (
    ItemRecord,
    ModelFingerprint,
    OutputType,
    RunRecord,
    stable_hash,
)


def run(run_id: str, output_type: OutputType = "multiple_choice", metric: str = "acc") -> RunRecord:
    return RunRecord(
        run_id=run_id,
        task="demo",
        task_version="v1",
        output_type=output_type,
        model=ModelFingerprint(id=f"model-{run_id}", backend="transformers", digest=run_id),
        primary_metric=metric,
    )


def item(
    run_id: str,
    n: int,
    score: float,
    *,
    metric: str = "acc",
    slices: dict[str, str] | None = None,
    **fields: object,
) -> ItemRecord:
    doc = {"n": n, "salt": fields.pop("salt", "")}
    return ItemRecord.model_validate(
        {
            "run_id": run_id,
            "task": "demo",
            "item_id": str(n),
            "item_hash": stable_hash(doc),
            "prompt_hash": stable_hash(f"prompt {n}"),
            "prompt": f"Question {n}?",
            "target": "yes",
            "scores": {metric: score},
            "slices": slices or {},
            **fields,
        }
    )


def test_slices_with_wilson_intervals_and_the_worst_first() -> None:
    # subject a: 6 items, 5 right; subject b: 4 items, none right. Overall 5/10.
    items = [item("r", n, 1.0 if n < 5 else 0.0, slices={"subject": "a"}) for n in range(6)]
    items += [item("r", n, 0.0, slices={"subject": "b"}) for n in range(6, 10)]
    result = analyze_run(run("r"), items, min_slice_items=4)
    assert (result.n_scored, result.mean) == (10, 0.5)
    assert result.ci_low == pytest.approx(0.23659, abs=1e-5)
    assert result.ci_high == pytest.approx(0.76341, abs=1e-5)
    by_value = {s.value: s for s in result.slices}
    a, b = by_value["a"], by_value["b"]
    assert a.n == 6
    assert a.mean == pytest.approx(5 / 6)
    assert a.ci_low == pytest.approx(0.43650, abs=1e-5)
    assert a.ci_high == pytest.approx(0.96995, abs=1e-5)
    assert (b.n, b.mean, b.ci_low) == (4, 0.0, 0.0)
    assert b.ci_high == pytest.approx(0.48989, abs=1e-5)
    # b's whole interval lies below the run's 0.5; a's does not.
    assert b.below_overall and not a.below_overall
    assert [s.value for s in result.worst_slices] == ["b", "a"]
    assert result.failing == ("5", "6", "7", "8", "9")


def test_a_slice_smaller_than_the_minimum_is_not_ranked() -> None:
    items = [item("r", n, 0.0, slices={"subject": "tiny"}) for n in range(2)]
    items += [item("r", n, 1.0 if n % 2 else 0.0, slices={"subject": "big"}) for n in range(2, 12)]
    result = analyze_run(run("r"), items, min_slice_items=5)
    assert {s.value for s in result.slices} == {"tiny", "big"}
    assert [s.value for s in result.worst_slices] == ["big"]


def test_ranking_by_the_upper_bound_puts_the_surely_bad_slice_first() -> None:
    # 0/2 has mean 0 but Wilson upper 0.658; 1/20 has mean 0.05 and upper 0.236.
    items = [item("r", n, 0.0, slices={"s": "two"}) for n in range(2)]
    items += [item("r", n, 1.0 if n == 2 else 0.0, slices={"s": "twenty"}) for n in range(2, 22)]
    ranked = worst_slices(analyze_run(run("r"), items, min_slice_items=1).slices, min_items=1)
    assert [s.value for s in ranked] == ["twenty", "two"]


def test_extraction_failures_are_separate_from_wrong_answers() -> None:
    metric = "exact_match"
    items = [
        item("g", 0, 1.0, metric=metric, response="The answer is 4", extracted="4"),
        item("g", 1, 1.0, metric=metric, response="#### 9", extracted="9"),
        item("g", 2, 0.0, metric=metric, response="#### 7", extracted="7"),
        item("g", 3, 0.0, metric=metric, response="It is 12", extracted="12"),
        item("g", 4, 0.0, metric=metric, response="I am not sure", extraction_failed=True),
        item("g", 5, 0.0, metric=metric, response="", extraction_failed=True),
        item("g", 6, 0.0, metric=metric, error="HTTP 500 after 4 attempts"),
    ]
    result = analyze_run(run("g", "generate_until", metric), items)
    assert (result.n_items, result.n_scored, result.n_errors) == (7, 6, 1)
    assert result.errored == ("6",)
    ex = result.extraction
    assert ex is not None
    assert (ex.n_scored, ex.n_right, ex.n_wrong_answer, ex.n_extraction_failed) == (6, 2, 2, 2)
    assert [r.item_id for r in ex.extraction_failed] == ["4", "5"]
    assert [(r.item_id, r.answer) for r in ex.wrong_answer] == [("2", "7"), ("3", "12")]
    assert ex.extraction_failed[0].response == "I am not sure"
    assert result.confident_wrong == ()  # generation: no margin to rank by


def test_most_confident_wrong_answers_by_margin() -> None:
    choices = ("red", "green", "blue")
    items = [
        # gold 0, chose 1 by 1.5 nats
        item("m", 0, 0.0, choices=choices, gold=0, choice_logprobs=(-2.0, -0.5, -3.0)),
        # gold 1, chose 0 by 0.2 nats
        item("m", 1, 0.0, choices=choices[:2], gold=1, choice_logprobs=(-1.0, -1.2)),
        # right: not listed
        item("m", 2, 1.0, choices=choices, gold=2, choice_logprobs=(-3.0, -2.0, -0.1)),
    ]
    result = analyze_run(run("m"), items)
    assert [(c.item.item_id, c.predicted, c.gold) for c in result.confident_wrong] == [
        ("0", 1, 0),
        ("1", 0, 1),
    ]
    assert [c.margin for c in result.confident_wrong] == pytest.approx([1.5, 0.2])
    first = result.confident_wrong[0]
    assert (first.predicted_choice, first.gold_choice, first.item.answer) == (
        "green",
        "red",
        "green",
    )


def test_acc_norm_margin_is_per_character_of_the_choice() -> None:
    # raw: -4 (8 characters) vs -3 (2 characters) → acc picks choice 1 (gold, right);
    # per character: -0.5 vs -1.5 → acc_norm picks choice 0, wrong by 1.0.
    it = item(
        "m",
        0,
        0.0,
        metric="acc_norm",
        choices=("abcdefgh", "ab"),
        gold=1,
        choice_logprobs=(-4.0, -3.0),
        choice_lengths=(8, 2),
    )
    [wrong] = confident_wrong([it], "acc_norm")
    assert wrong.predicted == 0
    assert wrong.margin == pytest.approx(1.0)


def test_length_buckets_equal_count_and_ties_kept_together() -> None:
    tokens = [10, 10, 20, 30, 40, 50, 60, 70]
    items = [item("r", n, float(n % 2), input_tokens=t) for n, t in enumerate(tokens)]
    buckets, unit = length_buckets(items, "acc", 0.5)
    assert unit == "tokens"
    assert [(b.value, b.n, b.mean) for b in buckets] == [
        ("10 tokens", 2, 0.5),
        ("20-30 tokens", 2, 0.5),
        ("40-50 tokens", 2, 0.5),
        ("60-70 tokens", 2, 0.5),
    ]
    tied = [
        item("r", n, 1.0, input_tokens=t) for n, t in enumerate([10, 20, 20, 20, 30, 40, 50, 60])
    ]
    assert [b.value for b in length_buckets(tied, "acc", 1.0)[0]] == [
        "10-20 tokens",
        "30-40 tokens",
        "50-60 tokens",
    ]


def test_length_in_characters_when_tokens_are_unknown() -> None:
    items = [item("r", n, 1.0, prompt="x" * (n + 1)) for n in range(4)]
    items.append(item("r", 4, 0.0, prompt="y" * 50, input_tokens=12))
    buckets, unit = length_buckets(items, "acc", 0.8)
    assert unit == "characters"
    assert buckets[-1].value == "50 characters"
    assert analyze_run(run("r"), items).length_unit == "characters"


def test_disagreements_both_ways() -> None:
    # A right on 1, 2, 3; B right on 2, 3, 4, 5; item 6 wrong for both;
    # item 7 has other content in B's run: not a pair.
    a_items = [item("a", n, 1.0 if n in (1, 2, 3) else 0.0) for n in range(1, 8)]
    b_items = [item("b", n, 1.0 if n in (2, 3, 4, 5) else 0.0) for n in range(1, 7)]
    b_items.append(item("b", 7, 1.0, salt="edited"))
    d = disagreements(run("a"), a_items, run("b"), b_items)
    assert (d.n_paired, d.both_right, d.both_wrong) == (6, 2, 1)
    assert [r.item_id for r in d.only_a] == ["1"]
    assert [r.item_id for r in d.only_b] == ["4", "5"]
    assert d.only_a[0].prompt == "Question 1?"
    assert set(d.answers_a) == set(d.answers_b) == {"1", "4", "5"}
    assert (d.model_a, d.model_b) == ("model-a", "model-b")


def test_a_run_without_scores_is_analysed_without_crashing() -> None:
    items = [item("r", n, 0.0, error="prompt longer than the context") for n in range(3)]
    result = analyze_run(run("r"), items)
    assert (result.n_scored, result.n_errors, result.mean) == (0, 3, None)
    assert result.slices == () and result.failing == ()
