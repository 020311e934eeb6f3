"""Command-line conventions, each checked on the real ``seewhy`` process."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from seewhy._version import __version__


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seewhy", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def bad_safetensors(folder: Path, name: str = "w.safetensors") -> Path:
    """A safetensors file whose tensor claims 4 bytes of F32 for 2 values: a high finding."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    header = b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}'
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\x00" * 4)
    return path


# ------------------------------------------------------------------ version


@pytest.mark.parametrize("args", [["-V"], ["--version"], ["--debug", "--version"]])
def test_version_flags(args: list[str]) -> None:
    out = run(*args)
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"seewhy {__version__}\n"


_PROBE = """
import sys
from seewhy.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = ("typer", "rich", "pydantic", "seewhy.audit", "seewhy.analyzers", "seewhy.report.model")
print("LOADED", [m for m in heavy if m in sys.modules], file=sys.stderr)
"""


def _loaded(*args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, check=True
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith("LOADED "))
    loaded: list[str] = json.loads(line.removeprefix("LOADED ").replace("'", '"'))
    return loaded


def test_version_imports_neither_typer_nor_the_audit_stack() -> None:
    assert _loaded("--version") == []
    assert _loaded("-V") == []


def test_help_imports_neither_pydantic_nor_the_analyzers() -> None:
    assert _loaded("--help") == ["typer"]
    assert _loaded("audit", "--help") == ["typer"]


def test_import_seewhy_is_lazy_and_the_public_names_work() -> None:
    code = (
        "import sys, seewhy\n"
        "assert 'pydantic' not in sys.modules, 'import seewhy pulled in pydantic'\n"
        "import seewhy.audit\n"  # the submodule: seewhy.audit must stay the function
        "from seewhy import Report, Severity, audit\n"
        "assert callable(audit) and audit.__name__ == 'audit', audit\n"
        "assert seewhy.audit is audit\n"
        "assert Severity('high') is Severity.HIGH and Report.__name__ == 'Report'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------- help


_PY_TYPE = re.compile(r"<(bool|str|int|float|path|list\[.*?\]|[a-z|]+)>|list\[")


@pytest.mark.parametrize("args", [[], ["audit"], ["license"], ["manifest"], ["rules"], ["schema"]])
def test_help_short_and_long_without_python_type_names(args: list[str]) -> None:
    long, short = run(*args, "--help"), run(*args, "-h")
    assert long.returncode == 0, long.stderr
    assert short.stdout == long.stdout
    assert not _PY_TYPE.search(long.stdout), long.stdout
    assert "Usage: seewhy" in long.stdout


def test_help_shows_examples_and_exit_codes() -> None:
    for args in ([], ["audit"]):
        text = run(*args, "--help").stdout
        assert "Examples:" in text
        assert "Exit codes:" in text
        for code in ("0 ", "1 ", "2 ", "3 "):
            assert f"\n    {code}" in text or f"\n  {code}" in text, text
    audit_help = run("audit", "--help").stdout
    for metavar in ("--output PATH", "--fail-on SEVERITY", "--format FORMAT", "--color WHEN"):
        assert metavar in audit_help


def test_help_is_the_same_whether_or_not_typer_may_use_rich() -> None:
    plain = run("audit", "--help", env={**os.environ, "TYPER_USE_RICH": "0"})
    rich = run("audit", "--help", env={**os.environ, "TYPER_USE_RICH": "1"})
    assert plain.stdout == rich.stdout
    assert not _PY_TYPE.search(rich.stdout)


# -------------------------------------------------------------------- debug


def test_debug_after_the_command_is_accepted(tmp_path: Path) -> None:
    out = run("audit", str(tmp_path / "nope"), "--debug")
    assert out.returncode == 2
    assert "No such option" not in out.stderr
    assert "Traceback" in out.stderr
    assert "seewhy: error: no such file or folder" in out.stderr
    before = run("--debug", "audit", str(tmp_path / "nope"))
    assert before.returncode == 2 and "Traceback" in before.stderr
    plain = run("audit", str(tmp_path / "nope"))
    assert "Traceback" not in plain.stderr and "--debug" in plain.stderr


# -------------------------------------------------------------------- color


def _run_on_tty(args: list[str], env: dict[str, str]) -> str:
    """Run seewhy with stdout on a pseudo-terminal; return what it printed."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "seewhy", *args],
            stdout=follower,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        proc.wait(timeout=120)
    finally:
        os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def test_color_auto_always_never_and_no_color(tmp_path: Path) -> None:
    target = bad_safetensors(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    assert "\x1b[" in _run_on_tty(["audit", str(target)], env)
    assert "\x1b[" not in _run_on_tty(["audit", str(target)], {**env, "NO_COLOR": "1"})
    assert "\x1b[" not in _run_on_tty(["audit", str(target), "--color", "never"], env)
    # piped: no colour unless asked; an explicit --color always wins over NO_COLOR
    assert "\x1b[" not in run("audit", str(target), env=env).stdout
    forced = run("audit", str(target), "--color", "ALWAYS", env={**env, "NO_COLOR": "1"})
    assert "\x1b[" in forced.stdout


# ------------------------------------------------------------------ fail-on


def test_fail_on_is_case_insensitive(tmp_path: Path) -> None:
    target = bad_safetensors(tmp_path)
    assert run("audit", str(target), "--fail-on", "HIGH").returncode == 1
    assert run("audit", str(target), "--fail-on", "Critical").returncode == 0
    assert run("audit", str(target), "--format", "JSON").returncode == 1
    assert run("audit", str(target), "--fail-on", "severe").returncode == 2


# -------------------------------------------------------------------- rules


def test_rules_id_prints_the_full_help() -> None:
    from seewhy.report.rules import registry

    rule = registry().get("SW-PKL-001")
    out = run("rules", "SW-PKL-001")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"SW-PKL-001  {rule.title}\n")
    assert rule.help in out.stdout
    assert f"severity: {rule.severity.value}" in out.stdout
    assert run("rules", "sw-pkl-1").stdout == out.stdout


def test_rules_unknown_id_is_exit_2_with_the_nearest_ids() -> None:
    out = run("rules", "SW-PKL-9999")
    assert out.returncode == 2
    assert out.stdout == ""
    assert "no rule 'SW-PKL-9999'" in out.stderr
    assert "nearest: SW-PKL-" in out.stderr


# ------------------------------------------------------------ several sources


def test_several_sources_one_report_each_exit_is_the_worst(
    example_release: Path, tmp_path: Path
) -> None:
    bad = bad_safetensors(tmp_path / "bad")
    out = run("audit", str(example_release), str(bad))
    assert out.returncode == 1, out.stderr
    assert "tiny-llama" in out.stdout and "w.safetensors" in out.stdout
    alone = run("audit", str(example_release))
    assert alone.returncode == 0
    missing = run("audit", str(example_release), str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "tiny-llama" in missing.stdout  # the other source is still audited
    assert "no such file or folder" in missing.stderr


def test_several_sources_machine_formats_need_an_output_folder(
    example_release: Path, tmp_path: Path
) -> None:
    bad = bad_safetensors(tmp_path / "bad")
    refused = run("audit", str(example_release), str(bad), "--format", "json")
    assert refused.returncode == 2
    assert "--output FOLDER" in refused.stderr
    assert refused.stdout == ""
    reports = tmp_path / "reports"
    reports.mkdir()
    out = run("audit", str(example_release), str(bad), "-f", "json", "-o", str(reports))
    assert out.returncode == 1, out.stderr
    written = sorted(p.name for p in reports.iterdir())
    assert written == ["tiny-llama.json", "w.safetensors.json"]
    for name in written:
        assert f"wrote {reports / name}" in out.stderr
        json.loads((reports / name).read_text())
    not_a_folder = run("audit", str(example_release), str(bad), "-o", str(tmp_path / "r.md"))
    assert not_a_folder.returncode == 2
    assert "must be an existing folder" in not_a_folder.stderr


# ------------------------------------------------------------------ output


def test_output_into_a_missing_folder_is_an_error(example_release: Path, tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "report.json"
    out = run("audit", str(example_release), "-f", "json", "-o", str(target))
    assert out.returncode == 2
    assert f"folder {target.parent} does not exist" in out.stderr
    assert not (tmp_path / "no").exists()
    manifest = run("manifest", str(example_release), "-o", str(target))
    assert manifest.returncode == 2
    assert not (tmp_path / "no").exists()


def test_written_file_is_named_on_stderr(example_release: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    out = run("audit", str(example_release), "-f", "json", "-o", str(target))
    assert out.returncode == 0, out.stderr
    assert out.stdout == ""
    assert out.stderr.strip().splitlines()[-1] == f"wrote {target}"
    assert json.loads(target.read_text())["release"]["name"] == "tiny-llama"


# ------------------------------------------------------------------ details


def test_details_shows_more_than_the_summary(example_release: Path) -> None:
    short = run("audit", str(example_release))
    full = run("audit", str(example_release), "--details")
    assert short.returncode == full.returncode == 0
    assert "--details shows" in short.stdout
    assert "--details shows" not in full.stdout
    assert len(full.stdout) > len(short.stdout)


# ------------------------------------------------------------------ budgets


def test_file_memory_budget_makes_a_big_header_inconclusive_and_is_recorded(
    tmp_path: Path,
) -> None:
    """`--file-memory 1`: a benign 4 MiB safetensors header cannot be parsed in 1 MiB."""
    folder = tmp_path / "big"
    folder.mkdir()
    tensors = {
        f"layer.{i}.weight": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}
        for i in range(60_000)
    }
    header = json.dumps(tensors).encode()
    assert len(header) > 4 << 20
    (folder / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    out_file = tmp_path / "report.json"
    out = run("audit", str(folder), "--file-memory", "1", "--format", "json", "-o", str(out_file))
    assert out.returncode == 3, out.stderr
    report = json.loads(out_file.read_text())
    assert report["metadata"]["options"]["file_memory_bytes"] == 1 << 20
    verdict = next(v for v in report["verdicts"] if v["topic"] == "load_safety")
    assert verdict["value"] == "inconclusive"
    steps = next(c for c in report["coverage"] if c["path"] == "model.safetensors")["steps"]
    assert any("memory" in s["detail"] for s in steps), steps
    assert not any(f["severity"] in ("high", "critical") for f in report["findings"])
    # The same file within the default budget parses.
    out = run("audit", str(folder), "--format", "json", "-o", str(out_file))
    assert out.returncode == 0, out.stderr


def test_budget_options_are_validated(tmp_path: Path) -> None:
    for args in (["--file-timeout", "0"], ["--file-memory", "0"]):
        out = run("audit", str(tmp_path), *args)
        assert out.returncode == 2, (args, out.stderr)
        assert "must be" in out.stderr


@pytest.mark.parametrize("module", ["seewhy._eval_commands", "seewhy._compare_releases"])
def test_command_modules_import_on_their_own(module: str) -> None:
    """Each command module imports first without meeting the CLI half-initialised."""
    out = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr


def test_root_help_lists_evaluation_and_comparison() -> None:
    out = run("--help")
    assert out.returncode == 0
    for command in ("eval", "compare", "compare-releases"):
        assert f"  {command} " in out.stdout
