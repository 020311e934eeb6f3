"""Lineage through the Hub: a derivative is held to its real parents' licenses.

The base model's name here means nothing to the name-based lineage rules
(``acme/base-model``); only its own LICENSE file, served by the stand-in Hub,
says it is under the Llama 3.2 Community License (the real text, from the
shared license corpus through its manifest).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from builders import sparse_safetensors
from hub_server import HubServer
from seewhy.analyzers.license.kb import load_kb
from seewhy.audit import audit, audit_release, default_analyzers
from seewhy.release.hub import HubAnalyzer, HubLimits, HubRelease, open_hub_release
from seewhy.report.model import Report

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "licenses"


def _llama_32_text() -> bytes:
    manifest = CORPUS / "manifest.json"
    if not manifest.is_file():
        pytest.skip("the shared license corpus is not available")
    entries = json.loads(manifest.read_text())
    entry = next(e for e in entries if e["family"] == "llama" and e["variant"] == "3.2-license")
    return (CORPUS / entry["file"]).read_bytes()


def _model(
    hub: HubServer, repo_id: str, license_id: str, bases: list[str], *, license_text: bytes = b""
) -> Path:
    folder = hub.root / repo_id
    folder.mkdir(parents=True)
    base = "".join(f"\n  - {b}" for b in bases)
    front = f"license: {license_id}\n" + (
        f"base_model:{base}\nbase_model_relation: finetune\n" if bases else ""
    )
    (folder / "README.md").write_text(f"---\n{front}---\n# {repo_id}\n\nA model.\n")
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    sparse_safetensors(folder / "model.safetensors", {"w": ("BF16", [64, 64])})
    if license_text:
        (folder / "LICENSE").write_bytes(license_text)
    return folder


def _audit(
    hub: HubServer, tmp_path: Path, repo_id: str, **limits: int
) -> tuple[HubRelease, Report]:
    release = open_hub_release(
        repo_id,
        endpoint=hub.url,
        cache_dir=tmp_path / "cache",
        limits=HubLimits(retries=0, **limits),
    )
    assert isinstance(release, HubRelease)
    report = audit_release(release, source=repo_id, analyzers=[*default_analyzers(), HubAnalyzer()])
    return release, report


def _drift(report: Report) -> list[str]:
    return [f.message for f in report.findings if f.rule_id in ("SW-LIC-033", "SW-LIC-034")]


def test_an_apache_finetune_of_a_llama_base_is_flagged_through_its_real_lineage(
    hub: HubServer, tmp_path: Path
) -> None:
    assert load_kb().base_license("acme/base-model") is None  # the name alone says nothing
    _model(hub, "acme/base-model", "other", [], license_text=_llama_32_text())
    tuned = _model(hub, "acme/tuned", "apache-2.0", ["acme/base-model"])

    release, report = _audit(hub, tmp_path, "acme/tuned")
    assert [p.repo_id for p in release.parents] == ["acme/base-model"]
    drift = _drift(report)
    assert len(drift) == 1 and "acme/base-model" in drift[0] and "Llama 3.2" in drift[0]
    finding = next(f for f in report.findings if f.rule_id in ("SW-LIC-033", "SW-LIC-034"))
    assert any("LICENSE on the Hub" in (e.note or "") for e in finding.evidence)
    openness = report.verdict("openness")
    assert openness is not None and "Llama 3.2" in openness.reason
    assert "acme/base-model" in openness.reason
    # Only the parent's card and license file came over: no weights of the parent.
    parent_files = [r.path for r in hub.requests if "/acme/base-model/resolve/" in r.path]
    assert parent_files and all(p.endswith(("README.md", "LICENSE")) for p in parent_files)

    # The same files on disk, without the Hub: the name-based rules know nothing of the base.
    assert _drift(audit(tuned)) == []


def test_a_grandparent_binds_through_a_relabelled_parent(hub: HubServer, tmp_path: Path) -> None:
    _model(hub, "acme/base-model", "other", [], license_text=_llama_32_text())
    _model(hub, "acme/mid", "mit", ["acme/base-model"])
    _model(hub, "acme/leaf", "apache-2.0", ["acme/mid"])
    release, report = _audit(hub, tmp_path, "acme/leaf")
    assert [(p.repo_id, p.depth) for p in release.parents] == [
        ("acme/mid", 1),
        ("acme/base-model", 2),
    ]
    drift = _drift(report)
    assert len(drift) == 1 and "acme/mid" in drift[0] and "Llama 3.2" in drift[0]
    finding = next(f for f in report.findings if f.rule_id in ("SW-LIC-033", "SW-LIC-034"))
    assert any("acme/mid -> acme/base-model" in (e.note or "") for e in finding.evidence)


def test_cycles_depth_and_width_are_bounded(hub: HubServer, tmp_path: Path) -> None:
    _model(hub, "acme/a", "apache-2.0", ["acme/b"])
    _model(hub, "acme/b", "apache-2.0", ["acme/a", "acme/c"])
    _model(hub, "acme/c", "apache-2.0", ["acme/b", "acme/d"])
    _model(hub, "acme/d", "apache-2.0", ["acme/e"])
    release, _ = _audit(hub, tmp_path, "acme/a")
    assert [p.repo_id for p in release.parents] == ["acme/b", "acme/c", "acme/d", "acme/e"]
    assert release.parents[-1].error is not None  # acme/e does not exist: kept, unknown
    shallow, _ = _audit(hub, tmp_path, "acme/a", lineage_depth=2)
    assert [p.repo_id for p in shallow.parents] == ["acme/b", "acme/c"]
    narrow, _ = _audit(hub, tmp_path, "acme/a", lineage_width=1)
    assert [p.repo_id for p in narrow.parents] == ["acme/b"]


def test_a_parent_that_cannot_be_read_is_a_finding_not_a_failure(
    hub: HubServer, tmp_path: Path
) -> None:
    _model(hub, "acme/orphan", "apache-2.0", ["acme/gone"])
    _, report = _audit(hub, tmp_path, "acme/orphan")
    assert any(f.rule_id == "SW-HUB-004" and "acme/gone" in f.message for f in report.findings)


def test_offline_the_parents_come_from_the_hf_cache(hub: HubServer, tmp_path: Path) -> None:
    _model(hub, "acme/base-model", "other", [], license_text=_llama_32_text())
    _model(hub, "acme/tuned", "apache-2.0", ["acme/base-model"])
    _audit(hub, tmp_path, "acme/tuned")  # online once: the cache now holds both cards
    before = len(hub.requests)
    release = open_hub_release("acme/tuned", cache_dir=tmp_path / "cache", offline=True)
    assert len(hub.requests) == before
    assert isinstance(release, HubRelease)
    assert [(p.repo_id, p.license_path, p.error) for p in release.parents] == [
        ("acme/base-model", "LICENSE", None)
    ]
    report = audit_release(
        release, source="acme/tuned", analyzers=[*default_analyzers(), HubAnalyzer()]
    )
    drift = _drift(report)
    assert len(drift) == 1 and "Llama 3.2" in drift[0]
    assert report.fact("hub.bytes_transferred").value == 0  # type: ignore[union-attr]
    assert report.fact("hub.gated") is None  # not known offline


def test_a_cache_snapshot_folder_gets_its_parents_from_the_same_cache(
    hub: HubServer, tmp_path: Path
) -> None:
    _model(hub, "acme/base-model", "other", [], license_text=_llama_32_text())
    _model(hub, "acme/tuned", "apache-2.0", ["acme/base-model"])
    _audit(hub, tmp_path, "acme/tuned")  # fills the cache with both repositories' small files
    repo = tmp_path / "cache" / "models--acme--tuned"
    before = len(hub.requests)
    drift = _drift(audit(repo))  # a folder on disk: no Hub, the cache it lies in
    assert len(hub.requests) == before
    assert len(drift) == 1 and "Llama 3.2" in drift[0]
    # The same folder copied out of the cache: name-based rules only, nothing known.
    plain = tmp_path / "plain"
    shutil.copytree(next((repo / "snapshots").iterdir()), plain)
    assert _drift(audit(plain)) == []
