"""Paired comparison of runs built here; the expected numbers are worked out by hand."""

from __future__ import annotations

import pytest

from seewhy.evaluation.compare import (
    IncomparableRunsError,
    check_comparable,
    compare_runs,
    holm,
)
from seewhy.evaluation.model import (
    ItemRecord,
    ModelFingerprint,
    RunRecord,
    RunSettings,
    stable_hash,
)


def run(run_id: str, version: str = "v1", shots: int = 0, errors: int = 0) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        task="demo",
        task_version=version,
        output_type="multiple_choice",
        model=ModelFingerprint(id=f"model-{run_id}", backend="transformers", digest=run_id),
        settings=RunSettings(num_fewshot=shots),
        n_errors=errors,
    )


def item(run_id: str, n: int, right: bool, salt: str = "", subject: str = "s") -> ItemRecord:
    return ItemRecord(
        run_id=run_id,
        task="demo",
        item_id=str(n),
        item_hash=stable_hash({"n": n, "salt": salt}),
        prompt_hash=stable_hash(n),
        prompt=f"Question {n}?",
        target="yes",
        scores={"acc": 1.0 if right else 0.0},
        slices={"subject": subject},
    )


def items(run_id: str, right: set[int], n: int = 10) -> list[ItemRecord]:
    return [item(run_id, i, i in right) for i in range(n)]


def test_paired_difference_mcnemar_and_bootstrap() -> None:
    # A right on 0-4 (5/10), B right on 1-7 (7/10).
    # d = A - B: +1 on item 0, -1 on items 5, 6, 7, 0 elsewhere; mean -0.2.
    # Σ(d - d̄)² = 1.2² + 6·0.2² + 3·0.8² = 3.6; sd = √(3.6/9) = 0.63246; SE = 0.2.
    # 95% interval -0.2 ± 1.95996·0.2 = [-0.59199, 0.19199].
    # McNemar exact: n10 = 1, n01 = 3: p = 2·P(X ≤ 1 | 4, ½) = 2·5/16 = 0.625.
    a, b = run("a"), run("b")
    result = compare_runs([(a, items("a", {0, 1, 2, 3, 4})), (b, items("b", set(range(1, 8))))])
    [pair] = result.pairs
    assert (pair.n_paired, pair.mean_a, pair.mean_b) == (10, 0.5, 0.7)
    assert pair.difference == pytest.approx(-0.2)
    assert pair.stderr == pytest.approx(0.2)
    assert pair.ci_low == pytest.approx(-0.59199, abs=1e-5)
    assert pair.ci_high == pytest.approx(0.19199, abs=1e-5)
    assert (pair.a_only, pair.b_only) == (1, 3)
    assert pair.mcnemar_p == pytest.approx(0.625)
    assert pair.holm_p == pytest.approx(0.625)  # one pair: nothing to adjust
    assert not pair.significant
    # The bootstrap interval holds the observed difference and lies within the possible range.
    assert -1.0 <= pair.bootstrap_low <= -0.2 <= pair.bootstrap_high <= 1.0
    # Unpaired SE √(0.5·0.5/9 + 0.7·0.3/9) = 0.22608 is larger than the paired 0.2.
    assert pair.unpaired_stderr == pytest.approx(0.22608, abs=1e-5)
    assert [r.item_id for r in pair.disagreements.only_a] == ["0"]
    assert [r.item_id for r in pair.disagreements.only_b] == ["5", "6", "7"]
    # Each model's failure analysis travels with the comparison.
    assert [r.mean for r in result.runs] == [0.5, 0.7]


def test_three_runs_give_three_pairs_with_holm_adjusted_p_values() -> None:
    runs = [(run(x), items(x, right)) for x, right in (("a", {0}), ("b", {0, 1}), ("c", set()))]
    result = compare_runs(runs)
    assert [(p.model_a, p.model_b) for p in result.pairs] == [
        ("model-a", "model-b"),
        ("model-a", "model-c"),
        ("model-b", "model-c"),
    ]
    # raw exact p: a vs b (0, 1) → 1; a vs c (1, 0) → 1; b vs c (2, 0) → 0.5
    assert [p.mcnemar_p for p in result.pairs] == pytest.approx([1.0, 1.0, 0.5])
    assert [p.holm_p for p in result.pairs] == pytest.approx([1.0, 1.0, 1.0])


def test_holm_by_hand() -> None:
    # sorted 0.01, 0.03, 0.04 → 3·0.01 = 0.03; 2·0.03 = 0.06; max(0.06, 1·0.04) = 0.06
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_refuses_runs_of_different_task_versions_and_says_which_items_differ() -> None:
    a_items = items("a", {0})
    b_items = items("b", {0})
    b_items[3] = item("b", 3, False, salt="edited")
    with pytest.raises(IncomparableRunsError) as caught:
        compare_runs([(run("a", "v1"), a_items), (run("b", "v2"), b_items)])
    message = str(caught.value)
    assert "different task versions" in message
    assert "1 item(s) have different content (e.g. item 3)" in message


def test_refusal_names_missing_items_or_a_changed_spec() -> None:
    with pytest.raises(IncomparableRunsError, match=r"2 item\(s\) only in the first run"):
        check_comparable(
            [(run("a", "v1"), items("a", set(), 5)), (run("b", "v2"), items("b", set(), 3))]
        )
    with pytest.raises(IncomparableRunsError, match="the task's spec"):
        check_comparable([(run("a", "v1"), items("a", set())), (run("b", "v2"), items("b", set()))])


def test_refuses_other_tasks_and_a_single_run() -> None:
    other = run("b").model_copy(update={"task": "other"})
    with pytest.raises(IncomparableRunsError, match="different tasks"):
        check_comparable([(run("a"), []), (other, [])])
    with pytest.raises(IncomparableRunsError, match="at least two runs"):
        check_comparable([(run("a"), [])])


def test_notes_name_different_shots_and_errored_items() -> None:
    notes = check_comparable([(run("a", shots=0), []), (run("b", shots=5, errors=2), [])])
    assert "the runs used different shot counts (0, 5)" in notes
    assert "model-b: 2 item(s) errored and are left out of the pairs" in notes


def test_no_common_scored_item_is_refused() -> None:
    a_items = items("a", {0}, 3)
    b_items = [item("b", n, True) for n in range(10, 13)]
    with pytest.raises(IncomparableRunsError, match="no item scored"):
        compare_runs([(run("a"), a_items), (run("b"), b_items)])
