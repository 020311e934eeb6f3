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
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from seewhy.analyzers.license.kb import Entry, KnowledgeBase, normalize_url, shingles
from seewhy.analyzers.license.normalize import Doc

__all__ = ["Identified", "Mention", "find_mentions", "find_urls", "identify_doc", "version_date"]

TOP_TOKENS = 60
TITLE_WEIGHT = 8.0
WEAK_TITLE_WEIGHT = 1.0
MAX_OCCURRENCES = 64
MIN_PART = 30
SHORT_TEXT = 60  # a text this short may just name its license
REFERENCE_TEXT = 400  # a text this short may point at its license in prose
NEAREST = 3
STRICT_SLACK = 1.25
EXTRA_WORDS = 12


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


class _Matcher:
    """The knowledge base compiled for matching: needles and their token sets."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.entries = tuple(e for e in kb.entries if e.matchable)
        needles: dict[str, frozenset[str]] = {}
        for e in self.entries:
            for text in (*e.titles, *(p.text for p in e.phrases), *e.require, *e.negative):
                needles.setdefault(text, frozenset(text.split(" ")))
        self.needles = needles
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
        for p in e.phrases:
            hit = _first(occ.get(p.text), a, b)
            if hit is None:
                continue
            score += p.weight
            if p.weight > best_weight:
                best_weight = p.weight
                if span is None:
                    evidence = (hit, hit + p.text.count(" ") + 1)
        if span is not None and not best_weight and len(e.phrases) >= 2:
            score -= TITLE_WEIGHT / 2  # a title whose body says nothing of the kind
        if score >= e.min_score and evidence is not None:
            out.append(_Candidate(e, score, span[1] - span[0] if span else 0, evidence))
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
    m: _Matcher, doc: Doc, occ: dict[str, tuple[int, ...]], a: int, b: int
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
        extra = _extra_words(doc, a, b, best.entry)
        if extra:
            note = (
                f"holds the {best.entry.name} text plus about {extra} more words: "
                "additional terms, so it is not reported as that license"
            )
            cands = cands[1:]
            continue
        rivals = [
            c for c in cands[1:] if c.score == best.score and c.entry.family != best.entry.family
        ]
        confidence = min(0.99, 0.5 + 0.025 * best.score + (0.1 if best.title_len else 0.0))
        resemblance = sims.get(best.entry.id, (0.0, 0.0, 0.0))[0]
        confidence = round(max(confidence, min(0.99, resemblance)), 3)
        if rivals:
            confidence = round(confidence * 0.7, 3)
            note = "also matches " + ", ".join(r.entry.id for r in rivals[:2])
        return Identified(
            a, b, best.entry, _version(best.entry, doc, a), confidence, best.evidence, note=note
        )
    # No phrase match: a near-copy of a reference text still counts.
    close = [
        (lid, v)
        for lid, v in sims.items()
        if v[1] >= 0.85 and v[2] >= 0.85 and (e := kb.get(lid)) and not _extra_words(doc, a, b, e)
    ]
    if close:
        lid, v = max(close, key=lambda kv: kv[1][0])
        entry = kb.get(lid)
        if entry is not None:
            return Identified(
                a,
                b,
                entry,
                _version(entry, doc, a),
                round(min(0.95, v[0] + 0.1), 3),
                (a, min(b, a + 12)),
                note=f"identified by similarity to the reference text ({v[1]:.0%} of it present)",
            )
    return Identified(
        a, b, None, None, 0.0, (a, min(b, a + 12)), nearest=_nearest(kb, sims, scored), note=note
    )


_BOILERPLATE_LINE = re.compile(r"(?i)copyright|\(c\)|©|all rights reserved|^\W*$")


def _extra_words(doc: Doc, a: int, b: int, entry: Entry) -> int:
    """Words of tokens ``a``..``b`` beyond a short license's own text (0 when within it).

    With a reference text: words in no 4-word run of it, copyright lines and a
    short first line (the title) aside, counted when more than EXTRA_WORDS.
    Without one: the length beyond ``max_tokens`` (plus a quarter).
    """
    if entry.reference:
        k = 4
        ref = entry.reference
        if b - a > 2 * len(ref) + 100:  # far longer than the license itself
            return b - a - len(ref)
        grams = {ref[i : i + k] for i in range(len(ref) - k + 1)}
        covered = bytearray(b - a)
        for i in range(a, b - k + 1):
            if doc.toks[i : i + k] in grams:
                covered[i - a : i - a + k] = b"\x01" * k
        extra = 0
        for i in range(a, b):
            if covered[i - a] or (i - a < 8 and doc.line_tokens(i) <= 6):
                continue
            line = bisect.bisect_right(doc.line_starts, doc.starts[i]) - 1
            lo = doc.line_starts[line]
            hi = doc.line_starts[line + 1] if line + 1 < len(doc.line_starts) else len(doc.display)
            if not _BOILERPLATE_LINE.search(doc.display[lo:hi]):
                extra += 1
                if extra > EXTRA_WORDS:
                    break
        return extra if extra > EXTRA_WORDS else 0
    if entry.max_tokens is not None and b - a > entry.max_tokens * STRICT_SLACK:
        return b - a - entry.max_tokens
    return 0


def identify_doc(doc: Doc, kb: KnowledgeBase) -> tuple[Identified, ...]:
    """Every document in ``doc``, in order (one unknown part when nothing matches)."""
    if not doc.toks:
        return (Identified(0, 0, None, None, 0.0, (0, 0), note="no words in the text"),)
    m = _matcher(kb)
    occ = m.occurrences(doc)
    bounds = [*_part_starts(m, doc, occ), len(doc)]
    parts = [_identify_part(m, doc, occ, a, b) for a, b in pairwise(bounds)]
    merged: list[Identified] = []
    for part in parts:
        prev = merged[-1] if merged else None
        if prev is not None and (
            part.entry is None or (prev.entry is not None and prev.entry.id == part.entry.id)
        ):
            merged[-1] = _extend(prev, part.end)
        elif prev is not None and prev.entry is None:
            merged[-1] = Identified(
                prev.start,
                part.end,
                part.entry,
                part.version,
                part.confidence,
                part.evidence,
                part.nearest,
                part.note,
            )
        else:
            merged.append(part)
    if len(merged) == 1 and merged[0].entry is None:
        return (_by_reference(doc, kb, merged[0]),)
    return tuple(merged)


def _extend(part: Identified, end: int) -> Identified:
    return Identified(
        part.start,
        end,
        part.entry,
        part.version,
        part.confidence,
        part.evidence,
        part.nearest,
        part.note,
    )


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
