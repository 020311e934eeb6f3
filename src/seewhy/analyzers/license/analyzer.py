"""License: what the release is licensed under, which clauses restrict it, and whether
its statements agree.

Facts: ``license.documents`` (each identified document: id, kind, version,
with where it was found) and ``license.tags`` (restrictive clauses, each
quoted). Findings: one per restriction tag (rule from ``clauses.toml``),
unidentified or unreadable statements, a known license whose text was
modified (each change quoted), version evidence that disagrees, a license
only referenced, a card that disagrees with the license file, the license it
pastes in its body or the GGUF metadata, several licenses, and a derivative
whose declared license is not its base model's. Card YAML errors are the
inventory's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from seewhy.analyzers.interface import AnalyzerResult, AuditContext, ResultBuilder
from seewhy.analyzers.license.identify import MAX_LICENSE_BYTES, release_licenses
from seewhy.analyzers.license.kb import KnowledgeBase, load_kb
from seewhy.analyzers.license.model import ClauseTag, LicenseMatch, Location, ReleaseLicenses
from seewhy.analyzers.license.parents import ParentTerms, hub_parent_terms
from seewhy.release.model import Release
from seewhy.report.model import Evidence

__all__ = ["LicenseAnalyzer"]

MAX_EVIDENCE = 5
CARD_SOURCES = ("card-license", "card-license-name", "card-license-link", "card-gated-prompt")
FRONT_MATTER = ("card-license", "card-license-name", "card-license-link")


class LicenseAnalyzer:
    """Identifies every license statement, tags restrictive clauses, checks consistency."""

    name = "license"

    def analyze(self, release: Release, ctx: AuditContext) -> AnalyzerResult:
        """See :class:`~seewhy.analyzers.interface.Analyzer`."""
        b = ResultBuilder(self.name, ctx.rules)
        found = release_licenses(release, ctx)
        kb = load_kb()
        _facts(b, found)
        _statement_findings(b, found)
        _modification_findings(b, found)
        _tag_findings(b, found, kb)
        _consistency(b, found, kb)
        _lineage(b, found, kb, hub_parent_terms(release, ctx.cache))
        return b.result


# ------------------------------------------------------------------ helpers


def _evidence(location: Location, excerpt: str | None = None, note: str | None = None) -> Evidence:
    return Evidence(
        path=location.path,
        line=location.line,
        end_line=location.end_line if location.end_line != location.line else None,
        offset=location.offset,
        pointer=location.pointer,
        excerpt=excerpt,
        note=note,
    )


def _match_evidence(m: LicenseMatch, note: str | None = None) -> Evidence:
    return _evidence(m.location, m.excerpt, note or m.note)


def _label(m: LicenseMatch) -> str:
    name = m.name or m.license_id or "unknown license"
    return f"{name} ({m.location.path})"


def _describe(m: LicenseMatch) -> str:
    parts = [m.license_id or "unknown", m.kind]
    if m.version:
        parts.append(f"version {m.version}")
    return f"{parts[0]} ({', '.join(parts[1:])})"


def _known_licenses(matches: Iterable[LicenseMatch]) -> list[LicenseMatch]:
    return [m for m in matches if m.license_id is not None and m.kind == "license"]


def _compatible(a: LicenseMatch, b: LicenseMatch) -> bool:
    if a.license_id == b.license_id:
        return True
    if a.modified or b.modified:  # a modified MIT is not the MIT the card names
        return False
    if a.family is None or a.family != b.family:
        return False
    return a.version is None or b.version is None or a.version == b.version


def _root_texts(found: ReleaseLicenses) -> list[LicenseMatch]:
    texts = _known_licenses(m for m in found.matches if m.source == "text")
    top = [m for m in texts if "/" not in m.location.path]
    return top or texts


def _names(matches: Iterable[LicenseMatch]) -> str:
    return ", ".join(dict.fromkeys(_describe(m) for m in matches))


# -------------------------------------------------------------------- facts


def _facts(b: ResultBuilder, found: ReleaseLicenses) -> None:
    docs = [m for m in found.matches if m.license_id is not None]
    if docs:
        b.fact(
            "license.documents",
            "License documents",
            list(dict.fromkeys(_describe(m) for m in docs)),
            [_match_evidence(m, f"{m.source}; confidence {m.confidence:.2f}") for m in docs],
        )
    tags = found.tags
    if tags:
        b.fact(
            "license.tags",
            "Restrictive clauses",
            list(dict.fromkeys(t.tag for t in tags)),
            [_evidence(t.location, t.quote, t.tag) for t in tags],
        )


# ---------------------------------------------------------------- findings


def _statement_findings(b: ResultBuilder, found: ReleaseLicenses) -> None:
    if found.status == "referenced":
        refs = [
            Evidence(
                path=r.location.path,
                line=r.location.line,
                pointer=r.location.pointer,
                excerpt=r.excerpt,
                note=f"links to {r.target}, which is not in the release",
            )
            for r in found.references[:MAX_EVIDENCE]
        ]
        refs += [_match_evidence(m) for m in found.matches[: MAX_EVIDENCE - len(refs)]]
        b.finding(
            "SW-LIC-009",
            "the release states no license of its own: the card points at "
            + (", ".join(dict.fromkeys(r.target for r in found.references)) or "a license")
            + " but the release does not include it",
            refs,
        )
    if not found.matches:
        if found.references:
            return
        b.finding(
            "SW-LIC-002",
            "no license file, card license field, license text or GGUF license metadata found",
            [
                Evidence(
                    note="looked for LICENSE*, COPYING, NOTICE, USE_POLICY*, the model card "
                    "and GGUF general.license*"
                )
            ],
        )
        return
    for m in found.matches:
        note = m.note or ""
        if m.truncated:
            b.finding(
                "SW-LIC-004",
                f"{m.location.path} is larger than {MAX_LICENSE_BYTES:,} bytes; only its "
                "beginning was read",
                [_match_evidence(m)],
            )
        if m.license_id is not None:
            continue
        if m.source == "text" and note.startswith(
            ("empty file", "binary", "no words", "the file could not be read")
        ):
            b.finding("SW-LIC-003", f"{m.location.path}: {note}", [_match_evidence(m)])
        elif m.source == "card-license-link" and "not in the release" in note:
            b.finding("SW-LIC-005", f"the card's {note}", [_match_evidence(m)])
        elif not m.tags or m.source != "card-license":
            nearest = ", ".join(f"{lid} ({sim:.0%})" for lid, sim in m.nearest)
            message = f"{m.location.path} ({m.source}): license not identified"
            if note:
                message += f"; {note}"
            if nearest:
                message += f"; nearest known texts: {nearest}"
            b.finding("SW-LIC-001", message, [_match_evidence(m)])


def _change_evidence(m: LicenseMatch) -> list[Evidence]:
    mod = m.modification
    if mod is None:
        return []
    out: list[Evidence] = []
    for c in mod.changes[:MAX_EVIDENCE]:
        tags = ", ".join(dict.fromkeys(t.tag for t in c.tags))
        note = f"{c.op}: “{c.words}”" + (f" ({tags})" if tags else "")
        if c.op == "removed":
            note += " — removed from the canonical text here"
        out.append(_evidence(c.location, c.text, note))
    return out


def _modification_findings(b: ResultBuilder, found: ReleaseLicenses) -> None:
    for m in found.matches:
        mod = m.modification
        if mod is not None:
            added = [c for c in mod.changes if c.op == "added"]
            removed = [c for c in mod.changes if c.op == "removed"]
            parts = []
            if added:
                parts.append(f"{len(added)} sentence{'s' if len(added) != 1 else ''} added")
            if removed:
                parts.append(f"{len(removed)} removed")
            if mod.more_changes:
                parts.append(f"{mod.more_changes} more changes not listed")
            addons = f", including {'; '.join(mod.addons)}" if mod.addons else ""
            message = (
                f"{m.location.path} ({m.source}) is the {mod.base_name} text with "
                f"{' and '.join(parts)}{addons}: a modified license, not OSI-approved"
            )
            if mod.restricts:
                restricting = sorted({t.tag for c in added for t in c.tags if t.osd_conflict})
                if restricting:
                    message += f"; the additions restrict use ({', '.join(restricting)})"
            b.finding(
                "SW-LIC-006" if mod.restricts else "SW-LIC-008",
                message,
                [_match_evidence(m), *_change_evidence(m)][: MAX_EVIDENCE + 1],
            )
        if m.version_conflict:
            evidence = [
                _evidence(e.location, e.quote, f"{e.basis}: version {' or '.join(e.versions)}")
                for e in m.version_evidence
            ]
            b.finding(
                "SW-LIC-007",
                f"{m.location.path} ({m.source}): {m.version_conflict}",
                evidence or [_match_evidence(m)],
            )


def _tag_findings(b: ResultBuilder, found: ReleaseLicenses, kb: KnowledgeBase) -> None:
    by_tag: dict[str, list[tuple[LicenseMatch, ClauseTag]]] = {}
    for m in found.matches:
        for t in m.tags:
            by_tag.setdefault(t.tag, []).append((m, t))
    for spec in kb.clauses:
        hits = by_tag.get(spec.tag)
        if not hits or spec.rule_id is None:
            continue
        sources = list(dict.fromkeys(_label(m) for m, _ in hits))
        # The rule's title names the clause; the message says where it is.
        message = "; ".join(sources[:3])
        if spec.osd_conflict:
            message += f" — conflicts with {spec.osd_conflict}"
        seen: set[str] = set()
        evidence: list[Evidence] = []
        for _, t in hits:
            if t.quote not in seen and len(evidence) < MAX_EVIDENCE:
                seen.add(t.quote)
                evidence.append(_evidence(t.location, t.quote, spec.osd_conflict))
        b.finding(spec.rule_id, message, evidence)


def _consistency(b: ResultBuilder, found: ReleaseLicenses, kb: KnowledgeBase) -> None:
    card = _known_licenses(m for m in found.matches if m.source in CARD_SOURCES)
    texts = _root_texts(found)
    gguf = _known_licenses(m for m in found.matches if m.source == "gguf")
    reported = False
    if card and texts and not any(_compatible(c, t) for c in card for t in texts):
        reported = True
        b.finding(
            "SW-LIC-030",
            f"the card declares {_names(card)} but the license file is {_names(texts)}",
            [*(_match_evidence(m) for m in card[:2]), *(_match_evidence(m) for m in texts[:2])],
        )
    if card and gguf and not any(_compatible(c, g) for c in card for g in gguf):
        reported = True
        b.finding(
            "SW-LIC-031",
            f"the card declares {_names(card)} but the GGUF metadata says {_names(gguf)}",
            [*(_match_evidence(m) for m in card[:2]), *(_match_evidence(m) for m in gguf[:2])],
        )
    front = _known_licenses(m for m in found.matches if m.source in FRONT_MATTER)
    pasted = _known_licenses(found.pasted)
    if front and pasted and not any(_compatible(c, p) for c in front for p in pasted):
        reported = True
        b.finding(
            "SW-LIC-036",
            f"the card's front matter declares {_names(front)} but its body pastes the text "
            f"of {_names(pasted)}",
            [*(_match_evidence(m) for m in front[:2]), *(_match_evidence(m) for m in pasted[:2])],
        )
    everything = [*card, *texts, *gguf, *pasted]
    if not everything:  # prose counts only where nothing more formal is stated
        everything = _known_licenses(m for m in found.matches if m.source == "card-body")
    groups: list[LicenseMatch] = []
    for m in everything:
        if not any(_compatible(m, g) for g in groups):
            groups.append(m)
    if len(groups) > 1 and not reported:
        b.finding(
            "SW-LIC-032",
            f"the release states {len(groups)} different licenses: {_names(groups)}",
            [_match_evidence(m) for m in groups[:MAX_EVIDENCE]],
        )


def _lineage(
    b: ResultBuilder,
    found: ReleaseLicenses,
    kb: KnowledgeBase,
    real: Mapping[str, ParentTerms] | None = None,
) -> None:
    """License drift against each base model: its real license when read from the Hub
    (:mod:`.parents`, higher confidence), else what the lineage rules know by its name."""
    declared = _known_licenses(m for m in found.matches if m.source in CARD_SOURCES)
    declared = declared or _root_texts(found)
    declared = declared or _known_licenses(m for m in found.matches if m.source == "gguf")
    real = real or {}
    in_gguf = {name.strip().lower(): loc for name, loc in found.gguf_bases}
    for base in found.all_base_models:
        terms = real.get(base.strip().lower())
        known = kb.base_license(base) if terms is None else None
        if terms is not None:
            entry, note = terms.entry, terms.note
        elif known is not None:
            entry, note = known[0], known[1].note
        else:
            continue
        if entry.permissive:
            continue
        base_note = f"base model {base} is released under {entry.name}"
        if note:
            base_note += f" ({note})"
        loc = None if base in found.base_models else in_gguf.get(base.strip().lower())
        base_ev = (
            Evidence(
                path=loc.path,
                pointer=loc.pointer,
                offset=loc.offset,
                excerpt=base,
                note=f"{base_note}; named in the GGUF metadata",
            )
            if loc is not None
            else Evidence(pointer="base_model", excerpt=base, note=base_note)
        )
        if not declared:
            b.finding(
                "SW-LIC-035",
                f"derived from {base} ({entry.name}) but states no license of its own",
                [base_ev],
            )
            continue
        if any(m.family == entry.family for m in declared):
            continue
        permissive = [m for m in declared if _permissive(kb, m)]
        if permissive:
            b.finding(
                "SW-LIC-033",
                f"declares {_names(permissive)}, but its base model {base} is under "
                f"{entry.name}, which does not allow relicensing under more permissive terms",
                [*(_match_evidence(m) for m in permissive[:2]), base_ev],
            )
        else:
            b.finding(
                "SW-LIC-034",
                f"declares {_names(declared)}, but its base model {base} is under {entry.name}",
                [*(_match_evidence(m) for m in declared[:2]), base_ev],
            )


def _permissive(kb: KnowledgeBase, m: LicenseMatch) -> bool:
    entry = kb.get(m.license_id) if m.license_id else None
    return bool(m.osi_approved) or (entry is not None and entry.permissive)
