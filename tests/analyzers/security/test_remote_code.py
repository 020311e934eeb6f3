"""The remote-code analyzer on real release folders: auto_map, cross-repo code, custom_generate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seewhy.analyzers.interface import Analyzer, AuditContext
from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.security.python_code import PythonCodeAnalyzer
from seewhy.analyzers.security.remote_code import (
    JsonScan,
    RemoteCodeAnalyzer,
    parse_class_ref,
    scan_json_file,
)
from seewhy.audit import audit
from seewhy.release.local import open_release
from seewhy.report.model import CoverageStatus, Evidence, Finding, Report, Severity

ANALYZERS: list[Analyzer] = [InventoryAnalyzer(), RemoteCodeAnalyzer()]

CONFIG = {
    "_name_or_path": "acme/acme-7b",
    "architectures": ["AcmeForCausalLM"],
    "auto_map": {
        "AutoConfig": "configuration_acme.AcmeConfig",
        "AutoModel": "modeling_acme.AcmeModel",
        "AutoModelForCausalLM": "modeling_acme.AcmeForCausalLM",
    },
    "hidden_size": 64,
    "model_type": "acme",
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.44.2",
    "vocab_size": 256,
}

TOKENIZER_CONFIG = {
    "add_bos_token": True,
    "auto_map": {"AutoTokenizer": ["tokenization_acme.AcmeTokenizer", None]},
    "bos_token": "<s>",
    "clean_up_tokenization_spaces": False,
    "eos_token": "</s>",
    "model_max_length": 4096,
    "tokenizer_class": "AcmeTokenizer",
}

PREPROCESSOR_CONFIG = {
    "auto_map": {
        "AutoProcessor": "processing_acme.AcmeProcessor",
        "AutoImageProcessor": "image_processing_acme.AcmeImageProcessor",
    },
    "image_mean": [0.5, 0.5, 0.5],
    "image_processor_type": "AcmeImageProcessor",
}


def write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2) + "\n")


def remote_release(root: Path) -> Path:
    """A release that uses remote code the ordinary way: every module present."""
    root.mkdir()
    write_json(root / "config.json", CONFIG)
    write_json(root / "tokenizer_config.json", TOKENIZER_CONFIG)
    write_json(root / "preprocessor_config.json", PREPROCESSOR_CONFIG)
    write_json(root / "generation_config.json", {"bos_token_id": 1, "eos_token_id": 2})
    (root / "configuration_acme.py").write_text(
        "from transformers.configuration_utils import PretrainedConfig\n\n\n"
        "class AcmeConfig(PretrainedConfig):\n    model_type = 'acme'\n"
    )
    (root / "modeling_acme.py").write_text(
        "import torch\nfrom transformers.modeling_utils import PreTrainedModel\n"
        "from .configuration_acme import AcmeConfig\nfrom .layers_acme import AcmeBlock\n\n\n"
        "class AcmeModel(PreTrainedModel):\n    config_class = AcmeConfig\n\n\n"
        "class AcmeForCausalLM(AcmeModel):\n    pass\n"
    )
    (root / "layers_acme.py").write_text(
        "import torch\n\n\nclass AcmeBlock(torch.nn.Module):\n    pass\n"
    )
    (root / "tokenization_acme.py").write_text(
        "from transformers import PreTrainedTokenizer\n\n\n"
        "class AcmeTokenizer(PreTrainedTokenizer):\n    pass\n"
    )
    (root / "processing_acme.py").write_text(
        "from transformers.processing_utils import ProcessorMixin\n\n\n"
        "class AcmeProcessor(ProcessorMixin):\n    pass\n"
    )
    (root / "image_processing_acme.py").write_text(
        "from transformers.image_processing_utils import BaseImageProcessor\n\n\n"
        "class AcmeImageProcessor(BaseImageProcessor):\n    pass\n"
    )
    (root / "README.md").write_text(
        "---\nlicense: apache-2.0\nlibrary_name: transformers\n---\n# Acme 7B\n\n"
        "```python\nfrom transformers import AutoModelForCausalLM\n"
        'model = AutoModelForCausalLM.from_pretrained("acme/acme-7b", trust_remote_code=True)\n'
        "```\n"
    )
    return root


def findings(report: Report, rule: str) -> list[Finding]:
    return [f for f in report.findings if f.rule_id == rule]


def rc_step(report: Report, path: str) -> CoverageStatus | None:
    cov = next(c for c in report.coverage if c.path == path)
    steps = [s for s in cov.steps if s.analyzer == "security.remote_code"]
    return steps[0].status if steps else None


def test_ordinary_remote_code_release(tmp_path: Path) -> None:
    report = audit(remote_release(tmp_path / "acme-7b"), analyzers=ANALYZERS)
    assert {f.rule_id for f in report.findings if f.analyzer == "security.remote_code"} == {
        "SW-RC-001",
        "SW-RC-006",
    }
    # One finding per file, grouped by the report into one finding of the rule
    # whose evidence still names every file and every reference.
    rc = findings(report, "SW-RC-001")
    by_file: dict[str, list[Evidence]] = {}
    for f in rc:
        assert f.severity is Severity.MEDIUM
        assert f.cwe == "CWE-94"
        for ev in f.evidence:
            by_file.setdefault(ev.path or "", []).append(ev)
    assert set(by_file) == {"config.json", "tokenizer_config.json", "preprocessor_config.json"}
    assert sum(f.occurrences for f in rc) == 3
    messages = " ".join(f.message for f in rc)
    assert "configuration_acme.py" in messages and "modeling_acme.py" in messages
    # evidence: the line of each reference, its pointer and the reference itself
    text = (tmp_path / "acme-7b" / "config.json").read_text().splitlines()
    for ev in by_file["config.json"]:
        assert ev.pointer is not None and ev.pointer.startswith("/auto_map/")
        assert ev.line is not None and ev.excerpt is not None
        assert ev.excerpt in text[ev.line - 1]
    assert [e.pointer for e in by_file["tokenizer_config.json"]] == ["/auto_map/AutoTokenizer/0"]
    card = findings(report, "SW-RC-006")[0]
    assert card.severity is Severity.INFO and card.evidence[0].line == 9
    for path in ("config.json", "tokenizer_config.json", "generation_config.json"):
        assert rc_step(report, path) is CoverageStatus.PARSED


def test_cross_repo_reference_is_high(tmp_path: Path) -> None:
    root = remote_release(tmp_path / "acme")
    cfg = dict(CONFIG)
    cfg["auto_map"] = {
        "AutoConfig": "configuration_acme.AcmeConfig",
        "AutoModelForCausalLM": "evil-org/shared-code--modeling_shared.SharedForCausalLM",
    }
    write_json(root / "config.json", cfg)
    report = audit(root, analyzers=ANALYZERS)
    (cross,) = findings(report, "SW-RC-002")
    assert cross.severity is Severity.HIGH and cross.cwe == "CWE-829"
    assert "evil-org/shared-code" in cross.message and "default branch" in cross.message
    ev = cross.evidence[0]
    assert ev.path == "config.json" and ev.pointer == "/auto_map/AutoModelForCausalLM"
    assert ev.excerpt == "evil-org/shared-code--modeling_shared.SharedForCausalLM"
    lines = (root / "config.json").read_text().splitlines()
    assert ev.line is not None and ev.excerpt in lines[ev.line - 1]
    # the remote module is not expected in this release
    assert not [f for f in findings(report, "SW-RC-003") if "modeling_shared" in f.message]


def test_missing_module_and_missing_relative_import(tmp_path: Path) -> None:
    root = remote_release(tmp_path / "acme")
    (root / "tokenization_acme.py").unlink()
    (root / "layers_acme.py").unlink()
    report = audit(root, analyzers=ANALYZERS)
    messages = [f.message for f in findings(report, "SW-RC-003")]
    assert any("tokenization_acme.py" in m for m in messages), messages
    assert any("layers_acme.py" in m and "relative" in m for m in messages), messages
    rel = next(f for f in findings(report, "SW-RC-003") if "relative" in f.message)
    assert rel.evidence[0].path == "modeling_acme.py" and rel.evidence[0].line == 4


def test_nested_auto_map_and_module_beside_config(tmp_path: Path) -> None:
    root = tmp_path / "multi"
    write_json(
        root / "text_encoder" / "config.json",
        {"model_type": "acme", "sub": {"auto_map": {"AutoModel": "enc.Encoder"}}},
    )
    (root / "text_encoder" / "enc.py").write_text("class Encoder: pass\n")
    report = audit(root, analyzers=ANALYZERS)
    (f,) = findings(report, "SW-RC-001")
    ev = f.evidence[0]
    assert (ev.path, ev.pointer, ev.line) == (
        "text_encoder/config.json",
        "/sub/auto_map/AutoModel",
        5,
    )
    assert not findings(report, "SW-RC-003")


@pytest.mark.parametrize(
    ("ref", "problem"),
    [
        ("modeling.X", None),
        ("sub/modeling.X", None),
        ("org/repo--modeling.X", None),
        ("repo--modeling.X", None),
        ("a--b--modeling.X", "more than one"),
        ("modeling", "one dot"),
        ("a.b.C", "one dot"),
        ("../evil.X", "climbs"),
        ("/etc/passwd.X", "absolute"),
        ("C:\\x.X", "absolute"),
        ("modeling.", "class name"),
        ("mod ule.X", "odd characters"),
        ("bad repo!--m.X", "repository id"),
        (".X", "empty"),
    ],
)
def test_parse_class_ref(ref: str, problem: str | None) -> None:
    parsed = parse_class_ref(ref)
    if problem is None:
        assert parsed.problem is None, parsed
        assert parsed.module_file.endswith(".py")
    else:
        assert parsed.problem is not None and problem in parsed.problem, parsed


def test_malformed_values(tmp_path: Path) -> None:
    root = tmp_path / "bad"
    write_json(
        root / "config.json",
        {"model_type": "x", "auto_map": {"AutoModel": 42, "AutoConfig": "../../etc/x.Y"}},
    )
    report = audit(root, analyzers=ANALYZERS)
    rc5 = findings(report, "SW-RC-005")
    assert len(rc5) == 2
    assert {e.pointer for f in rc5 for e in f.evidence} == {
        "/auto_map/AutoModel",
        "/auto_map/AutoConfig",
    }


def test_legacy_list_auto_map_in_tokenizer_config(tmp_path: Path) -> None:
    root = tmp_path / "legacy"
    write_json(root / "tokenizer_config.json", {"auto_map": ["tok.Slow", "tok.Fast"]})
    (root / "tok.py").write_text("class Slow: pass\nclass Fast: pass\n")
    report = audit(root, analyzers=ANALYZERS)
    (f,) = findings(report, "SW-RC-001")
    assert [e.pointer for e in f.evidence] == ["/auto_map/0", "/auto_map/1"]


def test_escaped_key_is_still_found(tmp_path: Path) -> None:
    root = tmp_path / "escaped"
    root.mkdir()
    (root / "config.json").write_text(
        '{"model_type": "x",\n "\\u0061uto_map": {"AutoModel": "m.M"}}\n'
    )
    report = audit(root, analyzers=ANALYZERS)
    (f,) = findings(report, "SW-RC-001")
    assert f.evidence[0].line == 2
    assert findings(report, "SW-RC-003")  # m.py is missing


def test_custom_generate(tmp_path: Path) -> None:
    root = tmp_path / "gen"
    (root / "custom_generate").mkdir(parents=True)
    (root / "custom_generate" / "generate.py").write_text(
        "import torch\n\n\ndef generate(model, input_ids, **kwargs):\n    return input_ids\n"
    )
    (root / "custom_generate" / "requirements.txt").write_text("torch\n")
    write_json(root / "config.json", {"model_type": "llama"})
    report = audit(root, analyzers=ANALYZERS)
    (f,) = findings(report, "SW-RC-004")
    assert f.evidence[0].path == "custom_generate/generate.py"
    assert "generate.py" in f.message


def test_unparseable_config_is_inconclusive(tmp_path: Path) -> None:
    root = tmp_path / "broken"
    root.mkdir()
    (root / "config.json").write_text('{"model_type": "x", "auto_map": {"AutoModel": ')
    (root / "tokenizer_config.json").write_bytes(b'{"auto_map": "\xff\xfe"}')
    report = audit(root, analyzers=ANALYZERS)
    assert len(findings(report, "SW-RC-007")) == 2
    assert rc_step(report, "config.json") is CoverageStatus.INCONCLUSIVE
    assert rc_step(report, "tokenizer_config.json") is CoverageStatus.INCONCLUSIVE


def test_deep_and_huge_json_never_raise(tmp_path: Path) -> None:
    root = tmp_path / "hostile"
    root.mkdir()
    (root / "config.json").write_text('{"auto_map": ' + "[" * 100_000 + "]" * 100_000 + "}")
    refs = {f"AutoModel{i}": f"m{i}.C" for i in range(2000)}
    write_json(root / "processor_config.json", {"auto_map": refs})
    report = audit(root, analyzers=ANALYZERS, raise_errors=True)
    assert findings(report, "SW-RC-007")  # too deep: not checked, said so
    assert rc_step(report, "processor_config.json") is CoverageStatus.INCONCLUSIVE  # over the cap


def test_scan_is_shared_through_the_cache(tmp_path: Path) -> None:
    root = remote_release(tmp_path / "acme")
    release = open_release(root)
    ctx = AuditContext()
    file = release.file("config.json")
    assert file is not None
    first = scan_json_file(release, file, ctx)
    assert isinstance(first, JsonScan) and first.auto_maps
    before = release.meter.bytes_read
    assert scan_json_file(release, file, ctx) is first
    assert release.meter.bytes_read == before


def test_payload_module_with_python_analyzer_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    root = remote_release(tmp_path / "acme")
    (root / "modeling_acme.py").write_text(
        f"import os\nos.system('touch {marker}')\n\n\nclass AcmeModel:\n    pass\n"
        "class AcmeForCausalLM:\n    pass\n"
    )
    report = audit(root, analyzers=[*ANALYZERS, PythonCodeAnalyzer()])
    assert not marker.exists()
    assert findings(report, "SW-RC-001") and findings(report, "SW-PY-030")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=30),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
        max_leaves=20,
    )
)
def test_random_auto_map_values_never_crash(value: object) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "r"
        write_json(root / "config.json", {"model_type": "x", "auto_map": value})
        audit(root, analyzers=[RemoteCodeAnalyzer()], raise_errors=True)
