"""Archive and snapshot checks of the framework-formats analyzer, through full audits.

Tar archives are real ones written by :mod:`tarfile` (members added as
crafted ``TarInfo`` records where the attack needs it); compressed streams
come from :mod:`gzip`, :mod:`bz2` and :mod:`lzma`. Hostile members name a
canary path outside the extraction folder; the canary must never appear,
since members are only ever extracted into a fresh temporary folder under
sanitised names (the nested audit, see test_nested.py).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from formats_helpers import above_info, found, rule_ids, run, step
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save as safetensors_bytes

from seewhy.analyzers.security.formats import FrameworkFormatsAnalyzer
from seewhy.audit import audit
from seewhy.report.model import CoverageStatus, Severity


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """Where a tar-slip member would land if anything extracted the archive."""
    return tmp_path / "canary" / "MARKER"


def folder(tmp_path: Path) -> Path:
    root = tmp_path / "release"
    root.mkdir(exist_ok=True)
    return root


# ---------------------------------------------------------------- tar writing


def add(archive: tarfile.TarFile, name: str, data: bytes = b"", **fields: object) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    for key, value in fields.items():
        setattr(info, key, value)
    archive.addfile(info, io.BytesIO(data) if data else None)


def benign_tar(path: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        add(archive, "model", type=tarfile.DIRTYPE, mode=0o755)
        add(archive, "model/config.json", b'{"model_type": "llama"}')
        add(archive, "model/README.md", b"# A model\n")
        add(archive, "model/model.safetensors", safetensors_bytes({"w": np.zeros(4, np.float32)}))
    data = buffer.getvalue()
    path.write_bytes(data)
    return data


def hostile_tar(canary: Path) -> bytes:
    buffer = io.BytesIO()
    slip = "../../" + canary.relative_to(canary.parents[1]).as_posix()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        add(archive, "model/config.json", b"{}")
        add(archive, slip, b"pwned")
        add(archive, str(canary), b"pwned")
        add(archive, "escape", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        add(archive, "model/up", type=tarfile.SYMTYPE, linkname="../../../home")
        add(archive, "hard", type=tarfile.LNKTYPE, linkname="../outside/file")
        add(archive, "model/latest", type=tarfile.SYMTYPE, linkname="config.json")
        add(archive, "dev/sda", type=tarfile.BLKTYPE, devmajor=8, devminor=0)
        add(archive, "dev/zero", type=tarfile.CHRTYPE, devmajor=1, devminor=5)
        add(archive, "pipe", type=tarfile.FIFOTYPE)
        add(archive, "bin/suid", b"#!/bin/sh\n", mode=0o4755)
        add(archive, "model/config.json", b'{"evil": true}')
    return buffer.getvalue()


# ---------------------------------------------------------------- tar


def test_benign_tar(tmp_path: Path) -> None:
    root = folder(tmp_path)
    benign_tar(root / "model.tar")
    report = run(root)
    assert above_info(report) == []
    status, detail = step(report, "model.tar")
    assert status is CoverageStatus.PARSED  # every member was analysed
    assert "tar of 4 members: 3 member(s) analysed" in detail


def test_hostile_tar(tmp_path: Path, canary: Path) -> None:
    root = folder(tmp_path)
    (root / "model.tar").write_bytes(hostile_tar(canary))
    report = run(root)
    assert {"SW-ARC-001", "SW-ARC-002", "SW-ARC-003", "SW-ARC-004", "SW-ARC-006"} <= rule_ids(
        report
    )
    slip = found(report, "SW-ARC-001")[0]
    assert slip.severity is Severity.HIGH and slip.cwe == "CWE-22"
    assert "'..' component" in slip.message and "absolute path" in slip.message
    links = found(report, "SW-ARC-002")[0]
    assert "/etc/passwd" in links.message and "../outside/file" in links.message
    assert "../../../home" in links.message
    assert "config.json" in found(report, "SW-ARC-003")[0].message
    special = found(report, "SW-ARC-004")[0]
    assert "block device" in special.message and "FIFO" in special.message
    assert "4755" in special.message
    assert "model/config.json" in found(report, "SW-ARC-006")[0].message
    assert not canary.exists()


def test_data_after_the_end_of_the_archive(tmp_path: Path) -> None:
    root = folder(tmp_path)
    data = benign_tar(root / "model.tar")
    (root / "model.tar").write_bytes(data + b"PK\x03\x04hidden payload")
    report = run(root)
    assert "SW-ARC-007" in rule_ids(report)


def test_member_hidden_behind_a_corrupt_header(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        add(archive, "a.txt", b"a" * 10)
        add(archive, "b.txt", b"b" * 10)
        add(archive, "hidden.py", b"import os")
    data = bytearray(buffer.getvalue())
    data[1024 + 148 : 1024 + 156] = b"0000000\x00"  # b.txt's checksum: tarfile stops here
    root = folder(tmp_path)
    (root / "model.tar").write_bytes(bytes(data))
    report = run(root)
    assert "SW-ARC-007" in rule_ids(report)
    status, detail = step(report, "model.tar")
    assert status is CoverageStatus.INCONCLUSIVE and "tar of 1 members" in detail


def test_truncated_tar(tmp_path: Path) -> None:
    root = folder(tmp_path)
    data = benign_tar(root / "model.tar")
    (root / "model.tar").write_bytes(data[:3500])  # inside the last member's data
    report = run(root)
    assert "SW-ARC-008" in rule_ids(report)
    status, detail = step(report, "model.tar")
    assert status is CoverageStatus.INCONCLUSIVE and "stopped" in detail


def test_truncated_tar_header(tmp_path: Path) -> None:
    root = folder(tmp_path)
    data = benign_tar(root / "model.tar")
    (root / "model.tar").write_bytes(data[:3000])  # inside the last member's header
    report = run(root)
    hidden = found(report, "SW-ARC-007")
    assert hidden and "tarfile rejects" in hidden[0].message


def test_oversized_pax_header_stops_the_listing(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        add(archive, "a.txt", b"a", pax_headers={"comment": "x" * (5 << 20)})
    root = folder(tmp_path)
    (root / "model.tar").write_bytes(buffer.getvalue())
    report = run(root)
    assert "SW-ARC-008" in rule_ids(report)
    assert step(report, "model.tar")[0] is CoverageStatus.INCONCLUSIVE


def test_unreadable_tar_header(tmp_path: Path) -> None:
    root = folder(tmp_path)
    header = bytearray(512)
    header[257:262] = b"ustar"
    header[0:5] = b"x.txt"
    (root / "broken.tar").write_bytes(bytes(header) + b"\x00" * 1024)
    report = run(root)
    assert "SW-ARC-008" in rule_ids(report)


# ---------------------------------------------------------------- compressed streams


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [(".tar.gz", gzip.compress), (".tar.bz2", bz2.compress), (".tar.xz", lzma.compress)],
)
def test_compressed_hostile_tar(
    tmp_path: Path, canary: Path, suffix: str, compress: object
) -> None:
    assert callable(compress)
    root = folder(tmp_path)
    (root / f"model{suffix}").write_bytes(compress(hostile_tar(canary)))
    report = run(root)
    assert {"SW-ARC-001", "SW-ARC-002", "SW-ARC-004", "SW-ARC-006"} <= rule_ids(report)
    status, detail = step(report, f"model{suffix}")
    assert status is CoverageStatus.PARSED  # every regular member was analysed (all text)
    assert "holding a tar of 12 members" in detail
    assert not canary.exists()


def test_compressed_benign_tar(tmp_path: Path) -> None:
    root = folder(tmp_path)
    data = benign_tar(tmp_path / "plain.tar")
    (root / "model.tar.gz").write_bytes(gzip.compress(data))
    report = run(root)
    assert above_info(report) == []


def test_gzip_bomb(tmp_path: Path) -> None:
    root = folder(tmp_path)
    (root / "zeros.bin.gz").write_bytes(gzip.compress(b"\x00" * (64 << 20), compresslevel=9))
    report = run(root)
    bomb = found(report, "SW-ARC-005")
    assert bomb and bomb[0].cwe == "CWE-409"


def test_compressed_pickle_is_named(tmp_path: Path) -> None:
    root = folder(tmp_path)
    (root / "model.joblib.xz").write_bytes(
        lzma.compress(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00N.")
    )
    report = run(root)
    status, detail = step(report, "model.joblib.xz")
    assert status is CoverageStatus.PARSED and "xz stream holding pickle" in detail


def test_corrupt_and_unsupported_streams(tmp_path: Path) -> None:
    root = folder(tmp_path)
    (root / "broken.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 64)
    (root / "model.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 32)
    (root / "model.7z").write_bytes(b"7z\xbc\xaf\x27\x1c" + b"\x00" * 32)
    report = run(root)
    assert "fails to decompress" in step(report, "broken.gz")[1]
    assert "zstd" in step(report, "model.zst")[1]
    assert step(report, "model.7z")[0] is CoverageStatus.UNSUPPORTED


# ---------------------------------------------------------------- zip


def test_zip_special_modes(tmp_path: Path) -> None:
    root = folder(tmp_path)
    with zipfile.ZipFile(root / "bundle.zip", "w") as zf:
        zf.writestr("ok.txt", b"fine")
        for name, mode in (("dev/tty", stat.S_IFCHR | 0o666), ("bin/run", stat.S_IFREG | 0o4755)):
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = mode << 16
            zf.writestr(info, b"x")
    report = run(root)
    special = found(report, "SW-ARC-004")
    assert special and "dev/tty" in special[0].message and "bin/run" in special[0].message
    assert step(report, "bundle.zip")[0] is CoverageStatus.PARSED  # members analysed


def test_benign_zip(tmp_path: Path) -> None:
    root = folder(tmp_path)
    with zipfile.ZipFile(root / "bundle.zip", "w") as zf:
        zf.writestr("a/notes.txt", b"hello")
    assert above_info(run(root)) == []


# ---------------------------------------------------------------- snapshot


def test_hard_linked_weight_files(tmp_path: Path) -> None:
    root = folder(tmp_path)
    np.save(root / "a.npy", np.zeros(4, np.float32))
    os.link(root / "a.npy", root / "b.npy")
    report = run(root)
    links = found(report, "SW-ARC-009")
    assert links and links[0].severity is Severity.LOW
    assert "2 occurrences" in links[0].message


# ---------------------------------------------------------------- properties


_TAR = benign_tar(Path(tempfile.mkdtemp(prefix="seewhy-tar-")) / "seed.tar")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.tuples(st.integers(0, 2047), st.integers(0, 255)), min_size=1, max_size=6))
def test_mutated_tar_never_crashes_the_analyzer(edits: list[tuple[int, int]]) -> None:
    data = bytearray(_TAR)
    for position, value in edits:
        data[position] = value
    with tempfile.TemporaryDirectory() as folder_name:
        root = Path(folder_name)
        (root / "model.tar").write_bytes(bytes(data))
        report = audit(root, analyzers=[FrameworkFormatsAnalyzer()], raise_errors=True)
    assert all(a.status == "completed" for a in report.analyzers)
    crashes = [f for f in report.findings if f.rule_id == "SW-GEN-002"]
    assert crashes == [], crashes
