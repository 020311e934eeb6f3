"""How fast is the pickle scan of a 1 GB PyTorch checkpoint, and how much does it read?

Writes a real ``torch.save`` checkpoint of large tensors (about ``--gb`` GB,
``--tensors`` storages) into a temporary folder, plus its legacy
(``_use_new_zipfile_serialization=False``) twin, and runs the pickle analyzer
on each: every pickle walked, every storage size-checked against its
persistent id, tensor bytes never read. Prints wall time and bytes read; the
target is under 2 s per checkpoint.

With ``--peers``, a separate virtual environment under /tmp gets
``picklescan`` and ``modelaudit`` (never dependencies of seewhy; ModelAudit's
telemetry is turned off). Times are compared like with like: whole processes
with whole processes (``seewhy audit`` vs the ``picklescan`` and
``modelaudit`` commands, start-up included), and, separately, in-process scans
with in-process scans (seewhy's pickle analyzer vs picklescan's
``scan_file_path``, imports excluded). Then every peer runs on every sample
of the hostile corpus (tests/corpus/pickle_samples.py) to print detection
side by side.

    .venv/bin/python benchmarks/pickle_scan.py [--gb 1] [--tensors 256] [--peers]

Needs torch (``pip install torch==2.13.0``, the CPU build).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "corpus"))

import pickle_samples  # noqa: E402

from seewhy.analyzers.interface import AuditContext  # noqa: E402
from seewhy.analyzers.inventory import InventoryAnalyzer  # noqa: E402
from seewhy.analyzers.security.pickle_scan import PickleAnalyzer  # noqa: E402
from seewhy.audit import audit  # noqa: E402
from seewhy.release.local import open_release  # noqa: E402
from seewhy.report.model import CoverageStatus  # noqa: E402

PEER_VENV = Path(tempfile.gettempdir()) / "seewhy-peers-venv"
TARGET_SECONDS = 2.0


def build(folder: Path, gb: float, tensors: int) -> tuple[Path, Path]:
    """A zip checkpoint and a legacy one of about ``gb`` GB each."""
    import torch

    per = max(1, int(gb * 1e9 / 4 / tensors))
    state = {f"model.layers.{i}.weight": torch.zeros(per) for i in range(tensors)}
    zipped = folder / "checkpoint.pt"
    legacy = folder / "checkpoint_legacy.bin"
    torch.save(state, zipped)
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    return zipped, legacy


def scan_one(path: Path) -> tuple[float, int, str, str]:
    """Run the pickle analyzer alone on one file: seconds, bytes read, status, detail."""
    release = open_release(path)
    before = release.meter.bytes_read
    start = time.perf_counter()
    result = PickleAnalyzer().analyze(release, AuditContext())
    elapsed = time.perf_counter() - start
    (path_step,) = [step for _, step in result.coverage]
    return elapsed, release.meter.bytes_read - before, path_step.status.value, path_step.detail


def report_ours(paths: list[Path]) -> dict[Path, float]:
    """Print seewhy's figures; return seconds per file."""
    times: dict[Path, float] = {}
    for path in paths:
        size = path.stat().st_size
        elapsed, read, status, detail = scan_one(path)
        times[path] = elapsed
        verdict = "OK" if elapsed < TARGET_SECONDS and status == "parsed" else "SLOW/INCOMPLETE"
        print(f"{path.name}: {size:,} bytes")
        print(f"  pickle scan        {elapsed:8.3f} s   ({verdict}, target < {TARGET_SECONDS} s)")
        print(f"  bytes read (scan)  {read:>14,}   ({read / size:.2e} of the file)")
        print(f"  coverage           {status}: {detail}")
        start = time.perf_counter()
        full = audit(path, analyzers=[InventoryAnalyzer(), PickleAnalyzer()])
        total = time.perf_counter() - start
        print(f"  full audit         {total:8.3f} s   bytes read {full.release.bytes_read:,}")
    return times


def ensure_peers() -> Path:
    """A venv with picklescan and modelaudit, created once under /tmp."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import picklescan, modelaudit"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "picklescan", "modelaudit"], check=True
        )
    return PEER_VENV / "bin"


def run_peer(bin_dir: Path, tool: str, path: Path) -> tuple[float, int, str]:
    """Run a peer scanner's command on a file: seconds, exit code, last output line."""
    env = dict(os.environ, PROMPTFOO_DISABLE_TELEMETRY="1", NO_COLOR="1")
    if tool == "picklescan":
        command = [str(bin_dir / "picklescan"), "-p", str(path)]
    else:
        command = [str(bin_dir / "modelaudit"), "scan", str(path)]
    start = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=600, check=False
    )
    elapsed = time.perf_counter() - start
    lines = (done.stdout + done.stderr).strip().splitlines()
    return elapsed, done.returncode, lines[-1][:60] if lines else ""


# Like the peers' venv (pip compiles bytecode at install), seewhy's processes get a
# bytecode cache, even where PYTHONDONTWRITEBYTECODE is set; the first run fills it.
_SEEWHY_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
_SEEWHY_ENV["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "seewhy-bench-pycache")


def run_seewhy_process(path: Path) -> tuple[float, int]:
    """The ``seewhy audit`` command on a file, as a whole process: seconds, exit code."""
    command = [sys.executable, "-m", "seewhy", "audit", str(path), "--format", "json"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=_SEEWHY_ENV, timeout=600, check=False)
    return time.perf_counter() - start, done.returncode


# Runs inside the peers' venv: picklescan's Python API, imports excluded from the time.
_PICKLESCAN_API = """
import sys, time
from picklescan.scanner import scan_file_path
start = time.perf_counter()
result = scan_file_path(sys.argv[1])
print(time.perf_counter() - start, result.issues_count, result.scan_err)
"""


def picklescan_in_process(bin_dir: Path, path: Path) -> float:
    """Seconds picklescan's ``scan_file_path`` takes on ``path`` (in its own venv)."""
    done = subprocess.run(
        [str(bin_dir / "python"), "-c", _PICKLESCAN_API, str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return float(done.stdout.split()[0])


def seewhy_process_seconds(path: Path) -> float:
    """Seconds of one ``seewhy audit`` process."""
    return run_seewhy_process(path)[0]


def peer_seconds(bin_dir: Path, tool: str, path: Path) -> float:
    """Seconds of one peer command."""
    return run_peer(bin_dir, tool, path)[0]


def scan_seconds(path: Path) -> float:
    """Seconds of seewhy's pickle analyzer alone."""
    return scan_one(path)[0]


def median_of(rounds: int, run: Callable[[], float]) -> float:
    """The median of ``rounds`` runs."""
    return statistics.median(run() for _ in range(rounds))


def compare_peers(paths: list[Path], folder: Path, rounds: int) -> None:
    """Time the peers on the checkpoints, then compare detection on the corpus."""
    bin_dir = ensure_peers()
    print(f"\npeer scanners (separate venv at {PEER_VENV}); median of {rounds} runs")
    print("whole processes (start-up included; seewhy runs its full audit, not only pickles):")
    run_seewhy_process(paths[0])  # warm-up: fills the bytecode cache
    for path in paths:
        mine = median_of(rounds, partial(seewhy_process_seconds, path))
        print(f"  {path.name:24s} {'seewhy':11s} {mine:8.3f} s")
        for tool in ("picklescan", "modelaudit"):
            theirs = median_of(rounds, partial(peer_seconds, bin_dir, tool, path))
            print(f"  {path.name:24s} {tool:11s} {theirs:8.3f} s  ({theirs / mine:5.1f}x seewhy)")
    print("in process (imports excluded; the pickle scan alone):")
    for path in paths:
        mine = median_of(rounds, partial(scan_seconds, path))
        theirs = median_of(rounds, partial(picklescan_in_process, bin_dir, path))
        print(f"  {path.name:24s} {'seewhy':11s} {mine:8.3f} s")
        print(
            f"  {path.name:24s} {'picklescan':11s} {theirs:8.3f} s  "
            f"({theirs / max(mine, 1e-6):5.1f}x seewhy)"
        )
    print("  modelaudit: no in-process figure (its API is not compared here)")
    corpus = folder / "corpus"
    marker = folder / "MARKER"
    samples = pickle_samples.write_all(corpus, marker)
    print("\ndetection on the hostile corpus (seewhy: high/critical finding; peers: exit code)")
    print(f"  {'sample':26s} {'seewhy':>8s} {'picklescan':>11s} {'modelaudit':>11s}")
    caught = {"seewhy": 0, "picklescan": 0, "modelaudit": 0}
    for name, written in samples.items():
        report = audit(written.path, analyzers=[InventoryAnalyzer(), PickleAnalyzer()])
        loud = any(f.severity.rank >= 3 for f in report.findings if f.analyzer == "security.pickle")
        inconclusive = any(c.status is CoverageStatus.INCONCLUSIVE for c in report.coverage)
        ours_text = "yes" if loud else ("inconcl" if inconclusive else "no")
        caught["seewhy"] += loud
        row = [f"  {name:26s} {ours_text:>8s}"]
        for tool in ("picklescan", "modelaudit"):
            _, code, _ = run_peer(bin_dir, tool, written.path)
            text = {0: "clean", 1: "yes"}.get(code, f"err {code}")
            caught[tool] += code == 1
            row.append(f"{text:>11s}")
        print(" ".join(row))
    total = len(samples)
    print("  caught: " + ", ".join(f"{k} {v}/{total}" for k, v in caught.items()))
    assert not marker.exists(), "a scanner ran a payload"


def main() -> None:
    """Build, scan, print (and compare with peers on request)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=1.0)
    parser.add_argument("--tensors", type=int, default=256)
    parser.add_argument("--peers", action="store_true", help="compare picklescan and modelaudit")
    parser.add_argument("--keep", type=Path, help="write the files here instead of a temp dir")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs per peer comparison")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="seewhy-pickle-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        paths = list(build(folder, args.gb, args.tensors))
        print(f"built {len(paths)} checkpoints in {time.perf_counter() - start:.1f} s\n")
        report_ours(paths)
        if args.peers:
            compare_peers(paths, folder, args.rounds)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
