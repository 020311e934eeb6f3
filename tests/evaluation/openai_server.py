"""A stand-in OpenAI-compatible server for the openai backend's tests.

A real FastAPI app served by uvicorn in its own process on 127.0.0.1. It
binds a free port itself and prints ``PORT <n>`` on stdout once the model is
loaded, so a test starts it with :func:`start_server` and talks to it over
real HTTP.

Models:

- ``--model-path FILE.gguf``: the real model through transformers (the GGUF
  dequantized to float32). ``/v1/completions`` with ``echo`` returns the
  prompt's tokens with correct log-probabilities: the value at position *i*
  is log P(token *i* | tokens before *i*), taken from the logits at *i-1*,
  and ``top_logprobs[i]`` is that distribution's top token; the first token
  has none (``null``), as in OpenAI's API.
- ``--toy``: a deterministic model that needs no weights. Tokens are words
  with their leading whitespace. It counts and copies: after a number
  (``"7,"``) the next one (``" 8,"``) gets probability 0.9; otherwise, when
  the previous token occurred before, the token that followed it then gets
  0.9; with nothing to go on, ``" the"`` gets 0.01. Generation echoes the
  prompt (or the last user message), one word a token.

``--shift-logprobs`` reproduces llama-cpp-python's server (#1983): the value
at position *i* is read from the distribution that predicts token *i+1*
(``POST /control {"shift": true|false}`` switches it on a running server).
``--no-echo`` ignores ``echo``, as llama.cpp's own ``llama-server`` does.

Faults, counted over POST requests: ``--fail-first N`` answers the first N
with HTTP 500, ``--fail-when TEXT`` every request whose body holds TEXT,
``--malformed-every K`` answers every K-th with a cut JSON body,
``--slow-ms MS`` waits before every answer, ``--api-key KEY`` demands
``Authorization: Bearer KEY``. ``GET /stats`` reports the requests received
and the most that were in flight at once.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import queue
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

TOY_OTHER = 1000  # the toy vocabulary: the predicted token plus this many others
_WORDS = re.compile(r"\s*\S+|\s+$")
_NUMBER = re.compile(r"\s*(\d{1,6})([^\w\s]*)")


@dataclass
class Echo:
    tokens: list[str]
    logprobs: list[float | None]
    tops: list[dict[str, float] | None]


class ToyModel:
    """Copy-predicting toy language model over whitespace-attached words."""

    model_id = "toy-copy"

    def tokenize(self, text: str) -> list[str]:
        return _WORDS.findall(text)

    def _predict(self, prefix: Sequence[str]) -> tuple[str, float, float]:
        """(top token, its log-probability, the log-probability of any other token)."""
        if prefix:
            last = prefix[-1]
            number = _NUMBER.fullmatch(last)
            if number:  # counting: "7," is followed by " 8,"
                return (
                    f" {int(number[1]) + 1}{number[2]}",
                    math.log(0.9),
                    math.log(0.1 / TOY_OTHER),
                )
            for j in range(len(prefix) - 2, -1, -1):
                if prefix[j] == last:
                    return prefix[j + 1], math.log(0.9), math.log(0.1 / TOY_OTHER)
        return " the", math.log(0.01), math.log(0.99 / TOY_OTHER)

    def echo(self, prompt: str, shift: bool) -> Echo:
        tokens = self.tokenize(prompt)
        logprobs: list[float | None] = []
        tops: list[dict[str, float] | None] = []
        for i, token in enumerate(tokens):
            if i == 0 and not shift:
                logprobs.append(None)
                tops.append(None)
                continue
            top, top_lp, other_lp = self._predict(tokens[: i + 1] if shift else tokens[:i])
            logprobs.append(top_lp if token == top else other_lp)
            tops.append({top: top_lp})
        top, top_lp, _ = self._predict(tokens)
        return Echo([*tokens, top], [*logprobs, top_lp], [*tops, {top: top_lp}])

    def generate(self, prompt: str, max_tokens: int) -> tuple[list[str], int]:
        tokens = self.tokenize(prompt)
        return tokens[:max_tokens], len(tokens)

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        users = [m["content"] for m in messages if m.get("role") == "user"]
        return users[-1] if users else ""


class HFModel:
    """A real causal LM through transformers (a GGUF dequantized to float32)."""

    def __init__(self, path: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
        self.torch = torch
        self.model_id = path.stem
        self.tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        self.model = AutoModelForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, dtype=torch.float32
        )
        self.model.eval()

    def _pieces(self, ids: list[int]) -> list[str]:
        pieces = [str(self.tokenizer.decode([i])) for i in ids]
        if "".join(pieces) != self.tokenizer.decode(ids):
            # Characters split across tokens: cumulative decoding keeps the offsets right.
            texts = [str(self.tokenizer.decode(ids[: k + 1])) for k in range(len(ids))]
            pieces = [texts[0]] + [b[len(a) :] for a, b in itertools.pairwise(texts)]
        return pieces

    def echo(self, prompt: str, shift: bool) -> Echo:
        torch = self.torch
        ids = self.tokenizer(prompt, add_special_tokens=False).input_ids
        with torch.no_grad():
            logits = self.model(torch.tensor([ids])).logits[0].float()
        logp = torch.log_softmax(logits, dim=-1)
        pieces = self._pieces(ids)
        logprobs: list[float | None] = []
        tops: list[dict[str, float] | None] = []
        for i, token in enumerate(ids):
            row = i if shift else i - 1
            if row < 0:
                logprobs.append(None)
                tops.append(None)
                continue
            best = int(torch.argmax(logp[row]))
            logprobs.append(float(logp[row, token]))
            tops.append({str(self.tokenizer.decode([best])): float(logp[row, best])})
        nxt = int(torch.argmax(logp[-1]))
        next_piece = str(self.tokenizer.decode([nxt]))
        value = float(logp[-1, nxt])
        return Echo([*pieces, next_piece], [*logprobs, value], [*tops, {next_piece: value}])

    def generate(self, prompt: str, max_tokens: int) -> tuple[list[str], int]:
        torch = self.torch
        ids = self.tokenizer(prompt, add_special_tokens=False).input_ids
        with torch.no_grad():
            out = self.model.generate(
                torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                max_new_tokens=max(1, max_tokens),
                do_sample=False,
                pad_token_id=self.tokenizer.eos_token_id,
            )
        new = [int(t) for t in out[0, len(ids) :]]
        if self.tokenizer.eos_token_id in new:
            new = new[: new.index(self.tokenizer.eos_token_id)]
        return self._pieces(new) if new else [], len(ids)

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        return str(text)


@dataclass
class Faults:
    fail_first: int = 0
    malformed_every: int = 0
    slow_ms: int = 0
    fail_when: str | None = None
    shift: bool = False
    no_echo: bool = False
    api_key: str | None = None
    posts: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


def make_app(model: ToyModel | HFModel, faults: Faults) -> Any:
    app = FastAPI()
    model_lock = threading.Lock()
    counter_lock = threading.Lock()

    def stop_at(pieces: list[str], stops: list[str]) -> tuple[str, str]:
        text = "".join(pieces)
        cut = min((text.find(s) for s in stops if s and s in text), default=-1)
        return (text[:cut], "stop") if cut >= 0 else (text, "length")

    async def guarded(request: Request, work: Any) -> Any:
        expected = f"Bearer {faults.api_key}"
        if faults.api_key is not None and request.headers.get("authorization") != expected:
            return JSONResponse({"error": {"message": "bad API key"}}, status_code=401)
        with counter_lock:
            faults.posts += 1
            number = faults.posts
            faults.in_flight += 1
            faults.max_in_flight = max(faults.max_in_flight, faults.in_flight)
        try:
            if faults.slow_ms:
                await asyncio.sleep(faults.slow_ms / 1000)
            if number <= faults.fail_first:
                faults.statuses["500"] = faults.statuses.get("500", 0) + 1
                return JSONResponse({"error": {"message": "injected failure"}}, status_code=500)
            if faults.malformed_every and number % faults.malformed_every == 0:
                faults.statuses["malformed"] = faults.statuses.get("malformed", 0) + 1
                return Response('{"choices": [{"text": "cut', media_type="application/json")
            raw = await request.body()
            if faults.fail_when is not None and faults.fail_when.encode() in raw:
                faults.statuses["500"] = faults.statuses.get("500", 0) + 1
                return JSONResponse({"error": {"message": "injected failure"}}, status_code=500)
            body = json.loads(raw)

            def run() -> Any:
                with model_lock:
                    return work(body)

            result = await asyncio.to_thread(run)
            faults.statuses["200"] = faults.statuses.get("200", 0) + 1
            return JSONResponse(result)
        finally:
            with counter_lock:
                faults.in_flight -= 1

    @app.get("/v1/models")
    async def models() -> Any:
        return {"object": "list", "data": [{"id": model.model_id, "object": "model"}]}

    @app.get("/stats")
    async def stats() -> Any:
        return {
            "posts": faults.posts,
            "max_in_flight": faults.max_in_flight,
            "statuses": faults.statuses,
        }

    def completion(body: dict[str, Any]) -> dict[str, Any]:
        prompt = body["prompt"]
        max_tokens = int(body.get("max_tokens", 16))
        stops = body.get("stop") or []
        stops = [stops] if isinstance(stops, str) else list(stops)
        choice: dict[str, Any] = {"index": 0}
        if body.get("logprobs") is not None and (body.get("echo") or faults.no_echo):
            echo = model.echo(prompt, faults.shift)
            offsets, at = [], 0
            for token in echo.tokens:
                offsets.append(at)
                at += len(token)
            if faults.no_echo:  # the generated token's log-probability only
                echo = Echo(echo.tokens[-1:], echo.logprobs[-1:], echo.tops[-1:])
                offsets = offsets[-1:]
            choice.update(
                text="".join(echo.tokens),
                finish_reason="length",
                logprobs={
                    "tokens": echo.tokens,
                    "token_logprobs": echo.logprobs,
                    "top_logprobs": echo.tops,
                    "text_offset": offsets,
                },
            )
            usage = (len(echo.tokens) - 1, 1)
        else:
            pieces, n_prompt = model.generate(prompt, max_tokens)
            text, reason = stop_at(pieces, stops)
            choice.update(text=text, finish_reason=reason, logprobs=None)
            usage = (n_prompt, len(pieces))
        return {
            "id": "cmpl-standin",
            "object": "text_completion",
            "model": model.model_id,
            "choices": [choice],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]},
        }

    def chat(body: dict[str, Any]) -> dict[str, Any]:
        prompt = model.chat_prompt(body["messages"])
        stops = body.get("stop") or []
        stops = [stops] if isinstance(stops, str) else list(stops)
        pieces, n_prompt = model.generate(prompt, int(body.get("max_tokens", 16)))
        text, reason = stop_at(pieces, stops)
        return {
            "id": "chatcmpl-standin",
            "object": "chat.completion",
            "model": model.model_id,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": reason,
                }
            ],
            "usage": {"prompt_tokens": n_prompt, "completion_tokens": len(pieces)},
        }

    @app.post("/control")
    async def control(request: Request) -> Any:
        """Switch the log-probability shift on or off (one model load serves both tests)."""
        body = await request.json()
        faults.shift = bool(body.get("shift", faults.shift))
        return {"shift": faults.shift}

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        return await guarded(request, completion)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Any:
        return await guarded(request, chat)

    return app


def main(argv: Sequence[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--toy", action="store_true")
    which.add_argument("--model-path", type=Path)
    parser.add_argument("--shift-logprobs", action="store_true")
    parser.add_argument("--no-echo", action="store_true", help="ignore echo, as llama-server")
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--malformed-every", type=int, default=0)
    parser.add_argument("--slow-ms", type=int, default=0)
    parser.add_argument("--fail-when", help="answer 500 to every request whose body holds this")
    parser.add_argument("--api-key")
    args = parser.parse_args(argv)
    model: ToyModel | HFModel = ToyModel() if args.toy else HFModel(args.model_path)
    faults = Faults(
        fail_first=args.fail_first,
        malformed_every=args.malformed_every,
        slow_ms=args.slow_ms,
        fail_when=args.fail_when,
        shift=args.shift_logprobs,
        no_echo=args.no_echo,
        api_key=args.api_key,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(make_app(model, faults), log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    sys.stdout.write(f"PORT {sock.getsockname()[1]}\n")
    sys.stdout.flush()
    server.run(sockets=[sock])


# ------------------------------------------------------------- for the tests


class RunningServer:
    """A stand-in server process; ``url`` is its root (``http://127.0.0.1:N``)."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def stats(self) -> dict[str, Any]:
        import httpx

        result: dict[str, Any] = httpx.get(f"{self.url}/stats", timeout=10).json()
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_server(*args: str, log: Path, startup_timeout_s: float = 300.0) -> RunningServer:
    """Start the server in a subprocess with ``args``; wait until it prints its port.

    The server's stderr goes to ``log`` (shown when it does not start).
    """
    with log.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *args],
            stdout=subprocess.PIPE,
            stderr=err,
        )
    assert process.stdout is not None
    lines: queue.Queue[bytes] = queue.Queue()
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=startup_timeout_s)
    except queue.Empty:
        line = b""
    if not line.startswith(b"PORT "):
        process.kill()
        process.wait()
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the stand-in server did not start: {tail}")
    return RunningServer(process, int(line.split()[1]), log)


if __name__ == "__main__":
    main()
