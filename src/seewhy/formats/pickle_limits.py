"""The bounds of a symbolic pickle scan (:class:`ScanLimits`).

A module of its own, without the pickle machine, so an analyzer can hold its
limits without importing :mod:`seewhy.formats.pickle_vm` until it has a pickle
to scan. :mod:`seewhy.formats.pickle_vm` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ScanLimits"]


@dataclass(frozen=True)
class ScanLimits:
    """Bounds of one scan. Reaching one stops the scan (``complete=False``)."""

    max_ops: int = 20_000_000
    max_stack: int = 1_000_000
    max_memo: int = 4_000_000
    max_expansion: int = 10_000_000
    """A value whose expanded size passes this (and 16x the work done) is expansion abuse."""
    max_memo_index: int = 1 << 26
    max_line: int = 1 << 20
    max_inline_bytes: int = 1 << 20
    """String and bytes constants longer than this are stepped over, not read."""
    max_pickles: int = 64
    max_records: int = 200_000
    max_nested_depth: int = 4
    max_nested_bytes: int = 64 << 20
    max_nested: int = 64
