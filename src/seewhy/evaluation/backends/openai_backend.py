"""The ``openai`` backend: any OpenAI-compatible server over HTTP.

vLLM, llama.cpp's ``llama-server``, llama-cpp-python's server, Ollama and
hosted APIs all speak ``/v1/completions`` and ``/v1/chat/completions``.
Generation goes through either (chat-format requests through chat
completions), greedy, with the task's stop sequences and ``max_tokens``.

Log-likelihood goes through ``/v1/completions`` only, the way lm-eval's
``local-completions`` model does it: the prompt is context + continuation,
sent with ``echo=True, logprobs=1, max_tokens=1``; the server answers with
one log-probability per prompt token and each token's character offset
(``text_offset``), and the continuation's log-likelihood is the sum over
the tokens that cover the continuation's characters. The generated token
(offset at the end of the prompt) is never counted.

That is only right when the server's prompt log-probabilities are right.
llama-cpp-python's server reports, at position *i*, the probability of
token *i* under the distribution that predicts token *i+1* (shifted by one;
abetlen/llama-cpp-python#1983), and llama.cpp's own server ignores
``echo``. So before the first log-likelihood request the backend runs a
:meth:`OpenAIBackend.probe`: it sends the prompt ``1, 2, 3, …, 30``, where
every token from ``11`` on is near-certain for any language model (a
135M-parameter model gives them a median probability above 0.97). On a
correct server the top-1 token reported at position *i* is token *i* itself,
and the reported log-probability of token *i* equals that top-1 value; on a
server shifted by one the top-1 token at position *i* is token *i+1* (the
next number or separator). Counting the positions where the top-1 token is
token *i*, *i+1* or *i-1* tells the three cases apart without knowing the
model or its tokenizer (positions where neighbouring tokens are equal, as
the two digits of ``11`` can be, are left out). Servers that send no
``top_logprobs`` are judged on the log-probabilities alone: the predictable
tokens must be likely (median probability above 0.2); a shifted server
reports the probability of a token following itself, which is tiny. A
server that fails the probe gets no log-likelihood task:
:class:`UnreliableLogprobsError` says why, and no number is reported.

Requests run on a bounded thread pool (``concurrency``), each with a
timeout; 429, 5xx, timeouts, dropped connections and malformed JSON are
retried with exponential backoff, and a request that still fails raises
:class:`~seewhy.evaluation.model.BackendError` (the runner records that item
as errored and goes on). The API key comes from ``SEEWHY_API_KEY`` or
``OPENAI_API_KEY`` and is sent as a bearer token, never logged or shown.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import random
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from seewhy.errors import SeewhyError
from seewhy.evaluation.model import (
    BackendError,
    BatchBackendError,
    GenerationRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelFingerprint,
)

__all__ = [
    "API_KEY_VARIABLES",
    "BatchBackendError",
    "LogprobProbe",
    "OpenAIBackend",
    "ServerError",
    "UnreliableLogprobsError",
]

API_KEY_VARIABLES = ("SEEWHY_API_KEY", "OPENAI_API_KEY")

# Statuses worth another try: rate limits, server trouble, request timeouts.
_RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # a completion with echo logprobs of a long prompt
_MAX_STOP_SEQUENCES = 4  # what OpenAI accepts; the rest are applied here

# The probe's prompt: counting, checked from 11 on, where every token is near-certain.
_PROBE_PROMPT = ", ".join(str(n) for n in range(1, 31))
_PROBE_FROM = _PROBE_PROMPT.index(", 11,") + 1  # the offset where the checked part begins

_T = TypeVar("_T")


class ServerError(SeewhyError):
    """The server cannot be used at all (unreachable, no model, refuses the key)."""


class UnreliableLogprobsError(ServerError):
    """The server's prompt log-probabilities are wrong or missing; log-likelihood is refused."""


@dataclass(frozen=True)
class LogprobProbe:
    """What the log-probability probe found.

    ``aligned``, ``ahead`` and ``behind`` count the predictable positions
    whose reported top-1 token is token *i*, *i+1* or *i-1*; ``checked``
    is how many positions were looked at. ``ok`` is the verdict and ``reason``
    says why in words.
    """

    ok: bool
    reason: str
    checked: int = 0
    aligned: int = 0
    ahead: int = 0
    behind: int = 0
    median_logprob: float | None = None


def api_key_from_environment() -> str | None:
    """The API key: ``SEEWHY_API_KEY`` first, then ``OPENAI_API_KEY``."""
    for name in API_KEY_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def api_root(base_url: str) -> str:
    """The API root requests are made under.

    ``http://host:8000`` becomes ``http://host:8000/v1``; a URL that already
    has a path (``…/v1``, ``https://openrouter.ai/api/v1``) is kept as given.
    """
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ServerError(
            f"not an http(s) URL: {base_url!r} (for example http://127.0.0.1:8000/v1)"
        )
    path = parts.path.rstrip("/")
    if not path:
        path = "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _truncate_at_stop(text: str, until: Sequence[str]) -> str:
    cut = len(text)
    for stop in until:
        if stop:
            at = text.find(stop)
            if at != -1:
                cut = min(cut, at)
    return text[:cut]


def _split_trailing_space(context: str, continuation: str) -> tuple[str, str]:
    """Move the context's trailing whitespace onto the continuation, as lm-eval does."""
    stripped = context.rstrip()
    moved = len(context) - len(stripped)
    if moved:
        return stripped, context[len(stripped) :] + continuation
    return context, continuation


class OpenAIBackend:
    """A model behind an OpenAI-compatible HTTP API.

    ``base_url`` is the server (``http://127.0.0.1:8000``) or its API root
    (``…/v1``); ``model`` is the model id to ask for, read from ``/v1/models``
    when not given (the server must then serve exactly one). ``concurrency``
    bounds the requests in flight; each request gets ``timeout_s`` and up to
    ``max_attempts`` tries, waiting ``backoff_s``, twice that, four times
    that … (at most ``backoff_max_s``, or the server's ``Retry-After`` up to
    that) between them. A response body longer than ``max_response_bytes``
    is not read further, and that request fails.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        concurrency: int = 4,
        max_attempts: int = 4,
        timeout_s: float = 120.0,
        backoff_s: float = 0.5,
        backoff_max_s: float = 8.0,
        max_response_bytes: int = _MAX_RESPONSE_BYTES,
    ) -> None:
        if concurrency < 1:
            raise ServerError(f"concurrency must be at least 1 (got {concurrency})")
        if max_attempts < 1:
            raise ServerError(f"max_attempts must be at least 1 (got {max_attempts})")
        if timeout_s <= 0:
            raise ServerError(f"timeout must be positive (got {timeout_s})")
        self.base_url = api_root(base_url)
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.timeout_s = timeout_s
        self.backoff_s = max(0.0, backoff_s)
        self.backoff_max_s = max(self.backoff_s, backoff_max_s)
        self.max_response_bytes = max_response_bytes
        key = api_key if api_key is not None else api_key_from_environment()
        headers = {"Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            follow_redirects=False,
        )
        self._model = model
        self._probe: LogprobProbe | None = None
        self._lock = threading.Lock()  # the model id and the probe, found once
        self._rng_lock = threading.Lock()
        self._rng = random.Random(0)

    def __repr__(self) -> str:  # the key stays out of every repr and log line
        return f"OpenAIBackend(base_url={self.base_url!r}, model={self._model!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- HTTP

    def _url(self, endpoint: str) -> str:
        return f"{self.base_url}/{endpoint}"

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        delay = min(self.backoff_max_s, self.backoff_s * (2**attempt))
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = min(self.backoff_max_s, max(delay, float(retry_after)))
        with self._rng_lock:
            jitter = self._rng.uniform(0.0, 0.1 * delay)
        if delay > 0:
            time.sleep(delay + jitter)

    def _request(
        self,
        method: str,
        endpoint: str,
        payload: dict[str, Any] | None,
        check: Callable[[Any], _T],
    ) -> _T:
        """One API call with retries; ``check`` validates the decoded body or raises ValueError."""
        url = self._url(endpoint)
        last = "no attempt made"
        for attempt in range(self.max_attempts):
            retry_after: str | None = None
            try:
                with self._client.stream(method, url, json=payload) as response:
                    status = response.status_code
                    retry_after = response.headers.get("retry-after")
                    body, complete = _read_capped(
                        response, self.max_response_bytes if status == 200 else 4096
                    )
                    reason = response.reason_phrase
            except httpx.TimeoutException:
                last = f"timed out after {self.timeout_s:g} s"
            except httpx.RequestError as exc:
                last = f"connection failed ({type(exc).__name__}: {exc})"
            else:
                if status == 200:
                    if not complete:
                        raise BackendError(
                            f"{endpoint}: the response is over the "
                            f"{self.max_response_bytes}-byte limit"
                        )
                    try:
                        return check(json.loads(body))
                    except (ValueError, KeyError, IndexError, TypeError) as exc:
                        last = f"malformed response ({exc})"[:300]
                elif status in _RETRY_STATUSES:
                    last = f"HTTP {status}: {_error_text(body, reason)}"
                else:
                    hint = ""
                    if status in (401, 403):
                        hint = f" (set {' or '.join(API_KEY_VARIABLES)})"
                    raise BackendError(
                        f"{endpoint}: HTTP {status}: {_error_text(body, reason)}{hint}"
                    )
            if attempt + 1 < self.max_attempts:
                self._wait(attempt, retry_after)
        raise BackendError(f"{endpoint}: failed after {self.max_attempts} attempts: {last}")

    def _map(self, function: Callable[[Any], _T], items: Sequence[Any]) -> list[_T]:
        """Run ``function`` over ``items`` with bounded concurrency; keep the order."""
        if not items:
            return []
        outcomes: list[object]
        if self.concurrency == 1 or len(items) == 1:
            outcomes = [_capture(function, item) for item in items]
        else:
            workers = min(self.concurrency, len(items))
            with ThreadPoolExecutor(
                max_workers=workers, thread_name_prefix="seewhy-openai"
            ) as pool:
                outcomes = list(pool.map(lambda item: _capture(function, item), items))
        errors = [o for o in outcomes if isinstance(o, BackendError)]
        if errors:
            if len(outcomes) == 1:
                raise errors[0]
            raise BatchBackendError(outcomes)
        return outcomes  # type: ignore[return-value]

    # --------------------------------------------------------------- model

    @property
    def model(self) -> str:
        """The model id requests name (asked of ``/v1/models`` once when not given)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._discover_model()
        return self._model

    def _discover_model(self) -> str:
        try:
            ids = self._request("GET", "models", None, _model_ids)
        except BackendError as exc:
            raise ServerError(
                f"cannot list the models of {self.base_url}: {exc}; "
                "check the URL, or name the model with --model"
            ) from exc
        if len(ids) == 1:
            return ids[0]
        if not ids:
            raise ServerError(f"{self.base_url} serves no model; name one with --model")
        shown = ", ".join(ids[:10]) + (f" … ({len(ids)} in all)" if len(ids) > 10 else "")
        raise ServerError(f"{self.base_url} serves several models ({shown}); choose with --model")

    def fingerprint(self) -> ModelFingerprint:
        """The server's model id and the API root: the best identity a server gives."""
        model = self.model
        digest = hashlib.sha256(f"{model}\n{self.base_url}".encode()).hexdigest()
        return ModelFingerprint(
            id=model,
            backend=self.name,
            digest=digest,
            details={"base_url": self.base_url},
        )

    # ---------------------------------------------------------- generation

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Greedy generation; chat-format requests through ``/v1/chat/completions``."""
        return self._map(self._generate_one, list(requests))

    def _generate_one(self, request: GenerationRequest) -> GenerationResult:
        model = self.model
        payload: dict[str, Any] = {
            "model": model,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        stops = [s for s in request.until if s][:_MAX_STOP_SEQUENCES]
        if stops:
            payload["stop"] = stops
        started = time.perf_counter()
        if request.chat is not None:
            payload["messages"] = [{"role": m.role, "content": m.content} for m in request.chat]
            text, reason, usage = self._request("POST", "chat/completions", payload, _chat_choice)
        else:
            payload["prompt"] = request.context
            text, reason, usage = self._request("POST", "completions", payload, _text_choice)
        latency = time.perf_counter() - started
        cut = _truncate_at_stop(text, request.until)
        if len(cut) < len(text):
            reason = "stop"
        return GenerationResult(
            text=cut,
            output_tokens=usage[1],
            input_tokens=usage[0],
            latency_s=latency,
            finish_reason=reason,
        )

    # ------------------------------------------------------ log-likelihood

    def probe(self) -> LogprobProbe:
        """Check that the server's echoed prompt log-probabilities sit on the right tokens.

        Run once and remembered; :meth:`loglikelihood` runs it first and
        refuses to go on when it fails.
        """
        result = self._probe
        if result is None:
            result = self._run_probe()
            with self._lock:
                self._probe = result
        return result

    def _run_probe(self) -> LogprobProbe:
        prompt = _PROBE_PROMPT
        try:
            echo = self._echo(prompt)
        except BackendError as exc:
            return LogprobProbe(
                ok=False,
                reason=f"the server did not answer a completion with echo=True, logprobs=1: {exc}",
            )
        tokens, logprobs, offsets, tops = echo
        prompt_positions = [i for i, off in enumerate(offsets) if off < len(prompt)]
        covered = "".join(tokens[i] for i in prompt_positions)
        if not prompt_positions or prompt not in covered:
            return LogprobProbe(
                ok=False,
                reason="the server does not echo the prompt's tokens with their log-probabilities "
                "(llama.cpp's own server ignores echo=True)",
            )
        region = [
            i
            for i in prompt_positions
            if offsets[i] >= _PROBE_FROM
            and 0 < i < len(tokens) - 1
            and tokens[i] not in (tokens[i - 1], tokens[i + 1])
        ]
        values = [logprobs[i] for i in region if logprobs[i] is not None]
        if len(region) < 8 or len(values) < len(region):
            return LogprobProbe(
                ok=False, reason="the server sent too few prompt log-probabilities to check"
            )
        median = statistics.median(v for v in values if v is not None)
        if any(top is None for top in (tops[i] for i in region)):
            ok = median > math.log(0.2)
            reason = (
                "no top_logprobs were sent; the predictable tokens are likely, as they should be"
                if ok
                else "no top_logprobs were sent, and the probe's predictable tokens come back "
                f"unlikely (median log-probability {median:.2f}): the prompt log-probabilities "
                "are misaligned"
            )
            return LogprobProbe(ok=ok, reason=reason, checked=len(region), median_logprob=median)
        aligned = ahead = behind = consistent = 0
        for i in region:
            top = tops[i]
            assert top is not None
            best_token, best_value = max(top.items(), key=lambda kv: kv[1])
            if best_token == tokens[i]:
                aligned += 1
                value = logprobs[i]
                if value is not None and abs(value - best_value) <= 1e-3:
                    consistent += 1
            elif best_token == tokens[i + 1]:
                ahead += 1
            elif i > 0 and best_token == tokens[i - 1]:
                behind += 1
        n = len(region)
        found = {
            "checked": n,
            "aligned": aligned,
            "ahead": ahead,
            "behind": behind,
            "median_logprob": median,
        }
        if aligned >= 0.6 * n and consistent >= 0.9 * aligned and aligned > 3 * max(ahead, behind):
            return LogprobProbe(
                ok=True,
                reason=f"the top token at {aligned} of {n} predictable positions is the token "
                "reported there",
                **found,  # type: ignore[arg-type]
            )
        if ahead > aligned and ahead >= 0.5 * n:
            why = (
                f"at {ahead} of {n} predictable positions the log-probability belongs to the "
                "next token: the server shifts prompt log-probabilities by one position "
                "(llama-cpp-python's server has this bug, abetlen/llama-cpp-python#1983)"
            )
        elif behind > aligned and behind >= 0.5 * n:
            why = (
                f"at {behind} of {n} predictable positions the log-probability belongs to the "
                "previous token: the server shifts prompt log-probabilities by one position"
            )
        elif aligned >= 0.6 * n:
            why = (
                f"the reported token log-probabilities disagree with the top-1 values at "
                f"{aligned - consistent} of {aligned} positions"
            )
        else:
            why = (
                f"only {aligned} of {n} predictable positions carry the expected token "
                "(the prompt log-probabilities do not line up with the prompt's tokens)"
            )
        return LogprobProbe(ok=False, reason=why, **found)  # type: ignore[arg-type]

    def _echo(
        self, prompt: str
    ) -> tuple[list[str], list[float | None], list[int], list[dict[str, float] | None]]:
        payload = {
            "model": self.model,
            "prompt": prompt,
            "max_tokens": 1,
            "temperature": 0.0,
            "echo": True,
            "logprobs": 1,
        }
        return self._request("POST", "completions", payload, _echo_logprobs)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        """log P(continuation | context) from the server's echoed prompt log-probabilities.

        Raises :class:`UnreliableLogprobsError` (before sending any request)
        when the server fails the probe, and for chat-format requests, which
        a completions endpoint cannot render.
        """
        items = list(requests)
        if not items:
            return []
        if any(r.chat is not None for r in items):
            raise UnreliableLogprobsError(
                "a chat-format log-likelihood task cannot run through a server: the completions "
                "endpoint does not apply the chat template; use --backend transformers or a "
                "text-format task"
            )
        probe = self.probe()
        if not probe.ok:
            raise UnreliableLogprobsError(
                f"{self.base_url} ({self.model}) gives prompt log-probabilities seewhy cannot "
                f"trust: {probe.reason}. Log-likelihood tasks (multiple choice) are refused on "
                "this server; run them with --backend transformers, or through vLLM; generation "
                "tasks still work"
            )
        return self._map(self._loglikelihood_one, items)

    def _loglikelihood_one(self, request: LoglikelihoodRequest) -> LoglikelihoodResult:
        context, continuation = _split_trailing_space(request.context, request.continuation)
        if not continuation:
            raise BackendError("an empty continuation has no log-likelihood")
        prompt = context + continuation
        started = time.perf_counter()
        tokens, logprobs, offsets, tops = self._echo(prompt)
        latency = time.perf_counter() - started
        start, end = len(context), len(prompt)
        # The continuation's tokens: those that cover any of its characters (a token that
        # straddles the boundary counts, as lm-eval's joint tokenization would count it).
        picked = [
            i
            for i, off in enumerate(offsets)
            if off < end and (off >= start or off + len(tokens[i]) > start)
        ]
        if not picked:
            raise BackendError("the server's token offsets cover none of the continuation")
        text = "".join(tokens[i] for i in picked)
        if not any(_undecodable(tokens[i]) for i in picked) and not text.endswith(continuation):
            raise BackendError(
                "the server's token offsets do not line up with the prompt (text_offset must "
                "count characters of the prompt)"
            )
        values: list[float] = []
        greedy = True
        for i in picked:
            value = logprobs[i]
            if value is None:
                raise BackendError("the server sent no log-probability for a continuation token")
            values.append(value)
            top = tops[i]
            if not top or value < max(top.values()) - 1e-6:
                greedy = False
        context_tokens = picked[0]
        return LoglikelihoodResult(
            logprob=math.fsum(values),
            is_greedy=greedy,
            tokens=len(values),
            context_tokens=context_tokens,
            token_logprobs=tuple(values),
            latency_s=latency,
        )


# ------------------------------------------------------------ response checks


def _capture(function: Callable[[Any], _T], item: Any) -> _T | BackendError:
    try:
        return function(item)
    except BackendError as exc:
        return exc


def _read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """The body, read no further than ``limit`` bytes; False when it is longer."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], False
    return b"".join(chunks), True


def _error_text(body: bytes, reason: str) -> str:
    text = body[:300].decode("utf-8", errors="replace").strip().replace("\n", " ")
    return text or reason


def _undecodable(token: str) -> bool:
    return "\ufffd" in token or token.startswith("bytes:")


def _model_ids(body: Any) -> list[str]:
    data = body["data"]
    if not isinstance(data, list):
        raise ValueError("'data' is not a list")
    ids = [entry["id"] for entry in data[:1000]]
    if not all(isinstance(i, str) for i in ids):
        raise ValueError("a model id is not a string")
    return ids


def _usage(body: dict[str, Any]) -> tuple[int, int]:
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return 0, 0
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens")
    return (
        prompt if isinstance(prompt, int) else 0,
        completion if isinstance(completion, int) else 0,
    )


def _first_choice(body: Any) -> dict[str, Any]:
    choices = body["choices"]
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ValueError("no choices")
    choice: dict[str, Any] = choices[0]
    return choice


def _text_choice(body: Any) -> tuple[str, str, tuple[int, int]]:
    choice = _first_choice(body)
    text = choice["text"]
    if not isinstance(text, str):
        raise ValueError("'text' is not a string")
    return text, str(choice.get("finish_reason") or ""), _usage(body)


def _chat_choice(body: Any) -> tuple[str, str, tuple[int, int]]:
    choice = _first_choice(body)
    content = choice["message"]["content"]
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise ValueError("'message.content' is not a string")
    return content, str(choice.get("finish_reason") or ""), _usage(body)


def _echo_logprobs(
    body: Any,
) -> tuple[list[str], list[float | None], list[int], list[dict[str, float] | None]]:
    """tokens, token_logprobs, text_offset and top_logprobs of the first choice."""
    logprobs = _first_choice(body)["logprobs"]
    if not isinstance(logprobs, dict):
        raise ValueError("no logprobs in the choice")
    tokens = logprobs["tokens"]
    values = logprobs["token_logprobs"]
    offsets = logprobs["text_offset"]
    tops = logprobs.get("top_logprobs") or [None] * len(tokens)
    if not (
        isinstance(tokens, list)
        and isinstance(values, list)
        and isinstance(offsets, list)
        and isinstance(tops, list)
        and len(tokens) == len(values) == len(offsets) == len(tops)
    ):
        raise ValueError("tokens, token_logprobs, text_offset and top_logprobs differ in length")
    checked_values: list[float | None] = []
    for value in values:
        if value is None:
            checked_values.append(None)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
            if math.isnan(number) or number > 1e-6:
                raise ValueError(f"log-probability {value!r} is not <= 0")
            checked_values.append(number)
        else:
            raise ValueError("a log-probability is not a number")
    if not all(isinstance(t, str) for t in tokens):
        raise ValueError("a token is not a string")
    if not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets):
        raise ValueError("a text offset is not a non-negative integer")
    if any(b < a for a, b in itertools.pairwise(offsets)):
        raise ValueError("text offsets go backwards")
    checked_tops: list[dict[str, float] | None] = []
    for top in tops:
        if top is None or (isinstance(top, dict) and not top):
            checked_tops.append(None)
        elif isinstance(top, dict) and all(
            isinstance(k, str) and isinstance(v, int | float) for k, v in top.items()
        ):
            checked_tops.append({k: float(v) for k, v in top.items()})
        else:
            raise ValueError("top_logprobs entries are not {token: logprob} maps")
    return tokens, checked_values, offsets, checked_tops
