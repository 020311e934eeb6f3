"""Why a license text was identified as it was (``seewhy license --explain FILE``).

For one text: what it was identified as, the known licenses nearest to it with
their similarity, the sentences that differ from the nearest canonical text
(added and removed, with lines), and the reasons for the decision: the title
and phrases that matched, the entries ruled out, how the version was decided,
and what was set aside as cosmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

from seewhy.analyzers.license.identify import MAX_TEXT_CHARS, identify_texts
from seewhy.analyzers.license.kb import KnowledgeBase, load_kb
from seewhy.analyzers.license.model import LicenseMatch, Location, TextChange
from seewhy.analyzers.license.normalize import make_doc
from seewhy.analyzers.license.textmatch import compare, scored_entries, similarities
from seewhy.report.humanize import clip

__all__ = ["Explanation", "Nearest", "explain_text"]

MAX_DIFF = 20


@dataclass(frozen=True)
class Nearest:
    """A known license close to the text."""

    license_id: str
    name: str
    similarity: float  # 0..1: share of the canonical text present, or fingerprint resemblance
    basis: str  # "canonical text" or "fingerprint"


@dataclass(frozen=True)
class Explanation:
    """The decision on one text and why."""

    path: str
    matches: tuple[LicenseMatch, ...]
    nearest: tuple[Nearest, ...]
    compared_with: str | None  # the license whose canonical text the changes are against
    changes: tuple[TextChange, ...]
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form."""

        def loc(location: Location) -> dict[str, object]:
            return {"path": location.path, "line": location.line, "end_line": location.end_line}

        return {
            "path": self.path,
            "decision": [
                {
                    "license_id": m.license_id,
                    "name": m.name,
                    "version": m.version,
                    "kind": m.kind,
                    "osi_approved": m.osi_approved,
                    "confidence": m.confidence,
                    "modified_from": m.modification.base_id if m.modification else None,
                    "addons": list(m.modification.addons) if m.modification else [],
                    "version_conflict": m.version_conflict,
                    "tags": [{"tag": t.tag, "quote": t.quote, **loc(t.location)} for t in m.tags],
                    **loc(m.location),
                }
                for m in self.matches
            ],
            "nearest": [
                {
                    "license_id": n.license_id,
                    "name": n.name,
                    "similarity": n.similarity,
                    "basis": n.basis,
                }
                for n in self.nearest
            ],
            "compared_with": self.compared_with,
            "changes": [
                {
                    "op": c.op,
                    "text": c.text,
                    "words": c.words,
                    "tags": [t.tag for t in c.tags],
                    **loc(c.location),
                }
                for c in self.changes
            ],
            "reasons": list(self.reasons),
        }


def explain_text(text: str, path: str, *, kb: KnowledgeBase | None = None) -> Explanation:
    """Identify ``text`` and say why (see the module docstring)."""
    kb = kb or load_kb()
    text = text[:MAX_TEXT_CHARS]
    matches = identify_texts(text, path, kb=kb)
    doc = make_doc(text, path)
    nearest: list[Nearest] = []
    for lid, sim in similarities(doc, kb):
        entry = kb.get(lid)
        basis = "canonical text" if entry is not None and entry.reference_text else "fingerprint"
        nearest.append(Nearest(lid, entry.name if entry else lid, sim, basis))
    reasons: list[str] = []
    for s in scored_entries(doc, kb):
        said = f"{s.entry.name} [{s.entry.id}]: score {s.score:g}"
        if s.title:
            said += "; its title stands at the top"
        if s.phrases:
            said += f"; {len(s.phrases)} of its {len(s.entry.phrases)} distinctive phrases"
        if s.missing_required:
            said += "; ruled out: none of the words only its own text has is present"
        if s.excluded_by:
            said += f"; ruled out by “{s.excluded_by}”"
        reasons.append(said)
    changes: tuple[TextChange, ...] = ()
    compared_with: str | None = None
    first = matches[0] if matches else None
    if first is not None and first.modification is not None:
        compared_with = first.modification.base_id
        mod = first.modification
        changes = mod.changes
        reasons.append(
            f"the text holds {mod.similarity:.0%} of the {mod.base_name} canonical text with "
            f"{len(changes)} changed sentence(s): a modified license"
            + ("; the additions restrict use" if mod.restricts else "")
        )
    elif first is not None and first.license_id is not None:
        entry = kb.get(first.license_id)
        diff = compare(doc, 0, len(doc), entry, kb) if entry is not None else None
        if diff is not None:
            compared_with = entry.id if entry else None
            reasons.append(
                f"the text holds {diff.similarity:.0%} of the {diff.entry.name} canonical text; "
                f"{diff.cosmetic} differing word(s) change nothing (copyright lines, fill-in "
                "fields, title, formatting)"
            )
    elif nearest and first is not None:
        entry = kb.get(nearest[0].license_id)
        diff = compare(doc, 0, len(doc), entry, kb) if entry is not None else None
        if diff is not None and diff.changes:
            compared_with = diff.entry.id
            changes = tuple(
                TextChange(
                    c.op,
                    clip(c.text, 400),
                    clip(c.words, 200),
                    Location(path, *doc.lines_of(c.start, max(c.end, c.start + 1))),
                )
                for c in diff.changes[:MAX_DIFF]
            )
            reasons.append(
                f"nearest canonical text {diff.entry.name}: {diff.similarity:.0%} of it present, "
                f"too little for a modified copy of it"
            )
    for m in matches:
        if m.version_evidence:
            readings = "; ".join(
                f"{e.basis} says {' or '.join(e.versions)} (line {e.location.line})"
                for e in m.version_evidence
            )
            reasons.append(f"version {m.version}: {readings}")
        if m.version_conflict:
            reasons.append(m.version_conflict)
        if m.note:
            reasons.append(f"{m.location.path}: {m.note}")
    return Explanation(
        path=path,
        matches=matches,
        nearest=tuple(nearest),
        compared_with=compared_with,
        changes=changes[:MAX_DIFF],
        reasons=tuple(dict.fromkeys(reasons)),
    )
