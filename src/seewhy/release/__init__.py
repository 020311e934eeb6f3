"""Where a release comes from: an immutable snapshot of files and their kinds."""

from seewhy.release.local import open_release
from seewhy.release.model import (
    FileKind,
    HubCacheOrigin,
    ReadMeter,
    Release,
    ReleaseFile,
    ReleaseIssue,
)

__all__ = [
    "FileKind",
    "HubCacheOrigin",
    "ReadMeter",
    "Release",
    "ReleaseFile",
    "ReleaseIssue",
    "open_release",
]
