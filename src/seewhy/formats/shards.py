"""Sharded releases: the ``*.index.json`` that maps tensors to shard files.

An index (``model.safetensors.index.json``, ``pytorch_model.bin.index.json``)
is ``{"metadata": {"total_size": int, ...}, "weight_map": {tensor: shard}}``
with shard file names relative to the index's folder. :func:`parse_index`
reads one without resolving any name; :func:`check_shards` compares it with
what the shard files in the folder actually hold.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from seewhy.errors import FormatError
from seewhy.formats.interface import Problem
from seewhy.formats.jsondoc import (
    HEADER_BOUNDS,
    JsonBounds,
    JsonObject,
    ProblemSink,
    brief,
    json_pointer,
    load_json_object,
)
from seewhy.formats.safetensors import MAX_DEPTH

MAX_INDEX_BYTES = 64 * 1024 * 1024
"""Default cap on the size of an index file (the largest real ones are a few MB)."""

MAX_INDEX_KEYS = 4_000_000
"""Default cap on JSON object members in one index."""

MAX_PROBLEMS = 1000
"""Default cap on problems recorded by one call; the rest are counted."""

PROBLEM_CODES: dict[str, str] = {
    # Fatal: raised as FormatError by parse_index.
    "shards.index-too-large": "index file is larger than the cap",
    "shards.index-not-utf8": "index is not valid UTF-8",
    "shards.index-not-json": "index is not valid JSON",
    "shards.index-not-object": "index JSON is not an object",
    "shards.index-too-deep": "index JSON is nested too deeply to parse safely",
    "shards.index-too-many-keys": "index JSON has more object members than the cap",
    "shards.index-too-many-values": "the index has more containers, strings or values than "
    "the bounds (refused by the pre-scan before decoding)",
    "shards.index-string-too-long": "a string of the index is longer than the bounds",
    "shards.missing-weight-map": "index has no weight_map",
    "shards.bad-weight-map": "index weight_map is not an object",
    # Non-fatal: Problem records.
    "shards.duplicate-key": "a JSON object in the index repeats a key; the last one wins",
    "shards.bad-metadata": "index metadata is not an object",
    "shards.bad-total-size": "metadata.total_size is not a non-negative integer",
    "shards.empty-weight-map": "weight_map lists no tensors",
    "shards.bad-weight-map-entry": "a weight_map value is not a string",
    "shards.bad-shard-name": "a shard name is absolute, empty, or has '..', '\\' or control bytes",
    "shards.missing-shard": "a shard the index lists is not in the folder",
    "shards.unlisted-shard": "a file named like a shard of this index is not listed in it",
    "shards.tensor-in-two-shards": "a tensor is in two shard files, or not in the one indexed",
    "shards.tensor-missing-from-shard": "the index puts a tensor in a shard that lacks it",
    "shards.tensor-not-indexed": "a listed shard holds a tensor the index does not list",
    "shards.total-size-mismatch": "metadata.total_size differs from the shards' tensor bytes",
    "shards.shard-kind": "a listed shard is present but its content is not the format the index "
    "implies (a safetensors index naming a pickle, say)",
    "shards.too-many-problems": "more problems than the cap; the rest were only counted",
}
"""Every code this module emits, raised or recorded, with a one-line description."""

# The Hugging Face shard naming pattern: model-00001-of-00004.safetensors
_SHARD_NAME = re.compile(r"(?P<prefix>.+)-(?P<index>\d+)-of-(?P<total>\d+)(?P<suffix>\.[^/]+)")
_DRIVE = re.compile(r"[A-Za-z]:")


@dataclass(frozen=True)
class ShardIndex:
    """A parsed shard index.

    ``weight_map`` holds the entries with a safe relative shard name;
    entries whose name is unsafe are in ``unsafe_entries`` (tensor to name as
    written) and must never be opened. ``metadata`` is the raw metadata
    object, ``total_size`` its ``total_size`` when that is a valid integer.
    """

    weight_map: dict[str, str]
    total_size: int | None
    metadata: dict[str, object]
    unsafe_entries: dict[str, str]
    problems: tuple[Problem, ...]

    @property
    def shard_names(self) -> tuple[str, ...]:
        """The safe shard names the index lists, sorted."""
        return tuple(sorted(set(self.weight_map.values())))


def is_safe_shard_name(name: str) -> bool:
    """True for a non-empty relative name with no ``..``, backslash, drive or control byte."""
    return bool(
        name
        and not name.startswith("/")
        and not _DRIVE.match(name)
        and ".." not in name
        and "\\" not in name
        and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in name)
    )


def parse_index(
    data: bytes,
    *,
    max_bytes: int = MAX_INDEX_BYTES,
    max_keys: int = MAX_INDEX_KEYS,
    max_depth: int = MAX_DEPTH,
    max_problems: int = MAX_PROBLEMS,
    bounds: JsonBounds = HEADER_BOUNDS,
) -> ShardIndex:
    """Parse a shard index file held in ``data``.

    Raises :class:`FormatError` (codes ``shards.*``) when the bytes are too
    large, not a JSON object, or have no ``weight_map`` object; records every
    other problem. Offsets in problems are byte offsets into the index file.
    """
    if len(data) > max_bytes:
        raise FormatError(
            "shards.index-too-large",
            f"index is {len(data)} bytes, above the cap of {max_bytes}",
            0,
        )
    doc = load_json_object(data, 0, "shards.index", max_keys, max_depth, bounds)
    rest = data[doc.end :]
    if rest.strip(b" \t\r\n"):
        at = doc.end + len(rest) - len(rest.lstrip(b" \t\r\n"))
        raise FormatError("shards.index-not-json", f"extra data after the JSON at byte {at}", at)
    root = doc.value
    sink = ProblemSink("shards", max_problems)
    known: set[int] = {id(root)}

    def duplicates(obj: JsonObject, parent: str | None = None) -> None:
        """Report the keys ``obj`` repeats; ``parent`` is its key in the root object."""
        known.add(id(obj))
        seen: dict[str, int] = {}
        for key in obj.duplicates:
            seen[key] = seen.get(key, 0) + 1
            path: tuple[str] | tuple[str, str] = (key,) if parent is None else (parent, key)
            sink.add(
                "shards.duplicate-key",
                f"{parent or 'the index'} names {brief(key)} more than once; the last one wins",
                offset=doc.keys.offset(path, seen[key]),
                pointer=json_pointer(*path),
            )

    duplicates(root)
    if "weight_map" not in root:
        raise FormatError("shards.missing-weight-map", "the index has no weight_map", 0)
    weight_map_value = root["weight_map"]
    if not isinstance(weight_map_value, JsonObject):
        raise FormatError(
            "shards.bad-weight-map",
            f"weight_map is {brief(weight_map_value)}, not an object",
            doc.keys.offset(("weight_map",)),
        )
    duplicates(weight_map_value, "weight_map")

    metadata: dict[str, object] = {}
    total_size: int | None = None
    meta_value = root.get("metadata")
    if isinstance(meta_value, JsonObject):
        duplicates(meta_value, "metadata")
        metadata = dict(meta_value)
        size_value = meta_value.get("total_size")
        if type(size_value) is int and size_value >= 0:
            total_size = size_value
        elif "total_size" in meta_value:
            sink.add(
                "shards.bad-total-size",
                "metadata.total_size is not a non-negative integer",
                offset=doc.keys.offset(("metadata", "total_size")),
                pointer="/metadata/total_size",
                excerpt=brief(size_value),
            )
    elif "metadata" in root:
        sink.add(
            "shards.bad-metadata",
            "metadata is not an object",
            offset=doc.keys.offset(("metadata",)),
            pointer="/metadata",
            excerpt=brief(meta_value),
        )

    weight_map: dict[str, str] = {}
    unsafe: dict[str, str] = {}
    if not weight_map_value:
        sink.add(
            "shards.empty-weight-map",
            "weight_map lists no tensors",
            offset=doc.keys.offset(("weight_map",)),
            pointer="/weight_map",
        )
    for tensor, shard in weight_map_value.items():
        if not isinstance(shard, str):
            sink.add(
                "shards.bad-weight-map-entry",
                f"the shard of tensor {brief(tensor)} is not a string",
                offset=doc.keys.offset(("weight_map", tensor)),
                pointer=json_pointer("weight_map", tensor),
                excerpt=brief(shard),
            )
        elif is_safe_shard_name(shard):
            weight_map[tensor] = shard
        else:
            unsafe[tensor] = shard
            sink.add(
                "shards.bad-shard-name",
                f"tensor {brief(tensor)} is mapped to an unsafe shard name",
                offset=doc.keys.offset(("weight_map", tensor)),
                pointer=json_pointer("weight_map", tensor),
                excerpt=brief(shard),
            )

    for obj in doc.duplicate_objects:
        if id(obj) not in known:
            sink.add(
                "shards.duplicate-key",
                f"an object nested inside the index repeats {brief(obj.duplicates[0])}",
            )
    return ShardIndex(weight_map, total_size, metadata, unsafe, sink.problems())


def check_shards(
    index: ShardIndex,
    present: Mapping[str, Collection[str] | None],
    *,
    shard_sizes: Mapping[str, int] | None = None,
    misfits: Mapping[str, str] | None = None,
    max_problems: int = MAX_PROBLEMS,
) -> tuple[Problem, ...]:
    """Compare an index with the shard files of its folder.

    ``present`` maps each shard file that exists (name relative to the
    index's folder) to the tensor names in it, or None when it could not be
    read, whatever its extension. ``shard_sizes``, when given, maps shard
    names to the bytes of tensor data in them, to check ``total_size``.
    ``misfits`` maps present shards that are not the format the index implies
    to what they are instead ("a pickle", "not safetensors but GGUF"). Problems name tensors by JSON
    pointer into the index (``/weight_map/<tensor>``) and shards in the
    message and excerpt; they carry no offset since they span files.
    """
    sink = ProblemSink("shards", max_problems)
    listed: dict[str, list[str]] = {}
    for tensor, shard in index.weight_map.items():
        listed.setdefault(shard, []).append(tensor)

    for shard in sorted(listed.keys() - present.keys()):
        tensors = listed[shard]
        sink.add(
            "shards.missing-shard",
            f"shard {brief(shard)} ({len(tensors)} tensors) is listed but not present",
            pointer=json_pointer("weight_map", tensors[0]),
            excerpt=shard,
        )

    for shard in sorted((misfits or {}).keys() & listed.keys() & present.keys()):
        sink.add(
            "shards.shard-kind",
            f"shard {brief(shard)} is listed and present, but it is {(misfits or {})[shard]}",
            pointer=json_pointer("weight_map", listed[shard][0]),
            excerpt=shard,
        )

    patterns = {(m["prefix"], m["suffix"]) for name in listed if (m := _SHARD_NAME.fullmatch(name))}
    for name in sorted(present.keys() - listed.keys()):
        m = _SHARD_NAME.fullmatch(name)
        if m and (m["prefix"], m["suffix"]) in patterns:
            contents = present[name]
            held = "unreadable" if contents is None else f"{len(contents)} tensors"
            sink.add(
                "shards.unlisted-shard",
                f"{brief(name)} ({held}) is named like a shard of this index but not listed",
                excerpt=name,
            )

    readable = {name: set(names) for name, names in present.items() if names is not None}
    for tensor, shard in index.weight_map.items():
        held_by = readable.get(shard)
        if held_by is not None and tensor not in held_by:
            sink.add(
                "shards.tensor-missing-from-shard",
                f"the index puts tensor {brief(tensor)} in {brief(shard)}, which lacks it",
                pointer=json_pointer("weight_map", tensor),
                excerpt=shard,
            )

    found: dict[str, list[str]] = {}
    for shard in sorted(readable):
        for tensor in sorted(readable[shard]):
            found.setdefault(tensor, []).append(shard)
    for tensor, shards in found.items():
        mapped = index.weight_map.get(tensor)
        places = sorted({*shards, mapped} if mapped is not None else set(shards))
        if len(places) > 1:
            where = ", ".join(brief(s) for s in shards)
            sink.add(
                "shards.tensor-in-two-shards",
                f"tensor {brief(tensor)} is in {where}"
                + (f"; the index puts it in {brief(mapped)}" if mapped is not None else ""),
                pointer=json_pointer("weight_map", tensor),
                excerpt=", ".join(places),
            )
        if mapped is None and tensor not in index.unsafe_entries:
            for shard in shards:
                if shard in listed:
                    sink.add(
                        "shards.tensor-not-indexed",
                        f"{brief(shard)} holds tensor {brief(tensor)}, which the index omits",
                        pointer=json_pointer("weight_map", tensor),
                        excerpt=shard,
                    )

    sizes = shard_sizes or {}
    if index.total_size is not None and listed and all(s in sizes for s in listed):
        total = sum(sizes[shard] for shard in listed)
        if total != index.total_size:
            sink.add(
                "shards.total-size-mismatch",
                f"metadata.total_size is {index.total_size} but the listed shards "
                f"hold {total} bytes of tensor data",
                pointer="/metadata/total_size",
            )
    return sink.problems()
