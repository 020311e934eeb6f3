"""Side by side: N runs of the same task on different models, with paired statistics.

Two models measured on the same items are compared item by item: the
paired difference with its standard error and interval, McNemar's exact test
on the items where they disagree, and a paired bootstrap interval. An
unpaired test (lm-eval's ``model_comparator``) throws away the correlation
between the models' scores and over-states the uncertainty.

Runs pair only when they measured the same task on the same items: a run
whose task version differs (another data file, another template, other
items) is refused with the reason, never quietly compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from pydantic import BaseModel, ConfigDict

from seewhy.errors import SeewhyError
from seewhy.evaluation import stats
from seewhy.evaluation.analysis import (
    MIN_SLICE_ITEMS,
    TOP,
    Disagreements,
    FailureAnalysis,
    analyze_run,
    disagreements,
    is_right,
    pair_items,
    primary_metric,
)
from seewhy.evaluation.model import ItemRecord, RunRecord

BOOTSTRAP_ITERATIONS = 10_000
BOOTSTRAP_SEED = 1234


class IncomparableRunsError(SeewhyError):
    """Runs that cannot be paired (another task, another task version, no common items)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PairedComparison(_Frozen):
    """Model A against model B on the items both scored: d = score_A - score_B."""

    run_a: str
    run_b: str
    model_a: str
    model_b: str
    metric: str
    n_paired: int
    mean_a: float
    mean_b: float
    difference: float  # mean of d: A minus B
    stderr: float  # paired standard error of the mean difference
    ci_low: float  # difference ± 1.96 stderr (NaN-free: ±inf when n < 2)
    ci_high: float
    bootstrap_low: float  # 2.5 and 97.5 percentiles of the paired bootstrap
    bootstrap_high: float
    a_only: int  # items A gets right and B wrong (n10)
    b_only: int  # items B gets right and A wrong (n01)
    mcnemar_p: float  # exact, two-sided, on a_only vs b_only
    holm_p: float  # McNemar p adjusted (Holm) over every pair of the task
    unpaired_stderr: float  # sqrt(se_A² + se_B²): what an unpaired test would use
    correlation: float | None  # Pearson's r of the item scores; None when one does not vary
    disagreements: Disagreements

    @property
    def significant(self) -> bool:
        """The Holm-adjusted McNemar p-value is below 0.05."""
        return self.holm_p < 0.05


class TaskComparison(_Frozen):
    """Every run of one task side by side, each pair compared, each model's failing slices."""

    task: str
    task_version: str
    metric: str
    runs: tuple[FailureAnalysis, ...]
    pairs: tuple[PairedComparison, ...]
    notes: tuple[str, ...] = ()  # what a reader must know (different shots, errored items …)


def check_comparable(runs: Sequence[tuple[RunRecord, Sequence[ItemRecord]]]) -> list[str]:
    """Raise :class:`IncomparableRunsError` when the runs cannot be paired; else notes.

    Runs pair when they are of the same task and task version. When the
    versions differ, the message says how: which items are missing from one
    run or carry other content (their hash), or, with the same items, that
    the task's spec differs.
    """
    if len(runs) < 2:
        raise IncomparableRunsError("a comparison needs at least two runs of the same task")
    first, first_items = runs[0]
    for run, items in runs[1:]:
        if run.task != first.task:
            raise IncomparableRunsError(
                f"runs {first.run_id} and {run.run_id} measure different tasks "
                f"({first.task} and {run.task})"
            )
        if run.task_version != first.task_version:
            raise IncomparableRunsError(
                f"task {run.task}: runs {first.run_id} ({first.model.id}) and {run.run_id} "
                f"({run.model.id}) used different task versions ({first.task_version[:12]} and "
                f"{run.task_version[:12]}): {_version_difference(first_items, items)}; "
                "re-run both on the same task files"
            )
    notes: list[str] = []
    shots = {r.settings.num_fewshot for r, _ in runs}
    if len(shots) > 1:
        notes.append(f"the runs used different shot counts ({', '.join(map(str, sorted(shots)))})")
    chat = {r.settings.chat_template for r, _ in runs}
    if len(chat) > 1:
        notes.append("some runs applied the chat template and some did not")
    for run, _ in runs:
        if run.n_errors:
            notes.append(
                f"{run.model.id}: {run.n_errors} item(s) errored and are left out of the pairs"
            )
    return notes


def _version_difference(items_a: Sequence[ItemRecord], items_b: Sequence[ItemRecord]) -> str:
    hashes_a = {i.item_id: i.item_hash for i in items_a}
    hashes_b = {i.item_id: i.item_hash for i in items_b}
    changed = sorted(k for k in hashes_a.keys() & hashes_b.keys() if hashes_a[k] != hashes_b[k])
    only_a = sorted(hashes_a.keys() - hashes_b.keys())
    only_b = sorted(hashes_b.keys() - hashes_a.keys())
    parts = []
    if changed:
        parts.append(f"{len(changed)} item(s) have different content (e.g. item {changed[0]})")
    if only_a or only_b:
        example = (only_a or only_b)[0]
        parts.append(
            f"{len(only_a)} item(s) only in the first run and {len(only_b)} only in the "
            f"second (e.g. item {example})"
        )
    if not parts:
        return "the items are the same, so the task's spec (template, shots, metric) differs"
    return " and ".join(parts)


def compare_pair(
    run_a: RunRecord,
    items_a: Sequence[ItemRecord],
    run_b: RunRecord,
    items_b: Sequence[ItemRecord],
    *,
    metric: str,
    iterations: int = BOOTSTRAP_ITERATIONS,
    seed: int = BOOTSTRAP_SEED,
) -> PairedComparison:
    """A against B on the items both scored (``holm_p`` is the raw p until adjusted)."""
    pairs = pair_items(items_a, items_b, metric)
    if not pairs:
        raise IncomparableRunsError(
            f"task {run_a.task}: runs {run_a.run_id} and {run_b.run_id} have no item scored "
            f"with {metric} in both"
        )
    a = [x.scores[metric] for x, _ in pairs]
    b = [y.scores[metric] for _, y in pairs]
    diff = stats.paired_difference(a, b)
    boot = stats.paired_bootstrap(a, b, n_resamples=iterations, seed=seed)
    a_only = sum(1 for x, y in pairs if is_right(x, metric) and not is_right(y, metric))
    b_only = sum(1 for x, y in pairs if is_right(y, metric) and not is_right(x, metric))
    p = stats.mcnemar_exact(a_only, b_only).p_value
    return PairedComparison(
        run_a=run_a.run_id,
        run_b=run_b.run_id,
        model_a=run_a.model.id,
        model_b=run_b.model.id,
        metric=metric,
        n_paired=len(pairs),
        mean_a=diff.mean_a,
        mean_b=diff.mean_b,
        difference=diff.difference,
        stderr=diff.stderr,
        ci_low=diff.ci_low,
        ci_high=diff.ci_high,
        bootstrap_low=boot.ci_low,
        bootstrap_high=boot.ci_high,
        a_only=a_only,
        b_only=b_only,
        mcnemar_p=p,
        holm_p=p,
        unpaired_stderr=diff.unpaired_stderr,
        correlation=diff.correlation,
        disagreements=disagreements(run_a, items_a, run_b, items_b, metric=metric),
    )


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of ``pvalues`` (same order), capped at 1."""
    order = sorted(range(len(pvalues)), key=pvalues.__getitem__)
    adjusted = [0.0] * len(pvalues)
    running = 0.0
    m = len(pvalues)
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted


def compare_runs(
    runs: Sequence[tuple[RunRecord, Sequence[ItemRecord]]],
    *,
    metric: str | None = None,
    min_slice_items: int = MIN_SLICE_ITEMS,
    top: int = TOP,
    iterations: int = BOOTSTRAP_ITERATIONS,
    seed: int = BOOTSTRAP_SEED,
) -> TaskComparison:
    """Compare N runs of one task: every pair, and each run's failure analysis.

    Raises :class:`IncomparableRunsError` (with the reason) when the runs
    are of different tasks or task versions.
    """
    notes = check_comparable(runs)
    first, first_items = runs[0]
    metric = metric or primary_metric(first, first_items)
    analyses = tuple(
        analyze_run(run, items, metric=metric, min_slice_items=min_slice_items, top=top)
        for run, items in runs
    )
    pairs = [
        compare_pair(ra, ia, rb, ib, metric=metric, iterations=iterations, seed=seed)
        for (ra, ia), (rb, ib) in combinations(runs, 2)
    ]
    adjusted = holm([p.mcnemar_p for p in pairs])
    pairs = [p.model_copy(update={"holm_p": h}) for p, h in zip(pairs, adjusted, strict=True)]
    return TaskComparison(
        task=first.task,
        task_version=first.task_version,
        metric=metric,
        runs=analyses,
        pairs=tuple(pairs),
        notes=tuple(notes),
    )


def group_by_task(
    runs: Sequence[tuple[RunRecord, Sequence[ItemRecord]]],
) -> dict[str, list[tuple[RunRecord, Sequence[ItemRecord]]]]:
    """Runs grouped by task name, in the order first seen."""
    groups: dict[str, list[tuple[RunRecord, Sequence[ItemRecord]]]] = {}
    for run, items in runs:
        groups.setdefault(run.task, []).append((run, items))
    return groups
