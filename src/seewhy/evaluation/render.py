"""Text, Markdown and JSON of evaluation runs and comparisons (what ``seewhy eval`` prints).

A run is shown with its metrics and intervals, the card's claims beside the
measurements, its failure analysis and its failing items; text and Markdown
show a few items and say how to get every one (``seewhy eval show``), JSON
carries every item. Pure functions: nothing here reads files or the store.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from seewhy._version import __version__
from seewhy.analyzers.performance.evidence import EXPORT_FORMAT, EXPORT_KIND
from seewhy.evaluation.analysis import FailureAnalysis, ItemRef, SliceScore
from seewhy.evaluation.claims import ClaimVerdict, describe_verdict
from seewhy.evaluation.compare import PairedComparison, TaskComparison
from seewhy.evaluation.model import ItemRecord, RunRecord
from seewhy.report.humanize import clip

SHOWN_ITEMS = 5
"""Items a text or Markdown report lists per list (JSON carries every item)."""
PROMPT_CHARS = 160
"""Characters of a prompt shown beside an item id in text and Markdown."""


@dataclass
class RunView:
    """One run as the commands show it: the record, its items, analysis and claims."""

    run: RunRecord
    items: Sequence[ItemRecord]
    analysis: FailureAnalysis
    claims: list[ClaimVerdict] = field(default_factory=list)
    origin: str = ""  # "measured", "cached", a log file's path …


def pct(value: float | None) -> str:
    """``0.4237`` → ``42.4%``; unknown → ``?``."""
    if value is None or math.isnan(value):
        return "?"
    return f"{value:.1%}"


def pts(value: float) -> str:
    """A difference of proportions in percentage points, signed."""
    if math.isnan(value) or math.isinf(value):
        return "?" if math.isnan(value) else ("+inf" if value > 0 else "-inf")
    return f"{value * 100:+.1f}"


def _one_line(text: str, limit: int = PROMPT_CHARS) -> str:
    return clip(" ".join(text.split()), limit)


def _own_part(prompt: str, limit: int = PROMPT_CHARS) -> str:
    """The item's own part of a prompt: its last block, after any few-shot examples.

    Few-shot examples and fixed preambles come first and are the same for
    every item, so the start of a prompt does not tell two items apart.
    """
    blocks = [b for b in prompt.split("\n\n") if b.strip()]
    return _one_line(blocks[-1] if blocks else prompt, limit)


def _p(value: float) -> str:
    return f"{value:.3g}" if value >= 0.001 else "<0.001"


def _settings(run: RunRecord) -> str:
    s = run.settings
    parts = [f"{s.num_fewshot}-shot"]
    if s.chat_template:
        parts.append("chat template")
    if s.limit is not None:
        parts.append(f"limit {s.limit}, seed {s.seed}")
    return ", ".join(parts)


def _model_line(run: RunRecord) -> str:
    m = run.model
    parts = [m.backend]
    if m.quantization:
        parts.append(m.quantization)
    elif m.dtype:
        parts.append(m.dtype)
    parts.append(f"sha256 {m.digest[:12]}" if m.backend == "transformers" else m.digest[:12])
    return f"{m.id} ({', '.join(parts)})"


def _slice_text(s: SliceScore) -> str:
    below = " — below the run's interval" if s.below_overall else ""
    return f"{s.field}={s.value}: {pct(s.mean)} [{pct(s.ci_low)}, {pct(s.ci_high)}] n={s.n}{below}"


def _item_text(ref: ItemRef) -> str:
    answer = f' answered "{_one_line(ref.answer, 40)}"' if ref.answer is not None else ""
    return (
        f'item {ref.item_id}:{answer} (target "{_one_line(ref.target, 40)}") — '
        f"{_own_part(ref.prompt)}"
    )


def _ids(ids: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", … ({len(ids) - limit} more)" if len(ids) > limit else "")


# ---------------------------------------------------------------------- text


def run_text(view: RunView, *, show_items: int = SHOWN_ITEMS) -> list[str]:
    """The text lines of one run."""
    run, a = view.run, view.analysis
    origin = f", {view.origin}" if view.origin else ""
    lines = [
        f"{run.task}  (run {run.run_id}, {_settings(run)}, {run.n_items} items{origin})",
        f"  model: {_model_line(run)}",
    ]
    if run.source != "seewhy":
        lines.append(f"  ingested from {run.source}: {run.source_path or '?'}")
    for m in run.metrics:
        mark = "*" if m.metric == a.metric else " "
        lines.append(
            f"  {mark}{m.metric:<22} {pct(m.value):>7}  [{pct(m.ci_low)}, {pct(m.ci_high)}]"
            f"  stderr {pct(m.stderr)}  n={m.n}"
        )
    if run.n_errors:
        lines.append(
            f"  {run.n_errors} item(s) could not be scored (errored): {_ids(a.errored)} — "
            f"seewhy eval show {run.run_id} --errored"
        )
    if view.claims:
        lines.append("  Claims of the card beside the measurement:")
        lines += [f"    {describe_verdict(v)}" for v in view.claims]
    lines += analysis_text(a, run, show_items=show_items)
    return lines


def analysis_text(
    a: FailureAnalysis, run: RunRecord, *, show_items: int = SHOWN_ITEMS
) -> list[str]:
    """Where the run fails, in text lines (indented two spaces)."""
    lines: list[str] = []
    if a.mean is None:
        lines.append(f"  nothing scored with {a.metric}: no failure analysis")
        return lines
    lines.append(f"  Where it fails ({a.metric}):")
    if a.worst_slices:
        lines.append(f"    worst slices (of {a.min_slice_items}+ items, by upper bound):")
        lines += [f"      {_slice_text(s)}" for s in a.worst_slices]
    elif a.slices:
        lines.append(f"    no slice has {a.min_slice_items}+ items to rank")
    if a.length_buckets:
        lines.append(f"    by prompt length ({a.length_unit}):")
        lines += [
            f"      {s.value}: {pct(s.mean)} [{pct(s.ci_low)}, {pct(s.ci_high)}] n={s.n}"
            for s in a.length_buckets
        ]
    ex = a.extraction
    if ex is not None:
        lines.append(
            f"    answers: {ex.n_right} right, {ex.n_wrong_answer} wrong answer(s) read, "
            f"{ex.n_extraction_failed} with no answer extracted"
        )
        for ref in ex.extraction_failed[:show_items]:
            response = _one_line(ref.response or "", 80)
            lines.append(f'      no answer in item {ref.item_id}: "{response}"')
    if a.confident_wrong:
        lines.append("    most confident wrong answers (log-likelihood margin over the gold):")
        for c in a.confident_wrong[:show_items]:
            lines.append(
                f'      item {c.item.item_id}: chose "{_one_line(c.predicted_choice, 40)}" over '
                f'"{_one_line(c.gold_choice, 40)}" by {c.margin:.2f} — '
                f"{_own_part(c.item.prompt, 90)}"
            )
    if a.failing:
        lines.append(
            f"    failing items: {len(a.failing)} of {a.n_scored} ({_ids(a.failing)}); every one: "
            f"seewhy eval show {run.run_id} --failing"
        )
    return lines


def eval_text(views: Sequence[RunView], *, notes: Sequence[str] = ()) -> str:
    """The text report of ``seewhy eval``."""
    lines = [f"seewhy {__version__} — evaluation"]
    lines += [f"note: {n}" for n in notes]
    for view in views:
        lines.append("")
        lines += run_text(view)
    lines += [
        "",
        "* primary metric. Intervals are 95% (Wilson for 0/1 scores). Every item, with its "
        "prompt and answer: --format json, or seewhy eval show RUN.",
    ]
    return "\n".join(lines) + "\n"


def pair_text(p: PairedComparison, *, show_items: int = SHOWN_ITEMS) -> list[str]:
    """A pair of a comparison in text lines."""
    holm = f", Holm-adjusted {_p(p.holm_p)}" if p.holm_p != p.mcnemar_p else ""
    verdict = (
        f"{p.model_a if p.difference > 0 else p.model_b} is better (p < 0.05)"
        if p.significant
        else "no evidence of a difference at these sizes (p ≥ 0.05)"
    )
    lines = [
        f"    {p.model_a} − {p.model_b}: {pts(p.difference)} points on {p.n_paired} paired items "
        f"({pct(p.mean_a)} vs {pct(p.mean_b)})",
        f"      paired SE {pts(p.stderr).lstrip('+')} (unpaired would be "
        f"{pts(p.unpaired_stderr).lstrip('+')}); 95% CI [{pts(p.ci_low)}, {pts(p.ci_high)}]; "
        f"paired bootstrap [{pts(p.bootstrap_low)}, {pts(p.bootstrap_high)}]",
        f"      McNemar exact p = {_p(p.mcnemar_p)}{holm} ({p.a_only} items only {p.model_a} gets "
        f"right, {p.b_only} only {p.model_b}) — {verdict}",
    ]
    d = p.disagreements
    for name, refs in ((p.model_a, d.only_a), (p.model_b, d.only_b)):
        if not refs:
            continue
        lines.append(f"      right only for {name} ({len(refs)}):")
        lines += [f"        {_item_text(r)}" for r in refs[:show_items]]
        if len(refs) > show_items:
            lines.append(f"        … {len(refs) - show_items} more (--format json lists all)")
    return lines


def compare_text(comparisons: Sequence[TaskComparison], *, notes: Sequence[str] = ()) -> str:
    """The text report of ``seewhy compare``."""
    lines = [f"seewhy {__version__} — comparison"]
    lines += [f"note: {n}" for n in notes]
    for c in comparisons:
        lines += ["", f"{c.task} ({c.metric}; task version {c.task_version[:12]})"]
        lines += [f"  note: {n}" for n in c.notes]
        width = max(len(a.model) for a in c.runs)
        for a in c.runs:
            lines.append(
                f"  {a.model:<{width}}  {pct(a.mean):>7}  [{pct(a.ci_low)}, {pct(a.ci_high)}]  "
                f"n={a.n_scored}  (run {a.run_id})"
            )
        lines.append("  Paired differences (A − B, percentage points):")
        for p in c.pairs:
            lines += pair_text(p)
        lines.append("  Where each model fails:")
        for a in c.runs:
            worst = "; ".join(_slice_text(s) for s in a.worst_slices[:3]) or (
                f"no slice of {a.min_slice_items}+ items"
            )
            lines.append(f"    {a.model}: {worst}")
            if a.extraction is not None and a.extraction.n_extraction_failed:
                lines.append(
                    f"      no answer extracted from {a.extraction.n_extraction_failed} of "
                    f"{a.n_scored} items"
                )
            if a.failing:
                lines.append(
                    f"      failing items: {len(a.failing)} — seewhy eval show {a.run_id} --failing"
                )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ markdown


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def run_markdown(view: RunView, *, show_items: int = SHOWN_ITEMS) -> list[str]:
    """The Markdown of one run."""
    run, a = view.run, view.analysis
    lines = [
        f"## {_md(run.task)}",
        "",
        f"Model: `{_md(_model_line(run))}` · {_settings(run)} · {run.n_items} items · "
        f"run `{run.run_id}`",
        "",
        "| metric | value | 95% interval | stderr | n |",
        "|---|---:|---|---:|---:|",
    ]
    for m in run.metrics:
        name = f"**{m.metric}**" if m.metric == a.metric else m.metric
        lines.append(
            f"| {name} | {pct(m.value)} | [{pct(m.ci_low)}, {pct(m.ci_high)}] | "
            f"{pct(m.stderr)} | {m.n} |"
        )
    if view.claims:
        lines += ["", "**Claims of the card beside the measurement**", ""]
        lines += [f"- {_md(describe_verdict(v))}" for v in view.claims]
    if a.mean is not None:
        lines += ["", f"**Where it fails** ({a.metric})", ""]
        if a.worst_slices or a.length_buckets:
            lines += ["| slice | score | 95% interval | n |", "|---|---:|---|---:|"]
            for s in (*a.worst_slices, *a.length_buckets):
                flag = " ⬇" if s.below_overall else ""
                lines.append(
                    f"| {_md(s.field)}={_md(s.value)}{flag} | {pct(s.mean)} | "
                    f"[{pct(s.ci_low)}, {pct(s.ci_high)}] | {s.n} |"
                )
            lines.append("")
        ex = a.extraction
        if ex is not None:
            lines.append(
                f"- answers: {ex.n_right} right, {ex.n_wrong_answer} wrong answer(s) read, "
                f"{ex.n_extraction_failed} with no answer extracted"
            )
        for c in a.confident_wrong[:show_items]:
            lines.append(
                f"- confidently wrong, item `{_md(c.item.item_id)}`: chose "
                f'"{_md(_one_line(c.predicted_choice, 40))}" over '
                f'"{_md(_one_line(c.gold_choice, 40))}" '
                f"by {c.margin:.2f} nats"
            )
        if a.failing:
            lines.append(
                f"- failing items: {len(a.failing)} of {a.n_scored} ({_md(_ids(a.failing))}); "
                f"every one: `seewhy eval show {run.run_id} --failing`"
            )
    return lines


def eval_markdown(views: Sequence[RunView], *, notes: Sequence[str] = ()) -> str:
    """The Markdown report of ``seewhy eval``."""
    lines = [f"# seewhy {__version__} — evaluation", ""]
    lines += [f"> {n}" for n in notes]
    for view in views:
        lines += ["", *run_markdown(view)]
    lines += ["", "Intervals are 95% (Wilson for 0/1 scores). Every item: `--format json`."]
    return "\n".join(lines) + "\n"


def compare_markdown(comparisons: Sequence[TaskComparison], *, notes: Sequence[str] = ()) -> str:
    """The Markdown report of ``seewhy compare``."""
    lines = [f"# seewhy {__version__} — comparison", ""]
    lines += [f"> {n}" for n in notes]
    for c in comparisons:
        lines += ["", f"## {_md(c.task)} ({c.metric})", ""]
        lines += [f"> {_md(n)}" for n in c.notes]
        lines += ["| model | score | 95% interval | n |", "|---|---:|---|---:|"]
        for a in c.runs:
            lines.append(
                f"| {_md(a.model)} | {pct(a.mean)} | [{pct(a.ci_low)}, {pct(a.ci_high)}] | "
                f"{a.n_scored} |"
            )
        lines += [
            "",
            "| A − B | difference (pts) | paired SE | 95% CI | bootstrap | McNemar p | "
            "A only | B only |",
            "|---|---:|---:|---|---|---:|---:|---:|",
        ]
        for p in c.pairs:
            lines.append(
                f"| {_md(p.model_a)} − {_md(p.model_b)} | {pts(p.difference)} | "
                f"{pts(p.stderr).lstrip('+')} | [{pts(p.ci_low)}, {pts(p.ci_high)}] | "
                f"[{pts(p.bootstrap_low)}, {pts(p.bootstrap_high)}] | {_p(p.holm_p)} | "
                f"{p.a_only} | {p.b_only} |"
            )
        lines += ["", "Where each model fails:", ""]
        for a in c.runs:
            worst = "; ".join(_slice_text(s) for s in a.worst_slices[:3]) or "no slice to rank"
            lines.append(f"- **{_md(a.model)}**: {_md(worst)}; {len(a.failing)} failing item(s)")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- json


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def claim_json(v: ClaimVerdict) -> dict[str, Any]:
    """A claim verdict as JSON, with its one-line description."""
    doc = dataclasses.asdict(v)
    doc["text"] = describe_verdict(v)
    return doc


def view_json(view: RunView) -> dict[str, Any]:
    """One run with its analysis, claims and every item."""
    return {
        "run": view.run.model_dump(mode="json"),
        "origin": view.origin,
        "analysis": view.analysis.model_dump(mode="json"),
        "claims": [claim_json(v) for v in view.claims],
        "items": [i.model_dump(mode="json") for i in view.items],
    }


def _document(kind: str, body: dict[str, Any]) -> str:
    doc = {"kind": kind, "format_version": EXPORT_FORMAT, "seewhy": __version__, **body}
    return json.dumps(_finite(doc), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def eval_json(
    views: Sequence[RunView],
    *,
    notes: Sequence[str] = (),
    safety: Sequence[dict[str, Any]] = (),
) -> str:
    """The JSON of ``seewhy eval``: an export ``seewhy audit --evidence FILE`` reads back.

    ``safety`` holds the summary of each safety probe run (rates with intervals per
    category and wrapper, verdict counts, warnings, redacted examples), written under
    ``"safety"`` when there is one.
    """
    body: dict[str, Any] = {"notes": list(notes), "runs": [view_json(v) for v in views]}
    if safety:
        body["safety"] = list(safety)
    return _document(EXPORT_KIND, body)


def compare_json(
    comparisons: Sequence[TaskComparison],
    views: Sequence[RunView],
    *,
    notes: Sequence[str] = (),
    safety_drift: Sequence[dict[str, Any]] = (),
) -> str:
    """The JSON of ``seewhy compare``: the comparisons and every run with its items, and
    under ``"safety_drift"`` the drift of each later probe run from the first of its task."""
    body: dict[str, Any] = {
        "notes": list(notes),
        "comparisons": [c.model_dump(mode="json") for c in comparisons],
        "runs": [view_json(v) for v in views],
    }
    if safety_drift:
        body["safety_drift"] = list(safety_drift)
    return _document(EXPORT_KIND, body)


def item_text(item: ItemRecord) -> str:
    """Everything about one item, for ``seewhy eval show``."""
    lines = [f"item {item.item_id} of {item.task} (run {item.run_id})"]
    if item.slices:
        lines.append("  slices: " + ", ".join(f"{k}={v}" for k, v in item.slices.items()))
    lines.append("  scores: " + (", ".join(f"{k}={v:g}" for k, v in item.scores.items()) or "none"))
    if item.error:
        lines.append(f"  error: {item.error}")
    lines.append("  prompt:")
    lines += [f"    | {line}" for line in item.prompt.splitlines() or [""]]
    lines.append(f"  target: {item.target!r}")
    predicted = item.predicted
    for n, choice in enumerate(item.choices):
        marks = ("gold " if n == item.gold else "") + ("chosen" if n == predicted else "")
        lp = f"{item.choice_logprobs[n]:.4f}" if n < len(item.choice_logprobs) else "?"
        lines.append(f"  [{n}] logprob {lp:>10}  {choice!r} {marks}".rstrip())
    if item.response is not None:
        lines.append(f"  response: {item.response!r}")
        failed = " (extraction failed)" if item.extraction_failed else ""
        lines.append(f"  extracted: {item.extracted!r}{failed}")
    lines.append(
        f"  tokens in/out: {item.input_tokens}/{item.output_tokens}; latency {item.latency_s:.3f}s"
    )
    return "\n".join(lines)
