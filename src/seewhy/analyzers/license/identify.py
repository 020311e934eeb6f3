"""Every place a release states its license, identified.

:func:`release_licenses` reads license files (``LICENSE*``, ``COPYING``,
``NOTICE``, ``USE_POLICY*`` and other files of kind license), the model card
(``license``, ``license_name``, ``license_link``, a license pasted into
``extra_gated_prompt``, ``extra_gated_eu_disallowed``, sentences in the body)
and GGUF ``general.license*`` metadata, and returns a
:class:`~seewhy.analyzers.license.model.ReleaseLicenses`. It is pure and
memoised in ``AuditContext.cache``. :func:`identify_text` identifies one text
(the ``seewhy license FILE`` command).

Nothing is guessed: a text no entry matches is reported with
``license_id=None`` and its nearest known texts.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import PurePosixPath

from seewhy.analyzers.interface import MAX_CARD_BYTES, AuditContext, parsed_card
from seewhy.analyzers.license.kb import Entry, KnowledgeBase, load_kb
from seewhy.analyzers.license.model import (
    ClauseTag,
    DocKind,
    LicenseMatch,
    LicenseReference,
    Location,
    MatchSource,
    Modification,
    ReleaseLicenses,
    Scope,
    TextChange,
    VersionEvidence,
)
from seewhy.analyzers.license.normalize import Doc, decode, make_doc, phrase
from seewhy.analyzers.license.tags import tag_text
from seewhy.analyzers.license.textmatch import (
    Diff,
    Identified,
    RawVersion,
    find_mentions,
    find_urls,
    identify_doc,
)
from seewhy.analyzers.license.textmatch import url_entry as _url_entry
from seewhy.errors import FormatError, ReleaseReadError
from seewhy.formats.gguf import GgufInfo, parse_gguf
from seewhy.formats.modelcard import ModelCard
from seewhy.release.model import FileKind, Release, ReleaseFile
from seewhy.report.humanize import clip

__all__ = [
    "CACHE_KEY",
    "MAX_CARD_BYTES",
    "MAX_LICENSE_BYTES",
    "identify_bytes",
    "identify_text",
    "identify_texts",
    "release_licenses",
    "statement_scope",
]

MAX_LICENSE_BYTES = 1024 * 1024  # real license texts are under 100 KB
MAX_TEXT_CHARS = 1024 * 1024
CACHE_KEY = ("license", "release")
EXCERPT_MAX = 200
GATED_PROMPT_MIN_TOKENS = 300  # an unidentified gated prompt this long is reported as unknown
PASTED_MIN_TOKENS = 120  # a license text pasted into a card body is at least this long
PASTED_MIN_HITS = 2  # and holds at least this many of its license's distinctive phrases
MAX_REFERENCES = 8

_LICENSE_NAME = re.compile(
    r"^(licen[cs]e|copying|notice|use[_-]?policy|acceptable[_-]use|terms|"
    r"[\w.-]*[_-](licen[cs]e|terms|use[_-]?policy))",
    re.IGNORECASE,
)
_CARD_NAME = re.compile(r"^readme", re.IGNORECASE)


# ------------------------------------------------------------------ texts


def identify_text(text: str, path: str, *, kb: KnowledgeBase | None = None) -> LicenseMatch:
    """Identify one license text: the first document it holds (see :func:`identify_texts`)."""
    return identify_texts(text, path, kb=kb)[0]


def identify_texts(
    text: str,
    path: str,
    *,
    kb: KnowledgeBase | None = None,
    source: MatchSource = "text",
    line_offset: int = 0,
    pointer: str | None = None,
    truncated: bool = False,
    note: str | None = None,
) -> tuple[LicenseMatch, ...]:
    """Every document in ``text`` (a LICENSE may hold a license and its use policy).

    ``line_offset`` shifts the reported lines (a text that starts inside a
    larger file); HTML (by extension or doctype) is reduced to its text.
    """
    kb = kb or load_kb()
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS]
        truncated = True
        note = _join(note, f"only the first {MAX_TEXT_CHARS:,} characters were read")
    doc = make_doc(text, path)
    return tuple(
        _to_match(doc, kb, part, path, source, line_offset, pointer, truncated, note)
        for part in identify_doc(doc, kb)
    )


def identify_bytes(
    data: bytes, path: str, *, kb: KnowledgeBase | None = None, truncated: bool = False
) -> tuple[LicenseMatch, ...]:
    """Identify a license file's bytes: decoded leniently, binary refused, never raising."""
    decoded = decode(data)
    if decoded.text is None:
        empty = decoded.note == "empty file"
        return (_unknown(path, "text", decoded.note, truncated=truncated, states=not empty),)
    note = decoded.note
    if truncated:
        note = _join(note, f"only the first {len(data):,} bytes were read")
    return identify_texts(decoded.text, path, kb=kb, truncated=truncated, note=note)


def _to_match(
    doc: Doc,
    kb: KnowledgeBase,
    part: Identified,
    path: str,
    source: MatchSource,
    line_offset: int,
    pointer: str | None,
    truncated: bool,
    note: str | None,
) -> LicenseMatch:
    tags = tag_text(
        doc,
        kb,
        path=path,
        start=part.start,
        end=part.end,
        line_offset=line_offset,
        pointer=pointer,
    )
    location = Location(path=path, pointer=pointer)
    excerpt = None
    if doc.toks:
        first, last = doc.lines_of(*part.evidence)
        location = Location(path, first + line_offset, last + line_offset, pointer)
        excerpt = _clip(doc.text(*part.evidence))
    entry = part.entry
    if entry is not None and part.modification is not None:
        return _modified_match(
            doc, kb, part, part.modification, source, location, excerpt, tags, pointer,
            path, line_offset, truncated, note,
        )  # fmt: skip
    if entry is None:
        return LicenseMatch(
            license_id=None,
            name=None,
            family=None,
            version=None,
            kind=_unknown_kind(doc, kb, part.start),
            osi_approved=None,
            fsf_libre=None,
            confidence=0.0,
            source=source,
            location=location,
            excerpt=excerpt,
            tags=tags,
            nearest=part.nearest,
            truncated=truncated,
            note=_join(note, part.note),
        )
    evidence = _version_evidence(doc, part.versions, path, line_offset, pointer)
    conflict = _version_conflict(part, evidence) if part.version_conflict else None
    match = _entry_match(
        entry,
        source,
        location,
        excerpt,
        part.confidence,
        version=part.version,
        tags=tags,
        truncated=truncated,
        note=_join(note, part.note, conflict),
    )
    return replace(match, version_evidence=evidence, version_conflict=conflict)


def _loc(doc: Doc, a: int, b: int, path: str, line_offset: int, pointer: str | None) -> Location:
    first, last = doc.lines_of(a, b)
    return Location(path, first + line_offset, last + line_offset, pointer)


def _version_evidence(
    doc: Doc,
    readings: tuple[RawVersion, ...],
    path: str,
    line_offset: int,
    pointer: str | None,
) -> tuple[VersionEvidence, ...]:
    out: list[VersionEvidence] = []
    for r in readings:
        quote = doc.text(r.start, r.end) if r.basis != "date" else f"{r.date}"
        if r.basis == "date":
            sentence = doc.sentences[doc.sent_of[min(r.start, len(doc) - 1)]]
            quote = _clip(doc.text(sentence.start, sentence.end), 120) or quote
        out.append(
            VersionEvidence(
                basis=r.basis,
                versions=tuple(e.version or e.id for e in r.entries),
                quote=quote,
                location=_loc(doc, r.start, r.end, path, line_offset, pointer),
            )
        )
    return tuple(out)


_BASIS_WORDS = {
    "sections": "its wording (sections and links)",
    "date": "its date line",
    "label": "the name it gives itself",
}


def _version_conflict(part: Identified, evidence: tuple[VersionEvidence, ...]) -> str:
    """'the name it gives itself (line 1) says 3.3, but its wording … says 3.1: …'."""
    chosen = part.entry.version if part.entry else None
    agree = [e for e in evidence if chosen in e.versions]
    disagree = [e for e in evidence if chosen not in e.versions]

    def say(e: VersionEvidence) -> str:
        where = f"line {e.location.line}" if e.location.line else e.location.path
        says = " or ".join(e.versions)
        return f"{_BASIS_WORDS[e.basis]} (“{clip(e.quote, 60)}”, {where}) says {says}"

    text = "; ".join(say(e) for e in disagree)
    if agree:
        text += ", but " + " and ".join(say(e) for e in agree)
    return (
        f"version evidence disagrees: {text}; reported as version {chosen}: the text was "
        "relabelled or edited"
    )


def _modified_id(base_id: str) -> str:
    return f"LicenseRef-{base_id.removeprefix('LicenseRef-')}-modified"


MAX_CHANGES = 20


def _modified_match(
    doc: Doc,
    kb: KnowledgeBase,
    part: Identified,
    diff: Diff,
    source: MatchSource,
    location: Location,
    excerpt: str | None,
    tags: tuple[ClauseTag, ...],
    pointer: str | None,
    path: str,
    line_offset: int,
    truncated: bool,
    note: str | None,
) -> LicenseMatch:
    """A known license whose text was changed: quoted change by change, never OSI-approved."""
    entry = diff.entry
    restrictive = {c.tag for c in kb.clauses if c.osd_conflict}
    changes: list[TextChange] = []
    added_tags: list[ClauseTag] = []
    for c in diff.changes:
        if c.op == "added":
            ctags = tag_text(
                doc, kb, path=path, start=c.start, end=c.end, line_offset=line_offset,
                pointer=pointer,
            )  # fmt: skip
            added_tags.extend(ctags)
            loc = _loc(doc, c.start, c.end, path, line_offset, pointer)
        else:
            ctags = ()
            loc = _loc(doc, c.start, c.start + 1, path, line_offset, pointer)
        text, words = _clip(c.text, 400) or "", _clip(c.words, 200) or ""
        changes.append(TextChange(c.op, text, words, loc, ctags))
    found_tags = {t.tag for t in added_tags}
    addons = list(diff.addons)
    for addon in kb.addons:
        if addon not in addons and found_tags & set(addon.tags):
            addons.append(addon)
    named = any(a.restricts and a.phrases for a in diff.addons)
    restricts = bool(found_tags & restrictive) or named
    names = tuple(a.name for a in addons)
    n_add = sum(1 for c in changes if c.op == "added")
    n_del = len(changes) - n_add
    what = [f"{n_add} sentence{'s' if n_add != 1 else ''} added"] if n_add else []
    if n_del:
        what.append(f"{n_del} removed")
    how = (
        "the added terms restrict use (" + ", ".join(sorted(found_tags & restrictive)) + ")"
        if found_tags & restrictive
        else "the added terms restrict use" if restricts
        else "no added clause was recognised as a restriction: read the changes"
    )  # fmt: skip
    mod_note = (
        f"the {entry.name} text with {' and '.join(what)}"
        + (f" ({'; '.join(names)})" if names else "")
        + f": a modified license, not the {entry.name}; {how}"
    )
    name = f"{entry.name}, modified" + (f" ({'; '.join(names)})" if names else "")
    # Every tag counts, and those of the additions first: the title line's are too.
    all_tags = tuple(dict.fromkeys((*added_tags, *tags)))
    modification = Modification(
        base_id=entry.id,
        base_name=entry.name,
        changes=tuple(changes[:MAX_CHANGES]),
        addons=names,
        restricts=restricts,
        similarity=diff.similarity,
        more_changes=max(0, len(changes) - MAX_CHANGES),
    )
    return LicenseMatch(
        license_id=_modified_id(entry.id),
        name=name,
        family=entry.family,
        version=part.version,
        kind=entry.kind,
        osi_approved=False,
        fsf_libre=None,
        confidence=part.confidence,
        source=source,
        location=location,
        excerpt=excerpt,
        tags=all_tags,
        nearest=((entry.id, diff.similarity),) if diff.similarity else (),
        truncated=truncated,
        note=_join(note, mod_note),
        modification=modification,
    )


def _unknown_kind(doc: Doc, kb: KnowledgeBase, start: int) -> DocKind:
    """An unidentified text that calls itself a use policy is one."""
    opening = " " + " ".join(doc.toks[start : start + 40]) + " "
    refs = kb.references
    if any(f" {t} " in opening for t in refs.prohibited_policy_titles):
        return "prohibited-use-policy"
    if any(f" {t} " in opening for t in refs.policy_titles):
        return "use-policy"
    return "license"


def _entry_match(
    entry: Entry,
    source: MatchSource,
    location: Location,
    excerpt: str | None,
    confidence: float,
    *,
    version: str | None = None,
    tags: tuple[ClauseTag, ...] = (),
    truncated: bool = False,
    note: str | None = None,
) -> LicenseMatch:
    return LicenseMatch(
        license_id=entry.id,
        name=entry.name,
        family=entry.family,
        version=version if version is not None else entry.version,
        kind=entry.kind,
        osi_approved=entry.osi_approved,
        fsf_libre=entry.fsf_libre,
        confidence=confidence,
        source=source,
        location=location,
        excerpt=excerpt,
        tags=tags,
        truncated=truncated,
        note=note,
    )


def _unknown(
    path: str,
    source: MatchSource,
    note: str | None,
    *,
    location: Location | None = None,
    excerpt: str | None = None,
    truncated: bool = False,
    states: bool = True,
) -> LicenseMatch:
    return LicenseMatch(
        license_id=None,
        name=None,
        family=None,
        version=None,
        kind="license",
        osi_approved=None,
        fsf_libre=None,
        confidence=0.0,
        source=source,
        location=location or Location(path=path),
        excerpt=excerpt,
        truncated=truncated,
        note=note,
        states_license=states,
    )


def _join(*notes: str | None) -> str | None:
    kept = [n for n in notes if n]
    return "; ".join(kept) if kept else None


def _clip(text: str | None, limit: int = EXCERPT_MAX) -> str | None:
    return None if text is None else clip(text, limit)


# ---------------------------------------------------------------- release


def release_licenses(release: Release, ctx: AuditContext) -> ReleaseLicenses:
    """Every license statement of ``release`` (memoised in ``ctx.cache``)."""
    cached = ctx.cache.get(CACHE_KEY)
    if isinstance(cached, ReleaseLicenses):
        return cached
    kb = load_kb()
    matches: list[LicenseMatch] = []
    by_path: dict[str, tuple[LicenseMatch, ...]] = {}
    for file in _license_files(release):
        found = _file_matches(release, file, kb)
        by_path[file.path] = found
        matches.extend(found)
    base_models: list[str] = []
    references: list[LicenseReference] = []
    card = _root_card(release)
    if card is not None:
        parsed, raw = _read_card(release, card, ctx)
        if parsed is not None:
            matches.extend(_card_matches(release, parsed, raw, kb, by_path))
            base_models.extend(parsed.base_model)
            scoped, file_scopes = _scoped_statements(release, parsed, kb)
            references.extend(_with_scopes(_references(release, parsed, kb), scoped))
            matches = [
                replace(m, scope=file_scopes[m.location.path])
                if m.source == "text" and m.location.path in file_scopes
                else m
                for m in matches
            ]
            link = next(
                (m for m in matches if m.source == "card-license-link" and not m.states_license),
                None,
            )
            if link is not None and parsed.license_link:
                references.insert(
                    0, LicenseReference(parsed.license_link.strip(), link.location, link.excerpt)
                )
    matches.extend(_gguf_matches(release, ctx, kb))
    result = ReleaseLicenses(
        tuple(_dedupe(matches)),
        tuple(dict.fromkeys(base_models)),
        tuple(dict.fromkeys(references)),
        _gguf_bases(release, ctx),
    )
    ctx.cache[CACHE_KEY] = result
    return result


def _dedupe(matches: list[LicenseMatch]) -> list[LicenseMatch]:
    seen: set[tuple[str, str | None, str, str | None]] = set()
    out: list[LicenseMatch] = []
    for m in matches:
        key = (m.source, m.license_id, m.location.path, m.excerpt if m.license_id is None else None)
        if m.source in ("text", "card-gated-prompt"):
            key = (m.source, m.license_id, m.location.path, str(m.location.line))
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out


def _license_files(release: Release) -> list[ReleaseFile]:
    files = [
        f
        for f in release.files
        if f.kind is FileKind.LICENSE
        or (
            _LICENSE_NAME.match(PurePosixPath(f.path).name)
            and not f.kind.is_weights
            and f.kind not in (FileKind.MODEL_CARD, FileKind.CONFIG, FileKind.TOKENIZER)
        )
    ]
    return sorted(files, key=lambda f: (f.path.count("/"), f.path))


def _file_matches(
    release: Release, file: ReleaseFile, kb: KnowledgeBase
) -> tuple[LicenseMatch, ...]:
    if file.kind is FileKind.UNREADABLE:
        return (_unknown(file.path, "text", "the file could not be read"),)
    try:
        data = release.read_head(file, MAX_LICENSE_BYTES)
    except ReleaseReadError as exc:
        return (_unknown(file.path, "text", f"the file could not be read: {exc.reason}"),)
    return identify_bytes(data, file.path, kb=kb, truncated=file.size > MAX_LICENSE_BYTES)


def _root_card(release: Release) -> ReleaseFile | None:
    cards = [
        f
        for f in release.files
        if f.kind is FileKind.MODEL_CARD and _CARD_NAME.match(PurePosixPath(f.path).name)
    ]
    return min(cards, key=lambda f: (f.path.count("/"), f.path), default=None)


def _read_card(
    release: Release, file: ReleaseFile, ctx: AuditContext
) -> tuple[ModelCard | None, str]:
    try:
        read = parsed_card(release, file, ctx.cache)
    except ReleaseReadError:
        return None, ""
    return read.card, read.data.decode("utf-8", errors="replace")


# ------------------------------------------------------------------- card


def _card_matches(
    release: Release,
    card: ModelCard,
    raw: str,
    kb: KnowledgeBase,
    by_path: dict[str, tuple[LicenseMatch, ...]],
) -> list[LicenseMatch]:
    path = card.path
    out: list[LicenseMatch] = []
    values = card.licenses or ((card.license,) if card.license else ())
    has_pointer = bool(card.license_name or card.license_link or card.extra_gated_prompt)
    line = card.line_of("license")
    for value in values:
        loc = Location(path, line, line, "license")
        excerpt = f"license: {value}"
        if value.strip().lower() == "other":
            if not has_pointer:
                out.append(
                    _unknown(
                        path,
                        "card-license",
                        "license: other, and no license_name or license_link says which license",
                        location=loc,
                        excerpt=excerpt,
                        states=False,
                    )
                )
            continue
        entry = kb.lookup(value)
        if entry is None:
            note = (
                "the card declares the license unknown"
                if value.strip().lower() == "unknown"
                else f"{value!r} is not a Hub license id or a known license name"
            )
            declared_unknown = value.strip().lower() == "unknown"
            out.append(
                _unknown(
                    path,
                    "card-license",
                    note,
                    location=loc,
                    excerpt=excerpt,
                    states=not declared_unknown,
                )
            )
        else:
            out.append(_entry_match(entry, "card-license", loc, excerpt, 0.95))
    if card.license_name:
        line = card.line_of("license_name")
        loc = Location(path, line, line, "license_name")
        excerpt = f"license_name: {card.license_name}"
        entry = kb.lookup(card.license_name)
        out.append(
            _entry_match(entry, "card-license-name", loc, excerpt, 0.9)
            if entry is not None
            else _unknown(
                path,
                "card-license-name",
                f"{card.license_name!r} is not a known license name",
                location=loc,
                excerpt=excerpt,
            )
        )
    if card.license_link:
        out.append(_link_match(release, card, kb, by_path))
    out.extend(_gated_prompt(card, raw, kb))
    out.extend(_body_matches(card, kb))
    out.extend(_pasted_texts(card, kb))
    if card.extra_gated_eu_disallowed:
        out = _eu_gate(card, kb, out)
    return out


def _link_match(
    release: Release,
    card: ModelCard,
    kb: KnowledgeBase,
    by_path: dict[str, tuple[LicenseMatch, ...]],
) -> LicenseMatch:
    link = (card.license_link or "").strip()
    line = card.line_of("license_link")
    loc = Location(card.path, line, line, "license_link")
    excerpt = f"license_link: {link}"
    if not re.match(r"(?i)^([a-z][a-z0-9+.-]*:|//|www\.)", link):
        target = posixpath.normpath(str(PurePosixPath(card.path).parent / link))
        found = by_path.get(target) or next(
            (v for k, v in by_path.items() if k.lower() == target.lower()), None
        )
        if release.file(target) is None and found is None:
            return _unknown(
                card.path,
                "card-license-link",
                f"links to {link}, which is not in the release",
                location=loc,
                excerpt=excerpt,
                states=False,
            )
        known = next((m for m in found or () if m.license_id), None)
        if known is None:
            return _unknown(
                card.path,
                "card-license-link",
                f"links to {link}, whose text is not identified",
                location=loc,
                excerpt=excerpt,
            )
        return replace(
            known,
            source="card-license-link",
            location=loc,
            excerpt=excerpt,
            tags=(),
            confidence=min(known.confidence, 0.9),
            note=f"links to {target} in the release",
            truncated=False,
            nearest=(),
        )
    resolved = _url_entry(kb, link)
    if resolved is None:
        return _unknown(
            card.path,
            "card-license-link",
            "the link is not a known license URL",
            location=loc,
            excerpt=excerpt,
        )
    entry, how = resolved
    note = None if how == "url" else "license inferred from the linked repository's model family"
    return _entry_match(
        entry, "card-license-link", loc, excerpt, 0.9 if how == "url" else 0.6, note=note
    )


def _gated_prompt(card: ModelCard, raw: str, kb: KnowledgeBase) -> list[LicenseMatch]:
    prompt = card.extra_gated_prompt
    if not prompt or not prompt.strip():
        return []
    found = identify_texts(
        prompt, card.path, kb=kb, source="card-gated-prompt", pointer="extra_gated_prompt"
    )
    known = [m for m in found if m.license_id and not (m.note or "").startswith("names")]
    if not known and len(make_doc(prompt).toks) >= GATED_PROMPT_MIN_TOKENS:
        known = [found[0]]
    start = max(0, raw.find("extra_gated_prompt"))
    return [_relocated(m, raw, start) for m in known]


def _relocated(m: LicenseMatch, raw: str, start: int) -> LicenseMatch:
    """Lines of a match inside a YAML string, found again in the card's own text.

    YAML folds and re-indents a quoted value, so lines of the parsed string
    are not lines of the card: each quote is searched for in the card instead.
    """

    def where(text: str | None, loc: Location) -> Location:
        span = _find_lines(raw, text or "", start)
        if span is None:
            return replace(loc, line=None, end_line=None)
        return replace(loc, line=span[0], end_line=span[1])

    tags = tuple(replace(t, location=where(t.quote, t.location)) for t in m.tags)
    return replace(m, location=where(m.excerpt, m.location), tags=tags)


def _find_lines(raw: str, quote: str, start: int) -> tuple[int, int] | None:
    """1-based first and last line of ``quote`` in ``raw`` (markup and folding ignored)."""
    words = re.findall(r"\w+", quote)
    if len(words) < 2:
        return None
    head = re.search(r"\W+".join(re.escape(w) for w in words[:8]), raw[start:], re.IGNORECASE)
    if head is None:
        return None
    begin = start + head.start()
    tail = re.search(r"\W+".join(re.escape(w) for w in words[-6:]), raw[begin:], re.IGNORECASE)
    first = raw.count("\n", 0, begin) + 1
    last = raw.count("\n", 0, begin + tail.end()) + 1 if tail else first
    return first, max(first, last)


def _body_matches(card: ModelCard, kb: KnowledgeBase) -> list[LicenseMatch]:
    if not card.body.strip():
        return []
    doc = make_doc(card.body, card.path)
    offset = card.body_start_line - 1
    out: list[LicenseMatch] = []
    seen: set[str] = set()
    for mention in sorted(find_mentions(doc, kb) + find_urls(doc, kb), key=lambda m: m.start):
        sentence = doc.sentences[doc.sent_of[mention.start]]
        scope = statement_scope(doc.text(sentence.start, mention.end))
        if f"{mention.entry.id} {scope}" in seen:
            continue
        seen.add(f"{mention.entry.id} {scope}")
        a, b = sentence.start, max(sentence.end, mention.end)
        first, last = doc.lines_of(a, b)
        loc = Location(card.path, first + offset, last + offset)
        note = "linked from the card" if mention.via == "url" else "named in the card"
        match = _entry_match(
            mention.entry,
            "card-body",
            loc,
            _clip(doc.text(a, b)),
            0.8 if mention.via == "url" else 0.7,
            note=note,
        )
        out.append(replace(match, scope=scope))
    return out


def _pasted_texts(card: ModelCard, kb: KnowledgeBase) -> list[LicenseMatch]:
    """Whole license texts pasted into the card body, identified and their clauses tagged."""
    body = card.body
    if len(body) > MAX_CARD_BYTES or not body.strip():
        return []
    doc = make_doc(body, card.path)
    if len(doc) < PASTED_MIN_TOKENS:
        return []
    offset = card.body_start_line - 1
    out: list[LicenseMatch] = []
    for part in identify_doc(doc, kb, embedded=True):
        if part.entry is None or part.hits < PASTED_MIN_HITS:
            continue
        if part.end - part.start < PASTED_MIN_TOKENS:
            continue
        match = _to_match(doc, kb, part, card.path, "card-body-text", offset, None, False, None)
        out.append(replace(match, note=_join("pasted into the card body", match.note)))
    return out


_MD_LINK_TARGET = re.compile(r"\[([^\[\]\n]{0,200})\]\(\s*<?([^()\s<>]{1,300})>?[^)\n]{0,200}\)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.{1,200}?)\s*#*\s*$")
_SCHEME = re.compile(r"(?i)^([a-z][a-z0-9+.-]*:|//|www\.|#)")


def _references(release: Release, card: ModelCard, kb: KnowledgeBase) -> list[LicenseReference]:
    """Links from the card to license files that are not in the release.

    A link counts when its target is named like a license file (LICENSE,
    LICENSE.md) or when it sits in a license section ("## License Agreement").
    """
    out: list[LicenseReference] = []
    headings = kb.references.headings
    in_section = 0  # heading level of the license section we are in, 0 when none
    offset = card.body_start_line
    base = PurePosixPath(card.path).parent
    for n, line in enumerate(card.body.split("\n")[:20000]):
        head = _HEADING.match(line)
        if head is not None:
            level = len(head.group(1))
            if phrase(head.group(2)) in headings:
                in_section = level
            elif in_section and level <= in_section:
                in_section = 0
            continue
        for link in _MD_LINK_TARGET.finditer(line):
            target = link.group(2).strip()
            if _SCHEME.match(target):
                continue
            name = PurePosixPath(target.split("#", 1)[0]).name
            if not (in_section or _LICENSE_NAME.match(name)):
                continue
            path = posixpath.normpath(str(base / target.split("#", 1)[0]))
            if release.file(path) is not None or any(
                f.path.lower() == path.lower() for f in release.files
            ):
                continue
            out.append(
                LicenseReference(
                    target=target,
                    location=Location(card.path, n + offset, n + offset),
                    excerpt=_clip(line.strip()),
                )
            )
            if len(out) >= MAX_REFERENCES:
                return out
    return out


# ------------------------------------------------------------------- scope

MAX_SCOPE_CHARS = 2000  # a license sentence is read this far
# The verb of a license statement: the words before it are its subject ("This code
# repository is licensed under ...", "The use of the models is subject to ...").
_SCOPE_VERB = re.compile(
    r"\b(?:licen[cs]ed|released|distributed|available|published|provided|offered|covered|"
    r"open[\s-]sourced)"
    r"\s+(?:\w+\s+)?(?:under|by)\b|\bsubject\s+to\b|\bgoverned\s+by\b|\bunder\s+the\s+terms\b|"
    r"\b(?:comply|complies)\s+with\b|\b(?:must|shall|should|needs?\s+to)\s+(?:follow|abide\s+by|"
    r"adhere\s+to)\b|遵循|遵守|遵从|依照|按照|受[^。！？]{0,30}约束|适用",
    re.IGNORECASE,
)
_WEAK_VERB = re.compile(r"\bunder\b", re.IGNORECASE)
_CLAUSE_BREAK = re.compile(r"[;；，,]")
_DOC_SUBJECT = re.compile(
    r"\bmodel\s+cards?\b|\b(?:documentation|docs|paper|report|blog\s+post)\b|文档|论文",
    re.IGNORECASE,
)
_SUBJECT_WORDS: tuple[tuple[Scope, re.Pattern[str]], ...] = (
    ("code", re.compile(r"\b(?:code|codes|codebase|source|scripts?)\b|代码|源码", re.IGNORECASE)),
    (
        "model",
        re.compile(r"\b(?:models?|weights?|checkpoints?|parameters)\b|模型|权重", re.IGNORECASE),
    ),
    ("data", re.compile(r"\b(?:data|datasets?|corpus|corpora)\b|数据", re.IGNORECASE)),
)
# A document named by its part ("the Model License", LICENSE-CODE, a "Code_License" badge).
_OBJECT_WORDS: tuple[tuple[Scope, re.Pattern[str]], ...] = (
    ("code", re.compile(r"\bcode[\s_-]*licen[cs]e|licen[cs]e[\s_-]*code\b", re.IGNORECASE)),
    (
        "model",
        re.compile(
            r"\bmodel[\s_-]*(?:licen[cs]e|agreement)|licen[cs]e[\s_-]*model\b|模型[^。]{0,12}(?:许可|协议)",
            re.IGNORECASE,
        ),
    ),
    ("data", re.compile(r"\bdata(?:set)?[\s_-]*licen[cs]e|licen[cs]e[\s_-]*data\b", re.IGNORECASE)),
)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z\[<*_(\"'])|(?<=[。！？])")
_SCOPE_LINK = re.compile(
    r"\[([^\[\]\n]{0,200})\]\(\s*<?([^()\s<>]{1,300})>?[^)\n]{0,200}\)|"
    r"\bhref\s*=\s*[\"']([^\"'\s>]{1,500})[\"']",
    re.IGNORECASE,
)
_NAMED_DOCUMENT = re.compile(
    r"《([^《》\n]{1,80})》|\bthe\s+((?:[A-Z][\w.-]*\s+){0,6}(?:Licen[cs]e|Agreement|Terms))\b"
)


def _scopes_in(text: str, table: tuple[tuple[Scope, re.Pattern[str]], ...]) -> set[Scope]:
    return {scope for scope, words in table if words.search(text)}


def statement_scope(sentence: str) -> Scope:
    """What a license sentence covers: its subject's words ("This code repository", "the
    models", "模型"), else the document's own name ("the Model License", LICENSE-CODE).

    A sentence that names several parts, or none, covers ``"all"``.
    """
    text = sentence[:MAX_SCOPE_CHARS]
    # The last clause that states a license (a sentence read up to a license name ends there).
    clauses = _clauses(text)
    text = clauses[-1] if clauses else text
    verb = _SCOPE_VERB.search(text) or _WEAK_VERB.search(text)
    subject = text[: verb.start()] if verb is not None else ""
    found: set[Scope] = set()
    if _DOC_SUBJECT.search(subject):
        found.add("documentation")
    found |= _scopes_in(_DOC_SUBJECT.sub(" ", subject), _SUBJECT_WORDS)
    if not found:
        found = _scopes_in(text[verb.end() :] if verb is not None else text, _OBJECT_WORDS)
    return found.pop() if len(found) == 1 else "all"


def _scoped_statements(
    release: Release, card: ModelCard, kb: KnowledgeBase
) -> tuple[list[LicenseReference], dict[str, Scope]]:
    """License sentences of the card body that cover one part of the release.

    Returns the documents the card puts that part under which are not in the release
    (a model-scoped one is the weights' license, referenced, not included) and, for files
    that are in the release, the part each covers (a LICENSE-CODE file is the code's).
    A sentence that also names a known license is left to :func:`_body_matches`.
    """
    refs: list[LicenseReference] = []
    scopes: dict[str, Scope] = {}
    base = PurePosixPath(card.path).parent
    fence = False
    for n, line in enumerate(card.body.split("\n")[:20000]):
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
            continue
        if fence or not _SCOPE_VERB.search(line[:MAX_SCOPE_CHARS]):
            continue
        where = Location(card.path, n + card.body_start_line, n + card.body_start_line)
        for sentence in _clauses(line[:MAX_SCOPE_CHARS]):
            scope = statement_scope(sentence)
            if scope == "all":
                continue
            targets = [
                (m.group(2) or m.group(3) or "").strip() for m in _SCOPE_LINK.finditer(sentence)
            ]
            doc = make_doc(sentence)
            known = bool(find_mentions(doc, kb) or find_urls(doc, kb))  # a card-body match
            for target in targets:
                if not target or target.startswith(("#", "mailto:")):
                    continue
                if not _SCHEME.match(target):
                    path = posixpath.normpath(str(base / target.split("#", 1)[0]))
                    file = release.file(path) or next(
                        (f for f in release.files if f.path.lower() == path.lower()), None
                    )
                    if file is not None:
                        scopes.setdefault(file.path, scope)
                        continue
                elif known:
                    continue  # a known license's URL: identified, scoped, in the body matches
                refs.append(LicenseReference(target, where, _clip(sentence.strip()), scope))
            if scope != "model" or targets or known:
                continue
            named = _NAMED_DOCUMENT.search(sentence)
            if named is not None:
                target = (named.group(1) or named.group(2)).strip()
                refs.append(LicenseReference(target, where, _clip(sentence.strip()), scope))
        if len(refs) >= MAX_REFERENCES:
            break
    return refs[:MAX_REFERENCES], scopes


def _clauses(line: str) -> list[str]:
    """The clauses of a line that state a license, each with the words that lead to it
    ("The code is under [MIT](LICENSE), while the weights follow [X](MODEL_LICENSE)" gives
    two). A clause with no verb of its own joins the one before it."""
    out: list[str] = []
    for sentence in _SENTENCE_BREAK.split(line):
        start, first = 0, len(out)
        for brk in _CLAUSE_BREAK.finditer(sentence):
            part = sentence[start : brk.end()]
            if _SCOPE_VERB.search(part):
                out.append(part.strip())
                start = brk.end()
        rest = sentence[start:]
        if _SCOPE_VERB.search(rest):
            out.append(rest.strip())
        elif len(out) > first and rest.strip():
            out[-1] = f"{out[-1]} {rest.strip()}"
    return out


def _with_scopes(
    references: list[LicenseReference], scoped: list[LicenseReference]
) -> list[LicenseReference]:
    """The card's license links, each with the part its sentence puts under it."""
    by_key = {(r.target, r.location.line): r for r in scoped}
    out = [by_key.pop((r.target, r.location.line), r) for r in references]
    return out + list(by_key.values())


def _eu_gate(card: ModelCard, kb: KnowledgeBase, out: list[LicenseMatch]) -> list[LicenseMatch]:
    line = card.line_of("extra_gated_eu_disallowed")
    spec = next((c for c in kb.clauses if c.tag == "geographic_exclusion"), None)
    tag = ClauseTag(
        tag="geographic_exclusion",
        quote="extra_gated_eu_disallowed: true (the Hub refuses access from the EU)",
        location=Location(card.path, line, line, "extra_gated_eu_disallowed"),
        osd_conflict=spec.osd_conflict if spec else None,
    )
    structured = ("card-license", "card-license-name", "card-license-link")
    for i, m in enumerate(out):
        if m.source in structured:
            out[i] = replace(m, tags=(*m.tags, tag))
            return out
    gate = _unknown(
        card.path,
        "card-license",
        "no license declared; the card's gate excludes the EU",
        location=Location(card.path, line, line, "extra_gated_eu_disallowed"),
        excerpt="extra_gated_eu_disallowed: true",
        states=False,
    )
    return [*out, replace(gate, tags=(tag,))]


# ------------------------------------------------------------------- GGUF

_GGUF_KEYS = ("general.license", "general.license.name", "general.license.link")


def _gguf_info(release: Release, ctx: AuditContext, file: ReleaseFile) -> GgufInfo | None:
    key = ("gguf", file.path)
    cached = ctx.cache.get(key)
    if isinstance(cached, GgufInfo):
        return cached
    try:
        with release.open(file) as src:
            info = parse_gguf(src)
    except (FormatError, ReleaseReadError, ValueError, OverflowError, MemoryError):
        return None  # the inventory analyzer reports why
    ctx.cache[key] = info
    return info


def _gguf_infos(release: Release, ctx: AuditContext) -> Iterator[tuple[ReleaseFile, GgufInfo]]:
    """Each GGUF file of ``release`` whose header parses, with what it says."""
    for file in release.files:
        if file.kind is FileKind.GGUF:
            info = _gguf_info(release, ctx, file)
            if info is not None:
                yield file, info


def _gguf_bases(release: Release, ctx: AuditContext) -> tuple[tuple[str, Location], ...]:
    """The base models the GGUF files name (``general.base_model.N.*``), first mention kept."""
    out: dict[str, tuple[str, Location]] = {}
    for file, info in _gguf_infos(release, ctx):
        for name, key in info.base_models:
            loc = Location(file.path, pointer=key, offset=info.kv_offsets.get(key))
            out.setdefault(name.lower(), (name, loc))
    return tuple(out.values())


def _gguf_matches(release: Release, ctx: AuditContext, kb: KnowledgeBase) -> list[LicenseMatch]:
    out: list[LicenseMatch] = []
    seen: set[tuple[str, str]] = set()
    for file, info in _gguf_infos(release, ctx):
        for key in _GGUF_KEYS:
            value = info.metadata.get(key)
            if not isinstance(value, str) or not value.strip() or (key, value) in seen:
                continue
            seen.add((key, value))
            loc = Location(file.path, pointer=key, offset=info.kv_offsets.get(key))
            excerpt = _clip(f"{key} = {value}")
            if len(value) > EXCERPT_MAX:  # a whole license text in the metadata
                out.extend(identify_texts(value, file.path, kb=kb, source="gguf", pointer=key))
                continue
            if key.endswith(".link"):
                resolved = _url_entry(kb, value)
                entry = resolved[0] if resolved else None
            elif value.strip().lower() == "other":
                continue
            else:
                entry = kb.lookup(value)
            out.append(
                _entry_match(entry, "gguf", loc, excerpt, 0.9)
                if entry is not None
                else _unknown(
                    file.path,
                    "gguf",
                    f"{value!r} is not a known license id, name or URL",
                    location=loc,
                    excerpt=excerpt,
                )
            )
    return out
