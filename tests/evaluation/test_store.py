"""The SQLite evaluation store: records round-trip, the cache key, the digest cache."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from seewhy.evaluation.backends.transformers_backend import file_sha256
from seewhy.evaluation.model import ItemRecord, MetricSummary, ModelFingerprint, RunRecord
from seewhy.evaluation.store import (
    SCHEMA_VERSION,
    Store,
    StoreError,
    default_store_path,
    item_cache_key,
)


def _item(run_id: str, item_id: str, *, error: str | None = None, acc: float = 1.0) -> ItemRecord:
    return ItemRecord(
        run_id=run_id,
        task="arc_easy",
        item_id=item_id,
        item_hash=f"h-{item_id}",
        prompt_hash=f"p-{item_id}",
        prompt=f"Question {item_id}?\nAnswer:",
        target=" yes",
        choices=(" yes", " no"),
        gold=0,
        choice_logprobs=(-1.25, -3.5),
        choice_lengths=(4, 3),
        scores={} if error else {"acc": acc},
        slices={"subject": "science"},
        error=error,
    )


def _run(run_id: str, created_at: str = "2026-01-01T00:00:00+00:00") -> RunRecord:
    return RunRecord(
        run_id=run_id,
        task="arc_easy",
        task_version="v1",
        output_type="multiple_choice",
        model=ModelFingerprint(id="m.gguf", backend="transformers", digest="d" * 64),
        created_at=created_at,
        n_items=2,
        metrics=(MetricSummary(metric="acc", value=0.5, stderr=0.5, ci_low=0, ci_high=1, n=2),),
    )


def test_runs_and_items_round_trip(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.put_run(_run("r1"))
        store.put_run(_run("r2", created_at="2026-02-01T00:00:00+00:00"))
        items = [_item("r1", "b"), _item("r1", "a", acc=0.0)]
        store.put_item(items[0], cache_key="k-b", position=0)
        store.put_item(items[1], cache_key="k-a", position=1)
        assert store.get_run("r1") == _run("r1")
        assert store.get_run("absent") is None
        assert [r.run_id for r in store.runs()] == ["r2", "r1"]  # newest first
        assert [r.run_id for r in store.runs(task="other")] == []
        assert store.items("r1") == items  # in planned order, not by id
        store.delete_run("r1")
        assert store.items("r1") == []
        assert store.get_run("r1") is None


def test_errored_items_are_never_served_from_the_cache(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        store.put_item(_item("r1", "x", error="server said 500"), cache_key="k", position=0)
        assert store.cached_item("k") is None
        good = _item("r2", "x")
        store.put_items([(good, "k", 0)])
        assert store.cached_item("k") == good


def test_store_is_wal_and_readable_while_another_connection_writes(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Store(path) as writer, Store(path) as reader:
        mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
        writer.put_item(_item("r1", "a"), cache_key="k", position=0)
        assert reader.items("r1") == [_item("r1", "a")]
        version = reader._db.execute("SELECT value FROM meta WHERE key='schema_version'")
        assert version.fetchone()[0] == str(SCHEMA_VERSION)


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"this is a text file, not SQLite\n" * 100)
    with pytest.raises(StoreError, match="not a seewhy evaluation store"):
        Store(path)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.close()
    with pytest.raises(StoreError, match="schema version 99"):
        Store(path)


def test_default_path_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEEWHY_STORE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_store_path() == tmp_path / "data" / "seewhy" / "store.sqlite"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_store_path() == Path.home() / ".local" / "share" / "seewhy" / "store.sqlite"
    monkeypatch.setenv("SEEWHY_STORE", str(tmp_path / "elsewhere.sqlite"))
    assert default_store_path() == tmp_path / "elsewhere.sqlite"
    with Store() as store:
        assert store.path == tmp_path / "elsewhere.sqlite"
    assert (tmp_path / "elsewhere.sqlite").is_file()


def test_cache_key_changes_with_every_part() -> None:
    parts = {
        "model_key": "m",
        "task_version": "v1",
        "item_hash": "i",
        "prompt_hash": "p",
        "requests": "r",
    }
    base = item_cache_key(**parts)
    assert item_cache_key(**parts) == base
    for name in parts:
        assert item_cache_key(**{**parts, name: parts[name] + "x"}) != base


def test_weights_digest_is_cached_by_path_size_and_mtime(tmp_path: Path) -> None:
    weights = tmp_path / "w.gguf"
    weights.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    real = hashlib.sha256(weights.read_bytes()).hexdigest()
    with Store(tmp_path / "s.sqlite") as store:
        assert file_sha256(weights, store) == real
        st = weights.stat()
        key = str(weights.resolve())
        assert store.get_file_digest(key, st.st_size, st.st_mtime_ns) == real
        # A remembered digest is trusted while path, size and mtime stay the same...
        store.put_file_digest(key, st.st_size, st.st_mtime_ns, "0" * 64)
        assert file_sha256(weights, store) == "0" * 64
        # ...and recomputed once the file changes.
        weights.write_bytes(b"GGUF changed")
        os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        assert file_sha256(weights, store) == hashlib.sha256(b"GGUF changed").hexdigest()


# ------------------------------------------------------------------ schema 2: reports

V1_STORE = Path(__file__).parent / "data" / "store-v1.sqlite"


def _bytes_of(path: Path) -> bytes:
    return path.read_bytes()


def test_a_v1_store_is_upgraded_and_keeps_its_runs(tmp_path: Path, example_release: Path) -> None:
    """store-v1.sqlite was written by the schema-1 store (see data/README.md)."""
    from seewhy.audit import audit

    path = tmp_path / "old.sqlite"
    path.write_bytes(V1_STORE.read_bytes())
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta").fetchone()[0] == "1"
        assert "reports" not in {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    ro = Store(path, read_only=True)  # read-only: no upgrade, and no reports yet
    assert ro.version == 1
    assert ro.report_summaries() == []
    assert ro.get_run("v1-run") is not None
    with Store(path) as store:
        assert store.version == SCHEMA_VERSION == 4
        run = store.get_run("v1-run")
        assert run is not None and run.task == "arc_easy"
        assert [i.item_id for i in store.items("v1-run")] == ["q1"]
        assert store.get_file_digest("/x/w.gguf", 10, 5) == "a" * 64
        report_id = store.put_report(audit(example_release), source="tiny")
        assert store.get_report(report_id) is not None
    # The reader opened before the upgrade sees the reports saved after it (seewhy serve).
    assert [r.report_id for r in ro.report_summaries()] == [report_id]
    ro.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION)


def test_a_v2_store_gets_the_digests_of_the_reports_it_holds(
    tmp_path: Path, example_release: Path
) -> None:
    """Version 3 indexes each report's file digests; the migration fills them from the
    reports a version-2 store already holds (a v2 file made by dropping what 3 and 4 added)."""
    from seewhy.audit import audit

    path = tmp_path / "v2.sqlite"
    with Store(path) as store:
        report_id = store.put_report(audit(example_release, hash_files=True), source="tiny")
    with sqlite3.connect(path) as db:
        expected = sorted(r[0] for r in db.execute("SELECT digest FROM report_digests"))
        db.execute("DROP TABLE report_digests")
        db.execute("DROP INDEX reports_safety_behaviour")  # and what 4 added
        db.execute("ALTER TABLE reports DROP COLUMN safety_behaviour")
        db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    assert len(expected) == 6
    with Store(path) as store:
        assert store.version == SCHEMA_VERSION
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT report_id, digest FROM report_digests ORDER BY digest")
        assert [(r, d) for r, d in rows] == [(report_id, d) for d in expected]


def test_an_empty_file_becomes_a_current_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    path.touch()
    with Store(path) as store:
        assert store.version == SCHEMA_VERSION
        assert store.report_summaries() == []
        assert store.runs() == []


def test_a_newer_store_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    db = sqlite3.connect(path)
    with db:
        db.execute(f"UPDATE meta SET value = '{SCHEMA_VERSION + 1}' WHERE key = 'schema_version'")
        db.execute("CREATE TABLE future (x)")
    db.execute("PRAGMA journal_mode=DELETE")
    db.close()
    before = _bytes_of(path)
    for read_only in (False, True):
        with pytest.raises(
            StoreError, match=rf"schema version {SCHEMA_VERSION + 1}.*upgrade seewhy"
        ):
            Store(path, read_only=read_only)
    assert _bytes_of(path) == before


def test_a_failed_upgrade_names_its_step_and_is_rolled_back(tmp_path: Path) -> None:
    # A current store relabelled version 3: step 4 adds a column that is already there.
    path = tmp_path / "s.sqlite"
    Store(path).close()
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    db.execute("PRAGMA journal_mode=DELETE")
    db.close()
    before = _bytes_of(path)
    with pytest.raises(StoreError, match=r"from schema version 3 failed at step 4 \(.*duplicate"):
        Store(path)
    assert _bytes_of(path) == before
    with Store(path, read_only=True) as reader:  # still readable as what it says it is
        assert reader.version == 3


def test_corrupt_and_foreign_files_are_refused_and_left_as_they_were(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.sqlite"
    Store(corrupt).close()
    data = bytearray(corrupt.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the first page's b-tree, header kept
    corrupt.write_bytes(bytes(data))
    foreign = tmp_path / "other.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes (text)")
    for path in (corrupt, foreign):
        before = _bytes_of(path)
        for read_only in (False, True):
            with pytest.raises(StoreError, match="not a seewhy"):
                Store(path, read_only=read_only)
        assert _bytes_of(path) == before


def test_read_only_store_never_writes(tmp_path: Path, example_release: Path) -> None:
    from seewhy.audit import audit

    path = tmp_path / "s.sqlite"
    with pytest.raises(StoreError, match="no store at"):
        Store(path, read_only=True)
    assert not path.exists()
    with Store(path) as store:
        store.put_report(audit(example_release), source="a")
    with Store(path, read_only=True) as ro:
        with pytest.raises(StoreError, match="read-only"):
            ro.put_report(audit(example_release), source="b")
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            ro.put_run(_run("r9"))
        assert len(ro.report_summaries()) == 1


def test_reports_round_trip_with_their_summaries(tmp_path: Path, example_release: Path) -> None:
    from datetime import UTC, datetime

    from seewhy.audit import audit

    early = audit(example_release, now=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    late = audit(example_release, now=lambda: datetime(2026, 3, 1, tzinfo=UTC))
    with Store(tmp_path / "s.sqlite") as store:
        first = store.put_report(early, source="./tiny")
        assert store.put_report(early, source="./tiny") == first  # idempotent
        second = store.put_report(late, source="./tiny")
        other = store.put_report(early, source="hf:org/tiny")
        assert len({first, second, other}) == 3
        assert store.get_report(first) == early
        assert store.get_report("absent") is None
        latest = store.latest_report_for("./tiny")
        assert latest is not None and latest.report_id == second
        assert store.latest_report_for("nowhere") is None
        rows = store.report_summaries()
        assert rows[0].report_id == second  # newest first
        assert len(rows) == 3
        s = rows[0]
        verdict = late.verdict("openness")
        assert verdict is not None and s.openness == verdict.value
        params = late.fact("parameter_count")
        assert params is not None and s.parameters == params.value
        assert s.release == "tiny-llama"
        assert s.license_state == "open" and s.license == "Apache-2.0"
        assert "Apache-2.0" in s.license_ids
        assert s.findings == len(late.findings)
        assert store.report_summaries(source="hf:org/tiny")[0].report_id == other
        assert store.report_summaries(text="ORG/t")[0].report_id == other
        assert store.report_summaries(text="%") == []  # LIKE wildcards are literal
        assert store.report_summaries(openness="closed") == []
        assert store.count_reports(openness=s.openness) == 3
        oldest = store.report_summaries(sort="created_at", descending=False, limit=1)
        assert [r.created_at for r in oldest] == [early.metadata.generated_at]
        assert {r.report_id for r in store.report_summaries(ids=[first, other])} == {first, other}
        assert store.report_summaries(ids=[]) == []
        assert dict(store.report_facets()["openness"]) == {s.openness: 3}
        with pytest.raises(StoreError, match="cannot sort"):
            store.report_summaries(sort="report; DROP TABLE reports")
        store.delete_report(first)
        assert store.get_report(first) is None
