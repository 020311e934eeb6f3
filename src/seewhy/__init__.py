"""seewhy: audit an open AI model release, with evidence for every verdict.

>>> from seewhy import audit
>>> report = audit("path/to/model-folder")          # doctest: +SKIP
>>> report.fact("parameter_count").value             # doctest: +SKIP
134515008
"""

from seewhy._version import __version__
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
