"""`seewhy check` as a real process: the example policy fails a Llama-licensed pickle
release and passes an Apache-2.0 safetensors one (weights written by torch and by the
safetensors library), policy errors exit 2 with the key and line, and the CI files
shipped in the repository run this command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.numpy import save_file

from hub_server import HubServer

ROOT = Path(__file__).resolve().parents[1]
LICENSES = ROOT.parent / "shared" / "corpus" / "licenses"
EXAMPLE = ROOT / "examples" / "policy.yaml"


def seewhy(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seewhy", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch = pytest.importorskip("torch")
    base = tmp_path_factory.mktemp("releases")
    good = base / "tiny-apache"
    good.mkdir()
    save_file({"w": np.ones((8, 8), dtype=np.float32)}, str(good / "model.safetensors"))
    shutil.copyfile(LICENSES / "apache__2.0.txt", good / "LICENSE")
    (good / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny\n", encoding="utf-8")
    bad = base / "tiny-llama"
    bad.mkdir()
    torch.save({"w": torch.ones(8, 8)}, bad / "pytorch_model.bin")
    shutil.copyfile(LICENSES / "llama__3.1-license.txt", bad / "LICENSE")
    (bad / "README.md").write_text("---\nlicense: llama3.1\n---\n# tiny\n", encoding="utf-8")
    return {"good": good, "bad": bad}


def test_example_policy_fails_the_llama_pickle_release_with_evidence(
    releases: dict[str, Path],
) -> None:
    out = seewhy("check", "--policy", EXAMPLE, releases["bad"])
    assert out.returncode == 1, out.stderr
    text = out.stdout
    assert f"FAIL  {releases['bad']}" in text
    assert "license.allow: Llama 3.1 Community License Agreement" in text
    assert "license.forbid_restrictions [SW-LIC-010]" in text
    assert "700 million monthly active users" in text  # the quoted clause
    assert "weights.formats: pytorch_model.bin is pytorch-zip" in text
    assert "LICENSE:1" in text  # path:line of the evidence
    assert "0 of 1 source meets" in text


def test_example_policy_passes_the_apache_safetensors_release(releases: dict[str, Path]) -> None:
    out = seewhy("check", "--policy", EXAMPLE, releases["good"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"PASS  {releases['good']}" in out.stdout


def test_several_sources_exit_1_and_json_lists_each(releases: dict[str, Path]) -> None:
    out = seewhy("check", "-p", EXAMPLE, releases["good"], releases["bad"], "--format", "json")
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert doc["kind"] == "seewhy.check" and doc["passed"] is False
    good, bad = doc["sources"]
    assert good["passed"] is True and good["violations"] == []
    assert bad["passed"] is False and bad["release"] == "tiny-llama"
    by_rule = {v["rule"]: v for v in bad["violations"]}
    assert {"license.allow", "license.forbid_restrictions", "weights.formats"} <= set(by_rule)
    [weights] = by_rule["weights.formats"]["evidence"]
    assert weights == {
        "path": "pytorch_model.bin",
        "offset": 0,
        "note": "file kind pytorch-zip, from its bytes",
    }


def test_a_saved_report_is_checked_like_the_release(
    releases: dict[str, Path], tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    audited = seewhy("audit", releases["bad"], "--format", "json", "-o", report)
    assert audited.returncode in (0, 1, 3), audited.stderr
    direct = json.loads(seewhy("check", "-p", EXAMPLE, releases["bad"], "-f", "json").stdout)
    saved = seewhy("check", "-p", EXAMPLE, report, "-f", "json")
    assert saved.returncode == 1
    assert (
        json.loads(saved.stdout)["sources"][0]["violations"] == direct["sources"][0]["violations"]
    )


def test_hub_repositories_are_checked_without_downloading_them(
    releases: dict[str, Path], hub: HubServer, tmp_path: Path
) -> None:
    """`seewhy check POLICY org/name` against the stand-in Hub (tests/hub_server.py)."""
    shutil.copytree(releases["good"], hub.root / "acme" / "tiny-apache")
    shutil.copytree(releases["bad"], hub.root / "acme" / "tiny-llama")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env |= {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf")}
    out = subprocess.run(
        [sys.executable, "-m", "seewhy", "check", "-p", str(EXAMPLE), "acme/tiny-apache",
         "acme/tiny-llama"],
        capture_output=True, text=True, timeout=300, check=False, env=env,
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    assert "PASS  acme/tiny-apache" in out.stdout
    assert "FAIL  acme/tiny-llama" in out.stdout
    assert "weights.formats: pytorch_model.bin is pytorch-zip" in out.stdout
    assert "Llama 3.1 Community License Agreement" in out.stdout


def test_unknown_key_is_exit_2_with_key_and_line(releases: dict[str, Path], tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\nlicense:\n  allow: [MIT]\nweights:\n  format: [gguf]\n", encoding="utf-8"
    )
    out = seewhy("check", "--policy", policy, releases["good"])
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and out.stdout == ""
    [line] = [x for x in out.stderr.splitlines() if x.startswith("seewhy: error:")]
    assert f"{policy}:5: unknown key 'weights.format'" in line


def test_usage_errors_are_exit_2(releases: dict[str, Path], tmp_path: Path) -> None:
    missing_policy = seewhy("check", "--policy", tmp_path / "none.yaml", releases["good"])
    assert missing_policy.returncode == 2 and "cannot read policy" in missing_policy.stderr
    no_policy = seewhy("check", releases["good"])
    assert no_policy.returncode == 2 and "--policy" in no_policy.stderr
    missing_source = seewhy("check", "--policy", EXAMPLE, tmp_path / "nothing", releases["good"])
    assert missing_source.returncode == 2
    assert "no such file or folder" in missing_source.stderr
    assert f"PASS  {releases['good']}" in missing_source.stdout


def test_claims_rule_reads_evidence_runs(tmp_path: Path) -> None:
    from builders import made_run, write_export
    from test_policy import CARD

    def _export(path: Path, right: int) -> Path:
        return write_export(path, made_run("tiny", set(range(right)), n=40))

    root = tmp_path / "claims"
    root.mkdir()
    (root / "README.md").write_text(CARD, encoding="utf-8")
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nclaims: {must_reproduce: true}\n", encoding="utf-8")
    unchecked = seewhy("check", "-p", policy, root)
    assert unchecked.returncode == 1 and "--evidence" in unchecked.stdout
    good = seewhy("check", "-p", policy, root, "--evidence", _export(tmp_path / "g.json", 22))
    assert good.returncode == 0, good.stdout + good.stderr
    low = seewhy("check", "-p", policy, root, "--evidence", _export(tmp_path / "b.json", 4))
    assert low.returncode == 1 and "not reproduced" in low.stdout


def test_ci_files_run_seewhy_check() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    [hook] = hooks
    assert hook["id"] == "seewhy-check" and hook["entry"] == "seewhy check"
    assert hook["pass_filenames"] is False and "--policy" in hook["args"]
    workflow = yaml.safe_load(
        (ROOT / "examples" / "github-actions" / "seewhy-check.yml").read_text(encoding="utf-8")
    )
    steps = workflow["jobs"]["policy"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert any(r.startswith("seewhy check --policy policy.yaml") for r in runs)


def test_help_lists_check() -> None:
    root = seewhy("--help")
    assert root.returncode == 0 and "check" in root.stdout
    own = seewhy("check", "--help")
    assert own.returncode == 0 and "--policy" in own.stdout and "Exit codes" in own.stdout
