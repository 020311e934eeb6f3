"""Turn license text into something a matcher can read, keeping the way back to lines.

A :class:`Doc` holds the *display* text (markup stripped, case and punctuation
kept, for quotes), its tokens (lowercase words and numbers, punctuation
dropped, so matching ignores whitespace, line wrapping, quotes, dashes and
Markdown), the sentence each token belongs to, and the source line of every
display line. Nothing is rendered: HTML goes through :mod:`html.parser`
(text only, scripts and styles skipped), Markdown through bounded regexes.
"""

from __future__ import annotations

import bisect
import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from itertools import pairwise

from seewhy.release.sniff import utf16_text

__all__ = ["Decoded", "Doc", "Sentence", "decode", "make_doc", "phrase", "tokens"]

_TOKEN = re.compile(
    r"\+\+|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]|\d+(?:[.,]\d+)*|[^\W\d_]+"
)
_BINARY_PROBE = 8192


@dataclass(frozen=True)
class Decoded:
    """Text decoded from bytes, or why there is none."""

    text: str | None
    note: str | None = None


def decode(data: bytes) -> Decoded:
    """Decode license bytes: UTF-8 (BOM or not), UTF-16 (BOM or not), else Windows-1252.

    UTF-16 without a byte-order mark is told by the NUL of every other byte
    (:func:`seewhy.release.sniff.utf16_text`); other bytes with NUL in their
    head are binary: no text.
    """
    if not data.strip(b" \t\r\n\x00"):
        return Decoded(None, "empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Decoded(data.decode("utf-16", errors="replace"), "decoded as UTF-16")
    if b"\x00" in data[:_BINARY_PROBE]:
        wide = utf16_text(data[:_BINARY_PROBE])
        if wide is None:
            return Decoded(None, "binary content, not a text")
        encoding = "utf-16-le" if "LE" in wide[1] else "utf-16-be"
        text = data[: len(data) & ~1].decode(encoding, errors="replace")
        return Decoded(text, f"decoded as {wide[1]}")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return Decoded(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3 and exc.reason.startswith("unexpected end"):
            return Decoded(data[: exc.start].decode("utf-8"), "cut inside a UTF-8 character")
        return Decoded(
            data.decode("cp1252", errors="replace"),
            f"not UTF-8 (bad byte at offset {exc.start}); decoded as Windows-1252",
        )


def tokens(text: str) -> list[str]:
    """The lowercase word and number tokens of ``text``."""
    return [m.group().casefold() for m in _TOKEN.finditer(text)]


def phrase(text: str) -> str:
    """A phrase in matching form: its tokens joined by single spaces."""
    return " ".join(tokens(text))


# ------------------------------------------------------------------- markup

_MD_LINK = re.compile(
    r"!?\[([^\[\]\n]{0,400})\]\(\s*<?([^()\s<>]{0,800})>?(?:\s+\"[^\"\n]{0,200}\")?\s*\)"
)
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~])")
_MD_EMPHASIS = re.compile(r"\*\*|__|~~|`+")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_MD_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_INLINE_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]{0,20}(?:\s[^<>\n]{0,400})?/?>")
_ENTITY = re.compile(r"&(?:#\d{1,7}|#x[0-9a-fA-F]{1,6}|[A-Za-z]{2,10});")


def _link(m: re.Match[str]) -> str:
    label, url = m.group(1).strip(), m.group(2)
    if not url or phrase(label) == phrase(url) or url.startswith("#"):
        return label
    if not label or re.match(r"(?i)^(https?://|www\.)", label):
        return label or url
    return f"{label} ({url})"


_MARKUP_CHARS = frozenset("[]\\*_<>&#`~=-")


_BOLD_LINE = re.compile(r"^\s*(?:(?:\*\*|__)[^*_\n]{1,200}(?:\*\*|__)\s*){1,6}$")
_CAPS_LINE = re.compile(r"^[^a-z]{3,120}$")


_TITLE_CASE_LINE = re.compile(
    r"^\s*[A-Z0-9][\w’'&/.-]*"
    r"(?:[ \t]+(?:[A-Z0-9(][\w’'&/.()-]*|of|and|the|for|to|in|on|a|an|or|with)){0,7}\s*$"
)


def _title_like(line: str) -> bool:
    """A short line in capitals or Title Case without a full stop ("Prohibited Uses")."""
    if sum(c.isalpha() for c in line) < 3:
        return False
    return bool(_CAPS_LINE.match(line) or _TITLE_CASE_LINE.match(line))


def _markdown_line(line: str) -> tuple[str, bool]:
    if _MARKUP_CHARS.isdisjoint(line):
        return line.rstrip(), _title_like(line)
    heading = bool(_MD_HEADING.match(line) or _BOLD_LINE.match(line))
    line = _MD_HEADING.sub("", line)
    line = _MD_LINK.sub(_link, line)
    line = _MD_ESCAPE.sub(r"\1", line)
    line = _INLINE_TAG.sub("", line)
    line = _MD_EMPHASIS.sub("", line)
    if "&" in line:
        line = _ENTITY.sub(lambda m: html.unescape(m.group()), line)
    if _MD_SETEXT.match(line):
        line = ""
    return line.rstrip(), heading or _title_like(line)


def looks_like_html(text: str, path: str = "") -> bool:
    """True for HTML pages (by extension or a leading doctype/html tag)."""
    if path.lower().endswith((".html", ".htm", ".xhtml")):
        return True
    head = text[:512].lstrip("\ufeff \t\r\n").lower()
    return head.startswith(("<!doctype html", "<html"))


_BLOCK = frozenset(
    {
        *("address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt"),
        *("fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "li"),
        *("main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul"),
        *("h1", "h2", "h3", "h4", "h5", "h6", "title"),
    }
)
_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object"})
_HEADINGS = frozenset({"h1", "h2", "h3", "title"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


class _TextExtractor(HTMLParser):
    """Collects the text of a page, line by line, with the source line of each."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[tuple[str, int, bool, bool]] = []  # text, line, in_main, heading
        self._skip = 0
        self._main = 0
        self._heading = 0
        self.has_main = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            if tag == "br":
                self._newline()
            return
        if tag in _SKIP:
            self._skip += 1
        elif tag in ("main", "article"):
            self._main += 1
            self.has_main = True
        if tag in _HEADINGS:
            self._heading += 1
        if tag in _BLOCK:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in ("main", "article"):
            self._main = max(0, self._main - 1)
        if tag in _HEADINGS:
            self._heading = max(0, self._heading - 1)
        if tag in _BLOCK:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        line = self.getpos()[0]
        for i, part in enumerate(data.split("\n")):
            if i:
                self._newline()
            if part.strip():
                self.chunks.append((part, line + i, self._main > 0, self._heading > 0))

    def _newline(self) -> None:
        self.chunks.append(("\n", self.getpos()[0], self._main > 0, self._heading > 0))


def _html_lines(text: str) -> list[tuple[str, int, bool]]:
    parser = _TextExtractor()
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError):  # malformed markup: keep what was read
        pass
    keep_all = not parser.has_main
    lines: list[tuple[str, int, bool]] = []
    parts: list[str] = []
    first_line = 0
    heading = False
    for chunk, line, in_main, is_heading in parser.chunks:
        if not (keep_all or in_main or is_heading):
            continue
        if chunk == "\n":
            if parts:
                lines.append((re.sub(r"\s+", " ", "".join(parts)).strip(), first_line, heading))
                parts = []
            continue
        if not parts:
            first_line, heading = line, is_heading
        parts.append(chunk)
    if parts:
        lines.append((re.sub(r"\s+", " ", "".join(parts)).strip(), first_line, heading))
    return lines


# ---------------------------------------------------------------------- doc

_BOUNDARY = re.compile(
    r"[.!?;][\"'”’)\]]*(?=\s)|\n[ \t]*\n|:[ \t]*(?=\n)"
    r"|\n(?=[ \t]*(?:[-*•+▪◦]|\d{1,3}[.)])[ \t])"
)
_ENUMERATOR = re.compile(r"^[ \t]*[(\[]?([0-9A-Za-z]{1,4})[.)\]](?=\s)", re.MULTILINE)
_BULLET_START = re.compile(r"\n[ \t]*(?:[-*•+▪◦]|[(\[]?[0-9A-Za-z]{1,4}[.)\]])[ \t]*$")


@dataclass(frozen=True)
class Sentence:
    """A sentence or list item: its token range and how it is punctuated."""

    start: int
    end: int
    colon: bool  # ends with ':' (a lead-in to a list)
    bullet: bool  # starts a list item


@dataclass(frozen=True)
class Doc:
    """A text ready for matching. Token ``i`` spans ``display[starts[i]:ends[i]]``."""

    display: str
    toks: tuple[str, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    joined: str  # " " + " ".join(toks) + " "
    jstarts: tuple[int, ...]  # offset of each token in ``joined``
    line_starts: tuple[int, ...]  # display offset where each display line begins
    line_numbers: tuple[int, ...]  # source line (1-based) of each display line
    heading_tokens: frozenset[int]  # tokens on heading lines (Markdown #, HTML h1-h3/title)
    sentences: tuple[Sentence, ...]
    sent_of: tuple[int, ...]  # sentence index of each token
    token_set: frozenset[str] = field(default_factory=frozenset)

    def __len__(self) -> int:
        return len(self.toks)

    # --- positions

    def token_at(self, joffset: int) -> int:
        """The token that starts at or covers offset ``joffset`` of :attr:`joined`."""
        return max(0, bisect.bisect_right(self.jstarts, joffset) - 1)

    def jspan(self, a: int, b: int) -> tuple[int, int]:
        """Offsets in :attr:`joined` of tokens ``[a, b)`` (with the leading space)."""
        lo = self.jstarts[a] - 1 if a < len(self.toks) else len(self.joined) - 1
        hi = self.jstarts[b] - 1 if b < len(self.toks) else len(self.joined)
        return lo, hi

    def line_of(self, offset: int) -> int:
        """Source line of a display offset."""
        i = max(0, bisect.bisect_right(self.line_starts, offset) - 1)
        return self.line_numbers[i] if self.line_numbers else 1

    def lines_of(self, a: int, b: int) -> tuple[int, int]:
        """Source line range of tokens ``[a, b)``."""
        if not self.toks:
            return 1, 1
        a = min(a, len(self.toks) - 1)
        b = max(a + 1, min(b, len(self.toks)))
        return self.line_of(self.starts[a]), self.line_of(self.ends[b - 1] - 1)

    def text(self, a: int, b: int) -> str:
        """The display text of tokens ``[a, b)``, whitespace collapsed."""
        if a >= b or not self.toks:
            return ""
        return " ".join(self.display[self.starts[a] : self.ends[b - 1]].split())

    def line_start(self, i: int) -> bool:
        """Whether token ``i`` is the first token on its display line."""
        if i == 0:
            return True
        return "\n" in self.display[self.ends[i - 1] : self.starts[i]]

    def line_tokens(self, i: int) -> int:
        """How many tokens the display line of token ``i`` holds."""
        line = bisect.bisect_right(self.line_starts, self.starts[i]) - 1
        lo = self.line_starts[line]
        hi = self.line_starts[line + 1] if line + 1 < len(self.line_starts) else len(self.display)
        return bisect.bisect_left(self.starts, hi) - bisect.bisect_left(self.starts, lo)


def make_doc(text: str, path: str = "") -> Doc:
    """Build a :class:`Doc` from decoded text; HTML pages are reduced to their text."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if looks_like_html(text, path):
        rows = _html_lines(text)
    else:
        rows = []
        for number, raw in enumerate(text.split("\n"), start=1):
            line, heading = _markdown_line(raw)
            rows.append((line, number, heading))
    parts: list[str] = []
    line_starts: list[int] = []
    line_numbers: list[int] = []
    heading_spans: list[tuple[int, int]] = []
    offset = 0
    for line, number, heading in rows:
        line_starts.append(offset)
        line_numbers.append(number)
        if heading and line:
            heading_spans.append((offset, offset + len(line)))
        parts.append(line)
        offset += len(line) + 1
    display = "\n".join(parts)
    return _tokenize(display, tuple(line_starts), tuple(line_numbers), heading_spans)


def _tokenize(
    display: str,
    line_starts: tuple[int, ...],
    line_numbers: tuple[int, ...],
    heading_spans: list[tuple[int, int]],
) -> Doc:
    toks: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for m in _TOKEN.finditer(display):
        toks.append(m.group().casefold())
        starts.append(m.start())
        ends.append(m.end())
    jstarts: list[int] = []
    pos = 1
    for t in toks:
        jstarts.append(pos)
        pos += len(t) + 1
    joined = " " + " ".join(toks) + " "
    headings: set[int] = set()
    for lo, hi in heading_spans:
        headings.update(range(bisect.bisect_left(starts, lo), bisect.bisect_left(starts, hi)))
    sentences, sent_of = _sentences(display, starts, ends, [hi for _, hi in heading_spans])
    return Doc(
        display=display,
        toks=tuple(toks),
        starts=tuple(starts),
        ends=tuple(ends),
        joined=joined,
        jstarts=tuple(jstarts),
        line_starts=line_starts,
        line_numbers=line_numbers,
        heading_tokens=frozenset(headings),
        sentences=sentences,
        sent_of=sent_of,
        token_set=frozenset(toks),
    )


def _sentences(
    display: str, starts: list[int], ends: list[int], heading_ends: list[int]
) -> tuple[tuple[Sentence, ...], tuple[int, ...]]:
    """Split tokens into sentences and list items (an enumerator stays with its item)."""
    n = len(starts)
    if not n:
        return (), ()
    cuts: set[int] = {bisect.bisect_left(starts, hi) for hi in heading_ends}
    cuts.discard(0)
    cuts.discard(n)
    for m in _BOUNDARY.finditer(display):
        i = bisect.bisect_left(starts, m.end())
        if 0 < i < n:
            cuts.add(i)
    enumerators: set[int] = set()
    for m in _ENUMERATOR.finditer(display):
        i = bisect.bisect_left(starts, m.start(1))
        if i < n and starts[i] == m.start(1):
            enumerators.add(i)
            if i:
                cuts.add(i)
            cuts.discard(i + 1)
    sentences: list[Sentence] = []
    sent_of = [0] * n
    bounds = [0, *sorted(cuts), n]
    for a, b in pairwise(bounds):
        before = display[ends[a - 1] : starts[a]] if a else ""
        after = display[ends[b - 1] : starts[b]] if b < n else ""
        colon = after.lstrip(" \t\"'”’)]").startswith(":")
        bullet = (
            a in enumerators or bool(_BULLET_START.search(before)) or (a == 0 and 0 in enumerators)
        )
        sentences.append(Sentence(a, b, colon, bullet))
        sent_of[a:b] = [len(sentences) - 1] * (b - a)
    return tuple(sentences), tuple(sent_of)
