"""Task files written by users: loading, errors with lines, sandbox, few-shot, --limit, scoring.

Every task here is a real YAML file and a real data file written to tmp_path.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from seewhy.evaluation.model import (
    ChatMessage,
    GenerationRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)
from seewhy.evaluation.tasks import (
    Task,
    TaskDataError,
    TaskNotFoundError,
    TaskSpecError,
    TemplateSecurityError,
    load_task,
)


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _mc_rows(n: int = 6) -> list[dict[str, Any]]:
    return [
        {
            "id": f"q{i}",
            "question": f"What is {i} + 1?",
            "options": [str(i), str(i + 1)],
            "answer": 1,
        }
        for i in range(n)
    ]


MC_SPEC = """\
task: mini_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: data.jsonl
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{question}}\\nAnswer:"
doc_to_choice: "{{options}}"
doc_to_target: answer
id_field: id
metric_list:
  - metric: acc
  - metric: acc_norm
"""


def _task(tmp_path: Path, spec: str, rows: Sequence[dict[str, Any]] | None = None) -> Task:
    _write_jsonl(tmp_path / "data.jsonl", rows if rows is not None else _mc_rows())
    path = tmp_path / "task.yaml"
    path.write_text(spec, encoding="utf-8")
    return load_task(path)


def _cont(request: LoglikelihoodRequest | GenerationRequest) -> str:
    assert isinstance(request, LoglikelihoodRequest)
    return request.continuation


def _ll(*values: float) -> list[LoglikelihoodResult]:
    return [LoglikelihoodResult(logprob=v, is_greedy=False, tokens=1) for v in values]


def _spec_error(tmp_path: Path, spec: str) -> TaskSpecError:
    _write_jsonl(tmp_path / "data.jsonl", _mc_rows())
    path = tmp_path / "task.yaml"
    path.write_text(spec, encoding="utf-8")
    with pytest.raises(TaskSpecError) as info:
        load_task(path)
    return info.value


# ------------------------------------------------------------- the format


def test_a_user_task_file_builds_lm_eval_requests(tmp_path: Path) -> None:
    task = _task(tmp_path, MC_SPEC)
    item = task.item(2)
    assert item.item_id == "q2"
    assert item.prompt == "Question: What is 2 + 1?\nAnswer:"
    assert item.requests == (
        LoglikelihoodRequest(context=item.prompt, continuation=" 2"),
        LoglikelihoodRequest(context=item.prompt, continuation=" 3"),
    )
    assert item.gold == 1 and item.target == "3"
    assert task.primary_metric == "acc"


@pytest.mark.parametrize(
    ("choice", "target"),
    [
        ("options", "answer"),  # a field name for each
        ('["x", "y"]', "1"),  # a list literal and an int
        ("\"{{ ['x', 'y'] }}\"", '"{{ answer }}"'),  # templates (rendered list, isdigit -> index)
        ('"{{options}}"', '"{{ options[answer] }}"'),  # a target that is the choice's text
    ],
)
def test_choice_and_target_forms(tmp_path: Path, choice: str, target: str) -> None:
    spec = MC_SPEC.replace('doc_to_choice: "{{options}}"', f"doc_to_choice: {choice}").replace(
        "doc_to_target: answer", f"doc_to_target: {target}"
    )
    item = _task(tmp_path, spec).item(0)
    assert item.gold == 1
    assert len(item.requests) == 2


def test_target_delimiter_and_description(tmp_path: Path) -> None:
    spec = MC_SPEC + 'target_delimiter: ":"\ndescription: "Arithmetic ({{id}}).\\n\\n"\n'
    item = _task(tmp_path, spec).item(0)
    assert item.prompt == "Arithmetic (q0).\n\nQuestion: What is 0 + 1?\nAnswer:"
    assert [_cont(r) for r in item.requests] == [":0", ":1"]


def test_acc_norm_divides_by_characters_not_bytes(tmp_path: Path) -> None:
    rows = [{"id": "u", "question": "?", "options": ["ééé", "abcd"], "answer": 1}]
    task = _task(
        tmp_path,
        MC_SPEC.replace("  - metric: acc_norm\n", "  - metric: acc_norm\n  - metric: acc_bytes\n"),
        rows,
    )
    item = task.item(0)
    # per character: -3.3/3 = -1.1 < -4.2/4 = -1.05 -> choice 1; per UTF-8 byte:
    # -3.3/6 = -0.55 > -1.05 -> choice 0; raw: -3.3 > -4.2 -> choice 0.
    score = task.score_loglikelihood(item, _ll(-3.3, -4.2))
    assert score.scores == {"acc": 0.0, "acc_norm": 1.0, "acc_bytes": 0.0}
    assert score.choice_lengths == (3, 4)


def test_record_carries_the_evidence(tmp_path: Path) -> None:
    task = _task(tmp_path, MC_SPEC)
    item = task.item(1)
    results = [
        LoglikelihoodResult(
            logprob=-1.0, is_greedy=True, tokens=1, context_tokens=9, latency_s=0.5
        ),
        LoglikelihoodResult(
            logprob=-2.0, is_greedy=False, tokens=1, context_tokens=9, latency_s=0.5
        ),
    ]
    record = task.record(item, results, run_id="r1")
    assert record.scores == {"acc": 0.0, "acc_norm": 0.0}
    assert record.predicted == 0 and record.gold == 1
    assert record.choice_logprobs == (-1.0, -2.0) and record.choice_greedy == (True, False)
    assert record.item_hash == item.item_hash and record.prompt == item.prompt
    assert record.latency_s == 1.0


def test_a_gold_index_outside_the_choices_is_an_item_error_not_a_crash(tmp_path: Path) -> None:
    rows = _mc_rows(3)
    rows[1]["answer"] = 7
    task = _task(tmp_path, MC_SPEC, rows)
    items = task.items()
    assert [item.error is None for item in items] == [True, False, True]
    assert "outside the 2 choices" in str(items[1].error)
    assert items[1].requests == ()
    record = task.error_record(items[1], run_id="r", error=str(items[1].error))
    assert record.error and record.scores == {}


def test_csv_task_infers_integer_columns(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text(
        "question,choice0,choice1,answer\nSky colour?,green,blue,1\nGrass colour?,green,blue,0\n",
        encoding="utf-8",
    )
    (tmp_path / "task.yaml").write_text(
        "task: mini_csv\ndataset_path: csv\ndata_files: data.csv\ntest_split: train\n"
        "output_type: multiple_choice\ndoc_to_text: '{{question}}'\n"
        'doc_to_choice: "{{ [choice0, choice1] }}"\ndoc_to_target: answer\n',
        encoding="utf-8",
    )
    task = load_task(tmp_path / "task.yaml")
    assert [item.gold for item in task.items()] == [1, 0]


def test_gzip_json_array_data(tmp_path: Path) -> None:
    (tmp_path / "data.json.gz").write_bytes(gzip.compress(json.dumps(_mc_rows(4)).encode()))
    spec = MC_SPEC.replace("test: data.jsonl", "test: data.json.gz")
    (tmp_path / "task.yaml").write_text(spec, encoding="utf-8")
    assert len(load_task(tmp_path / "task.yaml")) == 4


def test_include_merges_a_base_file(tmp_path: Path) -> None:
    (tmp_path / "_base.yaml").write_text(MC_SPEC.replace("task: mini_mc\n", ""), encoding="utf-8")
    task = _task(tmp_path, "include: _base.yaml\ntask: derived\nnum_fewshot: 1\n")
    assert task.name == "derived" and task.num_fewshot == 1


def test_chat_tasks_send_messages_and_drop_the_delimiter(tmp_path: Path) -> None:
    spec = MC_SPEC + "chat: true\ndescription: Be brief.\n"
    item = _task(tmp_path, spec).item(0)
    assert item.chat == (
        ChatMessage(role="system", content="Be brief."),
        ChatMessage(role="user", content="Question: What is 0 + 1?\nAnswer:"),
    )
    assert [_cont(r) for r in item.requests] == ["0", "1"]
    assert all(r.chat == item.chat for r in item.requests)


# ------------------------------------------------------------- generation

GEN_SPEC = """\
task: mini_gen
dataset_path: json
data_files: {test: data.jsonl}
test_split: test
output_type: generate_until
doc_to_text: "Q: {{question}}\\nA:"
doc_to_target: "{{answer}}"
generation_kwargs:
  until: ["\\n\\n"]
  max_gen_toks: 64
metric_list:
  - metric: exact_match
    ignore_case: true
    regexes_to_ignore: [",", "\\\\$", "(?s).*#### ", "\\\\.$"]
filter_list:
  - name: strict-match
    filter:
      - {function: regex, regex_pattern: "#### (\\\\-?[0-9\\\\.\\\\,]+)"}
      - {function: take_first}
  - name: flexible-extract
    filter:
      - {function: regex, group_select: -1, regex_pattern: "(-?[$0-9.,]{2,})|(-?[0-9]+)"}
      - {function: take_first}
"""

GEN_ROWS = [{"question": "Two dozen?", "answer": "12 * 2 = 24\n#### 24"}]


@pytest.mark.parametrize(
    ("response", "strict", "flexible", "failed"),
    [
        ("12 * 2 = 24\n#### 24", 1.0, 1.0, False),
        ("That makes $1,024.", 0.0, 0.0, True),  # wrong number, and no "####"
        ("It is 24.", 0.0, 1.0, True),  # the flexible filter reads the last number
        ("#### 25", 0.0, 0.0, False),  # extracted, and wrong
        ("no idea", 0.0, 0.0, True),
    ],
)
def test_generation_extraction_and_exact_match(
    tmp_path: Path, response: str, strict: float, flexible: float, failed: bool
) -> None:
    task = _task(tmp_path, GEN_SPEC, GEN_ROWS)
    item = task.item(0)
    (request,) = item.requests
    assert request == GenerationRequest(context="Q: Two dozen?\nA:", until=("\n\n",), max_tokens=64)
    record = task.record(item, GenerationResult(text=response, output_tokens=5), run_id="r")
    assert record.scores == {"exact_match": strict, "exact_match_flexible": flexible}
    assert record.extraction_failed is failed
    assert (record.extracted is None) is failed
    assert record.response == response and record.output_tokens == 5


def test_generation_without_filters_matches_the_whole_response(tmp_path: Path) -> None:
    spec = GEN_SPEC.split("filter_list:")[0].replace(
        "regexes_to_ignore", "ignore_punctuation: true\n    regexes_to_ignore"
    )
    rows = [{"question": "Capital of France?", "answer": "Paris"}]
    task = _task(tmp_path, spec, rows)
    item = task.item(0)
    assert task.score_generation(item, "paris!").scores == {"exact_match": 1.0}
    assert task.score_generation(item, "Lyon").scores == {"exact_match": 0.0}
    # lm-eval's default stop for a task without `until` is the few-shot delimiter
    no_until = spec.replace('  until: ["\\n\\n"]\n', "")
    (request,) = _task(tmp_path, no_until, rows).item(0).requests
    assert isinstance(request, GenerationRequest) and request.until == ("\n\n",)


# ---------------------------------------------------------------- few-shot


def test_few_shot_is_deterministic_and_never_the_doc_itself(tmp_path: Path) -> None:
    rows = _mc_rows(8)
    task = _task(tmp_path, MC_SPEC + "num_fewshot: 7\n", rows)
    for index in range(8):
        item = task.item(index)
        blocks = item.prompt.split("\n\n")
        assert len(blocks) == 8
        own = f"Question: What is {index} + 1?\nAnswer:"
        assert blocks[-1] == own
        assert all(not block.startswith(own) for block in blocks[:-1])
        assert item.prompt == task.item(index).prompt  # same doc, same prompt
    reloaded = load_task(tmp_path / "task.yaml")
    assert [i.prompt for i in reloaded.items()] == [i.prompt for i in task.items()]


def test_few_shot_depends_on_the_doc_and_seed_not_on_the_limit(tmp_path: Path) -> None:
    task = _task(tmp_path, MC_SPEC + "num_fewshot: 2\n", _mc_rows(40))
    by_index = {item.index: item.prompt for item in task.items()}
    for item in task.items(limit=5):
        assert by_index[item.index] == item.prompt
    firsts = {prompt.split("\n\n")[0] for prompt in by_index.values()}
    assert len(firsts) > 5  # examples vary from doc to doc
    reseeded = {item.index: item.prompt for item in task.items(seed=7)}
    assert reseeded != by_index


def test_few_shot_examples_show_the_answer_after_the_delimiter(tmp_path: Path) -> None:
    rows = _mc_rows(2)
    task = _task(tmp_path, MC_SPEC + "num_fewshot: 1\n", rows)
    assert task.item(0).prompt == (
        "Question: What is 1 + 1?\nAnswer: 2\n\nQuestion: What is 0 + 1?\nAnswer:"
    )
    first_n = (
        MC_SPEC
        + 'num_fewshot: 1\nfewshot_config: {sampler: first_n}\nfewshot_delimiter: "\\n###\\n"\n'
    )
    task = _task(tmp_path, first_n, _mc_rows(3))
    assert task.item(2).prompt == (
        "Question: What is 0 + 1?\nAnswer: 1\n###\nQuestion: What is 2 + 1?\nAnswer:"
    )


def test_too_few_examples_for_the_shots_is_a_clear_error(tmp_path: Path) -> None:
    task = _task(tmp_path, MC_SPEC + "num_fewshot: 6\n", _mc_rows(4))
    with pytest.raises(TaskDataError, match="6-shot asks for 6 examples but split 'test' has 3"):
        task.item(0)


# -------------------------------------------------------------- --limit


def _sliced_rows() -> list[dict[str, Any]]:
    rows = []
    for cat, count in (("A", 60), ("B", 30), ("C", 10)):
        rows += [
            {
                "id": f"{cat}{i}",
                "question": f"{cat} {i}",
                "options": ["x", "y"],
                "answer": 0,
                "cat": cat,
            }
            for i in range(count)
        ]
    return rows


def test_limit_is_stratified_by_slice_and_proportional(tmp_path: Path) -> None:
    task = _task(tmp_path, MC_SPEC + "slices: [cat, length]\n", _sliced_rows())
    items = task.items(limit=10)
    assert Counter(item.slices["cat"] for item in items) == {"A": 6, "B": 3, "C": 1}
    assert [item.index for item in items] == sorted(item.index for item in items)
    small = task.items(limit=4)  # 0.4 for C rounds to 0: the minimum of one keeps it
    assert Counter(item.slices["cat"] for item in small) == {"A": 2, "B": 1, "C": 1}
    two = task.items(limit=2)  # fewer than the strata: the largest get one each
    assert Counter(item.slices["cat"] for item in two) == {"A": 1, "B": 1}
    assert all(item.slices["length"].startswith("Q") for item in items)


def test_limit_is_fixed_by_the_seed(tmp_path: Path) -> None:
    task = _task(tmp_path, MC_SPEC + "slices: [cat]\n", _sliced_rows())
    first = task.select(20, seed=1234)
    assert task.select(20, seed=1234) == first
    assert load_task(tmp_path / "task.yaml").select(20, seed=1234) == first
    assert task.select(20, seed=99) != first
    assert len(first) == 20 and len(set(first)) == 20
    assert task.select(None) == list(range(100)) == task.select(500)


def test_length_slices_are_quartiles_of_the_prompt_length(tmp_path: Path) -> None:
    rows = [
        {"id": str(i), "question": "x" * (i + 1), "options": ["a", "b"], "answer": 0}
        for i in range(100)
    ]
    task = _task(tmp_path, MC_SPEC + "slices: [length]\n", rows)
    counts = Counter(item.slices["length"] for item in task.items())
    assert len(counts) == 4
    assert all(count == 25 for count in counts.values())
    assert Counter(item.slices["length"] for item in task.items(limit=8)) == dict.fromkeys(
        counts, 2
    )


# ---------------------------------------------------------------- sandbox


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ question.__class__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ 'x' * 100000000 }}",
        "{{ 9 ** 99999999 }}",
    ],
)
def test_the_sandbox_refuses_escapes_and_huge_values(tmp_path: Path, template: str) -> None:
    spec = MC_SPEC.replace(
        'doc_to_text: "Question: {{question}}\\nAnswer:"', f'doc_to_text: "{template}"'
    )
    task = _task(tmp_path, spec)
    with pytest.raises(TemplateSecurityError, match="doc q0"):
        task.item(0)


def test_mutating_methods_are_refused(tmp_path: Path) -> None:
    spec = MC_SPEC.replace(
        'doc_to_text: "Question: {{question}}\\nAnswer:"', 'doc_to_text: "{{ options.append(1) }}"'
    )
    with pytest.raises(TemplateSecurityError):
        _task(tmp_path, spec).item(0)


def test_choice_literals_are_read_without_running_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    spec = MC_SPEC.replace(
        'doc_to_choice: "{{options}}"',
        f"doc_to_choice: \"__import__('pathlib').Path('{marker}').touch()\"",
    )
    with pytest.raises(TaskDataError, match="must render a Python list literal"):
        _task(tmp_path, spec).item(0)
    assert not marker.exists()


def test_a_missing_field_names_the_doc(tmp_path: Path) -> None:
    rows = _mc_rows(3)
    del rows[2]["question"]
    task = _task(tmp_path, MC_SPEC, rows)
    task.item(0)
    with pytest.raises(TaskDataError, match=r"doc q2: the doc_to_text template uses a field"):
        task.item(2)


# ------------------------------------------------------- bad task files


def _line_of(spec: str, needle: str) -> int:
    return next(n for n, line in enumerate(spec.splitlines(), start=1) if needle in line)


@pytest.mark.parametrize(
    ("spec", "needle", "message"),
    [
        (
            MC_SPEC + "num_fewshot: three\n",
            "num_fewshot",
            "num_fewshot: Input should be a valid integer",
        ),
        (MC_SPEC.replace("doc_to_text:", "doc_to_txt:"), "doc_to_txt", "unknown key 'doc_to_txt'"),
        (
            MC_SPEC.replace("  - metric: acc_norm", "  - metric: bleu"),
            "bleu",
            "metric_list.1.metric",
        ),
        (
            MC_SPEC + "process_docs: !function utils.process_docs\n",
            "process_docs",
            "never runs code",
        ),
        (
            MC_SPEC.replace("dataset_path: json", "dataset_path: ai2_arc"),
            "dataset_path",
            "local files only",
        ),
        (
            MC_SPEC.replace("output_type: multiple_choice", "output_type: loglikelihood"),
            "output_type",
            "not supported",
        ),
        (
            MC_SPEC.replace("test_split: test", "test_split: valid"),
            "test_split",
            "split 'valid' has no data files",
        ),
        (MC_SPEC.replace("test: data.jsonl", "test: nowhere.jsonl"), "test: nowhere", "not found"),
        (MC_SPEC.replace("{{question}}", "{{question}"), "doc_to_text", "Jinja syntax error"),
        (MC_SPEC + "slices: [subject]\n", "slices", "no field 'subject'"),
        (MC_SPEC + "task: again\n", "task: again", "appears twice (first on line 1)"),
        (
            MC_SPEC.replace("doc_to_target: answer", "doc_to_target: [answer: 1]"),
            "doc_to_target",
            "doc_to_target",
        ),
        (
            MC_SPEC + "generation_kwargs: {do_sample: true}\n",
            "generation_kwargs",
            "generation_kwargs",
        ),
        (MC_SPEC + "doc_to_choice2: [\n", "doc_to_choice2", "not valid YAML"),
        (
            MC_SPEC + "filter_list: [{name: x, filter: [{function: take_first}]}]\n",
            "filter_list",
            "filter_list is for generate_until",
        ),
    ],
)
def test_bad_specs_name_the_line(tmp_path: Path, spec: str, needle: str, message: str) -> None:
    error = _spec_error(tmp_path, spec)
    assert message in str(error)
    expected = _line_of(spec, needle)
    assert error.line is not None and abs(error.line - expected) <= 1, (
        error.line,
        expected,
        str(error),
    )
    assert str(error).startswith(f"{tmp_path / 'task.yaml'}:{error.line}: ")


def test_missing_keys_are_named(tmp_path: Path) -> None:
    spec = (
        "\n".join(line for line in MC_SPEC.splitlines() if not line.startswith("doc_to_text"))
        + "\n"
    )
    error = _spec_error(tmp_path, spec)
    assert "missing required key 'doc_to_text'" in str(error)
    error = _spec_error(
        tmp_path, MC_SPEC.replace("dataset_kwargs:\n  data_files:\n    test: data.jsonl\n", "")
    )
    assert "missing data files" in str(error)


def test_an_error_in_an_included_file_names_that_file(tmp_path: Path) -> None:
    base = MC_SPEC.replace("task: mini_mc\n", "").replace("num_fewshot", "x") + "num_fewshot: -2\n"
    (tmp_path / "_base.yaml").write_text(base, encoding="utf-8")
    error = _spec_error(tmp_path, "include: _base.yaml\ntask: derived\n")
    assert error.path == str(tmp_path / "_base.yaml")
    assert error.line == _line_of(base, "num_fewshot")


def test_bad_data_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").write_text('{"id": "a"}\n{"id": \n', encoding="utf-8")
    (tmp_path / "task.yaml").write_text(MC_SPEC, encoding="utf-8")
    with pytest.raises(TaskDataError, match=r"data.jsonl:2: not valid JSON Lines"):
        load_task(tmp_path / "task.yaml")


def test_unknown_task_names_the_choices() -> None:
    with pytest.raises(TaskNotFoundError, match="arc_easy"):
        load_task("no_such_benchmark")
    with pytest.raises(TaskNotFoundError, match="no such task file"):
        load_task("missing/task.yaml")


def test_version_follows_the_spec_and_the_data(tmp_path: Path) -> None:
    task = _task(tmp_path, MC_SPEC)
    same = load_task(tmp_path / "task.yaml")
    assert same.version == task.version
    rows = _mc_rows()
    rows[0]["question"] = "What is 0 + 1 ?"
    assert _task(tmp_path, MC_SPEC, rows).version != task.version
    assert _task(tmp_path, MC_SPEC + 'target_delimiter: "  "\n').version != task.version
