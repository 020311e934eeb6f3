"""The whole audit on mutated real releases: never a traceback, never an errored analyzer."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seewhy.audit import audit

FILES = (
    "model.safetensors",
    "config.json",
    "tokenizer_config.json",
    "README.md",
    "LICENSE",
    "generation_config.json",
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    target=st.sampled_from(FILES),
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=8)),
        min_size=1,
        max_size=6,
    ),
    cut=st.one_of(st.none(), st.floats(0, 1)),
)
def test_mutated_release_never_breaks_an_analyzer(
    example_release: Path,
    target: str,
    edits: list[tuple[float, bytes]],
    cut: float | None,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rel = Path(tmp) / "rel"
        shutil.copytree(example_release, rel)
        path = rel / target
        data = bytearray(path.read_bytes())
        for where, patch in edits:
            at = int(where * len(data))
            data[at : at + len(patch)] = patch
        if cut is not None:
            del data[int(cut * len(data)) :]
        path.write_bytes(bytes(data))
        report = audit(rel)
    errored = [a for a in report.analyzers if a.status != "completed"]
    assert not errored, errored
    assert {c.path for c in report.coverage} == set(FILES)
    assert report.verdict("load_safety") is not None
