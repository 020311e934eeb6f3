"""Real-model fixtures for the evaluation tests, loaded once per session.

``smollm2_gguf`` and ``gemma_gguf`` (the GGUF paths) come from
``tests/conftest.py``. The backends below need the ``eval`` extra (torch,
transformers) and the model packages; they skip when either is missing.
Tests that use them carry ``pytest.mark.models``. Keep what you ask of them
small: the session shares one instance of each, so set nothing on them that
you do not restore.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from seewhy.evaluation.backends.transformers_backend import TransformersBackend


def _need_eval_extra() -> None:
    for module in ("torch", "transformers", "gguf"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (the eval extra)")


@pytest.fixture(scope="session")
def smollm2_backend(smollm2_gguf: Path) -> TransformersBackend:
    """SmolLM2-135M-Instruct (Q4_1 GGUF dequantized to float32) on CPU, batch size 8."""
    _need_eval_extra()
    from seewhy.evaluation.backends.transformers_backend import TransformersBackend

    return TransformersBackend(smollm2_gguf, dtype="float32", device="cpu", batch_size=8)


@pytest.fixture(scope="session")
def gemma_backend(gemma_gguf: Path) -> TransformersBackend:
    """Gemma 3 270M (Q4_K_M GGUF dequantized to float32) on CPU, batch size 8."""
    _need_eval_extra()
    from seewhy.evaluation.backends.transformers_backend import TransformersBackend

    return TransformersBackend(gemma_gguf, dtype="float32", device="cpu", batch_size=8)
