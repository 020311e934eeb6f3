"""Tests for the PyTorch container listing and the pickle detectors.

PyTorch itself is not installed: checkpoints are written with :mod:`zipfile`
exactly as ``torch.save`` lays them out (one prefix folder, stored records,
data aligned to 64 bytes with an ``FB`` padding extra field) around a real
pickle made with :mod:`pickle`. Pickles are only ever dumped, never loaded.
"""

from __future__ import annotations

import collections
import io
import json
import pickle
import struct
import zipfile

import pytest

from builders import CountingSource
from seewhy.formats.archive import read_zip
from seewhy.formats.interface import BytesSource
from seewhy.formats.torch import (
    LEGACY_TORCH_MAGIC,
    LEGACY_TORCH_MAGIC_NUMBER,
    PROBLEM_CODES,
    TorchZipInfo,
    describe_torch_zip,
    is_legacy_torch,
    is_pickle_start,
    legacy_tensors,
    summarize_tensors,
    zip_tensors,
)

# --------------------------------------------------------------------------
# helpers


class Storage:
    """Stands in for a tensor storage: pickled as a persistent id, like torch does."""

    def __init__(self, key: str, numel: int) -> None:
        self.key = key
        self.numel = numel


class TorchLikePickler(pickle.Pickler):
    def persistent_id(self, obj: object) -> object:
        if isinstance(obj, Storage):
            return ("storage", "FloatStorage", obj.key, "cpu", obj.numel)
        return None


def data_pkl(state: dict[str, object]) -> bytes:
    buffer = io.BytesIO()
    TorchLikePickler(buffer, protocol=2).dump(state)
    return buffer.getvalue()


STATE = collections.OrderedDict(
    [("weight", Storage("0", 4)), ("bias", Storage("1", 2)), ("step", 10)]
)


def torch_records(prefix: str = "archive") -> dict[str, bytes]:
    """The records torch.save writes, in its order."""
    return {
        f"{prefix}/data.pkl": data_pkl(STATE),
        f"{prefix}/.format_version": b"1",
        f"{prefix}/.storage_alignment": b"64",
        f"{prefix}/byteorder": b"little",
        f"{prefix}/data/0": struct.pack("<4f", 1.0, 2.0, 3.0, 4.0),
        f"{prefix}/data/1": struct.pack("<2f", 0.5, -0.5),
        f"{prefix}/version": b"3\n",
        f"{prefix}/.data/serialization_id": b"1234567890123456789012345678901234567890",
    }


def torch_zip(
    records: dict[str, bytes], *, deflate: frozenset[str] = frozenset(), align: int = 64
) -> bytes:
    """Write records like PyTorchStreamWriter: stored, data aligned with an FB extra field."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in records.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            if name in deflate:
                info.compress_type = zipfile.ZIP_DEFLATED
            else:
                start = buffer.tell() + 30 + len(name.encode()) + 4
                padding = -start % align
                info.extra = b"FB" + struct.pack("<H", padding) + b"Z" * padding
            archive.writestr(info, content)
    return buffer.getvalue()


def describe(data: bytes) -> TorchZipInfo:
    return describe_torch_zip(read_zip(BytesSource(data)), BytesSource(data))


def codes(info: TorchZipInfo) -> set[str]:
    return {problem.code for problem in info.problems}


# --------------------------------------------------------------------------
# describe_torch_zip


def test_problem_codes_are_described() -> None:
    assert all(code.startswith("torch.") for code in PROBLEM_CODES)
    assert all(text.strip() for text in PROBLEM_CODES.values())


def test_torch_save_layout() -> None:
    data = torch_zip(torch_records())
    listing = read_zip(BytesSource(data))
    assert listing.problems == ()
    for member in listing.members:
        assert member.data_offset is not None and member.data_offset % 64 == 0

    info = describe(data)
    assert info.prefix == "archive"
    assert info.member_count == 8
    assert info.pickle_members == ("archive/data.pkl",)
    assert info.pickles_analysed is False
    assert info.has_data_pkl
    assert not info.is_torchscript
    assert [(s.key, s.folder, s.size, s.compressed) for s in info.storages] == [
        ("0", "data", 16, False),
        ("1", "data", 8, False),
    ]
    assert info.total_storage_bytes == 24
    assert info.version == "3"
    assert info.byteorder == "little"
    assert codes(info) == {"torch.pickles-not-analysed"}
    assert "not analysed" in info.problems[0].message
    # The storage offsets point at the raw bytes.
    first = info.storages[0]
    assert first.data_offset is not None
    assert data[first.data_offset : first.data_offset + 16] == struct.pack(
        "<4f", 1.0, 2.0, 3.0, 4.0
    )


def test_any_prefix_and_data_version_record() -> None:
    records = torch_records("my_model")
    records["my_model/.data/version"] = records.pop("my_model/version")
    info = describe(torch_zip(records))
    assert info.prefix == "my_model"
    assert info.version == "3"
    assert codes(info) == {"torch.pickles-not-analysed"}


def test_without_source_records_are_not_read() -> None:
    data = torch_zip(torch_records())
    info = describe_torch_zip(read_zip(BytesSource(data)))
    assert info.version is None and info.byteorder is None
    assert info.total_storage_bytes == 24


def test_torchscript_layout() -> None:
    records = {
        "model/data.pkl": data_pkl({"training": False}),
        "model/constants.pkl": pickle.dumps((), protocol=2),
        "model/code/__torch__/model.py": b"class Model(Module):\n  pass\n",
        "model/code/__torch__/model.py.debug_pkl": pickle.dumps((), protocol=2),
        "model/constants/0": b"\x00" * 8,
        "model/extra/notes.txt": b"hello",
        "model/version": b"10",
        "model/byteorder": b"little",
    }
    info = describe(torch_zip(records))
    assert info.is_torchscript
    assert set(info.pickle_members) == {
        "model/data.pkl",
        "model/constants.pkl",
        "model/code/__torch__/model.py.debug_pkl",
    }
    assert [(s.key, s.folder) for s in info.storages] == [("0", "constants")]
    assert codes(info) == {"torch.pickles-not-analysed"}


def test_member_outside_prefix_and_extra_members() -> None:
    records = torch_records()
    records["archive/evil.py"] = b"import os\n"
    records["other/payload.pkl"] = pickle.dumps({"x": 1}, protocol=2)
    records["archive/data/0/nested"] = b"x"
    info = describe(torch_zip(records))
    assert codes(info) == {
        "torch.outside-prefix",
        "torch.extra-member",
        "torch.pickles-not-analysed",
    }
    extra = {p.pointer for p in info.problems if p.code == "torch.extra-member"}
    assert extra == {"archive/evil.py", "archive/data/0/nested"}
    outside = [p.pointer for p in info.problems if p.code == "torch.outside-prefix"]
    assert outside == ["other/payload.pkl"]
    assert "other/payload.pkl" in info.pickle_members


def test_no_data_pkl() -> None:
    records = torch_records()
    del records["archive/data.pkl"]
    info = describe(torch_zip(records))
    assert codes(info) == {"torch.no-data-pkl"}
    assert not info.has_data_pkl
    assert info.pickle_members == ()


def test_compressed_storage() -> None:
    records = torch_records()
    records["archive/data/0"] = bytes(4096)
    info = describe(torch_zip(records, deflate=frozenset({"archive/data/0"})))
    assert "torch.compressed-storage" in codes(info)
    storage = info.storages[0]
    assert storage.compressed and storage.size == 4096


def test_first_member_without_folder() -> None:
    records = {"data.pkl": data_pkl({}), **torch_records()}
    info = describe(torch_zip(records))
    assert info.prefix is None
    assert "torch.no-prefix" in codes(info)


def test_empty_archive() -> None:
    info = describe(torch_zip({}))
    assert codes(info) == {"torch.empty"}
    assert info.member_count == 0


def test_bad_small_records() -> None:
    records = torch_records()
    records["archive/version"] = b"three"
    records["archive/byteorder"] = b"middle"
    info = describe(torch_zip(records))
    bad = [p for p in info.problems if p.code == "torch.bad-record"]
    assert len(bad) == 2
    records["archive/version"] = b"9" * 200
    info = describe(torch_zip(records))
    assert any("cannot read" in p.message for p in info.problems if p.code == "torch.bad-record")
    assert info.version is None


# --------------------------------------------------------------------------
# legacy files


def test_legacy_magic_is_the_protocol_2_pickle_of_the_number() -> None:
    dumped = pickle.dumps(LEGACY_TORCH_MAGIC_NUMBER, protocol=2)
    # PROTO 2, LONG1 with a 10-byte body, STOP.
    assert dumped == LEGACY_TORCH_MAGIC + b"."
    assert LEGACY_TORCH_MAGIC[:4] == b"\x80\x02\x8a\x0a"
    assert LEGACY_TORCH_MAGIC[4:] == LEGACY_TORCH_MAGIC_NUMBER.to_bytes(10, "little")
    assert LEGACY_TORCH_MAGIC_NUMBER == 0x1950A86A20F9469CFC6C


@pytest.mark.parametrize("protocol", range(6))
def test_legacy_files_of_every_protocol(protocol: int) -> None:
    head = pickle.dumps(LEGACY_TORCH_MAGIC_NUMBER, protocol=protocol)
    head += pickle.dumps(1001, protocol=protocol) + pickle.dumps({"a": 1}, protocol=protocol)
    assert is_legacy_torch(head)
    assert is_pickle_start(head) is not None


def test_not_legacy_torch() -> None:
    assert not is_legacy_torch(b"")
    assert not is_legacy_torch(torch_zip(torch_records())[:64])
    assert not is_legacy_torch(pickle.dumps({"a": 1}, protocol=2))
    assert not is_legacy_torch(pickle.dumps(LEGACY_TORCH_MAGIC_NUMBER + 1, protocol=2))
    assert not is_legacy_torch(LEGACY_TORCH_MAGIC[:-1])


# --------------------------------------------------------------------------
# is_pickle_start


class Point:
    """A module-level class, pickled by reference."""

    def __init__(self, x: int, y: int) -> None:
        self.x = x
        self.y = y


OBJECTS: list[object] = [
    None,
    True,
    5,
    -70000,
    2**80,
    1.5,
    "hello",
    "héllo wörld",
    b"bytes",
    bytearray(b"xy"),
    [1, 2, 3],
    (1, "a", None),
    (),
    {"a": 1, "b": [1.0, 2.0, {"c": None}]},
    {1, 2, 3},
    frozenset({"x"}),
    collections.OrderedDict(a=1, b=2),
    Point(1, 2),
    [Point(i, -i) for i in range(3)],
    list(range(2000)),
    {f"layer.{i}.weight": [float(i)] * 4 for i in range(500)},
]


@pytest.mark.parametrize("protocol", range(6))
def test_real_pickles_are_detected(protocol: int) -> None:
    for obj in OBJECTS:
        dumped = pickle.dumps(obj, protocol=protocol)
        for head in (dumped, dumped[:4096]):
            found = is_pickle_start(head)
            if protocol >= 2:
                assert found == protocol, (obj, dumped[:40])
            else:
                # Protocol 1 pickles of some objects are protocol 0 bytes.
                assert found in (0, 1), (obj, dumped[:40])


def test_torch_like_data_pkl_is_detected() -> None:
    assert is_pickle_start(data_pkl(STATE)) == 2


TEXTS = [
    "Hello world, this is a README.\n",
    "N.B. the weights are released under a research licence.\n",
    "No.\n",
    "(see above) for details\n",
    "The quick brown fox jumps over the lazy dog.",
    "In 2024 we released a model.",
    "Let me explain how to fine-tune it.",
    "I think therefore I am.\n",
    "Keep calm and carry on",
    "Maybe later",
    "Just do it.\n",
    "Good morning\n",
    "Update the model card.\n",
    "X marks the spot",
    "Vote\nNo\n",
    "cats\ndogs\n",
    "Copyright (c) 2024 The Authors\n",
    "MIT License\n\nPermission is hereby granted, free of charge,",
    "GNU GENERAL PUBLIC LICENSE\n   Version 3, 29 June 2007\n",
    "S'quoted'\nbut then text\n",
]
JSON = [
    json.dumps({"architectures": ["LlamaForCausalLM"], "hidden_size": 64}),
    json.dumps([1, 2, 3]),
    json.dumps("a string"),
    "{}",
    "[]",
    "null",
    "12345",
]
MARKDOWN = [
    "# Model card\n\nThis model is *small*.\n",
    "---\nlicense: apache-2.0\nlanguage: en\n---\n# Title\n",
    "- item one\n- item two\n",
    "| col | col |\n|-----|-----|\n",
    "[link](https://example.com)\n",
]
SOURCE = [
    "import os\nimport sys\n\nprint(os.getcwd())\n",
    "from torch import nn\n\nclass Model(nn.Module):\n    pass\n",
    "class Foo:\n    def bar(self):\n        return 1\n",
    "#!/usr/bin/env python3\n",
    "def main() -> None:\n    pass\n",
    '"""Docstring."""\n',
    "Copyright = 1\n",
    "if __name__ == '__main__':\n    main()\n",
]


@pytest.mark.parametrize("text", TEXTS + JSON + MARKDOWN + SOURCE)
def test_text_is_not_a_pickle(text: str) -> None:
    assert is_pickle_start(text.encode()) is None
    assert is_pickle_start(text.encode("utf-16")) is None


def test_other_binary_formats_are_not_pickles() -> None:
    assert is_pickle_start(b"") is None
    assert is_pickle_start(torch_zip(torch_records())[:4096]) is None
    assert is_pickle_start(b"\x93NUMPY\x01\x00v\x00") is None
    assert is_pickle_start(b"GGUF\x03\x00\x00\x00") is None
    assert is_pickle_start(struct.pack("<Q", 100) + b'{"a": 1}') is None
    assert is_pickle_start(b"\x80\x06\x95") is None  # protocol 6 does not exist
    assert is_pickle_start(b"\x80\x02\xff\xff\xff") is None


def test_malicious_prefix_is_still_a_pickle() -> None:
    # A protocol 0 call to a global, followed by garbage: the call runs before
    # the garbage is reached, so the stream counts as a pickle.
    head = b"cos\nsystem\n(S'echo hi'\ntR" + b"\x00garbage"
    assert is_pickle_start(head) == 0
    assert is_pickle_start(b"\x80\x02cos\nsystem\nq\x00X\x07\x00\x00\x00echo hiq\x01\x85R.") == 2


# --------------------------------------------------------------------------
# tensor facts from the pickle (real torch.save files)


def _saved(obj: object, **kwargs: object) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer, **kwargs)  # type: ignore[arg-type]
    return buffer.getvalue()


def test_zip_tensors_count_without_reading_tensor_bytes() -> None:
    import torch

    sd = {"a": torch.ones(300, 400), "b": torch.zeros(5, dtype=torch.float16)}
    data = _saved(sd)
    source = BytesSource(data)
    listing = read_zip(source)
    info = describe_torch_zip(listing, source)
    counting = CountingSource(source)
    counted = zip_tensors(counting, listing, info)
    assert counted is not None and counted.complete
    assert (counted.tensors, counted.parameters) == (2, 300 * 400 + 5)
    assert counted.by_dtype == {"F32": 300 * 400, "F16": 5}
    assert counting.bytes_read < 4096 < info.total_storage_bytes  # data.pkl only


def test_truncated_pickle_is_not_a_count() -> None:
    import torch

    data = _saved({"a": torch.ones(2), "b": torch.ones(3)}, _use_new_zipfile_serialization=False)
    # Cut the legacy file inside its object pickle: counts are a lower bound, said so.
    counted = legacy_tensors(BytesSource(data[:400]))
    assert not counted.complete
    assert counted.reason
    whole = legacy_tensors(BytesSource(data))
    assert whole.complete and whole.parameters == 5


def test_summary_flags_views_past_their_storage() -> None:
    from seewhy.formats.pickle_vm import TorchStorageRef, TorchTensorRef

    storage = TorchStorageRef("torch", "FloatStorage", "0", "cpu", 6, legacy=False)
    inside = TorchTensorRef(10, "torch._utils._rebuild_tensor_v2", storage, 0, (2, 3), (3, 1))
    past = TorchTensorRef(20, "torch._utils._rebuild_tensor_v2", storage, 4, (2, 3), (3, 1))
    tied = TorchTensorRef(30, "torch._utils._rebuild_tensor_v2", storage, 0, (2, 3), (3, 1))
    summary = summarize_tensors([inside, past, tied])
    assert summary.tensors == 2 and summary.parameters == 12  # the tied copy counts once
    assert [p.code for p in summary.problems] == ["torch.tensor-out-of-storage"]
    assert summary.problems[0].offset == 20
