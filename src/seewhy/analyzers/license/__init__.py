"""License analysis: identify every license statement of a release and tag its clauses.

Public API: :func:`release_licenses` (what the openness analyzer reads),
:func:`identify_text` / :func:`identify_bytes` (one file, for ``seewhy
license FILE``, printed with :func:`describe`) and :class:`LicenseAnalyzer`.
The knowledge it uses lives in ``seewhy/data/licenses/``.
"""

from __future__ import annotations

from seewhy.analyzers.license.analyzer import LicenseAnalyzer
from seewhy.analyzers.license.identify import (
    identify_bytes,
    identify_text,
    identify_texts,
    release_licenses,
)
from seewhy.analyzers.license.model import (
    TAGS,
    ClauseTag,
    LicenseMatch,
    Location,
    ReleaseLicenses,
)
from seewhy.analyzers.license.summary import describe

__all__ = [
    "TAGS",
    "ClauseTag",
    "LicenseAnalyzer",
    "LicenseMatch",
    "Location",
    "ReleaseLicenses",
    "describe",
    "identify_bytes",
    "identify_text",
    "identify_texts",
    "release_licenses",
]
