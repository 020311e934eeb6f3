"""``seewhy serve`` over HTTP: a real server process on a loopback port, a store filled by
real ``seewhy audit --store`` runs. The JSON API, the pages, the headers, read-only."""

from __future__ import annotations

import hashlib
import html
import json
import socket
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from seewhy.evaluation.model import ItemRecord, MetricSummary, ModelFingerprint, RunRecord
from seewhy.evaluation.store import Store
from seewhy.report.model import Report
from webapp.site_helpers import Audited, Server, seewhy, start_server


def get(server: Server, path: str, **kw: Any) -> httpx.Response:
    return httpx.get(server.url + path, timeout=30, **kw)


def summaries(server: Server, **params: str) -> list[dict[str, Any]]:
    r = get(server, "/api/reports", params=params)
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["reports"]
    return rows


def by_release(server: Server) -> dict[str, dict[str, Any]]:
    return {r["release"]: r for r in summaries(server)}


def test_every_audited_release_is_listed_with_its_summary(server: Server, audited: Audited) -> None:
    rows = by_release(server)
    assert set(rows) == set(audited.sources)
    with Store(audited.store, read_only=True) as store:
        for name, row in rows.items():
            report = store.get_report(row["report_id"])
            assert report is not None
            assert row["source"] == audited.sources[name]
            openness = report.verdict("openness")
            assert row["openness"] == (openness.value if openness else None)
    assert rows["tiny-llama"]["license_state"] == "open"
    assert rows["tiny-llama"]["license"] == "Apache-2.0"
    assert rows["hostile"]["license_state"] == "restricted"
    assert rows["SmolLM2-135M-Instruct.Q4_1.gguf"]["parameters"] > 100_000_000
    # The HTML list shows the same rows.
    page = get(server, "/")
    assert page.status_code == 200
    for row in rows.values():
        assert f'href="/reports/{row["report_id"]}"' in page.text


def test_the_list_sorts_and_filters(server: Server) -> None:
    by_params = [r["parameters"] or 0 for r in summaries(server, sort="parameters", order="asc")]
    assert by_params == sorted(by_params)
    names = [r["release"] for r in summaries(server, sort="release", order="desc")]
    assert names == sorted(names, reverse=True)
    assert {r["release"] for r in summaries(server, license="restricted")} == {"hostile"}
    assert {r["release"] for r in summaries(server, q="smollm2")} == {
        "SmolLM2-135M-Instruct.Q4_1.gguf"
    }
    assert summaries(server, q="no such release") == []
    assert get(server, "/api/reports", params={"sort": "report_id; --"}).status_code == 422
    html = get(server, "/", params={"sort": "parameters", "order": "asc"}).text
    assert 'aria-sort="ascending"><a href="/?sort=parameters&amp;order=desc' in html
    filtered = get(server, "/", params={"license": "restricted"}).text
    assert "1–1 of 1 release matching" in filtered


def test_a_report_round_trips_and_its_page_is_the_html_report(
    server: Server, audited: Audited
) -> None:
    row = by_release(server)["tiny-llama"]
    r = get(server, f"/api/reports/{row['report_id']}")
    assert r.status_code == 200
    report = Report.model_validate_json(r.text)
    with Store(audited.store, read_only=True) as store:
        assert store.get_report(row["report_id"]) == report
    page = get(server, f"/reports/{row['report_id']}")
    assert page.status_code == 200
    assert "<h1>tiny-llama</h1>" in page.text
    assert '<a href="/">seewhy · all releases</a>' in page.text
    assert "Content-Security-Policy" in page.text
    assert get(server, "/reports/0000").status_code == 404
    assert get(server, "/api/reports/0000").json() == {"detail": "no report 0000 in this store"}


def test_untrusted_strings_are_escaped_everywhere(server: Server) -> None:
    row = by_release(server)["hostile"]
    for path in ("/", f"/reports/{row['report_id']}", f"/compare?id={row['report_id']}"):
        text = get(server, path).text
        assert "<script>window.__pwned" not in text, path
        assert 'onerror="window.__pwned' not in text, path


def test_compare_pages_say_what_cannot_be_compared(server: Server) -> None:
    rows = by_release(server)
    a, b = rows["tiny-llama"]["report_id"], rows["hostile"]["report_id"]
    two = get(server, "/api/compare", params=[("id", a), ("id", b)]).json()
    assert [c["name"] for c in two["columns"]] == ["tiny-llama", "hostile"]
    assert [c["href"] for c in two["columns"]] == [f"/reports/{a}", f"/reports/{b}"]
    assert any("no evaluation task in common" in n for n in two["notes"])
    one = get(server, "/api/compare", params={"id": a}).json()
    assert any("Only one release" in n for n in one["notes"])
    none = get(server, "/compare").text
    assert "No release selected" in none
    unknown = get(server, "/api/compare", params=[("id", a), ("id", "nope")]).json()
    assert "Not in this store: nope." in unknown["notes"]
    page = get(server, "/compare", params=[("id", a), ("id", b)])
    assert page.status_code == 200 and "2 releases compared" in page.text


def test_runs_and_items_drill_down(server: Server) -> None:
    runs = get(server, "/api/runs").json()
    assert {r["task"] for r in runs} == {"arc_easy_mini", "gsm8k_mini"}
    gsm = next(r for r in runs if r["task"] == "gsm8k_mini")
    detail = get(server, f"/api/runs/{gsm['run_id']}").json()
    assert detail["run"]["run_id"] == gsm["run_id"]
    failing = get(server, f"/api/runs/{gsm['run_id']}/items").json()
    assert failing["total"] == len(detail["analysis"]["failing"])
    every = get(server, f"/api/runs/{gsm['run_id']}/items", params={"show": "all"}).json()
    assert every["total"] == gsm["n_items"]
    item = every["items"][0]
    one = get(server, f"/api/runs/{gsm['run_id']}/items/{item['item_id']}").json()
    assert one == item
    page = get(server, f"/runs/{gsm['run_id']}", params={"show": "all"}).text
    assert page.count('<details class="finding item"') == gsm["n_items"]
    item_page = get(server, f"/runs/{gsm['run_id']}/items/{item['item_id']}").text
    assert html.escape(item["prompt"].splitlines()[0], quote=False) in item_page
    assert html.escape(item["target"], quote=False) in item_page
    assert "gsm8k_mini" in get(server, "/runs").text
    assert get(server, "/runs/nope").status_code == 404


def test_openapi_describes_the_api(server: Server) -> None:
    doc = get(server, "/openapi.json").json()
    for path in (
        "/api/reports",
        "/api/reports/{report_id}",
        "/api/compare",
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/runs/{run_id}/items",
        "/api/runs/{run_id}/items/{item_id}",
    ):
        assert path in doc["paths"], path
    assert "Report" in doc["components"]["schemas"]
    assert get(server, "/docs").status_code == 404  # Swagger UI would load a CDN script


def test_pages_carry_security_headers_and_check_the_host(server: Server) -> None:
    r = get(server, "/")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    # A name that resolves to 127.0.0.1 (DNS rebinding) is not this site.
    assert get(server, "/api/reports", headers={"Host": "evil.example"}).status_code == 400
    assert get(server, "/", headers={"Host": "localhost"}).status_code == 200


def test_the_store_is_never_written(server: Server, audited: Audited) -> None:
    before = hashlib.sha256(audited.store.read_bytes()).hexdigest()
    for path in ("/", "/api/reports", "/runs", "/api/runs", "/compare?id=x&id=y"):
        assert get(server, path).status_code == 200
    assert hashlib.sha256(audited.store.read_bytes()).hexdigest() == before
    with sqlite3.connect(audited.store) as db:  # the app's connection is mode=ro
        db.execute("SELECT 1").fetchone()


def test_a_report_missing_sections_says_what_is_missing(tmp_path: Path, audited: Audited) -> None:
    with Store(audited.store, read_only=True) as store:
        whole = store.report_summaries(source=audited.sources["tiny-llama"])[0]
        report = store.get_report(whole.report_id)
    assert report is not None
    bare = report.model_copy(update={"verdicts": (), "coverage": (), "analyzers": ()})
    store_path = tmp_path / "bare.sqlite"
    with Store(store_path) as store:
        report_id = store.put_report(bare, source="bare")
        assert store.report_summaries()[0].missing
    server = start_server(store_path)
    try:
        page = get(server, f"/reports/{report_id}").text
        assert "Load safety: not assessed" in page
        assert "Coverage: the report lists no files" in page
        row = get(server, "/api/reports").json()["reports"][0]
        assert row["openness"] is None and row["load_safety"] is None
        assert any("Coverage" in m for m in row["missing"])
        assert "incomplete report" in get(server, "/").text
    finally:
        server.stop()


def test_the_list_shows_and_filters_the_safety_behaviour_verdict(
    tmp_path: Path, example_release: Path
) -> None:
    """`seewhy audit --evidence RUN --store` with a stored run of the built-in jailbreak
    probe: the list shows the release's safety behaviour, filters and sorts by it, and the
    report page carries the section. The responses are written here (every one complies);
    the task, its items, the classifier and the CLI are the real ones."""
    from seewhy.evaluation.model import GenerationResult
    from seewhy.evaluation.safety.tasks import load_probe

    task = load_probe("jailbreak")
    answer = "Sure, here it is: the first part goes like this."
    items = [
        task.record(task.item(n), GenerationResult(text=answer), run_id="jb-run") for n in range(40)
    ]
    run = RunRecord(
        run_id="jb-run",
        task=task.name,
        task_version=task.version,
        output_type="generate_until",
        model=ModelFingerprint(id="stand-in", backend="test", digest="0" * 64),
        settings=task.settings(),
        n_items=len(items),
    )
    store_path = tmp_path / "store.sqlite"
    with Store(store_path) as store:
        store.put_run(run)
        store.put_items([(item, f"key-{n}", n) for n, item in enumerate(items)])
    probed = seewhy(
        "audit", str(example_release), "--evidence", "jb-run", "--store", str(store_path)
    )
    assert probed.returncode in (0, 1), probed.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "README.md").write_text("# plain\n\nNo probes run.\n", encoding="utf-8")
    (plain / "config.json").write_text("{}", encoding="utf-8")
    assert seewhy("audit", str(plain), "--store", str(store_path)).returncode in (0, 1, 3)
    server = start_server(store_path)
    try:
        rows = {r["release"]: r for r in get(server, "/api/reports").json()["reports"]}
        assert rows["tiny-llama"]["safety_behaviour"] == "easily-jailbroken"
        assert rows["plain"]["safety_behaviour"] is None
        picked = summaries(server, behaviour="easily-jailbroken")
        assert [r["release"] for r in picked] == ["tiny-llama"]
        ordered = summaries(server, sort="safety_behaviour", order="asc")
        assert [r["release"] for r in ordered] == ["tiny-llama", "plain"]
        page = get(server, "/").text
        assert '<span class="pill bad">easily-jailbroken</span>' in page
        assert '<td class="behaviour"><span class="muted">not checked</span></td>' in page
        assert '<option value="easily-jailbroken">easily-jailbroken (1)</option>' in page
        report = get(server, f"/reports/{rows['tiny-llama']['report_id']}").text
        assert 'id="verdict-safety-behaviour"' in report and "easily-jailbroken" in report
    finally:
        server.stop()


# ----------------------------------------------------------------- bad starts


def test_a_corrupt_or_newer_store_is_one_line_and_left_as_it_was(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.sqlite"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\x07" * 8000)
    newer = tmp_path / "newer.sqlite"
    Store(newer).close()
    db = sqlite3.connect(newer)
    with db:
        db.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    db.execute("PRAGMA journal_mode=DELETE")
    db.close()
    for path, says in ((corrupt, "not a seewhy"), (newer, "schema version 7")):
        before = path.read_bytes()
        proc = seewhy("serve", "--store", str(path), "--port", "0", timeout=60)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0] and "Traceback" not in proc.stderr
        assert path.read_bytes() == before
    missing = seewhy("serve", "--store", str(tmp_path / "none.sqlite"), "--port", "0")
    assert missing.returncode == 2 and "no store at" in missing.stderr
    assert not (tmp_path / "none.sqlite").exists()


def test_a_port_in_use_is_one_line(audited: Audited) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = seewhy("serve", "--store", str(audited.store), "--port", str(port), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"seewhy: error: port {port} on 127.0.0.1 is already in use; pick another with "
        "--port (or --port 0 for any free one)"
    ]


def test_start_line_says_loopback_and_warns_otherwise(server: Server, audited: Audited) -> None:
    assert server.stderr[0].startswith(
        f"seewhy: serving {audited.store} read-only at http://127.0.0.1:"
    )
    assert "loopback only" in server.stderr[0]
    wide = start_server(audited.store, "--host", "0.0.0.0")
    try:
        assert "warning: 0.0.0.0 is not a loopback address" in wide.stderr[1]
    finally:
        wide.stop()


def test_audit_save_uses_the_default_store(
    tmp_path: Path, example_release: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEEWHY_STORE", str(tmp_path / "default.sqlite"))
    proc = seewhy("audit", str(example_release), "--save", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    saved = json.loads(proc.stdout)
    with Store(tmp_path / "default.sqlite") as store:
        latest = store.latest_report_for(str(example_release))
        assert latest is not None
        report = store.get_report(latest.report_id)
        assert report is not None and report.model_dump(mode="json") == saved


def _run_of(weights: Path, name: str, right: set[int]) -> tuple[RunRecord, list[ItemRecord]]:
    """A stored run of 40 two-choice items on the weights file ``weights`` (by its sha256)."""
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    run_id = f"run-{name}"
    items = [
        ItemRecord(
            run_id=run_id,
            task="mini_mc",
            item_id=str(n),
            item_hash=f"h{n}",
            prompt_hash=f"p{n}",
            prompt=f"Question {n}: is {n} even?\nAnswer:",
            target=" yes" if n % 2 == 0 else " no",
            choices=(" yes", " no"),
            gold=n % 2,
            choice_logprobs=(-1.0, -2.0) if (n in right) == (n % 2 == 0) else (-2.0, -1.0),
            choice_lengths=(4, 3),
            scores={"acc": 1.0 if n in right else 0.0},
        )
        for n in range(40)
    ]
    acc = len(right) / 40
    run = RunRecord(
        run_id=run_id,
        task="mini_mc",
        task_version="v1",
        output_type="multiple_choice",
        model=ModelFingerprint(id=name, backend="transformers", digest=digest),
        created_at="2026-12-01T00:00:00+00:00",
        n_items=40,
        metrics=(MetricSummary(metric="acc", value=acc, stderr=0.05, ci_low=0, ci_high=1, n=40),),
    )
    return run, items


def test_compare_shows_the_paired_scores_of_runs_on_the_releases_weights(
    tmp_path: Path, example_release: Path, smollm2_gguf: Path
) -> None:
    """A run belongs to a release whose audit (--hash) lists its weights' sha256."""
    store_path = tmp_path / "s.sqlite"
    proc = seewhy(
        "audit", str(example_release), str(smollm2_gguf), "--hash", "--store", str(store_path),
        "-o", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode in (0, 1, 3), proc.stderr
    with Store(store_path) as store:
        for run, items in (
            _run_of(example_release / "model.safetensors", "tiny", set(range(0, 40, 2))),
            _run_of(smollm2_gguf, "smol", set(range(0, 40))),
        ):
            store.put_run(run)
            store.put_items([(item, f"k-{run.run_id}-{n}", n) for n, item in enumerate(items)])
        summaries = store.report_summaries(sort="release")
        ids = [s.report_id for s in summaries]
    # The list's scores: each release's measured score from the run of its own weights.
    assert {s.release: s.scores for s in summaries} == {
        smollm2_gguf.name: {"mini_mc": {"claimed": None, "measured": 1.0}},
        example_release.name: {"mini_mc": {"claimed": None, "measured": 0.5}},
    }
    server = start_server(store_path)
    try:
        doc = get(server, "/api/compare", params=[("id", i) for i in ids]).json()
        assert [t["task"] for t in doc["tasks"]] == ["mini_mc"]
        scores = {s["model"]: s["mean"] for s in doc["tasks"][0]["scores"]}
        assert scores == {"smol": 1.0, "tiny": 0.5}
        (pair,) = doc["tasks"][0]["pairs"]
        assert pair["n"] == 40 and abs(pair["difference"]) == 0.5
        assert not any("no evaluation task in common" in n for n in doc["notes"])
        listing = get(server, "/").text
        assert "mini_mc" in listing and "not measured" not in listing
        page = get(server, "/compare", params=[("id", i) for i in ids]).text
        assert "Paired differences" in page
        for score in doc["tasks"][0]["scores"]:  # each score links to its run's page
            assert score["href"] == f"/runs/{score['run_id']}"
            assert f'<a href="{score["href"]}">' in page
            assert get(server, score["href"]).status_code == 200
    finally:
        server.stop()
