"""Property: files written by the real libraries sniff as their format, whatever their name.

Each library writes its minimal and a typical file once per module; hypothesis
then varies the name (names that claim another format, names of text files a
release always has) and the sniffer must still answer from the bytes. The
other side: real text from the corpus stays text under any name, and text
with a stray control byte is never listed as text.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import gguf
import h5py  # type: ignore[import-untyped]
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save, save_file

from seewhy.formats.interface import BytesSource
from seewhy.release import FileKind, open_release
from seewhy.release.sniff import HEAD_BYTES, sniff

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus"

# --------------------------------------------------------------- the files


def _onnx_minimal(tmp: Path) -> bytes:
    return helper.make_model(helper.make_graph([], "g", [], [])).SerializeToString()


def _onnx_typical(tmp: Path) -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
    w = numpy_helper.from_array(np.ones((4, 2), np.float32), "w")
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    graph = helper.make_graph([node], "mm", [x], [y], initializer=[w])
    opset = [helper.make_opsetid("", 17)]
    return helper.make_model(graph, producer_name="t", opset_imports=opset).SerializeToString()


def _onnx_external(tmp: Path) -> bytes:
    tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4])
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    graph = helper.make_graph([], "g", [], [], initializer=[tensor])
    return helper.make_model(graph).SerializeToString()


def _safetensors_typical(tmp: Path) -> bytes:
    path = tmp / "w.safetensors"
    tensors: dict[str, np.ndarray] = {
        "a.weight": np.ones((4, 4), np.float16),
        "a.bias": np.zeros(4, np.float32),
    }
    save_file(tensors, str(path), metadata={"format": "pt"})
    return path.read_bytes()


def _safetensors_empty_tensor(tmp: Path) -> bytes:
    return save({"e": np.zeros((0,), np.float32)})


def _safetensors_no_tensor(tmp: Path) -> bytes:
    return save({})


def _gguf(tmp: Path, tensors: bool) -> bytes:
    path = tmp / f"m{int(tensors)}.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    if tensors:
        writer.add_name("tiny")
        writer.add_context_length(64)
        writer.add_tensor("w", np.ones((4, 4), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


def _npy(tmp: Path) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.arange(6, dtype=np.float32).reshape(2, 3))
    return buf.getvalue()


def _npz(saver: Callable[..., None]) -> Callable[[Path], bytes]:
    def make(tmp: Path) -> bytes:
        buf = io.BytesIO()
        saver(buf, a=np.arange(3), b=np.ones((2, 2)))
        return buf.getvalue()

    return make


def _torch(new_zip: bool) -> Callable[[Path], bytes]:
    def make(tmp: Path) -> bytes:
        buf = io.BytesIO()
        state = {"w": torch.ones(2, 3), "b": torch.zeros(3)}
        torch.save(state, buf, _use_new_zipfile_serialization=new_zip)
        return buf.getvalue()

    return make


def _torchscript(tmp: Path) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), buf)
    return buf.getvalue()


def _hdf5(userblock: int) -> Callable[[Path], bytes]:
    def make(tmp: Path) -> bytes:
        path = tmp / f"w{userblock}.h5"
        with h5py.File(path, "w", userblock_size=userblock) as f:
            f.create_dataset("dense/kernel", data=np.ones((2, 2), np.float32))
            f.attrs["backend"] = "tensorflow"
        return path.read_bytes()

    return make


def _keras_zip(tmp: Path) -> bytes:
    weights = _hdf5(0)(tmp)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.3.3"}))
        zf.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {}}))
        zf.writestr("model.weights.h5", weights)
    return buf.getvalue()


MAKERS: dict[str, tuple[Callable[[Path], bytes], FileKind]] = {
    "onnx-minimal": (_onnx_minimal, FileKind.ONNX),
    "onnx-typical": (_onnx_typical, FileKind.ONNX),
    "onnx-external-data": (_onnx_external, FileKind.ONNX),
    "safetensors": (_safetensors_typical, FileKind.SAFETENSORS),
    "safetensors-empty-tensor": (_safetensors_empty_tensor, FileKind.SAFETENSORS),
    "safetensors-no-tensor": (_safetensors_no_tensor, FileKind.SAFETENSORS),
    "gguf-minimal": (lambda tmp: _gguf(tmp, False), FileKind.GGUF),
    "gguf-typical": (lambda tmp: _gguf(tmp, True), FileKind.GGUF),
    "npy": (_npy, FileKind.NUMPY),
    "npz": (_npz(np.savez), FileKind.NUMPY_ZIP),
    "npz-compressed": (_npz(np.savez_compressed), FileKind.NUMPY_ZIP),
    "torch-zip": (_torch(True), FileKind.PYTORCH_ZIP),
    "torch-legacy": (_torch(False), FileKind.PYTORCH_LEGACY),
    "torchscript": (_torchscript, FileKind.TORCHSCRIPT),
    "hdf5": (_hdf5(0), FileKind.HDF5),
    "hdf5-userblock": (_hdf5(512), FileKind.HDF5),
    "keras-zip": (_keras_zip, FileKind.KERAS_ZIP),
}


class LibraryFiles(dict[str, bytes]):
    """The bytes of every file of MAKERS; short to print in a falsifying example."""

    def __repr__(self) -> str:
        return f"<{len(self)} library files>"


@pytest.fixture(scope="module")
def library_files(tmp_path_factory: pytest.TempPathFactory) -> LibraryFiles:
    """Every file of MAKERS, written once by its library."""
    tmp = tmp_path_factory.mktemp("library-files")
    return LibraryFiles({key: make(tmp) for key, (make, _) in MAKERS.items()})


# --------------------------------------------------------------- the names

# Names a release always has, and names of every format the sniffer knows.
TRICKY_NAMES = [
    "README.md",
    "LICENSE",
    "LICENSE.txt",
    "NOTICE",
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "vocab.txt",
    "merges.txt",
    "model.safetensors.index.json",
    "chat_template.jinja",
    "modeling_x.py",
    "x.py",
    "x.txt",
    "saved_model.pb",
    "keras_metadata.pb",
    "model.safetensors",
    "pytorch_model.bin",
    "model.onnx",
    "model.gguf",
]
EXTENSIONS = [
    "",
    ".md",
    ".txt",
    ".json",
    ".py",
    ".jinja",
    ".model",
    ".dat",
    ".onnx",
    ".safetensors",
    ".gguf",
    ".bin",
    ".pt",
    ".pth",
    ".ckpt",
    ".pkl",
    ".pickle",
    ".joblib",
    ".npy",
    ".npz",
    ".h5",
    ".hdf5",
    ".keras",
    ".pb",
    ".msgpack",
    ".tflite",
    ".zip",
    ".tar",
    ".7z",
    ".gz",
]
_STEM = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789_-.", min_size=1)
NAMES = st.one_of(
    st.sampled_from(TRICKY_NAMES),
    st.builds(lambda stem, ext: stem[:24] + ext, _STEM, st.sampled_from(EXTENSIONS)),
)

PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _sniff(name: str, data: bytes) -> FileKind:
    return sniff(name, data[:HEAD_BYTES], BytesSource(data)).kind


@PROPERTY
@given(key=st.sampled_from(sorted(MAKERS)), name=NAMES)
def test_library_files_sniff_as_their_format(
    library_files: LibraryFiles, key: str, name: str
) -> None:
    assert _sniff(name, library_files[key]) is MAKERS[key][1], (key, name)


def test_every_library_file_under_every_tricky_name(library_files: LibraryFiles) -> None:
    for key, data in library_files.items():
        for name in TRICKY_NAMES:
            assert _sniff(name, data) is MAKERS[key][1], (key, name)


SAMPLE_NAMES = ["README.md", "LICENSE", "config.json", "x.txt", "model.safetensors", "x.py"]


def test_open_release_agrees(library_files: LibraryFiles, tmp_path: Path) -> None:
    """The same answer through open_release on a folder, for a sample of names."""
    for key, data in library_files.items():
        folder = tmp_path / key
        folder.mkdir()
        for name in SAMPLE_NAMES:
            (folder / name).write_bytes(data)
    release = open_release(tmp_path)
    assert len(release.files) == len(MAKERS) * len(SAMPLE_NAMES)
    for file in release.files:
        key = file.path.split("/", 1)[0]
        assert file.kind is MAKERS[key][1], (file.path, file.sniff_note)


# ---------------------------------------------------------------- the text

TEXT_KINDS = frozenset(
    {
        FileKind.TEXT,
        FileKind.MODEL_CARD,
        FileKind.LICENSE,
        FileKind.PYTHON,
        FileKind.JINJA,
        FileKind.TOKENIZER,
        FileKind.CONFIG,
        FileKind.JSON,
        FileKind.WEIGHT_INDEX,
    }
)
# Kinds whose files the inventory lists or parses as text.
LISTED_AS_TEXT = frozenset(
    {FileKind.TEXT, FileKind.MODEL_CARD, FileKind.LICENSE, FileKind.PYTHON, FileKind.JINJA}
)


def _corpus_texts() -> list[bytes]:
    texts: list[bytes] = []
    for folder in ("cards", "licenses"):
        manifest = CORPUS / folder / "manifest.json"
        if not manifest.is_file():
            continue
        entries = json.loads(manifest.read_text())
        for entry in entries:
            path = CORPUS / folder / entry["file"]
            if path.is_file():
                texts.append(path.read_bytes()[:HEAD_BYTES])
    return texts


class CorpusTexts(list[bytes]):
    """Heads of the corpus's cards and licenses; short to print in a falsifying example."""

    def __repr__(self) -> str:
        return f"<{len(self)} corpus texts>"


@pytest.fixture(scope="module")
def corpus_texts() -> CorpusTexts:
    texts = _corpus_texts()
    if not texts:
        pytest.skip(f"no corpus under {CORPUS}")
    return CorpusTexts(texts)


@PROPERTY
@given(index=st.integers(min_value=0), name=NAMES)
def test_corpus_text_is_text_under_any_name(
    corpus_texts: CorpusTexts, index: int, name: str
) -> None:
    data = corpus_texts[index % len(corpus_texts)]
    kind = _sniff(name, data)
    assert kind in TEXT_KINDS, (name, kind)


_CONTROLS = [bytes([c]) for c in [*range(0x00, 0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20)]]


@PROPERTY
@given(
    text=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FFF), max_size=300),
    control=st.sampled_from(_CONTROLS),
    where=st.integers(min_value=0),
    name=NAMES,
)
def test_a_control_byte_makes_text_not_text(
    text: str, control: bytes, where: int, name: str
) -> None:
    raw = text.encode("utf-8")
    cut = where % (len(raw) + 1)
    # Insert between characters, never inside one.
    while cut < len(raw) and raw[cut] & 0xC0 == 0x80:
        cut += 1
    data = raw[:cut] + control + raw[cut:]
    assert _sniff(name, data) not in LISTED_AS_TEXT, (name, data[:40])
