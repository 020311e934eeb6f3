"""How much of a multi-GB Hub repository does `seewhy audit org/name` transfer?

Starts the stand-in Hub (tests/hub_server.py) on loopback with two sparse
repositories -- safetensors only (sharded, with an index) and GGUF only --
each of ``--gb`` GB, audits each through the real CLI (``seewhy audit
org/name --format json`` in a subprocess, ``HF_ENDPOINT`` pointing at the
server, a fresh ``HF_HOME``), and prints the bytes transferred (the report's
``hub.bytes_transferred`` fact, checked against what the server sent), the
share of the repository (target: under 0.1%) and the wall time per audit.

    .venv/bin/python benchmarks/hub_transfer.py [--gb 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from builders import sparse_safetensors
from hub_server import HubServer, sparse_gguf

TARGET = 0.001


def build_safetensors(folder: Path, gb: float, shards: int = 4) -> int:
    """A sharded safetensors repository of about ``gb`` GB; returns its size."""
    folder.mkdir(parents=True)
    rows = 8192
    cols = max(1, int(gb * 1e9 / shards / (4 * rows * 2)))
    weight_map: dict[str, str] = {}
    total = 0
    for i in range(shards):
        name = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        tensors = {f"model.layers.{i}.w{j}": ("BF16", [rows, cols]) for j in range(4)}
        total += sparse_safetensors(folder / name, tensors)
        weight_map |= dict.fromkeys(tensors, name)
    index = {"metadata": {"total_size": shards * 4 * rows * cols * 2}, "weight_map": weight_map}
    for name, text in {
        "model.safetensors.index.json": json.dumps(index),
        "config.json": json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}),
        "README.md": "---\nlicense: apache-2.0\n---\n# Bench\n",
    }.items():
        (folder / name).write_text(text)
        total += (folder / name).stat().st_size
    return total


def build_gguf(folder: Path, gb: float) -> int:
    """A GGUF-only repository of about ``gb`` GB; returns its size."""
    folder.mkdir(parents=True)
    tensors = 64
    return sparse_gguf(folder / "model.Q8_0.gguf", tensors, int(gb * 1e9 / tensors))


def audit(hub: HubServer, repo_id: str, home: Path) -> tuple[dict[str, object], float, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env |= {"HF_ENDPOINT": hub.url, "HF_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1"}
    before = hub.sent(f"/{repo_id}/")
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "seewhy", "audit", repo_id, "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if not proc.stdout:
        raise SystemExit(f"audit of {repo_id} failed: {proc.stderr}")
    facts = {f["key"]: f["value"] for f in json.loads(proc.stdout)["facts"]}
    return facts, elapsed, hub.sent(f"/{repo_id}/") - before


def main() -> None:
    """Build, serve, audit, print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seewhy-hub-bench-") as tmp:
        root = Path(tmp) / "repos"
        sizes = {
            "bench/safetensors-only": build_safetensors(root / "bench/safetensors-only", args.gb),
            "bench/gguf-only": build_gguf(root / "bench/gguf-only", args.gb),
        }
        print(f"{'repository':<24} {'size':>16} {'transferred':>12} {'share':>9} {'wall s':>7}")
        worst = 0.0
        with HubServer(root) as hub:
            for repo_id, size in sizes.items():
                facts, elapsed, served = audit(hub, repo_id, Path(tmp) / "hf" / repo_id)
                sent = int(facts["hub.bytes_transferred"])  # type: ignore[call-overload]
                assert int(facts["hub.total_bytes"]) == size  # type: ignore[call-overload]
                assert served >= sent, (served, sent)  # the server sent at least the bodies counted
                share = sent / size
                worst = max(worst, share)
                print(f"{repo_id:<24} {size:>16,} {sent:>12,} {share:>9.2e} {elapsed:>7.2f}")
        verdict = "meets" if worst < TARGET else "MISSES"
        print(f"worst share {worst:.2e}: {verdict} the {TARGET:.1%} target")


if __name__ == "__main__":
    main()
