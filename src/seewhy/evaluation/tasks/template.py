"""Task templates: the user's own Jinja, rendered in a sandbox.

Semantics follow lm-evaluation-harness (``lm_eval.utils.apply_template``):
the doc's fields are the template's variables, ``keep_trailing_newline`` is
on, a ``regex_replace`` filter exists, and a value that renders as a Python
list (``{{choices.text}}``) is read back with :func:`ast.literal_eval`.

Unlike lm-eval, rendering happens in :class:`ImmutableSandboxedEnvironment`:
no attribute starting with ``_`` (so no ``''.__class__.__mro__`` escape), no
mutating methods, ``range`` capped by Jinja, and ``*`` / ``**`` refuse to build
huge values. A field the doc lacks is an error (``StrictUndefined``), never an
empty string.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from seewhy.evaluation.tasks.errors import TaskDataError, TemplateSecurityError

MAX_RENDERED_CHARS = 1_000_000  # one rendered prompt part; far above any benchmark item
MAX_POWER_EXPONENT = 1024
MAX_LITERAL_CHARS = 1_000_000

__all__ = [
    "MAX_RENDERED_CHARS",
    "TemplateSyntaxError",
    "compile_template",
    "literal_list",
    "render",
]


def _regex_replace(value: str, pattern: str, repl: str, count: int = 0) -> str:
    return re.sub(pattern, repl, value, count=count)


def _sized(value: Any) -> int | None:
    if isinstance(value, str | bytes | list | tuple):
        return len(value)
    return None


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with ``*`` and ``**`` bounded (Jinja intercepts them here)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                size = _sized(seq)
                too_big = (
                    isinstance(times, int)
                    and size is not None
                    and size * times > MAX_RENDERED_CHARS
                )
                if too_big:
                    raise SecurityError(
                        f"repeating a value {times} times would exceed {MAX_RENDERED_CHARS} items"
                    )
        elif (
            operator == "**"
            and isinstance(right, int | float)
            and not isinstance(right, bool)
            and abs(right) > MAX_POWER_EXPONENT
        ):
            raise SecurityError(f"exponent {right} is above the limit of {MAX_POWER_EXPONENT}")
        return super().call_binop(context, operator, left, right)


def _environment() -> _Sandbox:
    env = _Sandbox(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    env.filters["regex_replace"] = _regex_replace
    return env


_ENV = _environment()


@lru_cache(maxsize=512)
def compile_template(source: str) -> Any:
    """Compile once; raises :class:`jinja2.TemplateSyntaxError` (the spec loader names the line)."""
    return _ENV.from_string(source)


def render(source: str, doc: Mapping[str, Any], *, task: str, doc_id: str, what: str) -> str:
    """Render ``source`` with the doc's fields; errors name the task, doc and template."""
    template = compile_template(source)
    try:
        text = template.render(**doc)
    except SecurityError as exc:
        raise TemplateSecurityError(
            f"task {task!r}, doc {doc_id}: the {what} template was refused by the sandbox: {exc}"
        ) from None
    except UndefinedError as exc:
        raise TaskDataError(
            f"task {task!r}, doc {doc_id}: the {what} template uses a field the doc does not have "
            f"({exc.message}); the doc's fields are: {', '.join(sorted(doc)) or '(none)'}"
        ) from None
    except TemplateError as exc:
        raise TaskDataError(
            f"task {task!r}, doc {doc_id}: the {what} template failed: {exc}"
        ) from None
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        raise TaskDataError(
            f"task {task!r}, doc {doc_id}: the {what} template failed: {type(exc).__name__}: {exc}"
        ) from None
    if len(text) > MAX_RENDERED_CHARS:
        raise TemplateSecurityError(
            f"task {task!r}, doc {doc_id}: the {what} template rendered {len(text)} characters "
            f"(limit {MAX_RENDERED_CHARS})"
        )
    return text


def literal_list(text: str, *, task: str, doc_id: str, what: str) -> list[Any]:
    """Read a rendered ``['a', 'b']`` back as a list, as lm-eval does, with literals only."""
    if len(text) > MAX_LITERAL_CHARS:
        raise TaskDataError(f"task {task!r}, doc {doc_id}: the {what} value is too long to read")
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise TaskDataError(
            f"task {task!r}, doc {doc_id}: the {what} template must render a Python list literal "
            f"such as ['a', 'b'], got {text[:80]!r}"
        ) from None
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        raise TaskDataError(
            f"task {task!r}, doc {doc_id}: the {what} template rendered a "
            f"{type(value).__name__}, not a list: {text[:80]!r}"
        )
    return value
