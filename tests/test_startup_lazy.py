"""Start-up: an audit imports a format's parsers only when the release has such a file.

Each test audits a release in a fresh ``seewhy`` process and reads which
modules were imported at exit. A release of one safetensors file, a config and
a model card must not import the ONNX, Keras, TensorFlow, archive, NumPy or
pickle machinery, the Python syntax-tree analyzer or Jinja; releases that do
hold such files import them (so the probe is not vacuous) and are still
analysed by them.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

import seewhy.provenance
from seewhy.analyzers.security import signature

_PROBE = """
import json, sys
from seewhy.cli import main
try:
    main(["audit", "--format", "json", sys.argv[1]])
except SystemExit as exc:
    code = exc.code
print("MODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr)
print("EXIT " + str(code), file=sys.stderr)
"""

# Imported only for a file of their kind (or a template, or Python code).
ON_DEMAND = (
    "seewhy.formats.onnx",
    "seewhy.formats.keras",
    "seewhy.formats.savedmodel",
    "seewhy.formats.protobuf",
    "seewhy.formats.archive",
    "seewhy.formats.numpy",
    "seewhy.formats.pickle_vm",
    "seewhy.formats.shards",
    "seewhy.analyzers.security.formats_onnx",
    "seewhy.analyzers.security.formats_keras",
    "seewhy.analyzers.security.formats_tf",
    "seewhy.analyzers.security.formats_archives",
    "seewhy.analyzers.security.pickle_torch",
    "seewhy.analyzers.security.python_code_ast",
    "seewhy.analyzers.security.templates_tree",
    "seewhy.provenance",
    "jinja2",
    "tarfile",
)


def _audit(folder: Path) -> tuple[set[str], dict[str, object]]:
    """Audit ``folder`` in a new process: the modules loaded at exit and the JSON report."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(folder)], capture_output=True, text=True, check=True
    )
    lines = done.stderr.splitlines()
    modules = json.loads(next(x for x in lines if x.startswith("MODULES ")).split(" ", 1)[1])
    exit_code = int(next(x for x in lines if x.startswith("EXIT ")).split(" ", 1)[1])
    assert exit_code in (0, 1, 3), done.stderr
    report: dict[str, object] = json.loads(done.stdout)
    return set(modules), report


def _tiny_release(folder: Path) -> Path:
    folder.mkdir()
    weight = np.arange(16, dtype=np.float32).reshape(4, 4)
    save_file({"weight": weight}, str(folder / "model.safetensors"))
    config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 4}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny\n\nA test model.\n")
    return folder


def _checked(report: dict[str, object], path: str) -> list[str]:
    """The analyzers that parsed ``path`` (coverage steps with status parsed)."""
    coverage = report["coverage"]
    assert isinstance(coverage, list)
    entry = next(c for c in coverage if c["path"] == path)
    return [s["analyzer"] for s in entry["steps"] if s["status"] == "parsed"]


def test_tiny_safetensors_release_imports_no_other_format(tmp_path: Path) -> None:
    modules, report = _audit(_tiny_release(tmp_path / "tiny"))
    assert sorted(m for m in ON_DEMAND if m in modules) == []
    # The audit ran: the weights were parsed and counted.
    assert "inventory" in _checked(report, "model.safetensors")
    facts = report["facts"]
    assert isinstance(facts, list)
    assert next(f for f in facts if f["key"] == "parameter_count")["value"] == 16


def test_each_kind_imports_its_own_machinery_and_is_analysed(tmp_path: Path) -> None:
    folder = _tiny_release(tmp_path / "mixed")
    (folder / "modeling_tiny.py").write_text("import os\nos.system('echo hi')\n")
    tokenizer = {"tokenizer_class": "X", "chat_template": "{{ ''.__class__ }}"}
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    with tarfile.open(folder / "extra.tar", "w") as tar:
        member = tarfile.TarInfo("../escape.txt")
        member.size = 5
        tar.addfile(member, io.BytesIO(b"hello"))
    modules, report = _audit(folder)
    for needed in (
        "seewhy.analyzers.security.python_code_ast",
        "seewhy.analyzers.security.templates_tree",
        "jinja2",
        "seewhy.analyzers.security.formats_archives",
        "seewhy.formats.archive",
    ):
        assert needed in modules, needed
    # ...and what they found is in the report.
    findings = report["findings"]
    assert isinstance(findings, list)
    rules = {f["rule_id"] for f in findings}
    assert any(r.startswith("SW-PY-") for r in rules), rules
    assert any(r.startswith("SW-TPL-") for r in rules), rules
    assert "SW-ARC-001" in rules, rules  # the tar member that climbs out of the folder
    assert "security.formats" in _checked(report, "extra.tar")
    # Formats the release does not hold stay unimported.
    for absent in ("seewhy.formats.onnx", "seewhy.formats.keras", "seewhy.formats.savedmodel"):
        assert absent not in modules, absent


def test_signature_analyzer_names_the_same_file_as_provenance() -> None:
    # The analyzer imports seewhy.provenance only when this file is present.
    assert signature.SIGNATURE_FILE == seewhy.provenance.SIGNATURE_FILE


def test_parsed_data_cache_is_keyed_by_content(tmp_path: Path) -> None:
    # The rules' TOML is parsed into a JSON cache named by the files' hash; a second
    # load reads the cache, and what it reads equals a fresh parse of the TOML.
    import tomllib
    from importlib import resources

    from seewhy import _datacache

    env = {**os.environ, "SEEWHY_CACHE_DIR": str(tmp_path / "cache")}
    probe = (
        "import json; from seewhy._datacache import load_tomls; "
        "print(json.dumps(load_tomls('seewhy.data.rules')))"
    )
    first = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    cached = sorted((tmp_path / "cache").glob("data-seewhy.data.rules-*.json"))
    assert len(cached) == 1
    second = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    folder = resources.files("seewhy.data.rules")
    fresh = {
        item.name: tomllib.loads(item.read_text("utf-8"))
        for item in sorted(folder.iterdir(), key=lambda t: t.name)
        if item.name.endswith(".toml")
    }
    assert json.loads(first.stdout) == json.loads(second.stdout) == fresh
    # A cache file whose name no longer matches the data is never read: a tampered
    # file under the right name is rejected when its file list differs.
    cached[0].write_text(json.dumps({"x.toml": {"rule": []}}))
    assert _datacache._read(cached[0], sorted(fresh)) is None


def test_data_cache_unwritable_folder_still_loads(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    env = {**os.environ, "SEEWHY_CACHE_DIR": str(blocker / "cache")}
    probe = "from seewhy.report.rules import registry; print(len(registry().rules))"
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert int(done.stdout) > 50


def test_license_patterns_compile_on_use_and_all_compile() -> None:
    # Clause and base-model patterns are compiled on first use; every one of them
    # is valid (a bad pattern in the data fails here, not in a user's audit).
    from seewhy.analyzers.license import kb as kb_module
    from seewhy.analyzers.license.kb import load_kb

    fresh = kb_module._load_clauses()
    assert not any("match" in vars(r) for spec in fresh for r in spec.rules)
    kb = load_kb()
    for spec in kb.clauses:
        for rule in spec.rules:
            assert rule.match.pattern == rule.source
            assert len(rule.before) == len(rule.before_sources)
            assert len(rule.not_before) == len(rule.not_before_sources)
    for base in kb.base_rules:
        assert base.pattern.pattern == base.source


def test_license_fingerprints_read_on_first_use() -> None:
    from seewhy.analyzers.license.kb import load_kb

    kb = load_kb.__wrapped__()  # a fresh knowledge base, not the process-wide one
    assert kb._prints is None  # not read while loading
    assert kb.fingerprints and kb.shingle > 0 and kb.sample_mod > 0
    bare = kb.without_fingerprints()
    assert bare.fingerprints == () and (bare.shingle, bare.sample_mod) == (
        kb.shingle,
        kb.sample_mod,
    )
    assert bare.entries is kb.entries
