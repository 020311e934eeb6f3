"""Measured runs for the comparison tests: items scored in the test, exported as
`seewhy eval --format json` writes them."""

from __future__ import annotations

import json
from pathlib import Path

from seewhy.analyzers.performance import export_runs
from seewhy.evaluation.model import (
    ItemRecord,
    ModelFingerprint,
    RunRecord,
    RunSettings,
    stable_hash,
)
from seewhy.evaluation.stats import summarize_items


def run(task: str, model: str, right: set[int], n: int = 40) -> tuple[RunRecord, list[ItemRecord]]:
    """A run of ``model`` on ``n`` items of ``task``, right on the items in ``right``."""
    run_id = f"run-{model}-{task}"
    items = [
        ItemRecord(
            run_id=run_id,
            task=task,
            item_id=str(i),
            item_hash=stable_hash([task, i]),
            prompt_hash=stable_hash([task, "prompt", i]),
            prompt=f"{task} question {i}?",
            target="a",
            choices=("a", "b"),
            gold=0,
            choice_logprobs=(-1.0, -2.0) if i in right else (-2.0, -1.0),
            scores={"acc": 1.0 if i in right else 0.0},
            slices={"subject": "even" if i % 2 == 0 else "odd"},
        )
        for i in range(n)
    ]
    record = RunRecord(
        run_id=run_id,
        task=task,
        task_version="v1",
        output_type="multiple_choice",
        model=ModelFingerprint(id=model, backend="transformers", digest=model[0] * 64),
        settings=RunSettings(num_fewshot=0, limit=n),
        n_items=n,
        n_errors=0,
        metrics=summarize_items(items),
    )
    return record, items


def write_export(path: Path, runs: list[tuple[RunRecord, list[ItemRecord]]]) -> Path:
    """The runs as a `seewhy eval --format json` export."""
    doc = {"kind": "seewhy.eval", "runs": export_runs(runs)}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path
