"""License identification: speed, memory and accuracy on the shared reference corpus.

For every text of ``../shared/corpus/licenses`` (manifest.json): the time to
identify it and tag its clauses (median and p95 over the files, each the
median of ``--repeat`` runs), the knowledge-base load time, peak Python
memory (tracemalloc) and the process's maximum RSS, and accuracy against the
manifest: license/policy kind, family (or SPDX id), version, OSI flag, and
recall of the expected restriction tags (plus tags wrongly given to texts the
manifest says carry none). With ``--no-fingerprints`` the reference
fingerprints are left out (phrases only).

If ScanCode is installed in a separate environment (``scancode`` on PATH, or
``--scancode /path/to/scancode``), it is timed on the same files.

    .venv/bin/python benchmarks/license_identify.py [--corpus DIR] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from seewhy.analyzers.license import identify_bytes
from seewhy.analyzers.license.kb import load_kb

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "licenses"


def _kind(variant: str) -> str:
    if "prohibited-use-policy" in variant:
        return "prohibited-use-policy"
    if "use-policy" in variant or "aup" in variant.split("-"):
        return "use-policy"
    return "license"


def _version_ok(version: str | None, variant: str) -> bool:
    hints = re.findall(r"\d{4}-\d{2}-\d{2}|\d+(?:\.\d+)*", variant)
    if not hints:
        return True
    return version is not None and any(
        version == h or version.startswith(h) or h.startswith(version) for h in hints
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _peak_memory(corpus: Path, entries: list[dict[str, Any]], fingerprints: bool) -> int:
    """Peak traced Python memory of loading the knowledge base and one pass (own run:
    tracemalloc slows every allocation, so timings are taken without it)."""
    load_kb.cache_clear()
    tracemalloc.start()
    kb = load_kb() if fingerprints else load_kb().without_fingerprints()
    for entry in entries:
        identify_bytes((corpus / entry["file"]).read_bytes(), entry["file"], kb=kb)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def run(corpus: Path, repeat: int, fingerprints: bool) -> None:
    """Measure and print."""
    entries: list[dict[str, Any]] = json.loads((corpus / "manifest.json").read_text("utf-8"))
    peak = _peak_memory(corpus, entries, fingerprints)
    load_kb.cache_clear()
    start = time.perf_counter()
    kb = load_kb()
    load_ms = (time.perf_counter() - start) * 1000
    if not fingerprints:
        kb = kb.without_fingerprints()
    identify_bytes(b"warm up", "LICENSE", kb=kb)

    times: list[float] = []
    counts = {"kind": 0, "family": 0, "version": 0, "osi": 0}
    recall_hit = recall_total = false_tags = empty_texts = 0
    misses: list[str] = []
    for entry in entries:
        data = (corpus / entry["file"]).read_bytes()
        runs = []
        match = None
        for _ in range(repeat):
            t0 = time.perf_counter()
            match = identify_bytes(data, entry["file"], kb=kb)[0]
            runs.append((time.perf_counter() - t0) * 1000)
        assert match is not None
        times.append(statistics.median(runs))
        expected_id = entry.get("spdx_or_licenseref") or ""
        spdx = bool(expected_id) and not expected_id.startswith("LicenseRef-")
        ok = {
            "kind": match.kind == _kind(entry["variant"]),
            "family": (match.license_id or "").lower() == expected_id.lower()
            if spdx
            else match.family == entry["family"],
            "version": spdx or _version_ok(match.version, entry["variant"]),
            "osi": bool(match.osi_approved) == entry["osi_approved"],
        }
        for key, good in ok.items():
            counts[key] += good
        if not all(ok.values()):
            misses.append(f"{entry['file']}: {match.license_id} {match.version} {match.kind}")
        expected = entry.get("expected_tags")
        got = {t.tag for t in match.tags}
        if expected:
            recall_total += len(expected)
            recall_hit += len(set(expected) & got)
        elif expected == []:
            empty_texts += 1
            false_tags += len(got)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if sys.platform == "darwin":  # pragma: no cover - bytes there
        rss_mb /= 1024

    n = len(entries)
    mode = "phrases + fingerprints" if fingerprints else "phrases only"
    print(f"seewhy license identification ({mode}) on {n} texts of {corpus}")
    print(
        f"  knowledge base load     {load_ms:8.1f} ms ({len(kb.entries)} entries, "
        f"{len(kb.spdx)} SPDX ids, {len(kb.fingerprints)} fingerprints)"
    )
    print(
        f"  per file (identify+tag) median {statistics.median(times):6.2f} ms   "
        f"p95 {_percentile(times, 0.95):6.2f} ms   max {max(times):6.2f} ms"
    )
    print(f"  peak Python memory      {peak / 2**20:8.1f} MiB (tracemalloc: KB load + one pass)")
    print(f"  max RSS of the process  {rss_mb:8.1f} MiB")
    print("  accuracy: " + "  ".join(f"{k} {v}/{n}" for k, v in counts.items()))
    print(
        f"  tag recall {recall_hit}/{recall_total}; tags on the {empty_texts} texts that "
        f"must have none: {false_tags}"
    )
    for miss in misses:
        print(f"  MISS {miss}")


def scancode(corpus: Path, executable: str | None) -> None:
    """Time ScanCode on the same files, if it is installed somewhere."""
    exe = executable or shutil.which("scancode")
    if not exe:
        print(
            "scancode: not found (install scancode-toolkit in a separate venv and pass "
            "--scancode PATH to compare); skipped"
        )
        return
    files = sorted(p for p in corpus.glob("*.txt"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        start = time.perf_counter()
        single = subprocess.run(
            [exe, "--license", "-n", "1", "--json", str(out), str(files[0])],
            capture_output=True, check=False,
        )  # fmt: skip
        one = time.perf_counter() - start
        start = time.perf_counter()
        proc = subprocess.run(
            [exe, "--license", "-n", "1", "--json", str(out), str(corpus)],
            capture_output=True, check=False,
        )  # fmt: skip
        total = time.perf_counter() - start
    if single.returncode or proc.returncode:
        print(f"scancode: failed ({proc.stderr.decode(errors='replace')[-300:]})")
        return
    per_file = (total - one) / max(1, len(files) - 1) * 1000
    print(
        f"scancode ({exe}): one file {one:.1f} s (index load included); "
        f"{len(files)} files {total:.1f} s; about {per_file:.0f} ms per further file"
    )


def main() -> None:
    """Parse arguments, measure, print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-fingerprints", action="store_true")
    parser.add_argument("--scancode", help="path to a scancode executable (optional)")
    args = parser.parse_args()
    if not (args.corpus / "manifest.json").is_file():
        raise SystemExit(f"no manifest.json in {args.corpus}")
    run(args.corpus, args.repeat, not args.no_fingerprints)
    scancode(args.corpus, args.scancode)


if __name__ == "__main__":
    main()
