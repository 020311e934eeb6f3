"""Restrictive-clause tags: which clauses a license or policy text contains, quoted.

The patterns live in ``data/licenses/clauses.toml``; this module runs them
over a :class:`~seewhy.analyzers.license.normalize.Doc` and returns one
:class:`ClauseTag` per tag (its first occurrence), quoting the sentence with
its path and line range, and naming the Open Source Definition criterion the
clause conflicts with.
"""

from __future__ import annotations

import re

from seewhy.analyzers.license.kb import ClauseRule, ClauseSpec, KnowledgeBase
from seewhy.analyzers.license.model import ClauseTag, Location
from seewhy.analyzers.license.normalize import Doc
from seewhy.report.humanize import ELLIPSIS, clip

__all__ = ["QUOTE_MAX", "tag_text"]

QUOTE_MAX = 300
MAX_LEAD_INS = 5
LEAD_IN_REACH = 40  # sentences walked back to find a list's lead-in


def tag_text(
    doc: Doc,
    kb: KnowledgeBase,
    *,
    path: str,
    start: int = 0,
    end: int | None = None,
    line_offset: int = 0,
    pointer: str | None = None,
) -> tuple[ClauseTag, ...]:
    """Tags of tokens ``start``..``end`` of ``doc``; lines shifted by ``line_offset``."""
    end = len(doc) if end is None else end
    if start >= end:
        return ()
    lo, hi = doc.jspan(start, end)
    found: list[tuple[int, ClauseTag]] = []
    for spec in kb.clauses:
        hit = _first_hit(spec, doc, lo, hi)
        if hit is None:
            continue
        t0, t1 = hit
        found.append((t0, _tag(spec, doc, t0, t1, path, line_offset, pointer)))
    return tuple(tag for _, tag in sorted(found, key=lambda pair: pair[0]))


def _first_hit(spec: ClauseSpec, doc: Doc, lo: int, hi: int) -> tuple[int, int] | None:
    """The first valid match of the first rule (in data order) that has one."""
    for rule in spec.rules:
        for m in rule.match.finditer(doc.joined, lo, hi):
            t0 = doc.token_at(m.start() + (doc.joined[m.start()] == " "))
            if _context_ok(rule, doc, t0):
                return t0, max(t0 + 1, doc.token_at(max(m.start(), m.end() - 1)) + 1)
    return None


_FILLER = re.compile(r"\b(?:(?:including )?but not limited to|not limited to|whether or not)\b")


def _context_ok(rule: ClauseRule, doc: Doc, t: int) -> bool:
    if not rule.before and not rule.not_before:
        return True
    # Legal filler says "not" without negating anything.
    context = _FILLER.sub(" ", _context(doc, t, rule.window))
    return all(p.search(context) for p in rule.before) and not any(
        p.search(context) for p in rule.not_before
    )


def _context(doc: Doc, t: int, window: int) -> str:
    """Words before token ``t``: its sentence, then the lead-ins of the list it is in."""
    index = doc.sent_of[t]
    sentence = doc.sentences[index]
    parts = [_words(doc, max(sentence.start, t - window), t)]
    follows_lead_in = index > 0 and doc.sentences[index - 1].colon
    if sentence.bullet or follows_lead_in:
        levels = 0
        for j in range(index - 1, max(-1, index - 1 - LEAD_IN_REACH), -1):
            prior = doc.sentences[j]
            if not prior.colon:
                continue
            parts.append(_words(doc, max(prior.start, prior.end - window), prior.end))
            levels += 1
            if not prior.bullet or levels >= MAX_LEAD_INS:
                break
    return " " + " ".join(reversed(parts)) + " "


def _words(doc: Doc, a: int, b: int) -> str:
    if a >= b:
        return ""
    lo, hi = doc.jspan(a, b)
    return doc.joined[lo:hi].strip()


def _tag(
    spec: ClauseSpec,
    doc: Doc,
    t0: int,
    t1: int,
    path: str,
    line_offset: int,
    pointer: str | None,
) -> ClauseTag:
    sentence = doc.sentences[doc.sent_of[t0]]
    a, b = sentence.start, max(sentence.end, t1)
    quote = doc.text(a, b)
    if len(quote) > QUOTE_MAX:
        # Around the match; an ellipsis wherever the sentence goes on (clip adds the last one).
        a, b = max(sentence.start, t0 - 20), min(b, t1 + 25)
        lead = ELLIPSIS if a > sentence.start else ""
        quote = clip(doc.text(a, b), QUOTE_MAX - len(lead) - 1)
        if b < sentence.end and not quote.endswith(ELLIPSIS):
            quote += ELLIPSIS
        quote = lead + quote
    first, last = doc.lines_of(a, b)
    return ClauseTag(
        tag=spec.tag,
        quote=quote,
        location=Location(
            path=path, line=first + line_offset, end_line=last + line_offset, pointer=pointer
        ),
        osd_conflict=spec.osd_conflict,
    )
