"""A stand-in Hugging Face Hub on loopback, for the Hub source's tests and benchmark.

A real HTTP server (the standard library's ``ThreadingHTTPServer`` in a
thread) that serves fixture repositories from folders on disk through the
part of the Hub API huggingface_hub calls (read from its source:
``hf_api.py``, ``file_download.py``, ``utils/_http.py``):

* ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}``: the
  model info (``sha``, ``gated``, ``siblings`` with ``size``, ``blobId`` and
  ``lfs`` when ``blobs=True``); ``expand`` is accepted (everything is sent);
* ``GET /api/models/{repo}/tree/{rev}[/{path}]``: the tree, ``recursive``,
  paginated 1000 entries a page through a ``Link: <...>; rel="next"``
  header, entries with ``type``, ``path``, ``size``, ``oid`` and ``lfs``
  (``oid`` = sha256, ``size``, ``pointerSize``);
* ``HEAD`` and ``GET /{repo}/resolve/{rev}/{path}``: the headers
  huggingface_hub reads (``X-Repo-Commit``, ``ETag``, ``X-Linked-Etag``,
  ``X-Linked-Size``, ``Content-Length``, ``Accept-Ranges``) and ``Range``
  (``206`` with ``Content-Range``).

Errors carry ``X-Error-Code`` as the Hub does (``RepoNotFound``,
``RevisionNotFound``, ``EntryNotFound``, ``GatedRepo``), so huggingface_hub
raises its own exception classes. A repository is a folder ``org/name``
under the server's root; large files may be sparse (``os.truncate``): a
range is read from disk, so a file of many GB costs nothing to serve.

Knobs (:class:`HubServer` methods): :meth:`gate` (a token is needed),
:meth:`fail` (the next N requests of a kind answer a status, optionally with
``Retry-After``), :meth:`lie_about_ranges` (a file's ranges come back with a
``Content-Range`` that does not match what was asked), :meth:`many_files`
(a virtual repository of N tiny files), :meth:`branch` (a named revision),
:meth:`inject` (raw entries added to a tree listing).
``requests`` logs every request (method, path, range, body bytes sent).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

PAGE = 1000
LFS_MIN = 1024 * 1024  # files at least this large, and weights, are LFS files
_LFS_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pt", ".pth", ".ckpt", ".pkl", ".onnx")
_HASH_LIMIT = 64 * 1024 * 1024  # larger (sparse) files get a stated, not computed, sha256


@dataclass
class Logged:
    """One request the server answered."""

    method: str
    path: str
    range: str | None
    status: int
    sent: int


@dataclass
class _Repo:
    repo_id: str
    folder: Path | None
    commit: str
    branches: dict[str, str] = field(default_factory=dict)
    token: str | None = None
    virtual_files: int = 0


def commit_of(repo_id: str) -> str:
    """The (stable, made-up) commit hash a fixture repository is at."""
    return hashlib.sha1(f"commit:{repo_id}".encode()).hexdigest()


class HubServer:
    """The stand-in Hub: ``with HubServer(root) as hub: hub.url``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._extra: dict[str, _Repo] = {}
        self._gated: dict[str, str] = {}
        self._branches: dict[str, dict[str, str]] = {}
        self._failures: dict[str, list[tuple[int, str | None]]] = {}
        self._liars: set[tuple[str, str]] = set()
        self._injected: dict[str, list[dict[str, Any]]] = {}
        self._hashes: dict[Path, tuple[str, str]] = {}
        self.requests: list[Logged] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The endpoint to give huggingface_hub (``HF_ENDPOINT``)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------- knobs

    def gate(self, repo_id: str, token: str) -> None:
        """Make ``repo_id`` gated: files need ``Authorization: Bearer <token>``."""
        self._gated[repo_id] = token

    def branch(self, repo_id: str, name: str) -> None:
        """Add a named revision (branch or tag) at the repository's commit."""
        self._branches.setdefault(repo_id, {})[name] = commit_of(repo_id)

    def fail(self, kind: str, statuses: list[int], retry_after: str | None = None) -> None:
        """Answer the next requests of ``kind`` ("info", "tree", "resolve") with ``statuses``."""
        with self._lock:
            self._failures.setdefault(kind, []).extend((s, retry_after) for s in statuses)

    def lie_about_ranges(self, repo_id: str, path: str) -> None:
        """Ranged answers for this file claim a Content-Range other than the one asked for."""
        self._liars.add((repo_id, path))

    def inject(self, repo_id: str, entries: list[dict[str, Any]]) -> None:
        """Add raw entries to the first page of a repository's tree listing (hostile listings)."""
        self._injected.setdefault(repo_id, []).extend(entries)

    def many_files(self, repo_id: str, n: int) -> None:
        """A virtual repository of ``n`` one-byte files (nothing on disk)."""
        self._extra[repo_id] = _Repo(repo_id, None, commit_of(repo_id), virtual_files=n)

    def sent(self, repo_prefix: str = "") -> int:
        """Body bytes sent so far (for paths starting with ``repo_prefix``)."""
        with self._lock:
            return sum(r.sent for r in self.requests if repo_prefix in r.path)

    # ------------------------------------------------------------ internals

    def take_failure(self, kind: str) -> tuple[int, str | None] | None:
        with self._lock:
            queue = self._failures.get(kind)
            return queue.pop(0) if queue else None

    def log(self, entry: Logged) -> None:
        with self._lock:
            self.requests.append(entry)

    def repo(self, repo_id: str) -> _Repo | None:
        if repo_id in self._extra:
            return self._extra[repo_id]
        folder = self.root / repo_id
        if "/" not in repo_id or ".." in repo_id or not folder.is_dir():
            return None
        commit = commit_of(repo_id)
        branches = {"main": commit, **self._branches.get(repo_id, {})}
        return _Repo(repo_id, folder, commit, branches, self._gated.get(repo_id))

    def files(self, repo: _Repo) -> Iterator[tuple[str, int]]:
        """(path, size) of every file, sorted by path."""
        if repo.folder is None:
            for i in range(repo.virtual_files):
                yield f"data/file-{i:06d}.txt", 1
            return
        found = []
        for dirpath, _dirs, names in os.walk(repo.folder):
            for name in names:
                full = Path(dirpath, name)
                found.append((full.relative_to(repo.folder).as_posix(), full.stat().st_size))
        yield from sorted(found)

    def hashes(self, repo: _Repo, path: str, size: int) -> tuple[str, str]:
        """(git blob sha1, sha256) of a file; a large sparse file gets a stated sha256."""
        if repo.folder is None:
            data = b"x"
            return _git_sha1(data), hashlib.sha256(data).hexdigest()
        full = repo.folder / path
        with self._lock:
            known = self._hashes.get(full)
        if known is not None:
            return known
        if size <= _HASH_LIMIT:
            data = full.read_bytes()
            value = (_git_sha1(data), hashlib.sha256(data).hexdigest())
        else:
            stated = hashlib.sha256(f"{repo.repo_id}/{path}:{size}".encode()).hexdigest()
            value = (stated[:40], stated)
        with self._lock:
            self._hashes[full] = value
        return value

    def is_lfs(self, path: str, size: int) -> bool:
        return size >= LFS_MIN or path.endswith(_LFS_SUFFIXES)

    def entry(self, repo: _Repo, path: str, size: int) -> dict[str, Any]:
        sha1, sha256 = self.hashes(repo, path, size)
        out: dict[str, Any] = {"type": "file", "oid": sha1, "size": size, "path": path}
        if self.is_lfs(path, size):
            out["lfs"] = {"oid": sha256, "size": size, "pointerSize": 134}
        return out

    def injected(self, repo_id: str) -> list[dict[str, Any]]:
        return list(self._injected.get(repo_id, []))

    def liar(self, repo_id: str, path: str) -> bool:
        return (repo_id, path) in self._liars


def _git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def _handler(hub: HubServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the test log is hub.requests

        # --------------------------------------------------------- plumbing

        def _send(
            self,
            status: int,
            body: bytes = b"",
            headers: dict[str, str] | None = None,
            *,
            head: bool = False,
            length: int | None = None,
        ) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            sent = 0
            if not head and body:
                self.wfile.write(body)
                sent = len(body)
            hub.log(Logged(self.command, self.path, self.headers.get("Range"), status, sent))

        def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
            body = json.dumps(value).encode()
            self._send(status, body, {"Content-Type": "application/json", **(headers or {})})

        def _error(self, status: int, code: str, message: str, *, head: bool = False) -> None:
            headers = {"X-Error-Code": code, "X-Error-Message": message}
            if head:
                self._send(status, b"", headers, head=True)
            else:
                self._json(status, {"error": message}, headers)

        def _failure(self, kind: str, *, head: bool = False) -> bool:
            planned = hub.take_failure(kind)
            if planned is None:
                return False
            status, retry_after = planned
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            if head:
                self._send(status, b"", headers, head=True)
            else:
                self._json(status, {"error": f"planned {status}"}, headers)
            return True

        def do_HEAD(self) -> None:
            self._route(head=True)

        def do_GET(self) -> None:
            self._route(head=False)

        # ----------------------------------------------------------- routes

        def _route(self, *, head: bool) -> None:
            url = urlsplit(self.path)
            path = unquote(url.path)
            query = parse_qs(url.query)
            m = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/(.+))?", path)
            if m and not head:
                if not self._failure("info"):
                    self._info(m.group(1), m.group(2), query)
                return
            m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?", path)
            if m and not head:
                if not self._failure("tree"):
                    self._tree(m.group(1), m.group(2), m.group(3) or "", query)
                return
            m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if m:
                if not self._failure("resolve", head=head):
                    self._resolve(m.group(1), m.group(2), m.group(3), head=head)
                return
            self._error(404, "NotFound", f"no route for {path}", head=head)

        def _lookup(self, repo_id: str, rev: str | None, *, head: bool = False) -> _Repo | None:
            repo = hub.repo(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", "Repository not found", head=head)
                return None
            known = rev is None or rev == repo.commit or rev in repo.branches
            if not known and (repo.folder is not None or rev != "main"):
                self._error(404, "RevisionNotFound", "Invalid rev id", head=head)
                return None
            return repo

        def _info(self, repo_id: str, rev: str | None, query: dict[str, list[str]]) -> None:
            repo = self._lookup(repo_id, rev)
            if repo is None:
                return
            info: dict[str, Any] = {
                "_id": repo.commit[:24],
                "id": repo_id,
                "modelId": repo_id,
                "sha": repo.commit,
                "gated": "manual" if repo.token else False,
                "private": False,
                "disabled": False,
                "lastModified": "2026-01-01T00:00:00.000Z",
                "tags": [],
            }
            wants = query.get("expand", []) + query.get("expand[]", [])
            if not wants or "siblings" in wants:
                blobs = query.get("blobs", ["false"])[0].lower() == "true"
                siblings = []
                for p, size in hub.files(repo):
                    if blobs:
                        e = hub.entry(repo, p, size)
                        sib: dict[str, Any] = {"rfilename": p, "size": size, "blobId": e["oid"]}
                        if "lfs" in e:
                            sib["lfs"] = {"sha256": e["lfs"]["oid"], "size": size}
                        siblings.append(sib)
                    else:
                        siblings.append({"rfilename": p})
                info["siblings"] = siblings
            self._json(200, info)

        def _tree(self, repo_id: str, rev: str, under: str, query: dict[str, list[str]]) -> None:
            repo = self._lookup(repo_id, rev)
            if repo is None:
                return
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            cursor = int(query.get("cursor", ["0"])[0])
            prefix = f"{under.rstrip('/')}/" if under else ""
            entries: list[dict[str, Any]] = []
            dirs_seen: set[str] = set()
            n = 0
            more = False
            for p, size in hub.files(repo):
                if not p.startswith(prefix):
                    continue
                rest = p[len(prefix) :]
                if not recursive and "/" in rest:
                    d = prefix + rest.split("/", 1)[0]
                    if d in dirs_seen:
                        continue
                    dirs_seen.add(d)
                    item: dict[str, Any] = {"type": "directory", "oid": "0" * 40, "path": d}
                else:
                    item = {}
                n += 1
                if n <= cursor:
                    continue
                if len(entries) >= PAGE:
                    more = True
                    break
                entries.append(item or hub.entry(repo, p, size))
            if cursor == 0:
                entries.extend(hub.injected(repo_id))
            headers: dict[str, str] = {}
            if more:
                nxt = (
                    f"{hub.url}/api/models/{repo_id}/tree/{quote(rev, safe='')}"
                    + (f"/{quote(under)}" if under else "")
                    + f"?recursive={str(recursive).lower()}&expand=false&cursor={cursor + PAGE}"
                )
                headers["Link"] = f'<{nxt}>; rel="next"'
            self._json(200, entries, headers)

        def _resolve(self, repo_id: str, rev: str, path: str, *, head: bool) -> None:
            repo = self._lookup(repo_id, rev, head=head)
            if repo is None:
                return
            if repo.token is not None and self.headers.get("Authorization") != (
                f"Bearer {repo.token}"
            ):
                self._error(401, "GatedRepo", "Access to this repository is restricted", head=head)
                return
            size = dict(hub.files(repo)).get(path)
            if size is None:
                self._error(404, "EntryNotFound", "Entry not found", head=head)
                return
            sha1, sha256 = hub.hashes(repo, path, size)
            lfs = hub.is_lfs(path, size)
            headers = {
                "X-Repo-Commit": repo.commit,
                "ETag": f'"{sha256 if lfs else sha1}"',
                "Accept-Ranges": "bytes",
                "Content-Type": "application/octet-stream",
            }
            if lfs:
                headers["X-Linked-Etag"] = f'"{sha256}"'
                headers["X-Linked-Size"] = str(size)
            wanted = self.headers.get("Range")
            start, end = 0, size  # [start, end)
            status = 200
            if wanted is not None:
                m = _RANGE.match(wanted.strip())
                if m is None or int(m.group(1)) >= max(size, 1):
                    self._send(416, b"", {"Content-Range": f"bytes */{size}"}, head=head)
                    return
                start = int(m.group(1))
                end = min(size, int(m.group(2)) + 1) if m.group(2) else size
                status = 206
                claimed_end = end
                if hub.liar(repo_id, path):
                    claimed_end = min(size, end + 4096)  # claims more than it will send
                headers["Content-Range"] = f"bytes {start}-{claimed_end - 1}/{size}"
            if head:
                self._send(status, b"", headers, head=True, length=end - start)
                return
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(end - start))
            self.end_headers()
            sent = 0
            if repo.folder is None:
                self.wfile.write(b"x"[: end - start])
                sent = end - start
            else:
                with (repo.folder / path).open("rb") as fh:
                    fh.seek(start)
                    while sent < end - start:
                        chunk = fh.read(min(1024 * 1024, end - start - sent))
                        if not chunk:
                            break
                        self.wfile.write(chunk)
                        sent += len(chunk)
            hub.log(Logged(self.command, self.path, wanted, status, sent))

    return Handler


def sparse_gguf(path: Path, tensors: int, tensor_bytes: int, *, license_id: str = "mit") -> int:
    """Write a valid GGUF file whose tensor data is a sparse hole; returns its size.

    The header (metadata and tensor infos) is written by the ``gguf``
    package's own writer; the data section is never written, only sized.
    """
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("Sparse Test")
    writer.add_license(license_id)
    writer.add_context_length(4096)
    writer.add_array("tokenizer.ggml.tokens", [f"tok{i}" for i in range(1000)])
    n = tensor_bytes // 4
    for i in range(tensors):
        writer.add_tensor_info(f"blk.{i}.weight", [n], np.dtype(np.float32), n * 4)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    align = 32
    start = path.stat().st_size
    start += -start % align
    total = start + tensors * (n * 4 + (-(n * 4) % align))
    os.truncate(path, total)
    return total
