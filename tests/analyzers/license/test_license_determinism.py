"""The license knowledge base's name index never depends on string hashing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_PROBE = """
from seewhy.analyzers.license.kb import load_kb
index = load_kb()._mentions
print(repr([(first, [words for words, _ in names]) for first, names in index.items()]))
"""


def test_mentions_index_is_the_same_under_every_hash_seed(tmp_path: Path) -> None:
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "SEEWHY_CACHE_DIR": str(tmp_path / seed)}
        out = subprocess.run(
            [sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, check=True
        )
        outputs.add(out.stdout)
    assert len(outputs) == 1
