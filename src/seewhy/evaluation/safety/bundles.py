"""Task bundles: one name on the command line for a set of tasks (kept import-light)."""

from __future__ import annotations

from collections.abc import Iterable

BUNDLES: dict[str, tuple[str, ...]] = {
    "safety": ("xstest", "harmbench", "advbench", "jailbreak"),
}
"""``safety``: refusal of harmful requests (HarmBench, AdvBench, XSTest's contrast prompts),
over-refusal (XSTest's safe prompts) and jailbreak wrappers."""


def expand_task_names(names: Iterable[str]) -> list[str]:
    """Bundle names replaced by their tasks, duplicates dropped, order kept."""
    out: list[str] = []
    for name in names:
        for task in BUNDLES.get(name, (name,)):
            if task not in out:
                out.append(task)
    return out


__all__ = ["BUNDLES", "expand_task_names"]
