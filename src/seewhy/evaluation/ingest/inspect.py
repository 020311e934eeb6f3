"""Read inspect-ai evaluation logs (``.eval`` and ``.json``) into seewhy's records.

A ``.json`` log is one document: ``eval`` (task, model, dataset, config),
``plan``, ``results`` (scorers and their metrics), ``stats`` and
``samples``. A ``.eval`` log is a zip of the same data: ``header.json``
(everything but the samples), ``samples/<id>_epoch_<n>.json`` (one sample
each), ``summaries.json``, ``reductions.json`` and a ``_journal/``. Its
members are compressed with Zstandard (zip method 93), which Python's
``zipfile`` cannot read before 3.14; this reader inflates them with the
``zstandard`` package when it is installed and says so when it is not.

Each sample becomes one item: ``id`` (with ``@<epoch>`` when the task ran
several epochs, the sample id and epoch kept as slices so errors can be
clustered by sample), the prompt as sent (the messages before the model's
answer), ``target``, ``choices``, ``output.completion`` as the response,
each scorer's value as a score (``C``/``I``/``P``/``N`` as 1/0/0.5/0,
booleans and numbers in [0, 1] as they are; other numbers are left out and
named in a note), the first scorer's ``answer`` as the extracted answer (an
empty answer is an extraction failure) and the sample's scalar
``metadata`` as slices.

A log is untrusted input: JSON only, never unpickled or imported; the file,
the number of members and each member's size are bounded, and compressed
members are inflated no further than their declared size.
"""

from __future__ import annotations

import importlib
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

from seewhy.evaluation.ingest._common import (
    DEFAULT_LIMITS,
    IngestedRun,
    IngestError,
    IngestLimits,
    as_float,
    clip_text,
    decode_json,
    read_json_file,
    scalar_slices,
    sha256_text,
    summary,
)
from seewhy.evaluation.model import (
    ItemRecord,
    MetricSummary,
    ModelFingerprint,
    OutputType,
    RunRecord,
    RunSettings,
    stable_hash,
)

__all__ = ["is_inspect_log", "read_inspect", "read_inspect_eval", "read_inspect_json"]

ZSTD_METHOD = 93
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_SAMPLE_MEMBER = re.compile(r"^samples/[^/]+\.json$")
_LETTERS = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0}


def is_inspect_log(value: Any) -> bool:
    """Whether a decoded JSON document looks like an inspect-ai log."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("eval"), dict)
        and "task" in value["eval"]
        and ("samples" in value or "results" in value or "status" in value)
    )


def read_inspect(path: Path, limits: IngestLimits = DEFAULT_LIMITS) -> IngestedRun:
    """An inspect log: ``.eval`` (zip) or ``.json``."""
    if path.suffix == ".eval":
        return read_inspect_eval(path, limits)
    return read_inspect_json(path, limits)


def read_inspect_json(path: Path, limits: IngestLimits = DEFAULT_LIMITS) -> IngestedRun:
    log = read_json_file(path, limits)
    if not is_inspect_log(log):
        raise IngestError(f"{path} is not an inspect-ai log (no 'eval' with a task)")
    samples = log.get("samples")
    if samples is None:
        samples = []
    if not isinstance(samples, list):
        raise IngestError(f"{path}: 'samples' is not a list")
    if len(samples) > limits.max_items:
        raise IngestError(f"{path}: over {limits.max_items} samples")
    return _build(log, samples, path)


# ------------------------------------------------------------------ the zip


def _zstandard() -> Any:
    try:
        # Optional, and typed as Any so this module checks with or without it.
        zstandard: Any = importlib.import_module("zstandard")
    except ImportError as exc:
        raise IngestError(
            "this .eval log is compressed with Zstandard (zip method 93), which Python's "
            "zipfile cannot read before 3.14: install the 'zstandard' package "
            "(pip install zstandard), or convert the log with "
            "'inspect log convert --to json'"
        ) from exc
    return zstandard


def _read_member(
    archive: zipfile.ZipFile, raw: IO[bytes], info: zipfile.ZipInfo, limits: IngestLimits
) -> bytes:
    if info.file_size > limits.max_member_bytes:
        raise IngestError(
            f"member {info.filename} is {info.file_size} bytes, over the "
            f"{limits.max_member_bytes}-byte limit"
        )
    if info.compress_type != ZSTD_METHOD:
        try:
            with archive.open(info) as member:
                data = member.read(info.file_size + 1)
        except (zipfile.BadZipFile, NotImplementedError, OSError, zlib.error) as exc:
            raise IngestError(f"member {info.filename} cannot be read: {exc}") from exc
        if len(data) != info.file_size:
            raise IngestError(f"member {info.filename} is not its declared size")
        return data
    zstandard = _zstandard()
    raw.seek(info.header_offset)
    header = raw.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size:
        raise IngestError(f"member {info.filename}: the local header is cut")
    fields = _LOCAL_HEADER.unpack(header)
    if fields[0] != _LOCAL_SIGNATURE:
        raise IngestError(f"member {info.filename}: no local header where the directory says")
    raw.seek(info.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10])
    compressed = raw.read(info.compress_size)
    if len(compressed) != info.compress_size:
        raise IngestError(f"member {info.filename}: the compressed data is cut")
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(compressed)
        data = reader.read(info.file_size + 1)
    except zstandard.ZstdError as exc:
        raise IngestError(f"member {info.filename}: Zstandard data is corrupt ({exc})") from exc
    if len(data) != info.file_size:
        raise IngestError(f"member {info.filename} inflates to other than its declared size")
    if zlib.crc32(data) != info.CRC:
        raise IngestError(f"member {info.filename}: CRC-32 mismatch")
    return bytes(data)


def read_inspect_eval(path: Path, limits: IngestLimits = DEFAULT_LIMITS) -> IngestedRun:
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with raw:
        try:
            archive = zipfile.ZipFile(raw)
        except (zipfile.BadZipFile, OSError) as exc:
            raise IngestError(f"{path} is not a zip (an inspect .eval log is one): {exc}") from exc
        with archive:
            infos = archive.infolist()
            if len(infos) > limits.max_members:
                raise IngestError(f"{path} has {len(infos)} members, over {limits.max_members}")
            total = sum(info.file_size for info in infos)
            if total > limits.max_eval_bytes:
                raise IngestError(
                    f"{path} inflates to {total} bytes, over the {limits.max_eval_bytes}-byte limit"
                )
            by_name = {info.filename: info for info in infos}

            def load(name: str) -> Any:
                data = _read_member(archive, raw, by_name[name], limits)
                return decode_json(data, f"{path}!{name}", limits)

            if "header.json" in by_name:
                log = load("header.json")
            elif "_journal/start.json" in by_name:  # a log still being written
                log = load("_journal/start.json")
            else:
                raise IngestError(f"{path} has no header.json: not an inspect .eval log")
            if not is_inspect_log(log):
                raise IngestError(f"{path}!header.json is not an inspect log header")
            names = [n for n in by_name if _SAMPLE_MEMBER.match(n)]
            if len(names) > limits.max_items:
                raise IngestError(f"{path}: over {limits.max_items} samples")
            samples = [load(name) for name in names]
    samples.sort(key=_sample_order)
    return _build(log, samples, path)


def _sample_order(sample: Any) -> tuple[int, str, str]:
    if not isinstance(sample, dict):
        return (0, "", "")
    epoch = sample.get("epoch")
    sid = sample.get("id")
    return (
        epoch if isinstance(epoch, int) else 0,
        type(sid).__name__,
        f"{sid:020d}" if isinstance(sid, int) else str(sid),
    )


# ---------------------------------------------------------------- to records


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return ""


def _resolve(text: str, attachments: dict[str, Any]) -> str:
    if text.startswith("attachment://"):
        value = attachments.get(text.removeprefix("attachment://"))
        if isinstance(value, str):
            return value
    return text


def _prompt(sample: dict[str, Any]) -> str:
    """The messages the model answered (before its first reply), or the sample's input."""
    attachments = _dict(sample.get("attachments"))
    messages = sample.get("messages")
    if isinstance(messages, list):
        sent: list[tuple[str, str]] = []
        for message in messages:
            if not isinstance(message, dict):
                continue
            if message.get("role") == "assistant":
                break
            text = _resolve(_content_text(message.get("content")), attachments)
            sent.append((str(message.get("role", "user")), text))
        if len(sent) == 1 and sent[0][0] == "user":
            return sent[0][1]
        if sent:
            return "\n\n".join(f"{role}: {text}" for role, text in sent)
    value = sample.get("input")
    if isinstance(value, str):
        return _resolve(value, attachments)
    if isinstance(value, list):
        return "\n\n".join(
            f"{m.get('role', 'user')}: {_resolve(_content_text(m.get('content')), attachments)}"
            for m in value
            if isinstance(m, dict)
        )
    return ""


def _score_value(value: Any) -> float | None:
    if isinstance(value, str) and value.strip().upper() in _LETTERS:
        return _LETTERS[value.strip().upper()]
    if isinstance(value, str) and value.strip().lower() in ("yes", "no", "true", "false"):
        return 1.0 if value.strip().lower() in ("yes", "true") else 0.0
    return as_float(value)


def _all_scores(sample: dict[str, Any]) -> dict[str, float]:
    """Every score of a sample that reads as a number."""
    scores: dict[str, float] = {}
    for name, score in list(_dict(sample.get("scores")).items())[:64]:
        value = _dict(score).get("value")
        entries = (
            [(f"{name}.{key}", v) for key, v in list(value.items())[:64]]
            if isinstance(value, dict)
            else [(str(name), value)]
        )
        for key, raw in entries:
            number = _score_value(raw)
            if number is not None:
                scores[key] = number
    return scores


def _unbounded(samples: list[Any]) -> set[str]:
    """Scores that leave [0, 1] on some sample: not kept as item scores at all."""
    names: set[str] = set()
    for sample in samples:
        if isinstance(sample, dict):
            names.update(k for k, v in _all_scores(sample).items() if not 0.0 <= v <= 1.0)
    return names


def _gold(target: str, choices: list[str]) -> int | None:
    letter = target.strip()
    if len(letter) == 1 and "A" <= letter.upper() <= "Z":
        index = ord(letter.upper()) - ord("A")
        if index < len(choices):
            return index
    if letter in choices:
        return choices.index(letter)
    return None


def _usage(sample: dict[str, Any]) -> tuple[int, int]:
    inputs = outputs = 0
    for usage in list(_dict(sample.get("model_usage")).values())[:16]:
        usage = _dict(usage)
        i, o = usage.get("input_tokens"), usage.get("output_tokens")
        inputs += i if isinstance(i, int) else 0
        outputs += o if isinstance(o, int) else 0
    return inputs, outputs


def _item(
    sample: Any, run_id: str, task: str, epochs: int, dropped: set[str], first_scorer: str | None
) -> ItemRecord | str:
    if not isinstance(sample, dict):
        return "a sample that is not an object was skipped"
    sid = sample.get("id")
    epoch = sample.get("epoch") if isinstance(sample.get("epoch"), int) else 1
    if not isinstance(sid, str | int) or isinstance(sid, bool):
        return "a sample without an id was skipped"
    item_id = f"{sid}@{epoch}" if epochs > 1 else str(sid)
    prompt = _prompt(sample)
    raw_target = sample.get("target")
    target = (
        raw_target
        if isinstance(raw_target, str)
        else " | ".join(t for t in raw_target if isinstance(t, str))
        if isinstance(raw_target, list)
        else ""
    )
    choices_raw = sample.get("choices")
    choices = (
        [c for c in choices_raw if isinstance(c, str)] if isinstance(choices_raw, list) else []
    )
    output = _dict(sample.get("output"))
    completion = output.get("completion")
    score_map = _dict(sample.get("scores"))
    first = _dict(score_map.get(first_scorer)) if first_scorer else {}
    if not first and score_map:
        first = _dict(next(iter(score_map.values())))
    answer = first.get("answer")
    error = _dict(sample.get("error")).get("message")
    slices = scalar_slices(_dict(sample.get("metadata")))
    if epochs > 1:
        slices.setdefault("sample_id", str(sid))
        slices.setdefault("epoch", str(epoch))
    inputs, outputs = _usage(sample)
    latency = as_float(sample.get("total_time"))
    gold = _gold(target, choices) if choices else None
    return ItemRecord(
        run_id=run_id,
        task=task,
        item_id=item_id,
        item_hash=stable_hash({"input": sample.get("input"), "target": raw_target, "id": sid}),
        prompt_hash=sha256_text(prompt),
        prompt=prompt,
        target=choices[gold] if gold is not None else target,
        choices=tuple(choices),
        gold=gold,
        response=completion if isinstance(completion, str) else None,
        extracted=answer if isinstance(answer, str) and answer != "" else None,
        extraction_failed=answer == "",
        scores={k: v for k, v in _all_scores(sample).items() if k not in dropped},
        slices=slices,
        latency_s=latency if latency is not None and latency >= 0 else 0.0,
        input_tokens=inputs,
        output_tokens=outputs,
        error=clip_text(error, 500) if isinstance(error, str) else None,
    )


def _build(log: dict[str, Any], samples: list[Any], path: Path) -> IngestedRun:
    eval_spec = _dict(log.get("eval"))
    task = str(eval_spec.get("task") or "unknown")
    results = _dict(log.get("results"))
    scorer_entries = [s for s in results.get("scores") or [] if isinstance(s, dict)]
    first_scorer = str(scorer_entries[0].get("name")) if scorer_entries else None
    config = _dict(eval_spec.get("config"))
    epochs_value = config.get("epochs")
    epochs = epochs_value if isinstance(epochs_value, int) else 1
    if any(isinstance(s, dict) and s.get("epoch", 1) != 1 for s in samples):
        epochs = max(epochs, 2)
    run_id = "inspect-" + (
        str(eval_spec["eval_id"])
        if isinstance(eval_spec.get("eval_id"), str)
        else stable_hash({"task": task, "created": eval_spec.get("created"), "file": path.name})[
            :20
        ]
    )
    dropped = _unbounded(samples)
    items: list[ItemRecord] = []
    notes: list[str] = []
    for sample in samples:
        item = _item(sample, run_id, task, epochs, dropped, first_scorer)
        if isinstance(item, str):
            if len(notes) < 5:
                notes.append(item)
            continue
        items.append(item)
    if dropped:
        notes.append(
            "scores outside [0, 1] are not kept as item scores: " + ", ".join(sorted(dropped))
        )
    if log.get("status") not in (None, "success"):
        notes.append(f"the log's status is {log.get('status')!r}: the run did not finish cleanly")

    metrics = _metrics(scorer_entries, items)
    output_type: OutputType = (
        "multiple_choice" if items and all(item.choices for item in items) else "generate_until"
    )
    run = RunRecord(
        run_id=run_id,
        task=task,
        task_version=_task_version(eval_spec),
        output_type=output_type,
        model=_fingerprint(eval_spec),
        settings=_settings(eval_spec, log, epochs),
        source="inspect",
        source_path=str(path),
        created_at=str(eval_spec.get("created") or ""),
        n_items=len(items),
        n_errors=sum(1 for item in items if item.error),
        metrics=tuple(metrics),
        primary_metric=first_scorer or (metrics[0].metric if metrics else "acc"),
    )
    return IngestedRun(run=run, items=tuple(items), notes=tuple(notes))


def _metrics(scorer_entries: list[dict[str, Any]], items: list[ItemRecord]) -> list[MetricSummary]:
    """Each item score, with the log's accuracy/mean and stderr where the scorer reported them."""
    names: list[str] = []
    for item in items:
        for name in item.scores:
            if name not in names:
                names.append(name)
    reported: dict[str, tuple[float | None, float | None]] = {}
    for entry in scorer_entries:
        metrics = _dict(entry.get("metrics"))
        value = None
        for key in ("accuracy", "mean"):
            if key in metrics:
                value = as_float(_dict(metrics[key]).get("value"))
                break
        stderr = (
            as_float(_dict(metrics.get("stderr")).get("value")) if "stderr" in metrics else None
        )
        reported[str(entry.get("name"))] = (value, stderr)
    summaries = []
    for name in names:
        values = [item.scores[name] for item in items if name in item.scores and not item.error]
        value, stderr = reported.get(name, (None, None))
        summaries.append(summary(name, values, value, stderr))
    return summaries


def _fingerprint(eval_spec: dict[str, Any]) -> ModelFingerprint:
    model = str(eval_spec.get("model") or "unknown")
    base_url = eval_spec.get("model_base_url")
    args = eval_spec.get("model_args")
    details = {"inspect_model": clip_text(model)}
    if isinstance(base_url, str):
        details["model_base_url"] = clip_text(base_url)
    packages = _dict(eval_spec.get("packages"))
    if isinstance(packages.get("inspect_ai"), str):
        details["inspect_ai_version"] = clip_text(packages["inspect_ai"])
    return ModelFingerprint(
        id=clip_text(model),
        backend="inspect-log",
        digest=stable_hash({"model": model, "base_url": base_url, "model_args": args}),
        details=details,
    )


def _task_version(eval_spec: dict[str, Any]) -> str:
    dataset = _dict(eval_spec.get("dataset"))
    version = eval_spec.get("task_version")
    digest = stable_hash(
        {
            "task": eval_spec.get("task"),
            "version": version,
            "args": eval_spec.get("task_args"),
            "dataset": {k: dataset.get(k) for k in ("name", "location", "samples", "sample_ids")},
            "revision": eval_spec.get("revision"),
        }
    )
    return f"inspect:{version}:{digest[:16]}"


def _settings(eval_spec: dict[str, Any], log: dict[str, Any], epochs: int) -> RunSettings:
    generate = _dict(eval_spec.get("model_generate_config"))
    config = _dict(eval_spec.get("config"))
    temperature = as_float(generate.get("temperature"))
    max_tokens = generate.get("max_tokens")
    limit = config.get("limit")
    seed = generate.get("seed")
    extra = {"epochs": str(epochs)}
    if temperature is None:
        extra["temperature"] = "not set in the log (the provider's default applied)"
    plan = _dict(log.get("plan"))
    steps = [
        str(_dict(step).get("solver"))
        for step in (plan.get("steps") or [])[:32]
        if isinstance(step, dict)
    ]
    if steps:
        extra["solvers"] = clip_text(",".join(steps))
    return RunSettings(
        limit=limit if isinstance(limit, int) and not isinstance(limit, bool) else None,
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else 1234,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        temperature=temperature if temperature is not None else 0.0,
        extra=extra,
    )
