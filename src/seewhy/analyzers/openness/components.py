"""Find the Model Openness Framework components a release snapshot shows.

Each component is looked for in the release's files, in its model card
(sections, front matter, code blocks) and in the links the card gives, by the
rules of ``data/openness/detect.yaml``. A sighting says where: ``release``
(a file of the release), ``card`` (a part of the model card) or ``link``
(outside the release: a URL, a Hub dataset or a library class).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Literal

from seewhy.analyzers.openness import tables
from seewhy.analyzers.openness.snapshot import Link, PaperRef, Snapshot
from seewhy.report.humanize import clip
from seewhy.report.model import Evidence

Where = Literal["release", "card", "link"]
MAX_SIGHTINGS = 5
_ORDER = {"release": 0, "card": 1, "link": 2}


@dataclass(frozen=True)
class Sighting:
    """One piece of evidence that a component exists."""

    where: Where
    path: str | None  # release path of the evidence (the file, or the card)
    note: str
    line: int | None = None
    pointer: str | None = None
    offset: int | None = None
    url: str | None = None  # for links: where the component is
    excerpt: str | None = None

    @property
    def location(self) -> str | None:
        """Where the component is: its URL when linked, else its release path."""
        return self.url or self.path

    def evidence(self) -> Evidence:
        """The sighting as report evidence."""
        excerpt = self.excerpt if self.excerpt is not None else self.url
        return Evidence(
            path=self.path,
            line=self.line,
            pointer=self.pointer,
            offset=self.offset,
            excerpt=clip(excerpt, 240) if excerpt else None,
            note=self.note,
        )


@dataclass(frozen=True)
class Detected:
    """A MOF component and where the snapshot shows it (nothing: not found)."""

    component: tables.MofComponent
    sightings: tuple[Sighting, ...]
    need: str

    @property
    def present(self) -> bool:
        """Whether any evidence of the component was found."""
        return bool(self.sightings)

    @property
    def linked(self) -> bool:
        """Whether every sighting is outside the release."""
        return self.present and all(s.where == "link" for s in self.sightings)

    @property
    def first(self) -> Sighting | None:
        """The best sighting: in the release, then in the card, then linked."""
        return self.sightings[0] if self.sightings else None


# ------------------------------------------------------------------ hooks


Hook = Callable[[Snapshot], Iterator[Sighting]]


def _weights(snap: Snapshot, intermediate: bool) -> Iterator[Sighting]:
    d = tables.detect()
    for f in snap.files:
        if not f.kind.is_weights or d.training_state.search(f.path):
            continue
        if bool(d.intermediate_dirs.search(f.path)) == intermediate:
            yield Sighting("release", f.path, f"{f.kind.value} weights, {f.size:,} bytes")


def _final_weights(snap: Snapshot) -> Iterator[Sighting]:
    return _weights(snap, intermediate=False)


def _intermediate_weights(snap: Snapshot) -> Iterator[Sighting]:
    return _weights(snap, intermediate=True)


def _auto_map(snap: Snapshot) -> Iterator[Sighting]:
    if snap.config is not None and snap.config.auto_map:
        modules = sorted({str(v).split(".")[0] for v in snap.config.auto_map.values()})
        yield Sighting(
            "release",
            snap.config_path,
            "auto_map names modelling code that ships with the release",
            pointer="/auto_map",
            excerpt=", ".join(modules)[:240],
        )


def _config_architectures(snap: Snapshot) -> Iterator[Sighting]:
    """config.json naming a library class: the architecture's code is published, in the
    library that implements the class, outside the release. Counted (as a link) because
    that is how the Model Openness Tool's reviewers count it: the entries of Pythia,
    GPT-NeoX, OLMo and Granite list Model architecture under the release license with no
    modelling code in the repository. The license MOT then gives it is the release's by
    its rule, not the library's, and the grade says the code is outside the release."""
    if snap.config is not None and snap.config.architectures:
        names = ", ".join(snap.config.architectures)
        yield Sighting(
            "link",
            snap.config_path,
            f"architecture implemented by the library class {names} (code outside the release)",
            pointer="/architectures",
            excerpt=names,
        )


def _gguf_architecture(snap: Snapshot) -> Iterator[Sighting]:
    for g in snap.ggufs:
        if g.architecture:
            yield Sighting(
                "link",
                g.path,
                f"GGUF architecture {g.architecture!r}, implemented by the runtime "
                "(outside the release)",
                pointer="general.architecture",
                excerpt=g.architecture,
            )


def _gguf_metadata(snap: Snapshot) -> Iterator[Sighting]:
    for g in snap.ggufs:
        yield Sighting("release", g.path, "GGUF header metadata")


def _model_card(snap: Snapshot) -> Iterator[Sighting]:
    if snap.card is not None:
        note = "model card" if snap.card.card.has_front_matter else "model card (no front matter)"
        yield Sighting("release", snap.card.path, note)


def _datasets_field(snap: Snapshot) -> Iterator[Sighting]:
    if snap.card is None:
        return
    card = snap.card.card
    for ds in card.datasets[:MAX_SIGHTINGS]:
        yield Sighting(
            "link",
            snap.card.path,
            "dataset listed under datasets: in the card",
            line=card.line_of("datasets"),
            pointer="datasets",
            url=f"https://huggingface.co/datasets/{ds}",
            excerpt=ds,
        )


def _model_index(snap: Snapshot) -> Iterator[Sighting]:
    if snap.card is not None and snap.card.card.eval_results:
        results = snap.card.card.eval_results
        yield Sighting(
            "card",
            snap.card.path,
            f"model-index with {len(results)} results",
            line=results[0].line or snap.card.card.line_of("model-index"),
            pointer="model-index",
        )


def _model_index_datasets(snap: Snapshot) -> Iterator[Sighting]:
    if snap.card is None:
        return
    seen: set[str] = set()
    for r in snap.card.card.eval_results:
        ds = r.dataset_type
        if ds and "/" in ds and ds not in seen:
            seen.add(ds)
            yield Sighting(
                "link",
                snap.card.path,
                "evaluation dataset named in the model-index",
                line=r.line,
                pointer="model-index",
                url=f"https://huggingface.co/datasets/{ds}",
                excerpt=ds,
            )


# table rows (Markdown, HTML), <summary> lines of collapsed plots and headings
_TABLE_LINE = re.compile(
    r"^[ \t]*\|.*\|[ \t]*$|<t[dhr]\b[^\n]*$|<summary\b[^\n]*$|^[ ]{0,3}#{1,6}[ \t][^\n]*$",
    re.MULTILINE | re.IGNORECASE,
)
MAX_TABLE_LINES = 5000


def _benchmarks(snap: Snapshot) -> tuple[dict[str, int], list[int]]:
    """Public benchmarks named in the card's tables (Markdown or HTML), each with the first
    line naming it, and the lines in order."""
    card = snap.card
    named: dict[str, int] = {}
    if card is None:
        return named, []
    pattern = tables.detect().benchmarks
    for m in islice(_TABLE_LINE.finditer(card.text, card.body_offset), MAX_TABLE_LINES):
        line = card.line_at(m.start())
        if card.in_code(line):
            continue
        for b in pattern.finditer(m.group(0)):
            key = re.sub(r"[\s_-]+", "", b.group(1).lower())
            named.setdefault(key, line)
    return named, sorted(set(named.values()))


def _benchmark_sightings(snap: Snapshot, results: bool) -> Iterator[Sighting]:
    named, lines = _benchmarks(snap)
    card = snap.card
    if card is None or len(named) < tables.detect().benchmark_min:
        return
    names = ", ".join(sorted(named)[:12]) + (", ..." if len(named) > 12 else "")
    first = lines[0]
    excerpt = card.lines[first - 1].strip()
    if results:
        note = f"results table naming {len(named)} public benchmarks ({names})"
        yield Sighting("card", card.path, note, line=first, excerpt=excerpt)
    else:
        note = (
            f"{len(named)} public benchmarks named in the card's results table ({names}); "
            "the data is outside the release"
        )
        yield Sighting("link", card.path, note, line=first, excerpt=excerpt)


def _benchmark_results(snap: Snapshot) -> Iterator[Sighting]:
    return _benchmark_sightings(snap, results=True)


def _benchmark_data(snap: Snapshot) -> Iterator[Sighting]:
    return _benchmark_sightings(snap, results=False)


def _paper_sightings(snap: Snapshot, technical: bool) -> Iterator[Sighting]:
    d = tables.detect()
    pattern = d.technical_report_files if technical else d.research_paper_files
    for f in snap.files:
        if pattern.search(f.path):
            yield Sighting("release", f.path, "document in the release")
    kind = "technical report" if technical else "paper"
    for p in snap.card.papers if snap.card is not None else ():
        if p.technical_report == technical and snap.card is not None:
            yield Sighting(
                "link",
                snap.card.path,
                f"{kind} cited in the card"
                + ("" if p.url else " (a peer-reviewed venue, no link)"),
                line=p.line,
                url=p.url,
                excerpt=p.quote or None,
            )


def _technical_report(snap: Snapshot) -> Iterator[Sighting]:
    return _paper_sightings(snap, technical=True)


def _research_paper(snap: Snapshot) -> Iterator[Sighting]:
    return _paper_sightings(snap, technical=False)


HOOKS: dict[str, Hook] = {
    "final_weights": _final_weights,
    "intermediate_weights": _intermediate_weights,
    "auto_map": _auto_map,
    "config_architectures": _config_architectures,
    "gguf_architecture": _gguf_architecture,
    "gguf_metadata": _gguf_metadata,
    "model_card": _model_card,
    "datasets_field": _datasets_field,
    "model_index": _model_index,
    "model_index_datasets": _model_index_datasets,
    "benchmark_results": _benchmark_results,
    "benchmark_data": _benchmark_data,
    "technical_report": _technical_report,
    "research_paper": _research_paper,
}


# ------------------------------------------------------------------ generic rules


def _rule_sightings(rule: tables.ComponentRule, snap: Snapshot) -> Iterator[Sighting]:
    for f in snap.files:
        if any(p.search(f.path) for p in rule.files):
            yield Sighting("release", f.path, f"file named like {rule.name.lower()}")
    card = snap.card
    if card is None:
        return
    for s in card.sections:
        for h in rule.headings:
            shown = s.has_table or (h.media and s.has_media) or not h.table
            if h.title.search(s.title) and s.chars >= h.min_chars and shown:
                yield Sighting(
                    "card",
                    card.path,
                    f"card section ({s.chars:,} characters)",
                    line=s.line,
                    excerpt=s.title,
                )
                break
    for pattern, code in ((rule.card_text, False), (rule.card_code, True)):
        if pattern is None:
            continue
        note = "usage code in the card" if code else "mentioned in the card"
        for number in card.find(pattern, code=code, limit=MAX_SIGHTINGS):
            excerpt = card.lines[number - 1].strip()
            yield Sighting("card", card.path, note, line=number, excerpt=excerpt)
    for link in card.links:
        if _link_matches(rule, link):
            yield Sighting(
                "link",
                card.path,
                "linked from the card",
                line=link.line,
                url=link.url,
                excerpt=(f"[{link.anchor}] " if link.anchor else "") + link.text.strip(),
            )


def _link_matches(rule: tables.ComponentRule, link: Link) -> bool:
    return any(
        r.url.search(link.url) and r.context.search(link.near if r.line_only else link.words)
        for r in rule.links
    )


class EvidenceSet(dict[str, Detected]):
    """Every MOF component with where the snapshot shows it (a dict keyed by MOF name), and
    the evidence the frameworks read beside it. MOF, OSAID and the OSAI grid all read this
    one set, so that they cannot disagree on what the release shows."""

    def __init__(self, snap: Snapshot, detected: dict[str, Detected]) -> None:
        super().__init__(detected)
        self.snapshot = snap
        self.papers: tuple[PaperRef, ...] = snap.card.papers if snap.card is not None else ()
        self.undisclosed_data: tuple[Sighting, ...] = tuple(_undisclosed(snap))

    def data_information(self) -> DataInformation:
        """What the release shows about its training data."""
        return DataInformation(
            described=self["Data card"].sightings,
            listed=self["Datasets"].sightings,
            undisclosed=self.undisclosed_data,
        )


@dataclass(frozen=True)
class DataInformation:
    """The training data as a snapshot shows it: described (a data card or a training-data
    section), listed (datasets named with where to get them), and the card's words saying
    that some of it is not public."""

    described: tuple[Sighting, ...]
    listed: tuple[Sighting, ...]
    undisclosed: tuple[Sighting, ...]

    @property
    def found(self) -> bool:
        """Whether the snapshot says anything about the training data."""
        return bool(self.described or self.listed)

    def summary(self) -> str:
        """'training data described (README.md:32) and datasets listed (allenai/dolma)'."""
        parts = []
        if self.described:
            parts.append(f"training data described ({_where(self.described[0])})")
        if self.listed:
            names = ", ".join(s.excerpt or s.location or "?" for s in self.listed[:3])
            parts.append(f"datasets listed ({names})")
        if not parts:
            return "training data neither described nor listed"
        text = " and ".join(parts)
        if self.undisclosed:
            text += f"; the card says some data is not public ({_where(self.undisclosed[0])})"
        return text


def _where(s: Sighting) -> str:
    if s.url:
        return s.url
    return f"{s.path}:{s.line}" if s.line else str(s.path)


def _undisclosed(snap: Snapshot) -> Iterator[Sighting]:
    card = snap.card
    if card is None:
        return
    pattern = tables.detect().undisclosed_data
    for number in card.find(pattern, code=False, limit=3):
        yield Sighting(
            "card",
            card.path,
            "the card says some training data is not public",
            line=number,
            excerpt=card.lines[number - 1].strip(),
        )


def detect_components(snap: Snapshot) -> EvidenceSet:
    """Every MOF component (in MOF order) with where the snapshot shows it."""
    rules = tables.detect().components
    out: dict[str, Detected] = {}
    for component in tables.mot().components:
        rule = rules[component.name]
        found: list[Sighting] = []
        for hook in rule.hooks:
            found.extend(HOOKS[hook](snap))
        found.extend(_rule_sightings(rule, snap))
        unique = list(dict.fromkeys(found))
        unique.sort(key=lambda s: _ORDER[s.where])  # stable: keeps file order within a kind
        out[component.name] = Detected(component, tuple(unique[:MAX_SIGHTINGS]), rule.need)
    return EvidenceSet(snap, out)
