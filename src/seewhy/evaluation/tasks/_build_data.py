"""Rebuild the built-in tasks' data files from the benchmark corpus copies.

Usage::

    python -m seewhy.evaluation.tasks._build_data CORPUS_DIR [OUT_DIR]

``CORPUS_DIR`` is the folder with the corpus ``manifest.json`` (the project's
``shared/corpus/benchmarks``); ``OUT_DIR`` defaults to the package's
``seewhy/data/tasks``. Every output is gzip with a zero timestamp, so the
same inputs give the same bytes (a test rebuilds and compares when the corpus
is at hand). What each conversion does, and why, is in
``seewhy/data/tasks/README.md``; nothing here is read at evaluation time.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

# lm-evaluation-harness's MMLU grouping (lm_eval/tasks/mmlu/_generate_configs.py,
# SUBJECTS): subject -> category. Used only as a slice label.
MMLU_CATEGORIES: dict[str, str] = {
    "abstract_algebra": "stem",
    "anatomy": "stem",
    "astronomy": "stem",
    "business_ethics": "other",
    "clinical_knowledge": "other",
    "college_biology": "stem",
    "college_chemistry": "stem",
    "college_computer_science": "stem",
    "college_mathematics": "stem",
    "college_medicine": "other",
    "college_physics": "stem",
    "computer_security": "stem",
    "conceptual_physics": "stem",
    "econometrics": "social_sciences",
    "electrical_engineering": "stem",
    "elementary_mathematics": "stem",
    "formal_logic": "humanities",
    "global_facts": "other",
    "high_school_biology": "stem",
    "high_school_chemistry": "stem",
    "high_school_computer_science": "stem",
    "high_school_european_history": "humanities",
    "high_school_geography": "social_sciences",
    "high_school_government_and_politics": "social_sciences",
    "high_school_macroeconomics": "social_sciences",
    "high_school_mathematics": "stem",
    "high_school_microeconomics": "social_sciences",
    "high_school_physics": "stem",
    "high_school_psychology": "social_sciences",
    "high_school_statistics": "stem",
    "high_school_us_history": "humanities",
    "high_school_world_history": "humanities",
    "human_aging": "other",
    "human_sexuality": "social_sciences",
    "international_law": "humanities",
    "jurisprudence": "humanities",
    "logical_fallacies": "humanities",
    "machine_learning": "stem",
    "management": "other",
    "marketing": "other",
    "medical_genetics": "other",
    "miscellaneous": "other",
    "moral_disputes": "humanities",
    "moral_scenarios": "humanities",
    "nutrition": "other",
    "philosophy": "humanities",
    "prehistory": "humanities",
    "professional_accounting": "other",
    "professional_law": "humanities",
    "professional_medicine": "other",
    "professional_psychology": "social_sciences",
    "public_relations": "social_sciences",
    "security_studies": "social_sciences",
    "sociology": "social_sciences",
    "us_foreign_policy": "social_sciences",
    "virology": "other",
    "world_religions": "humanities",
}

GSM8K_FEWSHOT_ITEMS = 50  # the first train items: the few-shot pool


def _gzip_bytes(raw: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    return buffer.getvalue()


def _write(path: Path, raw: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_gzip_bytes(raw))


def _jsonl(rows: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


# --------------------------------------------------------------------- GSM8K


def build_gsm8k(corpus: Path, out: Path) -> None:
    # Verbatim: the decompressed bytes equal the corpus copies (train: a prefix).
    _write(out / "gsm8k" / "test.jsonl.gz", (corpus / "gsm8k__test.jsonl").read_bytes())
    train = _read_lines(corpus / "gsm8k__train.jsonl")[:GSM8K_FEWSHOT_ITEMS]
    _write(out / "gsm8k" / "train_first50.jsonl.gz", "".join(train).encode("utf-8"))
    license_text = (corpus / "gsm8k__LICENSE.txt").read_bytes()
    (out / "gsm8k").mkdir(parents=True, exist_ok=True)
    (out / "gsm8k" / "LICENSE").write_bytes(license_text)


# ---------------------------------------------------------------------- MMLU


def _mmlu_rows(folder: Path, split: str) -> Iterator[dict[str, Any]]:
    for path in sorted(folder.glob(f"*_{split}.csv")):
        subject = path.name[: -len(f"_{split}.csv")]
        with path.open(encoding="utf-8", newline="") as handle:
            for index, row in enumerate(csv.DictReader(handle)):
                yield {
                    "id": f"{subject}-{index}",
                    "subject": subject,
                    "category": MMLU_CATEGORIES[subject],
                    "question": row["question"],
                    "choices": [row[f"choice{i}"] for i in range(4)],
                    "answer": int(row["answer"]),
                }


def build_mmlu(corpus: Path, out: Path) -> None:
    for split in ("test", "dev"):
        rows = list(_mmlu_rows(corpus / "mmlu" / split, split))
        _write(out / "mmlu" / f"{split}.jsonl.gz", _jsonl(rows))


# ----------------------------------------------------------------------- ARC


def _arc_rows(path: Path) -> Iterator[dict[str, Any]]:
    for line in _read_lines(path):
        if not line.strip():
            continue
        raw = json.loads(line)
        choices = raw["question"]["choices"]
        # The Hugging Face ai2_arc layout, which lm-eval's arc templates read.
        yield {
            "id": raw["id"],
            "question": raw["question"]["stem"],
            "choices": {
                "text": [c["text"] for c in choices],
                "label": [c["label"] for c in choices],
            },
            "answerKey": raw["answerKey"],
        }


def build_arc(corpus: Path, out: Path) -> None:
    for level, name in (("Easy", "easy"), ("Challenge", "challenge")):
        for source, split in (("Test", "test"), ("Dev", "validation")):
            rows = _arc_rows(corpus / "arc" / f"ARC-{level}-{source}.jsonl")
            _write(out / "arc" / f"{name}_{split}.jsonl.gz", _jsonl(rows))


# ----------------------------------------------------------------- HellaSwag


def hellaswag_rows(text: str) -> Iterator[dict[str, Any]]:
    """Items of the 6-line layout: ``label: ctx`` / gold / four endings."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) % 6:
        raise ValueError(f"HellaSwag layout: {len(lines)} lines is not a multiple of 6")
    for index in range(0, len(lines), 6):
        query, label, *endings = lines[index : index + 6]
        activity, sep, _ = query.partition(": ")
        yield {
            "ind": index // 6,
            "activity_label": activity if sep else "",
            "query": query,
            "choices": endings,
            "label": int(label),
        }


def build_hellaswag(corpus: Path, out: Path) -> None:
    raw = bz2.decompress((corpus / "hellaswag" / "hellaswag_val_full.txt.bz2").read_bytes())
    rows = hellaswag_rows(raw.decode("utf-8"))
    _write(out / "hellaswag" / "validation.jsonl.gz", _jsonl(rows))


# ---------------------------------------------------------------- TruthfulQA


def _close(answer: str) -> str:
    # TruthfulQA's own utilities (format_best / split_multi_answer) end every answer with '.'.
    answer = answer.strip()
    return answer if answer.endswith(".") else answer + "."


def truthfulqa_mc1_rows(text: str) -> Iterator[dict[str, Any]]:
    for index, row in enumerate(csv.DictReader(io.StringIO(text))):
        best = _close(row["Best Answer"])
        incorrect = [_close(a) for a in row["Incorrect Answers"].split(";") if a.strip()]
        choices = [best, *incorrect]
        yield {
            "id": str(index),
            "type": row["Type"],
            "category": row["Category"],
            "question": row["Question"],
            "mc1_targets": {"choices": choices, "labels": [1] + [0] * len(incorrect)},
        }


def build_truthfulqa(corpus: Path, out: Path) -> None:
    text = (corpus / "truthfulqa__TruthfulQA.csv").read_text(encoding="utf-8")
    _write(out / "truthfulqa" / "mc1.jsonl.gz", _jsonl(truthfulqa_mc1_rows(text)))


# --------------------------------------------------------------------- BoolQ


def build_boolq(corpus: Path, out: Path) -> None:
    _write(out / "boolq" / "validation.jsonl.gz", (corpus / "boolq" / "val.jsonl").read_bytes())


BUILDERS = (build_gsm8k, build_mmlu, build_arc, build_hellaswag, build_truthfulqa, build_boolq)


def build_all(corpus: Path, out: Path) -> None:
    for builder in BUILDERS:
        builder(corpus, out)


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 2:
        sys.stderr.write(__doc__ or "")
        return 2
    corpus = Path(argv[0])
    default_out = Path(__file__).resolve().parents[2] / "data" / "tasks"
    out = Path(argv[1]) if len(argv) == 2 else default_out
    build_all(corpus, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
