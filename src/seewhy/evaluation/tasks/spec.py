"""Task files: the common subset of lm-evaluation-harness task YAML, validated.

A task file is read with a safe YAML loader (plain data; an lm-eval
``!function`` tag becomes a marker that is refused with its line) and
checked with pydantic. Every error names the file and the line of the key at
fault: the YAML node tree keeps each key's line, and a validation error's
location is looked up in it.

Supported keys (lm-eval's meaning): ``task``, ``include`` (a base YAML in the
same folder), ``dataset_path: json|csv``, ``dataset_kwargs.data_files``,
``test_split``, ``validation_split``, ``training_split``, ``fewshot_split``,
``fewshot_config`` (``sampler: default|first_n``, ``split``), ``doc_to_text``,
``doc_to_target``, ``doc_to_choice``, ``description``, ``output_type:
multiple_choice|generate_until``, ``generation_kwargs`` (``until``,
``max_gen_toks``, ``do_sample: false``, ``temperature: 0``), ``metric_list``
(``acc``, ``acc_norm``, ``acc_bytes``, ``exact_match`` with ``ignore_case``,
``ignore_punctuation``, ``ignore_numbers``, ``regexes_to_ignore``),
``filter_list`` (``regex``, ``take_first``, ``lowercase``, ``uppercase``,
``remove_whitespace``), ``num_fewshot``, ``target_delimiter``,
``fewshot_delimiter``, ``repeats: 1``, ``metadata``. Accepted and ignored:
``tag``, ``group``, ``task_alias``, ``group_alias``, ``dataset_name``,
``should_decontaminate``, ``doc_to_decontamination_query``.

seewhy's own keys: ``data_files`` (shorthand for ``dataset_kwargs.data_files``),
``slices`` (doc fields to report scores by; ``length`` is a derived prompt-length
bucket), ``chat`` (ask the backend to apply the model's chat template),
``version``, ``id_field`` (the doc field that names an item), ``subtasks_by``
(a field whose values also name subtasks ``<task>_<value>``, as MMLU's subjects)
and ``fewshot_config.match`` (few-shot examples share this field's value with
the doc).

Refused with a reason: ``process_docs``, ``process_results``, any ``!function``
(seewhy never runs code from a task file), ``use_prompt``, ``gen_prefix``,
multimodal keys, a Hugging Face hub ``dataset_path``, other output types.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import TemplateSyntaxError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from seewhy.evaluation.tasks.errors import TaskSpecError
from seewhy.evaluation.tasks.template import compile_template

MAX_SPEC_BYTES = 1 << 20
MAX_INCLUDE_DEPTH = 4

Loc = tuple[str | int, ...]

# ------------------------------------------------------------------ YAML reading


@dataclass(frozen=True)
class FunctionRef:
    """An lm-eval ``!function module.name`` value (refused: it names Python code)."""

    target: str
    line: int


class _Loader(yaml.SafeLoader):
    pass


def _function_tag(loader: yaml.SafeLoader, node: yaml.Node) -> FunctionRef:
    value = loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else "?"
    return FunctionRef(str(value), node.start_mark.line + 1)


_Loader.add_constructor("!function", _function_tag)


@dataclass
class SpecSource:
    """Where each key of a (merged) task file came from: loc -> (file, line)."""

    path: Path
    lines: dict[Loc, tuple[Path, int]] = field(default_factory=dict)

    def where(self, loc: Loc) -> tuple[Path, int | None]:
        """The file and line of the deepest known key along ``loc``."""
        for cut in range(len(loc), 0, -1):
            hit = self.lines.get(loc[:cut])
            if hit is not None:
                return hit
        return self.path, 1


def _walk(node: yaml.Node, path: Path, loc: Loc, lines: dict[Loc, tuple[Path, int]]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            line = key_node.start_mark.line + 1
            if key in seen:
                raise TaskSpecError(
                    path,
                    line,
                    f"key {'.'.join(map(str, (*loc, key)))!r} appears twice "
                    f"(first on line {seen[key]})",
                )
            seen[key] = line
            lines[(*loc, key)] = (path, line)
            _walk(value_node, path, (*loc, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*loc, index)] = (path, item.start_mark.line + 1)
            _walk(item, path, (*loc, index), lines)


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[Loc, tuple[Path, int]]]:
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise TaskSpecError(path, None, f"task file is {size} bytes (limit {MAX_SPEC_BYTES})")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TaskSpecError(
            path, None, f"cannot read the task file: {exc.strerror or exc}"
        ) from None
    except UnicodeDecodeError as exc:
        raise TaskSpecError(path, None, f"the task file is not UTF-8 (byte {exc.start})") from None
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise TaskSpecError(path, None, "the task file is empty")
        lines: dict[Loc, tuple[Path, int]] = {}
        _walk(node, path, (), lines)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise TaskSpecError(path, line, f"not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise TaskSpecError(path, None, f"not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise TaskSpecError(
            path, 1, f"a task file is a mapping of keys, not a {type(data).__name__}"
        )
    return data, lines


def read_spec_file(path: Path, _depth: int = 0) -> tuple[dict[str, Any], SpecSource]:
    """The task file's keys, with ``include`` merged (the file's own keys win)."""
    data, lines = _read_yaml(path)
    source = SpecSource(path=path)
    include = data.pop("include", None)
    if include is not None:
        include_line = lines[("include",)][1]
        if not isinstance(include, str):
            raise TaskSpecError(path, include_line, "include: expected a file name")
        if _depth >= MAX_INCLUDE_DEPTH:
            raise TaskSpecError(
                path, include_line, f"include: more than {MAX_INCLUDE_DEPTH} levels"
            )
        base_path = (path.parent / include).resolve()
        if not base_path.is_file():
            raise TaskSpecError(path, include_line, f"include: no such file {base_path}")
        base, base_source = read_spec_file(base_path, _depth + 1)
        source.lines.update(base_source.lines)
        for key in list(base_source.lines):
            if key and key[0] in data:
                del source.lines[key]
        data = {**base, **data}
    source.lines.update({key: value for key, value in lines.items() if key[:1] != ("include",)})
    return data, source


# ----------------------------------------------------------------- the schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DataFiles = str | list[str] | dict[str, str | list[str]]


class DatasetKwargs(_Strict):
    data_files: DataFiles


class MetricSpec(_Strict):
    metric: Literal["acc", "acc_norm", "acc_bytes", "exact_match"]
    aggregation: Literal["mean"] = "mean"
    higher_is_better: bool = True
    ignore_case: bool = False
    ignore_punctuation: bool = False
    ignore_numbers: bool = False
    regexes_to_ignore: list[str] = Field(default_factory=list)


class FilterStepSpec(_Strict):
    function: Literal["regex", "take_first", "lowercase", "uppercase", "remove_whitespace"]
    regex_pattern: str = r"#### (\-?[0-9\.\,]+)"
    group_select: int = 0
    fallback: str = "[invalid]"


class FilterSpec(_Strict):
    name: str = Field(min_length=1)
    filter: list[FilterStepSpec] = Field(min_length=1)


class GenerationKwargs(_Strict):
    until: str | list[str] | None = None
    max_gen_toks: int = Field(default=256, ge=1, le=32768)
    do_sample: Literal[False] = False
    temperature: float = 0.0

    @field_validator("temperature")
    @classmethod
    def _greedy(cls, value: float) -> float:
        if value != 0:
            raise ValueError("seewhy decodes greedily: temperature must be 0")
        return value


class FewshotConfig(_Strict):
    sampler: Literal["default", "first_n"] = "default"
    split: str | None = None
    match: str | None = None  # seewhy: examples share this doc field's value


TaskName = str


class TaskSpec(_Strict):
    """A validated task file (see the module docstring for each key)."""

    task: TaskName = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.\-]+$")
    dataset_path: Literal["json", "csv"]
    dataset_kwargs: DatasetKwargs | None = None
    data_files: DataFiles | None = None
    test_split: str | None = None
    validation_split: str | None = None
    training_split: str | None = None
    fewshot_split: str | None = None
    fewshot_config: FewshotConfig | None = None
    output_type: Literal["multiple_choice", "generate_until"]
    doc_to_text: str
    doc_to_target: str | int | list[str | int]
    doc_to_choice: str | list[str] | dict[str, str] | None = None
    description: str = ""
    target_delimiter: str = " "
    fewshot_delimiter: str = "\n\n"
    num_fewshot: int = Field(default=0, ge=0, le=256)
    generation_kwargs: GenerationKwargs | None = None
    metric_list: list[MetricSpec] | None = Field(default=None, min_length=1)
    filter_list: list[FilterSpec] | None = Field(default=None, min_length=1)
    repeats: Literal[1] = 1
    metadata: dict[str, Any] | list[Any] | None = None
    # seewhy extras
    version: str | int | float | None = None
    slices: list[str] = Field(default_factory=list)
    chat: bool = False
    id_field: str | None = None
    subtasks_by: str | None = None
    # lm-eval keys accepted and ignored
    tag: str | list[str] | None = None
    group: str | list[str] | None = None
    task_alias: str | None = None
    group_alias: str | None = None
    dataset_name: str | None = None
    should_decontaminate: bool = False
    doc_to_decontamination_query: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        if self.dataset_kwargs is None and self.data_files is None:
            raise ValueError(
                "missing data files: set dataset_kwargs.data_files (or data_files) to the "
                "task's JSON Lines / JSON / CSV file(s)"
            )
        if self.dataset_kwargs is not None and self.data_files is not None:
            raise ValueError("set dataset_kwargs.data_files or data_files, not both")
        if self.test_split is None and self.validation_split is None:
            raise ValueError("set test_split (or validation_split): the split to evaluate")
        if self.output_type == "multiple_choice" and self.doc_to_choice is None:
            raise ValueError("a multiple_choice task needs doc_to_choice")
        if self.output_type == "multiple_choice" and self.generation_kwargs is not None:
            raise ValueError("generation_kwargs is for generate_until tasks")
        if self.output_type == "multiple_choice" and self.filter_list is not None:
            raise ValueError("filter_list is for generate_until tasks")
        allowed = (
            {"acc", "acc_norm", "acc_bytes", "exact_match"}
            if self.output_type == "multiple_choice"
            else {"exact_match"}
        )
        for metric in self.metric_list or ():
            if metric.metric not in allowed:
                raise ValueError(
                    f"metric {metric.metric!r} does not apply to {self.output_type} tasks "
                    f"(use {', '.join(sorted(allowed))})"
                )
        return self

    @property
    def files(self) -> DataFiles:
        if self.dataset_kwargs is not None:
            return self.dataset_kwargs.data_files
        assert self.data_files is not None
        return self.data_files

    @property
    def eval_split(self) -> str:
        split = self.test_split or self.validation_split
        assert split is not None
        return split

    @property
    def fewshot_source_split(self) -> str:
        """lm-eval's rule: fewshot split, else training, else validation, else test."""
        if self.fewshot_config is not None and self.fewshot_config.split:
            return self.fewshot_config.split
        return self.fewshot_split or self.training_split or self.validation_split or self.eval_split

    @property
    def until(self) -> tuple[str, ...]:
        kwargs = self.generation_kwargs
        if kwargs is None or kwargs.until is None:
            return (self.fewshot_delimiter,) if self.fewshot_delimiter else ()
        return (kwargs.until,) if isinstance(kwargs.until, str) else tuple(kwargs.until)

    @property
    def max_gen_toks(self) -> int:
        return self.generation_kwargs.max_gen_toks if self.generation_kwargs else 256


_KNOWN_KEYS = sorted(
    {
        *TaskSpec.model_fields,
        *DatasetKwargs.model_fields,
        *MetricSpec.model_fields,
        *FilterSpec.model_fields,
        *FilterStepSpec.model_fields,
        *GenerationKwargs.model_fields,
        *FewshotConfig.model_fields,
    }
)

# --------------------------------------------------------------- refusals

_REFUSED: dict[str, str] = {
    "process_docs": "process_docs runs Python code from the task's folder; seewhy never runs code "
    "from a task file. Write the processed docs to the data file instead",
    "process_results": "process_results runs Python code; seewhy scores with metric_list only",
    "use_prompt": "promptsource prompts are not supported; write doc_to_text as a Jinja template",
    "gen_prefix": "gen_prefix is not supported; put the prefix at the end of doc_to_text",
    "doc_to_image": "multimodal tasks are not supported",
    "doc_to_audio": "multimodal tasks are not supported",
    "custom_dataset": "custom_dataset runs Python code; point data_files at a file instead",
    "unsafe_code": "tasks that execute model-written code are not supported",
}

_OUTPUT_TYPES = ("multiple_choice", "generate_until")


def _find_function_refs(value: Any, loc: Loc) -> tuple[Loc, FunctionRef] | None:
    if isinstance(value, FunctionRef):
        return loc, value
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _find_function_refs(item, (*loc, str(key)))
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_function_refs(item, (*loc, index))
            if found:
                return found
    return None


def _refuse(data: dict[str, Any], source: SpecSource) -> None:
    for key, reason in _REFUSED.items():
        if key in data and not (key == "unsafe_code" and data[key] is False):
            path, line = source.where((key,))
            raise TaskSpecError(path, line, f"{key}: {reason}")
    found = _find_function_refs(data, ())
    if found:
        loc, ref = found
        path, line = source.where(loc)
        raise TaskSpecError(
            path,
            line,
            f"{'.'.join(map(str, loc))}: !function {ref.target} names Python code; seewhy never "
            "runs code from a task file. Use a Jinja template or a field name",
        )
    output_type = data.get("output_type")
    if isinstance(output_type, str) and output_type not in _OUTPUT_TYPES:
        path, line = source.where(("output_type",))
        raise TaskSpecError(
            path,
            line,
            f"output_type {output_type!r} is not supported (use multiple_choice or generate_until)",
        )
    dataset_path = data.get("dataset_path")
    if isinstance(dataset_path, str) and dataset_path not in ("json", "csv"):
        path, line = source.where(("dataset_path",))
        raise TaskSpecError(
            path,
            line,
            f"dataset_path {dataset_path!r}: seewhy reads local files only; set dataset_path: json "
            "(or csv) and dataset_kwargs.data_files to the file(s)",
        )


def _message(error: Mapping[str, Any], keys: Loc) -> str:
    name = ".".join(map(str, keys)) or "task file"
    kind = error.get("type", "")
    if kind == "missing":
        return f"missing required key {name!r}"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(keys[-1]), _KNOWN_KEYS, n=1) if keys else []
        hint = f"did you mean {close[0]!r}?" if close else "not part of the supported task format"
        return f"unknown key {name!r} ({hint})"
    msg = str(error.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ")
    return f"{name}: {msg}"


def _spec_error(exc: ValidationError, source: SpecSource) -> TaskSpecError:
    shown: list[tuple[Path, int | None, str]] = []
    seen: set[Loc] = set()
    for error in exc.errors():
        raw_loc: Loc = tuple(error.get("loc", ()))
        # Drop pydantic's union-branch tags ('str', 'list[str]', 'function-after[...]').
        keys: Loc = tuple(
            part
            for part in raw_loc
            if isinstance(part, int)
            or (
                "[" not in part
                and part not in ("str", "int", "float", "bool", "list", "dict", "none")
            )
        )
        if keys in seen:
            continue
        seen.add(keys)
        lookup = keys[:-1] if error.get("type") == "missing" else keys
        if not keys:  # a whole-file rule: point at the first key its message names
            msg = str(error.get("msg", ""))
            named = [
                (match.start(), k)
                for k in TaskSpec.model_fields
                if (k,) in source.lines and (match := re.search(rf"\b{k}\b", msg))
            ]
            lookup = (min(named)[1],) if named else ()
        path, line = source.where(lookup)
        shown.append((path, line, _message(error, keys)))
    # Unknown keys and wrong values first (a missing key is often a misspelt one).
    shown.sort(key=lambda item: (item[2].startswith("missing"), str(item[0]), item[1] or 0))
    path, line, first = shown[0]
    more = "; ".join(
        f"line {other_line}: {text}" if other_path == path else f"{other_path}:{other_line}: {text}"
        for other_path, other_line, text in shown[1:4]
    )
    return TaskSpecError(path, line, first + (f" (also {more})" if more else ""))


def _check_templates(spec: TaskSpec, source: SpecSource) -> None:
    candidates: list[tuple[Loc, str]] = [(("doc_to_text",), spec.doc_to_text)]
    if isinstance(spec.doc_to_target, str):
        candidates.append((("doc_to_target",), spec.doc_to_target))
    if isinstance(spec.doc_to_choice, str):
        candidates.append((("doc_to_choice",), spec.doc_to_choice))
    if spec.description:
        candidates.append((("description",), spec.description))
    for loc, text in candidates:
        try:
            compile_template(text)
        except TemplateSyntaxError as exc:
            path, line = source.where(loc)
            raise TaskSpecError(
                path,
                line,
                f"{loc[0]}: Jinja syntax error (template line {exc.lineno}): {exc.message}",
            ) from None


def parse_spec(data: dict[str, Any], source: SpecSource) -> TaskSpec:
    """Validate already-read keys (refusals first, then the schema, then template syntax)."""
    _refuse(data, source)
    try:
        spec = TaskSpec.model_validate(data)
    except ValidationError as exc:
        raise _spec_error(exc, source) from None
    _check_templates(spec, source)
    return spec


def load_spec(path: Path) -> tuple[TaskSpec, SpecSource]:
    """Read, merge and validate one task file."""
    data, source = read_spec_file(path)
    return parse_spec(data, source), source
