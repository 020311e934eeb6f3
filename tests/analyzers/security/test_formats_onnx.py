"""ONNX checks of the framework-formats analyzer, through full audits.

Hostile models point their external data outside the release (relative
climbs, absolute paths, symlinked folders, hard links, ranges past the end),
in initializers, sparse initializers and ``Constant.sparse_value``; a canary
path in each payload must never come into existence. Benign models (hand
encoded, and real ones from ``onnx.helper`` when onnx is installed) must
give no finding above info and a ``parsed`` coverage step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from formats_helpers import above_info, found, rule_ids, run, step

from seewhy.formats.protobuf import encode_field as fld
from seewhy.report.json_format import format_json
from seewhy.report.model import CoverageStatus, Report, Severity

SECRET = "seewhy-canary-secret-7f3a9c"


# ---------------------------------------------------------------- hand encoding


def tensor(name: str, location: str | None, offset: str = "0", length: str | None = "16") -> bytes:
    data = fld(1, 4) + fld(2, 1) + fld(8, name)
    if location is not None:
        data += fld(13, fld(1, "location") + fld(2, location))
        data += fld(13, fld(1, "offset") + fld(2, offset))
        if length is not None:
            data += fld(13, fld(1, "length") + fld(2, length))
        data += fld(14, 1)
    return data


def node(op_type: str, domain: str = "", attributes: tuple[bytes, ...] = ()) -> bytes:
    data = fld(1, "x") + fld(2, "y") + fld(4, op_type)
    if domain:
        data += fld(7, domain)
    for attribute in attributes:
        data += fld(5, attribute)
    return data


def model(
    nodes: tuple[bytes, ...] = (),
    initializers: tuple[bytes, ...] = (),
    sparse: tuple[bytes, ...] = (),
    functions: tuple[bytes, ...] = (),
) -> bytes:
    g = fld(2, "main")
    for n in nodes or (node("MatMul"),):
        g += fld(1, n)
    for t in initializers:
        g += fld(5, t)
    for s in sparse:
        g += fld(15, s)
    data = fld(1, 8) + fld(2, "hand") + fld(8, fld(1, "") + fld(2, 17)) + fld(7, g)
    for f in functions:
        data += fld(25, f)
    return data


def release(tmp_path: Path, onnx_bytes: bytes, data_files: dict[str, bytes] | None = None) -> Path:
    root = tmp_path / "release"
    root.mkdir()
    (root / "model.onnx").write_bytes(onnx_bytes)
    for name, content in (data_files or {}).items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return root


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the release whose content must never reach the report."""
    folder = tmp_path / "outside"
    folder.mkdir()
    secret = folder / "secret.txt"
    secret.write_text(SECRET * 4)
    return secret


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A path that a payload names; nothing may ever create it."""
    return tmp_path / "canary" / "MARKER"


def assert_untouched(report: Report, canary: Path) -> None:
    assert not canary.exists()
    assert SECRET not in format_json(report)


# ---------------------------------------------------------------- benign


def test_benign_hand_encoded_model(tmp_path: Path) -> None:
    root = release(
        tmp_path,
        model(
            initializers=(
                tensor("w", "weights/w.data", "0", "16"),
                tensor("b", "weights/w.data", "16", "8"),
            )
        ),
        {"weights/w.data": b"\x00" * 24},
    )
    report = run(root)
    assert above_info(report) == []
    status, detail = step(report, "model.onnx")
    assert status is CoverageStatus.PARSED
    assert "2 with external data checked" in detail
    assert step(report, "weights/w.data")[0] is CoverageStatus.LISTED


def test_benign_real_onnx_model(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    np = pytest.importorskip("numpy")
    TensorProto, helper, numpy_helper = onnx.TensorProto, onnx.helper, onnx.numpy_helper

    root = tmp_path / "real"
    root.mkdir()
    w = numpy_helper.from_array(np.ones((16, 16), np.float32), "W")
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "W"], ["Y"]),
            helper.make_node("FusedMatMul", ["Y", "W"], ["Z"], domain="com.microsoft"),
        ],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [1, 16])],
        initializer=[w],
    )
    m = helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    onnx.save(m, root / "model.onnx", save_as_external_data=True, location="model.onnx.data")
    onnx.checker.check_model(str(root / "model.onnx"))
    report = run(root)
    assert above_info(report) == []
    assert step(report, "model.onnx")[0] is CoverageStatus.PARSED
    assert step(report, "model.onnx.data")[0] is CoverageStatus.LISTED


# ---------------------------------------------------------------- hostile external data


def test_relative_climb_out_of_the_release(tmp_path: Path, outside: Path, canary: Path) -> None:
    climb = os.path.relpath(outside, tmp_path / "release")
    marker = os.path.relpath(canary, tmp_path / "release")
    root = release(
        tmp_path,
        model(initializers=(tensor("w", climb), tensor("m", marker))),
    )
    report = run(root)
    assert {"SW-ONNX-001", "SW-ONNX-002"} <= rule_ids(report)
    escape = found(report, "SW-ONNX-002")[0]
    assert escape.severity is Severity.HIGH and escape.cwe == "CWE-22"
    assert escape.evidence[0].path == "model.onnx"
    assert escape.evidence[0].pointer == "graph.initializer[0]"
    assert "secret.txt" in escape.message
    assert_untouched(report, canary)


def test_absolute_location(tmp_path: Path, outside: Path, canary: Path) -> None:
    root = release(
        tmp_path, model(initializers=(tensor("w", str(outside)), tensor("m", str(canary))))
    )
    report = run(root)
    assert {"SW-ONNX-001", "SW-ONNX-002"} <= rule_ids(report)
    assert "absolute path" in found(report, "SW-ONNX-001")[0].message
    assert_untouched(report, canary)


def test_windows_style_location(tmp_path: Path) -> None:
    root = release(tmp_path, model(initializers=(tensor("w", "..\\..\\Windows\\win.ini"),)))
    report = run(root)
    assert "SW-ONNX-001" in rule_ids(report)
    assert "backslash" in found(report, "SW-ONNX-001")[0].message


def test_symlinked_parent_folder_escapes(tmp_path: Path, outside: Path) -> None:
    root = release(tmp_path, model(initializers=(tensor("w", "data/secret.txt"),)))
    (root / "data").symlink_to(outside.parent, target_is_directory=True)
    report = run(root)
    assert "SW-ONNX-002" in rule_ids(report)
    assert "SW-ONNX-001" not in rule_ids(report)  # lexically the location looks fine
    assert SECRET not in format_json(report)


def test_symlink_inside_the_release(tmp_path: Path) -> None:
    root = release(
        tmp_path,
        model(initializers=(tensor("w", "link.bin"), tensor("v", "linked/real.bin"))),
        {"store/real.bin": b"\x00" * 16},
    )
    (root / "link.bin").symlink_to("store/real.bin")
    (root / "linked").symlink_to("store", target_is_directory=True)
    report = run(root)
    links = found(report, "SW-ONNX-003")
    assert len(links) == 1 and "2 occurrences" in links[0].message
    assert "SW-ONNX-002" not in rule_ids(report)


def test_hard_linked_data_file(tmp_path: Path, outside: Path) -> None:
    root = release(tmp_path, model(initializers=(tensor("w", "w.bin", "0", "8"),)))
    os.link(outside, root / "w.bin")
    report = run(root)
    assert "SW-ONNX-004" in rule_ids(report)
    assert "2 hard links" in found(report, "SW-ONNX-004")[0].message


def test_missing_and_out_of_range_data(tmp_path: Path) -> None:
    root = release(
        tmp_path,
        model(
            initializers=(
                tensor("gone", "missing.bin"),
                tensor("long", "w.bin", "0", "4096"),
                tensor("far", "w.bin", "100", None),
                tensor("dir", "sub"),
            )
        ),
        {"w.bin": b"\x00" * 16, "sub/x": b""},
    )
    report = run(root)
    missing = found(report, "SW-ONNX-005")
    assert missing and "2 occurrences" in missing[0].message  # missing file and a folder
    ranges = found(report, "SW-ONNX-006")
    assert ranges and ranges[0].cwe == "CWE-125" and "2 occurrences" in ranges[0].message


def test_sparse_initializer_and_constant_sparse_value(tmp_path: Path, outside: Path) -> None:
    climb = os.path.relpath(outside, tmp_path / "release")
    values = tensor("values", climb)
    indices = tensor("indices", "indices.bin")
    sparse_tensor = fld(1, values) + fld(2, indices) + fld(3, 10)
    constant = node("Constant", attributes=(fld(1, "sparse_value") + fld(22, sparse_tensor),))
    root = release(
        tmp_path,
        model(nodes=(constant,), sparse=(sparse_tensor,)),
        {"indices.bin": b"\x00" * 16},
    )
    report = run(root)
    escape = found(report, "SW-ONNX-002")[0]
    pointers = {e.pointer for e in escape.evidence}
    assert "graph.sparse_initializer[0].values" in pointers
    assert "graph.node[0]:Constant.attribute[sparse_value].sparse_tensor[0].values" in pointers
    assert SECRET not in format_json(report)


def test_duplicate_location_keys_are_all_checked(tmp_path: Path, outside: Path) -> None:
    w = fld(8, "w") + fld(14, 1)
    w += fld(13, fld(1, "location") + fld(2, "w.bin"))
    w += fld(13, fld(1, "location") + fld(2, str(outside)))
    root = release(tmp_path, model(initializers=(w,)), {"w.bin": b"\x00" * 16})
    report = run(root)
    assert {"SW-ONNX-002", "SW-ONNX-008"} <= rule_ids(report)


def test_external_entries_without_data_location_are_checked(tmp_path: Path, outside: Path) -> None:
    w = fld(8, "w") + fld(13, fld(1, "location") + fld(2, str(outside)))
    report = run(release(tmp_path, model(initializers=(w,))))
    assert "SW-ONNX-002" in rule_ids(report)


# ---------------------------------------------------------------- operators and structure


def test_custom_operator_domains(tmp_path: Path) -> None:
    local_function = fld(1, "LocalOp") + fld(10, "my.functions") + fld(7, node("Add"))
    nodes = (
        node("Evil", "my.customops"),
        node("Evil", "my.customops"),
        node("Other", "my.customops"),
        node("LocalOp", "my.functions"),
        node("FusedGemm", "com.microsoft"),
        node("LinearClassifier", "ai.onnx.ml"),
    )
    report = run(release(tmp_path, model(nodes=nodes, functions=(local_function,))))
    custom = found(report, "SW-ONNX-007")
    assert len(custom) == 1
    assert custom[0].severity is Severity.LOW
    assert "my.customops" in custom[0].message and "Evil x2" in custom[0].message
    assert "my.functions" not in custom[0].message and "com.microsoft" not in custom[0].message


def test_malformed_model_is_a_finding_and_inconclusive(tmp_path: Path) -> None:
    data = model(initializers=(tensor("w", "w.bin"),))
    report = run(release(tmp_path, data[:-5]))
    assert "SW-PB-001" in rule_ids(report)
    status, detail = step(report, "model.onnx")
    assert status is CoverageStatus.INCONCLUSIVE and "could not be parsed" in detail


def test_single_file_release(tmp_path: Path, outside: Path) -> None:
    folder = tmp_path / "single"
    folder.mkdir()
    path = folder / "model.onnx"
    path.write_bytes(model(initializers=(tensor("w", "../outside/secret.txt"),)))
    report = run(path)
    assert {"SW-ONNX-001", "SW-ONNX-002"} <= rule_ids(report)


def test_audit_never_imports_framework_packages(tmp_path: Path) -> None:
    root = release(tmp_path, model(initializers=(tensor("w", "w.bin"),)), {"w.bin": b"\x00" * 16})
    (root / "k.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    code = (
        "import sys, json\n"
        "from seewhy.audit import audit\n"
        "from seewhy.analyzers.inventory import InventoryAnalyzer\n"
        "from seewhy.analyzers.security.formats import FrameworkFormatsAnalyzer\n"
        f"audit({str(root)!r}, analyzers=[InventoryAnalyzer(), FrameworkFormatsAnalyzer()])\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded = set(json.loads(result.stdout))
    for name in ("onnx", "onnxruntime", "h5py", "keras", "tensorflow", "google.protobuf"):
        assert name not in loaded, f"{name} was imported on the audit path"
