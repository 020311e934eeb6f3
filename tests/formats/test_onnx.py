"""Tests for the ONNX ModelProto walker.

Models are encoded by hand with the field numbers of ``onnx-ml.proto`` (so
the tests need no onnx package), and, where onnx is installed, built with
``onnx.helper`` and saved with ``onnx.save`` to check the walker against
real files. A property test mutates a valid model and checks that parsing
only ever returns or raises FormatError.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import CountingSource
from seewhy.errors import FormatError
from seewhy.formats import protobuf
from seewhy.formats.interface import BytesSource
from seewhy.formats.onnx import (
    PROBLEM_CODES,
    OnnxInfo,
    iter_locations,
    location_flaws,
    parse_onnx,
)
from seewhy.formats.protobuf import encode_field as fld
from seewhy.formats.protobuf import encode_varint

# ---------------------------------------------------------------- hand encoding


def entry(key: str, value: str) -> bytes:
    return fld(1, key) + fld(2, value)


def tensor(
    name: str,
    *,
    location: str | None = None,
    offset: str | None = None,
    length: str | None = None,
    raw: bytes = b"",
    external: bool = True,
    extra: tuple[tuple[str, str], ...] = (),
) -> bytes:
    data = fld(1, 4) + fld(2, 1) + fld(8, name)
    if raw:
        data += fld(9, raw)
    pairs = [("location", location), ("offset", offset), ("length", length), *extra]
    for key, value in pairs:
        if value is not None:
            data += fld(13, entry(key, value))
    if external and location is not None:
        data += fld(14, 1)
    return data


def sparse(values: bytes, indices: bytes) -> bytes:
    return fld(1, values) + fld(2, indices) + fld(3, 10)


def node(
    op_type: str, *, domain: str = "", name: str = "", attributes: tuple[bytes, ...] = ()
) -> bytes:
    data = fld(1, "x") + fld(2, "y") + fld(4, op_type)
    if name:
        data += fld(3, name)
    if domain:
        data += fld(7, domain)
    for attribute in attributes:
        data += fld(5, attribute)
    return data


def attribute(name: str, *, t: bytes = b"", g: bytes = b"", sparse_tensor: bytes = b"") -> bytes:
    data = fld(1, name)
    if t:
        data += fld(5, t)
    if g:
        data += fld(6, g)
    if sparse_tensor:
        data += fld(22, sparse_tensor)
    return data


def graph(
    nodes: tuple[bytes, ...] = (),
    initializers: tuple[bytes, ...] = (),
    sparse_initializers: tuple[bytes, ...] = (),
) -> bytes:
    data = fld(2, "g")
    for n in nodes:
        data += fld(1, n)
    for t in initializers:
        data += fld(5, t)
    for s in sparse_initializers:
        data += fld(15, s)
    return data


def model(
    g: bytes | None,
    *,
    functions: tuple[bytes, ...] = (),
    training: tuple[bytes, ...] = (),
    opsets: tuple[tuple[str, int], ...] = (("", 17),),
) -> bytes:
    data = fld(1, 9) + fld(2, "hand") + fld(3, "1.0")
    for domain, version in opsets:
        data += fld(8, fld(1, domain) + fld(2, version))
    if g is not None:
        data += fld(7, g)
    for t in training:
        data += fld(20, t)
    for f in functions:
        data += fld(25, f)
    return data


def parse(data: bytes) -> OnnxInfo:
    return parse_onnx(BytesSource(data))


# ---------------------------------------------------------------- hand-encoded models


def test_header_operators_and_counts() -> None:
    data = model(
        graph(
            nodes=(node("MatMul"), node("Relu", name="r"), node("MatMul"), node("Op", domain="x.y"))
        ),
        opsets=(("", 17), ("x.y", 1)),
    )
    info = parse(data)
    assert info.ir_version == 9
    assert (info.producer_name, info.producer_version) == ("hand", "1.0")
    assert info.opsets == (("", 17), ("x.y", 1))
    ops = {(o.domain, o.op_type): o.count for o in info.operators}
    assert ops == {("", "MatMul"): 2, ("", "Relu"): 1, ("x.y", "Op"): 1}
    assert info.domains == {"", "x.y"}
    assert (info.graphs, info.nodes) == (1, 4)
    assert info.problems == ()


def test_every_external_tensor_place_is_found() -> None:
    values = tensor("sv", location="sv.bin", offset="0", length="12")
    indices = tensor("si", location="si.bin")
    constant = node(
        "Constant",
        attributes=(attribute("sparse_value", sparse_tensor=sparse(values, indices)),),
    )
    nested = graph(initializers=(tensor("inner", location="inner.bin"),))
    if_node = node("If", attributes=(attribute("then_branch", g=nested),))
    value_node = node(
        "Constant", attributes=(attribute("value", t=tensor("cv", location="cv.bin")),)
    )
    fn = (
        fld(1, "F")
        + fld(10, "local")
        + fld(
            7, node("Constant", attributes=(attribute("value", t=tensor("fv", location="fv.bin")),))
        )
    )
    training = fld(1, graph(initializers=(tensor("tv", location="tv.bin"),)))
    data = model(
        graph(
            nodes=(constant, if_node, value_node),
            initializers=(tensor("w", location="w.bin", offset="0", length="64"),),
            sparse_initializers=(
                sparse(tensor("spv", location="spv.bin"), tensor("spi", location="spi.bin")),
            ),
        ),
        functions=(fn,),
        training=(training,),
    )
    info = parse(data)
    found = {t.name: t for t in info.external_tensors}
    assert set(found) == {"w", "spv", "spi", "sv", "si", "inner", "cv", "fv", "tv"}
    assert found["w"].location == "w.bin"
    assert (found["w"].offset_value, found["w"].length_value) == (0, 64)
    assert found["sv"].where.endswith("attribute[sparse_value].sparse_tensor[0].values")
    assert found["spi"].where == "graph.sparse_initializer[0].indices"
    assert "attribute[then_branch].graph[0].initializer[0]" in found["inner"].where
    assert found["fv"].where.startswith("functions[local:F]")
    assert found["tv"].where.startswith("training_info")
    assert info.functions == (("local", "F"),)
    assert all(t.marked_external for t in info.external_tensors)


def test_raw_data_is_never_read() -> None:
    big = tensor("big", raw=b"\x00" * (16 << 20), external=False)
    data = model(graph(nodes=(node("Add"),), initializers=(big,)))
    counting = CountingSource(BytesSource(data))
    info = parse_onnx(counting)
    assert info.tensors == 1 and not info.external_tensors
    assert counting.bytes_read < 256 * 1024


def test_reference_problems() -> None:
    duplicate = tensor("d", location="ok.bin", extra=(("location", "../../etc/passwd"),))
    bad_number = tensor("n", location="n.bin", offset="-1", length="0x10")
    unknown = tensor("u", location="u.bin", extra=(("evil", "1"),))
    no_location = fld(8, "l") + fld(14, 1)
    data = model(graph(initializers=(duplicate, bad_number, unknown, no_location)))
    info = parse(data)
    codes = [p.code for p in info.problems]
    assert codes.count("onnx.duplicate-external-key") == 1
    assert codes.count("onnx.bad-external-number") == 2
    assert "onnx.unknown-external-key" in codes
    assert "onnx.external-without-location" in codes
    d = next(t for t in info.external_tensors if t.name == "d")
    assert d.locations == ("ok.bin", "../../etc/passwd")
    assert d.location == "../../etc/passwd"  # the last value, as onnx keeps it
    assert [loc for t, loc in iter_locations(info) if t.name == "d"] == [
        "ok.bin",
        "../../etc/passwd",
    ]
    n = next(t for t in info.external_tensors if t.name == "n")
    assert (n.offset_value, n.length_value) == (None, None)


def test_external_data_without_data_location_is_still_listed() -> None:
    # Two copies of a tensor field merge in protobuf; a check that trusts
    # data_location alone would miss entries that arrive without it.
    data = model(graph(initializers=(tensor("w", location="/etc/shadow", external=False),)))
    info = parse(data)
    assert [t.location for t in info.external_tensors] == ["/etc/shadow"]
    assert not info.external_tensors[0].marked_external


def test_wire_type_mismatch_and_no_graph() -> None:
    data = fld(1, 9) + fld(7, 5)  # graph as a varint
    info = parse(data)
    assert {p.code for p in info.problems} == {"onnx.unexpected-wire-type", "onnx.no-graph"}


def test_long_names_are_cut() -> None:
    data = model(graph(nodes=(node("A" * 10_000),)))
    info = parse(data)
    assert len(info.operators[0].op_type) == 4096
    assert [p.code for p in info.problems] == ["onnx.long-string"]


def test_broken_wire_format_raises() -> None:
    data = model(graph(nodes=(node("MatMul"),)))
    with pytest.raises(FormatError) as exc:
        parse(data[:-3])
    assert exc.value.code.startswith("protobuf.")


def test_deep_subgraphs_hit_the_depth_cap() -> None:
    g = graph(nodes=(node("Add"),))
    for _ in range(60):
        g = graph(nodes=(node("If", attributes=(attribute("then_branch", g=g),)),))
    with pytest.raises(FormatError) as exc:
        parse(model(g))
    assert exc.value.code == "protobuf.too-deep"


@pytest.mark.parametrize(
    ("location", "flaw"),
    [
        ("", "empty location"),
        ("/etc/passwd", "absolute path"),
        ("\\\\server\\share\\x", "UNC or network path"),
        ("C:\\Windows\\win.ini", "drive letter"),
        ("c:data.bin", "drive letter"),
        ("..\\..\\x", "backslash"),
        ("../x.bin", "'..' component"),
        ("sub/../../x.bin", "'..' component"),
        ("file:///etc/passwd", "URL scheme"),
        ("~/.ssh/id_rsa", "home-folder path"),
        ("a\x00b", "NUL byte"),
    ],
)
def test_location_flaws(location: str, flaw: str) -> None:
    assert flaw in location_flaws(location)


@pytest.mark.parametrize("location", ["model.onnx.data", "weights/part-1.bin", "./w.bin", "a..b"])
def test_plain_locations_have_no_flaws(location: str) -> None:
    assert location_flaws(location) == []


# ---------------------------------------------------------------- real onnx files


def test_real_model_with_external_data(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    np = pytest.importorskip("numpy")
    TensorProto, helper, numpy_helper = onnx.TensorProto, onnx.helper, onnx.numpy_helper

    w = numpy_helper.from_array(np.ones((32, 32), np.float32), "W")
    b = numpy_helper.from_array(np.zeros((32,), np.float32), "B")
    then = helper.make_graph(
        [helper.make_node("Identity", ["Y"], ["T"])],
        "then",
        [],
        [helper.make_tensor_value_info("T", TensorProto.FLOAT, None)],
    )
    nodes = [
        helper.make_node("MatMul", ["X", "W"], ["XW"]),
        helper.make_node("Add", ["XW", "B"], ["Y"]),
        helper.make_node("If", ["c"], ["Z"], then_branch=then, else_branch=then),
        helper.make_node("Gelu", ["Y"], ["G"], domain="com.microsoft"),
    ]
    g = helper.make_graph(
        nodes,
        "main",
        [
            helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 32]),
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, None)],
        initializer=[w, b],
    )
    m = helper.make_model(
        g,
        producer_name="seewhy-test",
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
    )
    path = tmp_path / "model.onnx"
    onnx.save(m, path, save_as_external_data=True, location="model.onnx.data", size_threshold=0)
    info = parse_onnx(BytesSource(path.read_bytes()))
    assert info.producer_name == "seewhy-test"
    assert info.ir_version == m.ir_version
    assert {(o.domain, o.op_type) for o in info.operators} == {
        ("", "MatMul"),
        ("", "Add"),
        ("", "If"),
        ("", "Identity"),
        ("com.microsoft", "Gelu"),
    }
    assert info.graphs == 3
    external = {t.name: t for t in info.external_tensors}
    assert set(external) == {"W", "B"}
    data_size = (tmp_path / "model.onnx.data").stat().st_size
    for t in external.values():
        assert t.location == "model.onnx.data"
        assert t.offset_value is not None and t.length_value is not None
        assert t.offset_value + t.length_value <= data_size
    assert info.problems == ()


# ---------------------------------------------------------------- properties

_VALID = model(
    graph(
        nodes=(
            node("MatMul"),
            node("Constant", attributes=(attribute("value", t=tensor("c", location="c.bin")),)),
        ),
        initializers=(tensor("w", location="w.bin", offset="0", length="16", raw=b"\x01" * 16),),
    ),
    functions=(fld(1, "F") + fld(10, "d") + fld(7, node("Add")),),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8
    ),
    st.integers(0, len(_VALID)),
)
def test_mutated_models_only_raise_format_error(edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(_VALID)
    for position, value in edits:
        data[position] = value
    counting = CountingSource(BytesSource(bytes(data[: max(cut, 1)])))
    try:
        parse_onnx(counting)
    except FormatError as exc:
        assert exc.code in protobuf.PROBLEM_CODES or exc.code in PROBLEM_CODES
    assert counting.bytes_read <= 64 * 1024 * 64


def test_varint_helper_matches_reader() -> None:
    assert encode_varint(300) == b"\xac\x02"
