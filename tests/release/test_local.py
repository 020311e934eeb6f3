"""Opening a local release: what cannot be seen, empty releases, odd names, repeated reads.

The unreadable-folder tests run the real ``seewhy`` command in a subprocess
that permissions bind: as root, where mode 000 stops nothing, it keeps uid 0
but loses the capabilities that bypass file permissions (so the checkout and
its venv, owned by root in a folder only root may enter, stay readable while a
mode-000 folder does not); without setpriv it runs as uid/gid 65534 on files in
a folder that user can traverse.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from builders import without_dac_capabilities
from seewhy.audit import audit, audit_release
from seewhy.errors import ReleaseIncompleteError
from seewhy.provenance import write_manifest
from seewhy.release import open_release
from seewhy.release.model import FileSource, HeadCache, ReadMeter, escape_name, os_name
from seewhy.release.sniff import HEAD_BYTES
from seewhy.report.model import Severity

NOBODY = 65534


def _evil_pickle() -> bytes:
    # GLOBAL os.system + REDUCE, written by hand: nothing is pickled from a live object.
    return b"\x80\x02cos\nsystem\nX\x07\x00\x00\x00echo hi\x85R."


def run_seewhy(*args: str, unprivileged: bool = False) -> subprocess.CompletedProcess[str]:
    """The real command line, bound by file permissions when ``unprivileged``.

    As root, setpriv removes CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the
    bounding and inheritable sets: the process stays uid 0, so it still reads
    what root owns (CI's checkout may sit in a 0700 temporary folder), but a
    mode-000 folder stops it. Without setpriv, subprocess drops to 65534.
    """
    dropped = without_dac_capabilities() if unprivileged else []
    by_subprocess = dropped is None
    prefix = dropped or []
    return subprocess.run(
        [*prefix, sys.executable, "-m", "seewhy", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "NO_COLOR": "1"},
        user=NOBODY if by_subprocess else None,
        group=NOBODY if by_subprocess else None,
        extra_groups=[] if by_subprocess else None,
    )


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A folder an unprivileged user can traverse (pytest's tmp_path is private to root)."""
    base = Path(tempfile.mkdtemp(prefix="seewhy-h1-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        for folder, dirs, _files in os.walk(base):
            for d in dirs:
                Path(folder, d).chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def _lock(folder: Path, mode: int) -> None:
    """chmod ``folder``; skip when the permission does not bite for the auditing user."""
    folder.chmod(mode)
    if os.geteuid() != 0 and os.access(folder, os.R_OK | os.X_OK):
        pytest.skip("chmod does not take effect for this user")


def _safety(doc: dict[str, Any]) -> dict[str, Any]:
    (verdict,) = [v for v in doc["verdicts"] if v["topic"] == "load_safety"]
    return dict(verdict)


# --------------------------------------------------------------------- unreadable folders


def test_release_folder_mode_000_is_a_gap_not_safe(open_tmp: Path) -> None:
    root = open_tmp / "locked"
    root.mkdir()
    (root / "model.pkl").write_bytes(_evil_pickle())
    _lock(root, 0o000)

    out = run_seewhy("audit", str(root), "--format", "json", unprivileged=True)
    assert out.returncode == 3, out.stderr
    doc = json.loads(out.stdout)
    verdict = _safety(doc)
    assert verdict["value"] == "inconclusive"
    assert "could not be seen" in verdict["reason"]
    assert "Permission denied" in verdict["reason"]
    assert any(
        f["rule_id"] == "SW-REL-004" and f["evidence"][0]["path"] == "." for f in doc["findings"]
    )

    manifest = run_seewhy("manifest", str(root), unprivileged=True)
    assert manifest.returncode == 2
    assert manifest.stdout == ""
    assert manifest.stderr.startswith("seewhy: error: part of the release could not be read")
    assert "Traceback" not in manifest.stderr

    lic = run_seewhy("license", str(root), unprivileged=True)
    assert lic.returncode == 3
    assert lic.stdout.strip(), "license must say in words what it could not read"
    assert "Permission denied" in lic.stdout


@pytest.mark.parametrize(
    "mode",
    [0o000, 0o444],  # nothing at all; names listed but entries cannot be examined
    ids=["no-access", "list-only"],
)
def test_unreadable_subfolder_with_a_pickle_is_a_gap(open_tmp: Path, mode: int) -> None:
    root = open_tmp / "release"
    hidden = root / "weights"
    hidden.mkdir(parents=True)
    (root / "config.json").write_text('{"model_type": "llama"}')
    (hidden / "pytorch_model.bin").write_bytes(_evil_pickle())
    _lock(hidden, mode)

    out = run_seewhy("audit", str(root), "--format", "json", unprivileged=True)
    assert out.returncode == 3, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    assert _safety(doc)["value"] == "inconclusive"
    named = [f["evidence"][0]["path"] for f in doc["findings"] if f["rule_id"] == "SW-REL-004"]
    assert named and all(p.startswith("weights") for p in named)

    manifest = run_seewhy("manifest", str(root), unprivileged=True)
    assert manifest.returncode == 2
    assert manifest.stdout == ""
    assert "weights" in manifest.stderr


def test_manifest_refuses_a_release_with_gaps(tmp_path: Path) -> None:
    """The library call the command uses raises, so no caller can print a partial list."""
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(name)
    release = open_release(tmp_path, max_files=1)  # b.txt is past the cap: a gap
    assert [g.path for g in release.gaps] == ["b.txt"]
    with pytest.raises(ReleaseIncompleteError) as info:
        write_manifest(release)
    assert info.value.parts[0][0] == "b.txt"


# --------------------------------------------------------------------- empty releases


def test_empty_folder_is_not_safe(tmp_path: Path) -> None:
    out = run_seewhy("audit", str(tmp_path), "--format", "json")
    assert out.returncode == 3
    verdict = _safety(json.loads(out.stdout))
    assert verdict["value"] == "inconclusive"
    assert "the release holds no files" in verdict["reason"]


def test_only_version_control_is_an_empty_release(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    report = audit(tmp_path)
    assert report.release.file_count == 0
    verdict = report.verdict("load_safety")
    assert verdict is not None and verdict.value == "inconclusive"
    assert report.exit_code(Severity.HIGH) == 3


def test_only_empty_files_is_nothing_to_check(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"")
    report = audit(tmp_path)
    verdict = report.verdict("load_safety")
    assert verdict is not None and verdict.value == "inconclusive"
    assert "only empty files" in verdict.reason


# --------------------------------------------------------------------- names


BAD = b"caf\xe9.json"  # Latin-1 e-acute: not UTF-8


def _odd_names(root: Path) -> None:
    root.mkdir()
    base = os.fsencode(root)
    for name, data in [
        (BAD, b'{"a": 1}'),
        (b"caf\\xE9.json", b'{"b": 2}'),  # a real name that spells the escape
        (b"back\\slash.txt", b"hello"),
        (b"ok.json", b'{"c": 3}'),
    ]:
        with open(base + b"/" + name, "wb") as fh:
            fh.write(data)
    os.mkdir(base + b"/dir\xff")
    with open(base + b"/dir\xff/inner.txt", "wb") as fh:
        fh.write(b"text")


def test_names_are_utf8_escaped_reversibly(tmp_path: Path) -> None:
    root = tmp_path / "odd"
    _odd_names(root)
    release = open_release(root)
    paths = [f.path for f in release.files]
    assert paths == sorted(
        ["back\\\\slash.txt", "caf\\\\xE9.json", "caf\\xE9.json", "dir\\xFF/inner.txt", "ok.json"]
    )
    for f in release.files:
        f.path.encode("utf-8")  # strict: raises on a lone surrogate
        assert os_name(f.path) == os.fsencode(f.abs_path.relative_to(root))
        assert (root / os.fsdecode(os_name(f.path))).read_bytes() == f.abs_path.read_bytes()
    escaped = sorted(i.path for i in release.issues if i.problem.code == "release.name-escaped")
    assert escaped == ["back\\\\slash.txt", "caf\\\\xE9.json", "caf\\xE9.json", "dir\\xFF"]


@pytest.mark.parametrize(
    "raw",
    [b"plain", b"caf\xc3\xa9", b"\xe9", b"a\\b", b"a\\xE9", b"\\\\x", b"\xed\xa0\x80", b"x\\"],
)
def test_escape_round_trips(raw: bytes) -> None:
    text, escaped = escape_name(raw)
    text.encode("utf-8")
    assert os_name(text) == raw
    assert escaped == (b"\\" in raw or raw != text.encode("utf-8"))


@pytest.mark.parametrize("fmt", ["json", "md", "text", "sarif", "mof", "osai"])
def test_every_format_is_utf8_with_odd_names(tmp_path: Path, fmt: str) -> None:
    root = tmp_path / "odd"
    _odd_names(root)
    out = subprocess.run(
        [sys.executable, "-m", "seewhy", "audit", str(root), "--format", fmt],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert b"Traceback" not in out.stderr, out.stderr.decode("utf-8", "replace")
    assert out.returncode in (0, 1, 3), out.stderr.decode("utf-8", "replace")
    text = out.stdout.decode("utf-8")  # strict
    out.stderr.decode("utf-8")
    if fmt in ("json", "sarif"):
        json.loads(text)
    if fmt == "json":
        doc = json.loads(text)
        assert "caf\\xE9.json" in [c["path"] for c in doc["coverage"]]
        named = [
            e["path"]
            for f in doc["findings"]
            if f["rule_id"] == "SW-REL-010"
            for e in f["evidence"]
        ]
        assert "caf\\xE9.json" in named


def test_non_utf8_release_folder_name(tmp_path: Path) -> None:
    base = os.fsencode(tmp_path) + b"/model-\xe9"
    os.mkdir(base)
    with open(base + b"/config.json", "wb") as fh:
        fh.write(b'{"model_type": "llama"}')
    report = audit(os.fsdecode(base))
    assert report.release.name == "model-\\xE9"
    report.metadata.source.encode("utf-8")
    report.model_dump_json().encode("utf-8")


# --------------------------------------------------------------------- repeated reads


def test_small_files_are_read_from_disk_once(example_release: Path) -> None:
    release = open_release(example_release)
    audit_release(release, source=str(example_release))
    for name in ("config.json", "README.md", "tokenizer_config.json"):
        file = release.file(name)
        assert file is not None and file.size <= HEAD_BYTES
        assert release.meter.bytes_read_of(name) == file.size, name
    weights = release.file("model.safetensors")
    assert weights is not None and weights.size > HEAD_BYTES
    # The header lies inside the head the sniffer read: no second read.
    assert release.meter.bytes_read_of("model.safetensors") == HEAD_BYTES


def test_reads_past_the_kept_head_go_to_disk_once(tmp_path: Path) -> None:
    data = bytes(range(256)) * 1024  # 256 KiB
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    meter, heads = ReadMeter(), HeadCache()
    with FileSource(path, len(data), "blob.bin", meter, heads) as src:
        heads.put("blob.bin", src.read_at(0, 1000))
        assert meter.bytes_read == 1000
        assert src.read_at(10, 900) == data[10:910]
        assert meter.bytes_read == 1000
        assert src.read_at(500, 1000) == data[500:1500]  # 500 kept, 500 from disk
        assert meter.bytes_read == 1500
        assert meter.bytes_read_of("blob.bin") == 1500


def test_head_cache_stays_within_its_budget() -> None:
    heads = HeadCache(budget=10_000)
    for i in range(100):
        heads.put(f"f{i}", bytes(1000))
    assert heads.held == 10_000
    assert heads.get("f9") == bytes(1000)
    assert heads.get("f10") == b""
    heads.put("f0", bytes(500))  # a shorter head never replaces a longer one
    assert heads.get("f0") == bytes(1000)
