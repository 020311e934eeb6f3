"""Fail-open holes of the pickle analyzer, audited end to end on real or generated files.

* stacked pickles that share one memo (what ``Unpickler.load()`` called again
  resolves): the call they rebuild is critical;
* pickles nested far deeper than Python's recursion limit (CPython loads them):
  safe, never a crash turned into a finding;
* pickles encoded in safetensors metadata and JSON strings.
"""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "corpus"))

from pickle_samples import call_deeply, deep_pickle, nested_value, shared_memo_stack, shell

import seewhy
from seewhy.report.model import CoverageStatus, Finding, Report, Severity


def _pickle_findings(report: Report) -> list[Finding]:
    return [f for f in report.findings if f.analyzer == "security.pickle"]


def _load_safety(report: Report) -> str:
    (verdict,) = [v for v in report.verdicts if v.topic == "load_safety"]
    return verdict.value


def _run(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# ---------------------------------------------------------------- one memo, two pickles

_VARIANTS = ["get", "names", "memoize"]


@pytest.mark.parametrize("via", _VARIANTS)
def test_shared_memo_attack_is_live_only_for_a_reused_unpickler(via: str, tmp_path: Path) -> None:
    """The crafted stack runs its canary when one Unpickler loads twice, not otherwise."""
    marker = tmp_path / "MARKER"
    path = tmp_path / "model.pkl"
    path.write_bytes(shared_memo_stack("os", "system", shell(marker), via=via))
    fresh = _run(
        f"import pickle\nf = open({str(path)!r}, 'rb')\npickle.load(f)\npickle.load(f)", tmp_path
    )
    assert not marker.exists(), fresh.stderr
    if via != "memoize":
        assert "Memo value not found" in fresh.stderr
    reused = _run(
        f"import pickle\nu = pickle.Unpickler(open({str(path)!r}, 'rb'))\nu.load()\nu.load()",
        tmp_path,
    )
    assert reused.returncode == 0, reused.stderr
    assert marker.exists(), "the second load() of one Unpickler did not run the canary"


@pytest.mark.parametrize("via", _VARIANTS)
def test_call_rebuilt_from_an_earlier_pickles_memo_is_critical(via: str, tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    release = tmp_path / "release"
    release.mkdir()
    data = shared_memo_stack("os", "system", shell(marker), via=via)
    (release / "model.pkl").write_bytes(data)
    report = seewhy.audit(release)
    assert not marker.exists()
    assert _load_safety(report) == "unsafe"
    mine = _pickle_findings(report)
    called = [
        f
        for f in mine
        if f.rule_id == "SW-PKL-001"
        and f.severity is Severity.CRITICAL
        and "os.system" in f.message
        and "it is called" in f.message
        and "reused Unpickler" in f.message
    ]
    assert called, [(f.rule_id, f.message) for f in mine]
    reduce_at = data.rindex(b"R.")
    assert any(e.offset == reduce_at for f in called for e in f.evidence), called[0].evidence
    if via != "memoize":  # a fresh unpickler fails on the second pickle: say why
        assert any(f.rule_id == "SW-PKL-017" for f in mine)


def test_stacked_dumps_of_real_objects_raise_no_alarm(tmp_path: Path) -> None:
    """Separate pickle.dump calls, and one Pickler reused: neither is high or critical."""
    import collections

    values = [np.arange(3), {"w": np.ones(2), "o": collections.OrderedDict(a=1)}]
    release = tmp_path / "release"
    release.mkdir()
    (release / "separate.pkl").write_bytes(b"".join(pickle.dumps(v, protocol=4) for v in values))
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=4)
    for value in values:
        pickler.dump(value)
    (release / "reused.pkl").write_bytes(buffer.getvalue())
    report = seewhy.audit(release)
    mine = _pickle_findings(report)
    assert not [f for f in mine if f.severity.rank >= Severity.HIGH.rank], [
        (f.rule_id, f.message) for f in mine
    ]
    shared = [f for f in mine if f.rule_id == "SW-PKL-017"]
    assert {e.path for f in shared for e in f.evidence} == {"reused.pkl"}


# ---------------------------------------------------------------- deep but benign


def test_deeply_nested_benign_pickles_are_safe(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    release = tmp_path / "release"
    release.mkdir()
    (release / "model.pkl").write_bytes(deep_pickle("list", 100_000, 4))
    (release / "legacy_proto2.pkl").write_bytes(deep_pickle("dict", 100_000, 2))
    value = nested_value("list", 100_000)
    call_deeply(lambda: torch.save(value, release / "model.pt"), 100_000)
    report = seewhy.audit(release)
    loud = [f for f in report.findings if f.severity.rank >= Severity.HIGH.rank]
    assert not loud, [(f.rule_id, f.message) for f in loud]
    assert _load_safety(report) == "safe"
    steps = {c.path: s for c in report.coverage for s in c.steps if s.analyzer == "security.pickle"}
    assert set(steps) == {"model.pkl", "legacy_proto2.pkl", "model.pt"}
    assert all(s.status is CoverageStatus.PARSED for s in steps.values()), steps
