"""A loaded task: docs → prompts and requests → scored item records.

Prompts and requests are built as lm-evaluation-harness builds them
(``ConfigurableTask.fewshot_context`` / ``construct_requests``, plain-text
mode)::

    prompt = description
           + Σ over few-shot docs: doc_to_text + target_delimiter + target + fewshot_delimiter
           + doc_to_text(doc)

    multiple_choice: one LoglikelihoodRequest per choice,
                     context = prompt, continuation = target_delimiter + choice
    generate_until:  one GenerationRequest(context = prompt, until = generation_kwargs.until)

With ``chat: true`` the request also carries chat messages (the description as
the system turn, few-shot examples and the doc as one user turn, as lm-eval's
``multiturn_to_singleturn``) and, as in lm-eval, a multiple-choice
continuation then drops the target delimiter.

Scoring follows lm-eval's ``process_results``: ``acc`` = argmax of the choice
log-likelihoods is the gold index; ``acc_norm`` = argmax of log-likelihood ÷
``len(choice)`` — the choice string's length in *characters*, without the
target delimiter (``completion_len = [float(len(i)) for i in choices]``);
``acc_bytes`` divides by the UTF-8 byte length instead; multiple-choice
``exact_match`` is the gold continuation's ``is_greedy``. Ties go to the first
choice (``numpy.argmax``).

Few-shot examples are drawn per doc with a generator seeded by
``(seed, task, item_id)``, from the few-shot split, never the doc itself (by
item hash), so a doc's prompt does not depend on which other docs run.
``fewshot_config.sampler: first_n`` takes the first examples instead (lm-eval's
MMLU setting). ``--limit N`` keeps a stratified sample: see :meth:`Task.select`.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from seewhy.evaluation.model import (
    ChatMessage,
    GenerationRequest,
    GenerationResult,
    ItemRecord,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    OutputType,
    RunSettings,
    stable_hash,
)
from seewhy.evaluation.tasks.data import DataFile, read_data_file
from seewhy.evaluation.tasks.errors import TaskDataError, TaskSpecError
from seewhy.evaluation.tasks.filters import FilterStep, MatchRule, apply_filters, exact_match
from seewhy.evaluation.tasks.spec import SpecSource, TaskSpec
from seewhy.evaluation.tasks.template import literal_list, render

TASK_FORMAT = 1  # bump when prompt building or scoring changes: every task version changes
LENGTH_SLICE = "length"
LENGTH_BUCKETS = 4  # quartiles of doc_to_text length over the evaluated split
DEFAULT_SEED = 1234

Request = LoglikelihoodRequest | GenerationRequest


@dataclass(frozen=True)
class TaskItem:
    """One doc of a task, ready to send: the prompt, the answer key and the requests.

    ``error`` is set (and ``requests`` empty) when the doc cannot be scored,
    such as a gold index outside the choices; the runner records it as errored.
    """

    task: str
    index: int  # position in the evaluated split
    item_id: str
    item_hash: str
    doc: Mapping[str, Any]
    prompt: str
    prompt_hash: str
    target: str
    choices: tuple[str, ...]
    gold: int | None
    references: tuple[str, ...]  # generation: the acceptable answers
    slices: dict[str, str]
    requests: tuple[Request, ...]
    chat: tuple[ChatMessage, ...] | None = None
    error: str | None = None


def record_fields(task: str, item: TaskItem, run_id: str) -> dict[str, Any]:
    """The :class:`ItemRecord` fields every task copies from the item (ids, hashes, prompt)."""
    return {
        "run_id": run_id,
        "task": task,
        "item_id": item.item_id,
        "item_hash": item.item_hash,
        "prompt_hash": item.prompt_hash,
        "prompt": item.prompt,
        "target": item.target,
        "slices": item.slices,
    }


@dataclass(frozen=True)
class ItemScore:
    """A scored item: the fields of :class:`ItemRecord` that scoring fills."""

    scores: dict[str, float]
    choice_logprobs: tuple[float, ...] = ()
    choice_lengths: tuple[int, ...] = ()
    choice_greedy: tuple[bool, ...] = ()
    response: str | None = None
    extracted: str | None = None
    extraction_failed: bool = False
    extracted_by_filter: dict[str, str | None] = field(default_factory=dict)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _argmax(values: Sequence[float]) -> int:
    best = 0
    for index, value in enumerate(values):
        if value > values[best]:
            best = index
    return best


def _slug(name: str) -> str:
    head = name.replace("_", "-").split("-")[0].lower()
    return "".join(ch for ch in head if ch.isalnum()) or "filter"


class Task:
    """A task spec with its data: build items, select a sample, score results."""

    def __init__(
        self,
        spec: TaskSpec,
        source: SpecSource,
        *,
        subset: tuple[str, str] | None = None,
        name: str | None = None,
        num_fewshot: int | None = None,
        data: Mapping[str, list[DataFile]] | None = None,
    ) -> None:
        self.spec = spec
        self.source = source
        self.subset = subset  # (field, value): a subtask such as mmlu_anatomy
        self.name = name or spec.task
        self.num_fewshot = spec.num_fewshot if num_fewshot is None else num_fewshot
        if self.num_fewshot < 0:
            raise TaskSpecError(source.path, None, f"num_fewshot must be >= 0, got {num_fewshot}")
        # ``data``: the files another Task of the same spec already read (subtasks share them)
        self._files = dict(data) if data is not None else self._load_files()
        docs = list(self._split_rows(spec.eval_split))
        if subset is not None:
            key, value = subset
            docs = [doc for doc in docs if str(doc.get(key)) == value]
            if not docs:
                raise TaskSpecError(source.path, None, f"no docs with {key} = {value!r}")
        if not docs:
            raise TaskDataError(f"task {self.name!r}: split {spec.eval_split!r} has no docs")
        self.docs: tuple[Mapping[str, Any], ...] = tuple(docs)
        self.features: frozenset[str] = frozenset(k for doc in self.docs for k in doc)
        self._check_fields()
        self.item_ids: tuple[str, ...] = self._item_ids()
        self._filters = self._filter_pipelines()
        self._rule = self._match_rule()

    # ------------------------------------------------------------ loading

    def _where(self, *loc: str | int) -> tuple[Path, int | None]:
        return self.source.where(loc)

    def _spec_error(self, loc: tuple[str | int, ...], message: str) -> TaskSpecError:
        path, line = self.source.where(loc)
        return TaskSpecError(path, line, message)

    def _load_files(self) -> dict[str, list[DataFile]]:
        files = self.spec.files
        # lm-eval / datasets: a bare path (or list) is the 'train' split
        mapping: dict[str, str | list[str]] = (
            dict(files) if isinstance(files, dict) else {"train": files}
        )
        data_loc: tuple[str, ...] = (
            ("dataset_kwargs", "data_files") if self.spec.dataset_kwargs else ("data_files",)
        )
        base = self.source.path.parent
        loaded: dict[str, list[DataFile]] = {}
        for split, value in mapping.items():
            names = [value] if isinstance(value, str) else list(value)
            paths = [base / name for name in names]  # an absolute name stays absolute
            for path in paths:
                if not path.is_file():
                    raise self._spec_error(
                        (*data_loc, split) if isinstance(files, dict) else data_loc,
                        f"data file for split {split!r} not found: {path}",
                    )
            loaded[split] = [read_data_file(path, self.spec.dataset_path) for path in paths]
        return loaded

    def _split_rows(self, split: str) -> list[dict[str, Any]]:
        if split not in self._files:
            loc = (
                ("test_split",)
                if split == self.spec.test_split
                else ("validation_split",)
                if split == self.spec.validation_split
                else ("fewshot_split",)
            )
            known = ", ".join(sorted(self._files)) or "(none)"
            hint = (
                " (a bare data_files path is the 'train' split, as in lm-eval)"
                if "train" in self._files
                else ""
            )
            raise self._spec_error(loc, f"split {split!r} has no data files; known: {known}{hint}")
        return [row for data in self._files[split] for row in data.rows]

    def _check_fields(self) -> None:
        for index, name in enumerate(self.spec.slices):
            if name != LENGTH_SLICE and name not in self.features:
                raise self._spec_error(
                    ("slices", index), f"slices: the docs have no field {name!r}"
                )
        for key in ("id_field", "subtasks_by"):
            value = getattr(self.spec, key)
            if value is not None and value not in self.features:
                raise self._spec_error((key,), f"{key}: the docs have no field {value!r}")

    def _item_ids(self) -> tuple[str, ...]:
        id_field = self.spec.id_field
        if id_field is None:
            return tuple(str(index) for index in range(len(self.docs)))
        ids = tuple(str(doc.get(id_field)) for doc in self.docs)
        if len(set(ids)) != len(ids):
            raise self._spec_error(("id_field",), f"id_field: {id_field!r} values repeat")
        return ids

    def _filter_pipelines(self) -> list[tuple[str, tuple[FilterStep, ...]]]:
        if self.spec.filter_list is None:
            return [("none", (FilterStep("take_first"),))]
        return [
            (
                spec.name,
                tuple(
                    FilterStep(step.function, step.regex_pattern, step.group_select)
                    for step in spec.filter
                ),
            )
            for spec in self.spec.filter_list
        ]

    def _match_rule(self) -> MatchRule:
        for metric in self.spec.metric_list or ():
            if metric.metric == "exact_match":
                return MatchRule(
                    ignore_case=metric.ignore_case,
                    ignore_punctuation=metric.ignore_punctuation,
                    ignore_numbers=metric.ignore_numbers,
                    regexes_to_ignore=tuple(metric.regexes_to_ignore),
                )
        return MatchRule()

    # ----------------------------------------------------------- metadata

    @property
    def data_files(self) -> Mapping[str, list[DataFile]]:
        """The data files read, by split (with their sha256)."""
        return self._files

    @property
    def output_type(self) -> OutputType:
        return self.spec.output_type

    @property
    def chat(self) -> bool:
        return self.spec.chat

    @cached_property
    def version(self) -> str:
        """Stable hash of the spec, the data files' sha256 and the subset."""
        data = {
            split: [item.sha256 for item in files] for split, files in sorted(self._files.items())
        }
        return stable_hash(
            {
                "format": TASK_FORMAT,
                "spec": self.spec.model_dump(mode="json"),
                "data": data,
                "subset": list(self.subset) if self.subset else None,
                "name": self.name,
            }
        )

    @cached_property
    def metrics(self) -> tuple[str, ...]:
        """The score keys every item of this task records, the primary metric first.

        Multiple choice always records ``acc`` and ``acc_norm`` (free from the
        same log-likelihoods). Generation records ``exact_match`` for the first
        filter and ``exact_match_<filter>`` for the others (``flexible-extract``
        → ``exact_match_flexible``).
        """
        listed = [metric.metric for metric in self.spec.metric_list or ()]
        if self.output_type == "multiple_choice":
            keys = listed or ["acc"]
            for extra in ("acc", "acc_norm"):
                if extra not in keys:
                    keys.append(extra)
            return tuple(dict.fromkeys(keys))
        names = [name for name, _ in self._filters]
        out = ["exact_match"]
        for name in names[1:]:
            key = f"exact_match_{_slug(name)}"
            if key in out:
                key = f"exact_match_{len(out)}"
            out.append(key)
        return tuple(out)

    @property
    def primary_metric(self) -> str:
        return self.metrics[0]

    @cached_property
    def subtask_values(self) -> tuple[str, ...]:
        """Values of ``subtasks_by`` (each names a subtask ``<task>_<value>``)."""
        if self.spec.subtasks_by is None:
            return ()
        return tuple(sorted({str(doc.get(self.spec.subtasks_by)) for doc in self.docs}))

    def settings(self, *, limit: int | None = None, seed: int = DEFAULT_SEED) -> RunSettings:
        """The run settings a record of this task should carry."""
        return RunSettings(
            num_fewshot=self.num_fewshot,
            limit=limit,
            seed=seed,
            chat_template=self.chat,
            max_tokens=self.spec.max_gen_toks if self.output_type == "generate_until" else None,
            temperature=0.0,
            prompt_template=self.spec.doc_to_text,
            extra={"target_delimiter": self.spec.target_delimiter},
        )

    def __len__(self) -> int:
        return len(self.docs)

    def __repr__(self) -> str:
        shots = f"{self.num_fewshot}-shot"
        return f"Task({self.name!r}, {self.output_type}, {len(self.docs)} docs, {shots})"

    # --------------------------------------------------------- doc → text

    def _render(self, source: str, doc: Mapping[str, Any], doc_id: str, what: str) -> str:
        return render(source, doc, task=self.name, doc_id=doc_id, what=what)

    def doc_to_text(self, doc: Mapping[str, Any], doc_id: str) -> str:
        template = self.spec.doc_to_text
        if template in self.features:
            return str(doc.get(template))
        return self._render(template, doc, doc_id, "doc_to_text")

    def doc_to_choice(self, doc: Mapping[str, Any], doc_id: str) -> list[str]:
        spec = self.spec.doc_to_choice
        if spec is None:
            return []
        if isinstance(spec, list):
            values: list[Any] = list(spec)
        elif isinstance(spec, dict):
            values = list(spec.values())
        elif spec in self.features:
            raw = doc.get(spec)
            if not isinstance(raw, list):
                raise TaskDataError(
                    f"task {self.name!r}, doc {doc_id}: field {spec!r} is not a list of choices"
                )
            values = raw
        else:
            rendered = self._render(spec, doc, doc_id, "doc_to_choice")
            values = literal_list(rendered, task=self.name, doc_id=doc_id, what="doc_to_choice")
        return [value if isinstance(value, str) else str(value) for value in values]

    def doc_to_target(self, doc: Mapping[str, Any], doc_id: str) -> int | str | list[Any]:
        spec = self.spec.doc_to_target
        if isinstance(spec, int | list):
            return spec
        if spec in self.features:
            value = doc.get(spec)
            if isinstance(value, bool):
                return int(value)
            if isinstance(value, int | str | list):
                return value
            return str(value)
        text = self._render(spec, doc, doc_id, "doc_to_target")
        if text.isdigit() and self.spec.doc_to_choice is not None:
            return int(text)
        if len(text) >= 2 and text[0] == "[" and text[-1] == "]":
            try:
                return literal_list(text, task=self.name, doc_id=doc_id, what="doc_to_target")
            except TaskDataError:
                return text
        return text

    def description_for(self, doc: Mapping[str, Any], doc_id: str) -> str:
        description = self.spec.description
        if not description:
            return ""
        if description in self.features:
            return str(doc.get(description))
        return self._render(description, doc, doc_id, "description")

    @staticmethod
    def _answer_text(target: int | str | list[Any], choices: Sequence[str]) -> str:
        if isinstance(target, int):
            if choices:
                return choices[target] if 0 <= target < len(choices) else ""
            return str(target)
        if isinstance(target, list):
            return str(target[0]) if target else ""
        return str(target)

    # ------------------------------------------------------------ few-shot

    @cached_property
    def _fewshot_pool(self) -> tuple[tuple[Mapping[str, Any], str, str], ...]:
        """(doc, doc id, item hash) of every few-shot candidate."""
        split = self.spec.fewshot_source_split
        if split == self.spec.eval_split:
            return tuple(
                (doc, item_id, stable_hash(doc))
                for doc, item_id in zip(self.docs, self.item_ids, strict=True)
            )
        rows = self._split_rows(split)
        if self.subset is not None:
            key, value = self.subset
            rows = [row for row in rows if str(row.get(key)) == value]
        id_field = self.spec.id_field
        return tuple(
            (
                row,
                f"{split}:{row.get(id_field) if id_field and id_field in row else index}",
                stable_hash(row),
            )
            for index, row in enumerate(rows)
        )

    def fewshot_docs(self, index: int, *, seed: int = DEFAULT_SEED) -> list[Mapping[str, Any]]:
        """The few-shot docs for the doc at ``index``: deterministic, never the doc itself."""
        k = self.num_fewshot
        if k == 0:
            return []
        doc = self.docs[index]
        own_hash = stable_hash(doc)
        pool = [entry for entry in self._fewshot_pool if entry[2] != own_hash]
        config = self.spec.fewshot_config
        match = config.match if config else None
        if match is not None:
            pool = [entry for entry in pool if entry[0].get(match) == doc.get(match)]
        if len(pool) < k:
            where = f" with {match} = {doc.get(match)!r}" if match else ""
            raise TaskDataError(
                f"task {self.name!r}: {k}-shot asks for {k} examples but split "
                f"{self.spec.fewshot_source_split!r} has {len(pool)}{where}"
            )
        if config is not None and config.sampler == "first_n":
            chosen = pool[:k]
        else:
            key = f"{seed}\x00{self.spec.task}\x00{self.item_ids[index]}".encode()
            rng = random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))
            chosen = rng.sample(pool, k)
        return [entry[0] for entry in chosen]

    # ---------------------------------------------------------------- items

    def _length_edges(self) -> list[int]:
        lengths = sorted(
            len(self.doc_to_text(doc, item_id))
            for doc, item_id in zip(self.docs, self.item_ids, strict=True)
        )
        n = len(lengths)
        # the longest length of each of the first three quartiles (a bucket's upper bound)
        return [lengths[max(0, (n * q) // LENGTH_BUCKETS - 1)] for q in range(1, LENGTH_BUCKETS)]

    @cached_property
    def _length_labels(self) -> tuple[list[int], list[str]]:
        edges = self._length_edges()
        bounds = [0, *edges]
        labels = []
        for q in range(LENGTH_BUCKETS):
            lo = bounds[q] + 1 if q else 0
            span = f"{lo}-{edges[q]}" if q < len(edges) else f">{edges[-1]}"
            labels.append(f"Q{q + 1} ({span} chars)")
        return edges, labels

    def length_bucket(self, text_length: int) -> str:
        """The ``length`` slice label: the quartile of doc_to_text length (characters)."""
        edges, labels = self._length_labels
        return labels[bisect.bisect_left(edges, text_length)]

    def slices_for(self, index: int) -> dict[str, str]:
        doc = self.docs[index]
        out: dict[str, str] = {}
        for name in self.spec.slices:
            if name == LENGTH_SLICE:
                out[name] = self.length_bucket(len(self.doc_to_text(doc, self.item_ids[index])))
            else:
                value = doc.get(name)
                out[name] = "(none)" if value is None else str(value)
        return out

    def item(self, index: int, *, seed: int = DEFAULT_SEED) -> TaskItem:
        """Build the doc at ``index`` (its position in the evaluated split)."""
        doc = self.docs[index]
        doc_id = self.item_ids[index]
        text = self.doc_to_text(doc, doc_id)
        choices = self.doc_to_choice(doc, doc_id)
        target = self.doc_to_target(doc, doc_id)
        spec = self.spec
        shots = []
        for shot in self.fewshot_docs(index, seed=seed):
            shot_choices = self.doc_to_choice(shot, "few-shot")
            answer = self._answer_text(self.doc_to_target(shot, "few-shot"), shot_choices)
            shots.append(self.doc_to_text(shot, "few-shot") + spec.target_delimiter + answer)
        examples = "".join(shot + spec.fewshot_delimiter for shot in shots)
        description = self.description_for(doc, doc_id)
        prompt = description + examples + text
        chat: tuple[ChatMessage, ...] | None = None
        if spec.chat:
            user = ChatMessage(role="user", content=examples + text)
            system = ChatMessage(role="system", content=description)
            chat = (system, user) if description else (user,)

        error: str | None = None
        gold: int | None = None
        references: tuple[str, ...] = ()
        requests: tuple[Request, ...]
        if self.output_type == "multiple_choice":
            if not choices:
                error = "doc_to_choice gave no choices"
            elif isinstance(target, list):
                error = "a list target (several right answers) is not supported for multiple choice"
            elif isinstance(target, int):
                gold = target if 0 <= target < len(choices) else None
                if gold is None:
                    error = f"gold index {target} is outside the {len(choices)} choices"
            else:
                gold = choices.index(target) if target in choices else None
                if gold is None:
                    error = f"target {target!r} is not one of the choices"
            delimiter = "" if spec.chat else spec.target_delimiter
            requests = (
                ()
                if error
                else tuple(
                    LoglikelihoodRequest(context=prompt, continuation=delimiter + choice, chat=chat)
                    for choice in choices
                )
            )
            target_text = choices[gold] if gold is not None else str(target)
        else:
            if isinstance(target, list):
                references = tuple(str(value) for value in target)
            elif isinstance(target, int) and choices:
                references = (choices[target],) if 0 <= target < len(choices) else ()
                if not references:
                    error = f"gold index {target} is outside the {len(choices)} choices"
            else:
                references = (str(target),)
            target_text = references[0] if references else str(target)
            requests = (
                ()
                if error
                else (
                    GenerationRequest(
                        context=prompt,
                        until=spec.until,
                        max_tokens=spec.max_gen_toks,
                        temperature=0.0,
                        chat=chat,
                    ),
                )
            )
        return TaskItem(
            task=self.name,
            index=index,
            item_id=doc_id,
            item_hash=stable_hash(doc),
            doc=doc,
            prompt=prompt,
            prompt_hash=_sha256(prompt),
            target=target_text,
            choices=tuple(choices),
            gold=gold,
            references=references,
            slices=self.slices_for(index),
            requests=requests,
            chat=chat,
            error=error,
        )

    def items(self, *, limit: int | None = None, seed: int = DEFAULT_SEED) -> list[TaskItem]:
        """The items to run: all docs, or the stratified sample of :meth:`select`."""
        return [self.item(index, seed=seed) for index in self.select(limit, seed=seed)]

    # ------------------------------------------------------------- --limit

    def _stratum(self, index: int) -> str:
        """The doc's value of the primary slice (the first in ``slices``)."""
        if not self.spec.slices:
            return ""
        name = self.spec.slices[0]
        if name == LENGTH_SLICE:
            return self.length_bucket(len(self.doc_to_text(self.docs[index], self.item_ids[index])))
        value = self.docs[index].get(name)
        return "(none)" if value is None else str(value)

    def select(self, limit: int | None, *, seed: int = DEFAULT_SEED) -> list[int]:
        """Indices of the docs to run, in data order.

        ``limit`` None or ≥ the number of docs: every doc. Otherwise a sample
        stratified by the task's primary slice (the first in ``slices``; each
        of its values is a stratum): each stratum gets ``limit × size / total`` docs rounded by
        largest remainder (ties broken by a seeded shuffle), at least one per
        stratum when ``limit`` ≥ the number of strata; when ``limit`` is
        smaller, the largest strata get one each. Docs within a stratum are a
        seeded random sample (seed, task name, stratum). A task without slices
        is one stratum: a seeded simple random sample. Same task, limit and
        seed: the same docs.
        """
        total = len(self.docs)
        if limit is None or limit >= total:
            return list(range(total))
        if limit <= 0:
            return []
        strata: dict[str, list[int]] = defaultdict(list)
        for index in range(total):
            strata[self._stratum(index)].append(index)
        keys = sorted(strata)
        order_rng = random.Random(f"{seed}\x00{self.spec.task}\x00strata")
        tiebreak = {key: order_rng.random() for key in keys}
        quota = {key: limit * len(strata[key]) / total for key in keys}
        if limit < len(keys):
            ranked = sorted(keys, key=lambda k: (-len(strata[k]), tiebreak[k]))
            alloc = dict.fromkeys(keys, 0)
            for key in ranked[:limit]:
                alloc[key] = 1
        else:
            alloc = {key: max(1, math.floor(quota[key])) for key in keys}
            while sum(alloc.values()) > limit:  # the minimum of one pushed us over: trim
                key = max(
                    (k for k in keys if alloc[k] > 1),
                    key=lambda k: (alloc[k] - quota[k], tiebreak[k]),
                )
                alloc[key] -= 1
            while sum(alloc.values()) < limit:
                key = max(
                    (k for k in keys if alloc[k] < len(strata[k])),
                    key=lambda k: (quota[k] - alloc[k], tiebreak[k]),
                )
                alloc[key] += 1
        chosen: list[int] = []
        for key in keys:
            if alloc[key]:
                rng = random.Random(f"{seed}\x00{self.spec.task}\x00{key!r}")
                chosen.extend(rng.sample(strata[key], alloc[key]))
        return sorted(chosen)

    # -------------------------------------------------------------- scoring

    def score_loglikelihood(
        self, item: TaskItem, results: Sequence[LoglikelihoodResult]
    ) -> ItemScore:
        """acc / acc_norm (/ acc_bytes, exact_match) from one result per choice."""
        if len(results) != len(item.choices):
            raise ValueError(f"{len(results)} results for {len(item.choices)} choices")
        if item.gold is None:
            raise ValueError(f"item {item.item_id} has no gold answer: {item.error}")
        lls = [result.logprob for result in results]
        chars = [len(choice) for choice in item.choices]
        nbytes = [len(choice.encode("utf-8")) for choice in item.choices]
        greedy = tuple(result.is_greedy for result in results)

        def normed(lengths: Sequence[int]) -> int:
            pairs = zip(lls, lengths, strict=True)
            return _argmax([ll / length if length else -math.inf for ll, length in pairs])

        values = {
            "acc": float(_argmax(lls) == item.gold),
            "acc_norm": float(normed(chars) == item.gold),
            "acc_bytes": float(normed(nbytes) == item.gold),
            "exact_match": float(greedy[item.gold]),
        }
        return ItemScore(
            scores={key: values[key] for key in self.metrics},
            choice_logprobs=tuple(lls),
            choice_lengths=tuple(chars),
            choice_greedy=greedy,
        )

    def score_generation(self, item: TaskItem, response: str) -> ItemScore:
        """exact_match per filter; a filter that extracts nothing is a failure, scored 0."""
        scores: dict[str, float] = {}
        by_filter: dict[str, str | None] = {}
        for key, (name, steps) in zip(self.metrics, self._filters, strict=True):
            extracted = apply_filters(steps, response)
            by_filter[name] = extracted
            scores[key] = exact_match(extracted, item.references, self._rule)
        primary = by_filter[self._filters[0][0]]
        return ItemScore(
            scores=scores,
            response=response,
            extracted=primary,
            extraction_failed=primary is None,
            extracted_by_filter=by_filter,
        )

    def record(
        self,
        item: TaskItem,
        results: Sequence[LoglikelihoodResult] | GenerationResult,
        *,
        run_id: str,
    ) -> ItemRecord:
        """The per-item record for a backend's results."""
        base = self._record_base(item, run_id)
        if isinstance(results, GenerationResult):
            score = self.score_generation(item, results.text)
            return ItemRecord(
                **base,
                response=score.response,
                extracted=score.extracted,
                extraction_failed=score.extraction_failed,
                scores=score.scores,
                latency_s=results.latency_s,
                input_tokens=results.input_tokens,
                output_tokens=results.output_tokens,
            )
        score = self.score_loglikelihood(item, results)
        return ItemRecord(
            **base,
            choice_logprobs=score.choice_logprobs,
            choice_lengths=score.choice_lengths,
            choice_greedy=score.choice_greedy,
            scores=score.scores,
            latency_s=sum(result.latency_s for result in results),
            input_tokens=sum(result.context_tokens for result in results),
            output_tokens=sum(result.tokens for result in results),
        )

    def error_record(self, item: TaskItem, *, run_id: str, error: str) -> ItemRecord:
        """The record of an item that could not be scored (bad gold, backend failure)."""
        return ItemRecord(**self._record_base(item, run_id), error=error)

    def _record_base(self, item: TaskItem, run_id: str) -> dict[str, Any]:
        return {
            **record_fields(self.name, item, run_id),
            "choices": item.choices,
            "gold": item.gold,
        }
