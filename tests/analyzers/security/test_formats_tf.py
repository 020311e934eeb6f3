"""TensorFlow checks of the framework-formats analyzer, on hand-encoded protobufs.

SavedModels and frozen GraphDefs are encoded with the field numbers of
TensorFlow's ``saved_model.proto``, ``meta_graph.proto``, ``graph.proto``,
``function.proto`` and ``node_def.proto``. A benign SavedModel shaped like
TF 2 writes it (serving function, ``__inference__traced_save/restore``
savers) must give no finding above info; hostile graphs call Python, read and
write files (a canary path the graph would write must never appear), use
checkpoint ops outside the saver and name assets outside ``assets/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from formats_helpers import above_info, find_step, found, rule_ids, run
from hypothesis import given, settings
from hypothesis import strategies as st

from seewhy.errors import FormatError
from seewhy.formats import protobuf, savedmodel
from seewhy.formats.interface import BytesSource
from seewhy.formats.protobuf import encode_field as fld
from seewhy.formats.savedmodel import parse_saved_model, probe
from seewhy.report.model import CoverageStatus, Severity


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A file a hostile graph would write; nothing may ever create it."""
    return tmp_path / "canary" / "MARKER"


# ---------------------------------------------------------------- hand encoding


def attr(key: str, s: str) -> bytes:
    return fld(5, fld(1, key) + fld(2, fld(2, s)))


def node(name: str, op: str, *attrs: bytes) -> bytes:
    return fld(1, name) + fld(2, op) + fld(3, "input:0") + b"".join(attrs)


def function(name: str, *nodes: bytes) -> bytes:
    return fld(1, fld(1, name) + fld(2, fld(1, "x"))) + b"".join(fld(3, n) for n in nodes)


def graph(nodes: tuple[bytes, ...], functions: tuple[bytes, ...] = ()) -> bytes:
    data = b"".join(fld(1, n) for n in nodes)
    if functions:
        data += fld(2, b"".join(fld(1, f) for f in functions))
    return data + fld(4, fld(1, 1395))


def meta_graph(
    g: bytes, *, tags: tuple[str, ...] = ("serve",), assets: tuple[str, ...] = ()
) -> bytes:
    info = b"".join(fld(4, t) for t in tags) + fld(5, "2.15.0")
    data = fld(1, info) + fld(2, g)
    for filename in assets:
        data += fld(6, fld(1, fld(1, "asset_path:0")) + fld(2, filename))
    return data


def saved_model(*meta_graphs: bytes, schema: int | None = 1) -> bytes:
    data = fld(1, schema) if schema is not None else b""
    return data + b"".join(fld(2, m) for m in meta_graphs)


def benign_graph(
    extra_nodes: tuple[bytes, ...] = (), extra_functions: tuple[bytes, ...] = ()
) -> bytes:
    """The shape of a TF 2 SavedModel: serving function plus TensorFlow's own savers."""
    serving = function(
        "__inference_serving_default_1234",
        node("dense/MatMul/ReadVariableOp", "ReadVariableOp"),
        node("dense/MatMul", "MatMul"),
        node("dense/BiasAdd", "BiasAdd"),
        node("dense/Relu", "Relu"),
        node("Identity", "Identity"),
    )
    save = function(
        "__inference__traced_save_5678",
        node("StaticRegexFullMatch", "StaticRegexFullMatch"),
        node("StringJoin", "StringJoin"),
        node("ShardedFilename", "ShardedFilename"),
        node("SaveV2", "SaveV2"),
        node("MergeV2Checkpoints", "MergeV2Checkpoints"),
    )
    restore = function(
        "__inference__traced_restore_9012",
        node("RestoreV2", "RestoreV2"),
        node("AssignVariableOp", "AssignVariableOp"),
    )
    nodes = (
        node("serving_default_x", "Placeholder"),
        node("StatefulPartitionedCall", "StatefulPartitionedCall"),
        node("saver_filename", "Placeholder"),
        node("StatefulPartitionedCall_1", "StatefulPartitionedCall"),
        node("StatefulPartitionedCall_2", "StatefulPartitionedCall"),
        # A TF1 saver in the graph's own nodes.
        node("save/SaveV2", "SaveV2"),
        node("save/RestoreV2", "RestoreV2"),
        *extra_nodes,
    )
    return graph(nodes, (serving, save, restore, *extra_functions))


def release(tmp_path: Path, files: dict[str, bytes]) -> Path:
    root = tmp_path / "release"
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


# ---------------------------------------------------------------- benign


def test_benign_saved_model(tmp_path: Path) -> None:
    root = release(
        tmp_path,
        {
            "saved_model.pb": saved_model(meta_graph(benign_graph())),
            "variables/variables.index": b"\x00\x01",
            "variables/variables.data-00000-of-00001": b"\x00" * 64,
        },
    )
    report = run(root)
    assert above_info(report) == []
    kind = next(c.kind for c in report.coverage if c.path == "saved_model.pb")
    assert kind == "tensorflow"  # told apart from ONNX by its top-level protobuf fields
    result = find_step(report, "saved_model.pb")
    assert result is not None
    status, detail = result
    assert status is CoverageStatus.PARSED
    assert "SavedModel (tags serve; TF 2.15.0)" in detail
    assert "5 saver checkpoint ops" in detail


# ---------------------------------------------------------------- hostile


def test_hostile_saved_model(tmp_path: Path, canary: Path) -> None:
    hostile_fn = function(
        "__inference_call_31337",
        node("py", "PyFunc", attr("token", "pyfunc_0")),
        node("filename", "Const", attr("value", str(canary))),
        node("write", "WriteFile"),
        node("snapshot", "SaveV2"),
        node("print", "PrintV2", attr("output_stream", f"file://{canary}")),
        node("table", "InitializeTableFromTextFileV2"),
    )
    g = benign_graph(
        extra_nodes=(node("read/ReadFile", "ReadFile"),), extra_functions=(hostile_fn,)
    )
    root = release(
        tmp_path,
        {"saved_model.pb": saved_model(meta_graph(g, assets=("vocab.txt", "../../../etc/passwd")))},
    )
    report = run(root)
    assert {"SW-TF-001", "SW-TF-002", "SW-TF-003", "SW-TF-004", "SW-TF-005"} <= rule_ids(report)
    python = found(report, "SW-TF-001")[0]
    assert python.severity is Severity.CRITICAL
    assert python.evidence[0].pointer == "function __inference_call_31337/py"
    files = found(report, "SW-TF-002")[0]
    assert (
        "WriteFile" in files.message and "ReadFile" in files.message and "PrintV2" in files.message
    )
    checkpoint = found(report, "SW-TF-003")[0]
    assert checkpoint.severity is Severity.MEDIUM
    assert "__inference_call_31337" in checkpoint.message
    assert "save/" not in checkpoint.message and "traced_save" not in checkpoint.message
    asset = found(report, "SW-TF-005")[0]
    assert "etc/passwd" in asset.message and "vocab.txt" not in asset.message
    assert not canary.exists()


def test_saved_model_without_schema_version(tmp_path: Path) -> None:
    data = saved_model(meta_graph(graph((node("py", "EagerPyFunc"),))), schema=None)
    report = run(release(tmp_path, {"saved_model.pb": data}))
    assert next(c.kind for c in report.coverage if c.path == "saved_model.pb") == "tensorflow"
    assert "SW-TF-001" in rule_ids(report)


def test_frozen_graph_def(tmp_path: Path) -> None:
    data = graph(
        (node("input", "Placeholder"), node("secret", "ReadFile"), node("out", "Identity"))
    )
    report = run(release(tmp_path, {"frozen_graph.pb": data}))
    assert "SW-TF-002" in rule_ids(report)
    result = find_step(report, "frozen_graph.pb")
    assert result is not None and result[0] is CoverageStatus.PARSED
    assert "frozen GraphDef" in result[1]


def test_unrelated_pb_file_is_left_alone(tmp_path: Path) -> None:
    report = run(release(tmp_path, {"input_0.pb": b"\x00\xff\x10garbage\x07"}))
    assert find_step(report, "input_0.pb") is None
    assert rule_ids(report) == set()


def test_text_saved_model(tmp_path: Path, canary: Path) -> None:
    text = (
        'meta_graphs {\n  graph_def {\n    node { name: "a" op: "Const" }\n'
        '    node { name: "b" op: "Py" "Func" }\n'
        "    node { name: \"c\" op: 'Write\\x46ile'"
        f' attr {{ key: "f" value {{ s: "{canary}" }} }} }}\n'
        "  }\n}\n"
    )
    report = run(release(tmp_path, {"saved_model.pbtxt": text.encode()}))
    assert {"SW-TF-001", "SW-TF-002"} <= rule_ids(report)
    result = find_step(report, "saved_model.pbtxt")
    assert result is not None and result[0] is CoverageStatus.INCONCLUSIVE
    assert not canary.exists()


def test_malformed_saved_model(tmp_path: Path) -> None:
    data = saved_model(meta_graph(benign_graph()))
    report = run(release(tmp_path, {"saved_model.pb": data[:-7]}))
    assert "SW-PB-001" in rule_ids(report)
    result = find_step(report, "saved_model.pb")
    assert result is not None and result[0] is CoverageStatus.INCONCLUSIVE


# ---------------------------------------------------------------- parser


def test_parse_counts_ops_by_place() -> None:
    info = parse_saved_model(
        BytesSource(
            saved_model(meta_graph(benign_graph()), meta_graph(graph((node("x", "Add"),))))
        ),
        {"PrintV2": ["output_stream"]},
    )
    assert info.meta_graphs == 2 and info.schema_version == 1
    assert info.tags == ("serve",) and info.tensorflow_versions == ("2.15.0",)
    assert info.functions == 3
    save = [u for u in info.ops if u.op == "SaveV2"]
    assert {(u.function, u.scope) for u in save} == {
        ("__inference__traced_save_5678", ""),
        ("", "save"),
    }
    assert {u.meta_graph for u in info.ops if u.op == "Add"} == {1}


def test_probe() -> None:
    assert probe(BytesSource(saved_model(meta_graph(graph((node("a", "Add"),)))))) == "saved_model"
    assert probe(BytesSource(graph((node("a", "Add"),)))) == "graph_def"
    assert probe(BytesSource(b"\x08\x07:\x02\x08\x01")) is None  # ONNX: field 7
    assert probe(BytesSource(b"\xff\xff")) is None
    assert probe(BytesSource(b"")) is None


_VALID = saved_model(meta_graph(benign_graph(), assets=("vocab.txt",)))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8
    )
)
def test_mutated_saved_models_only_raise_format_error(edits: list[tuple[int, int]]) -> None:
    data = bytearray(_VALID)
    for position, value in edits:
        data[position] = value
    try:
        parse_saved_model(BytesSource(bytes(data)), {"PrintV2": ["output_stream"]})
    except FormatError as exc:
        assert exc.code in protobuf.PROBLEM_CODES or exc.code in savedmodel.PROBLEM_CODES
