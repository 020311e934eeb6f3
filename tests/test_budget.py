"""Time and memory budgets: enforced for real, restored after, inconclusive never unsafe."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

import pytest

from seewhy.audit import audit
from seewhy.budget import (
    Budget,
    BudgetExceeded,
    checkpoint,
    format_bytes,
    format_seconds,
    memory_limited,
    parse_memory,
)
from seewhy.report.model import CoverageStatus, Report, Severity

LINUX = sys.platform.startswith("linux")
needs_alarm = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no POSIX interval timer")
needs_rlimit = pytest.mark.skipif(not LINUX, reason="RLIMIT_AS is enforced on Linux only")


def _resource_state() -> tuple[object, tuple[float, float], tuple[int, int] | None]:
    rlimit = None
    if LINUX:
        import resource

        rlimit = resource.getrlimit(resource.RLIMIT_AS)
    return signal.getsignal(signal.SIGALRM), signal.getitimer(signal.ITIMER_REAL), rlimit


def _spin_swallowing_exceptions() -> None:
    """A parser loop that turns every Exception into 'keep going' — and never ends."""
    while True:
        try:
            sum(range(1000))
            raise ValueError("malformed")
        except Exception:
            continue


# ------------------------------------------------------------------ the guard


@needs_alarm
def test_time_budget_stops_a_loop_that_swallows_every_exception() -> None:
    before = _resource_state()
    with pytest.raises(BudgetExceeded) as info, Budget(file_timeout=0.2).bound("x"):
        _spin_swallowing_exceptions()
    assert info.value.kind == "time"
    assert info.value.reason == "analysis stopped at its time budget of 0.2 s"
    assert _resource_state() == before  # handler, timer and address-space limit restored


def test_budget_exceeded_is_not_an_exception() -> None:
    # Parsers catch Exception to turn their own failures into findings.
    assert not issubclass(BudgetExceeded, Exception)


@needs_rlimit
def test_memory_budget_stops_an_allocation_and_is_restored() -> None:
    before = _resource_state()
    with pytest.raises(BudgetExceeded) as info, Budget(file_memory=64 << 20).bound("x"):
        assert memory_limited()
        grown = [bytes(1 << 20) for _ in range(512)]  # 512 MiB, in 1 MiB steps
        del grown
    assert info.value.kind == "memory"
    assert info.value.reason == "analysis stopped at its memory budget of 64 MiB"
    assert not memory_limited()
    assert _resource_state() == before
    assert len(bytes(128 << 20)) == 128 << 20  # the process may allocate again


def test_work_within_budget_runs_to_the_end_and_restores_everything() -> None:
    before = _resource_state()
    with Budget(file_timeout=30, file_memory=256 << 20).bound("x"):
        total = sum(range(100_000))
    assert total == 4_999_950_000
    assert _resource_state() == before


def test_cooperative_deadline_on_another_thread() -> None:
    # Off the main thread no alarm can be used: hot loops call checkpoint().
    outcome: list[BaseException | None] = []

    def work() -> None:
        try:
            with Budget(file_timeout=0.2).bound("x"):
                while True:
                    checkpoint()
        except BudgetExceeded as exc:
            outcome.append(exc)

    before = _resource_state()
    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], BudgetExceeded)
    assert outcome[0].kind == "time"
    assert _resource_state() == before  # the main thread's alarm and limits untouched


@needs_alarm
def test_a_program_that_uses_sigalrm_keeps_its_handler() -> None:
    fired: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        fired.append(signum)

    old = signal.signal(signal.SIGALRM, handler)
    try:
        with pytest.raises(BudgetExceeded), Budget(file_timeout=0.1).bound("x"):
            assert signal.getsignal(signal.SIGALRM) is handler  # not replaced
            while True:
                checkpoint()
        assert signal.getsignal(signal.SIGALRM) is handler
        assert fired == []
    finally:
        signal.signal(signal.SIGALRM, old)


@needs_alarm
def test_nested_blocks_are_bounded_by_the_outermost() -> None:
    budget = Budget(file_timeout=0.2)
    with pytest.raises(BudgetExceeded), budget.bound("outer"):
        with budget.bound("inner"):
            pass  # leaving the inner block must not disarm the outer one
        _spin_swallowing_exceptions()


def test_release_budget_starts_at_the_first_file_and_then_refuses_every_file() -> None:
    now = [100.0]
    budget = Budget(file_timeout=None, release_timeout=5, clock=lambda: now[0])
    now[0] = 1000.0  # time before the first file (hashing, say) is not counted
    with budget.bound("a"):
        now[0] += 4
    with budget.bound("b"):
        now[0] += 2
    with pytest.raises(BudgetExceeded) as info, budget.bound("c"):
        raise AssertionError("a file past the release budget must not start")
    assert info.value.kind == "release"
    assert not info.value.started
    assert info.value.reason == (
        "not analysed: the release's analysis time budget of 5 s was spent"
    )


def test_budget_values_are_checked() -> None:
    with pytest.raises(ValueError, match="file_timeout must be positive"):
        Budget(file_timeout=0)
    with pytest.raises(ValueError, match="file_memory"):
        Budget(file_memory=-1)
    Budget(None, None, None)  # unbounded is allowed


def test_sizes_and_durations_in_words() -> None:
    assert parse_memory("512") == 512 << 20
    assert parse_memory("512M") == parse_memory("512MiB") == 512 << 20
    assert parse_memory("2g") == 2 << 30
    assert parse_memory("1.5G") == 3 << 29
    for bad in ("", "lots", "0", "-1G"):
        with pytest.raises(ValueError):
            parse_memory(bad)
    assert format_bytes(512 << 20) == "512 MiB"
    assert format_bytes(3 << 29) == "1.5 GiB"
    assert format_seconds(10) == "10 s"
    assert format_seconds(300) == "5 min"


# ------------------------------------------------------------------ whole audits


def _python_file(lines: int) -> str:
    body = "\n".join(
        f"def f{i}(x, y=[1, 2, 3]):\n    import os\n    return os.path.join(str(x), 'a{i}') + y[0]"
        for i in range(lines)
    )
    return body + "\n"


def _load_safety(report: Report) -> str:
    verdict = report.verdict("load_safety")
    assert verdict is not None
    return verdict.value


def _steps(report: Report, path: str) -> list[tuple[str, CoverageStatus, str]]:
    cov = next(c for c in report.coverage if c.path == path)
    return [(s.analyzer, s.status, s.detail) for s in cov.steps]


@needs_alarm
def test_audit_a_file_past_its_time_budget_is_inconclusive_not_unsafe(tmp_path: Path) -> None:
    # 3,000 functions take the Python analyzer far more than a millisecond.
    (tmp_path / "modeling_x.py").write_text(_python_file(3000))
    report = audit(tmp_path, file_timeout=0.001)
    steps = _steps(report, "modeling_x.py")
    assert ("security.python", CoverageStatus.INCONCLUSIVE) in {(a, s) for a, s, _ in steps}
    assert any("time budget of 0.001 s" in d for a, _, d in steps if a == "security.python")
    budget = [f for f in report.findings if f.rule_id == "SW-GEN-010"]
    assert budget and all(f.severity is Severity.MEDIUM for f in budget)
    assert not [f for f in report.findings if f.severity.rank >= Severity.HIGH.rank]
    assert _load_safety(report) == "inconclusive"
    # The same file within the default budget is parsed.
    again = audit(tmp_path)
    assert ("security.python", CoverageStatus.PARSED) in {
        (a, s) for a, s, _ in _steps(again, "modeling_x.py")
    }


def test_audit_after_the_release_budget_every_file_is_inconclusive(tmp_path: Path) -> None:
    for i in range(5):
        (tmp_path / f"mod{i}.py").write_text(_python_file(400))
    report = audit(tmp_path, release_timeout=1e-9)
    for i in range(5):
        steps = _steps(report, f"mod{i}.py")
        assert any(
            a == "security.python" and s is CoverageStatus.INCONCLUSIVE and "release's" in d
            for a, s, d in steps
        ), steps
    # One finding per analyzer, not one per file; never high.
    python = [
        f for f in report.findings if f.rule_id == "SW-GEN-010" and f.analyzer == "security.python"
    ]
    assert len(python) == 1
    assert "the files after it were not analysed" in python[0].message
    assert _load_safety(report) == "inconclusive"


def _safetensors_header_of(tensors: int) -> bytes:
    """A valid safetensors file whose header describes ``tensors`` one-byte tensors."""
    header = {
        f"model.layers.{i}.weight": {"dtype": "U8", "shape": [1], "data_offsets": [i, i + 1]}
        for i in range(tensors)
    }
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + bytes(tensors)


_AUDIT_IN_A_PROCESS = """
import json, sys
from seewhy.audit import audit
report = audit(sys.argv[1], file_memory=int(sys.argv[2]))
cov = {c.path: [(s.analyzer, s.status.value, s.detail) for s in c.steps] for c in report.coverage}
print(json.dumps({
    "coverage": cov,
    "findings": [(f.rule_id, f.severity.value, f.analyzer) for f in report.findings],
    "load_safety": report.verdict("load_safety").value,
}))
"""


@needs_rlimit
def test_audit_a_header_past_the_memory_budget_is_inconclusive_not_unsafe(
    tmp_path: Path,
) -> None:
    # 150,000 tensors pass the pre-scan (a valid header) but decoding them
    # needs well over 16 MiB. A fresh process: the address space is exact.
    (tmp_path / "model.safetensors").write_bytes(_safetensors_header_of(150_000))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    out = subprocess.run(
        [sys.executable, "-c", _AUDIT_IN_A_PROCESS, str(tmp_path), str(16 << 20)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=300,
    )
    result = json.loads(out.stdout)
    steps = result["coverage"]["model.safetensors"]
    assert ["inventory", "inconclusive", "analysis stopped at its memory budget of 16 MiB"] in steps
    assert ["SW-GEN-010", "medium", "inventory"] in result["findings"]
    assert not [f for f in result["findings"] if f[1] in ("high", "critical")]
    assert result["load_safety"] == "inconclusive"
