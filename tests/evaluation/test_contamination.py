"""The contamination probe: Min-K% on hand-made log-probabilities, the perturbations,
usage errors of ``seewhy eval contamination`` (a real process), and one run on
SmolLM2 over 5 GSM8K items (marker ``models``)."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from seewhy.evaluation.contamination import (
    CAVEATS,
    item_text,
    min_k_prob,
    perturb,
    probe_json,
    probe_task,
    probe_text,
    shared_preamble,
    split_first_word,
)
from seewhy.evaluation.stats import paired_difference
from seewhy.evaluation.tasks import load_task

if TYPE_CHECKING:
    from seewhy.evaluation.backends.transformers_backend import TransformersBackend

# ------------------------------------------------------------------ Min-K%


def test_min_k_averages_the_lowest_share() -> None:
    lps = [-1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0, -9.0, -10.0]
    assert min_k_prob(lps, 0.2) == pytest.approx(-9.5)  # the 2 lowest of 10
    assert min_k_prob(lps, 0.5) == pytest.approx(-8.0)  # -6 … -10
    assert min_k_prob(lps, 1.0) == pytest.approx(-5.5)  # the plain mean


def test_min_k_order_does_not_matter_and_truncates() -> None:
    assert min_k_prob([-0.1, -4.0, -0.2, -3.0, -0.3], 0.2) == pytest.approx(-4.0)  # int(1.0)
    assert min_k_prob([-0.5, -2.5, -1.5, -0.25, -3.5, -0.75, -0.1], 0.3) == pytest.approx(
        (-3.5 + -2.5) / 2  # int(7 × 0.3) = 2
    )


def test_min_k_takes_at_least_one_token() -> None:
    assert min_k_prob([-0.5, -2.0, -0.1], 0.2) == pytest.approx(-2.0)  # int(0.6) = 0 → 1
    assert min_k_prob([-0.7], 0.2) == pytest.approx(-0.7)


@pytest.mark.parametrize("k", [0.0, -0.1, 1.5, math.nan])
def test_min_k_rejects_a_bad_k(k: float) -> None:
    with pytest.raises(ValueError, match="k must be"):
        min_k_prob([-1.0, -2.0], k)


@pytest.mark.parametrize("values", [[], [-1.0, 0.5], [-1.0, math.nan]])
def test_min_k_rejects_bad_log_probabilities(values: list[float]) -> None:
    with pytest.raises(ValueError):
        min_k_prob(values)


# ------------------------------------------------------------ perturbation

TEXT = "Tom has 12 apples and buys 12 more for $3 each.\nAnswer: 12 + 12 = 24, paid 36 in 2020."


def test_numbers_are_replaced_consistently_with_the_same_width() -> None:
    control = perturb(TEXT, scheme="numbers", seed=7)
    assert control == perturb(TEXT, scheme="numbers", seed=7)  # deterministic
    assert re.sub(r"\d+", "#", control) == re.sub(r"\d+", "#", TEXT)  # only numbers change
    before, after = re.findall(r"\d+", TEXT), re.findall(r"\d+", control)
    mapping = dict(zip(before, after, strict=True))
    for old, new in zip(before, after, strict=True):
        assert new != old
        assert len(new) == len(old)
        assert not (len(new) > 1 and new.startswith("0"))
        assert mapping[old] == new  # every 12 becomes the same number
    assert perturb(TEXT, scheme="numbers", seed=8) != control  # the seed matters


def test_a_text_without_digits_is_not_perturbed_by_numbers() -> None:
    text = "Which gas do plants take in?\nAnswer: carbon dioxide"
    assert perturb(text, scheme="numbers") == text


def test_shuffle_keeps_each_sentence_s_words_and_the_lines() -> None:
    text = "The red ball rolls down the hill. It stops at the wall!\nAnswer: the wall"
    control = perturb(text, scheme="shuffle", seed=3)
    assert control != text
    assert control.count("\n") == text.count("\n")
    assert sorted(control.split()) == sorted(text.split())
    assert control == perturb(text, scheme="shuffle", seed=3)


def test_shuffle_of_a_two_word_sentence_always_changes_it() -> None:
    for seed in range(20):
        assert perturb("hello world", scheme="shuffle", seed=seed) == "world hello"


def test_shared_preamble_is_cut_at_a_line() -> None:
    texts = ["Q: a?\nA: b\n\nQ: what is x?", "Q: a?\nA: b\n\nQ: who is y?"]
    assert shared_preamble(texts) == "Q: a?\nA: b\n\n"
    assert shared_preamble(["Question: one", "Question: two"]) == ""
    assert shared_preamble(["only one\ntext"]) == ""


def test_split_first_word() -> None:
    assert split_first_word("Question: how many?") == ("Question:", " how many?")
    assert split_first_word("single") is None
    assert split_first_word("  trailing   ") is None


def test_item_text_is_the_zero_shot_question_and_the_gold_answer() -> None:
    task = load_task("arc_easy", num_fewshot=0)
    index = task.select(1)[0]
    item = task.item(index)
    text = item_text(task, index)
    assert text is not None
    assert text.startswith("Question: ")
    assert text.endswith(task.spec.target_delimiter + item.target)


# ----------------------------------------------------------------------- CLI


def seewhy(*args: str, store: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SEEWHY_STORE=str(store), TOKENIZERS_PARALLELISM="false")
    return subprocess.run(
        [sys.executable, "-m", "seewhy", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--tasks is required"),
        (("--tasks", "gsm8k", "--perturbation", "reverse"), "--perturbation must be one of"),
        (("--tasks", "gsm8k", "--k", "0"), "--k must be in (0, 1]"),
        (("--tasks", "gsm8k", "--limit", "0"), "--limit must be at least 1"),
        (("--tasks", "no_such_task_xyz"), "no_such_task_xyz"),
    ],
)
def test_contamination_usage_errors(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    done = seewhy("eval", "contamination", str(model), *args, store=tmp_path / "s.sqlite")
    assert done.returncode == 2, done.stderr
    assert message in done.stderr


# -------------------------------------------------------------- real model


@pytest.mark.models
def test_probe_on_smollm2_gsm8k(smollm2_backend: TransformersBackend) -> None:
    task = load_task("gsm8k", num_fewshot=0)
    probe = probe_task(task, smollm2_backend, limit=5, seed=1234)
    assert probe.compared == 5 and probe.errors == 0 and probe.unchanged == 0
    for item in probe.items:
        assert item.original is not None and item.control_score is not None
        assert item.original <= 0 and item.control_score <= 0
        assert item.tokens > 5 and item.control_tokens > 5
        assert item.text != item.control
    # The comparison is the paired difference of the items' own values.
    expected = paired_difference(
        [i.original or 0.0 for i in probe.items], [i.control_score or 0.0 for i in probe.items]
    )
    assert probe.difference is not None
    assert probe.difference.difference == pytest.approx(expected.difference)
    assert probe.difference.ci_low == pytest.approx(expected.ci_low)
    higher = sum(1 for i in probe.items if (i.original or 0) > (i.control_score or 0))
    assert probe.original_higher == higher
    # Scoring is deterministic: the same item scores the same twice.
    again = probe_task(task, smollm2_backend, limit=1, seed=1234)
    first = next(i for i in probe.items if i.item_id == again.items[0].item_id)
    assert again.items[0].original == pytest.approx(first.original, abs=1e-5)

    text = probe_text([probe], smollm2_backend.fingerprint())
    assert "gsm8k" in text and "original − control" in text
    for caveat in CAVEATS:
        assert caveat in text
    doc = json.loads(probe_json([probe], smollm2_backend.fingerprint()))
    assert doc["caveats"] == list(CAVEATS)
    assert len(doc["tasks"][0]["items"]) == 5
    assert doc["tasks"][0]["difference"]["n"] == 5
