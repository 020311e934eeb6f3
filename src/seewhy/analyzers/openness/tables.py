"""The openness knowledge base, loaded once from ``seewhy/data/openness/``.

Everything a contributor may need to change lives in those data files: the
MOF components and license lists copied from the Model Openness Tool, the
European Open Source AI Index parameters, where a snapshot shows each
component, the words that make an open-source claim and how license clause
tags read in a verdict. This module only parses them into frozen tables.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

_PACKAGE = "seewhy.data.openness"
_FLAGS = re.IGNORECASE


# libyaml's parser when PyYAML was built with it (ten times faster); the same safe
# constructor either way. These are seewhy's own data files, never a release's.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(name: str) -> Any:
    text = resources.files(_PACKAGE).joinpath(name).read_text("utf-8")
    return yaml.load(text, Loader=_SafeLoader)


def _load_json(name: str) -> Any:
    return json.loads(resources.files(_PACKAGE).joinpath(name).read_text("utf-8"))


def _regexes(values: Any) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(str(v), _FLAGS) for v in values or ())


def _alternation(values: Any) -> re.Pattern[str] | None:
    """Several regexes as one (one scan of a text instead of one per regex)."""
    if not values:
        return None
    return re.compile("|".join(f"(?:{v})" for v in values), _FLAGS)


# ------------------------------------------------------------------ MOF / MOT


@dataclass(frozen=True)
class MofComponent:
    """One component of the Model Openness Framework (``mof-settings.yaml``)."""

    id: int
    name: str
    description: str
    content_type: str  # code | data | document
    mof_class: int  # 1, 2 or 3
    required: bool

    @property
    def slug(self) -> str:
        """Fact-key form: ``Model parameters (Final)`` -> ``model_parameters_final``."""
        return re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_")


@dataclass(frozen=True)
class LicenseFlags:
    """What MOT's license table says about one license id."""

    osi: bool
    fsf: bool
    content_types: frozenset[str] = frozenset()


@dataclass(frozen=True)
class MotTables:
    """The Model Openness Tool's components, licenses and schema enums."""

    framework_name: str
    framework_version: str
    framework_date: str
    components: tuple[MofComponent, ...]
    class_labels: Mapping[int, str]
    technical_report_id: int
    research_paper_id: int
    licenses: Mapping[str, LicenseFlags]
    open_data: frozenset[str]
    open_extra: frozenset[str]
    release_types: tuple[str, ...]
    architectures: tuple[str, ...]
    treatments: tuple[str, ...]
    pipeline_types: Mapping[str, str]
    architecture_suffixes: tuple[tuple[str, str], ...]
    treatment_words: Mapping[str, str]
    canonical_ids: Mapping[str, str]  # lower-case id -> MOT's spelling

    def component(self, name: str) -> MofComponent:
        """The component with this exact MOF name (KeyError when there is none)."""
        for c in self.components:
            if c.name == name:
                return c
        raise KeyError(name)

    def by_id(self, cid: int) -> MofComponent:
        """The component with this MOT id."""
        for c in self.components:
            if c.id == cid:
                return c
        raise KeyError(cid)

    def required(self, mof_class: int) -> tuple[MofComponent, ...]:
        """Required components of one class (not cumulative), in file order."""
        return tuple(c for c in self.components if c.mof_class == mof_class and c.required)

    def optional(self, mof_class: int) -> tuple[MofComponent, ...]:
        """Optional components of one class, in file order."""
        return tuple(c for c in self.components if c.mof_class == mof_class and not c.required)

    def canonical(self, license_id: str | None) -> str | None:
        """The SPDX spelling MOT uses for ``license_id`` (case-insensitive), if it knows it."""
        if not license_id:
            return None
        return self.canonical_ids.get(license_id.lower())

    def is_open(self, license_id: str | None) -> bool:
        """``LicenseHandler::isOpenSourceLicense``: FSF-libre, OSI-approved, open data, OpenMDW."""
        lid = self.canonical(license_id)
        if lid is None:
            return False
        flags = self.licenses.get(lid)
        return (
            (flags is not None and (flags.osi or flags.fsf))
            or lid in self.open_data
            or lid in self.open_extra
        )

    def is_osi(self, license_id: str | None) -> bool:
        """Whether MOT's SPDX list marks the license OSI-approved."""
        lid = self.canonical(license_id)
        flags = self.licenses.get(lid) if lid else None
        return flags is not None and flags.osi

    def is_type_appropriate(self, license_id: str | None, content_type: str) -> bool:
        """Whether ``mof-licenses.json`` lists the license for this content type."""
        lid = self.canonical(license_id)
        flags = self.licenses.get(lid) if lid else None
        return flags is not None and content_type in flags.content_types

    def label(self, mof_class: int) -> str:
        """``ModelEvaluator::getClassLabel``."""
        return self.class_labels[mof_class]


@cache
def mot() -> MotTables:
    """Load the MOT tables (once)."""
    settings = _load_yaml("mof-settings.yaml")
    rules = _load_yaml("mot.yaml")
    components = tuple(
        MofComponent(
            id=int(c["id"]),
            name=str(c["name"]),
            description=str(c["description"]),
            content_type=str(c["content_type"]),
            mof_class=int(c["class"]),
            required=bool(c["required"]),
        )
        for c in settings["components"]
    )
    licenses: dict[str, LicenseFlags] = {}
    # MOT imports mof-licenses.json first, then the SPDX list; a license id
    # listed twice keeps its first flags, its content types are merged.
    for entry in _load_json("mof-licenses.json")["licenses"]:
        lid = str(entry["licenseId"])
        types = entry.get("ContentType") or ()
        types = (types,) if isinstance(types, str) else tuple(types)
        old = licenses.get(lid)
        licenses[lid] = LicenseFlags(
            osi=old.osi if old else bool(entry.get("isOsiApproved")),
            fsf=old.fsf if old else bool(entry.get("isFsfLibre")),
            content_types=frozenset(types) | (old.content_types if old else frozenset()),
        )
    for lid, flags in _load_json("spdx-licenses.json")["licenses"].items():
        licenses.setdefault(lid, LicenseFlags(osi=bool(flags["osi"]), fsf=bool(flags["fsf"])))
    framework = rules["framework"]
    open_data = frozenset(str(x) for x in rules["open_data_licenses"])
    open_extra = frozenset(str(x) for x in rules["open_licenses"])
    return MotTables(
        framework_name=str(framework["name"]),
        framework_version=str(framework["version"]),
        framework_date=str(framework["date"]),
        components=components,
        class_labels={int(k): str(v) for k, v in rules["class_labels"].items()},
        technical_report_id=int(rules["technical_report_id"]),
        research_paper_id=int(rules["research_paper_id"]),
        licenses=licenses,
        open_data=open_data,
        open_extra=open_extra,
        release_types=tuple(rules["release_types"]),
        architectures=tuple(rules["architectures"]),
        treatments=tuple(rules["treatments"]),
        pipeline_types=dict(rules["pipeline_types"]),
        architecture_suffixes=tuple(rules["architecture_suffixes"].items()),
        treatment_words={str(k): str(v) for k, v in rules["treatment_words"].items()},
        canonical_ids={i.lower(): i for i in (*licenses, *open_data, *open_extra)},
    )


# ------------------------------------------------------------------ detection


@dataclass(frozen=True)
class HeadingRule:
    """A card section that shows a component: its title, size and whether it has a table."""

    title: re.Pattern[str]
    min_chars: int
    table: bool
    media: bool = False  # with table: a plot or an image stands in for the table


@dataclass(frozen=True)
class LinkRule:
    """A URL in the card that shows a component when its line matches ``context``."""

    url: re.Pattern[str]
    context: re.Pattern[str]
    line_only: bool = False  # context read on the link's own line, not the lines before


@dataclass(frozen=True)
class ComponentRule:
    """Where a snapshot shows one component (``detect.yaml``)."""

    name: str
    hooks: tuple[str, ...]
    files: tuple[re.Pattern[str], ...]
    headings: tuple[HeadingRule, ...]
    card_text: re.Pattern[str] | None  # the rule's card_text regexes as one expression
    card_code: re.Pattern[str] | None
    links: tuple[LinkRule, ...]
    need: str


@dataclass(frozen=True)
class DetectTables:
    """Detection rules for every component, weights and papers."""

    components: Mapping[str, ComponentRule]
    intermediate_dirs: re.Pattern[str]
    training_state: re.Pattern[str]
    paper_urls: tuple[re.Pattern[str], ...]
    arxiv_refs: re.Pattern[str]
    own_paper_context: re.Pattern[str]
    own_paper_headings: re.Pattern[str]
    placeholder: re.Pattern[str]
    technical_report_context: re.Pattern[str]
    technical_report_files: re.Pattern[str]
    research_paper_files: re.Pattern[str]
    peer_reviewed: tuple[re.Pattern[str], ...]
    preprint: tuple[re.Pattern[str], ...]
    document_urls: re.Pattern[str]
    other_paper_context: re.Pattern[str]
    own_paper_words: re.Pattern[str]
    bibtex_venue: re.Pattern[str]
    venue_citation: re.Pattern[str]
    benchmarks: re.Pattern[str]
    benchmark_min: int
    undisclosed_data: re.Pattern[str]
    code_docs: re.Pattern[str]


@cache
def detect() -> DetectTables:
    """Load the detection rules (once)."""
    data = _load_yaml("detect.yaml")
    components: dict[str, ComponentRule] = {}
    for name, spec in data["components"].items():
        components[name] = ComponentRule(
            name=name,
            hooks=tuple(spec.get("hooks", ())),
            files=_regexes(spec.get("files")),
            headings=tuple(
                HeadingRule(
                    title=re.compile(h["title"], _FLAGS),
                    min_chars=int(h.get("min_chars", 0)),
                    table=bool(h.get("table", False)),
                    media=bool(h.get("media", False)),
                )
                for h in spec.get("headings", ())
            ),
            card_text=_alternation(spec.get("card_text")),
            card_code=_alternation(spec.get("card_code")),
            links=tuple(
                LinkRule(
                    url=re.compile(r["url"], _FLAGS),
                    context=re.compile(r["context"], _FLAGS),
                    line_only=r.get("scope") == "line",
                )
                for r in spec.get("links", ())
            ),
            need=str(spec["need"]),
        )
    weights = data["weights"]
    papers = data["papers"]
    return DetectTables(
        components=components,
        intermediate_dirs=re.compile(weights["intermediate_dirs"], _FLAGS),
        training_state=re.compile(weights["training_state"], _FLAGS),
        paper_urls=_regexes(papers["urls"]),
        arxiv_refs=re.compile(papers["arxiv_refs"], _FLAGS),
        own_paper_context=re.compile(papers["own_paper_context"], _FLAGS),
        own_paper_headings=re.compile(papers["own_paper_headings"], _FLAGS),
        placeholder=re.compile(papers["placeholder"]),
        technical_report_context=re.compile(papers["technical_report_context"], _FLAGS),
        technical_report_files=re.compile(papers["technical_report_files"], _FLAGS),
        research_paper_files=re.compile(papers["research_paper_files"], _FLAGS),
        peer_reviewed=_regexes(papers["peer_reviewed"]),
        preprint=_regexes(papers["preprint"]),
        document_urls=re.compile(papers["document_urls"], _FLAGS),
        other_paper_context=re.compile(papers["other_paper_context"], _FLAGS),
        own_paper_words=re.compile(papers["own_paper_words"], _FLAGS),
        bibtex_venue=re.compile(papers["bibtex_venue"], _FLAGS),
        venue_citation=re.compile(papers["venue_citation"]),
        benchmarks=re.compile(data["evaluation"]["benchmarks"], _FLAGS),
        benchmark_min=int(data["evaluation"]["min_benchmarks"]),
        undisclosed_data=re.compile(data["training_data"]["undisclosed"], _FLAGS),
        code_docs=re.compile(data["training_code"]["documented"], _FLAGS),
    )


# ------------------------------------------------------------------ OSAI index


@dataclass(frozen=True)
class OsaiParam:
    """One parameter of the European Open Source AI Index."""

    ref: str
    name: str
    group: str  # group ref: availability | documentation | access
    group_name: str
    question: str


@dataclass(frozen=True)
class OsaiTables:
    """The index's parameters and scores, and the card headings seewhy reads for them."""

    source: str
    params: tuple[OsaiParam, ...]
    groups: tuple[tuple[str, str], ...]  # (ref, name)
    scores: Mapping[str, float]
    hardware_headings: re.Pattern[str]
    architecture_headings: re.Pattern[str]
    modelcard_sections: tuple[re.Pattern[str], ...]


@cache
def osai() -> OsaiTables:
    """Load the index tables (once)."""
    data = _load_yaml("osai.yaml")
    params = tuple(
        OsaiParam(
            ref=str(p["ref"]),
            name=str(p["name"]),
            group=str(g["ref"]),
            group_name=str(g["name"]),
            question=str(p["question"]),
        )
        for g in data["groups"]
        for p in g["params"]
    )
    return OsaiTables(
        source=str(data["source"]),
        params=params,
        groups=tuple((str(g["ref"]), str(g["name"])) for g in data["groups"]),
        scores={str(k): float(v) for k, v in data["scores"].items()},
        hardware_headings=re.compile(data["hardware_headings"], _FLAGS),
        architecture_headings=re.compile(data["architecture_headings"], _FLAGS),
        modelcard_sections=_regexes(data["modelcard_sections"]),
    )


# ------------------------------------------------------------------ claims, restrictions


@dataclass(frozen=True)
class ClaimTables:
    """Phrases that call a release open source, and what negates them."""

    claims: tuple[re.Pattern[str], ...]
    negations: tuple[re.Pattern[str], ...]
    any: re.Pattern[str]  # every claim phrase in one expression
    model_nouns: frozenset[str] = frozenset()
    plural_model_nouns: frozenset[str] = frozenset()
    owners: frozenset[str] = frozenset()
    stops: frozenset[str] = frozenset()
    verb_leads: frozenset[str] = frozenset()
    linking_verbs: frozenset[str] = frozenset()
    comparison_cues: tuple[re.Pattern[str], ...] = ()
    cue_window: int = 6
    chinese_self: tuple[re.Pattern[str], ...] = ()


@cache
def claims() -> ClaimTables:
    """Load the claim phrases (once)."""
    data = _load_yaml("claims.yaml")
    return ClaimTables(
        claims=_regexes(data["claims"]),
        negations=_regexes(data["negations"]),
        any=re.compile("|".join(f"(?:{c})" for c in data["claims"]), _FLAGS),
        model_nouns=_words(data.get("model_nouns")),
        plural_model_nouns=_words(data.get("plural_model_nouns")),
        owners=_words(data.get("owners")),
        stops=_words(data.get("stops")),
        verb_leads=_words(data.get("verb_leads")),
        linking_verbs=_words(data.get("linking_verbs")),
        comparison_cues=_regexes(data.get("comparison_cues")),
        cue_window=int(data.get("cue_window", 6)),
        chinese_self=_regexes(data.get("chinese_self")),
    )


def _words(values: Any) -> frozenset[str]:
    return frozenset(str(v).lower() for v in values or ())


@dataclass(frozen=True)
class RestrictionTables:
    """Which clause tags restrict use, and the words a verdict uses for them."""

    restrictive: tuple[str, ...]  # in the order a verdict names them
    phrases: Mapping[str, Mapping[str, str]]
    min_confidence: float


@cache
def restrictions() -> RestrictionTables:
    """Load the restriction tables (once)."""
    data = _load_yaml("restrictions.yaml")
    return RestrictionTables(
        restrictive=tuple(data["restrictive"]),
        phrases={
            str(k): {str(a): str(b) for a, b in v.items()} for k, v in data["phrases"].items()
        },
        min_confidence=float(data["min_confidence"]),
    )
