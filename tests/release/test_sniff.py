"""Kinds come from bytes, on real files made by the real libraries."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import gguf
import numpy as np
import pytest
from safetensors.numpy import save_file

from seewhy.formats.interface import BytesSource
from seewhy.release import FileKind, open_release
from seewhy.release.sniff import HEAD_BYTES, claimed_kind, sniff
from seewhy.report.model import CoverageStatus


def _gguf_bytes(path: Path) -> None:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("w", np.ones((4, 4), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _torch_layout_zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"w": 1}, protocol=2))
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/data/0", b"\0" * 16)
        zf.writestr("archive/version", "3\n")


def _make(kind: str, path: Path) -> None:
    if kind == "safetensors":
        save_file({"w": np.ones(3, np.float32)}, str(path))
    elif kind == "gguf":
        _gguf_bytes(path)
    elif kind == "npy":
        np.save(path.open("wb"), np.arange(5))
    elif kind == "npz":
        buf = io.BytesIO()
        np.savez(buf, a=np.arange(3), b=np.ones(2))
        path.write_bytes(buf.getvalue())
    elif kind == "torch":
        _torch_layout_zip(path)
    elif kind == "pickle":
        path.write_bytes(pickle.dumps([1, 2, 3], protocol=0))
    elif kind == "legacy":
        path.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + b"more")
    elif kind == "config":
        path.write_text(json.dumps({"model_type": "llama", "hidden_size": 8}))
    elif kind == "index":
        path.write_text(json.dumps({"metadata": {}, "weight_map": {"a": "x.safetensors"}}))
    elif kind == "card":
        path.write_text("---\nlicense: mit\n---\n# My model\n")
    elif kind == "license":
        path.write_text(
            "Permission is hereby granted, free of charge, to any person obtaining a copy of "
            "this software. THE SOFTWARE IS PROVIDED WITHOUT WARRANTY. The copyright notice "
            "shall be included. Licensed under the MIT License.\n"
        )
    elif kind == "python":
        path.write_text("import os\n\nclass Model:\n    pass\n")
    elif kind == "jinja":
        path.write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    elif kind == "text":
        path.write_text("just some notes about the model\n")
    elif kind == "binary":
        path.write_bytes(bytes(range(256)) * 4)
    elif kind == "hdf5":
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    elif kind == "7z":
        path.write_bytes(b"7z\xbc\xaf\x27\x1c" + b"\0" * 30)
    elif kind == "gzip":
        import gzip

        path.write_bytes(gzip.compress(b"hello"))
    else:
        raise AssertionError(kind)


CASES = [
    ("safetensors", "weights.bin", FileKind.SAFETENSORS, True),
    ("gguf", "model.safetensors", FileKind.GGUF, True),
    ("gguf", "anything.dat", FileKind.GGUF, False),
    ("npy", "x.npy", FileKind.NUMPY, False),
    ("npz", "x.npz", FileKind.NUMPY_ZIP, False),
    ("torch", "pytorch_model.bin", FileKind.PYTORCH_ZIP, False),
    ("torch", "model.pth.tar", FileKind.PYTORCH_ZIP, False),
    ("torch", "weights.safetensors", FileKind.PYTORCH_ZIP, True),
    ("pickle", "model.state", FileKind.PICKLE, False),
    ("pickle", "model.safetensors", FileKind.PICKLE, True),
    ("legacy", "old.pt", FileKind.PYTORCH_LEGACY, False),
    ("config", "config.json", FileKind.CONFIG, False),
    ("index", "model.safetensors.index.json", FileKind.WEIGHT_INDEX, False),
    ("card", "README.md", FileKind.MODEL_CARD, False),
    ("license", "LICENSE", FileKind.LICENSE, False),
    ("license", "terms-of-the-thing.txt", FileKind.LICENSE, False),
    ("python", "modeling_x.py", FileKind.PYTHON, False),
    ("jinja", "chat_template.jinja", FileKind.JINJA, False),
    ("text", "notes.txt", FileKind.TEXT, False),
    # A .bin whose bytes match nothing is tried as what .bin claims: a pickle.
    ("binary", "blob.bin", FileKind.PICKLE, False),
    ("binary", "blob.dat", FileKind.UNKNOWN, False),
    ("hdf5", "tf_model.h5", FileKind.HDF5, False),
    ("7z", "a.7z", FileKind.SEVENZIP, False),
    ("gzip", "a.joblib", FileKind.COMPRESSED, False),
]


@pytest.mark.parametrize(("maker", "name", "kind", "mismatch"), CASES)
def test_kind_from_bytes(
    tmp_path: Path, maker: str, name: str, kind: FileKind, mismatch: bool
) -> None:
    _make(maker, tmp_path / name)
    release = open_release(tmp_path / name)
    (file,) = release.files
    assert file.kind is kind, file.sniff_note
    codes = [i.problem.code for i in release.issues]
    assert ("sniff.name-mismatch" in codes) is mismatch


def test_text_is_never_a_pickle(tmp_path: Path) -> None:
    for i, text in enumerate(["(hello)", "]not a list", "cat and dog.", "Ignore the rest."]):
        (tmp_path / f"t{i}.txt").write_text(text)
    release = open_release(tmp_path)
    assert {f.kind for f in release.files} == {FileKind.TEXT}


# ------------------------------------------------- text that is not text


def _utf8_onnx(location: str | None = None) -> bytes:
    """A small valid ONNX model from onnx.helper; its bytes happen to be valid UTF-8."""
    from onnx import TensorProto, helper

    initializers = []
    if location is not None:
        tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1])
        tensor.data_location = TensorProto.EXTERNAL
        entry = tensor.external_data.add()
        entry.key, entry.value = "location", location
        initializers.append(tensor)
    graph = helper.make_graph([], "g", [], [], initializer=initializers)
    data = helper.make_model(graph).SerializeToString()
    # The premise: a strict UTF-8 decoder accepts it, and it holds no NUL.
    data.decode("utf-8")
    assert b"\x00" not in data
    return data


@pytest.mark.parametrize("name", ["model.onnx", "notes.txt", "README.md", "LICENSE", "x.py"])
@pytest.mark.parametrize("location", [None, "../../etc/passwd"])
def test_utf8_onnx_is_onnx_whatever_its_name(name: str, location: str | None) -> None:
    data = _utf8_onnx(location)
    sniffed = sniff(name, data, BytesSource(data))
    assert sniffed.kind is FileKind.ONNX, sniffed.note


def test_onnx_traversal_hidden_in_utf8_bytes_is_found(tmp_path: Path) -> None:
    from seewhy.audit import audit

    root = tmp_path / "release"
    root.mkdir()
    (root / "model.onnx").write_bytes(_utf8_onnx("../../etc/passwd"))
    report = audit(root)
    traversal = [
        f
        for f in report.findings
        if f.analyzer == "security.formats" and "../../etc/passwd" in f.message
    ]
    assert {f.rule_id for f in traversal} >= {"SW-ONNX-001", "SW-ONNX-002"}
    safety = report.verdict("load_safety")
    assert safety is not None and safety.value == "unsafe"
    (coverage,) = report.coverage
    assert coverage.kind == "onnx"
    assert any(s.analyzer == "security.formats" and s.status.conclusive for s in coverage.steps)


TEXT = [
    (b"plain words\n", "plain"),
    (b"Section 1.\x0cSection 2.\r\n\tindented\n", "form feed, CRLF and tab"),
    (b"\x1b[1;32mOK\x1b[0m training finished\n", "ANSI colour sequences"),
    (b"\xef\xbb\xbf# Title\n", "UTF-8 BOM"),
    (("x" * (HEAD_BYTES - 1)).encode() + "é".encode()[:1], "character cut by the head"),
]
NOT_TEXT = [
    (b"\x12\x04name\x18\x05\x22\x02ok", "protobuf tags and lengths"),
    (b"words" + b"\x01" + b"words", "SOH"),
    (b"vertical\x0btab", "VT"),
    (b"escape \x1b without a sequence", "bare ESC"),
    (b"a" * 10_000 + b"\x00" + b"a", "NUL past the first 8 KiB"),
    ("UTF-16 text".encode("utf-16"), "UTF-16 with BOM"),
]


@pytest.mark.parametrize(("data", "why"), TEXT)
def test_text_for_sure(data: bytes, why: str) -> None:
    sniffed = sniff("notes.txt", data[:HEAD_BYTES], BytesSource(data))
    assert sniffed.kind in {FileKind.TEXT, FileKind.MODEL_CARD}, why


@pytest.mark.parametrize(("data", "why"), NOT_TEXT)
def test_control_bytes_are_not_text(data: bytes, why: str) -> None:
    sniffed = sniff("notes.txt", data, BytesSource(data))
    assert sniffed.kind is FileKind.UNKNOWN, why
    assert "not analysed" in sniffed.note


def test_utf16_is_named_as_such() -> None:
    data = "# Model\n".encode("utf-16")
    assert "UTF-16" in sniff("README.md", data, BytesSource(data)).note


GARBAGE = b"\x01\x02\x03\xfe\xfd" * 40

CLAIMED_NAMES = [
    "model.onnx",
    "model.safetensors",
    "model.gguf",
    "pytorch_model.bin",
    "model.pt",
    "model.pth",
    "last.ckpt",
    "model.pkl",
    "model.pickle",
    "model.joblib",
    "x.npy",
    "x.npz",
    "tf_model.h5",
    "x.hdf5",
    "model.keras",
    "graph.pb",
    "saved_model.pb",
    "a.zip",
    "a.tar",
    "a.7z",
    "a.gz",
    "a.xz",
    "a.bz2",
    "a.zst",
]


@pytest.mark.parametrize("name", CLAIMED_NAMES)
def test_binary_name_is_tried_as_its_format(tmp_path: Path, name: str) -> None:
    from seewhy.audit import audit

    claimed = claimed_kind(name)
    assert claimed is not None
    sniffed = sniff(name, GARBAGE, BytesSource(GARBAGE))
    assert sniffed.kind is claimed
    assert "tried as" in sniffed.note
    assert not any(p.code == "sniff.name-mismatch" for p in sniffed.problems)
    (tmp_path / name).write_bytes(GARBAGE)
    report = audit(tmp_path / name)
    (coverage,) = report.coverage
    assert not coverage.status.conclusive, coverage.steps
    safety = report.verdict("load_safety")
    assert safety is not None and safety.value != "safe"


@pytest.mark.parametrize("name", ["config.json", "x.py", "README.md", "notes.txt", "blob.dat"])
def test_text_names_claim_nothing(name: str) -> None:
    assert claimed_kind(name) is None


def test_unknown_binary_is_never_fully_checked(tmp_path: Path) -> None:
    from seewhy.audit import audit

    (tmp_path / "blob.dat").write_bytes(GARBAGE)
    report = audit(tmp_path / "blob.dat")
    (coverage,) = report.coverage
    assert coverage.kind == "unknown"
    assert not coverage.status.conclusive
    safety = report.verdict("load_safety")
    assert safety is not None and safety.value != "safe"


LFS_POINTER = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    b"size 12345\n"
)


@pytest.mark.parametrize("name", ["model.safetensors", "model.onnx", "pytorch_model.bin"])
def test_text_under_a_binary_name_is_not_fully_checked(tmp_path: Path, name: str) -> None:
    from seewhy.audit import audit

    (tmp_path / name).write_bytes(LFS_POINTER)
    report = audit(tmp_path / name)
    (coverage,) = report.coverage
    assert coverage.kind == "text"
    assert "Git LFS pointer" in " ".join(s.detail for s in coverage.steps)
    assert coverage.status is CoverageStatus.INCONCLUSIVE
    assert "SW-REL-008" in {f.rule_id for f in report.findings}


def test_text_under_a_text_name_is_listed(tmp_path: Path) -> None:
    from seewhy.audit import audit

    (tmp_path / "notes.txt").write_bytes(b"some notes\x0cmore notes\n")
    (coverage,) = audit(tmp_path / "notes.txt").coverage
    assert coverage.status is CoverageStatus.LISTED


def test_empty_python_file_is_no_name_mismatch() -> None:
    empty = sniff("__init__.py", b"", BytesSource(b""))
    assert empty.kind is FileKind.EMPTY
    assert [p.code for p in empty.problems] == ["sniff.empty"]
    weights = sniff("model.safetensors", b"", BytesSource(b""))
    assert {p.code for p in weights.problems} == {"sniff.empty", "sniff.name-mismatch"}
