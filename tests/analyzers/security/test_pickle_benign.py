"""Real artifacts written by torch, NumPy, joblib and scikit-learn: clean and parsed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.security.formats import FrameworkFormatsAnalyzer
from seewhy.analyzers.security.pickle_scan import PickleAnalyzer
from seewhy.audit import audit
from seewhy.report.model import CoverageStatus, Report, Severity


def _audit(path: Path) -> Report:
    return audit(path, analyzers=[InventoryAnalyzer(), PickleAnalyzer()], raise_errors=True)


def _assert_clean(report: Report, expected_files: int) -> None:
    mine = [f for f in report.findings if f.analyzer == "security.pickle"]
    loud = [f for f in mine if f.severity.rank > Severity.INFO.rank]
    assert not loud, [(f.rule_id, f.message) for f in loud]
    steps = {c.path: s for c in report.coverage for s in c.steps if s.analyzer == "security.pickle"}
    assert len(steps) == expected_files, steps
    for path, step in steps.items():
        assert step.status is CoverageStatus.PARSED, (path, step.detail)
    assert not any(o.status == "errored" for o in report.analyzers)


# ------------------------------------------------------------------ torch


@pytest.fixture(scope="module")
def torch_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    nn = torch.nn
    folder = tmp_path_factory.mktemp("torch")
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(8, 4),
        nn.ReLU(),
        nn.BatchNorm1d(4),
        nn.LayerNorm(4),
        nn.Conv1d(1, 2, 3),
        nn.Embedding(10, 4),
        nn.LSTM(4, 4),
        nn.TransformerEncoderLayer(4, 2, dim_feedforward=8),
    )
    torch.save(model.state_dict(), folder / "state_dict.pt")
    torch.save(model, folder / "full_model.pt")
    optimizer = torch.optim.AdamW(model[0].parameters(), lr=1e-3)
    model[0](torch.randn(2, 8)).sum().backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3)
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "epoch": 3},
        folder / "training_state.pt",
    )
    torch.save(model.state_dict(), folder / "legacy.bin", _use_new_zipfile_serialization=False)
    tensors: dict[str, Any] = {
        "half": torch.zeros(3, dtype=torch.float16),
        "bf16": torch.zeros(2, dtype=torch.bfloat16),
        "long": torch.arange(3),
        "bool": torch.ones(2, dtype=torch.bool),
        "complex": torch.zeros(2, dtype=torch.complex64),
        "fp8": torch.zeros(2, dtype=torch.float8_e4m3fn),
        "view": torch.arange(10)[2:5],
        "size": torch.Size([1, 2]),
        "device": torch.device("cpu"),
        "dtype": torch.float32,
        "sparse": torch.randn(3, 3).to_sparse(),
        "numpy_scalar": np.float64(1.5),
        "numpy_array": np.arange(4),
    }
    torch.save(tensors, folder / "mixed.pt")
    torch.save(tensors, folder / "mixed_legacy.pt", _use_new_zipfile_serialization=False)
    return folder


def test_real_torch_saves_are_clean(torch_release: Path) -> None:
    _assert_clean(_audit(torch_release), expected_files=6)


def test_torch_storages_are_size_checked_without_reading_tensors(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.save({f"w{i}": torch.zeros(1 << 20) for i in range(8)}, tmp_path / "big.pt")
    report = _audit(tmp_path / "big.pt")
    steps = [s for c in report.coverage for s in c.steps if s.analyzer == "security.pickle"]
    assert steps[0].status is CoverageStatus.PARSED
    assert "8 storages size-checked" in steps[0].detail
    assert report.release.total_bytes > 32 << 20
    assert report.release.bytes_read < 1 << 20  # zip directory and data.pkl, no tensor bytes


def test_torchscript_is_flagged_as_code(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    scripted = torch.jit.script(torch.nn.Linear(2, 2))
    torch.jit.save(scripted, tmp_path / "scripted.pt")
    report = _audit(tmp_path / "scripted.pt")
    rules = {f.rule_id for f in report.findings if f.analyzer == "security.pickle"}
    assert rules == {"SW-PKL-030"}
    steps = [s for c in report.coverage for s in c.steps if s.analyzer == "security.pickle"]
    assert steps[0].status is CoverageStatus.PARSED


def test_raw_pickle_of_a_tensor_scans_the_nested_archive(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    import pickle

    (tmp_path / "tensor.pkl").write_bytes(pickle.dumps({"t": torch.arange(4)}))
    report = _audit(tmp_path / "tensor.pkl")
    rules = {f.rule_id for f in report.findings if f.analyzer == "security.pickle"}
    # torch.storage._load_from_bytes unpickles a torch.save archive, which is scanned too.
    assert not rules
    steps = [s for c in report.coverage for s in c.steps if s.analyzer == "security.pickle"]
    assert steps[0].status is CoverageStatus.PARSED


# ------------------------------------------------------------------ numpy


def test_real_numpy_files_are_clean(tmp_path: Path) -> None:
    np.save(tmp_path / "plain.npy", np.arange(6, dtype=np.float32))
    np.save(tmp_path / "objects.npy", np.array([1, "x", None, {"a": [1.5]}], dtype=object))
    np.savez(tmp_path / "arrays.npz", a=np.arange(3), o=np.array([None, (1, 2)], dtype=object))
    np.savez_compressed(tmp_path / "packed.npz", o=np.array([b"x", 2.5], dtype=object))
    report = _audit(tmp_path)
    # plain.npy carries no pickle: the pickle analyzer leaves it to the inventory.
    _assert_clean(report, expected_files=3)


# ------------------------------------------------------------------ joblib and scikit-learn


def test_real_joblib_dumps_are_clean(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    ensemble = pytest.importorskip("sklearn.ensemble")
    linear_model = pytest.importorskip("sklearn.linear_model")
    pipelines = pytest.importorskip("sklearn.pipeline")
    preprocessing = pytest.importorskip("sklearn.preprocessing")

    rng = np.random.default_rng(0)
    x = rng.random((30, 3))
    y = (x[:, 0] > 0.5).astype(int)
    pipeline = pipelines.make_pipeline(
        preprocessing.StandardScaler(), linear_model.LogisticRegression()
    ).fit(x, y)
    forest = ensemble.RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0)
    forest.fit(x, y)
    joblib.dump(pipeline, tmp_path / "pipeline.joblib")
    joblib.dump(forest, tmp_path / "forest.pkl")
    joblib.dump(
        {
            "f32": np.arange(5, dtype=np.float32),
            "objects": np.array([1, "x", None], dtype=object),
            "text": np.array(["ab", "c"]),
            "records": np.zeros(2, dtype=[("x", "<i4"), ("y", "<f8")]),
            "fortran": np.asfortranarray(np.ones((3, 2))),
            "empty": np.zeros((0, 4)),
        },
        tmp_path / "arrays.joblib",
    )
    methods = ("zlib", "gzip", "bz2", "xz", "lzma")
    for method in methods:
        joblib.dump(np.arange(50), tmp_path / f"compressed_{method}.joblib", compress=(method, 3))
    # Compressed dumps reach the pickle analyzer through the formats analyzer's nested
    # audit of the decompressed stream (seewhy.analyzers.nested).
    report = audit(
        tmp_path,
        analyzers=[InventoryAnalyzer(), PickleAnalyzer(), FrameworkFormatsAnalyzer()],
        raise_errors=True,
    )
    _assert_clean(report, expected_files=3)
    for method in methods:
        coverage = next(c for c in report.coverage if c.path == f"compressed_{method}.joblib")
        assert coverage.status is CoverageStatus.PARSED, coverage.steps
