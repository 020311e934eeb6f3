"""The ``transformers`` backend: a local Hugging Face folder or a GGUF file, in-process.

Log-likelihoods follow lm-evaluation-harness's ``hf`` backend (``HFLM``, checked
against ``lm_eval/models/huggingface.py`` and ``lm_eval/api/model.py``), so the
same model, prompts and dtype give the same numbers:

* **Special tokens.** For a decoder-only model lm-eval encodes with
  ``add_special_tokens=add_bos_token``, and ``add_bos_token`` defaults to
  False — except for the Gemma family (``"gemma" in config.model_type``), where
  HFLM forces it to True because Gemma degrades without a BOS. We do the same;
  ``add_bos_token=`` overrides it.
* **Pair encoding** (``TemplateLM._encode_pair``): trailing whitespace of the
  context moves to the front of the continuation; ``whole = enc(context +
  continuation)``, ``context_enc = enc(context)`` and the continuation's tokens
  are ``whole[len(context_enc):]`` (so a merge across the boundary is scored
  the way the text is really tokenized). An empty context becomes the prefix
  token: BOS when the tokenizer has one, else EOS.
* **Scoring** (``HFLM._loglikelihood_tokens``): the input is
  ``(context_enc + continuation_enc)[-(max_length + 1):][:-1]`` (left-truncated),
  batches are sorted longest first and right-padded, the logits at the last
  ``len(continuation_enc)`` real positions are log-softmaxed and the
  continuation tokens gathered and summed; ``is_greedy`` is "every continuation
  token is the argmax". ``max_length`` is the config's ``n_positions`` /
  ``max_position_embeddings`` / ``n_ctx``, else the tokenizer's
  ``model_max_length``, else 2048.
* **Generation** (``HFLM.generate_until``): the context is left-truncated to
  ``max_length - max_tokens``, batches are left-padded, decoding is greedy, the
  text is decoded without special tokens and cut at the first stop sequence.

torch and transformers are imported when a backend is built (the ``eval``
extra). Only safetensors and GGUF weights are loaded — never pickles — and
``trust_remote_code`` is always off.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from seewhy.errors import FormatError
from seewhy.evaluation.backends import ModelLoadError
from seewhy.evaluation.model import (
    BackendError,
    ChatMessage,
    GenerationRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelFingerprint,
)

_DTYPES = ("float32", "bfloat16", "float16")
_DEFAULT_MAX_LENGTH = 2048
_TOKENIZER_INFINITY = 1000000000000000019884624838656
_HASH_CHUNK = 4 * 1024 * 1024


class DigestCache(Protocol):
    """Remembers file digests by (path, size, mtime) so weights are hashed once."""

    def get_file_digest(self, path: str, size: int, mtime_ns: int) -> str | None:
        """The cached sha256 of the file, or None."""
        ...

    def put_file_digest(self, path: str, size: int, mtime_ns: int, digest: str) -> None:
        """Remember the sha256 of the file."""
        ...


def file_sha256(path: Path, cache: DigestCache | None = None) -> str:
    """sha256 of a file, streamed; looked up in and written to ``cache`` by (path, size, mtime)."""
    st = path.stat()
    key = str(path.resolve())
    if cache is not None:
        hit = cache.get_file_digest(key, st.st_size, st.st_mtime_ns)
        if hit:
            return hit
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    if cache is not None:
        cache.put_file_digest(key, st.st_size, st.st_mtime_ns, digest)
    return digest


class _PathSource:
    """A read-only :class:`~seewhy.formats.interface.Source` over a local file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._size = path.stat().st_size

    @property
    def size(self) -> int:
        return self._size

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("offset and length must be non-negative")
        with self._path.open("rb") as f:
            f.seek(offset)
            return f.read(max(0, min(length, self._size - offset)))


def gguf_file_type(path: Path) -> str | None:
    """``general.file_type`` of a GGUF as a short name (``"Q4_1"``), read by seewhy's own parser."""
    from seewhy.formats.gguf import parse_gguf

    try:
        info = parse_gguf(_PathSource(path))
    except (FormatError, OSError, ValueError, OverflowError, MemoryError):
        return None
    name = info.file_type
    if name is None:
        return None
    return name.removeprefix("MOSTLY_")


@dataclass(frozen=True)
class _Weights:
    """Where a model's weights are and how transformers is told to load them."""

    folder: Path
    gguf_file: str | None
    files: tuple[Path, ...]  # the files the digest covers

    @property
    def display(self) -> str:
        return str(self.folder / self.gguf_file) if self.gguf_file else str(self.folder)


def _locate(model: str | Path) -> _Weights:
    path = Path(model).expanduser()
    if not path.exists():
        raise ModelLoadError(f"no such model file or folder: {path}")
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ModelLoadError(
                f"{path}: the transformers backend takes a GGUF file or a Hugging Face folder"
            )
        return _Weights(path.parent, path.name, (path,))
    if (path / "config.json").is_file():
        tensors = tuple(sorted(path.glob("*.safetensors")))
        if not tensors:
            raise ModelLoadError(
                f"{path}: no *.safetensors weights; seewhy eval loads only safetensors or "
                "GGUF weights, never pickled (.bin/.pt) ones"
            )
        return _Weights(path, None, tensors)
    ggufs = sorted(path.glob("*.gguf"))
    if len(ggufs) == 1:
        return _Weights(path, ggufs[0].name, (ggufs[0],))
    if ggufs:
        names = ", ".join(p.name for p in ggufs[:5])
        raise ModelLoadError(f"{path}: several GGUF files ({names}); name the one to evaluate")
    raise ModelLoadError(f"{path}: neither a config.json with safetensors weights nor a GGUF file")


def _import_torch() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ModelLoadError(
            f"the transformers backend needs the eval extra ({exc.name} is missing): "
            "pip install 'seewhy[eval]'"
        ) from exc
    return torch, transformers


class TransformersBackend:
    """A causal language model run in-process with transformers.

    ``model`` is a GGUF file (transformers dequantizes it to ``dtype``), a
    folder holding one GGUF, or a Hugging Face folder with ``config.json`` and
    safetensors weights. ``device="auto"`` picks CUDA when present, else CPU.
    ``digest_cache`` (the store) saves re-hashing the weights on every run.
    """

    name = "transformers"

    def __init__(
        self,
        model: str | Path,
        *,
        dtype: str = "float32",
        device: str = "auto",
        batch_size: int = 8,
        max_length: int | None = None,
        add_bos_token: bool | None = None,
        digest_cache: DigestCache | None = None,
    ) -> None:
        if dtype not in _DTYPES:
            raise ModelLoadError(f"unknown dtype {dtype!r}; choose one of {', '.join(_DTYPES)}")
        if batch_size < 1:
            raise ModelLoadError("batch size must be at least 1")
        self._weights = _locate(model)
        torch, transformers = _import_torch()
        self._torch = torch
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.dtype = dtype
        self.batch_size = batch_size
        self._digest_cache = digest_cache
        self._fingerprint: ModelFingerprint | None = None
        w = self._weights
        quiet = not sys.stderr.isatty()
        if quiet:
            transformers.utils.logging.disable_progress_bar()
        common: dict[str, Any] = {"trust_remote_code": False, "local_files_only": True}
        if w.gguf_file:
            common["gguf_file"] = w.gguf_file
        # transformers draws its GGUF dequantizing bar with a bare tqdm that
        # ignores its own progress-bar switch: in a log or a pipe that bar is
        # hundreds of carriage-return lines, so it goes nowhere there. Errors
        # still raise, and transformers' logging keeps its own stream.
        bars = contextlib.redirect_stderr(io.StringIO()) if quiet else contextlib.nullcontext()
        try:
            with bars:
                self.tokenizer = transformers.AutoTokenizer.from_pretrained(w.folder, **common)
                extra: dict[str, Any] = {} if w.gguf_file else {"use_safetensors": True}
                self.model = transformers.AutoModelForCausalLM.from_pretrained(
                    w.folder, dtype=getattr(torch, dtype), **common, **extra
                )
        except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(f"cannot load {w.display}: {first}") from exc
        self.model.to(device)
        self.model.eval()
        config = self.model.config
        self.model_type = str(getattr(config, "model_type", "") or "")
        if add_bos_token is None:
            add_bos_token = "gemma" in self.model_type
        self.add_bos_token = add_bos_token
        self.max_length = max_length or self._config_max_length()
        tok = self.tokenizer
        if tok.pad_token_id is None:
            fallback = tok.unk_token_id if tok.unk_token_id is not None else tok.eos_token_id
            tok.pad_token_id = fallback if fallback is not None else 0
        self.parameters = int(sum(p.numel() for p in self.model.parameters()))

    # ------------------------------------------------------------- identity

    def _config_max_length(self) -> int:
        config = self.model.config
        for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
            value = getattr(config, attr, None)
            if isinstance(value, int) and value > 0:
                return value
        tok_max = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(tok_max, int) and 0 < tok_max < _TOKENIZER_INFINITY:
            return tok_max
        return _DEFAULT_MAX_LENGTH

    def fingerprint(self) -> ModelFingerprint:
        """The weights' sha256 (one file) or the sha256 of the files' names and digests."""
        if self._fingerprint is not None:
            return self._fingerprint
        w = self._weights
        digests = [(p.name, file_sha256(p, self._digest_cache)) for p in w.files]
        if len(digests) == 1:
            digest = digests[0][1]
        else:
            text = "".join(f"{name}\0{d}\n" for name, d in digests)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        quantization = None
        if w.gguf_file:
            ftype = gguf_file_type(w.folder / w.gguf_file)
            shown = ftype or "GGUF"
            quantization = f"{shown} (dequantized to {self.dtype})"
        import torch
        import transformers

        self._fingerprint = ModelFingerprint(
            id=w.gguf_file or w.folder.name,
            backend=self.name,
            digest=digest,
            dtype=self.dtype,
            quantization=quantization,
            details={
                "path": w.display,
                "format": "gguf" if w.gguf_file else "safetensors",
                "model_type": self.model_type,
                "parameters": str(self.parameters),
                "device": self.device,
                "max_length": str(self.max_length),
                "add_bos_token": str(self.add_bos_token).lower(),
                "transformers": transformers.__version__,
                "torch": torch.__version__,
                # What changes the numbers besides the weights: part of the cache key.
                "scoring": f"add_bos_token={self.add_bos_token};max_length={self.max_length}",
            },
        )
        return self._fingerprint

    # ----------------------------------------------------------- encoding

    def _encode(self, text: str) -> list[int]:
        ids = self.tokenizer.encode(text, add_special_tokens=self.add_bos_token)
        return list(ids)

    def _prefix_token_id(self) -> int:
        tok = self.tokenizer
        if tok.bos_token_id is not None:
            return int(tok.bos_token_id)
        return int(tok.eos_token_id)

    def render_chat(self, messages: Sequence[ChatMessage]) -> str:
        """The model's chat template applied to ``messages``, ending with the assistant's turn."""
        if not getattr(self.tokenizer, "chat_template", None):
            raise BackendError("the model has no chat template, so a chat-format task cannot run")
        chat = [{"role": m.role, "content": m.content} for m in messages]
        try:
            text = self.tokenizer.apply_chat_template(
                chat, tokenize=False, add_generation_prompt=True
            )
        except Exception as exc:  # a template is user data: any failure is one error
            raise BackendError(f"the chat template failed: {exc}") from exc
        return str(text)

    def encode_pair(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Context and continuation token ids, split the way lm-eval splits them."""
        if context == "":
            return [self._prefix_token_id()], self._encode(continuation)
        n_spaces = len(context) - len(context.rstrip())
        if n_spaces > 0:
            continuation = context[-n_spaces:] + continuation
            context = context[:-n_spaces]
        whole = self._encode(context + continuation)
        context_enc = self._encode(context)
        return context_enc, whole[len(context_enc) :]

    def _context_text(self, context: str, chat: tuple[ChatMessage, ...] | None) -> str:
        return self.render_chat(chat) if chat else context

    # ------------------------------------------------------ log-likelihood

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        """log P(continuation | context) per request, in request order."""
        encoded: list[tuple[list[int], list[int]]] = []
        for i, req in enumerate(requests):
            ctx, cont = self.encode_pair(
                self._context_text(req.context, req.chat), req.continuation
            )
            if not cont:
                raise BackendError(f"request {i}: the continuation encodes to no tokens")
            if len(cont) > self.max_length:
                raise BackendError(
                    f"request {i}: the continuation has {len(cont)} tokens, more than the "
                    f"model's {self.max_length}"
                )
            encoded.append((ctx, cont))
        order = sorted(
            range(len(encoded)),
            key=lambda i: (
                -len(encoded[i][0] + encoded[i][1]),
                tuple(encoded[i][0] + encoded[i][1]),
            ),
        )
        results: list[LoglikelihoodResult | None] = [None] * len(encoded)
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            began = time.perf_counter()
            scored = self._score_batch([encoded[i] for i in batch])
            share = (time.perf_counter() - began) / len(batch)
            for i, (logprob, greedy, token_lps, ctx_len) in zip(batch, scored, strict=True):
                results[i] = LoglikelihoodResult(
                    logprob=logprob,
                    is_greedy=greedy,
                    tokens=len(encoded[i][1]),
                    context_tokens=ctx_len,
                    token_logprobs=token_lps,
                    latency_s=share,
                )
        return [r for r in results if r is not None]

    def _score_batch(
        self, pairs: Sequence[tuple[list[int], list[int]]]
    ) -> list[tuple[float, bool, tuple[float, ...], int]]:
        torch = self._torch
        inputs: list[list[int]] = []
        for ctx, cont in pairs:
            inputs.append((ctx + cont)[-(self.max_length + 1) :][:-1])
        width = max(len(x) for x in inputs)
        pad = int(self.tokenizer.pad_token_id)
        ids = torch.full((len(inputs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(inputs), width), dtype=torch.long)
        for row, inp in enumerate(inputs):
            ids[row, : len(inp)] = torch.tensor(inp, dtype=torch.long)
            mask[row, : len(inp)] = 1
        try:
            with torch.inference_mode():
                logits = self.model(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device)
                ).logits
                out: list[tuple[float, bool, tuple[float, ...], int]] = []
                for row, ((_ctx, cont), inp) in enumerate(zip(pairs, inputs, strict=True)):
                    inplen, contlen = len(inp), len(cont)
                    part = logits[row, inplen - contlen : inplen].float()
                    lsm = torch.log_softmax(part, dim=-1)
                    target = torch.tensor(cont, dtype=torch.long, device=lsm.device)
                    token_lps = lsm.gather(1, target.unsqueeze(-1)).squeeze(-1)
                    greedy = bool((lsm.argmax(dim=-1) == target).all())
                    values = tuple(float(x) for x in token_lps.tolist())
                    out.append((float(token_lps.sum()), greedy, values, inplen - contlen + 1))
        except RuntimeError as exc:  # out of memory, a shape the model refuses
            raise BackendError(f"the model failed on a batch: {exc}") from exc
        return out

    # ---------------------------------------------------------- generation

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Greedy generation until a stop sequence or ``max_tokens``, in request order."""
        prompts = [self._context_text(r.context, r.chat) for r in requests]
        encoded = [self._encode(p) for p in prompts]
        # Requests with the same decoding settings share a batch (as lm-eval groups by kwargs).
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.until, r.max_tokens, r.temperature), []).append(i)
        results: list[GenerationResult | None] = [None] * len(requests)
        for (until, max_tokens, temperature), members in groups.items():
            members.sort(key=lambda i: (-len(encoded[i]), prompts[i]))
            for start in range(0, len(members), self.batch_size):
                batch = members[start : start + self.batch_size]
                began = time.perf_counter()
                outs = self._generate_batch(
                    [encoded[i] for i in batch], until, max_tokens, temperature
                )
                share = (time.perf_counter() - began) / len(batch)
                for i, (text, n_out, n_in, reason) in zip(batch, outs, strict=True):
                    results[i] = GenerationResult(
                        text=text,
                        output_tokens=n_out,
                        input_tokens=n_in,
                        latency_s=share,
                        finish_reason=reason,
                    )
        return [r for r in results if r is not None]

    def _generate_batch(
        self,
        contexts: Sequence[list[int]],
        until: tuple[str, ...],
        max_tokens: int,
        temperature: float,
    ) -> list[tuple[str, int, int, str]]:
        torch = self._torch
        tok = self.tokenizer
        if max_tokens < 1:
            raise BackendError("max_tokens must be at least 1")
        max_ctx = self.max_length - max_tokens
        if max_ctx < 1:
            raise BackendError(
                f"max_tokens={max_tokens} leaves no room for a prompt in {self.max_length} tokens"
            )
        trimmed = [list(c[-max_ctx:]) for c in contexts]
        width = max(len(c) for c in trimmed)
        pad = int(tok.pad_token_id)
        ids = torch.full((len(trimmed), width), pad, dtype=torch.long)
        mask = torch.zeros((len(trimmed), width), dtype=torch.long)
        for row, c in enumerate(trimmed):
            if c:
                ids[row, width - len(c) :] = torch.tensor(c, dtype=torch.long)
                mask[row, width - len(c) :] = 1
        kwargs: dict[str, Any] = {
            "max_new_tokens": max_tokens,
            "pad_token_id": pad,
            "do_sample": temperature > 0,
        }
        if temperature > 0:
            kwargs["temperature"] = temperature
        else:
            # Greedy: drop sampling knobs a model's generation_config may carry.
            kwargs.update({"temperature": None, "top_p": None, "top_k": None})
        stops = [s for s in until if s]
        if stops:
            kwargs["stop_strings"] = stops
            kwargs["tokenizer"] = tok
        try:
            with torch.inference_mode():
                out = self.model.generate(
                    input_ids=ids.to(self.device), attention_mask=mask.to(self.device), **kwargs
                )
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"generation failed: {exc}") from exc
        eos = tok.eos_token_id
        eos_ids = set(eos) if isinstance(eos, list) else ({eos} if eos is not None else set())
        results: list[tuple[str, int, int, str]] = []
        for row, c in enumerate(trimmed):
            new = [int(t) for t in out[row, width:].tolist()]
            # Drop the padding after an early-finished row and stop at EOS.
            cut = len(new)
            for j, t in enumerate(new):
                if t in eos_ids:
                    cut = j + 1
                    break
            new = new[:cut]
            text = tok.decode(new, skip_special_tokens=True)
            hit = [text.find(s) for s in stops if s in text]
            reason = "length"
            if hit:
                text = text[: min(hit)]
                reason = "stop"
            elif new and new[-1] in eos_ids:
                reason = "stop"
            results.append((text, len(new), len(c), reason))
        return results


def load(
    model: str | Path,
    *,
    dtype: str = "float32",
    device: str = "auto",
    batch_size: int = 8,
    max_length: int | None = None,
    add_bos_token: bool | None = None,
    digest_cache: DigestCache | None = None,
) -> TransformersBackend:
    """Build a :class:`TransformersBackend` (a one-line :class:`ModelLoadError` when it cannot)."""
    return TransformersBackend(
        model,
        dtype=dtype,
        device=device,
        batch_size=batch_size,
        max_length=max_length,
        add_bos_token=add_bos_token,
        digest_cache=digest_cache,
    )


__all__ = [
    "DigestCache",
    "TransformersBackend",
    "file_sha256",
    "gguf_file_type",
    "load",
]
