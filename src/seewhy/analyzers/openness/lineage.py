"""The license that binds a user: the release's own terms plus its base models'.

A fine-tune, merge, adapter or quantisation stays bound by the license of the
model it was made from: relabelling a Llama 3.2 fine-tune ``apache-2.0``
grants nobody the rights the Llama 3.2 Community License withholds. This
module reads a release's lineage and combines it with the release's own
license statements into the *effective* license, the one the openness
verdict, the OSAID parameters requirement, the MOF component licenses and
the OSAI licensing grade all rest on.

Public API:

* :func:`read_lineage` -- the parents a card names: front matter
  ``base_model`` (a string or a list, with ``base_model_relation``),
  ``base_model:<relation>:<id>`` tags, else sentences of the card body
  ("a merge of several LLaMA2 70B finetunes", "fine-tuned from
  Llama-3.1-8B", "based on LLaMA-7B"), the latter at lower confidence.
* :func:`effective_license` -- ``(release licenses, lineage) ->``
  :class:`EffectiveLicense`.

:class:`EffectiveLicense` *is* a
:class:`~seewhy.analyzers.openness.licensing.ReleaseLicense` (every grading
function takes it unchanged): ``state``, ``display``, ``mot_name``, ``osi``
and ``mot_open`` describe the terms that bind, not only those declared. Its
own fields:

``declared``
    the release's own statements graded alone
    (:func:`~seewhy.analyzers.openness.licensing.release_license`).
``lineage``
    the :class:`Lineage` it was computed from.
``bases``
    every parent considered, with the license the lineage rules
    (``data/licenses/base_models.toml``) know for it (:class:`BaseTerms`;
    ``license_id`` is None when the name matches no rule).
``inherited``
    the parents whose license is not open and is not the one the release
    already declares: their terms bind on top of the declared ones.
``referenced``
    licenses the card points at that are not in the snapshot
    ("referenced, not included").
``reason``
    the sentence a person would quote: "declared Apache-2.0, effectively
    bound by the Llama 3.2 Community License Agreement through base_model
    meta-llama/Llama-3.2-1B".
``bound_by_base``
    True when a base model's terms make the release less open than it
    declares (or give the only terms known).
``unlicensed``
    True when nothing in the snapshot grants any right (no license
    statement and no referenced license).

Names are matched with the license knowledge base's lineage rules
(:meth:`~seewhy.analyzers.license.kb.KnowledgeBase.base_license`), so
``openlm-research/open_llama_3b_v2`` is OpenLLaMA (Apache-2.0), not Llama.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from seewhy.analyzers.license.kb import KnowledgeBase, load_kb
from seewhy.analyzers.license.model import LicenseMatch, Location, ReleaseLicenses
from seewhy.analyzers.license.parents import ParentTerms
from seewhy.analyzers.openness import tables
from seewhy.analyzers.openness.licensing import (
    Referenced,
    ReleaseLicense,
    release_license,
)
from seewhy.analyzers.openness.snapshot import CardText
from seewhy.report.humanize import clip
from seewhy.report.model import Evidence

__all__ = [
    "BaseTerms",
    "EffectiveLicense",
    "Lineage",
    "Parent",
    "effective_license",
    "read_lineage",
]

MAX_PARENTS = 64
"""Most parents considered (a merge lists a few dozen at most); the rest are counted."""
MAX_NAME = 200
"""Longest model name matched against the lineage rules (longer ones are cut)."""
MAX_TEXT_HITS = 200
"""Most lineage sentences of one card read."""
SHOWN = 3
"""Most base models named in one sentence."""

FRONT_MATTER_CONFIDENCE = 1.0
TEXT_CONFIDENCE = 0.6

Relation = Literal["finetune", "merge", "quantized", "adapter", "derived"]
ParentSource = Literal[
    "base_model", "base_model tag", "GGUF general.base_model", "card text", "license statements"
]

_RELATIONS: dict[str, Relation] = {
    "finetune": "finetune",
    "fine-tune": "finetune",
    "merge": "merge",
    "quantized": "quantized",
    "quantization": "quantized",
    "adapter": "adapter",
    "lora": "adapter",
}

_TAG = re.compile(r"^base_model:(?:(finetune|merge|quantized|adapter):)?(\S{1,300})$", re.I)

# A sentence that names what the release was made from, the name after it.
_TRIGGER = re.compile(
    r"\b(?:"
    r"(?P<merge>(?:multi-model\s+)?merge[sd]?\s+(?:of|from)|merging)"
    r"|(?P<quantized>quanti[sz](?:ed|ation)\s+(?:version\s+)?(?:of|from))"
    r"|(?P<adapter>(?:q?lora|adapter)s?\s+(?:for|of|on\s+top\s+of))"
    r"|(?P<finetune>(?:fine[- ]?tun(?:ed|ing)|instruction[- ]tuned|further\s+(?:pre-?)?trained"
    r"|continued\s+pre-?training)\s+(?:(?:version|variant|checkpoint)\s+)?"
    # "Finetuned from model [optional]:" is the Hub model-card template's label
    r"(?:of|from|on\s+top\s+of)(?:\s+model(?:\s*\[optional\])?\s*:(?:\*\*|__)?)?"
    r"|fine[- ]?tunes?\s+of)"
    r"|(?P<derived>(?:(?:is|was)\s+(?:(?:a|an)\s+[^.\n]{0,60}?)?|model\s+)based\s+on"
    r"|built\s+(?:up)?on(?:\s+top\s+of)?|derived\s+from|derivative\s+of"
    r"|initiali[sz]ed\s+(?:from|with))"
    r")\s+",
    re.IGNORECASE,
)
# "... LLaMA fine-tune", "a Llama-3.1-8B finetune": the name before.
_AFTER = re.compile(r"\s(?:fine[- ]?tunes?|finetunes?|merges?|quants?)\b", re.IGNORECASE)
_MD_LINK = re.compile(r"!?\[([^\]\n]{0,300})\]\([^)\n]{0,2000}\)")
_HTML = re.compile(r"<[^>\n]{0,300}>")
_MARKUP = re.compile(r"\*\*|__|[`*\[\]]")
_FILLER = frozenset(
    [
        "a",
        "an",
        "the",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "several",
        "multiple",
        "selected",
        "various",
        "some",
        "many",
        "different",
        "original",
        "base",
        "pretrained",
        "pre-trained",
        "existing",
        "popular",
        "our",
        "its",
        "their",
        "top",
        "version",
        "variant",
        "of",
        "official",
    ]
)
_STOP = frozenset(
    [
        "model",
        "models",
        "for",
        "and",
        "with",
        "using",
        "to",
        "on",
        "by",
        "in",
        "which",
        "that",
        "as",
        "from",
        "finetunes",
        "fine-tunes",
        "finetune",
        "fine-tune",
        "merge",
        "merges",
        "weights",
        "checkpoint",
        "checkpoints",
        "is",
        "was",
        "are",
        "were",
    ]
)
# The name is the base's design, not its weights: "based on the Llama 2 architecture".
_NOT_WEIGHTS = frozenset(
    [
        "architecture",
        "architectures",
        "tokenizer",
        "tokenizers",
        "paper",
        "recipe",
        "design",
        "codebase",
        "code",
        "template",
        "format",
        "prompt",
        "prompts",
        "style",
        "approach",
        "structure",
    ]
)
_NAME_TOKENS = 4
_WINDOW = 120


@dataclass(frozen=True)
class Parent:
    """A model this release was made from, and where the release says so."""

    name: str  # a Hub id ("meta-llama/Llama-3.2-1B") or the card's words ("LLaMA2 70B")
    relation: Relation | None
    source: ParentSource
    confidence: float  # 1.0 for the front matter; lower when read from prose
    path: str | None = None
    line: int | None = None
    pointer: str | None = None
    quote: str | None = None  # the sentence that names it (prose only)

    @property
    def from_text(self) -> bool:
        """Whether the parent was read from the card's prose (lower confidence)."""
        return self.source == "card text"

    @property
    def where(self) -> str:
        """'base_model meta-llama/Llama-3.2-1B', or the card's words with their line."""
        if self.from_text:
            at = f"{self.path}:{self.line}" if self.path and self.line else "the card"
            return f'the card\'s words "{clip(self.quote or self.name, 120)}" ({at})'
        kind = f" ({self.relation})" if self.relation and self.relation != "derived" else ""
        return f"{self.source} {self.name}{kind}"

    def evidence(self, note: str) -> Evidence:
        """Where the release names this parent."""
        return Evidence(
            path=self.path,
            line=self.line,
            pointer=self.pointer,
            excerpt=clip(self.quote or self.name, 240),
            note=note,
        )


@dataclass(frozen=True)
class Lineage:
    """The parents a release names (front matter first; prose only when it names none)."""

    parents: tuple[Parent, ...] = ()
    omitted: int = 0  # parents past MAX_PARENTS, not considered
    notes: tuple[str, ...] = ()

    @property
    def from_text(self) -> bool:
        """Whether the lineage comes from the card's prose (no base_model declared)."""
        return bool(self.parents) and all(p.from_text for p in self.parents)


@dataclass(frozen=True)
class BaseTerms:
    """The license a parent carries, as the lineage rules know it from its name."""

    parent: Parent
    license_id: str | None  # None: no rule knows this model
    name: str | None
    open: bool  # open by MOT's lists, OSI-approved or permissive
    osi: bool
    rule_note: str = ""

    @property
    def known(self) -> bool:
        """Whether a lineage rule gave the parent's license."""
        return self.license_id is not None

    def evidence(self) -> Evidence:
        """The parent, with the license it is known to carry."""
        if self.license_id is None:
            note = "base model; its license is not known offline (no lineage rule matches)"
        else:
            note = f"base model released under {self.name}"
            if self.rule_note:
                note += f" ({self.rule_note})"
        if self.parent.from_text:
            note += "; lineage read from the card's prose, lower confidence"
        return self.parent.evidence(note)


# ------------------------------------------------------------------ lineage


def _relation(value: str | None) -> Relation | None:
    return _RELATIONS.get((value or "").strip().lower())


def _clean(text: str) -> str:
    text = _MD_LINK.sub(r"\1", text)
    text = _HTML.sub(" ", text)
    return _MARKUP.sub("", text)


def _strip_token(token: str) -> tuple[str, bool]:
    """The token less trailing punctuation, and whether the phrase ends there."""
    core = token.rstrip(",.;:!?)\"'")
    return core.lstrip("(\"'"), core != token


def _name_after(words: list[str], kb: KnowledgeBase) -> tuple[str, str] | None:
    """(name, the word after it) for the longest run of ``words`` a lineage rule knows."""
    i = 0
    while i < len(words) and (
        words[i].lower() in _FILLER or words[i].lower().endswith(("'s", "\u2019s"))
    ):
        i += 1
    taken: list[str] = []
    best: tuple[str, str] | None = None
    for j in range(i, min(len(words), i + _NAME_TOKENS)):
        token, ends = _strip_token(words[j])
        if token.lower() in _NOT_WEIGHTS:  # "the Llama 2 architecture": a design, not weights
            return (best[0], token.lower()) if best else None
        if not token or token.lower() in _STOP:
            break
        taken.append(token)
        name = " ".join(taken)
        if kb.base_license(name[:MAX_NAME]) is not None:
            after = "" if ends or j + 1 >= len(words) else _strip_token(words[j + 1])[0]
            best = (name, after.lower())
        if ends:
            break
    return best


def _name_before(words: list[str], kb: KnowledgeBase) -> str | None:
    """The longest tail of ``words`` (at most 4) a lineage rule knows."""
    tail = [_strip_token(w)[0] for w in words[-_NAME_TOKENS:]]
    for k in range(len(tail)):
        name = " ".join(t for t in tail[k:] if t)
        if name and kb.base_license(name[:MAX_NAME]) is not None:
            return name
    return None


def _squash(name: str) -> str:
    return re.sub(r"[\W_]+", "", name.lower())


def _about_another_model(subject: str, names: Sequence[str]) -> bool:
    """Whether the words before the trigger name a model that is not this release
    ("DeepSeek-R1-Distill-Llama-8B is derived from ..." in DeepSeek-R1's card)."""
    own = [_squash(n) for n in names if n]
    if not own:  # the release's names are not known: the sentence cannot be told apart
        return False
    for token in _clean(subject).split():
        token = _strip_token(token)[0]
        if len(token) < 5 or "-" not in token or not re.search(r"\d", token):
            continue
        squashed = _squash(token)
        if not any(difflib.SequenceMatcher(None, squashed, o).ratio() >= 0.8 for o in own):
            return True
    return False


def _text_parents(card: CardText, kb: KnowledgeBase, names: Sequence[str]) -> list[Parent]:
    """Parents named in the card's prose (outside code), at lower confidence."""
    found: dict[str, Parent] = {}
    hits = 0
    for m in _TRIGGER.finditer(card.text, card.body_offset):
        hits += 1
        if hits > MAX_TEXT_HITS or len(found) >= MAX_PARENTS:
            break
        line = card.line_at(m.start())
        if card.in_code(line):
            continue
        start = card.starts[line - 1]
        sentence = re.split(r"[.!?]\s", card.text[start : m.start()][-_WINDOW:])[-1]
        if _about_another_model(sentence, names):
            continue
        after = _clean(card.text[m.end() : m.end() + _WINDOW].split("\n", 1)[0])
        got = _name_after(after.split(), kb)
        if got is None or got[1] in _NOT_WEIGHTS:
            continue
        relation = next((_relation(k) or "derived" for k, v in m.groupdict().items() if v), None)
        name = got[0]
        if name.lower() not in found:
            quote = _clean(card.lines[line - 1]).strip()
            found[name.lower()] = Parent(
                name, relation, "card text", TEXT_CONFIDENCE, card.path, line, None, quote
            )
    if found:
        return list(found.values())
    for m in _AFTER.finditer(card.text, card.body_offset):
        hits += 1
        if hits > 2 * MAX_TEXT_HITS:
            break
        line = card.line_at(m.start())
        if card.in_code(line):
            continue
        start = max(card.starts[line - 1], m.start() - _WINDOW)
        before = _clean(card.text[start : m.start()])
        named = _name_before(before.split(), kb)
        if named is not None and named.lower() not in found:
            relation = "merge" if "merge" in m.group(0).lower() else "finetune"
            quote = _clean(card.lines[line - 1]).strip()
            found[named.lower()] = Parent(
                named, relation, "card text", TEXT_CONFIDENCE, card.path, line, None, quote
            )
    return list(found.values())


def read_lineage(
    card: CardText | None,
    base_models: Sequence[str] = (),
    names: Sequence[str] = (),
    gguf: Sequence[tuple[str, Location]] = (),
) -> Lineage:
    """The parents a release names.

    ``card``: the snapshot's model card; ``base_models``: the ids license
    identification read (used when the card is not at hand); ``names``: the
    release's own names (card title, model_name, folder), so that a sentence
    about another model ("X-Distill-8B is derived from Y") is not read as this
    release's lineage. Front matter ``base_model`` and
    ``base_model:<relation>:<id>`` tags come first, then the base models a GGUF
    file names in its metadata (``gguf``: name and where); only when the release
    names none are the card's sentences read.
    """
    parents: dict[str, Parent] = {}
    omitted = 0
    notes: list[str] = []

    def add(parent: Parent) -> None:
        nonlocal omitted
        key = parent.name.lower()
        if key in parents:
            return
        if len(parents) >= MAX_PARENTS:
            omitted += 1
            return
        parents[key] = parent

    parsed = card.card if card is not None else None
    path = card.path if card is not None else None
    relation = _relation(parsed.base_model_relation) if parsed is not None else None
    line = parsed.line_of("base_model") if parsed is not None else None
    ids = parsed.base_model if parsed is not None else tuple(base_models)
    for i, raw in enumerate(ids):
        name = raw.strip()[:MAX_NAME]
        if name:
            pointer = "base_model" if len(ids) == 1 else f"base_model/{i}"
            add(Parent(name, relation, "base_model", FRONT_MATTER_CONFIDENCE, path, line, pointer))
    if parsed is not None:
        tag_line = parsed.line_of("tags")
        for i, tag in enumerate(parsed.tags):
            m = _TAG.match(tag.strip())
            if m:
                name = m.group(2)[:MAX_NAME]
                add(
                    Parent(
                        name,
                        _relation(m.group(1)),
                        "base_model tag",
                        FRONT_MATTER_CONFIDENCE,
                        path,
                        tag_line,
                        f"tags/{i}",
                    )
                )
    for name, loc in gguf:
        add(
            Parent(
                name[:MAX_NAME],
                None,
                "GGUF general.base_model",
                FRONT_MATTER_CONFIDENCE,
                loc.path,
                None,
                loc.pointer,
            )
        )
    if omitted:
        notes.append(
            f"{omitted} more base models listed; only the first {MAX_PARENTS} were considered"
        )
    if not parents and card is not None:
        for p in _text_parents(card, load_kb(), names):
            add(p)
        if parents:
            notes.append(
                "no base_model in the front matter: lineage read from the card's prose, "
                "at lower confidence"
            )
    return Lineage(tuple(parents.values()), omitted, tuple(notes))


# ------------------------------------------------------------------ terms


def base_terms(
    parent: Parent, kb: KnowledgeBase | None = None, real: Mapping[str, ParentTerms] | None = None
) -> BaseTerms:
    """The license ``parent`` carries: read from its own files on the Hub when ``real``
    has it (:mod:`seewhy.analyzers.license.parents`), else by the lineage rules
    (unknown when none matches)."""
    kb = kb or load_kb()
    hub = (real or {}).get(parent.name.strip().lower())
    if hub is not None:
        entry, note = hub.entry, hub.note
    else:
        known = kb.base_license(parent.name[:MAX_NAME])
        if known is None:
            return BaseTerms(parent, None, None, open=False, osi=False)
        entry, note = known[0], known[1].note
    mot = tables.mot()
    osi = mot.is_osi(entry.id) or bool(entry.osi_approved)
    is_open = mot.is_open(entry.id) or osi or entry.permissive
    return BaseTerms(parent, entry.id, entry.name, is_open, osi, note)


@dataclass(frozen=True)
class EffectiveLicense(ReleaseLicense):
    """The terms that bind a user of the release (see the module docstring for the fields)."""

    declared: ReleaseLicense = field(default_factory=lambda: ReleaseLicense("none"))
    lineage: Lineage = field(default_factory=Lineage)
    bases: tuple[BaseTerms, ...] = ()
    inherited: tuple[BaseTerms, ...] = ()
    referenced: tuple[Referenced, ...] = ()
    reason: str = ""

    @property
    def bound_by_base(self) -> bool:
        """Whether a base model's terms are less open than what the release declares."""
        return bool(self.inherited) and self.declared.state in ("open", "unidentified", "none")

    @property
    def unlicensed(self) -> bool:
        """Nothing in the snapshot grants any right: no license stated, none referenced."""
        return self.declared.state == "none" and not self.referenced

    @property
    def own(self) -> ReleaseLicense:
        """What the release declares, without its base models' terms."""
        return self.declared

    @property
    def inherited_names(self) -> str:
        """'the Llama 3.2 Community License Agreement' (and the others, distinct)."""
        return _and(dict.fromkeys(_the(str(b.name)) for b in self.inherited))

    @property
    def base_text(self) -> str:
        """'the Llama 3.2 Community License Agreement through base_model meta-llama/...'
        ("" when no base's terms bind beyond the declared ones)."""
        if not self.inherited:
            return ""
        prose = all(b.parent.from_text for b in self.inherited)
        note = " (lineage read from the card's prose, lower confidence)" if prose else ""
        return f"{self.inherited_names} {_through(self.inherited)}{note}"

    @property
    def display(self) -> str:
        """The declared license, or the base's when it binds, with where it comes from."""
        if not self.inherited:
            return self.declared.display
        through = _through(self.inherited, short=True)
        if self.declared.primary is None:
            return f"{self.inherited_names} ({through})"
        if self.bound_by_base:
            return f"{self.inherited_names} ({through}; declared {self.declared.display})"
        return f"{self.declared.display} and {self.inherited_names} ({through})"

    @property
    def mot_name(self) -> str | None:
        """The license MOT would record: the base's when it binds, else the declared one."""
        if self.bound_by_base and self.declared.state != "none":
            return self.inherited[0].license_id
        return self.declared.mot_name

    def evidence(self) -> list[Evidence]:
        """The declared statements (clauses included), then the binding base models."""
        out = self.declared.evidence()
        out.extend(b.evidence() for b in self.inherited[:SHOWN])
        out.extend(r.evidence() for r in self.referenced[:2])
        return out


def _the(name: str) -> str:
    """'the Gemma Terms of Use', but 'CC-BY-NC-4.0' (an id takes no article)."""
    return f"the {name}" if " " in name and not name.lower().startswith("the ") else name


def _and(items: Iterable[str]) -> str:
    items = list(items)
    shown = items[:SHOWN]
    if len(items) > SHOWN:
        shown.append(f"{len(items) - SHOWN} more")
    if len(shown) <= 1:
        return "".join(shown)
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def _through(terms: Sequence[BaseTerms], *, short: bool = False) -> str:
    """'through base_model meta-llama/Llama-3.2-1B' (or the card's words, for prose)."""
    if short:
        names = _and(dict.fromkeys(t.parent.name for t in terms))
        return f"through base model {names}"
    return "through " + _and(dict.fromkeys(t.parent.where for t in terms))


def _same_family(base: str | None, declared: str | None, kb: KnowledgeBase) -> bool:
    """Whether the release declares the base's license family (a Llama 3.2 model built on
    Llama 3.1 is under the terms its publisher chose; the license analyzer agrees)."""
    if not base or not declared:
        return False
    eb, ed = kb.get(base), kb.get(declared)
    if eb is None or ed is None:
        return base.lower() == declared.lower()
    return eb.id == ed.id or eb.family == ed.family


def _reason(eff: EffectiveLicense) -> str:
    """The sentence a reviewer would quote."""
    d = eff.declared
    inherited = eff.inherited
    base = eff.base_text
    unknown = [b for b in eff.bases if not b.known]
    tail = ""
    if unknown:
        names = _and(b.parent.name for b in unknown)
        tail = f"; the license of {names} is not known offline and was not checked"
    if eff.lineage.omitted:
        tail += f"; {eff.lineage.omitted} more base models not considered"
    if d.model_referenced:
        return (
            _model_referenced(eff)
            + (f"; effectively bound at least by {base}" if base else "")
            + tail
        )
    if d.state == "none":
        if d.scoped and not eff.referenced:
            head = f"no license stated for the weights: {_scoped_text(d.scoped)}"
            return head + (f"; the base model's terms also bind: {base}" if base else "") + tail
        if eff.referenced:
            r = eff.referenced[0]
            head = f"license referenced, not included: {r.describe()}"
        else:
            head = "no license anywhere in the snapshot: no rights granted"
        return head + (f"; the base model's terms also bind: {base}" if base else "") + tail
    if d.state == "unidentified" and not d.primary:
        stated = [m for m in d.unidentified if m.states_license]
        if eff.referenced and not stated:
            head = f"license referenced, not included: {eff.referenced[0].describe()}"
        else:
            loc = stated[0].location if stated else None
            at = "" if loc is None else f" at {loc.path}" + (f":{loc.line}" if loc.line else "")
            head = f"the license{at} was not identified"
            if eff.referenced:
                head += f"; {eff.referenced[0].describe()}"
        return head + (f"; effectively bound at least by {base}" if base else "") + tail
    if not inherited:
        return f"declared {d.display}" + tail
    if eff.bound_by_base:
        return f"declared {d.display}, effectively bound by {base}" + tail
    return f"declared {d.display}, also bound by {base}" + tail


def _at(loc: Location) -> str:
    return loc.path + (f":{loc.line}" if loc.line else "")


def _scoped_text(scoped: Sequence[LicenseMatch]) -> str:
    """'MIT covers the code only (README.md:345 "This code repository is licensed ...")'."""
    parts = []
    for m in scoped[:SHOWN]:
        part = "documentation" if m.scope == "documentation" else m.scope
        quote = f' "{clip(m.excerpt, 120)}"' if m.excerpt else ""
        parts.append(f"{m.license_id} covers the {part} only ({_at(m.location)}{quote})")
    return "; ".join(parts)


def _model_referenced(eff: EffectiveLicense) -> str:
    """The weights' license is a document the card names and the snapshot lacks."""
    d = eff.declared
    ref = d.model_references[0]
    quote = f': "{clip(ref.excerpt, 160)}"' if ref.excerpt else ""
    head = (
        f"the weights' license is referenced, not included: the card puts the model under "
        f"{ref.target} ({_at(ref.location)}), which is not in the snapshot{quote}"
    )
    if d.scoped:
        head += f"; {_scoped_text(d.scoped)}"
    aside = [m for m in d.set_aside if m.scope == "all"]
    if aside:
        names = _and(dict.fromkeys(f"{m.license_id} ({_at(m.location)})" for m in aside))
        head += f"; {names} is not taken as the weights' license in its place"
    return head


def effective_license(
    found: ReleaseLicenses,
    lineage: Lineage,
    *,
    referenced: Sequence[Referenced] = (),
    kb: KnowledgeBase | None = None,
    real: Mapping[str, ParentTerms] | None = None,
) -> EffectiveLicense:
    """The terms that bind a user: the release's own license plus its base models'.

    ``found``: the release's license statements (license identification);
    ``lineage``: :func:`read_lineage`; ``referenced``: licenses the card links
    that are not in the snapshot
    (:func:`~seewhy.analyzers.openness.licensing.referenced_licenses`). The
    most restrictive terms bind: a base whose license is not open and not the
    one declared lowers the state to ``not-open`` (a release already restricted
    stays ``restricted``); a permissive base changes nothing.
    """
    kb = kb or load_kb()
    declared = release_license(found)
    bases = tuple(base_terms(p, kb, real) for p in lineage.parents)  # real: read on the Hub
    own = [declared.primary.license_id] if declared.primary else []
    own += list(declared.others)
    inherited = tuple(
        b
        for b in bases
        if b.known and not b.open and not any(_same_family(b.license_id, o, kb) for o in own)
    )
    # One entry per license, the front matter's parent first.
    seen: set[str] = set()
    distinct = []
    for b in sorted(inherited, key=lambda b: b.parent.from_text):
        if str(b.license_id) not in seen:
            seen.add(str(b.license_id))
            distinct.append(b)
    inherited = tuple(distinct)
    state = declared.state
    osi, mot_open = declared.osi, declared.mot_open
    if inherited:
        osi = mot_open = False
        if state in ("open", "unidentified"):
            state = "not-open"
    eff = EffectiveLicense(
        state=state,
        primary=declared.primary,
        osi=osi,
        mot_open=mot_open,
        restrictions=declared.restrictions,
        others=declared.others,
        unidentified=declared.unidentified,
        scoped=declared.scoped,
        model_references=declared.model_references,
        set_aside=declared.set_aside,
        declared=declared,
        lineage=lineage,
        bases=bases,
        inherited=inherited,
        referenced=tuple(referenced) if declared.state in ("none", "unidentified") else (),
    )
    return replace(eff, reason=_reason(eff))
