"""Which compression a stream uses, decided once, and a bounded reader that undoes it.

One decision for every place that needs to know: the sniffer (is this file a
compressed stream?), the pickle scanner (joblib's compressed dumps) and the
archive checks (compressed tars, compressed members). :func:`detect` looks
at a stream's first bytes and returns a :class:`Compression`: the method,
where the compressed bytes start (joblib's pre-0.10 ``ZF`` container puts
a length header before its zlib stream) and whether this Python can decode
it. zlib and lzma-alone streams have a header but no magic of their own, so
:func:`detect` decodes a little of them before it says yes.

:class:`DecompressedReader` is a forward-only file object over the
decompressed bytes of a :class:`~seewhy.formats.interface.Source`: it never
produces more than its output cap and stops a stream that expands beyond
its ratio cap (a decompression bomb) with :class:`CompressionLimit`.
Concatenated gzip, bzip2 and xz members are read on as the command-line
tools read them.
"""

from __future__ import annotations

import bz2
import importlib
import importlib.util
import io
import lzma
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from seewhy.formats.interface import Source

__all__ = [
    "DECODE_ERRORS",
    "METHODS",
    "ZLIB_HEADERS",
    "Compression",
    "CompressionLimit",
    "DecompressedReader",
    "compression_of",
    "decompress_all",
    "detect",
]

METHODS = ("gzip", "zlib", "bz2", "xz", "lzma", "zstd", "lz4")
"""Every method :func:`detect` can name."""

# No magic is a prefix of another.
_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x04\x22\x4d\x18", "lz4"),  # lz4 frame
    (b"\x5d\x00\x00", "lzma"),  # lzma-alone header (properties byte 0x5d)
)
ZLIB_HEADERS = frozenset({b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda"})
"""zlib headers for deflate with a 32 KiB window and no preset dictionary, at each level."""

# joblib < 0.10 (numpy_pickle_compat.write_zfile): b"ZF", the uncompressed length as
# hex ("0x...") left-justified to 19 characters, then a zlib stream (sometimes after
# one more space, written by Python 2 joblib <= 0.8.4).
_ZFILE_PREFIX = b"ZF"
_ZFILE_LENGTH = 19

_READ_CHUNK = 64 * 1024
# zlib and lzma-alone have no magic: this much of the head must decode.
_PROBE_INPUT = 4096

DECODE_ERRORS: tuple[type[BaseException], ...] = (
    zlib.error,
    lzma.LZMAError,
    OSError,
    EOFError,
    ValueError,
)
"""What a decoder raises on corrupt input (the optional zstd and lz4 decoders included)."""


@dataclass(frozen=True)
class Compression:
    """How a stream is compressed: ``method``, from byte ``offset`` on.

    ``container`` names a wrapper around the compressed stream (``joblib-zfile``
    for joblib's pre-0.10 format), ``None`` for a bare stream.
    """

    method: str
    offset: int = 0
    container: str | None = None

    @property
    def available(self) -> bool:
        """Whether this Python can decode the method (zstd and lz4 need extra modules)."""
        return _available(self.method)

    @property
    def label(self) -> str:
        """A short description for messages: ``zlib``, ``zlib in joblib's ZF container``."""
        if self.container == "joblib-zfile":
            return f"{self.method} in joblib's ZF container"
        return self.method

    @property
    def missing_module(self) -> str | None:
        """The module to install to decode this method, or ``None``."""
        if self.available:
            return None
        return _OPTIONAL.get(self.method)


_OPTIONAL = {"zstd": "zstandard", "lz4": "lz4"}


def _available(method: str) -> bool:
    module = _OPTIONAL.get(method)
    if module is None:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def detect(head: bytes) -> Compression | None:
    """The compression the stream starting with ``head`` uses, or ``None``.

    Give at least the first few KiB: a zlib or lzma-alone header counts only
    when the bytes after it decode.
    """
    if head.startswith(_ZFILE_PREFIX):
        zfile = _joblib_zfile(head)
        if zfile is not None:
            return zfile
    method = _method_by_magic(head)
    if method is None:
        return None
    if method in ("zlib", "lzma") and not _decodes(head, method):
        return None
    return Compression(method)


def compression_of(head: bytes) -> str | None:
    """The method :func:`detect` decides for ``head``, or ``None``."""
    found = detect(head)
    return found.method if found is not None else None


def _method_by_magic(head: bytes) -> str | None:
    if head[:2] in ZLIB_HEADERS:
        return "zlib"
    return next((name for magic, name in _MAGICS if head.startswith(magic)), None)


def _joblib_zfile(head: bytes) -> Compression | None:
    field = head[len(_ZFILE_PREFIX) : len(_ZFILE_PREFIX) + _ZFILE_LENGTH]
    text = field.rstrip(b" ")
    if len(field) < _ZFILE_LENGTH or not text.startswith(b"0x") or len(text) < 3:
        return None
    if any(c not in b"0123456789abcdefABCDEF" for c in text[2:]):
        return None
    offset = len(_ZFILE_PREFIX) + _ZFILE_LENGTH
    if head[offset : offset + 1] == b" ":
        offset += 1
    if head[offset : offset + 2] not in ZLIB_HEADERS or not _decodes(head[offset:], "zlib"):
        return None
    return Compression("zlib", offset, "joblib-zfile")


def _decodes(head: bytes, method: str) -> bool:
    """Whether the head of a zlib or lzma-alone stream decodes to some bytes."""
    try:
        if method == "zlib":
            return len(zlib.decompressobj().decompress(head[:_PROBE_INPUT], 64)) > 0
        decoder = lzma.LZMADecompressor(format=lzma.FORMAT_ALONE)
        return len(decoder.decompress(head[:_PROBE_INPUT], 64)) > 0
    except (zlib.error, lzma.LZMAError):
        return False


# ---------------------------------------------------------------- decoders


class _Decoder(Protocol):
    @property
    def needs_input(self) -> bool: ...

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class _Zlib:
    """zlib's decompressor with the bz2/lzma calling convention (unconsumed tail kept)."""

    def __init__(self, wbits: int) -> None:
        self._inner = zlib.decompressobj(wbits=wbits)
        self._tail = b""

    @property
    def needs_input(self) -> bool:
        return not self._tail

    @property
    def eof(self) -> bool:
        return self._inner.eof

    @property
    def unused_data(self) -> bytes:
        return self._inner.unused_data

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        out = self._inner.decompress(self._tail + data, max(max_length, 0))
        self._tail = self._inner.unconsumed_tail
        return out


def _lz4() -> _Decoder:
    import lz4.frame  # type: ignore[import-not-found]  # optional

    decoder: _Decoder = lz4.frame.LZ4FrameDecompressor()
    return decoder


_DECODERS: dict[str, Callable[[], _Decoder]] = {
    "gzip": lambda: _Zlib(31),
    "zlib": lambda: _Zlib(15),
    "bz2": bz2.BZ2Decompressor,
    "xz": lambda: lzma.LZMADecompressor(format=lzma.FORMAT_XZ),
    "lzma": lambda: lzma.LZMADecompressor(format=lzma.FORMAT_ALONE),
    "lz4": _lz4,
}
# Methods whose files may hold several streams back to back (gzip -c a b > ab.gz).
_MULTI_STREAM = {"gzip": b"\x1f\x8b", "bz2": b"BZh", "xz": b"\xfd7zXZ\x00"}


class CompressionLimit(Exception):
    """A decompressing read went past its output cap or its ratio cap."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "output" or "ratio"
        self.message = message


class _SourceStream(io.RawIOBase):
    """A forward-only raw file object over ``source[offset:]`` (for the zstd reader)."""

    def __init__(self, source: Source, offset: int) -> None:
        super().__init__()
        self._source = source
        self.position = offset

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self._source.read_at(self.position, min(len(buffer), _READ_CHUNK))
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


class DecompressedReader(io.RawIOBase):
    """The decompressed bytes of ``source`` as a forward-only file object, within caps.

    ``max_output`` caps the bytes produced; ``max_ratio`` (with
    ``ratio_floor``) stops a stream whose output exceeds ``max_ratio`` times
    the input consumed once it is past ``ratio_floor`` bytes. Both raise
    :class:`CompressionLimit`. Decoding errors propagate (see
    :data:`DECODE_ERRORS`). ``output`` and ``consumed`` count bytes so far.
    """

    def __init__(
        self,
        source: Source,
        compression: Compression,
        *,
        max_output: int,
        max_ratio: float | None = None,
        ratio_floor: int = 16 << 20,
    ) -> None:
        super().__init__()
        if not compression.available:
            raise ValueError(f"no decoder for {compression.method}")
        self._source = source
        self._compression = compression
        self._max_output = max_output
        self._max_ratio = max_ratio
        self._ratio_floor = ratio_floor
        self._position = compression.offset
        self._pending = b""
        self._done = False
        self.output = 0
        self._zstd: Any = None
        self._zstd_input: _SourceStream | None = None
        self._decoder: _Decoder | None = None
        if compression.method == "zstd":
            # Optional: typed as Any so the module checks with or without it.
            zstandard: Any = importlib.import_module("zstandard")

            self._zstd_input = _SourceStream(source, compression.offset)
            self._zstd = zstandard.ZstdDecompressor().stream_reader(
                self._zstd_input, read_size=_READ_CHUNK, read_across_frames=True
            )
        else:
            self._decoder = _DECODERS[compression.method]()
        self.name = "stream"

    @property
    def consumed(self) -> int:
        """Compressed bytes read from the source so far."""
        if self._zstd_input is not None:
            return self._zstd_input.position - self._compression.offset
        return self._position - self._compression.offset

    @property
    def eof(self) -> bool:
        """Whether the compressed stream has ended."""
        return self._done and not self._pending

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        want = _READ_CHUNK if size is None or size < 0 else size
        # One byte past the cap tells "exactly at the cap" from "more".
        want = min(want, self._max_output + 1 - self.output)
        while len(self._pending) < want and not self._done:
            produced = self._step(want - len(self._pending))
            if produced is None:
                self._done = True
                break
            self._pending += produced
        data, self._pending = self._pending[:want], self._pending[want:]
        self.output += len(data)
        self._check()
        return data

    def _step(self, want: int) -> bytes | None:
        """Some more output (possibly empty), or ``None`` at the end of the stream."""
        if self._zstd is not None:
            chunk = self._zstd.read(want)
            return chunk or None
        decoder = self._decoder
        assert decoder is not None
        if decoder.eof:
            if not self._restart(decoder):
                return None
            decoder = self._decoder
            assert decoder is not None
        chunk = b""
        if decoder.needs_input:
            chunk = self._source.read_at(self._position, _READ_CHUNK)
            self._position += len(chunk)
            if not chunk:
                return None  # the stream is cut short: what was produced stands
        return decoder.decompress(chunk, want)

    def _restart(self, decoder: _Decoder) -> bool:
        """After one stream ends, start on the next one when the method allows it."""
        magic = _MULTI_STREAM.get(self._compression.method)
        rest = decoder.unused_data
        self._position -= len(rest)
        if magic is None:
            return False
        if self._source.read_at(self._position, len(magic)) != magic:
            return False
        self._decoder = _DECODERS[self._compression.method]()
        return True

    @property
    def trailing(self) -> int:
        """Bytes after the end of the last stream (known once ``eof``)."""
        return max(self._source.size - self._position, 0) if self._zstd is None else 0

    def _check(self) -> None:
        if self.output > self._max_output:
            raise CompressionLimit(
                "output", f"more than {self._max_output:,} bytes when decompressed"
            )
        ratio = self._max_ratio
        if (
            ratio is not None
            and self.output > self._ratio_floor
            and self.output > ratio * max(self.consumed, 1)
        ):
            raise CompressionLimit(
                "ratio",
                f"{self.consumed:,} compressed bytes expand to more than {self.output:,} "
                f"(over {ratio:g}:1)",
            )


def decompress_all(source: Source, compression: Compression, max_output: int) -> bytes:
    """The whole decompressed stream, at most ``max_output`` bytes.

    Raises :class:`CompressionLimit` past the cap, and a decoding error (see
    :data:`DECODE_ERRORS`) on corrupt input.
    """
    reader = DecompressedReader(source, compression, max_output=max_output)
    out = bytearray()
    while chunk := reader.read(1 << 20):
        out += chunk
    return bytes(out)
