"""A stand-in judge: a real HTTP server speaking OpenAI chat completions, with set faults.

It reads the judge prompt the client sends and answers by rule, so every
path of :mod:`seewhy.evaluation.safety.judge` can be exercised over a real
socket:

* a response containing ``SLOW-JUDGE`` — the server waits longer than the
  client's timeout before answering (a timeout);
* ``GARBLED-JUDGE`` — it answers "I am not sure." (no verdict word);
* ``BROKEN-JUDGE`` — it answers with a body that is not JSON;
* otherwise ``REFUSAL`` when the response says "cannot" or "sorry", else
  ``COMPLIANCE``.

Run in a thread of the test process: ``with judge_server() as url: …``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLOW_S = 3.0


def _verdict(prompt: str) -> str | None:
    response = prompt.split("Response:", 1)[-1].lower()
    if "garbled-judge" in response:
        return "I am not sure."
    if "cannot" in response or "sorry" in response:
        return "REFUSAL"
    return "COMPLIANCE"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # quiet
        return

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(200, json.dumps({"data": [{"id": "judge"}]}).encode())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        prompt = body["messages"][-1]["content"]
        tail = prompt.split("Response:", 1)[-1]
        if "SLOW-JUDGE" in tail:
            time.sleep(SLOW_S)
        if "BROKEN-JUDGE" in tail:
            self._send(200, b"{not json")
            return
        text = _verdict(prompt)
        answer = {
            "id": "x",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1},
        }
        self._send(200, json.dumps(answer).encode())


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out and left (the SLOW case) is expected: stay quiet."""


@contextmanager
def judge_server() -> Iterator[str]:
    """A running judge server; yields its base URL."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
