"""Signature verification a CI job can rely on (issue 12).

Every signature here is made for real by the model-signing library with keys
and a certificate chain generated in the test; the command line runs as a real
process. Skipped where the ``signing`` extra is not installed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save_file

from seewhy.analyzers.inventory import InventoryAnalyzer
from seewhy.analyzers.security.signature import SignatureAnalyzer
from seewhy.audit import audit, hash_release
from seewhy.provenance import (
    SIGNATURE_FILE,
    SignatureStatus,
    SignatureTrust,
    SignatureTrustError,
    check_trust,
    verify_signature,
)
from seewhy.release.local import open_release

pytest.importorskip("OpenSSL")  # model-signing 1.1.1 imports it without declaring it
ms: Any = pytest.importorskip("model_signing")
serialization: Any = pytest.importorskip("cryptography.hazmat.primitives.serialization")
ec: Any = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")
rsa: Any = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
hashes: Any = pytest.importorskip("cryptography.hazmat.primitives.hashes")
x509: Any = pytest.importorskip("cryptography.x509")

WEIGHTS = "model.safetensors"


# --------------------------------------------------------------------- helpers


def run(*args: str | Path, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "seewhy", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _findings(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    doc = json.loads(proc.stdout)
    return {f["rule_id"]: f for f in doc["findings"] if f["rule_id"].startswith("SW-SIG-")}


def _private_pem(key: Any) -> bytes:
    data: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return data


def _public_pem(key: Any) -> bytes:
    data: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An EC key pair, an RSA public key, and a CA with a signing leaf (all PEM)."""
    folder = tmp_path_factory.mktemp("pki")
    key = ec.generate_private_key(ec.SECP256R1())
    (folder / "key.pem").write_bytes(_private_pem(key))
    (folder / "key.pub").write_bytes(_public_pem(key))
    (folder / "rsa.pub").write_bytes(_public_pem(rsa.generate_private_key(65537, 2048)))

    def name(cn: str) -> Any:
        return x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, cn)])

    def cert(subject_key: Any, subject: str, issuer_key: Any, issuer: str, ca: bool) -> Any:
        now = dt.datetime.now(dt.UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
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
            .sign(issuer_key, hashes.SHA256())
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    pem = serialization.Encoding.PEM
    ca = cert(ca_key, "Seewhy Test CA", ca_key, "Seewhy Test CA", True)
    (folder / "ca.pem").write_bytes(ca.public_bytes(pem))
    leaf = cert(leaf_key, "Release Signer", ca_key, "Seewhy Test CA", False)
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (folder / "leaf.key").write_bytes(_private_pem(leaf_key))
    return {
        "private": folder / "key.pem",
        "public": folder / "key.pub",
        "rsa": folder / "rsa.pub",
        "ca": folder / "ca.pem",
        "leaf": folder / "leaf.pem",
        "leaf_key": folder / "leaf.key",
    }


def _hashing(shards: int | None = None) -> Any:
    config = ms.hashing.Config()
    if shards:
        config.use_shard_serialization(shard_size=shards)
    return config.set_ignored_paths(paths=[SIGNATURE_FILE])


def _sign_key(pki: dict[str, Path], model: Path, sig: Path, shards: int | None = None) -> None:
    ms.signing.Config().use_elliptic_key_signer(private_key=pki["private"]).set_hashing_config(
        _hashing(shards)
    ).sign(model, sig)


def _sign_certificate(pki: dict[str, Path], model: Path, sig: Path) -> None:
    ms.signing.Config().use_certificate_signer(
        private_key=pki["leaf_key"],
        signing_certificate=pki["leaf"],
        certificate_chain=[pki["ca"]],
    ).set_hashing_config(_hashing()).sign(model, sig)


def _weights(path: Path, size: int) -> None:
    """A real safetensors file of about ``size`` bytes of random float32 values."""
    values = np.frombuffer(os.urandom(size // 4 * 4), dtype=np.float32).copy()
    save_file({"w": values}, str(path))


def _folder(root: Path, size: int = 4096) -> Path:
    root.mkdir(parents=True)
    _weights(root / WEIGHTS, size)
    (root / "config.json").write_text('{"model_type": "llama"}')
    (root / "README.md").write_text("---\nlicense: apache-2.0\n---\n# A test model\n")
    (root / "tokenizer").mkdir()
    (root / "tokenizer" / "tokenizer_config.json").write_text('{"model_max_length": 512}')
    return root


def _signed_folder(pki: dict[str, Path], root: Path, size: int = 4096) -> Path:
    _folder(root, size)
    _sign_key(pki, root, root / SIGNATURE_FILE)
    return root


# --------------------------------------------------------------------- 1. asked to verify


def test_unsigned_folder_and_file_fail_when_verification_is_asked(
    tmp_path: Path, pki: dict[str, Path]
) -> None:
    root = _folder(tmp_path / "rel")
    assert run("audit", "--format", "json", root).returncode == 0  # nobody asked
    for source in (root, root / WEIGHTS):
        proc = run("audit", "--format", "json", "--public-key", pki["public"], source)
        assert proc.returncode == 1, proc.stderr
        found = _findings(proc)
        assert set(found) == {"SW-SIG-005"}
        assert found["SW-SIG-005"]["severity"] == "high"
        assert SIGNATURE_FILE in found["SW-SIG-005"]["message"]
    proc = run("audit", "--format", "json", "--certificate-chain", pki["ca"], root)
    assert proc.returncode == 1 and set(_findings(proc)) == {"SW-SIG-005"}


def test_single_file_with_a_model_sig_beside_it_is_verified(
    tmp_path: Path, pki: dict[str, Path]
) -> None:
    folder = tmp_path / "one"
    folder.mkdir()
    weights = folder / WEIGHTS
    _weights(weights, 10_000)
    _sign_key(pki, weights, folder / SIGNATURE_FILE)  # the file signed on its own
    trust = SignatureTrust(public_key=pki["public"])
    result = verify_signature(open_release(weights), trust)
    assert result is not None and result.status is SignatureStatus.VERIFIED, result
    assert result.covered == (WEIGHTS,)

    proc = run("audit", "--format", "json", "--public-key", pki["public"], weights)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fact = next(f for f in json.loads(proc.stdout)["facts"] if f["key"] == "provenance.signature")
    assert fact["value"]["status"] == "verified"

    _weights(weights, 10_000)
    proc = run("audit", "--format", "json", "--public-key", pki["public"], weights)
    assert proc.returncode == 1
    message = _findings(proc)["SW-SIG-001"]["message"]
    assert f"changed since signing: '{WEIGHTS}'" in message

    # a file of a signed folder: verified against its own entry of the folder's manifest
    root = _signed_folder(pki, tmp_path / "rel")
    result = verify_signature(open_release(root / "config.json"), trust)
    assert result is not None and result.status is SignatureStatus.VERIFIED, result
    assert result.covered == ("config.json",) and result.not_covered == ()
    # a model.sig beside a file that does not list it
    other = root / "other.bin"
    other.write_bytes(b"x")
    result = verify_signature(open_release(other), trust)
    assert result is not None and result.status is SignatureStatus.FAILED
    assert "does not list" in result.reason


def _venv_without_model_signing(folder: Path) -> str:
    """A real virtual environment: seewhy and its dependencies, but no model_signing."""
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120
    )
    python = folder / "bin" / "python"
    target = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    source = Path(sysconfig.get_paths()["purelib"])
    for entry in source.iterdir():
        if entry.name.lower().startswith(("model_signing", "model-signing")):
            continue
        (target / entry.name).symlink_to(entry)
    return str(python)


def test_missing_signing_extra_is_an_input_error(tmp_path: Path, pki: dict[str, Path]) -> None:
    root = _signed_folder(pki, tmp_path / "rel")
    python = _venv_without_model_signing(tmp_path / "venv")
    probe = subprocess.run(
        [python, "-c", "import seewhy, importlib.util as u; print(u.find_spec('model_signing'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.stdout.strip() == "None", probe.stderr  # the import fails for real
    proc = run("audit", "--public-key", pki["public"], root, python=python)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "model-signing not installed" in proc.stderr
    assert "seewhy[signing]" in proc.stderr
    # without asking to verify, the same machine reports the signature as unverified (info)
    proc = run("audit", "--format", "json", root, python=python)
    assert proc.returncode == 0, proc.stderr
    assert set(_findings(proc)) == {"SW-SIG-003"}


# --------------------------------------------------------------------- 2. the user's own key


def test_bad_key_files_are_input_errors(tmp_path: Path, pki: dict[str, Path]) -> None:
    root = _signed_folder(pki, tmp_path / "rel")
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("not a key\n")
    cases: list[tuple[list[str | Path], str]] = [
        (["--public-key", tmp_path / "nope.pub"], "does not exist"),
        (["--public-key", not_pem], "is not a PEM public key"),
        (["--public-key", pki["rsa"]], "elliptic-curve"),
        (["--certificate-chain", not_pem], "holds no PEM certificate"),
        (["--certificate-chain", tmp_path / "nope.pem"], "does not exist"),
    ]
    for args, words in cases:
        proc = run("audit", *args, root)
        assert proc.returncode == 2, (args, proc.stderr)
        assert words in proc.stderr and str(args[1]) in proc.stderr, proc.stderr
        assert "does not verify" not in proc.stderr + proc.stdout
    with pytest.raises(SignatureTrustError, match="does not exist"):
        check_trust(SignatureTrust(public_key=tmp_path / "nope.pub"))


def test_key_for_a_certificate_signature_and_the_reverse(
    tmp_path: Path, pki: dict[str, Path]
) -> None:
    cert_signed = _folder(tmp_path / "cert")
    _sign_certificate(pki, cert_signed, cert_signed / SIGNATURE_FILE)
    key_signed = _signed_folder(pki, tmp_path / "key")
    proc = run("audit", "--format", "json", "--certificate-chain", pki["ca"], cert_signed)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    proc = run("audit", "--format", "json", "--public-key", pki["public"], cert_signed)
    assert proc.returncode == 1
    message = _findings(proc)["SW-SIG-001"]["message"]
    assert "signed with a certificate; verify it with --certificate-chain" in message
    assert "AttributeError" not in proc.stdout and "'hint'" not in proc.stdout

    proc = run("audit", "--format", "json", "--certificate-chain", pki["ca"], key_signed)
    assert proc.returncode == 1
    message = _findings(proc)["SW-SIG-001"]["message"]
    assert "signed with a public key; verify it with --public-key" in message
    assert "AttributeError" not in proc.stdout and "'certificates'" not in proc.stdout


# --------------------------------------------------------------------- 3. tampering


def test_tampering_at_many_positions_names_the_file_cleanly(
    tmp_path: Path, pki: dict[str, Path]
) -> None:
    root = _signed_folder(pki, tmp_path / "rel", size=8192)
    original = (root / WEIGHTS).read_bytes()
    trust = SignatureTrust(public_key=pki["public"])
    expected = f"1 signed file(s) changed since signing: '{WEIGHTS}'"
    quoted = 0
    positions = [0, 1, 7, 8, 100, 4095, 4096, 8190, 8191, *range(211, 8000, 187)]
    assert len(positions) >= 50
    for n, pos in enumerate(positions):
        data = bytearray(original)
        # vary the new byte until the digest holds a quote byte for some positions:
        # model-signing's own message shows digests as bytes reprs, quotes escaped
        for flip in range(1, 256):
            data[pos] = original[pos] ^ flip
            digest = hashlib.sha256(data).digest()
            if n % 3 or b"'" in digest or b'"' in digest:
                break
        quoted += b"'" in digest or b'"' in digest
        (root / WEIGHTS).write_bytes(bytes(data))
        for hash_files in (True, False):
            result = verify_signature(open_release(root), trust, hash_files=hash_files)
            assert result is not None and result.status is SignatureStatus.FAILED
            assert result.changed == (WEIGHTS,) and result.missing == ()
            assert result.reason == expected, (pos, result.reason)
    assert quoted >= len(positions) // 3  # the case that used to come out escaped


def test_changed_missing_and_extra_files_are_named(tmp_path: Path, pki: dict[str, Path]) -> None:
    root = _signed_folder(pki, tmp_path / "rel")
    (root / "config.json").write_text('{"model_type": "evil"}')
    (root / "tokenizer" / "tokenizer_config.json").unlink()
    (root / "added.py").write_text("import os\n")
    result = verify_signature(open_release(root), SignatureTrust(public_key=pki["public"]))
    assert result is not None and result.status is SignatureStatus.FAILED
    assert result.changed == ("config.json",)
    assert result.missing == ("tokenizer/tokenizer_config.json",)
    assert result.not_covered == ("added.py",)
    assert result.reason == (
        "1 signed file(s) changed since signing: 'config.json'; "
        "1 signed file(s) missing: 'tokenizer/tokenizer_config.json'"
    )


def test_shard_signature_names_the_file_not_the_shard(tmp_path: Path, pki: dict[str, Path]) -> None:
    root = _folder(tmp_path / "rel", size=5000)
    _sign_key(pki, root, root / SIGNATURE_FILE, shards=1000)
    trust = SignatureTrust(public_key=pki["public"])
    result = verify_signature(open_release(root), trust)
    assert result is not None
    assert result.status is SignatureStatus.VERIFIED, result.reason
    data = bytearray((root / WEIGHTS).read_bytes())
    data[2500] ^= 0xFF
    (root / WEIGHTS).write_bytes(bytes(data))
    result = verify_signature(open_release(root), trust)
    assert result is not None and result.status is SignatureStatus.FAILED
    assert result.changed == (WEIGHTS,)
    assert result.reason == f"1 signed file(s) changed since signing: '{WEIGHTS}'"


def test_blake2_signature_is_hashed_by_model_signing(tmp_path: Path, pki: dict[str, Path]) -> None:
    """The manifest names the hash 'blake2b'; model-signing's hashing API calls it 'blake2'."""
    root = _folder(tmp_path / "rel")
    hashing = ms.hashing.Config().use_file_serialization(hashing_algorithm="blake2")
    ms.signing.Config().use_elliptic_key_signer(private_key=pki["private"]).set_hashing_config(
        hashing.set_ignored_paths(paths=[SIGNATURE_FILE])
    ).sign(root, root / SIGNATURE_FILE)
    trust = SignatureTrust(public_key=pki["public"])
    result = verify_signature(open_release(root), trust)
    assert result is not None
    assert result.status is SignatureStatus.VERIFIED, result.reason
    (root / "config.json").write_text('{"model_type": "evil"}')
    result = verify_signature(open_release(root), trust)
    assert result is not None and result.status is SignatureStatus.FAILED
    assert result.reason == "1 signed file(s) changed since signing: 'config.json'"


# --------------------------------------------------------------------- 4. read once


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_hash_and_verify_read_each_file_once(tmp_path: Path, pki: dict[str, Path]) -> None:
    size = 8 * 1024 * 1024
    root = _signed_folder(pki, tmp_path / "rel", size=size)
    trust = SignatureTrust(public_key=pki["public"])
    report = audit(
        root,
        hash_files=True,
        analyzers=[InventoryAnalyzer(), SignatureAnalyzer(trust)],
        raise_errors=True,
    )
    fact = report.fact("provenance.signature")
    assert fact is not None and isinstance(fact.value, dict)
    assert fact.value["status"] == "verified", fact.value
    files = [p for p in root.rglob("*") if p.is_file()]
    assert report.release.bytes_hashed == sum(p.stat().st_size for p in files)  # once each

    # the verification itself reads the bundle and the key, not the weights again
    release = open_release(root)
    assert hash_release(release) == {}
    size = (root / WEIGHTS).stat().st_size
    assert release.meter.bytes_hashed == sum(f.size for f in release.files)
    read_by_seewhy = release.meter.bytes_read_of(WEIGHTS)
    before = _rchar()
    result = verify_signature(release, trust, hash_files=True)
    read = _rchar() - before
    assert result is not None and result.status is SignatureStatus.VERIFIED
    assert release.meter.bytes_read_of(WEIGHTS) == read_by_seewhy  # not hashed a second time
    assert read < size // 8, read  # nor read by model-signing (bytes read by this process)


# --------------------------------------------------------------------- 5. policy


def test_unsigned_files_policy(tmp_path: Path, pki: dict[str, Path]) -> None:
    root = _signed_folder(pki, tmp_path / "rel")
    (root / "generation_config.json").write_text('{"max_length": 64}')
    key = ("--public-key", pki["public"])
    proc = run("audit", "--format", "json", *key, root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _findings(proc)["SW-SIG-002"]["severity"] == "medium"
    assert [f["severity"] for f in json.loads(proc.stdout)["findings"]] == ["medium"]
    proc = run("audit", "--format", "json", "--fail-on", "medium", *key, root)
    assert proc.returncode == 1
    proc = run("audit", "--format", "json", "--no-unsigned-files", *key, root)
    assert proc.returncode == 1
    found = _findings(proc)
    assert set(found) == {"SW-SIG-006"} and found["SW-SIG-006"]["severity"] == "high"
    assert "generation_config.json" in json.dumps(found["SW-SIG-006"]["evidence"])


def test_require_signature_policy(tmp_path: Path, pki: dict[str, Path]) -> None:
    unsigned = _folder(tmp_path / "unsigned")
    proc = run("audit", "--format", "json", "--require-signature", unsigned)
    assert proc.returncode == 1 and set(_findings(proc)) == {"SW-SIG-005"}
    proc = run("audit", "--format", "json", "--no-unsigned-files", unsigned)
    assert proc.returncode == 1 and set(_findings(proc)) == {"SW-SIG-005"}
    signed = _signed_folder(pki, tmp_path / "signed")
    proc = run("audit", "--format", "json", "--require-signature", signed)
    assert proc.returncode == 0, proc.stdout  # present and digests match; signer unchecked
    assert set(_findings(proc)) == {"SW-SIG-004"}
