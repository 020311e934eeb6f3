"""A bounded parser for GGUF v2/v3 headers: metadata and tensor infos, never tensor data.

The file is untrusted. Every count and length is checked against the bytes
that remain (and against a cap) before anything is allocated or walked, reads
go through a buffered cursor over :class:`~seewhy.formats.interface.Source`
so a tokenizer with 150k strings costs a handful of ``read_at`` calls, and
large arrays are walked but only their first items are kept.

The checks follow llama.cpp's hardened loader (``ggml/src/gguf.cpp``):
problems that leave the rest of the file unparseable raise
:class:`~seewhy.errors.FormatError`; the others become :class:`Problem`
records on the result. :data:`PROBLEM_CODES` lists every code either way.
"""

from __future__ import annotations

import math
import re
import struct
from collections import Counter
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import TypeAlias

from seewhy.errors import FormatError
from seewhy.formats.interface import Problem, Source, read_exact

__all__ = [
    "DEFAULT_ALIGNMENT",
    "FILE_TYPE_NAMES",
    "GGML_MAX_DIMS",
    "GGML_TYPES",
    "PROBLEM_CODES",
    "GgmlType",
    "GgufArray",
    "GgufInfo",
    "GgufTensor",
    "GgufValue",
    "GgufValueType",
    "parse_gguf",
]

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
GGML_MAX_DIMS = 4
GGML_MAX_NAME = 64  # llama.cpp rejects tensor names of this many bytes or more
MAX_ARRAY_DEPTH = 8  # arrays of arrays nested deeper than this are refused
ARRAY_HEAD_ITEMS = 16  # items kept from each array
_HEAD_BUDGET = 256  # items kept from one value, nested arrays included
_PROBLEMS_PER_CODE = 100  # further problems of one code are counted, not listed
_INT64_MAX = 2**63 - 1

_FIRST_WINDOW = 64 * 1024
_MAX_WINDOW = 1024 * 1024
_MAX_BASE_MODELS = 64  # general.base_model.N entries read
# A Hugging Face repository URL: its org/name id.
_HF_REPO = re.compile(
    r"https?://(?:www\.)?(?:huggingface\.co|hf\.co)/([\w.-]{1,96}/[\w.-]{1,96})/?(?:[?#].*)?$"
)

PROBLEM_CODES: dict[str, str] = {
    # Fatal: raised as FormatError.
    "gguf.bad-magic": "The file does not start with the GGUF magic bytes.",
    "gguf.unsupported-version": "The GGUF version is not 2 or 3 (or the file is big-endian).",
    "gguf.truncated": "The file ends inside the header, metadata or tensor infos.",
    "gguf.count-too-large": "A count or length cannot fit in the bytes that remain in the file.",
    "gguf.limit-exceeded": "A count, length or the header size is over the parser's limit.",
    "gguf.bad-value-type": "A metadata value has a type id outside 0..12.",
    "gguf.array-too-deep": "Metadata arrays are nested deeper than the parser allows.",
    # Non-fatal: Problem records on the result.
    "gguf.empty-key": "A metadata key is the empty string.",
    "gguf.duplicate-key": "A metadata key appears more than once (the first value is kept).",
    "gguf.invalid-utf8": "A key, string value or tensor name is not valid UTF-8.",
    "gguf.bad-bool": "A boolean metadata value is neither 0 nor 1.",
    "gguf.nested-array": "A metadata array holds arrays, which llama.cpp refuses to load.",
    "gguf.bad-alignment": "general.alignment is not a u32 holding a non-zero power of two.",
    "gguf.tensor-name-too-long": "A tensor name is longer than ggml's 63-byte limit.",
    "gguf.duplicate-tensor": "Two tensor infos have the same name.",
    "gguf.too-many-dims": "A tensor has more than 4 dimensions.",
    "gguf.negative-dim": "A tensor dimension is negative.",
    "gguf.dim-overflow": "A tensor's element count or byte size does not fit in int64.",
    "gguf.unknown-tensor-type": "A tensor's ggml type id is not a known type.",
    "gguf.row-not-block-aligned": "A tensor's first dimension is not a multiple of its block size.",
    "gguf.tensor-misaligned": "A tensor's data offset is not a multiple of the alignment.",
    "gguf.tensor-out-of-bounds": "A tensor's data extends past the end of the file.",
    "gguf.tensor-overlap": "The data of two tensors overlaps.",
    "gguf.data-gap": "The data section has bytes between tensors that no tensor uses.",
    "gguf.trailing-bytes": "The file has bytes after the end of the last tensor.",
}


class GgufValueType(IntEnum):
    """Type ids of GGUF metadata values."""

    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


_VALUE_TYPES = frozenset(int(t) for t in GgufValueType)

# struct format and size of each fixed-size value type (BOOL read as a byte).
_SCALARS: dict[int, tuple[str, int]] = {
    GgufValueType.UINT8: ("B", 1),
    GgufValueType.INT8: ("b", 1),
    GgufValueType.UINT16: ("H", 2),
    GgufValueType.INT16: ("h", 2),
    GgufValueType.UINT32: ("I", 4),
    GgufValueType.INT32: ("i", 4),
    GgufValueType.FLOAT32: ("f", 4),
    GgufValueType.BOOL: ("B", 1),
    GgufValueType.UINT64: ("Q", 8),
    GgufValueType.INT64: ("q", 8),
    GgufValueType.FLOAT64: ("d", 8),
}
_SCALAR_STRUCTS = {t: struct.Struct("<" + fmt) for t, (fmt, _) in _SCALARS.items()}


def _min_value_size(value_type: int) -> int:
    """Fewest bytes a value of this (valid) type can take."""
    if value_type == GgufValueType.STRING:
        return 8  # the length
    if value_type == GgufValueType.ARRAY:
        return 12  # item type and length
    return _SCALARS[value_type][1]


@dataclass(frozen=True)
class GgmlType:
    """A ggml tensor type: ``block_size`` elements take ``type_size`` bytes."""

    id: int
    name: str
    block_size: int
    type_size: int


_QK_K = 256

GGML_TYPES: dict[int, GgmlType] = {
    t.id: t
    for t in (
        GgmlType(0, "F32", 1, 4),
        GgmlType(1, "F16", 1, 2),
        GgmlType(2, "Q4_0", 32, 18),
        GgmlType(3, "Q4_1", 32, 20),
        # 4 and 5 (Q4_2, Q4_3) were removed.
        GgmlType(6, "Q5_0", 32, 22),
        GgmlType(7, "Q5_1", 32, 24),
        GgmlType(8, "Q8_0", 32, 34),
        GgmlType(9, "Q8_1", 32, 40),
        GgmlType(10, "Q2_K", _QK_K, 84),
        GgmlType(11, "Q3_K", _QK_K, 110),
        GgmlType(12, "Q4_K", _QK_K, 144),
        GgmlType(13, "Q5_K", _QK_K, 176),
        GgmlType(14, "Q6_K", _QK_K, 210),
        GgmlType(15, "Q8_K", _QK_K, 292),
        GgmlType(16, "IQ2_XXS", _QK_K, 66),
        GgmlType(17, "IQ2_XS", _QK_K, 74),
        GgmlType(18, "IQ3_XXS", _QK_K, 98),
        GgmlType(19, "IQ1_S", _QK_K, 50),
        GgmlType(20, "IQ4_NL", 32, 18),
        GgmlType(21, "IQ3_S", _QK_K, 110),
        GgmlType(22, "IQ2_S", _QK_K, 82),
        GgmlType(23, "IQ4_XS", _QK_K, 136),
        GgmlType(24, "I8", 1, 1),
        GgmlType(25, "I16", 1, 2),
        GgmlType(26, "I32", 1, 4),
        GgmlType(27, "I64", 1, 8),
        GgmlType(28, "F64", 1, 8),
        GgmlType(29, "IQ1_M", _QK_K, 56),
        GgmlType(30, "BF16", 1, 2),
        # 31..33 (Q4_0_4_4, Q4_0_4_8, Q4_0_8_8) were removed.
        GgmlType(34, "TQ1_0", _QK_K, 54),
        GgmlType(35, "TQ2_0", _QK_K, 66),
        # 36..38 (IQ4_NL_4_4, IQ4_NL_4_8, IQ4_NL_8_8) were removed.
        GgmlType(39, "MXFP4", 32, 17),
        GgmlType(40, "NVFP4", 64, 36),
        GgmlType(41, "Q1_0", 128, 18),
    )
}

# llama_ftype values (general.file_type), removed ones included for display.
FILE_TYPE_NAMES: dict[int, str] = {
    0: "ALL_F32",
    1: "MOSTLY_F16",
    2: "MOSTLY_Q4_0",
    3: "MOSTLY_Q4_1",
    4: "MOSTLY_Q4_1_SOME_F16",
    5: "MOSTLY_Q4_2",
    6: "MOSTLY_Q4_3",
    7: "MOSTLY_Q8_0",
    8: "MOSTLY_Q5_0",
    9: "MOSTLY_Q5_1",
    10: "MOSTLY_Q2_K",
    11: "MOSTLY_Q3_K_S",
    12: "MOSTLY_Q3_K_M",
    13: "MOSTLY_Q3_K_L",
    14: "MOSTLY_Q4_K_S",
    15: "MOSTLY_Q4_K_M",
    16: "MOSTLY_Q5_K_S",
    17: "MOSTLY_Q5_K_M",
    18: "MOSTLY_Q6_K",
    19: "MOSTLY_IQ2_XXS",
    20: "MOSTLY_IQ2_XS",
    21: "MOSTLY_Q2_K_S",
    22: "MOSTLY_IQ3_XS",
    23: "MOSTLY_IQ3_XXS",
    24: "MOSTLY_IQ1_S",
    25: "MOSTLY_IQ4_NL",
    26: "MOSTLY_IQ3_S",
    27: "MOSTLY_IQ3_M",
    28: "MOSTLY_IQ2_S",
    29: "MOSTLY_IQ2_M",
    30: "MOSTLY_IQ4_XS",
    31: "MOSTLY_IQ1_M",
    32: "MOSTLY_BF16",
    33: "MOSTLY_Q4_0_4_4",
    34: "MOSTLY_Q4_0_4_8",
    35: "MOSTLY_Q4_0_8_8",
    36: "MOSTLY_TQ1_0",
    37: "MOSTLY_TQ2_0",
    38: "MOSTLY_MXFP4_MOE",
    39: "MOSTLY_NVFP4",
    40: "MOSTLY_Q1_0",
    1024: "GUESSED",
}


@dataclass(frozen=True)
class GgufArray:
    """A metadata array: its item type, its length and its first items only.

    Arrays such as ``tokenizer.ggml.tokens`` are walked to the end but never
    kept whole; ``head`` holds at most 16 items (fewer deep inside nested
    arrays).
    """

    item_type: int
    length: int
    head: tuple[GgufValue, ...]

    @property
    def item_type_name(self) -> str:
        """Name of the item type (``"STRING"``, ``"INT32"``...)."""
        return GgufValueType(self.item_type).name


GgufValue: TypeAlias = "int | float | bool | str | GgufArray"


@dataclass(frozen=True)
class GgufTensor:
    """One tensor info.

    ``shape`` is in GGUF/ggml order, as stored (fastest-varying dimension
    first; ``()`` when there were too many dimensions to read). ``offset`` is
    absolute in the file. ``n_elements`` is 0 when a dimension is negative or
    the count overflows; ``nbytes`` is 0 whenever the size cannot be known
    (those cases carry a problem).
    """

    name: str
    ggml_type: int
    type_name: str
    shape: tuple[int, ...]
    offset: int
    nbytes: int
    n_elements: int


@dataclass(frozen=True)
class GgufInfo:
    """What a GGUF header says.

    ``metadata`` keeps the first value of each key; ``kv_offsets`` gives the
    file offset where each kept key/value pair starts and ``kv_types`` its
    :class:`GgufValueType`. ``header_size`` is where the tensor infos end and
    ``data_offset`` where the data section starts.
    """

    version: int
    tensor_count: int
    kv_count: int
    alignment: int
    metadata: dict[str, GgufValue]
    kv_offsets: dict[str, int]
    kv_types: dict[str, int]
    tensors: tuple[GgufTensor, ...]
    header_size: int
    data_offset: int
    file_size: int
    problems: tuple[Problem, ...] = field(default=())

    def _str(self, key: str) -> str | None:
        value = self.metadata.get(key)
        return value if isinstance(value, str) else None

    def _int(self, key: str) -> int | None:
        value = self.metadata.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return None

    @property
    def architecture(self) -> str | None:
        """``general.architecture``."""
        return self._str("general.architecture")

    @property
    def name(self) -> str | None:
        """``general.name``."""
        return self._str("general.name")

    @property
    def license(self) -> str | None:
        """``general.license``, else ``general.license.name``."""
        return self._str("general.license") or self._str("general.license.name")

    @property
    def license_name(self) -> str | None:
        """``general.license.name``."""
        return self._str("general.license.name")

    @property
    def license_link(self) -> str | None:
        """``general.license.link``."""
        return self._str("general.license.link")

    @property
    def base_models(self) -> tuple[tuple[str, str], ...]:
        """The models this one was made from, as ``(name, key)`` pairs.

        From ``general.base_model.count`` and ``general.base_model.N.*`` (llama.cpp's
        naming convention): a Hugging Face ``repo_url`` gives the repository id
        (``meta-llama/Llama-3.2-1B``), else ``organization/name``, else ``name``.
        ``key`` is the metadata key the name was taken from. At most 64 are read.
        """
        count = self._int("general.base_model.count")
        out: list[tuple[str, str]] = []
        for i in range(min(count or 0, _MAX_BASE_MODELS)):
            prefix = f"general.base_model.{i}"
            url = self._str(f"{prefix}.repo_url") or ""
            hub = _HF_REPO.match(url.strip())
            name = (self._str(f"{prefix}.name") or "").strip()
            org = (self._str(f"{prefix}.organization") or "").strip()
            if hub:
                out.append((hub.group(1), f"{prefix}.repo_url"))
            elif name and org and "/" not in name:
                out.append((f"{org}/{name}", f"{prefix}.name"))
            elif name:
                out.append((name, f"{prefix}.name"))
        return tuple(out)

    @property
    def file_type_id(self) -> int | None:
        """``general.file_type`` as stored."""
        return self._int("general.file_type")

    @property
    def file_type(self) -> str | None:
        """``general.file_type`` as a name (``"MOSTLY_Q4_1"``)."""
        ftype = self.file_type_id
        if ftype is None:
            return None
        return FILE_TYPE_NAMES.get(ftype, f"UNKNOWN_{ftype}")

    @property
    def size_label(self) -> str | None:
        """``general.size_label`` (``"135M"``)."""
        return self._str("general.size_label")

    @property
    def parameter_count(self) -> int:
        """Sum of the element counts of all tensors."""
        return sum(t.n_elements for t in self.tensors)

    @property
    def parameters_by_type(self) -> dict[str, int]:
        """Element counts per ggml type name."""
        counts: Counter[str] = Counter()
        for t in self.tensors:
            counts[t.type_name] += t.n_elements
        return dict(counts)

    @property
    def quantization_types(self) -> frozenset[str]:
        """The ggml type names the tensors use."""
        return frozenset(t.type_name for t in self.tensors)

    @property
    def context_length(self) -> int | None:
        """``{arch}.context_length``."""
        arch = self.architecture
        return self._int(f"{arch}.context_length") if arch else None

    @property
    def vocab_size(self) -> int | None:
        """``{arch}.vocab_size``, else the length of ``tokenizer.ggml.tokens``."""
        arch = self.architecture
        size = self._int(f"{arch}.vocab_size") if arch else None
        if size is not None:
            return size
        tokens = self.metadata.get("tokenizer.ggml.tokens")
        return tokens.length if isinstance(tokens, GgufArray) else None

    @property
    def chat_templates(self) -> dict[str, str]:
        """``tokenizer.chat_template`` and ``tokenizer.chat_template.<name>``, by key."""
        return {
            key: value
            for key, value in self.metadata.items()
            if isinstance(value, str)
            and (key == "tokenizer.chat_template" or key.startswith("tokenizer.chat_template."))
        }


class _Problems:
    """Collects problems, listing at most a fixed number per code."""

    def __init__(self) -> None:
        self._items: list[Problem] = []
        self._counts: Counter[str] = Counter()

    def add(
        self, code: str, message: str, offset: int | None = None, pointer: str | None = None
    ) -> None:
        self._counts[code] += 1
        if self._counts[code] <= _PROBLEMS_PER_CODE:
            self._items.append(Problem(code, message, offset, pointer))

    def result(self) -> tuple[Problem, ...]:
        extra = [
            Problem(code, f"{n - _PROBLEMS_PER_CODE} more problems of this kind not listed")
            for code, n in self._counts.items()
            if n > _PROBLEMS_PER_CODE
        ]
        return (*self._items, *extra)


_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_MAX_DIMS_KEPT = 16  # dims beyond this many are skipped, not read
_DIMS = [struct.Struct(f"<{n}q") for n in range(_MAX_DIMS_KEPT + 1)]


class _Cursor:
    """Sequential reads over a Source through a growing window buffer.

    Every byte is fetched at most once; skipping never reads. Reads past the
    end of the file raise ``gguf.truncated``, reads past ``limit`` raise
    ``gguf.limit-exceeded``.
    """

    def __init__(self, source: Source, limit: int) -> None:
        self._source = source
        self.size = source.size
        self._limit = limit
        self._buf = b""
        self._buf_start = 0
        self._window = _FIRST_WINDOW
        self.pos = 0

    @property
    def remaining(self) -> int:
        return max(self.size - self.pos, 0)

    def _check(self, n: int, what: str) -> None:
        end = self.pos + n
        if end > self.size:
            raise FormatError(
                "gguf.truncated",
                f"{what}: needs {n} bytes at offset {self.pos}, "
                f"but the file has {self.remaining} left",
                self.pos,
            )
        if end > self._limit:
            raise FormatError(
                "gguf.limit-exceeded",
                f"{what}: the header runs past the {self._limit}-byte limit",
                self.pos,
            )

    def _fill(self, n: int, what: str) -> int:
        """Make ``n`` bytes at ``pos`` available; return their offset in the buffer."""
        off = self.pos - self._buf_start
        if off >= 0 and off + n <= len(self._buf):
            return off
        self._check(n, what)
        buf_end = self._buf_start + len(self._buf)
        if off < 0 or self.pos > buf_end:  # pos left the buffer (a skip): start afresh
            keep, fetch_from = b"", self.pos
        else:
            keep, fetch_from = self._buf[off:], buf_end
        want = max(self._window, n - len(keep))
        # The buffer never extends past the limit, so reads beyond it come here.
        want = min(want, min(self.size, self._limit) - fetch_from)
        self._window = min(self._window * 2, _MAX_WINDOW)
        data = read_exact(self._source, fetch_from, want, what, code="gguf.truncated")
        self._buf = keep + data if keep else data
        self._buf_start = self.pos
        return 0

    def take(self, n: int, what: str) -> bytes:
        off = self._fill(n, what)
        self.pos += n
        return self._buf[off : off + n]

    def unpack(self, fmt: struct.Struct, what: str) -> tuple[int | float, ...]:
        off = self._fill(fmt.size, what)
        self.pos += fmt.size
        return fmt.unpack_from(self._buf, off)

    def u32(self, what: str) -> int:
        off = self._fill(4, what)
        self.pos += 4
        value: int = _U32.unpack_from(self._buf, off)[0]
        return value

    def u64(self, what: str) -> int:
        off = self._fill(8, what)
        self.pos += 8
        value: int = _U64.unpack_from(self._buf, off)[0]
        return value

    def skip(self, n: int, what: str) -> None:
        self._check(n, what)
        self.pos += n

    def string_length(self, what: str, max_string: int) -> int:
        """Read a string length and check it fits the file and the cap."""
        start = self.pos
        n = self.u64(what)
        if n > self.remaining:
            raise FormatError(
                "gguf.count-too-large",
                f"{what}: length {n} is more than the {self.remaining} bytes left",
                start,
            )
        if n > max_string:
            raise FormatError(
                "gguf.limit-exceeded",
                f"{what}: length {n} is over the {max_string}-byte string limit",
                start,
            )
        return n

    def walk_strings(
        self, count: int, keep: int, max_string: int, what: str
    ) -> tuple[list[bytes], int]:
        """Walk ``count`` strings; return the first ``keep`` raw and the index of
        the first one that is not UTF-8 (-1 if none)."""
        head: list[bytes] = []
        bad = -1
        i = 0
        unpack = _U64.unpack_from
        while i < count:
            # Fast path: strings wholly inside the buffer, no method calls.
            buf = self._buf
            end = len(buf)
            off = self.pos - self._buf_start
            if off >= 0:
                while i < count and off + 8 <= end:
                    n = unpack(buf, off)[0]
                    start = off + 8
                    stop = start + n
                    if stop > end or n > max_string:
                        break
                    if i < keep:
                        head.append(buf[start:stop])
                    elif bad < 0 and n:
                        try:
                            buf[start:stop].decode("utf-8")
                        except UnicodeDecodeError:
                            bad = i
                    off = stop
                    i += 1
                self.pos = self._buf_start + off
            if i >= count:
                break
            # Slow path: one string that crosses the buffer end (or breaks a limit).
            n = self.string_length(f"{what}[{i}]", max_string)
            raw = self.take(n, f"{what}[{i}]")
            if i < keep:
                head.append(raw)
            elif bad < 0:
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    bad = i
            i += 1
        return head, bad


def _decode(raw: bytes) -> tuple[str, bool]:
    """Decode UTF-8, with replacement characters when invalid; say whether it was valid."""
    try:
        return raw.decode("utf-8"), True
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), False


def _show(text: str, limit: int = 80) -> str:
    """``repr`` of a key or name for messages, cut short when long."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def _pad(x: int, n: int) -> int:
    return (x + n - 1) // n * n


class _Parser:
    def __init__(
        self,
        source: Source,
        max_kv: int,
        max_tensors: int,
        max_string: int,
        max_array: int,
        max_header_bytes: int,
    ) -> None:
        self.cur = _Cursor(source, max_header_bytes)
        self.problems = _Problems()
        self.max_kv = max_kv
        self.max_tensors = max_tensors
        self.max_string = max_string
        self.max_array = max_array

    # -- fixed parts -------------------------------------------------------

    def header(self) -> tuple[int, int, int]:
        cur = self.cur
        n = min(len(GGUF_MAGIC), cur.size)
        magic = cur.take(n, "magic") if n else b""
        if magic != GGUF_MAGIC[:n]:
            raise FormatError("gguf.bad-magic", f"not a GGUF file (magic {magic!r})", 0)
        if n < len(GGUF_MAGIC):
            raise FormatError("gguf.truncated", f"the file is only {n} bytes long", 0)
        version = cur.u32("version")
        if version not in SUPPORTED_VERSIONS:
            if version == 1:
                why = "GGUF v1 is no longer supported"
            elif version & 0xFFFF == 0:
                why = f"version {version:#x} looks byte-swapped: a big-endian file?"
            else:
                why = f"version {version} is not supported (only 2 and 3)"
            raise FormatError("gguf.unsupported-version", why, 4)
        tensor_count = cur.u64("tensor count")
        kv_count = cur.u64("metadata count")
        # Each KV takes at least 13 bytes, each tensor info at least 24.
        left = cur.remaining
        if kv_count * 13 + tensor_count * 24 > left:
            raise FormatError(
                "gguf.count-too-large",
                f"{kv_count} metadata entries and {tensor_count} tensor infos "
                f"cannot fit in the {left} bytes left",
                8,
            )
        if kv_count > self.max_kv:
            raise FormatError(
                "gguf.limit-exceeded", f"{kv_count} metadata entries (limit {self.max_kv})", 16
            )
        if tensor_count > self.max_tensors:
            raise FormatError(
                "gguf.limit-exceeded", f"{tensor_count} tensors (limit {self.max_tensors})", 8
            )
        return version, tensor_count, kv_count

    def string(self, what: str) -> tuple[bytes, str, bool]:
        n = self.cur.string_length(what, self.max_string)
        raw = self.cur.take(n, what)
        text, ok = _decode(raw)
        return raw, text, ok

    # -- metadata ----------------------------------------------------------

    def value_type(self, what: str) -> int:
        at = self.cur.pos
        vtype = self.cur.u32(what)
        if vtype not in _VALUE_TYPES:
            raise FormatError("gguf.bad-value-type", f"{what}: unknown value type {vtype}", at)
        return vtype

    def value(self, vtype: int, key: str, label: str, budget: list[int]) -> GgufValue:
        cur = self.cur
        at = cur.pos
        if vtype == GgufValueType.STRING:
            _, text, ok = self.string(f"value of {label}")
            if not ok:
                self.problems.add(
                    "gguf.invalid-utf8", f"value of {label} is not UTF-8", at, pointer=key
                )
            return text
        if vtype == GgufValueType.ARRAY:
            return self.array(key, label, 1, budget, keep=True)
        value = cur.unpack(_SCALAR_STRUCTS[vtype], f"value of {label}")[0]
        if vtype == GgufValueType.BOOL:
            if value not in (0, 1):
                self.problems.add(
                    "gguf.bad-bool", f"{label} has boolean byte {value}", at, pointer=key
                )
            return bool(value)
        return value

    def array(self, key: str, label: str, depth: int, budget: list[int], keep: bool) -> GgufArray:
        """Walk an array body (item type, length, items) and keep its head."""
        cur = self.cur
        at = cur.pos
        if depth > MAX_ARRAY_DEPTH:
            raise FormatError(
                "gguf.array-too-deep",
                f"{label}: arrays nested more than {MAX_ARRAY_DEPTH} deep",
                at,
            )
        item_type = self.value_type(f"item type of {label}")
        length = cur.u64(f"length of {label}")
        item_min = _min_value_size(item_type)
        if length * item_min > cur.remaining:
            raise FormatError(
                "gguf.count-too-large",
                f"{label}: {length} items cannot fit in the {cur.remaining} bytes left",
                at,
            )
        if length > self.max_array:
            raise FormatError(
                "gguf.limit-exceeded", f"{label}: {length} items (limit {self.max_array})", at
            )
        n_keep = min(length, ARRAY_HEAD_ITEMS, budget[0]) if keep else 0
        budget[0] -= n_keep
        head: list[GgufValue] = []

        if item_type == GgufValueType.STRING:
            raws, bad = cur.walk_strings(length, n_keep, self.max_string, f"{label}")
            for i, raw in enumerate(raws):
                text, ok = _decode(raw)
                if not ok and (bad < 0 or i < bad):
                    bad = i
                head.append(text)
            if bad >= 0:
                self.problems.add(
                    "gguf.invalid-utf8", f"{label}[{bad}] is not UTF-8", at, pointer=key
                )
        elif item_type == GgufValueType.ARRAY:
            if depth == 1:
                self.problems.add(
                    "gguf.nested-array", f"{label} is an array of arrays", at, pointer=key
                )
            for i in range(length):
                inner = self.array(key, label, depth + 1, budget, keep=i < n_keep)
                if i < n_keep:
                    head.append(inner)
        else:
            fmt, size = _SCALARS[item_type]
            if n_keep:
                items = cur.unpack(struct.Struct(f"<{n_keep}{fmt}"), f"items of {label}")
                if item_type == GgufValueType.BOOL:
                    head.extend(bool(v) for v in items)
                else:
                    head.extend(items)
            cur.skip((length - n_keep) * size, f"items of {label}")
        return GgufArray(item_type, length, tuple(head))

    def metadata(
        self, kv_count: int
    ) -> tuple[dict[str, GgufValue], dict[str, int], dict[str, int]]:
        cur = self.cur
        values: dict[str, GgufValue] = {}
        offsets: dict[str, int] = {}
        types: dict[str, int] = {}
        for i in range(kv_count):
            at = cur.pos
            _, key, ok = self.string(f"metadata key #{i}")
            if not ok:
                self.problems.add("gguf.invalid-utf8", f"metadata key #{i} is not UTF-8", at, key)
            if not key:
                self.problems.add("gguf.empty-key", f"metadata key #{i} is empty", at, key)
            label = _show(key)
            vtype = self.value_type(f"type of {label}")
            value = self.value(vtype, key, label, [_HEAD_BUDGET])
            if key in values:
                self.problems.add(
                    "gguf.duplicate-key",
                    f"{label} appears again (first at offset {offsets[key]}); kept the first",
                    at,
                    pointer=key,
                )
                continue
            values[key] = value
            offsets[key] = at
            types[key] = vtype
        return values, offsets, types

    def alignment(
        self, values: dict[str, GgufValue], types: dict[str, int], offsets: dict[str, int]
    ) -> int:
        key = "general.alignment"
        if key not in values:
            return DEFAULT_ALIGNMENT
        value = values[key]
        valid = (
            isinstance(value, int)
            and not isinstance(value, bool)
            and 0 < value < 2**32
            and value & (value - 1) == 0
        )
        if types[key] != GgufValueType.UINT32:
            self.problems.add(
                "gguf.bad-alignment",
                f"{key} has type {GgufValueType(types[key]).name}, not UINT32",
                offsets[key],
                key,
            )
        elif not valid:
            self.problems.add(
                "gguf.bad-alignment", f"{key} is {value}, not a power of two", offsets[key], key
            )
        # Use a usable stated value even when mistyped; otherwise the default.
        return value if valid and isinstance(value, int) else DEFAULT_ALIGNMENT

    # -- tensor infos ------------------------------------------------------

    def tensor_infos(self, tensor_count: int) -> list[tuple[GgufTensor, bool]]:
        """Read tensor infos, each with its offset still relative to the data section
        and whether its size is known."""
        cur = self.cur
        seen: set[str] = set()
        out: list[tuple[GgufTensor, bool]] = []
        for i in range(tensor_count):
            at = cur.pos
            raw, name, ok = self.string(f"name of tensor #{i}")
            if not ok:
                self.problems.add("gguf.invalid-utf8", f"tensor #{i} name is not UTF-8", at, name)
            label = _show(name)
            if len(raw) >= GGML_MAX_NAME:
                self.problems.add(
                    "gguf.tensor-name-too-long",
                    f"tensor {label} has a {len(raw)}-byte name (limit {GGML_MAX_NAME - 1})",
                    at,
                    name,
                )
            if name in seen:
                self.problems.add(
                    "gguf.duplicate-tensor", f"tensor {label} appears again", at, name
                )
            seen.add(name)

            n_dims = cur.u32(f"dims of {label}")
            if n_dims * 8 + 12 > cur.remaining:
                raise FormatError(
                    "gguf.count-too-large",
                    f"tensor {label}: {n_dims} dimensions cannot fit in the bytes left",
                    at,
                )
            if n_dims > GGML_MAX_DIMS:
                self.problems.add(
                    "gguf.too-many-dims",
                    f"tensor {label} has {n_dims} dimensions (limit {GGML_MAX_DIMS})",
                    at,
                    name,
                )
            shape: tuple[int, ...] | None = None
            if n_dims < len(_DIMS):
                shape = tuple(int(d) for d in cur.unpack(_DIMS[n_dims], f"dims of {label}"))
            else:  # absurdly many: skip them rather than hold them
                cur.skip(n_dims * 8, f"dims of {label}")
            ggml_type = cur.u32(f"type of {label}")
            rel = cur.u64(f"offset of {label}")

            n_elements, nbytes, known = self._size(name, label, shape, ggml_type, at)
            gtype = GGML_TYPES.get(ggml_type)
            tensor = GgufTensor(
                name=name,
                ggml_type=ggml_type,
                type_name=gtype.name if gtype else f"UNKNOWN_{ggml_type}",
                shape=shape or (),
                offset=rel,  # made absolute once the data offset is known
                nbytes=nbytes,
                n_elements=n_elements,
            )
            out.append((tensor, known))
        return out

    def _size(
        self, name: str, label: str, shape: tuple[int, ...] | None, ggml_type: int, at: int
    ) -> tuple[int, int, bool]:
        """Element count, byte size and whether the size is known, with problems.

        ``shape`` is None when there were too many dimensions to keep.
        """
        gtype = GGML_TYPES.get(ggml_type)
        if gtype is None:
            self.problems.add(
                "gguf.unknown-tensor-type",
                f"tensor {label} has unknown ggml type {ggml_type}",
                at,
                name,
            )
        if shape is None:
            return 0, 0, False
        if any(d < 0 for d in shape):
            self.problems.add("gguf.negative-dim", f"tensor {label} has shape {shape}", at, name)
            return 0, 0, False
        n = math.prod(shape)
        if n >= _INT64_MAX:
            self.problems.add(
                "gguf.dim-overflow",
                f"tensor {label}: {shape} has too many elements for int64",
                at,
                name,
            )
            return 0, 0, False
        if gtype is None:
            return n, 0, False
        ne0 = shape[0] if shape else 1
        if ne0 % gtype.block_size:
            self.problems.add(
                "gguf.row-not-block-aligned",
                f"tensor {label}: rows of {ne0} are not a multiple of the "
                f"{gtype.name} block size {gtype.block_size}",
                at,
                name,
            )
            return n, 0, False
        nbytes = n // gtype.block_size * gtype.type_size
        if nbytes > _INT64_MAX:
            self.problems.add(
                "gguf.dim-overflow",
                f"tensor {label}: {nbytes} bytes do not fit in int64",
                at,
                name,
            )
            return n, 0, False
        return n, nbytes, True

    def check_data(
        self,
        infos: list[tuple[GgufTensor, bool]],
        data_offset: int,
        alignment: int,
        header_end: int,
    ) -> tuple[GgufTensor, ...]:
        """Check offsets against the file and each other; return tensors with absolute offsets."""
        size = self.cur.size
        tensors: list[GgufTensor] = []
        for info, _ in infos:
            rel = info.offset
            start = data_offset + rel
            tensor = replace(info, offset=start)
            tensors.append(tensor)
            if rel % alignment:
                self.problems.add(
                    "gguf.tensor-misaligned",
                    f"tensor {_show(tensor.name)} at data offset {rel} "
                    f"is not a multiple of {alignment}",
                    start,
                    tensor.name,
                )
            if start + tensor.nbytes > size:
                self.problems.add(
                    "gguf.tensor-out-of-bounds",
                    f"tensor {_show(tensor.name)} spans {start}..{start + tensor.nbytes}, "
                    f"past the end of the {size}-byte file",
                    start,
                    tensor.name,
                )

        # Overlaps and gaps, in offset order. Gaps and trailing bytes can only be
        # judged when every tensor's size is known.
        all_known = all(known for _, known in infos)
        by_offset = sorted(
            (t for t in tensors if t.nbytes), key=lambda t: (t.offset, t.offset + t.nbytes)
        )
        reach = data_offset  # furthest data end so far
        reach_name = ""
        for t in by_offset:
            if t.offset < reach:
                self.problems.add(
                    "gguf.tensor-overlap",
                    f"tensor {_show(t.name)} at {t.offset} overlaps {_show(reach_name)} "
                    f"(which ends at {reach})",
                    t.offset,
                    t.name,
                )
            elif all_known and t.offset > _pad(reach, alignment):
                self.problems.add(
                    "gguf.data-gap",
                    f"{t.offset - reach} unused bytes before tensor {_show(t.name)}",
                    reach,
                    t.name,
                )
            if t.offset + t.nbytes > reach:
                reach, reach_name = t.offset + t.nbytes, t.name

        if all_known:
            end = _pad(reach, alignment) if infos else _pad(header_end, alignment)
            if size > end:
                self.problems.add(
                    "gguf.trailing-bytes",
                    f"{size - end} bytes after the end of the tensor data at {end}",
                    end,
                )
        return tuple(tensors)


def parse_gguf(
    source: Source,
    *,
    max_kv: int = 100_000,
    max_tensors: int = 1_000_000,
    max_string: int = 64 * 1024 * 1024,
    max_array: int = 10_000_000,
    max_header_bytes: int = 256 * 1024 * 1024,
) -> GgufInfo:
    """Parse the header, metadata and tensor infos of a GGUF v2/v3 file.

    Only ``source.read_at`` is used, on the header region (tensor data is
    never read). The limits bound the work an untrusted file can cause:
    metadata entries, tensor infos, bytes in one string, items in one array
    and bytes of header (everything up to the end of the tensor infos).

    Raises :class:`~seewhy.errors.FormatError` (codes ``gguf.*``, see
    :data:`PROBLEM_CODES`) when the file cannot be parsed further; other
    problems are listed in :attr:`GgufInfo.problems`.
    """
    parser = _Parser(source, max_kv, max_tensors, max_string, max_array, max_header_bytes)
    version, tensor_count, kv_count = parser.header()
    values, offsets, types = parser.metadata(kv_count)
    alignment = parser.alignment(values, types, offsets)
    infos = parser.tensor_infos(tensor_count)
    header_end = parser.cur.pos
    # llama.cpp pads to the alignment only when there are tensors.
    data_offset = _pad(header_end, alignment) if tensor_count else header_end
    tensors = parser.check_data(infos, data_offset, alignment, header_end)
    return GgufInfo(
        version=version,
        tensor_count=tensor_count,
        kv_count=kv_count,
        alignment=alignment,
        metadata=values,
        kv_offsets=offsets,
        kv_types=types,
        tensors=tensors,
        header_size=header_end,
        data_offset=data_offset,
        file_size=parser.cur.size,
        problems=parser.problems.result(),
    )
