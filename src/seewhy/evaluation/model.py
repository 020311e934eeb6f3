"""The evaluation contract: requests a task makes, results a backend returns,
and the per-item records the runner stores and every analysis reads.

Everything downstream — statistics, claim checks, failure analysis, the
performance analyzer, `seewhy compare` — reads :class:`ItemRecord` and
:class:`RunRecord` only, whatever produced them: a seewhy backend, an
lm-eval ``--log_samples`` file or an inspect-ai log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

OutputType = Literal["multiple_choice", "generate_until"]
RecordSource = Literal["seewhy", "lm-eval", "inspect"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def stable_hash(value: Any) -> str:
    """sha256 of a JSON value with sorted keys (the hash lm-eval and seewhy key items by)."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------ requests


class ChatMessage(_Frozen):
    """One chat turn; a backend applies the model's own chat template to a list of them."""

    role: Literal["system", "user", "assistant"]
    content: str


class LoglikelihoodRequest(_Frozen):
    """Score ``continuation`` given ``context``: log P(continuation | context).

    ``context`` is plain text, or (for chat-format tasks) ``chat`` messages the
    backend renders with the model's template before the continuation.
    """

    context: str
    continuation: str
    chat: tuple[ChatMessage, ...] | None = None


class GenerationRequest(_Frozen):
    """Greedy (temperature 0) generation from ``context`` until a stop sequence."""

    context: str
    until: tuple[str, ...] = ()
    max_tokens: int = 256
    temperature: float = 0.0
    chat: tuple[ChatMessage, ...] | None = None


# ------------------------------------------------------------------- results


class LoglikelihoodResult(_Frozen):
    """What a backend returns for one :class:`LoglikelihoodRequest`."""

    logprob: float  # sum of the continuation tokens' log-probabilities (natural log)
    is_greedy: bool  # every continuation token was the argmax
    tokens: int  # continuation tokens scored
    context_tokens: int = 0
    token_logprobs: tuple[float, ...] | None = None  # per token, when asked for (Min-K%)
    latency_s: float = 0.0


class GenerationResult(_Frozen):
    """What a backend returns for one :class:`GenerationRequest`."""

    text: str
    output_tokens: int = 0
    input_tokens: int = 0
    latency_s: float = 0.0
    finish_reason: str = ""  # "stop", "length", ...


class BackendError(Exception):
    """A backend could not answer one request (after its retries); the item is errored."""


class BatchBackendError(BackendError):
    """Some requests of a batch failed after their retries; the others succeeded.

    ``results[i]`` is the result of request *i* or the :class:`BackendError`
    that ended it, so a caller can keep the answers it already paid for.
    """

    def __init__(self, results: Sequence[object]) -> None:
        self.results = list(results)
        failed = [r for r in self.results if isinstance(r, BackendError)]
        first = str(failed[0]) if failed else "no error"
        super().__init__(f"{len(failed)} of {len(self.results)} requests failed; first: {first}")


class ModelFingerprint(_Frozen):
    """Which model produced a run: the key that makes cached items reusable.

    ``id`` is what a reader sees (a path's name, a server's model id);
    ``digest`` identifies the weights (sha256 of the weights file or files,
    or the server's model id and base URL when no weights are at hand).
    """

    id: str
    backend: str  # "transformers", "openai", "lm-eval-log", "inspect-log"
    digest: str
    dtype: str | None = None  # "float32", "bfloat16", ...
    quantization: str | None = None  # "Q4_1 (dequantized to float32)", ...
    details: dict[str, str] = Field(default_factory=dict)


class Backend(Protocol):
    """A model that answers requests. Backends batch internally; order is kept."""

    name: str

    def fingerprint(self) -> ModelFingerprint:
        """Identify the model and weights (cheap after the first call)."""
        ...

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        """One result per request, in order. Raises BackendError for a request it cannot score."""
        ...

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """One result per request, in order."""
        ...


# ------------------------------------------------------------------- records


class ItemRecord(_Frozen):
    """Everything about one item of one run: the evidence behind every number.

    ``scores`` holds the item's metric values (``acc``, ``acc_norm``,
    ``exact_match``, ``exact_match_flexible`` …), each in [0, 1]. For
    multiple choice, ``choice_logprobs[i]`` is log P(choice i | prompt) and
    ``choice_lengths[i]`` the choice's length in characters, ``len(choice)``
    without the target delimiter (acc_norm, as lm-eval's ``process_results``
    defines it, divides by that; its ``acc_bytes`` uses UTF-8 bytes).
    ``extracted`` is the answer the filter pulled out of ``response``;
    ``extraction_failed`` separates "could not read an answer" from "read a
    wrong one".
    """

    run_id: str
    task: str
    item_id: str  # stable within the task: the doc's id or index
    item_hash: str  # stable_hash of the doc
    prompt_hash: str  # sha256 of the exact prompt text sent
    prompt: str
    target: str
    choices: tuple[str, ...] = ()
    gold: int | None = None  # index of the right choice (multiple choice)
    choice_logprobs: tuple[float, ...] = ()
    choice_lengths: tuple[int, ...] = ()
    choice_greedy: tuple[bool, ...] = ()
    response: str | None = None  # generated text (generation tasks)
    extracted: str | None = None
    extraction_failed: bool = False
    scores: dict[str, float] = Field(default_factory=dict)
    slices: dict[str, str] = Field(default_factory=dict)  # subject, category, length bucket…
    latency_s: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None  # the item could not be scored (server error, too long…)
    # What a scorer saw beyond the scores: a safety probe's verdict, the matched phrase and
    # its offset, a judge's prompt and raw verdict (empty for other tasks).
    evidence: dict[str, str] = Field(default_factory=dict)

    @property
    def predicted(self) -> int | None:
        """The chosen answer of a multiple-choice item (argmax log-likelihood)."""
        if not self.choice_logprobs:
            return None
        return max(range(len(self.choice_logprobs)), key=self.choice_logprobs.__getitem__)


class RunSettings(_Frozen):
    """How a run was made: what a reader must know before comparing numbers."""

    num_fewshot: int = 0
    limit: int | None = None
    seed: int = 1234
    chat_template: bool = False
    max_tokens: int | None = None
    temperature: float = 0.0
    prompt_template: str = ""  # doc_to_text as written
    extra: dict[str, str] = Field(default_factory=dict)


class MetricSummary(_Frozen):
    """One metric of one run over its scored items."""

    metric: str
    value: float
    stderr: float
    ci_low: float
    ci_high: float
    n: int


class RunRecord(_Frozen):
    """One task evaluated on one model (or ingested from a log)."""

    run_id: str
    task: str
    task_version: str  # hash of the task spec and data: a changed task is another task
    output_type: OutputType
    model: ModelFingerprint
    settings: RunSettings = Field(default_factory=RunSettings)
    source: RecordSource = "seewhy"
    source_path: str | None = None  # the log file a run was ingested from
    created_at: str = ""
    n_items: int = 0
    n_errors: int = 0
    metrics: tuple[MetricSummary, ...] = ()
    primary_metric: str = "acc"
