"""Backends: the models that answer evaluation requests.

* :mod:`.transformers_backend` — a local Hugging Face folder (safetensors) or
  a GGUF file, run in-process with transformers on CPU or GPU (the ``eval``
  extra: torch, transformers, accelerate, gguf).
* :mod:`.openai_backend` — any OpenAI-compatible server.

Each implements :class:`seewhy.evaluation.model.Backend`. Heavy libraries are
imported when a backend is built, never when this package is imported.
"""

from __future__ import annotations

from seewhy.errors import SeewhyError


class ModelLoadError(SeewhyError):
    """A model could not be loaded for evaluation (missing extra, bad path, bad weights)."""


__all__ = ["ModelLoadError"]
