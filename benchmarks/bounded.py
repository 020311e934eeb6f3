"""Bounded in time and memory: whole ``seewhy audit`` processes on hostile files.

Builds the three hostile cases of issue 7 and a benign control of the same
size for each, audits every folder in a child process
(``python -m seewhy audit <folder> --format json``, output discarded) and
prints its wall time and peak RSS (``os.wait4``: the child's own rusage),
next to the figures the issue measured before the budgets and pre-scans:

* a safetensors file whose 100 MB header nests objects ``{"a":{"a":...`` —
  before: 8 s and 3.9 GB (the JSON depth pre-scan);
* a 2 MiB Python file that is one tuple display of a million constants —
  before: a 1 GB syntax tree built before the node cap tripped;
* four shards (with their index) whose ~100 MB headers are hostile in four
  ways: deep nesting, a million empty objects, millions of empty strings and
  one 99 MB string — before: 34 s.

The controls: a 100 MB safetensors file with an ordinary header (its data
left as a hole), 2 MiB of ordinary Python, and four ordinary shards of the
same sizes. ``--baseline-src DIR`` also runs every audit with ``PYTHONPATH``
set to another checkout's ``src`` (say ``git worktree add /tmp/old <rev>``),
for measured before figures; expect minutes and gigabytes.

    .venv/bin/python benchmarks/bounded.py [--header-mb 100] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MB = 1_000_000
MiB = 1 << 20


# ------------------------------------------------------------------ the files


def _safetensors(path: Path, header: bytes, data_bytes: int = 0) -> None:
    """A safetensors file: length, header, then ``data_bytes`` left as a hole."""
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        if data_bytes:
            f.truncate(8 + len(header) + data_bytes)


def _ordinary_header(tensors: int, each: int) -> tuple[bytes, int]:
    header = {
        f"model.layers.{i}.weight": {
            "dtype": "U8",
            "shape": [each],
            "data_offsets": [i * each, (i + 1) * each],
        }
        for i in range(tensors)
    }
    return json.dumps(header).encode(), tensors * each


def _nested(size: int) -> bytes:
    depth = (size - 1) // 6
    return b'{"a":' * depth + b"1" + b"}" * depth


def _hostile_headers(size: int) -> list[bytes]:
    """Four ~``size``-byte headers, hostile in four ways."""
    n = (size - 40) // 3
    return [
        _nested(size),
        b'{"x":[' + b"{}," * n + b"{}]}",
        b'{"x":[' + b'"",' * n + b'""]}',
        b'{"__metadata__":{"blob":"' + b"A" * (size - 40) + b'"}}',
    ]


def _hostile_python(size: int) -> bytes:
    return b"x = (" + b"0," * ((size - 8) // 2) + b")\n"


def _ordinary_python(size: int) -> bytes:
    out: list[str] = []
    total = i = 0
    while total < size:
        chunk = (
            f"\n\ndef layer_{i}(x, weight, bias=None, *, scale: float = 1.0):\n"
            f'    """Apply layer {i}."""\n'
            f"    y = x @ weight.T * scale\n"
            f"    if bias is not None:\n"
            f"        y = y + bias[{i % 7}]\n"
            f'    return {{"out": y, "name": "layer_{i}"}}\n'
        )
        out.append(chunk)
        total += len(chunk)
        i += 1
    return "".join(out).encode()[:size].rsplit(b"\n\n", 1)[0] + b"\n"


def _shards(folder: Path, headers: list[bytes], data_bytes: list[int]) -> None:
    n = len(headers)
    names = [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]
    for name, header, data in zip(names, headers, data_bytes, strict=True):
        _safetensors(folder / name, header, data)
    index = {
        "metadata": {"total_size": sum(data_bytes)},
        "weight_map": {f"w{i}": name for i, name in enumerate(names)},
    }
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))


# ------------------------------------------------------------------ measuring


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss: int  # bytes
    exit_code: int


def audit_process(folder: Path, pythonpath: str | None = None) -> Run:
    """One whole ``seewhy audit`` process: wall time and its own peak RSS."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    command = [sys.executable, "-m", "seewhy", "audit", str(folder), "--format", "json"]
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return Run(seconds, peak, proc.returncode)


def _fmt(run: Run | None) -> str:
    if run is None:
        return f"{'-':>18}"
    return f"{run.seconds:7.2f} s {run.peak_rss / MiB:6.0f} MiB"


def build(root: Path, size: int) -> None:
    """Write every case under ``root`` (run in a child, so that this process stays small)."""
    # 1. one safetensors file with a nested 100 MB header
    for name in CASES:
        (root / name / "hostile").mkdir(parents=True)
        (root / name / "benign").mkdir(parents=True)
    case = root / "safetensors"
    _safetensors(case / "hostile" / "model.safetensors", _nested(size))
    header, data = _ordinary_header(1000, (size - 100_000) // 1000)
    _safetensors(case / "benign" / "model.safetensors", header, data)
    # 2. a 2 MiB Python file
    case = root / "python"
    (case / "hostile" / "modeling_x.py").write_bytes(_hostile_python(2 * MiB - 16))
    (case / "benign" / "modeling_x.py").write_bytes(_ordinary_python(2 * MiB - 16))
    # 3. four shards
    case = root / "shards"
    _shards(case / "hostile", _hostile_headers(size), [0] * 4)
    _shards(case / "benign", [header] * 4, [data] * 4)


CASES = {
    "safetensors": ("safetensors, 100 MB nested header", "8 s, 3.9 GB"),
    "python": ("Python, 2 MiB", "1 GB syntax tree"),
    "shards": ("4 shards, ~100 MB headers", "34 s"),
}


def main() -> None:
    """Build the cases, audit each in a child process, print the table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--header-mb", type=float, default=100.0, help="hostile header size")
    parser.add_argument("--baseline-src", type=Path, help="another checkout's src/ to compare")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = int(args.header_mb * MB) - 100  # under the format's 100,000,000-byte limit
    if args.build is not None:
        build(args.build, size)
        return
    baseline = str(args.baseline_src.resolve()) if args.baseline_src else None

    with tempfile.TemporaryDirectory(prefix="seewhy-bounded-") as tmp:
        root = Path(tmp)
        subprocess.run(
            [sys.executable, __file__, "--build", str(root), "--header-mb", str(args.header_mb)],
            check=True,
        )
        print("whole `seewhy audit` processes: wall time, peak RSS of the process")
        head = f"{'case':34} {'before (issue)':>18} {'hostile now':>18} {'benign control':>18}"
        if baseline:
            head += f" {'hostile, baseline':>18} {'benign, baseline':>18}"
        print(head)
        for key, (name, before) in CASES.items():
            hostile, benign = root / key / "hostile", root / key / "benign"
            row = f"{name:34} {before:>18} {_fmt(audit_process(hostile))} "
            row += _fmt(audit_process(benign))
            if baseline:
                row += f" {_fmt(audit_process(hostile, baseline))}"
                row += f" {_fmt(audit_process(benign, baseline))}"
            print(row, flush=True)


if __name__ == "__main__":
    main()
