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
)


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


@dataclass(frozen=True)
class ReleaseLicenses:
    """Every license statement of a release, and what the release is derived from."""

    matches: tuple[LicenseMatch, ...]
    base_models: tuple[str, ...] = ()

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
