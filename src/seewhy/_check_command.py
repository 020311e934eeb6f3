"""``seewhy check --policy policy.yaml SOURCE...``: the policy gate (see :mod:`seewhy.policy`).

Each source is audited as ``seewhy audit`` would (or read from the JSON of
an earlier ``seewhy audit --format json``), the policy evaluated against the
report, and every violation printed with the report's evidence for it.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from seewhy._commands import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    CertificateChainOption,
    DebugOption,
    EvidenceStoreOption,
    IdentityOption,
    OidcIssuerOption,
    PublicKeyOption,
    _Command,
    _fatal,
    _report_error,
    _state,
    _trust,
    _worst,
    _write,
)
from seewhy.errors import SeewhyError

if TYPE_CHECKING:
    from seewhy.policy import Violation
    from seewhy.report.model import Evidence, Report

EPILOG = """\b
Examples:
  seewhy check --policy policy.yaml ./my-model
  seewhy check --policy policy.yaml ./a ./b --format json
  seewhy audit ./my-model -f json -o report.json && seewhy check --policy policy.yaml report.json
  seewhy check --policy policy.yaml ./my-model --evidence RUN_ID

\b
SOURCE is a model folder or weights file (audited now) or the JSON report of
an earlier `seewhy audit --format json`. The policy language is documented in
examples/policy.yaml and the README (section "Policy gate").

\b
Exit codes:
  0  every source meets the policy
  1  a source violates the policy (each violation printed with its evidence)
  2  usage or input error (bad option, invalid policy file, missing source)
  With several sources: the worst of them (2, then 1, then 0)."""


class CheckFormat(StrEnum):
    """Output formats of ``seewhy check``."""

    TEXT = "text"
    JSON = "json"


def check(
    sources: Annotated[
        list[str],
        typer.Argument(
            metavar="SOURCE",
            help="A model folder, a weights file, or a `seewhy audit --format json` report.",
            show_default=False,
        ),
    ],
    policy_path: Annotated[
        Path,
        typer.Option(
            "--policy",
            "-p",
            metavar="FILE",
            help="The policy (YAML); see examples/policy.yaml.",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        CheckFormat,
        typer.Option(
            "--format", "-f", metavar="FORMAT", case_sensitive=False, help="text or json."
        ),
    ] = CheckFormat.TEXT,
    evidence: Annotated[
        list[str] | None,
        typer.Option(
            metavar="RUN",
            help="Measured runs for claims.must_reproduce: a stored run id or a "
            "`seewhy eval --format json` file (repeatable).",
        ),
    ] = None,
    store: EvidenceStoreOption = None,
    public_key: PublicKeyOption = None,
    certificate_chain: CertificateChainOption = None,
    identity: IdentityOption = None,
    oidc_issuer: OidcIssuerOption = None,
    debug: DebugOption = False,
) -> None:
    """Gate releases on a policy: exit 1 when any violates it.

    Each release is audited and the policy (allowed licenses, forbidden
    clauses, worst finding, weights formats, signature, openness, claims)
    evaluated against the report; every violation is printed with its
    evidence.
    """
    from seewhy.policy import load_policy

    analyzers = None
    try:
        policy = load_policy(policy_path)
        trust = _trust(public_key, certificate_chain, identity, oidc_issuer)
        if evidence:
            from seewhy._eval_commands import audit_analyzers
            from seewhy.audit import default_analyzers

            analyzers = audit_analyzers(evidence, store, default_analyzers(trust))
    except (SeewhyError, OSError) as exc:
        _fatal(exc)
    from seewhy._compare_releases import load_report
    from seewhy.audit import audit as run_audit
    from seewhy.policy import evaluate

    results: list[dict[str, Any]] = []
    codes: list[int] = []
    for source in sources:
        try:
            report = load_report(source)
            if report is None:
                report = run_audit(
                    source,
                    hash_files=policy.needs_hashes,
                    analyzers=analyzers,
                    signature_trust=trust,
                    raise_errors=_state["debug"],
                )
        except (SeewhyError, OSError) as exc:
            _report_error(exc)
            codes.append(EXIT_USAGE)
            results.append({"source": source, "error": _one_line(exc)})
            continue
        violations = evaluate(policy, report)
        codes.append(EXIT_FINDINGS if violations else EXIT_OK)
        results.append({"source": source, "report": report, "violations": violations})
    if fmt is CheckFormat.JSON:
        _write(_json(str(policy_path), results), None)
    else:
        _write(_text(str(policy_path), results), None)
    raise typer.Exit(_worst(codes))


def _one_line(exc: BaseException) -> str:
    from seewhy._commands import _error_line

    return _error_line(exc)


# ------------------------------------------------------------------- output


def _evidence_line(e: Evidence) -> str:
    where = e.path or ""
    if where and e.line is not None:
        where += f":{e.line}"
    if where and e.offset is not None:
        where += f" @{e.offset}"
    if e.pointer:
        where += f" [{e.pointer}]"
    parts = [where] if where else []
    if e.excerpt:
        quote = " ".join(e.excerpt.split())
        parts.append(f'"{quote[:200]}{"…" if len(quote) > 200 else ""}"')
    if e.note:
        parts.append(f"({e.note})" if parts else e.note)
    return "  ".join(parts)


def _text(policy: str, results: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    failed = 0
    for r in results:
        if "error" in r:
            failed += 1
            lines.append(f"ERROR {r['source']}: {r['error']}")
            continue
        violations: list[Violation] = r["violations"]
        if not violations:
            lines.append(f"PASS  {r['source']}")
            continue
        failed += 1
        n = len(violations)
        lines.append(f"FAIL  {r['source']}: {n} violation{'s' if n != 1 else ''} of {policy}")
        for v in violations:
            finding = f" [{v.finding}]" if v.finding else ""
            lines.append(f"  {v.rule}{finding}: {v.message}")
            lines.extend(f"      {_evidence_line(e)}" for e in v.evidence[:8] if _evidence_line(e))
            if len(v.evidence) > 8:
                lines.append(f"      ... and {len(v.evidence) - 8} more")
    total = len(results)
    verb = "source meets" if total == 1 else "sources meet"
    lines.append(f"{total - failed} of {total} {verb} {policy}")
    return "\n".join(lines) + "\n"


def _json(policy: str, results: list[dict[str, Any]]) -> str:
    sources: list[dict[str, Any]] = []
    for r in results:
        if "error" in r:
            sources.append({"source": r["source"], "passed": False, "error": r["error"]})
            continue
        report: Report = r["report"]
        violations: list[Violation] = r["violations"]
        sources.append(
            {
                "source": r["source"],
                "release": report.release.name,
                "passed": not violations,
                "violations": [v.as_dict() for v in violations],
            }
        )
    doc = {
        "kind": "seewhy.check",
        "policy": policy,
        "passed": all(s["passed"] for s in sources),
        "sources": sources,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def register(app: typer.Typer) -> None:
    """Add ``check`` to the root app."""
    app.command("check", cls=_Command, epilog=EPILOG)(check)


__all__ = ["CheckFormat", "check", "register"]
