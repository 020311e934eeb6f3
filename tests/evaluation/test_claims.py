"""Card claims: parsing real tables and model-index, normalising, and verdicts against runs.

The published figures come from ../shared/corpus/claims.md; the tests parse
that file themselves (a deliberately different, minimal reader) and compare
the claims module's output with it — no number is copied into this file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from seewhy.evaluation import claims as cl
from seewhy.evaluation.model import (
    ItemRecord,
    ModelFingerprint,
    RecordSource,
    RunRecord,
    RunSettings,
)
from seewhy.evaluation.stats import summarize_items
from seewhy.formats.modelcard import parse_card

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CORPUS = SHARED / "corpus"
CLAIMS_MD = CORPUS / "claims.md"

needs_corpus = pytest.mark.skipif(not CLAIMS_MD.is_file(), reason="shared corpus not present")


# ------------------------------------------------------------ the test's own reader


@dataclass
class MdTable:
    section: str
    header: list[str]
    rows: list[list[str]]


def md_tables(text: str) -> list[MdTable]:
    """Tables of claims.md by section: split on '|' and nothing else."""
    out: list[MdTable] = []
    section = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("## "):
            section = lines[i][3:]
        if lines[i].startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            header = [c.strip() for c in lines[i].strip().strip("|").split("|")]
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            out.append(MdTable(section, header, rows))
            continue
        i += 1
    return out


def plain_float(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def card_bytes(body: str, front: str = "") -> bytes:
    head = f"---\n{front}---\n" if front else ""
    return (head + body).encode()


# ------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    ("label", "key"),
    [
        ("HellaSwag", "hellaswag"),
        ("Hellaswag", "hellaswag"),
        ("ARC-e", "arc_easy"),
        ("ARC-Easy", "arc_easy"),
        ("ARC (Easy)", "arc_easy"),
        ("arc_easy", "arc_easy"),
        ("ARC-c", "arc_challenge"),
        ("ARC-Challenge", "arc_challenge"),
        ("AI2 Reasoning Challenge (25-Shot)", "arc_challenge"),
        ("ARC (Average)", "arc_average"),
        ("MMLU (cloze)", "mmlu"),
        ("[MMLU](https://arxiv.org/abs/2009.03300)", "mmlu"),
        ("MMLU-Pro", "mmlu_pro"),
        ("GSM8K", "gsm8k"),
        ("GSM8k (5-shot)", "gsm8k"),
        ("TruthfulQA MC1", "truthfulqa_mc1"),
        ("truthfulqa_mc/mc2", "truthfulqa_mc2"),
        ("BoolQ", "boolq"),
        ("PIQA", "piqa"),
        ("WinoGrande", "winogrande"),
        ("BIG-Bench Hard", "bbh"),
        ("IF Eval", "ifeval"),
        ("Open-rewrite eval", None),
        ("Average", None),
    ],
)
def test_normalize_benchmark(label: str, key: str | None) -> None:
    assert cl.normalize_benchmark(label) == key


@pytest.mark.parametrize(
    ("text", "shots"),
    [
        ("5-shot", (5, False)),
        ("0-shot", (0, False)),
        ("zero-shot", (0, False)),
        ("25", (25, False)),
        ("few-shot", (None, True)),
        ("5-shot, top-1", (5, False)),
        ("HellaSwag (10-Shot)", (10, False)),
        ("3-5", (None, False)),
        ("–", (None, False)),
        ("", (None, False)),
    ],
)
def test_parse_shots(text: str, shots: tuple[int | None, bool]) -> None:
    assert cl.parse_shots(text) == shots


@pytest.mark.parametrize(
    ("label", "metric"),
    [
        ("acc", "acc"),
        ("accuracy", "acc"),
        ("acc_norm", "acc_norm"),
        ("normalized accuracy", "acc_norm"),
        ("exact match", "exact_match"),
        ("maj@1", "exact_match"),
        ("score", None),
        ("score (lighteval)", None),
        ("", None),
        ("mc2", "mc2"),
    ],
)
def test_normalize_metric(label: str, metric: str | None) -> None:
    assert cl.normalize_metric(label) == metric


def test_task_names_of_runs() -> None:
    assert cl.task_benchmark("arc_easy") == "arc_easy"
    assert cl.task_benchmark("ARC-Challenge") == "arc_challenge"
    assert cl.task_benchmark("mmlu_abstract_algebra") is None  # a subtask is not MMLU
    assert cl.task_benchmark("my_task") is None


# ------------------------------------------------------------ claims.md tables


@needs_corpus
def test_claims_md_tables_as_cards() -> None:
    tables = md_tables(CLAIMS_MD.read_text(encoding="utf-8"))
    assert len(tables) == 4
    for table in tables:
        body = "\n".join(
            ["| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
            + ["| " + " | ".join(r) + " |" for r in table.rows]
        )
        claims = cl.read_claims(card_bytes(body), path="card.md")
        model_cols = range(3, len(table.header))
        expected = [
            (row, table.header[k], plain_float(row[k]))
            for row in table.rows
            for k in model_cols
            if plain_float(row[k]) is not None
        ]
        # one claim per plain-number cell, none for "19.8 **or** 1.98 (see note)"
        assert len(claims) == len(expected), table.section
        for claim, (row, column, value) in zip(claims, expected, strict=True):
            assert value is not None
            assert claim.model == column
            assert claim.value == pytest.approx(value / 100)  # every table here is in percent
            assert claim.scale == "percent"
            assert claim.benchmark_label == row[0]
            assert claim.source.quote.startswith("| " + row[0])
            if row[1].isdigit():
                assert (claim.shots, claim.few_shot) == (int(row[1]), False)
            elif row[1] == "few-shot":
                assert (claim.shots, claim.few_shot) == (None, True)
            else:
                assert claim.shots is None
            assert claim.benchmark is not None, row[0]


@needs_corpus
def test_claims_md_in_the_cards_own_layouts() -> None:
    """SmolLM2 lays its table out as `| Metric | model | model |`; Gemma 3 as
    `| Benchmark | n-shot | model |` with "10-shot" cells and linked names."""
    tables = md_tables(CLAIMS_MD.read_text(encoding="utf-8"))
    smol = next(t for t in tables if "SmolLM2-135M (base)" in t.section)
    body = "| Metric | SmolLM2-135M-8k | SmolLM-135M |\n|:----|:----:|:----:|\n" + "\n".join(
        f"| {r[0]} | **{r[3]}** | {r[4]} |" for r in smol.rows
    )
    claims = cl.read_claims(card_bytes(body))
    assert len(claims) == 2 * len(smol.rows)
    assert {c.model for c in claims} == {"SmolLM2-135M-8k", "SmolLM-135M"}
    first = [c for c in claims if c.model == "SmolLM2-135M-8k"]
    assert [c.value for c in first] == pytest.approx([float(r[3]) / 100 for r in smol.rows])
    assert all(c.shots is None for c in claims)  # the layout has no shots column
    arc = next(c for c in first if c.benchmark == "arc_average")
    assert arc.benchmark_label == "ARC (Average)"
    mmlu = next(c for c in first if c.benchmark == "mmlu")
    assert mmlu.variant == "cloze"

    gemma = next(t for t in tables if "gemma-3-270m (PT)" in t.section)
    body = "| Benchmark | n-shot | Gemma 3 PT 270M |\n| :---- | :----: | :----: |\n" + "\n".join(
        f"| [{r[0]}][{r[0].lower()}] | {r[1]}-shot | {r[3]} |" for r in gemma.rows
    )
    claims = cl.read_claims(card_bytes(body))
    assert [c.shots for c in claims] == [int(r[1]) for r in gemma.rows]
    assert [c.value for c in claims] == pytest.approx([float(r[3]) / 100 for r in gemma.rows])
    assert [c.benchmark_label for c in claims] == [r[0] for r in gemma.rows]


def test_table_in_fractions_and_aggregate_rows() -> None:
    body = (
        "| Task/Metric | Model A | Model B |\n| --- | --- | --- |\n"
        "| arc_easy/acc | 0.69 | 0.72 |\n| hellaswag/acc_norm | 0.67 | 0.70 |\n"
        "| Average | 0.68 | 0.71 |\n| wic/acc | N/A | - |\n"
    )
    claims = cl.read_claims(card_bytes(body))
    assert [(c.benchmark, c.metric, c.value, c.model) for c in claims] == [
        ("arc_easy", "acc", 0.69, "Model A"),
        ("arc_easy", "acc", 0.72, "Model B"),
        ("hellaswag", "acc_norm", 0.67, "Model A"),
        ("hellaswag", "acc_norm", 0.70, "Model B"),
    ]
    assert all(c.scale == "fraction" for c in claims)


def test_tables_that_are_not_benchmark_tables_give_no_claims() -> None:
    body = (
        "| Pythia model | Params | Layers |\n| ---: | ---: | :-: |\n| 70M | 18,915,328 | 6 |\n\n"
        "| a | b |\n|---|---|\n| HellaSwag | see the paper |\n"
    )
    assert cl.read_claims(card_bytes(body)) == []


def test_transposed_leaderboard_table() -> None:
    body = (
        "| Model | ARC (25-shot) | HellaSwag (10-shot) | LAMBADA PPL |\n|---|---|---|---|\n"
        "| my-model-7b | 51.2 | 77.0 | 3.9 |\n"
    )
    claims = cl.read_claims(card_bytes(body))
    assert [(c.benchmark, c.shots, c.model) for c in claims] == [
        ("arc", 25, "my-model-7b"),
        ("hellaswag", 10, "my-model-7b"),
        ("lambada", None, "my-model-7b"),
    ]
    assert claims[0].value == pytest.approx(0.512)
    assert claims[2].value is None  # a perplexity is not a score from 0 to 1


MODEL_INDEX = """model-index:
- name: tiny-7b-instruct
  results:
  - task: {type: text-generation}
    dataset:
      name: AI2 Reasoning Challenge (25-Shot)
      type: ai2_arc
      config: ARC-Challenge
      split: test
      args: {num_few_shot: 25}
    metrics:
    - {type: acc_norm, value: 66.89, name: normalized accuracy}
  - task: {type: text-generation}
    dataset: {name: TruthfulQA (0-shot), type: truthful_qa, args: {num_few_shot: 0}}
    metrics:
    - {type: mc2, value: 63.01}
  - task: {type: text-generation}
    dataset: {name: MT-Bench, type: mt_bench}
    metrics:
    - {type: score, value: 7.5}
"""


def test_model_index_claims() -> None:
    data = card_bytes("# tiny\n", MODEL_INDEX)
    claims = cl.read_claims(data, path="README.md")
    assert [(c.benchmark, c.metric, c.shots, c.origin) for c in claims] == [
        ("arc_challenge", "acc_norm", 25, "model-index"),
        ("truthfulqa_mc2", "acc", 0, "model-index"),
        ("mt_bench", None, None, "model-index"),
    ]
    arc, tqa, mt = claims
    assert arc.value == pytest.approx(0.6689) and arc.scale == "percent"
    assert tqa.value == pytest.approx(0.6301)
    assert mt.value is None  # MT-Bench is not a 0-1 score
    assert arc.model == "tiny-7b-instruct"
    # the line points at the metric in the front matter
    lines = data.decode().splitlines()
    assert arc.source.line is not None and "66.89" in lines[arc.source.line - 1]
    # the card parser reads the shots from dataset.args
    card = parse_card(data)
    assert [r.num_fewshot for r in card.eval_results] == [25, 0, None]


def _corpus_cards() -> list[Path]:
    manifest = json.loads((CORPUS / "cards" / "manifest.json").read_text(encoding="utf-8"))
    files = [CORPUS / "cards" / entry["file"] for entry in manifest]
    files += sorted((CORPUS / "openness" / "cards").glob("*.md"))
    return files


@needs_corpus
def test_real_cards_never_crash_and_every_claim_is_on_its_line() -> None:
    files = _corpus_cards()
    assert len(files) > 50
    with_claims = 0
    for path in files:
        data = path.read_bytes()
        claims = cl.read_claims(path)
        card = parse_card(data, path=str(path))
        numeric = [
            r
            for r in card.eval_results
            if isinstance(r.metric_value, (int, float)) and not isinstance(r.metric_value, bool)
        ]
        assert sum(c.origin == "model-index" for c in claims) >= len(numeric), path.name
        lines = data.decode("utf-8", "replace").split("\n")  # lines as the card parser counts
        with_claims += bool(claims)
        for claim in claims:
            assert claim.value is None or 0.0 <= claim.value <= 1.0
            assert claim.source.path == str(path)
            assert claim.source.line is not None
            line = lines[claim.source.line - 1]
            if claim.origin == "table":
                # a table claim quotes its row, and its number is in that row
                assert line.strip().startswith(claim.source.quote[:50])
                number = re.search(r"-?\d+(?:\.\d+)?", claim.raw_value)
                assert number is not None and number.group(0) in line
    assert with_claims >= 30


def test_hostile_card_bytes() -> None:
    for data in (
        b"\xff\xfe|||\n|---|\n",
        b"---\nmodel-index: [1, {results: 3}]\n---\n",
        b"| HellaSwag |" * 5000 + b"\n|---|\n",
        ("| Benchmark | x |\n|---|---|\n" + "| MMLU | 1e309 |\n" * 3).encode(),
    ):
        assert isinstance(cl.read_claims(data), list)


# ------------------------------------------------------------ verdicts


def _run(
    task: str,
    correct: int,
    n: int,
    *,
    shots: int = 0,
    model_id: str = "gemma-3-270m",
    quantization: str | None = None,
    metrics: tuple[str, ...] = ("acc", "acc_norm"),
    source: RecordSource = "seewhy",
    limit: int | None = None,
    chat: bool = False,
) -> RunRecord:
    items = [
        ItemRecord(
            run_id=f"{task}-{model_id}",
            task=task,
            item_id=str(i),
            item_hash=str(i),
            prompt_hash=str(i),
            prompt="q",
            target="a",
            scores={m: float(i < correct) for m in metrics},
        )
        for i in range(n)
    ]
    return RunRecord(
        run_id=f"{task}-{model_id}-{shots}",
        task=task,
        task_version="v1",
        output_type="multiple_choice",
        model=ModelFingerprint(
            id=model_id, backend="transformers", digest="d", quantization=quantization
        ),
        settings=RunSettings(num_fewshot=shots, limit=limit, chat_template=chat),
        source=source,
        n_items=n,
        metrics=summarize_items(items),
        primary_metric=metrics[0],
    )


def _claim(
    benchmark: str,
    value: float,
    *,
    shots: int | None = 0,
    metric: str | None = "acc",
    model: str | None = "Gemma 3 PT 270M",
) -> cl.Claim:
    label = {"hellaswag": "HellaSwag", "arc_average": "ARC (Average)"}.get(benchmark, benchmark)
    [claim] = cl.read_claims(
        card_bytes(
            f"| Benchmark | shots | metric | {model or 'Value'} |\n|---|---|---|---|\n"
            f"| {label} | {'' if shots is None else shots} | {metric or 'score'} | "
            f"{value * 100:.1f} |\n"
        )
    )
    return claim


def test_consistent_below_and_above() -> None:
    run = _run("hellaswag", 400, 1000)  # 0.400, Wilson [0.370, 0.431]
    [v] = cl.check_claims([_claim("hellaswag", 0.409)], [run])
    assert v.status == "consistent"
    assert v.measured == pytest.approx(0.4) and v.n == 1000 and v.metric == "acc"
    assert v.ci_low is not None and v.ci_high is not None
    assert v.ci_low < 0.409 < v.ci_high
    assert v.z == pytest.approx((0.4 - 0.409) / v.stderr)  # type: ignore[operator]
    # only a caveat: 1000 of 10042 items, a random subset
    assert [r.kind for r in v.reasons] == ["subset"] and not v.blocking

    [below] = cl.check_claims([_claim("hellaswag", 0.5)], [run])
    assert below.status == "below_claim" and below.z is not None and below.z < -1.96
    [above] = cl.check_claims([_claim("hellaswag", 0.3)], [run])
    assert above.status == "above_claim" and above.z is not None and above.z > 1.96
    assert "below the claim" in cl.describe_verdict(below)


def test_differences_make_a_claim_not_comparable() -> None:
    claim = _claim("hellaswag", 0.409)
    cases = {
        "shots": _run("hellaswag", 400, 1000, shots=10),
        "quantization": _run("hellaswag", 400, 1000, quantization="Q4_K_M"),
        "model": _run("hellaswag", 400, 1000, model_id="gemma-3-270m-it"),
        "subset": _run("hellaswag", 400, 1000, source="lm-eval", limit=1000),
    }
    for kind, run in cases.items():
        [v] = cl.check_claims([claim], [run])
        assert v.status == "not_comparable", kind
        assert kind in {r.kind for r in v.blocking}, kind
        # the numbers are still shown, with what they alone would say
        assert v.measured == pytest.approx(0.4) and v.as_measured == "consistent"
        assert "not comparable" in cl.describe_verdict(v)
    # a metric the run did not measure
    [v] = cl.check_claims([_claim("hellaswag", 0.409, metric="acc_norm")], [cases["shots"]])
    assert v.metric == "acc_norm"
    [v] = cl.check_claims(
        [_claim("hellaswag", 0.409, metric="acc_norm")],
        [_run("hellaswag", 4, 10, metrics=("acc",))],
    )
    assert "metric" in {r.kind for r in v.blocking}


def test_caveats_do_not_block() -> None:
    run = _run("hellaswag", 400, 1000, chat=True)
    [v] = cl.check_claims([_claim("hellaswag", 0.409, shots=None, metric=None)], [run])
    assert v.status == "consistent"
    assert {r.kind for r in v.caveats} == {"shots", "metric", "format", "subset"}


def test_best_run_is_chosen_and_missing_runs_are_not_checked() -> None:
    runs = [_run("hellaswag", 40, 100, shots=10), _run("hellaswag", 400, 1000, shots=0)]
    [v] = cl.check_claims([_claim("hellaswag", 0.409)], runs)
    assert v.status == "consistent" and v.run_ids == (runs[1].run_id,)
    [v] = cl.check_claims([_claim("piqa", 0.677)], runs)
    assert v.status == "not_checked" and v.measured is None
    unknown = replace(_claim("piqa", 0.4), benchmark=None, benchmark_label="Open-rewrite eval")
    [v] = cl.check_claims([unknown], runs)
    assert v.status == "not_checked" and v.reasons[0].kind == "benchmark"


def test_arc_average_combines_easy_and_challenge() -> None:
    easy = _run("arc_easy", 600, 1000)
    challenge = _run("arc_challenge", 300, 1000)
    claim = _claim("arc_average", 0.45)
    [v] = cl.check_claims([claim], [easy, challenge])
    # (0.6 + 0.3)/2 = 0.45; SE = √(se_e² + se_c²)/2
    assert v.measured == pytest.approx(0.45)
    se_e = next(m.stderr for m in easy.metrics if m.metric == "acc")
    se_c = next(m.stderr for m in challenge.metrics if m.metric == "acc")
    assert v.stderr == pytest.approx((se_e**2 + se_c**2) ** 0.5 / 2)
    assert v.status == "consistent"
    assert len(v.run_ids) == 2
    [v] = cl.check_claims([claim], [easy])
    assert v.status == "not_checked"


@needs_corpus
def test_every_claims_md_claim_gets_a_verdict() -> None:
    """The Gemma PT claims against runs of the benchmarks seewhy ships, as the demo does."""
    tables = md_tables(CLAIMS_MD.read_text(encoding="utf-8"))
    gemma = next(t for t in tables if "gemma-3-270m (PT)" in t.section)
    body = "| Benchmark | n-shot | Gemma 3 PT 270M |\n|---|---|---|\n" + "\n".join(
        f"| {r[0]} | {r[1]} | {r[3]} |" for r in gemma.rows
    )
    claims = cl.read_claims(card_bytes(body))
    runs = [
        _run(task, 50, 100, quantization="Q4_K_M")
        for task in ("hellaswag", "arc_easy", "arc_challenge", "boolq")
    ]
    verdicts = cl.check_claims(claims, runs)
    assert len(verdicts) == len(gemma.rows)
    for v in verdicts:
        if v.claim.benchmark in {"hellaswag", "arc_easy", "arc_challenge", "boolq"}:
            assert v.status == "not_comparable"  # quantized weights, at least
            assert "quantization" in {r.kind for r in v.blocking}
        else:
            assert v.status == "not_checked"
        assert cl.describe_verdict(v)


def test_transposed_table_without_a_model_column_is_the_cards_model() -> None:
    front = "model_name: big-base\n"
    body = "| HellaSwag | Winogrande |\n| :--- | :--- |\n| 90.53 | 89.50 |\n"
    claims = cl.read_claims(card_bytes(body, front))
    assert [(c.benchmark, c.model) for c in claims] == [
        ("hellaswag", "big-base"),
        ("winogrande", "big-base"),
    ]
    assert [c.value for c in claims] == pytest.approx([0.9053, 0.8950])
