"""The evaluation commands end to end, as real processes.

Without a model: usage errors, `seewhy compare` and `seewhy audit --evidence`
on runs built here. With the real models (marker ``models``): SmolLM2 on 5
ARC-Easy items through `seewhy eval`, then `seewhy compare` of that stored
run against Gemma 3 270M evaluated on the same 5 items (each model is loaded
once), and `seewhy audit --evidence` with the exported run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from builders import made_run, write_export
from seewhy.analyzers.performance import read_export
from seewhy.evaluation.analysis import analyze_run
from seewhy.evaluation.render import RunView, eval_markdown, eval_text

CARD = """\
---
license: apache-2.0
model-index:
- name: SmolLM2-135M-Instruct
  results:
  - task: {type: text-generation}
    dataset: {name: ARC-Easy, type: arc_easy, args: {num_few_shot: 0}}
    metrics: [{type: acc, value: 54.1}]
  - task: {type: text-generation}
    dataset: {name: HellaSwag, type: hellaswag, args: {num_few_shot: 0}}
    metrics: [{type: acc_norm, value: 43.0}]
  - task: {type: text-generation}
    dataset: {name: GSM8K, type: gsm8k, args: {num_few_shot: 5}}
    metrics: [{type: exact_match, value: 1.4}]
---
# SmolLM2-135M-Instruct
"""


def seewhy(
    *args: str, store: Path | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("SEEWHY_STORE", None)
    if store is not None:
        env["SEEWHY_STORE"] = str(store)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return subprocess.run(
        [sys.executable, "-m", "seewhy", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def one_line_error(out: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in out.stderr.splitlines() if line.startswith("seewhy: error:")]
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    return lines[0]


HELP_PROBE = """
import sys
from seewhy.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = [m for m in ("pydantic", "torch", "transformers", "httpx", "seewhy.evaluation")
         if m in sys.modules]
print("LOADED", ",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["eval"],
        ["eval", "run"],
        ["eval", "ingest"],
        ["eval", "show"],
        ["eval", "list"],
        ["compare"],
    ],
)
def test_help_is_plain_and_imports_no_evaluation_engine(args: list[str]) -> None:
    long, short = seewhy(*args, "--help"), seewhy(*args, "-h")
    assert long.returncode == 0, long.stderr
    assert short.stdout == long.stdout
    assert "Usage: seewhy" in long.stdout
    assert not re.search(r"<(bool|str|int|float|path)>|list\[", long.stdout), long.stdout
    if args[-1] in ("eval", "run", "compare"):
        assert "Examples:" in long.stdout and "Exit codes:" in long.stdout
    probe = subprocess.run(
        [sys.executable, "-c", HELP_PROBE, *args, "--help"], capture_output=True, text=True
    )
    line = next(x for x in probe.stderr.splitlines() if x.startswith("LOADED"))
    assert line == "LOADED ", line


def test_eval_model_is_eval_run() -> None:
    """`seewhy eval MODEL …` runs the `run` command (options may come first)."""
    a = seewhy("eval", "model.gguf", "--limit", "0", "--tasks", "arc_easy")
    b = seewhy("eval", "--limit", "0", "model.gguf", "--tasks", "arc_easy")
    c = seewhy("eval", "run", "model.gguf", "--limit", "0", "--tasks", "arc_easy")
    assert a.returncode == b.returncode == c.returncode == 2
    assert one_line_error(a) == one_line_error(b) == one_line_error(c)


def test_usage_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    out = seewhy("eval", "model.gguf", store=tmp_path / "s.sqlite")
    assert out.returncode == 2
    assert "--tasks is required" in one_line_error(out)
    out = seewhy("eval", "model.gguf", "--tasks", "no_such_task", store=tmp_path / "s.sqlite")
    assert out.returncode == 2
    assert "no built-in task named 'no_such_task'" in one_line_error(out)
    out = seewhy("eval", "m", "--tasks", "arc_easy", "--backend", "openai", store=tmp_path / "s")
    assert out.returncode == 2
    assert "--base-url" in one_line_error(out)
    out = seewhy("eval", "m", "--tasks", "arc_easy", "--limit", "0")
    assert out.returncode == 2
    assert "--limit must be at least 1" in one_line_error(out)


def test_a_model_that_cannot_be_loaded_is_one_line_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.gguf"
    out = seewhy("eval", str(missing), "--tasks", "arc_easy", store=tmp_path / "s.sqlite")
    assert out.returncode == 2
    assert str(missing) in one_line_error(out)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\xff" * 64)
    out = seewhy("eval", str(broken), "--tasks", "arc_easy", store=tmp_path / "s.sqlite")
    assert out.returncode == 2
    assert "broken.gguf" in one_line_error(out)


def test_without_the_eval_extra_eval_names_the_extra(tmp_path: Path) -> None:
    """A real environment without torch: this venv's packages minus torch, no site hooks."""
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    packages = tmp_path / "site"
    packages.mkdir()
    for entry in site.iterdir():
        if (
            not entry.name.lower().startswith(("torch", "_distutils_hack"))
            and entry.suffix != ".pth"
        ):
            (packages / entry.name).symlink_to(entry)
    src = Path(__file__).resolve().parents[2] / "src"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SEEWHY_STORE")}
    env["PYTHONPATH"] = f"{src}{os.pathsep}{packages}"
    env["SEEWHY_STORE"] = str(tmp_path / "store.sqlite")
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF" + bytes(60))
    code = "import sys; from seewhy.cli import main; main(sys.argv[1:])"
    out = subprocess.run(
        [sys.executable, "-S", "-c", code, "eval", str(model), "--tasks", "arc_easy"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 2, out.stderr
    line = one_line_error(out)
    assert "pip install 'seewhy[eval]'" in line and "torch" in line
    # The same command with torch present gets past the import (and fails on the bytes).
    with_torch = seewhy("eval", str(model), "--tasks", "arc_easy", store=tmp_path / "s.sqlite")
    assert with_torch.returncode == 2
    assert "seewhy[eval]" not in one_line_error(with_torch)


def test_compare_exports_paired_with_mcnemar(tmp_path: Path) -> None:
    # A right on q0-q5, B on q0-q9: B alone on q6-q9, A alone on none → exact p = 2·(1/2)^4 = 0.125
    a = write_export(tmp_path / "a.json", made_run("alpha", set(range(6))))
    b = write_export(tmp_path / "b.json", made_run("beta", set(range(10))))
    out = seewhy("compare", str(a), str(b), "--store", str(tmp_path / "s.sqlite"))
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "alpha − beta: -33.3 points on 12 paired items (50.0% vs 83.3%)" in text
    assert "McNemar exact p = 0.125 (0 items only alpha gets right, 4 only beta)" in text
    assert "right only for beta (4):" in text
    assert "item q6:" in text
    assert "Where each model fails:" in text

    md = seewhy("compare", str(a), str(b), "--format", "md", "--store", str(tmp_path / "s"))
    assert md.returncode == 0 and "| alpha − beta | -33.3 |" in md.stdout
    doc = json.loads(
        seewhy("compare", str(a), str(b), "-f", "json", "--store", str(tmp_path / "s")).stdout
    )
    [comparison] = doc["comparisons"]
    [pair] = comparison["pairs"]
    assert (pair["a_only"], pair["b_only"], pair["mcnemar_p"]) == (0, 4, 0.125)
    assert [r["item_id"] for r in pair["disagreements"]["only_b"]] == ["q6", "q7", "q8", "q9"]
    assert sum(len(r["items"]) for r in doc["runs"]) == 24  # every item of every run


def test_compare_tasks_selects_the_runs_of_those_tasks(tmp_path: Path) -> None:
    a = write_export(tmp_path / "a.json", made_run("alpha", {0}))
    b = write_export(tmp_path / "b.json", made_run("beta", {1}))
    store = str(tmp_path / "s.sqlite")
    kept = seewhy("compare", str(a), str(b), "--tasks", "arc_easy", "--store", store)
    assert kept.returncode == 0, kept.stderr
    assert "alpha − beta" in kept.stdout
    none = seewhy("compare", str(a), str(b), "--tasks", "gsm8k", "--store", store)
    assert none.returncode == 2
    assert "no source has a run of gsm8k" in one_line_error(none)


def test_compare_refuses_other_task_versions_and_says_why(tmp_path: Path) -> None:
    a = write_export(tmp_path / "a.json", made_run("alpha", {0}, "v1", 12))
    b = write_export(tmp_path / "b.json", made_run("beta", {1}, "v2", 10))
    out = seewhy("compare", str(a), str(b), "--store", str(tmp_path / "s.sqlite"))
    assert out.returncode == 2
    line = one_line_error(out)
    assert "different task versions" in line and "2 item(s) only in the first run" in line


def test_audit_evidence_from_an_export_gives_a_verdict_for_every_claim(tmp_path: Path) -> None:
    release = tmp_path / "release"
    release.mkdir()
    (release / "README.md").write_text(CARD, encoding="utf-8")
    export = write_export(tmp_path / "runs.json", made_run("SmolLM2-135M-Instruct", set(range(6))))
    out = seewhy("audit", str(release), "--evidence", str(export), "--format", "json")
    assert out.returncode in (0, 3), out.stderr
    report = json.loads(out.stdout)
    claims = [f for f in report["facts"] if f["key"] == "performance.claim"]
    assert len(claims) == 3
    assert {c["value"]["outcome"] for c in claims} <= {
        "reproduced",
        "not reproduced",
        "not checked",
    }
    [verdict] = [v for v in report["verdicts"] if v["topic"] == "performance"]
    assert verdict["reason"].startswith("of 3 claim(s):")
    # A run id that is not stored is one line, exit 2.
    out = seewhy("audit", str(release), "--evidence", "no-such-run", store=tmp_path / "s.sqlite")
    assert out.returncode == 2
    assert "no file and no stored run 'no-such-run'" in one_line_error(out)


LOGS = Path(__file__).parent / "data"


def test_eval_ingest_real_lmeval_and_inspect_logs(tmp_path: Path) -> None:
    """E4's fixtures: an lm-eval --log_samples folder, an inspect .eval zip and .json log."""
    lmeval = LOGS / "lmeval"
    [eval_log] = sorted((LOGS / "inspect").glob("*mini-mc*.eval"))
    [json_log] = sorted((LOGS / "inspect").glob("*mini-arith*.json"))
    # What the logs hold, read from them here: lm-eval logs a doc once per filter.
    expected: dict[str, int] = {}
    for samples in lmeval.rglob("samples_*.jsonl"):
        task = samples.name.removeprefix("samples_").rsplit("_", 1)[0]
        lines = samples.read_text("utf-8").splitlines()
        expected[task] = len({json.loads(line)["doc_id"] for line in lines})
    with zipfile.ZipFile(eval_log) as z:
        expected["mini_mc"] = sum(1 for n in z.namelist() if n.startswith("samples/"))
    expected["mini_arith"] = len(json.loads(json_log.read_text("utf-8"))["samples"])

    store = tmp_path / "store.sqlite"
    out = seewhy(
        "eval", "ingest", str(lmeval), str(eval_log), str(json_log), "-f", "json", store=store
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    got = {r["run"]["task"]: len(r["items"]) for r in doc["runs"]}
    assert got == expected
    sources = {r["run"]["task"]: r["run"]["source"] for r in doc["runs"]}
    assert sources["mini_mc"] == sources["mini_arith"] == "inspect"
    assert {sources[t] for t in expected if t.endswith("_mini")} == {"lm-eval"}
    for entry in doc["runs"]:
        analysis, items = entry["analysis"], entry["items"]
        metric = analysis["metric"]
        wrong = [
            i["item_id"] for i in items if i["error"] is None and i["scores"].get(metric, 1) < 0.5
        ]
        assert sorted(analysis["failing"]) == sorted(wrong)
    # Ingested runs are stored like measured ones: listed, shown, comparable.
    listed = seewhy("eval", "list", store=store)
    assert listed.returncode == 0 and f"{len(expected)} run(s)" in listed.stdout
    gsm = next(r for r in doc["runs"] if r["run"]["task"] == "gsm8k_mini")
    shown = seewhy("eval", "show", gsm["run"]["run_id"], "--failing", store=store)
    assert shown.returncode == 0 and "response: " in shown.stdout
    text = seewhy("eval", "ingest", str(json_log), store=store)
    assert text.returncode == 0 and "mini_arith" in text.stdout and "Where it fails" in text.stdout


def test_eval_ingest_of_something_else_is_one_line_exit_2(tmp_path: Path) -> None:
    other = tmp_path / "notes.txt"
    other.write_text("hello", encoding="utf-8")
    out = seewhy("eval", "ingest", str(other), store=tmp_path / "s.sqlite")
    assert out.returncode == 2
    assert "notes.txt" in one_line_error(out)


def test_text_and_markdown_show_a_few_items_and_say_how_to_get_all() -> None:
    run, items = made_run("alpha", {0}, n=30)
    view = RunView(run, items, analyze_run(run, items))
    text = eval_text([view])
    assert "failing items: 29 of 30" in text and "(17 more)" in text
    assert f"seewhy eval show {run.run_id} --failing" in text
    assert text.count("chose ") == 5  # five most confident wrong answers, not 29
    md = eval_markdown([view])
    assert "| **acc** | 3.3% |" in md and "`seewhy eval show" in md


# ------------------------------------------------------------ the real models


@pytest.fixture(scope="module")
def smol_run(tmp_path_factory: pytest.TempPathFactory, smollm2_gguf: Path) -> dict[str, Any]:
    """`seewhy eval SmolLM2 --tasks arc_easy --limit 5 --format json` (one model load)."""
    folder = tmp_path_factory.mktemp("eval-cli")
    store, export, card = folder / "store.sqlite", folder / "smol.json", folder / "README.md"
    card.write_text(CARD, encoding="utf-8")
    out = seewhy(
        "eval", str(smollm2_gguf), "--tasks", "arc_easy", "--limit", "5", "--device", "cpu",
        "--card", str(card), "--format", "json", "-o", str(export), store=store,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"wrote {export}" in out.stderr
    assert "de-quantizing" not in out.stderr  # no progress-bar noise in a pipe
    return {"store": store, "export": export, "doc": json.loads(export.read_text("utf-8"))}


@pytest.mark.models
def test_eval_smollm2_json_carries_every_item(smol_run: dict[str, Any]) -> None:
    [entry] = smol_run["doc"]["runs"]
    run, items, analysis = entry["run"], entry["items"], entry["analysis"]
    assert run["task"] == "arc_easy" and run["settings"]["limit"] == 5
    assert run["model"]["id"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert len(items) == 5 and all(len(i["choice_logprobs"]) == len(i["choices"]) for i in items)
    acc = next(m for m in run["metrics"] if m["metric"] == "acc")
    right = sum(i["scores"]["acc"] for i in items)
    assert acc["value"] == pytest.approx(right / 5) and acc["n"] == 5
    assert acc["ci_low"] <= acc["value"] <= acc["ci_high"]
    assert sorted(analysis["failing"]) == sorted(
        i["item_id"] for i in items if i["scores"]["acc"] == 0
    )
    # The card's claim on the measured benchmark beside the measurement (only that one):
    # Q4_1 weights against a claim for the published weights are not comparable.
    [claim] = entry["claims"]
    assert claim["claim"]["benchmark"] == "arc_easy" and claim["n"] == 5
    assert claim["status"] == "not_comparable"
    assert any(r["kind"] == "quantization" for r in claim["reasons"])
    # The export is evidence as it is.
    [evidence] = read_export(smol_run["export"])
    assert evidence.run.run_id == run["run_id"] and len(evidence.items) == 5


@pytest.mark.models
def test_eval_show_and_list_read_the_stored_run(smol_run: dict[str, Any]) -> None:
    [entry] = smol_run["doc"]["runs"]
    run_id = entry["run"]["run_id"]
    listed = seewhy("eval", "list", store=smol_run["store"])
    assert listed.returncode == 0 and run_id in listed.stdout
    failing = [i for i in entry["items"] if i["scores"]["acc"] == 0]
    shown = seewhy("eval", "show", run_id, "--failing", store=smol_run["store"])
    assert shown.returncode == 0, shown.stderr
    assert f"{len(failing)} of 5 item(s)" in shown.stdout
    for item in failing:
        assert f"item {item['item_id']} of arc_easy" in shown.stdout
        assert item["prompt"].splitlines()[0] in shown.stdout
    one = entry["items"][0]
    as_json = seewhy(
        "eval", "show", run_id[:10], "--item", one["item_id"], "-f", "json", store=smol_run["store"]
    )
    assert json.loads(as_json.stdout)["runs"][0]["items"] == [one]


@pytest.mark.models
def test_compare_stored_smollm2_with_gemma_on_the_same_items(
    smol_run: dict[str, Any], gemma_gguf: Path
) -> None:
    [entry] = smol_run["doc"]["runs"]
    smol_id = entry["run"]["run_id"]
    out = seewhy(
        "compare", smol_id, str(gemma_gguf), "--tasks", "arc_easy", "--limit", "5",
        "--device", "cpu", "--format", "json", store=smol_run["store"],
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    doc = json.loads(out.stdout)
    [comparison] = doc["comparisons"]
    [pair] = comparison["pairs"]
    assert pair["n_paired"] == 5
    smol = {i["item_id"]: i["scores"]["acc"] for i in entry["items"]}
    gemma_entry = next(r for r in doc["runs"] if r["run"]["run_id"] != smol_id)
    gemma = {i["item_id"]: i["scores"]["acc"] for i in gemma_entry["items"]}
    assert set(gemma) == set(smol)  # the same five items
    a_only = sorted(k for k in smol if smol[k] == 1 and gemma[k] == 0)
    b_only = sorted(k for k in smol if smol[k] == 0 and gemma[k] == 1)
    assert (pair["a_only"], pair["b_only"]) == (len(a_only), len(b_only))
    assert sorted(r["item_id"] for r in pair["disagreements"]["only_a"]) == a_only
    assert sorted(r["item_id"] for r in pair["disagreements"]["only_b"]) == b_only
    assert 0.0 < pair["mcnemar_p"] <= 1.0
    # Both runs are stored now: the text comparison is free.
    text = seewhy("compare", smol_id, gemma_entry["run"]["run_id"], store=smol_run["store"])
    assert text.returncode == 0, text.stderr
    assert "McNemar exact p = " in text.stdout and "Where each model fails:" in text.stdout


@pytest.mark.models
def test_audit_evidence_with_the_measured_run(smol_run: dict[str, Any], tmp_path: Path) -> None:
    release = tmp_path / "SmolLM2-135M-Instruct"
    release.mkdir()
    (release / "README.md").write_text(CARD, encoding="utf-8")
    [entry] = smol_run["doc"]["runs"]
    out = seewhy(
        "audit", str(release), "--evidence", entry["run"]["run_id"], "--format", "json",
        store=smol_run["store"],
    )  # fmt: skip
    assert out.returncode in (0, 3), out.stderr
    report = json.loads(out.stdout)
    claims = {
        f["value"]["benchmark"]: f["value"]
        for f in report["facts"]
        if f["key"] == "performance.claim"
    }
    assert len(claims) == 3
    arc = next(v for k, v in claims.items() if k.startswith("ARC-Easy"))
    assert arc["n"] == 5 and arc["measured"] is not None
    # The weights are Q4_1: the claim is for the published weights, so not comparable.
    assert arc["status"] == "not_comparable" and "quantized" in arc["reasons"]
    assert next(v for k, v in claims.items() if k.startswith("GSM8K"))["outcome"] == "not checked"
    [verdict] = [v for v in report["verdicts"] if v["topic"] == "performance"]
    assert verdict["value"] == "not-checked"


def test_items_are_shown_by_their_own_question_not_the_shared_few_shot_preamble() -> None:
    run, items = made_run("alpha", {0}, n=8)
    preamble = "Question: a shared few-shot example?\nAnswer: yes\n\n" * 3
    items = [i.model_copy(update={"prompt": preamble + i.prompt}) for i in items]
    text = eval_text([RunView(run, items, analyze_run(run, items))])
    wrong = [line for line in text.splitlines() if "chose " in line]
    assert wrong and all("made-up question" in line for line in wrong), wrong
    assert "shared few-shot example" not in text
