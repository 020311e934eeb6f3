"""A Hugging Face Hub repository as a release, without downloading its weights.

``seewhy audit org/name[@revision]`` reads a Hub repository through
``huggingface_hub`` and transfers only what the analyzers need:

* the repository info (pinned commit, gating) and its file listing with sizes
  and LFS sha256 (the tree API, paginated, so the listing is capped at
  :attr:`HubLimits.max_files` without holding more);
* the small files (cards, configs, licenses, policies, code, templates,
  index and tokenizer files), downloaded with ``hf_hub_download`` into the
  usual Hugging Face cache, each under :attr:`HubLimits.small_file_bytes`
  and all together under :attr:`HubLimits.download_total_bytes`;
* pickle-bearing files (``.bin .pt .pth .ckpt .pkl``...), downloaded whole
  when under :attr:`HubLimits.pickle_bytes`: they are where the risk is, and
  only a whole-file scan can clear them;
* everything else (safetensors and GGUF weights above all) through HTTP
  range requests on ``huggingface_hub``'s own HTTP session, on demand, as the
  format's own parser reads it (:class:`RemoteSource`). Each remote file has
  a byte budget: its header for weights (:attr:`HubLimits.header_bytes`),
  its first :data:`~seewhy.release.sniff.HEAD_BYTES` for the rest. A read
  past the budget raises :class:`~seewhy.errors.ReleaseReadError`, so an
  analyzer that needs bytes that were not transferred reports the file as
  not checked, never as clean.

The same analyzers run as for a folder, through the same
``Release.open(...).read_at`` interface, so a safetensors file whose header
was read is exactly as checked as on disk (the header; the tensor data is
inert and is not transferred either way). What was transferred is counted
(:class:`Transfer`) and stated in the report by :class:`HubAnalyzer`.

Same report as from disk
------------------------
Auditing ``org/name`` gives the report the same files give from a folder,
except where the report says where it was read: ``metadata`` (the source as
typed), ``release.name`` (the repository id, not a folder name) with
``repo_id``/``revision``/``refs``, the ``hub.*`` facts and the ``hub``
analyzer's outcome and coverage steps (each file not downloaded gets a
*deferred* step naming what was transferred; it counts only if no analyzer
covered the file). ``tests/release/test_hub.py`` checks exactly that.

Why not ``model_info(files_metadata=True)`` and ``get_safetensors_metadata``:
the first returns every file of the repository in one answer (no cap before
it is all in memory), where the tree API comes a page at a time and can be
left after :attr:`HubLimits.max_files`; the second returns parsed headers,
where seewhy's analyzers must read the raw header bytes through their own
bounded parsers (duplicate keys, offsets, lengths that lie). Both use the
same huggingface_hub machinery as the range reads here: ``HfApi``,
``hf_hub_url``, ``build_hf_headers``, ``get_session`` and
``hf_raise_for_status``.

Errors come out in seewhy's hierarchy (:mod:`seewhy.errors`): a repository or
revision that does not exist, a gated repository without ``HF_TOKEN``, rate
limits (``Retry-After`` honoured, bounded) and server errors (retried, then a
clear failure for this release only). With ``HF_HUB_OFFLINE=1`` the id is
resolved from the local Hugging Face cache (:func:`open_offline`).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from seewhy.errors import (
    HubError,
    HubGatedError,
    HubNotFoundError,
    HubUnavailableError,
    ReleaseReadError,
)
from seewhy.formats.interface import Problem
from seewhy.release.model import (
    FileKind,
    FileSource,
    HeadCache,
    HubCacheOrigin,
    ReadMeter,
    Release,
    ReleaseFile,
    ReleaseIssue,
)
from seewhy.release.sniff import HEAD_BYTES, sniff

if TYPE_CHECKING:
    from huggingface_hub import HfApi

    from seewhy.analyzers.interface import AnalyzerResult, AuditContext

MiB = 1024 * 1024

PROBLEM_CODES: dict[str, str] = {
    "hub.not-downloaded": "a file above a download cap was not downloaded; only its head was read",
    "hub.range-mismatch": "the Hub answered a range request with other bytes than asked for",
    "hub.offline": "offline: the release is what the local Hugging Face cache holds",
    "hub.lineage-unreadable": "a parent named by base_model could not be read from the Hub",
}

#: Names (lower case) of the small files an audit downloads whatever their extension.
_PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib"})
_HEADER_SUFFIXES = frozenset({".safetensors", ".gguf"})

_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"
_HUB_SOURCE = re.compile(
    rf"^(?:hf://)?(?:models/)?(?P<repo>{_REPO_PART}/{_REPO_PART})(?:@(?P<rev>[^\s@]{{1,255}}))?$"
)
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class HubRef:
    """A repository id and the revision asked for (``None``: the default branch)."""

    repo_id: str
    revision: str | None = None

    def __str__(self) -> str:
        return self.repo_id if self.revision is None else f"{self.repo_id}@{self.revision}"


def parse_hub_source(source: str) -> HubRef | None:
    """``org/name``, ``org/name@revision`` or ``hf://org/name[@revision]``, else None.

    The caller decides first whether ``source`` is a path on disk: a folder
    called ``org/name`` is a folder.
    """
    m = _HUB_SOURCE.match(source)
    if m is None or ".." in m.group("repo"):
        return None
    return HubRef(m.group("repo"), m.group("rev"))


@dataclass(frozen=True)
class HubLimits:
    """How much an audit may transfer and how long it waits for the Hub."""

    max_files: int = 20_000
    """Files listed; past this the rest of the repository is a gap."""
    small_file_bytes: int = 32 * MiB
    """A file other than weights and pickles is downloaded when at most this large."""
    download_total_bytes: int = 1024 * MiB
    """All small files of a release together; past it files are only sniffed."""
    pickle_bytes: int = 1024 * MiB
    """A pickle-bearing file is downloaded whole when at most this large, else inconclusive."""
    header_bytes: int = 64 * MiB
    """Bytes of one safetensors or GGUF file the parsers may read through range requests."""
    range_total_bytes: int = 256 * MiB
    """Bytes read through range requests, all files of the release together."""
    retries: int = 4
    """Retries of one request after a 429, a 5xx or a network error."""
    max_retry_wait: float = 60.0
    """Longest ``Retry-After`` honoured; a longer one fails the release at once."""
    retry_base_wait: float = 0.5
    """First wait when the Hub gives no ``Retry-After``; doubles per retry."""
    lineage_depth: int = 8
    """Generations of ``base_model`` parents followed."""
    lineage_width: int = 20
    """Parents read in all (a merge may name many)."""


# ------------------------------------------------------------------ transfer


class Transfer:
    """Bytes that came over the network for one release (bodies only), and problems met."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes = 0
        self.ranged = 0  # of bytes, those read by range requests
        self.requests = 0
        self.by_path: dict[str, int] = {}
        self.problems: list[ReleaseIssue] = []

    def add(self, n: int, path: str | None, *, ranged: bool = False) -> None:
        """Count ``n`` body bytes of one response for the file at ``path``."""
        with self._lock:
            self.bytes += n
            if ranged:
                self.ranged += n
            self.requests += 1
            if path is not None:
                self.by_path[path] = self.by_path.get(path, 0) + n

    def problem(self, path: str, code: str, message: str, excerpt: str | None = None) -> None:
        """Record a problem met while transferring ``path`` (reported as a finding)."""
        with self._lock:
            if len(self.problems) < 1000:
                self.problems.append(ReleaseIssue(path, Problem(code, message, excerpt=excerpt)))


T = TypeVar("T")


class HubEntryNotFound(HubNotFoundError):
    """A file the listing names is not on the Hub (a per-file problem, not the release's)."""


def _status(exc: BaseException) -> tuple[int | None, float | None]:
    """HTTP status and Retry-After (seconds) of a huggingface_hub HTTP error."""
    response = getattr(exc, "response", None)
    if response is None:
        return None, None
    status = getattr(response, "status_code", None)
    raw = response.headers.get("Retry-After") if response.headers is not None else None
    wait: float | None = None
    if raw is not None:
        try:
            wait = max(0.0, float(raw))
        except ValueError:
            wait = None
    return status, wait


def _with_retries(limits: HubLimits, what: str, call: Callable[[], T]) -> T:
    """``call()``, retried on 429, 5xx and network errors; errors mapped to seewhy's.

    ``Retry-After`` is honoured up to :attr:`HubLimits.max_retry_wait`; past
    that, or after :attr:`HubLimits.retries` retries, the release fails with
    :class:`HubUnavailableError`.
    """
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    wait = limits.retry_base_wait
    attempt = 0
    while True:
        attempt += 1
        try:
            return call()
        except GatedRepoError as exc:
            raise HubGatedError(_gated_message(what, has_token=_token() is not None)) from exc
        except RevisionNotFoundError as exc:
            raise HubNotFoundError(
                f"{what}: no such revision on the Hub; check the name after '@' "
                "(a branch, a tag or a commit hash)"
            ) from exc
        except RemoteEntryNotFoundError as exc:
            raise HubEntryNotFound(f"{what}: listed, but the Hub has no such file") from exc
        except RepositoryNotFoundError as exc:
            raise HubNotFoundError(
                f"{what}: repository not found on the Hub (or private: set HF_TOKEN to a token "
                "that can read it)"
            ) from exc
        except HfHubHTTPError as exc:
            status, retry_after = _status(exc)
            if status is None or not (status == 429 or status == 408 or status >= 500):
                raise HubError(
                    f"{what}: the Hub answered HTTP {status}: {_first_line(exc)}"
                ) from exc
            reason = "rate-limited (HTTP 429)" if status == 429 else f"HTTP {status}"
            if retry_after is not None and retry_after > limits.max_retry_wait:
                raise HubUnavailableError(
                    f"{what}: {reason}; the Hub asks to wait {retry_after:.0f} s, more than "
                    f"{limits.max_retry_wait:.0f} s: try again later"
                ) from exc
            if attempt > limits.retries:
                raise HubUnavailableError(
                    f"{what}: {reason} after {attempt} tries; try again later"
                ) from exc
            time.sleep(retry_after if retry_after is not None else wait)
        except _transport_errors() as exc:
            if attempt > limits.retries:
                raise HubUnavailableError(
                    f"{what}: cannot reach the Hub after {attempt} tries: {exc}"
                ) from exc
            time.sleep(wait)
        wait = min(wait * 2, limits.max_retry_wait)


def _transport_errors() -> tuple[type[Exception], ...]:
    """Network errors of the HTTP client huggingface_hub uses (httpx2 since 2.x, httpx in 1.x)."""
    errors: list[type[Exception]] = [ConnectionError, TimeoutError]
    for name in ("httpx2", "httpx"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        errors.append(module.TransportError)
    return tuple(errors)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _gated_message(what: str, *, has_token: bool) -> str:
    if has_token:
        return (
            f"{what} is a gated repository and the token in HF_TOKEN has no access to it: "
            "accept its conditions on the Hub page, then run again"
        )
    return (
        f"{what} is a gated repository: set HF_TOKEN to a Hugging Face token whose account "
        "has accepted its conditions, then run again"
    )


def _token() -> str | None:
    from huggingface_hub import get_token

    return get_token()


# ------------------------------------------------------------ remote source


class _Remote:
    """One file read through range requests: what was fetched, kept for every reader."""

    def __init__(self, url: str, path: str, size: int, budget: int, hub: _Hub, why: str) -> None:
        self.url = url
        self.path = path
        self.size = size
        self.budget = budget
        self.why = why
        self.sha256: str | None = None  # what the Hub states (LFS), not computed here
        self._hub = hub
        self._lock = threading.Lock()
        self._prefix = b""  # bytes [0, len(prefix)) of the file
        self._spans: dict[int, bytes] = {}  # other fetched spans, by start
        self._fetched = 0
        self._ahead = 64 * 1024
        self.failed: str | None = None

    @property
    def fetched(self) -> int:
        """Bytes transferred for this file so far."""
        return self._fetched

    def read(self, offset: int, length: int) -> bytes:
        """Bytes ``[offset, offset + length)``, fetched if not held; the caller clipped them."""
        end = offset + length
        with self._lock:
            if end <= len(self._prefix):
                return self._prefix[offset:end]
            for start, data in self._spans.items():
                if start <= offset and end <= start + len(data):
                    return data[offset - start : end - start]
            if self.failed is not None:
                raise ReleaseReadError(self.path, self.failed)
            # Extend the prefix when the read starts in it or near its end; else fetch a span.
            if offset <= len(self._prefix) + self._ahead:
                start = len(self._prefix)
                want = max(end, start + self._ahead)
                self._ahead = min(self._ahead * 2, 8 * MiB)
            else:
                start, want = offset, max(end, offset + 64 * 1024)
            want = min(want, self.size)
            allowed = self.budget - self._fetched
            if end - start > allowed:
                raise ReleaseReadError(
                    self.path,
                    f"not transferred: {self.why}; reading bytes {offset}-{end - 1} would pass "
                    f"the {self.budget:,}-byte transfer budget of this file",
                )
            left = self._hub.limits.range_total_bytes - self._hub.transfer.ranged
            if end - start > left:
                raise ReleaseReadError(
                    self.path,
                    f"not transferred: the {self._hub.limits.range_total_bytes:,} bytes a release "
                    "may read by range requests are spent",
                )
            allowed = min(allowed, left)
            want = min(want, start + allowed)
            data = self._fetch(start, want)
            if start == len(self._prefix):
                self._prefix += data
                return self._prefix[offset:end]
            if len(self._spans) < 64:
                self._spans[start] = data
            return data[offset - start : end - start]

    def _fetch(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` through one range request, checked against what was asked."""
        data = self._hub.get_range(self.url, self.path, start, end, self.size)
        if isinstance(data, str):
            self.failed = data
            self._hub.transfer.problem(self.path, "hub.range-mismatch", data)
            raise ReleaseReadError(self.path, data)
        self._fetched += len(data)
        return data


class RemoteSource(FileSource):
    """A metered :class:`~seewhy.formats.interface.Source` over a file on the Hub.

    Reads what the parser asks for through :class:`_Remote` (range requests,
    bounded by the file's transfer budget); the release's head cache and read
    meter work as for a file on disk, so ``bytes_read`` means the same thing.
    No descriptor is opened: the path the file would have in the cache is kept
    for messages only.
    """

    def __init__(
        self, remote: _Remote, abs_path: Path, meter: ReadMeter, heads: HeadCache | None
    ) -> None:
        super().__init__(abs_path, remote.size, remote.path, meter, heads)
        self._remote = remote

    def read_at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError("offset and length must be non-negative")
        length = max(0, min(length, self.size - offset))
        if length == 0:
            return b""
        path = self._remote.path
        head = self._heads.get(path) if self._heads is not None else b""
        if offset + length <= len(head):
            return head[offset : offset + length]
        cached = head[offset:] if offset < len(head) else b""
        start = offset + len(cached)
        data = self._remote.read(start, length - len(cached))
        self._meter.add(len(data), path)
        return cached + data if cached else data


# ------------------------------------------------------------------ release


@dataclass(frozen=True)
class HubParent:
    """A parent of the release found by following ``base_model`` on the Hub.

    ``card`` is the parent's README.md (bytes, bounded) and ``license_text``
    its LICENSE file, when it has one; ``child`` is the repository that names
    it, ``relation`` how (finetune, merge, quantized, adapter) when stated.
    """

    repo_id: str
    depth: int
    child: str
    relation: str | None = None
    card: bytes | None = None
    card_path: str | None = None
    license_text: bytes | None = None
    license_path: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class HubRelease(Release):
    """A release read from the Hub: downloaded files on disk, the rest read by range.

    ``remote`` holds the files that were not downloaded; :meth:`open` reads
    them through range requests. ``requested`` is the revision the user
    named, ``gated`` the repository's gating (``False``, ``"auto"``,
    ``"manual"``), ``parents`` the ``base_model`` chain read from the Hub.
    """

    transfer: Transfer = field(default_factory=Transfer, repr=False, compare=False)
    remote: dict[str, _Remote] = field(default_factory=dict, repr=False, compare=False)
    requested: str | None = None
    gated: str | bool | None = None  # None: not known (offline)
    endpoint: str = ""
    parents: tuple[HubParent, ...] = ()

    @property
    def report_kind(self) -> str:
        """A Hub repository id, read online or from the HF cache offline."""
        return "hub"

    def open(self, file: ReleaseFile) -> FileSource:
        """A metered source over ``file``: on disk when downloaded, else by range."""
        remote = self.remote.get(file.path)
        if remote is None:
            return super().open(file)
        return RemoteSource(remote, file.abs_path, self.meter, self.heads)

    def sha256(self, file: ReleaseFile, progress: Callable[[int], None] | None = None) -> str:
        """The sha256 of a downloaded file; a file read by range cannot be hashed."""
        remote = self.remote.get(file.path)
        if remote is None:
            return super().sha256(file, progress)
        raise ReleaseReadError(
            file.path, f"not downloaded ({remote.why}); --hash covers downloaded files only"
        )

    @property
    def bytes_transferred(self) -> int:
        """Body bytes that came over the network for this release so far."""
        return self.transfer.bytes


# --------------------------------------------------------------------- hub


class _Hub:
    """huggingface_hub calls for one audit: an API client, the cache, the limits."""

    def __init__(
        self,
        endpoint: str | None,
        cache_dir: Path | None,
        token: str | None,
        limits: HubLimits,
    ) -> None:
        from huggingface_hub import HfApi, constants

        self.api: HfApi = HfApi(endpoint=endpoint, token=token)
        self.endpoint: str = self.api.endpoint
        self.cache_dir = Path(cache_dir) if cache_dir is not None else Path(constants.HF_HUB_CACHE)
        self.token = token
        self.limits = limits
        self.transfer = Transfer()

    def call(self, what: str, fn: Callable[[], T], *, retry: bool = True) -> T:
        """``fn()`` with errors mapped to seewhy's and, with ``retry``, bounded retries."""
        return _with_retries(self.limits if retry else replace(self.limits, retries=0), what, fn)

    def info(self, ref: HubRef) -> Any:
        return self.call(
            str(ref),
            lambda: self.api.model_info(
                ref.repo_id, revision=ref.revision, expand=["sha", "gated", "lastModified"]
            ),
        )

    def listing(self, repo_id: str, commit: str) -> Iterator[Any]:
        """Files of the repository at ``commit``, read lazily from the paginated tree API.

        huggingface_hub fetches one page (1000 entries) at a time and retries
        each page itself (429 and 5xx, with backoff), so a caller that stops
        early never asks for the rest, and errors here are only mapped, not
        retried: a failed page ends the generator.
        """
        from huggingface_hub.hf_api import RepoFile

        entries = iter(self.api.list_repo_tree(repo_id, recursive=True, revision=commit))
        what = f"{repo_id}@{commit[:12]}: listing"
        while True:
            entry = self.call(what, lambda: next(entries, None), retry=False)
            if entry is None:
                return
            if isinstance(entry, RepoFile):
                yield entry

    def download(
        self, repo_id: str, path: str, revision: str, commit: str, *, count_as: str | None = None
    ) -> Path:
        """``path`` at ``revision`` into the Hugging Face cache; counts bytes not already there."""
        from huggingface_hub import hf_hub_download, try_to_load_from_cache

        cached = try_to_load_from_cache(repo_id, path, cache_dir=self.cache_dir, revision=commit)
        local = self.call(
            f"{repo_id}: {path}",
            lambda: hf_hub_download(
                repo_id,
                path,
                revision=revision,
                cache_dir=self.cache_dir,
                endpoint=self.endpoint,
                token=self.token,
                tqdm_class=_quiet_tqdm(),
            ),
        )
        result = Path(local)
        if result.parent.name != commit and commit not in result.parts:
            raise HubError(
                f"{repo_id}: the repository changed during the audit ({revision} moved away "
                f"from {commit[:12]}); run again"
            )
        if not isinstance(cached, str):
            with contextlib.suppress(OSError):
                self.transfer.add(result.stat().st_size, count_as or path)
        return result

    def get_range(self, url: str, path: str, start: int, end: int, size: int) -> bytes | str:
        """Bytes ``[start, end)`` of the file at ``url``, or why the answer cannot be used.

        One ranged GET on huggingface_hub's session, with its headers (token,
        user agent); the body is streamed and never read past what was asked.
        """
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        headers = build_hf_headers(token=self.token)
        headers["Range"] = f"bytes={start}-{end - 1}"
        headers["Accept-Encoding"] = "identity"
        want = end - start

        def one() -> bytes | str:
            with get_session().stream("GET", url, headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                    hf_raise_for_status(response)
                if response.status_code == 200 and start == 0:
                    return _read_capped(response, want, exact=False)
                if response.status_code != 206:
                    return f"asked for bytes {start}-{end - 1}, got HTTP {response.status_code}"
                claimed = response.headers.get("Content-Range", "")
                m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", claimed.strip())
                if m is None:
                    return f"asked for bytes {start}-{end - 1}, got Content-Range {claimed!r}"
                first, last, total = int(m.group(1)), int(m.group(2)), m.group(3)
                if first != start or last != end - 1 or (total != "*" and int(total) != size):
                    return (
                        f"asked for bytes {start}-{end - 1} of {size}, the Hub answered "
                        f"Content-Range {claimed!r}"
                    )
                return _read_capped(response, want, exact=True)

        result = self.call(f"{path}: range request", one)
        if isinstance(result, bytes):
            self.transfer.add(len(result), path, ranged=True)
        return result


def _quiet_tqdm() -> Any:
    """A progress-bar class that draws nothing: the audit's output stays the report's."""
    from huggingface_hub.utils import tqdm

    class Quiet(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return Quiet


def _read_capped(response: Any, want: int, *, exact: bool) -> bytes | str:
    """At most ``want`` bytes of a streamed body (``exact``: any other length is an error)."""
    buf = bytearray()
    for chunk in response.iter_bytes():
        buf += chunk
        if len(buf) > want:
            if exact:
                return f"the range answer holds more than the {want} bytes asked for"
            break
    if exact and len(buf) != want:
        return f"the range answer holds {len(buf)} bytes where {want} were asked for"
    return bytes(buf[:want])


# ------------------------------------------------------------------ opening


def _plan(path: str, size: int, limits: HubLimits, downloaded: int) -> tuple[str, str]:
    """How to read one file: ``("download", "")`` or ``("range", why)``."""
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in _HEADER_SUFFIXES:
        return "range", f"{suffix[1:]} weights: header read by range requests"
    if suffix in _PICKLE_SUFFIXES:
        if size <= limits.pickle_bytes:
            return "download", ""
        return "range", (
            f"{size:,} bytes, above the {limits.pickle_bytes:,}-byte download cap for "
            "pickle-bearing files"
        )
    if size > limits.small_file_bytes:
        return "range", f"{size:,} bytes, above the {limits.small_file_bytes:,}-byte small-file cap"
    if downloaded + size > limits.download_total_bytes:
        return "range", (
            f"the {limits.download_total_bytes:,} bytes allowed for small files were spent"
        )
    return "download", ""


def open_hub_release(
    source: str | HubRef,
    *,
    endpoint: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    token: str | None = None,
    offline: bool | None = None,
    limits: HubLimits | None = None,
) -> Release:
    """Snapshot a Hub repository, transferring only small files and weight headers.

    ``endpoint``, ``cache_dir``, ``token`` and ``offline`` default to
    huggingface_hub's settings (``HF_ENDPOINT``, ``HF_HUB_CACHE``/``HF_HOME``,
    ``HF_TOKEN`` or the saved login, ``HF_HUB_OFFLINE``). Raises
    :class:`HubNotFoundError`, :class:`HubGatedError`,
    :class:`HubUnavailableError` or :class:`HubError`.
    """
    from huggingface_hub import constants

    ref = source if isinstance(source, HubRef) else parse_hub_source(source)
    if ref is None:
        raise HubError(f"not a Hub repository id (org/name[@revision]): {source}")
    limits = limits or HubLimits()
    if offline is None:
        offline = constants.is_offline_mode()
    cache = Path(cache_dir) if cache_dir is not None else Path(constants.HF_HUB_CACHE)
    if offline:
        return open_offline(ref, cache, limits)
    hub = _Hub(endpoint, cache, token, limits)
    info = hub.info(ref)
    commit = getattr(info, "sha", None)
    if not isinstance(commit, str) or not _COMMIT.match(commit):
        raise HubError(f"{ref}: the Hub did not name the commit of this revision")
    gated = getattr(info, "gated", False) or False
    if gated and token is None and _token() is None:
        raise HubGatedError(_gated_message(str(ref), has_token=False))
    download_rev = ref.revision or "main"
    snapshot = cache / f"models--{ref.repo_id.replace('/', '--')}" / "snapshots" / commit
    meter, heads = ReadMeter(), HeadCache()
    files: list[ReleaseFile] = []
    issues: list[ReleaseIssue] = []
    remote: dict[str, _Remote] = {}
    downloaded = 0
    listed = 0
    seen: set[str] = set()
    for entry in hub.listing(ref.repo_id, commit):
        if listed >= limits.max_files:
            issues.append(
                ReleaseIssue(
                    entry.path,
                    Problem(
                        "release.too-many-files",
                        f"the repository lists more than {limits.max_files} files; "
                        "the rest are not listed",
                    ),
                    gap=True,
                )
            )
            break
        listed += 1
        path, size = str(entry.path), int(entry.size)
        if not _safe_path(path) or path in seen or size < 0:
            why = "listed twice" if path in seen else "a path that leaves the release"
            why = "listed with a negative size" if size < 0 else why
            issues.append(
                ReleaseIssue(path, Problem("release.unreadable", f"not read: {why}"), gap=True)
            )
            continue
        seen.add(path)
        how, why = _plan(path, size, limits, downloaded)
        abs_path = snapshot.joinpath(*PurePosixPath(path).parts)
        if how == "download":
            try:
                local = hub.download(ref.repo_id, path, download_rev, commit)
            except HubEntryNotFound as exc:
                issues.append(ReleaseIssue(path, Problem("release.unreadable", str(exc)), gap=True))
                continue
            downloaded += size
            files.append(_local_file(local, path, meter, heads, issues))
            continue
        budget = limits.header_bytes if "weights" in why else HEAD_BYTES
        state = _Remote(
            hf_url(hub.endpoint, ref.repo_id, path, commit), path, size, budget, hub, why
        )
        state.sha256 = entry.lfs.sha256 if entry.lfs is not None else None
        remote[path] = state
        files.append(_remote_file(state, abs_path, meter, heads, issues))
        if "weights" not in why:
            issues.append(
                ReleaseIssue(path, Problem("hub.not-downloaded", f"not downloaded: {why}"))
            )
    files.sort(key=lambda f: f.path)
    issues.sort(key=lambda i: (i.path, i.problem.code))
    release = HubRelease(
        name=ref.repo_id,
        root=snapshot,
        source_kind="folder",
        files=tuple(files),
        issues=tuple(issues),
        meter=meter,
        hub=HubCacheOrigin(
            repo_id=ref.repo_id,
            repo_type="model",
            revision=commit,
            refs=(download_rev,) if download_rev != commit else (),
        ),
        heads=heads,
        transfer=hub.transfer,
        remote=remote,
        requested=ref.revision,
        gated=gated,
        endpoint=hub.endpoint,
    )
    from seewhy.release._hub_lineage import follow_lineage

    parents = follow_lineage(hub, release)
    return replace(release, parents=parents) if parents else release


def hf_url(endpoint: str, repo_id: str, path: str, commit: str) -> str:
    """The ``resolve`` URL of one file at a pinned commit."""
    from huggingface_hub import hf_hub_url

    return hf_hub_url(repo_id, path, revision=commit, endpoint=endpoint)


def _safe_path(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and all(p not in ("", ".", "..") for p in parts)


def _local_file(
    local: Path, path: str, meter: ReadMeter, heads: HeadCache, issues: list[ReleaseIssue]
) -> ReleaseFile:
    """A downloaded file, sniffed as a file of a folder is."""
    try:
        size = local.stat().st_size
        with FileSource(local, size, path, meter, heads) as source:
            head = source.read_at(0, HEAD_BYTES)
            heads.put(path, head)
            sniffed = sniff(PurePosixPath(path).name, head, source)
    except (OSError, ReleaseReadError) as exc:
        reason = exc.reason if isinstance(exc, ReleaseReadError) else str(exc)
        issues.append(ReleaseIssue(path, Problem("release.unreadable", f"cannot read: {reason}")))
        return ReleaseFile(path, 0, FileKind.UNREADABLE, local)
    issues.extend(ReleaseIssue(path, p) for p in sniffed.problems)
    return ReleaseFile(path, size, sniffed.kind, local, None, sniffed.note)


def _remote_file(
    state: _Remote,
    abs_path: Path,
    meter: ReadMeter,
    heads: HeadCache,
    issues: list[ReleaseIssue],
) -> ReleaseFile:
    """A file read by range: its head fetched and sniffed."""
    source = RemoteSource(state, abs_path, meter, heads)
    try:
        head = source.read_at(0, HEAD_BYTES)
        heads.put(state.path, head)
        sniffed = sniff(PurePosixPath(state.path).name, head, source)
    except ReleaseReadError as exc:
        issues.append(
            ReleaseIssue(state.path, Problem("release.unreadable", f"cannot read: {exc.reason}"))
        )
        return ReleaseFile(state.path, state.size, FileKind.UNREADABLE, abs_path)
    issues.extend(ReleaseIssue(state.path, p) for p in sniffed.problems)
    return ReleaseFile(state.path, state.size, sniffed.kind, abs_path, None, sniffed.note)


def open_offline(ref: HubRef, cache: Path, limits: HubLimits | None = None) -> HubRelease:
    """The repository as the local Hugging Face cache holds it (``HF_HUB_OFFLINE``).

    The revision (a branch or tag name through ``refs/``, or a commit hash)
    must have a snapshot in the cache. The cache holds what was downloaded,
    not necessarily the whole repository, so the release carries a gap. The
    ``base_model`` parents are read from the cache too, where it holds them.
    """
    limits = limits or HubLimits()
    from seewhy.release.hfcache import read_refs
    from seewhy.release.local import open_release

    folder = cache / f"models--{ref.repo_id.replace('/', '--')}"
    if not (folder / "snapshots").is_dir():
        raise HubNotFoundError(
            f"{ref}: HF_HUB_OFFLINE is set and the repository is not in the Hugging Face cache "
            f"({cache}); unset HF_HUB_OFFLINE or download it first"
        )
    revision = ref.revision or "main"
    commit = read_refs(folder).get(revision, revision)
    snapshot = folder / "snapshots" / commit
    if not _COMMIT.match(commit) or not snapshot.is_dir():
        raise HubNotFoundError(
            f"{ref}: HF_HUB_OFFLINE is set and the Hugging Face cache ({cache}) has no snapshot "
            f"of revision {revision}"
        )
    found = open_release(snapshot)
    gap = ReleaseIssue(
        ".",
        Problem(
            "hub.offline",
            "offline (HF_HUB_OFFLINE): the release is the files the local Hugging Face cache "
            "holds; the repository may hold more",
        ),
        gap=True,
    )
    release = HubRelease(
        name=ref.repo_id,
        root=found.root,
        source_kind=found.source_kind,
        files=found.files,
        issues=(*found.issues, gap),
        meter=found.meter,
        hub=found.hub,
        heads=found.heads,
        requested=ref.revision,
    )
    from seewhy.release._hub_lineage import cached_lineage

    parents = cached_lineage(cache, release, limits.lineage_depth, limits.lineage_width)
    return replace(release, parents=parents) if parents else release


@dataclass(frozen=True)
class CachedParentsRelease(Release):
    """A folder of a Hugging Face cache, with the ``base_model`` parents the same cache holds."""

    parents: tuple[HubParent, ...] = ()


def with_cached_parents(release: Release, limits: HubLimits | None = None) -> Release:
    """``release`` with its parents read from the cache it lies in, when it is a cache snapshot.

    Only the cache the snapshot is in is read (``models--org--name`` folders
    next to its own); a release not in a cache, or whose parents the cache
    does not hold, comes back unchanged.
    """
    if release.hub is None or isinstance(release, HubRelease):
        return release
    from seewhy.release._hub_lineage import cached_lineage

    limits = limits or HubLimits()
    root = release.root
    if len(root.parents) < 3 or root.parent.name != "snapshots":
        return release
    cache = root.parents[2]
    parents = cached_lineage(cache, release, limits.lineage_depth, limits.lineage_width)
    if not any(p.error is None for p in parents):
        return release
    kept = {f.name: getattr(release, f.name) for f in fields(Release) if f.init}
    return CachedParentsRelease(**kept, parents=parents)


# ----------------------------------------------------------------- analyzer


class HubAnalyzer:
    """States what a Hub audit transferred; runs last so every byte is counted.

    Facts: the pinned revision, the gating, the bytes transferred and the
    release's total size; findings for problems met on the wire (a range
    answer that lies about its length). Releases not read from the Hub get
    nothing.
    """

    name = "hub"

    def analyze(self, release: Release, ctx: AuditContext) -> AnalyzerResult:
        """See :class:`~seewhy.analyzers.interface.Analyzer`."""
        from seewhy.analyzers.interface import ResultBuilder
        from seewhy.report.model import CoverageStatus, Evidence

        b = ResultBuilder(self.name, ctx.rules)
        if not isinstance(release, HubRelease) or release.hub is None:
            return b.result
        for issue in release.transfer.problems:
            b.problem(issue.path, issue.problem)
        origin = (
            f"{release.endpoint}/{release.name}"
            if release.endpoint
            else f"{release.name} in the local Hugging Face cache (offline)"
        )
        where = (Evidence(note=origin),)
        b.fact("hub.revision", "Hub revision audited (commit)", release.hub.revision, where)
        if release.requested is not None:
            b.fact("hub.requested_revision", "Hub revision asked for", release.requested, where)
        if release.gated is not None:
            b.fact("hub.gated", "Hub gating", release.gated or "no", where)
        total = release.total_bytes
        sent = release.transfer.bytes
        b.fact("hub.total_bytes", "Release size on the Hub (bytes)", total, where)
        b.fact("hub.bytes_transferred", "Bytes transferred from the Hub", sent, where)
        b.fact(
            "hub.files_not_downloaded",
            "Files read by range requests only (not downloaded)",
            len(release.remote),
            where,
        )
        for path, remote in sorted(release.remote.items()):
            stated = f"; the Hub states sha256 {remote.sha256}" if remote.sha256 else ""
            b.cover(
                path,
                CoverageStatus.INCONCLUSIVE,
                f"not downloaded ({remote.why}); {remote.fetched:,} of {remote.size:,} bytes "
                f"transferred{stated}",
                deferred=True,
            )
        return b.result
