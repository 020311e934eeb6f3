"""The naming duty of derivative licenses, checked against the derivative's actual names.

Llama 3.x licenses (and a few others) say that a model built with the
materials must "include 'Llama' at the beginning of any such AI model
name". The license analyzer tags that clause (``naming_requirement``, with
its quote); this module reads the required name from the quote and checks
the names the release gives itself: the card's ``model_name`` (model-index),
GGUF ``general.name`` and the card title (its first ``# `` heading). Only a
derivative (a card ``base_model``) is held to the duty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from seewhy.analyzers.license.model import ClauseTag, ReleaseLicenses
from seewhy.analyzers.openness.snapshot import Snapshot
from seewhy.report.model import Evidence

__all__ = ["NameCheck", "NamingDuty", "naming_duty"]

# "include “Llama” at the beginning of any such AI model name", "names must begin with X"
_REQUIRED = (
    re.compile(r"\binclude\s+[\"“”'‘’]([^\"“”'‘’]{1,60})[\"“”'‘’]\s+at the beginning of", re.I),
    re.compile(r"\bnames?\s+(?:must|shall)\s+(?:begin|start)\s+with\s+[\"“”'‘’]([^\"“”'‘’]{1,60})"),
)
# Title wording that is not part of the name ("Model Card for Foo-8B").
_TITLE_LEAD = re.compile(r"^\W*(?:(?:the\s+)?model\s*card\s*(?:for|of)?\s*:?\s*)?", re.I)
_SEPARATORS = re.compile(r"[\s_\-./:]+")


@dataclass(frozen=True)
class NameCheck:
    """One name the release gives itself, and whether it begins with the required name."""

    name: str
    source: str  # "model_name", "general.name", "card title"
    evidence: Evidence
    ok: bool


@dataclass(frozen=True)
class NamingDuty:
    """A naming clause that binds this derivative, and its names checked against it."""

    required: str
    clause: ClauseTag
    checks: tuple[NameCheck, ...]

    @property
    def broken(self) -> tuple[NameCheck, ...]:
        """The names that do not begin with the required name."""
        return tuple(c for c in self.checks if not c.ok)


def required_name(quote: str) -> str | None:
    """The name a naming clause requires ("Llama", "Llama 3"), or ``None``."""
    for pattern in _REQUIRED:
        m = pattern.search(quote)
        if m:
            return m.group(1).strip()
    return None


def begins_with(name: str, required: str) -> bool:
    """Whether ``name`` (an ``org/`` prefix dropped) begins with ``required``.

    Case and separators (spaces, hyphens, underscores, dots) are ignored:
    "llama-3-8b-x" and "Llama3-x" begin with "Llama 3".
    """
    name = name.rsplit("/", 1)[-1]

    def norm(s: str) -> str:
        return _SEPARATORS.sub("", s).lower()

    return norm(name).startswith(norm(required))


def naming_duty(snap: Snapshot, licenses: ReleaseLicenses) -> NamingDuty | None:
    """The naming clause of the release's license checked against its names.

    ``None`` when no license text tags a naming clause whose name can be
    read, when the release declares no base model (it is no derivative),
    or when it names itself nowhere.
    """
    card = snap.card
    derivative = bool(licenses.all_base_models) or (card is not None and bool(card.card.base_model))
    if not derivative:
        return None
    tag = next((t for t in licenses.tags if t.tag == "naming_requirement"), None)
    required = required_name(tag.quote) if tag is not None else None
    if tag is None or required is None:
        return None
    names: list[tuple[str, str, Evidence]] = []
    if card is not None and card.card.model_name:
        line = card.card.line_of("model-index")
        ev = Evidence(path=card.path, line=line, pointer="model-index/name")
        names.append((card.card.model_name, "model_name", ev))
    for g in snap.ggufs:
        value = g.names.get("general.name")
        if value:
            ev = Evidence(path=g.path, offset=g.offsets.get("general.name"), pointer="general.name")
            names.append((value, "general.name", ev))
    if card is not None:
        title = next((s for s in card.sections if s.level == 1), None)
        if title is not None:
            text = _TITLE_LEAD.sub("", title.title).strip()
            if text:
                names.append((text, "card title", Evidence(path=card.path, line=title.line)))
    if not names:
        return None
    seen: set[str] = set()
    checks: list[NameCheck] = []
    for name, source, ev in names:
        if name in seen:
            continue
        seen.add(name)
        ok = begins_with(name, required)
        checks.append(NameCheck(name, source, ev.model_copy(update={"excerpt": name}), ok))
    return NamingDuty(required=required, clause=tag, checks=tuple(checks))
