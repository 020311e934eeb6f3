"""Which license (or use policy) a text is: phrase scoring, segmentation, fingerprints.

A text is cut where a known title starts a line past the opening (a LICENSE
that holds the license *and* its use policy, or two licenses), each part is
scored against every knowledge-base entry, and adjacent parts that agree (or
that nothing identifies) are joined again.

Scoring an entry: its title near the top of the part weighs most (a title
inside a longer title of another entry does not count: "MIT License" in
"Modified MIT License"), each distinctive phrase adds its weight, a
``negative`` phrase excludes the entry, and an entry with ``require`` phrases
is a candidate only when one of them is present (this is how versions and
license-vs-policy are told apart). Reference fingerprints, when shipped,
raise the confidence of a match and name the nearest texts of an unknown one;
they never decide alone unless the text is nearly identical to a reference.

A license with a canonical text (``reference``) is compared with it sentence
by sentence (:func:`compare`): added or removed sentences that change its
meaning make it that license *modified*, never the license itself. Known
add-on texts (the Commons Clause) are named wherever they appear. The version
of a family whose versions carry evidence (``labels``, ``markers``, ``dates``)
is decided from all of it together (:func:`_decide_version`).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from functools import lru_cache
from itertools import pairwise
from typing import Literal

from seewhy.analyzers.license.kb import Addon, Entry, KnowledgeBase, normalize_url, shingles
from seewhy.analyzers.license.model import VersionBasis
from seewhy.analyzers.license.normalize import Doc, make_doc
from seewhy.analyzers.license.tags import tag_text

__all__ = [
    "Diff",
    "Identified",
    "Mention",
    "RawChange",
    "RawVersion",
    "Scored",
    "compare",
    "find_mentions",
    "find_urls",
    "identify_doc",
    "scored_entries",
    "similarities",
    "version_date",
]

TOP_TOKENS = 60
TITLE_WEIGHT = 8.0
WEAK_TITLE_WEIGHT = 1.0
MAX_OCCURRENCES = 64
MIN_PART = 30
SHORT_TEXT = 60  # a text this short may just name its license
REFERENCE_TEXT = 400  # a text this short may point at its license in prose
NEAREST = 3
STRICT_SLACK = 1.25
MIN_BASE_SHARE = 0.75  # a modified license still holds this much of its canonical text
SLOT_FILL = 16  # words that may fill one fill-in field ("[name of copyright owner]")
TITLE_REACH = 30  # tokens from the top where a title line may stand
CONFLICT_CONFIDENCE = 0.7  # at most this sure of a text whose version readings disagree


@dataclass(frozen=True)
class RawChange:
    """A sentence added (tokens ``start``..``end`` of the doc) or removed (cut at ``start``)."""

    op: Literal["added", "removed"]
    start: int
    end: int
    text: str
    words: str


@dataclass(frozen=True)
class Diff:
    """How tokens of a doc differ from an entry's canonical text."""

    entry: Entry
    changes: tuple[RawChange, ...]
    similarity: float  # share of the canonical text present (optional parts aside)
    cosmetic: int  # differing words that change nothing (copyright lines, fill-ins, titles)
    addons: tuple[Addon, ...] = ()
    missing_tail: int = 0  # words of the canonical text's end that the copy stops before


@dataclass(frozen=True)
class RawVersion:
    """A version reading: which versions (entries) it allows, from which words."""

    basis: VersionBasis
    entries: tuple[Entry, ...]
    start: int
    end: int
    date: str | None = None


@dataclass(frozen=True)
class Identified:
    """One document found in a text (tokens ``start``..``end`` of the :class:`Doc`)."""

    start: int
    end: int
    entry: Entry | None
    version: str | None
    confidence: float
    evidence: tuple[int, int]
    nearest: tuple[tuple[str, float], ...] = ()
    note: str | None = None
    modification: Diff | None = None
    versions: tuple[RawVersion, ...] = ()  # the readings the version was decided from
    version_conflict: bool = False
    hits: int = 0  # distinctive phrases of the entry found (0 for a title or a name alone)


@dataclass(frozen=True)
class Mention:
    """A license named in prose or linked by URL, at tokens ``start``..``end``."""

    entry: Entry
    start: int
    end: int
    via: str  # "name" or "url"
    url: str | None = None


@dataclass(frozen=True)
class _Candidate:
    entry: Entry
    score: float
    title_len: int
    evidence: tuple[int, int]
    hits: int = 0


class _Matcher:
    """The knowledge base compiled for matching: needles and their token sets."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.entries = tuple(e for e in kb.entries if e.matchable)
        needles: dict[str, frozenset[str]] = {}
        versioned: dict[tuple[str, str], list[Entry]] = {}
        for e in self.entries:
            texts = (*e.titles, *(p.text for p in e.phrases), *e.require, *e.negative)
            for text in (*texts, *e.labels, *e.markers):
                needles.setdefault(text, frozenset(text.split(" ")))
            if e.labels or e.markers or e.dates:
                versioned.setdefault((e.family, e.kind), []).append(e)
        for addon in kb.addons:
            for text in addon.phrases:
                needles.setdefault(text, frozenset(text.split(" ")))
        self.needles = needles
        self.versioned = {k: tuple(v) for k, v in versioned.items()}
        self.titles = tuple(sorted({t for e in self.entries for t in e.titles}))

    def occurrences(self, doc: Doc) -> dict[str, tuple[int, ...]]:
        """Token positions of every needle in ``doc`` (at most MAX_OCCURRENCES each)."""
        out: dict[str, tuple[int, ...]] = {}
        joined = doc.joined
        for needle, toks in self.needles.items():
            if not toks <= doc.token_set:
                continue
            probe = f" {needle} "
            found: list[int] = []
            pos = joined.find(probe)
            while pos >= 0 and len(found) < MAX_OCCURRENCES:
                found.append(doc.token_at(pos + 1))
                pos = joined.find(probe, pos + 1)
            if found:
                out[needle] = tuple(found)
        return out


_MATCHERS: dict[int, tuple[KnowledgeBase, _Matcher]] = {}


def _matcher(kb: KnowledgeBase) -> _Matcher:
    held = _MATCHERS.get(id(kb))
    if held is None or held[0] is not kb:
        held = (kb, _Matcher(kb))
        _MATCHERS[id(kb)] = held
    return held[1]


def _first(positions: Sequence[int] | None, a: int, b: int) -> int | None:
    if not positions:
        return None
    i = bisect.bisect_left(positions, a)
    return positions[i] if i < len(positions) and positions[i] < b else None


# ------------------------------------------------------------------ scoring


def _candidates(
    m: _Matcher, doc: Doc, occ: dict[str, tuple[int, ...]], a: int, b: int
) -> list[_Candidate]:
    top = a + TOP_TOKENS
    head_limit = a + max(TOP_TOKENS, (b - a) // 4)
    strong: list[tuple[Entry, int, int]] = []
    for e in m.entries:
        for title in e.titles:
            for t in occ.get(title, ()):
                if t >= b:
                    break
                if t >= a and (t < top or (t in doc.heading_tokens and t < head_limit)):
                    strong.append((e, t, t + title.count(" ") + 1))
                    break
    best_title: dict[str, tuple[int, int]] = {}
    for e, t0, t1 in strong:
        inside = any(
            o is not e and o0 <= t0 and t1 <= o1 and o1 - o0 > t1 - t0 for o, o0, o1 in strong
        )
        held = best_title.get(e.id)
        if not inside and (held is None or t1 - t0 > held[1] - held[0]):
            best_title[e.id] = (t0, t1)
    out: list[_Candidate] = []
    for e in m.entries:
        if any(_first(occ.get(n), a, b) is not None for n in e.negative):
            continue
        if e.require and all(_first(occ.get(r), a, b) is None for r in e.require):
            continue
        span = best_title.get(e.id)
        score = 0.0
        evidence = span
        if span is not None:
            score += TITLE_WEIGHT
        elif any(_first(occ.get(t), a, b) is not None for t in e.titles):
            score += WEAK_TITLE_WEIGHT
        best_weight = 0.0
        hits = 0
        for p in e.phrases:
            hit = _first(occ.get(p.text), a, b)
            if hit is None:
                continue
            hits += 1
            score += p.weight
            if p.weight > best_weight:
                best_weight = p.weight
                if span is None:
                    evidence = (hit, hit + p.text.count(" ") + 1)
        if span is not None and not best_weight and len(e.phrases) >= 2:
            score -= TITLE_WEIGHT / 2  # a title whose body says nothing of the kind
        if score >= e.min_score and evidence is not None:
            out.append(_Candidate(e, score, span[1] - span[0] if span else 0, evidence, hits))
    out.sort(key=lambda c: (-c.score, -c.title_len, c.entry.generic, c.entry.id))
    return out


# --------------------------------------------------------------- versions

_MONTH_NAMES = (
    "january jan", "february feb", "march mar", "april apr", "may", "june jun",
    "july jul", "august aug", "september sep sept", "october oct", "november nov",
    "december dec",
)  # fmt: skip
_MONTHS = {name: i for i, names in enumerate(_MONTH_NAMES, start=1) for name in names.split()}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_DATE_KEY = (
    r"(?:last modified|last updated|last revised|updated|effective date|effective"
    r"|release date|version date|dated|date|version)"
)
_GAP = r"(?:\S+ ){0,3}?"
_ORD = r"(?: st| nd| rd| th)?"
_DATE_MDY = re.compile(rf"\b{_DATE_KEY} {_GAP}({_MONTH}) (\d{{1,2}}){_ORD} (\d{{4}})\b")
_DATE_DMY = re.compile(rf"\b{_DATE_KEY} {_GAP}(\d{{1,2}}){_ORD} ({_MONTH}) (\d{{4}})\b")
_DATE_ISO = re.compile(rf"\b{_DATE_KEY} {_GAP}((?:19|20)\d\d) (\d\d) (\d\d)\b")


def version_date(doc: Doc, a: int, limit: int = 160) -> str | None:
    """An ISO date from a "Last modified: March 24, 2025" line near token ``a``."""
    lo, hi = doc.jspan(a, min(len(doc), a + limit))
    text = doc.joined[lo:hi]
    for pattern, order in ((_DATE_MDY, "mdy"), (_DATE_DMY, "dmy"), (_DATE_ISO, "ymd")):
        found = pattern.search(text)
        if found is None:
            continue
        g = found.groups()
        if order == "mdy":
            month, day, year = _MONTHS[g[0]], int(g[1]), int(g[2])
        elif order == "dmy":
            day, month, year = int(g[0]), _MONTHS[g[1]], int(g[2])
        else:
            year, month, day = int(g[0]), int(g[1]), int(g[2])
        if 1 <= month <= 12 and 1 <= day <= 31:
            return f"{year:04d}-{month:02d}-{day:02d}"
    return None


def _version(entry: Entry, doc: Doc, a: int) -> str | None:
    if entry.version is not None or not entry.version_from:
        return entry.version
    if entry.version_from == "date":
        return version_date(doc, a)
    lo, hi = doc.jspan(a, min(len(doc), a + 200))
    found = re.search(entry.version_from, doc.joined[lo:hi])
    return found.group(1) if found and found.groups() else None


# ------------------------------------------------------------ fingerprints


def _similar(kb: KnowledgeBase, doc: Doc, a: int, b: int) -> dict[str, tuple[float, float, float]]:
    """Per license id: best (resemblance, reference containment, text containment)."""
    if not kb.fingerprints:
        return {}
    mine = shingles(doc.toks[a:b], kb.shingle, kb.sample_mod)
    if not mine:
        return {}
    best: dict[str, tuple[float, float, float]] = {}
    for ref in kb.fingerprints:
        if not ref.hashes:
            continue
        inter = len(mine & ref.hashes)
        if not inter:
            continue
        union = len(mine) + len(ref.hashes) - inter
        value = (inter / union, inter / len(ref.hashes), inter / len(mine))
        if value > best.get(ref.license_id, (0.0, 0.0, 0.0)):
            best[ref.license_id] = value
    return best


def similarities(doc: Doc, kb: KnowledgeBase, limit: int = 5) -> tuple[tuple[str, float], ...]:
    """The known texts most like ``doc`` (fingerprint resemblance, then canonical texts)."""
    sims = {lid: v[0] for lid, v in _similar(kb, doc, 0, len(doc)).items()}
    for entry in kb.entries:  # a canonical text says more than a fingerprint
        if entry.reference_text:
            diff = compare(doc, 0, len(doc), entry, kb)
            if diff is not None and diff.similarity >= 0.3:
                sims[entry.id] = diff.similarity
    ranked = sorted(sims.items(), key=lambda kv: -kv[1])[:limit]
    return tuple((lid, round(v, 3)) for lid, v in ranked if v > 0)


def _nearest(
    kb: KnowledgeBase, sims: dict[str, tuple[float, float, float]], partial: list[_Candidate]
) -> tuple[tuple[str, float], ...]:
    if sims:
        ranked = sorted(sims.items(), key=lambda kv: -kv[1][0])[:NEAREST]
        return tuple((lid, round(v[0], 3)) for lid, v in ranked if v[0] > 0)
    return tuple((c.entry.id, round(min(0.5, c.score / 20), 3)) for c in partial[:NEAREST])


# ------------------------------------------------------------- documents


def _part_starts(m: _Matcher, doc: Doc, occ: dict[str, tuple[int, ...]]) -> list[int]:
    starts: set[int] = set()
    for title in m.titles:
        width = title.count(" ") + 1
        for t in occ.get(title, ()):
            if t >= TOP_TOKENS and doc.line_start(t) and doc.line_tokens(t) <= width + 6:
                starts.add(t)
    kept = [0]
    for t in sorted(starts):
        if t - kept[-1] >= MIN_PART:
            kept.append(t)
    return kept


def _identify_part(
    m: _Matcher, doc: Doc, occ: dict[str, tuple[int, ...]], a: int, b: int, embedded: bool
) -> Identified:
    kb = m.kb
    scored = _candidates(m, doc, occ, a, b)
    cands = list(scored)
    # Fingerprints only where a title does not already settle it (they cost a pass).
    needed = not scored or not scored[0].title_len
    sims = _similar(kb, doc, a, b) if needed else {}
    note: str | None = None
    while cands:
        best = cands[0]
        too_long = _too_long(a, b, best.entry)
        if too_long:
            note = (
                f"holds the {best.entry.name} text plus about {too_long} more words: "
                "additional terms, so it is not reported as that license"
            )
            cands = cands[1:]
            continue
        diff = compare(doc, a, b, best.entry, kb, trim=embedded)
        if diff is not None and diff.changes:
            other = next((c for c in cands[1:] if c.title_len and not c.entry.reference_text), None)
            if other is not None:  # a license of its own built on this one ("Modified MIT")
                best, diff = other, None
            elif diff.similarity < MIN_BASE_SHARE:
                note = (
                    f"holds {diff.similarity:.0%} of the {best.entry.name} text with other "
                    "terms: not reported as that license"
                )
                cands = cands[1:]
                continue
        if diff is not None and not diff.changes and diff.missing_tail:
            note = (
                f"the copy stops early: the last {diff.missing_tail} words of the "
                f"{best.entry.name} text are missing"
            )
        if diff is None or not diff.changes:
            diff = _addons_only(m, doc, occ, a, b, best.entry)
        rivals = [
            c for c in cands[1:] if c.score == best.score and c.entry.family != best.entry.family
        ]
        confidence = min(0.99, 0.5 + 0.025 * best.score + (0.1 if best.title_len else 0.0))
        resemblance = sims.get(best.entry.id, (0.0, 0.0, 0.0))[0]
        confidence = round(max(confidence, min(0.99, resemblance)), 3)
        if rivals:
            confidence = round(confidence * 0.7, 3)
            note = "also matches " + ", ".join(r.entry.id for r in rivals[:2])
        entry, readings, conflict = _decide_version(m, doc, occ, a, b, best.entry)
        if conflict:
            confidence = min(confidence, CONFLICT_CONFIDENCE)
        return Identified(
            a,
            b,
            entry,
            _version(entry, doc, a),
            confidence,
            best.evidence,
            note=note,
            modification=diff if diff is not None and diff.changes else None,
            versions=readings,
            version_conflict=conflict,
            hits=best.hits,
        )
    # No phrase match: a near-copy of a reference text still counts.
    close = [
        (lid, v)
        for lid, v in sims.items()
        if v[1] >= 0.85
        and v[2] >= 0.85
        and (e := kb.get(lid))
        and not _too_long(a, b, e)
        and not ((d := compare(doc, a, b, e, kb, trim=embedded)) is not None and d.changes)
    ]
    if close:
        lid, v = max(close, key=lambda kv: kv[1][0])
        near = kb.get(lid)
        if near is not None:
            entry, readings, conflict = _decide_version(m, doc, occ, a, b, near)
            return Identified(
                a,
                b,
                entry,
                _version(entry, doc, a),
                round(min(CONFLICT_CONFIDENCE if conflict else 0.95, v[0] + 0.1), 3),
                (a, min(b, a + 12)),
                note=f"identified by similarity to the reference text ({v[1]:.0%} of it present)",
                versions=readings,
                version_conflict=conflict,
            )
    return Identified(
        a, b, None, None, 0.0, (a, min(b, a + 12)), nearest=_nearest(kb, sims, scored), note=note
    )


def _too_long(a: int, b: int, entry: Entry) -> int:
    """Words beyond ``max_tokens`` (plus a quarter) of a short license with no canonical text."""
    if entry.reference_text or entry.max_tokens is None:
        return 0
    return b - a - entry.max_tokens if b - a > entry.max_tokens * STRICT_SLACK else 0


# ------------------------------------------------------------ modifications

_BOILERPLATE_LINE = re.compile(
    r"(?i)copyright|\(c\)|©|all rights reserved|spdx-license-identifier|^\W*$"
)
_REF_MARK = re.compile(r"\{\{(/?optional|[^{}]{0,80})\}\}")


@dataclass(frozen=True)
class _Reference:
    """A canonical text in matching form: tokens, which may go missing, which are fill-ins."""

    doc: Doc
    skip: tuple[bool, ...]  # optional or fill-in: its absence changes nothing
    slot: tuple[bool, ...]
    weight: int  # tokens that count for similarity


@lru_cache(maxsize=64)
def _reference(text: str) -> _Reference:
    parts: list[str] = []
    size = 0
    optional: list[tuple[int, int]] = []
    slots: list[tuple[int, int]] = []
    opened: int | None = None
    pos = 0
    for mark in _REF_MARK.finditer(text):
        parts.append(text[pos : mark.start()])
        size += mark.start() - pos
        pos = mark.end()
        name = mark.group(1).strip()
        if name == "optional":
            opened = size
        elif name == "/optional":
            if opened is not None:
                optional.append((opened, size))
            opened = None
        else:
            filler = f"[{name}]"
            slots.append((size, size + len(filler)))
            parts.append(filler)
            size += len(filler)
    parts.append(text[pos:])
    doc = make_doc("".join(parts))

    def inside(spans: list[tuple[int, int]], offset: int) -> bool:
        return any(lo <= offset < hi for lo, hi in spans)

    slot = tuple(inside(slots, s) for s in doc.starts)
    skip = tuple(
        sl or inside(optional, s) or _enumerator(doc, i)
        for i, (sl, s) in enumerate(zip(slot, doc.starts, strict=True))
    )
    return _Reference(doc, skip, slot, max(1, skip.count(False)))


def _line_bounds(doc: Doc, i: int) -> tuple[int, int]:
    line = bisect.bisect_right(doc.line_starts, doc.starts[i]) - 1
    lo = doc.line_starts[line]
    hi = doc.line_starts[line + 1] if line + 1 < len(doc.line_starts) else len(doc.display)
    return lo, hi


_ENUMERATOR_TOKEN = re.compile(r"^(?:\d{1,3}|[a-z]|[ivx]{1,4})$")


def _enumerator(doc: Doc, i: int) -> bool:
    """A list item's number or letter ("1." "(a)"): formatting, not words."""
    sentence = doc.sentences[doc.sent_of[i]]
    return sentence.bullet and sentence.start == i and bool(_ENUMERATOR_TOKEN.match(doc.toks[i]))


def _cosmetic_tokens(doc: Doc, a: int, b: int, kb: KnowledgeBase) -> set[int]:
    """Tokens whose addition changes nothing: copyright lines, list numbers, and short
    lines near the top (a title, a holder's name) that carry no clause."""
    out: set[int] = set()
    i = a
    while i < b:
        lo, hi = _line_bounds(doc, i)
        j = max(bisect.bisect_left(doc.starts, hi, i, b), i + 1)
        boilerplate = bool(_BOILERPLATE_LINE.search(doc.display[lo:hi]))
        title = i - a < TITLE_REACH and j - i <= 10
        if boilerplate or (title and not tag_text(doc, kb, path="", start=i, end=j)):
            out.update(range(i, j))
        i = j
    out.update(t for t in range(a, b) if _enumerator(doc, t))
    return out


def _equivalent(kb: KnowledgeBase, mine: Sequence[str], ref: Sequence[str]) -> bool:
    if len(mine) != len(ref):
        return False
    eq = kb.equivalents
    pairs = zip(mine, ref, strict=True)
    return all(x == y or (x in eq and eq.get(x) == eq.get(y)) for x, y in pairs)


def _words(doc: Doc, idx: Sequence[int]) -> str:
    """The display text of tokens ``idx`` (runs joined, gaps shown as …)."""
    runs: list[list[int]] = []
    for i in sorted(idx):
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return " … ".join(doc.text(r[0], r[-1] + 1) for r in runs)


def compare(
    doc: Doc, a: int, b: int, entry: Entry, kb: KnowledgeBase, *, trim: bool = False
) -> Diff | None:
    """Tokens ``a``..``b`` against ``entry``'s canonical text, sentence by sentence.

    ``None`` when the entry has no canonical text. Differences that change
    nothing (see ``modifications.toml``) are counted in ``cosmetic``; every
    other added or removed word makes its sentence a change. With ``trim``
    (a license pasted into a longer document) words before the first and
    after the last stretch of the canonical text are the document's, not
    additions.
    """
    if not entry.reference_text:
        return None
    ref = _reference(entry.reference_text)
    mine = doc.toks[a:b]
    theirs = ref.doc.toks
    if mine == theirs:
        return Diff(entry, (), 1.0, 0)
    cosmetic_toks = _cosmetic_tokens(doc, a, b, kb)
    added: dict[int, list[int]] = {}
    removed: dict[int, tuple[list[int], int]] = {}
    present = cosmetic = 0
    matcher = SequenceMatcher(None, mine, theirs, autojunk=False)
    opcodes: list[tuple[str, int, int, int, int]] = list(matcher.get_opcodes())
    if trim:
        equal = [k for k, o in enumerate(opcodes) if o[0] == "equal" and o[2] - o[1] >= 8]
        if equal:
            first, last = opcodes[equal[0]], opcodes[equal[-1]]
            # difflib's "insert": words only the canonical text has (here: cut, not removed)
            lead = [("insert", first[1], first[1], o[3], o[4]) for o in opcodes[: equal[0]]]
            tail = [("insert", last[2], last[2], o[3], o[4]) for o in opcodes[equal[-1] + 1 :]]
            opcodes = [*lead, *opcodes[equal[0] : equal[-1] + 1], *tail]
    # A copy cut short (nothing after the last stretch of canonical text) is incomplete,
    # not changed: the words it lacks are counted, not quoted as removed.
    missing_tail = 0
    while len(opcodes) > 1 and opcodes[-1][0] == "insert":  # difflib: only in the canonical
        missing_tail += sum(1 for j in range(opcodes[-1][3], opcodes[-1][4]) if not ref.skip[j])
        opcodes = opcodes[:-1]
    for op, i1, i2, j1, j2 in opcodes:
        if op == "equal":
            present += sum(1 for j in range(j1, j2) if not ref.skip[j])
            continue
        if op == "replace" and _equivalent(kb, mine[i1:i2], theirs[j1:j2]):
            present += sum(1 for j in range(j1, j2) if not ref.skip[j])
            cosmetic += i2 - i1
            continue
        if j2 > j1 and all(ref.slot[j] for j in range(j1, j2)) and i2 - i1 <= SLOT_FILL:
            cosmetic += i2 - i1  # a fill-in field filled in
            continue
        for i in range(a + i1, a + i2):
            if i in cosmetic_toks:
                cosmetic += 1
            else:
                added.setdefault(doc.sent_of[i], []).append(i)
        anchor = min(a + i1, b - 1)
        for j in range(j1, j2):
            if not ref.skip[j]:
                held = removed.setdefault(ref.doc.sent_of[j], ([], anchor))
                held[0].append(j)
    changes: list[tuple[int, RawChange]] = []
    for s, idx in added.items():
        sent = doc.sentences[s]
        lo, hi = max(a, sent.start), min(b, sent.end)
        changes.append((lo, RawChange("added", lo, hi, doc.text(lo, hi), _words(doc, idx))))
    for s, (idx, anchor) in removed.items():
        sent = ref.doc.sentences[s]
        text = ref.doc.text(sent.start, sent.end)
        changes.append((anchor, RawChange("removed", anchor, anchor, text, _words(ref.doc, idx))))
    changes.sort(key=lambda pair: (pair[0], pair[1].op != "removed"))
    found = tuple(c for _, c in changes)
    joined = (
        " "
        + " ".join(
            doc.joined[slice(*doc.jspan(c.start, c.end))].strip() for c in found if c.op == "added"
        )
        + " "
    )
    addons = tuple(ad for ad in kb.addons if any(f" {p} " in joined for p in ad.phrases))
    return Diff(entry, found, round(present / ref.weight, 3), cosmetic, addons, missing_tail)


def _addons_only(
    m: _Matcher, doc: Doc, occ: dict[str, tuple[int, ...]], a: int, b: int, entry: Entry
) -> Diff | None:
    """A license with no canonical text that carries a known add-on (the Commons Clause)."""
    if entry.reference_text:
        return None
    found: list[Addon] = []
    sentences: dict[int, int] = {}
    own = {p.text for p in entry.phrases}
    for addon in m.kb.addons:
        if not addon.anywhere:
            continue
        for text in addon.phrases:
            hit = _first(occ.get(text), a, b)
            if hit is not None and text not in own:
                if addon not in found:
                    found.append(addon)
                sentences.setdefault(doc.sent_of[hit], hit)
    if not found:
        return None
    changes = []
    for s in sorted(sentences):
        sent = doc.sentences[s]
        lo, hi = max(a, sent.start), min(b, sent.end)
        changes.append(RawChange("added", lo, hi, doc.text(lo, hi), doc.text(lo, hi)))
    return Diff(entry, tuple(changes), 0.0, 0, tuple(found))


# ----------------------------------------------------------------- versions


def _decide_version(
    m: _Matcher, doc: Doc, occ: dict[str, tuple[int, ...]], a: int, b: int, entry: Entry
) -> tuple[Entry, tuple[RawVersion, ...], bool]:
    """The version of ``entry``'s family that the text's wording, date and name support.

    The wording only one version has (its sections and links) weighs most,
    then the date line, then the name the text gives itself; each narrows the
    versions the one before allows. Readings that exclude the chosen version
    are a conflict: a relabelled or edited text.
    """
    siblings = m.versioned.get((entry.family, entry.kind))
    if not siblings:
        return entry, (), False
    readings: list[RawVersion] = []
    for basis in ("sections", "label"):
        allowed: list[Entry] = []
        span: tuple[int, int] | None = None
        for e in siblings:
            for text in e.markers if basis == "sections" else e.labels:
                hit = _first(occ.get(text), a, b)
                if hit is not None:
                    allowed.append(e)
                    if span is None or hit < span[0]:
                        span = (hit, hit + text.count(" ") + 1)
                    break
        if allowed and span is not None:
            readings.append(RawVersion(basis, tuple(allowed), *span))
    date = version_date(doc, a)
    if date is not None:
        dated = tuple(e for e in siblings if date in e.dates)
        at = _date_token(doc, a, date)
        if dated:
            readings.append(RawVersion("date", dated, at, at + 4, date))
    order = {"sections": 0, "date": 1, "label": 2}
    readings.sort(key=lambda r: order[r.basis])
    if not readings:
        return entry, (), False
    pool: tuple[Entry, ...] = readings[0].entries
    for r in readings[1:]:
        narrowed = tuple(e for e in pool if e in r.entries)
        pool = narrowed or pool
    if len(pool) == 1:
        chosen = pool[0]
    elif entry in pool:
        chosen = entry
    else:
        return entry, tuple(readings), False
    conflict = any(chosen not in r.entries for r in readings)
    return chosen, tuple(readings), conflict


def _date_token(doc: Doc, a: int, date: str, limit: int = 160) -> int:
    """The first token of the date line's year near ``a`` (for quoting it)."""
    year = date[:4]
    for i in range(a, min(len(doc), a + limit)):
        if doc.toks[i] == year:
            return max(a, i - 3)
    return a


def identify_doc(doc: Doc, kb: KnowledgeBase, *, embedded: bool = False) -> tuple[Identified, ...]:
    """Every document in ``doc``, in order (one unknown part when nothing matches).

    ``embedded``: ``doc`` is a longer document (a model card) that may hold a
    license text: unidentified text before a license is not joined to it, and
    text around a canonical license is not counted as added to it.
    """
    if not doc.toks:
        return (Identified(0, 0, None, None, 0.0, (0, 0), note="no words in the text"),)
    m = _matcher(kb)
    occ = m.occurrences(doc)
    bounds = [*_part_starts(m, doc, occ), len(doc)]
    parts = [_identify_part(m, doc, occ, a, b, embedded) for a, b in pairwise(bounds)]
    merged: list[Identified] = []
    for part in parts:
        prev = merged[-1] if merged else None
        if prev is not None and (
            part.entry is None or (prev.entry is not None and prev.entry.id == part.entry.id)
        ):
            merged[-1] = replace(prev, end=part.end)
        elif prev is not None and prev.entry is None and not embedded:
            merged[-1] = replace(part, start=prev.start)
        else:
            merged.append(part)
    if len(merged) == 1 and merged[0].entry is None:
        return (_by_reference(doc, kb, merged[0]),)
    return tuple(_rediff(m, doc, occ, p, parts, embedded) for p in merged)


def _rediff(
    m: _Matcher,
    doc: Doc,
    occ: dict[str, tuple[int, ...]],
    part: Identified,
    parts: Sequence[Identified],
    embedded: bool,
) -> Identified:
    """A part that grew by joining its neighbours is compared again, whole: a Commons
    Clause above an Apache license is an addition to it, not a text of its own."""
    if part.entry is None or part in parts:
        return part
    diff = compare(doc, part.start, part.end, part.entry, m.kb, trim=embedded)
    if diff is None or not diff.changes:
        diff = _addons_only(m, doc, occ, part.start, part.end, part.entry)
    if diff is not None and diff.changes and diff.similarity and diff.similarity < MIN_BASE_SHARE:
        diff = None
    return replace(part, modification=diff if diff is not None and diff.changes else None)


def _by_reference(doc: Doc, kb: KnowledgeBase, unknown: Identified) -> Identified:
    """A short text that only names or links its license ("Apache 2.0", "see <URL>")."""
    if len(doc) > REFERENCE_TEXT:
        return unknown
    found = find_mentions(doc, kb, anywhere=len(doc) <= SHORT_TEXT) + find_urls(doc, kb)
    entries = {f.entry.id for f in found}
    if len(entries) != 1:
        return unknown
    hit = found[0]
    return Identified(
        0,
        len(doc),
        hit.entry,
        hit.entry.version,
        0.6,
        (hit.start, hit.end),
        note=f"names {hit.entry.name} ({'by URL' if hit.via == 'url' else 'by name'}); "
        "the license text itself is not here",
    )


# -------------------------------------------------------------- mentions


def _at(doc: Doc, i: int, words: str) -> bool:
    parts = words.split(" ")
    return tuple(doc.toks[i : i + len(parts)]) == tuple(parts)


def _name_after(doc: Doc, kb: KnowledgeBase, i: int, limit: int) -> Mention | None:
    for p in range(i, min(limit, len(doc))):
        for words, entry in kb.mentions_from(doc.toks[p]):
            if _at(doc, p, words):
                end = p + words.count(" ") + 1
                return Mention(entry, p, end, "name")
    return None


def find_mentions(
    doc: Doc, kb: KnowledgeBase, a: int = 0, b: int | None = None, *, anywhere: bool = False
) -> list[Mention]:
    """Licenses named after a trigger ("released under the X", "License: X").

    With ``anywhere`` every name counts (a text that is only a license name).
    A name inside a license section (under a "License" heading) counts too.
    """
    b = len(doc) if b is None else b
    refs = kb.references
    found: list[Mention] = []
    if anywhere:
        i = a
        while i < b:
            hit = _name_after(doc, kb, i, i + 1)
            if hit is not None:
                found.append(hit)
                i = hit.end
            else:
                i += 1
        return found
    starts: list[int] = []
    lo, hi = doc.jspan(a, b)
    for trigger in refs.triggers:
        probe = f" {trigger} "
        pos = doc.joined.find(probe, lo, hi)
        while pos >= 0:
            starts.append(doc.token_at(pos + 1) + trigger.count(" ") + 1)
            pos = doc.joined.find(probe, pos + 1, hi)
    for i in range(a, b):
        if doc.line_start(i):
            for trigger in refs.line_triggers:
                if _at(doc, i, trigger):
                    starts.append(i + trigger.count(" ") + 1)
                    break
    for start, end in _sections(doc, kb, a, b):
        i = start
        while i < end:
            hit = _name_after(doc, kb, i, i + 1)
            if hit is not None:
                found.append(hit)
                i = hit.end
            else:
                i += 1
    for s in sorted(set(starts)):
        hit = _name_after(doc, kb, s, min(b, s + refs.window))
        if hit is not None:
            found.append(hit)
    return sorted({(f.start, f.entry.id): f for f in found}.values(), key=lambda f: f.start)


def _sections(doc: Doc, kb: KnowledgeBase, a: int, b: int) -> list[tuple[int, int]]:
    """Token ranges under a license heading ("## License")."""
    out: list[tuple[int, int]] = []
    heads = sorted(t for t in doc.heading_tokens if a <= t < b and doc.line_start(t))
    for t in heads:
        n = doc.line_tokens(t)
        if " ".join(doc.toks[t : t + n]) in kb.references.headings:
            out.append((t + n, min(b, t + n + kb.references.section_tokens)))
    return out


_URL = re.compile(
    r"(?:https?://|www\.)[^\s<>()\[\]\"'`]{3,300}|\b[a-z0-9.-]+\.(?:com|org|ai|dev|io|ae|co|net)"
    r"/[^\s<>()\[\]\"'`]{1,300}",
    re.IGNORECASE,
)
_HF_FILE = re.compile(
    r"^(?:huggingface\.co|hf\.co)/([^/]+/[^/]+)/(?:blob|resolve|raw)/[^/]+/([^/]+)$"
)


def url_entry(kb: KnowledgeBase, url: str) -> tuple[Entry, str] | None:
    """The license a URL points at, and how it is known ("url" or "repository")."""
    entry = kb.by_url(url)
    if entry is not None:
        return entry, "url"
    hf = _HF_FILE.match(normalize_url(url))
    if hf is not None and re.match(r"(?i)(licen[cs]e|use[_-]?policy|notice)", hf.group(2)):
        base = kb.base_license(hf.group(1))
        if base is not None:
            entry = base[0]
            if re.match(r"(?i)use[_-]?policy", hf.group(2)) and entry.policy:
                entry = kb.get(entry.policy) or entry
            return entry, "repository"
    return None


def find_urls(doc: Doc, kb: KnowledgeBase, a: int = 0, b: int | None = None) -> list[Mention]:
    """Licenses linked by URL in tokens ``a``..``b``."""
    b = len(doc) if b is None else b
    if not doc.toks:
        return []
    lo = doc.starts[a] if a < len(doc) else len(doc.display)
    hi = doc.ends[b - 1] if 0 < b <= len(doc) else len(doc.display)
    found: list[Mention] = []
    for hit in _URL.finditer(doc.display, lo, hi):
        url = hit.group().rstrip(".,;:")
        known = url_entry(kb, url)
        if known is None:
            continue
        t0 = bisect.bisect_left(doc.starts, hit.start())
        t1 = max(t0 + 1, bisect.bisect_left(doc.starts, hit.end()))
        found.append(Mention(known[0], t0, t1, "url", url))
    return found


# ---------------------------------------------------------------- explain


@dataclass(frozen=True)
class Scored:
    """Why an entry scored what it did on a text (for ``seewhy license --explain``)."""

    entry: Entry
    score: float
    title: bool  # its title stands near the top
    phrases: tuple[str, ...]  # its distinctive phrases found
    missing_required: bool  # a `require` phrase is absent: it cannot be the text
    excluded_by: str | None  # a `negative` phrase that rules it out


def scored_entries(doc: Doc, kb: KnowledgeBase, limit: int = 5) -> tuple[Scored, ...]:
    """The entries whose titles or phrases the text holds, best first."""
    if not doc.toks:
        return ()
    m = _matcher(kb)
    occ = m.occurrences(doc)
    a, b = 0, len(doc)
    kept = {c.entry.id: c for c in _candidates(m, doc, occ, a, b)}
    out: list[Scored] = []
    for e in m.entries:
        found = tuple(p.text for p in e.phrases if _first(occ.get(p.text), a, b) is not None)
        title = any(_first(occ.get(t), a, min(b, a + TOP_TOKENS)) is not None for t in e.titles)
        if not found and not title:
            continue
        negative = next((n for n in e.negative if _first(occ.get(n), a, b) is not None), None)
        missing = bool(e.require) and all(_first(occ.get(r), a, b) is None for r in e.require)
        held = kept.get(e.id)
        score = held.score if held else sum(p.weight for p in e.phrases if p.text in found)
        out.append(Scored(e, score, title, found, missing, negative))
    out.sort(key=lambda s: (s.missing_required or s.excluded_by is not None, -s.score))
    return tuple(out[:limit])
