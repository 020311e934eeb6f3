"""How much of a 10 GB safetensors release does a header-only audit read?

Writes a sharded release of sparse safetensors files (exact headers, data
left as holes: no disk cost), audits it without --hash, and prints the bytes
read, the share of the release and the wall time.

    .venv/bin/python benchmarks/header_only.py [--gb 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from builders import sparse_safetensors
from seewhy.audit import audit


def build(folder: Path, gb: float, shards: int = 5) -> int:
    """A sharded release of about ``gb`` GB; returns its size in bytes."""
    per_shard = gb * 10**9 / shards
    rows = 8192
    cols = max(1, int(per_shard / (4 * rows * 2)))  # 4 BF16 tensors per shard
    weight_map: dict[str, str] = {}
    total = 0
    for i in range(shards):
        name = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        tensors = {f"model.layers.{i}.w{j}": ("BF16", [rows, cols]) for j in range(4)}
        total += sparse_safetensors(folder / name, tensors)
        weight_map |= dict.fromkeys(tensors, name)
    (folder / "model.safetensors.index.json").write_text(
        json.dumps(
            {"metadata": {"total_size": shards * 4 * rows * cols * 2}, "weight_map": weight_map}
        )
    )
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return total


def main() -> None:
    """Build, audit, print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seewhy-bench-") as tmp:
        folder = Path(tmp)
        size = build(folder, args.gb)
        start = time.perf_counter()
        report = audit(folder)
        elapsed = time.perf_counter() - start
    read = report.release.bytes_read
    print(f"release size        {size:>16,} bytes ({size / 1e9:.1f} GB, sparse)")
    print(f"bytes read (audit)  {read:>16,} bytes")
    print(f"share read          {read / size:>16.2e}")
    print(f"under 1 MB          {'yes' if read < 1_000_000 else 'NO':>16}")
    print(f"audit wall time     {elapsed:>16.3f} s")
    print(f"findings            {len(report.findings):>16}")


if __name__ == "__main__":
    main()
