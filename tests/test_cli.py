"""The command line, run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from builders import without_dac_capabilities
from seewhy._version import __version__


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seewhy", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_version() -> None:
    out = run("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"seewhy {__version__}"


def test_missing_source_is_one_line_exit_2(tmp_path: Path) -> None:
    out = run("audit", str(tmp_path / "nope"))
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert lines[0].startswith("seewhy: error: no such file or folder:")
    assert "Traceback" not in out.stderr
    assert len(lines) <= 2


def test_bad_option_is_usage_error(example_release: Path) -> None:
    out = run("audit", str(example_release), "--format", "pdf")
    assert out.returncode == 2


def test_rules_lists_every_rule_once() -> None:
    from seewhy.report.rules import registry

    out = run("rules")
    assert out.returncode == 0
    ids = [line.split()[0] for line in out.stdout.splitlines()]
    assert ids == [r.id for r in registry().rules]
    assert len(ids) == len(set(ids))


def test_json_report_validates_against_printed_schema(example_release: Path) -> None:
    schema = json.loads(run("schema").stdout)
    out = run("audit", str(example_release), "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    jsonschema.validate(doc, schema)
    assert doc["release"]["name"] == "tiny-llama"


def test_markdown_and_output_file(example_release: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()  # -o never creates folders (tests/test_cli_conventions.py)
    target = tmp_path / "out" / "report.md"
    out = run("audit", str(example_release), "--format", "md", "--output", str(target))
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    assert out.stderr == f"wrote {target}\n"
    text = target.read_text()
    assert text.startswith("## seewhy audit: tiny-llama")
    assert "| Parameters (summed from weight headers) | 106,816" in text


def test_text_output_escapes_markup(tmp_path: Path) -> None:
    rel = tmp_path / "rel"
    rel.mkdir()
    (rel / "[red]x[blink].safetensors").write_bytes(b"not safetensors at all")
    out = run("audit", str(rel))
    assert "[red]x[blink].safetensors" in out.stdout
    assert "\x1b[" not in out.stdout  # no colour when piped


def test_fail_on_threshold_and_exit_codes(tmp_path: Path) -> None:
    bad = tmp_path / "w.safetensors"
    header = b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}'
    bad.write_bytes(len(header).to_bytes(8, "little") + header + b"\x00" * 4)
    assert run("audit", str(bad)).returncode == 1  # high finding, default --fail-on high
    assert run("audit", str(bad), "--fail-on", "critical").returncode == 0


def test_inconclusive_exit_3(tmp_path: Path) -> None:
    # A 7z archive cannot be opened by seewhy: never reported clean.
    (tmp_path / "weights.7z").write_bytes(b"7z\xbc\xaf\x27\x1c" + b"\0" * 64)
    out = run("audit", str(tmp_path))
    assert out.returncode == 3
    assert "Not fully checked" in out.stdout
    assert "inconclusive" in out.stdout


def test_malicious_pickle_exit_1(tmp_path: Path) -> None:
    # GLOBAL os.system, REDUCE: never executed, always critical.
    payload = b"cos\nsystem\n(S'touch " + str(tmp_path / "pwned").encode() + b"'\ntR."
    (tmp_path / "model.bin").write_bytes(payload)
    out = run("audit", str(tmp_path), "--format", "json")
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert any(f["rule_id"] == "SW-PKL-001" for f in doc["findings"])
    safety = [v for v in doc["verdicts"] if v["topic"] == "load_safety"]
    assert safety[0]["value"] == "unsafe"
    assert not (tmp_path / "pwned").exists()


def test_hash_flag_fills_sha256(example_release: Path) -> None:
    out = run("audit", str(example_release), "--format", "json", "--hash")
    doc = json.loads(out.stdout)
    assert all(len(c["sha256"]) == 64 for c in doc["coverage"])
    assert doc["metadata"]["options"]["hash"] is True


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    """A file the auditing user cannot read is an error in coverage and a finding.

    As root, permissions do not bite, so the audit runs under setpriv without
    the capabilities that bypass them.
    """
    (tmp_path / "ok.json").write_text("{}")
    secret = tmp_path / "secret.safetensors"
    secret.write_bytes(b"x" * 100)
    secret.chmod(0o000)
    prefix = without_dac_capabilities()
    if prefix is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable")
    cmd = [*prefix, sys.executable, "-m", "seewhy", "audit", str(tmp_path), "--format", "json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    doc = json.loads(proc.stdout)
    cov = {c["path"]: c for c in doc["coverage"]}
    assert cov["secret.safetensors"]["kind"] == "unreadable"
    assert [s["status"] for s in cov["secret.safetensors"]["steps"]] == ["error"]
    assert any(
        f["rule_id"] == "SW-REL-004" and f["evidence"][0]["path"] == "secret.safetensors"
        for f in doc["findings"]
    )
    assert proc.returncode == 3


def test_manifest_checks_with_sha256sum(example_release: Path, tmp_path: Path) -> None:
    import shutil

    target = tmp_path / "SHA256SUMS"
    out = run("manifest", str(example_release), "--style", "sha256sum", "--output", str(target))
    assert out.returncode == 0, out.stderr
    assert len(target.read_text().splitlines()) == 6
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum not installed")
    check = subprocess.run(
        ["sha256sum", "-c", str(target)], cwd=example_release, capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout


def test_sarif_output(example_release: Path, tmp_path: Path) -> None:
    bad = tmp_path / "rel"
    bad.mkdir()
    (bad / "model.safetensors").write_bytes(b"GGUF" + b"\0" * 40)
    out = run("audit", str(bad), "--format", "sarif")
    doc = json.loads(out.stdout)
    assert doc["version"] == "2.1.0"
    results = doc["runs"][0]["results"]
    assert any(r["ruleId"] == "SW-REL-008" for r in results)
    uris = {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for r in results
        for loc in r.get("locations", [])
    }
    assert "model.safetensors" in uris
