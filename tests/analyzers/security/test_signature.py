"""The signature analyzer: facts, findings and coverage for a release's model.sig.

Real signatures come from the model-signing library with a locally generated
key (skipped where the ``signing`` extra is missing); the rest use bundles
built by hand, which need no optional dependency.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

from seewhy.analyzers.interface import AuditContext, AuditOptions
from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.security.signature import FACT_KEY, MAX_FILE_EVIDENCE, SignatureAnalyzer
from seewhy.audit import audit
from seewhy.provenance import SIGNATURE_FILE, SignatureTrust
from seewhy.release.local import open_release
from seewhy.report.model import CoverageStatus, Report, Severity
from seewhy.report.rules import registry
from seewhy.report.sarif import format_sarif

RULES = ("SW-SIG-001", "SW-SIG-002", "SW-SIG-003", "SW-SIG-004", "SW-SIG-005", "SW-SIG-006")


def _release(root: Path) -> Path:
    root.mkdir()
    save_file({"w": np.arange(16, dtype=np.float32).reshape(4, 4)}, str(root / "model.safetensors"))
    (root / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return root


def _audit(root: Path, trust: SignatureTrust | None = None, hash_files: bool = True) -> Report:
    return audit(
        root,
        hash_files=hash_files,
        analyzers=[InventoryAnalyzer(), SignatureAnalyzer(trust)],
        raise_errors=True,
        now=lambda: datetime(2025, 1, 1, tzinfo=UTC),
    )


def _rule_ids(report: Report) -> list[str]:
    return sorted(f.rule_id for f in report.findings if f.analyzer == "security.signature")


def _hand_bundle(root: Path) -> dict[str, Any]:
    """A structurally valid model-signing bundle over every file (fake signature bytes)."""
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    resources = [
        {
            "name": n,
            "algorithm": "sha256",
            "digest": hashlib.sha256((root / n).read_bytes()).hexdigest(),
        }
        for n in names
    ]
    root_digest = hashlib.sha256(b"".join(bytes.fromhex(r["digest"]) for r in resources))
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": root.name, "digest": {"sha256": root_digest.hexdigest()}}],
        "predicateType": "https://model_signing/signature/v1.0",
        "predicate": {
            "serialization": {"method": "files", "hash_type": "sha256", "allow_symlinks": False},
            "resources": resources,
        },
    }
    return {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": "cd" * 32}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(json.dumps(statement).encode()).decode(),
            "payloadType": "application/vnd.in-toto+json",
            "signatures": [{"sig": base64.b64encode(b"fake").decode(), "keyid": ""}],
        },
    }


# --------------------------------------------------------------------- rules


def test_rules_are_registered() -> None:
    reg = registry()
    for rule_id in RULES:
        rule = reg.get(rule_id)
        assert rule.analyzer == "security.signature"
        assert len(rule.help) > 40
    assert reg.get("SW-SIG-001").severity is Severity.HIGH
    assert reg.get("SW-SIG-001").cwe == "CWE-345"
    assert reg.get("SW-SIG-002").severity is Severity.MEDIUM
    assert reg.get("SW-SIG-003").severity is Severity.INFO
    assert reg.get("SW-SIG-004").severity is Severity.INFO


# --------------------------------------------------------------------- no model-signing needed


def test_unsigned_release_gets_a_fact_and_no_finding(tmp_path: Path) -> None:
    report = _audit(_release(tmp_path / "rel"))
    fact = report.fact(FACT_KEY)
    assert fact is not None
    assert fact.value == {"status": "unsigned", "verified": False}
    assert fact.analyzer == "security.signature"
    assert _rule_ids(report) == []
    assert all(a.status == "completed" for a in report.analyzers)


def test_bogus_signature_is_a_high_finding(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel")
    (root / SIGNATURE_FILE).write_text('{"not": "a bundle"}')
    report = _audit(root)
    assert _rule_ids(report) == ["SW-SIG-001"]
    finding = next(f for f in report.findings if f.rule_id == "SW-SIG-001")
    assert finding.severity is Severity.HIGH
    assert finding.evidence[0].path == SIGNATURE_FILE
    assert "not a model-signing Sigstore bundle" in finding.message
    fact = report.fact(FACT_KEY)
    assert fact is not None and isinstance(fact.value, dict)
    assert fact.value["status"] == "failed"
    assert fact.value["verified"] is False
    cov = next(c for c in report.coverage if c.path == SIGNATURE_FILE)
    step = next(s for s in cov.steps if s.analyzer == "security.signature")
    assert step.status is CoverageStatus.INCONCLUSIVE


def test_changed_file_fails_even_without_a_key(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel")
    (root / SIGNATURE_FILE).write_text(json.dumps(_hand_bundle(root)))
    (root / "config.json").write_text(json.dumps({"model_type": "evil"}))
    report = _audit(root)
    assert _rule_ids(report) == ["SW-SIG-001"]
    finding = report.findings[0]
    assert [e.path for e in finding.evidence] == [SIGNATURE_FILE, "config.json"]
    assert "changed since" in (finding.evidence[1].note or "")


def test_without_hashing_nothing_is_compared(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel")
    (root / SIGNATURE_FILE).write_text(json.dumps(_hand_bundle(root)))
    (root / "config.json").write_text(json.dumps({"model_type": "evil"}))
    report = _audit(root, hash_files=False)
    assert "SW-SIG-001" not in _rule_ids(report)  # nothing was hashed, nothing compared
    fact = report.fact(FACT_KEY)
    assert fact is not None and isinstance(fact.value, dict)
    assert fact.value["status"] == "unverified"


def test_library_missing_is_info(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in sys.modules if n.split(".")[0] == "model_signing"]:
        monkeypatch.delitem(sys.modules, name)
    for name in ("model_signing", "model_signing.hashing", "model_signing.verifying"):
        monkeypatch.setitem(sys.modules, name, None)
    root = _release(tmp_path / "rel")
    (root / SIGNATURE_FILE).write_text(json.dumps(_hand_bundle(root)))
    report = _audit(root)
    assert _rule_ids(report) == ["SW-SIG-003"]
    finding = report.findings[0]
    assert finding.severity is Severity.INFO
    assert "model-signing not installed" in finding.message
    assert "cd" * 32 in finding.message  # who signed, from the bundle
    fact = report.fact(FACT_KEY)
    assert fact is not None and isinstance(fact.value, dict)
    assert fact.value["status"] == "unverified"
    assert fact.value["files_covered"] == 2


def test_many_uncovered_files_are_capped(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel")
    (root / SIGNATURE_FILE).write_text(json.dumps(_hand_bundle(root)))
    for n in range(MAX_FILE_EVIDENCE + 5):
        (root / f"extra_{n:02}.txt").write_text(str(n))
    report = _audit(root)
    finding = next(f for f in report.findings if f.rule_id == "SW-SIG-002")
    assert len(finding.evidence) == 1 + MAX_FILE_EVIDENCE
    assert f"{MAX_FILE_EVIDENCE + 5} file(s)" in finding.message
    assert "5 more" in finding.message


def test_analyzer_is_pure_on_its_own(tmp_path: Path) -> None:
    """Called directly, it reads the release and returns its result; nothing else."""
    root = _release(tmp_path / "rel")
    (root / SIGNATURE_FILE).write_text(json.dumps(_hand_bundle(root)))
    release = open_release(root)
    result = SignatureAnalyzer().analyze(release, AuditContext(options=AuditOptions()))
    assert [f.key for f in result.facts] == [FACT_KEY]
    assert [path for path, _ in result.coverage] == [SIGNATURE_FILE]


# --------------------------------------------------------------------- real signatures


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path]:
    """A release signed for real with a fresh EC key: (release root, public key)."""
    pytest.importorskip("OpenSSL")
    ms = pytest.importorskip("model_signing")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")

    key = ec.generate_private_key(ec.SECP384R1())
    private, public = tmp_path / "signer.pem", tmp_path / "signer.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    root = _release(tmp_path / "rel")
    hashing = ms.hashing.Config().set_ignored_paths(paths=[SIGNATURE_FILE])
    ms.signing.Config().use_elliptic_key_signer(private_key=private).set_hashing_config(
        hashing
    ).sign(root, root / SIGNATURE_FILE)
    return root, public


def test_verified_signature_gives_a_fact_and_no_finding(signed: tuple[Path, Path]) -> None:
    root, public = signed
    report = _audit(root, SignatureTrust(public_key=public))
    assert _rule_ids(report) == []
    fact = report.fact(FACT_KEY)
    assert fact is not None and isinstance(fact.value, dict)
    assert fact.value["status"] == "verified"
    assert fact.value["verified"] is True
    assert fact.value["method"] == "key"
    assert fact.value["files_covered"] == 2
    assert fact.value["files_not_covered"] == 0
    hint = hashlib.sha256(public.read_bytes()).hexdigest()
    assert hint in str(fact.value["signed_by"])
    assert fact.evidence[0].path == SIGNATURE_FILE
    cov = next(c for c in report.coverage if c.path == SIGNATURE_FILE)
    assert any(
        s.analyzer == "security.signature" and s.status is CoverageStatus.PARSED for s in cov.steps
    )


def test_tampered_release_fails(signed: tuple[Path, Path]) -> None:
    root, public = signed
    save_file({"w": np.ones((4, 4), np.float32)}, str(root / "model.safetensors"))
    report = _audit(root, SignatureTrust(public_key=public))
    assert _rule_ids(report) == ["SW-SIG-001"]
    finding = report.findings[0]
    assert "model.safetensors" in finding.message
    assert finding.cwe == "CWE-345"


def test_tampered_release_fails_in_model_signing_too(signed: tuple[Path, Path]) -> None:
    root, public = signed
    save_file({"w": np.ones((4, 4), np.float32)}, str(root / "model.safetensors"))
    report = _audit(root, SignatureTrust(public_key=public), hash_files=False)
    assert _rule_ids(report) == ["SW-SIG-001"]
    assert "model.safetensors" in report.findings[0].message


def test_unsigned_extra_file_is_medium(signed: tuple[Path, Path]) -> None:
    root, public = signed
    (root / "modeling_custom.py").write_text("print('hi')\n")
    report = _audit(root, SignatureTrust(public_key=public))
    assert _rule_ids(report) == ["SW-SIG-002"]
    finding = next(f for f in report.findings if f.rule_id == "SW-SIG-002")
    assert finding.severity is Severity.MEDIUM
    assert [e.path for e in finding.evidence] == [SIGNATURE_FILE, "modeling_custom.py"]
    fact = report.fact(FACT_KEY)
    assert fact is not None and isinstance(fact.value, dict)
    assert fact.value["verified"] is True


def test_no_key_given_is_info(signed: tuple[Path, Path]) -> None:
    root, _ = signed
    report = _audit(root)
    assert _rule_ids(report) == ["SW-SIG-004"]
    assert report.findings[0].severity is Severity.INFO


def test_sarif_of_a_signature_audit_tags_the_cwe(signed: tuple[Path, Path]) -> None:
    root, public = signed
    (root / "config.json").write_text("{}")
    (root / "extra.txt").write_text("x")
    log = json.loads(format_sarif(_audit(root, SignatureTrust(public_key=public))))
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert "external/cwe/cwe-345" in rules["SW-SIG-001"]["properties"]["tags"]
    assert rules["SW-SIG-001"]["properties"]["security-severity"] == "8.0"
    assert "security" in rules["SW-SIG-001"]["properties"]["tags"]
