"""The evaluation store: runs and per-item records in one SQLite file.

Items are cached by a key built from the model fingerprint, the task version,
the item's hash, its prompt's hash and the requests sent (see
:func:`item_cache_key`), so an interrupted run continues where it stopped and
a re-run with nothing changed costs no model call.

Location: an explicit path, else ``$SEEWHY_STORE``, else
``$XDG_DATA_HOME/seewhy/store.sqlite`` (``~/.local/share/seewhy/store.sqlite``).
The database runs in WAL mode, so readers (``seewhy compare``, ``audit
--evidence``) never block a run that is writing.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from pydantic import ValidationError

from seewhy.errors import SeewhyError
from seewhy.evaluation.model import ItemRecord, RunRecord, stable_hash

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    task_version TEXT NOT NULL,
    model_id TEXT NOT NULL,
    model_digest TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_task ON runs (task, model_digest);
CREATE TABLE IF NOT EXISTS items (
    run_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    item_id TEXT NOT NULL,
    cache_key TEXT NOT NULL,
    errored INTEGER NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (run_id, item_id)
);
CREATE INDEX IF NOT EXISTS items_cache ON items (cache_key, errored);
CREATE TABLE IF NOT EXISTS file_digests (
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (path, size, mtime_ns)
);
"""


class StoreError(SeewhyError):
    """The evaluation store cannot be opened, read or written."""


def default_store_path() -> Path:
    """``$SEEWHY_STORE``, else ``$XDG_DATA_HOME/seewhy/store.sqlite`` (``~/.local/share``)."""
    explicit = os.environ.get("SEEWHY_STORE")
    if explicit:
        return Path(explicit).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME")
    base = Path(data_home).expanduser() if data_home else Path.home() / ".local" / "share"
    return base / "seewhy" / "store.sqlite"


def item_cache_key(
    *,
    model_key: str,
    task_version: str,
    item_hash: str,
    prompt_hash: str,
    requests: str,
) -> str:
    """The key an item's result is reused under: same model, task, item, prompt and requests."""
    return stable_hash(
        {
            "model": model_key,
            "task_version": task_version,
            "item_hash": item_hash,
            "prompt_hash": prompt_hash,
            "requests": requests,
        }
    )


class Store:
    """Runs and items in SQLite. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the evaluation store {self.path}: {exc}") from exc
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._check_version()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(
                f"{self.path} is not a seewhy evaluation store ({exc}); "
                "point --store or SEEWHY_STORE at another file"
            ) from exc

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            with self._db:
                self._db.execute(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            return
        try:
            version = int(row[0])
        except ValueError:
            version = -1
        if version != SCHEMA_VERSION:
            self._db.close()
            raise StoreError(
                f"{self.path} has store schema version {row[0]}, this seewhy reads version "
                f"{SCHEMA_VERSION}; use another --store file"
            )

    # ------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---------------------------------------------------------------- runs

    def put_run(self, run: RunRecord) -> None:
        """Insert or replace a run record."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO runs "
                "(run_id, task, task_version, model_id, model_digest, source, created_at, record) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run.run_id,
                    run.task,
                    run.task_version,
                    run.model.id,
                    run.model.digest,
                    run.source,
                    run.created_at,
                    run.model_dump_json(),
                ),
            )

    def get_run(self, run_id: str) -> RunRecord | None:
        """The run with this id, or None."""
        row = self._db.execute("SELECT record FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return self._run(row[0]) if row else None

    def runs(self, *, task: str | None = None, model_digest: str | None = None) -> list[RunRecord]:
        """Runs, newest first, optionally of one task and/or one model."""
        sql = "SELECT record FROM runs"
        where: list[str] = []
        args: list[str] = []
        if task is not None:
            where.append("task = ?")
            args.append(task)
        if model_digest is not None:
            where.append("model_digest = ?")
            args.append(model_digest)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, run_id"
        return [self._run(r[0]) for r in self._db.execute(sql, args)]

    def delete_run(self, run_id: str) -> None:
        """Remove a run and its items."""
        with self._db:
            self._db.execute("DELETE FROM items WHERE run_id = ?", (run_id,))
            self._db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))

    # --------------------------------------------------------------- items

    def put_item(self, item: ItemRecord, *, cache_key: str, position: int) -> None:
        """Insert or replace one item of a run (committed at once: a crash keeps it)."""
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO items "
                "(run_id, position, item_id, cache_key, errored, record) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    item.run_id,
                    position,
                    item.item_id,
                    cache_key,
                    1 if item.error is not None else 0,
                    item.model_dump_json(),
                ),
            )

    def put_items(self, items: list[tuple[ItemRecord, str, int]]) -> None:
        """Insert or replace several (item, cache key, position) in one transaction."""
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO items "
                "(run_id, position, item_id, cache_key, errored, record) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        item.run_id,
                        position,
                        item.item_id,
                        key,
                        1 if item.error is not None else 0,
                        item.model_dump_json(),
                    )
                    for item, key, position in items
                ],
            )

    def items(self, run_id: str) -> list[ItemRecord]:
        """A run's items in the order the task planned them."""
        return list(self.iter_items(run_id))

    def iter_items(self, run_id: str) -> Iterator[ItemRecord]:
        """A run's items, streamed."""
        cursor = self._db.execute(
            "SELECT record FROM items WHERE run_id = ? ORDER BY position, item_id", (run_id,)
        )
        for (record,) in cursor:
            yield self._item(record)

    def cached_item(self, cache_key: str) -> ItemRecord | None:
        """A successfully scored item stored under ``cache_key`` (any run), or None."""
        row = self._db.execute(
            "SELECT record FROM items WHERE cache_key = ? AND errored = 0 LIMIT 1", (cache_key,)
        ).fetchone()
        return self._item(row[0]) if row else None

    # -------------------------------------------------------- file digests

    def get_file_digest(self, path: str, size: int, mtime_ns: int) -> str | None:
        """The sha256 remembered for this file at this size and mtime."""
        row = self._db.execute(
            "SELECT digest FROM file_digests WHERE path = ? AND size = ? AND mtime_ns = ?",
            (path, size, mtime_ns),
        ).fetchone()
        return str(row[0]) if row else None

    def put_file_digest(self, path: str, size: int, mtime_ns: int, digest: str) -> None:
        """Remember a file's sha256 (older entries for the path are dropped)."""
        with self._db:
            self._db.execute("DELETE FROM file_digests WHERE path = ?", (path,))
            self._db.execute(
                "INSERT INTO file_digests (path, size, mtime_ns, digest) VALUES (?, ?, ?, ?)",
                (path, size, mtime_ns, digest),
            )

    # ------------------------------------------------------------- decoding

    def _run(self, text: str) -> RunRecord:
        try:
            return RunRecord.model_validate_json(text)
        except ValidationError as exc:
            raise StoreError(f"{self.path}: a stored run cannot be read ({exc})") from exc

    def _item(self, text: str) -> ItemRecord:
        try:
            return ItemRecord.model_validate_json(text)
        except ValidationError as exc:
            raise StoreError(f"{self.path}: a stored item cannot be read ({exc})") from exc


__all__ = ["SCHEMA_VERSION", "Store", "StoreError", "default_store_path", "item_cache_key"]
