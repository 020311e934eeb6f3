"""The commands of ``seewhy`` (typer), imported by :func:`seewhy.cli.main`.

Heavy modules (pydantic models, analyzers, rich) are imported inside the
commands, so ``--help`` stays fast. Help is plain text with upper-case
metavars (``PATH``, ``SEVERITY``), never Python type names.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import sys
import traceback
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, assert_never

import typer
import typer.core

from seewhy.cli import (
    EXIT_FINDINGS,
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    EXIT_USAGE,
    VERSION_FLAGS,
    version_line,
)
from seewhy.errors import (
    ReleaseError,
    ReleaseNotFoundError,
    ReportError,
    SeewhyError,
    UsageError,
)

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID
    from typer._click import Context
    from typer._click.formatting import HelpFormatter

    from seewhy.provenance import SignatureTrust
    from seewhy.report.model import Report

# One table from exception class to the one line a user sees (most specific first).
ERROR_MESSAGES: dict[type[BaseException], Callable[[BaseException], str]] = {
    ReleaseNotFoundError: lambda e: f"{e}. Pass a model folder or a single weights file.",
    ReleaseError: str,
    ReportError: str,
    UsageError: str,
    SeewhyError: str,
    OSError: lambda e: f"{getattr(e, 'filename', '') or ''} {getattr(e, 'strerror', '') or e}",
}

# Exit codes from least to most severe: "the worst" of several sources.
_EXIT_ORDER = (EXIT_OK, EXIT_INCONCLUSIVE, EXIT_FINDINGS, EXIT_USAGE)

_state = {"debug": False}

EXIT_CODES_HELP = """\b
Exit codes:
  0  nothing at or above --fail-on, every file fully checked
  1  a finding at or above --fail-on (default: high)
  2  usage or input error (bad option, missing source, unwritable output)
  3  inconclusive: something could not be fully checked
  With several sources: the worst of them (2, then 1, then 3, then 0)."""

ROOT_EPILOG = f"""\b
Examples:
  seewhy audit ./my-model
  seewhy audit model.safetensors --format json -o report.json
  seewhy audit ./a ./b --format sarif -o reports/
  seewhy license ./my-model --format md
  seewhy rules SW-PKL-001
  seewhy eval model.gguf --tasks arc_easy,gsm8k --limit 50
  seewhy compare a.gguf b.gguf --tasks arc_easy --limit 100
  seewhy compare-releases ./a ./b --format html -o index.html

{EXIT_CODES_HELP}

Run 'seewhy COMMAND --help' for a command's options."""

AUDIT_EPILOG = f"""\b
Examples:
  seewhy audit ./my-model
  seewhy audit ~/.cache/huggingface/hub/models--org--name/snapshots/REV
  seewhy audit meta-llama/Llama-3.2-1B@main --format json
  seewhy audit model.gguf --fail-on medium --details
  seewhy audit ./a ./b --format json -o reports/
  seewhy audit --from repos.txt --jobs 4 --store audits.sqlite
  seewhy audit --from repos.txt --engine ray

\b
Batch mode (--from, --jobs or --engine): releases audited in parallel, each
report saved into the store (--store, default $SEEWHY_STORE), sources already
stored skipped (--force audits them again), a summary table at the end.

\b
Output: one report per source. --output FILE writes one report there (its
folder must exist); --output FOLDER (an existing folder) writes one file per
source, named after the release. Several sources to stdout need --format
text or md.

{EXIT_CODES_HELP}"""


# --------------------------------------------------------------------- help


class _Command(typer.core.TyperCommand):
    """Plain help: arguments by name, options with their metavars, no Python types."""

    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                pieces.append(_argument_name(param))
        return pieces

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        args: list[tuple[str, str]] = []
        opts: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                args.append((_argument_name(param), getattr(param, "help", None) or ""))
                continue
            record = param.get_help_record(ctx)
            if record is not None:
                opts.append(record)
        if args:
            with formatter.section("Arguments"):
                formatter.write_dl(args)
        if opts:
            with formatter.section("Options"):
                formatter.write_dl(opts)


class _Group(typer.core.TyperGroup):
    """The root: commands in the order they are defined."""

    def list_commands(self, ctx: Context) -> list[str]:
        return list(self.commands)


def _argument_name(param: object) -> str:
    metavar = getattr(param, "metavar", None) or str(getattr(param, "name", "ARG")).upper()
    return f"{metavar}..." if getattr(param, "nargs", 1) != 1 else metavar


app = typer.Typer(
    name="seewhy",
    cls=_Group,
    help="Audit an open AI model release: what is in it, with evidence for every finding.",
    epilog=ROOT_EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_DEBUG_HELP = "Show a traceback on errors (also accepted before the command)."


def _set_debug(value: bool) -> bool:
    if value:
        _state["debug"] = True
    return value


EvidenceStoreOption = Annotated[
    Path | None,
    typer.Option(metavar="PATH", help="The evaluation store --evidence run ids are read from."),
]
DebugOption = Annotated[
    bool, typer.Option("--debug", help=_DEBUG_HELP, callback=_set_debug, is_eager=True)
]
# Who must have signed model.sig (audit and check; turned into a trust by _trust).
PublicKeyOption = Annotated[
    Path | None,
    typer.Option(metavar="PEM", help="Verify model.sig against this public key (PEM)."),
]
CertificateChainOption = Annotated[
    list[Path] | None,
    typer.Option(
        metavar="PEM", help="Verify model.sig against this certificate chain (repeatable)."
    ),
]
IdentityOption = Annotated[
    str | None,
    typer.Option(
        metavar="IDENTITY", help="Expected Sigstore signer identity (needs --oidc-issuer)."
    ),
]
OidcIssuerOption = Annotated[
    str | None,
    typer.Option(metavar="URL", help="OIDC issuer of the expected Sigstore identity."),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit(EXIT_OK)


def _help(ctx: typer.Context, value: bool) -> None:
    if value:
        typer.echo(ctx.get_help())
        raise typer.Exit(EXIT_OK)


HelpOption = Annotated[
    bool,
    typer.Option(
        "-h",
        "--help",
        callback=_help,
        is_eager=True,
        expose_value=False,
        help="Show this message and exit.",
    ),
]
"""A group's own -h/--help (typer's built-in one converts its None default through pydantic)."""


# The root's own -h/--help: typer's built-in one defaults to None, and typer
# converts a None through pydantic, so every subcommand would import pydantic
# (even `seewhy audit --help`); a bool default is passed through as it is.
@app.callback(add_help_option=False)
def _root(
    version: Annotated[
        bool,
        typer.Option(*VERSION_FLAGS, callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    debug: DebugOption = False,
    show_help: HelpOption = False,
) -> None:
    """Audit an open AI model release: what is in it, with evidence for every finding."""


# ------------------------------------------------------------------ choices


class OutputFormat(StrEnum):
    """Output formats of ``seewhy audit``."""

    TEXT = "text"
    JSON = "json"
    MD = "md"
    SARIF = "sarif"
    MOF = "mof"
    OSAI = "osai"
    HTML = "html"
    CYCLONEDX = "cyclonedx"


# File name extensions when --output is a folder.
_EXTENSIONS = {
    OutputFormat.TEXT: "txt",
    OutputFormat.JSON: "json",
    OutputFormat.MD: "md",
    OutputFormat.SARIF: "sarif",
    OutputFormat.MOF: "mof.yaml",
    OutputFormat.OSAI: "osai.yaml",
    OutputFormat.HTML: "html",
    OutputFormat.CYCLONEDX: "cdx.json",
}


class FailOn(StrEnum):
    """Severities for ``--fail-on`` (the report's Severity, without importing pydantic)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class ColorChoice(StrEnum):
    """``--color``: auto (a terminal, and NO_COLOR unset), always or never."""

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


class LicenseFormat(StrEnum):
    """Output formats of ``seewhy license``."""

    TEXT = "text"
    JSON = "json"
    MD = "md"


class ManifestStyleChoice(StrEnum):
    """Styles of ``seewhy manifest``."""

    JSON = "json"
    SHA256SUM = "sha256sum"


# ------------------------------------------------------------------ helpers


def _error_line(exc: BaseException) -> str:
    for cls, render in ERROR_MESSAGES.items():
        if isinstance(exc, cls):
            return render(exc).strip()
    raise exc


def _report_error(exc: BaseException) -> None:
    """Print the one-line message for ``exc`` (and a traceback with --debug)."""
    if _state["debug"]:
        traceback.print_exception(exc)
    sys.stderr.write(f"seewhy: error: {_error_line(exc)}\n")
    if not _state["debug"]:
        sys.stderr.write("(run with --debug for a traceback)\n")
    sys.stderr.flush()


def _fatal(exc: BaseException) -> NoReturn:
    _report_error(exc)
    raise typer.Exit(EXIT_USAGE)


def _worst(codes: list[int]) -> int:
    return max(codes, key=_EXIT_ORDER.index, default=EXIT_OK)


def _use_color(choice: ColorChoice, to_terminal: bool) -> bool:
    """``--color``; ``auto`` honours NO_COLOR (https://no-color.org)."""
    if choice is ColorChoice.ALWAYS:
        return True
    if choice is ColorChoice.NEVER:
        return False
    return to_terminal and not os.environ.get("NO_COLOR")


class _BarProgress:
    """Draws a rich progress bar on stderr for long work (hashing)."""

    def __init__(self, enabled: bool, color: bool = True) -> None:
        self._enabled = enabled
        self._color = color
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None

    def start(self, description: str, total: int) -> None:
        if not self._enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True, highlight=False, no_color=not self._color),
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


def _check_output_file(output: Path) -> None:
    """An output file goes into an existing folder: a typo never creates folders."""
    parent = output.parent
    if not parent.is_dir():
        raise UsageError(f"cannot write {output}: folder {parent} does not exist")


def _write(text: str, output: Path | None) -> None:
    """Write to stdout, or to ``output`` and name it on stderr."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    _check_output_file(output)
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write {output}: {exc.strerror or exc}") from exc
    sys.stderr.write(f"wrote {output}\n")


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _report_path(folder: Path, name: str, fmt: OutputFormat, used: set[str]) -> Path:
    """``folder/<release name>.<ext>``, made unique among this run's files."""
    stem = _UNSAFE_NAME.sub("_", name).strip("._") or "release"
    candidate, n = f"{stem}.{_EXTENSIONS[fmt]}", 1
    while candidate in used:
        n += 1
        candidate = f"{stem}-{n}.{_EXTENSIONS[fmt]}"
    used.add(candidate)
    return folder / candidate


# -------------------------------------------------------------------- audit


@app.command(cls=_Command, epilog=AUDIT_EPILOG)
def audit(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="SOURCE",
            help="A model folder, a single weights file, or a Hugging Face Hub repository "
            "org/name[@revision] (read without downloading the weights; HF_TOKEN for gated "
            "repositories, HF_HUB_OFFLINE=1 to read the local cache). Several: one report each.",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            case_sensitive=False,
            help="text, json, md, sarif, mof (Model Openness Tool YAML), osai, html "
            "(one self-contained page) or cyclonedx (CycloneDX 1.6 ML-BOM).",
        ),
    ] = OutputFormat.TEXT,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="PATH",
            help="Write the report to this file, or one file per source into this folder.",
        ),
    ] = None,
    fail_on: Annotated[
        FailOn,
        typer.Option(
            "--fail-on",
            metavar="SEVERITY",
            case_sensitive=False,
            help="Exit 1 when a finding is at or above this severity: "
            "critical, high, medium, low or info.",
        ),
    ] = FailOn.HIGH,
    details: Annotated[
        bool,
        typer.Option("--details", help="Text format: every fact and finding, not the summary."),
    ] = False,
    color: Annotated[
        ColorChoice,
        typer.Option(
            "--color",
            metavar="WHEN",
            case_sensitive=False,
            help="Colour the text report: auto (a terminal, NO_COLOR unset), always or never.",
        ),
    ] = ColorChoice.AUTO,
    hash_files: Annotated[
        bool, typer.Option("--hash", help="Stream sha256 of every file (reads everything).")
    ] = False,
    file_timeout: Annotated[
        float | None,
        typer.Option(
            "--file-timeout",
            metavar="SECONDS",
            help="Time budget for analysing one file; past it the file is inconclusive.",
            show_default=False,
        ),
    ] = None,
    file_memory: Annotated[
        int | None,
        typer.Option(
            "--file-memory",
            metavar="MIB",
            help="Memory budget for analysing one file, in MiB; past it the file is inconclusive.",
            show_default=False,
        ),
    ] = None,
    public_key: PublicKeyOption = None,
    certificate_chain: CertificateChainOption = None,
    identity: IdentityOption = None,
    oidc_issuer: OidcIssuerOption = None,
    require_signature: Annotated[
        bool,
        typer.Option(
            "--require-signature",
            help="A release without model.sig is a high finding (exit 1). Checks presence "
            "and digests; add --public-key/--certificate-chain/--identity to check who signed.",
        ),
    ] = False,
    no_unsigned_files: Annotated[
        bool,
        typer.Option(
            "--no-unsigned-files",
            help="Files the signature does not cover are a high finding (exit 1), not medium; "
            "implies --require-signature.",
        ),
    ] = False,
    evidence: Annotated[
        list[str] | None,
        typer.Option(
            metavar="RUN",
            help="Check the card's claimed results against this measured run: a stored run id "
            "or a `seewhy eval --format json` file (repeatable).",
        ),
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="A seewhy store: --evidence run ids are read from it and each report is "
            "saved into it (browse them with `seewhy serve`).",
        ),
    ] = None,
    save: Annotated[
        bool,
        typer.Option(
            "--save", help="Save each report into the default store ($SEEWHY_STORE) or --store."
        ),
    ] = False,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from",
            metavar="FILE",
            help="Batch: audit the sources listed in FILE (one a line, # comments; - is stdin).",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", "-j", metavar="N", help="Batch: audit N releases at a time (default: CPUs)."
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            metavar="ENGINE",
            help="Batch: local (a process pool, the default) or ray (Ray tasks; RAY_ADDRESS).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            "--no-resume",
            help="Batch: audit again sources whose report is already in the store "
            "(default: resume, skipping them).",
        ),
    ] = False,
    debug: DebugOption = False,
) -> None:
    """Audit model releases and print one report per source."""
    sources = sources or []
    if from_file is not None or jobs is not None or engine is not None:
        try:
            from seewhy.batch import batch_command

            trust = _signature_policy(
                _trust(public_key, certificate_chain, identity, oidc_issuer),
                require_signature,
                no_unsigned_files,
            )
            code = batch_command(
                sources,
                from_file=from_file,
                jobs=jobs,
                engine=engine,
                force=force,
                store_path=store,
                fmt=fmt,
                output=output,
                threshold=fail_on.value,
                color=_use_color(color, True),
                hash_files=hash_files,
                options={"signature_trust": trust, **_limits(file_timeout, file_memory)},
                evidence=evidence,
            )
        except (SeewhyError, OSError) as exc:
            _fatal(exc)
        raise typer.Exit(code)
    analyzers = None
    saved_to = None
    try:
        if not sources:
            raise UsageError("missing SOURCE: a model folder, a weights file, or --from FILE")
        folder = _output_folder(sources, fmt, output)
        trust = _trust(public_key, certificate_chain, identity, oidc_issuer)
        trust = _signature_policy(trust, require_signature, no_unsigned_files)
        limits = _limits(file_timeout, file_memory)
        if evidence:
            from seewhy._eval_commands import audit_analyzers
            from seewhy.audit import default_analyzers

            analyzers = audit_analyzers(evidence, store, default_analyzers(trust))
        if store is not None or save:
            from seewhy.evaluation.store import Store

            saved_to = Store(store)  # opened (and upgraded) before any audit: errors exit 2
    except (SeewhyError, OSError) as exc:
        _fatal(exc)
    from seewhy.audit import audit as run_audit
    from seewhy.report.model import Severity

    threshold = Severity(fail_on.value)
    to_terminal = output is None and sys.stdout.isatty()
    use_color = _use_color(color, to_terminal)
    used: set[str] = set()
    codes: list[int] = []
    for n, source in enumerate(sources):
        try:
            report = run_audit(
                source,
                hash_files=hash_files,
                progress=_BarProgress(sys.stderr.isatty(), _use_color(color, True)),
                analyzers=analyzers,
                signature_trust=trust,
                raise_errors=_state["debug"],
                **limits,
            )
            if saved_to is not None:
                report_id = saved_to.put_report(report, source=source)
                sys.stderr.write(f"seewhy: saved {source} to {saved_to.path} as {report_id}\n")
            text = _render(report, fmt, color=use_color, details=details)
            if folder is not None:
                _write(text, _report_path(folder, report.release.name, fmt, used))
            else:
                _write(("\n" if n else "") + text, output)
        except (SeewhyError, OSError) as exc:
            _report_error(exc)
            codes.append(EXIT_USAGE)
            continue
        codes.append(report.exit_code(threshold))
    if saved_to is not None:
        saved_to.close()
    raise typer.Exit(_worst(codes))


def _output_folder(sources: list[str], fmt: OutputFormat, output: Path | None) -> Path | None:
    """The folder reports go into, or None for stdout / one named file (checked first)."""
    if output is None:
        if len(sources) > 1 and fmt not in (OutputFormat.TEXT, OutputFormat.MD):
            raise UsageError(
                f"several sources with --format {fmt.value} need --output FOLDER "
                "(one file per source)"
            )
        return None
    if output.is_dir():
        return output
    if len(sources) > 1:
        raise UsageError(f"with several sources, --output must be an existing folder: {output}")
    _check_output_file(output)
    return None


def _limits(file_timeout: float | None, file_memory: int | None) -> dict[str, Any]:
    """Per-file budgets as keyword arguments of :func:`seewhy.audit` (seconds, bytes)."""
    if file_timeout is not None and not file_timeout > 0:
        raise UsageError(f"--file-timeout must be a number of seconds above 0, not {file_timeout}")
    if file_memory is not None and file_memory < 1:
        raise UsageError(f"--file-memory must be at least 1 MiB, not {file_memory}")
    limits: dict[str, Any] = {}
    if file_timeout is not None:
        limits["file_timeout"] = file_timeout
    if file_memory is not None:
        limits["file_memory"] = file_memory * 1024 * 1024
    return limits


def _trust(
    public_key: Path | None,
    certificate_chain: list[Path] | None,
    identity: str | None,
    oidc_issuer: str | None,
) -> SignatureTrust | None:
    if public_key is None and not certificate_chain and identity is None:
        return None
    if (identity is None) != (oidc_issuer is None):
        raise UsageError("--identity and --oidc-issuer go together")
    from seewhy.provenance import SignatureTrust, check_trust

    trust = SignatureTrust(
        public_key=public_key,
        certificate_chain=tuple(certificate_chain) if certificate_chain else None,
        identity=identity,
        oidc_issuer=oidc_issuer,
    )
    check_trust(trust)  # the user's key, chain and the signing extra: exit 2, before any audit
    return trust


def _signature_policy(
    trust: SignatureTrust | None, require_signature: bool, no_unsigned_files: bool
) -> SignatureTrust | None:
    if not (require_signature or no_unsigned_files):
        return trust
    from dataclasses import replace

    from seewhy.provenance import SignatureTrust

    return replace(
        trust or SignatureTrust(),
        require_signature=require_signature,
        no_unsigned_files=no_unsigned_files,
    )


def _render(report: Report, fmt: OutputFormat, *, color: bool, details: bool) -> str:
    if fmt is OutputFormat.JSON:
        from seewhy.report.json_format import format_json

        return format_json(report)
    if fmt is OutputFormat.MD:
        from seewhy.report.markdown import format_markdown

        return format_markdown(report)
    if fmt is OutputFormat.SARIF:
        from seewhy.report.sarif import format_sarif

        return format_sarif(report)
    if fmt is OutputFormat.MOF:
        from seewhy.report.mof import format_mof

        return format_mof(report)
    if fmt is OutputFormat.OSAI:
        from seewhy.report.osai import format_osai

        return format_osai(report)
    if fmt is OutputFormat.HTML:
        from seewhy.report.html import format_html, read_card

        card = read_card(report, Path(report.metadata.source))
        return format_html(
            report, card=card[1] if card else None, card_path=card[0] if card else None
        )
    if fmt is OutputFormat.CYCLONEDX:
        from seewhy.report.cyclonedx import card_datasets, format_cyclonedx

        return format_cyclonedx(report, datasets=card_datasets(report))
    if fmt is OutputFormat.TEXT:
        from seewhy.report.text import format_text

        width = shutil.get_terminal_size((110, 24)).columns if color else 110
        return format_text(report, color=color, width=width, details=details)
    assert_never(fmt)


# ------------------------------------------------------------------ license

LICENSE_EPILOG = """\b
Examples:
  seewhy license LICENSE
  seewhy license ./my-model --format md
  seewhy license model.gguf --format json
  seewhy license LICENSE --explain

\b
Exit codes: 0 every statement identified; 3 a statement not identified, no
license found, or part of the release unreadable; 2 usage or input error."""


@app.command("license", cls=_Command, epilog=LICENSE_EPILOG)
def license_(
    path: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE",
            help="A license file, a GGUF file, a release folder, or a Hub repository "
            "org/name[@revision] (only its small files are fetched).",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        LicenseFormat,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            case_sensitive=False,
            help="text, json (the audit report's license facts and findings) or md.",
        ),
    ] = LicenseFormat.TEXT,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="For one license text: the nearest known licenses, the sentences that "
            "differ from the nearest canonical text, and why it was identified as it was.",
        ),
    ] = False,
    debug: DebugOption = False,
) -> None:
    """Identify licenses; quote restrictive clauses.

    Every license statement of a release (license files, the model card, GGUF
    metadata), or one license text, identified and with each restrictive
    clause quoted.
    """
    from seewhy._license_view import ExplainView, LicenseView, explain_view, license_view

    view: LicenseView | ExplainView
    try:
        view = explain_view(path) if explain else license_view(path)
        if fmt is LicenseFormat.JSON:
            text = view.json()
        elif fmt is LicenseFormat.MD:
            text = view.markdown()
        else:
            text = view.text()
        _write(text, None)
    except (SeewhyError, OSError) as exc:
        _fatal(exc)
    raise typer.Exit(EXIT_INCONCLUSIVE if view.inconclusive else EXIT_OK)


# ----------------------------------------------------------------- manifest


@app.command(cls=_Command)
def manifest(
    source: Annotated[
        str,
        typer.Argument(
            metavar="SOURCE", help="A model folder or a single file.", show_default=False
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write the manifest here (folder must exist)."
        ),
    ] = None,
    style: Annotated[
        ManifestStyleChoice,
        typer.Option(
            "--style",
            metavar="STYLE",
            case_sensitive=False,
            help="json, or sha256sum lines for `sha256sum -c`.",
        ),
    ] = ManifestStyleChoice.JSON,
    debug: DebugOption = False,
) -> None:
    """Write a sha256 digest manifest of every file of a release."""
    try:
        if output is not None:
            _check_output_file(output)
        from seewhy.provenance import write_manifest
        from seewhy.release import open_release

        release = open_release(source)
        text = write_manifest(release, _BarProgress(sys.stderr.isatty()), style=style.value)
        _write(text, output)
    except (SeewhyError, OSError) as exc:
        _fatal(exc)


# -------------------------------------------------------------------- rules


@app.command(cls=_Command)
def rules(
    rule_id: Annotated[
        str | None,
        typer.Argument(
            metavar="RULE_ID",
            help="Print this rule's full help (for example SW-PKL-001).",
            show_default=False,
        ),
    ] = None,
    debug: DebugOption = False,
) -> None:
    """List every rule, or explain one.

    Without RULE_ID: every rule id with its severity and title. With RULE_ID:
    that rule's severity, the problem codes it covers and its full help.
    """
    from seewhy.report.rules import registry

    reg = registry()
    if rule_id is None:
        for each in reg.rules:
            cwe = f" ({each.cwe})" if each.cwe else ""
            typer.echo(f"{each.id}  {each.severity.value:<8}  {each.title}{cwe}")
        return
    wanted = _rule_id(rule_id)
    rule = reg.find(wanted)
    if rule is None:
        ids = [r.id for r in reg.rules]
        near = difflib.get_close_matches(wanted, ids, n=3, cutoff=0.6)
        hint = f"; nearest: {', '.join(near)}" if near else "; run 'seewhy rules' for the list"
        sys.stderr.write(f"seewhy: error: no rule {rule_id!r}{hint}\n")
        raise typer.Exit(EXIT_USAGE)
    lines = [
        f"{rule.id}  {rule.title}",
        f"severity: {rule.severity.value} · confidence: {rule.confidence.value} · "
        f"analyzer: {rule.analyzer}" + (f" · {rule.cwe}" if rule.cwe else ""),
    ]
    if rule.problems:
        lines.append(f"problem codes: {', '.join(rule.problems)}")
    lines += ["", rule.help]
    typer.echo("\n".join(lines))


_RULE_ID = re.compile(r"([A-Z]+-[A-Z]+-)0*(\d+)")


def _rule_id(text: str) -> str:
    """``sw-pkl-1`` → ``SW-PKL-001``: case and zero padding do not matter."""
    wanted = text.strip().upper()
    m = _RULE_ID.fullmatch(wanted)
    return f"{m.group(1)}{int(m.group(2)):03d}" if m else wanted


# ------------------------------------------------------------------- schema


@app.command(cls=_Command)
def schema(debug: DebugOption = False) -> None:
    """Print the JSON Schema of the report."""
    from seewhy.report.json_format import report_schema

    sys.stdout.write(report_schema())


# ------------------------------------------------- evaluation, comparison

_registered: list[bool] = []


def build_app() -> typer.Typer:
    """The whole command line: the commands above, evaluation and release comparison.

    Those command modules import helpers from this one, so they are added
    here, once this module has loaded (never while it loads: importing either
    of them first would otherwise meet this module half-initialised).
    """
    if not _registered:
        from seewhy._check_command import register as register_check
        from seewhy._compare_releases import register as register_compare_releases
        from seewhy._eval_commands import register as register_eval
        from seewhy._serve_command import register as register_serve

        register_eval(app)
        register_compare_releases(app)
        register_check(app)
        register_serve(app)
        _registered.append(True)
    return app
