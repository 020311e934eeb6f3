"""Which license governs the release, read from license identification.

The license analyzer finds every license statement
(:class:`~seewhy.analyzers.license.model.ReleaseLicenses`); this module picks
the one the openness grades rest on and collects the clauses that restrict
use. When statements disagree the least open one is graded, so a release is
never graded more open than its most restrictive license says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from seewhy.analyzers.license.model import ClauseTag, LicenseMatch, ReleaseLicenses
from seewhy.analyzers.openness import tables
from seewhy.report.humanize import clip
from seewhy.report.model import Evidence

LicenseState = Literal["none", "unidentified", "restricted", "not-open", "open"]
"""none: no license statement; unidentified: statements whose license is not
known; restricted: clauses restrict use (OSD 5/6); not-open: identified but
neither OSI-approved nor open by MOT's lists; open: open by MOT's lists."""

# Most to least direct statement of the license.
_SOURCE_RANK = {
    "text": 0,
    "card-license": 1,
    "card-license-name": 2,
    "card-gated-prompt": 3,
    "card-license-link": 4,
    "gguf": 5,
    "card-body": 6,
}


@dataclass(frozen=True)
class ReleaseLicense:
    """The license the openness grades rest on, and why."""

    state: LicenseState
    primary: LicenseMatch | None = None
    osi: bool = False  # OSI-approved (MOT's SPDX list or the match itself)
    mot_open: bool = False  # LicenseHandler::isOpenSourceLicense
    restrictions: tuple[ClauseTag, ...] = ()
    others: tuple[str, ...] = ()  # other license ids the release declares
    unidentified: tuple[LicenseMatch, ...] = ()

    @property
    def mot_name(self) -> str | None:
        """The distribution license as MOT records it: the SPDX id, else the license's name
        (``None`` when only a use policy was found)."""
        if self.primary is None or self.primary.kind != "license":
            return None
        spdx = tables.mot().canonical(self.primary.license_id)
        return spdx or self.primary.license_id or self.primary.name

    @property
    def display(self) -> str:
        """How a sentence names the license."""
        p = self.primary
        if p is None:
            return "no identified license"
        spdx = tables.mot().canonical(p.license_id)
        return spdx or p.name or p.license_id or "an unidentified license"

    @property
    def link(self) -> str | None:
        """Where the license is: a release path or the URL the card gives."""
        p = self.primary
        if p is None:
            return None
        if p.source == "card-license-link" and p.excerpt and "://" in p.excerpt:
            return p.excerpt.split()[-1]
        return p.location.path

    def evidence(self) -> list[Evidence]:
        """Where the license is stated, then the restricting clauses (at most 5 in all)."""
        out: list[Evidence] = []
        if self.primary is not None:
            out.append(match_evidence(self.primary))
        out.extend(tag_evidence(t) for t in self.restrictions[:4])
        if self.primary is None:
            out.extend(match_evidence(m) for m in self.unidentified[:3])
        return out


def match_evidence(m: LicenseMatch) -> Evidence:
    """Where a license statement is, with the words that identified it."""
    name = m.name or m.license_id or "unidentified license"
    return Evidence(
        path=m.location.path,
        line=m.location.line,
        end_line=m.location.end_line,
        pointer=m.location.pointer,
        offset=m.location.offset,
        excerpt=_clip(m.excerpt),
        note=f"{name} ({m.source}, confidence {m.confidence:.2f})",
    )


def tag_evidence(t: ClauseTag) -> Evidence:
    """The quoted clause of a restriction tag."""
    note = t.tag if t.osd_conflict is None else f"{t.tag}: {t.osd_conflict}"
    return Evidence(
        path=t.location.path,
        line=t.location.line,
        end_line=t.location.end_line,
        pointer=t.location.pointer,
        offset=t.location.offset,
        excerpt=_clip(t.quote),
        note=note,
    )


def _clip(text: str | None, limit: int = 240) -> str | None:
    return None if text is None else clip(text, limit)


def is_restrictive(tag: ClauseTag) -> bool:
    """Whether a clause makes the license fail the Open Source Definition."""
    return tag.osd_conflict is not None or tag.tag in tables.restrictions().restrictive


def _open(m: LicenseMatch) -> bool:
    return tables.mot().is_open(m.license_id)


def _dedupe(tags: Iterable[ClauseTag]) -> tuple[ClauseTag, ...]:
    """Distinct clauses, the most telling first (the order of ``restrictions.yaml``)."""
    order = tables.restrictions().restrictive
    seen: set[tuple[str, str, int | None]] = set()
    out = []
    for t in tags:
        key = (t.tag, t.location.path, t.location.line)
        if key not in seen:
            seen.add(key)
            out.append(t)
    return tuple(sorted(out, key=lambda t: order.index(t.tag) if t.tag in order else len(order)))


def release_license(found: ReleaseLicenses) -> ReleaseLicense:
    """Grade the license statements of a release (see :data:`LicenseState`)."""
    floor = tables.restrictions().min_confidence
    usable = [m for m in found.licenses if m.confidence >= floor]
    direct = [m for m in usable if m.source != "card-body"] or usable
    identified = [m for m in direct if m.license_id]
    unidentified = tuple(m for m in direct if not m.license_id)
    policies = [m for m in found.policies if m.confidence >= floor]
    if not identified:
        policy_tags = _dedupe(t for m in policies for t in m.tags if is_restrictive(t))
        if policy_tags:
            return ReleaseLicense(
                state="restricted",
                primary=policies[0],
                restrictions=policy_tags,
                unidentified=unidentified,
            )
        return ReleaseLicense(
            state="unidentified" if unidentified else "none", unidentified=unidentified
        )
    primary = min(
        identified,
        key=lambda m: (_open(m), _SOURCE_RANK.get(m.source, 9), -m.confidence),
    )
    mot = tables.mot()
    osi = mot.is_osi(primary.license_id) or bool(primary.osi_approved)
    mot_open = _open(primary)
    same = [m for m in identified if m.license_id == primary.license_id or not _open(m)]
    tags: list[ClauseTag] = [t for m in same for t in m.tags]
    if not mot_open or any(t.tag == "use_policy_by_reference" for t in tags):
        tags += [t for m in policies for t in m.tags]
    restrictions = _dedupe(t for t in tags if is_restrictive(t))
    others = tuple(
        dict.fromkeys(str(m.license_id) for m in identified if m.license_id != primary.license_id)
    )
    state: LicenseState = "restricted" if restrictions else "open" if mot_open else "not-open"
    return ReleaseLicense(
        state=state,
        primary=primary,
        osi=osi,
        mot_open=mot_open,
        restrictions=restrictions,
        others=others,
        unidentified=unidentified,
    )


_NUMBER = re.compile(
    r"(?:USD\s*)?\$?\s*(\d[\d,]*(?:\.\d+)?)\s*(thousand|million|billion|[kmb]\b)?", re.IGNORECASE
)
_SCALE = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "billion": 1e9, "b": 1e9}


def _compact(quote: str) -> str | None:
    """The largest amount a clause quotes, compact: '700 million' -> '700M'."""
    best: float | None = None
    for m in _NUMBER.finditer(quote):
        try:
            value = float(m.group(1).replace(",", ""))
        except ValueError:
            continue
        value *= _SCALE.get((m.group(2) or "").lower(), 1.0)
        if best is None or value > best:
            best = value
    if best is None or best < 1000:
        return None
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if best >= size:
            return f"{best / size:g}{suffix}"
    return None  # pragma: no cover - best >= 1000 always has a suffix


def restriction_summary(tags: Iterable[ClauseTag], limit: int = 3) -> str:
    """'700M-user threshold and acceptable-use policy (OSD 5, 6)' for a set of clauses."""
    phrases_table = tables.restrictions().phrases
    phrases: list[str] = []
    osd: set[str] = set()
    for t in tags:
        spec = phrases_table.get(t.tag, {})
        number = _compact(t.quote) if "number" in spec else None
        phrase = (
            spec["number"].replace("{n}", number)
            if number
            else spec.get("plain", t.tag.replace("_", " "))
        )
        if phrase not in phrases:
            phrases.append(phrase)
        if t.osd_conflict:
            osd.update(re.findall(r"OSD\s*#?\s*(\d+)", t.osd_conflict))
    if not phrases:
        return ""
    shown = phrases[:limit]
    if len(phrases) > limit:
        shown.append(f"{len(phrases) - limit} more")
    text = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
    if osd:
        text += f" (OSD {', '.join(sorted(osd, key=int))})"
    return text
