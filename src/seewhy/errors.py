"""One exception hierarchy for seewhy.

Every error a user can cause (a missing path, a bad option, an unreadable
release) derives from :class:`SeewhyError`; the CLI maps each class to a
one-line message in a single table and shows a traceback only with
``--debug``.
"""

from __future__ import annotations


class SeewhyError(Exception):
    """Root of every error seewhy raises on purpose."""


class ReleaseError(SeewhyError):
    """A release could not be opened or listed."""


class ReleaseNotFoundError(ReleaseError, FileNotFoundError):
    """The source path does not exist."""

    def __init__(self, path: str) -> None:
        super().__init__(f"no such file or folder: {path}")
        self.path = path


class ReleaseReadError(ReleaseError):
    """A file of the release could not be read."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read {path}: {reason}")
        self.path = path
        self.reason = reason


class FormatError(SeewhyError):
    """Bytes of a file break the rules of its format.

    Parsers raise it for problems that stop them; ``code`` is stable and maps
    to a rule id through the rule registry, ``offset`` points into the file.
    """

    def __init__(self, code: str, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.offset = offset


class ReportError(SeewhyError):
    """A report could not be produced or written."""


class UsageError(SeewhyError):
    """The command line asks for something that cannot be done."""
