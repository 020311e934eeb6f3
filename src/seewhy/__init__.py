"""seewhy: audit an open AI model release, with evidence for every verdict."""

from seewhy._version import __version__

__all__ = ["__version__"]
