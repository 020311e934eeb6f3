"""The Hugging Face cache layout, read without huggingface_hub.

``huggingface_hub`` keeps each repository it downloads in a folder of the hub
cache (``~/.cache/huggingface/hub``)::

    models--org--name/
      blobs/<sha256 or git sha1>        the bytes, one file per distinct content
      refs/main                         the commit hash the branch pointed at
      snapshots/<commit>/config.json -> ../../blobs/<git sha1>
      snapshots/<commit>/model.gguf  -> ../../blobs/<sha256>

A snapshot's files are symlinks into the same repository's ``blobs/``. This
module recognises that layout so that such links are read as the release's
own files (under their snapshot names); a link anywhere else is still a link
out of the release. Everything read here is bounded: ref files are small and
counted, and names found in them are checked before they are used as paths.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from seewhy.errors import ReleaseError
from seewhy.release.model import HubCacheOrigin

#: Repository kinds and the prefix huggingface_hub gives their cache folders.
REPO_PREFIXES = {"models--": "model", "datasets--": "dataset", "spaces--": "space"}
MAX_REF_BYTES = 1024
MAX_REFS = 1000
MAX_REF_DEPTH = 8
MAX_ANCESTORS = 64

_REVISION = re.compile(r"^[0-9A-Za-z._-]{1,128}$")


@dataclass(frozen=True)
class CacheSnapshot:
    """A snapshot folder of a Hugging Face cache repository.

    ``folder`` is the snapshot folder (``snapshots/<revision>``) as the user
    reached it, ``blobs`` the real path of the repository's ``blobs/``.
    ``chosen`` is set when the user named the repository folder and the
    snapshot was chosen through its refs.
    """

    repo: Path
    folder: Path
    blobs: Path
    origin: HubCacheOrigin
    chosen: bool = False

    def blob_of(self, link: Path) -> Path | None:
        """The real path of the blob ``link`` leads to, if it is a regular file in ``blobs/``."""
        try:
            real = link.resolve(strict=True)
            st = real.stat()
        except (OSError, RuntimeError):
            return None
        if real.parent != self.blobs or not stat.S_ISREG(st.st_mode):
            return None
        return real


def repo_of_folder_name(name: str) -> tuple[str, str] | None:
    """``(repo_type, repo_id)`` of a cache folder name like ``models--org--name``."""
    for prefix, kind in REPO_PREFIXES.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            parts = name[len(prefix) :].split("--")
            if all(parts) and len(parts) <= 2:
                return kind, "/".join(parts)
    return None


def find_snapshot(path: Path) -> CacheSnapshot | None:
    """The cache snapshot ``path`` is, or lies in, or (for a repository folder) points at.

    Accepts a repository folder (``models--org--name``: its ``refs/main``
    names the snapshot), a snapshot folder, or a file or folder inside a
    snapshot. Returns None when ``path`` is not in that layout. Raises
    :class:`ReleaseError` for a repository folder whose snapshot cannot be
    chosen.
    """
    for candidate in _spellings(path):
        repo = candidate.parent if candidate.name == "snapshots" else candidate
        if repo_of_folder_name(repo.name) is not None and (repo / "snapshots").is_dir():
            folder = repo / "snapshots" / _chosen_revision(repo)
            return _snapshot(repo, folder, chosen=True)
        for ancestor in [candidate, *list(candidate.parents)[:MAX_ANCESTORS]]:
            if ancestor.parent.name == "snapshots" and repo_of_folder_name(
                ancestor.parent.parent.name
            ):
                return _snapshot(ancestor.parent.parent, ancestor)
    return None


def _spellings(path: Path) -> list[Path]:
    """``path`` made absolute as given (links kept), then fully resolved."""
    plain = Path(os.path.normpath(path.absolute()))
    try:
        real = path.resolve()
    except (OSError, RuntimeError):
        return [plain]
    return [plain] if real == plain else [plain, real]


def _snapshot(repo: Path, folder: Path, *, chosen: bool = False) -> CacheSnapshot:
    kind_id = repo_of_folder_name(repo.name)
    assert kind_id is not None
    kind, repo_id = kind_id
    revision = folder.name
    try:
        blobs = (repo / "blobs").resolve()
    except (OSError, RuntimeError):
        blobs = repo / "blobs"
    origin = HubCacheOrigin(
        repo_id=repo_id, repo_type=kind, revision=revision, refs=refs_to(repo, revision)
    )
    return CacheSnapshot(repo=repo, folder=folder, blobs=blobs, origin=origin, chosen=chosen)


def read_refs(repo: Path) -> dict[str, str]:
    """Every ref of a cache repository (``main``, ``pr/1``) and the revision it names.

    Ref files larger than :data:`MAX_REF_BYTES`, deeper than
    :data:`MAX_REF_DEPTH` or past :data:`MAX_REFS` are ignored, and so is a
    ref whose content is not a plain revision name.
    """
    refs: dict[str, str] = {}
    base = repo / "refs"
    stack: list[tuple[Path, str, int]] = [(base, "", 0)]
    while stack and len(refs) < MAX_REFS:
        folder, prefix, depth = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            name = f"{prefix}{entry.name}"
            try:
                if entry.is_dir(follow_symlinks=False):
                    if depth < MAX_REF_DEPTH:
                        stack.append((Path(entry.path), f"{name}/", depth + 1))
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue
                value = _read_small(Path(entry.path))
            except OSError:
                continue
            if value is not None:
                refs[name] = value
    return refs


def refs_to(repo: Path, revision: str) -> tuple[str, ...]:
    """The refs of ``repo`` that name ``revision``, sorted."""
    return tuple(sorted(name for name, rev in read_refs(repo).items() if rev == revision))


def _read_small(path: Path) -> str | None:
    with path.open("rb") as fh:
        data = fh.read(MAX_REF_BYTES + 1)
    if len(data) > MAX_REF_BYTES:
        return None
    try:
        value = data.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    return value if _REVISION.match(value) and value not in {".", ".."} else None


def _chosen_revision(repo: Path) -> str:
    """The revision ``refs/main`` names, or the only snapshot when there is no usable ref."""
    main = repo / "refs" / "main"
    try:
        revision = _read_small(main)
    except OSError:
        revision = None
    if revision is not None and (repo / "snapshots" / revision).is_dir():
        return revision
    try:
        snapshots = sorted(e.name for e in os.scandir(repo / "snapshots") if e.is_dir())
    except OSError as exc:
        raise ReleaseError(
            f"cannot list the snapshots of the cache folder {repo.name}: {exc.strerror or exc}"
        ) from exc
    if len(snapshots) == 1:
        return snapshots[0]
    why = (
        f"refs/main names {revision}, which has no snapshot"
        if revision is not None
        else "it has no usable refs/main"
    )
    shown = ", ".join(snapshots[:5]) or "none"
    raise ReleaseError(
        f"cannot tell which snapshot of the cache folder {repo.name} to audit: {why}; "
        f"pass one of its snapshots/ folders ({shown})"
    )
