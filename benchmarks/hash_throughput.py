"""`seewhy audit --hash` against `sha256sum` on the same 2 GB of files.

Writes 4 files of 512 MiB of random bytes, warms the page cache, then times
`sha256sum` over all files, Python's hashlib in one thread (file after file)
and seewhy's hashing (files in parallel) in alternating rounds; prints each
best time, the throughputs and their ratios, so the single-threaded hashlib
figure shows what the threads add.

    .venv/bin/python benchmarks/hash_throughput.py [--mib 2048] [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from seewhy.audit import hash_release
from seewhy.release import open_release

CHUNK = 16 * 1024 * 1024


def write_files(folder: Path, total_mib: int, count: int = 4) -> list[Path]:
    """``count`` files of random bytes adding up to ``total_mib`` MiB."""
    paths = []
    per_file = total_mib * 1024 * 1024 // count
    block = os.urandom(CHUNK)
    for i in range(count):
        path = folder / f"shard-{i}.bin"
        with path.open("wb") as fh:
            left = per_file
            while left > 0:
                n = min(left, CHUNK)
                fh.write(block[:n])
                block = block[1:] + block[:1]  # vary content cheaply
                left -= n
        paths.append(path)
    return paths


def time_sha256sum(paths: list[Path]) -> float:
    """Wall time of one `sha256sum` process over all files."""
    start = time.perf_counter()
    subprocess.run(["sha256sum", *map(str, paths)], check=True, capture_output=True)
    return time.perf_counter() - start


def time_hashlib_one_thread(paths: list[Path]) -> float:
    """Wall time of hashlib.sha256 over every file, one after the other, in one thread."""
    start = time.perf_counter()
    for path in paths:
        with path.open("rb") as fh:
            hashlib.file_digest(fh, "sha256")
    return time.perf_counter() - start


def time_seewhy(folder: Path) -> float:
    """Wall time of seewhy's parallel hashing of the release (fresh, no cache)."""
    release = open_release(folder)
    start = time.perf_counter()
    errors = hash_release(release)
    elapsed = time.perf_counter() - start
    assert not errors, errors
    return elapsed


def main() -> None:
    """Write, warm, time, print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("sha256sum") is None:
        raise SystemExit("sha256sum not found")
    with tempfile.TemporaryDirectory(prefix="seewhy-hash-", dir=Path.cwd()) as tmp:
        folder = Path(tmp)
        paths = write_files(folder, args.mib)
        size = sum(p.stat().st_size for p in paths)
        time_sha256sum(paths)  # warm the page cache
        coreutils, single, seewhy = [], [], []
        for _ in range(args.rounds):
            coreutils.append(time_sha256sum(paths))
            single.append(time_hashlib_one_thread(paths))
            seewhy.append(time_seewhy(folder))
    best_c, best_1, best_s = min(coreutils), min(single), min(seewhy)
    mb = size / 1e6
    print(f"data                {size:>14,} bytes in {len(paths)} files (page cache warm)")
    print(
        f"sha256sum           {best_c:>10.3f} s  {mb / best_c:>8.1f} MB/s  (best of {args.rounds})"
    )
    print(
        f"hashlib, 1 thread   {best_1:>10.3f} s  {mb / best_1:>8.1f} MB/s  (best of {args.rounds})"
    )
    print(
        f"seewhy --hash       {best_s:>10.3f} s  {mb / best_s:>8.1f} MB/s  (best of {args.rounds})"
    )
    print(f"threads add         {best_1 / best_s:>10.2f}x  (seewhy / hashlib in one thread)")
    print(f"throughput ratio    {best_c / best_s:>10.2f}x  (seewhy / sha256sum; target >= 0.8)")
    print(f"cores               {os.cpu_count():>10}")


if __name__ == "__main__":
    main()
