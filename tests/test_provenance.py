"""Digest manifests (checked with the real sha256sum) and model-signing signatures.

Signatures are made for real with the model-signing library and locally
generated keys and certificates (no network, no Sigstore keyless signing);
those tests are skipped where the optional ``signing`` extra is not installed.
Bundle parsing and digest checks need no optional dependency and always run.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from seewhy.errors import ReleaseReadError
from seewhy.provenance import (
    IN_TOTO_PAYLOAD_TYPE,
    IN_TOTO_STATEMENT,
    PREDICATE_V01,
    PREDICATE_V1,
    SIGNATURE_FILE,
    BundleError,
    SignatureStatus,
    SignatureTrust,
    SignatureTrustError,
    build_manifest,
    format_manifest,
    parse_bundle,
    verify_signature,
    write_manifest,
)
from seewhy.release.local import open_release

# --------------------------------------------------------------------- helpers


def _release(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


FILES = {
    "config.json": b'{"model_type": "llama"}',
    "model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ",
    "tokenizer/vocab.txt": b"a\nb\nc\n",
    "empty.txt": b"",
}


class RecordingProgress:
    """A Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []
        self.advanced = 0

    def start(self, description: str, total: int) -> None:
        self.events.append(("start", total))

    def advance(self, amount: int) -> None:
        self.advanced += amount

    def finish(self) -> None:
        self.events.append(("finish", None))


# --------------------------------------------------------------------- manifest


def test_json_manifest_lists_every_file_sorted(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel", FILES)
    doc = json.loads(write_manifest(open_release(root)))
    assert doc["version"] == 1
    assert doc["release"] == "rel"
    paths = [f["path"] for f in doc["files"]]
    assert paths == sorted(FILES)
    for entry in doc["files"]:
        data = FILES[entry["path"]]
        assert entry == {
            "path": entry["path"],
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }


def test_manifest_is_deterministic(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel", FILES)
    assert write_manifest(open_release(root)) == write_manifest(open_release(root))
    one = build_manifest(open_release(root))
    assert format_manifest(one, "sha256sum") == write_manifest(
        open_release(root), style="sha256sum"
    )


def test_progress_sees_every_byte(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel", FILES)
    progress = RecordingProgress()
    build_manifest(open_release(root), progress)
    total = sum(len(d) for d in FILES.values())
    assert progress.events == [("start", total), ("finish", None)]
    assert progress.advanced == total


def test_unreadable_file_is_an_error_not_a_hole(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel", FILES)
    release = open_release(root)
    (root / "tokenizer" / "vocab.txt").unlink()
    with pytest.raises(ReleaseReadError) as info:
        write_manifest(release)
    assert info.value.path == "tokenizer/vocab.txt"


def test_unknown_style_is_refused(tmp_path: Path) -> None:
    manifest = build_manifest(open_release(_release(tmp_path / "rel", FILES)))
    with pytest.raises(ValueError, match="style"):
        format_manifest(manifest, "md5")  # type: ignore[arg-type]


SHA256SUM = shutil.which("sha256sum")
needs_sha256sum = pytest.mark.skipif(SHA256SUM is None, reason="sha256sum is not installed")


def _sha256sum_check(manifest: str, cwd: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert SHA256SUM is not None
    listing = tmp_path / "SHA256SUMS"
    listing.write_text(manifest, encoding="utf-8")
    return subprocess.run(
        [SHA256SUM, "--check", "--strict", str(listing)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


@needs_sha256sum
def test_sha256sum_checks_the_release_from_its_root(tmp_path: Path) -> None:
    odd = {
        "with space.bin": b"1",
        "dir/uni-\u00e9\u6743.txt": b"2",
        "back\\slash.txt": b"3",
        "new\nline.txt": b"4",
        "-dash.txt": b"5",
    }
    root = _release(tmp_path / "rel", FILES | odd)
    text = write_manifest(open_release(root), style="sha256sum")
    lines = text.splitlines()
    assert len(lines) == len(FILES) + len(odd)
    assert "\\" + hashlib.sha256(b"4").hexdigest() + "  new\\nline.txt" in lines
    result = _sha256sum_check(text, root, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == len(lines)

    (root / "with space.bin").write_bytes(b"tampered")
    result = _sha256sum_check(text, root, tmp_path)
    assert result.returncode == 1
    assert "with space.bin: FAILED" in result.stdout


@needs_sha256sum
def test_sha256sum_for_a_single_file_release(tmp_path: Path) -> None:
    root = _release(tmp_path / "dir", {"model.gguf": b"GGUF...."})
    text = write_manifest(open_release(root / "model.gguf"), style="sha256sum")
    assert text == f"{hashlib.sha256(b'GGUF....').hexdigest()}  model.gguf\n"
    result = _sha256sum_check(text, root, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------- bundles by hand


def _statement(root: Path, names: list[str]) -> dict[str, Any]:
    """An in-toto statement as model-signing writes it, over ``names`` in ``root``."""
    resources = [
        {
            "name": name,
            "algorithm": "sha256",
            "digest": hashlib.sha256((root / name).read_bytes()).hexdigest(),
        }
        for name in sorted(names)
    ]
    hasher = hashlib.sha256()
    for r in resources:
        hasher.update(bytes.fromhex(r["digest"]))
    return {
        "_type": IN_TOTO_STATEMENT,
        "subject": [{"name": root.name, "digest": {"sha256": hasher.hexdigest()}}],
        "predicateType": PREDICATE_V1,
        "predicate": {
            "serialization": {
                "method": "files",
                "hash_type": "sha256",
                "allow_symlinks": False,
                "ignore_paths": [".git", ".gitattributes", ".github", ".gitignore"],
            },
            "resources": resources,
        },
    }


def _bundle(statement: dict[str, Any], material: dict[str, Any] | None = None) -> dict[str, Any]:
    """A structurally valid bundle (the signature bytes are not a real signature)."""
    payload = base64.b64encode(json.dumps(statement).encode()).decode()
    return {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": material or {"publicKey": {"hint": "ab" * 32}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": payload,
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(b"not a signature").decode(), "keyid": ""}],
        },
    }


def _write_bundle(root: Path, bundle: dict[str, Any]) -> None:
    (root / SIGNATURE_FILE).write_text(json.dumps(bundle), encoding="utf-8")


def test_no_signature_and_single_files_give_none(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel", FILES)
    assert verify_signature(open_release(root)) is None
    _write_bundle(root, _bundle(_statement(root, list(FILES))))
    assert verify_signature(open_release(root / SIGNATURE_FILE)) is None  # a file, not a release


def test_bundle_parsing_names_files_and_key_without_any_library(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel", FILES)
    _write_bundle(root, _bundle(_statement(root, list(FILES))))
    result = verify_signature(open_release(root))
    assert result is not None
    assert result.parsed
    assert result.method == "key"
    assert result.signer is not None and "ab" * 32 in result.signer
    assert result.model_name == "rel"
    assert result.serialization == "files"
    assert result.covered == tuple(sorted(FILES))
    assert result.not_covered == ()
    assert result.digests_checked == len(FILES)
    assert result.status is not SignatureStatus.VERIFIED  # never without a trusted key


def _hide_model_signing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(sys.modules):
        if name == "model_signing" or name.startswith("model_signing."):
            monkeypatch.delitem(sys.modules, name)
    for name in ("model_signing", "model_signing.hashing", "model_signing.verifying"):
        monkeypatch.setitem(sys.modules, name, None)


def test_without_model_signing_the_signature_is_unverified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _release(tmp_path / "rel", FILES)
    _write_bundle(root, _bundle(_statement(root, list(FILES))))
    _hide_model_signing(monkeypatch)
    result = verify_signature(open_release(root))
    assert result is not None
    assert result.status is SignatureStatus.UNVERIFIED
    assert result.library_problem is not None
    assert result.status_text.startswith("unverified: model-signing not installed")
    assert not result.verified
    # asked to verify, it cannot: the tool's input error, never a quiet "unverified"
    with pytest.raises(SignatureTrustError, match="model-signing not installed"):
        verify_signature(open_release(root), SignatureTrust(public_key=tmp_path / "k.pub"))


def test_without_model_signing_a_changed_file_still_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _release(tmp_path / "rel", FILES)
    _write_bundle(root, _bundle(_statement(root, list(FILES))))
    (root / "config.json").write_bytes(b'{"model_type": "evil"}')
    _hide_model_signing(monkeypatch)
    result = verify_signature(open_release(root))
    assert result is not None
    assert result.status is SignatureStatus.FAILED
    assert result.changed == ("config.json",)
    assert "config.json" in result.reason


def test_without_hashing_only_known_digests_are_compared(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel", FILES)
    _write_bundle(root, _bundle(_statement(root, list(FILES))))
    (root / "config.json").write_bytes(b"{}")
    release = open_release(root)
    result = verify_signature(release, hash_files=False)
    assert result is not None and result.digests_checked == 0
    assert result.status is SignatureStatus.UNVERIFIED
    release.sha256(release.file("config.json"))  # type: ignore[arg-type]
    result = verify_signature(release, hash_files=False)
    assert result is not None and result.status is SignatureStatus.FAILED
    assert result.digests_checked == 1


def test_missing_signed_file_fails(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel", FILES)
    _write_bundle(root, _bundle(_statement(root, list(FILES))))
    (root / "empty.txt").unlink()
    result = verify_signature(open_release(root))
    assert result is not None
    assert result.status is SignatureStatus.FAILED
    assert result.missing == ("empty.txt",)
    assert "missing" in result.reason


def test_files_outside_the_signature_are_listed(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel", FILES)
    _write_bundle(root, _bundle(_statement(root, ["config.json"])))
    (root / ".gitattributes").write_text("*.bin lfs")
    records = root / ".cache" / "huggingface" / "download"
    records.mkdir(parents=True)
    (records / "config.json.metadata").write_text("abc\n")
    result = verify_signature(open_release(root))
    assert result is not None
    assert result.covered == ("config.json",)
    assert result.not_covered == ("empty.txt", "model.safetensors", "tokenizer/vocab.txt")


def test_inconsistent_root_digest_fails(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel", FILES)
    statement = _statement(root, list(FILES))
    statement["subject"][0]["digest"]["sha256"] = "00" * 32
    _write_bundle(root, _bundle(statement))
    result = verify_signature(open_release(root))
    assert result is not None
    assert result.status is SignatureStatus.FAILED
    assert "inconsistent" in result.reason


def test_v01_compat_payload(tmp_path: Path) -> None:
    root = _release(tmp_path / "rel", FILES)
    statement = {
        "_type": IN_TOTO_STATEMENT,
        "predicateType": PREDICATE_V01,
        "subject": [
            {"name": n, "digest": {"sha256": hashlib.sha256(d).hexdigest()}}
            for n, d in FILES.items()
        ],
        "predicate": {},
    }
    _write_bundle(root, _bundle(statement))
    result = verify_signature(open_release(root))
    assert result is not None and result.parsed
    assert result.covered == tuple(sorted(FILES))
    assert result.digests_checked == len(FILES)


def _mutate(bundle: dict[str, Any], how: str) -> object:
    if how == "list":
        return [bundle]
    b = json.loads(json.dumps(bundle))
    if how == "media":
        b["mediaType"] = "application/json"
    elif how == "no-envelope":
        del b["dsseEnvelope"]
        b["messageSignature"] = {}
    elif how == "payload-type":
        b["dsseEnvelope"]["payloadType"] = "text/plain"
    elif how == "no-signature":
        b["dsseEnvelope"]["signatures"] = []
    elif how == "bad-base64":
        b["dsseEnvelope"]["payload"] = "***"
    elif how == "not-in-toto":
        b["dsseEnvelope"]["payload"] = base64.b64encode(b'{"_type": "x"}').decode()
    elif how == "predicate":
        statement = json.loads(base64.b64decode(b["dsseEnvelope"]["payload"]))
        statement["predicateType"] = "https://slsa.dev/provenance/v1"
        b["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    elif how == "bad-digest":
        statement = json.loads(base64.b64decode(b["dsseEnvelope"]["payload"]))
        statement["predicate"]["resources"][0]["digest"] = "zz"
        b["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    elif how == "no-material":
        del b["verificationMaterial"]
    return b


@pytest.mark.parametrize(
    ("how", "words"),
    [
        ("list", "not a JSON object"),
        ("media", "mediaType"),
        ("no-envelope", "dsseEnvelope"),
        ("payload-type", "payloadType"),
        ("no-signature", "no signature"),
        ("bad-base64", "base64"),
        ("not-in-toto", "in-toto"),
        ("predicate", "predicateType"),
        ("bad-digest", "hex digest"),
        ("no-material", "verificationMaterial"),
    ],
)
def test_malformed_bundles_fail_with_a_reason(tmp_path: Path, how: str, words: str) -> None:
    root = _release(tmp_path / "rel", FILES)
    good = _bundle(_statement(root, list(FILES)))
    (root / SIGNATURE_FILE).write_text(json.dumps(_mutate(good, how)))
    result = verify_signature(open_release(root))
    assert result is not None
    assert result.status is SignatureStatus.FAILED
    assert not result.parsed
    assert words in result.reason
    assert result.status_text.startswith("failed: model.sig is not a model-signing")


@pytest.mark.parametrize(
    "raw", [b"", b"\xff\xfe\x00", b"not json", b"[" * 100_000, b'{"mediaType": 3}']
)
def test_parse_bundle_rejects_garbage(raw: bytes) -> None:
    with pytest.raises(BundleError):
        parse_bundle(raw)


def test_oversized_signature_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import seewhy.provenance as provenance

    root = _release(tmp_path / "rel", FILES | {SIGNATURE_FILE: b"x" * 100})
    monkeypatch.setattr(provenance, "MAX_SIGNATURE_BYTES", 10)
    release = open_release(root)
    before = release.meter.bytes_read
    result = verify_signature(release)
    assert result is not None and result.status is SignatureStatus.FAILED
    assert "cap" in result.reason
    assert release.meter.bytes_read == before


# --------------------------------------------------------------------- real signatures


@pytest.fixture
def ms() -> Any:
    """The model_signing package (skips when the signing extra is not installed)."""
    pytest.importorskip("OpenSSL")  # model-signing 1.1.1 imports it without declaring it
    return pytest.importorskip("model_signing")


def _keypair(folder: Path, name: str = "key") -> tuple[Path, Path]:
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")

    key = ec.generate_private_key(ec.SECP256R1())
    private = folder / f"{name}.pem"
    public = folder / f"{name}.pub"
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
    return private, public


def _hashing(ms: Any, shards: int | None = None) -> Any:
    config = ms.hashing.Config()
    if shards:
        config.use_shard_serialization(shard_size=shards)
    return config.set_ignored_paths(paths=[SIGNATURE_FILE])


def _sign_with_key(ms: Any, root: Path, private: Path, shards: int | None = None) -> None:
    ms.signing.Config().use_elliptic_key_signer(private_key=private).set_hashing_config(
        _hashing(ms, shards)
    ).sign(root, root / SIGNATURE_FILE)


@pytest.fixture
def keys(tmp_path: Path, ms: Any) -> tuple[Path, Path]:
    folder = tmp_path / "keys"
    folder.mkdir()
    return _keypair(folder)


def test_key_signed_release_verifies(tmp_path: Path, ms: Any, keys: tuple[Path, Path]) -> None:
    private, public = keys
    root = _release(tmp_path / "rel", FILES)
    _sign_with_key(ms, root, private)
    result = verify_signature(open_release(root), SignatureTrust(public_key=public))
    assert result is not None
    assert result.status is SignatureStatus.VERIFIED, result.reason
    assert result.verified
    hint = hashlib.sha256(public.read_bytes()).hexdigest()
    assert result.signer is not None and hint in result.signer
    assert result.method == "key"
    assert result.covered == tuple(sorted(FILES))
    assert result.not_covered == ()
    assert result.checked_by is not None and result.checked_by.startswith("model-signing ")
    assert result.status_text.startswith("verified: ")


def test_tampered_file_fails(tmp_path: Path, ms: Any, keys: tuple[Path, Path]) -> None:
    private, public = keys
    root = _release(tmp_path / "rel", FILES)
    _sign_with_key(ms, root, private)
    (root / "tokenizer" / "vocab.txt").write_bytes(b"a\nb\nEVIL\n")
    trust = SignatureTrust(public_key=public)
    ours = verify_signature(open_release(root), trust)
    assert ours is not None and ours.status is SignatureStatus.FAILED
    assert ours.changed == ("tokenizer/vocab.txt",)
    # Without --hash, verifying still hashes the signed files (seewhy's own sha256).
    theirs = verify_signature(open_release(root), trust, hash_files=False)
    assert theirs is not None and theirs.status is SignatureStatus.FAILED
    assert theirs.changed == ("tokenizer/vocab.txt",)
    assert theirs.reason == "1 signed file(s) changed since signing: 'tokenizer/vocab.txt'"


def test_forged_manifest_fails_the_signature(
    tmp_path: Path, ms: Any, keys: tuple[Path, Path]
) -> None:
    """Files changed and the manifest updated to match, but not re-signed."""
    private, public = keys
    root = _release(tmp_path / "rel", FILES)
    _sign_with_key(ms, root, private)
    bundle = json.loads((root / SIGNATURE_FILE).read_text())
    (root / "config.json").write_bytes(b'{"model_type": "evil"}')
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(
        json.dumps(_statement(root, list(FILES))).encode()
    ).decode()
    _write_bundle(root, bundle)
    result = verify_signature(open_release(root), SignatureTrust(public_key=public))
    assert result is not None
    assert result.changed == ()  # the digests agree with the forged manifest ...
    assert result.status is SignatureStatus.FAILED  # ... but the signature does not
    assert "InvalidSignature" in result.reason


def test_wrong_key_fails(tmp_path: Path, ms: Any, keys: tuple[Path, Path]) -> None:
    private, _ = keys
    _, other_public = _keypair(tmp_path / "keys", "other")
    root = _release(tmp_path / "rel", FILES)
    _sign_with_key(ms, root, private)
    result = verify_signature(open_release(root), SignatureTrust(public_key=other_public))
    assert result is not None and result.status is SignatureStatus.FAILED
    assert "Key mismatch" in result.reason


def test_bogus_signature_file_fails(tmp_path: Path, ms: Any, keys: tuple[Path, Path]) -> None:
    _, public = keys
    root = _release(tmp_path / "rel", FILES | {SIGNATURE_FILE: b'{"hello": "world"}'})
    result = verify_signature(open_release(root), SignatureTrust(public_key=public))
    assert result is not None and result.status is SignatureStatus.FAILED
    assert not result.parsed
    assert result.signer is None


def test_unsigned_extra_file_is_reported_not_failed(
    tmp_path: Path, ms: Any, keys: tuple[Path, Path]
) -> None:
    private, public = keys
    root = _release(tmp_path / "rel", FILES)
    _sign_with_key(ms, root, private)
    (root / "modeling_evil.py").write_text("import os\n")
    records = root / ".cache" / "huggingface" / "download"
    records.mkdir(parents=True)
    (records / "config.json.metadata").write_text("abc\n")
    (root / ".gitignore").write_text("*.tmp\n")
    for hash_files in (True, False):
        result = verify_signature(
            open_release(root), SignatureTrust(public_key=public), hash_files=hash_files
        )
        assert result is not None
        assert result.status is SignatureStatus.VERIFIED, result.reason
        assert result.not_covered == ("modeling_evil.py",)


def test_no_trust_anchor_is_unverified(tmp_path: Path, ms: Any, keys: tuple[Path, Path]) -> None:
    private, _ = keys
    root = _release(tmp_path / "rel", FILES)
    _sign_with_key(ms, root, private)
    result = verify_signature(open_release(root))
    assert result is not None and result.status is SignatureStatus.UNVERIFIED
    assert result.library_problem is None
    assert "no trusted public key" in result.reason
    assert f"{len(FILES)} signed sha256 digests" in result.reason


def test_shard_signature_verifies(tmp_path: Path, ms: Any, keys: tuple[Path, Path]) -> None:
    private, public = keys
    root = _release(tmp_path / "rel", FILES | {"big.bin": bytes(range(256)) * 40})
    _sign_with_key(ms, root, private, shards=1000)
    result = verify_signature(open_release(root), SignatureTrust(public_key=public))
    assert result is not None
    assert result.status is SignatureStatus.VERIFIED, result.reason
    assert result.serialization == "shards"
    assert "big.bin" in result.covered
    assert len(result.resources) > len(result.covered)  # several shards of big.bin
    assert result.digests_checked == 0
    (root / "unsigned.txt").write_text("added later")
    result = verify_signature(open_release(root), SignatureTrust(public_key=public))
    assert result is not None
    assert result.status is SignatureStatus.VERIFIED, result.reason
    # model-signing's shard manifests have no entry for an empty file: not covered.
    assert result.not_covered == ("empty.txt", "unsigned.txt")
    (root / "big.bin").write_bytes(b"x" * 10240)
    result = verify_signature(open_release(root), SignatureTrust(public_key=public))
    assert result is not None and result.status is SignatureStatus.FAILED


def test_verification_executes_nothing_from_the_release(
    tmp_path: Path, ms: Any, keys: tuple[Path, Path]
) -> None:
    private, public = keys
    marker = tmp_path / "executed"
    payload = f"open({str(marker)!r}, 'w').write('x')\n"
    root = _release(
        tmp_path / "rel",
        FILES | {"__init__.py": payload.encode(), "modeling.py": payload.encode()},
    )
    _sign_with_key(ms, root, private)
    result = verify_signature(open_release(root), SignatureTrust(public_key=public))
    assert result is not None and result.verified
    assert not marker.exists()


# --------------------------------------------------------------------- certificates


def _name(cn: str) -> Any:
    x509 = pytest.importorskip("cryptography.x509")
    NameOID = pytest.importorskip("cryptography.x509.oid").NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _certificate(
    subject_key: Any,
    subject: str,
    issuer_key: Any,
    issuer: str,
    *,
    ca: bool,
    email: str | None = None,
    oidc_issuer: str | None = None,
) -> Any:
    x509 = pytest.importorskip("cryptography.x509")
    hashes = pytest.importorskip("cryptography.hazmat.primitives.hashes")

    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if email:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False
        )
    if oidc_issuer:
        raw = oidc_issuer.encode()
        builder = builder.add_extension(
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"), bytes([0x0C, len(raw)]) + raw
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: Any) -> bytes:
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")

    data: bytes = cert.public_bytes(serialization.Encoding.PEM)
    return data


def test_certificate_signature_names_the_signer(tmp_path: Path, ms: Any) -> None:
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(ca_key, "Test Root CA", ca_key, "Test Root CA", ca=True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(
        leaf_key,
        "Alice Release Signing",
        ca_key,
        "Test Root CA",
        ca=False,
        email="alice@example.com",
    )
    folder = tmp_path / "pki"
    folder.mkdir()
    (folder / "ca.pem").write_bytes(_pem(ca))
    (folder / "leaf.pem").write_bytes(_pem(leaf))
    (folder / "leaf.key").write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    root = _release(tmp_path / "rel", FILES)
    ms.signing.Config().use_certificate_signer(
        private_key=folder / "leaf.key",
        signing_certificate=folder / "leaf.pem",
        certificate_chain=[folder / "ca.pem"],
    ).set_hashing_config(_hashing(ms)).sign(root, root / SIGNATURE_FILE)

    result = verify_signature(
        open_release(root), SignatureTrust(certificate_chain=(folder / "ca.pem",))
    )
    assert result is not None
    assert result.status is SignatureStatus.VERIFIED, result.reason
    assert result.method == "certificate"
    assert result.signer is not None
    assert "alice@example.com" in result.signer
    assert "CN=Alice Release Signing" in result.signer
    assert "issued by CN=Test Root CA" in result.signer

    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _certificate(other_key, "Other CA", other_key, "Other CA", ca=True)
    (folder / "other.pem").write_bytes(_pem(other))
    result = verify_signature(
        open_release(root), SignatureTrust(certificate_chain=(folder / "other.pem",))
    )
    assert result is not None and result.status is SignatureStatus.FAILED


def test_sigstore_bundle_names_identity_and_issuer(tmp_path: Path) -> None:
    """A keyless (Fulcio) style bundle: identity and OIDC issuer come from the certificate."""
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")

    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate(
        key,
        "sigstore",
        key,
        "sigstore-intermediate",
        ca=False,
        email="bob@example.org",
        oidc_issuer="https://accounts.example.org",
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    root = _release(tmp_path / "rel", FILES)
    material = {
        "certificate": {"rawBytes": base64.b64encode(der).decode()},
        "tlogEntries": [{"logIndex": "1"}],
    }
    _write_bundle(root, _bundle(_statement(root, list(FILES)), material))
    result = verify_signature(open_release(root))  # no identity given: no network either
    assert result is not None
    assert result.method == "sigstore"
    assert result.signer is not None
    assert "bob@example.org" in result.signer
    assert "OIDC issuer https://accounts.example.org" in result.signer
    assert result.status is SignatureStatus.UNVERIFIED


def test_trust_method() -> None:
    assert SignatureTrust().method is None
    assert SignatureTrust(public_key=Path("k.pub")).method == "key"
    assert SignatureTrust(certificate_chain=()).method == "certificate"
    assert SignatureTrust(identity="a@b.c").method is None
    assert SignatureTrust(identity="a@b.c", oidc_issuer="https://x").method == "sigstore"


def test_certificate_description_is_bounded() -> None:
    x509 = pytest.importorskip("cryptography.x509")
    hashes = pytest.importorskip("cryptography.hazmat.primitives.hashes")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")
    from seewhy.provenance import MAX_SIGNER, describe_certificate

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("x" * 60))
        .issuer_name(_name("y" * 60))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.RFC822Name(f"user{n:03}@{'d' * 50}.example") for n in range(50)]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    text = describe_certificate(cert.public_bytes(serialization.Encoding.DER))
    assert len(text) <= MAX_SIGNER
    assert "user000@" in text and "user049@" not in text
    assert describe_certificate(b"\x30\x03garbage").startswith("a certificate that could not")
