"""The runner: a task's items through a backend into the store, resumable.

:func:`run_task` plans the task's items, takes every item already in the
store under the same cache key (model, task version, item, prompt, requests)
without calling the model, sends the rest to the backend in chunks (the
backend batches inside a chunk), scores each item with the task, writes each
chunk's items as soon as they are scored and finally writes the
:class:`~seewhy.evaluation.model.RunRecord` with its metric summaries. A
backend error fails only the items it belongs to: a request that failed after
the backend's own retries errors its item while the chunk's other answers are
kept (:class:`~seewhy.evaluation.model.BatchBackendError`); a call that failed
as a whole is retried one item at a time. An errored item is recorded with
``error`` set and the run goes on.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

if TYPE_CHECKING:
    from rich.progress import TaskID

from seewhy.evaluation.model import (
    Backend,
    BackendError,
    BatchBackendError,
    GenerationRequest,
    GenerationResult,
    ItemRecord,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelFingerprint,
    OutputType,
    RunRecord,
    RunSettings,
    stable_hash,
)
from seewhy.evaluation.stats import summarize_items
from seewhy.evaluation.store import Store, item_cache_key

Request: TypeAlias = LoglikelihoodRequest | GenerationRequest
Result: TypeAlias = LoglikelihoodResult | GenerationResult


@runtime_checkable
class PlannedItem(Protocol):
    """One item a task wants evaluated: its identity and the requests it needs.

    ``error`` is set (and ``requests`` empty) when the task itself cannot
    score the item (a gold index outside the choices): it is recorded as
    errored without a model call.
    """

    @property
    def item_id(self) -> str: ...

    @property
    def item_hash(self) -> str: ...

    @property
    def prompt_hash(self) -> str: ...

    @property
    def requests(self) -> Sequence[Request]: ...

    @property
    def error(self) -> str | None: ...


class Task(Protocol):
    """What the runner needs of a task: :class:`seewhy.evaluation.tasks.task.Task` fits it."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def output_type(self) -> OutputType: ...

    @property
    def primary_metric(self) -> str: ...

    def settings(self, *, limit: int | None = ..., seed: int = ...) -> RunSettings:
        """The run settings a record of this task carries."""
        ...

    def items(self, *, limit: int | None = ..., seed: int = ...) -> Sequence[Any]:
        """The items to evaluate (``limit`` of them, sampled with ``seed``), in a stable order.

        Each item is a :class:`PlannedItem`.
        """
        ...

    def record(
        self,
        item: Any,
        results: Sequence[LoglikelihoodResult] | GenerationResult,
        *,
        run_id: str,
    ) -> ItemRecord:
        """The item's record: one log-likelihood result per request, or the generation."""
        ...

    def error_record(self, item: Any, *, run_id: str, error: str) -> ItemRecord:
        """The record of an item that could not be scored."""
        ...


class Progress(Protocol):
    """Receives progress as items finish."""

    def start(self, task: str, total: int, done: int) -> None: ...

    def advance(self, n: int) -> None: ...

    def stop(self) -> None: ...


class RichProgress:
    """A progress bar with ETA on stderr (rich)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._id: TaskID | None = None

    def start(self, task: str, total: int, done: int) -> None:
        self._bar.start()
        self._id = self._bar.add_task(task, total=total, completed=done)

    def advance(self, n: int) -> None:
        if self._id is not None:
            self._bar.advance(self._id, n)

    def stop(self) -> None:
        self._bar.stop()


def model_key(fingerprint: ModelFingerprint) -> str:
    """What identifies a model's answers: weights digest, backend, dtype and scoring settings."""
    return stable_hash(
        {
            "backend": fingerprint.backend,
            "digest": fingerprint.digest,
            "dtype": fingerprint.dtype,
            "scoring": fingerprint.details.get("scoring", ""),
        }
    )


def requests_hash(requests: Sequence[Request]) -> str:
    """The hash of the exact requests an item sends (kind and settings included)."""
    return stable_hash([{"kind": type(r).__name__, **r.model_dump(mode="json")} for r in requests])


def make_run_id(task: Task, fingerprint: ModelFingerprint, settings: RunSettings) -> str:
    """A run id that is the same when the same model runs the same task the same way."""
    digest = stable_hash(
        {
            "model": model_key(fingerprint),
            "task": task.name,
            "version": task.version,
            "settings": settings.model_dump(mode="json"),
        }
    )
    return f"{task.name}-{fingerprint.digest[:8]}-{digest[:12]}"


def _attach(record: ItemRecord, run_id: str, results: Sequence[Result]) -> ItemRecord:
    """Set the run id and fill latency and token counts the task left at zero."""
    update: dict[str, object] = {"run_id": run_id}
    if record.latency_s == 0.0 and results:
        update["latency_s"] = sum(r.latency_s for r in results)
    if record.input_tokens == 0 and results:
        update["input_tokens"] = sum(
            r.context_tokens + r.tokens if isinstance(r, LoglikelihoodResult) else r.input_tokens
            for r in results
        )
    if record.output_tokens == 0 and results:
        update["output_tokens"] = sum(
            r.output_tokens for r in results if isinstance(r, GenerationResult)
        )
    return record.model_copy(update=update)


def _errored(task: Task, item: PlannedItem, run_id: str, message: str) -> ItemRecord:
    """The record of an item the backend (or the task) could not answer."""
    return task.error_record(item, run_id=run_id, error=message)


def _answers(call: Callable[[], Sequence[Result]], n: int) -> Sequence[Result | BackendError]:
    """The backend's answers to n requests; a batch that partly failed keeps the answers
    it got, each failed request standing as its error."""
    try:
        got: Sequence[Result | BackendError] = call()
    except BatchBackendError as exc:
        got = [
            r
            if isinstance(r, LoglikelihoodResult | GenerationResult | BackendError)
            else BackendError(f"the backend answered {type(r).__name__}")
            for r in exc.results
        ]
    if len(got) != n:
        raise BackendError(f"the backend answered {len(got)} of {n} requests")
    return got


def _call(backend: Backend, requests: Sequence[Request]) -> list[Result | BackendError]:
    """Answer mixed requests: log-likelihood ones in one call, generation ones in another.

    A request that failed after the backend's retries stands as its BackendError; a
    call that failed as a whole raises."""
    ll_idx: list[int] = []
    ll_reqs: list[LoglikelihoodRequest] = []
    gen_idx: list[int] = []
    gen_reqs: list[GenerationRequest] = []
    for i, r in enumerate(requests):
        if isinstance(r, LoglikelihoodRequest):
            ll_idx.append(i)
            ll_reqs.append(r)
        else:
            gen_idx.append(i)
            gen_reqs.append(r)
    out: list[Result | BackendError | None] = [None] * len(requests)
    if ll_reqs:
        ll = _answers(lambda: backend.loglikelihood(ll_reqs), len(ll_reqs))
        for i, a in zip(ll_idx, ll, strict=True):
            out[i] = a
    if gen_reqs:
        gen = _answers(lambda: backend.generate(gen_reqs), len(gen_reqs))
        for i, b in zip(gen_idx, gen, strict=True):
            out[i] = b
    return [r for r in out if r is not None]


def _run_chunk(
    task: Task, backend: Backend, chunk: Sequence[PlannedItem], run_id: str
) -> list[ItemRecord]:
    """Score a chunk of items with one backend call.

    An item whose request failed (after the backend's retries) is errored and the
    answers the others got are kept; when the call fails as a whole, the items are
    sent again one by one, so one bad item cannot sink the chunk."""
    flat = [r for item in chunk for r in item.requests]
    try:
        results = _call(backend, flat)
    except BackendError as exc:
        if len(chunk) == 1:
            return [_errored(task, chunk[0], run_id, str(exc) or type(exc).__name__)]
        return [rec for item in chunk for rec in _run_single(task, backend, item, run_id)]
    records: list[ItemRecord] = []
    pos = 0
    for item in chunk:
        n = len(item.requests)
        mine = results[pos : pos + n]
        pos += n
        records.append(_scored_or_errored(task, item, mine, run_id))
    return records


def _scored_or_errored(
    task: Task, item: PlannedItem, results: Sequence[Result | BackendError], run_id: str
) -> ItemRecord:
    failed = [r for r in results if isinstance(r, BackendError)]
    if failed:
        return _errored(task, item, run_id, str(failed[0]) or type(failed[0]).__name__)
    return _score(task, item, [r for r in results if not isinstance(r, BackendError)], run_id)


def _run_single(task: Task, backend: Backend, item: PlannedItem, run_id: str) -> list[ItemRecord]:
    try:
        results = _call(backend, item.requests)
    except BackendError as exc:
        return [_errored(task, item, run_id, str(exc) or type(exc).__name__)]
    return [_scored_or_errored(task, item, results, run_id)]


def _score(task: Task, item: PlannedItem, results: Sequence[Result], run_id: str) -> ItemRecord:
    generations = [r for r in results if isinstance(r, GenerationResult)]
    if generations:
        record = task.record(item, generations[0], run_id=run_id)
    else:
        lls = [r for r in results if isinstance(r, LoglikelihoodResult)]
        record = task.record(item, lls, run_id=run_id)
    return _attach(record, run_id, results)


def _chunks(items: Sequence[PlannedItem], max_requests: int) -> Iterable[list[PlannedItem]]:
    chunk: list[PlannedItem] = []
    size = 0
    for item in items:
        n = max(1, len(item.requests))
        if chunk and size + n > max_requests:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += n
    if chunk:
        yield chunk


def run_task(
    task: Task,
    backend: Backend,
    store: Store,
    *,
    limit: int | None = None,
    seed: int | None = None,
    chunk_requests: int = 64,
    progress: bool | Progress | None = None,
) -> RunRecord:
    """Evaluate ``task`` with ``backend``, reusing and writing items in ``store``.

    ``chunk_requests`` bounds the requests sent per backend call (and so the
    work an interruption can lose). ``progress``: True for a bar on stderr,
    None for a bar only when stderr is a terminal, or a :class:`Progress`.
    """
    fingerprint = backend.fingerprint()
    seeded: dict[str, int] = {} if seed is None else {"seed": seed}
    settings = task.settings(limit=limit, **seeded)
    run_id = make_run_id(task, fingerprint, settings)
    planned: list[PlannedItem] = list(task.items(limit=limit, seed=settings.seed))
    mkey = model_key(fingerprint)

    keys: list[str] = []
    done: dict[int, ItemRecord] = {}
    for position, item in enumerate(planned):
        key = item_cache_key(
            model_key=mkey,
            task_version=task.version,
            item_hash=item.item_hash,
            prompt_hash=item.prompt_hash,
            requests=requests_hash(item.requests),
        )
        keys.append(key)
        if item.error is not None or not item.requests:
            # The task cannot score it (a bad gold index): errored, no model call.
            done[position] = _errored(task, item, run_id, item.error or "the item has no requests")
            continue
        cached = store.cached_item(key)
        if cached is not None:
            done[position] = cached.model_copy(update={"run_id": run_id})
    if done:
        store.put_items([(rec, keys[pos], pos) for pos, rec in done.items()])

    bar: Progress | None
    if isinstance(progress, bool) or progress is None:
        show = progress if progress is not None else sys.stderr.isatty()
        bar = RichProgress() if show else None
    else:
        bar = progress
    pending = [pos for pos in range(len(planned)) if pos not in done]
    if bar is not None:
        bar.start(task.name, len(planned), len(done))
    try:
        index = {id(planned[pos]): pos for pos in pending}
        for chunk in _chunks([planned[pos] for pos in pending], chunk_requests):
            records = _run_chunk(task, backend, chunk, run_id)
            rows = []
            for item, record in zip(chunk, records, strict=True):
                pos = index[id(item)]
                done[pos] = record
                rows.append((record, keys[pos], pos))
            store.put_items(rows)
            if bar is not None:
                bar.advance(len(chunk))
    finally:
        if bar is not None:
            bar.stop()

    ordered = [done[pos] for pos in range(len(planned))]
    metrics = summarize_items(ordered)
    primary = task.primary_metric or (
        "acc" if task.output_type == "multiple_choice" else "exact_match"
    )
    run = RunRecord(
        run_id=run_id,
        task=task.name,
        task_version=task.version,
        output_type=task.output_type,
        model=fingerprint,
        settings=settings,
        source="seewhy",
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        n_items=len(ordered),
        n_errors=sum(1 for r in ordered if r.error is not None),
        metrics=metrics,
        primary_metric=primary,
    )
    store.put_run(run)
    return run


__all__ = [
    "PlannedItem",
    "Progress",
    "RichProgress",
    "Task",
    "make_run_id",
    "model_key",
    "requests_hash",
    "run_task",
]
