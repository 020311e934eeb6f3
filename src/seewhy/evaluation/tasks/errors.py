"""Errors of task files, task data and templates (all :class:`~seewhy.errors.SeewhyError`)."""

from __future__ import annotations

from pathlib import Path

from seewhy.errors import SeewhyError


class TaskError(SeewhyError):
    """A task could not be loaded or one of its items could not be built."""


class TaskNotFoundError(TaskError):
    """No built-in task has this name and no such task file exists."""


class TaskSpecError(TaskError):
    """A task file breaks the task format: names the file and the line of the key at fault."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line
        self.message = message


class TaskDataError(TaskError):
    """A data file cannot be read, or a doc does not fit the task's templates."""


class TemplateSecurityError(TaskDataError):
    """A template reached for something the sandbox forbids (dunder attributes, huge values)."""
