"""Log readers on real lm-eval and inspect-ai logs (tests/evaluation/data, see its README).

Every expectation is read from the raw files here, with the json module,
independently of the readers.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from seewhy.errors import SeewhyError
from seewhy.evaluation.ingest import IngestError, IngestLimits, ingest, read_inspect, read_lmeval
from seewhy.evaluation.model import stable_hash

DATA = Path(__file__).parent / "data"
LMEVAL = DATA / "lmeval"
INSPECT = DATA / "inspect"


def lmeval_files() -> tuple[Path, dict[str, Path]]:
    (folder,) = [p for p in LMEVAL.iterdir() if p.is_dir()]
    (results,) = folder.glob("results_*.json")
    samples = {}
    for path in folder.glob("samples_*.jsonl"):
        task = path.name.removeprefix("samples_").rsplit("_", 1)[0]
        samples[task] = path
    return results, samples


def raw_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def inspect_log(task: str, suffix: str) -> Path:
    (path,) = INSPECT.glob(f"*_{task}_*{suffix}")
    return path


# ----------------------------------------------------------------- lm-eval


def test_lmeval_multiple_choice_items_match_the_raw_samples() -> None:
    results_path, samples = lmeval_files()
    results = json.loads(results_path.read_text())
    runs = {r.run.task: r for r in ingest(LMEVAL)}
    assert set(runs) == set(samples) == {"arc_easy_mini", "gsm8k_mini"}
    arc = runs["arc_easy_mini"]
    lines = raw_lines(samples["arc_easy_mini"])
    assert arc.run.output_type == "multiple_choice"
    assert arc.run.source == "lm-eval"
    assert arc.run.n_items == len(lines) == len(arc.items)
    assert arc.run.settings.num_fewshot == results["n-shot"]["arc_easy_mini"]
    assert arc.run.settings.prompt_template == results["configs"]["arc_easy_mini"]["doc_to_text"]
    assert arc.run.model.id == results["config"]["model_args"]["gguf_file"]
    assert arc.run.model.dtype == "float32"
    assert arc.run.model.backend == "lm-eval-log"
    for item, line in zip(arc.items, lines, strict=True):
        args = [line["arguments"][f"gen_args_{i}"] for i in range(len(line["arguments"]))]
        assert item.item_id == str(line["doc_id"])
        assert item.prompt == args[0]["arg_0"]
        assert item.prompt_hash == line["prompt_hash"]  # lm-eval hashes the same prompt text
        assert item.item_hash == stable_hash(line["doc"])
        assert item.choices == tuple(a["arg_1"].removeprefix(" ") for a in args)
        assert list(item.choices) == line["doc"]["choices"]
        assert item.choice_logprobs == tuple(float(r[0][0]) for r in line["resps"])
        assert item.choice_greedy == tuple(r[0][1] == "True" for r in line["resps"])
        assert item.gold == int(line["target"]) == line["doc"]["answer"]
        assert item.target == line["doc"]["choices"][item.gold]
        assert item.scores == {"acc": line["acc"], "acc_norm": line["acc_norm"]}
        assert item.slices == {"source": line["doc"]["source"]}
        # acc and acc_norm as lm-eval scored them follow from the logged log-likelihoods
        # and the choice lengths (characters) the record keeps.
        assert (item.predicted == item.gold) == (line["acc"] == 1.0)
        assert item.choice_lengths == tuple(len(c) for c in line["doc"]["choices"])
        normed = [lp / n for lp, n in zip(item.choice_logprobs, item.choice_lengths, strict=True)]
        assert (normed.index(max(normed)) == item.gold) == (line["acc_norm"] == 1.0)
    reported = results["results"]["arc_easy_mini"]
    metrics = {m.metric: m for m in arc.run.metrics}
    assert metrics["acc"].value == reported["acc,none"]
    assert metrics["acc"].stderr == reported["acc_stderr,none"]
    assert metrics["acc_norm"].value == reported["acc_norm,none"]
    assert metrics["acc"].n == len(lines)
    assert arc.run.primary_metric == "acc"


def test_lmeval_generation_merges_one_line_per_filter() -> None:
    results_path, samples = lmeval_files()
    results = json.loads(results_path.read_text())
    (gsm,) = [r for r in read_lmeval(LMEVAL) if r.run.task == "gsm8k_mini"]
    lines = raw_lines(samples["gsm8k_mini"])
    filters = [f["name"] for f in results["configs"]["gsm8k_mini"]["filter_list"]]
    assert filters == ["strict-match", "flexible-extract"]
    by_doc: dict[int, dict[str, dict[str, Any]]] = {}
    for line in lines:
        by_doc.setdefault(line["doc_id"], {})[line["filter"]] = line
    assert len(lines) == 2 * len(by_doc)  # every document logged once per filter
    assert [item.item_id for item in gsm.items] == [str(d) for d in by_doc]
    assert gsm.run.output_type == "generate_until"
    assert gsm.run.settings.num_fewshot == results["n-shot"]["gsm8k_mini"] == 1
    assert gsm.run.settings.max_tokens == 64
    for item in gsm.items:
        strict = by_doc[int(item.item_id)]["strict-match"]
        flexible = by_doc[int(item.item_id)]["flexible-extract"]
        assert item.prompt == strict["arguments"]["gen_args_0"]["arg_0"]
        assert item.response == strict["resps"][0][0]
        assert item.target == strict["target"]
        assert item.scores == {
            "exact_match": strict["exact_match"],
            "exact_match_flexible": flexible["exact_match"],
        }
        invalid = strict["filtered_resps"][0] == "[invalid]"
        assert item.extraction_failed is invalid
        assert item.extracted == (None if invalid else strict["filtered_resps"][0])
    assert any(item.extraction_failed for item in gsm.items)  # the fixture has such items
    metrics = {m.metric: m.value for m in gsm.run.metrics}
    reported = results["results"]["gsm8k_mini"]
    assert metrics == {
        "exact_match": reported["exact_match,strict-match"],
        "exact_match_flexible": reported["exact_match,flexible-extract"],
    }


def test_lmeval_samples_file_alone_and_results_file_give_the_same_items() -> None:
    results_path, samples = lmeval_files()
    from_folder = {r.run.task: r.items for r in ingest(LMEVAL)}
    from_results = {r.run.task: r.items for r in ingest(results_path)}
    (from_samples,) = ingest(samples["arc_easy_mini"])
    assert from_results == from_folder
    assert from_samples.items == from_folder["arc_easy_mini"]


def test_lmeval_samples_without_results_file(tmp_path: Path) -> None:
    _, samples = lmeval_files()
    copy = tmp_path / samples["arc_easy_mini"].name
    copy.write_bytes(samples["arc_easy_mini"].read_bytes())
    (run,) = ingest(copy)
    assert run.run.task == "arc_easy_mini"
    assert run.run.output_type == "multiple_choice"
    assert any("results_" in note for note in run.notes)
    lines = raw_lines(copy)
    assert [i.choice_logprobs for i in run.items] == [
        tuple(float(r[0][0]) for r in line["resps"]) for line in lines
    ]


def test_lmeval_bad_line_is_an_error_naming_the_line(tmp_path: Path) -> None:
    _, samples = lmeval_files()
    text = samples["arc_easy_mini"].read_text().splitlines()
    text[2] = text[2][: len(text[2]) // 2]  # a line cut in half
    bad = tmp_path / samples["arc_easy_mini"].name
    bad.write_text("\n".join(text) + "\n")
    with pytest.raises(IngestError, match=r"\.jsonl:3 is not valid JSON"):
        ingest(bad)


def test_lmeval_line_over_the_limit(tmp_path: Path) -> None:
    _, samples = lmeval_files()
    with pytest.raises(IngestError, match="line over the 100-byte limit"):
        read_lmeval(samples["arc_easy_mini"], IngestLimits(max_line_bytes=100))


# ------------------------------------------------------------------ inspect


def raw_eval_member(path: Path, name: str) -> Any:
    """A member of an .eval zip, read with zipfile's own metadata and the zstandard module."""
    zstandard: Any = importlib.import_module("zstandard")
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
        assert info.compress_type == 93  # Zstandard, which zipfile cannot inflate before 3.14
        with path.open("rb") as raw:
            raw.seek(info.header_offset + 26)
            name_len, extra_len = (
                int.from_bytes(raw.read(2), "little"),
                int.from_bytes(raw.read(2), "little"),
            )
            raw.seek(info.header_offset + 30 + name_len + extra_len)
            data = zstandard.ZstdDecompressor().decompress(
                raw.read(info.compress_size), max_output_size=info.file_size
            )
    return json.loads(data)


@pytest.mark.parametrize("suffix", [".eval", ".json"])
def test_inspect_generation_log(suffix: str) -> None:
    path = inspect_log("mini-arith", suffix)
    if suffix == ".json":
        log = json.loads(path.read_text())
        raw_samples = log["samples"]
    else:
        log = raw_eval_member(path, "header.json")
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.startswith("samples/")]
        raw_samples = [raw_eval_member(path, n) for n in names]
    (run,) = ingest(path)
    assert run.run.source == "inspect"
    assert run.run.task == log["eval"]["task"] == "mini_arith"
    assert run.run.model.id == log["eval"]["model"]
    assert run.run.output_type == "generate_until"
    assert run.run.primary_metric == "match"
    raw = {s["id"]: s for s in raw_samples}
    assert sorted(i.item_id for i in run.items) == sorted(raw)
    for item in run.items:
        sample = raw[item.item_id]
        assert item.prompt == sample["input"]
        assert item.target == sample["target"]
        assert item.response == sample["output"]["completion"]
        assert item.extracted == sample["scores"]["match"]["answer"]
        assert item.scores == {"match": {"C": 1.0, "I": 0.0}[sample["scores"]["match"]["value"]]}
        assert item.slices == sample["metadata"]
        assert item.output_tokens == sample["model_usage"]["mockllm/model"]["output_tokens"]
    # answer_length is a count, not a score in [0, 1]: left out, and said so.
    assert any("answer_length" in note for note in run.notes)
    headline = log["results"]["scores"][0]
    (match,) = [m for m in run.run.metrics if m.metric == "match"]
    assert match.value == headline["metrics"]["accuracy"]["value"]
    assert match.stderr == headline["metrics"]["stderr"]["value"]
    assert [m.metric for m in run.run.metrics] == ["match"]


def test_inspect_multiple_choice_epochs_and_extraction_failure() -> None:
    log = json.loads(inspect_log("mini-mc", ".json").read_text())
    runs = [ingest(inspect_log("mini-mc", s))[0] for s in (".eval", ".json")]
    for run in runs:
        assert run.run.output_type == "multiple_choice"
        assert run.run.settings.extra["epochs"] == "2"
        assert len(run.items) == len(log["samples"]) == 4
        for item in run.items:
            sid, epoch = item.item_id.split("@")
            assert item.slices["sample_id"] == sid and item.slices["epoch"] == epoch
        raw = {f"{s['id']}@{s['epoch']}": s for s in log["samples"]}
        for item in run.items:
            sample = raw[item.item_id]
            assert list(item.choices) == sample["choices"]
            assert item.gold == "ABC".index(sample["target"])
            assert item.target == sample["choices"][item.gold]
            assert item.slices["subject"] == sample["metadata"]["subject"]
    # The .json and .eval runs were made with the same fixed outputs; the sample an
    # answer could not be read from is an extraction failure in both.
    failed = {s["id"]: s for s in log["samples"] if s["scores"]["choice"]["answer"] == ""}
    assert failed
    for run in runs:
        flagged = [i for i in run.items if i.extraction_failed]
        assert len(flagged) == len(failed)
        assert all(i.extracted is None and i.scores["choice"] == 0.0 for i in flagged)


def test_inspect_eval_and_json_of_one_task_read_alike() -> None:
    a = ingest(inspect_log("mini-arith", ".eval"))[0]
    b = ingest(inspect_log("mini-arith", ".json"))[0]
    strip = {"run_id", "latency_s"}
    assert [i.model_dump(exclude=strip) for i in a.items] == [
        i.model_dump(exclude=strip) for i in b.items
    ]


def test_folder_of_eval_logs() -> None:
    runs = ingest(INSPECT)
    assert sorted(r.run.task for r in runs) == ["mini_arith", "mini_mc"]


# ------------------------------------------------------------- bad .eval files


def eval_bytes() -> bytes:
    return inspect_log("mini-arith", ".eval").read_bytes()


def test_truncated_eval_is_an_ingest_error(tmp_path: Path) -> None:
    bad = tmp_path / "cut.eval"
    bad.write_bytes(eval_bytes()[: len(eval_bytes()) // 2])
    with pytest.raises(IngestError, match="not a zip"):
        ingest(bad)


def test_corrupt_zstandard_member(tmp_path: Path) -> None:
    data = bytearray(eval_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("header.json")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for k in range(start + 20, start + 40):  # inside the compressed stream
        data[k] ^= 0xFF
    bad = tmp_path / "corrupt.eval"
    bad.write_bytes(bytes(data))
    with pytest.raises(IngestError, match=r"header\.json"):
        ingest(bad)


def test_member_over_the_size_limit(tmp_path: Path) -> None:
    path = inspect_log("mini-arith", ".eval")
    with pytest.raises(IngestError, match="over the 1000-byte limit"):
        read_inspect(path, IngestLimits(max_member_bytes=1000))
    with pytest.raises(IngestError, match="members, over 3"):
        read_inspect(path, IngestLimits(max_members=3))


def test_eval_without_header(tmp_path: Path) -> None:
    bad = tmp_path / "noheader.eval"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("samples/1_epoch_1.json", "{}")
    with pytest.raises(IngestError, match=r"no header\.json"):
        ingest(bad)


def test_deflated_eval_members_read_too(tmp_path: Path) -> None:
    """inspect wrote deflate before it switched to Zstandard: both are read."""
    source = inspect_log("mini-arith", ".eval")
    rewritten = tmp_path / "deflate.eval"
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(rewritten, "w") as out:
        for name in archive.namelist():
            member = raw_eval_member(source, name)
            out.writestr(name, json.dumps(member), compress_type=zipfile.ZIP_DEFLATED)
    a = ingest(source)[0]
    b = ingest(rewritten)[0]
    assert [i.scores for i in a.items] == [i.scores for i in b.items]
    assert [i.prompt for i in a.items] == [i.prompt for i in b.items]


def test_without_zstandard_the_error_names_the_package() -> None:
    path = inspect_log("mini-arith", ".eval")
    code = (
        "import sys; sys.modules['zstandard'] = None\n"
        "from pathlib import Path\n"
        "from seewhy.evaluation.ingest import ingest, IngestError\n"
        "try:\n"
        f"    ingest(Path({str(path)!r}))\n"
        "except IngestError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pip install zstandard" in out.stdout


def test_not_a_log(tmp_path: Path) -> None:
    other = tmp_path / "config.json"
    other.write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(IngestError, match="neither an inspect-ai log nor an lm-eval"):
        ingest(other)
    with pytest.raises(IngestError, match="no such file"):
        ingest(tmp_path / "missing.eval")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(IngestError, match="no lm-eval"):
        ingest(empty)
    assert issubclass(IngestError, SeewhyError)


def test_json_over_the_size_limit() -> None:
    path = inspect_log("mini-arith", ".json")
    size = path.stat().st_size
    with pytest.raises(IngestError, match=f"{size} bytes, over the 1000-byte limit"):
        read_inspect(path, IngestLimits(max_json_bytes=1000))


def test_deep_json_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(IngestError, match=r"nested too deeply|not valid JSON"):
        ingest(deep)


def test_fixture_hashes_are_what_the_readme_describes() -> None:
    """The committed fixtures are the tools' own bytes: lm-eval's hashes still verify."""
    _, samples = lmeval_files()
    for line in raw_lines(samples["arc_easy_mini"]):
        prompt = line["arguments"]["gen_args_0"]["arg_0"]
        assert hashlib.sha256(prompt.encode()).hexdigest() == line["prompt_hash"]
