"""Does the inventory scale linearly with the number of files?

Writes releases of many tiny safetensors shards (one folder, with a shard
index, as a checkpoint dump does), opens each release and times the
inventory analyzer alone on it, in process. A linear analyzer takes about
3x as long for 3x the files; the quadratic comparison this benchmark was
written for took 10.6 s for 30,000 files against 2.4 s for 10,000 (4.4x).

    .venv/bin/python benchmarks/inventory_scale.py [--small 10000] [--large 30000]
"""

from __future__ import annotations

import argparse
import json
import struct
import tempfile
import time
from pathlib import Path

from seewhy.analyzers.interface import AuditContext
from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.release import open_release


def tiny_safetensors(name: str) -> bytes:
    """A valid safetensors file holding one F32 tensor of 2 elements."""
    header = json.dumps({name: {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + bytes(8)


def build(folder: Path, count: int) -> None:
    """``count`` shards ``model-i-of-count.safetensors`` and their index."""
    weight_map: dict[str, str] = {}
    for i in range(count):
        name = f"model-{i + 1:05d}-of-{count:05d}.safetensors"
        tensor = f"layers.{i}.weight"
        (folder / name).write_bytes(tiny_safetensors(tensor))
        weight_map[tensor] = name
    index = {"metadata": {"total_size": 8 * count}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))


def timed(count: int, repeat: int) -> float:
    """Best-of-``repeat`` seconds for the inventory of a ``count``-file release."""
    with tempfile.TemporaryDirectory(prefix="seewhy-bench-") as tmp:
        folder = Path(tmp)
        build(folder, count)
        release = open_release(folder)
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            InventoryAnalyzer().analyze(release, AuditContext())
            best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    """Build two releases, time the inventory on each, print the ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    small = timed(args.small, args.repeat)
    large = timed(args.large, args.repeat)
    files = args.large / args.small
    print(f"inventory, {args.small:>7,} files  {small:8.2f} s")
    print(f"inventory, {args.large:>7,} files  {large:8.2f} s")
    ratio = large / small
    print(f"time ratio           {ratio:8.2f}x for {files:.1f}x the files (linear: ~{files:.1f}x)")


if __name__ == "__main__":
    main()
