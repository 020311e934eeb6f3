"""Find where a model card (or a GGUF name) says "open source", and whether it means itself.

Only text a reader sees counts: fenced code blocks, inline code, HTML
comments and tags, URLs, e-mail addresses and image (badge) alt text are
masked before matching, and a negated phrase ("not open source") is no
claim. Each phrase is then read in its sentence (:func:`classify`): a
*self-claim* says that this release is open source ("we open-source
DeepSeek-R1", "the world's top open-source LLM"); a *mention* speaks of
something else (other open-source models it outperforms, open-source
datasets, tools, communities, licenses). Open-washing is judged on
self-claims only. The phrases, negations and word lists are data
(``data/openness/claims.yaml``).
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
    self_claim: bool = True
    """True when the phrase says this release is open source; False for a mention."""
    reading: str = ""
    """Why it was read so ("a singular model noun: 'LLM'", "compared with others: 'outperform'")."""


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


def _first_claim(
    masked: str, before: str, names: tuple[str, ...] = ()
) -> tuple[re.Match[str], bool, str] | None:
    """The first self-claim in ``masked``, else its first mention (not negated phrases).

    ``before`` is the previous line; ``names`` are this release's names.
    Returns the phrase, whether it is a self-claim and why.
    """
    mention: tuple[re.Match[str], bool, str] | None = None
    for m in islice(tables.claims().any.finditer(masked), _MAX_HITS_PER_LINE):
        context = masked[max(0, m.start() - _CONTEXT) : m.start()]
        if m.start() < _CONTEXT:
            context = before[-_CONTEXT:] + " " + context
        if _negated(context):
            continue
        sentence_start = _sentence_start(context)
        after = masked[m.end() : m.end() + _CONTEXT]
        own, why = classify(context[sentence_start:], m.group(0), after, names)
        if own:
            return m, True, why
        if mention is None:
            mention = (m, False, why)
    return mention


def _sentence_start(prefix: str) -> int:
    cut = [m.end() for m in _SENTENCE_END.finditer(prefix)]
    return cut[-1] if cut else 0


_PHRASE_END = re.compile(r"[,;:!?()\[\]|\n]|\.(?:\s|$)")
_TOKEN = re.compile(r"[#]?[^\W_][\w'’.%+-]*|[#]\d+")
_NAME_LIKE = re.compile(r"(?=.*\d)(?=.*[A-Za-z])|[a-z][A-Z]|[A-Z].*-")


def _tokens(text: str) -> list[str]:
    out = []
    for token in _TOKEN.findall(text):
        token = token.rstrip(".'’-")
        token = token.removesuffix("'s").removesuffix("’s")
        if token:
            out.append(token)
    return out


def _head(words: list[str], names: tuple[str, ...]) -> tuple[str, str] | None:
    """The head of a noun phrase: ``(kind, word)``, kind in model/models/name/other."""
    t = tables.claims()
    for word in reversed(words):
        low = word.lower()
        if low in t.model_nouns:
            return "model", word
        if low in t.plural_model_nouns:
            return "models", word
    if not words:
        return None
    last = words[-1]
    low_names = {n.lower() for n in names}
    if last.lower() in low_names or any(last.lower() in n for n in low_names if len(last) > 3):
        return "name", last
    if _NAME_LIKE.search(last) and last[:1].isupper():
        return "name", last
    return "other", last


def classify(before: str, phrase: str, after: str, names: tuple[str, ...] = ()) -> tuple[bool, str]:
    """Whether "open source" in a sentence says this release is open source, and why.

    ``before`` is the sentence up to the phrase, ``after`` the text after it,
    ``names`` this release's names (card title, model name, repository).
    """
    t = tables.claims()
    if "开源" in phrase:
        sentence = before + phrase + after[:40]
        if any(p.search(sentence) for p in t.chinese_self):
            return True, "a Chinese release statement"
        return False, "Chinese text that does not say this release is open-sourced"
    if re.search(r"fully[-_\s]open", phrase, re.IGNORECASE):
        before = before + " open source"  # read "fully open" as its own predicate
    words_before = _tokens(before)
    low_before = [w.lower() for w in words_before]
    clause = _tokens(re.split(r"[,;:]", before)[-1])
    window = " ".join(w.lower() for w in clause[-t.cue_window :])
    for cue in t.comparison_cues:
        hit = cue.search(window)
        if hit:
            return False, f"compared with others: {hit.group(0)!r}"
    phrase_words: list[str] = []
    for word in _tokens(_PHRASE_END.split(after, 1)[0])[:5]:
        if word.lower() in t.stops:
            break
        phrase_words.append(word)
    previous = low_before[-1] if low_before else ""
    owned = bool(set(low_before[-3:]) & t.owners)
    verb = phrase.lower().endswith(("sourced", "sourcing")) or previous in t.verb_leads
    head = _head(phrase_words, names)
    if head is not None:
        kind, word = head
        if kind in ("model", "name"):
            return True, f"names this model: {word!r}" if kind == "name" else f"a model: {word!r}"
        if kind == "models" and (owned or (verb and previous not in t.linking_verbs)):
            return True, f"our own {word!r}"
        if not verb or kind == "models":
            return False, f"about {word!r}, not this release"
        if previous not in ("we", "i", "they", "has", "have", "had", "will", "to"):
            return False, f"about {word!r}, not this release"
        return True, f"we open-source {word!r}"
    # A verb or predicate with no object: the subject decides.
    subject = _subject(low_before)
    if subject is not None and subject not in t.model_nouns and not _is_self_subject(subject):
        return False, f"said of {subject!r}"
    return True, "this release is open source" if subject is None else f"said of {subject!r}"


_SELF_SUBJECTS = frozenset({"it", "we", "i", "they", "model", "everything", "all", "this"})


def _is_self_subject(word: str) -> bool:
    return word in _SELF_SUBJECTS or bool(_NAME_LIKE.search(word))


def _subject(low_before: list[str]) -> str | None:
    """The last word before the sentence's linking verb ("our tools are open sourced")."""
    t = tables.claims()
    for i in range(len(low_before) - 1, 0, -1):
        if low_before[i] in t.linking_verbs:
            return low_before[i - 1]
    return None


def card_claims(
    card: CardText, limit: int = MAX_CLAIMS, names: tuple[str, ...] = ()
) -> tuple[Claim, ...]:
    """The lines of a card that say "open source" (one per line), self-claims marked.

    A line's self-claim is kept in preference to a mention on the same line;
    ``names`` are the release's names (card title, model name, repository),
    which help tell "the open-source <name>" from other models.

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
        first = _first_claim(_mask(segment), before, names)
        if first is None:
            continue
        hit, own, why = first
        claimed.add(number)
        found.append(
            Claim(
                path=card.path,
                phrase=segment[hit.start() : hit.end()],
                quote=_quote(segment, hit.start(), hit.end()),
                line=number,
                pointer=None if number >= body else "front matter",
                self_claim=own,
                reading=why,
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
    first = _first_claim(masked, "")
    if first is None:
        return None
    hit = first[0]
    # A name that says "open source" names this release as open source.
    return Claim(
        path=path,
        phrase=text[hit.start() : hit.end()],
        quote=" ".join(text.split())[:QUOTE_MAX],
        offset=offset,
        pointer=pointer,
        reading="the release's own name",
    )
