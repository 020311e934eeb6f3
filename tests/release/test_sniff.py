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

from seewhy.release import FileKind, open_release


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
    ("binary", "blob.bin", FileKind.UNKNOWN, True),
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
