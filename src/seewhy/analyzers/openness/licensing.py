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
from pathlib import PurePosixPath
from typing import Literal

from seewhy.analyzers.license.model import (
    ClauseTag,
    LicenseMatch,
    LicenseReference,
    Location,
    ReleaseLicenses,
    Scope,
)
from seewhy.analyzers.openness import tables
from seewhy.analyzers.openness.snapshot import CardText
from seewhy.report.humanize import clip
from seewhy.report.model import Evidence

LicenseState = Literal["none", "unidentified", "restricted", "not-open", "open"]
"""none: no license statement (nothing grants a right); unidentified: statements
whose license is not known (a name no entry knows, a text not recognised, a
license only referenced); restricted: clauses restrict use (OSD 5/6); not-open:
identified but neither OSI-approved nor open by MOT's lists; open: open by MOT's
lists. The effective license (:mod:`.lineage`) uses the same states for the
terms that bind, base models included."""

# Most to least direct statement of the license.
_SOURCE_RANK = {
    "text": 0,
    "card-body-text": 0,  # a whole license text pasted into the card body
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
    # Statements whose sentence scopes them to the code, data or documentation only: they
    # license those MOF components, never the weights.
    scoped: tuple[LicenseMatch, ...] = ()
    # Documents the card puts the model under that the release lacks ("The use of the
    # models is subject to [the Model License](LICENSE-MODEL)"), and the statements that
    # then are not the weights' license on their own (the front matter's id).
    model_references: tuple[LicenseReference, ...] = ()
    set_aside: tuple[LicenseMatch, ...] = ()

    @property
    def unlicensed(self) -> bool:
        """Nothing in the snapshot grants any right (no license statement at all)."""
        return self.state == "none"

    @property
    def own(self) -> ReleaseLicense:
        """The release's own statements, without its base models' terms (itself here; the
        effective license of :mod:`.lineage` returns what the release declares)."""
        return self

    @property
    def model_referenced(self) -> bool:
        """The card puts the weights under a document that is not in the snapshot."""
        return bool(self.model_references) and self.primary is None

    def scope_evidence(self) -> list[Evidence]:
        """The sentence that puts the model under a missing document, then the statements
        that cover only another part and those not taken as the weights' license."""
        out = [
            Referenced(r.target, r.location, r.excerpt, r.scope).evidence()
            for r in self.model_references[:2]
        ]
        for m in self.scoped[:2]:
            ev = match_evidence(m)
            out.append(ev.model_copy(update={"note": f"{ev.note}; covers the {m.scope} only"}))
        for m in self.set_aside[:2]:
            if m.scope == "all":
                ev = match_evidence(m)
                note = f"{ev.note}; not the weights' license on its own"
                out.append(ev.model_copy(update={"note": note}))
        return out

    def part_licenses(self) -> dict[str, str]:
        """MOT's per-content-type release licenses (``code``, ``data``, ``document``) from
        statements scoped to one part: "This code repository is licensed under MIT"."""
        mot = tables.mot()
        out: dict[str, str] = {}
        floor = tables.restrictions().min_confidence
        for m in self.scoped:
            key = _MOT_TYPE.get(m.scope)
            if key is None or not m.license_id or m.confidence < floor:
                continue
            name = mot.canonical(m.license_id) or m.license_id
            # Two licenses for one part: the least open one.
            if key not in out or (mot.is_open(out[key]) and not mot.is_open(name)):
                out[key] = name
        return out

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


_MOT_TYPE = {"code": "code", "data": "data", "documentation": "document"}


def release_license(found: ReleaseLicenses) -> ReleaseLicense:
    """Grade the license statements of a release (see :data:`LicenseState`).

    A license pasted into the card body counts as much as a LICENSE file; a
    sentence of the body that only names a license counts when nothing more
    direct is stated. A statement whose license is not known (confidence 0)
    still makes the state "unidentified", never "none": something is stated.
    """
    floor = tables.restrictions().min_confidence
    scoped = tuple(m for m in found.licenses if m.scope not in ("all", "model"))
    usable = [
        m
        for m in found.licenses
        if m.scope in ("all", "model") and (m.confidence >= floor or not m.license_id)
    ]
    # A sentence that names the model's license is as direct as a card field.
    direct = [m for m in usable if m.source != "card-body" or m.scope == "model"] or usable
    identified = [m for m in direct if m.license_id and m.confidence >= floor]
    unidentified = tuple(m for m in direct if not m.license_id)
    policies = [m for m in found.policies if m.confidence >= floor]
    model_refs = found.model_references
    if model_refs and not any(m.scope == "model" for m in identified):
        # The body puts the weights under a document the release lacks: no other statement
        # (a code license, the front matter's id) is the weights' license in its place.
        return ReleaseLicense(
            state="unidentified",
            others=tuple(dict.fromkeys(str(m.license_id) for m in identified)),
            unidentified=tuple(m for m in unidentified if m.scope == "model"),
            scoped=scoped,
            model_references=model_refs,
            set_aside=tuple(identified),
        )
    if not identified:
        policy_tags = _dedupe(t for m in policies for t in m.tags if is_restrictive(t))
        if policy_tags:
            return ReleaseLicense(
                state="restricted",
                primary=policies[0],
                restrictions=policy_tags,
                unidentified=unidentified,
                scoped=scoped,
            )
        return ReleaseLicense(
            state="unidentified" if unidentified else "none",
            unidentified=unidentified,
            scoped=scoped,
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
        scoped=scoped,
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


# ------------------------------------------------------------------ referenced, not included

MAX_REFERENCES = 20
# [the license](LICENSE), [LICENSE.md](./LICENSE.md), <a href="LICENSE">: a link to a license file
_REF_LINK = re.compile(
    r"\[([^\[\]\n]{0,300})\]\(\s*<?([^)\s>]{1,500})|\bhref\s*=\s*[\"']([^\"'\s>]{1,500})[\"']",
    re.IGNORECASE,
)
_LICENSE_FILE = re.compile(
    r"^(?:[\w.-]*[_-])?(?:licen[cs]e|copying|use[_-]?policy|terms(?:[_-]of[_-]use)?|"
    r"agreement)(?:[_-][\w-]*)?(?:\.(?:md|txt|rst|pdf|html?))?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Referenced:
    """A license the release points at but does not include."""

    target: str  # the link as written ("LICENSE", "./LICENSE.md", a URL)
    location: Location
    excerpt: str | None = None
    scope: Scope = "all"  # "model": the card puts the weights under it

    def describe(self) -> str:
        """'the card links LICENSE (README.md:12), which is not in the snapshot'."""
        loc = self.location
        at = loc.path + (f":{loc.line}" if loc.line else "")
        if self.scope == "model":
            said = f': "{_clip(self.excerpt, 160)}"' if self.excerpt else ""
            return (
                f"the card puts the model under {self.target} ({at}), which is not in the "
                f"snapshot{said}"
            )
        if loc.pointer:  # a front-matter field: `license: other`, `license_link: LICENSE`
            return (
                f"the card's {loc.pointer} ({at}) says {self.target!r}, and the license it "
                "refers to is not in the snapshot"
            )
        return f"the card links {self.target} ({at}), which is not in the snapshot"

    def evidence(self) -> Evidence:
        """Where the card points at the license."""
        loc = self.location
        return Evidence(
            path=loc.path,
            line=loc.line,
            pointer=loc.pointer,
            excerpt=_clip(self.excerpt or self.target),
            note="the model's license, referenced, not included in this snapshot"
            if self.scope == "model"
            else "license referenced, not included in this snapshot",
        )


def _license_target(target: str) -> str | None:
    """The file a link names when it is a license file (relative or a URL), else None."""
    target = target.split("#", 1)[0].split("?", 1)[0].strip()
    if not target or target.startswith("mailto:"):
        return None
    name = PurePosixPath(target.rstrip("/")).name
    return name if _LICENSE_FILE.match(name) else None


def referenced_licenses(
    found: ReleaseLicenses, card: CardText | None, paths: Iterable[str]
) -> tuple[Referenced, ...]:
    """Licenses the release points at that are not in the snapshot.

    From license identification (``references``, and statements that only
    point at a license), else from the card body: a link whose target is a
    license file (``LICENSE``, ``./LICENSE.md``, a URL ending in ``LICENSE``)
    that the release does not contain. Links inside code are ignored.
    """
    out: dict[tuple[str, str, int | None], Referenced] = {}

    def add(ref: Referenced) -> None:
        key = (ref.target, ref.location.path, ref.location.line)
        if key not in out and len(out) < MAX_REFERENCES:
            out[key] = ref

    # The weights' license first; a document scoped to the code or data is not theirs.
    for r in sorted(found.references, key=lambda r: r.scope != "model"):
        if r.scope in ("all", "model"):
            add(Referenced(r.target, r.location, r.excerpt, r.scope))
    for m in found.licenses:
        if m.license_id is None and not m.states_license:
            add(Referenced(m.excerpt or m.location.path, m.location, m.excerpt))
        elif (
            m.license_id is None
            and m.source == "card-license-link"
            and "not in the release" in (m.note or "")
        ):
            add(Referenced(m.excerpt or "license_link", m.location, m.excerpt))
    if out or card is None or found.references:
        return tuple(out.values())
    present = {p.lower() for p in paths}
    for count, link in enumerate(_REF_LINK.finditer(card.text, card.body_offset)):
        if count >= 10 * MAX_REFERENCES:
            break
        target = link.group(2) or link.group(3) or ""
        name = _license_target(target)
        if name is None:
            continue
        line = card.line_at(link.start())
        if card.in_code(line):
            continue
        relative = "://" not in target and not target.startswith("www.")
        rel = target.split("#", 1)[0].removeprefix("./").lstrip("/")
        if relative and rel.lower() in present:
            continue
        add(Referenced(target, Location(card.path, line), card.lines[line - 1].strip()))
    return tuple(out.values())
