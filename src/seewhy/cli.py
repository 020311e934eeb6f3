"""The command line entry point: parse → call the API → write output → exit code.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings at or above it;
2 usage or input error; 3 inconclusive (some file could not be fully
checked). Data goes to stdout or ``--output``; progress and errors to stderr.

This module stays light: ``seewhy -V`` / ``seewhy --version`` is answered
here without importing typer, rich, pydantic or the analyzers. The commands
themselves live in :mod:`seewhy._commands`, imported only when needed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from seewhy._version import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3

VERSION_FLAGS = ("-V", "--version")
# Root options that may come before -V/--version without changing its answer.
_ROOT_FLAGS = ("--debug",)


def version_line() -> str:
    """What ``seewhy --version`` prints."""
    return f"seewhy {__version__}"


def _asks_version(args: Sequence[str]) -> bool:
    """True when the root options (before any command) include -V/--version."""
    for arg in args:
        if arg in VERSION_FLAGS:
            return True
        if arg not in _ROOT_FLAGS:
            return False
    return False


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    args = list(sys.argv[1:] if argv is None else argv)
    if _asks_version(args):
        sys.stdout.write(version_line() + "\n")
        sys.stdout.flush()
        raise SystemExit(EXIT_OK)
    from seewhy._commands import build_app

    build_app()(args=args, prog_name="seewhy")
