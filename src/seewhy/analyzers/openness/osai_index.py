"""The European Open Source AI Index grid: 12 parameters, open/partial/closed.

Each parameter is graded by the index's published criteria
(Language-Technology-Assessment/main-database readme): what is not shown to
be comprehensively published is *closed* in the index's sense. A grade rests
on what the snapshot shows; where the snapshot shows nothing, the grade is
closed and ``not_found`` says so beside it ("not found in this snapshot": a
reviewer who reads the paper or the repositories may grade higher). seewhy
never grades more open than its evidence: where a criterion needs reading
(whether a preprint details every stage, whether code is complete), the
grade stops at what the card shows and the note says what was not verified.
Scoring is the index's own: open 1, partial 0.5, closed 0, a group's score
the mean of its parameters and the total the mean over every parameter.

The grades read the same evidence as the MOF components and OSAID 1.0
(:class:`~seewhy.analyzers.openness.components.EvidenceSet`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from seewhy.analyzers.openness import tables
from seewhy.analyzers.openness.components import Detected, EvidenceSet, Sighting
from seewhy.analyzers.openness.licensing import ReleaseLicense, restriction_summary
from seewhy.analyzers.openness.lineage import Parent
from seewhy.analyzers.openness.snapshot import CardText, PaperRef, Snapshot
from seewhy.report.model import Evidence

Grade = Literal["open", "partial", "closed", "unknown"]
"""seewhy emits open, partial and closed; "unknown" is accepted by :func:`score` (not scored)."""


@dataclass(frozen=True)
class _Graded:
    grade: Grade
    notes: str
    link: str | None = None
    evidence: tuple[Evidence, ...] = ()
    not_found: str | None = None  # what the snapshot did not show, when that decided the grade


GATING_KEYS = ("extra_gated_prompt", "extra_gated_fields", "extra_gated_eu_disallowed", "gated")


@dataclass(frozen=True)
class OsaiItem:
    """One parameter of the index, graded."""

    param: tables.OsaiParam
    grade: Grade
    notes: str
    link: str | None = None
    evidence: tuple[Evidence, ...] = ()
    not_found: str | None = None  # "not found in this snapshot: ..." beside a closed grade


@dataclass(frozen=True)
class OsaiScore:
    """The index's score; ``None`` where no parameter could be scored."""

    total: float | None
    groups: Mapping[str, float | None]  # group ref -> mean
    scored: int
    unknown: int
    not_found: int = 0  # scored closed because the snapshot did not show them


@dataclass(frozen=True)
class _Inputs:
    snap: Snapshot
    detected: EvidenceSet
    lic: ReleaseLicense
    papers: tuple[PaperRef, ...]
    gated: Evidence | None


def gating(card: CardText | None, source_gating: str | None = None) -> Evidence | None:
    """Evidence that downloads are gated (an access form or agreement on the Hub): the
    Hub's own answer when the release was read from it, else the card's gating keys."""
    if source_gating:
        return Evidence(
            pointer="gated",
            excerpt=source_gating,
            note=f"gated download: the Hub reports gated={source_gating} for this repository",
        )
    if card is None or not card.card.front_matter:
        return None
    front = card.card.front_matter
    for key in GATING_KEYS:
        value = front.get(key)
        if value not in (None, False, "", [], {}):
            return Evidence(
                path=card.path,
                line=card.card.line_of(key),
                pointer=key,
                note=f"gated download: the card sets {key}",
            )
    return None


def _first_link(d: Detected) -> str | None:
    s = d.first
    return s.location if s is not None else None


def _ev(d: Detected | Sequence[Sighting], n: int = 2) -> tuple[Evidence, ...]:
    sightings = d.sightings if isinstance(d, Detected) else d
    return tuple(s.evidence() for s in sightings[:n])


def _closed(what: str, notes: str | None = None) -> _Graded:
    """Closed because the snapshot does not show ``what``."""
    missing = f"not found in this snapshot: {what}"
    return _Graded("closed", notes or missing, None, (), missing)


def _weights_end(x: _Inputs) -> _Graded:
    """The index grades availability here ("shared", "partially/not fully shared, e.g.
    gated downloads"); the terms are its ``licenses`` parameter. Weights that no license
    lets anyone use are not freely available either."""
    w = x.detected["Model parameters (Final)"]
    if not w.present:
        return _closed("weight files")
    evidence = _ev(w)
    problems = []
    if x.gated is not None:
        problems.append("gated download (access form on the Hub)")
        evidence += (x.gated,)
    if x.lic.state in ("none", "unidentified"):
        problems.append("no identified license, so free availability is not confirmed")
    if problems:
        return _Graded(
            "partial", "weights in the release; " + "; ".join(problems), _first_link(w), evidence
        )
    terms = (
        f"under {x.lic.display}"
        if x.lic.state == "open"
        else f"shared under {x.lic.display}, whose terms are graded under licenses, not here"
    )
    return _Graded("open", f"weights in the release {terms}", _first_link(w), evidence)


def _data_end(x: _Inputs) -> _Graded:
    info = x.detected.data_information()
    listed = [s for s in info.listed if s.where != "card" or s.url]
    if listed and not info.undisclosed:
        return _Graded(
            "open",
            f"{info.summary()}: every source the card names is shared; "
            "that no other data was used is not verified",
            listed[0].location,
            _ev(listed) + _ev(info.described, 1),
        )
    if listed:
        return _Graded(
            "closed",
            f"{info.summary()}: some sources are named, but the card says others are not "
            "public, and a `datasets:` entry need not be training data",
            listed[0].location,
            _ev(listed, 1) + _ev(info.undisclosed, 1),
            "not found in this snapshot: the sources the card says are not public",
        )
    if info.described:
        return _Graded(
            "closed",
            f"{info.summary()}, but no source is shared (listed with where to get it)",
            info.described[0].location,
            _ev(info.described, 1),
            "not found in this snapshot: a listing of the training datasets",
        )
    return _closed("a description or a listing of the training data")


def _parents(x: _Inputs) -> tuple[Parent, ...]:
    """The base models the release names: front matter, else the card's prose (lineage)."""
    lineage = getattr(x.lic, "lineage", None)
    return tuple(getattr(lineage, "parents", ()))


def _base(x: _Inputs) -> tuple[str, ...]:
    card = x.snap.card
    declared = card.card.base_model if card is not None else ()
    return declared or tuple(p.name for p in _parents(x))


def _base_evidence(x: _Inputs) -> tuple[Evidence, ...]:
    card = x.snap.card
    if card is None:
        return ()
    if not card.card.base_model:
        return tuple(p.evidence("base model named in the card") for p in _parents(x)[:2])
    return (
        Evidence(
            path=card.path,
            line=card.card.line_of("base_model"),
            pointer="base_model",
            excerpt=", ".join(_base(x)[:5]),
            note="base model declared in the card",
        ),
    )


def _where_named(x: _Inputs) -> str:
    card = x.snap.card
    if card is not None and card.card.base_model:
        return "named in base_model"
    return "named in the card's prose, lower confidence"


def _weights_base(x: _Inputs) -> _Graded:
    base = _base(x)
    if not base:
        g = _weights_end(x)
        return _Graded(
            g.grade,
            f"no base_model declared, mirrors the end model: {g.notes}",
            g.link,
            g.evidence,
            g.not_found,
        )
    more = f" (and {len(base) - 1} more)" if len(base) > 1 else ""
    return _Graded(
        "partial",
        f"base model {base[0]}{more} ({_where_named(x)}); its weights, gating and terms are not "
        "in this snapshot",
        f"https://huggingface.co/{base[0]}" if "/" in base[0] else None,
        _base_evidence(x),
        "not found in this snapshot: the base model's weights and terms",
    )


def _data_base(x: _Inputs) -> _Graded:
    base = _base(x)
    if not base:
        g = _data_end(x)
        return _Graded(
            g.grade,
            f"no base_model declared, mirrors the end model: {g.notes}",
            g.link,
            g.evidence,
            g.not_found,
        )
    return _Graded(
        "closed",
        f"the training data of the base model {base[0]} is not documented in this snapshot",
        f"https://huggingface.co/{base[0]}" if "/" in base[0] else None,
        _base_evidence(x),
        "not found in this snapshot: the base model's training data",
    )


def _training_code(x: _Inputs) -> _Graded:
    code = x.detected["Training code"]
    prep = x.detected["Data preprocessing code"]
    if not code.present:
        return _closed("training code in the release or linked from the card")
    if prep.present and x.lic.state == "open" and not code.linked:
        return _Graded(
            "open",
            "training and data-processing code ship with the release",
            _first_link(code),
            _ev(code, 1) + _ev(prep, 1),
        )
    missing = (
        "data-processing code not found"
        if not prep.present
        else "linked code: whether it is complete was not verified"
        if code.linked
        else f"license: {x.lic.display}"
    )
    return _Graded(
        "partial", f"training code found; {missing}", _first_link(code), _ev(code) + _ev(prep, 1)
    )


def _code_docs(x: _Inputs) -> _Graded:
    code = x.detected["Training code"]
    if not code.present:
        return _closed("training code, so no code documentation")
    docs = tables.detect().code_docs
    documented = [s for s in code.sightings if docs.search(f"{s.excerpt or ''} {s.url or ''}")]
    if documented:
        return _Graded(
            "partial",
            "the card points to documentation of the training code; whether every step is "
            "documented needs a reviewer",
            documented[0].location,
            _ev(documented, 1),
        )
    return _Graded(
        "closed",
        "training code found, but the snapshot shows no documentation of it",
        _first_link(code),
        _ev(code, 1),
        "not found in this snapshot: documentation of the training code",
    )


def _sections(card: CardText | None, pattern: Callable[[str], object]) -> list[Evidence]:
    if card is None:
        return []
    return [
        Evidence(path=card.path, line=s.line, excerpt=s.title, note=f"{s.chars:,} characters")
        for s in card.sections
        if pattern(s.title) and s.chars >= 40
    ]


def _hardware_architecture(x: _Inputs) -> _Graded:
    t = tables.osai()
    hardware = _sections(x.snap.card, t.hardware_headings.search)
    arch = _sections(x.snap.card, t.architecture_headings.search)
    path = x.snap.card.path if x.snap.card else None
    if hardware and arch:
        return _Graded(
            "partial",
            "the card documents the architecture and the training hardware; whether the setup "
            "is fully documented needs a reviewer (the paper, if any)",
            path,
            (hardware[0], arch[0]),
        )
    if hardware or arch:
        what, other = ("hardware", "architecture") if hardware else ("architecture", "hardware")
        return _Graded(
            "closed",
            f"the card documents the {what} only; the index asks for both the architecture and "
            "the training setup",
            path,
            tuple(hardware[:1] + arch[:1]),
            f"not found in this snapshot: documentation of the {other}",
        )
    note = (
        "only config.json states architecture hyperparameters; the card documents neither the "
        "architecture nor the training setup"
        if x.snap.config_path is not None
        else None
    )
    return _closed("documentation of the architecture or the training hardware", note)


def _paper_ev(p: PaperRef, path: str | None) -> Evidence:
    note = "cited in the card" + ("" if p.url else " (no link)")
    return Evidence(path=path, line=p.line, excerpt=p.where, note=note)


def _preprint(x: _Inputs) -> _Graded:
    d = tables.detect()
    pre = [p for p in x.papers if p.url and any(r.search(p.url) for r in d.preprint)]
    path = x.snap.card.path if x.snap.card else None
    if pre:
        return _Graded(
            "open",
            f"{len(pre)} archived preprint(s) cited as the release's own; whether they detail "
            "every stage of the system needs a reviewer",
            pre[0].url,
            tuple(_paper_ev(p, path) for p in pre[:3]),
        )
    return _closed("an archived preprint cited as the release's own")


def _paper(x: _Inputs) -> _Graded:
    reviewed = [p for p in x.papers if p.peer_reviewed]
    path = x.snap.card.path if x.snap.card else None
    if reviewed:
        return _Graded(
            "partial",
            "peer-reviewed publication cited; whether it covers every part of the system "
            "needs a reviewer",
            reviewed[0].url,
            tuple(_paper_ev(p, path) for p in reviewed[:3]),
        )
    return _closed(
        "a peer-reviewed publication (arXiv is a preprint)",
    )


MODELCARD_TOPICS = ("uses", "limitations", "evaluation", "training", "architecture")
BUILD_TOPICS = ("training", "architecture")
"""Topics that give insight into how the model was built (the index's partial)."""
"""Names of the osai.yaml ``modelcard_sections`` patterns, in their order."""
# A topic is also covered where the MOF grid found its component in the card (a
# model-index is evaluation results): one detection, so the two grids agree.
TOPIC_COMPONENTS = {
    "evaluation": ("Evaluation results",),
    "training": ("Data card",),
}


def _card_topics(x: _Inputs, card: CardText) -> list[str]:
    t = tables.osai()
    covered: list[str] = []
    for name, pattern in zip(MODELCARD_TOPICS, t.modelcard_sections, strict=True):
        by_heading = any(pattern.search(s.title) and s.chars >= 40 for s in card.sections)
        by_component = any(
            s.path == card.path and s.where != "link"
            for c in TOPIC_COMPONENTS.get(name, ())
            if c in x.detected
            for s in x.detected[c].sightings
        )
        if by_heading or by_component:
            covered.append(name)
    return covered


def _modelcard(x: _Inputs) -> _Graded:
    card = x.snap.card
    if card is None:
        return _closed("a model card")
    covered = _card_topics(x, card)
    ev = Evidence(path=card.path, note=f"{len(card.sections)} sections")
    missing = [name for name in MODELCARD_TOPICS if name not in covered]
    listing = f" ({', '.join(covered)})" if covered else ""
    # The index's partial: "partial insight on model architecture, training, fine-tuning,
    # and evaluation". A card that shows how the model was built (its architecture or its
    # training) gives that insight; one whose only technical content is benchmark scores or
    # usage does not (the index grades such cards closed).
    if any(n in covered for n in BUILD_TOPICS):
        more = (
            "; whether it is comprehensive (the index's open) needs a reviewer"
            if not missing and card.card.has_front_matter
            else f"; missing: {', '.join(missing)}"
            if missing
            else "; no metadata block"
        )
        return _Graded(
            "partial",
            f"model card covers {len(covered)} of {len(MODELCARD_TOPICS)} topics{listing}{more}",
            card.path,
            (ev,),
        )
    return _Graded(
        "closed",
        f"model card with limited information: {len(covered)} of {len(MODELCARD_TOPICS)} "
        f"topics{listing}",
        card.path,
        (ev,),
        "not found in this snapshot: sections on how the model was built (training, architecture)",
    )


def _datasheet(x: _Inputs) -> _Graded:
    card = x.detected["Data card"]
    files = [s for s in card.sightings if s.where == "release"]
    if files:
        return _Graded(
            "open",
            "a data card or datasheet ships with the release; completeness (Gebru et al.) "
            "not verified",
            files[0].location,
            (files[0].evidence(),),
        )
    linked = [s for s in card.sightings if s.where == "link"]
    if linked:
        return _Graded(
            "partial",
            "the card links a datasheet; its coverage of collection and curation needs a reviewer",
            linked[0].location,
            _ev(linked, 1),
        )
    info = x.detected.data_information()
    if info.found:
        return _Graded(
            "closed",
            f"{info.summary()} in the model card, which is no datasheet in the index's sense",
            _first_link(card) or _first_link(x.detected["Datasets"]),
            _ev(info.described, 1) + _ev(info.listed, 1),
            "not found in this snapshot: a datasheet (Gebru et al. 2021) or an EU AI Act "
            "training-data summary",
        )
    return _closed("a datasheet or any description of the training data")


def _inherited(lic: ReleaseLicense) -> str:
    """'; declared apache-2.0, effectively bound by ... through base_model' when the
    effective license (lineage) adds a base model's terms, else ''."""
    reason = getattr(lic, "reason", "")
    return f"; {reason}" if getattr(lic, "inherited", ()) and reason else ""


def _licenses(x: _Inputs) -> _Graded:
    lic = x.lic
    evidence = tuple(lic.evidence()[:3])
    if lic.state in ("none", "unidentified"):
        what = "no license" if lic.state == "none" else "no identified license"
        return _Graded(
            "closed",
            f"{what}: the project is not licensed clearly",
            lic.link,
            evidence,
            "not found in this snapshot: an identified license",
        )
    if lic.state == "restricted":
        return _Graded(
            "closed",
            f"{lic.display}: {restriction_summary(lic.restrictions)}{_inherited(lic)}",
            lic.link,
            evidence,
        )
    if lic.state == "not-open":
        return _Graded(
            "closed", f"{lic.display} is not an open license{_inherited(lic)}", lic.link, evidence
        )
    kind = "OSI-approved" if lic.osi else "open, not OSI-approved"
    code = x.detected["Training code"]
    data = x.detected.data_information()
    if code.present and data.listed and not data.undisclosed and not code.linked:
        return _Graded(
            "open",
            f"weights and the shipped training code under {lic.display} ({kind}); "
            "dataset licenses not checked",
            lic.link,
            evidence,
        )
    covered = ["weights"]
    if code.present:
        covered.append(
            "training code (linked: its own license unchecked)" if code.linked else "training code"
        )
    if data.listed and not data.undisclosed:
        covered.append("training data (listed: dataset licenses unchecked)")
    if len(covered) >= 2:
        return _Graded(
            "partial",
            f"{' and '.join(covered)} under {lic.display} ({kind}); the index's partial: at "
            "least two of weights, training code and training data",
            lic.link,
            evidence,
        )
    return _Graded(
        "closed",
        f"only the weights are shown under {lic.display} ({kind}); the index asks that at least "
        "two of weights, training code and training data be openly licensed",
        lic.link,
        evidence,
        "not found in this snapshot: openly licensed training code or training data",
    )


_GRADERS: dict[str, Callable[[_Inputs], _Graded]] = {
    "weights_endmodel": _weights_end,
    "weights_basemodel": _weights_base,
    "datasources_endmodel": _data_end,
    "datasources_basemodel": _data_base,
    "trainingcode": _training_code,
    "code": _code_docs,
    "hardware_architecture": _hardware_architecture,
    "preprint": _preprint,
    "paper": _paper,
    "modelcard": _modelcard,
    "datasheet": _datasheet,
    "licenses": _licenses,
}


def grade_osai(
    snap: Snapshot,
    detected: Mapping[str, Detected],
    lic: ReleaseLicense,
    papers: tuple[PaperRef, ...] | None = None,
) -> tuple[OsaiItem, ...]:
    """Grade all 12 parameters, in the index's order, from the shared evidence set."""
    evidence = detected if isinstance(detected, EvidenceSet) else EvidenceSet(snap, dict(detected))
    x = _Inputs(
        snap,
        evidence,
        lic,
        evidence.papers if papers is None else papers,
        gating(snap.card, snap.source_gating),
    )
    items = []
    for param in tables.osai().params:
        g = _GRADERS[param.ref](x)
        ev = g.evidence
        if g.not_found and not ev:
            ev = (Evidence(note=f"{g.not_found}; the index asks: {param.question}"),)
        items.append(OsaiItem(param, g.grade, g.notes, g.link, ev, g.not_found))
    return tuple(items)


def score(items: Sequence[OsaiItem]) -> OsaiScore:
    """The index's score over the scored (not unknown) parameters."""
    values = tables.osai().scores
    scored = [i for i in items if i.grade != "unknown"]
    not_found = sum(1 for i in scored if i.not_found)

    def mean(xs: Sequence[OsaiItem]) -> float | None:
        return round(sum(values[i.grade] for i in xs) / len(xs), 3) if xs else None

    groups = {
        ref: mean([i for i in scored if i.param.group == ref]) for ref, _ in tables.osai().groups
    }
    return OsaiScore(mean(scored), groups, len(scored), len(items) - len(scored), not_found)
