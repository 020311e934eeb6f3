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
