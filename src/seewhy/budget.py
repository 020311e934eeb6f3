"""Time and memory budgets: per file analysed, and for a whole release.

Size and count caps bound what a parser may *build*; a budget bounds what it
may *spend*. Every analyzer runs the analysis of one file inside
:meth:`Budget.bound`::

    try:
        with ctx.budget.bound(file.path):
            parse_and_check(file)
    except BudgetExceeded as exc:
        b.over_budget(file.path, exc)  # inconclusive, with the reason in words

How it is enforced:

* **Time, preemptively** (the main thread on POSIX): a one-shot
  ``ITIMER_REAL`` alarm whose handler raises :class:`BudgetExceeded`. It is a
  ``BaseException``, so a parser's ``except Exception`` cannot swallow it.
  Python runs signal handlers between bytecodes, so the alarm stops pure
  Python work (the pickle VM, the syntax-tree visitor, ``json`` object hooks)
  at once, and one long C call (a regex, :func:`ast.parse`) when it returns;
  the streaming pre-scans keep those calls linear.
* **Time, cooperatively** (other threads, other platforms, or when the
  program already uses ``SIGALRM``): the deadline is kept per thread and hot
  loops call :func:`checkpoint`, which raises the same exception.
* **Memory** (the main thread on Linux): the soft ``RLIMIT_AS`` is lowered to
  the address space in use plus the budget for the duration of the block
  and restored after it; an allocation past it fails with ``MemoryError``,
  which the block turns into :class:`BudgetExceeded`. Elsewhere the size
  caps and the pre-scans are the only bound.
* **The release**: its clock starts at the first file analysed; once
  ``release_timeout`` is spent every further :meth:`Budget.bound` raises at
  once, so the files left are inconclusive, each with the reason.

A budget that runs out never makes a file unsafe: the report says the file
was not fully checked and why (rule ``SW-GEN-010``, medium).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Literal

__all__ = [
    "DEFAULT_FILE_MEMORY",
    "DEFAULT_FILE_TIMEOUT",
    "DEFAULT_RELEASE_TIMEOUT",
    "Budget",
    "BudgetExceeded",
    "checkpoint",
    "format_bytes",
    "format_seconds",
    "memory_limited",
    "parse_memory",
]

DEFAULT_FILE_TIMEOUT = 10.0
"""Seconds one analyzer may spend on one file."""

DEFAULT_FILE_MEMORY = 512 * 1024 * 1024
"""Bytes of address space one analyzer may add while it analyses one file."""

DEFAULT_RELEASE_TIMEOUT = 300.0
"""Seconds all analyzers together may spend on the files of one release."""

Kind = Literal["time", "memory", "release"]


def format_seconds(seconds: float) -> str:
    """``10 s``, ``2.5 s``, ``5 min``: a duration in words for messages."""
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def format_bytes(size: int) -> str:
    """``512 MiB``, ``1.5 GiB``: a size in binary units for messages."""
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.3g} {unit}" if unit != "bytes" else f"{size} bytes"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)
_UNITS = {"": 1 << 20, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_memory(text: str) -> int:
    """Parse a memory budget as a user writes it: ``512`` (MiB), ``512M``, ``2GiB``, ``1.5g``.

    A bare number is MiB. Raises :class:`ValueError` with a message a user
    can act on.
    """
    m = _SIZE.fullmatch(text)
    if m is None:
        raise ValueError(f"{text!r} is not a size; write e.g. 512M or 2G (a bare number is MiB)")
    size = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if size <= 0:
        raise ValueError(f"{text!r}: a memory budget must be positive")
    return size


class BudgetExceeded(BaseException):
    """The analysis of a file ran out of its time or memory budget, or the release's.

    A ``BaseException`` on purpose: parsers catch ``Exception`` to turn their
    own failures into findings, and must not catch this.
    """

    def __init__(self, kind: Kind, limit: float | None, *, started: bool = True) -> None:
        super().__init__(kind, limit)
        self.kind: Kind = kind
        self.limit = limit
        self.started = started  # False: the release budget was spent before this file began

    @property
    def reason(self) -> str:
        """What happened, in words, for a coverage step and a finding."""
        if self.kind == "memory":
            if self.limit is None:
                return "analysis stopped: it ran out of memory"
            return f"analysis stopped at its memory budget of {format_bytes(int(self.limit))}"
        if self.kind == "release":
            assert self.limit is not None
            what = "analysis stopped" if self.started else "not analysed"
            return (
                f"{what}: the release's analysis time budget of "
                f"{format_seconds(self.limit)} was spent"
            )
        assert self.limit is not None
        return f"analysis stopped at its time budget of {format_seconds(self.limit)}"

    def __str__(self) -> str:
        return self.reason


# ------------------------------------------------------------------ the guard

_local = threading.local()


def _active() -> _Guard | None:
    guard: _Guard | None = getattr(_local, "guard", None)
    return guard


def checkpoint() -> None:
    """Raise :class:`BudgetExceeded` if the current file's deadline has passed.

    Cheap (one clock read); hot loops of parsers call it every few thousand
    steps so that the time budget holds where no alarm can fire (another
    thread, another platform). Does nothing outside :meth:`Budget.bound`.
    """
    guard = _active()
    if guard is not None and guard.clock() > guard.deadline:
        guard.fire()


def memory_limited() -> bool:
    """Whether this thread runs inside a block whose memory budget is enforced.

    A parser that catches ``MemoryError`` to report "too big" may re-raise it
    when this is true, so that the report names the budget instead.
    """
    guard = _active()
    return guard is not None and guard.memory_armed


def _address_space() -> int | None:
    """Bytes of virtual address space this process maps now (Linux), else None."""
    try:
        with open("/proc/self/statm", "rb") as f:  # noqa: PTH123 - a tiny kernel file
            pages = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


class _Guard:
    """One armed budget (see :meth:`Budget.bound`); a context manager, used once."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.clock = budget.clock
        self.deadline = float("inf")
        self.kind: Kind = "time"
        self.limit: float | None = None
        self.memory_armed = False
        self._nested = False
        self._armed = False
        self._alarm = False
        self._old_handler: object = None
        self._old_rlimit: tuple[int, int] | None = None

    # -- entering

    def __enter__(self) -> _Guard:
        if _active() is not None:
            self._nested = True  # an outer guard already bounds this work
            return self
        budget = self.budget
        now = self.clock()
        timeout = budget.file_timeout
        self.kind, self.limit = "time", timeout
        left = budget.release_left(now)
        if left is not None:
            if left <= 0:
                raise BudgetExceeded("release", budget.release_timeout, started=False)
            if timeout is None or left < timeout:
                timeout, self.kind, self.limit = left, "release", budget.release_timeout
        if timeout is not None:
            self.deadline = now + timeout
        self._armed = True
        _local.guard = self
        main = threading.current_thread() is threading.main_thread()
        try:
            if timeout is not None and main:
                self._arm_alarm(timeout)
            if budget.file_memory is not None and main:
                self._arm_memory(budget.file_memory)
        except BaseException:
            self._disarm()
            raise
        return self

    def _arm_alarm(self, timeout: float) -> None:
        import signal

        if not hasattr(signal, "setitimer"):
            return  # not POSIX: cooperative checkpoints only
        if signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, signal.SIG_IGN, None):
            return  # the program uses SIGALRM itself: leave it alone
        if signal.getitimer(signal.ITIMER_REAL) != (0.0, 0.0):
            return
        self._old_handler = signal.signal(signal.SIGALRM, self._on_alarm)
        self._alarm = True
        signal.setitimer(signal.ITIMER_REAL, max(timeout, 1e-3))

    def _arm_memory(self, memory: int) -> None:
        try:
            import resource
        except ImportError:  # not POSIX
            return
        used = _address_space()
        if used is None:
            return  # no reliable reading (not Linux): RLIMIT_AS would be a guess
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        target = used + memory
        if hard != resource.RLIM_INFINITY:
            target = min(target, hard)
        if soft != resource.RLIM_INFINITY and soft <= target:
            return  # the user's own limit is already tighter
        resource.setrlimit(resource.RLIMIT_AS, (target, hard))
        self._old_rlimit = (soft, hard)
        self.memory_armed = True

    # -- firing

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if self._armed:
            self.fire()

    def fire(self) -> None:
        """Stop the block now: restore everything, then raise (once)."""
        if not self._armed:
            return
        self._disarm()
        raise BudgetExceeded(self.kind, self.limit)

    # -- leaving

    def _disarm(self) -> None:
        """Idempotent: stop the alarm, restore the handler and the limit."""
        self._armed = False
        if self._alarm:
            import signal

            self._alarm = False
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old_handler)  # type: ignore[arg-type]
        if self._old_rlimit is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, self._old_rlimit)
            self._old_rlimit = None
        if _active() is self:
            _local.guard = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._nested:
            return
        memory_armed = self.memory_armed
        try:
            self._disarm()
        except BudgetExceeded:
            # The alarm fired while disarming: the work itself had finished.
            self._disarm()
        self.memory_armed = False
        if isinstance(exc, MemoryError):
            limit = self.budget.file_memory if memory_armed else None
            raise BudgetExceeded("memory", limit) from None


class Budget:
    """The time and memory an audit may spend, per file and per release.

    ``None`` means unbounded. ``clock`` is injectable for tests of the
    release budget; the alarm itself always uses real time.
    """

    def __init__(
        self,
        file_timeout: float | None = DEFAULT_FILE_TIMEOUT,
        file_memory: int | None = DEFAULT_FILE_MEMORY,
        release_timeout: float | None = DEFAULT_RELEASE_TIMEOUT,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (
            ("file_timeout", file_timeout),
            ("file_memory", file_memory),
            ("release_timeout", release_timeout),
        ):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive (or None for no limit), not {value!r}")
        self.file_timeout = file_timeout
        self.file_memory = file_memory
        self.release_timeout = release_timeout
        self.clock = clock
        self._started: float | None = None

    def release_left(self, now: float | None = None) -> float | None:
        """Seconds of the release budget left (None: unbounded); starts the clock."""
        if self.release_timeout is None:
            return None
        now = self.clock() if now is None else now
        if self._started is None:
            self._started = now
        return self._started + self.release_timeout - now

    def bound(self, path: str = "") -> _Guard:
        """A context manager that runs one file's analysis within the budget.

        Raises :class:`BudgetExceeded` on entry when the release budget is
        spent, and out of the block when the file's time or memory runs out
        (a ``MemoryError`` leaving the block becomes one). Nested blocks on one
        thread are bounded by the outermost. ``path`` is for debugging only.
        """
        del path
        return _Guard(self)

    def __repr__(self) -> str:
        return (
            f"Budget(file_timeout={self.file_timeout!r}, file_memory={self.file_memory!r}, "
            f"release_timeout={self.release_timeout!r})"
        )
