"""Measured runs given to ``seewhy audit --evidence``: from the store or a JSON export.

An export is what ``seewhy eval --format json`` and ``seewhy compare --format
json`` write: ``{"kind": "seewhy.eval", "runs": [{"run": RunRecord, "items":
[ItemRecord, …]}, …]}`` (other keys are ignored). It is the user's own file,
not part of the release, but is still read with a size bound and validated
record by record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from seewhy.errors import SeewhyError
from seewhy.evaluation.model import ItemRecord, RunRecord

if TYPE_CHECKING:
    from seewhy.evaluation.store import Store

EXPORT_KIND = "seewhy.eval"
EXPORT_FORMAT = 1
MAX_EXPORT_BYTES = 1 << 30
"""Largest JSON export read (1 GiB: the full MMLU with every prompt is well under)."""
MIN_RUN_PREFIX = 6
"""Fewest characters of a run id accepted as an abbreviation."""


class EvidenceError(SeewhyError):
    """An evidence reference names no run, or its file cannot be read."""


@dataclass(frozen=True)
class RunEvidence:
    """One measured run with its items, and where it came from (a run id or a file)."""

    run: RunRecord
    items: tuple[ItemRecord, ...]
    origin: str


def export_runs(runs: Iterable[tuple[RunRecord, Sequence[ItemRecord]]]) -> list[dict[str, Any]]:
    """The ``runs`` list of an export: each run with every item, as JSON values."""
    return [
        {
            "run": run.model_dump(mode="json"),
            "items": [i.model_dump(mode="json") for i in items],
        }
        for run, items in runs
    ]


def read_export(path: Path) -> list[RunEvidence]:
    """The runs of a JSON export (see the module's docstring)."""
    try:
        size = path.stat().st_size
        if size > MAX_EXPORT_BYTES:
            raise EvidenceError(
                f"{path}: {size:,} bytes is over the {MAX_EXPORT_BYTES:,}-byte limit of an export"
            )
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        raise EvidenceError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvidenceError(f"{path} is not JSON: {exc}") from exc
    entries = doc.get("runs") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        raise EvidenceError(
            f"{path} is not a seewhy export (no 'runs' list); write one with "
            "`seewhy eval … --format json -o FILE`"
        )
    out: list[RunEvidence] = []
    for n, entry in enumerate(entries):
        try:
            if not isinstance(entry, dict) or not isinstance(entry.get("items"), list):
                raise EvidenceError(f"{path}: runs[{n}] has no 'run' and 'items'")
            run = RunRecord.model_validate(entry.get("run"))
            items = tuple(ItemRecord.model_validate(i) for i in entry["items"])
        except ValidationError as exc:
            first = exc.errors()[0]
            where = "/".join(str(p) for p in first["loc"])
            raise EvidenceError(f"{path}: runs[{n}]: {where}: {first['msg']}") from exc
        out.append(RunEvidence(run, items, str(path)))
    return out


def find_run(store: Store, ref: str) -> RunRecord:
    """The stored run ``ref`` names: its id, or a unique prefix of at least 6 characters."""
    run = store.get_run(ref)
    if run is not None:
        return run
    matches = (
        [r for r in store.runs() if r.run_id.startswith(ref)] if len(ref) >= MIN_RUN_PREFIX else []
    )
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise EvidenceError(
            f"{ref!r} names {len(matches)} stored runs; give more of the run id "
            "(`seewhy eval list` shows them)"
        )
    raise EvidenceError(
        f"no file and no stored run {ref!r} in {store.path}; `seewhy eval list` shows the "
        "stored runs (--store or SEEWHY_STORE picks another store)"
    )


def load_evidence(refs: Sequence[str], store: Store | None) -> list[RunEvidence]:
    """Each reference as runs: an existing file is a JSON export, anything else a run id.

    ``store`` is needed only for run ids; without one a run id is an error.
    """
    out: list[RunEvidence] = []
    for ref in refs:
        path = Path(ref).expanduser()
        if path.is_file():
            out.extend(read_export(path))
            continue
        if store is None:
            raise EvidenceError(f"no such file {ref!r}, and no store to look a run id up in")
        run = find_run(store, ref)
        out.append(RunEvidence(run, tuple(store.items(run.run_id)), f"run {run.run_id}"))
    return out
