"""``seewhy audit --format cyclonedx``: a CycloneDX 1.6 ML-BOM, valid against the 1.6 schema."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from seewhy.audit import audit
from seewhy.report.cyclonedx import MODEL_REF, build_bom, format_cyclonedx, validate


def _corpus() -> Path | None:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "corpus" / "licenses"
        if candidate.is_dir():
            return candidate
    return None


LICENSES = _corpus()


def _cli_bom(source: Path, *extra: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "seewhy", "audit", str(source), "-f", "cyclonedx", *extra],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    assert validate(proc.stdout) == []
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def _with_card_lines(release: Path, lines: str, tmp_path: Path) -> Path:
    """A copy of the example release whose card front matter starts with ``lines``."""
    copy = tmp_path / "release"
    shutil.copytree(release, copy)
    card = copy / "README.md"
    text = card.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    card.write_text("---\n" + lines + text[4:], encoding="utf-8")
    return copy


def test_the_model_is_an_ml_component_with_its_files_hashes_and_datasets(
    example_release: Path, tmp_path: Path
) -> None:
    release = _with_card_lines(
        example_release,
        "datasets:\n- HuggingFaceTB/smollm-corpus\n- '<script>alert(1)</script>'\n",
        tmp_path,
    )
    doc = _cli_bom(release, "--hash")
    assert doc["bomFormat"] == "CycloneDX"
    assert doc["specVersion"] == "1.6"
    model = doc["metadata"]["component"]
    assert model["type"] == "machine-learning-model"
    assert model["bom-ref"] == MODEL_REF
    assert model["licenses"] == [{"license": {"id": "Apache-2.0", "acknowledgement": "concluded"}}]
    files = {c["name"]: c for c in model["components"]}
    on_disk = sorted(p.name for p in release.iterdir())
    assert sorted(files) == on_disk
    for name, comp in files.items():
        assert comp["type"] == "file"
        digest = hashlib.sha256((release / name).read_bytes()).hexdigest()
        assert comp["hashes"] == [{"alg": "SHA-256", "content": digest}]
    card = model["modelCard"]
    assert card["modelParameters"]["architectureFamily"] == "llama"
    # The dataset the card names, as a data component the model depends on; the
    # name that is no dataset id is left out.
    assert card["modelParameters"]["datasets"] == [{"ref": "dataset:HuggingFaceTB/smollm-corpus"}]
    assert [c["name"] for c in doc["components"]] == ["HuggingFaceTB/smollm-corpus"]
    assert doc["components"][0]["type"] == "data"
    deps = {d["ref"]: d.get("dependsOn", []) for d in doc["dependencies"]}
    assert deps[MODEL_REF] == ["dataset:HuggingFaceTB/smollm-corpus"]
    props = {p["name"]: p["value"] for p in model["properties"]}
    assert props["seewhy:verdict:load_safety"] == "safe"
    assert "<script>" not in json.dumps(doc)


def test_without_hash_no_file_has_a_hash(example_release: Path) -> None:
    doc = _cli_bom(example_release)
    model = doc["metadata"]["component"]
    assert all("hashes" not in c for c in model["components"])
    assert "hashes" not in model


def test_a_single_hashed_file_gives_the_model_its_sha256(tmp_path: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    weights = tmp_path / "model.safetensors"
    save_file({"w": np.ones((4, 4), dtype=np.float32)}, str(weights))
    doc = _cli_bom(weights, "--hash")
    model = doc["metadata"]["component"]
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert model["hashes"] == [{"alg": "SHA-256", "content": digest}]
    assert "modelCard" in model


@pytest.mark.skipif(LICENSES is None, reason="../shared/corpus is not present")
def test_a_modified_license_is_a_named_license_with_the_note(
    example_release: Path, tmp_path: Path
) -> None:
    """The MIT text with a user threshold added: no SPDX id, a named license saying how."""
    assert LICENSES is not None
    release = tmp_path / "release"
    shutil.copytree(example_release, release)
    mit = (LICENSES / "mit__mit.txt").read_text(encoding="utf-8")
    (release / "LICENSE").write_text(
        mit + "\nThe Software shall not be used by any company with more than 100 million "
        "monthly active users without a separate license.\n",
        encoding="utf-8",
    )
    card = release / "README.md"
    card.write_text(
        card.read_text(encoding="utf-8").replace("license: apache-2.0", "license: mit", 1),
        encoding="utf-8",
    )
    doc = _cli_bom(release)
    (lic,) = doc["metadata"]["component"]["licenses"]
    assert "id" not in lic["license"]  # the MIT id would claim the license it modifies
    assert "MIT" in lic["license"]["name"]
    assert "modified" in lic["license"]["name"]
    notes = {p["name"]: p["value"] for p in lic["license"]["properties"]}
    assert notes["seewhy:license:osi-approved"] == "false"
    assert "a modified license" in notes["seewhy:license:note"]
    assert "user" in notes["seewhy:license:restrictions"]
    limits = doc["metadata"]["component"]["modelCard"]["considerations"]["technicalLimitations"]
    assert any("SW-LIC-" in line for line in limits)


def test_measured_claims_become_performance_metrics(example_release: Path) -> None:
    from seewhy.report.model import Evidence, Fact

    report = audit(example_release)
    claim = Fact(
        key="performance.claim",
        label="ARC-Easy",
        value={
            "benchmark": "ARC-Easy",
            "metric": "acc",
            "claimed": 0.25,
            "measured": 0.31,
            "ci_low": 0.22,
            "ci_high": 0.40,
            "outcome": "reproduced",
        },
        analyzer="performance",
        evidence=(Evidence(path="README.md", line=20),),
    )
    report = report.model_copy(update={"facts": (*report.facts, claim)})
    text = format_cyclonedx(report)
    assert validate(text) == []
    (metric,) = json.loads(text)["metadata"]["component"]["modelCard"]["quantitativeAnalysis"][
        "performanceMetrics"
    ]
    assert metric == {
        "type": "acc",
        "value": "0.3100",
        "slice": "ARC-Easy",
        "confidenceInterval": {"lowerBound": "0.2200", "upperBound": "0.4000"},
    }


def test_output_is_deterministic_and_the_validator_catches_a_bad_bom(
    example_release: Path,
) -> None:
    report = audit(example_release)
    assert format_cyclonedx(report) == format_cyclonedx(report)
    doc = build_bom(report)
    doc["metadata"]["component"]["modelCard"]["modelParameters"]["approach"] = {"type": "magic"}
    assert validate(json.dumps(doc)) != []
