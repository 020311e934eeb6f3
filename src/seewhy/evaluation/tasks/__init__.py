"""Tasks as data: an lm-evaluation-harness-style YAML spec plus a data file.

Public API::

    task = load_task("arc_easy")               # a built-in task, by name
    task = load_task("mmlu_anatomy")           # a subtask (MMLU subjects)
    task = load_task("path/to/task.yaml")      # the user's own task file
    available_tasks()                          # built-in names, subtasks included

    for item in task.items(limit=100, seed=1234):   # stratified by the task's slices
        results = backend.loglikelihood(item.requests)   # or backend.generate(...)
        record = task.record(item, results, run_id=run_id)

Built-in tasks live in ``seewhy/data/tasks`` (one YAML per task, data under a
folder per benchmark; ``README.md`` there gives each file's source, commit
and license). The spec format is described in :mod:`.spec`, prompt building
and scoring in :mod:`.task`, answer extraction in :mod:`.filters`, the
template sandbox in :mod:`.template`.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from seewhy.evaluation.tasks.errors import (
    TaskDataError,
    TaskError,
    TaskNotFoundError,
    TaskSpecError,
    TemplateSecurityError,
)
from seewhy.evaluation.tasks.spec import TaskSpec, load_spec, read_spec_file
from seewhy.evaluation.tasks.task import DEFAULT_SEED, ItemScore, Task, TaskItem

__all__ = [
    "DEFAULT_SEED",
    "ItemScore",
    "Task",
    "TaskDataError",
    "TaskError",
    "TaskItem",
    "TaskNotFoundError",
    "TaskSpec",
    "TaskSpecError",
    "TemplateSecurityError",
    "available_tasks",
    "builtin_task_dir",
    "load_task",
]


def builtin_task_dir() -> Path:
    """The folder of the built-in task files and their data."""
    return Path(str(files("seewhy.data").joinpath("tasks")))


@lru_cache(maxsize=1)
def _builtin_files() -> dict[str, Path]:
    """Built-in task name -> its YAML file (the ``task:`` key of each file)."""
    out: dict[str, Path] = {}
    for path in sorted(builtin_task_dir().glob("*.yaml")):
        data, _ = read_spec_file(path)
        name = data.get("task")
        if isinstance(name, str):
            out[name] = path
    return out


@lru_cache(maxsize=64)
def _load_builtin(name: str) -> Task:
    path = _builtin_files()[name]
    spec, source = load_spec(path)
    return Task(spec, source)


@lru_cache(maxsize=1)
def _subtasks() -> dict[str, tuple[str, str, str]]:
    """Subtask name -> (parent task, field, value), e.g. mmlu_anatomy."""
    out: dict[str, tuple[str, str, str]] = {}
    for name, path in _builtin_files().items():
        data, _ = read_spec_file(path)
        field = data.get("subtasks_by")
        if not isinstance(field, str):
            continue
        for value in _load_builtin(name).subtask_values:
            out[f"{name}_{value}"] = (name, field, value)
    return out


def available_tasks(*, subtasks: bool = True) -> list[str]:
    """Names of the built-in tasks (and their subtasks, such as ``mmlu_anatomy``)."""
    names = set(_builtin_files())
    if subtasks:
        names.update(_subtasks())
    return sorted(names)


def _looks_like_path(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or "/" in name or "\\" in name


def load_task(name_or_path: str | Path, *, num_fewshot: int | None = None) -> Task:
    """A built-in task by name, or a task file by path; ``num_fewshot`` overrides the spec's.

    A task whose ``metadata.probe`` names a safety probe comes back as a
    :class:`seewhy.evaluation.safety.tasks.SafetyTask` (which fits the runner's task protocol).
    """
    task = _load_task(name_or_path, num_fewshot=num_fewshot)
    from seewhy.evaluation.safety.tasks import is_probe_spec, probe_task

    if is_probe_spec(task.spec.metadata):
        return probe_task(task)  # type: ignore[return-value]
    return task


def _load_task(name_or_path: str | Path, *, num_fewshot: int | None = None) -> Task:
    if isinstance(name_or_path, Path) or _looks_like_path(name_or_path):
        path = Path(name_or_path)
        if not path.is_file():
            raise TaskNotFoundError(f"no such task file: {path}")
        spec, source = load_spec(path)
        return Task(spec, source, num_fewshot=num_fewshot)
    name = name_or_path
    if name in _builtin_files():
        task = _load_builtin(name)
        if num_fewshot is None or num_fewshot == task.num_fewshot:
            return task
        return Task(task.spec, task.source, num_fewshot=num_fewshot, data=task.data_files)
    if name in _subtasks():
        parent, field, value = _subtasks()[name]
        base = _load_builtin(parent)
        return Task(
            base.spec,
            base.source,
            subset=(field, value),
            name=name,
            num_fewshot=num_fewshot,
            data=base.data_files,
        )
    raise TaskNotFoundError(
        f"no built-in task named {name!r} and no such file; built-in tasks: "
        f"{', '.join(available_tasks(subtasks=False))} (and mmlu_<subject>), "
        "or pass a path to a task YAML"
    )
