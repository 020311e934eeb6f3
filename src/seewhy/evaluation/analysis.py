"""Failure analysis ("see why"): where a model fails, and on which items.

Everything here reads :class:`~seewhy.evaluation.model.ItemRecord` and
:class:`~seewhy.evaluation.model.RunRecord` only, so a run measured here and
one ingested from an lm-eval or inspect log are analysed alike:

- per-slice scores (subject, category, length bucket …) with Wilson
  intervals, and the worst slices among those with enough items to rank;
- answer-extraction failures separated from wrong answers, with examples;
- the most confident wrong answers of a multiple-choice run (the margin of
  the chosen wrong choice's log-likelihood over the gold one's);
- the score by prompt-length bucket;
- for two runs of the same task, the items one model gets right and the
  other wrong, both ways (:func:`disagreements`).

Each list names its items (``item_id``) so the items themselves are one step
away (``seewhy eval show RUN --item ID``, or the JSON output, which carries
every item).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict

from seewhy.evaluation.model import ItemRecord, RunRecord
from seewhy.evaluation.stats import wilson_interval

MIN_SLICE_ITEMS = 5
"""Fewest scored items a slice needs to be ranked among the worst."""
TOP = 5
"""How many worst slices, confident wrong answers and examples a summary keeps."""
LENGTH_BUCKETS = 4
"""Prompt-length buckets: equal-count groups by prompt length (quartiles)."""
RIGHT = 0.5
"""An item counts as right when its score of the metric is at least this."""
LENGTH_SLICE = "prompt_length"
"""The slice field :func:`analyze_run` adds for the prompt-length buckets."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ItemRef(_Frozen):
    """An item named precisely enough to look it up, with what a reader needs first."""

    item_id: str
    prompt: str
    target: str
    answer: str | None = None  # the chosen choice or the extracted answer
    response: str | None = None  # generated text
    score: float | None = None


class SliceScore(_Frozen):
    """The score of one slice (``field`` = ``value``) with its Wilson interval."""

    field: str
    value: str
    n: int
    mean: float
    ci_low: float
    ci_high: float
    below_overall: bool = False  # the whole interval lies below the run's mean


class ExtractionSummary(_Frozen):
    """Items scored wrong, split into "no answer could be read" and "a wrong answer was read"."""

    n_scored: int
    n_right: int
    n_wrong_answer: int
    n_extraction_failed: int
    extraction_failed: tuple[ItemRef, ...] = ()  # examples
    wrong_answer: tuple[ItemRef, ...] = ()  # examples


class ConfidentWrong(_Frozen):
    """A multiple-choice item answered wrong, and by how much the model preferred its answer."""

    item: ItemRef
    gold: int
    predicted: int
    margin: float  # log-likelihood of the chosen choice minus the gold one's (nats; > 0)
    gold_choice: str
    predicted_choice: str


class FailureAnalysis(_Frozen):
    """Where one run fails: the "see why" of a single model on a single task."""

    run_id: str
    task: str
    model: str
    metric: str
    n_items: int  # records read
    n_scored: int  # records with a score of ``metric`` and no error
    n_errors: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    slices: tuple[SliceScore, ...] = ()  # every slice, by field then value
    worst_slices: tuple[SliceScore, ...] = ()  # ranked, slices of MIN_SLICE_ITEMS or more
    min_slice_items: int = MIN_SLICE_ITEMS
    length_buckets: tuple[SliceScore, ...] = ()  # field "prompt_length", shortest first
    length_unit: str = "tokens"
    extraction: ExtractionSummary | None = None  # generation tasks
    confident_wrong: tuple[ConfidentWrong, ...] = ()  # multiple-choice tasks
    failing: tuple[str, ...] = ()  # every item id scored wrong, in run order
    errored: tuple[str, ...] = ()  # every item id that could not be scored


class Disagreements(_Frozen):
    """Two runs of the same task: the items one model gets right and the other wrong."""

    task: str
    metric: str
    run_a: str
    run_b: str
    model_a: str
    model_b: str
    n_paired: int
    both_right: int
    both_wrong: int
    only_a: tuple[ItemRef, ...] = ()  # A right, B wrong (A's answer in ``answer``)
    only_b: tuple[ItemRef, ...] = ()  # B right, A wrong (B's answer in ``answer``)
    answers_a: dict[str, str | None] = {}  # item id -> A's answer, for every disagreement
    answers_b: dict[str, str | None] = {}  # item id -> B's answer, for every disagreement


# -------------------------------------------------------------------- helpers


def primary_metric(run: RunRecord, items: Sequence[ItemRecord]) -> str:
    """The run's primary metric when items carry it, else the first metric items carry."""
    if any(run.primary_metric in i.scores for i in items):
        return run.primary_metric
    for item in items:
        for name in item.scores:
            return name
    return run.primary_metric


def scored(items: Iterable[ItemRecord], metric: str) -> list[ItemRecord]:
    """The items with a score of ``metric`` and no error, in order."""
    return [i for i in items if i.error is None and metric in i.scores]


def is_right(item: ItemRecord, metric: str) -> bool:
    """The item's score of ``metric`` is at least :data:`RIGHT`."""
    return item.scores.get(metric, 0.0) >= RIGHT


def answer_of(item: ItemRecord) -> str | None:
    """What the model answered: the chosen choice, else the extracted answer."""
    predicted = item.predicted
    if predicted is not None and predicted < len(item.choices):
        return item.choices[predicted]
    return item.extracted


def item_ref(item: ItemRecord, metric: str | None = None) -> ItemRef:
    """An :class:`ItemRef` of ``item`` (its score of ``metric`` when given)."""
    return ItemRef(
        item_id=item.item_id,
        prompt=item.prompt,
        target=item.target,
        answer=answer_of(item),
        response=item.response,
        score=item.scores.get(metric) if metric is not None else None,
    )


def score_interval(values: Sequence[float]) -> tuple[float, float, float]:
    """Mean and 95% Wilson interval of scores in [0, 1] (fractional scores count as such)."""
    n = len(values)
    total = math.fsum(values)
    low, high = wilson_interval(total, n)
    return total / n, low, high


def _slice_score(field: str, value: str, values: Sequence[float], overall: float) -> SliceScore:
    mean, low, high = score_interval(values)
    return SliceScore(
        field=field,
        value=value,
        n=len(values),
        mean=mean,
        ci_low=low,
        ci_high=high,
        below_overall=high < overall,
    )


def slice_scores(items: Sequence[ItemRecord], metric: str, overall: float) -> list[SliceScore]:
    """The score of every slice the scored items carry, by field then value."""
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for item in items:
        for field, value in item.slices.items():
            groups[(field, value)].append(item.scores[metric])
    return [
        _slice_score(field, value, values, overall)
        for (field, value), values in sorted(groups.items())
    ]


def worst_slices(
    slices: Iterable[SliceScore], *, min_items: int = MIN_SLICE_ITEMS, top: int = TOP
) -> list[SliceScore]:
    """The slices of at least ``min_items`` items whose interval reaches lowest.

    Ranked by the upper end of the Wilson interval (then the mean, then the
    size): a slice ranks worst when even its most favourable plausible score
    is low, so a two-item slice at 0% does not outrank fifty items at 10%.
    """
    ranked = sorted(
        (s for s in slices if s.n >= min_items),
        key=lambda s: (s.ci_high, s.mean, -s.n, s.field, s.value),
    )
    return ranked[:top]


def prompt_length(item: ItemRecord, unit: str) -> int:
    """The prompt's length in tokens (when the backend counted them) or in characters."""
    return item.input_tokens if unit == "tokens" else len(item.prompt)


def length_buckets(
    items: Sequence[ItemRecord], metric: str, overall: float, buckets: int = LENGTH_BUCKETS
) -> tuple[list[SliceScore], str]:
    """The score by prompt length: up to ``buckets`` equal-count groups, shortest first.

    Lengths are in tokens when every item's token count is known, else in
    characters (the unit is returned). Items of the same length stay in one
    bucket, so a bucket may hold more than its share.
    """
    if not items:
        return [], "tokens"
    unit = "tokens" if all(i.input_tokens > 0 for i in items) else "characters"
    ordered = sorted(items, key=lambda i: prompt_length(i, unit))
    size = max(1, math.ceil(len(ordered) / buckets))
    out: list[SliceScore] = []
    start = 0
    while start < len(ordered):
        end = min(start + size, len(ordered))
        last = prompt_length(ordered[end - 1], unit)
        while end < len(ordered) and prompt_length(ordered[end], unit) == last:
            end += 1
        group = ordered[start:end]
        low, high = prompt_length(group[0], unit), prompt_length(group[-1], unit)
        label = f"{low}" if low == high else f"{low}-{high}"
        values = [i.scores[metric] for i in group]
        out.append(_slice_score(LENGTH_SLICE, f"{label} {unit}", values, overall))
        start = end
    return out, unit


def confident_wrong(
    items: Sequence[ItemRecord], metric: str, top: int = TOP
) -> list[ConfidentWrong]:
    """Multiple-choice items answered wrong, the largest margin over the gold choice first.

    The margin is in the metric's own terms: raw log-likelihoods for ``acc``,
    log-likelihood per unit of ``choice_lengths`` (characters) for ``acc_norm`` (as lm-eval
    normalises).
    """
    norm = metric == "acc_norm"
    out: list[ConfidentWrong] = []
    for item in items:
        lps = item.choice_logprobs
        gold = item.gold
        if not lps or gold is None or not 0 <= gold < len(lps) or is_right(item, metric):
            continue
        if (
            norm
            and len(item.choice_lengths) == len(lps)
            and all(n > 0 for n in item.choice_lengths)
        ):
            values = [lp / n for lp, n in zip(lps, item.choice_lengths, strict=True)]
        else:
            values = list(lps)
        predicted = max(range(len(values)), key=values.__getitem__)
        if predicted == gold:
            continue  # scored wrong under another rule (ties): no margin to show
        choices = item.choices
        out.append(
            ConfidentWrong(
                item=item_ref(item, metric),
                gold=gold,
                predicted=predicted,
                margin=values[predicted] - values[gold],
                gold_choice=choices[gold] if gold < len(choices) else "",
                predicted_choice=choices[predicted] if predicted < len(choices) else "",
            )
        )
    out.sort(key=lambda c: (-c.margin, c.item.item_id))
    return out[:top]


def extraction_summary(
    items: Sequence[ItemRecord], metric: str, top: int = TOP
) -> ExtractionSummary:
    """Generation items: right, wrong answer read, or no answer could be read."""
    failed = [i for i in items if i.extraction_failed]
    wrong = [i for i in items if not i.extraction_failed and not is_right(i, metric)]
    return ExtractionSummary(
        n_scored=len(items),
        n_right=len(items) - len(failed) - len(wrong),
        n_wrong_answer=len(wrong),
        n_extraction_failed=len(failed),
        extraction_failed=tuple(item_ref(i, metric) for i in failed[:top]),
        wrong_answer=tuple(item_ref(i, metric) for i in wrong[:top]),
    )


# -------------------------------------------------------------------- analyses


def analyze_run(
    run: RunRecord,
    items: Sequence[ItemRecord],
    *,
    metric: str | None = None,
    min_slice_items: int = MIN_SLICE_ITEMS,
    top: int = TOP,
) -> FailureAnalysis:
    """Where ``run`` fails, from its item records (``metric``: the run's primary one)."""
    metric = metric or primary_metric(run, items)
    ok = scored(items, metric)
    errored = tuple(i.item_id for i in items if i.error is not None)
    base = {
        "run_id": run.run_id,
        "task": run.task,
        "model": run.model.id,
        "metric": metric,
        "n_items": len(items),
        "n_scored": len(ok),
        "n_errors": len(errored),
        "min_slice_items": min_slice_items,
        "errored": errored,
    }
    if not ok:
        return FailureAnalysis(mean=None, ci_low=None, ci_high=None, **base)
    mean, low, high = score_interval([i.scores[metric] for i in ok])
    slices = slice_scores(ok, metric, mean)
    buckets, unit = length_buckets(ok, metric, mean)
    generation = run.output_type == "generate_until"
    return FailureAnalysis(
        mean=mean,
        ci_low=low,
        ci_high=high,
        slices=tuple(slices),
        worst_slices=tuple(worst_slices(slices, min_items=min_slice_items, top=top)),
        length_buckets=tuple(buckets),
        length_unit=unit,
        extraction=extraction_summary(ok, metric, top) if generation else None,
        confident_wrong=() if generation else tuple(confident_wrong(ok, metric, top)),
        failing=tuple(i.item_id for i in ok if not is_right(i, metric)),
        **base,
    )


def pair_items(
    items_a: Sequence[ItemRecord], items_b: Sequence[ItemRecord], metric: str
) -> list[tuple[ItemRecord, ItemRecord]]:
    """Items scored in both runs, matched by item id and content hash, in A's order.

    An id whose content differs between the runs is not a pair (the caller
    checks task versions first, see :mod:`seewhy.evaluation.compare`).
    """
    by_id = {i.item_id: i for i in scored(items_b, metric)}
    pairs = []
    for a in scored(items_a, metric):
        b = by_id.get(a.item_id)
        if b is not None and b.item_hash == a.item_hash:
            pairs.append((a, b))
    return pairs


def disagreements(
    run_a: RunRecord,
    items_a: Sequence[ItemRecord],
    run_b: RunRecord,
    items_b: Sequence[ItemRecord],
    *,
    metric: str | None = None,
) -> Disagreements:
    """The items A gets right and B wrong, and the reverse (every one of them)."""
    metric = metric or primary_metric(run_a, items_a)
    pairs = pair_items(items_a, items_b, metric)
    only_a = [(a, b) for a, b in pairs if is_right(a, metric) and not is_right(b, metric)]
    only_b = [(a, b) for a, b in pairs if is_right(b, metric) and not is_right(a, metric)]
    both_right = sum(1 for a, b in pairs if is_right(a, metric) and is_right(b, metric))
    disagreeing = only_a + only_b
    return Disagreements(
        task=run_a.task,
        metric=metric,
        run_a=run_a.run_id,
        run_b=run_b.run_id,
        model_a=run_a.model.id,
        model_b=run_b.model.id,
        n_paired=len(pairs),
        both_right=both_right,
        both_wrong=len(pairs) - both_right - len(disagreeing),
        only_a=tuple(item_ref(a, metric) for a, _ in only_a),
        only_b=tuple(item_ref(b, metric) for _, b in only_b),
        answers_a={a.item_id: answer_of(a) for a, _ in disagreeing},
        answers_b={b.item_id: answer_of(b) for _, b in disagreeing},
    )
