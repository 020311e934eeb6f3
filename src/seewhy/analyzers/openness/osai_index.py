"""The European Open Source AI Index grid: 12 parameters, open/partial/closed.

Each parameter gets the index's class from what the snapshot shows, with
the link and a note a reviewer can check; what the snapshot cannot show is
"unknown" and is not scored. Scoring is the index's own: open 1, partial
0.5, closed 0, a group's score the mean of its parameters and the total the
mean over every scored parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from seewhy.analyzers.openness import tables
from seewhy.analyzers.openness.components import Detected
from seewhy.analyzers.openness.licensing import ReleaseLicense, restriction_summary
from seewhy.analyzers.openness.snapshot import CardText, PaperRef, Snapshot
from seewhy.report.model import Evidence

Grade = Literal["open", "partial", "closed", "unknown"]
_Graded = tuple[Grade, str, str | None, tuple[Evidence, ...]]
"""A parameter's class, notes, link and evidence."""
GATING_KEYS = ("extra_gated_prompt", "extra_gated_fields", "extra_gated_eu_disallowed", "gated")


@dataclass(frozen=True)
class OsaiItem:
    """One parameter of the index, graded."""

    param: tables.OsaiParam
    grade: Grade
    notes: str
    link: str | None = None
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class OsaiScore:
    """The index's score; ``None`` where no parameter could be scored."""

    total: float | None
    groups: Mapping[str, float | None]  # group ref -> mean
    scored: int
    unknown: int


@dataclass(frozen=True)
class _Inputs:
    snap: Snapshot
    detected: Mapping[str, Detected]
    lic: ReleaseLicense
    papers: tuple[PaperRef, ...]
    gated: Evidence | None


def gating(card: CardText | None) -> Evidence | None:
    """Evidence that downloads are gated (an access form or agreement on the Hub)."""
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


def _ev(d: Detected, n: int = 2) -> tuple[Evidence, ...]:
    return tuple(s.evidence() for s in d.sightings[:n])


def _weights_end(x: _Inputs) -> _Graded:
    w = x.detected["Model parameters (Final)"]
    if not w.present:
        return "unknown", "no weight files in this snapshot", None, ()
    evidence = _ev(w)
    problems = []
    if x.gated is not None:
        problems.append("gated download (access form on the Hub)")
        evidence += (x.gated,)
    if x.lic.state == "restricted":
        problems.append(f"{x.lic.display}: {restriction_summary(x.lic.restrictions)}")
    elif x.lic.state in ("none", "unidentified"):
        problems.append("no identified license, so free availability is not confirmed")
    elif x.lic.state == "not-open":
        problems.append(f"under {x.lic.display}, not an open license")
    if problems:
        return "partial", "weights in the release; " + "; ".join(problems), _first_link(w), evidence
    return "open", f"weights in the release under {x.lic.display}", _first_link(w), evidence


def _data_end(x: _Inputs) -> _Graded:
    datasets = x.detected["Datasets"]
    card = x.detected["Data card"]
    if datasets.present and card.present:
        return (
            "open",
            "datasets listed and the training data described; completeness not verified",
            _first_link(datasets),
            _ev(datasets, 1) + _ev(card, 1),
        )
    if datasets.present:
        return (
            "partial",
            "datasets listed, training data not described",
            _first_link(datasets),
            _ev(datasets),
        )
    if card.present:
        return (
            "partial",
            "training data described, datasets not listed",
            _first_link(card),
            _ev(card),
        )
    return "unknown", "no datasets listed and no training-data description in the card", None, ()


def _mirror_or_base(
    x: _Inputs,
    end: Callable[[_Inputs], _Graded],
    what: str,
) -> _Graded:
    card = x.snap.card
    base = card.card.base_model if card is not None else ()
    if card is not None and base:
        ev = Evidence(path=card.path, line=card.card.line_of("base_model"), pointer="base_model")
        return (
            "unknown",
            f"base model {', '.join(base)} is not in this snapshot: a reviewer needs its {what}",
            f"https://huggingface.co/{base[0]}",
            (ev,),
        )
    grade, notes, link, evidence = end(x)
    return grade, f"no base_model declared, mirrors the end model: {notes}", link, evidence


def _training_code(x: _Inputs) -> _Graded:
    code = x.detected["Training code"]
    prep = x.detected["Data preprocessing code"]
    if not code.present:
        return "unknown", "no training code in the release or linked from the card", None, ()
    if prep.present and x.lic.state == "open":
        return (
            "open",
            "training and data-processing code found",
            _first_link(code),
            _ev(code, 1) + _ev(prep, 1),
        )
    missing = "data-processing code not found" if not prep.present else f"license: {x.lic.display}"
    return "partial", f"training code found; {missing}", _first_link(code), _ev(code)


def _code_docs(x: _Inputs) -> _Graded:
    code = x.detected["Training code"]
    if not code.present:
        return "unknown", "no training code found, so no code documentation to grade", None, ()
    return (
        "partial",
        "training code found; how well it is documented needs a reviewer",
        _first_link(code),
        _ev(code, 1),
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
        return (
            "open",
            "the card documents the architecture and the hardware",
            path,
            (hardware[0], arch[0]),
        )
    if hardware or arch:
        what = "hardware" if hardware else "architecture"
        return (
            "partial",
            f"the card documents the {what} only",
            path,
            tuple(hardware[:1] + arch[:1]),
        )
    if x.snap.config_path is not None:
        ev = Evidence(path=x.snap.config_path, note="architecture hyperparameters")
        return (
            "partial",
            "only config.json describes the architecture; hardware undocumented",
            x.snap.config_path,
            (ev,),
        )
    return "unknown", "no architecture or hardware documentation found", None, ()


def _paper_ev(p: PaperRef, path: str | None) -> Evidence:
    return Evidence(path=path, line=p.line, excerpt=p.url, note="cited in the card")


def _preprint(x: _Inputs) -> _Graded:
    d = tables.detect()
    pre = [p for p in x.papers if any(r.search(p.url) for r in d.preprint)]
    path = x.snap.card.path if x.snap.card else None
    if pre:
        return (
            "open",
            f"{len(pre)} preprint(s) cited; whether they detail the whole system needs a reviewer",
            pre[0].url,
            tuple(_paper_ev(p, path) for p in pre[:3]),
        )
    return "unknown", "no preprint cited in the card", None, ()


def _paper(x: _Inputs) -> _Graded:
    reviewed = [p for p in x.papers if p.peer_reviewed]
    path = x.snap.card.path if x.snap.card else None
    if reviewed:
        return (
            "open",
            "peer-reviewed publication cited; its coverage needs a reviewer",
            reviewed[0].url,
            tuple(_paper_ev(p, path) for p in reviewed[:3]),
        )
    return (
        "unknown",
        "no peer-reviewed publication cited in the card (arXiv is a preprint)",
        None,
        (),
    )


MODELCARD_TOPICS = ("uses", "limitations", "evaluation", "training")
"""Names of the osai.yaml ``modelcard_sections`` patterns, in their order."""
# A topic is also covered where the MOF grid found its component in the card (a
# model-index is evaluation results): one detection, so the two grids agree.
TOPIC_COMPONENTS = {"evaluation": ("Evaluation results",)}


def _card_topics(x: _Inputs, card: CardText) -> list[str]:
    t = tables.osai()
    covered: list[str] = []
    for name, pattern in zip(MODELCARD_TOPICS, t.modelcard_sections, strict=True):
        by_heading = any(pattern.search(s.title) for s in card.sections)
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
        return "unknown", "no model card in this snapshot", None, ()
    covered = _card_topics(x, card)
    ev = Evidence(path=card.path, note=f"{len(card.sections)} sections")
    if card.card.has_front_matter and len(covered) == len(MODELCARD_TOPICS):
        return (
            "open",
            "model card with metadata and sections on uses, limitations, evaluation and training",
            card.path,
            (ev,),
        )
    missing = [name for name in MODELCARD_TOPICS if name not in covered]
    return (
        "partial",
        f"model card covers {len(covered)} of {len(MODELCARD_TOPICS)} expected topics"
        + (f" ({', '.join(covered)})" if covered else "")
        + (f"; missing: {', '.join(missing)}" if missing else "; no metadata block"),
        card.path,
        (ev,),
    )


def _datasheet(x: _Inputs) -> _Graded:
    card = x.detected["Data card"]
    datasets = x.detected["Datasets"]
    files = [s for s in card.sightings if s.where == "release"]
    if files:
        return (
            "open",
            "a data card or datasheet ships with the release; "
            "completeness (Gebru et al.) not verified",
            files[0].location,
            (files[0].evidence(),),
        )
    if card.present:
        return (
            "partial",
            "training data described in the model card, no separate datasheet",
            _first_link(card),
            _ev(card, 1),
        )
    if datasets.present:
        return (
            "partial",
            "datasets listed; their dataset cards on the Hub were not checked",
            _first_link(datasets),
            _ev(datasets, 1),
        )
    return "unknown", "no datasheet or data description found", None, ()


def _licenses(x: _Inputs) -> _Graded:
    lic = x.lic
    evidence = tuple(lic.evidence()[:3])
    if lic.state in ("none", "unidentified"):
        return "unknown", "no identified license", lic.link, evidence
    if lic.state == "restricted":
        return (
            "closed",
            f"{lic.display}: {restriction_summary(lic.restrictions)}",
            lic.link,
            evidence,
        )
    if lic.state == "not-open":
        return "closed", f"{lic.display} is not an open license", lic.link, evidence
    kind = "OSI-approved" if lic.osi else "open, not OSI-approved"
    if x.detected["Training code"].present and x.detected["Datasets"].present:
        return (
            "open",
            f"{lic.display} ({kind}); dataset and linked-code licenses not checked",
            lic.link,
            evidence,
        )
    return (
        "partial",
        f"weights under {lic.display} ({kind}); training code and data not covered",
        lic.link,
        evidence,
    )


_GRADERS: dict[str, Callable[[_Inputs], _Graded]] = {
    "weights_endmodel": _weights_end,
    "weights_basemodel": lambda x: _mirror_or_base(x, _weights_end, "weights"),
    "datasources_endmodel": _data_end,
    "datasources_basemodel": lambda x: _mirror_or_base(x, _data_end, "training data"),
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
    papers: tuple[PaperRef, ...],
) -> tuple[OsaiItem, ...]:
    """Grade all 12 parameters, in the index's order."""
    x = _Inputs(snap, detected, lic, papers, gating(snap.card))
    items = []
    for param in tables.osai().params:
        grade, notes, link, evidence = _GRADERS[param.ref](x)
        if grade == "unknown" and not evidence:
            evidence = (
                Evidence(note=f"not found in the snapshot; the index asks: {param.question}"),
            )
        items.append(OsaiItem(param, grade, notes, link, evidence))
    return tuple(items)


def score(items: Sequence[OsaiItem]) -> OsaiScore:
    """The index's score over the scored (not unknown) parameters."""
    values = tables.osai().scores
    scored = [i for i in items if i.grade != "unknown"]

    def mean(xs: Sequence[OsaiItem]) -> float | None:
        return round(sum(values[i.grade] for i in xs) / len(xs), 3) if xs else None

    groups = {
        ref: mean([i for i in scored if i.param.group == ref]) for ref, _ in tables.osai().groups
    }
    return OsaiScore(mean(scored), groups, len(scored), len(items) - len(scored))
