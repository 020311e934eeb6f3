"""Markdown from a model card to inert HTML.

A model card is attacker-controlled. It is rendered in two steps, each safe
on its own:

1. markdown-it-py (CommonMark) with raw HTML turned off: every ``<tag>`` of the
   card comes out as escaped text, and images become their alt text (an image
   would be fetched when the page opens; the report fetches nothing);
2. nh3 (the ammonia sanitiser) with an allow-list of tags and attributes:
   no ``script``, ``style``, ``svg``, ``iframe``, ``form``, no ``on*``
   attribute, no ``style`` attribute, and links only to ``http``, ``https``
   and ``mailto`` (``javascript:``, ``data:`` and every other scheme are
   dropped, relative links too: they would point into the reader's disk).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

MAX_CARD_CHARS = 200_000
"""Card text rendered; the rest is cut (with a note)."""

ALLOWED_TAGS = frozenset(
    {
        "a",
        "blockquote",
        "br",
        "code",
        "del",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "strong",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "td": {"align"}, "th": {"align"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})


def _image_as_text(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    """An image is shown as its alt text in brackets, never fetched."""
    alt = "".join(t.content for t in (tokens[idx].children or ()))
    return "[image" + (f": {_escape(alt)}" if alt else "") + "]"


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
    md.enable("strikethrough")
    md.add_render_rule("image", _image_as_text)
    return md


_MD = _renderer()


def _filter_url(element: str, attribute: str, value: str) -> str | None:
    """Keep only absolute http(s) and mailto links (nh3 checks the scheme first)."""
    if attribute == "href":
        scheme = value.split(":", 1)[0].lower() if ":" in value else ""
        if scheme not in URL_SCHEMES:
            return None
    return value


def clean_html(html: str) -> str:
    """``html`` reduced to the allow-list (see the module docstring)."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        attribute_filter=_filter_url,
    )


def strip_front_matter(text: str) -> str:
    """The card without its leading ``---`` YAML block (the report shows its facts)."""
    if not text.startswith("---"):
        return text
    end = text.find("\n---", 3)
    if end < 0:
        return text
    rest = text.find("\n", end + 4)
    return "" if rest < 0 else text[rest + 1 :]


def card_to_html(markdown: str) -> str:
    """A model card's Markdown as sanitised HTML, safe to place in the report."""
    body = strip_front_matter(markdown)
    cut = len(body) > MAX_CARD_CHARS
    html = clean_html(_MD.render(body[:MAX_CARD_CHARS]))
    if cut:
        html += f"<p><em>(card cut at {MAX_CARD_CHARS:,} characters)</em></p>"
    return html
