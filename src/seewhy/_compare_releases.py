"""``seewhy compare-releases``: audited releases side by side (see :mod:`seewhy.report.comparison`).

``seewhy compare`` compares models' evaluation runs; this command compares
whole releases: verdicts, licenses, openness grids, facts, and, with
``--evidence``, the scores of their measured runs with paired differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from seewhy._commands import (
    EXIT_OK,
    DebugOption,
    EvidenceStoreOption,
    _check_output_file,
    _Command,
    _fatal,
    _state,
    _write,
)
from seewhy.errors import SeewhyError, UsageError

if TYPE_CHECKING:
    from seewhy.evaluation.compare import TaskComparison
    from seewhy.report.model import Report

MAX_REPORT_BYTES = 256 * 1024 * 1024
"""Largest ``seewhy audit --format json`` file read as a report."""

EPILOG = """\b
Examples:
  seewhy compare-releases ./llama ./gemma ./qwen --format html -o compare.html
  seewhy compare-releases reports/a.json reports/b.json --format md
  seewhy compare-releases ./a ./b --evidence RUN_A --evidence RUN_B -f html -o cmp.html

\b
SOURCE is a model folder or weights file (audited now) or the JSON report of
an earlier `seewhy audit --format json`. With --evidence (stored run ids or
`seewhy eval --format json` files), each task measured on two or more models
gets its scores and paired differences; `seewhy compare` compares models'
runs alone.

\b
Exit codes: 0 the comparison was written; 2 usage or input error."""


class CompareFormat(StrEnum):
    """Output formats of ``seewhy compare-releases``."""

    HTML = "html"
    MD = "md"
    JSON = "json"


def load_report(source: str) -> Report | None:
    """The report in ``source`` when it is a ``.json`` file, else None (a release to audit)."""
    from seewhy.errors import ReportError
    from seewhy.report.model import Report

    path = Path(source).expanduser()
    if path.suffix.lower() != ".json" or not path.is_file():
        return None
    with path.open("rb") as fh:
        data = fh.read(MAX_REPORT_BYTES + 1)
    if len(data) > MAX_REPORT_BYTES:
        raise ReportError(f"{source}: larger than {MAX_REPORT_BYTES} bytes; not read as a report")
    try:
        return Report.model_validate_json(data)
    except ValueError as exc:
        first = str(exc).splitlines()[0]
        raise ReportError(
            f"{source} is not a seewhy report ({first}); pass a release folder or the "
            "output of `seewhy audit --format json`"
        ) from exc


def task_comparisons(
    evidence: Sequence[str], store: Path | None
) -> tuple[list[TaskComparison], list[str]]:
    """Every task measured on two or more models, compared; notes for the others."""
    from seewhy.analyzers.performance.evidence import load_evidence
    from seewhy.evaluation.compare import IncomparableRunsError, compare_runs, group_by_task

    if any(not Path(ref).expanduser().is_file() for ref in evidence):
        from seewhy.evaluation.store import Store

        with Store(store) as db:
            runs = load_evidence(evidence, db)
    else:
        runs = load_evidence(evidence, None)
    groups = group_by_task([(r.run, r.items) for r in runs])
    out: list[TaskComparison] = []
    notes: list[str] = []
    for task, pairs in groups.items():
        if len(pairs) < 2:
            notes.append(
                f"{task}: only one run ({pairs[0][0].model.id}); no other model to pair it with"
            )
            continue
        try:
            out.append(compare_runs(pairs))
        except IncomparableRunsError as exc:
            notes.append(f"{task}: not compared: {exc}")
    if not out:
        notes.append(
            "The runs share no task measured on two models: there are no paired scores to show."
        )
    return out, notes


def compare_releases(
    sources: Annotated[
        list[str],
        typer.Argument(
            metavar="SOURCE",
            help="Model folders, weights files or `seewhy audit --format json` reports.",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        CompareFormat,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            case_sensitive=False,
            help="html (one self-contained page), md or json.",
        ),
    ] = CompareFormat.HTML,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write here (folder must exist), not stdout."
        ),
    ] = None,
    evidence: Annotated[
        list[str] | None,
        typer.Option(
            metavar="RUN",
            help="A measured run: a stored run id or a `seewhy eval --format json` file "
            "(repeatable); tasks run on two or more models are compared item by item.",
        ),
    ] = None,
    store: EvidenceStoreOption = None,
    debug: DebugOption = False,
) -> None:
    """Compare audited releases side by side: verdicts, licenses, openness, scores."""
    try:
        if output is not None:
            _check_output_file(output)
        if not sources:
            raise UsageError("compare-releases needs at least one SOURCE")
        tasks, notes = task_comparisons(evidence, store) if evidence else ([], [])
        reports = []
        for source in sources:
            report = load_report(source)
            if report is None:
                from seewhy.audit import audit

                report = audit(source, raise_errors=_state["debug"])
            reports.append(report)
        text = render(reports, fmt, tasks=tasks, notes=notes)
        _write(text, output)
    except (SeewhyError, OSError) as exc:
        _fatal(exc)
    raise typer.Exit(EXIT_OK)


def render(
    reports: Sequence[Report],
    fmt: CompareFormat,
    *,
    tasks: Sequence[TaskComparison] = (),
    notes: Sequence[str] = (),
    hrefs: Sequence[str | None] | None = None,
) -> str:
    """The comparison of ``reports`` in ``fmt``."""
    from seewhy._version import __version__
    from seewhy.report import comparison

    view = comparison.build_comparison(reports, tasks=tasks, task_notes=notes, hrefs=hrefs)
    if fmt is CompareFormat.JSON:
        return comparison.format_json(view)
    if fmt is CompareFormat.MD:
        return comparison.format_markdown(view)
    return comparison.format_html(view, version=__version__)


def register(app: typer.Typer) -> None:
    """Add ``compare-releases`` to the root app."""
    app.command("compare-releases", cls=_Command, epilog=EPILOG)(compare_releases)


__all__ = ["CompareFormat", "load_report", "register", "render", "task_comparisons"]
