"""Follow ``base_model`` up the chain on the Hub: each parent's card and license file.

A derivative's license is only as good as its parents allow, and a parent's
*name* says little (a fine-tune of a fine-tune of Llama keeps Llama's
terms). For a release read from the Hub, :func:`follow_lineage` reads the
parents the card names -- front matter ``base_model`` (a string or a list),
and ``base_model:<relation>:<id>`` tags -- and, breadth first, their
parents, fetching only each parent's ``README.md`` and license file (small,
bounded, into the Hugging Face cache). Depth and width are bounded
(:attr:`HubLimits.lineage_depth`, :attr:`HubLimits.lineage_width`) and a
repository met twice is not read again (cycles). A parent that cannot be
read is kept with its error: its license stays unknown, never assumed.

What the texts say is decided by the license analyzer
(:mod:`seewhy.analyzers.license.parents`), not here.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from seewhy.errors import HubError
from seewhy.formats.modelcard import parse_card

if TYPE_CHECKING:
    from seewhy.release.hub import HubParent, _Hub
    from seewhy.release.model import Release

MAX_CARD_BYTES = 1024 * 1024
MAX_LICENSE_BYTES = 1024 * 1024
MAX_ROOT_ENTRIES = 1000
_TAG = re.compile(r"^base_model:(?:(finetune|merge|quantized|adapter):)?(\S{1,300})$", re.I)
_LICENSE_NAME = re.compile(r"^(?:licen[cs]e|copying)(?:[._-][\w.-]*)?$", re.I)


def named_parents(card_bytes: bytes, path: str) -> list[tuple[str, str | None]]:
    """``(repo id, relation)`` of each parent a card names in its front matter."""
    from seewhy.release.hub import parse_hub_source

    card = parse_card(card_bytes, path=path)
    out: dict[str, str | None] = {}
    for raw in card.base_model:
        out.setdefault(raw.strip(), card.base_model_relation)
    for tag in card.tags:
        m = _TAG.match(tag.strip())
        if m:
            out.setdefault(m.group(2), (m.group(1) or "").lower() or None)
    return [
        (name, rel)
        for name, rel in out.items()
        if (ref := parse_hub_source(name)) is not None and ref.revision is None
    ]


def follow_lineage(hub: _Hub, release: Release) -> tuple[HubParent, ...]:
    """The release's parents on the Hub, breadth first, bounded (see the module)."""
    return _follow(
        release,
        hub.limits.lineage_depth,
        hub.limits.lineage_width,
        lambda repo_id, depth, child, rel: _read_parent(hub, repo_id, depth, child, rel),
    )


def cached_lineage(cache: Path, release: Release, depth: int, width: int) -> tuple[HubParent, ...]:
    """The release's parents as the local Hugging Face cache holds them (offline)."""
    return _follow(
        release,
        depth,
        width,
        lambda repo_id, d, child, rel: _cached_parent(cache, repo_id, d, child, rel),
    )


def _follow(
    release: Release,
    max_depth: int,
    max_width: int,
    read: Callable[[str, int, str, str | None], HubParent],
) -> tuple[HubParent, ...]:
    card_file = release.file("README.md")
    if card_file is None or card_file.path in getattr(release, "remote", {}):
        return ()
    try:
        with card_file.abs_path.open("rb") as fh:
            card = fh.read(MAX_CARD_BYTES)
    except OSError:
        return ()
    seen = {release.name.lower()}
    queue: deque[tuple[str, int, str, str | None]] = deque(
        (name, 1, release.name, rel) for name, rel in named_parents(card, "README.md")
    )
    parents: list[HubParent] = []
    while queue and len(parents) < max_width:
        repo_id, depth, child, relation = queue.popleft()
        if repo_id.lower() in seen or depth > max_depth:
            continue
        seen.add(repo_id.lower())
        parent = read(repo_id, depth, child, relation)
        parents.append(parent)
        if parent.card is not None and depth < max_depth:
            for name, rel in named_parents(parent.card, f"{repo_id}/README.md"):
                queue.append((name, depth + 1, repo_id, rel))
    return tuple(parents)


def _cached_parent(
    cache: Path, repo_id: str, depth: int, child: str, relation: str | None
) -> HubParent:
    from seewhy.release.hfcache import read_refs
    from seewhy.release.hub import HubParent

    folder = cache / f"models--{repo_id.replace('/', '--')}"
    commit = read_refs(folder).get("main") if folder.is_dir() else None
    snapshot = folder / "snapshots" / commit if commit else None
    if snapshot is None or not snapshot.is_dir():
        return HubParent(
            repo_id, depth, child, relation, error="not in the local Hugging Face cache (offline)"
        )
    card = _read_small(snapshot / "README.md", MAX_CARD_BYTES)
    license_text = license_path = None
    try:
        names = sorted(e.name for e in os.scandir(snapshot) if _LICENSE_NAME.match(e.name))
    except OSError:
        names = []
    for name in names[:1]:
        license_text = _read_small(snapshot / name, MAX_LICENSE_BYTES)
        license_path = name if license_text is not None else None
    return HubParent(
        repo_id,
        depth,
        child,
        relation,
        card,
        "README.md" if card is not None else None,
        license_text,
        license_path,
    )


def _read_small(path: Path, cap: int) -> bytes | None:
    """The bytes of a regular file in the cache, when at most ``cap`` long."""
    try:
        if not path.is_file() or path.stat().st_size > cap:
            return None
        with path.open("rb") as fh:
            return fh.read(cap)
    except OSError:
        return None


def _read_parent(
    hub: _Hub, repo_id: str, depth: int, child: str, relation: str | None
) -> HubParent:
    from seewhy.release.hub import HubParent

    try:
        info = hub.call(repo_id, lambda: hub.api.model_info(repo_id, expand=["sha"]))
        commit = str(getattr(info, "sha", "") or "")
        if not commit:
            raise HubError(f"{repo_id}: the Hub did not name the commit of its default branch")
        root = _root_files(hub, repo_id, commit)
        card = license_text = None
        card_path = license_path = None
        if "README.md" in root and root["README.md"] <= MAX_CARD_BYTES:
            card = _download(hub, repo_id, "README.md", commit)
            card_path = "README.md"
        for name in sorted(root):
            if _LICENSE_NAME.match(name) and root[name] <= MAX_LICENSE_BYTES:
                license_text = _download(hub, repo_id, name, commit)
                license_path = name
                break
    except HubError as exc:
        hub.transfer.problem(
            f"base_model {repo_id}",
            "hub.lineage-unreadable",
            f"parent {repo_id} (named by {child}) could not be read from the Hub: {exc}",
        )
        return HubParent(repo_id, depth, child, relation, error=str(exc))
    return HubParent(repo_id, depth, child, relation, card, card_path, license_text, license_path)


def _root_files(hub: _Hub, repo_id: str, commit: str) -> dict[str, int]:
    """Names and sizes of the files at the top of a parent repository (bounded)."""
    from huggingface_hub.hf_api import RepoFile

    def listing() -> dict[str, int]:
        out: dict[str, int] = {}
        for n, entry in enumerate(hub.api.list_repo_tree(repo_id, revision=commit)):
            if n >= MAX_ROOT_ENTRIES:
                break
            if isinstance(entry, RepoFile):
                out[PurePosixPath(entry.path).name] = int(entry.size)
        return out

    return hub.call(f"{repo_id}: listing", listing)


def _download(hub: _Hub, repo_id: str, name: str, commit: str) -> bytes:
    # Through the default branch, so the cache records refs/main for offline audits.
    local = hub.download(repo_id, name, "main", commit, count_as=f"{repo_id}/{name}")
    with local.open("rb") as fh:
        return fh.read(MAX_LICENSE_BYTES)
