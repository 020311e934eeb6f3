"""Which compression a stream starts with, from its first bytes.

One table for every place that needs to know: the sniffer (is this file a
compressed stream?), the pickle scanner (joblib's compressed dumps) and the
archive scanner (compressed tars). zlib and lzma-alone streams have no magic
of their own, only a header; callers that must be sure decode a little.
"""

from __future__ import annotations

# Longest magic first is not needed: no magic is a prefix of another.
_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x04\x22\x4d\x18", "lz4"),  # lz4 frame
    (b"\x5d\x00\x00", "lzma"),  # lzma-alone header (properties byte 0x5d)
)
# zlib headers for deflate with a 32 KiB window and no preset dictionary, at each level.
ZLIB_HEADERS = frozenset({b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda"})


def compression_of(head: bytes) -> str | None:
    """``gzip``, ``bz2``, ``xz``, ``zstd``, ``lz4``, ``lzma`` or ``zlib``, or None."""
    if head[:2] in ZLIB_HEADERS:
        return "zlib"
    return next((name for magic, name in _MAGICS if head.startswith(magic)), None)
