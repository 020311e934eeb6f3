"""The release snapshot: files, their kinds, and a reader that counts bytes.

File names
----------
``ReleaseFile.path`` is what every analyzer and every output sees, so it is
always valid UTF-8: each ``/``-separated component is the file's name on disk
decoded as UTF-8, except that a byte that does not decode is written ``\\xHH``
(two upper-case hex digits) and a backslash is written twice (``\\\\``). The
scheme is GNU's ``ls -b`` style and it is reversible (:func:`os_name`): a
single backslash only ever starts an escape, so no real name can collide with
an escaped one. ``ReleaseFile.abs_path`` keeps the real path for I/O.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from seewhy.errors import ReleaseReadError
from seewhy.formats.interface import Problem

HASH_CHUNK = 4 * 1024 * 1024
#: Bytes of file heads a release keeps in memory, all files together.
HEAD_CACHE_BYTES = 64 * 1024 * 1024

_HEX = "0123456789ABCDEF"


def escape_name(raw: bytes) -> tuple[str, bool]:
    """One file name as valid UTF-8 text, and whether it had to be escaped.

    Undecodable bytes become ``\\xHH`` and each backslash is doubled (see the
    module docstring); a UTF-8 name without a backslash is returned as is.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "surrogateescape")
    else:
        if "\\" not in text:
            return text, False
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:
            byte = code - 0xDC00
            out.append("\\x" + _HEX[byte >> 4] + _HEX[byte & 15])
        else:
            out.append(ch)
    return "".join(out), True


def os_name(escaped: str) -> bytes:
    """The real name (bytes) of a name or path made by :func:`escape_name`."""
    out = bytearray()
    i = 0
    while i < len(escaped):
        ch = escaped[i]
        if ch == "\\" and escaped.startswith("\\", i + 1):
            out += b"\\"
            i += 2
        elif ch == "\\" and escaped.startswith("x", i + 1) and i + 4 <= len(escaped):
            out.append(int(escaped[i + 2 : i + 4], 16))
            i += 4
        else:
            out += ch.encode("utf-8")
            i += 1
    return bytes(out)


class FileKind(StrEnum):
    """What a file is, decided from its bytes (see :mod:`seewhy.release.sniff`)."""

    SAFETENSORS = "safetensors"
    GGUF = "gguf"
    PYTORCH_ZIP = "pytorch-zip"
    TORCHSCRIPT = "torchscript"
    PYTORCH_LEGACY = "pytorch-legacy"
    PICKLE = "pickle"
    NUMPY = "numpy"
    NUMPY_ZIP = "numpy-zip"
    ONNX = "onnx"
    TENSORFLOW = "tensorflow"
    KERAS_ZIP = "keras-zip"
    HDF5 = "hdf5"
    ZIP = "zip"
    TAR = "tar"
    SEVENZIP = "7z"
    COMPRESSED = "compressed"
    CONFIG = "config"
    TOKENIZER = "tokenizer"
    WEIGHT_INDEX = "weight-index"
    JSON = "json"
    MODEL_CARD = "model-card"
    LICENSE = "license"
    PYTHON = "python"
    JINJA = "jinja"
    TEXT = "text"
    EMPTY = "empty"
    UNKNOWN = "unknown"
    UNREADABLE = "unreadable"

    @property
    def is_weights(self) -> bool:
        """True for formats that carry model weights."""
        return self in _WEIGHT_KINDS


_WEIGHT_KINDS = frozenset(
    {
        FileKind.SAFETENSORS,
        FileKind.GGUF,
        FileKind.PYTORCH_ZIP,
        FileKind.TORCHSCRIPT,
        FileKind.PYTORCH_LEGACY,
        FileKind.PICKLE,
        FileKind.NUMPY,
        FileKind.NUMPY_ZIP,
        FileKind.ONNX,
        FileKind.TENSORFLOW,
        FileKind.KERAS_ZIP,
        FileKind.HDF5,
    }
)


class ReadMeter:
    """Counts every byte read from a release's files on disk, across threads.

    Bytes served from the release's head cache (:class:`HeadCache`) are not
    counted again: they were counted once, when they came from disk.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bytes = 0
        self._hashed = 0
        self._by_path: dict[str, int] = {}

    def add(self, n: int, path: str | None = None, *, hashing: bool = False) -> None:
        """Record ``n`` more bytes read from the file at release path ``path``.

        ``hashing``: read to compute a sha256.
        """
        with self._lock:
            self._bytes += n
            if hashing:
                self._hashed += n
            if path is not None:
                self._by_path[path] = self._by_path.get(path, 0) + n

    @property
    def bytes_read(self) -> int:
        """Total bytes read so far, hashing included."""
        return self._bytes

    @property
    def bytes_hashed(self) -> int:
        """Of :attr:`bytes_read`, the bytes read to hash files."""
        return self._hashed

    def bytes_read_of(self, path: str) -> int:
        """Bytes read so far from the file at release path ``path``, hashing included."""
        with self._lock:
            return self._by_path.get(path, 0)


class HeadCache:
    """The first bytes of files, kept once read, up to a total budget.

    The sniffer reads every file's head; parsers that read the same bytes
    again (a header, a whole small JSON file) are served from here, so each
    byte of a small file comes from disk once. Heads are kept first come,
    first kept, until ``budget`` bytes are held; later heads are not kept, so
    memory stays bounded however many files a release has.
    """

    def __init__(self, budget: int = HEAD_CACHE_BYTES) -> None:
        self._lock = threading.Lock()
        self._budget = budget
        self._held = 0
        self._heads: dict[str, bytes] = {}

    @property
    def held(self) -> int:
        """Bytes held now."""
        return self._held

    def put(self, path: str, head: bytes) -> None:
        """Keep ``head``, the first bytes of the file at ``path``, if the budget allows."""
        with self._lock:
            old = self._heads.get(path, b"")
            if len(old) >= len(head) or self._held + len(head) - len(old) > self._budget:
                return
            self._heads[path] = head
            self._held += len(head) - len(old)

    def get(self, path: str) -> bytes:
        """The kept head of ``path`` (empty when none is kept)."""
        return self._heads.get(path, b"")


class FileSource:
    """A :class:`~seewhy.formats.interface.Source` over one file, metered.

    Opens the file per read so that no descriptor outlives a parser; reads are
    positional (``os.pread``) and never larger than asked.
    """

    def __init__(
        self,
        abs_path: Path,
        size: int,
        rel_path: str,
        meter: ReadMeter,
        heads: HeadCache | None = None,
    ) -> None:
        self._abs = abs_path
        self._size = size
        self._rel = rel_path
        self._meter = meter
        self._heads = heads
        self._fd: int | None = None

    @property
    def size(self) -> int:
        return self._size

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the descriptor if one is open."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("offset and length must be non-negative")
        length = max(0, min(length, self._size - offset))
        if length == 0:
            return b""
        head = self._heads.get(self._rel) if self._heads is not None else b""
        if offset + length <= len(head):
            return head[offset : offset + length]
        cached = head[offset:] if offset < len(head) else b""
        start = offset + len(cached)
        try:
            if self._fd is None:
                self._fd = os.open(self._abs, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            data = os.pread(self._fd, length - len(cached), start)
        except OSError as exc:
            raise ReleaseReadError(self._rel, exc.strerror or str(exc)) from exc
        self._meter.add(len(data), self._rel)
        return cached + data if cached else data


@dataclass(frozen=True)
class ReleaseFile:
    """One file of a release.

    ``path`` is release-relative and '/'-separated; ``kind`` comes from the
    file's bytes. ``link_target`` is set when the file is reached through a
    symlink that stays inside the release.
    """

    path: str
    size: int
    kind: FileKind
    abs_path: Path = field(repr=False, compare=False)
    link_target: str | None = None
    sniff_note: str = ""


@dataclass(frozen=True)
class ReleaseIssue:
    """A problem with the release as a whole, or with one file's place in it.

    ``gap`` marks a part of the release that could not be seen at all (a
    folder that cannot be listed, an entry that cannot be examined, files past
    a cap): nothing about it is known, so no verdict may call it clean.
    """

    path: str
    problem: Problem
    gap: bool = False


@dataclass(frozen=True)
class HubCacheOrigin:
    """Where a release read from a Hugging Face cache comes from.

    ``repo_id`` is ``org/name`` from the cache folder ``models--org--name``,
    ``revision`` the snapshot folder's name (a commit hash) and ``refs`` the
    names under ``refs/`` (``main``, ``pr/1``) that point at that revision.
    """

    repo_id: str
    repo_type: str
    revision: str
    refs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Release:
    """An immutable snapshot of a model release."""

    name: str
    root: Path = field(repr=False)
    source_kind: str  # "folder" or "file"
    files: tuple[ReleaseFile, ...]
    issues: tuple[ReleaseIssue, ...] = ()
    meter: ReadMeter = field(default_factory=ReadMeter, repr=False, compare=False)
    hub: HubCacheOrigin | None = None
    heads: HeadCache = field(default_factory=HeadCache, repr=False, compare=False)
    _hashes: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    _by_path: dict[str, ReleaseFile] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def total_bytes(self) -> int:
        """Sum of the sizes of all files."""
        return sum(f.size for f in self.files)

    @property
    def report_kind(self) -> str:
        """What the report calls the source: "file" or "folder" ("hub" for a Hub release)."""
        return "file" if self.source_kind == "file" else "folder"

    @property
    def gaps(self) -> tuple[ReleaseIssue, ...]:
        """Parts of the release that could not be seen (see :class:`ReleaseIssue`)."""
        return tuple(i for i in self.issues if i.gap)

    def file(self, path: str) -> ReleaseFile | None:
        """The file at a release-relative path, if present (a dict lookup: callers loop)."""
        if not self._by_path:
            for f in self.files:
                self._by_path.setdefault(f.path, f)
        return self._by_path.get(path)

    def open(self, file: ReleaseFile) -> FileSource:
        """A metered random-access source over ``file``."""
        return FileSource(file.abs_path, file.size, file.path, self.meter, self.heads)

    def read_head(self, file: ReleaseFile, limit: int) -> bytes:
        """The first ``min(limit, size)`` bytes of ``file``."""
        with self.open(file) as src:
            return src.read_at(0, limit)

    def sha256(self, file: ReleaseFile, progress: Callable[[int], None] | None = None) -> str:
        """The sha256 of ``file``, streamed and cached (counts as bytes read).

        Always read from disk, never from the head cache: a digest vouches for
        the file as it is now.
        """
        cached = self._hashes.get(file.path)
        if cached is not None:
            return cached
        digest = hashlib.sha256()
        try:
            with file.abs_path.open("rb", buffering=0) as fh:
                buf = bytearray(HASH_CHUNK)
                view = memoryview(buf)
                while n := fh.readinto(buf):
                    digest.update(view[:n])
                    self.meter.add(n, file.path, hashing=True)
                    if progress is not None:
                        progress(n)
        except OSError as exc:
            raise ReleaseReadError(file.path, exc.strerror or str(exc)) from exc
        value = digest.hexdigest()
        self._hashes[file.path] = value
        return value

    def known_sha256(self, file: ReleaseFile) -> str | None:
        """The sha256 if it has been computed, else None (never reads)."""
        return self._hashes.get(file.path)
