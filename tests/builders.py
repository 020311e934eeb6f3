"""Helpers that write test artifacts: valid ones by the format's rules, broken ones by hand."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from seewhy.formats.interface import Source

if TYPE_CHECKING:
    from seewhy.evaluation.model import ItemRecord, RunRecord

DTYPE_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "I8": 1, "U8": 1, "I64": 8}


def sparse_safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]]) -> int:
    """Write a valid safetensors file whose data section is a sparse hole.

    The header is exact (contiguous offsets from 0); the data bytes are never
    written, so a file of many GB costs no disk. Returns the file size.
    """
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        n = 1
        for d in shape:
            n *= d
        size = n * DTYPE_BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(raw)))
        fh.write(raw)
    total = 8 + len(raw) + offset
    os.truncate(path, total)
    return total


def raw_safetensors(header: bytes, data: bytes = b"", length: int | None = None) -> bytes:
    """Bytes of a safetensors file with a given header (length prefix optional override)."""
    n = len(header) if length is None else length
    return struct.pack("<Q", n) + header + data


class CountingSource:
    """Wraps a Source and counts what it hands out: bytes, reads, furthest offset."""

    def __init__(self, inner: Source) -> None:
        self.inner = inner
        self.bytes_read = 0
        self.reads = 0
        self.furthest = 0

    @property
    def size(self) -> int:
        return self.inner.size

    def read_at(self, offset: int, length: int) -> bytes:
        data = self.inner.read_at(offset, length)
        self.bytes_read += len(data)
        self.reads += 1
        self.furthest = max(self.furthest, offset + len(data))
        return data


def without_dac_capabilities() -> list[str] | None:
    """The command prefix that makes file permissions bind for root, or None.

    As root, mode 000 stops nothing. ``setpriv`` removes CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH from the bounding and inheritable sets: the process stays
    uid 0, so it still reads what root owns (CI's checkout may sit in a 0700
    temporary folder), but a mode-000 file or folder stops it. ``[]`` when not
    root (permissions already bind); None when root and setpriv is missing.
    """
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}"]


def made_run(
    model: str, right: set[int], version: str = "v1", n: int = 12
) -> tuple[RunRecord, list[ItemRecord]]:
    """An arc_easy run of ``n`` two-choice items, right on the items in ``right``."""
    from seewhy.evaluation.model import ItemRecord, ModelFingerprint, RunRecord, stable_hash
    from seewhy.evaluation.stats import summarize_items

    run_id = f"made-{model}-{version}"
    items = [
        ItemRecord(
            run_id=run_id,
            task="arc_easy",
            item_id=f"q{i}",
            item_hash=stable_hash(["q", i]),
            prompt_hash=stable_hash(["p", i]),
            prompt=f"Question: made-up question {i}?\nAnswer:",
            target="yes",
            choices=("yes", "no"),
            gold=0,
            choice_logprobs=(-0.5, -1.5) if i in right else (-1.5, -0.5),
            scores={"acc": 1.0 if i in right else 0.0},
            slices={"topic": "even" if i % 2 == 0 else "odd"},
        )
        for i in range(n)
    ]
    run = RunRecord(
        run_id=run_id,
        task="arc_easy",
        task_version=version,
        output_type="multiple_choice",
        model=ModelFingerprint(id=model, backend="transformers", digest=model * 8),
        n_items=n,
        metrics=summarize_items(items),
    )
    return run, items


def write_export(path: Path, *runs: tuple[RunRecord, list[ItemRecord]]) -> Path:
    """``runs`` written as a ``seewhy eval --format json`` export."""
    from seewhy.analyzers.performance import export_runs

    path.write_text(
        json.dumps({"kind": "seewhy.eval", "runs": export_runs(runs)}), encoding="utf-8"
    )
    return path
