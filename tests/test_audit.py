"""End-to-end audits through the public API, on real files."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from builders import raw_safetensors, sparse_safetensors
from seewhy.audit import audit, audit_release, load_safety_verdict
from seewhy.formats.interface import Problem
from seewhy.release import ReleaseIssue, open_release
from seewhy.report.json_format import format_json
from seewhy.report.model import CoverageStatus, CoverageStep, FileCoverage, Report, Severity


def rule_ids(report: Report) -> set[str]:
    return {f.rule_id for f in report.findings}


def fact(report: Report, key: str) -> object:
    f = report.fact(key)
    assert f is not None, f"no fact {key}: {[x.key for x in report.facts]}"
    return f.value


def test_example_release_inventory(example_release: Path) -> None:
    report = audit(example_release)
    assert fact(report, "architecture") == "llama (LlamaForCausalLM)"
    counted = fact(report, "parameter_count")
    assert counted == 106_816
    assert fact(report, "config_parameter_estimate") == counted
    assert fact(report, "parameters_by_dtype") == {"F32": 106_816}
    assert fact(report, "context_length") == 512
    assert fact(report, "vocab_size") == 256
    assert fact(report, "chat_template") is True
    assert fact(report, "declared_license") == ["apache-2.0"]
    assert fact(report, "claimed_size") == "0.1M"
    assert report.findings == ()
    kinds = {c.path: c.kind for c in report.coverage}
    assert kinds == {
        "LICENSE": "license",
        "README.md": "model-card",
        "config.json": "config",
        "generation_config.json": "json",
        "model.safetensors": "safetensors",
        "tokenizer_config.json": "tokenizer",
    }
    assert all(c.status.conclusive for c in report.coverage)
    assert report.exit_code(Severity.INFO) == 0


def test_output_is_deterministic_apart_from_timestamp(example_release: Path) -> None:
    a = json.loads(format_json(audit(example_release)))
    b = json.loads(format_json(audit(example_release)))
    for doc in (a, b):
        doc["metadata"].pop("generated_at")
    assert a == b


def test_header_only_audit_of_10_gb_reads_under_1_mb(tmp_path: Path) -> None:
    release = tmp_path / "big"
    release.mkdir()
    weight_map: dict[str, str] = {}
    total = 0
    for i in range(5):
        name = f"model-{i + 1:05d}-of-00005.safetensors"
        tensors = {f"layer.{i}.w{j}": ("BF16", [32768, 8192]) for j in range(4)}
        total += sparse_safetensors(release / name, tensors)
        weight_map |= dict.fromkeys(tensors, name)
    (release / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 5 * 4 * 32768 * 8192 * 2}, "weight_map": weight_map})
    )
    assert total > 10 * 10**9
    report = audit(release)
    assert report.release.total_bytes > 10 * 10**9
    assert report.release.bytes_read < 1_000_000
    assert fact(report, "parameter_count") == 20 * 32768 * 8192
    assert str(fact(report, "shards")).startswith("complete: 5 of 5")
    # The release states no license: that is the only finding.
    assert rule_ids(report) == {"SW-LIC-002"}


def test_missing_and_unlisted_shards(tmp_path: Path) -> None:
    rel = tmp_path / "r"
    rel.mkdir()
    save_file({"a": np.zeros(4, np.float32)}, str(rel / "model-00001-of-00003.safetensors"))
    save_file({"c": np.zeros(4, np.float32)}, str(rel / "model-00003-of-00003.safetensors"))
    index = {
        "weight_map": {
            "a": "model-00001-of-00003.safetensors",
            "b": "model-00002-of-00003.safetensors",
        }
    }
    (rel / "model.safetensors.index.json").write_text(json.dumps(index))
    report = audit(rel)
    assert {"SW-SHARD-004", "SW-SHARD-005"} <= rule_ids(report)
    assert "incomplete" in str(fact(report, "shards"))


@pytest.mark.parametrize(
    ("name", "data", "rule"),
    [
        ("zero.safetensors", b"", "SW-REL-008"),
        # Unrecognised bytes under a .safetensors name are read by its parser.
        ("short.safetensors", b"\x01\x02\x03", "SW-ST-001"),
        (
            "huge-header.safetensors",
            raw_safetensors(b"{}", length=200_000_000) + b" " * 64,
            "SW-ST-001",
        ),
        ("long-header.safetensors", raw_safetensors(b"{}", length=1000), "SW-ST-001"),
        ("u64max.safetensors", raw_safetensors(b"{}", length=2**64 - 1), "SW-ST-001"),
        (
            "trunc.safetensors",
            raw_safetensors(b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', b"\0" * 8),
            "SW-ST-008",
        ),
        (
            "polyglot.safetensors",
            raw_safetensors(
                b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
                b"\0" * 4 + b"PK\x05\x06" + b"\0" * 18,
            ),
            "SW-ST-007",
        ),
        ("badjson.safetensors", raw_safetensors(b'{"w": [1, 2', b""), "SW-ST-001"),
        ("config.json", b'{"model_type": "llama", "hidden_size": 64,,}', "SW-CFG-001"),
        ("generation_config.json", b'{"a": "\xff\xfe"}', "SW-JSON-001"),
        ("model.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 2**40), "SW-GGUF-001"),
        ("model2.gguf", b"GGUF" + struct.pack("<I", 3) + b"\x00" * 5, "SW-GGUF-001"),
    ],
)
def test_malformed_files_are_findings(tmp_path: Path, name: str, data: bytes, rule: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    report = audit(path)
    assert rule in rule_ids(report), [f"{f.rule_id} {f.message}" for f in report.findings]
    for f in report.findings:
        if f.analyzer == "inventory":
            assert f.evidence and f.evidence[0].path == name


def test_weights_named_wrongly_are_judged_by_bytes(tmp_path: Path) -> None:
    save_file({"w": np.ones((2, 3), np.float16)}, str(tmp_path / "pytorch_model.bin"))
    report = audit(tmp_path / "pytorch_model.bin")
    assert report.coverage[0].kind == "safetensors"
    assert "SW-REL-008" in rule_ids(report)
    assert fact(report, "parameter_count") == 6


def test_pickle_is_never_clean_without_the_pickle_analyzer(tmp_path: Path) -> None:
    import pickle

    from seewhy.analyzers.inventory import InventoryAnalyzer

    (tmp_path / "model.safetensors").write_bytes(pickle.dumps({"w": [1, 2, 3]}, protocol=4))
    report = audit(tmp_path, analyzers=[InventoryAnalyzer()])
    cov = report.coverage[0]
    assert cov.kind == "pickle"
    assert cov.status is CoverageStatus.INCONCLUSIVE
    assert report.exit_code(Severity.CRITICAL) == 3
    assert "SW-REL-008" in rule_ids(report)
    # With every analyzer, the pickle scanner checks it and the name mismatch stays.
    full = audit(tmp_path)
    assert full.coverage[0].status is CoverageStatus.PARSED
    assert "SW-REL-008" in rule_ids(full)


def test_ten_thousand_small_files(tmp_path: Path) -> None:
    rel = tmp_path / "many"
    for i in range(100):
        d = rel / f"d{i:03d}"
        d.mkdir(parents=True)
        for j in range(100):
            (d / f"f{j:03d}.txt").write_text(f"file {i} {j}\n")
    report = audit(rel)
    assert report.release.file_count == 10_000
    assert len(report.coverage) == 10_000
    assert all(c.kind == "text" for c in report.coverage)


def test_symlinks_inside_followed_outside_and_loops_reported(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("outside the release\n")
    rel = tmp_path / "rel"
    (rel / "sub").mkdir(parents=True)
    (rel / "sub" / "real.json").write_text('{"a": 1}')
    (rel / "inside.json").symlink_to(rel / "sub" / "real.json")
    (rel / "escape.txt").symlink_to(outside)
    (rel / "loop").symlink_to(rel / "loop")
    (rel / "sub" / "up").symlink_to(rel)
    (rel / "dangling").symlink_to(tmp_path / "nothing")
    report = audit(rel)
    paths = {c.path for c in report.coverage}
    assert paths == {"inside.json", "sub/real.json"}
    by_rule: dict[str, set[str | None]] = {}
    for f in report.findings:
        by_rule.setdefault(f.rule_id, set()).add(f.evidence[0].path)
    assert by_rule["SW-REL-001"] == {"escape.txt"}
    assert by_rule["SW-REL-002"] == {"loop", "sub/up"}
    assert by_rule["SW-REL-003"] == {"dangling"}


def test_hash_matches_hashlib(example_release: Path) -> None:
    import hashlib

    report = audit(example_release, hash_files=True)
    for cov in report.coverage:
        data = (example_release / cov.path).read_bytes()
        assert cov.sha256 == hashlib.sha256(data).hexdigest()
    assert report.release.bytes_read >= report.release.total_bytes


def test_smollm2_gguf(smollm2_gguf: Path) -> None:
    report = audit(smollm2_gguf)
    assert fact(report, "architecture") == "llama"
    assert fact(report, "parameter_count") == 134_515_008
    quant = fact(report, "quantization")
    assert isinstance(quant, list) and quant[0] == "MOSTLY_Q4_1"
    assert fact(report, "chat_template") is True
    assert fact(report, "declared_license") == ["apache-2.0"]
    assert fact(report, "context_length") == 8192
    assert fact(report, "vocab_size") == 49152
    assert report.at_or_above(Severity.LOW) == ()
    assert report.release.bytes_read < 4_000_000


def test_gemma3_gguf(gemma_gguf: Path) -> None:
    report = audit(gemma_gguf)
    assert fact(report, "architecture") == "gemma3"
    assert fact(report, "parameter_count") == 268_098_176
    quant = fact(report, "quantization")
    assert isinstance(quant, list) and quant[0] == "MOSTLY_Q4_K_M"
    # The base model ships no chat template: the report must say so, not guess.
    assert fact(report, "chat_template") is False
    assert fact(report, "declared_license") == ["gemma"]
    assert fact(report, "context_length") == 32768
    assert fact(report, "claimed_size") == "270M"
    assert report.at_or_above(Severity.LOW) == ()


# ------------------------------------------------------------ fail closed on what was not seen


def _covered(path: str, size: int, status: CoverageStatus) -> FileCoverage:
    return FileCoverage(
        path=path,
        size=size,
        kind="config",
        steps=(CoverageStep(analyzer="inventory", status=status),),
    )


def test_load_safety_is_never_safe_with_nothing_to_check() -> None:
    verdict = load_safety_verdict([], [], [])
    assert verdict.value == "inconclusive"
    assert verdict.reason == "the release holds no files: there is nothing to check"
    empty = load_safety_verdict([], [_covered("a.json", 0, CoverageStatus.PARSED)], [])
    assert empty.value == "inconclusive" and "only empty files" in empty.reason
    one = load_safety_verdict([], [_covered("a.json", 2, CoverageStatus.PARSED)], [])
    assert one.value == "safe"


def test_load_safety_names_the_part_it_could_not_see() -> None:
    gap = ReleaseIssue(
        "weights", Problem("release.unreadable", "cannot list folder: Permission denied"), gap=True
    )
    seen = [_covered("config.json", 2, CoverageStatus.PARSED)]
    verdict = load_safety_verdict([], seen, [], [gap])
    assert verdict.value == "inconclusive"
    assert "weights: cannot list folder: Permission denied" in verdict.reason
    assert verdict.evidence[0].path == "weights"


def test_files_past_the_cap_make_the_audit_inconclusive(tmp_path: Path) -> None:
    for name in ("a.json", "b.json", "c.json"):
        (tmp_path / name).write_text('{"x": 1}')
    release = open_release(tmp_path, max_files=2)
    report = audit_release(release, source=str(tmp_path))
    safety = report.verdict("load_safety")
    assert safety is not None and safety.value == "inconclusive"
    assert "c.json" in safety.reason
    assert report.exit_code(Severity.HIGH) == 3
    assert any(f.rule_id == "SW-REL-005" for f in report.findings)


def test_empty_folder_exits_3(tmp_path: Path) -> None:
    report = audit(tmp_path)
    assert report.release.file_count == 0
    assert report.exit_code(Severity.HIGH) == 3
