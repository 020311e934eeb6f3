"""The licenses of a release's real parents, read from their own files on the Hub.

A release read from the Hub (:class:`~seewhy.release.hub.HubRelease`)
carries the ``base_model`` chain its card names, each parent with its own
``README.md`` and license file (:mod:`seewhy.release._hub_lineage`). This
module identifies each parent's license from those texts -- the license file
first (its text identified like any license file), else the card's
``license`` / ``license_name`` -- and, for each *direct* parent, the terms
that bind through it: the first parent up its chain whose license is neither
permissive nor OSI-approved, else its own. That is evidence of higher
confidence than a name-based guess (``data/licenses/base_models.toml``), so
the license drift finding and the effective license prefer it; parents not
read from the Hub keep the name-based behaviour.

Pure: it reads only what the release holds; results are memoised in
``AuditContext.cache``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from seewhy.analyzers.license.kb import Entry, KnowledgeBase, load_kb
from seewhy.release.model import Release

__all__ = ["ParentTerms", "hub_parent_terms"]

_CACHE_KEY = ("hub-parent-terms", "")
_MIN_CONFIDENCE = 0.5


@dataclass(frozen=True)
class ParentTerms:
    """The license that binds through one direct parent, and where it was read.

    ``repo_id`` is the direct parent, ``source`` the repository whose file
    states the license (the parent itself or an ancestor), ``path`` that
    file, ``chain`` the repositories from the parent up to ``source``.
    """

    repo_id: str
    entry: Entry
    source: str
    path: str
    chain: tuple[str, ...]

    @property
    def note(self) -> str:
        """'read from acme/base's LICENSE on the Hub' (with the chain when an ancestor binds)."""
        via = ""
        if len(self.chain) > 1:
            via = " through " + " -> ".join(self.chain)
        return f"read from {self.source}'s own {self.path} on the Hub{via}"


def _identify(
    card: bytes | None, text: bytes | None, path: str | None, kb: KnowledgeBase
) -> tuple[Entry, str] | None:
    """A parent's license: its license file's text, else its card's front matter."""
    from seewhy.analyzers.license.identify import identify_bytes
    from seewhy.formats.modelcard import parse_card

    if text is not None and path is not None:
        for match in identify_bytes(text, path, kb=kb):
            if match.license_id and match.confidence >= _MIN_CONFIDENCE:
                entry = kb.get(match.license_id)
                if entry is not None:
                    return entry, path
    if card is not None:
        parsed = parse_card(card)
        for value in (parsed.license, parsed.license_name):
            if value and value.lower() != "other":
                entry = kb.lookup(value)
                if entry is not None:
                    return entry, "README.md"
    return None


def _binding(entry: Entry) -> bool:
    return not entry.permissive and not entry.osi_approved


def hub_parent_terms(
    release: Release, cache: dict[tuple[str, str], object] | None = None
) -> Mapping[str, ParentTerms]:
    """The binding terms of each direct parent read from the Hub, by lower-cased repo id."""
    parents = getattr(release, "parents", ())
    if not parents:
        return {}
    if cache is not None and _CACHE_KEY in cache:
        return cache[_CACHE_KEY]  # type: ignore[return-value]
    kb = load_kb()
    own: dict[str, tuple[Entry, str]] = {}
    child_of: dict[str, str] = {}
    for p in parents:
        key = p.repo_id.lower()
        child_of[key] = p.child.lower()
        if p.error is None:
            found = _identify(p.card, p.license_text, p.license_path, kb)
            if found is not None:
                own[key] = found
    names = {p.repo_id.lower(): p.repo_id for p in parents}
    out: dict[str, ParentTerms] = {}
    for p in parents:
        if p.depth != 1:
            continue
        top = p.repo_id.lower()
        # Every parent whose chain of children reaches this direct parent, nearest first.
        line: list[tuple[int, str]] = []
        for q in parents:
            chain = [q.repo_id.lower()]
            while chain[-1] != top and chain[-1] in child_of and len(chain) <= len(parents):
                chain.append(child_of[chain[-1]])
            if chain[-1] == top:
                line.append((q.depth, q.repo_id.lower()))
        line.sort()
        chosen = next((k for _, k in line if k in own and _binding(own[k][0])), None)
        if chosen is None and top in own:
            chosen = top
        if chosen is None:
            continue
        path = [chosen]
        while path[-1] != top:
            path.append(child_of[path[-1]])
        entry, file = own[chosen]
        out[top] = ParentTerms(
            names[top], entry, names[chosen], file, tuple(names[k] for k in reversed(path))
        )
    if cache is not None:
        cache[_CACHE_KEY] = out
    return out
