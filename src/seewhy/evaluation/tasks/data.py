"""Reading a task's data files: JSON Lines, a JSON array, or CSV, optionally gzip'd.

What Hugging Face ``datasets`` does for ``dataset_path: json|csv`` with local
``data_files``, for the cases task files use: one dict per row; a CSV column
whose every non-empty cell is an integer (or a float, or True/False) becomes
that type, as pandas infers it, and an empty cell is ``None``. Sizes are
bounded before anything is read into memory.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from seewhy.evaluation.tasks.errors import TaskDataError

MAX_DATA_BYTES = 1 << 30  # one data file, after decompression
_CHUNK = 1 << 20
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?|[+-]?(inf|nan)", re.IGNORECASE)

DataFormat = Literal["json", "csv"]


@dataclass(frozen=True)
class DataFile:
    """One data file as read: its rows and the sha256 of its content (after gunzip).

    Hashing the content, not the compressed bytes, keeps a task's version the
    same when the same data is recompressed by another zlib.
    """

    path: Path
    rows: tuple[dict[str, Any], ...]
    sha256: str


def _read_bytes(path: Path) -> tuple[bytes, str]:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise TaskDataError(f"cannot read data file {path}: {exc.strerror or exc}") from None
    if size > MAX_DATA_BYTES:
        raise TaskDataError(f"data file {path} is {size} bytes, above the {MAX_DATA_BYTES} limit")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TaskDataError(f"cannot read data file {path}: {exc.strerror or exc}") from None
    if path.suffix != ".gz":
        return raw, hashlib.sha256(raw).hexdigest()
    out = io.BytesIO()
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
            while chunk := gz.read(_CHUNK):
                if out.tell() + len(chunk) > MAX_DATA_BYTES:
                    raise TaskDataError(
                        f"data file {path} decompresses to more than {MAX_DATA_BYTES} bytes"
                    )
                out.write(chunk)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise TaskDataError(f"data file {path} is not valid gzip: {exc}") from None
    content = out.getvalue()
    return content, hashlib.sha256(content).hexdigest()


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TaskDataError(f"data file {path} is not UTF-8 (byte {exc.start})") from None


def _json_rows(path: Path, text: str) -> list[dict[str, Any]]:
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise TaskDataError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        if not isinstance(value, list):
            raise TaskDataError(f"{path}: expected a JSON array of objects")
        for index, row in enumerate(value):
            if not isinstance(row, dict):
                raise TaskDataError(
                    f"{path}: item {index} is a {type(row).__name__}, not an object"
                )
        return value
    rows: list[dict[str, Any]] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            hint = ""
            if lineno == 1 and stripped.startswith("{") and "\n" in stripped.strip():
                hint = " (a single JSON object is not a dataset: use JSON Lines or an array)"
            raise TaskDataError(f"{path}:{lineno}: not valid JSON Lines: {exc.msg}{hint}") from None
        if not isinstance(row, dict):
            raise TaskDataError(f"{path}:{lineno}: a {type(row).__name__}, not a JSON object")
        rows.append(row)
    return rows


def _column_type(values: Sequence[str]) -> str:
    present = [value for value in values if value != ""]
    if not present:
        return "str"
    if all(_INT.fullmatch(value) for value in present):
        return "int"
    if all(_FLOAT.fullmatch(value) for value in present):
        return "float"
    if all(value in ("True", "False", "true", "false", "TRUE", "FALSE") for value in present):
        return "bool"
    return "str"


def _convert(value: str, kind: str) -> Any:
    if value == "":
        return None
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return value.lower() == "true"
    return value


def _csv_rows(path: Path, text: str) -> list[dict[str, Any]]:
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        table = list(reader)
    except csv.Error as exc:
        raise TaskDataError(f"{path}: not valid CSV: {exc}") from None
    if not table:
        return []
    header, body = table[0], [row for row in table[1:] if row]
    if len(set(header)) != len(header):
        raise TaskDataError(f"{path}:1: the CSV header repeats a column name")
    for lineno, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise TaskDataError(
                f"{path}: row {lineno} has {len(row)} cells, the header has {len(header)}"
            )
    kinds = [_column_type([row[i] for row in body]) for i in range(len(header))]
    return [{name: _convert(row[i], kinds[i]) for i, name in enumerate(header)} for row in body]


def read_data_file(path: Path, data_format: DataFormat) -> DataFile:
    """Rows of one data file (``.gz`` is decompressed, bounded)."""
    raw, digest = _read_bytes(path)
    text = _decode(path, raw)
    rows = _json_rows(path, text) if data_format == "json" else _csv_rows(path, text)
    return DataFile(path=path, rows=tuple(rows), sha256=digest)
