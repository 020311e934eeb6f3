"""What both log readers share: bounds, bounded JSON reading, the ingested-run shape."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seewhy.errors import SeewhyError
from seewhy.evaluation.model import ItemRecord, MetricSummary, RunRecord


class IngestError(SeewhyError):
    """A log cannot be read into records (not a log, too large, malformed)."""


@dataclass(frozen=True)
class IngestLimits:
    """Bounds on an untrusted log; every read stays under them."""

    max_json_bytes: int = 256 * 1024 * 1024  # one JSON document (results file, inspect .json)
    max_line_bytes: int = 64 * 1024 * 1024  # one JSONL line
    max_items: int = 2_000_000  # records per run
    max_members: int = 500_000  # members of an inspect .eval zip
    max_member_bytes: int = 256 * 1024 * 1024  # one member, uncompressed
    max_eval_bytes: int = 8 * 1024 * 1024 * 1024  # all members of one .eval, uncompressed
    max_files: int = 10_000  # files looked at under a folder


DEFAULT_LIMITS = IngestLimits()


@dataclass(frozen=True)
class IngestedRun:
    """One run read from a log: the run, its items, and what the reader had to say."""

    run: RunRecord
    items: tuple[ItemRecord, ...]
    notes: tuple[str, ...] = ()


def read_json_file(path: Path, limits: IngestLimits) -> Any:
    """A JSON document no larger than the limit (never anything but JSON)."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if size > limits.max_json_bytes:
        raise IngestError(
            f"{path} is {size} bytes, over the {limits.max_json_bytes}-byte limit for a JSON log"
        )
    try:
        with path.open("rb") as handle:
            raw = handle.read(limits.max_json_bytes + 1)
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return decode_json(raw, str(path), limits)


def decode_json(raw: bytes, where: str, limits: IngestLimits) -> Any:
    if len(raw) > limits.max_json_bytes:
        raise IngestError(f"{where} is over the {limits.max_json_bytes}-byte limit for JSON")
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except RecursionError as exc:
        raise IngestError(f"{where}: JSON nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise IngestError(f"{where} is not valid JSON: {str(exc)[:200]}") from exc


def _no_constant(name: str) -> float:
    # NaN and Infinity are not JSON, but Python writers (lm-eval) emit them: keep them
    # as floats the records can test for, never as anything else.
    return float(name.replace("Infinity", "inf"))


def iter_jsonl(path: Path, limits: IngestLimits) -> Iterator[tuple[int, Any]]:
    """(line number, value) for each non-empty line of a JSONL file, streamed."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with handle:
        number = 0
        while True:
            line = handle.readline(limits.max_line_bytes + 1)
            if not line:
                return
            number += 1
            if len(line) > limits.max_line_bytes:
                raise IngestError(
                    f"{path}:{number}: line over the {limits.max_line_bytes}-byte limit"
                )
            if line.strip():
                yield number, decode_json(line, f"{path}:{number}", limits)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def as_float(value: Any) -> float | None:
    """A finite float from a JSON number or a numeric string; None otherwise."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def clip_text(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


SLICE_KEYS = (
    "subject",
    "category",
    "subcategory",
    "topic",
    "domain",
    "source",
    "type",
    "level",
    "difficulty",
    "language",
    "split",
)


def scalar_slices(values: dict[str, Any], keys: tuple[str, ...] | None = None) -> dict[str, str]:
    """Short scalar fields as slice labels (at most 32, each bounded)."""
    slices: dict[str, str] = {}
    for key, value in values.items():
        if len(slices) >= 32:
            break
        if keys is not None and key not in keys:
            continue
        if not isinstance(key, str) or len(key) > 64:
            continue
        if isinstance(value, str | int | float):  # bool is an int
            slices[key] = clip_text(str(value))
    return slices


def summary(
    metric: str,
    values: list[float],
    reported_value: float | None = None,
    reported_stderr: float | None = None,
) -> MetricSummary:
    """A metric over ``values`` (the items' scores), as the log reported it where it did.

    The log's own value and standard error win when present; otherwise the
    mean and the standard error of the mean (n-1 in the variance, as lm-eval
    and inspect compute it). The interval is the normal 95% one, clipped to
    [0, 1] for metrics in that range; with fewer than two items it spans the
    whole range.
    """
    n = len(values)
    value = reported_value if reported_value is not None else (math.fsum(values) / n if n else 0.0)
    stderr = reported_stderr
    if stderr is None or stderr < 0:
        if n >= 2:
            mean = math.fsum(values) / n
            variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
            stderr = math.sqrt(variance / n)
        else:
            stderr = 0.0
    bounded = 0.0 <= value <= 1.0 and all(0.0 <= v <= 1.0 for v in values)
    if n < 2 and bounded:
        low, high = 0.0, 1.0
    else:
        low, high = value - 1.96 * stderr, value + 1.96 * stderr
        if bounded:
            low, high = max(0.0, low), min(1.0, high)
    return MetricSummary(metric=metric, value=value, stderr=stderr, ci_low=low, ci_high=high, n=n)
