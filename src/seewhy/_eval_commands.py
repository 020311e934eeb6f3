"""The evaluation commands: ``seewhy eval``, ``seewhy eval ingest|show|list``, ``seewhy compare``.

Registered on the root app by :mod:`seewhy._commands`. Everything heavy (the
evaluation engine, torch, transformers, httpx) is imported inside the
commands, so ``seewhy --help`` and ``seewhy eval --help`` stay fast.
``seewhy eval MODEL …`` is ``seewhy eval run MODEL …``: the group runs the
``run`` command when its first argument is not one of its subcommands.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from seewhy._commands import (
    EXIT_INCONCLUSIVE,
    EXIT_OK,
    DebugOption,
    HelpOption,
    _Command,
    _fatal,
    _Group,
    _write,
)
from seewhy.errors import SeewhyError, UsageError

if TYPE_CHECKING:
    from typer._click import Context

    from seewhy.analyzers.interface import Analyzer
    from seewhy.evaluation.model import Backend, ItemRecord, RunRecord
    from seewhy.evaluation.render import RunView
    from seewhy.evaluation.store import Store

EVAL_EXIT_CODES = """\b
Exit codes:
  0  every item was scored
  2  usage or input error: a bad option or task file, the eval extra missing,
     a model that cannot be loaded, a server that cannot be used, runs that
     cannot be compared (the message says why)
  3  inconclusive: some items could not be scored (errored); the rest are reported"""

EVAL_EPILOG = f"""\b
Examples:
  seewhy eval model.gguf --tasks arc_easy --limit 20
  seewhy eval ./hf-model --tasks gsm8k,hellaswag,mmlu --limit 200 --format md -o report.md
  seewhy eval model.gguf --tasks path/to/task.yaml --shots 5
  seewhy eval Qwen/Qwen2.5-7B --backend openai --base-url http://127.0.0.1:8000 \\
      --tasks gsm8k --concurrency 64
  seewhy eval show RUN --failing          # the failing items of a run, in full
  seewhy eval contamination model.gguf --tasks gsm8k --limit 100   # Min-K% probe
  seewhy eval ingest lm-eval-out/ logs/2025-01-01_task_x.eval

\b
Runs are stored (and resumed, and re-used) in the evaluation store:
--store PATH, else $SEEWHY_STORE, else ~/.local/share/seewhy/store.sqlite.
Text and Markdown list a few items of each kind; --format json carries every
item and is what `seewhy audit --evidence FILE` reads.

{EVAL_EXIT_CODES}"""

COMPARE_EPILOG = f"""\b
Examples:
  seewhy compare smollm2.gguf gemma.gguf --tasks arc_easy,hellaswag --limit 50
  seewhy compare RUN_A RUN_B             # stored runs (ids from `seewhy eval list`)
  seewhy compare lm-eval-out/model-a lm-eval-out/model-b --format md

\b
Each source is a stored run id, an lm-eval output folder or inspect log, a
seewhy JSON export, or a model to evaluate on --tasks now. Runs of the same
task are compared item by item: the paired difference with its standard
error and 95% interval, a paired bootstrap interval, McNemar's exact p
(Holm-adjusted over the pairs of a task), the items each model alone gets
right, and the slices where each fails. Runs of different task versions are
refused, with the reason.

{EVAL_EXIT_CODES}"""


class EvalFormat(StrEnum):
    """Output formats of the evaluation commands."""

    TEXT = "text"
    JSON = "json"
    MD = "md"


class BackendChoice(StrEnum):
    """``--backend``."""

    TRANSFORMERS = "transformers"
    OPENAI = "openai"


class _EvalGroup(_Group):
    """``seewhy eval MODEL …`` means ``seewhy eval run MODEL …``."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(
    name="eval",
    cls=_EvalGroup,
    help="Measure a model on benchmark tasks, with every item's evidence.",
    epilog=EVAL_EPILOG,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# The group's own -h/--help (typer's built-in one converts its None default
# through pydantic, as the root's comment in seewhy._commands explains).
@eval_app.callback(add_help_option=False)
def _eval_group(
    show_help: HelpOption = False,
) -> None:
    """Measure a model on benchmark tasks, with every item's evidence."""


# ------------------------------------------------------------------ options

StoreOption = Annotated[
    Path | None,
    typer.Option(
        "--store",
        metavar="PATH",
        help="The evaluation store (SQLite); default $SEEWHY_STORE or "
        "~/.local/share/seewhy/store.sqlite.",
        show_default=False,
    ),
]
FormatOption = Annotated[
    EvalFormat,
    typer.Option(
        "--format", "-f", metavar="FORMAT", case_sensitive=False, help="text, json or md."
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", metavar="FILE", help="Write here (its folder must exist)."),
]
ModelArgument = Annotated[
    str,
    typer.Argument(
        metavar="MODEL",
        help="A GGUF file or Hugging Face folder (transformers), or a served model id (openai).",
        show_default=False,
    ),
]
TasksOption = Annotated[
    str | None,
    typer.Option(
        "--tasks",
        "-t",
        metavar="TASKS",
        help="Comma-separated built-in task names (arc_easy, gsm8k, mmlu_anatomy …; safety: "
        "the safety probes) or task "
        "YAML paths.",
        show_default=False,
    ),
]
BackendOption = Annotated[
    BackendChoice,
    typer.Option(
        "--backend",
        "-b",
        metavar="BACKEND",
        case_sensitive=False,
        help="transformers (a local GGUF file or Hugging Face folder) or openai (an "
        "OpenAI-compatible server).",
    ),
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        metavar="URL",
        help="openai backend: the server (http://127.0.0.1:8000 or …/v1).",
        show_default=False,
    ),
]
ModelIdOption = Annotated[
    str | None,
    typer.Option(
        "--model-id",
        metavar="ID",
        help="openai backend: the model id to request (default: MODEL, or the server's only "
        "model).",
        show_default=False,
    ),
]
LimitOption = Annotated[
    int | None,
    typer.Option(
        "--limit",
        "-n",
        metavar="N",
        help="Evaluate N items per task, sampled stratified by slice with --seed.",
        show_default=False,
    ),
]
ShotsOption = Annotated[
    int | None,
    typer.Option(
        "--shots",
        "-k",
        metavar="K",
        help="Few-shot examples per prompt (default: the task's own).",
        show_default=False,
    ),
]
SeedOption = Annotated[
    int | None,
    typer.Option(
        "--seed",
        metavar="S",
        help="Seed of the item sample and few-shot choice (default 1234).",
        show_default=False,
    ),
]
ConcurrencyOption = Annotated[
    int,
    typer.Option("--concurrency", metavar="N", help="openai backend: requests in flight."),
]
BatchOption = Annotated[
    int,
    typer.Option("--batch-size", metavar="N", help="transformers backend: sequences per batch."),
]
DeviceOption = Annotated[
    str,
    typer.Option("--device", metavar="DEVICE", help="transformers backend: auto, cpu or cuda."),
]
DtypeOption = Annotated[
    str,
    typer.Option(
        "--dtype", metavar="DTYPE", help="transformers backend: float32, bfloat16 or float16."
    ),
]


# ------------------------------------------------------------------ helpers


def _open_store(path: Path | None) -> Store:
    from seewhy.evaluation.store import Store

    return Store(path)


@contextmanager
def _errors_exit() -> Iterator[None]:
    """SeewhyError and OSError → one line on stderr and exit 2."""
    try:
        yield
    except (SeewhyError, OSError) as exc:
        _fatal(exc)


def _task_names(tasks: str | None) -> list[str]:
    from seewhy.evaluation.safety.bundles import expand_task_names

    return expand_task_names(t.strip() for t in (tasks or "").split(",") if t.strip())


JudgeOption = Annotated[
    str | None,
    typer.Option(
        "--judge",
        metavar="URL",
        help="Safety probes: also ask this OpenAI-compatible server's model whether each "
        "response refuses (needs --judge-model).",
        show_default=False,
    ),
]
JudgeModelOption = Annotated[
    str | None,
    typer.Option("--judge-model", metavar="NAME", help="The judge's model id.", show_default=False),
]
ShowResponsesOption = Annotated[
    bool,
    typer.Option(
        "--show-responses",
        help="Safety probes: show full responses to harmful requests (default: a short excerpt).",
    ),
]


def _make_judge(url: str | None, model: str | None) -> Any:
    if url is None and model is None:
        return None
    if url is None or model is None:
        raise UsageError("--judge URL and --judge-model NAME go together")
    from seewhy.evaluation.safety.judge import Judge

    return Judge(url, model)


def _check_numbers(limit: int | None, shots: int | None, concurrency: int, batch: int) -> None:
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be at least 1, not {limit}")
    if shots is not None and shots < 0:
        raise UsageError(f"--shots cannot be negative ({shots})")
    if concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, not {concurrency}")
    if batch < 1:
        raise UsageError(f"--batch-size must be at least 1, not {batch}")


class _BackendSpec:
    """How to build the backend of a model (built one model at a time)."""

    def __init__(
        self,
        kind: BackendChoice,
        base_url: str | None,
        model_id: str | None,
        concurrency: int,
        batch_size: int,
        device: str,
        dtype: str,
    ) -> None:
        if kind is BackendChoice.TRANSFORMERS and (base_url or model_id):
            raise UsageError("--base-url and --model-id go with --backend openai")
        self.kind = kind
        self.base_url = base_url
        self.model_id = model_id
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.device = device
        self.dtype = dtype

    def build(self, model: str, store: Store) -> Backend:
        if self.kind is BackendChoice.OPENAI:
            from seewhy.evaluation.backends.openai_backend import OpenAIBackend

            base_url = self.base_url
            model_id: str | None = self.model_id or model
            if base_url is None:
                if not model.startswith(("http://", "https://")):
                    raise UsageError("--backend openai needs --base-url URL (or a URL as MODEL)")
                base_url, model_id = model, self.model_id
            return OpenAIBackend(base_url, model_id, concurrency=self.concurrency)
        from seewhy.evaluation.backends.transformers_backend import load

        return load(
            model,
            dtype=self.dtype,
            device=self.device,
            batch_size=self.batch_size,
            digest_cache=store,
        )


def _close(backend: object) -> None:
    close = getattr(backend, "close", None)
    if callable(close):
        close()


def _card_claims(model: str, card: Path | None) -> list[Any]:
    """Claims of ``--card``, or of MODEL/README.md when MODEL is a folder."""
    from seewhy.evaluation.claims import read_claims

    path = card
    if path is None:
        folder = Path(model).expanduser()
        if folder.is_dir() and (folder / "README.md").is_file():
            path = folder / "README.md"
    if path is None:
        return []
    if not path.is_file():
        raise UsageError(f"no such card file: {path}")
    return list(read_claims(path))


def _view(
    run: RunRecord, items: Sequence[ItemRecord], origin: str, claims: Sequence[Any]
) -> RunView:
    from seewhy.evaluation.analysis import analyze_run
    from seewhy.evaluation.claims import check_claims, task_benchmark
    from seewhy.evaluation.render import RunView

    verdicts = []
    if claims:
        benchmark = task_benchmark(run.task)
        relevant = [
            c
            for c in claims
            if c.benchmark is not None
            and (
                c.benchmark == benchmark
                or (c.benchmark == "arc_average" and benchmark in ("arc_easy", "arc_challenge"))
            )
        ]
        verdicts = check_claims(relevant, [run])
    return RunView(run, list(items), analyze_run(run, items), verdicts, origin)


def _render_eval(views: Sequence[RunView], fmt: EvalFormat, notes: Sequence[str]) -> str:
    from seewhy.evaluation.render import eval_json, eval_markdown, eval_text

    render: Callable[..., str] = {
        EvalFormat.TEXT: eval_text,
        EvalFormat.JSON: eval_json,
        EvalFormat.MD: eval_markdown,
    }[fmt]
    return render(views, notes=notes)


def _exit_code(views: Sequence[RunView]) -> int:
    return EXIT_INCONCLUSIVE if any(v.run.n_errors for v in views) else EXIT_OK


def evaluate_model(
    model: str,
    task_names: Sequence[str],
    spec: _BackendSpec,
    store: Store,
    *,
    limit: int | None,
    shots: int | None,
    seed: int | None,
    judge: Any = None,
) -> list[tuple[RunRecord, list[ItemRecord]]]:
    """Run every task on one model (tasks are loaded first, so a bad task fails fast).

    Safety probes learn from the backend whether the model has a chat template, and take
    ``judge`` (a :class:`seewhy.evaluation.safety.judge.Judge`) when given.
    """
    from seewhy.evaluation.runner import run_task
    from seewhy.evaluation.safety.tasks import SafetyTask
    from seewhy.evaluation.tasks import load_task

    tasks: list[Any] = [load_task(name, num_fewshot=shots) for name in task_names]
    backend = spec.build(model, store)
    try:
        out = []
        for task in tasks:
            if isinstance(task, SafetyTask):
                task = task.for_backend(backend).with_judge(judge)
            run = run_task(task, backend, store, limit=limit, seed=seed)
            out.append((run, store.items(run.run_id)))
        return out
    finally:
        _close(backend)
        del backend
        gc.collect()


# --------------------------------------------------------------------- eval


@eval_app.command("run", cls=_Command, epilog=EVAL_EPILOG)
def eval_run(
    model: ModelArgument,
    tasks: TasksOption = None,
    backend: BackendOption = BackendChoice.TRANSFORMERS,
    base_url: BaseUrlOption = None,
    model_id: ModelIdOption = None,
    limit: LimitOption = None,
    shots: ShotsOption = None,
    seed: SeedOption = None,
    concurrency: ConcurrencyOption = 8,
    batch_size: BatchOption = 8,
    device: DeviceOption = "auto",
    dtype: DtypeOption = "float32",
    card: Annotated[
        Path | None,
        typer.Option(
            "--card",
            metavar="FILE",
            help="Set this model card's claims beside the measurements (default: MODEL/README.md "
            "when MODEL is a folder).",
            show_default=False,
        ),
    ] = None,
    judge: JudgeOption = None,
    judge_model: JudgeModelOption = None,
    show_responses: ShowResponsesOption = False,
    store: StoreOption = None,
    fmt: FormatOption = EvalFormat.TEXT,
    output: OutputOption = None,
    debug: DebugOption = False,
) -> None:
    """Evaluate a model on tasks; show metrics, claims and where it fails."""
    from seewhy.evaluation.render import eval_json
    from seewhy.evaluation.safety.report import redact, safety_report_text, safety_summaries

    with _errors_exit():
        names = _task_names(tasks)
        if not names:
            raise UsageError("--tasks is required (for example --tasks arc_easy,gsm8k)")
        _check_numbers(limit, shots, concurrency, batch_size)
        spec = _BackendSpec(backend, base_url, model_id, concurrency, batch_size, device, dtype)
        claims = _card_claims(model, card)
        if output is not None:
            from seewhy._commands import _check_output_file

            _check_output_file(output)
        judged = _make_judge(judge, judge_model)
        with _open_store(store) as db:
            runs = evaluate_model(
                model, names, spec, db, limit=limit, shots=shots, seed=seed, judge=judged
            )
            notes = [f"store: {db.path}"]
        if judged is not None:
            judged.close()
        views = [
            _view(run, redact(items, show_responses=show_responses), "", claims)
            for run, items in runs
        ]
        if fmt is EvalFormat.JSON:
            summaries = safety_summaries(runs, show_responses=show_responses)
            text = eval_json(
                views, notes=notes, safety=[s.model_dump(mode="json") for s in summaries]
            )
        else:
            text = _render_eval(views, fmt, notes)
            text += safety_report_text(runs, show_responses=show_responses)
        _write(text, output)
    raise typer.Exit(_exit_code(views))


# ------------------------------------------------------------ contamination


@eval_app.command("contamination", cls=_Command)
def eval_contamination(
    model: ModelArgument,
    tasks: TasksOption = None,
    backend: BackendOption = BackendChoice.TRANSFORMERS,
    base_url: BaseUrlOption = None,
    model_id: ModelIdOption = None,
    limit: LimitOption = None,
    seed: SeedOption = None,
    k: Annotated[
        float,
        typer.Option("--k", metavar="K", help="Share of least likely tokens averaged (Min-K%)."),
    ] = 0.2,
    perturbation: Annotated[
        str,
        typer.Option(
            "--perturbation",
            metavar="SCHEME",
            help="The controls: numbers (each number replaced) or shuffle (words shuffled "
            "within sentences).",
        ),
    ] = "numbers",
    concurrency: ConcurrencyOption = 8,
    batch_size: BatchOption = 8,
    device: DeviceOption = "auto",
    dtype: DtypeOption = "float32",
    store: StoreOption = None,
    fmt: FormatOption = EvalFormat.TEXT,
    output: OutputOption = None,
    debug: DebugOption = False,
) -> None:
    """Probe for benchmark contamination: Min-K% Prob of items against perturbed copies."""
    from seewhy.evaluation.contamination import PERTURBATIONS, probe_json, probe_task, probe_text
    from seewhy.evaluation.tasks import DEFAULT_SEED, load_task

    with _errors_exit():
        names = _task_names(tasks)
        if not names:
            raise UsageError("--tasks is required (for example --tasks gsm8k)")
        _check_numbers(limit, None, concurrency, batch_size)
        if perturbation not in PERTURBATIONS:
            raise UsageError(f"--perturbation must be one of {', '.join(PERTURBATIONS)}")
        if not 0 < k <= 1:
            raise UsageError(f"--k must be in (0, 1], not {k}")
        if output is not None:
            from seewhy._commands import _check_output_file

            _check_output_file(output)
        loaded = [load_task(name, num_fewshot=0) for name in names]
        spec = _BackendSpec(backend, base_url, model_id, concurrency, batch_size, device, dtype)
        with _open_store(store) as db:  # the weights' digest cache
            built = spec.build(model, db)
            try:
                probes = [
                    probe_task(
                        task,
                        built,
                        limit=limit,
                        seed=DEFAULT_SEED if seed is None else seed,
                        k=k,
                        scheme=perturbation,
                    )
                    for task in loaded
                ]
                fingerprint = built.fingerprint()
            finally:
                _close(built)
        text = (probe_json if fmt is EvalFormat.JSON else probe_text)(probes, fingerprint)
        if fmt is EvalFormat.MD:
            text = f"```text\n{text}```\n"
        _write(text, output)
    raise typer.Exit(EXIT_INCONCLUSIVE if any(p.errors for p in probes) else EXIT_OK)


# ------------------------------------------------------------------- ingest


def _ingest(path: Path) -> list[tuple[RunRecord, list[ItemRecord], list[str]]]:
    """Runs of an lm-eval output folder or file, an inspect log, or a seewhy JSON export."""
    if _is_export(path):
        from seewhy.analyzers.performance.evidence import read_export

        return [(e.run, list(e.items), []) for e in read_export(path)]
    from seewhy.evaluation.ingest import ingest

    return [(r.run, list(r.items), list(r.notes)) for r in ingest(path)]


@eval_app.command("ingest", cls=_Command, epilog=EVAL_EPILOG)
def eval_ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(
            metavar="PATH",
            help="An lm-eval --output_path folder (or its results/samples files), an inspect "
            ".eval or .json log.",
            show_default=False,
        ),
    ],
    store: StoreOption = None,
    fmt: FormatOption = EvalFormat.TEXT,
    output: OutputOption = None,
    debug: DebugOption = False,
) -> None:
    """Read evaluation logs made elsewhere into the store, and analyse them."""
    with _errors_exit():
        if output is not None:
            from seewhy._commands import _check_output_file

            _check_output_file(output)
        views = []
        notes: list[str] = []
        with _open_store(store) as db:
            for path in paths:
                for run, items, run_notes in _ingest(path):
                    db.put_run(run)
                    db.put_items(
                        [(item, f"ingest:{run.run_id}:{n}", n) for n, item in enumerate(items)]
                    )
                    views.append(_view(run, items, f"from {path}", []))
                    notes += [f"{run.task}: {n}" for n in run_notes]
            notes.insert(0, f"store: {db.path} ({len(views)} run(s) ingested)")
        _write(_render_eval(views, fmt, notes), output)
    raise typer.Exit(_exit_code(views))


# --------------------------------------------------------------------- show


@eval_app.command("show", cls=_Command, epilog=EVAL_EPILOG)
def eval_show(
    run_ref: Annotated[
        str,
        typer.Argument(
            metavar="RUN",
            help="A stored run id (or 6+ of its first characters).",
            show_default=False,
        ),
    ],
    item: Annotated[
        list[str] | None,
        typer.Option("--item", "-i", metavar="ID", help="Show this item (repeatable)."),
    ] = None,
    failing: Annotated[
        bool, typer.Option("--failing", help="Only the items scored wrong.")
    ] = False,
    errored: Annotated[
        bool, typer.Option("--errored", help="Only the items that errored.")
    ] = False,
    show_responses: ShowResponsesOption = False,
    store: StoreOption = None,
    fmt: FormatOption = EvalFormat.TEXT,
    output: OutputOption = None,
    debug: DebugOption = False,
) -> None:
    """Show a stored run's items in full (all, failing, errored, or by id)."""
    from seewhy.analyzers.performance.evidence import find_run
    from seewhy.evaluation.analysis import is_right, primary_metric
    from seewhy.evaluation.render import eval_json, eval_markdown, item_text
    from seewhy.evaluation.safety.report import redact

    with _errors_exit():
        with _open_store(store) as db:
            run = find_run(db, run_ref)
            items = redact(db.items(run.run_id), show_responses=show_responses)
        metric = primary_metric(run, items)
        chosen = items
        if item:
            wanted = set(item)
            chosen = [i for i in items if i.item_id in wanted]
            missing = wanted - {i.item_id for i in chosen}
            if missing:
                raise UsageError(f"run {run.run_id} has no item {sorted(missing)[0]!r}")
        if failing:
            chosen = [
                i
                for i in chosen
                if i.error is None and metric in i.scores and not is_right(i, metric)
            ]
        if errored:
            chosen = [i for i in chosen if i.error is not None]
        view = _view(run, chosen, "", [])
        if fmt is EvalFormat.JSON:
            text = eval_json([view])
        elif fmt is EvalFormat.MD:
            text = eval_markdown([view])
        else:
            head = f"{run.task} on {run.model.id}: {len(chosen)} of {len(items)} item(s)\n"
            text = head + "".join("\n" + item_text(i) + "\n" for i in chosen)
        _write(text, output)


# --------------------------------------------------------------------- list


@eval_app.command("list", cls=_Command, epilog=EVAL_EPILOG)
def eval_list(
    task: Annotated[
        str | None, typer.Option("--task", metavar="TASK", help="Only runs of this task.")
    ] = None,
    store: StoreOption = None,
    debug: DebugOption = False,
) -> None:
    """List the stored runs: id, task, model, score, items."""
    from seewhy.evaluation.render import pct

    with _errors_exit(), _open_store(store) as db:
        runs = db.runs(task=task)
        lines = [f"{len(runs)} run(s) in {db.path}"]
        for run in runs:
            metric = next((m for m in run.metrics if m.metric == run.primary_metric), None)
            score = f"{run.primary_metric} {pct(metric.value)}" if metric else "no score"
            lines.append(
                f"{run.run_id}  {run.task:<18} {score:<16} n={run.n_items:<6} "
                f"{run.settings.num_fewshot}-shot  {run.model.id}  ({run.source}, {run.created_at})"
            )
        _write("\n".join(lines) + "\n", None)


# ------------------------------------------------------------------ compare


def _looks_like_model(path: Path) -> bool:
    if path.is_file():
        return path.suffix.lower() == ".gguf"
    return path.is_dir() and ((path / "config.json").is_file() or any(path.glob("*.gguf")))


def _is_export(path: Path) -> bool:
    if not (path.is_file() and path.suffix.lower() == ".json"):
        return False
    with path.open("rb") as handle:
        head = handle.read(4096)
    return b'"seewhy.eval"' in head


def resolve_sources(
    sources: Sequence[str],
    task_names: Sequence[str],
    spec: _BackendSpec,
    db: Store,
    *,
    limit: int | None,
    shots: int | None,
    seed: int | None,
) -> list[tuple[RunRecord, list[ItemRecord], str]]:
    """Every source as runs: a stored run, a JSON export, a log to ingest, or a model to run."""
    from seewhy.analyzers.performance.evidence import EvidenceError, find_run

    out: list[tuple[RunRecord, list[ItemRecord], str]] = []
    for source in sources:
        path = Path(source).expanduser()
        if (path.exists() and _looks_like_model(path)) or (
            spec.kind is BackendChoice.OPENAI and not path.exists()
        ):
            if not task_names:
                raise UsageError(f"{source} is a model: --tasks says what to evaluate it on")
            runs = evaluate_model(source, task_names, spec, db, limit=limit, shots=shots, seed=seed)
            out += [(run, items, "measured") for run, items in runs]
        elif path.exists():
            out += [(run, items, f"from {path}") for run, items, _ in _ingest(path)]
        else:
            try:
                run = find_run(db, source)
            except EvidenceError as exc:
                raise UsageError(
                    f"{source!r} is not a model file or folder, a log, an export or a stored run "
                    f"({exc})"
                ) from exc
            out.append((run, db.items(run.run_id), f"run {run.run_id}"))
    if task_names:
        from seewhy.evaluation.tasks import load_task

        # A task file's runs carry the name its spec gives, not the file's.
        wanted = {load_task(name, num_fewshot=shots).name for name in task_names}
        out = [r for r in out if r[0].task in wanted]
    return out


def compare(
    sources: Annotated[
        list[str],
        typer.Argument(
            metavar="SOURCE",
            help="Two or more: models to evaluate, stored run ids, logs or JSON exports.",
            show_default=False,
        ),
    ],
    tasks: TasksOption = None,
    backend: BackendOption = BackendChoice.TRANSFORMERS,
    base_url: BaseUrlOption = None,
    limit: LimitOption = None,
    shots: ShotsOption = None,
    seed: SeedOption = None,
    concurrency: ConcurrencyOption = 8,
    batch_size: BatchOption = 8,
    device: DeviceOption = "auto",
    dtype: DtypeOption = "float32",
    show_responses: ShowResponsesOption = False,
    store: StoreOption = None,
    fmt: FormatOption = EvalFormat.TEXT,
    output: OutputOption = None,
    debug: DebugOption = False,
) -> None:
    """Compare models side by side on the same items, with paired tests."""
    from seewhy.evaluation.compare import compare_runs, group_by_task
    from seewhy.evaluation.render import compare_json, compare_markdown, compare_text
    from seewhy.evaluation.safety.report import drift_report_text, drifts, redact

    with _errors_exit():
        if len(sources) < 2:
            raise UsageError("compare needs at least two sources")
        _check_numbers(limit, shots, concurrency, batch_size)
        spec = _BackendSpec(backend, base_url, None, concurrency, batch_size, device, dtype)
        if output is not None:
            from seewhy._commands import _check_output_file

            _check_output_file(output)
        with _open_store(store) as db:
            resolved = resolve_sources(
                sources, _task_names(tasks), spec, db, limit=limit, shots=shots, seed=seed
            )
            notes = [f"store: {db.path}"]
        groups = group_by_task(
            [(run, redact(items, show_responses=show_responses)) for run, items, _ in resolved]
        )
        comparisons = []
        for task, runs in groups.items():
            if len(runs) < 2:
                notes.append(f"{task}: only one run ({runs[0][0].model.id}); nothing to compare")
                continue
            comparisons.append(compare_runs(runs))
        if not comparisons:
            why = "; ".join(notes[1:]) or f"no source has a run of {tasks}"
            raise UsageError(f"no task has runs of two sources to compare: {why}")
        views = [
            _view(run, redact(items, show_responses=show_responses), origin, [])
            for run, items, origin in resolved
        ]
        if fmt is EvalFormat.JSON:
            probe_runs = [(run, items) for run, items, _ in resolved]
            text = compare_json(
                comparisons,
                views,
                notes=notes,
                safety_drift=[d.model_dump(mode="json") for d in drifts(probe_runs)],
            )
        elif fmt is EvalFormat.MD:
            text = compare_markdown(comparisons, notes=notes)
        else:
            text = compare_text(comparisons, notes=notes)
        if fmt is not EvalFormat.JSON:
            drift = drift_report_text([(run, items) for run, items, _ in resolved])
            text += f"```text{drift}```\n" if drift and fmt is EvalFormat.MD else drift
        _write(text, output)
    raise typer.Exit(_exit_code(views))


# -------------------------------------------------------------------- audit


def audit_analyzers(
    evidence: Sequence[str], store: Path | None, base: Sequence[Analyzer]
) -> list[Analyzer]:
    """The audit's analyzers plus the performance analyzer over ``--evidence`` runs."""
    from seewhy.analyzers.performance import load_evidence, with_evidence

    needs_store = any(not Path(ref).expanduser().is_file() for ref in evidence)
    if needs_store:
        with _open_store(store) as db:
            runs = load_evidence(evidence, db)
    else:
        runs = load_evidence(evidence, None)
    return with_evidence(base, runs)


def register(app: typer.Typer) -> None:
    """Add ``eval`` and ``compare`` to the root app."""
    app.add_typer(eval_app, name="eval")
    app.command("compare", cls=_Command, epilog=COMPARE_EPILOG)(compare)


__all__ = ["EvalFormat", "audit_analyzers", "eval_app", "register"]
