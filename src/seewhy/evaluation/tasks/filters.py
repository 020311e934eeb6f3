"""Answer extraction (lm-eval's ``filter_list``) and normalised exact match.

A filter pipeline turns a generated response into the answer that is
scored. lm-eval's ``regex`` filter writes the string ``"[invalid]"`` when
nothing matches and scores it as a wrong answer; here that case is an
*extraction failure*: :func:`apply_filters` returns ``None``, the item is
flagged ``extraction_failed`` and scores 0, so "could not read an answer"
stays apart from "read a wrong one".

Semantics kept from lm-eval (``lm_eval/filters/extraction.py``,
``lm_eval/api/metrics.py``):

- ``regex``: ``re.findall``; ``group_select`` picks a match (``-1`` = the
  last); a match with several groups gives its first non-empty group; the
  result is stripped.
- ``take_first``: the first of the repeats (seewhy runs one repeat, so the
  response itself).
- ``exact_match``: ``regexes_to_ignore`` are removed from prediction *and*
  reference, then ``ignore_case`` lowers both, ``ignore_punctuation`` drops
  ``string.punctuation``, ``ignore_numbers`` drops digits; equal strings
  score 1.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

_PUNCTUATION = str.maketrans("", "", string.punctuation)
_DIGITS = str.maketrans("", "", string.digits)


@dataclass(frozen=True)
class FilterStep:
    """One step of a filter pipeline."""

    function: str  # regex | take_first | lowercase | uppercase | remove_whitespace
    regex_pattern: str = r"#### (\-?[0-9\.\,]+)"  # lm-eval's RegexFilter default
    group_select: int = 0


@dataclass(frozen=True)
class MatchRule:
    """How exact_match compares a prediction with the reference."""

    ignore_case: bool = False
    ignore_punctuation: bool = False
    ignore_numbers: bool = False
    regexes_to_ignore: tuple[str, ...] = ()


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regex(step: FilterStep, text: str) -> str | None:
    matches = _compiled(step.regex_pattern).findall(text)
    if not matches:
        return None
    try:
        match = matches[step.group_select]
    except IndexError:
        return None
    if isinstance(match, tuple):
        groups = [group for group in match if group]
        if not groups:
            return None
        match = groups[0]
    return str(match).strip()


def apply_filters(steps: Sequence[FilterStep], response: str) -> str | None:
    """The extracted answer, or ``None`` when a regex step finds nothing."""
    value: str | None = response
    for step in steps:
        if value is None:
            return None
        if step.function == "regex":
            value = _regex(step, value)
        elif step.function == "lowercase":
            value = value.lower()
        elif step.function == "uppercase":
            value = value.upper()
        elif step.function == "remove_whitespace":
            value = value[1:] if value.startswith(" ") else value  # one leading space, as lm-eval
        # take_first: one repeat, nothing to take
    return value


def normalise(text: str, rule: MatchRule) -> str:
    for pattern in rule.regexes_to_ignore:
        text = _compiled(pattern).sub("", text)
    if rule.ignore_case:
        text = text.lower()
    if rule.ignore_punctuation:
        text = text.translate(_PUNCTUATION)
    if rule.ignore_numbers:
        text = text.translate(_DIGITS)
    return text


def exact_match(prediction: str | None, references: Sequence[str], rule: MatchRule) -> float:
    """1.0 when the normalised prediction equals any normalised reference; 0.0 for ``None``."""
    if prediction is None:
        return 0.0
    predicted = normalise(prediction, rule)
    return 1.0 if any(predicted == normalise(ref, rule) for ref in references) else 0.0
