"""seewhy: audit an open AI model release, with evidence for every verdict.

>>> from seewhy import audit
>>> report = audit("path/to/model-folder")          # doctest: +SKIP
>>> report.fact("parameter_count").value             # doctest: +SKIP
134515008

The public names are imported on first use, so ``import seewhy`` (and
``seewhy --version``) does not pay for the audit stack and pydantic.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from seewhy._version import __version__

if TYPE_CHECKING:
    from seewhy.audit import audit
    from seewhy.errors import SeewhyError
    from seewhy.report.model import Evidence, Fact, Finding, Report, Severity

__all__ = [
    "Evidence",
    "Fact",
    "Finding",
    "Report",
    "SeewhyError",
    "Severity",
    "__version__",
    "audit",
]

# Public name -> the module that defines it.
_LAZY = {
    "audit": "seewhy.audit",
    "SeewhyError": "seewhy.errors",
    "Evidence": "seewhy.report.model",
    "Fact": "seewhy.report.model",
    "Finding": "seewhy.report.model",
    "Report": "seewhy.report.model",
    "Severity": "seewhy.report.model",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'seewhy' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps ``seewhy.audit`` the function once the submodule is imported.

    Importing ``seewhy.audit`` (the module) makes the import system set the
    package attribute ``audit`` to that module; the public name is the
    function of the same name, as it was when this package imported eagerly.
    """

    def __setattr__(self, name: str, value: object) -> None:
        if name == "audit" and isinstance(value, types.ModuleType):
            value = value.audit
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
