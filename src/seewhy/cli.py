"""The command line: parse → call the API → write output → exit code.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings at or above it;
2 usage or input error; 3 inconclusive (some file could not be fully
checked). Data goes to stdout or ``--output``; progress and errors to stderr.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, assert_never

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.progress import Progress as RichProgress

from seewhy._version import __version__
from seewhy.errors import (
    ReleaseError,
    ReleaseNotFoundError,
    ReportError,
    SeewhyError,
    UsageError,
)
from seewhy.report.model import Report, Severity

if TYPE_CHECKING:
    from seewhy.provenance import SignatureTrust

app = typer.Typer(
    name="seewhy",
    help="Audit an open AI model release: what is in it, with evidence for every finding.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INCONCLUSIVE = 0, 1, 2, 3

# One table from exception class to the one line a user sees (most specific first).
ERROR_MESSAGES: dict[type[BaseException], Callable[[BaseException], str]] = {
    ReleaseNotFoundError: lambda e: f"{e}. Pass a model folder or a single weights file.",
    ReleaseError: str,
    ReportError: str,
    UsageError: str,
    SeewhyError: str,
    OSError: lambda e: f"{getattr(e, 'filename', '') or ''} {getattr(e, 'strerror', '') or e}",
}

_state = {"debug": False}
_err = Console(stderr=True, highlight=False)


class OutputFormat(StrEnum):
    """Output formats of ``seewhy audit``."""

    TEXT = "text"
    JSON = "json"
    MD = "md"
    SARIF = "sarif"
    MOF = "mof"
    OSAI = "osai"


def _fatal(exc: BaseException) -> NoReturn:
    if _state["debug"]:
        traceback.print_exception(exc)
    for cls, render in ERROR_MESSAGES.items():
        if isinstance(exc, cls):
            message = render(exc).strip()
            break
    else:
        raise exc
    _err.print(f"seewhy: error: {message}", markup=False, soft_wrap=True)
    if not _state["debug"]:
        _err.print("(run with --debug for a traceback)", style="dim", markup=False, soft_wrap=True)
    raise typer.Exit(EXIT_USAGE)


class _BarProgress:
    """Draws a rich progress bar on stderr for long work (hashing)."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None

    def start(self, description: str, total: int) -> None:
        if not self._enabled:
            return
        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=_err,
            transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task(description, total=total)

    def advance(self, amount: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, amount)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"seewhy {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
) -> None:
    _state["debug"] = debug


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write {output}: {exc.strerror or exc}") from exc


@app.command()
def audit(
    source: Annotated[str, typer.Argument(help="A model folder or a single weights file.")],
    fmt: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.TEXT,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here.")
    ] = None,
    fail_on: Annotated[
        Severity,
        typer.Option("--fail-on", help="Exit 1 when a finding is at or above this severity."),
    ] = Severity.HIGH,
    hash_files: Annotated[
        bool, typer.Option("--hash", help="Stream sha256 of every file (reads everything).")
    ] = False,
    public_key: Annotated[
        Path | None,
        typer.Option(help="Verify model.sig against this public key (PEM)."),
    ] = None,
    certificate_chain: Annotated[
        list[Path] | None,
        typer.Option(help="Verify model.sig against this certificate chain (repeatable)."),
    ] = None,
    identity: Annotated[
        str | None,
        typer.Option(help="Expected Sigstore signer identity (needs --oidc-issuer)."),
    ] = None,
    oidc_issuer: Annotated[
        str | None, typer.Option(help="OIDC issuer of the expected Sigstore identity.")
    ] = None,
) -> None:
    """Audit a model release and print the report."""
    from seewhy.audit import audit as run_audit

    try:
        report = run_audit(
            source,
            hash_files=hash_files,
            progress=_BarProgress(_err.is_terminal),
            signature_trust=_trust(public_key, certificate_chain, identity, oidc_issuer),
            raise_errors=_state["debug"],
        )
        _write(_render(report, fmt, output), output)
    except (SeewhyError, OSError) as exc:
        _fatal(exc)
    raise typer.Exit(report.exit_code(fail_on))


def _trust(
    public_key: Path | None,
    certificate_chain: list[Path] | None,
    identity: str | None,
    oidc_issuer: str | None,
) -> SignatureTrust | None:
    from seewhy.provenance import SignatureTrust

    if public_key is None and not certificate_chain and identity is None:
        return None
    if (identity is None) != (oidc_issuer is None):
        raise UsageError("--identity and --oidc-issuer go together")
    return SignatureTrust(
        public_key=public_key,
        certificate_chain=tuple(certificate_chain) if certificate_chain else None,
        identity=identity,
        oidc_issuer=oidc_issuer,
    )


def _render(report: Report, fmt: OutputFormat, output: Path | None) -> str:
    from seewhy.report.json_format import format_json
    from seewhy.report.markdown import format_markdown
    from seewhy.report.mof import format_mof
    from seewhy.report.osai import format_osai
    from seewhy.report.sarif import format_sarif
    from seewhy.report.text import format_text

    if fmt is OutputFormat.JSON:
        return format_json(report)
    if fmt is OutputFormat.MD:
        return format_markdown(report)
    if fmt is OutputFormat.SARIF:
        return format_sarif(report)
    if fmt is OutputFormat.MOF:
        return format_mof(report)
    if fmt is OutputFormat.OSAI:
        return format_osai(report)
    if fmt is OutputFormat.TEXT:
        color = output is None and sys.stdout.isatty()
        width = Console().width if color else 110
        return format_text(report, color=color, width=width)
    assert_never(fmt)


@app.command("license")
def license_(
    path: Annotated[str, typer.Argument(help="A license file, or a release folder.")],
) -> None:
    """Identify a license text (or every license statement of a release) and tag its clauses."""
    from pathlib import PurePosixPath

    from seewhy.analyzers.interface import AuditContext
    from seewhy.analyzers.license import describe, identify_bytes, release_licenses
    from seewhy.analyzers.license.identify import MAX_LICENSE_BYTES
    from seewhy.release import open_release

    try:
        release = open_release(path)
        if release.source_kind == "file":
            (file,) = release.files
            data = release.read_head(file, MAX_LICENSE_BYTES)
            matches = identify_bytes(
                data, PurePosixPath(file.path).name, truncated=file.size > MAX_LICENSE_BYTES
            )
        else:
            matches = release_licenses(release, AuditContext()).matches
        sys.stdout.write(describe(matches))
    except (SeewhyError, OSError) as exc:
        _fatal(exc)
    unknown = not matches or any(m.license_id is None for m in matches)
    raise typer.Exit(EXIT_INCONCLUSIVE if unknown else EXIT_OK)


class ManifestStyleChoice(StrEnum):
    """Styles of ``seewhy manifest``."""

    JSON = "json"
    SHA256SUM = "sha256sum"


@app.command()
def manifest(
    source: Annotated[str, typer.Argument(help="A model folder or a single file.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the manifest here.")
    ] = None,
    style: Annotated[
        ManifestStyleChoice,
        typer.Option("--style", help="json, or sha256sum lines for `sha256sum -c`."),
    ] = ManifestStyleChoice.JSON,
) -> None:
    """Write a sha256 digest manifest of every file of a release."""
    from seewhy.provenance import write_manifest
    from seewhy.release import open_release

    try:
        release = open_release(source)
        text = write_manifest(release, _BarProgress(_err.is_terminal), style=style.value)
        _write(text, output)
    except (SeewhyError, OSError) as exc:
        _fatal(exc)


@app.command()
def rules() -> None:
    """List every rule id with its severity and title."""
    from seewhy.report.rules import registry

    for rule in registry().rules:
        cwe = f" ({rule.cwe})" if rule.cwe else ""
        typer.echo(f"{rule.id}  {rule.severity.value:<8}  {rule.title}{cwe}")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the report."""
    from seewhy.report.json_format import report_schema

    sys.stdout.write(report_schema())


def main() -> None:
    """Console-script entry point."""
    app()
