"""NumPy ``.npy`` headers and ``.npz`` archives, described without loading.

:func:`parse_npy_header` reads the magic, version and header of an ``.npy``
stream and checks the data size the header implies against the bytes that
follow. The header is a Python dict literal; it is evaluated with
:func:`ast.literal_eval` only after its length (64 KiB at most), its
characters, its nesting and its syntax tree have been checked. Object
dtypes mean a pickle follows the header: that is reported
(``npy.object-dtype``) and not analysed here.

:func:`describe_npz` lists an ``.npz`` archive (a ZIP of ``.npy`` files) and
parses the header of each member from at most its first few KiB.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass

from seewhy.errors import FormatError
from seewhy.formats.archive import (
    METHOD_STORED,
    ZipListing,
    ZipMember,
    read_member_head,
)
from seewhy.formats.interface import BytesSource, Problem, Source, read_exact

__all__ = [
    "NPY_MAGIC",
    "PROBLEM_CODES",
    "NpyInfo",
    "NpzArray",
    "NpzInfo",
    "describe_npz",
    "parse_npy_header",
]

PROBLEM_CODES: dict[str, str] = {
    # Fatal: raised as FormatError by parse_npy_header (recorded per member by describe_npz).
    "npy.truncated": "The stream ends inside the magic, the header length or the header.",
    "npy.bad-magic": "The stream does not start with the .npy magic b'\\x93NUMPY'.",
    "npy.bad-version": "The .npy format version is not 1.0, 2.0 or 3.0.",
    "npy.header-too-large": "The header length exceeds 64 KiB.",
    "npy.bad-header": "The header is not a dict literal with valid descr, fortran_order and shape.",
    # Non-fatal: recorded as Problem.
    "npy.object-dtype": "The dtype holds Python objects: a pickle follows the header (loaded "
    "only with allow_pickle=True), not analysed here.",
    "npy.size-mismatch": "The bytes after the header differ from shape times item size.",
    "npy.extra-keys": "The header has keys besides descr, fortran_order and shape (NumPy "
    "refuses to load it).",
    "npy.large-header": "The header is longer than 10,000 bytes; np.load refuses it unless "
    "allow_pickle=True or max_header_size is raised.",
    "npy.unsized-dtype": "The dtype is not one whose item size is derived here; the data "
    "size is not checked.",
    "npz.non-npy-member": "An .npz member is not an .npy file (np.load returns it as raw bytes).",
    "npz.unreadable-member": "An .npz member's header could not be read (encrypted, "
    "unsupported compression, corrupt or out of bounds).",
}
"""Every problem and error code this module produces, with a one-line description."""

NPY_MAGIC = b"\x93NUMPY"
"""The first six bytes of every ``.npy`` stream."""

_VERSIONS = {(1, 0): 2, (2, 0): 4, (3, 0): 4}  # version -> width of the header length
_MAX_HEADER = 64 * 1024
_NUMPY_MAX_HEADER = 10_000
_MAX_DEPTH = 16
_NPZ_HEAD = 4096
_KEYS = frozenset({"descr", "fortran_order", "shape"})
_ALLOWED_NODES = (
    ast.Expression,
    ast.Dict,
    ast.Tuple,
    ast.List,
    ast.Constant,
    ast.Load,
)
_SIMPLE_DESCR = re.compile(
    r"(?P<order>[<>|=]?)"
    r"(?P<type>\?|b1|[iu](?:1|2|4|8)|f(?:2|4|8|12|16)|c(?:8|16|24|32)"
    r"|[SUV](?P<count>[0-9]{1,9})"
    r"|[mM]8(?:\[[0-9]{0,4}(?:Y|M|W|D|h|m|s|ms|us|ns|ps|fs|as)\])?)"
)
_OBJECT_DESCR = re.compile(r"[<>|=]?O[0-9]*")


@dataclass(frozen=True)
class NpyInfo:
    """What an ``.npy`` header says, and whether the data size agrees.

    ``data_offset`` is absolute in the source. ``descr`` is the dtype
    description as written (``repr`` of the list for structured dtypes).
    ``expected_data_bytes`` is ``None`` where the item size is unknown
    (object or unusual dtypes); ``data_bytes`` is what follows the header
    within the stream's size.
    """

    version: tuple[int, int]
    header_length: int
    data_offset: int
    descr: str
    structured: bool
    fortran_order: bool
    shape: tuple[int, ...]
    element_count: int
    itemsize: int | None
    has_object_dtype: bool
    expected_data_bytes: int | None
    data_bytes: int
    problems: tuple[Problem, ...]
    pickles_analysed: bool = False


@dataclass(frozen=True)
class NpzArray:
    """One member of an ``.npz`` archive; ``info`` is ``None`` when its header is unreadable.

    For a compressed member, ``info.data_offset`` counts from the start of the
    member's uncompressed bytes, not from the start of the file.
    """

    name: str
    key: str
    compressed: bool
    info: NpyInfo | None


@dataclass(frozen=True)
class NpzInfo:
    """The arrays of an ``.npz`` archive.

    ``problems`` holds the archive's own problems and every member's, each
    member problem with ``pointer`` set to the member name.
    """

    arrays: tuple[NpzArray, ...]
    compressed: bool
    has_object_dtype: bool
    problems: tuple[Problem, ...]
    pickles_analysed: bool = False


def parse_npy_header(source: Source, offset: int = 0, size: int | None = None) -> NpyInfo:
    """Parse the ``.npy`` stream of ``size`` bytes at ``offset`` (default: to the end).

    ``size`` may exceed what ``source`` holds when only the head of a
    stream is at hand (a compressed ``.npz`` member): sizes are checked
    against ``size``, bytes are read from ``source``. Raises
    :class:`~seewhy.errors.FormatError` (codes ``npy.*``) when the header
    cannot be described.
    """
    total = source.size - offset if size is None else size
    if total < len(NPY_MAGIC) + 2:
        raise FormatError("npy.truncated", f"{total} bytes is too short for an .npy header", offset)
    start = read_exact(source, offset, len(NPY_MAGIC) + 2, ".npy magic", "npy.truncated")
    if start[: len(NPY_MAGIC)] != NPY_MAGIC:
        raise FormatError("npy.bad-magic", "the stream does not start with b'\\x93NUMPY'", offset)
    version = (start[6], start[7])
    width = _VERSIONS.get(version)
    if width is None:
        raise FormatError(
            "npy.bad-version", f".npy format version {version[0]}.{version[1]}", offset + 6
        )
    prefix = len(NPY_MAGIC) + 2 + width
    if total < prefix:
        raise FormatError("npy.truncated", "the stream ends inside the header length", offset)
    length_bytes = read_exact(source, offset + 8, width, ".npy header length", "npy.truncated")
    header_length = int.from_bytes(length_bytes, "little")
    if header_length > _MAX_HEADER:
        raise FormatError(
            "npy.header-too-large",
            f"the header is {header_length} bytes; the cap is {_MAX_HEADER}",
            offset + 8,
        )
    if prefix + header_length > total:
        raise FormatError(
            "npy.truncated",
            f"the {header_length}-byte header runs past the {total}-byte stream",
            offset + prefix,
        )
    raw = read_exact(source, offset + prefix, header_length, ".npy header", "npy.truncated")
    header = _evaluate_header(raw, version, offset + prefix)

    problems: list[Problem] = []
    extra = sorted(str(key) for key in header if key not in _KEYS)
    if extra:
        problems.append(
            Problem(
                "npy.extra-keys",
                f"the header has extra keys {', '.join(extra)}",
                offset + prefix,
            )
        )
    if header_length > _NUMPY_MAX_HEADER:
        problems.append(
            Problem(
                "npy.large-header",
                f"the header is {header_length} bytes, over np.load's default limit of "
                f"{_NUMPY_MAX_HEADER}",
                offset + 8,
            )
        )
    descr_value = header["descr"]
    shape = header["shape"]
    fortran_order = header["fortran_order"]
    if not _valid_descr(descr_value, 0):
        raise FormatError(
            "npy.bad-header", f"descr {descr_value!r} is not a dtype description", offset + prefix
        )
    if not isinstance(shape, tuple) or not all(type(dim) is int and dim >= 0 for dim in shape):
        raise FormatError(
            "npy.bad-header", f"shape {shape!r} is not a tuple of sizes", offset + prefix
        )
    if not isinstance(fortran_order, bool):
        raise FormatError(
            "npy.bad-header", f"fortran_order {fortran_order!r} is not a bool", offset + prefix
        )

    descr = descr_value if isinstance(descr_value, str) else repr(descr_value)
    has_object = _has_object(descr_value)
    itemsize = None if has_object else _itemsize(descr_value)
    count = math.prod(shape)
    data_offset = offset + prefix + header_length
    data_bytes = total - prefix - header_length
    expected = None if itemsize is None else count * itemsize
    if has_object:
        problems.append(
            Problem(
                "npy.object-dtype",
                f"dtype {descr} holds Python objects: a pickle follows the header and is not "
                "analysed here",
                data_offset,
            )
        )
    elif expected is None:
        problems.append(
            Problem(
                "npy.unsized-dtype",
                f"the item size of dtype {descr} is not derived here; the data size is not checked",
                offset + prefix,
            )
        )
    elif expected != data_bytes:
        relation = "short of" if data_bytes < expected else "more than"
        problems.append(
            Problem(
                "npy.size-mismatch",
                f"{data_bytes} data bytes follow the header, {relation} the {_count(expected)} "
                f"that shape {shape} of {descr} needs",
                data_offset,
            )
        )
    return NpyInfo(
        version=version,
        header_length=header_length,
        data_offset=data_offset,
        descr=descr,
        structured=not isinstance(descr_value, str),
        fortran_order=fortran_order,
        shape=shape,
        element_count=count,
        itemsize=itemsize,
        has_object_dtype=has_object,
        expected_data_bytes=expected,
        data_bytes=data_bytes,
        problems=tuple(problems),
    )


def _count(number: int) -> str:
    """Write a count; shapes can multiply to numbers too long to print in full."""
    if number.bit_length() <= 128:
        return str(number)
    return f"about 2**{number.bit_length() - 1}"


def _bad_header(message: str, offset: int) -> FormatError:
    return FormatError("npy.bad-header", message, offset)


def _evaluate_header(raw: bytes, version: tuple[int, int], offset: int) -> dict[object, object]:
    """Check the header text, then evaluate it as a literal dict."""
    try:
        text = raw.decode("utf-8" if version >= (3, 0) else "latin-1")
    except UnicodeDecodeError as error:
        raise _bad_header("the header is not valid UTF-8", offset) from error
    if any(not (char.isprintable() or char in "\n\t\r") for char in text):
        raise _bad_header("the header holds control characters", offset)
    if _nesting(text) > _MAX_DEPTH:
        raise _bad_header(f"the header nests brackets deeper than {_MAX_DEPTH}", offset)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as error:
        raise _bad_header("the header is not a Python literal", offset) from error
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise _bad_header(f"the header holds a {type(node).__name__} expression", offset)
        if isinstance(node, ast.Constant) and not isinstance(node.value, (str, int)):
            raise _bad_header(f"the header holds the constant {node.value!r}", offset)
    if not isinstance(tree.body, ast.Dict):
        raise _bad_header("the header is not a dict", offset)
    try:
        value = ast.literal_eval(tree)
    except (ValueError, TypeError, MemoryError, RecursionError) as error:
        raise _bad_header("the header is not a valid literal", offset) from error
    if not isinstance(value, dict):
        raise _bad_header("the header is not a dict", offset)
    missing = sorted(_KEYS - set(value))
    if missing:
        raise _bad_header(f"the header lacks {', '.join(missing)}", offset)
    return value


def _nesting(text: str) -> int:
    """The deepest bracket nesting outside string literals."""
    depth = deepest = 0
    quote = ""
    escaped = False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _valid_descr(descr: object, depth: int) -> bool:
    """Whether ``descr`` has the shape of a dtype description (string or field list)."""
    if isinstance(descr, str):
        return True
    if not isinstance(descr, list) or depth > _MAX_DEPTH:
        return False
    for field in descr:
        if not isinstance(field, tuple) or len(field) not in (2, 3):
            return False
        name = field[0]
        if not (
            isinstance(name, str)
            or (
                isinstance(name, tuple) and len(name) == 2 and all(isinstance(n, str) for n in name)
            )
        ):
            return False
        if not _valid_descr(field[1], depth + 1):
            return False
        if len(field) == 3 and not _valid_subshape(field[2]):
            return False
    return True


def _valid_subshape(shape: object) -> bool:
    if type(shape) is int:
        return shape >= 0
    return isinstance(shape, tuple) and all(type(dim) is int and dim >= 0 for dim in shape)


def _has_object(descr: object) -> bool:
    """Whether a (validated) dtype description holds an object type anywhere."""
    if isinstance(descr, str):
        return _OBJECT_DESCR.fullmatch(descr) is not None
    assert isinstance(descr, list)
    return any(_has_object(field[1]) for field in descr)


def _itemsize(descr: object) -> int | None:
    """Bytes per item of a validated, object-free description, or ``None`` if unknown."""
    if isinstance(descr, str):
        return _simple_itemsize(descr)
    assert isinstance(descr, list)
    total = 0
    for field in descr:
        size = _itemsize(field[1])
        if size is None:
            return None
        if len(field) == 3:
            sub = field[2]
            size *= sub if isinstance(sub, int) else math.prod(sub)
        total += size
    return total


def _simple_itemsize(descr: str) -> int | None:
    """Item size of a simple description; NumPy is consulted only after a strict match."""
    match = _SIMPLE_DESCR.fullmatch(descr)
    if match is None:
        return None
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is optional
        return _table_itemsize(match)
    try:
        return int(numpy.dtype(descr).itemsize)
    except (TypeError, ValueError):
        return None


def _table_itemsize(match: re.Match[str]) -> int | None:
    kind = match.group("type")
    count = match.group("count")
    if kind in ("?", "b1"):
        return 1
    if count is not None:
        return int(count) * (4 if kind[0] == "U" else 1)
    if kind[0] in "mM":
        return 8
    return int(kind[1:])


def describe_npz(listing: ZipListing, source: Source) -> NpzInfo:
    """Describe the arrays of an ``.npz`` archive from its listing.

    Stored members' headers are read in place from their data offset;
    compressed members are inflated only as far as their header (4 KiB, or
    the header's declared length, at most 64 KiB).
    """
    problems: list[Problem] = []
    arrays: list[NpzArray] = []
    for member in listing.members:
        if member.is_dir:
            continue
        name = member.name
        if not name.endswith(".npy"):
            problems.append(
                Problem(
                    "npz.non-npy-member",
                    f"{name!r} is not an .npy file",
                    member.central_offset,
                    name,
                )
            )
            continue
        compressed = member.method != METHOD_STORED
        try:
            info = _member_header(source, member)
        except FormatError as error:
            code = error.code if error.code.startswith("npy.") else "npz.unreadable-member"
            problems.append(Problem(code, f"{name!r}: {error.message}", error.offset, name))
            info = None
        if info is not None:
            problems.extend(
                Problem(p.code, p.message, p.offset, name, p.excerpt) for p in info.problems
            )
        arrays.append(NpzArray(name=name, key=name[:-4], compressed=compressed, info=info))
    return NpzInfo(
        arrays=tuple(arrays),
        compressed=any(array.compressed for array in arrays),
        has_object_dtype=any(a.info is not None and a.info.has_object_dtype for a in arrays),
        problems=tuple(problems),
    )


def _member_header(source: Source, member: ZipMember) -> NpyInfo:
    """Parse one member's ``.npy`` header, reading as little of it as needed."""
    if member.method == METHOD_STORED and member.data_offset is not None and not member.encrypted:
        if member.data_offset + member.compressed_size > source.size:
            raise FormatError(
                "zip.member-out-of-bounds",
                f"data {member.data_offset}..{member.data_offset + member.compressed_size} lies "
                "outside the file",
                member.data_offset,
            )
        return parse_npy_header(source, member.data_offset, member.compressed_size)
    head = read_member_head(source, member, _NPZ_HEAD)
    if len(head) >= 12 and head.startswith(NPY_MAGIC):
        width = _VERSIONS.get((head[6], head[7]))
        if width is not None:
            needed = 8 + width + int.from_bytes(head[8 : 8 + width], "little")
            if len(head) < needed <= 8 + width + _MAX_HEADER:
                head = read_member_head(source, member, needed)
    return parse_npy_header(BytesSource(head), 0, member.uncompressed_size)
