"""Read what the openness checks need from a release, once and within caps.

Only small files are read: the top-level model card, the root
``config.json`` and GGUF headers. Nothing is executed or rendered; every
parser used here is one of seewhy's bounded parsers.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from itertools import accumulate, islice
from pathlib import PurePosixPath

from seewhy.analyzers.interface import MAX_CARD_BYTES, parsed_card
from seewhy.analyzers.openness import tables
from seewhy.errors import FormatError, ReleaseReadError
from seewhy.formats.gguf import GgufInfo, parse_gguf
from seewhy.formats.hfconfig import ModelConfig, parse_config
from seewhy.formats.modelcard import ModelCard, parse_card
from seewhy.release.model import FileKind, Release, ReleaseFile
from seewhy.report.humanize import clip

MAX_CONFIG_BYTES = 16 * 1024 * 1024
GGUF_NAME_KEYS = ("general.name", "general.basename", "general.finetune", "general.description")

MAX_LINKS = 2000
"""Most URLs of one card that are read (real cards have a few hundred at most)."""
MAX_PAPERS = 100
MAX_HEADINGS = 5000
MAX_FENCES = 10_000

_HEADING = re.compile(r"^[ ]{0,3}(#{1,6})[ \t]+([^\n]+)", re.MULTILINE)
# <h2>Evaluation</h2>, <h3 align="center">训练数据</h3>: a heading written in HTML
_HTML_HEADING = re.compile(
    r"<h([1-6])\b[^>\n]{0,300}>(.{0,300}?)</h\1\s*>", re.IGNORECASE | re.DOTALL
)
# Setext: a line of text underlined with === (level 1) or --- (level 2)
_SETEXT = re.compile(r"^[ ]{0,3}([^\s|<>#`\-=*][^\n]{0,300})\n[ ]{0,3}(=+|-+)[ \t]*$", re.MULTILINE)
# A bold label that opens a line (after an optional list marker):
# **Training Data:** ..., - **Technical report:** [PDF](...), __Evaluation Results__:
_BOLD_LABEL = re.compile(
    r"^[ \t]{0,8}(?:[-*+][ \t]+|\d{1,3}[.)][ \t]+)?"  # an optional list marker
    r"(\*\*|__)([^*_\n]{2,80}?)[ \t]*(:?)[ \t]*\1[ \t]*(:?)",
    re.MULTILINE,
)
BOLD_LEVEL = 7
"""Bold labels are sections below every heading level: they end at the next label or heading."""
_TAG = re.compile(r"<[^>]{0,300}>")
MAX_TITLE = 300
_FENCE = re.compile(r"^[ ]{0,3}(`{3,}|~{3,})", re.MULTILINE)
_TABLE_ROW = re.compile(r"^[ \t]*\|.*\|[ \t]*$|<table\b", re.IGNORECASE | re.MULTILINE)
_URL = re.compile(r"(?:https?://|\bwww\.)[^\s<>\"'`(){}\[\]]+", re.IGNORECASE)
# [anchor text](url) (the anchor may wrap onto a second line) and <a href="url">anchor</a>
_MD_LINK = re.compile(r"\[([^\[\]\n]{0,300}(?:\n[^\[\]\n]{0,300})?)\]\(\s*<?([^)\s>]{1,2000})")
_A_LINK = re.compile(
    r"<a\b[^>]{0,500}?\bhref\s*=\s*[\"']([^\"'\s>]{1,2000})[\"'][^>]{0,500}>(.{0,300}?)</a\s*>",
    re.IGNORECASE | re.DOTALL,
)
_LINE_ENDS = re.compile(r"\r+\n")
_MEDIA = re.compile(r"<img\b|!\[[^\]\n]{0,300}\]\(|<figure\b", re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_BOM = "\ufeff"


@dataclass(frozen=True)
class Section:
    """A Markdown heading of the card and the size of its section."""

    title: str
    level: int  # 1-6 for headings (Markdown, setext or HTML), 7 for a bold label
    line: int
    chars: int  # non-blank characters up to the next heading of the same or a higher level,
    # URLs not counted: a section that is only a link says nothing itself
    has_table: bool
    kind: str = "markdown"  # markdown | setext | html | bold
    has_media: bool = False  # an image or a plot (<img>, ![](...), <figure>)


@dataclass(frozen=True)
class Link:
    """A URL in the card body, with the line it is on."""

    url: str
    line: int
    text: str  # the whole line
    anchor: str = ""  # the link's anchor text ([anchor](url), <a>anchor</a>); "" for a bare URL
    context: str = ""  # the lines before, the line and the anchor: what the rules read
    near: str = ""  # the link's own line and anchor (URLs left out): for rules scoped to it

    @property
    def words(self) -> str:
        """What a rule reads around the link: its context, else its line."""
        return self.context or self.text


@dataclass(frozen=True)
class PaperRef:
    """A paper the card cites: an arXiv/DOI/proceedings URL, a bare arXiv id, a BibTeX
    entry of a peer-reviewed venue or a sentence naming one ("published at ACL 2024")."""

    url: str | None
    line: int
    technical_report: bool
    peer_reviewed: bool
    quote: str = ""  # the card's words that cite it

    @property
    def where(self) -> str:
        """The URL, else the citation's words."""
        return self.url or self.quote


_URL_TEXT = re.compile(r"(?:https?://|\bwww\.)\S+", re.IGNORECASE)


_BIB_TITLE = re.compile(r"\btitle\s*=\s*[{\"]+([^}\"]{1,400})")
_GENERIC = frozenset(
    [
        "model",
        "models",
        "card",
        "large",
        "language",
        "chat",
        "instruct",
        "base",
        "version",
        "release",
        "open",
        "the",
        "for",
        "and",
        "with",
        "from",
        "hf",
    ]
)


def _name_tokens(card: CardText) -> frozenset[str]:
    """Distinctive words of the release's names: the card's first top-level heading and
    model_name (lower case, 3+ letters, generic words left out)."""
    title = next((s.title for s in card.sections if s.level == 1), "")
    words = re.findall(r"[a-z][a-z0-9]{2,}", f"{title} {card.card.model_name or ''}".lower())
    return frozenset(w for w in words if w not in _GENERIC)


def _papers(card: CardText, limit: int = MAX_PAPERS) -> tuple[PaperRef, ...]:
    """The distinct papers the card presents as the release's own, in order, classified."""
    d = tables.detect()
    found: dict[str, PaperRef] = {}

    def own(line: int, extra: str = "") -> bool:
        window = _URL_TEXT.sub(" ", " ".join(card.lines[max(0, line - 4) : line])) + " " + extra
        return bool(
            card.in_code(line)
            or d.own_paper_context.search(window)
            or d.own_paper_headings.search(card.heading_above(line))
        )

    def report(line: int, extra: str = "") -> bool:
        window = _URL_TEXT.sub(" ", " ".join(card.lines[max(0, line - 4) : line])) + " " + extra
        return bool(d.technical_report_context.search(window))

    names = _name_tokens(card)

    def other_work(line: int) -> bool:
        """A BibTeX entry whose title names none of the release's names cites another work
        (the base model's paper, a dataset's): not the release's own."""
        if not card.in_code(line):
            here = _URL_TEXT.sub(" ", card.lines[line - 1])
            return bool(d.other_paper_context.search(here) and not d.own_paper_words.search(here))
        if not names:
            return False
        first = line
        while first > max(1, line - 30) and not card.lines[first - 1].lstrip().startswith("@"):
            first -= 1
        entry = " ".join(card.lines[first - 1 : line + 12]).lower()
        title = _BIB_TITLE.search(entry)
        return title is not None and not any(n in title.group(1) for n in names)

    def add(url: str, line: int, extra: str = "") -> None:
        key = url.lower().removesuffix(".pdf").replace("/pdf/", "/abs/")
        ident = key.rsplit("/", 1)[-1]
        if key in found or len(found) >= limit or d.placeholder.search(ident):
            return
        if not own(line, extra) or other_work(line):
            return
        found[key] = PaperRef(
            url=url,
            line=line,
            technical_report=report(line, extra),
            peer_reviewed=any(p.search(url) for p in d.peer_reviewed),
            quote=clip(card.lines[line - 1].strip(), 240),
        )

    for link in card.links:  # at most MAX_LINKS
        if any(p.search(link.url) for p in d.paper_urls):
            add(link.url, link.line, link.anchor)
        elif d.document_urls.search(link.url) and d.own_paper_context.search(link.anchor or ""):
            add(link.url, link.line, link.anchor)  # a PDF whose anchor says paper / report
    for m in islice(d.arxiv_refs.finditer(card.text, card.body_offset), 20 * limit):
        if len(found) >= limit:
            break
        add(f"https://arxiv.org/abs/{m.group(1) or m.group(2)}", card.line_at(m.start()))
    # Citations of a peer-reviewed venue without a URL: BibTeX entries of proceedings
    # and journals, and sentences such as "published at ACL 2024".
    for pattern in (d.bibtex_venue, d.venue_citation):
        for m in islice(pattern.finditer(card.text, card.body_offset), 20 * limit):
            if len(found) >= limit:
                break
            line = card.line_at(m.start())
            quote = clip(" ".join(m.group(0).split()), 240)
            key = f"citation:{quote.lower()}"
            if key in found or (pattern is d.venue_citation and not own(line, quote)):
                continue
            if other_work(line):
                continue
            found[key] = PaperRef(
                url=None,
                line=line,
                technical_report=False,
                peer_reviewed=True,
                quote=quote,
            )
    return tuple(found.values())


@dataclass(frozen=True)
class CardText:
    """The top-level model card: parsed front matter plus an index of its text.

    Scans run as regular expressions over :attr:`text` (line numbers come from
    :meth:`line_at`), so a hostile 4 MiB card costs seconds, not minutes.
    """

    path: str
    card: ModelCard
    text: str
    lines: tuple[str, ...]
    starts: tuple[int, ...]  # character offset where each line starts
    code_blocks: tuple[tuple[int, int], ...]  # fenced code, first and last line, in order
    comments: tuple[tuple[int, int], ...]  # HTML comments of the body, character spans
    sections: tuple[Section, ...]
    links: tuple[Link, ...]
    links_truncated: bool = False
    papers: tuple[PaperRef, ...] = ()  # papers the card presents as its own

    @property
    def body_start(self) -> int:
        """The first line of the Markdown body (1 when there is no front matter)."""
        return self.card.body_start_line

    @property
    def body_offset(self) -> int:
        """The character offset of the body."""
        return self.starts[min(self.body_start, len(self.starts)) - 1]

    def line_at(self, offset: int) -> int:
        """The 1-based line of character ``offset``."""
        return bisect.bisect_right(self.starts, offset)

    def in_code(self, line: int) -> bool:
        """Whether ``line`` is part of a fenced code block (fences included)."""
        i = bisect.bisect_right(self.code_blocks, (line, len(self.lines) + 1)) - 1
        return i >= 0 and self.code_blocks[i][0] <= line <= self.code_blocks[i][1]

    def comments_between(self, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of ``text[start:end]`` inside HTML comments of the body."""
        i = max(0, bisect.bisect_right(self.comments, (start, len(self.text) + 1)) - 1)
        spans = []
        while i < len(self.comments) and self.comments[i][0] < end:
            a, b = self.comments[i]
            if b > start:
                spans.append((max(a, start), min(b, end)))
            i += 1
        return spans

    def heading_above(self, line: int) -> str:
        """The title of the last heading before ``line`` ("" when there is none)."""
        i = bisect.bisect_left(self.sections, line, key=lambda s: s.line) - 1
        return self.sections[i].title if i >= 0 else ""

    def find(self, pattern: re.Pattern[str], *, code: bool, limit: int) -> list[int]:
        """Body lines (at most ``limit``, distinct) where ``pattern`` matches, in code or not."""
        found: list[int] = []
        spans = (
            [(self._offset(a), self._offset(b + 1)) for a, b in self.code_blocks]
            if code
            else [(self.body_offset, len(self.text))]
        )
        for start, end in spans:
            for m in pattern.finditer(self.text, start, end):
                line = self.line_at(m.start())
                if self.in_code(line) == code and line not in found:
                    found.append(line)
                    if len(found) >= limit:
                        return found
        return found

    def _offset(self, line: int) -> int:
        """Where 1-based ``line`` starts (the text's end past the last line)."""
        return self.starts[line - 1] if line <= len(self.starts) else len(self.text)


def _plain(title: str) -> str:
    """A heading's words: HTML tags, emphasis marks and trailing colons removed."""
    text = _TAG.sub(" ", title[: 4 * MAX_TITLE])
    text = re.sub(r"[*_`]+", "", text)
    return " ".join(text.split()).strip().rstrip("#").strip().rstrip(":：").strip()[:MAX_TITLE]


def _headings(partial: CardText, body: int) -> list[tuple[int, int, str, int, str]]:
    """(line, level, title, offset where the section's text starts, kind) of every heading:
    Markdown (#), setext (===/---), HTML (<h2>) and bold labels (**Training Data:**)."""
    text, line_at = partial.text, partial.line_at
    found: dict[int, tuple[int, int, str, int, str]] = {}

    def keep(line: int, level: int, title: str, start: int, kind: str) -> None:
        if line not in found and title and not partial.in_code(line) and len(found) < MAX_HEADINGS:
            found[line] = (line, level, title, start, kind)

    for m in islice(_HEADING.finditer(text, body), MAX_HEADINGS):
        line = line_at(m.start())
        keep(line, len(m.group(1)), _plain(m.group(2)), partial._offset(line + 1), "markdown")
    for m in islice(_HTML_HEADING.finditer(text, body), MAX_HEADINGS):
        line = line_at(m.start())
        keep(line, int(m.group(1)), _plain(m.group(2)), m.end(), "html")
    for m in islice(_SETEXT.finditer(text, body), MAX_HEADINGS):
        line = line_at(m.start())
        title = m.group(1).strip()
        if title.startswith("|") or not re.search(r"\w", title):
            continue
        level = 1 if m.group(2).startswith("=") else 2
        keep(line, level, _plain(title), partial._offset(line + 2), "setext")
    for m in islice(_BOLD_LABEL.finditer(text, body), MAX_HEADINGS):
        # a label, not emphasis in a sentence: a colon inside or right after the bold
        # text, or the bold text alone on its line
        nl = text.find("\n", m.end())
        rest = text[m.end() : nl if nl >= 0 else len(text)]
        label = m.group(2).strip()
        if not (m.group(3) or m.group(4) or not rest.strip()) or label.endswith((".", "!", "?")):
            continue
        line = line_at(m.start())
        keep(line, BOLD_LEVEL, _plain(m.group(2)), m.end(), "bold")
    return sorted(found.values())


def _links(card: CardText, body: int) -> tuple[list[Link], bool]:
    """Every URL of the body with its line, its anchor text and the words around it."""
    text, lines, line_at = card.text, card.lines, card.line_at
    anchors: dict[int, str] = {}  # URL offset -> anchor text
    for m in islice(_MD_LINK.finditer(text, body), 4 * MAX_LINKS):
        anchors.setdefault(m.start(2), " ".join(_plain(m.group(1)).split()))
    for m in islice(_A_LINK.finditer(text, body), 4 * MAX_LINKS):
        anchors.setdefault(m.start(1), _plain(m.group(2)))
    links: list[Link] = []
    for m in _URL.finditer(text, body):
        if len(links) >= MAX_LINKS:
            return links, True
        line = line_at(m.start())
        anchor = anchors.get(m.start(), "")
        before = " ".join(lines[max(0, line - 3) : line - 1])
        context = " ".join(_URL_TEXT.sub(" ", f"{before} {lines[line - 1]} {anchor}").split())
        url = m.group(0).rstrip(".,;:!?*_")
        near = " ".join(_URL_TEXT.sub(" ", f"{lines[line - 1]} {anchor}").split())
        links.append(
            Link(
                url, line, lines[line - 1], anchor, context[: 4 * MAX_TITLE], near[: 2 * MAX_TITLE]
            )
        )
    return links, False


def read_card(path: str, data: bytes, card: ModelCard | None = None) -> CardText:
    """Index a card's lines, fenced code, comments, sections and links.

    ``card`` is the card already parsed from ``data`` (parsed here when None).
    Line endings are read as ``\\n`` whatever the card uses (CRLF, CR CR LF).
    """
    if card is None:
        card = parse_card(data, path=path)
    text = _LINE_ENDS.sub("\n", data.decode("utf-8", "replace").removeprefix(_BOM))
    lines = tuple(text.split("\n"))
    starts = tuple(accumulate(map((1).__add__, map(len, lines[:-1])), initial=0))
    body = starts[min(card.body_start_line, len(starts)) - 1]

    def line_at(offset: int) -> int:
        return bisect.bisect_right(starts, offset)

    blocks: list[tuple[int, int]] = []
    fence: tuple[str, int] | None = None  # (marker, first line)
    for count, m in enumerate(_FENCE.finditer(text, body)):
        line = line_at(m.start())
        if count >= MAX_FENCES:  # past the cap, the rest of the card counts as code
            fence = fence or (m.group(1), line)
            break
        if fence is None:
            fence = (m.group(1), line)
        elif m.group(1)[0] == fence[0][0] and len(m.group(1)) >= len(fence[0]):
            blocks.append((fence[1], line))
            fence = None
    if fence is not None:
        blocks.append((fence[1], len(lines)))
    comments = tuple((m.start(), m.end()) for m in _COMMENT.finditer(text, body))
    partial = CardText(path, card, text, lines, starts, tuple(blocks), comments, (), ())
    headings = _headings(partial, body)
    ends: dict[int, int] = {}  # heading index -> the offset where its section ends
    open_: list[tuple[int, int]] = []  # (level, index) of sections still open
    for i, (line, level, *_) in enumerate(headings):
        while open_ and open_[-1][0] >= level:
            ends[open_.pop()[1]] = starts[line - 1]
        open_.append((level, i))
    sections = []
    for i, (line, level, title, a, kind) in enumerate(headings):
        b = ends.get(i, len(text))
        chunk = text[min(a, b) : b]
        sections.append(
            Section(
                title=title,
                level=level,
                line=line,
                chars=len("".join(_URL_TEXT.sub(" ", chunk).split())),
                has_table=_TABLE_ROW.search(chunk) is not None,
                kind=kind,
                has_media=_MEDIA.search(chunk) is not None,
            )
        )
    links, truncated = _links(partial, body)
    indexed = replace(
        partial, sections=tuple(sections), links=tuple(links), links_truncated=truncated
    )
    return replace(indexed, papers=_papers(indexed))


@dataclass(frozen=True)
class GgufMeta:
    """The names and architecture a GGUF header declares, with key offsets."""

    path: str
    architecture: str | None
    names: Mapping[str, str]  # GGUF_NAME_KEYS present as strings
    offsets: Mapping[str, int]


@dataclass(frozen=True)
class Snapshot:
    """What the openness checks read from one release."""

    name: str
    files: tuple[ReleaseFile, ...]
    card: CardText | None = None
    config_path: str | None = None
    config: ModelConfig | None = None
    ggufs: tuple[GgufMeta, ...] = ()
    notes: tuple[str, ...] = field(default=())  # files that could not be read, and why
    # The source's own word on gated downloads (the Hub's ``gated``: "auto" or "manual"),
    # or None where the source says nothing (a folder on disk).
    source_gating: str | None = None

    def paths(self) -> list[str]:
        """Every release-relative path."""
        return [f.path for f in self.files]


def _depth(path: str) -> int:
    return path.count("/")


def _pick_card(release: Release) -> ReleaseFile | None:
    cards = [f for f in release.files if f.kind is FileKind.MODEL_CARD]
    if not cards:
        return None
    return min(
        cards, key=lambda f: (_depth(f.path), PurePosixPath(f.path).name != "README.md", f.path)
    )


def read_snapshot(release: Release, cache: dict[tuple[str, str], object] | None = None) -> Snapshot:
    """Read the card, root config and GGUF headers of ``release`` (bounded, never raises
    for bad content: what cannot be read is noted)."""
    notes: list[str] = []
    card: CardText | None = None
    card_file = _pick_card(release)
    if card_file is not None:
        try:
            if cache is None:
                data = release.read_head(card_file, MAX_CARD_BYTES)
                card = read_card(card_file.path, data)
            else:
                shared = parsed_card(release, card_file, cache)
                card = read_card(card_file.path, shared.data, shared.card)
        except ReleaseReadError as exc:
            notes.append(f"{card_file.path}: {exc.reason}")
    config_path: str | None = None
    config: ModelConfig | None = None
    configs = [
        f
        for f in release.files
        if f.kind is FileKind.CONFIG and PurePosixPath(f.path).name == "config.json"
    ]
    if configs:
        chosen = min(configs, key=lambda f: (_depth(f.path), f.path))
        if chosen.size <= MAX_CONFIG_BYTES:
            try:
                config = parse_config(release.read_head(chosen, MAX_CONFIG_BYTES))
                config_path = chosen.path
            except (FormatError, ReleaseReadError, ValueError, RecursionError) as exc:
                notes.append(f"{chosen.path}: not read ({exc})")
    ggufs: list[GgufMeta] = []
    for f in release.files:
        if f.kind is not FileKind.GGUF:
            continue
        cached = (cache or {}).get(("gguf", f.path))
        try:
            if isinstance(cached, GgufInfo):
                info = cached  # parsed once by the inventory
            else:
                with release.open(f) as src:
                    info = parse_gguf(src)
        except (FormatError, ReleaseReadError, ValueError, OverflowError, MemoryError) as exc:
            notes.append(f"{f.path}: GGUF header not read ({exc})")
            continue
        names = {k: v for k in GGUF_NAME_KEYS if isinstance(v := info.metadata.get(k), str)}
        ggufs.append(
            GgufMeta(
                path=f.path,
                architecture=info.architecture,
                names=names,
                offsets={k: o for k, o in info.kv_offsets.items() if k in names},
            )
        )
    return Snapshot(
        name=release.name,
        files=release.files,
        card=card,
        config_path=config_path,
        config=config,
        ggufs=tuple(ggufs),
        notes=tuple(notes),
        source_gating=_source_gating(release),
    )


def _source_gating(release: Release) -> str | None:
    """The Hub's gating of a release read from the Hub (``release/hub.py``), else None."""
    gated = getattr(release, "gated", None)
    return gated if isinstance(gated, str) and gated else None
