"""Evaluations run elsewhere, read into seewhy's records.

``seewhy eval ingest PATH…`` reads lm-evaluation-harness ``--log_samples``
output (a folder, a ``results_*.json`` or a ``samples_*.jsonl``) and
inspect-ai logs (``.eval`` zips and ``.json`` files) into the same
:class:`~seewhy.evaluation.model.RunRecord` and
:class:`~seewhy.evaluation.model.ItemRecord` a seewhy run produces, so runs
made on a cluster (with vLLM, say) are analysed and compared here.
"""

from __future__ import annotations

from pathlib import Path

from seewhy.evaluation.ingest._common import (
    DEFAULT_LIMITS,
    IngestedRun,
    IngestError,
    IngestLimits,
    read_json_file,
)
from seewhy.evaluation.ingest.inspect import is_inspect_log, read_inspect
from seewhy.evaluation.ingest.lmeval import is_lmeval_results, read_lmeval

__all__ = [
    "IngestError",
    "IngestLimits",
    "IngestedRun",
    "ingest",
    "read_inspect",
    "read_lmeval",
]


def ingest(path: Path | str, limits: IngestLimits = DEFAULT_LIMITS) -> list[IngestedRun]:
    """Every run in the log at ``path``, whichever tool wrote it."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"no such file or folder: {path}")
    if path.is_dir():
        inspect_logs = sorted(p for p in path.iterdir() if p.suffix == ".eval" and p.is_file())
        if inspect_logs:
            return [read_inspect(p, limits) for p in inspect_logs[: limits.max_files]]
        return read_lmeval(path, limits)
    if path.suffix == ".eval":
        return [read_inspect(path, limits)]
    if path.suffix == ".jsonl":
        return read_lmeval(path, limits)
    if path.suffix == ".json":
        if path.name.startswith("results_"):
            return read_lmeval(path, limits)
        document = read_json_file(path, limits)
        if is_inspect_log(document):
            return [read_inspect(path, limits)]
        if is_lmeval_results(document):
            return read_lmeval(path, limits)
        raise IngestError(f"{path} is neither an inspect-ai log nor an lm-eval results file")
    raise IngestError(
        f"{path}: not a log seewhy reads (an lm-eval output folder, results_*.json or "
        "samples_*.jsonl; an inspect-ai .eval or .json log)"
    )
