"""Read lm-evaluation-harness ``--log_samples`` output into seewhy's records.

lm-eval writes, under ``--output_path DIR``, a folder per model holding
``results_<timestamp>.json`` (aggregates, task configs, versions, n-shot,
the model's arguments) and one ``samples_<task>_<timestamp>.jsonl`` per task:
one JSON line per document *and filter*. Its quirks, all handled here:

- ``resps`` and ``filtered_resps`` went through ``sanitize_list``, so numbers
  and booleans are strings (``["-0.109", "False"]``);
- a task with several filters (gsm8k's ``strict-match`` and
  ``flexible-extract``) logs each document once per filter; the lines are
  merged into one item, the first filter of the task's ``filter_list``
  giving the plain metric names (``exact_match``) and a filter named
  ``*flex*`` the ``_flexible`` ones (``exact_match_flexible``); any other
  filter adds ``_<filter>``;
- the metrics are top-level keys of each line, named in its ``metrics`` list;
- a regex filter that finds nothing leaves ``[invalid]``: an extraction
  failure, not a wrong answer.

A log is untrusted input: JSON only, each file and line bounded, the samples
streamed line by line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from seewhy.evaluation.ingest._common import (
    DEFAULT_LIMITS,
    SLICE_KEYS,
    IngestedRun,
    IngestError,
    IngestLimits,
    as_float,
    clip_text,
    iter_jsonl,
    read_json_file,
    scalar_slices,
    sha256_text,
    summary,
)
from seewhy.evaluation.model import (
    ItemRecord,
    ModelFingerprint,
    OutputType,
    RunRecord,
    RunSettings,
    stable_hash,
)

__all__ = ["INVALID", "is_lmeval_results", "read_lmeval"]

INVALID = "[invalid]"  # what lm-eval's regex filter leaves when nothing matched
_TIMESTAMP = r"\d{4}-\d\d-\d\dT[0-9.\-]+"
_RESULTS = re.compile(rf"^results_(?P<ts>{_TIMESTAMP})\.json$")
_SAMPLES = re.compile(rf"^samples_(?P<task>.+)_(?P<ts>{_TIMESTAMP})\.jsonl$")
_QUANT = re.compile(
    r"(?i)(?<![A-Z0-9])(IQ\d[A-Z0-9_]*|Q\d(?:_[A-Z0-9]+)*|BF16|F16|F32)(?![A-Z0-9])"
)


def is_lmeval_results(value: Any) -> bool:
    """Whether a decoded JSON document looks like an lm-eval results file."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("results"), dict)
        and ("configs" in value or "versions" in value)
    )


def read_lmeval(path: Path, limits: IngestLimits = DEFAULT_LIMITS) -> list[IngestedRun]:
    """Every task run found at ``path``: an output folder, a results file or a samples file."""
    if path.is_dir():
        return _read_folder(path, limits)
    name = path.name
    if _RESULTS.match(name):
        return _read_results(path, limits)
    match = _SAMPLES.match(name)
    if match:
        results_path = path.with_name(f"results_{match['ts']}.json")
        results = read_json_file(results_path, limits) if results_path.is_file() else None
        if results is not None and not is_lmeval_results(results):
            results = None
        notes = () if results is not None else (f"no {results_path.name} beside the samples",)
        run = _read_task(match["task"], path, results, limits, notes)
        return [run] if run is not None else []
    raise IngestError(
        f"{path} is not an lm-eval log (expected an output folder, results_<time>.json "
        "or samples_<task>_<time>.jsonl)"
    )


def _read_folder(folder: Path, limits: IngestLimits) -> list[IngestedRun]:
    candidates: list[Path] = []
    seen = 0
    for directory in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        for child in sorted(directory.iterdir()):
            seen += 1
            if seen > limits.max_files:
                raise IngestError(f"{folder} holds over {limits.max_files} files; point at one run")
            if child.is_file() and (_RESULTS.match(child.name) or _SAMPLES.match(child.name)):
                candidates.append(child)
    runs: list[IngestedRun] = []
    covered: set[Path] = set()
    for results_path in (p for p in candidates if _RESULTS.match(p.name)):
        runs.extend(_read_results(results_path, limits))
        covered.update(_samples_of(results_path))
    for samples_path in (p for p in candidates if _SAMPLES.match(p.name)):
        if samples_path not in covered:
            runs.extend(read_lmeval(samples_path, limits))
    if not runs:
        raise IngestError(f"no lm-eval results_*.json or samples_*.jsonl under {folder}")
    return runs


def _samples_of(results_path: Path) -> set[Path]:
    match = _RESULTS.match(results_path.name)
    assert match is not None
    return {
        p
        for p in results_path.parent.iterdir()
        if (m := _SAMPLES.match(p.name)) is not None and m["ts"] == match["ts"]
    }


def _read_results(results_path: Path, limits: IngestLimits) -> list[IngestedRun]:
    results = read_json_file(results_path, limits)
    if not is_lmeval_results(results):
        raise IngestError(f"{results_path} is not an lm-eval results file (no 'results' table)")
    by_task = {}
    for samples_path in _samples_of(results_path):
        match = _SAMPLES.match(samples_path.name)
        assert match is not None
        by_task[match["task"]] = samples_path
    runs: list[IngestedRun] = []
    for task, samples_path in sorted(by_task.items()):
        run = _read_task(task, samples_path, results, limits, ())
        if run is not None:
            runs.append(run)
    if not runs:
        raise IngestError(
            f"{results_path} has no samples_<task>_<time>.jsonl beside it (was lm-eval run "
            "with --log_samples?)"
        )
    return runs


# ----------------------------------------------------------------- one task


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _model_args(config: dict[str, Any]) -> dict[str, str]:
    raw = config.get("model_args")
    if isinstance(raw, dict):
        return {str(k): clip_text(v) for k, v in list(raw.items())[:64]}
    if isinstance(raw, str):
        pairs = (part.split("=", 1) for part in raw.split(",") if "=" in part)
        return {k.strip(): v.strip() for k, v in pairs}
    return {}


def _fingerprint(results: dict[str, Any] | None, task: str) -> ModelFingerprint:
    results = results or {}
    config = _dict(results.get("config"))
    args = _model_args(config)
    backend = str(config.get("model") or "unknown")
    gguf = args.get("gguf_file")
    model_id = (
        gguf
        or args.get("pretrained")
        or args.get("model")
        or str(results.get("model_name") or "")
        or f"unknown model ({task})"
    )
    dtype = str(config.get("model_dtype") or args.get("dtype") or "") or None
    if dtype is not None:
        dtype = dtype.removeprefix("torch.")
    quantization = None
    if gguf and (match := _QUANT.search(gguf)):
        quantization = f"{match[1].upper()} (GGUF)"
    details = {
        "lm_eval_model": backend,
        "model_args": clip_text(json.dumps(args, sort_keys=True), 1000),
    }
    for key in ("lm_eval_version", "transformers_version", "model_name"):
        if isinstance(results.get(key), str):
            details[key] = clip_text(results[key])
    for key in ("model_sha", "model_revision", "model_num_parameters"):
        if config.get(key) not in (None, ""):
            details[key] = clip_text(str(config[key]))
    digest = stable_hash(
        {
            "model": backend,
            "model_args": args,
            "model_sha": config.get("model_sha"),
            "model_revision": config.get("model_revision"),
        }
    )
    return ModelFingerprint(
        id=clip_text(model_id),
        backend="lm-eval-log",
        digest=digest,
        dtype=dtype,
        quantization=quantization,
        details=details,
    )


def _filters(task_config: dict[str, Any]) -> list[str]:
    names = [
        entry["name"]
        for entry in task_config.get("filter_list") or []
        if isinstance(entry, dict) and isinstance(entry.get("name"), str)
    ]
    return names or ["none"]


def _metric_name(metric: str, filter_name: str, primary: str) -> str:
    if filter_name == primary:
        return metric
    if "flex" in filter_name.lower():
        return f"{metric}_flexible"
    return f"{metric}_{re.sub(r'[^A-Za-z0-9]+', '_', filter_name).strip('_')}"


def _arguments(line: dict[str, Any]) -> list[tuple[Any, Any]]:
    arguments = line.get("arguments")
    pairs: list[tuple[int, tuple[Any, Any]]] = []
    if isinstance(arguments, dict):
        for key, value in arguments.items():
            number = key.rsplit("_", 1)[-1]
            if isinstance(value, dict) and number.isdigit():
                pairs.append((int(number), (value.get("arg_0"), value.get("arg_1"))))
    elif isinstance(arguments, list):  # older lm-eval: a list of argument tuples
        pairs = [
            (i, (a[0], a[1] if len(a) > 1 else None))
            for i, a in enumerate(arguments)
            if isinstance(a, list) and a
        ]
    return [pair for _, pair in sorted(pairs, key=lambda p: p[0])]


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


def _loglikelihoods(resps: Any) -> tuple[list[float], list[bool]] | None:
    """[[lp, greedy], …] (filtered) or [[[lp, greedy]], …] (raw) → values and greedy flags."""
    if not isinstance(resps, list):
        return None
    values: list[float] = []
    greedy: list[bool] = []
    for entry in resps:
        pair = entry
        while isinstance(pair, list) and pair and isinstance(pair[0], list):
            pair = pair[0]
        if not isinstance(pair, list) or not pair:
            return None
        value = as_float(pair[0])
        if value is None:
            return None
        values.append(value)
        greedy.append(_bool(pair[1]) if len(pair) > 1 else False)
    return values, greedy


def _first_text(value: Any) -> str | None:
    while isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def _gold(target: Any, choices: list[str]) -> int | None:
    if isinstance(target, int) and not isinstance(target, bool):
        return target if 0 <= target < len(choices) else None
    if isinstance(target, str):
        text = target.strip()
        if text.isdigit() and int(text) < len(choices):
            return int(text)
        if text in choices:
            return choices.index(text)
    return None


def _group(lines: Iterable[tuple[int, Any]], path: Path, limits: IngestLimits) -> list[list[Any]]:
    """The lines of each document, documents in order of first appearance."""
    groups: dict[str, list[Any]] = {}
    for number, line in lines:
        if not isinstance(line, dict) or "doc_id" not in line:
            raise IngestError(f"{path}:{number}: not an lm-eval sample line (no doc_id)")
        key = json.dumps(line["doc_id"])
        if key not in groups and len(groups) >= limits.max_items:
            raise IngestError(f"{path}: over {limits.max_items} documents")
        groups.setdefault(key, []).append(line)
    return list(groups.values())


def _read_task(
    task: str,
    samples_path: Path,
    results: dict[str, Any] | None,
    limits: IngestLimits,
    notes: tuple[str, ...],
) -> IngestedRun | None:
    configs = _dict((results or {}).get("configs"))
    task_config = _dict(configs.get(task))
    groups = _group(iter_jsonl(samples_path, limits), samples_path, limits)
    declared = task_config.get("output_type")
    if declared is None and groups:
        first_args = _arguments(groups[0][0])
        declared = (
            "generate_until"
            if first_args and isinstance(first_args[0][1], dict)
            else ("multiple_choice")
        )
    if declared not in ("multiple_choice", "generate_until"):
        raise IngestError(
            f"{samples_path}: lm-eval task {task!r} is a {declared!r} task; only multiple_choice "
            "and generate_until tasks can be read into records"
        )
    output_type: OutputType = declared
    filters = _filters(task_config)
    primary = filters[0]
    delimiter = task_config.get("target_delimiter", " ")
    if not isinstance(delimiter, str):
        delimiter = " "
    fingerprint = _fingerprint(results, task)
    run_id = (
        "lm-eval-"
        + stable_hash(
            {
                "task": task,
                "date": (results or {}).get("date"),
                "task_hash": _dict((results or {}).get("task_hashes")).get(task),
                "model": fingerprint.digest,
                "file": samples_path.name,
            }
        )[:20]
    )
    items: list[ItemRecord] = []
    extra_notes: list[str] = []
    for lines in groups:
        item = _item(lines, task, run_id, output_type, primary, delimiter)
        if isinstance(item, str):
            extra_notes.append(item)
            continue
        items.append(item)
    if len(extra_notes) > 5:
        extra_notes = [*extra_notes[:5], f"… and {len(extra_notes) - 5} more items skipped"]

    metrics = _metrics(results, task, primary, items)
    metric_names = [m.metric for m in metrics]
    primary_metric = (
        "acc"
        if output_type == "multiple_choice" and "acc" in metric_names
        else (metric_names[0] if metric_names else "acc")
    )
    run = RunRecord(
        run_id=run_id,
        task=task,
        task_version=_task_version(results, task, task_config),
        output_type=output_type,
        model=fingerprint,
        settings=_settings(results, task, task_config, filters),
        source="lm-eval",
        source_path=str(samples_path),
        created_at=_created(results, samples_path),
        n_items=len(items),
        n_errors=0,
        metrics=tuple(metrics),
        primary_metric=primary_metric,
    )
    return IngestedRun(run=run, items=tuple(items), notes=(*notes, *extra_notes))


def _item(
    lines: list[Any],
    task: str,
    run_id: str,
    output_type: OutputType,
    primary: str,
    delimiter: str,
) -> ItemRecord | str:
    by_filter = {str(line.get("filter", "none")): line for line in lines}
    main = by_filter.get(primary) or lines[0]
    doc = main.get("doc")
    doc_id = main.get("doc_id")
    arguments = _arguments(main)
    if not arguments or not isinstance(arguments[0][0], str):
        return f"document {doc_id!r}: no prompt in 'arguments'"
    prompt = arguments[0][0]
    scores: dict[str, float] = {}
    for filter_name, line in by_filter.items():
        names = line.get("metrics")
        if not isinstance(names, list):
            continue
        for metric in names:
            if isinstance(metric, str) and (value := as_float(line.get(metric))) is not None:
                scores[_metric_name(metric, filter_name, primary)] = value
    target_raw = main.get("target")
    fields: dict[str, Any] = {}
    if output_type == "multiple_choice":
        continuations = [c if isinstance(c, str) else "" for _, c in arguments]
        choices = [
            c[len(delimiter) :] if delimiter and c.startswith(delimiter) else c
            for c in continuations
        ]
        parsed = _loglikelihoods(main.get("filtered_resps")) or _loglikelihoods(main.get("resps"))
        if parsed is None or len(parsed[0]) != len(choices):
            return f"document {doc_id!r}: log-likelihoods do not match the choices"
        gold = _gold(target_raw, choices)
        fields.update(
            choices=tuple(choices),
            gold=gold,
            choice_logprobs=tuple(parsed[0]),
            choice_greedy=tuple(parsed[1]),
            choice_lengths=tuple(len(c) for c in choices),  # what acc_norm divides by
        )
        target = choices[gold] if gold is not None else clip_text(target_raw, 10_000)
    else:
        response = _first_text(main.get("resps"))
        extracted = _first_text(main.get("filtered_resps"))
        failed = extracted is None or extracted.strip() == INVALID
        fields.update(
            response=response,
            extracted=None if failed else extracted,
            extraction_failed=failed,
        )
        target = target_raw if isinstance(target_raw, str) else clip_text(target_raw, 10_000)
    return ItemRecord(
        run_id=run_id,
        task=task,
        item_id=str(doc_id),
        item_hash=stable_hash(doc),
        prompt_hash=sha256_text(prompt),
        prompt=prompt,
        target=target,
        scores=scores,
        slices=scalar_slices(doc, SLICE_KEYS) if isinstance(doc, dict) else {},
        **fields,
    )


def _metrics(
    results: dict[str, Any] | None, task: str, primary: str, items: list[ItemRecord]
) -> list[Any]:
    table = _dict(_dict((results or {}).get("results")).get(task))
    names: list[str] = []
    for item in items:
        for name in item.scores:
            if name not in names:
                names.append(name)
    reported: dict[str, tuple[float | None, float | None]] = {}
    for key, value in table.items():
        if "," not in key or "_stderr," in key:
            continue
        metric, filter_name = key.split(",", 1)
        name = _metric_name(metric, filter_name, primary)
        stderr = as_float(table.get(f"{metric}_stderr,{filter_name}"))
        reported[name] = (as_float(value), stderr)
        if name not in names:
            names.append(name)
    summaries = []
    for name in names:
        values = [item.scores[name] for item in items if name in item.scores]
        value, stderr = reported.get(name, (None, None))
        if not values and value is None:
            continue
        summaries.append(summary(name, values, value, stderr))
    return summaries


def _task_version(results: dict[str, Any] | None, task: str, task_config: dict[str, Any]) -> str:
    results = results or {}
    version = _dict(results.get("versions")).get(task)
    digest = stable_hash(
        {
            "version": version,
            "config": task_config,
            "task_hash": _dict(results.get("task_hashes")).get(task),
        }
    )
    return f"lm-eval:{version}:{digest[:16]}"


def _settings(
    results: dict[str, Any] | None,
    task: str,
    task_config: dict[str, Any],
    filters: list[str],
) -> RunSettings:
    results = results or {}
    config = _dict(results.get("config"))
    shots = _dict(results.get("n-shot")).get(task, task_config.get("num_fewshot"))
    generation = _dict(task_config.get("generation_kwargs"))
    limit = config.get("limit")
    seed = config.get("random_seed")
    max_tokens = generation.get("max_gen_toks")
    temperature = as_float(generation.get("temperature"))
    extra: dict[str, str] = {"filters": ",".join(filters)}
    for key in ("lm_eval_version", "system_instruction_sha", "chat_template_sha"):
        if isinstance(results.get(key), str):
            extra[key] = clip_text(results[key])
    if results.get("fewshot_as_multiturn") is not None:
        extra["fewshot_as_multiturn"] = str(results["fewshot_as_multiturn"])
    for key in ("target_delimiter", "fewshot_delimiter", "fewshot_split", "test_split"):
        if isinstance(task_config.get(key), str):
            extra[key] = clip_text(task_config[key])
    if config.get("batch_size") is not None:
        extra["batch_size"] = clip_text(str(config["batch_size"]))
    if isinstance(limit, float) and not limit.is_integer():
        extra["limit_fraction"] = str(limit)
    if isinstance(generation.get("until"), list):
        extra["until"] = clip_text(json.dumps(generation["until"], ensure_ascii=False))
    template = task_config.get("doc_to_text")
    return RunSettings(
        num_fewshot=shots if isinstance(shots, int) and not isinstance(shots, bool) else 0,
        limit=int(limit) if isinstance(limit, int | float) and float(limit).is_integer() else None,
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else 1234,
        chat_template=bool(results.get("chat_template")),
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        temperature=temperature if temperature is not None else 0.0,
        prompt_template=template if isinstance(template, str) else "",
        extra=extra,
    )


def _created(results: dict[str, Any] | None, samples_path: Path) -> str:
    date = as_float((results or {}).get("date"))
    if date is not None and 0 < date < 1e11:
        return datetime.fromtimestamp(date, tz=UTC).isoformat(timespec="seconds")
    match = _SAMPLES.match(samples_path.name)
    return match["ts"] if match else ""
