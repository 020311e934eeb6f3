"""What license identification produces: the contract between the license and
openness analyzers.

:func:`seewhy.analyzers.license.identify.release_licenses` (pure, cached in
``AuditContext.cache``) returns a :class:`ReleaseLicenses`; the license
analyzer turns it into facts and findings, the openness analyzer reads it to
grade the release. Every match and every tag carries the path, line range and
quote that support it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DocKind = Literal["license", "use-policy", "prohibited-use-policy"]
"""A license grants rights; a use policy (AUP) restricts uses and is referenced by one."""

MatchSource = Literal[
    "text",  # a LICENSE*/COPYING/NOTICE/USE_POLICY* file (or other license-kind file)
    "card-license",  # front matter `license:`
    "card-license-name",  # front matter `license_name:`
    "card-license-link",  # front matter `license_link:`
    "card-gated-prompt",  # license text pasted into `extra_gated_prompt`
    "card-body",  # a sentence in the card body ("released under the Gemma Terms of Use")
    "card-body-text",  # a whole license text pasted into the card body
    "gguf",  # GGUF general.license / general.license.name / general.license.link
]

# The tag vocabulary (shared with ../shared/corpus/licenses/manifest.json).
TAGS = (
    "user_threshold",
    "revenue_threshold",
    "use_policy_by_reference",
    "policy_updatable",
    "passdown_restrictions",
    "prohibited_uses",
    "no_output_training",
    "naming_requirement",
    "attribution_display",
    "geographic_exclusion",
    "non_commercial",
    "research_only",
    "non_production",
    "remote_restriction",
    "revocable",
    "hosting_restriction",
    "military_ban",
    "governing_law",
    "sale_restriction",
)

LicenseStatus = Literal["stated", "referenced", "none"]
"""stated: the release states a license (a text, a card field, GGUF metadata, even one
not identified); referenced: it only points at a license it does not include (a card
section or ``license_link`` naming a LICENSE file absent from the snapshot, or
``license: other`` with nothing more); none: no license statement at all."""

Scope = Literal["all", "model", "code", "data", "documentation"]
"""What a license statement covers, read from its sentence: "This code repository is
licensed under MIT" is code; "The use of the models is subject to the Model License" is
model (the weights); a statement that names no part (a LICENSE file, ``license:``) is all."""

VersionBasis = Literal["sections", "date", "label"]
"""Where a version reading comes from: wording only that version has (its sections and
links), its date line, or the name it gives itself."""


@dataclass(frozen=True)
class Location:
    """Where a quote sits: release-relative path and 1-based line range."""

    path: str
    line: int | None = None
    end_line: int | None = None
    pointer: str | None = None  # front-matter key or GGUF key, when not a text line
    offset: int | None = None  # byte offset (GGUF metadata key), when known


@dataclass(frozen=True)
class ClauseTag:
    """A restrictive clause found in a license or policy text."""

    tag: str  # one of TAGS
    quote: str  # the clause as written (whitespace collapsed, at most ~300 chars)
    location: Location
    osd_conflict: str | None  # e.g. "OSD 5: No discrimination against persons or groups"


@dataclass(frozen=True)
class TextChange:
    """A sentence added to, or removed from, a known license's canonical text.

    ``text`` is the whole sentence (added: as written here; removed: as the
    canonical text has it), ``words`` the words that differ within it, and
    ``location`` where it is (added) or where it was cut (removed).
    """

    op: Literal["added", "removed"]
    text: str
    words: str
    location: Location
    tags: tuple[ClauseTag, ...] = ()  # clauses the added sentence carries


@dataclass(frozen=True)
class Modification:
    """How a text differs from the known license it is built on."""

    base_id: str  # the license whose text this is, modified (e.g. "MIT")
    base_name: str
    changes: tuple[TextChange, ...]  # at most MAX_CHANGES, in text order
    addons: tuple[str, ...] = ()  # names of known add-on texts found (the Commons Clause)
    restricts: bool = False  # an addition (or the title) restricts use
    similarity: float = 0.0  # share of the canonical text present, 0..1
    more_changes: int = 0  # changes beyond those listed


@dataclass(frozen=True)
class VersionEvidence:
    """One reading of a license's version, and the words it rests on."""

    basis: VersionBasis
    versions: tuple[str, ...]  # the versions this reading allows
    quote: str
    location: Location


@dataclass(frozen=True)
class LicenseReference:
    """A pointer to a license file that is not in the release."""

    target: str  # the link as written ("LICENSE", "./LICENSE.md")
    location: Location
    excerpt: str | None = None
    scope: Scope = "all"  # what the sentence puts under it ("model": the weights' license)


@dataclass(frozen=True)
class LicenseMatch:
    """One statement of a license in the release, identified (or not)."""

    license_id: str | None  # SPDX id or LicenseRef-…; None when unknown
    name: str | None  # human name, e.g. "Llama 3.1 Community License Agreement"
    family: str | None  # e.g. "llama", "gemma", "apache", "qwen"
    version: str | None  # e.g. "3.1", "2025-03-24", "2.0"
    kind: DocKind
    osi_approved: bool | None  # None when unknown
    fsf_libre: bool | None
    confidence: float  # 0..1
    source: MatchSource
    location: Location
    excerpt: str | None  # the words that identified it (title line, id value, URL)
    tags: tuple[ClauseTag, ...] = ()
    nearest: tuple[tuple[str, float], ...] = ()  # unknown texts: (license id, similarity)
    truncated: bool = False  # the text was longer than the read cap
    note: str | None = None  # why unknown, how it was identified, what was not read
    # A known license with words added or removed: ``license_id`` is then
    # "LicenseRef-<base>-modified", ``osi_approved`` False, and this says how.
    modification: Modification | None = None
    version_evidence: tuple[VersionEvidence, ...] = ()  # how the version was decided
    version_conflict: str | None = None  # the readings disagree (relabelled or edited text)
    states_license: bool = True  # False: only points at a license that is not here
    scope: Scope = "all"  # what the statement covers (its sentence's subject, a link's file)

    @property
    def modified(self) -> bool:
        """A known license's text with words added or removed that change its meaning."""
        return self.modification is not None


@dataclass(frozen=True)
class ReleaseLicenses:
    """Every license statement of a release, and what the release is derived from."""

    matches: tuple[LicenseMatch, ...]
    base_models: tuple[str, ...] = ()
    references: tuple[LicenseReference, ...] = ()  # license files linked but not included
    # Base models a GGUF file names (general.base_model.N.*), with where it says so.
    gguf_bases: tuple[tuple[str, Location], ...] = ()

    @property
    def all_base_models(self) -> tuple[str, ...]:
        """The card's base models, then those only a GGUF file names."""
        seen = {b.strip().lower() for b in self.base_models}
        extra = [n for n, _ in self.gguf_bases if n.strip().lower() not in seen]
        return (*self.base_models, *extra)  # gguf_bases is already one per name

    @property
    def status(self) -> LicenseStatus:
        """Whether the release states a license, only points at one, or says nothing."""
        if any(m.states_license for m in self.matches):
            return "stated"
        if self.references or self.matches:
            return "referenced"
        return "none"

    @property
    def model_references(self) -> tuple[LicenseReference, ...]:
        """License documents the card puts the model (the weights) under, not in the release."""
        return tuple(r for r in self.references if r.scope == "model")

    @property
    def pasted(self) -> tuple[LicenseMatch, ...]:
        """License texts pasted into the card body (they bind as much as a LICENSE file)."""
        return tuple(m for m in self.matches if m.source == "card-body-text")

    @property
    def modified(self) -> tuple[LicenseMatch, ...]:
        """Known licenses whose text was changed."""
        return tuple(m for m in self.matches if m.modification is not None)

    @property
    def licenses(self) -> tuple[LicenseMatch, ...]:
        """Matches that are licenses (not use policies)."""
        return tuple(m for m in self.matches if m.kind == "license")

    @property
    def policies(self) -> tuple[LicenseMatch, ...]:
        """Matches that are use policies."""
        return tuple(m for m in self.matches if m.kind != "license")

    @property
    def tags(self) -> tuple[ClauseTag, ...]:
        """Every clause tag of every matched text, in order."""
        return tuple(t for m in self.matches for t in m.tags)
