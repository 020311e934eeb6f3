"""License statements carry a scope: code, model (the weights), data, documentation, all.

Real corpus cards (``openness/cards/``) and license texts (``licenses/``) are laid out as
releases: README.md beside a real one-tensor safetensors file and config.json. A card
that puts the model under a document the release lacks ("The use of DeepSeek-V3 models is
subject to [the Model License](LICENSE-MODEL)", TeleChat's PDF agreement) has its weights'
license referenced, not included: never the code's MIT, never the front matter's id alone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

from seewhy.analyzers.interface import AuditContext
from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.license import LicenseAnalyzer, ReleaseLicenses, release_licenses
from seewhy.analyzers.license.identify import statement_scope
from seewhy.analyzers.openness import OpennessAnalyzer
from seewhy.audit import audit
from seewhy.release.local import open_release
from seewhy.report.model import Report

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus"
DEEPSEEK_V3 = "deepseek-ai__DeepSeek-V3.md"
TELECHAT = "Tele-AI__telechat-7B.md"
CHATGLM3 = "THUDM__chatglm3-6b.md"
JASCO = "facebook__JASCO.md"
CODE_SENTENCE = "This code repository is licensed under"
MODEL_SENTENCE = "The use of DeepSeek-V3 Base/Chat models is subject to"


def corpus(rel: str) -> Path:
    path = CORPUS / rel
    if not path.is_file():
        pytest.skip(f"shared corpus file {path} not available")
    return path


def card_text(name: str) -> str:
    """A card of the openness corpus, checked against its manifest entry."""
    manifest = json.loads(corpus("openness/cards/manifest.json").read_text(encoding="utf-8"))
    entry = next(e for e in manifest if e["file"] == name)
    data = corpus(f"openness/cards/{name}").read_bytes()
    assert len(data) == entry["bytes"]
    return data.decode("utf-8")


def lay_out(root: Path, card: str, files: dict[str, str] | None = None) -> Path:
    """README.md, model.safetensors, config.json and corpus license texts (name -> corpus)."""
    root.mkdir(parents=True)
    (root / "README.md").write_text(card, encoding="utf-8")
    save_file({"w": np.zeros((2, 2), dtype=np.float32)}, str(root / "model.safetensors"))
    (root / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}) + "\n")
    for name, rel in (files or {}).items():
        shutil.copyfile(corpus(f"licenses/{rel}"), root / name)
    return root


def licenses(root: Path) -> ReleaseLicenses:
    return release_licenses(open_release(root), AuditContext())


def full_audit(root: Path) -> Report:
    report = audit(
        root,
        analyzers=[InventoryAnalyzer(), LicenseAnalyzer(), OpennessAnalyzer()],
        raise_errors=True,
    )
    assert {a.status for a in report.analyzers} == {"completed"}
    return report


def fact(report: Report, key: str) -> Any:
    f = report.fact(key)
    assert f is not None, key
    return f.value


def findings(report: Report, rule: str) -> list[Any]:
    return [f for f in report.findings if f.rule_id == rule]


def card_line(card: str, phrase: str) -> int:
    body = card.split("\n")
    return next(n for n, line in enumerate(body, start=1) if phrase in line)


# ------------------------------------------------------------------ reading the scope


def test_scope_is_read_from_the_sentences_of_real_cards() -> None:
    deepseek = card_text(DEEPSEEK_V3).split("\n")[
        card_line(card_text(DEEPSEEK_V3), CODE_SENTENCE) - 1
    ]
    code, model = deepseek.split(". The use", 1)
    assert statement_scope(code) == "code"
    assert statement_scope("The use" + model) == "model"
    telechat = card_text(TELECHAT)
    chinese = telechat.split("\n")[card_line(telechat, "遵循") - 1].split("。")[0]
    assert statement_scope(chinese) == "model"
    jasco = card_text(JASCO)
    both = jasco.split("\n")[card_line(jasco, "Code is released under") - 1]
    # Each clause is read on its own: up to the first license the subject is the code.
    assert statement_scope(both[: both.index("MIT") + 3]) == "code"
    assert statement_scope(both) == "model"
    # A sentence that names no part, or several, covers everything.
    assert statement_scope("This repository is licensed under the Apache License 2.0.") == "all"
    assert statement_scope("The code and the model weights are released under MIT.") == "all"
    assert statement_scope("The model card is licensed under CC-BY-4.0.") == "documentation"


def test_deepseek_v3_code_license_is_scoped_and_model_license_referenced(tmp_path: Path) -> None:
    card = card_text(DEEPSEEK_V3)
    found = licenses(lay_out(tmp_path / "r", card))
    (mit,) = [m for m in found.licenses if m.license_id == "MIT"]
    assert mit.scope == "code" and mit.source == "card-body"
    assert CODE_SENTENCE in (mit.excerpt or "")
    (ref,) = found.model_references
    assert ref.target == "LICENSE-MODEL"
    assert ref.location.line == card_line(card, MODEL_SENTENCE)
    assert (ref.excerpt or "").startswith(MODEL_SENTENCE)
    assert [r.scope for r in found.references if r.target == "LICENSE-CODE"] == ["code"]


# ------------------------------------------------------------------ the weights' license


def test_deepseek_v3_weights_are_not_open_weights_under_mit(tmp_path: Path) -> None:
    card = card_text(DEEPSEEK_V3)
    report = full_audit(lay_out(tmp_path / "r", card))
    verdict = report.verdict("openness")
    assert verdict is not None
    assert verdict.value == "unknown"
    assert "referenced, not included" in verdict.reason and "LICENSE-MODEL" in verdict.reason
    assert "MIT covers the code only" in verdict.reason
    lic = fact(report, "openness.license")
    assert lic["state"] == "unidentified" and lic["license"] is None
    assert lic["referenced"] == "LICENSE-MODEL"
    # The finding quotes both sentences, each at its line.
    (finding,) = findings(report, "SW-OPEN-006")
    quotes = [e.excerpt or "" for e in finding.evidence]
    assert any(q.startswith(MODEL_SENTENCE) for q in quotes)
    assert any(q.startswith(CODE_SENTENCE) for q in quotes)
    line = card_line(card, MODEL_SENTENCE)
    assert all(e.line == line for e in finding.evidence)
    # MOF: the weights get no license; the code components keep the code's MIT.
    params = fact(report, "openness.mof.model_parameters_final")
    assert params["mot"] == "unlicensed" and params["license"] is None
    inference = fact(report, "openness.mof.inference_code")
    assert inference["mot"] == "included" and inference["license"] == "MIT"


def test_telechat_front_matter_id_alone_is_not_the_weights_license(tmp_path: Path) -> None:
    card = card_text(TELECHAT)
    assert "license: apache-2.0" in card
    report = full_audit(lay_out(tmp_path / "r", card))
    verdict = report.verdict("openness")
    assert verdict is not None
    assert verdict.value == "unknown"
    assert "TeleChat模型社区许可协议.pdf" in verdict.reason
    assert "Apache-2.0 (README.md:2) is not taken as the weights' license" in verdict.reason
    lic = fact(report, "openness.license")
    assert lic["state"] == "unidentified" and lic["others"] == "Apache-2.0"
    (finding,) = findings(report, "SW-OPEN-006")
    quotes = [e.excerpt or "" for e in finding.evidence]
    assert any("遵循《[TeleChat模型社区许可协议]" in q for q in quotes)
    assert "license: apache-2.0" in quotes
    for component in ("model_parameters_final", "model_architecture", "inference_code"):
        assert fact(report, f"openness.mof.{component}")["mot"] != "included", component


def test_model_license_shipped_in_the_release_decides(tmp_path: Path) -> None:
    """The real layout: LICENSE-CODE (MIT) and LICENSE-MODEL (the DeepSeek License)."""
    root = lay_out(
        tmp_path / "r",
        card_text(DEEPSEEK_V3),
        {"LICENSE-CODE": "mit__mit.txt", "LICENSE-MODEL": "deepseek__license-1.0.txt"},
    )
    found = licenses(root)
    by_path = {m.location.path: m for m in found.licenses if m.source == "text"}
    assert by_path["LICENSE-CODE"].license_id == "MIT"
    assert by_path["LICENSE-CODE"].scope == "code"
    assert by_path["LICENSE-MODEL"].scope == "model"
    assert not found.model_references
    report = full_audit(root)
    lic = fact(report, "openness.license")
    assert lic["license"] != "MIT" and lic["state"] in ("restricted", "not-open")
    verdict = report.verdict("openness")
    assert verdict is not None and verdict.value == "restricted-weights"
    assert not findings(report, "SW-OPEN-006")
    assert fact(report, "openness.mof.inference_code")["license"] == "MIT"


def test_code_license_file_present_model_license_missing(tmp_path: Path) -> None:
    root = lay_out(tmp_path / "r", card_text(DEEPSEEK_V3), {"LICENSE-CODE": "mit__mit.txt"})
    found = licenses(root)
    (text,) = [m for m in found.licenses if m.source == "text"]
    assert text.license_id == "MIT" and text.scope == "code"
    report = full_audit(root)
    verdict = report.verdict("openness")
    assert verdict is not None and verdict.value == "unknown"
    assert "LICENSE-MODEL" in verdict.reason
    assert len(findings(report, "SW-OPEN-006")) == 1


def test_code_only_license_leaves_the_weights_unlicensed(tmp_path: Path) -> None:
    """The DeepSeek-V3 card with its model sentence cut: only the code is licensed."""
    card = card_text(DEEPSEEK_V3)
    line = card.split("\n")[card_line(card, MODEL_SENTENCE) - 1]
    cut = card.replace(line, line.split(" The use of", 1)[0])
    report = full_audit(lay_out(tmp_path / "r", cut))
    verdict = report.verdict("openness")
    assert verdict is not None and verdict.value == "unlicensed-weights"
    assert "MIT covers the code only" in verdict.reason
    assert not findings(report, "SW-OPEN-006")


def test_chatglm_two_clause_sentences_scope_each_link(tmp_path: Path) -> None:
    card = card_text(CHATGLM3)
    found = licenses(lay_out(tmp_path / "r", card))
    scopes = {(r.target, r.location.line): r.scope for r in found.references}
    english = card_line(card, "The code in this repository is open-sourced under")
    chinese = card_line(card, "本仓库的代码依照")
    for line in (english, chinese):
        assert scopes[("LICENSE", line)] == "code"
        assert scopes[("MODEL_LICENSE", line)] == "model"
    report = full_audit(lay_out(tmp_path / "shipped", card, {"LICENSE": "apache__2.0.txt"}))
    # The Apache-2.0 LICENSE is the code's: the weights' license is still MODEL_LICENSE.
    verdict = report.verdict("openness")
    assert verdict is not None and verdict.value != "open-weights"
    assert "MODEL_LICENSE" in verdict.reason


def test_unscoped_statements_keep_their_meaning(tmp_path: Path) -> None:
    """A card whose body names its model's license (polyglot-ko) is unchanged: open."""
    card = card_text("EleutherAI__polyglot-ko-12.8b.md")
    found = licenses(lay_out(tmp_path / "r", card))
    assert not found.model_references
    assert all(m.scope in ("all", "model") for m in found.licenses)
    verdict = full_audit(tmp_path / "r").verdict("openness")
    assert verdict is not None and verdict.value in ("open-weights", "open-source-ai")
