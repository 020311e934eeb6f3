"""What a model card claims, and whether a measured run bears it out.

Claims come from two places of a card, both read from what
:func:`seewhy.formats.modelcard.parse_card` returns (the project's one card
parser; nothing here reads YAML):

* the ``model-index`` results of the front matter (the inventory analyzer's
  ``claimed_results`` fact comes from the same :class:`EvalResult` list);
* simple Markdown benchmark tables in the body: a benchmark column with
  optional shots and metric columns and one value column per model (the
  SmolLM2 and Gemma 3 cards), or benchmarks as columns and models as rows.

Names are normalised (``ARC-e``, ``ARC (Easy)`` and ``arc_easy`` are one
benchmark), shots read from ``5-shot``/``0``/``few-shot``, metrics from
``acc``/``normalized accuracy``/``exact match``…, and values scaled to a
fraction (a table or model-index whose values exceed 1 is in percent). A row
that is not a plain number (``19.8 or 1.98``, ``N/A``, ``-``) gives no claim:
nothing is invented.

:func:`check_claims` sets each claim beside the run of the same benchmark.
Every difference between the two is a :class:`Reason`. A *blocking* reason
(another model column — base vs instruct —, other shots, another metric,
quantized weights, another prompt formulation, a first-N subset) makes the
verdict ``not_comparable``; a *caveat* (a random subset, a chat template,
an unnamed metric, unstated shots) is stated beside a verdict that stands.
The measured value, its interval and z are filled in either way, so a
reader always sees the numbers.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from seewhy.evaluation.model import MetricSummary, RunRecord
from seewhy.evaluation.stats import z_for
from seewhy.formats.modelcard import EvalResult, ModelCard, parse_card

__all__ = [
    "FULL_SIZES",
    "Claim",
    "ClaimSource",
    "ClaimVerdict",
    "Reason",
    "check_claims",
    "claims_from_card",
    "describe_verdict",
    "normalize_benchmark",
    "normalize_metric",
    "parse_shots",
    "read_claims",
    "task_benchmark",
]

Status = Literal["consistent", "below_claim", "above_claim", "not_comparable", "not_checked"]
Direction = Literal["consistent", "below_claim", "above_claim"]

MAX_CARD_BYTES = 16 << 20
"""Cards larger than this are not read for claims."""
MAX_CLAIMS = 2000
"""Most claims read from one card."""
MAX_LINE_CHARS = 20_000
"""Table rows longer than this are skipped."""
MAX_COLUMNS = 64
"""Tables with more columns than this are skipped."""

# ------------------------------------------------------------------ names

# (key, display name, pattern searched in the cleaned, lower-case label)
_BENCHMARKS: tuple[tuple[str, str, str], ...] = (
    ("arc_average", "ARC (average of Easy and Challenge)", r"\barc\b.*\b(?:avg|average|mean)\b"),
    ("arc_easy", "ARC-Easy", r"\barc\s*(?:e|easy)\b"),
    ("arc_challenge", "ARC-Challenge", r"\barc\s*(?:c|challenge)\b|\bai2 reasoning challenge\b"),
    ("arc", "ARC (split not stated)", r"\barc\b|\bai2 arc\b"),
    ("hellaswag", "HellaSwag", r"\bhella\s?swag\b"),
    ("mmlu_pro", "MMLU-Pro", r"\bmmlu\s?pro\b"),
    ("mmlu", "MMLU", r"\bmmlu\b"),
    ("gsm8k", "GSM8K", r"\bgsm\s?8k\b"),
    ("truthfulqa_mc1", "TruthfulQA MC1", r"\btruthful\s?qa\b.*\bmc\s?1\b"),
    ("truthfulqa_mc2", "TruthfulQA MC2", r"\btruthful\s?qa\b.*\bmc\s?2\b"),
    ("truthfulqa", "TruthfulQA", r"\btruthful\s?qa\b"),
    ("boolq", "BoolQ", r"\bbool\s?q\b|\bbooiq\b"),
    ("piqa", "PIQA", r"\bpiqa\b"),
    ("winogrande", "WinoGrande", r"\bwino\s?grande\b"),
    ("openbookqa", "OpenBookQA", r"\bopen\s?book\s?qa\b|\bobqa\b"),
    ("commonsenseqa", "CommonsenseQA", r"\bcommon\s?sense\s?qa\b|\bcsqa\b"),
    ("siqa", "Social IQa", r"\bsocial\s?i\s?qa\b|\bsiqa\b"),
    ("triviaqa", "TriviaQA", r"\btrivia\s?qa\b"),
    ("bbh", "BIG-Bench Hard", r"\bbbh\b|\bbig\s?bench\s?hard\b"),
    ("ifeval", "IFEval", r"\bif\s?eval\b"),
    ("mt_bench", "MT-Bench", r"\bmt\s?bench\b"),
    ("humaneval", "HumanEval", r"\bhuman\s?eval\b"),
    ("mbpp", "MBPP", r"\bmbpp\b"),
    ("gpqa", "GPQA", r"\bgpqa\b"),
    ("math", "MATH", r"^math\b"),
    ("natural_questions", "Natural Questions", r"\bnatural questions\b"),
    ("lambada", "LAMBADA", r"\blambada\b"),
    ("sciq", "SciQ", r"\bsciq\b"),
)

_DISPLAY = {key: display for key, display, _ in _BENCHMARKS}
_COMPILED = tuple((key, re.compile(pattern)) for key, _, pattern in _BENCHMARKS)

# Canonical task names a run may carry (lm-eval's names and seewhy's).
_TASK_ALIASES: dict[str, str] = {
    "arc_easy": "arc_easy",
    "arc_e": "arc_easy",
    "arc_challenge": "arc_challenge",
    "arc_c": "arc_challenge",
    "hellaswag": "hellaswag",
    "mmlu": "mmlu",
    "gsm8k": "gsm8k",
    "truthfulqa_mc1": "truthfulqa_mc1",
    "truthfulqa_mc2": "truthfulqa_mc2",
    "truthfulqa": "truthfulqa_mc1",
    "boolq": "boolq",
    "piqa": "piqa",
    "winogrande": "winogrande",
    "openbookqa": "openbookqa",
}

FULL_SIZES: dict[str, tuple[str, int]] = {
    "arc_easy": ("test", 2376),
    "arc_challenge": ("test", 1172),
    "hellaswag": ("validation", 10042),
    "mmlu": ("test", 14042),
    "gsm8k": ("test", 1319),
    "truthfulqa_mc1": ("validation", 817),
    "truthfulqa_mc2": ("validation", 817),
    "boolq": ("validation", 3270),
    "piqa": ("validation", 1838),
    "winogrande": ("validation", 1267),
    "openbookqa": ("test", 500),
}
"""The split and item count a benchmark's published scores are usually measured on."""

_AGGREGATE_ROW = re.compile(r"^(?:average|avg|mean|total|overall|sum)\b")
_VARIANTS = (("cloze", r"\bcloze\b"), ("cot", r"\bcot\b|chain of thought"))


def _clean(text: str) -> str:
    """Markdown cell text to plain text: links, emphasis, tags and escapes removed."""
    text = html.unescape(text)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\[([^\]]*)\]\[[^\]]*\]", r"\1", text)
    text = re.sub(r"<[^>]{0,200}>", " ", text)
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!|])", r"\1", text)
    text = text.replace("**", "").replace("__", "").replace("`", "")
    return re.sub(r"\s+", " ", text).strip()


def _key_text(label: str) -> str:
    return re.sub(r"[^a-z0-9@]+", " ", label.lower()).strip()


def normalize_benchmark(label: str) -> str | None:
    """The canonical key of a benchmark label (``"ARC-e"`` → ``"arc_easy"``), None if unknown."""
    text = _key_text(_clean(label))
    if not text:
        return None
    for key, pattern in _COMPILED:
        if pattern.search(text):
            return key
    return None


def task_benchmark(task: str) -> str | None:
    """The benchmark a run's task name is (the whole name must be a known task name)."""
    name = re.sub(r"[^a-z0-9]+", "_", task.lower()).strip("_")
    return _TASK_ALIASES.get(name)


def parse_shots(text: str) -> tuple[int | None, bool]:
    """Shots from ``"5-shot"``, ``"0"``, ``"zero-shot"``; second value True for an unnumbered
    ``"few-shot"``. ``(None, False)`` when the text says nothing (or gives a range)."""
    t = _clean(text).lower()
    if re.search(r"\bzero[\s-]?shot", t):
        return 0, False
    if re.search(r"\bone[\s-]?shot", t):
        return 1, False
    m = re.search(r"(\d{1,4})\s*-?\s*shots?\b", t)
    if m and not re.search(r"\d\s*-\s*" + m.group(1) + r"\s*-?\s*shot", t):
        return int(m.group(1)), False
    if re.search(r"\bfew[\s-]?shots?\b", t):
        return None, True
    if re.fullmatch(r"\d{1,4}", t.strip()):
        return int(t.strip()), False
    return None, False


_METRICS: tuple[tuple[str, str], ...] = (
    ("acc_norm", r"\bacc[\s_]?norm|\bnormali[sz]ed acc|\bacc[\s_]?char\b|\blength normali"),
    ("mc1", r"\bmc\s?1\b"),
    ("mc2", r"\bmc\s?2\b"),
    ("exact_match", r"\bexact[\s_]?match\b|\bem\b|\bem[\s_]maj|\bmaj@1\b|\bfinal[\s_]em\b"),
    ("pass@1", r"\bpass@1\b"),
    ("f1", r"\bf1\b"),
    ("acc", r"\bacc\b|\baccuracy\b|\btop[\s-]?1\b"),
)
_COMPILED_METRICS = tuple((key, re.compile(p)) for key, p in _METRICS)
_NOT_A_SCORE = re.compile(
    r"\bmt\s?bench\b|\bperplexity\b|\bppl\b|\belo\b|\bbits per byte\b|\bbpb\b"
)


def normalize_metric(label: str) -> str | None:
    """``acc``, ``acc_norm``, ``exact_match``, ``mc1``, ``mc2``, ``pass@1``, ``f1``, or None
    when the label names none of them (``"score"``, blank)."""
    text = _clean(label).lower().replace("_", " ").replace("/", " ")
    text = re.sub(r"\s+", " ", text)
    for key, pattern in _COMPILED_METRICS:
        if pattern.search(text) or pattern.search(text.replace(" ", "_")):
            return key
    return None


# ------------------------------------------------------------------ claims


@dataclass(frozen=True)
class ClaimSource:
    """Where a claim was read: the card's path, 1-based line, and the text as written."""

    path: str
    line: int | None
    quote: str


@dataclass(frozen=True)
class Claim:
    """One number a card claims for one benchmark.

    ``value`` is a fraction in [0, 1] (None when the number is not a score
    on that scale, such as MT-Bench); ``raw_value`` is the number as
    written and ``scale`` how it was read. ``benchmark`` is the canonical key
    (None when the label is not a benchmark seewhy knows). ``model`` is the
    table column or model-index name the claim is for. ``qualifiers`` are
    extra columns of the row (a language, a subset) that make the claim about
    a variant of the benchmark; ``variant`` a formulation named in the label
    (``cloze``, ``cot``).
    """

    benchmark: str | None
    benchmark_label: str
    metric: str | None
    metric_label: str
    shots: int | None
    few_shot: bool
    value: float | None
    raw_value: str
    scale: Literal["percent", "fraction"]
    model: str | None
    source: ClaimSource
    origin: Literal["model-index", "table"]
    variant: str | None = None
    qualifiers: tuple[str, ...] = ()

    @property
    def display(self) -> str:
        """The benchmark as a reader knows it, with shots and metric."""
        name = _DISPLAY.get(self.benchmark or "", self.benchmark_label)
        shots = (
            f"{self.shots}-shot" if self.shots is not None else "few-shot" if self.few_shot else ""
        )
        parts = [name, shots, self.metric or self.metric_label]
        return " ".join(p for p in parts if p)


def _number(cell: str) -> float | None:
    """A cell that is one number (optionally %, bold, a trailing note in parentheses)."""
    text = _clean(cell)
    m = re.fullmatch(
        r"[~≈]?\s*(-?\d{1,6}(?:\.\d+)?)\s*%?\s*(?:\((?:[^()]{0,40})\)|±\s*\d+(?:\.\d+)?)?\s*\**",
        text,
    )
    if not m:
        return None
    value = float(m.group(1))
    return value if math.isfinite(value) else None


def _variant(label: str) -> str | None:
    text = _key_text(label)
    for name, pattern in _VARIANTS:
        if re.search(pattern, text):
            return name
    return None


def _scaled(value: float, percent: bool) -> float | None:
    """The value as a fraction; None when it cannot be a percentage or a fraction."""
    scaled = value / 100.0 if percent else value
    return scaled if 0.0 <= scaled <= 1.0 else None


def _from_model_index(card: ModelCard) -> list[Claim]:
    results = card.eval_results
    numbers = [_as_float(r.metric_value) for r in results]
    percent = any(v is not None and v > 1.0 for v in numbers)
    claims: list[Claim] = []
    for r, value in zip(results, numbers, strict=True):
        if value is None:
            continue
        claims.append(_index_claim(card, r, value, percent))
    return claims


def _as_float(value: float | int | str | None) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(float(value)) else None
    return _number(value)


def _index_claim(card: ModelCard, r: EvalResult, value: float, percent: bool) -> Claim:
    dataset_labels = [r.dataset_config, r.dataset_name, r.dataset_type, r.task_name]
    metric_labels = [r.metric_type, r.metric_name]
    benchmark: str | None = None
    label = ""
    for text in [*dataset_labels, *metric_labels]:
        if text and (key := normalize_benchmark(text)) is not None:
            benchmark, label = key, text
            break
    if not label:
        label = r.dataset_name or r.dataset_type or "?"
    metric = None
    metric_label = r.metric_name or r.metric_type or ""
    for text in metric_labels:
        if text and (metric := normalize_metric(text)) is not None:
            break
    shots, few = (r.num_fewshot, False) if r.num_fewshot is not None else (None, False)
    if shots is None:
        for text in [*dataset_labels, *metric_labels]:
            if text:
                shots, few = parse_shots(text)
                if shots is not None or few:
                    break
    benchmark, metric = _fold_truthfulqa(benchmark, metric)
    not_score = any(_NOT_A_SCORE.search(_key_text(t or "")) for t in [label, metric_label])
    quote = f"{label}: {metric_label} = {r.metric_value}"
    return Claim(
        benchmark=benchmark,
        benchmark_label=label,
        metric=metric,
        metric_label=metric_label,
        shots=shots,
        few_shot=few,
        value=None if not_score else _scaled(value, percent),
        raw_value=str(r.metric_value),
        scale="percent" if percent else "fraction",
        model=r.model_name or card.model_name,
        source=ClaimSource(card.path, r.line, quote[:300]),
        origin="model-index",
        variant=_variant(label),
    )


def _fold_truthfulqa(benchmark: str | None, metric: str | None) -> tuple[str | None, str | None]:
    """TruthfulQA with metric mc1/mc2 is the MC1/MC2 task scored by accuracy."""
    if benchmark == "truthfulqa" and metric in ("mc1", "mc2"):
        return f"truthfulqa_{metric}", "acc"
    if benchmark in ("truthfulqa_mc1", "truthfulqa_mc2") and metric in ("mc1", "mc2"):
        return benchmark, "acc"
    return benchmark, metric


# ------------------------------------------------------------------ tables

_SEPARATOR_CELL = re.compile(r":?-{1,}:?")
_IGNORED_HEADERS = {"", "category", "capability", "type", "domain", "area", "#"}
_BENCH_HEADERS = {"benchmark", "benchmarks", "task", "tasks", "dataset", "datasets", "eval"}


def _cells(line: str) -> list[str]:
    text = line.strip()
    if text.startswith("|"):
        text = text[1:]
    if text.endswith("|") and not text.endswith("\\|"):
        text = text[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", text)]


def _is_separator(cells: Sequence[str]) -> bool:
    return bool(cells) and all(_SEPARATOR_CELL.fullmatch(c.replace(" ", "")) for c in cells)


@dataclass(frozen=True)
class _Table:
    header: list[str]
    rows: list[tuple[int, str, list[str]]]  # (line, raw text, cells)


def _tables(card: ModelCard) -> list[_Table]:
    lines = card.body.split("\n")
    tables: list[_Table] = []
    i = 0
    while i < len(lines) - 1:
        line = lines[i]
        if line.lstrip().startswith("|") and len(line) <= MAX_LINE_CHARS:
            header = _cells(line)
            sep = _cells(lines[i + 1]) if len(lines[i + 1]) <= MAX_LINE_CHARS else []
            if _is_separator(sep) and len(header) <= MAX_COLUMNS:
                rows = []
                j = i + 2
                while j < len(lines) and lines[j].lstrip().startswith("|"):
                    if len(lines[j]) <= MAX_LINE_CHARS:
                        cells = _cells(lines[j])
                        if not _is_separator(cells):
                            rows.append((card.body_start_line + j, lines[j].strip(), cells))
                    j += 1
                tables.append(_Table([_clean(h) for h in header], rows))
                i = j
                continue
        i += 1
    return tables


def _column(table: _Table, index: int) -> list[str]:
    return [_clean(cells[index]) if index < len(cells) else "" for _, _, cells in table.rows]


def _from_tables(card: ModelCard) -> list[Claim]:
    claims: list[Claim] = []
    for table in _tables(card):
        claims.extend(_table_claims(card, table))
        if len(claims) >= MAX_CLAIMS:
            break
    return claims


def _table_claims(card: ModelCard, table: _Table) -> list[Claim]:
    width = len(table.header)
    if width < 2 or not table.rows:
        return []
    lower = [h.lower() for h in table.header]
    known = [
        sum(1 for c in _column(table, k) if normalize_benchmark(c) is not None)
        for k in range(width)
    ]
    shots_col = next((k for k, h in enumerate(lower) if "shot" in h), None)
    candidates = [k for k in range(width) if k != shots_col and known[k] > 0]
    if not candidates:
        return _transposed_claims(card, table)
    bench_col = max(candidates, key=lambda k: (known[k], lower[k] in _BENCH_HEADERS, -k))
    metric_col = next(
        (k for k, h in enumerate(lower) if "metric" in h and k not in (bench_col, shots_col)),
        None,
    )
    value_cols: list[int] = []
    qualifier_cols: list[int] = []
    for k in range(width):
        if k in (bench_col, shots_col, metric_col):
            continue
        column = [c for c in _column(table, k) if c and c.lower() not in _PLACEHOLDERS]
        numeric = sum(1 for c in column if _number(c) is not None)
        if column and numeric * 2 >= len(column) and lower[k] not in _IGNORED_HEADERS:
            value_cols.append(k)
        elif lower[k] not in _IGNORED_HEADERS and any(column):
            qualifier_cols.append(k)
    if not value_cols:
        return []
    values = [
        v for k in value_cols for c in _column(table, k) if (v := _number(c)) is not None and v >= 0
    ]
    percent = any(v > 1.0 for v in values)
    claims: list[Claim] = []
    previous_label = ""
    for line, raw, cells in table.rows:

        def cell(k: int | None, cells: list[str] = cells) -> str:
            return _clean(cells[k]) if k is not None and k < len(cells) else ""

        label = cell(bench_col)
        qualifiers = tuple(f"{table.header[k]}: {cell(k)}" for k in qualifier_cols if cell(k))
        if not label and qualifiers and previous_label:
            label = previous_label  # a continuation row of a grouped table
        if not label or _AGGREGATE_ROW.match(_key_text(label)):
            previous_label = label
            continue
        previous_label = label
        metric_label = cell(metric_col)
        shots, few = parse_shots(cell(shots_col)) if shots_col is not None else (None, False)
        if shots is None and not few:
            for text in (metric_label, label):
                shots, few = parse_shots(text)
                if shots is not None or few:
                    break
        benchmark = normalize_benchmark(label)
        metric = normalize_metric(metric_label) or normalize_metric(label)
        if benchmark is not None and metric is None and metric_label == "" and "(" in label:
            metric = normalize_metric(label)
        benchmark, metric = _fold_truthfulqa(benchmark, metric)
        not_score = bool(_NOT_A_SCORE.search(_key_text(f"{label} {metric_label}")))
        for k in value_cols:
            raw_cell = cell(k)
            number = _number(raw_cell)
            if number is None or number < 0:
                continue
            claims.append(
                Claim(
                    benchmark=benchmark,
                    benchmark_label=label,
                    metric=metric,
                    metric_label=metric_label,
                    shots=shots,
                    few_shot=few,
                    value=None if not_score else _scaled(number, percent),
                    raw_value=raw_cell,
                    scale="percent" if percent else "fraction",
                    model=_column_model(table.header[k], card),
                    source=ClaimSource(card.path, line, raw[:300]),
                    origin="table",
                    variant=_variant(f"{label} {metric_label}"),
                    qualifiers=qualifiers,
                )
            )
    return claims


_PLACEHOLDERS = {"-", "–", "—", "n/a", "na", "?", "x", "*"}
_VALUE_HEADERS = {"value", "values", "score", "scores", "result", "results", "accuracy"}


def _column_model(header: str, card: ModelCard) -> str | None:
    """The model a value column is for: its header, or the card's model for "Value"/"Score"."""
    if header.lower() in _VALUE_HEADERS:
        return card.model_name
    return header or None


def _transposed_claims(card: ModelCard, table: _Table) -> list[Claim]:
    """Benchmarks as header cells, one model per row (leaderboard style)."""
    width = len(table.header)
    # A first column that is itself a benchmark means no model column: the card's own model.
    first_is_bench = normalize_benchmark(table.header[0]) is not None
    start = 0 if first_is_bench else 1
    bench_cols = [
        k for k in range(start, width) if normalize_benchmark(table.header[k]) is not None
    ]
    if len(bench_cols) < 2:
        return []
    values = [v for k in bench_cols for c in _column(table, k) if (v := _number(c)) is not None]
    percent = any(v > 1.0 for v in values)
    claims: list[Claim] = []
    for line, raw, cells in table.rows:
        model: str | None = card.model_name
        if not first_is_bench:
            model = _clean(cells[0]) if cells else ""
            if not model or _AGGREGATE_ROW.match(_key_text(model)):
                continue
        for k in bench_cols:
            raw_cell = _clean(cells[k]) if k < len(cells) else ""
            number = _number(raw_cell)
            if number is None or number < 0:
                continue
            header = table.header[k]
            shots, few = parse_shots(header)
            benchmark, metric = _fold_truthfulqa(
                normalize_benchmark(header), normalize_metric(header)
            )
            not_score = bool(_NOT_A_SCORE.search(_key_text(header)))
            claims.append(
                Claim(
                    benchmark=benchmark,
                    benchmark_label=header,
                    metric=metric,
                    metric_label="",
                    shots=shots,
                    few_shot=few,
                    value=None if not_score else _scaled(number, percent),
                    raw_value=raw_cell,
                    scale="percent" if percent else "fraction",
                    model=model,
                    source=ClaimSource(card.path, line, raw[:300]),
                    origin="table",
                    variant=_variant(header),
                )
            )
    return claims


def claims_from_card(card: ModelCard) -> list[Claim]:
    """Every claim of a parsed card: its model-index results, then its body tables."""
    claims = _from_model_index(card)
    claims.extend(_from_tables(card))
    return claims[:MAX_CLAIMS]


def read_claims(source: Path | str | bytes, *, path: str = "README.md") -> list[Claim]:
    """Claims of a model card given as a file path or its bytes; never raises for bad content."""
    if isinstance(source, bytes):
        data = source
    else:
        file = Path(source)
        path = str(file)
        with file.open("rb") as handle:
            data = handle.read(MAX_CARD_BYTES + 1)
        if len(data) > MAX_CARD_BYTES:
            return []
    return claims_from_card(parse_card(data, path=path))


# ------------------------------------------------------------------ verdicts


@dataclass(frozen=True)
class Reason:
    """One difference between a claim and a measurement.

    ``kind``: ``model``, ``shots``, ``metric``, ``quantization``, ``format``,
    ``subset``, ``variant``, ``value``, ``benchmark`` or ``no_run``.
    ``blocking`` reasons make the claim not comparable; the others are
    caveats stated beside the verdict.
    """

    kind: str
    text: str
    blocking: bool


@dataclass(frozen=True)
class ClaimVerdict:
    """A claim set beside the run(s) that measured its benchmark.

    ``as_measured`` is what the numbers alone say (the direction the
    interval gives) even when ``status`` is ``not_comparable``.
    """

    claim: Claim
    status: Status
    reasons: tuple[Reason, ...] = ()
    measured: float | None = None
    stderr: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    z: float | None = None
    n: int | None = None
    metric: str | None = None
    run_ids: tuple[str, ...] = ()
    as_measured: Direction | None = None

    @property
    def blocking(self) -> tuple[Reason, ...]:
        """The reasons that make the claim not comparable."""
        return tuple(r for r in self.reasons if r.blocking)

    @property
    def caveats(self) -> tuple[Reason, ...]:
        """The differences that do not stop the comparison."""
        return tuple(r for r in self.reasons if not r.blocking)


_INSTRUCT = {"instruct", "it", "chat", "sft", "dpo", "rlhf", "instruction"}
_BASE = {"base", "pt", "pretrained", "pre", "trained"}
_GENERIC = {"model", "params", "gguf", "q4", "q8", "k", "m", "s", "hf", "bf16", "fp16", "the"}


def _name_tokens(name: str) -> set[str]:
    tokens = set(re.findall(r"[a-z]+\d*|\d+(?:\.\d+)?[mbk]?", name.lower()))
    return {t for t in tokens if t}


def _size_tokens(tokens: set[str]) -> set[str]:
    return {t for t in tokens if re.fullmatch(r"\d+(?:\.\d+)?[mb]", t)}


def _model_reason(column: str | None, measured: str) -> Reason | None:
    """Why the claim's model column may not be the measured model, if it may not be."""
    if not column:
        return None
    col, mod = _name_tokens(column), _name_tokens(measured)
    col_instruct, mod_instruct = bool(col & _INSTRUCT), bool(mod & _INSTRUCT)
    if col_instruct != mod_instruct:
        kinds = ("instruct", "base") if col_instruct else ("base", "instruct")
        return Reason(
            "model",
            f"the claim is for {column!r} ({kinds[0]}); the measured model {measured!r} "
            f"looks like the {kinds[1]} model",
            True,
        )
    col_sizes, mod_sizes = _size_tokens(col), _size_tokens(mod)
    if col_sizes and mod_sizes and not col_sizes & mod_sizes:
        return Reason(
            "model",
            f"the claim is for {column!r}, another size than the measured {measured!r}",
            True,
        )
    col_family = {t for t in col - _INSTRUCT - _BASE - _GENERIC if t.isalpha() or t[-1:].isdigit()}
    col_family -= col_sizes
    mod_family = mod - _INSTRUCT - _BASE - _GENERIC - mod_sizes
    if col_family and mod_family and not col_family & mod_family:
        return Reason(
            "model", f"the claim is for {column!r}, not the measured model {measured!r}", True
        )
    if not mod_family:
        return Reason(
            "model",
            f"cannot tell from the name {measured!r} whether it is {column!r}; "
            "name the model to check against",
            False,
        )
    return None


def _pick_metric(claim: Claim, run: RunRecord) -> tuple[MetricSummary | None, list[Reason]]:
    metrics = {m.metric: m for m in run.metrics}
    if not metrics:
        return None, [Reason("metric", f"run {run.run_id} has no scored metric", True)]
    primary = metrics.get(run.primary_metric) or next(iter(metrics.values()))
    if claim.metric is not None:
        if claim.metric in metrics:
            return metrics[claim.metric], []
        return primary, [
            Reason(
                "metric",
                f"the card reports {claim.metric} ({claim.metric_label or 'as named'}); "
                f"the run measured {', '.join(metrics)} — shown: {primary.metric}",
                True,
            )
        ]
    said = f"'{claim.metric_label}'" if claim.metric_label else "nothing"
    return primary, [
        Reason(
            "metric",
            f"the card names no standard metric (it says {said}); compared with the run's "
            f"{primary.metric}",
            False,
        )
    ]


def _shots_reason(claim: Claim, run: RunRecord) -> Reason | None:
    k = run.settings.num_fewshot
    if claim.shots is not None:
        if claim.shots != k:
            return Reason("shots", f"the card used {claim.shots}-shot; the run {k}-shot", True)
        return None
    if claim.few_shot:
        if k == 0:
            return Reason("shots", "the card used few-shot prompts; the run 0-shot", True)
        return Reason("shots", f"the card says few-shot without a count; the run {k}-shot", False)
    return Reason("shots", f"the card does not state the shots; the run used {k}-shot", False)


def _run_reasons(claim: Claim, run: RunRecord, model_name: str, n: int) -> list[Reason]:
    reasons: list[Reason] = []
    if (r := _model_reason(claim.model, model_name)) is not None:
        reasons.append(r)
    if (r := _shots_reason(claim, run)) is not None:
        reasons.append(r)
    if run.model.quantization:
        reasons.append(
            Reason(
                "quantization",
                f"the measured weights are quantized ({run.model.quantization}); the card's "
                "numbers are for the published weights",
                True,
            )
        )
    if claim.variant is not None:
        declared = run.settings.extra.get("format", "").lower()
        if declared != claim.variant:
            reasons.append(
                Reason(
                    "format",
                    f"the card used the {claim.variant} formulation; the run does not say it "
                    f"did (its format: {declared or 'unstated'})",
                    True,
                )
            )
    if run.settings.chat_template:
        reasons.append(
            Reason(
                "format",
                "the run applied the model's chat template; published scores are usually "
                "measured on plain prompts",
                False,
            )
        )
    for q in claim.qualifiers:
        reasons.append(Reason("variant", f"the claim is for a variant ({q})", True))
    benchmark = task_benchmark(run.task)
    full = FULL_SIZES.get(benchmark or "")
    if full is not None and n < full[1]:
        if run.settings.limit is not None and run.source != "seewhy":
            reasons.append(
                Reason(
                    "subset",
                    f"measured on {n:,} of {full[1]:,} {full[0]} items, the first ones "
                    f"({run.source} --limit), not a random sample",
                    True,
                )
            )
        else:
            reasons.append(
                Reason(
                    "subset",
                    f"measured on {n:,} of {full[1]:,} {full[0]} items; the interval covers "
                    "the sampling error of a random subset",
                    False,
                )
            )
    return reasons


def _direction(value: float, low: float, high: float) -> Direction:
    if value < low:
        return "above_claim"
    if value > high:
        return "below_claim"
    return "consistent"


def _verdict(
    claim: Claim,
    reasons: list[Reason],
    measured: float,
    se: float,
    low: float,
    high: float,
    n: int,
    metric: str,
    run_ids: tuple[str, ...],
) -> ClaimVerdict:
    assert claim.value is not None
    direction = _direction(claim.value, low, high)
    blocked = any(r.blocking for r in reasons)
    z = (measured - claim.value) / se if se > 0 and math.isfinite(se) else None
    return ClaimVerdict(
        claim=claim,
        status="not_comparable" if blocked else direction,
        reasons=tuple(reasons),
        measured=measured,
        stderr=se,
        ci_low=low,
        ci_high=high,
        z=z,
        n=n,
        metric=metric,
        run_ids=run_ids,
        as_measured=direction,
    )


def _single(claim: Claim, runs: Sequence[RunRecord], model_name: str | None) -> ClaimVerdict:
    best: tuple[tuple[int, int], ClaimVerdict] | None = None
    for run in runs:
        summary, reasons = _pick_metric(claim, run)
        if summary is None:
            verdict = ClaimVerdict(claim, "not_comparable", tuple(reasons), run_ids=(run.run_id,))
            rank = (10_000, 0)
        else:
            reasons = _run_reasons(claim, run, model_name or run.model.id, summary.n) + reasons
            verdict = _verdict(
                claim,
                reasons,
                summary.value,
                summary.stderr,
                summary.ci_low,
                summary.ci_high,
                summary.n,
                summary.metric,
                (run.run_id,),
            )
            rank = (sum(r.blocking for r in reasons), -summary.n)
        if best is None or rank < best[0]:
            best = (rank, verdict)
    assert best is not None
    return best[1]


def _arc_average(
    claim: Claim, easy: ClaimVerdict, challenge: ClaimVerdict, confidence: float
) -> ClaimVerdict:
    parts = (easy, challenge)
    if any(p.measured is None or p.stderr is None for p in parts):
        missing = tuple(r for p in parts for r in p.reasons)
        return ClaimVerdict(claim, "not_comparable", missing)
    measured = ((easy.measured or 0.0) + (challenge.measured or 0.0)) / 2
    se = math.sqrt((easy.stderr or 0.0) ** 2 + (challenge.stderr or 0.0) ** 2) / 2
    z = z_for(confidence)
    reasons: list[Reason] = [
        Reason(
            "benchmark",
            "ARC (average) is taken as the unweighted mean of ARC-Easy and ARC-Challenge",
            False,
        )
    ]
    seen: set[tuple[str, str]] = set()
    for p, name in ((easy, "ARC-Easy"), (challenge, "ARC-Challenge")):
        for r in p.reasons:
            if (r.kind, r.text) not in seen:
                seen.add((r.kind, r.text))
                reasons.append(Reason(r.kind, f"{name}: {r.text}", r.blocking))
    return _verdict(
        claim,
        reasons,
        measured,
        se,
        max(0.0, measured - z * se),
        min(1.0, measured + z * se),
        (easy.n or 0) + (challenge.n or 0),
        easy.metric or "",
        easy.run_ids + challenge.run_ids,
    )


def check_claims(
    claims: Iterable[Claim],
    runs: Sequence[RunRecord],
    *,
    model_name: str | None = None,
    confidence: float = 0.95,
) -> list[ClaimVerdict]:
    """One verdict per claim, in order.

    A claim is matched to the runs of its benchmark (by task name); among
    several, the one with the fewest blocking differences (then the most
    items) is used. ``model_name`` is the name to match the card's model
    columns against (default: each run's model id). The verdict compares
    the claim with the run's interval for the metric (Wilson for 0/1
    metrics): inside is ``consistent``, above the interval's top is
    ``below_claim``, under its bottom ``above_claim``; ``z`` is
    (measured − claim)/SE. A claim whose benchmark has no run is
    ``not_checked``.
    """
    by_benchmark: dict[str, list[RunRecord]] = {}
    for run in runs:
        key = task_benchmark(run.task)
        if key is not None:
            by_benchmark.setdefault(key, []).append(run)
    verdicts: list[ClaimVerdict] = []
    for claim in claims:
        if claim.value is None:
            verdicts.append(
                ClaimVerdict(
                    claim,
                    "not_checked",
                    (Reason("value", f"{claim.raw_value!r} is not a score from 0 to 1", True),),
                )
            )
            continue
        if claim.benchmark is None:
            verdicts.append(
                ClaimVerdict(
                    claim,
                    "not_checked",
                    (Reason("benchmark", f"{claim.benchmark_label!r} is not a known task", True),),
                )
            )
            continue
        if claim.benchmark == "arc_average":
            easy, challenge = by_benchmark.get("arc_easy"), by_benchmark.get("arc_challenge")
            if easy and challenge:
                e = _single(replace(claim, benchmark="arc_easy"), easy, model_name)
                c = _single(replace(claim, benchmark="arc_challenge"), challenge, model_name)
                verdicts.append(_arc_average(claim, e, c, confidence))
                continue
            verdicts.append(_not_checked(claim, "needs runs of both ARC-Easy and ARC-Challenge"))
            continue
        candidates = by_benchmark.get(claim.benchmark)
        if not candidates:
            verdicts.append(_not_checked(claim, f"no run of {claim.display} to compare with"))
            continue
        verdicts.append(_single(claim, candidates, model_name))
    return verdicts


def _not_checked(claim: Claim, why: str) -> ClaimVerdict:
    return ClaimVerdict(claim, "not_checked", (Reason("no_run", why, False),))


_STATUS_TEXT = {
    "consistent": "consistent with the claim",
    "below_claim": "below the claim",
    "above_claim": "above the claim",
    "not_comparable": "not comparable",
    "not_checked": "not checked",
}


def describe_verdict(verdict: ClaimVerdict) -> str:
    """One line for a report: claim, measurement, interval, z, verdict and reasons."""
    claim = verdict.claim
    who = f" for {claim.model}" if claim.model else ""
    claimed = f"{claim.value:.1%}" if claim.value is not None else claim.raw_value
    text = f"{claim.display}{who}: card {claimed}"
    if verdict.measured is not None and verdict.ci_low is not None and verdict.ci_high is not None:
        text += (
            f", measured {verdict.measured:.1%} [{verdict.ci_low:.1%}, {verdict.ci_high:.1%}]"
            f" (n={verdict.n}, {verdict.metric})"
        )
        if verdict.z is not None:
            text += f", z={verdict.z:+.2f}"
    text += f" — {_STATUS_TEXT[verdict.status]}"
    if verdict.status == "not_comparable" and verdict.as_measured is not None:
        text += f" (as measured: {_STATUS_TEXT[verdict.as_measured]})"
    if verdict.reasons:
        text += "; " + "; ".join(r.text for r in verdict.reasons)
    return text
