"""Pickles hidden in strings: safetensors ``__metadata__`` values and JSON files.

safetensors never unpickles anything, and neither does a JSON parser; but
code that reads a checkpoint's metadata or a configuration value may decode
and unpickle it (``pickle.loads(base64.b64decode(meta["state"]))``). A pickle
found in such a string is a finding of its own, and its contents are judged
with the same policy as every other pickle.

Which strings are candidates, cheaply and in one pass (a ``tokenizer.json``
holds a hundred thousand strings):

* at least :data:`MIN_CHARS` characters;
* **raw**: the text, encoded as Latin-1 (one character per byte, the way
  JSON ``\\u0080`` escapes carry bytes), begins with PROTO (``\\x80`` and a
  protocol of 0 to 5), or with an opcode pickles without PROTO begin with
  and holds control characters (protocol 0 arguments end in newlines);
* **escaped bytes**: a Python bytes literal (``b'\\x80\\x04...'``, what
  ``str(data)`` writes);
* **base64** (standard or URL-safe alphabet, padded or not, line breaks
  allowed): the first :data:`HEAD_CHARS` characters are in the alphabet and
  decode to a pickle start.

Only candidates are decoded in full (at most :data:`MAX_DECODED_BYTES` per
string) and walked by the symbolic machine; a candidate counts as a pickle
when the machine walks its first pickle to its STOP, or when it imports or
calls something before it stops (a payload followed by corrupt bytes still
runs). Nothing is ever unpickled.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Protocol

from seewhy.analyzers.security.pickle_report import Location, ScanReporter
from seewhy.errors import FormatError, ReleaseReadError
from seewhy.formats.interface import BytesSource
from seewhy.formats.jsondoc import json_pointer_escape, load_json
from seewhy.formats.pickle_limits import ScanLimits
from seewhy.formats.safetensors import SafetensorsInfo, parse_safetensors
from seewhy.release.model import FileKind, Release, ReleaseFile
from seewhy.report.model import Evidence

if TYPE_CHECKING:  # the pickle machine is imported by the first candidate to scan
    from seewhy.formats.pickle_vm import PickleScan

__all__ = [
    "EMBEDDED_KINDS",
    "HEAD_CHARS",
    "MAX_DECODED_BYTES",
    "MAX_PICKLES_PER_FILE",
    "MIN_CHARS",
    "EncodedPickle",
    "decode_candidate",
    "embedded_handler",
    "find_encoded_pickles",
    "report_embedded",
    "string_offset",
    "strings",
]

MIN_CHARS = 8
"""Shorter strings are never candidates (the smallest base64 pickle is longer)."""

HEAD_CHARS = 1024
"""Characters of a string decoded to decide whether it may be a pickle."""

MAX_DECODED_BYTES = 16 << 20
"""The most bytes one string is decoded to; a longer candidate is reported, not scanned."""

MAX_PICKLES_PER_FILE = 64
"""Candidates scanned per file; beyond it the file is inconclusive."""

# Opcodes that pickles without PROTO begin with (protocols 0 and 1).
_FIRST = frozenset("(}])cILSVNKJMGFXUTBCq")
_FIRST_BYTES = frozenset("".join(_FIRST).encode()) | frozenset(b"\x80\x88\x89\x8a\x8b\x8c")
_FIRST_BYTES |= frozenset(b"\x8d\x8e\x8f")
_STANDARD_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_URLSAFE_CHARS = _STANDARD_CHARS[:62] + "-_"


def _prefixes(alphabet: str) -> frozenset[str]:
    """The two base64 characters that begin the encoding of each byte in ``_FIRST_BYTES``."""
    return frozenset(
        alphabet[byte >> 2] + alphabet[((byte & 3) << 4) | low]
        for byte in _FIRST_BYTES
        for low in range(16)
    )


_B64_PREFIXES = _prefixes(_STANDARD_CHARS) | _prefixes(_URLSAFE_CHARS)
_CONTROL = re.compile(r"[\x00-\x1f]")
_STANDARD = re.compile(r"[A-Za-z0-9+/\r\n]+")
_URLSAFE = re.compile(r"[A-Za-z0-9_\-\r\n]+")


@dataclass(frozen=True)
class EncodedPickle:
    """A string that holds a pickle.

    ``pointer`` is the JSON pointer of the string, ``encoding`` how the pickle
    is written in it (``base64``, ``URL-safe base64``, ``Latin-1 text``,
    ``escaped bytes``), ``chars`` its length. ``data`` is the decoded pickle,
    ``None`` when it would exceed :data:`MAX_DECODED_BYTES`; ``scan`` what the
    symbolic machine found in it (``None`` with no data); ``text`` the string.
    """

    pointer: str
    encoding: str
    chars: int
    data: bytes | None
    scan: PickleScan | None
    text: str = field(default="", repr=False)


def _pickle_head(head: bytes) -> bool:
    if len(head) >= 2 and head[0] == 0x80:
        return head[1] <= 5
    from seewhy.formats.torch import is_pickle_start

    return is_pickle_start(head) is not None


def _latin1(text: str) -> bytes | None:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return None


def _unescape(text: str) -> bytes | None:
    try:
        return codecs.escape_decode(text.encode("latin-1"))[0]
    except (UnicodeEncodeError, ValueError):
        return None


def _raw(text: str, cap: int) -> tuple[str, bytes | None] | None:
    head = _latin1(text[:HEAD_CHARS])
    if head is None or not _pickle_head(head):
        return None
    if len(text) > cap:
        return "Latin-1 text", None
    return "Latin-1 text", _latin1(text)


def _escaped(text: str, cap: int) -> tuple[str, bytes | None] | None:
    quote = text[1]
    if not text.endswith(quote) or len(text) < 4:
        return None
    body = text[2:-1]
    head_text = body[: 4 * HEAD_CHARS]
    cut = head_text.rfind("\\", len(head_text) - 4)  # do not end inside an escape
    head = _unescape(head_text[:cut] if cut > 0 and len(body) > len(head_text) else head_text)
    if head is None or not _pickle_head(head):
        return None
    if len(body) > 4 * cap:
        return "escaped bytes", None
    data = _unescape(body)
    return ("escaped bytes", data) if data is not None and len(data) <= cap else None


def _base64(text: str, cap: int) -> tuple[str, bytes | None] | None:
    if text[:2] not in _B64_PREFIXES:  # the first byte cannot begin a pickle
        return None
    trimmed = text.rstrip("\r\n")
    body = trimmed.rstrip("=")
    if len(trimmed) - len(body) > 2:
        return None
    head = body[:HEAD_CHARS]
    if _STANDARD.fullmatch(head):
        alphabet, altchars, name = _STANDARD, None, "base64"
    elif _URLSAFE.fullmatch(head):
        alphabet, altchars, name = _URLSAFE, b"-_", "URL-safe base64"
    else:
        return None
    if "-" in head or "_" in head:
        alphabet, altchars, name = _URLSAFE, b"-_", "URL-safe base64"
    compact = head.replace("\r", "").replace("\n", "")
    try:
        sniff = base64.b64decode(compact[: len(compact) // 4 * 4], altchars=altchars)
    except (binascii.Error, ValueError):
        return None
    if not _pickle_head(sniff):
        return None
    if len(body) // 4 * 3 > cap:
        return name, None
    if not alphabet.fullmatch(body):
        return None
    compact = body.replace("\r", "").replace("\n", "")
    if len(compact) % 4 == 1:
        return None
    try:
        data = base64.b64decode(compact + "=" * (-len(compact) % 4), altchars=altchars)
    except (binascii.Error, ValueError):
        return None
    return name, data


def decode_candidate(text: str, cap: int = MAX_DECODED_BYTES) -> tuple[str, bytes | None] | None:
    """How ``text`` may carry a pickle, and the bytes (``None``: more than ``cap``).

    ``None`` when the text is no candidate. The cost is bounded by
    :data:`HEAD_CHARS` for strings that are not; a candidate is decoded whole.
    """
    if len(text) < MIN_CHARS:
        return None
    first = text[0]
    if first == "\x80" or (first in _FIRST and _CONTROL.search(text, 0, 64)):
        found = _raw(text, cap)
        if found is not None:
            return found
    if first == "b" and text[1] in "'\"" and text[2:3] == "\\":
        return _escaped(text, cap)
    if first == "\\" and text[1] == "x":
        found = _escaped(f"b'{text}'", cap)
        return found
    return _base64(text, cap)


def _is_pickle(scan: PickleScan) -> bool:
    """Whether a candidate's scan shows a pickle (not bytes that happen to start like one)."""
    if not scan.pickles:
        return False
    # A payload before corrupt bytes still runs: what it imports counts.
    return scan.pickles[0].complete or bool(scan.globals or scan.calls)


Candidate = tuple[str, "str | int", str]
"""A string to examine: the JSON pointer of its container, its key or index, its text."""


def strings(value: object, root: str = "") -> Iterator[Candidate]:
    """Every string value (not object key) of a parsed JSON value, with where it is.

    Iterative, in document order. Pointers are built for containers only; a
    string's own pointer is ``container + "/" + token`` (see :func:`pointer_of`),
    built by the caller for the few strings it keeps. Strings shorter than
    :data:`MIN_CHARS` are skipped.
    """
    if isinstance(value, str):
        if len(value) >= MIN_CHARS:
            yield root, "", value
        return
    stack: list[tuple[str, Iterator[tuple[str | int, object]]]] = []
    if isinstance(value, dict):
        stack.append((root, iter(value.items())))
    elif isinstance(value, list):
        stack.append((root, enumerate(value)))
    while stack:
        pointer, items = stack[-1]
        for token, child in items:
            if isinstance(child, str):
                if len(child) >= MIN_CHARS:
                    yield pointer, token, child
            elif isinstance(child, dict) and child:
                stack.append((pointer_of(pointer, token), iter(child.items())))
                break
            elif isinstance(child, list) and child:
                stack.append((pointer_of(pointer, token), enumerate(child)))
                break
        else:
            stack.pop()


def pointer_of(container: str, token: str | int) -> str:
    """The JSON pointer of ``token`` inside the container at ``container``."""
    if isinstance(token, int):
        return f"{container}/{token}"
    return f"{container}/{json_pointer_escape(token)}" if token or container else ""


def find_encoded_pickles(
    candidates: Iterator[Candidate],
    limits: ScanLimits,
    *,
    max_pickles: int = MAX_PICKLES_PER_FILE,
) -> tuple[list[EncodedPickle], bool]:
    """The strings among ``candidates`` that hold a pickle, each scanned.

    Returns the pickles found and whether every candidate was examined
    (``False`` when more than ``max_pickles`` candidates were met).
    """
    found: list[EncodedPickle] = []
    for container, token, text in candidates:
        decoded = decode_candidate(text)
        if decoded is None:
            continue
        if len(found) >= max_pickles:
            return found, False
        pointer = pointer_of(container, token)
        encoding, data = decoded
        if data is None:
            found.append(EncodedPickle(pointer, encoding, len(text), None, None, text))
            continue
        from seewhy.formats.pickle_vm import scan_pickle

        scan = scan_pickle(BytesSource(data), limits=limits, expected=1)
        if _is_pickle(scan):
            found.append(EncodedPickle(pointer, encoding, len(text), data, scan, text))
    return found, True


def string_offset(raw: bytes, text: str, base: int = 0) -> int | None:
    """Where ``text`` is written as a JSON string in ``raw`` (``base`` + index), if found."""
    for needle in (json.dumps(text), json.dumps(text, ensure_ascii=False)):
        index = raw.find(needle.encode("utf-8"))
        if index >= 0:
            return base + index
    return None


# ---------------------------------------------------------------- the analyzer's part

EMBEDDED_KINDS = frozenset(
    {
        FileKind.SAFETENSORS,
        FileKind.CONFIG,
        FileKind.TOKENIZER,
        FileKind.JSON,
        FileKind.WEIGHT_INDEX,
    }
)
"""Kinds whose strings are searched for encoded pickles."""

MAX_JSON_BYTES = 16 << 20
"""JSON files larger than this are not searched: the inventory's cap, which lists or
reports them (a parsed tree of a larger file would not fit a file's memory budget)."""

SAFETENSORS_CACHE_KEY = "safetensors"
"""``ctx.cache[(SAFETENSORS_CACHE_KEY, path)]`` holds a parsed :class:`SafetensorsInfo`."""

_PROFILES = ("base", "numpy", "torch")
_METADATA = "__metadata__"


def report_embedded(
    release: Release,
    file: ReleaseFile,
    cache: dict[tuple[str, str], object],
    reporter: ScanReporter,
    limits: ScanLimits,
    reasons: list[str],
) -> str | None:
    """Search one safetensors header or JSON file for encoded pickles and report them.

    Returns a coverage summary when a pickle was found (``None`` otherwise: the
    file is another analyzer's to cover). Reasons the search is incomplete go
    to ``reasons``. A file that does not parse is left to the analyzers of its
    format.
    """
    try:
        if file.kind is FileKind.SAFETENSORS:
            found, complete, raw, base = _safetensors(release, file, cache, limits)
        else:
            found, complete, raw, base = _json(release, file, limits)
    except (FormatError, ReleaseReadError):
        return None
    if not complete:
        reasons.append(f"more than {MAX_PICKLES_PER_FILE} strings look like encoded pickles")
    if not found:
        return None if complete else "strings searched for encoded pickles (stopped at the cap)"
    texts = {hit.pointer: hit for hit in found}
    for hit in texts.values():
        _report_one(hit, file, raw, base, reporter, reasons)
    names = ", ".join(sorted(texts)[:5]) + (" …" if len(texts) > 5 else "")
    return f"{len(found)} encoded pickle(s) in strings ({names}): decoded and analysed"


def _safetensors(
    release: Release,
    file: ReleaseFile,
    cache: dict[tuple[str, str], object],
    limits: ScanLimits,
) -> tuple[list[EncodedPickle], bool, bytes, int]:
    key = (SAFETENSORS_CACHE_KEY, file.path)
    with release.open(file) as source:
        info = cache.get(key)
        if not isinstance(info, SafetensorsInfo):
            info = parse_safetensors(source)
            cache[key] = info
        pairs = (
            (f"/{_METADATA}", name, text)
            for name, text in info.metadata.items()
            if len(text) >= MIN_CHARS
        )
        found, complete = find_encoded_pickles(pairs, limits)
        # The header is read again only to point at the strings found.
        raw = source.read_at(8, info.header_length) if found else b""
    return found, complete, raw, 8


def _json(
    release: Release, file: ReleaseFile, limits: ScanLimits
) -> tuple[list[EncodedPickle], bool, bytes, int]:
    if file.size > MAX_JSON_BYTES:
        return [], True, b"", 0
    raw = release.read_head(file, MAX_JSON_BYTES)
    value, _ = load_json(raw, what=PurePosixPath(file.path).name, code_prefix="json")
    found, complete = find_encoded_pickles(strings(value), limits)
    return found, complete, raw, 0


def _report_one(
    hit: EncodedPickle,
    file: ReleaseFile,
    raw: bytes,
    base: int,
    reporter: ScanReporter,
    reasons: list[str],
) -> None:
    offset = string_offset(raw, hit.text, base) if raw else None
    origin = f"{hit.encoding} pickle in the string {hit.pointer}"
    where = Location(file.path, hit.pointer, "byte offset of the string in the file")
    scan = hit.scan
    if scan is None:
        reasons.append(f"{hit.pointer}: an encoded pickle over {MAX_DECODED_BYTES:,} bytes")
        detail = f"more than {MAX_DECODED_BYTES:,} bytes once decoded: not analysed"
    else:
        detail = (
            f"{len(scan.globals)} global(s) imported, {len(scan.calls)} call site(s); "
            "its findings are listed"
        )
        if not scan.complete:
            reasons.append(f"{hit.pointer}: the encoded pickle was not walked to its end")
    what = "safetensors metadata" if hit.pointer.startswith(f"/{_METADATA}/") else "a JSON string"
    reporter.add(
        "SW-PKL-040",
        hit.pointer,
        f"{what} at {hit.pointer} carries a {hit.encoding} pickle ({hit.chars:,} characters): "
        f"nothing loads it while reading the file, code that decodes and unpickles the value "
        f"runs it; {detail}",
        [
            Evidence(
                path=file.path,
                offset=offset,
                pointer=hit.pointer,
                excerpt=(hit.data or b"")[:24].hex(" ") or None,
                note=f"{hit.encoding}; decoded bytes shown",
            )
        ],
        where,
    )
    if scan is not None:
        reporter.report(
            scan, where, _PROFILES, origin=origin, anchor=-1 if offset is None else offset
        )


class _Outcome(Protocol):
    reasons: list[str]


def embedded_handler(
    cache: dict[tuple[str, str], object], limits: ScanLimits
) -> Callable[[Release, ReleaseFile, ScanReporter, object, _Outcome], str | None]:
    """:func:`report_embedded` in the shape of the pickle analyzer's per-kind handlers."""

    def handle(
        release: Release,
        file: ReleaseFile,
        reporter: ScanReporter,
        policy: object,
        outcome: _Outcome,
    ) -> str | None:
        return report_embedded(release, file, cache, reporter, limits, outcome.reasons)

    return handle
