"""Batch audits (`seewhy audit --from FILE --jobs N`, seewhy.batch) as real processes:
a failing release and a worker killed mid-audit are isolated, a batch killed half-way
resumes from the store, progress is counted on stderr, the summary table lists every
release, and `--engine ray` runs the same work on a local Ray instance."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from builders import sparse_safetensors
from seewhy.batch import read_sources
from seewhy.evaluation.store import Store

ROOT = Path(__file__).resolve().parents[1]
APACHE = ROOT.parent / "shared" / "corpus" / "licenses" / "apache__2.0.txt"


def release(root: Path, seed: int = 0) -> Path:
    """A small real release: safetensors weights, an Apache-2.0 card and LICENSE."""
    root.mkdir(parents=True)
    values = np.full((4, 4), seed, dtype=np.float32)
    save_file({"w": values}, str(root / "model.safetensors"))
    shutil.copyfile(APACHE, root / "LICENSE")
    (root / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny\n", encoding="utf-8")
    return root


def seewhy(*args: str | Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "seewhy", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=_env(),
    )


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SEEWHY_STORE", None)
    env.pop("RAY_ADDRESS", None)
    return env


def rows(stdout: str) -> dict[str, list[str]]:
    """The summary table: source -> [openness, load safety, worst finding, status]."""
    lines = stdout.splitlines()
    assert lines[0].split()[0] == "SOURCE", stdout
    out: dict[str, list[str]] = {}
    for line in lines[1:-1]:
        cells = re.split(r"\s{2,}", line.strip(), maxsplit=4)
        out[cells[0]] = cells[1:]
    return out


def test_read_sources_skips_blank_lines_and_comments(tmp_path: Path) -> None:
    listing = tmp_path / "repos.txt"
    listing.write_text(
        "# releases to vet\n\norg/a\n  org/b  # the fine-tune\n./local folder/x\n\t# gone\n",
        encoding="utf-8",
    )
    assert read_sources(listing) == ["org/a", "org/b", "./local folder/x"]


def test_one_bad_release_is_isolated_and_the_summary_lists_every_one(tmp_path: Path) -> None:
    good = [release(tmp_path / f"good-{i}", i) for i in range(3)]
    broken = release(tmp_path / "broken-gguf")
    (broken / "extra.gguf").write_bytes(b"GGUF\x03\x00\x00\x00garbage")
    missing = tmp_path / "not-there"
    listing = tmp_path / "repos.txt"
    listing.write_text(
        "\n".join(["# five", str(good[0]), str(missing), str(broken), str(good[1])]) + "\n",
        encoding="utf-8",
    )
    store = tmp_path / "s.sqlite"
    out = seewhy("audit", "--from", listing, str(good[2]), "--jobs", "2", "--store", store)
    assert out.returncode == 2, out.stderr  # the missing source: an input error
    table = rows(out.stdout)
    # SOURCE arguments first, then the --from file's sources in its order.
    assert list(table) == [str(good[2]), str(good[0]), str(missing), str(broken), str(good[1])]
    for g in good:
        assert table[str(g)] == ["open-weights", "safe", "none", "audited"]
    assert table[str(broken)][1:] == ["unsafe", "high SW-GGUF-001", "audited"]
    assert table[str(missing)][3].startswith("error: no such file or folder")
    assert out.stdout.splitlines()[-1].startswith("5 release(s): 4 audited, 1 error")
    # Progress: a counter line per release on stderr (not a terminal here).
    counters = re.findall(r"^seewhy: \[(\d+)/5\] (\w+) ", out.stderr, flags=re.M)
    assert sorted(int(n) for n, _ in counters) == [1, 2, 3, 4, 5]
    with Store(store, read_only=True) as db:
        assert {s.source for s in db.report_summaries()} == {str(g) for g in [*good, broken]}


def test_a_second_run_skips_stored_releases_and_force_redoes_them(tmp_path: Path) -> None:
    first = [release(tmp_path / f"r{i}", i) for i in range(3)]
    store = tmp_path / "s.sqlite"
    out = seewhy("audit", *first, "--jobs", "2", "--store", store)
    assert out.returncode == 0, out.stderr
    added = release(tmp_path / "r3", 3)
    again = seewhy("audit", *first, added, "--jobs", "2", "--store", store)
    assert again.returncode == 0, again.stderr
    assert "4 release(s), 3 already in the store (skipped)" in again.stderr
    table = rows(again.stdout)
    assert [table[str(r)][3] for r in first] == ["stored (skipped)"] * 3
    assert table[str(added)] == ["open-weights", "safe", "none", "audited"]
    forced = seewhy("audit", *first, "--jobs", "1", "--store", store, "--force")
    assert [c[3] for c in rows(forced.stdout).values()] == ["audited"] * 3


def test_output_folder_gets_every_report_and_json_gives_the_summary(tmp_path: Path) -> None:
    sources = [release(tmp_path / f"o{i}", i) for i in range(2)]
    folder = tmp_path / "reports"
    folder.mkdir()
    store = tmp_path / "s.sqlite"
    out = seewhy("audit", *sources, "-j", "2", "-f", "json", "-o", folder, "--store", store)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["o0.json", "o1.json"]
    report = json.loads((folder / "o1.json").read_text(encoding="utf-8"))
    assert report["metadata"]["source"] == str(sources[1])
    assert rows(out.stdout)[str(sources[0])][3] == "audited"
    again = seewhy("audit", *sources, "-j", "2", "-f", "json", "--store", store)
    doc = json.loads(again.stdout)
    assert doc["kind"] == "seewhy.batch"
    assert [(r["source"], r["status"]) for r in doc["releases"]] == [
        (str(s), "stored") for s in sources
    ]


def test_a_killed_batch_resumes_where_it_stopped(tmp_path: Path) -> None:
    sources = [release(tmp_path / f"k{i}", i) for i in range(16)]
    listing = tmp_path / "repos.txt"
    listing.write_text("\n".join(map(str, sources)) + "\n", encoding="utf-8")
    store = tmp_path / "s.sqlite"
    args = [sys.executable, "-m", "seewhy", "audit", "--from", str(listing), "--jobs", "1"]
    proc = subprocess.Popen(
        [*args, "--store", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        start_new_session=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("seewhy: [2/16]"):
            os.killpg(proc.pid, signal.SIGKILL)  # the command and its workers, mid-batch
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    with Store(store, read_only=True) as db:
        saved = len(db.report_summaries())
    assert 2 <= saved < 16
    out = seewhy("audit", "--from", listing, "--jobs", "2", "--store", store)
    assert out.returncode == 0, out.stderr
    assert f"16 release(s), {saved} already in the store (skipped)" in out.stderr
    statuses = [c[3] for c in rows(out.stdout).values()]
    assert statuses.count("stored (skipped)") == saved
    assert statuses.count("audited") == 16 - saved


def _holders(path: Path, ancestor: int) -> list[int]:
    """Descendants of ``ancestor`` with ``path`` open."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        if str(path) in fds and _descends(int(entry.name), ancestor):
            found.append(int(entry.name))
    return found


def _descends(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return False


def _audit_killing(weights: Path, *args: str | Path) -> tuple[int, str, str, int]:
    """Run ``seewhy audit ARGS``, SIGKILL every process under it that opens ``weights``
    until it ends; its exit code, stdout, stderr and how many processes were killed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "seewhy", "audit", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    kills = 0
    deadline = time.monotonic() + 240
    while proc.poll() is None and time.monotonic() < deadline:
        for pid in _holders(weights, proc.pid):
            os.kill(pid, signal.SIGKILL)
            kills += 1
        time.sleep(0.01)
    stdout, stderr = proc.communicate(timeout=60)
    return proc.returncode, stdout, stderr, kills


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to find the worker")
def test_a_worker_killed_mid_audit_is_that_release_only(tmp_path: Path) -> None:
    """Every worker that opens the big release's weights is killed (SIGKILL): the pool
    breaks, the releases in flight are audited again one at a time, and only the big
    one, killed again when alone, is reported crashed."""
    small = [release(tmp_path / f"s{i}", i) for i in range(3)]
    big = tmp_path / "big"
    big.mkdir()
    weights = big / "model.safetensors"
    sparse_safetensors(weights, {"w": ("F32", [64, 1024, 1024])})  # 256 MiB: hashed for a while
    returncode, stdout, stderr, kills = _audit_killing(
        weights, small[0], big, small[1], small[2], "--jobs", "2", "--hash",
        "--store", tmp_path / "s.sqlite",
    )  # fmt: skip
    assert kills >= 2, stderr
    assert returncode == 2, stderr
    table = rows(stdout)
    assert table[str(big)][3].startswith("crashed: the worker process died while auditing it")
    for s in small:
        assert table[str(s)][3] == "audited", stderr
    assert "a worker process died" in stderr


def test_ray_engine_runs_the_batch_on_a_local_instance(tmp_path: Path) -> None:
    """Two good releases, a missing one, and one whose Ray worker is killed (SIGKILL)
    each time it opens the weights: Ray retries that task once, then it is crashed."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'seewhy[ray]')")
    good = [release(tmp_path / f"g{i}", i) for i in range(2)]
    missing = tmp_path / "gone"
    big = tmp_path / "big"
    big.mkdir()
    weights = big / "model.safetensors"
    sparse_safetensors(weights, {"w": ("F32", [64, 1024, 1024])})
    store = tmp_path / "s.sqlite"
    returncode, stdout, stderr, kills = _audit_killing(
        weights, *good, missing, big, "--engine", "ray", "--jobs", "2", "--hash",
        "--store", store,
    )  # fmt: skip
    assert returncode == 2, stderr
    assert kills >= 2, stderr
    table = rows(stdout)
    assert [table[str(g)] for g in good] == [["open-weights", "safe", "none", "audited"]] * 2
    assert table[str(missing)][3].startswith("error: no such file or folder")
    assert table[str(big)][3].startswith("crashed: ray task failed")
    assert "ray: local instance" in stderr
    with Store(store, read_only=True) as db:
        assert {s.source for s in db.report_summaries()} == {str(g) for g in good}


def test_batch_usage_errors(tmp_path: Path) -> None:
    out = seewhy("audit", "--from", tmp_path / "none.txt")
    assert out.returncode == 2 and "cannot read --from" in out.stderr
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n", encoding="utf-8")
    out = seewhy("audit", "--from", empty, "--store", tmp_path / "s.sqlite")
    assert out.returncode == 2 and "no source to audit" in out.stderr
    out = seewhy("audit", str(tmp_path), "--jobs", "0", "--store", tmp_path / "s.sqlite")
    assert out.returncode == 2 and "--jobs must be at least 1" in out.stderr
    out = seewhy("audit", str(tmp_path), "--engine", "spark", "--store", tmp_path / "s.sqlite")
    assert out.returncode == 2 and "--engine is local or ray" in out.stderr
    assert "Traceback" not in out.stderr
    out = seewhy("audit")
    assert out.returncode == 2 and "missing SOURCE" in out.stderr
