"""``seewhy license``: formats, GGUF metadata, no license, unreadable folders (real processes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from builders import without_dac_capabilities


def run(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "seewhy", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _report_defs() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(run("schema").stdout)
    return dict(schema["$defs"])


def _validate(item: dict[str, Any], definition: str, defs: dict[str, Any]) -> None:
    jsonschema.validate(item, {"$ref": f"#/$defs/{definition}", "$defs": defs})


@pytest.mark.models
def test_license_of_a_gguf_file_is_found_in_its_metadata(smollm2_gguf: Path) -> None:
    out = run("license", str(smollm2_gguf))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[general.license]" in out.stdout
    assert "[Apache-2.0]" in out.stdout
    assert "not identified" not in out.stdout


@pytest.mark.models
def test_license_json_is_the_audits_license_section(smollm2_gguf: Path) -> None:
    lic = run("license", str(smollm2_gguf), "--format", "json")
    assert lic.returncode == 0, lic.stderr
    doc = json.loads(lic.stdout)
    assert doc["identified"] is True
    defs = _report_defs()
    for fact in doc["facts"]:
        _validate(fact, "Fact", defs)
    for finding in doc["findings"]:
        _validate(finding, "Finding", defs)
    audit = json.loads(run("audit", str(smollm2_gguf), "--format", "json").stdout)
    audit_facts = [f for f in audit["facts"] if f["analyzer"] == "license"]
    assert doc["facts"] == audit_facts
    audit_findings = [f for f in audit["findings"] if f["analyzer"] == "license"]
    assert [f["rule_id"] for f in doc["findings"]] == [f["rule_id"] for f in audit_findings]


@pytest.mark.models
def test_license_markdown(smollm2_gguf: Path) -> None:
    out = run("license", str(smollm2_gguf), "--format", "md")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"## seewhy license: {smollm2_gguf.name}\n")
    assert "| Where | License |" in out.stdout
    assert "(`Apache-2.0`)" in out.stdout


def test_license_text_file_still_identified_by_its_words(tmp_path: Path) -> None:
    text = tmp_path / "COPYING.txt"
    text.write_text(
        "Permission is hereby granted, free of charge, to any person obtaining a copy of this "
        'software and associated documentation files (the "Software"), to deal in the Software '
        "without restriction, including without limitation the rights to use, copy, modify, "
        "merge, publish, distribute, sublicense, and/or sell copies of the Software, and to "
        "permit persons to whom the Software is furnished to do so, subject to the following "
        "conditions:\n\nThe above copyright notice and this permission notice shall be included "
        "in all copies or substantial portions of the Software.\n\nTHE SOFTWARE IS PROVIDED "
        '"AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED.\n'
    )
    out = run("license", str(text))
    assert out.returncode == 0, out.stdout
    assert "[MIT]" in out.stdout


def test_no_license_is_said_in_words(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    for fmt in ("text", "md"):
        out = run("license", str(tmp_path), "--format", fmt)
        assert out.returncode == 3
        assert f"no license statement found in {tmp_path}" in out.stdout
    doc = json.loads(run("license", str(tmp_path), "--format", "json").stdout)
    assert doc["identified"] is False
    assert doc["facts"] == []


def _unprivileged() -> tuple[str, ...]:
    """As root, permissions do not bite: run without the capabilities that bypass them."""
    prefix = without_dac_capabilities()
    if prefix is None:
        pytest.skip("running as root without setpriv: cannot make a folder unreadable")
    return tuple(prefix)


def test_unreadable_folder_says_what_could_not_be_read(tmp_path: Path) -> None:
    release = tmp_path / "rel"
    hidden = release / "sub"
    hidden.mkdir(parents=True)
    (release / "README.md").write_text("---\nlicense: apache-2.0\n---\n# m\n")
    (hidden / "LICENSE").write_text("secret")
    hidden.chmod(0o000)
    try:
        out = run("license", str(release), prefix=_unprivileged())
        release.chmod(0o000)
        whole = run("license", str(release), prefix=_unprivileged())
    finally:
        release.chmod(0o755)
        hidden.chmod(0o755)
    assert out.returncode == 3
    assert "[Apache-2.0]" in out.stdout
    assert "could not read sub:" in out.stdout
    assert whole.returncode == 3
    assert f"could not read {release}:" in whole.stdout
    assert "no license statement found in what could be read of" in whole.stdout
