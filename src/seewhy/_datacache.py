"""Our own packaged TOML data, parsed once per change instead of once per process.

``seewhy`` reads a few dozen TOML files of its own (rules, the license
knowledge base) on every audit; the pure-Python TOML parser spends more time on
them than the audit of a small release. :func:`load_tomls` parses the ``*.toml``
files of one data package and keeps the result as JSON in the user's cache
folder (``$SEEWHY_CACHE_DIR``, else ``$XDG_CACHE_HOME/seewhy``, else
``~/.cache/seewhy``), named by the SHA-256 of the files' names and bytes: an
edited file changes the name, so a stale cache is never read. Only seewhy's own
data goes there, never anything from a release; JSON is data, not code. A cache
that cannot be read or written is skipped silently (the files are parsed).
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["cache_folder", "load_tomls"]

_FORMAT = "1"  # bump when the cached layout changes


def cache_folder() -> Path:
    """Where parsed data is kept."""
    explicit = os.environ.get("SEEWHY_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "seewhy"


def load_tomls(package: str) -> dict[str, dict[str, Any]]:
    """Every ``*.toml`` file of data package ``package``, parsed, by file name (sorted)."""
    folder = resources.files(package)
    texts = sorted(
        (item.name, item.read_bytes()) for item in folder.iterdir() if item.name.endswith(".toml")
    )
    digest = hashlib.sha256(f"{_FORMAT}\0{package}\0".encode())
    for name, data in texts:
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    target = cache_folder() / f"data-{package}-{digest.hexdigest()[:32]}.json"
    cached = _read(target, [name for name, _ in texts])
    if cached is not None:
        return cached
    import tomllib

    parsed = {name: tomllib.loads(data.decode("utf-8")) for name, data in texts}
    _write(target, parsed, f"data-{package}-")
    return parsed


def _read(target: Path, names: list[str]) -> dict[str, dict[str, Any]] | None:
    try:
        raw = target.read_bytes()
    except OSError:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or list(data) != names:
        return None
    if not all(isinstance(v, dict) for v in data.values()):
        return None
    return data


def _write(target: Path, parsed: dict[str, dict[str, Any]], prefix: str) -> None:
    try:
        text = json.dumps(parsed, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):  # a TOML date or inf: keep parsing those files
        return
    if json.loads(text) != parsed:  # pragma: no cover - JSON holds every other TOML value
        return
    import tempfile

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            Path(temp).replace(target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    except OSError:
        return
    try:  # the caches of earlier versions of the data
        for old in target.parent.glob(prefix + "*.json"):
            if old != target:
                old.unlink(missing_ok=True)
    except OSError:
        pass
