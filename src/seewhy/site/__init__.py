"""``seewhy serve``: a read-only local site over a seewhy store.

Every audited release of the store in one sortable, filterable table; each
release's report (the same self-contained page as ``seewhy audit --format
html``); any selection side by side (the ``seewhy compare-releases`` page);
evaluation runs down to their items; and a JSON API that mirrors the pages,
described at ``/openapi.json``.

The app opens the SQLite file read-only (``mode=ro``) and never writes to it.
Everything it shows from a release is untrusted text: templates autoescape,
pages carry a Content-Security-Policy that allows only their own inline style
and script (by hash), and the Host header is checked against the address the
site was started on (no DNS rebinding onto a loopback server).
"""

from __future__ import annotations

from seewhy.site.app import create_app

__all__ = ["create_app"]
