"""Fail-open holes of the pickle analyzer, audited end to end on real or generated files.

* stacked pickles that share one memo (what ``Unpickler.load()`` called again
  resolves): the call they rebuild is critical;
* pickles nested far deeper than Python's recursion limit (CPython loads them):
  safe, never a crash turned into a finding;
* pickles encoded in safetensors metadata and JSON strings.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "corpus"))

from pickle_samples import (
    PROTO2,
    REDUCE,
    STOP,
    TUPLE1,
    call_deeply,
    deep_pickle,
    glob,
    nested_value,
    shared_memo_stack,
    shell,
    text0,
    ustr,
)

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


# ---------------------------------------------------------------- pickles in strings


def _payload(marker: Path) -> bytes:
    """os.system('touch <marker>'), padded so that its base64 holds "+" or "/".

    The padding makes the standard and the URL-safe encodings differ, so each
    alphabet is really exercised.
    """
    for pad in range(64):
        data = (
            PROTO2 + glob("os", "system") + ustr(shell(marker) + " " * pad) + TUPLE1 + REDUCE + STOP
        )
        text = base64.b64encode(data).decode()
        if "+" in text or "/" in text:
            return data
    raise AssertionError("no padding puts + or / in the base64")


_ENCODINGS: dict[str, tuple[str, Callable[[bytes], str]]] = {
    "base64": ("base64", lambda d: base64.b64encode(d).decode()),
    "base64-unpadded": ("base64", lambda d: base64.b64encode(d).decode().rstrip("=")),
    "urlsafe": ("URL-safe base64", lambda d: base64.urlsafe_b64encode(d).decode()),
    "urlsafe-unpadded": (
        "URL-safe base64",
        lambda d: base64.urlsafe_b64encode(d).decode().rstrip("="),
    ),
    "mime-lines": ("base64", lambda d: base64.encodebytes(d).decode()),
    "latin-1": ("Latin-1 text", lambda d: d.decode("latin-1")),
    "bytes-repr": ("escaped bytes", str),
}


def _string_at(raw: bytes, offset: int) -> str:
    """The JSON string that starts at ``offset`` of ``raw``."""
    value, _ = json.JSONDecoder().raw_decode(raw[offset:].decode("utf-8", "replace"))
    assert isinstance(value, str)
    return value


def _assert_reported(report: Report, path: str, pointer: str, text: str, raw: bytes) -> None:
    mine = _pickle_findings(report)
    carried = [f for f in mine if f.rule_id == "SW-PKL-040" and f.evidence[0].pointer == pointer]
    assert carried, [(f.rule_id, f.message) for f in mine]
    (finding,) = carried
    assert finding.severity is Severity.MEDIUM and pointer in finding.message
    evidence = finding.evidence[0]
    assert evidence.path == path and evidence.offset is not None
    assert _string_at(raw, evidence.offset) == text  # the offset points at the string itself
    critical = [
        f
        for f in mine
        if f.rule_id == "SW-PKL-001"
        and "os.system" in f.message
        and pointer in f.message
        and f.severity is Severity.CRITICAL
    ]
    assert critical, [(f.rule_id, f.message) for f in mine]
    assert critical[0].evidence[0].pointer == pointer
    assert _load_safety(report) == "unsafe"


@pytest.mark.parametrize("encoding", list(_ENCODINGS))
def test_pickle_in_safetensors_metadata_is_found(encoding: str, tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    marker = tmp_path / "MARKER"
    release = tmp_path / "release"
    release.mkdir()
    name, encode = _ENCODINGS[encoding]
    text = encode(_payload(marker))
    path = release / "model.safetensors"
    tensors = {"w": np.ones((2, 3), np.float32)}
    save_file(tensors, str(path), metadata={"format": "pt", "trainer_state": text})
    assert load_file(str(path))["w"].shape == (2, 3)  # a valid file the library reads
    report = seewhy.audit(release)
    assert not marker.exists()
    _assert_reported(
        report, "model.safetensors", "/__metadata__/trainer_state", text, path.read_bytes()
    )
    (carried,) = [f for f in _pickle_findings(report) if f.rule_id == "SW-PKL-040"]
    assert f"a {name} pickle" in carried.message


def test_pickle_in_config_json_is_found(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    release = tmp_path / "release"
    release.mkdir()
    text = base64.b64encode(_payload(marker)).decode()
    config = {"model_type": "llama", "architectures": ["X"], "hooks": {"a/b": [1, text]}}
    (release / "config.json").write_text(json.dumps(config, indent=2))
    report = seewhy.audit(release)
    _assert_reported(
        report, "config.json", "/hooks/a~1b/1", text, (release / "config.json").read_bytes()
    )


def test_benign_pickle_in_metadata_is_still_named(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    release = tmp_path / "release"
    release.mkdir()
    state = base64.b64encode(pickle.dumps({"lr": 3e-4, "steps": [1, 2]}, protocol=4)).decode()
    save_file({"w": np.zeros(4, np.float32)}, str(release / "m.safetensors"), metadata={"s": state})
    report = seewhy.audit(release)
    mine = _pickle_findings(report)
    assert [(f.rule_id, f.severity) for f in mine] == [("SW-PKL-040", Severity.MEDIUM)]
    assert "/__metadata__/s" in mine[0].message and "0 global(s)" in mine[0].message


def test_plain_base64_and_text_are_not_pickles(tmp_path: Path) -> None:
    """Base64 of other bytes, long words and a large tokenizer-like file: nothing reported."""
    import random
    import string

    from safetensors.numpy import save_file

    release = tmp_path / "release"
    release.mkdir()
    rng = random.Random(7)
    png = b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(300))
    metadata = {
        "format": "pt",
        "icon": base64.b64encode(png).decode(),
        "digest": base64.urlsafe_b64encode(bytes(range(64))).decode(),
        "note": "Instruction-tuned checkpoint; see the card.\nLicense: apache-2.0",
    }
    save_file({"w": np.zeros(4, np.float32)}, str(release / "m.safetensors"), metadata=metadata)
    alphabet = string.ascii_letters + string.digits + "+/"
    vocab = {
        "".join(rng.choice(alphabet) for _ in range(rng.randint(8, 24))): i for i in range(20_000)
    }
    merges = [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(8, 40))) for _ in range(20_000)
    ]
    tokenizer = {"model": {"type": "BPE", "vocab": vocab, "merges": merges}}
    (release / "tokenizer.json").write_text(json.dumps(tokenizer))
    report = seewhy.audit(release)
    mine = _pickle_findings(report)
    assert not mine, [(f.rule_id, f.message) for f in mine]
    assert not [s for c in report.coverage for s in c.steps if s.analyzer == "security.pickle"]


def test_every_base64_form_decodes_and_large_ones_are_not_decoded() -> None:
    from seewhy.analyzers.security.pickle_embedded import decode_candidate

    for size in range(40, 200, 7):
        data = pickle.dumps({"k": "x" * size}, protocol=4)
        for encode in (base64.encodebytes, base64.b64encode, base64.urlsafe_b64encode):
            text = encode(data).decode()
            for variant in (text, text.rstrip("\n").rstrip("=")):
                found = decode_candidate(variant)
                assert found is not None and found[1] == data, variant
    big = base64.b64encode(pickle.dumps(b"x" * 3000, protocol=4)).decode()
    assert decode_candidate(big, cap=1000) == ("base64", None)
    assert decode_candidate("Zm9vYmFyYmF6") is None  # base64 of b"foobarbaz"


def test_too_many_encoded_pickles_leave_the_file_inconclusive(tmp_path: Path) -> None:
    from seewhy.analyzers.security.pickle_embedded import MAX_PICKLES_PER_FILE

    release = tmp_path / "release"
    release.mkdir()
    one = base64.b64encode(pickle.dumps([1, 2, 3], protocol=4)).decode()
    config = {"model_type": "x", "values": [one] * (MAX_PICKLES_PER_FILE + 1)}
    (release / "config.json").write_text(json.dumps(config))
    report = seewhy.audit(release)
    (step,) = [
        s
        for c in report.coverage
        if c.path == "config.json"
        for s in c.steps
        if s.analyzer == "security.pickle"
    ]
    assert step.status is CoverageStatus.INCONCLUSIVE and "encoded pickles" in step.detail
    assert _load_safety(report) != "safe"


def test_protocol_0_payload_without_stop_in_a_json_string_is_found(tmp_path: Path) -> None:
    """No PROTO, no STOP: pickle.loads still runs the call before it fails."""
    marker = tmp_path / "MARKER"
    release = tmp_path / "release"
    release.mkdir()
    payload = glob("os", "system") + b"(" + text0(shell(marker)) + b"tR"
    text = base64.b64encode(payload).decode()
    (release / "tokenizer_config.json").write_text(json.dumps({"extra": {"x": text}}))
    report = seewhy.audit(release)
    raw = (release / "tokenizer_config.json").read_bytes()
    _assert_reported(report, "tokenizer_config.json", "/extra/x", text, raw)
