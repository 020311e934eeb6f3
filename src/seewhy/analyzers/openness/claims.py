"""Find where a model card (or a GGUF name) calls the release open source.

Only text a reader sees counts: fenced code blocks, inline code, HTML
comments and tags, URLs, e-mail addresses and image (badge) alt text are
masked before matching, and a negated phrase ("not open source") is no
claim. The phrases and negations are data (``data/openness/claims.yaml``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import islice

from seewhy.analyzers.openness import tables
from seewhy.analyzers.openness.snapshot import CardText

QUOTE_MAX = 200
MAX_CLAIMS = 50
MAX_CANDIDATES = 500  # phrases examined per card, negated ones included
_NEGATION_WINDOW = 40
_CONTEXT = 200  # characters before a phrase searched for the start of its sentence
_WINDOW = 300  # characters of the line on each side of a phrase that are read
_MAX_HITS_PER_LINE = 50

# Parts of a Markdown line a reader does not see as prose, masked in this order.
_MASKS = (
    re.compile(r"<!--.{0,500}?-->"),
    re.compile(r"!\[[^\]]{0,500}\](?:\([^)]{0,500}\)|\[[^\]]{0,500}\])"),  # images, badges
    re.compile(r"<img\b[^>]{0,500}>", re.IGNORECASE),
    re.compile(r"</?[A-Za-z][^>]{0,500}>"),  # other HTML tags (their text stays)
    re.compile(r"`[^`]{0,500}`"),  # inline code
    re.compile(r"\]\([^)]{0,500}\)"),  # link targets (the link text stays)
    re.compile(r"^\s*\[[^\]]{1,500}\]:\s*\S+.*$"),  # reference-style link definitions
    re.compile(r"(?:https?|ftp)://\S+|\bwww\.\S+", re.IGNORECASE),
    re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,255}(?:\.[\w-]{1,63}){1,10}"),  # e-mail
)
_SENTENCE_END = re.compile(r"[.!?;。！？；]\s")


@dataclass(frozen=True)
class Claim:
    """One place where the release is called open source."""

    path: str
    phrase: str  # the words that matched, as written
    quote: str  # the sentence around them
    line: int | None = None
    offset: int | None = None  # byte offset (GGUF metadata)
    pointer: str | None = None  # "front matter", or the GGUF key


def _mask(line: str) -> str:
    """``line`` with everything a reader does not see as prose replaced by spaces."""
    for pattern in _MASKS:
        line = pattern.sub(lambda m: " " * len(m.group(0)), line)
    return line


def _negated(prefix: str) -> bool:
    """Whether the text just before a phrase negates it (same sentence only)."""
    cut = [m.end() for m in _SENTENCE_END.finditer(prefix)]
    if cut:
        prefix = prefix[cut[-1] :]
    prefix = prefix[-_NEGATION_WINDOW:]
    return any(n.search(prefix) for n in tables.claims().negations)


def _quote(line: str, start: int, end: int) -> str:
    """The sentence of ``line`` that holds ``line[start:end]``, whitespace collapsed."""
    begin = 0
    for m in _SENTENCE_END.finditer(line, 0, start):
        begin = m.end()
    after = _SENTENCE_END.search(line, end)
    stop = after.start() + 1 if after else len(line)
    text = " ".join(line[begin:stop].split()).lstrip("#>*-| ").strip()
    if len(text) > QUOTE_MAX:
        center = max(0, min(len(text) - QUOTE_MAX, text.lower().find(line[start:end].lower()) - 60))
        text = ("…" if center else "") + text[center : center + QUOTE_MAX - 2].strip() + "…"
    return text


def _first_claim(masked: str, before: str) -> re.Match[str] | None:
    """The first phrase in ``masked`` that is not negated (``before``: the previous line)."""
    for m in islice(tables.claims().any.finditer(masked), _MAX_HITS_PER_LINE):
        context = masked[max(0, m.start() - _CONTEXT) : m.start()]
        if m.start() < _CONTEXT:
            context = before[-_CONTEXT:] + " " + context
        if not _negated(context):
            return m
    return None


def card_claims(card: CardText, limit: int = MAX_CLAIMS) -> tuple[Claim, ...]:
    """The lines of a card that call the release open source (one claim per line).

    Front-matter lines are read as plain text (``extra_gated_prompt`` is
    shown to users), body lines as Markdown: fenced code blocks and HTML
    comments are skipped, the rest is masked (:func:`_mask`). Each phrase
    is judged within :data:`_WINDOW` characters of its line, so a hostile
    card costs time in proportion to its size.
    """
    found: list[Claim] = []
    claimed: set[int] = set()
    body = card.body_start
    for m in islice(tables.claims().any.finditer(card.text), MAX_CANDIDATES):
        number = card.line_at(m.start())
        if number in claimed or (number >= body and card.in_code(number)):
            continue
        start = card.starts[number - 1]
        line = card.lines[number - 1]
        lo = max(0, m.start() - start - _WINDOW)
        segment = line[lo : m.end() - start + _WINDOW].rstrip("\r")
        if number >= body:
            for a, b in card.comments_between(start + lo, start + lo + len(segment)):
                segment = segment[: a - start - lo] + " " * (b - a) + segment[b - start - lo :]
        before = ""
        if lo == 0 and number > 1 and not (number - 1 >= body and card.in_code(number - 1)):
            before = _mask(card.lines[number - 2][-_CONTEXT:])
        hit = _first_claim(_mask(segment), before)
        if hit is None:
            continue
        claimed.add(number)
        found.append(
            Claim(
                path=card.path,
                phrase=segment[hit.start() : hit.end()],
                quote=_quote(segment, hit.start(), hit.end()),
                line=number,
                pointer=None if number >= body else "front matter",
            )
        )
        if len(found) >= limit:
            break
    return tuple(found)


def text_claim(
    path: str, text: str, *, pointer: str | None = None, offset: int | None = None
) -> Claim | None:
    """The claim in a short text such as a GGUF ``general.name``, if it makes one."""
    masked = _mask(text)
    hit = _first_claim(masked, "")
    if hit is None:
        return None
    return Claim(
        path=path,
        phrase=text[hit.start() : hit.end()],
        quote=" ".join(text.split())[:QUOTE_MAX],
        offset=offset,
        pointer=pointer,
    )
