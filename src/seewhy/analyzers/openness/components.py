"""Find the Model Openness Framework components a release snapshot shows.

Each component is looked for in the release's files, in its model card
(sections, front matter, code blocks) and in the links the card gives, by the
rules of ``data/openness/detect.yaml``. A sighting says where: ``release``
(a file of the release), ``card`` (a part of the model card) or ``link``
(outside the release: a URL, a Hub dataset or a library class).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from seewhy.analyzers.openness import tables
from seewhy.analyzers.openness.snapshot import Link, Snapshot
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
                "link", snap.card.path, f"{kind} cited in the card", line=p.line, url=p.url
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
            if h.title.search(s.title) and s.chars >= h.min_chars and (s.has_table or not h.table):
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
                excerpt=link.text.strip(),
            )


def _link_matches(rule: tables.ComponentRule, link: Link) -> bool:
    return any(r.url.search(link.url) and r.context.search(link.text) for r in rule.links)


def detect_components(snap: Snapshot) -> dict[str, Detected]:
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
    return out
