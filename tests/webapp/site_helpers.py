"""Helpers of the site tests: run the seewhy CLI, start a real ``seewhy serve`` process."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def seewhy(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seewhy", *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@dataclass
class Server:
    """A running ``seewhy serve``: its URL and everything it wrote to stderr."""

    proc: subprocess.Popen[str]
    url: str
    stderr: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(store: Path, *args: str) -> Server:
    """Start ``seewhy serve --store STORE --port 0 ARGS`` and wait for its start line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "seewhy", "serve", "--store", str(store), "--port", "0", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if "serving" in line:
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 60
    while not ready.wait(0.1):
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("seewhy serve did not start within 60 s")
    start = next((line for line in lines if "serving" in line), None)
    if start is None:
        proc.wait(timeout=10)
        pytest.fail(f"seewhy serve exited {proc.returncode}: {lines}")
    url = start.split(" at ", 1)[1].split(" ", 1)[0]
    server = Server(proc, url.rstrip("/"), lines)
    # The socket is bound before the line is printed; wait until the app answers.
    import httpx

    while time.monotonic() < deadline:
        try:
            if httpx.get(server.url + "/api/runs", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    pytest.fail("seewhy serve never answered")


@dataclass(frozen=True)
class Audited:
    """The store and the releases audited into it (folder name -> source)."""

    store: Path
    sources: dict[str, str]
