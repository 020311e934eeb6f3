"""Openness: MOF class, OSAID 1.0, OSAI-index grid, open-washing and the verdict.

The analyzer reads the release snapshot (card, config, GGUF headers), asks
license identification for the release's license statements, grades the
release (:func:`~seewhy.analyzers.openness.assess.assess`) and reports every
item as a fact with evidence. Fact keys:

* ``openness.license``: the effective license graded (declared plus the base models'
  terms, :mod:`.lineage`), its state, restrictions and the reason in words
* ``openness.lineage``: the base models named (front matter, else the card's prose) and the
  license each is known to carry
* ``openness.mof.components`` (name -> open/partial/closed/unknown) and
  ``openness.mof.<slug>`` per component ({status, mot, license, path, line, linked})
* ``openness.mof.class``, ``openness.mof.progress``, ``openness.mof.framework``,
  ``openness.mof.release``
* ``openness.osaid`` and ``openness.osaid.<requirement>`` ({status, reason})
* ``openness.osai.<parameter>`` ({class, score, link, notes, group, name}),
  ``openness.osai.score``, ``openness.osai.system``
* ``openness.claims``: every place the release calls itself open source (self-claims);
  ``openness.mentions``: where the card only mentions open source (other models, datasets)
"""

from __future__ import annotations

from collections.abc import Callable

from seewhy.analyzers.interface import AnalyzerResult, AuditContext, ResultBuilder
from seewhy.analyzers.license.identify import release_licenses
from seewhy.analyzers.license.model import ReleaseLicenses
from seewhy.analyzers.license.parents import hub_parent_terms
from seewhy.analyzers.openness import tables
from seewhy.analyzers.openness.assess import Assessment, assess
from seewhy.analyzers.openness.claims import Claim
from seewhy.analyzers.openness.licensing import restriction_summary, tag_evidence
from seewhy.analyzers.openness.lineage import BaseTerms
from seewhy.analyzers.openness.naming import NamingDuty, naming_duty
from seewhy.analyzers.openness.snapshot import read_snapshot
from seewhy.release.model import Release
from seewhy.report.model import Evidence, JSONScalar

LicenseProvider = Callable[[Release, AuditContext], ReleaseLicenses]
"""Where the release's license statements come from (license identification)."""

MAX_CLAIMS_QUOTED = 3
MAX_LINEAGE_EVIDENCE = 20


class OpennessAnalyzer:
    """Grades how open a release is; see the module docstring for the facts it emits."""

    name = "openness"

    def __init__(self, licenses: LicenseProvider = release_licenses) -> None:
        """``licenses``: license identification (memoised in ``ctx.cache``, so the license
        analyzer and this one share one identification); tests may pass their own."""
        self._licenses = licenses

    def analyze(self, release: Release, ctx: AuditContext) -> AnalyzerResult:
        """See :class:`~seewhy.analyzers.interface.Analyzer`."""
        b = ResultBuilder(self.name, ctx.rules)
        licenses = self._licenses(release, ctx)
        result = assess(
            read_snapshot(release, ctx.cache), licenses, hub_parent_terms(release, ctx.cache)
        )
        _license_fact(b, result)
        _mof_facts(b, result)
        _osaid_facts(b, result)
        _osai_facts(b, result)
        _claims(b, result)
        _naming(b, naming_duty(result.snapshot, licenses))
        v = result.verdict
        b.verdict("openness", v.value, v.reason, v.evidence)
        return b.result


def _license_fact(b: ResultBuilder, a: Assessment) -> None:
    lic = a.license
    declared = lic.declared
    b.fact(
        "openness.license",
        "License the openness grades rest on (effective: declared plus base models)",
        {
            "license": lic.display if lic.primary is not None or lic.inherited else None,
            "state": lic.state,
            "osi_approved": lic.osi,
            "mot_open": lic.mot_open,
            "restrictions": restriction_summary(lic.restrictions) or None,
            "others": ", ".join(lic.others) or None,
            "declared": declared.display if declared.primary is not None else None,
            "declared_state": declared.state,
            "inherited": ", ".join(str(t.license_id) for t in lic.inherited) or None,
            "unlicensed": lic.unlicensed,
            "referenced": ", ".join(r.target for r in lic.referenced) or None,
            "reason": lic.reason,
        },
        lic.evidence() or [Evidence(note="no license statement found")],
    )
    if declared.model_referenced and (declared.scoped or declared.set_aside):
        # The card scopes the weights to a document it lacks, and states other licenses.
        b.finding("SW-OPEN-006", lic.reason, declared.scope_evidence())
    _lineage_fact(b, a)


def _base_value(t: BaseTerms) -> str:
    """'LicenseRef-... (not open); finetune; base_model' for one parent."""
    if t.license_id is None:
        terms = "license not known offline"
    else:
        terms = f"{t.license_id} ({'open' if t.open else 'not open'})"
    parts = [terms, t.parent.relation or "relation not stated", t.parent.source]
    if t.parent.from_text:
        parts.append("lower confidence")
    return "; ".join(parts)


def _lineage_fact(b: ResultBuilder, a: Assessment) -> None:
    """The parents the release names, each with the license it is known to carry."""
    lic = a.license
    if not lic.bases:
        return
    b.fact(
        "openness.lineage",
        "Base models and their licenses",
        {t.parent.name: _base_value(t) for t in lic.bases},
        [t.evidence() for t in lic.bases[:MAX_LINEAGE_EVIDENCE]]
        + [Evidence(note=n) for n in lic.lineage.notes],
    )
    prose = [t for t in lic.inherited if t.parent.from_text]
    if prose and lic.declared.primary is not None:
        b.finding(
            "SW-OPEN-005",
            f"{lic.reason}: the card's own words name the base, its front matter has no base_model",
            lic.declared.evidence()[:1] + [t.evidence() for t in prose[:3]],
        )


def _mof_facts(b: ResultBuilder, a: Assessment) -> None:
    summary: dict[str, JSONScalar] = {}
    for name, cg in a.components.items():
        summary[name] = cg.grade
        first = cg.detected.first
        evidence = [s.evidence() for s in cg.detected.sightings] or [Evidence(note=cg.note)]
        b.fact(
            f"openness.mof.{cg.detected.component.slug}",
            f"MOF component: {name}",
            {
                "name": name,
                "status": cg.grade,
                "mot": cg.mot.status,
                "license": cg.mot.license,
                "path": first.location if first else None,
                "line": first.line if first and not first.url else None,
                "linked": cg.detected.linked,
                "note": cg.note,
                "description": cg.detected.component.description,
                "content_type": cg.detected.component.content_type,
            },
            evidence,
        )
    b.fact(
        "openness.mof.components",
        "MOF components (open / partial / closed / unknown)",
        summary,
        [Evidence(note="per-component facts openness.mof.<component> give the evidence")],
    )
    t = tables.mot()
    linked = [n for n, cg in a.components.items() if cg.detected.linked]
    notes = [
        Evidence(note=f"{t.label(c)}: {a.mot.progress[c]:.0f}% of its required components")
        for c in (3, 2, 1)
    ]
    if linked:
        notes.append(
            Evidence(
                note="linked, licenses not checked (MOT gives them the release license): "
                + ", ".join(linked)
            )
        )
    if a.license.mot_name is None:
        notes.append(Evidence(note="no release license identified: every component is unlicensed"))
    b.fact(
        "openness.mof.class",
        "MOF class (as the Model Openness Tool computes it)",
        a.mot.label,
        notes,
    )
    b.fact(
        "openness.mof.progress",
        "MOF class progress (percent)",
        {t.label(c): round(a.mot.progress[c], 1) for c in (3, 2, 1)},
        notes[:3],
    )
    b.fact(
        "openness.mof.framework",
        "Model Openness Framework version graded against",
        {"name": t.framework_name, "version": t.framework_version, "date": t.framework_date},
        [Evidence(note="lfai/model_openness_tool@8b5d30e (mof.settings.yml, ModelEvaluator.php)")],
    )
    b.fact(
        "openness.mof.release",
        "MOF release fields a snapshot can fill",
        dict(a.release_info),
        a.license.evidence()[:1] or [Evidence(note="no license identified")],
    )


def _osaid_facts(b: ResultBuilder, a: Assessment) -> None:
    summary: dict[str, JSONScalar] = {}
    for r in a.osaid.requirements:
        summary[r.key] = r.status
        b.fact(
            f"openness.osaid.{r.key}",
            f"OSAID 1.0: {r.name}",
            {"status": r.status, "reason": r.reason},
            r.evidence or [Evidence(note=r.reason)],
        )
    summary["conforms"] = a.osaid.conforms
    b.fact(
        "openness.osaid",
        "OSI Open Source AI Definition 1.0",
        summary,
        [Evidence(note=f"{r.name}: {r.status}: {r.reason}") for r in a.osaid.requirements],
    )


def _osai_facts(b: ResultBuilder, a: Assessment) -> None:
    scores = tables.osai().scores
    for item in a.osai:
        p = item.param
        b.fact(
            f"openness.osai.{p.ref}",
            f"Open Source AI Index: {p.name}",
            {
                "class": item.grade,
                "score": scores.get(item.grade),
                "link": item.link,
                "notes": item.notes,
                "not_found": item.not_found,
                "group": p.group,
                "name": p.name,
            },
            item.evidence,
        )
    s = a.osai_score
    value: dict[str, JSONScalar] = {
        "total": s.total,
        **s.groups,
        "scored": s.scored,
        "unknown": s.unknown,
        "not_found": s.not_found,
    }
    note = (
        f"open 1, partial 0.5, closed 0; mean over {s.scored} scored parameters; "
        f"{s.not_found} graded closed because this snapshot does not show them"
    )
    b.fact("openness.osai.score", "Open Source AI Index score (0-1)", value, [Evidence(note=note)])
    info = a.release_info
    b.fact(
        "openness.osai.system",
        "Open Source AI Index system fields",
        {
            "name": info["name"],
            "link": info["huggingface"],
            "type": info["osai_type"],
            "basemodelname": info["base_model"] or info["name"],
            "endmodelname": info["name"],
            "endmodellicense": info["license_display"],
            "org": info["producer"],
        },
        [Evidence(note="filled from the card and the release folder name")],
    )


def _claim_evidence(c: Claim) -> Evidence:
    return Evidence(
        path=c.path,
        line=c.line,
        offset=c.offset,
        pointer=c.pointer,
        excerpt=c.quote,
        note=f"{'open-source claim' if c.self_claim else 'mention, not a claim'}: "
        f"{c.phrase!r} ({c.reading})"
        if c.reading
        else f"open-source claim: {c.phrase!r}",
    )


def _where(c: Claim) -> str:
    if c.line is not None:
        suffix = f" ({c.pointer})" if c.pointer else ""
        return f"{c.path}:{c.line}{suffix}"
    return f"{c.path} {c.pointer}" if c.pointer else c.path


def _claims(b: ResultBuilder, a: Assessment) -> None:
    """Self-claims are facts and, when the license or OSAID disagree, open-washing findings;
    mere mentions (other open-source models, datasets, tools) are listed, never judged."""
    claims = [c for c in a.claims if c.self_claim]
    mentions = [c for c in a.claims if not c.self_claim]
    if mentions:
        b.fact(
            "openness.mentions",
            "Open source mentioned, not about this release",
            [f"{_where(c)}: {c.quote}" for c in mentions[:20]],
            [_claim_evidence(c) for c in mentions[:20]],
        )
    if not claims:
        return
    b.fact(
        "openness.claims",
        "Where the release calls itself open source",
        [f"{_where(c)}: {c.quote}" for c in claims[:20]],
        [_claim_evidence(c) for c in claims[:20]],
    )
    first = claims[0]
    more = f" (and {len(claims) - 1} more)" if len(claims) > 1 else ""
    said = f'{_where(first)} calls the release open source ("{first.quote}"){more}'
    claim_ev = [_claim_evidence(c) for c in claims[:MAX_CLAIMS_QUOTED]]
    lic = a.license
    if lic.state == "restricted":
        b.finding(
            "SW-OPEN-001",
            f"{said}, but its weights are under {lic.display}: "
            f"{restriction_summary(lic.restrictions)}",
            claim_ev + [tag_evidence(t) for t in lic.restrictions[:3]] + lic.evidence()[:1],
        )
    elif lic.state == "not-open" or (lic.state == "open" and not lic.osi):
        b.finding(
            "SW-OPEN-001",
            f"{said}, but its weights are under {lic.display}, which is not OSI-approved",
            claim_ev + lic.evidence()[:1],
        )
    elif lic.state == "open":
        unmet = a.osaid.unmet()
        if unmet:
            parts = "; ".join(f"{r.name}: {r.status} ({r.reason})" for r in unmet)
            b.finding(
                "SW-OPEN-002",
                f"{said}, but OSAID 1.0 is not shown to be met: {parts}",
                claim_ev + [r.evidence[0] for r in unmet if r.evidence],
            )
    else:
        b.finding(
            "SW-OPEN-003",
            f"{said}, but no license could be identified for it",
            claim_ev + (lic.evidence()[:2] or [Evidence(note="no license statement found")]),
        )


def _naming(b: ResultBuilder, duty: NamingDuty | None) -> None:
    """The license's naming duty for derivatives, checked against the release's own names."""
    if duty is None:
        return
    clause = tag_evidence(duty.clause)
    b.fact(
        "openness.naming",
        f'Derivative names must begin with "{duty.required}"',
        {c.source: f"{c.name} ({'begins' if c.ok else 'does not begin'} so)" for c in duty.checks},
        [clause, *(c.evidence for c in duty.checks)],
    )
    broken = duty.broken
    if broken:
        names = ", ".join(f"{c.source} {c.name!r}" for c in broken)
        b.finding(
            "SW-OPEN-004",
            f'the license requires derivatives to include "{duty.required}" at the beginning of '
            f"their name, but this derivative is named {names}",
            [*(c.evidence for c in broken), clause],
        )
