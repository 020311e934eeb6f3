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
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from seewhy.audit import Progress, hash_release
from seewhy.errors import ReleaseError, ReleaseIncompleteError, ReleaseReadError, UsageError
from seewhy.release.model import FileKind, Release, os_name

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

    Policy: with any trust anchor, ``require_signature`` or ``no_unsigned_files``
    a release without a signature is a high finding; ``no_unsigned_files``
    also makes files outside the signed manifest a high finding (medium
    otherwise). ``require_signature`` alone checks presence and digests, not
    who signed.
    """

    public_key: Path | None = None
    certificate_chain: tuple[Path, ...] | None = None
    identity: str | None = None
    oidc_issuer: str | None = None
    trust_config: Path | None = None
    require_signature: bool = False
    no_unsigned_files: bool = False

    @property
    def requires_signature(self) -> bool:
        """True when a release without a signature fails: a trust anchor or a policy asks."""
        return self.method is not None or self.require_signature or self.no_unsigned_files

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


class SignatureTrustError(UsageError):
    """The user's verification input cannot be used (key, chain, missing extra).

    An input error (the CLI exits 2), never a finding against the release.
    """


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

    For a folder the signature is ``model.sig`` at its root; for a single file,
    a ``model.sig`` beside it (the file must be listed in it, as ``.`` when the
    file was signed on its own or by its name when its folder was signed).

    The bundle is parsed here (bounded, no optional dependency) and its signed
    manifest compared with the release's own sha256 digests, so every changed,
    missing or added file is named from data, never from an error message. With
    ``hash_files``, or whenever ``trust`` names a key, chain or identity, the
    signed files are hashed (once: digests the audit already computed are
    reused); otherwise only digests already computed are compared.

    The signer is authenticated only by the ``model-signing`` library (an
    optional extra, imported lazily) against ``trust``: it checks the signature
    over the signed manifest, whose digests seewhy compares with its own
    (manifests of shards or of other hash types are hashed by model-signing).
    Without a trust anchor the result is *unverified*. Raises
    :class:`SignatureTrustError` when the user's trust input cannot be used (a
    missing or non-PEM key, a chain that is not PEM certificates, the library
    missing): that is an input error, not something wrong with the release.
    """
    loaded = _load_signature(release)
    if loaded is None or isinstance(loaded, SignatureResult):
        return loaded
    sig_path, raw = loaded
    try:
        bundle = parse_bundle(raw)
    except BundleError as exc:
        return _failed(f"{SIGNATURE_FILE} is not a model-signing Sigstore bundle: {exc}")

    single = release.source_kind == "file"
    signed = _signed_paths(release, bundle)  # resource name -> release path
    paths = set(signed.values())
    present = {f.path for f in release.files}
    covered = tuple(sorted(p for p in paths if p in present))
    missing = () if single else tuple(sorted(p for p in paths if p not in present))
    not_covered = (
        ()
        if single
        else tuple(
            f.path
            for f in release.files
            if f.path not in paths and not _not_release_content(f.path)
        )
    )
    verify_now = trust is not None and trust.method is not None
    own_digests = _sha256_manifest(bundle)
    changed: tuple[str, ...] = ()
    unreadable: tuple[str, ...] = ()
    checked = 0
    if own_digests:
        changed, unreadable, checked = _compare_digests(
            release, bundle, signed, hash_files or verify_now
        )
    base = SignatureResult(
        path=SIGNATURE_FILE,
        status=SignatureStatus.UNVERIFIED,
        reason="",
        method=bundle.method,
        signer=bundle.signer,
        model_name=bundle.model_name,
        serialization=str(bundle.serialization.get("method") or "") or None,
        covered=covered,
        not_covered=not_covered,
        changed=changed,
        missing=missing,
        digests_checked=checked,
        parsed=True,
        resources=bundle.resources,
    )
    if single and not covered:
        return _with(
            base,
            SignatureStatus.FAILED,
            f"the {SIGNATURE_FILE} beside {release.files[0].path} does not list that file",
            "seewhy",
        )
    inconsistency = _root_digest_problem(bundle)
    if inconsistency:
        return _with(base, SignatureStatus.FAILED, inconsistency, "seewhy")
    if missing or changed:
        return _with(base, SignatureStatus.FAILED, _digest_reason(changed, missing), _SEEWHY)
    if verify_now and unreadable:
        return _with(
            base,
            SignatureStatus.FAILED,
            f"{len(unreadable)} signed file(s) could not be read to check their digest: "
            f"{_few(unreadable)}",
            _SEEWHY,
        )

    problem = _model_signing_problem()
    if problem is not None:
        if verify_now:
            raise SignatureTrustError(f"cannot verify {SIGNATURE_FILE}: {problem}")
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
    if bundle.method != trust.method:
        return _with(base, SignatureStatus.FAILED, _kind_mismatch(bundle.method, trust), "seewhy")
    check_trust(trust)
    version = _model_signing_version()
    checked_by = f"model-signing {version} ({trust.method})"
    try:
        verified = _verified_resources(sig_path, trust)
    except SignatureTrustError:
        raise
    except Exception as exc:  # model-signing reports every failure as an exception
        return _with(base, SignatureStatus.FAILED, _failure_reason(exc), checked_by)
    if verified != [(r.name, r.digest) for r in bundle.resources]:
        return _with(
            base,
            SignatureStatus.FAILED,
            "the manifest model-signing verified differs from the one in the bundle",
            checked_by,
        )
    if not own_digests:  # shards or another hash type: model-signing hashes the signed files
        try:
            changed, missing = _model_signing_digests(release, bundle, signed)
        except Exception as exc:
            return _with(base, SignatureStatus.FAILED, _failure_reason(exc), checked_by)
        if changed or missing:
            return _with(
                replace(base, changed=changed, missing=missing),
                SignatureStatus.FAILED,
                _digest_reason(changed, missing),
                checked_by,
            )
        checked_by += ", digests by model-signing"
    else:
        checked_by += ", digests by seewhy (sha256)"
    return _with(
        base,
        SignatureStatus.VERIFIED,
        f"signature verified by {checked_by}; {len(base.covered)} file(s) match it",
        checked_by,
    )


_SEEWHY = "seewhy digest comparison"
_KINDS = {
    "key": ("a public key", "--public-key"),
    "certificate": ("a certificate", "--certificate-chain"),
    "sigstore": ("Sigstore (keyless)", "--identity with --oidc-issuer"),
}


def _kind_mismatch(method: str, trust: SignatureTrust) -> str:
    given = _KINDS.get(trust.method or "", ("", "?"))[1]
    if method not in _KINDS:
        return (
            f"{SIGNATURE_FILE} names neither a public key nor a certificate, so it cannot be "
            f"verified with {given}"
        )
    kind, option = _KINDS[method]
    return (
        f"{SIGNATURE_FILE} is signed with {kind}; verify it with {option} "
        f"(seewhy was given {given}, which cannot verify this kind of signature)"
    )


def _digest_reason(changed: Sequence[str], missing: Sequence[str]) -> str:
    parts = []
    if changed:
        parts.append(f"{len(changed)} signed file(s) changed since signing: {_few(changed)}")
    if missing:
        parts.append(f"{len(missing)} signed file(s) missing: {_few(missing)}")
    return "; ".join(parts)


def _load_signature(release: Release) -> tuple[Path, bytes] | SignatureResult | None:
    """The signature's path and bytes (bounded), a failure, or None when there is none."""
    if release.source_kind == "folder":
        sig_file = release.file(SIGNATURE_FILE)
        if sig_file is None:
            return None
        if sig_file.size > MAX_SIGNATURE_BYTES:
            return _too_big(sig_file.size)
        try:
            return release.root / SIGNATURE_FILE, release.read_head(sig_file, MAX_SIGNATURE_BYTES)
        except ReleaseReadError as exc:
            return _failed(f"{SIGNATURE_FILE} could not be read: {exc.reason}")
    if len(release.files) != 1 or release.files[0].path == SIGNATURE_FILE:
        return None
    path = release.root / SIGNATURE_FILE
    try:
        if not path.is_file():
            return None
        with path.open("rb") as fh:
            raw = fh.read(MAX_SIGNATURE_BYTES + 1)
    except OSError as exc:
        return _failed(f"the {SIGNATURE_FILE} beside the file could not be read: {exc}")
    if len(raw) > MAX_SIGNATURE_BYTES:
        return _too_big(len(raw))
    release.meter.add(len(raw), None)
    return path, raw


def _too_big(size: int) -> SignatureResult:
    return _failed(
        f"{SIGNATURE_FILE} is {size:,} bytes or more, over the "
        f"{MAX_SIGNATURE_BYTES:,}-byte cap for a signature bundle"
    )


def _signed_paths(release: Release, bundle: _Bundle) -> dict[str, str]:
    """Each signed resource's name and the release path it stands for.

    For a single-file release only the entries for that file count: ``.`` (the
    file signed on its own) or its own name (its folder signed).
    """
    if release.source_kind != "file":
        return {r.name: r.path for r in bundle.resources}
    name = release.files[0].path
    return {r.name: name for r in bundle.resources if r.path in (".", name)}


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


def _sha256_manifest(bundle: _Bundle) -> bool:
    """True when seewhy's own whole-file sha256 digests can check every signed file."""
    return bundle.serialization.get("method") == "files" and all(
        r.algorithm.lower() in ("sha256", "sha-256") for r in bundle.resources
    )


def _compare_digests(
    release: Release, bundle: _Bundle, signed: dict[str, str], hash_files: bool
) -> tuple[tuple[str, ...], tuple[str, ...], int]:
    """Signed files whose sha256 differs, signed files that could not be read, and
    how many digests were compared. Each file is hashed at most once per release
    (:meth:`Release.sha256` keeps the digest), so an audit with ``--hash`` reads
    every file once for both the report and the signature.
    """
    changed: list[str] = []
    unreadable: list[str] = []
    checked = 0
    for resource in bundle.resources:
        path = signed.get(resource.name)
        file = release.file(path) if path is not None else None
        if file is None:
            continue
        if file.kind is FileKind.UNREADABLE:
            unreadable.append(file.path)
            continue
        digest = release.known_sha256(file)
        if digest is None and hash_files:
            try:
                digest = release.sha256(file)
            except ReleaseReadError:
                unreadable.append(file.path)
                continue
        if digest is None:
            continue
        checked += 1
        if digest != resource.digest:
            changed.append(file.path)
    return tuple(sorted(set(changed))), tuple(sorted(set(unreadable))), checked


# --------------------------------------------------------------------- trust input


def check_trust(trust: SignatureTrust) -> None:
    """Check the user's own verification input before any release is read.

    Raises :class:`SignatureTrustError` (an input error) when verification is
    asked for but cannot be done: the ``signing`` extra is not installed, the
    public key file is missing, unreadable or not a PEM elliptic-curve public
    key, or a certificate chain file is not PEM certificates.
    """
    if trust.method is None:
        return
    problem = _model_signing_problem()
    if problem is not None:
        raise SignatureTrustError(f"cannot verify model signatures: {problem}")
    if trust.public_key is not None:
        raw = _trust_file(trust.public_key, "--public-key")
        serialization = _optional("cryptography.hazmat.primitives.serialization")
        ec = _optional("cryptography.hazmat.primitives.asymmetric.ec")
        try:
            key = serialization.load_pem_public_key(raw)
        except (ValueError, TypeError) as exc:
            raise SignatureTrustError(
                f"the --public-key file {trust.public_key} is not a PEM public key "
                f"({' '.join(str(exc).split())[:200]})"
            ) from None
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise SignatureTrustError(
                f"the --public-key file {trust.public_key} holds a {type(key).__name__}; "
                "model signatures made with a key use an elliptic-curve (EC) key"
            )
    for path in trust.certificate_chain or ():
        raw = _trust_file(path, "--certificate-chain")
        x509 = _optional("cryptography.x509")
        try:
            x509.load_pem_x509_certificates(raw)
        except ValueError:
            raise SignatureTrustError(
                f"the --certificate-chain file {path} holds no PEM certificate"
            ) from None
    if trust.trust_config is not None:
        _trust_file(trust.trust_config, "the Sigstore trust configuration")


MAX_TRUST_FILE = 1024 * 1024


def _trust_file(path: Path, option: str) -> bytes:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_TRUST_FILE + 1)
    except FileNotFoundError:
        raise SignatureTrustError(f"the {option} file {path} does not exist") from None
    except OSError as exc:
        raise SignatureTrustError(
            f"the {option} file {path} cannot be read: {exc.strerror or exc}"
        ) from None
    if len(raw) > MAX_TRUST_FILE:
        raise SignatureTrustError(
            f"the {option} file {path} is over {MAX_TRUST_FILE:,} bytes; "
            "a PEM key or chain is a few kilobytes"
        )
    return raw


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


def _verified_resources(sig_path: Path, trust: SignatureTrust) -> list[tuple[str, str]]:
    """The signed manifest, as model-signing verified it: (name, hex digest) in order.

    model-signing checks the signature over the manifest (its own cryptography,
    against the user's key, chain or identity) and returns it; the files are
    not hashed here. ``Config.verify`` would hash them again, so the verifier
    it configures is used directly (model-signing 1.x keeps it as
    ``Config._verifier`` and reads bundles with its ``Signature`` classes).
    """
    ms_verifying = _optional("model_signing.verifying")
    config = ms_verifying.Config()
    if trust.method == "key":
        config.use_elliptic_key_verifier(public_key=trust.public_key)
        reader = getattr(ms_verifying, "sigstore_pb", None)
    elif trust.method == "certificate":
        config.use_certificate_verifier(certificate_chain=trust.certificate_chain or ())
        reader = getattr(ms_verifying, "sigstore_pb", None)
    else:
        config.use_sigstore_verifier(
            identity=trust.identity, oidc_issuer=trust.oidc_issuer, trust_config=trust.trust_config
        )
        reader = getattr(ms_verifying, "sigstore", None)
    verifier = getattr(config, "_verifier", None)
    if verifier is None or reader is None or not hasattr(reader, "Signature"):
        raise SignatureTrustError(
            f"model-signing {_model_signing_version()} is not a version seewhy can drive "
            "(it needs model-signing 1.x); install seewhy[signing] again"
        )
    # model-signing prints a warning for old bundles; an analyzer must not print.
    with contextlib.redirect_stdout(io.StringIO()):
        manifest = verifier.verify(reader.Signature.read(sig_path))
    return [
        (str(rd.identifier), str(rd.digest.digest_hex)) for rd in manifest.resource_descriptors()
    ]


def _model_signing_digests(
    release: Release, bundle: _Bundle, signed: dict[str, str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Hash the signed files with model-signing (shards, non-sha256 hashes) and
    compare with the signed manifest: (changed, missing) release paths."""
    ms_hashing = _optional("model_signing.hashing")
    ser = bundle.serialization
    hashing = ms_hashing.Config()
    algorithm = str(ser.get("hash_type") or "sha256")
    algorithm = {"blake2b": "blake2"}.get(algorithm, algorithm)  # the manifest's name for it
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
        hashing.use_file_serialization(hashing_algorithm=algorithm, allow_symlinks=allow_symlinks)
    paths = sorted({p for p in signed.values() if release.file(p) is not None})
    missing = tuple(sorted(set(signed.values()) - set(paths)))
    if release.source_kind == "file" and any(r.path == "." for r in bundle.resources):
        model_path = release.files[0].abs_path
        files: list[Path] | None = None
    else:
        model_path = release.root
        files = [release.root / p for p in paths]
    if files is not None and not files:
        return (), missing
    actual = hashing.hash(model_path, files_to_hash=files)
    got = {str(rd.identifier): str(rd.digest.digest_hex) for rd in actual.resource_descriptors()}
    changed = {
        signed[r.name] for r in bundle.resources if r.name in signed and got.get(r.name) != r.digest
    }
    expected = {r.name for r in bundle.resources}
    changed.update(_resource_path(n, str(ser.get("method"))) for n in got if n not in expected)
    return tuple(sorted(changed - set(missing))), missing


MAX_REASON = 300


def _failure_reason(exc: Exception) -> str:
    """model-signing's error as one bounded line (file digests never come from here)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    reason = f"{type(exc).__name__}: {text}"
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"


def _str_list(value: object) -> list[str]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []
