"""Model-size claims in names ("Llama-3.1-8B", "SmolLM2-135M") and their check."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A size is digits with an optional fraction and an M/B/T suffix, not glued to
# a letter or digit before it (so "Q4_K" and "a400m" active-parameter labels
# do not count) and not followed by more letters or digits ("8Bit" is not 8B).
_SIZE = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?)\s?([MmBbTt])(?![A-Za-z0-9])")
_MOE = re.compile(r"\d+\s?[xX]\s?\d+(?:\.\d+)?\s?[MmBbTt]\b")
_SCALE = {"m": 10**6, "b": 10**9, "t": 10**12}

# Marketing sizes are rounded: Gemma "7B" has 8.5B parameters, Gemma "2B" 2.5B.
# Outside this band a name and the weights are telling different stories.
LOW_RATIO = 0.6
HIGH_RATIO = 1.5


@dataclass(frozen=True)
class SizeClaim:
    """A parameter count claimed by a name or label."""

    text: str
    parameters: int


def parse_size_claim(text: str) -> SizeClaim | None:
    """The first plain size in ``text`` ("135M" → 135,000,000); MoE forms are skipped."""
    if _MOE.search(text):
        return None
    match = _SIZE.search(text)
    if match is None:
        return None
    value = float(match.group(1))
    params = round(value * _SCALE[match.group(2).lower()])
    return SizeClaim(match.group(0), params) if params > 0 else None


def claim_agrees(claim: SizeClaim, counted: int) -> bool:
    """True when ``counted`` is within the rounding band of the claim."""
    if counted <= 0:
        return False
    ratio = counted / claim.parameters
    return LOW_RATIO <= ratio <= HIGH_RATIO


_ATX_TITLE = re.compile(r"^ {0,3}#[ \t]+(.+?)[ \t#]*$")
_SETEXT_RULE = re.compile(r"^ {0,3}=+[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(?:`{3,}|~{3,})")
_MARKUP = re.compile(r"!?\[([^\]]*)\]\([^)]*\)|<[^>]{0,200}>|[*_`]+")
MAX_TITLE_LINES = 400
"""Body lines searched for the card's title (it is at the top in every real card)."""


def card_title(body: str, first_line: int = 1) -> tuple[str, int] | None:
    """The card's title: its first level-1 heading (``# Title`` or ``Title`` over ``===``).

    Fenced code is skipped; links keep their text, images, HTML tags and
    emphasis marks are dropped. Returns the title and its 1-based line
    (``first_line`` is the line the body starts on), or ``None``.
    """
    in_fence = False
    previous = ""
    for number, line in enumerate(body.split("\n", MAX_TITLE_LINES)[:MAX_TITLE_LINES]):
        if _FENCE.match(line):
            in_fence = not in_fence
            previous = ""
            continue
        if in_fence:
            continue
        atx = _ATX_TITLE.match(line)
        text = atx.group(1) if atx else previous if _SETEXT_RULE.match(line) else ""
        title = " ".join(_MARKUP.sub(lambda m: m.group(1) or "", text).split())[:300]
        if title:
            return title, first_line + number - (0 if atx else 1)
        previous = line.strip()
    return None
