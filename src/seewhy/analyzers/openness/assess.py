"""The openness assessment of one release: a pure function of what was read.

:func:`assess` combines the snapshot (files, card, config, GGUF headers) and
the license statements into the MOF class (as MOT computes it), the OSAID
1.0 check, the OSAI-index grid, the open-source claims and the verdict. The
analyzer (:mod:`.analyzer`) only turns the result into facts and findings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from seewhy.analyzers.license.model import ReleaseLicenses
from seewhy.analyzers.license.parents import ParentTerms
from seewhy.analyzers.openness import tables
from seewhy.analyzers.openness.claims import Claim, card_claims, text_claim
from seewhy.analyzers.openness.components import Detected, detect_components
from seewhy.analyzers.openness.licensing import (
    ReleaseLicense,
    referenced_licenses,
    restriction_summary,
)
from seewhy.analyzers.openness.lineage import EffectiveLicense, effective_license, read_lineage
from seewhy.analyzers.openness.mot import MotComponent, MotResult, evaluate
from seewhy.analyzers.openness.osai_index import Grade, OsaiItem, OsaiScore, grade_osai, score
from seewhy.analyzers.openness.osaid import Osaid, check_osaid
from seewhy.analyzers.openness.snapshot import Snapshot
from seewhy.report.model import Evidence

VerdictValue = Literal[
    "open-source-ai",
    "open-weights",
    "restricted-weights",
    "unlicensed-weights",
    "closed",
    "unknown",
]
"""unlicensed-weights: the weights are available but nothing in the snapshot grants any
right to use them (not "unknown": no license means no rights)."""

_SIZE = re.compile(r"(?<![a-z0-9])(\d+(?:\.\d+)?[bmk])(?![a-z0-9])", re.IGNORECASE)
_HF_REPO = re.compile(r"huggingface\.co/([\w.-]+)/([\w.-]+)", re.IGNORECASE)
_OSAI_TYPES = {
    "language": "text",
    "code": "code",
    "image": "image",
    "video": "video",
    "audio": "audio",
}


@dataclass(frozen=True)
class ComponentGrade:
    """A MOF component: where it is, how MOT counts it and seewhy's grade."""

    detected: Detected
    mot: MotComponent
    grade: Grade

    @property
    def note(self) -> str:
        """One line on the grade."""
        d, m = self.detected, self.mot
        if not d.present:
            return f"not found: {d.need}"
        if m.status == "unlicensed":
            return "present, but no license identified for it (MOT: unlicensed)"
        if m.status == "invalid":
            return f"present under {m.license}, which MOT does not accept as open (invalid)"
        notes = [f"under {m.license}"]
        if not m.type_appropriate:
            notes.append(
                f"open but not a {d.component.content_type} license (MOT conditional pass)"
            )
        if d.linked:
            notes.append("outside the release: MOT's rule gives it the release license, unchecked")
        return "; ".join(notes)


@dataclass(frozen=True)
class OpennessVerdict:
    """The overall openness answer and the line a person would quote."""

    value: VerdictValue
    reason: str
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class Assessment:
    """Everything the openness analyzer concluded about one release."""

    snapshot: Snapshot
    license: EffectiveLicense  # the terms that bind: declared plus the base models'
    components: Mapping[str, ComponentGrade]
    mot: MotResult
    osaid: Osaid
    osai: tuple[OsaiItem, ...]
    osai_score: OsaiScore
    claims: tuple[Claim, ...]
    release_info: Mapping[str, str]
    verdict: OpennessVerdict


def grade_component(d: Detected, m: MotComponent) -> Grade:
    """open: counts for MOT and sits in the release; partial: counts, but only as a link or
    under a license not meant for its content type; closed: MOT rejects its license;
    unknown: not found, or no license identified."""
    if not d.present or m.status in ("unlicensed", "missing"):
        return "unknown"
    if m.status == "invalid":
        return "closed"
    return "partial" if d.linked or not m.type_appropriate else "open"


def find_claims(snap: Snapshot) -> tuple[Claim, ...]:
    """Where the release says "open source": self-claims first (the card's prose, then its
    front matter, then GGUF names), then the card's mere mentions, each group in order."""
    found: list[Claim] = []
    if snap.card is not None:
        in_card = card_claims(snap.card, names=release_names(snap))
        found.extend(sorted(in_card, key=lambda c: c.pointer is not None))
    for g in snap.ggufs:
        for key, value in g.names.items():
            claim = text_claim(g.path, value, pointer=key, offset=g.offsets.get(key))
            if claim is not None:
                found.append(claim)
        claim = text_claim(g.path, PurePosixPath(g.path).name, pointer="file name")
        if claim is not None:
            found.append(claim)
    return tuple(sorted(found, key=lambda c: not c.self_claim))


def release_names(snap: Snapshot) -> tuple[str, ...]:
    """This release's names: the card title and model_name, GGUF names, the folder name."""
    names: list[str] = [snap.name]
    if snap.card is not None:
        title = next((s.title for s in snap.card.sections if s.level == 1), None)
        names += [n for n in (title, snap.card.card.model_name) if n]
    for g in snap.ggufs:
        names += list(g.names.values())
    return tuple(dict.fromkeys(n.strip() for n in names if n and n.strip()))


def _release_info(snap: Snapshot, lic: ReleaseLicense) -> dict[str, str]:
    """The MOT/OSAI release fields a snapshot can fill; empty where it cannot."""
    t = tables.mot()
    card = snap.card.card if snap.card is not None else None
    name = (card.model_name if card is not None else None) or snap.name
    size = _SIZE.search(name)
    rtype = t.pipeline_types.get(card.pipeline_tag or "", "") if card is not None else ""
    arch = ""
    if snap.config is not None:
        for cls in snap.config.architectures:
            arch = next((a for suffix, a in t.architecture_suffixes if cls.endswith(suffix)), "")
            if arch:
                break
    if not rtype and arch in ("transformer decoder", "transformer encoder-decoder"):
        rtype = "language"
    words = re.split(r"[-_. ]+", name.lower())
    treatment = next((v for w, v in t.treatment_words.items() if w in words), "")
    producer = ""
    huggingface = ""
    if snap.card is not None:
        for link in snap.card.links:
            m = _HF_REPO.search(link.url)
            if (
                m
                and m.group(1) not in ("datasets", "spaces", "docs")
                and m.group(2) in (name, snap.name)
            ):
                producer, huggingface = (
                    m.group(1),
                    f"https://huggingface.co/{m.group(1)}/{m.group(2)}",
                )
                break
    base = card.base_model if card is not None else ()
    return {
        "name": name,
        "version": size.group(1).upper() if size else "",
        "type": rtype,
        "architecture": arch,
        "treatment": treatment,
        "producer": producer,
        "contact": "",
        "huggingface": huggingface,
        "license_distribution": lic.mot_name or "",
        "license_distribution_path": lic.link or "",
        "license_display": lic.display if lic.primary is not None else "",
        "base_model": base[0] if base else "",
        "osai_type": _OSAI_TYPES.get(rtype, ""),
    }


_WHAT = {"data_information": "training-data information", "code": "training code"}


def _unmet_text(osaid: Osaid) -> str:
    """'no training-data information or training code found', 'code not met', ..."""
    unmet = osaid.unmet()
    missing = [_WHAT.get(r.key, r.name.lower()) for r in unmet if r.status == "unknown"]
    failed = [f"{r.name} not met" for r in unmet if r.status == "not met"]
    parts = failed + ([f"no {' or '.join(missing)} found"] if missing else [])
    return "; ".join(parts)


UNLICENSED = "unlicensed weights: available, no rights granted"
ELSEWHERE = "a license published elsewhere (the publisher's site, the Hub page) would change this"


def _verdict(
    components: Mapping[str, ComponentGrade], lic: EffectiveLicense, osaid: Osaid
) -> OpennessVerdict:
    weights = components["Model parameters (Final)"].detected
    if not weights.present:
        return OpennessVerdict(
            "unknown",
            "no weight files in the release: this snapshot cannot show whether the weights are "
            "published (closed would need evidence that they are not released anywhere)",
            (Evidence(note="no file of a weights format (safetensors, GGUF, PyTorch, ONNX, ...)"),),
        )
    weights_ev = tuple(s.evidence() for s in weights.sightings[:1])
    lic_ev = tuple(lic.evidence())
    also = f"; the release also declares {', '.join(lic.others)}" if lic.others else ""
    if lic.unlicensed:
        reason = (
            f"{UNLICENSED}: no LICENSE file, no license in the card, no GGUF license metadata; "
            f"{ELSEWHERE}"
        )
        if lic.declared.scoped:  # the card licenses only the code (or data, docs)
            reason = f"{UNLICENSED}: {lic.reason}; {ELSEWHERE}"
        if lic.inherited:
            reason += f"; the base model's terms also bind: {lic.base_text}"
        absent = Evidence(
            note="looked for LICENSE*, COPYING, NOTICE, USE_POLICY*, the card's license fields "
            "and text, and GGUF general.license*: none found"
        )
        return OpennessVerdict("unlicensed-weights", reason, weights_ev + lic_ev + (absent,))
    if lic.state == "none" or (lic.state == "unidentified" and not lic.inherited):
        return OpennessVerdict("unknown", f"weights present; {lic.reason}", weights_ev + lic_ev)
    if lic.inherited:
        summary = restriction_summary(lic.restrictions)
        reason = lic.reason + (f"; {summary}" if summary else "")
        return OpennessVerdict("restricted-weights", reason, weights_ev + lic_ev)
    if lic.state == "restricted":
        p = lic.primary
        pasted = (
            f" (pasted into the card body at {p.location.path}:{p.location.line})"
            if p is not None and p.source == "card-body-text"
            else ""
        )
        summary = restriction_summary(lic.restrictions)
        reason = f"weights under {lic.display}{pasted}: {summary}{also}"
        return OpennessVerdict("restricted-weights", reason, weights_ev + lic_ev)
    if lic.state == "not-open":
        reason = (
            f"weights under {lic.display}, which is neither OSI-approved nor an open license{also}"
        )
        return OpennessVerdict("restricted-weights", reason, weights_ev + lic_ev)
    kind = "OSI-approved" if lic.osi else "an open license, not OSI-approved"
    if osaid.conforms == "yes":
        reason = (
            f"weights under {lic.display} ({kind}) with training-data information and training "
            "code (OSAID 1.0; completeness not verified)"
        )
        evidence = weights_ev + tuple(r.evidence[0] for r in osaid.requirements if r.evidence)
        return OpennessVerdict("open-source-ai", reason, evidence)
    reason = f"weights under {lic.display} ({kind}), but {_unmet_text(osaid)} (OSAID 1.0){also}"
    evidence = weights_ev + lic_ev[:1] + tuple(r.evidence[0] for r in osaid.unmet() if r.evidence)
    return OpennessVerdict("open-weights", reason, evidence)


def assess(
    snap: Snapshot, found: ReleaseLicenses, real: Mapping[str, ParentTerms] | None = None
) -> Assessment:
    """Grade a release from its snapshot and its license statements.

    Every grade rests on the effective license (:func:`.lineage.effective_license`): the
    release's own statements plus the terms its base models carry.
    """
    lic = effective_license(
        found,
        read_lineage(snap.card, found.base_models, release_names(snap), found.gguf_bases),
        referenced=referenced_licenses(found, snap.card, snap.paths()),
        real=real,  # parents' licenses read on the Hub (seewhy.analyzers.license.parents)
    )
    detected = detect_components(snap)
    # Statements scoped to the code, data or documentation license those components only.
    release_licenses = lic.declared.part_licenses()
    if lic.mot_name:
        release_licenses["distribution"] = lic.mot_name
    mot = evaluate({n: None for n, d in detected.items() if d.present}, release_licenses)
    components = {
        n: ComponentGrade(d, mot.components[n], grade_component(d, mot.components[n]))
        for n, d in detected.items()
    }
    osaid = check_osaid(detected, lic)
    items = grade_osai(snap, detected, lic, snap.card.papers if snap.card else ())
    return Assessment(
        snapshot=snap,
        license=lic,
        components=components,
        mot=mot,
        osaid=osaid,
        osai=items,
        osai_score=score(items),
        claims=find_claims(snap),
        release_info=_release_info(snap, lic),
        verdict=_verdict(components, lic, osaid),
    )
