"""The streaming pre-scan of the JSON loaders refuses hostile documents before decoding.

Hostile headers and indexes are generated here, a few MiB each (the 100 MB
header of the issue is too big for a test); each is refused with its problem
code, and the peak of Python allocations, measured by tracemalloc, stays
near the size of the input where decoding would build hundreds of MiB.
"""

from __future__ import annotations

import json
import struct
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
import safetensors
from hypothesis import given, settings
from hypothesis import strategies as st

from seewhy.errors import FormatError
from seewhy.formats.interface import BytesSource
from seewhy.formats.jsondoc import JsonBounds, load_json, load_json_object
from seewhy.formats.safetensors import parse_safetensors
from seewhy.formats.shards import parse_index

MiB = 1 << 20


def _pack(header: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header


def _peak(call: Callable[[], object]) -> tuple[str, int]:
    """Run ``call``; return the FormatError code it raised ("ok" if none) and the peak."""
    tracemalloc.start()
    try:
        call()
        code = "ok"
    except FormatError as exc:
        code = exc.code
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return code, peak


# Each builds about 4-5 MiB; decoding any of them whole would need 150-250 MiB.
HOSTILE_HEADERS = {
    "a million empty objects": b'{"x":[' + b"{}," * 1_400_000 + b"{}]}",
    "objects nested four deep, repeated": (
        b'{"x":[' + b'{"a":{"a":{"a":{}}}},' * 250_000 + b"{}]}"
    ),
    "700,000 levels of objects": b'{"a":' * 700_000 + b"1" + b"}" * 700_000,
    "a million empty arrays": b'{"x":[' + b"[]," * 1_400_000 + b"[]]}",
}
EXPECTED = {
    "a million empty objects": "safetensors.header-too-many-values",
    "objects nested four deep, repeated": "safetensors.header-too-many-values",
    "700,000 levels of objects": "safetensors.header-too-deep",
    "a million empty arrays": "safetensors.header-too-many-values",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_HEADERS))
def test_hostile_safetensors_header_is_refused_in_bounded_memory(name: str) -> None:
    data = _pack(HOSTILE_HEADERS[name])
    code, peak = _peak(lambda: parse_safetensors(BytesSource(data)))
    assert code == EXPECTED[name]
    # The header is read once (its size); the pre-scan adds a constant.
    assert peak < len(data) + 24 * MiB, f"peak {peak / MiB:.0f} MiB"


def test_hostile_shard_index_is_refused_in_bounded_memory() -> None:
    data = b'{"metadata": {}, "weight_map": {"w": "a.safetensors"}, "x": [' + b"{}," * 1_200_000
    data += b"{}]}"
    code, peak = _peak(lambda: parse_index(data))
    assert code == "shards.index-too-many-values"
    assert peak < len(data) + 24 * MiB


def test_config_of_a_million_numbers_is_refused_before_decoding() -> None:
    data = b'{"model_type": "llama", "x": [' + b"1.5," * 1_000_000 + b"1]}"
    bounds = JsonBounds(max_values=500_000)
    code, peak = _peak(lambda: load_json(data, what="config.json", code_prefix="c", bounds=bounds))
    assert code == "c.too-many-values"
    assert peak < len(data) + 24 * MiB  # decoding: a list of a million floats


def test_a_string_longer_than_the_bound_is_refused_with_its_offset() -> None:
    long = b'"' + b"A" * (3 * MiB) + b'"'
    raw = b'{"__metadata__": {"blob": ' + long + b"}}"
    bounds = JsonBounds(max_string_bytes=1 * MiB)
    with pytest.raises(FormatError) as info:
        load_json_object(raw, 8, "safetensors.header", 1000, 16, bounds)
    assert info.value.code == "safetensors.header-string-too-long"
    assert info.value.offset == 8 + raw.index(b'"A')
    # Within the bound the same document decodes.
    doc = load_json_object(raw, 8, "safetensors.header", 1000, 16, JsonBounds())
    assert doc.value["__metadata__"]["blob"] == "A" * (3 * MiB)  # type: ignore[index]


def test_too_many_keys_is_found_by_the_pre_scan_across_windows() -> None:
    # Keys whose colon falls after a window edge still count: 300,000 keys of
    # varying length, 3 more than the cap.
    members = [f'"k{i}{"x" * (i % 7)}" : {i}' for i in range(300_003)]
    raw = ("{" + ", ".join(members) + "}").encode()
    with pytest.raises(FormatError) as info:
        load_json_object(raw, 0, "shards.index", 300_002, 16)
    assert info.value.code == "shards.index-too-many-keys"
    doc = load_json_object(raw, 0, "shards.index", 300_003, 16)
    assert len(doc.value) == 300_003


def test_depth_is_carried_across_windows_and_located_exactly() -> None:
    # Flat content fills more than one 256 KiB window, strings included, then
    # nesting passes the limit inside a later window.
    flat = (b'["' + b"]]]{{{" * 10 + b'", [], {}],') * 10_000
    data = b"[" + flat + b"[" * 70 + b"]" * 71
    with pytest.raises(FormatError) as info:
        load_json(data, what="t", code_prefix="t")
    assert info.value.code == "t.too-deep"
    assert info.value.offset == 1 + len(flat) + 63


def test_brackets_in_a_string_that_crosses_windows_do_not_count() -> None:
    blob = "[{" * 300_000  # 600 KB: crosses two window edges
    text = json.dumps({"__metadata__": {"blob": blob}, "t": [1, 2]})
    value, problems = load_json(text.encode(), what="t", code_prefix="t")
    assert value == json.loads(text) and problems == ()


def test_a_real_header_of_fifty_thousand_tensors_is_not_refused(tmp_path: Any) -> None:
    import numpy as np
    from safetensors.numpy import save

    tensors = {f"model.layers.{i}.weight": np.zeros((1,), dtype=np.uint8) for i in range(50_000)}
    info = parse_safetensors(BytesSource(save(tensors)))
    assert len(info.tensors) == 50_000 and info.problems == ()
    assert safetensors.__version__  # the header came from the real library


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='ab"\\[]{}:, \n'),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(alphabet='ab"[{:', max_size=4), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(json_values, st.integers(min_value=0, max_value=4))
def test_valid_documents_within_bounds_decode_exactly(value: Any, indent: int) -> None:
    text = json.dumps({"v": value}, indent=indent or None)
    decoded, _ = load_json(text.encode(), what="t", code_prefix="t", max_depth=1000)
    assert decoded == json.loads(text)
