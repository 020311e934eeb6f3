"""Provenance: does the release carry an OpenSSF model signature, and does it hold?

The analyzer reads ``model.sig`` at the release root through
:func:`seewhy.provenance.verify_signature`: who signed (Sigstore identity,
certificate subject or public-key hint), which files the signature covers and
whether it verifies. The signer is authenticated only against a
:class:`~seewhy.provenance.SignatureTrust` given by the user (never one found
in the release); without one, or without the optional model-signing library,
the signature is reported as *unverified*. Nothing from the release is run.

A release without ``model.sig`` (for a single file: none beside it) gets the
fact ``unsigned`` and no finding: most releases are unsigned today, and a
finding on each would be noise. When the user asked for verification (a key,
chain or identity) or set the policy ``require_signature`` /
``no_unsigned_files``, a missing signature is a high finding instead, and a
signature that does not verify is one too. Files outside the signed manifest
are a medium finding, high under ``no_unsigned_files``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seewhy.analyzers.interface import AnalyzerResult, AuditContext, ResultBuilder
from seewhy.release.model import Release
from seewhy.report.model import CoverageStatus, Evidence, FactValue

if TYPE_CHECKING:  # seewhy.provenance is imported when the release has a signature
    from seewhy.provenance import SignatureResult, SignatureTrust

SIGNATURE_FILE = "model.sig"
"""The signature bundle at the release root (:data:`seewhy.provenance.SIGNATURE_FILE`)."""

FACT_KEY = "provenance.signature"
FACT_LABEL = "Model signature (OpenSSF model signing)"
MAX_FILE_EVIDENCE = 20

RULE_FAILED = "SW-SIG-001"
RULE_NOT_COVERED = "SW-SIG-002"
RULE_NO_LIBRARY = "SW-SIG-003"
RULE_NO_TRUST = "SW-SIG-004"
RULE_REQUIRED = "SW-SIG-005"
RULE_NOT_COVERED_POLICY = "SW-SIG-006"


class SignatureAnalyzer:
    """Reports the release's model signature: signer, covered files, verification."""

    name = "security.signature"

    def __init__(self, trust: SignatureTrust | None = None) -> None:
        """``trust`` is what the user trusts the signature to come from (optional)."""
        self.trust = trust

    def analyze(self, release: Release, ctx: AuditContext) -> AnalyzerResult:
        """See :class:`~seewhy.analyzers.interface.Analyzer`."""
        b = ResultBuilder(self.name, ctx.rules)
        result: SignatureResult | None = None
        if _may_be_signed(release):
            from seewhy.provenance import verify_signature

            result = verify_signature(release, self.trust, hash_files=ctx.options.hash_files)
        if result is None:
            where = "at the release root" if release.source_kind == "folder" else "beside the file"
            unsigned = Evidence(note=f"no {SIGNATURE_FILE} {where}")
            b.fact(FACT_KEY, FACT_LABEL, {"status": "unsigned", "verified": False}, [unsigned])
            if self.trust is not None and self.trust.requires_signature:
                b.finding(
                    RULE_REQUIRED,
                    f"a verified signature was required, but the release has no "
                    f"{SIGNATURE_FILE} {where}",
                    [unsigned],
                )
            return b.result
        sig = Evidence(
            path=result.path,
            pointer="/verificationMaterial" if result.signer else None,
            excerpt=result.signer,
            note=result.status_text,
        )
        b.fact(FACT_KEY, FACT_LABEL, _fact_value(result), [sig])
        if result.parsed:
            b.cover(
                result.path,
                CoverageStatus.PARSED,
                f"Sigstore bundle ({result.method}), {len(result.covered)} signed files",
            )
        else:
            b.cover(result.path, CoverageStatus.INCONCLUSIVE, result.reason)
        _findings(b, result, sig, self.trust)
        return b.result


def _may_be_signed(release: Release) -> bool:
    """A cheap look for model.sig (the release root, or beside a single file)."""
    if release.source_kind == "folder":
        return release.file(SIGNATURE_FILE) is not None
    return (release.root / SIGNATURE_FILE).is_file()


def _fact_value(result: SignatureResult) -> FactValue:
    return {
        "status": result.status.value,
        "verified": result.verified,
        "signed_by": result.signer,
        "method": result.method,
        "files_covered": len(result.covered),
        "files_not_covered": len(result.not_covered),
        "reason": result.reason,
    }


def _file_evidence(paths: tuple[str, ...], note: str) -> list[Evidence]:
    return [Evidence(path=p, note=note) for p in paths[:MAX_FILE_EVIDENCE]]


def _more(paths: tuple[str, ...]) -> str:
    extra = len(paths) - MAX_FILE_EVIDENCE
    return f" (the first {MAX_FILE_EVIDENCE} are listed; {extra} more)" if extra > 0 else ""


def _findings(
    b: ResultBuilder, result: SignatureResult, sig: Evidence, trust: SignatureTrust | None
) -> None:
    from seewhy.provenance import SignatureStatus

    signer = result.signer or "an unnamed signer"
    if result.status is SignatureStatus.FAILED:
        evidence = [
            sig,
            *_file_evidence(result.changed, "changed since it was signed: its sha256 differs"),
            *_file_evidence(result.missing, "signed, but missing from the release"),
        ]
        b.finding(
            RULE_FAILED,
            f"{result.path} does not verify: {result.reason}",
            evidence,
        )
    elif result.status is SignatureStatus.UNVERIFIED and trust is not None and trust.method:
        # verification was asked for and did not happen: a failure, never a note
        b.finding(RULE_FAILED, f"{result.path} was not verified: {result.reason}", [sig])
    elif result.status is SignatureStatus.UNVERIFIED:
        rule = RULE_NO_LIBRARY if result.library_problem else RULE_NO_TRUST
        b.finding(
            rule,
            f"{result.path} (signed by {signer}) was not verified: {result.reason}",
            [sig],
        )
    if result.not_covered:
        strict = trust is not None and trust.no_unsigned_files
        b.finding(
            RULE_NOT_COVERED_POLICY if strict else RULE_NOT_COVERED,
            f"{len(result.not_covered)} file(s) of the release are not covered by "
            f"{result.path}{_more(result.not_covered)}",
            [
                Evidence(
                    path=result.path,
                    pointer="/dsseEnvelope/payload",
                    note=f"the signed manifest lists {len(result.covered)} file(s) of the release",
                ),
                *_file_evidence(result.not_covered, "not in the signed manifest"),
            ],
        )
