"""What every parser shares: a random-access byte source and a problem record.

Parsers take a :class:`Source` (never a path, never a whole file in memory)
and return a description. Structural problems they can describe and carry on
past are :class:`Problem` records in that description; problems that stop
them raise :class:`~seewhy.errors.FormatError`. Neither is a verdict: the
analyzers decide what a problem means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Source(Protocol):
    """Random access to the bytes of one file."""

    @property
    def size(self) -> int:
        """Length of the file in bytes."""
        ...

    def read_at(self, offset: int, length: int) -> bytes:
        """Return up to ``length`` bytes from ``offset`` (fewer only at the end)."""
        ...


@dataclass(frozen=True)
class Problem:
    """A structural problem found while parsing.

    ``code`` is stable (``"safetensors.trailing-bytes"``) and maps to a rule
    id in the rule registry; ``offset`` is a byte offset into the file,
    ``pointer`` a JSON pointer or key path where that is clearer.
    """

    code: str
    message: str
    offset: int | None = None
    pointer: str | None = None
    excerpt: str | None = None


class BytesSource:
    """A :class:`Source` over bytes held in memory (small files and tests)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    @property
    def size(self) -> int:
        return len(self._data)

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("offset and length must be non-negative")
        return self._data[offset : offset + length]


def read_exact(
    source: Source, offset: int, length: int, what: str, code: str = "truncated"
) -> bytes:
    """Read exactly ``length`` bytes or raise a ``truncated`` FormatError.

    The length is checked against the bytes that remain before anything is
    read, so a lying length never causes a large allocation.
    """
    from seewhy.errors import FormatError

    if length < 0 or offset < 0 or offset + length > source.size:
        raise FormatError(
            code,
            f"{what}: needs {length} bytes at offset {offset}, "
            f"but the file has {max(source.size - offset, 0)} left",
            offset,
        )
    data = source.read_at(offset, length)
    if len(data) != length:
        raise FormatError(code, f"{what}: short read at offset {offset}", offset)
    return data
