"""Every hostile sample of the corpus, audited end to end: reported, and never run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "corpus"))

import pickle_samples
from pickle_samples import SAMPLES, Sample, SampleSpec

from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.security.pickle_scan import PickleAnalyzer
from seewhy.audit import audit
from seewhy.report.model import CoverageStatus, Report


def _audit(path: Path) -> Report:
    return audit(path, analyzers=[InventoryAnalyzer(), PickleAnalyzer()], raise_errors=True)


def _write(spec: SampleSpec, tmp_path: Path) -> tuple[Sample, Path]:
    folder = tmp_path / "release"
    folder.mkdir()
    marker = tmp_path / "MARKER"
    return spec.make(folder, marker), marker


@pytest.mark.parametrize("spec", SAMPLES, ids=[s.name for s in SAMPLES])
def test_sample_is_reported_and_never_run(spec: SampleSpec, tmp_path: Path) -> None:
    written, marker = _write(spec, tmp_path)
    report = _audit(written.path)
    mine = [f for f in report.findings if f.analyzer == "security.pickle"]
    hits = [f for f in mine if f.rule_id == written.rule]
    assert hits, f"{spec.name}: no {written.rule}; got {[f.rule_id for f in mine]}"
    matching = [f for f in hits if written.mechanism in f.message]
    assert matching, f"{spec.name}: {written.mechanism!r} not in {[f.message for f in hits]}"
    first = matching[0].evidence[0]
    if written.offset is not None:
        assert first.offset == written.offset, (spec.name, matching[0].evidence)
    if written.member is not None:
        assert first.pointer == written.member
    for rule in written.extra_rules:
        assert any(f.rule_id == rule for f in mine), f"{spec.name}: no {rule}"
    assert any(f.severity.rank >= 3 for f in mine), "a hostile sample must be high or critical"
    steps = [s for c in report.coverage for s in c.steps if s.analyzer == "security.pickle"]
    assert steps, f"{spec.name}: the pickle analyzer gave the file no coverage step"
    assert not marker.exists(), "the audit ran the payload"


def test_whole_corpus_as_one_release(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    samples = pickle_samples.write_all(tmp_path / "corpus", marker)
    report = _audit(tmp_path / "corpus")
    assert not marker.exists()
    assert report.exit_code(report.findings[0].severity) == 1
    reported = {e.path for f in report.findings for e in f.evidence if e.path}
    for name, written in samples.items():
        assert written.path.name in reported, f"{name} produced no finding in the folder audit"
    inconclusive = {c.path for c in report.coverage if c.status is CoverageStatus.INCONCLUSIVE}
    assert "laughs.state" in inconclusive  # the expansion cap stops the scan: fail closed
    assert "broken.state" in inconclusive  # payload followed by corrupt bytes


def test_samples_use_names_scanners_skip(tmp_path: Path) -> None:
    samples = pickle_samples.write_all(tmp_path, tmp_path / "MARKER")
    names = [s.path.name for s in samples.values()]
    assert any(n.endswith(".pth.tar") for n in names)
    assert any(n.endswith(".state") for n in names)
    assert any(n.endswith(".bin.tmp") for n in names)
    assert any("." not in n for n in names)
    assert {spec.bypass for spec in SAMPLES} == {"A", "B", "C", "D", "E"}


_LIVE = {
    "npy_object": "import numpy; numpy.load(p, allow_pickle=True)",
    "frame_divergence": "import io, pickle; pickle.load(io.BytesIO(open(p, 'rb').read()))",
    "ext_opcode": "import copyreg, pickle; copyreg.add_extension('os', 'system', 240); "
    "pickle.loads(open(p, 'rb').read())",
}
_PLAIN_LOADS = "import pickle; pickle.loads(open(p, 'rb').read())"
_NOT_PLAIN = ("torch", "legacy", "npz", "joblib", "eval_magic")


@pytest.mark.parametrize(
    "spec",
    [s for s in SAMPLES if s.name in _LIVE or not s.name.startswith(_NOT_PLAIN)],
    ids=lambda s: s.name,
)
def test_sample_is_live(spec: SampleSpec, tmp_path: Path) -> None:
    """The sample is live: loading it the usual way, in a child process, creates its marker.

    The payloads are harmless canaries (they only create a file in tmp_path);
    this proves the scanner tests above are run against real attacks.
    """
    written, marker = _write(spec, tmp_path)
    code = f"p = {str(written.path)!r}\n" + _LIVE.get(spec.name, _PLAIN_LOADS)
    subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, timeout=60, check=False
    )
    assert marker.exists(), f"{spec.name} did not run its canary"
