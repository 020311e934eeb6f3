"""Provenance: a digest manifest of a release, and its OpenSSF model signature.

Two independent tools live here.

* :func:`write_manifest` hashes every file of a release (in parallel, through
  :func:`seewhy.audit.hash_release`) and writes a sha256 manifest, as JSON or
  in the ``sha256sum`` format, so that ``sha256sum -c`` checks the release from
  its root.
* :func:`verify_signature` reads a ``model.sig`` at the release root (a Sigstore
  bundle written by OpenSSF model-signing) and says who signed which files and
  whether the signature holds. The bundle is parsed here, bounded and without
  any optional dependency, so the signer, the signed files and their digests
  are reported even where the ``model-signing`` library is absent; the
  cryptographic check is done by that library, imported lazily, against a
  public key, certificate chain or Sigstore identity the *user* supplies
  (:class:`SignatureTrust`): a key shipped inside the release proves nothing.

Nothing from the release is executed or imported: verification reads and
hashes files only.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import importlib
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from seewhy.audit import Progress, hash_release
from seewhy.errors import ReleaseError, ReleaseIncompleteError, ReleaseReadError
from seewhy.release.model import FileKind, Release, ReleaseFile, os_name

MANIFEST_VERSION = 1
ManifestStyle = Literal["json", "sha256sum"]
MANIFEST_STYLES: tuple[ManifestStyle, ...] = ("json", "sha256sum")

SIGNATURE_FILE = "model.sig"
MAX_SIGNATURE_BYTES = 32 * 1024 * 1024
MAX_SIGNED_RESOURCES = 1_000_000
#: Paths model-signing leaves out of a signature by default (besides the signature).
GIT_PATHS = (".git", ".gitattributes", ".github", ".gitignore")
#: Where ``huggingface_hub`` keeps its records in a ``--local-dir`` download.
HF_LOCAL_CACHE = ".cache/huggingface/"

BUNDLE_MEDIA_PREFIX = "application/vnd.dev.sigstore.bundle"
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
IN_TOTO_STATEMENT = "https://in-toto.io/Statement/v1"
PREDICATE_V1 = "https://model_signing/signature/v1.0"
PREDICATE_V01 = "https://model_signing/Digests/v0.1"

MAX_NAMES = 5  # identities of a certificate named in the report
MAX_SIGNER = 400  # characters of a signer description

# Fulcio certificate extensions that name the OIDC issuer of the signer.
_OID_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"
_OID_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"


# ===================================================================== manifest


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a digest manifest."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class DigestManifest:
    """The sha256 of every file of a release, sorted by path."""

    release: str
    files: tuple[ManifestEntry, ...]

    def to_json(self) -> dict[str, Any]:
        """The manifest as a JSON object (``version`` 1)."""
        return {
            "version": MANIFEST_VERSION,
            "release": self.release,
            "files": [{"path": e.path, "size": e.size, "sha256": e.sha256} for e in self.files],
        }


def build_manifest(release: Release, progress: Progress | None = None) -> DigestManifest:
    """Hash every file of the release (files in parallel) into a manifest.

    Raises :class:`~seewhy.errors.ReleaseIncompleteError` when part of the
    release could not be listed, and :class:`~seewhy.errors.ReleaseReadError`
    for the first file (by path) that could not be read: a manifest with a
    hole in it would vouch for less than it seems to.
    """
    if release.gaps:
        raise ReleaseIncompleteError([(g.path, g.problem.message) for g in release.gaps])
    errors = hash_release(release, progress)
    for file in release.files:
        if file.kind is FileKind.UNREADABLE and file.path not in errors:
            errors[file.path] = "the file could not be read when the release was listed"
    if errors:
        path = min(errors)
        raise ReleaseReadError(path, errors[path])
    entries = []
    for file in release.files:
        digest = release.known_sha256(file)
        if digest is None:  # hash_release reports every failure, so this is a bug
            raise ReleaseReadError(file.path, "no sha256 was computed")
        entries.append(ManifestEntry(file.path, file.size, digest))
    return DigestManifest(release.name, tuple(sorted(entries, key=lambda e: e.path)))


def format_manifest(manifest: DigestManifest, style: ManifestStyle = "json") -> str:
    """The manifest as indented JSON, or as ``sha256sum`` lines (``HEX  PATH``).

    In the ``sha256sum`` style a path with a backslash, newline or carriage
    return is escaped the way GNU coreutils does it (the line starts with a
    backslash), so that ``sha256sum -c`` run from the release root reads it
    back.
    """
    if style == "json":
        return json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n"
    if style == "sha256sum":
        return "".join(_sha256sum_line(e) for e in manifest.files)
    raise ValueError(f"unknown manifest style {style!r}; expected one of {MANIFEST_STYLES}")


def write_manifest(
    release: Release, progress: Progress | None = None, *, style: ManifestStyle = "json"
) -> str:
    """Hash every file of the release and return its manifest in ``style``.

    The JSON style is ``{"version": 1, "release": NAME, "files": [{"path",
    "size", "sha256"}, ...]}`` sorted by path; ``sha256sum`` is the text that
    ``sha256sum -c`` checks from the release root (for a single-file release,
    from the folder that holds the file).
    """
    return format_manifest(build_manifest(release, progress), style)


def _sha256sum_line(entry: ManifestEntry) -> str:
    name = entry.path
    if "\\" in name:  # an escaped name (see seewhy.release.model): sha256sum needs the real one
        try:
            name = os_name(name).decode("utf-8")
        except UnicodeDecodeError:
            raise ReleaseError(
                f"the file name {entry.path} is not valid UTF-8 and cannot be written in the "
                "sha256sum style; use the json style, which names it escaped"
            ) from None
    if any(c in name for c in "\\\n\r"):
        escaped = name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        return f"\\{entry.sha256}  {escaped}\n"
    return f"{entry.sha256}  {name}\n"


# ===================================================================== signature


class SignatureStatus(StrEnum):
    """Whether a release's signature holds."""

    VERIFIED = "verified"  # the signature and every signed digest hold for a trusted signer
    FAILED = "failed"  # the signature, the bundle or a signed digest does not hold
    UNVERIFIED = "unverified"  # present, but its signer could not be checked


@dataclass(frozen=True)
class SignatureTrust:
    """What the user trusts a signature to come from; never taken from the release.

    Give one of: ``public_key`` (a PEM file, for key signing), ``certificate_chain``
    (PEM files of the CA chain, for certificate signing; an empty tuple means the
    system's roots) or ``identity`` with ``oidc_issuer`` (Sigstore keyless
    signing). Sigstore verification fetches Sigstore's trust root over the
    network unless ``trust_config`` names a local client trust configuration.
    """

    public_key: Path | None = None
    certificate_chain: tuple[Path, ...] | None = None
    identity: str | None = None
    oidc_issuer: str | None = None
    trust_config: Path | None = None

    @property
    def method(self) -> str | None:
        """The signing method these anchors verify: key, certificate, sigstore, or None."""
        if self.public_key is not None:
            return "key"
        if self.certificate_chain is not None:
            return "certificate"
        if self.identity and self.oidc_issuer:
            return "sigstore"
        return None


@dataclass(frozen=True)
class SignedResource:
    """One entry of the signed manifest: a file (or a shard of one) and its digest."""

    name: str
    path: str
    algorithm: str
    digest: str


@dataclass(frozen=True)
class SignatureResult:
    """What the release's ``model.sig`` says and whether it holds.

    ``signer`` names who signed: a Sigstore identity and its OIDC issuer, a
    certificate subject, or the public-key hint (sha256 of the PEM key).
    ``covered`` are the release files the signature lists; ``not_covered`` the
    release files it does not (the signature file, git metadata and
    huggingface_hub's download records aside);
    ``changed`` and ``missing`` the signed files whose bytes differ or that
    are gone. ``parsed`` is False when the bundle itself could not be read;
    ``library_problem`` says why model-signing could not be used, if it could not.
    """

    path: str
    status: SignatureStatus
    reason: str
    method: str = "unknown"
    signer: str | None = None
    model_name: str | None = None
    serialization: str | None = None
    covered: tuple[str, ...] = ()
    not_covered: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    digests_checked: int = 0
    checked_by: str | None = None
    parsed: bool = False
    library_problem: str | None = None
    resources: tuple[SignedResource, ...] = field(default=(), repr=False)

    @property
    def verified(self) -> bool:
        """True only when the signature was verified against a trusted signer."""
        return self.status is SignatureStatus.VERIFIED

    @property
    def status_text(self) -> str:
        """One line: ``verified: …``, ``failed: …`` or ``unverified: …``."""
        return f"{self.status.value}: {self.reason}"


class BundleError(ValueError):
    """A ``model.sig`` that is not a model-signing Sigstore bundle."""


@dataclass(frozen=True)
class _Bundle:
    method: str
    signer: str | None
    model_name: str | None
    root_digest: str | None
    serialization: dict[str, Any]
    resources: tuple[SignedResource, ...]
    predicate_type: str


def verify_signature(
    release: Release,
    trust: SignatureTrust | None = None,
    *,
    hash_files: bool = True,
) -> SignatureResult | None:
    """Check the release's ``model.sig``; None when the release has none.

    The bundle is parsed here (bounded, no optional dependency): a malformed
    one, a manifest inconsistent with its own root digest, a signed file that
    is missing or whose sha256 differs all fail the signature without any
    key. With ``hash_files`` the release's files are hashed for that check;
    without it only digests the audit already computed are compared.

    The signer is authenticated only by the ``model-signing`` library (an
    optional extra, imported lazily) against ``trust``; without the library or
    without a trust anchor the result is *unverified*, with the reason.
    """
    if release.source_kind != "folder":
        return None
    sig_file = release.file(SIGNATURE_FILE)
    if sig_file is None:
        return None
    if sig_file.size > MAX_SIGNATURE_BYTES:
        return _failed(
            f"{SIGNATURE_FILE} is {sig_file.size:,} bytes, over the "
            f"{MAX_SIGNATURE_BYTES:,}-byte cap for a signature bundle"
        )
    try:
        raw = release.read_head(sig_file, MAX_SIGNATURE_BYTES)
        bundle = parse_bundle(raw)
    except ReleaseReadError as exc:
        return _failed(f"{SIGNATURE_FILE} could not be read: {exc.reason}")
    except BundleError as exc:
        return _failed(f"{SIGNATURE_FILE} is not a model-signing Sigstore bundle: {exc}")

    signed = {r.path for r in bundle.resources}
    covered = sorted(signed)
    present = {f.path for f in release.files}
    missing = tuple(p for p in covered if p not in present)
    not_covered = tuple(
        f.path for f in release.files if f.path not in signed and not _not_release_content(f.path)
    )
    changed, checked = _compare_digests(release, bundle, hash_files)
    base = SignatureResult(
        path=SIGNATURE_FILE,
        status=SignatureStatus.UNVERIFIED,
        reason="",
        method=bundle.method,
        signer=bundle.signer,
        model_name=bundle.model_name,
        serialization=str(bundle.serialization.get("method") or "") or None,
        covered=tuple(p for p in covered if p in present),
        not_covered=not_covered,
        changed=changed,
        missing=missing,
        digests_checked=checked,
        parsed=True,
        resources=bundle.resources,
    )

    inconsistency = _root_digest_problem(bundle)
    if inconsistency:
        return _with(base, SignatureStatus.FAILED, inconsistency, "seewhy")
    if missing or changed:
        parts = []
        if changed:
            parts.append(f"{len(changed)} signed file(s) changed since signing: {_few(changed)}")
        if missing:
            parts.append(f"{len(missing)} signed file(s) missing: {_few(missing)}")
        return _with(base, SignatureStatus.FAILED, "; ".join(parts), "seewhy digest comparison")

    problem = _model_signing_problem()
    if problem is not None:
        return replace(
            base, status=SignatureStatus.UNVERIFIED, reason=problem, library_problem=problem
        )
    if trust is None or trust.method is None:
        matched = (
            f"; the {checked} signed sha256 digests compared match the files" if checked else ""
        )
        return _with(
            base,
            SignatureStatus.UNVERIFIED,
            "no trusted public key, certificate chain or Sigstore identity was given" + matched,
            None,
        )
    version = _model_signing_version()
    checked_by = f"model-signing {version} ({trust.method})"
    try:
        _run_model_signing(release, bundle, trust, not_covered)
    except Exception as exc:  # model-signing reports every failure as an exception
        return _with(base, SignatureStatus.FAILED, _failure_reason(exc), checked_by)
    return _with(
        base,
        SignatureStatus.VERIFIED,
        f"signature verified by {checked_by}; {len(base.covered)} file(s) match it",
        checked_by,
    )


def _failed(reason: str) -> SignatureResult:
    return SignatureResult(path=SIGNATURE_FILE, status=SignatureStatus.FAILED, reason=reason)


def _with(
    base: SignatureResult, status: SignatureStatus, reason: str, checked_by: str | None
) -> SignatureResult:
    return replace(base, status=status, reason=reason, checked_by=checked_by)


def _few(paths: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(p) for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _not_release_content(path: str) -> bool:
    """The signature itself, git metadata, or huggingface_hub's local download records."""
    first = path.split("/", 1)[0]
    return path == SIGNATURE_FILE or first in GIT_PATHS or path.startswith(HF_LOCAL_CACHE)


# --------------------------------------------------------------------- bundle parsing


def parse_bundle(raw: bytes) -> _Bundle:
    """Parse a model-signing Sigstore bundle; :class:`BundleError` says what is wrong.

    Only structure is checked here (JSON shape, DSSE envelope, in-toto
    statement, model-signing predicate); no signature is verified.
    """
    doc = _json_object(raw, "the bundle")
    media = doc.get("mediaType")
    if not isinstance(media, str) or not media.startswith(BUNDLE_MEDIA_PREFIX):
        raise BundleError(f"mediaType is {media!r}, not a Sigstore bundle type")
    material = doc.get("verificationMaterial")
    if not isinstance(material, dict):
        raise BundleError("verificationMaterial is missing")
    envelope = doc.get("dsseEnvelope")
    if not isinstance(envelope, dict):
        raise BundleError("there is no dsseEnvelope (model signatures are DSSE envelopes)")
    if envelope.get("payloadType") != IN_TOTO_PAYLOAD_TYPE:
        raise BundleError(f"payloadType is {envelope.get('payloadType')!r}, not in-toto JSON")
    signatures = envelope.get("signatures")
    if (
        not isinstance(signatures, list)
        or not signatures
        or not all(isinstance(s, dict) and isinstance(s.get("sig"), str) for s in signatures)
    ):
        raise BundleError("the envelope holds no signature")
    payload_b64 = envelope.get("payload")
    if not isinstance(payload_b64, str):
        raise BundleError("the envelope has no payload")
    try:
        payload_raw = base64.b64decode(payload_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BundleError(f"the payload is not base64: {exc}") from exc
    statement = _json_object(payload_raw, "the payload")
    if statement.get("_type") != IN_TOTO_STATEMENT:
        raise BundleError(f"the payload is not an in-toto v1 statement: {statement.get('_type')!r}")
    predicate_type = statement.get("predicateType")
    method, signer = _signer(material)
    if predicate_type == PREDICATE_V1:
        return _bundle_v1(statement, method, signer)
    if predicate_type == PREDICATE_V01:
        return _bundle_v01(statement, method, signer)
    raise BundleError(f"predicateType {predicate_type!r} is not a model-signing predicate")


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BundleError(f"{what} is not UTF-8 text") from exc
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BundleError(f"{what} is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise BundleError(f"{what} is not a JSON object")
    return doc


def _hex(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 256:
        raise BundleError(f"{what} is not a hex digest")
    try:
        bytes.fromhex(value)
    except ValueError as exc:
        raise BundleError(f"{what} is not a hex digest") from exc
    return value.lower()


def _resource_path(name: str, method: str) -> str:
    if method == "shards":
        parts = name.rsplit(":", 2)
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            raise BundleError(f"shard name {name!r} is not PATH:START:END")
        return parts[0]
    return name


def _bundle_v1(statement: dict[str, Any], method: str, signer: str | None) -> _Bundle:
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise BundleError("the statement must have exactly one subject (the model)")
    subject = subjects[0]
    digest = subject.get("digest")
    root = _hex(digest.get("sha256") if isinstance(digest, dict) else None, "the subject digest")
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict):
        raise BundleError("the statement has no predicate")
    serialization = predicate.get("serialization")
    if not isinstance(serialization, dict) or serialization.get("method") not in (
        "files",
        "shards",
    ):
        raise BundleError("the predicate's serialization method is not 'files' or 'shards'")
    ser_method = str(serialization["method"])
    items = predicate.get("resources")
    if not isinstance(items, list):
        raise BundleError("the predicate lists no resources")
    if len(items) > MAX_SIGNED_RESOURCES:
        raise BundleError(f"the predicate lists {len(items):,} resources, over the cap")
    resources = []
    for n, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise BundleError(f"resource {n} has no name")
        name = item["name"]
        algorithm = item.get("algorithm")
        if not isinstance(algorithm, str):
            raise BundleError(f"resource {name!r} has no algorithm")
        resources.append(
            SignedResource(
                name=name,
                path=_resource_path(name, ser_method),
                algorithm=algorithm,
                digest=_hex(item.get("digest"), f"the digest of {name!r}"),
            )
        )
    model_name = subject.get("name")
    return _Bundle(
        method=method,
        signer=signer,
        model_name=model_name if isinstance(model_name, str) else None,
        root_digest=root,
        serialization=dict(serialization),
        resources=tuple(resources),
        predicate_type=PREDICATE_V1,
    )


def _bundle_v01(statement: dict[str, Any], method: str, signer: str | None) -> _Bundle:
    subjects = statement.get("subject")
    if not isinstance(subjects, list):
        raise BundleError("the statement has no subjects")
    if len(subjects) > MAX_SIGNED_RESOURCES:
        raise BundleError(f"the statement lists {len(subjects):,} subjects, over the cap")
    resources = []
    for n, item in enumerate(subjects):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise BundleError(f"subject {n} has no name")
        digest = item.get("digest")
        value = digest.get("sha256") if isinstance(digest, dict) else None
        name = item["name"]
        resources.append(
            SignedResource(name, name, "sha256", _hex(value, f"the digest of {name!r}"))
        )
    return _Bundle(
        method=method,
        signer=signer,
        model_name=None,
        root_digest=None,
        serialization={"method": "files", "hash_type": "sha256", "allow_symlinks": False},
        resources=tuple(resources),
        predicate_type=PREDICATE_V01,
    )


def _root_digest_problem(bundle: _Bundle) -> str | None:
    """model-signing's subject digest is sha256 over the resource digests in order."""
    if bundle.root_digest is None:
        return None
    hasher = hashlib.sha256()
    for resource in bundle.resources:
        hasher.update(bytes.fromhex(resource.digest))
    if hasher.hexdigest() != bundle.root_digest:
        return (
            "the signed manifest is inconsistent: its resources do not hash to the subject digest"
        )
    return None


def _signer(material: dict[str, Any]) -> tuple[str, str | None]:
    """The signing method and a description of the signer, from the bundle."""
    tlog = material.get("tlogEntries")
    has_tlog = isinstance(tlog, list) and bool(tlog)
    key = material.get("publicKey")
    if isinstance(key, dict):
        hint = key.get("hint")
        if isinstance(hint, str) and hint:
            return "key", f"public key with sha256 (of its PEM form) {hint}"
        return "key", "a public key (the bundle gives no key hint)"
    der: bytes | None = None
    certificate = material.get("certificate")
    chain = material.get("x509CertificateChain")
    raw: object = None
    if isinstance(certificate, dict):
        raw = certificate.get("rawBytes")
    elif isinstance(chain, dict):
        certs = chain.get("certificates")
        if isinstance(certs, list) and certs and isinstance(certs[0], dict):
            raw = certs[0].get("rawBytes")
    if raw is None:
        return "unknown", None
    method = "sigstore" if has_tlog else "certificate"
    if isinstance(raw, str):
        with contextlib.suppress(binascii.Error, ValueError):
            der = base64.b64decode(raw, validate=True)
    if der is None:
        return method, "a certificate that could not be decoded"
    return method, describe_certificate(der)


def describe_certificate(der: bytes) -> str:
    """Who a signing certificate names: SAN identities, OIDC issuer, subject and issuer.

    Uses the ``cryptography`` package when it is installed (it comes with
    model-signing); otherwise says that the certificate was not decoded.
    """
    try:
        x509 = _optional("cryptography.x509")
    except ImportError:
        return "a certificate (not decoded: the cryptography package is not installed)"
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        return f"a certificate that could not be parsed ({exc})"
    names: list[str] = []
    with contextlib.suppress(x509.ExtensionNotFound, ValueError):
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names.extend(san.get_values_for_type(x509.RFC822Name))
        names.extend(san.get_values_for_type(x509.UniformResourceIdentifier))
        names.extend(san.get_values_for_type(x509.DNSName))
    issuer_oidc = _oidc_issuer(cert, x509)
    subject = cert.subject.rfc4514_string()
    shown = ", ".join(names[:MAX_NAMES]) + (
        f" and {len(names) - MAX_NAMES} more" if len(names) > MAX_NAMES else ""
    )
    parts = [shown] if names else []
    if subject:
        parts.append(f"subject {subject}")
    if issuer_oidc:
        parts.append(f"OIDC issuer {issuer_oidc}")
    parts.append(f"certificate issued by {cert.issuer.rfc4514_string() or 'an unnamed issuer'}")
    text = "; ".join(parts)
    return text if len(text) <= MAX_SIGNER else text[: MAX_SIGNER - 1] + "…"


def _oidc_issuer(cert: Any, x509: Any) -> str | None:
    for oid, der_encoded in ((_OID_ISSUER_V2, True), (_OID_ISSUER_V1, False)):
        try:
            ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid))
        except x509.ExtensionNotFound:
            continue
        value = getattr(ext.value, "value", b"")
        if not isinstance(value, bytes):
            continue
        if der_encoded and len(value) >= 2 and value[0] == 0x0C and value[1] < 0x80:
            value = value[2 : 2 + value[1]]
        return value.decode("utf-8", "replace")
    return None


# --------------------------------------------------------------------- digests


def _compare_digests(
    release: Release, bundle: _Bundle, hash_files: bool
) -> tuple[tuple[str, ...], int]:
    """Signed files whose sha256 differs from the signed one, and how many were compared.

    Only whole-file sha256 manifests can be compared without model-signing.
    """
    if bundle.serialization.get("method") != "files":
        return (), 0
    changed: list[str] = []
    checked = 0
    files = {f.path: f for f in release.files}
    for resource in bundle.resources:
        if resource.algorithm.lower() not in ("sha256", "sha-256"):
            continue
        file = files.get(resource.path)
        if file is None or file.kind is FileKind.UNREADABLE:
            continue
        digest = _sha256_of(release, file, hash_files)
        if digest is None:
            continue
        checked += 1
        if digest != resource.digest:
            changed.append(resource.path)
    return tuple(sorted(changed)), checked


def _sha256_of(release: Release, file: ReleaseFile, hash_files: bool) -> str | None:
    known = release.known_sha256(file)
    if known is not None or not hash_files:
        return known
    try:
        return release.sha256(file)
    except ReleaseReadError:
        return None


# --------------------------------------------------------------------- model-signing


def _optional(module: str) -> Any:
    """Import an optional dependency (typed as Any: mypy passes with or without it)."""
    return importlib.import_module(module)


def _model_signing_problem() -> str | None:
    """Why the model-signing library cannot be used, or None when it can."""
    try:
        _optional("model_signing.hashing")
        _optional("model_signing.verifying")
    except ImportError as exc:
        if (exc.name or "").split(".")[0] == "model_signing":
            return "model-signing not installed (pip install 'seewhy[signing]')"
        return f"model-signing could not be imported: {exc}"
    return None


def _model_signing_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("model-signing")
    except PackageNotFoundError:
        return "(unknown version)"


def _run_model_signing(
    release: Release, bundle: _Bundle, trust: SignatureTrust, not_covered: Iterable[str]
) -> None:
    """Verify with model-signing; raises whatever it raises when verification fails."""
    ms_hashing = _optional("model_signing.hashing")
    ms_verifying = _optional("model_signing.verifying")

    ser = bundle.serialization
    hashing = ms_hashing.Config()
    algorithm = str(ser.get("hash_type") or "sha256")
    if algorithm not in ("sha256", "blake2", "blake3"):
        raise ValueError(f"the signature uses hash type {algorithm!r}, which model-signing lacks")
    allow_symlinks = bool(ser.get("allow_symlinks", False))
    if ser.get("method") == "shards":
        hashing.use_shard_serialization(
            hashing_algorithm=algorithm,
            shard_size=int(ser.get("shard_size", 1_000_000_000)),
            allow_symlinks=allow_symlinks,
        )
    else:
        hashing.use_file_serialization(
            hashing_algorithm=algorithm,
            allow_symlinks=allow_symlinks,
        )
    # Files the signature does not cover are reported separately (not a failure),
    # and so are folders seewhy does not list; leave them all out of the hashing.
    signed = {r.path for r in bundle.resources}
    unlisted = [
        folder
        for folder in (".hg", ".svn", HF_LOCAL_CACHE.rstrip("/"))
        if not any(p == folder or p.startswith(folder + "/") for p in signed)
    ]
    ignored = [SIGNATURE_FILE, *not_covered, *unlisted, *_str_list(ser.get("ignore_paths"))]
    git_signed = any(p.split("/", 1)[0] in GIT_PATHS for p in signed)
    hashing.set_ignored_paths(paths=ignored, ignore_git_paths=not git_signed)

    config = ms_verifying.Config().set_hashing_config(hashing)
    if ser.get("method") == "files":
        # Hash exactly the signed files (shard names are not paths, so not for shards).
        config.set_ignore_unsigned_files(True)
    method = trust.method
    if method == "key":
        assert trust.public_key is not None
        config.use_elliptic_key_verifier(public_key=trust.public_key)
    elif method == "certificate":
        config.use_certificate_verifier(certificate_chain=trust.certificate_chain or ())
    else:
        assert trust.identity is not None and trust.oidc_issuer is not None
        config.use_sigstore_verifier(
            identity=trust.identity, oidc_issuer=trust.oidc_issuer, trust_config=trust.trust_config
        )
    # model-signing prints a warning for old bundles; an analyzer must not print.
    with contextlib.redirect_stdout(io.StringIO()):
        config.verify(release.root, release.root / SIGNATURE_FILE)


_HASH_MISMATCH = re.compile(r"Hash mismatch for '([^']*)'")
MAX_REASON = 300


def _failure_reason(exc: Exception) -> str:
    """model-signing's error as one readable line (its digest diffs are byte reprs)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if text.startswith("Signature mismatch"):
        changed = _HASH_MISMATCH.findall(text)
        if changed:
            return f"{len(changed)} signed file(s) changed since signing: {_few(sorted(changed))}"
        return text[:MAX_REASON]
    reason = f"{type(exc).__name__}: {text}"
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"


def _str_list(value: object) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []
