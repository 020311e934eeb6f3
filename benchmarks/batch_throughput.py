"""Throughput of batch audits: 1,000 small releases with 1 and 2 local jobs and with Ray.

Writes ``--count`` small fixture releases (real safetensors weights, a card,
a config), serves them from the stand-in Hub of the tests (tests/hub_server.py,
on loopback; ``HF_ENDPOINT`` points huggingface_hub at it, a fresh
``HF_HOME`` per run so nothing is cached) and audits them as ``org/name``
repository ids through :func:`seewhy.batch.run_batch` -- the code behind
``seewhy audit --from FILE --jobs N [--engine ray]`` -- into a fresh store
for each engine. ``--source local`` audits the same releases as local
folders instead.

Prints, side by side: releases per second (wall clock, the pool's or Ray's
start included), the mean time of one audit inside its worker, and the
per-release overhead: wall time x workers / releases - the mean audit time,
i.e. what each release costs a worker beyond its own audit (start-up,
scheduling, moving the report back, saving it into the store).

    .venv/bin/python benchmarks/batch_throughput.py [--count 1000] [--source hub|local]
        [--engines local1,local2,ray]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import save_file

from seewhy.batch import AuditOptions, BatchResult, run_batch
from seewhy.evaluation.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hub_server import HubServer

ORG = "bench"


def build(root: Path, count: int) -> list[str]:
    """``count`` releases under ``root/bench/``; returns their names (``bench/r-0001``...)."""
    names: list[str] = []
    for i in range(count):
        name = f"{ORG}/r-{i:04d}"
        folder = root / name
        folder.mkdir(parents=True)
        save_file(
            {"w": np.full((8, 8), i, dtype=np.float32)},
            str(folder / "model.safetensors"),
            metadata={"format": "pt"},
        )
        (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
        (folder / "README.md").write_text(f"---\nlicense: apache-2.0\n---\n# Release {i}\n")
        names.append(name)
    return names


@contextmanager
def hub_env(hub: HubServer, home: Path) -> Iterator[None]:
    """Point huggingface_hub (here, and in every worker started meanwhile) at ``hub``."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith(("HF_", "HUGGINGFACE_")):
            del os.environ[key]
    os.environ |= {"HF_ENDPOINT": hub.url, "HF_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1"}
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run(engine: str, sources: list[str], work: Path, hub: HubServer | None) -> dict[str, Any]:
    jobs = 1 if engine == "local1" else 2
    store_path = work / f"{engine}.sqlite"
    env = hub_env(hub, work / f"hf-{engine}") if hub is not None else nullcontext()
    with env, Store(store_path) as store:
        start = time.perf_counter()
        result = run_batch(
            sources,
            jobs=jobs,
            store=store,
            options=AuditOptions(),
            engine="ray" if engine == "ray" else "local",
            force=True,
        )
        wall = time.perf_counter() - start
    return summarize(engine, jobs, result, wall)


def summarize(engine: str, jobs: int, result: BatchResult, wall: float) -> dict[str, Any]:
    n = len(result.outcomes)
    audited = [o for o in result.outcomes if o.status == "audited"]
    failed = [o for o in result.outcomes if o.status in ("error", "crashed")]
    mean_audit = sum(o.seconds for o in audited) / max(1, len(audited))
    return {
        "engine": engine,
        "jobs": jobs,
        "releases": n,
        "audited": len(audited),
        "failed": len(failed),
        "first_error": failed[0].error if failed else None,
        "wall_s": wall,
        "per_s": n / wall if wall else 0.0,
        "audit_ms": mean_audit * 1000,
        "overhead_ms": (wall * jobs / max(1, n) - mean_audit) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--source", choices=("hub", "local"), default="hub")
    parser.add_argument("--engines", default="local1,local2,ray")
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if "ray" in engines and importlib.util.find_spec("ray") is None:
        print("ray is not installed (pip install 'seewhy[ray]'): skipping the Ray engine")
        engines.remove("ray")
    with tempfile.TemporaryDirectory(prefix="seewhy-batch-") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        names = build(work / "repos", args.count)
        print(f"{args.count} fixture releases written in {time.perf_counter() - start:.1f} s")
        results = []
        if args.source == "hub":
            with HubServer(work / "repos") as hub:
                print(f"stand-in Hub at {hub.url}; sources are repository ids ({names[0]}, ...)")
                for engine in engines:
                    results.append(run(engine, names, work, hub))
                    print(f"  {engine}: done in {results[-1]['wall_s']:.1f} s", flush=True)
        else:
            sources = [str(work / "repos" / n) for n in names]
            print(f"sources are local folders ({sources[0]}, ...)")
            for engine in engines:
                results.append(run(engine, sources, work, None))
                print(f"  {engine}: done in {results[-1]['wall_s']:.1f} s", flush=True)
    print()
    header = f"{'engine':<8} {'jobs':>4} {'releases':>8} {'failed':>6} {'wall s':>8} "
    header += f"{'rel/s':>7} {'audit ms':>9} {'overhead ms':>12}"
    print(header)
    for r in results:
        print(
            f"{r['engine']:<8} {r['jobs']:>4} {r['releases']:>8} {r['failed']:>6} "
            f"{r['wall_s']:>8.1f} {r['per_s']:>7.1f} {r['audit_ms']:>9.1f} "
            f"{r['overhead_ms']:>12.1f}"
        )
        if r["first_error"]:
            print(f"         first error: {r['first_error']}")
    print(
        "\nrel/s: releases per second, wall clock (pool or Ray start included); audit ms: one\n"
        "audit inside its worker; overhead ms: wall x jobs / releases - audit ms."
    )


if __name__ == "__main__":
    main()
