"""Open a local folder (Hugging Face snapshot layout) or a single file.

What could not be seen is part of the snapshot: a folder that cannot be
listed, an entry that cannot be examined, or files past a cap become issues
marked ``gap`` (:attr:`Release.gaps`), which the audit runner turns into an
inconclusive load-safety verdict. File names are made valid UTF-8 here, once,
for every analyzer and output (see :mod:`seewhy.release.model`).
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from seewhy.errors import ReleaseError, ReleaseNotFoundError, ReleaseReadError
from seewhy.formats.interface import Problem
from seewhy.release.hfcache import CacheSnapshot, find_snapshot
from seewhy.release.model import (
    FileKind,
    FileSource,
    HeadCache,
    ReadMeter,
    Release,
    ReleaseFile,
    ReleaseIssue,
    escape_name,
)
from seewhy.release.sniff import HEAD_BYTES, sniff

MAX_FILES = 100_000
MAX_DEPTH = 64
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn"})

PROBLEM_CODES: dict[str, str] = {
    "release.name-escaped": "a file name is not valid UTF-8 or holds a backslash; shown escaped",
}


@dataclass
class _Walk:
    root: Path
    meter: ReadMeter
    heads: HeadCache
    max_files: int
    hub: CacheSnapshot | None = None
    files: list[ReleaseFile] = field(default_factory=list)
    issues: list[ReleaseIssue] = field(default_factory=list)
    seen_dirs: set[tuple[int, int]] = field(default_factory=set)
    truncated: bool = False

    def issue(
        self, path: str, code: str, message: str, excerpt: str | None = None, *, gap: bool = False
    ) -> None:
        self.issues.append(ReleaseIssue(path, Problem(code, message, excerpt=excerpt), gap))


def display(value: str | os.PathLike[str]) -> str:
    """A path given by the user (or read from a link) as valid UTF-8 text, for messages."""
    raw = os.fsencode(value)
    return raw.decode("utf-8", "backslashreplace")


def open_release(source: str | os.PathLike[str], *, max_files: int = MAX_FILES) -> Release:
    """Snapshot a folder or a single artifact file.

    Symlinks are followed only while they stay inside the folder; a link that
    leaves it, dangles or loops is recorded as an issue and not followed. In a
    Hugging Face cache (:mod:`seewhy.release.hfcache`) a snapshot's links into
    its repository's ``blobs/`` are its files; a cache repository folder is
    read at the snapshot its ``refs/main`` names.
    Raises :class:`ReleaseNotFoundError` when ``source`` does not exist.
    """
    path = Path(source)
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise ReleaseNotFoundError(display(source)) from exc
    except OSError as exc:
        raise ReleaseError(f"cannot open {display(source)}: {exc.strerror or exc}") from exc
    hub = find_snapshot(path)
    meter = ReadMeter()
    heads = HeadCache()
    if stat.S_ISREG(st.st_mode):
        return _open_file(path, st, hub, meter, heads, max_files)
    if not stat.S_ISDIR(st.st_mode):
        raise ReleaseError(f"{display(source)} is neither a file nor a folder")
    if hub is not None and hub.chosen:
        path = hub.folder  # a cache repository folder: the snapshot refs/main names
        try:
            st = path.stat()
        except OSError as exc:
            raise ReleaseError(f"cannot open {display(path)}: {exc.strerror or exc}") from exc
    root = path.resolve()
    walk = _Walk(root, meter, heads, max_files, hub)
    walk.seen_dirs.add((st.st_dev, st.st_ino))
    _walk_dir(walk, root, "", 0)
    walk.files.sort(key=lambda f: f.path)
    walk.issues.sort(key=lambda i: (i.path, i.problem.code))
    return Release(
        name=hub.origin.repo_id if hub is not None else escape_name(os.fsencode(root.name))[0],
        root=root,
        source_kind="folder",
        files=tuple(walk.files),
        issues=tuple(walk.issues),
        meter=meter,
        hub=hub.origin if hub is not None else None,
        heads=heads,
    )


def _open_file(
    path: Path,
    st: os.stat_result,
    hub: CacheSnapshot | None,
    meter: ReadMeter,
    heads: HeadCache,
    max_files: int,
) -> Release:
    resolved = path.resolve()
    # In a cache snapshot the file is a link into blobs/: its folder is the snapshot's.
    root = Path(os.path.normpath(path.absolute())).parent if hub is not None else resolved.parent
    walk = _Walk(root, meter, heads, max_files, hub)
    name = _component(walk, os.fsencode(path.name), "")
    walk.files.append(_make_file(walk, resolved, name, st.st_size, None))
    return Release(
        name=name,
        root=root,
        source_kind="file",
        files=tuple(walk.files),
        issues=tuple(walk.issues),
        meter=meter,
        hub=hub.origin if hub is not None else None,
        heads=heads,
    )


def _inside(root: Path, target: Path) -> bool:
    return target == root or root in target.parents


def _component(walk: _Walk, raw: bytes, rel: str) -> str:
    """``rel`` joined with one escaped name; an escaped name is reported."""
    name, escaped = escape_name(raw)
    rel_path = f"{rel}/{name}" if rel else name
    if escaped:
        walk.issue(
            rel_path,
            "release.name-escaped",
            "the name is not valid UTF-8 or holds a backslash; shown with each undecodable "
            "byte as \\xHH and each backslash doubled",
            excerpt=raw.hex(" "),
        )
    return rel_path


def _walk_dir(walk: _Walk, directory: Path, rel: str, depth: int) -> None:
    where = rel or "."
    if depth > MAX_DEPTH:
        walk.issue(
            where,
            "release.too-deep",
            f"folder nesting deeper than {MAX_DEPTH}; not listed",
            gap=True,
        )
        return
    try:
        entries = sorted(os.scandir(directory), key=lambda e: os.fsencode(e.name))
    except OSError as exc:
        what = "the release folder" if where == "." else "folder"
        walk.issue(
            where,
            "release.unreadable",
            f"cannot list {what}: {exc.strerror or exc}; its files were not checked",
            gap=True,
        )
        return
    for entry in entries:
        if walk.truncated:
            return
        rel_path = _component(walk, os.fsencode(entry.name), rel)
        _visit(walk, Path(entry.path), rel_path, depth)


def _visit(walk: _Walk, abs_path: Path, rel_path: str, depth: int) -> None:
    link_target: str | None = None
    try:
        lst = abs_path.lstat()
    except OSError as exc:
        walk.issue(rel_path, "release.unreadable", f"cannot stat: {exc.strerror or exc}", gap=True)
        return
    if stat.S_ISLNK(lst.st_mode):
        raw_target = display(abs_path.readlink())
        try:
            st = abs_path.stat()
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                walk.issue(
                    rel_path, "release.symlink-loop", "symlink loop; not followed", raw_target
                )
            elif exc.errno in (errno.ENOENT, errno.ENOTDIR):
                walk.issue(rel_path, "release.symlink-dangling", "symlink to nothing", raw_target)
            else:
                walk.issue(
                    rel_path,
                    "release.unreadable",
                    f"cannot follow symlink: {exc.strerror or exc}",
                    raw_target,
                    gap=True,
                )
            return
        real = abs_path.resolve()
        if not _inside(walk.root, real):
            blob = walk.hub.blob_of(abs_path) if walk.hub is not None else None
            if blob is not None and stat.S_ISREG(st.st_mode):
                _add_file(walk, blob, rel_path, st.st_size, None)
                return
            walk.issue(
                rel_path,
                "release.symlink-escape",
                "symlink points outside the release; not followed",
                raw_target,
            )
            return
        link_target = escape_name(os.fsencode(real.relative_to(walk.root).as_posix() or "."))[0]
    else:
        st = lst
    if stat.S_ISDIR(st.st_mode):
        if abs_path.name in SKIPPED_DIRS and link_target is None:
            walk.issue(rel_path, "release.skipped-dir", "version-control folder; not listed")
            return
        key = (st.st_dev, st.st_ino)
        if key in walk.seen_dirs:
            walk.issue(
                rel_path, "release.symlink-loop", "folder reached twice; not followed", link_target
            )
            return
        walk.seen_dirs.add(key)
        _walk_dir(walk, abs_path, rel_path, depth + 1)
        return
    if not stat.S_ISREG(st.st_mode):
        walk.issue(rel_path, "release.special-file", "not a regular file (device, fifo or socket)")
        return
    _add_file(walk, abs_path, rel_path, st.st_size, link_target)


def _add_file(
    walk: _Walk, abs_path: Path, rel_path: str, size: int, link_target: str | None
) -> None:
    if len(walk.files) >= walk.max_files:
        walk.truncated = True
        walk.issue(
            rel_path,
            "release.too-many-files",
            f"more than {walk.max_files} files; the rest are not listed",
            gap=True,
        )
        return
    walk.files.append(_make_file(walk, abs_path, rel_path, size, link_target))


def _make_file(
    walk: _Walk, abs_path: Path, rel_path: str, size: int, link_target: str | None
) -> ReleaseFile:
    if not os.access(abs_path, os.R_OK):
        walk.issue(rel_path, "release.unreadable", "file is not readable")
        return ReleaseFile(rel_path, size, FileKind.UNREADABLE, abs_path, link_target)
    try:
        with FileSource(abs_path, size, rel_path, walk.meter, walk.heads) as source:
            head = source.read_at(0, HEAD_BYTES)
            walk.heads.put(rel_path, head)
            sniffed = sniff(PurePosixPath(rel_path).name, head, source)
    except ReleaseReadError as exc:
        walk.issue(rel_path, "release.unreadable", f"cannot read: {exc.reason}")
        return ReleaseFile(rel_path, size, FileKind.UNREADABLE, abs_path, link_target)
    except OSError as exc:
        walk.issue(rel_path, "release.unreadable", f"cannot read: {exc.strerror or exc}")
        return ReleaseFile(rel_path, size, FileKind.UNREADABLE, abs_path, link_target)
    for problem in sniffed.problems:
        walk.issues.append(ReleaseIssue(rel_path, problem))
    return ReleaseFile(rel_path, size, sniffed.kind, abs_path, link_target, sniffed.note)
