"""The performance analyzer: the card's claims beside measured runs.

It runs only when the user gives evidence (``seewhy audit --evidence RUN…``):
measured runs from the evaluation store or a JSON export. It reads the
release's model card only (through the audit's shared card parse), never the
weights; nothing of the release is run. For every claimed result of the
card (its ``model-index`` — the inventory's ``claimed_results`` — and its
Markdown benchmark tables) it gives one of three answers:

- **reproduced**: a comparable measurement's 95% interval holds the claim,
  or lies above it (the claim holds as a floor);
- **not reproduced**: the interval lies below the claim (SW-PERF-001);
- **not checked**: no run of the benchmark (SW-PERF-003), or a run whose
  set-up differs in a way that makes the numbers incomparable (SW-PERF-002,
  each difference spelled out).

Each claim is a ``performance.claim`` fact quoting the card (path, line,
text) with the measured value, interval, z and n beside it. The measured
runs, their worst slices and any errored items are facts and findings too,
and a ``performance`` verdict sums it up.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import PurePosixPath

from seewhy.analyzers.interface import AnalyzerResult, AuditContext, ResultBuilder, parsed_card
from seewhy.analyzers.performance.evidence import RunEvidence
from seewhy.errors import ReleaseReadError
from seewhy.evaluation.analysis import analyze_run
from seewhy.evaluation.claims import ClaimVerdict, check_claims, claims_from_card, describe_verdict
from seewhy.formats.modelcard import ModelCard
from seewhy.release.model import FileKind, Release, ReleaseFile
from seewhy.report.model import Evidence

NAME = "performance"
RULE_BELOW = "SW-PERF-001"
RULE_NOT_COMPARABLE = "SW-PERF-002"
RULE_NOT_CHECKED = "SW-PERF-003"
RULE_ERRORED = "SW-PERF-004"
MAX_CLAIM_FACTS = 200
"""Claims reported one by one (a card with more is summarised by count)."""

# What each claim status of seewhy.evaluation.claims counts as.
OUTCOME = {
    "consistent": "reproduced",
    "above_claim": "reproduced",
    "below_claim": "not reproduced",
    "not_comparable": "not checked",
    "not_checked": "not checked",
}


def _depth(path: str) -> int:
    return path.count("/")


def pick_card(release: Release) -> ReleaseFile | None:
    """The release's top-level model card (``README.md`` first), if any."""
    cards = [f for f in release.files if f.kind is FileKind.MODEL_CARD]
    if not cards:
        return None
    return min(
        cards, key=lambda f: (_depth(f.path), PurePosixPath(f.path).name != "README.md", f.path)
    )


def _pct(value: float | None) -> str:
    return "?" if value is None or math.isnan(value) else f"{value:.1%}"


class PerformanceAnalyzer:
    """Claims of the card checked against measured runs (see the module's docstring)."""

    name = NAME

    def __init__(self, evidence: Sequence[RunEvidence], model_name: str | None = None) -> None:
        self.evidence = tuple(evidence)
        self.model_name = model_name

    def analyze(self, release: Release, ctx: AuditContext) -> AnalyzerResult:
        """Measured results, claim verdicts, failing slices and the performance verdict."""
        b = ResultBuilder(NAME, ctx.rules)
        self._measured(b, release)
        card_file = pick_card(release)
        card: ModelCard | None = None
        card_note = ""
        if card_file is None:
            card_note = "the release has no model card"
        else:
            try:
                card = parsed_card(release, card_file, ctx.cache).card
            except ReleaseReadError as exc:
                card_note = f"its model card could not be read ({exc.reason})"
        from seewhy.evaluation.safety.audit import add_safety_section

        # safety probe runs: fact and findings; the card's base model suggests a drift check
        add_safety_section(b, self.evidence, card.base_model if card is not None else ())
        verdicts: list[ClaimVerdict] = []
        if card is not None:
            claims = claims_from_card(card)
            runs = [e.run for e in self.evidence]
            verdicts = check_claims(claims, runs, model_name=self.model_name)
            if not claims:
                card_note = f"{card.path} claims no benchmark result (model-index or table)"
        for verdict in verdicts[:MAX_CLAIM_FACTS]:
            self._claim(b, verdict)
        self._verdict(b, verdicts, card_note)
        return b.result

    # ----------------------------------------------------------- measured runs

    def _measured(self, b: ResultBuilder, release: Release) -> None:
        hashes = {h: f.path for f in release.files if (h := release.known_sha256(f)) is not None}
        lines: list[str | int | float | bool | None] = []
        evidence: list[Evidence] = []
        for e in self.evidence:
            run = e.run
            metric = next((m for m in run.metrics if m.metric == run.primary_metric), None)
            value = (
                f"{metric.metric} {_pct(metric.value)} [{_pct(metric.ci_low)}, "
                f"{_pct(metric.ci_high)}] (n={metric.n})"
                if metric is not None
                else "no score"
            )
            shots = f"{run.settings.num_fewshot}-shot"
            lines.append(f"{run.task} {shots}: {value} — {run.model.id} ({run.source})")
            weights = hashes.get(run.model.digest)
            if weights is not None:
                bound = f"measured these weights ({weights}, sha256 match)"
            elif hashes:
                bound = "the measured weights' digest matches no file of this release"
            else:
                bound = "weights not compared (audit with --hash to compare digests)"
            evidence.append(Evidence(note=f"{e.origin}: {bound}"))
            if run.n_errors:
                b.finding(
                    RULE_ERRORED,
                    f"{run.task} on {run.model.id}: {run.n_errors} of {run.n_items} item(s) "
                    "errored and are not in the score",
                    (Evidence(note=e.origin),),
                )
            self._slices(b, e)
        if lines:
            b.fact("performance.measured", "Measured results (evidence runs)", lines, evidence)

    def _slices(self, b: ResultBuilder, e: RunEvidence) -> None:
        analysis = analyze_run(e.run, e.items)
        if not analysis.worst_slices and analysis.extraction is None:
            return
        values: list[str | int | float | bool | None] = [
            f"{s.field}={s.value}: {_pct(s.mean)} [{_pct(s.ci_low)}, {_pct(s.ci_high)}] "
            f"(n={s.n}){' below the run' if s.below_overall else ''}"
            for s in analysis.worst_slices
        ]
        ex = analysis.extraction
        if ex is not None and ex.n_extraction_failed:
            values.append(
                f"no answer could be extracted from {ex.n_extraction_failed} of "
                f"{ex.n_scored} item(s); {ex.n_wrong_answer} answered wrong"
            )
        if values:
            b.fact(
                "performance.failure_slices",
                f"Where {e.run.model.id} fails on {e.run.task} ({analysis.metric})",
                values,
                [Evidence(note=f"{e.origin}; items: seewhy eval show {e.run.run_id}")],
            )

    # ------------------------------------------------------------------ claims

    def _claim(self, b: ResultBuilder, v: ClaimVerdict) -> None:
        claim = v.claim
        outcome = OUTCOME[v.status]
        line = describe_verdict(v)
        ev = Evidence(
            path=claim.source.path,
            line=claim.source.line,
            excerpt=claim.source.quote[:240] or None,
            note=f"{outcome}: {line}",
        )
        value: dict[str, str | int | float | bool | None] = {
            "benchmark": claim.display,
            "model": claim.model,
            "claimed": claim.value,
            "claimed_as_written": claim.raw_value,
            "measured": v.measured,
            "ci_low": v.ci_low,
            "ci_high": v.ci_high,
            "z": None if v.z is None or not math.isfinite(v.z) else v.z,
            "n": v.n,
            "metric": v.metric,
            "status": v.status,
            "outcome": outcome,
            "reasons": "; ".join(r.text for r in v.reasons) or None,
            "runs": ", ".join(v.run_ids) or None,
        }
        b.fact("performance.claim", f"Claim: {claim.display}", value, (ev,))
        if v.status == "below_claim":
            b.finding(RULE_BELOW, line, (ev,))
        elif v.status == "not_comparable":
            b.finding(RULE_NOT_COMPARABLE, line, (ev,))
        elif v.status == "not_checked":
            b.finding(RULE_NOT_CHECKED, line, (ev,))

    def _verdict(self, b: ResultBuilder, verdicts: Sequence[ClaimVerdict], card_note: str) -> None:
        counts = Counter(OUTCOME[v.status] for v in verdicts)
        reproduced = counts["reproduced"]
        refuted = counts["not reproduced"]
        unchecked = counts["not checked"]
        runs = len(self.evidence)
        if not verdicts:
            b.verdict(
                "performance",
                "not-checked",
                f"{runs} measured run(s) but no claim to check: {card_note}",
            )
            return
        summary = (
            f"of {len(verdicts)} claim(s): {reproduced} reproduced, {refuted} not reproduced, "
            f"{unchecked} not checked ({runs} measured run(s))"
        )
        if refuted:
            value = "not-reproduced"
        elif reproduced and not unchecked:
            value = "reproduced"
        elif reproduced:
            value = "partly-checked"
        else:
            value = "not-checked"
        shown = [v for v in verdicts if v.status == "below_claim"] + [
            v for v in verdicts if OUTCOME[v.status] == "reproduced"
        ]
        evidence = [
            Evidence(path=v.claim.source.path, line=v.claim.source.line, note=describe_verdict(v))
            for v in shown[:5]
        ]
        b.verdict("performance", value, summary, evidence)
