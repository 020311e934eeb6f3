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


class ReleaseIncompleteError(ReleaseError):
    """Part of a release could not be seen (a folder that cannot be listed).

    Raised where an answer would vouch for the whole release, such as a
    digest manifest; ``parts`` names each part and why.
    """

    def __init__(self, parts: list[tuple[str, str]]) -> None:
        shown = "; ".join(why if path == "." else f"{path}: {why}" for path, why in parts[:3])
        more = f" (and {len(parts) - 3} more)" if len(parts) > 3 else ""
        super().__init__(
            f"part of the release could not be read, so no complete answer is possible: "
            f"{shown}{more}. Check the permissions and run again"
        )
        self.parts = parts


class HubError(ReleaseError):
    """A Hugging Face Hub repository could not be read (see :mod:`seewhy.release.hub`)."""


class HubNotFoundError(HubError):
    """The repository, or the revision asked for, does not exist (or is private)."""


class HubGatedError(HubError):
    """The repository is gated and no token with access was given (``HF_TOKEN``)."""


class HubUnavailableError(HubError):
    """The Hub kept failing (rate limits, server errors, network) after bounded retries."""


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
