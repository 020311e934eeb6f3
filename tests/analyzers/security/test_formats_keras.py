"""Keras checks of the framework-formats analyzer, through full audits.

``.keras`` archives are written with :mod:`zipfile` the way Keras 3 writes
them (``config.json``, ``metadata.json``, ``model.weights.h5``); legacy HDF5
files with h5py when it is installed (root attributes ``model_config``,
``keras_version``, ``backend``), and by hand otherwise. Hostile configs carry
Lambda bytecode that would create a canary file, arbitrary modules,
``enable_unsafe_deserialization``, ``get_file``, ``TFSMLayer`` and custom
objects; the canary must never appear. Nothing is ever loaded by Keras.
"""

from __future__ import annotations

import base64
import copy
import importlib
import io
import json
import marshal
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from formats_helpers import above_info, found, rule_ids, run, step
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seewhy.errors import FormatError
from seewhy.formats.interface import BytesSource
from seewhy.formats.keras import PROBLEM_CODES as KERAS_CODES
from seewhy.formats.keras import find_hdf5_configs, walk_config
from seewhy.formats.protobuf import encode_field as fld
from seewhy.report.model import CoverageStatus, Severity


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A file the payloads would create if anything ran them."""
    return tmp_path / "canary" / "MARKER"


def lambda_code(canary: Path) -> str:
    """What Keras's func_dump writes for a lambda: base64 of marshalled bytecode (never run)."""
    code = compile(f"lambda x: open({str(canary)!r}, 'w').write('pwned') or x", "<lambda>", "eval")
    function_code = code.co_consts[0]
    return base64.b64encode(marshal.dumps(function_code)).decode()


# ---------------------------------------------------------------- Keras 3 configs


def obj(
    module: str, class_name: str, config: Any, registered_name: str | None = None
) -> dict[str, Any]:
    return {
        "module": module,
        "class_name": class_name,
        "config": config,
        "registered_name": registered_name,
    }


def dense(name: str, units: int, inbound: str) -> dict[str, Any]:
    layer = obj(
        "keras.layers",
        "Dense",
        {
            "name": name,
            "trainable": True,
            "dtype": obj("keras", "DTypePolicy", {"name": "float32"}),
            "units": units,
            "activation": "relu",
            "use_bias": True,
            "kernel_initializer": obj("keras.initializers", "GlorotUniform", {"seed": None}),
            "bias_initializer": obj("keras.initializers", "Zeros", {}),
            "kernel_regularizer": None,
            "bias_regularizer": None,
            "kernel_constraint": None,
            "bias_constraint": None,
        },
    )
    layer["build_config"] = {"input_shape": [None, 4]}
    layer["name"] = name
    layer["inbound_nodes"] = [
        {
            "args": [
                {
                    "class_name": "__keras_tensor__",
                    "config": {
                        "shape": [None, 4],
                        "dtype": "float32",
                        "keras_history": [inbound, 0, 0],
                    },
                }
            ],
            "kwargs": {},
        }
    ]
    return layer


def keras3_config(extra_layers: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A Functional model config shaped like Keras 3.8 writes it."""
    input_layer = obj(
        "keras.layers",
        "InputLayer",
        {"batch_shape": [None, 4], "dtype": "float32", "sparse": False, "name": "input_layer"},
    )
    input_layer.update({"name": "input_layer", "inbound_nodes": []})
    layers = [input_layer, dense("dense", 8, "input_layer"), dense("dense_1", 1, "dense")]
    layers.extend(extra_layers or [])
    config = obj(
        "keras",
        "Functional",
        {
            "name": "functional",
            "trainable": True,
            "layers": layers,
            "input_layers": [["input_layer", 0, 0]],
            "output_layers": [["dense_1", 0, 0]],
        },
        "Functional",
    )
    config["build_config"] = {"input_shape": None}
    config["compile_config"] = {
        "optimizer": obj(
            "keras.optimizers",
            "Adam",
            {
                "name": "adam",
                "learning_rate": 0.001,
                "beta_1": 0.9,
                "beta_2": 0.999,
                "epsilon": 1e-07,
            },
        ),
        "loss": obj(
            "keras.losses",
            "MeanSquaredError",
            {"name": "mean_squared_error", "reduction": "sum_over_batch_size"},
        ),
        "metrics": [obj("keras.metrics", "MeanAbsoluteError", {"name": "mae", "dtype": "float32"})],
        "loss_weights": None,
        "weighted_metrics": None,
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": False,
    }
    return config


def weights_h5(path: Path) -> bytes:
    """A model.weights.h5 like Keras 3 writes (h5py when available, else a bare signature)."""
    try:
        h5py = importlib.import_module("h5py")
    except ImportError:
        return b"\x89HDF\r\n\x1a\n" + b"\x00" * 504
    with h5py.File(path, "w") as f:
        vars_group = f.create_group("layers/dense/vars")
        vars_group.create_dataset("0", data=np.zeros((4, 8), np.float32))
        vars_group.create_dataset("1", data=np.zeros((8,), np.float32))
    return path.read_bytes()


def keras_zip(
    path: Path, config: dict[str, Any] | bytes, *, extra: dict[str, bytes] | None = None
) -> Path:
    raw = config if isinstance(config, bytes) else json.dumps(config).encode()
    weights = weights_h5(path.with_suffix(".weights.tmp"))
    metadata = {"keras_version": "3.8.0", "date_saved": "2025-01-01@00:00:00"}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps(metadata))
        zf.writestr("config.json", raw)
        zf.writestr("model.weights.h5", weights)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    path.with_suffix(".weights.tmp").unlink(missing_ok=True)
    return path


def folder(tmp_path: Path) -> Path:
    root = tmp_path / "release"
    root.mkdir(exist_ok=True)
    return root


# ---------------------------------------------------------------- .keras: benign


def test_benign_keras3_archive(tmp_path: Path) -> None:
    root = folder(tmp_path)
    keras_zip(root / "model.keras", keras3_config())
    report = run(root)
    assert above_info(report) == []
    status, detail = step(report, "model.keras")
    assert status is CoverageStatus.PARSED
    assert "keras 3.8.0" in detail and "config objects checked" in detail
    assert next(c for c in report.coverage if c.path == "model.keras").kind == "keras-zip"


def test_custom_assets_are_not_flagged(tmp_path: Path) -> None:
    root = folder(tmp_path)
    keras_zip(root / "model.keras", keras3_config(), extra={"assets/vocab.txt": b"a\nb\n"})
    assert above_info(run(root)) == []


# ---------------------------------------------------------------- .keras: hostile


def lambda_layer(canary: Path) -> dict[str, Any]:
    layer = obj(
        "keras.layers",
        "Lambda",
        {
            "name": "lambda",
            "function": {
                "class_name": "__lambda__",
                "config": {"value": [lambda_code(canary), None, None]},
            },
            "output_shape": None,
            "arguments": {},
        },
    )
    layer.update({"name": "lambda", "inbound_nodes": []})
    return layer


def test_lambda_layer_is_critical(tmp_path: Path, canary: Path) -> None:
    root = folder(tmp_path)
    keras_zip(root / "model.keras", keras3_config([lambda_layer(canary)]))
    report = run(root)
    lambdas = found(report, "SW-KERAS-001")
    assert len(lambdas) == 1
    finding = lambdas[0]
    assert finding.severity is Severity.CRITICAL and finding.cwe == "CWE-94"
    # One occurrence per Lambda layer: its nested __lambda__ is part of the same finding.
    assert [e.pointer for e in finding.evidence] == ["config.json#/config/layers/3"]
    assert "__lambda__" in (finding.evidence[0].excerpt or "")
    assert not canary.exists()


@pytest.mark.parametrize(
    ("payload", "rule"),
    [
        # CVE-2025-1550: an arbitrary module named in the config.
        (obj("os", "system", {"command": "touch {canary}"}), "SW-KERAS-002"),
        (obj("builtins", "function", "exec", "exec"), "SW-KERAS-002"),
        (obj("subprocess.Popen", "function", "{canary}"), "SW-KERAS-002"),
        # CVE-2025-8747: keras.utils.get_file writes a downloaded file anywhere.
        (obj("keras.utils", "function", "get_file", "get_file"), "SW-KERAS-002"),
        # CVE-2025-9906: safe mode switched off from inside the config.
        (obj("keras.config", "function", "enable_unsafe_deserialization"), "SW-KERAS-002"),
        # A module or registered package outside Keras needs custom code.
        (obj("my_package.layers", "MyLayer", {"name": "x"}, "my_package>MyLayer"), "SW-KERAS-003"),
        (obj("keras.layers", "MyLayer", {"name": "x"}, "Custom>MyLayer"), "SW-KERAS-003"),
        # CVE-2026-1462: a TFSMLayer loads an external SavedModel.
        (
            obj("keras.layers", "TFSMLayer", {"filepath": "{canary}", "call_endpoint": "serve"}),
            "SW-KERAS-004",
        ),
    ],
)
def test_hostile_objects(tmp_path: Path, canary: Path, payload: dict[str, Any], rule: str) -> None:
    text = json.dumps(payload).replace("{canary}", str(canary))
    layer = json.loads(text)
    layer.update({"name": "evil", "inbound_nodes": []})
    root = folder(tmp_path)
    keras_zip(root / "model.keras", keras3_config([layer]))
    report = run(root)
    assert rule in rule_ids(report)
    finding = found(report, rule)[0]
    assert finding.evidence[0].pointer == "config.json#/config/layers/3"
    assert not canary.exists()


def test_unsafe_deserialization_token_anywhere(tmp_path: Path) -> None:
    config = keras3_config()
    config["compile_config"]["loss"]["config"]["name"] = (
        "keras.config.enable_unsafe_deserialization"
    )
    root = folder(tmp_path)
    keras_zip(root / "model.keras", config)
    report = run(root)
    token = found(report, "SW-KERAS-005")
    assert token and token[0].severity is Severity.CRITICAL
    assert token[0].evidence[0].pointer == "config.json#/compile_config/loss/config/name"


def test_lambda_hidden_deep_in_compile_config(tmp_path: Path, canary: Path) -> None:
    config = keras3_config()
    config["compile_config"]["loss"] = {
        "module": "keras.losses",
        "class_name": "LossFunctionWrapper",
        "config": {
            "fn": {
                "class_name": "__lambda__",
                "config": {"value": [lambda_code(canary), None, None]},
            }
        },
        "registered_name": None,
    }
    root = folder(tmp_path)
    keras_zip(root / "model.keras", config)
    assert "SW-KERAS-001" in rule_ids(run(root))
    assert not canary.exists()


def test_duplicate_config_members_are_all_checked(tmp_path: Path, canary: Path) -> None:
    root = folder(tmp_path)
    path = keras_zip(root / "model.keras", keras3_config())
    hostile = json.dumps(keras3_config([lambda_layer(canary)]))
    with zipfile.ZipFile(path, "a") as zf, pytest.warns(UserWarning):
        zf.writestr("config.json", hostile)
    report = run(root)
    assert {"SW-KERAS-001", "SW-KERAS-009"} <= rule_ids(report)
    assert not canary.exists()


def test_foreign_member_in_archive(tmp_path: Path) -> None:
    root = folder(tmp_path)
    keras_zip(root / "model.keras", keras3_config(), extra={"payload.pkl": b"\x80\x04N."})
    report = run(root)
    assert "SW-KERAS-009" in rule_ids(report)


def test_unreadable_config_is_inconclusive(tmp_path: Path) -> None:
    root = folder(tmp_path)
    keras_zip(root / "model.keras", b'{"class_name": "Functional", "config": ')
    report = run(root)
    assert "SW-KERAS-008" in rule_ids(report)
    assert step(report, "model.keras")[0] is CoverageStatus.INCONCLUSIVE


def test_zip_slip_inside_keras_archive_is_reported(tmp_path: Path) -> None:
    root = folder(tmp_path)
    keras_zip(root / "model.keras", keras3_config(), extra={"../../evil.py": b"import os"})
    report = run(root)
    assert "SW-ZIP-003" in {f.rule_id for f in report.findings}


# ---------------------------------------------------------------- legacy HDF5


def keras2_config(extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A tf.keras 2 Sequential config (class names only, no modules)."""
    layers: list[dict[str, Any]] = [
        {
            "class_name": "InputLayer",
            "config": {"batch_input_shape": [None, 4], "dtype": "float32", "name": "in"},
        },
        {
            "class_name": "Dense",
            "config": {
                "name": "dense",
                "units": 2,
                "activation": "softmax",
                "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
                "bias_initializer": {"class_name": "Zeros", "config": {}},
            },
        },
    ]
    layers.extend(extra or [])
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers}}


def legacy_lambda(canary: Path) -> dict[str, Any]:
    return {
        "class_name": "Lambda",
        "config": {
            "name": "lambda",
            "function": [lambda_code(canary), None, None],
            "function_type": "lambda",
            "module": "__main__",
            "output_shape": None,
            "arguments": {},
        },
    }


def write_h5(path: Path, attrs: dict[str, str], *, libver: str = "earliest") -> None:
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w", libver=libver) as f:
        for key, value in attrs.items():
            f.attrs[key] = value
        weights = f.create_group("model_weights/dense/dense")
        weights.create_dataset("kernel:0", data=np.zeros((4, 2), np.float32))


def test_benign_legacy_h5(tmp_path: Path) -> None:
    root = folder(tmp_path)
    write_h5(
        root / "model.h5",
        {
            "model_config": json.dumps(keras2_config()),
            "keras_version": "2.15.0",
            "backend": "tensorflow",
            "training_config": json.dumps(
                {"loss": "mse", "optimizer_config": {"class_name": "Adam", "config": {}}}
            ),
        },
    )
    report = run(root)
    assert above_info(report) == []
    status, detail = step(report, "model.h5")
    assert status is CoverageStatus.PARSED and "model_config" in detail


@pytest.mark.parametrize("libver", ["earliest", "latest"])
def test_legacy_h5_lambda(tmp_path: Path, canary: Path, libver: str) -> None:
    root = folder(tmp_path)
    config = keras2_config([legacy_lambda(canary)])
    # Key order must not matter: the attribute is located structurally.
    reordered = {"config": config["config"], "class_name": config["class_name"]}
    write_h5(
        root / "model.h5",
        {"model_config": json.dumps(reordered), "keras_version": "2.15.0"},
        libver=libver,
    )
    report = run(root)
    finding = found(report, "SW-KERAS-001")[0]
    assert finding.evidence[0].pointer == "model_config#/config/layers/2"
    assert step(report, "model.h5")[0] is CoverageStatus.PARSED
    assert not canary.exists()


def test_legacy_h5_unknown_class_and_custom_module(tmp_path: Path) -> None:
    root = folder(tmp_path)
    extra = [
        {"class_name": "AttentionWithTricks", "config": {"name": "a"}},
        {"module": "evil_pkg", "class_name": "Thing", "config": {}},
    ]
    write_h5(root / "model.h5", {"model_config": json.dumps(keras2_config(extra))})
    report = run(root)
    assert {"SW-KERAS-006", "SW-KERAS-003"} <= rule_ids(report)
    assert found(report, "SW-KERAS-006")[0].severity is Severity.LOW


def test_weights_only_h5_is_inconclusive(tmp_path: Path) -> None:
    root = folder(tmp_path)
    write_h5(root / "tf_model.h5", {"layer_names": "dense"})
    report = run(root)
    status, detail = step(report, "tf_model.h5")
    assert status is CoverageStatus.INCONCLUSIVE and "without a Keras model_config" in detail


def test_hdf5_without_structure_falls_back_to_the_byte_scan(tmp_path: Path, canary: Path) -> None:
    # No h5py needed: an HDF5 signature, then the config JSON somewhere in the bytes.
    config = json.dumps(keras2_config([legacy_lambda(canary)])).encode()
    root = folder(tmp_path)
    (root / "model.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 1000 + config + b"\x00" * 100)
    report = run(root)
    assert "SW-KERAS-001" in rule_ids(report)
    status, detail = step(report, "model.h5")
    assert status is CoverageStatus.INCONCLUSIVE and "byte scan" in detail
    assert not canary.exists()


# ---------------------------------------------------------------- keras_metadata.pb


def test_tf_keras_metadata_lambda(tmp_path: Path, canary: Path) -> None:
    metadata = copy.deepcopy(legacy_lambda(canary))
    metadata.update({"name": "lambda", "trainable": True, "expects_training_arg": False})
    saved_object = (
        fld(2, 3)
        + fld(3, "root.layer-2")
        + fld(4, "_tf_keras_layer")
        + fld(5, json.dumps(metadata))
    )
    benign = (
        fld(2, 1)
        + fld(3, "root")
        + fld(4, "_tf_keras_sequential")
        + fld(5, json.dumps(keras2_config()))
    )
    root = folder(tmp_path)
    (root / "keras_metadata.pb").write_bytes(fld(1, benign) + fld(1, saved_object))
    report = run(root)
    finding = found(report, "SW-KERAS-001")[0]
    assert finding.evidence[0].pointer == "root.layer-2#"
    status, detail = step(report, "keras_metadata.pb")
    assert status is CoverageStatus.PARSED and "2 documents" in detail
    assert not canary.exists()


def test_byte_scan_reads_configs_larger_than_its_first_window(tmp_path: Path, canary: Path) -> None:
    layers = [{"class_name": "Dense", "config": {"name": "d" * 300_000}}, legacy_lambda(canary)]
    config = json.dumps(keras2_config(layers)).encode()
    root = folder(tmp_path)
    (root / "model.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100 + config)
    report = run(root)
    assert "SW-KERAS-001" in rule_ids(report)
    assert not canary.exists()


# ---------------------------------------------------------------- properties


def _seed_h5() -> bytes:
    config = json.dumps(
        keras2_config([{"class_name": "Lambda", "config": {"function": ["AA", None]}}])
    )
    try:
        h5py = importlib.import_module("h5py")
    except ImportError:
        return b"\x89HDF\r\n\x1a\n" + b"\x00" * 200 + config.encode() + b"\x00" * 64
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["model_config"] = config
        f.attrs["training_config"] = json.dumps({"loss": "mse"})
    return buffer.getvalue()


_SEED = _seed_h5()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.integers(0, len(_SEED) - 1), st.integers(0, 255)), min_size=1, max_size=8)
)
def test_mutated_hdf5_only_raises_format_error(edits: list[tuple[int, int]]) -> None:
    data = bytearray(_SEED)
    for position, value in edits:
        data[position] = value
    try:
        result = find_hdf5_configs(BytesSource(bytes(data)))
    except FormatError as exc:
        assert exc.code in KERAS_CODES
    else:
        for config in result.configs:
            walk_config(config.value, ["enable_unsafe_deserialization"])
