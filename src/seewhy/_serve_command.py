"""``seewhy serve``: the read-only local site over a store (see :mod:`seewhy.site`).

The command checks the store (read-only) and binds the port itself before
uvicorn starts, so a missing, corrupt or newer store and a port in use are one
line on stderr and exit 2, never a traceback; then it says where it listens.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from seewhy._commands import EXIT_OK, EXIT_USAGE, DebugOption, _Command, _fatal, _state
from seewhy.errors import SeewhyError, UsageError

EPILOG = """\b
Examples:
  seewhy audit ./llama ./gemma ./qwen --store reports.sqlite -o reports/
  seewhy serve --store reports.sqlite            # http://127.0.0.1:8000/
  seewhy serve --port 0                           # any free port (it is printed)

\b
The site reads the store (--store, else $SEEWHY_STORE, else the default store)
read-only: a sortable, filterable table of every audited release, each
release's report, any selection side by side, evaluation runs down to their
items, and a JSON API (/api/..., described at /openapi.json). It binds to
loopback unless --host says otherwise; anything else reachable from the
network can then read every stored report.

\b
Exit codes: 0 stopped with Ctrl+C; 2 usage error, unusable store, or the port
cannot be bound."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port), or a UsageError that says why not."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be 0 to 65535, not {port}")
    try:
        infos = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise UsageError(f"cannot serve on host {host!r}: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {port} on {host} is already in use; pick another with --port "
                "(or --port 0 for any free one)"
            ) from exc
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{shown}:{port}/"


def serve(
    store: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="The store to show (default: $SEEWHY_STORE, else the user's data folder).",
            show_default=False,
        ),
    ] = None,
    host: Annotated[
        str,
        typer.Option(metavar="HOST", help="Address to listen on; loopback unless you say so."),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(metavar="PORT", help="Port to listen on (0: any free port).")
    ] = 8000,
    debug: DebugOption = False,
) -> None:
    """Browse stored audit reports and evaluation runs in a local read-only site."""
    try:
        from seewhy.evaluation.store import default_store_path

        path = store if store is not None else default_store_path()
        try:
            import uvicorn

            from seewhy.site.app import create_app, with_hosts
        except ImportError as exc:
            raise UsageError(
                f"seewhy serve needs the serve extra ({exc.name} is missing): "
                "pip install 'seewhy[serve]'"
            ) from exc
        app = create_app(path)
        sock = bind(host, port)
    except (SeewhyError, OSError) as exc:
        if _state["debug"]:
            _fatal(exc)
        sys.stderr.write(f"seewhy: error: {exc}\n")  # one line: nothing a traceback would add
        raise typer.Exit(EXIT_USAGE) from None
    actual = sock.getsockname()[1]
    url = _url(host, actual)
    if is_loopback(host):
        sys.stderr.write(
            f"seewhy: serving {path} read-only at {url} (loopback only; Ctrl+C to stop)\n"
        )
    else:
        sys.stderr.write(
            f"seewhy: serving {path} read-only at {url} (Ctrl+C to stop)\n"
            f"seewhy: warning: {host} is not a loopback address: anyone who can reach this "
            "machine can read every report in the store\n"
        )
    sys.stderr.flush()
    config = uvicorn.Config(
        with_hosts(app, host),
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the root app."""
    app.command("serve", cls=_Command, epilog=EPILOG)(serve)


__all__ = ["bind", "is_loopback", "register", "serve"]
