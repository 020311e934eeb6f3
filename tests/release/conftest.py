"""Fixtures of the release tests: a stand-in Hugging Face Hub on loopback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub_server import HubServer


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubServer]:
    """A local Hub serving the repositories under ``tmp_path / "repos"`` (``org/name``)."""
    root = tmp_path / "repos"
    root.mkdir()
    with HubServer(root) as server:
        yield server
