"""Start-up of the ``seewhy`` command, measured as whole processes.

Runs the installed entry point (``.venv/bin/seewhy``, else ``seewhy`` on
PATH, else ``python -m seewhy``) for ``--version``, ``--help`` and an audit of
a tiny release (a small safetensors file, ``config.json`` and a model card,
written to a temporary folder), ``--rounds`` times each after one warm-up run,
and prints the median and the minimum wall time against the targets:
``--version`` under 60 ms, ``--help`` under 150 ms, the audit under 200 ms.
It also prints the median CPU time (user + system) of the child process:
on a busy machine wall time grows with the load, CPU time much less, so
compare CPU figures between runs made under different loads.

The child processes get their own bytecode cache (``PYTHONPYCACHEPREFIX`` in
the temporary folder, ``PYTHONDONTWRITEBYTECODE`` removed), as an installed
package has compiled bytecode; the warm-up run fills it.

    .venv/bin/python benchmarks/startup.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TARGETS_MS = {"--version": 60.0, "--help": 150.0, "audit (tiny release)": 200.0}


def entry_point() -> list[str]:
    """The command a user runs: the venv's console script, else PATH, else -m."""
    local = ROOT / ".venv" / "bin" / "seewhy"
    if local.is_file():
        return [str(local)]
    found = shutil.which("seewhy")
    if found:
        return [found]
    return [sys.executable, "-m", "seewhy"]


def write_tiny_release(folder: Path) -> Path:
    """A one-tensor safetensors file, a config and a model card."""
    folder.mkdir(parents=True, exist_ok=True)
    data = struct.pack("<16f", *range(16))
    header = json.dumps(
        {"weight": {"dtype": "F32", "shape": [4, 4], "data_offsets": [0, len(data)]}},
        separators=(",", ":"),
    ).encode()
    header += b" " * (-len(header) % 8)
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + data)
    config = {"model_type": "llama", "hidden_size": 4, "num_hidden_layers": 1}
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (folder / "README.md").write_text(
        "---\nlicense: apache-2.0\n---\n# tiny\n\nA 16-parameter test model.\n"
    )
    return folder


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_runs(
    command: list[str], env: dict[str, str], rounds: int
) -> tuple[list[float], list[float], int]:
    """Wall and CPU (user + system) seconds per run, after one warm-up run, and
    the last exit code."""
    subprocess.run(command, capture_output=True, env=env, check=False)  # warm-up
    times: list[float] = []
    cpu: list[float] = []
    code = 0
    for _ in range(rounds):
        cpu_start = _children_cpu()
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, env=env, check=False)
        times.append(time.perf_counter() - start)
        cpu.append(_children_cpu() - cpu_start)
        code = done.returncode
    return times, cpu, code


def main() -> None:
    """Write the tiny release, time the three commands, print figures and targets."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    seewhy = entry_point()
    with tempfile.TemporaryDirectory(prefix="seewhy-startup-") as tmp:
        release = write_tiny_release(Path(tmp) / "tiny")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        env["NO_COLOR"] = "1"
        runs = {
            "--version": [*seewhy, "--version"],
            "--help": [*seewhy, "--help"],
            "audit (tiny release)": [*seewhy, "audit", str(release)],
        }
        python = [sys.executable, "-c", "pass"]
        bare, bare_cpu, _ = time_runs(python, env, args.rounds)
        print(f"command: {' '.join(seewhy)}   ({args.rounds} rounds after a warm-up run)")
        print(f"{'':24s} {'median':>9s} {'min':>9s} {'target':>9s}  {'cpu (user+sys)':>14s}")
        bare_median, bare_min = statistics.median(bare) * 1e3, min(bare) * 1e3
        print(
            f"{'python -c pass':24s} {bare_median:7.1f}ms {bare_min:7.1f}ms {'':9s}"
            f"  {statistics.median(bare_cpu) * 1e3:12.1f}ms"
        )
        for name, command in runs.items():
            times, cpu, code = time_runs(command, env, args.rounds)
            median_ms, min_ms = statistics.median(times) * 1e3, min(times) * 1e3
            target = TARGETS_MS[name]
            verdict = "OK" if median_ms < target else "OVER"
            print(
                f"{name:24s} {median_ms:7.1f}ms {min_ms:7.1f}ms {target:7.0f}ms"
                f"  {statistics.median(cpu) * 1e3:12.1f}ms  {verdict}  (exit {code})"
            )
    print(f"cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
