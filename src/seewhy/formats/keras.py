"""Describe Keras model configurations without Keras, TensorFlow or h5py.

Keras keeps the architecture of a model as JSON, and loading it means
resolving every ``module`` / ``class_name`` / ``registered_name`` it names:
that is where Keras's deserialization CVEs live (``Lambda`` bytecode,
arbitrary modules, ``TFSMLayer``). This module finds that JSON and lists the
objects it names; whether they are safe is the analyzer's call.

* :func:`parse_keras_zip` reads a Keras 3 ``.keras`` archive (a zip with
  ``config.json``, ``metadata.json`` and ``model.weights.h5``) through the
  bounded zip reader, and parses ``config.json`` strictly.
* :func:`find_hdf5_configs` finds the ``model_config`` (and
  ``training_config``) attribute of a legacy Keras ``.h5`` file. It parses
  just enough HDF5 to read an attribute message (versions 1-3, fixed-length
  or variable-length strings, the latter through the global heap) wherever
  the attribute's name appears in the scanned bytes; when that fails it
  falls back to a bounded scan for a JSON object that starts with
  ``{"class_name"``.
* :func:`walk_config` visits every object of a parsed config without
  recursion and returns each serialized object it names.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from seewhy.errors import FormatError
from seewhy.formats.archive import ZipListing, ZipMember, read_member, read_zip
from seewhy.formats.interface import Problem, Source
from seewhy.formats.jsondoc import json_pointer_escape, load_json, problem_codes

__all__ = [
    "PROBLEM_CODES",
    "ConfigWalk",
    "Hdf5Config",
    "Hdf5Keras",
    "KerasArchive",
    "KerasObject",
    "StringHit",
    "find_hdf5_configs",
    "parse_keras_zip",
    "walk_config",
]

PROBLEM_CODES: dict[str, str] = {
    **problem_codes("keras"),
    "keras.no-config": "The archive has no config.json, so Keras cannot rebuild the model "
    "from it (and seewhy cannot check it).",
    "keras.config-too-large": "config.json (or a model_config attribute) is larger than the "
    "reader's cap.",
    "keras.config-not-object": "The model config is valid JSON but not an object.",
    "keras.config-unreadable": "config.json cannot be read out of the archive (encrypted, "
    "unsupported compression or corrupt).",
    "keras.duplicate-config": "The archive holds config.json more than once; Python's zipfile "
    "(Keras) uses the last one.",
    "keras.unexpected-member": "The archive holds a member that Keras does not write "
    "(config.json, metadata.json, model.weights.h5/.npz, assets/).",
    "keras.hdf5-attribute-unreadable": "A model_config attribute was found but its value could "
    "not be read (unsupported HDF5 layout).",
    "keras.too-many-objects": "The config holds more values than the walker's cap; the rest "
    "were not checked.",
}
"""Every problem and error code this module produces, with a one-line description."""

MAX_CONFIG_BYTES = 64 * 1024 * 1024
MAX_METADATA_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 256
MAX_WALK_NODES = 2_000_000
MAX_DETAIL = 200
MAX_SCAN_ATTEMPTS = 32
MAX_SCAN_STARTS = 4096
_FIRST_WINDOW = 64 * 1024
SCAN_WINDOW = 16 * 1024 * 1024
HDF5_SCAN_BYTES = 64 * 1024 * 1024
CONFIG_ATTRIBUTES = ("model_config", "training_config")

_KERAS_MEMBERS = frozenset(
    {"config.json", "metadata.json", "model.weights.h5", "model.weights.npz"}
)
_DETAIL_KEYS = ("function", "function_type", "module", "filepath", "call_endpoint")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_GCOL = b"GCOL"
_CLASS_NAME_START = re.compile(rb'\{\s*"class_name"\s*:')
_SCAN_CHUNK = 4 * 1024 * 1024
_SCAN_OVERLAP = 64


# ---------------------------------------------------------------- config walk


@dataclass(frozen=True)
class KerasObject:
    """A serialized object a config names: a dict with ``class_name``/``module``/...

    ``pointer`` is the JSON pointer of the dict. ``details`` holds a few
    config values useful as evidence (``function``, ``filepath``, ...), each
    cut to 200 characters.
    """

    pointer: str
    class_name: str | None
    module: str | None
    registered_name: str | None
    details: tuple[tuple[str, str], ...] = ()

    def detail(self, key: str) -> str | None:
        """The detail recorded under ``key``, if any."""
        return next((value for name, value in self.details if name == key), None)


@dataclass(frozen=True)
class StringHit:
    """A key or string value that contains one of the needles asked for."""

    pointer: str
    needle: str
    text: str


@dataclass(frozen=True)
class ConfigWalk:
    """Every serialized object of a config, and strings that contain a needle."""

    objects: tuple[KerasObject, ...]
    hits: tuple[StringHit, ...]
    values: int
    complete: bool


def _clip(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)[: MAX_DETAIL + 1]
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def _name(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else _clip(value)


def _object_of(pointer: str, node: dict[str, Any]) -> KerasObject | None:
    if not any(key in node for key in ("class_name", "module", "registered_name")):
        return None
    details: list[tuple[str, str]] = []
    config = node.get("config")
    if isinstance(config, str):
        details.append(("config", _clip(config)))
    for prefix, holder in (("", node), ("config.", config)):
        if not isinstance(holder, dict):
            continue
        for key in _DETAIL_KEYS:
            if key in holder and (prefix or key not in ("module", "config")):
                details.append((prefix + key, _clip(holder[key])))
    return KerasObject(
        pointer=pointer,
        class_name=_name(node.get("class_name")),
        module=_name(node.get("module")),
        registered_name=_name(node.get("registered_name")),
        details=tuple(details),
    )


def walk_config(
    value: Any, needles: Iterable[str] = (), *, max_nodes: int = MAX_WALK_NODES
) -> ConfigWalk:
    """Visit every value of a parsed config, depth first, without recursion.

    Every dict with a ``class_name``, ``module`` or ``registered_name`` key
    becomes a :class:`KerasObject`; every key or string value that contains
    one of ``needles`` (case-insensitively) becomes a :class:`StringHit`.
    Stops after ``max_nodes`` values (``complete`` is then false).
    """
    wanted = tuple(needle.lower() for needle in needles)
    objects: list[KerasObject] = []
    hits: list[StringHit] = []
    stack: list[tuple[str, Any]] = [("", value)]
    visited = 0

    def check(pointer: str, text: str) -> None:
        lowered = text.lower()
        for needle in wanted:
            if needle in lowered:
                hits.append(StringHit(pointer, needle, _clip(text)))

    while stack:
        pointer, node = stack.pop()
        visited += 1
        if visited > max_nodes:
            return ConfigWalk(tuple(objects), tuple(hits), visited - 1, False)
        if isinstance(node, str):
            check(pointer, node)
        elif isinstance(node, dict):
            found = _object_of(pointer, node)
            if found is not None:
                objects.append(found)
            children = []
            for key, child in node.items():
                child_pointer = f"{pointer}/{json_pointer_escape(key)}"
                check(child_pointer, key)
                children.append((child_pointer, child))
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend(
                (f"{pointer}/{index}", child) for index, child in reversed(list(enumerate(node)))
            )
    return ConfigWalk(tuple(objects), tuple(hits), visited, True)


# ---------------------------------------------------------------- .keras archives


@dataclass(frozen=True)
class KerasArchive:
    """What :func:`parse_keras_zip` found in a ``.keras`` archive.

    ``configs`` holds every ``config.json`` member, parsed (normally one).
    """

    listing: ZipListing
    configs: tuple[tuple[ZipMember, Any], ...]
    metadata: dict[str, Any] | None
    problems: tuple[Problem, ...]

    @property
    def keras_version(self) -> str | None:
        """``keras_version`` from ``metadata.json``, when it is a string."""
        if self.metadata is None:
            return None
        version = self.metadata.get("keras_version")
        return version if isinstance(version, str) else None


def _member_json(source: Source, member: ZipMember, cap: int, problems: list[Problem]) -> Any:
    try:
        data = read_member(source, member, max_bytes=cap)
    except FormatError as exc:
        code = (
            "keras.config-too-large"
            if exc.code == "zip.member-too-large"
            else ("keras.config-unreadable")
        )
        raise FormatError(code, f"{member.name}: {exc.message}", exc.offset) from None
    value, found = load_json(data, what=member.name, code_prefix="keras", max_depth=MAX_JSON_DEPTH)
    problems.extend(
        Problem(p.code, p.message, member.data_offset, f"{member.name}#{p.pointer or ''}")
        for p in found
    )
    return value


def parse_keras_zip(source: Source) -> KerasArchive:
    """List a ``.keras`` archive and parse its ``config.json`` and ``metadata.json``.

    Raises:
        FormatError: a ``zip.*`` code when the archive cannot be listed;
            ``keras.no-config``, ``keras.config-too-large``,
            ``keras.config-unreadable`` or a ``keras.*`` JSON error when
            ``config.json`` cannot be checked.
    """
    listing = read_zip(source)
    problems: list[Problem] = []
    config_members = [m for m in listing.members if m.name == "config.json"]
    if not config_members:
        raise FormatError("keras.no-config", "the archive has no config.json member", None)
    if len(config_members) > 1:
        problems.append(
            Problem(
                "keras.duplicate-config",
                f"config.json appears {len(config_members)} times; Keras reads the last one",
                config_members[-1].central_offset,
                "config.json",
            )
        )
    configs: list[tuple[ZipMember, Any]] = []
    for member in config_members:
        value = _member_json(source, member, MAX_CONFIG_BYTES, problems)
        if not isinstance(value, dict):
            problems.append(
                Problem(
                    "keras.config-not-object",
                    f"config.json holds a JSON {type(value).__name__}, not an object",
                    member.data_offset,
                    "config.json",
                )
            )
        configs.append((member, value))
    metadata: dict[str, Any] | None = None
    meta_member = next((m for m in reversed(listing.members) if m.name == "metadata.json"), None)
    if meta_member is not None:
        try:
            value = _member_json(source, meta_member, MAX_METADATA_BYTES, problems)
        except FormatError as exc:
            problems.append(Problem(exc.code, exc.message, exc.offset, "metadata.json"))
        else:
            metadata = value if isinstance(value, dict) else None
    for member in listing.members:
        name = member.name
        if name in _KERAS_MEMBERS or name.startswith("assets/") or name == "assets":
            continue
        problems.append(
            Problem(
                "keras.unexpected-member",
                f"member {name!r} is not part of the Keras format",
                member.central_offset,
                name,
            )
        )
    return KerasArchive(listing, tuple(configs), metadata, tuple(problems))


# ---------------------------------------------------------------- HDF5


@dataclass(frozen=True)
class Hdf5Config:
    """One config JSON found in an HDF5 file.

    ``name`` is the attribute name (``model_config``) or ``None`` for a JSON
    object found by the byte scan only; ``offset`` is where its JSON text
    starts in the file.
    """

    name: str | None
    offset: int
    value: Any
    problems: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class Hdf5Keras:
    """What :func:`find_hdf5_configs` found.

    ``scanned`` is how many bytes from the start of the file were searched
    (the whole file when ``scanned == size``). ``located`` is true when at
    least one config came from a decoded ``model_config`` attribute rather
    than from the fallback byte scan.
    """

    size: int
    scanned: int
    configs: tuple[Hdf5Config, ...]
    attribute_names: tuple[str, ...]
    problems: tuple[Problem, ...]

    @property
    def located(self) -> bool:
        """Whether a ``model_config`` attribute was decoded."""
        return any(c.name == "model_config" for c in self.configs)


@dataclass(frozen=True)
class _Superblock:
    base: int
    offset_size: int
    length_size: int


def _superblock(source: Source) -> _Superblock:
    position = 0
    while position + 16 <= source.size and position <= 1 << 20:
        head = source.read_at(position, 64)
        if head.startswith(_HDF5_SIGNATURE):
            version = head[8]
            if version in (0, 1):
                offset_size, length_size = head[13], head[14]
                base_at = 24 if version == 0 else 28
            elif version in (2, 3):
                offset_size, length_size = head[9], head[10]
                base_at = 12
            else:
                raise FormatError(
                    "keras.hdf5-attribute-unreadable",
                    f"HDF5 superblock version {version}",
                    position,
                )
            if offset_size not in (2, 4, 8) or length_size not in (2, 4, 8):
                raise FormatError(
                    "keras.hdf5-attribute-unreadable",
                    f"HDF5 offset/length sizes {offset_size}/{length_size}",
                    position,
                )
            raw_base = head[base_at : base_at + offset_size]
            base = int.from_bytes(raw_base, "little") if len(raw_base) == offset_size else 0
            # Addresses are relative to the base address, which is normally
            # where the superblock sits (0 unless a user block precedes it).
            return _Superblock(base or position, offset_size, length_size)
        position = 512 if position == 0 else position * 2
    raise FormatError("keras.hdf5-attribute-unreadable", "no HDF5 superblock found", 0)


def _pad8(n: int) -> int:
    return (n + 7) & ~7


def _attribute_value(
    source: Source, block: _Superblock, name_at: int, name: bytes
) -> tuple[bytes, int] | None:
    """Decode the string value of the attribute message whose name starts at ``name_at``.

    Returns ``(value, offset of the value)`` or ``None`` when the bytes
    around the name are not an attribute message this reader understands.
    """
    name_size = len(name) + 1
    candidates: list[tuple[int, int]] = []  # (message start, version)
    if name_at >= 9:
        candidates.append((name_at - 9, 3))
    if name_at >= 8:
        candidates.extend(((name_at - 8, 1), (name_at - 8, 2)))
    for start, version in candidates:
        header = source.read_at(start, name_at - start)
        if len(header) != name_at - start or header[0] != version:
            continue
        flags = header[1]
        size_name, size_type, size_space = struct.unpack_from("<HHH", header, 2)
        if version > 1 and flags & 0x03:  # shared datatype or dataspace: not inline
            continue
        if size_name != name_size or size_type > 4096 or size_space > 4096:
            continue
        padded = _pad8 if version == 1 else (lambda n: n)
        type_at = name_at + padded(size_name)
        space_at = type_at + padded(size_type)
        data_at = space_at + padded(size_space)
        datatype = source.read_at(type_at, size_type)
        dataspace = source.read_at(space_at, size_space)
        if len(datatype) < 8 or len(dataspace) < 2:
            continue
        if not _scalar_or_single(dataspace):
            continue
        value = _string_value(source, block, datatype, data_at)
        if value is not None:
            return value
    return None


def _scalar_or_single(dataspace: bytes) -> bool:
    version, rank = dataspace[0], dataspace[1]
    if rank == 0:
        return True
    if rank != 1:
        return False
    first_dim_at = 8 if version == 1 else 4
    dim = dataspace[first_dim_at : first_dim_at + 8]
    return len(dim) >= 1 and int.from_bytes(dim, "little") == 1


def _string_value(
    source: Source, block: _Superblock, datatype: bytes, data_at: int
) -> tuple[bytes, int] | None:
    type_class = datatype[0] & 0x0F
    (element_size,) = struct.unpack_from("<I", datatype, 4)
    if type_class == 3:  # fixed-length string, stored inline
        if element_size > MAX_CONFIG_BYTES:
            raise FormatError(
                "keras.config-too-large",
                f"a {element_size:,}-byte string attribute is above the cap",
                data_at,
            )
        raw = source.read_at(data_at, element_size)
        if len(raw) != element_size:
            return None
        return raw.split(b"\x00", 1)[0], data_at
    if type_class == 9 and datatype[1] & 0x0F == 1:  # variable-length string
        return _global_heap_string(source, block, data_at)
    return None


def _global_heap_string(
    source: Source, block: _Superblock, data_at: int
) -> tuple[bytes, int] | None:
    size = 4 + block.offset_size + 4
    raw = source.read_at(data_at, size)
    if len(raw) != size:
        return None
    length = int.from_bytes(raw[:4], "little")
    collection = int.from_bytes(raw[4 : 4 + block.offset_size], "little") + block.base
    index = int.from_bytes(raw[4 + block.offset_size :], "little")
    head = source.read_at(collection, 8 + block.length_size)
    if len(head) != 8 + block.length_size or head[:4] != _GCOL:
        return None
    collection_size = int.from_bytes(head[8:], "little")
    end = min(collection + collection_size, source.size)
    position = collection + 8 + block.length_size
    object_header = 8 + block.length_size
    while position + object_header <= end:
        header = source.read_at(position, object_header)
        object_index = int.from_bytes(header[:2], "little")
        object_size = int.from_bytes(header[8:], "little")
        if object_index == 0:  # free space: the rest of the collection is empty
            return None
        if object_index == index:
            if object_size > MAX_CONFIG_BYTES or length > MAX_CONFIG_BYTES:
                raise FormatError(
                    "keras.config-too-large",
                    f"a {object_size:,}-byte string attribute is above the cap",
                    position,
                )
            data = source.read_at(position + object_header, object_size)
            if len(data) != object_size:
                return None
            return data[:length], position + object_header
        position += object_header + _pad8(object_size)
    return None


def _scan(
    source: Source, limit: int, names: tuple[bytes, ...]
) -> tuple[list[tuple[int, bytes]], list[int]]:
    """One pass over the first ``limit`` bytes.

    Returns the offset of every occurrence of each of ``names``, and the
    offsets of the first :data:`MAX_SCAN_STARTS` JSON objects that start
    with ``{"class_name"``.
    """
    hits: dict[tuple[int, bytes], None] = {}
    starts: dict[int, None] = {}
    position = 0
    while position < limit:
        chunk = source.read_at(position, min(_SCAN_CHUNK + _SCAN_OVERLAP, limit - position))
        if not chunk:
            break
        for name in names:
            found = chunk.find(name)
            while found >= 0:
                hits[(position + found, name)] = None
                found = chunk.find(name, found + 1)
        for match in _CLASS_NAME_START.finditer(chunk):
            if len(starts) >= MAX_SCAN_STARTS:
                break
            starts[position + match.start()] = None
        position += _SCAN_CHUNK
    return list(hits), sorted(starts)


def _decode_config(data: bytes, what: str, offset: int) -> Hdf5Config:
    value, problems = load_json(data, what=what, code_prefix="keras", max_depth=MAX_JSON_DEPTH)
    found = tuple(Problem(p.code, p.message, offset, p.pointer) for p in problems)
    return Hdf5Config(what, offset, value, found)


def _json_object_at(source: Source, start: int) -> bytes | None:
    """The JSON object text that starts at ``start``, read in growing windows; None if invalid."""
    decoder = json.JSONDecoder()
    window = _FIRST_WINDOW
    while True:
        text = source.read_at(start, min(window, source.size - start)).decode("utf-8", "replace")
        try:
            _, end = decoder.raw_decode(text)
        except json.JSONDecodeError as exc:
            cut_short = exc.pos >= len(text) - 1 or exc.msg.startswith("Unterminated string")
            if not cut_short or window >= SCAN_WINDOW or start + window >= source.size:
                return None
            window *= 4
            continue
        except (ValueError, RecursionError):
            return None
        return text[:end].encode("utf-8")


def _scan_json_objects(source: Source, starts: list[int]) -> list[Hdf5Config]:
    """Fallback: decode the JSON objects that start with ``{"class_name"`` at ``starts``."""
    found: list[Hdf5Config] = []
    covered_until = -1
    attempts = 0
    for start in starts:
        if start < covered_until:
            continue
        attempts += 1
        if attempts > MAX_SCAN_ATTEMPTS:
            break
        raw = _json_object_at(source, start)
        if raw is None:
            continue
        try:
            config = _decode_config(raw, "scan", start)
        except FormatError:
            continue
        found.append(Hdf5Config(None, start, config.value, config.problems))
        covered_until = start + len(raw)
    return found


def find_hdf5_configs(source: Source, *, scan_limit: int = HDF5_SCAN_BYTES) -> Hdf5Keras:
    """Find the Keras config attributes of an HDF5 file (see the module docstring).

    Scans the first ``scan_limit`` bytes for the attribute names in
    :data:`CONFIG_ATTRIBUTES` and decodes each attribute message found; when
    no ``model_config`` attribute can be decoded, falls back to JSON objects
    that start with ``{"class_name"``. Never raises for a missing config:
    the result then has no configs.

    Raises:
        FormatError: ``keras.config-too-large`` when an attribute is above
            the cap, or a ``keras.*`` JSON error when a located attribute is
            not valid JSON.
    """
    limit = min(scan_limit, source.size)
    problems: list[Problem] = []
    configs: list[Hdf5Config] = []
    names: list[str] = []
    try:
        block: _Superblock | None = _superblock(source)
    except FormatError as exc:
        problems.append(Problem(exc.code, exc.message, exc.offset))
        block = None
    patterns = tuple(name.encode() + b"\x00" for name in CONFIG_ATTRIBUTES)
    seen_values: set[int] = set()
    hits, json_starts = _scan(source, limit, patterns)
    for offset, pattern in hits:
        name = pattern[:-1].decode()
        names.append(name)
        value = None
        if block is not None:
            value = _attribute_value(source, block, offset, pattern[:-1])
        if value is None:
            problems.append(
                Problem(
                    "keras.hdf5-attribute-unreadable",
                    f"the bytes around {name!r} are not an attribute message this reader "
                    "can decode",
                    offset,
                    name,
                )
            )
            continue
        data, data_offset = value
        if data_offset in seen_values:
            continue
        seen_values.add(data_offset)
        configs.append(_decode_config(data, name, data_offset))
    if not any(c.name == "model_config" for c in configs):
        configs.extend(_scan_json_objects(source, json_starts))
    return Hdf5Keras(source.size, limit, tuple(configs), tuple(names), tuple(problems))
