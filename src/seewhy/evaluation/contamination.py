"""Contamination probe: Min-K% Prob of benchmark items against perturbed copies of them.

Min-K% Prob (Shi et al., arXiv 2310.16789) averages the log-probabilities of
the k% least likely tokens of a text; a text the model saw in training tends
to have fewer very unlikely tokens, so a higher (less negative) value. The
paper sets a threshold on a calibration set; we have none for an arbitrary
model, so instead of a threshold each item is paired with a **control**: the
same item perturbed so that its exact text is unlikely to be in any training
set. A model that memorised the benchmark should find the originals more
familiar than the controls by more than fluency alone explains.

What is scored. The item text is the task's zero-shot ``doc_to_text`` (no
description, no few-shot examples) + ``target_delimiter`` + the gold answer
(the right choice, or a generation task's reference — GSM8K's whole worked
solution). Lines every selected item starts with (a fixed preamble, as in
TruthfulQA's prompt) are dropped first. The text's first whitespace-delimited
word is the context and everything after it is scored, token by token, through the backend's
``loglikelihood`` (so the tokenisation is the one the backend uses to score
answers; with a BOS-adding model the BOS is context, never a scored token).

Perturbations (deterministic: ``random.Random`` seeded by the seed and the
item's hash):

* ``numbers`` (default): every run of digits becomes another number with the
  same number of digits (no leading zero unless the original was ``0``),
  never the original, the same replacement for each occurrence within the
  item. Fluency barely changes; what changes is exactly what a model that
  memorised the item would remember (GSM8K's quantities, the years and
  amounts of MMLU and ARC). Items without digits cannot be perturbed and
  are left out of the comparison (their number is reported).
* ``shuffle``: the words of each sentence are shuffled (lines and sentence
  ends kept). Every item of two or more words changes, but the control is
  much less fluent, so originals score higher even for a model that never saw
  them: read the difference against another model's, not against zero.

The report gives, per task, the mean Min-K% of originals and controls, their
paired difference (original − control) with its 95% interval
(:func:`seewhy.evaluation.stats.paired_difference`) and the share of items
whose original scores higher, with :data:`CAVEATS`.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from seewhy.errors import UsageError
from seewhy.evaluation.model import (
    Backend,
    BackendError,
    LoglikelihoodRequest,
    ModelFingerprint,
    stable_hash,
)
from seewhy.evaluation.stats import PairedDifference, paired_difference
from seewhy.evaluation.tasks import DEFAULT_SEED, Task

Perturbation = Literal["numbers", "shuffle"]
PERTURBATIONS: tuple[Perturbation, ...] = ("numbers", "shuffle")
DEFAULT_K = 0.2
_BATCH = 32
_MAX_TEXT_CHARS = 100_000

CAVEATS: tuple[str, ...] = (
    "Min-K% Prob needs the model's own per-token log-probabilities; a server that "
    "returns approximate or shifted prompt log-probabilities gives meaningless values.",
    "A Min-K% threshold that separates 'seen' from 'unseen' text depends on the model and "
    "is set on a calibration set; none is applied here, only originals against controls.",
    "A higher score for the originals suggests, and does not prove, that the benchmark "
    "was in the training data; no difference does not prove it was not.",
    "The perturbation changes fluency and token statistics as well as the memorised "
    "content, so part of any difference comes from the perturbation itself "
    "(much of it with 'shuffle'); compare models on the same items rather than read "
    "one difference against zero.",
)


# ------------------------------------------------------------------ Min-K%


def min_k_prob(token_logprobs: Sequence[float], k: float = DEFAULT_K) -> float:
    """Mean of the lowest ``k`` share of the token log-probabilities.

    The count is ``max(1, int(len × k))`` (the reference implementation's
    truncation, with at least one token). Higher (closer to 0) means the
    text's least likely tokens were more likely to the model.
    """
    if not 0 < k <= 1:
        raise ValueError(f"k must be in (0, 1], not {k}")
    values = [float(v) for v in token_logprobs]
    if not values:
        raise ValueError("no token log-probabilities to score")
    if any(math.isnan(v) or v > 0 for v in values):
        raise ValueError("token log-probabilities must be numbers ≤ 0")
    count = max(1, int(len(values) * k))
    lowest = sorted(values)[:count]
    return math.fsum(lowest) / count


# ------------------------------------------------------------ perturbation

_DIGITS = re.compile(r"\d+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _rng(seed: int, key: str) -> random.Random:
    return random.Random(f"{seed}\x00contamination\x00{key}")


def _other_number(original: str, rng: random.Random) -> str:
    width = len(original)
    if width == 1:
        pool = [str(d) for d in range(10) if str(d) != original]
        return rng.choice(pool)
    while True:
        candidate = str(rng.randrange(10 ** (width - 1), 10**width))
        if candidate != original:
            return candidate


def _perturb_numbers(text: str, rng: random.Random) -> str:
    mapping: dict[str, str] = {}
    for number in dict.fromkeys(_DIGITS.findall(text)):
        mapping[number] = _other_number(number, rng)
    return _DIGITS.sub(lambda m: mapping[m.group(0)], text)


def _shuffle_words(sentence: str, rng: random.Random) -> str:
    words = sentence.split()
    if len(set(words)) < 2:
        return sentence
    shuffled = list(words)
    rng.shuffle(shuffled)
    if shuffled == words:  # a shuffle may give the original order back: rotate it
        shuffled = words[1:] + words[:1]
    return " ".join(shuffled)


def _perturb_shuffle(text: str, rng: random.Random) -> str:
    lines = []
    for line in text.split("\n"):
        sentences = _SENTENCE_END.split(line.strip())
        lines.append(" ".join(_shuffle_words(s, rng) for s in sentences if s))
    return "\n".join(lines)


def perturb(text: str, *, scheme: Perturbation = "numbers", seed: int = DEFAULT_SEED) -> str:
    """The control of ``text`` under ``scheme``; the text itself when it cannot be perturbed.

    Deterministic: the same text, scheme and seed give the same control.
    """
    rng = _rng(seed, stable_hash([scheme, text]))
    if scheme == "numbers":
        return _perturb_numbers(text, rng)
    if scheme == "shuffle":
        return _perturb_shuffle(text, rng)
    raise UsageError(f"unknown perturbation {scheme!r}; choose one of {', '.join(PERTURBATIONS)}")


# ------------------------------------------------------------------- probe


def item_text(task: Task, index: int) -> str | None:
    """The zero-shot question and its gold answer, as one text (None when there is no gold)."""
    item = task.item(index)
    if item.error:
        return None
    doc_id = task.item_ids[index]
    question = task.doc_to_text(task.docs[index], doc_id)
    return question + task.spec.target_delimiter + item.target


def shared_preamble(texts: Sequence[str]) -> str:
    """The lines every text starts with (a fixed preamble such as TruthfulQA's six QA pairs).

    The longest common prefix of two or more texts, cut back to its last newline:
    text every item shares is not the item's own, so it is neither perturbed nor scored.
    """
    if len(texts) < 2:
        return ""
    first, rest = texts[0], texts[1:]
    end = len(first)
    for text in rest:
        end = min(end, len(text))
        for j in range(end):
            if text[j] != first[j]:
                end = j
                break
    prefix = first[:end]
    cut = prefix.rfind("\n")
    return prefix[: cut + 1] if cut >= 0 else ""


def split_first_word(text: str) -> tuple[str, str] | None:
    """(first word, the rest) — the context and the scored continuation; None for one word."""
    match = re.match(r"\s*\S+", text)
    if match is None or not text[match.end() :].strip():
        return None
    return text[: match.end()], text[match.end() :]


@dataclass(frozen=True)
class ProbeItem:
    """One item's original and control texts and their Min-K% values."""

    item_id: str
    text: str
    control: str
    original: float | None = None
    control_score: float | None = None
    tokens: int = 0
    control_tokens: int = 0
    error: str | None = None

    @property
    def compared(self) -> bool:
        return self.error is None and self.original is not None and self.control_score is not None


@dataclass(frozen=True)
class TaskProbe:
    """The probe of one task: items, the paired comparison and how many were left out."""

    task: str
    k: float
    scheme: Perturbation
    seed: int
    items: tuple[ProbeItem, ...]
    unchanged: int  # items the perturbation could not change (left out)
    difference: PairedDifference | None = None
    original_higher: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def compared(self) -> int:
        return sum(1 for i in self.items if i.compared)

    @property
    def errors(self) -> int:
        return sum(1 for i in self.items if i.error)


def _score(backend: Backend, texts: Sequence[str], k: float) -> list[tuple[float, int] | str]:
    """(Min-K%, scored tokens) per text, or an error message for a text that cannot be scored."""
    requests: list[LoglikelihoodRequest | None] = []
    out: list[tuple[float, int] | str] = ["" for _ in texts]
    for i, text in enumerate(texts):
        parts = split_first_word(text)
        if parts is None:
            out[i] = "the text has a single word: nothing to score after the context"
            requests.append(None)
        else:
            requests.append(LoglikelihoodRequest(context=parts[0], continuation=parts[1]))
    live = [i for i, r in enumerate(requests) if r is not None]
    for start in range(0, len(live), _BATCH):
        chunk = live[start : start + _BATCH]
        try:
            results = backend.loglikelihood([r for i in chunk if (r := requests[i]) is not None])
            pairs = list(zip(chunk, results, strict=True))
        except BackendError:  # one bad text (too long…): score the chunk one by one
            pairs = []
            for i in chunk:
                request = requests[i]
                assert request is not None
                try:
                    pairs.append((i, backend.loglikelihood([request])[0]))
                except BackendError as exc:
                    out[i] = str(exc)
        for i, result in pairs:
            if not result.token_logprobs:
                raise UsageError(
                    f"the {backend.name} backend returned no per-token log-probabilities; "
                    "the contamination probe needs them"
                )
            out[i] = (min_k_prob(result.token_logprobs, k), len(result.token_logprobs))
    return out


def probe_task(
    task: Task,
    backend: Backend,
    *,
    limit: int | None = None,
    seed: int = DEFAULT_SEED,
    k: float = DEFAULT_K,
    scheme: Perturbation = "numbers",
) -> TaskProbe:
    """Min-K% of the task's items (``limit``: the runner's stratified sample) and their controls."""
    if not 0 < k <= 1:
        raise UsageError(f"--k must be in (0, 1], not {k}")
    if scheme not in PERTURBATIONS:
        raise UsageError(f"unknown perturbation {scheme!r}; choose {', '.join(PERTURBATIONS)}")
    pending: list[tuple[str, str, str]] = []
    items: list[ProbeItem] = []
    unchanged = 0
    texts = [(task.item_ids[i], item_text(task, i)) for i in task.select(limit, seed=seed)]
    preamble = shared_preamble([t for _, t in texts if t is not None])
    for item_id, text in texts:
        if text is not None:
            text = text[len(preamble) :]
        if text is None:
            items.append(ProbeItem(item_id, "", "", error="the item has no gold answer"))
            continue
        if len(text) > _MAX_TEXT_CHARS:
            items.append(ProbeItem(item_id, text[:200], "", error="the item text is too long"))
            continue
        control = perturb(text, scheme=scheme, seed=seed)
        if control == text:
            unchanged += 1
            continue
        pending.append((item_id, text, control))
    scores = _score(backend, [t for _, t, _ in pending] + [c for _, _, c in pending], k)
    n = len(pending)
    for j, (item_id, text, control) in enumerate(pending):
        a, b = scores[j], scores[n + j]
        if isinstance(a, str) or isinstance(b, str):
            error = a if isinstance(a, str) else b
            items.append(ProbeItem(item_id, text, control, error=str(error)))
            continue
        items.append(ProbeItem(item_id, text, control, a[0], b[0], a[1], b[1]))
    compared = [i for i in items if i.compared]
    difference = None
    if compared:
        difference = paired_difference(
            [i.original for i in compared if i.original is not None],
            [i.control_score for i in compared if i.control_score is not None],
        )
    higher = sum(
        1
        for i in compared
        if i.original is not None and i.control_score is not None and i.original > i.control_score
    )
    notes: list[str] = []
    if preamble:
        notes.append(
            f"the {len(preamble)} characters every item starts with (a fixed preamble) are "
            "left out of every text"
        )
    if unchanged:
        notes.append(
            f"{unchanged} item(s) left out: the {scheme!r} perturbation does not change them"
            + (" (no digits)" if scheme == "numbers" else "")
        )
    return TaskProbe(
        task=task.name,
        k=k,
        scheme=scheme,
        seed=seed,
        items=tuple(items),
        unchanged=unchanged,
        difference=difference,
        original_higher=higher,
        notes=tuple(notes),
    )


# ------------------------------------------------------------------ output


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:+.3f}"


def probe_text(probes: Sequence[TaskProbe], model: ModelFingerprint | None = None) -> str:
    """The probe as plain text, caveats included."""
    lines = ["Contamination probe: Min-K% Prob, originals against perturbed controls"]
    if model is not None:
        lines.append(f"model: {model.id} ({model.backend}, {model.quantization or model.dtype})")
    for p in probes:
        lines.append("")
        lines.append(
            f"{p.task}: k = {p.k:.0%}, perturbation {p.scheme!r}, seed {p.seed}; "
            f"{p.compared} item(s) compared, {p.unchanged} unchanged, {p.errors} errored"
        )
        d = p.difference
        if d is None:
            lines.append("  no item could be compared")
        else:
            lines.append(
                f"  mean Min-K% (log-prob)  originals {d.mean_a:.3f}  controls {d.mean_b:.3f}"
            )
            lines.append(
                f"  original − control      {_fmt(d.difference)}  95% CI "
                f"[{_fmt(d.ci_low)}, {_fmt(d.ci_high)}]  SE {d.stderr:.3f}  n {d.n}"
            )
            lines.append(f"  original higher on      {p.original_higher}/{d.n} items")
            if d.n >= 2 and d.ci_low > 0:
                reading = "originals are more familiar than their controls"
            elif d.n >= 2 and d.ci_high < 0:
                reading = "controls are more familiar than the originals"
            else:
                reading = "no difference shown at this sample size"
            lines.append(f"  reading                 {reading} (a hint, not proof: see caveats)")
        lines.extend(f"  note: {note}" for note in p.notes)
        for item in p.items:
            if item.error:
                lines.append(f"  errored: {item.item_id}: {item.error}")
    lines.append("")
    lines.append("Caveats:")
    lines.extend(f"  - {c}" for c in CAVEATS)
    return "\n".join(lines) + "\n"


def probe_json(probes: Sequence[TaskProbe], model: ModelFingerprint | None = None) -> str:
    """The probe as JSON: every item's texts and values, the comparison and the caveats."""

    def task_dict(p: TaskProbe) -> dict[str, Any]:
        return {
            "task": p.task,
            "k": p.k,
            "perturbation": p.scheme,
            "seed": p.seed,
            "compared": p.compared,
            "unchanged": p.unchanged,
            "errors": p.errors,
            "original_higher": p.original_higher,
            "difference": None if p.difference is None else _finite(asdict(p.difference)),
            "notes": list(p.notes),
            "items": [asdict(i) for i in p.items],
        }

    doc = {
        "kind": "contamination-probe",
        "method": "min-k-prob",
        "model": None if model is None else model.model_dump(),
        "tasks": [task_dict(p) for p in probes],
        "caveats": list(CAVEATS),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN or infinity: such values become None."""
    return {
        key: None if isinstance(v, float) and not math.isfinite(v) else v
        for key, v in values.items()
    }


__all__ = [
    "CAVEATS",
    "DEFAULT_K",
    "PERTURBATIONS",
    "Perturbation",
    "ProbeItem",
    "TaskProbe",
    "item_text",
    "min_k_prob",
    "perturb",
    "probe_json",
    "probe_task",
    "probe_text",
    "split_first_word",
]
