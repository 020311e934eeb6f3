"""Open a local folder (Hugging Face snapshot layout) or a single file."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from seewhy.errors import ReleaseError, ReleaseNotFoundError
from seewhy.formats.interface import Problem
from seewhy.release.model import FileKind, ReadMeter, Release, ReleaseFile, ReleaseIssue
from seewhy.release.sniff import sniff_file

MAX_FILES = 100_000
MAX_DEPTH = 64
SKIPPED_DIRS = frozenset({".git", ".hg", ".svn"})


@dataclass
class _Walk:
    root: Path
    meter: ReadMeter
    max_files: int
    files: list[ReleaseFile] = field(default_factory=list)
    issues: list[ReleaseIssue] = field(default_factory=list)
    seen_dirs: set[tuple[int, int]] = field(default_factory=set)
    truncated: bool = False

    def issue(self, path: str, code: str, message: str, excerpt: str | None = None) -> None:
        self.issues.append(ReleaseIssue(path, Problem(code, message, excerpt=excerpt)))


def open_release(source: str | os.PathLike[str], *, max_files: int = MAX_FILES) -> Release:
    """Snapshot a folder or a single artifact file.

    Symlinks are followed only while they stay inside the folder; a link that
    leaves it, dangles or loops is recorded as an issue and not followed.
    Raises :class:`ReleaseNotFoundError` when ``source`` does not exist.
    """
    path = Path(source)
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise ReleaseNotFoundError(str(source)) from exc
    except OSError as exc:
        raise ReleaseError(f"cannot open {source}: {exc.strerror or exc}") from exc
    meter = ReadMeter()
    if stat.S_ISREG(st.st_mode):
        resolved = path.resolve()
        walk = _Walk(resolved.parent, meter, max_files)
        walk.files.append(_make_file(walk, resolved, path.name, st.st_size, None))
        return Release(
            name=path.name,
            root=resolved.parent,
            source_kind="file",
            files=tuple(walk.files),
            issues=tuple(walk.issues),
            meter=meter,
        )
    if not stat.S_ISDIR(st.st_mode):
        raise ReleaseError(f"{source} is neither a file nor a folder")
    root = path.resolve()
    walk = _Walk(root, meter, max_files)
    walk.seen_dirs.add((st.st_dev, st.st_ino))
    _walk_dir(walk, root, "", 0)
    walk.files.sort(key=lambda f: f.path)
    walk.issues.sort(key=lambda i: (i.path, i.problem.code))
    return Release(
        name=root.name,
        root=root,
        source_kind="folder",
        files=tuple(walk.files),
        issues=tuple(walk.issues),
        meter=meter,
    )


def _inside(root: Path, target: Path) -> bool:
    return target == root or root in target.parents


def _walk_dir(walk: _Walk, directory: Path, rel: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        walk.issue(rel, "release.too-deep", f"folder nesting deeper than {MAX_DEPTH}; not listed")
        return
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        walk.issue(rel or ".", "release.unreadable", f"cannot list folder: {exc.strerror or exc}")
        return
    for entry in entries:
        if walk.truncated:
            return
        rel_path = f"{rel}/{entry.name}" if rel else entry.name
        _visit(walk, Path(entry.path), rel_path, depth)


def _visit(walk: _Walk, abs_path: Path, rel_path: str, depth: int) -> None:
    link_target: str | None = None
    try:
        lst = abs_path.lstat()
    except OSError as exc:
        walk.issue(rel_path, "release.unreadable", f"cannot stat: {exc.strerror or exc}")
        return
    if stat.S_ISLNK(lst.st_mode):
        raw_target = str(abs_path.readlink())
        try:
            st = abs_path.stat()
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                walk.issue(
                    rel_path, "release.symlink-loop", "symlink loop; not followed", raw_target
                )
            else:
                walk.issue(rel_path, "release.symlink-dangling", "symlink to nothing", raw_target)
            return
        real = abs_path.resolve()
        if not _inside(walk.root, real):
            walk.issue(
                rel_path,
                "release.symlink-escape",
                "symlink points outside the release; not followed",
                raw_target,
            )
            return
        link_target = real.relative_to(walk.root).as_posix() or "."
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
    if len(walk.files) >= walk.max_files:
        walk.truncated = True
        walk.issue(
            rel_path,
            "release.too-many-files",
            f"more than {walk.max_files} files; the rest are not listed",
        )
        return
    walk.files.append(_make_file(walk, abs_path, rel_path, st.st_size, link_target))


def _make_file(
    walk: _Walk, abs_path: Path, rel_path: str, size: int, link_target: str | None
) -> ReleaseFile:
    if not os.access(abs_path, os.R_OK):
        walk.issue(rel_path, "release.unreadable", "file is not readable")
        return ReleaseFile(rel_path, size, FileKind.UNREADABLE, abs_path, link_target)
    try:
        sniffed = sniff_file(abs_path, rel_path, size, walk.meter)
    except OSError as exc:
        walk.issue(rel_path, "release.unreadable", f"cannot read: {exc.strerror or exc}")
        return ReleaseFile(rel_path, size, FileKind.UNREADABLE, abs_path, link_target)
    for problem in sniffed.problems:
        walk.issues.append(ReleaseIssue(rel_path, problem))
    return ReleaseFile(rel_path, size, sniffed.kind, abs_path, link_target, sniffed.note)
