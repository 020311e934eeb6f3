"""The runner on real ARC-Easy items and the real SmolLM2: resume, reuse, errored items."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from seewhy.evaluation.backends.transformers_backend import TransformersBackend
from seewhy.evaluation.model import (
    BackendError,
    GenerationRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelFingerprint,
)
from seewhy.evaluation.runner import run_task
from seewhy.evaluation.store import Store
from seewhy.evaluation.tasks import load_task
from seewhy.evaluation.tasks.task import Task

pytestmark = pytest.mark.models

ARC = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "benchmarks"


class CountingBackend:
    """Forwards every call to a real backend and counts the requests it forwards."""

    def __init__(self, inner: TransformersBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls = 0
        self.requests = 0

    def fingerprint(self) -> ModelFingerprint:
        return self.inner.fingerprint()

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        self.calls += 1
        self.requests += len(requests)
        return self.inner.loglikelihood(requests)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        self.calls += 1
        self.requests += len(requests)
        return self.inner.generate(requests)


class FailingBackend(CountingBackend):
    """The real backend, except that any batch holding ``poison`` fails as a server would."""

    def __init__(self, inner: TransformersBackend, poison: str) -> None:
        super().__init__(inner)
        self.poison = poison

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        if any(r.continuation == self.poison for r in requests):
            self.calls += 1
            raise BackendError("HTTP 500 from the server (after 3 tries)")
        return super().loglikelihood(requests)


class RecordingProgress:
    """A progress sink that keeps what the runner reported."""

    def __init__(self) -> None:
        self.started: tuple[str, int, int] | None = None
        self.advanced: list[int] = []
        self.stopped = False

    def start(self, task: str, total: int, done: int) -> None:
        self.started = (task, total, done)

    def advance(self, n: int) -> None:
        self.advanced.append(n)

    def stop(self) -> None:
        self.stopped = True


def _arc_task(tmp_path: Path, n: int = 6) -> Task:
    """An lm-eval-style ARC-Easy task over the first ``n`` test items of the corpus copy."""
    manifest = json.loads((ARC / "manifest.json").read_text())
    entry = next(e for e in manifest if e["file"] == "arc/ARC-Easy-Test.jsonl")
    lines = (ARC / entry["file"]).read_text().splitlines()[:n]
    rows = []
    for line in lines:
        doc = json.loads(line)
        labels = [c["label"] for c in doc["question"]["choices"]]
        rows.append(
            {
                "id": doc["id"],
                "question": doc["question"]["stem"],
                "choices": [c["text"] for c in doc["question"]["choices"]],
                "answer": labels.index(doc["answerKey"]),
            }
        )
    data = tmp_path / "arc_mini.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = tmp_path / "arc_mini.yaml"
    spec.write_text(
        "task: arc_mini\n"
        "dataset_path: json\n"
        "dataset_kwargs:\n"
        f"  data_files: {{test: {data.name}}}\n"
        "test_split: test\n"
        "output_type: multiple_choice\n"
        'doc_to_text: "Question: {{question}}\\nAnswer:"\n'
        'doc_to_choice: "{{choices}}"\n'
        "doc_to_target: answer\n"
        "id_field: id\n"
    )
    return load_task(spec)


def test_interrupted_run_resumes_from_the_store(
    tmp_path: Path, smollm2_backend: TransformersBackend
) -> None:
    task = _arc_task(tmp_path)
    counting = CountingBackend(smollm2_backend)
    with Store(tmp_path / "store.sqlite") as store:
        first = run_task(task, counting, store, limit=3, progress=False)
        first_items = store.items(first.run_id)
        choices_first = sum(len(i.choices) for i in first_items)
        assert first.n_items == 3 and first.n_errors == 0
        assert counting.requests == choices_first

        counting.requests = 0
        progress = RecordingProgress()
        second = run_task(task, counting, store, limit=5, progress=progress)
        assert progress.started == ("arc_mini", 5, 3)  # 3 of 5 done before any model call
        assert sum(progress.advanced) == 2 and progress.stopped
        items = store.items(second.run_id)
        assert second.n_items == 5
        assert [i.item_id for i in items[:3]] == [i.item_id for i in first_items]
        # The three stored items were reused: only the two new ones reached the model.
        assert counting.requests == sum(len(i.choices) for i in items[3:])
        for old, new in zip(first_items, items[:3], strict=True):
            assert new.choice_logprobs == old.choice_logprobs
            assert new.run_id == second.run_id

        counting.requests = counting.calls = 0
        again = run_task(task, counting, store, limit=5, progress=False)
        assert counting.calls == 0  # a re-run is free
        assert again.run_id == second.run_id
        assert again.metrics == second.metrics
        acc = next(m for m in again.metrics if m.metric == "acc")
        assert acc.n == 5
        assert acc.value == sum(i.scores["acc"] for i in items) / 5
        assert store.get_run(second.run_id) == again


def test_a_failing_item_is_recorded_and_the_run_goes_on(
    tmp_path: Path, smollm2_backend: TransformersBackend
) -> None:
    task = _arc_task(tmp_path, n=4)
    planned = task.items(limit=4)
    victim = planned[1]
    first_request = victim.requests[0]
    assert isinstance(first_request, LoglikelihoodRequest)
    failing = FailingBackend(smollm2_backend, poison=first_request.continuation)
    with Store(tmp_path / "store.sqlite") as store:
        run = run_task(task, failing, store, limit=4, progress=False)
        items = store.items(run.run_id)
        assert run.n_items == 4 and run.n_errors == 1
        errored = [i for i in items if i.error is not None]
        assert [i.item_id for i in errored] == [victim.item_id]
        assert "HTTP 500" in (errored[0].error or "")
        assert all(i.scores for i in items if i.error is None)
        acc = next(m for m in run.metrics if m.metric == "acc")
        assert acc.n == 3

        # The errored item is never served from the cache: a later run retries it alone.
        counting = CountingBackend(smollm2_backend)
        retry = run_task(task, counting, store, limit=4, progress=False)
        assert retry.n_errors == 0
        assert counting.requests == len(victim.requests)
