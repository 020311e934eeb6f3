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

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypedDict, Unpack
from urllib.parse import quote

from pydantic import ValidationError

from seewhy.errors import SeewhyError
from seewhy.evaluation.model import ItemRecord, RunRecord, stable_hash

if TYPE_CHECKING:
    from seewhy.report.model import Report

SCHEMA_VERSION = 4
"""The store's schema version; :data:`MIGRATIONS` brings older files up to it."""

_V1 = """
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

_V2 = """
CREATE TABLE reports (
    report_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    release TEXT NOT NULL,
    revision TEXT,
    created_at TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    openness TEXT,
    mof_class TEXT,
    license TEXT,
    license_state TEXT,
    license_ids TEXT NOT NULL,
    load_safety TEXT,
    performance TEXT,
    parameters INTEGER,
    total_bytes INTEGER NOT NULL,
    file_count INTEGER NOT NULL,
    worst_severity TEXT,
    findings INTEGER NOT NULL,
    severity_counts TEXT NOT NULL,
    scores TEXT NOT NULL,
    missing TEXT NOT NULL,
    seewhy_version TEXT NOT NULL,
    report TEXT NOT NULL
);
CREATE INDEX reports_source ON reports (source, created_at);
CREATE INDEX reports_release ON reports (release, created_at);
CREATE INDEX reports_created ON reports (created_at);
CREATE INDEX reports_openness ON reports (openness);
CREATE INDEX reports_license_state ON reports (license_state);
CREATE INDEX reports_load_safety ON reports (load_safety);
CREATE INDEX reports_parameters ON reports (parameters);
"""

# The sha256 of each report's files, so a stored run whose model digest is one of them
# (an evaluation of those weights) gives the release a measured score; filled for the
# reports a version-2 store already holds from their coverage.
_V3 = """
CREATE TABLE report_digests (
    report_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (report_id, digest)
);
CREATE INDEX report_digests_digest ON report_digests (digest);
INSERT OR IGNORE INTO report_digests (report_id, digest)
    SELECT reports.report_id, json_extract(c.value, '$.sha256')
    FROM reports, json_each(reports.report, '$.coverage') AS c
    WHERE json_extract(c.value, '$.sha256') IS NOT NULL
"""

# The safety-behaviour verdict of a stored report, read from its JSON: version 4 keeps it
# in a column (filled from this for the reports an older store holds); a read-only store
# that is still older is queried through it, so the site works on either.
_SAFETY_BEHAVIOUR_FROM_JSON = (
    "(SELECT json_extract(v.value, '$.value') FROM json_each(reports.report, '$.verdicts') AS v "
    "WHERE json_extract(v.value, '$.topic') = 'safety_behaviour' LIMIT 1)"
)

_V4 = f"""
ALTER TABLE reports ADD COLUMN safety_behaviour TEXT;
UPDATE reports SET safety_behaviour = {_SAFETY_BEHAVIOUR_FROM_JSON};
CREATE INDEX reports_safety_behaviour ON reports (safety_behaviour)
"""

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, _V1),  # runs, items, the weights-digest cache
    (2, _V2),  # audit reports with their summary columns
    (3, _V3),  # the reports' file digests (runs of their weights)
    (4, _V4),  # the reports' safety-behaviour verdict (audit --evidence with probe runs)
)
"""(version, SQL) in order: a store at version N runs every step above N, in one transaction."""


class StoreError(SeewhyError):
    """The evaluation store cannot be opened, read or written."""


class ReportFilters(TypedDict, total=False):
    """The filters of :meth:`Store.report_summaries` and :meth:`Store.count_reports`."""

    openness: str | None
    license_state: str | None
    load_safety: str | None
    safety_behaviour: str | None
    mof_class: str | None
    source: str | None
    text: str | None
    ids: list[str] | None


@dataclass(frozen=True)
class ReportSummary:
    """One stored audit report, as the list of releases shows it (no findings, no files).

    ``license_state`` is the license family (``open``, ``restricted``, ``closed``
    or None when no license was identified); ``scores`` maps a benchmark to its
    measured (or, when not measured, claimed) score, both as fractions: the card's
    claims checked by ``audit --evidence``, and for other tasks the newest stored run
    of the release's own weights (its files' sha256, from ``audit --hash``).
    ``safety_behaviour`` is the safety-behaviour verdict of ``audit --evidence`` with
    safety probe runs, None when the report has none (not checked).
    """

    report_id: str
    source: str
    release: str
    revision: str | None
    created_at: str
    stored_at: str
    openness: str | None
    mof_class: str | None
    license: str | None
    license_state: str | None
    license_ids: tuple[str, ...]
    load_safety: str | None
    performance: str | None
    safety_behaviour: str | None
    parameters: int | None
    total_bytes: int
    file_count: int
    worst_severity: str | None
    findings: int
    severity_counts: dict[str, int]
    scores: dict[str, dict[str, float | None]]
    missing: tuple[str, ...]
    seewhy_version: str


REPORT_SORTS = (
    "created_at",
    "release",
    "source",
    "openness",
    "mof_class",
    "license",
    "license_state",
    "load_safety",
    "performance",
    "safety_behaviour",
    "parameters",
    "total_bytes",
    "findings",
)
"""Columns :meth:`Store.report_summaries` can sort by."""

_SUMMARY_COLUMNS = (
    "report_id, source, release, revision, created_at, stored_at, openness, mof_class, "
    "license, license_state, license_ids, load_safety, performance, {safety_behaviour}, "
    "parameters, total_bytes, file_count, worst_severity, findings, severity_counts, scores, "
    "missing, seewhy_version"
)


def _statements(script: str) -> list[str]:
    """The statements of a migration script (``;``-separated, no ``;`` inside one)."""
    return [part.strip() for part in script.split(";") if part.strip()]


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
    """Runs, items and audit reports in SQLite. Use as a context manager or call :meth:`close`.

    Opening a store upgrades an older one through :data:`MIGRATIONS`; a file
    that is not a seewhy store, or one written by a newer seewhy, raises
    :class:`StoreError` and is left exactly as it was. ``read_only=True``
    opens the file with SQLite's ``mode=ro`` (no upgrade, no write of any
    kind; ``seewhy serve`` uses it); the file must then exist.
    """

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.read_only = read_only
        try:
            if read_only:
                if not self.path.is_file():
                    raise StoreError(
                        f"no store at {self.path}: save reports into it first "
                        "(`seewhy audit SOURCE --store FILE`) or point --store at another file"
                    )
                uri = "file:" + quote(str(self.path.resolve())) + "?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, timeout=30.0, check_same_thread=False)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, timeout=30.0)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the evaluation store {self.path}: {exc}") from exc
        try:
            self.version = self._open()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(
                f"{self.path} is not a seewhy evaluation store ({exc}); "
                "point --store or SEEWHY_STORE at another file"
            ) from exc
        except StoreError:
            self._db.close()
            raise

    def _stored_version(self) -> int:
        """The file's schema version: 0 for an empty file; StoreError for a foreign one."""
        tables = {
            str(r[0])
            for r in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if not tables:
            return 0
        if "meta" not in tables:
            raise StoreError(
                f"{self.path} is an SQLite file but not a seewhy store (no meta table); "
                "it was left as it is: point --store or SEEWHY_STORE at another file"
            )
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            return 0 if tables <= {"meta"} else 1  # a v1 store interrupted before its version
        try:
            version = int(row[0])
        except ValueError:
            version = -1
        if version < 0 or version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has store schema version {row[0]}, this seewhy reads versions up "
                f"to {SCHEMA_VERSION}; upgrade seewhy or use another --store file "
                "(the file was left as it is)"
            )
        return version

    def _open(self) -> int:
        """Check the version before any write, then upgrade (unless read-only)."""
        version = self._stored_version()
        if self.read_only:
            return version
        if version < SCHEMA_VERSION:
            self._upgrade()
        # WAL only once upgraded: a failed upgrade leaves the file's bytes as they were.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        return SCHEMA_VERSION

    def _upgrade(self) -> None:
        """Run the migrations the file lacks in one transaction (rolled back on failure)."""
        previous = self._db.isolation_level
        self._db.isolation_level = None  # explicit transactions: DDL included
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                version = self._stored_version()  # another process may have upgraded it
                for step, sql in MIGRATIONS:
                    if step > version:
                        try:
                            for statement in _statements(sql):
                                self._db.execute(statement)
                        except sqlite3.Error as exc:
                            raise StoreError(
                                f"upgrading the store {self.path} from schema version {version} "
                                f"failed at step {step} ({exc}); the upgrade was rolled back "
                                "and the file left as it was: restore it from a copy or point "
                                "--store or SEEWHY_STORE at another file"
                            ) from exc
                if version < SCHEMA_VERSION:
                    self._db.execute(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        finally:
            self._db.isolation_level = previous

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

    # ------------------------------------------------------------- reports

    def _has_reports(self) -> bool:
        """Whether the reports table exists (a read-only store may be upgraded meanwhile)."""
        if self.version < SCHEMA_VERSION and self.read_only:
            try:
                self.version = self._stored_version()
            except (StoreError, sqlite3.Error):
                return False
        return self.version >= 2

    def _column(self, name: str) -> str:
        """The SQL for a summary column: ``safety_behaviour`` is read from the report's
        JSON in a (read-only) store older than version 4."""
        if name == "safety_behaviour" and self.version < 4:
            return _SAFETY_BEHAVIOUR_FROM_JSON
        return name

    def _summary_columns(self) -> str:
        return _SUMMARY_COLUMNS.format(safety_behaviour=self._column("safety_behaviour"))

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(f"{self.path} was opened read-only")

    def put_report(self, report: Report, *, source: str) -> str:
        """Save an audit report; return its id (the same report and source: the same id).

        ``source`` is the release as the caller names it (a folder, a file,
        ``hf:org/name``); :meth:`latest_report_for` finds reports by it.
        """
        self._writable()
        text = report.model_dump_json()
        report_id = hashlib.sha256(f"{source}\0{text}".encode()).hexdigest()[:24]
        row = report_row(report)
        stored_at = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            self._insert_report(report_id, source, row, stored_at, text)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot save the report into {self.path}: {exc}") from exc
        return report_id

    def _insert_report(
        self, report_id: str, source: str, row: dict[str, Any], stored_at: str, text: str
    ) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO reports (report_id, source, release, revision, created_at, "
                "stored_at, openness, mof_class, license, license_state, license_ids, "
                "load_safety, performance, safety_behaviour, parameters, total_bytes, file_count, "
                "worst_severity, findings, severity_counts, scores, missing, seewhy_version, "
                "report) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    report_id,
                    source,
                    row["release"],
                    row["revision"],
                    row["created_at"],
                    stored_at,
                    row["openness"],
                    row["mof_class"],
                    row["license"],
                    row["license_state"],
                    json.dumps(row["license_ids"]),
                    row["load_safety"],
                    row["performance"],
                    row["safety_behaviour"],
                    row["parameters"],
                    row["total_bytes"],
                    row["file_count"],
                    row["worst_severity"],
                    row["findings"],
                    json.dumps(row["severity_counts"]),
                    json.dumps(row["scores"]),
                    json.dumps(row["missing"]),
                    row["seewhy_version"],
                    text,
                ),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO report_digests (report_id, digest) VALUES (?, ?)",
                [(report_id, digest) for digest in row["digests"]],
            )

    def get_report(self, report_id: str) -> Report | None:
        """The stored report with this id, or None."""
        if not self._has_reports():
            return None
        row = self._db.execute(
            "SELECT report FROM reports WHERE report_id = ?", (report_id,)
        ).fetchone()
        if row is None:
            return None
        from seewhy.report.model import Report

        try:
            return Report.model_validate_json(row[0])
        except ValidationError as exc:
            raise StoreError(
                f"{self.path}: stored report {report_id} cannot be read ({exc})"
            ) from exc

    def report_summaries(
        self,
        *,
        sort: str = "created_at",
        descending: bool = True,
        limit: int | None = None,
        offset: int = 0,
        **filters: Unpack[ReportFilters],
    ) -> list[ReportSummary]:
        """Stored reports as summaries, filtered and sorted.

        ``sort`` is one of :data:`REPORT_SORTS` (None values sort last either
        way); the filters match exactly, except ``text``, which matches a
        substring of the release name, the source or the license
        (case-insensitive). ``ids`` keeps only those reports.
        """
        if sort not in REPORT_SORTS:
            raise StoreError(f"cannot sort reports by {sort!r}; one of: {', '.join(REPORT_SORTS)}")
        if not self._has_reports():
            return []
        where, args = self._report_filter(**filters)
        direction = "DESC" if descending else "ASC"
        order = self._column(sort)
        sql = (
            f"SELECT {self._summary_columns()} FROM reports{where} "
            f"ORDER BY {order} IS NULL, {order} {direction}, created_at DESC, report_id"
        )
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [max(0, limit), max(0, offset)]
        summaries = [_summary(r) for r in self._db.execute(sql, args)]
        return self._with_measured(summaries)

    def _with_measured(self, summaries: list[ReportSummary]) -> list[ReportSummary]:
        """Add to each summary the headline score of the newest stored run of each task
        that evaluated one of the release's files (its weights' sha256), where the card's
        claims did not already name that task."""
        if not summaries or self.version < 3:
            return summaries
        marks = ", ".join("?" * len(summaries))
        rows = self._db.execute(
            "SELECT d.report_id, r.task, r.record FROM report_digests d "
            "JOIN runs r ON r.model_digest = d.digest "
            f"WHERE d.report_id IN ({marks}) ORDER BY r.created_at DESC, r.run_id",
            [s.report_id for s in summaries],
        ).fetchall()
        measured: dict[str, dict[str, float]] = {}
        for report_id, task, record in rows:
            value = _headline(record)
            if value is not None:
                measured.setdefault(report_id, {}).setdefault(task, value)
        out: list[ReportSummary] = []
        for summary in summaries:
            extra = measured.get(summary.report_id)
            if extra:
                scores = dict(summary.scores)
                for task, value in extra.items():
                    scores.setdefault(task, {"claimed": None, "measured": value})
                summary = replace(summary, scores=scores)
            out.append(summary)
        return out

    def count_reports(self, **filters: Unpack[ReportFilters]) -> int:
        """How many stored reports match the filters of :meth:`report_summaries`."""
        if not self._has_reports():
            return 0
        where, args = self._report_filter(**filters)
        return int(self._db.execute(f"SELECT COUNT(*) FROM reports{where}", args).fetchone()[0])

    def report_facets(self) -> dict[str, list[tuple[str, int]]]:
        """The values of each filterable column with their counts (for filter menus)."""
        out: dict[str, list[tuple[str, int]]] = {}
        for column in ("openness", "license_state", "load_safety", "safety_behaviour", "mof_class"):
            if not self._has_reports():
                out[column] = []
                continue
            expr = self._column(column)
            rows = self._db.execute(
                f"SELECT {expr} AS facet, COUNT(*) FROM reports WHERE facet IS NOT NULL "
                "GROUP BY facet ORDER BY facet"
            )
            out[column] = [(str(v), int(n)) for v, n in rows]
        return out

    def _report_filter(self, **filters: Unpack[ReportFilters]) -> tuple[str, list[Any]]:
        unknown = sorted(filters.keys() - ReportFilters.__optional_keys__)
        if unknown:
            raise TypeError(f"unexpected report filter {unknown[0]!r}")
        where: list[str] = []
        args: list[Any] = []
        for column in (
            "openness",
            "license_state",
            "load_safety",
            "safety_behaviour",
            "mof_class",
            "source",
        ):
            value = filters.get(column)
            if value is not None:
                where.append(f"{self._column(column)} = ?")
                args.append(value)
        text = filters.get("text")
        if text:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(
                "(release LIKE ? ESCAPE '\\' OR source LIKE ? ESCAPE '\\' "
                "OR license LIKE ? ESCAPE '\\')"
            )
            args += [pattern] * 3
        ids = filters.get("ids")
        if ids is not None:
            where.append(f"report_id IN ({', '.join('?' * len(ids))})" if ids else "0")
            args += list(ids)
        return (" WHERE " + " AND ".join(where)) if where else "", args

    def latest_report_for(self, source: str) -> ReportSummary | None:
        """The newest report saved for ``source`` (by audit time), or None."""
        if not self._has_reports():
            return None
        row = self._db.execute(
            f"SELECT {self._summary_columns()} FROM reports WHERE source = ? "
            "ORDER BY created_at DESC, stored_at DESC, rowid DESC LIMIT 1",
            (source,),
        ).fetchone()
        return _summary(row) if row else None

    def delete_report(self, report_id: str) -> None:
        """Remove a stored report."""
        self._writable()
        with self._db:
            self._db.execute("DELETE FROM reports WHERE report_id = ?", (report_id,))

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


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _license_id(document: object) -> str:
    """``'MIT (license)'`` -> ``'MIT'``: the identifier a license document fact starts with."""
    return str(document).split(" (", 1)[0].strip()


def report_row(report: Report) -> dict[str, Any]:
    """The summary columns of a report (what the list of releases shows and filters on)."""
    from seewhy.report.html import build_page

    def verdict(topic: str) -> str | None:
        v = report.verdict(topic)
        return v.value if v is not None else None

    basis = report.fact("openness.license")
    basis_value = basis.value if basis is not None and isinstance(basis.value, dict) else {}
    declared = report.fact("declared_license")
    declared_ids = (
        [str(v) for v in declared.value if v]
        if declared is not None and isinstance(declared.value, list)
        else ([str(declared.value)] if declared is not None and declared.value else [])
    )
    docs = report.fact("license.documents")
    doc_ids = (
        [_license_id(v) for v in docs.value]
        if docs is not None and isinstance(docs.value, list)
        else ([_license_id(docs.value)] if docs is not None and docs.value else [])
    )
    license_name = basis_value.get("license") or basis_value.get("declared")
    if not license_name and declared_ids:
        license_name = ", ".join(declared_ids)
    state = basis_value.get("state")
    mof = report.fact("openness.mof.class")
    params = report.fact("parameter_count") or report.fact("config_parameter_estimate")
    counts = report.severity_counts()
    worst = next((s.value for s in counts if counts[s]), None)
    scores: dict[str, dict[str, float | None]] = {}
    for fact in report.facts:
        if fact.key == "performance.claim" and isinstance(fact.value, dict):
            name = str(fact.value.get("benchmark") or "?")
            scores.setdefault(
                name,
                {
                    "claimed": _number(fact.value.get("claimed")),
                    "measured": _number(fact.value.get("measured")),
                },
            )
    return {
        "release": report.release.repo_id or report.release.name,
        "revision": report.release.revision,
        "created_at": report.metadata.generated_at,
        "openness": verdict("openness"),
        "mof_class": str(mof.value) if mof is not None and mof.value is not None else None,
        "license": str(license_name) if license_name else None,
        "license_state": str(state) if state else None,
        "license_ids": list(dict.fromkeys(doc_ids or declared_ids)),
        "load_safety": verdict("load_safety"),
        "performance": verdict("performance"),
        "safety_behaviour": verdict("safety_behaviour"),
        "parameters": params.value
        if params is not None
        and isinstance(params.value, int)
        and not isinstance(params.value, bool)
        else None,
        "total_bytes": report.release.total_bytes,
        "file_count": report.release.file_count,
        "worst_severity": worst,
        "findings": len(report.findings),
        "severity_counts": {s.value: n for s, n in counts.items() if n},
        "scores": scores,
        "missing": build_page(report).missing,
        "seewhy_version": report.metadata.version,
        "digests": sorted({c.sha256 for c in report.coverage if c.sha256}),
    }


def _headline(record: str) -> float | None:
    """The first metric's value of a stored run record (JSON), when it is a number."""
    try:
        metrics = json.loads(record).get("metrics") or []
        value = metrics[0].get("value") if metrics and isinstance(metrics[0], dict) else None
    except (ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _summary(row: tuple[Any, ...]) -> ReportSummary:
    (
        report_id,
        source,
        release,
        revision,
        created_at,
        stored_at,
        openness,
        mof_class,
        license_name,
        license_state,
        license_ids,
        load_safety,
        performance,
        safety_behaviour,
        parameters,
        total_bytes,
        file_count,
        worst,
        findings,
        counts,
        scores,
        missing,
        version,
    ) = row
    return ReportSummary(
        report_id=report_id,
        source=source,
        release=release,
        revision=revision,
        created_at=created_at,
        stored_at=stored_at,
        openness=openness,
        mof_class=mof_class,
        license=license_name,
        license_state=license_state,
        license_ids=tuple(json.loads(license_ids)),
        load_safety=load_safety,
        performance=performance,
        safety_behaviour=safety_behaviour,
        parameters=parameters,
        total_bytes=total_bytes,
        file_count=file_count,
        worst_severity=worst,
        findings=findings,
        severity_counts=json.loads(counts),
        scores=json.loads(scores),
        missing=tuple(json.loads(missing)),
        seewhy_version=version,
    )


__all__ = [
    "MIGRATIONS",
    "REPORT_SORTS",
    "SCHEMA_VERSION",
    "ReportFilters",
    "ReportSummary",
    "Store",
    "StoreError",
    "default_store_path",
    "item_cache_key",
    "report_row",
]
