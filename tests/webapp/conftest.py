"""A store filled by real ``seewhy audit --store`` and ``seewhy eval ingest`` runs, and a
real ``seewhy serve`` process over it on a free loopback port."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from webapp.site_helpers import Audited, Server, seewhy, start_server

TESTS = Path(__file__).resolve().parents[1]
LMEVAL_LOGS = TESTS / "evaluation" / "data" / "lmeval"


@pytest.fixture(scope="session")
def audited(
    tmp_path_factory: pytest.TempPathFactory, example_release: Path, smollm2_gguf: Path
) -> Audited:
    """Four releases audited into one store by `seewhy audit --store`, and two lm-eval
    runs ingested into it: an open one (tiny-llama), a real GGUF (SmolLM2), its copy with
    no license at all, and one whose every string is a script payload under the Llama 3.1
    license (restricted, unsafe to load)."""
    sys.path.insert(0, str(TESTS / "report"))  # the HTML report tests' hostile release
    from hostile_release import write_hostile_release

    tmp = tmp_path_factory.mktemp("site")
    store = tmp / "store.sqlite"
    hostile = write_hostile_release(tmp / "hostile")
    unlicensed = tmp / "unlicensed-llama"
    shutil.copytree(example_release, unlicensed)
    (unlicensed / "LICENSE").unlink()
    card = unlicensed / "README.md"
    text = card.read_text(encoding="utf-8").replace("license: apache-2.0\n", "", 1)
    card.write_text(text.replace("Released under the Apache License 2.0 (see LICENSE).", ""))
    sources = {
        "tiny-llama": str(example_release),
        "SmolLM2-135M-Instruct.Q4_1.gguf": str(smollm2_gguf),
        "hostile": str(hostile),
        "unlicensed-llama": str(unlicensed),
    }
    out = tmp / "json"
    out.mkdir()
    proc = seewhy("audit", *sources.values(), "--store", str(store), "-f", "json", "-o", str(out))
    assert proc.returncode in (0, 1, 3), proc.stderr
    assert proc.stderr.count(f"to {store} as ") == len(sources), proc.stderr
    ingest = seewhy("eval", "ingest", str(LMEVAL_LOGS), "--store", str(store))
    assert ingest.returncode == 0, ingest.stderr
    return Audited(store, sources)


@pytest.fixture(scope="session")
def server(audited: Audited) -> Iterator[Server]:
    running = start_server(audited.store)
    yield running
    running.stop()
