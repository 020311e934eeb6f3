"""Tests for sharded-release indexes.

Each release is a real folder: shards written with ``safetensors.numpy`` and
an index written the way ``transformers`` writes one; the shard contents come
back through :func:`parse_safetensors`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from seewhy.errors import FormatError
from seewhy.formats.interface import BytesSource
from seewhy.formats.jsondoc import JsonBounds
from seewhy.formats.safetensors import parse_safetensors
from seewhy.formats.shards import (
    PROBLEM_CODES,
    ShardIndex,
    check_shards,
    is_safe_shard_name,
    parse_index,
)

INDEX = "model.safetensors.index.json"
SHARDS: dict[str, dict[str, np.ndarray[Any, Any]]] = {
    "model-00001-of-00003.safetensors": {
        "embed.weight": np.ones((8, 4), np.float32),
        "layers.0.w": np.ones((4, 4), np.float16),
    },
    "model-00002-of-00003.safetensors": {
        "layers.1.w": np.ones((4, 4), np.float16),
        "layers.1.b": np.ones((4,), np.float16),
    },
    "model-00003-of-00003.safetensors": {"lm_head.weight": np.ones((8, 4), np.float32)},
}


def write_shard(folder: Path, name: str, arrays: dict[str, np.ndarray[Any, Any]]) -> None:
    save_file(arrays, str(folder / name), metadata={"format": "pt"})


def write_index(folder: Path, weight_map: dict[str, Any], total_size: Any = None) -> bytes:
    index = {"metadata": {"total_size": total_size}, "weight_map": weight_map}
    data = json.dumps(index, indent=2, sort_keys=True).encode()
    (folder / INDEX).write_bytes(data)
    return data


def shard_bytes(arrays: dict[str, np.ndarray[Any, Any]]) -> int:
    return sum(a.nbytes for a in arrays.values())


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """A clean three-shard release with its index."""
    weight_map = {}
    for name, arrays in SHARDS.items():
        write_shard(tmp_path, name, arrays)
        weight_map.update(dict.fromkeys(arrays, name))
    write_index(tmp_path, weight_map, sum(shard_bytes(a) for a in SHARDS.values()))
    return tmp_path


def read_folder(folder: Path) -> tuple[dict[str, list[str] | None], dict[str, int]]:
    """What an auditor would pass: each *.safetensors file and the tensors in it."""
    present: dict[str, list[str] | None] = {}
    sizes: dict[str, int] = {}
    for path in sorted(folder.glob("*.safetensors")):
        try:
            info = parse_safetensors(BytesSource(path.read_bytes()))
        except FormatError:
            present[path.name] = None
            continue
        present[path.name] = [t.name for t in info.tensors]
        sizes[path.name] = sum(t.nbytes for t in info.tensors)
    return present, sizes


def audit(folder: Path) -> tuple[ShardIndex, tuple[str, ...], list[Any]]:
    index = parse_index((folder / INDEX).read_bytes())
    present, sizes = read_folder(folder)
    problems = check_shards(index, present, shard_sizes=sizes)
    return index, tuple(p.code for p in problems), list(problems)


def load_map(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / INDEX).read_bytes())
    return data


# --------------------------------------------------------------------------
# parse_index


def test_clean_release(release: Path) -> None:
    index, codes, _ = audit(release)
    assert codes == ()
    assert index.problems == ()
    assert index.shard_names == tuple(sorted(SHARDS))
    assert index.total_size == sum(shard_bytes(a) for a in SHARDS.values())
    assert index.weight_map["lm_head.weight"] == "model-00003-of-00003.safetensors"
    assert len(index.weight_map) == 5 and index.unsafe_entries == {}


def test_pytorch_bin_index_names() -> None:
    data = json.dumps(
        {
            "metadata": {"total_size": 10},
            "weight_map": {
                "a": "pytorch_model-00001-of-00002.bin",
                "b": "pytorch_model-00002-of-00002.bin",
            },
        }
    ).encode()
    index = parse_index(data)
    present: dict[str, list[str] | None] = {
        "pytorch_model-00001-of-00002.bin": None,  # pickles are not read here
        "pytorch_model-00002-of-00002.bin": None,
        "pytorch_model-00003-of-00003.bin": None,
    }
    problems = check_shards(index, present)
    assert [p.code for p in problems] == ["shards.unlisted-shard"]
    assert problems[0].excerpt == "pytorch_model-00003-of-00003.bin"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\xff\xfe{}", "shards.index-not-utf8"),
        (b'{"weight_map": {', "shards.index-not-json"),
        (b'{"weight_map": {}} extra', "shards.index-not-json"),
        (b'{"weight_map": {"a": NaN}}', "shards.index-not-json"),
        (b"\xef\xbb\xbf{}", "shards.index-not-json"),
        (b'[{"weight_map": {}}]', "shards.index-not-object"),
        (b"null", "shards.index-not-object"),
        (b'{"metadata": {}}', "shards.missing-weight-map"),
        (b'{"weight_map": ["a"]}', "shards.bad-weight-map"),
        (b'{"weight_map": null}', "shards.bad-weight-map"),
        (b'{"weight_map": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "shards.index-too-deep"),
        (b"[" * 1_000_000, "shards.index-too-deep"),
    ],
)
def test_unusable_index(data: bytes, code: str) -> None:
    with pytest.raises(FormatError) as exc:
        parse_index(data)
    assert exc.value.code == code
    assert code in PROBLEM_CODES


def test_index_size_cap() -> None:
    data = json.dumps({"weight_map": {f"t{i}": "a.safetensors" for i in range(100)}}).encode()
    assert len(parse_index(data).weight_map) == 100
    with pytest.raises(FormatError) as exc:
        parse_index(data, max_bytes=100)
    assert exc.value.code == "shards.index-too-large"
    with pytest.raises(FormatError) as exc:
        parse_index(data, max_keys=50)
    assert exc.value.code == "shards.index-too-many-keys"


def test_duplicate_tensor_in_weight_map() -> None:
    head = b'{"weight_map": {"a": "s-00001-of-00002.safetensors", '
    data = head + b'"a": "s-00002-of-00002.safetensors"}}'
    index = parse_index(data)
    (p,) = index.problems
    assert p.code == "shards.duplicate-key"
    assert p.pointer == "/weight_map/a" and p.offset == len(head)
    assert index.weight_map == {"a": "s-00002-of-00002.safetensors"}


def test_duplicate_top_level_and_nested_keys() -> None:
    data = b'{"metadata": {"total_size": 1, "total_size": 2, "x": {"y": 1, "y": 2}}, ' + (
        b'"weight_map": {"a": "s.safetensors"}, "weight_map": {"b": "s.safetensors"}}'
    )
    index = parse_index(data)
    pointers = sorted(str(p.pointer) for p in index.problems)
    assert [p.code for p in index.problems] == ["shards.duplicate-key"] * 3
    assert pointers == ["/metadata/total_size", "/weight_map", "None"]
    assert index.weight_map == {"b": "s.safetensors"} and index.total_size == 2


@pytest.mark.parametrize("value", [-1, "12", 1.5, None, True, [1]])
def test_bad_total_size(value: Any) -> None:
    data = json.dumps({"metadata": {"total_size": value}, "weight_map": {"a": "s"}}).encode()
    index = parse_index(data)
    assert [p.code for p in index.problems] == ["shards.bad-total-size"]
    assert index.problems[0].pointer == "/metadata/total_size"
    assert index.total_size is None


@pytest.mark.parametrize("value", [[], "x", 3])
def test_bad_metadata(value: Any) -> None:
    index = parse_index(json.dumps({"metadata": value, "weight_map": {"a": "s"}}).encode())
    assert [p.code for p in index.problems] == ["shards.bad-metadata"]


def test_metadata_may_be_absent() -> None:
    index = parse_index(b'{"weight_map": {"a": "s.safetensors"}}')
    assert index.problems == () and index.total_size is None and index.metadata == {}


def test_empty_weight_map_and_bad_entries() -> None:
    assert [p.code for p in parse_index(b'{"weight_map": {}}').problems] == [
        "shards.empty-weight-map"
    ]
    index = parse_index(b'{"weight_map": {"a": 1, "b": null, "c": "ok.safetensors"}}')
    assert [p.code for p in index.problems] == ["shards.bad-weight-map-entry"] * 2
    assert index.weight_map == {"c": "ok.safetensors"}


@pytest.mark.parametrize(
    "name",
    [
        "../model-00001-of-00002.safetensors",
        "sub/../../etc/passwd",
        "/etc/passwd",
        "C:model.safetensors",
        "c:/x.safetensors",
        "sub\\model.safetensors",
        "\\\\server\\share\\x",
        "",
        "a\x00b.safetensors",
        "a\nb.safetensors",
        "..",
    ],
)
def test_bad_shard_name_is_never_resolved(tmp_path: Path, name: str) -> None:
    data = json.dumps({"weight_map": {"t": name, "u": "model.safetensors"}}).encode()
    index = parse_index(data)
    (p,) = index.problems
    assert p.code == "shards.bad-shard-name" and p.pointer == "/weight_map/t"
    assert p.offset is not None and data[p.offset : p.offset + 3] == b'"t"'
    assert index.weight_map == {"u": "model.safetensors"}
    assert index.unsafe_entries == {"t": name}
    assert index.shard_names == ("model.safetensors",)
    assert not is_safe_shard_name(name)
    # A shard holding the unsafe entry's tensor is not reported as unindexed.
    assert check_shards(index, {"model.safetensors": ["u", "t"]}) == ()


@pytest.mark.parametrize("name", ["model.safetensors", "sub/model-00001-of-00002.safetensors"])
def test_safe_shard_names(name: str) -> None:
    assert is_safe_shard_name(name)


# --------------------------------------------------------------------------
# check_shards on real folders


def test_missing_shard(release: Path) -> None:
    (release / "model-00002-of-00003.safetensors").unlink()
    _, codes, problems = audit(release)
    assert codes == ("shards.missing-shard",)
    assert problems[0].excerpt == "model-00002-of-00003.safetensors"
    assert "2 tensors" in problems[0].message
    assert problems[0].pointer in ("/weight_map/layers.1.w", "/weight_map/layers.1.b")


def test_unlisted_stale_shard(release: Path) -> None:
    write_shard(release, "model-00004-of-00004.safetensors", {"old": np.ones(2, np.float32)})
    write_shard(release, "unrelated.safetensors", {"x": np.ones(2, np.float32)})
    _, codes, problems = audit(release)
    assert codes == ("shards.unlisted-shard",)
    assert problems[0].excerpt == "model-00004-of-00004.safetensors"


def test_unlisted_shard_duplicating_a_tensor(release: Path) -> None:
    write_shard(
        release, "model-00001-of-00002.safetensors", {"embed.weight": np.ones(2, np.float32)}
    )
    _, codes, problems = audit(release)
    assert sorted(codes) == ["shards.tensor-in-two-shards", "shards.unlisted-shard"]
    two = next(p for p in problems if p.code == "shards.tensor-in-two-shards")
    assert two.pointer == "/weight_map/embed.weight"
    assert "model-00001-of-00002.safetensors" in str(two.excerpt)


def test_tensor_in_two_listed_shards(release: Path) -> None:
    arrays = {
        **SHARDS["model-00002-of-00003.safetensors"],
        "lm_head.weight": np.ones(3, np.float32),
    }
    write_shard(release, "model-00002-of-00003.safetensors", arrays)
    _, codes, problems = audit(release)
    # In two shards, and the one the index does not name holds a tensor it maps elsewhere.
    assert codes == ("shards.tensor-in-two-shards", "shards.total-size-mismatch")
    assert problems[0].pointer == "/weight_map/lm_head.weight"
    assert problems[0].excerpt == (
        "model-00002-of-00003.safetensors, model-00003-of-00003.safetensors"
    )


def test_tensor_missing_from_its_shard(release: Path) -> None:
    index = load_map(release)
    index["weight_map"]["layers.1.b"] = "model-00001-of-00003.safetensors"
    (release / INDEX).write_text(json.dumps(index))
    _, codes, problems = audit(release)
    # Shard 1 lacks it, and it sits in shard 2 where the index does not put it.
    assert codes == ("shards.tensor-missing-from-shard", "shards.tensor-in-two-shards")
    assert all(p.pointer == "/weight_map/layers.1.b" for p in problems)
    assert problems[0].excerpt == "model-00001-of-00003.safetensors"
    assert "model-00002-of-00003.safetensors" in str(problems[1].excerpt)


def test_tensor_missing_from_shard_found_nowhere(release: Path) -> None:
    index = load_map(release)
    index["weight_map"]["ghost"] = "model-00003-of-00003.safetensors"
    (release / INDEX).write_text(json.dumps(index))
    _, codes, _ = audit(release)
    assert codes == ("shards.tensor-missing-from-shard",)


def test_tensor_not_indexed(release: Path) -> None:
    index = load_map(release)
    del index["weight_map"]["layers.1.b"]
    (release / INDEX).write_text(json.dumps(index))
    _, codes, problems = audit(release)
    assert codes == ("shards.tensor-not-indexed",)
    assert problems[0].pointer == "/weight_map/layers.1.b"
    assert problems[0].excerpt == "model-00002-of-00003.safetensors"


def test_total_size_mismatch(release: Path) -> None:
    index = load_map(release)
    index["metadata"]["total_size"] += 2
    (release / INDEX).write_text(json.dumps(index))
    _, codes, problems = audit(release)
    assert codes == ("shards.total-size-mismatch",)
    assert problems[0].pointer == "/metadata/total_size"


def test_total_size_needs_every_listed_shard_size(release: Path) -> None:
    index = load_map(release)
    index["metadata"]["total_size"] += 2
    parsed = parse_index(json.dumps(index).encode())
    present, sizes = read_folder(release)
    del sizes["model-00001-of-00003.safetensors"]
    assert check_shards(parsed, present, shard_sizes=sizes) == ()
    assert check_shards(parsed, present) == ()


def test_unreadable_shard_is_not_blamed(release: Path) -> None:
    path = release / "model-00002-of-00003.safetensors"
    path.write_bytes(b"\xff" * 16)
    _, codes, _ = audit(release)
    assert codes == ()
    present, _ = read_folder(release)
    assert present["model-00002-of-00003.safetensors"] is None


def test_problem_cap(release: Path) -> None:
    index = load_map(release)
    index["weight_map"].update({f"ghost{i}": "model-00003-of-00003.safetensors" for i in range(20)})
    parsed = parse_index(json.dumps(index).encode())
    present, _ = read_folder(release)
    problems = check_shards(parsed, present, max_problems=5)
    assert len(problems) == 6 and problems[-1].code == "shards.too-many-problems"
    assert "15" in problems[-1].message


def test_every_problem_code_is_reachable(release: Path) -> None:
    seen: set[str] = set()
    bad_inputs = [
        b"\xff",
        b"{",
        b"[]",
        b"[" * 100,
        b"{}",
        b'{"weight_map": 1}',
    ]
    for data in bad_inputs:
        with pytest.raises(FormatError) as exc:
            parse_index(data)
        seen.add(exc.value.code)
    limited: list[tuple[bytes, dict[str, Any]]] = [
        (b"{}" * 10, {"max_bytes": 5}),
        (b'{"a": 1, "b": 2}', {"max_keys": 1}),
        (b'{"a": [1, 2, 3]}', {"bounds": JsonBounds(max_values=1)}),
        (b'{"a": "long"}', {"bounds": JsonBounds(max_string_bytes=3)}),
    ]
    for data, kwargs in limited:
        with pytest.raises(FormatError) as exc:
            parse_index(data, **kwargs)
        seen.add(exc.value.code)
    for data in [
        b'{"metadata": 1, "weight_map": {}}',
        b'{"metadata": {"total_size": -1}, "weight_map": {"a": 1, "a": "../x", "b": null}}',
    ]:
        seen.update(p.code for p in parse_index(data).problems)
    index = parse_index(
        json.dumps(
            {
                "metadata": {"total_size": 1},
                "weight_map": {"a": "m-1-of-3.st", "b": "m-2-of-3.st", "c": "m-2-of-3.st"},
            }
        ).encode()
    )
    present: dict[str, list[str] | None] = {
        "m-1-of-3.st": ["x"],  # lacks a, holds x (not indexed)
        "m-3-of-3.st": ["x"],  # unlisted; x in two shards
    }
    seen.update(p.code for p in check_shards(index, present, shard_sizes={"m-1-of-3.st": 0}))
    seen.update(p.code for p in check_shards(index, {}, max_problems=0))
    full = {"m-1-of-3.st": ["a"], "m-2-of-3.st": ["b", "c"]}
    seen.update(p.code for p in check_shards(index, full, shard_sizes=dict.fromkeys(full, 5)))
    seen.update(p.code for p in check_shards(index, full, misfits={"m-1-of-3.st": "a pickle"}))
    assert seen == set(PROBLEM_CODES)


# --------------------------------------------------------------------------
# property tests

names = st.sampled_from(["a", "b", "c", "d", "e"])
shard_names = st.sampled_from(
    [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model-00003-of-00003.safetensors",
        "other.safetensors",
        "../evil.safetensors",
        "",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(names, st.one_of(shard_names, st.integers(), st.none())),
    st.dictionaries(shard_names, st.one_of(st.none(), st.lists(names, max_size=5))),
    st.one_of(st.none(), st.integers(-5, 100), st.text(max_size=3)),
)
def test_random_indexes_and_folders(
    weight_map: dict[str, Any], present: dict[str, list[str] | None], total: Any
) -> None:
    data = json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}).encode()
    index = parse_index(data)
    assert all(is_safe_shard_name(s) for s in index.weight_map.values())
    problems = check_shards(index, present, shard_sizes=dict.fromkeys(present, 1))
    for p in (*index.problems, *problems):
        assert p.code in PROBLEM_CODES
    listed = set(index.weight_map.values())
    missing = {p.excerpt for p in problems if p.code == "shards.missing-shard"}
    assert missing == listed - present.keys()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes(data: bytes) -> None:
    try:
        index = parse_index(data)
    except FormatError as exc:
        assert exc.code in PROBLEM_CODES
    else:
        assert {p.code for p in index.problems} <= set(PROBLEM_CODES)
