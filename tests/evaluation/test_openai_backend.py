"""The openai backend against a real OpenAI-compatible server process on loopback.

The server is tests/evaluation/openai_server.py (FastAPI + uvicorn) started
in a subprocess: the toy model for the HTTP behaviour (retries, timeouts,
malformed JSON, concurrency, the log-probability probe), the real SmolLM2
for the log-likelihoods (``models`` marker).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from seewhy.errors import SeewhyError
from seewhy.evaluation.backends.openai_backend import (
    BatchBackendError,
    OpenAIBackend,
    ServerError,
    UnreliableLogprobsError,
    api_root,
)
from seewhy.evaluation.model import (
    BackendError,
    ChatMessage,
    GenerationRequest,
    GenerationResult,
    LoglikelihoodRequest,
)

from .openai_server import TOY_OTHER, RunningServer, start_server

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "benchmarks"


@pytest.fixture
def server_log(tmp_path: Path) -> Path:
    return tmp_path / "server.log"


def serve(log: Path, *args: str) -> RunningServer:
    return start_server(*args, log=log)


@pytest.fixture
def toy(server_log: Path) -> Iterator[RunningServer]:
    server = serve(server_log, "--toy")
    yield server
    server.stop()


def fast(url: str, **options: object) -> OpenAIBackend:
    """A backend with short backoffs (the retries themselves are what is tested)."""
    settings: dict[str, object] = {"backoff_s": 0.01, "backoff_max_s": 0.05, "max_attempts": 3}
    settings.update(options)
    return OpenAIBackend(url, **settings)  # type: ignore[arg-type]


# ------------------------------------------------------------------ basics


def test_api_root() -> None:
    assert api_root("http://127.0.0.1:8000") == "http://127.0.0.1:8000/v1"
    assert api_root("http://127.0.0.1:8000/") == "http://127.0.0.1:8000/v1"
    assert api_root("http://h:1/v1/") == "http://h:1/v1"
    assert api_root("https://openrouter.ai/api/v1") == "https://openrouter.ai/api/v1"
    with pytest.raises(ServerError, match="not an http"):
        api_root("127.0.0.1:8000")


def test_fingerprint_reads_the_model_id(toy: RunningServer) -> None:
    with fast(toy.url) as backend:
        fingerprint = backend.fingerprint()
    assert fingerprint.id == "toy-copy"
    assert fingerprint.backend == "openai"
    expected = hashlib.sha256(f"toy-copy\n{toy.url}/v1".encode()).hexdigest()
    assert fingerprint.digest == expected
    with fast(toy.url, model="named") as backend:
        assert backend.fingerprint().id == "named"  # given, /v1/models not asked


def test_generation_completions_and_chat(toy: RunningServer) -> None:
    with fast(toy.url) as backend:
        results = backend.generate(
            [
                GenerationRequest(context="alpha beta. gamma delta", until=(".",), max_tokens=10),
                GenerationRequest(context="one two three four five", max_tokens=3),
                GenerationRequest(
                    context="ignored",
                    chat=(
                        ChatMessage(role="system", content="be brief"),
                        ChatMessage(role="user", content="hello there world"),
                    ),
                    max_tokens=10,
                ),
            ]
        )
    assert [r.text for r in results] == ["alpha beta", "one two three", "hello there world"]
    assert [r.finish_reason for r in results] == ["stop", "length", "length"]
    assert results[1].output_tokens == 3
    assert results[1].input_tokens == 5


def test_stop_sequences_past_four_are_applied_here(toy: RunningServer) -> None:
    until = ("x1", "x2", "x3", "x4", " gamma")  # OpenAI takes four; the fifth is cut here
    with fast(toy.url) as backend:
        (result,) = backend.generate(
            [GenerationRequest(context="alpha beta gamma delta", until=until, max_tokens=10)]
        )
    assert result.text == "alpha beta"
    assert result.finish_reason == "stop"


# ------------------------------------------------------------------ faults


def test_retries_then_success(server_log: Path) -> None:
    server = serve(server_log, "--toy", "--fail-first", "2")
    try:
        with fast(server.url, max_attempts=3) as backend:
            (result,) = backend.generate([GenerationRequest(context="a b c", max_tokens=2)])
        assert result.text == "a b"
        stats = server.stats()
        assert stats["posts"] == 3
        assert stats["statuses"] == {"500": 2, "200": 1}
    finally:
        server.stop()


def test_persistent_500_errors_that_request_only(server_log: Path) -> None:
    server = serve(server_log, "--toy", "--fail-when", "POISON")
    try:
        requests = [
            GenerationRequest(context="first item", max_tokens=4),
            GenerationRequest(context="POISON item", max_tokens=4),
            GenerationRequest(context="third item", max_tokens=4),
        ]
        with fast(server.url, max_attempts=3, concurrency=2) as backend:
            with pytest.raises(BatchBackendError) as caught:
                backend.generate(requests)
            outcomes = caught.value.results
            assert isinstance(outcomes[0], GenerationResult) and outcomes[0].text == "first item"
            assert isinstance(outcomes[2], GenerationResult) and outcomes[2].text == "third item"
            assert isinstance(outcomes[1], BackendError)
            assert "HTTP 500" in str(outcomes[1]) and "after 3 attempts" in str(outcomes[1])
            with pytest.raises(BackendError, match="HTTP 500"):
                backend.generate(requests[1:2])  # alone: a plain BackendError
        assert server.stats()["statuses"]["500"] == 6  # 3 attempts, twice
    finally:
        server.stop()


def test_runner_records_the_failing_item_and_goes_on(server_log: Path, tmp_path: Path) -> None:
    from seewhy.evaluation.runner import run_task
    from seewhy.evaluation.store import Store
    from seewhy.evaluation.tasks import load_task

    rows = [
        {"id": "a", "question": "alpha", "answer": "x"},
        {"id": "b", "question": "POISON", "answer": "y"},
        {"id": "c", "question": "gamma", "answer": "z"},
    ]
    (tmp_path / "mini.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = tmp_path / "mini.yaml"
    spec.write_text(
        "task: mini_gen\n"
        "dataset_path: json\n"
        "dataset_kwargs:\n"
        "  data_files: {test: mini.jsonl}\n"
        "test_split: test\n"
        "output_type: generate_until\n"
        'doc_to_text: "Q: {{question}} A:"\n'
        "doc_to_target: answer\n"
        "id_field: id\n"
        "generation_kwargs:\n"
        '  until: ["\\n"]\n'
        "  max_gen_toks: 4\n"
        "metric_list:\n"
        "  - metric: exact_match\n"
    )
    server = serve(server_log, "--toy", "--fail-when", "POISON")
    try:
        with fast(server.url, max_attempts=2) as backend, Store(tmp_path / "s.sqlite") as store:
            run = run_task(load_task(spec), backend, store, progress=False)
            items = {i.item_id: i for i in store.items(run.run_id)}
        stats = server.stats()
    finally:
        server.stop()
    assert run.n_items == 3 and run.n_errors == 1
    # One chunk: the answers to a and c are kept, only b's request is retried (twice,
    # the backend's attempts); nothing is sent again item by item.
    assert stats["posts"] == 4, stats
    assert stats["statuses"] == {"200": 2, "500": 2}
    assert items["b"].error is not None and "HTTP 500" in items["b"].error
    assert items["a"].error is None and items["a"].response == "Q: alpha A:"
    assert items["c"].error is None and items["c"].response == "Q: gamma A:"


def test_timeout(server_log: Path) -> None:
    server = serve(server_log, "--toy", "--slow-ms", "3000")
    try:
        with (
            fast(server.url, timeout_s=0.3, max_attempts=2) as backend,
            pytest.raises(BackendError, match=r"timed out after 0\.3 s"),
        ):
            backend.generate([GenerationRequest(context="a b", max_tokens=1)])
        assert server.stats()["posts"] == 2  # tried twice
    finally:
        server.stop()


def test_malformed_json_is_retried(server_log: Path) -> None:
    server = serve(server_log, "--toy", "--malformed-every", "2")
    try:
        with fast(server.url, concurrency=1) as backend:
            for text in ("one", "two", "three"):
                (result,) = backend.generate([GenerationRequest(context=text, max_tokens=2)])
                assert result.text == text
        stats = server.stats()
        assert stats["statuses"] == {"200": 3, "malformed": 2}  # posts 2 and 4 were cut
        with (
            fast(server.url, max_attempts=1) as once,
            pytest.raises(BackendError, match="malformed response"),
        ):
            for _ in range(2):  # one of two consecutive posts is cut
                once.generate([GenerationRequest(context="x", max_tokens=1)])
    finally:
        server.stop()


def test_response_size_is_bounded(toy: RunningServer) -> None:
    with (
        fast(toy.url, model="toy-copy", max_response_bytes=200) as backend,
        pytest.raises(BackendError, match="over the 200-byte limit"),
    ):
        backend.generate([GenerationRequest(context="word " * 100, max_tokens=100)])
    assert toy.stats()["posts"] == 1  # not retried: the same request gets the same answer


def test_concurrency_is_bounded(server_log: Path) -> None:
    server = serve(server_log, "--toy", "--slow-ms", "300")
    try:
        with fast(server.url, concurrency=3) as backend:
            results = backend.generate(
                [GenerationRequest(context=f"item {n}", max_tokens=2) for n in range(9)]
            )
        assert [r.text for r in results] == [f"item {n}" for n in range(9)]  # order kept
        assert 1 < server.stats()["max_in_flight"] <= 3
    finally:
        server.stop()


def test_api_key_from_the_environment(server_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-test-0123456789"
    server = serve(server_log, "--toy", "--api-key", secret)
    try:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        monkeypatch.delenv("SEEWHY_API_KEY", raising=False)
        with fast(server.url, model="toy-copy") as keyless:
            with pytest.raises(BackendError, match=r"HTTP 401.*SEEWHY_API_KEY") as caught:
                keyless.generate([GenerationRequest(context="a", max_tokens=1)])
            assert secret not in str(caught.value)
        monkeypatch.setenv("OPENAI_API_KEY", secret)
        with fast(server.url) as backend:
            (result,) = backend.generate([GenerationRequest(context="a b", max_tokens=2)])
            assert result.text == "a b"
            assert secret not in repr(backend)
    finally:
        server.stop()


def closed_port() -> int:
    """A loopback port nothing listens on (bound for a moment, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_server_is_a_clear_error() -> None:
    backend = fast(f"http://127.0.0.1:{closed_port()}", max_attempts=2)
    with pytest.raises(ServerError, match=r"cannot list the models.*--model"):
        backend.fingerprint()
    assert issubclass(ServerError, SeewhyError)


# ---------------------------------------------------- log-likelihood, probe


def test_toy_loglikelihoods_sum_the_continuation_tokens(toy: RunningServer) -> None:
    with fast(toy.url) as backend:
        copied, unseen, spaced = backend.loglikelihood(
            [
                LoglikelihoodRequest(context="a b c a b", continuation=" c"),
                LoglikelihoodRequest(context="a b c a b", continuation=" x y"),
                LoglikelihoodRequest(context="a b c a b ", continuation="c"),
            ]
        )
    # The toy model: " c" follows " b" as before (0.9); " x" is not what " b" was followed
    # by (0.1 spread over TOY_OTHER tokens); nothing ever followed " x" (0.99 over them).
    assert copied.logprob == pytest.approx(math.log(0.9))
    assert copied.is_greedy and copied.tokens == 1 and copied.context_tokens == 5
    assert unseen.tokens == 2 and not unseen.is_greedy
    assert unseen.logprob == pytest.approx(math.log(0.1 / TOY_OTHER) + math.log(0.99 / TOY_OTHER))
    assert unseen.token_logprobs == pytest.approx(
        (math.log(0.1 / TOY_OTHER), math.log(0.99 / TOY_OTHER))
    )
    # The context's trailing space moves onto the continuation, as lm-eval does it.
    assert spaced == copied.model_copy(update={"latency_s": spaced.latency_s})


def test_probe_accepts_a_correct_server(toy: RunningServer) -> None:
    with fast(toy.url) as backend:
        probe = backend.probe()
    assert probe.ok, probe.reason
    assert probe.aligned >= 0.9 * probe.checked and probe.ahead == 0


def test_probe_refuses_the_shifted_server(server_log: Path) -> None:
    server = serve(server_log, "--toy", "--shift-logprobs")
    try:
        with fast(server.url) as backend:
            probe = backend.probe()
            assert not probe.ok
            assert probe.ahead >= 0.9 * probe.checked and probe.aligned == 0
            with pytest.raises(UnreliableLogprobsError, match=r"shifts .* by one.*#1983"):
                backend.loglikelihood([LoglikelihoodRequest(context="a b", continuation=" c")])
            assert server.stats()["posts"] == 1  # the probe only: no item was scored
            # Generation does not depend on prompt log-probabilities: still served.
            (result,) = backend.generate([GenerationRequest(context="a b", max_tokens=2)])
            assert result.text == "a b"
    finally:
        server.stop()


def test_probe_refuses_a_server_that_ignores_echo(server_log: Path) -> None:
    server = serve(server_log, "--toy", "--no-echo")
    try:
        with (
            fast(server.url) as backend,
            pytest.raises(UnreliableLogprobsError, match="does not echo"),
        ):
            backend.loglikelihood([LoglikelihoodRequest(context="a b", continuation=" c")])
    finally:
        server.stop()


def test_chat_loglikelihood_is_refused(toy: RunningServer) -> None:
    request = LoglikelihoodRequest(
        context="", continuation=" B", chat=(ChatMessage(role="user", content="A or B?"),)
    )
    with fast(toy.url) as backend, pytest.raises(UnreliableLogprobsError, match="chat template"):
        backend.loglikelihood([request])


# ------------------------------------------------------------- real SmolLM2


@pytest.fixture(scope="module")
def smollm2_server(
    smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    for module in ("torch", "transformers", "gguf"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (the eval extra)")
    log = tmp_path_factory.mktemp("smollm2-server") / "server.log"
    server = start_server("--model-path", str(smollm2_gguf), log=log)
    yield server
    server.stop()


def arc_requests(n_items: int) -> list[LoglikelihoodRequest]:
    """lm-eval's ARC prompt over the first real ARC-Easy test items."""
    requests: list[LoglikelihoodRequest] = []
    with (CORPUS / "arc" / "ARC-Easy-Test.jsonl").open() as handle:
        for _, line in zip(range(n_items), handle, strict=False):
            doc = json.loads(line)
            context = f"Question: {doc['question']['stem']}\nAnswer:"
            requests.extend(
                LoglikelihoodRequest(context=context, continuation=f" {c['text']}")
                for c in doc["question"]["choices"]
            )
    return requests


@pytest.mark.models
def test_smollm2_server_matches_the_transformers_backend(
    smollm2_server: RunningServer, smollm2_backend: object
) -> None:
    from seewhy.evaluation.backends.transformers_backend import TransformersBackend

    assert isinstance(smollm2_backend, TransformersBackend)
    requests = arc_requests(3)
    with OpenAIBackend(smollm2_server.url, concurrency=2) as backend:
        probe = backend.probe()
        assert probe.ok, probe.reason
        served = backend.loglikelihood(requests)
    local = smollm2_backend.loglikelihood(requests)
    for a, b in zip(served, local, strict=True):
        assert a.tokens == b.tokens
        assert a.logprob == pytest.approx(b.logprob, abs=1e-3)
        assert a.is_greedy == b.is_greedy
        assert a.token_logprobs == pytest.approx(b.token_logprobs, abs=1e-3)


@pytest.mark.models
def test_smollm2_server_shifted_by_one_is_refused(smollm2_server: RunningServer) -> None:
    httpx.post(f"{smollm2_server.url}/control", json={"shift": True}, timeout=10)
    try:
        with OpenAIBackend(smollm2_server.url) as backend:
            probe = backend.probe()
            assert not probe.ok
            assert probe.ahead > probe.aligned
            with pytest.raises(UnreliableLogprobsError, match="#1983"):
                backend.loglikelihood(arc_requests(1))
    finally:
        httpx.post(f"{smollm2_server.url}/control", json={"shift": False}, timeout=10)
