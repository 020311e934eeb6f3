"""The release snapshot: files, their kinds, and a reader that counts bytes."""

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
    """Counts every byte read from a release, across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bytes = 0
        self._hashed = 0

    def add(self, n: int, *, hashing: bool = False) -> None:
        """Record ``n`` more bytes read (``hashing``: read to compute a sha256)."""
        with self._lock:
            self._bytes += n
            if hashing:
                self._hashed += n

    @property
    def bytes_read(self) -> int:
        """Total bytes read so far, hashing included."""
        return self._bytes

    @property
    def bytes_hashed(self) -> int:
        """Of :attr:`bytes_read`, the bytes read to hash files."""
        return self._hashed


class FileSource:
    """A :class:`~seewhy.formats.interface.Source` over one file, metered.

    Opens the file per read so that no descriptor outlives a parser; reads are
    positional (``os.pread``) and never larger than asked.
    """

    def __init__(self, abs_path: Path, size: int, rel_path: str, meter: ReadMeter) -> None:
        self._abs = abs_path
        self._size = size
        self._rel = rel_path
        self._meter = meter
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
        try:
            if self._fd is None:
                self._fd = os.open(self._abs, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            data = os.pread(self._fd, length, offset)
        except OSError as exc:
            raise ReleaseReadError(self._rel, exc.strerror or str(exc)) from exc
        self._meter.add(len(data))
        return data


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
    """A problem with the release as a whole, or with one file's place in it."""

    path: str
    problem: Problem


@dataclass(frozen=True)
class Release:
    """An immutable snapshot of a model release."""

    name: str
    root: Path = field(repr=False)
    source_kind: str  # "folder" or "file"
    files: tuple[ReleaseFile, ...]
    issues: tuple[ReleaseIssue, ...] = ()
    meter: ReadMeter = field(default_factory=ReadMeter, repr=False, compare=False)
    _hashes: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def total_bytes(self) -> int:
        """Sum of the sizes of all files."""
        return sum(f.size for f in self.files)

    def file(self, path: str) -> ReleaseFile | None:
        """The file at a release-relative path, if present."""
        return next((f for f in self.files if f.path == path), None)

    def open(self, file: ReleaseFile) -> FileSource:
        """A metered random-access source over ``file``."""
        return FileSource(file.abs_path, file.size, file.path, self.meter)

    def read_head(self, file: ReleaseFile, limit: int) -> bytes:
        """The first ``min(limit, size)`` bytes of ``file``."""
        with self.open(file) as src:
            return src.read_at(0, limit)

    def sha256(self, file: ReleaseFile, progress: Callable[[int], None] | None = None) -> str:
        """The sha256 of ``file``, streamed and cached (counts as bytes read)."""
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
                    self.meter.add(n, hashing=True)
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
